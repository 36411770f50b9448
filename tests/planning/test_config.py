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


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("refine_steps", 2.5, "refine_steps must be an integer"),
        ("refine_steps", None, "refine_steps must be an integer"),
        ("refine_steps", True, "refine_steps must be an integer"),
        ("refine_steps", [1, 2], "refine_steps must be an integer"),
        ("refine_steps", 10**6, r"refine_steps must be in \[0, 20\]"),
        ("horizon", 2.5, "horizon must be an integer"),
        ("horizon", 10**7, "horizon must be <= 1000"),
        ("iterations", 10**4, "iterations must be <= 100"),
        ("refine_step_size", float("nan"), "refine_step_size must be a finite number"),
        ("refine_step_size", "0.3", "refine_step_size must be a finite number"),
        ("init_std", float("inf"), "init_std must be a finite number"),
        ("aleatoric", 1, "aleatoric must be true or false"),
        ("kind", 3, "kind must be a string"),
    ],
)
def test_every_field_holds_its_type(key, value, message):
    """Values from YAML/JSON arrive unchecked: a float where an int belongs used to crash
    deep inside the export (range(2.5)), a million refinement steps to build a graph for
    minutes; now one line naming the field."""
    with pytest.raises(ValueError, match=message):
        PlannerConfig(**{key: value})


def test_numpy_numbers_are_numbers():
    import numpy as np

    cfg = PlannerConfig(horizon=np.int64(7), init_std=np.float32(0.25))
    assert cfg.horizon == 7


def test_a_task_file_value_of_the_wrong_type_names_the_key(tmp_path):
    import yaml

    from mbrl_control.tasks import TaskFileError, builtin_task_files, load_task_file

    data = yaml.safe_load(builtin_task_files()["cartpole_swingup"].read_text())
    data["planner"]["refine_steps"] = 2.5
    path = tmp_path / "t.task.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(TaskFileError, match=r"planner: PlannerConfig\.refine_steps must be an int"):
        load_task_file(path)
