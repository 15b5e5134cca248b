"""`creps` in a child process whose address space is bounded relative to what the child itself maps
after importing torch, so a regression that allocates what a hostile file claims fails there instead
of swapping -- whatever torch build is installed (the CUDA build maps several GiB of libraries
before doing anything, which an absolute limit mistook for the attack)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_CHILD = """
import resource, sys
import torch, creps_core.cli.main
vm = int(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmSize:'))) * 1024
limit = vm + int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
sys.exit(creps_core.cli.main.main(sys.argv[2:]))
"""


def run_bounded(args: list[str], headroom: int = 1 << 30, timeout: float = 300,
                env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``creps ARGS`` in a child allowed ``headroom`` bytes of address space beyond its own mapping."""
    env = dict(os.environ if env is None else env, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-c", _CHILD, str(headroom), *args], capture_output=True, text=True,
                          timeout=timeout, env=env)
