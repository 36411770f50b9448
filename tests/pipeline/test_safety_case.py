"""The safety case (issue 17) on a seeded small budget: the same code as the measurement
(``python -m mbrl_control.pipeline.safety_case``), a model pretrained on random data only, a
cart-pole task-file copy with a tight rail and short episodes, real PyBullet and onnxruntime.

A model that has only seen random pushes near the rail centre disagrees away from it, so the
penalized planner must stay on the rail where the unpenalized one runs off it; in distribution
it must still keep a bound share of the return (with margin, not a knife edge)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mbrl_control.pipeline.safety_case import main, parse_weights, verdicts
from mbrl_control.tasks.task_file import builtin_task_files


def test_parse_weights_names_the_bad_entry() -> None:
    assert parse_weights("0,0.3") == [0.0, 0.3]
    for text, word in [("0,x", "'x'"), ("0.3", "include 0"), ("0,-1", "'-1'"), ("0,0", "distinct")]:
        with pytest.raises(ValueError, match=word):
            parse_weights(text)


def test_verdict_needs_a_baseline_violation_and_the_return() -> None:
    def row(w, profile, ret, hits):
        return {"weight": w, "profile": profile, "mean_return": ret, "rail_hits": hits,
                "safety_stops": 0}  # fmt: skip

    rows = [row(0.0, "d", -100.0, 0), row(0.0, "s", -150.0, 2),
            row(1.0, "d", -105.0, 0), row(1.0, "s", -160.0, 0),
            row(9.0, "d", -200.0, 0), row(9.0, "s", -200.0, 0)]  # fmt: skip
    v = {x["weight"]: x for x in verdicts(rows, "d", "s")}
    assert v[1.0]["passes"] and v[1.0]["return_ratio"] == pytest.approx(100 / 105)
    assert not v[9.0]["passes"]  # safe only by doing nothing: half the return
    rows[1]["rail_hits"] = 0  # nothing to prevent: no case
    assert not any(x["passes"] for x in verdicts(rows, "d", "s"))


def _tight_task(path: Path, *, limit: float, steps: int) -> Path:
    """The built-in cart-pole with the rail critic at ``limit`` m, ``steps``-step episodes and
    the real-time planner at H15 (N32)."""
    text = builtin_task_files()["cartpole_swingup"].read_text()
    for old, new in [
        ("[slider_to_cart], limit: 2.0", f"[slider_to_cart], limit: {limit}"),
        ("episode_steps: 200", f"episode_steps: {steps}"),
        ("  preset: cartpole-rt", "  preset: cartpole-rt\n  horizon: 15"),
    ]:  # fmt: skip
        assert old in text, old
        text = text.replace(old, new)
    path.write_text(text)
    return path


@pytest.mark.slow  # a random-data pretraining and 4 cells x 4 short episodes (~4 min loaded)
def test_penalty_keeps_the_cart_on_a_tight_rail(tmp_path: Path, seeds, capsys) -> None:
    from mbrl_control.pipeline.pretrain import PretrainConfig, pretrain

    task = _tight_task(tmp_path / "cartpole_tight.task.yaml", limit=0.5, steps=60)
    cfg = PretrainConfig(task=str(task), seed_episodes=4, rounds=0, workers=1, max_epochs=30,
                         seed=seeds(0))  # fmt: skip
    pretrain(cfg, tmp_path / "run", quiet=True)
    argv = ["--checkpoint", str(tmp_path / "run" / "model.pt"), "--out", str(tmp_path / "sc"),
            "--weights", "0,3", "--episodes", "4", "--profile-shifted", "reality_gap",
            "--task", str(task), "--seed", str(seeds(1))]  # fmt: skip
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert (tmp_path / "sc" / "safety_case.md").is_file()
    cell = {(r["weight"], r["profile"]): r for r in result["rows"]}
    base, pen = cell[(0.0, "reality_gap")], cell[(3.0, "reality_gap")]
    rows = [{k: v for k, v in r.items() if k != "returns"} for r in result["rows"]]
    # measured (seed 0): rail hits 1 -> 0 episodes, 23 -> 0 rail steps, mean max travel
    # 0.33 -> 0.19 m; in distribution the return ratio is 0.89
    assert pen["rail_hits"] < base["rail_hits"], rows
    assert pen["rail_steps"] < base["rail_steps"], rows
    assert pen["mean_max_travel_m"] < 0.8 * base["mean_max_travel_m"], rows
    (v,) = result["verdicts"]
    assert v["return_ratio"] > 0.75, v  # keeps the task in distribution (not frozen)


def test_the_hold_arm_is_judged_against_the_unpenalized_planner() -> None:
    def row(arm, w, profile, ret, hits, held=0.0):
        return {"arm": arm, "weight": w, "profile": profile, "mean_return": ret,
                "rail_hits": hits, "safety_stops": 0, "held_fraction": held}  # fmt: skip

    rows = [row("w=0", 0.0, "d", -100.0, 0), row("w=0", 0.0, "s", -150.0, 2),
            row("hold", 0.0, "d", -101.0, 0, 0.01), row("hold", 0.0, "s", -190.0, 0, 0.9),
            row("w=1", 1.0, "d", -105.0, 0), row("w=1", 1.0, "s", -160.0, 1)]  # fmt: skip
    v = {x["arm"]: x for x in verdicts(rows, "d", "s")}
    assert list(v) == ["w=1", "hold"]  # weights first, the hold arm last
    assert v["hold"]["passes"] and v["hold"]["held_fraction_shifted"] == 0.9
    assert not v["w=1"]["passes"]
