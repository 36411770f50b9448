"""The ablation CLI's choice lists agree with the code they select in (the CLI names them
without importing numpy-heavy modules at parse time)."""

from __future__ import annotations

import argparse

from mbrl_control.cli import ablation
from mbrl_control.uncertainty.calibration import EXPORTABLE


def test_uncertainty_methods_are_the_exportable_calibrations() -> None:
    parser = argparse.ArgumentParser()
    ablation.add_arguments(parser)
    (method,) = [a for a in parser._actions if a.dest == "method"]
    assert tuple(method.choices) == EXPORTABLE
    assert method.default == EXPORTABLE[0]
