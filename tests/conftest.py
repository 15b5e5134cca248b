"""Fixtures shared across test files."""

from __future__ import annotations

import pytest

from .core_fixtures import tiny_checkpoint


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory):
    """A tiny random CREPS checkpoint (native format), one per test module."""
    return tiny_checkpoint(tmp_path_factory.mktemp("models") / "tiny.safetensors")
