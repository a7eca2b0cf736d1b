"""scikit-learn's estimator checks on every public estimator."""

import pytest
from sklearn.utils.estimator_checks import (
    check_param_validation,
    parametrize_with_checks,
)

import sklearn_lth
from sklearn_lth import (
    LotteryTicketMLP,
    LotteryTicketMLPCV,
    LotteryTicketMLPRegressor,
    LotteryTicketMLPRegressorCV,
    SupermaskMLP,
)

# Small, fast instances: the checks fit dozens of times.
SEARCH = dict(
    hidden_layer_sizes=(16,),
    target_sparsity=0.5,
    pruning_rounds=2,
    max_iter=100,
    learning_rate_init=0.01,
    random_state=0,
)
FAST_ESTIMATORS = [
    LotteryTicketMLP(**SEARCH),
    LotteryTicketMLPRegressor(**SEARCH),
    SupermaskMLP(
        hidden_layer_sizes=(128,), max_iter=100, learning_rate_init=0.1, random_state=0
    ),
]
# Each of their checks fits several searches (a warm start fits on, the CV
# estimators fit one per fold and refit): the slow half.
SLOW_ESTIMATORS = [
    # warm_start=True: every fit but the first goes on from the fitted search.
    LotteryTicketMLP(**SEARCH, warm_start=True),
    LotteryTicketMLPRegressor(**SEARCH, warm_start=True),
    LotteryTicketMLPCV(
        cv=2,
        max_rounds=2,
        hidden_layer_sizes=(16,),
        max_iter=100,
        learning_rate_init=0.01,
        random_state=0,
    ),
    LotteryTicketMLPRegressorCV(
        cv=2,
        max_rounds=2,
        hidden_layer_sizes=(16,),
        max_iter=100,
        learning_rate_init=0.01,
        random_state=0,
    ),
]
ESTIMATORS = FAST_ESTIMATORS + SLOW_ESTIMATORS


# Measured: scikit-learn's MLPClassifier and MLPRegressor with warm_start=True
# fail exactly these checks, and for the same reason.
WARM_START_REFITS = (
    "The check fits the same estimator twice (with y as a column, or as a "
    "label indicator matrix) and wants equal predictions; with warm_start=True "
    "the second fit trains the fitted network on, by design, as scikit-learn's "
    "MLPs with warm_start=True do (they fail this check too)."
)


def _expected_failed_checks(estimator) -> dict[str, str]:
    if getattr(estimator, "warm_start", False):
        failed = {"check_supervised_y_2d": WARM_START_REFITS}
        if isinstance(estimator, LotteryTicketMLP):
            failed["check_classifiers_multilabel_representation_invariance"] = (
                WARM_START_REFITS
            )
        return failed
    if not isinstance(estimator, SupermaskMLP):
        return {}
    # With shuffle=False they pass (tests/test_supermask.py).
    reason = (
        "The training masks are drawn from the random stream that also shuffles "
        "the rows, and shuffling more rows draws more: repeated rows and integer "
        "weights see other masks (they agree in expectation only)."
    )
    return {
        "check_sample_weight_equivalence_on_dense_data": reason,
        "check_sample_weight_equivalence_on_sparse_data": reason,
    }


@parametrize_with_checks(
    FAST_ESTIMATORS, expected_failed_checks=_expected_failed_checks
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


@pytest.mark.slow
@parametrize_with_checks(
    SLOW_ESTIMATORS, expected_failed_checks=_expected_failed_checks
)
def test_sklearn_compatible_slow(estimator, check):
    check(estimator)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: type(e).__name__)
def test_param_validation(estimator):
    check_param_validation(type(estimator).__name__, estimator)


@pytest.mark.parametrize(
    "name", sorted(set(sklearn_lth.__all__) - {"SKOPS_TRUSTED_TYPES"})
)
def test_public_api_has_numpydoc_with_examples(name):
    doc = getattr(sklearn_lth, name).__doc__ or ""
    assert "Examples\n    --------" in doc or "Examples\n--------" in doc, name
    assert ">>>" in doc, name
