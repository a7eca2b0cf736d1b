"""Pieces shared by the estimators: targets, architecture, prediction."""

from __future__ import annotations

from numbers import Integral

import numpy as np
import scipy.sparse as sp
from sklearn import get_config
from sklearn.base import is_regressor
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from ._compat import check_sample_weight
from ._prediction import predict_csr, prediction_operands


def hidden_layer_units(hidden_layer_sizes) -> list[int]:
    """``hidden_layer_sizes`` as a list of positive ints, or a clear error."""
    sizes = hidden_layer_sizes
    sizes = [sizes] if isinstance(sizes, Integral) else list(sizes)
    if any(not isinstance(s, Integral) or s < 1 for s in sizes):
        raise ValueError(
            f"hidden_layer_sizes must hold positive integers, got {sizes}."
        )
    return [int(s) for s in sizes]


def validate_training_data(estimator, X, y, sample_weight, *, reset: bool):
    """``X, y, sample_weight`` as ``fit`` and ``partial_fit`` train on them.

    ``X`` is float64 or float32 (a sparse ``X`` in CSR: mini-batches and
    predictions take rows), ``y`` numeric for a regressor, the weights
    non-negative in ``X``'s dtype. ``reset``: the data sets the number of
    features (and their names) instead of being checked against them.
    """
    X, y = validate_data(
        estimator,
        X,
        y,
        accept_sparse=["csr", "csc"],
        multi_output=True,
        y_numeric=is_regressor(estimator),
        dtype=(np.float64, np.float32),
        reset=reset,
    )
    if sp.issparse(X):
        X = X.tocsr()
    if sample_weight is not None:
        sample_weight = check_sample_weight(
            sample_weight, X, dtype=X.dtype, ensure_non_negative=True
        )
    return X, y, sample_weight


def encode_classes(y, dtype) -> tuple[np.ndarray, LabelBinarizer, np.ndarray]:
    """Classification targets: ``y`` (1-d when a column), its binarizer, ``Y``.

    ``Y`` is one column per class (one for binary targets), in ``dtype``.
    """
    if y.ndim == 2 and y.shape[1] == 1:
        # A column is one target, not one label: 1-d, with scikit-learn's
        # DataConversionWarning.
        y = column_or_1d(y, warn=True)
    check_classification_targets(y)
    binarizer = LabelBinarizer().fit(y)
    if len(binarizer.classes_) < 2:
        raise ValueError(
            f"y has only one class ({binarizer.classes_[0]}); a classifier needs "
            "samples of at least 2 classes."
        )
    return y, binarizer, binarizer.transform(y).astype(dtype, copy=False)


class CSRPredictorMixin:
    """Estimators that predict from CSR ``coefs_`` through prebuilt operands.

    The operands (dense copies of dense layers, CSC views of sparse ones) are
    derived from ``coefs_``; they are left out of pickles, which stay small,
    and rebuilt when an estimator is loaded. Needs the fitted ``coefs_``,
    ``intercepts_``, ``out_activation_`` and the parameter ``activation``.
    """

    def _forward(self, X) -> np.ndarray:
        check_is_fitted(self)
        if not self._is_plain_valid_input(X):
            X = validate_data(
                self,
                X,
                accept_sparse=["csr", "csc"],
                dtype=(np.float64, np.float32),
                reset=False,
            )
        return predict_csr(
            X, self._operands, self.intercepts_, self.activation, self.out_activation_
        )

    def _is_plain_valid_input(self, X) -> bool:
        """Whether ``X`` is a float array that ``validate_data`` would pass as is.

        Prediction on a few samples is dominated by input validation; this
        fast path accepts only what validation leaves unchanged (a finite 2-d
        float32/float64 ndarray with the fitted number of features, for a
        model fitted without feature names) and sends everything else, with
        its warnings and errors, through ``validate_data``.
        """
        return (
            type(X) is np.ndarray
            and X.ndim == 2
            and X.dtype in (np.float32, np.float64)
            and X.shape[0] > 0
            and X.shape[1] == self.n_features_in_
            and not hasattr(self, "feature_names_in_")
            # A NaN or inf anywhere makes the sum non-finite: one pass, no
            # boolean array. A finite X whose sum overflows only takes the
            # slow path.
            and (get_config()["assume_finite"] or bool(np.isfinite(X.sum())))
        )

    def _with_weights(self, coefs, intercepts):
        """A shallow copy that predicts with ``coefs`` and ``intercepts``.

        Its prediction operands are built for them (not first for this
        estimator's, as ``copy.copy`` through ``__setstate__`` would), and
        it shares no ``partial_fit`` stream with this estimator.
        """
        copy = type(self).__new__(type(self))
        copy.__dict__.update(self.__dict__)
        copy.__dict__.pop("_incremental", None)
        copy.coefs_, copy.intercepts_ = coefs, intercepts
        copy._operands = prediction_operands(coefs)
        return copy

    def to_sklearn(self):
        """The ticket as a plain, fitted scikit-learn MLP of its live units.

        Hidden units with no kept output weight are removed; units with no
        kept input weight emit a constant, which is folded exactly into the
        next layer's biases; the remaining weights are stored dense. When
        some inputs are read by no kept weight of a live unit, the MLP comes
        after a ``ColumnTransformer`` that selects the others, in a
        ``Pipeline``. The result predicts what this estimator predicts (to
        float rounding of the folded biases), loads with scikit-learn alone,
        and converts with the tools that know scikit-learn's MLPs
        (``skl2onnx``'s converter knows no Poisson output:
        :func:`sklearn_lth.to_onnx` exports one). ``hidden_layer_sizes`` of
        the result gives the live units per hidden layer (at least one: a
        layer with none keeps one unit of zero weights).

        Returns
        -------
        MLPClassifier, MLPRegressor or Pipeline
            Fitted. Training settings scikit-learn's MLP does not take (a
            learning-rate schedule of this package's) keep its defaults.

        Examples
        --------
        >>> from sklearn.datasets import load_digits
        >>> from sklearn_lth import LotteryTicketMLP
        >>> X, y = load_digits(return_X_y=True)
        >>> clf = LotteryTicketMLP(
        ...     (32,), target_sparsity=0.9, pruning_rounds=2, max_iter=20,
        ...     random_state=0,
        ... ).fit(X / 16, y)
        >>> plain = clf.to_sklearn()
        >>> bool((plain.predict(X / 16) == clf.predict(X / 16)).all())
        True
        >>> len(plain.steps[-1][1].coefs_[0]) < 64  # unread pixels dropped
        True
        """
        check_is_fitted(self)
        from ._compaction import to_sklearn

        return to_sklearn(self)

    @property
    def feature_importances_(self) -> np.ndarray:
        """How much each input weighs in the ticket, summing to 1.

        The magnitudes of the kept first-layer weights that each input feeds
        into live hidden units (see :meth:`to_sklearn`), normalised to sum to
        1; an input no such weight reads weighs 0 (see
        ``unused_features_``). Enables ``SelectFromModel``.
        """
        from ._compaction import input_importances

        check_is_fitted(self)
        return input_importances(self.coefs_, self.intercepts_, self.activation)

    @property
    def unused_features_(self) -> np.ndarray:
        """The inputs that no kept weight of a live unit reads.

        Their names (``feature_names_in_``) when the estimator was fitted on
        named features, else their indices. Their values never change a
        prediction.
        """
        importances = self.feature_importances_
        unused = np.flatnonzero(importances == 0)
        names = getattr(self, "feature_names_in_", None)
        return unused if names is None else names[unused]

    def __getstate__(self):
        state = dict(super().__getstate__())  # a copy: never edit __dict__
        state.pop("_operands", None)
        # partial_fit's network and optimizer: a loaded model's next
        # partial_fit starts again from its coefs_ (with a fresh optimizer).
        state.pop("_incremental", None)
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        if "coefs_" in state:
            self._operands = prediction_operands(self.coefs_)


class CSRClassifierMixin(CSRPredictorMixin):
    """``predict_proba`` and ``predict`` decoded with the fitted binarizer."""

    def predict_proba(self, X):
        """Class probabilities.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        P = self._forward(X)
        if self.n_outputs_ == 1 and self._label_binarizer.y_type_ == "binary":
            # Binary targets train one logistic output, the positive class's.
            return np.hstack([1 - P, P])
        return P

    def predict(self, X):
        """Predicted class labels.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_labels)
        """
        P = self._forward(X)
        kind = self._label_binarizer.y_type_
        if kind == "multiclass":
            return self.classes_[P.argmax(axis=1)]
        if kind == "binary":
            return self.classes_[(P[:, 0] > 0.5).astype(np.intp)]
        # Multilabel: each label's probability thresholded at 0.5.
        return self._label_binarizer.inverse_transform(P)
