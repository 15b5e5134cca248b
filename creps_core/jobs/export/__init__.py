"""Posters: tiled exports to TIFF/PNG/JPEG and Deep Zoom, locally or on Dask.

The package's interface: callers import from here, so the modules inside can be split and
moved without touching them.  :mod:`.spec` says what an export is, :mod:`.tiles` renders it
tile by tile, :mod:`.writers` and :mod:`.deepzoom` write its files, :mod:`.job` runs the steps;
the work folder they share with videos is :mod:`creps_core.jobs.workdir`."""

from creps_core.jobs.export.job import (  # noqa: F401 -- re-exported: the package's interface
    ModelRef,
    export_image,
    export_steps,
    make_record,
    outputs,
    spec_from_record,
)
from creps_core.jobs.export.spec import (  # noqa: F401 -- re-exported: the package's interface
    EXTENSIONS,
    IN_MEMORY_LIMIT,
    JPEG_MAX_SIDE,
    MAX_PYRAMID_LEVELS,
    MAX_SIDE,
    ExportSpec,
    format_of,
    validate,
)
from creps_core.jobs.export.tiles import (  # noqa: F401 -- re-exported: the package's interface
    STRIP_PIXELS,
    Renderer,
    TileTask,
    export_line_coords,
    level_shape,
    line_cache_limit,
    local_renderer,
    plan_tiles,
    tile_pixels,
)
from creps_core.jobs.export.writers import TIFF_BUFFER_TILES, read_image  # noqa: F401 -- re-exported
from creps_core.jobs.workdir import (  # noqa: F401 -- re-exported: the package's interface
    MAX_MANIFEST_BYTES,
    NotEnoughSpace,
    TileStore,
    check_free_space,
    model_identity,
    remove_finished_work,
    work_dir,
)
