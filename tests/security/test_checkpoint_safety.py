"""Hostile and broken checkpoints are refused with one clear error; nothing runs."""

from __future__ import annotations

import io
import os
import pickle
import subprocess

import pytest
import torch

from creps_core.model.checkpoint import CheckpointError, load_checkpoint, save_safetensors
from creps_core.model.safe_pickle import UnsafePickleError, safe_load

from .. import official_pickle as op
from ..core_fixtures import TINY, golden, golden_pickle, golden_state


class Reduce:
    """Pickles as `func(*args)`."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _hostile_payloads(sentinel: str) -> dict[str, object]:
    cmd = f"touch {sentinel}"
    code = f"open({sentinel!r}, 'w').write('pwned')"
    # getattr(__import__('os'), 'system')('touch ...') spelled in raw opcodes.
    getattr_chain = (b"\x80\x02cbuiltins\ngetattr\n(cbuiltins\n__import__\n(Vos\ntRVsystem\ntR(V"
                     + cmd.encode() + b"\ntR.")
    inner = io.BytesIO()
    torch.save(Reduce(os.system, cmd), inner, _use_new_zipfile_serialization=False)
    return {
        "os.system": {"G_ema": Reduce(os.system, cmd)},
        "subprocess.Popen": {"G_ema": Reduce(subprocess.Popen, ["touch", sentinel])},
        "subprocess.call": Reduce(subprocess.call, ["touch", sentinel]),
        "builtins.eval": {"G_ema": Reduce(eval, code)},
        "builtins.exec": Reduce(exec, code),
        "builtins.getattr chain": getattr_chain,
        "builtins.__import__": Reduce(__import__, "os"),
        "nested in a tensor slot": None,  # filled below (needs the writer)
        "storage blob with code": Reduce(torch.storage._load_from_bytes, inner.getvalue()),
        "pickle.loads of a payload": Reduce(pickle.loads, pickle.dumps(Reduce(os.system, cmd))),
        "torch.load": Reduce(torch.load, sentinel),
        "rebuild_tensor with a non-storage": Reduce(torch._utils._rebuild_tensor_v2, cmd, 0, (1,), (1,), False, None),
        "open() to write": Reduce(open, sentinel, "w"),
    }


def _write(path, obj) -> None:
    if isinstance(obj, bytes):
        path.write_bytes(obj)
        return
    with op._stand_in_modules():
        with open(path, "wb") as f:
            pickle.dump(obj, f, protocol=4)


@pytest.fixture
def sentinel(tmp_path):
    s = tmp_path / "SENTINEL"
    yield str(s)
    assert not s.exists(), "a hostile pickle ran code"


def test_hostile_pickles_are_refused_and_run_nothing(tmp_path, sentinel):
    payloads = _hostile_payloads(sentinel)
    # A real-looking snapshot whose weight slot hides a call.
    g = golden("small64_golden.npz")
    state = golden_state(g)
    snap = op.official_snapshot(state, g["meta"]["G_init_kwargs"])
    mapping = snap["G_ema"].meta["state"]["_modules"]["mapping"]
    mapping.meta["state"]["_parameters"]["w_evil"] = Reduce(os.system, f"touch {sentinel}")
    payloads["nested in a tensor slot"] = snap
    assert len(payloads) >= 12
    for name, obj in payloads.items():
        path = tmp_path / f"{name.replace(' ', '_').replace('.', '_')}.pkl"
        _write(path, obj)
        before = path.read_bytes()
        with pytest.raises(CheckpointError) as err:
            load_checkpoint(path)
        msg = str(err.value)
        assert str(path) in msg, name
        assert "unsafe" in msg or "refused" in msg, (name, msg)
        assert path.read_bytes() == before
        assert not os.path.exists(sentinel), name


def test_persistence_meta_source_is_never_executed(tmp_path, sentinel):
    src = f"open({sentinel!r}, 'w').write('pwned')\nclass Generator: pass\n"
    g = golden("small64_golden.npz")
    state = golden_state(g)
    with op._stand_in_modules():
        snap = op.official_snapshot(state, g["meta"]["G_init_kwargs"], module_src=src)
        path = tmp_path / "evil_src.pkl"
        with open(path, "wb") as f:
            pickle.dump(snap, f, protocol=4)
    # The weights are real, so the file opens -- without the source ever running.
    model = load_checkpoint(path)
    assert model.cfg.img_resolution == 64
    # A meta with source but no weights is refused with a clear error.
    with op._stand_in_modules():
        fake = {"G_ema": op.Persistent("Generator", {"_modules": {}, "_init_kwargs": {}}, src)}
        _write(tmp_path / "evil_empty.pkl", fake)
    with pytest.raises(CheckpointError, match="evil_empty.pkl"):
        load_checkpoint(tmp_path / "evil_empty.pkl")


def test_safe_load_refuses_unknown_globals_directly():
    data = pickle.dumps(Reduce(os.getcwd))
    with pytest.raises(UnsafePickleError, match="posix.getcwd|os.getcwd"):
        safe_load(io.BytesIO(data))


def test_pickle_protocol_2_snapshot_opens(tmp_path):
    g = golden("small64_golden.npz")
    path = tmp_path / "p2.pkl"
    op.write_official_pickle(path, golden_state(g), g["meta"]["G_init_kwargs"], protocol=2)
    assert load_checkpoint(path).cfg.num_ws == 11


@pytest.mark.parametrize("case", ["truncated", "empty", "garbage", "not_a_snapshot", "missing_tensor",
                                  "wrong_shape", "no_generator", "nan_weights", "zip"])
def test_broken_official_pickles_give_clear_errors(tmp_path, case):
    path, g = golden_pickle(tmp_path, "small64_golden.npz")
    state, kwargs = golden_state(g), g["meta"]["G_init_kwargs"]
    expect = {
        "truncated": "truncated or corrupt", "empty": "empty", "garbage": "not a CREPS checkpoint",
        "not_a_snapshot": "not a CREPS snapshot", "missing_tensor": "missing tensors: synthesis.b8.fc0.weight",
        "wrong_shape": "has shape", "no_generator": "no G_ema network", "nan_weights": "NaN or Inf",
        "zip": "zip archive",
    }[case]
    if case == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif case == "empty":
        path.write_bytes(b"")
    elif case == "garbage":
        path.write_bytes(os.urandom(1000).replace(b"\x80", b"\x00"))
    elif case == "not_a_snapshot":
        path.write_bytes(pickle.dumps([1, 2, 3]))
    elif case == "missing_tensor":
        del state["synthesis.b8.fc0.weight"]
        op.write_official_pickle(path, state, kwargs)
    elif case == "wrong_shape":
        state["synthesis.b8.fc1.bias"] = torch.zeros(7)
        op.write_official_pickle(path, state, kwargs)
    elif case == "no_generator":
        path.write_bytes(pickle.dumps({"D": 1}))
    elif case == "nan_weights":
        state["mapping.fc0.weight"][0, 0] = float("nan")
        op.write_official_pickle(path, state, kwargs)
    elif case == "zip":
        torch.save({"a": torch.zeros(1)}, path)
    before = path.read_bytes()
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    assert str(path) in str(err.value) and expect in str(err.value), str(err.value)
    assert path.read_bytes() == before


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(CheckpointError, match="no such file"):
        load_checkpoint(tmp_path / "nope.pkl")
    with pytest.raises(CheckpointError, match="not a file"):
        load_checkpoint(tmp_path)


def test_safetensors_round_trip_and_errors(tmp_path):
    torch.manual_seed(0)
    from creps_core.model.network import CREPSGenerator

    g = CREPSGenerator(TINY)
    path = save_safetensors(tmp_path / "m.safetensors", TINY, g.state_dict(), {"note": "hi"})
    m = load_checkpoint(path)
    assert m.cfg == TINY and m.metadata["note"] == "hi"
    assert all(torch.equal(m.state[k], v) for k, v in g.state_dict().items())
    assert len(m.sha256) == 64

    from safetensors.torch import save_file

    save_file({"x": torch.zeros(2)}, str(tmp_path / "plain.safetensors"))
    with pytest.raises(CheckpointError, match="without a CREPS config"):
        load_checkpoint(tmp_path / "plain.safetensors")
    trunc = tmp_path / "trunc.safetensors"
    trunc.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(CheckpointError, match="trunc.safetensors"):
        load_checkpoint(trunc)


def test_safetensors_whose_header_starts_like_a_pickle(tmp_path):
    """A header length whose first byte is 0x80 (a pickle's magic) is still safetensors."""
    from creps_core.model.network import CREPSGenerator

    g = CREPSGenerator(TINY)
    path = tmp_path / "m.safetensors"
    for pad in range(400):
        save_safetensors(path, TINY, g.state_dict(), {"pad": " " * pad})
        if path.read_bytes()[:1] == b"\x80":
            break
    assert path.read_bytes()[:1] == b"\x80"
    assert load_checkpoint(path).cfg == TINY


def test_numpy_1_spelling_of_scalars_opens(tmp_path):
    """Snapshots written under numpy 1 name numpy.core.multiarray.scalar (numpy 2: numpy._core)."""
    g = golden("small64_golden.npz")
    path = tmp_path / "np1.pkl"
    op.write_official_pickle(path, golden_state(g), g["meta"]["G_init_kwargs"], protocol=2)
    data = path.read_bytes()
    assert b"numpy._core.multiarray\nscalar" in data
    path.write_bytes(data.replace(b"numpy._core.multiarray\nscalar", b"numpy.core.multiarray\nscalar"))
    assert load_checkpoint(path).cfg.img_resolution == 64
