"""A StyleGAN2-style residual discriminator (the one CREPS is trained against).

Written from the StyleGAN2 paper's description: equalised learning rate everywhere,
a 1x1 FromRGB at full resolution, residual blocks that halve the resolution (two 3x3
convolutions on the main path, a 1x1 convolution on the skip path, both summed with gain
sqrt(1/2)), and a 4x4 epilogue with minibatch standard deviation, a 3x3 convolution and
two dense layers.  Downsampling is a 2x2 average pool instead of the official [1,3,3,1]
FIR filter: simpler, and the difference does not matter for the demo or for users who
train their own models with this tool (the generator, not D, is what gets shipped).
Conditional models use the projection discriminator (output = <features, embed(c)>).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

LRELU_GAIN = math.sqrt(2.0)


@dataclass(frozen=True)
class DiscriminatorConfig:
    img_resolution: int
    img_channels: int = 3
    c_dim: int = 0
    channel_base: int = 32768
    channel_max: int = 512
    mbstd_group: int = 4
    cmap_dim: int | None = None  # defaults to the 4x4 channel count

    def channels(self, res: int) -> int:
        return min(self.channel_base // res, self.channel_max)

    def to_dict(self) -> dict:
        return asdict(self)


class EqConv2d(nn.Module):
    """Conv with runtime weight scaling 1/sqrt(fan_in), optional lrelu and 2x avg-pool down."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, bias: bool = True,
                 activation: bool = True, down: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(out_ch)) if bias else None
        self.gain = 1.0 / math.sqrt(in_ch * kernel * kernel)
        self.activation, self.down, self.pad = activation, down, kernel // 2

    def forward(self, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        if self.down and self.weight.shape[-1] == 1:
            x = F.avg_pool2d(x, 2)  # pool first: cheaper and the same for a 1x1 kernel
        x = F.conv2d(x, self.weight * self.gain, self.bias, padding=self.pad)
        if self.down and self.weight.shape[-1] > 1:
            x = F.avg_pool2d(x, 2)
        if self.activation:
            x = F.leaky_relu(x, 0.2) * LRELU_GAIN
        return x * gain if gain != 1.0 else x


class EqLinear(nn.Module):
    def __init__(self, in_f: int, out_f: int, activation: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_f, in_f))
        self.bias = nn.Parameter(torch.zeros(out_f))
        self.gain = 1.0 / math.sqrt(in_f)
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.linear(x, self.weight * self.gain, self.bias)
        return F.leaky_relu(x, 0.2) * LRELU_GAIN if self.activation else x


class DBlock(nn.Module):
    """Residual block: res -> res/2."""

    def __init__(self, in_ch: int, tmp_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv0 = EqConv2d(in_ch, tmp_ch, 3)
        self.conv1 = EqConv2d(tmp_ch, out_ch, 3, down=True)
        self.skip = EqConv2d(in_ch, out_ch, 1, bias=False, activation=False, down=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g = math.sqrt(0.5)
        return self.skip(x, gain=g) + self.conv1(self.conv0(x), gain=g)


def minibatch_stddev(x: torch.Tensor, group: int) -> torch.Tensor:
    """Append one channel: the std over groups of samples, averaged over features and pixels."""
    B, C, H, W = x.shape
    g = min(group, B)
    if B % g:
        g = 1 if B < 2 else math.gcd(B, g)
    y = x.reshape(g, -1, C, H, W)
    y = (y - y.mean(dim=0)).square().mean(dim=0).add(1e-8).sqrt()  # [B/g, C, H, W]
    y = y.mean(dim=[1, 2, 3]).reshape(-1, 1, 1, 1).repeat(g, 1, H, W)
    return torch.cat([x, y], dim=1)


class Discriminator(nn.Module):
    def __init__(self, cfg: DiscriminatorConfig) -> None:
        super().__init__()
        self.cfg = cfg
        R = cfg.img_resolution
        self.resolutions = [2**i for i in range(int(math.log2(R)), 2, -1)]  # R ... 8
        self.from_rgb = EqConv2d(cfg.img_channels, cfg.channels(R), 1)
        self.blocks = nn.ModuleList(
            DBlock(cfg.channels(r), cfg.channels(r), cfg.channels(r // 2)) for r in self.resolutions)
        c4 = cfg.channels(4)
        cmap = cfg.cmap_dim or c4
        self.conv = EqConv2d(c4 + 1, c4, 3)
        self.fc = EqLinear(c4 * 16, c4, activation=True)
        self.out = EqLinear(c4, cmap if cfg.c_dim > 0 else 1)
        if cfg.c_dim > 0:
            self.embed = EqLinear(cfg.c_dim, cmap)
        self.cmap_dim = cmap

    def forward(self, img: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        """img [B, C, R, R] in [-1, 1] -> logits [B]."""
        x = self.from_rgb(img)
        for blk in self.blocks:
            x = blk(x)
        x = minibatch_stddev(x, self.cfg.mbstd_group)
        x = self.fc(self.conv(x).flatten(1))
        x = self.out(x)
        if self.cfg.c_dim > 0:
            if c is None:
                raise ValueError("conditional discriminator needs labels")
            cm = self.embed(c)
            cm = cm * (cm.square().mean(dim=1, keepdim=True) + 1e-8).rsqrt()
            return (x * cm).sum(dim=1) / math.sqrt(self.cmap_dim)
        return x[:, 0]
