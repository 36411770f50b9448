"""Former MCAP-only importer; kept as an alias of :mod:`mbrl_control.data.bag_import`.

``import_bag(path, task, store)`` reads any rosbag2 bag (directory or ``.mcap``/``.db3``
file) with the one segmentation rule and returns the number of episodes written; use
:func:`mbrl_control.data.bag_import.import_bag` for the full :class:`ImportReport`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mbrl_control.data import bag_import
from mbrl_control.data.store import TransitionStore


def import_bag(path: str | Path, task: Any, store: TransitionStore) -> int:
    """Append the episodes found in the bag at ``path``; return how many were written."""
    return bag_import.import_bag(path, task, store).episodes
