"""Task files: validation errors name the key and the allowed values; a user's own task file
(no Python) loads through get_task and scores; the named kinematics agree numpy vs torch."""

from __future__ import annotations

import copy
import subprocess
import sys

import numpy as np
import pytest
import torch
import yaml

from mbrl_control.tasks import TaskFileError, builtin_task_files, get_task, load_task_file
from mbrl_control.tasks.kinematics import FK_MODELS, panda_forward_kinematics

# A pendulum on a cart that is not a built-in: an unbounded revolute pole (cos/sin observed),
# velocity commands, a fixed goal for the tip, and the library critics the built-ins do not use.
MY_TASK = {
    "name": "my_cart",
    "joints": [
        {"name": "cart", "type": "prismatic", "position_range": [-1.0, 1.0], "velocity_limit": 3},
        {"name": "pole", "type": "revolute"},
    ],
    "command": {"interface": "velocity", "joints": ["cart"]},
    "actions": [{"name": "cart_vel", "low": -2, "high": 2}],
    "control_rate": 25,
    "episode_steps": 50,
    "points": {"tip": {"fk": "cartpole_pole_tip", "joints": ["cart", "pole"], "length": 0.5}},
    "observation": [{"feature": "joint_positions"}, {"feature": "joint_velocities"}],
    "goal": {"kind": "fixed", "value": [0.0, 0.0, 0.5]},
    "critics": [
        {
            "name": "tip",
            "kind": "link_target",
            "point": "tip",
            "target": "goal",
            "kernel": "squared",
        },
        {"name": "home", "kind": "joint_target", "joints": ["cart"], "target": [0.25]},
        {"name": "still", "kind": "joint_velocity", "weight": 0.1},
        {"name": "limits", "kind": "joint_limit_barrier", "joints": ["cart"], "margin": 0.5},
        {
            "name": "box",
            "kind": "workspace",
            "point": "tip",
            "low": [-0.5, -1, 0],
            "high": [0.5, 1, 1],
        },
    ],
    "success": [{"kind": "obs_above", "name": "cos_pole", "value": 0.9}],
    "safe_action": [0.5],
    "initial_state": {"position": {"mean": [0.0, 3.0], "uniform": [0.5, 0.0]}},
}


def write(tmp_path, data, name="t.task.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return path


def edited(**changes):
    data = copy.deepcopy(MY_TASK)
    for key, value in changes.items():
        if value is None:
            data.pop(key)
        else:
            data[key] = value
    return data


def test_my_own_task_file_loads_and_scores(tmp_path):
    task = get_task(str(write(tmp_path, MY_TASK)))
    assert task.name == "my_cart" and task.goal_dim == 3
    assert task.obs_names == ("cart", "cos_pole", "sin_pole", "cart_dot", "pole_dot")
    assert task.action_units == ("m/s",)
    assert task.critic_names == ("tip", "home", "still", "limits", "box")
    np.testing.assert_allclose(task.safe_action, [0.5])
    obs = task.obs_from_joints(np.array([0.25, 0.0]), np.zeros(2))
    np.testing.assert_allclose(obs, [0.25, 1.0, 0.0, 0.0, 0.0], atol=1e-7)
    goal = task.sample_goal(np.random.default_rng(0))
    # upright tip at x=0.25 vs goal over x=0: tip 0.25² ; cart at its target; still; in range
    _, per = task.score(
        *(torch.as_tensor(x)[None] for x in (obs, [0.0], obs)), torch.as_tensor(goal)
    )
    np.testing.assert_allclose(per[:, 0].numpy(), [0.0625, 0.0, 0.0, 0.0, 0.0], atol=1e-6)
    edge = task.obs_from_joints(np.array([1.0, 0.0]), np.array([1.0, 2.0]))
    _, per = task.score(
        *(torch.as_tensor(x)[None] for x in (obs, [0.0], edge)), torch.as_tensor(goal)
    )
    # cart at the range end: 0.75² from home, barrier 1, tip 1.0 m along x: 0.5 m out of the box
    np.testing.assert_allclose(per[1:, 0].numpy(), [0.5625, 5.0, 1.0, 0.25], atol=1e-6)
    assert task.is_success(obs) and not task.is_success(task.obs_from_joints([0, 3.0], [0, 0]))
    q, v = task.sample_initial_state(np.random.default_rng(1))
    assert -0.5 <= q[0] <= 0.5 and q[1] == 3.0 and (v == 0).all()


def test_top_level_api_without_torch():
    code = (
        "import sys, mbrl_control as m\n"
        "from mbrl_control import Task, Critic, get_task, load_task_file, FileTask\n"
        "t = get_task('cartpole_swingup'); f = load_task_file(sys.argv[1])\n"
        "assert isinstance(f, Task) and isinstance(f, FileTask)\n"
        "assert type(f.critics[0]) is Critic\n"
        "f.obs_from_joint_state(['slider_to_cart', 'cart_to_pole'], [0, 0], [0, 0])\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    path = str(builtin_task_files()["panda_reach"]).replace("panda_reach", "cartpole_swingup")
    out = subprocess.run([sys.executable, "-c", code, path], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_missing_file_and_unknown_name(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"task file not found: .*nope\.yaml$"):
        get_task(str(tmp_path / "nope.yaml"))
    with pytest.raises(FileNotFoundError, match="a directory"):
        load_task_file(tmp_path)
    with pytest.raises(
        ValueError, match=r"allowed: \['cartpole_swingup', 'panda_reach'\] or a path"
    ):
        get_task("pendulum_v1")


BAD = [
    # (change to MY_TASK, expected message fragment)
    (dict(colour="red"), "task file: unknown key(s) ['colour']; allowed: ['actions',"),
    (dict(name=None), "task file: missing required key(s) ['name']"),
    (
        dict(command={"interface": "torque", "joints": ["cart"]}),
        "command.interface='torque'; allowed: ['effort', 'velocity', 'position']",
    ),
    (
        dict(command={"interface": "effort", "joints": ["wheel"]}),
        "command.joints[0]='wheel'; allowed: ['cart', 'pole']",
    ),
    (
        dict(actions=[{"name": "f", "low": -1, "high": 1, "unit": "N·m"}]),
        "actions[0].unit='N·m'; allowed: ['m/s']",
    ),
    (dict(actions=[{"name": "f", "low": 1, "high": -1}]), "actions[0]: need low < high"),
    (dict(actions=[]), "actions: expected 1 entries, got 0"),
    (dict(control_rate=0), "control_rate=0 outside the allowed range (0.0, inf]"),
    (dict(control_rate="fast"), "control_rate: expected a number, got 'fast'"),
    (dict(episode_steps=2.5), "episode_steps: expected an integer >= 1, got 2.5"),
    (
        dict(joints=[{"name": "cart", "type": "linear"}]),
        "joints[0].type='linear'; allowed: ['prismatic', 'revolute', 'continuous']",
    ),
    (
        dict(joints=[{"name": "p", "type": "continuous", "position_range": [-1, 1]}]),
        "joints[0].position_range: a continuous joint has no range",
    ),
    (
        dict(observation=[{"feature": "joint_torques"}]),
        "observation[0].feature='joint_torques'; allowed: ['joint_positions', 'joint_velocities',",
    ),
    (
        dict(observation=[{"feature": "joint_positions", "names": ["a"]}]),
        "observation[0].names: 3 entries needed (cart, cos_pole, sin_pole), got 1",
    ),
    (
        dict(observation=[{"feature": "link_position", "point": "elbow"}]),
        "observation[0].point='elbow'; allowed (points): ['tip']",
    ),
    (dict(points={"tip": {"fk": "ur5", "joints": []}}), "points.tip.fk='ur5'; allowed: ["),
    (
        dict(points={"tip": {"fk": "cartpole_pole_tip", "joints": ["cart", "pole"]}}),
        "points.tip: missing required key(s) ['length']",
    ),
    (
        dict(points={"tip": {"fk": "cartpole_pole_tip", "joints": ["pole", "cart"], "length": 1}}),
        "points.tip.joints: cartpole_pole_tip needs 'pole' to be prismatic",
    ),
    (dict(goal={"kind": "wish"}), "goal.kind='wish'; allowed: ['none', 'fixed', 'box', 'topic']"),
    (dict(goal={"kind": "box", "low": [1.0], "high": [0.0]}), "goal: need low <= high"),
    (dict(critics=[{"name": "c", "kind": "learned"}]), "critics[0].kind='learned'; allowed: ["),
    (
        dict(critics=[{"name": "c", "kind": "rail", "joints": ["cart"], "limit": 1, "gain": 2}]),
        "critics[0]: unknown key(s) ['gain']; allowed: ['joints', 'kind', 'limit', 'name', "
        "'weight']",
    ),
    (
        dict(critics=[{"name": "c", "kind": "rail", "joints": ["pole"], "limit": 1}]),
        "critics[0].joints: joint 'pole' is revolute, observed only as cos/sin",
    ),
    (
        dict(critics=[{"name": "c", "kind": "joint_velocity", "weight": -1}]),
        "critics[0].weight=-1 outside the allowed range [0.0, inf]",
    ),
    (
        dict(critics=[{"name": "c", "kind": "action_magnitude", "reduce": "max"}]),
        "critics[0].reduce='max'; allowed: ['sum', 'mean']",
    ),
    (
        dict(critics=[{"name": "c", "kind": "joint_velocity"}] * 2),
        "critics[*].name: duplicate name(s) ['c']",
    ),
    (
        dict(critics=[{"name": "c.d", "kind": "joint_velocity"}]),
        "critics[0].name='c.d': use letters, digits and _",
    ),
    (
        dict(success=[{"kind": "goal_within", "point": "tip", "radius": 0.1}]),
        "success[0].point='tip'; allowed (observed points): []",
    ),
    (
        dict(success=[{"kind": "obs_above", "name": "theta", "value": 0.9}]),
        "success[0].name='theta'; allowed: ['cart', 'cos_pole', 'sin_pole', 'cart_dot', "
        "'pole_dot']",
    ),
    (
        dict(
            critics=[
                {
                    "name": "c",
                    "kind": "workspace",
                    "point": "tip",
                    "low": [1, 0, 0],
                    "high": [0, 1, 1],
                }
            ]
        ),
        "critics[0]: need low <= high per axis",
    ),
    (dict(safe_action=[5.0]), "safe_action=[5.0] outside the action bounds"),
    (dict(safe_action="hold"), "safe_action='hold'; allowed: 'zero' or a list of 1 numbers"),
    (
        dict(initial_state={"position": {"normal": -1}}),
        "initial_state.position.normal[0]=-1 outside the allowed range [0.0, inf]",
    ),
    (
        dict(robot={"urdf": "r.urdf", "fixed_base": "yes"}),
        "robot.fixed_base='yes'; allowed: [true, false]",
    ),
]


@pytest.mark.parametrize(("change", "message"), BAD, ids=[m[:40] for _, m in BAD])
def test_bad_key_is_one_line_naming_key_and_allowed(tmp_path, change, message):
    path = write(tmp_path, edited(**change))
    with pytest.raises(TaskFileError) as err:
        load_task_file(path)
    text = str(err.value)
    assert "\n" not in text
    assert text.startswith(f"{path}: ")
    assert message in text, text


def test_not_yaml_and_not_a_mapping(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(TaskFileError, match=r"bad\.yaml: line \d+ not valid YAML"):
        load_task_file(bad)
    bad.write_text("- just a list\n")
    with pytest.raises(TaskFileError, match="task file: expected a mapping, got list"):
        load_task_file(bad)


def test_urdf_resolution(tmp_path):
    data = edited(robot={"urdf": "robot.urdf"})  # everything written: the URDF is not read at load
    data["joints"][1].update(
        position_range=[float("-inf"), float("inf")], velocity_limit=float("inf")
    )
    (tmp_path / "robot.urdf").write_text("<robot name='r'/>")
    task = load_task_file(write(tmp_path, data))
    assert task.urdf_path == tmp_path / "robot.urdf" and task.fixed_base
    data["robot"] = {"urdf": "missing.urdf"}
    task = load_task_file(write(tmp_path, data))
    with pytest.raises(FileNotFoundError, match=r"robot\.urdf: no such file"):
        _ = task.urdf_path
    assert load_task_file(builtin_task_files()["panda_reach"]).urdf_path.is_file()


def test_panda_fk_torch_matches_numpy(seeds):
    """The torch form of the named Panda kinematics (for points that are not observed)."""
    rng = np.random.default_rng(seeds(0))
    q = rng.uniform(-2.8, 2.8, (64, 7))
    want = np.stack([panda_forward_kinematics(x) for x in q])

    class J:
        def __init__(self, x):
            self.pos = torch.as_tensor(x, dtype=torch.float32)
            self.cos, self.sin = self.pos.cos(), self.pos.sin()

    got = FK_MODELS["panda_grasp_point"].torch_fn([J(q[:, i]) for i in range(7)], {})
    assert got.shape == (64, 3)
    np.testing.assert_allclose(got.numpy(), want, atol=2e-5)
