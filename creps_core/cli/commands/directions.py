"""``creps directions``: write a directions file (SeFa or PCA of a model, or imported vectors)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from creps_core.cli.args import Subcommands, UsageError, add_network, new_parser, parse_layers, positive_int
from creps_core.vocabulary import DIRECTION_METHODS

if TYPE_CHECKING:
    from creps_core.latent.directions import DirectionSet

DEFAULT_COUNT = 8


def register(sub: Subcommands) -> None:
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
    d.set_defaults(run=run)


def _imported(args: argparse.Namespace, num_ws: int, w_dim: int, layers: tuple[int, int]) -> DirectionSet:
    import numpy as np

    from creps_core.latent.directions import DirectionSet
    from creps_core.latent.files import load_directions

    found = load_directions(args.import_file, num_ws, w_dim)
    if not found.path.suffix.lower() == ".npy":
        raise UsageError(f"--import reads a GANSpace/InterfaceGAN .npy; {found.path.name} is not one")
    count = min(args.count or len(found), len(found))
    return DirectionSet(list(found.names[:count]), found.vectors[:count], [layers] * count,
                        np.linalg.norm(found.vectors[:count], axis=1), "import")


def run(args: argparse.Namespace) -> int:
    from creps_core.cli.common import check_output_folder, open_network
    from creps_core.cli.terminal import say
    from creps_core.latent.directions import check_count, layer_range, pca, sefa
    from creps_core.latent.files import save_directions
    from creps_core.latent.latents import LatentSpace

    if not args.out.lower().endswith(".npz"):
        raise UsageError(f"{args.out}: a directions file ends in .npz")
    check_output_folder(args.out)
    model = open_network(args)  # --import is checked before the model loads
    g = model.build()
    try:
        layers = layer_range(g, args.layers)
        if not args.import_file:
            check_count(args.count or DEFAULT_COUNT, model.cfg.w_dim)  # before the line that says the work starts
    except ValueError as e:
        raise UsageError(str(e)) from None
    count = args.count or DEFAULT_COUNT
    if args.import_file:
        found = _imported(args, model.cfg.num_ws, model.cfg.w_dim, layers)  # a bounded .npy: read at once
    elif args.method == "sefa":
        say(f"computing {count} SeFa directions of layers {layers[0]}-{layers[1]} (eigenvectors of the style weights)")
        found = sefa(g, count, layers)
    else:
        say(f"computing {count} principal axes of W (sampling the mapping network)")
        found = pca(LatentSpace(g), count, layers)
    names = found.names
    if args.names is not None:
        names = [n.strip() for n in args.names.split(",")]
        if len(names) != len(found.names) or len(set(names)) != len(names) or not all(names):
            raise UsageError(f"--names needs {len(found.names)} different names, got {args.names!r}")
    save_directions(args.out, names, found.vectors, found.layers, found.values, found.method)
    print(f"wrote {args.out} ({len(names)} {found.method} directions on layers {layers[0]}-{layers[1]})")
    return 0
