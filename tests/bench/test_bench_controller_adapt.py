"""``bench controller --with-adapt`` (issue 16): the controller's timing before, during and
after an adapt job started as finetune_node starts it (niced), as JSON ratios. Structure only:
no timing is asserted."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.ros, pytest.mark.slow]


def test_windows_before_during_after_the_job(ros_env: dict[str, str]) -> None:
    argv = [sys.executable, "-m", "mbrl_control.cli", "bench", "controller", "--with-adapt",
            "--seconds", "1", "--evaluations", "400", "--domain", ros_env["ROS_DOMAIN_ID"],
            "--json"]  # fmt: skip
    out = subprocess.run(argv, env=ros_env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout)
    assert result["job"] == "adapt" and result["job_nice"] == 10
    windows = result["windows"]
    assert set(windows) == {"before", "during", "after"}
    for w in windows.values():
        assert w["window_s"] >= 12.0  # at least the controller's 500-tick statistics window
        assert w["ticks"] > 0 and w["command_rate_hz"] > 0
    assert windows["during"]["job_alive_fraction"] > 0.5  # the job ran through the window
    ratios = result["p99_ratio_during_vs_quiet"]
    assert ratios["planning_ms"] > 0 and ratios["command_interval_ms"] > 0
