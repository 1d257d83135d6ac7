-- Left over from the first schema: manufacturing_features was written at ingestion and never
-- read (a part's features live in its genome and feature_counts, which the filters use), and
-- cad_models_part_number_idx duplicates the unique (part_number, revision) index, whose
-- leading column serves the same lookups.
DROP TABLE IF EXISTS manufacturing_features;
DROP INDEX IF EXISTS cad_models_part_number_idx;
