"""Seeded model initialization (issue 13 item 13): the same config gives the same weights."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from model_systems import FAST, pendulum

from mbrl_control.models.checkpoint import load_checkpoint, save_checkpoint
from mbrl_control.models.config import EnsembleConfig
from mbrl_control.models.ensemble import Ensemble
from mbrl_control.models.trainer import fit


def weights(model: Ensemble) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_same_config_same_initial_weights(seed) -> None:
    """Two ensembles of one config are bit-identical at init, whatever the global RNG did in
    between (the default seed 0 included); another seed gives other weights; building one
    neither reads nor advances the global torch RNG."""
    assert same(weights(Ensemble(EnsembleConfig(3, 1))), weights(Ensemble(EnsembleConfig(3, 1))))
    cfg = EnsembleConfig(obs_dim=3, act_dim=1, members=3, hidden=16, layers=2, seed=seed)
    first = weights(Ensemble(cfg))
    torch.rand(7)  # the global RNG moves on: must not matter
    state = torch.random.get_rng_state()
    second = weights(Ensemble(cfg))
    assert torch.equal(torch.random.get_rng_state(), state)
    assert same(first, second)
    other = weights(Ensemble(replace(cfg, seed=seed + 1)))
    assert not torch.equal(other["hidden.0.weight"], first["hidden.0.weight"])
    # members still differ from each other (one generator draws all of them)
    w = first["hidden.0.weight"]
    assert not torch.equal(w[0], w[1])
    with pytest.raises(ValueError, match=r"EnsembleConfig\.seed"):
        EnsembleConfig(3, 1, seed=-1)


def test_same_seeds_same_trained_weights(seeds, tmp_path) -> None:
    """Same model seed, same data and same ``TrainConfig.seed`` (split, bootstrap, shuffles):
    the trained weights are bit-identical on one machine. The seed travels in the checkpoint
    (and ``weights_only`` loads it)."""
    d = pendulum(6, 40, np.random.default_rng(seeds(21)))
    cfg = EnsembleConfig(obs_dim=3, act_dim=1, members=3, hidden=16, layers=2, seed=seeds(22))
    train = replace(FAST, max_epochs=3, seed=seeds(23))
    runs = []
    for _ in range(2):
        model = Ensemble(cfg)
        fit(model, d.obs, d.action, d.next_obs, d.episode_id, train)
        runs.append(weights(model))
    assert same(*runs)
    path = save_checkpoint(tmp_path / "m.pt", model)
    loaded, _ = load_checkpoint(path)
    assert loaded.cfg.seed == seeds(22) and same(weights(loaded), runs[0])
