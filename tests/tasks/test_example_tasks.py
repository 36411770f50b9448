"""The task files shipped under examples/ load, and the safety case's task is the built-in
cart-pole with only the rail moved in and a zero-weight margin critic (what
docs/uncertainty.md says about it)."""

from pathlib import Path

import numpy as np
import pytest

from mbrl_control.tasks import get_task

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").rglob("*.task.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: str(p.relative_to(ROOT / "examples")))
def test_example_task_files_load(path: Path) -> None:
    task = get_task(path)
    assert task.obs_dim > 0 and task.act_dim > 0
    assert len(task.critic_names) == len(task.default_weights)


def test_safety_case_task_differs_from_builtin_only_in_the_rail() -> None:
    builtin = get_task("cartpole_swingup")
    case = get_task(ROOT / "examples" / "safety_case" / "cartpole_rail1_margin.task.yaml")
    assert case.name == builtin.name and case.obs_dim == builtin.obs_dim
    assert case.critic_names == (*builtin.critic_names[:3], "rail_margin", builtin.critic_names[3])
    weights = dict(zip(case.critic_names, case.default_weights.tolist(), strict=True))
    assert weights["rail_margin"] == 0.0
    # Inside 0.6 m both tasks cost the same; between 1.0 and 2.0 m only the case's rail charges.
    act = np.zeros(1, np.float32)
    inside, between = (np.array([x, -1.0, 0.0, 0.0, 0.0], np.float32) for x in (0.3, 1.5))
    assert case.cost_np(inside, act, inside) == pytest.approx(builtin.cost_np(inside, act, inside))
    assert case.cost_np(between, act, between) > builtin.cost_np(between, act, between) + 0.1
