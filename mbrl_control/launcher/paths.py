"""Find package share directories and node executables the way a ROS 2 install lays them out.

Search order (``environ`` is the environment the nodes will get):

- share of ``PKG``: ``<prefix>/share/PKG`` for each prefix in ``AMENT_PREFIX_PATH``; then, for a
  package whose source checkout holds this module (``mbrl_control`` installed with
  ``pip install -e``), the checkout root that contains its ``package.xml``; then
  ``<sys.prefix>/share/PKG`` (where a regular ``pip install`` puts ``data_files``).
- executable ``EXEC`` of ``PKG``: ``<prefix>/lib/PKG/EXEC`` for each ament prefix; then the
  directory of the running Python interpreter (a venv's ``bin/``, where pip puts console
  scripts); then ``PATH``.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

from mbrl_control.launcher.model import LaunchError

_CHECKOUT = Path(__file__).resolve().parents[2]  # repo root when running from a checkout


def ament_prefixes(environ: Mapping[str, str]) -> list[Path]:
    """The prefixes listed in ``AMENT_PREFIX_PATH``, in order (empty entries dropped)."""
    raw = environ.get("AMENT_PREFIX_PATH", "")
    return [Path(p) for p in raw.split(os.pathsep) if p]


def find_package_share(package: str, environ: Mapping[str, str]) -> Path:
    """The share directory of ``package`` (see the module docstring for the search order)."""
    candidates = [prefix / "share" / package for prefix in ament_prefixes(environ)]
    if _checkout_package_name() == package:
        candidates.append(_CHECKOUT)
    candidates.append(Path(sys.prefix) / "share" / package)
    for path in candidates:
        if path.is_dir():
            return path
    searched = ", ".join(str(p) for p in candidates)
    raise LaunchError(f"$(find-pkg-share {package}): package not found; searched {searched}")


def find_executable(package: str | None, executable: str, environ: Mapping[str, str]) -> Path:
    """The file to run for ``pkg``/``exec`` (``package=None``: ``exec`` is a path or a command)."""
    if package is None:
        if os.sep in executable:
            candidates = [Path(executable)]
        else:
            found = shutil.which(executable, path=environ.get("PATH", os.defpath))
            candidates = [Path(found)] if found else []
    else:
        candidates = [p / "lib" / package / executable for p in ament_prefixes(environ)]
        candidates.append(Path(sys.executable).parent / executable)
        found = shutil.which(executable, path=environ.get("PATH", os.defpath))
        if found:
            candidates.append(Path(found))
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return path
    where = f"package {package!r}" if package else "PATH"
    searched = ", ".join(str(p) for p in candidates) or "nothing matched"
    raise LaunchError(
        f"executable {executable!r} not found in {where} (searched: {searched}; "
        "AMENT_PREFIX_PATH, the Python interpreter's directory, then PATH)"
    )


def _checkout_package_name() -> str | None:
    """The ``<name>`` in the checkout's ``package.xml``, if this module runs from a checkout."""
    manifest = _CHECKOUT / "package.xml"
    if not manifest.is_file():
        return None
    match = re.search(r"<name>\s*([^<\s]+)\s*</name>", manifest.read_text(errors="replace"))
    return match.group(1) if match else None
