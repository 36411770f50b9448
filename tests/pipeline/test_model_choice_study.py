"""``mbrl-control ablation model`` (issue 20) on a tiny budget: random cart-pole episodes
collected here with real PyBullet (a task-file copy with short episodes and an H15 planner),
three models trained a few epochs, exported and run through onnxruntime for one short
episode each. Checks the table's structure and sanity, not its numbers."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from mbrl_control.pipeline.model_choice_study import holdout_episodes
from mbrl_control.tasks.task_file import builtin_task_files


def _short_task(path: Path, steps: int) -> Path:
    """The built-in cart-pole with ``steps``-step episodes and its planner at H15."""
    text = builtin_task_files()["cartpole_swingup"].read_text()
    for old, new in [
        ("episode_steps: 200", f"episode_steps: {steps}"),
        ("  preset: cartpole-rt", "  preset: cartpole-rt\n  horizon: 15"),
    ]:  # fmt: skip
        assert old in text, old
        text = text.replace(old, new)
    path.write_text(text)
    return path


def test_holdout_keeps_two_episodes_and_refuses_too_few() -> None:
    ids = np.repeat(np.arange(10), 3)
    held = holdout_episodes(ids, 0.1, seed=0)
    assert len(held) == 2 and list(held) == sorted(held)  # one calibrates, one tests
    assert list(held) == list(holdout_episodes(ids, 0.1, seed=0))  # same seed, same split
    with pytest.raises(ValueError, match="at least 3"):
        holdout_episodes(np.repeat(np.arange(2), 3), 0.2, seed=0)


def test_model_table_tiny_budget(tmp_path: Path, seeds, capsys) -> None:
    from mbrl_sim.collect import collect

    from mbrl_control.cli import main

    task = _short_task(tmp_path / "cartpole_short.task.yaml", steps=40)
    data, shifted = tmp_path / "data", tmp_path / "shifted"
    collect(str(task), "default", 6, "random", 1, data, seed=seeds(0), quiet=True)
    collect(str(task), "reality_gap", 2, "random", 1, shifted, seed=seeds(1), quiet=True)
    out = tmp_path / "abl"
    argv = ["ablation", "model", "--task", str(task), "--data", str(data),
            "--ood-data", str(shifted), "--out", str(out), "--episodes", "1",
            "--seed", str(seeds(2)), "--train-epochs", "3", "--collect-seed", str(seeds(3)),
            "--quiet"]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    result = json.loads((out / "model_choice.json").read_text())
    assert (out / "model_choice.md").read_text().strip() in printed
    det, prob, ens = result["arms"]
    assert [a["arm"] for a in result["arms"]] == ["deterministic", "probabilistic", "ensemble"]
    assert [a["members"] for a in result["arms"]] == [1, 1, 5]
    assert [a["bootstrap"] for a in result["arms"]] == [False, False, True]
    assert len(result["holdout_episodes"]) == 2 and result["ks"] == [1, 5, 10, 25]
    for a in result["arms"]:
        assert len(a["one_step"]["nmse_per_dim"]) == 5  # x, cos, sin, x_dot, theta_dot
        values = [a["one_step"]["nmse"], *a["one_step"]["nmse_per_dim"], *a["k_step"]["nmse"]]
        assert all(math.isfinite(v) and v >= 0 for v in values), a
        assert a["k_step"]["k"] == [1, 5, 10, 25]
        c = a["closed_loop"]
        assert len(c["returns"]) == 1 and math.isfinite(c["mean_return"])
        assert c["latency_p50_ms"] > 0 and a["train_s"] > 0 and 1 <= a["epochs"] <= 3
        assert Path(a["planner"]).is_file()
        assert math.isfinite(a["ood"]["nmse"])
    # a deterministic net has no predictive variance: no calibration, no surprise, no spread
    assert det["calibration"] is None and det["coverage90"] is None
    assert det["one_step"]["nll"] is None and det["ood"]["surprise_auroc"] is None
    assert det["disagreement_in"] == 0.0 and det["ood"]["disagreement_ratio"] is None
    assert "n/a (no predictive variance)" in printed
    # the probabilistic arms are calibrated on one held-out episode and tested on the other
    for a in (prob, ens):
        cov = a["coverage90"]
        assert cov["k"] == [1, 5, 10, 25]
        for part in ("raw", "calibrated"):
            assert len(cov[part]) == 4 and all(0.0 <= x <= 1.0 for x in cov[part]), cov
        assert 0.0 <= a["ood"]["surprise_auroc"] <= 1.0
    assert prob["disagreement_in"] == 0.0 and prob["ood"]["disagreement_ratio"] is None
    assert ens["disagreement_in"] > 0.0 and ens["ood"]["disagreement_ratio"] > 0.0
    # paired: every arm ran the same episode (same seed, so the same start state)
    assert result["episode_seeds"] == [seeds(2), seeds(2)]


def test_model_table_refuses_what_does_not_apply(tmp_path: Path, capsys) -> None:
    """Usage errors in one line, nothing trained: no --data, a --checkpoint (the table trains
    its own models), a store with too few episodes to hold two out."""
    from mbrl_sim.collect import collect

    from mbrl_control.cli import main

    def one_line_error(argv: list[str]) -> str:
        code = main(argv)
        err = capsys.readouterr().err
        lines = [line for line in err.splitlines() if line.strip()]
        assert code != 0 and len(lines) == 1 and "Traceback" not in err, err
        return lines[0]

    assert "--data" in one_line_error(["ablation", "model", "--out", str(tmp_path / "x")])
    model_pt = tmp_path / "model.pt"
    model_pt.write_bytes(b"")
    argv = ["ablation", "model", "--data", str(tmp_path), "--checkpoint", str(model_pt),
            "--out", str(tmp_path / "y")]  # fmt: skip
    assert "--checkpoint does not apply" in one_line_error(argv)
    task = _short_task(tmp_path / "cartpole_short.task.yaml", steps=10)
    collect(str(task), "default", 2, "random", 1, tmp_path / "d", seed=0, quiet=True)
    argv = ["ablation", "model", "--task", str(task), "--data", str(tmp_path / "d"),
            "--out", str(tmp_path / "z"), "--quiet"]  # fmt: skip
    assert "at least 3" in one_line_error(argv)
    assert not (tmp_path / "z" / "model_choice.json").exists()
