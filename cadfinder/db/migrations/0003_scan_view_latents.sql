-- Encoder latents of simulated partial scans of each part: a partial query scan is compared
-- with partial views of the library parts, not only with their complete shapes.
CREATE TABLE scan_view_latents (
    model_id  uuid NOT NULL REFERENCES cad_models (id) ON DELETE CASCADE,
    view      smallint NOT NULL,
    latent    vector(256) NOT NULL,
    PRIMARY KEY (model_id, view)
);
