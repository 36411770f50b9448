"""Pretrain in randomized sim: random seed data, then rounds of planner-driven data.

MBRL practice: the data distribution shifts as the controller improves, so after a random
seed set each round collects episodes **with the current planner**, retrains the ensemble
(warm start, all data) and re-exports ``planner.onnx``. The planner-driven episodes are
closed-loop by construction, so their returns are the per-round learning curve.

Layout of ``out``: ``data/`` (transition store), ``model.pt``, ``planner.onnx``,
``model_report.json|png``, ``rounds.json`` (one entry per finished round; the resume point),
``returns.png``, ``metrics/`` (TensorBoard event files + ``metrics.csv``: ``train/*`` per
training epoch, one curve over all rounds; ``round/*`` per round: returns, hold-out MSE).
Rerunning with the same ``out`` continues after the last finished round.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mbrl_control.models.config import TrainConfig
from mbrl_control.pipeline.run_identity import ref_identity


@dataclass(frozen=True)
class PretrainConfig:
    """What ``mbrl-control pretrain`` does, round by round."""

    task: str = "cartpole_swingup"
    profile: str = "default"
    preset: str | None = None
    """Planner preset (planning/presets): its ensemble shape is trained, its planner exported;
    None: the task's own (its file's ``planner`` section)."""
    seed_episodes: int = 10
    """Random-policy episodes before the first model."""
    rounds: int = 4
    """Planner-driven rounds after the seed round."""
    episodes_per_round: int = 5
    workers: int = 2
    seed: int = 0
    max_epochs: int = 60

    def __post_init__(self) -> None:
        for key in ("seed_episodes", "episodes_per_round", "workers", "max_epochs"):
            if getattr(self, key) < 1:
                raise ValueError(f"PretrainConfig.{key} must be >= 1, got {getattr(self, key)}")
        if self.rounds < 0:
            raise ValueError(f"PretrainConfig.rounds must be >= 0, got {self.rounds}")


def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2))
    os.replace(tmp, path)


def train_and_export(
    cfg: PretrainConfig,
    out: Path,
    data: Any,
    warm: bool,
    quiet: bool,
    callback: Callable[[int, dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Fit (warm start from ``out/model.pt`` if asked), checkpoint, export ``planner.onnx``;
    ``callback(epoch, info)`` after each training epoch (e.g. ``MetricsLog.callback``)."""
    from mbrl_control.export.onnx_export import export_planner
    from mbrl_control.models.checkpoint import load_checkpoint, save_checkpoint
    from mbrl_control.models.config import EnsembleConfig
    from mbrl_control.models.cost_targets import transition_costs
    from mbrl_control.models.ensemble import Ensemble
    from mbrl_control.models.trainer import fit
    from mbrl_control.planning.presets import planner_setup
    from mbrl_control.tasks import get_task

    task = get_task(cfg.task)
    preset, model_kwargs, planner_cfg = planner_setup(task, cfg.preset)
    learned = task.cost_source == "learned"  # then the planner's cost is the reward head
    if warm and (out / "model.pt").exists():
        model, _ = load_checkpoint(out / "model.pt")
    else:
        model = Ensemble(
            EnsembleConfig.for_task(task, seed=cfg.seed, reward_head=learned, **model_kwargs)
        )
    cost = None
    if model.cfg.reward_head:
        cost = transition_costs(task, data.obs, data.action, data.next_obs, data.goal)
    metrics = fit(
        model,
        data.obs,
        data.action,
        data.next_obs,
        data.episode_id,
        TrainConfig(max_epochs=cfg.max_epochs, seed=cfg.seed),
        cost=cost,
        quiet=quiet,
        callback=callback,
    )
    provenance = {
        "task": cfg.task,
        "profile": cfg.profile,
        "transitions": len(data),
        "holdout_mse": metrics.get("holdout_mse"),
        "preset": preset,
    }
    save_checkpoint(out / "model.pt", model, provenance)
    export_planner(model, task, planner_cfg, out / "planner.onnx", provenance=provenance)
    return metrics


SETTINGS = "settings.json"
"""``OUT/settings.json``: :func:`run_settings` of the last :func:`pretrain` call into OUT."""


def run_settings(cfg: PretrainConfig) -> dict[str, Any]:
    """What makes a pretraining run the same run when it is resumed: the task, DR profile
    (files by content: :func:`~mbrl_control.pipeline.run_identity.ref_identity`), preset and
    seed. Round sizes may change between calls (a resume may add rounds)."""
    return {
        "task": ref_identity(cfg.task),
        "profile": ref_identity(cfg.profile),
        "preset": cfg.preset,
        "seed": cfg.seed,
    }


def check_resume(cfg: PretrainConfig, out: str | Path) -> None:
    """Raise ``ValueError`` (one line) when ``out`` holds finished rounds of a run with other
    :func:`run_settings` (resuming would mix two runs' data in one model), or another
    command's ``settings.json`` (a ``train-pixels`` folder: writing there would overwrite it).
    A folder without rounds, or from before settings were written, passes.
    ``mbrl-control pretrain`` checks; :func:`pretrain` itself does not (``adapt`` continues a
    copied run in another simulator)."""
    out = Path(out)
    path = out / SETTINGS
    if not path.exists():
        return
    before = json.loads(path.read_text())
    now = json.loads(json.dumps(run_settings(cfg)))
    if not isinstance(before, dict) or set(before) - set(now):  # e.g. a train-pixels folder
        raise ValueError(f"{out}: holds another command's run ({SETTINGS} without a "
                         "pretraining run's settings); choose another --out")  # fmt: skip
    if not (out / "rounds.json").exists():
        return
    diff = [f"{k} {before.get(k)!r} -> {now.get(k)!r}" for k in {**before, **now}
            if before.get(k) != now.get(k)]  # fmt: skip
    if diff:
        raise ValueError(
            f"{out}: holds a pretraining run with other settings ({'; '.join(diff)}); rerun "
            "with its settings to resume it, or choose another --out"
        )


def pretrain(cfg: PretrainConfig, out: str | Path, *, quiet: bool = False) -> dict[str, Any]:
    """Run (or resume) the rounds; returns the ``rounds.json`` content. Writes
    ``OUT/settings.json`` (:func:`run_settings`; checked by :func:`check_resume`)."""
    from mbrl_control.data.store import TransitionStore
    from mbrl_control.recording.metrics import MetricsLog

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _write_json(out / SETTINGS, run_settings(cfg))
    rounds_path = out / "rounds.json"
    rounds: list[dict[str, Any]] = (
        json.loads(rounds_path.read_text()) if rounds_path.exists() else []
    )
    store = TransitionStore(out / "data")
    with MetricsLog(out / "metrics") as metrics_log:
        for r in range(len(rounds), cfg.rounds + 1):
            # training epochs continue one train/* curve over the rounds (and over a resume)
            epochs_before = sum(int(done.get("epochs") or 0) for done in rounds)
            entry = _round(cfg, out, r, store, metrics_log.callback("train", epochs_before), quiet)
            rounds.append(entry)
            _write_json(rounds_path, rounds)
            metrics_log.scalars("round", _round_metrics(entry), step=r)
            if not quiet:
                print(
                    f"[pretrain] round {r}: {entry['policy']} return "
                    f"{entry['mean_return']:.1f}, {entry['transitions_total']} transitions"
                )
    return {
        "rounds": rounds,
        "planner": str(out / "planner.onnx"),
        "checkpoint": str(out / "model.pt"),
    }


def _round(
    cfg: PretrainConfig,
    out: Path,
    r: int,
    store: Any,
    callback: Callable[[int, dict[str, Any]], None] | None,
    quiet: bool,
) -> dict[str, Any]:
    """Round ``r``: collect, retrain on everything, export; its ``rounds.json`` entry."""
    from mbrl_sim.collect import collect

    # ---- collect: random seed data in round 0, the current planner afterwards ----
    policy = "random" if r == 0 else f"planner:{out / 'planner.onnx'}"
    episodes = cfg.seed_episodes if r == 0 else cfg.episodes_per_round
    before = len(store)
    collect(
        cfg.task,
        cfg.profile,
        episodes,
        policy,
        cfg.workers,
        out / "data",
        seed=cfg.seed + 1000 * r,
        quiet=quiet,
    )
    data = store.load()
    returns = [float(ep["return"]) for ep in data.episodes[before:]]
    # ---- retrain on everything, export the next round's planner ----
    metrics = train_and_export(cfg, out, data, warm=r > 0, quiet=quiet, callback=callback)
    return {
        "round": r,
        "policy": "random" if r == 0 else "planner",
        "episodes": len(returns),
        "transitions_total": len(data),
        "mean_return": float(np.mean(returns)),
        "returns": returns,
        "holdout_mse": metrics.get("holdout_mse"),
        "epochs": metrics.get("epochs"),
    }


def _round_metrics(entry: dict[str, Any]) -> dict[str, Any]:
    """A round's scalars for the metrics log (``round/*``)."""
    keys = ("mean_return", "holdout_mse", "epochs", "episodes", "transitions_total")
    returns = entry["returns"]
    return {
        **{key: entry[key] for key in keys},
        "min_return": min(returns),
        "max_return": max(returns),
    }
