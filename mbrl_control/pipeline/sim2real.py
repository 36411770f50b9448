"""The sim-to-real experiment: pretrain on ``default``, deploy on ``reality_gap``, finetune.

The "real robot" is the simulator on the ``reality_gap`` profile, whose ranges lie outside
the pretraining randomization. The finetuning loop is the one ``finetune_node`` runs (record
with the live planner, retrain in chunks, gate on the newest real episodes, swap on
success), run in-process here so that budgets of robot minutes finish quickly. Compared:

- **zero-shot**: the ``default``-pretrained planner on ``reality_gap``;
- **finetuned** after each real budget (robot minutes = transitions / control rate / 60);
- **no-DR**: a planner pretrained without randomization (profile ``none``);
- **real-only**: a planner trained from scratch on the largest budget's real data;
- **calibrated + adapted** (``adapt_seconds`` > 0, the demo): record that long with the
  pretrained planner plus bounded exploration noise, then the lab's adaptation loop
  (:func:`~mbrl_control.pipeline.adapt.adapt`: calibrate the simulator, re-pretrain warm on the
  calibrated profile, finetune, gate); its recording is its whole real budget;
- **upper reference**: the same optimizer planning on the true ``reality_gap`` simulator
  (what a model trained with unlimited real data could at best reach; a planner pretrained
  from scratch on ``reality_gap`` does not bootstrap: its planner never swings the weak,
  delayed cart-pole up, so its data never covers the upright states).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from mbrl_control.pipeline.pretrain import PretrainConfig, pretrain, train_and_export


@dataclass(frozen=True)
class Sim2RealConfig:
    """Budgets and sizes of the experiment (defaults: the cited run; ``demo`` shrinks them)."""

    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    real_profile: str = "reality_gap"
    budgets_min: tuple[float, ...] = (1.0, 2.0, 5.0)
    """Cumulative real-robot minutes after which the live planner is evaluated."""
    retrain_every: int = 1000
    """Real transitions between retrains (as finetune_node's parameter)."""
    real_ratio: float = 0.9
    eval_episodes: int = 10
    baselines: bool = True
    """Also run the no-DR, real-only and upper-reference planners."""
    real_seed: int = 10_000
    """Seed of the first real episode collected; the next ones follow it (one per episode)."""
    adapt_seconds: float = 0.0
    """Real seconds recorded for the calibrated + adapted row (0: no such row)."""
    adapt_noise: float = 0.2
    """Exploration noise of that recording (share of the half action range, clipped, withheld
    near the joints' limits: ``collect --noise``)."""
    adapt_evaluations: int = 128
    """CMA-ES evaluations of its calibration."""
    adapt_rounds: int = 1
    """Planner rounds of its re-pretraining in the calibrated simulator."""
    parallel_adapt: bool = True
    """Run the calibrated + adapted row in a second process while the finetune curve runs
    (both are seeded apart, so the rows are the same as run one after the other; on 2 cores
    the finetune loop alone leaves one mostly idle)."""

    def __post_init__(self) -> None:
        if not self.budgets_min or any(b <= 0 for b in self.budgets_min):
            raise ValueError(f"budgets_min must be positive minutes, got {self.budgets_min}")
        if list(self.budgets_min) != sorted(self.budgets_min):
            raise ValueError(f"budgets_min must increase, got {self.budgets_min}")


def _evaluate(
    planner: Path, cfg: Sim2RealConfig, quiet: bool, observers: Sequence[Any] = ()
) -> dict[str, Any]:
    """The planner on the real profile's evaluation episodes (the same ones for every planner:
    paired), with rail hits and safety stops from the simulator's truth; ``observers``: more
    episode observers (e.g. a recorder: :mod:`mbrl_control.recording.episode_recorder`)."""
    from mbrl_control.pipeline.evaluate import evaluate

    return evaluate(
        planner, cfg.pretrain.task, cfg.real_profile, cfg.eval_episodes, observers=observers
    )


def finetune_live(
    cfg: Sim2RealConfig,
    pretrained: Path,
    out: Path,
    quiet: bool,
    start: tuple[Path, Path] | None = None,
    observers: Callable[[float], Sequence[Any]] | None = None,
) -> list[dict[str, Any]]:
    """Record with the live planner on the real profile, retrain, gate, swap; per budget.

    ``pretrained``: a folder with ``data/`` (the sim data replayed beside the real data),
    ``model.pt`` and ``planner.onnx`` (the live model at the start unless ``start`` gives
    another ``(checkpoint, planner)``). Real data goes to ``out/real_data``; episodes already
    there count in the budget (e.g. the calibration data of the calibrated condition). Episode
    seeds: ``cfg.real_seed`` + the number of episodes in the store. ``observers``: called with
    each budget (minutes) before its evaluation, the extra episode observers of that
    evaluation (e.g. ``lambda budget: [recorder]`` records it).

    Metrics (``out/models/metrics``, beside the gate's): ``finetune/*`` per training epoch and
    ``gate/*`` per decision (:func:`~mbrl_control.finetune.retrain.retrain_and_gate`), and each
    budget's evaluation as ``finetune_eval/*`` (``mean_return``, ``success_rate``,
    ``latency_p50_ms``, ``latency_p99_ms``, ``real_minutes``, ...; step: the real transitions
    recorded so far).
    """
    from mbrl_sim.collect import collect

    from mbrl_control.data.store import TransitionStore
    from mbrl_control.finetune.retrain import retrain_and_gate
    from mbrl_control.models.config import TrainConfig
    from mbrl_control.recording.metrics import append_scalars, evaluation_scalars
    from mbrl_control.tasks import get_task

    task = get_task(cfg.pretrain.task)
    per_episode = task.episode_steps
    sim_data = TransitionStore(pretrained / "data").load()
    real_store = TransitionStore(out / "real_data")
    checkpoint, planner = start or (pretrained / "model.pt", pretrained / "planner.onnx")
    live = {"checkpoint": Path(checkpoint), "planner": Path(planner)}
    chunk = max(1, cfg.retrain_every // per_episode)  # episodes between retrains
    results: list[dict[str, Any]] = []
    gates: list[dict[str, Any]] = []

    def retrain() -> None:
        nonlocal live
        gate = retrain_and_gate(
            real_store.load(),
            live["checkpoint"],
            live["planner"],
            out / "models",
            sim=sim_data,
            real_ratio=cfg.real_ratio,
            train_cfg=TrainConfig(max_epochs=cfg.pretrain.max_epochs),
            quiet=quiet,
        )
        gates.append({k: gate[k] for k in ("live_error", "new_error", "deploy")})
        if gate["deploy"]:
            live = {"checkpoint": Path(gate["checkpoint"]), "planner": Path(gate["planner"])}

    for budget in cfg.budgets_min:
        target = int(budget * 60 * task.control_hz)
        while len(real_store) * per_episode < target:
            episodes = min(chunk, -(-(target - len(real_store) * per_episode) // per_episode))
            collect(
                cfg.pretrain.task,  # a built-in name or a task-file path (not task.name)
                cfg.real_profile,
                episodes,
                f"planner:{live['planner']}",
                cfg.pretrain.workers,
                real_store.root,
                seed=cfg.real_seed + len(real_store),
                quiet=quiet,
            )
            if len(real_store) < 2:
                continue  # the gate needs a held-out episode and a training episode
            retrain()
        transitions = len(real_store) * per_episode
        seen = [] if observers is None else list(observers(budget))
        point = {
            "budget_min": budget,
            "real_transitions": transitions,
            "real_minutes": transitions / task.control_hz / 60,
            "planner": str(live["planner"]),
            "gates": list(gates),
            "eval": _evaluate(live["planner"], cfg, quiet, seen),
        }
        results.append(point)
        scalars = {**evaluation_scalars(point["eval"]), "real_minutes": point["real_minutes"]}
        append_scalars(out / "models" / "metrics", "finetune_eval", scalars, step=transitions)
    return results


def record_and_adapt(
    task: str,
    profile: str,
    base: Path,
    real_dir: Path,
    out: Path,
    *,
    seconds: float,
    noise: float,
    first_seed: int,
    workers: int,
    rounds: int,
    episodes_per_round: int,
    evaluations: int,
    real_ratio: float,
    max_epochs: int,
    seed: int,
    quiet: bool,
) -> dict[str, Any]:
    """Record ``seconds`` (whole episodes, at least 2) on ``profile`` (the robot) with the
    planner of the pretraining run ``base`` plus exploration noise into ``real_dir`` (episode
    seeds from ``first_seed``), then :func:`~mbrl_control.pipeline.adapt.adapt` into ``out``.

    Returns ``episodes``, ``transitions``, ``adapted`` (adapt's result) and ``start``: the
    ``(checkpoint, planner)`` to run next (adapt's deployed files, else ``base``'s).
    """
    import math

    from mbrl_sim.collect import collect

    from mbrl_control.pipeline.adapt import adapt
    from mbrl_control.tasks import get_task

    t = get_task(task)
    episodes = max(2, math.ceil(seconds * t.control_hz / t.episode_steps))
    collect(task, profile, episodes, f"planner:{base / 'planner.onnx'}", workers, real_dir,
            seed=first_seed, quiet=quiet, noise=noise)  # fmt: skip
    adapted = adapt(
        task, base, real_dir, out, rounds=rounds, episodes_per_round=episodes_per_round,
        workers=workers, evaluations=evaluations, real_ratio=real_ratio, max_epochs=max_epochs,
        seed=seed, quiet=quiet,
    )  # fmt: skip
    if adapted["deploy"]:
        start = (Path(adapted["checkpoint"]), Path(adapted["planner"]))
    else:
        start = (base / "model.pt", base / "planner.onnx")
    return {
        "episodes": episodes,
        "transitions": episodes * t.episode_steps,
        "adapted": adapted,
        "start": start,
    }


def adapt_row(cfg: Sim2RealConfig, pretrained: Path, out: Path, quiet: bool) -> dict[str, Any]:
    """The calibrated + adapted point: :func:`record_and_adapt` from the pretrained run
    (its own recording, seeds apart from the finetune loop's), then the chosen planner on the
    evaluation episodes."""
    from mbrl_control.tasks import get_task

    rec = record_and_adapt(
        cfg.pretrain.task, cfg.real_profile, pretrained, out / "adapt_real_data", out / "adapt",
        seconds=cfg.adapt_seconds, noise=cfg.adapt_noise, first_seed=cfg.real_seed + 50_000,
        workers=cfg.pretrain.workers, rounds=cfg.adapt_rounds,
        episodes_per_round=cfg.pretrain.episodes_per_round, evaluations=cfg.adapt_evaluations,
        real_ratio=cfg.real_ratio, max_epochs=cfg.pretrain.max_epochs, seed=cfg.pretrain.seed,
        quiet=quiet,
    )  # fmt: skip
    a, hz = rec["adapted"], get_task(cfg.pretrain.task).control_hz
    return {
        "real_minutes": rec["transitions"] / hz / 60,
        "planner": str(rec["start"][1]),
        "choice": a["choice"] if a["deploy"] else "kept the pretrained planner",
        "reason": a["reason"],
        "calibration": a["calibration"],
        "held_out_error": a["held_out_error"],
        "timings_s": a["timings_s"],
        "eval": _evaluate(rec["start"][1], cfg, quiet),
    }


def _adapt_row_in_child(cfg: Sim2RealConfig, pretrained: Path, out: Path) -> dict[str, Any]:
    """:func:`adapt_row` in a worker process: one torch thread (the parent's finetune loop
    trains beside it), no progress bars (two processes would interleave them)."""
    import torch

    torch.set_num_threads(1)
    return adapt_row(cfg, pretrained, out, quiet=True)


def train_real_only(cfg: Sim2RealConfig, out: Path, quiet: bool) -> Path:
    """A planner trained from scratch on the real data alone (same preset)."""
    from mbrl_control.data.store import TransitionStore

    real = TransitionStore(out / "real_data").load()
    folder = out / "real_only"
    folder.mkdir(parents=True, exist_ok=True)
    train_and_export(cfg.pretrain, folder, real, warm=False, quiet=quiet)
    return folder / "planner.onnx"


def run_sim2real(
    cfg: Sim2RealConfig,
    out: str | Path,
    *,
    quiet: bool = False,
    record: str | Path | None = None,
) -> dict[str, Any]:
    """The whole experiment; writes ``sim2real.json``, ``sim2real.md``, ``sim2real.png``.

    ``record``: an ``.mcap`` file to record the final evaluation into (the finetuned planner's
    episodes after the last budget, by an
    :class:`~mbrl_control.recording.episode_recorder.EpisodeRecorder`; the curve's last
    ``eval`` names it under ``recording``). Raises ``FileExistsError`` before
    anything runs when it exists (a recording is never replaced)."""
    out = Path(out)
    if record is not None and Path(record).exists():
        raise FileExistsError(f"{record}: already exists (recordings are never replaced)")
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []

    def row(name: str, planner: Path | str, minutes: float, ev: dict[str, Any]) -> None:
        rows.append(
            {
                "planner": name,
                "real_minutes": minutes,
                "file": str(planner),
                "mean_return": ev["mean_return"],
                "std_return": ev["std_return"],
                "success_rate": ev["success_rate"],
                "latency_p99_ms": ev["latency_ms"]["p99"],
            }
        )

    import time

    stages: dict[str, float] = {}  # wall seconds per stage (ratios within one run)
    clock = time.perf_counter()

    def stage(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        stages[name] = round(now - clock, 1)
        clock = now

    # ---- pretrain on default, zero-shot on the real profile ----
    pretrained = out / "pretrain_default"
    pretrain(cfg.pretrain, pretrained, quiet=quiet)
    stage("pretrain")
    row(
        "pretrained on default (zero-shot)",
        pretrained / "planner.onnx",
        0.0,
        _evaluate(pretrained / "planner.onnx", cfg, quiet),
    )
    # ---- live finetuning on the real profile, evaluated per budget (and, beside it, the
    # calibrate-and-adapt loop from the pretrained planner) ----
    stage("zero_shot_eval")
    adapting = None
    if cfg.adapt_seconds > 0 and cfg.parallel_adapt:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        adapting = pool.submit(_adapt_row_in_child, cfg, pretrained, out)
        pool.shutdown(wait=False)  # the submitted row still runs; its result is awaited below
        if not quiet:
            print("[sim2real] calibrate-and-adapt runs in a second process", flush=True)
    with contextlib.ExitStack() as stack:
        observers = None
        if record is not None:
            from mbrl_control.recording.episode_recorder import EpisodeRecorder

            recorder = stack.enter_context(EpisodeRecorder(record))
            last = cfg.budgets_min[-1]
            observers = lambda budget: [recorder] if budget == last else []  # noqa: E731
        curve = finetune_live(cfg, pretrained, out, quiet, observers=observers)
    for point in curve:
        row(
            f"finetuned, {point['budget_min']:g} min real",
            point["planner"],
            point["real_minutes"],
            point["eval"],
        )
    # ---- the calibrate-and-adapt loop from the pretrained planner ----
    stage("finetune_curve")
    adapted = None
    if adapting is not None:
        adapted = adapting.result()
        stage("calibrate_and_adapt_after_curve")  # the part not hidden behind the curve
    elif cfg.adapt_seconds > 0:
        adapted = adapt_row(cfg, pretrained, out, quiet)
        stage("calibrate_and_adapt")
    if adapted is not None:
        row(
            f"calibrated + adapted, {adapted['real_minutes']:.1f} min real",
            adapted["planner"],
            adapted["real_minutes"],
            adapted["eval"],
        )
    # ---- baselines and the upper reference ----
    if cfg.baselines:
        nodr = out / "pretrain_none"
        pretrain(replace(cfg.pretrain, profile="none"), nodr, quiet=quiet)
        row(
            "pretrained without DR (none)",
            nodr / "planner.onnx",
            0.0,
            _evaluate(nodr / "planner.onnx", cfg, quiet),
        )
        real_only = train_real_only(cfg, out, quiet)
        row(
            "real data only", real_only, curve[-1]["real_minutes"], _evaluate(real_only, cfg, quiet)
        )
        from mbrl_control.pipeline.evaluate import evaluate_oracle

        oracle = evaluate_oracle(
            cfg.pretrain.preset,
            cfg.pretrain.task,
            cfg.real_profile,
            cfg.eval_episodes,
            quiet=quiet,
        )
        row("upper reference: true reality_gap sim as the model", "oracle", float("nan"), oracle)
        stage("baselines")
    result = {"config": _plain(cfg), "rows": rows, "curve": curve, "stages_s": stages}
    if adapted is not None:
        result["adapt"] = adapted
    (out / "sim2real.json").write_text(json.dumps(result, indent=2))
    (out / "sim2real.md").write_text(markdown_table(rows))
    from mbrl_control.diagnostics.sim2real_plot import plot_sim2real

    rounds = json.loads((pretrained / "rounds.json").read_text())
    plot_sim2real(rows, out / "sim2real.png", rounds=rounds)
    return result


def markdown_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| planner | real minutes | mean return ± std | success | planner p99 (ms) |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        minutes = "—" if np.isnan(r["real_minutes"]) else f"{r['real_minutes']:.1f}"
        lines.append(
            f"| {r['planner']} | {minutes} | {r['mean_return']:.1f} ± {r['std_return']:.1f} | "
            f"{r['success_rate']:.0%} | {r['latency_p99_ms']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def _plain(cfg: Sim2RealConfig) -> dict[str, Any]:
    from dataclasses import asdict

    return json.loads(json.dumps(asdict(cfg), default=str))
