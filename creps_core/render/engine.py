"""The rendering engine: any View of any latent, exactly, in bounded memory.

(Its ~490 lines are one class, the Engine, whose render paths share its program, line and pool
state; compilation lives in program.py, warped-view tables in line_table.py.)

How a frame is made (docs/architecture.md):

1. **Per-latent program** (:class:`LatentProgram`): everything that depends only on
   ws -- styles, (de)modulated weights with the activation gains folded in, input
   amplitudes -- is computed once per (ws, precision, device) and cached.
2. **Lines**: the wide line network runs on 1-D coordinates only: the H row
   coordinates (slot 0) and W column coordinates (slot 1) of a separable view, or
   the lattice points of a 1-D table covering a warped view.  Line values are
   cached per coordinate, so pans and tiles only compute new rows and columns.
3. **Pixels**: composition F_b = 1/2 sum_k R_b K_b and the per-pixel MLPs run in
   chunks of ``chunk_pixels`` pixels (bounded memory, cache friendly, cancellable
   between chunks).

Warped views interpolate lines from the table (Catmull-Rom, lattice anchored at
0 so every tile sees the same table, as dense as the warp quality asks: draft or
fine) or, at quality exact, evaluate the lines at every pixel's own coordinates.
"""

from __future__ import annotations

import hashlib
import math
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import wait
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch

from creps_core.latent.latents import LatentSpace, LatentSpec
from creps_core.model.checkpoint import LoadedModel
from creps_core.model.network import CREPSGenerator
from creps_core.progress import CancelFn, Cancelled
from creps_core.render.costs import Work
from creps_core.render.hardware import (
    DevicePolicy,
    chunk_pool,
    compute_dtype,
    pick_device,
    policy_for,
    resolve_precision,
    usable_cpus,
)
from creps_core.render.line_table import (
    LineTable,
    composed_lattice_pays,
    composed_samples,
    field_spacing,
    table_spacing,
)
from creps_core.render.prefix_reuse import PrefixStore, Stem, shared_rows
from creps_core.render.program import LatentProgram, ProgramCompiler, ws_key
from creps_core.render.views import View
from creps_core.vocabulary import DEFAULT_WARP_QUALITY, check_warp_quality

ENGINE_VERSION = "1"
SAMPLE_PIXELS = 512  # pixels whose table samples are composed at once: 3 MiB of float32 lines
AUTO_MIN_PSNR_DB = 40.0  # 'auto' keeps a reduced precision only where it stays this close to fp32

ProgressFn = Callable[[float], None]


class NonFiniteImage(ValueError):
    """A render holds NaN or infinite values: writing it would save a black image that looks valid."""


def to_uint8(img: torch.Tensor) -> np.ndarray:
    """[C, H, W] float in [-1, 1] -> HWC uint8, the official conversion (x*127.5 + 128, clamped).

    Every image that is written or shown passes here, so this is where a non-finite render (a latent
    or warp far outside what the network was made for) is refused rather than saved black."""
    if not bool(torch.isfinite(img).all()):
        raise NonFiniteImage("the render holds NaN or infinite values (the latent, a direction amount or the "
                             "warp is far outside what the model was made for): nothing written")
    return (img * 127.5 + 128).clamp(0, 255).to(torch.uint8).permute(1, 2, 0).cpu().numpy()


@dataclass
class EngineStats:
    """Counters a user (or a test) can read to see what was reused."""

    programs_compiled: int = 0
    program_cache_hits: int = 0
    line_coords_computed: int = 0
    line_coords_reused: int = 0
    line_coords_resumed: int = 0  # computed from a stored prefix state (only the changed layers)
    pixels_rendered: int = 0
    pixels_resumed: int = 0  # started from a stored per-pixel feature (only the changed blocks)

    def reset(self) -> None:
        for k in self.__dataclass_fields__:
            setattr(self, k, 0)


class Engine:
    """Renders views of a generator.  Not thread-safe: use one engine per worker thread."""

    def __init__(self, model: LoadedModel | CREPSGenerator, device: str = "auto", precision: str = "fp32",
                 chunk_pixels: int | None = None, line_chunk: int = 512, max_programs: int = 4,
                 max_cached_lines: int = 16384, workers: int | None = None,
                 policy: DevicePolicy | None = None) -> None:
        self.device = pick_device(device)
        # What this kind of device does (hardware.py); a test may force a GPU's choices on the CPU.
        self.policy = policy or policy_for(self.device)
        self.model = model if isinstance(model, LoadedModel) else None
        g = model.build(self.device) if isinstance(model, LoadedModel) else model.to(self.device).eval()
        self.g = g.requires_grad_(False)
        self.cfg = g.cfg
        self.latents = LatentSpace(self.g)
        # Small chunks keep the per-pixel activations in the CPU's cache (measured best at
        # ~2k pixels); a GPU wants large launches.
        self.chunk_pixels = chunk_pixels or self.policy.chunk_pixels
        self.line_chunk = line_chunk
        # CPU work runs as independent chunks on `workers` single-threaded workers (see chunk_pool).
        self.workers = max(1, workers or usable_cpus()) if self.policy.chunk_pool else 1
        self.max_programs = max_programs
        self.max_cached_lines = max_cached_lines
        self.stats = EngineStats()
        self._programs: OrderedDict[tuple[str, str], LatentProgram] = OrderedDict()
        self._compiler = ProgramCompiler(self.g)
        # Prefix reuse (prefix_reuse.py): on the released 256 config a stem at the middle layers holds
        # ~36 KiB per coordinate (an 894x754 viewport's lines: ~60 MiB), a viewport's per-pixel feature
        # 86 MiB in fp32; each kind is bounded by the policy's budget (256 MiB each by default).
        self._prefixes = PrefixStore(self.policy.stem_memory, self.policy.pixel_state_memory)
        self._columns: tuple[tuple, torch.Tensor] | None = None  # the last separable render's column factors
        self.precision = "fp32"
        self.precision_psnr: float | None = None  # measured when 'auto' chose a reduced precision
        chosen = resolve_precision(precision, self.device, self.policy)
        compute_dtype(chosen, self.device, self.policy)
        if precision == "auto" and chosen != "fp32":
            try:
                self.precision_psnr = self.measure_precision(chosen)
            except (ArithmeticError, RuntimeError, ValueError):
                # The calibration render itself fails (a degenerate model): keep the reference, and
                # let the model's own renders say what is wrong instead of refusing to open it.
                self.precision_psnr = None
            if self.precision_psnr is None or self.precision_psnr < AUTO_MIN_PSNR_DB:
                chosen = "fp32"
        self.precision = chosen  # never 'auto': what this engine actually computes in

    @torch.no_grad()
    def measure_precision(self, precision: str, side: int = 48) -> float:
        """PSNR (dB, images in [-1, 1]) of a small render of this model in ``precision`` against fp32."""
        view, latent = View(side, side), LatentSpec(seed=0, class_idx=0 if self.cfg.c_dim else None)
        ref = self.render(latent, view, precision="fp32")
        test = self.render(latent, view, precision=precision)
        self.clear_caches()
        mse = float(((ref - test) ** 2).mean())
        return 100.0 if mse == 0 else 10 * math.log10(4.0 / mse)

    # ----- latents ----------------------------------------------------------------
    def ws(self, latent: LatentSpec | torch.Tensor) -> torch.Tensor:
        """ws [num_ws, w_dim] of a spec, or a given ws tensor checked for shape."""
        if isinstance(latent, LatentSpec):
            return self.latents.resolve(latent)
        ws = latent.to(self.device, torch.float32)
        if ws.ndim == 3 and ws.shape[0] == 1:
            ws = ws[0]
        if tuple(ws.shape) != (self.cfg.num_ws, self.cfg.w_dim):
            raise ValueError(f"ws must be [{self.cfg.num_ws}, {self.cfg.w_dim}], got {list(ws.shape)}")
        return ws

    def synchronize(self) -> None:
        """Wait until the device finished this engine's work (before a clock is read)."""
        self.policy.sync(self.device)

    def clear_caches(self) -> None:
        """Drop every cached program, line, stem and pixel state (a new model, or out of memory)."""
        self._programs.clear()
        self._prefixes.clear()
        self._columns = None

    # ----- per-latent compilation ---------------------------------------------------
    @torch.no_grad()
    def program(self, ws: torch.Tensor, precision: str | None = None) -> LatentProgram:
        precision = resolve_precision(precision or self.precision, self.device, self.policy)
        dtype = compute_dtype(precision, self.device, self.policy)
        key = (ws_key(ws), precision)
        prog = self._programs.get(key)
        if prog is not None:
            self._programs.move_to_end(key)
            self.stats.program_cache_hits += 1
            return prog
        # The recent program sharing the most leading ws rows (an edit of later layers): its layers
        # of those rows are reused, and prefix_reuse.py keeps the states they lead to.
        shared, parent = max(((shared_rows(ws, p.ws), p) for p in self._programs.values()
                              if p.dtype == dtype and p.ws is not None), key=lambda sp: sp[0], default=(0, None))
        prog = self._compiler.compile(ws, dtype, key[0], parent, shared)
        layers = range(len(prog.line_layers) + 1)
        prog.resume, prog.fill = self._prefixes.stems_for(
            ws, dtype, prog.line_ws, [prog.done_before(i) for i in layers],
            [4 * prog.stem_width(i) for i in layers], shared)
        self._programs[key] = prog
        self.stats.programs_compiled += 1
        while len(self._programs) > self.max_programs:
            self._programs.popitem(last=False)
        return prog

    # ----- lines ----------------------------------------------------------------------
    def _eval_lines(self, prog: LatentProgram, t: torch.Tensor, slot: int,
                    cancel: CancelFn | None = None) -> torch.Tensor:
        """Line values at coordinates t [n] -> [n, L*rank*biline] float32 (uncached)."""
        return self._run_lines(prog, t, slot, cancel)[0]

    def _run_lines(self, prog: LatentProgram, t: torch.Tensor, slot: int, cancel: CancelFn | None = None,
                   start: torch.Tensor | None = None, keep: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Line values at coordinates t [n] -> ([n, L*rank*biline] float32, the rows of ``prog.fill``
        at t when ``keep``).  ``start``: the rows of ``prog.resume`` at t; the layers before its
        layer are not run (their state is in the rows)."""
        out, kept = [], []
        first = 0 if start is None else prog.resume.layer  # type: ignore[union-attr]  # start implies a resume
        fill_at = prog.fill.layer if keep and prog.fill is not None else -1
        for s in range(0, t.numel(), self.line_chunk):
            self._check_cancel(cancel)
            tc = t[s:s + self.line_chunk].to(self.device, torch.float32)
            if start is None:
                ph = (tc.reshape(-1, 1, 1) * prog.freqs.unsqueeze(0)) * (np.pi * 2)  # [n, rank, C/2]
                x = torch.sin(torch.cat([ph, ph + np.pi / 2], dim=2)) * prog.amps[slot]  # [n, rank, C]
                x, acc = x.reshape(-1, x.shape[-1]).to(prog.dtype), list[torch.Tensor]()
            else:
                x, acc = self._unpack_stem(prog, start[s:s + self.line_chunk], first)
            res = acc[-1] if acc else None
            for i in range(first, len(prog.line_layers)):
                if i == fill_at:
                    kept.append(self._pack_stem(prog, x, acc, tc.numel()))
                layer, is_tores = prog.line_layers[i]
                y = layer(x)
                if is_tores:
                    res = y.float() if res is None else res + y.float()
                    acc.append(res)
                else:
                    x = y
            if fill_at == len(prog.line_layers):
                kept.append(self._pack_stem(prog, None, acc, tc.numel()))
            # [n*rank, L, c] -> [n, L, rank, c]
            lines = torch.stack(acc, dim=1).reshape(tc.numel(), prog.rank, prog.n_composed, prog.biline)
            out.append(lines.transpose(1, 2).reshape(tc.numel(), -1))
        if not out:
            return torch.empty(0, prog.n_composed * prog.rank * prog.biline, device=self.device), None
        return torch.cat(out), torch.cat(kept) if kept else None

    @staticmethod
    def _pack_stem(prog: LatentProgram, x: torch.Tensor | None, acc: list[torch.Tensor], n: int) -> torch.Tensor:
        """The state before a layer as stem rows [n, width] float32: the activation entering it
        ([n*rank, C] in the compute dtype, whose values float32 holds exactly), then the sums."""
        parts = [] if x is None else [x.float().reshape(n, -1)]
        if acc:
            parts.append(torch.stack(acc, dim=1).reshape(n, -1))
        return torch.cat(parts, dim=1) if len(parts) > 1 else parts[0].clone()

    @staticmethod
    def _unpack_stem(prog: LatentProgram, rows: torch.Tensor, layer: int) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Stem rows [n, width] -> (the activation entering ``layer``, the finished blocks' sums)."""
        n, done = rows.shape[0], prog.done_before(layer)
        width = prog.line_layers[layer][0].wt.shape[0] if layer < len(prog.line_layers) else 0
        x = rows[:, :prog.rank * width].reshape(n * prog.rank, width).to(prog.dtype)
        sums = rows[:, prog.rank * width:].reshape(n * prog.rank, done, prog.biline)
        return x, [sums[:, b] for b in range(done)]

    def lines(self, prog: LatentProgram, t: torch.Tensor, slot: int, cancel: CancelFn | None = None,
              settled: Callable[[int], None] | None = None) -> torch.Tensor:
        """Cached line values at float32 coordinates t -> [n, L*rank*biline] float32.

        Cancellable between chunks of ``line_chunk`` coordinates; values computed before a
        cancel stay cached for the next request.  ``settled(n)`` hears how many distinct
        coordinates were found cached or computed since it was last called (a progress bar
        that moves during the line phase); with it, the work goes in rounds of one chunk per
        worker.
        """
        cache = prog.lines[slot]
        keys = t.to(torch.float32).tolist()
        distinct = set(keys)
        missing = sorted(k for k in distinct if k not in cache)
        if settled is not None:
            settled(len(distinct) - len(missing))
        # Coordinates whose prefix state is stored start there (prefix_reuse.py); the rest from the input.
        stem = prog.resume.lines[slot] if prog.resume is not None else None
        fill = prog.fill.lines[slot] if prog.fill is not None else None
        groups = ([k for k in missing if k in stem], [k for k in missing if k not in stem]) if stem else ([], missing)
        size = min(self.line_chunk, -(-len(missing) // self.workers)) or 1
        parts = [(g[m0:m0 + size], g is groups[0]) for g in groups for m0 in range(0, len(g), size)]
        rounds = self.workers if settled is not None else len(parts) or 1

        def evaluate(job: tuple[list[float], torch.Tensor | None]) -> tuple[torch.Tensor, torch.Tensor | None]:
            part, start = job  # rows resumed from the stem being filled are in it already
            return self._run_lines(prog, torch.tensor(part, dtype=torch.float32), slot, cancel, start,
                                   keep=fill is not None and (start is None or prog.fill is not prog.resume))

        # On the CPU rows never written cost address space only, so the slab is reserved at its
        # limit once; on a GPU reserved memory is real, so it grows with what is stored.
        reserve = self.max_cached_lines + len(missing) if self.policy.reserve_caches else 0

        for r0 in range(0, len(parts), rounds):
            batch = parts[r0:r0 + rounds]
            jobs = [(part, stem.get(part) if resumed and stem is not None else None) for part, resumed in batch]
            outcomes = self._settle(evaluate, jobs)
            for (part, resumed), result in zip(batch, outcomes):
                if isinstance(result, BaseException):
                    continue
                values, kept = result
                cache.put(part, values, reserve=reserve)
                if fill is not None and kept is not None:
                    self._fill_stem(prog.fill, fill, part, kept)  # type: ignore[arg-type]  # fill implies prog.fill
                self.stats.line_coords_computed += len(part)
                self.stats.line_coords_resumed += len(part) if resumed else 0
                if settled is not None:
                    settled(len(part))
            failure = next((o for o in outcomes if isinstance(o, BaseException)), None)
            if failure is not None:  # e.g. cancelled: what was computed stays cached for the next request
                raise failure
        self.stats.line_coords_reused += len(keys) - len(missing)
        out = cache.get(keys) if keys else torch.empty(0)
        cache.trim(self.max_cached_lines)  # evict only after this request is served
        if fill is not None:
            fill.trim(prog.fill.row_limit)  # type: ignore[union-attr]  # fill implies prog.fill
        return out

    def _fill_stem(self, stem: Stem, cache, part: list[float], rows: torch.Tensor) -> None:
        """Keep the stem rows of the coordinates of ``part`` it does not hold yet (trimmed to its
        bound once the request is served: rows it resumes from must stay until then)."""
        new = [i for i, k in enumerate(part) if k not in cache]
        if new:
            cache.put([part[i] for i in new], rows[new], reserve=stem.row_limit if self.policy.reserve_caches else 0)

    def line_coords(self, view: View,
                    warp_quality: str = DEFAULT_WARP_QUALITY) -> tuple[torch.Tensor, torch.Tensor] | None:
        """(row, column) line coordinates a render of ``view`` computes: a straight view's rows and
        columns, a rotated or warped view's table lattices (what :meth:`render` interpolates from,
        at the same ``warp_quality``); None where it evaluates every pixel's own (quality exact, or
        tables that would not pay: :func:`~creps_core.render.line_table.field_spacing`)."""
        if view.is_separable:
            grid = view.separable()
            return grid.rows, grid.cols
        spacing = field_spacing(view, warp_quality)
        if spacing is None:
            return None
        u, v = view.field()
        return LineTable.lattice(u.reshape(-1), spacing), LineTable.lattice(v.reshape(-1), spacing)

    def missing_lines(self, latent: LatentSpec | torch.Tensor, view: View, precision: str | None = None,
                      warp_quality: str = DEFAULT_WARP_QUALITY) -> int:
        """How many line coordinates a render of ``view`` would compute (those not cached yet)."""
        coords = self.line_coords(view, warp_quality)
        if coords is None:
            return 0
        prog = self.program(self.ws(latent), precision)
        return sum(sum(1 for t in set(c.tolist()) if t not in prog.lines[slot]) for slot, c in enumerate(coords))

    def prefetch_lines(self, latent: LatentSpec | torch.Tensor, view: View, precision: str | None = None, *,
                       warp_quality: str = DEFAULT_WARP_QUALITY, chunk: int = 128, cancel: CancelFn | None = None,
                       progress: Callable[[int], None] | None = None) -> None:
        """Compute and cache the lines ``view`` needs, ``chunk`` coordinates at a time, checking
        ``cancel`` in between and reporting each chunk's newly computed count to ``progress``.

        :meth:`render` computes a tile's lines in one step (seconds for a wide frame of a big model
        on a CPU); an interactive caller prefetches first so that a superseded frame stops quickly
        and its progress bar moves during the line phase. What was computed stays cached."""
        coords = self.line_coords(view, warp_quality)
        if coords is None:
            return
        prog = self.program(self.ws(latent), precision)
        for slot, c in enumerate(coords):
            for i in range(0, c.numel(), chunk):
                if cancel is not None and cancel():
                    raise Cancelled()
                before = self.stats.line_coords_computed
                self.lines(prog, c[i:i + chunk], slot)
                if progress is not None:
                    progress(self.stats.line_coords_computed - before)

    def pixel_rows_per_round(self, cols: int) -> int:
        """Rows of a ``cols``-wide straight tile that give every worker one pixel chunk: a caller
        rendering bands of a multiple of this keeps the pool busy to each band's end."""
        return max(1, self.chunk_pixels // cols) * self.workers

    def lines_per_pixel(self, view: View, warp_quality: str = DEFAULT_WARP_QUALITY) -> int:
        """Line coordinates a render of ``view`` (at the same ``warp_quality``) caches per pixel of
        each axis: one for a straight view, more for a rotated or warped one, whose lines come from
        a lattice that much denser.  Callers size :meth:`line_cache_limit` by it."""
        if view.is_separable or check_warp_quality(warp_quality) == "exact":
            return 1
        return max(1, math.ceil(view.spacing / table_spacing(view.spacing, warp_quality) - 1e-9))

    @contextmanager
    def line_cache_limit(self, coords: int) -> Iterator[None]:
        """Keep at most ``coords`` cached line coordinates per axis while the block runs (exports
        size it to one tile row; the interactive default keeps a wide frame's lines)."""
        saved, self.max_cached_lines = self.max_cached_lines, max(1, int(coords))
        try:
            yield
        finally:
            self.max_cached_lines = saved

    # ----- per-pixel network ----------------------------------------------------------
    @staticmethod
    def _decode(prog: LatentProgram, composed: Callable[[int], torch.Tensor],
                disabled: frozenset[int] = frozenset(), start: tuple[int, torch.Tensor] | None = None,
                keep: tuple[int, Callable[[torch.Tensor], None]] | None = None) -> torch.Tensor:
        """Per-pixel MLPs on composed features (composed(b) -> [N, c]) -> RGB [N, C] float32.

        Channel-last ([N, c] @ [c, out]) is the layout the CPU GEMM kernels run fastest.
        Composed blocks in ``disabled`` add nothing to the feature stream (their F_b is zero).
        A pixel state at block j (1..L) is the feature just before composed(j) is added (before
        ``decoder_last`` for j = L): ``start`` = (j, state) resumes there (the decoders before
        it take no latent, the blocks before it are unchanged); ``keep`` = (j, store) hands the
        state at j to ``store`` (j at or after the start).
        """
        if start is not None:
            j0, x = start[0], start[1].clone()
        else:
            j0, x = 0, composed(0)
            if 0 in disabled:
                x = torch.zeros_like(x)
        for b in range(max(1, j0), prog.n_composed):
            if b > j0:  # a resumed state already went through block j0's decoder
                for layer in prog.decoders[b - 1]:
                    x = layer(x)
            if keep is not None and keep[0] == b:
                keep[1](x)
            if b not in disabled:
                x = x.add_(composed(b))
        if keep is not None and keep[0] == prog.n_composed:
            keep[1](x)
        for layer in prog.decoder_last:
            x = layer(x)
        img = prog.decoder_img(x.float())
        for fc0, fc1, tores in prog.pixel_blocks:
            x = fc1(fc0(x))
            img = img.add_(tores(x).float())
        return img

    # ----- rendering -----------------------------------------------------------------
    @torch.no_grad()
    def render(self, latent: LatentSpec | torch.Tensor, view: View, *, precision: str | None = None,
               warp_quality: str = DEFAULT_WARP_QUALITY, interpolate: bool = False,
               disabled_blocks: Iterable[int] = (), progress: ProgressFn | None = None,
               cancel: CancelFn | None = None) -> torch.Tensor:
        """Render a view -> float32 [C, rows, cols] on the CPU, values ~[-1, 1].

        ``warp_quality`` (vocabulary's WARP_QUALITIES): how rotated and warped views get their
        lines -- from a table as dense as the pixels (draft: drags and previews), twice as dense
        (fine: sharp frames, exports), or evaluated at every pixel (exact: slow).  Straight views
        are the same at every quality.
        ``interpolate``: axis-aligned views also sample lines from the lattice table (at
        ``warp_quality``'s density), so successive zoom levels share most line evaluations
        (interactive previews).
        ``disabled_blocks``: indices of composed blocks (0 = b8, see
        :attr:`CREPSConfig.composed_blocks`) whose composed feature F_b is switched off, to see
        what each block adds (the Structure view, ``creps lines``).  None off: the normal render.
        """
        disabled = self._check_blocks(disabled_blocks)
        exact = check_warp_quality(warp_quality) == "exact"
        prog = self.program(self.ws(latent), precision)
        meter = _Meter(progress, self.cfg)
        if view.is_separable:
            spacing = table_spacing(view.spacing, warp_quality) if interpolate and not exact else None
            img = self._render_separable(prog, view, meter, cancel, spacing, disabled)
        else:
            img = self._render_field(prog, view, field_spacing(view, warp_quality), meter, cancel, disabled)
        return img.cpu()

    def _check_blocks(self, blocks: Iterable[int]) -> frozenset[int]:
        """``blocks`` as a set of composed-block indices, or ValueError naming the valid range."""
        blocks = frozenset(blocks)
        n = len(self.cfg.composed_blocks)
        bad = sorted((b for b in blocks if isinstance(b, bool) or not isinstance(b, int) or not 0 <= b < n), key=str)
        if bad:
            raise ValueError(f"no composed block {bad[0]!r}: this model's blocks are 0..{n - 1} "
                             f"(b{self.cfg.composed_blocks[0]}..b{self.cfg.composed_blocks[-1]})")
        return blocks

    def _map(self, fn: Callable, items) -> Iterator:
        """``fn`` over ``items``, results in order: inline with one worker, else on the shared
        pool of single-threaded workers.  A failure (or Cancelled) stops the rest."""
        if self.workers == 1:
            yield from map(fn, items)
            return
        futures = [chunk_pool(self.workers).submit(fn, item) for item in items]
        try:
            for f in futures:
                yield f.result()
        finally:
            for f in futures:
                f.cancel()
            wait(futures)  # nothing of this render runs on after it returned or raised

    def _settle(self, fn: Callable, items: list) -> list:
        """``fn`` over every item (in parallel where there are workers); each result or the
        exception it raised, in order.  Used where finished work is worth keeping after a failure."""
        def attempt(item):
            try:
                return fn(item)
            except Exception as e:  # noqa: BLE001 -- handed back to the caller, which re-raises it
                return e

        if self.workers == 1:
            return [attempt(item) for item in items]
        return list(chunk_pool(self.workers).map(attempt, items))

    def _check_cancel(self, cancel: CancelFn | None) -> None:
        if cancel is not None and cancel():
            raise Cancelled()

    def _render_separable(self, prog: LatentProgram, view: View, meter: _Meter, cancel,
                          spacing: float | None = None, disabled: frozenset[int] = frozenset()) -> torch.Tensor:
        """A straight view: its own rows and columns, or (``spacing`` given) lines interpolated
        from tables at that spacing."""
        grid = view.separable()
        L, r, c = prog.n_composed, prog.rank, prog.biline
        pixels = grid.rows.numel() * grid.cols.numel()
        if meter.active:
            if spacing is None:
                meter.plan(len(set(grid.rows.tolist())) + len(set(grid.cols.tolist())), pixels)
            else:
                meter.plan(LineTable.size(grid.rows, spacing) + LineTable.size(grid.cols, spacing), pixels)

        def line_values(t: torch.Tensor, slot: int) -> torch.Tensor:
            if spacing is None:
                return self.lines(prog, t, slot, cancel, meter.settled)
            return LineTable.build(partial(self.lines, prog, slot=slot, cancel=cancel, settled=meter.settled), t,
                                   spacing, prog.dtype).sample(t)

        rows = line_values(grid.rows, 0).reshape(-1, L, r, c)
        # R as [L, c, H, rank] (1/2 folded in), K as [L, c, rank, W] for batched matmuls over channels.
        # The explorer renders a frame as bands of the same columns: their K is kept from the last
        # band instead of being gathered and laid out again (~11 MB of copies a band at 894 columns).
        where = (prog.key, str(prog.dtype), spacing, view.spacing,
                 hashlib.sha1(grid.cols.numpy().tobytes()).hexdigest())
        if self._columns is not None and self._columns[0] == where and not meter.active:
            K = self._columns[1]
            self.stats.line_coords_reused += grid.cols.numel()
        else:
            K = line_values(grid.cols, 1).reshape(-1, L, r, c).permute(1, 3, 2, 0).to(prog.dtype).contiguous()
            self._columns = where, K
        H, W = rows.shape[0], K.shape[-1]
        R = (rows * 0.5).permute(1, 3, 0, 2).to(prog.dtype).contiguous()
        out = torch.empty(self.cfg.img_channels, H, W, device=self.device)
        step = max(1, self.chunk_pixels // W)
        start, keep = self._pixel_states(prog, grid, step, spacing, disabled)

        def band(i0: int) -> int:
            self._check_cancel(cancel)
            i1 = min(H, i0 + step)
            n = (i1 - i0) * W

            def composed(b: int) -> torch.Tensor:
                return torch.bmm(R[b, :, i0:i1], K[b]).reshape(c, n).t()

            def store(x: torch.Tensor) -> None:
                keep[2][i0 * W:i1 * W] = x  # type: ignore[index]  # called only when there is a keep

            out[:, i0:i1] = self._decode(
                prog, composed, disabled, None if start is None else (start[0], start[1][i0 * W:i1 * W]),
                None if keep is None else (keep[0], store)).t().reshape(-1, i1 - i0, W)
            return n

        for n in self._map(band, range(0, H, step)):
            self.stats.pixels_rendered += n
            self.stats.pixels_resumed += n if start is not None else 0
            meter.pixels(n)
            self._check_cancel(cancel)  # between results too: workers may have started every chunk
        if keep is not None:
            self._prefixes.keep_pixel_state(keep[1], keep[2])  # every band finished: the state is whole
        return out.transpose(1, 2).contiguous() if grid.transposed else out

    def _pixel_states(self, prog: LatentProgram, grid, step: int, table: float | None,
                      disabled: frozenset[int]) -> tuple[tuple[int, torch.Tensor] | None,
                                                         tuple[int, tuple, torch.Tensor] | None]:
        """Where a separable render's per-pixel stream starts and what it keeps (prefix_reuse.py):
        (block, stored state) to resume from; (block, key, buffer) to keep one at. ``table``: the
        spacing of the tables the lines were interpolated from (None: the rows' and columns' own)."""
        stems = [s for s in (prog.fill, prog.resume) if s is not None and s.done >= 1]
        if disabled or not stems:
            return None, None
        where = (hashlib.sha1(grid.rows.numpy().tobytes()).hexdigest(),
                 hashlib.sha1(grid.cols.numpy().tobytes()).hexdigest(), grid.transposed, step, table)
        start = next(((s.done, state) for s in stems
                      if (state := self._prefixes.pixel_state((s.key, *where))) is not None), None)
        target = stems[0]  # the deepest
        n = grid.rows.numel() * grid.cols.numel()
        if (start is not None and start[0] >= target.done) or \
                not self._prefixes.fits(n * prog.biline * torch.finfo(prog.dtype).bits // 8):
            return start, None
        return start, (target.done, (target.key, *where), torch.empty(n, prog.biline, dtype=prog.dtype,
                                                                       device=self.device))

    def _render_field(self, prog: LatentProgram, view: View, spacing: float | None,
                      meter: _Meter, cancel, disabled: frozenset[int] = frozenset()) -> torch.Tensor:
        """A rotated or warped view: lines interpolated from tables at ``spacing`` (composed in the
        compute dtype), or evaluated at every pixel (``spacing`` None: quality exact, or tables
        that would hold more points than the pixels)."""
        U, V = view.field()
        h, w = U.shape
        u, v = U.reshape(-1), V.reshape(-1)
        L, r, c = prog.n_composed, prog.rank, prog.biline
        exact = spacing is None
        if meter.active:  # exact: the lines are evaluated with the pixels (counted with them)
            meter.plan(0 if spacing is None else LineTable.size(u, spacing) + LineTable.size(v, spacing), h * w)
        if spacing is not None:
            tables = [LineTable.build(partial(self.lines, prog, slot=slot, cancel=cancel, settled=meter.settled),
                                      coords, spacing, prog.dtype)
                      for slot, coords in ((0, u), (1, v))]
        if spacing is not None and composed_lattice_pays(view.spacing, spacing):
            return self._render_composed(prog, U, V, tables, meter, cancel, disabled)
        out = torch.empty(self.cfg.img_channels, h * w, device=self.device)
        step = self.chunk_pixels

        def chunk(p0: int) -> int:
            self._check_cancel(cancel)
            p1 = min(h * w, p0 + step)
            if exact:
                ru = self._eval_lines(prog, u[p0:p1], 0, cancel)
                kv = self._eval_lines(prog, v[p0:p1], 1, cancel)
                f = (ru * kv).reshape(-1, L, r, c).sum(2)  # F[p, b, c] = sum_k R K (1/2 below)
            else:  # in pieces whose lines stay in the cache (a chunk's are megabytes)
                f = torch.cat([(tables[0].sample(u[q0:q1]) * tables[1].sample(v[q0:q1])).reshape(-1, L, r, c).sum(2)
                               for q0, q1 in _pieces(p0, p1, SAMPLE_PIXELS)])
            f = f.mul_(0.5).transpose(0, 1).to(prog.dtype).contiguous()
            out[:, p0:p1] = self._decode(prog, lambda b: f[b], disabled).t()
            return p1 - p0

        for n in self._map(chunk, range(0, h * w, step)):
            self.stats.pixels_rendered += n
            if exact:
                self.stats.line_coords_computed += 2 * n
            meter.pixels(n)
            self._check_cancel(cancel)  # between results too: workers may have started every chunk
        return out.reshape(-1, h, w)

    def _render_composed(self, prog: LatentProgram, U: torch.Tensor, V: torch.Tensor, tables: list[LineTable],
                         meter: _Meter, cancel, disabled: frozenset[int]) -> torch.Tensor:
        """A rotated or warped view from its tables' composed lattice (:func:`composed_samples`).

        Pixels are decoded in patches of about ``chunk_pixels`` (the GEMMs' efficient size) and
        composed in squares within them (a square of pixels reaches the smallest box of lattice
        points; a thin tile, such as the strip a pan exposes or a band of the explorer's sharp
        frame, is cut into squares of its height, at least 16 pixels wide)."""
        h, w = U.shape
        side = max(1, math.isqrt(self.chunk_pixels))
        bh = min(h, side)
        bw, square = min(w, max(side, self.chunk_pixels // bh)), max(16, bh)
        out = torch.empty(self.cfg.img_channels, h, w, device=self.device)

        def patch(corner: tuple[int, int]) -> int:
            self._check_cancel(cancel)
            r0, c0 = corner
            r1, c1 = min(h, r0 + bh), min(w, c0 + bw)
            spans = [(a, min(c1, a + square)) for a in range(c0, c1, square)]
            f = torch.cat([composed_samples(tables[0], tables[1], U[r0:r1, a:b].reshape(-1), V[r0:r1, a:b].reshape(-1),
                                            prog.n_composed, prog.rank) for a, b in spans])
            f = f.reshape(-1, prog.n_composed, prog.biline).mul_(0.5).transpose(0, 1).to(prog.dtype).contiguous()
            rgb, k = self._decode(prog, lambda b: f[b], disabled).t(), 0
            for a, b in spans:  # each square's pixels, row by row, where they belong
                m = (r1 - r0) * (b - a)
                out[:, r0:r1, a:b] = rgb[:, k:k + m].reshape(-1, r1 - r0, b - a)
                k += m
            return (r1 - r0) * (c1 - c0)

        for n in self._map(patch, [(r0, c0) for r0 in range(0, h, bh) for c0 in range(0, w, bw)]):
            self.stats.pixels_rendered += n
            meter.pixels(n)
            self._check_cancel(cancel)  # between results too: workers may have started every chunk
        return out

    def render_u8(self, latent: LatentSpec | torch.Tensor, view: View, **kw) -> np.ndarray:
        return to_uint8(self.render(latent, view, **kw))


def _pieces(start: int, stop: int, size: int) -> Iterator[tuple[int, int]]:
    for q0 in range(start, stop, size):
        yield q0, min(stop, q0 + size)


class _Meter(Work):
    """A render's ``progress(fraction)`` over its :class:`Work` (lines and pixels by their cost)."""

    def __init__(self, progress: ProgressFn | None, cfg) -> None:
        super().__init__(cfg)
        self.progress = progress

    @property
    def active(self) -> bool:
        return self.progress is not None

    @property
    def settled(self) -> Callable[[int], None] | None:
        """What :meth:`Engine.lines` should report to (None: nobody listens, no rounds needed)."""
        return self.lines if self.active else None

    def lines(self, coords: int) -> None:
        assert self.progress is not None  # handed out as `settled` only to a meter someone listens to
        self.add_lines(coords)
        self.progress(self.fraction)

    def pixels(self, pixels: int) -> None:
        if self.progress is not None:  # self.active
            self.add_pixels(pixels)
            self.progress(self.fraction)
