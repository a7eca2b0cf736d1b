"""Training one round: mini-batch epochs over a network with a fixed mask.

:func:`train_round` is a loop over epochs, each a loop over mini-batches (in
runs that one compiled call takes, where the backend can); the steps it calls
each own one concern:

- :class:`BatchSource`: which rows each mini-batch holds, and gathering them;
- :class:`~sklearn_lth._schedules.LearningRateSchedule`: the learning rate of
  each step (see :mod:`sklearn_lth._schedules`);
- :class:`TrainingStep`: one optimizer step on one mini-batch (or a run);
- :class:`ValidationTracker`: the validation rows' score and loss per epoch,
  and the best weights for early stopping;
- :class:`NoImprovementRule`: when training stops (shared with
  :class:`~sklearn_lth.SupermaskMLP`).

The network and the step compute on the backend of the fit's kernel path
(:mod:`sklearn_lth._kernels`), which :class:`TrainingStep` asks for once per
round. A new solver is a new optimizer for :class:`TrainingStep` (see
:mod:`sklearn_lth._optimizers`), a new schedule one new class in
:mod:`sklearn_lth._schedules`, a new kernel a method of a backend.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from sklearn.utils import gen_batches

from ._interrupt import StopFlag
from ._kernels import backend_for, flush_subnormal
from ._losses import l2_penalty, loss_value, output_delta, validation_score
from ._network import Network
from ._optimizers import make_optimizer
from ._rewinding import StartPoint
from ._schedules import LearningRateSchedule, make_schedule
from ._training_config import TrainingConfig, resolve_batch_size  # noqa: F401
from ._verbose import say
from .exceptions import TrainingDivergedError

# TrainingConfig and resolve_batch_size live in _training_config (which the
# optimizers and the schedules import without this module); the estimators
# and the search import them from here.

if TYPE_CHECKING:
    import scipy.sparse as sp

    # The training data: dense rows, or CSR rows.
    Features = np.ndarray | sp.csr_array | sp.csr_matrix


@dataclass
class RoundResult:
    """What one round of training did."""

    n_iter: int = 0
    steps: int = 0
    loss_curve: list[float] = field(default_factory=list)
    # The loss of the round's first mini-batch, before its first step: where
    # training started (None for a solver that has no mini-batches).
    initial_loss: float | None = None
    validation_scores: list[float] | None = None
    best_validation_score: float | None = None
    converged: bool = False
    snapshot: StartPoint | None = None
    # The paper's early-stopping criterion, found afterwards: the optimizer
    # step (at an epoch's end) of minimum validation loss, and the score there.
    min_validation_loss_iteration: int | None = None
    validation_score_at_min_loss: float | None = None
    # Training rows seen, summed over the epochs (scikit-learn's ``t_``; 0 for
    # a solver that has no epochs).
    samples_seen: int = 0
    # The stopping rule's count of epochs without improvement at the end
    # (scikit-learn's ``_no_improvement_count``).
    stall_count: int = 0


@dataclass(frozen=True)
class EarlierTraining:
    """What a warm-started fit carries over from the fit before it.

    scikit-learn's ``warm_start`` keeps training the fitted network with a
    new optimizer, but its counts and its stopping rule go on: ``t_`` (which
    ``"invscaling"`` reads), the loss curve, the validation scores, the best
    loss or validation score, and the count of epochs without improvement.
    A round given this picks them up (see :func:`train_round`).
    """

    samples_seen: int
    loss_curve: list[float]
    validation_scores: list[float] | None
    best: float | None
    stall_count: int


# A round has failed when it ends this many times above both where it started
# and a constant prediction's loss (no learning rate that works does so).
DIVERGED_FACTOR = 10.0
# ... or when it ends at chance this much above both: it has lost ground. A
# loss a hair above them (0.6947 against 0.6942 on random labels, which no
# network learns) is noise at chance, not divergence: that round warns.
LOST_GROUND_FACTOR = 1.1
#: Steps between two passes that set subnormal parameters and optimizer state
#: to zero, where the update does not at every step (the numpy path: a pass
#: costs about what numpy's Adam step does, so at most a twentieth more).
SUBNORMAL_FLUSH_STEPS = 20
#: Mini-batches one compiled call trains on at most where the backend takes
#: several (``fused_steps``), and the multiply-adds of their forward passes
#: (kept weights times rows, summed over the steps) at most: a Ctrl-C, or a
#: thread's stop flag, waits for one such run (3-4 ms on the benchmark
#: machine: 32 steps of a 784-300-100-10 network at 2% or 5% kept, 10 at 20%).
STEPS_PER_CALL = 32
MULTIPLY_ADDS_PER_CALL = 2**25


def remedy(config: TrainingConfig) -> str:
    """What to try after a diverged round, as a sentence."""
    advice = f"a smaller learning_rate_init (now {config.learning_rate_init})"
    # A step of learning_rate_init * alpha >= 1 on the L2 term overshoots
    # zero by itself: the penalty, not the data, drives the weights away.
    if config.learning_rate_init * config.alpha >= 1:
        advice += f", a smaller alpha (now {config.alpha})"
    return (
        f"Try {advice} or scale the input features (and, for regression, the targets)."
    )


def failed_round(
    result: RoundResult, train_loss: float, train_score: float, baseline
) -> str | None:
    """Why a completed round counts as diverged, or None when it does not.

    A round whose loss ends more than ``DIVERGED_FACTOR`` times above both
    where it started and the constant prediction's loss has diverged, and so
    has one that ends more than ``LOST_GROUND_FACTOR`` times above both with
    a training score no better than chance: it has learned nothing and lost
    ground. A round that ends at chance nearer where it started is slow, or
    has nothing to learn, not diverged (see :func:`at_chance`).

    Parameters
    ----------
    result : RoundResult
        The round. Where it started: its first epoch's mean loss (a mean over
        all training rows, unlike a single mini-batch's loss, and including
        the L2 term, which only makes the test more lenient), or its first
        mini-batch's loss when that is lower: an epoch that has already
        diverged (weights grown a million times, and the L2 term with them)
        says nothing of where training started.
    train_loss, train_score : float
        Loss (no L2 term) and score of the round's final weights on the
        training rows.
    baseline : tuple of float
        Loss and score of the best constant prediction
        (:func:`~sklearn_lth._losses.constant_prediction`).

    Returns
    -------
    str or None
        The reason, worded to follow "diverged in round ...:".
    """
    null_loss, chance = baseline
    start = result.loss_curve[0] if result.loss_curve else null_loss
    if result.initial_loss is not None:
        start = min(start, result.initial_loss)
    reference = max(null_loss, start, float(np.finfo(np.float32).tiny))
    if train_loss > DIVERGED_FACTOR * reference:
        return (
            f"its training loss ended at {train_loss:.4g}, more than "
            f"{DIVERGED_FACTOR:g} times both where it started ({start:.4g}) and "
            f"the loss of a constant prediction ({null_loss:.4g})"
        )
    if train_loss > LOST_GROUND_FACTOR * reference and at_chance(train_score, baseline):
        return (
            f"its training loss ended at {train_loss:.4g}, above both where it "
            f"started ({start:.4g}) and the loss of a constant prediction "
            f"({null_loss:.4g}), with a training score of {train_score:.4g}, no "
            f"better than chance ({chance:.4g})"
        )
    return None


def at_chance(train_score: float, baseline) -> bool:
    """Whether a training score is no better than the constant prediction's."""
    return train_score <= baseline[1] + 1e-9


def weights_now(network: Network, step: int = 0) -> StartPoint:
    """The network's weights and biases as a start point.

    The values and biases are copies (the network trains on in place); the
    positions are the layers' own arrays, shared, as nothing modifies them.
    """
    return StartPoint(
        [layer.values.copy() for layer in network.layers],
        network.biases(),
        step=step,
        positions=[layer.sparse_positions for layer in network.layers],
    )


#: Rows per chunk of :func:`predict_network`: on a dense 784-300-100-10
#: network's BLAS products chunks of 512 rows took 0.72-0.85 of the time of
#: chunks of 64-256. A backend may take others for dense rows that a first
#: layer reads feature-major (``feature_major_prediction_rows``).
PREDICTION_ROWS = 512


def predict_network(
    network: Network, X, rows: np.ndarray | None = None, batch_size: int | None = None
) -> np.ndarray:
    """Outputs of ``network`` for ``X`` (or its ``rows``), in chunks of
    ``batch_size`` rows (None: the fastest for the network's kernels).

    Memory stays bounded and ``X`` is never copied whole: the chunks are
    gathered as training gathers its batches, into a buffer that goes with
    the call (on the compiled path, feature-major where the first layer
    reads them so: no copy of a chunk stays with the network).
    """
    if batch_size is None:
        batch_size = PREDICTION_ROWS
        if network.reads_batch_transposed and isinstance(X, np.ndarray):
            first = network.layers[0].backend.feature_major_prediction_rows
            batch_size = first or batch_size
    n = X.shape[0] if rows is None else rows.size
    chunk = min(batch_size, n)
    chunks = BatchSource(X, None, None, rows, chunk, False, None, **network.gathering())
    activations, _ = network.allocate(chunk, X.dtype, deltas=False)
    out = np.empty((n, network.layers[-1].shape[1]), dtype=X.dtype)
    for batch in chunks.epoch():
        activations[0] = chunks.gather(batch)[0]
        out[batch] = network.forward(activations)
    return out


def mean_gradient(
    network: Network, X, Y, sample_weight, rows=None, batch_size: int = 200
) -> list[np.ndarray]:
    """The gradient of the mean training loss at the kept weights (no update).

    Computed over all ``rows`` (all of ``X`` when None) in mini-batches of
    ``batch_size``, without the L2 penalty.
    """
    n = X.shape[0] if rows is None else rows.size
    batch_size = min(batch_size, n)
    activations, deltas = network.allocate(batch_size, X.dtype)
    if sample_weight is None:
        total_weight = n
    else:
        total_weight = float(
            sample_weight.sum() if rows is None else sample_weight[rows].sum()
        )
    # Rows that all weigh zero give a zero gradient, not a division by zero.
    total_weight = max(total_weight, 1e-12)
    grad_sums = [np.zeros_like(layer.values) for layer in network.layers]
    for batch in gen_batches(n, batch_size):
        idx = batch if rows is None else rows[batch]
        activations[0] = X[idx]
        sw = None if sample_weight is None else sample_weight[idx]
        P = network.forward(activations)
        # Every batch's error divided by the weight of *all* the rows: the
        # batch gradients then add up to the gradient of the mean loss.
        output_delta(Y[idx], P, sw, deltas[-1][: P.shape[0]], scale=1.0 / total_weight)
        network.backward(activations, deltas)
        for grad_sum, layer in zip(grad_sums, network.layers):
            grad_sum += layer.kept_grad()
        network.sync()  # backward may have used the weights' buffers
    return grad_sums


class BatchSource:
    """The mini-batches of one round: which rows, in which order, gathered.

    Owns the order of the training rows, shuffled in place with the round's
    ``rng`` at the start of every epoch (so each epoch's order depends on all
    the previous ones, as in scikit-learn), and the buffer dense batches are
    gathered into.

    Parameters
    ----------
    X : ndarray or CSR matrix of shape (n_rows, n_features)
        All the data (the training rows and any others).
    Y : ndarray of shape (n_rows, n_outputs) or None
        Targets, encoded for the output layer (None: batches to predict).
    sample_weight : ndarray of shape (n_rows,) or None
    rows : ndarray of int or None
        The training rows of ``X`` (None: all of them).
    batch_size : int
        Rows per mini-batch (the last one of an epoch may be short).
    shuffle : bool
        Shuffle every epoch; otherwise batches are consecutive slices.
    rng : RandomState
        Does the shuffling.
    feature_major_gather : callable or None
        A kernel that gathers rows of ``X`` straight into a ``(features,
        batch)`` buffer (a backend's ``feature_major_gather``), for a first
        layer that reads its batch feature-major; None gathers them into a
        ``(batch, features)`` buffer.
    feature_major_buffer : callable or None
        The backend's ``feature_major_buffer``, which makes the feature-major
        buffer (possibly with more columns than a batch); needed with
        ``feature_major_gather``.
    """

    __slots__ = (
        "X",
        "Y",
        "sample_weight",
        "rows",
        "batch_size",
        "shuffle",
        "rng",
        "n_samples",
        "total_weight",
        "order",
        "buffer",
        "feature_major_gather",
        "rows_in_order",
        "slices_of_X",
    )

    def __init__(
        self,
        X: Features,
        Y: np.ndarray | None,
        sample_weight: np.ndarray | None,
        rows: np.ndarray | None,
        batch_size: int,
        shuffle: bool,
        rng: np.random.RandomState,
        feature_major_gather: Callable | None = None,
        feature_major_buffer: Callable | None = None,
    ):
        self.X, self.Y, self.sample_weight, self.rows = X, Y, sample_weight, rows
        self.batch_size, self.shuffle, self.rng = batch_size, shuffle, rng
        self.n_samples = X.shape[0] if rows is None else rows.size
        # The divisor of an epoch's mean loss.
        if sample_weight is None:
            self.total_weight = self.n_samples
        else:
            self.total_weight = float(
                sample_weight.sum() if rows is None else sample_weight[rows].sum()
            )
        # Dense batches are gathered into this one buffer, reused batch after
        # batch, rather than into a new array each (CSR rows are copied anew);
        # with a feature-major gather, into a (features, batch) buffer. All
        # the rows in order are slices of X itself, unless gathered
        # feature-major.
        if not isinstance(X, np.ndarray):
            feature_major_gather = None
        self.feature_major_gather = feature_major_gather
        self.slices_of_X = not shuffle and rows is None and feature_major_gather is None
        self.buffer = None
        if isinstance(X, np.ndarray) and not self.slices_of_X:
            self.buffer = (
                np.empty((batch_size, X.shape[1]), dtype=X.dtype)
                if feature_major_gather is None
                else feature_major_buffer(X.shape[1], batch_size, X.dtype)
            )
        # Positions among the training rows, in this epoch's order.
        self.order = np.arange(self.n_samples)
        self.rows_in_order = None  # epoch_rows'

    def epoch(self) -> Iterator[slice]:
        """Start an epoch: shuffle the order, give the batches' slices of it."""
        if self.shuffle:
            self.rng.shuffle(self.order)
        self.rows_in_order = None
        return gen_batches(self.n_samples, self.batch_size)

    def epoch_rows(self) -> np.ndarray:
        """The rows of ``X`` in this epoch's order: a batch's slice of it are
        the rows :meth:`gather` gives."""
        if self.rows_in_order is None:
            self.rows_in_order = self.order
            if self.rows is not None:
                # (Unshuffled, the order is 0, 1, 2...: the rows themselves.)
                self.rows_in_order = (
                    self.rows[self.order] if self.shuffle else self.rows
                )
        return self.rows_in_order

    def gathers_feature_major(self) -> bool:
        """Whether the batches are unweighted rows of a dense ``X`` gathered
        feature-major (what a run of steps in one compiled call reads:
        :meth:`run_rows`)."""
        return self.sample_weight is None and self.feature_major_gather is not None

    def run_rows(self, run: list[slice]) -> tuple[np.ndarray, np.ndarray]:
        """The rows of ``X`` of consecutive batches ``run`` of this epoch:
        ``rows[bounds[k]:bounds[k + 1]]`` are the ``k``-th batch's."""
        bounds = np.array([batch.start for batch in run] + [run[-1].stop])
        return self.epoch_rows(), bounds

    def gather(
        self, batch: slice
    ) -> tuple[Features, np.ndarray, np.ndarray | None, float]:
        """The rows of ``batch``: inputs, targets, weights and their sum.

        Returns
        -------
        inputs : ndarray or CSR matrix
            A view of the reused buffer, a slice of ``X`` (unshuffled, all
            rows, not gathered feature-major), or new CSR rows; valid until
            the next call.
        targets : ndarray or None
        weights : ndarray or None
        weight_sum : int or float
            The batch's size when there are no sample weights.
        """
        idx = batch if self.slices_of_X else self.epoch_rows()[batch]
        n = batch.stop - batch.start
        if self.buffer is None:
            inputs = self.X[idx]  # a slice of an array is a view; CSR rows copies
        elif self.feature_major_gather is not None:
            self.feature_major_gather(self.X, idx, self.buffer)
            inputs = self.buffer[:, :n].T
        else:
            # With out=, the default mode="raise" would gather through a
            # temporary buffer; the indices are rows of X, so clip never acts.
            inputs = np.take(self.X, idx, axis=0, out=self.buffer[:n], mode="clip")
        weights = None if self.sample_weight is None else self.sample_weight[idx]
        weight_sum = n if weights is None else float(weights.sum())
        targets = None if self.Y is None else self.Y[idx]
        return inputs, targets, weights, weight_sum


class TrainingStep:
    """One optimizer step on one mini-batch, with the buffers it reuses.

    Holds the flat parameter buffer that :meth:`Network.flatten` moves the
    network's parameters into (the layers keep views of it and of the
    gradient buffer), the update (the optimizer and its state, over both
    buffers), and the activations and errors, all allocated once per round:
    on dense data a step allocates no parameter-sized array, only batch-sized
    temporaries (the loss's terms, the products scipy returns).

    The network computes with the backend of ``config.kernels`` (see
    :mod:`sklearn_lth._kernels`), and so do the step's loss, error and
    update.

    Parameters
    ----------
    network : Network
        Flattened here, then trained in place by every call.
    config : TrainingConfig
        Gives the kernel path, the solver, its hyper-parameters, and ``alpha``.
    batch_size : int
        The largest mini-batch the buffers must hold.
    dtype : dtype
        The data's.
    dense_input : bool
        Whether the batches are dense rows (not CSR), which whole-network
        compiled passes need (see ``Network.use_backend``).
    """

    __slots__ = (
        "network",
        "backend",
        "alpha",
        "params",
        "weights",
        "update",
        "activations",
        "deltas",
        "out_activation",
        "passes",
        "fused_step",
        "fused_steps",
        "weights_squares",
        "carried",
        "steps_unflushed",
    )

    def __init__(
        self,
        network: Network,
        config: TrainingConfig,
        batch_size: int,
        dtype,
        dense_input: bool = True,
    ):
        self.network, self.alpha = network, config.alpha
        self.backend = backend_for(config.kernels)
        network.use_backend(
            self.backend,
            batch_size,
            whole_passes=dense_input and np.dtype(dtype) == network.dtype,
        )
        flat_params, flat_grads, n_weights = network.flatten()
        # One array: the optimizer updates every layer in one pass.
        self.params = [flat_params]
        # The weights lead the flat buffers; the biases (no L2) follow.
        self.weights = flat_params[:n_weights]
        # Fresh state every round, sized by what the optimizer updates: the
        # kept weights, or the dense matrix of a layer that trains it (where
        # a pruned weight's moment or velocity stays zero); no round
        # inherits another's.
        optimizer = make_optimizer(config.solver, self.params, config)
        # What carries from step to step, for flush_subnormal (nothing when
        # the update sets subnormal numbers to zero itself).
        self.carried = []
        if not self.backend.update_flushes_subnormal(optimizer):
            self.carried = [flat_params, *optimizer.state]
        self.steps_unflushed = 0
        self.update = self.backend.optimizer_update(
            optimizer, flat_params, flat_grads, n_weights, config.alpha, network.layers
        )
        self.out_activation = network.out_activation
        self.allocate(batch_size, dtype)
        self.weights_squares = None

    def forget_weights_squares(self) -> None:
        """Read the weights' sum of squares anew at the next step: call before
        a run of steps (an epoch), after anything else may have set weights."""
        self.weights_squares = None

    def flush_subnormal(self) -> None:
        """Set subnormal parameters and optimizer state to zero.

        Where the update does not do it itself at every step (the numpy
        path's), every :data:`SUBNORMAL_FLUSH_STEPS` steps and when called
        (at the end of a round). See
        :func:`~sklearn_lth._kernels.flush_subnormal` for why.
        """
        if not self.carried:
            return
        self.steps_unflushed = 0
        params, *state = self.carried
        for values in state:
            flush_subnormal(values)
        if flush_subnormal(params):
            self.passes.sync()  # the products' copies of the weights

    def allocate(self, batch_size: int, dtype) -> None:
        """(Re)make the activations and errors for batches of up to
        ``batch_size`` rows of ``dtype``, and what computes the passes on them.
        """
        network = self.network
        self.activations, self.deltas = network.allocate(batch_size, dtype)
        # The forward and backward passes and the refresh: the network's, or
        # the backend's over the whole network at once (on these buffers).
        self.passes = self.backend.network_passes(
            network, self.activations, self.deltas
        )
        # The whole step in one call, where the backend has one, and several.
        self.fused_step = self.backend.fused_step(
            self.passes, self.update, self.out_activation
        )
        self.fused_steps = self.backend.fused_steps(
            self.passes, self.update, self.out_activation
        )

    def batches_per_call(self, batches: BatchSource) -> int:
        """How many of ``batches``' mini-batches :meth:`train_on` takes in one
        call: where the backend trains on several (``fused_steps``, on
        unweighted rows of the buffers' dtype gathered feature-major), as
        many as :data:`STEPS_PER_CALL` and :data:`MULTIPLY_ADDS_PER_CALL`
        allow; else 1."""
        if (
            self.fused_steps is None
            or not batches.gathers_feature_major()
            or batches.X.dtype != self.activations[1].dtype
        ):
            return 1
        # (A ticket may keep no weight at all: its steps still cost.)
        per_step = max(1, self.network.n_remaining * batches.batch_size)
        return max(1, min(STEPS_PER_CALL, MULTIPLY_ADDS_PER_CALL // per_step))

    def train_on(
        self, batches: BatchSource, run: list[slice], learning_rates: list[float]
    ) -> Iterable[tuple[float, float]]:
        """Train on each mini-batch of ``run`` (consecutive slices of the
        epoch) at its learning rate; give each step's loss and batch weight,
        the last a loss that is not finite if one is (no step after it).

        Several in one call when there are several (see
        :meth:`batches_per_call`), else as :meth:`__call__`.
        """
        if len(run) == 1:
            inputs, targets, weights, weight_sum = batches.gather(run[0])
            loss = self(inputs, targets, weights, weight_sum, learning_rates[0])
            return [(loss, weight_sum)]
        rows, bounds = batches.run_rows(run)
        sizes = [batch.stop - batch.start for batch in run]
        losses, squares = self.fused_steps(
            batches.X,
            rows,
            bounds,
            batches.Y,
            batches.buffer,
            learning_rates,
            self.penalty(sizes[0]),
            self.alpha,
        )
        if self.alpha and (math.isfinite(losses[-1]) or len(losses) > 1):
            self.weights_squares = squares  # after the run's last update
        return zip(losses.tolist(), sizes)

    def penalty(self, weight_sum: float) -> float:
        """The next step's L2 penalty (:func:`~sklearn_lth._losses.l2_penalty`)."""
        if not self.alpha:
            return 0.0
        # ||W||^2 comes from the last update when it gave it (the compiled
        # path's, in its own pass over the weights: a pass of its own cost 4%
        # of a dense 784-300-100-10 step), else from a pass here.
        l2 = self.weights_squares
        if l2 is None:
            l2 = float(np.dot(self.weights, self.weights))
        return l2_penalty(self.alpha, l2, weight_sum)

    def __call__(
        self,
        inputs: Features,
        targets: np.ndarray,
        weights: np.ndarray | None,
        weight_sum: float,
        learning_rate: float,
    ) -> float:
        """Forward, loss (with L2), backward, update; return the batch's loss.

        In one call where the backend takes the whole step
        (``fused_step``: a network of CSR layers on the compiled path), else
        call by call.

        A non-finite loss is returned at once, with no update, for the caller
        to report. A batch whose rows all weigh zero counts its loss but takes
        no step: its gradient would be divided by zero.
        """
        passes, activations, alpha = self.passes, self.activations, self.alpha
        penalty = self.penalty(weight_sum)
        if self.fused_step is not None and weight_sum > 0:
            step = self.fused_step(
                inputs, targets, weights, weight_sum, learning_rate, penalty
            )
            if step is not None:
                loss, squares = step
                if math.isfinite(loss):
                    self.weights_squares = squares if alpha else None
                return loss
        activations[0] = inputs
        # Overflows show up as a non-finite loss, which the caller reports.
        with np.errstate(over="ignore", invalid="ignore"):
            passes.forward(activations)
            # The error, divided by the batch weight, goes into the output's
            # error buffer (see NumpyBackend.loss_and_error).
            loss = self.backend.loss_and_error(
                self.out_activation,
                targets,
                activations[-1],
                weights,
                weight_sum,
                self.deltas[-1],
            )
            if alpha:
                loss += penalty
        if weight_sum > 0 and math.isfinite(loss):
            passes.backward(activations, self.deltas)
            self.weights_squares = self.update(learning_rate, weight_sum)
            # The products read copies of the weights (dense or CSR), which
            # backward may also have used as scratch: refresh them.
            passes.sync()
            if self.carried:  # an update that leaves subnormal numbers
                self.steps_unflushed += 1
                if self.steps_unflushed >= SUBNORMAL_FLUSH_STEPS:
                    self.flush_subnormal()
        return loss


class ValidationTracker:
    """The validation rows' score and loss after every epoch.

    Owns what a round records about its validation rows: the score per epoch,
    the step of minimum validation loss and the score there (written into the
    :class:`RoundResult`), and, for early stopping, a copy of the best
    weights.

    Parameters
    ----------
    network : Network
        The network being trained (read only).
    X, Y, sample_weight
        All the data, as given to :func:`train_round`.
    rows : ndarray of int
        The validation rows.
    """

    def __init__(
        self,
        network: Network,
        X: Features,
        Y: np.ndarray,
        sample_weight: np.ndarray | None,
        rows: np.ndarray,
    ):
        self.network, self.X, self.rows = network, X, rows
        self.targets = Y[rows]
        self.weights = None if sample_weight is None else sample_weight[rows]
        self.min_loss = np.inf
        self.best_params: list[np.ndarray] | None = None

    def score_epoch(self, result: RoundResult) -> float | None:
        """Score the network now, record it in ``result`` and return the score.

        None (nothing recorded) when the network's outputs are not finite.
        """
        out_activation = self.network.out_activation
        predicted = predict_network(self.network, self.X, self.rows)
        if not np.isfinite(predicted).all():
            # Weights that overflowed: no score means anything (r2_score would
            # refuse the NaN); the caller reports the divergence.
            return None
        score = validation_score(out_activation, self.targets, predicted, self.weights)
        result.validation_scores.append(score)
        loss = loss_value(out_activation, self.targets, predicted, self.weights)
        if loss < self.min_loss:
            self.min_loss = loss
            result.min_validation_loss_iteration = result.steps
            result.validation_score_at_min_loss = score
        return score

    def keep_best(self, params: list[np.ndarray]) -> None:
        """Copy ``params`` as the best weights (into the same arrays each time)."""
        if self.best_params is None:
            self.best_params = [p.copy() for p in params]
        else:
            for best, p in zip(self.best_params, params):
                best[...] = p

    def restore_best(self, params: list[np.ndarray]) -> bool:
        """Put the best weights back into ``params``; False when none was kept."""
        if self.best_params is None:
            return False
        for p, best in zip(params, self.best_params):
            p[...] = best
        return True


class NoImprovementRule:
    """Stop after more than ``n_iter_no_change`` epochs without improvement.

    An epoch improves when its value beats the best so far by at least
    ``tol``; the best is updated by any improvement, however small. These are
    the semantics of scikit-learn's MLP (``_update_no_improvement_count``),
    used by :func:`train_round` and by :class:`~sklearn_lth.SupermaskMLP`.

    Parameters
    ----------
    tol : float
    n_iter_no_change : int
    maximize : bool, default=False
        The value is a score to maximise (early stopping's validation score)
        rather than a loss to minimise.
    """

    __slots__ = ("tol", "n_iter_no_change", "maximize", "best", "count")

    def __init__(self, tol: float, n_iter_no_change: int, *, maximize: bool = False):
        self.tol, self.n_iter_no_change, self.maximize = tol, n_iter_no_change, maximize
        self.best = -np.inf if maximize else np.inf
        self.count = 0  # epochs without improvement, in a row

    def update(self, value: float) -> bool:
        """Count an epoch's value; return whether it is the best so far.

        A NaN value restarts the count and is never the best (comparisons
        with NaN are false), as in scikit-learn.
        """
        if self.maximize:
            stalled, is_best = value < self.best + self.tol, value > self.best
        else:
            stalled, is_best = value > self.best - self.tol, value < self.best
        self.count = self.count + 1 if stalled else 0
        if is_best:
            self.best = value
        return is_best

    @property
    def should_stop(self) -> bool:
        """Whether the last ``n_iter_no_change + 1`` epochs all stalled."""
        return self.count > self.n_iter_no_change

    def restart(self) -> None:
        """Forget the stall (a schedule lowered its rate in answer to it)."""
        self.count = 0


class _Round:
    """One round's state, and the two halves of each of its epochs.

    :meth:`train_epoch` runs the mini-batches (the batch source, the
    schedule, the training step), counting steps and taking the snapshot;
    :meth:`end_epoch` does the epoch's bookkeeping (validation, the stopping
    rule and early stopping's best weights, the schedule's end-of-epoch hook,
    ``verbose``); :meth:`finish` restores the best weights and returns the
    :class:`RoundResult`.
    """

    def __init__(
        self,
        config: TrainingConfig,
        train_step: TrainingStep,
        batches: BatchSource,
        schedule: LearningRateSchedule,
        validation: ValidationTracker | None,
        *,
        start_step: int,
        snapshot_at: int | None,
        stop: StopFlag | None,
        round_index: int,
        earlier: EarlierTraining | None = None,
    ):
        self.config, self.train_step, self.batches = config, train_step, batches
        self.schedule, self.validation = schedule, validation
        self.start_step, self.snapshot_at = start_step, snapshot_at
        self.stop, self.round_index = stop, round_index
        # Early stopping watches the validation score, otherwise the training loss.
        self.early_stopping = validation is not None and config.early_stopping
        self.stopping = NoImprovementRule(
            config.tol, config.n_iter_no_change, maximize=self.early_stopping
        )
        self.result = RoundResult(validation_scores=None if validation is None else [])
        if snapshot_at is not None and snapshot_at <= 0:
            self.result.snapshot = weights_now(train_step.network, step=0)
        if earlier is not None:
            self._go_on_from(earlier)

    def _go_on_from(self, earlier: EarlierTraining) -> None:
        """Pick up the counts and the stopping rule of an earlier fit."""
        result, stopping = self.result, self.stopping
        result.samples_seen = earlier.samples_seen
        result.loss_curve = list(earlier.loss_curve)
        if result.validation_scores is not None and earlier.validation_scores:
            result.validation_scores = list(earlier.validation_scores)
        stopping.count = earlier.stall_count
        if earlier.best is not None and np.isfinite(earlier.best):
            stopping.best = earlier.best
            if self.early_stopping:
                # The fitted weights are the earlier fit's best: they stay
                # unless an epoch beats them, as in scikit-learn.
                self.validation.keep_best(self.train_step.params)

    def train_epoch(self, epoch: int) -> None:
        """Train one epoch; add its mean loss to the loss curve.

        Raises
        ------
        TrainingDivergedError
            At the first mini-batch whose loss is not finite.
        """
        result, snapshot_at = self.result, self.snapshot_at
        # Where the snapshot is due, a run of steps in one call ends there.
        snapshot_due = snapshot_at is not None and result.snapshot is None
        steps = epoch_steps(
            self.train_step,
            self.batches,
            self.schedule,
            self.start_step + result.steps,  # the position on the schedule
            stop=self.stop,
            cut=snapshot_at - result.steps if snapshot_due else None,
        )
        accumulated = 0.0
        for loss, weight_sum in steps:
            if not math.isfinite(loss):
                raise self._diverged(loss, epoch)
            if result.initial_loss is None:
                result.initial_loss = loss
            # Summed per unit of weight: the epoch's loss is the weighted mean
            # over its rows, so a short last batch counts for what it holds.
            accumulated += loss * weight_sum
            result.steps += 1
            if snapshot_due and result.snapshot is None:
                # The weights after step ``snapshot_at`` of the round, with
                # their position on the schedule for the rounds rewound there.
                if result.steps >= snapshot_at:
                    result.snapshot = weights_now(
                        self.train_step.network, step=self.start_step + result.steps
                    )
        result.n_iter += 1
        result.samples_seen += self.batches.n_samples
        result.loss_curve.append(accumulated / max(self.batches.total_weight, 1e-12))

    def end_epoch(self) -> bool:
        """Score the epoch and count it for the stopping rule; True: stop."""
        result, stopping, validation = self.result, self.stopping, self.validation
        epoch_loss = result.loss_curve[-1]
        score = None if validation is None else validation.score_epoch(result)
        if validation is not None and score is None:
            raise self._diverged(float("nan"), result.n_iter - 1)
        improved = stopping.update(score if self.early_stopping else epoch_loss)
        if self.early_stopping and improved:
            validation.keep_best(self.train_step.params)
        if self.schedule.end_epoch(
            samples_seen=result.samples_seen,
            epochs_without_improvement=stopping.count,
        ):
            stopping.restart()  # the schedule lowered its rate instead
        if self.config.verbose:
            say(_epoch_line(result))
        result.converged = stopping.should_stop
        result.stall_count = stopping.count
        return result.converged

    def finish(self) -> RoundResult:
        """Restore early stopping's best weights; snapshot if not done yet."""
        result, network = self.result, self.train_step.network
        if self.early_stopping:
            if self.validation.restore_best(self.train_step.params):
                network.sync()  # the products' copies still hold the last weights
                result.best_validation_score = self.stopping.best
        self.train_step.flush_subnormal()
        if self.snapshot_at is not None and result.snapshot is None:
            result.snapshot = weights_now(network, step=self.start_step + result.steps)
        return result

    def _diverged(self, loss: float, epoch: int) -> TrainingDivergedError:
        return TrainingDivergedError(
            f"Training diverged in round {self.round_index}, epoch {epoch + 1}: "
            f"the loss is {loss}. Solver produced non-finite parameter weights. "
            "The input data may contain large values and need to be preprocessed. "
            + remedy(self.config),
            round_index=self.round_index,
        )


def epoch_steps(
    train_step: TrainingStep,
    batches: BatchSource,
    schedule: LearningRateSchedule,
    first_step: int,
    *,
    stop: StopFlag | None = None,
    cut: int | None = None,
) -> Iterator[tuple[float, float]]:
    """Train an epoch of ``batches``, the first step at position
    ``first_step`` on ``schedule``; give each step's loss and batch weight,
    the last a loss that is not finite if one is.

    In runs of steps that one call takes where the training step can (see
    :meth:`TrainingStep.batches_per_call`), one of them ending with the
    ``cut``-th step: a step's loss comes once its run has trained, so the
    weights after a step are its own only at the end of a run (the
    ``cut``-th). ``stop`` is read before each run.
    """
    train_step.forget_weights_squares()  # (anything may have set weights)
    step = first_step
    for run in _runs(batches.epoch(), train_step.batches_per_call(batches), cut):
        # Threads never see a Ctrl-C: one running a seed or a fold of an
        # interrupted fit stops here, before its next run of steps.
        if stop is not None:
            stop.raise_if_set()
        rates = [schedule.learning_rate(step + k) for k in range(len(run))]
        for loss, weight_sum in train_step.train_on(batches, run, rates):
            yield loss, weight_sum
            if not math.isfinite(loss):
                return
        step += len(run)


def _runs(
    batches: Iterable[slice], most: int, cut: int | None
) -> Iterator[list[slice]]:
    """``batches`` in lists of at most ``most``, one of them ending with the
    ``cut``-th batch (None: none)."""
    run, taken = [], 0
    for batch in batches:
        run.append(batch)
        taken += 1
        if len(run) == most or taken == cut:
            yield run
            run = []
    if run:
        yield run


def _epoch_line(result: RoundResult) -> str:
    """What ``verbose`` prints after an epoch: scikit-learn's MLP's lines.

    The round they belong to is printed when it starts (see :mod:`._search._loop`).
    """
    line = f"Iteration {result.n_iter}, loss = {result.loss_curve[-1]:.8f}"
    if result.validation_scores is not None:
        line += f"\nValidation score: {result.validation_scores[-1]:f}"
    return line


def train_round(
    network: Network,
    X: Features,
    Y: np.ndarray,
    sample_weight: np.ndarray | None,
    config: TrainingConfig,
    rng: np.random.RandomState,
    *,
    start: StartPoint,
    rows: np.ndarray | None = None,
    snapshot_at: int | None = None,
    validation_rows: np.ndarray | None = None,
    round_index: int = 0,
    stop: StopFlag | None = None,
    earlier: EarlierTraining | None = None,
) -> RoundResult:
    """Train ``network`` in place for up to ``config.max_iter`` epochs.

    Parameters
    ----------
    network : Network
        Trained in place; its pattern of kept weights never changes.
    X, Y, sample_weight
        Data, targets encoded for the output layer, optional weights.
    config : TrainingConfig
    rng : RandomState
        Shuffles the samples each epoch.
    start : StartPoint
        Gives the position on the learning-rate schedule.
    rows : ndarray of int, optional
        The training rows of ``X`` (None: all of them).
    snapshot_at : int, optional
        Keep a copy of the weights after this many optimizer steps.
    validation_rows : ndarray of int, optional
        Rows scored after every epoch (score, loss, and the iteration of
        minimum loss). With ``config.early_stopping``, training stops when the
        score stops improving and the best weights are restored.
    round_index : int
        Used in messages only.
    stop : StopFlag, optional
        Checked between mini-batches (or runs of up to
        :data:`STEPS_PER_CALL`): once set, training stops with a
        KeyboardInterrupt (another thread of the same fit was interrupted).
    earlier : EarlierTraining, optional
        A warm-started fit's carry-over: the result's counts, loss curve and
        validation scores continue it, and so does the stopping rule.

    Returns
    -------
    RoundResult
        Epochs and steps run, the loss curve, validation scores, whether the
        stopping rule ended the round, and the snapshot.
    """
    n_samples = X.shape[0] if rows is None else rows.size
    batch_size = config.resolved_batch_size(n_samples)
    scheduled_steps = config.max_iter * config.steps_per_epoch(n_samples)
    validation = None
    if validation_rows is not None:
        validation = ValidationTracker(network, X, Y, sample_weight, validation_rows)
    step = TrainingStep(network, config, batch_size, X.dtype, isinstance(X, np.ndarray))
    this_round = _Round(
        config,
        step,
        BatchSource(
            X,
            Y,
            sample_weight,
            rows,
            batch_size,
            config.shuffle,
            rng,
            **network.gathering(),
        ),
        make_schedule(config, start, scheduled_steps, n_samples=n_samples),
        validation,
        start_step=start.step,
        snapshot_at=snapshot_at,
        stop=stop,
        round_index=round_index,
        earlier=earlier,
    )
    for epoch in range(config.max_iter):
        this_round.train_epoch(epoch)
        if this_round.end_epoch():
            break
    return this_round.finish()
