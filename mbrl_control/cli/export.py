"""``mbrl-control export``: compile a checkpoint + planner preset into ``planner.onnx``.

With ``--agent`` (from ``train-value``) the graph adds the agent's terminal value at the
horizon and, with ``--prior-frac``, samples part of each population around its policy:
e.g. ``--preset cartpole-rt --horizon 5 --agent agent.pt --prior-frac 0.25``.
"""

from __future__ import annotations

import argparse
import sys

from mbrl_control.cli.checks import (
    PRESET_NAMES,
    existing_file,
    float_in,
    int_in,
    out_file,
    positive_int,
    task_name,
)
from mbrl_control.cli.errors import UsageError
from mbrl_control.cli.task_defaults import PRESET_HELP

KINDS = ("cem", "icem", "mppi", "shooting")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--checkpoint", type=existing_file, required=True, help="ensemble checkpoint (model.pt)"
    )
    parser.add_argument(
        "--task",
        type=task_name,
        required=True,
        help="built-in task name (e.g. cartpole_swingup) or task file (my_robot.task.yaml)",
    )
    parser.add_argument("--preset", choices=PRESET_NAMES, help=PRESET_HELP)
    parser.add_argument(
        "--planner-kind", choices=KINDS, help="override the preset's optimizer (default: preset's)"
    )
    parser.add_argument(
        "--out", type=out_file, default="planner.onnx", help="output file (written atomically)"
    )
    parser.add_argument(
        "--internal-noise",
        action="store_true",
        help="draw noise inside the graph (default: noise is an input the runtime pre-draws)",
    )
    parser.add_argument(
        "--layout", choices=("auto", "gemm", "batched"), default="auto", help="model layout"
    )
    parser.add_argument(
        "--horizon", type=positive_int, help="override the preset's horizon H (default: preset's)"
    )
    parser.add_argument(
        "--iterations", type=int_in(1, 100),
        help="override the preset's sampling iterations I (default: preset's; 1 for shooting)",
    )  # fmt: skip
    parser.add_argument(
        "--agent", type=existing_file,
        help="agent.pt from train-value: add its terminal value (discount gamma^H)",
    )  # fmt: skip
    parser.add_argument(
        "--prior-frac", type=float_in(0.0, 1.0), default=0.0,
        help="share of each population around the agent's policy (needs --agent)",
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    import dataclasses

    from mbrl_control.agents.checkpoint import load_agent
    from mbrl_control.agents.value import planner_parts
    from mbrl_control.export.onnx_export import export_planner
    from mbrl_control.models.checkpoint import load_checkpoint
    from mbrl_control.planning.presets import planner_setup
    from mbrl_control.tasks import get_task

    if args.prior_frac and not args.agent:
        raise UsageError("--prior-frac needs --agent")
    task = get_task(args.task)
    model, provenance = load_checkpoint(args.checkpoint)
    agent = load_agent(args.agent, task)[0] if args.agent else None
    if (model.cfg.obs_dim, model.cfg.act_dim) != (task.obs_dim, task.act_dim):
        raise UsageError(
            f"--checkpoint {args.checkpoint} is obs {model.cfg.obs_dim} / act "
            f"{model.cfg.act_dim}, task {task.name} needs {task.obs_dim} / {task.act_dim}"
        )
    args.preset, _, cfg = planner_setup(task, args.preset)
    if args.planner_kind:
        iterations = 1 if args.planner_kind == "shooting" else cfg.iterations
        cfg = dataclasses.replace(cfg, kind=args.planner_kind, iterations=iterations)
    if args.horizon:
        cfg = dataclasses.replace(cfg, horizon=args.horizon)
    if args.iterations:
        if cfg.kind == "shooting" and args.iterations != 1:
            raise UsageError("--iterations: random shooting samples once (1 iteration)")
        cfg = dataclasses.replace(cfg, iterations=args.iterations)
    members = model.cfg.members
    if cfg.propagation == "ts_inf" and cfg.particles % members:
        raise UsageError(
            f"--preset {args.preset} plans with {cfg.particles} particles, not a multiple of the "
            f"checkpoint's {members} ensemble members (use a preset/checkpoint that divide)"
        )
    value = policy = None
    if agent is not None:  # ValueError e.g. for a prior share that leaves no sampled candidate
        cfg, value, policy = planner_parts(cfg, agent, args.prior_frac)
    provenance = {**provenance, "checkpoint": str(args.checkpoint), "preset": args.preset,
                  "agent": args.agent}  # fmt: skip
    path = export_planner(
        model,
        task,
        cfg,
        args.out,
        provenance=provenance,
        noise_input=not args.internal_noise,
        value_fn=value,
        policy=policy,
        layout=args.layout,
    )
    print(path)  # stdout: the file alone (scripts read it); what it plans with: stderr
    refine = f", {cfg.refine_steps} gradient step(s)" if cfg.refine_steps else ""
    value_note = ", terminal value" + (" + prior" if policy is not None else "") if value else ""
    print(
        f"planner: {cfg.kind} H{cfg.horizon} N{cfg.population} P{cfg.particles} "
        f"I{cfg.iterations}{refine}{value_note} (preset {args.preset})",
        file=sys.stderr,
    )
    return 0
