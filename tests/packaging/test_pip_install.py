"""``pip install -e .`` in a brand-new venv gives a working ``mbrl-control --help``.

Dependencies are skipped (``--no-deps``) so the test stays fast; that also proves ``--help``
needs nothing beyond the standard library.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def test_editable_install_in_fresh_venv(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps", "-e", str(REPO)],
        check=True,
        capture_output=True,
    )
    out = subprocess.run(
        [str(venv / "bin" / "mbrl-control"), "--help"], check=True, capture_output=True, text=True
    ).stdout
    assert "usage: mbrl-control" in out
    for exe in ("sim_node", "mpc_controller", "finetune_node", "pixel_controller"):
        assert (venv / "bin" / exe).exists(), exe
