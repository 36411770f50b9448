"""The task file's ``csv_log`` section: how columns of a lab's CSV log map to the task.

Placeholder of the hook: the section must be empty until the CSV import slice lands.
"""

from __future__ import annotations

from typing import Any

from mbrl_control.tasks import schema as s


def parse_csv_log(value: Any, task: Any) -> dict[str, Any]:
    """Validate the ``csv_log`` mapping of ``task``'s file; raises ``TaskFileError``."""
    return dict(s.keys(value, "csv_log"))
