"""Export one whole planning step (model + cost + every optimizer iteration) as an ONNX graph.

Graph inputs: ``obs (O,)``, ``goal (G,)`` (G may be 0), ``prev_plan (H, A)``, ``weights
(K,)``, iCEM ``prev_elites (k, H, A)``, and (``noise_input=True``) the standard-normal noise
tensors named in :func:`~mbrl_control.planning.noise.noise_shapes`. With
``noise_input=False`` the graph draws its own noise (ONNX ``RandomNormal``; unseeded).
Outputs: one definition, :mod:`mbrl_control.planning.graph_io` (``action (A,)``, ``next_plan
(H, A)``, ``plan_cost ()``, ``disagreement ()``, ``pred_mean (P,)``, ``pred_var (P,)`` and
iCEM ``next_elites (k, H, A)``). A caller feeds ``next_<x>`` back as ``prev_<x>``.

``metadata_props`` (all JSON strings): ``format_version``, ``task`` (``Task.metadata()``),
``default_weights`` (K,), ``planner_config``, ``model_config``, ``provenance``,
``noise_inputs`` (name -> shape), ``carry`` (name -> shape), ``export`` (layout options),
``cost`` (``{"source": "critics" | "learned", ...}``: where the per-step cost comes from),
``uncertainty`` (target std, calibration: :func:`uncertainty_metadata`) and
``probe_states`` (S, O): the realistic states the runtime plans from before trusting the
file (the task's initial states, plus any the caller gives, e.g. recent real states).

Tasks without joints, goal or simulator scene (e.g. :class:`~mbrl_control.tasks.gym_task.
GymTask`) export the same way: ``goal`` is then a 0-length input the graph drops, and the
probe states are the task's own ``initial_observations()`` (see :func:`task_probe_states`).
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from torch import nn

from mbrl_control.export.folded_agent import fast_policy, fast_value
from mbrl_control.export.gemm_ensemble import GemmEnsemble
from mbrl_control.export.probe_states import initial_probe_states
from mbrl_control.models.ensemble import Ensemble
from mbrl_control.planning.config import PlannerConfig
from mbrl_control.planning.graph_io import output_names
from mbrl_control.planning.noise import carry_shapes, noise_shapes
from mbrl_control.planning.planner import build_refiner, plan_step
from mbrl_control.planning.rollout import PolicyFn, Rollout, ValueFn
from mbrl_control.tasks.base import Task

FORMAT_VERSION = 1
OPSET = 17


class PlanStep(nn.Module):
    """The planning step as a module with flat tensor inputs/outputs (see module doc)."""

    def __init__(
        self,
        model: nn.Module,
        task: Task,
        cfg: PlannerConfig,
        *,
        noise_input: bool = True,
        value_fn: ValueFn | None = None,
        policy: PolicyFn | None = None,
    ) -> None:
        super().__init__()
        self.model, self.cfg = model, cfg
        self.value = value_fn if isinstance(value_fn, nn.Module) else None  # registers params
        self.policy = policy if isinstance(policy, nn.Module) else None
        self.rollout = Rollout(model, task, cfg, value_fn, policy)
        self.refiner = build_refiner(model, task, cfg, value_fn)
        self.noise_shapes = noise_shapes(cfg, task.obs_dim, task.act_dim)
        self.carry_names = tuple(carry_shapes(cfg, task.act_dim))
        self.noise_input = noise_input

    @property
    def input_names(self) -> list[str]:
        carried = [f"prev_{k}" for k in self.carry_names]
        noise = list(self.noise_shapes) if self.noise_input else []
        return ["obs", "goal", carried[0], "weights", *carried[1:], *noise]

    @property
    def output_names(self) -> list[str]:
        """The outputs' one definition: :func:`mbrl_control.planning.graph_io.output_names`."""
        return output_names(self.carry_names)

    def forward(
        self,
        obs: torch.Tensor,
        goal: torch.Tensor,
        prev_plan: torch.Tensor,
        weights: torch.Tensor,
        *rest: torch.Tensor,
    ) -> tuple[torch.Tensor, ...]:
        n_carry = len(self.carry_names)
        carry = dict(zip(self.carry_names, (prev_plan, *rest[: n_carry - 1])))
        if self.noise_input:
            noise = dict(zip(self.noise_shapes, rest[n_carry - 1 :]))
        else:
            noise = {k: torch.randn(shape) for k, shape in self.noise_shapes.items()}
        action, nxt, info = plan_step(
            obs, goal, carry, noise, weights,
            rollout=self.rollout, cfg=self.cfg, refiner=self.refiner,
        )  # fmt: skip
        pred_mean, pred_var = self.rollout.predict_next(obs, action)  # (P,) each
        values = {"action": action, "pred_mean": pred_mean, "pred_var": pred_var, **info}
        values.update({f"next_{k}": v for k, v in nxt.items()})
        return tuple(values[name] for name in self.output_names)

    def example_inputs(self, task: Task) -> tuple[torch.Tensor, ...]:
        """Zero observation, midpoint carry, default weights, unit noise (for tracing)."""
        mid = torch.as_tensor((task.low + task.high) / 2)
        carry = [mid.expand(s).clone() for s in carry_shapes(self.cfg, task.act_dim).values()]
        noise = [torch.randn(s) for s in self.noise_shapes.values()] if self.noise_input else []
        return (
            torch.zeros(task.obs_dim),
            torch.zeros(task.goal_dim),
            carry[0],
            torch.as_tensor(task.default_weights),
            *carry[1:],
            *noise,
        )


def fast_model(model: nn.Module, cfg: PlannerConfig, layout: str = "auto") -> nn.Module:
    """The export-side model: an :class:`Ensemble` re-expressed as :class:`GemmEnsemble`.

    ``layout="auto"`` picks per-member Gemm when each member sees >= 512 rows per step
    (PETS sizes), the batched MatMul otherwise. Other models are returned unchanged.
    """
    if not isinstance(model, Ensemble) or not model.cfg.probabilistic:
        return model
    if layout == "auto":
        rows = cfg.population * cfg.particles // model.members
        layout = "gemm" if rows >= 512 else "batched"
    return GemmEnsemble(model, layout=layout)


def export_planner(
    model: nn.Module,
    task: Task,
    cfg: PlannerConfig,
    path: str | os.PathLike[str],
    *,
    provenance: dict[str, Any] | None = None,
    noise_input: bool = True,
    value_fn: ValueFn | None = None,
    policy: PolicyFn | None = None,
    layout: str = "auto",
    probe_states: np.ndarray | None = None,
) -> Path:
    """Write the planning step for ``model`` on ``task`` to ``path`` (atomically).

    ``model`` follows the ensemble forward contract; an :class:`Ensemble` is re-expressed
    by :func:`fast_model` (same function, faster graph). ``value_fn`` (terminal cost-to-go)
    and ``policy`` (policy prior, with ``cfg.prior_frac``) are traced into the same graph
    when they are ``nn.Module``s, the agent's with their normalizers folded in
    (:mod:`~mbrl_control.export.folded_agent`). ``probe_states (S, O)`` (e.g. recent real
    states) are stored with the task's initial states for the runtime's load check. Returns
    the written path.
    """
    step = PlanStep(
        fast_model(model, cfg, layout),
        task,
        cfg,
        noise_input=noise_input,
        value_fn=fast_value(value_fn),
        policy=fast_policy(policy),
    ).eval()
    metadata = {
        "format_version": FORMAT_VERSION,
        "task": task.metadata(),
        "default_weights": [float(w) for w in task.default_weights],
        "planner_config": cfg.to_dict(),
        "model_config": model.cfg.to_dict() if hasattr(model, "cfg") else {},
        "provenance": provenance or {},
        "noise_inputs": step.noise_shapes if noise_input else {},
        "carry": carry_shapes(cfg, task.act_dim),
        "export": {"layout": getattr(step.model, "layout", "n/a"), "opset": OPSET},
        "cost": cost_metadata(task, cfg),
        "probe_states": _probe_metadata(task, probe_states),
        "uncertainty": uncertainty_metadata(step.rollout, model),
    }
    return write_graph(step, step.example_inputs(task), metadata, path)


def cost_metadata(task: Task, cfg: PlannerConfig) -> dict[str, Any]:
    """Where the graph's per-step cost comes from: ``{"source": "critics", "critics": [..]}``
    or ``{"source": "learned", "head": ..., "weights_used": False}``."""
    if task.cost_source != "learned":
        return {"source": "critics", "critics": list(task.critic_names)}
    per = "each particle's own member (TS-inf)" if cfg.propagation == "ts_inf" else "member mean"
    return {
        "source": "learned",
        "head": f"ensemble reward head, {per}, averaged over particles",
        "weights_used": False,
    }


def uncertainty_metadata(rollout: Rollout, model: nn.Module) -> dict[str, Any]:
    """What the runtime needs to score the graph's ``pred_mean``/``pred_var`` (surprise) and
    to read its ``disagreement``: ``target_std (P,)``, the calibration's ``var_scale (K, P)``
    and how it was fitted (``calibration``, {} when uncalibrated)."""
    return {
        "predicted_dim": rollout.predicted_dim,
        "target_std": [float(x) for x in rollout.target_std()],
        "var_scale": rollout.var_scale_rows(1).tolist()
        if getattr(model, "var_scale", None) is None
        else model.var_scale.tolist(),
        "calibration": dict(getattr(model, "calibration_info", {}) or {}),
        "units": "disagreement: member std / target_std, mean over predicted dims; "
        "surprise: Gaussian NLL per predicted dim in target_std units (nats)",
    }


def task_probe_states(task: Task) -> np.ndarray:
    """Initial observations ``(S, O)`` to probe a graph for ``task`` at: the task's own
    ``initial_observations()`` when it has them (tasks without joints or simulator scene,
    e.g. ``GymTask``), else the simulator scene's / task file's initial-state distribution
    (:func:`~mbrl_control.export.probe_states.initial_probe_states`)."""
    own = getattr(task, "initial_observations", None)
    if callable(own):
        return np.asarray(own(), np.float32).reshape(-1, task.obs_dim)
    return initial_probe_states(task)


def _probe_metadata(task: Task, extra: np.ndarray | None) -> list[list[float]]:
    """The task's initial states and the finite rows of ``extra (S, O)``, as JSON lists."""
    from mbrl_control.export.runtime import MAX_PROBE_STATES, probe_rows

    rows = [task_probe_states(task), probe_rows(extra, task.obs_dim, MAX_PROBE_STATES // 2)]
    return np.concatenate(rows).astype(float).tolist()


def write_graph(
    module: nn.Module,
    args: tuple[torch.Tensor, ...],
    metadata: dict[str, Any],
    path: str | os.PathLike[str],
) -> Path:
    """Trace ``module`` (with ``input_names`` / ``output_names`` attributes) on ``args``,
    attach ``metadata`` as JSON ``metadata_props``, check, and write ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        raw = Path(tmp) / "raw.onnx"
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # tracer and legacy-exporter deprecation notes
            torch.onnx.export(
                module,
                args,
                str(raw),
                input_names=list(module.input_names),
                output_names=list(module.output_names),
                opset_version=OPSET,
                do_constant_folding=True,
                dynamo=False,
            )
        proto = onnx.load(str(raw))
        onnx.helper.set_model_props(
            proto, {k: json.dumps(v, allow_nan=False) for k, v in metadata.items()}
        )
        onnx.checker.check_model(proto, full_check=True)
        final = Path(tmp) / "final.onnx"
        onnx.save(proto, str(final))
        os.replace(final, path)
    return path
