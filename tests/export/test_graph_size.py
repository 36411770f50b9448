"""The small real-time planner graph stays small, and the agent's folded parts are its parts.

onnxruntime costs about a microsecond per graph node before any arithmetic (docs/
value_bootstrapping.md, "Fewer graph nodes"), so the node count of the ``cartpole-fast``
graph (+ learned value + policy prior) is held under a bound. The count is taken on the file
as written (before onnxruntime's optimizations, whose fusions depend on the CPU), which is
deterministic for a given torch exporter.
"""

import numpy as np
import onnx
import torch

from mbrl_control.agents.sac import SAC
from mbrl_control.agents.value import planner_parts
from mbrl_control.export.folded_agent import (
    FoldedPolicy,
    FoldedValue,
    fast_policy,
    fast_value,
)
from mbrl_control.export.onnx_export import export_planner
from mbrl_control.models.config import EnsembleConfig
from mbrl_control.models.ensemble import Ensemble
from mbrl_control.planning.presets import planner_setup
from mbrl_control.tasks import get_task

FAST_NODES_MAX = 745
"""Nodes of the written cartpole-fast (+ value + prior) graph: 780 before the folded agent
parts and the comparison-free first best, 726 after; the margin absorbs exporter versions."""


def agent_with_normalizers(task, seed=0):
    torch.manual_seed(seed)
    agent = SAC(task.obs_dim, task.low, task.high)
    rows = torch.randn(256, task.obs_dim) * torch.linspace(0.5, 3.0, task.obs_dim) + 0.3
    agent.fit_normalizers(rows, torch.randn(256, task.act_dim))
    return agent


def test_cartpole_fast_graph_node_count(tmp_path):
    task = get_task("cartpole_swingup")
    _, sizes, cfg = planner_setup(task, "cartpole-fast")
    model = Ensemble(EnsembleConfig(obs_dim=task.obs_dim, act_dim=task.act_dim, **sizes)).eval()
    cfg, value, policy = planner_parts(cfg, agent_with_normalizers(task), 0.25)
    path = export_planner(model, task, cfg, tmp_path / "fast.onnx", value_fn=value, policy=policy)
    nodes = len(onnx.load(str(path)).graph.node)
    assert nodes <= FAST_NODES_MAX, f"cartpole-fast graph grew to {nodes} nodes"


def test_folded_value_and_policy_equal_the_agents():
    task = get_task("cartpole_swingup")
    _, value, policy = planner_parts(
        planner_setup(task, "cartpole-fast")[2], agent_with_normalizers(task), 0.25
    )
    folded_value, folded_policy = fast_value(value), fast_policy(policy)
    assert isinstance(folded_value, FoldedValue) and isinstance(folded_policy, FoldedPolicy)
    obs = torch.randn(64, task.obs_dim) * 2.0
    with torch.no_grad():
        np.testing.assert_allclose(folded_value(obs), value(obs), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(folded_policy(obs), policy(obs), rtol=1e-5, atol=1e-5)


def test_other_parts_are_left_as_they_are():
    def plain(x):
        return x.sum(-1)

    assert fast_value(plain) is plain and fast_policy(plain) is plain
    assert fast_value(None) is None and fast_policy(None) is None
