"""OnnxPlanner: numpy + onnxruntime only, warm start, validation of files and inputs."""

import json
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from mbrl_control.export.runtime import OnnxPlanner


@pytest.fixture(scope="module")
def planner_file(tmp_path_factory, seeds):
    from test_export import TINY, tiny_ensemble

    from mbrl_control.export.onnx_export import export_planner
    from mbrl_control.tasks import get_task

    path = tmp_path_factory.mktemp("planner") / "planner.onnx"
    model = tiny_ensemble(seed=seeds(0))
    return export_planner(model, get_task("cartpole_swingup"), TINY["icem"], path)


def test_runtime_does_not_import_torch(planner_file):
    code = (
        "import sys, numpy as np\n"
        "from mbrl_control.export.runtime import OnnxPlanner\n"
        f"p = OnnxPlanner({str(planner_file)!r}, expected_task='cartpole_swingup')\n"
        "p.act(np.zeros(5, np.float32))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_act_keeps_warm_start_and_reset_restores_it(planner_file, seeds):
    planner = OnnxPlanner(planner_file, expected_task="cartpole_swingup", seed=seeds(3))
    obs = np.array([0.1, -1.0, 0.0, 0.0, 0.0], np.float32)
    first = planner.act(obs)
    assert first.shape == (1,) and -10 <= first[0] <= 10
    assert set(planner.last_info) == {"plan_cost", "disagreement"}
    assert not np.allclose(planner._carry["plan"], 0.0)
    planner.reset()
    assert np.allclose(planner._carry["plan"], 0.0)
    again = OnnxPlanner(planner_file, seed=seeds(3))
    assert np.array_equal(again.act(obs), first)  # same seed, same noise, same action


def test_probe_and_weights(planner_file):
    planner = OnnxPlanner(planner_file)
    carry = {k: v.copy() for k, v in planner._carry.items()}
    assert np.isfinite(planner.probe()).all()
    assert all(np.array_equal(carry[k], planner._carry[k]) for k in carry)
    weights = planner.weights * 2
    planner.set_weights(weights)
    assert np.array_equal(planner.weights, weights)
    with pytest.raises(ValueError, match="weights must be"):
        planner.set_weights([1.0])
    assert planner.metadata["task"]["task"] == "cartpole_swingup"


def test_bad_inputs_and_files_raise_clear_errors(planner_file, tmp_path):
    planner = OnnxPlanner(planner_file)
    with pytest.raises(ValueError, match="obs must be 5 finite"):
        planner.act(np.array([np.nan, 0, 0, 0, 0]))
    with pytest.raises(ValueError, match="expected 'panda_reach'"):
        OnnxPlanner(planner_file, expected_task="panda_reach")
    with pytest.raises(FileNotFoundError):
        OnnxPlanner(tmp_path / "missing.onnx")
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(planner_file.read_bytes()[:1000])
    with pytest.raises(ValueError, match="not a loadable ONNX planner"):
        OnnxPlanner(corrupt)


def test_file_without_planner_metadata_is_rejected(planner_file, tmp_path):
    import onnx

    proto = onnx.load(str(planner_file))
    del proto.metadata_props[:]
    onnx.helper.set_model_props(proto, {"format_version": json.dumps(1)})
    bare = tmp_path / "bare.onnx"
    onnx.save(proto, str(bare))
    with pytest.raises(ValueError, match="not a planner file"):
        OnnxPlanner(bare)
