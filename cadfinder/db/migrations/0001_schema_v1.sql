-- cadfinder schema v1: parts (exact genome + implicit vectors), assemblies, manufacturing features.
CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE cad_models (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    part_number      text NOT NULL CHECK (length(part_number) BETWEEN 1 AND 200),
    revision         text NOT NULL DEFAULT 'A',
    name             text NOT NULL DEFAULT '',
    family           text,
    description      text NOT NULL DEFAULT '',
    material         text,
    mass_kg          double precision CHECK (mass_kg IS NULL OR mass_kg >= 0),
    volume_mm3       double precision CHECK (volume_mm3 IS NULL OR volume_mm3 >= 0),
    surface_area_mm2 double precision CHECK (surface_area_mm2 IS NULL OR surface_area_mm2 >= 0),
    -- axis-aligned bounding box in the part's own frame, millimetres: [xmin, ymin, zmin], [xmax, ymax, zmax]
    bbox_min         double precision[3],
    bbox_max         double precision[3],
    -- sorted extents (largest first), for orientation-free size filters
    size_x_mm        double precision,
    size_y_mm        double precision,
    size_z_mm        double precision,
    center_of_mass   double precision[3],
    units            text NOT NULL DEFAULT 'mm' CHECK (units IN ('mm', 'cm', 'm', 'in', 'ft')),
    -- canonical frame used for the implicit form: part_mm = canonical * scale + offset
    norm_offset      double precision[3],
    norm_scale       double precision,
    genome           jsonb CHECK (genome IS NULL OR jsonb_typeof(genome) = 'object'),
    feature_counts   jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(feature_counts) = 'object'),
    source_file      text,
    content_hash     text,
    thumbnail_png    bytea,
    mesh_format      text CHECK (mesh_format IS NULL OR mesh_format IN ('ply', 'stl', 'glb')),
    mesh_data        bytea,
    access_group     text NOT NULL DEFAULT 'all',
    created_at       timestamptz NOT NULL DEFAULT now(),
    modified_at      timestamptz NOT NULL DEFAULT now(),
    sdf_latent       vector(256),
    image_embedding  vector(512),
    text_embedding   vector(512),
    search_text      tsvector GENERATED ALWAYS AS (
        to_tsvector('english', coalesce(part_number, '') || ' ' || coalesce(name, '') || ' '
                    || coalesce(family, '') || ' ' || coalesce(material, '') || ' ' || coalesce(description, ''))
    ) STORED,
    UNIQUE (part_number, revision)
);

CREATE INDEX cad_models_family_idx ON cad_models (family);
CREATE INDEX cad_models_material_idx ON cad_models (material);
CREATE INDEX cad_models_mass_idx ON cad_models (mass_kg);
CREATE INDEX cad_models_access_group_idx ON cad_models (access_group);
CREATE INDEX cad_models_content_hash_idx ON cad_models (content_hash);
CREATE INDEX cad_models_size_idx ON cad_models (size_x_mm, size_y_mm, size_z_mm);
CREATE INDEX cad_models_feature_counts_idx ON cad_models USING gin (feature_counts);
CREATE INDEX cad_models_search_text_idx ON cad_models USING gin (search_text);

CREATE TABLE assembly_hierarchy (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    assembly_id        uuid NOT NULL REFERENCES cad_models (id) ON DELETE CASCADE,
    component_id       uuid NOT NULL REFERENCES cad_models (id) ON DELETE RESTRICT,
    transform          double precision[] NOT NULL
                       DEFAULT '{1,0,0,0, 0,1,0,0, 0,0,1,0, 0,0,0,1}'
                       CHECK (array_length(transform, 1) = 16),
    mate_constraints   jsonb NOT NULL DEFAULT '[]'::jsonb,
    quantity           integer NOT NULL DEFAULT 1 CHECK (quantity > 0),
    CHECK (assembly_id <> component_id)
);
CREATE INDEX assembly_hierarchy_assembly_idx ON assembly_hierarchy (assembly_id);
CREATE INDEX assembly_hierarchy_component_idx ON assembly_hierarchy (component_id);

CREATE TABLE manufacturing_features (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    model_id      uuid NOT NULL REFERENCES cad_models (id) ON DELETE CASCADE,
    feature_type  text NOT NULL,
    parameters    jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX manufacturing_features_model_idx ON manufacturing_features (model_id);
CREATE INDEX manufacturing_features_type_idx ON manufacturing_features (feature_type);
