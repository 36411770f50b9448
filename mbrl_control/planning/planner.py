"""The torch reference planner: registry, presets, and a stateful ``act(obs)`` wrapper.

The optimizers are pure functions ``plan(obs, goal, carry, noise, weights, *, rollout,
cfg) -> (action, next_carry, info)``; :class:`TorchPlanner` owns what they must not: the
warm-start carry and a ``torch.Generator`` seeded from ``cfg.seed`` that draws the noise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import torch
from torch import nn

from mbrl_control.planning.cem import cem_plan
from mbrl_control.planning.config import PlannerConfig
from mbrl_control.planning.icem import icem_plan
from mbrl_control.planning.mppi import mppi_plan
from mbrl_control.planning.noise import carry_shapes, noise_shapes
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

_PETS_MODEL = {"members": 5, "hidden": 200, "layers": 4, "activation": "silu"}
_PETS_PLANNER = PlannerConfig(
    kind="cem",
    horizon=15,
    population=400,
    particles=20,
    iterations=5,
    elite_frac=0.1,
    momentum=0.1,
    aleatoric=True,
)

_RT_MODEL = {"members": 5, "hidden": 64, "layers": 3, "activation": "silu"}
_RT_PLANNER = PlannerConfig(
    kind="icem",
    particles=5,
    iterations=2,
    elite_frac=0.1,
    keep_elites_frac=0.5,
    population_decay=1.0,
    momentum=0.1,
    beta=2.0,
)

PRESETS: dict[str, tuple[dict[str, Any], PlannerConfig]] = {
    # PETS-paper sizes: E5 x 4x200 SiLU, P20, N400, 10% elites, I5, H15, TS∞ with sampling
    "cartpole": ({"obs_dim": 5, "act_dim": 1, **_PETS_MODEL}, _PETS_PLANNER),
    "arm": ({"obs_dim": 17, "act_dim": 7, **_PETS_MODEL}, _PETS_PLANNER),
    # real time: iCEM's sample efficiency lets a smaller network, one particle per member,
    # a small population and two warm-started iterations do the work (>= 2x control rate)
    "cartpole-rt": (
        {"obs_dim": 5, "act_dim": 1, **_RT_MODEL},
        # 0.8 s at 50 Hz: the swing-up needs the look-ahead, not the samples
        replace(_RT_PLANNER, horizon=40, population=32),
    ),
    "arm-rt": (
        {"obs_dim": 17, "act_dim": 7, **_RT_MODEL},
        replace(_RT_PLANNER, horizon=10, population=64),
    ),
}


class TorchPlanner:
    """Stateful reference controller around a pure planner function.

    ``act(obs (O,), goal (G,) | None) -> action (A,)`` plans one step, applies the
    warm-start carry, and stores ``last_info`` (``plan_cost``, ``disagreement`` floats).
    """

    def __init__(
        self,
        model: nn.Module,
        task: Task,
        cfg: PlannerConfig,
        value_fn: ValueFn | None = None,
        policy: PolicyFn | None = None,
    ) -> None:
        self.task, self.cfg = task, cfg
        self.rollout = Rollout(model, task, cfg, value_fn, policy)
        self.plan_fn = PLANNERS[cfg.kind]
        self.noise_shapes = noise_shapes(cfg, task.obs_dim, task.act_dim)
        self.carry_shapes = carry_shapes(cfg, task.act_dim)
        self.weights = torch.as_tensor(task.default_weights)  # (K,)
        self.generator = torch.Generator().manual_seed(cfg.seed)
        self.carry: Carry = {}
        self.last_info: dict[str, float] = {}
        self.reset()

    def reset(self) -> None:
        """Forget the warm start: every carried plan becomes the action-range midpoint."""
        mid = torch.as_tensor((self.task.low + self.task.high) / 2)  # (A,)
        self.carry = {k: mid.expand(shape).clone() for k, shape in self.carry_shapes.items()}
        self.last_info = {}

    def set_weights(self, weights: np.ndarray) -> None:
        """Critic weights ``(K,)`` used from the next step on."""
        weights = torch.as_tensor(np.asarray(weights, np.float32))
        if weights.shape != self.weights.shape:
            raise ValueError(f"weights must have shape {tuple(self.weights.shape)}")
        self.weights = weights

    def draw_noise(self) -> Noise:
        """Standard-normal noise tensors for one step, from this planner's generator."""
        return {
            k: torch.randn(shape, generator=self.generator)
            for k, shape in self.noise_shapes.items()
        }

    @torch.no_grad()
    def step(
        self,
        obs: torch.Tensor,
        goal: torch.Tensor,
        carry: Carry,
        noise: Noise,
        weights: torch.Tensor,
    ) -> tuple[torch.Tensor, Carry, dict[str, torch.Tensor]]:
        """The pure planning step (no state read or written); see ``PLANNERS``."""
        return self.plan_fn(obs, goal, carry, noise, weights, rollout=self.rollout, cfg=self.cfg)

    def act(self, obs: np.ndarray, goal: np.ndarray | None = None) -> np.ndarray:
        """Plan from ``obs (O,)`` (and ``goal (G,)``) and return the action ``(A,)``."""
        obs_t = torch.as_tensor(np.asarray(obs, np.float32).reshape(self.task.obs_dim))
        g = np.zeros(self.task.goal_dim, np.float32) if goal is None else goal
        goal_t = torch.as_tensor(np.asarray(g, np.float32).reshape(self.task.goal_dim))
        action, self.carry, info = self.step(
            obs_t, goal_t, self.carry, self.draw_noise(), self.weights
        )
        self.last_info = {k: float(v) for k, v in info.items()}
        return action.numpy().copy()


def build_planner(
    model: nn.Module,
    task: Task,
    cfg: PlannerConfig,
    value_fn: ValueFn | None = None,
    policy: PolicyFn | None = None,
) -> TorchPlanner:
    """The reference planner for ``model`` (ensemble forward contract) on ``task``, with an
    optional terminal cost-to-go ``value_fn`` and a ``policy`` for the policy prior."""
    return TorchPlanner(model, task, cfg, value_fn, policy)


def preset_task(name: str) -> Task:
    """The task a preset is sized for (cartpole presets: cartpole_swingup; arm: panda_reach)."""
    from mbrl_control.tasks import get_task

    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; allowed: {sorted(PRESETS)}")
    return get_task("cartpole_swingup" if name.startswith("cartpole") else "panda_reach")
