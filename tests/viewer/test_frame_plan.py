"""The explorer's frame plan, without Qt or threads: which levels answer a request, in what
order, starting from which pixels."""

from __future__ import annotations

import torch

from creps_core.latent.latents import LatentSpec
from creps_core.model.network import CREPSConfig
from creps_core.render.costs import Work
from creps_core.render.views import View
from creps_viewer.render.frame_plan import FULL, PREVIEW, FramePlanner, RenderRequest

SIZE = (480, 400)  # preview 120x100 = 12000 px: above the coarse-preview threshold


def request(seed: int = 1, center=(0.5, 0.5), interactive: bool = False, size=SIZE, scale: int = 4,
            precision: str = "fp32") -> RenderRequest:
    view = View(*size, center=center, snap=True)
    return RenderRequest(LatentSpec(seed=seed), view, precision=precision, preview_scale=scale,
                         interactive=interactive)


def run(planner: FramePlanner, req: RenderRequest) -> list:
    """Execute the plan with fake pixels (each step's frame filled with the step's index)."""
    steps = planner.steps(req)
    for i, step in enumerate(steps):
        canvas = planner.canvas(req, step, 3)
        for r0, c0, rows, cols in canvas.regions:
            canvas.image[:, r0:r0 + rows, c0:c0 + cols] = float(i + 1)
        planner.record(req, step, canvas.image, ms=1.0 * canvas.pixels, pixels=canvas.pixels)
    return steps


def test_a_new_latent_goes_coarse_then_preview_then_full():
    planner = FramePlanner(idle_delay=0.2)
    steps = planner.steps(request())
    assert [s.level for s in steps] == [PREVIEW, PREVIEW, FULL]
    coarse, preview, full = (s.view for s in steps)
    assert (coarse.width, coarse.height) == (30, 25) and (preview.width, preview.height) == (120, 100)
    assert full == request().view
    # previews complete even when superseded (a drag must show motion); the full frame does not
    assert [s.completes for s in steps] == [True, True, False]
    assert [s.then_wait for s in steps] == [None, None, None]


def test_a_slider_drag_waits_for_the_hand_to_rest():
    planner = FramePlanner(idle_delay=0.2)
    steps = planner.steps(request(interactive=True))
    assert (steps[0].view.width, steps[0].view.height) == (20, 17)  # a sixth of the preview's density
    assert [s.then_wait for s in steps] == [0.0, 0.2, None]  # a newer value first, then a rest to refine


def test_the_same_latent_again_skips_the_coarse_preview():
    planner = FramePlanner()
    run(planner, request())
    steps = planner.steps(request(center=(0.3, 0.5)))  # a jump: nothing reusable, but the lines are known
    assert [s.level for s in steps] == [PREVIEW, FULL]


def test_a_small_pan_reuses_pixels_at_every_level():
    planner = FramePlanner()
    first = request()
    run(planner, first)
    s = first.view.spacing
    panned = request(center=(0.5 + 3 * s, 0.5 - 5 * s))  # 3 rows down, 5 columns left
    steps = planner.steps(panned)
    assert [s.level for s in steps] == [PREVIEW, FULL] and steps[-1].completes  # no dearer than a preview
    canvas = planner.canvas(panned, steps[-1], 3)
    assert canvas.reused and canvas.pixels == 3 * 480 + 5 * (400 - 3)
    # the overlap holds the old full frame's pixels, the exposed strips are still empty
    assert bool((canvas.image[:, 10, 10] == 3.0).all()) and bool((canvas.image[:, -1, 100] == 0.0).all())
    assert planner.canvas(panned, steps[0], 3).reused


def test_a_pan_cheaper_than_a_fresh_preview_skips_the_preview():
    planner = FramePlanner()
    run(planner, request(scale=1))  # only a full frame is known
    s = request().view.spacing
    steps = planner.steps(request(center=(0.5 + 3 * s, 0.5)))
    assert [s.level for s in steps] == [FULL] and steps[0].completes


def test_a_full_frame_starts_from_the_upscaled_preview():
    planner = FramePlanner()
    req = request()
    steps = planner.steps(req)
    for step in steps[:-1]:
        canvas = planner.canvas(req, step, 3)
        canvas.image.fill_(0.25)
        planner.record(req, step, canvas.image, 1.0, canvas.pixels)
    canvas = planner.canvas(req, steps[-1], 3)
    assert not canvas.reused and canvas.image.shape == (3, 400, 480)
    assert torch.allclose(canvas.image, torch.full_like(canvas.image, 0.25))


def test_another_latent_or_precision_reuses_nothing_and_reset_forgets():
    planner = FramePlanner()
    run(planner, request())
    assert not planner.canvas(request(seed=2), planner.steps(request(seed=2))[-1], 3).reused
    assert len(planner.steps(request(precision="bf16"))) == 3  # coarse preview again: new lines
    run(planner, request())
    planner.reset()
    assert planner.ms_per_pixel is None and len(planner.steps(request())) == 3


def test_fast_frames_need_no_preview_and_scale_one_turns_previews_off():
    planner = FramePlanner()
    run(planner, request())
    planner.ms_per_pixel = 1e-6  # a GPU: the whole frame in well under FAST_FRAME_MS
    assert [s.level for s in planner.steps(request(center=(0.2, 0.2)))] == [FULL]
    assert [s.level for s in FramePlanner().steps(request(scale=1))] == [FULL]


def test_bands_cover_every_region_exactly_once():
    planner = FramePlanner()
    req = request(size=(100, 37))
    canvas = planner.canvas(req, planner.steps(req)[-1], 3)
    seen = torch.zeros(37, 100, dtype=torch.int32)
    for r0, c0, rows, cols in canvas.bands(band_pixels=1000):
        assert rows * cols <= 1000
        seen[r0:r0 + rows, c0:c0 + cols] += 1
    assert bool((seen == 1).all())


def test_work_counts_lines_by_their_cost():
    cfg = CREPSConfig(z_dim=32, w_dim=32, img_resolution=32, mapping_layers=2, channel_base=512, channel_max=32,
                      biline_channels=8)
    work = Work(cfg, line_coords=10, pixels=100)
    line_total = 10 * work.line_cost
    assert work.fraction == 0.0 and work.total == line_total + 100 * work.pixel_cost
    work.add_lines(5)
    assert 0 < work.fraction < line_total / work.total
    work.add_pixels(100)
    work.add_lines(50)  # never more than the whole
    assert work.done == work.total and work.fraction == 1.0


def test_a_pan_shows_the_upscaled_preview_in_the_exposed_strips_until_they_are_rendered():
    """Issue 20: refining a pan never shows a flat grey strip. After a drag the preview of the new
    position is on screen: the full frame's exposed strips start from it."""
    planner = FramePlanner()
    first = request()
    run(planner, first)
    s = first.view.spacing
    panned = request(center=(0.5, 0.5 - 60 * s))  # 60 columns left: dearer than a preview
    steps = planner.steps(panned)
    assert [st.level for st in steps] == [PREVIEW, FULL]
    preview = planner.canvas(panned, steps[0], 3)
    preview.image[:, :, :] = 0.5  # what the preview rendered (a pan at preview level too)
    planner.record(panned, steps[0], preview.image, 1.0, preview.pixels)
    canvas = planner.canvas(panned, steps[1], 3)
    assert canvas.reused and canvas.filled and canvas.regions == ((0, 0, 400, 60),)
    strip = canvas.image[:, :, :60]  # the exposed strip: the upscaled preview (bilinear rounding aside)
    assert torch.allclose(strip, torch.full_like(strip, 0.5), rtol=0, atol=1e-6)
    assert bool((canvas.image[:, :, 60:] == 3.0).all())  # the rest: the old full frame, shifted


def test_without_a_preview_to_show_the_plan_marks_the_canvas_unfit_for_partial_frames():
    planner = FramePlanner()
    run(planner, request(scale=1))
    s = request().view.spacing
    panned = request(center=(0.5 + 3 * s, 0.5))
    steps = planner.steps(panned)
    assert [st.level for st in steps] == [FULL]
    canvas = planner.canvas(panned, steps[0], 3)
    assert canvas.reused and not canvas.filled  # the renderer shows no partial frame of it
    fresh = FramePlanner()
    assert not fresh.canvas(request(), fresh.steps(request())[-1], 3).filled


def test_bands_are_whole_rounds_of_the_pool_where_they_can_be():
    planner = FramePlanner()
    req = request(size=(894, 754))
    canvas = planner.canvas(req, planner.steps(req)[-1], 3)
    bands = list(canvas.bands(16384, rows_per_round=lambda cols: 4))
    assert {rows for _, _, rows, _ in bands[:-1]} == {16} and sum(b[2] for b in bands) == 754  # 18 -> 16 rows
    assert {b[2] for b in canvas.bands(894 * 3, rows_per_round=lambda cols: 4)} == {3, 1}  # narrower: as asked


def test_a_device_that_draws_whole_frames_gets_one_full_frame():
    planner = FramePlanner()
    assert [(st.level, st.view, st.completes) for st in planner.steps(request(), whole_frames=True)] == \
        [(FULL, request().view, False)]
    assert planner.steps(request(interactive=True), whole_frames=True)[0].completes  # a drag shows every frame
