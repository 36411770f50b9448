"""The torch reference planner: registry, presets, and a stateful ``act(obs)`` wrapper.

The optimizers are pure functions ``plan(obs, goal, carry, noise, weights, *, rollout,
cfg) -> (action, next_carry, info)``; :class:`TorchPlanner` owns what they must not: the
warm-start carry and the :class:`~mbrl_control.planning.noise.NoiseStream` (seeded from
``cfg.seed`` or ``seed``) that draws the noise - the same stream ``OnnxPlanner`` uses, so the
two give the same actions for the same seed (or the same explicit ``noise``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from mbrl_control.planning.cem import cem_plan
from mbrl_control.planning.config import PlannerConfig
from mbrl_control.planning.graph_io import SCALAR_OUTPUTS
from mbrl_control.planning.icem import icem_plan
from mbrl_control.planning.mppi import mppi_plan
from mbrl_control.planning.noise import NoiseStream, carry_shapes, noise_shapes
from mbrl_control.planning.presets import PLANNER_PRESETS
from mbrl_control.planning.refine import GradientRefiner
from mbrl_control.planning.rollout import PolicyFn, Rollout, ValueFn
from mbrl_control.planning.sampling import Carry, Noise
from mbrl_control.planning.shooting import shooting_plan
from mbrl_control.tasks.base import Task

PlanFn = Callable[..., tuple[torch.Tensor, Carry, dict[str, torch.Tensor]]]

PLANNERS: dict[str, PlanFn] = {
    "cem": cem_plan,
    "icem": icem_plan,
    "mppi": mppi_plan,
    "shooting": shooting_plan,
}

PRESETS: dict[str, tuple[dict[str, Any], PlannerConfig]] = {
    name: ({"obs_dim": task_dims[0], "act_dim": task_dims[1], **PLANNER_PRESETS[name][0]},
           PLANNER_PRESETS[name][1])
    for name, task_dims in {"cartpole": (5, 1), "arm": (17, 7), "cartpole-rt": (5, 1),
                            "arm-rt": (17, 7), "cartpole-fast": (5, 1)}.items()
}  # fmt: skip
"""The built-ins' presets with their model dims (benchmarks); sizes and configs live in
:mod:`mbrl_control.planning.presets` (any task: :func:`~mbrl_control.planning.presets
.planner_setup`)."""


def plan_step(
    obs: torch.Tensor,
    goal: torch.Tensor,
    carry: Carry,
    noise: Noise,
    weights: torch.Tensor,
    *,
    rollout: Rollout,
    cfg: PlannerConfig,
    refiner: GradientRefiner | None = None,
) -> tuple[torch.Tensor, Carry, dict[str, torch.Tensor]]:
    """One planning step: the ``cfg.kind`` optimizer (``PLANNERS``), then, with a
    ``refiner``, its gradient refinement of the returned plan (the action and the carried
    plan become the refined plan's; the info outputs stay the sampling's). The one step
    function of the torch planner and the exported graph."""
    action, nxt, info = PLANNERS[cfg.kind](
        obs, goal, carry, noise, weights, rollout=rollout, cfg=cfg
    )
    if refiner is not None:
        plan = refiner(obs, goal, weights, carry["plan"][0], nxt["plan"])
        nxt = {**nxt, "plan": plan}
        action = plan[0]
    return action, nxt, info


def build_refiner(
    model: nn.Module, task: Task, cfg: PlannerConfig, value_fn: ValueFn | None
) -> GradientRefiner | None:
    """The gradient refiner for ``cfg.refine_steps > 0`` (None at 0); ``ValueError`` when a
    part declares no derivative (:class:`~mbrl_control.planning.refine.GradientRefiner`)."""
    return GradientRefiner(model, task, cfg, value_fn) if cfg.refine_steps else None


class TorchPlanner:
    """Stateful reference controller around a pure planner function.

    ``act(obs (O,), goal (G,) | None, noise=None) -> action (A,)`` plans one step, applies
    the warm-start carry, and stores ``last_info`` (``plan_cost``, ``disagreement`` floats).

    Noise: each ``act`` draws ``noise_shapes`` standard normals from a
    :class:`~mbrl_control.planning.noise.NoiseStream` seeded with ``seed`` (default
    ``cfg.seed``); :class:`~mbrl_control.export.runtime.OnnxPlanner` with the same seed draws
    the same, so torch and ONNX actions agree (to float rounding, ~1e-5). ``act(obs,
    noise=...)`` uses the given mapping instead (the stream is not advanced);
    ``reset(seed=s)`` restarts the stream (e.g. per episode, on both sides).
    """

    def __init__(
        self,
        model: nn.Module,
        task: Task,
        cfg: PlannerConfig,
        value_fn: ValueFn | None = None,
        policy: PolicyFn | None = None,
        seed: int | None = None,
    ) -> None:
        self.task, self.cfg = task, cfg
        self.rollout = Rollout(model, task, cfg, value_fn, policy)
        self.refiner = build_refiner(model, task, cfg, value_fn)
        self.noise_shapes = noise_shapes(cfg, task.obs_dim, task.act_dim)
        self.carry_shapes = carry_shapes(cfg, task.act_dim)
        self.weights = torch.as_tensor(task.default_weights)  # (K,)
        self.noise = NoiseStream(self.noise_shapes, cfg.seed if seed is None else seed)
        self.carry: Carry = {}
        self.last_info: dict[str, float] = {}
        self.last_prediction: tuple[np.ndarray, np.ndarray] | None = None
        """The last act's calibrated one-step predictive ``(mean (P,), var (P,))`` (as the
        graph's ``pred_mean``/``pred_var``, :mod:`mbrl_control.planning.graph_io`)."""
        self.last_plan_states: np.ndarray | None = None
        """The last act's ``plan_states (E, H, P)`` (the graph output of that name)."""
        self.reset()

    def reset(self, seed: int | None = None) -> None:
        """Forget the warm start: every carried plan becomes the action-range midpoint.
        With ``seed``, also restart the noise stream from it."""
        mid = torch.as_tensor((self.task.low + self.task.high) / 2)  # (A,)
        self.carry = {k: mid.expand(shape).clone() for k, shape in self.carry_shapes.items()}
        self.last_info = {}
        self.last_prediction = None
        self.last_plan_states = None
        if seed is not None:
            self.noise.seed(seed)

    def set_weights(self, weights: np.ndarray) -> None:
        """Critic weights ``(K,)`` used from the next step on."""
        weights = torch.as_tensor(np.asarray(weights, np.float32))
        if weights.shape != self.weights.shape:
            raise ValueError(f"weights must have shape {tuple(self.weights.shape)}")
        self.weights = weights

    def draw_noise(self) -> Noise:
        """The next step's standard-normal noise tensors, from this planner's stream."""
        return {k: torch.from_numpy(v) for k, v in self.noise.draw().items()}

    @torch.no_grad()
    def step(
        self,
        obs: torch.Tensor,
        goal: torch.Tensor,
        carry: Carry,
        noise: Noise,
        weights: torch.Tensor,
    ) -> tuple[torch.Tensor, Carry, dict[str, torch.Tensor]]:
        """The pure planning step (no state read or written): :func:`plan_step`."""
        return plan_step(
            obs, goal, carry, noise, weights,
            rollout=self.rollout, cfg=self.cfg, refiner=self.refiner,
        )  # fmt: skip

    def act(
        self,
        obs: np.ndarray,
        goal: np.ndarray | None = None,
        noise: Mapping[str, np.ndarray | torch.Tensor] | None = None,
    ) -> np.ndarray:
        """Plan from ``obs (O,)`` (and ``goal (G,)``) and return the action ``(A,)``.

        ``noise``: ``{name: standard normal of noise_shapes[name]}`` for this step instead of
        the stream's next draw (``ValueError`` for a missing/extra name or a wrong shape).
        """
        obs_t = torch.as_tensor(np.asarray(obs, np.float32).reshape(self.task.obs_dim))
        g = np.zeros(self.task.goal_dim, np.float32) if goal is None else goal
        goal_t = torch.as_tensor(np.asarray(g, np.float32).reshape(self.task.goal_dim))
        if noise is None:
            step_noise = self.draw_noise()
        else:
            step_noise = {k: torch.from_numpy(v) for k, v in self.noise.check(noise).items()}
        action, self.carry, info = self.step(obs_t, goal_t, self.carry, step_noise, self.weights)
        self.last_info = {k: float(info[k]) for k in SCALAR_OUTPUTS}
        self.last_plan_states = info["plan_states"].numpy().copy()
        with torch.no_grad():
            mean, var = self.rollout.predict_next(obs_t, action)
        self.last_prediction = (mean.numpy().copy(), var.numpy().copy())
        return action.numpy().copy()


def build_planner(
    model: nn.Module,
    task: Task,
    cfg: PlannerConfig,
    value_fn: ValueFn | None = None,
    policy: PolicyFn | None = None,
    *,
    seed: int | None = None,
) -> TorchPlanner:
    """The reference planner for ``model`` (ensemble forward contract) on ``task``, with an
    optional terminal cost-to-go ``value_fn`` and a ``policy`` for the policy prior.

    ``seed`` seeds the noise stream (default ``cfg.seed``); ``OnnxPlanner(path, seed=...)``
    with the same seed on the exported file gives the same actions (see
    :class:`TorchPlanner`). With ``task.cost_source == "learned"`` the per-step cost is the
    ensemble's learned cost head (``model`` needs ``EnsembleConfig.reward_head``)."""
    return TorchPlanner(model, task, cfg, value_fn, policy, seed)


def preset_task(name: str) -> Task:
    """The task a preset is sized for (cartpole presets: cartpole_swingup; arm: panda_reach)."""
    from mbrl_control.tasks import get_task

    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; allowed: {sorted(PRESETS)}")
    return get_task("cartpole_swingup" if name.startswith("cartpole") else "panda_reach")
