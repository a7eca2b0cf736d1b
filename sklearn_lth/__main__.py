"""``python -m sklearn_lth``: the command-line entry point."""

import sys

from ._entry import main

sys.exit(main())
