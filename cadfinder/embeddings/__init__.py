"""CLIP-style image/text embeddings: models, captions, sketches, training, evaluation."""
