"""The planner graph's URDF kinematics stay elementwise: no batched 3x3 MatMul.

A batched MatMul of thousands of 3x3 blocks runs one tiny GEMM per block in onnxruntime:
on the acrobot's planner (mechanical_energy + link_height on URDF chains) it made the critics
~10x the ensemble's cost. ``urdf_kinematics.mat_vec``/``mat_mat`` keep rotations as
elementwise products and sums; this checks the exported graph, not a timing.
"""

from __future__ import annotations

from pathlib import Path

import onnx
import torch

from mbrl_control.export.onnx_export import export_planner
from mbrl_control.models.config import EnsembleConfig
from mbrl_control.models.ensemble import Ensemble
from mbrl_control.planning.config import PlannerConfig
from mbrl_control.tasks import load_task_file
from mbrl_control.tasks.urdf_kinematics import mat_mat, mat_vec

ACROBOT = Path(__file__).resolve().parents[2] / "examples/acrobot/acrobot_swingup.task.yaml"


def test_mat_helpers_equal_matmul():
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(7, 3, 3, generator=gen), torch.randn(7, 3, 3, generator=gen)
    v = torch.randn(7, 3, generator=gen)
    torch.testing.assert_close(mat_mat(a, b), a @ b)
    torch.testing.assert_close(mat_vec(a, v), (a @ v[..., None])[..., 0])
    torch.testing.assert_close(mat_vec(a[0], v), v @ a[0].T)  # a constant matrix, broadcast


def test_acrobot_planner_graph_has_no_batched_3x3_matmul(tmp_path):
    task = load_task_file(ACROBOT)
    model = Ensemble(EnsembleConfig.for_task(task, members=2, hidden=8, layers=1)).eval()
    cfg = PlannerConfig(kind="cem", horizon=3, population=10, particles=2, iterations=1)
    path = export_planner(model, task, cfg, tmp_path / "p.onnx")
    graph = onnx.shape_inference.infer_shapes(onnx.load(path)).graph
    shapes = {
        v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
        for v in [*graph.value_info, *graph.input]
    }
    shapes.update({i.name: list(i.dims) for i in graph.initializer})
    small = [
        n.name
        for n in graph.node
        if n.op_type == "MatMul" and any(shapes.get(x, [])[-2:] == [3, 3] for x in n.input)
    ]
    assert not small, f"batched 3x3 MatMul nodes in the planner graph: {small[:5]}"
