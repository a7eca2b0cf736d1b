import numpy as np
import pytest

from sklearn_lth import LotteryTicketMLPCV

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
