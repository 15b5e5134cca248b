"""Latents: seeds -> z -> ws, truncation, style mixing, interpolation, PCA directions.

A :class:`LatentSpec` is a small, hashable, JSON-able description of one latent
(seed, class, truncation, mixing, interpolation, direction offsets).  The GUI, the
CLI, exports and videos pass specs around; :func:`resolve_ws` turns a spec into the
[num_ws, w_dim] tensor the engine renders.  Seed N gives the same z as the official
scripts (``numpy.random.RandomState(N).randn(1, z_dim)``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import torch

from .network import CREPSGenerator


def seed_to_z(seed: int, z_dim: int) -> torch.Tensor:
    """z [1, z_dim] exactly as the official gen_images.py draws it (float64 -> float32 in mapping)."""
    if not 0 <= int(seed) < 2**32:
        raise ValueError(f"seed must be in [0, 2**32), got {seed}")
    return torch.from_numpy(np.random.RandomState(int(seed)).randn(1, z_dim))


def class_vector(c_dim: int, class_idx: int | None) -> torch.Tensor | None:
    """One-hot label for conditional models (None for unconditional ones)."""
    if c_dim == 0:
        return None
    if class_idx is None:
        raise ValueError(f"this model is conditional ({c_dim} classes): choose a class")
    if not 0 <= class_idx < c_dim:
        raise ValueError(f"class must be in [0, {c_dim}), got {class_idx}")
    c = torch.zeros(1, c_dim)
    c[0, class_idx] = 1
    return c


def slerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """Spherical interpolation (for Gaussian z); falls back to lerp for parallel vectors."""
    an, bn = a / a.norm(dim=-1, keepdim=True), b / b.norm(dim=-1, keepdim=True)
    omega = torch.arccos((an * bn).sum(-1, keepdim=True).clamp(-1, 1))
    so = torch.sin(omega)
    if float(so.abs().min()) < 1e-6:
        return torch.lerp(a, b, t)
    return (torch.sin((1 - t) * omega) / so) * a + (torch.sin(t * omega) / so) * b


def lerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    return a + (b - a) * t


MAX_MULTIPLIER = 1e6  # |psi|, interpolation t and direction amounts (sensible values are a few units)

@dataclass(frozen=True)
class LatentSpec:
    """Everything that determines one ws.

    mix_seed / mix_layers: ws indices [start, stop) (or an explicit tuple of indices)
    taken from mix_seed's latent.  interp_seed / interp_t: blend toward another seed
    (``interp_space`` 'w' = lerp in W, 'z' = slerp in Z).  directions: offsets along
    PCA components, as (component index, amount in standard deviations).
    """

    seed: int = 0
    psi: float = 1.0
    cutoff: int | None = None
    class_idx: int | None = None
    mix_seed: int | None = None
    mix_layers: tuple[int, ...] = ()
    interp_seed: int | None = None
    interp_t: float = 0.0
    interp_space: str = "w"
    directions: tuple[tuple[int, float], ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        """Every value typed and finite: specs arrive from files (provenance, keyframes, workspaces)."""
        def whole(name: str, value, optional: bool, hi: int = 2**32) -> None:
            if value is None and optional:
                return
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < hi:
                raise ValueError(f"latent {name} must be a whole number in [0, {hi}), got {value!r}")

        def number(name: str, value) -> None:
            # bounded too: past float32's range a multiplier turns every w into inf (a black image)
            if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
                    or abs(value) > MAX_MULTIPLIER):
                raise ValueError(f"latent {name} must be a finite number within ±{MAX_MULTIPLIER:g}, got {value!r}")

        whole("seed", self.seed, False)
        for name in ("mix_seed", "interp_seed"):
            whole(name, getattr(self, name), True)
        for name in ("cutoff", "class_idx"):
            whole(name, getattr(self, name), True, 1 << 20)
        number("psi", self.psi)
        number("interp_t", self.interp_t)
        if self.interp_space not in ("w", "z"):
            raise ValueError(f"latent interp_space must be 'w' or 'z', got {self.interp_space!r}")
        for i in self.mix_layers:
            whole("mix layer", i, False, 1 << 10)
        for i, amount in self.directions:
            whole("direction index", i, False, 1 << 16)
            number("direction amount", amount)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "LatentSpec":
        d = dict(d)
        d["mix_layers"] = tuple(int(i) for i in d.get("mix_layers", ()))
        d["directions"] = tuple((int(i), float(a)) for i, a in d.get("directions", ()))
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in known})

    def with_(self, **changes) -> "LatentSpec":
        return replace(self, **changes)


class LatentSpace:
    """Maps specs to ws for one generator; caches per-seed w and the PCA basis."""

    def __init__(self, generator: CREPSGenerator) -> None:
        self.g = generator
        self.cfg = generator.cfg
        self._w_cache: dict[tuple[int, int | None], torch.Tensor] = {}
        self._pca: tuple[torch.Tensor, torch.Tensor] | None = None

    @torch.no_grad()
    def w_of_seed(self, seed: int, class_idx: int | None = None) -> torch.Tensor:
        """Untruncated w [w_dim] of a seed (cached)."""
        key = (int(seed), class_idx)
        if key not in self._w_cache:
            dev = self.g.mapping.w_avg.device
            z = seed_to_z(seed, self.cfg.z_dim).to(dev)
            c = class_vector(self.cfg.c_dim, class_idx)
            self._w_cache[key] = self.g.mapping(z, None if c is None else c.to(dev))[0]
        return self._w_cache[key]

    @torch.no_grad()
    def resolve(self, spec: LatentSpec) -> torch.Tensor:
        """ws [num_ws, w_dim] for a spec (float32, on the generator's device)."""
        n = self.cfg.num_ws
        if spec.interp_seed is not None and spec.interp_t != 0 and spec.interp_space == "z":
            dev = self.g.mapping.w_avg.device
            za, zb = (seed_to_z(s, self.cfg.z_dim).to(dev) for s in (spec.seed, spec.interp_seed))
            c = class_vector(self.cfg.c_dim, spec.class_idx)
            w = self.g.mapping(slerp(za, zb, spec.interp_t), None if c is None else c.to(dev))[0]
        else:
            w = self.w_of_seed(spec.seed, spec.class_idx)
            if spec.interp_seed is not None and spec.interp_t != 0:
                w = lerp(w, self.w_of_seed(spec.interp_seed, spec.class_idx), spec.interp_t)
        ws = w.unsqueeze(0).repeat(n, 1)
        if spec.mix_seed is not None and spec.mix_layers:
            idx = [i for i in spec.mix_layers if 0 <= i < n]
            ws[idx] = self.w_of_seed(spec.mix_seed, spec.class_idx)
        if spec.directions:
            basis, std = self.pca()
            for comp, amount in spec.directions:
                if 0 <= comp < basis.shape[0] and amount:
                    ws = ws + basis[comp] * (std[comp] * amount)
        if spec.psi != 1:
            w_avg = self.g.mapping.w_avg
            k = n if spec.cutoff is None else max(0, min(n, spec.cutoff))
            ws[:k] = w_avg.lerp(ws[:k], spec.psi)
        return ws

    @torch.no_grad()
    def pca(self, n_samples: int = 2048, n_components: int = 16, seed: int = 123456) -> tuple[torch.Tensor, torch.Tensor]:
        """Principal directions of W from sampled z (GANSpace-style): (basis [K, w_dim], std [K])."""
        if self._pca is None:
            dev = self.g.mapping.w_avg.device
            gen = torch.Generator().manual_seed(seed)
            z = torch.randn(n_samples, self.cfg.z_dim, generator=gen).to(dev)
            c = None
            if self.cfg.c_dim:
                c = torch.nn.functional.one_hot(torch.arange(n_samples) % self.cfg.c_dim, self.cfg.c_dim).float().to(dev)
            w = self.g.mapping(z, c)
            w = w - w.mean(0, keepdim=True)
            _, s, v = torch.linalg.svd(w, full_matrices=False)
            k = min(n_components, v.shape[0])
            self._pca = (v[:k].contiguous(), s[:k] / math.sqrt(max(n_samples - 1, 1)))
        return self._pca


def layer_labels(num_ws: int) -> list[str]:
    """Human labels for ws indices, coarse -> fine (index 0 drives the input features)."""
    labels = []
    for i in range(num_ws):
        if i == 0:
            labels.append("0 input")
        elif i == num_ws - 1:
            labels.append(f"{i} pixel MLP")
        else:
            frac = i / (num_ws - 1)
            labels.append(f"{i} {'coarse' if frac < 0.34 else 'middle' if frac < 0.67 else 'fine'}")
    return labels
