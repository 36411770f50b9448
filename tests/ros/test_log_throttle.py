"""LogThrottle: once per period per reason (numbers left out), suppressed lines counted."""

from __future__ import annotations

from mbrl_control.ros.log_throttle import LogThrottle, reason_key


def test_reason_key_drops_numbers_not_names():
    a = "joint 'panda_joint4' position -2.004 outside its physical range [-2, 2e+00]"
    b = "joint 'panda_joint4' position -3.1 outside its physical range [-2, 2e+00]"
    assert (
        reason_key(a)
        == reason_key(b)
        == ("joint 'panda_joint4' position # outside its physical range [#, #]")
    )
    assert reason_key("velocity nan, -inf") == "velocity #, #"
    assert reason_key(a) != reason_key(a.replace("joint4", "joint5"))


def test_once_a_period_per_reason_with_the_suppressed_count():
    now = [0.0]
    throttle = LogThrottle(1.0, clock=lambda: now[0])
    logged = []
    for k in range(300):  # 3 s at 100 Hz, two reasons interleaved
        now[0] = k * 0.01
        msg = f"joint 'elbow' position {2.0 + k * 1e-4:.4f} outside" if k % 2 else "stale 'x'"
        line = throttle(msg)
        if line is not None:
            logged.append(line)
    elbow = [ln for ln in logged if "elbow" in ln]
    stale = [ln for ln in logged if "stale" in ln]
    assert len(elbow) == len(stale) == 3
    assert "more like this" not in elbow[0]
    assert elbow[1].endswith("(49 more like this suppressed in the last 1.0 s)")
