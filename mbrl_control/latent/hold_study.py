"""What holding an action costs a controller that sees the true state: the ceiling a pixel
planner at that action repeat can reach.

``python -m mbrl_control.latent.hold_study PLANNER.onnx --repeats 1,2,4 --episodes 10``
(JSON): a state planner file (``mbrl-control pretrain``'s ``planner.onnx``) acts on the
simulator's state in the pixel env on ``train-pixels``' evaluation starts (balance starts by
default; paired: the same starts and noise seeds for every repeat), each action held for k env
steps as ``train-pixels --action-repeat k`` holds the pixel planner's; per k: return, success,
and the paired return difference to the first k with its bootstrap 95 % interval. A state
planner plans with one-step dynamics, so held actions also cost it the plan's mismatch: the
rows bound what the hold costs from above, not exactly.
"""

from __future__ import annotations

import json
from typing import Any

from mbrl_control.cli import ArgumentParser


def hold_study(
    planner_path: str, repeats: list[int], episodes: int = 10, task: str = "cartpole_swingup",
    start: str = "balance", seed: int = 0,
) -> list[dict[str, Any]]:  # fmt: skip
    """One row per action repeat (see module). Raises ``FileNotFoundError``/``ValueError``
    (one line) for a missing or broken file, a pixel planner, or another task's planner."""
    from mbrl_control.bench.precision import add_paired_row
    from mbrl_control.export.runtime import OnnxPlanner
    from mbrl_control.latent.training import PixelRun, PixelTrainConfig, score_policy

    run = PixelRun(PixelTrainConfig(task=task, start=start, seed=seed), "-", log=lambda _: None)
    try:  # the run's env, camera and starts; nothing is written
        planner = OnnxPlanner(planner_path, expected_task=run.task, threads=1)
        rows: list[dict[str, Any]] = []
        for k in repeats:
            reset = lambda i: planner.reset(seed=i)  # noqa: E731  (paired noise seeds)
            score = score_policy(run.env, planner.act, episodes, run.start_state, k,
                                 on_reset=reset, reads="state")  # fmt: skip
            row = {"action_repeat": k, "decision_hz": run.task.control_hz / k,
                   **{key: score[key] for key in ("mean_return", "std_return", "success_rate",
                                                 "success_ci")},
                   "returns": [round(r, 2) for r in score["returns"]]}  # fmt: skip
            add_paired_row(rows, row, score["returns"])
        return rows
    finally:
        run.close()


def main(argv: list[str] | None = None) -> int:
    from mbrl_control.cli.checks import (
        existing_file,
        int_list,
        nonneg_int,
        positive_int,
        sim_task_name,
    )
    from mbrl_control.cli.task_defaults import TASK_HELP

    parser = ArgumentParser(prog="python -m mbrl_control.latent.hold_study", description=__doc__)
    parser.add_argument("planner", type=existing_file, help="a state planner ONNX file")
    parser.add_argument("--repeats", type=int_list, default=(1, 2, 4), help="k,... (env steps)")
    parser.add_argument("--episodes", type=positive_int, default=10, help="paired episodes")
    parser.add_argument("--task", type=sim_task_name, default="cartpole_swingup", help=TASK_HELP)
    parser.add_argument("--start", choices=("balance", "task"), default="balance")
    parser.add_argument("--seed", type=nonneg_int, default=0, help="the starts' seed")
    args = parser.parse_args(argv)
    if not args.repeats or len(set(args.repeats)) != len(args.repeats):
        parser.error(f"--repeats: give distinct action repeats, got {list(args.repeats)}")
    try:
        rows = hold_study(args.planner, list(args.repeats), args.episodes, args.task, args.start,
                          seed=args.seed)  # fmt: skip
    except (FileNotFoundError, ValueError) as err:
        parser.exit(2, f"{parser.prog}: error: {err}\n")
    print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
