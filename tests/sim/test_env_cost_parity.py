"""The env's reward is the graph's cost: ``-reward`` of every step equals the task's torch cost
(the function traced into the planner graph) of that transition, for every critic kind the
shipped and example tasks use, evaluated by the env's compiled cost graph (mbrl_sim.step_cost:
straight-line Python from mbrl_sim.cost_program, or onnxruntime).

A cost graph is traced once per task fingerprint and process; a cached graph is checked
against torch on a probe batch before an env reuses it; an operator the Python translation
lacks falls back to onnxruntime, and a cost that cannot be traced faithfully to torch.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import mbrl_sim
import numpy as np
import pytest
import torch
from mbrl_sim import step_cost
from mbrl_sim.step_cost import StepCost

from mbrl_control import Critic, Task
from mbrl_control.tasks import get_task
from tests.tasks.history_tasks import cartpole_with_history

ROOT = Path(__file__).resolve().parents[2]
ACROBOT = ROOT / "examples" / "acrobot" / "acrobot_swingup.task.yaml"
ARM = Path(__file__).parent / "fixtures" / "two_link_arm.task.yaml"


def torch_cost(task: Task, obs, action, next_obs, goal) -> float:
    """The task's cost as the planner graph computes it (torch, default weights)."""
    with torch.inference_mode():
        rows = [torch.as_tensor(np.asarray(x, np.float32))[None] for x in (obs, action, next_obs)]
        g = torch.as_tensor(np.asarray(goal, np.float32))
        return float(task.cost(*rows, g, torch.as_tensor(task.default_weights)))


def check_episode(task, steps: int, seed: int = 0) -> None:
    """Step ``steps`` random actions (half of them out of bounds: the env clips) and compare
    every reward with the torch cost of the transition."""
    env = mbrl_sim.make_env(task, profile="default", seed=seed)
    try:
        t = env.unwrapped.task
        rng = np.random.default_rng(seed)
        obs, info = env.reset()
        goal = np.asarray(info["goal"], np.float32)
        for _ in range(steps):
            action = rng.uniform(1.5 * t.low, 1.5 * t.high).astype(np.float32)
            nxt, reward, _, _, info = env.step(action)
            want = torch_cost(t, obs, np.clip(action, t.low, t.high), nxt, goal)
            assert -reward == info["cost"]
            assert info["cost"] == pytest.approx(want, rel=1e-5, abs=1e-6)
            obs = nxt
        assert env.unwrapped._cost.backend == "python"  # the compiled graph did the work
    finally:
        env.close()


@pytest.mark.parametrize("task", ["cartpole_swingup", "panda_reach", ACROBOT, ARM])
def test_env_reward_is_the_tasks_torch_cost(task) -> None:
    check_episode(task, steps=60)


def test_env_reward_with_an_action_rate_critic(tmp_path: Path) -> None:
    """``action_rate`` reads the previous command from the ``last_actions`` block of obs."""
    check_episode(cartpole_with_history(tmp_path, steps=2, rate_weight=0.5), steps=40)


def test_rewards_repeat_bit_for_bit_with_the_seed() -> None:
    runs = []
    for _ in range(2):
        env = mbrl_sim.make_env("cartpole_swingup", seed=3)
        env.reset()
        a = np.linspace(-10, 10, 30, dtype=np.float32)
        runs.append([env.step(a[i : i + 1])[1] for i in range(30)])
        env.close()
    assert runs[0] == runs[1]


def test_every_backend_gives_the_same_rewards() -> None:
    rewards = {}
    for backend in step_cost.BACKENDS:
        env = mbrl_sim.make_env("panda_reach", seed=1, cost_backend=backend)
        env.reset()
        rewards[backend] = [env.step(np.full(7, 0.5, np.float32))[1] for _ in range(10)]
        assert env.unwrapped._cost.backend == backend
        env.close()
    for backend in ("python", "onnxruntime"):
        np.testing.assert_allclose(rewards[backend], rewards["torch"], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="cost backend='jax'; allowed"):
        mbrl_sim.make_env("panda_reach", cost_backend="jax")


def test_a_second_env_of_a_task_reuses_its_graph() -> None:
    task = get_task("cartpole_swingup")
    first = StepCost(task)
    o, a = np.zeros(5, np.float32), np.ones(1, np.float32)
    cost = first(o, a, o)
    cached = step_cost._CACHE[step_cost.fingerprint(task)]
    second = StepCost(get_task("cartpole_swingup"))
    assert second(o, a, o) == cost
    assert step_cost._CACHE[step_cost.fingerprint(task)] is cached  # not traced again


class Scaled(Task):
    """A Python task whose cost scale is not in its metadata: equal fingerprints for
    different costs (the probe must tell them apart)."""

    name = "scaled_test"
    obs_names = ("x", "v")
    action_names = ("u",)
    action_units = ("N",)
    action_low = (-1.0,)
    action_high = (1.0,)
    control_hz = 10.0
    episode_steps = 5

    def __init__(self, scale: float, untraceable: bool = False) -> None:
        self.scale, self.untraceable = scale, untraceable

    @property
    def critics(self) -> tuple[Critic, ...]:
        def position(f):
            x = f["next_obs"][..., 0]
            if self.untraceable:  # through Python numbers: a trace freezes them as constants
                return torch.as_tensor(x.tolist()).square()
            return self.scale * x.square()

        return (Critic("position", position, 1.0), Critic("u", lambda f: f["u"][..., 0], 0.1))

    def features(self, obs, action, next_obs, goal):
        return {"next_obs": next_obs, "u": action}


def test_a_cached_graph_of_another_cost_is_not_reused() -> None:
    one, three = Scaled(1.0), Scaled(3.0)
    assert step_cost.fingerprint(one) == step_cost.fingerprint(three)
    o, n, a = np.zeros(2, np.float32), np.array([2.0, 0.0], np.float32), np.zeros(1, np.float32)
    assert StepCost(one)(o, a, n) == pytest.approx(4.0)
    cost = StepCost(three)
    assert cost(o, a, n) == pytest.approx(12.0) and cost.backend == "python"


def test_an_untraceable_cost_falls_back_to_torch(caplog) -> None:
    task = Scaled(1.0, untraceable=True)
    task.name = "frozen_test"  # not the fingerprint of the traceable Scaled(1.0)
    cost = StepCost(task, weights=np.array([1.0, 0.0]))
    o, a = np.zeros(2, np.float32), np.zeros(1, np.float32)
    with caplog.at_level(logging.WARNING, logger="mbrl_sim.step_cost"):
        assert cost(o, a, np.array([2.0, 0.0], np.float32)) == pytest.approx(4.0)
    assert cost(o, a, np.array([-3.0, 0.0], np.float32)) == pytest.approx(9.0)
    assert cost.backend == "torch"
    assert "differs from torch on the probe batch" in caplog.text
    with pytest.raises(ValueError, match="weights: need 2 values, got 3"):
        StepCost(task, weights=np.ones(3))


def test_the_envs_uniform_draw_is_numpys_bit_for_bit() -> None:
    """The env draws its control jitter and push angles with a lean copy of
    ``Generator.uniform``: the same numbers, so episodes stay as they were for a seed."""
    from mbrl_sim.env import _uniform

    for low, high in ((0.95, 1.05), (0.9, 1.1), (0.0, 2 * np.pi)):
        a, b = np.random.default_rng(11), np.random.default_rng(11)
        assert [_uniform(a, low, high) for _ in range(5000)] == [
            b.uniform(low, high) for _ in range(5000)
        ]


class Kitchen(Task):
    """A cost through the operators the shipped critics do not use (matmul, where, trig,
    powers, max/min, mean, transpose, expand, reshape) and IEEE edge cases."""

    name = "kitchen_test"
    obs_names = ("a", "b", "c", "d")
    action_names = ("u", "v")
    action_units = ("N", "N")
    action_low = (-1.0, -1.0)
    action_high = (1.0, 1.0)
    control_hz = 10.0
    episode_steps = 5
    goal_dim = 2

    @property
    def critics(self) -> tuple[Critic, ...]:
        def mixed(f):
            x, u, g = f["next_obs"], f["action"], f["goal"]
            m = x.reshape(-1, 2, 2).transpose(1, 2)  # (B, 2, 2)
            y = (m @ u[..., None])[..., 0]  # (B, 2)
            z = torch.where(y > 0, y.cos(), y.sin().pow(2)) + g.expand_as(y).tanh()
            return torch.maximum(z, -z.abs()).mean(-1) + torch.minimum(x[..., 0], u[..., 1])

        def edges(f):
            x = f["next_obs"]
            return (x[..., 1] / (x[..., 2] - x[..., 2])).clamp(-5.0, 5.0) + x[..., 3].atan()

        return (Critic("mixed", mixed, 1.0), Critic("edges", edges, 0.5))

    def features(self, obs, action, next_obs, goal):
        return {"next_obs": next_obs, "action": action, "goal": goal}


def test_the_python_program_follows_torch_through_other_operators() -> None:
    from mbrl_sim.cost_program import compile_cost

    task = Kitchen()
    program = compile_cost(step_cost._trace(task))
    rng = np.random.default_rng(0)
    w = [1.0, 0.5]
    for _ in range(50):
        x = rng.normal(0, 2, 4).astype(np.float32)
        u = rng.uniform(-1, 1, 2).astype(np.float32)
        g = rng.normal(0, 1, 2).astype(np.float32)
        want = torch_cost(task, x, u, x, g)  # x / 0 clamped to ±5 (0 / 0: NaN)
        got = program(x.tolist(), u.tolist(), x.tolist(), g.tolist(), w)
        assert got == pytest.approx(want, rel=1e-5, abs=1e-6, nan_ok=True)
    nan = program([0.0] * 4, [0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0], w)
    assert np.isnan(nan) and np.isnan(torch_cost(task, np.zeros(4), np.zeros(2),
                                                 [0, 0, 1, 0], np.zeros(2)))  # fmt: skip


class Floored(Scaled):
    name = "floored_test"

    @property
    def critics(self) -> tuple[Critic, ...]:
        return (Critic("floor", lambda f: f["next_obs"][..., 0].floor().square(), 1.0),)


def test_an_operator_python_lacks_runs_in_onnxruntime(caplog) -> None:
    cost = StepCost(Floored(1.0))
    o, a = np.zeros(2, np.float32), np.zeros(1, np.float32)
    with caplog.at_level(logging.WARNING, logger="mbrl_sim.step_cost"):
        assert cost(o, a, np.array([2.5, 0.0], np.float32)) == pytest.approx(4.0)
    assert cost.backend == "onnxruntime"
    assert "python cannot run the cost graph (operator Floor)" in caplog.text


def test_bench_sim_compares_the_backends_in_one_run(capsys) -> None:
    """``mbrl-control bench sim --compare``: every backend measured in the same rounds (JSON;
    no timing is asserted, only that the numbers are there and consistent)."""
    from mbrl_control.cli import main

    argv = ["bench", "sim", "--steps", "60", "--rounds", "2", "--workers", "1", "--compare"]
    assert main([*argv, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["cost_backend"] == "python" and out["substeps"] == 4 and out["rounds"] == 2
    assert len(out["load_avg_1min_before_after"]) == 2
    for b in step_cost.BACKENDS:
        assert out[f"{b}_cost_us_per_step"] > 0
    for b in ("onnxruntime", "torch"):
        other = out[f"compare_{b}"]
        assert other["env_control_steps_per_s_1_worker"] > 0
        assert other["speedup_of_python"] > 0 and other["cpu_speedup_of_python"] > 0
    split = out["env_cpu_us_split"]
    assert split["physics"] > 0 and split["cost"] == out["python_cost_us_per_step"]
    assert out["per_cpu_second"]["env_control_steps_1_worker"] > 0
    # one worker: no worker scaling reported (it was a second 1-process run named "1_workers")
    assert "env_control_steps_per_s_1_workers" not in out and "worker_speedup" not in out


def test_casts_and_empty_inputs_in_the_python_program() -> None:
    """Casts to bool and of constants to integers translate; an input-dependent integer cast
    (truncation) is refused, so that graph runs in onnxruntime; a 0-size input is fine."""
    from mbrl_sim.cost_program import Unsupported, compile_cost
    from onnx import TensorProto, helper

    def graph(to: int) -> bytes:
        nodes = [
            helper.make_node("Gather", ["next_obs", "i"], ["x"], axis=1),
            helper.make_node("Cast", ["x"], ["c"], to=to),
            helper.make_node("Cast", ["c"], ["f"], to=TensorProto.FLOAT),
            helper.make_node("Mul", ["f", "x"], ["cost"]),
        ]
        g = helper.make_graph(
            nodes,
            "g",
            [
                helper.make_tensor_value_info("next_obs", TensorProto.FLOAT, [1, 2]),
                helper.make_tensor_value_info("goal", TensorProto.FLOAT, [0]),
            ],
            [helper.make_tensor_value_info("cost", TensorProto.FLOAT, [1])],
            [helper.make_tensor("i", TensorProto.INT64, [1], [1])],
        )
        return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()

    program = compile_cost(graph(TensorProto.BOOL))
    assert program([], [], [5.0, 3.0], [], []) == 3.0  # (3 != 0) * 3
    assert program([], [], [5.0, 0.0], [], []) == 0.0
    with pytest.raises(Unsupported, match="Cast of an input-dependent value to type 7"):
        compile_cost(graph(TensorProto.INT64))


class Unbounded(Scaled):
    name = "unbounded_test"
    action_low, action_high = (-np.inf,), (np.inf,)


def test_a_task_with_unbounded_actions_is_probed_and_compiled() -> None:
    cost = StepCost(Unbounded(2.0))
    o, n = np.zeros(2, np.float32), np.array([1.0, 0.0], np.float32)
    assert cost(o, np.array([30.0], np.float32), n) == pytest.approx(2.0 + 3.0)
    assert cost.backend == "python"
