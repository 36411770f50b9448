"""What identifies the inputs of a run folder, so that a resumed run can tell whether it is
the same run: a built-in task or DR profile by its name, a task or profile *file* by its name
and the SHA-256 of its text — never by its path (a folder moved, copied or mounted elsewhere
keeps its results; a file edited in place does not). Files a task file names (a URDF) are not
hashed. Used by the sim-to-real grid's cell fingerprints and ``mbrl-control pretrain``'s
resume check."""

from __future__ import annotations

import hashlib
from pathlib import Path


def ref_identity(ref: str | Path | None) -> str | dict[str, str] | None:
    """``ref`` itself for a name (or None), ``{"file": name, "sha256": hex}`` for an existing
    ``.yaml``/``.yml`` file or a path with a separator."""
    if ref is None:
        return None
    text = str(ref)
    path = Path(text)
    is_path = text.endswith((".yaml", ".yml")) or "/" in text or "\\" in text
    if not is_path or not path.is_file():
        return text
    return {"file": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
