"""PyBullet, imported without its banner: ``from mbrl_sim.bullet import pb``.

``import pybullet`` writes ``pybullet build time: ...`` to the process's stderr (file
descriptor 2, from C, so ``sys.stderr`` redirection cannot catch it). A node's refusal is one
line on stderr and a CLI's error is one line; that banner made them two. Every simulator module
imports PyBullet through here: fd 2 goes to ``/dev/null`` for the import only. Importing
``pybullet`` directly afterwards prints nothing (the module is already loaded).
"""

from __future__ import annotations

import os
import sys
from types import ModuleType


def _import_quietly() -> ModuleType:
    if "pybullet" in sys.modules:
        return sys.modules["pybullet"]
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import pybullet
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    return pybullet


pb = _import_quietly()
"""The ``pybullet`` module."""
