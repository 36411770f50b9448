"""Import a rosbag2 recording of joint states and commands into a transition store.

Reads what ``ros2 bag record`` and other tools write, without a ROS install (the ``rosbags``
library): a bag **directory** (``metadata.yaml`` + storage files) with MCAP or sqlite3
storage, or a single ``.mcap`` / ``.db3`` file.

Topics are matched by their **last name component**, so namespaced recordings work
(``/robot1/joint_states``): ``joint_states`` (``sensor_msgs/msg/JointState``, several
publishers with some joints each are merged per joint), ``commands``
(``std_msgs/msg/Float64MultiArray``), optional ``goal`` (the goal at each episode's start:
``geometry_msgs/msg/PointStamped`` for a 3-value goal, else ``std_msgs/msg/Float64MultiArray``,
as ``mpc_controller`` takes it; a ``fixed`` goal needs none) and optional ``episode_start``
(``std_msgs/msg/Header``, published by ``sim_node`` at every reset, stamp = the new episode's
first state). When a bag holds the same name under several namespaces, pass ``namespace``
(e.g. ``/robot1``).

Time axis (one per bag, never switched): the states' header stamps, or — only when every
state's stamp is zero (an unstamped publisher) — their log times. A stamp of 0 among real
stamps (sim time not started) is just an early time: it never switches the clock. Commands and
goals have no usable header: each is placed by its log time relative to the last state logged
before it, ``t = stamp_i + (log - log_i)``, capped at the next state's stamp
(:class:`~mbrl_control.data.segments.CommandClock`). All messages are then sorted by that
time (an ``episode_start`` before the state it stamps, however late it was logged) and
segmented by the one rule of :mod:`mbrl_control.data.segments` (control grid, 1.5 period gap
tolerance, impossible jumps, resets).
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mbrl_control.data.csv_import import check_store_widths
from mbrl_control.data.goal_messages import goal_msg_type, goal_values
from mbrl_control.data.import_report import FileReport, count_drops, summary_line
from mbrl_control.data.segments import GAP_FACTOR, CommandClock, Segment, Segmenter, SegmentStats
from mbrl_control.data.store import TransitionStore

log = logging.getLogger(__name__)

TOPICS = {
    "joint_states": "sensor_msgs/msg/JointState",
    "commands": "std_msgs/msg/Float64MultiArray",
    "goal": "geometry_msgs/msg/PointStamped",
    "episode_start": "std_msgs/msg/Header",
}
"""Topic name (last component) -> message type read from a bag (``goal``: a 3-value goal's;
see :func:`topic_types`)."""


def topic_types(task: Any) -> dict[str, str]:
    """:data:`TOPICS` for ``task``: the ``goal`` topic's type follows the goal's size as on the
    live controller (``PointStamped`` for 3 values, ``Float64MultiArray`` otherwise)."""
    types = dict(TOPICS)
    if task.goal_dim:
        types["goal"] = goal_msg_type(task.goal_dim)
    return types


@dataclass
class ImportReport:
    """What an import kept and why it dropped the rest."""

    bag: str
    clock: str = "header"
    """``header`` (states' header stamps) or ``log`` (every stamp was zero)."""
    topics: dict[str, str] = field(default_factory=dict)
    """Role -> the bag topic read for it."""
    episode_ids: list[int] = field(default_factory=list)
    stats: SegmentStats = field(default_factory=SegmentStats)

    @property
    def episodes(self) -> int:
        return len(self.episode_ids)

    @property
    def transitions(self) -> int:
        return self.stats.transitions

    def file_report(self) -> FileReport:
        """This bag as one source of the importers' summary (drops in the summary's words,
        refused states by kind; a note with the time axis and the topics read)."""
        f = FileReport(self.bag, stats=self.stats, episode_ids=list(self.episode_ids))
        f.rows = self.stats.states + self.stats.commands
        count_drops(f, self.stats)
        topics = ", ".join(self.topics.values()) or "none"
        f.notes.append(f"time axis: {self.clock} stamps; topics: {topics}")
        return f

    def line(self) -> str:
        """``bag BAG: `` and the one summary line of every importer
        (:func:`~mbrl_control.data.import_report.summary_line`), as ``mbrl-control import``
        prints it; printed by ``mbrl-control finetune --bag``."""
        return f"bag {self.bag}: " + summary_line([self.file_report()], "bag", "messages")

    def as_dict(self) -> dict[str, Any]:
        return {
            "bag": self.bag,
            "clock": self.clock,
            "topics": dict(self.topics),
            "episodes": self.episodes,
            **self.stats.as_dict(),
        }


def _stamp(header: Any) -> float:
    return header.stamp.sec + header.stamp.nanosec * 1e-9


def _storage(bag: Path) -> str:
    """``mcap`` or ``sqlite3``: the bag's storage (the episode's ``source``)."""
    files = [bag] if bag.is_file() else list(bag.iterdir())
    return "mcap" if any(f.suffix == ".mcap" for f in files) else "sqlite3"


def _match_topics(
    topics: dict[str, str], bag: Path, namespace: str | None, expected: dict[str, str]
) -> dict[str, str]:
    """Role -> topic name, by last name component (within ``namespace`` if given); a topic
    whose type is not ``expected[role]`` is ignored with a warning."""
    ns = None if namespace is None else "/" + namespace.strip("/")
    found: dict[str, list[str]] = {role: [] for role in TOPICS}
    for topic in topics:
        head, _, last = topic.rpartition("/")
        if last in found and (ns is None or (head or "/") == ns or head == ns.rstrip("/")):
            found[last].append(topic)
    out: dict[str, str] = {}
    for role, names in found.items():
        if len(names) > 1:
            raise ValueError(
                f"bag {bag}: several topics end in {role!r}: {sorted(names)}; "
                "choose one with --namespace (e.g. /robot1)"
            )
        if names:
            if topics[names[0]] != expected[role]:
                log.warning(
                    "bag %s: topic %s has type %s, not %s: ignored",
                    bag,
                    names[0],
                    topics[names[0]],
                    expected[role],
                )
                continue
            out[role] = names[0]
    for role in ("joint_states", "commands"):
        if role not in out:
            raise ValueError(
                f"bag {bag}: no {TOPICS[role]} topic named '{role}'"
                f"{'' if ns is None else f' under {ns}'} (topics: {sorted(topics)})"
            )
    return out


def _read(
    path: Path, namespace: str | None, expected: dict[str, str]
) -> tuple[dict[str, str], list[tuple]]:
    """``(role -> topic, [(role, log_time_s, msg), ...] in log order)``."""
    from rosbags.highlevel import AnyReader
    from rosbags.typesys import Stores, get_typestore

    try:
        with AnyReader([path], default_typestore=get_typestore(Stores.ROS2_JAZZY)) as reader:
            types = {c.topic: c.msgtype for c in reader.connections}
            roles = _match_topics(types, path, namespace, expected)
            by_topic = {topic: role for role, topic in roles.items()}
            conns = [c for c in reader.connections if c.topic in by_topic]
            rows = [
                (by_topic[c.topic], ts * 1e-9, reader.deserialize(raw, c.msgtype))
                for c, ts, raw in reader.messages(connections=conns)
            ]
    except (ValueError, FileNotFoundError):
        raise
    except Exception as err:  # rosbags raises several error classes for unreadable bags
        raise ValueError(
            f"cannot read bag {path}: {type(err).__name__}: {err} (expected a rosbag2 "
            "directory or a .mcap/.db3 file)"
        ) from err
    rows.sort(key=lambda r: r[1])  # log order (the reader merges files by time already)
    return roles, rows


def import_bag(
    path: str | Path,
    task: Any,
    store: TransitionStore,
    *,
    namespace: str | None = None,
    gap_factor: float = GAP_FACTOR,
    log_summary: bool = True,
    extra_meta: dict[str, Any] | None = None,
    skip: Collection[int] = (),
    max_length: int | None = None,
) -> ImportReport:
    """Append the episodes found in the bag at ``path`` to ``store``.

    Args:
        path: a rosbag2 directory, or a ``.mcap`` / ``.db3`` file.
        task: a task or its name.
        store: where the episodes are appended.
        namespace: read ``<namespace>/joint_states`` etc. (default: any one namespace).
        gap_factor: the segmentation rule's jitter tolerance (control periods).
        log_summary: log the summary (a loud warning when nothing was kept); ``False`` when
            the caller reports ``report.line()`` itself.
        extra_meta: more keys for every episode's meta (``mbrl-control import`` records the
            bag's content hash ``sha256`` to detect a re-import).
        skip: indices (among the bag's episodes, ``file_episode`` in the meta) not to write
            (already in the store from an import cut short).
        max_length: cut episodes at this many transitions (the next starts at the last
            state: nothing is lost; ``None`` = no limit), as the live recorder does.
    Returns: the :class:`ImportReport` (its ``line()`` is the summary).
    Raises:
        ValueError: unreadable bag, missing or ambiguous topics, or commands of the wrong
            length for the task (the message names the bag); a store holding episodes of
            other widths (:func:`~mbrl_control.data.csv_import.check_store_widths`).
    """
    from mbrl_control.tasks import get_task

    task = get_task(task) if isinstance(task, str) else task
    check_store_widths(store, task)
    bag = Path(path)
    roles, rows = _read(bag, namespace, topic_types(task))
    report = ImportReport(bag=str(bag), topics=roles)
    states = [r for r in rows if r[0] == "joint_states"]
    report.clock = "header" if any(_stamp(m.header) != 0.0 for _, _, m in states) else "log"

    # ---- place everything on one time axis (log order), then sort by it ---------------
    clock = CommandClock()
    events: list[tuple[list, float, int, str, Any]] = []  # ([t], log, seq, role, msg)
    for seq, (role, t_log, msg) in enumerate(rows):
        if role == "joint_states":
            t = _stamp(msg.header) if report.clock == "header" else t_log
            clock.state(t, t_log)
            events.append(([t], t_log, seq, role, msg))
        elif role == "episode_start":
            t = _stamp(msg) if report.clock == "header" else t_log
            events.append(([t], t_log, seq, role, msg))
        else:
            events.append((clock.place(t_log), t_log, seq, role, msg))
    unplaced = [e for e in events if e[0][0] is None]
    events = [e for e in events if e[0][0] is not None]
    # at equal times a reset goes first: its stamp is the new episode's first state's
    events.sort(key=lambda e: (e[0][0], e[3] != "episode_start", e[1], e[2]))

    goals: list[tuple[float, np.ndarray]] = []
    segments: list[Segment] = []
    seg = Segmenter(task, segments.append, gap_factor=gap_factor, max_length=max_length)
    report.stats = seg.stats
    for cell, _, _, role, msg in events:
        t = cell[0]
        if role == "joint_states":
            seg.state(msg.name, msg.position, msg.velocity, t)
        elif role == "commands":
            seg.command(msg.data, t=t)
        elif role == "episode_start":
            seg.reset(t)
        else:
            value = goal_values(msg).astype(np.float32)
            if value.shape == (task.goal_dim,) and np.all(np.isfinite(value)):
                goals.append((t, value))
            else:
                report.stats.drop(
                    "bad_goal", f"goal {value.tolist()} is not {task.goal_dim} finite values"
                )
    seg.flush("end")
    if unplaced:
        report.stats.drop("no_state", "command or goal in a bag without states", len(unplaced))

    stats = report.stats
    if stats.commands and stats.dropped.get("bad_command", 0) == stats.commands:
        raise ValueError(f"bag {bag}: no usable command: {stats.examples['bad_command']}")

    goal_times = [g[0] for g in goals]
    fixed = getattr(task, "goal_fixed", None)  # a fixed goal needs no message
    default_goal = (
        np.zeros(task.goal_dim, np.float32) if fixed is None else np.asarray(fixed, np.float32)
    )
    for i, s in enumerate(segments):
        if i in skip:
            continue
        k = bisect.bisect_right(goal_times, s.t_start) - 1
        goal = goals[k][1] if k >= 0 else default_goal
        meta = {
            "task": task.name,
            "source": _storage(bag),
            "bag": str(bag),
            "clock": report.clock,
            "t_start": s.t_start,
            "t_end": s.t_end,
            "end": s.reason,
            "goal": goal.tolist(),
            "file_episode": i,
            "file_episodes": len(segments),
            **(extra_meta or {}),
        }
        report.episode_ids.append(store.append_episode(s.obs, s.action, meta))

    if log_summary and report.transitions:
        log.info("%s", report.line())
    elif log_summary:
        log.warning("KEPT NOTHING from %s", report.line())
    return report
