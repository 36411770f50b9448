"""The planner graph's ``plan_states`` as a :class:`~mbrl_control.recording.plan_messages.Plan`:
planned joint positions and each member's predicted path of the task's ``visualization.point``.

numpy only (the controller's control path has no torch): joint positions are read from the
predicted states through the task's observation layout (a cos/sin-observed angle as
``atan2``), points through the task's numpy forward kinematics. What is drawn is what the
planner computed (``plan_states``: the members' particle means along the lowest-cost candidate,
:mod:`mbrl_control.planning.graph_io`); nothing is predicted again here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mbrl_control.recording.plan_messages import Plan


def plan_of(
    task: Any,
    obs: np.ndarray,
    plan_states: np.ndarray | None,
    max_points: int | None = None,
    joint_positions: np.ndarray | None = None,
) -> Plan | None:
    """The plan of one planning step, or None when there is nothing to show.

    Args:
        task: the planner's task (a task file's; a task without an observation layout, e.g.
            a gymnasium env's, shows no plan).
        obs: ``(O,)`` the state planned from (the paths' first point).
        plan_states: ``(E, H, P)`` the graph's output (None: a file exported without it).
        max_points: at most this many points per member path (>= 2: the start, every
            ``ceil(H / (max_points - 1))``-th step and the last); None: all H + 1. The
            controller thins its markers so that building them stays cheap.
        joint_positions: ``(J_task,)`` the robot's joint positions planned from, in
            ``task.joint_names`` order (the controller's merged joint state), or None. An
            angle observed only as cos/sin is read back with ``atan2``; the planned angles
            are unwrapped along the horizon from the start state's, and with
            ``joint_positions`` shifted by whole turns to continue the robot's own
            (unwrapped) angle, so ``~/plan`` and ``/joint_states`` agree beyond +-pi.
    Returns: :class:`Plan` with ``positions (H, J)`` (the members' mean state's observed
    joints, m or rad), ``paths (E, K, 3)`` (m, ``task.visualization.frame_id``, K <= H + 1;
    None when the task names no point) and ``dt`` the control period (s). ``ValueError`` for
    ``plan_states`` that is not ``(E, H, P)`` with P <= O, or not finite.
    """
    if plan_states is None or not hasattr(task, "plan_joint_positions"):
        return None
    states = np.asarray(plan_states, np.float64)
    x0 = np.asarray(obs, np.float64).reshape(-1)
    if states.ndim != 3 or states.shape[2] > x0.size or 0 in states.shape:
        raise ValueError(f"plan_states: shape {states.shape}, expected (E, H, P <= {x0.size})")
    if not np.all(np.isfinite(states)):
        raise ValueError("plan_states: not all finite")
    p = states.shape[2]
    rows = np.concatenate([x0[None, :p], states.mean(axis=0)])  # start, then the H steps
    names, positions, wrapped = task.plan_joint_positions(rows)  # (H+1, J)
    if wrapped.any():
        positions[:, wrapped] = np.unwrap(positions[:, wrapped], axis=0)
        if joint_positions is not None:
            raw = np.asarray(joint_positions, np.float64)
            own = raw[[list(task.joint_names).index(n) for n in names]][wrapped]
            turns = np.round((own - positions[0, wrapped]) / (2 * np.pi))
            positions[:, wrapped] += 2 * np.pi * turns
    positions = positions[1:]  # (H, J): after steps 1..H
    paths = None
    start = task.plan_point(x0[:p])
    if start is not None:
        e, h = states.shape[:2]
        steps = path_steps(h, max_points)  # 0-based rows of plan_states
        points = task.plan_points(states[:, steps].reshape(-1, p)).reshape(e, len(steps), 3)
        paths = np.concatenate([np.broadcast_to(start, (e, 1, 3)), points], axis=1)
    return Plan(
        joint_names=tuple(names),
        positions=positions,
        paths=paths,
        dt=float(task.dt),
        frame_id=task.visualization.frame_id,
    )


def path_steps(horizon: int, max_points: int | None) -> list[int]:
    """Rows of ``plan_states`` drawn: all H, or with ``max_points`` every ``ceil(H /
    (max_points - 1))``-th step and always the last (``ValueError`` below 2)."""
    if max_points is None or max_points - 1 >= horizon:
        return list(range(horizon))
    if max_points < 2:
        raise ValueError(f"max_points={max_points}: need >= 2 (the start and one step)")
    stride = -(-horizon // (max_points - 1))
    steps = list(range(stride - 1, horizon, stride))
    return steps if steps[-1] == horizon - 1 else [*steps, horizon - 1]


class PlanTap:
    """A planner's ``act`` that remembers what each plan started from, for recordings.

    ``tap = PlanTap(act, planner, task, joints)``; ``tap(obs, goal)`` returns ``act(obs,
    goal)`` and keeps ``obs``, ``joints()`` (the robot's joint positions ``(J_task,)`` in
    ``task.joint_names`` order, or None) and the planner's ``last_plan_states``;
    ``tap.plan()`` is the :class:`Plan` of the newest call (None before one, or for a file
    without ``plan_states``): an :class:`~mbrl_control.recording.episode_recorder.
    EpisodeRecorder`'s ``plan`` source. ``act`` may wrap the planner (e.g. the evaluation's
    uncertainty reaction); the plan shown is the planner's own.
    """

    def __init__(self, act: Any, planner: Any, task: Any, joints: Any = None) -> None:
        self._act, self._planner, self._task, self._joints = act, planner, task, joints
        self._last: tuple[np.ndarray, np.ndarray | None, np.ndarray | None] | None = None

    def __call__(self, obs: np.ndarray, goal: np.ndarray | None = None) -> np.ndarray:
        joints = None if self._joints is None else np.array(self._joints(), np.float64)
        action = self._act(obs, goal)
        states = getattr(self._planner, "last_plan_states", None)
        states = None if states is None else states.copy()
        self._last = (np.array(obs, np.float64), states, joints)
        return action

    def plan(self) -> Plan | None:
        if self._last is None:
            return None
        obs, states, joints = self._last
        return plan_of(self._task, obs, states, joint_positions=joints)
