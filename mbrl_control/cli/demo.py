"""`mbrl-control demo`: not implemented yet (see the open issues)."""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = "not implemented yet"


def run(args: argparse.Namespace) -> int:
    print("mbrl-control demo: not implemented yet", file=sys.stderr)
    return 2
