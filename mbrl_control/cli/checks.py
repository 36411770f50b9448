"""Argument types that refuse bad values at parse time, before anything is created.

Each is an argparse ``type=``: it returns the converted value or raises
``argparse.ArgumentTypeError`` whose text says what is allowed; argparse prefixes the
option's name (``argument --episodes: must be an integer >= 1, got '0'``) and exits 2.
Standard library (and the torch-free preset table) at import time; task and profile names are
looked up lazily at parse time.
"""

from __future__ import annotations

import argparse
import itertools
import math
from collections.abc import Callable
from pathlib import Path

from mbrl_control.planning.presets import PLANNER_PRESETS

PRESET_NAMES = tuple(PLANNER_PRESETS)
"""Planner presets (:mod:`mbrl_control.planning.presets`, torch-free, so --help stays fast)."""

Bad = argparse.ArgumentTypeError


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise Bad(f"must be an integer, got {text!r}") from None


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise Bad(f"must be a number, got {text!r}") from None
    if not math.isfinite(value):
        raise Bad(f"must be finite, got {text!r}")
    return value


def int_at_least(low: int) -> Callable[[str], int]:
    """An integer >= ``low``."""

    def check(text: str) -> int:
        value = _int(text)
        if value < low:
            raise Bad(f"must be an integer >= {low}, got {text!r}")
        return value

    check.__name__ = f"integer >= {low}"
    return check


def int_in(low: int, high: int) -> Callable[[str], int]:
    """An integer in ``[low, high]``."""

    def check(text: str) -> int:
        value = _int(text)
        if not low <= value <= high:
            raise Bad(f"must be an integer in [{low}, {high}], got {text!r}")
        return value

    check.__name__ = f"integer in [{low}, {high}]"
    return check


positive_int = int_at_least(1)
nonneg_int = int_at_least(0)
ros_domain_id = int_in(0, 232)
"""A ``ROS_DOMAIN_ID`` (DDS: 0..232; 0..101 is safe on every OS)."""


def float_in(low: float, high: float, low_open: bool = False) -> Callable[[str], float]:
    """A finite number in ``[low, high]`` (``(low, high]`` with ``low_open``)."""
    left = "(" if low_open else "["

    def check(text: str) -> float:
        value = _float(text)
        if not ((low < value) if low_open else (low <= value)) or value > high:
            raise Bad(f"must be in {left}{low}, {high}], got {text!r}")
        return value

    check.__name__ = f"number in {left}{low}, {high}]"
    return check


fraction = float_in(0.0, 1.0, low_open=True)  # a share that cannot be zero
unit_interval = float_in(0.0, 1.0)


def positive_float(text: str) -> float:
    """A finite number > 0."""
    value = _float(text)
    if value <= 0:
        raise Bad(f"must be > 0, got {text!r}")
    return value


def existing_file(text: str) -> str:
    """A path to an existing file."""
    path = Path(text)
    if not path.is_file():
        raise Bad(f"no such file: {text}" if not path.exists() else f"not a file: {text}")
    return text


def existing_dir(text: str) -> str:
    """A path to an existing directory (e.g. a transition store: a typo must not create one)."""
    path = Path(text)
    if not path.is_dir():
        raise Bad(f"no such directory: {text}" if not path.exists() else f"not a directory: {text}")
    return text


def existing_path(text: str) -> str:
    """A path to an existing file or directory (e.g. a rosbag2 file or folder)."""
    if not Path(text).exists():
        raise Bad(f"no such file or directory: {text}")
    return text


def out_dir(text: str) -> str:
    """An output directory: it may exist (resume/append) but must not be a file."""
    if Path(text).exists() and not Path(text).is_dir():
        raise Bad(f"exists and is not a directory: {text}")
    return text


def out_file(text: str) -> str:
    """An output file: it may exist (replaced atomically) but must not be a directory."""
    if Path(text).is_dir():
        raise Bad(f"is a directory, need a file name: {text}")
    return text


def hold_expr(text: str) -> object:
    """``NAME>=VALUE`` or ``NAME<=VALUE`` (an evaluation hold condition; the name is checked
    against the task's observation when the episodes start)."""
    from mbrl_control.pipeline.evaluate import Hold

    try:
        return Hold.parse(text)
    except ValueError as err:
        raise Bad(str(err)) from None


def task_name(text: str) -> str:
    """A built-in task name or a task file path, loaded and validated here so a bad file stops
    the run before it starts (one line: the file and the bad key)."""
    from mbrl_control.tasks import TASKS, get_task

    if text in TASKS:
        return text
    try:
        get_task(text)
    except (ValueError, FileNotFoundError) as exc:  # TaskFileError is a ValueError
        raise Bad(str(exc)) from None
    return text


def sim_task_name(text: str) -> str:
    """:func:`task_name` for subcommands that run the simulator: the simulator builds the scene
    from the task's robot (``robot.urdf`` and the ``simulation:`` section), so a task without
    ``robot.urdf``, a missing or bad URDF, or a scene the URDF cannot give (a task joint or push
    link it lacks) is refused here in one line. Returns ``text`` (a built-in name or the path)."""
    from mbrl_control.tasks import get_task

    task = get_task(task_name(text))
    if getattr(task, "urdf", None) is None:
        raise Bad(
            f"task {task.name!r} ({text}) cannot be simulated: it sets no robot.urdf (the "
            "simulator builds its scene from the robot's URDF)"
        )
    from mbrl_sim.scene_spec import scene_spec

    try:
        scene_spec(task)
    except (ValueError, FileNotFoundError) as exc:  # TaskFileError is a ValueError
        raise Bad(str(exc)) from None
    return text


def profile_ref(text: str) -> str:
    """A DR profile name (sim/profiles/NAME.yaml) or a ``.yaml``/``.yml`` file, loaded and
    validated here (unknown keys, bad ranges), so a bad profile stops the run before it starts."""
    if Path(text).suffix in (".yaml", ".yml"):
        existing_file(text)
    from mbrl_sim.profiles import load_profile

    try:
        load_profile(text)
    except (ValueError, OSError) as exc:
        raise Bad(str(exc)) from None
    return text


def policy_spec(text: str) -> str:
    """``random`` or ``planner:PATH`` with an existing planner file."""
    if text == "random":
        return text
    if text.startswith("planner:"):
        existing_file(text.removeprefix("planner:"))
        return text
    raise Bad(f"must be 'random' or 'planner:PATH', got {text!r}")


def int_list(text: str) -> tuple[int, ...]:
    """Comma-separated integers >= 1, e.g. ``3,5,10`` (empty allowed: ``''``)."""
    return tuple(positive_int(x.strip()) for x in text.split(",") if x.strip())


def increasing_floats(text: str) -> tuple[float, ...]:
    """Comma-separated numbers > 0 in increasing order, e.g. ``1,2,5``."""
    values = tuple(positive_float(x.strip()) for x in text.split(",") if x.strip())
    if not values or any(b <= a for a, b in itertools.pairwise(values)):
        raise Bad(f"must be numbers > 0, comma separated, increasing; got {text!r}")
    return values
