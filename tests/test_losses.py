"""Losses, output errors and scores agree with scikit-learn's metrics."""

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    log_loss,
    mean_poisson_deviance,
    mean_squared_error,
    r2_score,
)

from sklearn_lth._losses import (
    constant_prediction,
    loss_value,
    output_delta,
    validation_score,
)

rng = np.random.RandomState(0)
N = 40
LABELS = rng.randint(0, 3, size=N)
ONE_HOT = np.eye(3)[LABELS]
PROBA = rng.dirichlet(np.ones(3), size=N)
WEIGHTS = rng.uniform(0.1, 2.0, size=N)


@pytest.mark.parametrize("weights", [None, WEIGHTS])
def test_softmax_loss_is_the_log_loss(weights):
    expected = log_loss(LABELS, PROBA, sample_weight=weights, labels=[0, 1, 2])
    assert loss_value("softmax", ONE_HOT, PROBA, weights) == pytest.approx(expected)


def test_logistic_loss_sums_the_binary_log_loss_over_labels():
    Y = rng.randint(0, 2, size=(N, 2)).astype(float)
    P = rng.uniform(0.01, 0.99, size=(N, 2))
    expected = sum(log_loss(Y[:, k], P[:, k]) for k in range(2))
    assert loss_value("logistic", Y, P, None) == pytest.approx(expected)


def test_squared_error_is_half_the_squared_error_summed_over_outputs():
    Y, P = rng.normal(size=(N, 2)), rng.normal(size=(N, 2))
    expected = 0.5 * 2 * mean_squared_error(Y, P)  # mean over outputs, summed
    assert loss_value("identity", Y, P, None) == pytest.approx(expected)


def test_poisson_loss_is_half_the_deviance_and_zero_targets_are_finite():
    Y = rng.poisson(2.0, size=(N, 1)).astype(float)
    assert (Y == 0).any()
    P = rng.uniform(0.5, 3.0, size=(N, 1))
    expected = 0.5 * mean_poisson_deviance(Y.ravel(), P.ravel())
    assert loss_value("exp", Y, P, None) == pytest.approx(expected)


def test_a_probability_that_underflowed_gives_a_finite_loss():
    P = np.array([[0.0, 1.0]], dtype=np.float32)
    Y = np.array([[1.0, 0.0]], dtype=np.float32)
    loss = loss_value("softmax", Y, P, None)
    assert np.isfinite(loss) and loss == pytest.approx(-np.log(np.finfo("f4").eps))


def test_rows_that_all_weigh_zero_have_no_loss():
    assert loss_value("softmax", ONE_HOT, PROBA, np.zeros(N)) == 0.0


def test_output_error_is_prediction_minus_target_scaled_and_weighted():
    out = np.empty_like(PROBA)
    delta = output_delta(ONE_HOT, PROBA, WEIGHTS, out, scale=0.5)
    assert delta is out
    np.testing.assert_allclose(delta, 0.5 * WEIGHTS[:, None] * (PROBA - ONE_HOT))
    plain = output_delta(ONE_HOT, PROBA, None, np.empty_like(PROBA))
    np.testing.assert_array_equal(plain, PROBA - ONE_HOT)


def test_scores_are_accuracy_exact_match_and_r2():
    assert validation_score("softmax", ONE_HOT, PROBA) == pytest.approx(
        accuracy_score(LABELS, PROBA.argmax(1))
    )
    Y = rng.randint(0, 2, size=(N, 2)).astype(float)
    P = rng.uniform(size=(N, 2))
    assert validation_score("logistic", Y, P) == pytest.approx(
        accuracy_score(Y, P > 0.5)
    )
    Yr, Pr = rng.normal(size=(N, 1)), rng.normal(size=(N, 1))
    assert validation_score("identity", Yr, Pr, WEIGHTS) == pytest.approx(
        r2_score(Yr, Pr, sample_weight=WEIGHTS)
    )
    # Rows that all weigh zero are scored unweighted.
    assert validation_score("softmax", ONE_HOT, PROBA, np.zeros(N)) == pytest.approx(
        accuracy_score(LABELS, PROBA.argmax(1))
    )


def test_the_constant_prediction_is_chance():
    loss, score = constant_prediction("softmax", ONE_HOT)
    shares = ONE_HOT.mean(axis=0)
    assert score == pytest.approx(shares.max())
    assert loss == pytest.approx(-(shares * np.log(shares)).sum())
    Yr = rng.normal(size=(N, 2))
    loss, score = constant_prediction("identity", Yr)
    assert score == 0.0
    assert loss == pytest.approx(0.5 * Yr.var(axis=0).sum())
