"""The resumable pixel run behind ``mbrl-control train-pixels``: collect, train, evaluate.

Loop, one episode at a time, until ``env_steps`` environment steps are stored::

    collect  one episode in the pixel env (Gaussian action noise alone for the first
             ``seed_episodes``, or a ``teacher``, a state planner or the LQR, reading the
             simulator's state, plus that noise; then the latent planner plus that noise)
             -> OUT/data
    train    ``updates_per_episode`` world-model gradient steps on random sequences
    evaluate every ``eval_every`` env steps: export OUT/planner.onnx (encoder + filter +
             latent CEM, one graph), run ``eval_episodes`` with onnxruntime alone, append a
             row to OUT/learning_curve.csv, redraw OUT/learning_curve.png and write
             OUT/imagination.gif (real frames above the model's open-loop imagination)
    save     OUT/checkpoint.pt (atomic): model, optimizer, counters

A rerun with the same settings (``OUT/settings.json``; other settings are refused in one line)
continues from the checkpoint: every episode's and every training phase's randomness is seeded
by (seed, episode index), so a resumed run collects what an uninterrupted one would. The
first rows of the curve (step 0) score the uniform random policy and the untrained planner on
the evaluation starts.
Starts: ``balance`` (:func:`~mbrl_control.latent.episodes.upright_start`, the issue's first
target) or ``task`` (the task file's own initial state, e.g. the swing-up's hanging pole).
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mbrl_control.latent.curve import LearningCurve
from mbrl_control.latent.episodes import run_pixel_episode, store_episode, upright_start
from mbrl_control.latent.planner import ActionScale, LatentPlannerConfig
from mbrl_control.latent.value import ValueConfig
from mbrl_control.latent.world_model import WorldModel, WorldModelConfig
from mbrl_control.tasks.camera_section import CameraSpec

STARTS = ("balance", "task")
BALANCE_CAMERA = CameraSpec(target=(0.0, 0.0, 0.15), distance=1.4, pitch=0.0)
"""The view for a task whose ``camera`` section leaves target and distance to the fit (the
built-in cart-pole's): the rail's middle +-0.81 m at 2.5 cm/px, the 0.6 m pole ~24 px tall,
where the fitted whole-rail view (11 cm/px) makes it ~5 px and the model never learns it
(docs/pixels.md). A task that sets both keeps its own view."""
SMALL_MODEL = WorldModelConfig(
    depth=8, deter=32, stoch=8, hidden=32, reward_scale=10.0, foreground_weight=20.0
)
"""The pixel run's default world model (0.1 M parameters): ~16x cheaper per imagined step than
:class:`WorldModelConfig`'s default, so latent CEM (H 12, I 4, N 64) fits a 10 ms tick on one
thread and a CPU trains it in minutes (``mbrl-control bench pixel-planner``; docs/pixels.md).
Reward weight 10: the reward head is all the planner sees of the task. Foreground weight 20:
the pole's pixels count (docs/pixels.md, "Foreground weighting")."""
EVAL_SEED = 1_000_000
"""Evaluation episode i resets with seed ``EVAL_SEED + i``: the same starts at every row."""
SETTINGS, CHECKPOINT = "settings.json", "checkpoint.pt"
LQR_TEACHER = "lqr"
"""``PixelTrainConfig.teacher``'s reserved value (``train-pixels --teacher lqr``): the LQR on the
nominal linearised cart-pole, not a file (a planner file named ``lqr``: give it as ``./lqr``)."""


@dataclass(frozen=True)
class PixelTrainConfig:
    """Settings of a pixel run (see module). ``ValueError`` for a bad value, naming it."""

    task: str = "cartpole_swingup"
    start: str = "balance"
    env_steps: int = 20_000
    seed_episodes: int = 5
    updates_per_episode: int = 50
    batch: int = 16
    length: int = 16
    lr: float = 2e-3
    grad_clip: float = 100.0
    action_repeat: int = 4
    """Env steps each planned action is held (PlaNet's action repeat): the model and the
    planner tick at ``control_rate / action_repeat``; ``env_steps`` counts env steps."""
    explore_std: float = 0.3
    """Exploration noise std, normalized action units (the range is [-1, 1]); the first
    ``seed_episodes`` are this noise alone (uniform random forces throw the cart out of view)."""
    teacher: str = ""
    """A state planner ONNX file (``mbrl-control pretrain``'s ``planner.onnx``), or
    :data:`LQR_TEACHER` (``"lqr"``: :class:`~mbrl_control.latent.oracle_teacher.LqrTeacher` on
    the URDF's nominal cart-pole, designed for the hold, no episode's draw), that drives the
    first ``seed_episodes`` from the simulator's state, plus the exploration noise, its action
    held ``action_repeat`` steps like the pixel planner's: the store then holds the upright
    regime a balance controller lives in, where noise alone drops the pole in ~0.5 s. This is
    data from a behaviour policy, as a lab records the controller it already has; the pixel
    planner never reads the state (docs/pixels.md, "A teacher's episodes"). Empty: noise."""
    eval_every: int = 1_000
    eval_episodes: int = 5
    seed: int = 0
    model: WorldModelConfig = field(default_factory=lambda: SMALL_MODEL)
    planner: LatentPlannerConfig = field(default_factory=LatentPlannerConfig)
    value: ValueConfig | None = None
    """A terminal value head trained with the world model and planned with
    (:mod:`mbrl_control.latent.value`); None: off, and absent from ``settings.json``, so
    runs from before it read, resume and plan as they did."""

    def __post_init__(self) -> None:
        if self.start not in STARTS:
            raise ValueError(f"start={self.start!r}; allowed: {', '.join(STARTS)}")
        for name in ("env_steps", "seed_episodes", "updates_per_episode", "batch", "length",
                     "eval_every", "eval_episodes", "action_repeat"):  # fmt: skip
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}={value!r}; allowed: an integer >= 1")
        if self.teacher == LQR_TEACHER and self.start != "balance":
            raise ValueError(
                f"teacher={LQR_TEACHER!r} balances near upright: it needs start='balance' "
                f"(start={self.start!r} hangs the pole, which a linear controller cannot swing up)"
            )
        if self.length < 2:
            raise ValueError(f"length={self.length}; allowed: >= 2 (a reward is predicted from "
                             "the step after its action)")  # fmt: skip
        if self.seed < 0:
            raise ValueError(f"seed={self.seed}; allowed: >= 0")
        if not (self.lr > 0 and self.grad_clip > 0 and self.explore_std >= 0):
            raise ValueError("lr and grad_clip must be > 0, explore_std >= 0")

    def settings(self) -> dict[str, Any]:
        """JSON form, for ``settings.json`` (a task file or the teacher file by name and
        SHA-256, not path; the LQR teacher as ``{"kind": "lqr", "dynamics": "nominal",
        "weights": [...]}``)."""
        from mbrl_control.pipeline.run_identity import ref_identity

        data = {**asdict(self), "task": ref_identity(self.task)}
        if self.teacher == LQR_TEACHER:
            from mbrl_control.latent.oracle_teacher import WEIGHTS

            data["teacher"] = {"kind": LQR_TEACHER, "dynamics": "nominal",
                               "weights": list(WEIGHTS)}  # fmt: skip
        elif self.teacher:  # without one, a run's settings read as they did before teachers
            data["teacher"] = ref_identity(Path(self.teacher).resolve())
        else:
            del data["teacher"]
        if self.value is None:  # a run without a value head reads as before it existed
            del data["value"]
        return data

    @staticmethod
    def from_settings(data: dict[str, Any], task: str) -> PixelTrainConfig:
        """Inverse of :meth:`settings` (``task`` given again: the file's path)."""
        model = WorldModelConfig(**data["model"])
        planner = LatentPlannerConfig(**data["planner"])
        value = ValueConfig(**data["value"]) if data.get("value") else None
        rest = {k: v for k, v in data.items()
                if k not in ("model", "planner", "task", "teacher", "value")}  # fmt: skip
        teacher = data.get("teacher") or ""  # known by name only: enough to reload the model
        if isinstance(teacher, dict):
            teacher = LQR_TEACHER if teacher.get("kind") == LQR_TEACHER else teacher["file"]
        return PixelTrainConfig(task=task, model=model, planner=planner, teacher=teacher,
                                value=value, **rest)  # fmt: skip


def run_config(run: str | Path) -> PixelTrainConfig:
    """The settings of the ``train-pixels`` run folder ``run`` (its ``settings.json``).
    ``FileNotFoundError`` without one; ``ValueError`` for a run on a task file (the file is
    known by name and hash only: the tools that reload a run take built-in tasks)."""
    settings = json.loads((Path(run) / SETTINGS).read_text())
    task_ref = settings["task"]
    if isinstance(task_ref, dict):
        raise ValueError(f"{run}: trained on task file {task_ref['file']}; built-ins only")
    return PixelTrainConfig.from_settings(settings, task_ref)


def check_resume(cfg: PixelTrainConfig, out: str | Path) -> None:
    """``ValueError`` (one line) when ``out`` holds a run with other settings, except a larger
    or smaller ``env_steps`` (continuing a run for longer is what resuming is for): a setting
    given now and not then, or then and not now (a teacher left out of the rerun), is a
    change; a ``settings.json`` of another command is named as such; a ``teacher`` inside
    ``out`` is refused (the run writes its own ``planner.onnx`` there)."""
    file_teacher = cfg.teacher and cfg.teacher != LQR_TEACHER
    if file_teacher and Path(out).resolve() in Path(cfg.teacher).resolve().parents:
        raise ValueError(
            f"--teacher {cfg.teacher} is inside --out {out}, where the run writes its own "
            "planner.onnx and data: copy the teacher elsewhere or choose another --out"
        )
    path = Path(out) / SETTINGS
    if not path.exists():
        return
    before = _flat(json.loads(path.read_text()))
    if "model.deter" not in before:
        raise ValueError(f"{out}: holds another command's run ({SETTINGS} without a pixel run's "
                         "settings); choose another --out")  # fmt: skip
    now = _flat(json.loads(json.dumps(cfg.settings())))
    diff = [f"{k} {before.get(k)!r} -> {now.get(k)!r}" for k in {**before, **now}
            if k != "env_steps" and before.get(k) != now.get(k)]  # fmt: skip
    if diff:
        raise ValueError(
            f"{out}: holds a pixel run with other settings ({'; '.join(diff)}); rerun with its "
            "settings to resume it, or choose another --out"
        )


def _flat(settings: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested settings as ``{"model.foreground_weight": 20.0, ...}`` (a refusal names the
    one value that changed, not the whole section)."""
    out: dict[str, Any] = {}
    for key, value in settings.items():
        if isinstance(value, dict) and key != "task":
            out |= _flat(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out


# ---- checkpoint -----------------------------------------------------------------------------
def save_checkpoint(
    path: Path, model: WorldModel, opt: torch.optim.Optimizer, progress: dict
) -> None:
    """Model and optimizer state with ``progress`` (ints/floats), written atomically."""
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    torch.save({"model": model.state_dict(), "optim": opt.state_dict(), "progress": progress}, tmp)
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def load_checkpoint(path: Path, model: WorldModel, opt: torch.optim.Optimizer) -> dict:
    """Restore ``model`` and ``opt`` from ``path`` (``weights_only``); returns the progress."""
    state = torch.load(path, weights_only=True)
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optim"])
    return dict(state["progress"])


# ---- the run --------------------------------------------------------------------------------
class PixelRun:
    """One pixel run in folder ``out`` (see module); :meth:`run` does (or continues) it."""

    def __init__(self, cfg: PixelTrainConfig, out: str | Path, log: Callable[[str], None] = print):
        from mbrl_sim.pixel_env import make_pixel_env

        from mbrl_control.tasks import get_task

        self.cfg, self.out, self.log = cfg, Path(out), log
        self.task = get_task(cfg.task)
        camera = pixel_camera(self.task)
        if camera.size != 64:
            raise ValueError(f"task camera size {camera.size}; the world model reads 64 px frames")
        self.env = make_pixel_env(cfg.task, camera=camera, seed=cfg.seed)
        self.camera = self.env.unwrapped.camera.spec  # fitted
        self.scale = ActionScale(self.task.low.tolist(), self.task.high.tolist())
        torch.manual_seed(cfg.seed)
        self.model = WorldModel(self.task.act_dim, cfg.model, cfg.value)
        self.opt = torch.optim.Adam(self.model.parameters(), cfg.lr, eps=1e-5)
        self.data = self.out / "data"
        self.curve = LearningCurve(self.out)
        self.progress = {"episodes": 0, "env_steps": 0, "updates": 0, "wall_s": 0.0,
                         "next_eval": cfg.eval_every}  # fmt: skip
        self._losses: list[dict[str, float]] = []
        self._teacher: Any = None
        try:  # refuse before OUT is written: the LQR on another task (first: that is the
            if cfg.teacher == LQR_TEACHER:  # real problem), then a task a balance start
                self.teacher()  # cannot serve (a teacher file: train_pixels checks it)
            self.start_state(0)
        except Exception:
            self.env.close()
            raise

    def start_state(self, seed: int) -> tuple[np.ndarray, np.ndarray] | None:
        if self.cfg.start == "task":
            return None
        return upright_start(self.task, np.random.default_rng([self.cfg.seed, seed]))

    def run(self) -> dict[str, Any]:
        """Collect/train/evaluate until ``env_steps``; returns the final progress and the last
        curve row. Resumes from ``OUT/checkpoint.pt`` when there is one."""
        cfg, out = self.cfg, self.out
        out.mkdir(parents=True, exist_ok=True)
        (out / SETTINGS).write_text(json.dumps(cfg.settings(), indent=2))
        if (out / CHECKPOINT).exists():
            self.progress.update(load_checkpoint(out / CHECKPOINT, self.model, self.opt))
            self.log(f"[train-pixels] resumed at {self.progress['env_steps']} env steps")
        if self.progress["episodes"] == 0:  # step 0: the random policy, the untrained planner
            kinds = {row["policy"] for row in self.curve.rows()}  # each once, also after a stop
            if "random" not in kinds:
                self.evaluate(random_policy=True)
            if "planner" not in kinds:
                self.evaluate()
        began = time.perf_counter() - self.progress["wall_s"]
        while self.progress["env_steps"] < cfg.env_steps:
            k = self.progress["episodes"]
            steps = self.collect(k)
            self.progress["episodes"] += 1
            self.progress["env_steps"] += steps
            self.train(k)
            self.progress["wall_s"] = time.perf_counter() - began
            if self.progress["env_steps"] >= self.progress["next_eval"]:
                self.evaluate()
                self.progress["next_eval"] = self.progress["env_steps"] + cfg.eval_every
            save_checkpoint(out / CHECKPOINT, self.model, self.opt, self.progress)
        rows = self.curve.rows()
        if rows and int(rows[-1]["env_steps"]) < self.progress["env_steps"]:
            # the end is off the evaluation grid: RUN/planner.onnx is the final model's
            self.evaluate()  # (the grid itself, next_eval, is kept for a longer rerun)
            rows = self.curve.rows()
        return {**self.progress, "last": _typed(rows[-1]) if rows else None}

    def collect(self, k: int) -> int:
        """Episode ``k`` (seeded by it) into OUT/data: exploration noise alone for the first
        ``seed_episodes``, else the torch latent planner plus that noise. Returns its env
        steps. An episode ``k`` already in the store (a run stopped after storing it, before
        its checkpoint) is reused, not collected and stored a second time."""
        from mbrl_control.latent.agent import TorchPixelPlanner

        cfg, seed = self.cfg, cfg_seed(self.cfg, k)
        stored = self.stored_steps(seed)
        if stored is not None:
            self.log(f"[train-pixels] episode {k}: already stored by a stopped run; reused")
            return stored
        rng = np.random.default_rng([cfg.seed, k, 1])
        low, high = self.task.low, self.task.high
        noise = cfg.explore_std * (high - low) / 2  # (A,)
        reads = "frame"
        if k < cfg.seed_episodes and cfg.teacher:
            teacher = self.teacher()
            teacher.reset(seed=seed)

            def policy(state: np.ndarray) -> np.ndarray:
                return teacher.act(state) + noise * rng.standard_normal(len(low))

            kind, reads = "teacher", "state"
        elif k < cfg.seed_episodes:
            policy = lambda frame: (low + high) / 2 + noise * rng.standard_normal(len(low))  # noqa: E731
            kind = "noise"
        else:
            planner = TorchPixelPlanner(self.model.eval(), low.tolist(), high.tolist(),
                                        cfg.planner, seed=seed)  # fmt: skip

            def policy(frame: np.ndarray) -> np.ndarray:
                return planner.act(frame) + noise * rng.standard_normal(len(low))

            kind = "planner"
        with torch.no_grad():
            episode = run_pixel_episode(
                self.env, policy, seed, self.start_state(seed), cfg.action_repeat, reads
            )
        store_episode(
            episode,
            self.data,
            self.camera,
            {"policy": kind, "seed": seed, "action_repeat": cfg.action_repeat,
             "steps": episode.steps},
        )  # fmt: skip
        self.log(f"[train-pixels] episode {k} ({kind}): return {episode.total:.1f}")
        return episode.steps

    def teacher(self) -> Any:
        """The ``teacher`` state planner (opened once; one onnxruntime thread), or the
        :data:`LQR_TEACHER` (nominal dynamics, designed for ``action_repeat``). Raises
        ``FileNotFoundError``/``ValueError`` (one line) for a missing or broken file, a pixel
        planner, a planner of another task or observation, or the LQR on another task."""
        if self._teacher is None and self.cfg.teacher == LQR_TEACHER:
            from mbrl_control.latent.oracle_teacher import LqrTeacher

            try:
                self._teacher = LqrTeacher(self.env, self.cfg.action_repeat, dynamics="nominal")
            except ValueError as err:
                raise ValueError(f"--teacher {LQR_TEACHER}: {err}") from None
        if self._teacher is None:
            from mbrl_control.export.runtime import OnnxPlanner

            try:
                self._teacher = OnnxPlanner(self.cfg.teacher, expected_task=self.task, threads=1)
            except (FileNotFoundError, ValueError) as err:
                kind = type(err)
                raise kind(f"--teacher needs a state planner of this task: {err}") from None
        return self._teacher

    def stored_steps(self, seed: int) -> int | None:
        """Env steps of the stored episode collected with reset ``seed``, or None."""
        from mbrl_control.data.store import TransitionStore

        if not (self.data / "episodes").is_dir():
            return None
        for meta in TransitionStore(self.data).episode_metas():
            if meta.get("seed") == seed and isinstance(meta.get("steps"), int):
                return int(meta["steps"])
        return None

    def train(self, k: int) -> None:
        """``updates_per_episode`` Adam steps after episode ``k`` (seeded by it)."""
        from mbrl_control.data.image_store import SequenceLoader

        cfg = self.cfg
        loader = SequenceLoader(self.data, cfg.length, task=self.task)
        torch.manual_seed(cfg_seed(cfg, k))
        self._losses += train_steps(
            self.model, self.opt, loader, self.scale, np.random.default_rng([cfg.seed, k, 2]),
            cfg.updates_per_episode, cfg.batch, cfg.grad_clip,
        )  # fmt: skip
        self.progress["updates"] += cfg.updates_per_episode

    def evaluate(self, random_policy: bool = False) -> dict[str, Any]:
        """Export OUT/planner.onnx and score it with onnxruntime alone (or score the random
        policy) on ``eval_episodes`` fixed starts; append a curve row and return it."""
        from mbrl_control.latent.export import export_pixel_planner

        cfg, low, high = self.cfg, self.task.low, self.task.high
        if random_policy:
            rng = np.random.default_rng([cfg.seed, 3])
            policy = lambda frame: rng.uniform(low, high).astype(np.float32)  # noqa: E731
            score = score_policy(self.env, policy, cfg.eval_episodes, self.start_state,
                                 cfg.action_repeat)  # fmt: skip
        else:
            path = export_pixel_planner(self.model, low.tolist(), high.tolist(), cfg.planner,
                                        self.out / "planner.onnx", self.metadata())  # fmt: skip
            score = score_planner_file(path, self.env, cfg.eval_episodes, self.start_state,
                                       cfg.action_repeat)  # fmt: skip
        losses = self._losses
        self._losses = []
        mean = (
            {k: float(np.mean([m[k] for m in losses])) for k in ("loss", "image", "reward", "kl")}
            if losses
            else {}
        )
        row = {
            **{k: self.progress[k] for k in ("env_steps", "episodes", "updates")},
            "policy": "random" if random_policy else "planner",
            **{k: score[k] for k in ("mean_return", "std_return", "success_rate")},
            "eval_episodes": cfg.eval_episodes,
            **{k: score.get(k) for k in ("act_ms_p50", "act_ms_p99")},
            "train_loss": mean.get("loss"),
            "image_loss": mean.get("image"),
            "reward_loss": mean.get("reward"),
            "kl": mean.get("kl"),
            "wall_s": self.progress["wall_s"],
        }
        self.curve.append(row)
        if not random_policy and self.progress["episodes"]:
            self.write_imagination()
        self.log(f"[train-pixels] eval at {row['env_steps']} env steps ({row['policy']}): "
                 f"return {row['mean_return']:.1f}, success {row['success_rate']:.0%}")  # fmt: skip
        return row

    def write_imagination(self) -> None:
        """OUT/imagination.gif: 3 stored sequences (fixed draw) of 25 steps, the model
        filtering the first 5 and imagining 20; skipped (logged) without an episode that long."""
        from mbrl_control.data.image_store import SequenceLoader
        from mbrl_control.latent.imagination import imagination_gif

        try:
            loader = SequenceLoader(self.data, 25)
        except ValueError as err:
            self.log(f"[train-pixels] no imagination.gif: {err}")
            return
        b = loader.sample(np.random.default_rng([self.cfg.seed, 4]), 3)
        actions = self.scale.normalize(torch.from_numpy(b.action)).numpy()
        imagination_gif(self.model.eval(), b.images, actions, 5, self.out / "imagination.gif")

    def metadata(self) -> dict[str, Any]:
        """The planner file's provenance: task, start, camera, counters."""
        return {
            "task": self.task.name,
            "start": self.cfg.start,
            "action_repeat": self.cfg.action_repeat,
            "camera": asdict(self.camera),
            "model_config": asdict(self.cfg.model),
            "trained": {k: self.progress[k] for k in ("env_steps", "episodes", "updates")},
        }

    def close(self) -> None:
        self.env.close()


def score_policy(
    env: Any,
    policy: Callable[[np.ndarray], np.ndarray],
    episodes: int,
    start_state: Callable[[int], Any],
    action_repeat: int,
    on_reset: Callable[[int], None] | None = None,
    reads: str = "frame",
) -> dict[str, Any]:
    """``episodes`` episodes of the frame ``policy`` in the pixel ``env`` on the fixed
    evaluation starts (episode i: seed ``EVAL_SEED + i``, ``start_state(seed)``; ``on_reset(i)``
    before each; ``reads="state"``: a policy of the simulator's state, as
    :func:`~mbrl_control.latent.episodes.run_pixel_episode`): ``returns`` and ``successes``
    (lists), ``mean_return``, ``std_return``, ``success_rate`` and ``success_ci`` (its 95 %
    Wilson score interval, scipy's ``binomtest``: 20/20 balanced is [0.84, 1])."""
    from scipy.stats import binomtest

    returns: list[float] = []
    successes: list[bool] = []
    for i in range(episodes):
        seed = EVAL_SEED + i
        if on_reset is not None:
            on_reset(i)
        episode = run_pixel_episode(env, policy, seed, start_state(seed), action_repeat, reads)
        returns.append(episode.total)
        successes.append(bool(episode.success))
    interval = binomtest(sum(successes), len(successes)).proportion_ci(method="wilson")
    return {
        "returns": returns,
        "successes": successes,
        "mean_return": float(np.mean(returns)),
        "std_return": float(np.std(returns)),
        "success_rate": float(np.mean(successes)),
        "success_ci": [round(float(x), 3) for x in interval],
    }


def score_planner_file(
    path: str | Path,
    env: Any,
    episodes: int,
    start_state: Callable[[int], Any],
    action_repeat: int,
    threads: int = 1,
) -> dict[str, Any]:
    """:func:`score_policy` of the exported pixel planner ``path`` run by onnxruntime alone
    (``threads`` intra-op threads; its noise stream restarted with seed i per episode), plus
    its ``act()`` latency ``act_ms_p50``/``act_ms_p99`` (ms, wall, encoder + filter + CEM)."""
    from mbrl_control.latent.runtime import OnnxPixelPlanner

    planner = OnnxPixelPlanner(path, threads=threads)
    latencies: list[float] = []

    def policy(frame: np.ndarray) -> np.ndarray:
        t0 = time.perf_counter()
        action = planner.act(frame)
        latencies.append(time.perf_counter() - t0)
        return action

    score = score_policy(env, policy, episodes, start_state, action_repeat,
                         on_reset=lambda i: planner.reset(seed=i))  # fmt: skip
    ms = np.asarray(latencies) * 1e3
    return {**score, "act_ms_p50": float(np.percentile(ms, 50)),
            "act_ms_p99": float(np.percentile(ms, 99))}  # fmt: skip


def train_steps(
    model: WorldModel,
    opt: torch.optim.Optimizer,
    loader: Any,
    scale: ActionScale,
    rng: np.random.Generator,
    updates: int,
    batch: int,
    grad_clip: float,
) -> list[dict[str, float]]:
    """``updates`` Adam steps of ``model`` on ``batch`` random sequences each from ``loader``
    (a :class:`~mbrl_control.data.image_store.SequenceLoader` with a task: rewards), the
    background for the foreground weighting drawn once from the same store; returns each
    step's loss terms. Leaves the model in eval mode."""
    background = torch.from_numpy(loader.median_frame(rng))  # (3, S, S) uint8
    model.train()
    metrics = []
    for _ in range(updates):
        b = loader.sample(rng, batch)
        loss, terms = model.loss(
            torch.from_numpy(b.images), scale.normalize(torch.from_numpy(b.action)),
            torch.from_numpy(b.reward), background=background,
        )  # fmt: skip
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        opt.step()
        if model.value is not None:
            model.value.update_target()
        metrics.append(terms)
    model.eval()
    return metrics


def pixel_camera(task: Any) -> CameraSpec:
    """The task's ``camera`` section, with :data:`BALANCE_CAMERA`'s target, distance and
    pitch when the section leaves target or distance to the fit."""
    spec = getattr(task, "camera", None) or CameraSpec()
    if not spec.fitted:
        return spec
    b = BALANCE_CAMERA
    return dataclasses.replace(spec, target=b.target, distance=b.distance, pitch=b.pitch)


def cfg_seed(cfg: PixelTrainConfig, k: int) -> int:
    """Episode ``k``'s reset seed (distinct from the evaluation seeds)."""
    return cfg.seed * 100_003 + k


def _typed(row: dict[str, str]) -> dict[str, Any]:
    """A learning-curve row (CSV strings) with its numbers as numbers (the JSON summary)."""

    def value(text: str) -> Any:
        try:
            number = float(text)
        except ValueError:
            return text if text else None
        return int(number) if number.is_integer() and "." not in text else number

    return {k: value(v) for k, v in row.items()}


def train_pixels(
    cfg: PixelTrainConfig, out: str | Path, log: Callable[[str], None] = print
) -> dict:
    """Run (or resume) the pixel run of ``cfg`` in ``out``; see :class:`PixelRun`. Raises
    ``ValueError`` when ``out`` holds a run with other settings (:func:`check_resume`)."""
    check_resume(cfg, out)
    run = PixelRun(cfg, out, log)
    try:
        if cfg.teacher:
            run.teacher()  # a bad teacher file is refused before OUT is written
        return run.run()
    finally:
        run.close()
