"""The task contract shared by simulator, planner and ROS nodes.

Shape letters: B batch rows, O obs dim, A action dim, G goal dim, K critics.
A task's cost is a weighted sum of small critics (Nav2 MPPI style): each critic is a pure
torch function of shared features, and the weights ``(K,)`` are an input so that they can
be live ROS parameters and an input of the exported planner graph.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from mbrl_control.data.joint_state_merge import JointStateMerge

if TYPE_CHECKING:
    import torch

Features = Mapping[str, "torch.Tensor"]


CriticGrad = Callable[[Features, "torch.Tensor", Any], None]
"""A critic's declared derivative: ``grad(features, upstream (B,), acc)`` adds ``upstream *
d term / d inputs`` into ``acc``, a :class:`~mbrl_control.tasks.cost_gradient.CostGradient`."""


@dataclass(frozen=True)
class Critic:
    """One cost term: ``fn(features) -> (B,)``, scaled by ``weight`` (its default).

    ``grad`` is its derivative (:data:`CriticGrad`), declared for gradient-refined planning
    (:mod:`mbrl_control.planning.refine`); None: not declared, and a planner that refines
    by gradient refuses the task."""

    name: str
    fn: Callable[[Features], torch.Tensor]
    weight: float
    grad: CriticGrad | None = None


class Task(ABC):
    """A robot task: layout, bounds, rates, cost critics and the ROS message mapping.

    Subclasses set the class attributes and implement the abstract methods. Units are SI
    (m, rad, N, N·m, s) and stated per action in ``action_units``.
    """

    name: ClassVar[str]
    obs_names: ClassVar[tuple[str, ...]]
    action_names: ClassVar[tuple[str, ...]]
    action_units: ClassVar[tuple[str, ...]]
    action_low: ClassVar[tuple[float, ...]]
    action_high: ClassVar[tuple[float, ...]]
    control_hz: ClassVar[float]
    episode_steps: ClassVar[int]
    goal_dim: ClassVar[int] = 0
    joint_names: ClassVar[tuple[str, ...]] = ()
    """JointState names the task reads, in the order it reads them."""
    command_joints: ClassVar[tuple[str, ...]] = ()
    """Joints the command vector addresses, in order (ros2_control forward-command)."""
    position_limits: ClassVar[tuple[tuple[float, float], ...] | None] = None
    """Physical position range ``(low, high)`` per joint in ``joint_names`` (m or rad; ±inf for
    a continuous joint). A state outside it is refused as impossible (``None``: no limits)."""
    velocity_limits: ClassVar[tuple[float, ...] | None] = None
    """Physical speed limit per joint in ``joint_names`` (m/s or rad/s; ``None``: no limits)."""
    episode_success: ClassVar[str] = "final"
    """When an episode counts as a success: ``final`` when :meth:`is_success` holds over most
    of its last 10 % of steps (reached and kept: swing-up and balance, reach and stay);
    ``reached`` when it holds at any step (e.g. gymnasium Acrobot-v1's criterion)."""
    action_history: ClassVar[int] = 0
    """k: the observation ends with the last k applied actions, newest first (``k·A`` values,
    :mod:`mbrl_control.tasks.action_history`); 0: no such block."""
    cost_source: ClassVar[str] = "critics"
    """``critics``: the planner's cost is :meth:`cost`; ``learned``: the ensemble's learned
    cost (reward) head, for tasks where no analytic cost fits."""

    # ---- derived layout ---------------------------------------------------------------
    @property
    def obs_dim(self) -> int:
        return len(self.obs_names)

    @property
    def act_dim(self) -> int:
        return len(self.action_names)

    @property
    def history_dim(self) -> int:
        """Size ``k·A`` of the observation's trailing ``last_actions`` block (0: none)."""
        return int(self.action_history) * self.act_dim

    @property
    def dt(self) -> float:
        """Control period in seconds."""
        return 1.0 / self.control_hz

    @property
    def low(self) -> np.ndarray:
        """Action lower bound ``(A,)`` float32."""
        return np.asarray(self.action_low, dtype=np.float32)

    @property
    def high(self) -> np.ndarray:
        """Action upper bound ``(A,)`` float32."""
        return np.asarray(self.action_high, dtype=np.float32)

    @property
    def joint_ranges(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(pos_low (J,), pos_high (J,), vel_limit (J,))`` float64 in ``joint_names`` order;
        ±inf where the task declares no limit."""
        n = len(self.joint_names)
        pos = np.asarray(self.position_limits or [(-np.inf, np.inf)] * n, np.float64)
        vel = np.asarray(self.velocity_limits or [np.inf] * n, np.float64)
        if pos.shape != (n, 2) or vel.shape != (n,):
            raise ValueError(f"task {self.name}: joint limits must have one entry per joint")
        return pos[:, 0].copy(), pos[:, 1].copy(), vel

    @property
    def safe_action(self) -> np.ndarray:
        """The action published when anything is wrong: zero effort/velocity ``(A,)``."""
        return np.clip(np.zeros(self.act_dim, dtype=np.float32), self.low, self.high)

    @property
    @abstractmethod
    def critics(self) -> tuple[Critic, ...]:
        """The cost terms, in the order of the weights vector."""

    @property
    def critic_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.critics)

    @property
    def default_weights(self) -> np.ndarray:
        """Default critic weights ``(K,)`` float32."""
        return np.asarray([c.weight for c in self.critics], dtype=np.float32)

    # ---- cost (torch, exported inside the planner graph) ------------------------------
    @abstractmethod
    def features(
        self,
        obs: torch.Tensor,
        action: torch.Tensor,
        next_obs: torch.Tensor,
        goal: torch.Tensor,
    ) -> dict[str, torch.Tensor]:
        """Quantities several critics share, computed once.

        Args: obs ``(B, O)``, action ``(B, A)``, next_obs ``(B, O)``, goal ``(G,)`` or ``(B, G)``.
        """

    def score(
        self,
        obs: torch.Tensor,
        action: torch.Tensor,
        next_obs: torch.Tensor,
        goal: torch.Tensor,
        weights: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-step cost of transitions.

        Args: obs ``(B, O)``, action ``(B, A)``, next_obs ``(B, O)``, goal ``(G,)``/``(B, G)``,
        weights ``(K,)`` (defaults to ``default_weights``).
        Returns: total ``(B,)`` and per_critic ``(K, B)`` (unweighted terms).
        """
        import torch

        feats = self.features(obs, action, next_obs, goal)
        per_critic = torch.stack([c.fn(feats) for c in self.critics])  # (K, B)
        if weights is None:
            weights = torch.as_tensor(self.default_weights, dtype=per_critic.dtype)
        total = (weights[:, None] * per_critic).sum(0)  # (B,)
        return total, per_critic

    @property
    def critics_without_derivative(self) -> tuple[str, ...]:
        """Names of the critics that declare no derivative (:attr:`Critic.grad`); for a task
        whose cost is learned, ``("learned cost",)``. Empty: :meth:`score_grad` works."""
        if self.cost_source == "learned":
            return ("learned cost",)
        return tuple(c.name for c in self.critics if c.grad is None)

    def score_grad(
        self,
        obs: torch.Tensor,
        action: torch.Tensor,
        next_obs: torch.Tensor,
        goal: torch.Tensor,
        weights: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per-step cost and its derivative, from the critics' declared derivatives.

        Args as :meth:`score`. Returns total ``(B,)`` and ``d total / d obs (B, O)``,
        ``d action (B, A)``, ``d next_obs (B, O)`` (the goal is an input, not differentiated).
        Raises ``ValueError`` naming the critics without a derivative
        (:attr:`critics_without_derivative`).
        """
        import torch

        from mbrl_control.tasks.cost_gradient import CostGradient

        missing = self.critics_without_derivative
        if missing:
            raise ValueError(f"task {self.name!r}: critic(s) {list(missing)} declare no derivative")
        feats = self.features(obs, action, next_obs, goal)
        if weights is None:
            weights = torch.as_tensor(self.default_weights, dtype=obs.dtype)
        acc = CostGradient(obs, action, next_obs, getattr(feats, "layout", None))
        total = torch.zeros_like(obs[..., 0])  # (B,)
        for k, critic in enumerate(self.critics):
            total = total + weights[k] * critic.fn(feats)
            critic.grad(feats, weights[k].expand(total.shape), acc)  # type: ignore[misc]
        return total, acc.obs, acc.action, acc.next_obs

    def cost(
        self,
        obs: torch.Tensor,
        action: torch.Tensor,
        next_obs: torch.Tensor,
        goal: torch.Tensor,
        weights: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Total per-step cost ``(B,)``; see :meth:`score`."""
        return self.score(obs, action, next_obs, goal, weights)[0]

    # ---- numpy side: sim, evaluation, ROS ---------------------------------------------
    def cost_np(
        self,
        obs: np.ndarray,
        action: np.ndarray,
        next_obs: np.ndarray,
        goal: np.ndarray | None = None,
    ) -> float:
        """Cost of one transition from numpy arrays ``(O,)``, ``(A,)``, ``(O,)``, ``(G,)``."""
        import torch

        g = np.zeros(self.goal_dim, np.float32) if goal is None else goal
        t = [torch.as_tensor(np.asarray(x, np.float32))[None] for x in (obs, action, next_obs)]
        return float(self.cost(*t, torch.as_tensor(np.asarray(g, np.float32))))

    def is_success(self, obs: np.ndarray, goal: np.ndarray | None = None) -> bool:
        """Whether ``obs (O,)`` meets the task's goal (used for success rates; default:
        never, for a task with no success condition)."""
        return False

    def sample_goal(self, rng: np.random.Generator) -> np.ndarray:
        """A goal ``(G,)`` for a new episode (empty for goal-free tasks)."""
        return np.zeros(self.goal_dim, dtype=np.float32)

    def obs_from_joints(
        self, position: np.ndarray, velocity: np.ndarray, past_actions: np.ndarray | None = None
    ) -> np.ndarray:
        """Observation ``(O,)`` float32 from joint positions/velocities in ``joint_names`` order
        and, for a task with :attr:`action_history` k > 0, ``past_actions``: the last k applied
        actions newest first, ``(k, A)`` or ``(k·A,)`` (None: the safe action for each, a robot
        at rest before its first command).

        Raises ``NotImplementedError`` for a task without joints (a gymnasium env's: it has no
        ROS side and is never fed joint states)."""
        raise NotImplementedError(
            f"task {self.name!r} has no joints: its observations come from its environment, "
            "not from joint states (a ROS robot needs a task file)"
        )

    def obs_from_joint_state(
        self, names: Sequence[str], position: Sequence[float], velocity: Sequence[float]
    ) -> np.ndarray:
        """Observation ``(O,)`` from one complete ``sensor_msgs/JointState``'s fields.

        Validated by :class:`~mbrl_control.data.joint_state_merge.JointStateMerge` (the rules
        every node and importer share): extra joints are ignored; duplicate or missing joints,
        length mismatches, non-finite (as float32) or physically impossible values raise
        :class:`BadJointState` naming the joint. Several partial messages: use the merge.
        """
        merge = JointStateMerge.for_task(self)
        merge.update(names, position, velocity, 0.0)
        pos, vel, _ = merge.latest()
        return self.obs_from_joints(pos, vel)

    def command_from_action(self, action: np.ndarray) -> list[float]:
        """The ``Float64MultiArray.data`` for ``action (A,)``, clipped to the bounds."""
        return [float(a) for a in np.clip(action, self.low, self.high)]

    def metadata(self) -> dict[str, Any]:
        """What the planner ONNX file records about the task (validated at load)."""
        return {
            "task": self.name,
            "obs_names": list(self.obs_names),
            "action_names": list(self.action_names),
            "action_units": list(self.action_units),
            "action_low": [float(x) for x in self.action_low],
            "action_high": [float(x) for x in self.action_high],
            "control_hz": float(self.control_hz),
            "goal_dim": int(self.goal_dim),
            "joint_names": list(self.joint_names),
            "critics": list(self.critic_names),
        }
