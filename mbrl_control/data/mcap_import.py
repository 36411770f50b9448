"""Import a rosbag2 MCAP recording of ``/joint_states`` + ``/commands`` into a store.

Joint states are resampled at the task's control rate: a state is kept when at least
0.75 control periods have passed since the last kept one. The action of the transition
``s_k -> s_k+1`` is the latest ``/commands`` message received at or before ``s_k+1``'s time
(the command in effect over the interval). A gap of more than two control periods, a joint
state the task cannot read, or the end of the bag ends an episode. An optional
``/goal`` (``geometry_msgs/PointStamped``) gives goal tasks the goal at episode start.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from mbrl_control.data.store import TransitionStore
from mbrl_control.tasks import BadJointState, Task, get_task

log = logging.getLogger(__name__)

TOPICS = ("/joint_states", "/commands", "/goal")


def _stamp(msg: Any, log_time_ns: int) -> float:
    """Header stamp in s, or the log time when the stamp is zero (s)."""
    s = msg.header.stamp
    t = s.sec + s.nanosec * 1e-9
    return t if t > 0 else log_time_ns * 1e-9


def import_bag(path: str | Path, task: str | Task, store: TransitionStore) -> int:
    """Append the episodes found in the MCAP file at ``path``; return how many were written."""
    from mcap_ros2.reader import read_ros2_messages

    task = get_task(task) if isinstance(task, str) else task
    dt = task.dt
    command: np.ndarray | None = None
    goal = np.zeros(task.goal_dim, np.float32)
    obs: list[np.ndarray] = []
    act: list[np.ndarray] = []
    times: list[float] = []
    episode_goal = goal
    written = 0

    def flush() -> None:
        nonlocal written
        if act:
            meta = {
                "task": task.name,
                "source": "mcap",
                "bag": str(path),
                "t_start": times[0],
                "t_end": times[-1],
                "goal": episode_goal.tolist(),
            }
            store.append_episode(np.stack(obs), np.stack(act), meta)
            written += 1
        obs.clear()
        act.clear()
        times.clear()

    for m in read_ros2_messages(str(path), topics=list(TOPICS)):
        topic, msg = m.channel.topic, m.ros_msg
        if topic == "/commands":
            data = np.asarray(msg.data, np.float32)
            if data.shape != (task.act_dim,):
                raise ValueError(
                    f"/commands message has {data.size} values; task {task.name} expects "
                    f"{task.act_dim} ({list(task.command_joints)})"
                )
            command = data
            continue
        if topic == "/goal":
            p = msg.point
            goal = np.array([p.x, p.y, p.z], np.float32)[: task.goal_dim]
            continue
        t = _stamp(msg, m.log_time_ns)
        if times and t - times[-1] < 0.75 * dt:
            continue  # faster than the control rate: resample
        try:
            o = task.obs_from_joint_state(msg.name, msg.position, msg.velocity)
        except BadJointState as err:
            log.warning("%s: ending episode at t=%.3f s: %s", path, t, err)
            flush()
            continue
        if times and t - times[-1] > 2 * dt:
            flush()  # a gap: the next episode starts here
        if not times:
            episode_goal = goal
        elif command is not None:
            act.append(command)
        else:
            obs.clear()
            times.clear()  # no command yet: this state starts the episode instead
        obs.append(o)
        times.append(t)
    flush()
    return written
