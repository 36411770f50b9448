"""Plot of the sim-to-real experiment: return on the real profile vs real-robot minutes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def plot_sim2real(
    rows: list[dict[str, Any]], path: str | Path, rounds: list[dict[str, Any]] | None = None
) -> Path:
    """Finetuned returns as a curve from the zero-shot point; baselines as labelled lines.

    With ``rounds`` (pretraining's ``rounds.json``) a left panel shows the pretraining
    learning curve in randomized sim.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if rounds:
        fig, (left, ax) = plt.subplots(1, 2, figsize=(12, 4.2), width_ratios=(2, 3))
        plot_rounds(left, rounds)
    else:
        fig, ax = plt.subplots(figsize=(7, 4.2))
    curve = [r for r in rows if r["planner"].startswith(("finetuned", "pretrained on default"))]
    others = [r for r in rows if r not in curve]
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
    return _save(fig, path)


def plot_rounds(ax: Any, rounds: list[dict[str, Any]]) -> None:
    """Pretraining: each round's episode returns (dots) and mean (line) in randomized sim."""
    for r in rounds:
        ax.scatter([r["round"]] * len(r["returns"]), r["returns"], s=12, color="C0", alpha=0.4)
    ax.plot([r["round"] for r in rounds], [r["mean_return"] for r in rounds], "o-", color="C0")
    ax.set_xticks([r["round"] for r in rounds])
    ax.set_xticklabels(["random" if r["round"] == 0 else str(r["round"]) for r in rounds])
    ax.set_xlabel("pretraining round (planner-collected data)")
    ax.set_ylabel("episode return in sim (default DR)")
    ax.set_title("pretraining in randomized sim")
    ax.grid(alpha=0.3)


def plot_grid(summary: dict[str, Any], path: str | Path, title: str = "") -> Path:
    """The grid's return vs real minutes: one line and 95 % CI band per condition and for
    real-data-only; the oracles and the random policy as horizontal lines.

    ``summary``: :func:`mbrl_control.pipeline.sim2real_stats.aggregate`'s dict. A row without
    an interval (one seed, one episode) is drawn without a band.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mbrl_control.pipeline.sim2real_stats import LABELS

    fig, ax = plt.subplots(figsize=(8, 4.8))
    lines: dict[str, list[dict[str, Any]]] = {}
    for r in summary["rows"]:
        if r["kind"] in ("condition", "real_only"):
            lines.setdefault(r["arm"], []).append(r)
    for i, (arm, rows) in enumerate(lines.items()):
        rows = sorted(rows, key=lambda r: r["budget_min"])
        x = np.array([r["real_minutes"] for r in rows])
        y = np.array([r["mean_return"] for r in rows])
        lo = np.array([np.nan if r["ci_low"] is None else r["ci_low"] for r in rows], float)
        hi = np.array([np.nan if r["ci_high"] is None else r["ci_high"] for r in rows], float)
        color = "k" if arm == "real_only" else f"C{i}"
        style = "--" if arm == "real_only" else "-"
        ax.plot(x, y, style, marker="o", color=color, label=LABELS.get(arm, arm))
        ok = np.isfinite(lo) & np.isfinite(hi)
        if ok.any():
            ax.fill_between(x[ok], lo[ok], hi[ok], color=color, alpha=0.15, linewidth=0)
    refs = summary.get("references", {})
    styles = {"oracle_model": ("-.", "C6"), "oracle_sim": (":", "C7"), "random": (":", "C8")}
    for r in summary["rows"]:
        if r["kind"] in styles:
            style, color = styles[r["kind"]]
            best = " (R_oracle)" if refs.get("oracle") == r["kind"] else ""
            label = f"{LABELS.get(r['kind'], r['kind'])}{best}"
            ax.axhline(r["mean_return"], ls=style, color=color, label=label)
    ax.set_xlabel("real-robot data (minutes at the control rate; calibration data included)")
    ax.set_ylabel("return on the real profile, mean and 95% CI")
    ax.set_title(title or "sim-to-real: return vs real minutes")
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="lower right")
    return _save(fig, path)


def _save(fig: Any, path: str | Path) -> Path:
    """Lay out, write (PNG, 120 dpi) and close ``fig``."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
