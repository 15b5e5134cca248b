"""What the subcommands share: options turned into latents and views (also for the explorer's own
command line), jobs closed however a command ends, and what is drawn on the terminal."""

from __future__ import annotations

import argparse

import pytest

from creps_core.cli.args import UsageError, add_latent, add_view
from creps_core.cli.common import build_latent, build_view, closing_job
from creps_core.cli.terminal import TrainingProgress
from creps_core.latent.latents import LatentSpec
from creps_core.progress import Progress, run_job
from creps_core.render.views import View


def _explorer_like(argv: list[str]) -> argparse.Namespace:
    """A parser with only the latent and view groups, as creps-explorer builds its own."""
    p = argparse.ArgumentParser()
    add_latent(p)
    add_view(p, default_size=None)
    return p.parse_args(argv)


def test_latents_and_views_from_any_parser_with_the_shared_groups():
    args = _explorer_like(["--trunc", "0.7", "--class", "2", "--center", "0.4,0.6", "--zoom", "3",
                           "--rotate", "30", "--warp", "swirl:2", "--size", "300x200"])
    latent = build_latent(args, 5, LatentSpec(seed=1, psi=0.5, cutoff=4))
    assert (latent.seed, latent.psi, latent.cutoff, latent.class_idx) == (5, 0.7, 4, 2)
    assert build_latent(argparse.Namespace(), None, latent) == latent  # nothing given: the base stands
    view = build_view(args, View(64, 48))
    assert (view.width, view.height, view.center, view.zoom, view.rotation) == (300, 200, (0.4, 0.6), 3, 30)
    assert view.warp.kind == "swirl" and view.warp.strength == 2
    kept = build_view(args, View(64, 48), resize=False)  # the explorer's --size is its window's
    assert (kept.width, kept.height) == (64, 48) and kept.zoom == 3
    assert build_view(argparse.Namespace(), View(64, 48)) == View(64, 48)


def test_a_view_the_options_make_impossible_is_a_usage_error():
    with pytest.raises(UsageError, match="finite"):  # the centre moved by 1e300 / 1e-300 image sides
        build_view(_explorer_like(["--zoom", "1e-300", "--translate", "0,1e300"]), View(8, 8))


def test_a_job_is_closed_when_drawing_its_progress_fails():
    cleaned = []

    def steps():
        try:
            for i in range(3):
                yield Progress("work", i + 1, 3)
        finally:
            cleaned.append(True)

    def report(step: Progress) -> None:
        raise KeyboardInterrupt  # Ctrl-C while a bar is drawn, between two steps

    with pytest.raises(KeyboardInterrupt), closing_job(steps()) as job:
        run_job(job, report=report)
    assert cleaned == [True]  # at once, not when the generator is collected


def test_training_notes_are_escaped_on_the_terminal(capsys):
    with TrainingProgress() as bar:
        bar(Progress("training", 4, 8, note="data/\x1b[2Jfaces: 3 images skipped", figures=(("G", 1.5),)))
    out = capsys.readouterr().out  # written above the bar (tqdm.write)
    assert "\x1b[2J" not in out and "\\x1b[2Jfaces: 3 images skipped" in out
