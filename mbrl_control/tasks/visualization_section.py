"""The task file's ``visualization`` section: how the controller shows its plan (issue 19).

Every key is optional:

- ``frame_id`` (string): the robot's base frame, the ``header.frame_id`` of ``~/plan``
  (``trajectory_msgs/JointTrajectory``) and ``~/plan_markers``
  (``visualization_msgs/MarkerArray``); the frame the task's points are expressed in (the
  URDF's root link for a URDF point). Default ``base_link`` (REP 105).
- ``point`` (a name from ``points:``): the point whose predicted path each ensemble member
  draws (the plan tube), e.g. the pole tip or the end effector. Default: the first entry of
  ``points:``; a task without points draws no markers (the trajectory is still published).

No I/O here: validated at load (errors name the key and what is allowed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mbrl_control.tasks import schema as s

KEYS = ("frame_id", "point")
DEFAULT_FRAME = "base_link"


@dataclass(frozen=True)
class VisualizationSpec:
    """The validated ``visualization`` section (defaults where a key is absent)."""

    frame_id: str = DEFAULT_FRAME
    """The robot's base frame (plan messages' ``header.frame_id``)."""
    point: str | None = None
    """The point drawn per member (None: no markers)."""


def parse_visualization(value: Any, points: Any) -> VisualizationSpec:
    """The section from the task file's ``visualization`` value; ``points`` is the task's
    ``{name: PointSpec}`` (the layout's). ``TaskFileError`` naming the key."""
    m = s.keys(value, "visualization", (), KEYS)
    frame_id = s.string(m.get("frame_id", DEFAULT_FRAME), "visualization.frame_id")
    if not frame_id or frame_id.startswith("/") or any(c.isspace() for c in frame_id):
        raise s.TaskFileError(
            f"visualization.frame_id={frame_id!r}: a tf2 frame name (no leading '/', no spaces)"
        )
    names = list(points)
    if "point" in m:
        point = s.string(m["point"], "visualization.point")
        if point not in points:
            raise s.TaskFileError(f"visualization.point={point!r}; allowed (points): {names}")
    else:
        point = names[0] if names else None
    return VisualizationSpec(frame_id, point)
