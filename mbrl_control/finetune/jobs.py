"""Background jobs of ``finetune_node``: their command lines, run at low CPU priority.

The node never trains in its own process: each job is ``mbrl-control <subcommand> ...`` in a
child process started by :func:`niced_argv`, whose first act is ``os.nice(n)`` (n >= 10), so
the robot's controller keeps its CPU share while a job runs (children the job starts, e.g.
simulator workers, inherit the niceness). Jobs:

- **finetune** (:func:`finetune_argv`): retrain the live model on the real data, gate, export;
- **adapt** (:func:`adapt_argv`): calibrate the simulator to the real data, re-pretrain warm
  on the calibrated profile, finetune, gate against the live model
  (:mod:`mbrl_control.pipeline.adapt`).

Both print one JSON object on stdout with ``deploy`` (bool), ``planner`` and ``checkpoint``
(the files to deploy when ``deploy``) and ``reason``. Standard library only: the node imports
this module without torch.

``python -m mbrl_control.finetune.jobs N ARGS...`` lowers its own priority by N, then runs
``mbrl-control ARGS...`` in the same process; it writes ``niceness <value>`` on stderr first
and exits as soon as the command returns (no interpreter teardown).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

MIN_NICE = 10
"""Least niceness of a job (the controller runs at 0)."""


def niced_argv(nice: int, args: Sequence[str], *, least: int = MIN_NICE) -> list[str]:
    """The command line that runs ``mbrl-control args...`` with its niceness raised by
    ``nice`` (``least``..19, ``ValueError`` otherwise; ``least`` below 10 only for a benchmark
    that shows what the priority buys)."""
    if not least <= int(nice) <= 19:
        raise ValueError(f"job niceness {nice}: allowed {least}..19")
    return [sys.executable, "-m", "mbrl_control.finetune.jobs", str(int(nice)), *args]


def finetune_argv(
    data_dir: str,
    out: str,
    checkpoint: str,
    planner: str,
    *,
    real_ratio: float,
    holdout_episodes: int,
    max_epochs: int,
    sim_data: str = "",
) -> list[str]:
    """``mbrl-control finetune`` arguments (the planner's task; output JSON on stdout)."""
    args = ["finetune", "--data", data_dir, "--out", out, "--json", "--quiet"]
    args += ["--checkpoint", checkpoint, "--planner", planner]
    args += ["--real-ratio", str(real_ratio), "--holdout-episodes", str(holdout_episodes)]
    args += ["--max-epochs", str(max_epochs)]
    return args + (["--sim-data", sim_data] if sim_data else [])


def adapt_argv(
    task: str,
    run: str,
    data_dir: str,
    out: str,
    current: str,
    *,
    rounds: int,
    episodes_per_round: int,
    evaluations: int,
    holdout_episodes: int,
    real_ratio: float,
    max_epochs: int,
    workers: int = 1,
    seed: int = 0,
) -> list[str]:
    """``mbrl-control adapt`` arguments: ``run`` the pretraining run folder, ``current`` the
    live checkpoint the result is gated against (output JSON on stdout)."""
    args = ["adapt", "--task", task, "--run", run, "--data", data_dir, "--out", out]
    args += ["--current", current, "--rounds", str(rounds)]
    args += ["--episodes-per-round", str(episodes_per_round), "--workers", str(workers)]
    args += ["--evaluations", str(evaluations), "--holdout-episodes", str(holdout_episodes)]
    args += ["--real-ratio", str(real_ratio), "--max-epochs", str(max_epochs)]
    return [*args, "--seed", str(seed), "--json", "--quiet"]


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or not argv[0].lstrip("-").isdigit():
        print("usage: python -m mbrl_control.finetune.jobs NICE ARGS...", file=sys.stderr)
        return 2
    value = os.nice(int(argv[0]))
    print(f"niceness {value}", file=sys.stderr, flush=True)
    from mbrl_control.cli import main as cli_main

    return int(cli_main(argv[1:]) or 0)


if __name__ == "__main__":
    code = main()
    # The job's outputs are written and closed; skip the interpreter's teardown of torch and
    # onnxruntime (thread pools, modules): at low priority on a busy machine it took minutes,
    # and the node waits for the process to exit before it deploys.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
