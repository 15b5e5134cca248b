"""Opening checkpoints: official ``.pkl`` snapshots (safely) and native ``.safetensors``.

Every failure surfaces as one :class:`CheckpointError` whose message names the file
and the problem; nothing in a checkpoint is ever executed (see
:mod:`creps_core.model.safe_pickle`).  The native format is plain safetensors with the
architecture config in its string metadata, so it can be read by any safetensors
tool and loaded without pickle at all.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import struct
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import torch

from creps_core.io.safe_files import atomic_write
from creps_core.io.untrusted import parse_json
from creps_core.model.network import CREPSConfig, CREPSGenerator, count_parameters, expected_shapes
from creps_core.model.safe_pickle import ObjectRecord, PersistentRecord, UnsafePickleError, module_state_dict, safe_load
from creps_core.progress import LOADING, Progress, format_bytes

NATIVE_FORMAT = "creps-explorer/1"
MAX_CONFIG_BYTES = 1 << 16  # the CREPS config a .safetensors carries is a few hundred bytes of JSON


Report = Callable[[Progress], None]
"""Hears how far a load is: ``Progress("loading NAME (233 MB)", percent, 100)``."""

# Shares of a load's time, measured on the released 256 config (random weights, one thread, loaded
# 2-core machine): a 244 MB pickle's opcode check, unpickling (tensors rebuilt), hash and finite-value
# check took 19/57/17/7 %; a 122 MB safetensors' (memory-mapped) read, hash and check 6/50/44 %.
PICKLE_PHASES = (("check", 0.19), ("read", 0.57), ("hash", 0.17), ("validate", 0.07))
SAFETENSORS_PHASES = (("read", 0.06), ("hash", 0.5), ("validate", 0.44))


class CheckpointError(Exception):
    """A checkpoint could not be opened; the message says which file and why."""


class _Phases:
    """Turns each phase's own fraction into the whole load's, reporting only visible steps."""

    def __init__(self, report: Report | None, phases: tuple[tuple[str, float], ...], path: Path) -> None:
        self.report, self.last = report, -1
        self.stage = f"{LOADING} {path.name} ({format_bytes(path.stat().st_size)})"
        self.start: dict[str, float] = {}
        self.share = dict(phases)
        total = 0.0
        for name, share in phases:
            self.start[name] = total
            total += share

    def __call__(self, phase: str, fraction: float) -> None:
        if self.report is None:
            return
        percent = min(100, int(100 * (self.start[phase] + self.share[phase] * min(max(fraction, 0.0), 1.0)) + 1e-9))
        if percent > self.last:
            self.last = percent
            self.report(Progress(self.stage, percent, 100))


class _ReadingFile:
    """A binary file that says how far it has been read, for the bar of a pickle being loaded.

    The safe loader reads the file twice (a dry run over the opcodes, then the unpickling); a seek
    back to the start begins the next pass, so ``report(pass, fraction)`` can tell them apart.
    Only the methods pickletools and the unpickler call; each forwards to the file."""

    def __init__(self, f: BinaryIO, size: int, report: Callable[[int, float], None]) -> None:
        self.f, self.size, self.report, self.passes = f, max(size, 1), report, 0

    def _told(self, data: bytes) -> bytes:
        self.report(self.passes, self.f.tell() / self.size)
        return data

    def read(self, n: int = -1) -> bytes:
        return self._told(self.f.read(n))

    def readline(self, n: int = -1) -> bytes:
        return self._told(self.f.readline(n))

    def readinto(self, buffer: bytearray | memoryview) -> int:
        count = self.f.readinto(buffer)  # type: ignore[attr-defined]
        self.report(self.passes, self.f.tell() / self.size)
        return count

    def seek(self, offset: int, whence: int = 0) -> int:
        before = self.f.tell()
        after = self.f.seek(offset, whence)
        self.passes += after < before
        return after

    def tell(self) -> int:
        return self.f.tell()


@dataclass
class LoadedModel:
    """Weights and config of one generator, independent of where they came from."""

    cfg: CREPSConfig
    state: dict[str, torch.Tensor]
    path: Path
    sha256: str
    source_format: str  # "official-pkl" or "safetensors"
    network: str = "G_ema"
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def num_params(self) -> int:
        return count_parameters(self.state)

    def build(self, device: str | torch.device = "cpu") -> CREPSGenerator:
        """A generator holding these weights.

        Built on the CPU and then overwritten: the meta device would skip the random
        init but its first use imports torch's reference ops (seconds of start-up).
        """
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            g = CREPSGenerator(self.cfg)
        g.load_state_dict(self.state, strict=True, assign=True)
        return g.to(device).eval().requires_grad_(False)

    def info(self) -> dict:
        c = self.cfg
        return {
            "path": str(self.path), "format": self.source_format, "network": self.network,
            "sha256": self.sha256, "resolution": c.img_resolution, "num_ws": c.num_ws,
            "parameters": self.num_params, "conditional": c.c_dim > 0, "classes": c.c_dim,
            "config": c.to_dict(),
        }


def file_sha256(path: Path, progress: Callable[[float], None] | None = None) -> str:
    """The file's sha256; ``progress`` hears how much of it was read."""
    h = hashlib.sha256()
    size, done = max(os.path.getsize(path), 1), 0
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
            done += len(block)
            if progress is not None:
                progress(done / size)
    return h.hexdigest()


def load_checkpoint(path: str | os.PathLike, network: str = "G_ema", report: Report | None = None) -> LoadedModel:
    """Open an official pickle or a native safetensors file (detected by content).

    ``report`` hears how far the load is, in percent (a 233 MB pickle takes seconds), ending at 100."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such file")
    if not path.is_file():
        raise CheckpointError(f"{path}: not a file")
    with open(path, "rb") as f:
        head = f.read(16)
    if not head:
        raise CheckpointError(f"{path}: the file is empty")
    with _one_thread():
        return _load(path, head, network, report)


@contextmanager
def _one_thread() -> Iterator[None]:
    """torch on one thread while a checkpoint loads: its element-wise checks on two OpenMP threads
    stalled at every barrier while another process held a core (released 256 safetensors, loaded
    machine: 2.5-6.8 s on two threads, 1.3-1.5 s on one).  The engine's own workers run
    single-threaded for the same reason."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _load(path: Path, head: bytes, network: str, report: Report | None) -> LoadedModel:
    # safetensors first: its 8-byte header length may itself start with 0x80, a pickle's magic.
    if _looks_like_safetensors(head, path.stat().st_size):
        phases = _Phases(report, SAFETENSORS_PHASES, path)
        model = _load_safetensors(path, phases)
    elif head[:1] == b"\x80":
        phases = _Phases(report, PICKLE_PHASES, path)
        model = _load_official_pickle(path, network, phases)
    elif head[:2] == b"PK":
        raise CheckpointError(f"{path}: a torch.save zip archive, not a CREPS snapshot (.pkl) or .safetensors")
    else:
        raise CheckpointError(f"{path}: not a CREPS checkpoint (neither a pickle nor safetensors)")
    _validate(model, phases)
    return model


def _looks_like_safetensors(head: bytes, size: int) -> bool:
    if len(head) < 9:
        return False
    (n,) = struct.unpack("<Q", head[:8])
    return 2 <= n <= size - 8 and head[8:9] == b"{"


def _load_official_pickle(path: Path, network: str, phases: _Phases) -> LoadedModel:
    size = path.stat().st_size
    try:
        with open(path, "rb") as f:
            reading = _ReadingFile(f, size, lambda n, x: phases(("check", "read")[min(n, 1)], x))
            data = safe_load(reading)  # type: ignore[arg-type]  # reads like the file it wraps
    except UnsafePickleError as e:
        raise CheckpointError(f"{path}: refused to load an unsafe pickle: {e}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError,
            KeyError, RuntimeError, MemoryError, OverflowError, UnicodeDecodeError, struct.error) as e:
        raise CheckpointError(f"{path}: the pickle is truncated or corrupt ({type(e).__name__}: {e})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: the pickle holds {type(data).__name__}, not a CREPS snapshot dict")
    if network not in ("G_ema", "G"):
        raise CheckpointError(f"{path}: unknown network {network!r} (choose G_ema or G)")
    record = data.get(network)
    if record is None:
        have = ", ".join(sorted(str(k) for k in data)) or "nothing"
        raise CheckpointError(f"{path}: no {network} network in the snapshot (it holds {have})")
    if not isinstance(record, ObjectRecord) or record.class_name != "Generator":
        kind = getattr(record, "class_name", type(record).__name__)
        raise CheckpointError(f"{path}: {network} is not a generator ({kind})")
    try:
        state = module_state_dict(record)
    except UnsafePickleError as e:
        raise CheckpointError(f"{path}: {network} is malformed: {e}") from None
    cfg = _config_from_official(path, record, state)
    meta = {"module_class": record.class_name}
    if isinstance(record, PersistentRecord):
        meta["module_src_sha256"] = hashlib.sha256(record.module_src.encode()).hexdigest()
    return LoadedModel(cfg, state, path, file_sha256(path, lambda x: phases("hash", x)), "official-pkl", network,
                       meta)


def _config_from_official(path: Path, record: ObjectRecord, state: dict[str, torch.Tensor]) -> CREPSConfig:
    st = record.state if isinstance(record.state, dict) else {}
    for name, kinds, wanted in (("_init_kwargs", dict, "dict"), ("_init_args", (tuple, list), "list")):
        if st.get(name) is not None and not isinstance(st[name], kinds):
            raise CheckpointError(f"{path}: the generator's {name} is a {type(st[name]).__name__}, not a {wanted}")
    kwargs = dict(st.get("_init_kwargs") or {})
    args = tuple(st.get("_init_args") or ())
    for name, value in zip(("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels"), args):
        kwargs.setdefault(name, value)
    if not isinstance(kwargs.get("mapping_kwargs") or {}, dict):
        raise CheckpointError(f"{path}: the generator's mapping_kwargs is a "
                              f"{type(kwargs['mapping_kwargs']).__name__}, not a dict")
    mapping = dict(kwargs.get("mapping_kwargs") or {})
    try:
        inp = state["synthesis.b4.input.weight"]
        cfg = CREPSConfig(
            z_dim=_whole("z_dim", kwargs["z_dim"]), w_dim=_whole("w_dim", kwargs["w_dim"]),
            c_dim=_whole("c_dim", kwargs.get("c_dim", 0)),
            img_resolution=_whole("img_resolution", kwargs["img_resolution"]),
            img_channels=_whole("img_channels", kwargs.get("img_channels", 3)),
            mapping_layers=_whole("mapping_kwargs.num_layers", mapping.get("num_layers", 8)),
            # SynthesisNetwork defaults apply when the snapshot did not pass them.
            channel_base=_whole("channel_base", kwargs.get("channel_base", 32768)),
            channel_max=_whole("channel_max", kwargs.get("channel_max", 512)),
            biline_channels=_whole("biline_channels", kwargs.get("biline_channels", 32)), rank=int(inp.shape[-1]) // 2,
        )
    except KeyError as e:
        raise CheckpointError(f"{path}: the generator's config lacks {e} (missing tensors or init kwargs)") from None
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: the generator's config is invalid: {e}") from None
    return cfg


def _whole(name: str, value: object) -> int:
    """A config value that must be a whole number (ints, or floats such as 512.0 that are whole)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or value % 1:
        raise ValueError(f"{name} must be a whole number, got {str(value)[:40]}")
    return int(value)


def _load_safetensors(path: Path, phases: _Phases) -> LoadedModel:
    from safetensors import SafetensorError, safe_open

    size = max(path.stat().st_size, 1)
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = dict(f.metadata() or {})
            state, done = {}, 0
            for k in f.keys():
                state[k] = f.get_tensor(k)
                done += state[k].numel() * state[k].element_size()
                phases("read", done / size)
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{path}: the safetensors file is truncated or corrupt ({e})") from None
    if "creps_config" not in meta:
        raise CheckpointError(f"{path}: safetensors without a CREPS config in its metadata")
    try:
        config = parse_json(meta["creps_config"], "creps_config", MAX_CONFIG_BYTES)
        if not isinstance(config, dict):
            raise ValueError(f"a JSON object expected, got {type(config).__name__}")
        cfg = CREPSConfig.from_dict(config)
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        raise CheckpointError(f"{path}: the CREPS config in the metadata is invalid: {e}") from None
    return LoadedModel(cfg, state, path, file_sha256(path, lambda x: phases("hash", x)), "safetensors",
                       meta.get("network", "G_ema"), meta)


def _validate(model: LoadedModel, phases: _Phases) -> None:
    want = expected_shapes(model.cfg)
    missing = [k for k in want if k not in model.state]
    if missing:
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise CheckpointError(f"{model.path}: missing tensors: {', '.join(missing[:5])}{more}")
    widened: dict[str, torch.Tensor] = {}
    for i, (k, shape) in enumerate(want.items()):
        t = model.state[k]
        if tuple(t.shape) != shape:
            raise CheckpointError(f"{model.path}: tensor {k} has shape {tuple(t.shape)}, expected {shape}")
        if t.numel() * t.element_size() > t.untyped_storage().nbytes():  # e.g. stride-0 views of one number
            raise CheckpointError(f"{model.path}: tensor {k} claims more values than the file stores for it")
        if not t.is_floating_point():
            raise CheckpointError(f"{model.path}: tensor {k} is {t.dtype}, expected floating point")
        widened[k] = t.to(torch.float32).contiguous()  # before the check: 8-bit floats have no isfinite
        if not torch.isfinite(widened[k]).all():
            raise CheckpointError(f"{model.path}: tensor {k} contains NaN or Inf")
        phases("validate", (i + 1) / len(want))
    model.state = widened


def save_safetensors(path: str | os.PathLike, cfg: CREPSConfig, state: dict[str, torch.Tensor],
                     metadata: dict[str, str] | None = None) -> Path:
    """Write weights + config as safetensors, atomically (temp file, then rename)."""
    from safetensors.torch import save

    meta = {"format": NATIVE_FORMAT, "creps_config": json.dumps(cfg.to_dict()), **(metadata or {})}
    tensors = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in state.items()}
    return atomic_write(path, save(tensors, metadata={k: str(v) for k, v in meta.items()}))


def convert_to_safetensors(model: LoadedModel, dst: str | os.PathLike) -> Path:
    """Write an opened model (an official pickle, a demo, random weights) in the native format."""
    return save_safetensors(dst, model.cfg, model.state, {
        "network": model.network, "converted_from": model.path.name, "source_sha256": model.sha256,
    })
