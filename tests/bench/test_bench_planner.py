"""``mbrl-control bench planner``: the GEMM floor is sampled after every variant call at the
variant's thread count and bounds every fp32 variant (JSON; no timing is asserted)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mbrl_control.cli import main


def _proc_cpuinfo_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.lower().startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def test_bench_planner_floor_is_interleaved_at_the_variant_threads_and_bounds_them(capsys):
    argv = ["bench", "planner", "--preset", "arm-rt", "--threads", "2", "--calls", "2"]
    assert main([*argv, "--rounds", "2", "--no-mbrl", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    floor = out["floor"]
    assert floor["ok"] is True and floor["error"] is None
    assert floor["cpu_model"] == _proc_cpuinfo_model()
    assert floor["dtype"] == "float32" and floor["threads"] == 2
    assert set(floor["libraries"]) == {"onnxruntime", "torch"}
    assert floor["libraries"]["onnxruntime"]["form"] == "batched"  # the export's, at N64 P5
    for lib in floor["libraries"].values():
        assert lib["threads"] == 2  # read back from the session / torch, not the argument
        assert lib["samples"] == 2 * 2  # one sample after every call of both variants
        assert 0 < lib["gflops_p10"] <= lib["gflops_p50"] <= lib["gflops_p90"]
        assert lib["gflops_p90"] <= lib["gflops_best"] <= floor["best_gflops"]
    assert floor["model_call"] == {"members": 5, "rows": 64, "dims": [24, 64, 64, 64, 34]}
    assert floor["floor_ms"] == pytest.approx(
        out["gflop_per_step"] / floor["best_gflops"] * 1e3, rel=1e-2
    )
    for name in ("torch", "onnx"):
        row = out["variants"][name]
        assert 0 < row["fraction_of_floor"] <= row["best_call_fraction"] <= 1
    # the ONNX step is counted from its graph (the mean rollout's pruned log-variance head is
    # not work it does); the torch planner runs the whole model
    assert out["variants"]["torch"]["gflop_per_step"] == out["gflop_per_step"]
    assert 0 < out["variants"]["onnx"]["gflop_per_step"] < out["gflop_per_step"]
