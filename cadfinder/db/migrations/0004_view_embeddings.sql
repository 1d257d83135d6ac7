-- Image/sketch search: CLIP embeddings of each part's rendered views (shaded and line drawing),
-- pooled per part in cad_models.image_embedding; cad_models.text_embedding embeds its name and
-- description. clip_version says which weights made them (re-embedded when that changes).
CREATE TABLE part_views (
    model_id   uuid NOT NULL REFERENCES cad_models (id) ON DELETE CASCADE,
    view       smallint NOT NULL,
    style      smallint NOT NULL CHECK (style IN (0, 1)),   -- 0 shaded, 1 line drawing
    embedding  vector(512) NOT NULL,
    PRIMARY KEY (model_id, view, style)
);
ALTER TABLE cad_models ADD COLUMN clip_version text;
