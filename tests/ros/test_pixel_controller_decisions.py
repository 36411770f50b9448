"""pixel_controller's decisions follow the camera's frames (issue 21): a frame is planned on at
the first control tick after it arrives, while the decisions keep the planner's cadence (no
sooner than action_repeat - 1 ticks apart, action_repeat with a faster camera).

Counted in ticks, not timed: the core on a synthetic clock (the real ONNX planner, frames and
ticks at chosen times), and the node as a real process with frames published at a chosen
phase against its decisions, counting the commands between a frame and its decision's.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from test_controller_node import level_is
from test_pixel_controller import REPEAT, STATUS, ImagePublisher, _start, _values

from mbrl_control.control.pixel_config import PixelControllerConfig
from mbrl_control.control.pixel_core import PixelControllerCore


class Camera:
    """Drives a core on a synthetic clock: frames at given tick times (fractions of a tick)
    and one :meth:`PixelControllerCore.tick` per whole tick; records each decision's tick and
    how long its frame waited (ticks)."""

    def __init__(self, planner, frames: list[float], ticks: int) -> None:
        cfg = PixelControllerConfig(model_path=str(planner), seed=3, image_timeout=0.5)
        self.core = core = PixelControllerCore(cfg)
        assert core.reload(str(planner))[0]
        core.request_restart()
        period = core.period
        rng = np.random.default_rng(0)
        pending = sorted(frames)
        self.decisions: list[int] = []
        self.waits: list[float] = []
        self.safe = 0
        for t in range(1, ticks + 1):
            while pending and pending[0] < t:
                img = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
                core.set_image(lambda img=img: img, pending.pop(0) * period)
            plans = core.plans
            core.tick(t * period)
            self.safe += int(core.status.message.startswith("watchdog"))
            if core.plans > plans:
                self.decisions.append(t)
                self.waits.append(t - core._frame_time / period)

    def spacing(self, after: int = 0) -> np.ndarray:
        return np.diff([t for t in self.decisions if t > after])


def test_a_frame_is_decided_on_the_next_tick_and_the_cadence_stays(pixel_planner) -> None:
    # a camera in step (one frame every REPEAT ticks, 0.3 ticks before a tick), then a frame
    # 2 ticks late and the camera in step again at the new phase (the old fixed cadence kept
    # its decisions at the old phase: those frames waited 2.7 ticks each)
    frames = [r * REPEAT + 0.7 for r in range(10)] + [r * REPEAT + 2.7 for r in range(10, 25)]
    cam = Camera(pixel_planner, frames, ticks=100)
    assert cam.safe == 0
    assert max(cam.waits[1:]) < 1.0, cam.waits  # every frame decided at the next tick
    assert set(cam.spacing()) <= {REPEAT - 1, REPEAT, REPEAT + 2}, cam.spacing()
    assert list(cam.spacing(after=45)) == [REPEAT] * (len(cam.spacing(after=45))), cam.decisions
    assert cam.core.reused_frames == 0

    # jitter of +-0.4 tick around a phase near a tick: still the next tick, never sooner than
    # REPEAT - 1 ticks after the previous decision
    jitter = np.random.default_rng(1).uniform(-0.4, 0.4, 25)
    cam = Camera(pixel_planner, [r * REPEAT + 0.95 + j for r, j in enumerate(jitter)], ticks=100)
    assert max(cam.waits[1:]) < 1.0 and min(cam.spacing()) >= REPEAT - 1, cam.decisions


def test_a_faster_or_slower_camera_keeps_the_planners_cadence(pixel_planner) -> None:
    # a camera at the control rate: a decision every REPEAT ticks, not REPEAT - 1
    cam = Camera(pixel_planner, [t + 0.5 for t in range(100)], ticks=100)
    assert set(cam.spacing()) == {REPEAT}, cam.decisions
    # at twice the decision rate: the same
    cam = Camera(pixel_planner, [2 * t + 0.5 for t in range(50)], ticks=100)
    assert set(cam.spacing(after=10)) == {REPEAT}, cam.decisions
    # a frame missing: the action is held (not the safe action) for one more decision period,
    # and the next frame is decided on at once
    frames = [r * REPEAT + 0.7 for r in range(25) if r != 10]
    cam = Camera(pixel_planner, frames, ticks=100)
    assert cam.safe == 0 and max(cam.waits[1:]) < 1.0 and cam.core.reused_frames == 0
    assert 2 * REPEAT in set(cam.spacing()), cam.decisions
    # a camera slower than two decision periods: the newest frame is planned on again
    cam = Camera(pixel_planner, [r * 3 * REPEAT + 0.7 for r in range(9)], ticks=100)
    assert cam.safe == 0 and cam.core.reused_frames > 0
    assert min(cam.spacing()) >= REPEAT - 1


@pytest.mark.ros
def test_the_node_decides_on_the_tick_after_each_frame(spawn, ros_env, ros_probe,
                                                       pixel_planner) -> None:  # fmt: skip
    """Frames published 1.5 ticks after a decision (then every REPEAT ticks): each frame's
    decision is at most two commands after it is published (the next tick's, one more for
    transport on a loaded machine); a fixed cadence made each wait for the third."""
    from diagnostic_msgs.msg import DiagnosticArray
    from std_msgs.msg import Float64MultiArray

    commands: list[tuple[float, float]] = []  # (monotonic s when received, force)
    ros_probe.node.create_subscription(
        Float64MultiArray, "/commands", lambda m: commands.append((time.monotonic(), m.data[0])), 50
    )
    diags = ros_probe.collect(DiagnosticArray, "/diagnostics")
    images = ImagePublisher(ros_probe)
    proc = _start(spawn, ros_env, pixel_planner)
    ros_probe.wait_for(level_is(diags, 0, "planning", STATUS), 60, "planning from images")
    n = len(commands)
    ros_probe.wait_for(lambda: len(commands) > n + 10, 10, "commands")

    def changed_after(i: int) -> int | None:
        return next((j for j in range(max(i, 1), len(commands))
                     if commands[j][1] != commands[j - 1][1]), None)  # fmt: skip

    n = len(commands)
    ros_probe.wait_for(lambda: changed_after(n) is not None, 10, "a decision")
    t_change = commands[changed_after(n)][0]
    period = 1.0 / 50
    images.active = False  # from here on the frames come at a chosen phase
    sent: list[float] = []
    before = _values(diags)
    for j in range(60):
        t_next = t_change + (1.5 + REPEAT * j) * period
        time.sleep(max(0.0, t_next - time.monotonic()))
        sent.append(time.monotonic())
        images._pub.publish(images.good())
    time.sleep(0.2)
    after = _values(diags)
    assert proc.popen.poll() is None, proc.output()

    received = np.array([c[0] for c in commands])
    force = np.array([c[1] for c in commands])
    waits = []  # commands from a frame up to and including its decision's
    for t_frame in sent[3:]:
        i = int(np.searchsorted(received, t_frame))
        if i == 0 or i + 8 > len(force):
            continue
        changed = np.flatnonzero(force[i : i + 8] != force[i - 1])
        if changed.size:  # (an action equal to the held one is invisible here)
            waits.append(int(changed[0]) + 1)
    assert len(waits) >= 20, waits
    assert np.median(waits) <= 2, waits
    assert np.mean(np.array(waits) <= 2) >= 0.7, waits
    # the cadence: plans / ticks as the frames come, new actions >= REPEAT - 1 ticks apart
    ticks = int(after["ticks"]) - int(before["ticks"])
    plans = int(after["plans"]) - int(before["plans"])
    assert ticks / plans == pytest.approx(REPEAT, abs=0.5), (ticks, plans)
    start = int(np.searchsorted(received, sent[0]))
    changes = np.flatnonzero(np.diff(force[start:])) + 1
    assert len(changes) > 20 and np.all(np.diff(changes) >= REPEAT - 1), np.diff(changes)
