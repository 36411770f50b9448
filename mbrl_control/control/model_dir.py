"""Where a controller's model files may come from, and how a new one replaces the live one.

Model paths given over ROS (``model_path``, ``~/reload_model``) are resolved inside a
configured ``model_dir`` (DESIGN.md, reliability rules); paths escaping it are refused.
:class:`ModelSwap` is the hot swap behind ``~/reload_model``. Shared by ``mpc_controller``
and ``pixel_controller``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any


class ModelDir:
    """``model_dir`` ('' = the directory of ``model_path``) and the rule for relative paths:
    inside ``model_dir`` when one is configured, else from the working directory (where the
    given ``model_path``, and so the derived directory, was meant from)."""

    def __init__(self, model_dir: str, model_path: str) -> None:
        self.root = Path(model_dir or Path(model_path or ".").parent).resolve()
        self._relative_base = self.root if model_dir else Path.cwd()

    def resolve(self, path: str) -> Path:
        """``path`` resolved; ``ValueError`` naming both when it lies outside the directory."""
        p = Path(path)
        p = (p if p.is_absolute() else self._relative_base / p).resolve()
        if not p.is_relative_to(self.root):
            raise ValueError(f"model path {p} is outside model_dir {self.root}")
        return p


class ModelSwap:
    """A controller core's model swap (lifecycle configure, ``~/reload_model``): load and
    validate a new file, one load at a time and never on the control thread when run by
    :meth:`reload_async`, then hand it to ``swap_in``; on any failure the live model stays
    and the message says why in one line.

    Args:
        load: ``load(path) -> (model, model_id)``: resolve, open and validate ``path``;
            raises with the reason (naming the file) on any problem. Slow.
        swap_in: ``swap_in(model, model_id)``: make it the live model between two ticks
            (short: under the core's lock).
        live: ``live() -> str``: the live model's id ('' = none), named when it is kept.
    """

    def __init__(
        self,
        load: Callable[[str], tuple[Any, str]],
        swap_in: Callable[[Any, str], None],
        live: Callable[[], str],
    ) -> None:
        self._load, self._swap_in, self._live = load, swap_in, live
        self._loading = threading.Lock()  # one load at a time

    def reload(self, path: str) -> tuple[bool, str]:
        """Load ``path`` and swap it in; blocks for the whole load. Returns ``(ok, message)``."""
        kept = f"kept model {self._live() or '(none)'}"
        if not path:
            return False, f"{kept}: model_path is empty"
        if not self._loading.acquire(blocking=False):
            return False, f"{kept}: a reload is in progress"
        try:
            model, model_id = self._load(path)
        except Exception as exc:  # any load failure keeps the old model
            return False, f"{kept}: {exc}"
        finally:
            self._loading.release()
        self._swap_in(model, model_id)
        return True, f"loaded {model_id}"

    def reload_async(self, path: str, done: Callable[[bool, str], None]) -> threading.Thread:
        """:meth:`reload` in a thread of its own; ``done(ok, message)`` is called from it."""

        def run() -> None:
            try:
                result = self.reload(path)
            except Exception as exc:  # reload catches load errors; this is a last resort
                result = (False, f"reload failed: {exc!r}")
            done(*result)

        thread = threading.Thread(target=run, name="model-reload", daemon=True)
        thread.start()
        return thread
