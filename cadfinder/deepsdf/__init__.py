"""DeepSDF: the auto-decoder, its training, latent inference, the point-cloud encoder and meshing."""
