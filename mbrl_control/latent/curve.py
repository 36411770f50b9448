"""The pixel run's learning curve: one CSV row per evaluation, and its PNG redrawn each time.

``OUT/learning_curve.csv`` (append-only; a resumed run continues it) has the columns of
:data:`COLUMNS`; ``OUT/learning_curve.png`` plots the evaluation return and success rate
against environment steps, with the random policy's return (the row at step 0) as a line.

Several runs side by side: ``python -m mbrl_control.latent.curve RUN... --out PNG
[--label NAME ...]`` (:func:`compare_runs`): each run's evaluation return against environment
steps, the success rate marked where it is above 0, the first run's random policy as a line.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mbrl_control.cli import ArgumentParser

COLUMNS = (
    "env_steps",  # environment steps collected so far (training data)
    "episodes",  # episodes collected so far
    "updates",  # world-model gradient steps so far
    "policy",  # 'random' or 'planner'
    "mean_return",  # over the evaluation episodes
    "std_return",
    "success_rate",  # the task's episode success rule, 0..1
    "eval_episodes",
    "act_ms_p50",  # the planner's act() latency, ms (onnxruntime, one thread); empty: random
    "act_ms_p99",
    "train_loss",  # mean world-model loss over the updates since the previous row
    "image_loss",
    "reward_loss",
    "kl",
    "wall_s",  # seconds of this run (and its earlier sessions) so far
)


class LearningCurve:
    """``learning_curve.csv`` and ``.png`` in ``folder`` (see module)."""

    def __init__(self, folder: str | Path) -> None:
        self.csv = Path(folder) / "learning_curve.csv"
        self.png = Path(folder) / "learning_curve.png"

    def rows(self) -> list[dict[str, str]]:
        """The rows so far (strings, as in the file); [] without a file."""
        if not self.csv.exists():
            return []
        with self.csv.open(newline="") as fh:
            return list(csv.DictReader(fh))

    def append(self, row: Mapping[str, Any]) -> None:
        """Add one row (keys from :data:`COLUMNS`; missing ones left empty; ``ValueError`` for
        an unknown key), flushed and fsynced, then redraw the PNG."""
        unknown = sorted(set(row) - set(COLUMNS))
        if unknown:
            raise ValueError(f"learning curve: unknown columns {unknown}; allowed: {COLUMNS}")
        new = not self.csv.exists()
        self.csv.parent.mkdir(parents=True, exist_ok=True)
        with self.csv.open("a", newline="") as fh:
            writer = csv.DictWriter(fh, COLUMNS)
            if new:
                writer.writeheader()
            writer.writerow({k: _cell(row.get(k)) for k in COLUMNS})
            fh.flush()
            os.fsync(fh.fileno())
        self.plot()

    def plot(self) -> Path:
        """Draw ``learning_curve.png`` from the CSV (written atomically); returns its path."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        rows = self.rows()
        planner = [r for r in rows if r["policy"] == "planner"]
        random = [float(r["mean_return"]) for r in rows if r["policy"] == "random"]
        fig, ax = plt.subplots(figsize=(6, 3.6), dpi=100)
        steps = [int(r["env_steps"]) for r in planner]
        ret = [float(r["mean_return"]) for r in planner]
        std = [float(r["std_return"] or 0) for r in planner]
        ax.errorbar(steps, ret, yerr=std, marker="o", capsize=3, label="latent planner")
        if random:
            ax.axhline(random[-1], color="grey", ls="--", label="random policy")
        ax.set_xlabel("environment steps")
        ax.set_ylabel("evaluation return")
        ax2 = ax.twinx()
        ax2.plot(steps, [float(r["success_rate"]) for r in planner], "g:", marker="s", ms=3)
        ax2.set_ylabel("success rate", color="g")
        ax2.set_ylim(-0.05, 1.05)
        ax.legend(loc="lower right", fontsize=8)
        ax.set_title("control from pixels: learning curve", fontsize=10)
        fig.tight_layout()
        tmp = self.png.with_name(f".tmp-{os.getpid()}-{self.png.name}")
        fig.savefig(tmp, format="png")
        plt.close(fig)
        os.replace(tmp, self.png)
        return self.png


def compare_runs(runs: list[Path], labels: list[str], out: Path) -> Path:
    """One PNG of several runs' learning curves (see module); ``ValueError`` for a folder
    without ``learning_curve.csv``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    random = None
    for run, label in zip(runs, labels, strict=True):
        rows = LearningCurve(run).rows()
        if not rows:
            raise ValueError(f"{run}: no learning_curve.csv (not a train-pixels run folder)")
        planner = [r for r in rows if r["policy"] == "planner"]
        random = random or next((r for r in rows if r["policy"] == "random"), None)
        steps = [int(r["env_steps"]) for r in planner]
        line = ax.plot(steps, [float(r["mean_return"]) for r in planner], marker="o", ms=3,
                       label=label)[0]  # fmt: skip
        hits = [(s, float(r["mean_return"])) for s, r in zip(steps, planner, strict=True)
                if float(r["success_rate"]) > 0]  # fmt: skip
        if hits:
            ax.scatter(*zip(*hits, strict=True), s=80, facecolors="none",
                       edgecolors=line.get_color())  # fmt: skip
    if random is not None:
        ax.axhline(float(random["mean_return"]), color="grey", ls="--", label="random policy")
    ax.set_xlabel("environment steps")
    ax.set_ylabel("evaluation return (5 episodes)")
    ax.set_title("control from pixels: runs compared (circles: some episodes balanced)",
                 fontsize=10)  # fmt: skip
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png")
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> int:

    parser = ArgumentParser(
        prog="python -m mbrl_control.latent.curve", description="Plot pixel runs' curves."
    )
    parser.add_argument("runs", nargs="+", type=Path, help="train-pixels output folders")
    parser.add_argument("--out", type=Path, required=True, help="PNG to write")
    parser.add_argument("--label", action="append", default=[], help="one per run, in order")
    args = parser.parse_args(argv)
    labels = args.label or [run.name for run in args.runs]
    if len(labels) != len(args.runs):
        parser.error(f"{len(labels)} --label for {len(args.runs)} runs")
    try:
        print(compare_runs(args.runs, labels, args.out))
    except ValueError as err:
        parser.error(str(err))
    return 0


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


if __name__ == "__main__":
    raise SystemExit(main())
