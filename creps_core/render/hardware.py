"""What the machine does fast: devices, precisions, the CPU's cores, the pool that uses them and
the matmul throughput they reach (the roofline every speed figure is compared with).

One policy for the engine, training, the explorer's panels and the window (it was written four
times). Nothing here renders: the engine asks which device and dtype to use and where to run its
chunks; :mod:`creps_core.render.costs` measures the matmul roofline with the same pool.
"""

from __future__ import annotations

import functools
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import torch

from creps_core.vocabulary import PRECISIONS


def available_devices() -> list[str]:
    """The device names a user can choose here: auto, cpu, each CUDA device, mps."""
    devices = ["auto", "cpu"]
    if torch.cuda.is_available():
        devices += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        devices.append("mps")
    return devices


def device_or_none(name: str) -> str | None:
    """The device a setting names here ("auto" -> "cpu" on a machine without a GPU); None when it
    is not available (the caller reports it when an engine is built on it)."""
    try:
        return str(pick_device(name))
    except ValueError:
        return None


def pick_device(name: str = "auto", mps: bool = True) -> torch.device:
    """``auto``: CUDA when present, else MPS (unless ``mps`` is False: training does not pick it by
    itself), else the CPU. A device named is checked: one that is not here is a ValueError."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if mps and getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise ValueError(f"unknown device {name!r}; choose auto, cpu, cuda, cuda:N or mps") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("CUDA was requested but no CUDA device is available")
    return dev


def cpu_has_fast_bf16() -> bool:
    """True where the CPU multiplies bf16 in hardware (AVX512-BF16 / AMX via oneDNN).

    Elsewhere (e.g. AVX2-only CPUs) bf16 matmuls are emulated and ~50x slower than fp32.
    """
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def usable_cpus() -> int:
    """The cores this process may run on (its affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


@functools.cache
def chunk_pool(workers: int) -> ThreadPoolExecutor:
    """The process-wide pool of ``workers`` threads that run render chunks.

    Each thread runs torch single-threaded: chunks are independent, so the parallelism
    needs no barrier per operator.  OpenMP's barriers are what make a multi-threaded torch
    collapse (10-100x) when another process holds a core; independent chunks just run
    where a core is free.  Shared by every engine, so two engines never oversubscribe.
    """
    return ThreadPoolExecutor(workers, thread_name_prefix="creps-chunk", initializer=torch.set_num_threads,
                              initargs=(1,))


MiB = 1 << 20


@dataclass(frozen=True)
class DevicePolicy:
    """Every choice that depends on the kind of device, in one place, so that the test suite can
    run a GPU's choices on the CPU (``Engine(..., policy=GPU_POLICY)``): only the device differs.

    A CPU renders independent chunks on a pool of single-threaded workers, small enough to stay in
    its caches, and the explorer draws a coarse preview, a preview and then the frame band by band,
    because a sharp frame takes seconds there. A GPU runs one stream of large launches: no pool,
    whole frames at once (a frame takes milliseconds, and previews or bands would only add
    launches), fp16, caches grown with use in its memory, and a synchronisation before a time is
    read (launches return before the work is done)."""

    name: str
    chunk_pool: bool  # chunks on the process-wide pool of single-threaded workers (else inline)
    chunk_pixels: int  # pixels per chunk of the per-pixel network
    progressive: bool  # the explorer: previews and bands (else whole frames at once)
    auto_precision: str  # what 'auto' means: a precision name, or 'measure' (the CPU's bf16 test)
    fp16: bool  # fp16 may be asked for (no fast fp16 matmul on a CPU)
    reserve_caches: bool  # line caches reserve their limit at once (address space only on a CPU)
    synchronize: bool  # wait for the device before reading a clock or handing a frame over
    stem_memory: int = 256 * MiB  # prefix reuse: line-network states (creps_core.render.prefix_reuse)
    pixel_state_memory: int = 256 * MiB  # prefix reuse: per-pixel features of rendered views

    def release(self, device: torch.device) -> None:
        """Give memory the device's allocator keeps for reuse back (after its caches were dropped)."""
        if device.type == "cuda":
            torch.cuda.empty_cache()

    def sync(self, device: torch.device) -> None:
        """Wait until ``device`` finished what was launched (a no-op where launches are synchronous)."""
        if self.synchronize and device.type == "cuda":
            torch.cuda.synchronize(device)


CPU_POLICY = DevicePolicy("cpu", chunk_pool=True, chunk_pixels=2048, progressive=True, auto_precision="measure",
                          fp16=False, reserve_caches=True, synchronize=False)
GPU_POLICY = DevicePolicy("gpu", chunk_pool=False, chunk_pixels=1 << 18, progressive=False, auto_precision="fp16",
                          fp16=True, reserve_caches=False, synchronize=True)


def policy_for(device: torch.device) -> DevicePolicy:
    """The policy of a device: the CPU's for the CPU; a GPU's for CUDA and MPS (whose 'auto' stays
    fp32: its fp16 is not known to pay here)."""
    if device.type == "cpu":
        return CPU_POLICY
    return GPU_POLICY if device.type == "cuda" else replace(GPU_POLICY, name="mps", auto_precision="fp32")


def resolve_precision(precision: str, device: torch.device, policy: DevicePolicy | None = None) -> str:
    """``auto`` -> what this device does fast in hardware: fp16 on CUDA, bf16 on CPUs whose
    bf16 matmuls beat fp32 (AVX512-BF16/AMX, measured), fp32 elsewhere.  Other names pass through."""
    if precision != "auto":
        return precision
    policy = policy or policy_for(device)
    if policy.auto_precision != "measure":
        return policy.auto_precision
    return "bf16" if cpu_has_fast_bf16() and cpu_bf16_pays() else "fp32"


@functools.cache
def cpu_bf16_pays() -> bool:
    """True where bf16 matmuls actually run faster than fp32 here (measured once, ~0.2 s).

    Hardware bf16 support is not enough: on some CPUs with AVX512-BF16 the bf16 kernels torch
    picks run slower than fp32 (measured 88 vs 141 GFLOP/s on one core of a Xeon), and a
    reduced precision that is not faster only costs accuracy.
    """
    workers = usable_cpus()  # measured the way the engine runs: single-threaded workers in parallel
    fp32 = matmul_gflops(torch.float32, n=512, workers=workers, seconds=0.1)
    bf16 = matmul_gflops(torch.bfloat16, n=512, workers=workers, seconds=0.1)
    return bf16 > 1.2 * fp32


def precision_warning(precision: str, device: torch.device) -> str | None:
    """A sentence for the user when a precision will be slow on this device, else None."""
    if precision == "bf16" and device.type == "cpu" and not cpu_has_fast_bf16():
        return "this CPU has no bf16 arithmetic (needs AVX512-BF16 or AMX): bf16 runs far slower than fp32 here"
    return None


def compute_dtype(precision: str, device: torch.device, policy: DevicePolicy | None = None) -> torch.dtype:
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if precision == "fp16" and not (policy or policy_for(device)).fp16:
        raise ValueError("fp16 is not usable on a CPU (no fast fp16 matmul); use bf16 or fp32")
    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def matmul_gflops(dtype: torch.dtype = torch.float32, n: int = 1024, device: str | torch.device = "cpu",
                  workers: int = 1, seconds: float = 0.5) -> float:
    """Square-matmul throughput of this machine now, in GFLOP/s.

    On the CPU, ``workers`` single-threaded matmul loops run at once on the engine's chunk
    pool (the way the engine itself runs), and their rates add up; on a GPU one stream.
    """
    device = torch.device(device)
    if device.type != "cpu" or workers == 1:
        return _matmul_rate(dtype, n, device, seconds)
    return sum(chunk_pool(workers).map(lambda _: _matmul_rate(dtype, n, device, seconds), range(workers)))


def _matmul_rate(dtype: torch.dtype, n: int, device: torch.device, seconds: float) -> float:
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    torch.mm(a, b)  # warm-up
    runs, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        torch.mm(a, b)
        runs += 1
    if device.type == "cuda":
        torch.cuda.synchronize()
    return 2.0 * n**3 * runs / (time.perf_counter() - start) / 1e9
