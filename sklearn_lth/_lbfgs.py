"""Training one round with full-batch L-BFGS (``solver="lbfgs"``).

The counterpart of :func:`~sklearn_lth._training.train_round` for the
quasi-Newton solver, with scikit-learn's semantics (``MLPClassifier`` and
``MLPRegressor`` with ``solver="lbfgs"``): scipy's L-BFGS-B minimises the
objective over one flat vector, stopping after ``max_iter`` iterations,
``max_fun`` evaluations, or once the projected gradient falls below ``tol``.

The vector is the network's flat parameter buffer
(:meth:`~sklearn_lth._network.Network.flatten`), weights then biases, the
order in which scikit-learn packs its coefficients then intercepts. It holds
the kept weights, or the dense matrix of a partial layer that trains it,
whose pruned entries always have a zero gradient: L-BFGS's direction is zero
there (its curvature pairs are), so they stay exactly zero. scipy works in
float64: float32 data trains a float32 network, each point cast in and each
gradient cast out.

The objective is scikit-learn's: the data loss averaged over the training rows
(weighted by ``sample_weight``) plus ``0.5 * alpha * ||W||^2 / sum(weights)``
(the number of rows without weights), its gradient computed with the same
forward and backward passes as the stochastic solvers, over the training rows
in chunks of :data:`LBFGS_CHUNK` rows (one chunk, scikit-learn's single
batch, for smaller data).

A round's :class:`~sklearn_lth._training.RoundResult`:

- ``n_iter`` and ``steps``: L-BFGS iterations (at most ``max_iter``);
- ``loss_curve``: the objective after each iteration, ending with the final
  one (scikit-learn's ``loss_``); just the starting objective when the
  optimizer stopped before its first iteration. scikit-learn keeps no curve
  for L-BFGS;
- ``converged``: whether scipy reports success (gradient or relative
  reduction below its tolerances), not a limit reached or a failed line
  search, the cases in which scikit-learn warns;
- ``validation_scores``: one score, of the final weights, when there are
  validation rows. ``early_stopping`` is ignored, as in scikit-learn;
- ``samples_seen`` stays 0, scikit-learn's ``t_`` under L-BFGS.

Two differences from scikit-learn, both deliberate. With several regression
outputs, scikit-learn's L-BFGS objective averages the squared error over the
outputs while its gradient is that of the sum; here both are the sum (the
loss the gradient belongs to), so ``loss_`` is ``n_outputs`` times
scikit-learn's and a line search may decide otherwise. And float32 data
trains in float32 here, as with the other solvers, where scikit-learn's
float32 weights turn into scipy's float64 ones.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING

import numpy as np
import scipy
from scipy.optimize import minimize

from ._interrupt import StopFlag
from ._kernels import backend_for
from ._losses import loss_value, output_delta
from ._network import Network
from ._rewinding import StartPoint
from ._training import (
    BatchSource,
    EarlierTraining,
    RoundResult,
    ValidationTracker,
    weights_now,
)
from ._training_config import TrainingConfig
from ._verbose import say
from .exceptions import TrainingDivergedError

if TYPE_CHECKING:
    from ._training import Features

# Rows per forward-backward chunk of one evaluation. Data up to this size is
# one batch, as in scikit-learn (the same sums in the same order); beyond it,
# the activations and errors, one row per unit each, stay this many columns
# wide (with 400 units, 13 MB in float64) however many rows there are.
LBFGS_CHUNK = 4096

# scipy 1.15 deprecated L-BFGS-B's ``iprint`` (printing nothing is then the
# default); scikit-learn passes it to older versions only, and so do we.
_SCIPY_VERSION = tuple(int(part) for part in re.findall(r"\d+", scipy.__version__)[:2])
_SCIPY_HAS_IPRINT = _SCIPY_VERSION < (1, 15)


class FullBatchObjective:
    """The objective and its gradient over the kept weights and the biases.

    Called by scipy with a float64 point; loads it into the network's flat
    buffer (casting to the data's dtype), runs forward and backward over all
    the training rows and returns the loss and a new float64 gradient.

    Parameters
    ----------
    network : Network
        Flattened here; its parameters then follow each evaluated point.
    X, Y, sample_weight, rows
        As for :func:`train_round_lbfgs`.
    alpha : float
        L2 penalty on the weights (not the biases).
    stop : StopFlag or None
        Checked before each evaluation.
    round_index : int
        Used in messages only.
    """

    def __init__(
        self,
        network: Network,
        X: Features,
        Y: np.ndarray,
        sample_weight: np.ndarray | None,
        rows: np.ndarray | None,
        alpha: float,
        stop: StopFlag | None,
        round_index: int,
    ):
        self.network, self.alpha = network, alpha
        self.stop, self.round_index = stop, round_index
        self.params, self.grads, n_weights = network.flatten()
        self.n_weights = n_weights
        n_samples = X.shape[0] if rows is None else rows.size
        chunk = min(LBFGS_CHUNK, n_samples)
        # Consecutive chunks of the training rows, never shuffled: the rng is
        # never drawn from.
        self.chunks = BatchSource(X, Y, sample_weight, rows, chunk, False, None)
        # scikit-learn's divisor: the number of rows, or the sum of their
        # weights (guarded: rows that all weigh zero give a zero gradient).
        self.total_weight = max(float(self.chunks.total_weight), 1e-12)
        self.single_chunk = chunk == n_samples
        # Several chunks add their gradients up here; one chunk's gradient is
        # the network's own buffer.
        self.grad_sum = None if self.single_chunk else np.empty_like(self.grads)
        self.activations, self.deltas = network.allocate(chunk, X.dtype)
        self.n_evaluations = 0
        self.last_loss = math.nan

    def load(self, x: np.ndarray) -> None:
        """Put the point ``x`` into the network (cast to its dtype)."""
        self.params[...] = x
        self.network.sync()

    def __call__(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """The objective at ``x`` and its gradient, for scipy.

        Raises
        ------
        KeyboardInterrupt
            When ``stop`` is set (another part of the fit was interrupted).
        TrainingDivergedError
            When the loss is not finite.
        """
        if self.stop is not None:
            self.stop.raise_if_set()
        self.n_evaluations += 1
        self.load(x)
        network, activations, deltas = self.network, self.activations, self.deltas
        out_activation = network.out_activation
        weighted_loss = 0.0
        # Overflows show up as a non-finite loss, reported below.
        with np.errstate(over="ignore", invalid="ignore"):
            for batch in self.chunks.epoch():
                inputs, targets, weights, weight_sum = self.chunks.gather(batch)
                activations[0] = inputs
                predicted = network.forward(activations)
                loss = loss_value(out_activation, targets, predicted, weights)
                if not math.isfinite(loss):
                    raise self._diverged(loss)
                weighted_loss += loss * weight_sum
                # scikit-learn's order: the weighted error, summed gradients,
                # the penalty's gradient added, then all divided by the total
                # weight (below).
                error = deltas[-1][: targets.shape[0]]
                output_delta(targets, predicted, weights, error)
                network.backward(activations, deltas)
                if not self.single_chunk:
                    if batch.start == 0:
                        self.grad_sum[...] = self.grads
                    else:
                        self.grad_sum += self.grads
                    # backward may have used the weights' dense buffers.
                    network.sync()
        total = self.total_weight
        if self.single_chunk:
            grad = self.grads  # and ``loss`` is the one chunk's mean loss
        else:
            grad, loss = self.grad_sum, weighted_loss / total
        if self.alpha:
            # Per layer, as scikit-learn sums it (pruned weights are zeros
            # there and absent here: the same sum).
            squares = sum(
                float(np.dot(layer.values, layer.values)) for layer in network.layers
            )
            loss += 0.5 * self.alpha * squares / total
            grad[: self.n_weights] += self.alpha * self.params[: self.n_weights]
        if not math.isfinite(loss):
            raise self._diverged(loss)
        self.last_loss = loss
        # A new float64 array every call: scipy may keep it.
        out = grad.astype(np.float64)
        out /= total
        return loss, out

    def _diverged(self, loss: float) -> TrainingDivergedError:
        return TrainingDivergedError(
            f"Training diverged in round {self.round_index}, L-BFGS evaluation "
            f"{self.n_evaluations}: the loss is {loss}. Scale the input features "
            "or raise alpha.",
            round_index=self.round_index,
        )


def train_round_lbfgs(
    network: Network,
    X: Features,
    Y: np.ndarray,
    sample_weight: np.ndarray | None,
    config: TrainingConfig,
    rng: np.random.RandomState | None = None,
    *,
    start: StartPoint | None = None,
    rows: np.ndarray | None = None,
    snapshot_at: int | None = None,
    validation_rows: np.ndarray | None = None,
    round_index: int = 0,
    stop: StopFlag | None = None,
    earlier: EarlierTraining | None = None,
) -> RoundResult:
    """Train ``network`` in place with L-BFGS for up to ``config.max_iter`` iterations.

    The signature of :func:`~sklearn_lth._training.train_round`; what L-BFGS
    has no use for is accepted and ignored.

    Parameters
    ----------
    network : Network
        Trained in place; its pattern of kept weights never changes.
    X, Y, sample_weight
        Data, targets encoded for the output layer, optional weights.
    config : TrainingConfig
        Reads ``alpha``, ``max_iter`` (iterations), ``max_fun``
        (evaluations), ``tol`` (scipy's ``gtol``), ``verbose`` and
        ``kernels``, the path the network computes on (the estimators give
        L-BFGS ``"numpy"``); the stochastic solvers' settings,
        ``early_stopping`` included, do not apply.
    rng : RandomState, optional
        Unused: full-batch training draws nothing.
    start : StartPoint, optional
        Unused: L-BFGS has no learning-rate schedule to take a position on.
    rows : ndarray of int, optional
        The training rows of ``X`` (None: all of them).
    snapshot_at : int, optional
        Keep a copy of the weights after this many iterations (0: the
        starting weights; the final ones if the round stops before).
    validation_rows : ndarray of int, optional
        Rows scored once, with the final weights.
    round_index : int
        Used in messages only.
    stop : StopFlag, optional
        Checked before every evaluation: once set, training stops with a
        KeyboardInterrupt.
    earlier : EarlierTraining, optional
        A warm-started fit's carry-over: the loss curve goes on from it.
        L-BFGS itself restarts from the fitted weights, as scikit-learn's
        does.

    Returns
    -------
    RoundResult
        See the module's docstring.

    Raises
    ------
    TrainingDivergedError
        At the first evaluation whose loss is not finite.
    """
    # Always numpy (the estimators pass kernels="numpy" too): the
    # objective's gradient must be zero at the pruned entries of a partial
    # layer that trains its dense matrix, which the compiled path leaves to
    # its update (see NumbaBackend.pruned_entries).
    network.use_backend(backend_for("numpy"))
    objective = FullBatchObjective(
        network, X, Y, sample_weight, rows, config.alpha, stop, round_index
    )
    result = RoundResult(validation_scores=None if validation_rows is None else [])
    if snapshot_at is not None and snapshot_at <= 0:
        result.snapshot = weights_now(network, step=0)

    def callback(xk: np.ndarray) -> None:
        # Called after each iteration with its point, the last one evaluated
        # (a line search ends on the point it accepts): its loss is the
        # objective's last.
        result.loss_curve.append(objective.last_loss)
        iteration = len(result.loss_curve)
        if result.snapshot is None and snapshot_at is not None:
            if iteration >= snapshot_at:
                objective.load(xk)
                result.snapshot = weights_now(network, step=iteration)
        if config.verbose:
            say(f"Iteration {iteration}, loss = {objective.last_loss:.8f}")

    options = {"maxfun": config.max_fun, "maxiter": config.max_iter, "gtol": config.tol}
    if _SCIPY_HAS_IPRINT:
        options["iprint"] = -1
    # scipy copies the starting point into a float64 vector of its own.
    x0 = objective.params.astype(np.float64)
    optimum = minimize(
        objective,
        x0,
        method="L-BFGS-B",
        jac=True,
        callback=callback,
        options=options,
    )
    # The last point evaluated may be a rejected trial one: take scipy's.
    objective.load(optimum.x)
    result.n_iter = result.steps = min(int(optimum.nit), config.max_iter)
    # One entry per iteration (the objective at the start if none was made),
    # the last being scipy's final value.
    del result.loss_curve[result.n_iter :]
    if result.loss_curve:
        result.loss_curve[-1] = float(optimum.fun)
    else:
        result.loss_curve.append(float(optimum.fun))
    result.converged = optimum.status == 0
    if snapshot_at is not None and result.snapshot is None:
        result.snapshot = weights_now(network, step=result.steps)
    if validation_rows is not None:
        ValidationTracker(network, X, Y, sample_weight, validation_rows).score_epoch(
            result
        )
    if earlier is not None:
        result.loss_curve[:0] = earlier.loss_curve
        result.samples_seen = earlier.samples_seen
    return result
