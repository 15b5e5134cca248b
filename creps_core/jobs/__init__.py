"""Long jobs and what they write: exports, videos, structure analyses, grids, provenance, output claims."""
