"""pixel_controller's ~/reload_model (issue 21), the contract of mpc_controller's: set
model_path, call the Trigger; the file is loaded off the control thread and swapped in
between two ticks, or refused in one line (another kind of file, another task, another image
size, another camera view, a broken or missing file) with the old planner still deciding.

The files: the untrained test pixel planner, a second one (another seed), a state planner,
and copies of the first whose metadata says another task, image size or camera.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from test_controller_node import latest, level_is, set_param
from test_pixel_controller import REPEAT, STATUS, ImagePublisher, _start, _values

from mbrl_control.control.pixel_config import PixelControllerConfig
from mbrl_control.control.pixel_core import PixelControllerCore
from mbrl_control.latent.runtime import OnnxPixelPlanner

NODE = "/pixel_controller"


def _with_metadata(src: Path, dst: Path, **changes) -> Path:
    """A copy of the pixel planner ``src`` whose JSON metadata has ``changes`` applied (a
    value that is a dict updates that entry)."""
    import onnx

    model = onnx.load(str(src))
    for prop in model.metadata_props:
        if prop.key in changes:
            new = changes[prop.key]
            old = json.loads(prop.value)
            prop.value = json.dumps({**old, **new} if isinstance(new, dict) else new)
    onnx.save(model, str(dst))
    return dst


def _export_small_pixel_planner(path: Path, seed: int) -> Path:
    """tests/ros/conftest.py's exporter, loaded by path (``from conftest import`` finds
    another folder's conftest when several test folders run in one process)."""
    spec = importlib.util.spec_from_file_location(
        "ros_test_fixtures", Path(__file__).with_name("conftest.py")
    )
    fixtures = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fixtures)
    return fixtures.export_small_pixel_planner(path, seed=seed)


@pytest.fixture(scope="module")
def pixel_dir(tmp_path_factory: pytest.TempPathFactory, pixel_planner: Path,
              planner_dir: Path) -> Path:  # fmt: skip
    """A model dir: a.onnx and b.onnx (two cart-pole pixel planners), state.onnx (a state
    planner), other_task / other_size / other_view.onnx (a.onnx's metadata changed),
    broken.onnx (not ONNX)."""
    d = tmp_path_factory.mktemp("pixel_models")
    a = Path(shutil.copy(pixel_planner, d / "a.onnx"))
    _export_small_pixel_planner(d / "b.onnx", seed=1)
    shutil.copy(planner_dir / "planner_a.onnx", d / "state.onnx")
    _with_metadata(a, d / "other_task.onnx", task="pendulum_swingup")
    _with_metadata(a, d / "other_size.onnx", image_size=96)
    _with_metadata(a, d / "other_view.onnx", camera={"distance": 3.0})
    (d / "broken.onnx").write_bytes(b"not an onnx file")
    return d


REFUSALS = [  # file, words the one-line answer has
    ("state.onnx", "a state planner file"),
    ("other_task.onnx", "trained on task 'pendulum_swingup', this controller runs"),
    ("other_size.onnx", "96x96 px frames, this controller's camera gives 64x64"),
    ("other_view.onnx", '"distance": 3.0'),
    ("broken.onnx", "broken.onnx"),
    ("missing.onnx", "missing.onnx"),
]


def test_reload_swaps_and_refuses_in_one_line(spawn, ros_env, ros_probe, pixel_dir) -> None:
    from diagnostic_msgs.msg import DiagnosticArray
    from std_msgs.msg import Float64MultiArray
    from std_srvs.srv import Trigger

    commands = ros_probe.collect(Float64MultiArray, "/commands")
    diags = ros_probe.collect(DiagnosticArray, "/diagnostics")
    ImagePublisher(ros_probe)
    proc = _start(spawn, ros_env, pixel_dir / "a.onnx")
    ros_probe.wait_for(level_is(diags, 0, "planning", STATUS), 60, "planning from images")

    def reload(name: str):
        assert set_param(ros_probe, "model_path", str(pixel_dir / name), node=NODE).successful
        return ros_probe.call(Trigger, f"{NODE}/reload_model", Trigger.Request())

    n = len(commands)
    for name, words in REFUSALS:
        answer = reload(name)
        assert not answer.success, (name, answer.message)
        assert "\n" not in answer.message and words in answer.message, (name, answer.message)
        assert answer.message.startswith(f"kept model {pixel_dir / 'a.onnx'}: "), answer.message
    # all the while: planned commands from a.onnx, no safe action
    ros_probe.wait_for(lambda: int(_values(diags)["plans"]) > 0 and len(commands) > n + 20, 10,
                       "commands")  # fmt: skip
    assert all(c.data[0] != 0.0 for c in commands[n:]), "a safe action during the refusals"
    assert latest(diags, STATUS).level == b"\x00" and _values(diags)["model_id"] == "a.onnx"

    # a path outside model_dir is refused when set
    assert not set_param(ros_probe, "model_path", "/elsewhere/c.onnx", node=NODE).successful

    # b.onnx swaps in; the decisions go on
    n = len(commands)
    answer = reload("b.onnx")
    assert answer.success and answer.message == f"loaded {pixel_dir / 'b.onnx'}", answer.message
    ros_probe.wait_for(lambda: _values(diags)["model_id"] == "b.onnx", 5, "the new model_id")
    ros_probe.wait_for(lambda: len(commands) > n + 20, 10, "commands after the swap")
    assert all(c.data[0] != 0.0 for c in commands[n:]), "a safe action during the swap"
    assert latest(diags, STATUS).level == b"\x00", latest(diags, STATUS).message
    assert proc.popen.poll() is None, proc.output()


def test_a_swap_starts_the_new_planners_episode_at_the_next_decision(pixel_dir) -> None:
    """Core level, on a synthetic clock: after a swap the held action stays until the next
    frame; that decision is the new planner's first of an episode (zero filter state, noise
    from the seed), whatever the old planner's state was."""
    cfg = PixelControllerConfig(model_path=str(pixel_dir / "a.onnx"), seed=3)
    core = PixelControllerCore(cfg)
    assert core.reload(cfg.model_path)[0]
    core.request_restart()
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (64, 64, 3), dtype=np.uint8) for _ in range(8)]
    period, t = core.period, 0
    for frame in frames[:6]:  # six decisions of a.onnx
        core.set_image(lambda f=frame: f, (t + 0.5) * period)
        for _ in range(REPEAT):
            t += 1
            held, _ = core.tick(t * period)
    plans = core.plans
    ok, message = core.reload(str(pixel_dir / "b.onnx"))
    assert ok, message
    t += 1
    assert np.array_equal(core.tick(t * period)[0], held) and core.plans == plans  # held
    core.set_image(lambda: frames[6], (t + 0.5) * period)
    for _ in range(REPEAT):  # the next decision, on that frame
        t += 1
        action, status = core.tick(t * period)
        if core.plans > plans:
            break
        assert np.array_equal(action, held)
    assert core.plans == plans + 1 and status.message == "planning"
    fresh = OnnxPixelPlanner(pixel_dir / "b.onnx")
    fresh.reset(seed=3)
    expected = np.clip(fresh.act(frames[6]), core.task.low, core.task.high)
    np.testing.assert_allclose(action, expected, rtol=1e-6)
    assert core.diagnostics(t * period)["model_id"] == "b.onnx"
