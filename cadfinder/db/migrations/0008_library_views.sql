-- The whole-library views: a pose-, size- and mirror-invariant shape signature per part (the
-- duplicate analysis's candidates, cadfinder.geometry.signature) and the library map's 2-D
-- positions (cadfinder.library_map), made together for every part that has a latent.
ALTER TABLE cad_models ADD COLUMN shape_signature vector(59);
ALTER TABLE cad_models ADD COLUMN signature_version text;

CREATE TABLE library_map (
    model_id  uuid PRIMARY KEY REFERENCES cad_models (id) ON DELETE CASCADE,
    x         real NOT NULL CHECK (x = x),
    y         real NOT NULL CHECK (y = y),
    made_at   timestamptz NOT NULL DEFAULT now()
);
