-- What a part is called, as a general pretrained sentence encoder reads it (cadfinder.embeddings
-- .sentences: name, kind and description): text search matches a designer's own words for a
-- part, synonyms and standards' names, against it. description_model says which encoder wrote
-- it, so a part written by another (or renamed since) is found and embedded again.
ALTER TABLE cad_models ADD COLUMN description_embedding vector(384);
ALTER TABLE cad_models ADD COLUMN description_model text;

-- The domain CLIP model's embedding of the same words goes: trained on captions of the demo
-- families only, it read other parts' names as noise (docs/experiments.md, session 20).
DROP INDEX IF EXISTS cad_models_text_embedding_hnsw;
ALTER TABLE cad_models DROP COLUMN text_embedding;
