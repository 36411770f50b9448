"""`mbrl-control launch FILE [name:=value ...]`: run a ROS 2 YAML launch file without ros2 launch.

Supports the subset of the upstream launch_yaml schema described in docs/launch_subset.md:
``arg``, ``let``, ``node``, ``lifecycle_node`` (with ``autostart``), ``group``,
``push-ros-namespace``, ``include``; substitutions ``$(var)``, ``$(env)``, ``$(find-pkg-share)``.
Parameter values reach the nodes with the type the file gives them (a quoted ``'n'`` stays a
string; see mbrl_control/launcher/values.py). Exit codes: 2 for a launch-file or argument
error; 130 after Ctrl-C (143 after SIGTERM); else the exit code of the required node that
ended the launch, or 0 once every node has exited successfully.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import sys

from mbrl_control.cli.checks import float_in


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.usage = "%(prog)s [options] FILE [name:=value ...]"
    parser.epilog = "Options go before FILE. Supported subset of the schema: docs/launch_subset.md"
    parser.add_argument("file", help="a YAML launch file (*.launch.yaml)")
    parser.add_argument(
        "launch_args",
        nargs="*",
        metavar="name:=value",
        help="launch arguments, overriding the defaults declared with 'arg'",
    )
    parser.add_argument(
        "--show-args", action="store_true", help="list the file's launch arguments and exit"
    )
    parser.add_argument(
        "--print",
        dest="print_only",
        action="store_true",
        help="print each node's command line instead of starting the nodes",
    )
    parser.add_argument(
        "--sigterm-timeout",
        type=float_in(0.0, 3600.0),
        default=5.0,
        metavar="S",
        help="seconds after SIGINT before a node still running gets SIGTERM",
    )
    parser.add_argument(
        "--sigkill-timeout",
        type=float_in(0.0, 3600.0),
        default=5.0,
        metavar="S",
        help="seconds after SIGTERM before SIGKILL",
    )


def run(args: argparse.Namespace) -> int:
    from mbrl_control.launcher import parser, plan, runner
    from mbrl_control.launcher.model import LaunchError

    environ = dict(os.environ)
    try:
        launch = parser.load(args.file)
        if args.show_args:
            declared = plan.declared_args(launch.actions)
            print(f"Arguments of {args.file}:\n{plan.describe_args(declared)}")
            return 0
        commands = plan.plan(launch, plan.parse_cli_args(args.launch_args), environ)
    except LaunchError as exc:
        print(f"mbrl-control launch: error: {exc}", file=sys.stderr)
        return 2
    if args.print_only:
        for command in commands:
            flags = f" (output: {command.output}{', required' if command.required else ''})"
            print(f"[{command.label}]{flags}\n  {shlex.join(command.argv)}")
            if command.activate:
                print(f"  then: configure and activate {command.activate} (lifecycle autostart)")
            for path in command.temp_files:  # the printed command needs them: kept, and said
                print(f"  uses {path} (a substituted parameter file; delete it when done)")
        return 0
    try:
        return runner.Runner(
            commands,
            environ=environ,
            log_dir=runner.default_log_dir(environ),
            sigterm_timeout=args.sigterm_timeout,
            sigkill_timeout=args.sigkill_timeout,
        ).run()
    finally:  # substituted parameter files (allow_substs); --print leaves them, as upstream
        for command in commands:
            for path in command.temp_files:
                with contextlib.suppress(OSError):
                    os.unlink(path)
