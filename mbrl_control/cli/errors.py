"""One error policy for the CLI entry and the node runner.

A bad argument, parameter, file or name ends in ONE line on stderr,
``<prog>: error: <what is wrong and what is allowed>``, and exit code 2. Anything else
(a bug) ends in one line naming the exception and exit code 1. The traceback is printed
only with ``--debug`` (or ``MBRL_CONTROL_DEBUG=1``). Standard library only.
"""

from __future__ import annotations

import os
import sys
import traceback

EXIT_USAGE = 2
EXIT_INTERNAL = 1
MAX_CHARS = 400  # one readable line


class UsageError(ValueError):
    """A bad command-line argument; ``str()`` names it and what is allowed."""


def user_errors() -> tuple[type[BaseException], ...]:
    """Exception types that mean "bad input", not "bug".

    ValueError (validation, our config dataclasses, ``ParameterError``), KeyError (unknown
    names in registries), OSError (missing/unreadable files), and rclpy's argument and
    parameter errors when rclpy is already imported (the CLI never imports it for this).
    """
    kinds: list[type[BaseException]] = [ValueError, KeyError, OSError]
    if "rclpy" in sys.modules:
        from rclpy.exceptions import ParameterException

        kinds.append(ParameterException)
        try:
            from rclpy._rclpy_pybind11 import RCLInvalidROSArgsError

            kinds.append(RCLInvalidROSArgsError)
        except ImportError:  # pragma: no cover - other rclpy builds
            pass
    return tuple(kinds)


def one_line(exc: BaseException) -> str:
    """The exception's message on one line (KeyError without its repr quotes)."""
    if isinstance(exc, KeyError) and len(exc.args) == 1 and isinstance(exc.args[0], str):
        text = exc.args[0]
    elif isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        text = f"{exc.strerror}: {exc.filename}"
    else:
        text = str(exc)
    text = " ".join(part.strip() for part in text.strip().splitlines() if part.strip())
    if len(text) > MAX_CHARS:  # e.g. torch's paragraph on weights_only; --debug has it all
        text = text[: MAX_CHARS - 5] + " ..."
    return text or type(exc).__name__


def debug_requested(argv: list[str] | None = None) -> bool:
    """``--debug`` in ``argv`` or ``MBRL_CONTROL_DEBUG`` set to a true value."""
    if argv is not None and "--debug" in argv:
        return True
    return os.environ.get("MBRL_CONTROL_DEBUG", "").lower() in ("1", "true", "yes", "on")


def report(prog: str, exc: BaseException, debug: bool) -> int:
    """Print ``exc`` the house way and return the exit code (2 bad input, 1 bug)."""
    if debug:
        traceback.print_exception(exc)
    if isinstance(exc, user_errors()):
        print(f"{prog}: error: {one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    hint = "" if debug else " (run with --debug for the traceback)"
    print(f"{prog}: internal error: {type(exc).__name__}: {one_line(exc)}{hint}", file=sys.stderr)
    return EXIT_INTERNAL


def stdout_closed() -> int:
    """After a BrokenPipeError (``... --help | head``): silence stdout, exit code 0."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout without a file descriptor (tests)
        pass
    return 0
