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
