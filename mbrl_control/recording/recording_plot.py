"""Read an MCAP recording back into arrays and plot it (for reports and the README).

:func:`read_recording` reads what :class:`~mbrl_control.recording.episode_recorder.EpisodeRecorder`
writes (and any rosbag2 bag with the same topic names: ``joint_states``, ``commands``,
``step_cost``, ``episode_start``, matched by their last name component) with ``rosbags``;
:func:`plot_recording` draws joint positions, commands and step cost over time, one colour
per joint, the episode starts as vertical lines.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class Recording:
    """A recording's signals, times in seconds of the recording's clock (header stamps for
    joint states and episode starts, log time for the others)."""

    path: str
    topics: dict[str, tuple[str, int]] = field(default_factory=dict)
    """Topic -> (type, message count)."""
    joint_names: list[str] = field(default_factory=list)
    state_t: np.ndarray = field(default_factory=lambda: np.zeros(0))
    position: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    """``(T, J)`` in ``joint_names`` order (NaN where a message lacked the joint)."""
    command_t: np.ndarray = field(default_factory=lambda: np.zeros(0))
    command: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    """``(C, A)``."""
    cost_t: np.ndarray = field(default_factory=lambda: np.zeros(0))
    cost: np.ndarray = field(default_factory=lambda: np.zeros(0))
    episode_starts: list[float] = field(default_factory=list)

    @property
    def duration(self) -> float:
        """Seconds from the first to the last joint state (0 without states)."""
        return float(self.state_t[-1] - self.state_t[0]) if len(self.state_t) else 0.0


def _stamp(msg: object) -> float:
    s = msg.stamp  # type: ignore[attr-defined]
    return s.sec + 1e-9 * s.nanosec


def read_recording(path: str | Path) -> Recording:
    """The signals of the bag at ``path`` (an ``.mcap``/``.db3`` file or a bag directory).

    Raises ``ValueError`` naming the file when ``rosbags`` cannot read it."""
    from rosbags.highlevel import AnyReader

    from mbrl_control.recording.mcap_writer import typestore

    rec = Recording(str(path))
    names: list[str] = []
    states: list[tuple[float, dict[str, float]]] = []
    commands: list[tuple[float, np.ndarray]] = []
    costs: list[tuple[float, float]] = []
    try:
        with AnyReader([Path(path)], default_typestore=typestore()) as reader:
            rec.topics = {c.topic: (c.msgtype, c.msgcount) for c in reader.connections}
            for conn, t_log, raw in reader.messages():
                role = conn.topic.rsplit("/", 1)[-1]
                if role not in ("joint_states", "commands", "step_cost", "episode_start"):
                    continue
                msg = reader.deserialize(raw, conn.msgtype)
                if role == "joint_states" and conn.msgtype == "sensor_msgs/msg/JointState":
                    names += [n for n in msg.name if n not in names]
                    states.append((_stamp(msg.header), dict(zip(msg.name, msg.position))))
                elif role == "commands" and hasattr(msg, "data"):
                    commands.append((t_log * 1e-9, np.asarray(msg.data, float)))
                elif role == "step_cost" and hasattr(msg, "data"):
                    costs.append((t_log * 1e-9, float(msg.data)))
                elif role == "episode_start" and hasattr(msg, "stamp"):
                    rec.episode_starts.append(_stamp(msg))
    except Exception as err:  # rosbags raises several error classes for unreadable bags
        raise ValueError(f"cannot read recording {path}: {type(err).__name__}: {err}") from err
    rec.joint_names = names
    rec.state_t = np.array([t for t, _ in states])
    rec.position = np.array([[q.get(n, np.nan) for n in names] for _, q in states]).reshape(
        len(states), len(names)
    )
    width = max((len(c) for _, c in commands), default=0)
    rec.command_t = np.array([t for t, _ in commands])
    rec.command = np.array(
        [np.pad(c, (0, width - len(c)), constant_values=np.nan) for _, c in commands]
    ).reshape(len(commands), width)
    rec.cost_t = np.array([t for t, _ in costs])
    rec.cost = np.array([c for _, c in costs])
    return rec


def _break_at(t: np.ndarray, y: np.ndarray, starts: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """``t``, ``y`` with a NaN row before each episode start (no line across a reset)."""
    cuts = sorted({int(i) for i in np.searchsorted(t, starts) if 0 < i < len(t)})
    if not cuts:
        return t, y
    t = np.insert(t.astype(float), cuts, np.nan)
    y = np.insert(y.astype(float), cuts, np.nan, axis=0)
    return t, y


def plot_recording(rec: Recording) -> bytes:
    """PNG of the recording: joint positions, commands and step cost over time (s)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("joint positions (m, rad)", rec.state_t, rec.position, rec.joint_names)]
    if len(rec.command_t):
        labels = [f"command {i}" for i in range(rec.command.shape[1])]
        panels.append(("commands", rec.command_t, rec.command, labels))
    if len(rec.cost_t):
        panels.append(("step cost", rec.cost_t, rec.cost[:, None], ["cost"]))
    fig, axes = plt.subplots(len(panels), 1, figsize=(9, 2.2 * len(panels)), sharex=True)
    for ax, (title, t, y, labels) in zip(np.atleast_1d(axes), panels):
        t, y = _break_at(t, y, rec.episode_starts)
        for j, label in enumerate(labels[: y.shape[1]]):
            ax.plot(t, y[:, j], lw=1.0, label=label)
        for start in rec.episode_starts:
            ax.axvline(start, color="0.6", lw=0.8, ls="--")
        ax.set_ylabel(title, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        if 1 < len(labels) <= 10:
            ax.legend(fontsize=7, loc="upper right", ncol=min(5, len(labels)))
    np.atleast_1d(axes)[-1].set_xlabel("time (s); dashed: episode starts", fontsize=8)
    fig.suptitle(Path(rec.path).name, fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()
