"""Episodes recorded to MCAP read back by ``rosbags`` (AnyReader), by the ``mcap`` reader with
the ``mcap_ros2`` decoder (every topic's schema present and decodable) and by
``mbrl-control import`` as the same transitions."""

from __future__ import annotations

import json
from pathlib import Path

import mbrl_sim
import numpy as np
import pytest
from mcap.reader import make_reader
from mcap_ros2.decoder import DecoderFactory
from rosbags.highlevel import AnyReader

from mbrl_control.data.bag_import import import_bag
from mbrl_control.data.store import TransitionStore
from mbrl_control.pipeline.evaluate import run_episode
from mbrl_control.recording.episode_recorder import EpisodeRecorder
from mbrl_control.recording.mcap_writer import McapBagWriter, typestore

EPISODES = 2


def _record(task: str, path: Path, seed: int, namespace: str = "") -> tuple[list, list]:
    """Two episodes of a seeded random policy; (their results, [(obs, actions)] per episode).
    Profile ``none``: exact control periods, so an import needs no resampling."""
    env = mbrl_sim.make_env(task, profile="none", seed=seed)
    low, high = env.unwrapped.task.low, env.unwrapped.task.high
    rng = np.random.default_rng(seed)
    runs: list[tuple[list, list]] = []

    def policy(obs: np.ndarray, goal: np.ndarray) -> np.ndarray:
        runs[-1][0].append(obs.copy())
        action = rng.uniform(low, high).astype(np.float32)
        runs[-1][1].append(action)
        return action

    results = []
    with EpisodeRecorder(path, namespace=namespace) as recorder:
        for i in range(EPISODES):
            runs.append(([], []))
            results.append(run_episode(env, policy, seed=seed + i, observers=[recorder]))
            assert not path.exists()  # published only when closed: NAME.part until then
    env.close()
    return results, runs


def _rosbags_read(path: Path) -> tuple[dict[str, str], dict[str, list]]:
    with AnyReader([path], default_typestore=typestore()) as reader:
        types = {c.topic: c.msgtype for c in reader.connections}
        msgs: dict[str, list] = {topic: [] for topic in types}
        for c, _, raw in reader.messages():
            msgs[c.topic].append(reader.deserialize(raw, c.msgtype))
    return types, msgs


def _mcap_read(path: Path) -> tuple[dict[str, tuple[str, str]], dict[str, list]]:
    """topic -> (schema name, schema encoding); topic -> decoded messages."""
    schemas: dict[str, tuple[str, str]] = {}
    decoded: dict[str, list] = {}
    with open(path, "rb") as f:
        reader = make_reader(f, decoder_factories=[DecoderFactory()])
        assert reader.get_header().profile == "ros2"
        for schema, channel, _, msg in reader.iter_decoded_messages():
            assert channel.message_encoding == "cdr"
            schemas[channel.topic] = (schema.name, schema.encoding)
            decoded.setdefault(channel.topic, []).append(msg)
    return schemas, decoded


@pytest.mark.parametrize(
    ("task", "goal_type"),
    [("cartpole_swingup", None), ("panda_reach", "geometry_msgs/msg/PointStamped")],
)
def test_recording_reads_back_everywhere(seeds, tmp_path: Path, task: str, goal_type) -> None:
    path = tmp_path / "run.mcap"
    results, runs = _record(task, path, seeds(0))
    steps = [r["steps"] for r in results]

    expected = {
        "/episode_start": "std_msgs/msg/Header",
        "/joint_states": "sensor_msgs/msg/JointState",
        "/commands": "std_msgs/msg/Float64MultiArray",
        "/step_cost": "std_msgs/msg/Float64",
        "/diagnostics": "diagnostic_msgs/msg/DiagnosticArray",
        **({"/goal": goal_type} if goal_type else {}),
    }
    types, msgs = _rosbags_read(path)
    assert types == expected
    assert len(msgs["/joint_states"]) == sum(s + 1 for s in steps)
    assert len(msgs["/episode_start"]) == EPISODES
    actions = np.concatenate([np.asarray(a) for _, a in runs])
    commands = np.stack([m.data for m in msgs["/commands"]])
    assert np.array_equal(commands, actions.astype(np.float64))
    stamps = [m.header.stamp.sec + 1e-9 * m.header.stamp.nanosec for m in msgs["/joint_states"]]
    assert np.all(np.diff(stamps) > 0)  # strictly increasing, also across the reset
    ends = [s for m in msgs["/diagnostics"] for s in m.status if s.name == "evaluate: episode"]
    assert [{kv.key: kv.value for kv in s.values}["steps"] for s in ends] == [str(s) for s in steps]

    schemas, decoded = _mcap_read(path)
    assert schemas == {topic: (name, "ros2msg") for topic, name in expected.items()}
    assert {topic: len(m) for topic, m in decoded.items()} == {t: len(m) for t, m in msgs.items()}
    assert [list(m.data) for m in decoded["/commands"]] == commands.tolist()
    planner = [m.status[0] for m in decoded["/diagnostics"] if m.status[0].name.endswith("planner")]
    latency = [float({kv.key: kv.value for kv in s.values}["latency_ms"]) for s in planner]
    assert len(latency) == sum(steps) and min(latency) >= 0.0
    if goal_type:
        goals = [(m.point.x, m.point.y, m.point.z) for m in decoded["/goal"]]
        assert len(goals) == EPISODES and all(np.all(np.isfinite(g)) for g in goals)

    # the same transitions come back through `mbrl-control import`
    store = TransitionStore(tmp_path / "store")
    report = import_bag(path, task, store, log_summary=False)
    assert report.episodes == EPISODES and report.clock == "header"
    data = store.load()
    assert np.allclose(data.action, actions, atol=1e-6)
    obs = np.concatenate([np.asarray(o) for o, _ in runs])
    assert np.allclose(data.obs, obs, atol=1e-4)


def test_namespaced_recording_imports_by_namespace(seeds, tmp_path: Path) -> None:
    path = tmp_path / "ns.mcap"
    _record("cartpole_swingup", path, seeds(1), namespace="robot1")
    types, _ = _rosbags_read(path)
    assert "/robot1/joint_states" in types and "/diagnostics" in types
    report = import_bag(
        path, "cartpole_swingup", TransitionStore(tmp_path / "s"), namespace="robot1"
    )
    assert report.episodes == EPISODES


def test_writer_refuses_overwrite_and_time_going_back(tmp_path: Path) -> None:
    path = tmp_path / "x.mcap"
    path.write_bytes(b"keep me")
    with pytest.raises(FileExistsError, match="already exists"):
        McapBagWriter(path)
    assert path.read_bytes() == b"keep me"
    header = typestore().types["std_msgs/msg/Header"]
    stamp = typestore().types["builtin_interfaces/msg/Time"]
    refused = pytest.raises(ValueError, match="before the last")
    with refused, McapBagWriter(tmp_path / "y.mcap") as bag:
        bag.write("/a", "std_msgs/msg/Header", header(stamp(1, 0), ""), 1.0)
        bag.write("/a", "std_msgs/msg/Header", header(stamp(0, 0), ""), 0.5)
    assert not (tmp_path / "y.mcap").exists() and (tmp_path / "y.mcap.part").exists()


def test_evaluate_record_cli(tiny_planner: Path, tmp_path: Path, capsys) -> None:
    from mbrl_control.cli import main

    path = tmp_path / "runs" / "eval.mcap"
    argv = ["evaluate", "--planner", str(tiny_planner), "--episodes", "2", "--profile", "none",
            "--record", str(path), "--json", "--quiet"]  # fmt: skip
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["recording"] == str(path)
    report = import_bag(
        path, "cartpole_swingup", TransitionStore(tmp_path / "s"), log_summary=False
    )
    assert report.episodes == 2 and report.transitions == sum(summary["returns"] and [200, 200])
    assert main(argv) == 2  # never replaces a recording
    assert "already exists" in capsys.readouterr().err


def test_a_failing_run_publishes_finished_episodes_only(tmp_path: Path) -> None:
    env = mbrl_sim.make_env("cartpole_swingup", profile="none", seed=0)
    calls = iter(range(250))

    def policy(obs: np.ndarray, goal: np.ndarray) -> np.ndarray:
        if next(calls) == 240:  # in the second episode
            raise RuntimeError("planner crashed")
        return np.zeros(1, np.float32)

    path = tmp_path / "r.mcap"
    with pytest.raises(RuntimeError), EpisodeRecorder(path) as recorder:
        for i in range(2):
            run_episode(env, policy, seed=i, observers=[recorder])
    _, msgs = _rosbags_read(path)
    assert len(msgs["/episode_start"]) == 1 and len(msgs["/joint_states"]) == 201

    nothing = tmp_path / "none.mcap"
    with pytest.raises(RuntimeError), EpisodeRecorder(nothing):
        raise RuntimeError("planner failed to load")
    assert list(tmp_path.glob("none.mcap*")) == []
    env.close()


def test_plans_recorded_at_the_state_they_start_from(tmp_path: Path) -> None:
    """A plan source (here: arrays shaped like the planner graph's outputs) is recorded as
    the controller's ~/plan and ~/plan_markers, one of each per step, in the base frame."""
    from mbrl_control.recording.plan_messages import Plan

    env = mbrl_sim.make_env("cartpole_swingup", profile="none", seed=0)
    horizon, members = 5, 3
    rng = np.random.default_rng(0)

    def plan() -> Plan:
        names, q, _, _ = env.unwrapped.joint_state()
        return Plan(
            joint_names=tuple(names),
            positions=np.tile(q, (horizon, 1)),
            paths=rng.normal(size=(members, horizon + 1, 3)),
            dt=0.02,
            frame_id="rail",
        )

    path = tmp_path / "plans.mcap"
    with EpisodeRecorder(path, plan=plan) as recorder:
        result = run_episode(env, lambda o, g: np.zeros(1, np.float32), seed=0,
                             observers=[recorder])  # fmt: skip
    env.close()
    types, msgs = _rosbags_read(path)
    assert types["/mpc_controller/plan"] == "trajectory_msgs/msg/JointTrajectory"
    assert types["/mpc_controller/plan_markers"] == "visualization_msgs/msg/MarkerArray"
    plans, markers = msgs["/mpc_controller/plan"], msgs["/mpc_controller/plan_markers"]
    assert len(plans) == len(markers) == result["steps"]
    assert {len(p.points) for p in plans} == {horizon}
    assert {len(m.markers) for m in markers} == {members + 1}
    assert {m.header.frame_id for a in markers for m in a.markers} == {"rail"}
    states = [m.header.stamp for m in msgs["/joint_states"]]
    assert [p.header.stamp for p in plans] == states[:-1]  # each from the state it answers
    schemas, decoded = _mcap_read(path)
    assert schemas["/mpc_controller/plan_markers"][1] == "ros2msg"
    assert len(decoded["/mpc_controller/plan_markers"]) == result["steps"]
