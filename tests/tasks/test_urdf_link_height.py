"""The link_height critic (uprightness): a point's height against a target, four kernels."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import yaml

from mbrl_control.tasks import TaskFileError, load_task_file

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "urdf"
ARM = FIXTURES / "fixture_arm" / "urdf" / "arm.urdf"
TASK = {
    "name": "arm_up",
    "robot": {"urdf": str(ARM)},
    "joints": [{"name": "yaw"}, {"name": "slide"}, {"name": "elbow"}],
    "command": {"interface": "effort", "joints": ["slide", "yaw"]},
    "actions": [{"name": "f"}, {"name": "tau"}],
    "control_rate": 50,
    "episode_steps": 10,
    "points": {"tip": {"link": "tip"}},
    "observation": [{"feature": "joint_positions"}, {"feature": "joint_velocities"}],
    "critics": [],
}
KERNELS = {
    "distance": lambda dz, scale: np.abs(dz),
    "squared": lambda dz, scale: dz**2,
    "saturating": lambda dz, scale: 1 - np.exp(-(dz**2) / scale**2),
    "below": lambda dz, scale: np.maximum(0.0, -dz) ** 2,
}


def load(tmp_path: Path, critics: list) -> object:
    data = copy.deepcopy(TASK)
    data["critics"] = critics
    path = tmp_path / "t.task.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_task_file(path)


def test_link_height_kernels(tmp_path, seeds):
    import torch

    critics = [
        {
            "name": k,
            "kind": "link_height",
            "point": "tip",
            "target": 0.35,
            "kernel": k,
            "scale": 0.2,
        }
        for k in KERNELS
    ]
    task = load(tmp_path, critics)
    rng = np.random.default_rng(seeds(41))
    q = rng.uniform(-1, 1, (50, 3)) * [3, 0.2, 2]
    obs = np.stack([task.obs_from_joints(x, np.zeros(3)) for x in q])
    z = np.stack([task._layout.points["tip"].numpy_point(x) for x in q])[:, 2]
    assert z.min() < 0.35 < z.max()  # both sides of the target (obs are float32)
    t = torch.as_tensor(obs, dtype=torch.float64)
    act = torch.zeros(len(q), 2, dtype=torch.float64)
    _, terms = task.score(t, act, t, torch.zeros(0, dtype=torch.float64))
    for i, (name, fn) in enumerate(KERNELS.items()):
        np.testing.assert_allclose(terms[i].numpy(), fn(z - 0.35, 0.2), atol=1e-6, err_msg=name)


def test_link_height_on_a_named_fk_point(tmp_path):
    """Uprightness of a cart-pole pole tip (a named FK model, not a URDF link): 0 upright."""
    import torch

    from mbrl_control.tasks import get_task

    data = copy.deepcopy(get_task("cartpole_swingup").definition)
    data["critics"] = [
        {"name": "up", "kind": "link_height", "point": "tip", "target": 0.6, "kernel": "below"}
    ]
    path = tmp_path / "c.task.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    task = load_task_file(path)
    obs = np.stack(
        [task.obs_from_joints(np.array([0.0, a]), np.zeros(2)) for a in (0.0, np.pi / 2, np.pi)]
    )
    t = torch.as_tensor(obs)
    _, terms = task.score(t, torch.zeros(3, 1), t, torch.zeros(0))
    np.testing.assert_allclose(terms[0].numpy(), [0.0, 0.36, 1.44], atol=1e-6)


@pytest.mark.parametrize(
    ("critic", "needle"),
    [
        ({"point": "tip"}, r"missing required key\(s\) \['target'\]"),
        ({"point": "tip", "target": 0.1, "kernel": "above"}, r"kernel='above'; allowed"),
        ({"point": "hand", "target": 0.1}, r"point='hand'; allowed \(points\): \['tip'\]"),
        ({"point": "tip", "target": 0.1, "scale": 0}, r"scale=0 outside"),
    ],
)
def test_link_height_bad_keys(tmp_path, critic, needle):
    with pytest.raises(TaskFileError, match=needle):
        load(tmp_path, [{"name": "h", "kind": "link_height", **critic}])


def test_docs_list_every_critic_kind():
    from mbrl_control.tasks.critics import CRITIC_KINDS

    docs = (Path(__file__).resolve().parents[2] / "docs" / "task_files.md").read_text()
    table = docs[docs.index("### `critics[i]`") : docs.index("### `success[i]`")]
    assert [k for k in CRITIC_KINDS if f"| `{k}` |" not in table] == []
