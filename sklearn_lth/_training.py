"""Training one round: mini-batch epochs over a network with a fixed mask."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from sklearn.utils import gen_batches

from ._interrupt import StopFlag
from ._losses import loss_value, output_delta, validation_score
from ._network import Network
from ._optimizers import add_l2_gradient, make_optimizer, scheduled_learning_rate
from ._rewinding import StartPoint
from .exceptions import TrainingDivergedError

# Elements per chunk of the L2 penalty's gradient (128 KiB of float32).
L2_CHUNK = 32_768


@dataclass(frozen=True)
class TrainingConfig:
    """Hyper-parameters of training, read from an estimator's parameters."""

    solver: str = "adam"
    alpha: float = 1e-4
    batch_size: int | str = "auto"
    learning_rate: str = "constant"
    learning_rate_init: float = 1e-3
    max_iter: int = 200
    shuffle: bool = True
    tol: float = 1e-4
    n_iter_no_change: int = 10
    momentum: float = 0.9
    nesterovs_momentum: bool = True
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-8
    verbose: bool = False
    early_stopping: bool = False

    def resolved_batch_size(self, n_samples: int) -> int:
        if self.batch_size == "auto":
            return min(200, n_samples)
        return min(max(int(self.batch_size), 1), n_samples)


@dataclass
class RoundResult:
    """What one round of training did."""

    n_iter: int = 0
    steps: int = 0
    loss_curve: list[float] = field(default_factory=list)
    validation_scores: list[float] | None = None
    best_validation_score: float | None = None
    converged: bool = False
    snapshot: StartPoint | None = None
    # The paper's early-stopping criterion, found afterwards: the optimizer
    # step (at an epoch's end) of minimum validation loss, and the score there.
    min_validation_loss_iteration: int | None = None
    validation_score_at_min_loss: float | None = None


# A round has failed when it ends this many times above both its first epoch's
# loss and a constant prediction's (no learning rate that works does so).
DIVERGED_FACTOR = 10.0


def failed_round(
    result: RoundResult, train_loss: float, train_score: float, baseline
) -> str | None:
    """Why a completed round counts as diverged, or None when it does not.

    Parameters
    ----------
    result : RoundResult
        The round; its first epoch's mean loss tells where it started (a mean
        over all training rows, unlike a single mini-batch's loss, and
        including the L2 term, which only makes the test more lenient).
    train_loss, train_score : float
        Loss (no L2 term) and score of the round's final weights on the
        training rows.
    baseline : tuple of float
        Loss and score of the best constant prediction
        (:func:`~sklearn_lth._losses.constant_prediction`).

    A round whose loss ends more than ``DIVERGED_FACTOR`` times above both its
    first epoch's loss and the constant prediction's has diverged, and so has
    one that ends above both with a training score no better than chance: it
    has learned nothing and lost ground. A round that ends at chance below
    its first epoch's loss is slow, not diverged (see :func:`at_chance`).
    """
    null_loss, chance = baseline
    start = result.loss_curve[0] if result.loss_curve else null_loss
    reference = max(null_loss, start, np.finfo(np.float32).tiny)
    if train_loss > DIVERGED_FACTOR * reference:
        return (
            f"its training loss ended at {train_loss:.4g}, more than "
            f"{DIVERGED_FACTOR:g} times both its first epoch's ({start:.4g}) and "
            f"the loss of a constant prediction ({null_loss:.4g})"
        )
    if train_loss > reference and at_chance(train_score, baseline):
        return (
            f"its training loss ended at {train_loss:.4g}, above both its first "
            f"epoch's ({start:.4g}) and the loss of a constant prediction "
            f"({null_loss:.4g}), with a training score of {train_score:.4g}, no "
            f"better than chance ({chance:.4g})"
        )
    return None


def at_chance(train_score: float, baseline) -> bool:
    """Whether a training score is no better than the constant prediction's."""
    return train_score <= baseline[1] + 1e-9


def weights_now(network: Network, step: int = 0) -> StartPoint:
    """The network's weights and biases as a start point (copies, kept only)."""
    return StartPoint(
        [layer.values.copy() for layer in network.layers],
        network.biases(),
        step=step,
        positions=[layer._positions for layer in network.layers],
    )


def predict_network(
    network: Network, X, rows: np.ndarray | None = None, batch_size: int = 512
) -> np.ndarray:
    """Outputs of ``network`` for ``X`` (or its ``rows``), in chunks.

    Memory stays bounded and ``X`` is never copied whole.
    """
    n = X.shape[0] if rows is None else rows.size
    activations, _ = network.allocate(min(batch_size, n), X.dtype, deltas=False)
    out = np.empty((n, network.layers[-1].shape[1]), dtype=X.dtype)
    for batch in gen_batches(n, batch_size):
        activations[0] = X[batch] if rows is None else X[rows[batch]]
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
        total = n
    else:
        total = float(
            sample_weight.sum() if rows is None else sample_weight[rows].sum()
        )
    sums = [np.zeros_like(layer.values) for layer in network.layers]
    for batch in gen_batches(n, batch_size):
        idx = batch if rows is None else rows[batch]
        activations[0] = X[idx]
        sw = None if sample_weight is None else sample_weight[idx]
        P = network.forward(activations)
        output_delta(Y[idx], P, sw, deltas[-1][: P.shape[0]], scale=1.0 / total)
        network.backward(activations, deltas)
        for total_grad, layer in zip(sums, network.layers):
            total_grad += layer.grad
        network.sync()  # backward may have used the weights' buffers
    return sums


def train_round(
    network: Network,
    X,
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
        Checked between mini-batches: once set, training stops with a
        KeyboardInterrupt (another thread of the same fit was interrupted).
    """
    n_samples = X.shape[0] if rows is None else rows.size
    batch_size = config.resolved_batch_size(n_samples)
    steps_per_epoch = math.ceil(n_samples / batch_size)
    scheduled_steps = config.max_iter * steps_per_epoch
    flat_params, flat_grads, n_weights = network.flatten()
    params, grads = [flat_params], [flat_grads]
    weights, weight_grads = [flat_params[:n_weights]], [flat_grads[:n_weights]]
    optimizer = make_optimizer(config.solver, params, config)
    l2_scratch = np.empty(min(n_weights, L2_CHUNK), dtype=flat_params.dtype)
    activations, deltas = network.allocate(batch_size, X.dtype)
    # Batches of a dense X are gathered into one buffer, not a new array each.
    batch_buffer = (
        np.empty((batch_size, X.shape[1]), dtype=X.dtype)
        if isinstance(X, np.ndarray)
        else None
    )
    out_activation = network.out_activation
    if sample_weight is None:
        total_weight = n_samples
    else:
        total_weight = float(
            sample_weight.sum() if rows is None else sample_weight[rows].sum()
        )

    track = validation_rows is not None
    early_stopping = track and config.early_stopping
    result = RoundResult(validation_scores=[] if track else None)
    min_validation_loss = np.inf
    if snapshot_at is not None and snapshot_at <= 0:
        result.snapshot = weights_now(network, step=0)
    step = start.step
    best_loss, best_score, best_params = np.inf, -np.inf, None
    no_improvement = 0
    sample_idx = np.arange(n_samples)

    for epoch in range(config.max_iter):
        if config.shuffle:
            rng.shuffle(sample_idx)
        accumulated = 0.0
        for batch in gen_batches(n_samples, batch_size):
            if stop is not None:
                stop.raise_if_set()
            idx = sample_idx[batch] if config.shuffle else batch
            if rows is not None:
                idx = rows[idx]
            n = batch.stop - batch.start
            if batch_buffer is None or isinstance(idx, slice):
                activations[0] = X[idx]  # a slice of an array is a view
            else:
                activations[0] = np.take(
                    X, idx, axis=0, out=batch_buffer[:n], mode="clip"
                )
            Y_batch = Y[idx]
            sw = None if sample_weight is None else sample_weight[idx]
            sw_sum = n if sw is None else float(sw.sum())
            # Overflows show up as a non-finite loss, reported just below.
            with np.errstate(over="ignore", invalid="ignore"):
                P = network.forward(activations)
                loss = loss_value(out_activation, Y_batch, P, sw)
                if config.alpha:
                    l2 = sum(float(np.dot(w, w)) for w in weights)
                    loss += 0.5 * config.alpha * l2 / max(sw_sum, 1e-12)
            if not math.isfinite(loss):
                raise TrainingDivergedError(
                    f"Training diverged in round {round_index}, epoch {epoch + 1}: "
                    f"the loss is {loss}. Try a smaller learning_rate_init (now "
                    f"{config.learning_rate_init}) or scale the input features.",
                    round_index=round_index,
                )
            accumulated += loss * sw_sum
            if sw_sum > 0:
                # The error is divided by the batch weight here, so that the
                # gradients come out as averages with no pass over them.
                output_delta(Y_batch, P, sw, deltas[-1][:n], scale=1.0 / sw_sum)
                network.backward(activations, deltas)
                if config.alpha:
                    add_l2_gradient(
                        weights, weight_grads, config.alpha / sw_sum, l2_scratch
                    )
                if start.hold_final_lr:
                    lr = scheduled_learning_rate(
                        config.learning_rate, config.learning_rate_init, 1.0
                    )
                else:
                    lr = scheduled_learning_rate(
                        config.learning_rate,
                        config.learning_rate_init,
                        step / scheduled_steps,
                    )
                optimizer.step(params, grads, lr)
                network.sync()
            step += 1
            result.steps += 1
            if snapshot_at is not None and result.snapshot is None:
                if result.steps >= snapshot_at:
                    result.snapshot = weights_now(network, step=step)

        result.n_iter += 1
        epoch_loss = accumulated / max(total_weight, 1e-12)
        result.loss_curve.append(epoch_loss)
        if track:
            sw_val = None if sample_weight is None else sample_weight[validation_rows]
            P_val = predict_network(network, X, validation_rows)
            score = validation_score(out_activation, Y[validation_rows], P_val, sw_val)
            result.validation_scores.append(score)
            validation_loss = loss_value(
                out_activation, Y[validation_rows], P_val, sw_val
            )
            if validation_loss < min_validation_loss:
                min_validation_loss = validation_loss
                result.min_validation_loss_iteration = result.steps
                result.validation_score_at_min_loss = score
        if early_stopping:
            no_improvement = (
                no_improvement + 1 if score < best_score + config.tol else 0
            )
            if score > best_score:
                best_score = score
                best_params = [p.copy() for p in params]
        else:
            no_improvement = (
                no_improvement + 1 if epoch_loss > best_loss - config.tol else 0
            )
            best_loss = min(best_loss, epoch_loss)
        if config.verbose:
            line = (
                f"Round {round_index}, iteration {result.n_iter}, "
                f"loss = {epoch_loss:.8f}"
            )
            if track:
                line += f", validation score = {result.validation_scores[-1]:.6f}"
            print(line)
        if no_improvement > config.n_iter_no_change:
            result.converged = True
            break

    if best_params is not None:
        for p, best in zip(params, best_params):
            p[...] = best
        network.sync()
        result.best_validation_score = best_score
    if snapshot_at is not None and result.snapshot is None:
        result.snapshot = weights_now(network, step=step)
    return result
