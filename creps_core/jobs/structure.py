"""The bi-lines made visible: what each synthesis block of a CREPS generator computes.

Every composed block b (b8 .. bR, see :attr:`CREPSConfig.composed_blocks`) contributes

    F_b(u, v)[c] = 1/2 * sum_k R_b[c, k](u) * K_b[c, k](v)

to the per-pixel feature stream (docs/architecture.md).  For one latent and one view this module
gives, per block:

* ``row_lines`` R_b at the view's row coordinates and ``col_lines`` K_b at its column
  coordinates: coordinate x channel arrays, channel index ``c * rank + k`` (the ``rank`` factors
  of one composed channel side by side);
* ``feature``: F_b on the view's pixels, reduced to its three leading principal components
  (F_b has ``biline_channels`` channels; three show where its structure is);
* ``spectrum``: log(1 + |FFT|) of F_b over the view (Hann-windowed), all channels together,
  zero frequency in the centre (the frequencies a block adds: low in early blocks, high in late ones);
* ``contribution``: the image minus the image with this block switched off (its F_b set to
  zero, :meth:`Engine.render` ``disabled_blocks``), in image units.

The cost is bounded: everything is computed on the view shrunk to at most ``max_side`` pixels per
side (:func:`bounded_view`), and the lines are evaluated once into the engine's line cache, which
serves the structure maps and the ablation renders alike (one render of the per-pixel part per
block).  Axis-aligned views use their exact row and column coordinates; rotated or warped views
the engine's line tables, interpolated per pixel (:class:`~creps_core.render.features.PixelLines`,
which the explorer's feature view draws from too).

The analysis is a job like any other (:mod:`creps_core.progress`): :func:`analysis_steps` yields a
Progress after each block and returns the :class:`Structure`; :func:`analyse` drains it.  No Qt
here: the explorer's Structure window and ``creps lines`` both call :class:`StructureProbe` or
:func:`analyse`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from creps_core.latent.latents import LatentSpec
from creps_core.model.checkpoint import LoadedModel
from creps_core.progress import CancelFn, Cancelled, Progress, run_job
from creps_core.render.engine import Engine, to_uint8
from creps_core.render.features import (
    PixelLines,
    components_picture,
    principal_components,
    signed_picture,
    spectrum,
    spectrum_picture,
)
from creps_core.render.views import View
from creps_core.vocabulary import DEFAULT_WARP_QUALITY

MAX_SIDE = 256  # the structure images' longest side: one view's worth of lines, seconds on a CPU
ANALYSING = "analysing blocks"  # the stage of the analysis's records
KINDS = ("rows", "cols", "feature", "spectrum", "contribution")
KIND_TITLES = {
    "rows": "row lines R(u)",
    "cols": "column lines K(v)",
    "feature": "feature F (3 PCs)",
    "spectrum": "spectrum log|FFT F|",
    "contribution": "contribution",
}


@dataclass(frozen=True)
class BlockMaps:
    """What one composed block computes for a view (float32 arrays; :func:`block_images` draws them)."""

    index: int  # position among the composed blocks: what ``disabled_blocks`` names
    resolution: int  # the block is b{resolution}
    row_lines: np.ndarray  # [rows, biline*rank]
    col_lines: np.ndarray  # [cols, biline*rank]
    feature: np.ndarray  # [H, W, 3] leading principal components of F_b
    spectrum: np.ndarray  # [H, W] log(1 + |FFT F_b|), fft-shifted
    contribution: np.ndarray  # [H, W, C] image - image without this block

    @property
    def name(self) -> str:
        return f"b{self.resolution}"


@dataclass(frozen=True)
class Structure:
    """Every composed block of one latent and (bounded) view."""

    latent: LatentSpec
    view: View  # the bounded view everything was computed on
    image: np.ndarray  # [H, W, C] uint8, the normal render of ``view``
    blocks: tuple[BlockMaps, ...]
    seconds: float  # wall time of the analysis
    warp_quality: str = DEFAULT_WARP_QUALITY  # how a turned or warped view's lines were interpolated


def bounded_view(view: View, max_side: int = MAX_SIDE) -> View:
    """The same region as ``view`` (whole, not a tile) with at most ``max_side`` pixels per side."""
    if max_side < 2:
        raise ValueError(f"the structure images need at least 2 pixels per side, got {max_side}")
    view = view.with_(window=None)
    scale = min(1.0, max_side / max(view.width, view.height))
    return view.with_(width=max(2, round(view.width * scale)), height=max(2, round(view.height * scale)))


def block_names(engine_or_model: Engine | LoadedModel) -> list[str]:
    """'b8', 'b16', ... : the composed blocks in the order ``disabled_blocks`` counts them."""
    return [f"b{res}" for res in engine_or_model.cfg.composed_blocks]


@torch.no_grad()  # on a generator: grad is off while it runs, never in its caller between records
def analysis_steps(engine: Engine, latent: LatentSpec, view: View, max_side: int = MAX_SIDE,
                   cancel: CancelFn | None = None,
                   warp_quality: str = DEFAULT_WARP_QUALITY) -> Generator[Progress, None, Structure]:
    """Row and column lines, features, spectra and contributions of every composed block, as a job:
    a record once the lines and the normal render are done (0 blocks of n), then one after each
    block's ablation render; returns the :class:`Structure` (``yield from`` gets it)."""
    t0 = time.perf_counter()
    view = bounded_view(view, max_side)
    prog = engine.program(engine.ws(latent))
    lines = [PixelLines(engine, prog, view, b, cancel, warp_quality)  # cached for the renders
             for b in range(prog.n_composed)]
    image = engine.render(latent, view, warp_quality=warp_quality, cancel=cancel)
    yield Progress(ANALYSING, 0, prog.n_composed)
    blocks = []
    for b, block_lines in enumerate(lines):
        if cancel is not None and cancel():
            raise Cancelled()
        without = engine.render(latent, view, warp_quality=warp_quality, disabled_blocks={b}, cancel=cancel)
        f = block_lines.feature(cancel)
        blocks.append(BlockMaps(
            index=b, resolution=engine.cfg.composed_blocks[b],
            row_lines=_channel_major(block_lines.line_values(0), prog.rank),
            col_lines=_channel_major(block_lines.line_values(1), prog.rank),
            feature=principal_components(f).numpy(), spectrum=spectrum(f).numpy(),
            contribution=(image - without).permute(1, 2, 0).numpy()))
        yield Progress(ANALYSING, b + 1, prog.n_composed)
    return Structure(latent, view, to_uint8(image), tuple(blocks), time.perf_counter() - t0, warp_quality)


def analyse(engine: Engine, latent: LatentSpec, view: View, max_side: int = MAX_SIDE,
            cancel: CancelFn | None = None, report: Callable[[Progress], None] | None = None,
            warp_quality: str = DEFAULT_WARP_QUALITY) -> Structure:
    """:func:`analysis_steps` drained by :func:`~creps_core.progress.run_job` (each record handed to
    ``report``); the structure it returns."""
    found: list[Structure] = []

    def steps() -> Iterator[Progress]:
        found.append((yield from analysis_steps(engine, latent, view, max_side, cancel, warp_quality)))

    run_job(steps(), report)
    return found[0]


def _channel_major(lines: torch.Tensor, rank: int) -> np.ndarray:
    """[n, rank*c] (rank-major, as the engine keeps them) -> [n, c*rank]: the rank factors of one
    composed channel side by side."""
    return lines.reshape(lines.shape[0], rank, -1).transpose(1, 2).reshape(lines.shape[0], -1).numpy()


def as_rgb(picture: np.ndarray) -> np.ndarray:
    """HWC uint8 with any channel count -> HWC RGB (grey repeated; channels past three dropped)."""
    if picture.shape[2] == 1:
        picture = np.repeat(picture, 3, axis=2)
    return np.ascontiguousarray(picture[:, :, :3])


def block_images(block: BlockMaps) -> dict[str, np.ndarray]:
    """Each kind of :data:`KINDS` as an HWC uint8 picture.

    Row lines are drawn coordinate-down (rows of the picture follow u), column lines
    coordinate-across (columns follow v), so they sit beside and above the image they make.
    The contribution is in image units around mid-grey (grey: the block changes nothing there).
    """
    return {
        "rows": signed_picture(block.row_lines),
        "cols": signed_picture(block.col_lines.T),
        "feature": components_picture(block.feature),
        "spectrum": spectrum_picture(block.spectrum),
        "contribution": as_rgb(np.clip(block.contribution * 127.5 + 128, 0, 255).astype(np.uint8)),
    }


class StructureProbe:
    """Structures and ablation renders of one model, for callers that must not hold an engine.

    The explorer's Structure window runs it on a background thread; it builds its own engine on
    first use (engines are not thread-safe), so use one probe from one thread at a time.  The
    last structure is kept: toggling blocks re-renders only the per-pixel part.
    """

    def __init__(self, model: LoadedModel, device: str = "auto", precision: str = "fp32",
                 max_side: int = MAX_SIDE) -> None:
        self.model, self.device, self.precision, self.max_side = model, device, precision, max_side
        self._engine: Engine | None = None
        self._last: Structure | None = None

    @property
    def block_names(self) -> list[str]:
        return block_names(self.model)

    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = Engine(self.model, device=self.device, precision=self.precision)
        return self._engine

    def analyse(self, latent: LatentSpec, view: View, cancel: CancelFn | None = None,
                report: Callable[[Progress], None] | None = None,
                warp_quality: str = DEFAULT_WARP_QUALITY) -> Structure:
        """The structure of ``latent`` seen through ``view`` (bounded) at ``warp_quality``, reusing
        the last one if equal (``report`` gets the analysis's records, none when reused)."""
        last = self._last
        if (last is not None and last.latent == latent and last.view == bounded_view(view, self.max_side)
                and last.view.pixel_quality(last.warp_quality) == last.view.pixel_quality(warp_quality)):
            return last
        self._last = analyse(self.engine(), latent, view, self.max_side, cancel, report, warp_quality)
        return self._last

    def render(self, latent: LatentSpec, view: View, disabled_blocks: Iterable[int] = (),
               cancel: CancelFn | None = None, warp_quality: str = DEFAULT_WARP_QUALITY) -> np.ndarray:
        """HWC uint8 render of the bounded view with ``disabled_blocks`` switched off."""
        return to_uint8(self.engine().render(latent, bounded_view(view, self.max_side), warp_quality=warp_quality,
                                             disabled_blocks=disabled_blocks, cancel=cancel))


def contact_sheet(structure: Structure, cell: int = 160) -> np.ndarray:
    """One HWC uint8 picture of a whole structure: a row per block, a column per kind, titled,
    with the normal render on top (what a researcher pins to the wall or pastes in a note)."""
    from PIL import Image, ImageDraw

    label_w, title_h, pad = 56, 18, 4
    width = label_w + len(KINDS) * (cell + pad) + pad
    height = title_h + (len(structure.blocks) + 1) * (cell + pad) + pad
    sheet = Image.new("RGB", (width, height), (32, 32, 32))
    draw = ImageDraw.Draw(sheet)

    def place(picture: np.ndarray, row: int, col: int, stretch: bool) -> None:
        img = Image.fromarray(picture)
        if stretch:  # coordinate x channel arrays: fill the cell
            size = (cell, cell)
        else:  # maps keep their aspect ratio
            s = cell / max(img.size)
            size = (max(1, round(img.width * s)), max(1, round(img.height * s)))
        img = img.resize(size, Image.Resampling.NEAREST)  # nearest: every channel and pixel stays a crisp cell
        sheet.paste(img, (label_w + col * (cell + pad) + pad, title_h + row * (cell + pad) + pad))

    for col, kind in enumerate(KINDS):
        draw.text((label_w + col * (cell + pad) + pad, 3), KIND_TITLES[kind], fill=(230, 230, 230))
    draw.text((6, title_h + pad + 4), "image", fill=(230, 230, 230))
    place(as_rgb(structure.image), 0, 0, stretch=False)
    for row, block in enumerate(structure.blocks, start=1):
        draw.text((6, title_h + row * (cell + pad) + pad + 4), block.name, fill=(230, 230, 230))
        for col, (kind, picture) in enumerate(block_images(block).items()):
            place(picture, row, col, stretch=kind in ("rows", "cols"))
    return np.asarray(sheet)
