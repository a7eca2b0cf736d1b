"""Instability analysis: is a network's training stable to the data order?

Frankle, Dziugaite, Roy & Carbin (ICML 2020, linear mode connectivity): from
one state of a network at iteration ``k``, train two copies with different
data orders, and evaluate the error along the straight line between the two
results. When the error never rises above its ends (a barrier near zero),
training from that state is stable: the two copies end in one linearly
connected valley. They found LeNet on MNIST stable from iteration 0, and
deeper networks stable only after some training, which is why rewinding to
an early iteration rather than to 0 finds their tickets.

:func:`instability` measures it for our estimators (dense, or a ticket given
as ``ticket=``), beside the barrier between two independently initialised
networks as a reference; :class:`InstabilityDisplay` draws the error along
both lines.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import Bunch, check_random_state

from ._compat import num_samples, safe_indexing
from ._display import check_matplotlib_support
from ._mlp import LotteryTicketMLP, LotteryTicketMLPRegressor
from ._ticket import LotteryTicket
from ._training_config import resolve_batch_size


def instability(
    estimator,
    X,
    y,
    *,
    rewind_iteration: int = 0,
    n_points: int = 11,
    X_test=None,
    y_test=None,
    random_state=None,
) -> Bunch:
    """The error barrier between two trainings from one state.

    Parameters
    ----------
    estimator : LotteryTicketMLP or LotteryTicketMLPRegressor
        The training to analyse (cloned, never fitted itself): a dense
        network, or the ticket it was given as ``ticket=``, trained for one
        round with its own settings (``max_iter``, ``solver``, ...) but
        without early stopping, so that the two copies see the same rows in
        different orders; each starts its optimizer afresh.
    X, y : array-like
        Training data.
    rewind_iteration : int, default=0
        The optimizer step of the shared state: the initial weights (0), or
        after that many steps of one training on ``X, y`` (one mini-batch of
        ``batch_size`` rows each, in an order drawn from ``random_state``).
    n_points : int, default=11
        Evenly spaced points of the line between the two trained networks
        (its ends included) where the error is measured.
    X_test, y_test : array-like, default=None
        Where the error is measured (the training data when None).
    random_state : int, RandomState or None, default=None
        Draws the initial weights, the first ``rewind_iteration`` steps'
        order and the two copies' data orders (and the reference's
        initialisations).

    Returns
    -------
    Bunch
        ``alphas`` (the points, from 0 to 1); ``errors``, the error at each
        (1 - accuracy, or 1 - R2 for a regressor) on the line between the two
        copies trained from the shared state; ``barrier``, the largest error
        on that line above the mean of its two ends (near 0: stable);
        ``reference_errors`` and ``reference_barrier``, the same between two
        networks initialised independently (the same masks for a ticket).

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn_lth import LotteryTicketMLP, instability
    >>> X, y = load_iris(return_X_y=True)
    >>> X = StandardScaler().fit_transform(X)
    >>> result = instability(LotteryTicketMLP((16,), batch_size=32), X, y,
    ...                      n_points=5, random_state=0)
    >>> result.alphas.tolist()
    [0.0, 0.25, 0.5, 0.75, 1.0]
    >>> bool(result.barrier <= result.reference_barrier)
    True
    """
    if not isinstance(estimator, LotteryTicketMLP | LotteryTicketMLPRegressor):
        raise TypeError(
            "instability analyses a LotteryTicketMLP or LotteryTicketMLPRegressor, "
            f"not {type(estimator).__name__}."
        )
    for name, value, low in (
        ("rewind_iteration", rewind_iteration, 0),
        ("n_points", n_points, 2),
    ):
        if not isinstance(value, Integral) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}.")
    if (X_test is None) != (y_test is None):
        raise ValueError(
            "X_test and y_test go together: give both, or neither (the error is "
            "then measured on the training data)."
        )
    if rewind_iteration > 0 and estimator.solver == "lbfgs":
        raise ValueError(
            "instability with rewind_iteration > 0 takes its first steps with "
            "partial_fit, which solver='lbfgs' has not: use rewind_iteration=0, or "
            "solver='adam' or 'sgd'."
        )
    _warn_if_copies_are_identical(estimator, num_samples(X))
    rng = check_random_state(random_state)
    seeds = rng.randint(np.iinfo(np.int32).max, size=6)
    X_eval, y_eval = (X, y) if X_test is None else (X_test, y_test)
    alphas = np.linspace(0.0, 1.0, n_points)

    with warnings.catch_warnings():
        # Short trainings of one round each: their convergence is not the
        # question here.
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = _state_at(estimator, X, y, rewind_iteration, seeds[0], seeds[1])
        pair = [_train_from(estimator, start, X, y, seed) for seed in seeds[2:4]]
        independent = [
            _train_from(estimator, _initial(estimator, X, y, seed), X, y, seed)
            for seed in seeds[4:6]
        ]
    errors = _errors_on_line(*pair, alphas, X_eval, y_eval)
    reference = _errors_on_line(*independent, alphas, X_eval, y_eval)
    return Bunch(
        alphas=alphas,
        errors=errors,
        barrier=_barrier(errors),
        reference_errors=reference,
        reference_barrier=_barrier(reference),
    )


def stable_rewind_iteration(
    estimator,
    X,
    y,
    *,
    candidates=(0, 10, 100, 1000),
    tolerance: float = 0.02,
    n_points: int = 11,
    X_test=None,
    y_test=None,
    random_state=None,
) -> Bunch:
    """The earliest iteration from which training is stable.

    The iteration to rewind to (``rewind="early"``, ``rewind_iteration=``):
    :func:`instability` from each of ``candidates`` in turn, stopping at the
    first whose barrier is at most ``tolerance`` (Frankle et al. 2020 call a
    network stable below 2%).

    Parameters
    ----------
    estimator : LotteryTicketMLP or LotteryTicketMLPRegressor
        As for :func:`instability`.
    X, y : array-like
        Training data.
    candidates : sequence of int, default=(0, 10, 100, 1000)
        Optimizer steps to try, in increasing order.
    tolerance : float, default=0.02
        The largest barrier (in error) that counts as stable.
    n_points, X_test, y_test, random_state
        As for :func:`instability`.

    Returns
    -------
    Bunch
        ``rewind_iteration``, the first stable candidate (None when none
        is), and ``barriers``, a dict from each candidate tried to its
        barrier.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn_lth import LotteryTicketMLP, stable_rewind_iteration
    >>> X, y = load_iris(return_X_y=True)
    >>> X = StandardScaler().fit_transform(X)
    >>> found = stable_rewind_iteration(LotteryTicketMLP((16,), batch_size=32),
    ...                                 X, y, n_points=5, random_state=0)
    >>> found.rewind_iteration
    0
    """
    steps = list(candidates) if isinstance(candidates, Iterable) else None
    if (
        not steps
        or not all(
            isinstance(step, Integral) and not isinstance(step, bool) and step >= 0
            for step in steps
        )
        or any(b <= a for a, b in zip(steps, steps[1:]))
    ):
        raise ValueError(
            "candidates must be a sequence of increasing iterations (integers "
            f">= 0), got {candidates!r}."
        )
    if not (
        isinstance(tolerance, Real)
        and not isinstance(tolerance, bool)
        and 0 <= tolerance < np.inf
    ):
        raise ValueError(
            "tolerance must be a number >= 0 (the largest barrier, in error "
            f"rate, that counts as stable), got {tolerance!r}."
        )
    barriers = {}
    for iteration in steps:
        result = instability(
            estimator,
            X,
            y,
            rewind_iteration=iteration,
            n_points=n_points,
            X_test=X_test,
            y_test=y_test,
            random_state=random_state,
        )
        barriers[iteration] = result.barrier
        if result.barrier <= tolerance:
            return Bunch(rewind_iteration=iteration, barriers=barriers)
    return Bunch(rewind_iteration=None, barriers=barriers)


def _warn_if_copies_are_identical(estimator, n_samples: int) -> None:
    """Warn when the two copies would see the same batches in the same order:
    then only the data order could tell them apart, and they train alike."""
    if estimator.solver == "lbfgs":
        why = "solver='lbfgs' trains on all the rows at once"
    elif not estimator.shuffle:
        why = "shuffle=False gives both the same order"
    elif resolve_batch_size(estimator.batch_size, n_samples) >= n_samples:
        why = (
            f"batch_size={estimator.batch_size!r} makes every epoch one batch of "
            f"all {n_samples} rows"
        )
    else:
        return
    warnings.warn(
        f"The two copies see the same batches ({why}): they train alike and "
        "the barrier is 0 whatever the network. Use mini-batches smaller than "
        "the data, shuffled.",
        UserWarning,
        stacklevel=3,
    )


def _barrier(errors: np.ndarray) -> float:
    return float(errors.max() - (errors[0] + errors[-1]) / 2)


def _initial(estimator, X, y, seed) -> LotteryTicket:
    """Initial weights drawn from ``seed``, as the estimator draws them (the
    start of a dense round, whose training is not used); for an estimator
    given a ticket, at the ticket's kept positions."""
    ticket = estimator.ticket
    params = dict(
        ticket=None, target_sparsity=0.0, max_iter=1, n_seeds=1, random_state=seed
    )
    if ticket is not None:
        params["hidden_layer_sizes"] = tuple(
            n_out for _, n_out in ticket.layer_shapes[:-1]
        )
    with warnings.catch_warnings():
        # One epoch whose training is thrown away: what it learned, or did
        # not, is no news (the trainings that count warn for themselves).
        warnings.simplefilter("ignore")
        drawn = clone(estimator).set_params(**params).fit(X, y).ticket_
    if ticket is None:
        return drawn
    return LotteryTicket(
        [
            sp.csr_array(W.multiply(mask))
            for W, mask in zip(drawn.weights, ticket.masks)
        ],
        [b.copy() for b in drawn.intercepts],
    )


def _state_at(estimator, X, y, steps: int, init_seed, order_seed) -> LotteryTicket:
    """The shared state: the initial weights (a given ticket's own), after
    ``steps`` optimizer steps of one training."""
    start = estimator.ticket
    if start is None:
        start = _initial(estimator, X, y, init_seed)
    if steps == 0:
        return start
    # Early stopping holds out rows of a whole training, not of single steps.
    model = clone(estimator).set_params(
        ticket=start, random_state=order_seed, early_stopping=False
    )
    n = num_samples(X)
    batch = model.batch_size if isinstance(model.batch_size, Integral) else 200
    batch = min(batch, n)
    order = check_random_state(order_seed).permutation(n)
    classes = np.unique(y) if hasattr(model, "predict_proba") else None
    for step in range(steps):
        rows = np.take(order, np.arange(step * batch, (step + 1) * batch), mode="wrap")
        kwargs = {"classes": classes} if classes is not None and step == 0 else {}
        model.partial_fit(safe_indexing(X, rows), safe_indexing(y, rows), **kwargs)
    return LotteryTicket(
        [sp.csr_array(W, copy=True) for W in model.coefs_],
        [b.copy() for b in model.intercepts_],
    )


def _train_from(estimator, start: LotteryTicket, X, y, seed):
    """One round from ``start``, its data order drawn from ``seed``.

    Without early stopping: its validation rows, drawn from ``seed`` too,
    would give the two copies different training rows, not just another
    order. The optimizer starts afresh from ``start`` (its moments are not
    part of a state).
    """
    model = clone(estimator).set_params(
        ticket=start, random_state=seed, n_seeds=1, early_stopping=False
    )
    return model.fit(X, y)


def _errors_on_line(first, second, alphas, X, y) -> np.ndarray:
    """1 - score of the networks ``(1 - a) * first + a * second``."""
    errors = []
    for alpha in alphas:
        coefs = [_blend(W1, W2, alpha) for W1, W2 in zip(first.coefs_, second.coefs_)]
        intercepts = [
            (1 - alpha) * b1 + alpha * b2
            for b1, b2 in zip(first.intercepts_, second.intercepts_)
        ]
        errors.append(1.0 - first._with_weights(coefs, intercepts).score(X, y))
    return np.asarray(errors)


def _blend(W1: sp.csr_array, W2: sp.csr_array, alpha: float) -> sp.csr_array:
    """``(1 - alpha) * W1 + alpha * W2`` on their (shared) kept positions."""
    blended = ((1 - alpha) * W1 + alpha * W2).tocsr()
    blended.sort_indices()
    return blended


class InstabilityDisplay:
    """The error along the line between two trainings, and the reference.

    Parameters
    ----------
    alphas : array-like
        Points of the line (0: the first network, 1: the second).
    errors : array-like
        Error at each point between the two copies trained from one state.
    reference_errors : array-like, default=None
        The same between two independently initialised networks.

    Attributes
    ----------
    line_, reference_line_ : matplotlib Line2D
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn_lth import InstabilityDisplay
    >>> display = InstabilityDisplay(
    ...     alphas=[0, 0.5, 1], errors=[0.05, 0.06, 0.05],
    ...     reference_errors=[0.05, 0.6, 0.06]).plot()
    >>> display.ax_.get_xlabel()
    'interpolation'
    """

    def __init__(self, *, alphas, errors, reference_errors=None):
        self.alphas = np.asarray(alphas, dtype=float)
        self.errors = np.asarray(errors, dtype=float)
        self.reference_errors = (
            None if reference_errors is None else np.asarray(reference_errors, float)
        )

    @classmethod
    def from_estimator(cls, estimator, X, y, *, ax=None, **kwargs):
        """Run :func:`instability` and plot it.

        Parameters
        ----------
        estimator : LotteryTicketMLP or LotteryTicketMLPRegressor
        X, y : array-like
        ax : matplotlib Axes, default=None
        **kwargs
            Passed to :func:`instability`.

        Returns
        -------
        InstabilityDisplay
        """
        check_matplotlib_support(f"{cls.__name__}.from_estimator")
        result = instability(estimator, X, y, **kwargs)
        iteration = kwargs.get("rewind_iteration", 0)
        display = cls(
            alphas=result.alphas,
            errors=result.errors,
            reference_errors=result.reference_errors,
        )
        return display.plot(ax=ax, label=f"from iteration {iteration}")

    def plot(self, ax=None, *, label="from one state"):
        """Draw on ``ax`` (a new figure when None).

        Returns
        -------
        InstabilityDisplay
        """
        check_matplotlib_support(f"{type(self).__name__}.plot")
        import matplotlib.pyplot as plt

        # Checked with the arguments' names, rather than left to matplotlib.
        if self.alphas.ndim != 1 or self.alphas.size < 2:
            raise ValueError(
                f"alphas must be 1-d with 2 points or more, got shape "
                f"{self.alphas.shape}."
            )
        for name in ("errors", "reference_errors"):
            values = getattr(self, name)
            if values is not None and values.shape != self.alphas.shape:
                raise ValueError(
                    f"{name} must have one value per alpha (shape "
                    f"{self.alphas.shape}), got shape {values.shape}."
                )
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4))
        (self.line_,) = ax.plot(self.alphas, self.errors, marker="o", label=label)
        self.reference_line_ = None
        if self.reference_errors is not None:
            (self.reference_line_,) = ax.plot(
                self.alphas,
                self.reference_errors,
                marker="o",
                linestyle="--",
                color="grey",
                label="independent initialisations",
            )
        ax.set_xlabel("interpolation")
        ax.set_ylabel("error")
        ax.legend()
        self.ax_, self.figure_ = ax, ax.figure
        return self
