"""Headless geometry: readers, normalisation, signed distances, scan simulation."""
