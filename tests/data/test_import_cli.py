"""``mbrl-control import --csv/--bag``: one summary line, one-line errors with exit code 2 and
nothing written for an unusable input; the imported store trains."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from bag_files import EPOCH, robot_run, write_bag
from csv_logs import SUB, TASK, default_columns, jittered_times, simulate, write_csv

from mbrl_control.cli import import_log, main
from mbrl_control.data.store import TransitionStore
from mbrl_control.tasks import csv_log_section

STEPS = 40


@pytest.fixture(scope="module")
def log():
    return simulate(3, STEPS)


def _run(capsys, *argv):
    code = main(["import", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def _lines(text):
    return [line for line in text.splitlines() if line.strip()]


def test_import_csv_prints_one_summary_line_and_appends(tmp_path, capsys, log):
    t = jittered_times(log.n, 3)
    t[0] = 0.0
    a = write_csv(tmp_path / "a.csv", default_columns(log, t))
    b = write_csv(tmp_path / "b.csv", default_columns(log, np.arange(log.n) * SUB + 100.0))
    store = tmp_path / "store"
    code, out, err = _run(capsys, "--csv", a, b, "--task", "cartpole_swingup", "--out", store)
    assert code == 0, err
    (line,) = _lines(out)
    assert line.startswith("kept ") and " transitions in 2 episodes from 2 files; " in line, line
    assert "resampled to the 50 Hz control grid" in line
    # a.csv's jittered last rows may end after its last grid state: counted, nothing else
    assert re.search(
        r"; dropped (no rows|\d+ rows because: past the last full control period \d+);", line
    ), line
    # again: both files detected, skipped with a warning each, nothing appended
    code, out, err = _run(capsys, "--csv", a, b, "--task", "cartpole_swingup", "--out", store)
    assert code == 0 and len(TransitionStore(store)) == 2
    assert err.count("already imported") == 2 and str(a) in err
    assert "skipped 1 file already in the store" in out


def test_flags_override_the_mapping(tmp_path, capsys, log):
    c = default_columns(log, np.arange(log.n) * SUB * 1e3)
    cols = {"ms": c["time"], "q0": c["slider_to_cart_pos"], "q1": c["cart_to_pole_pos"]}
    cols["u_meas"] = c["slider_to_cart_cmd"]
    path = write_csv(tmp_path / "lab.csv", cols, delimiter="\t")
    store = tmp_path / "store"
    code, out, err = _run(
        capsys,
        *("--csv", path, "--task", "cartpole_swingup", "--out", store),
        *("--time-column", "ms", "--time-unit", "ms", "--delimiter", "\\t"),
        *("--position-columns", "slider_to_cart=q0,cart_to_pole=q1"),
        *("--action-columns", "cart_force=u_meas", "--json"),
    )
    assert code == 0, err
    assert out.startswith(f"kept {STEPS} transitions in 1 episode from 1 file; ")
    assert "velocities derived by finite differences" in out.splitlines()[0]
    report = json.loads(out.split("\n", 1)[1])
    assert report["files"][0]["transitions"] == STEPS


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("missing column", "lab.csv: no column for joint 'cart_to_pole' positions (tried"),
        ("bad unit", "argument --time-unit: invalid choice: 'minutes'"),
        ("wrong time unit", "column 'time': rows are 5 s apart (time unit 's')"),
        ("bad flag", "--position-columns='q': a pattern needs {joint}"),
        ("empty file", "lab.csv: empty file (no header line)"),
        ("only a header", "lab.csv: no data rows after the header"),
        ("a directory", "argument --csv: not a file:"),
        ("a binary file", "lab.csv: not a text CSV file (binary data"),
        ("no such file", "argument --csv: no such file:"),
    ],
)
def test_unusable_input_is_one_line_exit_2_and_writes_nothing(
    tmp_path, capsys, log, case, expected
):
    path = tmp_path / "lab.csv"
    extra = []
    c = default_columns(log, np.arange(log.n) * SUB)
    if case == "missing column":
        del c["cart_to_pole_pos"]
        write_csv(path, c)
    elif case == "bad unit":
        write_csv(path, c)
        extra = ["--time-unit", "minutes"]
    elif case == "wrong time unit":
        c["time"] = c["time"] * 1e3
        write_csv(path, c)
    elif case == "bad flag":
        write_csv(path, c)
        extra = ["--position-columns", "q"]
    elif case == "empty file":
        path.write_text("")
    elif case == "only a header":
        path.write_text(",".join(c) + "\n")
    elif case == "a directory":
        path.mkdir()
    elif case == "a binary file":
        path.write_bytes(bytes(range(256)) * 8)
    store = tmp_path / "store"
    code, out, err = _run(
        capsys, "--csv", path, "--task", "cartpole_swingup", "--out", store, *extra
    )
    assert code == 2, (out, err)
    lines = _lines(err)
    assert len(lines) == 1, err
    assert expected in lines[0], lines[0]
    assert not store.exists()  # nothing written, not even an empty store


def test_long_stretches_are_cut_into_episodes_losing_nothing(tmp_path, capsys, log):
    path = write_csv(tmp_path / "a.csv", default_columns(log, np.arange(log.n) * SUB))
    store = tmp_path / "store"
    code, out, err = _run(
        capsys, "--csv", path, "--task", "cartpole_swingup", "--out", store,
        "--max-episode-steps", "15",
    )  # fmt: skip
    assert code == 0, err
    assert out.startswith(f"kept {STEPS} transitions in 3 episodes from 1 file; "), out
    assert "episodes end by: end 1, max_length 2" in out
    data = TransitionStore(store).load()
    np.testing.assert_array_equal(data.next_obs[14], data.obs[15])  # chained, no gap


def test_one_unusable_file_among_several_writes_nothing(tmp_path, capsys, log):
    good = write_csv(tmp_path / "good.csv", default_columns(log, np.arange(log.n) * SUB))
    bad = tmp_path / "bad.csv"
    bad.write_text((good.read_text().splitlines()[0]) + "\n")  # a header, no rows
    store = tmp_path / "store"
    code, _, err = _run(capsys, "--csv", good, bad, "--task", "cartpole_swingup", "--out", store)
    assert code == 2 and _lines(err) == [
        f"mbrl-control import: error: {bad}: no data rows after the header"
    ]
    assert not store.exists()


def test_a_file_that_keeps_nothing_is_an_error_naming_why(tmp_path, capsys, log):
    c = default_columns(log, np.arange(log.n) * SUB)
    c["slider_to_cart_pos"][:] = 9.0  # beyond the rail: every row refused
    path = write_csv(tmp_path / "lab.csv", c)
    code, _, err = _run(
        capsys, "--csv", path, "--task", "cartpole_swingup", "--out", tmp_path / "s"
    )
    assert code == 2
    (line,) = _lines(err)
    assert "nothing usable: kept 0 transitions in 0 episodes from 1 file; dropped" in line
    assert f"position out of range {log.n}" in line and "'slider_to_cart'" in line


def test_import_bag_reads_a_rosbags_bag_with_the_same_summary(tmp_path, capsys):
    times = np.delete(np.arange(150) * TASK.dt, 70)  # one dropped state: two episodes
    bag = write_bag(tmp_path / "bag", robot_run(times, stamp0=0.0, log0=EPOCH), "mcap")
    store = tmp_path / "store"
    code, out, err = _run(capsys, "--bag", bag, "--task", "cartpole_swingup", "--out", store)
    assert code == 0, err
    (line,) = _lines(out)
    assert line.startswith("kept 147 transitions in 2 episodes from 1 bag; "), line
    assert "episodes end by: end 1, gap 1" in line and "time axis: header stamps" in line
    metas = TransitionStore(store).load().episodes
    assert [m["file_episode"] for m in metas] == [0, 1] and metas[0]["sha256"]
    code, out, err = _run(capsys, "--bag", bag, "--task", "cartpole_swingup", "--out", store)
    assert code == 0 and "already imported" in err and len(TransitionStore(store)) == 2


def test_import_bag_refuses_csv_flags(tmp_path, capsys):
    bag = write_bag(tmp_path / "bag", robot_run(np.arange(20) * TASK.dt), "mcap")
    code, _, err = _run(
        capsys, "--bag", bag, "--task", "cartpole_swingup", "--out", tmp_path / "s",
        "--time-unit", "ms",
    )  # fmt: skip
    assert code == 2 and "--time-unit: CSV column options apply to --csv only" in err


def test_cli_choices_match_the_schema():
    assert tuple(csv_log_section.TIME_UNITS) == import_log.TIME_UNITS
    assert import_log.ANGLE_UNITS == csv_log_section.ANGLE_UNITS


@pytest.mark.slow
def test_train_on_an_imported_store(tmp_path, capsys, log):
    path = write_csv(tmp_path / "a.csv", default_columns(log, np.arange(log.n) * SUB))
    store = tmp_path / "store"
    code, _, err = _run(capsys, "--csv", path, "--task", "cartpole_swingup", "--out", store)
    assert code == 0, err
    # a second log so the train/hold-out split has an episode on each side
    other = simulate(4, STEPS)
    path = write_csv(tmp_path / "b.csv", default_columns(other, np.arange(other.n) * SUB))
    assert _run(capsys, "--csv", path, "--task", "cartpole_swingup", "--out", store)[0] == 0
    argv = ["train", "--data", store, "--task", "cartpole_swingup", "--out", tmp_path / "m"]
    argv += ["--members", "2", "--hidden", "16", "--layers", "2", "--epochs", "2", "--quiet"]
    code = main(list(map(str, argv)))
    _, err = capsys.readouterr()
    assert code == 0, err
    assert (tmp_path / "m" / "model.pt").is_file()


def test_import_bag_counts_refused_states_by_kind_like_the_csv_import(tmp_path, capsys):
    """A NaN position and a cart beyond its rail in a bag: the summary names each kind of
    refusal with the words of the CSV import, not one 'bad joint state' count."""

    def positions(k, t):
        pos, vel = [0.1 * t, 3.0 + 0.2 * t], [0.1, 0.2]
        if k in (20, 21):
            pos[0] = float("nan")
        if k == 60:
            pos[0] = 9.0
        return pos, vel

    times = np.arange(100) * TASK.dt
    bag = write_bag(tmp_path / "bag", robot_run(times, positions=positions), "mcap")
    store = tmp_path / "s"
    code, out, err = _run(capsys, "--bag", bag, "--task", "cartpole_swingup", "--out", store)
    assert code == 0, err
    (line,) = _lines(out)
    assert "dropped 3 messages because: non-finite value 2, position out of range 1" in line, line
