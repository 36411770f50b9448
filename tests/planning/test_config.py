import re

import pytest

from mbrl_control.planning.config import PlannerConfig
from mbrl_control.planning.noise import ar1_matrix, colored_noise_matrix


def test_defaults_are_pets_sizes():
    cfg = PlannerConfig()
    assert (cfg.horizon, cfg.population, cfg.particles, cfg.iterations, cfg.elites) == (
        15,
        400,
        20,
        5,
        40,
    )


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("kind", "ilqr", "allowed: cem, icem, mppi, shooting"),
        ("return_mode", "median", "allowed: best, mean"),
        ("horizon", 0, "horizon must be >= 1"),
        ("elite_frac", 0.0, "elite_frac=0.0 must be in (0.0, 1.0]"),
        ("smoothing", 1.0, "smoothing=1.0 must be in [0.0, 1.0)"),
        ("temperature", 0.0, "temperature must be > 0"),
    ],
)
def test_bad_values_name_the_key(key, value, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        PlannerConfig(**{key: value})


def test_from_mapping_rejects_unknown_keys():
    with pytest.raises(ValueError, match="unknown key"):
        PlannerConfig.from_mapping({"horizonn": 3})
    assert PlannerConfig.from_mapping({"horizon": 3}).horizon == 3


def test_icem_population_schedule_is_static_and_bounded():
    cfg = PlannerConfig(kind="icem", population=100, elite_frac=0.1, population_decay=2.0)
    assert cfg.populations == (100, 50, 25, 20, 20)  # floor = 2 x elites
    assert cfg.kept_elites == 3
    assert PlannerConfig(kind="cem").kept_elites == 0


def test_shooting_needs_one_iteration():
    with pytest.raises(ValueError, match="iterations must be 1"):
        PlannerConfig(kind="shooting", iterations=2)


def test_noise_filters_keep_unit_variance():
    import numpy as np

    assert np.allclose(colored_noise_matrix(10, 0.0), np.eye(10), atol=1e-4)
    for matrix in (colored_noise_matrix(10, 2.0), ar1_matrix(10, 0.8)):
        assert np.allclose(np.diag(matrix @ matrix.T), 1.0, atol=1e-4)
        assert np.allclose(np.triu(matrix, 1), 0.0)
    smooth = colored_noise_matrix(10, 2.0)
    assert (smooth @ smooth.T)[0, 1] > 0.5  # neighbouring steps strongly correlated
