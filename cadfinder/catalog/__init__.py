"""The demo catalog: genomes of real mechanical part families, and the builder that makes parts."""
