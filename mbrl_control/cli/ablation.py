"""``mbrl-control ablation value | rollout-length | action-history | learned-cost |
uncertainty | safety | model | refine``: the studies behind the value/MBPO, action-history,
learned-cost, uncertainty, model-choice and gradient-refinement results.

``value``: horizon x {no value, value, value + prior} in one run; prints the markdown table
(mean return over the episodes, planning latency p50/p99) and writes
``OUT/ablation_value.md`` and ``OUT/ablation_value.json`` next to the exported graphs.

``rollout-length``: the model's k-step error and members' spread on fresh policy episodes
and on the store, and (``--train-ks``) MBPO's policy return per branch length k; prints the
tables and writes ``OUT/rollout_study.{md,json,png}``.

``action-history``: the same random episodes with and without the ``last_actions`` block on a
profile with actuation delay; one-step and k-step model error of each
(:mod:`mbrl_control.pipeline.history_study`); prints the table and writes
``OUT/action_history.{md,json}``.

``learned-cost``: on gymnasium's Pendulum-v1, the planner with the ensemble's reward head as its
cost (learned from the recorded rewards only) against the analytic-cost planner on the same
ensemble, paired episodes, both through onnxruntime
(:mod:`mbrl_control.pipeline.learned_cost_study`); prints JSON and writes
``OUT/learned_cost.json`` next to the planner files.

``uncertainty``: the model's per-horizon calibration (raw vs calibrated interval coverage,
sharpness, rank correlation at k = 1, 5, 10, 25) on half the episodes of ``--data``, tested on
the other half, and OOD detection (AUROC of the windowed surprise and of the epistemic
disagreement) against ``--ood-data`` (:mod:`mbrl_control.pipeline.uncertainty_study`); prints
JSON and writes ``OUT/uncertainty_study.json`` and the calibrated ``OUT/model_calibrated.pt``
(with ``--planner``, also the plan disagreement of that planner's config on both stores).

``safety``: the uncertainty-penalized planner against the unpenalized one from the same
checkpoint (only ``uncertainty_weight`` differs), paired episodes: limit violations on a shifted
profile and the return ratio in distribution (:mod:`mbrl_control.pipeline.safety_case`); prints
JSON and writes ``OUT/safety_case.{json,md}``.

``model``: the model-choice table: a deterministic MLP, a single probabilistic MLP and the
task's ensemble trained on the same ``--data`` and hold-out split (``--collect-seed``), each
scored on one-step and k-step error and 90 % interval coverage (raw / calibrated; n/a for the
deterministic net) and run as the task's own planner on the same paired episodes (``--seed``,
``--episodes``), with training time and planner latency
(:mod:`mbrl_control.pipeline.model_choice_study`); ``--ood-data`` adds the shifted store's
error, disagreement ratio and surprise AUROC. Prints the markdown and writes
``OUT/model_choice.{json,md}``.

``refine``: gradient refinement against more sampling on one ``--checkpoint``: the task's
planner plain, with ``--refine-steps`` gradient steps, and with ``--iterations`` sampling
iterations instead, on the same paired episodes through onnxruntime (one thread): return
with its 95 % interval, success, latency p50/p99 and the paired difference to the plain
planner (:mod:`mbrl_control.pipeline.refine_study`); prints the markdown and writes
``OUT/refine_study.{md,json}``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mbrl_control.cli.checks import (
    PRESET_NAMES,
    existing_dir,
    existing_file,
    float_in,
    int_list,
    nonneg_int,
    out_dir,
    positive_int,
    profile_ref,
    sim_task_name,
)
from mbrl_control.cli.errors import UsageError
from mbrl_control.cli.task_defaults import PRESET_HELP, PROFILE_HELP, TASK_HELP, task_profile

ABLATIONS = [
    "value", "rollout-length", "action-history", "learned-cost", "uncertainty", "safety", "model",
    "refine",
]  # fmt: skip


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "name",
        choices=ABLATIONS,
        help="which ablation",
    )
    parser.add_argument("--task", type=sim_task_name, default="cartpole_swingup", help=TASK_HELP)
    parser.add_argument(
        "--checkpoint", type=existing_file,
        help="ensemble checkpoint (model.pt; value, rollout-length)",
    )  # fmt: skip
    parser.add_argument(
        "--agent", type=existing_file,
        help="agent checkpoint from train-value (value, rollout-length)",
    )  # fmt: skip
    parser.add_argument("--out", type=out_dir, help="output folder (default: runs/ablation_<name>)")
    parser.add_argument("--episodes", type=positive_int, default=10, help="episodes per cell / set")
    parser.add_argument("--profile", type=profile_ref, help=PROFILE_HELP)
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    value = parser.add_argument_group("value")
    value.add_argument("--preset", choices=PRESET_NAMES, help=f"{PRESET_HELP} to vary")
    value.add_argument(
        "--horizons", type=int_list, default="3,5,10,15", help="horizons H, comma separated"
    )
    value.add_argument(
        "--prior-frac", type=float_in(0.0, 1.0), default=0.25, help="policy-prior share"
    )
    value.add_argument("--seed", type=nonneg_int, default=1000, help="seed of the first episode")
    study = parser.add_argument_group("rollout-length")
    study.add_argument(
        "--data", type=existing_dir, help="transition store the model was trained on (required)"
    )
    study.add_argument(
        "--ks", type=int_list, default="1,2,3,5,8,10,15,20,30,40", help="open-loop lengths"
    )
    study.add_argument(
        "--train-ks", type=int_list, default="",
        help="MBPO branch lengths to train, e.g. 1,3,5,10 ('' = none)",
    )  # fmt: skip
    study.add_argument(
        "--epochs", type=positive_int, default=40, help="MBPO epochs per branch length"
    )
    study.add_argument("--updates", type=positive_int, default=500, help="SAC updates per epoch")
    study.add_argument("--env-steps", type=nonneg_int, default=0, help="real sim steps per epoch")
    history = parser.add_argument_group("action-history (--profile defaults to reality_gap)")
    history.add_argument(
        "--steps", type=positive_int, default=1, help="k: past actions in the observation"
    )
    history.add_argument(
        "--holdout", type=positive_int, default=5, help="episodes held out for scoring"
    )
    history.add_argument(
        "--train-epochs", type=positive_int,
        help="model training epochs (default: 60 action-history, 150 learned-cost, "
        "200 model, early stopping)",
    )  # fmt: skip
    history.add_argument(
        "--collect-seed", type=nonneg_int, default=0, help="seed of collection and training"
    )
    cost = parser.add_argument_group(
        "learned-cost (Pendulum-v1; --episodes paired evaluation episodes, --train-epochs, "
        "--collect-seed)"
    )
    cost.add_argument(
        "--random-episodes", type=positive_int, default=10, help="random episodes collected first"
    )
    cost.add_argument(
        "--random-hold", type=positive_int, default=5, help="steps each random action is held"
    )
    cost.add_argument(
        "--rounds", type=nonneg_int, default=2,
        help="rounds of learned-cost planner episodes added to the data, then a refit",
    )  # fmt: skip
    cost.add_argument(
        "--policy-episodes", type=nonneg_int, default=3, help="planner episodes per round"
    )
    unc = parser.add_argument_group(
        "uncertainty (--checkpoint, --data: held-out in-distribution episodes of the planner)"
    )
    unc.add_argument("--ood-data", type=existing_dir, help="store of a shifted profile (required)")
    unc.add_argument(
        "--method", choices=("variance_scaling", "conformal"), default="variance_scaling",
        help="calibration stored in OUT/model_calibrated.pt and its planner",
    )  # fmt: skip
    unc.add_argument(
        "--planner", type=existing_file,
        help="planner file whose config exports the calibrated model (plan disagreement)",
    )  # fmt: skip
    safety = parser.add_argument_group(
        "safety (--checkpoint, --task, --preset, --episodes, --seed; --profile: in distribution)"
    )
    safety.add_argument(
        "--weights", default="0,0.03,0.1", help="uncertainty weights compared, 0 included"
    )
    safety.add_argument(
        "--shifted-profile", type=profile_ref, default="reality_gap", help="the shifted profile"
    )
    safety.add_argument("--jobs", type=positive_int, default=1, help="cells evaluated at once")
    safety.add_argument(
        "--hold", action="store_true",
        help="also run the unpenalized planner under the controller's on_uncertain: hold "
        "(its default surprise/disagreement thresholds and hold_time)",
    )  # fmt: skip
    safety.add_argument(
        "--cautious-weights", default="", metavar="CRITIC=W,...",
        help="also run the unpenalized planner under on_uncertain: cautious with these critic "
        "weights while it reacts (e.g. rail_margin=20 for a margin critic of weight 0)",
    )  # fmt: skip
    refine = parser.add_argument_group(
        "refine (also --checkpoint, --preset, --episodes, --seed, --profile, --data: states "
        "for the objective drop, --agent: a terminal value in every cell)"
    )
    refine.add_argument(
        "--refine-steps", type=int_list, default="1,2",
        help="gradient steps after sampling, one cell each",
    )  # fmt: skip
    refine.add_argument(
        "--iterations", type=int_list, default="3,4",
        help="sampling iterations of the no-refinement rivals, one cell each",
    )  # fmt: skip
    refine.add_argument(
        "--horizon", type=positive_int, default=None,
        help="planning horizon of every cell (default: the preset's); with --agent, the "
        "agent's terminal value is added at it",
    )  # fmt: skip
    refine.add_argument(
        "--refine-step-size", type=float_in(0.0, 1.0, low_open=True), default=None,
        help="largest action change per gradient step, fraction of the half range "
        "(default: the task's planner config, 0.1); with --data, the objective drop is "
        "measured on that store's states",
    )  # fmt: skip
    parser.add_argument_group(  # no flags of its own: says which shared flags apply
        "model",
        "  --data: episodes of the task to train on (e.g. 80 random ones); optional\n"
        "  --ood-data (a shifted profile's store); --episodes, --seed: the paired closed-loop\n"
        "  episodes; --train-epochs; --collect-seed: initialization, split and batches;\n"
        "  --profile of the episodes (default: the task's)",
    )


def run(args: argparse.Namespace) -> int:
    if args.name in ("value", "rollout-length"):
        for flag in ("checkpoint", "agent"):
            if not getattr(args, flag):
                raise UsageError(f"ablation {args.name} needs --{flag}")
    if args.name == "learned-cost":
        given = [f for f in ("checkpoint", "agent", "data", "profile") if getattr(args, f)]
        if args.task != "cartpole_swingup":
            given.append("task")
        if given:
            raise UsageError(
                f"ablation learned-cost runs on gymnasium's Pendulum-v1 and trains its own model: "
                f"--{given[0]} does not apply"
            )
    if args.name == "uncertainty":
        for flag in ("checkpoint", "data", "ood_data"):
            if not getattr(args, flag):
                raise UsageError(f"ablation uncertainty needs --{flag.replace('_', '-')}")
    if args.name == "model":
        given = [f for f in ("checkpoint", "agent", "planner", "preset") if getattr(args, f)]
        if given:
            raise UsageError(
                f"ablation model trains its own three models: --{given[0]} does not apply"
            )
        if not args.data:
            raise UsageError("ablation model needs --data (a transition store of the task)")
    if args.name in ("safety", "refine") and not args.checkpoint:
        raise UsageError(f"ablation {args.name} needs --checkpoint")
    if args.name == "rollout-length" and not args.data:
        raise UsageError("ablation rollout-length needs --data (the model's transition store)")
    import torch

    torch.set_num_threads(1)
    out = Path(args.out or f"runs/ablation_{args.name.replace('-', '_')}")
    studies = {
        "value": _value,
        "rollout-length": _rollout_length,
        "action-history": _history,
        "learned-cost": _learned_cost,
        "uncertainty": _uncertainty,
        "safety": _safety,
        "model": _model,
        "refine": _refine,
    }
    print(studies[args.name](args, out))
    return 0


def _history(args: argparse.Namespace, out: Path) -> str:
    from mbrl_control.pipeline.history_study import markdown_table, run_history_study

    if args.episodes <= args.holdout:
        raise UsageError(f"--episodes {args.episodes} must exceed --holdout {args.holdout}")
    result = run_history_study(
        args.task, out, profile=args.profile or "reality_gap", steps=args.steps,
        episodes=args.episodes, holdout=args.holdout, seed=args.collect_seed,
        epochs=args.train_epochs or 60, quiet=args.quiet,
    )  # fmt: skip
    table = markdown_table(result)
    (out / "action_history.md").write_text(table + "\n")
    same = "same episodes" if result["same_episodes"] else "WARNING: the episodes differ"
    return (
        f"{table}\n({same}; {result['profile']})\nwrote {out}/action_history.md and .json; "
        f"the task with the block: {result['variant_task_file']}"
    )


def _learned_cost(args: argparse.Namespace, out: Path) -> str:
    from mbrl_control.pipeline.learned_cost_study import LearnedCostConfig, run_learned_cost_study

    cfg = LearnedCostConfig(
        random_episodes=args.random_episodes, random_hold=args.random_hold, rounds=args.rounds,
        policy_episodes=args.policy_episodes, eval_episodes=args.episodes,
        epochs=args.train_epochs or 150, seed=args.collect_seed,
    )  # fmt: skip
    result = run_learned_cost_study(out, cfg, quiet=args.quiet)
    (out / "learned_cost.json").write_text(json.dumps(result, indent=2) + "\n")
    return json.dumps(result, indent=2)


def _uncertainty(args: argparse.Namespace, out: Path) -> str:
    import contextlib
    import io

    from mbrl_control.pipeline.uncertainty_study import main

    argv = ["--checkpoint", args.checkpoint, "--data", args.data, "--ood-data", args.ood_data]
    argv += ["--out", str(out), "--method", args.method]
    argv += ["--planner", args.planner] if args.planner else []
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        main(argv)
    return printed.getvalue().rstrip("\n")


def _safety(args: argparse.Namespace, out: Path) -> str:
    from mbrl_control.pipeline.safety_case import parse_weights, reaction_arms, run_safety_case

    result = run_safety_case(
        args.checkpoint, out, weights=parse_weights(args.weights), episodes=args.episodes,
        profile_shifted=args.shifted_profile, profile_default=args.profile or "default",
        task=None if args.task == "cartpole_swingup" else args.task, preset=args.preset,
        seed=args.seed, threads=1, jobs=args.jobs, quiet=args.quiet,
        reactions=reaction_arms(args.hold, args.cautious_weights),
    )  # fmt: skip
    return json.dumps(result, indent=2)


def _model(args: argparse.Namespace, out: Path) -> str:
    from mbrl_control.pipeline.model_choice_study import markdown_table, run_model_choice

    result = run_model_choice(
        args.task, args.data, out, ood_dir=args.ood_data,
        profile=task_profile(args.task, args.profile), episodes=args.episodes, seed=args.seed,
        train_seed=args.collect_seed, max_epochs=args.train_epochs, quiet=args.quiet,
    )  # fmt: skip
    return f"{markdown_table(result)}\nwrote {out}/model_choice.md and model_choice.json"


def _refine(args: argparse.Namespace, out: Path) -> str:
    from mbrl_control.pipeline.refine_study import markdown_table, run_refine_study

    try:
        result = run_refine_study(
            args.task, args.checkpoint, out, preset=args.preset, refine_steps=args.refine_steps,
            iterations=args.iterations, episodes=args.episodes,
            profile=task_profile(args.task, args.profile), seed=args.seed,
            step_size=args.refine_step_size, data=args.data, agent_path=args.agent,
            horizon=args.horizon, quiet=args.quiet,
        )  # fmt: skip
    except ValueError as e:  # a part without a declared derivative
        raise UsageError(str(e)) from None
    table = markdown_table(result)
    (out / "refine_study.md").write_text(table + "\n")
    (out / "refine_study.json").write_text(json.dumps(result, indent=2))
    return f"{table}\nwrote {out}/refine_study.md and refine_study.json"


def _value(args: argparse.Namespace, out: Path) -> str:
    from mbrl_control.pipeline.value_ablation import markdown_table, run_value_ablation

    result = run_value_ablation(
        args.task, args.checkpoint, args.agent, out, preset=args.preset,
        horizons=args.horizons, episodes=args.episodes, prior_frac=args.prior_frac,
        profile=task_profile(args.task, args.profile), seed=args.seed, quiet=args.quiet,
    )  # fmt: skip
    table = markdown_table(result["rows"])
    (out / "ablation_value.md").write_text(table + "\n")
    (out / "ablation_value.json").write_text(json.dumps(result, indent=2))
    return f"{table}\nwrote {out}/ablation_value.md and ablation_value.json"


def _rollout_length(args: argparse.Namespace, out: Path) -> str:
    from mbrl_control.agents.config import MBPOConfig
    from mbrl_control.pipeline.rollout_study import markdown_tables, run_rollout_study

    mbpo = MBPOConfig(
        epochs=args.epochs, updates_per_epoch=args.updates, env_steps_per_epoch=args.env_steps
    )
    report = run_rollout_study(
        args.task, args.checkpoint, args.data, args.agent, out, ks=args.ks,
        episodes=args.episodes, train_ks=args.train_ks, mbpo_cfg=mbpo,
        eval_episodes=args.episodes, profile=task_profile(args.task, args.profile),
        quiet=args.quiet,
    )  # fmt: skip
    tables = markdown_tables(report)
    (out / "rollout_study.md").write_text(tables + "\n")
    return f"{tables}\nwrote {out}/rollout_study.md, rollout_study.json and rollout_study.png"
