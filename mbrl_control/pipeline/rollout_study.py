"""Model error vs rollout length: how far may MBPO branch (and the planner look) on a model?

Two measurements, one run:

1. **Compounding error.** The ensemble's open-loop k-step error (ensemble-mean propagation
   under the recorded actions) and its members' spread, k = 1..K, on fresh sim episodes of
   the agent's exploring policy (the states MBPO branches from, not seen in training) and
   on the newest episodes of the store (the data the model was fit on). Both in units of the
   observation variance, with the rank correlation of error and spread across segments.
2. **Branch length** (optional, ``train_ks``): MBPO trained once per branch length k with the
   same budget, seed and real steps (``mbpo_cfg.env_steps_per_epoch``, 0: the store alone);
   the policy's closed-loop return in sim.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from mbrl_control.agents.config import MBPOConfig

DEFAULT_KS = (1, 2, 3, 5, 8, 10, 15, 20, 30, 40)


def policy_episodes(
    agent: Any, task: str, profile: str, episodes: int, seed: int
) -> dict[str, np.ndarray]:
    """Episodes of the agent's exploring policy in sim (MBPO's real steps): ``obs (N, O)``,
    ``action (N, A)``, ``next_obs (N, O)``, ``episode_id (N,)`` (contiguous, in time order)."""
    import mbrl_sim

    from mbrl_control.agents.mbpo import RealSteps
    from mbrl_control.tasks import get_task

    spec = get_task(task)
    env = mbrl_sim.make_env(task, profile=profile, seed=seed)
    rows, episode_id = RealSteps(env, seed).run(agent, episodes * spec.episode_steps)
    env.close()
    o = spec.obs_dim  # agent rows are state + goal; the model's error is on the state
    return {
        "obs": rows["obs"][:, :o].numpy(),
        "action": rows["action"].numpy(),
        "next_obs": rows["next_obs"][:, :o].numpy(),
        "episode_id": episode_id,
    }


def run_rollout_study(
    task_name: str,
    checkpoint: str | Path,
    data_dir: str | Path,
    agent_path: str | Path,
    out: str | Path,
    *,
    ks: tuple[int, ...] = DEFAULT_KS,
    episodes: int = 10,
    store_episodes: int = 10,
    train_ks: tuple[int, ...] = (),
    mbpo_cfg: MBPOConfig = MBPOConfig(epochs=40),  # noqa: B008  (frozen dataclass)
    eval_episodes: int = 10,
    profile: str = "default",
    seed: int = 2000,
    quiet: bool = True,
) -> dict[str, Any]:
    """Run both measurements; returns the report (JSON-ready), also written with its plot
    to ``out/rollout_study.json`` and ``out/rollout_study.png``."""
    import json

    from mbrl_control.agents.checkpoint import load_agent
    from mbrl_control.data.store import TransitionStore
    from mbrl_control.models.checkpoint import load_checkpoint
    from mbrl_control.models.evaluation import rollout_errors
    from mbrl_control.tasks import get_task

    out = Path(out)
    model, _ = load_checkpoint(checkpoint)
    agent, _ = load_agent(agent_path, get_task(task_name))
    store = TransitionStore(data_dir).load()
    newest = store.episode_id >= np.unique(store.episode_id)[-store_episodes:][0]
    fresh = policy_episodes(agent, task_name, profile, episodes, seed)
    sets = {
        "policy (fresh, sim)": fresh,
        "store (newest, seen in training)": {
            "obs": store.obs[newest], "action": store.action[newest],
            "next_obs": store.next_obs[newest], "episode_id": store.episode_id[newest],
        },
    }  # fmt: skip
    errors = {
        name: rollout_errors(
            model,
            model.members,
            d["obs"],
            d["action"],
            d["next_obs"],
            d["episode_id"],
            ks,
            predicted_dim=model.cfg.predicted_dim,
            stop_threshold=mbpo_cfg.disagreement_threshold,
        )
        for name, d in sets.items()
    }
    report: dict[str, Any] = {
        "task": task_name, "profile": profile, "checkpoint": str(checkpoint),
        "agent": str(agent_path), "data": str(data_dir), "episodes": episodes,
        "store_episodes": store_episodes, "compounding": errors,
    }  # fmt: skip
    if train_ks:
        report["branch_length"] = branch_length_returns(
            task_name, data_dir, checkpoint, out, train_ks, mbpo_cfg, eval_episodes, profile,
            quiet,
        )  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    (out / "rollout_study.json").write_text(json.dumps(report, indent=2))
    plot_rollout_study(report, out / "rollout_study.png")
    return report


def branch_length_returns(
    task_name: str,
    data_dir: str | Path,
    checkpoint: str | Path,
    out: Path,
    train_ks: tuple[int, ...],
    mbpo_cfg: MBPOConfig,
    eval_episodes: int,
    profile: str,
    quiet: bool,
) -> list[dict[str, Any]]:
    """One MBPO agent per branch length k (same budget, seed and real steps): its policy's
    return, and the mean kept branch length and imagined return of its last epoch."""
    from mbrl_control.pipeline.train_value import train_value

    rows = []
    for k in train_ks:
        cfg = replace(mbpo_cfg, rollout_length=k)
        report = train_value(task_name, data_dir, checkpoint, out / f"k{k}", mbpo_cfg=cfg,
                             profile=profile, eval_episodes=eval_episodes, quiet=quiet)  # fmt: skip
        ev, last = report["policy_eval"], report["final"]
        rows.append({
            "k": k, "mean_return": ev["mean_return"], "std_return": ev["std_return"],
            "success_rate": ev["success_rate"], "real_steps": report["real_steps"],
            "mean_branch_length": last["mean_branch_length"],
            "imagined_return": last["imagined_return"], "critic_loss": last["critic_loss"],
        })  # fmt: skip
    return rows


def markdown_tables(report: dict[str, Any]) -> str:
    """The compounding-error table (one row per k), the MBPO stop's disagreement table (when
    the report has it) and, if run, the branch-length table."""
    sets = report["compounding"]
    names = list(sets)
    head = " | ".join(f"{n}: error / spread / corr" for n in names)
    lines = [f"| k | {head} |", "|---|" + "---|" * len(names)]
    for i, k in enumerate(sets[names[0]]["k"]):
        cells = []
        for n in names:
            r = sets[n]
            if i >= len(r["k"]):
                cells.append("-")
                continue
            corr = r["error_spread_corr"][i]
            shown = "-" if corr is None else f"{corr:.2f}"
            cells.append(f"{r['nmse'][i]:.3g} / {r['spread_nmse'][i]:.3g} / {shown}")
        lines.append(f"| {k} | " + " | ".join(cells) + " |")
    if all("stop_disagreement" in sets[n] for n in names):
        threshold = sets[names[0]].get("stop_threshold")
        head = " | ".join(f"{n}: mean / p90 / corr with error / stopped by k" for n in names)
        lines += ["", f"MBPO stop quantity (calibrated one-step epistemic disagreement from the "
                  f"shared state at step k; stop above {threshold}):", "",
                  f"| k | {head} |", "|---|" + "---|" * len(names)]  # fmt: skip
        for i, k in enumerate(sets[names[0]]["k"]):
            cells = []
            for n in names:
                r = sets[n]
                if i >= len(r["k"]):
                    cells.append("-")
                    continue
                corr = r["error_disagreement_corr"][i]
                stopped = r.get("stopped_by_k")
                cells.append(
                    f"{r['stop_disagreement'][i]:.3g} / {r['stop_disagreement_p90'][i]:.3g} / "
                    f"{'-' if corr is None else f'{corr:.2f}'} / "
                    f"{'-' if stopped is None else f'{stopped[i]:.0%}'}"
                )
            lines.append(f"| {k} | " + " | ".join(cells) + " |")
    if report.get("branch_length"):
        lines += [
            "",
            "| branch length k | policy return | success | mean kept branch "
            "| imagined return / branch | critic loss |",
            "|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {r['k']} | {r['mean_return']:.1f} ± {r['std_return']:.1f} | "
            f"{r['success_rate']:.0%} | {r['mean_branch_length']:.2f} | "
            f"{r['imagined_return']:.2f} | {r['critic_loss']:.3f} |"
            for r in report["branch_length"]
        ]
    return "\n".join(lines)


def plot_rollout_study(report: dict[str, Any], path: str | Path) -> Path:
    """Error and spread vs k per data set (log scale); policy return vs branch length."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    branch = report.get("branch_length") or []
    fig, axes = plt.subplots(1, 2 if branch else 1, figsize=(12 if branch else 6.5, 4.5))
    ax = axes[0] if branch else axes
    for (name, r), color in zip(report["compounding"].items(), ("C0", "C1")):
        ax.plot(r["k"], r["nmse"], "o-", color=color, label=f"{name}: error")
        ax.plot(r["k"], r["spread_nmse"], "s--", color=color, label=f"{name}: spread")
    ax.set_yscale("log")
    ax.set_xlabel("open-loop steps k")
    ax.set_ylabel("MSE / var(obs), mean over dims")
    ax.set_title("compounding model error vs the ensemble's own spread")
    ax.legend(fontsize=8)
    if branch:
        ax = axes[1]
        ks = [r["k"] for r in branch]
        means, stds = [r["mean_return"] for r in branch], [r["std_return"] for r in branch]
        ax.errorbar(ks, means, yerr=stds, fmt="o-", capsize=4)
        ax.set_xlabel("MBPO branch length k")
        ax.set_ylabel("policy-only return (sim)")
        ax.set_title("same data, same budget: return vs branch length")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
