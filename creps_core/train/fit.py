"""Fitting a CREPS generator to a fixed set of photographs by regression (``creps train --objective fit``).

(About 420 lines: the loss, the crops, the state and the job of one objective, kept together so a
resume can be checked against one file.)

A CPU cannot train a good GAN, but it can make a generator *render given pictures*.  This is
Generative Latent Optimisation without the separate latent table: photo ``i`` belongs to seed ``i``
(z = the official seed -> z, :func:`creps_core.latent.latents.seed_to_z`), and the mapping network
and the synthesis network are trained together, by Adam, so that seed ``i`` renders photo ``i``.
The snapshot is an ordinary generator: ``creps render --seeds 0-9`` on it shows the photographs,
other seeds show what lies between them.

The objective, per minibatch of photos (images in [-1, 1]):

* **pixels**: L1 at full resolution;
* **multi-scale**: L1 of 2x2, 4x4 and 8x8 box-filtered copies (their mean, weight ``ms_weight``):
  the colour layout of a picture converges before its texture;
* **edges**: L1 of the horizontal and vertical finite differences (weight ``grad_weight``), which
  keeps edges sharp where plain L1 is content with a blur;
* **where other seeds land** (weight ``reg_weight``): for a batch of random z, the mapping's w is
  pulled toward a kernel blend of the photos' ws, ``sum_i softmax_i(-|z - z_i|^2 / T) * w_i``
  (z normalised as the mapping normalises it, ``T`` = ``reg_temperature``, by default sqrt(z_dim)/8),
  with the photos' ws held fixed in that term.  A random seed is pulled toward the w of the photo
  whose seed is nearest to it, or between two when both are about as near; the seeds of the photos
  themselves are their own targets.  It costs a mapping pass of a few dozen z, nothing in pixels.
  What it does not do (yet): make other seeds' *pictures* plausible.  The synthesis is never trained
  on a w between photos (there is no target there without a discriminator), and it renders the
  middle of two or three photos' ws as a brown mud: at T = sqrt(z_dim) the term fell to 0.15 of the
  photos' spread and every random seed was mud.  The sharp default kernel aims random seeds at single
  photos, but the tiny config's two-layer mapping gets only part of the way (0.6 of the spread after
  1,300 steps at 128 px), so random seeds are still mud there; seeds 0..N-1 are the photos.

No network weights are downloaded: there is no perceptual loss.  PSNR of the minibatch (in dB, on
images mapped to [0, 1]) and the loss are the Progress record's ``figures``.

The snapshot is G_ema (an exponential moving average of the weights, which settles the last
percent of the fit), written as ``snapshot-stepNNNNNNN.safetensors`` by
:func:`creps_core.model.checkpoint.save_safetensors` beside a ``.state.pt`` holding everything of
the trajectory (weights, EMA, Adam, the private RNG, the step, the options, a hash of the photos).
Both are written atomically every ``snap_minutes`` of wall time, every ``snap_kimg`` if asked, at
the end, and when ``cancel()`` turns True, so a killed run loses at most ``snap_minutes``.  The
schedule depends only on the step counter and one private RNG, never on wall time, so a run
resumed from any snapshot continues exactly as the uninterrupted run would have (bit for bit on the
same machine and thread count).  ``mapping.w_avg`` follows the mean w of the random seeds, as in
the GAN loop, so truncation pulls toward the middle of the photos.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import math
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
from PIL import Image
from torch.nn import functional as F

from creps_core.io.safe_files import atomic_write
from creps_core.latent.latents import seed_to_z
from creps_core.model.checkpoint import save_safetensors
from creps_core.model.network import CREPSConfig, CREPSGenerator
from creps_core.progress import DONE, TRAINING, CancelFn, Cancelled, Progress
from creps_core.render.hardware import pick_device
from creps_core.train.dataset import ImageDataset, load_image
from creps_core.train.loop import _cpu_state, _optim_to_cpu, image_grid, model_configs, state_path_for
from creps_core.train.metrics import psnr, to_unit
from creps_core.vocabulary import TRAIN_CONFIGS

FIT_STATE_VERSION = 1
BUNDLED_PHOTOS = "demo:photos"
"""The ``data`` name of the colour photographs that ship with scikit-image and scikit-learn (the
pictures ``creps demo-data --theme photos`` crops), each centre-cropped once: seed i = photo i."""


@dataclass(frozen=True)
class FitOptions:
    """Everything that determines the fit's trajectory (saved with every state)."""

    resolution: int
    config: str = "tiny"
    batch: int = 16  # photos per step; at most the number of photos
    seed: int = 0
    lr: float = 0.005
    mapping_lr: float = 30.0  # the mapping's Adam lr, as a multiple of lr (its layers run at lr_multiplier 0.01)
    beta1: float = 0.9
    beta2: float = 0.99
    ms_weight: float = 1.0
    grad_weight: float = 0.5
    reg_weight: float = 1.0
    reg_batch: int = 32
    reg_temperature: float | None = None  # None: sqrt(z_dim) / 8
    ema_beta: float = 0.995  # per step, after a ramp-up of (1 + step) / (10 + step)
    crop: int | None = None  # fit a random crop x crop window of the grid per step (None: the whole picture)

    def to_dict(self) -> dict:
        return asdict(self)


# ----------------------------------------------------------------------------- data

@dataclass
class FitData:
    """The photos to fit: uint8 [N, 3, R, R] (photo i is seed i), their names and where they came from."""

    images: torch.Tensor
    names: list[str]
    source: str

    @property
    def resolution(self) -> int:
        return int(self.images.shape[-1])

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def digest(self) -> str:
        """sha256 of the pixels: a resume must fit the same photos."""
        return hashlib.sha256(self.images.numpy().tobytes()).hexdigest()

    def describe(self) -> dict:
        return {"path": self.source, "images": len(self), "resolution": self.resolution, "names": self.names,
                "sha256": self.digest()}


def bundled_photos(resolution: int) -> FitData:
    """The bundled colour photographs (:func:`creps_core.train.demo_data.colour_photos`), centre-cropped and
    resized exactly as a folder of them would be (the same :func:`creps_core.train.dataset.load_image`)."""
    from creps_core.train.demo_data import SKIMAGE_PHOTOS, colour_photos

    names = [*SKIMAGE_PHOTOS, "stereo_motorcycle", "china", "flower"]
    arrays = []
    for name, photo in zip(names, colour_photos(), strict=True):
        buf = io.BytesIO()
        Image.fromarray(photo).save(buf, format="PNG")
        arrays.append(load_image(buf.getvalue(), name, resolution))
    return FitData(torch.from_numpy(np.stack(arrays)), names, BUNDLED_PHOTOS)


def fit_data(data: str | os.PathLike | ImageDataset | FitData, resolution: int) -> FitData:
    """``demo:photos``, a folder or dataset zip (:class:`ImageDataset`, sorted by name), or data already read."""
    if isinstance(data, FitData):
        found = data
    elif isinstance(data, ImageDataset):
        found = FitData(data.images, list(data.names), str(data.path))
    elif str(data) == BUNDLED_PHOTOS:
        found = bundled_photos(resolution)
    else:
        ds = ImageDataset(data, resolution)
        found = FitData(ds.images, list(ds.names), str(ds.path))
    if found.resolution != resolution:
        raise ValueError(f"the photos are {found.resolution} px; the fit is at {resolution} px")
    return found


# ----------------------------------------------------------------------------- loss

def _box(x: torch.Tensor, k: int) -> torch.Tensor:
    return F.avg_pool2d(x, k) if k > 1 else x


def image_loss(x: torch.Tensor, y: torch.Tensor, ms_weight: float = 1.0, grad_weight: float = 0.5) -> torch.Tensor:
    """Per-batch loss of renders ``x`` against targets ``y`` ([B, C, H, W] in [-1, 1]): L1 + the mean L1 of
    2x, 4x and 8x box-filtered copies (as far as the size allows) + L1 of the finite differences."""
    loss = (x - y).abs().mean()
    scales = [k for k in (2, 4, 8) if x.shape[-1] // k >= 2]
    if ms_weight and scales:
        loss = loss + ms_weight * sum((_box(x, k) - _box(y, k)).abs().mean() for k in scales) / len(scales)
    if grad_weight:
        d = x - y
        loss = loss + grad_weight * 0.5 * ((d[..., :, 1:] - d[..., :, :-1]).abs().mean()
                                           + (d[..., 1:, :] - d[..., :-1, :]).abs().mean())
    return loss


def _normalised(z: torch.Tensor) -> torch.Tensor:
    return z * (z.square().mean(dim=1, keepdim=True) + 1e-8).rsqrt()


def blend_targets(z: torch.Tensor, z_photos: torch.Tensor, w_photos: torch.Tensor, temperature: float) -> torch.Tensor:
    """The w a random ``z`` should land on: the photos' ws blended by softmax(-|z - z_i|^2 / T)."""
    d2 = torch.cdist(_normalised(z), _normalised(z_photos)).square()
    return torch.softmax(-d2 / temperature, dim=1) @ w_photos


# ----------------------------------------------------------------------------- state

def load_fit_state(path: str | os.PathLike) -> dict:
    """Read a fit state; accepts the ``.state.pt`` or its ``.safetensors`` snapshot."""
    path = Path(path)
    if path.suffix == ".safetensors":
        path = state_path_for(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no fit state (resume needs the .state.pt written next to each snapshot)")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or state.get("objective") != "fit":
        raise ValueError(f"{path}: not the state of a fit (a GAN run resumes without --objective fit)")
    if state.get("version") != FIT_STATE_VERSION:
        raise ValueError(f"{path}: unsupported fit-state version {state.get('version')}")
    return state


class Fitter:
    """Owns the generator, its EMA, Adam and the RNG; ``step()`` fits one minibatch of photos."""

    def __init__(self, opts: FitOptions, data: FitData, device: torch.device) -> None:
        if opts.config not in TRAIN_CONFIGS:
            raise ValueError(f"unknown config {opts.config!r}: choose one of {', '.join(TRAIN_CONFIGS)}")
        if data.resolution != opts.resolution:
            raise ValueError("the photos' resolution differs from the fit's resolution")
        self.opts, self.data, self.device = opts, data, device
        self.cfg: CREPSConfig = model_configs(opts.config, opts.resolution)[0]
        with torch.random.fork_rng(devices=[]):  # seeded init without touching the caller's RNG
            torch.manual_seed(opts.seed)
            G = CREPSGenerator(self.cfg)
        self.G = G.to(device).train()
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        self.batch = min(opts.batch, len(data))
        self.z_photos = torch.cat([seed_to_z(i, self.cfg.z_dim) for i in range(len(data))]).float().to(device)
        self.targets = (data.images.float() / 127.5 - 1).to(device)
        self.temperature = opts.reg_temperature or math.sqrt(self.cfg.z_dim) / 8
        self.rng = torch.Generator().manual_seed(opts.seed)
        mapping = list(self.G.mapping.parameters())
        synthesis = list(self.G.synthesis.parameters())
        self.opt = torch.optim.Adam([{"params": synthesis, "lr": opts.lr},
                                     {"params": mapping, "lr": opts.lr * opts.mapping_lr}],
                                    betas=(opts.beta1, opts.beta2), eps=1e-8)
        self.step_idx = 0

    @property
    def nimg(self) -> int:
        """Photos rendered so far (the unit of the progress bar and of ``kimg``)."""
        return self.step_idx * self.batch

    def step(self) -> dict[str, float]:
        """One Adam step on a minibatch of photos (and the random seeds' blend term)."""
        G, N, B = self.G, len(self.data), self.batch
        # every draw first, from the private RNG on the CPU: the stream depends on the step alone
        idx = torch.randperm(N, generator=self.rng)[:B] if B < N else torch.arange(N)
        z_rand = torch.randn(self.opts.reg_batch, self.cfg.z_dim, generator=self.rng).to(self.device)
        R, c = self.opts.resolution, min(self.opts.crop or self.opts.resolution, self.opts.resolution)
        # offsets from -c/2 .. R-c/2, clamped: every row and column is in about as many crops as its neighbours
        # (the border half as many) instead of the border rows in one crop of R-c+1
        top, left = (min(max(int(v) - c // 2, 0), R - c) for v in torch.randint(R - c + 2 * (c // 2) + 1, (2,),
                                                                                   generator=self.rng))
        idx = idx.to(self.device)

        self.opt.zero_grad(set_to_none=True)
        w_photos = G.mapping(self.z_photos)  # all photos: the blend targets need every w_i
        ws = w_photos[idx].unsqueeze(1).repeat(1, self.cfg.num_ws, 1)
        grid = G.synthesis.b4.input.coords[0, :, 0, 0]  # the official grid; a crop is a window of it
        img = G.synthesis(ws, grid[top:top + c], grid[left:left + c])
        target = self.targets[idx, :, top:top + c, left:left + c]
        loss_img = image_loss(img, target, self.opts.ms_weight, self.opts.grad_weight)
        loss = loss_img
        w_rand = G.mapping(z_rand)
        figures = {}
        if self.opts.reg_weight:
            wp = w_photos.detach()
            goal = blend_targets(z_rand, self.z_photos, wp, self.temperature)
            spread = (wp - wp.mean(0)).square().mean().clamp_min(1e-8)  # scale-free: a fraction of the photos' spread
            loss_reg = (w_rand - goal).square().mean() / spread
            loss = loss + self.opts.reg_weight * loss_reg
            figures["reg"] = float(loss_reg.detach())
        loss.backward()
        self.opt.step()
        with torch.no_grad():
            w_avg = G.mapping.get_buffer("w_avg")
            w_avg.copy_(w_rand.detach().mean(0).lerp(w_avg, 0.99))
        self.step_idx += 1
        self._update_ema()
        with torch.no_grad():
            figures["PSNR"] = float(psnr(to_unit(img.detach()), to_unit(target)).mean())
        return {"loss": float(loss_img.detach()), **figures}

    @torch.no_grad()
    def _update_ema(self) -> None:
        beta = min(self.opts.ema_beta, (1 + self.step_idx) / (10 + self.step_idx))
        for p_ema, p in zip(self.G_ema.parameters(), self.G.parameters()):
            p_ema.copy_(p.detach().lerp(p_ema, beta))
        for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers()):
            b_ema.copy_(b)

    @torch.no_grad()
    def render_photos(self, g: CREPSGenerator | None = None) -> torch.Tensor:
        """Seeds 0..N-1 through ``g`` (default G_ema), [N, 3, R, R] on the CPU; no RNG is touched."""
        g = self.G_ema if g is None else g
        out = [g.synthesis(g.map(self.z_photos[i:i + 4])).cpu() for i in range(0, len(self.data), 4)]
        return torch.cat(out)

    def psnr_ema(self, renders: torch.Tensor | None = None) -> torch.Tensor:
        """Per-photo PSNR (dB) of G_ema's seed i against photo i."""
        renders = self.render_photos() if renders is None else renders
        return psnr(to_unit(renders), to_unit(self.targets.cpu()))

    # -- persistence
    def state_dict(self) -> dict:
        return {
            "objective": "fit", "version": FIT_STATE_VERSION,
            "options": self.opts.to_dict(), "g_config": self.cfg.to_dict(), "data": self.data.describe(),
            "G": _cpu_state(self.G), "G_ema": _cpu_state(self.G_ema), "opt": _optim_to_cpu(self.opt.state_dict()),
            "rng": self.rng.get_state(), "step": self.step_idx,
        }

    def load_state_dict(self, state: dict) -> None:
        digest = state["data"].get("sha256")
        if digest != self.data.digest():
            raise ValueError("these are not the photos the saved fit was fitting (their pixels differ): "
                             f"resume with the data it used ({state['data'].get('path')})")
        self.G.load_state_dict(state["G"])
        self.G_ema.load_state_dict(state["G_ema"])
        self.opt.load_state_dict(state["opt"])
        self.rng.set_state(state["rng"])
        self.step_idx = int(state["step"])

    def save_snapshot(self, outdir: Path) -> tuple[Path, float]:
        """``snapshot-stepNNNNNNN.safetensors`` (G_ema) after its ``.state.pt``, and a picture of G_ema's
        seeds above the photos; returns the snapshot and G_ema's mean PSNR."""
        snap = outdir / f"snapshot-step{self.step_idx:07d}.safetensors"
        state = self.state_dict()

        def write_state(f: BinaryIO) -> None:
            torch.save(state, f)

        atomic_write(state_path_for(snap), write_state)  # first: a snapshot is only there with its state
        renders = self.render_photos()
        quality = float(self.psnr_ema(renders).mean())
        meta = {"network": "G_ema", "kimg": f"{self.nimg / 1000:g}", "step": str(self.step_idx),
                "objective": "fit", "fit_psnr_db": f"{quality:.2f}", "fit_seeds": f"0-{len(self.data) - 1}",
                "train_options": json.dumps(self.opts.to_dict()), "dataset": json.dumps(self.data.describe()),
                "trainer": "creps_core.train.fit"}
        save_safetensors(snap, self.cfg, self.G_ema.state_dict(), meta)
        cols = min(len(self.data), 8)
        rows = []
        for i in range(0, len(self.data), cols):
            pad = -torch.ones(cols - len(renders[i:i + cols]), *renders.shape[1:])  # black, to fill the row
            rows += [renders[i:i + cols], pad, self.targets[i:i + cols].cpu(), pad]
        grid = image_grid(torch.cat(rows), cols)
        _write_png(grid, outdir / f"fit-step{self.step_idx:07d}.png")
        return snap, quality


def _write_png(array: np.ndarray, path: Path) -> Path:
    def write(f: BinaryIO) -> None:
        Image.fromarray(array).save(f, format="PNG")

    return atomic_write(path, write)


# ----------------------------------------------------------------------------- the job

def fit_steps(data: str | os.PathLike | ImageDataset | FitData, outdir: str | os.PathLike, *,
              resolution: int | None = None, config: str = "tiny", kimg: float | None = None,
              steps: int | None = None, batch: int = 16, seed: int = 0, snap_minutes: float | None = 5.0,
              snap_kimg: float | None = None, resume: str | os.PathLike | None = None, device: str = "auto",
              options: FitOptions | None = None, cancel: CancelFn | None = None) -> Iterator[Progress]:
    """Fit (or resume fitting) until ``steps`` steps (or ``kimg`` thousand photos rendered) are done.

    Yields a ``TRAINING`` record after every step (photos rendered of the total; loss, reg, PSNR and s/step
    as figures; the snapshot as ``path`` when one was written) and a ``DONE`` record whose path is the last
    snapshot this run wrote.  With ``resume`` the trajectory options come from the saved state; only the
    length, ``outdir``, the snapshot intervals and ``device`` are taken from the call.  ``cancel()`` is polled
    between steps: when it turns True a snapshot is written (unless the last step just did, or none ran),
    reported as a record with its path, and Cancelled raised.
    """
    if (kimg is None) == (steps is None):
        raise ValueError("give the length of the fit as steps or as kimg (one of them)")
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    dev = pick_device(device, mps=False)
    state = load_fit_state(resume) if resume is not None else None
    if state is not None:
        opts = FitOptions(**state["options"])
    elif options is not None:
        opts = options
    else:
        if resolution is None:
            raise ValueError("resolution is required")
        opts = FitOptions(resolution=resolution, config=config, batch=batch, seed=seed)
    fitter = Fitter(opts, fit_data(data, opts.resolution), dev)
    if state is not None:
        fitter.load_state_dict(state)
    total_steps = steps if steps is not None else math.ceil(float(kimg or 0) * 1000 / fitter.batch)
    atomic_write(outdir / "fit_options.json", json.dumps(
        {**opts.to_dict(), "objective": "fit", "steps": total_steps, "snap_minutes": snap_minutes,
         "snap_kimg": snap_kimg, "data": fitter.data.describe(), "resumed_from": str(resume) if resume else None,
         "config": fitter.cfg.to_dict() | {"name": opts.config}}, indent=2).encode())

    B = fitter.batch
    snap_every_s = snap_minutes * 60 if snap_minutes else math.inf
    snap_every_img = max(int(round(snap_kimg * 1000)), 1) if snap_kimg else None
    t_start = last_snap_t = time.monotonic()
    s_start = fitter.step_idx
    last_snapshot: Path | None = None
    snapshot: Path | None = None  # written after the step just done
    while fitter.step_idx < total_steps:
        if cancel is not None and cancel():
            if snapshot is None and fitter.step_idx > s_start:  # keep what this run fitted
                snapshot, quality = fitter.save_snapshot(outdir)
                yield Progress(TRAINING, fitter.nimg, total_steps * B, path=snapshot,
                               note=f"snapshot {snapshot} (G_ema {quality:.2f} dB)")
            raise Cancelled()
        before = fitter.nimg
        figures = fitter.step()
        now = time.monotonic()
        s_per_step = (now - t_start) / (fitter.step_idx - s_start)
        snapshot = note = None
        due = now - last_snap_t >= snap_every_s or fitter.step_idx >= total_steps
        if snap_every_img is not None and fitter.nimg // snap_every_img > before // snap_every_img:
            due = True
        if due:
            snapshot, quality = fitter.save_snapshot(outdir)
            last_snapshot, last_snap_t = snapshot, time.monotonic()
            note = f"snapshot {snapshot} (G_ema {quality:.2f} dB)"
        eta = s_per_step * (total_steps - fitter.step_idx)
        yield Progress(TRAINING, fitter.nimg, total_steps * B, eta, path=snapshot, note=note,
                       figures=(*figures.items(), ("s/step", s_per_step)))
    yield Progress(DONE, fitter.nimg, total_steps * B, 0.0, path=last_snapshot)
