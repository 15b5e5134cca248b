"""The demo models shipped with the package, and how a ``--network`` name becomes a model.

Names a user can give wherever a checkpoint is asked for:

* a path to an official ``.pkl`` or a native ``.safetensors`` file;
* ``demo`` (the default model), or ``demo:NAME`` for one of :data:`DEMO_MODELS`;
* ``random`` or ``random:SEED``: a small generator with seeded random weights, always
  labelled as such (never used unless asked for);
* an ``http(s)://`` URL, as the official scripts take: downloaded once into the user's cache folder
  (:mod:`creps_core.io.download`), then opened from there by the same safe loader.

The demo files live in the repository's ``assets/`` folder, installed inside the package
namespace as ``creps_core.assets``; they are found through importlib.resources, so every kind of
install opens them, and in ``assets/`` beside the package in a source checkout run without
installing (``PYTHONPATH=.``).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import torch

from creps_core.io.download import cache_folder, cached_file, download, is_url, keep
from creps_core.model.checkpoint import CheckpointError, LoadedModel, Report, load_checkpoint
from creps_core.model.network import CREPSConfig, CREPSGenerator
from creps_core.progress import Progress, format_bytes

#: name -> (file in creps_core.assets, one-line description)
DEMO_MODELS: dict[str, tuple[str, str]] = {
    "photos-fit": ("demo_photos_fit.safetensors", "128x128, ten photographs fitted by regression: seeds 0-9 are "
                   "the photos, other seeds a blur between them; tiny config"),
    "photos": ("demo_photos.safetensors", "64x64 colour scenes and textures (multi-scale photo crops), tiny config"),
    "faces": ("demo_faces.safetensors", "32x32 grayscale faces (LFW), tiny config"),
}
DEFAULT_DEMO = "photos-fit"
ASSETS_PACKAGE = "creps_core.assets"  # where an install puts the repository's assets/ folder
SOURCE_ASSETS = Path(__file__).resolve().parents[2] / "assets"  # the folder itself, in a source checkout

SMALL_RANDOM_CONFIG = CREPSConfig(z_dim=64, w_dim=64, img_resolution=64, mapping_layers=2,
                                  channel_base=2048, channel_max=128, biline_channels=16)


def demo_path(name: str = DEFAULT_DEMO) -> Path:
    """The installed file of demo model ``name`` (CheckpointError when unknown or missing)."""
    if name not in DEMO_MODELS:
        raise CheckpointError(f"unknown demo model {name!r}; choose one of "
                              + ", ".join(f"demo:{n}" for n in DEMO_MODELS))
    file = DEMO_MODELS[name][0]
    try:
        path = Path(str(resources.files(ASSETS_PACKAGE).joinpath(file)))
    except ModuleNotFoundError:  # a source checkout, not installed: the repository's folder
        path = SOURCE_ASSETS / file
    if not path.is_file():
        raise CheckpointError(f"the demo model demo:{name} is missing from this installation; "
                              "reinstall creps-explorer, or pass --network PATH")
    return path


def random_model(cfg: CREPSConfig = SMALL_RANDOM_CONFIG, seed: int = 0) -> LoadedModel:
    """A generator with seeded random weights, labelled as such."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        g = CREPSGenerator(cfg)
    state = {k: v.detach().clone() for k, v in g.state_dict().items()}
    return LoadedModel(cfg, state, Path(f"random:{seed}"), "", "random",
                       metadata={"label": f"random weights (seed {seed})"})


def default_model() -> LoadedModel:
    """The default demo model."""
    return open_model("demo")


def _random_seed(name: str) -> int | None:
    """'random' -> 0, 'random:7' -> 7, '<random:7>' (older files) -> 7, anything else -> None."""
    text = name[1:-1] if name.startswith("<") and name.endswith(">") else name
    head, _, seed = text.partition(":")
    if head != "random":
        return None
    try:
        return int(seed or 0)
    except ValueError:
        raise CheckpointError(f"bad model name {name!r}: use random or random:SEED") from None


def is_model_name(name: str) -> bool:
    """True for the names :func:`open_model` takes besides paths ('demo', 'demo:faces', 'random:3', URLs)."""
    try:
        return name == "demo" or name.startswith("demo:") or _random_seed(name) is not None or is_url(name)
    except CheckpointError:
        return False


def open_model(name: str | None, network: str = "G_ema", report: Report | None = None,
               offline: bool = False) -> LoadedModel:
    """A model by ``--network`` name (see the module docstring); None means ``demo``.

    ``report`` hears the load's (and a download's) progress; ``offline`` forbids downloads, so a URL
    opens only from the cache."""
    name = "demo" if name is None else str(name)
    if name == "demo" or name.startswith("demo:"):
        kind = name.partition(":")[2] or DEFAULT_DEMO
        model = load_checkpoint(demo_path(kind), report=report)
        model.metadata.setdefault("label", f"demo:{kind}")
        return model
    seed = _random_seed(name)
    if seed is not None:
        return random_model(seed=seed)
    if is_url(name):
        return _open_url(name, network, report, offline)
    return load_checkpoint(name, network, report)


def _open_url(url: str, network: str, report: Report | None, offline: bool) -> LoadedModel:
    """The checkpoint at ``url``: from the cache when it is there (no network at all), else downloaded,
    opened, and only then kept in the cache (a download the loader refuses is deleted)."""
    cached = cached_file(url)
    if cached.is_file():
        model = load_checkpoint(cached, network, report)
    elif offline:
        raise CheckpointError(f"{url} is not in the download cache ({cache_folder()}) and --offline forbids "
                              "downloading it")
    else:
        part = download(url, report)
        try:
            model = load_checkpoint(part, network, report)
        except CheckpointError as e:
            part.unlink(missing_ok=True)
            reason = str(e).removeprefix(f"{part}: ")
            raise CheckpointError(f"{url}: the download is not a checkpoint this tool opens ({reason}); "
                                  "nothing was kept") from None
        model.path = keep(part, url)
        if report is not None:
            report(Progress("downloaded", 1, 1, note=f"downloaded {url} ({format_bytes(model.path.stat().st_size)}, "
                                                     f"sha256 {model.sha256}) into {model.path}"))
    model.metadata.setdefault("url", url)
    return model


def is_random(model: LoadedModel) -> bool:
    return model.source_format == "random"


def model_label(model: LoadedModel) -> str:
    """Short human name of a model for titles and status lines."""
    return model.metadata.get("label") or model.path.name
