"""Task files: a robot task as YAML data, validated at load, built into a :class:`FileTask`.

``load_task_file(path)`` reads one file (schema in docs/task_files.md), checks every key
(unknown keys are refused with the allowed list; bad values name the key and what is
allowed; every error is one :class:`TaskFileError` line prefixed with the file name) and
returns a :class:`FileTask`, a :class:`~mbrl_control.tasks.base.Task` like the Python ones:
the same observation/action layout, bounds, critics (from :mod:`mbrl_control.tasks.critics`),
success, safe action and ROS mapping. It imports numpy and PyYAML only (torch on first cost).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from mbrl_control.tasks import schema as s
from mbrl_control.tasks.base import Critic, Task
from mbrl_control.tasks.camera_section import parse_camera
from mbrl_control.tasks.critics import Context, build_critic
from mbrl_control.tasks.csv_log_section import parse_csv_log
from mbrl_control.tasks.kinematics import FK_MODELS
from mbrl_control.tasks.layout import JOINT_TYPES, Features, JointSpec, ObsLayout, PointSpec
from mbrl_control.tasks.planner_section import parse_planner
from mbrl_control.tasks.schema import TaskFileError
from mbrl_control.tasks.simulation_section import parse_simulation
from mbrl_control.tasks.urdf_defaults import action_defaults, needs_urdf, urdf_defaults
from mbrl_control.tasks.urdf_kinematics import UrdfChain, base_matrix, build_chain
from mbrl_control.tasks.urdf_model import UrdfTree
from mbrl_control.tasks.visualization_section import VisualizationSpec, parse_visualization

BUILTIN_DIR = Path(__file__).resolve().parent / "builtin"
SUFFIX = ".task.yaml"
INTERFACES = ("effort", "velocity", "position")
GOAL_KINDS = ("none", "fixed", "box", "topic")
"""``goal.kind``: none (G = 0), fixed (always ``value``), box (episodes sample the box; the
robot takes any finite goal on its ``goal`` topic), topic (episodes sample the box; the robot
takes goals only from its ``goal`` topic and refuses those outside the box)."""
FEATURES = ("joint_positions", "joint_velocities", "link_position", "last_actions")
SUCCESS_KINDS = ("obs_above", "obs_below", "obs_abs_below", "goal_within")
# command unit by interface and joint kind (angular: revolute or continuous)
UNITS = {
    ("effort", False): "N",
    ("effort", True): "N·m",
    ("velocity", False): "m/s",
    ("velocity", True): "rad/s",
    ("position", False): "m",
    ("position", True): "rad",
}
TOP_REQUIRED = (
    "name",
    "joints",
    "command",
    "actions",
    "control_rate",
    "episode_steps",
    "observation",
    "critics",
)
TOP_OPTIONAL = (
    "description",
    "robot",
    "points",
    "goal",
    "success",
    "safe_action",
    "initial_state",
    "dr_profile",
    "cost",
    "simulation",
    "csv_log",
    "planner",
    "episode_success",
    "camera",
    "visualization",
)
EPISODE_SUCCESS = ("final", "reached")
COST_SOURCES = ("critics", "learned")
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when built with it: 10x faster
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def _identifier(value: Any, where: str) -> str:
    text = s.string(value, where)
    if not _NAME.match(text):
        raise TaskFileError(f"{where}={text!r}: use letters, digits and _ (a letter first)")
    return text


class FileTask(Task):
    """A :class:`Task` defined by a task file; build it with :func:`load_task_file`.

    Beyond the :class:`Task` contract it carries ``path`` (the file), ``definition`` (the
    parsed YAML mapping with the values taken from the URDF written in: complete without the
    URDF), ``urdf``/``xacro_args``/``fixed_base``/``base_pose`` (the robot;
    :func:`~mbrl_control.tasks.robot_description.load_robot_description` reads it),
    ``command_interface``, ``dr_profile`` and :meth:`sample_initial_state`. Values a file
    leaves out come from the URDF (:mod:`mbrl_control.tasks.urdf_defaults`).
    """

    def __init__(self, data: Any, path: Path) -> None:
        self.path = path
        # the task as loaded: values taken from the URDF are written into this copy, so the
        # definition that travels in exported files is complete without the URDF
        self.definition = data = copy.deepcopy(data)
        m = s.keys(data, "task file", TOP_REQUIRED, TOP_OPTIONAL)
        self.name = _identifier(m["name"], "name")
        self.description = str(m.get("description", ""))
        self._parse_robot(m.get("robot", {}))
        self._urdf_tree = self._read_urdf_if_needed(m)
        self._parse_joints(m["joints"])
        self._parse_command(m["command"], m["actions"])
        self.control_hz = s.number(m["control_rate"], "control_rate", low=0.0, strict_low=True)
        self.episode_steps = s.integer(m["episode_steps"], "episode_steps")
        self._parse_points(m.get("points", {}))
        self._parse_observation(m["observation"])
        self._parse_goal(m.get("goal", {"kind": "none"}))
        ctx = Context(
            self._layout,
            tuple(self.action_high),
            self.goal_dim,
            urdf_tree=self._urdf_tree,
            urdf_text=self._urdf_text,
            urdf=self.urdf,
            base=self._base,
            action_low=tuple(self.action_low),
        )
        entries = s.seq(m["critics"], "critics")
        if not entries:
            raise TaskFileError("critics: need at least one critic")
        self._critics = tuple(build_critic(c, f"critics[{i}]", ctx) for i, c in enumerate(entries))
        for i, c in enumerate(self._critics):
            _identifier(c.name, f"critics[{i}].name")
        s.names([c.name for c in self._critics], "critics[*].name")
        self._parse_success(m.get("success", []))
        self.episode_success = s.choice(
            m.get("episode_success", "final"), "episode_success", EPISODE_SUCCESS
        )
        self._parse_safe_action(m.get("safe_action", "zero"))
        self._parse_initial_state(m.get("initial_state", {}))
        self.dr_profile = s.string(m.get("dr_profile", "default"), "dr_profile")
        self.cost_source = s.choice(m.get("cost", "critics"), "cost", COST_SOURCES)
        # sections with their own schema module (each validates its keys, errors name them)
        self.simulation = parse_simulation(m.get("simulation", {}), self)
        self.csv_log = parse_csv_log(m.get("csv_log", {}), self)
        self.planner = parse_planner(m.get("planner", {}), self)
        self.camera = parse_camera(m.get("camera", {}))  # pixel observations
        self.visualization = self._parse_visualization(m.get("visualization", {}))

    # ---- sections ------------------------------------------------------------------------
    def _parse_visualization(self, value: Any) -> VisualizationSpec:
        """The plan view; a default point the observation cannot give is dropped (no
        markers), a named one is an error naming the missing joint."""
        spec = parse_visualization(value, self._layout.points)
        if spec.point is None:
            return spec
        try:
            self._layout.need_point(spec.point, "visualization.point")
        except TaskFileError:
            if "point" in (value or {}):
                raise
            return VisualizationSpec(spec.frame_id, None)
        return spec

    def plan_joint_positions(self, states: np.ndarray) -> tuple[list[str], np.ndarray, np.ndarray]:
        """The observed joints' names, positions ``(..., J)`` (m or rad) of predicted states
        ``(..., P)`` (the planner graph's ``plan_states`` rows; numpy only) and which of them
        are angles read as ``atan2(sin, cos)`` ``(J,)`` bool (wrapped into (-pi, pi])."""
        names = self._layout.observed_joints()
        wrapped = np.array([j in self._layout.cos for j in names], bool)
        return names, self._layout.numpy_joint_positions(states), wrapped

    def plan_point(self, state: np.ndarray) -> np.ndarray | None:
        """``visualization.point`` ``(3,)`` (m, ``visualization.frame_id``) of one state, or
        None when the task draws no point."""
        points = self.plan_points(np.asarray(state)[None])
        return None if points is None else points[0]

    def plan_points(self, states: np.ndarray) -> np.ndarray | None:
        """``visualization.point`` ``(N, 3)`` of states ``(N, P)`` (None: no point)."""
        point = self.visualization.point
        return None if point is None else self._layout.numpy_points(point, states)

    def _parse_robot(self, value: Any) -> None:
        m = s.keys(value, "robot", (), ("urdf", "xacro_args", "fixed_base", "base_pose"))
        self.urdf = s.string(m["urdf"], "robot.urdf") if "urdf" in m else None
        self.xacro_args: dict[str, str] = {}
        for k, v in s.mapping(m.get("xacro_args", {}), "robot.xacro_args").items():
            if isinstance(v, (dict, list)) or v is None:
                raise TaskFileError(
                    f"robot.xacro_args.{k}: expected a string, number or boolean, got {v!r}"
                )
            self.xacro_args[str(k)] = str(v).lower() if isinstance(v, bool) else str(v)
        if self.xacro_args and (self.urdf is None or not self.urdf.endswith(".xacro")):
            raise TaskFileError("robot.xacro_args: only for a robot.urdf ending in .xacro")
        self.fixed_base = m.get("fixed_base", True)
        if not isinstance(self.fixed_base, bool):
            raise TaskFileError(f"robot.fixed_base={self.fixed_base!r}; allowed: [true, false]")
        pose = s.keys(m.get("base_pose", {}), "robot.base_pose", (), ("xyz", "rpy"))
        self.base_pose = (
            tuple(s.numbers(pose.get("xyz", [0.0] * 3), "robot.base_pose.xyz", 3)),
            tuple(s.numbers(pose.get("rpy", [0.0] * 3), "robot.base_pose.rpy", 3)),
        )
        zero = self.base_pose == ((0.0,) * 3, (0.0,) * 3)
        self._base = None if zero else base_matrix(self.base_pose)

    def _read_urdf_if_needed(self, m: Mapping[str, Any]) -> UrdfTree | None:
        """The URDF's checked tree when ``robot.urdf`` is set and the task leaves something for
        it to supply (:func:`~mbrl_control.tasks.urdf_defaults.needs_urdf`, or a
        ``mechanical_energy`` critic without its ``links``), else None; sets ``_urdf_text``."""
        self._urdf_text: str | None = None
        if self.urdf is None or not (needs_urdf(m) or _critics_need_urdf(m)):
            return None
        from mbrl_control.tasks.robot_description import load_robot_description

        description = load_robot_description(self)
        self._urdf_text = description.urdf_text
        return description.tree

    def _parse_joints(self, value: Any) -> None:
        specs: dict[str, JointSpec] = {}
        entries = s.seq(value, "joints")
        if not entries:
            raise TaskFileError("joints: need at least one joint")
        tree = self._urdf_tree
        for i, e in enumerate(entries):
            w = f"joints[{i}]"
            required = ("name",) if tree is not None else ("name", "type")
            m = s.keys(e, w, required, ("type", "position_range", "velocity_limit"))
            name = s.string(m["name"], f"{w}.name")
            if name in specs:
                raise TaskFileError(f"{w}.name: duplicate joint {name!r}")
            if tree is not None:
                urdf_defaults(e, w, tree, self.urdf)
            kind = s.choice(m["type"], f"{w}.type", JOINT_TYPES)
            if kind == "continuous" and "position_range" in m:
                raise TaskFileError(f"{w}.position_range: a continuous joint has no range")
            lo, hi = s.numbers(
                m.get("position_range", [-np.inf, np.inf]), f"{w}.position_range", 2, finite=False
            )
            if not lo < hi:
                raise TaskFileError(f"{w}.position_range: need low < high, got [{lo}, {hi}]")
            vel = s.number(
                m.get("velocity_limit", np.inf),
                f"{w}.velocity_limit",
                0.0,
                strict_low=True,
                finite=False,
            )
            specs[name] = JointSpec(name, kind, (lo, hi), vel)
        self._joints = specs
        self.joint_names = tuple(specs)
        self.position_limits = tuple(j.position_range for j in specs.values())
        self.velocity_limits = tuple(j.velocity_limit for j in specs.values())

    def _parse_command(self, command: Any, actions: Any) -> None:
        m = s.keys(command, "command", ("interface", "joints"))
        self.command_interface = s.choice(m["interface"], "command.interface", INTERFACES)
        self.command_joints = tuple(s.names(m["joints"], "command.joints", self.joint_names))
        entries = s.seq(actions, "actions", len(self.command_joints))
        names, units, low, high = [], [], [], []
        for i, (e, joint) in enumerate(zip(entries, self.command_joints)):
            w = f"actions[{i}]"
            a = s.keys(e, w, ("name",), ("low", "high", "unit"))
            names.append(_identifier(a["name"], f"{w}.name"))
            if "low" not in a or "high" not in a:
                action_defaults(e, w, joint, self.command_interface, self._urdf_tree, self.urdf)
            unit = UNITS[self.command_interface, self._joints[joint].angular]
            units.append(s.choice(a.get("unit", unit), f"{w}.unit", [unit]))
            low.append(s.number(a["low"], f"{w}.low"))
            high.append(s.number(a["high"], f"{w}.high"))
            if not low[-1] < high[-1]:
                raise TaskFileError(f"{w}: need low < high, got [{low[-1]}, {high[-1]}]")
        s.names(names, "actions[*].name")
        self.action_names, self.action_units = tuple(names), tuple(units)
        self.action_low, self.action_high = tuple(low), tuple(high)

    def _parse_points(self, value: Any) -> None:
        points: dict[str, PointSpec] = {}
        for name, e in s.mapping(value, "points").items():
            w = f"points.{name}"
            _identifier(name, w)
            if "link" in s.mapping(e, w):
                points[name] = self._link_point(name, e, w)
                continue
            if "fk" not in e:
                raise TaskFileError(
                    f"{w}: give link (a URDF link, with robot.urdf) or fk (one of "
                    f"{sorted(FK_MODELS)})"
                )
            fk_name = s.choice(s.mapping(e, w).get("fk"), f"{w}.fk", sorted(FK_MODELS))
            fk = FK_MODELS[fk_name]
            m = s.keys(
                e,
                w,
                ("fk", "joints", *(k for k, d in fk.params.items() if d is None)),
                tuple(fk.params),
            )
            joints = s.names(m["joints"], f"{w}.joints", self.joint_names)
            if len(joints) != len(fk.joint_types):
                raise TaskFileError(
                    f"{w}.joints: {fk_name} needs {len(fk.joint_types)} joints "
                    f"({', '.join(fk.joint_types)}), got {len(joints)}"
                )
            for j, kind in zip(joints, fk.joint_types):
                if (kind == "prismatic") == self._joints[j].angular:
                    raise TaskFileError(f"{w}.joints: {fk_name} needs {j!r} to be {kind}")
            params = {k: s.number(m.get(k, d), f"{w}.{k}") for k, d in fk.params.items()}
            points[name] = PointSpec(name, fk_name, tuple(joints), params, fk.joint_types)
        self._layout = ObsLayout(joints=self._joints, points=points)

    def _link_point(self, name: str, e: Any, w: str) -> PointSpec:
        """``{link, offset, chain}``: a point on a URDF link (chain from the URDF, or as
        written into the definition at an earlier load)."""
        m = s.keys(e, w, ("link",), ("offset", "chain"))
        link = s.string(m["link"], f"{w}.link")
        offset = s.numbers(m.get("offset", [0.0, 0.0, 0.0]), f"{w}.offset", 3)
        if "chain" in m:
            chain = UrdfChain.from_data(m["chain"], link, offset, f"{w}.chain", self.joint_names)
        elif self._urdf_tree is None:
            raise TaskFileError(f"{w}.link: a link point needs robot.urdf")
        else:
            chain = build_chain(self._urdf_tree, link, offset, self._joints, w, self.urdf)
            e["chain"] = chain.to_data()
        kinds = tuple(
            "prismatic" if self._joints[j].type == "prismatic" else "revolute" for j in chain.joints
        )
        return PointSpec(name, "urdf", chain.joints, {}, kinds, chain, self._base)

    def _parse_observation(self, value: Any) -> None:
        lay = self._layout
        entries = s.seq(value, "observation")
        if not entries:
            raise TaskFileError("observation: need at least one feature")
        for i, e in enumerate(entries):
            w = f"observation[{i}]"
            kind = s.choice(s.mapping(e, w).get("feature"), f"{w}.feature", FEATURES)
            if lay.history_steps:
                raise TaskFileError(
                    f"{w}: last_actions appears twice (one block of k steps)"
                    if kind == "last_actions"
                    else f"{w}: last_actions must be the last observation feature (it ends "
                    "the observation vector)"
                )
            if kind == "last_actions":
                m = s.keys(e, w, ("feature", "steps"), ("names",))
                steps = s.integer(m["steps"], f"{w}.steps")
                if steps >= self.episode_steps:
                    raise TaskFileError(
                        f"{w}.steps={steps} must be below episode_steps ({self.episode_steps}): "
                        "recorded data drop the first k states of every stretch"
                    )
                default = [f"{a}_prev{i}" for i in range(1, steps + 1) for a in self.action_names]
                got = self._obs_names(m, w, default)
                lay.history_at, lay.history_steps = len(lay.names), steps
                lay.names.extend(got)
                continue
            if kind == "link_position":
                m = s.keys(e, w, ("feature", "point"), ("names",))
                point = m["point"]
                if point not in lay.points:
                    raise TaskFileError(
                        f"{w}.point={point!r}; allowed (points): {sorted(lay.points)}"
                    )
                default = [f"{point}_{c}" for c in "xyz"]
                got = self._obs_names(m, w, default)
                lay.add("point", point, got, w)
                continue
            m = s.keys(e, w, ("feature",), ("joints", "names"))
            joints = s.names(
                m.get("joints", list(self.joint_names)), f"{w}.joints", self.joint_names
            )
            default = []
            for j in joints:
                if kind == "joint_velocities":
                    default.append(f"{j}_dot")
                elif self._joints[j].encoded:
                    default += [f"cos_{j}", f"sin_{j}"]
                else:
                    default.append(j)
            got = self._obs_names(m, w, default)
            k = 0
            for j in joints:
                n = 2 if kind == "joint_positions" and self._joints[j].encoded else 1
                lay.add("pos" if kind == "joint_positions" else "vel", j, got[k : k + n], w)
                k += n
        s.names(lay.names, "observation (names)")
        self.obs_names = tuple(lay.names)
        self.action_history = lay.history_steps
        col = {n: i for i, n in enumerate(self.joint_names)}
        self._obs_plan: list[tuple[str, Any]] = []  # what obs_from_joints appends, in order
        for kind, key in lay.blocks:
            if kind == "point":
                p = lay.points[key]
                self._obs_plan.append(("point", (p, [col[j] for j in p.joints])))
            elif kind == "pos" and self._joints[key].encoded:
                self._obs_plan.append(("angle", col[key]))
            else:
                self._obs_plan.append((kind, col[key]))

    @staticmethod
    def _obs_names(m: Mapping[str, Any], w: str, default: list[str]) -> list[str]:
        if "names" not in m:
            return default
        got = s.names(m["names"], f"{w}.names")
        if len(got) != len(default):
            raise TaskFileError(
                f"{w}.names: {len(default)} entries needed ({', '.join(default)}), got {len(got)}"
            )
        return got

    def _parse_goal(self, value: Any) -> None:
        """``goal`` -> ``goal_kind`` (one of :data:`GOAL_KINDS`), ``goal_dim`` G,
        ``goal_fixed`` (``(G,)`` float32 for ``fixed``, else None) and ``goal_box``
        (``(low (G,), high (G,))`` float64 as written, for ``box`` and ``topic``, else None): the
        simulator samples from them, the controller takes goals by them
        (:mod:`mbrl_control.control.goal`)."""
        kind = s.choice(s.mapping(value, "goal").get("kind"), "goal.kind", GOAL_KINDS)
        self.goal_fixed: np.ndarray | None = None
        self.goal_box: tuple[np.ndarray, np.ndarray] | None = None
        if kind == "none":
            s.keys(value, "goal", ("kind",))
            self.goal_dim = 0
        elif kind == "fixed":
            m = s.keys(value, "goal", ("kind", "value"))
            self.goal_fixed = np.asarray(s.numbers(m["value"], "goal.value"), np.float32)
            self.goal_dim = len(self.goal_fixed)
        else:  # box, topic
            m = s.keys(value, "goal", ("kind", "low", "high"))
            low = s.numbers(m["low"], "goal.low")
            high = s.numbers(m["high"], "goal.high", len(low))
            if not all(lo <= hi for lo, hi in zip(low, high)):
                raise TaskFileError(f"goal: need low <= high per entry, got {low} and {high}")
            self.goal_box = (np.asarray(low, np.float64), np.asarray(high, np.float64))
            self.goal_dim = len(low)
        if kind != "none" and not self.goal_dim:
            raise TaskFileError(f"goal: kind {kind} needs at least one value (or kind: none)")
        self.goal_kind = kind

    def _parse_success(self, value: Any) -> None:
        conds: list[tuple[str, int, float]] = []
        index = {n: i for i, n in enumerate(self.obs_names)}
        for i, e in enumerate(s.seq(value, "success")):
            w = f"success[{i}]"
            kind = s.choice(s.mapping(e, w).get("kind"), f"{w}.kind", SUCCESS_KINDS)
            if kind == "goal_within":
                m = s.keys(e, w, ("kind", "point", "radius"))
                if m["point"] not in self._layout.point_at:
                    raise TaskFileError(
                        f"{w}.point={m['point']!r}; allowed (observed points): "
                        f"{sorted(self._layout.point_at)}"
                    )
                if self.goal_dim != 3:
                    raise TaskFileError(
                        f"{w}: goal_within needs a 3-d goal, the task's has {self.goal_dim}"
                    )
                radius = s.number(m["radius"], f"{w}.radius", low=0.0, strict_low=True)
                conds.append((kind, self._layout.point_at[m["point"]], radius))
            else:
                m = s.keys(e, w, ("kind", "name", "value"))
                name = s.choice(m["name"], f"{w}.name", self.obs_names)
                conds.append((kind, index[name], s.number(m["value"], f"{w}.value")))
        self._success = conds

    def _parse_safe_action(self, value: Any) -> None:
        if value == "zero":
            self._safe = np.clip(np.zeros(self.act_dim, np.float32), self.low, self.high)
            return
        if isinstance(value, str):
            raise TaskFileError(
                f"safe_action={value!r}; allowed: 'zero' or a list of {self.act_dim} numbers"
            )
        safe = np.asarray(s.numbers(value, "safe_action", self.act_dim), np.float32)
        if (safe < self.low).any() or (safe > self.high).any():
            raise TaskFileError(f"safe_action={safe.tolist()} outside the action bounds")
        self._safe = safe

    def _parse_initial_state(self, value: Any) -> None:
        m = s.keys(value, "initial_state", (), ("position", "velocity", "clip_margin"))
        n = len(self.joint_names)
        self._init = {}
        for part in ("position", "velocity"):
            w = f"initial_state.{part}"
            d = s.keys(m.get(part, {}), w, (), ("mean", "uniform", "normal"))
            self._init[part] = tuple(
                np.asarray(s.numbers(d.get(k, 0.0), f"{w}.{k}", n, **kw), np.float64)
                for k, kw in (("mean", {}), ("uniform", {"low": 0.0}), ("normal", {"low": 0.0}))
            )
        self._clip_margin = s.number(
            m.get("clip_margin", 0.0), "initial_state.clip_margin", low=0.0
        )

    # ---- Task contract -------------------------------------------------------------------
    def metadata(self) -> dict[str, Any]:
        """:meth:`Task.metadata` plus ``definition`` (the whole task, JSON-safe; rebuilt by
        :func:`~mbrl_control.tasks.portable.task_from_metadata`) and ``source`` (this file's
        path, provenance only)."""
        from mbrl_control.tasks.portable import encode_definition

        return {
            **super().metadata(),
            "definition": encode_definition(self.definition),
            "source": str(self.path),
        }

    @property
    def critics(self) -> tuple[Critic, ...]:
        return self._critics

    @property
    def layout(self) -> ObsLayout:
        """Where each joint's position and velocity and each point sit in the observation
        (:class:`~mbrl_control.tasks.layout.ObsLayout`): for code that reads joint states out
        of observations (the simulator oracle, the exploration guard)."""
        return self._layout

    def features(self, obs, action, next_obs, goal) -> Features:  # type: ignore[override]
        """Lazy features of the transition; see :class:`~mbrl_control.tasks.layout.Features`."""
        return Features(self._layout, obs=obs, action=action, next_obs=next_obs, goal=goal)

    @property
    def safe_action(self) -> np.ndarray:
        return self._safe.copy()

    def obs_from_joints(
        self, position: np.ndarray, velocity: np.ndarray, past_actions: np.ndarray | None = None
    ) -> np.ndarray:
        """Observation ``(O,)`` float32 from positions/velocities ``(J,)`` in ``joint_names``
        order: raw positions, cos/sin of unbounded angles, velocities, FK points, and the
        ``last_actions`` block from ``past_actions`` (``(k, A)`` or ``(k·A,)``, newest first;
        None: the safe action for each). ``ValueError`` when ``past_actions`` has another size."""
        q = np.asarray(position, np.float64)
        v = np.asarray(velocity, np.float64)
        parts: list[np.ndarray] = []
        for kind, arg in self._obs_plan:
            if kind == "angle":
                parts.append(np.array([np.cos(q[arg]), np.sin(q[arg])]))
            elif kind == "pos":
                parts.append(q[arg : arg + 1])
            elif kind == "vel":
                parts.append(v[arg : arg + 1])
            else:
                point, cols = arg
                parts.append(point.numpy_point(q[cols]))
        if self.action_history:
            parts.append(self._history_block(past_actions))
        return np.concatenate(parts).astype(np.float32)

    def _history_block(self, past_actions: np.ndarray | None) -> np.ndarray:
        """The ``last_actions`` block ``(k·A,)`` from ``past_actions`` (None: safe action)."""
        if past_actions is None:
            return np.tile(self._safe, self.action_history)
        block = np.asarray(past_actions, np.float32).reshape(-1)
        if block.shape != (self.history_dim,):
            raise ValueError(
                f"task {self.name!r}: past_actions must hold the last {self.action_history} "
                f"actions ({self.history_dim} values), got shape {np.shape(past_actions)}"
            )
        return block

    def is_success(self, obs: np.ndarray, goal: np.ndarray | None = None) -> bool:
        """All ``success`` conditions hold for ``obs (O,)`` (no conditions: never)."""
        if not self._success:
            return False
        for kind, i, value in self._success:
            if kind == "goal_within":
                if goal is None:
                    raise ValueError(f"{self.name}.is_success needs the goal ({self.goal_dim},)")
                ok = np.linalg.norm(np.asarray(obs[i : i + 3]) - goal) < value
            elif kind == "obs_above":
                ok = obs[i] > value
            elif kind == "obs_below":
                ok = obs[i] < value
            else:
                ok = abs(obs[i]) < value
            if not ok:
                return False
        return True

    def sample_goal(self, rng: np.random.Generator) -> np.ndarray:
        """A goal ``(G,)`` float32 for a simulated episode: empty (``none``), the value
        (``fixed``), or uniform in the box (``box`` and ``topic``: the robot's goals come from
        its topic, training and evaluation draw them from the box)."""
        if self.goal_box is not None:
            low, high = self.goal_box
            return rng.uniform(low, high).astype(np.float32)
        if self.goal_fixed is not None:
            return self.goal_fixed.copy()
        return np.zeros(0, np.float32)

    def sample_initial_state(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Joint positions and velocities ``(J,)`` float64 for a new episode: per joint
        ``mean + U(-uniform, uniform) + N(0, normal)``; positions clipped to the physical range
        shrunk by ``clip_margin`` where that range is finite.

        Draw order (fixed, so a seed gives the same state on every machine): positions then
        velocities; in each, the uniform terms then the normal terms, drawing only for the
        joints whose width is non-zero. A joint without spread takes nothing from ``rng``.
        """
        out = []
        for part in ("position", "velocity"):
            mean, half, std = self._init[part]
            x = mean.copy()
            for width, uniform in ((half, True), (std, False)):
                spread = width > 0
                if spread.any():
                    w = width[spread]
                    x[spread] = x[spread] + (rng.uniform(-w, w) if uniform else rng.normal(0.0, w))
            out.append(x)
        lo, hi, _ = self.joint_ranges
        q = np.clip(out[0], lo + self._clip_margin, hi - self._clip_margin)
        return q, out[1]

    @property
    def urdf_path(self) -> Path:
        """The robot's URDF (or ``.xacro``): relative to the task file, absolute, or
        ``package://<package>/<path>`` (a ROS package on ``ROS_PACKAGE_PATH``/
        ``AMENT_PREFIX_PATH``, a Python package, or a directory of that name among the task
        file's ancestors); raises ``FileNotFoundError`` naming it when absent."""
        from mbrl_control.tasks.urdf_resolve import LOOKED_IN, resolve_uri

        if self.urdf is None:
            raise FileNotFoundError(f"{self.path}: robot.urdf is not set")
        path = resolve_uri(self.urdf, self.path.parent, near=self.path)
        if path is None:
            pkg = self.urdf[len("package://") :].split("/", 1)[0]
            raise FileNotFoundError(
                f"{self.path}: robot.urdf: no package {pkg!r} for {self.urdf} (looked in "
                f"{LOOKED_IN})"
            )
        if not path.is_file():
            raise FileNotFoundError(f"{self.path}: robot.urdf: no such file {path}")
        return path


def _critics_need_urdf(task: Mapping[str, Any]) -> bool:
    """Whether a ``mechanical_energy`` critic still needs the URDF (no ``links`` written)."""
    critics = task.get("critics")
    return isinstance(critics, list) and any(
        isinstance(c, Mapping) and c.get("kind") == "mechanical_energy" and "links" not in c
        for c in critics
    )


def load_task_file(path: str | Path) -> FileTask:
    """Read and validate a task file; see docs/task_files.md.

    Raises: ``FileNotFoundError`` (no such file), :class:`TaskFileError` (a ``ValueError``:
    YAML syntax or a bad key/value, one line naming the file and key).
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(
            f"task file not found: {p}" + (" (a directory)" if p.is_dir() else "")
        )
    try:
        data = yaml.load(p.read_text(), Loader=_LOADER)
    except yaml.YAMLError as e:
        where = getattr(e, "problem_mark", None)
        line = f" line {where.line + 1}" if where is not None else ""
        raise TaskFileError(f"{p}:{line} not valid YAML: {getattr(e, 'problem', e)}") from None
    try:
        return FileTask(data, p.resolve())
    except TaskFileError as e:
        raise TaskFileError(f"{p}: {e}") from None


def builtin_task_files() -> dict[str, Path]:
    """Built-in task name -> its shipped task file."""
    return {f.name[: -len(SUFFIX)]: f for f in sorted(BUILTIN_DIR.glob(f"*{SUFFIX}"))}


def load_builtin(name: str) -> FileTask:
    """A fresh built-in task from its shipped file; unknown names list the allowed ones."""
    files = builtin_task_files()
    if name not in files:
        raise ValueError(f"unknown built-in task {name!r}; allowed: {sorted(files)}")
    return load_task_file(files[name])


def is_task_path(text: str | Path) -> bool:
    """Whether ``text`` names a file rather than a built-in task (a ``.yaml``/``.yml`` suffix or
    a path separator)."""
    t = str(text)
    return t.endswith((".yaml", ".yml")) or "/" in t or "\\" in t


__all__: Sequence[str] = (
    "FileTask",
    "TaskFileError",
    "builtin_task_files",
    "load_builtin",
    "load_task_file",
)
