"""Forward kinematics from the URDF (link points), numpy and torch, against PyBullet's link
poses; the point inside an ONNX graph agrees with onnxruntime."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from mbrl_control.tasks import TaskFileError, load_task_file
from mbrl_control.tasks.kinematics import panda_forward_kinematics
from mbrl_control.tasks.portable import task_from_metadata
from mbrl_control.tasks.robot_description import load_robot_description

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "urdf"
ARM = FIXTURES / "fixture_arm" / "urdf" / "arm.urdf"
TOL = 1e-5  # m
PANDA_JOINTS = [f"panda_joint{i}" for i in range(1, 8)]

PANDA_TASK = {
    "name": "panda_link_reach",
    "robot": {"urdf": "package://pybullet_data/franka_panda/panda.urdf"},
    "joints": [{"name": j} for j in PANDA_JOINTS],
    "command": {"interface": "velocity", "joints": PANDA_JOINTS},
    "actions": [{"name": f"qd{i}_cmd"} for i in range(1, 8)],
    "control_rate": 20,
    "episode_steps": 10,
    "points": {"ee": {"link": "panda_grasptarget"}},
    "observation": [
        {"feature": "joint_positions"},
        {"feature": "joint_velocities"},
        {"feature": "link_position", "point": "ee"},
    ],
    "goal": {"kind": "box", "low": [0.3, -0.3, 0.15], "high": [0.6, 0.3, 0.6]},
    "critics": [{"name": "goal", "kind": "link_target", "point": "ee", "target": "goal"}],
    "success": [{"kind": "goal_within", "point": "ee", "radius": 0.05}],
}

# the fixture arm (continuous yaw, prismatic slide, revolute elbow, wrist mimicking the elbow)
# on a base pose; the tip point is costed, not observed (torch FK from the joints in the graph)
ARM_TASK = {
    "name": "arm_tip",
    "robot": {"urdf": str(ARM), "base_pose": {"xyz": [0.3, -0.2, 0.5], "rpy": [0.2, -0.1, 0.7]}},
    "joints": [{"name": "yaw"}, {"name": "slide"}, {"name": "elbow"}],
    "command": {"interface": "effort", "joints": ["slide", "yaw"]},
    "actions": [{"name": "f"}, {"name": "tau"}],
    "control_rate": 50,
    "episode_steps": 10,
    "points": {"tip": {"link": "tip", "offset": [0.01, -0.02, 0.03]}, "l3": {"link": "link3"}},
    "observation": [{"feature": "joint_positions"}, {"feature": "joint_velocities"}],
    "critics": [
        {"name": "tip", "kind": "link_target", "point": "tip", "target": [0.5, 0, 0.8]},
        {"name": "l3", "kind": "workspace", "point": "l3", "low": [-1, -1, 0], "high": [1, 1, 2]},
    ],
}


def write(tmp_path: Path, data: dict, name: str = "t.task.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


class Bullet:
    """The task's robot loaded in PyBullet at its base pose (from the task's description)."""

    def __init__(self, task, folder: Path) -> None:
        import pybullet as pb

        self.pb = pb
        self.cid = pb.connect(pb.DIRECT)
        xyz, rpy = task.base_pose
        self.body = pb.loadURDF(
            str(load_robot_description(task).write(folder)),
            list(xyz),
            pb.getQuaternionFromEuler(list(rpy)),
            useFixedBase=True,
            physicsClientId=self.cid,
        )
        info = [
            pb.getJointInfo(self.body, i, physicsClientId=self.cid)
            for i in range(pb.getNumJoints(self.body, physicsClientId=self.cid))
        ]
        self.joint = {i[1].decode(): i[0] for i in info}
        self.link = {i[12].decode(): i[0] for i in info}

    def point(self, q: dict[str, float], link: str, offset=(0.0, 0.0, 0.0)) -> np.ndarray:
        pb = self.pb
        for name, value in q.items():
            pb.resetJointState(self.body, self.joint[name], value, physicsClientId=self.cid)
        state = pb.getLinkState(
            self.body, self.link[link], computeForwardKinematics=True, physicsClientId=self.cid
        )
        rot = np.array(pb.getMatrixFromQuaternion(state[5])).reshape(3, 3)
        return np.array(state[4]) + rot @ np.asarray(offset)

    def close(self) -> None:
        self.pb.disconnect(self.cid)


def torch_point(task, q: np.ndarray, point: str) -> np.ndarray:
    import torch

    obs = torch.as_tensor(
        np.stack([task.obs_from_joints(x, np.zeros_like(x)) for x in q]), dtype=torch.float64
    )
    act = torch.zeros(len(q), task.act_dim, dtype=torch.float64)
    goal = torch.zeros(task.goal_dim, dtype=torch.float64)
    return task.features(obs, act, obs, goal)[f"point:{point}"].numpy()


def test_panda_link_point_matches_pybullet_and_the_datasheet_model(tmp_path, seeds):
    task = load_task_file(write(tmp_path, PANDA_TASK))
    assert task.action_high == (2.175,) * 4 + (2.61,) * 3  # URDF velocity limits
    rng = np.random.default_rng(seeds(31))
    lo, hi, _ = task.joint_ranges
    q = rng.uniform(lo, hi, (20, 7))
    sim = Bullet(task, tmp_path)
    try:
        want = np.stack([sim.point(dict(zip(PANDA_JOINTS, x)), "panda_grasptarget") for x in q])
    finally:
        sim.close()
    got = np.stack([task.obs_from_joints(x, np.zeros(7))[-3:] for x in q])
    np.testing.assert_allclose(got, want, atol=TOL)
    np.testing.assert_allclose(np.stack([panda_forward_kinematics(x) for x in q]), want, atol=TOL)
    np.testing.assert_allclose(torch_point(task, q, "ee"), want, atol=TOL)


@pytest.mark.parametrize("elbow", ["revolute", "continuous"])
def test_fixture_chain_continuous_prismatic_mimic_base_pose(tmp_path, seeds, elbow):
    """Both cos/sin and raw observation of the mimicked elbow (atan2 in the torch path)."""
    data = copy.deepcopy(ARM_TASK)
    if elbow == "continuous":
        data["joints"][2] = {"name": "elbow", "type": "continuous"}
    task = load_task_file(write(tmp_path, data))
    rng = np.random.default_rng(seeds(32))
    q = np.stack([rng.uniform(-6, 6, 40), rng.uniform(-0.2, 0.3, 40), rng.uniform(-2, 2, 40)], -1)
    sim = Bullet(task, tmp_path)
    try:
        want_tip, want_l3 = [], []
        for yaw, slide, elb in q:
            joints = {"yaw": yaw, "slide": slide, "elbow": elb, "wrist": -0.5 * elb + 0.1}
            want_tip.append(sim.point(joints, "tip", (0.01, -0.02, 0.03)))
            want_l3.append(sim.point(joints, "link3"))
    finally:
        sim.close()
    tip = task._layout.points["tip"]
    np.testing.assert_allclose(np.stack([tip.numpy_point(x) for x in q]), want_tip, atol=TOL)
    np.testing.assert_allclose(torch_point(task, q, "tip"), want_tip, atol=TOL)
    np.testing.assert_allclose(torch_point(task, q, "l3"), np.stack(want_l3), atol=TOL)
    assert tip.joints == ("yaw", "slide", "elbow")


def test_chain_joint_the_task_does_not_read_is_refused(tmp_path):
    data = copy.deepcopy(ARM_TASK)
    data["joints"] = [{"name": "yaw"}, {"name": "slide"}]
    data["command"] = {"interface": "effort", "joints": ["slide"]}
    data["actions"] = [{"name": "f"}]
    with pytest.raises(TaskFileError) as e:
        load_task_file(write(tmp_path, data))
    msg = str(e.value)
    assert "points.tip: joint(s) ['elbow'] on the chain to link 'tip' are not read" in msg
    assert "add them to joints (or make them fixed joints in the URDF)" in msg


def test_unknown_link_and_link_point_without_urdf(tmp_path):
    data = copy.deepcopy(ARM_TASK)
    data["points"]["tip"] = {"offset": [0, 0, 0]}
    with pytest.raises(TaskFileError, match=r"points.tip: give link \(a URDF link, with robot"):
        load_task_file(write(tmp_path, data))
    data = copy.deepcopy(ARM_TASK)
    data["points"]["tip"]["link"] = "hand"
    with pytest.raises(TaskFileError, match=r"points.tip.link='hand': the URDF .* no such link"):
        load_task_file(write(tmp_path, data))
    data = copy.deepcopy(ARM_TASK)
    data["robot"] = {}
    data["joints"] = [
        {"name": "yaw", "type": "continuous"},
        {"name": "slide", "type": "prismatic"},
        {"name": "elbow", "type": "revolute"},
    ]
    data["actions"] = [{"name": "f", "low": -1, "high": 1}, {"name": "t", "low": -1, "high": 1}]
    with pytest.raises(TaskFileError, match=r"points.tip.link: a link point needs robot.urdf"):
        load_task_file(write(tmp_path, data))


def test_link_point_travels_without_the_urdf(tmp_path, seeds):
    shutil.copytree(FIXTURES / "fixture_arm", tmp_path / "fixture_arm")
    data = copy.deepcopy(ARM_TASK)
    data["robot"]["urdf"] = "fixture_arm/urdf/arm.urdf"
    data["observation"].append({"feature": "link_position", "point": "tip"})
    task = load_task_file(write(tmp_path, data))
    meta = task.metadata()
    shutil.rmtree(tmp_path / "fixture_arm")
    rebuilt = task_from_metadata(meta)
    q = np.random.default_rng(seeds(33)).uniform(-1, 1, (5, 3)) * [3, 0.2, 2]
    for x in q:
        np.testing.assert_array_equal(
            rebuilt.obs_from_joints(x, np.zeros(3)), task.obs_from_joints(x, np.zeros(3))
        )


def test_link_point_cost_exports_to_onnx_and_onnxruntime_agrees(tmp_path, seeds):
    """The task's cost (torch FK of two URDF points, a mimic joint, atan2 of a cos/sin joint)
    traced with the project's ONNX writer; onnxruntime gives the same per-critic terms."""
    ort = pytest.importorskip("onnxruntime")
    import torch

    from mbrl_control.export.onnx_export import write_graph

    data = copy.deepcopy(ARM_TASK)
    data["joints"][2] = {"name": "elbow", "type": "continuous"}
    task = load_task_file(write(tmp_path, data))

    class Cost(torch.nn.Module):
        input_names = ("action", "next_obs")
        output_names = ("total", "terms")

        def forward(self, action, next_obs):  # the critics read next_obs and the action
            return task.score(next_obs, action, next_obs, torch.zeros(0))

    rng = np.random.default_rng(seeds(34))
    q = rng.uniform(-1, 1, (64, 3)) * [3, 0.2, 2]
    obs = np.stack([task.obs_from_joints(x, rng.normal(size=3)) for x in q]).astype(np.float32)
    act = rng.uniform(-1, 1, (64, task.act_dim)).astype(np.float32)
    args = tuple(torch.as_tensor(a) for a in (act, obs))
    path = write_graph(Cost(), args, {"test": 1}, tmp_path / "cost.onnx")
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = {"action": act, "next_obs": obs}
    total, terms = sess.run(None, {i.name: feed[i.name] for i in sess.get_inputs()})
    want_total, want_terms = (t.numpy() for t in Cost()(*args))
    np.testing.assert_allclose(terms, want_terms, atol=1e-5)
    np.testing.assert_allclose(total, want_total, atol=1e-5)
    assert np.ptp(terms[0]) > 0.01  # the FK term really varies with the joints


def test_planner_with_link_point_exports_and_runs(tmp_path):
    """The project's export path: a tiny ensemble and iCEM over the Panda link-point task."""
    pytest.importorskip("onnxruntime")
    import torch

    from mbrl_control.export.onnx_export import export_planner
    from mbrl_control.export.runtime import OnnxPlanner
    from mbrl_control.models.config import EnsembleConfig
    from mbrl_control.models.ensemble import Ensemble
    from mbrl_control.planning.config import PlannerConfig

    task = load_task_file(write(tmp_path, PANDA_TASK))
    torch.manual_seed(0)
    model = Ensemble(EnsembleConfig(task.obs_dim, task.act_dim, members=2, hidden=16, layers=2))
    cfg = PlannerConfig(kind="icem", horizon=3, population=16, particles=2, iterations=1)
    path = export_planner(model, task, cfg, tmp_path / "planner.onnx", provenance={"test": 0})
    planner = OnnxPlanner(path)
    obs = task.obs_from_joints(np.zeros(7), np.zeros(7))
    action = planner.act(obs, goal=np.array([0.4, 0.0, 0.4], np.float32))
    assert action.shape == (7,) and np.isfinite(action).all()
    assert (np.abs(action) <= np.asarray(task.action_high) + 1e-6).all()
