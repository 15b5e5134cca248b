"""Closed-form directions of a generator: SeFa from its own style weights, or PCA of W.

SeFa (Shen & Zhou, "Closed-Form Factorization of Latent Semantics in GANs"): a ws row
reaches the image only through the affine layers that turn it into styles, ``s = A w + b``.
The unit directions ``n`` that change the styles most maximise ``|A n|^2``: the eigenvectors of
``A^T A``, where A stacks the affine weights of the chosen layers.  It needs no sampling and
takes milliseconds.  PCA samples W (see :meth:`LatentSpace.pca`) and scales each principal
axis by its standard deviation, so an amount of 1 is one sigma.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from creps_core.latent.latents import LatentSpace
from creps_core.model.network import CREPSGenerator


@dataclass(frozen=True)
class DirectionSet:
    """Directions ready to be written as a directions file."""

    names: list[str]
    vectors: np.ndarray  # [K, w_dim]
    layers: list[tuple[int, int]]
    values: np.ndarray  # [K]: eigenvalues (SeFa) or standard deviations (PCA), descending
    method: str


def layer_range(g: CREPSGenerator, layers: tuple[int, int] | None) -> tuple[int, int]:
    """``layers`` checked against the model (None: all of them)."""
    last = g.cfg.num_ws - 1
    first, end = layers if layers is not None else (0, last)
    if not 0 <= first <= end <= last:
        raise ValueError(f"layers {first}-{end} do not exist: this model has layers 0-{last}")
    return first, end


def check_count(count: int, most: int) -> None:
    if not 1 <= count <= most:
        raise ValueError(f"--count must be in 1..{most} for this model, got {count}")


@torch.no_grad()
def sefa(g: CREPSGenerator, count: int, layers: tuple[int, int] | None = None) -> DirectionSet:
    """The ``count`` SeFa directions of ws layers ``layers`` (inclusive), largest eigenvalue first.

    Unit vectors; the sign of each is fixed so that its largest component is positive (an
    eigenvector's sign is arbitrary, and a file should not flip between runs or machines).
    """
    first, last = layer_range(g, layers)
    check_count(count, g.cfg.w_dim)
    # A^T A summed block by block in float32 (A has ~30k rows on released models; a float64
    # product of the stacked matrix takes a second), then decomposed in float64.
    gram = sum(w.T @ w for w in (fc.scaled()[0].float().cpu() for _, fc, wi in g.synthesis.style_affines()
                                 if first <= wi <= last))
    assert isinstance(gram, torch.Tensor)  # not sum()'s 0: every ws row in the range has an affine
    values, vectors = torch.linalg.eigh(gram.double())  # ascending
    order = torch.argsort(values, descending=True)[:count]
    values, vectors = values[order], vectors[:, order].T  # [count, w_dim]
    peak = vectors.gather(1, vectors.abs().argmax(1, keepdim=True))
    vectors = vectors * torch.sign(peak)
    return DirectionSet([f"sefa{i}" for i in range(count)], vectors.float().numpy(),
                        [(first, last)] * count, values.float().numpy(), "sefa")


def pca(space: LatentSpace, count: int, layers: tuple[int, int] | None = None) -> DirectionSet:
    """The ``count`` principal axes of sampled w, each one standard deviation long."""
    first, last = layer_range(space.g, layers)
    check_count(count, space.cfg.w_dim)
    basis, std = space.pca(n_components=count)
    vectors = (basis * std[:, None]).float().cpu().numpy()
    return DirectionSet([f"pc{i}" for i in range(len(vectors))], vectors, [(first, last)] * len(vectors),
                        std.float().cpu().numpy(), "pca")
