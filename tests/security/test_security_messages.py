"""Opening a hostile file ends in one clear line, never a traceback, garbage or a silent bad output.

Each test names the item of the security issue it keeps fixed: JSON nested or sized past its
limits (1), damaged PNG text chunks (2), unsupported .npy dtypes (3), latents too large to render
(4), names from files printed or shown raw (5), --class on an unconditional model (6), and other
raw exception types a file value could raise.
"""

from __future__ import annotations

import json
import os
import struct
import zlib

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest

from creps_core.io.untrusted import MAX_JSON_DEPTH, parse_json, printable, read_json
from creps_core.jobs.metadata import read_record

from .test_hostile_inputs import refused

DEEP = "[" * 100_000 + "]" * 100_000


def _chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def png_with(tmp_path, tag: bytes, data: bytes, name: str = "hostile.png"):
    """A 1x1 PNG whose only text chunk is ``tag`` with ``data`` (the keyword included)."""
    path = tmp_path / name
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
                     + _chunk(tag, data) + _chunk(b"IEND", b""))
    return path


# ----- 1: JSON past its depth, size or number range -------------------------------------------
@pytest.mark.parametrize("text,message", [
    (DEEP, f"nested deeper than {MAX_JSON_DEPTH} levels"),
    ("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1), f"nested deeper than {MAX_JSON_DEPTH} levels"),
    ('{"a": {"b": [0, 1e400]}}', "a.b[1] is Infinity, not a finite number"),
    ('{"a": NaN}', "a is NaN, not a finite number"),
    ('[{"a": -Infinity}]', "[0].a is -Infinity, not a finite number"),
    ('{"a": 123456789012345678901234567890}', "a is a number too large to use"),
    ("NaN", "the value is NaN"),
    (b'{"a": "\xff"}', "not UTF-8"),
    ("x" * (1 << 20) + "x", "more than the 1,048,576"),
    ("{", "not valid JSON"),
], ids=["deep", "one-past", "float-overflow", "nan", "infinity", "huge-int", "top-nan", "not-utf8", "too-long",
        "broken"])
def test_json_past_its_limits_is_one_value_error_naming_the_file(text, message):
    with pytest.raises(ValueError) as e:
        parse_json(text, "some.json", 1 << 20)
    line = str(e.value)
    assert line.startswith("some.json: ") and message in line and "\n" not in line


def test_json_within_the_limits_reads_as_before():
    nested = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    assert parse_json(nested, "x", 1 << 10) is not None
    assert parse_json('{"a": [1, 2.5, "b", null, true]}', "x", 100) == {"a": [1, 2.5, "b", None, True]}


def test_read_json_never_reads_past_its_limit(tmp_path):
    path = tmp_path / "big.json"
    path.write_text("[" + "1," * 1000 + "1]")
    with pytest.raises(ValueError, match=f"^{path}: .*more than the 100 "):
        read_json(path, 100)


def test_a_deeply_nested_workspace_is_one_line(tmp_path):
    from creps_viewer.model.workspace import WorkspaceError, load_workspace

    path = tmp_path / "deep.creps.json"
    path.write_text('{"format": "creps-explorer-workspace", "bookmarks": ' + DEEP + "}")
    with pytest.raises(WorkspaceError) as e:
        load_workspace(path)
    assert str(e.value).startswith(f"{path}: ") and "nested deeper" in str(e.value)


def test_a_deeply_nested_workspace_is_said_in_the_window(qtbot, tmp_path, tiny_ckpt):
    from ..viewer_fixtures import make_window

    window = make_window(qtbot, tmp_path, tiny_ckpt)
    path = tmp_path / "deep.creps.json"
    path.write_text(DEEP)
    window.load_workspace(path)  # raised RecursionError out of the slot before: the user saw nothing
    assert window.message.isVisible() and str(path) in window.message.text()
    assert "nested deeper" in window.message.text()


@pytest.mark.parametrize("suffix", [".json", ".mp4"], ids=["json", "sidecar"])
def test_a_deeply_nested_record_or_sidecar_is_one_line(tmp_path, capsys, suffix):
    target = tmp_path / f"made{suffix}"
    record = target if suffix == ".json" else tmp_path / f"made{suffix}.json"
    if suffix != ".json":
        target.write_bytes(b"not a video")
    record.write_text(DEEP)
    line = refused(tmp_path, capsys, ["render", "--from", str(target), "--outdir", "OUT"], 1, "nested deeper",
                   [record])
    assert str(record) in line


def test_a_deeply_nested_png_record_is_one_line(tmp_path, capsys):
    png = png_with(tmp_path, b"tEXt", b"creps\0" + DEEP.encode())
    with pytest.raises(ValueError, match="nested deeper"):
        read_record(png)
    line = refused(tmp_path, capsys, ["render", "--from", str(png), "--outdir", "OUT"], 1, "nested deeper", [png])
    assert str(png) in line


def test_a_record_with_an_overflowing_number_is_one_line(tmp_path, capsys):
    png = png_with(tmp_path, b"tEXt", b'creps\0{"checkpoint": "x", "supersample": 1e999, "latent": {}, "view": {}}')
    line = refused(tmp_path, capsys, ["render", "--from", str(png), "--outdir", "OUT"], 1,
                   "supersample is Infinity, not a finite number", [png])
    assert str(png) in line


def test_deeply_nested_stored_bookmarks_are_dropped_not_raised(qapp, tmp_path):
    from PySide6.QtCore import QSettings

    from creps_viewer.qt.preferences import Preferences

    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.IniFormat)
    settings.setValue("bookmarks/ab", DEEP)
    assert Preferences(settings).bookmarks("ab") == []


def test_a_deeply_nested_dataset_json_is_one_line(tmp_path):
    import numpy as np
    from PIL import Image

    from creps_core.train.dataset import DatasetError, ImageDataset

    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "a.png")
    (tmp_path / "dataset.json").write_text(DEEP)
    with pytest.raises(DatasetError, match=f"^{tmp_path}: dataset.json: .*nested deeper"):
        ImageDataset(tmp_path, 8)
    (tmp_path / "dataset.json").write_text(json.dumps({"labels": [["a.png", 10**300]]}))
    with pytest.raises(DatasetError, match=r"dataset.json: labels\[0\]\[1\] is a number too large to use"):
        ImageDataset(tmp_path, 8)
    (tmp_path / "dataset.json").write_text(json.dumps({"labels": [["a.png", 1e300]]}))  # a float: int() of it
    with pytest.raises(DatasetError, match="has the label 1e[+]300; labels are 0..65535"):
        ImageDataset(tmp_path, 8)


def test_a_deeply_nested_checkpoint_config_is_one_line(tmp_path, capsys):
    from safetensors.torch import save_file

    from creps_core.model.network import CREPSGenerator

    from ..core_fixtures import TINY

    path = tmp_path / "deep.safetensors"
    state = {k: v.contiguous() for k, v in CREPSGenerator(TINY).state_dict().items()}
    save_file(state, str(path), metadata={"creps_config": "[" * 10_000 + "]" * 10_000})  # within its size limit
    line = refused(tmp_path, capsys, ["info", str(path)], 1, "nested deeper", [path])
    assert str(path) in line


# ----- 2: damaged PNG text chunks ------------------------------------------------------------
@pytest.mark.parametrize("tag,data,message", [
    (b"iTXt", b"creps\0", "iTXt) is malformed"),
    (b"iTXt", b"creps\0\0\0no-separators", "iTXt) is malformed"),
    (b"iTXt", b"creps\0\7\0\0\0{}", "iTXt) is malformed"),
    (b"iTXt", b"creps\0\0\0\0\0\xff\xfe", "not UTF-8"),
    (b"iTXt", b"creps\0\1\0\0\0not zlib", "corrupt"),
    (b"zTXt", b"creps\0", "no readable CREPS Explorer metadata"),
    (b"tEXt", b"creps\0{\"checkpoint\": 1}", "no readable CREPS Explorer metadata"),
], ids=["itxt-empty", "itxt-no-fields", "itxt-bad-flag", "itxt-not-utf8", "itxt-not-zlib", "ztxt-empty",
        "text-wrong-type"])
def test_a_malformed_png_text_chunk_is_one_line_naming_the_file(tmp_path, capsys, tag, data, message):
    png = png_with(tmp_path, tag, data)
    line = refused(tmp_path, capsys, ["render", "--from", str(png), "--outdir", "OUT"], 1, message, [png])
    assert str(png) in line


def test_a_damaged_tiff_is_one_line_naming_the_file(tmp_path, capsys):
    tif = tmp_path / "damaged.tif"
    tif.write_bytes(b"II*\0" + struct.pack("<I", 8) + struct.pack("<H", 0xFFFF) + b"\0" * 16)
    line = refused(tmp_path, capsys, ["render", "--from", str(tif), "--outdir", "OUT"], 1, str(tif), [tif])
    assert "Error" not in line.split(str(tif), 1)[0]  # not a raw exception type before the name


def test_printable_escapes_what_would_drive_the_terminal():
    assert printable("smile") == "smile"
    assert printable("a\x1b[2Jb\nc\u202ed\x9b") == "a\\x1b[2Jb\\nc\\u202ed\\x9b"


# ----- 3: dtypes a directions or ws file cannot hold -------------------------------------------
def _npy(path, descr: str, shape: tuple, payload: bytes = b"") -> None:
    """An .npy written by hand: numpy's own writer normalises a sub-array dtype away."""
    header = f"{{'descr': {descr!r}, 'fortran_order': False, 'shape': {shape!r}, }}"
    header += " " * (63 - (len(header) + 10) % 64) + "\n"
    path.write_bytes(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode() + payload)


def _npz(path, members: dict) -> None:
    import zipfile

    with zipfile.ZipFile(path, "w") as z:
        for name, (descr, shape, payload) in members.items():
            one = path.with_name(f"{name}.npy")
            _npy(one, descr, shape, payload)
            z.write(one, f"{name}.npy")
            one.unlink()


@pytest.mark.parametrize("option,members,message", [
    ("--direction", None, "the dtype ('<f4', (32,)) is not supported"),
    ("--direction", {"vectors": ("(100000000,)<f4", (1, 32), b""), "names": ("<U1", (1,), b"a\0\0\0")},
     "the dtype ('<f4', (100000000,)) is not supported"),
    ("--direction", {"vectors": ("<f4", (1, 32), b"\0" * 128), "names": ("<U20000000", (1,), b"")},
     "claims 80,000,000 bytes"),
    ("--direction", {"vectors": ("<M8[s]", (1, 32), b"\0" * 256), "names": ("<U1", (1,), b"a\0\0\0")},
     "the dtype datetime64[s] is not supported"),
    ("--ws", {"w": ("(9,32)<f4", (1,), b"\0" * 1152)}, "the dtype ('<f4', (9, 32)) is not supported"),
], ids=["npy-subarray", "npz-subarray", "text-too-wide", "datetime", "ws-subarray"])
def test_an_unsupported_dtype_is_one_line(tmp_path, capsys, tiny_ckpt, option, members, message):
    if members is None:
        path = tmp_path / "sub.npy"
        _npy(path, "(32,)<f4", (3,), b"\0" * (3 * 32 * 4))
    else:
        path = tmp_path / "sub.npz"
        _npz(path, members)
    value = f"{path}:0:1" if option == "--direction" else str(path)
    line = refused(tmp_path, capsys, ["render", "-c", str(tiny_ckpt), option, value, "--size", "16x16",
                                      "--outdir", "OUT"], 1, message, [path, tiny_ckpt])
    assert str(path) in line


# ----- 4: latents too large to render ----------------------------------------------------------
def _tiny_dims(tiny_ckpt) -> tuple[int, int]:
    from creps_core.model.checkpoint import load_checkpoint

    cfg = load_checkpoint(tiny_ckpt).cfg
    return cfg.num_ws, cfg.w_dim


@pytest.mark.parametrize("value,amount,message", [
    (3e38, 1.5, "array 'vectors' holds values up to 3e+38"),
    (1e300, 1.5, "past float32"),
    (9000.0, 1.5, "direction 'a' at 1.5 takes w to 1.35e+04"),
], ids=["huge", "float64-huge", "amount-past-bound"])
def test_a_direction_too_large_to_render_is_refused_before_rendering(tmp_path, capsys, tiny_ckpt, value, amount,
                                                                     message):
    import numpy as np

    num_ws, w_dim = _tiny_dims(tiny_ckpt)
    path = tmp_path / "big.npz"
    np.savez(path, vectors=np.full((1, w_dim), value, np.float64 if value > 1e38 * 4 else np.float32),
             names=np.array(["a"]))
    line = refused(tmp_path, capsys, ["render", "-c", str(tiny_ckpt), "--direction", f"{path}:0:{amount}",
                                      "--size", "16x16", "--outdir", "OUT"], 1, message, [path, tiny_ckpt])
    assert str(path) in line or "direction 'a'" in line


def test_a_ws_too_large_to_render_is_refused_naming_the_file(tmp_path, capsys, tiny_ckpt):
    import numpy as np

    from creps_core.latent.files import save_ws

    num_ws, w_dim = _tiny_dims(tiny_ckpt)
    path = save_ws(tmp_path / "w.npz", np.full((num_ws, w_dim), 3e38, np.float32))
    line = refused(tmp_path, capsys, ["render", "-c", str(tiny_ckpt), "--ws", str(path), "--size", "16x16",
                                      "--outdir", "OUT"], 1, "array 'w' holds values up to 3e+38", [path, tiny_ckpt])
    assert str(path) in line and "10000" in line


def test_a_psi_that_takes_w_past_the_bound_is_refused(tmp_path, capsys, tiny_ckpt):
    refused(tmp_path, capsys, ["render", "-c", str(tiny_ckpt), "--trunc", "1e6", "--size", "16x16",
                               "--outdir", "OUT"], 1, "truncation psi 1e+06 takes w to", [tiny_ckpt])


def test_a_record_carrying_a_huge_ws_is_refused_before_rendering(tmp_path, capsys, tiny_ckpt):
    import base64

    import numpy as np

    from creps_core.jobs.metadata import RenderRecord
    from creps_core.latent.latents import Floats, LatentSpec
    from creps_core.render.views import View

    num_ws, w_dim = _tiny_dims(tiny_ckpt)
    spec = LatentSpec(ws=Floats.of(np.zeros((num_ws, w_dim))))
    text = RenderRecord(str(tiny_ckpt), "", spec, View(16, 16)).to_json()  # what a real image carries...
    huge = base64.b64encode(np.full((num_ws, w_dim), 3e38, "<f4").tobytes()).decode()
    text = text.replace(spec.ws.to_dict()["float32_base64"], huge)  # ...with its ws changed
    png = png_with(tmp_path, b"tEXt", b"creps\0" + text.encode())
    line = refused(tmp_path, capsys, ["render", "--from", str(png), "--outdir", "OUT"], 1,
                   "a latent vector holds values up to 3e+38", [png, tiny_ckpt])
    assert str(png) in line


# ----- 6: --class on an unconditional model ------------------------------------------------------
def test_a_class_on_an_unconditional_model_is_refused(tmp_path, capsys, tiny_ckpt):
    refused(tmp_path, capsys, ["render", "-c", str(tiny_ckpt), "--class", "3", "--size", "16x16", "--outdir", "OUT"],
            1, "this model is unconditional: it has no class 3", [tiny_ckpt])


# ----- 5: names from files, printed or shown ---------------------------------------------------
CLEAR = "\x1b[2J"  # clears the terminal when printed raw
MARKUP = "<b>x</b>"  # renders bold when Qt takes it for rich text


def test_a_direction_name_that_drives_the_terminal_is_printed_escaped(tmp_path, capsys, tiny_ckpt):
    import numpy as np

    _, w_dim = _tiny_dims(tiny_ckpt)
    path = tmp_path / "names.npz"
    np.savez(path, vectors=np.zeros((2, w_dim), np.float32), names=np.array([f"a{CLEAR}", "b\u202e"]))
    line = refused(tmp_path, capsys, ["render", "-c", str(tiny_ckpt), "--direction", f"{path}:nosuch:1",
                                      "--size", "16x16", "--outdir", "OUT"], 1, "no direction named", [path])
    assert "\x1b" not in line and "\u202e" not in line and "a\\x1b[2J, b\\u202e" in line


def test_a_checkpoints_own_network_name_is_printed_escaped(tmp_path, capsys):
    from safetensors.torch import save_file

    from creps_core.cli.main import main
    from creps_core.model.network import CREPSGenerator

    from ..core_fixtures import TINY

    path = tmp_path / "named.safetensors"
    state = {k: v.contiguous() for k, v in CREPSGenerator(TINY).state_dict().items()}
    save_file(state, str(path), metadata={"creps_config": json.dumps(TINY.to_dict()), "network": f"G{CLEAR}"})
    capsys.readouterr()
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "G\\x1b[2J" in out


@pytest.fixture
def latent_panel(qtbot, tiny_ckpt):
    from creps_core.model.checkpoint import load_checkpoint
    from creps_viewer.model.records import ModelSummary
    from creps_viewer.model.state import ExplorerState
    from creps_viewer.qt.panels.latent import LatentPanel

    model = load_checkpoint(tiny_ckpt)
    c = model.cfg
    state = ExplorerState()
    state.set_model(ModelSummary("tiny", str(model.path), model.sha256, c.num_ws, c.w_dim, c.c_dim,
                                 c.img_resolution, model.num_params))
    panel = LatentPanel(state)
    qtbot.addWidget(panel)
    return panel, c.w_dim


def _shows_literally(label, text: str) -> bool:
    """The label holds ``text`` as plain text, so it is drawn as written (markup and all)."""
    from PySide6.QtCore import Qt

    return label.textFormat() == Qt.PlainText and text in label.text()


def test_direction_names_from_a_file_show_as_text_not_markup(latent_panel, tmp_path):
    import numpy as np
    from PySide6.QtGui import Qt as QtGui

    panel, w_dim = latent_panel
    path = tmp_path / f"{MARKUP.replace('/', '')}.npz"
    np.savez(path, vectors=np.zeros((2, w_dim), np.float32), names=np.array([MARKUP, "<img src=x>"]))
    assert panel.load_directions(path)
    label = panel.direction_rows[0].amount.label
    assert _shows_literally(label, MARKUP)
    assert label.toolTip() == QtGui.convertFromPlainText(MARKUP) and "&lt;b&gt;" in label.toolTip()
    assert _shows_literally(panel.directions_note, "<b>x<b>.npz")
    assert not panel.load_directions(tmp_path / f"{MARKUP.replace('/', '')}-missing.npz")
    assert _shows_literally(panel.directions_note, "<b>x<b>-missing.npz")


def test_a_ws_file_name_shows_as_text_not_markup(latent_panel, tmp_path):
    panel, _ = latent_panel
    path = tmp_path / "<i>w.npz"
    path.write_bytes(b"not a zip")
    assert not panel.import_ws(path)
    assert _shows_literally(panel.ws_note, "<i>w.npz")


def test_names_from_a_workspace_show_as_text_in_the_window(qtbot, tmp_path, tiny_ckpt):
    from PySide6.QtWidgets import QLabel

    from creps_core.latent.latents import LatentSpec
    from creps_viewer.model.records import Bookmark, Geometry

    from ..viewer_fixtures import make_window

    window = make_window(qtbot, tmp_path, tiny_ckpt)
    window.state.set_bookmarks([Bookmark(f"{MARKUP} & more", LatentSpec(), Geometry())])
    entries = [a.text() for a in window.bookmarks_menu.actions()]
    assert f"{MARKUP} && more" in entries  # '&' is not taken for a keyboard mnemonic
    path = tmp_path / "named.creps.json"
    window.save_workspace(path)
    d = json.loads(path.read_text())
    path.write_text(json.dumps(d | {"checkpoint": f"/nowhere/{MARKUP}.pkl"}))
    window.load_workspace(path)  # its model is missing: the message names it
    assert window.message.isVisible() and _shows_literally(window.message.label, f"{MARKUP}.pkl")
    for label in window.findChildren(QLabel):  # nothing in the window renders a name from a file as markup
        if "<b>" in label.text():
            assert _shows_literally(label, "<b>"), label.objectName() or label.text()


# ----- the sweep: raw exception types a file value could raise ----------------------------------
def _damaged_zip(tmp_path, damage: str):
    """A directions file whose first member is damaged in one way zipfile raises on (not BadZipFile)."""
    import numpy as np

    path = tmp_path / f"{damage}.npz"
    np.savez_compressed(path, vectors=np.ones((2, 32), np.float32), names=np.array(["a", "b"]))
    raw = bytearray(path.read_bytes())
    local, central = raw.index(b"PK\x03\x04"), raw.index(b"PK\x01\x02")
    if damage == "deflate":  # the compressed stream itself
        name_length, extra_length = struct.unpack("<HH", raw[local + 26:local + 30])
        start = local + 30 + name_length + extra_length
        raw[start:start + 16] = bytes(b ^ 0x5A for b in raw[start:start + 16])
    elif damage == "method":  # a compression method zipfile lacks (99: AES)
        raw[local + 8:local + 10] = raw[central + 10:central + 12] = struct.pack("<H", 99)
    else:  # "encrypted": zipfile asks for a password
        raw[central + 8] |= 1
    path.write_bytes(raw)
    return path


@pytest.mark.parametrize("damage,message", [("deflate", "decompressing"), ("method", "compression method"),
                                            ("encrypted", "encrypted")])
def test_a_damaged_zip_member_is_one_line_naming_the_file(tmp_path, capsys, tiny_ckpt, damage, message):
    path = _damaged_zip(tmp_path, damage)
    line = refused(tmp_path, capsys, ["render", "-c", str(tiny_ckpt), "--direction", f"{path}:0:1", "--size", "16x16",
                                      "--outdir", "OUT"], 1, message, [path])
    assert f"{path}: array 'vectors' cannot be read" in line and "Error:" not in line.split(str(path))[0]


@pytest.mark.parametrize("latent,message", [
    ({"seed": 1, "mix_layers": 5}, "latent mix_layers must be a list"),
    ({"seed": 1, "mix_layers": [1.5]}, "latent mix layer must be a whole number"),
    ({"seed": 1, "directions": [[1]]}, "latent pca_amounts must be [component, amount] pairs"),
    ({"seed": 1, "pca_amounts": [[1, None]]}, "latent PCA amount must be a finite number"),
    ({"seed": 1, "edits": [{"name": "a"}]}, "a direction edit is an object with a name, an amount and a vector"),
    ({"seed": 1, "edits": [{"name": "a", "amount": 1, "layers": [1], "vector": {}}]},
     "direction 'a': layers must be [first, last]"),
    ({"seed": 1, "edits": [{"name": "a", "amount": None, "vector": {"shape": [1], "float32_base64": "AAAAAA=="}}]},
     "the amount must be a finite number"),
    ({"seed": 1, "edits": [{"name": "x" * 100_000, "amount": 1,
                            "vector": {"shape": [1], "float32_base64": "AAAAAA=="}}]},
     "a direction name is 1..64 characters, got 'xxxxxxxx"),
    ({"seed": 1, "ws": {"shape": ["a"], "float32_base64": ""}}, "a latent vector must be"),
    ({"seed": 1, "ws": {"shape": [10**15, 10**15], "float32_base64": ""}}, "is too large"),
], ids=["mix-not-list", "mix-float", "pair-short", "amount-null", "edit-missing", "layers-short",
        "edit-amount-null", "name-huge", "shape-text", "shape-huge"])
def test_a_malformed_latent_in_a_file_says_which_field(tmp_path, capsys, tiny_ckpt, latent, message):
    """The same line whether the latent comes from a workspace, a keyframe file or an image's record."""
    from creps_viewer.model.workspace import WorkspaceError, load_workspace

    ws = tmp_path / "bad.creps.json"
    ws.write_text(json.dumps({"format": "creps-explorer-workspace", "latent": latent}))
    with pytest.raises(WorkspaceError) as e:
        load_workspace(ws)
    assert str(e.value).startswith(str(ws)) and message in str(e.value) and len(str(e.value)) < 300
    assert not any(kind in str(e.value) for kind in ("IndexError", "KeyError", "AttributeError"))
    spec = tmp_path / "spec.json"  # creps video's keyframes (an IndexError escaped here before)
    spec.write_text(json.dumps({"keyframes": [{"view": {"width": 32, "height": 32}, "latent": latent}],
                                "width": 32, "height": 32}))
    line = refused(tmp_path, capsys, ["video", "OUT/v.mp4", "--keyframes", str(spec), "-c", str(tiny_ckpt)], 1,
                   message, [spec])
    assert str(spec) in line


def test_a_dataset_zip_with_a_name_that_is_not_utf8_is_one_line(tmp_path):
    import zipfile

    from creps_core.train.dataset import DatasetError, ImageDataset

    path = tmp_path / "data.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("a\u00e9.png", b"x")  # flagged UTF-8 in the archive
    path.write_bytes(path.read_bytes().replace("a\u00e9".encode(), b"a\xff\xfe"))
    with pytest.raises(DatasetError, match=f"^{path}: not a readable zip file"):
        ImageDataset(path, 8)


def test_a_damaged_list_of_recent_models_is_left_out(qapp, tmp_path):
    from PySide6.QtCore import QSettings

    from creps_viewer.qt.preferences import Preferences

    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.IniFormat)
    settings.setValue("recent", 5)  # list(5) raised TypeError while the window was being built
    assert Preferences(settings).recent_models() == []
    settings.setValue("recent", ["/a.pkl", 3])
    assert Preferences(settings).recent_models() == ["/a.pkl"]


def test_a_dataset_json_past_its_limit_is_never_read_whole(tmp_path, monkeypatch):
    import zipfile

    import numpy as np
    from PIL import Image

    from creps_core.train import dataset

    monkeypatch.setattr(dataset, "MAX_LABELS_BYTES", 100)
    image = tmp_path / "a.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(image)
    path = tmp_path / "data.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(image, "a.png")
        z.writestr("dataset.json", json.dumps({"labels": [["a.png", 0]] * 1000}))
    with pytest.raises(dataset.DatasetError, match=f"^{path}: dataset.json: 101 bytes, more than the 100 "):
        dataset.ImageDataset(path, 8)


@pytest.mark.parametrize("d", [
    {"width": 8, "height": 8, "center": 3},
    {"width": 8, "height": 8, "center": [1, "x"]},
    {"width": 8, "height": 8, "window": 7},
    {"width": 8, "height": 8, "window": [0, 0, "a", 1]},
    {"width": 8, "height": 8, "warp": [1]},
    {"width": 8, "height": 8, "warp": {"kind": 3}},
    {"width": 8, "height": 8, "warp": {"kind": "swirl", "center": 1}},
    {"width": 8, "height": 8, "warp": {"kind": "swirl", "strength": "x" * 500}},
    [1, 2],
], ids=["center-number", "center-text", "window-number", "window-text", "warp-list", "warp-kind", "warp-center",
        "warp-strength", "not-an-object"])
def test_a_damaged_view_is_one_value_error_naming_the_field(d):
    from creps_core.render.views import View

    with pytest.raises(ValueError) as e:
        View.from_dict(d)
    assert len(str(e.value)) < 200 and "\n" not in str(e.value)


@pytest.mark.parametrize("d,field", [({"latent": {}, "geometry": {}}, "name"),
                                     ({"name": "a", "geometry": {}}, "latent"),
                                     ({"name": "a", "latent": {}, "geometry": 3}, "geometry"), ("x", "object")])
def test_a_damaged_bookmark_names_the_field(d, field):
    from creps_viewer.model.records import Bookmark

    with pytest.raises(ValueError, match=field):
        Bookmark.from_dict(d)
