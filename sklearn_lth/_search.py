"""The state of one search between rounds, and what it returns.

A search holds the start points it may rewind to (the initial weights W0, a
snapshot of round 0, the start of the current round), the network in
training, the round table, and the last completed round. Memory follows the
kept weights: once a round is pruned, every start point keeps only the
weights that survived, and what no later round reads is let go (see
:meth:`SearchState.restart`).

A round is committed in one assignment (:meth:`SearchState.complete`), so
whatever interrupts the loop (a Ctrl-C, a round that diverges, a crash while
pruning or saving) leaves the last completed round readable through
:meth:`SearchState.result`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import scipy.sparse as sp

from ._network import Layer, Network, kept_positions
from ._rewinding import StartPoint
from ._ticket import LotteryTicket
from ._training import RoundResult

HISTORY_KEYS = (
    "round",
    "sparsity",
    "remaining_parameters",
    "n_iter",
    "train_loss",
    "train_score",
    "seconds",
)
VALIDATION_KEYS = (
    "validation_score",
    "min_validation_loss_iteration",
    "validation_score_at_min_loss",
)


@dataclass
class IMPResult:
    """The network trained in the last (completed) round, its ticket and table."""

    coefs: list[sp.csr_array]
    intercepts: list[np.ndarray]
    ticket: LotteryTicket
    history: dict[str, np.ndarray]
    last_round: RoundResult
    unconverged_rounds: list[int] = field(default_factory=list)
    # Rounds that ended no better than chance (but not diverged).
    chance_rounds: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class CompletedRound:
    """The last completed round, committed in one assignment.

    ``start`` None after round 0 means the initial weights, drawn again.
    """

    round_index: int
    network: Network
    start: StartPoint | None
    result: RoundResult


class SearchState:
    """One search between rounds (see the module docstring).

    Parameters
    ----------
    initial : StartPoint
        The initial weights W0 (dense) and biases.
    positions : list of ndarray
        The kept positions of round 0's network (all, or a ticket's).
    validation : bool
        Whether the round table has validation columns.
    activation, out_activation : str
        The network's activations.
    redraw_initial : callable, optional
        Draws W0 again from the seed, so that the search need not keep the
        whole of it after round 0 (None: it cannot be redrawn).
    """

    def __init__(
        self,
        initial: StartPoint,
        positions: list[np.ndarray],
        validation: bool,
        activation: str,
        out_activation: str,
        redraw_initial: Callable[[], StartPoint] | None = None,
    ):
        self.activation = activation
        self.out_activation = out_activation
        self.redraw_initial = redraw_initial
        self.shapes = [W.shape for W in initial.weights]
        self.n_dense_weights = sum(W.size for W in initial.weights)
        self.initial: StartPoint | None = initial
        self.rewind_snapshot: StartPoint | None = None
        self.start = initial
        # Round 0's kept positions, until its network holds them.
        self.first_positions: list[np.ndarray] | None = positions
        self.network: Network | None = None
        keys = HISTORY_KEYS + (VALIDATION_KEYS if validation else ())
        self.history: dict[str, list] = {key: [] for key in keys}
        self.unconverged: list[int] = []
        self.chance: list[int] = []
        self.last: CompletedRound | None = None

    @property
    def completed(self) -> int:
        """The last completed round (-1: none)."""
        return -1 if self.last is None else self.last.round_index

    # -- the rounds ------------------------------------------------------------
    def build_first_network(self) -> None:
        """Round 0's trainable network, from W0 at the first positions."""
        self.network = Network.from_dense(
            self.initial.weights,
            self.initial.biases,
            self.first_positions,
            self.activation,
            self.out_activation,
        )
        self.first_positions = None

    def network_at(self, start: StartPoint, positions: list[np.ndarray]) -> Network:
        """A trainable network keeping ``positions``, with the weights of ``start``."""
        layers = [
            Layer(pos, start.values(i, pos), bias, shape)
            for i, (pos, bias, shape) in enumerate(
                zip(positions, start.biases, self.shapes)
            )
        ]
        return Network(layers, self.activation, self.out_activation)

    def complete(self, round_index: int, result: RoundResult, record: dict) -> None:
        """Commit a finished round: its history row, then the round itself.

        Until the single assignment of ``self.last``, :meth:`result` still
        gives the previous round (it reads only rows up to ``self.last``).
        """
        for key, value in record.items():
            self.history[key].append(value)
        self.compact_start_points(
            [layer.sparse_positions for layer in self.network.layers]
        )
        self.last = CompletedRound(round_index, self.network, self.start, result)

    def retire_network(self) -> None:
        """The trained network stays only as the last completed round."""
        self.network.release_gradients()
        self.network = None

    def restart(
        self,
        start: StartPoint,
        positions: list[np.ndarray],
        keeps_initial_weights: bool,
    ) -> None:
        """Start the next round from ``start`` at the surviving ``positions``.

        Lets go of what no later round reads: W0 when the strategy no longer
        rewinds to it, round 0's whole W0 when the seed can draw it again, and
        every start point's weights outside ``positions``.
        """
        last = self.last
        if last.start is self.initial and self.redraw_initial is not None:
            # Round 0 started from W0, which the seed draws again if round 0
            # must be exported.
            self.last = last = replace(last, start=None)
        if not keeps_initial_weights:
            self.initial = None
        self.start = start
        # Only survivors are read from now on, except by the last completed round.
        self.compact_start_points(positions, spare=last.start)
        self.network = self.network_at(self.start, positions)

    def compact_start_points(self, positions, spare=None) -> None:
        """Keep the start points only at ``positions`` (None: a whole layer).

        Later rounds read them only where weights survive. Points that are the
        same object stay one (compacted once); ``spare`` is left as it is.
        """
        # Keyed by identity: with rewind="init" the start *is* W0, and the two
        # must stay one array (compacted once, stored once).
        compacted = {id(spare): spare}
        for name in ("initial", "rewind_snapshot", "start"):
            point = getattr(self, name)
            if point is not None and id(point) not in compacted:
                compacted[id(point)] = point.compacted(positions)
            setattr(self, name, None if point is None else compacted[id(point)])

    # -- what it returns -------------------------------------------------------
    def result(self) -> IMPResult:
        """The network of the last completed round, its ticket and table."""
        last = self.last  # read once: a commit may replace it meanwhile
        start = last.start if last.start is not None else self.redraw_initial()
        coefs, intercepts, rewind_weights = _export(last.network, start)
        n_rows = last.round_index + 1
        history = {k: np.asarray(v[:n_rows]) for k, v in self.history.items()}
        ticket = LotteryTicket(
            rewind_weights, [b.copy() for b in start.biases], history["sparsity"]
        )
        return IMPResult(
            coefs=coefs,
            intercepts=intercepts,
            ticket=ticket,
            history=history,
            last_round=last.result,
            unconverged_rounds=[r for r in self.unconverged if r <= last.round_index],
            chance_rounds=[r for r in self.chance if r <= last.round_index],
        )


class Progress:
    """Where a search leaves its state, so that it outlives an exception.

    ``find_ticket`` puts its search here before the first round; whatever
    stops it, :meth:`result` then gives the last completed round.
    """

    def __init__(self):
        self.search: SearchState | None = None

    def result(self) -> IMPResult | None:
        """The last completed round's result, or None if no round completed."""
        search = self.search
        if search is None or search.last is None:
            return None
        return search.result()


def start_from_ticket(ticket: LotteryTicket, dtype) -> tuple[StartPoint, list]:
    """A ticket's rewind weights as a start point, and its kept positions."""
    weights = [W.toarray().astype(dtype, copy=False) for W in ticket.weights]
    biases = [np.asarray(b, dtype=dtype).copy() for b in ticket.intercepts]
    positions = [kept_positions(W) for W in ticket.weights]
    return StartPoint(weights, biases), positions


def _export(network: Network, start: StartPoint):
    """CSR copies of the trained weights and of the rewind weights.

    Both share one sparsity pattern (the same index arrays), so that storing a
    model with its ticket stores the pattern once.
    """
    coefs, intercepts, rewind_weights = [], [], []
    for i, layer in enumerate(network.layers):
        trained = layer.to_csr()
        rewound = sp.csr_array(
            (
                np.array(start.values(i, layer.positions)),
                trained.indices,
                trained.indptr,
            ),
            shape=layer.shape,
        )
        # scipy may copy index arrays on construction: share them explicitly.
        rewound.indices, rewound.indptr = trained.indices, trained.indptr
        coefs.append(trained)
        intercepts.append(layer.bias.copy())
        rewind_weights.append(rewound)
    return coefs, intercepts, rewind_weights
