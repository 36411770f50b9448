"""The sim-to-real experiment as a grid: conditions × real budgets × seeds, paired episodes.

The "real robot" is the simulator on the ``reality_gap`` profile. Arms:

- **conditions** (pretraining profile, then the in-process finetune loop of
  :func:`~mbrl_control.pipeline.sim2real.finetune_live`: record with the live planner, retrain
  in chunks, gate, swap), evaluated after each real budget:

  - ``none``, ``default``, ``wide``: pretrained on that profile; budget 0 is zero-shot;
  - ``calibrated``: pretrained on ``default``; records the first ``min(first budget,
    calib_seconds)`` of real data with that planner plus bounded exploration noise
    (``calib_noise``, ``collect --noise``), then runs the lab's adaptation loop on it
    (:func:`mbrl_control.pipeline.adapt.adapt`: calibrate a DR profile, re-pretrain warm on
    it for ``recalib_rounds`` more planner rounds, finetune on the recorded data, gate, choose
    what to deploy), then the finetune loop from the chosen planner with the rest of the
    budget. The calibration data counts in the budget: no budget-0 cell.

- **real_only**: model-based RL from scratch on the robot with the same budget: random episodes
  first, then planner-driven rounds (:func:`~mbrl_control.pipeline.pretrain.pretrain` on the
  real profile, one round per ``retrain_every`` transitions), evaluated at each budget;
- **random**: uniformly random actions (R_random of the normalized score);
- **oracle_model**: the same planner on a model trained with plentiful real data:
  ``default`` pretraining, then the finetune loop for ``oracle_minutes`` with only real data in
  the batches (``real_ratio`` 1); first seed only;
- **oracle_sim**: the optimizer planning on the true ``reality_gap`` simulator
  (:func:`~mbrl_control.pipeline.evaluate.evaluate_oracle`).

Every evaluation runs the same episodes (seeds 1000..1000+E-1). Jobs run in two phases
(pretraining and the independent baselines, then the cells that need a pretrained model),
sequentially (``local``) or as Ray tasks (``ray``: a local instance, or the cluster named by
``RAY_ADDRESS``). Each job's result is one JSON file ``OUT/cells/<key>.json``; ``resume``
skips the jobs whose file exists and was made with the same settings (and reruns a finished
pretraining whose model a job still to run needs but whose work folder is gone:
:func:`resumable`). ``max_minutes`` stops
scheduling new jobs once exceeded (running ones finish). Statistics:
:mod:`mbrl_control.pipeline.sim2real_stats`.

``record``: every evaluation of a job is also recorded (an
:class:`~mbrl_control.recording.episode_recorder.EpisodeRecorder`) into one MCAP file per cell,
``OUT/work/<key>/eval.mcap``; the cell's JSON names it (``recording``) and each point its
episodes in it (``recorded_episodes``: ``[first, end)``, as the diagnostics number them). A
recording is never replaced nor removed: with ``record``, a job to run whose recording exists
is refused before anything runs; rerunning a job without ``record`` keeps it. Recording
changes neither the fingerprint nor what resumes.

Metrics (TensorBoard + CSV, ``OUT/metrics``): each cell's points as ``mean_return/<key>``,
``success_rate/<key>``, ``latency_p50_ms/<key>``, ``latency_p99_ms/<key>`` (ms) when the
cell finishes, and ``normalized/<key>`` once the references exist (at the end of the run);
step: the real budget in seconds. Cells resumed from before are logged once (when their tags
are missing); each job's finetuning logs into ``OUT/work/<key>/models/metrics``
(:func:`~mbrl_control.pipeline.sim2real.finetune_live`).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import shutil
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from mbrl_control.pipeline.pretrain import PretrainConfig
from mbrl_control.pipeline.run_identity import ref_identity
from mbrl_control.pipeline.sim2real_names import BACKENDS, BASELINES, CONDITIONS
from mbrl_control.pipeline.sim2real_stats import (
    aggregate,
    cell_path,
    load_cells,
    markdown_table,
    write_cell,
)
from mbrl_control.recording.metrics import MetricsLog

EVAL_SEED = 1000
"""Episode i of every evaluation has seed EVAL_SEED + i (paired)."""
RECORDING = "eval.mcap"
"""A cell's recording (``record``), in its work folder: :func:`recording_path`."""
CELL_METRICS = ("mean_return", "success_rate", "latency_p50_ms", "latency_p99_ms")
"""Per-point scalars of a cell in ``OUT/metrics`` (as ``<name>/<key>``; plus ``normalized``)."""


def recording_path(out: str | Path, key: str) -> Path:
    """``OUT/work/<key>/eval.mcap``: where job ``key``'s evaluations are recorded."""
    return Path(out) / "work" / key / RECORDING


@dataclass(frozen=True)
class GridConfig:
    """The grid (defaults: the cited run, except ``seeds``' length which the CLI sets)."""

    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    """Task, planner preset, pretraining sizes; ``profile`` and ``seed`` are set per cell."""
    conditions: tuple[str, ...] = CONDITIONS
    budgets_min: tuple[float, ...] = (0.0, 0.5, 1.0, 2.0, 5.0)
    seeds: tuple[int, ...] = (0, 1, 2)
    eval_episodes: int = 10
    real_profile: str = "reality_gap"
    retrain_every: int = 1000
    real_ratio: float = 0.9
    baselines: tuple[str, ...] = BASELINES
    oracle_minutes: float = 15.0
    calib_seconds: float = 30.0
    calib_evaluations: int = 400
    recalib_rounds: int = 2
    calib_noise: float = 0.2
    """Exploration noise of the calibration recording (std as a fraction of half the action
    range, clipped to the bounds, withheld near the joints' limits: ``collect --noise``,
    :mod:`mbrl_control.control.excitation`): excites the dynamics beyond what the planner
    alone does."""

    def __post_init__(self) -> None:
        bad = [c for c in self.conditions if c not in CONDITIONS]
        if bad or not self.conditions:
            raise ValueError(f"conditions {bad or '(none)'}: allowed {list(CONDITIONS)}")
        bad = [b for b in self.baselines if b not in BASELINES]
        if bad:
            raise ValueError(f"baselines {bad}: allowed {list(BASELINES)}")
        b = self.budgets_min
        if not b or b[0] < 0 or any(y <= x for x, y in itertools.pairwise(b)):
            raise ValueError(f"budgets_min must be >= 0 and increasing, got {b}")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds) or min(self.seeds) < 0:
            raise ValueError(f"seeds must be distinct integers >= 0, got {self.seeds}")
        for key in ("eval_episodes", "retrain_every", "recalib_rounds"):
            if getattr(self, key) < 1:
                raise ValueError(f"GridConfig.{key} must be >= 1, got {getattr(self, key)}")
        for key in ("oracle_minutes", "calib_seconds"):
            if getattr(self, key) <= 0:
                raise ValueError(f"GridConfig.{key} must be > 0, got {getattr(self, key)}")

    @property
    def positive_budgets(self) -> tuple[float, ...]:
        return tuple(b for b in self.budgets_min if b > 0)


@dataclass(frozen=True)
class Job:
    """One unit of scheduling: its ``key`` names its cell file."""

    key: str
    kind: str
    """``pretrain``, ``condition`` or a baseline name."""
    arm: str
    seed: int
    needs: tuple[str, ...] = ()
    """Keys of the jobs whose outputs this one reads."""


def _pretrain_profile(condition: str) -> str:
    return "default" if condition == "calibrated" else condition


def plan_jobs(cfg: GridConfig) -> list[list[Job]]:
    """The jobs in two phases (phase 1 reads phase 0's pretrained models)."""
    first, second = [], []
    pretrainings = {(_pretrain_profile(c), s) for c in cfg.conditions for s in cfg.seeds}
    if "oracle_model" in cfg.baselines:
        pretrainings.add(("default", cfg.seeds[0]))
    for profile, s in sorted(pretrainings):
        first.append(Job(f"pretrain_{profile}_s{s}", "pretrain", profile, s))
    if "random" in cfg.baselines:
        first.append(Job("random", "random", "random", cfg.seeds[0]))
    if "oracle_sim" in cfg.baselines:
        first.append(Job("oracle_sim", "oracle_sim", "oracle_sim", cfg.seeds[0]))
    if "real_only" in cfg.baselines and cfg.positive_budgets:
        first += [Job(f"real_only_s{s}", "real_only", "real_only", s) for s in cfg.seeds]
    for c in cfg.conditions:
        if c == "calibrated" and not cfg.positive_budgets:
            continue
        for s in cfg.seeds:
            need = (f"pretrain_{_pretrain_profile(c)}_s{s}",)
            second.append(Job(f"{c}_s{s}", "condition", c, s, need))
    if "oracle_model" in cfg.baselines:
        s = cfg.seeds[0]
        second.append(
            Job("oracle_model", "oracle_model", "oracle_model", s, (f"pretrain_default_s{s}",))
        )
    return [first, second]


def fingerprint(cfg: GridConfig) -> dict[str, Any]:
    """The settings a cell's result depends on (a cell made with others is rerun)."""
    d = json.loads(json.dumps(asdict(cfg), default=str))
    for key in ("seeds", "conditions", "baselines"):
        d.pop(key)
    d["pretrain"].pop("workers")  # collected data do not depend on it (nor on the backend)
    # task and profile files by content, not by path
    d["pretrain"]["task"] = ref_identity(cfg.pretrain.task)
    d["pretrain"]["profile"] = ref_identity(cfg.pretrain.profile)
    d["real_profile"] = ref_identity(cfg.real_profile)
    return d


# ---- the jobs --------------------------------------------------------------------------------
def _work(out: Path, key: str, fresh: bool) -> Path:
    """The job's work folder; ``fresh``: emptied first, except its recordings (``*.mcap``
    at its top: a recording is never removed)."""
    path = out / "work" / key
    if fresh and path.exists():
        for child in path.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            elif child.suffix != ".mcap":
                child.unlink()
    path.mkdir(parents=True, exist_ok=True)
    return path


def _point(budget: float, minutes: float, ev: dict[str, Any], **extra: Any) -> dict[str, Any]:
    keep = (
        "returns",
        "successes",
        "success_rate",
        "episodes",
        "mean_return",
        "rail_steps",
        "safety_stop_steps",
        "first_success_steps",
        "latency_ms",
        "planner",
    )
    return {
        "budget_min": budget,
        "real_minutes": minutes,
        **{k: ev[k] for k in keep if k in ev},
        **extra,
    }


def _s2r(cfg: GridConfig, profile: str, seed: int, budgets: tuple[float, ...], **kw: Any) -> Any:
    from mbrl_control.pipeline.sim2real import Sim2RealConfig

    return Sim2RealConfig(
        pretrain=replace(cfg.pretrain, profile=profile, seed=seed),
        real_profile=cfg.real_profile,
        budgets_min=budgets,
        retrain_every=cfg.retrain_every,
        real_ratio=kw.pop("real_ratio", cfg.real_ratio),
        eval_episodes=cfg.eval_episodes,
        baselines=False,
        real_seed=10_000 + 100_000 * seed,
        **kw,
    )


def _curve_points(curve: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [_point(c["budget_min"], c["real_minutes"], c["eval"], gates=c["gates"]) for c in curve]


def finetune_rails(task_ref: str, store: Path) -> dict[str, int]:
    """Episodes of the recorded real data with a rail hit and with a safety stop (the rule of
    :class:`~mbrl_control.pipeline.evaluate.SafetyCheck` on the recorded joint states: the
    simulator's truth plus its sensor noise, a few mm and cm/s on ``reality_gap``). A task
    whose observation lacks some joint's position or velocity counts none."""
    import numpy as np
    from mbrl_sim.oracle import JointStateReader

    from mbrl_control.data.store import TransitionStore
    from mbrl_control.pipeline.evaluate import SafetyCheck
    from mbrl_control.tasks import get_task

    task = get_task(task_ref)
    data = TransitionStore(store).load()
    out = {"episodes": len(np.unique(data.episode_id)), "rail_hit_episodes": 0,
           "safety_stop_episodes": 0}  # fmt: skip
    try:
        q, qd = JointStateReader(task)(data.next_obs) if len(data) else (None, None)
    except ValueError:
        return out
    check = SafetyCheck(task)
    flags = np.array([check(q[i], qd[i]) for i in range(len(data))], bool).reshape(-1, 2)
    for k, key in enumerate(("rail_hit_episodes", "safety_stop_episodes")):
        out[key] = len(np.unique(data.episode_id[flags[:, k]]))
    return out


def _calibrated(
    cfg: GridConfig, job: Job, out: Path, work: Path, quiet: bool, observers: list[Any]
) -> dict[str, Any]:
    """Record → :func:`~mbrl_control.pipeline.adapt.adapt` (calibrate, re-pretrain warm on the
    calibrated profile, finetune on the recorded data, gate, choose) → the finetune loop from
    the chosen planner."""
    from mbrl_control.pipeline.sim2real import finetune_live, record_and_adapt

    budgets = cfg.positive_budgets
    s2r = _s2r(cfg, "default", job.seed, budgets)
    base = out / "work" / job.needs[0]
    # ---- record with the pretrained planner (counts in the budget), the lab's adaptation loop
    t0 = time.perf_counter()
    rec = record_and_adapt(
        cfg.pretrain.task, cfg.real_profile, base, work / "real_data", work / "adapt",
        seconds=min(budgets[0] * 60, cfg.calib_seconds), noise=cfg.calib_noise,
        first_seed=s2r.real_seed, workers=cfg.pretrain.workers, rounds=cfg.recalib_rounds,
        episodes_per_round=cfg.pretrain.episodes_per_round,
        evaluations=cfg.calib_evaluations, real_ratio=cfg.real_ratio,
        max_epochs=cfg.pretrain.max_epochs, seed=job.seed, quiet=quiet,
    )  # fmt: skip
    setup_s = time.perf_counter() - t0
    adapted, episodes, start = rec["adapted"], rec["episodes"], rec["start"]
    # ---- then the finetune loop from what adapt deploys (or the current planner) ----
    re = work / "adapt" / "pretrain_calibrated"
    curve = finetune_live(s2r, re, work, quiet, start=start, observers=lambda b: observers)
    return {
        "points": _curve_points(curve),
        "calibration": {
            "episodes": episodes,
            **adapted["calibration"],
            "adapt_choice": adapted["choice"],
            "adapt_deploy": adapted["deploy"],
            "adapt_reason": adapted["reason"],
            "setup_s": round(setup_s, 1),
        },
        "finetune_rails": finetune_rails(cfg.pretrain.task, work / "real_data"),
    }


def _real_only(
    cfg: GridConfig, job: Job, work: Path, quiet: bool, observers: list[Any]
) -> dict[str, Any]:
    """MBRL from scratch on the robot: random episodes, then one planner round per
    ``retrain_every`` transitions, up to each budget; evaluated at each."""
    from mbrl_control.pipeline.evaluate import evaluate as evaluate_planner
    from mbrl_control.pipeline.pretrain import pretrain
    from mbrl_control.tasks import get_task

    task = get_task(cfg.pretrain.task)
    steps = task.episode_steps
    chunk = max(1, cfg.retrain_every // steps)
    pcfg = replace(cfg.pretrain, profile=cfg.real_profile, seed=job.seed)
    have, rounds, points = 0, 0, []
    for budget in cfg.positive_budgets:
        target = math.ceil(budget * 60 * task.control_hz / steps)
        while have < target:
            if rounds == 0:
                n = max(2, min(cfg.pretrain.seed_episodes, target))
                pretrain(replace(pcfg, seed_episodes=n, rounds=0), work, quiet=quiet)
            else:
                n = min(chunk, target - have)
                pretrain(replace(pcfg, episodes_per_round=n, rounds=rounds), work, quiet=quiet)
            have, rounds = have + n, rounds + 1
        ev = evaluate_planner(
            work / "planner.onnx",
            cfg.pretrain.task,
            cfg.real_profile,
            cfg.eval_episodes,
            seed=EVAL_SEED,
            observers=observers,
        )
        points.append(_point(budget, have * steps / task.control_hz / 60, ev, rounds=rounds))
    return {"points": points}


def run_job(
    cfg: GridConfig, job: Job, out: str | Path, quiet: bool = True, record: bool = False
) -> dict[str, Any]:
    """Run one job; return its cell result (see :mod:`~mbrl_control.pipeline.sim2real_stats`).

    ``record``: record its evaluations into :func:`recording_path` (a pretraining job has
    none); raises ``FileExistsError`` when that file exists."""
    out = Path(out)
    t0 = time.perf_counter()
    # pretraining resumes at its last finished round; the other jobs start from scratch
    work = _work(out, job.key, fresh=job.kind != "pretrain")
    with contextlib.ExitStack() as stack:
        observers: list[Any] = []
        if record and job.kind != "pretrain":
            from mbrl_control.recording.episode_recorder import EpisodeRecorder

            observers.append(stack.enter_context(EpisodeRecorder(recording_path(out, job.key))))
        result = _run(cfg, job, out, work, quiet, observers)
    if observers:
        first = 0  # the points in the order they were evaluated: one recording, in turn
        for p in result["points"]:
            p["recorded_episodes"] = [first, first + int(p["episodes"])]
            first += int(p["episodes"])
        result["recording"] = str(recording_path(out, job.key).relative_to(out))
    kind = "condition" if job.kind == "condition" else job.kind
    return {
        "key": job.key,
        "kind": kind,
        "arm": job.arm,
        "seed": job.seed,
        "task": cfg.pretrain.task,
        "elapsed_s": round(time.perf_counter() - t0, 1),
        "fingerprint": fingerprint(cfg),
        **result,
    }


def _run(
    cfg: GridConfig, job: Job, out: Path, work: Path, quiet: bool, observers: list[Any]
) -> dict[str, Any]:
    """The job's own work (see :func:`run_job`): its points and extras; every evaluation runs
    with ``observers``."""
    from mbrl_control.pipeline.evaluate import evaluate as evaluate_planner
    from mbrl_control.pipeline.sim2real import finetune_live
    from mbrl_control.pipeline.sim2real_eval import evaluate_random

    task, E = cfg.pretrain.task, cfg.eval_episodes
    seen = dict(observers=observers)
    result: dict[str, Any]
    if job.kind == "pretrain":
        from mbrl_control.pipeline.pretrain import pretrain

        rounds = pretrain(replace(cfg.pretrain, profile=job.arm, seed=job.seed), work, quiet=quiet)
        result = {"points": [], "rounds": rounds["rounds"]}
    elif job.kind == "random":
        ev = evaluate_random(
            task, cfg.real_profile, E, seed=EVAL_SEED, policy_seed=job.seed, **seen
        )
        result = {"points": [_point(0.0, 0.0, ev)]}
    elif job.kind == "oracle_sim":
        from mbrl_control.pipeline.evaluate import evaluate_oracle

        ev = evaluate_oracle(cfg.pretrain.preset, task, cfg.real_profile, E, seed=EVAL_SEED, **seen)
        result = {"points": [_point(0.0, 0.0, ev)]}
    elif job.kind == "real_only":
        result = _real_only(cfg, job, work, quiet, observers)
    elif job.kind == "oracle_model":
        s2r = _s2r(cfg, "default", job.seed, (cfg.oracle_minutes,), real_ratio=1.0)
        curve = finetune_live(
            s2r, out / "work" / job.needs[0], work, quiet, observers=lambda b: observers
        )
        result = {"points": _curve_points(curve)}
    elif job.arm == "calibrated":
        result = _calibrated(cfg, job, out, work, quiet, observers)
    else:  # a pretraining-profile condition
        base = out / "work" / job.needs[0]
        points = []
        if 0.0 in cfg.budgets_min:
            ev = evaluate_planner(
                base / "planner.onnx", task, cfg.real_profile, E, seed=EVAL_SEED, **seen
            )
            points.append(_point(0.0, 0.0, ev))
        if cfg.positive_budgets:
            s2r = _s2r(cfg, job.arm, job.seed, cfg.positive_budgets)
            curve = finetune_live(s2r, base, work, quiet, observers=lambda b: observers)
            points += _curve_points(curve)
            result = {"finetune_rails": finetune_rails(task, work / "real_data")}
        else:
            result = {}
        result["points"] = points
    return result


# ---- scheduling --------------------------------------------------------------------------------
def _done(out: Path, job: Job, cfg: GridConfig) -> bool:
    path = cell_path(out, job.key)
    if not path.exists():
        return False
    try:
        return json.loads(path.read_text()).get("fingerprint") == fingerprint(cfg)
    except json.JSONDecodeError:
        return False


NEEDED_ARTEFACTS = ("model.pt", "planner.onnx")
"""What a job reads from the work folder of a job it needs (``Job.needs``)."""


def resumable(out: str | Path, cfg: GridConfig) -> set[str]:
    """Keys of the jobs a resumed run reuses: a finished cell made with this config's
    fingerprint, and, for a job that a job still to run needs, its :data:`NEEDED_ARTEFACTS`
    in ``OUT/work/<key>`` (a cell copied without its work folder is rerun when a dependent
    needs it, not trusted into a dependent's ``FileNotFoundError``)."""
    out = Path(out)
    jobs = [j for phase in plan_jobs(cfg) for j in phase]
    done = {j.key for j in jobs if _done(out, j, cfg)}
    for job in reversed(jobs):  # a job comes after the ones it needs
        if job.key in done:
            continue
        for need in job.needs:
            work = out / "work" / need
            if need in done and not all((work / a).is_file() for a in NEEDED_ARTEFACTS):
                done.discard(need)
    return done


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text[:300]}"


def _ray_runner(cfg: GridConfig, out: Path, jobs: int, quiet: bool) -> Any:
    import os

    import ray

    if not ray.is_initialized():
        if os.environ.get("RAY_ADDRESS"):
            ray.init()
        else:
            ray.init(num_cpus=jobs, include_dashboard=False, log_to_driver=not quiet)
    return ray.remote(num_cpus=1)(run_job)


def run_grid(
    cfg: GridConfig,
    out: str | Path,
    *,
    backend: str = "local",
    jobs: int = 2,
    resume: bool = False,
    max_minutes: float | None = None,
    quiet: bool = False,
    record: bool = False,
) -> dict[str, Any]:
    """Run the grid into ``out`` (see the module docstring); write ``sim2real.{json,md,png}``
    and the per-cell metrics (``OUT/metrics``).

    ``jobs``: Ray tasks in flight (``ray`` backend; ``local`` runs one job at a time).
    ``record``: record each job's evaluations into ``OUT/work/<key>/eval.mcap``.
    Returns the ``sim2real.json`` content. Raises ``ValueError`` for an unknown backend and
    ``FileExistsError`` (before any job runs) when ``record`` and a job that would run (not
    resumed) already has a recording."""
    if backend not in BACKENDS:
        raise ValueError(f"backend={backend!r}; allowed: {list(BACKENDS)}")
    from mbrl_sim.profiles import load_profile

    from mbrl_control.tasks import get_task

    get_task(cfg.pretrain.task)  # bad names fail here, not in every job
    for profile in (cfg.real_profile, *{_pretrain_profile(c) for c in cfg.conditions}):
        load_profile(profile)
    if backend == "ray":
        # one job per core: collection inside a job uses one process
        cfg = replace(cfg, pretrain=replace(cfg.pretrain, workers=1))
    out = Path(out).resolve()  # Ray workers may run elsewhere (a shared folder)
    if record:
        _refuse_recorded(cfg, out, resume)
    out.mkdir(parents=True, exist_ok=True)
    with MetricsLog(out / "metrics") as metrics:
        return _run_grid(cfg, out, backend, jobs, resume, max_minutes, quiet, record, metrics)


def _refuse_recorded(cfg: GridConfig, out: Path, resume: bool) -> None:
    """``FileExistsError`` naming the recordings of the jobs that would run (not resumed, not
    pretraining) and already exist: a recording is never replaced."""
    resumed = resumable(out, cfg) if resume else set()
    have = [
        recording_path(out, j.key)
        for phase in plan_jobs(cfg)
        for j in phase
        if j.kind != "pretrain" and j.key not in resumed and recording_path(out, j.key).exists()
    ]
    if have:
        names = ", ".join(str(p) for p in have[:3]) + (" ..." if len(have) > 3 else "")
        raise FileExistsError(
            f"{len(have)} recording(s) already exist (recordings are never replaced): {names}; "
            "move them away to rerun those cells with --record"
        )


def _run_grid(
    cfg: GridConfig,
    out: Path,
    backend: str,
    jobs: int,
    resume: bool,
    max_minutes: float | None,
    quiet: bool,
    record: bool,
    metrics: MetricsLog,
) -> dict[str, Any]:
    """:func:`run_grid` after its checks, with the open metrics log."""
    t0 = time.perf_counter()
    deadline = None if max_minutes is None else t0 + 60 * max_minutes
    log: dict[str, dict[str, Any]] = {}
    remote = _ray_runner(cfg, out, jobs, quiet) if backend == "ray" else None

    def finish(job: Job, run: Any) -> None:
        """Record a job's result; a job that raised is logged as failed (its dependents are
        then not run) and the grid goes on."""
        try:
            result = run()
        except Exception as err:
            why = _one_line(getattr(err, "cause", None) or err)
            log[job.key] = {"status": "failed", "why": why}
            print(f"[sim2real] {job.key}: FAILED: {why}", flush=True)
            return
        write_cell(out, result)
        _log_cell(metrics, result)
        log[job.key] = {"status": "ran", "elapsed_s": result["elapsed_s"]}
        print(f"[sim2real] {job.key}: {result['elapsed_s']:.0f} s", flush=True)

    resumed = resumable(out, cfg) if resume else set()
    for phase in plan_jobs(cfg):
        todo = []
        for job in phase:
            if job.key in resumed:
                log[job.key] = {"status": "resumed"}
                print(f"[sim2real] {job.key}: done before (resume)", flush=True)
            elif any(log.get(n, {}).get("status") not in ("ran", "resumed") for n in job.needs):
                log[job.key] = {"status": "not run", "why": f"needs {', '.join(job.needs)}"}
            else:
                todo.append(job)
        pending: dict[Any, Job] = {}
        for job in todo:
            if deadline is not None and time.perf_counter() > deadline:
                log[job.key] = {"status": "not run", "why": f"--max-minutes {max_minutes:g}"}
                continue
            if remote is None:
                finish(job, lambda job=job: run_job(cfg, job, out, quiet, record))
                continue
            import ray

            while len(pending) >= jobs:
                (ready,), _ = ray.wait(list(pending), num_returns=1)
                finish(pending.pop(ready), lambda ready=ready: ray.get(ready))
            pending[remote.remote(cfg, job, out, quiet, record)] = job
        while pending:
            import ray

            (ready,), _ = ray.wait(list(pending), num_returns=1)
            finish(pending.pop(ready), lambda ready=ready: ray.get(ready))
    keys = {j.key for phase in plan_jobs(cfg) for j in phase}
    cells = [
        c for c in load_cells(out) if c["key"] in keys and c.get("fingerprint") == fingerprint(cfg)
    ]
    result = write_outputs(cfg, out, cells, log, time.perf_counter() - t0)
    ran = {k for k, v in log.items() if v.get("status") == "ran"}
    _log_cells_at_end(metrics, cells, ran)
    return result


def _budget_step(point: dict[str, Any]) -> int:
    """A point's metrics step: its real budget in seconds."""
    return round(60 * float(point["budget_min"]))


def _log_cell(metrics: MetricsLog, cell: dict[str, Any]) -> None:
    """A finished cell's points: :data:`CELL_METRICS` as ``<name>/<key>``."""
    from mbrl_control.recording.metrics import evaluation_scalars

    for p in cell.get("points", ()):
        values = evaluation_scalars(p)
        if "mean_return" not in values and p.get("returns"):
            values["mean_return"] = float(np.mean(p["returns"]))
        row = {f"{n}/{cell['key']}": values[n] for n in CELL_METRICS if n in values}
        metrics.scalars("", row, _budget_step(p))


def _log_cells_at_end(metrics: MetricsLog, cells: list[dict[str, Any]], ran: set[str]) -> None:
    """After the run: the cells resumed from before that were never logged (made by an older
    run), then every cell's ``normalized/<key>`` that ran now or was never logged (when the
    references exist: :func:`~mbrl_control.pipeline.sim2real_stats.references`)."""
    from mbrl_control.pipeline.sim2real_stats import references
    from mbrl_control.recording.metrics import read_metrics_csv

    if not metrics.active:
        return
    try:
        logged = set(read_metrics_csv(metrics.folder))
    except (OSError, ValueError):
        logged = set()
    cells = [c for c in cells if c.get("kind") != "pretrain" and c.get("points")]
    for c in cells:
        if c["key"] not in ran and f"mean_return/{c['key']}" not in logged:
            _log_cell(metrics, c)
    try:
        refs = references(cells)
    except ValueError:
        return  # no normalized score (sim2real.md says why)
    span = refs["R_oracle"] - refs["R_random"]
    for c in cells:
        if c["key"] in ran or f"normalized/{c['key']}" not in logged:
            for p in c["points"]:
                score = (float(np.mean(p["returns"])) - refs["R_random"]) / span
                metrics.scalar(f"normalized/{c['key']}", score, _budget_step(p))


def write_outputs(
    cfg: GridConfig,
    out: Path,
    cells: list[dict[str, Any]],
    log: dict[str, dict[str, Any]],
    elapsed_s: float,
) -> dict[str, Any]:
    """``sim2real.json`` (config, rows, references, per-cell timing), ``.md`` and ``.png``."""
    from mbrl_control.diagnostics.sim2real_plot import plot_grid
    from mbrl_control.pipeline.sim2real_stats import _fmt

    summary = aggregate(cells)
    timing = {c["key"]: c["elapsed_s"] for c in cells}
    result = {
        "config": json.loads(json.dumps(asdict(cfg), default=str)),
        **summary,
        "cells": {
            k: {**log.get(k, {"status": "from before"}), "elapsed_s": timing.get(k)}
            for k in sorted(set(timing) | set(log))
        },
        "calibration": {c["key"]: c["calibration"] for c in cells if "calibration" in c},
        "finetune_rails": {c["key"]: c["finetune_rails"] for c in cells if "finetune_rails" in c},
        "compute_min": {
            "this_run": round(elapsed_s / 60, 2),
            "all_cells": round(sum(timing.values()) / 60, 2),
        },
    }
    (out / "sim2real.json").write_text(json.dumps(result, indent=2))
    not_run = [k for k, v in result["cells"].items() if v.get("status") == "not run"]
    failed = [
        f"{k} ({v['why']})" for k, v in result["cells"].items() if v.get("status") == "failed"
    ]
    text = markdown_table(summary) + (
        f"\nCompute: {result['compute_min']['all_cells']:.1f} min over {len(timing)} jobs "
        f"(this run {result['compute_min']['this_run']:.1f} min)."
        + (f" Not run: {', '.join(not_run)}." if not_run else "")
        + (f" Failed: {'; '.join(failed)}." if failed else "")
        + "\n\n| job | seconds |\n|---|---:|\n"
        + "".join(f"| {k} | {_fmt(v, '.0f')} |\n" for k, v in sorted(timing.items()))
    )
    (out / "sim2real.md").write_text(text)
    if summary["rows"]:
        from mbrl_control.tasks import get_task

        title = f"{get_task(cfg.pretrain.task).name} on {cfg.real_profile}"
        plot_grid(summary, out / "sim2real.png", title=title)
    return result
