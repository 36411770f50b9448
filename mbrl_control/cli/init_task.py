"""``mbrl-control init-task``: a task-file scaffold from a URDF (or a running robot's).

Reads the robot description (a ``.urdf`` or ``.urdf.xacro`` file, or from a running robot: the
``robot_description`` topic or parameter of ``robot_state_publisher``, saved as ``<name>.urdf``
beside the task file)
and writes a task file that loads as written: the movable joints with their URDF limits, a
command-interface guess (effort if the URDF gives efforts, else velocity; ``--interface``
overrides), actions bounded by the URDF limits, a tip point on the last link of the longest
chain (``--tip``), observation, a default cost, and comments marking what to edit. Then
check and edit it (docs/task_files.md), e.g.:

  mbrl-control init-task --urdf my_arm.urdf --out my_arm.task.yaml --interface velocity
  mbrl-control init-task --from-topic robot_description --out my_arm.task.yaml
  mbrl-control init-task --from-node robot_state_publisher --out my_arm.task.yaml
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from mbrl_control.cli.checks import existing_file, positive_float
from mbrl_control.cli.errors import UsageError

INTERFACES = ("effort", "velocity", "position")


def _xacro_arg(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"must be NAME=VALUE, got {text!r}")
    return name, value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--urdf", type=existing_file, help="robot description (.urdf or .xacro)")
    src.add_argument(
        "--from-topic",
        metavar="TOPIC",
        help="fetch the URDF from a running robot's topic (e.g. robot_description)",
    )
    src.add_argument(
        "--from-node",
        metavar="NODE",
        help="fetch the URDF from a running node's robot_description parameter "
        "(e.g. robot_state_publisher)",
    )
    parser.add_argument("--out", required=True, help="task file to write (e.g. my_arm.task.yaml)")
    parser.add_argument(
        "--interface", choices=INTERFACES, help="command interface (default: guessed from the URDF)"
    )
    parser.add_argument("--rate", type=positive_float, default=50.0, help="control rate, Hz")
    parser.add_argument(
        "--tip", metavar="LINK", help="link of the tip point (default: end of the longest chain)"
    )
    parser.add_argument("--name", help="task name (default: from --out)")
    parser.add_argument(
        "--xacro-arg",
        type=_xacro_arg,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a xacro argument (repeatable); written to robot.xacro_args",
    )
    parser.add_argument(
        "--timeout", type=positive_float, default=10.0, help="seconds to wait for a running robot"
    )
    parser.add_argument("--force", action="store_true", help="overwrite existing files")


def _task_name(out: Path, given: str | None) -> str:
    from mbrl_control.tasks.urdf_scaffold import identifier

    if given is not None:
        if identifier(given) != given:
            raise UsageError(f"--name {given!r}: use letters, digits and _ (a letter first)")
        return given
    stem = out.name
    for suffix in (".yaml", ".yml", ".task"):
        stem = stem.removesuffix(suffix)
    return identifier(stem, "task")


def _refuse_overwrite(path: Path, force: bool, what: str) -> None:
    if path.exists() and not force:
        raise UsageError(f"{what} {path} exists; use --force to overwrite it")
    if path.is_dir():
        raise UsageError(f"{what} {path} is a directory")


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def run(args: argparse.Namespace) -> int:
    from mbrl_control.tasks.robot_description import load_urdf
    from mbrl_control.tasks.task_file import load_task_file
    from mbrl_control.tasks.urdf_scaffold import scaffold_task

    out = Path(args.out)
    if out.suffix not in (".yaml", ".yml"):
        raise UsageError(f"--out {args.out!r}: a task file ends in .yaml or .yml")
    _refuse_overwrite(out, args.force, "--out")
    name = _task_name(out, args.name)
    xacro_args = dict(args.xacro_arg)
    written: list[Path] = []
    running = args.from_topic is not None or args.from_node is not None
    if running:
        from mbrl_control.ros import robot_description as live

        if xacro_args:
            raise UsageError("--xacro-arg applies to --urdf FILE.xacro only")
        urdf = out.parent / f"{name}.urdf"
        _refuse_overwrite(urdf, args.force, "the fetched URDF's file")
        if args.from_topic is not None:
            text = live.fetch_robot_description(args.from_topic, args.timeout)
            source = f"topic {args.from_topic!r}"
        else:
            text = live.fetch_robot_description_parameter(args.from_node, args.timeout)
            source = f"parameter robot_description of node {args.from_node!r}"
        out.parent.mkdir(parents=True, exist_ok=True)
        _write(urdf, text)
        written.append(urdf)
    else:
        urdf = Path(args.urdf)
        if xacro_args and not urdf.name.endswith(".xacro"):
            raise UsageError(f"--xacro-arg: {urdf} is not a .xacro file")
        source = str(urdf)
    # the warnings are printed here, once, with the command's prefix
    logging.getLogger("mbrl_control.tasks.robot_description").addHandler(logging.NullHandler())
    try:
        desc = load_urdf(urdf, xacro_args)
        for line in desc.warnings:
            print(f"mbrl-control init-task: warning: {line}", file=sys.stderr)
        out.parent.mkdir(parents=True, exist_ok=True)
        here, there = out.parent.resolve(), urdf.resolve()
        # relative to the task file (movable together), unless they share only the root
        apart = Path(os.path.commonpath([here, there])) == Path(here.anchor)
        ref = str(there) if apart else os.path.relpath(there, here)
        text = scaffold_task(
            desc.tree,
            Path(ref).as_posix(),
            name,
            interface=args.interface,
            rate=args.rate,
            tip=args.tip,
            xacro_args=xacro_args,
            source=source,
        )
        _write(out, text)
        written.append(out)
        task = load_task_file(out)  # the scaffold must load as written
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    print(
        f"wrote {out} (task {task.name!r}: {len(task.joint_names)} joints, "
        f"{task.command_interface} commands on {', '.join(task.command_joints)}, "
        f"tip on link {task.definition['points']['tip']['link']!r})"
    )
    if running:
        print(f"wrote {urdf} (the robot description from {source})")
    print("next: edit the lines marked EDIT (cost, success, initial state); docs/task_files.md")
    return 0
