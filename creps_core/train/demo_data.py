"""Build the demo training set offline from images shipped inside PyPI packages.

No download: the pictures come from the data files that scikit-image (and, for the
``photos`` theme, scikit-learn) install with the package (optional extra
``[demo-data]``).  Two themes:

* ``faces`` (default, used for assets/demo.safetensors): the 100 face crops of
  ``skimage.data.lfw_subset()`` (25x25 grayscale, from Labeled Faces in the Wild).
  One coherent subject is what a tiny model can learn on a CPU in an hour; each face
  is written several times with a small random zoom/shift and contrast change so the
  discriminator sees variety rather than 100 fixed pixels patterns.
* ``photos``: random square crops of the bundled colour photographs (astronaut, coffee,
  chelsea, rocket, china, flower ...) - colourful, but a mixture of textures rather
  than one recognisable subject.

Licences and sources are listed in assets/README.md.  Writing the set is a job like any other
(:mod:`creps_core.progress`): :func:`demo_data_steps` yields a Progress after every image.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from creps_core.progress import DONE, CancelFn, Cancelled, Progress
from creps_core.vocabulary import DEMO_THEMES

WRITING_IMAGES = "writing images"  # the stage of every record but the last


def _require(module: str):
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise RuntimeError(f"demo data needs {module.split('.')[0]}: pip install 'creps-explorer[demo-data]' "
                           f"(scikit-image, scikit-learn)") from e


def lfw_faces() -> np.ndarray:
    """The 100 face images of skimage's LFW subset, float [100, 25, 25] in [0, 1]."""
    data = _require("skimage.data")
    return np.asarray(data.lfw_subset()[:100], dtype=np.float32)


#: The colour photographs scikit-image installs with the package (no download needed).
SKIMAGE_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field",
                  "immunohistochemistry", "retina")


def colour_photos() -> list[np.ndarray]:
    """Bundled colour photographs (uint8 HxWx3): scikit-image's and scikit-learn's samples."""
    data = _require("skimage.data")
    photos = [getattr(data, name)() for name in SKIMAGE_PHOTOS]
    photos.append(data.stereo_motorcycle()[0])
    sk_datasets = _require("sklearn.datasets")
    photos += list(sk_datasets.load_sample_images().images)
    return [np.asarray(p, dtype=np.uint8)[..., :3] for p in photos]


def _face_variant(face: np.ndarray, res: int, rng: np.random.Generator) -> np.ndarray:
    """A slightly zoomed/shifted, contrast-jittered copy of a 25x25 face, as uint8 res x res x 3."""
    im = Image.fromarray((face * 255).astype(np.uint8), mode="L")
    n = face.shape[0]
    s = rng.uniform(0.86, 1.0) * n  # crop size: up to 14 % zoom in
    x0, y0 = rng.uniform(0, n - s, size=2)
    im = im.resize((res, res), Image.Resampling.BICUBIC, box=(x0, y0, x0 + s, y0 + s))
    a = np.asarray(im, dtype=np.float32)
    gain, bias = rng.uniform(0.85, 1.15), rng.uniform(-12, 12)
    a = np.clip((a - a.mean()) * gain + a.mean() + bias, 0, 255).astype(np.uint8)
    return np.repeat(a[..., None], 3, axis=2)


def _photo_crop(photo: np.ndarray, res: int, rng: np.random.Generator) -> np.ndarray:
    """A square crop whose side is log-uniform in [8 %, 80 %] of the photo's short side.

    Many scales of the same scenes teach the generator textures and structures that look
    right both close up and from afar, which is what zooming a CREPS model shows.
    """
    h, w = photo.shape[:2]
    s = max(res // 2, int(np.exp(rng.uniform(np.log(0.08), np.log(0.8))) * min(h, w)))
    y, x = rng.integers(0, h - s + 1), rng.integers(0, w - s + 1)
    im = Image.fromarray(photo[y:y + s, x:x + s]).resize((res, res), Image.Resampling.LANCZOS)
    return np.asarray(im)


def demo_data_steps(out: str | os.PathLike, resolution: int = 32, theme: str = "faces",
                    per_image: int = 8, count: int = 2000, seed: int = 0,
                    cancel: CancelFn | None = None) -> Iterator[Progress]:
    """Write the demo set as PNGs under ``out``, yielding a record after every image and a last
    ``DONE`` record of the images written, with ``out`` as its path.

    ``faces``: 100 faces x ``per_image`` variants; ``photos``: ``count`` random crops.
    Deterministic for a given seed.  ``cancel()`` is polled between images (Cancelled).
    """
    if theme not in DEMO_THEMES:
        raise ValueError(f"unknown theme {theme!r}: choose one of {', '.join(DEMO_THEMES)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    pictures: np.ndarray | Sequence[np.ndarray]  # faces: one array; photos: a list of sizes
    if theme == "faces":
        pictures = lfw_faces()
        jobs = [(i, j) for i in range(len(pictures)) for j in range(per_image)]
    else:
        pictures = colour_photos()
        jobs = [(int(rng.integers(len(pictures))), k) for k in range(count)]
    for k, (i, j) in enumerate(jobs):
        if cancel is not None and cancel():
            raise Cancelled()
        if theme == "faces":
            image, name = _face_variant(pictures[i], resolution, rng), f"face{i:03d}_{j:02d}.png"
        else:
            image, name = _photo_crop(pictures[i], resolution, rng), f"photo{i:02d}_{j:05d}.png"
        Image.fromarray(image).save(out / name)
        yield Progress(WRITING_IMAGES, k + 1, len(jobs))
    yield Progress(DONE, len(jobs), len(jobs), 0.0, path=out)
