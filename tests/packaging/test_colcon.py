"""``colcon build --symlink-install`` of ros2_ws/ installs the package and its console scripts."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def test_colcon_symlink_install(tmp_path: Path) -> None:
    colcon = Path(sys.executable).with_name("colcon")
    if not colcon.exists():
        pytest.skip("colcon is not installed in this environment (pip extra [test])")
    build, install = tmp_path / "build", tmp_path / "install"
    subprocess.run(
        [
            str(colcon),
            "build",
            "--symlink-install",
            "--base-paths",
            str(REPO / "ros2_ws" / "src"),
            "--build-base",
            str(build),
            "--install-base",
            str(install),
        ],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        text=True,
    )
    prefix = install / "mbrl_control"
    for exe in ("mbrl-control", "sim_node", "mpc_controller", "finetune_node", "pixel_controller"):
        assert (prefix / "lib" / "mbrl_control" / exe).exists(), exe
    share = prefix / "share" / "mbrl_control"
    assert (share / "package.xml").exists()
    for folder in ("launch", "config"):
        shipped = sorted(p.name for p in (REPO / folder).glob("*.yaml"))
        installed = sorted(p.name for p in (share / folder).glob("*.yaml"))
        assert installed == shipped, folder
    assert (install / "setup.bash").exists()

    # From the install space: the console script runs and both import names resolve to the
    # colcon build tree (mbrl_sim is the sim/ folder, linked by the package_dir mapping).
    probe = "import mbrl_sim, mbrl_control; print(mbrl_sim.__file__); print(mbrl_control.__file__)"
    script = (
        f"source {install}/setup.bash && "
        f"{prefix}/lib/mbrl_control/mbrl-control --help && "
        f"{sys.executable} -c '{probe}'"
    )
    out = subprocess.run(
        [shutil.which("bash") or "/bin/bash", "-c", script],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert "usage: mbrl-control" in out
    paths = out.strip().splitlines()[-2:]
    assert all(p.startswith(str(build)) for p in paths), paths
