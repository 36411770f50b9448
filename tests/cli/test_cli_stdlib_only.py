"""Every ``mbrl-control`` subcommand module imports with nothing beyond the standard library, so
``mbrl-control --help`` works in a fresh ``pip install --no-deps`` (tests/packaging checks that
end to end, slowly). A numpy import at the top of ``cli/collect.py`` broke it once."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("numpy", "torch", "scipy", "onnxruntime", "rclpy", "pybullet", "yaml", "matplotlib")

PROBE = f"""
import importlib, pkgutil, sys

class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {HEAVY!r}:
            raise ModuleNotFoundError(f"blocked: {{name}}")

sys.meta_path.insert(0, Block())
import mbrl_control.cli as cli
for info in pkgutil.iter_modules(cli.__path__):
    if info.name != "__main__":
        importlib.import_module(f"mbrl_control.cli.{{info.name}}")
print(len(list(pkgutil.iter_modules(cli.__path__))))
"""


def test_every_subcommand_module_imports_without_third_party_packages() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) > 20  # the subcommand modules were found
