"""`creps export` as a user runs it: the estimate it prints against the time it takes, rotated against
straight, and the share of the machine's matmul roofline.

Each export runs the real command line in a fresh process on the released 256 config (random
weights). The clock starts at the first tile record, when the estimate is said (the model is loaded and
calibrated by then: that is what the estimate covers), and stops when the command ends; an export
expected to take under a minute prints no estimate. Prints, per export: the
estimate, the measured time, their ratio, GFLOP/s against the roofline measured in the same run, and
the rotated/straight ratio. Asserts nothing.

    python -m benchmarks.bench_export_estimate          # 2048² and 6144² straight and at 30°, 16384x2048
    python -m benchmarks.bench_export_estimate --cases 2048x2048:0 2048x2048:30 --precision fp32
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchmarks.bench_export import make_checkpoint

ESTIMATE = re.compile(r"about ((?:\d+ h )?(?:\d+ min )?(?:\d+ s)?(?:\d+ min)?) on this machine")


def seconds_of(text: str) -> float:
    """'3 min 05 s' / '2 h 07 min' / '42 s' -> seconds."""
    total = 0.0
    for value, unit in re.findall(r"(\d+) (h|min|s)\b", text):
        total += int(value) * {"h": 3600, "min": 60, "s": 1}[unit]
    return total


def timed_export(checkpoint: Path, size: str, rotate: float, precision: str, workdir: Path) -> dict:
    """Run one export: the estimate it printed (None: it printed none, a job under a minute) and the
    seconds from its first tile record (when the estimate is said) to its end."""
    out = workdir / f"bench_{size}_{rotate:g}.tif"
    cmd = [sys.executable, "-m", "creps_core.cli", "export", str(out), "-c", str(checkpoint), "--seed", "1",
           "--size", size, "--rotate", str(rotate), "--precision", precision, "--fresh"]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
    seen: dict[str, float] = {}
    text: list[str] = []

    def read() -> None:
        assert proc.stderr is not None
        buffer = b""
        while chunk := proc.stderr.read1(4096):
            buffer += chunk
            decoded = buffer.decode("utf-8", "replace")
            if "tiles" not in seen and ("rendering tiles" in decoded or ESTIMATE.search(decoded)):
                seen["tiles"] = time.perf_counter()
            match = ESTIMATE.search(decoded)
            if match and "estimate" not in seen:
                seen["estimate"] = seconds_of(match.group(1))
        text.append(buffer.decode("utf-8", "replace"))

    reader = threading.Thread(target=read)
    reader.start()
    rc = proc.wait()
    ended = time.perf_counter()
    reader.join()
    if rc or "tiles" not in seen:
        raise SystemExit(f"export failed ({rc}):\n{text[-1][-2000:]}")
    out.unlink(missing_ok=True)
    return {"size": size, "rotate": rotate, "precision": precision, "estimate_s": seen.get("estimate"),
            "measured_s": round(ended - seen["tiles"], 1), "whole_command_s": round(ended - started, 1)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", nargs="+", help="WIDTHxHEIGHT:DEGREES each",
                   default=["2048x2048:0", "2048x2048:30", "6144x6144:0", "6144x6144:30", "16384x2048:0"])
    p.add_argument("--precision", default="fp32", help="as `creps export --precision` (default: fp32)")
    a = p.parse_args()

    import torch

    from creps_core.model.checkpoint import load_checkpoint
    from creps_core.render.costs import view_macs
    from creps_core.render.engine import Engine
    from creps_core.render.hardware import compute_dtype, matmul_gflops
    from creps_core.render.views import View
    from creps_core.vocabulary import DEFAULT_WARP_QUALITY

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        checkpoint = make_checkpoint("256", work)
        engine = Engine(load_checkpoint(checkpoint), device="cpu", precision=a.precision)
        precision = engine.precision
        roofline = matmul_gflops(compute_dtype(precision, engine.device), workers=engine.workers)
        print(f"released 256 config, random weights; precision {a.precision} ({precision}); "
              f"{torch.get_num_threads()} threads; matmul roofline {roofline:.0f} GFLOP/s (measured now)")
        results = []
        for case in a.cases:
            size, _, turn = case.partition(":")
            w, h = (int(n) for n in size.split("x"))
            r = timed_export(checkpoint, size, float(turn or 0), a.precision, work)
            gflop = 2 * view_macs(engine.cfg, View(w, h, rotation=float(turn or 0)), DEFAULT_WARP_QUALITY) / 1e9
            r["gflop_per_s"] = round(gflop / r["measured_s"], 1)
            r["roofline_share"] = round(gflop / r["measured_s"] / roofline, 3)
            said = "no estimate (under a minute)"
            if r["estimate_s"] is not None:
                r["estimate_error"] = round(r["estimate_s"] / r["measured_s"] - 1, 3)
                said = f"estimate {r['estimate_s']:.0f} s ({r['estimate_error']:+.0%})"
            results.append(r)
            print(f"{size} rotated {float(turn or 0):>4g}°: {r['measured_s']:7.1f} s, {said}, "
                  f"{r['gflop_per_s']:6.1f} GFLOP/s = {r['roofline_share']:.2f} of the roofline", flush=True)
        straight = {r["size"]: r["measured_s"] for r in results if r["rotate"] == 0}
        for r in results:
            if r["rotate"] and r["size"] in straight:
                print(f"{r['size']} rotated {r['rotate']:g}° / straight: {r['measured_s'] / straight[r['size']]:.2f}x")
        print(json.dumps(results))


if __name__ == "__main__":
    main()
