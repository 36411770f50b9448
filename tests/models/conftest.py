"""Fixtures for the model tests: pendulum data and small trained ensembles.

The trained ensembles are session-scoped (trained once per run); tests never mutate them
(they deep-copy before training further). Sizes are tiny (2 x 64 SiLU, a few thousand
rows) so that the whole folder runs in about a minute on two idle cores. No seeding at
import time: each fixture seeds its own generators from the suite seed (``seeds(k)``, see
tests/conftest.py; ``--seed 0`` gives the historical streams).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from model_systems import FAST, Episodes, make_model, pendulum

from mbrl_control.models.ensemble import Ensemble
from mbrl_control.models.trainer import fit


@pytest.fixture(scope="session")
def clean_data(seeds) -> Episodes:
    return pendulum(40, 50, np.random.default_rng(seeds(1)))


@pytest.fixture(scope="session")
def clean_fit(clean_data: Episodes, seeds) -> tuple[Ensemble, dict]:
    """Ensemble trained on noise-free pendulum data, with its fit metrics."""
    model = make_model(seeds(0))
    d = clean_data
    metrics = fit(model, d.obs, d.action, d.next_obs, d.episode_id, replace(FAST, seed=seeds(0)))
    return model, metrics


@pytest.fixture(scope="session")
def noisy_data(seeds) -> Episodes:
    return pendulum(60, 50, np.random.default_rng(seeds(2)), noise_std=0.05)


@pytest.fixture(scope="session")
def noisy_fit(noisy_data: Episodes, seeds) -> tuple[Ensemble, dict]:
    """Ensemble trained on pendulum data with N(0, 0.05²) noise on every next-obs coordinate."""
    model = make_model(seeds(1))
    d = noisy_data
    metrics = fit(model, d.obs, d.action, d.next_obs, d.episode_id, replace(FAST, seed=seeds(0)))
    return model, metrics
