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
        self.weights = [
            W if isinstance(W, sp.csr_array) else sp.csr_array(W) for W in weights
        ]
        self.intercepts = [np.asarray(b) for b in intercepts]
        if len(self.weights) != len(self.intercepts):
            raise ValueError(
                f"A ticket needs one intercept vector per layer: got "
                f"{len(self.weights)} weight matrices and "
                f"{len(self.intercepts)} intercept vectors."
            )
        for i, (W, b) in enumerate(zip(self.weights, self.intercepts)):
            if b.shape != (W.shape[1],):
                raise ValueError(
                    f"Layer {i} of the ticket has {W.shape[1]} units but "
                    f"{b.shape} intercepts."
                )
        for i in range(1, len(self.weights)):
            if self.weights[i].shape[0] != self.weights[i - 1].shape[1]:
                raise ValueError(
                    f"Layer {i} of the ticket takes {self.weights[i].shape[0]} "
                    f"inputs but layer {i - 1} gives {self.weights[i - 1].shape[1]}."
                )
        self.sparsity_history = (
            None if sparsity_history is None else np.asarray(sparsity_history, float)
        )

    @property
    def masks(self) -> list[np.ndarray]:
        masks = []
        for W in self.weights:
            mask = np.zeros(W.shape, dtype=bool)
            rows = np.repeat(np.arange(W.shape[0]), np.diff(W.indptr))
            mask[rows, W.indices] = True
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
        return self.total_parameters / max(self.remaining_parameters, 1)

    def __repr__(self) -> str:
        units = [self.weights[0].shape[0]] + [W.shape[1] for W in self.weights]
        return (
            f"LotteryTicket(layers={'-'.join(map(str, units))}, "
            f"remaining={self.remaining_parameters}/{self.total_parameters}, "
            f"sparsity={self.sparsity:.4f})"
        )
