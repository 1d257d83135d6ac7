-- Assemblies are library rows like parts (their whole shape has an implicit form and embeddings);
-- assembly_hierarchy holds one row per placed component: the parent assembly, the component
-- (a part or a sub-assembly), its 4x4 transform in the parent's frame (row-major, mm) and its
-- place in the tree (Creo's seq_path, or the STEP instance name).
ALTER TABLE cad_models ADD COLUMN kind text NOT NULL DEFAULT 'part' CHECK (kind IN ('part', 'assembly'));
CREATE INDEX cad_models_kind_idx ON cad_models (kind);
ALTER TABLE assembly_hierarchy ADD COLUMN path text NOT NULL DEFAULT '' CHECK (length(path) <= 400);
