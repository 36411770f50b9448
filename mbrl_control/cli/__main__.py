"""``python -m mbrl_control.cli``."""

import sys

from mbrl_control.cli import main

sys.exit(main())
