"""Values that come from files the user did not write: JSON read within bounds, and text made safe to print.

Every JSON the tool reads (workspaces, provenance records, keyframe files, bookmarks, dataset labels,
checkpoint configs) goes through :func:`parse_json` or :func:`read_json`, so a hostile file ends in one
``ValueError`` line naming it instead of a RecursionError from a 100,000-deep nesting, a float that
silently became ``inf`` or an integer too large to convert later.  Names from files printed on a
terminal go through :func:`printable`, so an escape sequence in a direction's name is shown, not obeyed.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

# The deepest JSON this project writes is a workspace's keyframe -> latent -> edit -> vector (about
# 8 levels); 64 leaves room for any future record while keeping every later walk of it shallow.
MAX_JSON_DEPTH = 64
MAX_JSON_INT = 2**63  # past int64: numpy and float() conversions of it would overflow


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number a CREPS Explorer file can hold")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400 parses as inf
        raise ValueError(f"the number {text[:24]} is out of range")
    return value


def _bounded_int(text: str) -> int:
    if len(text) > 20 or abs(value := int(text)) >= MAX_JSON_INT:
        raise ValueError(f"the number {text[:24]}{'...' if len(text) > 24 else ''} is too large")
    return value


def _depth_within(value: object, limit: int) -> bool:
    """Whether ``value`` nests at most ``limit`` lists/objects deep (walked without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > limit:
            return False
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return True


def parse_json(text: str | bytes, where: str, max_bytes: int) -> object:
    """``text`` parsed as JSON, or one ValueError ``WHERE: what is wrong``.

    Refused: more than ``max_bytes``, text that is not UTF-8, nesting deeper than MAX_JSON_DEPTH,
    NaN/Infinity, numbers past float or int64 range.
    """
    if len(text) > max_bytes:
        raise ValueError(f"{where}: {len(text):,} bytes, more than the {max_bytes:,} such a file may hold")
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ValueError(f"{where}: not UTF-8 text (byte {e.start})") from None
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float,
                           parse_int=_bounded_int)
    except RecursionError:
        value = None
        deep = True
    except ValueError as e:  # JSONDecodeError, and the refusals above
        raise ValueError(f"{where}: not valid JSON ({' '.join(str(e).split())[:160]})") from None
    else:
        deep = not _depth_within(value, MAX_JSON_DEPTH)
    if deep:
        raise ValueError(f"{where}: JSON nested deeper than {MAX_JSON_DEPTH} levels")
    return value


def read_json(path: str | os.PathLike, max_bytes: int) -> object:
    """The JSON of file ``path`` (see :func:`parse_json`); a file larger than ``max_bytes`` is not read."""
    path = Path(path)
    with open(path, "rb") as f:
        data = f.read(max_bytes + 1)  # never more, whatever size the file claims or grows to
    return parse_json(data, str(path), max_bytes)


def printable(text: str) -> str:
    """``text`` with every control, format or separator character (ESC, newlines, bidi overrides...)
    written as a visible escape, so a name from a file cannot move the cursor, clear the terminal or
    reorder the line it is printed in."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)
