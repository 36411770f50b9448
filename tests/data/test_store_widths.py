"""Importers refuse to append to a store whose episodes have other observation or action
widths (``TransitionStore.load`` would silently skip one kind as damaged at training time):
e.g. a store imported before the task file gained its ``last_actions`` block."""

from __future__ import annotations

import numpy as np
import pytest
from bag_files import robot_run, write_bag
from csv_logs import SUB, default_columns, simulate, write_csv

from mbrl_control.data.bag_import import import_bag
from mbrl_control.data.csv_import import import_csv
from mbrl_control.data.store import TransitionStore
from mbrl_control.tasks import get_task

PLAIN = get_task("cartpole_swingup")
DT = PLAIN.dt


@pytest.mark.parametrize("source", ["csv", "bag"])
def test_importers_refuse_a_store_of_other_widths(tmp_path, source):
    """Any two tasks of other widths, not only the block: a store holding one episode of 9
    observation values takes no cart-pole episode (``load`` would skip one kind as damaged)."""
    store = TransitionStore(tmp_path / "store")
    store.append_episode(np.zeros((3, 9), np.float32), np.zeros((2, 1), np.float32), {"task": "x"})
    if source == "csv":
        log = simulate(2, 10)
        path = write_csv(tmp_path / "a.csv", default_columns(log, np.arange(log.n) * SUB))
        with pytest.raises(ValueError, match=r"episodes have 9 observation values .*'x'"):
            import_csv([path], PLAIN, store, quiet=True)
    else:
        bag = write_bag(tmp_path / "bag", robot_run(np.arange(20) * DT))
        with pytest.raises(ValueError, match=r"writes 5 and 1: import into another store"):
            import_bag(bag, PLAIN, store)
    assert len(store) == 1
