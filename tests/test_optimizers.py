import warnings

import numpy as np
import pytest
from sklearn.neural_network import MLPClassifier, MLPRegressor

from sklearn_lth import LotteryTicketMLP, LotteryTicketMLPRegressor
from sklearn_lth._network import Network, glorot_uniform
from sklearn_lth._optimizers import SGD, Adam
from sklearn_lth._rewinding import StartPoint
from sklearn_lth._training import train_round
from sklearn_lth._training_config import TrainingConfig

SHARED = dict(max_iter=4, shuffle=False, tol=0.0, n_iter_no_change=100, alpha=1e-3)


@pytest.mark.parametrize("solver", ["adam", "sgd"])
@pytest.mark.parametrize("batch_size", [20, 120])
@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic"])
def test_dense_round_matches_scikit_learn(
    small_classification, solver, batch_size, activation
):
    """A dense round with no shuffling takes scikit-learn's exact steps."""
    X, y = small_classification
    params = dict(
        SHARED,
        hidden_layer_sizes=(9, 5),
        solver=solver,
        activation=activation,
        batch_size=batch_size,
        learning_rate_init=0.01,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = MLPClassifier(**params).fit(X, y)
        ours = LotteryTicketMLP(target_sparsity=0.0, **params).fit(X, y)
    for a, b in zip(ours.coefs_, theirs.coefs_):
        np.testing.assert_allclose(a.toarray(), b, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-9)


def test_dense_regression_round_matches_scikit_learn():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 5))
    y = X @ rng.normal(size=5)
    params = dict(SHARED, hidden_layer_sizes=(7,), batch_size=15, random_state=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = MLPRegressor(**params).fit(X, y)
        ours = LotteryTicketMLPRegressor(target_sparsity=0.0, **params).fit(X, y)
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-9)


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_pruned_weights_stay_exactly_zero_through_training(
    small_classification, solver
):
    X, y = small_classification
    Y = np.eye(3)[y]
    rng = np.random.RandomState(0)
    weights, biases = glorot_uniform([8, 30, 3], "relu", X.dtype, rng)
    masks = [rng.uniform(size=W.shape) < 0.3 for W in weights]
    positions = [np.flatnonzero(m) for m in masks]
    for kernel in ("dense", "sparse"):
        net = Network.from_dense(weights, biases, positions, "relu", "softmax", kernel)
        before = [layer.values.copy() for layer in net.layers]
        config = TrainingConfig(
            solver=solver,
            batch_size=10,
            max_iter=15,
            learning_rate_init=0.05,
            momentum=0.9,
        )
        train_round(net, X, Y, None, config, rng, start=StartPoint(weights, biases))
        for layer, mask, old in zip(net.layers, masks, before):
            dense = layer.matrix.toarray()
            assert np.all(dense[~mask] == 0.0)
            assert layer.matrix.nnz == mask.sum()
            assert not np.array_equal(layer.values, old)  # the kept weights trained
            if kernel == "dense":
                np.testing.assert_array_equal(layer.dense, dense)


def test_optimizer_state_exists_for_kept_weights_only():
    params = [np.zeros(5), np.zeros(3)]
    adam = Adam(params, 0.9, 0.999, 1e-8)
    sgd = SGD(params, 0.9, True)
    assert [m.shape for m in adam.first] == [(5,), (3,)]
    assert [v.shape for v in sgd.velocities] == [(5,), (3,)]


def test_adam_matches_scikit_learn():
    from sklearn.neural_network._stochastic_optimizers import AdamOptimizer

    rng = np.random.RandomState(0)
    ours_params = [rng.normal(size=4), rng.normal(size=2)]
    theirs_params = [p.copy() for p in ours_params]
    ours = Adam(ours_params, 0.9, 0.999, 1e-8)
    theirs = AdamOptimizer(theirs_params, 0.01, 0.9, 0.999, 1e-8)
    for _ in range(5):
        grads = [rng.normal(size=4), rng.normal(size=2)]
        theirs.update_params(theirs_params, [g.copy() for g in grads])
        ours.step(ours_params, grads, 0.01)  # uses grads as scratch
    for a, b in zip(ours_params, theirs_params):
        np.testing.assert_allclose(a, b, rtol=1e-12)
