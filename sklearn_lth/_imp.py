"""Iterative magnitude pruning (IMP), the loop of Frankle & Carbin (2019).

1. Initialise a dense network with weights W0.
2. Train it (round 0).
3. Prune the fraction ``p`` of the remaining weights with the smallest
   magnitude.
4. Rewind the survivors (to W0 for the original algorithm) and train again.
5. Repeat 3-4 until ``pruning_rounds`` rounds have pruned; the network trained
   in the last round, at the target sparsity, is the result.

:func:`find_ticket` is that loop; the state it carries between rounds lives
in :mod:`._search`, the rewind strategies in :mod:`._rewinding`, which weights
go in :mod:`._pruning`, a round of training in :mod:`._training`, and the
checkpoint it may save after every round (and resume from) in
:mod:`._checkpoint`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ._checkpoint import CheckpointStore, SearchSpec, restore_search, save_search
from ._interrupt import StopFlag
from ._lbfgs import train_round_lbfgs
from ._losses import constant_prediction, loss_value, validation_score
from ._network import glorot_uniform, position_dtype
from ._params import DEFAULTS
from ._pruning import (
    connection_sensitivity,
    n_to_prune,
    per_round_rate,
    prune_lowest,
    pruning_pools,
    pruning_scores,
    strongest_path,
    warn_if_pruned_less,
)
from ._rewinding import RewindPolicy, StartPoint
from ._search import IMPResult, Progress, SearchState, WarmStart, start_from_ticket
from ._ticket import LotteryTicket
from ._training import (
    TrainingConfig,
    at_chance,
    failed_round,
    predict_network,
    remedy,
    train_round,
    weights_now,
)
from ._verbose import say
from .exceptions import TrainingDivergedError

__all__ = [
    "IMPResult",
    "Progress",
    "PruningConfig",
    "find_ticket",
    "open_search",
    "search_spec",
]


@dataclass(frozen=True)
class PruningConfig:
    """How IMP prunes, read from an estimator's parameters."""

    target_sparsity: float = DEFAULTS["target_sparsity"]
    pruning_rounds: int = DEFAULTS["pruning_rounds"]
    pruning_scope: str = DEFAULTS["pruning_scope"]
    output_layer_rate: float | None = DEFAULTS["output_layer_rate"]
    pruning_criterion: str = DEFAULTS["pruning_criterion"]
    # The schedule's sparsity before this fit's rounds (a warm-started fit
    # that takes a search further); not an estimator parameter.
    reached_sparsity: float = 0.0

    @property
    def rate(self) -> float:
        """The fraction of the remaining weights each round prunes."""
        return per_round_rate(
            self.target_sparsity,
            self.pruning_rounds,
            reached_sparsity=self.reached_sparsity,
        )

    def scheduled_sparsity(self, rounds_pruned: int) -> float:
        """The sparsity the schedule reaches after ``rounds_pruned`` rounds."""
        if rounds_pruned <= 0 or self.target_sparsity <= self.reached_sparsity:
            return self.reached_sparsity
        if rounds_pruned >= self.pruning_rounds:
            return self.target_sparsity
        return 1.0 - (1.0 - self.reached_sparsity) * (1.0 - self.rate) ** rounds_pruned


@dataclass(frozen=True)
class TrainingData:
    """All the data; the search trains on ``rows`` (None: all) and scores
    on ``validation_rows`` (early stopping, choosing among seeds)."""

    X: object
    Y: np.ndarray
    sample_weight: np.ndarray | None
    rows: np.ndarray | None = None
    validation_rows: np.ndarray | None = None

    @property
    def n_train(self) -> int:
        return self.X.shape[0] if self.rows is None else self.rows.size

    def training_targets(self) -> tuple[np.ndarray, np.ndarray | None]:
        """The targets and sample weights of the training rows."""
        Y, weights, rows = self.Y, self.sample_weight, self.rows
        if rows is None:
            return Y, weights
        return Y[rows], None if weights is None else weights[rows]


class WeightsFirstRandomState(np.random.RandomState):
    """A search's random state when its validation split follows W0 in it.

    scikit-learn's MLP draws the initial weights W0 and then, from the same
    random state, its early-stopping validation split. The estimators plan
    the split before the search draws W0; to draw it where scikit-learn
    does, the plan draws W0 once aside, splits, and hands the search this
    random state: set to the state W0 is drawn from, it moves on to
    ``after_split`` (where the plan left off) once :func:`open_search` has
    drawn W0, and training goes on from there as scikit-learn's does.

    Parameters
    ----------
    initial_state : tuple
        The state W0 is drawn from (``RandomState.get_state()``).
    after_split : tuple
        The state after W0 and the split.
    """

    def __init__(self, initial_state: tuple, after_split: tuple):
        super().__init__()
        self.set_state(initial_state)
        self.after_split = after_split


def open_search(
    dtype,
    *,
    layer_units: list[int],
    activation: str,
    out_activation: str,
    rng: np.random.RandomState,
    validation: bool = False,
    ticket: LotteryTicket | None = None,
    checkpoint: CheckpointStore | None = None,
    spec: SearchSpec | None = None,
    warm: WarmStart | None = None,
) -> SearchState:
    """Step 1: a search from ``rng``'s initial weights (or a ticket's), the
    fitted one a warm-started fit goes on with, or the one ``checkpoint``
    holds, checked against ``spec`` (from :func:`search_spec`)."""
    redraw_initial = None
    if warm is not None:
        state = SearchState.continued(
            warm, dtype, validation, activation, out_activation
        )
        if not warm.keeps_training:
            # Pruning on takes the random numbers where the search left them.
            rng.set_state(warm.end.rng_state)
        if checkpoint is not None:
            restore_search(checkpoint, state, rng, spec)
        return state
    if ticket is None:
        # W0 is needed whole only to export round 0 if round 1 fails; rather
        # than keep it, the search can draw it again from this state.
        first_draw = rng.get_state()

        def redraw_initial() -> StartPoint:
            again = np.random.RandomState()
            again.set_state(first_draw)
            return StartPoint(*glorot_uniform(layer_units, activation, dtype, again))

        initial = StartPoint(*glorot_uniform(layer_units, activation, dtype, rng))
        if isinstance(rng, WeightsFirstRandomState):
            # The validation split was drawn after these draws, as in
            # scikit-learn: go on from where it left the random state.
            rng.set_state(rng.after_split)
        positions = [
            np.arange(W.size, dtype=position_dtype(W.shape)) for W in initial.weights
        ]
    else:
        initial, positions = start_from_ticket(ticket, dtype)
    state = SearchState(
        initial, positions, validation, activation, out_activation, redraw_initial
    )
    if checkpoint is not None:
        # The checkpoint's saved random state replaces ``rng``'s: drawing W0
        # above changed nothing that the resumed search reads (and the saved
        # W0 is checked against it).
        restore_search(checkpoint, state, rng, spec)
    return state


def _rounds(
    pruning: PruningConfig, ticket: LotteryTicket | None, warm: WarmStart | None
) -> tuple[int, int, int]:
    """This fit's first round, the round its schedule follows, its last round.

    The schedule's rounds follow round 0 (which trains the dense network),
    the fitted search's last round (pruning on), or where an interrupted
    schedule began (finishing it).
    """
    first_round = 0 if warm is None else len(warm.history["round"])
    origin = 0 if warm is None else first_round - 1
    if warm is not None and warm.plan_origin is not None:
        origin = warm.plan_origin
    if warm is not None and warm.keeps_training:
        last_round = first_round
    elif ticket is not None or pruning.target_sparsity <= pruning.reached_sparsity:
        # A ticket trains once; a target already reached has nothing to prune.
        last_round = first_round
    else:
        last_round = origin + pruning.pruning_rounds
    return first_round, origin, last_round


def _snapshot_step(training, rewind, n_train: int, ticket, warm) -> int | None:
    """The step of round 0 whose weights later rounds rewind to, if any."""
    if ticket is not None or warm is not None:
        return None  # no round 0 in this fit, or no rounds after it
    # Counted in mini-batches, or L-BFGS iterations (each one "epoch" of one
    # step).
    batches = 1 if training.solver == "lbfgs" else training.steps_per_epoch(n_train)
    return rewind.snapshot_step(batches, training.max_iter)


def search_spec(
    n_samples: int,
    *,
    layer_units: list[int],
    training: TrainingConfig,
    pruning: PruningConfig,
    rewind: RewindPolicy,
    rows: np.ndarray | None = None,
    validation_rows: np.ndarray | None = None,
    ticket: LotteryTicket | None = None,
    warm: WarmStart | None = None,
) -> SearchSpec:
    """What a checkpoint of the search :func:`find_ticket` runs must hold.

    The arguments are :func:`find_ticket`'s (``n_samples``: the rows of
    ``X``). The weights each round keeps are counted here as
    :func:`_prune_and_rewind` prunes them: per pool, the schedule's count,
    less what the strongest path protects (one weight per layer) when a
    pool runs out.
    """
    first_round, _, last_round = _rounds(pruning, ticket, warm)
    if warm is not None:
        sizes = [W.nnz for W in warm.coefs]
        restarts_from = None if warm.keeps_training else first_round
    elif ticket is not None:
        sizes = [W.nnz for W in ticket.weights]
        restarts_from = None
    else:
        sizes = [a * b for a, b in zip(layer_units, layer_units[1:])]
        restarts_from = 1
    prunes = restarts_from is not None and last_round >= restarts_from
    groups, rates = pruning_pools(
        len(sizes),
        pruning.pruning_scope,
        pruning.rate if prunes else 0.0,
        pruning.output_layer_rate,
    )
    pool_sizes = [sum(sizes[i] for i in layers) for layers in groups]
    kept = []
    for round_index in range(first_round, last_round + 1):
        if prunes and round_index >= restarts_from:
            pool_sizes = [
                n - min(n_to_prune(rate, n), n - len(layers))
                for n, rate, layers in zip(pool_sizes, rates, groups)
            ]
        kept.append(pool_sizes)
    n_train = n_samples if rows is None else rows.size
    if warm is not None and warm.keeps_training:
        epoch = None  # the fitted network's counts go on
    elif training.solver == "lbfgs":
        epoch = (1, 0)  # an iteration is a step; L-BFGS counts no samples
    else:
        epoch = (training.steps_per_epoch(n_train), n_train)
    return SearchSpec(
        first_round=first_round,
        pools=groups,
        kept=kept,
        restarts_from=restarts_from,
        rewind=rewind,
        snapshot_at=_snapshot_step(training, rewind, n_train, ticket, warm),
        validation=validation_rows is not None,
        max_iter=training.max_iter,
        epoch=epoch,
    )


def find_ticket(
    X,
    Y: np.ndarray,
    sample_weight: np.ndarray | None,
    *,
    layer_units: list[int],
    activation: str,
    out_activation: str,
    training: TrainingConfig,
    pruning: PruningConfig,
    rewind: RewindPolicy,
    rng: np.random.RandomState,
    rows: np.ndarray | None = None,
    validation_rows: np.ndarray | None = None,
    ticket: LotteryTicket | None = None,
    checkpoint: CheckpointStore | None = None,
    on_round_end: Callable | None = None,
    progress: Progress | None = None,
    stop: StopFlag | None = None,
    warm: WarmStart | None = None,
) -> IMPResult:
    """Run iterative magnitude pruning and return the final sparse network.

    Parameters
    ----------
    X, Y, sample_weight, rows, validation_rows
        See :class:`TrainingData`.
    ticket : LotteryTicket, optional
        Skip the search: train that sub-network once from its stored weights.
    checkpoint : CheckpointStore, optional
        Resume from it if it holds a state, and save the state after each round.
    on_round_end : callable, optional
        ``on_round_end(record, coefs, intercepts)`` after each round, with that
        round's row of the history and its weights (CSR).
    progress : Progress, optional
        Receives the search before its first round: whatever exception stops
        the loop, ``progress.result()`` gives the last completed round.
    stop : StopFlag, optional
        Once set, the search stops (between mini-batches, before a round or
        a save) with a KeyboardInterrupt.
    warm : WarmStart, optional
        A fitted search to go on with (``warm_start=True``): either
        ``pruning.pruning_rounds`` more rounds from its last one, pruning
        from ``pruning.reached_sparsity`` to the target with its random
        state, or, if ``warm.keeps_training``, one more round that trains its
        network on without pruning, as scikit-learn's ``warm_start`` does.

    Raises
    ------
    TrainingDivergedError
        When a round diverges (see :func:`~._training.failed_round`).
    """
    spec = None
    if checkpoint is not None:
        spec = search_spec(
            X.shape[0],
            layer_units=layer_units,
            training=training,
            pruning=pruning,
            rewind=rewind,
            rows=rows,
            validation_rows=validation_rows,
            ticket=ticket,
            warm=warm,
        )
    state = open_search(
        X.dtype,
        layer_units=layer_units,
        activation=activation,
        out_activation=out_activation,
        rng=rng,
        validation=validation_rows is not None,
        ticket=ticket,
        checkpoint=checkpoint,
        spec=spec,
        warm=warm,
    )
    if progress is not None:
        progress.search = state
    data = TrainingData(X, Y, sample_weight, rows, validation_rows)
    # Where this fit's rounds begin (after the fitted search's, if warm) and
    # end, and the round its schedule follows.
    first_round, origin, last_round = _rounds(pruning, ticket, warm)
    # What a later warm-started fit reads: the schedule and the rewind
    # strategy of the rounds this search commits.
    if warm is not None and warm.keeps_training:
        state.rewind_policy, state.plan = warm.end.rewind, warm.end.plan
        state.scheduled_sparsity = lambda _: warm.end.scheduled_sparsity
    elif ticket is None:
        state.rewind_policy = rewind
        state.plan = (
            origin,
            pruning.reached_sparsity,
            pruning.target_sparsity,
            pruning.pruning_rounds,
        )

        def scheduled(round_index: int) -> float:
            return pruning.scheduled_sparsity(round_index - origin)

        state.scheduled_sparsity = scheduled
    snapshot_at = _snapshot_step(training, rewind, data.n_train, ticket, warm)
    # Chance level: the loss and score of the best constant prediction, what a
    # round must beat not to count as diverged (see _judge).
    baseline = constant_prediction(out_activation, *data.training_targets())

    def draw_fresh() -> StartPoint:  # rewind="reinit"
        return StartPoint(*glorot_uniform(layer_units, activation, X.dtype, rng))

    for round_index in range(state.completed + 1, last_round + 1):
        _check(stop)
        tic = time.perf_counter()
        earlier = None
        if round_index == 0:
            state.build_first_network()  # step 2
        elif warm is not None and warm.keeps_training:
            earlier = warm.earlier  # the fitted network trains on
        else:  # steps 3-4
            _prune_and_rewind(
                state, pruning, rewind, round_index, rng, data, draw_fresh
            )
        if training.verbose:
            kept = state.network.n_remaining
            say(
                f"Round {round_index}: {kept} of {state.n_dense_weights} weights "
                f"kept (sparsity {1 - kept / state.n_dense_weights:.4f})"
            )
        result = _train(
            state, data, training, rng, round_index, stop, snapshot_at, earlier
        )
        if round_index == 0:
            state.rewind_snapshot, result.snapshot = result.snapshot, None
            rewind.warn_if_snapshot_late(result.steps, snapshot_at)
        record, train_loss = _record(state, result, round_index, data, tic)
        _judge(state, result, record, train_loss, baseline, training)
        state.complete(round_index, result, record, rng.get_state())
        if checkpoint is not None:
            _check(stop)  # the interrupted fit may have let go of the lock
            save_search(checkpoint, state, rng)
        if on_round_end is not None:
            exported = state.result()
            on_round_end(record, exported.coefs, exported.intercepts)

    final = state.result()
    if ticket is not None and ticket.sparsity_history is not None:
        final.ticket.sparsity_history = ticket.sparsity_history
    return final


def _train(state, data, training, rng, round_index, stop, snapshot_at, earlier):
    """Train the round's network (round 0 also snapshots its rewind point).

    Mini-batch epochs for the stochastic solvers, full-batch L-BFGS
    iterations for ``solver="lbfgs"`` (see :mod:`._lbfgs`). A round that
    trains a fitted network on (``earlier``) starts a new optimizer and
    schedule, as scikit-learn's ``warm_start`` does.
    """
    train = train_round_lbfgs if training.solver == "lbfgs" else train_round
    start = state.start if earlier is None else StartPoint([], [])
    return train(
        state.network,
        data.X,
        data.Y,
        data.sample_weight,
        training,
        rng,
        start=start,
        rows=data.rows,
        snapshot_at=snapshot_at if round_index == 0 else None,
        validation_rows=data.validation_rows,
        round_index=round_index,
        stop=stop,
        earlier=earlier,
    )


def _check(stop: StopFlag | None) -> None:
    """A seed or fold thread of an interrupted fit starts no new work."""
    if stop is not None:
        stop.raise_if_set()


def _prune_and_rewind(state, pruning, rewind, round_index, rng, data, draw_fresh):
    """Prune the trained network's lowest-scoring weights; restart the survivors."""
    network = state.network
    magnitudes = [np.abs(layer.values) for layer in network.layers]
    # No layer collapse: the path of largest weights from the output back to
    # an input is never pruned, so the output always depends on the input.
    path = strongest_path([layer.matrix for layer in network.layers], magnitudes)
    positions = [layer.positions for layer in network.layers]
    trained = weights_now(network) if rewind.needs_trained_weights else None
    state.retire_network()
    # Drawn before any random pruning scores: the order of the draws is fixed.
    start = rewind.next_start(
        initial=state.initial,
        snapshot=state.rewind_snapshot,
        trained=trained,
        draw_fresh=draw_fresh,
    )

    def sensitivity() -> list[np.ndarray]:
        probe = state.network_at(start, positions)
        return connection_sensitivity(
            probe, data.X, data.Y, data.sample_weight, data.rows
        )

    scores = pruning_scores(pruning.pruning_criterion, magnitudes, rng, sensitivity)
    del magnitudes
    # Each pool (all layers, or each layer) loses the same fraction per round.
    rate = pruning.rate
    groups, rates = pruning_pools(
        len(positions), pruning.pruning_scope, rate, pruning.output_layer_rate
    )
    keep = prune_lowest(scores, groups, rates, path)
    warn_if_pruned_less(
        keep, scores, groups, rates, round_index, pruning.target_sparsity
    )
    del scores, path
    # Still sorted: a boolean mask keeps the order of the positions.
    survivors = [pos[k].astype(np.intp, copy=False) for pos, k in zip(positions, keep)]
    del keep
    state.restart(start, survivors, rewind.keeps_initial_weights)


def _record(state, result, round_index, data: TrainingData, tic) -> tuple[dict, float]:
    """The round's history row, and the loss of its final weights (no L2)."""
    network = state.network
    Y_train, weights_train = data.training_targets()
    P_train = predict_network(network, data.X, data.rows)
    out = network.out_activation
    remaining = network.n_remaining
    record = {
        "round": round_index,
        "sparsity": 1.0 - remaining / state.n_dense_weights,
        "remaining_parameters": remaining,
        "n_iter": result.n_iter,
        "train_loss": result.loss_curve[-1] if result.loss_curve else np.nan,
        "train_score": validation_score(out, Y_train, P_train, weights_train),
        "seconds": time.perf_counter() - tic,
    }
    if data.validation_rows is not None:
        record["validation_score"] = (
            result.best_validation_score
            if result.best_validation_score is not None
            else result.validation_scores[-1]
        )
        record["min_validation_loss_iteration"] = result.min_validation_loss_iteration
        record["validation_score_at_min_loss"] = result.validation_score_at_min_loss
    return record, loss_value(out, Y_train, P_train, weights_train)


def _judge(state, result, record, train_loss, baseline, training) -> None:
    """Raise if the round diverged; note it if it ended unconverged or at chance."""
    round_index = record["round"]
    reason = failed_round(result, train_loss, record["train_score"], baseline)
    if reason is not None:
        raise TrainingDivergedError(
            f"Training diverged in round {round_index}: {reason}. {remedy(training)}",
            round_index=round_index,
        )
    if not result.converged:
        state.unconverged.append(round_index)
    # A constant target (a constant prediction's loss is 0) has nothing more
    # to learn: no round of it is "at chance".
    if at_chance(record["train_score"], baseline) and train_loss > baseline[0] > 0:
        state.chance.append(round_index)
