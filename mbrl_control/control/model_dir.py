"""Where a controller's model files may come from: inside one model directory.

Model paths given over ROS (``model_path``, ``~/reload_model``) are resolved inside a
configured ``model_dir`` (DESIGN.md, reliability rules); paths escaping it are refused.
Shared by ``mpc_controller`` and ``pixel_controller``.
"""

from __future__ import annotations

from pathlib import Path


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
