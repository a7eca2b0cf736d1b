"""Choosing the sparsity by cross-validation along the pruning path."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.model_selection import check_cv
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import check_is_fitted, validate_data

from ._compat import _fit_context
from ._interrupt import FitTransaction, StopFlag, nested_fit
from ._mlp import LotteryTicketMLP
from ._params import CV_DEFAULTS, CV_PARAMS, PARAMS, constraints, fill_parameters


def _fold_path(estimator: LotteryTicketMLP, X, y, train, test, stop: StopFlag):
    """One search on a fold's training part, scoring every round on its test part."""
    test_scores, sparsities = [], []

    def score_round(record, round_model):
        test_scores.append(round_model.score(X[test], y[test]))
        sparsities.append(record["sparsity"])

    # Nested: the fold stops with the CV fit's flag, and leaves it to the CV
    # fit to say what an interrupt keeps.
    with nested_fit(stop):
        estimator.fit(X[train], y[train], on_round_end=score_round)
    return np.asarray(test_scores), np.asarray(sparsities)


@fill_parameters(CV_PARAMS)
class LotteryTicketMLPCV(ClassifierMixin, BaseEstimator):
    """Lottery-ticket classifier whose sparsity is chosen by cross-validation.

    Iterative pruning passes through every sparsity on its way to the target,
    as a regularisation path passes through every penalty. So instead of a
    grid search that runs one search per candidate sparsity, this runs one
    search per fold, ``max_rounds`` rounds at ``pruning_rate`` of the
    remaining weights each, and scores the network of *every* round on the
    fold's held-out part (folds in parallel with ``n_jobs``). The chosen
    number of rounds is the sparsest whose mean score is within
    ``score_tolerance`` of the best mean score; the estimator is then refitted
    on all the data, pruned for that many rounds.

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
    classes_, coefs_, intercepts_, ticket_, history_, n_iter_
        As for :class:`LotteryTicketMLP`, taken from ``best_estimator_``.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of str
        Names of the features seen during fit, when they are all strings.

    See Also
    --------
    LotteryTicketMLP : One search at a given sparsity.

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

    _parameter_constraints: dict = constraints(CV_PARAMS)

    def __init__(
        self,
        *,
        cv=CV_DEFAULTS["cv"],
        pruning_rate=CV_DEFAULTS["pruning_rate"],
        max_rounds=CV_DEFAULTS["max_rounds"],
        score_tolerance=CV_DEFAULTS["score_tolerance"],
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

    def _estimator(self, rounds: int) -> LotteryTicketMLP:
        """The classifier that prunes ``rounds`` rounds at ``pruning_rate``."""
        # Its shared parameters, and n_jobs=None: the folds run in parallel.
        shared = {k: v for k, v in self.get_params().items() if k in PARAMS}
        shared["n_jobs"] = None
        # The target after ``rounds`` rounds at ``pruning_rate``, from which
        # the search derives ``pruning_rate`` back as its per-round rate.
        target = 1 - (1 - self.pruning_rate) ** rounds if rounds else 0.0
        return LotteryTicketMLP(
            **shared, target_sparsity=target, pruning_rounds=max(rounds, 1)
        )

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Score every round of one search per fold, choose, refit.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,)
            Class labels.

        Returns
        -------
        self : LotteryTicketMLPCV
            The fitted estimator.
        """
        stop = StopFlag()
        with FitTransaction(self) as transaction:
            X, y = validate_data(
                self, X, y, accept_sparse=["csr"], dtype=(np.float64, np.float32)
            )
            check_classification_targets(y)
            folds = list(check_cv(self.cv, y, classifier=True).split(X, y))
            # Every fold runs the whole path: each of its rounds is a candidate.
            path = self._estimator(self.max_rounds)
            try:
                results = Parallel(n_jobs=self.n_jobs)(
                    delayed(_fold_path)(clone(path), X, y, train, test, stop)
                    for train, test in folds
                )
            except KeyboardInterrupt:
                stop.set()  # folds running in threads stop too
                raise
            self._choose(results)
            self.best_estimator_ = self._estimator(self.n_rounds_)
            try:
                self.best_estimator_.fit(X, y)
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
        within_tolerance = np.flatnonzero(mean >= mean.max() - self.score_tolerance)
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
        for name in (
            "classes_",
            "coefs_",
            "intercepts_",
            "ticket_",
            "history_",
            "n_iter_",
        ):
            setattr(self, name, getattr(self.best_estimator_, name))

    def predict(self, X):
        """Predicted class labels of the refitted estimator.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        X = self._validated(X)
        return self.best_estimator_.predict(X)

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
