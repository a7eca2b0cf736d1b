"""The one module that imports scikit-learn's private API.

scikit-learn's estimator contract (1.6+) asks third-party estimators to use a
few names that live in private modules: the ``_fit_context`` decorator, the
parameter constraints of ``_param_validation`` and ``_check_sample_weight``;
the experiments index rows of any array-like as scikit-learn's own
cross-validation does (``_safe_indexing``, ``_num_samples``).
They are imported here only, so that a rename in a future scikit-learn is
mended in one place.
"""

from sklearn.base import _fit_context
from sklearn.utils._indexing import _safe_indexing as safe_indexing
from sklearn.utils._param_validation import (
    Interval,
    InvalidParameterError,
    Options,
    StrOptions,
)
from sklearn.utils.validation import _check_sample_weight as check_sample_weight
from sklearn.utils.validation import _num_samples as num_samples

__all__ = [
    "Interval",
    "InvalidParameterError",
    "Options",
    "StrOptions",
    "_fit_context",
    "check_sample_weight",
    "num_samples",
    "safe_indexing",
]
