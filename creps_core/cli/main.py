"""The ``creps`` command: every subcommand's options, and how it exits.

Only the parser lives here, built from the shared vocabulary in :mod:`creps_core.cli.args`;
each handler lives in :mod:`creps_core.cli.commands` and is imported when its subcommand runs,
so ``creps --help`` answers without importing torch.

Exit status: 0 done, 1 an error (one line on stderr; ``--debug`` shows the traceback),
2 a usage error, 130 interrupted (Ctrl-C or SIGTERM; partial files are cleaned up or kept
for a resume, as the command says).
"""

from __future__ import annotations

import argparse
import importlib
import re
import signal
import sys
from types import FrameType

from creps_core import __version__
from creps_core.cli.args import (
    DIRECTION_METHODS,
    HelpFormatter,
    UsageError,
    add_compute,
    add_grid,
    add_latent,
    add_latent_sources,
    add_network,
    add_outputs,
    add_seeds,
    add_threads,
    add_view,
    finite_float,
    new_parser,
    parse_layers,
    parse_pair,
    parse_sweep,
    positive_float,
    positive_int,
)
from creps_core.io.untrusted import printable
from creps_core.vocabulary import (
    DEMO_THEMES,
    EXPORT_FORMATS,
    LATENT_MODES,
    OFFICIAL_WALK_KINDS,
    PRECISION_CHOICES,
    TIFF_COMPRESSIONS,
    TILE_FORMATS,
    TRAIN_CONFIGS,
    VIDEO_PRESETS,
)

PRESETS = VIDEO_PRESETS


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="creps", formatter_class=HelpFormatter,
                                description="CREPS Explorer command line: render, export and film CREPS "
                                            "generators at any scale, zoom, rotation or warp.")
    p.add_argument("--version", action="version", version=f"creps-explorer {__version__}")
    p.add_argument("--debug", action="store_true", default=False, help="show the full traceback of an error")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _render(sub)
    _export(sub)
    _video(sub)
    _directions(sub)
    _lines(sub)
    _bench(sub)
    _info(sub)
    _convert(sub)
    _train(sub)
    _demo_data(sub)
    _consistency(sub)
    return p


def _handler(module: str) -> str:
    """Handlers are named by module so that parsing imports nothing heavy."""
    return f"creps_core.cli.commands.{module}"


def _render(sub: argparse._SubParsersAction) -> None:
    r = new_parser(sub, "render", "render seeds to PNG files (any view, warp or official scale)",
                   "Render one PNG per seed. Accepts the options of the official gen_images.py: a command "
                   "copied from the official README gives the same pixels and file names.")
    add_network(r, from_file=True)
    add_seeds(r, "0")
    add_latent(r, from_file=True)
    add_latent_sources(r)
    add_view(r, default_size=None)
    add_grid(r, "write one grid image (grid.png) of C columns and R rows instead of one PNG per image; "
                "images fill it row by row: each seed's sweep is a row (default: none)")
    r.add_argument("--sweep", type=parse_sweep, default=None, metavar="PARAM=START:STOP:STEPS",
                   help="render each seed STEPS times, PARAM (trunc, zoom, rotate, or amount: the first "
                        "--direction's) going from START to STOP, as numbered PNGs NAME-PARAM000.png or, with "
                        "--grid, one grid (default: none)")
    r.add_argument("--scale", type=positive_float, default=None, metavar="S",
                   help="official super-resolution grid: square, linspace(0, 1, int(R*S)) on both axes "
                        "(default: none)")
    r.add_argument("--exact", action="store_true",
                   help="evaluate the lines at every pixel's own coordinate for warped views (slow)")
    add_compute(r, precision="fp32")
    r.add_argument("--save-raw", action="store_true", help="also write each image as float32 CHW .npy")
    r.add_argument("--save-ws", action="store_true",
                   help="also write each image's ws as NAME.npz ('w' [1, num_ws, w_dim], as projectors do; "
                        "--ws reads it back)")
    r.add_argument("--from", dest="from_file", metavar="FILE", default=None,
                   help="re-render a PNG made by this tool from the provenance it carries (default: none)")
    r.add_argument("--outdir", default="out", metavar="DIR", help="where the PNGs go")
    add_outputs(r, resumable=False)
    r.set_defaults(handler=_handler("render"))


def _export(sub: argparse._SubParsersAction) -> None:
    e = new_parser(sub, "export", "render a view at any size, tile by tile (TIFF, PNG, JPEG, Deep Zoom)",
                   "Render any view at any size (e.g. 20000x14000) tile by tile in bounded memory. "
                   "Interrupted exports resume when the same command is run again.")
    e.add_argument("out", metavar="OUT", help="output file: .tif (tiled BigTIFF), .png, .jpg, or .dzi (a Deep Zoom "
                                              "pyramid with an HTML viewer page beside it)")
    add_network(e, from_file=True)
    e.add_argument("--from", dest="from_file", metavar="FILE", default=None,
                   help="re-render an exported file from its metadata; other options change it (default: none)")
    add_seeds(e, "0, or the --from file's", several=False)
    add_latent(e, from_file=True)
    add_latent_sources(e)
    add_view(e, default_size="4096x4096")
    e.add_argument("--tile", type=positive_int, default=512, help="tile size in pixels, a multiple of 16")
    e.add_argument("--supersample", "-k", type=positive_int, default=None, metavar="K",
                   help="K x K samples per pixel, for anti-aliasing (default: 1, or the --from file's)")
    e.add_argument("--pyramid", type=int, default=None, metavar="LEVELS",
                   help="half-size levels for deep-zoom viewers, TIFF only; -1: down to one tile (default: 0)")
    e.add_argument("--format", choices=EXPORT_FORMATS, default=None,
                   help="file format (default: from the extension)")
    e.add_argument("--compression", choices=TIFF_COMPRESSIONS, default="zlib", help="TIFF tile compression")
    e.add_argument("--quality", type=int, default=95, help="JPEG (and jpg/webp Deep Zoom tile) quality, 1-100")
    e.add_argument("--tile-format", choices=TILE_FORMATS, default=None,
                   help="Deep Zoom tile images; png is lossless (default: jpg, or the --from file's)")
    e.add_argument("--workers", type=positive_int, default=None, metavar="N",
                   help="render tiles on a local Dask cluster of N processes (default: in this process)")
    e.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="render tiles on a running Dask cluster (default: none)")
    e.add_argument("--precision", choices=PRECISION_CHOICES, default=None,
                   help="fp32 is the reference; auto picks what this machine does in hardware "
                        "(default: fp32, or the --from file's)")
    e.add_argument("--device", default="auto", metavar="DEVICE", help="auto, cpu, cuda, cuda:N or mps")
    add_outputs(e, resumable=True)
    e.set_defaults(handler=_handler("export"))


def _video(sub: argparse._SubParsersAction) -> None:
    v = new_parser(sub, "video", "zoom, pan, orbit or latent-walk videos (mp4, webm, gif)",
                   "Render a video from a preset, a keyframe file, or the options of the official "
                   f"gen_video.py (a looping latent walk through --seeds). Presets: {', '.join(PRESETS)}.")
    v.add_argument("out", metavar="OUT", nargs="?", default=None,
                   help="output file: .mp4, .webm or .gif (a .json sidecar records how it was made), or numbered "
                        "PNGs: a name with %%05d in it, e.g. frames/%%05d.png (each PNG records how it was made)")
    v.add_argument("--output", default=None, metavar="FILE", help="same as OUT (official gen_video.py spelling)")
    add_network(v)
    v.add_argument("--preset", choices=PRESETS, default=None,
                   help="zoom into --to, orbit about the centre, pan to --to, or walk through --seeds "
                        "(default: none; one of --preset, --keyframes or --seeds is needed)")
    v.add_argument("--keyframes", default=None, metavar="FILE",
                   help="a video spec JSON (see --save-spec) instead of a preset (default: none)")
    v.add_argument("--save-spec", default=None, metavar="FILE", help="also write the video spec as JSON "
                   "(default: none)")
    add_seeds(v, "0; 0-3 for walks")
    add_latent(v)
    add_latent_sources(v)
    add_view(v, default_size="512x512; the model's resolution for gen_video.py walks")
    v.add_argument("--to", type=parse_pair, default=(0.5, 0.5), metavar="U,V",
                   help="zoom and pan presets: the point to zoom into, or the centre to pan to")
    v.add_argument("--factor", type=positive_float, default=100.0, help="zoom preset: magnification")
    v.add_argument("--turns", type=finite_float, default=1.0, help="orbit preset: turns")
    v.add_argument("--duration", type=positive_float, default=None, metavar="SECONDS",
                   help="length of the video; per seed for walks (default: 8, or 2 per seed for walks)")
    v.add_argument("--fps", type=positive_float, default=None, help="frames per second (default: 30; 60 "
                   "for official gen_video.py walks)")
    v.add_argument("--frames", type=positive_int, default=None, metavar="N",
                   help="exactly N frames, whatever --duration says (default: round(duration x fps))")
    v.add_argument("--quality", type=finite_float, default=8.0, help="0 (smallest file) .. 10 (best)")
    v.add_argument("--latent-mode", choices=LATENT_MODES, default=None,
                   help="latent interpolation (default: spline for walks, else slerp)")
    v.add_argument("--loop", action="store_true", help="return to the first keyframe at the end")
    official = v.add_argument_group("official gen_video.py options (a looping walk through --seeds)")
    add_grid(official, "a grid of C x R walks side by side (default: 1x1)")
    official.add_argument("--num-keyframes", type=positive_int, default=None, metavar="N",
                          help="keyframes per walk (default: the number of seeds / grid cells)")
    official.add_argument("--w-frames", type=positive_int, default=None, metavar="N",
                          help="frames between keyframes (default: 120)")
    official.add_argument("--kind", choices=OFFICIAL_WALK_KINDS, default=None,
                          help="interpolation between keyframes (default: cubic)")
    official.add_argument("--shuffle-seed", type=int, default=None, metavar="N",
                          help="shuffle the seeds with this random seed (default: keep their order)")
    add_compute(v, precision="auto")
    add_outputs(v, resumable=True)
    v.set_defaults(handler=_handler("video"))


def _directions(sub: argparse._SubParsersAction) -> None:
    d = new_parser(sub, "directions", "write a directions file: SeFa or PCA of a model, or an imported .npy",
                   "Write named latent directions (.npz) for --direction and the explorer's Latent tab: SeFa "
                   "(closed form, from the model's style weights, unit vectors ordered by eigenvalue), PCA of W "
                   "(amounts in standard deviations), or GANSpace/InterfaceGAN vectors imported from a .npy.")
    d.add_argument("out", metavar="OUT.npz", help="the directions file to write")
    add_network(d)
    d.add_argument("--method", choices=DIRECTION_METHODS, default="sefa",
                   help="sefa: eigenvectors of the stacked style weights of --layers; pca: principal axes of W")
    d.add_argument("--import", dest="import_file", default=None, metavar="FILE.npy",
                   help="convert GANSpace/InterfaceGAN vectors ([w_dim], [K, w_dim] or [K, 1, w_dim]) instead "
                        "(default: none)")
    d.add_argument("--count", type=positive_int, default=None, metavar="K",
                   help="how many directions (default: 8; all of an imported file)")
    d.add_argument("--layers", type=parse_layers, default=None, metavar="A-B",
                   help="ws layers the directions come from (SeFa) and act on by default (default: all)")
    d.add_argument("--names", default=None, metavar="A,B,...",
                   help="names of the directions, in order (default: sefa0.., pc0.., or 0.. for imports)")
    d.set_defaults(handler=_handler("directions"))


def _lines(sub: argparse._SubParsersAction) -> None:
    s = new_parser(sub, "lines", "show each block's row and column lines, features, spectra and contributions",
                   "Write, per seed, what every synthesis block computes for a view: its row and column "
                   "line embeddings (coordinate x channel), its composed feature map, the feature map's "
                   "spectrum, and its contribution to the image (the image minus the image with the block "
                   "switched off). One contact sheet per seed (SEED_lines.png) and one PNG per block and kind.")
    add_network(s)
    add_seeds(s, "0")
    add_latent(s)
    add_latent_sources(s)
    add_view(s, default_size="the model's resolution")
    s.add_argument("--max-side", type=positive_int, default=256, metavar="N",
                   help="compute on the view shrunk to at most N pixels per side (bounded cost)")
    add_compute(s, precision="fp32")
    s.add_argument("--outdir", default="lines", metavar="DIR", help="where the PNGs go")
    s.set_defaults(handler=_handler("lines"))


def _bench(sub: argparse._SubParsersAction) -> None:
    b = new_parser(sub, "bench", "time full frames of a view (median after a warm-up), as JSON")
    add_network(b)
    add_seeds(b, "0", several=False)
    add_latent(b)
    add_view(b, default_size="256x256")
    add_compute(b, precision="auto")
    add_threads(b)
    b.add_argument("--repeat", type=positive_int, default=3, help="timed frames after the warm-up")
    b.set_defaults(handler=_handler("bench"))


def _info(sub: argparse._SubParsersAction) -> None:
    i = new_parser(sub, "info", "describe a checkpoint: config, parameters, hash")
    i.add_argument("path", nargs="?", metavar="NETWORK", default=None, help="same as --network")
    add_network(i)
    i.add_argument("--json", action="store_true", help="print JSON")
    i.set_defaults(handler=_handler("checkpoints"), action="info")


def _convert(sub: argparse._SubParsersAction) -> None:
    c = new_parser(sub, "convert", "convert an official .pkl to the native .safetensors format")
    c.add_argument("input", metavar="NETWORK", nargs="?", default=None,
                   help="the checkpoint to convert (or --network)")
    c.add_argument("output", metavar="OUT", help="the .safetensors file to write")
    add_network(c)
    c.set_defaults(handler=_handler("checkpoints"), action="convert")


def _train(sub: argparse._SubParsersAction) -> None:
    t = new_parser(sub, "train", "train (or --resume) a CREPS generator on a folder of images",
                   "Train a CREPS generator with the StyleGAN2 objective; snapshots open in the explorer.")
    t.add_argument("--data", required=True, metavar="PATH",
                   help="folder of png/jpg (searched recursively) or an official dataset .zip (required)")
    t.add_argument("--res", type=positive_int, default=None,
                   help="training resolution, a power of two >= 8 (default: required unless --resume)")
    t.add_argument("--config", choices=TRAIN_CONFIGS, default="tiny",
                   help="network sizes: tiny/small for CPUs, paper = the released CREPS config")
    t.add_argument("--kimg", type=positive_float, required=True,
                   help="train until this many thousand real images were shown (required)")
    t.add_argument("--outdir", required=True, metavar="DIR",
                   help="where snapshots, states and sample grids go (required)")
    t.add_argument("--resume", default=None, metavar="SNAPSHOT",
                   help="a snapshot .safetensors (with its .state.pt) to continue exactly (default: none)")
    t.add_argument("--batch", type=positive_int, default=16, help="minibatch size")
    t.add_argument("--gamma", type=float, default=None, help="R1 weight (default: 0.0002 x res^2 / batch)")
    t.add_argument("--snap-every", type=positive_float, default=10.0, dest="snap_every", metavar="KIMG",
                   help="snapshot and sample grid every KIMG thousand images")
    t.add_argument("--seed", type=int, default=0, help="random seed of the initialisation and training")
    t.add_argument("--device", default="auto", metavar="DEVICE", help="auto, cpu, cuda or cuda:N")
    add_threads(t)
    t.set_defaults(handler=_handler("train"), action="train")


def _demo_data(sub: argparse._SubParsersAction) -> None:
    d = new_parser(sub, "demo-data", "write the offline demo training set (needs the [demo-data] extra)")
    d.add_argument("--outdir", "--out", dest="outdir", required=True, metavar="DIR",
                   help="output folder for the PNGs (required)")
    d.add_argument("--res", type=positive_int, default=32, help="image size in pixels")
    d.add_argument("--theme", choices=DEMO_THEMES, default="faces",
                   help="faces: LFW crops; photos: multi-scale crops of colour photographs")
    d.add_argument("--count", type=positive_int, default=2000, help="number of crops for --theme photos")
    d.add_argument("--seed", type=int, default=0, help="random seed of the crops")
    d.set_defaults(handler=_handler("train"), action="demo-data")


def _consistency(sub: argparse._SubParsersAction) -> None:
    c = new_parser(sub, "consistency", "scale consistency: R vs 2R renders (PSNR, SSIM)")
    add_network(c)
    add_seeds(c, "0-7")
    add_latent(c)
    c.add_argument("--device", default="cpu", metavar="DEVICE", help="auto, cpu, cuda, cuda:N or mps")
    c.set_defaults(handler=_handler("train"), action="consistency")


def _terminate(signum: int, frame: FrameType | None) -> None:
    """SIGTERM behaves like Ctrl-C, so every cleanup on the way out runs."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    previous = signal.signal(signal.SIGTERM, _terminate) if _main_thread() else None
    try:
        return _run(args)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _run(args: argparse.Namespace) -> int:
    name = f"creps {args.command}"
    try:
        module = importlib.import_module(args.handler)
        return int(module.run(args) or 0)
    except UsageError as e:
        print(f"{name}: error: {printable(str(e))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        note = getattr(args, "interrupt_note", "")
        print(f"{name}: interrupted" + (f"; {note}" if note else ""), file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 -- one line for the user; --debug for the developer
        if args.debug:
            raise
        print(f"{name}: error: {_describe(e)}", file=sys.stderr)
        return 1


def _describe(e: BaseException) -> str:
    """One line a user can act on; names from files in it are printed, never obeyed by the terminal."""
    if isinstance(e, OSError) and e.strerror:
        where = f": {e.filename}" if e.filename else ""
        return printable(f"{e.strerror}{where}")
    if isinstance(e, MemoryError):
        return "out of memory: choose a smaller size (creps export renders any size in tiles)"
    text = re.sub(r" at 0x[0-9a-fA-F]+", "", " ".join(str(e).split())) or type(e).__name__  # no addresses
    text = printable(text)
    known = ("CheckpointError", "ValueError", "LatentFileError", "DatasetError", "DiskFullError", "FileNotFoundError",
             "UnsafePickleError", "RuntimeError", "ConnectionError")
    return text if type(e).__name__ in known else f"{type(e).__name__}: {text} (run with --debug for details)"


if __name__ == "__main__":
    sys.exit(main())
