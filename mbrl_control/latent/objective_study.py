"""Does the world model see the robot, and can it imagine the reward? Objectives compared offline.

``python -m mbrl_control.latent.objective_study DATA --weights 0,20 --overshoot 0,12``
(JSON): for each foreground weight and reward-overshooting distance
(:class:`~mbrl_control.latent.world_model.WorldModelConfig` ``foreground_weight``,
``reward_overshoot``; 0 and 0 are the plain DreamerV1 loss), a world model of the pixel run's
default size trained from the same seed on the same sequences of the store ``DATA`` (a
``train-pixels`` run's ``RUN/data``, or any store with frames), then
:func:`~mbrl_control.latent.probe.latent_report`: the reward head's correlation with the task's
reward on filtered states and on imagined ones (what the planner reads), and linear probes of
the latent per state dimension. Offline and seeded: it isolates what the objective does to the
model from what the planner does with it (docs/pixels.md).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path
from typing import Any

from mbrl_control.cli import ArgumentParser


def objective_study(
    data: str | Path,
    weights: tuple[float, ...],
    overshoots: tuple[int, ...] = (0,),
    updates: int = 600,
    batch: int = 16,
    length: int = 16,
    task: str = "cartpole_swingup",
    seed: int = 0,
) -> list[dict[str, Any]]:
    """One row per (foreground weight, overshoot distance) (see module): ``weight``,
    ``overshoot``, ``train_s`` (s, wall) and the :func:`~mbrl_control.latent.probe
    .latent_report`. ``ValueError`` for a store without usable frames."""
    import itertools

    import numpy as np
    import torch

    from mbrl_control.data.image_store import SequenceLoader
    from mbrl_control.data.store import TransitionStore
    from mbrl_control.latent.planner import ActionScale
    from mbrl_control.latent.probe import latent_report
    from mbrl_control.latent.training import SMALL_MODEL, train_steps
    from mbrl_control.latent.world_model import WorldModel
    from mbrl_control.tasks import get_task

    spec = get_task(task)
    width = TransitionStore(data).load().obs.shape[-1]
    if width != spec.obs_dim:
        raise ValueError(f"{data}: observations of width {width}, but task {spec.name!r} has "
                         f"{spec.obs_dim}: give the store's task with --task")  # fmt: skip
    loader = SequenceLoader(data, length, task=spec)
    scale = ActionScale(spec.low.tolist(), spec.high.tolist())
    rows = []
    for weight, overshoot in itertools.product(weights, overshoots):
        torch.manual_seed(seed)
        config = dataclasses.replace(
            SMALL_MODEL, foreground_weight=float(weight), reward_overshoot=overshoot
        )
        model = WorldModel(spec.act_dim, config)
        opt = torch.optim.Adam(model.parameters(), 2e-3, eps=1e-5)
        began = time.perf_counter()
        train_steps(model, opt, loader, scale, np.random.default_rng(seed), updates, batch, 100.0)
        rows.append(
            {
                "weight": float(weight),
                "overshoot": overshoot,
                "updates": updates,
                "train_s": round(time.perf_counter() - began, 1),
                **latent_report(model, loader, spec, seed=seed + 1),
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    from mbrl_control.cli.checks import float_in, int_in, positive_int

    weight = float_in(0.0, 1000.0)

    def weight_list(text: str) -> tuple[float, ...]:
        values = tuple(weight(x.strip()) for x in text.split(",") if x.strip())
        if not values:
            raise argparse.ArgumentTypeError(f"no weight in {text!r}")
        return values

    parser = ArgumentParser(
        prog="python -m mbrl_control.latent.objective_study", description=__doc__
    )
    parser.add_argument("data", help="a transition store with frames (a train-pixels RUN/data)")
    parser.add_argument("--weights", type=weight_list, default=(0.0, 20.0), help="e.g. 0,20,50")
    parser.add_argument(
        "--overshoot", type=lambda text: tuple(int_in(0, 100)(x) for x in text.split(",")),
        default=(0,), help="reward-overshooting distances, e.g. 0,12",
    )  # fmt: skip
    parser.add_argument("--updates", type=positive_int, default=600, help="Adam steps per model")
    parser.add_argument("--batch", type=positive_int, default=16, help="sequences per step")
    parser.add_argument("--task", default="cartpole_swingup", help="the store's task (rewards)")
    parser.add_argument("--seed", type=int, default=0, help="model init and sequence draws")
    args = parser.parse_args(argv)
    data = Path(args.data)
    if not data.is_dir():
        parser.error(f"{data}: no such folder")
    if (data / "data" / "images").is_dir():
        parser.error(f"{data}: a train-pixels run folder; give its store, {data / 'data'}")
    if not (data / "images").is_dir():
        parser.error(f"{data}: no frames (images/) in this store")
    import torch

    torch.set_num_threads(1)  # small convolutions: one thread beats two on a shared machine
    try:
        rows = objective_study(args.data, args.weights, args.overshoot, args.updates,
                               args.batch, task=args.task, seed=args.seed)  # fmt: skip
    except ValueError as err:  # another task's store, no usable episode
        parser.error(str(err))
    print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
