"""The engine's cache of line values: one slab of rows, so its memory is the values alone.

A line (the row or column embedding at one coordinate) is a few KiB.  Kept as one
tensor per line in a dict, every entry also pays a tensor object, its storage
record and an allocator block (about as much again as the values), and the
blocks of evicted lines fragment the heap: an export's peak memory grew with the
number of cached lines, i.e. with the image size up to the cap.  Here the values
live in rows of one tensor that only ever holds live lines (plus one request's
worth), and evicted rows are reused.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

import torch


class LineCache:
    """Least-recently-used line values by coordinate (float32 keys), stored as rows of one slab."""

    def __init__(self) -> None:
        self._rows: OrderedDict[float, int] = OrderedDict()  # coordinate -> row of the slab, oldest first
        self._free: list[int] = []  # rows of evicted lines, reused before the slab grows
        self._slab: torch.Tensor | None = None
        self._written = 0  # rows [0, _written) of the slab have held values; the rest were never touched

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, key: float) -> bool:
        return key in self._rows

    def memory(self) -> int:
        """Bytes of the rows that hold or held values (rows never written cost address space only)."""
        return 0 if self._slab is None else self._written * self._slab.shape[1] * self._slab.element_size()

    def put(self, keys: Iterable[float], values: torch.Tensor, reserve: int = 0) -> None:
        """Store ``values`` [n, D] under ``keys`` (n coordinates not yet cached).

        ``reserve``: rows to allocate at once when the slab must grow (the cache's limit);
        rows never written cost address space only, not memory, and later growth needs no copy.
        """
        keys = list(keys)
        rows = self._take_rows(len(keys), values, reserve)
        assert self._slab is not None  # _take_rows made it
        self._slab[rows] = values.to(self._slab.dtype)
        for k, r in zip(keys, rows.tolist()):
            self._rows[k] = r

    def get(self, keys: list[float]) -> torch.Tensor:
        """Values [n, D] of cached ``keys`` (a copy), marking them recently used."""
        for k in keys:
            self._rows.move_to_end(k)
        index = torch.tensor([self._rows[k] for k in keys], dtype=torch.int64)
        assert self._slab is not None  # keys were put, so the slab was made
        return self._slab[index.to(self._slab.device)]

    def trim(self, limit: int) -> None:
        """Evict the oldest lines beyond ``limit``; give memory back when the slab is far larger."""
        while len(self._rows) > limit:
            self._free.append(self._rows.popitem(last=False)[1])
        if self._slab is not None and self._slab.shape[0] > 2 * max(limit, len(self._rows), 1):
            live = torch.tensor(list(self._rows.values()), dtype=torch.int64, device=self._slab.device)
            self._slab = self._slab[live].clone()  # clone: no view pins the old slab
            self._rows = OrderedDict((k, i) for i, k in enumerate(self._rows))
            self._free, self._written = [], len(self._rows)

    def _take_rows(self, n: int, like: torch.Tensor, reserve: int) -> torch.Tensor:
        """``n`` row indices: evicted rows first, then never-written ones (growing the slab to at
        least ``reserve`` rows), so rows that cost memory are reused before new ones are touched."""
        if self._slab is None:
            self._slab = like.new_empty((0, like.shape[1]), dtype=torch.float32)
        reused = self._free[len(self._free) - min(n, len(self._free)):]
        del self._free[len(self._free) - len(reused):]
        fresh = n - len(reused)
        if self._written + fresh > self._slab.shape[0]:
            slab = self._slab.new_empty((max(self._written + fresh, reserve), self._slab.shape[1]))
            slab[:self._written] = self._slab[:self._written]  # only written rows become resident memory
            self._slab = slab
        taken = reused + list(range(self._written, self._written + fresh))
        self._written += fresh
        return torch.tensor(taken, dtype=torch.int64, device=self._slab.device)
