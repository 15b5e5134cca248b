"""Direction files and ws files: read with every array checked before it is loaded, written atomically.

A **directions file** (.npz) holds named vectors, each with a default layer range:

- ``vectors``: float [K, w_dim] (one offset for every layer) or [K, num_ws, w_dim];
- ``names``: str [K], unique, 1..64 characters;
- ``layers``: int [K, 2], first and last ws index (inclusive) each direction acts on by default
  (optional: all layers);
- ``values``: float [K], optional: what ordered them (SeFa eigenvalues, PCA standard deviations);
- ``method``: str scalar, optional: how they were made.

An edit adds ``amount x vector``: SeFa vectors are unit vectors, PCA vectors are one standard
deviation long (so a PCA amount is in sigmas).  A GANSpace or InterfaceGAN ``.npy`` ([w_dim],
[K, w_dim] or [K, 1, w_dim]) reads as unnamed directions ``0..K-1`` on all layers.

A **ws file** (.npz) holds ``w``: [1, num_ws, w_dim] or [num_ws, w_dim], as the StyleGAN
projectors write it.

Files are untrusted: ``np.load(allow_pickle=False)`` only, and each array's header (dtype,
shape) is read and checked against the model and the size limits before any data is read,
so a file that claims a huge shape costs nothing.  Only plain dtypes are read (no records, objects
or sub-arrays), and a w or direction vector must be finite and within ``±MAX_W`` (see latents.py).
"""

from __future__ import annotations

import io
import math
import os
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from creps_core.io.safe_files import atomic_write
from creps_core.latent.latents import MAX_NAME_CHARS, MAX_W, DirectionEdit, Floats
from creps_core.model.checkpoint import file_sha256

MAX_DIRECTIONS = 4096  # directions in one file
MAX_FILE_VALUES = 1 << 24  # values of one array (64 MB of float32)
MAX_MEMBERS = 16  # arrays in one .npz
MAX_ARRAY_BYTES = 4 * MAX_FILE_VALUES  # what one array may take in memory once loaded
PLAIN_KINDS = "biufU"  # bool, integers, floats, text: what a directions or ws file is made of
DIRECTION_KEYS = ("vectors", "names", "layers", "values", "method")
WS_KEY = "w"


# what reading a damaged member of a zip raises: a bad CRC, corrupt deflate data, a truncated file,
# a compression method zipfile lacks, an encrypted member (RuntimeError: a password is required)
ZIP_MEMBER_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError)


class LatentFileError(ValueError):
    """A direction or ws file that cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class Directions:
    """The directions of one file, checked against one model's num_ws and w_dim."""

    path: Path
    sha256: str
    num_ws: int
    names: tuple[str, ...]
    vectors: np.ndarray  # float32 [K, w_dim] or [K, num_ws, w_dim]
    layers: tuple[tuple[int, int], ...]
    values: np.ndarray | None = None
    method: str = ""

    def __len__(self) -> int:
        return len(self.names)

    def index(self, key: str | int) -> int:
        """The position of a direction given by name or number."""
        if isinstance(key, str) and key in self.names:
            return self.names.index(key)
        try:
            i = int(key)
        except ValueError:
            raise LatentFileError(f"{self.path}: no direction named {key!r} "
                                  f"(it has {', '.join(self.names[:8])}{'...' if len(self) > 8 else ''})") from None
        if not 0 <= i < len(self):
            raise LatentFileError(f"{self.path}: direction {i} does not exist (it has 0..{len(self) - 1})")
        return i

    def edit(self, key: str | int, amount: float, layers: tuple[int, int] | None = None) -> DirectionEdit:
        """An edit of ``amount`` along direction ``key``, on ``layers`` or the file's default range."""
        i = self.index(key)
        if layers is not None and layers[1] >= self.num_ws:
            raise LatentFileError(f"layers {layers[0]}-{layers[1]} for {self.path.name}:{key} do not exist: "
                                  f"this model has layers 0-{self.num_ws - 1}")
        return DirectionEdit(self.names[i], float(amount), Floats.of(self.vectors[i]), layers or self.layers[i],
                             f"{self.path.name}:{self.names[i]} sha256:{self.sha256[:16]}")


# ----- reading ---------------------------------------------------------------------------------
def _brief(e: BaseException) -> str:
    """An exception's text for a one-line message (whitespace folded, cut short)."""
    return " ".join(str(e).split())[:120] or type(e).__name__


def _header(f, where: str) -> tuple[tuple[int, ...], np.dtype]:
    """(shape, dtype) from an .npy header, refusing what allow_pickle=False would not load safely."""
    try:
        version = np.lib.format.read_magic(f)
        readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
        if version not in readers:
            raise LatentFileError(f"{where}: unsupported .npy version {version}")
        shape, _, dtype = readers[version](f)
    except LatentFileError:
        raise
    except (ValueError, OSError, EOFError, SyntaxError) as e:
        raise LatentFileError(f"{where}: not a readable array ({_brief(e)})") from None
    if dtype.hasobject or dtype.fields is not None:
        raise LatentFileError(f"{where}: holds Python objects or records (dtype {dtype}); only numbers "
                              "and text are read")
    if dtype.subdtype is not None or dtype.kind not in PLAIN_KINDS:
        # a sub-array dtype multiplies the shape the header claims (numpy then fails on memory, not on the file)
        raise LatentFileError(f"{where}: the dtype {dtype} is not supported; only plain numbers and text are read")
    if math.prod(shape) > MAX_FILE_VALUES:
        raise LatentFileError(f"{where}: claims {list(shape)} values, more than {MAX_FILE_VALUES:,}")
    if math.prod(shape) * dtype.itemsize > MAX_ARRAY_BYTES:  # text of a huge width: few values, many bytes
        raise LatentFileError(f"{where}: claims {math.prod(shape) * dtype.itemsize:,} bytes of {dtype}, more than "
                              f"{MAX_ARRAY_BYTES:,}")
    return tuple(int(n) for n in shape), dtype


def _npz_headers(path: Path) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Every array's (shape, dtype) of an .npz, from the headers alone."""
    try:
        z = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, ValueError, struct.error):
        raise LatentFileError(f"{path}: not an .npz file (not a zip archive)") from None
    with z:
        infos = z.infolist()
        if len(infos) > MAX_MEMBERS:
            raise LatentFileError(f"{path}: holds {len(infos)} entries; a directions or ws file holds "
                                  f"at most {MAX_MEMBERS}")
        headers = {}
        for info in infos:
            name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
            if info.file_size > MAX_ARRAY_BYTES + 4096:
                raise LatentFileError(f"{path}: array {name!r} claims {info.file_size:,} bytes")
            try:
                with z.open(info) as f:
                    headers[name] = _header(f, f"{path}: array {name!r}")
            except ZIP_MEMBER_ERRORS as e:
                raise LatentFileError(f"{path}: array {name!r} cannot be read ({_brief(e)})") from None
        return headers


def _load(path: Path, headers: dict, name: str) -> np.ndarray:
    try:
        with np.load(path, allow_pickle=False) as data:
            return data[name]
    except (ValueError, OSError, *ZIP_MEMBER_ERRORS) as e:
        raise LatentFileError(f"{path}: array {name!r} is damaged ({_brief(e)})") from None


def _floats(path: Path, name: str, a: np.ndarray, bound: float | None = None) -> np.ndarray:
    """``a`` as float32: floats, finite (also once narrowed to float32) and, for a w or a direction, within ±bound."""
    if a.dtype.kind != "f":
        raise LatentFileError(f"{path}: array {name!r} must hold floats, not {a.dtype}")
    with np.errstate(over="ignore"):
        narrowed = a.astype(np.float32)
    if not np.isfinite(narrowed).all():
        raise LatentFileError(f"{path}: array {name!r} holds NaN or infinite values, or values past float32")
    if bound is not None and narrowed.size and float(np.abs(narrowed).max()) > bound:
        raise LatentFileError(f"{path}: array {name!r} holds values up to {float(np.abs(narrowed).max()):.3g}; "
                              f"a w or direction vector must stay within ±{bound:g}")
    return narrowed


def _existing(path: str | os.PathLike) -> Path:
    path = Path(path)
    if not path.is_file():
        raise LatentFileError(f"{path}: no such file")
    return path


def load_directions(path: str | os.PathLike, num_ws: int, w_dim: int) -> Directions:
    """The directions of an .npz (this format) or an .npy (GANSpace / InterfaceGAN vectors)."""
    path = _existing(path)
    if path.suffix.lower() == ".npy":
        return _load_npy_directions(path, num_ws, w_dim)
    headers = _npz_headers(path)
    unknown = sorted(set(headers) - set(DIRECTION_KEYS))
    if unknown:
        raise LatentFileError(f"{path}: unexpected array {unknown[0]!r}; a directions file holds "
                              f"{', '.join(DIRECTION_KEYS)}")
    for key in ("vectors", "names"):
        if key not in headers:
            raise LatentFileError(f"{path}: no {key!r} array; not a directions file")
    shape, _ = headers["vectors"]
    if len(shape) not in (2, 3) or not 1 <= shape[0] <= MAX_DIRECTIONS or shape[1:] not in ((w_dim,), (num_ws, w_dim)):
        raise LatentFileError(f"{path}: 'vectors' is {list(shape)}; this model needs [K, {w_dim}] or "
                              f"[K, {num_ws}, {w_dim}] with K in 1..{MAX_DIRECTIONS}")
    k = shape[0]
    expected = {"names": (k,), "layers": (k, 2), "values": (k,), "method": ()}
    for key, want in expected.items():
        if key in headers and headers[key][0] != want:
            raise LatentFileError(f"{path}: {key!r} is {list(headers[key][0])}; expected {list(want)}")
    vectors = _floats(path, "vectors", _load(path, headers, "vectors"), MAX_W)
    names = _load(path, headers, "names")
    if names.dtype.kind != "U" or any(not 0 < len(n) <= MAX_NAME_CHARS for n in names.tolist()):
        raise LatentFileError(f"{path}: 'names' must be text of 1..{MAX_NAME_CHARS} characters each")
    names_t = tuple(str(n) for n in names.tolist())
    if len(set(names_t)) != k:
        raise LatentFileError(f"{path}: 'names' repeats a name")
    layers = tuple((0, num_ws - 1) for _ in range(k))
    if "layers" in headers:
        raw = _load(path, headers, "layers")
        if raw.dtype.kind not in "iu":
            raise LatentFileError(f"{path}: 'layers' must hold whole numbers, not {raw.dtype}")
        layers = tuple((int(a), int(b)) for a, b in raw.tolist())
        bad = next((r for r in layers if not 0 <= r[0] <= r[1] < num_ws), None)
        if bad is not None:
            raise LatentFileError(f"{path}: 'layers' holds {bad[0]}-{bad[1]}; this model has layers 0-{num_ws - 1}")
    values = _floats(path, "values", _load(path, headers, "values")) if "values" in headers else None
    method = ""
    if "method" in headers:
        m = _load(path, headers, "method")
        if m.dtype.kind != "U" or len(str(m)) > MAX_NAME_CHARS:
            raise LatentFileError(f"{path}: 'method' must be a short text")
        method = str(m)
    return Directions(path, file_sha256(path), num_ws, names_t, vectors, layers, values, method)


def _load_npy_directions(path: Path, num_ws: int, w_dim: int) -> Directions:
    with open(path, "rb") as f:
        shape, _ = _header(f, str(path))
    if shape == (w_dim,):
        count = 1
    elif len(shape) == 2 and shape[1] == w_dim or len(shape) == 3 and shape[1:] == (1, w_dim):
        count = shape[0]
    else:
        raise LatentFileError(f"{path}: an imported direction is [{w_dim}], [K, {w_dim}] or [K, 1, {w_dim}] "
                              f"for this model, got {list(shape)}")
    if not 1 <= count <= MAX_DIRECTIONS:
        raise LatentFileError(f"{path}: holds {count} directions; 1..{MAX_DIRECTIONS} are read")
    try:
        raw = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise LatentFileError(f"{path}: damaged ({_brief(e)})") from None
    vectors = _floats(path, "the array", raw, MAX_W).reshape(count, w_dim)
    return Directions(path, file_sha256(path), num_ws, tuple(str(i) for i in range(count)), vectors,
                      tuple((0, num_ws - 1) for _ in range(count)), None, "import")


def load_ws(path: str | os.PathLike, num_ws: int, w_dim: int) -> Floats:
    """The ``w`` of a projector's .npz as [num_ws, w_dim] for this model."""
    path = _existing(path)
    headers = _npz_headers(path)
    if set(headers) != {WS_KEY}:
        raise LatentFileError(f"{path}: a ws file holds one array named 'w'; this one holds "
                              f"{', '.join(sorted(headers)) or 'none'}")
    shape, _ = headers[WS_KEY]
    if shape not in ((1, num_ws, w_dim), (num_ws, w_dim)):
        raise LatentFileError(f"{path}: 'w' is {list(shape)}; this model needs [1, {num_ws}, {w_dim}] "
                              f"or [{num_ws}, {w_dim}]")
    return Floats.of(_floats(path, WS_KEY, _load(path, headers, WS_KEY), MAX_W).reshape(num_ws, w_dim))


# ----- writing ---------------------------------------------------------------------------------
def _write_npz(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> Path:
    buffer = io.BytesIO()
    np.savez(buffer, allow_pickle=False, **arrays)  # plain dtypes only, as the readers want: never a pickle
    return atomic_write(path, buffer.getvalue())


def save_directions(path: str | os.PathLike, names: list[str], vectors: np.ndarray,
                    layers: list[tuple[int, int]], values: np.ndarray | None = None, method: str = "") -> Path:
    """Write a directions file (the format above)."""
    arrays = {"vectors": np.asarray(vectors, dtype=np.float32), "names": np.array(names, dtype=str),
              "layers": np.asarray(layers, dtype=np.int64).reshape(-1, 2), "method": np.array(method)}
    if values is not None:
        arrays["values"] = np.asarray(values, dtype=np.float32)
    return _write_npz(path, arrays)


def save_ws(path: str | os.PathLike, ws: np.ndarray) -> Path:
    """Write ws [num_ws, w_dim] as a projector does: ``w`` [1, num_ws, w_dim] float32."""
    return _write_npz(path, {WS_KEY: np.asarray(ws, dtype=np.float32)[None]})
