"""The GEMM floor (:mod:`mbrl_control.bench.gemm_floor`): real GEMMs at the counted shapes
and the asked threads, bounded by the best sample, a violation reported (never clamped).
No timing is asserted."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mbrl_control.bench.gemm_floor import (
    FloorExceeded,
    GemmFloor,
    ModelCall,
    cpu_model,
    fraction_of_floor,
    graph_gemm_flops,
    planner_model_call,
    planner_step_flops,
)
from mbrl_control.bench.planner import _floor_report
from mbrl_control.models.config import EnsembleConfig
from mbrl_control.models.ensemble import Ensemble
from mbrl_control.planning.config import PlannerConfig

TINY = ModelCall(members=2, rows=8, dims=(3, 16, 16, 4))


def test_fraction_of_floor_raises_above_one_and_never_clamps():
    assert fraction_of_floor(2e9, 1.0, 4.0) == pytest.approx(0.5)
    assert fraction_of_floor(4e9, 1.0, 4.0) == pytest.approx(1.0)
    with pytest.raises(FloorExceeded, match=r"4\.40 GFLOP/s achieved > 4\.00 GFLOP/s"):
        fraction_of_floor(4.4e9, 1.0, 4.0)
    with pytest.raises(ValueError, match="must be > 0"):
        fraction_of_floor(1e9, 0.0, 4.0)


def test_a_call_faster_than_the_floor_makes_the_report_say_the_floor_is_wrong():
    floor = GemmFloor.for_model_call(TINY, reps=2, threads=1, onnx_layout="gemm")
    floor.sample()
    best = floor.best()[0]
    flops = 1e9
    honest = flops / (0.5 * best * 1e9)  # seconds of a step at half the best rate
    rows = {"onnx": {}, "torch": {}, "onnx_int8": {}}
    times = {"onnx": [honest, 2 * honest], "torch": [honest], "onnx_int8": [honest / 10]}
    step_flops = {"onnx": flops, "torch": flops}  # onnx_int8: not bounded by an fp32 floor
    report = _floor_report(floor, flops, step_flops, times, rows)
    assert report["ok"] is True and rows["torch"]["fraction_of_floor"] == pytest.approx(0.5, 0.01)
    assert rows["onnx"]["fraction_of_floor"] == pytest.approx(1 / 3, 0.01)  # median: 1.5 x honest
    assert rows["onnx"]["best_call_fraction"] == pytest.approx(0.5, 0.01)
    assert rows["onnx_int8"]["fraction_of_floor"] is None  # an fp32 floor bounds no int8 graph
    times["onnx"].append(honest / 4)  # one call at twice the best GEMM rate of the run
    report = _floor_report(floor, flops, step_flops, times, rows)
    assert report["ok"] is False and report["error"].startswith("onnx: ")
    assert "the floor is wrong" in report["error"]
    for key in ("fraction_of_floor", "best_call_fraction"):  # none printed, none clamped
        assert all(rows[k][key] is None for k in rows)


@pytest.mark.parametrize("layout", ["gemm", "batched"])
def test_the_floor_does_the_gemms_it_counts_at_the_threads_asked(layout):
    floor = GemmFloor.for_model_call(TINY, reps=3, threads=2, onnx_layout=layout)
    assert [(lib.name, lib.form, lib.threads) for lib in floor.libraries] == [
        ("onnxruntime", layout, 2),
        ("torch", "bmm", 2),
    ]
    assert floor.flops_per_sample == 3 * 2 * 2 * 8 * (3 * 16 + 16 * 16 + 16 * 4)
    floor.sample()
    x, ws = floor.inputs  # (E, B, in), [(E, in, out)]
    expect = x
    for w in ws:
        expect = expect @ w  # (E, B, out)
    outs = list(floor.libraries[0].outputs().values())
    assert len(outs) == 3 * (2 if layout == "gemm" else 1)  # every pass computed, none merged
    for k, got in enumerate(outs):  # pass-major, member-minor in the gemm form
        np.testing.assert_allclose(got, expect if layout == "batched" else expect[k % 2], 1e-4)
    report = floor.report()
    assert report["passes_per_sample"] == 3 and report["libraries"]["torch"]["samples"] == 1


@pytest.mark.parametrize("layout", ["gemm", "batched"])
@pytest.mark.parametrize("activation", ["silu", "tanh"])
def test_the_ceiling_runs_the_model_pass_and_never_sets_the_floor(layout, activation):
    """The model-call ceiling computes the ensemble's pass (bias, activation between hidden
    layers, none after the head), is reported beside the floor and never is the floor."""
    floor = GemmFloor.for_model_call(
        TINY, reps=2, threads=1, onnx_layout=layout, activation=activation
    )
    floor.sample()
    x, ws = floor.inputs
    act = {"silu": lambda z: z / (1.0 + np.exp(-z)), "tanh": np.tanh}[activation]
    expect = x
    for k, w in enumerate(ws):
        expect = expect @ w + np.float32(0.01)
        expect = act(expect) if k < len(ws) - 1 else expect
    outs = list(floor.ceiling.outputs().values())
    assert len(outs) == 2 * (2 if layout == "gemm" else 1)
    for k, got in enumerate(outs):
        np.testing.assert_allclose(got, expect if layout == "batched" else expect[k % 2], 1e-4)
    report = floor.report()
    ceiling = report["model_call_ceiling"]
    assert ceiling["form"] == f"{layout}+bias+{activation}" and ceiling["samples"] == 1
    assert set(report["libraries"]) == {"onnxruntime", "torch"}  # best() is over these only
    assert ceiling["fraction_of_floor"] == pytest.approx(
        ceiling["gflops_best"] / report["best_gflops"],
        rel=0.05,  # both rounded to 0.01
    )
    with pytest.raises(ValueError, match="needs an onnx_layout"):
        GemmFloor.for_model_call(TINY, reps=1, threads=1, onnx_layout=None, activation="silu")
    with pytest.raises(ValueError, match="one of silu, relu, tanh, elu"):
        GemmFloor.for_model_call(TINY, reps=1, threads=1, onnx_layout="gemm", activation="gelu")


def test_planner_model_call_reads_the_model_layers():
    model = Ensemble(EnsembleConfig(obs_dim=5, act_dim=1, members=5, hidden=64, layers=3))
    cfg = PlannerConfig(kind="icem", horizon=4, population=32, particles=5, iterations=2)
    call = planner_model_call(model, cfg)
    assert call == ModelCall(members=5, rows=32, dims=(6, 64, 64, 64, 10))
    assert planner_step_flops(call, cfg) == pytest.approx(
        call.flops * 4 * sum(cfg.populations) / 32
    )
    mean = planner_model_call(model, PlannerConfig(population=32, particles=5, propagation="mean"))
    assert mean.rows == 160  # every member sees every row


def test_cpu_model_is_the_proc_cpuinfo_model_name():
    info = Path("/proc/cpuinfo")
    if not info.is_file():
        pytest.skip("no /proc/cpuinfo")
    names = [ln.split(":", 1)[1].strip() for ln in info.read_text().splitlines()
             if ln.lower().startswith("model name")]  # fmt: skip
    assert names and cpu_model() == names[0]


def test_graph_gemm_flops_counts_what_the_graph_runs(tmp_path):
    from onnx import TensorProto, helper, numpy_helper, save

    w = numpy_helper.from_array(np.ones((3, 4, 5), np.float32), "w")  # (E, in, out)
    v = numpy_helper.from_array(np.ones((6, 5), np.float32), "v")  # transB: (out, in)
    nodes = [
        helper.make_node("Reshape", ["x", "shape"], ["x3"]),  # a shape only known at run time
        helper.make_node("MatMul", ["x3", "w"], ["h"]),  # (3, 2, 4) @ (3, 4, 5)
        helper.make_node("Reshape", ["h", "flat"], ["h2"]),  # (6, 5)
        helper.make_node("Gemm", ["h2", "v"], ["y"], transB=1),  # (6, 5) @ (5, 6)
    ]
    shape = numpy_helper.from_array(np.array([3, 2, 4], np.int64), "shape")
    flat = numpy_helper.from_array(np.array([6, 5], np.int64), "flat")
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [24])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [w, v, shape, flat],
    )
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "g")
    assert graph_gemm_flops(tmp_path / "g") == 2 * 3 * 2 * 4 * 5 + 2 * 6 * 5 * 6


def test_the_onnx_planner_is_counted_without_the_heads_it_prunes(tmp_path):
    from mbrl_control.export.onnx_export import export_planner
    from mbrl_control.tasks import get_task

    task = get_task("cartpole_swingup")
    model = Ensemble(EnsembleConfig.for_task(task, members=2, hidden=8, layers=1)).eval()
    counted = {}
    for aleatoric in (False, True):
        cfg = PlannerConfig(
            horizon=3, population=10, particles=2, iterations=1, aleatoric=aleatoric
        )
        path = export_planner(model, task, cfg, tmp_path / f"{aleatoric}.onnx")
        model_count = planner_step_flops(planner_model_call(model, cfg), cfg)
        counted[aleatoric] = graph_gemm_flops(path) / model_count
    # the mean rollout never reads the log-variance head (pruned at export): the model count
    # would overstate the ONNX step's work; sampling the Gaussian needs it
    assert counted[False] < 0.9 and counted[True] >= 1.0
