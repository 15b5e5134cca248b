"""``creps directions``: write a directions file (SeFa or PCA of a model, or imported vectors)."""

from __future__ import annotations

import argparse

import numpy as np

from creps_core.cli.args import UsageError
from creps_core.cli.common import open_network
from creps_core.latent.directions import DirectionSet, layer_range, pca, sefa
from creps_core.latent.files import load_directions, save_directions
from creps_core.latent.latents import LatentSpace

DEFAULT_COUNT = 8


def _imported(args: argparse.Namespace, num_ws: int, w_dim: int, layers: tuple[int, int]) -> DirectionSet:
    found = load_directions(args.import_file, num_ws, w_dim)
    if not found.path.suffix.lower() == ".npy":
        raise UsageError(f"--import reads a GANSpace/InterfaceGAN .npy; {found.path.name} is not one")
    count = min(args.count or len(found), len(found))
    return DirectionSet(list(found.names[:count]), found.vectors[:count], [layers] * count,
                        np.linalg.norm(found.vectors[:count], axis=1), "import")


def run(args: argparse.Namespace) -> int:
    if not args.out.lower().endswith(".npz"):
        raise UsageError(f"{args.out}: a directions file ends in .npz")
    model = open_network(args)
    g = model.build()
    try:
        layers = layer_range(g, args.layers)
    except ValueError as e:
        raise UsageError(str(e)) from None
    if args.import_file:
        found = _imported(args, model.cfg.num_ws, model.cfg.w_dim, layers)
    elif args.method == "sefa":
        found = sefa(g, args.count or DEFAULT_COUNT, layers)
    else:
        found = pca(LatentSpace(g), args.count or DEFAULT_COUNT, layers)
    names = found.names
    if args.names is not None:
        names = [n.strip() for n in args.names.split(",")]
        if len(names) != len(found.names) or len(set(names)) != len(names) or not all(names):
            raise UsageError(f"--names needs {len(found.names)} different names, got {args.names!r}")
    save_directions(args.out, names, found.vectors, found.layers, found.values, found.method)
    print(f"wrote {args.out} ({len(names)} {found.method} directions on layers {layers[0]}-{layers[1]})")
    return 0
