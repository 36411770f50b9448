"""No module of ``mbrl_control.cli`` may share its name with a name the package itself binds.

Importing ``mbrl_control.cli.<name>`` sets the package attribute ``<name>`` to the module,
replacing a function of that name the package imported (a ``cli/report.py`` replaced the
``report`` error handler, and every CLI error path then failed with "'module' object is not
callable"). The check runs in a fresh interpreter so nothing imported earlier hides a clash.
"""

from __future__ import annotations

import subprocess
import sys

PROBE = r"""
import pkgutil, types
import mbrl_control.cli as cli
bound = {k for k, v in vars(cli).items() if not isinstance(v, types.ModuleType)}
modules = {m.name for m in pkgutil.iter_modules(cli.__path__)}
print(",".join(sorted(bound & modules)))
"""


def test_no_cli_module_shadows_a_name_the_cli_package_binds() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=120
    )
    clashes = out.stdout.strip()
    assert clashes == "", f"mbrl_control/cli modules shadow names the package binds: {clashes}"
