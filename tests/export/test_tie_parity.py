"""Exact cost ties (issue 13 item 11): torch and onnxruntime pick the same elites.

With every critic weight 0 every candidate costs exactly 0. ``torch.topk`` and ONNX ``TopK``
order equal values differently, so the two used to pick different elites and act
differently (CEM +2.86 vs -3.83). The planner graph now orders candidates by (cost, index)
itself (``planning.sampling.lowest``), so both run the same selection.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime")

from mbrl_control.export.onnx_export import export_planner
from mbrl_control.export.runtime import OnnxPlanner
from mbrl_control.models.config import EnsembleConfig
from mbrl_control.models.ensemble import Ensemble
from mbrl_control.planning.config import PlannerConfig
from mbrl_control.planning.planner import build_planner
from mbrl_control.tasks import get_task

BASE = {"horizon": 5, "population": 32, "particles": 2, "iterations": 3, "elite_frac": 0.25}
CONFIGS = {
    "cem": PlannerConfig(kind="cem", **BASE),
    "cem_best": PlannerConfig(kind="cem", return_mode="best", **BASE),
    "icem": PlannerConfig(kind="icem", keep_elites_frac=0.5, population_decay=1.25, **BASE),
    "mppi_best": PlannerConfig(kind="mppi", return_mode="best", **BASE),
    "shooting": PlannerConfig(**{**BASE, "kind": "shooting", "iterations": 1}),
}


def tiny_model(seed: int) -> Ensemble:
    with torch.random.fork_rng():  # (older Ensembles drew their init from the global RNG)
        torch.manual_seed(seed)
        return Ensemble(EnsembleConfig(5, 1, members=2, hidden=8, layers=2)).eval()


@pytest.mark.parametrize("name", list(CONFIGS))
def test_exact_ties_give_the_same_actions_in_torch_and_onnxruntime(name, seeds, tmp_path):
    """Five consecutive warm-started steps with all weights 0: actions agree within 1e-4."""
    task = get_task("cartpole_swingup")
    cfg = dataclasses.replace(CONFIGS[name], seed=seeds(31))
    model = tiny_model(seeds(32))
    path = export_planner(model, task, cfg, tmp_path / "p.onnx")
    zero = np.zeros_like(task.default_weights)
    torch_planner = build_planner(model, task, cfg)
    torch_planner.set_weights(zero)
    onnx_planner = OnnxPlanner(path, threads=1)
    onnx_planner.set_weights(zero)
    # the ONNX runtime draws its noise with numpy; feed the torch step the very same draws
    obs = np.random.default_rng(seeds(33)).normal(0, 0.5, (5, task.obs_dim)).astype(np.float32)
    goal = torch.zeros(task.goal_dim)
    carry = torch_planner.carry
    for t in range(5):
        noise = {k: torch.from_numpy(v.copy()) for k, v in onnx_planner._noise.items()}
        want, carry, info = torch_planner.step(
            torch.from_numpy(obs[t]), goal, carry, noise, torch.from_numpy(zero)
        )
        got = onnx_planner.act(obs[t])
        assert float(info["plan_cost"]) == 0.0  # a real tie: every candidate costs 0
        np.testing.assert_allclose(got, want.numpy(), atol=1e-4, err_msg=f"step {t}")
