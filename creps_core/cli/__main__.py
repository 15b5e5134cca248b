"""``python -m creps_core.cli``: the ``creps`` command, where the console script is not installed."""

import sys

from creps_core.cli.main import main

sys.exit(main())
