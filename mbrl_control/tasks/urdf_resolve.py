"""Where robot-description files live: ``package://`` / ``$(find pkg)`` lookup and xacro expansion.

Robot descriptions found in the wild name files through ROS packages (``package://pkg/...`` in
mesh URIs, ``$(find pkg)`` in xacro). Without a sourced ROS workspace those still resolve here,
in this order (:func:`find_package`):

1. ``ROS_PACKAGE_PATH`` entries (the entry itself, or ``entry/pkg``, or ``entry/*/pkg``) and
   ``AMENT_PREFIX_PATH`` share directories (``prefix/share/pkg``);
2. a Python package of that name (e.g. ``pybullet_data``, ``mbrl_sim``): its directory;
3. a directory named like the package among the URDF's ancestors (or a direct child of one of
   them), as in a source checkout ``robot_description/urdf/robot.urdf``.

:func:`expand_xacro` runs the ``xacro`` package from PyPI with that lookup for ``$(find)``.
Standard library only at import time (xacro is imported on first expansion).
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import os
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path

LOOKED_IN = "ROS_PACKAGE_PATH, AMENT_PREFIX_PATH share dirs, Python packages, the URDF's ancestors"
"""Where :func:`find_package` looks, for error and warning lines."""
_XACRO_LOCK = threading.Lock()  # xacro keeps its state in module globals


class XacroError(ValueError):
    """A xacro file that does not expand (one line: the file and xacro's reason)."""


def _ros_candidates(pkg: str) -> Iterator[Path]:
    for entry in filter(None, os.environ.get("ROS_PACKAGE_PATH", "").split(os.pathsep)):
        root = Path(entry)
        if root.name == pkg:
            yield root
        yield root / pkg
        if root.is_dir():
            with contextlib.suppress(OSError):
                yield from (d / pkg for d in sorted(root.iterdir()) if d.is_dir())
    for prefix in filter(None, os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep)):
        yield Path(prefix) / "share" / pkg


def _python_package(pkg: str) -> Path | None:
    if not pkg.isidentifier():
        return None
    try:
        spec = importlib.util.find_spec(pkg)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def find_package(pkg: str, near: Path | None = None) -> Path | None:
    """The directory of ROS package (or Python package) ``pkg``, or None; see the module doc.

    ``near`` is the description file whose ancestors are searched last (step 3). Cached per
    (package, ``near``'s directory, search path environment).
    """
    env = tuple(os.environ.get(k, "") for k in ("ROS_PACKAGE_PATH", "AMENT_PREFIX_PATH"))
    where = None if near is None else str(Path(near).resolve().parent)
    return _find_package(pkg, where, env)


@functools.lru_cache(maxsize=256)
def _find_package(pkg: str, where: str | None, env: tuple[str, ...]) -> Path | None:
    for cand in _ros_candidates(pkg):
        if cand.is_dir():
            return cand.resolve()
    found = _python_package(pkg)
    if found is not None and found.is_dir():
        return found.resolve()
    if where is not None:
        for anc in (Path(where), *Path(where).parents):
            if anc.name == pkg:
                return anc
            if (anc / pkg).is_dir():
                return (anc / pkg).resolve()
    return None


def resolve_uri(uri: str, base_dir: Path, near: Path | None = None) -> Path | None:
    """A file reference from a URDF as an absolute path (existence not checked), or None when
    its package cannot be found: ``package://pkg/rest``, ``file://path``, an absolute path, or
    a path relative to ``base_dir`` (the URDF's directory)."""
    if uri.startswith("package://"):
        pkg, _, rest = uri[len("package://") :].partition("/")
        root = find_package(pkg, near)
        return None if root is None else root / rest
    if uri.startswith("file://"):
        uri = uri[len("file://") :]
    path = Path(uri).expanduser()
    return path if path.is_absolute() else (base_dir / path).resolve()


@contextlib.contextmanager
def _find_hook(near: Path) -> Iterator[None]:
    """Make xacro's ``$(find pkg)`` use :func:`find_package` (restored afterwards)."""
    from xacro import substitution_args as sa

    def _eval_find(pkg: str) -> str:
        root = find_package(pkg, near)
        if root is None:
            raise XacroError(f"$(find {pkg}): no package {pkg!r} (looked in {LOOKED_IN})")
        return str(root)

    saved = sa._eval_find, sa._eval_dict.get("find")
    sa._eval_find = _eval_find
    sa._eval_dict["find"] = _eval_find
    try:
        yield
    finally:
        sa._eval_find = saved[0]
        sa._eval_dict["find"] = saved[1]


def expand_xacro(path: Path, args: Mapping[str, str] | None = None) -> str:
    """The URDF text of xacro file ``path`` with ``args`` (``<xacro:arg>`` values, as strings).

    Raises :class:`XacroError` (one line naming the file) when xacro fails: a syntax error,
    an undefined property or macro, an unknown ``$(find)`` package, a missing include.
    """
    import xacro

    mappings = {str(k): str(v) for k, v in (args or {}).items()}
    with _XACRO_LOCK, _find_hook(Path(path)):
        try:
            doc = xacro.process_file(str(path), mappings=mappings)
        except XacroError as e:
            raise XacroError(f"{path}: {e}") from None
        except Exception as e:  # xacro raises XacroException, NameError, xml errors, KeyError
            reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise XacroError(f"{path}: xacro failed: {type(e).__name__}: {reason}") from None
        finally:
            xacro.filestack = []
            xacro.macrostack = []
    return doc.toxml()
