"""Plot of an ensemble validation report (``mbrl_control.models.evaluation.validate``).

Five panels: one-step normalized MSE per observation dim (hold-out vs OOD), calibration of
the 1σ / 2σ intervals against their nominal coverage, the k-step open-loop error curve,
ensemble disagreement in-distribution vs OOD, and (with an ``uncertainty`` section) the
coverage of the 50/90/95 % intervals per horizon k, raw vs calibrated. matplotlib is
imported inside the function.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plot_model_report(report: dict[str, Any], path: str | Path) -> Path:
    """Render ``report`` to a PNG at ``path`` and return the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    hold, ood = report["holdout"], report.get("ood")
    names = report["obs_names"]
    unc = report.get("uncertainty")
    fig, axes = plt.subplots(2, 3 if unc else 2, figsize=(16 if unc else 11, 8))
    x = np.arange(len(names))

    # one-step accuracy per dim
    ax = axes[0, 0]
    width = 0.4 if ood else 0.8
    ax.bar(x - (width / 2 if ood else 0), hold["nmse_per_dim"], width, label="hold-out")
    if ood:
        ax.bar(x + width / 2, ood["nmse_per_dim"], width, label="OOD")
    ax.set_xticks(x, names, rotation=30)
    ax.set_yscale("log")
    ax.set_ylabel("MSE / var(true change)")
    ax.set_title("one-step error per obs dim (1.0 = predict mean change)")
    ax.legend()

    # calibration
    ax = axes[0, 1]
    cal = hold["calibration"]
    groups = [("hold-out", cal)] + ([("OOD", ood["calibration"])] if ood else [])
    for j, (label, c) in enumerate(groups):
        ax.bar(np.arange(2) + 0.3 * j, [c["within_1sigma"], c["within_2sigma"]], 0.3, label=label)
    ax.scatter(
        np.arange(2) + 0.15 * (len(groups) - 1),
        [cal["nominal_1sigma"], cal["nominal_2sigma"]],
        color="k",
        marker="_",
        s=600,
        label="nominal",
        zorder=3,
    )
    ax.set_xticks(np.arange(2) + 0.15 * (len(groups) - 1), ["within 1σ", "within 2σ"])
    ax.set_ylim(0, 1.05)
    ax.set_title(f"calibration (hold-out NLL {hold['nll']:.2f} nats/dim)")
    ax.legend(loc="lower right")

    # compounding error
    ax = axes[1, 0]
    roll = report["rollout"]
    if roll["k"]:
        ax.plot(roll["k"], roll["nmse"], "o-", label="error of the ensemble mean")
        ax.plot(roll["k"], roll["spread_nmse"], "s--", label="members' spread")
        ax.set_yscale("log")
        ax.legend()
    ax.set_xlabel("open-loop steps k")
    ax.set_ylabel("MSE / var(obs), mean over dims")
    ax.set_title(f"k-step rollout error ({roll['segments']} segments, ensemble mean)")

    # disagreement
    ax = axes[1, 1]
    dis = report["disagreement"]
    stats = ["mean", "median", "p90"]
    sets = [("in-distribution", dis["in_distribution"])] + (
        [("OOD", dis["ood"])] if dis["ood"] else []
    )
    for j, (label, d) in enumerate(sets):
        ax.bar(np.arange(3) + 0.4 * j, [d[s] for s in stats], 0.4, label=label)
    ax.set_xticks(np.arange(3) + 0.2 * (len(sets) - 1), stats)
    ax.set_yscale("log")
    ratio = dis["ratio_ood_to_in"]
    ax.set_title(
        "epistemic disagreement (member std / delta std)"
        + (f" (OOD/in = {ratio:.1f}x)" if ratio else "")
    )
    ax.legend()

    if unc:  # k-step interval coverage, raw vs calibrated
        ax = axes[0, 2]
        for level, color in zip(unc["levels"], ("C0", "C1", "C2")):
            key = str(level)
            ax.plot(unc["k"], unc["raw"]["coverage"][key], "o--", color=color, label=f"{key} raw")
            if unc["calibrated"]:
                cov = unc["calibrated"]["coverage"][key]
                ax.plot(unc["k"], cov, "s-", color=color, label=f"{key} calibrated")
            ax.axhline(level, color=color, lw=0.6)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("horizon k")
        ax.set_title(f"interval coverage vs nominal ({unc['segments']} segments)")
        ax.legend(fontsize=7)
        axes[1, 2].axis("off")

    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
