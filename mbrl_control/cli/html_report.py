"""``mbrl-control report RUN``: one self-contained HTML page for a run folder.

What was run (the run's kind, its planner files' metadata), its tables (Markdown and JSON
results, pretraining rounds), its plots and GIFs (embedded), and its training metrics
(``metrics.csv`` plotted). Works on the folders pretrain, experiment, ablation, adapt,
train-value and demo write; the page needs no network and no file beside it.
"""

# Not named cli/report.py: importing a submodule sets it as an attribute of its package, and
# mbrl_control.cli already has a `report` (the error handler from cli/errors.py).
from __future__ import annotations

import argparse

from mbrl_control.cli.checks import existing_dir, out_file


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", type=existing_dir, metavar="RUN", help="run folder")
    parser.add_argument(
        "--out", type=out_file, help="HTML file to write (default: RUN/report.html)"
    )


def run(args: argparse.Namespace) -> int:
    from mbrl_control.recording.report import write_report

    path = write_report(args.run, args.out)
    print(f"report: {path}")
    return 0
