"""The winning ticket: which weights survive, and the values they restart from."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


class LotteryTicket:
    """A sparse sub-network: its masks and the weights it is retrained from.

    A ticket is what iterative magnitude pruning finds. It holds, for each
    layer, the positions of the surviving weights together with the values
    they are rewound to before the final round of training (for
    ``rewind="init"`` the initial weights), plus the biases of that point.
    Pass it to :class:`LotteryTicketMLP` (``ticket=...``) to train the same
    sub-network alone, for example on another dataset of the same shape.

    Parameters
    ----------
    weights : list of scipy.sparse.csr_array of shape (n_in, n_out)
        Per layer, the rewind values of the surviving weights; the sparsity
        pattern is the mask.
    intercepts : list of ndarray of shape (n_out,)
        Per layer, the biases at the rewind point. Biases are never pruned.
    sparsity_history : array-like of float, default=None
        The sparsity after each round of the search that found the ticket.

    Attributes
    ----------
    masks : list of ndarray of bool
        Per layer, True where the weight survives (dense, computed on access).
    sparsity : float
        Fraction of the weights pruned.
    remaining_parameters : int
        Number of surviving weights.
    total_parameters : int
        Number of weights of the dense network.
    compression_ratio : float
        ``total_parameters / remaining_parameters``.

    Examples
    --------
    >>> import numpy as np
    >>> import scipy.sparse as sp
    >>> from sklearn_lth import LotteryTicket
    >>> W = sp.csr_array(np.array([[0.5, 0.0], [0.0, -0.2]]))
    >>> ticket = LotteryTicket([W], [np.zeros(2)])
    >>> ticket.remaining_parameters, ticket.total_parameters, ticket.sparsity
    (2, 4, 0.5)
    >>> ticket.compression_ratio
    2.0
    """

    def __init__(self, weights, intercepts, sparsity_history=None):
        # Canonical CSR: a search reads the entries as sorted, unique flat
        # positions, the only form in which its layers keep weights.
        self.weights = [_canonical_csr(W) for W in weights]
        self.intercepts = [np.asarray(b) for b in intercepts]
        self.sparsity_history = (
            None if sparsity_history is None else np.asarray(sparsity_history, float)
        )
        self.check()

    def check(self) -> None:
        """Raise ValueError unless the ticket can be trained as it is.

        Checked on construction and again by every ``fit`` that uses the
        ticket, so that a ticket whose arrays were changed afterwards (or
        unpickled from an untrusted file) is refused with the reason, never
        trained with one weight and used with another.
        """
        if len(self.weights) != len(self.intercepts) or not self.weights:
            raise ValueError(
                f"A ticket needs one intercept vector per layer: got "
                f"{len(self.weights)} weight matrices and "
                f"{len(self.intercepts)} intercept vectors."
            )
        for i, (W, b) in enumerate(zip(self.weights, self.intercepts)):
            _check_layer(i, W, b)
        for i in range(1, len(self.weights)):
            if self.weights[i].shape[0] != self.weights[i - 1].shape[1]:
                raise ValueError(
                    f"Layer {i} of the ticket takes {self.weights[i].shape[0]} "
                    f"inputs but layer {i - 1} gives {self.weights[i - 1].shape[1]}."
                )

    @property
    def masks(self) -> list[np.ndarray]:
        masks = []
        for W in self.weights:
            mask = np.zeros(W.shape, dtype=bool)
            entry_rows = np.repeat(np.arange(W.shape[0]), np.diff(W.indptr))
            mask[entry_rows, W.indices] = True
            masks.append(mask)
        return masks

    @property
    def layer_shapes(self) -> list[tuple[int, int]]:
        return [W.shape for W in self.weights]

    @property
    def remaining_parameters(self) -> int:
        return int(sum(W.nnz for W in self.weights))

    @property
    def total_parameters(self) -> int:
        return int(sum(W.shape[0] * W.shape[1] for W in self.weights))

    @property
    def sparsity(self) -> float:
        return 1.0 - self.remaining_parameters / self.total_parameters

    @property
    def compression_ratio(self) -> float:
        # A ticket with no weight left counts as one, not as a division by 0.
        return self.total_parameters / max(self.remaining_parameters, 1)

    def __repr__(self) -> str:
        units = [self.weights[0].shape[0]] + [W.shape[1] for W in self.weights]
        return (
            f"LotteryTicket(layers={'-'.join(map(str, units))}, "
            f"remaining={self.remaining_parameters}/{self.total_parameters}, "
            f"sparsity={self.sparsity:.4f})"
        )


def _canonical_csr(W) -> sp.csr_array:
    """``W`` as a CSR array with sorted indices, duplicates summed (a copy if so).

    Duplicate entries of a sparse matrix mean their sum, as in scipy.
    """
    W = W if isinstance(W, sp.csr_array) else sp.csr_array(W)
    if not _sorted_unique_indices(W):
        W = W.copy()
        W.sum_duplicates()
    return W


def _sorted_unique_indices(W: sp.csr_array) -> bool:
    """Whether the column indices of each row strictly increase."""
    # Computed from the arrays, not read from scipy's has_canonical_format: a
    # flag cached on the matrix, which edits to its arrays leave stale.
    steps = np.diff(W.indices)
    # The step into each row's first entry crosses rows: it is not checked.
    # A row starting at 0 (after empty rows only) or at the end (an empty
    # row) has no such step.
    row_starts = W.indptr[1:-1]
    inside_rows = np.ones(steps.size, dtype=bool)
    inside_rows[row_starts[(row_starts > 0) & (row_starts <= steps.size)] - 1] = False
    return bool(np.all(steps[inside_rows] > 0))


def _csr_problem(W: sp.csr_array) -> str | None:
    """What is wrong with a CSR array's index arrays, or None.

    Read-only, unlike ``check_format``, which may replace the index arrays.
    """
    n_rows, n_cols = W.shape
    indptr, indices = np.asarray(W.indptr), np.asarray(W.indices)
    if indptr.shape != (n_rows + 1,) or indptr[0] != 0:
        return "its row pointer does not match its shape"
    if np.any(np.diff(indptr) < 0) or indptr[-1] != indices.size:
        return "its row pointer is not increasing to the number of entries"
    if W.data.shape != indices.shape:
        return "it does not have as many values as column indices"
    if indices.size and (indices.min() < 0 or indices.max() >= n_cols):
        return "a column index is out of range"
    return None


def _check_layer(i: int, W, b) -> None:
    """One layer of a ticket: a valid CSR array, finite, with matching biases."""
    if not isinstance(W, sp.csr_array):
        raise ValueError(f"Layer {i} of the ticket is not a CSR array: {type(W)}.")
    problem = _csr_problem(W)
    if problem is not None:
        raise ValueError(
            f"Layer {i} of the ticket is not a valid CSR array: {problem}."
        )
    if not _sorted_unique_indices(W):
        raise ValueError(
            f"Layer {i} of the ticket has duplicate or unsorted entries; build the "
            "ticket again (LotteryTicket sums duplicates) or call sum_duplicates()."
        )
    if W.dtype.kind != "f" or not np.isfinite(W.data).all():
        raise ValueError(
            f"Layer {i} of the ticket holds NaN, infinite or non-float weights."
        )
    if b.shape != (W.shape[1],):
        raise ValueError(
            f"Layer {i} of the ticket has {W.shape[1]} units but {b.shape} intercepts."
        )
    if b.dtype.kind != "f" or not np.isfinite(b).all():
        raise ValueError(
            f"Layer {i} of the ticket holds NaN, infinite or non-float intercepts."
        )
