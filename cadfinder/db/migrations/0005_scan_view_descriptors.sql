-- Partial-scan search compares a scan with simulated one-view scans of every part, described
-- pose-free (cadfinder.geometry.scan_views): 48 views per part, each with its descriptor and
-- the view's PCA frame in the part's canonical coordinates (offset xyz, scale, rotation 3x3
-- row-major), from which the re-rank starts its fit. They replace the encoder latents of six
-- views (scan_view_latents), which brought the right part into the candidates too rarely.
DROP TABLE scan_view_latents;
CREATE TABLE scan_view_descriptors (
    model_id    uuid NOT NULL REFERENCES cad_models (id) ON DELETE CASCADE,
    view        smallint NOT NULL,
    descriptor  halfvec(512) NOT NULL,
    frame       real[] NOT NULL CHECK (cardinality(frame) = 13),
    PRIMARY KEY (model_id, view)
);
ALTER TABLE cad_models ADD COLUMN view_version text;
