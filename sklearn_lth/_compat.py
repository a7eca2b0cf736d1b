"""The one module that imports scikit-learn's private API.

scikit-learn's estimator contract (1.6+) asks third-party estimators to use a
few names that live in private modules: the ``_fit_context`` decorator, the
parameter constraints of ``_param_validation`` and ``_check_sample_weight``.
They are imported here only, so that a rename in a future scikit-learn is
mended in one place.
"""

from sklearn.base import _fit_context
from sklearn.utils._param_validation import (
    Interval,
    InvalidParameterError,
    Options,
    StrOptions,
)
from sklearn.utils.validation import _check_sample_weight as check_sample_weight

__all__ = [
    "Interval",
    "InvalidParameterError",
    "Options",
    "StrOptions",
    "_fit_context",
    "check_sample_weight",
]
