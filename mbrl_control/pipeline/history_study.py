"""Does the ``last_actions`` block make actuation delay learnable? (``ablation action-history``)

One run, two ensembles trained alike on the *same* episodes:

- ``without``: the task as written (joint state only);
- ``with``: the same task plus ``{feature: last_actions, steps: k}`` (a task file written into
  the output folder: :func:`write_history_variant`).

Both collect the same random-policy episodes (same seeds: the simulator's draws do not depend
on the observation layout, checked row by row) on a domain-randomization profile with actuation
delay (``reality_gap``: one control period) and are scored on the same held-out episodes, on
the joint-state dims they share: one-step normalized MSE per dim and the open-loop k-step
error (:func:`mbrl_control.models.evaluation.validate`). Under a delay of d periods the
state-only model sees ``a_t`` while ``a_{t-d}`` moves the robot: an error no amount of data
removes; with ``k >= d`` past actions the transition is Markov again.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import yaml

DEFAULT_KS = (1, 5, 10, 20)


def write_history_variant(task: Any, steps: int, out: Path) -> Path:
    """Write ``task`` (a :class:`~mbrl_control.tasks.task_file.FileTask`) plus a
    ``last_actions`` block of ``steps`` actions as ``out/<name>_last<k>.task.yaml``.

    The robot description is made absolute (``robot.urdf``) so the copy loads from anywhere.
    Raises ``ValueError`` when the task already observes its last actions.
    """
    if getattr(task, "action_history", 0):
        raise ValueError(f"task {task.name!r} already observes its last actions")
    data = copy.deepcopy(task.definition)
    data["name"] = f"{task.name}_last{steps}"
    data["observation"] = [*data["observation"], {"feature": "last_actions", "steps": int(steps)}]
    if data.get("robot", {}).get("urdf"):
        data["robot"] = {**data["robot"], "urdf": str(task.urdf_path)}
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{data['name']}.task.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _fit_and_score(
    task_ref: str, store_dir: Path, holdout: int, seed: int, epochs: int, ks: tuple[int, ...]
) -> tuple[dict[str, Any], np.ndarray]:
    """Train on all but the last ``holdout`` episodes of the store; score on those."""
    from mbrl_control.data.store import TransitionStore
    from mbrl_control.models.config import EnsembleConfig, TrainConfig
    from mbrl_control.models.ensemble import Ensemble
    from mbrl_control.models.evaluation import validate
    from mbrl_control.models.trainer import fit
    from mbrl_control.planning.presets import planner_setup
    from mbrl_control.tasks import get_task

    task = get_task(task_ref)
    data = TransitionStore(store_dir).load()
    ids = np.unique(data.episode_id)
    test = np.isin(data.episode_id, ids[-holdout:])
    _, model_kwargs, _ = planner_setup(task)
    model_kwargs = {k: v for k, v in model_kwargs.items() if k not in ("obs_dim", "act_dim")}
    model = Ensemble(EnsembleConfig.for_task(task, seed=seed, **model_kwargs))
    train = ~test
    fit(
        model,
        data.obs[train],
        data.action[train],
        data.next_obs[train],
        data.episode_id[train],
        TrainConfig(max_epochs=epochs, seed=seed),
    )
    report = validate(
        model,
        data.obs[test],
        data.action[test],
        data.next_obs[test],
        data.episode_id[test],
        rollout_ks=ks,
        obs_names=task.obs_names,
    )
    return report, data.obs


def run_history_study(
    task_ref: str,
    out: str | Path,
    *,
    profile: str = "reality_gap",
    steps: int = 1,
    episodes: int = 20,
    holdout: int = 5,
    seed: int = 0,
    epochs: int = 60,
    ks: tuple[int, ...] = DEFAULT_KS,
    quiet: bool = False,
) -> dict[str, Any]:
    """Run the study (see the module docstring); write ``out/action_history.json``.

    Args: task_ref a built-in name or task-file path (without a ``last_actions`` block);
    profile a DR profile; steps k; episodes collected per variant (the last ``holdout`` of
    them held out); seed of collection and training; epochs of training.
    Returns: ``{"rows": [{"variant", "nmse", "nmse_per_dim", "rollout_nmse", ...}], ...}``.
    """
    from mbrl_sim.collect import collect

    from mbrl_control.tasks import get_task

    if not 0 < holdout < episodes:
        raise ValueError(f"holdout must be in 1..episodes-1, got {holdout} of {episodes}")
    out = Path(out)
    base = get_task(task_ref)
    variant = write_history_variant(base, steps, out)
    rows, observations = [], []
    for label, ref in (("without", task_ref), ("with", str(variant))):
        store = out / label / "data"
        collect(ref, profile, episodes, "random", 1, store, seed=seed, quiet=quiet)
        report, obs = _fit_and_score(ref, store, holdout, seed, epochs, ks)
        observations.append(obs)
        rows.append(
            {
                "variant": f"{label} last_actions" + (f" (k={steps})" if label == "with" else ""),
                "obs_dim": report["obs_dim"],
                "scored_dims": report["obs_names"][: base.obs_dim],
                "nmse": float(np.mean(report["holdout"]["nmse_per_dim"][: base.obs_dim])),
                "nmse_per_dim": report["holdout"]["nmse_per_dim"][: base.obs_dim],
                "rollout_k": report["rollout"]["k"],
                "rollout_nmse": report["rollout"]["nmse"],
                "nll": report["holdout"]["nll"],
            }
        )
    o = base.obs_dim
    same = observations[0].shape[0] == observations[1].shape[0] and bool(
        np.array_equal(observations[0], observations[1][:, :o])
    )
    result = {
        "task": base.name,
        "profile": profile,
        "steps": steps,
        "episodes": episodes,
        "holdout_episodes": holdout,
        "seed": seed,
        "epochs": epochs,
        "same_episodes": same,
        "variant_task_file": str(variant),
        "rows": rows,
        "nmse_ratio_with_to_without": rows[1]["nmse"] / max(rows[0]["nmse"], 1e-12),
    }
    (out / "action_history.json").write_text(json.dumps(result, indent=2))
    return result


def markdown_table(result: dict[str, Any]) -> str:
    """The study as a markdown table (one row per variant): the one-step error of the
    predicted change (normalized by the change's variance), then the open-loop k-step error
    of the state (normalized by the state's variance), on the joint-state dims."""
    ks = result["rows"][0]["rollout_k"]
    head = (
        "| observation | one-step NMSE (change) | "
        + " | ".join(f"{k}-step NMSE (state)" for k in ks)
        + " |"
    )
    lines = [head, "|---|---:|" + "---:|" * len(ks)]
    for r in result["rows"]:
        cells = " | ".join(f"{x:.4f}" for x in r["rollout_nmse"])
        lines.append(f"| {r['variant']} | {r['nmse']:.4f} | {cells} |")
    return "\n".join(lines)
