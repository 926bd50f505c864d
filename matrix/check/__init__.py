"""check: predict, from published measurements, what a release does to a model file."""
