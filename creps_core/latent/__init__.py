"""Latents: seeds to ws, truncation, mixing, interpolation, directions and their files."""
