"""The CREPS generator as PyTorch modules, with the official state_dict names.

The modules hold the parameters under exactly the names the official
``training/networks_creps.py`` uses (``mapping.fc0.weight``,
``synthesis.b8.fc0.affine.bias``, ``synthesis.decoder_16.2.weight`` ...), so a
state_dict read from an official pickle loads without renaming.  The maths is
written from the published architecture (docs/architecture.md), organised around
the bi-line factorisation the explorer depends on:

* ``lines(ws, t, slot)`` evaluates the *line network* for one slot (rows = slot 0,
  columns = slot 1) at arbitrary 1-D coordinates ``t`` and returns the accumulated
  ToRes outputs after every block that is composed into the image.
* ``pixels(ws, row_lines, col_lines)`` composes a separable grid from row and column
  lines and runs the per-pixel part (decoders, decoder_img, block0, block1).

Both are batched and differentiable; the trainer uses them directly.  The fast
inference path in :mod:`creps_core.render.engine` compiles the same parameters per latent
(see :meth:`ModulatedFC.effective_weight`) so the two cannot drift apart.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

LRELU_SLOPE = 0.2
LRELU_GAIN = math.sqrt(2.0)
FC_CLAMP = 256.0


# What any real CREPS generator fits in (the released ones: 512-d latents, 1024 channels, 1024 px).
CONFIG_BOUNDS: dict[str, tuple[int, int]] = {
    "z_dim": (1, 4096), "w_dim": (1, 4096), "c_dim": (0, 100_000), "img_resolution": (8, 8192),
    "img_channels": (1, 4), "mapping_layers": (1, 64), "channel_base": (1, 1 << 22), "channel_max": (1, 8192),
    "biline_channels": (2, 1024), "rank": (1, 256),
}


@dataclass(frozen=True)
class CREPSConfig:
    """Architecture hyper-parameters; the same keys as the official ``_init_kwargs``."""

    z_dim: int = 512
    w_dim: int = 512
    c_dim: int = 0
    img_resolution: int = 256
    img_channels: int = 3
    mapping_layers: int = 8
    channel_base: int = 65536
    channel_max: int = 1024
    biline_channels: int = 32
    rank: int = 8
    bandwidth: float = 10.0

    def __post_init__(self) -> None:
        # Types and bounds first: a config from a file decides how much memory is allocated.
        for name, (lo, hi) in CONFIG_BOUNDS.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                raise ValueError(f"{name} must be a whole number in {lo}..{hi}, got {value!r}")
        if isinstance(self.bandwidth, bool) or not isinstance(self.bandwidth, (int, float)) \
                or not (0 < self.bandwidth < 1e6 and math.isfinite(self.bandwidth)):
            raise ValueError(f"bandwidth must be a positive finite number, got {self.bandwidth!r}")
        r = self.img_resolution
        if r < 8 or r & (r - 1):
            raise ValueError(f"img_resolution must be a power of two >= 8, got {r}")
        if self.biline_channels <= self.img_channels:
            raise ValueError("biline_channels must exceed img_channels")

    @property
    def block_resolutions(self) -> list[int]:
        return [2**i for i in range(2, int(math.log2(self.img_resolution)) + 1)]

    def channels(self, res: int) -> int:
        return min(self.channel_base // res, self.channel_max)

    @property
    def composed_blocks(self) -> list[int]:
        """Blocks whose accumulated ToRes output is composed into the image (all but b4)."""
        return self.block_resolutions[1:]

    @property
    def num_ws(self) -> int:
        # b4: input + fc1; every later block: fc0 + fc1; the last block's ToRes adds one.
        return 2 + 2 * (len(self.block_resolutions) - 1) + 1

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> CREPSConfig:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in d.items() if k in known})


# Released configurations (the official train.py --cfg=creps).
PAPER_CONFIGS = {res: CREPSConfig(img_resolution=res) for res in (256, 512, 1024)}


def normalize_2nd_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


class FullyConnected(nn.Module):
    """Equalised-learning-rate dense layer (weight * lr/sqrt(in), bias * lr)."""

    def __init__(self, in_features: int, out_features: int, activation: str = "linear",
                 lr_multiplier: float = 1.0, bias_init: float = 0.0) -> None:
        super().__init__()
        self.activation = activation
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init)))
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier
        self._scaled: tuple[tuple, tuple[torch.Tensor, torch.Tensor]] | None = None

    def scaled(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(weight, bias) with the equalised-lr gains applied.

        Frozen weights (rendering) keep the product: the style affines are called for every new
        latent, and rescaling their millions of weights each time was most of a latent's compile
        (~20 of 35 ms on the released 256 config). Trained weights are rescaled on every call, so
        autograd sees the product; an in-place update or a move changes the key and the product."""
        if self.weight.requires_grad or self.bias.requires_grad:
            return self.weight * self.weight_gain, self.bias * self.bias_gain
        key = (self.weight.data_ptr(), self.weight._version, self.bias.data_ptr(), self.bias._version)
        if self._scaled is None or self._scaled[0] != key:
            self._scaled = key, (self.weight * self.weight_gain, self.bias * self.bias_gain)
        return self._scaled[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w, b = self.scaled()
        y = x.matmul(w.t()) + b
        if self.activation == "lrelu":
            y = F.leaky_relu(y, LRELU_SLOPE) * LRELU_GAIN
        return y


class MappingNetwork(nn.Module):
    # Submodules and buffers made in __init__ (nn.Module types attribute access as Tensor | Module);
    # fc0.. are set by name and read through getattr.
    embed: FullyConnected  # conditional models only
    w_avg: torch.Tensor

    def __init__(self, cfg: CREPSConfig) -> None:
        super().__init__()
        self.cfg = cfg
        embed = cfg.w_dim if cfg.c_dim > 0 else 0
        if cfg.c_dim > 0:
            self.embed = FullyConnected(cfg.c_dim, embed)
        dims = [cfg.z_dim + embed] + [cfg.w_dim] * cfg.mapping_layers
        for i in range(cfg.mapping_layers):
            setattr(self, f"fc{i}", FullyConnected(dims[i], dims[i + 1], "lrelu", lr_multiplier=0.01))
        self.register_buffer("w_avg", torch.zeros([cfg.w_dim]))

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        """z [B, z_dim] (and one-hot c [B, c_dim]) -> w [B, w_dim], before truncation."""
        x = normalize_2nd_moment(z.to(torch.float32))
        if self.cfg.c_dim > 0:
            if c is None:
                raise ValueError("this model is conditional: a class label is required")
            y = normalize_2nd_moment(self.embed(c.to(torch.float32)))
            x = torch.cat([x, y], dim=1)
        for i in range(self.cfg.mapping_layers):
            x = getattr(self, f"fc{i}")(x)
        return x


class ModulatedFC(nn.Module):
    """Style-modulated dense layer (``SynthesisLayer`` / ``ToResLayer`` officially).

    ``demodulate=True`` is a SynthesisLayer: lrelu * sqrt(2), clamp +-256.
    ``demodulate=False`` is a ToResLayer: styles / sqrt(in), linear, clamp +-256.
    """

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, demodulate: bool = True) -> None:
        super().__init__()
        self.demodulate = demodulate
        self.affine = FullyConnected(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels))
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def effective_weight(self, w: torch.Tensor) -> torch.Tensor:
        """Per-sample weight [B, out, in] for latents w [B, w_dim] (modulated, demodulated)."""
        styles = self.affine(w)
        if not self.demodulate:
            styles = styles * (1.0 / math.sqrt(self.weight.shape[1]))
        weight = self.weight.unsqueeze(0) * styles.unsqueeze(1)
        if self.demodulate:
            weight = weight * (weight.square().sum(dim=2, keepdim=True) + 1e-8).rsqrt()
        return weight

    def activate(self, y: torch.Tensor) -> torch.Tensor:
        """Bias already added: apply activation, gain and clamp."""
        if self.demodulate:
            y = F.leaky_relu(y, LRELU_SLOPE) * LRELU_GAIN
        return y.clamp(-FC_CLAMP, FC_CLAMP)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """x [B, N, in] -> [B, N, out].

        With frozen weights (a projection fitting ws, inference) the styles scale the activations and the
        demodulation factors the outputs, ``((x * s) @ W^T) * d``: the same product as ``x @ (W * s * d)^T``
        without a modulated copy of W, so backprop to ws skips the gradient of that copy (a matmul as large
        as the layer's forward).  While W trains, its gradient is needed anyway: the per-sample weight."""
        if self.weight.requires_grad:
            weight = self.effective_weight(w)
            return self.activate(torch.matmul(x, weight.transpose(1, 2)) + self.bias)
        styles = self.affine(w)
        if not self.demodulate:
            styles = styles * (1.0 / math.sqrt(self.weight.shape[1]))
        y = torch.matmul(x * styles.unsqueeze(1), self.weight.t())
        if self.demodulate:
            y = y * (styles.square() @ self.weight.square().t() + 1e-8).rsqrt().unsqueeze(1)
        return self.activate(y + self.bias)


class SynthesisInput(nn.Module):
    """Fourier features of a 1-D coordinate, one set per (slot, rank) column."""

    freqs: torch.Tensor  # buffers
    coords: torch.Tensor

    def __init__(self, channels: int, w_dim: int, resolution: int, rank: int, bandwidth: float) -> None:
        super().__init__()
        self.channels, self.rank = channels, rank
        self.register_buffer("freqs", torch.randn([1, channels // 2 * rank]) * bandwidth)
        self.register_buffer("coords", torch.linspace(0, 1, resolution).reshape(1, -1, 1, 1).repeat(1, 1, 2, 1))
        self.weight = nn.Parameter(torch.randn([1, channels, 1, 2 * rank]))
        self.affine = FullyConnected(w_dim, channels * 2 * rank, bias_init=1.0)

    def amplitudes(self, w: torch.Tensor) -> torch.Tensor:
        """Per-latent amplitude [B, channels, 2*rank] = weight * affine(w) (before / sqrt(C))."""
        styles = self.affine(w).reshape(w.shape[0], self.channels, 2 * self.rank)
        return self.weight[:, :, 0, :] * styles

    def phases(self, t: torch.Tensor) -> torch.Tensor:
        """[n] coordinates -> phases [n, rank, channels/2] = 2*pi*f*t (float32, official order)."""
        f = self.freqs.reshape(self.channels // 2, self.rank).t()  # [rank, C/2]
        return (t.reshape(-1, 1, 1).to(f.dtype) * f.unsqueeze(0)) * (np.pi * 2)

    def features(self, t: torch.Tensor) -> torch.Tensor:
        """[n] -> sin/cos features [n, rank, channels] (sin half first, then cos half)."""
        ph = self.phases(t)
        return torch.sin(torch.cat([ph, ph + np.pi / 2], dim=2))

    def forward(self, w: torch.Tensor, t: torch.Tensor, slot: int) -> torch.Tensor:
        """Line-network input for one slot: [B, n*rank, channels]."""
        amp = self.amplitudes(w)[:, :, slot * self.rank:(slot + 1) * self.rank]  # [B, C, rank]
        x = self.features(t).unsqueeze(0) * amp.transpose(1, 2).unsqueeze(1)  # [B, n, rank, C]
        x = x / np.sqrt(self.channels)
        return x.reshape(w.shape[0], -1, self.channels)


class LineBlock(nn.Module):
    """One b-block of the line network (``b4`` holds the input layer, later ones fc0)."""

    input: SynthesisInput  # b4 only
    fc0: ModulatedFC  # every later block

    def __init__(self, cfg: CREPSConfig, res: int) -> None:
        super().__init__()
        out_ch = cfg.channels(res)
        self.is_first = res == 4
        if self.is_first:
            self.input = SynthesisInput(out_ch, cfg.w_dim, cfg.img_resolution, cfg.rank, cfg.bandwidth)
        else:
            self.fc0 = ModulatedFC(cfg.channels(res // 2), out_ch, cfg.w_dim)
        self.fc1 = ModulatedFC(out_ch, out_ch, cfg.w_dim)
        # b4 has a ToRes in the checkpoint that the official forward never calls.
        self.tores = ModulatedFC(out_ch, cfg.biline_channels, cfg.w_dim, demodulate=False)


def pixel_block_layers(cfg: CREPSConfig) -> list[tuple[str, int, int]]:
    """(name, in, out) of the two per-pixel modulated blocks."""
    b = cfg.biline_channels
    return [("block0", b, 4 * b), ("block1", 4 * b, 2 * b)]


class PixelBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, w_dim: int, img_channels: int) -> None:
        super().__init__()
        self.fc0 = ModulatedFC(in_ch, out_ch, w_dim)
        self.fc1 = ModulatedFC(out_ch, out_ch, w_dim)
        self.tores = ModulatedFC(out_ch, img_channels, w_dim, demodulate=False)


def make_decoder(ch: int) -> nn.Sequential:
    dims = [ch, 2 * ch, 4 * ch, 2 * ch, ch]
    return nn.Sequential(*[FullyConnected(dims[i], dims[i + 1], "lrelu") for i in range(4)])


class SynthesisNetwork(nn.Module):
    # The blocks are set by name (b4, b8 .., decoder_8 .., block0, block1) and read through getattr;
    # b4, which every config has, holds the input layer.
    b4: LineBlock

    def __init__(self, cfg: CREPSConfig) -> None:
        super().__init__()
        self.cfg = cfg
        for res in cfg.block_resolutions:
            setattr(self, f"b{res}", LineBlock(cfg, res))
        for res in cfg.composed_blocks:
            setattr(self, f"decoder_{res}", make_decoder(cfg.biline_channels))
        self.decoder_last = make_decoder(cfg.biline_channels)
        self.decoder_img = FullyConnected(cfg.biline_channels, cfg.img_channels)
        for name, i, o in pixel_block_layers(cfg):
            setattr(self, name, PixelBlock(i, o, cfg.w_dim, cfg.img_channels))

    def line_layers(self) -> list[tuple[str, ModulatedFC, int]]:
        """Every modulated layer of the line network in order, with its ws index."""
        layers: list[tuple[str, ModulatedFC, int]] = []
        for k, res in enumerate(self.cfg.block_resolutions):
            blk = getattr(self, f"b{res}")
            if blk.is_first:
                layers.append((f"b{res}.fc1", blk.fc1, 1))
            else:
                layers += [(f"b{res}.fc0", blk.fc0, 2 * k - 1), (f"b{res}.fc1", blk.fc1, 2 * k),
                           (f"b{res}.tores", blk.tores, 2 * k + 1)]
        return layers

    def style_affines(self) -> list[tuple[str, FullyConnected, int]]:
        """Every affine layer that turns a ws row into styles, with that row's index: the input
        layer (ws[0]), the line network's layers, and the per-pixel blocks (the last ws).  The
        unused b4 ToRes is left out: no ws row reaches the image through it."""
        affines = [("b4.input.affine", self.b4.input.affine, 0)]
        affines += [(f"{name}.affine", layer.affine, wi) for name, layer, wi in self.line_layers()]
        last = self.cfg.num_ws - 1
        for name, _, _ in pixel_block_layers(self.cfg):
            blk = getattr(self, name)
            affines += [(f"{name}.{part}.affine", getattr(blk, part).affine, last) for part in ("fc0", "fc1", "tores")]
        return affines

    def lines(self, ws: torch.Tensor, t: torch.Tensor, slot: int) -> torch.Tensor:
        """Accumulated line values for coordinates t [n] of one slot.

        Returns [B, n, n_composed, rank, biline]: for every composed block the running
        sum of ToRes outputs (what the official code chunks into x_line / y_line).
        """
        B, n, rank = ws.shape[0], t.numel(), self.cfg.rank
        x = self.b4.input(ws[:, 0], t, slot)
        res, out = None, []
        for name, layer, wi in self.line_layers():
            y = layer(x, ws[:, wi])
            if name.endswith("tores"):
                res = y if res is None else res + y
                out.append(res)
            else:
                x = y
        return torch.stack(out, dim=2).reshape(B, n, rank, len(out), -1).transpose(2, 3)

    def pixels(self, ws: torch.Tensor, row_lines: torch.Tensor, col_lines: torch.Tensor) -> torch.Tensor:
        """Compose a separable grid and run the per-pixel network -> image [B, C, H, W]."""
        B, H, W = row_lines.shape[0], row_lines.shape[1], col_lines.shape[1]
        # F_b[b, i, j, c] = 1/2 sum_k R[b, i, k, c] K[b, j, k, c]
        composed = torch.einsum("bipkc,bjpkc->bpijc", row_lines, col_lines) * 0.5
        feats = composed.reshape(B, composed.shape[1], H * W, -1)
        return self.decode(ws, feats).reshape(B, H, W, -1).permute(0, 3, 1, 2)

    def decode(self, ws: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
        """Per-pixel network: composed features [B, n_composed, N, biline] -> RGB [B, N, C]."""
        feature = feats[:, 0]
        for k, res in enumerate(self.cfg.composed_blocks[1:], start=1):
            feature = getattr(self, f"decoder_{res}")(feature) + feats[:, k]
        feature = self.decoder_last(feature)
        img = self.decoder_img(feature)
        w_last = ws[:, -1]
        for name, _, _ in pixel_block_layers(self.cfg):
            blk = getattr(self, name)
            feature = blk.fc1(blk.fc0(feature, w_last), w_last)
            img = img + blk.tores(feature, w_last)
        return img

    def forward(self, ws: torch.Tensor, rows: torch.Tensor | None = None,
                cols: torch.Tensor | None = None) -> torch.Tensor:
        """Render the separable grid rows x cols (default: the official grid)."""
        if rows is None:
            rows = self.b4.input.coords[0, :, 0, 0]
        if cols is None:
            cols = rows
        return self.pixels(ws, self.lines(ws, rows, 0), self.lines(ws, cols, 1))


class CREPSGenerator(nn.Module):
    """Mapping + synthesis; ``state_dict()`` keys match the official G / G_ema."""

    def __init__(self, cfg: CREPSConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.synthesis = SynthesisNetwork(cfg)
        self.mapping = MappingNetwork(cfg)

    @property
    def num_ws(self) -> int:
        return self.cfg.num_ws

    def map(self, z: torch.Tensor, c: torch.Tensor | None = None, psi: float = 1.0,
            cutoff: int | None = None) -> torch.Tensor:
        """z -> ws [B, num_ws, w_dim] with truncation toward w_avg (official semantics)."""
        w = self.mapping(z, c)
        ws = w.unsqueeze(1).repeat(1, self.num_ws, 1)
        return truncate(ws, self.mapping.w_avg, psi, cutoff)

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None, psi: float = 1.0) -> torch.Tensor:
        return self.synthesis(self.map(z, c, psi))


def truncate(ws: torch.Tensor, w_avg: torch.Tensor, psi: float, cutoff: int | None = None) -> torch.Tensor:
    """Lerp ws toward w_avg by psi; with a cutoff only the first `cutoff` ws move."""
    if psi == 1:
        return ws
    ws = ws.clone()
    n = ws.shape[1] if cutoff is None else cutoff
    ws[:, :n] = w_avg.lerp(ws[:, :n], psi)
    return ws


def unused_parameter_names(cfg: CREPSConfig) -> list[str]:
    """Tensors present in official checkpoints that never influence the image."""
    names = [f"synthesis.b4.tores.{n}" for n in ("weight", "bias", "affine.weight", "affine.bias")]
    return names + [f"synthesis.decoder_8.{i}.{n}" for i in range(4) for n in ("weight", "bias")]


def expected_shapes(cfg: CREPSConfig) -> dict[str, tuple[int, ...]]:
    """state_dict name -> shape for a config, derived from the architecture (no tensors built)."""
    shapes: dict[str, tuple[int, ...]] = {}

    def fc(name: str, i: int, o: int) -> None:
        shapes[f"{name}.weight"], shapes[f"{name}.bias"] = (o, i), (o,)

    def modulated(name: str, i: int, o: int) -> None:
        fc(name, i, o)
        fc(f"{name}.affine", cfg.w_dim, i)

    for k, res in enumerate(cfg.block_resolutions):
        b, o = f"synthesis.b{res}", cfg.channels(res)
        if k == 0:
            shapes[f"{b}.input.weight"] = (1, o, 1, 2 * cfg.rank)
            fc(f"{b}.input.affine", cfg.w_dim, o * 2 * cfg.rank)
            shapes[f"{b}.input.freqs"] = (1, o // 2 * cfg.rank)
            shapes[f"{b}.input.coords"] = (1, cfg.img_resolution, 2, 1)
        else:
            modulated(f"{b}.fc0", cfg.channels(res // 2), o)
        modulated(f"{b}.fc1", o, o)
        modulated(f"{b}.tores", o, cfg.biline_channels)
    c = cfg.biline_channels
    for decoder in [*map(str, cfg.composed_blocks), "last"]:
        for j, (i, o) in enumerate([(c, 2 * c), (2 * c, 4 * c), (4 * c, 2 * c), (2 * c, c)]):
            fc(f"synthesis.decoder_{decoder}.{j}", i, o)
    fc("synthesis.decoder_img", c, cfg.img_channels)
    for name, i, o in pixel_block_layers(cfg):
        modulated(f"synthesis.{name}.fc0", i, o)
        modulated(f"synthesis.{name}.fc1", o, o)
        modulated(f"synthesis.{name}.tores", o, cfg.img_channels)
    if cfg.c_dim:
        fc("mapping.embed", cfg.c_dim, cfg.w_dim)
    dims = [cfg.z_dim + (cfg.w_dim if cfg.c_dim else 0)] + [cfg.w_dim] * cfg.mapping_layers
    for i in range(cfg.mapping_layers):
        fc(f"mapping.fc{i}", dims[i], dims[i + 1])
    shapes["mapping.w_avg"] = (cfg.w_dim,)
    return shapes


def count_parameters(state: dict[str, torch.Tensor]) -> int:
    return sum(v.numel() for k, v in state.items() if not k.endswith(("freqs", "coords", "w_avg")))

