"""The public estimators: thin scikit-learn shells around :mod:`._search`."""

from __future__ import annotations

import copy
import inspect
from dataclasses import dataclass, fields, replace

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import (
    check_classification_targets,
    type_of_target,
    unique_labels,
)
from sklearn.utils.validation import column_or_1d

from ._base import (
    CSRClassifierMixin,
    CSRPredictorMixin,
    encode_classes,
    hidden_layer_units,
    validate_training_data,
)
from ._compat import _fit_context
from ._diagnostics import (
    Scored,
    warn_about_fit,
    warn_if_batch_clipped,
    warn_if_ticket_overrides,
)
from ._incremental import partial_fit_pass
from ._interrupt import FitTransaction, current_fit_scope
from ._lbfgs import LBFGS_CHUNK
from ._params import (
    DEFAULTS,
    PARAMS,
    REGRESSOR_DEFAULTS,
    REGRESSOR_PARAMS,
    constraints,
    fill_parameters,
)
from ._prediction import prediction_operands
from ._pruning import check_schedule
from ._rewinding import RewindPolicy
from ._search import (
    Kept,
    PruningConfig,
    SearchDiverged,
    SearchPlan,
    TrainingData,
    check_can_warm_start,
    continue_fitted,
    draw_split,
    run_searches,
    search_folder,
    stack_histories,
)
from ._threads import blas_threads, blas_threads_for
from ._training import TrainingConfig
from ._warnings import warn
from .exceptions import TrainingDivergedError

# The estimator's parameters that configure pruning.
_PRUNING_PARAMS = tuple(f.name for f in fields(PruningConfig) if f.name in PARAMS)


def _check_callback(on_round_end) -> None:
    """Refuse an ``on_round_end`` that cannot be called as ``f(record, model)``."""
    problem = None
    if not callable(on_round_end):
        problem = f"got {on_round_end!r} of type {type(on_round_end).__name__}"
    else:
        try:
            inspect.signature(on_round_end).bind(None, None)
        except TypeError as exc:
            problem = f"{on_round_end!r} cannot be called so ({exc})"
        except ValueError:  # no signature to read (some builtins): trust it
            pass
    if problem is not None:
        raise TypeError(
            "on_round_end must be a callable taking two arguments, (record, "
            f"round_model), or None; {problem}."
        )


def _has_stochastic_solver(estimator) -> bool:
    """``partial_fit`` exists for the mini-batch solvers only, as in scikit-learn."""
    if estimator.solver == "lbfgs":
        raise AttributeError(
            "partial_fit is only available for stochastic optimizers; lbfgs is "
            "not stochastic."
        )
    return True


@dataclass
class _FitData:
    """The validated data of one fit and the layer sizes it implies."""

    X: object
    y: np.ndarray
    Y: np.ndarray
    sample_weight: np.ndarray | None
    layer_units: list[int]


class _BaseLotteryTicketMLP(CSRPredictorMixin, BaseEstimator):
    """Parameters, validation and fitted state shared by both estimators."""

    _parameter_constraints: dict = constraints(PARAMS)

    def __init__(
        self,
        hidden_layer_sizes=DEFAULTS["hidden_layer_sizes"],
        activation=DEFAULTS["activation"],
        *,
        target_sparsity=DEFAULTS["target_sparsity"],
        pruning_rounds=DEFAULTS["pruning_rounds"],
        pruning_scope=DEFAULTS["pruning_scope"],
        pruning_criterion=DEFAULTS["pruning_criterion"],
        output_layer_rate=DEFAULTS["output_layer_rate"],
        rewind=DEFAULTS["rewind"],
        rewind_iteration=DEFAULTS["rewind_iteration"],
        rewind_fraction=DEFAULTS["rewind_fraction"],
        ticket=DEFAULTS["ticket"],
        n_seeds=DEFAULTS["n_seeds"],
        n_jobs=DEFAULTS["n_jobs"],
        checkpoint_dir=DEFAULTS["checkpoint_dir"],
        solver=DEFAULTS["solver"],
        alpha=DEFAULTS["alpha"],
        batch_size=DEFAULTS["batch_size"],
        learning_rate=DEFAULTS["learning_rate"],
        learning_rate_init=DEFAULTS["learning_rate_init"],
        power_t=DEFAULTS["power_t"],
        max_iter=DEFAULTS["max_iter"],
        shuffle=DEFAULTS["shuffle"],
        random_state=DEFAULTS["random_state"],
        tol=DEFAULTS["tol"],
        verbose=DEFAULTS["verbose"],
        warm_start=DEFAULTS["warm_start"],
        momentum=DEFAULTS["momentum"],
        nesterovs_momentum=DEFAULTS["nesterovs_momentum"],
        early_stopping=DEFAULTS["early_stopping"],
        validation_fraction=DEFAULTS["validation_fraction"],
        beta_1=DEFAULTS["beta_1"],
        beta_2=DEFAULTS["beta_2"],
        epsilon=DEFAULTS["epsilon"],
        n_iter_no_change=DEFAULTS["n_iter_no_change"],
        max_fun=DEFAULTS["max_fun"],
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.target_sparsity = target_sparsity
        self.pruning_rounds = pruning_rounds
        self.pruning_scope = pruning_scope
        self.pruning_criterion = pruning_criterion
        self.output_layer_rate = output_layer_rate
        self.rewind = rewind
        self.rewind_iteration = rewind_iteration
        self.rewind_fraction = rewind_fraction
        self.ticket = ticket
        self.n_seeds = n_seeds
        self.n_jobs = n_jobs
        self.checkpoint_dir = checkpoint_dir
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun

    # -- hooks for the subclasses ------------------------------------------------
    def _encode_targets(self, y, dtype, warm=False) -> tuple[np.ndarray, np.ndarray]:
        """``y`` as the estimator keeps it, and ``Y``, one column per output.

        ``warm``: encoded as the fitted targets were, which ``y`` must match.
        """
        raise NotImplementedError

    def _out_activation(self, Y) -> str:
        """The output activation for the encoded targets ``Y``."""
        raise NotImplementedError

    # -- fitting -------------------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None, *, on_round_end=None):
        """Search for a winning ticket and train it.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data; float32 data trains in float32.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Class labels (or a label indicator matrix for multilabel data) for
            the classifier, target values for the regressor.
        sample_weight : array-like of shape (n_samples,), default=None
            Per-sample weights of the loss.
        on_round_end : callable, default=None
            Called after every round as ``on_round_end(record, round_model)``
            with the round's row of ``history_`` (a dict) and a copy of the
            estimator fitted at that round, which predicts and scores: to
            score every round on held-out data, log progress, or stop the
            search (an exception raised there ends ``fit`` like any other).
            Only the rounds this call trains are reported: those a resumed
            search reads back from ``checkpoint_dir`` are not. Not available
            with ``n_seeds > 1``, whose searches run in other workers: read
            ``seeds_history_`` after the fit instead.

        Returns
        -------
        self : object
            The fitted estimator.

        Raises
        ------
        TrainingDivergedError
            When a round diverges: the estimator is left as it was before
            ``fit``; the error's ``estimator`` holds a copy fitted at the
            last completed round.
        KeyboardInterrupt
            On Ctrl-C, after the estimator was set to the last completed
            round, with a warning (left as it was before ``fit`` when no
            round completed). Any other error (bad input, an exception in
            ``on_round_end``) leaves the estimator as it was before ``fit``.
        """
        # Refused before round 0 trains, not when the first round ends.
        if on_round_end is not None:
            _check_callback(on_round_end)
        if on_round_end is not None and self.n_seeds > 1:
            raise ValueError(
                f"on_round_end reports the rounds of one search, but n_seeds="
                f"{self.n_seeds} runs several in parallel workers: set n_seeds=1, "
                "or read every seed's rounds from seeds_history_ after the fit."
            )
        return self._fit(X, y, sample_weight, on_round_end)

    def _fit(self, X, y, sample_weight=None, on_round_end=None):
        """Fit, all or nothing (see :mod:`._interrupt` for the rule).

        Inside :func:`~._interrupt.nested_fit` (the folds of another
        estimator's fit) the fit stops with that fit's stop flag, leaves it
        to tell the user what an interrupt keeps, and does not judge its
        rounds' scores (the folds' paths go too far on purpose).
        """
        scope = current_fit_scope()
        searched = False
        try:
            with FitTransaction(self) as transaction:
                if self.warm_start and hasattr(self, "coefs_"):
                    check_can_warm_start(self)
                data = self._prepare(X, y, sample_weight, warm=self._is_warm())
                plan = self._search_plan(data)
                params = self.get_params()
                arrays = [data.X, data.Y, data.sample_weight]
                locked = search_folder(self.checkpoint_dir, params, arrays, plan.warm)
                with locked as folder:
                    rng, split = draw_split(
                        params,
                        data,
                        folder,
                        plan.warm,
                        plan.training.kernels,
                        self._split_validation,
                    )
                    plan = replace(
                        plan, rows=split.rows, validation_rows=split.validation_rows
                    )
                    kept = self._search(
                        data, plan, rng, split, folder, on_round_end, transaction
                    )
                    # The search is complete and fitted: Ctrl-C from here on (the
                    # lock's release, the warnings) keeps it.
                    transaction.keep()
                    searched = True
                warn_about_fit(
                    kept.result,
                    self.history_,
                    self.solver,
                    self.max_iter,
                    Scored(
                        self.out_activation_,
                        data.Y,
                        data.sample_weight,
                        split.rows,
                        split.validation_rows,
                    ),
                    judge_scores=not scope.nested,
                )
        except KeyboardInterrupt:
            # After the search (the lock's release, the warnings) Ctrl-C keeps
            # the whole fit: say so, as an interrupt during the search does.
            if searched and not scope.nested:
                self._warn_kept()
            raise
        return self

    def _warn_kept(self) -> None:
        """Tell the user which round an interrupted fit keeps."""
        warn(
            "Training interrupted by the user; the estimator keeps round "
            f"{int(self.history_['round'][-1])}, the last one completed "
            f"(sparsity {self.history_['sparsity'][-1]:.4f})."
        )

    def _search_plan(self, data: _FitData) -> SearchPlan:
        """How this fit's search opens and runs, from the parameters and data
        (its rows come with the split)."""
        pruning = PruningConfig(**{k: getattr(self, k) for k in _PRUNING_PARAMS})
        rewind = RewindPolicy(self.rewind, self.rewind_iteration, self.rewind_fraction)
        warm = None
        if self._is_warm():
            warm, pruning = continue_fitted(self, pruning, rewind)
        return SearchPlan(
            layer_units=data.layer_units,
            activation=self.activation,
            out_activation=self.out_activation_,
            # Its kernel path holds for every round and seed of this fit.
            training=TrainingConfig.from_params(
                self.get_params(deep=False), data.layer_units
            ),
            pruning=pruning,
            rewind=rewind,
            ticket=self.ticket,
            warm=warm,
        )

    def _search(
        self, data, plan, rng, split, folder, on_round_end, transaction
    ) -> Kept:
        """Run the search (or one per seed) and set the fitted attributes from
        the one kept; an interrupt keeps the last completed round."""
        scope = current_fit_scope()
        n_train = data.X.shape[0] if split.rows is None else len(split.rows)
        warn_if_batch_clipped(self.batch_size, self.solver, n_train)

        def keep_interrupted(kept: Kept | None) -> None:
            if kept is None:
                return
            self._set_fitted(kept, kernels)
            transaction.keep()  # as the KeyboardInterrupt leaves
            if not scope.nested:
                self._warn_kept()

        training_data = TrainingData(
            data.X, data.Y, data.sample_weight, split.rows, split.validation_rows
        )
        # L-BFGS's products take the training rows in chunks.
        rows = plan.training.resolved_batch_size(n_train)
        if self.solver == "lbfgs":
            rows = min(n_train, LBFGS_CHUNK)
        n_searches = 1 if split.seeds is None else len(split.seeds)
        limit = blas_threads_for(plan.layer_units, rows, n_searches)
        with blas_threads(limit) as threads:
            kernels = {"path": plan.training.kernels, "blas_threads": threads}
            try:
                kept = run_searches(
                    training_data,
                    plan,
                    rng,
                    split,
                    folder,
                    n_jobs=self.n_jobs,
                    on_round_end=self._round_callback(on_round_end),
                    stop=scope.stop,
                    on_interrupt=keep_interrupted,
                )
            except SearchDiverged as diverged:
                raise self._diverged(
                    diverged.error, diverged.kept, kernels
                ) from diverged.error
        self._set_fitted(kept, kernels)
        return kept

    def _round_callback(self, on_round_end):
        """``on_round_end(record, round_model)`` as the loop calls it, or None."""
        if on_round_end is None:
            return None

        def callback(record, coefs, intercepts):
            # A shallow copy with the round's weights: it predicts and scores
            # while this estimator's own fit goes on untouched.
            on_round_end(record, self._with_weights(coefs, intercepts))

        return callback

    # -- warm_start --------------------------------------------------------------
    def _is_warm(self) -> bool:
        """Whether this fit goes on from the fitted search (``warm_start``)."""
        return self.warm_start and hasattr(self, "_search_end")

    def _prepare(self, X, y, sample_weight, warm: bool = False) -> _FitData:
        """Validate the data and derive the architecture; refuse what cannot fit.

        ``warm``: the data and layers must match the fitted network's.
        """
        hidden = hidden_layer_units(self.hidden_layer_sizes)
        X, y, sample_weight = validate_training_data(
            self, X, y, sample_weight, reset=not warm
        )
        y, Y = self._encode_targets(y, X.dtype, warm)
        self.n_outputs_ = Y.shape[1]
        self.out_activation_ = self._out_activation(Y)
        layer_units = [X.shape[1], *hidden, self.n_outputs_]
        if self.ticket is not None:
            # The ticket's layers replace hidden_layer_sizes, and it trains
            # once without pruning: there is no schedule to check.
            layer_units = self._check_ticket(X)
            warn_if_ticket_overrides(self.get_params(), DEFAULTS, self.ticket)
        if warm:
            fitted = [self.coefs_[0].shape[0], *(W.shape[1] for W in self.coefs_)]
            if layer_units != fitted:
                raise ValueError(
                    f"warm_start=True goes on with the fitted network, whose layers "
                    f"have {fitted} units, but hidden_layer_sizes (or the ticket) "
                    f"and the data give {layer_units}: set warm_start=False to "
                    "start over."
                )
            # Its schedule is checked from the fitted sparsity on.
        elif self.ticket is None:
            check_schedule(
                [a * b for a, b in zip(layer_units, layer_units[1:])],
                self.target_sparsity,
                self.pruning_rounds,
                self.pruning_scope,
                self.output_layer_rate,
            )
        self.n_layers_ = len(layer_units)
        return _FitData(X, y, Y, sample_weight, layer_units)

    def _diverged(self, error, kept: Kept | None, kernels) -> TrainingDivergedError:
        """The error to raise: the estimator is left as it was, the completed
        rounds travel in the error's ``estimator``."""
        estimator = None
        message = f"{error} The estimator is left as it was before fit"
        if kept is not None:
            # A copy: FitTransaction restores ``self`` as the error leaves.
            estimator = copy.copy(self)
            estimator._set_fitted(kept, kernels)
            message += (
                f"; the network of round {int(estimator.history_['round'][-1])}, "
                "the last one completed, is in this error's `estimator` attribute"
            )
        return TrainingDivergedError(
            message + ".", round_index=error.round_index, estimator=estimator
        )

    def _set_fitted(self, kept: Kept, kernels: dict) -> None:
        """Set every fitted attribute from the search ``kept``, trained with
        ``kernels`` (the path and BLAS threads), in one step."""
        result, last = kept.result, kept.result.last_round
        # A network partial_fit was training is not this one any more.
        self.__dict__.pop("_incremental", None)
        self.__dict__.update(
            coefs_=result.coefs,
            intercepts_=result.intercepts,
            # Left out of pickles, rebuilt on loading (see CSRPredictorMixin).
            _operands=prediction_operands(result.coefs),
            ticket_=result.ticket,
            history_=result.history,
            best_seed_=kept.best,
            seeds_history_=stack_histories(kept.results),
            n_iter_=last.n_iter,
            kernels_=kernels,
            loss_curve_=list(last.loss_curve),
            loss_=last.loss_curve[-1],
            validation_scores_=last.validation_scores,
            best_validation_score_=last.best_validation_score,
            # scikit-learn's: the stopping rule's best training loss, which it
            # keeps for its stochastic solvers and not with early stopping.
            best_loss_=(
                None
                if self.early_stopping or self.solver == "lbfgs"
                else min(last.loss_curve)
            ),
            t_=last.samples_seen,
            # scikit-learn's name; a warm-started fit's stopping rule goes on
            # from it.
            _no_improvement_count=last.stall_count,
            # What a warm-started fit needs to go on with this search.
            _search_end=result.end.as_fitted(),
        )

    def _check_ticket(self, X) -> list[int]:
        """Check the ticket against ``X``; return the layer sizes it implies."""
        # Checked again at every fit: its arrays may have changed since.
        self.ticket.check()
        shapes = self.ticket.layer_shapes
        if shapes[0][0] != X.shape[1] or shapes[-1][1] != self.n_outputs_:
            raise ValueError(
                f"The ticket does not fit the data: its network takes "
                f"{shapes[0][0]} features and has {shapes[-1][1]} outputs, but X has "
                f"{X.shape[1]} features and y needs {self.n_outputs_} outputs."
            )
        return [shapes[0][0]] + [s[1] for s in shapes]

    def _split_validation(self, X, y, rng, *, like_scikit_learn=False):
        """Row indices of the training and the held-out validation parts.

        ``like_scikit_learn``: stratified as scikit-learn's MLP stratifies its
        early-stopping split (see :meth:`_stratify_validation`).
        """
        stratify = self._stratify_validation(y, like_scikit_learn)
        try:
            rows, validation_rows = train_test_split(
                np.arange(X.shape[0]),
                test_size=self.validation_fraction,
                random_state=rng,
                stratify=stratify,
            )
        except ValueError as exc:
            raise ValueError(
                f"Cannot hold out validation_fraction={self.validation_fraction} of "
                f"{X.shape[0]} samples for early stopping or for choosing among "
                f"seeds: {exc}"
            ) from exc
        # As in scikit-learn's MLP: the regressor's R² is undefined on one sample.
        if validation_rows.size < 2:
            raise ValueError(
                "The validation set is too small for early stopping or for choosing "
                "among seeds: increase validation_fraction or the number of samples."
            )
        return rows, validation_rows

    def _stratify_validation(self, y, like_scikit_learn=False):
        """The labels the validation split is stratified by, or None.

        ``like_scikit_learn``: as scikit-learn's MLP, which stratifies by its
        encoded targets only when they are one column (binary classes).
        """
        return None

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


@fill_parameters(PARAMS)
class LotteryTicketMLP(ClassifierMixin, CSRClassifierMixin, _BaseLotteryTicketMLP):
    """Multi-layer perceptron classifier pruned by iterative magnitude pruning.

    ``fit`` searches for a winning lottery ticket (Frankle & Carbin, 2019):
    it trains the dense network, removes the fraction
    ``p = 1 - (1 - target_sparsity) ** (1 / pruning_rounds)`` of the remaining
    weights with the smallest magnitude, rewinds the survivors, and trains
    again, ``pruning_rounds`` times. The fitted model is the network trained
    in the last round; its weights are stored as ``scipy.sparse`` CSR arrays
    and prediction runs on them.

    Parameters
    ----------
    {parameters}

    Notes
    -----
    Nothing finished is lost. Ctrl-C during ``fit`` leaves the estimator
    fitted at the last completed round, with a warning (as it was before
    ``fit`` when no round completed), and the ``KeyboardInterrupt`` then
    propagates. A round that diverges raises
    :class:`TrainingDivergedError` naming the round (and the epoch, for a
    loss that stops being finite); the estimator is left as it was before
    ``fit``, and the error's ``estimator`` attribute holds a copy fitted at
    the last completed round. The strongest path of weights from the output
    back to an input is never pruned, so no layer is ever cut off; if that
    stops a round from pruning its full count, a warning says so.

    Attributes
    ----------
    classes_ : ndarray
        Class labels.
    coefs_ : list of scipy.sparse.csr_array of shape (n_in, n_out)
        Weights of the final network; ``nnz`` is the number of kept weights.
    intercepts_ : list of ndarray
        Biases of the final network.
    ticket_ : LotteryTicket
        The winning ticket: masks and the rewind weights of the last round.
    history_ : dict of ndarray
        One entry per round (``pandas.DataFrame(history_)`` is the round table):
        ``round``, ``sparsity``, ``remaining_parameters``, ``n_iter``,
        ``train_loss``, ``train_score``, ``seconds``; what the round's
        network costs: ``stored_bytes`` (its CSR weights and biases),
        ``multiply_adds`` (per sample, of its live units as a dense network,
        see :meth:`to_sklearn`) and ``live_units`` (a tuple per round: the
        hidden units of each layer the output still depends on); and, with
        ``early_stopping`` or ``n_seeds > 1``, ``validation_score``.
    feature_importances_ : ndarray of shape (n_features,)
        Each input's share of the kept first-layer weights' magnitude into
        live units (summing to 1), for ``SelectFromModel``.
    unused_features_ : ndarray
        The inputs no kept weight of a live unit reads (names with
        ``feature_names_in_``, else indices).
    seeds_history_ : dict of ndarray
        The round tables of all seeds stacked, with a ``seed`` column (the
        seed's index): ``pandas.DataFrame(seeds_history_).groupby("round")``
        gives the mean and spread over seeds.
    best_seed_ : int
        Index of the seed kept (0 with ``n_seeds=1``).
    loss_ : float
        Training loss at the end of the last round.
    loss_curve_ : list of float
        Training loss per epoch of the last round.
    n_iter_ : int
        Epochs run in the last round.
    kernels_ : dict
        What trained the network: ``"path"``, the kernels (``"numpy"`` or
        ``"numba"``, see :func:`sklearn_lth.set_config`), and
        ``"blas_threads"``, the BLAS threads of its products (None when no
        BLAS was found), chosen by the thread policy unless set.
    validation_scores_ : list of float or None
        Validation score per epoch of the last round (``early_stopping``).
    best_validation_score_ : float or None
        Best validation score of the last round (``early_stopping``).
    best_loss_ : float or None
        Minimum training loss over the epochs of the last round; None with
        ``early_stopping`` (which watches the validation score instead) and
        with ``solver="lbfgs"``, as in scikit-learn.
    t_ : int
        Training samples seen by the solver in the last round, summed over
        its epochs (``n_iter_`` times the training rows, validation rows
        excluded), as scikit-learn's ``t_``; 0 with ``solver="lbfgs"``.
    n_layers_ : int
        Number of layers, input and output included.
    n_outputs_ : int
        Number of output units.
    out_activation_ : str
        Output activation (``"softmax"`` or ``"logistic"``).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of str
        Names of the features seen during fit, when they are all strings.

    See Also
    --------
    LotteryTicketMLPRegressor : The regression twin.
    sklearn.neural_network.MLPClassifier : The dense network.

    References
    ----------
    Frankle, J. & Carbin, M. (2019). The Lottery Ticket Hypothesis: Finding
    Sparse, Trainable Neural Networks. ICLR.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn_lth import LotteryTicketMLP
    >>> X, y = load_digits(return_X_y=True)
    >>> X = StandardScaler().fit_transform(X)
    >>> clf = LotteryTicketMLP(hidden_layer_sizes=(32,), target_sparsity=0.75,
    ...                        pruning_rounds=2, random_state=0).fit(X, y)
    >>> [int(n) for n in clf.history_["remaining_parameters"]]
    [2368, 1184, 592]
    >>> clf.ticket_.sparsity
    0.75
    >>> clf.coefs_[0]
    <Compressed Sparse Row sparse array of dtype 'float64'
        with ... stored elements and shape (64, 32)>
    >>> clf.score(X, y) > 0.95
    True
    """

    def _encode_targets(self, y, dtype, warm=False):
        if warm:
            # scikit-learn's rule and message: the fitted classes, no other.
            if y.ndim == 2 and y.shape[1] == 1:
                y = column_or_1d(y, warn=True)
            check_classification_targets(y)
            classes = unique_labels(y)
            if set(classes) != set(self.classes_):
                raise ValueError(
                    "warm_start can only be used where `y` has the same classes as "
                    f"in the previous call to fit. Previously got {self.classes_}, "
                    f"`y` has {classes}"
                )
            return y, self._label_binarizer.transform(y).astype(dtype, copy=False)
        y, self._label_binarizer, Y = encode_classes(y, dtype)
        self.classes_ = self._label_binarizer.classes_
        return y, Y

    def _out_activation(self, Y) -> str:
        if self._label_binarizer.y_type_ == "multiclass":
            return "softmax"
        return "logistic"

    def _stratify_validation(self, y, like_scikit_learn=False):
        kind = type_of_target(y)
        if like_scikit_learn:
            # scikit-learn stratifies by its binarized targets, booleans, when
            # they are one column: binary labels (the same split as by the
            # labels, whose classes sort alike, and the same error naming
            # them), not multiclass or multilabel ones.
            if kind != "binary":
                return None
            return self._label_binarizer.transform(y).astype(bool)
        # Otherwise (several seeds, or a ticket) multiclass ones are too.
        return y if kind in ("binary", "multiclass") else None

    @available_if(_has_stochastic_solver)
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One pass over the given data, with the kept weights fixed (no pruning).

        As scikit-learn's ``partial_fit``: the first call draws the initial
        weights from ``random_state`` (or starts from ``ticket``, or from the
        fitted network after ``fit``), and each call trains one epoch, keeping
        the optimizer's state for the next. Pruned weights stay exactly zero:
        a found ticket keeps learning on streaming data while staying sparse.
        ``learning_rate="invscaling"`` decays with the samples seen; the
        other schedules train at ``learning_rate_init``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The data of this call.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Its targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Per-sample weights of the loss.
        classes : array-like of shape (n_classes,), default=None
            Every class of the stream; required on the first call.

        Returns
        -------
        self : object
            The updated estimator.
        """
        return partial_fit_pass(self, X, y, sample_weight, classes)

    def _encode_increment(self, y, dtype, classes):
        """``y`` encoded with the classes of the first call (checked)."""
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        multilabel = type_of_target(y).startswith("multilabel")
        if not hasattr(self, "classes_"):
            if classes is None:
                raise ValueError(
                    "classes must be passed on the first call to partial_fit."
                )
            self._label_binarizer = LabelBinarizer().fit(y if multilabel else classes)
            self.classes_ = self._label_binarizer.classes_
        elif classes is not None and not np.array_equal(
            np.unique(classes), self.classes_
        ):
            raise ValueError(
                f"`classes={list(classes)!r}` is not the same as on the first call "
                f"to partial_fit (or fit), was: {list(self.classes_)!r}."
            )
        unseen = [] if multilabel else np.setdiff1d(unique_labels(y), self.classes_)
        if len(unseen):
            raise ValueError(
                f"Expected only labels in classes_ = {list(self.classes_)!r}, but "
                f"got {list(unseen)!r}."
            )
        return self._label_binarizer.transform(y).astype(dtype, copy=False)

    def predict_log_proba(self, X):
        """Logarithm of the class probabilities.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        return np.log(self.predict_proba(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


@fill_parameters(REGRESSOR_PARAMS)
class LotteryTicketMLPRegressor(RegressorMixin, _BaseLotteryTicketMLP):
    """Multi-layer perceptron regressor pruned by iterative magnitude pruning.

    The regression twin of :class:`LotteryTicketMLP`: the same parameters and
    the same search, plus ``loss`` as in scikit-learn's ``MLPRegressor``:
    ``"squared_error"`` trains an identity output on half the squared error,
    ``"poisson"`` an exponential output (log link) on half the Poisson
    deviance, for counts and other non-negative targets. Single and
    multi-output targets are supported.

    Parameters
    ----------
    {parameters}

    Attributes
    ----------
    coefs_ : list of scipy.sparse.csr_array of shape (n_in, n_out)
        Weights of the final network.
    intercepts_ : list of ndarray
        Biases of the final network.
    ticket_ : LotteryTicket
        The winning ticket.
    history_ : dict of ndarray
        One entry per round (the columns of :class:`LotteryTicketMLP`'s);
        ``train_score`` is R².
    feature_importances_, unused_features_ : ndarray
        As for :class:`LotteryTicketMLP`.
    seeds_history_ : dict of ndarray
        The round tables of all seeds stacked, with a ``seed`` column.
    best_seed_ : int
        Index of the seed kept (0 with ``n_seeds=1``).
    loss_ : float
        Training loss at the end of the last round: half the squared error
        (or half the Poisson deviance), summed over outputs and averaged over
        samples.
    loss_curve_ : list of float
        Training loss per epoch of the last round.
    n_iter_ : int
        Epochs run in the last round.
    kernels_ : dict
        What trained the network: ``"path"``, the kernels (``"numpy"`` or
        ``"numba"``, see :func:`sklearn_lth.set_config`), and
        ``"blas_threads"``, the BLAS threads of its products (None when no
        BLAS was found), chosen by the thread policy unless set.
    validation_scores_ : list of float or None
        Validation R² per epoch of the last round (``early_stopping``).
    best_validation_score_ : float or None
        Best validation R² of the last round (``early_stopping``).
    best_loss_ : float or None
        Minimum training loss over the epochs of the last round; None with
        ``early_stopping`` (which watches the validation score instead) and
        with ``solver="lbfgs"``, as in scikit-learn.
    t_ : int
        Training samples seen by the solver in the last round, summed over
        its epochs (``n_iter_`` times the training rows, validation rows
        excluded), as scikit-learn's ``t_``; 0 with ``solver="lbfgs"``.
    n_layers_ : int
        Number of layers, input and output included.
    n_outputs_ : int
        Number of outputs.
    out_activation_ : str
        ``"identity"``, or ``"exp"`` with ``loss="poisson"``.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of str
        Names of the features seen during fit, when they are all strings.

    See Also
    --------
    LotteryTicketMLP : The classifier.
    LotteryTicketMLPRegressorCV : The sparsity chosen by cross-validation.
    sklearn.neural_network.MLPRegressor : The dense network.

    Examples
    --------
    >>> from sklearn.datasets import make_regression
    >>> from sklearn_lth import LotteryTicketMLPRegressor
    >>> X, y = make_regression(n_samples=200, n_features=10, noise=1.0,
    ...                        random_state=0)
    >>> reg = LotteryTicketMLPRegressor(hidden_layer_sizes=(20,),
    ...                                 target_sparsity=0.5, pruning_rounds=2,
    ...                                 learning_rate_init=0.01, max_iter=300,
    ...                                 random_state=0).fit(X, y / 100)
    >>> reg.coefs_[0].nnz + reg.coefs_[1].nnz
    110
    >>> reg.score(X, y / 100) > 0.9
    True
    """

    _parameter_constraints: dict = constraints(REGRESSOR_PARAMS)

    # Its own signature, ``loss`` included: ``get_params`` reads it.
    def __init__(
        self,
        hidden_layer_sizes=REGRESSOR_DEFAULTS["hidden_layer_sizes"],
        activation=REGRESSOR_DEFAULTS["activation"],
        *,
        loss=REGRESSOR_DEFAULTS["loss"],
        target_sparsity=REGRESSOR_DEFAULTS["target_sparsity"],
        pruning_rounds=REGRESSOR_DEFAULTS["pruning_rounds"],
        pruning_scope=REGRESSOR_DEFAULTS["pruning_scope"],
        pruning_criterion=REGRESSOR_DEFAULTS["pruning_criterion"],
        output_layer_rate=REGRESSOR_DEFAULTS["output_layer_rate"],
        rewind=REGRESSOR_DEFAULTS["rewind"],
        rewind_iteration=REGRESSOR_DEFAULTS["rewind_iteration"],
        rewind_fraction=REGRESSOR_DEFAULTS["rewind_fraction"],
        ticket=REGRESSOR_DEFAULTS["ticket"],
        n_seeds=REGRESSOR_DEFAULTS["n_seeds"],
        n_jobs=REGRESSOR_DEFAULTS["n_jobs"],
        checkpoint_dir=REGRESSOR_DEFAULTS["checkpoint_dir"],
        solver=REGRESSOR_DEFAULTS["solver"],
        alpha=REGRESSOR_DEFAULTS["alpha"],
        batch_size=REGRESSOR_DEFAULTS["batch_size"],
        learning_rate=REGRESSOR_DEFAULTS["learning_rate"],
        learning_rate_init=REGRESSOR_DEFAULTS["learning_rate_init"],
        power_t=REGRESSOR_DEFAULTS["power_t"],
        max_iter=REGRESSOR_DEFAULTS["max_iter"],
        shuffle=REGRESSOR_DEFAULTS["shuffle"],
        random_state=REGRESSOR_DEFAULTS["random_state"],
        tol=REGRESSOR_DEFAULTS["tol"],
        verbose=REGRESSOR_DEFAULTS["verbose"],
        warm_start=REGRESSOR_DEFAULTS["warm_start"],
        momentum=REGRESSOR_DEFAULTS["momentum"],
        nesterovs_momentum=REGRESSOR_DEFAULTS["nesterovs_momentum"],
        early_stopping=REGRESSOR_DEFAULTS["early_stopping"],
        validation_fraction=REGRESSOR_DEFAULTS["validation_fraction"],
        beta_1=REGRESSOR_DEFAULTS["beta_1"],
        beta_2=REGRESSOR_DEFAULTS["beta_2"],
        epsilon=REGRESSOR_DEFAULTS["epsilon"],
        n_iter_no_change=REGRESSOR_DEFAULTS["n_iter_no_change"],
        max_fun=REGRESSOR_DEFAULTS["max_fun"],
    ):
        super().__init__(
            hidden_layer_sizes,
            activation,
            target_sparsity=target_sparsity,
            pruning_rounds=pruning_rounds,
            pruning_scope=pruning_scope,
            pruning_criterion=pruning_criterion,
            output_layer_rate=output_layer_rate,
            rewind=rewind,
            rewind_iteration=rewind_iteration,
            rewind_fraction=rewind_fraction,
            ticket=ticket,
            n_seeds=n_seeds,
            n_jobs=n_jobs,
            checkpoint_dir=checkpoint_dir,
            solver=solver,
            alpha=alpha,
            batch_size=batch_size,
            learning_rate=learning_rate,
            learning_rate_init=learning_rate_init,
            power_t=power_t,
            max_iter=max_iter,
            shuffle=shuffle,
            random_state=random_state,
            tol=tol,
            verbose=verbose,
            warm_start=warm_start,
            momentum=momentum,
            nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            n_iter_no_change=n_iter_no_change,
            max_fun=max_fun,
        )
        self.loss = loss

    def _encode_targets(self, y, dtype, warm=False):
        # scikit-learn's MLPRegressor: a column vector is one target, with a
        # DataConversionWarning (and predictions come out 1-d).
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        Y = np.asarray(y, dtype=dtype)
        if Y.ndim == 1:
            Y = Y.reshape(-1, 1)
        if warm and Y.shape[1] != self.n_outputs_:
            raise ValueError(
                f"warm_start=True goes on with the fitted network, which has "
                f"{self.n_outputs_} output(s), but y has {Y.shape[1]}: set "
                "warm_start=False to start over."
            )
        # The Poisson deviance is defined for y >= 0 only (a negative target
        # would make the loss NaN, or be fitted by no exponential output).
        if self.loss == "poisson" and (Y < 0).any():
            raise ValueError(
                'loss="poisson" requires non-negative targets y; the smallest '
                f"here is {Y.min()}."
            )
        return y, Y

    def _out_activation(self, Y) -> str:
        # scikit-learn's pairing: the canonical link of each loss.
        return "exp" if self.loss == "poisson" else "identity"

    @available_if(_has_stochastic_solver)
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """One pass over the given data, with the kept weights fixed (no pruning).

        As scikit-learn's ``partial_fit``: the first call draws the initial
        weights from ``random_state`` (or starts from ``ticket``, or from the
        fitted network after ``fit``), and each call trains one epoch, keeping
        the optimizer's state for the next. Pruned weights stay exactly zero:
        a found ticket keeps learning on streaming data while staying sparse.
        ``learning_rate="invscaling"`` decays with the samples seen; the
        other schedules train at ``learning_rate_init``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The data of this call.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Its targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Per-sample weights of the loss.

        Returns
        -------
        self : object
            The updated estimator.
        """
        return partial_fit_pass(self, X, y, sample_weight)

    def _encode_increment(self, y, dtype, classes):
        Y = self._encode_targets(y, dtype)[1]
        if hasattr(self, "n_outputs_") and Y.shape[1] != self.n_outputs_:
            raise ValueError(
                f"y has {Y.shape[1]} target(s), but the network was fitted with "
                f"{self.n_outputs_}: every partial_fit call (and the fit before "
                "them) needs the same number of targets."
            )
        return Y

    def predict(self, X):
        """Predicted target values.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_targets)
        """
        P = self._forward(X)
        return P.ravel() if self.n_outputs_ == 1 else P

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags
