"""Fixtures for node tests: a small real planner ONNX file and a joint-state publisher."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from mbrl_control.tasks import get_task

TASK = get_task("cartpole_swingup")


def export_small_planner(path: Path, seed: int = 0) -> Path:
    """An untrained 2-member ensemble behind a tiny iCEM step: real ONNX, fast to export."""
    import torch

    from mbrl_control.export.onnx_export import export_planner
    from mbrl_control.models.config import EnsembleConfig
    from mbrl_control.models.ensemble import Ensemble
    from mbrl_control.planning.config import PlannerConfig

    torch.manual_seed(seed)
    model = Ensemble(EnsembleConfig(TASK.obs_dim, TASK.act_dim, members=2, hidden=16, layers=2))
    cfg = PlannerConfig(kind="icem", horizon=5, population=32, particles=2, iterations=1)
    return export_planner(model, TASK, cfg, path, provenance={"test": seed})


def export_small_pixel_planner(path: Path, seed: int = 0, action_repeat: int = 4) -> Path:
    """An untrained small world model behind a small latent CEM, as train-pixels writes it
    (task, action repeat and its close camera view in the metadata): real ONNX, ~1 ms a tick."""
    import dataclasses

    import torch

    from mbrl_control.latent import WorldModel, WorldModelConfig
    from mbrl_control.latent.export import export_pixel_planner
    from mbrl_control.latent.planner import LatentPlannerConfig
    from mbrl_control.latent.training import pixel_camera

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small convolutions on 2 shared cores: one thread is faster
    try:
        torch.manual_seed(seed)
        model = WorldModel(TASK.act_dim, WorldModelConfig(depth=8, deter=32, stoch=8, hidden=32))
        cfg = LatentPlannerConfig(horizon=6, iterations=2, population=32, elites=4)
        meta = {
            "task": TASK.name,
            "action_repeat": action_repeat,
            "camera": dataclasses.asdict(pixel_camera(TASK)),
        }
        return export_pixel_planner(
            model.eval(), TASK.low.tolist(), TASK.high.tolist(), cfg, path, meta
        )
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def pixel_planner(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained pixel planner file for the cart-pole (see export_small_pixel_planner)."""
    return export_small_pixel_planner(tmp_path_factory.mktemp("pixels") / "planner.onnx")


@pytest.fixture(scope="session")
def planner_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model directory with two valid planners and a corrupt one."""
    d = tmp_path_factory.mktemp("models")
    export_small_planner(d / "planner_a.onnx", seed=0)
    export_small_planner(d / "planner_b.onnx", seed=1)
    (d / "corrupt.onnx").write_bytes(b"this is not an onnx file")
    return d


class JointStatePublisher:
    """Publishes cart-pole JointStates from the probe node at the control rate.

    ``state`` (positions, velocities) and ``active`` can be changed while it runs.
    """

    def __init__(self, probe) -> None:
        from sensor_msgs.msg import JointState

        self._msg_type = JointState
        self.position = [0.0, np.pi]
        self.velocity = [0.0, 0.0]
        self.names = list(TASK.joint_names)
        self.active = True
        self._lock = threading.Lock()
        self._pub = probe.node.create_publisher(JointState, "/joint_states", 10)
        probe.node.create_timer(TASK.dt, self._tick)

    def _tick(self) -> None:
        if not self.active:
            return
        with self._lock:
            msg = self._msg_type(
                name=self.names, position=list(self.position), velocity=list(self.velocity)
            )
        self._pub.publish(msg)

    def set(self, names=None, position=None, velocity=None) -> None:
        with self._lock:
            self.names = list(names) if names is not None else self.names
            self.position = list(position) if position is not None else self.position
            self.velocity = list(velocity) if velocity is not None else self.velocity


@pytest.fixture
def joint_states(ros_probe) -> Iterator[JointStatePublisher]:
    yield JointStatePublisher(ros_probe)
