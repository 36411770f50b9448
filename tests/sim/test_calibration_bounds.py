"""A calibration fit that ends on a profile bound stays inside it: the draw clips values that
``exp(log(x))`` rounds past a bound, and the Jacobian steps one-sided into the allowed range.

Before, a fit of the actuator gain on its bound 10 came back as 10.000000000000002 from the
log-space polish and the Jacobian probed damping 1000·e^0.001 > 1000: ``DRProfile`` refused
both, so ``calibrate`` failed on small recordings (found by the sim-to-real grid).
"""

from __future__ import annotations

import math

import numpy as np
from mbrl_sim.calibration import log_bounds
from mbrl_sim.calibration_replay import DrawMaker
from mbrl_sim.calibration_stats import jacobian
from mbrl_sim.env import MbrlSimEnv
from mbrl_sim.profiles import load_profile

from mbrl_control.tasks import get_task

PARAMS = ["mass_scale", "joint_damping", "actuator_gain"]


def test_draw_of_values_rounded_past_a_bound():
    env = MbrlSimEnv(get_task("cartpole_swingup"), profile="default")
    make = DrawMaker(env, load_profile("default"))
    draw = make(
        {"mass_scale": 1.0, "inertia_scale": 1.0, "joint_damping": 1000 * math.exp(1e-3),
         "joint_friction": 1.0, "actuator_gain": math.exp(math.log(10.0))},
        1,
    )  # fmt: skip
    assert max(draw["actuator_gain"]) <= 10.0
    env.close()


def test_jacobian_steps_into_the_bounds():
    seen: list[dict[str, float]] = []
    lo, hi = log_bounds(PARAMS)

    def residual(values: dict[str, float]) -> np.ndarray:
        seen.append(dict(values))
        return np.array([math.log(values[k]) ** 2 for k in PARAMS])

    at = {"mass_scale": 1.0, "joint_damping": 1000.0, "actuator_gain": 1e-3}
    _, jac = jacobian(residual, at, PARAMS, log_bounds=(lo, hi))
    for values in seen:
        x = np.log([values[k] for k in PARAMS])
        assert np.all(x >= lo - 1e-12) and np.all(x <= hi + 1e-12), values
    np.testing.assert_allclose(
        np.diag(jac), [0.0, 2 * math.log(1000.0), 2 * math.log(1e-3)], rtol=1e-2, atol=1e-2
    )
