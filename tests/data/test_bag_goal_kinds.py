"""Bag goals follow the controller's goal convention: the message type by the goal's size
(Float64MultiArray for G != 3) and a ``fixed`` goal needing no message.

Before, the importer read only PointStamped goals (a 2-value goal bag's goal topic was
ignored with a type warning and every episode got zeros) and gave a fixed-goal task zeros.
"""

from __future__ import annotations

import numpy as np

from mbrl_control.data.bag_import import import_bag
from mbrl_control.data.store import TransitionStore
from mbrl_control.tasks import load_task_file
from tests.control.goal_tasks import cartpole_with_goal
from tests.data.bag_files import EPOCH, Msg, robot_run, write_bag

TIMES = [0.02 * k for k in range(60)]


def test_two_value_goal_read_from_float64_multi_array(tmp_path):
    task = load_task_file(
        cartpole_with_goal(tmp_path, {"kind": "box", "low": [-1, -1], "high": [1, 1]})
    )
    goal = Msg("/goal", EPOCH - 0.5, {"values": [0.25, -0.5]})
    bag = write_bag(tmp_path / "bag", [*robot_run(TIMES), goal])
    store = TransitionStore(tmp_path / "store")
    report = import_bag(bag, task, store)
    assert report.episodes >= 1
    data = store.load()
    np.testing.assert_allclose(data.goal, np.tile([0.25, -0.5], (len(data), 1)))


def test_fixed_goal_needs_no_goal_message(tmp_path):
    task = load_task_file(cartpole_with_goal(tmp_path, {"kind": "fixed", "value": [0.3, 0.7]}))
    bag = write_bag(tmp_path / "bag", robot_run(TIMES))
    store = TransitionStore(tmp_path / "store")
    import_bag(bag, task, store)
    data = store.load()
    np.testing.assert_allclose(data.goal, np.tile([0.3, 0.7], (len(data), 1)))
