"""Supermasks (Zhou et al., 2019): train which weights to keep, never their values."""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import gen_batches
from sklearn.utils.validation import (
    check_random_state,
    validate_data,
)

from ._base import CSRClassifierMixin, encode_classes, hidden_layer_units
from ._compat import _fit_context, check_sample_weight
from ._interrupt import FitTransaction
from ._kernels import ACTIVATIONS, DERIVATIVES, flush_subnormal
from ._losses import loss_value, output_delta
from ._network import glorot_uniform
from ._optimizers import Adam
from ._params import PARAMS
from ._prediction import prediction_operands
from ._threads import blas_threads, blas_threads_for
from ._training import NoImprovementRule
from ._training_config import resolve_batch_size


def _sigmoid(S: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-S))


class _CompletedEpochs:
    """The masks and the loss curve at the end of the last complete epoch.

    Training changes the scores in place at every mini-batch, so an interrupt
    part-way through an epoch leaves them part-way through it: an interrupted
    fit keeps this record instead. Only the masks are recorded (the sign of
    each score: the fitted model is nothing else), one byte per weight, in
    two buffers used in turn. :meth:`record` fills the buffer that does not
    hold the last complete epoch and then makes it current in one assignment,
    so that an interrupt at any moment leaves one epoch whole, the previous
    one or this one. The copy costs one pass over the scores an epoch, where
    each mini-batch makes several.
    """

    def __init__(self, scores: list[np.ndarray]):
        self._buffers = [[np.empty(S.shape, dtype=bool) for S in scores] for _ in "ab"]
        self._current: tuple[list[np.ndarray], tuple[float, ...]] = ([], ())

    def record(self, scores: list[np.ndarray], loss_curve: list[float]) -> None:
        """Record the epoch that has just ended, whose losses are ``loss_curve``."""
        current_masks = self._current[0]
        spare = (
            self._buffers[1] if current_masks is self._buffers[0] else self._buffers[0]
        )
        for mask, S in zip(spare, scores):
            # sigmoid(score) > 0.5 exactly where score > 0.
            np.greater(S, 0, out=mask)
        # The epoch becomes the kept one in this single store, masks and
        # losses together.
        self._current = (spare, tuple(loss_curve))

    @property
    def masks(self) -> list[np.ndarray]:
        """The prediction masks (dense booleans) of the last complete epoch."""
        return self._current[0]

    @property
    def loss_curve(self) -> tuple[float, ...]:
        """The loss of every complete epoch."""
        return self._current[1]

    @property
    def n_epochs(self) -> int:
        """The number of complete epochs."""
        return len(self._current[1])


class SupermaskMLP(ClassifierMixin, CSRClassifierMixin, BaseEstimator):
    """A classifier whose random weights never train: only a mask is learned.

    Zhou, Lan, Liu & Yosinski (2019) showed that a network whose weights stay
    at their random initial values can classify well once the right weights
    are switched off: a *supermask*. Each weight has a real-valued score; in
    training the forward pass uses the mask ``Bernoulli(sigmoid(score))``,
    sampled every mini-batch, and the scores learn by a straight-through
    gradient (the sampled mask's gradient is passed to ``sigmoid(score)``).
    Prediction uses the deterministic mask ``sigmoid(score) > 0.5``. The
    weights and biases stay bit-identical to their initialisation (Glorot
    uniform, as scikit-learn's MLP, drawn from ``random_state``; biases are
    zero).

    Unlike :class:`LotteryTicketMLP`, this learns *which* weights to keep and
    never fits their values; it is an experiment on what random networks
    already contain, rather than a route to the most accurate sparse model.

    Parameters
    ----------
    hidden_layer_sizes : array-like of int, default=(256,)
        Number of units of each hidden layer.
    activation : {"relu", "tanh", "logistic", "identity"}, default="relu"
        Activation of the hidden layers.
    learning_rate_init : float, default=0.05
        Adam's learning rate for the scores.
    max_iter : int, default=100
        Maximum number of epochs.
    batch_size : int or "auto", default="auto"
        Mini-batch size; ``"auto"`` is ``min(200, n_samples)``.
    shuffle : bool, default=True
        Whether to shuffle the samples every epoch.
    tol : float, default=1e-4
        Training stops when the loss has not improved by ``tol`` for
        ``n_iter_no_change`` epochs.
    n_iter_no_change : int, default=10
        See ``tol``.
    random_state : int, RandomState instance or None, default=None
        Seeds the weights, the scores, the masks sampled in training and the
        shuffling.
    verbose : bool, default=False
        Print the loss after every epoch.

    Attributes
    ----------
    classes_ : ndarray
        Class labels.
    coefs_ : list of scipy.sparse.csr_array of shape (n_in, n_out)
        The random weights under the learned mask; the values are the initial
        weights themselves.
    intercepts_ : list of ndarray
        The biases (zero).
    masks_ : list of scipy.sparse.csr_array of bool
        The learned masks.
    sparsity_ : float
        Fraction of the weights the mask switches off.
    loss_curve_ : list of float
        Training loss per epoch (with sampled masks).
    n_iter_ : int
        Epochs run.
    kernels_ : dict
        ``{"path": "numpy", "blas_threads": ...}``: the BLAS threads of its
        products, chosen by the thread policy (see
        :func:`sklearn_lth.set_config`) unless set.
    n_layers_ : int
        Number of layers, input and output included.
    n_outputs_ : int
        Number of output units.
    out_activation_ : str
        Output activation.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of str
        Names of the features seen during fit, when they are all strings.

    Notes
    -----
    Sample weights count in the loss, but a row repeated ``k`` times is not
    the same fit as the row with weight ``k``: the training masks come from
    the random stream that also shuffles the rows, and more rows draw more
    (with ``shuffle=False`` the two agree). So scikit-learn's
    ``check_estimator`` reports its two sample-weight equivalence checks as
    failed; the project's tests expect that.

    References
    ----------
    H. Zhou, J. Lan, R. Liu and J. Yosinski. Deconstructing Lottery Tickets:
    Zeros, Signs, and the Supermask. NeurIPS 2019.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn_lth import SupermaskMLP
    >>> X, y = load_digits(return_X_y=True)
    >>> X = StandardScaler().fit_transform(X)
    >>> clf = SupermaskMLP(hidden_layer_sizes=(64,), max_iter=30,
    ...                    random_state=0).fit(X, y)
    >>> clf.score(X, y) > 0.8
    True
    >>> 0.2 < clf.sparsity_ < 0.9
    True
    """

    # The constraints of the parameters it shares with LotteryTicketMLP (its
    # own defaults and meanings are documented above).
    _parameter_constraints: dict = {
        name: PARAMS[name].constraint
        for name in (
            "hidden_layer_sizes",
            "activation",
            "learning_rate_init",
            "max_iter",
            "batch_size",
            "shuffle",
            "tol",
            "n_iter_no_change",
            "random_state",
            "verbose",
        )
    }

    def __init__(
        self,
        hidden_layer_sizes=(256,),
        activation="relu",
        *,
        learning_rate_init=0.05,
        max_iter=100,
        batch_size="auto",
        shuffle=True,
        tol=1e-4,
        n_iter_no_change=10,
        random_state=None,
        verbose=False,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.random_state = random_state
        self.verbose = verbose

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Learn the masks; the weights stay at their random initial values.

        Interrupted (KeyboardInterrupt), the estimator keeps the masks as they
        were at the end of the last complete epoch, exactly those of a fit
        with ``max_iter`` that many epochs, warns, and lets the interrupt
        propagate; interrupted in the first epoch, it is left as it was.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Class labels, or a label indicator matrix.
        sample_weight : array-like of shape (n_samples,), default=None
            Per-sample weights of the loss, as in :class:`LotteryTicketMLP`:
            each mini-batch's loss is its weighted mean, and a mini-batch whose
            samples all weigh zero takes no step.

        Returns
        -------
        self : SupermaskMLP
            The fitted estimator.
        """
        with FitTransaction(self) as transaction:
            X, Y, weights, biases, scores, rng = self._prepare(X, y)
            if sample_weight is not None:
                sample_weight = check_sample_weight(
                    sample_weight, X, dtype=X.dtype, ensure_non_negative=True
                )
            completed = _CompletedEpochs(scores)
            units = [X.shape[1], *(W.shape[1] for W in weights)]
            limit = blas_threads_for(
                units, resolve_batch_size(self.batch_size, X.shape[0])
            )
            try:
                with blas_threads(limit) as threads:
                    self.kernels_ = {"path": "numpy", "blas_threads": threads}
                    self._train(
                        X, Y, sample_weight, weights, biases, scores, rng, completed
                    )
                self._set_fitted(weights, biases, completed)
            except KeyboardInterrupt:
                # Keep the masks as they were at the end of the last complete
                # epoch, never the scores part-way through the interrupted one.
                if completed.n_epochs:
                    self._set_fitted(weights, biases, completed)
                    transaction.keep()
                    n_epochs = completed.n_epochs
                    warnings.warn(
                        f"Training interrupted by the user; the estimator keeps "
                        f"the masks learned in {n_epochs} epoch(s), as they were "
                        f"at the end of epoch {n_epochs}: the steps of the "
                        f"interrupted epoch are dropped.",
                        UserWarning,
                        stacklevel=3,
                    )
                raise
        return self

    def _prepare(self, X, y):
        """Validate the data, draw the frozen weights and the initial scores."""
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse=["csr", "csc"],
            multi_output=True,
            dtype=(np.float64, np.float32),
        )
        if sp.issparse(X):
            X = X.tocsr()
        y, self._label_binarizer, Y = encode_classes(y, X.dtype)
        self.classes_ = self._label_binarizer.classes_
        multiclass = self._label_binarizer.y_type_ == "multiclass"
        self.out_activation_ = "softmax" if multiclass else "logistic"
        units = [X.shape[1], *hidden_layer_units(self.hidden_layer_sizes), Y.shape[1]]
        self.n_outputs_, self.n_layers_ = Y.shape[1], len(units)
        rng = check_random_state(self.random_state)
        # Glorot biases are drawn too, then dropped, so that the weights are
        # the ones scikit-learn's MLP draws from the same random state. Then
        # the scores, then (in training) shuffles and masks: a fixed order.
        weights, _ = glorot_uniform(units, self.activation, X.dtype, rng)
        biases = [np.zeros(W.shape[1], dtype=X.dtype) for W in weights]
        # Scores near 0: every weight starts kept with probability about 1/2.
        scores = [rng.uniform(-0.1, 0.1, W.shape).astype(X.dtype) for W in weights]
        return X, Y, weights, biases, scores, rng

    def _set_fitted(
        self,
        weights: list[np.ndarray],
        biases: list[np.ndarray],
        completed: _CompletedEpochs,
    ) -> None:
        """The masks of the last complete epoch over the frozen weights."""
        masks, loss_curve = completed.masks, completed.loss_curve
        self.loss_curve_, self.n_iter_ = list(loss_curve), len(loss_curve)
        self.masks_ = [sp.csr_array(M) for M in masks]
        # The kept weights are the initial values themselves, in CSR order
        # (boolean indexing reads them row by row, as CSR stores them).
        self.coefs_ = [
            sp.csr_array((W[M], C.indices.copy(), C.indptr.copy()), shape=W.shape)
            for W, M, C in zip(weights, masks, self.masks_)
        ]
        self.intercepts_ = biases
        n_weights = sum(W.size for W in weights)
        self.sparsity_ = 1.0 - sum(M.nnz for M in self.masks_) / n_weights
        self._operands = prediction_operands(self.coefs_)

    def _train(self, X, Y, sample_weight, weights, biases, scores, rng, completed):
        """Train ``scores`` in place; record each complete epoch in ``completed``.

        The epoch's loss is the weighted mean over its samples (0 when they
        all weigh zero).
        """
        n = X.shape[0]
        total_weight = n if sample_weight is None else float(sample_weight.sum())
        batch_size = resolve_batch_size(self.batch_size, n)
        optimizer = Adam(scores, 0.9, 0.999, 1e-8)
        hidden, output = ACTIVATIONS[self.activation], ACTIVATIONS[self.out_activation_]
        derivative = DERIVATIVES[self.activation]
        order = np.arange(n)
        stopping = NoImprovementRule(self.tol, self.n_iter_no_change)
        loss_curve: list[float] = []
        for epoch in range(self.max_iter):
            if self.shuffle:
                rng.shuffle(order)
            loss_sum = 0.0
            for batch in gen_batches(n, batch_size):
                idx = order[batch]
                sw = None if sample_weight is None else sample_weight[idx]
                batch_weight = len(idx) if sw is None else float(sw.sum())
                A = [X[idx]]
                probs = [_sigmoid(S) for S in scores]
                # A fresh Bernoulli mask per mini-batch, layer by layer.
                masks = [rng.uniform(size=S.shape) < p for S, p in zip(scores, probs)]
                effective = [W * M for W, M in zip(weights, masks)]
                for i, (W, b) in enumerate(zip(effective, biases)):
                    Z = np.asarray(A[-1] @ W) + b
                    (output if i == len(weights) - 1 else hidden)(Z)
                    A.append(Z)
                batch_loss = loss_value(self.out_activation_, Y[idx], A[-1], sw)
                loss_sum += batch_loss * batch_weight
                # A batch whose samples all weigh zero takes no step (its mean
                # gradient would divide by zero). Its masks are drawn all the
                # same: the random stream does not depend on the weights.
                if batch_weight == 0:
                    continue
                delta = output_delta(
                    Y[idx], A[-1], sw, np.empty_like(A[-1]), scale=1.0 / batch_weight
                )
                grads = [None] * len(weights)
                for i in range(len(weights) - 1, -1, -1):
                    grad_effective = np.asarray(A[i].T @ delta)
                    # Straight-through: d mask / d sigmoid(score) taken as 1,
                    # so dL/dscore = dL/dW_eff * W * sigmoid'(score).
                    grads[i] = grad_effective * weights[i] * probs[i] * (1 - probs[i])
                    if i:
                        delta = delta @ effective[i].T
                        derivative(A[i], delta)
                optimizer.step(scores, grads, self.learning_rate_init)
            # (see flush_subnormal: a zero gradient makes Adam's moments so;
            # not the scores, whose sign is the mask)
            for values in optimizer.state:
                flush_subnormal(values)
            loss = loss_sum / total_weight if total_weight > 0 else 0.0
            loss_curve.append(loss)
            completed.record(scores, loss_curve)
            if self.verbose:
                print(f"Iteration {epoch + 1}, loss = {loss:.8f}")
            stopping.update(loss)
            if stopping.should_stop:
                break

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.classifier_tags.multi_label = True
        return tags
