"""What `creps render`, `export` and `video` write: never over an input or a file the tool did not
write, never through a link planted in a work folder, never stuck on a damaged tile or a race, and
every refusal one line (security issue: "no output over an input, no link followed inside a work
folder").  Each test fails if its hole comes back."""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np
import pytest
from PIL import Image

from creps_core.cli.main import main
from creps_core.jobs import export as ex
from creps_core.jobs import video as vid
from creps_core.jobs.export import deepzoom
from creps_core.jobs.outputs import KeptError
from creps_core.latent.files import save_ws
from creps_core.latent.latents import LatentSpec
from creps_core.model.checkpoint import load_checkpoint
from creps_core.progress import DONE, RENDERING_TILES, WRITING, Cancelled
from creps_core.render.engine import Engine
from creps_core.render.views import View

from .test_hostile_inputs import exit_code, refused

LATENT = LatentSpec(seed=5)
VIEW = View(48, 32)


@pytest.fixture(scope="module")
def engine(tiny_ckpt):
    return Engine(load_checkpoint(tiny_ckpt), device="cpu")


def tree(folder) -> dict[str, str]:
    """Every file under ``folder`` (links as their target) with its sha256: what must stay as it was."""
    found = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = os.path.join(root, name)
            rel = os.path.relpath(path, folder)
            if os.path.islink(path):
                found[rel] = "-> " + os.readlink(path)
            elif os.path.isfile(path):
                found[rel] = hashlib.sha256(open(path, "rb").read()).hexdigest()
    return found


@pytest.fixture
def victim(tmp_path):
    folder = tmp_path / "victim"
    folder.mkdir()
    (folder / "precious.txt").write_text("do not touch")
    (folder / "openseadragon.min.js").write_text("// the user's own script")
    return folder


def stopped_after_first_tile(engine, out, **kw):
    """An export cancelled after its first tile: its work folder is left for a resume."""
    with pytest.raises(Cancelled):
        ex.export_image(engine, LATENT, VIEW, out, tile=16, cancel=lambda: any(ex.work_dir(out).glob("L0_*.npy")),
                        **kw)
    return ex.work_dir(out)


# ----- 1: what is under an output's name is kept unless the tool wrote it -------------------------
def saved_page(folder):
    """What a browser's "save page" makes, plus a JSON of the user's: none of it the tool's."""
    (folder / "poster.html").write_text("<html><body>my page</body></html>")
    (folder / "poster_files").mkdir()
    (folder / "poster_files" / "photo1.jpg").write_bytes(b"\xff\xd8 my photo")
    (folder / "poster.dzi.json").write_text('{"my": "notes"}')
    return [folder / "poster.html", folder / "poster_files" / "photo1.jpg", folder / "poster.dzi.json"]


PLANTED = {  # one thing of the user's under a name a Deep Zoom export writes: (name, what is in it)
    "page": ("poster.html", "<html><body>my page</body></html>"),
    "folder": ("poster_files/photo1.jpg", "my photo"),
    "plain-file-as-folder": ("poster_files", "not a folder"),
    "sidecar": ("poster.dzi.json", '{"my": "notes"}'),
    "descriptor": ("poster.dzi", "<Image>the user's own descriptor</Image>"),
}


@pytest.mark.parametrize("planted", PLANTED.values(), ids=PLANTED.keys())
def test_a_deep_zoom_export_keeps_each_file_and_folder_it_did_not_write(tmp_path, capsys, tiny_ckpt, planted):
    name, text = planted
    out = tmp_path / "OUT"
    (out / name).parent.mkdir(parents=True)
    (out / name).write_text(text)
    top = name.split("/")[0]
    line = refused(tmp_path, capsys, ["export", "OUT/poster.dzi", "-c", str(tiny_ckpt), "--size", "40x30"], 1,
                   "--force", [out / name], leaves=[top])
    assert f"{out / top} was not written by this tool" in line


def test_the_whole_saved_page_is_kept_then_replaced_with_force_and_the_tools_own_files_after(tmp_path, capsys,
                                                                                           tiny_ckpt):
    out = tmp_path / "OUT"
    out.mkdir()
    files = saved_page(out)
    line = refused(tmp_path, capsys, ["export", "OUT/poster.dzi", "-c", str(tiny_ckpt), "--size", "40x30"], 1,
                   "(and 2 more)", files, leaves=["poster.html", "poster_files", "poster.dzi.json"])
    assert "poster.dzi.json" in line or "poster.html" in line
    argv = ["export", str(out / "poster.dzi"), "-c", str(tiny_ckpt), "--size", "40x30", "--tile", "16"]
    assert main(argv + ["--force"]) == 0
    assert not (out / "poster_files" / "photo1.jpg").exists() and "CREPS Explorer" in (out / "poster.html").read_text()
    assert main(argv + ["--seed", "2"]) == 0  # its own earlier export is replaced without --force
    assert sorted(p.name for p in out.iterdir()) == ["poster.dzi", "poster.dzi.json", "poster.html", "poster_files"]


def test_a_jpeg_export_keeps_the_users_sidecar_and_jpeg(tmp_path, capsys, tiny_ckpt):
    out = tmp_path / "OUT"
    out.mkdir()
    (out / "poster.jpg.json").write_text('{"mine": 1}')
    refused(tmp_path, capsys, ["export", "OUT/poster.jpg", "-c", str(tiny_ckpt), "--size", "32x32"], 1,
            "poster.jpg.json was not written by this tool", [out / "poster.jpg.json"], leaves=["poster.jpg.json"])
    (out / "poster.jpg.json").unlink()
    Image.new("RGB", (8, 8)).save(out / "poster.jpg")  # a photo of the user's, no record in it
    refused(tmp_path, capsys, ["export", "OUT/poster.jpg", "-c", str(tiny_ckpt), "--size", "32x32"], 1,
            "poster.jpg was not written by this tool", [out / "poster.jpg"], leaves=["poster.jpg"])
    (out / "poster.jpg").unlink()
    argv = ["export", str(out / "poster.jpg"), "-c", str(tiny_ckpt), "--size", "32x32", "--tile", "16"]
    assert main(argv) == 0 and main(argv + ["--seed", "3"]) == 0  # its own JPEG and sidecar: replaced


def test_render_never_writes_over_its_input_ws(tmp_path, capsys, tiny_ckpt):
    cfg = load_checkpoint(tiny_ckpt).cfg
    d = tmp_path / "OUT"
    d.mkdir()
    ws = save_ws(d / "projected.npz", np.random.default_rng(0).standard_normal((cfg.num_ws, cfg.w_dim)))
    argv = ["render", "--ws", "OUT/projected.npz", "--trunc", "0.5", "--save-ws", "--outdir", "OUT", "--size", "16x16",
            "-c", str(tiny_ckpt)]
    line = refused(tmp_path, capsys, argv, 1, "is an input of this command", [ws, tiny_ckpt], leaves=["projected.npz"])
    assert str(ws) in line and "--force" in line


def test_render_from_an_image_never_replaces_it_unless_forced(tmp_path, capsys, tiny_ckpt):
    d = tmp_path / "OUT"
    assert main(["render", "--seeds", "3", "--size", "16x16", "--outdir", str(d), "-c", str(tiny_ckpt)]) == 0
    src = d / "seed0003.png"
    refused(tmp_path, capsys, ["render", "--from", "OUT/seed0003.png", "--trunc", "0.3", "--outdir", "OUT"], 1,
            "seed0003.png is an input of this command", [src], leaves=["seed0003.png"])
    assert main(["render", "--seeds", "3", "--trunc", "0.5", "--size", "16x16", "--outdir", str(d), "-c",
                 str(tiny_ckpt)]) == 0  # an earlier render of its own is replaced, as gen_images.py does
    before = src.read_bytes()
    assert main(["render", "--from", str(src), "--trunc", "0.3", "--outdir", str(d), "--force"]) == 0
    assert src.read_bytes() != before


def test_render_keeps_the_users_png_and_side_files(tmp_path, capsys, tiny_ckpt):
    d = tmp_path / "OUT"
    d.mkdir()
    Image.new("RGB", (4, 4)).save(d / "seed0000.png")  # no record: the user's
    refused(tmp_path, capsys, ["render", "--size", "16x16", "--outdir", "OUT", "-c", str(tiny_ckpt)], 1,
            "seed0000.png was not written by this tool", [d / "seed0000.png"], leaves=["seed0000.png"])
    (d / "seed0000.png").unlink()
    np.save(d / "seed0000.npy", np.zeros(3))  # a .npy of the user's where --save-raw would write
    refused(tmp_path, capsys, ["render", "--size", "16x16", "--save-raw", "--outdir", "OUT", "-c", str(tiny_ckpt)],
            1, "seed0000.npy was not written by this tool", [d / "seed0000.npy"], leaves=["seed0000.npy"])
    (d / "seed0000.npy").unlink()
    argv = ["render", "--size", "16x16", "--save-raw", "--save-ws", "--outdir", str(d), "-c", str(tiny_ckpt)]
    assert main(argv) == 0 and main(argv + ["--trunc", "0.5"]) == 0  # its own PNG and the files beside it


def test_unfinished_work_of_other_settings_is_kept_until_fresh(engine, tmp_path, capsys, tiny_ckpt):
    out = tmp_path / "OUT" / "x.tif"
    out.parent.mkdir()
    wd = stopped_after_first_tile(engine, out)
    before = tree(wd)
    line = refused(tmp_path, capsys, ["export", "OUT/x.tif", "-c", str(tiny_ckpt), "--size", "48x32", "--tile", "16",
                                      "--seed", "9"], 1, "pass --fresh to discard it", leaves=[".x.tif.partial"])
    assert str(wd) in line and "other settings" in line and tree(wd) == before
    assert main(["export", str(out), "-c", str(tiny_ckpt), "--size", "48x32", "--tile", "16", "--seed", "9",
                 "--fresh"]) == 0
    assert np.array_equal(ex.read_image(out), engine.render_u8(LatentSpec(seed=9), VIEW)) and not wd.exists()


def test_a_video_keeps_the_frames_of_another_video_until_fresh(engine, tmp_path, capsys, tiny_ckpt):
    out = tmp_path / "OUT" / "v.gif"
    out.parent.mkdir()
    made = []
    with pytest.raises(Cancelled):
        vid.render_video(engine, vid.orbit(View(32, 32), LatentSpec(seed=0), 1.0, 1.0), out, fps=4,
                         progress=made.append, cancel=lambda: len(made) > 2)
    wd = ex.work_dir(out)
    before = tree(wd)
    argv = ["video", "OUT/v.gif", "--preset", "orbit", "--size", "32x32", "--frames", "3", "-c", str(tiny_ckpt)]
    line = refused(tmp_path, capsys, argv, 1, "pass --fresh", leaves=[".v.gif.partial"])
    assert "a video with other settings" in line and tree(wd) == before
    assert main([a.replace("OUT", str(out.parent)) for a in argv] + ["--fresh"]) == 0 and not wd.exists()


def test_video_outputs_are_kept_unless_the_tool_wrote_them(tmp_path, capsys, tiny_ckpt):
    out = tmp_path / "OUT"
    out.mkdir()
    argv = ["video", "OUT/v.gif", "--preset", "orbit", "--size", "32x32", "--frames", "2", "-c", str(tiny_ckpt)]
    (out / "v.gif").write_bytes(b"GIF89a the user's")
    refused(tmp_path, capsys, argv, 1, "v.gif was not written by this tool", [out / "v.gif"], leaves=["v.gif"])
    (out / "v.gif").unlink()
    (out / "spec.json").write_text('{"keyframes": []}')  # hand-written
    refused(tmp_path, capsys, argv + ["--save-spec", "OUT/spec.json"], 1, "spec.json was not written",
            [out / "spec.json"], leaves=["spec.json"])
    (out / "spec.json").unlink()
    (out / "frames").mkdir()
    Image.new("RGB", (4, 4)).save(out / "frames" / "00001.png")
    refused(tmp_path, capsys, ["video", "OUT/frames/%05d.png", *argv[2:]], 1, "00001.png was not written",
            [out / "frames" / "00001.png"], leaves=["frames"])
    (out / "frames" / "00001.png").unlink()
    real = [a.replace("OUT", str(out)) for a in argv]
    assert main(real + ["--save-spec", str(out / "spec.json")]) == 0
    assert main(real + ["--turns", "2", "--save-spec", str(out / "spec.json")]) == 0  # all its own: replaced
    refused(tmp_path, capsys, ["video", "OUT/w.gif", "--keyframes", "OUT/spec.json", "--save-spec", "OUT/spec.json",
                               "-c", str(tiny_ckpt)], 1, "spec.json is an input", [out / "spec.json"],
            leaves=["spec.json", "v.gif", "v.gif.json", "frames"])


def test_a_file_of_the_users_that_appears_during_an_export_is_kept(engine, tmp_path):
    """The names are checked again right before anything is replaced: an export runs for hours."""
    out = tmp_path / "poster.dzi"
    steps = ex.export_steps(engine, ex.ExportSpec(LATENT, VIEW, fmt="dzi", tile=16), out)
    for step in steps:
        if step.stage == WRITING:
            break
    (tmp_path / "poster.html").write_text("saved meanwhile")
    with pytest.raises(KeptError, match="poster.html was not written"):
        list(steps)
    assert (tmp_path / "poster.html").read_text() == "saved meanwhile" and not out.exists()
    assert not deepzoom.files_folder(out).exists()


# ----- 2: nothing inside a work folder is followed through a link ---------------------------------
@pytest.mark.parametrize("where", ["dzi-jpg-q95", "dzi-jpg-q95/viewer", "dzi-jpg-q95/6", "dzi-jpg-q95/viewer/images"])
def test_links_planted_in_a_deep_zoom_work_folder_are_never_followed(engine, tmp_path, victim, where):
    out = tmp_path / "poster.dzi"
    wd = stopped_after_first_tile(engine, out)
    link = wd / where
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(victim, target_is_directory=True)
    before = tree(victim)
    ex.export_image(engine, LATENT, VIEW, out, tile=16)
    assert tree(victim) == before
    files = deepzoom.files_folder(out)
    assert files.is_dir() and not files.is_symlink() and not any(p.is_symlink() for p in files.rglob("*"))
    assert (files / "viewer" / "openseadragon.min.js").read_text() != "// the user's own script"


def test_a_staged_folder_that_became_a_link_is_never_renamed_into_place(tmp_path, victim):
    final, staged = tmp_path / "p_files", tmp_path / "work" / "dzi-jpg-q95"
    staged.parent.mkdir()
    staged.symlink_to(victim, target_is_directory=True)
    with pytest.raises(FileNotFoundError):
        deepzoom._move_into_place(staged, final, tmp_path / "work" / "replaced")
    assert not os.path.lexists(final) and staged.is_symlink()


# ----- 3: damaged tiles name themselves; a race ends with the file, not an error -------------------
def test_a_tile_cut_short_after_its_header_is_named_and_rerendered(engine, tmp_path, capsys, tiny_ckpt):
    out = tmp_path / "p.tif"
    wd = stopped_after_first_tile(engine, out)
    (tile,) = wd.glob("L0_*.npy")
    with open(tile, "r+b") as f:
        f.truncate(200)  # the header (128 bytes) and a little of the data
    _, ti, tj = tile.stem.split("_")
    with pytest.raises(ValueError, match=tile.name):  # read directly, it names itself
        ex.TileStore(wd, json.loads((wd / "manifest.json").read_text())["job"], {}).load(0, int(ti), int(tj))
    argv = ["export", str(out), "-c", str(tiny_ckpt), "--seed", "5", "--size", "48x32", "--tile", "16"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "damaged tile" in err and tile.name in err
    assert np.array_equal(ex.read_image(out), engine.render_u8(LATENT, VIEW))


def finish_meanwhile(tiny_ckpt, out, stage: str, done: int, stray: bool = False, **kw):
    """Export A stops at its step (``stage``, ``done``); export B, on another engine with the same name
    and settings, runs to the end; then A goes on.  Returns A's remaining steps and B's file.
    ``stray``: A wrote a tile while B removed the work folder, so a folder without manifest is left."""
    a = ex.export_steps(Engine(load_checkpoint(tiny_ckpt), device="cpu"), ex.ExportSpec(LATENT, VIEW, tile=16, **kw),
                        out)
    for step in a:
        if step.stage == stage and step.done >= done:
            break
    ex.export_image(Engine(load_checkpoint(tiny_ckpt), device="cpu"), LATENT, VIEW, out, tile=16, **kw)
    finished = out.read_bytes()
    if stray:
        ex.work_dir(out).mkdir()
        np.save(ex.work_dir(out) / "L0_0_2.npy", np.zeros((16, 16, 3), np.uint8))
    return list(a), finished


@pytest.mark.parametrize("name, stage, done, stray", [
    ("p.tif", RENDERING_TILES, 1, False), ("p.tif", WRITING, 0, False), ("p.png", RENDERING_TILES, 2, False),
    ("p.jpg", WRITING, 0, False), ("p.dzi", WRITING, 3, False), ("p.tif", RENDERING_TILES, 1, True),
], ids=["tiff-rendering", "tiff-assembling", "png-rendering", "jpeg-assembling", "dzi-cutting", "stray-tile"])
def test_an_export_finished_by_another_process_meanwhile_ends_with_a_note(tiny_ckpt, tmp_path, name, stage, done,
                                                                           stray):
    out = tmp_path / name
    rest, finished = finish_meanwhile(tiny_ckpt, out, stage, done, stray, fmt=ex.format_of(out))
    assert rest[-1].stage == DONE and "finished the same image meanwhile" in rest[-1].note
    assert out.read_bytes() == finished
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # nothing left behind


def test_a_video_finished_by_another_process_meanwhile_ends_with_a_note(tiny_ckpt, tmp_path):
    out = tmp_path / "v.gif"
    kfs = vid.orbit(View(32, 32), LatentSpec(seed=1), 1.0, 1.0)
    spec = vid.VideoSpec(tuple(kfs), 32, 32, fps=4)
    a = vid.video_steps(Engine(load_checkpoint(tiny_ckpt), device="cpu"), spec, out)
    for step in a:
        if step.done >= 2:
            break
    for _ in vid.video_steps(Engine(load_checkpoint(tiny_ckpt), device="cpu"), spec, out):
        pass
    finished = out.read_bytes()
    rest = list(a)
    assert rest[-1].stage == DONE and "finished the same video" in rest[-1].note and out.read_bytes() == finished
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.gif", "v.gif.json"]


# ----- 4: command lines that made nonsense ---------------------------------------------------------
@pytest.mark.parametrize("argv, code, message", [
    (["export", "OUT/poster.tif", "--format", "dzi", "--size", "32x32"], 1, "poster.tif names a tiff file"),
    (["export", "OUT/poster.dzi", "--format", "png", "--size", "32x32"], 1, "name it poster.png"),
    (["render", "--grid", "100000x1", "--size", "16x16", "--outdir", "OUT"], 2, "use 1x1"),
    (["render", "--seeds", "0-4", "--grid", "2x9", "--size", "16x16", "--outdir", "OUT"], 2, "use 2x3"),
    (["render", "--mix", "1:0-99999", "--outdir", "OUT"], 2, "need 0 <= A <= B <= 1023"),
], ids=["tif-as-dzi", "dzi-as-png", "grid-too-wide", "grid-empty-rows", "layers-limit"])
def test_contradictory_command_lines_are_one_line(tmp_path, capsys, tiny_ckpt, argv, code, message):
    refused(tmp_path, capsys, argv + ["-c", str(tiny_ckpt)], code, message, [tiny_ckpt])


def test_a_grid_with_a_short_last_row_still_renders(tmp_path, tiny_ckpt):
    assert exit_code(["render", "--seeds", "0-4", "--grid", "3x2", "--size", "8x8", "--outdir", str(tmp_path), "-c",
                      str(tiny_ckpt)]) == 0


def test_the_library_refuses_too(engine, tmp_path):
    """The explorer calls the library, not the CLI: the same rules hold there."""
    (tmp_path / "x.html").write_text("mine")
    with pytest.raises(KeptError, match="x.html was not written"):
        ex.export_image(engine, LATENT, VIEW, tmp_path / "x.dzi", tile=16)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.html"]
