"""Videos: keyframes, the timeline between them, encoding.

The package's interface: callers import from here, so the modules inside can be split and
moved without touching them.  :mod:`.keyframes` says what a video is (the explorer keeps its
keyframes in these records), :mod:`.timeline` what each frame shows, :mod:`.encode` writes the
file, :mod:`.job` runs the steps.  Importing the package loads no encoder (imageio)."""

from creps_core.jobs.video.encode import PNG_SEQUENCE, VIDEO_FORMATS, format_of  # noqa: F401 -- re-exported
from creps_core.jobs.video.job import (  # noqa: F401 -- re-exported: the package's interface
    frame_path,
    render_video,
    video_record,
    video_steps,
)
from creps_core.jobs.video.keyframes import (  # noqa: F401 -- re-exported: the package's interface
    EASINGS,
    MAX_FPS,
    MAX_FRAME_SIDE,
    MAX_FRAMES,
    MAX_SPEC_BYTES,
    MAX_TURNS,
    SPEC_MARK,
    Keyframe,
    VideoSpec,
    fit_video_size,
    latent_walk,
    load_spec,
    official_walk,
    orbit,
    pan,
    record,
    save_spec,
    saved_spec,
    spec_from_data,
    validate,
    walk_through,
    zoom_into,
)
from creps_core.jobs.video.timeline import (  # noqa: F401 -- re-exported: the package's interface
    Frame,
    frame_at,
    frames,
    interp_latent,
    interp_view,
    interp_warp,
    preview_state,
    video_macs,
)
