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
from ._network import csr_from_positions


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
    input_columns : ndarray of int
        The columns the dense network reads: ``kept_inputs``, or column 0
        (with zero weights) when the output reads no input at all.
    """

    coefs: list[np.ndarray]
    intercepts: list[np.ndarray]
    kept_inputs: np.ndarray
    live_units: list[np.ndarray]
    constant_units: list[np.ndarray]
    input_columns: np.ndarray


def live_structure(
    coefs: list,
) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """Which inputs and hidden units a network's output depends on.

    Parameters
    ----------
    coefs : list of sparse arrays of shape (n_in, n_out), or their shapes
        The weights; their non-zero stored entries are the kept weights. A
        shape stands for a layer that keeps every weight (no pattern built).

    Returns
    -------
    kept_inputs : ndarray of int
        The inputs a kept weight of a live unit reads.
    live_units : list of ndarray of int
        Per hidden layer, its live units: each reads a live unit or input
        and is read by a live unit or the output (none when the output
        reads nothing through the layer: the output is then a constant).
    constant_units : list of ndarray of int
        Per hidden layer, the units with no kept input (after the constant
        units below are folded away): each emits ``activation(bias)``.
    """
    masks = [_Full(W) if isinstance(W, tuple) else _pattern(W) for W in coefs]
    n_hidden = len(masks) - 1
    # Forward: units that read nothing are constants; once folded into the
    # layer above they have no outputs, and the units that read only them
    # read nothing in turn.
    constant = []
    for i in range(n_hidden):
        const = np.flatnonzero(~_reads_anything(masks[i]))
        if const.size:
            masks[i + 1] = _without_rows(masks[i + 1], const)
        constant.append(const)
    # Backward: units whose outputs nothing live reads are removed, which can
    # leave the units below them unread in turn.
    live: list[np.ndarray] = [np.empty(0, np.intp)] * n_hidden
    read = np.ones(masks[-1].shape[1], dtype=bool)
    for i in range(n_hidden, -1, -1):
        read = _is_read(masks[i][:, read])
        kept = np.flatnonzero(read)
        if i:
            live[i - 1] = kept
        else:
            kept_inputs = kept
    return kept_inputs, live, constant


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
        The exact dense network of the live units (see
        :func:`live_structure`); a layer with no live unit keeps one, with
        zero weights and bias, and so does the input, so that the network
        keeps its depth. ``coefs`` and ``intercepts`` are left as they are.
    """
    kept_inputs, live, constant = live_structure(coefs)
    biases = [np.array(b, copy=True) for b in intercepts]
    # Layer by layer, so that a constant unit fed by constants below sees
    # their contributions in its bias first.
    for i, const in enumerate(constant):
        if const.size:
            values = biases[i][const].copy()
            ACTIVATIONS[activation](values[None, :])
            biases[i + 1] += values @ sp.csr_array(coefs[i + 1])[const].toarray()
    rows = [kept_inputs, *live]
    columns = [*live, None]
    return Compaction(
        coefs=[_dense(W, r, c) for W, r, c in zip(coefs, rows, columns)],
        intercepts=[
            b if c is None else (b[c] if c.size else np.zeros(1, b.dtype))
            for b, c in zip(biases, columns)
        ],
        kept_inputs=kept_inputs,
        live_units=live,
        constant_units=constant,
        input_columns=kept_inputs if kept_inputs.size else np.zeros(1, np.intp),
    )


#: The columns :func:`ticket_cost` adds to a search's round table.
COST_KEYS = ("stored_bytes", "multiply_adds", "live_units")


def ticket_cost(coefs: list[sp.csr_array], intercepts: list[np.ndarray]) -> dict:
    """What a network costs to keep and to run, as ``history_`` reports it.

    ``stored_bytes``: its CSR weights (values, indices, row pointers) and
    biases; ``multiply_adds``: per sample, of the dense network of its live
    units (:meth:`~sklearn_lth.LotteryTicketMLP.to_sklearn`'s); ``live_units``:
    per hidden layer, as a tuple.
    """
    stored = sum(W.data.nbytes + W.indices.nbytes + W.indptr.nbytes for W in coefs)
    return _cost(coefs, stored + sum(b.nbytes for b in intercepts))


def network_cost(network) -> dict:
    """:func:`ticket_cost` of a training :class:`~sklearn_lth._network.Network`.

    From its kept positions alone: a layer that keeps every weight builds no
    pattern (a dense round costs nothing to describe), and the bytes are
    those of the CSR arrays the network would be exported as.
    """
    patterns, stored = [], 0
    for layer in network.layers:
        positions = layer.sparse_positions
        if positions is None:
            patterns.append(layer.shape)
        else:
            kept = np.ones(positions.size, dtype=bool)
            patterns.append(csr_from_positions(positions, kept, layer.shape))
        stored += _csr_bytes(layer.shape, layer.n_kept, layer.bias.dtype)
        stored += layer.bias.nbytes
    return _cost(patterns, stored)


def _csr_bytes(shape: tuple[int, int], nnz: int, dtype) -> int:
    """Bytes of a CSR array as :func:`~sklearn_lth._network.csr_from_positions`
    builds it (int32 indices whenever they fit)."""
    largest = max(*shape, nnz)
    index_size = 4 if largest < np.iinfo(np.int32).max else 8
    return nnz * (np.dtype(dtype).itemsize + index_size) + (shape[0] + 1) * index_size


def _cost(coefs: list, stored_bytes: int) -> dict:
    kept_inputs, live, _ = live_structure(coefs)
    n_out = coefs[-1][1] if isinstance(coefs[-1], tuple) else coefs[-1].shape[1]
    sizes = [kept_inputs.size, *(len(u) for u in live), n_out]
    return {
        "stored_bytes": int(stored_bytes),
        "multiply_adds": int(sum(a * b for a, b in zip(sizes, sizes[1:]))),
        "live_units": tuple(len(u) for u in live),
    }


class _Full:
    """The pattern of a layer that keeps every weight, never built."""

    def __init__(self, shape: tuple[int, int]):
        self.shape = shape

    def __getitem__(self, key) -> _Full | sp.csr_array:
        # Only ``[:, columns]`` (columns as a boolean mask) is asked for.
        _, columns = key
        return _Full((self.shape[0], int(np.count_nonzero(columns))))


def _pattern(W) -> sp.csr_array:
    """The non-zero stored entries of ``W``, as a boolean CSR array."""
    W = sp.csr_array(W)
    # Index arrays of its own: eliminate_zeros compacts them in place.
    pattern = sp.csr_array(
        (W.data != 0, W.indices.copy(), W.indptr.copy()), shape=W.shape
    )
    pattern.eliminate_zeros()
    return pattern


def _reads_anything(mask) -> np.ndarray:
    """For each column (unit) of ``mask``, whether it has a kept weight."""
    if isinstance(mask, _Full):
        return np.full(mask.shape[1], mask.shape[0] > 0)
    return np.bincount(mask.indices, minlength=mask.shape[1]) > 0


def _is_read(mask) -> np.ndarray:
    """For each row (unit below) of ``mask``, whether a kept weight reads it."""
    if isinstance(mask, _Full):
        return np.full(mask.shape[0], mask.shape[1] > 0)
    return np.diff(sp.csr_array(mask).indptr) > 0


def _without_rows(mask, rows: np.ndarray) -> sp.csr_array:
    """``mask`` with ``rows`` emptied (a new array)."""
    if isinstance(mask, _Full):  # built now: constants below a full layer
        n_in, n_out = mask.shape
        mask = sp.csr_array(
            (
                np.ones(n_in * n_out, dtype=bool),
                np.tile(np.arange(n_out, dtype=np.int64), n_in),
                np.arange(0, n_in * n_out + 1, n_out, dtype=np.int64),
            ),
            shape=mask.shape,
        )
    keep = np.ones(mask.shape[0], dtype=bool)
    keep[rows] = False
    row_of_entry = np.repeat(np.arange(mask.shape[0]), np.diff(mask.indptr))
    data = mask.data & keep[row_of_entry]
    emptied = sp.csr_array(
        (data, mask.indices.copy(), mask.indptr.copy()), shape=mask.shape
    )
    emptied.eliminate_zeros()
    return emptied


def _dense(W, rows: np.ndarray, columns: np.ndarray | None) -> np.ndarray:
    """``W[rows][:, columns]`` as a C-contiguous dense array; no rows (or
    columns) give one of zeros, a place holder."""
    W = sp.csr_array(W)
    n_columns = W.shape[1] if columns is None else max(1, columns.size)
    dense = np.zeros((max(1, rows.size), n_columns), dtype=W.dtype)
    if rows.size and (columns is None or columns.size):
        part = W[rows] if columns is None else W[rows][:, columns]
        dense[...] = part.toarray()
    return dense


def input_importances(
    coefs: list[sp.sparray], intercepts: list[np.ndarray], activation: str
) -> np.ndarray:
    """Each input's summed kept first-layer weight magnitudes into live units.

    Normalised to sum to 1 (all zeros if nothing is live). ``intercepts`` and
    ``activation`` do not change which units are live: unused.
    """
    kept_inputs, live, _ = live_structure(coefs)
    importances = np.zeros(coefs[0].shape[0])
    if kept_inputs.size:
        # The first layer of the compacted network, without building the rest.
        first = sp.csr_array(coefs[0])[kept_inputs]
        if live:
            first = first[:, live[0]]
        importances[kept_inputs] = abs(first).sum(axis=1)
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
    if compacted.input_columns.size == n_features:
        if hasattr(estimator, "feature_names_in_"):
            mlp.feature_names_in_ = estimator.feature_names_in_
        return mlp
    # Some inputs are read by no kept weight: a selector in front of the MLP
    # passes on the others (by position, for arrays and data frames alike).
    selector = ColumnTransformer(
        [("kept_inputs", "passthrough", compacted.input_columns.tolist())],
        remainder="drop",
        verbose_feature_names_out=False,
    )
    # Arrays out whatever scikit-learn's transform_output says: the MLP was
    # fitted without feature names.
    selector.set_output(transform="default")
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
    mlp = kind(hidden_layer_sizes=tuple(W.shape[1] for W in compacted.coefs[:-1]))
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
    mlp.n_features_in_ = int(compacted.input_columns.size)
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
