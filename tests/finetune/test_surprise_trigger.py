"""Issue 17: the rule by which finetune_node retrains early on the controller's windowed
surprise, and which segments it stores under record_when: surprised (pure logic, explicit
times: no clock, no ROS)."""

from __future__ import annotations

import pytest

from mbrl_control.finetune.surprise_trigger import (
    NO_STATUS,
    NOT_SURPRISED,
    Reading,
    SurpriseTrigger,
    reading_of,
)


def feed(trig: SurpriseTrigger, surprise: float | None, t0: float, t1: float, dt=1.0, level="OK"):
    """Statuses every ``dt`` s from ``t0`` up to and including ``t1``."""
    t = t0
    while t <= t1 + 1e-9:
        trig.observe(Reading(surprise, level, t))
        t += dt


def test_reading_of_parses_the_controller_values() -> None:
    r = reading_of(
        {"surprise": "2.5", "uncertainty_level": "WARN", "surprise_transitions": "25"}, 7
    )
    assert (r.surprise, r.level, r.at) == (2.5, "WARN", 7.0)
    assert reading_of({"surprise": "", "uncertainty_level": "OK"}, 0).surprise is None
    assert reading_of({"surprise": "nan"}, 0).surprise is None
    assert reading_of({"surprise": "garbage"}, 0).surprise is None
    assert reading_of({}, 0).level == ""


def test_armed_only_after_the_surprise_held_for_hold_s() -> None:
    trig = SurpriseTrigger(threshold=2.0, hold_s=3.0, min_transitions=200)
    feed(trig, 5.0, 10.0, 12.0)  # above at 10, 11, 12
    assert trig.held_s(12.0) == pytest.approx(2.0)
    assert not trig.armed(12.0) and not trig.armed(12.9)
    assert trig.armed(13.0) and trig.held_s(13.0) == pytest.approx(3.0)
    # exactly at the threshold counts as above (>=)
    at = SurpriseTrigger(threshold=2.0, hold_s=0.0)
    at.observe(Reading(2.0, "OK", 0.0))
    assert at.armed(0.0)


def test_one_low_reading_restarts_the_hold() -> None:
    trig = SurpriseTrigger(threshold=2.0, hold_s=3.0)
    feed(trig, 5.0, 0.0, 2.0)
    trig.observe(Reading(1.9, "OK", 3.0))  # below: the run ends
    assert trig.held_s(3.0) == 0.0 and not trig.armed(3.5)
    feed(trig, 5.0, 4.0, 6.0)
    assert not trig.armed(6.5)  # 2.5 s since the new run began at 4
    assert trig.armed(7.0)
    trig.observe(Reading(None, "OK", 7.5))  # window emptied (e.g. a model swap): not above
    assert not trig.armed(7.5) and trig.held_s(8.0) == 0.0


def test_a_stale_status_is_not_surprised_and_breaks_the_run() -> None:
    trig = SurpriseTrigger(threshold=2.0, hold_s=1.0, stale_after=2.0)
    assert trig.source(0.0) == "none" and not trig.armed(100.0)
    feed(trig, 5.0, 0.0, 3.0)
    assert trig.armed(3.0) and trig.source(5.0) == "live"  # 2.0 s old: still live
    assert trig.source(5.01) == "stale" and not trig.armed(5.01) and trig.held_s(5.01) == 0.0
    assert not trig.due(5.01, since_train=10**6)
    # the controller comes back above: the run starts afresh at its first new status
    trig.observe(Reading(5.0, "ERROR", 10.0))
    assert trig.source(10.0) == "live" and not trig.armed(10.5)
    assert trig.armed(11.0)
    assert trig.age(11.0) == pytest.approx(1.0)


def test_due_needs_min_transitions_and_the_feature_on() -> None:
    trig = SurpriseTrigger(threshold=2.0, hold_s=1.0, min_transitions=200)
    feed(trig, 5.0, 0.0, 2.0)
    assert trig.armed(2.0)
    assert not trig.due(2.0, since_train=199) and trig.due(2.0, since_train=200)
    assert not trig.due(2.0, since_train=300, min_transitions=400)  # backed off after failures
    off = SurpriseTrigger(threshold=0.0, hold_s=0.0, min_transitions=10)
    feed(off, 1e6, 0.0, 5.0, level="ERROR")
    assert not off.armed(5.0) and not off.due(5.0, since_train=10**9) and off.held_s(5.0) == 0.0
    # a new threshold restarts the run; turning it on again needs a full hold
    trig.configure(3.0, 1.0, 200)
    trig.observe(Reading(5.0, "OK", 2.5))
    assert not trig.armed(3.0) and trig.armed(3.5)


def test_segment_verdicts_under_record_when_surprised() -> None:
    trig = SurpriseTrigger(threshold=0.0, stale_after=2.0)  # retrain on surprise off
    assert trig.segment_verdict(0.5) == NO_STATUS  # no status ever
    trig.observe(Reading(0.5, "OK", 1.0))
    assert trig.segment_verdict(1.5) == NOT_SURPRISED
    trig.observe(Reading(0.6, "WARN", 2.0))  # the controller's own level
    trig.observe(Reading(0.4, "OK", 2.5))
    assert trig.segment_verdict(3.0) == ""  # WARN at some time during the segment
    assert trig.segment_verdict(3.2) == NOT_SURPRISED  # the OK reading carried in
    # a short segment between two statuses inherits the latest live one
    trig.observe(Reading(4.0, "ERROR", 4.0))
    assert trig.segment_verdict(4.1) == ""
    assert trig.segment_verdict(4.3) == ""  # no new status, the ERROR is still the latest
    assert trig.segment_verdict(7.0) == ""  # it went stale during this segment: was live
    assert trig.segment_verdict(7.5) == NO_STATUS
    # with retrain_on_surprise on, surprise >= it counts even at level OK
    on = SurpriseTrigger(threshold=1.5)
    on.observe(Reading(1.5, "OK", 0.0))
    assert on.segment_verdict(0.1) == ""
    on.observe(Reading(1.4, "OK", 0.2))
    assert on.segment_verdict(0.3) == ""  # the 1.5 reading was the latest early in it
    assert on.segment_verdict(0.4) == NOT_SURPRISED
