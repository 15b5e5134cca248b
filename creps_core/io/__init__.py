"""Files at the lowest layer: the one atomic write, and reading what others wrote (bounded JSON, escaped names)."""
