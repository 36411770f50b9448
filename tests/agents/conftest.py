"""Tiny agents and ensembles for the agent, planning-prior and export tests."""

from __future__ import annotations

import pytest
import torch

from mbrl_control.agents.config import SACConfig
from mbrl_control.agents.sac import SAC
from mbrl_control.tasks import get_task


def tiny_agent(obs_dim: int = 5, seed: int = 0) -> SAC:
    """A small SAC for cart-pole bounds with non-trivial input normalizers."""
    task = get_task("cartpole_swingup")
    torch.manual_seed(seed)
    agent = SAC(obs_dim, task.low, task.high, SACConfig(hidden=16, layers=2, lr=1e-3))
    obs = torch.randn(64, obs_dim) * torch.linspace(0.5, 2.0, obs_dim) + 0.3
    agent.fit_normalizers(obs, torch.rand(64, task.act_dim) * 20 - 10)
    return agent


@pytest.fixture
def agent(seeds) -> SAC:
    return tiny_agent(seed=seeds(0))


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Small tensors: one intra-op thread (two fight over the 2 shared cores, 100x slower)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
