"""Projection: the ws whose render matches a given picture (``creps project``, File ▸ Project image…).

The generator's weights stay fixed; only ws move.  The recipe is the StyleGAN2 projector's
(Karras et al. 2020, ``projector.py``), with its perceptual (VGG) distance replaced by losses that need
no downloaded weights:

* **start**: w_avg (the mean w of 4,096 random seeds), or, when ``starts`` > 0, whichever of w_avg and
  ``starts`` random seeds' ws renders closest to the target;
* **Adam** (betas 0.9, 0.999) on w ([w_dim], shared by every layer: ``space="w"``) or on ws
  ([num_ws, w_dim]: ``space="w+"``), its learning rate ramped up over the first 5 % of the steps and down
  (a half cosine) over the last 25 %;
* **noise on w**: Gaussian, ``w_std * noise * max(0, 1 - t / 0.75)^2`` at progress ``t``, so the early
  steps explore and the last quarter settles (w_std: the spread of W, measured on the same seeds);
* **loss** (:func:`creps_core.train.fit.image_loss`, the fit's): L1 at full resolution, of 2x/4x/8x
  box-filtered copies, and of finite differences (edges), plus MSE (what PSNR measures) and, weight
  ``ssim_weight``, 1 - SSIM (:func:`creps_core.train.metrics.ssim`, structure);
* **w+ kept near W**: ``wplus_weight`` x the mean squared distance of each layer's w from the layers'
  mean, in units of w_std^2.

The render is the official grid at ``size`` x ``size`` (pixel i of n at i / (n - 1), the grid of
``View(size, size)``): a projection fitted at 64 px is a function of the coordinate, and renders,
zooms and exports at any size like any other latent.

The job (:meth:`Projection.steps`) yields a ``PROJECTING`` record per step (loss, PSNR in dB, s/step)
and keeps the best ws so far (the ws *rendered* at the step with the lowest loss, noise included, so
its figures are exact), which is what a cancel leaves: ``best_ws`` after ``Cancelled`` is the answer
so far.  ``preview`` holds the newest render as uint8 [size, size, 3] for a window to show.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass

import numpy as np
import torch

from creps_core.latent.latents import class_vector
from creps_core.model.checkpoint import LoadedModel
from creps_core.progress import DONE, PROJECTING, CancelFn, Cancelled, Progress
from creps_core.render.hardware import pick_device
from creps_core.render.views import View
from creps_core.train.fit import image_loss
from creps_core.train.metrics import psnr, ssim, to_unit
from creps_core.vocabulary import MAX_PROJECT_SIZE, PROJECTION_SPACES

W_STATS_SEEDS = 4096
W_STATS_SEED = 123456  # the random seeds that measure w_avg and w_std (fixed: a projection is reproducible)


@dataclass(frozen=True)
class ProjectOptions:
    """Everything that determines a projection's trajectory (recorded in its provenance)."""

    steps: int = 500
    size: int = 64
    space: str = "w+"
    seed: int = 0  # the noise and the random starts
    starts: int = 0  # random seeds tried as the start besides w_avg
    lr: float = 0.1
    noise: float = 0.05  # initial noise on w, as a fraction of w_std
    noise_ramp: float = 0.75
    lr_rampup: float = 0.05
    lr_rampdown: float = 0.25
    ms_weight: float = 1.0
    grad_weight: float = 0.5
    mse_weight: float = 1.0
    ssim_weight: float = 0.1
    wplus_weight: float = 0.01
    class_idx: int | None = None

    def __post_init__(self) -> None:
        if self.space not in PROJECTION_SPACES:
            raise ValueError(f"unknown space {self.space!r}: choose w or w+")
        if not 1 <= self.steps <= 1_000_000:
            raise ValueError(f"steps must be in 1..1000000, got {self.steps}")
        if not 8 <= self.size <= MAX_PROJECT_SIZE:
            raise ValueError(f"a projection is fitted at 8..{MAX_PROJECT_SIZE} px, got {self.size} "
                             "(the result renders at any size afterwards)")
        if not 0 <= self.starts <= 1000:
            raise ValueError(f"starts must be in 0..1000, got {self.starts}")

    def to_dict(self) -> dict:
        return asdict(self)


def learning_rate(opts: ProjectOptions, t: float) -> float:
    """The StyleGAN2 projector's schedule at progress ``t`` in [0, 1): ramp up, then a half-cosine down."""
    ramp = min(1.0, (1.0 - t) / opts.lr_rampdown) if opts.lr_rampdown > 0 else 1.0
    ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    ramp *= min(1.0, t / opts.lr_rampup) if opts.lr_rampup > 0 else 1.0
    return opts.lr * ramp


def noise_scale(opts: ProjectOptions, t: float) -> float:
    """Noise on w at progress ``t``, as a fraction of w_std: quadratic decay to 0 at ``noise_ramp``."""
    return opts.noise * max(0.0, 1.0 - t / opts.noise_ramp) ** 2 if opts.noise_ramp > 0 else 0.0


def target_tensor(rgb: np.ndarray) -> torch.Tensor:
    """uint8 [H, W, 3] -> float [1, 3, H, W] in [-1, 1], the generator's range."""
    return torch.from_numpy(np.array(rgb, dtype=np.uint8)).permute(2, 0, 1)[None].float() / 127.5 - 1


def to_rgb(img: torch.Tensor) -> np.ndarray:
    """A render [1, 3, H, W] in [-1, 1] -> uint8 [H, W, 3] (rounded as the engine's to_uint8)."""
    return (to_unit(img.detach())[0].permute(1, 2, 0) * 255 + 0.5).clamp(0, 255).to(torch.uint8).cpu().numpy()


class Projection:
    """One projection of ``target`` (uint8 [size, size, 3]) into ``model``; :meth:`steps` runs it."""

    def __init__(self, model: LoadedModel, target: np.ndarray, opts: ProjectOptions | None = None,
                 device: str | torch.device = "cpu") -> None:
        self.opts = opts = opts or ProjectOptions()
        if target.shape != (opts.size, opts.size, 3) or target.dtype != np.uint8:
            raise ValueError(f"the target must be uint8 [{opts.size}, {opts.size}, 3], got {target.dtype} "
                             f"{list(target.shape)}")
        self.device = pick_device(str(device), mps=False) if isinstance(device, str) else device
        self.g = model.build(self.device)
        self.cfg = model.cfg
        c = class_vector(self.cfg.c_dim, opts.class_idx)
        self.c = None if c is None else c.to(self.device)
        self.target = target_tensor(target).to(self.device)
        grid = View(opts.size, opts.size).separable()
        self.rows, self.cols = grid.rows.to(self.device), grid.cols.to(self.device)
        self.rng = torch.Generator().manual_seed(opts.seed)
        self.w_avg, self.w_std = self._w_stats()
        self.step_idx = 0
        self.best_ws: np.ndarray | None = None  # [num_ws, w_dim] float32
        self.best_loss = math.inf
        self.best_psnr = -math.inf
        self.preview: np.ndarray | None = None  # the newest render, uint8 [size, size, 3]

    @torch.no_grad()
    def _w_stats(self) -> tuple[torch.Tensor, float]:
        """(w_avg [w_dim], w_std): the mean of W and the root mean squared distance from it."""
        gen = torch.Generator().manual_seed(W_STATS_SEED)
        z = torch.randn(W_STATS_SEEDS, self.cfg.z_dim, generator=gen).to(self.device)
        c = None if self.c is None else self.c.expand(W_STATS_SEEDS, -1)
        w = self.g.mapping(z, c)
        w_avg = w.mean(0)
        return w_avg, float((w - w_avg).square().sum(1).mean().sqrt())

    def render(self, ws: torch.Tensor) -> torch.Tensor:
        """ws [num_ws, w_dim] -> [1, 3, size, size] on the official grid (with autograd when ws needs it)."""
        return self.g.synthesis(ws[None], self.rows, self.cols)

    def loss(self, img: torch.Tensor) -> torch.Tensor:
        o = self.opts
        loss = image_loss(img, self.target, o.ms_weight, o.grad_weight)
        if o.mse_weight:
            loss = loss + o.mse_weight * (img - self.target).square().mean()
        if o.ssim_weight:
            loss = loss + o.ssim_weight * (1 - ssim(to_unit(img), to_unit(self.target)).mean())
        return loss

    @torch.no_grad()
    def start(self) -> torch.Tensor:
        """The w to start from: w_avg, or the closest render of w_avg and ``starts`` random seeds' ws."""
        best, best_loss = self.w_avg, math.inf
        if self.opts.starts:
            z = torch.randn(self.opts.starts, self.cfg.z_dim, generator=self.rng).to(self.device)
            c = None if self.c is None else self.c.expand(self.opts.starts, -1)
            candidates = [self.w_avg, *self.g.mapping(z, c)]
            for w in candidates:
                loss = float(self.loss(self.render(w.expand(self.cfg.num_ws, -1))))
                if loss < best_loss:
                    best, best_loss = w, loss
        return best.clone()

    def steps(self, cancel: CancelFn | None = None) -> Iterator[Progress]:
        """Run the projection: a record per step, then DONE.  ``cancel()`` is polled between steps;
        when it turns True, Cancelled is raised and ``best_ws`` holds the best ws so far."""
        o, n = self.opts, self.cfg.num_ws
        w0 = self.start()
        w_opt = (w0 if o.space == "w" else w0.expand(n, -1)).clone().requires_grad_(True)
        opt = torch.optim.Adam([w_opt], lr=o.lr, betas=(0.9, 0.999))
        t_start = time.monotonic()
        for step in range(o.steps):
            if cancel is not None and cancel():
                raise Cancelled()
            t = step / o.steps
            for group in opt.param_groups:
                group["lr"] = learning_rate(o, t)
            sigma = self.w_std * noise_scale(o, t)
            noise = torch.randn(w_opt.shape, generator=self.rng).to(self.device) * sigma
            w = w_opt + noise
            ws = w.expand(n, -1) if o.space == "w" else w
            img = self.render(ws)
            loss = self.loss(img)
            if not torch.isfinite(loss):  # a damaged checkpoint renders NaN: no step can improve on it
                raise ValueError(f"the projection's loss is not a finite number at step {step + 1} (the model "
                                 "renders NaN or infinity for these ws): this checkpoint cannot be projected into")
            if o.space == "w+" and o.wplus_weight:
                spread = (w_opt - w_opt.mean(0, keepdim=True)).square().sum(1).mean() / self.w_std**2
                total = loss + o.wplus_weight * spread
            else:
                total = loss
            opt.zero_grad(set_to_none=True)
            total.backward()
            opt.step()
            value = float(loss.detach())
            quality = float(psnr(to_unit(img.detach()), to_unit(self.target))[0])
            if value < self.best_loss:
                self.best_loss, self.best_psnr = value, quality
                self.best_ws = ws.detach().float().cpu().numpy().copy()
            self.preview = to_rgb(img)
            self.step_idx = step + 1
            s_per_step = (time.monotonic() - t_start) / self.step_idx
            yield Progress(PROJECTING, self.step_idx, o.steps, s_per_step * (o.steps - self.step_idx),
                           figures=(("loss", value), ("PSNR", quality), ("best", self.best_psnr),
                                    ("s/step", s_per_step)))
        yield Progress(DONE, o.steps, o.steps, 0.0)

    @torch.no_grad()
    def best_render(self) -> np.ndarray:
        """The render of ``best_ws`` at the fit size, uint8 [size, size, 3]."""
        if self.best_ws is None:
            raise ValueError("the projection has not run a step yet")
        return to_rgb(self.render(torch.from_numpy(self.best_ws).to(self.device)))

    def figures(self) -> dict[str, float]:
        """PSNR (dB) and SSIM of the best ws's render against the target, for reports and records."""
        with torch.no_grad():
            img = to_unit(target_tensor(self.best_render()))
            ref = to_unit(self.target.cpu())
            return {"psnr_db": float(psnr(img, ref)[0]), "ssim": float(ssim(img, ref)[0])}
