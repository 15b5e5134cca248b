"""The training loop: StyleGAN2 objective for a CREPS generator, resumable bit for bit.

What follows the official recipe (StyleGAN2 / StyleGAN2-ADA / CREPS papers):
non-saturating logistic loss; lazy R1 on reals every 16 minibatches with the penalty
scaled by the interval and Adam's lr / betas adjusted by interval/(interval+1); Adam
lr 0.002, betas (0, 0.99); generator EMA with half-life ``ema_kimg`` (= batch*10/32
kimg) and a 5 % ramp-up; w_avg tracked with beta 0.998; optional style mixing;
x-flip augmentation.  Not included: path-length regularisation and ADA.

Reproducibility is designed in rather than hoped for: every random draw of the loop
(minibatch indices, flips, z, mixing cutoffs) comes from one private ``torch.Generator``
on the CPU, the schedule depends only on counters (never on wall time), and a training
state file holds G, D, G_ema, both optimisers, that generator's state and the counters.
So ``2 steps + resume + 2 steps`` equals ``4 steps`` exactly (tests/test_train.py).

Training is a job like any other (:mod:`creps_core.progress`): :func:`train_steps` yields a
Progress after every minibatch (images done of the total, the losses and s/kimg as figures, the
snapshot as its path) and stops between minibatches when ``cancel()`` turns True, after writing a
snapshot to resume from.  No tqdm, no printing: the CLI does that.
"""

from __future__ import annotations

import copy
import json
import math
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.nn import functional as F

from creps_core.latent.latents import seed_to_z
from creps_core.model.checkpoint import save_safetensors
from creps_core.model.network import CREPSConfig, CREPSGenerator
from creps_core.progress import DONE, TRAINING, CancelFn, Cancelled, Progress
from creps_core.render.hardware import pick_device
from creps_core.train.dataset import ImageDataset
from creps_core.train.discriminator import Discriminator, DiscriminatorConfig
from creps_core.vocabulary import TRAIN_CONFIGS

STATE_VERSION = 1
R1_INTERVAL = 16


@dataclass(frozen=True)
class TrainOptions:
    """Everything that determines the training trajectory (saved with every state)."""

    resolution: int
    config: str = "tiny"
    batch: int = 16
    seed: int = 0
    r1_gamma: float | None = None  # None: the ADA heuristic 0.0002 * R^2 / batch
    lr: float = 0.002
    ema_kimg: float | None = None  # None: batch * 10 / 32
    ema_rampup: float | None = 0.05
    style_mixing: float | None = None  # None: per config
    xflip: bool = True

    def gamma(self) -> float:
        return self.r1_gamma if self.r1_gamma is not None else 0.0002 * self.resolution**2 / self.batch

    def ema(self) -> float:
        return self.ema_kimg if self.ema_kimg is not None else self.batch * 10 / 32

    def mixing(self) -> float:
        if self.style_mixing is not None:
            return self.style_mixing
        return 0.9 if self.config == "paper" else 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def model_configs(name: str, resolution: int, c_dim: int = 0) -> tuple[CREPSConfig, DiscriminatorConfig]:
    """Generator and discriminator sizes for a named config.

    ``paper`` is the released CREPS generator (channel_base 65536, max 1024, biline 32,
    rank 8, 512-d latents, 8 mapping layers) against the StyleGAN2 D of the official
    train.py defaults (cbase 32768, cmax 512).  ``tiny`` and ``small`` shrink widths and
    the mapping network so a CPU can train them: about 0.3 M and 1.3 M G parameters.
    """
    if name == "paper":
        g = CREPSConfig(img_resolution=resolution, c_dim=c_dim)
        d = DiscriminatorConfig(img_resolution=resolution, c_dim=c_dim, channel_base=32768, channel_max=512)
    elif name == "small":
        g = CREPSConfig(z_dim=128, w_dim=128, c_dim=c_dim, img_resolution=resolution, mapping_layers=4,
                        channel_base=8192, channel_max=256, biline_channels=32, rank=8, bandwidth=10.0)
        d = DiscriminatorConfig(img_resolution=resolution, c_dim=c_dim, channel_base=4096, channel_max=256)
    elif name == "tiny":
        g = CREPSConfig(z_dim=64, w_dim=64, c_dim=c_dim, img_resolution=resolution, mapping_layers=2,
                        channel_base=2048, channel_max=64, biline_channels=16, rank=8, bandwidth=10.0)
        d = DiscriminatorConfig(img_resolution=resolution, c_dim=c_dim, channel_base=1024, channel_max=128)
    else:
        raise ValueError(f"unknown config {name!r}: choose one of {', '.join(TRAIN_CONFIGS)}")
    return g, d


# ----------------------------------------------------------------------------- images

def image_grid(images: torch.Tensor, cols: int) -> np.ndarray:
    """[N, C, H, W] in [-1, 1] -> one uint8 HxWx3 array, ``cols`` images per row."""
    x = (images.detach().float().cpu() * 127.5 + 128).clamp(0, 255).to(torch.uint8)
    N, C, H, W = x.shape
    rows = math.ceil(N / cols)
    pad = torch.zeros(rows * cols - N, C, H, W, dtype=torch.uint8)
    x = torch.cat([x, pad]).reshape(rows, cols, C, H, W).permute(0, 3, 1, 4, 2)
    return x.reshape(rows * H, cols * W, C).numpy()


def save_png(array: np.ndarray, path: Path) -> Path:
    """Atomic PNG write (temporary name, then rename)."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    Image.fromarray(array).save(tmp, format="PNG")
    os.replace(tmp, path)
    return path


@torch.no_grad()
def render_seeds(g: CREPSGenerator, seeds: list[int], c: torch.Tensor | None = None,
                 psi: float = 1.0, device: str | torch.device = "cpu", batch: int = 16) -> torch.Tensor:
    """Images of the given seeds (official seed -> z) on the official grid, [N, 3, R, R]."""
    out = []
    for i in range(0, len(seeds), batch):
        chunk = seeds[i:i + batch]
        z = torch.cat([seed_to_z(s, g.cfg.z_dim) for s in chunk]).float().to(device)
        cc = None if c is None else c[:1].expand(len(chunk), -1).to(device)
        out.append(g.synthesis(g.map(z, cc, psi)).cpu())
    return torch.cat(out)


# ----------------------------------------------------------------------------- state

def _cpu_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}


def _optim_to_cpu(sd: dict) -> dict:
    return {"state": {k: {n: (t.cpu() if torch.is_tensor(t) else t) for n, t in v.items()}
                      for k, v in sd["state"].items()},
            "param_groups": sd["param_groups"]}


def state_path_for(snapshot: Path) -> Path:
    """The training-state file that belongs to a ``.safetensors`` snapshot."""
    return snapshot.with_name(snapshot.name.removesuffix(".safetensors") + ".state.pt")


def load_training_state(path: str | os.PathLike) -> dict:
    """Read a training state; accepts the ``.state.pt`` or its ``.safetensors`` snapshot."""
    path = Path(path)
    if path.suffix == ".safetensors":
        path = state_path_for(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no training state (resume needs the .state.pt written "
                                f"next to each snapshot)")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if state.get("version") != STATE_VERSION:
        raise ValueError(f"{path}: unsupported training-state version {state.get('version')}")
    return state


# ----------------------------------------------------------------------------- trainer

class Trainer:
    """Owns the networks, optimisers and RNG; ``step()`` runs one minibatch (G, D, maybe R1)."""

    def __init__(self, opts: TrainOptions, dataset: ImageDataset, device: torch.device) -> None:
        if opts.config not in TRAIN_CONFIGS:
            raise ValueError(f"unknown config {opts.config!r}: choose one of {', '.join(TRAIN_CONFIGS)}")
        if dataset.resolution != opts.resolution:
            raise ValueError("dataset resolution differs from the training resolution")
        self.opts, self.data, self.device = opts, dataset, device
        self.g_cfg, self.d_cfg = model_configs(opts.config, opts.resolution, dataset.c_dim)
        with torch.random.fork_rng(devices=[]):  # seeded init without touching the caller's RNG
            torch.manual_seed(opts.seed)  # weights and the fixed Fourier frequencies, on the CPU
            G, D = CREPSGenerator(self.g_cfg), Discriminator(self.d_cfg)
        self.G = G.to(device).train()
        self.D = D.to(device).train()
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        self.rng = torch.Generator().manual_seed(opts.seed)
        ratio = R1_INTERVAL / (R1_INTERVAL + 1)
        self.G_opt = torch.optim.Adam(self.G.parameters(), lr=opts.lr, betas=(0.0, 0.99), eps=1e-8)
        self.D_opt = torch.optim.Adam(self.D.parameters(), lr=opts.lr * ratio,
                                      betas=(0.0, 0.99**ratio), eps=1e-8)
        self.cur_nimg = 0
        self.step_idx = 0

    # -- random draws (all from self.rng, on the CPU, then moved)
    def _reals(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        B = self.opts.batch
        idx = torch.randint(len(self.data), (B,), generator=self.rng)
        x = self.data.images[idx].to(torch.float32) / 127.5 - 1
        flip = torch.rand(B, generator=self.rng) < 0.5
        if self.opts.xflip:
            x = torch.where(flip[:, None, None, None], x.flip(3), x)
        return x.to(self.device), self._to_dev(self.data.one_hot(idx))

    def _gen_inputs(self) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor, torch.Tensor]:
        B = self.opts.batch
        z = torch.randn(B, self.g_cfg.z_dim, generator=self.rng)
        z2 = torch.randn(B, self.g_cfg.z_dim, generator=self.rng)
        c = None
        if self.data.c_dim > 0:
            c = self.data.one_hot(torch.randint(len(self.data), (B,), generator=self.rng))
        cutoff = torch.randint(1, self.g_cfg.num_ws, (1,), generator=self.rng)
        mix = torch.rand(1, generator=self.rng) < self.opts.mixing()
        cut = int(cutoff) if bool(mix) else self.g_cfg.num_ws
        return z.to(self.device), self._to_dev(c), z2.to(self.device), torch.tensor(cut)

    def _to_dev(self, t: torch.Tensor | None) -> torch.Tensor | None:
        return None if t is None else t.to(self.device)

    def _run_G(self, z: torch.Tensor, c: torch.Tensor | None, z2: torch.Tensor, cut: torch.Tensor,
               update_w_avg: bool) -> torch.Tensor:
        G, n = self.G, self.g_cfg.num_ws
        w = G.mapping(z, c)
        if update_w_avg:
            with torch.no_grad():
                w_avg = G.mapping.get_buffer("w_avg")
                w_avg.copy_(w.detach().mean(0).lerp(w_avg, 0.998))
        ws = w.unsqueeze(1).repeat(1, n, 1)
        k = int(cut)
        if k < n:
            w2 = G.mapping(z2, c)
            ws = torch.cat([ws[:, :k], w2.unsqueeze(1).repeat(1, n - k, 1)], dim=1)
        return G.synthesis(ws)

    def step(self) -> dict[str, float]:
        """One minibatch: G main, D main, then lazy R1 every 16 steps; then EMA."""
        G, D, losses = self.G, self.D, {}
        # Draw everything up front so the RNG stream does not depend on which phases run.
        z, c, z2, cut = self._gen_inputs()
        zd, cd, z2d, cutd = self._gen_inputs()
        real, real_c = self._reals()

        # G: non-saturating loss softplus(-D(G(z)))
        G.requires_grad_(True)
        D.requires_grad_(False)
        self.G_opt.zero_grad(set_to_none=True)
        loss_g = F.softplus(-D(self._run_G(z, c, z2, cut, False), c)).mean()
        loss_g.backward()
        self.G_opt.step()
        losses["G"] = float(loss_g.detach())

        # D: softplus(D(fake)) + softplus(-D(real))
        G.requires_grad_(False)
        D.requires_grad_(True)
        self.D_opt.zero_grad(set_to_none=True)
        with torch.no_grad():
            fake = self._run_G(zd, cd, z2d, cutd, True)
        loss_d = F.softplus(D(fake, cd)).mean() + F.softplus(-D(real, real_c)).mean()
        loss_d.backward()
        self.D_opt.step()
        losses["D"] = float(loss_d.detach())

        # Lazy R1: gamma/2 * |grad_x D(x)|^2, scaled by the interval.
        if self.step_idx % R1_INTERVAL == 0:
            self.D_opt.zero_grad(set_to_none=True)
            x = real.detach().requires_grad_(True)
            grad, = torch.autograd.grad(D(x, real_c).sum(), x, create_graph=True)
            penalty = grad.square().sum(dim=[1, 2, 3]).mean()
            (penalty * (self.opts.gamma() / 2) * R1_INTERVAL).backward()
            self.D_opt.step()
            losses["R1"] = float(penalty.detach())
        D.requires_grad_(False)

        self.cur_nimg += self.opts.batch
        self.step_idx += 1
        self._update_ema()
        return losses

    @torch.no_grad()
    def _update_ema(self) -> None:
        ema_nimg = self.opts.ema() * 1000
        if self.opts.ema_rampup is not None:
            ema_nimg = min(ema_nimg, self.cur_nimg * self.opts.ema_rampup)
        beta = 0.5 ** (self.opts.batch / max(ema_nimg, 1e-8))
        for p_ema, p in zip(self.G_ema.parameters(), self.G.parameters()):
            p_ema.copy_(p.detach().lerp(p_ema, beta))
        for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers()):
            b_ema.copy_(b)

    # -- persistence
    def state_dict(self) -> dict:
        return {
            "version": STATE_VERSION,
            "options": self.opts.to_dict(),
            "g_config": self.g_cfg.to_dict(), "d_config": self.d_cfg.to_dict(),
            "dataset": self.data.describe(),
            "G": _cpu_state(self.G), "D": _cpu_state(self.D), "G_ema": _cpu_state(self.G_ema),
            "G_opt": _optim_to_cpu(self.G_opt.state_dict()), "D_opt": _optim_to_cpu(self.D_opt.state_dict()),
            "rng": self.rng.get_state(),
            "cur_nimg": self.cur_nimg, "step_idx": self.step_idx,
        }

    def load_state_dict(self, state: dict) -> None:
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        self.G_ema.load_state_dict(state["G_ema"])
        self.G_opt.load_state_dict(state["G_opt"])
        self.D_opt.load_state_dict(state["D_opt"])
        self.rng.set_state(state["rng"])
        self.cur_nimg, self.step_idx = int(state["cur_nimg"]), int(state["step_idx"])

    @property
    def kimg_name(self) -> str:
        """The thousands of images shown so far, rounded down, as the official snapshots name them
        (``network-snapshot-000500.pkl``): one snapshot and one sample grid per kimg; a later one
        within the same kimg (a stop right after a periodic snapshot) replaces it with the newer state."""
        return f"{self.cur_nimg // 1000:06d}"

    def save_snapshot(self, outdir: Path, extra_meta: dict[str, str] | None = None) -> Path:
        """``snapshot-KKKKKK.safetensors`` (G_ema, loadable by the explorer) + ``.state.pt``."""
        snap = outdir / f"snapshot-{self.kimg_name}.safetensors"
        meta = {"network": "G_ema", "kimg": f"{self.cur_nimg / 1000:g}",
                "train_options": json.dumps(self.opts.to_dict()), "dataset": json.dumps(self.data.describe()),
                "trainer": "creps_core.train", **(extra_meta or {})}
        save_safetensors(snap, self.g_cfg, self.G_ema.state_dict(), meta)
        st = state_path_for(snap)
        tmp = st.with_name(f".{st.name}.tmp-{os.getpid()}")
        torch.save(self.state_dict(), tmp)
        os.replace(tmp, st)
        return snap

    def save_samples(self, outdir: Path, grid_seeds: list[int], cols: int) -> Path:
        c = None
        if self.data.c_dim > 0:  # one class per column would be nicer; keep it simple: class 0
            c = torch.nn.functional.one_hot(torch.tensor([0]), self.data.c_dim).float()
        imgs = render_seeds(self.G_ema, grid_seeds, c, device=self.device)
        return save_png(image_grid(imgs, cols), outdir / f"samples-{self.kimg_name}.png")


def train_steps(data: str | os.PathLike | ImageDataset, outdir: str | os.PathLike, *,
                resolution: int | None = None, config: str = "tiny", kimg: float = 100.0, batch: int = 16,
                seed: int = 0, r1_gamma: float | None = None, snap_kimg: float = 10.0,
                resume: str | os.PathLike | None = None, device: str = "auto", grid: int = 8,
                options: TrainOptions | None = None, cancel: CancelFn | None = None) -> Iterator[Progress]:
    """Train (or resume) until ``kimg`` thousand real images have been shown to D, yielding a
    ``TRAINING`` record after every minibatch and, at the end, a ``DONE`` record of the images done
    whose path is the last snapshot this run wrote (None when there was nothing left to train).

    With ``resume`` the trajectory options (config, resolution, batch, seed, gamma ...)
    come from the saved state, so the continuation is exactly the run that was
    interrupted; only ``kimg``, ``outdir``, ``snap_kimg`` and ``device`` are taken from
    the call.  Snapshots (``.safetensors`` + ``.state.pt``) and a sample grid of seeds
    0..grid²-1 (grid² at most the number of pictures, as reals.png) are written every ``snap_kimg``
    and at the end.  ``cancel()`` is polled between
    minibatches: when it turns True, the state is snapshotted (unless the last minibatch just did,
    or none ran), that snapshot reported as a record with its path, and Cancelled raised.
    """
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    dev = pick_device(device, mps=False)
    state = load_training_state(resume) if resume is not None else None
    if state is not None:
        opts = TrainOptions(**state["options"])
    elif options is not None:
        opts = options
    else:
        if resolution is None:
            raise ValueError("resolution is required")
        opts = TrainOptions(resolution=resolution, config=config, batch=batch, seed=seed, r1_gamma=r1_gamma)
    ds = data if isinstance(data, ImageDataset) else ImageDataset(data, opts.resolution)
    trainer = Trainer(opts, ds, dev)
    if state is not None:
        trainer.load_state_dict(state)
    (outdir / "training_options.json").write_text(json.dumps(
        {**opts.to_dict(), "kimg": kimg, "snap_kimg": snap_kimg, "dataset": ds.describe(),
         "resumed_from": str(resume) if resume else None}, indent=2))

    total_nimg = int(round(kimg * 1000))
    snap_nimg = max(int(round(snap_kimg * 1000)), 1)
    grid = min(grid, math.ceil(math.sqrt(len(ds.images))))  # no larger than reals.png: a few pictures, a small grid
    seeds = list(range(grid * grid))
    if trainer.cur_nimg == 0:
        save_png(image_grid(ds.images[:grid * grid].float() / 127.5 - 1, grid), outdir / "reals.png")
    t_start, n_start = time.perf_counter(), trainer.cur_nimg
    last_snapshot: Path | None = None
    snapshot: Path | None = None  # written by the minibatch just done
    while trainer.cur_nimg < total_nimg:
        if cancel is not None and cancel():
            if snapshot is None and trainer.cur_nimg > n_start:  # keep what this run trained
                snapshot = trainer.save_snapshot(outdir)
                yield Progress(TRAINING, trainer.cur_nimg, total_nimg, path=snapshot, note=f"snapshot {snapshot}")
            raise Cancelled()
        before = trainer.cur_nimg
        losses = trainer.step()
        elapsed = time.perf_counter() - t_start
        spk = elapsed / max(trainer.cur_nimg - n_start, 1) * 1000
        done = trainer.cur_nimg >= total_nimg
        snapshot = note = None
        if done or trainer.cur_nimg // snap_nimg > before // snap_nimg:
            snapshot = last_snapshot = trainer.save_snapshot(outdir)
            note = f"snapshot {snapshot}  samples {trainer.save_samples(outdir, seeds, grid)}"
        figures = tuple(losses.items()) + (("s/kimg", spk),)
        yield Progress(TRAINING, trainer.cur_nimg, total_nimg, spk * (total_nimg - trainer.cur_nimg) / 1000,
                       path=snapshot, note=note, figures=figures)
    yield Progress(DONE, trainer.cur_nimg, total_nimg, 0.0, path=last_snapshot)
