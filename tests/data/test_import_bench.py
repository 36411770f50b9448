"""``mbrl-control bench import`` runs end to end on a small log and prints JSON whose two ways
of segmenting agree (the timings themselves are never asserted)."""

from __future__ import annotations

import json

from mbrl_control.cli import main


def test_bench_import_prints_json_with_identical_segmentations(capsys):
    argv = ["bench", "import", "--rows", "3000", "--reference-rows", "1500", "--gap-every", "1000"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["bench"] == "import" and out["rows"] == 3000
    assert out["identical"] is True
    assert out["transitions"] > 600 and "gap 2" in out["summary"], out["summary"]
    for key in ("import_s", "segment_rows_us_per_row", "segment_arrays_us_per_row", "speedup"):
        assert out[key] > 0
