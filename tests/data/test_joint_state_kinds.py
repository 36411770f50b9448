"""Every refusal of the shared JointState rules carries a machine-readable ``kind``; the
vectorized check agrees with the one-message parse row for row; importers sort refusals by
kind (never by message text), the bag import as the CSV import."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from mbrl_control.data.joint_state_merge import KINDS, BadJointState, JointStateMerge, StaleJoint
from mbrl_control.tasks import get_task

TASK = get_task("cartpole_swingup")
NAMES = list(TASK.joint_names)


def _merge():
    return JointStateMerge.for_task(TASK)


@pytest.mark.parametrize(
    ("names", "position", "velocity", "kind"),
    [
        ([*NAMES, NAMES[0]], [0, 0, 0], [0, 0, 0], "duplicate"),
        (NAMES, [0.0], [0.0, 0.0], "length_mismatch"),
        (NAMES, [np.nan, 0.0], [0.0, 0.0], "non_finite"),
        (NAMES, [0.0, 0.0], [0.0, 1e39], "non_finite"),
        (NAMES, [7.0, 0.0], [0.0, 0.0], "out_of_range"),
        (NAMES, [0.0, 0.0], [1e6, 0.0], "over_velocity_limit"),
    ],
)
def test_each_refusal_has_its_kind(names, position, velocity, kind):
    with pytest.raises(BadJointState) as err:
        _merge().update(names, position, velocity, 0.0)
    assert err.value.kind == kind and kind in KINDS
    # the message is unchanged (people and tests read it)
    assert err.value.joint in (None, *NAMES)


def test_missing_and_stale_joints_have_their_kind():
    merge = _merge()
    with pytest.raises(StaleJoint) as err:
        merge.latest()
    assert err.value.kind == "missing" and "never received" in str(err.value)
    merge.update(NAMES, [0.0, 0.0], [0.0, 0.0], 0.0)
    with pytest.raises(StaleJoint) as err:
        merge.latest(now=5.0, max_age=0.1)
    assert err.value.kind == "stale"


def test_an_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="kind 'nope'; allowed"):
        BadJointState("x", kind="nope")
    assert BadJointState("a caller's own reason").kind == "invalid"


VALUES = st.one_of(
    st.floats(-4, 4), st.sampled_from([np.nan, np.inf, -np.inf, 1e39, 3.0, -3.0, 40.0])
)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(hnp.arrays(np.float64, (12, 4), elements=VALUES))
def test_check_rows_agrees_with_parse_row_for_row(values):
    merge = _merge()
    kinds = merge.check_rows(values[:, :2], values[:, 2:])
    for row, kind in zip(values, kinds, strict=True):
        try:
            merge.parse(NAMES, row[:2], row[2:])
            assert kind == "", (row, kind)
        except BadJointState as err:
            assert err.kind == kind, (row, kind, str(err))
