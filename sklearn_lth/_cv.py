"""Choosing the sparsity by cross-validation along the pruning path."""

from __future__ import annotations

import inspect
import warnings

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    RegressorMixin,
    clone,
    is_classifier,
)
from sklearn.metrics import check_scoring
from sklearn.model_selection import check_cv
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from ._compat import _fit_context, check_sample_weight
from ._config import config_context, get_config
from ._interrupt import FitTransaction, StopFlag, nested_fit
from ._mlp import LotteryTicketMLP, LotteryTicketMLPRegressor
from ._params import (
    CV_DEFAULTS,
    CV_PARAMS,
    PARAMS,
    REGRESSOR_CV_DEFAULTS,
    REGRESSOR_CV_PARAMS,
    REGRESSOR_PARAMS,
    constraints,
    fill_parameters,
)
from ._pruning import ScheduleError
from ._verbose import labelled


def _takes_sample_weight(scorer) -> bool:
    """Whether ``scorer`` can be called with ``sample_weight=``.

    A scorer made from a metric (``get_scorer``, ``make_scorer``) passes
    ``sample_weight`` on to that metric, which may not take it (``max_error``
    does not): its metric decides. The default scorer (the estimator's
    ``score``) takes it; a plain callable takes it if its signature names it
    or accepts any keyword.
    """
    # ``_score_func`` is the metric of scikit-learn's scorers; any other
    # callable is judged by its own signature.
    function = getattr(scorer, "_score_func", scorer)
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):  # no signature to read: do not guess
        return False
    return any(
        p.name == "sample_weight" or p.kind is inspect.Parameter.VAR_KEYWORD
        for p in parameters
    )


def _scoring_weights(scorer, sample_weight, stacklevel: int):
    """The weights to score with: ``sample_weight``, or None (with a warning
    pointing ``stacklevel`` frames up) when ``scorer`` does not take them."""
    if sample_weight is None or _takes_sample_weight(scorer):
        return sample_weight
    warnings.warn(
        f"The scorer {scorer!r} takes no sample_weight: it scores unweighted "
        "(the searches and the refit are weighted).",
        UserWarning,
        stacklevel=stacklevel + 1,
    )
    return None


def _score(scorer, estimator, X, y, sample_weight) -> float:
    """``scorer`` on ``X, y``, weighted when ``sample_weight`` is given."""
    if sample_weight is None:
        return float(scorer(estimator, X, y))
    return float(scorer(estimator, X, y, sample_weight=sample_weight))


def _fold_path(
    fold: int,
    estimator,
    X,
    y,
    sample_weight,
    score_weight,
    train,
    test,
    scorer,
    stop: StopFlag,
    config: dict,
):
    """One search on fold ``fold``'s training part, scoring every round on its
    test part.

    ``sample_weight`` weighs the training, ``score_weight`` the scores (each
    may be None). ``config``: sklearn_lth's settings in the fit's thread,
    which a joblib worker does not inherit.
    """
    test_scores, sparsities = [], []
    fit_weight = None if sample_weight is None else sample_weight[train]
    test_weight = None if score_weight is None else score_weight[test]

    def score_round(record, round_model):
        test_scores.append(_score(scorer, round_model, X[test], y[test], test_weight))
        sparsities.append(record["sparsity"])

    # Nested: the fold stops with the CV fit's flag, and leaves it to the CV
    # fit to say what an interrupt keeps.
    with nested_fit(stop), config_context(**config), labelled(f"fold {fold}"):
        estimator.fit(
            X[train], y[train], sample_weight=fit_weight, on_round_end=score_round
        )
    return np.asarray(test_scores), np.asarray(sparsities)


class _BaseLotteryTicketMLPCV(BaseEstimator):
    """The search along the pruning path, shared by both CV estimators.

    A subclass names the estimator its folds fit (``_estimator_class``) and
    the parameters passed on to it (``_passed_on``), validates the targets
    (``_check_targets``) and lists the fitted attributes it exposes.
    """

    _parameter_constraints: dict = constraints(CV_PARAMS)
    _estimator_class: type = LotteryTicketMLP
    _passed_on: dict = PARAMS
    # The refitted estimator's attributes exposed on this one.
    _fitted_attributes = (
        "coefs_",
        "intercepts_",
        "ticket_",
        "history_",
        "n_iter_",
        "kernels_",
    )

    def __init__(
        self,
        *,
        cv=CV_DEFAULTS["cv"],
        pruning_rate=CV_DEFAULTS["pruning_rate"],
        max_rounds=CV_DEFAULTS["max_rounds"],
        score_tolerance=CV_DEFAULTS["score_tolerance"],
        scoring=CV_DEFAULTS["scoring"],
        n_jobs=CV_DEFAULTS["n_jobs"],
        hidden_layer_sizes=CV_DEFAULTS["hidden_layer_sizes"],
        activation=CV_DEFAULTS["activation"],
        pruning_scope=CV_DEFAULTS["pruning_scope"],
        pruning_criterion=CV_DEFAULTS["pruning_criterion"],
        output_layer_rate=CV_DEFAULTS["output_layer_rate"],
        rewind=CV_DEFAULTS["rewind"],
        rewind_iteration=CV_DEFAULTS["rewind_iteration"],
        rewind_fraction=CV_DEFAULTS["rewind_fraction"],
        solver=CV_DEFAULTS["solver"],
        alpha=CV_DEFAULTS["alpha"],
        batch_size=CV_DEFAULTS["batch_size"],
        learning_rate=CV_DEFAULTS["learning_rate"],
        learning_rate_init=CV_DEFAULTS["learning_rate_init"],
        power_t=CV_DEFAULTS["power_t"],
        max_iter=CV_DEFAULTS["max_iter"],
        shuffle=CV_DEFAULTS["shuffle"],
        random_state=CV_DEFAULTS["random_state"],
        tol=CV_DEFAULTS["tol"],
        verbose=CV_DEFAULTS["verbose"],
        momentum=CV_DEFAULTS["momentum"],
        nesterovs_momentum=CV_DEFAULTS["nesterovs_momentum"],
        early_stopping=CV_DEFAULTS["early_stopping"],
        validation_fraction=CV_DEFAULTS["validation_fraction"],
        beta_1=CV_DEFAULTS["beta_1"],
        beta_2=CV_DEFAULTS["beta_2"],
        epsilon=CV_DEFAULTS["epsilon"],
        n_iter_no_change=CV_DEFAULTS["n_iter_no_change"],
        max_fun=CV_DEFAULTS["max_fun"],
    ):
        self.cv = cv
        self.pruning_rate = pruning_rate
        self.max_rounds = max_rounds
        self.score_tolerance = score_tolerance
        self.scoring = scoring
        self.n_jobs = n_jobs
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.pruning_scope = pruning_scope
        self.pruning_criterion = pruning_criterion
        self.output_layer_rate = output_layer_rate
        self.rewind = rewind
        self.rewind_iteration = rewind_iteration
        self.rewind_fraction = rewind_fraction
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
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun

    def _check_targets(self, X, y):
        """Validate ``X, y`` for the estimator the folds fit."""
        raise NotImplementedError

    def _estimator(self, rounds: int):
        """The estimator that prunes ``rounds`` rounds at ``pruning_rate``."""
        # Its shared parameters, and n_jobs=None: the folds run in parallel.
        shared = {k: v for k, v in self.get_params().items() if k in self._passed_on}
        shared["n_jobs"] = None
        # The target after ``rounds`` rounds at ``pruning_rate``, from which
        # the search derives ``pruning_rate`` back as its per-round rate.
        target = 1 - (1 - self.pruning_rate) ** rounds if rounds else 0.0
        return self._estimator_class(
            **shared, target_sparsity=target, pruning_rounds=max(rounds, 1)
        )

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Score every round of one search per fold, choose, refit.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Class labels for the classifier; target values (one column per
            output) for the regressor.
        sample_weight : array-like of shape (n_samples,), default=None
            Per-sample weights: of the loss in every fold's search and in the
            refit, and of the held-out score when ``scoring`` takes them.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        stop = StopFlag()
        with FitTransaction(self) as transaction:
            X, y = self._check_targets(X, y)
            if sample_weight is not None:
                sample_weight = check_sample_weight(
                    sample_weight, X, dtype=X.dtype, ensure_non_negative=True
                )
            cv = check_cv(self.cv, y, classifier=is_classifier(self))
            folds = list(cv.split(X, y))
            # Every fold runs the whole path: each of its rounds is a candidate.
            path = self._estimator(self.max_rounds)
            scorer = check_scoring(path, scoring=self.scoring)
            # The caller of fit is 3 frames up: fit, then its _fit_context.
            score_weight = _scoring_weights(scorer, sample_weight, stacklevel=3)
            try:
                results = Parallel(n_jobs=self.n_jobs)(
                    delayed(_fold_path)(
                        fold,
                        clone(path),
                        X,
                        y,
                        sample_weight,
                        score_weight,
                        train,
                        test,
                        scorer,
                        stop,
                        get_config(),
                    )
                    for fold, (train, test) in enumerate(folds)
                )
            except KeyboardInterrupt:
                stop.set()  # folds running in threads stop too
                raise
            except ScheduleError as error:
                # The path's schedule, in this estimator's parameters: at the
                # fixed rate, rounds before the empty one each prune.
                fewer = error.empty_round - 1
                advice = (
                    f"use max_rounds={fewer} or fewer, a larger network or a "
                    "higher pruning_rate"
                    if fewer
                    else "use a larger network or a higher pruning_rate"
                )
                raise ValueError(
                    f"max_rounds={self.max_rounds} at pruning_rate="
                    f"{self.pruning_rate} prunes no weight in round "
                    f"{error.empty_round}; {advice}."
                ) from None
            self._choose(results)
            self.best_estimator_ = self._estimator(self.n_rounds_)
            try:
                self.best_estimator_.fit(X, y, sample_weight=sample_weight)
            except KeyboardInterrupt:
                # The refit keeps its completed rounds (if any): so does this.
                if hasattr(self.best_estimator_, "history_"):
                    self._copy_fitted()
                    transaction.keep()
                raise
            self._copy_fitted()
        return self

    def _choose(self, results) -> None:
        """The sparsest round within ``score_tolerance`` of the best mean score."""
        # One row per fold, one column per round.
        test_scores = np.vstack([fold_scores for fold_scores, _ in results])
        # The folds share the architecture and the rate, so they prune the
        # same counts (unless the strongest path holds a round back): the
        # first fold's sparsities stand for all.
        sparsities = results[0][1]
        mean = test_scores.mean(axis=0)
        if np.isnan(mean).all():
            raise ValueError(
                "Every round of the pruning path scored NaN on the held-out folds: "
                "there is nothing to choose from (check scoring, or the data)."
            )
        # A round whose mean score is NaN (a fold it failed to score) is
        # never chosen: the comparison is False.
        within_tolerance = np.flatnonzero(
            mean >= np.nanmax(mean) - self.score_tolerance
        )
        # Sparsity grows with every round: the sparsest is the last one.
        self.n_rounds_ = int(within_tolerance.max())
        self.sparsity_ = float(sparsities[self.n_rounds_])
        self.cv_results_ = {
            "round": np.arange(len(mean)),
            "sparsity": sparsities,
            "mean_test_score": mean,
            "std_test_score": test_scores.std(axis=0),
            **{f"split{k}_test_score": s for k, s in enumerate(test_scores)},
        }

    def _copy_fitted(self) -> None:
        """Expose the refitted estimator's fitted attributes on this one."""
        for name in self._fitted_attributes:
            setattr(self, name, getattr(self.best_estimator_, name))

    def to_sklearn(self):
        """The refitted ticket as a plain, fitted scikit-learn MLP.

        See :meth:`LotteryTicketMLP.to_sklearn`.

        Returns
        -------
        MLPClassifier, MLPRegressor or Pipeline
        """
        check_is_fitted(self)
        return self.best_estimator_.to_sklearn()

    @property
    def feature_importances_(self) -> np.ndarray:
        """The refitted estimator's (see ``LotteryTicketMLP``)."""
        check_is_fitted(self)
        return self.best_estimator_.feature_importances_

    @property
    def unused_features_(self) -> np.ndarray:
        """The refitted estimator's (see ``LotteryTicketMLP``)."""
        check_is_fitted(self)
        return self.best_estimator_.unused_features_

    def predict(self, X):
        """Predictions of the refitted estimator.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_outputs)
            Class labels for the classifier, target values for the regressor.
        """
        X = self._validated(X)
        return self.best_estimator_.predict(X)

    def score(self, X, y, sample_weight=None):
        """The refitted estimator's score under ``scoring``.

        As the folds scored their rounds: accuracy for the classifier and R²
        for the regressor unless ``scoring`` says otherwise, weighted by
        ``sample_weight`` when the scorer takes it (otherwise unweighted, with
        a warning).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        float
        """
        X = self._validated(X)
        scorer = check_scoring(self.best_estimator_, scoring=self.scoring)
        sample_weight = _scoring_weights(scorer, sample_weight, stacklevel=2)
        return _score(scorer, self.best_estimator_, X, y, sample_weight)

    def _validated(self, X):
        """``X`` checked against the features seen in ``fit``."""
        check_is_fitted(self)
        return validate_data(
            self,
            X,
            accept_sparse=["csr", "csc"],
            reset=False,
            dtype=(np.float64, np.float32),
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


@fill_parameters(CV_PARAMS)
class LotteryTicketMLPCV(ClassifierMixin, _BaseLotteryTicketMLPCV):
    """Lottery-ticket classifier whose sparsity is chosen by cross-validation.

    Iterative pruning passes through every sparsity on its way to the target,
    as a regularisation path passes through every penalty. So instead of a
    grid search that runs one search per candidate sparsity, this runs one
    search per fold, ``max_rounds`` rounds at ``pruning_rate`` of the
    remaining weights each, and scores the network of *every* round on the
    fold's held-out part with ``scoring`` (folds in parallel with
    ``n_jobs``). The chosen number of rounds is the sparsest whose mean score
    is within ``score_tolerance`` of the best mean score; the estimator is
    then refitted on all the data, pruned for that many rounds.

    Parameters
    ----------
    {parameters}

    Attributes
    ----------
    sparsity_ : float
        The chosen sparsity.
    n_rounds_ : int
        The chosen number of pruning rounds (0: the dense network).
    cv_results_ : dict of ndarray
        Per round of the path: ``round``, ``sparsity``, ``mean_test_score``,
        ``std_test_score`` and ``split{k}_test_score``.
    best_estimator_ : LotteryTicketMLP
        The estimator refitted on all the data at the chosen sparsity.
    classes_, coefs_, intercepts_, ticket_, history_, n_iter_, kernels_
        As for :class:`LotteryTicketMLP`, taken from ``best_estimator_``.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of str
        Names of the features seen during fit, when they are all strings.

    See Also
    --------
    LotteryTicketMLP : One search at a given sparsity.
    LotteryTicketMLPRegressorCV : The regression twin.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn_lth import LotteryTicketMLPCV
    >>> X, y = load_digits(return_X_y=True)
    >>> X = StandardScaler().fit_transform(X)
    >>> clf = LotteryTicketMLPCV(cv=3, max_rounds=4, hidden_layer_sizes=(16,),
    ...                          max_iter=30, random_state=0).fit(X, y)
    >>> clf.cv_results_["round"].tolist()
    [0, 1, 2, 3, 4]
    >>> 0.0 <= clf.sparsity_ <= 1 - 0.8 ** 4
    True
    """

    _fitted_attributes = ("classes_", *_BaseLotteryTicketMLPCV._fitted_attributes)
    # Under ``scoring``, not ClassifierMixin's accuracy (which comes first).
    score = _BaseLotteryTicketMLPCV.score

    def _check_targets(self, X, y):
        X, y = validate_data(
            self, X, y, accept_sparse=["csr"], dtype=(np.float64, np.float32)
        )
        check_classification_targets(y)
        return X, y

    def predict_proba(self, X):
        """Class probabilities of the refitted estimator.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        X = self._validated(X)
        return self.best_estimator_.predict_proba(X)


@fill_parameters(REGRESSOR_CV_PARAMS)
class LotteryTicketMLPRegressorCV(RegressorMixin, _BaseLotteryTicketMLPCV):
    """Lottery-ticket regressor whose sparsity is chosen by cross-validation.

    The regression twin of :class:`LotteryTicketMLPCV`: one search per fold
    along the pruning path, ``max_rounds`` rounds at ``pruning_rate``, every
    round scored on the fold's held-out part (R² unless ``scoring`` says
    otherwise); the sparsest round within ``score_tolerance`` of the best
    mean score is chosen and the :class:`LotteryTicketMLPRegressor` refitted
    on all the data at that sparsity. Single and multi-output targets are
    supported, and ``loss="poisson"`` as in the regressor.

    Parameters
    ----------
    {parameters}

    Attributes
    ----------
    sparsity_ : float
        The chosen sparsity.
    n_rounds_ : int
        The chosen number of pruning rounds (0: the dense network).
    cv_results_ : dict of ndarray
        Per round of the path: ``round``, ``sparsity``, ``mean_test_score``,
        ``std_test_score`` and ``split{k}_test_score``.
    best_estimator_ : LotteryTicketMLPRegressor
        The estimator refitted on all the data at the chosen sparsity.
    coefs_, intercepts_, ticket_, history_, n_iter_, kernels_
        As for :class:`LotteryTicketMLPRegressor`, taken from
        ``best_estimator_``.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of str
        Names of the features seen during fit, when they are all strings.

    See Also
    --------
    LotteryTicketMLPRegressor : One search at a given sparsity.
    LotteryTicketMLPCV : The classifier.

    Examples
    --------
    >>> from sklearn.datasets import make_regression
    >>> from sklearn_lth import LotteryTicketMLPRegressorCV
    >>> X, y = make_regression(n_samples=200, n_features=10, noise=1.0,
    ...                        random_state=0)
    >>> reg = LotteryTicketMLPRegressorCV(cv=3, max_rounds=3,
    ...                                   hidden_layer_sizes=(20,),
    ...                                   learning_rate_init=0.01, max_iter=200,
    ...                                   random_state=0).fit(X, y / 100)
    >>> reg.cv_results_["round"].tolist()
    [0, 1, 2, 3]
    >>> 0.0 <= reg.sparsity_ <= 1 - 0.8 ** 3
    True
    >>> reg.score(X, y / 100) > 0.9
    True
    """

    _parameter_constraints: dict = constraints(REGRESSOR_CV_PARAMS)
    _estimator_class = LotteryTicketMLPRegressor
    _passed_on = REGRESSOR_PARAMS
    # Under ``scoring``, not RegressorMixin's R² (which comes first).
    score = _BaseLotteryTicketMLPCV.score

    # Its own signature, ``loss`` included: ``get_params`` reads it.
    def __init__(
        self,
        *,
        cv=REGRESSOR_CV_DEFAULTS["cv"],
        pruning_rate=REGRESSOR_CV_DEFAULTS["pruning_rate"],
        max_rounds=REGRESSOR_CV_DEFAULTS["max_rounds"],
        score_tolerance=REGRESSOR_CV_DEFAULTS["score_tolerance"],
        scoring=REGRESSOR_CV_DEFAULTS["scoring"],
        n_jobs=REGRESSOR_CV_DEFAULTS["n_jobs"],
        hidden_layer_sizes=REGRESSOR_CV_DEFAULTS["hidden_layer_sizes"],
        activation=REGRESSOR_CV_DEFAULTS["activation"],
        loss=REGRESSOR_CV_DEFAULTS["loss"],
        pruning_scope=REGRESSOR_CV_DEFAULTS["pruning_scope"],
        pruning_criterion=REGRESSOR_CV_DEFAULTS["pruning_criterion"],
        output_layer_rate=REGRESSOR_CV_DEFAULTS["output_layer_rate"],
        rewind=REGRESSOR_CV_DEFAULTS["rewind"],
        rewind_iteration=REGRESSOR_CV_DEFAULTS["rewind_iteration"],
        rewind_fraction=REGRESSOR_CV_DEFAULTS["rewind_fraction"],
        solver=REGRESSOR_CV_DEFAULTS["solver"],
        alpha=REGRESSOR_CV_DEFAULTS["alpha"],
        batch_size=REGRESSOR_CV_DEFAULTS["batch_size"],
        learning_rate=REGRESSOR_CV_DEFAULTS["learning_rate"],
        learning_rate_init=REGRESSOR_CV_DEFAULTS["learning_rate_init"],
        power_t=REGRESSOR_CV_DEFAULTS["power_t"],
        max_iter=REGRESSOR_CV_DEFAULTS["max_iter"],
        shuffle=REGRESSOR_CV_DEFAULTS["shuffle"],
        random_state=REGRESSOR_CV_DEFAULTS["random_state"],
        tol=REGRESSOR_CV_DEFAULTS["tol"],
        verbose=REGRESSOR_CV_DEFAULTS["verbose"],
        momentum=REGRESSOR_CV_DEFAULTS["momentum"],
        nesterovs_momentum=REGRESSOR_CV_DEFAULTS["nesterovs_momentum"],
        early_stopping=REGRESSOR_CV_DEFAULTS["early_stopping"],
        validation_fraction=REGRESSOR_CV_DEFAULTS["validation_fraction"],
        beta_1=REGRESSOR_CV_DEFAULTS["beta_1"],
        beta_2=REGRESSOR_CV_DEFAULTS["beta_2"],
        epsilon=REGRESSOR_CV_DEFAULTS["epsilon"],
        n_iter_no_change=REGRESSOR_CV_DEFAULTS["n_iter_no_change"],
        max_fun=REGRESSOR_CV_DEFAULTS["max_fun"],
    ):
        super().__init__(
            cv=cv,
            pruning_rate=pruning_rate,
            max_rounds=max_rounds,
            score_tolerance=score_tolerance,
            scoring=scoring,
            n_jobs=n_jobs,
            hidden_layer_sizes=hidden_layer_sizes,
            activation=activation,
            pruning_scope=pruning_scope,
            pruning_criterion=pruning_criterion,
            output_layer_rate=output_layer_rate,
            rewind=rewind,
            rewind_iteration=rewind_iteration,
            rewind_fraction=rewind_fraction,
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

    def _check_targets(self, X, y):
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse=["csr"],
            multi_output=True,
            y_numeric=True,
            dtype=(np.float64, np.float32),
        )
        # Warned about once here, not by every fold's and the refit's fit.
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        return X, y

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags
