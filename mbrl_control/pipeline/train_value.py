"""Learn a value and a policy for a trained ensemble: MBPO from a transition store.

``train_value`` loads the store (the real transitions) and the ensemble checkpoint, trains
SAC MBPO-style (optionally with more real steps in sim), and writes to ``out``:
``agent.pt`` (actor, critics, value head), ``policy.onnx`` (the actor alone, for
``mode: policy``), ``report.json`` (MBPO history: imagined returns, critic loss, rollout
lengths, real ratio; and the policy's own closed-loop returns in sim), its plot
``report.png`` and ``metrics/`` (TensorBoard event files + ``metrics.csv``: ``mbpo/*`` per
epoch as it trains, ``policy_eval/*`` at the end).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mbrl_control.agents.config import MBPOConfig, SACConfig


def train_value(
    task_name: str,
    data_dir: str | Path,
    checkpoint: str | Path,
    out: str | Path,
    *,
    sac_cfg: SACConfig = SACConfig(),  # noqa: B008  (frozen dataclass: immutable default)
    mbpo_cfg: MBPOConfig = MBPOConfig(),  # noqa: B008
    profile: str = "default",
    eval_episodes: int = 5,
    quiet: bool = True,
) -> dict[str, Any]:
    """Train, export and evaluate; returns the report (also written to ``out/report.json``)."""
    import mbrl_sim

    from mbrl_control.agents.buffer import ReplayBuffer
    from mbrl_control.agents.checkpoint import save_agent
    from mbrl_control.agents.mbpo import train_mbpo
    from mbrl_control.agents.sac import SAC
    from mbrl_control.agents.value import PolicyMean
    from mbrl_control.data.store import TransitionStore
    from mbrl_control.diagnostics.mbpo_report import plot_mbpo_report
    from mbrl_control.export.policy_export import export_policy
    from mbrl_control.models.checkpoint import load_checkpoint
    from mbrl_control.planning.rollout import with_goal
    from mbrl_control.recording.metrics import MetricsLog, evaluation_scalars
    from mbrl_control.tasks import get_task

    task, out = get_task(task_name), Path(out)
    data = TransitionStore(data_dir).load()
    if len(data) == 0:
        raise ValueError(f"{data_dir}: the store has no transitions")
    if data.obs.shape[1] != task.obs_dim or data.action.shape[1] != task.act_dim:
        raise ValueError(f"{data_dir}: obs/action dims do not match task {task.name}")
    model, model_prov = load_checkpoint(checkpoint)

    # real transitions: the store, scored by the task (reward = -cost); agent rows carry the
    # episode's goal after the state: (N, O+G)
    obs, action, next_obs, goal = (
        torch.as_tensor(x) for x in (data.obs, data.action, data.next_obs, data.goal)
    )
    with torch.no_grad():
        reward = -task.cost(obs, action, next_obs, goal)
    x, next_x = with_goal(obs, goal), with_goal(next_obs, goal)
    capacity = len(data) + mbpo_cfg.epochs * mbpo_cfg.env_steps_per_epoch
    real = ReplayBuffer(capacity, x.shape[1], task.act_dim)
    real.add({"obs": x, "action": action, "reward": reward, "next_obs": next_x})

    torch.manual_seed(mbpo_cfg.seed)
    agent = SAC(x.shape[1], task.low, task.high, sac_cfg,
                torch.Generator().manual_seed(mbpo_cfg.seed))  # fmt: skip
    agent.fit_normalizers(x, action)
    env = mbrl_sim.make_env(task, profile=profile, seed=mbpo_cfg.seed)  # a file task too
    with MetricsLog(out / "metrics") as metrics_log:

        def log_epoch(epoch: int, info: dict[str, Any]) -> None:
            metrics_log.scalars("mbpo", _epoch_metrics(info), epoch)

        result = train_mbpo(
            agent, model, task, real, mbpo_cfg, env=env, quiet=quiet, callback=log_epoch
        )
        env.close()

        # write: agent checkpoint, policy-only ONNX
        provenance = {
            "task": task.name,
            "data": str(Path(data_dir).resolve()),
            "checkpoint": str(Path(checkpoint).resolve()),
            "model_provenance": model_prov,
            "real_transitions": len(data),
            "real_steps": result["real_steps"],
            "sac_config": sac_cfg.to_dict(),
            "mbpo_config": mbpo_cfg.to_dict(),
        }
        agent.eval()
        save_agent(out / "agent.pt", agent, provenance)
        agent_path = str((out / "agent.pt").resolve())
        policy_path = export_policy(
            PolicyMean(agent.actor), task, out / "policy.onnx", provenance={"agent": agent_path}
        )

        history = result["history"]
        report = {
            **provenance,
            "agent": str(out / "agent.pt"),
            "policy": str(policy_path),
            "model_refits": result["model_refits"],
            "policy_eval": evaluate_policy(policy_path, task.name, profile, eval_episodes)
            if eval_episodes
            else None,
            "history": history,
            "final": {k: v for k, v in history[-1].items() if k != "real_returns"},
        }
        if report["policy_eval"]:
            ev = evaluation_scalars(report["policy_eval"])  # returns, success, latency p50/p99
            metrics_log.scalars("policy_eval", ev, mbpo_cfg.epochs)
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.json").write_text(json.dumps(report, indent=2, default=_plain))
        plot_mbpo_report(report, out / "report.png")
    return report


def _epoch_metrics(info: dict[str, Any]) -> dict[str, Any]:
    """An MBPO epoch's scalars: its numbers, and the mean of the real returns it finished."""
    real = info.get("real_returns") or []
    return {**info, **({"real_return": float(np.mean(real))} if real else {})}


def evaluate_policy(
    path: str | Path, task: str, profile: str, episodes: int, *, seed: int = 1000
) -> dict[str, Any]:
    """Closed-loop episodes of a policy ONNX file alone (no planning); the evaluate summary."""
    import mbrl_sim

    from mbrl_control.export.policy_runtime import OnnxPolicy
    from mbrl_control.pipeline.evaluate import run_episode, summarize
    from mbrl_control.tasks import get_task

    policy = OnnxPolicy(path, expected_task=get_task(task).name)  # task: a name or a path
    env = mbrl_sim.make_env(task, profile=profile, seed=seed)
    results = [run_episode(env, policy.act, seed=seed + i) for i in range(episodes)]
    env.close()
    return summarize(results, planner=f"policy:{path}", task=task, profile=profile)


def _plain(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    raise TypeError(f"{type(x).__name__} is not JSON-like")
