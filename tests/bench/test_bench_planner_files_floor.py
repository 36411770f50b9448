"""``mbrl-control bench planner-files --floor``: each file's own GEMMs, sampled after every
call, bound its step (JSON; no timing is asserted)."""

from __future__ import annotations

import json

import onnx
import pytest

from mbrl_control.bench.gemm_floor import GemmFloor, graph_gemm_flops
from mbrl_control.bench.planner_files import _floor_fields
from mbrl_control.cli import main
from mbrl_control.export.onnx_export import export_planner
from mbrl_control.models.config import EnsembleConfig
from mbrl_control.models.ensemble import Ensemble
from mbrl_control.planning.config import PlannerConfig
from mbrl_control.tasks import get_task


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> list[str]:
    tmp = tmp_path_factory.mktemp("planners")
    out = []
    for name in ("cartpole_swingup", "panda_reach"):  # goal-free and goal-conditioned
        task = get_task(name)
        model = Ensemble(EnsembleConfig.for_task(task, members=2, hidden=8, layers=1)).eval()
        cfg = PlannerConfig(kind="icem", horizon=3, population=10, particles=2, iterations=1)
        out.append(str(export_planner(model, task, cfg, tmp / f"{name}.onnx")))
    return out


def test_planner_files_floor_is_each_files_gemms_sampled_after_every_call(files, capsys):
    argv = ["bench", "planner-files", *files, "--calls", "4", "--rounds", "2", "--warmup", "1"]
    assert main([*argv, "--threads", "2", "--floor"]) == 0
    rows = json.loads(capsys.readouterr().out)["files"]
    for row, path in zip(rows, files):
        floor = row["floor"]
        assert floor["ok"] is True and floor["graph"] == path and floor["threads"] == 2
        lib = floor["libraries"]["onnxruntime"]
        assert lib["form"] == "graph" and lib["threads"] == 2 and lib["samples"] == 4
        assert row["gflop_per_step"] == pytest.approx(graph_gemm_flops(path) / 1e9, 1e-3)
        assert 0 < row["fraction_of_floor"] <= row["best_call_fraction"] <= 1
        assert floor["cpu_model"]


def test_planner_files_without_floor_reports_none(files, capsys):
    argv = ["bench", "planner-files", files[0], "--calls", "2", "--rounds", "1", "--warmup", "0"]
    assert main(argv) == 0  # no warm-up is allowed (it was refused: "must be >= 1")
    assert "floor" not in json.loads(capsys.readouterr().out)["files"][0]


def test_a_call_faster_than_its_files_floor_nulls_the_fractions(files):
    floor = GemmFloor.for_graph(files[1], threads=1)
    floor.sample()
    gemms = [n for n in onnx.load(files[1]).graph.node if n.op_type in ("MatMul", "Gemm")]
    assert len(floor.libraries[0].outputs()) == len(gemms)  # every GEMM ran, none merged
    best_call = floor.flops_per_sample / (floor.best()[0] * 1e9)  # seconds at the best rate
    fields = _floor_fields(floor, [2 * best_call, best_call / 2])
    assert fields["floor"]["ok"] is False and "the floor is wrong" in fields["floor"]["error"]
    assert fields["fraction_of_floor"] is None and fields["best_call_fraction"] is None
    fields = _floor_fields(floor, [2 * best_call, 4 * best_call])
    assert fields["floor"]["ok"] is True and fields["best_call_fraction"] == pytest.approx(
        0.5, 0.01
    )


def test_ops_profile_splits_kernel_time_by_operator_type(files, capsys):
    argv = ["bench", "planner-files", *files, "--calls", "2", "--rounds", "1", "--warmup", "1"]
    assert main([*argv, "--ops", "--ops-calls", "3"]) == 0
    for row in json.loads(capsys.readouterr().out)["files"]:
        prof = row["op_profile"]
        ops = prof["ops"]
        assert sum(r["share"] for r in ops.values()) == pytest.approx(1.0, abs=0.01)
        assert {"MatMul", "Gemm"} & set(ops)  # the ensemble's products were timed
        assert all(r["ms_per_call"] >= 0 and r["nodes"] >= 1 for r in ops.values())
        assert len(ops) <= 13 and prof["optimized_nodes"] >= sum(r["nodes"] for r in ops.values())
        assert prof["wall_ms_per_call"] > 0 and 0 <= prof["outside_kernels_share"] < 1
        assert prof["profiled_vs_unprofiled"] > 0
    assert main([*argv, "--ops", "--ops-calls", "0"]) == 2  # a usage error, before any work
    assert "--ops-calls: must be an integer >= 1" in capsys.readouterr().err


def test_thread_priority_times_the_calls_under_sched_fifo_or_refuses_in_one_line(files, capsys):
    import os
    import threading

    from mbrl_control.control.realtime import apply_thread_priority

    seen: dict = {}
    probe = threading.Thread(target=lambda: seen.update(ok=apply_thread_priority(20)[0]))
    probe.start()
    probe.join()
    argv = ["bench", "planner-files", files[0], "--calls", "2", "--rounds", "1", "--warmup", "1"]
    before = os.sched_getscheduler(0)
    try:
        code = main([*argv, "--thread-priority", "20"])
        out = capsys.readouterr()
        if seen["ok"]:
            assert code == 0 and json.loads(out.out)["scheduling"] == "SCHED_FIFO 20"
        else:
            assert code == 2 and "--thread-priority: normal (SCHED_FIFO 20 refused" in out.err
    finally:  # the test process's own thread back to normal scheduling
        os.sched_setscheduler(0, before, os.sched_param(0))
    assert main([*argv, "--thread-priority", "100"]) == 2  # out of range: a usage error
    assert main(argv) == 0 and json.loads(capsys.readouterr().out)["scheduling"] == "normal"
