"""``latent.oracle_teacher``: an LQR on the linearised cart-pole that reads the true state. Its
design is checked on the linear model (stable at every hold; the task cost's short receding
horizon barely damped, unstable on a heavier cart, damped with a cart term) and in the real
pixel env (the drawn dynamics read from the bodies; balance episodes balanced at 25 Hz);
the command line errs in one line."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mbrl_control.latent.oracle_teacher import (
    LqrTeacher,
    cartpole_dynamics,
    growth_per_second,
    lqr_gain,
    main,
    oracle_study,
    receding_gain,
    task_cost_weights,
)

NOMINAL = (1.0, 0.2, 0.3, 0.0061, 0.1, 0.002, 1.0)  # the URDF's cart-pole (cartpole_dynamics)


@pytest.mark.parametrize("repeat", [1, 2, 4])
def test_the_lqr_is_stable_with_the_hold_in_its_design(repeat) -> None:
    period = 0.02 * repeat
    gain = lqr_gain(NOMINAL, period)
    assert gain.shape == (4,) and growth_per_second(NOMINAL, period, gain) < 0.5
    heavy = (1.2, 0.24, *NOMINAL[2:])  # the default profile's widest masses
    assert growth_per_second(heavy, period, gain) < 0.5


def test_the_task_costs_short_horizon_leaves_a_slow_mode_undamped() -> None:
    """What a planner of the task's own cost does at best over 0.48 s at 25 Hz (H 12 at
    action repeat 2): barely damped, growing on a cart 20 % heavier; 0.96 s or a cart term
    damps it (docs: the pixel planner's failures)."""
    period, k = 0.04, 2
    q, r = task_cost_weights()
    heavy = (1.2, *NOMINAL[1:])

    def growth(dyn, steps, qq):
        return growth_per_second(dyn, period, receding_gain(NOMINAL, period, steps, qq * k, r * k))

    assert 0.9 < growth(NOMINAL, 12, q) < 1.0
    assert growth(heavy, 12, q) > 1.2
    assert growth(heavy, 24, q) < 0.5
    assert growth(heavy, 12, task_cost_weights(cart_weight=0.3)[0]) < 0.3
    assert growth(NOMINAL, 50, q) == pytest.approx(
        growth_per_second(NOMINAL, period, receding_gain(NOMINAL, period, 100, q * k, r * k)),
        abs=0.01,
    )  # a long horizon converges


def test_the_teacher_reads_the_draw_and_balances_in_the_pixel_env(capsys) -> None:
    from mbrl_control.latent.training import PixelRun, PixelTrainConfig

    run = PixelRun(PixelTrainConfig(seed=1), "-", log=lambda _: None)
    try:
        sim = run.env.unwrapped.sim.unwrapped
        nominal = cartpole_dynamics(sim, nominal=True)
        assert nominal[:3] == pytest.approx((1.0, 0.2, 0.3)) and nominal[6] == 1.0
        run.env.reset(seed=5, options={"initial_state": run.start_state(5)})
        drawn = cartpole_dynamics(sim)
        assert drawn[0] == pytest.approx(sim.dr["mass_scale"][0])  # 1 kg nominal
        assert drawn[6] == pytest.approx(sim.dr["actuator_gain"][0])
        teacher = LqrTeacher(run.env, 2)
        action = teacher.act(np.array([0.0, np.cos(0.1), np.sin(0.1), 0.0, 0.0]))
        assert action.shape == (1,) and action[0] > 0  # the pole leans to +x: push the cart +x
        with pytest.raises(ValueError, match="dynamics"):
            LqrTeacher(run.env, 2, dynamics="exact")
    finally:
        run.close()

    rows = oracle_study([2, 1], episodes=2, seed=1)
    assert [r["action_repeat"] for r in rows] == [2, 1]
    assert all(r["success_rate"] == 1.0 and r["mean_return"] > -2.0 for r in rows), rows
    assert "difference_ci" in rows[1]["vs_first"]
    assert main(["--repeats", "2", "--episodes", "1", "--seed", "1", "--horizon", "0.48"]) == 0
    row = json.loads(capsys.readouterr().out)[0]
    assert row["design"]["decisions"] == 12 and len(row["returns"]) == 1


@pytest.mark.parametrize(
    "argv, words",
    [(["--repeats", "2,2"], "distinct"), (["--horizon", "0.01", "--episodes", "1"], "shorter"),
     (["--horizon", "-1"], "--horizon"), (["--cart-weight", "0.3"], "give --horizon too")],
)  # fmt: skip
def test_the_command_line_errs_in_one_line(argv, words, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and words in err, err
