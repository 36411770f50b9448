"""Counts, seeds and ROS domain ids of the module command lines (benches, the safety case, the
recording plot) are checked like mbrl-control's own options: a value out of range is one line
and exit 2 (they were plain ``int``: ``--steps 0`` timed nothing, ``--domain 999`` failed
inside DDS, ``--every 0`` drew every plan and said "every 0 steps")."""

from __future__ import annotations

import subprocess
import sys

import pytest

CASES = [
    ("mbrl_control.pipeline.safety_case", ["--episodes", "0"], "--episodes: must be an integer"),
    ("mbrl_control.pipeline.safety_case", ["--jobs", "-2"], "--jobs: must be an integer >= 1"),
    ("mbrl_control.bench.pixels", ["--steps", "0"], "--steps: must be an integer >= 1"),
    ("mbrl_control.bench.pixels", ["--seed", "-1"], "--seed: must be an integer >= 0"),
    ("mbrl_control.bench.latent_filter", ["--steps", "-1"], "--steps: must be an integer >= 1"),
    ("mbrl_control.cli", ["bench", "soak", "--domain", "999"], "must be an integer in [0, 232]"),
    ("mbrl_control.cli", ["bench", "controller", "--domain", "-1"], "in [0, 232]"),
    ("mbrl_control.cli", ["bench", "finetune-cycle", "--domain", "300"], "in [0, 232]"),
    ("mbrl_control.recording.recording_plot", ["x.mcap", "y.png", "--tube", "--every", "0"],
     "--every: must be an integer >= 1"),
]  # fmt: skip


@pytest.mark.parametrize(("module", "argv", "message"), CASES)
def test_out_of_range_values_are_one_line(module, argv, message) -> None:
    out = subprocess.run(
        [sys.executable, "-m", module, *argv], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 2, out.stderr
    assert message in out.stderr and "Traceback" not in out.stderr


MODULE_CLIS = [
    "mbrl_control.pipeline.uncertainty_study", "mbrl_control.pipeline.safety_case",
    "mbrl_control.latent.hold_study", "mbrl_control.latent.planner_sizes",
    "mbrl_control.latent.objective_study", "mbrl_control.latent.probe",
    "mbrl_control.latent.curve", "mbrl_control.latent.oracle_teacher",
    "mbrl_control.recording.recording_plot",
    "mbrl_control.bench.latent_filter", "mbrl_control.bench.finetune_cycle",
    "mbrl_control.bench.excitation", "mbrl_control.bench.soak",
    "mbrl_control.bench.pixel_planner", "mbrl_control.bench.planner", "mbrl_control.bench.pixels",
]  # fmt: skip


@pytest.mark.parametrize("module", MODULE_CLIS)
def test_every_module_command_line_errs_in_one_line(module) -> None:
    """A mistyped option is one line naming the command and its --help, exit 2, as
    mbrl-control's own (they printed argparse's usage block first: 5+ lines)."""
    out = subprocess.run(
        [sys.executable, "-m", module, "--no-such-option"], capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert out.returncode == 2 and len(lines) == 1, out.stderr
    assert "--help" in lines[0] and "Traceback" not in out.stderr


@pytest.mark.parametrize("module", MODULE_CLIS)
def test_every_module_help_is_plain_text(module) -> None:
    """--help of a module command shows its docstring without reStructuredText roles or
    double-backtick literals (oracle_teacher's showed :class:`LqrTeacher` and ``train-pixels``)."""
    out = subprocess.run(
        [sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0 and out.stdout.strip(), out.stderr
    assert ":class:`" not in out.stdout and ":func:`" not in out.stdout, out.stdout
    assert ":mod:`" not in out.stdout and "``" not in out.stdout, out.stdout
