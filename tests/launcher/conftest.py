"""Fixtures for the launcher tests: launch files in tmp_path and a fake ament install prefix."""

from __future__ import annotations

import os
import tempfile
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from mbrl_control.launcher import parser
from mbrl_control.launcher.model import LaunchFile


@pytest.fixture(autouse=True)
def _temp_files_in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Planning writes substituted parameter files to the temp dir: keep them in this test's
    tmp_path (the runner deletes its own; in-process plans in tests would leak into /tmp)."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))


@pytest.fixture
def launch_file(tmp_path: Path) -> Callable[..., LaunchFile]:
    """``launch_file(yaml_text, name=...)`` writes the file into ``tmp_path`` and parses it."""

    def _make(text: str, name: str = "test.launch.yaml") -> LaunchFile:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text))
        return parser.load(path)

    return _make


class FakePrefix:
    """An install prefix in tmp_path laid out like a colcon install (``lib/``, ``share/``)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir()

    def add_executable(self, package: str, name: str, body: str = "#!/bin/sh\nexit 0\n") -> Path:
        """Write an executable script to ``<prefix>/lib/<package>/<name>``."""
        path = self.root / "lib" / package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body)
        path.chmod(0o755)
        return path

    def add_share_file(self, package: str, relpath: str, text: str = "") -> Path:
        """Write ``<prefix>/share/<package>/<relpath>``."""
        path = self.root / "share" / package / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def environ(self, **extra: str) -> dict[str, str]:
        """An environment whose only ament prefix is this one."""
        return {"AMENT_PREFIX_PATH": str(self.root), "PATH": os.defpath, **extra}


@pytest.fixture(autouse=True)
def _temp_files_in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Substituted parameter files (``allow_substs``) go to this test's ``tmp_path``."""
    scratch = tmp_path / "tempfiles"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))


@pytest.fixture
def prefix(tmp_path: Path) -> FakePrefix:
    return FakePrefix(tmp_path / "install")
