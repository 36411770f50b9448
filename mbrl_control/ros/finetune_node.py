"""``finetune_node``: records robot transitions, retrains, gates and hot-swaps planners.

Not implemented yet (issue: sim-to-real pipeline); ``--help`` works.
"""

from __future__ import annotations

import sys


def main(args: list[str] | None = None) -> int:
    argv = sys.argv[1:] if args is None else args
    print(__doc__.strip())
    return 0 if {"-h", "--help"} & set(argv) else 2


if __name__ == "__main__":
    sys.exit(main())
