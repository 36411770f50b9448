"""Task-file values taken from the URDF when the task leaves them out.

With ``robot.urdf`` set, a task may omit:

- ``joints[i].type``: the URDF joint's type;
- ``joints[i].position_range``: the URDF's ``[lower, upper]`` (unbounded when it has none);
- ``joints[i].velocity_limit``: the URDF's ``velocity`` (unbounded when it has none);
- ``actions[i].low``/``high``: ``∓`` the URDF limit of the command interface for that joint
  (``effort``, ``velocity``, or the position range for ``position``);
- a link point's ``chain`` (:mod:`mbrl_control.tasks.urdf_kinematics`).

The URDF is read only when something is left out (:func:`needs_urdf`); then every joint the
task names must be a movable joint of it. The values are written into the task's mapping, so
the definition an exported file carries is complete without the URDF. Limits of ``0`` in the
URDF count as not given (:mod:`mbrl_control.tasks.urdf_model`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, MutableMapping
from typing import Any

from mbrl_control.tasks.schema import TaskFileError
from mbrl_control.tasks.urdf_model import UrdfTree

_INTERFACE_LIMIT = {"effort": "effort", "velocity": "velocity", "position": "position range"}


def _entries(value: Any) -> list[Mapping[str, Any]]:
    return [e for e in value if isinstance(e, Mapping)] if isinstance(value, list) else []


def needs_urdf(task: Mapping[str, Any]) -> bool:
    """Whether the task mapping leaves out something the URDF supplies (see module doc)."""
    for e in _entries(task.get("joints")):
        if "type" not in e or "velocity_limit" not in e:
            return True
        if "position_range" not in e and e.get("type") != "continuous":
            return True
    for e in _entries(task.get("actions")):
        if "low" not in e or "high" not in e:
            return True
    points = task.get("points")
    if isinstance(points, Mapping):
        for e in points.values():
            if isinstance(e, Mapping) and "link" in e and "chain" not in e:
                return True
    return False


def urdf_joint_check(name: Any, where: str, tree: UrdfTree, urdf: str | None) -> None:
    """Refuse a joint name that is not a movable, non-mimic joint of the URDF, listing those
    (a mimic joint follows its parent: the task reads the parent)."""
    j = tree.joints.get(name) if isinstance(name, str) else None
    allowed = f"its movable joints: {list(tree.independent)}"
    if j is None:
        raise TaskFileError(f"{where}: the URDF {urdf} has no joint {name!r}; {allowed}")
    if not j.movable:
        raise TaskFileError(f"{where}: {name!r} is a {j.type} joint in the URDF {urdf}; {allowed}")
    if j.mimic is not None:
        raise TaskFileError(
            f"{where}: {name!r} is a mimic joint of {j.mimic.joint!r} in the URDF {urdf}: read "
            f"{j.mimic.joint!r} instead"
        )


def urdf_defaults(
    e: MutableMapping[str, Any], where: str, tree: UrdfTree, urdf: str | None
) -> None:
    """Fill ``type``/``position_range``/``velocity_limit`` of joint entry ``e`` from the URDF;
    refuse a joint the URDF lacks or whose kind (linear/angular) differs."""
    name = e["name"]
    urdf_joint_check(name, f"{where}.name", tree, urdf)
    j = tree.joints[name]
    if "type" not in e:
        e["type"] = j.type
    elif (e["type"] == "prismatic") != (j.type == "prismatic") and e["type"] in (
        "prismatic",
        "revolute",
        "continuous",
    ):
        raise TaskFileError(
            f"{where}.type={e['type']!r} but joint {name!r} is {j.type} in the URDF {urdf}"
        )
    if "position_range" not in e and e["type"] != "continuous":
        e["position_range"] = [j.lower, j.upper] if j.has_range else [-math.inf, math.inf]
    if "velocity_limit" not in e:
        e["velocity_limit"] = j.velocity if j.velocity is not None else math.inf


def action_defaults(
    e: MutableMapping[str, Any],
    where: str,
    joint: str,
    interface: str,
    tree: UrdfTree | None,
    urdf: str | None,
) -> None:
    """Fill ``low``/``high`` of action entry ``e`` (command joint ``joint``) from the URDF
    limit of ``interface``; one line saying which key to write when there is none."""
    missing = [k for k in ("low", "high") if k not in e]
    keys = " and ".join(f"{where}.{k}" for k in missing)
    if tree is None:
        raise TaskFileError(
            f"{where}: no {'/'.join(missing)}; write {keys} (or set robot.urdf to take the "
            f"{_INTERFACE_LIMIT[interface]} limit of {joint!r} from the URDF)"
        )
    j = tree.joints[joint]
    if interface == "position":
        bounds = (j.lower, j.upper) if j.has_range else None
    else:
        limit = j.effort if interface == "effort" else j.velocity
        bounds = None if limit is None else (-limit, limit)
    if bounds is None:
        raise TaskFileError(
            f"{where}: the URDF {urdf} gives no {_INTERFACE_LIMIT[interface]} limit for joint "
            f"{joint!r}; write {keys}"
        )
    for k, v in zip(("low", "high"), bounds):
        e.setdefault(k, v)
