"""The built-in scenes come from their task files and equal the frozen pre-task-file scenes
(tests/sim/reference_scenes.py) field by field; loaded, they are the same PyBullet world; the
task files' initial states draw from the old distributions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pybullet as pb
import pytest
from mbrl_sim.scenes import load_scene, scene_spec
from reference_scenes import SCENES

from mbrl_control.tasks import get_task

NAMES = sorted(SCENES)
CONTROL = {"torque": "effort", "velocity": "velocity"}  # the old names of the interfaces


@pytest.mark.parametrize("name", NAMES)
def test_builtin_scene_equals_the_frozen_one_field_by_field(name: str) -> None:
    old, new = SCENES[name], scene_spec(get_task(name))
    assert Path(new.urdf).resolve() == Path(old.urdf).resolve()
    assert new.control == CONTROL[old.control]
    assert new.physics_dt == old.physics_dt
    assert new.damping_ref == old.damping_ref
    assert new.friction_ref == old.friction_ref
    assert new.push_link == old.push_link
    assert new.push_ref == old.push_ref
    assert new.push_planar == old.push_planar
    assert new.max_force == old.max_force
    assert new.ground == old.ground
    assert new.camera == old.camera
    # what the old scene did implicitly: a fixed base at the origin, PyBullet's own inertias
    assert new.fixed_base and new.base_pose == ((0.0, 0.0, 0.0), (0.0, 0.0, 0.0))
    assert new.inertia_from == "collision"


@pytest.mark.parametrize("name", NAMES)
def test_builtin_scene_loads_the_same_world(name: str) -> None:
    """Indices, masses and inertias equal a plain ``loadURDF(urdf, useFixedBase=True)``."""
    old, task = SCENES[name], get_task(name)
    scene = load_scene(task)
    ref = pb.connect(pb.DIRECT)
    try:
        body = pb.loadURDF(old.urdf, useFixedBase=True, physicsClientId=ref)
        n = pb.getNumJoints(body, physicsClientId=ref)
        assert pb.getNumJoints(scene.body, physicsClientId=scene.client) == n
        index = {pb.getJointInfo(body, j, physicsClientId=ref)[1].decode(): j for j in range(n)}
        links = {pb.getJointInfo(body, j, physicsClientId=ref)[12].decode(): j for j in range(n)}
        assert scene.joints == tuple(index[j] for j in task.joint_names)
        assert scene.actuated == tuple(index[j] for j in task.command_joints)
        assert scene.push_link == links[old.push_link]
        massive = tuple(
            j for j in range(n) if pb.getDynamicsInfo(body, j, physicsClientId=ref)[0] > 0
        )
        assert scene.links == massive
        dyn = [pb.getDynamicsInfo(body, j, physicsClientId=ref) for j in massive]
        np.testing.assert_array_equal(scene.mass, [d[0] for d in dyn])
        np.testing.assert_array_equal(scene.inertia, [d[2] for d in dyn])
        assert scene.substeps == round(task.dt / old.physics_dt)
        assert scene.camera == old.camera
        assert scene.mimic == ()  # the Panda's second finger follows a finger held still
    finally:
        pb.disconnect(ref)
        pb.disconnect(scene.client)


@pytest.mark.parametrize("name", NAMES)
def test_initial_state_draws_the_old_states(name: str, seeds) -> None:
    """The task file draws exactly the old scene function's states from the same generator
    (only non-zero spreads draw), so a seed gives the same episode as before the task files."""
    draw, task = SCENES[name].initial_state, get_task(name)
    r1, r2 = np.random.default_rng(seeds(5)), np.random.default_rng(seeds(6))
    r2.bit_generator.state = r1.bit_generator.state
    for _ in range(200):
        (q1, v1), (q2, v2) = draw(r1), task.sample_initial_state(r2)
        np.testing.assert_allclose(q2, q1, rtol=0, atol=1e-12)
        np.testing.assert_array_equal(v2, v1)
    assert r1.random() == r2.random()  # the same number of draws
