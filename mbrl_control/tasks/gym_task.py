"""A task for any gymnasium environment: bounds from its spaces, a torch cost (or a learned one).

``GymTask.from_env(env, cost=fn)`` is a :class:`~mbrl_control.tasks.base.Task` with the
observation/action layout and action bounds of ``env``'s ``Box`` spaces, the control rate
from ``env.unwrapped.dt`` and the episode length from ``env.spec``. Its cost is either

- a torch function ``cost(obs (B, O), action (B, A), next_obs (B, O)) -> (B,)``, wrapped as
  the task's one critic ``"cost"`` (weight 1), so the planner graph, its live ``weights``
  input and the export work exactly as for the robots' critic sums; or
- ``"learned"``: the ensemble's reward head (``EnsembleConfig(reward_head=True)``, fitted
  with ``fit(..., cost=...)``) is the planner's per-step cost (``task.cost_source ==
  "learned"``, no critics). The targets are what you recorded (for a gymnasium env, the
  per-step ``-reward``): with no critics there is nothing else to learn from, and
  ``models.cost_targets.transition_costs`` refuses such a task. Measured on Pendulum-v1
  against the analytic cost: docs/learned_cost.md.

It has no ROS side: no joints, no JointState mapping (``obs_from_joints`` raises), no goal.
``is_success`` is optional (default: never). Imports numpy only (torch on first cost).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from mbrl_control.tasks.base import Critic, Task

if TYPE_CHECKING:
    import torch

CostFn = Callable[["torch.Tensor", "torch.Tensor", "torch.Tensor"], "torch.Tensor"]
"""``cost(obs (B, O), action (B, A), next_obs (B, O)) -> (B,)`` in torch (lower is better)."""
LEARNED = "learned"
DEFAULT_EPISODE_STEPS = 1000


class GymTask(Task):
    """A goal-free task defined by arrays and a cost, without joints (see module doc).

    Args: ``name``; ``action_low``/``action_high`` ``(A,)`` finite bounds; ``cost`` (a
    :data:`CostFn` or ``"learned"``); ``obs_dim`` or ``obs_names`` (default names
    ``obs_0 ..``); ``action_names`` (default ``action_0 ..``) and ``action_units`` (default
    ``""``); ``control_hz`` (default 1); ``episode_steps``; ``is_success(obs (O,)) -> bool``
    (default: never); ``initial_obs`` ``(S, O)`` realistic start states the exporter stores
    for the runtime's load check (default: ``obs_low``/``obs_high`` samples, else zeros).
    Raises ``ValueError`` (one line naming the argument) for bad bounds, names or a cost that
    does not return ``(B,)``.
    """

    goal_dim = 0
    joint_names: tuple[str, ...] = ()
    command_joints: tuple[str, ...] = ()

    def __init__(
        self,
        *,
        name: str,
        action_low: Sequence[float],
        action_high: Sequence[float],
        cost: CostFn | str,
        obs_dim: int | None = None,
        obs_names: Sequence[str] | None = None,
        action_names: Sequence[str] | None = None,
        action_units: Sequence[str] | None = None,
        control_hz: float = 1.0,
        episode_steps: int = DEFAULT_EPISODE_STEPS,
        is_success: Callable[[np.ndarray], bool] | None = None,
        initial_obs: np.ndarray | None = None,
    ) -> None:
        self.name = str(name)
        low = np.asarray(action_low, np.float64).reshape(-1)
        high = np.asarray(action_high, np.float64).reshape(-1)
        if low.shape != high.shape or not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))):
            raise ValueError(
                f"GymTask {name!r}: action_low/action_high must be finite and of one length "
                f"(the planner samples inside them), got {low.tolist()} / {high.tolist()}"
            )
        if not np.all(low < high):
            raise ValueError(f"GymTask {name!r}: need action_low < action_high, got {low} {high}")
        act_dim = len(low)
        if obs_names is None:
            if obs_dim is None:
                raise ValueError(f"GymTask {name!r}: give obs_dim or obs_names")
            obs_names = [f"obs_{i}" for i in range(int(obs_dim))]
        self.obs_names = _names(obs_names, obs_dim, "obs_names", name)
        self.action_names = _names(
            action_names or [f"action_{i}" for i in range(act_dim)], act_dim, "action_names", name
        )
        self.action_units = tuple(action_units or ("",) * act_dim)
        if len(self.action_units) != act_dim:
            raise ValueError(f"GymTask {name!r}: action_units needs {act_dim} entries")
        self.action_low = tuple(float(x) for x in low)
        self.action_high = tuple(float(x) for x in high)
        if not float(control_hz) > 0:
            raise ValueError(f"GymTask {name!r}: control_hz must be > 0, got {control_hz}")
        self.control_hz = float(control_hz)
        self.episode_steps = int(episode_steps)
        self._success = is_success
        self._initial_obs = _initial_rows(initial_obs, self.obs_dim, name)
        if isinstance(cost, str):
            if cost != LEARNED:
                raise ValueError(
                    f"GymTask {name!r}: cost={cost!r}; allowed: a torch function "
                    f"(obs, action, next_obs) -> (B,) or {LEARNED!r}"
                )
            self.cost_source = LEARNED
            self._critics: tuple[Critic, ...] = ()
        else:
            if not callable(cost):
                raise ValueError(f"GymTask {name!r}: cost must be callable or {LEARNED!r}")
            self.cost_source = "critics"
            self._critics = (Critic("cost", _TransitionCost(cost), 1.0),)
            self._check_cost()

    # ---- construction from an environment ---------------------------------------------
    @classmethod
    def from_env(
        cls,
        env: Any,
        cost: CostFn | str,
        *,
        name: str | None = None,
        obs_names: Sequence[str] | None = None,
        action_names: Sequence[str] | None = None,
        action_units: Sequence[str] | None = None,
        is_success: Callable[[np.ndarray], bool] | None = None,
        initial_obs: np.ndarray | None = None,
    ) -> GymTask:
        """The task of a gymnasium ``env`` (an instance, or an id for ``gymnasium.make``).

        Bounds from ``env.action_space`` (a 1-D ``Box`` with finite bounds), observation size
        from ``env.observation_space`` (a 1-D ``Box``), rate ``1 / env.unwrapped.dt`` (1 Hz
        when the env has no ``dt``), episode length ``env.spec.max_episode_steps`` (else
        1000), name ``env.spec.id``. ``initial_obs`` default: 4 samples of the observation
        box (the env itself is not reset). Other spaces raise ``ValueError`` in one line.
        """
        if isinstance(env, str):
            import gymnasium

            env = gymnasium.make(env)
        obs_space, act_space = env.observation_space, env.action_space
        obs_low, obs_high = _box(obs_space, "observation_space")
        act_low, act_high = _box(act_space, "action_space")
        spec = getattr(env, "spec", None)
        dt = getattr(getattr(env, "unwrapped", env), "dt", None)
        steps = getattr(spec, "max_episode_steps", None) or DEFAULT_EPISODE_STEPS
        if initial_obs is None:
            initial_obs = _box_samples(obs_low, obs_high, count=4, seed=0)
        return cls(
            name=name or getattr(spec, "id", None) or type(env.unwrapped).__name__,
            action_low=act_low,
            action_high=act_high,
            cost=cost,
            obs_dim=len(obs_low),
            obs_names=obs_names,
            action_names=action_names,
            action_units=action_units,
            control_hz=1.0 / float(dt) if dt else 1.0,
            episode_steps=int(steps),
            is_success=is_success,
            initial_obs=initial_obs,
        )

    # ---- Task contract ----------------------------------------------------------------
    @property
    def critics(self) -> tuple[Critic, ...]:
        """``(Critic("cost", ...),)`` for a torch cost; ``()`` for the learned cost."""
        return self._critics

    def features(self, obs, action, next_obs, goal) -> dict[str, Any]:  # type: ignore[override]
        """The transition itself: ``obs``, ``action``, ``next_obs``, ``goal``."""
        return {"obs": obs, "action": action, "next_obs": next_obs, "goal": goal}

    def score(self, obs, action, next_obs, goal, weights=None):  # type: ignore[override]
        if self.cost_source == LEARNED:
            raise ValueError(
                f"task {self.name!r} has cost 'learned': its per-step cost is the ensemble's "
                "reward head (the planner's rollout evaluates it), not an analytic critic"
            )
        return super().score(obs, action, next_obs, goal, weights)

    def is_success(self, obs: np.ndarray, goal: np.ndarray | None = None) -> bool:
        """``is_success(obs)`` as given at construction; False without one."""
        return bool(self._success(np.asarray(obs))) if self._success else False

    def obs_from_joints(self, position: np.ndarray, velocity: np.ndarray) -> np.ndarray:
        raise NotImplementedError(self._no_ros("obs_from_joints"))

    def obs_from_joint_state(self, names, position, velocity) -> np.ndarray:  # type: ignore[override]
        raise NotImplementedError(self._no_ros("obs_from_joint_state"))

    def initial_observations(self, count: int = 4, seed: int = 0) -> np.ndarray:
        """Up to ``count`` realistic observations ``(S, O)`` float32 (the exporter's probe
        states; see ``initial_obs``)."""
        return self._initial_obs[:count].copy()

    def metadata(self) -> dict[str, Any]:
        """:meth:`Task.metadata` plus ``cost_source`` and ``origin: "gymnasium"`` (defined in
        Python, not a task file: the ROS nodes cannot rebuild it)."""
        return {**super().metadata(), "cost_source": self.cost_source, "origin": "gymnasium"}

    # ---- helpers ----------------------------------------------------------------------
    def _no_ros(self, what: str) -> str:
        return (
            f"task {self.name!r} is a GymTask: it has no joints and no ROS side, so {what} "
            "is not defined; feed observations from the environment (act(obs)) instead"
        )

    def _check_cost(self) -> None:
        """Call the cost on two zero transitions: one-line error if it is not ``(B,)``."""
        import torch

        o = torch.zeros(2, self.obs_dim)
        a = torch.as_tensor(np.stack([self.low, self.high]))
        try:
            out = self.cost(o, a, o, torch.zeros(self.goal_dim))
        except Exception as exc:
            raise ValueError(
                f"GymTask {self.name!r}: cost(obs (B, O), action (B, A), next_obs (B, O)) failed "
                f"on torch tensors: {type(exc).__name__}: {exc}"
            ) from exc
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != (2,):
            got = tuple(out.shape) if hasattr(out, "shape") else type(out).__name__
            raise ValueError(
                f"GymTask {self.name!r}: cost must return a torch tensor of shape (B,), got {got} "
                "for B=2"
            )


class _TransitionCost:
    """Critic function from a transition cost: ``features -> cost(obs, action, next_obs)``."""

    def __init__(self, fn: CostFn) -> None:
        self.fn = fn

    def __call__(self, feats: dict[str, Any]) -> torch.Tensor:
        return self.fn(feats["obs"], feats["action"], feats["next_obs"])


def _names(names: Sequence[str], dim: int | None, key: str, task: str) -> tuple[str, ...]:
    out = tuple(str(n) for n in names)
    if dim is not None and len(out) != int(dim):
        raise ValueError(f"GymTask {task!r}: {key} has {len(out)} entries, the space has {dim}")
    if len(set(out)) != len(out):
        raise ValueError(f"GymTask {task!r}: {key} must be distinct, got {list(out)}")
    return out


def _box(space: Any, which: str) -> tuple[np.ndarray, np.ndarray]:
    """``(low, high)`` float64 of a 1-D Box space; ``ValueError`` for any other space."""
    low, high, shape = (getattr(space, k, None) for k in ("low", "high", "shape"))
    if type(space).__name__ != "Box" or low is None or shape is None or len(shape) != 1:
        raise ValueError(
            f"GymTask: env.{which} is {space}; only 1-D Box spaces are supported (wrap the env, "
            "e.g. gymnasium.wrappers.FlattenObservation, or build GymTask(...) from arrays)"
        )
    return np.asarray(low, np.float64), np.asarray(high, np.float64)


def _box_samples(low: np.ndarray, high: np.ndarray, count: int, seed: int) -> np.ndarray:
    """``count`` uniform samples of the box ``(S, O)``; a standard normal where unbounded."""
    rng = np.random.default_rng(seed)
    bounded = np.isfinite(low) & np.isfinite(high)
    u = rng.uniform(np.where(bounded, low, 0.0), np.where(bounded, high, 1.0), (count, len(low)))
    return np.where(bounded, u, rng.standard_normal((count, len(low)))).astype(np.float32)


def _initial_rows(rows: np.ndarray | None, obs_dim: int, task: str) -> np.ndarray:
    if rows is None:
        return np.zeros((1, obs_dim), np.float32)
    out = np.asarray(rows, np.float32).reshape(-1, obs_dim) if np.size(rows) else None
    if out is None or not np.all(np.isfinite(out)):
        raise ValueError(f"GymTask {task!r}: initial_obs must be finite rows of {obs_dim} values")
    return out
