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

from .._compaction import COST_KEYS
from .._network import Layer, Network, kept_positions
from .._rewinding import RewindPolicy, StartPoint
from .._ticket import LotteryTicket
from .._training import RoundResult
from ._warm import SearchEnd, WarmStart

HISTORY_KEYS = (
    "round",
    "sparsity",
    "remaining_parameters",
    "n_iter",
    "train_loss",
    "train_score",
    "seconds",
    # What the round's network costs (see sklearn_lth._compaction.ticket_cost).
    *COST_KEYS,
)
VALIDATION_KEYS = (
    "validation_score",
    "min_validation_loss_iteration",
    "validation_score_at_min_loss",
)


def history_column(values: list) -> np.ndarray:
    """A column of the round table as an array: one value per round (the
    live units, a tuple per round, in an array of objects)."""
    if any(isinstance(value, tuple | list) for value in values):
        column = np.empty(len(values), dtype=object)
        column[:] = [tuple(v) if isinstance(v, tuple | list) else v for v in values]
        return column
    return np.asarray(values)


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
    end: SearchEnd | None = None


@dataclass(frozen=True)
class CompletedRound:
    """The last completed round, committed in one assignment.

    ``start`` None after round 0 means the initial weights, drawn again;
    ``rng_state`` is the search's random state right after the round.
    """

    round_index: int
    network: Network
    start: StartPoint | None
    result: RoundResult
    rng_state: tuple | None = None


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
        # The schedule's sparsity after a round and the rewind strategy (see
        # SearchEnd), set by the loop.
        self.scheduled_sparsity: Callable[[int], float | None] = lambda _: None
        self.rewind_policy: RewindPolicy | None = None
        self.plan: tuple | None = None
        # The last round of the fitted search a warm-started fit goes on
        # with: not this fit's to keep (see Progress).
        self.inherited_round = -1

    @classmethod
    def continued(
        cls,
        warm: WarmStart,
        dtype,
        validation: bool,
        activation: str,
        out_activation: str,
    ) -> SearchState:
        """The search a warm-started fit goes on with, after its last round.

        The fitted network is the last completed round (as the loop would
        have committed it); the ticket is its start point, which also serves
        as W0 or as round 0's snapshot where the fitted search's rewind
        strategy says it is one (see :meth:`~._warm.SearchEnd.check_rewind`).
        """
        positions = [
            kept_positions(W.sorted_indices()).astype(np.intp) for W in warm.coefs
        ]
        for W, pos in zip(warm.ticket.weights, positions):
            if not np.array_equal(kept_positions(W.sorted_indices()), pos):
                raise ValueError(
                    "warm_start: the fitted ticket_ and coefs_ keep different "
                    "weights; set warm_start=False to search anew."
                )
        end, shapes = warm.end, [W.shape for W in warm.coefs]

        def values(matrices, i):
            return np.asarray(matrices[i].sorted_indices().data, dtype=dtype)

        start = StartPoint(
            [values(warm.ticket.weights, i) for i in range(len(shapes))],
            [np.asarray(b, dtype=dtype).copy() for b in warm.ticket.intercepts],
            end.start_step,
            end.hold_final_lr,
            positions=positions,
        )

        layers = [
            Layer(pos, values(warm.coefs, i).copy(), np.array(b, dtype=dtype), shape)
            for i, (pos, b, shape) in enumerate(zip(positions, warm.intercepts, shapes))
        ]
        network = Network(layers, activation, out_activation)

        state = cls(start, positions, validation, activation, out_activation)
        # The start point holds only the kept weights: the layers' shapes
        # come from the fitted ones.
        state.shapes = shapes
        state.n_dense_weights = sum(a * b for a, b in shapes)
        rounds = len(warm.history["round"])
        state.initial = start if end.ticket_is_initial else None
        state.rewind_snapshot = start if end.ticket_is_snapshot else end.snapshot
        state.start, state.first_positions = start, None
        for key in warm.history:  # the fitted table may have more columns
            state.history.setdefault(key, [])
        for key, column in state.history.items():
            column.extend(warm.history.get(key, np.full(rounds, np.nan)).tolist())
        # Trained on in place when the fit keeps training: the fitted round
        # is never exported again (see Progress), the estimator holds its own.
        state.network = network
        state.last = CompletedRound(
            int(warm.history["round"][-1]),
            network,
            start,
            warm.last_round,
            end.rng_state,
        )
        state.inherited_round = state.last.round_index
        return state

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

    def complete(
        self,
        round_index: int,
        result: RoundResult,
        record: dict,
        rng_state: tuple | None = None,
    ) -> None:
        """Commit a finished round: its history row, then the round itself.

        Until the single assignment of ``self.last``, :meth:`result` still
        gives the previous round (it reads only rows up to ``self.last``).
        A column the row lacks (a warm-started fit's table may have more)
        gets NaN.
        """
        for key, column in self.history.items():
            column.append(record.get(key, np.nan))
        self.compact_start_points(
            [layer.sparse_positions for layer in self.network.layers]
        )
        self.last = CompletedRound(
            round_index, self.network, self.start, result, rng_state
        )

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
        history = {k: history_column(v[:n_rows]) for k, v in self.history.items()}
        ticket = LotteryTicket(
            rewind_weights, [b.copy() for b in start.biases], history["sparsity"]
        )
        snapshot = self.rewind_snapshot
        end = SearchEnd(
            rng_state=last.rng_state,
            start_step=start.step,
            hold_final_lr=start.hold_final_lr,
            # Kept only when the ticket is not the snapshot: after round 0.
            snapshot=None if snapshot is None or snapshot is last.start else snapshot,
            scheduled_sparsity=self.scheduled_sparsity(last.round_index),
            rewind=self.rewind_policy,
            plan=self.plan,
        )
        return IMPResult(
            coefs=coefs,
            intercepts=intercepts,
            ticket=ticket,
            history=history,
            last_round=last.result,
            unconverged_rounds=[r for r in self.unconverged if r <= last.round_index],
            chance_rounds=[r for r in self.chance if r <= last.round_index],
            end=end,
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
        if search.last.round_index <= search.inherited_round:
            return None  # only the fitted search's round: nothing new to keep
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
