"""Fixtures of the `creps` command-line tests."""

from __future__ import annotations

import pytest

from ..core_fixtures import tiny_checkpoint


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    """A tiny random checkpoint (native format), one per test module."""
    return tiny_checkpoint(tmp_path_factory.mktemp("ck") / "tiny.safetensors")
