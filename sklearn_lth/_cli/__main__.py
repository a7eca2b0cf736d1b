"""``python -m sklearn_lth._cli``: runs :func:`main`, as the module did."""

import sys

from . import main

sys.exit(main())
