import numpy as np
import pytest
import scipy.sparse as sp

from sklearn_lth._network import Network, glorot_uniform
from sklearn_lth._rewinding import StartPoint
from sklearn_lth._training import (
    TrainingConfig,
    TrainingDivergedError,
    predict_network,
    train_round,
)


def _masked_start(rng, units, density, dtype=np.float64):
    weights, biases = glorot_uniform(units, "relu", dtype, rng)
    positions = [
        np.sort(rng.choice(W.size, max(1, int(density * W.size)), replace=False))
        for W in weights
    ]
    return StartPoint(weights, biases), positions


@pytest.mark.parametrize("solver", ["adam", "sgd"])
@pytest.mark.parametrize("density", [0.01, 0.04, 0.3])
@pytest.mark.parametrize("sparse_input", [False, True])
def test_a_full_round_is_the_same_with_dense_and_sparse_kernels(
    small_classification, solver, density, sparse_input
):
    X, y = small_classification
    X = np.hstack([X] * 10)  # 80 features, so that 1% keeps some weights
    if sparse_input:
        X = sp.csr_array(X * (np.abs(X) > 0.7))
    Y = np.eye(3)[y]
    start, positions = _masked_start(np.random.RandomState(0), [80, 40, 3], density)
    config = TrainingConfig(
        solver=solver, batch_size=16, max_iter=5, learning_rate_init=0.01
    )
    trained = []
    for kernel in ("dense", "sparse"):
        net = Network.from_dense(
            start.weights, start.biases, positions, "relu", "softmax", kernel
        )
        result = train_round(
            net, X, Y, None, config, np.random.RandomState(1), start=start
        )
        trained.append((net, result))
    (dense, dense_result), (sparse, sparse_result) = trained
    np.testing.assert_allclose(
        dense_result.loss_curve, sparse_result.loss_curve, rtol=1e-9
    )
    for a, b in zip(dense.layers, sparse.layers):
        np.testing.assert_allclose(a.values, b.values, rtol=1e-8, atol=1e-12)
        np.testing.assert_allclose(
            a.matrix.toarray(), b.matrix.toarray(), rtol=1e-8, atol=1e-12
        )
    np.testing.assert_allclose(
        predict_network(dense, X), predict_network(sparse, X), rtol=1e-8
    )


def test_divergence_raises_with_round_and_epoch(small_classification):
    X, y = small_classification
    start, positions = _masked_start(np.random.RandomState(0), [8, 10, 1], 1.0)
    net = Network.from_dense(start.weights, start.biases, positions, "relu", "identity")
    config = TrainingConfig(solver="sgd", learning_rate_init=1e3, max_iter=50)
    with pytest.raises(TrainingDivergedError, match=r"round 4, epoch \d+"):
        train_round(
            net,
            X * 100,
            y[:, None] * 1e3,
            None,
            config,
            np.random.RandomState(0),
            start=start,
            round_index=4,
        )


def test_early_stopping_restores_the_best_weights(small_classification):
    X, y = small_classification
    Y = np.eye(3)[y]
    start, positions = _masked_start(np.random.RandomState(0), [8, 20, 3], 1.0)
    net = Network.from_dense(start.weights, start.biases, positions, "relu", "softmax")
    config = TrainingConfig(
        max_iter=40,
        learning_rate_init=0.05,
        early_stopping=True,
        n_iter_no_change=40,
        tol=0.0,
    )
    result = train_round(
        net,
        X,
        Y,
        None,
        config,
        np.random.RandomState(0),
        start=start,
        rows=np.arange(30, 120),
        validation_rows=np.arange(30),
    )
    assert result.best_validation_score == max(result.validation_scores)
    P = predict_network(net, X[:30])
    assert np.mean(P.argmax(1) == y[:30]) == result.best_validation_score


def test_snapshot_holds_the_weights_after_that_many_steps(small_classification):
    X, y = small_classification
    Y = np.eye(3)[y]
    start, positions = _masked_start(np.random.RandomState(0), [8, 6, 3], 0.5)
    config = TrainingConfig(batch_size=40, max_iter=3, shuffle=False)
    net = Network.from_dense(start.weights, start.biases, positions, "relu", "softmax")
    result = train_round(
        net, X, Y, None, config, np.random.RandomState(0), start=start, snapshot_at=3
    )
    once = Network.from_dense(start.weights, start.biases, positions, "relu", "softmax")
    train_round(
        once,
        X,
        Y,
        None,
        TrainingConfig(batch_size=40, max_iter=1, shuffle=False),
        np.random.RandomState(0),
        start=start,
    )
    assert result.snapshot.step == 3
    for i, layer in enumerate(once.layers):
        np.testing.assert_array_equal(
            result.snapshot.values(i, layer.positions), layer.values
        )
