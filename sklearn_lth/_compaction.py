"""Compaction: a ticket as the smallest dense network that computes the same.

A pruned network computes units that no longer matter. A hidden unit with no
kept output weight changes nothing downstream: it is removed. A hidden unit
with no kept input weight emits the constant ``activation(bias)``: its
contribution is added to the next layer's biases, then it has no outputs and
is removed too. An input that no kept weight reads is dropped. What remains
is a dense network of the live units only, which every runtime runs at
its dense speed (rigl's ``get_compressed_fc`` does the same for LeNet-300-100).

:func:`compact` finds it; :func:`to_sklearn` wraps it as a fitted
``MLPClassifier`` or ``MLPRegressor`` (behind a column selector when inputs
were dropped), which loads with scikit-learn alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.compose import ColumnTransformer
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import Pipeline

from ._kernels import ACTIVATIONS


@dataclass(frozen=True)
class Compaction:
    """The live part of a network, as dense arrays.

    Attributes
    ----------
    coefs : list of ndarray
        Dense weights of the live units, layer by layer.
    intercepts : list of ndarray
        Their biases, with the constant units' contributions folded in.
    kept_inputs : ndarray of int
        The input columns the first layer reads, ascending.
    live_units : list of ndarray of int
        For each hidden layer, the indices of its units that remain.
    constant_units : list of ndarray of int
        For each hidden layer, the units that had no kept input weight and
        were folded into the next layer's biases.
    """

    coefs: list[np.ndarray]
    intercepts: list[np.ndarray]
    kept_inputs: np.ndarray
    live_units: list[np.ndarray]
    constant_units: list[np.ndarray]


def compact(
    coefs: list[sp.sparray], intercepts: list[np.ndarray], activation: str
) -> Compaction:
    """The live units of a network, and its weights among them.

    Parameters
    ----------
    coefs : list of sparse arrays of shape (n_in, n_out)
        The network's weights; the stored entries are the kept weights.
    intercepts : list of ndarray
        Its biases.
    activation : str
        The hidden layers' activation (which a constant unit emits).

    Returns
    -------
    Compaction
        The exact dense network of the live units. A hidden layer keeps at
        least one unit and the network at least one input (with zero weights
        where nothing is live), so that the result is still a network of the
        same depth.
    """
    weights = [sp.csr_array(W, copy=True) for W in coefs]
    biases = [np.array(b, copy=True) for b in intercepts]
    n_hidden = len(weights) - 1
    # Forward: units that read nothing are constants, folded into the layer
    # above; folding empties their rows, so their inputs see one user less.
    constant = []
    for i in range(n_hidden):
        reads = _reads_anything(weights[i])
        const = np.flatnonzero(~reads)
        if const.size:
            values = biases[i][const].copy()
            ACTIVATIONS[activation](values[None, :])
            above = weights[i + 1][const]
            biases[i + 1] = biases[i + 1] + values @ above.toarray()
            weights[i + 1] = _without_rows(weights[i + 1], const)
        constant.append(const)
    # Backward: units whose outputs nothing reads are removed, which can
    # leave the units below them unread in turn.
    live: list[np.ndarray] = [np.empty(0, np.intp)] * n_hidden
    read = np.ones(weights[-1].shape[1], dtype=bool)
    for i in range(n_hidden, -1, -1):
        read = _is_read(weights[i][:, read])
        # A layer with nothing live keeps one unit (whose outputs weigh zero):
        # it stays a layer.
        kept = np.flatnonzero(read) if read.any() else np.zeros(1, np.intp)
        if i:
            live[i - 1] = kept
        else:
            kept_inputs = kept
    rows = [kept_inputs, *live]
    columns = [*live, None]
    return Compaction(
        coefs=[_dense(W, r, c) for W, r, c in zip(weights, rows, columns)],
        intercepts=[b if c is None else b[c] for b, c in zip(biases, columns)],
        kept_inputs=kept_inputs,
        live_units=live,
        constant_units=constant,
    )


def _reads_anything(W: sp.csr_array) -> np.ndarray:
    """For each column (unit) of ``W``, whether it has a kept weight."""
    counts = np.bincount(W.indices[W.data != 0], minlength=W.shape[1])
    return counts > 0


def _is_read(W: sp.csr_array) -> np.ndarray:
    """For each row (unit below) of ``W``, whether a kept weight reads it."""
    nonzero = sp.csr_array((W.data != 0, W.indices, W.indptr), shape=W.shape)
    return np.asarray(nonzero.sum(axis=1)).ravel() > 0


def _without_rows(W: sp.csr_array, rows: np.ndarray) -> sp.csr_array:
    """``W`` with ``rows`` emptied (their stored entries dropped)."""
    keep = np.ones(W.shape[0], dtype=W.dtype)
    keep[rows] = 0
    W = sp.csr_array(sp.diags_array(keep) @ W)
    W.eliminate_zeros()
    return W


def _dense(W: sp.csr_array, rows: np.ndarray, columns: np.ndarray | None):
    """``W[rows][:, columns]`` as a C-contiguous dense array."""
    W = W[rows]
    if columns is not None:
        W = W[:, columns]
    return np.ascontiguousarray(W.toarray())


def input_importances(
    coefs: list[sp.sparray], intercepts: list[np.ndarray], activation: str
) -> np.ndarray:
    """Each input's summed kept first-layer weight magnitudes into live units.

    Normalised to sum to 1 (all zeros if nothing is live).
    """
    compacted = compact(coefs, intercepts, activation)
    importances = np.zeros(coefs[0].shape[0])
    importances[compacted.kept_inputs] = np.abs(compacted.coefs[0]).sum(axis=1)
    total = importances.sum()
    return importances / total if total > 0 else importances


# Fitted attributes of scikit-learn's MLPs that carry over as they are.
_TRAINING_ATTRIBUTES = (
    "n_iter_",
    "loss_",
    "loss_curve_",
    "best_loss_",
    "validation_scores_",
    "best_validation_score_",
    "t_",
)


def to_sklearn(estimator):
    """A fitted ``MLPClassifier``/``MLPRegressor`` of ``estimator``'s live units.

    See :meth:`LotteryTicketMLP.to_sklearn
    <sklearn_lth.LotteryTicketMLP.to_sklearn>`. ``estimator`` is fitted and
    has CSR ``coefs_``, ``intercepts_``, ``out_activation_``, ``n_outputs_``
    and ``activation`` (a classifier also ``classes_`` and its label
    binarizer).
    """
    compacted = compact(estimator.coefs_, estimator.intercepts_, estimator.activation)
    is_classifier = hasattr(estimator, "classes_")
    mlp = _plain_mlp(estimator, compacted, is_classifier)
    n_features = estimator.n_features_in_
    if compacted.kept_inputs.size == n_features:
        if hasattr(estimator, "feature_names_in_"):
            mlp.feature_names_in_ = estimator.feature_names_in_
        return mlp
    # Some inputs are read by no kept weight: a selector in front of the MLP
    # passes on the others (by position, for arrays and data frames alike).
    selector = ColumnTransformer(
        [("kept_inputs", "passthrough", compacted.kept_inputs.tolist())],
        remainder="drop",
        verbose_feature_names_out=False,
    )
    selector.fit(np.zeros((1, n_features), dtype=compacted.coefs[0].dtype))
    if hasattr(estimator, "feature_names_in_"):
        selector.feature_names_in_ = estimator.feature_names_in_
    return Pipeline([("select_inputs", selector), ("mlp", mlp)])


def _plain_mlp(estimator, compacted: Compaction, is_classifier: bool):
    """The fitted scikit-learn MLP with the compacted weights."""
    kind = MLPClassifier if is_classifier else MLPRegressor
    defaults = kind().get_params()
    params = {
        name: value
        for name, value in estimator.get_params(deep=False).items()
        if name in defaults and name != "hidden_layer_sizes"
    }
    mlp = kind(hidden_layer_sizes=tuple(len(u) for u in compacted.live_units))
    for name, value in params.items():
        # Our values scikit-learn's MLP does not take (a learning-rate
        # schedule of ours, say) keep its default: they are training
        # settings, which prediction never reads.
        try:
            kind(**{name: value})._validate_params()
        except (ValueError, TypeError):
            continue
        mlp.set_params(**{name: value})
    mlp.coefs_ = compacted.coefs
    mlp.intercepts_ = compacted.intercepts
    mlp.n_features_in_ = int(compacted.kept_inputs.size)
    mlp.n_layers_ = len(compacted.coefs) + 1
    mlp.n_outputs_ = estimator.n_outputs_
    mlp.out_activation_ = estimator.out_activation_
    if is_classifier:
        mlp.classes_ = estimator.classes_
        mlp._label_binarizer = estimator._label_binarizer
    for name in _TRAINING_ATTRIBUTES:
        if hasattr(estimator, name):
            setattr(mlp, name, getattr(estimator, name))
    return mlp
