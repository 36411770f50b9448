"""``bench precision`` and the int8/fp16 conversions of ``export/precision.py`` on a tiny
trained cart-pole run (2 random episodes, a few epochs, a small CEM). The run's quality is
not the point here (the real measurement is a pretraining run, see the README); the tests
check that every copy is a drop-in planner file, the paired closed-loop comparison and the
verdict rules. No timing is asserted."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from mbrl_control.bench.precision import paired_returns, verdict
from mbrl_control.cli import main
from mbrl_control.export.precision import PRECISIONS, convert, runtime_matmuls, weight_matmuls


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run folder whose ``planner.onnx`` comes from an ensemble fitted on sim data."""
    import torch
    from mbrl_sim.collect import collect

    from mbrl_control.data.store import TransitionStore
    from mbrl_control.export.onnx_export import export_planner
    from mbrl_control.models.config import EnsembleConfig, TrainConfig
    from mbrl_control.models.ensemble import Ensemble
    from mbrl_control.models.trainer import fit
    from mbrl_control.planning.planner import PRESETS
    from mbrl_control.tasks import get_task

    root = tmp_path_factory.mktemp("precision_run")
    collect("cartpole_swingup", "default", 2, "random", 1, root / "data", quiet=True)
    d = TransitionStore(root / "data").load()
    torch.manual_seed(0)
    model = Ensemble(EnsembleConfig(5, 1, members=2, hidden=16, layers=2))
    fit(model, d.obs, d.action, d.next_obs, d.episode_id, TrainConfig(max_epochs=3))
    cfg = replace(PRESETS["cartpole-rt"][1], horizon=4, population=10, particles=2)
    export_planner(model.eval(), get_task("cartpole_swingup"), cfg, root / "planner.onnx")
    return root


def _graph_io(path: Path) -> list[tuple[str, int]]:
    """Names and element types of the graph's inputs and outputs."""
    import onnx

    g = onnx.load(str(path)).graph
    return [(v.name, v.type.tensor_type.elem_type) for v in [*g.input, *g.output]]


def test_copies_keep_graph_io_fp32_and_run_the_weights_reduced(run_dir: Path, tmp_path: Path):
    import onnx

    from mbrl_control.bench.precision import calibration_feeds
    from mbrl_control.export.runtime import OnnxPlanner

    src = run_dir / "planner.onnx"
    fp32 = OnnxPlanner(src, threads=1)
    for precision in PRECISIONS:
        feeds = calibration_feeds(fp32, 2) if precision == "int8-static" else None
        dst = convert(src, tmp_path / f"{precision}.onnx", precision, calibration=feeds)
        assert _graph_io(dst) == _graph_io(src), precision
        copy = OnnxPlanner(dst, threads=1)  # loads, passes the probe
        assert copy.metadata["planner_config"] == fp32.metadata["planner_config"]
        props = {p.key: p.value for p in onnx.load(str(dst)).metadata_props}
        assert json.loads(props["precision"]) == precision
        ops = runtime_matmuls(dst)
        if precision == "fp16":
            layers = {n.input[1] for n in weight_matmuls(onnx.load(str(src)))}  # (E, in, out)
            dtypes = {i.name: i.data_type for i in onnx.load(str(dst)).graph.initializer}
            assert layers and {dtypes[k] for k in layers} == {onnx.TensorProto.FLOAT16}
        else:
            assert any("INT8" in k for k in ops), ops
    assert "INT8" not in json.dumps(runtime_matmuls(src))


def test_convert_refuses_bad_requests(run_dir: Path, tmp_path: Path):
    with pytest.raises(ValueError, match=r"int4.*allowed: int8, int8-static, fp16"):
        convert(run_dir / "planner.onnx", tmp_path / "x.onnx", "int4")
    with pytest.raises(ValueError, match="calibration"):
        convert(run_dir / "planner.onnx", tmp_path / "x.onnx", "int8-static")
    with pytest.raises(FileNotFoundError, match=r"nope\.onnx"):
        convert(run_dir / "nope.onnx", tmp_path / "x.onnx", "int8")
    assert not (tmp_path / "x.onnx").exists()


def test_bench_times_checks_and_pairs_episodes(run_dir: Path, capsys):
    """--min-speedup 0 runs the closed loop for every copy; 2 episodes never ship."""
    argv = ["bench", "precision", "--run", str(run_dir), "--precisions", "int8,fp16",
            "--calls", "6", "--rounds", "2", "--episodes", "2", "--min-speedup", "0",
            "--profile-calls", "2", "--save", "--json"]  # fmt: skip
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    flags = result["cpu"]["flags"]
    assert {"avx512_vnni", "avx_vnni", "avx512_fp16"} <= set(flags)
    assert result["fp32"]["calls"] == 6 and result["task"] == "cartpole_swingup"
    share = result["fp32"]["profile"]["matmul_share"]
    assert 0 < share < 1 and result["fp32"]["profile"]["matmul_bound_x"] >= 1
    assert result["fp32"]["runtime_matmuls"].get("MatMul:FLOAT", 0) >= 2
    for name in ("int8", "fp16"):
        row = result["variants"][name]
        assert row["loads"] and 0 <= row["max_action_gap"] <= 1, row
        assert row["speedup_p50"] > 0 and len(row["speedup_per_round"]) == 2
        loop = row["closed_loop"]
        assert loop["episodes"] == 2 and loop["loss_ci"][0] <= loop["loss_ci"][1]
        assert np.isfinite(loop["fp32_mean_return"]) and np.isfinite(loop["mean_return"])
    # the same seeds and noise for both files: fp32's returns are the same in each pairing
    assert (
        result["variants"]["int8"]["closed_loop"]["fp32_mean_return"]
        == result["variants"]["fp16"]["closed_loop"]["fp32_mean_return"]
    )
    assert "too few to ship" in result["verdict"] and result["saved"] == []
    assert sorted(p.name for p in run_dir.iterdir()) == ["data", "planner.onnx"]


def _result(speedup: float, loss_ci: tuple[float, float] | None, episodes: int = 10) -> dict:
    row = {"loads": True, "speedup_p50": speedup}
    if loss_ci is not None:
        row["closed_loop"] = {"episodes": episodes, "loss_ci": list(loss_ci)}
    cpu = {"int8_dot": False, "fp16_math": False}
    return {"cpu": cpu, "variants": {"int8": row, "fp16": {"loads": False, "error": "E: no"}}}


def test_verdict_ships_only_fast_copies_within_the_loss_bound():
    line, ships = verdict(_result(2.0, (-0.01, 0.005)), 1.3, 0.01)
    assert ships == ["int8"] and line.startswith("ships: int8")
    for res in (_result(1.2, None), _result(2.0, (0.0, 0.02)), _result(2.0, (0.0, 0.0), 9)):
        line, ships = verdict(res, 1.3, 0.01)
        assert ships == [] and line.startswith("nothing ships") and "fp16 fails" in line
        assert "no VNNI" in line


def test_paired_returns_ci_covers_the_mean_difference():
    base = [-100.0, -80.0, -120.0, -90.0]
    same = paired_returns(base, base)
    assert same["difference"] == 0 and same["loss_ci"] == [0.0, 0.0]
    worse = paired_returns(base, [b - 2.0 + 0.5 * i for i, b in enumerate(base)])
    lo, hi = worse["difference_ci"]
    assert lo <= worse["difference"] <= hi < 0 and worse["loss"] > 0
    assert worse["loss_ci"][1] == pytest.approx(-lo / 97.5, abs=1e-4)
