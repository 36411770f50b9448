"""Retrain the live ensemble on real data, gate it against the live model, export if better.

Used by ``finetune_node`` (in a separate process, via ``mbrl-control finetune``) and by the
offline ``mbrl-control finetune --data DIR | --bag FILE.mcap``. The gate compares one-step
prediction error on the **newest real episodes**, held out from training, for the new and
the live model, measured in the same units (the live model's output scaling); the new
planner is exported only if it is strictly better.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mbrl_control.data.store import Transitions, TransitionStore
from mbrl_control.export.onnx_export import export_planner
from mbrl_control.export.runtime import OnnxPlanner
from mbrl_control.models.checkpoint import load_checkpoint, save_checkpoint
from mbrl_control.models.config import TrainConfig
from mbrl_control.models.ensemble import Ensemble
from mbrl_control.models.trainer import fit
from mbrl_control.planning.config import PlannerConfig
from mbrl_control.tasks import get_task


@torch.no_grad()
def prediction_error(
    model: Ensemble, data: Transitions, rows: np.ndarray, scale: torch.Tensor
) -> float:
    """Mean squared one-step error of the ensemble mean on ``rows``, per unit of ``scale (O,)``."""
    obs = torch.as_tensor(data.obs[rows])
    mean, _ = model.predict(obs, torch.as_tensor(data.action[rows]))  # (E, B, O)
    err = (mean.mean(0) - torch.as_tensor(data.next_obs[rows])) / scale
    return float(err.square().mean())


def newest_episodes(episode_id: np.ndarray, count: int) -> list[int]:
    """The ``count`` largest episode ids (the store numbers episodes in arrival order)."""
    return sorted(np.unique(episode_id).tolist())[-count:]


def gate(live: Ensemble, candidate: Ensemble, real: Transitions, held: list[int]) -> dict:
    """Deploy ``candidate`` only if its error on the ``held`` episodes is below ``live``'s.

    Both errors use the live model's output scaling, so they are in the same units.
    """
    live.eval()
    candidate.eval()
    rows = np.flatnonzero(np.isin(real.episode_id, held))
    scale = live.out_norm.std.clone()
    live_err = prediction_error(live, real, rows, scale)
    new_err = prediction_error(candidate, real, rows, scale)
    return {
        "live_error": live_err,
        "new_error": new_err,
        "deploy": bool(new_err < live_err),
        "holdout_episodes": held,
    }


def retrain_and_gate(
    real: Transitions,
    checkpoint: str | Path,
    planner: str | Path,
    out_dir: str | Path,
    *,
    sim: Transitions | None = None,
    real_ratio: float = 0.9,
    holdout_episodes: int = 1,
    train_cfg: TrainConfig | None = None,
    quiet: bool = True,
) -> dict[str, Any]:
    """Warm-start from ``checkpoint``, train on ``real`` (+ ``sim``), gate, maybe export.

    Args:
        real: real-robot transitions; its newest ``holdout_episodes`` episodes are held out.
        checkpoint: the live model's checkpoint.
        planner: the live planner ONNX file (its planner config is reused for the export).
        out_dir: where ``model-<k>.pt`` / ``planner-<k>.onnx`` are written on deploy.
        sim: simulator transitions mixed in as replay (``real_ratio`` of each batch is real).
    Returns: a JSON-ready dict with both errors, ``deploy`` and the new paths (if deployed).
    """
    if len(np.unique(real.episode_id)) <= holdout_episodes:
        raise ValueError(
            f"need more than {holdout_episodes} real episode(s) to hold out; "
            f"have {len(np.unique(real.episode_id))}"
        )
    live, provenance = load_checkpoint(checkpoint)
    candidate = copy.deepcopy(live)
    held = newest_episodes(real.episode_id, holdout_episodes)
    replay = None if sim is None else (sim.obs, sim.action, sim.next_obs)
    cfg = train_cfg or TrainConfig()
    metrics = fit(
        candidate,
        real.obs,
        real.action,
        real.next_obs,
        real.episode_id,
        cfg,
        holdout_episodes=held,
        refit_normalizer=False,
        replay=replay,
        new_ratio=real_ratio if replay is not None else None,
        quiet=quiet,
    )
    result: dict[str, Any] = {
        **gate(live, candidate, real, held),
        "n_real": len(real),
        "n_sim": 0 if sim is None else len(sim),
        "epochs": metrics.get("epochs"),
    }
    if result["deploy"]:
        result.update(deploy_candidate(candidate, provenance, planner, out_dir, result))
    return result


def deploy_candidate(
    model: Ensemble, provenance: dict, planner: str | Path, out_dir: str | Path, gate: dict
) -> dict[str, str]:
    """Save ``model`` and export it with the live planner's config to fresh file names."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    k = 1 + max([int(p.stem.split("-")[-1]) for p in out.glob("planner-*.onnx")] or [0])
    meta = OnnxPlanner(planner).metadata
    task = get_task(meta["task"]["task"])
    cfg = PlannerConfig.from_mapping(meta["planner_config"])
    prov = {**provenance, "finetune": {k: gate[k] for k in ("live_error", "new_error", "n_real")}}
    ckpt = save_checkpoint(out / f"model-{k}.pt", model, prov)
    onnx = export_planner(model, task, cfg, out / f"planner-{k}.onnx", provenance=prov)
    return {"checkpoint": str(ckpt), "planner": str(onnx)}


def load_real(data: str | Path | None, bag: str | Path | None, task: str, tmp: Path) -> Transitions:
    """Real transitions from a store directory, or imported from a rosbag2 MCAP file."""
    if bag is not None:
        from mbrl_control.data.mcap_import import import_bag

        store = TransitionStore(tmp / "imported")
        import_bag(bag, get_task(task), store)
        return store.load()
    if data is None:
        raise ValueError("give --data DIR or --bag FILE.mcap")
    return TransitionStore(data).load()


def dumps(result: dict[str, Any]) -> str:
    return json.dumps(result, indent=2, default=float)
