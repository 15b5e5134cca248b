"""The generator, its checkpoints (official pickles read safely, safetensors) and the demo models."""
