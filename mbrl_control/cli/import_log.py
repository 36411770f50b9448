"""``mbrl-control import``: bring a lab's logs into a transition store.

``--csv LOG.csv [LOG2.csv ...]``: CSV logs with a time column and, per task joint,
positions, velocities (derived by finite differences when absent) and the action column
(commanded or measured: you choose). Columns come from the task file's ``csv_log`` section
or the defaults (``time``/``t``/``timestamp``; ``<joint>_pos``, ``<joint>_vel``,
``<joint>_cmd`` or ``<joint>_effort``); the flags below override it key by key.
See docs/csv_logs.md.

``--bag BAG``: a rosbag2 bag (directory with MCAP or sqlite3 storage, or one .mcap/.db3
file) with joint_states and commands, as ``finetune --bag`` reads it.

Rows/messages are validated by the shared JointState rules and cut into episodes by the one
segmentation rule (control grid, 1.5-period gap tolerance, impossible jumps). Prints one
line: ``kept N transitions in E episodes from F files; dropped ... because ...``. The store is
appended to; a file already imported into it (same content) is skipped with a warning.
"""

from __future__ import annotations

import argparse
import sys

from mbrl_control.cli.checks import (
    existing_file,
    existing_path,
    nonneg_int,
    out_dir,
    task_name,
)

TIME_UNITS = ("s", "ms", "us", "ns")  # csv_log_section.TIME_UNITS (a test keeps them equal)
ANGLE_UNITS = ("rad", "deg")  # csv_log_section.ANGLE_UNITS
CSV_FLAGS = {  # option dest -> csv_log key
    "time_column": "time_column",
    "time_unit": "time_unit",
    "delimiter": "delimiter",
    "position_columns": "positions",
    "velocity_columns": "velocities",
    "action_columns": "actions",
    "angle_unit": "angle_unit",
    "episode_column": "episode_column",
    "goal_columns": "goal",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--csv", nargs="+", type=existing_file, metavar="LOG", help="CSV log file(s)")
    src.add_argument(
        "--bag",
        type=existing_path,
        help="rosbag2 bag: a directory (MCAP or sqlite3 storage) or one .mcap/.db3 file",
    )
    parser.add_argument(
        "--task",
        type=task_name,
        required=True,
        help="built-in task name or task file (its csv_log section maps the columns)",
    )
    parser.add_argument(
        "--out", type=out_dir, required=True, help="transition store (created or appended to)"
    )
    g = parser.add_argument_group("CSV columns (override the task file's csv_log section)")
    g.add_argument("--time-column", help="time column (default: time, t, timestamp, ...)")
    g.add_argument("--time-unit", choices=TIME_UNITS, help="unit of the time column (default: s)")
    g.add_argument("--delimiter", help="one character, e.g. ';' or '\\t' (default: guessed)")
    g.add_argument(
        "--position-columns",
        metavar="MAP",
        help="joint=column,... or a pattern such as '{joint}_pos' (default: <joint>_pos, "
        "<joint>_position)",
    )
    g.add_argument(
        "--velocity-columns",
        metavar="MAP",
        help="joint=column,..., a pattern such as '{joint}_vel', or 'derive' (finite "
        "differences; also used when the log has none)",
    )
    g.add_argument(
        "--action-columns",
        metavar="MAP",
        help="action-or-joint=column,... or a pattern with {joint}/{action}; the commanded or "
        "the measured column, your choice (default: <joint>_cmd, <joint>_command, <action>, "
        "and for effort tasks <joint>_effort; several matches are refused)",
    )
    g.add_argument("--angle-unit", choices=ANGLE_UNITS, help="angles in the log (default: rad)")
    g.add_argument("--episode-column", help="a column whose change starts a new episode")
    g.add_argument("--goal-columns", help="comma-separated goal columns (tasks with a goal)")
    parser.add_argument(
        "--max-episode-steps",
        type=nonneg_int,
        help="cut longer stretches into episodes of this many transitions, nothing lost "
        "(default: the task's episode_steps; 0: no limit)",
    )
    parser.add_argument("--namespace", help="--bag: read the topics under this namespace")
    parser.add_argument("--json", action="store_true", help="also print the report as JSON")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def csv_spec(args: argparse.Namespace, task: object):
    """The task's ``csv_log`` section with the flags given on the command line applied
    (validated like the file; errors name the flag)."""
    from mbrl_control.tasks.csv_log_section import (
        CsvLogSpec,
        parse_column_option,
        spec_from_values,
    )

    given = {}
    for dest, key in CSV_FLAGS.items():
        value = getattr(args, dest)
        if value is None:
            continue
        flag = "--" + dest.replace("_", "-")
        if key in ("positions", "velocities", "actions"):
            value = parse_column_option(value, flag)
        elif key == "goal":
            value = [c.strip() for c in value.split(",") if c.strip()]
        given[key] = value
    where = {key: "--" + dest.replace("_", "-") for dest, key in CSV_FLAGS.items()}
    base = getattr(task, "csv_log", None) or CsvLogSpec()
    return spec_from_values(given, task, where, base)


def run(args: argparse.Namespace) -> int:
    import json

    from mbrl_control.tasks import get_task

    task = get_task(args.task)
    steps = task.episode_steps if args.max_episode_steps is None else args.max_episode_steps
    max_length = steps or None
    if args.bag is not None:
        flags = ["--" + d.replace("_", "-") for d in CSV_FLAGS if getattr(args, d) is not None]
        if flags:
            raise ValueError(f"{', '.join(flags)}: CSV column options apply to --csv only")
        files, noun, unit = [_import_bag(args, task, max_length)], "bag", "messages"
    else:
        if args.namespace is not None:
            raise ValueError("--namespace applies to --bag only")
        from mbrl_control.data.csv_import import import_csv

        spec = csv_spec(args, task)  # the store is created once every file passed its checks
        report = import_csv(
            args.csv,
            task,
            args.out,
            spec,
            max_length=max_length,
            quiet=args.quiet,
            log_skips=False,
        )
        files, noun, unit = report.files, "file", "rows"
    from mbrl_control.data.import_report import summary_line

    line = summary_line(files, noun, unit)
    for f in files:
        if f.skipped:
            print(f"warning: {f.skipped}", file=sys.stderr)
        elif not f.transitions and len(files) > 1:
            print(f"warning: {f.path}: {summary_line([f], noun, unit)}", file=sys.stderr)
    if not any(f.transitions for f in files) and not all(f.skipped for f in files):
        raise ValueError(f"nothing usable: {line}")
    print(line)
    if args.json:
        out = [
            {
                "file": f.path,
                "sha256": f.sha256,
                "rows": f.rows,
                "transitions": f.transitions,
                "episode_ids": f.episode_ids,
                "dropped": f.dropped,
                "breaks": f.breaks,
                "notes": f.notes,
                "skipped": bool(f.skipped),
            }
            for f in files
        ]
        print(json.dumps({"store": str(args.out), "files": out}, indent=2))
    return 0


def _import_bag(args: argparse.Namespace, task: object, max_length: int | None):
    """``--bag``: the bag import of ``finetune --bag`` into the store, as a file report (the
    same summary line as CSV); a bag already in the store is skipped."""
    from mbrl_control.data.bag_import import import_bag
    from mbrl_control.data.csv_import import (
        already_imported,
        check_store_widths,
        content_sha256,
        imported_episodes,
    )
    from mbrl_control.data.import_report import FileReport
    from mbrl_control.data.store import TransitionStore

    sha = content_sha256(args.bag)
    f = FileReport(str(args.bag), sha256=sha)
    store = TransitionStore(args.out)
    check_store_widths(store, task)  # before "already imported": another task is another import
    entry = imported_episodes(store).get(sha)
    if already_imported(entry):
        f.skipped = (
            f"{args.bag}: already imported into {store.root} (same content, sha256 "
            f"{sha[:12]}..., as {entry['file']}: episodes {sorted(entry['ids'])}): skipped"
        )
        f.notes.append("skipped 1 bag already in the store")
        return f
    report = import_bag(
        args.bag,
        task,
        store,
        namespace=args.namespace,
        log_summary=False,
        extra_meta={"sha256": sha},
        skip=entry["indices"] if entry else (),
        max_length=max_length,
    )
    done = report.file_report()
    done.sha256 = sha
    return done
