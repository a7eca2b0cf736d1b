"""Iterative magnitude pruning (IMP), the loop of Frankle & Carbin (2019).

1. Initialise a dense network with weights W0.
2. Train it (round 0).
3. Prune the fraction ``p`` of the remaining weights with the smallest
   magnitude.
4. Rewind the survivors (to W0 for the original algorithm) and train again.
5. Repeat 3-4 until ``pruning_rounds`` rounds have pruned; the network trained
   in the last round, at the target sparsity, is the result.

Nothing finished is lost: after every round the loop can save its state to a
checkpoint (and resumes from one), a Ctrl-C keeps the last completed round, and
a round that diverges leaves the previous round's network with the error.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from ._checkpoint import CheckpointStore
from ._losses import validation_score
from ._network import (
    Layer,
    Network,
    glorot_uniform,
    kept_positions,
    position_dtype,
)
from ._pruning import (
    n_to_prune,
    per_round_rate,
    prune_lowest,
    pruning_pools,
    strongest_path,
)
from ._rewinding import StartPoint, rewind_point, snapshot_step
from ._ticket import LotteryTicket
from ._training import (
    RoundResult,
    TrainingConfig,
    TrainingDivergedError,
    mean_gradient,
    predict_network,
    train_round,
    weights_now,
)

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
    pruning_criterion: str = "magnitude"


@dataclass
class IMPResult:
    """The network trained in the last (completed) round, its ticket and table."""

    coefs: list[sp.csr_array]
    intercepts: list[np.ndarray]
    ticket: LotteryTicket
    history: dict[str, np.ndarray]
    last_round: RoundResult
    unconverged_rounds: list[int] = field(default_factory=list)
    interrupted_round: int | None = None


def _start_from_ticket(ticket: LotteryTicket, dtype) -> tuple[StartPoint, list]:
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
        rewound.indices, rewound.indptr = trained.indices, trained.indptr
        coefs.append(trained)
        intercepts.append(layer.bias.copy())
        rewind_weights.append(rewound)
    return coefs, intercepts, rewind_weights


class _Search:
    """The state of one search between rounds, and how to save and restore it."""

    def __init__(
        self,
        initial,
        positions,
        total,
        validation,
        activation,
        out_activation,
        redraw_initial=None,
    ):
        self.activation = activation
        # Draws the initial weights again (None: they cannot be redrawn).
        self.redraw_initial = redraw_initial
        self.out_activation = out_activation
        self.initial = initial
        self.shapes = [W.shape for W in initial.weights]
        self.positions = positions
        self.total = total
        self.start = initial
        self.snapshot: StartPoint | None = None
        self.network: Network | None = None
        self.history = {key: [] for key in HISTORY_KEYS}
        if validation:
            for key in VALIDATION_KEYS:
                self.history[key] = []
        self.unconverged: list[int] = []
        self.completed = -1
        # The last completed round, exported only when asked for; a last start
        # of None after round 0 means the initial weights, drawn again.
        self.last_network: Network | None = None
        self.last_start: StartPoint | None = None
        self.last_round: RoundResult | None = None

    def complete(self, round_index: int, result: RoundResult) -> None:
        self.completed = round_index
        self.compact_start_points([layer._positions for layer in self.network.layers])
        self.last_network, self.last_start = self.network, self.start
        self.last_round = result

    def compact_start_points(self, positions, spare=None) -> None:
        """Keep the start points only at ``positions`` (None: a whole layer).

        Later rounds read them only where weights survive. Points that are the
        same object stay one (compacted once); ``spare`` is left as it is.
        """
        compacted = {id(spare): spare}
        for name in ("initial", "snapshot", "start"):
            point = getattr(self, name)
            if point is not None and id(point) not in compacted:
                compacted[id(point)] = point.compacted(positions)
            setattr(self, name, None if point is None else compacted[id(point)])

    def result(self) -> IMPResult:
        """The network of the last completed round, its ticket and table."""
        start = self.last_start
        if start is None:
            start = self.redraw_initial()
        coefs, intercepts, rewind_weights = _export(self.last_network, start)
        ticket = LotteryTicket(
            rewind_weights,
            [b.copy() for b in start.biases],
            np.asarray(self.history["sparsity"]),
        )
        return IMPResult(
            coefs=coefs,
            intercepts=intercepts,
            ticket=ticket,
            history={k: np.asarray(v) for k, v in self.history.items()},
            last_round=self.last_round,
            unconverged_rounds=list(self.unconverged),
        )

    # -- checkpoints -----------------------------------------------------------
    def save(self, store: CheckpointStore, rng) -> None:
        last_round = self.last_round
        name, keys, pos, has_gauss, cached = rng.get_state()
        header = {
            "completed_round": self.completed,
            "history": self.history,
            "unconverged": self.unconverged,
            "rng": [name, int(pos), int(has_gauss), float(cached)],
            "start": [self.start.step, self.start.hold_final_lr],
            "snapshot_step": None if self.snapshot is None else self.snapshot.step,
            "last_round": {
                "n_iter": last_round.n_iter,
                "steps": last_round.steps,
                "loss_curve": last_round.loss_curve,
                "validation_scores": last_round.validation_scores,
                "best_validation_score": last_round.best_validation_score,
                "converged": last_round.converged,
                "min_validation_loss_iteration": (
                    last_round.min_validation_loss_iteration
                ),
                "validation_score_at_min_loss": last_round.validation_score_at_min_loss,
            },
        }
        arrays = {"rng_keys": keys}
        # Start points are saved at the kept positions: later rounds read
        # nothing else from them.
        for i, layer in enumerate(self.network.layers):
            positions = layer.positions
            arrays[f"positions_{i}"] = positions
            arrays[f"values_{i}"] = layer.values
            arrays[f"bias_{i}"] = layer.bias
            arrays[f"start_weights_{i}"] = self.start.values(i, positions)
            arrays[f"start_bias_{i}"] = self.start.biases[i]
            if self.initial is not None:
                arrays[f"initial_weights_{i}"] = self.initial.values(i, positions)
                arrays[f"initial_bias_{i}"] = self.initial.biases[i]
            if self.snapshot is not None:
                arrays[f"snapshot_weights_{i}"] = self.snapshot.values(i, positions)
                arrays[f"snapshot_bias_{i}"] = self.snapshot.biases[i]
        store.save(header, arrays)

    def restore(self, header: dict, arrays: dict, rng) -> RoundResult:
        n_layers = len(self.shapes)
        shapes = self.shapes
        self.completed = header["completed_round"]
        self.history = header["history"]
        self.unconverged = header["unconverged"]
        name, pos, has_gauss, cached = header["rng"]
        rng.set_state((name, arrays["rng_keys"], pos, has_gauss, cached))
        self.positions = [
            arrays[f"positions_{i}"].astype(np.intp, copy=False)
            for i in range(n_layers)
        ]
        self.initial = None
        if "initial_weights_0" in arrays:
            self.initial = StartPoint(
                [arrays[f"initial_weights_{i}"] for i in range(n_layers)],
                [arrays[f"initial_bias_{i}"] for i in range(n_layers)],
                positions=self.positions,
            )
        if header["snapshot_step"] is not None:
            self.snapshot = StartPoint(
                [arrays[f"snapshot_weights_{i}"] for i in range(n_layers)],
                [arrays[f"snapshot_bias_{i}"] for i in range(n_layers)],
                step=header["snapshot_step"],
                positions=self.positions,
            )
        self.network = Network(
            [
                Layer(
                    self.positions[i],
                    arrays[f"values_{i}"],
                    arrays[f"bias_{i}"],
                    shapes[i],
                )
                for i in range(n_layers)
            ],
            self.activation,
            self.out_activation,
        )
        step, hold = header["start"]
        self.start = StartPoint(
            [arrays[f"start_weights_{i}"] for i in range(n_layers)],
            [arrays[f"start_bias_{i}"] for i in range(n_layers)],
            step=step,
            hold_final_lr=hold,
            positions=self.positions,
        )
        self.complete(self.completed, RoundResult(**header["last_round"]))
        self.positions = None  # the network holds them


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
    rows: np.ndarray | None = None,
    validation_rows: np.ndarray | None = None,
    ticket: LotteryTicket | None = None,
    checkpoint: CheckpointStore | None = None,
    on_round_end: Callable | None = None,
) -> IMPResult:
    """Run iterative magnitude pruning and return the final sparse network.

    Parameters
    ----------
    X, Y, sample_weight
        All the data; the search trains on ``rows`` (None: all rows) and scores
        on ``validation_rows`` (early stopping, choosing among seeds).
    ticket : LotteryTicket, optional
        Skip the search: train that sub-network once from its stored weights.
    checkpoint : CheckpointStore, optional
        Resume from it if it holds a state, and save the state after each round.
    on_round_end : callable, optional
        ``on_round_end(record, coefs, intercepts)`` after each round, with that
        round's row of the history and its weights (CSR).
    """
    dtype = X.dtype
    redraw_initial = None
    if ticket is None:
        first_draw = rng.get_state()

        def redraw_initial() -> StartPoint:
            again = np.random.RandomState()
            again.set_state(first_draw)
            return StartPoint(*glorot_uniform(layer_units, activation, dtype, again))

        initial = StartPoint(*glorot_uniform(layer_units, activation, dtype, rng))
        positions = [
            np.arange(W.size, dtype=position_dtype(W.shape)) for W in initial.weights
        ]
        # A target sparsity of zero has nothing to prune: one dense round.
        n_rounds = pruning.pruning_rounds if pruning.target_sparsity > 0 else 0
    else:
        initial, positions = _start_from_ticket(ticket, dtype)
        n_rounds = 0
    total = sum(W.size for W in initial.weights)
    search = _Search(
        initial,
        positions,
        total,
        validation_rows is not None,
        activation,
        out_activation,
        redraw_initial,
    )
    # The search holds them from now on, and lets go of what it no longer needs.
    del positions, initial
    data = dict(X=X, Y=Y, sample_weight=sample_weight, rows=rows)

    def draw_fresh() -> StartPoint:
        return StartPoint(*glorot_uniform(layer_units, activation, dtype, rng))

    n_train = X.shape[0] if rows is None else rows.size
    batch_size = training.resolved_batch_size(n_train)
    snap_at = snapshot_step(
        pruning.rewind,
        pruning.rewind_iteration,
        pruning.rewind_fraction,
        -(-n_train // batch_size),
        training.max_iter,
    )
    rate = per_round_rate(pruning.target_sparsity, pruning.pruning_rounds)
    groups, rates = pruning_pools(
        len(layer_units) - 1, pruning.pruning_scope, rate, pruning.output_layer_rate
    )

    if checkpoint is not None and (saved := checkpoint.load()) is not None:
        search.restore(*saved, rng)

    for round_index in range(search.completed + 1, n_rounds + 1):
        tic = time.perf_counter()
        if round_index > 0:
            _prune_and_rewind(
                search, pruning, groups, rates, draw_fresh, round_index, rng, data
            )
        else:
            search.network = Network.from_dense(
                search.initial.weights,
                search.initial.biases,
                search.positions,
                activation,
                out_activation,
            )
            search.positions = None
        try:
            result = train_round(
                search.network,
                X,
                Y,
                sample_weight,
                training,
                rng,
                start=search.start,
                rows=rows,
                snapshot_at=snap_at if round_index == 0 and ticket is None else None,
                validation_rows=validation_rows,
                round_index=round_index,
            )
        except KeyboardInterrupt:
            if search.last_network is None:
                raise
            warnings.warn(
                f"Training interrupted by the user during round {round_index}; the "
                f"estimator keeps round {search.completed}, the last one completed "
                f"(sparsity {search.history['sparsity'][-1]:.4f}).",
                UserWarning,
                stacklevel=4,
            )
            kept = search.result()
            kept.interrupted_round = round_index
            return kept
        except TrainingDivergedError as exc:
            exc.partial = None if search.last_network is None else search.result()
            raise
        if round_index == 0:
            search.snapshot, result.snapshot = result.snapshot, None
            _warn_if_snapshot_late(result, snap_at, pruning.rewind)
        if not result.converged:
            search.unconverged.append(round_index)
        record = _record(search, result, round_index, data, validation_rows, tic)
        for key, value in record.items():
            search.history[key].append(value)
        search.complete(round_index, result)
        if checkpoint is not None:
            search.save(checkpoint, rng)
        if on_round_end is not None:
            exported = search.result()
            on_round_end(record, exported.coefs, exported.intercepts)

    final = search.result()
    if ticket is not None and ticket.sparsity_history is not None:
        final.ticket.sparsity_history = ticket.sparsity_history
    return final


def _prune_and_rewind(
    search, pruning, groups, rates, draw_fresh, round_index, rng, data
):
    network = search.network
    magnitudes = [np.abs(layer.values) for layer in network.layers]
    # No layer collapse: the path of largest weights from the output back to
    # an input is never pruned, so the output always depends on the input.
    path = strongest_path([layer.matrix for layer in network.layers], magnitudes)
    positions = [layer.positions for layer in network.layers]
    trained = None
    if pruning.rewind in ("lr", "none"):
        trained = weights_now(network)
    network.release_gradients()  # it stays only as the last completed round
    start = rewind_point(
        pruning.rewind,
        initial=search.initial,
        snapshot=search.snapshot,
        trained=trained,
        draw_fresh=draw_fresh,
    )
    trained = None
    scores = _pruning_scores(
        pruning.pruning_criterion, magnitudes, start, positions, search, rng, data
    )
    keep = prune_lowest(scores, groups, rates, path)
    expected = sum(
        n_to_prune(rate, sum(scores[i].size for i in layers))
        for layers, rate in zip(groups, rates)
    )
    removed = sum(int((~k).sum()) for k in keep)
    if removed < expected:
        warnings.warn(
            f"Round {round_index} prunes {removed} weights instead of {expected}: "
            "the strongest path from the output back to an input is never pruned, "
            "so that no layer is cut off. The final sparsity will be below "
            f"target_sparsity={pruning.target_sparsity}.",
            UserWarning,
            stacklevel=5,
        )
    positions = [pos[k].astype(np.intp, copy=False) for pos, k in zip(positions, keep)]
    search.network = network = scores = magnitudes = keep = path = None
    if search.last_start is search.initial and search.redraw_initial is not None:
        # Round 0 started from the initial weights, which the seed draws again
        # if round 0 must be exported.
        search.last_start = None
    if pruning.rewind != "init":
        search.initial = None  # no later round rewinds to it
    # Only survivors are read from now on, except by the last completed round.
    search.start = start
    search.compact_start_points(positions, spare=search.last_start)
    search.network = _network_at(search, search.start, positions)


def _network_at(search, start: StartPoint, positions) -> Network:
    """A trainable network keeping ``positions``, with the weights of ``start``."""
    layers = [
        Layer(pos, start.values(i, pos), bias, shape)
        for i, (pos, bias, shape) in enumerate(
            zip(positions, start.biases, search.shapes)
        )
    ]
    return Network(layers, search.activation, search.out_activation)


def _pruning_scores(criterion, magnitudes, start, positions, search, rng, data):
    """One score per remaining weight; the lowest are pruned.

    ``"magnitude"``: the trained weights' absolute values. ``"random"``: uniform
    draws from the search's random state (the paper's random-pruning control).
    ``"snip"``: connection sensitivity ``|dL/dw * w|`` (Lee et al., 2019) at
    the weights the next round starts from, with the gradient of the mean
    training loss over all training rows.
    """
    if criterion == "magnitude":
        return magnitudes
    if criterion == "random":
        return [rng.random_sample(m.size) for m in magnitudes]
    probe = _network_at(search, start, positions)
    scores = mean_gradient(probe, **data)
    for score, layer in zip(scores, probe.layers):
        np.multiply(score, layer.values, out=score)
        np.abs(score, out=score)
    return scores


def _record(search, result, round_index, data, validation_rows, tic) -> dict:
    network = search.network
    X, Y, sample_weight, rows = (
        data["X"],
        data["Y"],
        data["sample_weight"],
        data["rows"],
    )
    remaining = network.n_remaining
    Y_train = Y if rows is None else Y[rows]
    sw_train = None
    if sample_weight is not None:
        sw_train = sample_weight if rows is None else sample_weight[rows]
    train_score = validation_score(
        network.out_activation, Y_train, predict_network(network, X, rows), sw_train
    )
    record = {
        "round": round_index,
        "sparsity": 1.0 - remaining / search.total,
        "remaining_parameters": remaining,
        "n_iter": result.n_iter,
        "train_loss": result.loss_curve[-1] if result.loss_curve else np.nan,
        "train_score": train_score,
        "seconds": time.perf_counter() - tic,
    }
    if validation_rows is not None:
        record["validation_score"] = (
            result.best_validation_score
            if result.best_validation_score is not None
            else result.validation_scores[-1]
        )
        record["min_validation_loss_iteration"] = result.min_validation_loss_iteration
        record["validation_score_at_min_loss"] = result.validation_score_at_min_loss
    return record


def _warn_if_snapshot_late(result: RoundResult, snap_at, rewind: str) -> None:
    if snap_at is not None and result.steps < snap_at:
        warnings.warn(
            f"Round 0 stopped after {result.steps} optimizer steps, before the "
            f"rewind point at step {snap_at} (rewind={rewind!r}); later rounds "
            "rewind to the end of round 0 instead. Lower rewind_iteration or "
            "rewind_fraction, or raise max_iter.",
            UserWarning,
            stacklevel=5,
        )
