"""The planner file carries its whole task (issue 15, slice 2).

A planner exported from a task file that is then deleted still loads, probes and controls
(``ControllerCore``); the task is rebuilt from the metadata equal to the file's; ±inf ranges
travel as strict JSON; a ``task`` that disagrees with the planner's is refused naming both;
old files without the definition load by name; finetune's export rebuilds from the metadata.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

pytest.importorskip("onnxruntime")

from mbrl_control.control.core import ControllerConfig, ControllerCore, Level
from mbrl_control.tasks import builtin_task_files, load_task_file


def my_cartpole_file(folder: Path, name: str = "my_cartpole") -> Path:
    """The built-in cart-pole file under a new name, with an unbounded (±inf) joint range."""
    data = yaml.safe_load(builtin_task_files()["cartpole_swingup"].read_text())
    data["name"] = name
    data["joints"][1] = {
        "name": "cart_to_pole",
        "type": "revolute",
        "position_range": [float("-inf"), float("inf")],
        "velocity_limit": 100.0,
    }
    path = folder / f"{name}.task.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def export(task, path: Path) -> Path:
    import torch

    from mbrl_control.export.onnx_export import export_planner
    from mbrl_control.models.config import EnsembleConfig
    from mbrl_control.models.ensemble import Ensemble
    from mbrl_control.planning.config import PlannerConfig

    torch.manual_seed(0)
    model = Ensemble(EnsembleConfig(task.obs_dim, task.act_dim, members=2, hidden=16, layers=2))
    cfg = PlannerConfig(kind="icem", horizon=5, population=32, particles=2, iterations=1)
    return export_planner(model, task, cfg, path, provenance={"test": 0})


def raw_props(path: Path) -> dict[str, str]:
    import onnx

    return {p.key: p.value for p in onnx.load(str(path)).metadata_props}


@pytest.fixture(scope="module")
def orphan(tmp_path_factory) -> tuple[Path, object]:
    """(planner exported from my_cartpole.task.yaml, the task) - the task file deleted."""
    folder = tmp_path_factory.mktemp("orphan")
    task_file = my_cartpole_file(folder)
    task = load_task_file(task_file)
    planner = export(task, folder / "planner.onnx")
    task_file.unlink()
    return planner, task


def test_definition_travels_as_strict_json_and_rebuilds_an_equal_task(orphan) -> None:
    from mbrl_control.export.runtime import OnnxPlanner
    from mbrl_control.tasks.portable import task_from_metadata

    planner, task = orphan
    text = raw_props(planner)["task"]
    assert "Infinity" not in text and "NaN" not in text
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON {c}"))
    meta = OnnxPlanner(planner, validate=False).metadata
    assert meta["task"]["source"].endswith("my_cartpole.task.yaml")  # provenance only
    rebuilt = task_from_metadata(meta, str(planner))
    assert rebuilt.name == "my_cartpole" and rebuilt.definition == task.definition
    assert rebuilt.position_limits[1] == (-np.inf, np.inf)
    assert rebuilt.metadata() == task.metadata()
    rng = np.random.default_rng(0)
    for _ in range(5):
        q, v = rng.normal(size=2), rng.normal(size=2)
        np.testing.assert_array_equal(rebuilt.obs_from_joints(q, v), task.obs_from_joints(q, v))
    np.testing.assert_array_equal(rebuilt.default_weights, task.default_weights)


def test_encode_roundtrip_keeps_non_finite_numbers() -> None:
    from mbrl_control.tasks.portable import decode_definition, encode_definition

    value = {"a": [float("inf"), -float("inf"), 1.5, "x", None, True], "b": {"c": 2}}
    enc = encode_definition(value)
    json.dumps(enc, allow_nan=False)
    back = decode_definition(json.loads(json.dumps(enc)))
    assert back == value


def test_controller_runs_from_the_planner_file_alone(orphan) -> None:
    planner, _ = orphan
    core = ControllerCore(ControllerConfig(model_path=str(planner)))  # task '' = planner's
    assert core.task.name == "my_cartpole"
    ok, message = core.reload(str(planner))
    assert ok, message
    core.set_state(["slider_to_cart", "cart_to_pole"], [0.1, 3.0], [0.0, 0.0], now=0.0)
    action, status = core.tick(now=0.01)
    assert status.level == Level.OK, status
    assert action.shape == (1,) and np.all(np.abs(action) <= 10.0)


def test_a_task_parameter_that_disagrees_is_refused_naming_both(orphan) -> None:
    planner, _ = orphan
    core = ControllerCore(ControllerConfig(task="cartpole_swingup", model_path=str(planner)))
    ok, message = core.reload(str(planner))
    assert not ok
    assert "'my_cartpole'" in message and "'cartpole_swingup'" in message, message
    assert "task parameter" in message


def test_same_name_different_contract_is_refused(orphan, tmp_path) -> None:
    planner, _ = orphan
    other = yaml.safe_load(my_cartpole_file(tmp_path).read_text())
    other["actions"][0]["high"] = 5.0
    (tmp_path / "my_cartpole.task.yaml").write_text(yaml.safe_dump(other))
    cfg = ControllerConfig(task=str(tmp_path / "my_cartpole.task.yaml"), model_path=str(planner))
    ok, message = ControllerCore(cfg).reload(str(planner))
    assert not ok and "action_high" in message and "'my_cartpole'" in message, message


def test_a_matching_task_parameter_yields_to_the_planners_task(orphan, tmp_path) -> None:
    planner, task = orphan
    path = my_cartpole_file(tmp_path)
    data = yaml.safe_load(path.read_text())
    data["description"] = "same contract, other text"
    path.write_text(yaml.safe_dump(data))
    core = ControllerCore(ControllerConfig(task=str(path), model_path=str(planner)))
    assert core.task.definition == task.definition  # the planner's task wins
    assert core.reload(str(planner))[0]


def test_task_empty_without_model_path_is_refused() -> None:
    with pytest.raises(ValueError, match="model_path"):
        ControllerCore(ControllerConfig())


def test_old_files_without_definition_load_by_name(tmp_path) -> None:
    from mbrl_control.tasks import get_task
    from mbrl_control.tasks.portable import task_from_metadata

    task = get_task("cartpole_swingup")
    old = {k: v for k, v in task.metadata().items() if k not in ("definition", "source")}
    rebuilt = task_from_metadata({"task": old})
    assert rebuilt.name == "cartpole_swingup"
    with pytest.raises(ValueError, match="not a built-in"):
        task_from_metadata({**old, "task": "somebody_elses"})
    with pytest.raises(ValueError, match="obs_names"):
        task_from_metadata({**old, "obs_names": ["a"]})


def test_finetune_export_rebuilds_the_task_from_the_planner(orphan, tmp_path) -> None:
    import torch

    from mbrl_control.export.runtime import OnnxPlanner
    from mbrl_control.finetune.retrain import deploy_candidate
    from mbrl_control.models.config import EnsembleConfig
    from mbrl_control.models.ensemble import Ensemble
    from mbrl_control.tasks.portable import task_from_metadata

    planner, task = orphan
    torch.manual_seed(1)
    model = Ensemble(EnsembleConfig(task.obs_dim, task.act_dim, members=2, hidden=16, layers=2))
    gate = {"live_error": 1.0, "new_error": 0.5, "n_real": 10}
    out = deploy_candidate(model, {}, planner, tmp_path, gate)
    assert "planner" in out, out
    meta = OnnxPlanner(out["planner"], validate=False).metadata
    assert task_from_metadata(meta).definition == task.definition


def test_a_file_task_without_scene_probes_its_own_initial_states(orphan) -> None:
    from mbrl_control.export.runtime import OnnxPlanner

    planner, task = orphan
    probes = np.asarray(OnnxPlanner(planner, validate=False).metadata["probe_states"])
    assert probes.shape == (4, task.obs_dim)
    assert np.all(probes[:, 1] < 0)  # cos θ: the pole starts hanging down, not at zero
