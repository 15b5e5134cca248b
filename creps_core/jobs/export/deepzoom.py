"""Deep Zoom (DZI) pyramids with a viewer page that works from a folder or any static web server.

An export to ``NAME.dzi`` writes, beside each other:

* ``NAME_files/<level>/<col>_<row>.<fmt>``: the pyramid.  Level ``L`` of ``0..max_level``
  is the image at ``ceil(size / 2^(max_level - L))``; the top level is full resolution and
  level 0 is one pixel.  Tiles are ``DZI_TILE`` pixels with ``DZI_OVERLAP`` pixel(s) repeated
  on every interior edge, so viewers never show seams between tiles at fractional zooms.
* ``NAME_files/viewer/``: OpenSeadragon (vendored from the npm registry, with its licence,
  see ``web/openseadragon/README.md``), so viewing needs no network.
* ``NAME.html``: the viewer page.  It gives OpenSeadragon the tile source inline instead of
  fetching ``NAME.dzi``: browsers refuse script requests to ``file://`` pages, images they load.
* ``NAME.dzi.json``: the provenance record (``creps export --from NAME.dzi`` reads it).
* ``NAME.dzi``: the descriptor, per the Deep Zoom schema, written last.

Each of them carries a mark (the descriptor a comment, the page a generator tag, the folder a
file in ``viewer/``, the sidecar its record), so a new export to the same name replaces an older
export's files and nothing else: a page a browser saved as ``NAME.html`` with its ``NAME_files``
folder is kept (:mod:`creps_core.jobs.outputs`).

The levels come from the export's tile store (full resolution rendered, lower levels built by
2x box filtering, all tile by tile); here each Deep Zoom tile is cut from the few stored tiles
it overlaps, so memory stays bounded by a handful of tiles whatever the image size.  Encoded
tiles are kept in the work folder, so an interrupted export resumes where it stopped; the
finished folder is renamed into place and the descriptor written last.  Nothing inside the work
folder is followed through a link: each folder is checked (lstat) before every write into it.
"""

from __future__ import annotations

import errno
import html
import json
import os
import shutil
from collections import OrderedDict
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote

import numpy as np

from creps_core.io.safe_files import atomic_write, is_real_dir, is_regular_file, remove_stale_temps, work_subfolder
from creps_core.jobs.outputs import Owned, carries_record, holds_text
from creps_core.jobs.workdir import TileStore
from creps_core.progress import WRITING, Cancelled, Progress

DZI_TILE = 254  # with one pixel of overlap on each side, interior tiles are 256 pixels
DZI_OVERLAP = 1
VIEWER_FOLDER = "viewer"  # inside NAME_files/: viewers read only the numbered level folders
DZI_NAMESPACE = "http://schemas.microsoft.com/deepzoom/2008"
# The marks by which a later export knows these files for its own (and replaces them).
DESCRIPTOR_MARK = "<!-- written by CREPS Explorer"
PAGE_MARK = '<meta name="generator" content="CREPS Explorer">'
FOLDER_MARK = "written-by-creps-explorer.txt"  # in NAME_files/viewer/: viewers read only the level folders
FOLDER_MARK_TEXT = b"Written by CREPS Explorer (creps export): an export to the same name replaces this folder.\n"


def max_level(shape: tuple[int, int]) -> int:
    """Index of the full-resolution level: ceil(log2(longest side)), so level 0 is one pixel."""
    return (max(shape) - 1).bit_length()


def level_size(shape: tuple[int, int], level: int) -> tuple[int, int]:
    """(height, width) of a Deep Zoom level: each step down halves the size, rounding up."""
    k = max_level(shape) - level
    return -(-shape[0] // 2**k), -(-shape[1] // 2**k)


def tile_grid(size: tuple[int, int]) -> tuple[int, int]:
    """(rows, columns) of Deep Zoom tiles covering a level of ``size`` (height, width)."""
    return -(-size[0] // DZI_TILE), -(-size[1] // DZI_TILE)


def tile_span(n: int, index: int) -> tuple[int, int]:
    """Pixels [start, stop) along one axis of tile ``index`` of a level ``n`` pixels long,
    with the overlap on interior edges only."""
    start = index * DZI_TILE
    return max(0, start - DZI_OVERLAP), min(n, start + DZI_TILE + DZI_OVERLAP)


def files_folder(out: Path) -> Path:
    return out.with_name(f"{out.stem}_files")


def page_path(out: Path) -> Path:
    return out.with_suffix(".html")


def sidecar_path(out: Path) -> Path:
    return out.with_name(out.name + ".json")


def outputs(out: Path) -> list[tuple[Path, Owned]]:
    """Every name a Deep Zoom export writes, with how an earlier export's file there is recognised."""
    return [(out, holds_text(DESCRIPTOR_MARK)), (sidecar_path(out), carries_record),
            (page_path(out), holds_text(PAGE_MARK)), (files_folder(out), _marked_folder)]


def _marked_folder(path: Path) -> bool:
    """A real ``NAME_files`` folder holding the mark an export leaves in it (no link anywhere)."""
    viewer = path / VIEWER_FOLDER
    return is_real_dir(path) and is_real_dir(viewer) and is_regular_file(viewer / FOLDER_MARK)


def descriptor(shape: tuple[int, int], fmt: str) -> bytes:
    h, w = shape
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n'
            f'{DESCRIPTOR_MARK} (creps export); an export to the same name replaces it -->\n'
            f'<Image xmlns="{DZI_NAMESPACE}" Format="{fmt}" Overlap="{DZI_OVERLAP}" TileSize="{DZI_TILE}">\n'
            f'  <Size Width="{w}" Height="{h}"/>\n'
            f'</Image>\n').encode()


def viewer_page(out: Path, shape: tuple[int, int], fmt: str) -> bytes:
    """The HTML viewer: OpenSeadragon from ``NAME_files/viewer`` and the tile source inline."""
    h, w = shape
    files = quote(files_folder(out).name)  # a relative URL: the page works wherever the folder goes
    source = {"Image": {"xmlns": DZI_NAMESPACE, "Url": f"{files}/", "Format": fmt, "Overlap": str(DZI_OVERLAP),
                        "TileSize": str(DZI_TILE), "Size": {"Width": str(w), "Height": str(h)}}}
    # The canvas drawer: WebGL may not upload images of a file:// page (each file is its own origin
    # there), and OpenSeadragon's fallback from it does not always reach the navigator.
    options = {"id": "viewer", "prefixUrl": f"{files}/{VIEWER_FOLDER}/images/", "showNavigator": True,
               "drawer": "canvas", "tileSources": source}
    script = json.dumps(options, indent=1).replace("<", "\\u003c")  # nothing in it can close the <script>
    title = html.escape(f"{out.stem} ({w}×{h})")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
{PAGE_MARK}
<title>{title}</title>
<style>
html, body {{ margin: 0; height: 100%; background: #202020; }}
#viewer {{ position: absolute; inset: 0; }}
</style>
</head>
<body>
<div id="viewer"></div>
<script src="{files}/{VIEWER_FOLDER}/openseadragon.min.js"></script>
<script>
// The tile source is given inline, not read from the .dzi: browsers refuse script requests
// to file:// pages, and this page must work opened straight from a folder.
const viewer = OpenSeadragon({script});
</script>
</body>
</html>
""".encode()


class _StoredLevel:
    """Rectangles of one stored pyramid level, cut from its tiles; a few recent tiles are kept."""

    def __init__(self, store: TileStore, level: int, tile: int) -> None:
        self.store, self.level, self.tile = store, level, tile
        per_axis = -(-(DZI_TILE + 2 * DZI_OVERLAP) // tile) + 1  # stored tiles a Deep Zoom tile can touch
        self.capacity = per_axis * per_axis + per_axis  # its own plus the next column's: few reloads
        self.cache: OrderedDict[tuple[int, int], np.ndarray] = OrderedDict()

    def _tile(self, ti: int, tj: int) -> np.ndarray:
        if (ti, tj) in self.cache:
            self.cache.move_to_end((ti, tj))
        else:
            self.cache[ti, tj] = self.store.load(self.level, ti, tj)
            if len(self.cache) > self.capacity:
                self.cache.popitem(last=False)
        return self.cache[ti, tj]

    def crop(self, rows: tuple[int, int], cols: tuple[int, int]) -> np.ndarray:
        t = self.tile
        (y0, y1), (x0, x1) = rows, cols
        block = np.concatenate([np.concatenate([self._tile(ti, tj) for tj in range(x0 // t, (x1 - 1) // t + 1)],
                                               axis=1)
                                for ti in range(y0 // t, (y1 - 1) // t + 1)], axis=0)
        oy, ox = y0 // t * t, x0 // t * t
        return block[y0 - oy:y1 - oy, x0 - ox:x1 - ox]


def _encode(pixels: np.ndarray, fmt: str, quality: int) -> Callable[[BinaryIO], None]:
    from PIL import Image

    def write(f: BinaryIO) -> None:
        image = Image.fromarray(pixels)
        if fmt == "jpg":  # 4:4:4 like the JPEG export: no colour detail is lost to subsampling
            image.save(f, format="JPEG", quality=quality, subsampling=0)
        elif fmt == "webp":
            image.save(f, format="WEBP", quality=quality)
        else:
            image.save(f, format="PNG")

    return write


def _tiles_in_order(size: tuple[int, int], stored_tile: int) -> list[tuple[int, int]]:
    """(row, col) of every Deep Zoom tile of a level, grouped by the stored tile holding its corner,
    so that the tiles cut one after another share their stored tiles."""
    rows, cols = tile_grid(size)

    def key(rc: tuple[int, int]) -> tuple[int, int, int, int]:
        r, c = rc
        return r * DZI_TILE // stored_tile, c * DZI_TILE // stored_tile, r, c

    return sorted(((r, c) for r in range(rows) for c in range(cols)), key=key)


def write_steps(store: TileStore, shape: tuple[int, int], stored_tile: int, fmt: str, quality: int,
                out: Path, record_json: str, cancel: Callable[[], bool] | None,
                check_outputs: Callable[[], object]) -> Iterator[Progress]:
    """Write the Deep Zoom files of ``out`` from the store's levels (store level k = Deep Zoom level
    max_level - k), yielding progress after every tile; the descriptor comes last.
    ``check_outputs()`` runs again right before anything under the final names is replaced."""
    remove_stale_temps(sidecar_path(out))  # (those of the other files share the descriptor's stem)
    top = max_level(shape)
    staged = f"dzi-{fmt}-q{quality}"  # a folder of the work folder; encoding settings name it: no resume mixes them
    plan = [(level, rc) for level in range(top, -1, -1)
            for rc in _tiles_in_order(level_size(shape, level), stored_tile)]
    done, current = 0, None
    yield Progress(WRITING, 0, len(plan))
    for level, (r, c) in plan:
        if cancel is not None and cancel():
            raise Cancelled()
        target = work_subfolder(store.root, staged, str(level)) / f"{c}_{r}.{fmt}"
        if not is_regular_file(target):  # written atomically: one that is there is whole
            if current is None or current.level != top - level:
                current = _StoredLevel(store, top - level, stored_tile)
            h, w = level_size(shape, level)
            atomic_write(target, _encode(current.crop(tile_span(h, r), tile_span(w, c)), fmt, quality))
        done += 1
        yield Progress(WRITING, done, len(plan))
    _copy_viewer(store.root, staged, VIEWER_FOLDER)
    atomic_write(work_subfolder(store.root, staged, VIEWER_FOLDER) / FOLDER_MARK, FOLDER_MARK_TEXT)
    check_outputs()
    _move_into_place(store.root / staged, files_folder(out), store.root / "replaced")
    atomic_write(sidecar_path(out), record_json.encode())
    atomic_write(page_path(out), viewer_page(out, shape, fmt))
    atomic_write(out, descriptor(shape, fmt))


def _copy_viewer(root: Path, *dest: str) -> None:
    """The vendored OpenSeadragon files (script, licence, button images) into ``root/dest...``."""
    def copy(src, parts: tuple[str, ...]) -> None:
        for entry in src.iterdir():
            if entry.is_dir():
                copy(entry, (*parts, entry.name))
            elif not entry.name.endswith(".md"):  # the vendoring note is for this repository only
                atomic_write(work_subfolder(root, *parts) / entry.name, entry.read_bytes())

    copy(resources.files("creps_core") / "web" / "openseadragon", dest)


def _move_into_place(staged: Path, final: Path, aside: Path) -> None:
    """Rename the finished folder to its final name; an older export's folder there is first moved
    into the work folder (``aside``) and removed from there, so the swap itself is two renames.
    The staged folder must still be a real folder: a link is never renamed into place, and one that
    is gone (another export to the same name finished first) leaves the final folder untouched."""
    if not is_real_dir(staged):
        raise FileNotFoundError(errno.ENOENT, f"{staged}: the finished tiles are gone")
    _remove(aside)
    if os.path.lexists(final):
        os.rename(final, aside)
    os.rename(staged, final)
    _remove(aside)


def _remove(path: Path) -> None:
    """Delete a folder, file or link (never what a link points to)."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        path.unlink()
