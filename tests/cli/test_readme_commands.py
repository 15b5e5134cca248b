"""Every `creps ...` command in README.md's code blocks runs as written (exit 0), in README order, in one
folder (the commands, the shrink table and the files a user is assumed to have: :mod:`tests.readme_commands`,
which also runs them against a bare `pip install .`)."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from creps_core.cli.main import main

from ..readme_commands import BLOCKS, README, prepare_folder, readme_commands, shrink


@pytest.fixture(scope="module")
def readme_folder(tmp_path_factory) -> Path:
    return prepare_folder(tmp_path_factory.mktemp("readme"))


def test_the_readme_is_parsed_whole():
    """The parser finds the commands of every kind the README shows (a parser that found none would pass)."""
    commands = readme_commands(README.read_text())
    kinds = {argv[0] for argv in commands}
    assert {"render", "export", "video", "train", "consistency", "directions", "lines", "info", "convert", "bench",
            "demo-data"} <= kinds
    assert ["render", "--from", "out/seed0005.png", "--outdir", "again"] in commands
    assert shrink(["train", "--data", "x", "--kimg", "500", "--device", "cuda"]) == \
        ["train", "--data", "x", "--kimg", "0.004", "--batch", "4", "--device", "cpu"]
    assert shrink(["bench", "--change", "layers:8-14"]) == ["bench", "--change", "layers:8-10"]
    assert shrink(["render", "--mix", "11:8-13", "--direction", "s.npz:smile:-2:4-8"]) == \
        ["render", "--mix", "11:8-10", "--direction", "s.npz:smile:-2:4-8"]


@pytest.mark.parametrize("block", range(len(BLOCKS)), ids=[f"block{i}-{b[0][0]}" for i, b in enumerate(BLOCKS)])
def test_every_readme_command_runs_as_written(readme_folder, monkeypatch, capsys, block):
    """The blocks run in README order in one folder: a block reads what the blocks before it wrote."""
    monkeypatch.chdir(readme_folder)
    failures = []
    for argv in BLOCKS[block]:
        ran = shrink(argv)
        code = main(ran)
        err = capsys.readouterr().err.strip().splitlines()
        if code != 0:
            failures.append(f"creps {shlex.join(ran)} -> exit {code}: {err[-1] if err else ''}")
    assert not failures, "\n".join(failures)


def test_the_readme_commands_wrote_what_it_says(readme_folder):
    for name in ("out/seed0005.png", "again/seed0005.png", "poster.tif", "again.tif", "poster.dzi", "poster.html",
                 "walk.mp4", "walk-60fps.mp4", "mine.mp4", "runs/mine/snapshot-000000.safetensors",
                 "runs/mine/samples-000000.png", "runs/photos-fit/snapshot-step0000002.safetensors",
                 "proj/projected_w.npz"):
        assert (readme_folder / name).is_file(), name
