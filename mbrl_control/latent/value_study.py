"""Does a learned terminal value let the latent planner see past its horizon? Measured on a
trained run without retraining its world model.

``python -m mbrl_control.latent.value_study RUN --episodes 20 --horizons 12,6 --out DIR``
(JSON on stdout, progress on stderr): the ``train-pixels`` run ``RUN``'s world model
(``RUN/checkpoint.pt``) is frozen; every stored episode (``RUN/data``) is filtered from its
first frame with the posterior mean (as the exported planner filters), and a value head
(:mod:`mbrl_control.latent.value`) alone is fitted on those features and on prior states
imagined from them under the recorded actions, with lambda-return targets of the recorded
rewards (the behaviour policy's value; DreamerV1's critic, TD-MPC's EMA target). Every 10th
episode is held out: ``fit`` reports the value's error and correlation there. Then, per
horizon H, the run's latent CEM is exported once plain (``DIR/h12_plain.onnx``, the run's
planner) and once per ``--weights`` w with the value (``DIR/h12_value_w1.onnx``, ``sum
gamma^h r_h + w gamma^H V(s_H)``; ``--plain-sum``: ``sum r_h + w V(s_H)``, the rewards
summed as the run's planner sums them), and each is scored by
onnxruntime on the run's evaluation starts (paired: the same starts and noise seeds, as
``train-pixels``' evaluation): successes, returns, the paired return difference to the first
row (``vs_first``) and value minus plain at the same H (``value_vs_plain``), each with its
bootstrap 95 % interval. ``--optimism 0,1,4,5``: on those evaluation episodes, how far the
planner's score of its plan exceeds what then happens, without and with the value
(:func:`plan_optimism`). ``RUN`` is only read; the heads are saved as ``DIR/value_head.pt``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from mbrl_control.cli import ArgumentParser
from mbrl_control.latent.planner_sizes import rounded

HELD_OUT = 10
"""Every 10th stored episode (by order) is held out of the fit to score it."""


def _log(text: str) -> None:
    print(f"[value_study] {text}", file=sys.stderr, flush=True)


def filtered_episodes(run: Any, data: Path) -> dict[str, Any]:
    """The stored episodes of ``data`` (a ``train-pixels`` ``RUN/data``) through ``run``'s
    frozen model (a :class:`~mbrl_control.latent.training.PixelRun`): ``post``
    (:class:`~mbrl_control.latent.rssm.LatentState` ``(E, T+1, ·)``, posterior means from a
    zero state), ``features (E, T+1, F)``, ``rewards (E, T+1)`` (``-task.cost`` of each stored
    transition, as the reward head learned it; the last 0, unused), ``actions (E, T+1, A)``
    (normalized, the last 0), ``ids``. Episodes with frames for every state and the most
    common length are kept. ``ValueError`` if none is."""
    from collections import Counter

    import numpy as np
    import torch

    from mbrl_control.data.image_store import ImageStore
    from mbrl_control.data.store import TransitionStore
    from mbrl_control.latent.networks import to_float
    from mbrl_control.latent.rssm import LatentState

    store, images = TransitionStore(data).load(), ImageStore(data)
    have = set(images.episodes())
    ids, lengths = np.unique(store.episode_id, return_counts=True)
    common = Counter(lengths.tolist()).most_common(1)[0][0] if len(ids) else 0
    keep = [int(e) for e, n in zip(ids, lengths, strict=True) if n == common and int(e) in have]
    if not keep:
        raise ValueError(f"{data}: no stored episode with frames")
    model, task = run.model, run.task
    feats, posts, rewards, actions = [], [], [], []
    with torch.no_grad():
        for ep in keep:
            rows = store.episode_id == ep
            obs = np.concatenate([store.obs[rows], store.next_obs[rows][-1:]])  # (T+1, O)
            o, a, g = (torch.as_tensor(np.asarray(x, np.float32))
                       for x in (obs, store.action[rows], store.goal[rows]))  # fmt: skip
            reward = -task.cost(o[:-1], a, o[1:], g)  # (T,), as SequenceLoader computes it
            frames = torch.from_numpy(images.read(ep).transpose(0, 3, 1, 2).copy())
            embeds = model.encoder(to_float(frames))  # (T+1, E)
            act = run.scale.normalize(a)  # (T, A)
            prev = torch.cat([torch.zeros_like(act[:1]), act])  # (T+1, A) led to each frame
            state, seq = model.rssm.initial(1), []
            for t in range(len(frames)):  # the runtime's filter: posterior mean
                state, _ = model.rssm.obs_step(state, prev[t : t + 1], embeds[t : t + 1], False)
                seq.append(state)
            post = LatentState.stack(seq, 1)  # (1, T+1, ·)
            posts.append(post)
            feats.append(post.features[0])
            rewards.append(torch.cat([reward, reward.new_zeros(1)]))
            actions.append(torch.cat([act, torch.zeros_like(act[:1])]))
    post = LatentState(*(torch.cat([getattr(p, k) for p in posts]) for k in
                         ("h", "mean", "std", "sample")))  # fmt: skip
    return {"post": post, "features": torch.stack(feats), "rewards": torch.stack(rewards),
            "actions": torch.stack(actions), "ids": keep}  # fmt: skip


def fit_report(head: Any, features: Any, rewards: Any, imagined: Any, k: int) -> dict[str, Any]:
    """The fitted ``head`` on held-out episodes: RMS error against its lambda-return targets,
    and the correlation of V with the discounted Monte-Carlo return to go (bootstrapped at the
    episode's end), on posteriors and on the states imagined ``k`` steps ahead (what the
    planner reads at H = k)."""
    import torch

    from mbrl_control.latent.value import lambda_returns

    with torch.no_grad():
        target = head.returns(rewards, features)  # (E, T-1)
        v = head.target_value(features)
        mc = lambda_returns(rewards[:, :-1], v, head.config.discount, 1.0)  # (E, T-1)
        pred = head(features[:, :-1])
        out = {
            "rms_error": round(float((pred - target).pow(2).mean().sqrt()), 3),
            "corr_mc_return": round(float(torch.corrcoef(torch.stack([pred.flatten(),
                                                                      mc.flatten()]))[0, 1]), 3),
            "mc_return_mean": round(float(mc.mean()), 3),
            "mc_return_std": round(float(mc.std()), 3),
        }  # fmt: skip
        if imagined is not None and 1 <= k <= imagined.shape[0]:
            n = features.shape[1] - 1 - k  # starts landing on states k..T-2
            vi = head(imagined[k - 1, :, :n])
            out[f"corr_mc_return_imagined_{k}"] = round(
                float(torch.corrcoef(torch.stack([vi.flatten(), mc[:, k:].flatten()]))[0, 1]), 3
            )
    return out


def value_study(
    run: str | Path,
    out: str | Path,
    episodes: int = 20,
    horizons: tuple[int, ...] = (12,),
    updates: int = 3000,
    batch: int = 1024,
    lr: float = 1e-3,
    discount: float = 0.98,
    lam: float = 0.95,
    imagine: int = 12,
    seed: int = 0,
    weights: tuple[float, ...] = (1.0,),
    plan_discount: bool = True,
    members: int = 1,
    pessimism: tuple[float, ...] = (1.0,),
    optimism: tuple[int, ...] = (),
) -> dict[str, Any]:
    """``{"fit": ..., "rows": [...]}`` (see module). Raises ``FileNotFoundError``/``ValueError``
    (one line) for a folder that is not a ``train-pixels`` run with a checkpoint and episodes,
    or ``out`` inside ``run``."""
    import dataclasses

    import torch

    from mbrl_control.bench.precision import add_paired_row, paired_returns
    from mbrl_control.latent.export import export_pixel_planner
    from mbrl_control.latent.training import CHECKPOINT, PixelRun, run_config, score_planner_file
    from mbrl_control.latent.value import (
        ValueConfig,
        ValueEnsemble,
        ValueHead,
        fit_value,
        imagined_features,
    )

    run, out = Path(run).resolve(), Path(out).resolve()
    if out == run or run in out.parents:
        raise ValueError(f"--out {out} is inside the run {run}, which this study only reads")
    if not (run / CHECKPOINT).is_file():
        raise FileNotFoundError(f"{run}: no {CHECKPOINT} (not a train-pixels run folder)")
    cfg = run_config(run)
    vcfg = ValueConfig(discount=discount, lam=lam, imagine=imagine, plan_discount=plan_discount)
    pixel_run = PixelRun(cfg, run, log=lambda _: None)  # reads; writes nothing until run()
    try:
        state = torch.load(run / CHECKPOINT, weights_only=True)
        model = pixel_run.model
        model.load_state_dict(state["model"])
        pixel_run.progress.update(state["progress"])
        model.eval().requires_grad_(False)
        began = time.perf_counter()
        data = filtered_episodes(pixel_run, run / "data")
        imagined = imagined_features(model, data["post"], data["actions"], imagine)
        e = len(data["ids"])
        held = torch.arange(e) % HELD_OUT == HELD_OUT - 1
        _log(f"{e} episodes filtered ({int(held.sum())} held out), {imagine} imagined steps "
             f"each: {time.perf_counter() - began:.0f} s")  # fmt: skip
        heads, fit_s, losses = [], 0.0, []
        train_idx = torch.nonzero(~held).squeeze(1)  # (E_train,)
        for m in range(members):  # member 0 on every training episode, others a bootstrap
            torch.manual_seed(seed + m)
            gen = torch.Generator().manual_seed(seed + m)
            pick = train_idx if m == 0 else train_idx[torch.randint(len(train_idx),
                                                                   (len(train_idx),),
                                                                   generator=gen)]  # fmt: skip
            head = ValueHead(model.rssm.feature_dim, vcfg)
            fit_began = time.perf_counter()
            losses = fit_value(head, data["features"][pick], data["rewards"][pick],
                               imagined[:, pick], updates=updates, batch=batch, lr=lr,
                               generator=gen)  # fmt: skip
            fit_s += time.perf_counter() - fit_began
            heads.append(head)
        head = heads[0]
        fit = {
            "episodes": e, "held_out": int(held.sum()), "updates": updates, "members": members,
            "fit_s": round(fit_s, 1),
            "loss_first_last": [round(sum(losses[:50]) / len(losses[:50]), 3),
                                round(sum(losses[-50:]) / len(losses[-50:]), 3)],
            "value_config": vcfg.as_dict(),
            "held_out_fit": {f"h{h}": fit_report(head, data["features"][held],
                                                 data["rewards"][held], imagined[:, held], h)
                             for h in horizons},
        }  # fmt: skip
        _log(f"value head fitted: {json.dumps(fit)}")
        out.mkdir(parents=True, exist_ok=True)
        torch.save({"value": [one.state_dict() for one in heads], "config": vcfg.as_dict()},
                   out / "value_head.pt")  # fmt: skip
        low, high = pixel_run.task.low.tolist(), pixel_run.task.high.tolist()
        rows: list[dict[str, Any]] = []
        for h in horizons:
            planner = dataclasses.replace(cfg.planner, horizon=h)
            plain: list[float] = []
            ks = pessimism if members > 1 else (None,)
            for weight, pess in [(None, None)] + [(w, k) for w in weights for k in ks]:
                if weight is not None:  # None: the run's own planner, no value
                    for one in heads:
                        one.config = dataclasses.replace(vcfg, weight=weight)
                    head = ValueEnsemble(heads, pess) if members > 1 else heads[0]
                model.value = head if weight is not None else None
                name = f"h{h}_plain" if weight is None else f"h{h}_value_w{weight:g}"
                name += f"_k{pess:g}" if pess is not None else ""
                path = export_pixel_planner(model, low, high, planner, out / f"{name}.onnx",
                                            pixel_run.metadata())  # fmt: skip
                _log(f"{name}: {episodes} episodes ...")
                score = score_planner_file(path, pixel_run.env, episodes, pixel_run.start_state,
                                           cfg.action_repeat)  # fmt: skip
                row = {"planner": name, "horizon": h, "value_weight": weight, "pessimism": pess,
                       "balanced": sum(score["successes"]),
                       **{k: rounded(score[k]) for k in ("mean_return", "std_return",
                          "success_rate", "success_ci", "act_ms_p50", "act_ms_p99")},
                       "returns": rounded(score["returns"]),
                       "successes": score["successes"]}  # fmt: skip
                if weight is None:
                    plain = score["returns"]
                else:
                    paired = paired_returns(plain, score["returns"])
                    row["value_vs_plain"] = {k: paired[k] for k in ("difference", "difference_ci")}
                add_paired_row(rows, row, score["returns"])
                _log(f"{name}: {row['balanced']}/{episodes} balanced, return "
                     f"{row['mean_return']:.1f}")  # fmt: skip
        model.value = None
        result = {"run": str(run), "env_steps": pixel_run.progress.get("env_steps"), "fit": fit,
                  "rows": rows}  # fmt: skip
        if optimism:  # the first weight's (and pessimism's) value
            for one in heads:
                one.config = dataclasses.replace(vcfg, weight=weights[0])
            value = ValueEnsemble(heads, pessimism[0]) if members > 1 else heads[0]
            result["optimism"] = plan_optimism(pixel_run, value, list(optimism))
        return result
    finally:
        pixel_run.close()


def plan_optimism(run: Any, value: Any, episodes: list[int]) -> dict[str, Any]:
    """How much the planner's own score of its plan exceeds what then happens, on evaluation
    episodes ``episodes`` of the :class:`~mbrl_control.latent.training.PixelRun` ``run`` (the
    torch planner, the run's CEM; its noise restarted with seed i per episode, as the
    evaluation), without (``plain``) and with the terminal ``value`` (a head or ensemble).
    Realised, per decision t: the task's reward (the reward head's units) summed over the next
    H decisions, plus, with the value, the discounted rest of the episode (``w`` times it, as
    the score weighs V; decisions with fewer than 40 after the horizon are left out). Returns
    per planner the mean and 10th/90th percentiles of score minus realised (reward units),
    and of V at the filtered states reached minus their realised discounted return."""
    import numpy as np
    import torch

    from mbrl_control.latent.agent import TorchPixelPlanner
    from mbrl_control.latent.episodes import run_pixel_episode
    from mbrl_control.latent.training import EVAL_SEED

    cfg, model, task = run.cfg, run.model, run.task
    h_len, gamma, w = cfg.planner.horizon, value.config.discount, value.config.weight
    discounted = value.config.plan_discount
    out: dict[str, Any] = {}
    for use in (False, True):
        model.value = value if use else None
        planner = TorchPixelPlanner(model, task.low.tolist(), task.high.tolist(), cfg.planner)
        score_gap, v_gap, returns = [], [], []
        for i in episodes:
            seed, scores, v_filtered = EVAL_SEED + i, [], []
            planner.reset(seed=i)

            def policy(frame: Any, planner: Any = planner, scores: list = scores,
                       v_filtered: list = v_filtered) -> Any:  # fmt: skip
                action = planner.act(frame)
                scores.append(planner.last_return)
                v_filtered.append(float(value(torch.cat([planner._h, planner._z], -1))[0]))
                return action

            with torch.no_grad():
                ep = run_pixel_episode(run.env, policy, seed, run.start_state(seed),
                                       cfg.action_repeat)  # fmt: skip
                o, a = torch.as_tensor(ep.states), torch.as_tensor(ep.actions)
                r = (-task.cost(o[:-1], a, o[1:], torch.zeros(len(a), 0))).numpy()  # (T,)
            returns.append(round(ep.total, 2))
            t_len = len(r)
            for t in range(t_len - h_len - 40):
                inside = r[t : t + h_len]
                disc = gamma ** np.arange(h_len) if use and discounted else np.ones(h_len)
                tail = r[t + h_len :] * gamma ** np.arange(t_len - t - h_len)
                tail_w = w * (gamma**h_len if discounted else 1.0)
                score_gap.append(scores[t] - (disc @ inside + (tail_w * tail.sum() if use else 0)))
                v_gap.append(v_filtered[t] - float(r[t:] @ gamma ** np.arange(t_len - t)))
            _log(f"optimism ({'value' if use else 'plain'}): episode {i}, return {ep.total:.1f}")
        out["value" if use else "plain"] = {
            "returns": returns,
            "score_minus_realised": _spread(score_gap),
            "v_filtered_minus_realised": _spread(v_gap),
            "decisions": len(score_gap),
        }
    model.value = None
    return out


def _spread(values: list[float]) -> dict[str, Any] | None:
    """Mean and 10th/90th percentiles; None for no values (episodes too short)."""
    import numpy as np

    if not values:
        return None
    return {"mean": round(float(np.mean(values)), 3),
            "p10_p90": [round(float(np.percentile(values, q)), 3) for q in (10, 90)]}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    from mbrl_control.cli.checks import float_in, int_in, int_list, nonneg_int, positive_int

    def float_list(high: float) -> Any:
        one = float_in(0.0, high)

        def check(text: str) -> tuple[float, ...]:
            values = tuple(one(x.strip()) for x in text.split(",") if x.strip())
            if not values:
                raise argparse.ArgumentTypeError(f"no value in {text!r}")
            return values

        return check

    parser = ArgumentParser(prog="python -m mbrl_control.latent.value_study", description=__doc__)
    parser.add_argument("run", help="a train-pixels output folder (read only)")
    parser.add_argument("--out", required=True, help="folder for the planner files and the head")
    parser.add_argument("--episodes", type=positive_int, default=20, help="paired episodes")
    parser.add_argument("--horizons", type=int_list, default=(12,), help="H,... (decisions)")
    parser.add_argument("--updates", type=positive_int, default=3000, help="value Adam steps")
    parser.add_argument("--batch", type=positive_int, default=1024, help="states per step")
    parser.add_argument("--lr", type=float_in(0.0, 1.0, low_open=True), default=1e-3)
    parser.add_argument("--discount", type=float_in(0.0, 0.999, low_open=True), default=0.98,
                        help="gamma per decision step")  # fmt: skip
    parser.add_argument("--lam", type=float_in(0.0, 1.0), default=0.95, help="lambda-return")
    parser.add_argument("--imagine", type=int_in(0, 100), default=12,
                        help="imagined steps per posterior state fitted on")  # fmt: skip
    parser.add_argument("--seed", type=nonneg_int, default=0, help="value init and batches")
    parser.add_argument("--plain-sum", action="store_true",
                        help="score sum r_h + w V(s_H): no discount in the horizon")  # fmt: skip
    parser.add_argument("--members", type=positive_int, default=1,
                        help="value heads; > 1: planned with mean - k std")  # fmt: skip
    parser.add_argument("--pessimism", type=float_list(100.0), default=(1.0,),
                        help="k,... with --members > 1, one planner each")  # fmt: skip
    parser.add_argument("--optimism", default=(),
                        type=lambda text: tuple(nonneg_int(x) for x in text.split(",")),
                        help="evaluation episodes i,...: plan score minus realised")  # fmt: skip
    parser.add_argument("--weights", type=float_list(10.0), default=(1.0,),
                        help="scales of gamma^H V in the score, one planner each")  # fmt: skip
    args = parser.parse_args(argv)
    if not args.horizons or min(args.horizons) < 1 or len(set(args.horizons)) != len(args.horizons):
        parser.error(f"--horizons: give distinct horizons >= 1, got {list(args.horizons)}")
    for name in ("settings.json", "checkpoint.pt"):
        if not (Path(args.run) / name).is_file():
            parser.error(f"{args.run}: not a train-pixels output folder (no {name})")
    import torch

    torch.set_num_threads(1)
    try:
        result = value_study(args.run, args.out, args.episodes, tuple(args.horizons),
                             args.updates, args.batch, args.lr, args.discount, args.lam,
                             args.imagine, args.seed, tuple(args.weights),
                             plan_discount=not args.plain_sum, members=args.members,
                             pessimism=tuple(args.pessimism),
                             optimism=tuple(args.optimism))  # fmt: skip
    except (FileNotFoundError, ValueError) as err:
        parser.exit(2, f"{parser.prog}: error: {err}\n")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
