"""Latents: seeds -> z -> ws, truncation, style mixing, interpolation, PCA directions.

A :class:`LatentSpec` is a small, hashable, JSON-able description of one latent
(seed, class, truncation, mixing, interpolation, direction offsets, and the vectors of
direction files and ws files it uses, carried by value so a record re-renders without them).  The GUI, the
CLI, exports and videos pass specs around; :func:`resolve_ws` turns a spec into the
[num_ws, w_dim] tensor the engine renders.  Seed N gives the same z as the official
scripts (``numpy.random.RandomState(N).randn(1, z_dim)``).
"""

from __future__ import annotations

import base64
import math
import threading
from dataclasses import dataclass, field, fields, replace

import numpy as np
import torch

from creps_core.model.network import CREPSGenerator


def seed_to_z(seed: int, z_dim: int) -> torch.Tensor:
    """z [1, z_dim] exactly as the official gen_images.py draws it (float64 -> float32 in mapping)."""
    if not 0 <= int(seed) < 2**32:
        raise ValueError(f"seed must be in [0, 2**32), got {seed}")
    return torch.from_numpy(np.random.RandomState(int(seed)).randn(1, z_dim))


def class_vector(c_dim: int, class_idx: int | None) -> torch.Tensor | None:
    """One-hot label for conditional models (None for unconditional ones).

    A class asked of an unconditional model is refused, not ignored: the user would otherwise
    believe the picture shows that class."""
    if c_dim == 0:
        if class_idx is not None:
            raise ValueError(f"this model is unconditional: it has no class {class_idx} (leave the class out)")
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
MAX_CARRIED_FLOATS = 131_072  # float32 values one spec may carry (512 KiB; ~700 kB in a provenance record)
MAX_EDITS = 32  # direction edits on one latent
MAX_NAME_CHARS = 64
# |w| bound, on ws from files, on direction vectors and on every ws resolved (after truncation and
# edits).  A trained model's w stays within a few units (the shipped demo models' within ±5), so this
# leaves ~2000x room to explore; values past it only come from a hostile or broken file or absurd
# amounts, and near float32's 3e38 the styles overflow and the frame renders NaN (a black PNG).
MAX_W = 1e4


def _shown(value: object) -> str:
    """A value from a file as an error message quotes it: its repr, cut short (a name may be megabytes)."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass(frozen=True)
class Floats:
    """An immutable float32 array a LatentSpec can hash, compare and write into provenance exactly.

    Vectors from files travel by value (not by file name), so a saved image re-renders
    after the file that made it is gone; base64 of the raw float32 bytes keeps them exact.
    """

    shape: tuple[int, ...]
    data: bytes  # little-endian float32, C order

    def __post_init__(self) -> None:
        if not 1 <= len(self.shape) <= 2 or any(not _is_whole(n) or n < 1 for n in self.shape):
            raise ValueError(f"a latent vector has shape [w_dim] or [num_ws, w_dim], got {_shown(list(self.shape))}")
        if math.prod(self.shape) > MAX_CARRIED_FLOATS:
            raise ValueError(f"a latent vector of shape {list(self.shape)} is larger than "
                             f"{MAX_CARRIED_FLOATS:,} values")
        if not isinstance(self.data, bytes) or len(self.data) != 4 * math.prod(self.shape):
            raise ValueError(f"latent vector data does not hold {list(self.shape)} float32 values")
        a = self.array()
        if not np.isfinite(a).all():
            raise ValueError("a latent vector holds NaN or infinite values")
        if a.size and float(np.abs(a).max()) > MAX_W:
            raise ValueError(f"a latent vector holds values up to {float(np.abs(a).max()):.3g}; it must stay "
                             f"within ±{MAX_W:g}")

    @classmethod
    def of(cls, array) -> Floats:
        a = np.asarray(array, dtype="<f4")
        return cls(tuple(int(n) for n in a.shape), np.ascontiguousarray(a).tobytes())

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def array(self) -> np.ndarray:
        return np.frombuffer(self.data, dtype="<f4").reshape(self.shape)

    def tensor(self, device: torch.device | str = "cpu") -> torch.Tensor:
        return torch.from_numpy(self.array().astype(np.float32)).to(device)

    def to_dict(self) -> dict:
        return {"shape": list(self.shape), "float32_base64": base64.b64encode(self.data).decode("ascii")}

    @classmethod
    def from_dict(cls, d: dict) -> Floats:
        if (not isinstance(d, dict) or not isinstance(d.get("shape"), (list, tuple))
                or not isinstance(d.get("float32_base64"), str)
                or not all(_is_whole(n) for n in d["shape"])):
            raise ValueError("a latent vector must be {\"shape\": [whole numbers], \"float32_base64\": text}, got "
                             f"{_shown(d)}")
        shape = tuple(d["shape"])
        if math.prod(shape) > MAX_CARRIED_FLOATS:  # before decoding what it claims
            raise ValueError(f"a latent vector of shape {_shown(list(shape))} is too large")
        return cls(shape, base64.b64decode(d["float32_base64"], validate=True))


@dataclass(frozen=True)
class DirectionEdit:
    """``amount`` x ``vector`` added to the ws of layers ``first..last`` (inclusive; None: all).

    ``vector`` is [w_dim] (the same offset on each layer) or [num_ws, w_dim] (one row per
    layer).  ``name`` and ``source`` (file and index it came from) are for people; the
    vector itself is what renders.
    """

    name: str
    amount: float
    vector: Floats
    layers: tuple[int, int] | None = None
    source: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not 0 < len(self.name) <= MAX_NAME_CHARS:
            raise ValueError(f"a direction name is 1..{MAX_NAME_CHARS} characters, got {_shown(self.name)}")
        if not _is_number(self.amount) or not math.isfinite(self.amount) or abs(self.amount) > MAX_MULTIPLIER:
            raise ValueError(f"direction {self.name!r}: the amount must be a finite number within "
                             f"±{MAX_MULTIPLIER:g}, got {_shown(self.amount)}")
        if self.layers is not None:
            a, b = self.layers
            if not (_is_whole(a) and _is_whole(b)) or not 0 <= a <= b < 1 << 10:
                raise ValueError(f"direction {self.name!r}: bad layer range {_shown(self.layers)}")
        if not isinstance(self.source, str) or len(self.source) > 4096:
            raise ValueError(f"direction {self.name!r}: bad source")

    def to_dict(self) -> dict:
        return {"name": self.name, "amount": self.amount, "layers": None if self.layers is None else list(self.layers),
                "source": self.source, "vector": self.vector.to_dict()}

    @classmethod
    def from_dict(cls, d: dict) -> DirectionEdit:
        """An edit from a file: each field's type is checked here and its value in __post_init__."""
        if not isinstance(d, dict) or not all(key in d for key in ("name", "amount", "vector")):
            raise ValueError(f"a direction edit is an object with a name, an amount and a vector, got {_shown(d)}")
        layers = d.get("layers")
        if layers is not None and (not isinstance(layers, (list, tuple)) or len(layers) != 2):
            raise ValueError(f"direction {_shown(d['name'])}: layers must be [first, last], got {_shown(layers)}")
        amount = d["amount"]
        return cls(d["name"], float(amount) if _is_number(amount) else amount, Floats.from_dict(d["vector"]),
                   None if layers is None else tuple(layers), d.get("source", ""))

    def misfit(self, num_ws: int, w_dim: int) -> str | None:
        """Why this edit cannot act on a model with ``num_ws`` x ``w_dim`` ws (None: it can)."""
        shape = self.vector.shape
        if shape not in ((w_dim,), (num_ws, w_dim)):
            return f"direction {self.name!r} has shape {list(shape)}; this model needs [{w_dim}] or [{num_ws}, {w_dim}]"
        if self.layers is not None and self.layers[1] >= num_ws:
            return (f"direction {self.name!r} acts on layers {self.layers[0]}-{self.layers[1]}; this model has "
                    f"layers 0-{num_ws - 1}")
        return None

    def offset(self, num_ws: int, w_dim: int, device: torch.device | str = "cpu") -> torch.Tensor:
        """The [num_ws, w_dim] offset this edit adds (zero outside its layers)."""
        problem = self.misfit(num_ws, w_dim)
        if problem is not None:
            raise ValueError(problem)
        first, last = self.layers if self.layers is not None else (0, num_ws - 1)
        out = torch.zeros(num_ws, w_dim, device=device)
        v = self.vector.tensor(device)
        out[first:last + 1] = (v if v.ndim == 1 else v[first:last + 1]) * float(self.amount)
        return out


@dataclass(frozen=True)
class LatentSpec:
    """Everything that determines one ws.

    mix_seed / mix_layers: ws indices [start, stop) (or an explicit tuple of indices)
    taken from mix_seed's latent.  interp_seed / interp_t: blend toward another seed
    (``interp_space`` 'w' = lerp in W, 'z' = slerp in Z).  pca_amounts: offsets along
    the model's own PCA components of W, as (component index, amount in standard deviations).
    ws: a whole ws [num_ws, w_dim] from a file (a projector's w.npz): it replaces the
    seed's (and interpolation's) ws; mixing, PCA amounts and truncation still apply.
    edits: the directions of files (``--direction FILE:INDEX:AMOUNT``), added after truncation,
    so an amount moves the rendered ws by the same distance whatever psi is.
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
    pca_amounts: tuple[tuple[int, float], ...] = field(default_factory=tuple)
    ws: Floats | None = None
    edits: tuple[DirectionEdit, ...] = ()

    def __post_init__(self) -> None:
        """Every value typed and finite: specs arrive from files (provenance, keyframes, workspaces)."""
        def whole(name: str, value, optional: bool, hi: int = 2**32) -> None:
            if value is None and optional:
                return
            if not _is_whole(value) or not 0 <= value < hi:
                raise ValueError(f"latent {name} must be a whole number in [0, {hi}), got {_shown(value)}")

        def number(name: str, value) -> None:
            # bounded too: past float32's range a multiplier turns every w into inf (a black image)
            if not _is_number(value) or not math.isfinite(value) or abs(value) > MAX_MULTIPLIER:
                raise ValueError(f"latent {name} must be a finite number within ±{MAX_MULTIPLIER:g}, "
                                 f"got {_shown(value)}")

        whole("seed", self.seed, False)
        for name in ("mix_seed", "interp_seed"):
            whole(name, getattr(self, name), True)
        for name in ("cutoff", "class_idx"):
            whole(name, getattr(self, name), True, 1 << 20)
        number("psi", self.psi)
        number("interp_t", self.interp_t)
        if self.interp_space not in ("w", "z"):
            raise ValueError(f"latent interp_space must be 'w' or 'z', got {_shown(self.interp_space)}")
        for i in self.mix_layers:
            whole("mix layer", i, False, 1 << 10)
        for i, amount in self.pca_amounts:
            whole("PCA component", i, False, 1 << 16)
            number("PCA amount", amount)
        if self.ws is not None and (not isinstance(self.ws, Floats) or len(self.ws.shape) != 2):
            raise ValueError("latent ws must be a [num_ws, w_dim] array")
        if len(self.edits) > MAX_EDITS or not all(isinstance(e, DirectionEdit) for e in self.edits):
            raise ValueError(f"a latent takes at most {MAX_EDITS} direction edits")
        carried = (self.ws.size if self.ws is not None else 0) + sum(e.vector.size for e in self.edits)
        if carried > MAX_CARRIED_FLOATS:
            raise ValueError(f"the directions and ws of one latent hold {carried:,} values; at most "
                             f"{MAX_CARRIED_FLOATS:,} fit its provenance record")

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["ws"] = None if self.ws is None else self.ws.to_dict()
        d["edits"] = [e.to_dict() for e in self.edits]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> LatentSpec:
        """A spec from a file: the shape of each field is checked here, its values in __post_init__."""
        if not isinstance(d, dict):
            raise ValueError(f"a latent must be an object, got {_shown(d)}")
        d = dict(d)
        if "directions" in d and "pca_amounts" not in d:  # its name in files written before 0.2
            d["pca_amounts"] = d.pop("directions")
        for name in ("mix_layers", "pca_amounts", "edits"):
            if d.get(name) is not None and not isinstance(d[name], (list, tuple)):
                raise ValueError(f"latent {name} must be a list, got {_shown(d[name])}")
        d["mix_layers"] = tuple(d.get("mix_layers") or ())
        pairs = d.get("pca_amounts") or []
        if not all(isinstance(p, (list, tuple)) and len(p) == 2 for p in pairs):
            raise ValueError(f"latent pca_amounts must be [component, amount] pairs, got {_shown(pairs)}")
        d["pca_amounts"] = tuple((i, float(a) if _is_number(a) else a) for i, a in pairs)
        d["ws"] = None if d.get("ws") is None else Floats.from_dict(d["ws"])
        edits = d.get("edits") or []
        if len(edits) > MAX_EDITS:  # before decoding each one
            raise ValueError(f"a latent takes at most {MAX_EDITS} direction edits")
        d["edits"] = tuple(DirectionEdit.from_dict(e) for e in edits)
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in known})

    def with_(self, **changes) -> LatentSpec:
        return replace(self, **changes)


def _bounded(ws: torch.Tensor, cause: str) -> torch.Tensor:
    """``ws`` when every value is within ±MAX_W; else one line naming what took it there (so a
    frame is refused before it renders as NaN, not written as a black image)."""
    peak = float(ws.abs().max())
    if not peak <= MAX_W:  # NaN fails too
        raise ValueError(f"{cause} takes w to {peak:.3g}; a w within ±{MAX_W:g} renders")
    return ws


class LatentSpace:
    """Maps specs to ws for one generator; caches per-seed w and the PCA basis.

    Unlike an Engine, it may be asked from two threads at once (the explorer's render thread,
    and its window asking for the ws to export): one lock serialises it, so the caches are
    filled once and never half-written."""

    def __init__(self, generator: CREPSGenerator) -> None:
        self.g = generator
        self.cfg = generator.cfg
        self._w_cache: dict[tuple[int, int | None], torch.Tensor] = {}
        self._pca: dict[tuple[int, int, int], tuple[torch.Tensor, torch.Tensor]] = {}
        self._lock = threading.RLock()

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

    def resolve(self, spec: LatentSpec) -> torch.Tensor:
        """ws [num_ws, w_dim] for a spec (float32, on the generator's device)."""
        with self._lock:
            return self._resolve(spec)

    @torch.no_grad()
    def _resolve(self, spec: LatentSpec) -> torch.Tensor:
        n = self.cfg.num_ws
        dev = self.g.mapping.w_avg.device
        if spec.ws is not None:
            if spec.ws.shape != (n, self.cfg.w_dim):
                raise ValueError(f"the latent's ws is {list(spec.ws.shape)}; this model needs [{n}, {self.cfg.w_dim}]")
            ws = spec.ws.tensor(dev)
        elif spec.interp_seed is not None and spec.interp_t != 0 and spec.interp_space == "z":
            za, zb = (seed_to_z(s, self.cfg.z_dim).to(dev) for s in (spec.seed, spec.interp_seed))
            c = class_vector(self.cfg.c_dim, spec.class_idx)
            w = self.g.mapping(slerp(za, zb, spec.interp_t), None if c is None else c.to(dev))[0]
            ws = w.unsqueeze(0).repeat(n, 1)
        else:
            w = self.w_of_seed(spec.seed, spec.class_idx)
            if spec.interp_seed is not None and spec.interp_t != 0:
                w = lerp(w, self.w_of_seed(spec.interp_seed, spec.class_idx), spec.interp_t)
            ws = w.unsqueeze(0).repeat(n, 1)
        if spec.mix_seed is not None and spec.mix_layers:
            idx = [i for i in spec.mix_layers if 0 <= i < n]
            ws[idx] = self.w_of_seed(spec.mix_seed, spec.class_idx)
        _bounded(ws, "this model's mapping network")
        if spec.pca_amounts:
            basis, std = self.pca()
            for comp, amount in spec.pca_amounts:
                if 0 <= comp < basis.shape[0] and amount:
                    ws = _bounded(ws + basis[comp] * (std[comp] * amount), f"PCA direction {comp} at {amount:g}")
        if spec.psi != 1:
            w_avg = self.g.mapping.w_avg
            k = n if spec.cutoff is None else max(0, min(n, spec.cutoff))
            ws[:k] = w_avg.lerp(ws[:k], spec.psi)
            _bounded(ws, f"truncation psi {spec.psi:g}")
        for edit in spec.edits:
            if edit.amount:
                ws = _bounded(ws + edit.offset(n, self.cfg.w_dim, dev), f"direction {edit.name!r} at {edit.amount:g}")
        return ws

    @torch.no_grad()
    def pca(self, n_samples: int = 2048, n_components: int = 16,
            seed: int = 123456) -> tuple[torch.Tensor, torch.Tensor]:
        """Principal directions of W from sampled z (GANSpace-style): (basis [K, w_dim], std [K])."""
        key = (n_samples, n_components, seed)
        if key not in self._pca:
            dev = self.g.mapping.w_avg.device
            gen = torch.Generator().manual_seed(seed)
            z = torch.randn(n_samples, self.cfg.z_dim, generator=gen).to(dev)
            c = None
            if self.cfg.c_dim:
                labels = torch.arange(n_samples) % self.cfg.c_dim
                c = torch.nn.functional.one_hot(labels, self.cfg.c_dim).float().to(dev)
            w = self.g.mapping(z, c)
            w = w - w.mean(0, keepdim=True)
            _, s, v = torch.linalg.svd(w, full_matrices=False)
            k = min(n_components, v.shape[0])
            self._pca[key] = (v[:k].contiguous(), s[:k] / math.sqrt(max(n_samples - 1, 1)))
        return self._pca[key]


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
