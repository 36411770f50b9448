"""``mbrl-control``: the command-line entry point.

Each subcommand lives in its own module ``mbrl_control.cli.<name>`` exposing
``add_arguments(parser)`` and ``run(args) -> int``. Those modules import only the standard
library at import time (heavy imports happen inside ``run``), so ``--help`` is instant.

One error handler for every subcommand (:func:`main`, policy in :mod:`mbrl_control.cli.errors`):
a bad argument, file or name prints one line ``mbrl-control <cmd>: error: ...`` and exits 2;
the traceback only with ``--debug``. Arguments are checked at parse time where possible
(:mod:`mbrl_control.cli.checks`), and a failed run leaves no empty directory behind that it
created (:func:`_remove_new_empty`).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path
from typing import Any, NoReturn

from mbrl_control import __version__
from mbrl_control.cli.errors import EXIT_USAGE, debug_requested, report, stdout_closed
from mbrl_control.cli.text import plain

# subcommand -> (module, one-line help). Order is the order in --help.
COMMANDS: dict[str, tuple[str, str]] = {
    "init-task": ("mbrl_control.cli.init_task", "scaffold a task file from a URDF (or a topic)"),
    "demo": ("mbrl_control.cli.demo", "cart-pole sim-to-real demo on embedded defaults (~3 min)"),
    "collect": ("mbrl_control.cli.collect", "collect domain-randomized transitions in sim"),
    "train": ("mbrl_control.cli.train", "train an ensemble dynamics model on a transition store"),
    "export": ("mbrl_control.cli.export", "compile a checkpoint + planner config to planner.onnx"),
    "evaluate": ("mbrl_control.cli.evaluate", "closed-loop episodes of a planner in sim"),
    "train-pixels": (
        "mbrl_control.cli.train_pixels",
        "learn control from camera frames: world model + latent planner (resumable)",
    ),
    "train-value": ("mbrl_control.cli.train_value", "learn a value + policy for a model (MBPO)"),
    "pretrain": ("mbrl_control.cli.pretrain", "collect, train and export in rounds (resumable)"),
    "finetune": ("mbrl_control.cli.finetune", "finetune a checkpoint on recorded robot data"),
    "import": ("mbrl_control.cli.import_log", "import CSV logs or a rosbag2 bag into a store"),
    "calibrate": ("mbrl_control.cli.calibrate", "fit the simulator's physics to robot data"),
    "adapt": ("mbrl_control.cli.adapt", "calibrate, re-pretrain, finetune, gate from robot data"),
    "experiment": ("mbrl_control.cli.experiment", "run a cited experiment (sim2real)"),
    "dyna": ("mbrl_control.cli.dyna", "Dyna-Q on a maze and FrozenLake: n planning steps vs seeds"),
    "ablation": (
        "mbrl_control.cli.ablation",
        "studies: value, rollout-length, uncertainty, ...",
    ),
    "report": ("mbrl_control.cli.html_report", "one offline HTML page per run folder"),
    "bench": ("mbrl_control.cli.bench", "benchmarks that print JSON (planner, sim, train, ...)"),
    "launch": ("mbrl_control.cli.launch", "run a ROS 2 YAML launch file without ros2 launch"),
}

DEBUG_HELP = "on errors, print the full traceback (also: MBRL_CONTROL_DEBUG=1)"


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps descriptions as written and appends ``(default: X)`` to every option with one.

    Unlike argparse's ArgumentDefaultsHelpFormatter it skips defaults that say nothing
    (None, False for flags) and help texts that already state their default.
    """

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (
            "default" in text
            or default is None
            or default is False
            or default in ("", argparse.SUPPRESS)
            or isinstance(action, (argparse._HelpAction, argparse._VersionAction))
            or not action.option_strings
        ):
            return text
        shown = ",".join(map(str, default)) if isinstance(default, (tuple, list)) else default
        return f"{text} (default: {str(shown).replace('%', '%%')})"


class ArgumentParser(argparse.ArgumentParser):
    """argparse with one-line errors and defaults in every help (used for nested parsers too)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        if kwargs.get("description"):  # a module docstring: help without reST markup
            kwargs["description"] = plain(kwargs["description"])
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see: {self.prog} --help)\n")


def _add_debug(parser: argparse.ArgumentParser) -> None:
    """``--debug`` on ``parser`` and every nested subcommand parser."""
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                _add_debug(sub)


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="mbrl-control",
        description="Model-based RL control for ROS 2: ensemble models + ONNX MPC planners.",
    )
    parser.add_argument("--version", action="version", version=f"mbrl_control {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module, help_text) in COMMANDS.items():
        mod = importlib.import_module(module)
        p = sub.add_parser(name, help=help_text, description=plain(mod.__doc__ or help_text))
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    _add_debug(parser)
    return parser


# ---- leave nothing behind on failure ---------------------------------------------------------
def _missing_roots(args: argparse.Namespace) -> list[Path]:
    """For every string argument naming a path that does not exist yet, its topmost missing
    ancestor (what a run would create: ``--out a/b/c`` with no ``a`` -> ``a``)."""
    roots: list[Path] = []
    for value in vars(args).values():
        for text in value if isinstance(value, (list, tuple)) else [value]:
            if not isinstance(text, str) or not text or "\0" in text:
                continue
            path = Path(text).absolute()
            if path.exists():
                continue
            while not path.parent.exists() and path.parent != path:
                path = path.parent
            roots.append(path)
    return roots


def _is_empty_tree(path: Path) -> bool:
    if path.is_symlink() or not path.is_dir():
        return False
    return all(_is_empty_tree(child) for child in path.iterdir())


def _remove_new_empty(roots: list[Path]) -> None:
    """Remove directories a failed run created and left empty (never anything with a file)."""
    for root in roots:
        if _is_empty_tree(root):
            for d in sorted(root.rglob("*"), key=lambda p: len(p.parts), reverse=True):
                d.rmdir()
            root.rmdir()


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand; return its exit code (argparse's too: main() never raises SystemExit).

    0 success, 2 bad input (one line on stderr), 1 unexpected error, 130 interrupted.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = build_parser().parse_args(argv)
        sys.stdout.flush()
    except SystemExit as exc:  # --help, --version, or a bad argument (already printed)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    except BrokenPipeError:  # --help | head
        return stdout_closed()
    debug = bool(getattr(args, "debug", False)) or debug_requested()
    prog = getattr(args, "_prog", f"mbrl-control {args.command}")  # a nested one names itself
    created = _missing_roots(args)
    code = 1
    try:
        code = int(args._run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        code = 130
    except BrokenPipeError:  # output piped into e.g. head, which has exited
        code = stdout_closed()
    except Exception as exc:
        code = report(prog, exc, debug)
    finally:
        if code != 0:
            _remove_new_empty(created)
    return code
