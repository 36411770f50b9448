"""The gate as a background job: why a ``mbrl-control finetune`` run failed, in plain words,
and when to try again (exponential back-off, capped). Standard library only, so a node can
import it without torch.
"""

from __future__ import annotations

import re
import signal
from pathlib import Path

_ERROR_LINE = re.compile(
    r"^(?:[\w.-]+(?: [\w.-]+)*: (?:internal )?error: "  # the CLI: "<prog>: error: "
    r"|[\w.]*(?:Error|Exception): )"  # the last line of a traceback
)
"""The prefix of a failure line that names the program or exception, not the reason."""


def failure_reason(returncode: int, log_text: str, log_path: str | Path) -> str:
    """Why a ``mbrl-control finetune`` run failed, in plain words, from its exit code and stderr.

    Takes the last non-empty stderr line (the CLI's one-line ``...: error: <why>``, or the last
    line of a traceback) without its program/exception prefix; says when the process was
    killed by a signal or said nothing. Never shows a parser message about the empty output.
    """
    lines = [ln.strip() for ln in log_text.splitlines() if ln.strip()]
    why = _ERROR_LINE.sub("", lines[-1]) if lines else ""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        head = f"retraining was killed by {name}"
    elif returncode == 0:
        head = "retraining ended without a gate result"
    else:
        head = f"retraining failed (exit code {returncode})"
    return f"{head}: {why} (log: {log_path})" if why else f"{head} (log: {log_path})"


def retrain_threshold(retrain_every: int, failures: int, cap: int) -> int:
    """New transitions to wait for before the next retrain after ``failures`` failed runs in a
    row: ``retrain_every × 2^failures``, at most ``retrain_every × cap`` (exponential, capped)."""
    return int(retrain_every) * min(2 ** min(int(failures), 30), max(1, int(cap)))
