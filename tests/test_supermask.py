import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from sklearn_lth import SupermaskMLP
from sklearn_lth._network import glorot_uniform


def _digits():
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, random_state=0, stratify=y
    )
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test), y_train, y_test


@pytest.mark.slow
def test_a_mask_on_frozen_random_weights_classifies_digits():
    X_train, X_test, y_train, y_test = _digits()
    model = SupermaskMLP(hidden_layer_sizes=(256,), random_state=0).fit(
        X_train, y_train
    )
    assert model.score(X_test, y_test) >= 0.85
    # The weights never changed: the kept values are the initial draws, bit
    # for bit, and the biases are still zero.
    weights, _ = glorot_uniform(
        [64, 256, 10], "relu", X_train.dtype, np.random.RandomState(0)
    )
    for W, coef, mask in zip(weights, model.coefs_, model.masks_):
        dense_mask = mask.toarray()
        np.testing.assert_array_equal(coef.toarray()[dense_mask], W[dense_mask])
        assert np.all(coef.toarray()[~dense_mask] == 0)
        assert coef.nnz == mask.nnz
    assert all(np.all(b == 0) for b in model.intercepts_)
    assert 0 < model.sparsity_ < 1


def test_prediction_uses_the_deterministic_mask():
    X_train, X_test, y_train, _ = _digits()
    model = SupermaskMLP(hidden_layer_sizes=(32,), max_iter=10, random_state=0).fit(
        X_train, y_train
    )
    W1, W2 = (c.toarray() for c in model.coefs_)
    H = np.maximum(X_test @ W1, 0)
    Z = H @ W2
    np.testing.assert_array_equal(model.predict(X_test), model.classes_[Z.argmax(1)])


def test_training_stops_after_n_iter_no_change_stalled_epochs():
    """The stopping rule of LotteryTicketMLP: a tolerance no epoch can beat
    stops training after the first epoch and ``n_iter_no_change + 1`` more."""
    X_train, _, y_train, _ = _digits()
    model = SupermaskMLP(
        hidden_layer_sizes=(16,), tol=1e9, n_iter_no_change=2, random_state=0
    ).fit(X_train, y_train)
    assert model.n_iter_ == 4 == len(model.loss_curve_)


def test_unit_sample_weights_change_nothing():
    X_train, X_test, y_train, _ = _digits()
    params = dict(hidden_layer_sizes=(16,), max_iter=5, random_state=0)
    plain = SupermaskMLP(**params).fit(X_train, y_train)
    weighted = SupermaskMLP(**params).fit(
        X_train, y_train, sample_weight=np.ones(len(y_train))
    )
    assert weighted.loss_curve_ == plain.loss_curve_
    np.testing.assert_array_equal(
        weighted.predict_proba(X_test), plain.predict_proba(X_test)
    )


def test_zero_weight_rows_count_as_absent():
    """Full-batch and unshuffled, rows that weigh zero change neither the
    loss nor the gradient: the masks are those learned without the rows."""
    X_train, _, y_train, _ = _digits()
    X, y = X_train[:300], y_train[:300]
    sample_weight = np.ones(len(y))
    sample_weight[200:] = 0.0
    params = dict(hidden_layer_sizes=(16,), max_iter=8, shuffle=False, random_state=0)
    weighted = SupermaskMLP(**params, batch_size=300).fit(
        X, y, sample_weight=sample_weight
    )
    kept = SupermaskMLP(**params, batch_size=200).fit(X[:200], y[:200])
    np.testing.assert_allclose(weighted.loss_curve_, kept.loss_curve_, rtol=1e-10)
    for a, b in zip(weighted.masks_, kept.masks_):
        np.testing.assert_array_equal(a.toarray(), b.toarray())


def test_a_batch_that_weighs_zero_takes_no_step_and_divides_by_nothing():
    import warnings

    X_train, X_test, y_train, _ = _digits()
    sample_weight = np.ones(len(y_train))
    sample_weight[:100] = 0.0  # the first two batches, unshuffled
    params = dict(hidden_layer_sizes=(16,), max_iter=3, batch_size=50, shuffle=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no division by zero, no NaN
        weighted = SupermaskMLP(**params, random_state=0).fit(
            X_train, y_train, sample_weight=sample_weight
        )
    assert np.all(np.isfinite(weighted.loss_curve_))
    # Not the unweighted fit: those rows did not count.
    plain = SupermaskMLP(**params, random_state=0).fit(X_train, y_train)
    assert weighted.loss_curve_ != plain.loss_curve_
    # As in LotteryTicketMLP: weights must be >= 0 (scikit-learn's MLP takes
    # negative ones), not all 0.
    for bad, message in ((-sample_weight, "Negative"), (0 * sample_weight, "non-zero")):
        with pytest.raises(ValueError, match=message):
            SupermaskMLP(**params).fit(X_train, y_train, sample_weight=bad)


def test_integer_weights_equal_repeated_rows_without_shuffling():
    """scikit-learn's check, which holds with ``shuffle=False``: shuffled, the
    masks drawn in training depend on the number of rows (see test_common)."""
    from sklearn.utils.estimator_checks import (
        check_sample_weight_equivalence_on_dense_data,
    )

    model = SupermaskMLP(
        hidden_layer_sizes=(32,), max_iter=20, shuffle=False, random_state=0
    )
    check_sample_weight_equivalence_on_dense_data("SupermaskMLP", model)


# -- Interrupted fits ---------------------------------------------------------------

# 1347 digits in mini-batches of 100: 14 steps an epoch.
INTERRUPT_PARAMS = dict(hidden_layer_sizes=(16,), batch_size=100, random_state=0)
STEPS_PER_EPOCH = 14


def _interrupt_step(monkeypatch, epoch: int, batch: int, *, after_step: bool):
    """KeyboardInterrupt in the ``batch``-th mini-batch of ``epoch`` (from 1).

    Raised instead of that batch's optimizer step, or just after it: then every
    step of the epoch may have been taken and the epoch is still not complete.
    """
    from sklearn_lth._optimizers import Adam

    real_step, calls = Adam.step, []
    target = (epoch - 1) * STEPS_PER_EPOCH + batch

    def step(self, params, grads, lr):
        calls.append(1)
        if len(calls) == target and not after_step:
            raise KeyboardInterrupt
        real_step(self, params, grads, lr)
        if len(calls) == target:
            raise KeyboardInterrupt

    monkeypatch.setattr(Adam, "step", step)


def _assert_same_fitted_model(model, expected, X):
    assert model.n_iter_ == expected.n_iter_
    assert model.loss_curve_ == expected.loss_curve_
    for attribute in ("masks_", "coefs_"):
        for got, want in zip(getattr(model, attribute), getattr(expected, attribute)):
            np.testing.assert_array_equal(got.indptr, want.indptr)
            np.testing.assert_array_equal(got.indices, want.indices)
            np.testing.assert_array_equal(got.data, want.data)
    assert model.sparsity_ == expected.sparsity_
    np.testing.assert_array_equal(model.predict_proba(X), expected.predict_proba(X))
    np.testing.assert_array_equal(model.predict(X), expected.predict(X))


@pytest.mark.parametrize(
    "epoch, batch, after_step",
    [
        (3, 6, False),  # mid-epoch: five of its steps taken
        (3, STEPS_PER_EPOCH, True),  # every step taken, the epoch not yet closed
        (2, 1, False),  # before the epoch's first step
    ],
)
def test_an_interrupt_mid_epoch_keeps_the_end_of_the_last_complete_epoch(
    monkeypatch, epoch, batch, after_step
):
    """The kept model is, bit for bit, the one fitted for the epochs completed
    (``max_iter=epoch - 1``): none of the interrupted epoch's steps count."""
    X_train, X_test, y_train, _ = _digits()
    completed = SupermaskMLP(**INTERRUPT_PARAMS, max_iter=epoch - 1).fit(
        X_train, y_train
    )
    _interrupt_step(monkeypatch, epoch, batch, after_step=after_step)
    model = SupermaskMLP(**INTERRUPT_PARAMS, max_iter=20)
    with pytest.warns(UserWarning, match=f"masks learned in {epoch - 1} epoch"):
        with pytest.raises(KeyboardInterrupt):
            model.fit(X_train, y_train)
    _assert_same_fitted_model(model, completed, X_test)


def test_an_interrupt_once_an_epoch_has_ended_keeps_that_epoch(monkeypatch):
    """Interrupted after epoch 3's loss is recorded (in the stopping rule's
    update), the fit keeps all three epochs: they are complete."""
    from sklearn_lth import _supermask

    X_train, X_test, y_train, _ = _digits()
    three_epochs = SupermaskMLP(**INTERRUPT_PARAMS, max_iter=3).fit(X_train, y_train)
    real_rule, updates = _supermask.NoImprovementRule, []

    class InterruptedRule(real_rule):
        def update(self, value):
            updates.append(value)
            if len(updates) == 3:
                raise KeyboardInterrupt
            return super().update(value)

    monkeypatch.setattr(_supermask, "NoImprovementRule", InterruptedRule)
    model = SupermaskMLP(**INTERRUPT_PARAMS, max_iter=20)
    with pytest.warns(UserWarning, match="masks learned in 3 epoch"):
        with pytest.raises(KeyboardInterrupt):
            model.fit(X_train, y_train)
    _assert_same_fitted_model(model, three_epochs, X_test)


def test_an_interrupt_in_the_first_epoch_keeps_nothing(monkeypatch):
    import warnings

    from sklearn.exceptions import NotFittedError

    X_train, X_test, y_train, _ = _digits()
    _interrupt_step(monkeypatch, 1, 9, after_step=True)
    model = SupermaskMLP(**INTERRUPT_PARAMS)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing is kept, so nothing to say
        with pytest.raises(KeyboardInterrupt):
            model.fit(X_train, y_train)
    with pytest.raises(NotFittedError):
        model.predict(X_test)
