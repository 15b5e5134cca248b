"""Rendering: views (pixel to coordinate), warp formulas, the engine, line caches, costs."""
