"""Edits that recompute only what they touch: what latents sharing their first ws rows share.

In CREPS the line network runs its layers in ws order (the input on ws[0], then each block's
fc0, fc1 and ToRes on rising ws indices), and the per-pixel stream adds the blocks' composed
features in the same order. So two latents whose ws agree on rows ``[0, k)`` (a style mix of
layers k.., a direction on a layer range starting at k, a changed truncation cutoff) compute the
same line-network state up to the first layer that reads a row ``>= k``, and the same per-pixel
feature up to the first composed block whose lines changed.

This module keeps those states, bounded in memory:

* a :class:`Stem` holds, per line coordinate and slot, the line network's activation at the input
  of one layer plus the running ToRes sums of the blocks finished before it; a program that
  resumes there computes only the layers after it (on the released 256 config, an edit of
  layers 8..14 skips ~80 % of each line's multiply-adds);
* a pixel state holds, for one view, the per-pixel feature just before the first changed
  composed block is added (the decoders before it are latent-independent), so the per-pixel
  part skips the composition and the decoders of the unchanged blocks.

Both are keyed by the hash of the ws rows they depend on, so a reuse is never a guess: equal
keys mean equal inputs, and the arithmetic after the resume point is the one a fresh render
does, row for row (bit-identical in fp32 and in bf16, where the BLAS rounds a row alike in any
batch: MKL on a Xeon with AMX sums rows of 1024 inputs differently in batches below 192 rows, so a
stem that holds only some of a request's coordinates agrees there to float32 rounding, ~1e-5).

A stem is made when a new latent shares rows with one the engine compiled recently: its first
render computes every layer (as a fresh render must) and keeps the state at the shared prefix;
every later latent with the same prefix (the next mix seed, the next direction amount) resumes
there.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass, field

import torch

from creps_core.render.line_cache import LineCache

MAX_STEMS = 2  # prefixes kept at once: the one being edited and the one before it


def shared_rows(a: torch.Tensor, b: torch.Tensor) -> int:
    """How many leading ws rows ``a`` and ``b`` [num_ws, w_dim] hold bit for bit alike."""
    if a.shape != b.shape:
        return 0
    same = (a == b).all(dim=1).tolist()
    return next((i for i, s in enumerate(same) if not s), len(same))


def resume_layer(line_ws: list[int], rows: int) -> int:
    """The first line layer that reads a ws row at or after ``rows`` (len(line_ws): none does)."""
    return next((i for i, wi in enumerate(line_ws) if wi >= rows), len(line_ws))


def prefix_rows(line_ws: list[int], layer: int) -> int:
    """How many leading ws rows the line network's state before ``layer`` depends on (ws[0]
    always: the input's amplitudes)."""
    return max([0, *line_ws[:layer]]) + 1


def prefix_key(ws: torch.Tensor, rows: int, dtype: torch.dtype) -> tuple[str, int, str]:
    data = ws[:rows].detach().to("cpu", torch.float32).contiguous().numpy().tobytes()
    return hashlib.sha1(data).hexdigest(), rows, str(dtype)


@dataclass
class Stem:
    """The line network's state before layer ``layer`` for every latent sharing ws[:rows].

    Per coordinate and slot one float32 row: the activation entering ``layer`` ([rank, C], in the
    compute dtype's values) then the running ToRes sums of the ``done`` composed blocks finished
    before it ([done, rank, biline]).  ``layer == len(line_layers)``: the sums alone (every line
    is shared; only the per-pixel blocks' ws changed)."""

    key: tuple[str, int, str]
    layer: int
    done: int
    row_limit: int  # coordinates kept per slot (the memory bound)
    lines: dict[int, LineCache] = field(default_factory=lambda: {0: LineCache(), 1: LineCache()})

    def memory(self) -> int:
        return sum(cache.memory() for cache in self.lines.values())


class PrefixStore:
    """The stems and pixel states of one engine, each within its byte budget (LRU)."""

    def __init__(self, stem_memory: int, pixel_memory: int) -> None:
        self.stem_memory, self.pixel_memory = stem_memory, pixel_memory
        self._stems: OrderedDict[tuple, Stem] = OrderedDict()
        self._pixels: OrderedDict[tuple, torch.Tensor] = OrderedDict()

    def clear(self) -> None:
        self._stems.clear()
        self._pixels.clear()

    def memory(self) -> int:
        """Bytes held now (stems and pixel states)."""
        return sum(s.memory() for s in self._stems.values()) + sum(
            t.numel() * t.element_size() for t in self._pixels.values())

    # ----- stems --------------------------------------------------------------------------
    def stems_for(self, ws: torch.Tensor, dtype: torch.dtype, line_ws: list[int], done_before: list[int],
                  row_bytes: list[int], shared: int) -> tuple[Stem | None, Stem | None]:
        """(the deepest stored stem ``ws`` may resume from, the stem it fills while it computes:
        a new, deeper one where it shares its first ``shared`` rows with a recent latent, else the one it
        resumes from, so that coordinates it computes from the input (a pan, a zoom, a frame the
        first edit did not finish) serve the next edit too).

        ``done_before[i]``: composed blocks finished before line layer i; ``row_bytes[i]``: one
        coordinate's stem row at layer i."""
        resume = None
        for stem in self._stems.values():
            if stem.key[2] == str(dtype) and (resume is None or stem.layer > resume.layer) \
                    and prefix_key(ws, stem.key[1], dtype) == stem.key:
                resume = stem
        if resume is not None:
            self._stems.move_to_end(resume.key)
        layer = resume_layer(line_ws, shared)
        if layer == 0 or (resume is not None and layer <= resume.layer):
            return resume, resume
        key = prefix_key(ws, prefix_rows(line_ws, layer), dtype)
        limit = max(1, self.stem_memory // (MAX_STEMS * 2 * row_bytes[layer]))
        fill = self._stems.get(key) or Stem(key, layer, done_before[layer], limit)
        self._stems[key] = fill
        self._stems.move_to_end(key)
        while len(self._stems) > MAX_STEMS:
            dropped = self._stems.popitem(last=False)[1]
            if dropped is resume:
                resume = None  # the program computes from the input (and fills the new stem)
        return resume, fill

    # ----- pixel states ------------------------------------------------------------------------
    def pixel_state(self, key: tuple) -> torch.Tensor | None:
        state = self._pixels.get(key)
        if state is not None:
            self._pixels.move_to_end(key)
        return state

    def fits(self, nbytes: int) -> bool:
        """Whether a pixel state of ``nbytes`` may be kept at all (a viewport too large is not)."""
        return nbytes <= self.pixel_memory

    def keep_pixel_state(self, key: tuple, state: torch.Tensor) -> None:
        self._pixels[key] = state
        self._pixels.move_to_end(key)
        while sum(t.numel() * t.element_size() for t in self._pixels.values()) > self.pixel_memory:
            self._pixels.popitem(last=False)
