"""Pickles that attack the unpickler itself (not by naming code, which the allow-list refuses, but by
corrupting memory, overflowing the C stack or claiming huge memo tables) end in one line, exit 1.

Each case runs `creps info` in a child process, so a crash would show as a signal, not kill the suite.
"""

from __future__ import annotations

import hashlib
import struct
import subprocess
import sys

import pytest

PROTO = b"\x80\x02"


def mutated_dtype_scalar() -> bytes:
    """numpy.dtype('f8') given a 2 GiB item size by BUILD, then a numpy scalar read through it."""
    dtype = b"cnumpy\ndtype\n" + b"X\x02\x00\x00\x00f8" + b"\x89\x88\x87R"  # dtype('f8', False, True)
    state = b"(K\x03X\x01\x00\x00\x00<NNN" + b"J" + struct.pack("<i", 2**31 - 1) + b"K\x01K\x00tb"
    return PROTO + b"cnumpy.core.multiarray\nscalar\n" + dtype + state + b"C\x08" + b"\x00" * 8 + b"\x86R."


def subarray_dtype_scalar() -> bytes:
    """The same with a subarray dtype spec asked for directly."""
    dtype = b"cnumpy\ndtype\n" + b"X\x0a\x00\x00\x00(1000,)f8" + b"\x89\x88\x87R"
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


@pytest.mark.parametrize("make", [mutated_dtype_scalar, subarray_dtype_scalar, deep_tuple_key, memo_far_ahead,
                                  deep_lists])
def test_hostile_pickle_gives_one_line_and_exit_1(tmp_path, make):
    path = tmp_path / "model.pkl"
    path.write_bytes(make())
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    run = subprocess.run([sys.executable, "-m", "creps_core.cli", "info", str(path)], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 1, (run.returncode, run.stderr[-500:])  # not a signal (negative) or a traceback
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and "Traceback" not in run.stderr
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
