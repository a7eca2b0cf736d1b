"""Steps of the saved pipeline that make it take rows as other readers give them.

The command line reads a CSV file its own way (:mod:`._tabular`: cells
stripped, True/False as text). The saved model must take the same file's
rows as ``pandas.read_csv`` gives them (spaces kept, ``True``/``False`` as
booleans, ``NA``/``None`` as missing) and as :mod:`csv` or numpy give them
(object arrays of strings). :class:`TextCells` brings a text column's values
back to the command line's text before the one-hot encoder. It is pickled
with the model: it lives in this module, under this name, for good.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted

#: The cells ``pandas.read_csv`` reads as missing by default (its
#: ``na_values``): a category spelled so comes back as NaN.
PANDAS_MISSING = frozenset(
    {
        "",
        "#N/A",
        "#N/A N/A",
        "#NA",
        "-1.#IND",
        "-1.#QNAN",
        "-NaN",
        "-nan",
        "1.#IND",
        "1.#QNAN",
        "<NA>",
        "N/A",
        "NA",
        "NULL",
        "NaN",
        "None",
        "n/a",
        "nan",
        "null",
    }
)


def _missing(value) -> bool:
    """Whether ``value`` is what pandas or numpy put for a missing cell."""
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN, pandas.NA, NaT
    except (TypeError, ValueError):  # pandas.NA's truth value is ambiguous
        return True


class TextCells(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Text columns' values as the command line read them: stripped strings.

    Each value becomes ``str(value).strip()``, so that ``" blue"`` (pandas
    keeps the spaces after a separator) is the category ``blue`` and the
    boolean ``True`` (pandas parses a True/False column) is ``True``. A
    whole float (pandas reads a column of ``1``, ``2`` and ``NA`` as floats)
    is the category ``1`` when that is one, and a missing value (NaN, None)
    is the column's one category that pandas reads as missing (``NA``,
    ``None``, ``null``...), if it has exactly one; otherwise it matches no
    category.

    Attributes
    ----------
    categories_ : list of set of str
        Each column's values seen in ``fit``.
    missing_as_ : list of str or None
        Each column's category that pandas reads as missing, or None.
    n_features_in_ : int
        Columns seen in ``fit``.
    feature_names_in_ : ndarray of str
        Their names, when fitted on a DataFrame.
    """

    def fit(self, X, y=None):
        """Record each column's categories.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_columns)
            The text columns.
        y : None
            Ignored.

        Returns
        -------
        self : TextCells
        """
        cells = self._as_objects(X)
        if hasattr(X, "columns"):
            self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = cells.shape[1]
        self.categories_ = []
        self.missing_as_ = []
        for j in range(cells.shape[1]):
            seen = {str(value).strip() for value in cells[:, j]}
            self.categories_.append(seen)
            missing = sorted(seen & PANDAS_MISSING)
            self.missing_as_.append(missing[0] if len(missing) == 1 else None)
        return self

    def transform(self, X):
        """The values as stripped strings.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_columns)
            The text columns, as any reader gave them.

        Returns
        -------
        ndarray of object, of shape (n_samples, n_columns)
        """
        check_is_fitted(self, "categories_")
        cells = self._as_objects(X)
        if cells.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {cells.shape[1]} text columns, but {type(self).__name__} "
                f"was fitted on {self.n_features_in_}."
            )
        out = np.empty(cells.shape, dtype=object)
        for j in range(cells.shape[1]):
            categories, missing_as = self.categories_[j], self.missing_as_[j]
            out[:, j] = [
                self._text(value, categories, missing_as) for value in cells[:, j]
            ]
        return out

    @staticmethod
    def _as_objects(X) -> np.ndarray:
        cells = np.asarray(X, dtype=object)
        if cells.ndim != 2:
            raise ValueError(
                f"Expected a 2D array of text columns, got {cells.ndim} dimensions."
            )
        return cells

    @staticmethod
    def _text(value, categories: set[str], missing_as: str | None) -> str:
        if isinstance(value, str):
            return value.strip()
        if _missing(value):
            # Not a category: the encoder ignores it (all zeros).
            return "" if missing_as is None else missing_as
        text = str(value).strip()
        if (
            text not in categories
            and isinstance(value, numbers.Real)
            and not isinstance(value, (bool, np.bool_))
            and math.isfinite(value)
            and float(value).is_integer()
        ):
            whole = str(int(value))
            if whole in categories:
                return whole
        return text
