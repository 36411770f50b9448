"""Read an MCAP recording back into arrays and plot it (for reports and the README).

:func:`read_recording` reads what :class:`~mbrl_control.recording.episode_recorder.EpisodeRecorder`
writes (and any rosbag2 bag with the same topic names: ``joint_states``, ``commands``,
``step_cost``, ``episode_start``, matched by their last name component) with ``rosbags``;
:func:`plot_recording` draws joint positions, commands and step cost over time, one colour
per joint, the episode starts as vertical lines; :func:`plot_plan_tube` draws the recorded
plans (``plan_markers``): the robot's tip path (each plan's start point) with every member's
predicted path at a few moments, so the model's spread shows as a tube around the path.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mbrl_control.cli import ArgumentParser


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
    plan_t: np.ndarray = field(default_factory=lambda: np.zeros(0))
    plan_paths: list[np.ndarray] = field(default_factory=list)
    """Per recorded plan: its members' predicted tip paths ``(E, K, 3)`` (m)."""
    plan_frame: str = ""

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
    plans: list[tuple[float, np.ndarray]] = []
    try:
        with AnyReader([Path(path)], default_typestore=typestore()) as reader:
            rec.topics = {c.topic: (c.msgtype, c.msgcount) for c in reader.connections}
            for conn, t_log, raw in reader.messages():
                role = conn.topic.rsplit("/", 1)[-1]
                roles = ("joint_states", "commands", "step_cost", "episode_start", "plan_markers")
                if role not in roles:
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
                elif role == "plan_markers" and hasattr(msg, "markers"):
                    members = [m for m in msg.markers if m.ns.endswith("/members")]
                    if members:
                        rec.plan_frame = members[0].header.frame_id
                        paths = [[(p.x, p.y, p.z) for p in m.points] for m in members]
                        if len({len(p) for p in paths}) == 1:
                            plans.append((_stamp(members[0].header), np.asarray(paths, float)))
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
    rec.plan_t = np.array([t for t, _ in plans])
    rec.plan_paths = [p for _, p in plans]
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


def plot_plan_tube(rec: Recording, *, every: int = 10, max_steps: int | None = None) -> bytes:
    """PNG: the tip path of the robot (each recorded plan's start point) in the plane of its
    two widest axes, with every member's predicted path of every ``every``-th plan (the tube)
    and their mean. ``max_steps`` limits the plans drawn (the first episode by default: up to
    the second episode start). Raises ``ValueError`` when the recording has no plans."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not rec.plan_paths:
        raise ValueError(f"{rec.path}: no plan_markers recorded (no plans to draw)")
    end = len(rec.plan_paths)
    if max_steps is not None:
        end = min(end, max_steps)
    elif len(rec.episode_starts) > 1:
        end = int(np.searchsorted(rec.plan_t, rec.episode_starts[1]))
    paths = rec.plan_paths[: max(1, end)]
    tip = np.array([p[:, 0].mean(axis=0) for p in paths])  # (T, 3): where each plan started
    axes = np.argsort(np.ptp(np.concatenate([tip, *[p.reshape(-1, 3) for p in paths]]), 0))[::-1]
    a, b = sorted(axes[:2])
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    for k in range(0, len(paths), max(1, every)):
        for member in paths[k]:
            ax.plot(member[:, a], member[:, b], color="tab:blue", alpha=0.25, lw=1.0)
        mean = paths[k].mean(axis=0)
        ax.plot(mean[:, a], mean[:, b], color="tab:orange", lw=1.2)
    ax.plot(tip[:, a], tip[:, b], color="black", lw=1.6, label="tip path (recorded)")
    ax.plot([], [], color="tab:blue", alpha=0.5, label="members' predicted paths")
    ax.plot([], [], color="tab:orange", label="mean predicted path")
    names = "xyz"
    frame = f" ({rec.plan_frame})" if rec.plan_frame else ""
    ax.set_xlabel(f"{names[a]} (m){frame}")
    ax.set_ylabel(f"{names[b]} (m)")
    ax.set_aspect("equal", adjustable="datalim")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    ax.set_title(f"{Path(rec.path).name}: plans every {every} steps", fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


USAGE = """python -m mbrl_control.recording.recording_plot FILE.mcap OUT.png [--tube]: the
recording's signals (or, with --tube, its plan tube) as a PNG, e.g. for the README."""


def main(argv: list[str] | None = None) -> int:
    """The command line (:data:`USAGE`); 0 on success, 2 with one line on a bad input."""

    from mbrl_control.cli.checks import int_at_least, out_file

    parser = ArgumentParser(
        prog="python -m mbrl_control.recording.recording_plot", description=USAGE
    )
    parser.add_argument("recording", help="an .mcap file (or a rosbag2 bag)")
    parser.add_argument("out", type=out_file, help="PNG file to write (always PNG)")
    parser.add_argument("--tube", action="store_true", help="the plan tube instead of signals")
    parser.add_argument(
        "--every", type=int_at_least(1), default=None,
        help="with --tube: draw every N-th step's plan (default: 10)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.every is not None and not args.tube:
        parser.error("--every: only with --tube (the signals plot draws every step)")
    args.every = 10 if args.every is None else args.every
    try:
        rec = read_recording(args.recording)
        png = plot_plan_tube(rec, every=args.every) if args.tube else plot_recording(rec)
    except ValueError as err:
        parser.exit(2, f"{parser.prog}: error: {err}\n")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_bytes(png)
    print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
