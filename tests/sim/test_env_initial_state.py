"""``reset(options={"initial_state": (q, qd)})``: one episode from a given state (the pixel
balance task starts near upright this way); the default reset is unchanged; bad values are
refused naming the joints."""

from __future__ import annotations

import numpy as np
import pytest
from mbrl_sim.env import MbrlSimEnv


def test_initial_state_option_sets_one_episode_and_keeps_the_default() -> None:
    env = MbrlSimEnv("cartpole_swingup", profile="none")
    obs, _ = env.reset(seed=0, options={"initial_state": ([0.3, 0.1], [0.0, 0.0])})
    x, cos, sin = obs[:3]
    assert x == pytest.approx(0.3, abs=1e-6) and np.arctan2(sin, cos) == pytest.approx(
        0.1, abs=1e-6
    )
    # the same seed without the option: the task's own draw (hanging down), as before
    plain, _ = env.reset(seed=0)
    reference, _ = MbrlSimEnv("cartpole_swingup", profile="none").reset(seed=0)
    np.testing.assert_array_equal(plain, reference)
    assert plain[1] < -0.9
    for bad in ([0.0], ([0.0], [0.0, 0.0]), ([0.0, np.nan], [0.0, 0.0])):
        with pytest.raises(ValueError, match="slider_to_cart"):
            env.reset(seed=0, options={"initial_state": bad})
    env.close()
