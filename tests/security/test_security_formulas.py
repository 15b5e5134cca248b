"""A formula warp never runs code, whatever carries it (issue 17).

numexpr's filter was bypassed with quotes and with fullwidth underscores after a backslash-newline;
``NUMEXPR_SANITIZE=0`` switched it off. Every carrier a formula arrives by is tried here with those
texts and a sentinel file that the attack would create: the command line, a PNG's record
(``render --from``), a TIFF's description (``export --from``), ``.dzi.json`` and ``.jpg.json``
sidecars, a keyframes file, a workspace, a settings bookmark and a planted frame in a
``creps video frames/%05d.png`` folder. Each must end in one clear line, with no sentinel, no
traceback and the input files unchanged. The hang (``9**9**9``) and the memory blow-up (a formula
that spreads a 32x32 render over 10^4 coordinates) run in a child process under an address-space
limit.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image, PngImagePlugin

from creps_core.cli.main import main
from creps_core.jobs.metadata import METADATA_KEY, read_record

from ..bounded import run_bounded

ROOT = Path(__file__).resolve().parents[2]
BENIGN = ["y", "x"]


def attacks(sentinel: Path) -> dict[str, str]:
    """The texts that ran code through numexpr, aimed at ``sentinel``."""
    cmd = f"touch {sentinel}"
    return {
        "quotes": f'x if "\'" and x.__init__.__globals__["__builtins__"]["__import__"]("os").system("{cmd}") '
                  'or "\'" else x',
        "fullwidth": "x.\\\n\uff3f\uff3finit\uff3f\uff3f.\uff3f\uff3fglobals\uff3f\uff3f",
        "import": f'__import__("os").system("{cmd}")',
        "lambda": f'(lambda: __import__("os").system("{cmd}"))()',
        "dunder": "x.__class__.__bases__[0].__subclasses__()",
    }


@pytest.fixture(autouse=True)
def numexpr_filter_off(monkeypatch):
    """The environment an attacker would wish for: numexpr's own filter off."""
    monkeypatch.setenv("NUMEXPR_SANITIZE", "0")


def _digest(paths) -> dict:
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


def run_refused(capsys, argv: list[str], inputs: list[Path], sentinel: Path, message: str = "formula") -> str:
    before = _digest(inputs)
    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as e:
        code = e.code
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code in (1, 2), err[-800:]
    assert "Traceback" not in err and lines and message in lines[-1], err[-800:]
    assert not sentinel.exists(), "the formula ran code"
    assert _digest(inputs) == before
    return lines[-1]


@pytest.fixture(scope="module")
def benign_png(tiny_ckpt, tmp_path_factory) -> Path:
    """A render of the tiny model with the formula warp (y, x): the file every carrier is made from."""
    out = tmp_path_factory.mktemp("benign")
    assert main(["render", "-c", str(tiny_ckpt), "--seeds", "1", "--size", "16x16", "--warp", "formula:y;x",
                 "--outdir", str(out)]) == 0
    return out / "seed0001.png"


def record_with(png: Path, formula: str) -> str:
    """The benign PNG's record with its row formula replaced by ``formula``."""
    d = json.loads(Image.open(png).text[METADATA_KEY])
    assert d["view"]["warp"]["formula"] == BENIGN
    d["view"]["warp"]["formula"] = [formula, "x"]
    return json.dumps(d)


def write_png_with_record(path: Path, record: str) -> Path:
    info = PngImagePlugin.PngInfo()
    info.add_text(METADATA_KEY, record)
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(path, pnginfo=info)
    return path


ATTACK_NAMES = list(attacks(Path("s")))


@pytest.mark.parametrize("attack", ATTACK_NAMES)
def test_the_command_line_refuses_a_hostile_formula(tmp_path, capsys, tiny_ckpt, attack):
    sentinel = tmp_path / "PWNED"
    text = attacks(sentinel)[attack]
    run_refused(capsys, ["render", "-c", str(tiny_ckpt), "--size", "16x16", "--warp", f"formula:{text};x",
                         "--outdir", str(tmp_path / "out")], [tiny_ckpt], sentinel)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.parametrize("attack", ATTACK_NAMES)
def test_a_png_record_with_a_hostile_formula_runs_nothing(tmp_path, capsys, benign_png, attack):
    sentinel = tmp_path / "PWNED"
    png = write_png_with_record(tmp_path / "gift.png", record_with(benign_png, attacks(sentinel)[attack]))
    run_refused(capsys, ["render", "--from", str(png), "--outdir", str(tmp_path)], [png], sentinel)
    with pytest.raises(ValueError, match="formula"):  # what the explorer's Open image reads
        read_record(png)
    assert not sentinel.exists()


def test_a_tiff_description_with_a_hostile_formula_runs_nothing(tmp_path, capsys, benign_png):
    sentinel = tmp_path / "PWNED"
    tif = tmp_path / "gift.tif"
    tifffile.imwrite(tif, np.zeros((16, 16, 3), np.uint8), description=record_with(benign_png,
                                                                                  attacks(sentinel)["quotes"]))
    run_refused(capsys, ["export", str(tmp_path / "again.tif"), "--from", str(tif)], [tif], sentinel)


@pytest.mark.parametrize("suffix", [".jpg", ".dzi"])
def test_a_sidecar_with_a_hostile_formula_runs_nothing(tmp_path, capsys, benign_png, suffix):
    sentinel = tmp_path / "PWNED"
    image = tmp_path / f"gift{suffix}"
    image.write_bytes(b"not read")
    sidecar = image.with_name(image.name + ".json")
    sidecar.write_text(record_with(benign_png, attacks(sentinel)["fullwidth"]))
    for path in (image, sidecar):
        run_refused(capsys, ["export", str(tmp_path / "again.tif"), "--from", str(path)], [image, sidecar], sentinel)


def test_a_keyframes_file_with_a_hostile_formula_runs_nothing(tmp_path, capsys, tiny_ckpt):
    sentinel = tmp_path / "PWNED"
    view = {"width": 16, "height": 16, "warp": {"kind": "formula", "strength": 1,
                                               "formula": [attacks(sentinel)["quotes"], "x"]}}
    spec = tmp_path / "keys.json"
    spec.write_text(json.dumps({"keyframes": [{"view": view, "latent": {"seed": 1}}], "width": 16, "height": 16}))
    run_refused(capsys, ["video", str(tmp_path / "v.mp4"), "-c", str(tiny_ckpt), "--keyframes", str(spec)],
                [spec, tiny_ckpt], sentinel)
    assert not (tmp_path / "v.mp4").exists()


def test_a_planted_frame_in_a_video_folder_runs_nothing(tmp_path, capsys, tiny_ckpt, benign_png):
    """The resume check of a PNG-sequence video reads the records of the frames already there."""
    sentinel = tmp_path / "PWNED"
    frames = tmp_path / "frames"
    frames.mkdir()
    planted = write_png_with_record(frames / "00000.png", record_with(benign_png, attacks(sentinel)["quotes"]))
    capsys.readouterr()
    code = main(["video", str(frames / "%05d.png"), "-c", str(tiny_ckpt), "--preset", "zoom", "--size", "16x16",
                 "--duration", "0.1", "--fps", "10"])
    err = capsys.readouterr().err
    assert "Traceback" not in err and not sentinel.exists()
    if code == 0:  # the planted frame is not this job's: re-rendered (the user passed --force) with a clean record
        assert read_record(planted).view.warp is None or read_record(planted).view.warp.kind != "formula"
    else:
        assert code == 1 and len(err.strip().splitlines()) == 1


def test_a_workspace_with_a_hostile_formula_runs_nothing(tmp_path):
    from creps_viewer.model.workspace import FORMAT, VERSION, WorkspaceError, load_workspace

    sentinel = tmp_path / "PWNED"
    for text in attacks(sentinel).values():
        path = tmp_path / "gift.json"
        path.write_text(json.dumps({"format": FORMAT, "version": VERSION, "geometry": {
            "warp": {"kind": "formula", "strength": 1, "formula": [text, "x"]}}}))
        with pytest.raises(WorkspaceError, match="formula"):
            load_workspace(path)
        assert not sentinel.exists()


def test_a_settings_bookmark_with_a_hostile_formula_runs_nothing(tmp_path):
    """A bookmark taken from a workspace is stored in the settings and read again at every start."""
    from PySide6.QtCore import QSettings

    from creps_viewer.qt.preferences import Preferences

    sentinel = tmp_path / "PWNED"
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    good = {"name": "kept", "latent": {"seed": 4}, "geometry": {}}
    bad = {"name": "gift", "latent": {"seed": 5},
           "geometry": {"warp": {"kind": "formula", "strength": 1, "formula": [attacks(sentinel)["quotes"], "x"]}}}
    settings.setValue("bookmarks/abc", json.dumps([good, bad]))
    marks = Preferences(settings).bookmarks("abc")
    assert [m.name for m in marks] == ["kept"] and not sentinel.exists()


def test_no_module_hands_text_to_an_evaluator():
    """eval, exec, compile and numexpr stay out of the packages (a formula is parsed by our grammar)."""
    offenders = []
    for path in list((ROOT / "creps_core").rglob("*.py")) + list((ROOT / "creps_viewer").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in (
                    "eval", "exec", "compile", "__import__"):
                offenders.append(f"{path.name}:{node.lineno} {node.func.id}()")
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) else [])
                if any(n and n.split(".")[0] in ("numexpr", "sympy", "pandas") for n in names):
                    offenders.append(f"{path.name}:{node.lineno} imports {names}")
    assert not offenders, offenders


# ----- hangs and memory: a child process under an address-space limit ----------------------------
@pytest.mark.parametrize("formula,code,message", [
    ("x+9**9**9", 1, "exponent"),
    ("9**9**9**9", 1, "exponent"),
    ("y*1e4", 0, None),               # accepted: lines at the pixels' own coordinates, bounded by the image
    ("y*1e6", 1, "half-widths"),      # reaches past any sane view: refused before any line is computed
    ("y*exp(100*r)", 1, "half-widths"),
    ("y*exp(1000*r)", 1, "not finite"),
    ("x/0", 1, "not finite"),
], ids=["power-tower", "power-tower-4", "far-reach", "too-far", "huge", "overflow", "division"])
def test_hangs_and_huge_tables_are_bounded(tmp_path, tiny_ckpt, formula, code, message):
    run = run_bounded(["render", "-c", str(tiny_ckpt), "--size", "32x32", "--warp", f"formula:{formula};x",
                       "--outdir", str(tmp_path)], env=dict(os.environ, NUMEXPR_SANITIZE="0"))
    assert run.returncode == code, run.stderr[-1500:]
    assert "Traceback" not in run.stderr
    if message:
        assert len(run.stderr.strip().splitlines()) == 1 and message in run.stderr, run.stderr
        assert not list(tmp_path.iterdir())
    else:
        assert (tmp_path / "seed0000.png").is_file()
