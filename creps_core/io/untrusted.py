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
from typing import TypeAlias, cast

# The deepest JSON this project writes is a workspace's keyframe -> latent -> edit -> vector (about
# 8 levels); 64 leaves room for any future record while keeping every later walk of it shallow.
MAX_JSON_DEPTH = 64
MAX_JSON_INT = 2**63  # past int64: numpy and float() conversions of it would overflow

# A node of :func:`_check_tree`'s walk: (value, depth, parent node, key in the parent); the root has no parent.
_Node: TypeAlias = tuple[object, int, "_Node | None", str | int | None]


def _field(node: _Node | None) -> str:
    """``latent.edits[0].amount`` for a node of :func:`_check_tree`'s walk (its chain of parents)."""
    parts = []
    while node is not None and node[2] is not None:
        _, _, parent, key = node
        parts.append(f".{key}" if isinstance(key, str) else f"[{key}]")
        node = parent
    return "".join(reversed(parts)).lstrip(".") or "the value"


def _unusable(number: object) -> str | None:
    """Why a JSON scalar is a number no field could use (None: it is not)."""
    if isinstance(number, float) and not math.isfinite(number):
        return f"{'NaN' if math.isnan(number) else 'Infinity' if number > 0 else '-Infinity'}, not a finite number"
    if isinstance(number, int) and not isinstance(number, bool) and abs(number) >= MAX_JSON_INT:
        return "a number too large to use"
    return None


def _check_tree(value: object, where: str) -> None:
    """Refuse nesting deeper than MAX_JSON_DEPTH and numbers no field could use (NaN, Infinity or
    1e400, integers past int64), naming the field; walked without recursion, a field's name only
    spelled out when it is refused."""
    root: _Node = (value, 0, None, None)
    problem = _unusable(value)
    if problem:
        raise ValueError(f"{where}: {_field(root)} is {problem}")
    stack = [root] if isinstance(value, (dict, list)) else []
    while stack:
        node = stack.pop()
        item, depth = node[0], node[1]
        if depth >= MAX_JSON_DEPTH:
            raise ValueError(f"{where}: JSON nested deeper than {MAX_JSON_DEPTH} levels")
        # only dicts and lists are stacked
        for key, child in item.items() if isinstance(item, dict) else enumerate(cast(list, item)):
            if isinstance(child, (dict, list)):
                stack.append((child, depth + 1, node, key))
            elif isinstance(child, (float, int)) and (problem := _unusable(child)):
                raise ValueError(f"{where}: {_field((child, depth + 1, node, key))} is {problem}")


def parse_json(text: str | bytes, where: str, max_bytes: int) -> object:
    """``text`` parsed as JSON, or one ValueError ``WHERE: what is wrong``.

    Refused: more than ``max_bytes``, text that is not UTF-8, nesting deeper than MAX_JSON_DEPTH,
    NaN/Infinity (or a number past float range), integers past int64.
    """
    if len(text) > max_bytes:
        raise ValueError(f"{where}: {len(text):,} bytes, more than the {max_bytes:,} such a file may hold")
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ValueError(f"{where}: not UTF-8 text (byte {e.start})") from None
    try:
        value = json.loads(text)
    except RecursionError:  # the parser's own limit (~1000 levels), met before ours could be
        raise ValueError(f"{where}: JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError as e:  # JSONDecodeError; an integer of more than 4300 digits
        raise ValueError(f"{where}: not valid JSON ({' '.join(str(e).split())[:160]})") from None
    _check_tree(value, where)
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
