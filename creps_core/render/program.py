"""Per-latent compilation: everything that depends only on ws, computed once and run for any coordinates.

A :class:`LatentProgram` holds a latent's styles folded into its layers (the wide line layers as
shared weights scaled by two small vectors, the narrow per-pixel layers as modulated copies), its
input amplitudes and the caches of its line values. The engine asks :class:`ProgramCompiler` for
one per (ws, precision) and keeps the last few.
"""

from __future__ import annotations

import functools
import hashlib
import math
from dataclasses import dataclass, field
from typing import cast

import numpy as np
import torch
from torch.nn import functional as F

from creps_core.model.network import (
    FC_CLAMP,
    LRELU_GAIN,
    LRELU_SLOPE,
    CREPSGenerator,
    FullyConnected,
    ModulatedFC,
    pixel_block_layers,
)
from creps_core.render.hardware import cpu_has_fast_bf16
from creps_core.render.line_cache import LineCache
from creps_core.render.prefix_reuse import Stem

# Modulated layers with at least this many inputs scale activations instead of copying weights per
# latent (the line network's 256-1024-wide layers: the copy dominated a latent change, ~0.2 s for
# the released configs); narrower ones (the per-pixel blocks) keep a modulated copy, which is faster
# per pixel there.
FUSED_MODULATION_MIN_IN = 256


@functools.cache
def fused_bf16_linear() -> bool:
    """Whether oneDNN's fused linear runs here: the GEMM, the bias and the leaky ReLU of a bf16 layer
    in one pass. Where bf16 pays (AVX512-BF16, AMX) the narrow per-pixel GEMMs are so fast that a
    separate bias copy and activation pass over the bf16 result took longer than the product
    (released 256 config, 512², bf16 pixel part: 525 ms -> 423 ms on a Xeon with AMX). The op is
    the one torch.compile's CPU backend emits; a build without it keeps the plain path."""
    op = getattr(torch.ops.mkldnn, "_linear_pointwise", None)
    if op is None or not torch.backends.mkldnn.is_available() or not cpu_has_fast_bf16():
        return False  # (where bf16 is emulated, the plain path is the one tested for speed)
    try:
        x = torch.tensor([[1.0] * 4, [-1.0] * 4], dtype=torch.bfloat16)
        y = op(x, torch.ones(3, 4, dtype=torch.bfloat16), torch.zeros(3, dtype=torch.bfloat16), "leaky_relu",
               [LRELU_SLOPE], "")
    except (RuntimeError, NotImplementedError):
        return False
    want = torch.tensor([[4.0] * 3, [-4.0 * LRELU_SLOPE] * 3], dtype=torch.bfloat16)  # both sides of the kink
    return bool(y.shape == (2, 3) and torch.equal(y, want))


@dataclass
class Dense:
    """y = act(x @ wt + b), x [N, in], with the activation gain folded into wt and b."""

    wt: torch.Tensor  # [in, out]
    b: torch.Tensor  # [out]
    act: bool
    clamp: bool
    w: torch.Tensor | None = field(default=None, kw_only=True)  # [out, in]: oneDNN's fused linear (plain_dense)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.w is not None:
            y = torch.ops.mkldnn._linear_pointwise(x, self.w, self.b, "leaky_relu" if self.act else "none",
                                                   [LRELU_SLOPE] if self.act else [], "")
            return y.clamp_(-FC_CLAMP, FC_CLAMP) if self.clamp else y
        return self.finish(torch.addmm(self.b, x, self.wt))

    def finish(self, y: torch.Tensor) -> torch.Tensor:
        if self.act:
            F.leaky_relu_(y, LRELU_SLOPE)
        if self.clamp:
            y.clamp_(-FC_CLAMP, FC_CLAMP)
        return y


def plain_dense(wt: torch.Tensor, b: torch.Tensor, act: bool, clamp: bool) -> Dense:
    """A plain layer from its [in, out] weight; bf16 on a CPU runs through the fused linear."""
    fused = wt.dtype == torch.bfloat16 and wt.device.type == "cpu" and fused_bf16_linear()
    return Dense(wt, b, act, clamp, w=wt.t().contiguous() if fused else None)


@dataclass
class ModulatedDense(Dense):
    """A modulated layer as y = act(((x * s) @ wt) * d + b): the latent's styles ``s`` scale the
    inputs and its demodulation ``d`` the outputs, so the weights ``wt`` are shared by every
    latent and a new latent costs two small vectors, not a modulated copy of every weight.
    (The official order, x @ (w * s * d)^T, is the same product; the rounding differs ~1e-7.)"""

    s: torch.Tensor  # [in]
    d: torch.Tensor | None = None  # [out], the activation gain folded in; None: no demodulation

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        y = (x * self.s) @ self.wt
        return self.finish(y.mul_(self.d).add_(self.b) if self.d is not None else y.add_(self.b))


@dataclass
class LatentProgram:
    """Everything that depends only on ws, ready to run for any coordinates."""

    key: str
    dtype: torch.dtype
    freqs: torch.Tensor  # [rank, C/2] float32
    amps: list[torch.Tensor]  # per slot [rank, C] float32 (includes 1/sqrt(C))
    line_layers: list[tuple[Dense, bool]]  # (layer, is_tores)
    decoders: list[list[Dense]]  # for composed blocks 1.. (block 0 starts the feature)
    decoder_last: list[Dense]
    decoder_img: Dense
    pixel_blocks: list[tuple[Dense, Dense, Dense]]
    n_composed: int
    rank: int
    biline: int
    lines: dict[int, LineCache] = field(default_factory=lambda: {0: LineCache(), 1: LineCache()})
    ws: torch.Tensor | None = None  # [num_ws, w_dim]: what it was compiled from (prefix reuse compares them)
    line_ws: list[int] = field(default_factory=list)  # the ws row each line layer reads
    # Prefix reuse (prefix_reuse.py): the stem its lines resume from, and the deeper one they fill.
    resume: Stem | None = None
    fill: Stem | None = None

    def done_before(self, layer: int) -> int:
        """Composed blocks whose ToRes sums are finished before line layer ``layer``."""
        return sum(1 for _, is_tores in self.line_layers[:layer] if is_tores)

    def stem_width(self, layer: int) -> int:
        """Floats per coordinate of a stem before ``layer``: the activation entering it (none after
        the last layer) and the running sums of the blocks finished before it."""
        width = self.line_layers[layer][0].wt.shape[0] if layer < len(self.line_layers) else 0
        return self.rank * (width + self.done_before(layer) * self.biline)


def ws_key(ws: torch.Tensor) -> str:
    return hashlib.sha1(ws.detach().to("cpu", torch.float32).contiguous().numpy().tobytes()).hexdigest()


class ProgramCompiler:
    """Compiles latent programs of one generator; the latent-independent weights (a modulated
    layer's transposed weight and its square, a plain layer's folded form) are built once per dtype
    and shared by every program."""

    def __init__(self, g: CREPSGenerator) -> None:
        self.g = g
        self._shared: dict[tuple[int, torch.dtype], tuple[torch.Tensor, torch.Tensor] | Dense] = {}

    def compile(self, ws: torch.Tensor, dtype: torch.dtype, key: str, parent: LatentProgram | None = None,
                shared: int = 0) -> LatentProgram:
        """The program of ``ws`` [num_ws, w_dim] in ``dtype``; ``key`` names it (its ws hash).

        ``parent``: a program of the same dtype whose ws agree with ``ws`` on the first ``shared``
        rows; the layers that read only those rows are taken from it (the same values: an edit of
        the fine layers compiles only them)."""
        syn, cfg = self.g.synthesis, self.g.cfg
        inp = syn.b4.input
        if parent is not None and shared >= 1:
            amps = parent.amps
        else:
            amp = inp.amplitudes(ws[0:1])[0] / np.sqrt(inp.channels)  # [C, 2*rank]
            amps = [amp[:, s * cfg.rank:(s + 1) * cfg.rank].t().contiguous() for s in (0, 1)]
        freqs = inp.freqs.reshape(inp.channels // 2, cfg.rank).t().contiguous()

        def dense(layer, wi: int | None = None, out_dtype: torch.dtype = dtype) -> Dense:
            if wi is None:  # plain FullyConnected (decoders): latent-independent, shared
                return self._shared_dense(layer, out_dtype)
            # modulated layer: lrelu+clamp (SynthesisLayer) or clamp only (ToRes)
            if layer.weight.shape[1] < FUSED_MODULATION_MIN_IN:  # small: a modulated copy is cheap, and fastest
                w, b = layer.effective_weight(ws[wi:wi + 1])[0], layer.bias
                if layer.demodulate:
                    w, b = w * LRELU_GAIN, b * LRELU_GAIN
                return plain_dense(w.t().contiguous().to(out_dtype), b.to(out_dtype), layer.demodulate, True)
            wt, w2t = self._shared_weight(layer, out_dtype)
            styles = layer.affine(ws[wi:wi + 1])[0]
            gain = LRELU_GAIN if layer.demodulate else 1.0  # sqrt2 * lrelu(y) == lrelu(sqrt2 * y)
            if layer.demodulate:
                d = (styles.square() @ w2t + 1e-8).rsqrt() * gain
            else:
                styles, d = styles * (1.0 / math.sqrt(layer.weight.shape[1])), None
            return ModulatedDense(wt, (layer.bias * gain).to(out_dtype), layer.demodulate, True,
                                   styles.to(out_dtype), None if d is None else d.to(out_dtype))

        last = cfg.num_ws - 1
        blocks = []
        for name, _, _ in pixel_block_layers(cfg):
            blk = getattr(syn, name)
            blocks.append((dense(blk.fc0, last), dense(blk.fc1, last), dense(blk.tores, last)))
        line_layers = [parent.line_layers[i] if parent is not None and wi < shared
                       else (dense(layer, wi), name.endswith("tores"))
                       for i, (name, layer, wi) in enumerate(syn.line_layers())]
        return LatentProgram(
            key, dtype, freqs, amps, line_layers=line_layers,
            decoders=[[dense(fc) for fc in getattr(syn, f"decoder_{res}")] for res in cfg.composed_blocks[1:]],
            decoder_last=[dense(fc) for fc in syn.decoder_last],
            decoder_img=dense(syn.decoder_img, out_dtype=torch.float32),  # keep the RGB sum in fp32
            pixel_blocks=blocks, n_composed=len(cfg.composed_blocks), rank=cfg.rank, biline=cfg.biline_channels,
            ws=ws.detach().clone(), line_ws=[wi for _, _, wi in syn.line_layers()])

    def _shared_weight(self, layer: ModulatedFC, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """A modulated layer's weight as [in, out] in ``dtype``, and its square in fp32 (for the
        demodulation), computed once per engine and shared by every latent's program."""
        key = (id(layer), dtype)
        if key not in self._shared:
            w = layer.weight.detach()
            self._shared[key] = (w.t().contiguous().to(dtype), w.square().t().contiguous().float())
        return cast(tuple[torch.Tensor, torch.Tensor], self._shared[key])  # a modulated layer's key

    def _shared_dense(self, layer: FullyConnected, dtype: torch.dtype) -> Dense:
        """A plain (latent-independent) layer, gain folded in, built once per engine and dtype."""
        key = (id(layer), dtype)
        if key not in self._shared:
            w, b = layer.scaled()
            act = layer.activation == "lrelu"
            if act:
                w, b = w * LRELU_GAIN, b * LRELU_GAIN
            self._shared[key] = plain_dense(w.t().contiguous().to(dtype), b.to(dtype), act, False)
        return cast(Dense, self._shared[key])  # a plain layer's key
