"""One-file ensemble checkpoints: weights + config + normalizers + provenance.

The file is a ``torch.save`` of plain containers (str/int/float/bool/list/dict and tensors),
loaded with ``torch.load(weights_only=True)``, so loading never unpickles arbitrary objects.
Normalizers are buffers of the model, so they travel inside the state dict; the uncertainty
calibration (``var_scale (K, P)`` and how it was fitted) is an optional ``calibration`` entry
(files without it load uncalibrated). Writes are
atomic: temp file in the same directory, fsync, rename, fsync of the directory.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from mbrl_control.models.config import EnsembleConfig
from mbrl_control.models.ensemble import Ensemble

FORMAT = "mbrl_control.ensemble"
FORMAT_VERSION = 1


def _plain(provenance: dict[str, Any], path: Path) -> dict[str, Any]:
    """Provenance as JSON-plain values (numpy scalars and paths become numbers / strings)."""

    def default(x: Any) -> Any:
        if hasattr(x, "tolist"):
            return x.tolist()
        if isinstance(x, Path):
            return str(x)
        raise TypeError(f"provenance value of type {type(x).__name__} is not JSON-like")

    try:
        return json.loads(json.dumps(provenance, default=default, allow_nan=True))
    except TypeError as exc:
        raise ValueError(f"{path}: {exc}") from None


def write_payload(path: str | os.PathLike[str], payload: dict[str, Any]) -> Path:
    """``torch.save`` plain ``payload`` to ``path`` atomically (temp file in the same folder,
    fsync, rename, fsync of the folder); returns the resolved path. Shared by every
    checkpoint kind (ensembles here, agents in :mod:`mbrl_control.agents.checkpoint`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(payload, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return path.resolve()


def read_payload(
    path: str | os.PathLike[str], fmt: str, version: int, kind: str, hint: str = ""
) -> dict[str, Any]:
    """The payload of a :func:`write_payload` file of format ``fmt`` at ``version``, loaded
    with ``weights_only=True``. ``FileNotFoundError`` for a missing file; ``ValueError``
    naming the file (and ``kind``, e.g. "ensemble") for an unreadable file, another format or
    another version (``hint`` says what to do about it)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint file ({kind})")
    if not zipfile.is_zipfile(path):  # a stray or truncated file: torch's own error is cryptic
        raise ValueError(f"{path}: not a readable checkpoint (not a torch.save zip archive)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for truncated/garbage/pickled files
        first = (str(exc).strip().splitlines() or [""])[0]
        raise ValueError(
            f"{path}: not a readable checkpoint ({type(exc).__name__}: {first})"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != fmt:
        raise ValueError(f"{path}: not an mbrl_control {kind} checkpoint (format != {fmt!r})")
    if payload.get("format_version") != version:
        raise ValueError(
            f"{path}: {kind} checkpoint format_version {payload.get('format_version')!r}; "
            f"this mbrl_control reads {version}{hint}"
        )
    return payload


def save_checkpoint(
    path: str | os.PathLike[str], model: Ensemble, provenance: dict[str, Any] | None = None
) -> Path:
    """Write ``model`` and its provenance to ``path`` atomically; return the resolved path.

    ``provenance`` (data size, validation metrics, ...) must be JSON-like; the package and
    torch versions and the creation time (UTC, ISO 8601) are added.
    """
    from mbrl_control import __version__

    path = Path(path)
    prov = _plain(dict(provenance or {}), path)
    prov.update(
        mbrl_control_version=__version__,
        torch_version=str(torch.__version__),
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": model.cfg.to_dict(),
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "provenance": prov,
        # optional (files before it load uncalibrated): uncertainty.calibration's factor
        "calibration": {
            "var_scale": model.var_scale.detach().cpu().clone(),
            "info": _plain(dict(model.calibration_info), path),
        },
    }
    return write_payload(path, payload)


def load_checkpoint(path: str | os.PathLike[str]) -> tuple[Ensemble, dict[str, Any]]:
    """Load ``(model in eval mode, provenance)`` from ``path``.

    Raises ``FileNotFoundError`` when the file is missing and ``ValueError`` naming the file
    and the problem when it is not a readable checkpoint, has the wrong format, an invalid
    config, weights that do not match the config, or non-finite weights.
    """
    path = Path(path)
    payload = read_payload(path, FORMAT, FORMAT_VERSION, "ensemble")
    missing = [k for k in ("config", "state_dict", "provenance") if k not in payload]
    if missing:
        raise ValueError(f"{path}: checkpoint lacks {missing}")
    try:
        cfg = EnsembleConfig.from_mapping(payload["config"])
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: bad model config: {exc}") from None
    model = Ensemble(cfg)
    state = payload["state_dict"]
    expected = model.state_dict()
    problems = [f"missing {k}" for k in expected if k not in state]
    problems += [f"unexpected {k}" for k in state if k not in expected]
    problems += [
        f"{k} has shape {tuple(state[k].shape)}, config needs {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    if problems:
        raise ValueError(f"{path}: weights do not match the config: {'; '.join(problems)}")
    bad = [k for k, v in state.items() if not bool(torch.isfinite(v).all())]
    if bad:
        raise ValueError(f"{path}: non-finite values in {bad}")
    model.load_state_dict(state)
    calibration = payload.get("calibration")  # absent in files written before issue 17
    if calibration is not None:
        try:
            model.set_calibration(calibration["var_scale"], dict(calibration.get("info") or {}))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path}: bad calibration: {exc}") from None
    model.eval()
    return model, dict(payload["provenance"])
