"""Reading official CREPS / StyleGAN pickles without running any code from them.

An official snapshot is a pickle whose networks are written by
``torch_utils.persistence``: each network is a call of
``_reconstruct_persistent_obj(meta)`` where ``meta`` carries the module's whole source
code, the class name and the object's ``__dict__``.  The official loader ``exec()``s
that source.  We never do: :class:`RestrictedUnpickler` resolves only an allow-list of
globals, each mapped to a *data-only* replacement, and every network becomes an inert
:class:`ObjectRecord` that just remembers its class name and state.  Tensors are
rebuilt by torch's own ``weights_only`` loader, which has its own allow-list.

Anything else a pickle asks for (``os.system``, ``builtins.eval``, ``getattr``,
``subprocess.Popen`` ...) raises :class:`UnsafePickleError` before it is resolved,
so it can never be called.
"""

from __future__ import annotations

import _compat_pickle
import collections
import io
import pickle
import pickletools
import zipfile
from typing import Any, BinaryIO, cast

import numpy as np
import torch


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle asked for a global outside the allow-list."""


class ObjectRecord:
    """Inert stand-in for any object the pickle builds from a class.

    It records the class it claims to be, its constructor arguments and its state,
    and has no behaviour, so building one can never run foreign code.
    """

    qualified_name = "?"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args
        self.kwargs = kwargs
        self.state: Any = None

    def __setstate__(self, state: Any) -> None:
        self.state = state

    @property
    def class_name(self) -> str:
        return self.qualified_name.rsplit(".", 1)[-1]

    def __repr__(self) -> str:
        return f"<record of {self.qualified_name}>"


class PersistentRecord(ObjectRecord):
    """What ``_reconstruct_persistent_obj(meta)`` yields here: the meta, not the object.

    ``module_src`` is kept as text (for ``creps info``) and never compiled.
    """

    qualified_name = "torch_utils.persistence.persistent_object"

    def __init__(self, meta: Any) -> None:
        super().__init__()
        if not isinstance(meta, dict):
            raise UnsafePickleError("persistent object meta is not a dict")
        if not isinstance(meta.get("class_name"), str) or not isinstance(meta.get("state"), dict):
            raise UnsafePickleError("persistent object meta lacks class_name/state")
        self.meta = meta
        self.state = meta["state"]
        src = meta.get("module_src")
        self.module_src: str = src if isinstance(src, str) else ""

    @property
    def class_name(self) -> str:
        return self.meta["class_name"]


class EasyDictRecord(dict):
    """dnnlib.util.EasyDict arrives as a plain dict subclass."""

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, dict):
            self.update(state)


def _rebuild_tensor(storage: Any, offset: Any, size: Any, stride: Any, *_ignored: Any) -> torch.Tensor:
    if not isinstance(storage, (torch.UntypedStorage, torch.TypedStorage)):
        raise UnsafePickleError("tensor storage is not a torch storage")
    if not all(isinstance(v, int) for v in (offset, *size, *stride)):
        raise UnsafePickleError("tensor geometry is not integral")
    if isinstance(storage, torch.TypedStorage):
        dtype, storage = storage.dtype, storage._untyped_storage
    else:
        dtype = torch.uint8
    return torch.empty(0, dtype=dtype).set_(storage, offset, tuple(size), tuple(stride))


def _rebuild_parameter(data: Any, *_ignored: Any) -> torch.Tensor:
    if not isinstance(data, torch.Tensor):
        raise UnsafePickleError("parameter data is not a tensor")
    return data


def _load_storage_bytes(blob: Any) -> Any:
    if not isinstance(blob, (bytes, bytearray)):
        raise UnsafePickleError("storage blob is not bytes")
    if bytes(blob[:4]) == b"PK\x03\x04":  # zip form: torch stores entries uncompressed, so must this
        try:
            entries = zipfile.ZipFile(io.BytesIO(bytes(blob))).infolist()
        except zipfile.BadZipFile as e:
            raise pickle.UnpicklingError(f"a tensor storage blob is a broken zip ({e})") from None
        if any(e.compress_type != zipfile.ZIP_STORED or e.file_size > len(blob) for e in entries):
            raise UnsafePickleError("a tensor storage blob is compressed (it would inflate past its size)")
    else:
        check_legacy_storage_sizes(bytes(blob))
    # torch's weights_only loader has its own allow-list; it refuses code too.
    try:
        return torch.load(io.BytesIO(bytes(blob)), weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UnsafePickleError(f"a tensor storage blob was refused by torch's weights-only loader "
                                f"({first[:200]})") from None


# The legacy (non-zip) torch.save format, which torch.Storage.__reduce__ writes into every official
# pickle: five small pickles (magic, version, system info, the object, the storage keys), then each
# storage as an 8-byte element count and its bytes.  torch allocates the count the object pickle
# declares before it reads a byte, so the counts are checked against the bytes present first.
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_STORAGE_TYPES = {"FloatStorage": 4, "DoubleStorage": 8, "HalfStorage": 2, "BFloat16Storage": 2,
                         "LongStorage": 8, "IntStorage": 4, "ShortStorage": 2, "CharStorage": 1,
                         "ByteStorage": 1, "BoolStorage": 1, "UntypedStorage": 1}
MAX_STORAGE_BYTES = 1 << 34  # 16 GiB: far above any generator's largest tensor


class _StorageSizeReader(pickle.Unpickler):
    """Unpickles the header pickles of a legacy blob into plain data, recording each storage it
    declares instead of creating it."""

    def __init__(self, f: BinaryIO) -> None:
        super().__init__(f)
        self.storages: dict[Any, tuple[int, int]] = {}  # key -> (element count, element size)

    def find_class(self, module: str, name: str) -> Any:
        if module == "torch" and name in _LEGACY_STORAGE_TYPES:
            return _LEGACY_STORAGE_TYPES[name]  # the element size stands in for the type
        raise UnsafePickleError(f"refused global '{module}.{name}' in a tensor storage blob")

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and len(pid) == 6 and pid[0] in ("storage", b"storage")):
            raise UnsafePickleError("a tensor storage blob declares something other than a storage")
        _, element_size, key, _location, numel, view = pid
        if not isinstance(element_size, int) or not isinstance(numel, int) or numel < 0 or view is not None:
            raise UnsafePickleError("a tensor storage blob declares a malformed storage")
        if not isinstance(key, (str, bytes)):
            raise UnsafePickleError("a tensor storage blob names a storage by something other than a string")
        self.storages[key] = (numel, element_size)
        return None


def check_legacy_storage_sizes(blob: bytes) -> None:
    """Refuse a legacy storage blob whose storages claim more bytes than it holds (or than any
    tensor needs), before torch allocates them."""
    f = io.BytesIO(blob)
    reader = _StorageSizeReader(f)
    header = []
    for _ in range(5):
        check_structure(f)
        header.append(reader.load())
    magic, version, _info, _obj, keys = header
    if magic != _LEGACY_MAGIC or version != 1001:
        raise pickle.UnpicklingError("a tensor storage blob is not in torch's serialization format")
    if not isinstance(keys, list) or set(map(type, keys)) - {str, bytes} or set(keys) != set(reader.storages):
        raise UnsafePickleError("a tensor storage blob's storage keys do not match the storages it declares")
    rest = len(blob) - f.tell()
    claimed = sum(n * size for n, size in reader.storages.values())
    if claimed > min(rest - 8 * len(keys), MAX_STORAGE_BYTES):
        raise UnsafePickleError(f"a tensor storage blob claims {claimed} bytes of storage but holds {rest}")
    at = f.tell()
    for k in keys:  # each storage repeats its element count before its bytes
        numel, size = reader.storages[k]
        if int.from_bytes(blob[at:at + 8], "little", signed=True) != numel:
            raise UnsafePickleError("a tensor storage blob's stored sizes disagree with its declared ones")
        at += 8 + numel * size


_NUMERIC_KINDS = set("biufc")


class DtypeRecord(ObjectRecord):
    """numpy.dtype(spec) as an inert record.

    A real dtype is mutable through its __setstate__ (a pickle's BUILD can give it any item
    size), and a scalar read with such a dtype reads memory past its buffer.  So the pickle
    only ever holds this record; scalars are read with a fresh dtype made from the spec.
    """

    qualified_name = "numpy.dtype"

    def __init__(self, spec: Any, align: Any = False, copy: Any = False) -> None:
        super().__init__()
        if not isinstance(spec, str):
            raise UnsafePickleError("numpy dtype spec is not a string")
        try:
            dtype = np.dtype(spec)
        except TypeError:
            raise UnsafePickleError(f"numpy dtype {spec!r} is not a plain number type") from None
        if dtype.kind not in _NUMERIC_KINDS or dtype.subdtype is not None or dtype.names is not None:
            raise UnsafePickleError(f"numpy dtype {spec!r} is not a plain number type")
        self.spec = spec


def _numpy_scalar(dtype: Any, data: Any = None) -> Any:
    if not isinstance(dtype, DtypeRecord) or not isinstance(data, bytes):
        raise UnsafePickleError("numpy scalar is not a plain number")
    fresh = np.dtype(dtype.spec)
    if len(data) != fresh.itemsize:
        raise UnsafePickleError(f"numpy scalar of {fresh} has {len(data)} bytes, not {fresh.itemsize}")
    return np.frombuffer(data, dtype=fresh, count=1)[0]


def _codecs_encode(text: Any, encoding: Any = "utf-8") -> bytes:
    # Protocol-2 pickles spell bytes objects as _codecs.encode(str, 'latin1').
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise UnsafePickleError("unexpected _codecs.encode call")
    return text.encode("latin1")


_ALLOWED_FUNCTIONS: dict[tuple[str, str], Any] = {
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): PersistentRecord,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch.storage", "_load_from_bytes"): _load_storage_bytes,
    ("torch", "Size"): torch.Size,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("dnnlib.util", "EasyDict"): EasyDictRecord,
    ("dnnlib", "EasyDict"): EasyDictRecord,
    ("numpy", "dtype"): DtypeRecord,
    ("numpy.core.multiarray", "scalar"): _numpy_scalar,
    ("numpy._core.multiarray", "scalar"): _numpy_scalar,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("_codecs", "encode"): _codecs_encode,
}

# Classes from these modules are replaced by inert records (never imported).
_RECORDED_CLASS_MODULES = ("training.", "torch_utils.", "_imported_module_", "torch.nn.modules.")
_record_classes: dict[str, type[ObjectRecord]] = {}


def _record_class(module: str, name: str) -> type[ObjectRecord]:
    key = f"{module}.{name}"
    if key not in _record_classes:
        _record_classes[key] = type(f"Record_{name}", (ObjectRecord,), {"qualified_name": key})
    return _record_classes[key]


class RestrictedUnpickler(pickle.Unpickler):
    """An Unpickler whose globals come from the allow-list above, or nowhere."""

    def find_class(self, module: str, name: str) -> Any:
        # Protocol 0-2 pickles may spell names the Python 2 way (__builtin__.set ...).
        module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        if (module, name) in _ALLOWED_FUNCTIONS:
            return _ALLOWED_FUNCTIONS[(module, name)]
        if module == "torch" and isinstance(getattr(torch, name, None), torch.dtype):
            return getattr(torch, name)
        if module.startswith(_RECORDED_CLASS_MODULES) and name.isidentifier() and name[:1].isupper():
            return _record_class(module, name)
        raise UnsafePickleError(f"refused global '{module}.{name}' (not a checkpoint component)")

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError("persistent ids are not used by CREPS pickles")


MAX_NESTING = 200  # checkpoints nest a few dozen levels; hashing a deeper tuple can overflow the C stack
MEMO_SLACK = 64  # memo indices come in order; one far ahead would make the unpickler allocate a huge table


def check_structure(f: BinaryIO) -> None:
    """Refuse, before anything is built, a pickle whose objects nest too deeply or whose memo
    indices jump ahead (both crash or exhaust the C unpickler, whatever the allow-list says).

    A dry run over the opcodes tracks each stack entry's nesting depth; nothing is created.
    """
    start = f.tell()
    stack: list[int] = []  # nesting depth of each entry; -1 marks MARK
    memo: dict[int, int] = {}
    try:
        for n, (op, arg, _) in enumerate(pickletools.genops(f)):
            name = op.name
            if name in ("PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"):
                index = len(memo) if name == "MEMOIZE" else int(cast(int, arg))  # the memo opcodes' argument: an index
                if index > n + MEMO_SLACK:
                    raise UnsafePickleError(f"memo index {index} far ahead of the pickle's {n} opcodes")
                memo[index] = stack[-1] if stack else 0
                continue
            if name in ("GET", "BINGET", "LONG_BINGET"):
                stack.append(memo.get(int(cast(int, arg)), 0))
                continue
            popped: list[int] = []
            before = list(op.stack_before)
            if before and before[-1] is pickletools.stackslice:  # everything down to the last MARK
                while stack and stack[-1] != -1:
                    popped.append(stack.pop())
                if stack:
                    stack.pop()
                before = before[:-2]
            for _ in before:
                popped.append(stack.pop() if stack else 0)
            depth = max(popped, default=-1) + 1
            for kind in op.stack_after:
                stack.append(-1 if kind is pickletools.markobject else depth)
            if depth > MAX_NESTING:
                raise UnsafePickleError(f"objects nested more than {MAX_NESTING} levels deep")
    except UnsafePickleError:
        raise
    except (ValueError, EOFError) as e:  # cut short or garbled: corrupt, not hostile
        raise pickle.UnpicklingError(str(e)) from None
    finally:
        f.seek(start)


def safe_load(f: BinaryIO) -> Any:
    """Unpickle a file object with :class:`RestrictedUnpickler`, after :func:`check_structure`."""
    check_structure(f)
    return RestrictedUnpickler(f).load()


def module_state_dict(record: ObjectRecord) -> dict[str, torch.Tensor]:
    """Flatten a recorded nn.Module tree into state_dict form (name -> tensor)."""
    out: dict[str, torch.Tensor] = {}
    seen: set[int] = set()

    def walk(node: Any, prefix: str, depth: int) -> None:
        if depth > 32:
            raise UnsafePickleError("module tree is too deep")
        if id(node) in seen:  # a shared child would be walked once per path: 2^depth times
            raise UnsafePickleError(f"module {prefix or '<root>'} appears more than once in the tree")
        seen.add(id(node))
        state = node.state if isinstance(node, ObjectRecord) else None
        if isinstance(state, tuple) and state and isinstance(state[0], dict):
            state = state[0]
        if not isinstance(state, dict):
            raise UnsafePickleError(f"module {prefix or '<root>'} has no state")
        for group in ("_parameters", "_buffers", "_modules"):
            if not isinstance(state.get(group) or {}, dict):
                raise UnsafePickleError(f"module {prefix or '<root>'}: {group} is not a dict")
        skip = state.get("_non_persistent_buffers_set") or set()
        if not isinstance(skip, (set, frozenset, list, tuple)):
            raise UnsafePickleError(f"module {prefix or '<root>'}: _non_persistent_buffers_set is not a set")
        for group in ("_parameters", "_buffers"):
            for key, value in (state.get(group) or {}).items():
                if value is None or (group == "_buffers" and key in skip):
                    continue
                if not isinstance(value, torch.Tensor):
                    raise UnsafePickleError(f"{prefix}{key} is not a tensor")
                out[prefix + key] = value
        for key, child in (state.get("_modules") or {}).items():
            if child is not None:
                walk(child, f"{prefix}{key}.", depth + 1)

    walk(record, "", 0)
    return out
