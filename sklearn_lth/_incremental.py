"""``partial_fit``: one pass over the given data, the kept weights fixed.

As scikit-learn's ``partial_fit``, each call trains one epoch over the rows it
is given and keeps the optimizer's state for the next call; at
``target_sparsity=0.0`` a sequence of calls takes scikit-learn's steps.
Nothing is pruned: the network keeps the pattern it started with (a found
ticket's, a fitted estimator's, or all weights on a first call), and pruned
weights stay exactly zero with no optimizer state.

The learning rate comes from one schedule for all the calls, built with the
optimizer at the first (:meth:`~sklearn_lth._schedules.LearningRateSchedule.
for_stream`): each call is an epoch of it, so ``solver="sgd"`` with
``"invscaling"`` decays with the rows of every call so far, as scikit-learn's.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.utils.validation import check_random_state

from ._base import hidden_layer_units, validate_training_data
from ._diagnostics import warn_if_batch_clipped
from ._interrupt import FitTransaction
from ._network import (
    Network,
    glorot_uniform,
    kept_positions,
    position_dtype,
)
from ._prediction import prediction_operands
from ._schedules import make_stream_schedule
from ._search._state import start_from_ticket
from ._threads import blas_threads, blas_threads_for
from ._training import BatchSource, TrainingStep, epoch_steps, remedy
from ._training_config import TrainingConfig
from .exceptions import TrainingDivergedError


def partial_fit_pass(estimator, X, y, sample_weight=None, classes=None):
    """``estimator.partial_fit``: one pass over ``X, y``, all or nothing.

    The first call starts the network (see :func:`first_network`) and keeps
    it, with its optimizer, in ``estimator._incremental`` for the next calls.
    A call that fails leaves the fitted attributes as they were; one that
    failed during its pass also drops the stream, so that the next call
    restarts from the fitted weights with a fresh optimizer. Returns
    ``estimator``.
    """
    if estimator.early_stopping:
        raise ValueError("partial_fit does not support early_stopping=True")
    training = False
    try:
        with FitTransaction(estimator):
            X, Y, weights = _validate_increment(estimator, X, y, sample_weight, classes)
            warn_if_batch_clipped(estimator.batch_size, estimator.solver, X.shape[0])
            hidden = hidden_layer_units(estimator.hidden_layer_sizes)
            units = [X.shape[1], *hidden, Y.shape[1]]
            config = TrainingConfig.from_params(estimator.get_params(deep=False), units)
            # Anew at every call, as scikit-learn does.
            rng = check_random_state(estimator.random_state)
            batch_size = config.resolved_batch_size(X.shape[0])
            limit = blas_threads_for(units, batch_size)
            if not hasattr(estimator, "_incremental"):
                _start(estimator, units, config, X, rng, batch_size)
            training = True
            with blas_threads(limit) as threads:
                loss = estimator._incremental.one_pass(config, X, Y, weights, rng)
    except BaseException:
        if training:
            # The transaction restored the fitted attributes, but the pass
            # moved the stream's network in place: the next call restarts
            # from the fitted weights, with a fresh optimizer. (Data refused
            # before the pass keeps the stream going.)
            estimator.__dict__.pop("_incremental", None)
        raise
    _set_fitted(estimator, loss, X.shape[0])
    estimator.kernels_ = {"path": config.kernels, "blas_threads": threads}
    if estimator.verbose:
        print(f"Iteration {estimator.n_iter_}, loss = {loss:.8f}")
    return estimator


def _validate_increment(estimator, X, y, sample_weight, classes):
    """The data of one call, checked against the earlier calls' (or the fit's)."""
    reset = not hasattr(estimator, "n_features_in_")
    X, y, sample_weight = validate_training_data(
        estimator, X, y, sample_weight, reset=reset
    )
    Y = estimator._encode_increment(y, X.dtype, classes)
    estimator.n_outputs_ = Y.shape[1]
    estimator.out_activation_ = estimator._out_activation(Y)
    return X, Y, sample_weight


def _start(estimator, layer_units, config, X, rng, batch_size: int) -> None:
    """The network and optimizer that the first call (of rows ``X``) trains,
    on batches of ``batch_size`` rows."""
    network = first_network(estimator, layer_units, X.dtype, rng)
    estimator._incremental = IncrementalTraining(
        network, config, X.dtype, batch_size, isinstance(X, np.ndarray)
    )
    estimator.n_layers_ = len(network.layers) + 1
    if not hasattr(estimator, "loss_curve_"):  # after fit, the counts go on
        estimator.t_, estimator.loss_curve_ = 0, []


def _set_fitted(estimator, loss: float, n_rows: int) -> None:
    """The fitted attributes after a pass over ``n_rows`` rows."""
    network = estimator._incremental.network
    coefs = [layer.to_csr() for layer in network.layers]
    estimator.__dict__.update(
        coefs_=coefs,
        intercepts_=[layer.bias.copy() for layer in network.layers],
        _operands=prediction_operands(coefs),
        n_iter_=1,  # scikit-learn counts the epochs of this call
        t_=estimator.t_ + n_rows,
        loss_=loss,
        loss_curve_=[*estimator.loss_curve_, loss],
    )
    estimator.best_loss_ = min(estimator.loss_curve_)


class IncrementalTraining:
    """What ``partial_fit`` keeps between calls (never pickled).

    Parameters
    ----------
    network : Network
        Trained in place by every pass.
    config : TrainingConfig
        The estimator's training parameters.
    dtype : dtype
        The data's.
    batch_size : int
        The first call's mini-batches: the buffers' first size, and the
        batch the layers' kernels are chosen for (once: the optimizer's
        state lives in the layers' arrays).
    dense_input : bool
        Whether the first call's rows are dense (the kernels are chosen for
        them, see :class:`~sklearn_lth._training.TrainingStep`).
    """

    def __init__(
        self,
        network: Network,
        config: TrainingConfig,
        dtype,
        batch_size: int,
        dense_input: bool = True,
    ):
        self.network = network
        # The buffers grow with the largest batch seen; the optimizer and the
        # schedule (built once here) carry their state from call to call.
        self.batch_capacity = batch_size
        self.train_step = TrainingStep(network, config, batch_size, dtype, dense_input)
        self.schedule = make_stream_schedule(config)
        self.steps = 0  # the position on the schedule
        self.samples_seen = 0

    def one_pass(self, config: TrainingConfig, X, Y, sample_weight, rng) -> float:
        """Train one epoch over ``X``, shuffled by ``rng``; return its mean loss.

        scikit-learn takes ``check_random_state(random_state)`` anew at every
        call: with an int seed every pass shuffles from that seed again.
        """
        n_samples = X.shape[0]
        batch_size = config.resolved_batch_size(n_samples)
        step = self.train_step
        if batch_size > self.batch_capacity or step.activations[1].dtype != X.dtype:
            # Larger batches, or another dtype than the buffers': new buffers.
            step.allocate(batch_size, X.dtype)
            self.batch_capacity = batch_size
        batches = BatchSource(
            X,
            Y,
            sample_weight,
            None,
            batch_size,
            config.shuffle,
            rng,
            **step.network.gathering(),
        )
        accumulated = 0.0
        for loss, weight_sum in epoch_steps(step, batches, self.schedule, self.steps):
            if not math.isfinite(loss):
                raise TrainingDivergedError(
                    f"Training diverged in partial_fit: the loss is {loss}. "
                    + remedy(config)
                )
            accumulated += loss * weight_sum
            self.steps += 1
        self.samples_seen += n_samples
        # No stopping rule counts stalls across calls (see _schedules), so
        # "adaptive" never lowers its rate here.
        self.schedule.end_epoch(
            samples_seen=self.samples_seen, epochs_without_improvement=0
        )
        return accumulated / max(batches.total_weight, 1e-12)


def first_network(estimator, layer_units, dtype, rng) -> Network:
    """The network a first ``partial_fit`` trains.

    The fitted network (``coefs_``, in its own dtype, as scikit-learn keeps
    it whatever the chunks' dtype) if there is one, else the ``ticket``'s,
    else the dense network of fresh initial weights drawn from ``rng``, as
    scikit-learn's first ``partial_fit`` draws them.
    """
    activation, out = estimator.activation, estimator.out_activation_
    if hasattr(estimator, "coefs_"):
        dtype = estimator.coefs_[0].dtype
        positions = [kept_positions(W) for W in estimator.coefs_]
        layers = [W.toarray().astype(dtype) for W in estimator.coefs_]
        biases = [np.asarray(b, dtype=dtype) for b in estimator.intercepts_]
        return Network.from_dense(layers, biases, positions, activation, out)
    if estimator.ticket is not None:
        start, positions = start_from_ticket(estimator.ticket, dtype)
        return Network.from_dense(
            start.weights, start.biases, positions, activation, out
        )
    weights, biases = glorot_uniform(layer_units, activation, dtype, rng)
    positions = [np.arange(W.size, dtype=position_dtype(W.shape)) for W in weights]
    return Network.from_dense(weights, biases, positions, activation, out)
