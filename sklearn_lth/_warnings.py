"""Warnings that point at the user's line, however deep they are raised.

A warning raised in the IMP loop is many calls below the user's ``fit``; a
fixed ``stacklevel`` breaks whenever a call is added on the way. :func:`warn`
instead walks up the stack past this package's frames (and scikit-learn's
``fit`` wrappers), so the warning names the line that called us.
"""

from __future__ import annotations

import os
import sys
import warnings

_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep

# scikit-learn's wrappers around our methods (``_fit_context``, ``available_if``):
# the user's line is the one above them.
_WRAPPERS = (
    os.sep + os.path.join("sklearn", "base.py"),
    os.sep + os.path.join("sklearn", "utils", "_available_if.py"),
)


def _ours(filename: str) -> bool:
    return filename.startswith(_PACKAGE) or filename.endswith(_WRAPPERS)


def warn(message: str, category: type[Warning] = UserWarning) -> None:
    """``warnings.warn(message, category)``, attributed to the first caller
    outside sklearn-lth (and scikit-learn's wrappers of its methods)."""
    level, frame = 2, sys._getframe(1)
    while frame.f_back is not None and _ours(frame.f_code.co_filename):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)
