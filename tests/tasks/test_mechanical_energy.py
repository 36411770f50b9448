"""The ``mechanical_energy`` critic: kinetic and potential energy from the URDF's inertials, in
numpy and torch, against PyBullet (T = ½ q̇ᵀ M(q) q̇ from its mass matrix, V from its link
centres of mass); the critic's value, refusals, travel without the URDF and ONNX export."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from mbrl_control.tasks import TaskFileError, load_task_file
from mbrl_control.tasks.portable import task_from_metadata
from mbrl_control.tasks.robot_description import load_robot_description
from mbrl_control.tasks.urdf_dynamics import MassLink, numpy_energy, torch_energy

ROOT = Path(__file__).resolve().parents[2]
ACROBOT_TASK = ROOT / "examples" / "acrobot" / "acrobot_swingup.task.yaml"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "urdf"
ENERGY_ARM = FIXTURES / "energy_arm" / "energy_arm.urdf"
RTOL = 1e-5
G = 9.81

ACROBOT_ENERGY = {
    "name": "energy",
    "kind": "mechanical_energy",
    "target_position": [3.14159, 0.0],
}

# a 3-D arm: tilted prismatic slide, revolute shoulder, continuous wrist (cos/sin observed),
# a massive link behind a fixed joint, a prismatic finger mimicking the slide; on a base pose
ARM_TASK = {
    "name": "energy_arm",
    "robot": {
        "urdf": str(ENERGY_ARM),
        "base_pose": {"xyz": [0.2, -0.1, 0.4], "rpy": [0.1, -0.2, 0.6]},
    },
    "joints": [{"name": "slide"}, {"name": "shoulder"}, {"name": "wrist"}],
    "command": {"interface": "effort", "joints": ["shoulder", "wrist"]},
    "actions": [{"name": "tau_shoulder"}, {"name": "tau_wrist"}],
    "control_rate": 50,
    "episode_steps": 10,
    "observation": [{"feature": "joint_positions"}, {"feature": "joint_velocities"}],
    "critics": [
        {
            "name": "energy",
            "kind": "mechanical_energy",
            "target_position": [0.1, 1.2, -0.5],
        }
    ],
}
ARM_MIMIC = {"finger": ("slide", -0.5, 0.02)}


def states(names, q, qd) -> tuple[dict[str, float], dict[str, float]]:
    return dict(zip(names, q)), dict(zip(names, qd))


def arm_positions(rng, n: int) -> np.ndarray:
    """(n, 3) slide, shoulder, wrist positions within the arm's ranges (wrist: several turns)."""
    return np.stack(
        [rng.uniform(-0.5, 0.5, n), rng.uniform(-2.5, 2.5, n), rng.uniform(-6, 6, n)], -1
    )


def write(tmp_path: Path, data: dict, name: str = "t.task.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def acrobot_task(tmp_path: Path, critic: dict | None = None):
    """The acrobot task file with only a mechanical_energy critic (copied beside its URDF)."""
    data = yaml.safe_load(ACROBOT_TASK.read_text())
    data["critics"] = [critic or dict(ACROBOT_ENERGY)]
    shutil.copy(ACROBOT_TASK.parent / "acrobot.urdf", tmp_path / "acrobot.urdf")
    return load_task_file(write(tmp_path, data))


def energy_links(task, critic: int = 0) -> list[MassLink]:
    entry = task.definition["critics"][critic]
    return [
        MassLink.from_data(e, f"links[{i}]", task.joint_names) for i, e in enumerate(entry["links"])
    ]


class Bullet:
    """The task's robot in PyBullet (inertias from the URDF), at its base pose."""

    def __init__(self, task, folder: Path, mimic: dict) -> None:
        import pybullet as pb

        self.pb, self.mimic = pb, mimic
        self.cid = pb.connect(pb.DIRECT)
        xyz, rpy = task.base_pose
        self.body = pb.loadURDF(
            str(load_robot_description(task).write(folder)),
            list(xyz),
            pb.getQuaternionFromEuler(list(rpy)),
            useFixedBase=True,
            flags=pb.URDF_USE_INERTIA_FROM_FILE,
            physicsClientId=self.cid,
        )
        n = pb.getNumJoints(self.body, physicsClientId=self.cid)
        info = [pb.getJointInfo(self.body, i, physicsClientId=self.cid) for i in range(n)]
        self.dofs = [i[1].decode() for i in info if i[2] != pb.JOINT_FIXED]  # in index order
        self.index = {i[1].decode(): i[0] for i in info}
        self.masses = [
            pb.getDynamicsInfo(self.body, i, physicsClientId=self.cid)[0] for i in range(n)
        ]

    def full(self, q: dict[str, float], qd: dict[str, float]) -> tuple[list, list]:
        """Positions and velocities of every PyBullet DOF (mimic joints follow their parent)."""
        pos, vel = dict(q), dict(qd)
        for name, (parent, mult, off) in self.mimic.items():
            pos[name] = mult * q[parent] + off
            vel[name] = mult * qd[parent]
        return [pos[n] for n in self.dofs], [vel[n] for n in self.dofs]

    def energy(self, q: dict[str, float], qd: dict[str, float]) -> tuple[float, float]:
        pb = self.pb
        pos, vel = self.full(q, qd)
        for name, x in zip(self.dofs, pos):
            pb.resetJointState(self.body, self.index[name], x, physicsClientId=self.cid)
        mass = np.array(pb.calculateMassMatrix(self.body, pos, physicsClientId=self.cid))
        kinetic = 0.5 * np.asarray(vel) @ mass @ np.asarray(vel)
        potential = 0.0
        for i, m in enumerate(self.masses):
            state = pb.getLinkState(
                self.body, i, computeForwardKinematics=True, physicsClientId=self.cid
            )
            potential += m * G * state[0][2]
        return float(kinetic), float(potential)

    def close(self) -> None:
        self.pb.disconnect(self.cid)


def torch_energies(task, links, q: np.ndarray, qd: np.ndarray) -> tuple[np.ndarray, ...]:
    import torch

    # float32 observations would lose the last bits: build them in float64
    obs = torch.as_tensor(np.stack([_obs64(task, a, b) for a, b in zip(q, qd)]))
    f = task.features(obs, torch.zeros(len(q), task.act_dim, dtype=obs.dtype), obs, None)
    vel = {j: obs[..., task._layout.vel[j]] for j in task.joint_names}
    kinetic, potential = torch_energy(
        links, {j: f.joint(j) for j in task.joint_names}, vel, G, task._base
    )
    return kinetic.numpy(), potential.numpy()


def _obs64(task, q: np.ndarray, qd: np.ndarray) -> np.ndarray:
    """The observation in float64 (joint quantities only: these tasks observe no points)."""
    lay = task._layout
    out = np.zeros(len(task.obs_names))
    for k, name in enumerate(task.joint_names):
        if name in lay.cos:
            out[lay.cos[name]], out[lay.sin[name]] = np.cos(q[k]), np.sin(q[k])
        if name in lay.pos:
            out[lay.pos[name]] = q[k]
        out[lay.vel[name]] = qd[k]
    return out


def check_against_pybullet(task, tmp_path, q, qd, mimic) -> None:
    links = energy_links(task)
    names = task.joint_names
    sim = Bullet(task, tmp_path, mimic)
    try:
        want = np.array([sim.energy(*states(names, a, b)) for a, b in zip(q, qd)])
    finally:
        sim.close()
    # PyBullet's V includes links no joint moves (constant): compare V up to that constant
    still = want[:, 1] - np.array(
        [numpy_energy(links, *states(names, a, b), G, task._base)[1] for a, b in zip(q, qd)]
    )
    np.testing.assert_allclose(still, still[0], atol=1e-9)
    got = np.array(
        [numpy_energy(links, *states(names, a, b), G, task._base) for a, b in zip(q, qd)]
    )
    got[:, 1] += still[0]
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=1e-9)
    kinetic, potential = torch_energies(task, links, q, qd)
    np.testing.assert_allclose(kinetic, want[:, 0], rtol=RTOL, atol=1e-9)
    np.testing.assert_allclose(potential + still[0], want[:, 1], rtol=RTOL, atol=1e-9)
    assert (want[:, 0] > 1e-3).all()  # the velocities really move every link


def test_acrobot_energy_matches_pybullet(tmp_path, seeds):
    task = acrobot_task(tmp_path)
    rng = np.random.default_rng(seeds(61))
    q = rng.uniform(-np.pi, np.pi, (30, 2))
    qd = rng.normal(0.0, 4.0, (30, 2))
    check_against_pybullet(task, tmp_path, q, qd, {})
    # Spong's acrobot upright at rest: V = m g (lc1) + m g (l1 + lc2) = 9.81 * (0.5 + 1.5)
    links = energy_links(task)
    up = numpy_energy(links, {"shoulder": np.pi, "elbow": 0.0}, {"shoulder": 0, "elbow": 0}, G)
    np.testing.assert_allclose(up, (0.0, 2.0 * G), atol=1e-12)


def test_3d_arm_energy_matches_pybullet(tmp_path, seeds):
    """Rotated COM frames, full inertia tensors, prismatic and mimic joints, a base pose."""
    task = load_task_file(write(tmp_path, ARM_TASK))
    assert [b["link"] for b in task.definition["critics"][0]["links"]] == [
        "carriage",
        "upper",
        "motor",
        "hand",
        "fingertip",
    ]
    rng = np.random.default_rng(seeds(62))
    n = 30
    q = arm_positions(rng, n)
    qd = rng.normal(0.0, 2.0, (n, 3))
    check_against_pybullet(task, tmp_path, q, qd, ARM_MIMIC)


def test_critic_value_defaults_and_travel_without_the_urdf(tmp_path, seeds):
    """((T + V - E_target) / scale)² with the default scale |V(target) - V(0)|, equal after the
    task is rebuilt from its metadata with the URDF gone."""
    import torch

    shutil.copytree(FIXTURES / "energy_arm", tmp_path / "energy_arm")
    data = copy.deepcopy(ARM_TASK)
    data["robot"]["urdf"] = "energy_arm/energy_arm.urdf"
    task = load_task_file(write(tmp_path, data))
    links = energy_links(task)
    names = task.joint_names
    zero = dict.fromkeys(names, 0.0)
    target = dict(zip(names, ARM_TASK["critics"][0]["target_position"]))
    e_target = numpy_energy(links, target, zero, G, task._base)[1]
    scale = abs(e_target - numpy_energy(links, zero, zero, G, task._base)[1])
    rng = np.random.default_rng(seeds(63))
    q = arm_positions(rng, 8)
    qd = rng.normal(0.0, 2.0, (8, 3))
    want = np.array(
        [
            ((sum(numpy_energy(links, *states(names, a, b), G, task._base)) - e_target) / scale)
            ** 2
            for a, b in zip(q, qd)
        ]
    )
    obs = torch.as_tensor(np.stack([_obs64(task, a, b) for a, b in zip(q, qd)]))
    act = torch.zeros(len(q), task.act_dim, dtype=obs.dtype)

    def terms(t) -> np.ndarray:
        return t.critics[0].fn(t.features(obs, act, obs, None)).numpy()

    np.testing.assert_allclose(terms(task), want, rtol=1e-9)
    meta = task.metadata()
    shutil.rmtree(tmp_path / "energy_arm")
    rebuilt = task_from_metadata(meta)
    np.testing.assert_allclose(terms(rebuilt), want, rtol=1e-12)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d["observation"].pop(1),
            r"critics\[0\].joints: joint 'slide' velocity is not observed",
        ),
        (
            lambda d: d["observation"].__setitem__(
                0, {"feature": "joint_positions", "joints": ["slide", "shoulder"]}
            ),
            r"critics\[0\].joints: joint 'wrist' position is not observed",
        ),
        (
            lambda d: d["critics"][0].update(scale=0.0),
            r"critics\[0\].scale=0.0 outside the allowed range \(0.0",
        ),
        (
            lambda d: d["critics"][0].update(target_position=[0.0, 0.0, 0.0]),
            r"critics\[0\].scale: the default \|V\(target_position\) - V\(0\)\| is 0",
        ),
        (
            lambda d: d["critics"][0].update(joints=["wrist"], target_position=[0.0]),
            r"critics\[0\].joints: joint\(s\) \['slide', 'shoulder'\] also move link 'hand'",
        ),
        (
            lambda d: d["critics"][0].update(target_position=[0.0, 1.0]),
            r"critics\[0\].target_position: expected 3 entries, got 2",
        ),
    ],
)
def test_refusals_name_the_key(tmp_path, change, message):
    data = copy.deepcopy(ARM_TASK)
    change(data)
    with pytest.raises(TaskFileError, match=message):
        load_task_file(write(tmp_path, data))


def test_refused_without_urdf_or_massive_links(tmp_path):
    data = copy.deepcopy(ARM_TASK)
    data["robot"] = {}
    data["joints"] = [
        {"name": "slide", "type": "prismatic", "position_range": [-0.5, 0.5]},
        {"name": "shoulder", "type": "revolute", "position_range": [-2.5, 2.5]},
        {"name": "wrist", "type": "continuous"},
    ]
    data["actions"] = [{"name": n, "low": -1, "high": 1} for n in ("a", "b")]
    with pytest.raises(TaskFileError, match=r"critics\[0\]: mechanical_energy needs robot.urdf"):
        load_task_file(write(tmp_path, data))
    massless = ENERGY_ARM.read_text()
    for value in ("1.3", "0.9", "0.3", "0.5", "0.2"):
        massless = massless.replace(f'<mass value="{value}"/>', '<mass value="0"/>')
    (tmp_path / "massless.urdf").write_text(massless)
    data = copy.deepcopy(ARM_TASK)
    data["robot"] = {"urdf": "massless.urdf"}
    with pytest.raises(TaskFileError, match=r"critics\[0\]: no link with mass is moved by"):
        load_task_file(write(tmp_path, data))


def test_bad_inertial_origin_is_one_line(tmp_path):
    bad = ENERGY_ARM.read_text().replace('rpy="1.0 0.4 -0.6"', 'rpy="1.0 0.4"')
    (tmp_path / "bad.urdf").write_text(bad)
    data = copy.deepcopy(ARM_TASK)
    data["robot"] = {"urdf": "bad.urdf"}
    with pytest.raises(TaskFileError, match=r"critics\[0\]: the URDF bad.urdf: link 'upper': "):
        load_task_file(write(tmp_path, data))


def test_onnx_export_matches_torch(tmp_path, seeds):
    """The critic inside an ONNX graph (float32, batched) agrees with torch (onnxruntime)."""
    import onnxruntime as ort
    import torch

    task = load_task_file(write(tmp_path, ARM_TASK))

    class Cost(torch.nn.Module):
        def forward(self, obs: torch.Tensor) -> torch.Tensor:
            action = obs[..., : task.act_dim]  # unused by this critic
            return task.critics[0].fn(task.features(obs, action, obs, None))

    rng = np.random.default_rng(seeds(64))
    q = arm_positions(rng, 64)
    obs = np.stack([task.obs_from_joints(a, b) for a, b in zip(q, rng.normal(0, 2, (64, 3)))])
    path = tmp_path / "cost.onnx"
    torch.onnx.export(
        Cost(),
        (torch.as_tensor(obs[:2]),),
        str(path),
        input_names=["obs"],
        output_names=["cost"],
        dynamic_axes={"obs": {0: "b"}, "cost": {0: "b"}},
        opset_version=17,
        dynamo=False,
    )
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = sess.run(None, {"obs": obs})
    want = Cost()(torch.as_tensor(obs)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
    assert np.ptp(want) > 1e-2


def test_acrobot_planner_file_carries_the_critic(tmp_path, seeds):
    """The shipped acrobot task (energy critic) exported as a planner: onnxruntime plans the
    same actions as torch, and the task rebuilt from the file's metadata alone (URDF gone)
    costs transitions exactly like the loaded one."""
    import torch

    from mbrl_control import OnnxPlanner, build_planner
    from mbrl_control.export.onnx_export import export_planner
    from mbrl_control.models.config import EnsembleConfig
    from mbrl_control.models.ensemble import Ensemble
    from mbrl_control.planning.config import PlannerConfig

    shutil.copy(ACROBOT_TASK, tmp_path / ACROBOT_TASK.name)
    shutil.copy(ACROBOT_TASK.parent / "acrobot.urdf", tmp_path / "acrobot.urdf")
    task = load_task_file(tmp_path / ACROBOT_TASK.name)
    assert "mechanical_energy" in [c["kind"] for c in task.definition["critics"]]
    torch.manual_seed(seeds(65))
    model = Ensemble(EnsembleConfig(task.obs_dim, task.act_dim, members=2, hidden=16, layers=2))
    cfg = PlannerConfig(kind="icem", horizon=5, population=32, particles=2, iterations=1)
    path = export_planner(model, task, cfg, tmp_path / "p.onnx")
    (tmp_path / "acrobot.urdf").unlink()
    onnx_planner = OnnxPlanner(path, seed=seeds(66))
    torch_planner = build_planner(model, task, cfg, seed=seeds(66))
    rng = np.random.default_rng(seeds(67))
    for q, qd in zip(rng.uniform(-3, 3, (3, 2)), rng.normal(0, 2, (3, 2))):
        obs = task.obs_from_joints(q, qd)
        np.testing.assert_allclose(torch_planner.act(obs), onnx_planner.act(obs), atol=1e-4)
    rebuilt = task_from_metadata(onnx_planner.metadata)
    q = rng.uniform(-3, 3, (16, 2))
    obs = np.stack([task.obs_from_joints(a, b) for a, b in zip(q, rng.normal(0, 3, q.shape))])
    obs = torch.as_tensor(obs, dtype=torch.float64)
    act = torch.as_tensor(rng.uniform(-2, 2, (16, 1)))

    def costs(t) -> np.ndarray:
        return np.stack([c.fn(t.features(obs, act, obs, None)).numpy() for c in t.critics])

    np.testing.assert_array_equal(costs(rebuilt), costs(task))
