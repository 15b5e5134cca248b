"""Posters: tiled exports to TIFF/PNG/JPEG and Deep Zoom, locally or on Dask."""
