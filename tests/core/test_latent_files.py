"""Directions and ws as files, style mixing, grids, sweeps and PNG-sequence videos, as a user meets them."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from creps_core.cli.args import UsageError, parse_direction, parse_mix, parse_sweep
from creps_core.cli.main import main
from creps_core.jobs.metadata import read_record
from creps_core.latent.directions import sefa
from creps_core.latent.files import LatentFileError, load_directions, load_ws, save_directions, save_ws
from creps_core.latent.latents import DirectionEdit, Floats, LatentSpec
from creps_core.model.network import PAPER_CONFIGS, CREPSGenerator

from ..core_fixtures import TINY

NUM_WS, W_DIM = TINY.num_ws, TINY.w_dim


def pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path))


@pytest.fixture(scope="module")
def sefa_file(tmp_path_factory, tiny_ckpt):
    out = tmp_path_factory.mktemp("dirs") / "sefa.npz"
    assert main(["directions", str(out), "-c", str(tiny_ckpt), "--method", "sefa", "--count", "5",
                 "--layers", "2-6"]) == 0
    return out


# ----- SeFa ------------------------------------------------------------------------------------
def _check_sefa(g: CREPSGenerator, count: int, layers: tuple[int, int]) -> None:
    found = sefa(g, count, layers)
    v = torch.from_numpy(found.vectors).double()
    assert v.shape == (count, g.cfg.w_dim)
    assert torch.allclose(v.norm(dim=1), torch.ones(count, dtype=torch.float64), atol=1e-5)
    assert (np.diff(found.values) <= 0).all() and found.values[0] > found.values[-1]
    # They are eigenvectors of A^T A for the affines of exactly these layers, with those eigenvalues.
    affines = g.synthesis.style_affines()
    a = torch.cat([fc.scaled()[0] for _, fc, wi in affines if layers[0] <= wi <= layers[1]]).double()
    m = a.T @ a
    values = torch.from_numpy(found.values).double()
    assert torch.allclose(v @ m, values[:, None] * v, rtol=1e-3, atol=1e-3 * float(values[0]))
    top = torch.linalg.eigvalsh(m)[-count:].flip(0)
    assert torch.allclose(values, top, rtol=1e-4)


def test_sefa_directions_are_unit_eigenvectors_ordered_by_eigenvalue_tiny():
    torch.manual_seed(0)
    _check_sefa(CREPSGenerator(TINY), 6, (1, 5))


def test_sefa_on_the_released_256_config_every_layer_reaches_an_affine():
    torch.manual_seed(0)
    g = CREPSGenerator(PAPER_CONFIGS[256])
    rows = sorted({wi for _, _, wi in g.synthesis.style_affines()})
    assert rows == list(range(g.cfg.num_ws)) and g.cfg.num_ws == 15
    _check_sefa(g, 8, (0, g.cfg.num_ws - 1))
    _check_sefa(g, 4, (3, 6))


def test_directions_file_round_trips_and_pca_amount_is_in_sigmas(tmp_path, tiny_ckpt, sefa_file):
    found = load_directions(sefa_file, NUM_WS, W_DIM)
    assert found.names == tuple(f"sefa{i}" for i in range(5)) and found.layers == ((2, 6),) * 5
    assert found.method == "sefa" and found.vectors.shape == (5, W_DIM)
    out = tmp_path / "pca.npz"
    assert main(["directions", str(out), "-c", str(tiny_ckpt), "--method", "pca", "--count", "3",
                 "--names", "a,b,c"]) == 0
    pcs = load_directions(out, NUM_WS, W_DIM)
    assert pcs.names == ("a", "b", "c") and pcs.layers == ((0, NUM_WS - 1),) * 3
    assert np.allclose(np.linalg.norm(pcs.vectors, axis=1), pcs.values, rtol=1e-5)  # one sigma long


# ----- rendering with directions, mixing and ws -----------------------------------------------------
def test_amount_zero_gives_identical_pixels(tmp_path, tiny_ckpt, sefa_file):
    base = ["render", "-c", str(tiny_ckpt), "--seeds", "4", "--size", "24x20"]
    assert main([*base, "--outdir", str(tmp_path / "a")]) == 0
    assert main([*base, "--direction", f"{sefa_file}:sefa0:0", "--outdir", str(tmp_path / "b")]) == 0
    assert main([*base, "--direction", f"{sefa_file}:sefa0:4", "--outdir", str(tmp_path / "c")]) == 0
    a, b, c = (pixels(tmp_path / d / "seed0004.png") for d in "abc")
    assert (a == b).all() and not (a == c).all()


def test_direction_layers_limit_where_it_acts():
    v = Floats.of(np.arange(W_DIM, dtype=np.float32))
    offset = DirectionEdit("x", 2.0, v, (3, 5)).offset(NUM_WS, W_DIM)
    assert (offset[3:6] == 2 * v.tensor()).all() and not offset[:3].any() and not offset[6:].any()


@pytest.mark.parametrize("options", [
    ["--direction", "{dirs}:sefa1:3.5:1-4", "--direction", "{dirs}:2:-2"],
    ["--mix", "9:2-5"],
    ["--ws", "{ws}", "--mix", "3:0-1", "--direction", "{dirs}:0:1.5"],
])
def test_direction_mix_and_ws_renders_re_render_identically_from_their_provenance(tmp_path, tiny_ckpt, sefa_file,
                                                                                   options):
    ws_file = tmp_path / "w.npz"
    save_ws(ws_file, np.random.RandomState(1).randn(NUM_WS, W_DIM).astype(np.float32))
    argv = [o.format(dirs=sefa_file, ws=ws_file) for o in options]
    assert main(["render", "-c", str(tiny_ckpt), "--seeds", "6", "--size", "24x20", *argv,
                 "--outdir", str(tmp_path / "a")]) == 0
    png = next((tmp_path / "a").glob("*.png"))
    plain = tmp_path / "plain"
    assert main(["render", "-c", str(tiny_ckpt), "--seeds", "6", "--size", "24x20", "--outdir", str(plain)]) == 0
    assert not (pixels(png) == pixels(plain / "seed0006.png")).all()  # the options changed the image
    # The files that made it are gone: the record carries the vectors themselves.
    sefa_copy = sefa_file.read_bytes()
    ws_file.unlink()
    sefa_file.unlink()
    try:
        assert main(["render", "--from", str(png), "--outdir", str(tmp_path / "b")]) == 0
    finally:
        sefa_file.write_bytes(sefa_copy)
    again = tmp_path / "b" / png.name
    assert (pixels(again) == pixels(png)).all()
    rec = read_record(again)
    if "--mix" in options:
        assert rec.latent.mix_seed in (9, 3)
    assert len(rec.latent.edits) == sum(o == "--direction" for o in options)


def test_export_takes_directions_and_re_exports_them_from_its_record(tmp_path, tiny_ckpt, sefa_file):
    out = tmp_path / "e.png"
    assert main(["export", str(out), "-c", str(tiny_ckpt), "--size", "48x32", "--tile", "16",
                 "--direction", f"{sefa_file}:0:3", "--mix", "2:4-8"]) == 0
    rec = read_record(out)
    assert rec.latent.edits[0].name == "sefa0" and rec.latent.mix_layers == (4, 5, 6, 7, 8)
    again = tmp_path / "again.png"
    assert main(["export", str(again), "--from", str(out), "--tile", "16"]) == 0
    assert (pixels(again) == pixels(out)).all()


def test_save_ws_then_ws_renders_the_same_image(tmp_path, tiny_ckpt, sefa_file):
    assert main(["render", "-c", str(tiny_ckpt), "--seeds", "2", "--trunc", "0.7", "--mix", "5:1-3",
                 "--direction", f"{sefa_file}:1:2", "--save-ws", "--size", "24x20", "--outdir", str(tmp_path)]) == 0
    with np.load(tmp_path / "seed0002.npz", allow_pickle=False) as d:
        assert d["w"].shape == (1, NUM_WS, W_DIM) and d["w"].dtype == np.float32
    assert main(["render", "-c", str(tiny_ckpt), "--ws", str(tmp_path / "seed0002.npz"), "--size", "24x20",
                 "--outdir", str(tmp_path / "b")]) == 0
    assert (pixels(tmp_path / "b" / "seed0002.png") == pixels(tmp_path / "seed0002.png")).all()


# ----- grids and sweeps --------------------------------------------------------------------------
def test_grid_image_size_and_cells(tmp_path, tiny_ckpt):
    assert main(["render", "-c", str(tiny_ckpt), "--seeds", "0-4", "--grid", "3x2", "--size", "20x12",
                 "--outdir", str(tmp_path / "g")]) == 0
    assert sorted(p.name for p in (tmp_path / "g").iterdir()) == ["grid-seeds0-4.png"]
    grid = pixels(tmp_path / "g" / "grid-seeds0-4.png")
    assert grid.shape == (2 * 12, 3 * 20, 3)
    assert not grid[12:, 40:].any()  # the sixth cell is empty
    assert main(["render", "-c", str(tiny_ckpt), "--seeds", "4", "--size", "20x12",
                 "--outdir", str(tmp_path / "s")]) == 0
    assert (grid[12:, 20:40] == pixels(tmp_path / "s" / "seed0004.png")).all()  # row-major
    grid_file = tmp_path / "g" / "grid-seeds0-4.png"
    assert main(["render", "--from", str(grid_file), "--outdir", str(tmp_path / "again")]) == 0
    assert (pixels(tmp_path / "again" / "grid-seeds0-4.png") == grid).all()


def test_sweep_writes_pngs_named_by_the_swept_value(tmp_path, tiny_ckpt):
    assert main(["render", "-c", str(tiny_ckpt), "--seeds", "1,3", "--sweep", "trunc=0:1:5", "--size", "16x16",
                 "--outdir", str(tmp_path)]) == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    values = ["0.00", "0.25", "0.50", "0.75", "1.00"]
    assert names == [f"seed{s:04d}-trunc{v}.png" for s in (1, 3) for v in values]
    psis = [read_record(tmp_path / f"seed0003-trunc{v}.png").latent.psi for v in values]
    assert psis == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert main(["render", "-c", str(tiny_ckpt), "--seeds", "3", "--size", "16x16",
                 "--outdir", str(tmp_path / "p")]) == 0
    assert (pixels(tmp_path / "seed0003-trunc1.00.png") == pixels(tmp_path / "p" / "seed0003.png")).all()


def test_sweep_of_a_direction_amount_as_a_grid(tmp_path, tiny_ckpt, sefa_file):
    assert main(["render", "-c", str(tiny_ckpt), "--seeds", "0,1", "--direction", f"{sefa_file}:0:0",
                 "--sweep", "amount=-4:4:3", "--grid", "3x2", "--size", "16x16", "--outdir", str(tmp_path)]) == 0
    grid = pixels(tmp_path / "grid-seeds0-1-amount-4.00-4.00x3.png")
    assert grid.shape == (32, 48, 3)
    assert main(["render", "-c", str(tiny_ckpt), "--seeds", "1", "--size", "16x16",
                 "--outdir", str(tmp_path / "p")]) == 0
    assert (grid[16:, 16:32] == pixels(tmp_path / "p" / "seed0001.png")).all()  # amount 0, second row
    assert not (grid[16:, :16] == grid[16:, 16:32]).all()


def test_video_writes_a_png_sequence_that_re_renders_frame_by_frame(tmp_path, tiny_ckpt, sefa_file):
    pattern = tmp_path / "frames" / "walk-%04d.png"
    assert main(["video", str(pattern), "-c", str(tiny_ckpt), "--preset", "walk", "--seeds", "0,1",
                 "--duration", "0.5", "--fps", "10", "--size", "24x20", "--mix", "3:5-8"]) == 0
    names = sorted(p.name for p in pattern.parent.iterdir())
    assert names == [f"walk-{i:04d}.png" for i in range(5)]  # round(0.5 s x 10 fps), nothing else
    frame = pattern.parent / "walk-0002.png"
    rec = read_record(frame)
    assert rec.extra["frame"] == 2 and rec.latent.ws is not None  # a spline frame: its ws, exactly
    assert main(["render", "--from", str(frame), "--outdir", str(tmp_path / "again")]) == 0
    assert (pixels(next((tmp_path / "again").glob("*.png"))) == pixels(frame)).all()


@pytest.mark.parametrize("name", ["walk-%04d%d.png", "walk-%s.png", "walk-%04d.jpg"])
def test_bad_png_sequence_names_are_one_line(tmp_path, tiny_ckpt, capsys, name):
    assert main(["video", str(tmp_path / name), "-c", str(tiny_ckpt), "--preset", "zoom"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and list(tmp_path.iterdir()) == []


# ----- the command line's values -------------------------------------------------------------------
def test_option_values_parse_and_refuse():
    d = parse_direction("C:/my dirs/a.npz:smile:-2.5:4-8")
    assert (d.path, d.key, d.amount, d.layers) == ("C:/my dirs/a.npz", "smile", -2.5, (4, 8))
    assert parse_direction("b.npy:0:1").layers is None
    m = parse_mix("7:3")
    assert (m.seed, m.layers) == (7, (3, 3))
    s = parse_sweep("zoom=1:4:4")
    assert s.values() == [1.0, 2.0, 3.0, 4.0]
    for bad in ("a.txt:0:1", "a.npz:0", "a.npz:0:nan", "a.npz:0:1:5-2", "a.npz:0:1:2:3"):
        with pytest.raises(UsageError):
            parse_direction(bad)
    for bad in ("trunc=0:1:1", "trunc=0:1:100000", "zoom=0:1:3", "psi=0:1:3", "trunc=0:1"):
        with pytest.raises(UsageError):
            parse_sweep(bad)
    with pytest.raises(UsageError):
        parse_mix("7")


def test_latent_spec_carries_vectors_exactly_and_bounded():
    v = np.random.RandomState(0).randn(W_DIM).astype(np.float32)
    spec = LatentSpec(seed=3, ws=Floats.of(np.ones((NUM_WS, W_DIM))),
                      edits=(DirectionEdit("x", 1.25, Floats.of(v), (1, 2), "f.npz:x"),))
    again = LatentSpec.from_dict(spec.to_dict())
    assert again == spec and hash(again) == hash(spec) and (again.edits[0].vector.array() == v).all()
    with pytest.raises(ValueError, match="at most"):
        LatentSpec(edits=(DirectionEdit("x", 1.0, Floats.of(np.zeros((64, 2048)))),) * 2)
    with pytest.raises(ValueError, match="NaN"):
        Floats.of(np.array([1.0, np.nan]))


# ----- hostile and damaged files ---------------------------------------------------------------------
def _npz(path, **arrays):
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    path.write_bytes(buffer.getvalue())
    return path


def _claims_huge_shape(path):
    """A valid .npz whose 'vectors' header claims 2^40 floats but holds 16 bytes."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (1 << 20, 1 << 20)})
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("vectors.npy", header.getvalue() + b"\0" * 16)
        z.writestr("names.npy", _npy(np.array(["a"])))
    return path


def _npy(a):
    buffer = io.BytesIO()
    np.save(buffer, a)
    return buffer.getvalue()


GOOD = dict(vectors=np.ones((2, W_DIM), np.float32), names=np.array(["a", "b"]))
HOSTILE = {
    "object array": (lambda p: _npz(p, vectors=np.array([{"x": 1}, None], dtype=object), names=GOOD["names"]),
                     "Python objects"),
    "wrong shape": (lambda p: _npz(p, vectors=np.ones((2, W_DIM + 1), np.float32), names=GOOD["names"]),
                    r"'vectors' is \[2, 33\]"),
    "NaN": (lambda p: _npz(p, vectors=np.full((2, W_DIM), np.nan, np.float32), names=GOOD["names"]), "NaN"),
    "huge claimed shape": (_claims_huge_shape, "claims"),
    "integer vectors": (lambda p: _npz(p, vectors=np.ones((2, W_DIM), np.int64), names=GOOD["names"]), "floats"),
    "names not text": (lambda p: _npz(p, vectors=GOOD["vectors"], names=np.array([1.0, 2.0])), "'names' must be text"),
    "repeated names": (lambda p: _npz(p, vectors=GOOD["vectors"], names=np.array(["a", "a"])), "repeats"),
    "layers out of range": (lambda p: _npz(p, **GOOD, layers=np.array([[0, 1], [2, 99]])), "2-99"),
    "unknown array": (lambda p: _npz(p, **GOOD, payload=np.zeros(3)), "unexpected array 'payload'"),
    "not a zip": (lambda p: p.write_bytes(b"PK\x03\x04 not really"), "not an .npz"),
    "too many arrays": (lambda p: _npz(p, **{f"a{i}": np.zeros(1) for i in range(40)}), "at most 16"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_direction_files_are_one_clear_line(tmp_path, tiny_ckpt, capsys, case):
    make, message = HOSTILE[case]
    bad = tmp_path / "bad.npz"
    make(bad)
    before = bad.read_bytes()
    with pytest.raises(LatentFileError, match=message):
        load_directions(bad, NUM_WS, W_DIM)
    out = tmp_path / "out"
    assert main(["render", "-c", str(tiny_ckpt), "--direction", f"{bad}:0:1", "--outdir", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(bad) in err and "Traceback" not in err
    assert bad.read_bytes() == before and not out.exists()


@pytest.mark.parametrize("arrays,message", [
    ({"w": np.ones((2, NUM_WS, W_DIM), np.float32)}, r"'w' is \[2,"),
    ({"w": np.ones((NUM_WS, W_DIM), np.float32) * np.inf}, "infinite"),
    ({"w": np.array([None], dtype=object)}, "Python objects"),
    ({"z": np.ones((NUM_WS, W_DIM), np.float32)}, "named 'w'"),
])
def test_bad_ws_files_are_one_clear_line(tmp_path, tiny_ckpt, capsys, arrays, message):
    bad = _npz(tmp_path / "w.npz", **arrays)
    with pytest.raises(LatentFileError, match=message):
        load_ws(bad, NUM_WS, W_DIM)
    assert main(["render", "-c", str(tiny_ckpt), "--ws", str(bad), "--outdir", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "w.npz" in err and "Traceback" not in err


def test_ganspace_and_interfacegan_npy_import(tmp_path, tiny_ckpt):
    boundary = tmp_path / "smile_boundary.npy"  # InterfaceGAN: [1, w_dim]
    b = np.random.RandomState(2).randn(1, W_DIM).astype(np.float32)
    np.save(boundary, b)
    comps = tmp_path / "ganspace.npy"  # GANSpace: [K, 1, w_dim]
    np.save(comps, np.random.RandomState(3).randn(4, 1, W_DIM))
    assert load_directions(comps, NUM_WS, W_DIM).vectors.shape == (4, W_DIM)
    out = tmp_path / "imported.npz"
    assert main(["directions", str(out), "-c", str(tiny_ckpt), "--import", str(boundary), "--names", "smile",
                 "--layers", "0-3"]) == 0
    found = load_directions(out, NUM_WS, W_DIM)
    assert found.names == ("smile",) and found.layers == ((0, 3),) and (found.vectors == b).all()
    # --direction reads the .npy itself too, and gives the same pixels as the converted file.
    base = ["render", "-c", str(tiny_ckpt), "--seeds", "1", "--size", "16x16"]
    assert main([*base, "--direction", f"{boundary}:0:2:0-3", "--outdir", str(tmp_path / "a")]) == 0
    assert main([*base, "--direction", f"{out}:smile:2", "--outdir", str(tmp_path / "b")]) == 0
    assert (pixels(tmp_path / "a" / "seed0001.png") == pixels(tmp_path / "b" / "seed0001.png")).all()
    np.save(tmp_path / "wrong.npy", np.ones((2, 3, W_DIM)))
    with pytest.raises(LatentFileError, match=r"\[2, 3, 32\]"):
        load_directions(tmp_path / "wrong.npy", NUM_WS, W_DIM)


def test_save_directions_writes_atomically_what_it_reads(tmp_path):
    out = save_directions(tmp_path / "d.npz", ["up"], np.ones((1, NUM_WS, W_DIM)), [(1, 2)], method="hand")
    found = load_directions(out, NUM_WS, W_DIM)
    assert found.vectors.shape == (1, NUM_WS, W_DIM) and found.layers == ((1, 2),) and found.method == "hand"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.npz"]


def test_pca_amounts_of_files_written_before_the_rename_still_open():
    """Workspaces and records before 0.2 called the PCA amounts ``directions``."""
    from creps_core.latent.latents import LatentSpec

    old = LatentSpec.from_dict({"seed": 1, "directions": [[0, 1.5], [2, -1]]})
    assert old.pca_amounts == ((0, 1.5), (2, -1.0)) and "pca_amounts" in old.to_dict()
    assert LatentSpec.from_dict(old.to_dict()) == old
