"""Retrain the live ensemble on real data, gate it against the live model, export if better.

Used by ``finetune_node`` (in a separate process, via ``mbrl-control finetune``) and by the
offline ``mbrl-control finetune --data DIR | --bag FILE.mcap``. The gate compares one-step
prediction error on the **newest real episodes**, held out from training, for the new and
the live model, measured in the same units (the live model's output scaling); the new
planner is exported only if it is strictly better, its errors and weights are finite, and the
exported planner passes the runtime's load check (:meth:`OnnxPlanner.probe` on the task's
initial states and on recent real states). Inputs that cannot be read fail with
:class:`GateError`, whose message says in plain words which file and why.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mbrl_control.data.store import Transitions, TransitionStore
from mbrl_control.export.onnx_export import export_planner
from mbrl_control.export.runtime import OnnxPlanner
from mbrl_control.models.checkpoint import load_checkpoint, save_checkpoint
from mbrl_control.models.config import TrainConfig
from mbrl_control.models.cost_targets import transition_costs
from mbrl_control.models.ensemble import Ensemble
from mbrl_control.models.trainer import fit
from mbrl_control.planning.config import PlannerConfig
from mbrl_control.recording.metrics import MetricsLog, next_step
from mbrl_control.tasks import Task, get_task
from mbrl_control.tasks.portable import task_from_metadata


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


PROBE_REAL_STATES = 8
"""Recent real states (from the held-out episodes) the deployed planner is probed on."""


class GateError(ValueError):
    """The gate cannot run: an input file is missing or unreadable (the message says which)."""


def gate(live: Ensemble, candidate: Ensemble, real: Transitions, held: list[int]) -> dict:
    """Deploy ``candidate`` only if its error on the ``held`` episodes is below ``live``'s.

    Both errors use the live model's output scaling, so they are in the same units. A
    candidate with a non-finite weight or error is never deployed (``reason`` says why).
    """
    live.eval()
    candidate.eval()
    rows = np.flatnonzero(np.isin(real.episode_id, held))
    scale = live.out_norm.std.clone()
    scale = scale.clamp_min(1e-3 * scale.max())  # a locked joint's ~0 std must not dominate
    live_err = prediction_error(live, real, rows, scale)
    new_err = prediction_error(candidate, real, rows, scale)
    broken = [n for n, p in candidate.named_parameters() if not bool(torch.isfinite(p).all())]
    if broken:
        reason = f"the retrained model has non-finite weights in {broken[:3]}"
    elif not np.isfinite(new_err):
        reason = f"the retrained model's hold-out error is {new_err}"
    elif not new_err < live_err:
        reason = f"hold-out error {new_err:.4g} is not below the live model's {live_err:.4g}"
    else:
        reason = f"hold-out error {new_err:.4g} < live {live_err:.4g}"
    return {
        "live_error": live_err,
        "new_error": new_err,
        "deploy": not broken and bool(np.isfinite(new_err) and new_err < live_err),
        "reason": reason,
        "holdout_episodes": held,
    }


def read_live(checkpoint: str | Path, planner: str | Path) -> tuple[Ensemble, dict, dict]:
    """The live ``(model, provenance, planner metadata)``; :class:`GateError` in plain words
    (``cannot read checkpoint ...``) when a file is missing or not what it should be."""
    try:
        live, provenance = load_checkpoint(checkpoint)
    except (OSError, ValueError) as exc:
        why = _not_a_checkpoint(Path(checkpoint)) or _plain(exc, checkpoint)
        raise GateError(f"cannot read checkpoint {checkpoint}: {why}") from None
    try:  # metadata only: the live planner is the controller's business, not re-probed here
        meta = OnnxPlanner(planner, validate=False).metadata
    except (OSError, ValueError) as exc:
        raise GateError(f"cannot read planner {planner}: {_plain(exc, planner)}") from None
    task = meta["task"]
    shapes = (len(task["obs_names"]), len(task["action_names"]))
    if shapes != (live.cfg.obs_dim, live.cfg.act_dim):
        raise GateError(
            f"planner {planner} (task {task.get('task')!r}: {shapes[0]} obs, {shapes[1]} "
            f"actions) does not fit checkpoint {checkpoint} ({live.cfg.obs_dim} obs, "
            f"{live.cfg.act_dim} actions)"
        )
    return live, provenance, meta


def _not_a_checkpoint(path: Path) -> str | None:
    """What ``path`` is when it is plainly no torch checkpoint (empty, JSON, text), else None
    (a zip or pickle: the loader's own reason is the useful one)."""
    try:
        head = path.read_bytes()[:512] if path.is_file() else None
    except OSError:
        return None
    hint = "expected a model checkpoint (model.pt from mbrl-control train or pretrain)"
    if head is None or head.startswith((b"PK\x03\x04", b"\x80")):
        return None
    if not head:
        return f"the file is empty; {hint}"
    try:
        text = head.decode("utf-8").lstrip()
    except UnicodeDecodeError:
        return f"not a torch checkpoint (unknown binary format); {hint}"
    kind = "a JSON file" if text[:1] in "{[" else "a text file"
    return f"it is {kind}, not a torch checkpoint; {hint}"


def _plain(exc: Exception, path: str | Path) -> str:
    """``exc``'s message without the file name it repeats."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    for prefix in (f"{path}: ", f"{Path(path)}: "):
        text = text.removeprefix(prefix)
    return text


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

    Metrics (TensorBoard + CSV, ``out_dir/metrics``): ``finetune/*`` per training epoch
    (``train_loss``, ``holdout_loss`` on the held-out episodes, ...; one curve continued over the
    retrains into ``out_dir``) and ``gate/*`` per decision (``live_error``, ``new_error``,
    ``n_real``, ``n_sim``, ``deploy`` 0/1; step: the decision's number).
    """
    live, provenance, meta = read_live(checkpoint, planner)  # unreadable files first, in words
    if len(np.unique(real.episode_id)) <= holdout_episodes:
        raise ValueError(
            f"need more than {holdout_episodes} real episode(s) to hold out; "
            f"have {len(np.unique(real.episode_id))}"
        )
    candidate = copy.deepcopy(live)
    held = newest_episodes(real.episode_id, holdout_episodes)
    replay: tuple[Any, ...] | None = None if sim is None else (sim.obs, sim.action, sim.next_obs)
    cost = None
    if candidate.cfg.reward_head:  # cost: learned: the head trains on the task's cost, too
        task = task_from_metadata(meta, str(planner))
        cost = transition_costs(task, real.obs, real.action, real.next_obs, real.goal)
        if sim is not None:
            replay = (*replay, transition_costs(task, sim.obs, sim.action, sim.next_obs, sim.goal))
    cfg = train_cfg or TrainConfig()
    folder = Path(out_dir) / "metrics"
    # one finetune/* curve over the retrains into out_dir (each its own process, in turn)
    epochs_before = max(0, next_step(folder, "finetune/") - 1)
    gate_step = next_step(folder, "gate/")
    with MetricsLog(folder) as metrics_log:
        metrics = fit(
            candidate,
            real.obs,
            real.action,
            real.next_obs,
            real.episode_id,
            cfg,
            cost=cost,
            holdout_episodes=held,
            refit_normalizer=False,
            replay=replay,
            new_ratio=real_ratio if replay is not None else None,
            quiet=quiet,
            callback=metrics_log.callback("finetune", epochs_before),
        )
        result: dict[str, Any] = {
            **gate(live, candidate, real, held),
            "n_real": len(real),
            "n_sim": 0 if sim is None else len(sim),
            "epochs": metrics.get("epochs"),
        }
        if result["deploy"]:
            recent = real.obs[np.isin(real.episode_id, held)]
            result.update(deploy_candidate(candidate, provenance, planner, out_dir, result, recent))
        scalars = {k: result.get(k) for k in ("live_error", "new_error", "n_real", "n_sim")}
        metrics_log.scalars("gate", {**scalars, "deploy": result["deploy"]}, gate_step)
    return result


def deploy_candidate(
    model: Ensemble,
    provenance: dict,
    planner: str | Path,
    out_dir: str | Path,
    gate: dict,
    recent_states: np.ndarray | None = None,
) -> dict[str, Any]:
    """Save ``model`` and export it with the live planner's config to fresh file names.

    The new planner must pass the runtime's load check on the task's initial states and on
    ``recent_states (S, O)`` (spread over at most :data:`PROBE_REAL_STATES`); if it does not,
    both new files are removed and ``{"deploy": False, "reason": ...}`` is returned. Otherwise
    ``{"checkpoint": ..., "planner": ...}``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    k = 1 + max([_index(p) for p in out.glob("planner-*.onnx")] or [0])
    meta = OnnxPlanner(planner, validate=False).metadata
    task = task_from_metadata(meta, str(planner))  # the file alone defines the task
    cfg = PlannerConfig.from_mapping(meta["planner_config"])
    prov = {**provenance, "finetune": {k: gate[k] for k in ("live_error", "new_error", "n_real")}}
    probe = None
    if recent_states is not None and len(recent_states):
        pick = np.linspace(0, len(recent_states) - 1, PROBE_REAL_STATES).round().astype(int)
        probe = np.asarray(recent_states, np.float32)[np.unique(pick)]
    ckpt = save_checkpoint(out / f"model-{k}.pt", model, prov)
    onnx = export_planner(
        model, task, cfg, out / f"planner-{k}.onnx", provenance=prov, probe_states=probe
    )
    try:
        OnnxPlanner(onnx, expected_task=task)  # the controller's load check, here first
    except ValueError as exc:
        for path in (ckpt, onnx):
            Path(path).unlink(missing_ok=True)
        return {"deploy": False, "reason": f"the new planner fails the load check: {exc}"}
    return {"checkpoint": str(ckpt), "planner": str(onnx)}


def _index(path: Path) -> int:
    """K of ``planner-K.onnx``; 0 for a stray name such as ``planner-backup.onnx``."""
    tail = path.stem.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def load_real(
    data: str | Path | None,
    bag: str | Path | None,
    task: str | Task,
    tmp: Path,
    namespace: str | None = None,
) -> Transitions:
    """Real transitions from a store directory, or imported from a rosbag2 bag (directory or
    ``.mcap``/``.db3`` file; topics under ``namespace`` if given). A bag import prints
    ``bag BAG: `` and the one summary line every importer prints (``mbrl-control import``:
    kept / dropped per reason / episode ends) to stderr.

    Raises:
        ValueError: the bag is unreadable or nothing in it could be kept (naming the bag and
            the reasons).
    """
    if bag is not None:
        from mbrl_control.data.bag_import import import_bag

        store = TransitionStore(tmp / "imported")
        report = import_bag(
            bag,
            task if isinstance(task, Task) else get_task(task),
            store,
            namespace=namespace,
            log_summary=False,
        )
        if not report.transitions:
            raise ValueError(f"nothing usable in the bag: {report.line()}")
        print(report.line(), file=sys.stderr)
        return store.load()
    if data is None:
        raise ValueError("give --data DIR or --bag BAG (a rosbag2 directory or .mcap/.db3 file)")
    return TransitionStore(data).load()


def dumps(result: dict[str, Any]) -> str:
    return json.dumps(result, indent=2, default=float)
