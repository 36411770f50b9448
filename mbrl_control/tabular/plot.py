"""Plot of the Dyna-Q study (:func:`mbrl_control.tabular.study.run_study`'s result).

Left: steps per episode vs episode, one curve per run, seed mean (Sutton & Barto, Fig. 8.2:
from episode 2, the first episode is the same random walk for every n). Right: the exact
value of the greedy policy after each episode over the optimal value (1 = optimal).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plot_study(result: dict[str, Any], path: str | Path) -> Path:
    """Write the two-panel PNG of ``result`` to ``path``; returns the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cfg = result["config"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for i, (label, run) in enumerate(result["runs"].items()):
        style = "--" if label.endswith("last") else "-"
        steps = run["steps_mean"]
        episodes = range(1, len(steps) + 1)
        left.plot(list(episodes)[1:], steps[1:], style, color=f"C{i % 3}", label=label)
        right.plot(list(episodes), run["value_ratio_mean"], style, color=f"C{i % 3}", label=label)
    if result.get("optimal_steps"):
        left.axhline(result["optimal_steps"], color="gray", lw=0.8, ls=":", label="optimal path")
    left.set_xlabel("episode")
    left.set_ylabel(f"steps per episode (mean of {cfg['seeds']} seeds)")
    left.set_title(f"Dyna-Q on {result['env']}: planning steps n per real step")
    right.set_xlabel("episode")
    right.set_ylabel("value of the greedy policy / optimal value")
    right.set_ylim(-0.02, 1.02)
    right.set_title("what the agent knows (exact evaluation)")
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
