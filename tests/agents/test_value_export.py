"""The agent inside the planner graph: terminal value and policy prior, torch <-> ORT parity,
and the policy-only ONNX file run without torch."""

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

ort = pytest.importorskip("onnxruntime")

from mbrl_control.agents.value import PolicyMean, TerminalValue  # noqa: E402
from mbrl_control.export.onnx_export import PlanStep, export_planner  # noqa: E402
from mbrl_control.export.policy_export import export_policy  # noqa: E402
from mbrl_control.models.config import EnsembleConfig  # noqa: E402
from mbrl_control.models.ensemble import Ensemble  # noqa: E402
from mbrl_control.planning.cem import cem_plan  # noqa: E402
from mbrl_control.planning.config import PlannerConfig  # noqa: E402
from mbrl_control.planning.rollout import Rollout  # noqa: E402
from mbrl_control.tasks import get_task  # noqa: E402

TASK = get_task("cartpole_swingup")
TINY = {
    "cem": PlannerConfig(kind="cem", horizon=4, population=16, particles=4, iterations=2,
                         elite_frac=0.25, return_mode="best", discount=0.9),
    "icem": PlannerConfig(kind="icem", horizon=4, population=16, particles=2, iterations=3,
                          elite_frac=0.25, keep_elites_frac=0.5, population_decay=1.5),
    "mppi": PlannerConfig(kind="mppi", horizon=4, population=16, particles=2, iterations=2,
                          smoothing=0.5, discount=0.95),
}  # fmt: skip


def tiny_ensemble() -> Ensemble:
    torch.manual_seed(0)
    model = Ensemble(EnsembleConfig(5, 1, members=2, hidden=8, layers=2))
    with torch.no_grad():
        model.in_norm.std.copy_(torch.linspace(0.5, 2.0, 6))
        model.out_norm.std.copy_(torch.linspace(0.2, 0.4, 5))
    return model.eval()


@pytest.mark.parametrize("kind", list(TINY))
def test_parity_with_value_and_prior(kind, agent, tmp_path):
    cfg = dataclasses.replace(TINY[kind], prior_frac=0.25, prior_std=0.2)
    model, value, policy = (
        tiny_ensemble(),
        TerminalValue(agent.value),
        PolicyMean(agent.actor),
    )
    path = export_planner(model, TASK, cfg, tmp_path / "p.onnx", value_fn=value, policy=policy)
    step = PlanStep(model, TASK, cfg, value_fn=value, policy=policy).eval()
    torch.manual_seed(1)
    args = (torch.randn(5) * 0.5, *step.example_inputs(TASK)[1:])
    with torch.no_grad():
        expected = [t.numpy() for t in step(*args)]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = {i.name for i in session.get_inputs()}
    feed = {n: a.numpy() for n, a in zip(step.input_names, args) if n in names}
    for name, e, g in zip(step.output_names, expected, session.run(step.output_names, feed)):
        np.testing.assert_allclose(g, e, atol=1e-4, rtol=1e-4, err_msg=name)
    assert (
        json.loads(session.get_modelmeta().custom_metadata_map["planner_config"])["prior_frac"]
        == 0.25
    )


def test_value_is_added_at_the_horizon_with_discount_power_h(agent):
    cfg = dataclasses.replace(TINY["cem"], propagation="mean", particles=2)
    value = TerminalValue(agent.value)
    with_value, without = (Rollout(tiny_ensemble(), TASK, cfg, v) for v in (value, None))
    obs, actions = torch.randn(5), torch.rand(6, 4, 1) * 20 - 10
    args = (obs, torch.zeros(0), torch.as_tensor(TASK.default_weights), torch.zeros(1), actions)
    with torch.no_grad():
        cost_v, cost_0 = with_value(*args)[0], without(*args)[0]
        state = obs[None].expand(6, 5)
        for t in range(4):  # mean propagation: the member mean of the same state
            mean, _ = with_value.model(state.expand(2, 6, 5), actions[:, t].expand(2, 6, 1))
            state = mean.mean(0)
        torch.testing.assert_close(cost_v - cost_0, 0.9**4 * value(state))


class SpyRollout(Rollout):
    """Records the candidates ``(N, H, A)`` of every call."""

    def __call__(self, *args):
        self.seen = [*getattr(self, "seen", []), args[4]]
        return super().__call__(*args)


def test_prior_puts_the_policy_plan_among_the_candidates(agent):
    cfg = dataclasses.replace(TINY["cem"], prior_frac=0.25)
    rollout = SpyRollout(tiny_ensemble(), TASK, cfg, policy=PolicyMean(agent.actor))
    obs, weights = torch.randn(5), torch.as_tensor(TASK.default_weights)
    carry, noise = {"plan": torch.zeros(4, 1)}, {"action_noise": torch.randn(2, 16, 4, 1)}
    with torch.no_grad():
        cem_plan(obs, torch.zeros(0), carry, noise, weights, rollout=rollout, cfg=cfg)
        plan = rollout.policy_plan(obs, torch.zeros(0))
    assert plan.shape == (4, 1) and len(rollout.seen) == 2
    for samples in rollout.seen:  # every iteration: row 0 is the plan, rows 1..3 around it
        torch.testing.assert_close(samples[0], plan)
        assert torch.all(samples[:4].abs() <= 10.0)
    with pytest.raises(ValueError, match="needs a policy"):
        Rollout(tiny_ensemble(), TASK, cfg)


def test_policy_only_onnx_runs_without_torch(agent, tmp_path):
    path = export_policy(
        PolicyMean(agent.actor), TASK, tmp_path / "policy.onnx", provenance={"a": 1}
    )
    obs = np.array([0.1, -1.0, 0.05, 0.2, -0.3], np.float32)
    with torch.no_grad():
        want = agent.actor.mean_action(torch.as_tensor(obs)[None])[0].numpy()
    script = (
        "import sys; sys.modules['torch'] = None\n"  # any torch import now fails
        "import numpy as np\n"
        "from mbrl_control.export.policy_runtime import OnnxPolicy\n"
        f"p = OnnxPolicy({str(path)!r}, expected_task='cartpole_swingup')\n"
        f"print(p.act(np.array({obs.tolist()}, np.float32))[0], p.probe().shape)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    got, shape = out.stdout.split(maxsplit=1)
    assert float(got) == pytest.approx(float(want[0]), abs=1e-4) and shape.strip() == "(1,)"


def test_policy_runtime_refuses_a_planner_file(agent, tmp_path):
    from mbrl_control.export.policy_runtime import OnnxPolicy

    path = export_planner(tiny_ensemble(), TASK, TINY["mppi"], tmp_path / "p.onnx")
    with pytest.raises(ValueError, match="not a policy file"):
        OnnxPolicy(path)
    policy = export_policy(PolicyMean(agent.actor), TASK, tmp_path / "pi.onnx")
    with pytest.raises(ValueError, match="expected 'panda_reach'"):
        OnnxPolicy(policy, expected_task="panda_reach")


def test_goal_task_policy_and_value_see_the_goal(tmp_path):
    """panda_reach: the policy file takes obs and goal; the planner's value gets (O+G) rows."""
    from mbrl_control.agents.sac import SAC
    from mbrl_control.export.policy_runtime import OnnxPolicy

    task = get_task("panda_reach")
    o, g = task.obs_dim, task.goal_dim
    torch.manual_seed(0)
    agent = SAC(o + g, task.low, task.high)
    path = export_policy(PolicyMean(agent.actor), task, tmp_path / "pi.onnx")
    obs = np.random.default_rng(0).normal(0, 0.3, o).astype(np.float32)
    goal = np.array([0.4, 0.1, 0.5], np.float32)
    with torch.no_grad():
        want = agent.actor.mean_action(torch.as_tensor(np.r_[obs, goal])[None])[0].numpy()
    got = OnnxPolicy(path, expected_task="panda_reach").act(obs, goal)
    np.testing.assert_allclose(got, want, atol=1e-5)

    seen = []
    model = Ensemble(EnsembleConfig(o, task.act_dim, members=2, hidden=8, layers=2)).eval()
    cfg = PlannerConfig(kind="cem", horizon=3, population=8, particles=2, iterations=1,
                        elite_frac=0.25)  # fmt: skip
    rollout = Rollout(model, task, cfg, value_fn=lambda x: seen.append(x) or x[:, 0])
    with torch.no_grad():
        rollout(torch.as_tensor(obs), torch.as_tensor(goal),
                torch.as_tensor(task.default_weights), torch.zeros(task.act_dim),
                torch.zeros(8, 3, task.act_dim))  # fmt: skip
    assert seen[0].shape == (16, o + g)
    torch.testing.assert_close(seen[0][:, o:], torch.as_tensor(goal).expand(16, g))
