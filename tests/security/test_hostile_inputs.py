"""Hostile values at every boundary besides the unpickler (tests/test_hostile_pickles.py) end in one
clear line, exit 1 (or 2 for usage), no traceback, nothing written and every input file unchanged.

Classes of the attack (issue 10): 5 bounds, 6 wrong types and non-finite values, 7 psi that would
silently give a black image, 9 messages that did not say what was wrong.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import struct

import pytest
import torch

from creps_core.cli.main import main

from .. import official_pickle as op
from ..core_fixtures import golden, golden_state


def exit_code(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as e:  # argparse's usage errors
        return e.code


def _digest(paths) -> dict:
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


def refused(tmp_path, capsys, argv: list[str], code: int, message: str, inputs=(), leaves=()) -> str:
    """Run ``creps ARGV`` and assert it was refused as the user should see it; returns the error line.
    ``leaves``: names allowed in the output folder afterwards (an export's work folder)."""
    out = tmp_path / "OUT"
    out.mkdir(exist_ok=True)
    before = _digest(inputs)
    capsys.readouterr()
    assert exit_code([a.replace("OUT", str(out)) for a in argv]) == code
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert "Traceback" not in err and lines and message in lines[-1], err[-600:]
    if code == 1:  # usage errors (2) come with argparse's usage line first
        assert len(lines) == 1, err[-600:]
    assert sorted(p.name for p in out.iterdir()) == sorted(leaves)
    assert _digest(inputs) == before
    return lines[-1]


# ----- 5: bounds ---------------------------------------------------------------------------------
@pytest.mark.parametrize("argv,code,message", [
    (["video", "OUT/v.mp4", "--preset", "orbit", "--turns", "1e12", "--size", "32x32"], 1, "orbit turns"),
    (["video", "OUT/v.mp4", "--preset", "orbit", "--turns", "nan", "--size", "32x32"], 2, "finite"),
    (["bench", "--size", "100000x100000"], 2, "too large to hold in memory"),
    (["bench", "--size", "16x16", "--repeat", "1000000000"], 2, "at most 1000"),
    (["export", "OUT/x.tif", "--size", "64x64", "--workers", "-2"], 2, "at least 1"),
    (["export", "OUT/x.tif", "--size", "64x64", "--tile", "99999999999999999999"], 1, "tile size"),
    (["render", "--seeds", "99999999999999999999", "--outdir", "OUT"], 2, "[0, 2^32)"),
], ids=["turns-huge", "turns-nan", "bench-size", "bench-repeat", "workers-negative", "tile-huge", "seed-overflow"])
def test_values_out_of_bounds_are_refused_before_any_work(tmp_path, capsys, tiny_ckpt, argv, code, message):
    refused(tmp_path, capsys, argv + ["-c", str(tiny_ckpt)], code, message, [tiny_ckpt])


# ----- 6: wrong types, non-finite values, impossible places -------------------------------------
KEYFRAME = {"view": {"width": 32, "height": 32}, "latent": {"seed": 1}}


@pytest.mark.parametrize("spec,message", [
    ([1, 2], "needs a 'keyframes' list"),
    ({"keyframes": [KEYFRAME], "width": 32, "height": 32, "fps": "x"}, "fps must be a number"),
    ({"keyframes": [KEYFRAME, {"view": KEYFRAME["view"]}], "width": 32, "height": 32}, "keyframe 1 needs"),
    ({"keyframes": [KEYFRAME, dict(KEYFRAME, duration="2")], "width": 32, "height": 32}, "keyframe 1 duration"),
    ({"keyframes": [KEYFRAME], "width": 32.5, "height": 32}, "width must be a whole number"),
    ({"keyframes": [{"view": {"width": 32, "height": 32, "zoom": "big"}, "latent": {"seed": 1}}], "width": 32,
      "height": 32}, "zoom"),
    ({"keyframes": [{"view": KEYFRAME["view"], "latent": {"seed": 1, "psi": 1e300}}], "width": 32, "height": 32},
     "psi"),
], ids=["not-a-dict", "fps-string", "no-latent", "duration-string", "width-float", "zoom-string", "psi-huge"])
def test_malformed_keyframe_files_name_the_file_and_field(tmp_path, capsys, tiny_ckpt, spec, message):
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    line = refused(tmp_path, capsys, ["video", "OUT/v.mp4", "--keyframes", str(path), "-c", str(tiny_ckpt)], 1,
                   message, [path, tiny_ckpt])
    assert str(path) in line


def test_a_keyframe_file_with_nan_is_refused(tmp_path, capsys, tiny_ckpt):
    path = tmp_path / "spec.json"
    path.write_text('{"keyframes": [], "width": 32, "height": 32, "fps": NaN}')
    refused(tmp_path, capsys, ["video", "OUT/v.mp4", "--keyframes", str(path), "-c", str(tiny_ckpt)], 1, "NaN",
            [path])


def _snapshot_with(tmp_path, damage) -> object:
    g = golden("small64_golden.npz")
    snap = op.official_snapshot(golden_state(g), g["meta"]["G_init_kwargs"])
    damage(snap["G_ema"].meta["state"])
    path = tmp_path / "damaged.pkl"
    with op._stand_in_modules(), open(path, "wb") as f:
        pickle.dump(snap, f, protocol=4)
    return path


@pytest.mark.parametrize("damage,message", [
    (lambda st: st.update(_init_kwargs=[1, 2]), "_init_kwargs is a list"),
    (lambda st: st.update(_init_args="abc"), "_init_args is a str"),
    (lambda st: st["_init_kwargs"].update(mapping_kwargs=3), "mapping_kwargs is a int"),
    (lambda st: st["_init_kwargs"].update(z_dim=float("nan")), "z_dim must be a whole number"),
    (lambda st: st["_init_kwargs"].update(w_dim="abc"), "w_dim must be a whole number"),
    (lambda st: st.update(_modules=[1]), "_modules is not a dict"),
    (lambda st: st["_modules"]["mapping"].meta["state"].update(_parameters=[1]), "_parameters is not a dict"),
    (lambda st: st.update(_non_persistent_buffers_set="abc"), "_non_persistent_buffers_set is not a set"),
], ids=["init-kwargs-list", "init-args-str", "mapping-kwargs-int", "z-dim-nan", "w-dim-str", "modules-list",
        "parameters-list", "buffer-set-str"])
def test_loader_records_of_the_wrong_type_are_one_line(tmp_path, capsys, damage, message):
    path = _snapshot_with(tmp_path, damage)
    line = refused(tmp_path, capsys, ["info", str(path)], 1, message, [path])
    assert str(path) in line


@pytest.mark.parametrize("dtype", [torch.float8_e4m3fn, torch.float8_e5m2])
def test_weights_stored_in_eight_bit_floats_are_widened(tmp_path, dtype):
    """safetensors F8_E4M3 / F8_E5M2 tensors (a traceback before): loaded as float32."""
    from safetensors.torch import save_file

    from creps_core.model.checkpoint import load_checkpoint
    from creps_core.model.network import CREPSGenerator

    from ..core_fixtures import TINY

    state = {k: v.contiguous() for k, v in CREPSGenerator(TINY).state_dict().items()}
    state["mapping.fc0.weight"] = state["mapping.fc0.weight"].to(dtype)
    path = tmp_path / "f8.safetensors"
    save_file(state, str(path), metadata={"creps_config": json.dumps(TINY.to_dict())})
    model = load_checkpoint(path)
    assert model.state["mapping.fc0.weight"].dtype == torch.float32
    assert torch.equal(model.state["mapping.fc0.weight"], state["mapping.fc0.weight"].float())


def test_an_unknown_tensor_dtype_is_one_line(tmp_path, capsys):
    header = json.dumps({"x": {"dtype": "F9_E9M9", "shape": [2], "data_offsets": [0, 2]}}).encode()
    path = tmp_path / "odd.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\0\0")
    line = refused(tmp_path, capsys, ["info", str(path)], 1, "truncated or corrupt", [path])
    assert str(path) in line


@pytest.mark.parametrize("argv,message", [
    (["render", "--size", "32x32", "--device", "tpu", "--outdir", "OUT"], "unknown device 'tpu'"),
    (["export", "OUT/x.tif", "--size", "32x32", "--device", "quantum:3"], "unknown device"),
    (["render", "--size", "32x32", "--outdir", "FILE"], "not a folder"),
    (["export", "FILE/x.tif", "--size", "32x32"], "is not a folder"),
    (["export", "OUT/x.tif", "--size", "32x32", "--scheduler", "tcp://127.0.0.1:9"], "cannot reach the Dask scheduler"),
], ids=["device-tpu", "device-unknown", "outdir-is-a-file", "export-into-a-file", "scheduler-unreachable"])
def test_impossible_places_and_devices_are_one_line(tmp_path, capsys, tiny_ckpt, argv, message):
    afile = tmp_path / "afile"
    afile.write_text("mine")
    argv = [a.replace("FILE", str(afile)) for a in argv] + ["-c", str(tiny_ckpt)]
    refused(tmp_path, capsys, argv, 1, message, [afile, tiny_ckpt])


# ----- 7: psi that would give an all-black image -------------------------------------------------
@pytest.mark.parametrize("psi,code,message", [("inf", 2, "finite"), ("1e308", 1, "psi"), ("-1e300", 1, "psi")])
def test_psi_that_overflows_is_refused(tmp_path, capsys, tiny_ckpt, psi, code, message):
    refused(tmp_path, capsys, ["render", f"--trunc={psi}", "--size", "16x16", "--outdir", "OUT", "-c",
                               str(tiny_ckpt)], code, message, [tiny_ckpt])


# ----- 9: messages that say what is wrong, early -------------------------------------------------
def test_a_bogus_compression_is_refused_before_any_tile(tmp_path, capsys, tiny_ckpt):
    refused(tmp_path, capsys, ["export", "OUT/x.tif", "--size", "64x64", "--compression", "bogus", "-c",
                               str(tiny_ckpt)], 2, "invalid choice: 'bogus'", [tiny_ckpt])


def test_too_little_disk_space_says_how_much_in_readable_units(tmp_path, capsys, tiny_ckpt, monkeypatch):
    import shutil

    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage._replace(free=1000))
    line = refused(tmp_path, capsys, ["export", "OUT/x.tif", "--size", "64x64", "-c", str(tiny_ckpt)], 1,
                   "the work files need 12.0 KiB, 1000 bytes are free", [tiny_ckpt], leaves=[".x.tif.partial"])
    assert "0.0 GiB" not in line
