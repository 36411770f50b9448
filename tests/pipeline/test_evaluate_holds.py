"""``evaluate --hold NAME>=VALUE``: how long an observation entry stays beyond a value."""

from __future__ import annotations

import mbrl_sim
import numpy as np
import pytest

from mbrl_control.pipeline.evaluate import Hold, HoldObserver, run_episode, summarize


def test_hold_parse_and_refusals():
    assert Hold.parse("tip_z>=1.8") == Hold("tip_z", ">=", 1.8)
    assert Hold.parse(" x <= -0.5").label == "x<=-0.5"
    for bad in ("tip_z=1", "tip_z>=high", ">"):
        with pytest.raises(ValueError, match="NAME>=VALUE"):
            Hold.parse(bad)


def test_holds_count_steps_and_the_longest_run():
    env = mbrl_sim.make_env("cartpole_swingup", profile="none", seed=3)
    zero = lambda obs, goal: np.zeros(1, np.float32)  # noqa: E731  the pole hangs
    holds = [Hold.parse("cos_theta<=-0.9"), Hold.parse("cos_theta>=0.9")]
    observer = HoldObserver(holds)
    result = run_episode(env, zero, seed=3, observers=[observer])
    steps = result["steps"]
    assert result["holds"]["cos_theta<=-0.9"] == (steps, steps)  # hanging all the time
    assert result["holds"]["cos_theta>=0.9"] == (0, 0)
    summary = summarize([result], observers=[observer])
    assert summary["holds"]["cos_theta<=-0.9"]["step_fraction"] == 1.0
    assert summary["holds"]["cos_theta<=-0.9"]["longest_s_max"] == pytest.approx(steps * 0.02)
    with pytest.raises(ValueError, match="'tip_z' is not observed"):
        run_episode(env, zero, seed=3, observers=[HoldObserver([Hold.parse("tip_z>=1")])])
    env.close()
