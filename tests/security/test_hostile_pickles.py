"""Pickles that attack the unpickler itself (not by naming code, which the allow-list refuses, but by
corrupting memory, overflowing the C stack or claiming huge memo tables) end in one line, exit 1.

Each case runs `creps info` in a child process, so a crash would show as a signal, not kill the suite.
"""

from __future__ import annotations

import hashlib
import struct
import subprocess

import pytest

from ..bounded import run_bounded

PROTO = b"\x80\x02"


def mutated_dtype_scalar() -> bytes:
    """numpy.dtype('f8') given a 2 GiB item size by BUILD, then a numpy scalar read through it."""
    dtype = b"cnumpy\ndtype\n" + b"X\x02\x00\x00\x00f8" + b"\x89\x88\x87R"  # dtype('f8', False, True)
    state = b"(K\x03X\x01\x00\x00\x00<NNN" + b"J" + struct.pack("<i", 2**31 - 1) + b"K\x01K\x00tb"
    return PROTO + b"cnumpy.core.multiarray\nscalar\n" + dtype + state + b"C\x08" + b"\x00" * 8 + b"\x86R."


def subarray_dtype_scalar() -> bytes:
    """The same with a subarray dtype spec asked for directly."""
    dtype = b"cnumpy\ndtype\n" + b"X\x09\x00\x00\x00(1000,)f8" + b"\x89\x88\x87R"
    return PROTO + b"cnumpy.core.multiarray\nscalar\n" + dtype + b"C\x08" + b"\x00" * 8 + b"\x86R."


def deep_tuple_key(depth: int = 200_000) -> bytes:
    """{((((None,),),)...): None}: hashing the key recurses in C once per level."""
    return PROTO + b"}N" + b"\x85" * depth + b"Ns."


def memo_far_ahead() -> bytes:
    """LONG_BINPUT 2^28: the C unpickler grows its memo table to that many slots."""
    return PROTO + b"N" + b"r" + struct.pack("<I", 2**28) + b"."


def deep_lists(depth: int = 50_000) -> bytes:
    """A list nested 50,000 deep (RecursionError territory when freed or printed)."""
    return PROTO + b"]" * depth + b"a" * (depth - 1) + b"."


def inflating_legacy_storage(numel: int = 3 << 28) -> bytes:
    """A storage blob in torch's legacy format (the one official pickles hold) declaring 3 GiB of
    floats but storing 16 bytes: torch would allocate the declared size before reading."""
    import io
    import pickle

    import torch

    storage = object()

    class Declares(pickle.Pickler):
        def persistent_id(self, obj):
            return ("storage", torch.FloatStorage, "0", "cpu", numel, None) if obj is storage else None

    main = io.BytesIO()
    Declares(main, protocol=2).dump(storage)
    info = {"protocol_version": 1001, "little_endian": True, "type_sizes": {"short": 2, "int": 4, "long": 4}}
    blob = b"".join(pickle.dumps(x, protocol=2) for x in (0x1950A86A20F9469CFC6C, 1001, info))
    blob += main.getvalue() + pickle.dumps(["0"], protocol=2) + struct.pack("<q", numel) + b"\0" * 16
    # {'G_ema': torch.storage._load_from_bytes(blob)}, the way official pickles spell a storage
    return (b"\x80\x03}X\x05\x00\x00\x00G_emactorch.storage\n_load_from_bytes\nB" + struct.pack("<I", len(blob))
            + blob + b"\x85Rs.")


def run_info(path) -> subprocess.CompletedProcess:
    """`creps info PATH` in a child with 1 GiB of address space beyond what it maps after importing torch."""
    return run_bounded(["info", str(path)], timeout=120)


def with_a_call_after(attack: bytes, sentinel) -> bytes:
    """(attack, os.system('touch SENTINEL')): a loader that got past the attack would meet code next."""
    call = b"cos\nsystem\n(V" + f"touch {sentinel}".encode() + b"\ntR"
    return attack[:2] + b"(" + attack[2:-1] + call + b"t."


@pytest.mark.parametrize("make", [mutated_dtype_scalar, subarray_dtype_scalar, deep_tuple_key, memo_far_ahead,
                                  deep_lists, inflating_legacy_storage])
def test_hostile_pickle_gives_one_line_and_exit_1(tmp_path, make):
    path, sentinel = tmp_path / "model.pkl", tmp_path / "SENTINEL"
    path.write_bytes(with_a_call_after(make(), sentinel))
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    run = run_info(path)
    assert run.returncode == 1, (run.returncode, run.stderr[-500:])  # not a signal (negative) or a traceback
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and "Traceback" not in run.stderr
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    assert not sentinel.exists()


def test_a_legacy_storage_claiming_more_than_it_holds_is_refused_before_allocation(tmp_path):
    path = tmp_path / "model.pkl"
    path.write_bytes(inflating_legacy_storage())
    assert path.stat().st_size < 400
    run = run_info(path)
    assert run.returncode == 1 and "claims 3221225472 bytes of storage but holds" in run.stderr, run.stderr[-500:]


def test_a_tensor_that_claims_more_values_than_stored_is_refused(tmp_path, monkeypatch):
    """Stride-0 views of one number pass any shape check; they must not pass for weights."""
    import torch

    from creps_core.model.checkpoint import CheckpointError, load_checkpoint

    from ..core_fixtures import golden, golden_state
    from ..official_pickle import write_official_pickle

    g = golden("small64_golden.npz")
    state = golden_state(g)
    w = state["mapping.fc0.weight"]
    expanded = state["mapping.fc0.weight"] = torch.zeros(1).expand(w.shape)
    clone = torch.Tensor.clone  # the writer copies tensors; let this one through as the view it is
    monkeypatch.setattr(torch.Tensor, "clone", lambda t, *a, **k: t if t is expanded else clone(t, *a, **k))
    path = tmp_path / "stride0.pkl"
    write_official_pickle(path, state, g["meta"]["G_init_kwargs"])
    monkeypatch.undo()
    assert path.stat().st_size < 2_500_000  # the file really stores one number for that weight
    with pytest.raises(CheckpointError, match="claims more values"):
        load_checkpoint(path)


@pytest.mark.parametrize("change,message", [({"z_dim": 1 << 24}, "z_dim"), ({"bandwidth": float("nan")}, "bandwidth"),
                                            ({"rank": 2.5}, "rank"), ({"img_resolution": True}, "img_resolution")])
def test_impossible_configs_are_refused_before_allocation(tmp_path, change, message):
    import json

    from safetensors.torch import save_file

    from creps_core.model.checkpoint import CheckpointError, load_checkpoint
    from creps_core.model.network import CREPSConfig

    cfg = CREPSConfig(z_dim=8, w_dim=8, img_resolution=8, mapping_layers=1, channel_base=64, channel_max=8,
                      biline_channels=8).to_dict() | change
    path = tmp_path / "m.safetensors"
    import torch
    save_file({"x": torch.zeros(1)}, str(path), metadata={"creps_config": json.dumps(cfg)})
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(path)


def test_a_module_tree_that_shares_children_is_refused_at_once():
    """30 levels of two references to one child would be walked 2^30 times."""
    from creps_core.model.safe_pickle import ObjectRecord, UnsafePickleError, module_state_dict

    node = ObjectRecord()
    node.state = {"_parameters": {}, "_buffers": {}, "_modules": {}}
    for _ in range(30):
        parent = ObjectRecord()
        parent.state = {"_parameters": {}, "_buffers": {}, "_modules": {"a": node, "b": node}}
        node = parent
    with pytest.raises(UnsafePickleError, match="more than once"):
        module_state_dict(node)


def test_a_compressed_storage_blob_is_refused_before_it_inflates():
    import io
    import pickle
    import zipfile

    from creps_core.model.safe_pickle import UnsafePickleError, _load_storage_bytes

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("archive/data/0", b"\0" * (64 << 20))  # 64 MiB of zeros in a few kB
    blob = buf.getvalue()
    assert len(blob) < 1 << 20
    with pytest.raises(UnsafePickleError, match="compressed"):
        _load_storage_bytes(blob)
    with pytest.raises(pickle.UnpicklingError):
        _load_storage_bytes(b"PK\x03\x04" + b"\0" * 20)
