"""CREPS Explorer engine: CREPS generators as pure functions of (coordinate, latent).

No Qt here: the viewer, the CLI, exports and the trainer all build on this package.
"""

__version__ = "0.2.0"
