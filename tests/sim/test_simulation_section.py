"""The task file's ``simulation:`` section: parsed values, defaults left to the URDF, and
one-line errors naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mbrl_control.tasks import TaskFileError, builtin_task_files, load_task_file
from mbrl_control.tasks.simulation_section import Camera, SimulationSection, default_physics_dt


def with_simulation(folder: Path, section, base: str = "cartpole_swingup", **changes) -> Path:
    data = yaml.safe_load(builtin_task_files()[base].read_text())
    data.update(name="my_robot", **changes)
    if section is None:
        data.pop("simulation", None)
    else:
        data["simulation"] = section
    path = folder / "my_robot.task.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return path


def test_builtin_sections_parse() -> None:
    sim = load_task_file(builtin_task_files()["cartpole_swingup"]).simulation
    assert sim == SimulationSection(
        physics_dt=0.005,
        ground=False,
        joint_damping=(0.1, 0.002),
        joint_friction=(0.3, 0.002),
        push_link="pole",
        push_force=2.0,
        push_planar=True,
        camera=Camera(3.0, 0.0, -5.0, (0.0, 0.0, 0.2)),
        inertia_from="collision",
    )
    panda = load_task_file(builtin_task_files()["panda_reach"]).simulation
    assert panda.joint_damping == (0.5,) * 7  # one number broadcasts over the joints
    assert panda.motor_force == (87.0,) * 4 + (12.0,) * 3


def test_omitted_keys_are_left_to_the_urdf(tmp_path) -> None:
    sim = load_task_file(with_simulation(tmp_path, None)).simulation
    assert sim == SimulationSection(physics_dt=0.005)  # 50 Hz: 4 steps of 5 ms
    assert sim.ground is None and sim.joint_damping is None and sim.camera is None


@pytest.mark.parametrize(
    ("rate", "dt"), [(50.0, 0.005), (30.0, 1 / 210), (200.0, 0.005), (1000.0, 0.001)]
)
def test_default_physics_step_divides_the_control_period(rate, dt) -> None:
    got = default_physics_dt(1 / rate)
    assert got == pytest.approx(dt) and got <= 0.005 + 1e-12
    assert round((1 / rate) / got) * got == pytest.approx(1 / rate)


@pytest.mark.parametrize(
    ("section", "changes", "needle"),
    [
        ({"gravity": 1}, {}, "simulation: unknown key(s) ['gravity']; allowed: ['camera',"),
        ({"physics_dt": 0.003}, {}, "simulation.physics_dt=0.003 must divide the control"),
        ({"physics_dt": 0}, {}, "simulation.physics_dt=0 outside the allowed range (0.0"),
        ({"ground": "yes"}, {}, "simulation.ground='yes'; allowed: [true, false]"),
        ({"joint_damping": [0.1]}, {}, "simulation.joint_damping: expected 2 entries, got 1"),
        ({"joint_friction": [0.1, -1]}, {}, "simulation.joint_friction[1]=-1 outside"),
        ({"motor_force": [5.0]}, {}, "simulation.motor_force: only for the velocity and"),
        ({"push": {"link": "pole", "size": 1}}, {}, "simulation.push: unknown key(s) ['size']"),
        ({"push": {"force": -2}}, {}, "simulation.push.force=-2 outside the allowed range"),
        ({"push": {"planar": 1}}, {}, "simulation.push.planar=1; allowed: [true, false]"),
        ({"camera": {"distance": 2}}, {}, "simulation.camera: missing required key(s) ['pitch',"),
        ({"inertia_from": "cad"}, {}, "simulation.inertia_from='cad'; allowed: ['urdf', 'coll"),
        (
            {"camera": {"distance": 2, "yaw": 0, "pitch": 0, "target": [0, 0]}},
            {},
            "simulation.camera.target: expected 3 entries, got 2",
        ),
    ],
)
def test_bad_values_are_one_line_naming_the_key(tmp_path, section, changes, needle) -> None:
    path = with_simulation(tmp_path, section, **changes)
    with pytest.raises(TaskFileError) as err:
        load_task_file(path)
    text = str(err.value)
    assert "\n" not in text and text.startswith(str(path)) and needle in text, text


def test_motor_force_per_command_joint_of_a_velocity_task(tmp_path) -> None:
    path = with_simulation(tmp_path, {"motor_force": 50.0}, base="panda_reach")
    assert load_task_file(path).simulation.motor_force == (50.0,) * 7
    path = with_simulation(tmp_path, {"motor_force": [50.0] * 6}, base="panda_reach")
    with pytest.raises(TaskFileError, match=r"simulation.motor_force: expected 7 entries"):
        load_task_file(path)
