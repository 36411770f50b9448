"""Plot of an MBPO training history (``mbrl_control.pipeline.train_value`` report).

Four panels over epochs: the imagined return per branch next to the returns of the real
episodes finished that epoch; the critics' TD loss; the branch length (scheduled k and the
mean kept after disagreement stops); the real share of the SAC batches with the model's
hold-out error. matplotlib is imported inside the function.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plot_mbpo_report(report: dict[str, Any], path: str | Path) -> Path:
    """Render ``report["history"]`` to a PNG at ``path`` and return the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hist = report["history"]
    epochs = [h["epoch"] for h in hist]
    fig, axes = plt.subplots(2, 2, figsize=(11, 7), sharex=True)

    ax = axes[0, 0]
    ax.plot(epochs, [h["imagined_return"] for h in hist], label="imagined, per branch")
    ax.set_ylabel("imagined return (per branch)")
    real = [(h["epoch"], r) for h in hist for r in h["real_returns"]]
    if real:
        twin = ax.twinx()
        twin.plot(*zip(*real), "o", color="C1", ms=3, label="real episodes")
        twin.set_ylabel("real episode return", color="C1")
    ev = report.get("policy_eval")
    title = "returns" + (f" (final policy alone: {ev['mean_return']:.1f})" if ev else "")
    ax.set_title(title)

    ax = axes[0, 1]
    ax.plot(epochs, [h["critic_loss"] for h in hist])
    ax.set_yscale("log")
    ax.set_title("critic TD loss (sum over the twin critics)")

    ax = axes[1, 0]
    ax.plot(epochs, [h["rollout_length"] for h in hist], label="scheduled k")
    ax.plot(epochs, [h["mean_branch_length"] for h in hist], label="mean kept")
    ax.set_xlabel("epoch")
    ax.set_title("branch length (steps)")
    ax.legend()

    ax = axes[1, 1]
    ax.plot(epochs, [h["real_ratio"] for h in hist], label="real share of a batch")
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("epoch")
    twin = ax.twinx()
    twin.plot(epochs, [h["model_error"] for h in hist], color="C1")
    twin.set_yscale("log")
    twin.set_ylabel("model hold-out error", color="C1")
    ax.set_title(f"real / imagined mix ({report.get('real_steps', 0)} new real steps)")
    ax.legend(loc="lower left")

    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)
