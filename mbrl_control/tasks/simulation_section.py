"""The task file's ``simulation`` section: how ``mbrl_sim`` builds and drives the robot.

Placeholder of the hook: the section must be empty until the simulator slice lands.
"""

from __future__ import annotations

from typing import Any

from mbrl_control.tasks import schema as s


def parse_simulation(value: Any, task: Any) -> dict[str, Any]:
    """Validate the ``simulation`` mapping of ``task``'s file; raises ``TaskFileError``."""
    return dict(s.keys(value, "simulation"))
