"""Export a deterministic policy alone (no model, no optimizer) as a small ONNX graph.

Graph: inputs ``obs (O,)``, ``goal (G,)`` (G may be 0; the exporter then drops it) -> output
``action (A,)``; the policy sees the state with the goal appended. ``metadata_props`` (JSON
strings): ``policy_format_version``, ``task`` (``Task.metadata()``), ``provenance`` and
``probe_states`` (the task's initial states, checked by ``OnnxPolicy.probe``). The
file is the fallback controller of ``mpc_controller`` with ``mode: policy`` (see
:mod:`.policy_runtime`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mbrl_control.export.onnx_export import task_probe_states, write_graph
from mbrl_control.planning.rollout import with_goal
from mbrl_control.tasks.base import Task

POLICY_FORMAT_VERSION = 2
"""2: the goal input (version 1 graphs took ``obs`` only)."""


class PolicyStep(nn.Module):
    """``(obs (O,), goal (G,)) -> action (A,)`` around a policy on rows ``(B, O+G) -> (B, A)``."""

    input_names = ("obs", "goal")
    output_names = ("action",)

    def __init__(self, policy: nn.Module) -> None:
        super().__init__()
        self.policy = policy

    def forward(self, obs: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
        return self.policy(with_goal(obs[None], goal))[0]


def export_policy(
    policy: nn.Module,
    task: Task,
    path: str | os.PathLike[str],
    *,
    provenance: dict[str, Any] | None = None,
) -> Path:
    """Write ``policy`` (``(B, O+G) -> (B, A)``, e.g.
    :class:`~mbrl_control.agents.value.PolicyMean`) for ``task`` to ``path`` atomically;
    returns the path."""
    metadata = {
        "policy_format_version": POLICY_FORMAT_VERSION,
        "task": task.metadata(),
        "provenance": provenance or {},
        "probe_states": task_probe_states(task).astype(float).tolist(),
    }
    step = PolicyStep(policy).eval()
    example = (torch.zeros(task.obs_dim), torch.zeros(task.goal_dim))
    return write_graph(step, example, metadata, path)
