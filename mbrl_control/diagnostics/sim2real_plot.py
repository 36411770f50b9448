"""Plot of the sim-to-real experiment: return on the real profile vs real-robot minutes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def plot_sim2real(rows: list[dict[str, Any]], path: str | Path) -> Path:
    """Finetuned returns as a curve from the zero-shot point; baselines as labelled lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curve = [r for r in rows if r["planner"].startswith(("finetuned", "pretrained on default"))]
    others = [r for r in rows if r not in curve]
    fig, ax = plt.subplots(figsize=(7, 4.2))
    x = [r["real_minutes"] for r in curve]
    y = np.array([r["mean_return"] for r in curve])
    err = np.array([r["std_return"] for r in curve])
    ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label="pretrained on default + finetuning")
    styles = ["--", ":", "-."]
    for i, r in enumerate(others):
        ax.axhline(r["mean_return"], ls=styles[i % 3], color=f"C{i + 1}", label=r["planner"])
    ax.set_xlabel("real-robot data (minutes at the control rate)")
    ax.set_ylabel("mean return on reality_gap (higher is better)")
    ax.set_title("cart-pole swing-up: closing the sim-to-real gap")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
