"""CSV import (mbrl_control.data.csv_import): logs written from the real cart-pole simulator at
4x the control rate with jittered stamps, a gap and bad rows come back as the simulator's
transitions on the control grid, cut by the shared segmentation rule."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest
import yaml
from csv_logs import (
    DEFAULT_HEADER,
    RATE,
    SUB,
    TASK,
    default_columns,
    jittered_times,
    simulate,
    write_csv,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mbrl_control.data.csv_import import CsvLogError, import_csv
from mbrl_control.data.store import TransitionStore
from mbrl_control.tasks import get_task, load_task_file
from mbrl_control.tasks.csv_log_section import CsvLogSpec
from mbrl_control.tasks.schema import TaskFileError
from mbrl_control.tasks.task_file import BUILTIN_DIR

STEPS = 60
# obs [x, cos θ, sin θ, ẋ, θ̇]: stamp jitter (±0.5 ms) and linear interpolation between rows
# 5 ms apart give errors ~ speed x 1 ms and ~ acceleration x 1 ms; wide margins
POS_TOL, VEL_TOL = 0.02, 0.3


@pytest.fixture(scope="module")
def logs():
    return [simulate(seed, STEPS) for seed in (0, 1)]


def _match(store, logs_by_episode):
    """Each stored episode against the simulator: obs ``k`` equals the sim's observation at
    the row nearest ``t_start + k T``, action ``k`` the force held over that period."""
    data = store.load()
    for meta in data.episodes:
        log, t0_nominal = logs_by_episode(meta)
        with np.load(store.dir / f"ep_{meta['id']:06d}.npz") as z:
            obs, action = z["obs"], z["action"]
        i0 = round((meta["t_start"] - t0_nominal) / SUB)
        assert i0 % RATE == 0, meta  # every episode starts on a control tick here
        rows = i0 + RATE * np.arange(len(obs))
        err = np.abs(obs - log.obs[rows])
        assert err[:, :3].max() < POS_TOL, err[:, :3].max()
        assert err[:, 3:].max() < VEL_TOL, err[:, 3:].max()
        steps = i0 // RATE + np.arange(len(action))
        np.testing.assert_array_equal(action[:, 0], log.actions[steps, 0])
    return data


def test_jittered_4x_log_with_a_gap_and_bad_rows_gives_the_sims_transitions(tmp_path, logs):
    """Two episodes in one file (an ``episode`` column, time restarting at 0), rows at 4x the
    control rate with ±0.5 ms jitter; episode 1 loses 7 rows (a 2-period gap: split); 2 rows
    with a NaN position, 1 with an infinite velocity, 1 with the cart beyond its rail."""
    cols = {k: [] for k in ("episode", *default_columns(logs[0], np.zeros(1)))}
    for e, log in enumerate(logs):
        c = default_columns(log, jittered_times(log.n, e))
        c["time"][[0, -1]] = [0.0, (log.n - 1) * SUB]  # first/last rows on the tick
        if e == 0:
            c["slider_to_cart_pos"][[37, 101]] = np.nan
            c["cart_to_pole_vel"][150] = np.inf
            c["slider_to_cart_pos"][222] = 7.0  # the rail is [-2.5, 2.5] m
        keep = np.ones(log.n, bool)
        if e == 1:
            keep[4 * 30 + 1 : 4 * 30 + 8] = False  # rows 121..127: 40 ms between 120 and 128
        cols["episode"] += [f"run{e}"] * int(keep.sum())
        for k, v in c.items():
            cols[k] += list(np.asarray(v)[keep])
    path = write_csv(tmp_path / "log.csv", {k: np.array(v, object) for k, v in cols.items()})

    store = TransitionStore(tmp_path / "store")
    report = import_csv([path], TASK, store, CsvLogSpec(episode_column="episode"))
    f = report.files[0]
    # rows after an episode's last grid state (less than a period: no transition) are counted
    dropped = dict(f.dropped)
    tail = dropped.pop("past the last full control period", 0)
    assert dropped == {"non-finite value": 3, "position out of range": 1}, f.dropped
    assert f.breaks == {"end": 2, "gap": 1}, f.breaks
    line = report.line()
    assert line.startswith(f"kept {report.transitions} transitions in 3 episodes from 1 file; ")
    assert f"dropped {4 + tail} rows because: " in line
    assert "non-finite value 3" in line and "position out of range 1" in line
    assert re.search(r"rows at ~(19\d|20\d) Hz resampled to the 50 Hz control grid", line), line
    # 60 + 30 + 28 (the gap costs 2 periods); jitter may cost an episode its last grid state,
    # never silently: its rows (4 a period) are counted
    assert 2 * STEPS - 2 - 3 <= report.transitions <= 2 * STEPS - 2, report.transitions
    if report.transitions < 2 * STEPS - 2:
        assert tail >= 1, f.dropped

    starts = {}

    def by_episode(meta):
        run = logs[0] if meta["file_episode"] == 0 else logs[1]
        return run, 0.0

    data = _match(store, by_episode)
    for meta in data.episodes:
        starts[meta["file_episode"]] = (meta["t_start"], meta["end"])
    assert starts[1] == (0.0, "gap")  # episode run1 split at the gap ...
    assert starts[2][0] == pytest.approx(128 * SUB, abs=0.6e-3)  # ... resumes at row 128
    assert data.episodes[0]["source"] == "csv" and data.episodes[0]["velocities"] == "log"


def test_velocities_are_derived_when_the_log_has_none(tmp_path, logs):
    log = logs[0]
    c = default_columns(log, jittered_times(log.n, 0))
    c["time"][0] = 0.0
    del c["slider_to_cart_vel"], c["cart_to_pole_vel"]
    path = write_csv(tmp_path / "positions_only.csv", c)
    store = TransitionStore(tmp_path / "store")
    report = import_csv([path], TASK, store)
    assert "velocities derived by finite differences" in report.line()
    ep = store.load()
    assert ep.episodes[0]["velocities"] == "finite_difference"
    with np.load(store.dir / "ep_000000.npz") as z:
        obs = z["obs"]
    truth = log.obs[RATE * np.arange(len(obs))]
    assert np.abs(obs[:, :3] - truth[:, :3]).max() < POS_TOL
    # central differences over 5 ms with stamps jittered by 0.5 ms: ~20 % of a step's change
    assert np.abs(obs[:, 3:] - truth[:, 3:]).max() < 0.5


def test_only_the_missing_velocities_are_derived(tmp_path, logs):
    """A log with a velocity column for the cart but none for the pole: the cart's logged
    velocities are used as they are, only the pole's are derived (and the summary says so)."""
    log = logs[0]
    c = default_columns(log, jittered_times(log.n, 0))
    c["time"][0] = 0.0
    del c["cart_to_pole_vel"]
    c["slider_to_cart_vel"] = np.full(log.n, 0.125)  # not the positions' slope: visibly logged
    path = write_csv(tmp_path / "cart_velocity_only.csv", c)
    store = TransitionStore(tmp_path / "store")
    report = import_csv([path], TASK, store)
    assert "velocities of ['cart_to_pole'] derived by finite differences" in report.line()
    meta = store.load().episodes[0]
    assert meta["velocities"] == "mixed" and meta["derived_velocities"] == ["cart_to_pole"]
    assert meta["columns"]["velocities"] == ["slider_to_cart_vel", "derived"]
    with np.load(store.dir / "ep_000000.npz") as z:
        obs = z["obs"]
    np.testing.assert_array_equal(obs[:, 3], np.float32(0.125))  # logged, interpolated
    truth = log.obs[RATE * np.arange(len(obs))]
    assert np.abs(obs[:, 4] - truth[:, 4]).max() < 0.5  # derived pole velocity


def test_reimport_is_skipped_and_a_second_file_appends(tmp_path, logs, caplog):
    a = write_csv(tmp_path / "a.csv", default_columns(logs[0], np.arange(logs[0].n) * SUB))
    b = write_csv(tmp_path / "b.csv", default_columns(logs[1], np.arange(logs[1].n) * SUB))
    store = TransitionStore(tmp_path / "store")
    first = import_csv([a], TASK, store)
    assert first.episode_ids == [0] and first.transitions == STEPS
    again = import_csv([a, b], TASK, store)
    assert again.files[0].skipped and "already imported" in again.files[0].skipped
    assert "already imported" in caplog.text and str(a) in caplog.text
    assert again.files[1].episode_ids == [1]
    assert again.line().startswith(f"kept {STEPS} transitions in 1 episode from 2 files")
    # same content under another name is the same log
    shutil.copy(a, tmp_path / "copy.csv")
    assert import_csv([tmp_path / "copy.csv"], TASK, store).files[0].skipped
    assert len(store) == 2


def test_an_import_cut_short_is_completed_not_duplicated(tmp_path, logs):
    log = logs[0]
    keep = np.ones(log.n, bool)
    keep[101:108] = False  # a gap: two episodes from this file
    path = write_csv(
        tmp_path / "a.csv", default_columns(log, np.arange(log.n) * SUB), rows=np.flatnonzero(keep)
    )
    store = TransitionStore(tmp_path / "store")
    assert len(import_csv([path], TASK, store).episode_ids) == 2
    (store.dir / "ep_000001.npz").unlink()  # as if the import had crashed before it
    redo = import_csv([path], TASK, store)
    assert len(redo.episode_ids) == 1 and len(store) == 2
    assert sorted(m["file_episode"] for m in store.load().episodes) == [0, 1]


def test_task_file_csv_log_section_maps_the_columns(tmp_path, logs):
    """A copy of the built-in cart-pole task file with a csv_log section: semicolons, time
    in ms, angles in degrees, the measured force as the action, other column names."""
    definition = yaml.safe_load((BUILTIN_DIR / "cartpole_swingup.task.yaml").read_text())
    definition["robot"] = {}  # the copy lives in tmp_path: no URDF needed to import
    definition["csv_log"] = {
        "time_column": "stamp_ms",
        "time_unit": "ms",
        "delimiter": ";",
        "positions": {"slider_to_cart": "x", "cart_to_pole": "theta_deg"},
        "velocities": "{joint}.v",
        "actions": {"cart_force": "force_measured"},
        "angle_unit": "deg",
    }
    task_path = tmp_path / "my_cartpole.task.yaml"
    task_path.write_text(yaml.safe_dump(definition))
    task = load_task_file(task_path)
    log = logs[0]
    t = np.arange(log.n) * SUB
    cols = {
        "stamp_ms": t * 1e3,
        "x": log.pos[:, 0],
        "theta_deg": np.degrees(log.pos[:, 1]),
        "slider_to_cart.v": log.vel[:, 0],
        "cart_to_pole.v": np.degrees(log.vel[:, 1]),
        "force_cmd": np.zeros(log.n),  # commanded: not chosen
        "force_measured": log.action[:, 0],
    }
    path = write_csv(tmp_path / "lab.csv", cols, delimiter=";", comment="logger v2")
    store = TransitionStore(tmp_path / "store")
    report = import_csv([path], task, store)
    assert report.transitions == STEPS, report.line()
    assert store.load().episodes[0]["columns"]["actions"] == ["force_measured"]
    _match(store, lambda meta: (log, 0.0))


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"positions": "x_pos"}, "csv_log.positions='x_pos': a pattern needs {joint}"),
        ({"time_unit": "min"}, "csv_log.time_unit='min'; allowed: ['s', 'ms', 'us', 'ns']"),
        ({"actions": {"elbow": "u"}}, "csv_log.actions key='elbow'; allowed:"),
        ({"columns": {}}, "csv_log: unknown key(s) ['columns']"),
        ({"goal": ["gx"]}, "csv_log.goal: task 'cartpole_swingup' has a goal of 0 values"),
    ],
)
def test_csv_log_section_errors_name_the_key(tmp_path, section, message):
    definition = yaml.safe_load((BUILTIN_DIR / "cartpole_swingup.task.yaml").read_text())
    definition["csv_log"] = section
    path = tmp_path / "t.task.yaml"
    path.write_text(yaml.safe_dump(definition))
    with pytest.raises(TaskFileError) as err:
        load_task_file(path)
    assert message in str(err.value) and "t.task.yaml" in str(err.value)


def test_time_in_the_wrong_unit_is_refused_naming_the_column(tmp_path, logs):
    log = logs[0]
    c = default_columns(log, np.arange(log.n) * SUB * 1e3)  # ms, read as s
    path = write_csv(tmp_path / "ms.csv", c)
    store = TransitionStore(tmp_path / "store")
    with pytest.raises(
        CsvLogError, match=r"ms\.csv: column 'time': rows are 5 s apart .*is it in ms"
    ):
        import_csv([path], TASK, store)
    assert len(store) == 0


def test_ambiguous_default_action_columns_are_refused(tmp_path, logs):
    """Commanded and measured effort both present: the user must choose."""
    log = logs[0]
    c = default_columns(log, np.arange(log.n) * SUB)
    c["slider_to_cart_effort"] = c["slider_to_cart_cmd"]
    path = write_csv(tmp_path / "both.csv", c)
    expected = (
        r"columns \['slider_to_cart_cmd', 'slider_to_cart_effort'\] all match; "
        "choose one with --action-columns"
    )
    with pytest.raises(CsvLogError, match=expected):
        import_csv([path], TASK, TransitionStore(tmp_path / "store"))


def test_a_goal_task_takes_its_goal_from_the_named_columns(tmp_path):
    """panda_reach (a goal sampled per episode): the goal columns at each episode's start;
    without them the file is refused naming the option."""
    task = get_task("panda_reach")
    n = 41  # 2 s at 20 Hz
    t = np.arange(n) * task.dt
    q = np.array([0.0, -0.5, 0.0, -2.0, 0.0, 1.5, 0.7])
    cols = {"time": t}
    for j, name in enumerate(task.joint_names):
        cols[f"{name}_pos"] = q[j] + 0.01 * t
        cols[f"{name}_vel"] = np.full(n, 0.01)
        cols[f"{name}_cmd"] = np.full(n, 0.01)
    for k, g in enumerate((0.4, -0.1, 0.5)):
        cols[f"goal_{'xyz'[k]}"] = np.full(n, g)
    path = write_csv(tmp_path / "reach.csv", cols)
    store = TransitionStore(tmp_path / "store")
    with pytest.raises(CsvLogError, match=r"reach\.csv: task 'panda_reach' has a goal of 3 values"):
        import_csv([path], task, store)
    spec = CsvLogSpec(goal=("goal_x", "goal_y", "goal_z"))
    report = import_csv([path], task, store, spec, max_length=15)
    assert report.transitions == n - 1, report.line()
    data = store.load()
    assert len(data.episodes) == 3
    for meta in data.episodes:
        assert meta["goal"] == pytest.approx([0.4, -0.1, 0.5])
    assert data.goal.shape == (n - 1, 3)


def test_plotjuggler_export_with_iso_times_needs_no_mapping(tmp_path, logs):
    """PlotJuggler-style column names and ISO 8601 date-times in the time column, the
    measured effort (``/joint_states/J/effort``) as the action of the effort task."""
    from datetime import datetime, timedelta

    log = logs[1]
    start = datetime(2026, 11, 30, 20, 36, 0)
    stamps = [(start + timedelta(seconds=i * SUB)).isoformat() for i in range(log.n)]
    cols = {"__time": np.array(stamps, object)}
    for j, name in enumerate(TASK.joint_names):
        cols[f"/joint_states/{name}/position"] = log.pos[:, j]
        cols[f"/joint_states/{name}/velocity"] = log.vel[:, j]
    cols["/joint_states/slider_to_cart/effort"] = log.action[:, 0]
    path = write_csv(tmp_path / "plotjuggler.csv", cols)
    store = TransitionStore(tmp_path / "store")
    report = import_csv([path], TASK, store)
    assert report.transitions == STEPS, report.line()
    meta = store.load().episodes[0]
    assert meta["columns"]["actions"] == ["/joint_states/slider_to_cart/effort"]
    assert meta["t_start"] == pytest.approx(start.timestamp())
    _match(store, lambda m: (log, start.timestamp()))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.lists(
            st.one_of(
                st.floats(allow_nan=True, allow_infinity=True, width=32),
                st.sampled_from(["", "nan", "abc", "1e400", "-", "2026-11-30T20:36:00"]),
            ),
            min_size=0,
            max_size=8,
        ),
        max_size=12,
    ),
    st.sampled_from([",", ";", "\t"]),
)
def test_garbage_rows_never_crash_the_import(tmp_path_factory, rows, delimiter):
    """Whatever the rows hold (NaN, inf, text, short or long rows), the import either keeps
    what is valid or refuses the file with a CsvLogError; nothing else escapes."""
    tmp = tmp_path_factory.mktemp("fuzz")
    path = tmp / "fuzz.csv"
    lines = [delimiter.join(DEFAULT_HEADER)]
    lines += [delimiter.join(repr(c) if isinstance(c, float) else c for c in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    store = TransitionStore(tmp / "store")
    try:
        report = import_csv([path], TASK, store, quiet=True)
    except CsvLogError as err:
        assert str(err).startswith(str(path)), err
        assert len(store) == 0
    else:
        assert len(store) == len(report.episode_ids)
        assert report.line().startswith("kept ")
