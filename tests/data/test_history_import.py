"""Recorded and imported segments on a task with the ``last_actions`` block: each state's
block is the k commands before it, newest first, from the segment's own commands; each
segment loses its first k states (their earlier commands were not recorded), a segment
continuing one cut at ``max_length`` nothing; both segmentation paths agree bit for bit.

Checked against the simulator's forces (a CSV log of the real cart-pole), the bag's commands
(a real rosbag2 bag), and the same stream imported on the task without the block."""

from __future__ import annotations

import numpy as np
import pytest
from bag_files import EPOCH, Msg, robot_run, write_bag
from csv_logs import RATE, SUB, default_columns, jittered_times, simulate, write_csv
from history_segments import Seg, assert_same, expected, from_store
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_segment_arrays import KINDS, _log, _same

from mbrl_control.data.bag_import import import_bag
from mbrl_control.data.csv_import import import_csv
from mbrl_control.data.segments import Segmenter, segment_rows
from mbrl_control.data.store import TransitionStore
from mbrl_control.tasks import get_task, load_task_file
from mbrl_control.tasks.action_history import with_history
from tests.tasks.history_tasks import cartpole_with_history

PLAIN = get_task("cartpole_swingup")
DT = PLAIN.dt
O0 = PLAIN.obs_dim


@pytest.fixture(scope="module")
def history_tasks(tmp_path_factory):
    """The cart-pole with the last k = 1, 2, 3 forces in its observation."""
    tasks = {}
    for k in (1, 2, 3):
        tasks[k] = load_task_file(cartpole_with_history(tmp_path_factory.mktemp(f"k{k}"), k))
    return tasks


# ---- a CSV log of the simulated cart-pole ---------------------------------------------------
@pytest.mark.parametrize("max_length", [None, 7])
def test_csv_log_fills_the_block_from_the_logged_forces(tmp_path, history_tasks, max_length):
    """60 control periods at 4x the control rate, jittered; rows 81..87 lost (a gap) and rows
    97..103 (the stretch 88..96 between them is at most 2 transitions: all of them before a
    known history of 2 forces)."""
    k, task = 2, history_tasks[2]
    log = simulate(0, 60)
    cols = default_columns(log, jittered_times(log.n, 0))
    cols["time"][[0, -1]] = [0.0, (log.n - 1) * SUB]
    keep = np.ones(log.n, bool)
    keep[81:88] = keep[97:104] = False
    path = write_csv(tmp_path / "log.csv", cols, rows=np.flatnonzero(keep))

    plain_report = import_csv([path], PLAIN, TransitionStore(tmp_path / "plain"), quiet=True,
                              max_length=max_length)  # fmt: skip
    store = TransitionStore(tmp_path / "history")
    report = import_csv([path], task, store, quiet=True, max_length=max_length)
    got = from_store(store)

    # against the simulator: state s of the run holds forces s-1, s-2; transition s force s
    for seg in got:
        s = round(seg.t_start / SUB) // RATE + np.arange(len(seg.obs))
        assert (s >= k).all()
        np.testing.assert_array_equal(seg.obs[:, O0:], log.actions[np.stack([s - 1, s - 2], 1), 0])
        np.testing.assert_array_equal(seg.action[:, 0], log.actions[s[:-1], 0])
    # against the same log on the task without the block
    want, counts = expected(from_store(TransitionStore(tmp_path / "plain")), k, DT)
    assert_same(got, want)
    stats = report.files[0].stats
    assert stats.transitions == counts["transitions"] == report.transitions
    assert stats.history_transitions == counts["history_transitions"]
    assert stats.history_discarded == counts["history_discarded"] == 1
    stretches = plain_report.files[0].breaks.get("gap", 0) + 1
    assert stretches == 3 and len(got) == plain_report.files[0].stats.segments - 1
    if max_length is None:  # each segment lost exactly its first k states
        assert [len(g.action) for g in got] == [
            len(p.action) - k for p in from_store(TransitionStore(tmp_path / "plain")) if
            len(p.action) > k
        ]  # fmt: skip
    line = report.line()
    assert "transitions before a known action history (the first states of each episode): " in line
    assert "1 episode shorter than the action history" in line


# ---- a real rosbag2 bag -----------------------------------------------------------------------
def _bag_run() -> tuple[list[Msg], np.ndarray]:
    """A robot at the control rate: 100 states, one lost (index 40: a gap), a reset announced
    before state 70 (sim_node's way), command i (value i) after state i."""
    times = np.delete(np.arange(101), 40) * DT
    msgs = robot_run(times, stamp0=EPOCH)
    msgs.append(Msg("/episode_start", EPOCH + times[69] + 0.0012, {"stamp": EPOCH + times[70]}))
    return msgs, times


@pytest.mark.parametrize("max_length", [None, 9])
@pytest.mark.parametrize("k", [1, 3])
def test_bag_fills_the_block_from_the_recorded_commands(tmp_path, history_tasks, k, max_length):
    msgs, times = _bag_run()
    bag = write_bag(tmp_path / "bag", msgs)
    plain_store = TransitionStore(tmp_path / "plain")
    plain = import_bag(bag, PLAIN, plain_store, max_length=max_length, log_summary=False)
    store = TransitionStore(tmp_path / "history")
    report = import_bag(bag, history_tasks[k], store, max_length=max_length, log_summary=False)
    got = from_store(store)
    assert plain.stats.breaks.get("gap") == plain.stats.breaks.get("reset") == 1

    # against the bag: the state of index i (x = 0.1 t) holds commands i-1, ..., i-k
    for seg in got:
        i = np.argmin(np.abs(times - (seg.t_start - EPOCH))) + np.arange(len(seg.obs))
        np.testing.assert_allclose(seg.obs[:, 0], 0.1 * times[i], atol=1e-5)
        np.testing.assert_array_equal(seg.obs[:, O0:], i[:, None] - np.arange(1, k + 1))
        np.testing.assert_array_equal(seg.action[:, 0], i[:-1])
    # against the same bag on the task without the block
    want, counts = expected(from_store(plain_store), k, DT)
    assert_same(got, want)
    assert report.transitions == counts["transitions"]
    assert report.stats.history_transitions == counts["history_transitions"]
    assert report.stats.history_transitions == 3 * k  # 3 stretches (gap, reset): k each
    assert plain.transitions - report.transitions == 3 * k
    if max_length is None:  # each stretch (0.., 40.., 70..) lost exactly its first k states
        starts = [g.t_start - EPOCH for g in got]
        np.testing.assert_allclose(starts, times[[0, 40, 70]] + k * DT, atol=1e-6)
        assert [len(g.action) for g in got] == [39 - k, 29 - k, 29 - k]
    assert f"transitions before a known action history (the first states of each episode): {3 * k}"\
        in report.line()  # fmt: skip


# ---- the two segmentation paths ---------------------------------------------------------------
@settings(
    max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    st.sampled_from([1, 2, 3]),
    st.integers(0, 10_000),
    st.integers(2, 500),
    st.sampled_from([0.5, 1.0, 4.0, 7.5]),
    st.lists(st.tuples(st.sampled_from(KINDS), st.integers(0, 10_000)), max_size=6),
    st.sampled_from([None, 1, 2, 5, 20]),
    st.sampled_from([1, 3]),
)
def test_vectorized_and_row_by_row_agree_on_a_history_task(
    history_tasks, k, seed, n, rate, events, max_length, min_length
):
    """segment_arrays == segment_rows bit for bit with the block (every break kind, max_length
    cuts shorter than k included), and both equal the rule written out state by state."""
    task = history_tasks[k]
    log = _log(PLAIN, seed, n, rate, events)
    got, stats = _same(task, log, max_length=max_length, min_length=min_length)
    t, pos, vel, cmd, cmd_t, has_state, has_cmd = log
    plain, plain_stats = segment_rows(
        PLAIN, t, pos, vel, cmd, cmd_t, has_state=has_state, has_command=has_cmd,
        max_length=max_length,
    )  # fmt: skip
    want, counts = expected(
        [Seg(s.obs, s.action, s.t_start, s.t_end, s.reason) for s in plain], k, DT, min_length
    )
    assert_same([Seg(s.obs, s.action, s.t_start, s.t_end, s.reason) for s in got], want)
    for key, value in counts.items():
        assert getattr(stats, key) == value, key
    # every transition is kept, dropped for the history or in a too short segment
    assert stats.transitions + stats.history_transitions + stats.discarded_transitions == (
        plain_stats.transitions
    )
    assert stats.breaks == plain_stats.breaks and stats.dropped == plain_stats.dropped


def test_without_a_max_length_chain_the_segment_is_with_history(history_tasks):
    """The Segmenter's segments are ``with_history`` of the plain ones (no max_length)."""
    k, task = 2, history_tasks[2]
    log = _log(PLAIN, 3, 400, 4.0, [("gap", 100), ("jump", 250), ("no_cmd", 330)])
    plain, _ = _same(PLAIN, log)
    got, _ = _same(task, log)
    long = [s for s in plain if len(s.action) > k]
    assert len(long) == len(got) >= 3
    for p, g in zip(long, got, strict=True):
        obs, act = with_history(
            np.concatenate([p.obs, np.zeros((len(p.obs), k), np.float32)], 1), p.action, k
        )
        np.testing.assert_array_equal(g.obs, obs)
        np.testing.assert_array_equal(g.action, act)
        assert g.t_start == p.t_start + k * DT and g.t_end == p.t_end


def test_a_segment_shorter_than_the_history_is_discarded_with_its_reason(history_tasks):
    """A 2-transition stretch on k = 2 keeps nothing: counted as shorter than the action
    history, not as an ordinary too short segment; the stretch after it loses 2 states."""
    task = history_tasks[2]
    out: list = []
    seg = Segmenter(task, out.append)
    names = list(task.joint_names)
    for i in [0, 1, 2, 10, 11, 12, 13, 14, 15]:  # a gap between state 2 and state 10
        seg.state(names, [0.001 * i, 3.0], [0.0, 0.0], i * DT)
        seg.command([float(i)], t=i * DT + 0.004)
    seg.flush("end")
    s = seg.stats
    assert (s.transitions, s.history_transitions, s.history_discarded) == (3, 4, 1)
    assert s.discarded_transitions == 0 and s.segments == 1 == len(out)
    np.testing.assert_array_equal(out[0].obs[:, O0:], [[11, 10], [12, 11], [13, 12], [14, 13]])
    np.testing.assert_array_equal(out[0].action[:, 0], [12, 13, 14])
    assert out[0].t_start == 10 * DT + 2 * DT
    assert "1 segment shorter than the action history" in s.describe()
    assert s.as_dict()["history_transitions"] == 4


def test_without_the_block_nothing_changes(history_tasks):
    """k = 0: no history counts, no text, the segments of the task as before."""
    log = _log(PLAIN, 5, 300, 4.0, [("gap", 80), ("jump", 200)])
    got, stats = _same(PLAIN, log, max_length=20, min_length=3)
    assert stats.history_transitions == stats.history_discarded == 0
    assert "action history" not in stats.describe()
    assert all(s.obs.shape[1] == O0 for s in got)


# ---- mbrl-control import ------------------------------------------------------------------------
def _cli(capsys, *argv):
    from mbrl_control.cli import main

    code = main(["import", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out.strip(), err.strip()


def test_cli_imports_with_the_block_and_refuses_a_store_of_other_widths(tmp_path, capsys):
    """``mbrl-control import`` on a task file with last_actions (k = 2): the summary says what
    the block cost; a store imported without the block (or with it) takes no episodes of the
    other width, for CSV and bag alike, even for a file already in it: exit 2, one line."""
    task_file = cartpole_with_history(tmp_path, steps=2)
    log = simulate(1, 30)
    csv = write_csv(tmp_path / "a.csv", default_columns(log, np.arange(log.n) * SUB))
    code, out, err = _cli(capsys, "--csv", csv, "--task", task_file, "--out", tmp_path / "h")
    assert code == 0, err
    assert out.startswith("kept 28 transitions in 1 episode from 1 file; "), out
    assert "(the first states of each episode): 2" in out
    assert TransitionStore(tmp_path / "h").load().obs.shape == (28, O0 + 2)

    code, _, err = _cli(capsys, "--csv", csv, "--task", "cartpole_swingup", "--out", tmp_path / "h")
    assert code == 2 and len(err.splitlines()) == 1, err
    assert "its episodes have 7 observation values and 1 actions" in err
    assert "task 'cartpole_swingup' writes 5 and 1: import into another store" in err

    bag = write_bag(tmp_path / "bag", robot_run(np.arange(30) * DT, stamp0=EPOCH))
    code, _, err = _cli(capsys, "--bag", bag, "--task", "cartpole_swingup", "--out", tmp_path / "p")
    assert code == 0, err
    for src in (["--bag", bag], ["--csv", csv]):
        code, _, err = _cli(capsys, *src, "--task", task_file, "--out", tmp_path / "p")
        assert code == 2 and "(its last_actions block adds 2)" in err, err
    assert len(TransitionStore(tmp_path / "p")) == 1  # nothing appended
