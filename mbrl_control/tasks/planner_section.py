"""The task file's ``planner`` section: the planner and model sizes this robot is run with.

Placeholder of the hook: the section must be empty until the generic-preset slice lands.
"""

from __future__ import annotations

from typing import Any

from mbrl_control.tasks import schema as s


def parse_planner(value: Any, task: Any) -> dict[str, Any]:
    """Validate the ``planner`` mapping of ``task``'s file; raises ``TaskFileError``."""
    return dict(s.keys(value, "planner"))
