import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_wine
from sklearn.metrics import get_scorer, max_error, mean_absolute_error, r2_score
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.preprocessing import StandardScaler

from sklearn_lth import (
    LotteryTicketMLPCV,
    LotteryTicketMLPRegressor,
    LotteryTicketMLPRegressorCV,
)
from sklearn_lth._compat import InvalidParameterError

PARAMS = dict(
    cv=3,
    max_rounds=4,
    hidden_layer_sizes=(12,),
    max_iter=30,
    learning_rate_init=0.01,
    random_state=0,
)


@pytest.mark.parametrize("score_tolerance", [0.0, 0.05, 1.0])
def test_the_sparsest_level_within_tolerance_of_the_best_is_chosen(
    small_classification, score_tolerance
):
    X, y = small_classification
    model = LotteryTicketMLPCV(**PARAMS, score_tolerance=score_tolerance).fit(X, y)
    results = model.cv_results_
    mean = results["mean_test_score"]
    np.testing.assert_array_equal(results["round"], np.arange(5))
    np.testing.assert_allclose(
        mean, np.mean([results[f"split{k}_test_score"] for k in range(3)], axis=0)
    )
    good = np.flatnonzero(mean >= mean.max() - score_tolerance)
    assert model.n_rounds_ == good.max()
    if score_tolerance == 1.0:
        assert model.n_rounds_ == 4  # everything is within tolerance
    assert model.sparsity_ == pytest.approx(results["sparsity"][model.n_rounds_])
    assert model.ticket_.sparsity == pytest.approx(model.sparsity_, abs=0.01)
    assert len(model.history_["round"]) == model.n_rounds_ + 1
    np.testing.assert_array_equal(model.predict(X), model.best_estimator_.predict(X))


def test_folds_in_parallel_equal_serial(small_classification):
    X, y = small_classification
    serial = LotteryTicketMLPCV(**PARAMS).fit(X, y)
    parallel = LotteryTicketMLPCV(**PARAMS, n_jobs=2).fit(X, y)
    np.testing.assert_array_equal(
        serial.cv_results_["mean_test_score"], parallel.cv_results_["mean_test_score"]
    )
    assert serial.n_rounds_ == parallel.n_rounds_


# -- the regressor, scoring= and sample_weight --------------------------------

REGRESSION = dict(
    cv=3,
    max_rounds=3,
    hidden_layer_sizes=(12,),
    max_iter=40,
    learning_rate_init=0.01,
    random_state=0,
)


@pytest.fixture(scope="module")
def small_regression():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(120, 6))
    y = X[:, 0] - 0.5 * X[:, 1] + 0.3 * np.tanh(X[:, 2]) + 0.1 * rng.normal(size=120)
    return X, y


def _path_by_hand(estimator, X, y, folds, scorer, sample_weight=None):
    """Every fold's round scores, from a plain fit of the folds' estimator."""
    scores = []
    for train, test in folds:
        fold_scores = []
        test_weight = (
            {} if sample_weight is None else {"sample_weight": sample_weight[test]}
        )

        def score_round(record, model, out=fold_scores, test=test, kw=test_weight):
            out.append(scorer(model, X[test], y[test], **kw))

        fit_weight = None if sample_weight is None else sample_weight[train]
        clone(estimator).fit(
            X[train], y[train], sample_weight=fit_weight, on_round_end=score_round
        )
        scores.append(fold_scores)
    return np.array(scores)


def test_regressor_cv_scores_every_round_by_r2_and_refits(small_regression):
    X, y = small_regression
    model = LotteryTicketMLPRegressorCV(**REGRESSION, score_tolerance=0.02).fit(X, y)
    assert isinstance(model.best_estimator_, LotteryTicketMLPRegressor)
    results = model.cv_results_
    np.testing.assert_array_equal(results["round"], np.arange(4))
    folds = list(KFold(3).split(X))
    by_hand = _path_by_hand(
        model._estimator(3), X, y, folds, lambda m, X, y: r2_score(y, m.predict(X))
    )
    for k in range(3):
        np.testing.assert_allclose(results[f"split{k}_test_score"], by_hand[k])
    mean = results["mean_test_score"]
    assert model.n_rounds_ == np.flatnonzero(mean >= mean.max() - 0.02).max()
    assert len(model.history_["round"]) == model.n_rounds_ + 1
    np.testing.assert_array_equal(model.predict(X), model.best_estimator_.predict(X))
    assert model.score(X, y) == r2_score(y, model.predict(X)) > 0.8


def test_regressor_cv_passes_loss_and_multi_output_on():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(90, 4))
    Y = rng.poisson(np.exp(0.5 * X[:, :2])).astype(float)
    model = LotteryTicketMLPRegressorCV(
        **{**REGRESSION, "max_rounds": 2}, loss="poisson"
    )
    model.fit(X, Y)
    assert model.best_estimator_.loss == "poisson"
    assert model.best_estimator_.out_activation_ == "exp"
    assert model.predict(X).shape == (90, 2) and np.all(model.predict(X) > 0)


def test_scoring_by_name_and_by_callable(small_regression):
    X, y = small_regression
    params = {**REGRESSION, "max_rounds": 2, "score_tolerance": 0.0}
    by_name = LotteryTicketMLPRegressorCV(
        **params, scoring="neg_mean_absolute_error"
    ).fit(X, y)
    folds = list(KFold(3).split(X))
    by_hand = _path_by_hand(
        by_name._estimator(2), X, y, folds, get_scorer("neg_mean_absolute_error")
    )
    np.testing.assert_allclose(
        by_name.cv_results_["mean_test_score"], by_hand.mean(axis=0)
    )
    # score() uses scoring too, as scikit-learn's searches do.
    assert by_name.score(X, y) == -mean_absolute_error(y, by_name.predict(X))

    # A callable that prefers denser networks chooses the dense round 0.
    def kept_weights(estimator, X, y):
        return float(sum(W.nnz for W in estimator.coefs_))

    denser = LotteryTicketMLPCV(**PARAMS, scoring=kept_weights).fit(*_classes(X, y))
    assert denser.n_rounds_ == 0
    remaining = denser.cv_results_["mean_test_score"]
    assert np.all(np.diff(remaining) < 0)
    with pytest.raises(InvalidParameterError, match="'scoring' parameter"):
        LotteryTicketMLPCV(scoring="no_such_scorer").fit(*_classes(X, y))


def _classes(X, y):
    return X, (y > np.median(y)).astype(int)


@pytest.mark.parametrize("cls", ["classifier", "regressor"])
def test_sample_weight_reaches_every_fold_its_score_and_the_refit(
    small_regression, cls
):
    X, y = small_regression
    sample_weight = np.random.RandomState(1).uniform(0.0, 3.0, len(y))
    sample_weight[:10] = 0.0
    if cls == "classifier":
        X, y = _classes(X, y)
        model = LotteryTicketMLPCV(**{**PARAMS, "max_rounds": 2})
        folds = list(StratifiedKFold(3).split(X, y))
        scorer = get_scorer("balanced_accuracy")
        model.set_params(scoring="balanced_accuracy")
    else:
        model = LotteryTicketMLPRegressorCV(**{**REGRESSION, "max_rounds": 2})
        folds = list(KFold(3).split(X))
        scorer = get_scorer("r2")  # what scoring=None means for a regressor
    model.fit(X, y, sample_weight=sample_weight)
    by_hand = _path_by_hand(model._estimator(2), X, y, folds, scorer, sample_weight)
    for k in range(3):
        np.testing.assert_allclose(
            model.cv_results_[f"split{k}_test_score"], by_hand[k]
        )
    refit = model._estimator(model.n_rounds_).fit(X, y, sample_weight=sample_weight)
    np.testing.assert_array_equal(model.predict(X), refit.predict(X))
    # The weights change the path: unweighted, the scores differ.
    unweighted = clone(model).fit(X, y)
    assert not np.allclose(
        unweighted.cv_results_["mean_test_score"], model.cv_results_["mean_test_score"]
    )
    assert model.score(X, y, sample_weight=sample_weight) == pytest.approx(
        scorer(model.best_estimator_, X, y, sample_weight=sample_weight)
    )


def test_a_scorer_without_sample_weight_scores_unweighted_with_a_warning(
    small_regression,
):
    """max_error takes no sample_weight: the folds still train weighted, and
    their held-out parts are scored unweighted."""
    X, y = small_regression
    sample_weight = np.random.RandomState(1).uniform(0.0, 3.0, len(y))
    params = {**REGRESSION, "max_rounds": 1, "scoring": "neg_max_error"}
    with pytest.warns(UserWarning, match="takes no sample_weight"):
        model = LotteryTicketMLPRegressorCV(**params).fit(
            X, y, sample_weight=sample_weight
        )
    folds = list(KFold(3).split(X))
    scorer = get_scorer("neg_max_error")
    unweighted = _path_by_hand(model._estimator(1), X, y, folds, scorer)
    assert not np.allclose(model.cv_results_["mean_test_score"], unweighted.mean(0))
    weighted_fits = []
    for train, test in folds:
        fold_scores = []

        def score_round(record, model, out=fold_scores, test=test):
            out.append(scorer(model, X[test], y[test]))

        clone(model._estimator(1)).fit(
            X[train],
            y[train],
            sample_weight=sample_weight[train],
            on_round_end=score_round,
        )
        weighted_fits.append(fold_scores)
    for k in range(3):
        np.testing.assert_allclose(
            model.cv_results_[f"split{k}_test_score"], weighted_fits[k]
        )
    with pytest.warns(UserWarning, match="takes no sample_weight") as record:
        score = model.score(X, y, sample_weight=sample_weight)
    assert score == -max_error(y, model.predict(X))
    assert record[0].filename == __file__  # the warning points at the caller


def test_a_column_vector_target_warns_once_not_per_fold():
    from sklearn.exceptions import DataConversionWarning

    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 3))
    y = X[:, :1] * 2
    with pytest.warns(DataConversionWarning) as record:
        LotteryTicketMLPRegressorCV(
            cv=3, max_rounds=1, hidden_layer_sizes=(4,), max_iter=5, random_state=0
        ).fit(X, y)
    assert sum(issubclass(w.category, DataConversionWarning) for w in record) == 1


@pytest.mark.parametrize("n_jobs", [None, 2])
def test_a_path_too_long_for_the_network_names_max_rounds(n_jobs):
    """Its error names this estimator's parameters and the rounds that work
    (the search's would name pruning_rounds), from worker processes too."""
    X, y = load_wine(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    cv = LotteryTicketMLPCV(cv=2, max_rounds=30, hidden_layer_sizes=(8,), n_jobs=n_jobs)
    message = (
        "max_rounds=30 at pruning_rate=0.2 prunes no weight in round 19; use "
        "max_rounds=18 or fewer"
    )
    with pytest.raises(ValueError, match=message):
        cv.fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cv.set_params(max_rounds=18, max_iter=5).fit(X, y)  # 18 rounds do
    assert 0 <= cv.n_rounds_ <= 18
