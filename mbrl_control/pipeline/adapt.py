"""The adaptation loop a lab runs after recording on its robot (``mbrl-control adapt``).

From a pretraining run (``mbrl-control pretrain --out RUN``: ``RUN/model.pt``,
``RUN/planner.onnx``, ``RUN/data``, ``RUN/rounds.json``) and real transitions recorded on the
robot (``finetune_node``'s store, ``mbrl-control import --csv/--bag``):

1. **calibrate** the simulator to the real data (:func:`mbrl_sim.calibration.calibrate`):
   ``OUT/calibrated.yaml`` (a DR profile) and ``OUT/calibrated.json``;
2. **re-pretrain** a copy of RUN, warm, for ``rounds`` more planner rounds in the calibrated
   simulator (``OUT/pretrain_calibrated``): the model sees the robot's physics, the planner
   collects where it now goes;
3. **finetune** that model on the real data (sim data replayed), **gate** it on the newest
   real episodes (:func:`mbrl_control.finetune.retrain.retrain_and_gate`), and pick what to
   **deploy**: the finetuned planner if it passed its gate, else the re-pretrained one, and
   only if it predicts the held-out real episodes better than the robot's current model
   (``current``: the live checkpoint, by default the pretraining run's); otherwise nothing
   (keep the current planner).

``finetune_node`` runs the same loop live (its ``adapt`` parameter) as a low-priority
background job (:mod:`mbrl_control.finetune.jobs`), gated against its live model, and
hot-swaps the result like any retrain.

The same steps run in simulation inside ``mbrl-control experiment sim2real`` (its
``calibrated`` condition), where the "robot" is the ``reality_gap`` simulator.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np


def current_error(checkpoint: Path, real: Any, held: list[int]) -> float:
    """One-step error of the model in ``checkpoint`` on the held-out real episodes, in the
    same units as the gate's (per unit of the real data's observation std)."""
    import torch

    from mbrl_control.finetune.retrain import prediction_error
    from mbrl_control.models.checkpoint import load_checkpoint

    model, _ = load_checkpoint(checkpoint)
    model.eval()
    rows = np.flatnonzero(np.isin(real.episode_id, held))
    scale = torch.as_tensor(real.obs.std(0) + 1e-6, dtype=torch.float32)
    return prediction_error(model, real, rows, scale)


def adapt(
    task: str,
    run: str | Path,
    real_dir: str | Path,
    out: str | Path,
    *,
    rounds: int = 2,
    episodes_per_round: int = 5,
    workers: int = 2,
    evaluations: int = 400,
    holdout_episodes: int = 1,
    real_ratio: float = 0.9,
    max_epochs: int = 50,
    seed: int = 0,
    current: str | Path | None = None,
    quiet: bool = False,
) -> dict[str, Any]:
    """Run the loop (see the module docstring); write ``OUT/adapt.json``; return it.

    ``current``: the checkpoint of the model the robot runs now (default ``RUN/model.pt``);
    what is deployed must predict the held-out real episodes better than it. The result's
    ``deploy``, ``planner`` and ``checkpoint`` (the files to deploy, None when not) and
    ``reason`` are what ``finetune_node`` reads, as from a retrain's gate.

    Raises ``ValueError`` (one line) for a run folder without its files, unusable real data
    or a task the simulator cannot replay; ``FileNotFoundError`` for missing paths.
    """
    from mbrl_sim.calibration import CalibrationConfig, calibrate

    from mbrl_control.data.store import TransitionStore
    from mbrl_control.finetune.retrain import newest_episodes, retrain_and_gate
    from mbrl_control.models.config import TrainConfig
    from mbrl_control.pipeline.pretrain import PretrainConfig, pretrain

    run, out = Path(run), Path(out)
    missing = [
        f for f in ("model.pt", "planner.onnx", "rounds.json", "data") if not (run / f).exists()
    ]
    if missing:
        raise ValueError(f"{run}: not a pretraining run (missing {', '.join(missing)})")
    current = Path(current) if current else run / "model.pt"
    if not current.is_file():
        raise FileNotFoundError(f"current checkpoint {current}: no such file")
    real = TransitionStore(real_dir).load()
    if len(np.unique(real.episode_id)) <= holdout_episodes:
        raise ValueError(
            f"{real_dir}: need more than {holdout_episodes} real episode(s), have "
            f"{len(np.unique(real.episode_id))}"
        )
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    timings: dict[str, float] = {}

    # 1. calibrate
    profile = out / "calibrated.yaml"
    calibration = calibrate(
        task, real_dir, profile, cfg=CalibrationConfig(evaluations=evaluations, seed=seed),
        quiet=quiet,
    )  # fmt: skip
    timings["calibrate_s"] = time.perf_counter() - t0

    # 2. re-pretrain a copy of the run, warm, in the calibrated simulator
    t1 = time.perf_counter()
    re = out / "pretrain_calibrated"
    if re.exists():
        shutil.rmtree(re)
    shutil.copytree(run, re)
    done = len(json.loads((re / "rounds.json").read_text()))
    from mbrl_control.models.checkpoint import load_checkpoint

    preset = (load_checkpoint(run / "model.pt")[1] or {}).get("preset")  # as pretrained
    pcfg = PretrainConfig(
        task=task, profile=str(profile), preset=preset, episodes_per_round=episodes_per_round,
        workers=workers, seed=seed, max_epochs=max_epochs,
    )  # fmt: skip
    pretrain(replace(pcfg, rounds=done - 1 + rounds), re, quiet=quiet)
    timings["repretrain_s"] = time.perf_counter() - t1

    # 3. finetune on the real data, gate, choose what to deploy
    t2 = time.perf_counter()
    sim = TransitionStore(re / "data").load()
    gated = retrain_and_gate(
        real, re / "model.pt", re / "planner.onnx", out / "deploy", sim=sim,
        real_ratio=real_ratio, holdout_episodes=holdout_episodes,
        train_cfg=TrainConfig(max_epochs=max_epochs, seed=seed), quiet=quiet,
    )  # fmt: skip
    timings["finetune_s"] = time.perf_counter() - t2
    held = newest_episodes(real.episode_id, holdout_episodes)
    errors = {
        "current": current_error(current, real, held),
        "recalibrated": current_error(re / "model.pt", real, held),
    }
    if gated.get("deploy") and gated.get("planner"):
        errors["finetuned"] = current_error(Path(gated["checkpoint"]), real, held)
        best, planner, checkpoint = "finetuned", gated["planner"], gated["checkpoint"]
    else:
        best, planner, checkpoint = "recalibrated", str(re / "planner.onnx"), str(re / "model.pt")
    deploy = errors[best] < errors["current"]
    result = {
        "task": task,
        "run": str(run),
        "current": str(current),
        "real": str(real_dir),
        "real_transitions": len(real),
        "held_out_episodes": held,
        "calibration": {
            "profile": str(profile),
            "fitted": calibration.get("fitted"),
            "replay_error": calibration.get("replay_error"),
            "identifiable_only_together": calibration.get("identifiable_only_together"),
        },
        "repretrain_rounds": rounds,
        "gate": gated,
        "held_out_error": errors,
        "choice": best,
        "deploy": deploy,
        "planner": planner if deploy else None,
        "checkpoint": checkpoint if deploy else None,
        "reason": (
            f"{best} predicts the held-out real episodes better than the current model "
            f"({errors[best]:.4g} vs {errors['current']:.4g})"
            if deploy
            else f"keep the current planner: {best} is not better on the held-out real "
            f"episodes ({errors[best]:.4g} vs {errors['current']:.4g})"
        ),
        "timings_s": {k: round(v, 1) for k, v in timings.items()},
        "total_s": round(time.perf_counter() - t0, 1),
    }
    (out / "adapt.json").write_text(json.dumps(result, indent=2, default=float))
    return result
