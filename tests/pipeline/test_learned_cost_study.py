"""A learned cost, measured (issue 20): on Pendulum-v1 the planner whose cost is the ensemble's
reward head, learned from the recorded rewards only, returns within 10 % of the analytic-cost
planner on the same ensemble, paired episodes, both run exported through onnxruntime.

Measured (docs/learned_cost.md): gaps of -0.2 %, -5 % and 4 % at this test's budget (seeds 0,
1000, 2000), -0.04 % and 0.4 % at the CLI's (10 paired episodes); the head fitted on random
data alone (rounds=0) plans spins: gap 210 %.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from mbrl_control.cli import main
from mbrl_control.pipeline.learned_cost_study import (
    HeldRandom,
    LearnedCostConfig,
    Transitions,
    env_seeds,
    run_learned_cost_study,
)

SMALL = {"epochs": 120, "refit_epochs": 40, "rounds": 2, "policy_episodes": 3, "eval_episodes": 3}
"""The slow test's budget (~40 s of CPU; ~2.5 min wall on a loaded 2-core machine)."""


@pytest.mark.slow
def test_the_learned_cost_plans_within_ten_percent_of_the_analytic_cost(tmp_path, seeds):
    result = run_learned_cost_study(tmp_path, LearnedCostConfig(seed=seeds(0), **SMALL))
    assert result["gap"] < 0.1, result  # measured -0.05 to 0.04: (analytic - learned) / |analytic|
    assert len(result["returns"]["learned"]) == len(result["returns"]["analytic"]) == 3
    # the head learned Pendulum's cost from the rewards: small error on fresh episodes
    assert result["head_error"]["learned"]["relative"] < 0.3, result["head_error"]
    assert {p.name for p in tmp_path.glob("*.onnx")} == {
        "learned_round0.onnx", "learned_round1.onnx", "analytic.onnx", "learned.onnx"
    }  # fmt: skip


def test_the_cost_targets_are_the_recorded_rewards():
    rows = Transitions()
    rows.add(np.zeros(3), np.ones(1), np.ones(3), reward=-2.5)
    rows.end_episode()
    rows.add(np.ones(3), -np.ones(1), np.zeros(3), reward=-0.5)
    arrays = rows.arrays()
    np.testing.assert_array_equal(arrays["cost"], [2.5, 0.5])
    np.testing.assert_array_equal(arrays["episode"], [0, 1])
    assert arrays["obs"].shape == (2, 3) and arrays["obs"].dtype == np.float32


def test_random_actions_are_held_and_seeds_never_mix():
    policy = HeldRandom(np.array([-2.0]), np.array([2.0]), hold=3, rng=np.random.default_rng(0))
    actions = [float(policy(None)[0]) for _ in range(7)]
    assert actions[0] == actions[1] == actions[2] != actions[3] == actions[5] != actions[6]
    assert all(-2.0 <= a <= 2.0 for a in actions)
    train, evaluate = env_seeds(4, "train", 50), env_seeds(4, "evaluate", 50)
    assert not set(train) & set(evaluate) and env_seeds(4, "train", 50) == train


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("env_id", "CartPole-v1", "no analytic cost"),
        ("random_hold", 0, "random_hold must be >= 1"),
        ("rounds", -1, "rounds and policy_episodes"),
    ],
)
def test_a_bad_config_is_refused_naming_the_field(tmp_path, field, value, message):
    with pytest.raises(ValueError, match=message):
        run_learned_cost_study(tmp_path / "o", LearnedCostConfig(**{field: value}))
    assert not (tmp_path / "o").exists()


def test_the_ablation_command_prints_and_writes_the_result(tmp_path, capsys):
    """The CLI wiring on a tiny budget (one random episode, no rounds; the numbers mean
    nothing here)."""
    argv = "ablation learned-cost --random-episodes 1 --rounds 0 --episodes 1 --train-epochs 1"
    assert main([*argv.split(), "--quiet", "--out", str(tmp_path)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads((tmp_path / "learned_cost.json").read_text())
    assert printed["config"]["eval_episodes"] == 1 and printed["transitions"] == 200
    assert set(printed["mean_return"]) == {"analytic", "learned"}
