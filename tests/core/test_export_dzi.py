"""Deep Zoom exports: the pyramid follows the spec, its full-resolution level is the tiled export's
pixels, it resumes, keeps provenance, refuses bad options in one line, and a real browser shows it
from a folder (file://) and from a static web server."""

from __future__ import annotations

import base64
import functools
import http.server
import json
import math
import os
import select
import shutil
import subprocess
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from creps_core.cli.main import main
from creps_core.jobs import export as ex
from creps_core.jobs.metadata import read_record
from creps_core.jobs.outputs import KeptError
from creps_core.latent.latents import LatentSpec
from creps_core.model.checkpoint import load_checkpoint
from creps_core.progress import Cancelled
from creps_core.render.engine import Engine
from creps_core.render.views import View

LATENT = LatentSpec(seed=3, psi=0.7)
VIEW = View(301, 171, center=(0.45, 0.55), zoom=1.3)  # odd, not square, several Deep Zoom tiles wide
NS = "{http://schemas.microsoft.com/deepzoom/2008}"


@pytest.fixture(scope="module")
def engine(tiny_ckpt):
    return Engine(load_checkpoint(tiny_ckpt), device="cpu")


def read_dzi(path: Path) -> dict:
    root = ET.parse(path).getroot()
    size = root.find(f"{NS}Size")
    return {"format": root.get("Format"), "overlap": int(root.get("Overlap")), "tile": int(root.get("TileSize")),
            "width": int(size.get("Width")), "height": int(size.get("Height"))}


def stitch(dzi: Path, level: int) -> np.ndarray:
    """One level of a Deep Zoom pyramid put back together: each tile without its overlap."""
    d = read_dzi(dzi)
    folder = dzi.with_name(f"{dzi.stem}_files") / str(level)
    tile, overlap = d["tile"], d["overlap"]
    rows = []
    for r in range(len({p.stem.split("_")[1] for p in folder.iterdir()})):
        row = []
        for c in range(len({p.stem.split("_")[0] for p in folder.iterdir()})):
            with Image.open(folder / f"{c}_{r}.{d['format']}") as im:
                px = np.asarray(im.convert("RGB"))
            top, left = (overlap if r else 0), (overlap if c else 0)
            row.append(px[top:top + tile, left:left + tile])
        rows.append(np.concatenate(row, axis=1))
    return np.concatenate(rows, axis=0)


def test_levels_and_tile_sizes_follow_the_deep_zoom_spec(engine, tmp_path):
    out = ex.export_image(engine, LATENT, VIEW, tmp_path / "p.dzi", tile=64, tile_format="png")
    d = read_dzi(out)
    assert d == {"format": "png", "overlap": 1, "tile": 254, "width": 301, "height": 171}
    top = math.ceil(math.log2(301))  # 9: level 0 is one pixel
    files = out.with_name("p_files")
    assert sorted(int(p.name) for p in files.iterdir() if p.name.isdigit()) == list(range(top + 1))
    for level in range(top + 1):
        w, h = math.ceil(301 / 2 ** (top - level)), math.ceil(171 / 2 ** (top - level))
        cols, rows = math.ceil(w / 254), math.ceil(h / 254)
        names = sorted(p.name for p in (files / str(level)).iterdir())
        assert names == sorted(f"{c}_{r}.png" for c in range(cols) for r in range(rows)), level
        for c in range(cols):
            for r in range(rows):
                # 254 pixels plus one of overlap on each side that has a neighbour
                x0, x1 = max(0, 254 * c - 1), min(w, 254 * (c + 1) + 1)
                y0, y1 = max(0, 254 * r - 1), min(h, 254 * (r + 1) + 1)
                with Image.open(files / str(level) / f"{c}_{r}.png") as im:
                    assert im.size == (x1 - x0, y1 - y0), (level, c, r)
    assert (files / "viewer" / "openseadragon.min.js").is_file() and (files / "viewer" / "LICENSE.txt").is_file()
    assert not ex.work_dir(out).exists()


def test_full_resolution_level_equals_the_tiled_export(engine, tmp_path):
    """Lossless (png) tiles put back together are the PNG export, pixel for pixel; the overlap
    pixels repeat their neighbours'; lower levels are 2x box filters; jpg and webp tiles stay close."""
    png = ex.read_image(ex.export_image(engine, LATENT, VIEW, tmp_path / "ref.png", tile=48))
    dzi = ex.export_image(engine, LATENT, VIEW, tmp_path / "a.dzi", tile=32, tile_format="png")
    assert np.array_equal(stitch(dzi, 9), png)
    with Image.open(dzi.with_name("a_files") / "9" / "1_0.png") as im:  # second column: one pixel of overlap
        assert np.array_equal(np.asarray(im), png[:255, 253:301])
    half = stitch(dzi, 8).astype(int)
    even = png[:170, :300].astype(int)  # the odd last row and column are compared by the box filter's edge rule
    box = (even[0::2, 0::2] + even[1::2, 0::2] + even[0::2, 1::2] + even[1::2, 1::2]) / 4
    assert half.shape == (86, 151, 3) and np.abs(half[:85, :150] - box).max() <= 1
    for fmt, error in (("jpg", 4), ("webp", 6)):  # lossy WebP always halves the colour resolution
        lossy = ex.export_image(engine, LATENT, VIEW, tmp_path / f"{fmt}.dzi", tile=32, quality=95, tile_format=fmt)
        assert read_dzi(lossy)["format"] == fmt
        assert np.abs(stitch(lossy, 9).astype(int) - png).mean() < error


def test_cancel_then_resume_equals_uninterrupted_and_nothing_final_appears_before(engine, tmp_path):
    reference = ex.export_image(engine, LATENT, VIEW, tmp_path / "ref.dzi", tile=64, tile_format="png")
    out = tmp_path / "b.dzi"
    seen: list = []
    with pytest.raises(Cancelled):  # stop while the Deep Zoom tiles are being written
        ex.export_image(engine, LATENT, VIEW, out, tile=64, tile_format="png", progress=seen.append,
                        cancel=lambda: bool(seen) and seen[-1].stage == "writing" and seen[-1].done >= 7)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(("b", ".b"))) == [".b.dzi.partial"]
    resumed: list = []
    ex.export_image(engine, LATENT, VIEW, out, tile=64, tile_format="png", progress=resumed.append)
    rendering = [s for s in resumed if s.stage == "rendering tiles"]
    assert rendering[0].done == rendering[0].total  # every tile was kept
    assert resumed[-1].stage == "done" and resumed[-1].path == out
    for level in range(10):
        assert np.array_equal(stitch(out, level), stitch(reference, level)), level
    assert not ex.work_dir(out).exists()


def test_a_new_export_replaces_an_older_one_whole(engine, tmp_path):
    out = tmp_path / "c.dzi"
    ex.export_image(engine, LATENT, VIEW, out, tile=64, tile_format="png")
    ex.export_image(engine, LATENT, View(40, 30), out, tile=64)
    files = out.with_name("c_files")
    assert sorted(p.name for p in files.iterdir()) == [*(str(n) for n in range(7)), "viewer"]  # 9, 8, 7 are gone
    assert {p.suffix for p in files.glob("*/*_*.*")} == {".jpg"}
    assert read_dzi(out)["width"] == 40 and "40×30" in out.with_suffix(".html").read_text()


def test_a_link_in_place_of_the_tiles_folder_is_kept_or_replaced_never_followed(engine, tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("mine")
    (tmp_path / "l_files").symlink_to(victim, target_is_directory=True)
    with pytest.raises(KeptError, match="l_files is a link"):  # not an export's folder: kept unless --force
        ex.export_image(engine, LATENT, View(40, 30), tmp_path / "l.dzi", tile=64)
    assert (tmp_path / "l_files").is_symlink() and not (tmp_path / "l.dzi").exists()
    out = ex.export_image(engine, LATENT, View(40, 30), tmp_path / "l.dzi", tile=64, force=True)
    assert sorted(p.name for p in victim.iterdir()) == ["keep.txt"] and (victim / "keep.txt").read_text() == "mine"
    files = out.with_name("l_files")
    assert files.is_dir() and not files.is_symlink() and (files / "6" / "0_0.jpg").is_file()


def test_provenance_re_renders_through_the_cli(tiny_ckpt, tmp_path, capsys):
    out = tmp_path / "cli.dzi"
    assert main(["export", str(out), "-c", str(tiny_ckpt), "--size", "150x90", "--seed", "4", "--zoom", "2",
                 "--tile", "32", "--tile-format", "png"]) == 0
    assert "cli.html" in capsys.readouterr().out
    record = read_record(out)
    assert record.view.width == 150 and record.latent.seed == 4 and record.extra["tile_format"] == "png"
    again = tmp_path / "again.png"
    assert main(["export", str(again), "--from", str(out)]) == 0
    assert np.array_equal(stitch(out, 8), ex.read_image(again))


@pytest.mark.parametrize("extra, code, message", [
    (["--tile-format", "gif"], 2, "invalid choice"),
    (["--quality", "0"], 1, "quality must be 1..100"),
    (["--pyramid", "2"], 1, "a .dzi always has all its levels"),
])
def test_bad_options_are_one_line_and_write_nothing(tiny_ckpt, tmp_path, capsys, extra, code, message):
    (tmp_path / "out").mkdir()
    try:
        status = main(["export", str(tmp_path / "out" / "x.dzi"), "-c", str(tiny_ckpt), "--size", "64x64", *extra])
    except SystemExit as e:
        status = e.code
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert status == code and "Traceback" not in err
    assert message in lines[-1] and sum("error" in line for line in lines) == 1  # usage errors follow the usage
    assert list((tmp_path / "out").iterdir()) == []


# ----- a real browser -----------------------------------------------------------------------------
BROWSER = next((shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome") if shutil.which(name)),
               None)
BACKGROUND = np.array([0x20, 0x20, 0x20])  # the page's background colour


READY = ("typeof viewer !== 'undefined' && viewer.world.getItemCount() === 1"
         " && viewer.world.getItemAt(0).getFullyLoaded()")
BUTTONS_LOADED = "[...document.images].length >= 4 && [...document.images].every(i => i.complete && i.naturalWidth > 0)"
NAVIGATOR_LOADED = "viewer.navigator.world.getItemCount() === 1 && viewer.navigator.world.getItemAt(0).getFullyLoaded()"
HIDE_OVERLAYS = "viewer.setControlsEnabled(false); viewer.navigator.element.style.display = 'none'; true"
NEXT_FRAMES = "new Promise(done => requestAnimationFrame(() => requestAnimationFrame(() => done(true))))"


class DevTools:
    """Headless Chromium driven over its DevTools pipe (--remote-debugging-pipe: commands in on fd 3,
    replies out on fd 4, each a JSON message ended by a NUL byte), so a test can wait until the viewer
    says its tiles are loaded instead of guessing a delay."""

    def __init__(self, profile: Path) -> None:
        child_in, self.to_child = os.pipe()
        self.from_child, child_out = os.pipe()

        def as_fds_3_and_4() -> None:
            os.dup2(child_in, 3)
            os.dup2(child_out, 4)

        self.proc = subprocess.Popen([BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                                      "--remote-debugging-pipe", f"--user-data-dir={profile}", "about:blank"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, pass_fds=(3, 4),
                                     preexec_fn=as_fds_3_and_4)
        os.close(child_in)
        os.close(child_out)
        self.buffer, self.last_id = b"", 0

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self.last_id += 1
        message = {"id": self.last_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self.to_child, json.dumps(message).encode() + b"\0")
        while True:  # events arrive in between; skip them
            reply = self._read(deadline=time.monotonic() + 60)
            if reply.get("id") == self.last_id:
                assert "error" not in reply, f"{method}: {reply['error']}"
                return reply["result"]

    def _read(self, deadline: float) -> dict:
        while b"\0" not in self.buffer:
            ready, _, _ = select.select([self.from_child], [], [], max(0.0, deadline - time.monotonic()))
            assert ready, "chromium stopped answering"
            chunk = os.read(self.from_child, 1 << 20)
            assert chunk, "chromium closed its DevTools pipe"
            self.buffer += chunk
        message, _, self.buffer = self.buffer.partition(b"\0")
        return json.loads(message)

    def close(self) -> None:
        try:
            self.send("Browser.close")
            self.proc.wait(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            os.close(self.to_child)
            os.close(self.from_child)


def screenshot(url: str, folder: Path) -> np.ndarray:
    """The page as headless Chromium draws it in an 800x600 window, once the viewer's tiles are loaded."""
    browser = DevTools(folder / "profile")
    try:
        target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        browser.send("Emulation.setDeviceMetricsOverride",
                     {"width": 800, "height": 600, "deviceScaleFactor": 1, "mobile": False}, session)
        browser.send("Page.navigate", {"url": url}, session)

        def evaluate(expression: str) -> object:
            answer = browser.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                       "awaitPromise": True}, session)
            return answer["result"].get("value")

        deadline = time.monotonic() + 60
        while not evaluate(READY):
            assert time.monotonic() < deadline, "the viewer never finished loading its tiles"
            time.sleep(0.1)
        assert evaluate(BUTTONS_LOADED), "the viewer's button images did not load"
        assert evaluate(NAVIGATOR_LOADED), "the navigator did not load its tiles"
        evaluate(HIDE_OVERLAYS)  # the buttons and the navigator would cover parts of the image
        evaluate(NEXT_FRAMES)
        png = base64.b64decode(browser.send("Page.captureScreenshot", {"format": "png"}, session)["data"])
    finally:
        browser.close()
    (folder / "shot.png").write_bytes(png)
    with Image.open(folder / "shot.png") as im:
        return np.asarray(im.convert("RGB"))


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> tuple[Path, np.ndarray]:
    """An export of the shipped demo model (large shapes a screenshot can be matched against) under a
    name that needs URL quoting, and its pixels."""
    from creps_core.model.demo import open_model

    engine = Engine(open_model("demo"), device="cpu")
    folder = tmp_path_factory.mktemp("site")
    view = View(640, 400)
    out = ex.export_image(engine, LatentSpec(seed=7), view, folder / "my poster.dzi", tile=128)
    return out.with_suffix(".html"), engine.render_u8(LatentSpec(seed=7), view)


@pytest.fixture
def served(page):
    """A static web server for the export's folder."""
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(page[0].parent)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/my%20poster.html"
    server.shutdown()
    server.server_close()


@pytest.mark.skipif(BROWSER is None, reason="no chromium binary on PATH (apt-get install chromium; .ci/run does)")
@pytest.mark.parametrize("how", ["file", "server"])
def test_a_browser_shows_the_image(page, how, request, tmp_path):
    html, pixels = page
    url = html.as_uri() if how == "file" else request.getfixturevalue("served")
    shot = screenshot(url, tmp_path)
    # The image, fitted to the 800x600 window (640x400 -> 800x500), is what differs from the background.
    drawn = np.abs(shot.astype(int) - BACKGROUND).sum(axis=2) > 24
    rows, cols = np.nonzero(drawn.mean(axis=1) > 0.5)[0], np.nonzero(drawn.mean(axis=0) > 0.5)[0]
    assert rows.size and cols.size, "the viewer shows no image"
    (y0, y1), (x0, x1) = (rows[0], rows[-1] + 1), (cols[0], cols[-1] + 1)
    assert abs((x1 - x0) - 800) <= 2 and abs((y1 - y0) - 500) <= 2, f"image drawn at {x1 - x0}x{y1 - y0}"
    # There, it is the exported image: compare both on a coarse 32x20 grid of block means, each colour
    # channel centred (a flat patch of the right mean colour does not pass) and up to rescaling.
    crop = Image.fromarray(shot[y0:y1, x0:x1]).resize((32, 20), Image.BOX)
    ref = Image.fromarray(pixels).resize((32, 20), Image.BOX)
    got, want = (np.asarray(im, float) - np.asarray(im, float).mean(axis=(0, 1)) for im in (crop, ref))
    correlation = (got * want).sum() / np.sqrt((got**2).sum() * (want**2).sum())
    difference = np.abs(np.asarray(crop, float) - np.asarray(ref, float)).mean()
    assert correlation > 0.98 and difference < 6, f"the page shows other pixels ({correlation=:.3f}, {difference=:.1f})"
