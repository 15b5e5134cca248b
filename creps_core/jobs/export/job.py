"""The export job: its steps (tiles, pyramid, file), and the provenance record it writes.

An export is a list of independent tile jobs (docs/architecture.md):

1. **Render** each tile (optionally supersampled k x k and box-filtered) and keep it
   as a ``.npy`` file in a work directory ``.NAME.partial/`` next to the output
   (:mod:`creps_core.jobs.workdir`): a killed or cancelled export resumes by skipping finished
   tiles, and a different job never reuses them: its work folder is kept until the user
   discards it (``fresh``).
2. **Pyramid** levels (optional, for deep-zoom viewers) are built from the stored
   tiles by 2x box filtering, also tile by tile, also kept (:mod:`.tiles`).
3. **Assemble** the stored tiles into the output (:mod:`.writers`), or cut them into a Deep Zoom
   pyramid with its viewer page (:mod:`.deepzoom`).

Before anything is written, every name the export will write is checked
(:mod:`creps_core.jobs.outputs`): an earlier export's files are replaced, anything else -- an input,
the user's file, a link -- is kept unless ``force`` is given.

Memory stays bounded whatever the size: one tile (or one band of tiles for PNG) is in memory at a
time, and the engine's line cache is capped to one strip of columns (:func:`.tiles.line_cache_limit`).
Tiles can be rendered elsewhere (:mod:`.cluster`) through the ``renderer`` argument; the writer
always stays in the calling process.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path

from creps_core.io.safe_files import disk_full, is_regular_file, no_space, remove_stale_temps
from creps_core.jobs.cluster import ModelRef
from creps_core.jobs.export import deepzoom
from creps_core.jobs.export.spec import ExportSpec, format_of, validate
from creps_core.jobs.export.tiles import Renderer, line_cache_limit, local_renderer, plan_tiles, pyramid_steps
from creps_core.jobs.export.writers import assemble, sidecar_path
from creps_core.jobs.metadata import RenderRecord, read_record
from creps_core.jobs.outputs import Owned, carries_record, claim, replacing_note
from creps_core.jobs.workdir import (
    NotEnoughSpace,
    TileStore,
    check_free_space,
    model_identity,
    remove_finished_work,
    work_dir,
)
from creps_core.latent.latents import LatentSpec
from creps_core.model.checkpoint import LoadedModel
from creps_core.model.network import CREPSGenerator
from creps_core.progress import DONE, RENDERING_TILES, WRITING, CancelFn, Progress, run_job
from creps_core.render.engine import Engine
from creps_core.render.views import View
from creps_core.vocabulary import DEFAULT_WARP_QUALITY


def _model_of(engine: Engine) -> ModelRef:
    m = engine.model
    if m is None:
        return ModelRef("", "")
    return ModelRef(str(m.path), m.sha256, m.network)


def make_record(spec: ExportSpec, model: ModelRef, levels: int = 0) -> RenderRecord:
    """The provenance written into the file: enough to render it again.

    ``pyramid_levels`` are the extra TIFF levels asked for; a Deep Zoom pyramid's levels follow
    from its size, so it records none (re-exporting it as a TIFF adds none).
    """
    return RenderRecord(checkpoint=model.path, checkpoint_sha256=model.sha256, latent=spec.latent, view=spec.view,
                        precision=spec.precision, warp_quality=spec.warp_quality, network=model.network,
                        supersample=spec.supersample,
                        extra={"kind": "export", "tile": spec.tile, "format": spec.fmt,
                               "pyramid_levels": 0 if spec.fmt == "dzi" else levels,
                               **({"tile_format": spec.tile_format} if spec.fmt == "dzi" else {})})


def spec_from_record(record: RenderRecord, **overrides) -> ExportSpec:
    """An export spec that re-renders a file from its metadata (overrides change the file form)."""
    extra = record.extra or {}
    spec = ExportSpec(latent=record.latent, view=record.view, precision=record.precision,
                      warp_quality=record.warp_quality, supersample=record.supersample,
                      tile=int(extra.get("tile", 512)),
                      fmt=extra.get("format", "tiff"), pyramid=int(extra.get("pyramid_levels", 0)),
                      tile_format=extra.get("tile_format", "jpg"))
    return replace(spec, **overrides)


def outputs(out: Path, fmt: str) -> list[tuple[Path, Owned]]:
    """Every name an export to ``out`` writes, with how an earlier export's file there is recognised."""
    if fmt == "dzi":
        return deepzoom.outputs(out)
    own: Owned = carries_record
    return [(out, own)] + ([(sidecar_path(out), own)] if fmt == "jpeg" else [])


def _finished_elsewhere(out: Path, fmt: str, record_json: str) -> bool:
    """True when ``out`` now holds this very export, finished meanwhile by another process that
    worked in the same work folder (and removed it)."""
    try:
        if fmt in ("jpeg", "dzi"):  # their sidecar is written before the file itself
            return is_regular_file(out) and sidecar_path(out).read_text() == record_json
        return is_regular_file(out) and read_record(out).to_json() == record_json
    except (OSError, ValueError):
        return False


def export_steps(engine: Engine, spec: ExportSpec, out_path: str | os.PathLike, *,
                 cancel: CancelFn | None = None, renderer: Renderer | None = None,
                 keep_work: bool = False, force: bool = False, fresh: bool = False,
                 inputs: Sequence[str | os.PathLike] = ()) -> Iterator[Progress]:
    """Export ``spec`` to ``out_path``, yielding progress after every tile.

    Nothing is written when a name it would write holds one of ``inputs`` (the checkpoint is one),
    a link, or a file or folder no export wrote, unless ``force``; nor when its work folder holds
    another job's work, unless ``fresh`` (both KeptError).  Raises Cancelled when ``cancel()``
    turns True (finished tiles stay for a resume; nothing appears under the final name),
    DiskFullError when the disk fills.  When another process finishes the same export to the same
    name meanwhile, this one ends with a note saying so.
    """
    out = Path(out_path)
    validate(spec, out)
    if not out.parent.is_dir():
        raise FileNotFoundError(f"{out.parent}: no such directory")
    model = _model_of(engine)
    check_outputs = partial(claim, outputs(out, spec.fmt), [model.path, *inputs], force)
    replacing = replacing_note(check_outputs(), force)
    remove_stale_temps(out)
    levels = spec.pyramid_levels()
    tasks = plan_tiles(spec.shape, spec.tile)
    wd = work_dir(out)
    record_json = make_record(spec, model, levels).to_json()
    job = spec.job_hash(model_identity(engine))  # it names the generator too: G and G_ema never share tiles
    try:
        store = TileStore(wd, job, {"spec": record_json}, fresh)
        todo = [t for t in tasks if not store.has(0, t.ti, t.tj, (t.rows, t.cols))]
        check_free_space(wd, sum(t.rows * t.cols * 3 for t in todo))
        total, done = len(tasks), len(tasks) - len(todo)
        notes = [note for note in (replacing, f"resuming: {done} of {total} tiles done" if done else None) if note]
        if store.discarded:
            notes.append(f"re-rendering {len(store.discarded)} damaged tile(s) found in {wd}: "
                         + ", ".join(store.discarded[:5]) + ("..." if len(store.discarded) > 5 else ""))
        yield Progress(RENDERING_TILES, done, total, note="; ".join(notes) or None)
        start, rendered = time.monotonic(), 0
        with engine.line_cache_limit(line_cache_limit(engine, spec)):
            for task, pixels in (renderer or local_renderer(engine))(spec, todo, cancel):
                store.save(0, task.ti, task.tj, pixels)
                done, rendered = done + 1, rendered + 1
                rate = (time.monotonic() - start) / rendered
                yield Progress(RENDERING_TILES, done, total, rate * (total - done))
        yield from pyramid_steps(store, spec, levels, cancel)
        if spec.fmt == "dzi":
            yield from deepzoom.write_steps(store, spec.shape, spec.tile, spec.tile_format, spec.quality, out,
                                            record_json, cancel, check_outputs)
        else:
            yield Progress(WRITING, 0, 1)
            assemble(store, spec, out, record_json, levels, cancel, check_outputs)
            yield Progress(WRITING, 1, 1)
    except FileNotFoundError:
        if not _finished_elsewhere(out, spec.fmt, record_json):
            raise
        remove_finished_work(wd, job)
        yield Progress(DONE, 1, 1, 0.0, out, note=f"another export to {out} finished the same image meanwhile; "
                                                  "nothing more to do")
        return
    except OSError as e:
        if no_space(e) and not isinstance(e, NotEnoughSpace):
            raise disk_full(e, out, "free space and run the export again (finished tiles are kept and will "
                                    "be skipped)") from None
        raise
    if not keep_work:
        store.remove()
    yield Progress(DONE, 1, 1, 0.0, out)


def export_image(engine_or_model: Engine | LoadedModel | CREPSGenerator, latent: LatentSpec, view: View,
                 out_path: str | os.PathLike, *, tile: int = 512, fmt: str | None = None, supersample: int = 1,
                 pyramid: int = 0, precision: str = "fp32", warp_quality: str = DEFAULT_WARP_QUALITY,
                 compression: str | None = "zlib",
                 quality: int = 95, tile_format: str = "jpg", progress: Callable[[Progress], None] | None = None,
                 cancel: CancelFn | None = None, renderer: Renderer | None = None, force: bool = False,
                 fresh: bool = False) -> Path:
    """:func:`export_steps` from keyword options, drained by :func:`~creps_core.progress.run_job`;
    returns the final path (for scripts, benchmarks and :func:`.cluster.cluster_export`).

    ``fmt`` defaults from the file extension; ``progress(Progress)`` gets every record;
    ``cancel()`` returning True stops the export (Cancelled); running the same call again resumes it.
    """
    engine = engine_or_model if isinstance(engine_or_model, Engine) else Engine(engine_or_model, precision=precision)
    spec = ExportSpec(latent=latent, view=view, fmt=fmt or format_of(out_path), tile=tile, supersample=supersample,
                      pyramid=pyramid, precision=precision, warp_quality=warp_quality, compression=compression,
                      quality=quality, tile_format=tile_format)
    last = run_job(export_steps(engine, spec, out_path, cancel=cancel, renderer=renderer, force=force, fresh=fresh),
                   progress)
    return last.path if last is not None and last.path is not None else Path(out_path)
