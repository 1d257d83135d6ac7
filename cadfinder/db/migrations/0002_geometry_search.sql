-- Geometric search: surface samples for the re-rank, and the encoder's view of each part.
ALTER TABLE cad_models ADD COLUMN surface_sample bytea;          -- float16 (N, 6): points, normals; canonical frame
ALTER TABLE cad_models ADD COLUMN encoder_version text;          -- which weights made sdf_latent
ALTER TABLE cad_models ADD COLUMN ingest_warnings text[] NOT NULL DEFAULT '{}';
CREATE INDEX cad_models_part_number_idx ON cad_models (part_number);
