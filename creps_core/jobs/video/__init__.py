"""Videos: keyframes, the timeline between them, encoding."""
