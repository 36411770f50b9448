"""A task-file scaffold from a URDF: what ``mbrl-control init-task`` writes.

:func:`scaffold_task` returns YAML text (with comments saying what to edit) that
:func:`~mbrl_control.tasks.task_file.load_task_file` loads as written:

- joints: the URDF's movable joints that are not mimic joints, in file order (type left to the
  URDF); their validity ranges written with slack beyond the URDF's limits, as the built-in
  tasks do: ``position_range`` [lower - :data:`RANGE_SLACK`, upper + :data:`RANGE_SLACK`]
  (0.1 rad or m) and ``velocity_limit`` :data:`SPEED_FACTOR` (2) times the URDF's
  ``velocity``, so a simulator or encoder overshooting a hard stop a little is not refused
  as impossible (the URDF values are shown in comments; ``initial_state.clip_margin`` keeps
  initial states inside the URDF's limits);
- command interface: as asked, else ``effort`` when the URDF gives effort limits, else
  ``velocity`` when it gives velocity limits, else ``effort``; command joints: all, except
  for ``effort`` the joints without an effort limit when others have one (a passive
  ``effort="0"`` joint, as in an underactuated robot; named in a comment);
- actions: bounds from the URDF (written only where it has none: a placeholder to edit);
- a ``tip`` point on the last link of the longest chain (or the link asked for);
- observation: joint positions (cos/sin for continuous joints), velocities, the tip position;
- cost: ``joint_target`` on the joints observed as raw positions plus ``action_magnitude``, or
  ``link_height`` of the tip when every joint is continuous (pendulum-like); goal none;
  success and initial state placeholders.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import yaml

from mbrl_control.tasks.urdf_model import UrdfJoint, UrdfTree

INTERFACES = ("effort", "velocity", "position")
# The validity ranges' slack beyond the URDF limits (the built-ins' convention: the Panda's
# datasheet limits + 0.1 rad and twice its speed limits, the cart-pole's rail ends + 0.1 m).
# PyBullet's joints overshoot a hard stop pushed with full effort by a few hundredths of a rad
# and do not apply the URDF's speed limit at all; real encoders overshoot a little too.
RANGE_SLACK = 0.1  # rad (revolute) or m (prismatic), each side
SPEED_FACTOR = 2.0
_ACTION_SUFFIX = {"effort": "effort", "velocity": "vel", "position": "pos"}
_UNITS = {  # (interface, angular) -> unit
    ("effort", True): "N·m",
    ("effort", False): "N",
    ("velocity", True): "rad/s",
    ("velocity", False): "m/s",
    ("position", True): "rad",
    ("position", False): "m",
}


def identifier(text: str, fallback: str = "robot") -> str:
    """``text`` as a task-file identifier (letters, digits, ``_``; a letter first)."""
    out = re.sub(r"[^A-Za-z0-9_]+", "_", text).strip("_")
    if not out:
        return fallback
    return out if out[0].isalpha() else f"{fallback}_{out}"


def _flow(value: Any) -> str:
    """``value`` as one line of flow-style YAML."""
    text = yaml.safe_dump(value, default_flow_style=True, width=10_000, sort_keys=False).strip()
    return text.removesuffix("...").strip()  # a bare scalar ends its document


def _num(x: float) -> str:
    return f"{x:.6g}"


def _limit(j: UrdfJoint, interface: str) -> tuple[float, float] | None:
    if interface == "position":
        return (j.lower, j.upper) if j.has_range else None  # type: ignore[return-value]
    v = j.effort if interface == "effort" else j.velocity
    return None if v is None else (-v, v)


def guess_interface(tree: UrdfTree) -> str:
    """``effort`` if any joint has an effort limit, else ``velocity`` if any has a velocity
    limit, else ``effort``."""
    joints = [tree.joints[n] for n in tree.independent]
    if any(j.effort is not None for j in joints):
        return "effort"
    if any(j.velocity is not None for j in joints):
        return "velocity"
    return "effort"


def default_tip(tree: UrdfTree) -> str:
    """The last link of the longest chain: the leaf link with the most movable joints between
    it and the root (ties: more joints in all, then file order)."""
    parents = {j.parent for j in tree.joints.values()}
    leaves = [n for n in tree.links if n not in parents and n != tree.root]
    if not leaves:
        raise ValueError("the URDF has no link below its root")
    return max(leaves, key=lambda n: (tree.depth(n), len(tree.chain(n))))


def _reach(tree: UrdfTree, link: str) -> float:
    """An upper bound of the link's distance from the root (m): translations plus prismatic
    travel along its chain."""
    total = 0.0
    for j in tree.chain(link):
        total += float(np.linalg.norm(j.origin[:3, 3]))
        if j.type == "prismatic" and j.has_range:
            total += max(abs(j.lower), abs(j.upper))  # type: ignore[arg-type]
    return total


def _home(j: UrdfJoint) -> float:
    """0, or the middle of a range that excludes 0."""
    if j.lower is None or j.upper is None or j.lower <= 0.0 <= j.upper:
        return 0.0
    return (j.lower + j.upper) / 2


def _joint_entry(j: UrdfJoint) -> dict[str, Any]:
    """The joint's task entry: its name and validity ranges with slack (module doc)."""
    entry: dict[str, Any] = {"name": j.name}
    if j.has_range and j.type != "continuous":
        lo, hi = j.lower - RANGE_SLACK, j.upper + RANGE_SLACK  # type: ignore[operator]
        entry["position_range"] = [round(lo, 6), round(hi, 6)]
    if j.velocity is not None:
        entry["velocity_limit"] = round(SPEED_FACTOR * j.velocity, 6)
    return entry


def _joint_comment(j: UrdfJoint) -> str:
    unit = "m" if j.type == "prismatic" else "rad"
    parts = [j.type]
    if j.has_range:
        parts.append(f"range [{_num(j.lower)}, {_num(j.upper)}] {unit}")  # type: ignore[arg-type]
    elif j.type != "continuous":
        parts.append("no range")
    parts.append(f"velocity {_num(j.velocity)} {unit}/s" if j.velocity else "no velocity limit")
    return ", ".join(parts) + " (URDF)"


def scaffold_task(
    tree: UrdfTree,
    urdf_ref: str,
    name: str,
    *,
    interface: str | None = None,
    rate: float = 50.0,
    tip: str | None = None,
    xacro_args: Mapping[str, str] | None = None,
    source: str | None = None,
) -> str:
    """The scaffold's YAML text (see the module doc). ``urdf_ref`` is written as
    ``robot.urdf`` (relative to the task file); ``source`` names where the URDF came from
    (for the header). Raises ``ValueError`` (one line) for a URDF without movable joints, an
    unknown ``tip`` link or ``interface``."""
    joints = [tree.joints[n] for n in tree.independent]
    if not joints:
        raise ValueError(f"the URDF {source or urdf_ref} has no movable (non-mimic) joints")
    if interface is None:
        interface, how = guess_interface(tree), "guessed from the URDF's limits"
    elif interface not in INTERFACES:
        raise ValueError(f"interface={interface!r}; allowed: {list(INTERFACES)}")
    else:
        how = "as asked"
    if tip is None:
        tip = default_tip(tree)
    elif tip not in tree.links:
        raise ValueError(f"--tip {tip!r}: the URDF has no such link; links: {sorted(tree.links)}")
    if tree.depth(tip) == 0:
        raise ValueError(f"--tip {tip!r}: no movable joint between the root and it")
    commanded = joints
    if interface == "effort":  # effort="0" (or none) next to joints with efforts: passive
        commanded = [j for j in joints if j.effort is not None] or joints
    left_out = [j.name for j in joints if j not in commanded]
    names: list[str] = []
    for j in commanded:
        base = identifier(f"{j.name}_{_ACTION_SUFFIX[interface]}", "a")
        n, k = base, 2
        while n in names:
            n, k = f"{base}_{k}", k + 1
        names.append(n)
    # initial positions: 0, or the middle of a range that excludes 0
    mean = [_home(j) for j in joints]
    raw = [(j, m) for j, m in zip(joints, mean) if j.type == "prismatic" or j.has_range]

    out: list[str] = []
    add = out.append
    add(f"# Task file scaffold written by `mbrl-control init-task` from {source or urdf_ref}.")
    add("# Schema: docs/task_files.md. Lines marked EDIT need your decision; the rest is a start")
    add("# that loads as written. Values left out (joint types, action bounds) come from the")
    add("# URDF; write them to override.")
    add(f"name: {name}")
    add(f"description: {_flow(f'{tree.name or name} task (scaffold: edit the cost and success)')}")
    add("robot:")
    add(f"  urdf: {_flow(urdf_ref)}")
    if xacro_args:
        add(f"  xacro_args: {_flow(dict(xacro_args))}")
    add("  fixed_base: true  # EDIT: false for a free-floating base")
    add("  base_pose: {xyz: [0.0, 0.0, 0.0], rpy: [0.0, 0.0, 0.0]}  # m, rad: the root's pose")
    add("# The joints the task reads, in this order. A state outside a joint's position_range or")
    slack = f"+ {_num(RANGE_SLACK)} rad or m and x{_num(SPEED_FACTOR)}"
    add("# beyond its velocity_limit is refused as impossible (the controller holds the safe")
    add(f"# action): they are the URDF's limits {slack} (robots and the simulator overshoot")
    add("# a hard stop a little; the simulator does not cap speeds at the URDF's). EDIT: widen")
    add("# them if your robot goes further.")
    add("joints:")
    for j in joints:
        add(f"  - {_flow(_joint_entry(j))}  # {_joint_comment(j)}")
    for n in tree.movable:
        m = tree.joints[n].mimic
        if m is not None:
            add(
                f"  # {n!r} mimics {m.joint!r} (x{_num(m.multiplier)} + {_num(m.offset)}): not read"
            )
    add("command:")
    add(f"  interface: {interface}  # EDIT: effort | velocity | position ({how})")
    add(f"  joints: {_flow([j.name for j in commanded])}  # EDIT: your controller's joint order")
    if left_out:
        add(
            f"  # not commanded (no {interface} limit in the URDF: passive?): {', '.join(left_out)}"
        )
    add("actions:  # one per command joint, same order")
    for j, n in zip(commanded, names):
        unit = _UNITS[interface, j.type != "prismatic"]
        lim = _limit(j, interface)
        if lim is None:
            lo, hi = (-math.pi, math.pi) if interface == "position" else (-1.0, 1.0)
            entry = {"name": n, "low": lo, "high": hi}
            note = f"EDIT: the URDF gives no {interface} limit for {j.name!r}"
        else:
            entry = {"name": n}
            note = f"[{_num(lim[0])}, {_num(lim[1])}] {unit} from the URDF"
        add(f"  - {_flow(entry)}  # {note}")
    add(f"control_rate: {float(rate)!r}  # Hz")
    add(f"episode_steps: {max(1, round(10 * rate))}  # 10 s")
    add("points:")
    add(f"  tip: {_flow({'link': tip})}  # EDIT: the link that matters (offset: [x, y, z] m)")
    add(f"visualization: {_flow({'frame_id': tree.root, 'point': 'tip'})}  # ~/plan frame, tube")
    add("observation:")
    add("  - {feature: joint_positions}  # continuous joints as cos, sin")
    add("  - {feature: joint_velocities}")
    add("  - {feature: link_position, point: tip}")
    add("goal: {kind: none}  # or {kind: fixed, value: [..]}, {kind: box|topic, low: .., high: ..}")
    add("critics:  # the cost: EDIT (docs/task_files.md lists the critic library)")
    if raw:
        add("  # hold the joints observed as raw positions near the initial pose")
        entry = {
            "name": "home",
            "kind": "joint_target",
            "joints": [j.name for j, _ in raw],
            "target": [float(_num(m)) for _, m in raw],
            "weight": 1.0,
        }
        add(f"  - {_flow(entry)}")
    else:
        height = _reach(tree, tip)
        add(f"  # raise the tip towards its highest reach ({_num(height)} m above the root)")
        entry = {
            "name": "up",
            "kind": "link_height",
            "point": "tip",
            "target": float(_num(height)),
            "kernel": "squared",
            "weight": 1.0,
        }
        add(f"  - {_flow(entry)}")
    add("  - {name: action, kind: action_magnitude, weight: 0.01}")
    add("success: []  # EDIT: all must hold, e.g. - {kind: obs_above, name: tip_z, value: 1.0}")
    add("safe_action: zero  # published when anything is wrong")
    add("initial_state:  # EDIT: per joint mean + U(-uniform, uniform) + N(0, normal)")
    add(f"  position: {{mean: {_flow([float(_num(m)) for m in mean])}, normal: 0.05}}")
    add("  velocity: {normal: 0.0}")
    if any("position_range" in _joint_entry(j) for j in joints):
        add(f"  clip_margin: {RANGE_SLACK!r}  # draws stay inside the URDF's own limits")
    add("dr_profile: default")
    return "\n".join(out) + "\n"
