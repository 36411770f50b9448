"""What a pixel run's world model knows: ``python -m mbrl_control.latent.probe RUN`` (JSON).

On sequences of the run's own store (``RUN/data``; a fixed draw, filtered from the frames):
the correlation of the reward head's prediction with the task's reward, and linear probes,
per state dimension, of the posterior features ``[h, z]``: a least-squares fit on half of the
steps, its correlation with the true state on the other half (1: the latent holds that
quantity linearly; ~0: it does not, e.g. a pole too thin for the camera). Diagnostic only:
the planner reads the reward head, not these probes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from mbrl_control.cli import ArgumentParser


def probe(run: str | Path, sequences: int = 256, length: int = 16, seed: int = 0) -> dict[str, Any]:
    """The probe of ``run`` (a ``train-pixels`` folder with ``settings.json`` and
    ``checkpoint.pt``); ``ValueError``/``FileNotFoundError`` for a folder without them."""
    import torch

    from mbrl_control.data.image_store import SequenceLoader
    from mbrl_control.latent.training import CHECKPOINT, run_config
    from mbrl_control.latent.world_model import WorldModel
    from mbrl_control.tasks import get_task

    run = Path(run)
    cfg = run_config(run)
    task = get_task(cfg.task)
    model = WorldModel(task.act_dim, cfg.model)
    state = torch.load(run / CHECKPOINT, weights_only=True)
    model.load_state_dict(state["model"])
    model.eval()
    loader = SequenceLoader(run / "data", length, task=task)
    report = latent_report(model, loader, task, sequences, seed)
    return {
        "run": str(run),
        "trained": state["progress"],
        **report,
    }


def latent_report(
    model: Any, loader: Any, task: Any, sequences: int = 256, seed: int = 0
) -> dict[str, Any]:
    """``reward_corr`` and ``linear_probe_r`` (per state dimension, see module) of the world
    model ``model`` on ``sequences`` sequences drawn from ``loader`` (a
    :class:`~mbrl_control.data.image_store.SequenceLoader` with ``task``)."""
    import torch

    from mbrl_control.latent.planner import ActionScale

    batch = loader.sample(np.random.default_rng(seed), sequences)
    scale = ActionScale(task.low.tolist(), task.high.tolist())
    model.eval()
    with torch.no_grad():
        post, _ = model.filter(
            torch.from_numpy(batch.images), scale.normalize(torch.from_numpy(batch.action))
        )
        reward = model.reward(post.features[:, 1:]).squeeze(-1).numpy()  # (B, T-1)
    true = batch.reward[:, :-1]
    feats = post.features[:, 2:].reshape(-1, post.features.shape[-1]).numpy()  # skip warm-up
    x = np.c_[feats, np.ones(len(feats))]
    half = len(x) // 2
    probes = {}
    for j, name in enumerate(task.obs_names):
        y = batch.obs[:, 2:, j].reshape(-1)
        w = np.linalg.lstsq(x[:half], y[:half], rcond=None)[0]
        probes[name] = round(float(np.corrcoef(x[half:] @ w, y[half:])[0, 1]), 3)
    return {
        "reward_corr": round(float(np.corrcoef(reward.ravel(), true.ravel())[0, 1]), 3),
        "open_loop_reward_corr": open_loop_reward_corr(model, post, batch, scale),
        "linear_probe_r": probes,
    }


def open_loop_reward_corr(model: Any, post: Any, batch: Any, scale: Any) -> dict[str, float]:
    """What the planner reads: from the filtered state after the first 4 frames (posterior
    mean, as the runtime filters), the prior imagined under the recorded actions (prior
    mean, as the planner imagines); the correlation of the reward head's sum over k
    imagined steps with the recorded rewards' sum, for k = 1, 4 and the rest of the
    sequence."""
    import torch

    from mbrl_control.latent.rssm import LatentState

    context, t_len = 4, batch.action.shape[1]
    ks = sorted({1, min(4, t_len - context), t_len - context})
    actions = scale.normalize(torch.from_numpy(batch.action))  # (B, T, A)
    h, z = post.h[:, context - 1], post.mean[:, context - 1]  # (B, ·) after frame context-1
    state = LatentState(h, z, torch.ones_like(z), z)
    imagined = []
    with torch.no_grad():
        for t in range(context - 1, t_len - 1):  # action t leads to the state at t+1
            state = model.rssm.img_step(state, actions[:, t], sample=False)
            imagined.append(model.reward(state.features).squeeze(-1))
    pred = torch.stack(imagined, 1).numpy()  # (B, T-context)
    true = batch.reward[:, context - 1 : t_len - 1]  # reward of action t
    return {
        str(k): round(float(np.corrcoef(pred[:, :k].sum(1), true[:, :k].sum(1))[0, 1]), 3)
        for k in ks
    }


def main(argv: list[str] | None = None) -> int:
    from mbrl_control.cli.checks import nonneg_int

    parser = ArgumentParser(prog="python -m mbrl_control.latent.probe",
                                     description=__doc__)  # fmt: skip
    parser.add_argument("run", help="a train-pixels output folder")
    parser.add_argument("--seed", type=nonneg_int, default=0, help="seed of the sequence draw")
    args = parser.parse_args(argv)
    for name in ("settings.json", "checkpoint.pt"):
        if not (Path(args.run) / name).is_file():
            parser.error(f"{args.run}: not a train-pixels output folder with a model (no {name})")
    try:
        report = probe(args.run, seed=args.seed)
    except ValueError as err:  # e.g. no stored episode long enough for the probe's sequences
        parser.error(str(err))
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
