"""A linear controller on the cart-pole that reads the true state: what a balance controller
can do at a given decision rate, a candidate teacher for ``train-pixels``, and what a
finite-horizon planner of the task's own cost can do.

``python -m mbrl_control.latent.oracle_teacher --repeats 1,2 --episodes 20 --seed 1`` (JSON):
:class:`LqrTeacher` acts on the simulator's state in the pixel env on ``train-pixels``'
evaluation starts of the built-in ``cartpole_swingup`` (balance starts; ``--seed``: the
run's seed picks the starts; each episode's randomization draw and pushes come from the
evaluation reset seeds, the same for every ``--seed``), its action held k env steps as
``train-pixels --action-repeat k`` holds the pixel planner's; one row per k (the
``hold_study`` rows: return, success with its Wilson interval, the failed episodes, the paired
difference to the first k).

The cart-pole is linearised upright (cart mass M, pole mass m at distance l from the hinge with
inertia I about its centre, the cart's and the hinge's viscous damping, the actuator gain) and
discretised with a zero-order hold over k control periods (the hold is in the design).
``--dynamics true`` reads those numbers from the episode's draw on the simulator's bodies
(the oracle: it knows the robot it balances); ``nominal`` uses the undrawn scene (what a lab
with the URDF alone would design). Coulomb friction, the control jitter, sensor noise and
pushes are not in the design. Two designs:

- ``--horizon 0`` (default): the infinite-horizon discrete LQR with :data:`WEIGHTS`.
- ``--horizon T`` (s): receding-horizon LQR of the task's own cost near upright
  (:func:`task_cost_weights`: the tip-distance kernel's quadratic form and the action term,
  no terminal cost), T / (k control periods) decisions ahead, plus ``--cart-weight`` w x^2
  (m^-2) per step: what a planner that optimises this cost over T seconds does at best. With
  the task's cost alone a slow (~1.1 s) mode of cart and pole is barely damped at T = 0.48 s
  (``train-pixels``' H 12 at action repeat 2) and grows on a heavier cart.
"""

from __future__ import annotations

import json
import math
from typing import Any

from mbrl_control.cli import ArgumentParser

WEIGHTS = (25.0, 100.0, 4.0, 1.0, 0.01)
"""LQR weights on x, theta, x_dot, theta_dot (Q's diagonal) and the force (R), Bryson's rule:
one over the square of 0.2 m, 0.1 rad, 0.5 m/s, 1 rad/s and 10 N."""
JOINTS = ("slider_to_cart", "cart_to_pole")
GRAVITY = 9.81
TIP, TIP_SCALE, ACTION_WEIGHT, FORCE_HIGH = 0.6, 0.6, 0.01, 10.0
"""The built-in task's cost (mbrl_control/tasks/builtin/cartpole_swingup.task.yaml): pole tip
0.6 m from the hinge, the tip kernel's scale 0.6 m, the action weight and the force bound."""


def cartpole_dynamics(sim: Any, nominal: bool = False) -> tuple[float, ...]:
    """``(M, m, l, I, b_x, b_theta, gain)`` of the cart-pole in the state env ``sim``
    (:class:`mbrl_sim.env.MbrlSimEnv`): masses (kg), the pole's centre of mass from the hinge
    (m) and its inertia about the hinge axis at the centre (kg m^2), joint damping (N s/m,
    N m s/rad) and actuator gain, as drawn for the current episode (``nominal``: the scene's
    undrawn values, gain 1). Raises ``ValueError`` for a task that is not a cart-pole."""
    from mbrl_sim.bullet import pb

    task, sc = sim.task, sim.scene
    if tuple(task.joint_names) != JOINTS or task.act_dim != 1:
        raise ValueError(
            f"task {task.name!r}: the LQR teacher needs the cart-pole (joints {list(JOINTS)}, "
            f"one force), got joints {list(task.joint_names)}"
        )
    cart, pole = sc.joints  # a joint's child link has the joint's index
    c = sc.client
    if nominal:
        (m_cart, m_pole) = (sc.mass[sc.links.index(j)] for j in (cart, pole))
        inertia = sc.inertia[sc.links.index(pole)][1]
        damping = sc.spec.damping_ref
        gain = 1.0
    else:
        dyn = {j: pb.getDynamicsInfo(sc.body, j, physicsClientId=c) for j in (cart, pole)}
        m_cart, m_pole = dyn[cart][0], dyn[pole][0]
        inertia = dyn[pole][2][1]  # about the hinge's axis (y)
        damping = sim.dr["joint_damping"]
        gain = float(sim.dr["actuator_gain"][0])
    com = pb.getDynamicsInfo(sc.body, pole, physicsClientId=c)[3]  # inertial frame in the link
    length = math.hypot(com[0], com[2])
    return (float(m_cart), float(m_pole), length, float(inertia), float(damping[0]),
            float(damping[1]), gain)  # fmt: skip


def linear_model(dynamics: tuple[float, ...], period: float) -> tuple[Any, Any]:
    """``(A (4, 4), B (4, 1))``: the state ``[x, theta, x_dot, theta_dot]`` one ``period`` (s)
    on with the force (N, before the actuator gain) held, for ``dynamics``
    (:func:`cartpole_dynamics`) linearised upright."""
    import numpy as np
    from scipy.linalg import expm

    big_m, m, arm, inertia, b_x, b_t, gain = dynamics
    mass = np.array([[big_m + m, m * arm], [m * arm, inertia + m * arm * arm]])
    inv = np.linalg.inv(mass)
    # mass @ [x_dd, th_dd] = [gain F - b_x x_d, m g l th - b_t th_d]   (theta = 0 upright)
    a = np.zeros((4, 4))
    a[:2, 2:] = np.eye(2)
    a[2:, :2] = inv @ np.array([[0.0, 0.0], [0.0, m * GRAVITY * arm]])
    a[2:, 2:] = inv @ np.diag([-b_x, -b_t])
    b = np.zeros((4, 1))
    b[2:, 0] = inv @ np.array([gain, 0.0])
    block = np.zeros((5, 5))
    block[:4, :4], block[:4, 4:] = a * period, b * period
    zoh = expm(block)
    return zoh[:4, :4], zoh[:4, 4:]


def lqr_gain(dynamics: tuple[float, ...], period: float, weights: tuple[float, ...] = WEIGHTS):
    """The feedback ``K (4,)`` (force = ``-K @ [x, theta, x_dot, theta_dot]``, N) of the
    infinite-horizon discrete LQR for ``dynamics`` with the force held ``period`` seconds."""
    import numpy as np
    from scipy.linalg import solve_discrete_are

    ad, bd = linear_model(dynamics, period)
    q, r = np.diag(weights[:4]), np.array([[weights[4]]])
    p = solve_discrete_are(ad, bd, q, r)
    return np.linalg.solve(r + bd.T @ p @ bd, bd.T @ p @ ad)[0]


def task_cost_weights(cart_weight: float = 0.0) -> tuple[Any, Any]:
    """``(Q (4, 4), R (1, 1))`` per control step: the built-in ``cartpole_swingup`` cost near
    upright. Its tip term ``1 - exp(-d^2 / 0.6^2)`` is ``(x + 0.6 theta)^2 / 0.36`` to second
    order (the tip of the 0.6 m pole; the cart's position counts only through the tip), the
    action term ``0.01 (F / 10 N)^2``, the energy term is of fourth order and the rail term 0
    within 2 m; plus ``cart_weight`` x^2."""
    import numpy as np

    tip = np.array([1.0, TIP, 0.0, 0.0])
    q = np.outer(tip, tip) / TIP_SCALE**2 + np.diag([cart_weight, 0.0, 0.0, 0.0])
    return q, np.array([[ACTION_WEIGHT / FORCE_HIGH**2]])


def receding_gain(
    dynamics: tuple[float, ...], period: float, steps: int, q: Any, r: Any
) -> Any:  # fmt: skip
    """``K (4,)`` of receding-horizon LQR: the first decision of the ``steps``-decision plan
    that minimises ``sum u' r u + x_next' q x_next`` (per decision: ``q`` and ``r`` are per
    decision) with no terminal cost, forces held ``period`` seconds."""
    import numpy as np

    ad, bd = linear_model(dynamics, period)
    p = np.zeros((4, 4))
    for _ in range(steps):
        s = q + p
        k = np.linalg.solve(r + bd.T @ s @ bd, bd.T @ s @ ad)
        p = ad.T @ s @ (ad - bd @ k)
        p = (p + p.T) / 2
    return k[0]


def growth_per_second(dynamics: tuple[float, ...], period: float, gain: Any) -> float:
    """How much the slowest-decaying mode of the linear closed loop ``u = -gain @ state`` grows
    per second (spectral radius ** (1 / period)): < 1 decays, > 1 grows."""
    import numpy as np

    ad, bd = linear_model(dynamics, period)
    radius = np.abs(np.linalg.eigvals(ad - bd @ np.asarray(gain).reshape(1, 4))).max()
    return float(radius ** (1.0 / period))


class LqrTeacher:
    """``act(state (5,)) -> force (1,)`` for the cart-pole observation ``[x, cos, sin, x_dot,
    theta_dot]`` of the pixel env ``env`` (or its state env), designed for actions held
    ``action_repeat`` control periods (see module: ``horizon`` 0 s is the infinite-horizon LQR,
    else receding-horizon LQR of the task's cost over ``horizon`` seconds plus ``cart_weight``
    x^2). The gain is recomputed when the dynamics change (a new episode's draw).
    ``reset(seed)`` is a no-op (a deterministic controller), there for the planner interface
    that ``score_policy`` and ``train-pixels``' teacher call."""

    def __init__(self, env: Any, action_repeat: int, dynamics: str = "true",
                 horizon: float = 0.0, cart_weight: float = 0.0) -> None:  # fmt: skip
        if dynamics not in ("true", "nominal"):
            raise ValueError(f"dynamics={dynamics!r}; allowed: 'true', 'nominal'")
        if not (horizon >= 0 and cart_weight >= 0):
            raise ValueError(f"horizon={horizon}, cart_weight={cart_weight}; allowed: >= 0")
        unwrapped = env.unwrapped
        self.sim = getattr(unwrapped, "sim", unwrapped).unwrapped
        self.period = action_repeat / self.sim.task.control_hz
        self.steps = round(horizon / self.period)
        if horizon > 0 and self.steps < 1:
            raise ValueError(f"horizon={horizon} s is shorter than one decision ({self.period} s)")
        self.dynamics, self.action_repeat, self.cart_weight = dynamics, action_repeat, cart_weight
        cartpole_dynamics(self.sim, nominal=True)  # refuse another task now
        self._cache: dict[tuple[float, ...], Any] = {}

    def reset(self, seed: int | None = None) -> None:
        pass

    def gain(self) -> Any:
        """The current episode's ``K (4,)`` (cached by its dynamics)."""
        key = cartpole_dynamics(self.sim, nominal=self.dynamics == "nominal")
        if key not in self._cache:
            if self.steps == 0:
                self._cache[key] = lqr_gain(key, self.period)
            else:
                q, r = task_cost_weights(self.cart_weight)
                k = self.action_repeat  # the cost of k control steps per decision
                self._cache[key] = receding_gain(key, self.period, self.steps, q * k, r * k)
        return self._cache[key]

    def act(self, state: Any) -> Any:
        import numpy as np

        x, c, s, x_dot, th_dot = (float(v) for v in np.asarray(state).reshape(-1)[:5])
        err = np.array([x, math.atan2(s, c), x_dot, th_dot])
        return np.array([-self.gain() @ err], np.float32)


def oracle_study(
    repeats: list[int], episodes: int = 20, seed: int = 0, dynamics: str = "true",
    horizon: float = 0.0, cart_weight: float = 0.0,
) -> list[dict[str, Any]]:  # fmt: skip
    """One row per action repeat (see module)."""
    from mbrl_control.bench.precision import add_paired_row
    from mbrl_control.latent.training import PixelRun, PixelTrainConfig, score_policy

    cfg = PixelTrainConfig(task="cartpole_swingup", start="balance", seed=seed)
    run = PixelRun(cfg, "-", log=lambda _: None)  # the run's env, camera and starts; no writes
    try:
        rows: list[dict[str, Any]] = []
        for k in repeats:
            teacher = LqrTeacher(run.env, k, dynamics, horizon, cart_weight)
            score = score_policy(run.env, teacher.act, episodes, run.start_state, k,
                                 on_reset=teacher.reset, reads="state")  # fmt: skip
            row = {"action_repeat": k, "decision_hz": run.task.control_hz / k,
                   "design": {"dynamics": dynamics, "horizon_s": horizon,
                              "decisions": teacher.steps, "cart_weight": cart_weight},
                   **{key: score[key] for key in ("mean_return", "std_return", "success_rate",
                                                 "success_ci")},
                   "failed": [i for i, ok in enumerate(score["successes"]) if not ok],
                   "returns": [round(r, 3) for r in score["returns"]]}  # fmt: skip
            add_paired_row(rows, row, score["returns"])
        return rows
    finally:
        run.close()


def main(argv: list[str] | None = None) -> int:
    from mbrl_control.cli.checks import float_in, int_list, nonneg_int, positive_int

    parser = ArgumentParser(prog="python -m mbrl_control.latent.oracle_teacher",
                            description=__doc__)  # fmt: skip
    parser.add_argument("--repeats", type=int_list, default=(1, 2), help="k,... (env steps)")
    parser.add_argument("--episodes", type=positive_int, default=20, help="paired episodes")
    parser.add_argument("--seed", type=nonneg_int, default=0, help="the starts' seed (a run's)")
    parser.add_argument("--dynamics", choices=("true", "nominal"), default="true",
                        help="the episode's drawn dynamics, or the undrawn scene's")  # fmt: skip
    parser.add_argument("--horizon", type=float_in(0.0, 60.0), default=0.0,
                        help="s; 0: infinite LQR, else the task cost, receding")  # fmt: skip
    parser.add_argument("--cart-weight", type=float_in(0.0, 1e6), default=0.0,
                        help="w of an added w x^2 per step (with --horizon)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.cart_weight and not args.horizon:
        parser.error("--cart-weight shapes the receding design: give --horizon too "
                     "(the infinite-horizon LQR has its own weights)")  # fmt: skip
    if not args.repeats or len(set(args.repeats)) != len(args.repeats):
        parser.error(f"--repeats: give distinct action repeats, got {list(args.repeats)}")
    try:
        rows = oracle_study(list(args.repeats), args.episodes, args.seed, args.dynamics,
                            args.horizon, args.cart_weight)  # fmt: skip
    except ValueError as err:
        parser.exit(2, f"{parser.prog}: error: {err}\n")
    print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
