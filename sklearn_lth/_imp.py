"""Iterative magnitude pruning (IMP), the loop of Frankle & Carbin (2019).

1. Initialise a dense network with weights W0.
2. Train it (round 0).
3. Prune the fraction ``p`` of the remaining weights with the smallest
   magnitude.
4. Rewind the survivors (to W0 for the original algorithm) and train again.
5. Repeat 3-4 until ``pruning_rounds`` rounds have pruned; the network trained
   in the last round, at the target sparsity, is the result.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ._losses import validation_score
from ._network import Network, csr_from_positions, glorot_uniform, kept_positions
from ._pruning import per_round_rate, prune_lowest, pruning_pools
from ._rewinding import StartPoint, rewind_point, snapshot_step
from ._ticket import LotteryTicket
from ._training import RoundResult, TrainingConfig, predict_network, train_round


@dataclass(frozen=True)
class PruningConfig:
    """How IMP prunes and rewinds, read from an estimator's parameters."""

    target_sparsity: float = 0.8
    pruning_rounds: int = 5
    pruning_scope: str = "global"
    output_layer_rate: float | None = None
    rewind: str = "init"
    rewind_iteration: int = 100
    rewind_fraction: float = 0.1


@dataclass
class IMPResult:
    """The network trained in the last round, its ticket and the round table."""

    coefs: list[sp.csr_array]
    intercepts: list[np.ndarray]
    ticket: LotteryTicket
    history: dict[str, np.ndarray]
    last_round: RoundResult
    unconverged_rounds: list[int]


def _start_from_ticket(ticket: LotteryTicket, dtype) -> tuple[StartPoint, list]:
    weights = [W.toarray().astype(dtype, copy=False) for W in ticket.weights]
    biases = [np.asarray(b, dtype=dtype).copy() for b in ticket.intercepts]
    positions = [kept_positions(W) for W in ticket.weights]
    return StartPoint(weights, biases), positions


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
    rng: np.random.RandomState,
    validation: tuple | None = None,
    ticket: LotteryTicket | None = None,
    on_round_end: Callable | None = None,
) -> IMPResult:
    """Run iterative magnitude pruning and return the final sparse network.

    With ``ticket`` given, skip the search: train that sub-network once from
    its stored weights.

    ``on_round_end(record, coefs, intercepts)`` is called after each round with
    that round's row of the history and its weights (CSR).
    """
    dtype = X.dtype
    if ticket is None:
        W0, b0 = glorot_uniform(layer_units, activation, dtype, rng)
        initial = StartPoint(W0, b0)
        positions = [np.arange(W.size, dtype=np.int64) for W in W0]
        # A target sparsity of zero has nothing to prune: one dense round.
        n_rounds = pruning.pruning_rounds if pruning.target_sparsity > 0 else 0
    else:
        initial, positions = _start_from_ticket(ticket, dtype)
        n_rounds = 0
    total = sum(W.size for W in initial.weights)

    def draw_fresh() -> StartPoint:
        return StartPoint(*glorot_uniform(layer_units, activation, dtype, rng))

    batch_size = training.resolved_batch_size(X.shape[0])
    snap_at = snapshot_step(
        pruning.rewind,
        pruning.rewind_iteration,
        pruning.rewind_fraction,
        -(-X.shape[0] // batch_size),
        training.max_iter,
    )
    rate = per_round_rate(pruning.target_sparsity, pruning.pruning_rounds)
    groups, rates = pruning_pools(
        len(layer_units) - 1, pruning.pruning_scope, rate, pruning.output_layer_rate
    )

    history: dict[str, list] = {
        key: []
        for key in (
            "round",
            "sparsity",
            "remaining_parameters",
            "n_iter",
            "train_loss",
            "train_score",
            "seconds",
        )
    }
    if validation is not None:
        history["validation_score"] = []
    unconverged = []
    start, snapshot, network = initial, None, None

    for round_index in range(n_rounds + 1):
        tic = time.perf_counter()
        if round_index > 0:
            scores = [np.abs(layer.values) for layer in network.layers]
            keep = prune_lowest(scores, groups, rates)
            positions = [pos[k] for pos, k in zip(positions, keep)]
            trained = None
            if pruning.rewind in ("lr", "none"):
                trained = StartPoint(network.dense_weights(), network.biases())
            network = scores = keep = None  # free the old round before the new
            start = rewind_point(
                pruning.rewind,
                initial=initial,
                snapshot=snapshot,
                trained=trained,
                draw_fresh=draw_fresh,
            )
        network = Network.from_dense(
            start.weights, start.biases, positions, activation, out_activation
        )
        result = train_round(
            network,
            X,
            Y,
            sample_weight,
            training,
            rng,
            start=start,
            snapshot_at=snap_at if round_index == 0 and ticket is None else None,
            validation=validation,
            round_index=round_index,
        )
        if round_index == 0:
            snapshot = result.snapshot
            if snap_at is not None and result.steps < snap_at:
                warnings.warn(
                    f"Round 0 stopped after {result.steps} optimizer steps, before "
                    f"the rewind point at step {snap_at} (rewind={pruning.rewind!r}); "
                    "later rounds rewind to the end of round 0 instead. Lower "
                    "rewind_iteration or rewind_fraction, or raise max_iter.",
                    UserWarning,
                    stacklevel=4,
                )
        if not result.converged:
            unconverged.append(round_index)

        remaining = network.n_remaining
        train_score = validation_score(
            out_activation, Y, predict_network(network, X), sample_weight
        )
        record = {
            "round": round_index,
            "sparsity": 1.0 - remaining / total,
            "remaining_parameters": remaining,
            "n_iter": result.n_iter,
            "train_loss": result.loss_curve[-1] if result.loss_curve else np.nan,
            "train_score": train_score,
            "seconds": time.perf_counter() - tic,
        }
        if validation is not None:
            if result.best_validation_score is not None:
                record["validation_score"] = result.best_validation_score
            else:
                X_val, Y_val, sw_val = validation
                record["validation_score"] = validation_score(
                    out_activation, Y_val, predict_network(network, X_val), sw_val
                )
        for key, value in record.items():
            history[key].append(value)
        if on_round_end is not None:
            on_round_end(record, *_export(network, start)[:2])

    coefs, intercepts, rewind_weights = _export(network, start)
    sparsity_history = np.asarray(history["sparsity"])
    if ticket is not None and ticket.sparsity_history is not None:
        sparsity_history = ticket.sparsity_history
    found = LotteryTicket(
        rewind_weights, [b.copy() for b in start.biases], sparsity_history
    )
    return IMPResult(
        coefs=coefs,
        intercepts=intercepts,
        ticket=found,
        history={key: np.asarray(values) for key, values in history.items()},
        last_round=result,
        unconverged_rounds=unconverged,
    )


def _export(network: Network, start: StartPoint):
    """CSR copies of the trained weights and of the rewind weights.

    Both share one sparsity pattern (the same index arrays), so that storing a
    model with its ticket stores the pattern once.
    """
    coefs, intercepts, rewind_weights = [], [], []
    for layer, W_start in zip(network.layers, start.weights):
        trained = csr_from_positions(layer.positions, layer.values.copy(), layer.shape)
        rewound = sp.csr_array(
            (W_start.ravel()[layer.positions], trained.indices, trained.indptr),
            shape=layer.shape,
        )
        rewound.indices, rewound.indptr = trained.indices, trained.indptr
        coefs.append(trained)
        intercepts.append(layer.bias.copy())
        rewind_weights.append(rewound)
    return coefs, intercepts, rewind_weights
