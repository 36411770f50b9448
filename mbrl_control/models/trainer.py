"""Train an ensemble: Gaussian NLL, per-member bootstrap, hold-out by episode, early stopping.

Shape letters: N rows, E members, B batch rows per member, O obs dim, A action dim.

One gradient step trains all E members at once on ``(E, B, ·)`` rows gathered by an
``(E, B)`` index tensor, so there is no Python loop over members or samples. Each member keeps
its own best weights (by hold-out MSE in normalized units); training stops when no member has
improved for ``cfg.patience`` epochs, and the best weights are restored.

Warm start: pass an already trained (e.g. loaded) model. Finetuning on a little new data
without forgetting the old: pass the old arrays as ``replay`` and ``new_ratio`` (share of each
batch drawn from the new rows), and ``refit_normalizer=False`` to keep the model's input and
output scaling (the planner graph then keeps the same normalization).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from mbrl_control.models.config import TrainConfig
from mbrl_control.models.ensemble import Ensemble, EnsembleLinear
from mbrl_control.models.sampling import (
    episode_ids_or_blocks,
    epoch_stream,
    holdout_split,
    member_pools,
)

EVAL_CHUNK = 16384
"""Hold-out rows per forward pass when scoring (bounds memory at ~E * chunk * W floats)."""

Callback = Callable[[int, dict[str, Any]], None]


@dataclass(frozen=True)
class Rows:
    """Transitions as float32 tensors: obs ``(N, O)``, action ``(N, A)``, delta ``(N, O)``
    (= next_obs - obs) and optional cost ``(N,)``."""

    obs: torch.Tensor
    action: torch.Tensor
    delta: torch.Tensor
    cost: torch.Tensor | None

    def __len__(self) -> int:
        return self.obs.shape[0]

    def take(self, idx: torch.Tensor) -> Rows:
        """Rows at ``idx`` (any integer/bool index; ``(E, B)`` gives ``(E, B, ·)`` fields)."""
        cost = None if self.cost is None else self.cost[idx]
        return Rows(self.obs[idx], self.action[idx], self.delta[idx], cost)

    @staticmethod
    def cat(parts: Sequence[Rows], dim: int = 0) -> Rows:
        has_cost = all(p.cost is not None for p in parts)
        return Rows(
            torch.cat([p.obs for p in parts], dim),
            torch.cat([p.action for p in parts], dim),
            torch.cat([p.delta for p in parts], dim),
            torch.cat([p.cost for p in parts], dim) if has_cost else None,  # type: ignore[misc]
        )


def as_rows(
    model: Ensemble,
    obs: Any,
    action: Any,
    next_obs: Any,
    cost: Any | None = None,
    name: str = "data",
) -> Rows:
    """Check shapes and finiteness against ``model.cfg`` and convert to :class:`Rows`."""
    cfg = model.cfg
    device = model.max_logvar.device
    o, a, n = (
        torch.as_tensor(np.asarray(x), dtype=torch.float32, device=device)
        for x in (obs, action, next_obs)
    )
    a = a.reshape(a.shape[0], -1) if a.ndim == 1 else a
    if o.ndim != 2 or o.shape[1] != cfg.obs_dim or n.shape != o.shape:
        raise ValueError(
            f"{name}: obs {tuple(o.shape)} and next_obs {tuple(n.shape)} must both be "
            f"(N, {cfg.obs_dim})"
        )
    if a.shape != (o.shape[0], cfg.act_dim):
        raise ValueError(f"{name}: action {tuple(a.shape)} must be ({o.shape[0]}, {cfg.act_dim})")
    c = None
    if cfg.reward_head:
        if cost is None:
            raise ValueError(f"{name}: the model has a reward head, so pass cost (N,)")
        c = torch.as_tensor(np.asarray(cost), dtype=torch.float32, device=device).reshape(-1)
        if c.shape[0] != o.shape[0]:
            raise ValueError(f"{name}: cost has {c.shape[0]} rows, expected {o.shape[0]}")
    elif cost is not None:
        raise ValueError(f"{name}: cost given but the model has no reward head")
    rows = Rows(o, a, n - o, c)
    for field in ("obs", "action", "delta", "cost"):
        t = getattr(rows, field)
        if t is not None and not bool(torch.isfinite(t).all()):
            raise ValueError(f"{name}: {field} contains NaN or inf")
    return rows


def member_losses(
    model: Ensemble, batch: Rows, logvar_bound_weight: float = 0.0, beta_nll: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Training loss and normalized MSE per member, each ``(E,)``.

    ``batch`` fields are ``(E, B, ·)``. The loss is the Gaussian NLL of the normalized delta
    (up to the constant ``0.5 log 2π``; plain MSE for the deterministic head), averaged over B
    and the predicted dims (``cfg.predicted_dim``: not the shifted ``last_actions`` block),
    plus the normalized cost MSE with the reward head, plus ``logvar_bound_weight *
    (sum max_logvar - sum min_logvar)`` shared by all members (PETS). With ``beta_nll`` > 0
    each element's NLL is weighted by ``var.detach() ** beta_nll`` (β-NLL).
    """
    mean, logvar, cost = model.forward_train(batch.obs, batch.action)  # (E, B, O) x2, (E, B)
    target = model.out_norm.normalize(batch.delta)  # (E, B, O)
    p = model.cfg.predicted_dim  # the last_actions block is shifted, not predicted
    mean, logvar, target = mean[..., :p], logvar[..., :p], target[..., :p]
    sq = (mean - target).square()
    mse = sq.mean((1, 2))  # (E,): reduce over B and O
    if model.cfg.probabilistic:
        nll = 0.5 * (sq * torch.exp(-logvar) + logvar)  # (E, B, P)
        if beta_nll:
            nll = nll * torch.exp(beta_nll * logvar.detach())
        loss = nll.mean((1, 2))  # (E,)
        bound = model.max_logvar.sum() - model.min_logvar.sum()
        loss = loss + logvar_bound_weight * bound
    else:
        loss = mse
    if cost is not None and batch.cost is not None:
        cost_target = model.cost_norm.normalize(batch.cost.unsqueeze(-1))[..., 0]  # (E, B)
        loss = loss + (cost - cost_target).square().mean(1)
    return loss, mse


@torch.no_grad()
def score_rows(model: Ensemble, rows: Rows) -> tuple[torch.Tensor, torch.Tensor]:
    """Hold-out loss (without the bound term) and normalized MSE per member, each ``(E,)``.

    Every member sees all rows; evaluated in chunks of ``EVAL_CHUNK`` rows.
    """
    e = model.members
    loss_sum = torch.zeros(e)
    mse_sum = torch.zeros(e)
    for start in range(0, len(rows), EVAL_CHUNK):
        idx = torch.arange(start, min(start + EVAL_CHUNK, len(rows)))
        chunk = rows.take(idx.expand(e, -1))  # (E, chunk, ·)
        loss, mse = member_losses(model, chunk)
        loss_sum += loss.cpu() * len(idx)
        mse_sum += mse.cpu() * len(idx)
    return loss_sum / len(rows), mse_sum / len(rows)


@torch.no_grad()
def refit_normalizers(model: Ensemble, rows: Rows) -> None:
    """Set input, output (delta) and cost normalizers from training rows ``(N, ·)``; the
    input std is floored at the model's declared input scale (``input_std_floor``)."""
    model.in_norm.fit(torch.cat([rows.obs, rows.action], dim=-1), model.input_std_floor())
    model.out_norm.fit(rows.delta)
    if rows.cost is not None:
        model.cost_norm.fit(rows.cost.unsqueeze(-1))


def make_optimizer(model: Ensemble, cfg: TrainConfig) -> torch.optim.Adam:
    """Adam; weight decay on the layer weights only (not biases or log-variance bounds).

    The first layer's weight gets no decay from Adam: its decay is :func:`input_decay`, which
    leaves out the inputs the data never varied.
    """
    first = model.hidden[0].weight
    weights = [m.weight for m in model.modules() if isinstance(m, EnsembleLinear)]
    weights = [w for w in weights if w is not first]
    ids = {id(w) for w in weights}
    others = [p for p in model.parameters() if id(p) not in ids]
    groups = [
        {"params": weights, "weight_decay": cfg.weight_decay},
        {"params": others, "weight_decay": 0.0},
    ]
    return torch.optim.Adam(groups, lr=cfg.lr)


def varied_inputs(model: Ensemble) -> torch.Tensor:
    """``(D,)`` bool: inputs whose normalizer std is above its floor (the data varied them)."""
    return model.in_norm.std > model.input_std_floor()


def input_decay(model: Ensemble, varied: torch.Tensor, weight_decay: float) -> torch.Tensor:
    """L2 penalty ``0.5 wd |W1[:, varied]|²`` on the first layer (its gradient is Adam's
    ``wd · w``) for the inputs in ``varied (D,)`` only.

    An input the data never varied sends no gradient to its first-layer weights; decay alone
    would pull every member's weights there to 0, so the members would agree (falsely) on
    values of it they never saw. Left at their random init, they disagree there.
    """
    w = model.hidden[0].weight  # (E, D, W)
    return 0.5 * weight_decay * (w.square() * varied[None, :, None]).sum()


class BestWeights:
    """Per-member snapshot of the best weights so far (member axis 0 of every layer)."""

    def __init__(self, model: Ensemble) -> None:
        layers = [m for m in model.modules() if isinstance(m, EnsembleLinear)]
        self.member = [p for m in layers for p in m.parameters()]
        ids = {id(p) for p in self.member}
        self.shared = [p for p in model.parameters() if id(p) not in ids]
        self._member = [p.detach().clone() for p in self.member]
        self._shared = [p.detach().clone() for p in self.shared]

    @torch.no_grad()
    def update(self, improved: torch.Tensor) -> None:
        """Snapshot members where ``improved (E,)`` is True; shared tensors if any improved."""
        for best, p in zip(self._member, self.member):
            best[improved] = p[improved]
        if bool(improved.any()):
            for best, p in zip(self._shared, self.shared):
                best.copy_(p)

    @torch.no_grad()
    def restore(self) -> None:
        for best, p in zip(self._member + self._shared, self.member + self.shared):
            p.copy_(best)


def fit(
    model: Ensemble,
    obs: Any,
    action: Any,
    next_obs: Any,
    episode_id: Any | None = None,
    cfg: TrainConfig = TrainConfig(),  # noqa: B008  (frozen dataclass: immutable default)
    *,
    cost: Any | None = None,
    holdout_episodes: Sequence[int] | None = None,
    refit_normalizer: bool = True,
    replay: tuple[Any, ...] | None = None,
    new_ratio: float | None = None,
    rng: np.random.Generator | None = None,
    quiet: bool = True,
    callback: Callback | None = None,
) -> dict[str, Any]:
    """Train ``model`` in place on transitions and return metrics.

    Args:
        model: the ensemble (fresh, or loaded for a warm start).
        obs, action, next_obs: ``(N, O)``, ``(N, A)``, ``(N, O)`` arrays or tensors, raw units.
        episode_id: ``(N,)`` episode of each row; the hold-out split is by episode. Without
            it rows are taken as time-ordered and cut into contiguous pseudo-episodes.
        cfg: :class:`TrainConfig`.
        cost: ``(N,)`` per-step cost, required iff ``model.cfg.reward_head``.
        holdout_episodes: explicit hold-out episode ids (e.g. the newest real episodes);
            overrides ``cfg.holdout`` / ``cfg.holdout_fraction``.
        refit_normalizer: refit input/output/cost scaling on the training rows (new + replay);
            ``False`` keeps the model's current scaling.
        replay: old data ``(obs, action, next_obs[, cost])`` used for training only.
        new_ratio: share of each batch drawn from the new rows (needs ``replay``); ``None``
            pools new and replay rows uniformly. An epoch is one pass over the new rows.
        rng: generator for the split, bootstrap and shuffles (default: ``cfg.seed``).
        quiet: hide the tqdm progress bar.
        callback: ``callback(epoch, info)`` after each epoch with that epoch's metrics.

    Returns: metrics dict: ``train_loss``, ``holdout_loss`` and ``holdout_score`` (normalized
    MSE used for early stopping) per epoch (mean over members), ``epochs``, ``best_epoch``,
    ``stopped_early``, final ``holdout_mse`` / ``holdout_mse_per_member`` /
    ``holdout_loss_final`` of the restored weights (training scores when nothing is held
    out), ``holdout_episodes``, ``n_train``, ``n_holdout``, ``n_replay``,
    ``batches_per_epoch``, ``samples_per_s`` (rows per member per second of gradient steps)
    and ``seconds``. A calibration the model carried is dropped (it described the old
    weights): recalibrate with :func:`mbrl_control.uncertainty.calibration.calibrate`.
    """
    t_start = time.perf_counter()
    model.set_calibration(None)
    rng = np.random.default_rng(cfg.seed) if rng is None else rng
    e, bs = model.members, cfg.batch_size
    rows = as_rows(model, obs, action, next_obs, cost)

    # split by episode: hold-out rows never enter training or the normalizer
    ids = episode_ids_or_blocks(None if episode_id is None else np.asarray(episode_id), len(rows))
    mask, held = holdout_split(ids, cfg.holdout_fraction, cfg.holdout, rng, holdout_episodes)
    mask_t = torch.from_numpy(mask).to(rows.obs.device)
    train, holdout = rows.take(~mask_t), rows.take(mask_t)

    # pools: (rows, rows per batch); replay either pooled uniformly or given its batch share
    old = None if replay is None else as_rows(model, *replay, name="replay")
    if new_ratio is not None:
        if old is None or not 0.0 < new_ratio <= 1.0:
            raise ValueError(f"new_ratio={new_ratio} needs replay data and 0 < new_ratio <= 1")
        k_new = max(1, min(bs, round(new_ratio * bs)))
        pools = [(train, k_new)] + ([(old, bs - k_new)] if k_new < bs else [])
    else:
        pools = [(Rows.cat([train, old]) if old is not None else train, bs)]
    if refit_normalizer:
        refit_normalizers(model, Rows.cat([train, old]) if old is not None else train)
    member_rows = [member_pools(len(p), e, cfg.bootstrap, rng) for p, _ in pools]  # (E, M) each
    n_batches = math.ceil(len(pools[0][0]) / pools[0][1])

    opt = make_optimizer(model, cfg)
    varied = varied_inputs(model).to(rows.obs.dtype)  # (D,): decayed first-layer columns
    best = BestWeights(model)
    best_score = torch.full((e,), math.inf)
    history: dict[str, list[float]] = {"train_loss": [], "holdout_loss": [], "holdout_score": []}
    best_epoch, stale, step_seconds, epoch = 0, 0, 0.0, 0

    bar = tqdm(range(1, cfg.max_epochs + 1), disable=quiet, desc="train", unit="epoch")
    for epoch in bar:
        # one epoch: E independent shuffles of each member's pool, k rows per pool per batch
        t0 = time.perf_counter()
        model.train()
        streams = [
            torch.from_numpy(epoch_stream(m, n_batches * k, rng)).to(rows.obs.device)
            for m, (_, k) in zip(member_rows, pools)
        ]  # (E, n_batches * k) each
        loss_sum, mse_sum = torch.zeros(e), torch.zeros(e)
        for b in range(n_batches):
            parts = [p.take(s[:, b * k : (b + 1) * k]) for s, (p, k) in zip(streams, pools)]
            batch = Rows.cat(parts, dim=1) if len(parts) > 1 else parts[0]  # (E, B, ·)
            loss, mse = member_losses(model, batch, cfg.logvar_bound_weight, cfg.beta_nll)
            opt.zero_grad(set_to_none=True)
            total = loss.sum() + input_decay(model, varied, cfg.weight_decay)
            total.backward()  # members are independent: sum over E
            opt.step()
            loss_sum += loss.detach().cpu()
            mse_sum += mse.detach().cpu()
        step_seconds += time.perf_counter() - t0

        # score: hold-out MSE per member (training MSE when nothing is held out)
        model.eval()
        if len(holdout):
            h_loss, score = score_rows(model, holdout)
        else:
            h_loss, score = loss_sum / n_batches, mse_sum / n_batches
        improved = score < best_score * (1.0 - cfg.improvement_threshold)
        best.update(improved)
        best_score = torch.where(improved, score, best_score)
        if bool(improved.any()):
            best_epoch, stale = epoch, 0
        else:
            stale += 1
        info = {
            "train_loss": float(loss_sum.mean() / n_batches),
            "holdout_loss": float(h_loss.mean()),
            "holdout_score": float(score.mean()),
            "improved_members": int(improved.sum()),
        }
        for key in history:
            history[key].append(info[key])
        bar.set_postfix(train=f"{info['train_loss']:.3f}", holdout=f"{info['holdout_score']:.4f}")
        if callback is not None:
            callback(epoch, info)
        if stale >= cfg.patience:
            break
    bar.close()

    best.restore()
    model.eval()
    final_loss, final_mse = score_rows(model, holdout) if len(holdout) else (best_score, best_score)
    return {
        **history,
        "epochs": epoch,
        "best_epoch": best_epoch,
        "stopped_early": stale >= cfg.patience,
        "holdout_mse": float(final_mse.mean()),
        "holdout_mse_per_member": final_mse.tolist(),
        "holdout_loss_final": float(final_loss.mean()),
        "holdout_episodes": held,
        "n_train": len(train),
        "n_holdout": len(holdout),
        "n_replay": 0 if old is None else len(old),
        "batches_per_epoch": n_batches,
        "samples_per_s": epoch * n_batches * bs / max(step_seconds, 1e-9),
        "seconds": time.perf_counter() - t_start,
    }
