"""Fixture files for CLI error tests: a tiny store, checkpoints, a planner, junk."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


def _store(root: Path, episodes: int, obs_dim: int = 5, seed: int = 0) -> None:
    """Episodes of a smooth random system, cart-pole shaped (obs 5, action 1)."""
    from mbrl_control.data.store import TransitionStore

    store = TransitionStore(root)
    rng = np.random.default_rng(seed)
    for _ in range(episodes):
        action = rng.uniform(-1, 1, (20, 1)).astype(np.float32)
        obs = np.zeros((21, obs_dim), np.float32)
        for t in range(20):  # time loop of a tiny nonlinear system
            obs[t + 1] = 0.9 * obs[t] + 0.1 * np.tanh(obs[t].sum() + action[t, 0])
        store.append_episode(obs, action, {"seed": seed})


def _ensemble(members: int):
    import torch

    from mbrl_control.models.config import EnsembleConfig
    from mbrl_control.models.ensemble import Ensemble

    torch.manual_seed(0)
    return Ensemble(EnsembleConfig(5, 1, members=members, hidden=8, layers=1)).eval()


@pytest.fixture(scope="session")
def fx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``data/`` (4 episodes), ``empty/``, ``model3.pt``, ``model5.pt``, ``planner.onnx``
    (cartpole-rt, 5 particles), ``junk.txt`` (not a model of any kind), ``bad_profile.yaml``."""
    from mbrl_control.export.onnx_export import export_planner
    from mbrl_control.models.checkpoint import save_checkpoint
    from mbrl_control.planning.planner import PRESETS
    from mbrl_control.tasks import get_task

    root = tmp_path_factory.mktemp("cli_fx")
    _store(root / "data", 4)
    (root / "empty").mkdir()
    save_checkpoint(root / "model3.pt", _ensemble(3), {"run": "cli-test"})
    save_checkpoint(root / "model5.pt", _ensemble(5), {"run": "cli-test"})
    task = get_task("cartpole_swingup")
    cfg = PRESETS["cartpole-rt"][1]
    export_planner(_ensemble(5), task, cfg, root / "planner.onnx", provenance={"run": "cli-test"})
    (root / "junk.txt").write_text("not a model\n")
    (root / "bad_profile.yaml").write_text("mass_scale: [0.9, 1.1]\nbogus_key: 1\n")
    return root
