"""Iterative magnitude pruning (IMP), the loop of Frankle & Carbin (2019).

1. Initialise a dense network with weights W0.
2. Train it (round 0).
3. Prune the fraction ``p`` of the remaining weights with the smallest
   magnitude.
4. Rewind the survivors (to W0 for the original algorithm) and train again.
5. Repeat 3-4 until ``pruning_rounds`` rounds have pruned; the network trained
   in the last round, at the target sparsity, is the result.

Nothing finished is lost: a round is committed to the search state in one
step once it is complete, so whatever stops the loop (a Ctrl-C, a round that
diverges, a crash while pruning or saving) leaves the last completed round
readable through :class:`Progress`; after every round the loop can save its
state to a checkpoint, and resumes from one.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import scipy.sparse as sp

from ._checkpoint import CheckpointStore
from ._interrupt import StopFlag
from ._losses import constant_prediction, loss_value, validation_score
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
    at_chance,
    failed_round,
    mean_gradient,
    predict_network,
    train_round,
    weights_now,
)
from .exceptions import CheckpointError, TrainingDivergedError

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
    # Rounds that ended no better than chance (but not diverged).
    chance_rounds: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class _Completed:
    """The last completed round, committed in one assignment.

    ``start`` None after round 0 means the initial weights, drawn again.
    """

    round_index: int
    network: Network
    start: StartPoint | None
    result: RoundResult


class Progress:
    """Where a search leaves its state, so that it outlives an exception.

    ``find_ticket`` puts its search here before the first round; whatever
    stops it, :meth:`result` then gives the last completed round.
    """

    def __init__(self):
        self.search: _Search | None = None

    def result(self) -> IMPResult | None:
        """The last completed round's result, or None if no round completed."""
        search = self.search
        if search is None or search.last is None:
            return None
        return search.result()


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
        self.chance: list[int] = []
        # The last completed round, exported only when asked for.
        self.last: _Completed | None = None

    @property
    def completed(self) -> int:
        """The last completed round (-1: none)."""
        return -1 if self.last is None else self.last.round_index

    def complete(self, round_index: int, result: RoundResult, record: dict) -> None:
        """Commit a finished round: its history row, then the round itself.

        Until the single assignment of ``self.last``, :meth:`result` still
        gives the previous round (it reads only rows up to ``self.last``).
        """
        for key, value in record.items():
            self.history[key].append(value)
        self.compact_start_points([layer._positions for layer in self.network.layers])
        self.last = _Completed(round_index, self.network, self.start, result)

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
        last = self.last
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

    # -- checkpoints -----------------------------------------------------------
    def save(self, store: CheckpointStore, rng) -> None:
        last_round = self.last.result
        name, keys, pos, has_gauss, cached = rng.get_state()
        header = {
            "completed_round": self.completed,
            "history": self.history,
            "unconverged": self.unconverged,
            "chance": self.chance,
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

    def restore(self, store: CheckpointStore, header: dict, arrays: dict, rng):
        """Continue from a saved state; anything malformed is a CheckpointError."""
        try:
            self._restore(header, arrays, rng)
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise CheckpointError(
                f"The checkpoint {store.path} does not hold a valid search state "
                f"({type(exc).__name__}: {exc}). Delete it (or choose another "
                "checkpoint_dir) to start the search over."
            ) from exc

    def _restore(self, header: dict, arrays: dict, rng) -> None:
        n_layers = len(self.shapes)
        dtype = self.start.biases[0].dtype

        def layer_arrays(prefix: str, i: int, size: int) -> np.ndarray:
            values = np.asarray(arrays[f"{prefix}_{i}"])
            if values.shape != (size,) or values.dtype.kind != "f":
                raise ValueError(f"{prefix}_{i} has shape {values.shape}")
            if not np.isfinite(values).all():
                raise ValueError(f"{prefix}_{i} holds non-finite values")
            return values.astype(dtype, copy=False)

        def point(prefix: str, **kwargs) -> StartPoint:
            weights = [
                layer_arrays(f"{prefix}_weights", i, pos.size)
                for i, pos in enumerate(positions)
            ]
            biases = [
                layer_arrays(f"{prefix}_bias", i, shape[1])
                for i, shape in enumerate(self.shapes)
            ]
            return StartPoint(weights, biases, positions=positions, **kwargs)

        positions = [
            _checked_positions(arrays[f"positions_{i}"], self.shapes[i], i)
            for i in range(n_layers)
        ]
        completed = int(header["completed_round"])
        history = {key: list(header["history"][key]) for key in self.history}
        if completed < 0 or any(len(v) != completed + 1 for v in history.values()):
            raise ValueError("the history does not match the completed rounds")
        name, pos, has_gauss, cached = header["rng"]
        rng.set_state((name, arrays["rng_keys"], int(pos), int(has_gauss), cached))
        self.history = history
        self.unconverged = [int(r) for r in header["unconverged"]]
        self.chance = [int(r) for r in header.get("chance", [])]
        self.initial = None
        if "initial_weights_0" in arrays:
            self.initial = point("initial")
        if header["snapshot_step"] is not None:
            self.snapshot = point("snapshot", step=int(header["snapshot_step"]))
        layers = [
            Layer(
                pos,
                layer_arrays("values", i, pos.size),
                layer_arrays("bias", i, shape[1]),
                shape,
            )
            for i, (pos, shape) in enumerate(zip(positions, self.shapes))
        ]
        self.network = Network(layers, self.activation, self.out_activation)
        step, hold = header["start"]
        self.start = point("start", step=int(step), hold_final_lr=bool(hold))
        self.positions = None  # the network holds them
        result = RoundResult(**header["last_round"])
        self.last = _Completed(completed, self.network, self.start, result)


def _checked_positions(positions, shape, layer: int) -> np.ndarray:
    """Saved kept positions: sorted, unique, inside the layer."""
    positions = np.asarray(positions)
    if positions.ndim != 1 or positions.dtype.kind not in "iu":
        raise ValueError(f"positions_{layer} is not a 1-d integer array")
    size = shape[0] * shape[1]
    if positions.size and (
        positions[0] < 0 or positions[-1] >= size or np.any(np.diff(positions) <= 0)
    ):
        raise ValueError(f"positions_{layer} are not sorted positions of the layer")
    return positions.astype(np.intp, copy=False)


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
) -> _Search:
    """A new search from ``rng``'s initial weights, or the one ``checkpoint`` holds.

    With a ``ticket`` the search starts from the ticket's weights and mask.
    """
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
    else:
        initial, positions = _start_from_ticket(ticket, dtype)
    search = _Search(
        initial,
        positions,
        sum(W.size for W in initial.weights),
        validation,
        activation,
        out_activation,
        redraw_initial,
    )
    if checkpoint is not None and (saved := checkpoint.load()) is not None:
        search.restore(checkpoint, *saved, rng)
    return search


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
    progress: Progress | None = None,
    stop: StopFlag | None = None,
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
    progress : Progress, optional
        Receives the search before its first round: whatever exception stops
        the loop, ``progress.result()`` gives the last completed round.
    stop : StopFlag, optional
        Checked between mini-batches (see :func:`~._training.train_round`).

    Raises
    ------
    TrainingDivergedError
        When a round diverges (see :func:`~._training.failed_round`).
    """
    search = open_search(
        X.dtype,
        layer_units=layer_units,
        activation=activation,
        out_activation=out_activation,
        rng=rng,
        validation=validation_rows is not None,
        ticket=ticket,
        checkpoint=checkpoint,
    )
    if progress is not None:
        progress.search = search
    # A target sparsity of zero has nothing to prune: one dense round.
    n_rounds = pruning.pruning_rounds if pruning.target_sparsity > 0 else 0
    if ticket is not None:
        n_rounds = 0
    data = dict(X=X, Y=Y, sample_weight=sample_weight, rows=rows)
    baseline = constant_prediction(out_activation, *_training_part(data))

    def draw_fresh() -> StartPoint:
        return StartPoint(*glorot_uniform(layer_units, activation, X.dtype, rng))

    n_train = X.shape[0] if rows is None else rows.size
    snap_at = snapshot_step(
        pruning.rewind,
        pruning.rewind_iteration,
        pruning.rewind_fraction,
        -(-n_train // training.resolved_batch_size(n_train)),
        training.max_iter,
    )
    rate = per_round_rate(pruning.target_sparsity, pruning.pruning_rounds)
    groups, rates = pruning_pools(
        len(layer_units) - 1, pruning.pruning_scope, rate, pruning.output_layer_rate
    )

    for round_index in range(search.completed + 1, n_rounds + 1):
        if stop is not None:  # a thread between rounds starts no new one
            stop.raise_if_set()
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
            stop=stop,
        )
        if round_index == 0:
            search.snapshot, result.snapshot = result.snapshot, None
            _warn_if_snapshot_late(result, snap_at, pruning.rewind)
        record, train_loss = _record(
            search, result, round_index, data, validation_rows, tic
        )
        _judge(search, result, record, train_loss, baseline, training)
        search.complete(round_index, result, record)
        if checkpoint is not None:
            if stop is not None:  # the interrupted fit may have let go of the lock
                stop.raise_if_set()
            search.save(checkpoint, rng)
        if on_round_end is not None:
            exported = search.result()
            on_round_end(record, exported.coefs, exported.intercepts)

    final = search.result()
    if ticket is not None and ticket.sparsity_history is not None:
        final.ticket.sparsity_history = ticket.sparsity_history
    return final


def _training_part(data: dict) -> tuple:
    """The targets and sample weights of the training rows."""
    Y, sample_weight, rows = data["Y"], data["sample_weight"], data["rows"]
    if rows is None:
        return Y, sample_weight
    return Y[rows], None if sample_weight is None else sample_weight[rows]


def _judge(search, result, record, train_loss, baseline, training) -> None:
    """Raise if the round diverged; note it if it ended unconverged or at chance."""
    round_index = record["round"]
    reason = failed_round(result, train_loss, record["train_score"], baseline)
    if reason is not None:
        raise TrainingDivergedError(
            f"Training diverged in round {round_index}: {reason}. Try a smaller "
            f"learning_rate_init (now {training.learning_rate_init}) or scale the "
            "input features.",
            round_index=round_index,
        )
    if not result.converged:
        search.unconverged.append(round_index)
    if at_chance(record["train_score"], baseline) and train_loss > baseline[0]:
        search.chance.append(round_index)


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
            stacklevel=7,
        )
    positions = [pos[k].astype(np.intp, copy=False) for pos, k in zip(positions, keep)]
    search.network = network = scores = magnitudes = keep = path = None
    last = search.last
    if last.start is search.initial and search.redraw_initial is not None:
        # Round 0 started from the initial weights, which the seed draws again
        # if round 0 must be exported.
        search.last = last = replace(last, start=None)
    if pruning.rewind != "init":
        search.initial = None  # no later round rewinds to it
    # Only survivors are read from now on, except by the last completed round.
    search.start = start
    search.compact_start_points(positions, spare=last.start)
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


def _record(
    search, result, round_index, data, validation_rows, tic
) -> tuple[dict, float]:
    """The round's history row, and the loss of its final weights (no L2)."""
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
    P_train = predict_network(network, X, rows)
    train_score = validation_score(network.out_activation, Y_train, P_train, sw_train)
    train_loss = loss_value(network.out_activation, Y_train, P_train, sw_train)
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
    return record, train_loss


def _warn_if_snapshot_late(result: RoundResult, snap_at, rewind: str) -> None:
    if snap_at is not None and result.steps < snap_at:
        warnings.warn(
            f"Round 0 stopped after {result.steps} optimizer steps, before the "
            f"rewind point at step {snap_at} (rewind={rewind!r}); later rounds "
            "rewind to the end of round 0 instead. Lower rewind_iteration or "
            "rewind_fraction, or raise max_iter.",
            UserWarning,
            stacklevel=7,
        )
