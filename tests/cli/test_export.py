"""`creps export --from`: an export made again from its record, and a damaged record in one line."""

from __future__ import annotations

import json

from creps_core.cli.main import main
from creps_core.jobs.export import read_image


def test_an_export_is_made_again_from_its_record_and_a_damaged_record_is_one_line(tmp_path, ckpt, capsys):
    out = tmp_path / "a.jpg"
    assert main(["export", str(out), "-c", str(ckpt), "--size", "48x32", "--tile", "16", "--zoom", "2"]) == 0
    record = json.loads((tmp_path / "a.jpg.json").read_text())
    again = tmp_path / "again.png"
    assert main(["export", str(again), "--from", str(out), "--tile", "32"]) == 0
    assert read_image(again).shape == (32, 48, 3)
    record["extra"]["tile"] = [16]
    damaged = tmp_path / "damaged.json"
    damaged.write_text(json.dumps(record))
    capsys.readouterr()
    assert main(["export", str(tmp_path / "b.png"), "--from", str(damaged)]) == 1
    err = capsys.readouterr().err
    assert "damaged.json: its export record is damaged" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "b.png").exists()
