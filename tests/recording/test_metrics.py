"""MetricsLog: TensorBoard event files read back by TensorBoard's own reader, the CSV beside
them, a resumed log, and a folder that cannot be written (warn once, keep running)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from mbrl_control.recording.metrics import MetricsLog, append_scalars, read_metrics_csv


def _tensorboard(folder: Path) -> dict[str, list[tuple[int, float]]]:
    acc = EventAccumulator(str(folder))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_scalars_readable_by_tensorboard_and_csv(tmp_path: Path) -> None:
    folder = tmp_path / "run" / "metrics"
    with MetricsLog(folder) as log:
        hook = log.callback("train")
        for epoch in range(1, 4):
            hook(epoch, {"train_loss": 1.0 / epoch, "improved_members": np.int64(epoch), "x": []})
        log.scalars("round", {"mean_return": np.float32(-12.5), "note": "text"}, step=0)
        log.scalar("latency/p99_ms", torch.tensor(3.25), step=7)
    tb = _tensorboard(folder)
    assert sorted(tb) == [
        "latency/p99_ms",
        "round/mean_return",
        "train/improved_members",
        "train/train_loss",
    ]
    assert [s for s, _ in tb["train/train_loss"]] == [1, 2, 3]
    assert np.allclose([v for _, v in tb["train/train_loss"]], [1.0, 0.5, 1 / 3])
    assert tb["round/mean_return"] == [(0, -12.5)]
    csv = read_metrics_csv(folder)
    assert sorted(csv) == sorted(tb)
    for tag, points in tb.items():
        assert csv[tag].steps == [s for s, _ in points]
        assert np.allclose(csv[tag].values, [v for _, v in points], rtol=1e-6)


def test_resumed_log_appends_one_curve(tmp_path: Path) -> None:
    for offset in (0, 3):
        with MetricsLog(tmp_path) as log:
            hook = log.callback("train", step_offset=offset)
            for epoch in range(1, 4):
                hook(epoch, {"loss": float(offset + epoch)})
    assert _tensorboard(tmp_path)["train/loss"] == [(s, float(s)) for s in range(1, 7)]
    series = read_metrics_csv(tmp_path / "metrics.csv")["train/loss"]
    assert series.steps == list(range(1, 7))
    assert (tmp_path / "metrics.csv").read_text().count("step,tag,value,wall_time") == 1


def test_csv_reader_names_a_bad_row_and_skips_a_second_header(tmp_path: Path) -> None:
    path = tmp_path / "metrics.csv"
    header = "step,tag,value,wall_time\n"
    path.write_text(header + "0,a/x,1.5,0\n" + header + "1,a/x,2.5,0\n")
    assert read_metrics_csv(path)["a/x"].values == [1.5, 2.5]
    path.write_text(header + "0,a/x,1.5,0\nzero,a/x,1,0\n")
    with pytest.raises(ValueError, match=r"metrics.csv:3: bad row"):
        read_metrics_csv(path)


def test_scalar_refuses_a_non_number(tmp_path: Path) -> None:
    with MetricsLog(tmp_path) as log, pytest.raises(TypeError, match=r"'a/b'.*list"):
        log.scalar("a/b", [1.0], step=0)


def test_unwritable_folder_warns_once_and_keeps_running(tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    warns = pytest.warns(RuntimeWarning, match=r"cannot write to .*a_file/metrics")
    with warns as record, MetricsLog(blocker / "metrics") as log:
        for step in range(5):
            log.scalars("train", {"loss": 1.0}, step)
            log.flush()
        assert not log.active
    assert len([w for w in record if issubclass(w.category, RuntimeWarning)]) == 1


def test_disk_full_mid_run_warns_once_and_keeps_running(tmp_path: Path) -> None:
    """A real ENOSPC: the CSV is /dev/full (every write fails when flushed)."""
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full on this system")
    (tmp_path / "metrics.csv").symlink_to("/dev/full")
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        with MetricsLog(tmp_path) as log:
            for step in range(5):
                log.scalars("train", {"loss": 1.0}, step)
        assert log.failed is not None and "No space left" in log.failed
    assert len([w for w in record if issubclass(w.category, RuntimeWarning)]) == 1


def test_a_run_that_logs_nothing_leaves_nothing(tmp_path: Path) -> None:
    """Files appear with the first scalar: a run failing before it leaves no folder (the CLI
    then removes what it created empty)."""
    with pytest.raises(RuntimeError), MetricsLog(tmp_path / "new" / "metrics") as log:
        log.scalars("train", {"note": "not a number"}, 0)  # nothing to write yet
        raise RuntimeError("collect failed")
    assert list(tmp_path.iterdir()) == []


def test_no_folder_records_nothing() -> None:
    with MetricsLog(None) as log:
        log.callback("train")(1, {"loss": 1.0})
        assert not log.active


def test_append_scalars_one_shot_events(tmp_path: Path) -> None:
    for k in range(3):
        gate = {"deploy": k % 2 == 1, "candidate_error": 0.5 / (k + 1)}
        assert append_scalars(tmp_path, "gate", gate) == k  # the next step of gate/*
    assert append_scalars(tmp_path, "cell", {"return": -70.0}) == 0  # its own curve
    assert append_scalars(tmp_path, "gate", {"deploy": True}, step=10) == 10
    tb = _tensorboard(tmp_path)
    # one event file per call: their reading order follows file names made in the same second
    assert sorted(tb["gate/deploy"]) == [(0, 0.0), (1, 1.0), (2, 0.0), (10, 1.0)]
    assert read_metrics_csv(tmp_path)["gate/candidate_error"].steps == [0, 1, 2]
    assert append_scalars(None, "gate", {"deploy": True}) == 0  # no folder: nothing written
