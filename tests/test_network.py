import numpy as np
import pytest
import scipy.sparse as sp

from sklearn_lth._losses import loss_value, output_delta
from sklearn_lth._network import (
    Network,
    csr_from_positions,
    glorot_uniform,
    kept_positions,
    predict_csr,
)


def _random_network(rng, units, density, kernel, activation="tanh", out="softmax"):
    weights, biases = glorot_uniform(units, activation, np.float64, rng)
    positions = [
        np.sort(rng.choice(W.size, max(1, int(density * W.size)), replace=False))
        for W in weights
    ]
    return Network.from_dense(weights, biases, positions, activation, out, kernel)


def _loss_and_grads(net, X, Y):
    acts, deltas, wg, bg = net.allocate(X.shape[0], X.dtype)
    acts[0] = X
    P = net.forward(acts)
    loss = loss_value(net.out_activation, Y, P, None)
    output_delta(Y, P, None, deltas[-1])
    net.backward(acts, deltas, wg, bg)
    return loss, [g / X.shape[0] for g in wg], [g / X.shape[0] for g in bg]


def test_positions_round_trip():
    rng = np.random.RandomState(0)
    dense = rng.normal(size=(7, 5)) * (rng.uniform(size=(7, 5)) < 0.3)
    matrix = sp.csr_array(dense)
    positions = kept_positions(matrix)
    np.testing.assert_array_equal(positions, np.flatnonzero(dense))
    rebuilt = csr_from_positions(positions, matrix.data.copy(), dense.shape)
    np.testing.assert_array_equal(rebuilt.toarray(), dense)


def test_csr_shares_values():
    values = np.array([1.0, 2.0])
    matrix = csr_from_positions(np.array([1, 4]), values, (2, 3))
    values[:] = [5.0, 6.0]
    np.testing.assert_array_equal(matrix.toarray(), [[0, 5, 0], [0, 6, 0]])


def test_glorot_matches_sklearn_initialisation():
    from sklearn.neural_network import MLPClassifier

    X = np.random.RandomState(0).normal(size=(30, 6))
    y = np.arange(30) % 3
    # One step of plain gradient descent with a zero learning rate keeps the init.
    mlp = MLPClassifier(
        (7,),
        solver="sgd",
        learning_rate_init=1e-300,
        momentum=0,
        max_iter=1,
        random_state=3,
    )
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlp.fit(X, y)
    weights, biases = glorot_uniform(
        [6, 7, 3], "relu", X.dtype, np.random.RandomState(3)
    )
    for ours, theirs in zip(weights + biases, mlp.coefs_ + mlp.intercepts_):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12)


@pytest.mark.parametrize("activation", ["identity", "logistic", "tanh", "relu"])
@pytest.mark.parametrize("out", ["softmax", "logistic", "identity"])
def test_gradient_matches_finite_differences(activation, out):
    rng = np.random.RandomState(1)
    net = _random_network(rng, [4, 6, 3], 0.6, "dense", activation, out)
    X = rng.normal(size=(5, 4))
    Y = (
        np.eye(3)[rng.randint(3, size=5)]
        if out != "identity"
        else rng.normal(size=(5, 3))
    )
    _, weight_grads, bias_grads = _loss_and_grads(net, X, Y)
    eps = 1e-6
    for layer, wg, bg in zip(net.layers, weight_grads, bias_grads):
        for params, grads in ((layer.values, wg), (layer.bias, bg)):
            for j in range(params.size):
                old = params[j]
                params[j] = old + eps
                net.sync()
                up = _loss_and_grads(net, X, Y)[0]
                params[j] = old - eps
                net.sync()
                down = _loss_and_grads(net, X, Y)[0]
                params[j] = old
                net.sync()
                assert (up - down) / (2 * eps) == pytest.approx(grads[j], abs=1e-6)


@pytest.mark.parametrize("sparse_input", [False, True])
def test_dense_and_sparse_kernels_agree(sparse_input):
    units = [20, 15, 10, 4]
    X = np.random.RandomState(2).normal(size=(9, 20))
    if sparse_input:
        X[np.abs(X) < 1] = 0
        X = sp.csr_array(X)
    Y = np.eye(4)[np.arange(9) % 4]
    dense = _random_network(np.random.RandomState(0), units, 0.1, "dense")
    sparse = _random_network(np.random.RandomState(0), units, 0.1, "sparse")
    assert [layer.kernel for layer in sparse.layers] == ["sparse"] * 3
    for a, b in zip(_loss_and_grads(dense, X, Y), _loss_and_grads(sparse, X, Y)):
        np.testing.assert_allclose(a, b, rtol=1e-10) if np.isscalar(a) else [
            np.testing.assert_allclose(x, z, rtol=1e-10, atol=1e-14)
            for x, z in zip(a, b)
        ]


def test_predict_csr_matches_training_forward():
    rng = np.random.RandomState(0)
    net = _random_network(rng, [6, 5, 3], 0.5, "dense", "relu", "softmax")
    X = rng.normal(size=(8, 6))
    acts, *_ = net.allocate(8, X.dtype)
    acts[0] = X
    expected = net.forward(acts).copy()
    coefs = [layer.matrix for layer in net.layers]
    got = predict_csr(X, coefs, [layer.bias for layer in net.layers], "relu", "softmax")
    np.testing.assert_allclose(got, expected, rtol=1e-12)
