import numpy as np
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
