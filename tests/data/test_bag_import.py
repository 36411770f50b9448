"""Bag import as users have bags: rosbag2 directories (MCAP, sqlite3) and single files,
written with the ``rosbags`` writer; stamps at 0 or from the epoch, dropped and reordered
joints, several publishers, higher-rate states, resets, namespaces."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from bag_files import EPOCH, Msg, cart_state, robot_run, write_bag

from mbrl_control.data.bag_import import import_bag
from mbrl_control.data.store import TransitionStore
from mbrl_control.tasks import get_task

TASK = get_task("cartpole_swingup")
DT = TASK.dt  # 0.02 s
STEP = 0.1 * DT  # x advances this much per control period in the test trajectory


def _import(tmp_path, msgs, storage="mcap", **kw):
    bag = write_bag(tmp_path / "bag", msgs, storage)
    store = TransitionStore(tmp_path / "store")
    report = import_bag(bag, TASK, store, **kw)
    return report, store.load()


def _lengths(data) -> list[int]:
    return [int((data.episode_id == e).sum()) for e in np.unique(data.episode_id)]


def _assert_uniform_steps(data) -> None:
    """Every transition spans one control period: x advances exactly one STEP."""
    np.testing.assert_allclose(data.next_obs[:, 0] - data.obs[:, 0], STEP, atol=1e-5)


@pytest.mark.parametrize("storage", ["mcap", "sqlite3", "file", "db3"])
def test_bags_as_other_tools_write_them(tmp_path, storage):
    # epoch stamps on the robot clock, log times on another clock 0.25 s ahead, joints in
    # another order than the task's, one extra joint: directory (MCAP, sqlite3) or one file.
    times = np.arange(100) * DT
    msgs = robot_run(
        times, stamp0=EPOCH, log0=EPOCH + 0.25, names=("cart_to_pole", "slider_to_cart"), extra=True
    )
    report, data = _import(tmp_path, msgs, storage)
    assert report.episodes == 1 and report.transitions == 99 == len(data)
    np.testing.assert_allclose(data.obs[:, 0], 0.1 * times[:-1], atol=1e-5)
    np.testing.assert_allclose(data.obs[:, 1], np.cos(3.0 + 0.2 * times[:-1]), atol=1e-5)
    # command k followed state k: transition k carries command k
    np.testing.assert_allclose(data.action[:, 0], np.arange(99))
    assert data.episodes[0]["source"] == ("mcap" if storage in ("mcap", "file") else "sqlite3")
    assert data.episodes[0]["t_start"] == pytest.approx(EPOCH)
    assert "kept 99 transitions in 1 episode from" in report.line()


def test_first_stamp_zero_keeps_one_clock(tmp_path, caplog):
    # sim_node at sim-time start: header stamps 0, 0.02, ... ; log times from the epoch
    times = np.arange(120) * DT
    report, data = _import(tmp_path, robot_run(times, stamp0=0.0, log0=EPOCH))
    assert report.clock == "header" and report.episodes == 1 and len(data) == 119
    _assert_uniform_steps(data)
    np.testing.assert_allclose(data.action[:, 0], np.arange(119))


def test_all_zero_stamps_use_log_time(tmp_path):
    msgs = robot_run(np.arange(30) * DT, log0=EPOCH)
    for m in msgs:
        if "stamp" in m.data:
            m.data["stamp"] = 0.0  # an unstamped publisher
    report, data = _import(tmp_path, msgs)
    assert report.clock == "log" and len(data) == 29
    _assert_uniform_steps(data)


def test_one_dropped_state_splits_never_a_two_period_transition(tmp_path):
    times = np.delete(np.arange(100) * DT, 50)  # one JointState lost: a 40 ms gap
    report, data = _import(tmp_path, robot_run(times, stamp0=EPOCH))
    assert _lengths(data) == [49, 48]
    _assert_uniform_steps(data)
    assert report.stats.breaks["gap"] == 1


def test_jittered_stamps_within_tolerance_do_not_split(tmp_path):
    rng = np.random.default_rng(0)
    times = np.arange(100) * DT + rng.uniform(-0.004, 0.004, 100)  # ±0.2 periods
    report, data = _import(tmp_path, robot_run(times, stamp0=EPOCH))
    assert report.episodes == 1 and len(data) >= 97


@pytest.mark.parametrize("rate_hz", [200.0, 125.0])
def test_higher_rate_states_are_resampled_onto_the_control_grid(tmp_path, rate_hz):
    times = np.arange(int(2.0 * rate_hz)) / rate_hz
    report, data = _import(tmp_path, robot_run(times, stamp0=EPOCH))
    assert report.episodes == 1 and len(data) == 99  # 2 s at 50 Hz
    _assert_uniform_steps(data)  # exactly one control period per transition
    np.testing.assert_allclose(data.obs[:, 0], 0.1 * DT * np.arange(99), atol=1e-5)


def test_two_publishers_with_partial_joints_are_merged(tmp_path):
    times = np.arange(100) * DT
    msgs = []
    for k, t in enumerate(times):
        pos, vel = cart_state(t)
        tb = t + 0.005  # the second publisher runs 5 ms later
        pb, vb = cart_state(tb)
        a = {"stamp": EPOCH + t, "names": ["slider_to_cart"]}
        a.update(position=[pos[0]], velocity=[vel[0]])
        b = {"stamp": EPOCH + tb, "names": ["cart_to_pole"]}
        b.update(position=[pb[1]], velocity=[vb[1]])
        msgs += [
            Msg("/joint_states", EPOCH + t + 0.001, a),
            Msg("/joint_states", EPOCH + tb + 0.001, b),
            Msg("/commands", EPOCH + t + 0.003, {"data": [float(k)]}),
        ]
    report, data = _import(tmp_path, msgs)
    assert report.episodes == 1 and len(data) >= 97
    _assert_uniform_steps(data)
    # each joint's value is at most one publisher period old (5 ms here)
    t0 = data.episodes[0]["t_start"] - EPOCH
    theta = 3.0 + 0.2 * (t0 + DT * np.arange(len(data)))
    np.testing.assert_allclose(data.obs[:, 1], np.cos(theta), atol=2e-3)


def _reset_run(kind: str) -> list[Msg]:
    """50 states, a reset, 50 more. ``jump``: the reset state repeats the terminal's stamp
    (x +2.4 -> 0.03, no announcement); ``announced`` / ``late``: sim_node's way, the reset
    state one period later (x +0.2 -> 0.03, within the speed limit: only ``episode_start``
    tells), announced before it or logged 3 states late."""
    top = 2.4 if kind == "jump" else 0.2

    def pos(k, t):
        x = top - 0.1 * DT * (49 - k) if k < 50 else 0.03 + 0.1 * DT * (k - 50)
        return [x, 3.0], [0.1, 0.0]

    shift = 1 if kind == "jump" else 0  # state 50 at state 49's stamp
    times = np.concatenate([np.arange(50), np.arange(50 - shift, 100 - shift)]) * DT
    msgs = robot_run(times, stamp0=EPOCH, positions=pos)
    for m in msgs[100:]:
        m.log += 0.0005  # the reset state is logged after the terminal state
    if kind != "jump":
        t_reset = EPOCH + times[50]
        log = EPOCH + times[49] + 0.0012 + (3 * DT if kind == "late" else 0.0)
        msgs.append(Msg("/episode_start", log, {"stamp": t_reset}))
    return msgs


@pytest.mark.parametrize("kind", ["jump", "announced", "late"])
def test_reset_never_becomes_a_transition(tmp_path, kind):
    report, data = _import(tmp_path, _reset_run(kind))
    assert report.episodes == 2
    assert np.abs(data.next_obs[:, 0] - data.obs[:, 0]).max() < 0.01  # no teleport
    assert report.stats.breaks[{"jump": "jump"}.get(kind, "reset")] == 1
    # the terminal state ends the first episode (a message logged late is placed by its stamp)
    assert _lengths(data) == [49, 49]
    assert data.obs[data.episode_id == 1][0, 0] == pytest.approx(0.03, abs=1e-6)


def test_namespaced_topics(tmp_path):
    times = np.arange(20) * DT
    report, data = _import(tmp_path, robot_run(times, stamp0=EPOCH, ns="/robot1"))
    assert report.topics["joint_states"] == "/robot1/joint_states" and len(data) == 19
    two = [m for ns in ("/robot1", "/robot2") for m in robot_run(times, stamp0=EPOCH, ns=ns)]
    bag = write_bag(tmp_path / "two", two)
    with pytest.raises(ValueError, match="namespace"):
        import_bag(bag, TASK, TransitionStore(tmp_path / "s2"))
    report = import_bag(bag, TASK, TransitionStore(tmp_path / "s3"), namespace="robot2")
    assert report.topics["commands"] == "/robot2/commands" and report.transitions == 19


def test_keeping_nothing_is_a_loud_warning_with_reasons(tmp_path, caplog):
    msgs = [m for m in robot_run(np.arange(20) * DT, stamp0=EPOCH) if "joint" in m.topic]
    msgs.append(Msg("/commands", EPOCH + 5.0, {"data": [0.0]}))  # long after the states
    with caplog.at_level(logging.WARNING):
        report, data = _import(tmp_path, msgs)
    assert len(data) == 0 and report.episodes == 0
    # the importers' summary words (import_report.REASONS), not the rule's internal key
    assert "KEPT NOTHING" in caplog.text and "no action in effect" in caplog.text


def test_unreadable_bag_names_the_file(tmp_path):
    bad = tmp_path / "broken.mcap"
    bad.write_bytes(b"not a bag at all")
    with pytest.raises(ValueError, match=r"broken\.mcap"):
        import_bag(bad, TASK, TransitionStore(tmp_path / "s"))


@pytest.mark.parametrize(
    ("task_name", "profile"),
    [("cartpole_swingup", "none"), ("panda_reach", "none"), ("cartpole_swingup", "wide")],
)
def test_a_simulated_robot_with_resets_imports_exactly_its_episodes(tmp_path, task_name, profile):
    """PyBullet plays the robot as sim_node does: stamps advance by each step's simulated
    (jittered on ``wide``) period, a reset takes one more period and is announced on
    ``episode_start``. Every step becomes one transition on the control grid, no reset
    becomes one, and nothing is split where the robot did not stop."""
    import mbrl_sim

    env = mbrl_sim.make_env(task_name, profile=profile, seed=0)
    task = env.unwrapped.task
    rng = np.random.default_rng(0)
    msgs: list[Msg] = []

    def publish(t: float, log: float) -> None:
        names, pos, vel, _ = env.unwrapped.joint_state()
        js = {"stamp": t, "names": list(names), "position": list(pos), "velocity": list(vel)}
        msgs.append(Msg("/joint_states", log, js))

    env.reset(seed=0)
    t = log = 0.0
    publish(t, EPOCH + log)
    obs_true = []
    for k in range(1, 151):
        action = rng.uniform(task.low, task.high)
        msgs.append(Msg("/commands", EPOCH + log + 0.004, {"data": [float(a) for a in action]}))
        obs, _, _, _, info = env.step(action)
        obs_true.append(obs)
        t, log = t + info.get("dt", task.dt), log + task.dt
        publish(t, EPOCH + log)
        if k in (50, 100):
            env.reset()
            t, log = t + task.dt, log + task.dt
            msgs.append(Msg("/episode_start", EPOCH + log, {"stamp": t}))
            publish(t, EPOCH + log + 0.0002)
    report = import_bag(write_bag(tmp_path / "bag", msgs), task, TransitionStore(tmp_path / "s"))
    data = TransitionStore(tmp_path / "s").load()
    assert report.stats.breaks == {"reset": 2, "end": 1}
    if profile == "none":
        assert _lengths(data) == [50, 50, 50]
        np.testing.assert_allclose(data.next_obs, np.array(obs_true)[:, : task.obs_dim], atol=1e-4)
    else:  # jittered periods: resampled onto the nominal grid, about as many steps
        assert all(40 <= n <= 60 for n in _lengths(data))
