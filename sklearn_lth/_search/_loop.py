"""Iterative magnitude pruning (IMP), the loop of Frankle & Carbin (2019).

1. Initialise a dense network with weights W0.
2. Train it (round 0).
3. Prune the fraction ``p`` of the remaining weights with the smallest
   magnitude.
4. Rewind the survivors (to W0 for the original algorithm) and train again.
5. Repeat 3-4 until ``pruning_rounds`` rounds have pruned; the network trained
   in the last round, at the target sparsity, is the result.

:func:`find_ticket` is that loop, each step a named function. How the search
opens (step 1, or a ticket, a fitted search, a checkpoint) is
:mod:`._open`'s; the state it carries between rounds :mod:`._state`'s; the
rewind strategies :mod:`sklearn_lth._rewinding`'s; which weights go
:mod:`sklearn_lth._pruning`'s; a round of training
:mod:`sklearn_lth._training`'s; the checkpoint it saves after every round
:mod:`._persistence`'s.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from .._compaction import network_cost
from .._interrupt import StopFlag
from .._lbfgs import train_round_lbfgs
from .._losses import constant_prediction, loss_value, validation_score
from .._network import glorot_uniform
from .._pruning import (
    SYNFLOW_STEPS,
    connection_sensitivity,
    gradient_flow_scores,
    iterative_synflow,
    prune_lowest,
    pruning_pools,
    pruning_scores,
    strongest_path,
    synaptic_flow,
    warn_if_pruned_less,
)
from .._rewinding import StartPoint
from .._training import (
    at_chance,
    failed_round,
    predict_network,
    remedy,
    train_round,
    weights_now,
)
from .._verbose import say
from ..exceptions import TrainingDivergedError
from ._open import open_search
from ._persistence import save_search
from ._plan import SearchPlan, TrainingData
from ._state import IMPResult, Progress, SearchState


def find_ticket(
    data: TrainingData,
    plan: SearchPlan,
    rng: np.random.RandomState,
    *,
    on_round_end: Callable | None = None,
    progress: Progress | None = None,
    stop: StopFlag | None = None,
) -> IMPResult:
    """Run iterative magnitude pruning and return the final sparse network.

    Parameters
    ----------
    data : TrainingData
        The data, and the rows it trains and validates on.
    plan : SearchPlan
        How the search opens (drawn W0, a ticket, a fitted search, a
        checkpoint to resume from) and how it trains, prunes and rewinds.
    rng : RandomState
        Draws W0, the shuffles, random scores and fresh weights.
    on_round_end : callable, optional
        ``on_round_end(record, coefs, intercepts)`` after each round, with that
        round's row of the history and its weights (CSR).
    progress : Progress, optional
        Receives the search before its first round: whatever exception stops
        the loop, ``progress.result()`` gives the last completed round.
    stop : StopFlag, optional
        Once set, the search stops (between mini-batches or runs of them,
        before a round or a save) with a KeyboardInterrupt.

    Raises
    ------
    TrainingDivergedError
        When a round diverges (see :func:`~sklearn_lth._training.failed_round`).
    """
    state = open_search(plan, data.X.dtype, rng, data.X.shape[0])  # step 1
    if progress is not None:
        progress.search = state
    _, origin, last_round = plan.rounds()
    _note_schedule(state, plan, origin)
    snapshot_at = plan.snapshot_step(data.n_train)
    # Chance level: the loss and score of the best constant prediction, what a
    # round must beat not to count as diverged (see _judge).
    baseline = constant_prediction(plan.out_activation, *data.training_targets())
    for round_index in range(state.completed + 1, last_round + 1):
        _check(stop)
        tic = time.perf_counter()
        earlier = _begin_round(state, plan, round_index, rng, data)  # steps 2-4
        result = _train(
            state, data, plan.training, rng, round_index, stop, snapshot_at, earlier
        )
        if round_index == 0:
            state.rewind_snapshot, result.snapshot = result.snapshot, None
            plan.rewind.warn_if_snapshot_late(result.steps, snapshot_at)
        record, train_loss = _record(state, result, round_index, data, tic)
        _judge(state, result, record, train_loss, baseline, plan.training)
        state.complete(round_index, result, record, rng.get_state())
        if plan.checkpoint is not None:
            _check(stop)  # the interrupted fit may have let go of the lock
            save_search(plan.checkpoint, state, rng)
        if on_round_end is not None:
            exported = state.result()
            on_round_end(record, exported.coefs, exported.intercepts)
    final = state.result()
    if plan.ticket is not None and plan.ticket.sparsity_history is not None:
        final.ticket.sparsity_history = plan.ticket.sparsity_history
    return final


def _note_schedule(state: SearchState, plan: SearchPlan, origin: int) -> None:
    """What a later warm-started fit reads: the schedule and the rewind
    strategy of the rounds this search commits (see
    :class:`~._warm.SearchEnd`)."""
    if plan.keeps_training:
        end = plan.warm.end
        state.rewind_policy, state.plan = end.rewind, end.plan
        state.scheduled_sparsity = lambda _: end.scheduled_sparsity
    elif plan.ticket is None:
        pruning = plan.pruning
        state.rewind_policy = plan.rewind
        state.plan = (
            origin,
            pruning.reached_sparsity,
            pruning.target_sparsity,
            pruning.pruning_rounds,
        )

        def scheduled(round_index: int) -> float:
            return pruning.scheduled_sparsity(round_index - origin)

        state.scheduled_sparsity = scheduled


def _begin_round(state, plan: SearchPlan, round_index: int, rng, data):
    """The network round ``round_index`` trains: round 0's from W0 (step 2),
    the fitted one trained on, or the survivors of pruning, rewound (steps
    3-4). Returns what a fitted network trained on carries over, or None."""
    earlier = None
    if round_index == 0:
        state.build_first_network()
    elif plan.keeps_training:
        earlier = plan.warm.earlier
    else:
        units, activation, dtype = plan.layer_units, plan.activation, data.X.dtype

        def draw_fresh() -> StartPoint:  # rewind="reinit"
            return StartPoint(*glorot_uniform(units, activation, dtype, rng))

        _prune_and_rewind(state, plan, round_index, rng, data, draw_fresh)
    if plan.training.verbose:
        kept, dense = state.network.n_remaining, state.n_dense_weights
        say(
            f"Round {round_index}: {kept} of {dense} weights kept (sparsity "
            f"{1 - kept / dense:.4f})"
        )
    return earlier


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


def _prune_and_rewind(state, plan: SearchPlan, round_index, rng, data, draw_fresh):
    """Prune the trained network's lowest-scoring weights; restart the survivors."""
    pruning, rewind = plan.pruning, plan.rewind
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

    # Each pool (all layers, or each layer) loses the same fraction per round.
    rate = pruning.rate
    groups, rates = pruning_pools(
        len(positions), pruning.pruning_scope, rate, pruning.output_layer_rate
    )

    def synflow() -> list[np.ndarray]:
        nonlocal path
        probe = state.network_at(start, positions)
        matrices = [layer.matrix for layer in probe.layers]
        # Data-free to the end: the path it keeps is that of the largest
        # flow at the start weights, not of the trained weights' magnitudes.
        path = strongest_path(matrices, synaptic_flow(matrices))
        # About the paper's 100 steps over the whole schedule.
        steps = -(-SYNFLOW_STEPS // pruning.pruning_rounds)
        return iterative_synflow(matrices, groups, rates, path, steps)

    def gradient_flow() -> list[np.ndarray]:
        probe = state.network_at(start, positions)
        return gradient_flow_scores(
            probe, data.X, data.Y, data.sample_weight, data.rows
        )

    scores = pruning_scores(
        pruning.pruning_criterion,
        magnitudes,
        rng,
        sensitivity,
        synflow,
        gradient_flow,
    )
    del magnitudes
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
        **network_cost(network),
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
