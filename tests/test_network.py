import numpy as np
import pytest
import scipy.sparse as sp

from sklearn_lth._kernels import NumpyBackend
from sklearn_lth._losses import loss_value, output_delta
from sklearn_lth._network import (
    Layer,
    Network,
    csr_from_positions,
    glorot_uniform,
    kept_positions,
)
from sklearn_lth._prediction import predict_csr, prediction_operands


def _random_network(rng, units, density, kernel, activation="tanh", out="softmax"):
    weights, biases = glorot_uniform(units, activation, np.float64, rng)
    positions = [
        np.sort(rng.choice(W.size, max(1, int(density * W.size)), replace=False))
        for W in weights
    ]
    return Network.from_dense(weights, biases, positions, activation, out, kernel)


def _loss_and_grads(net, X, Y):
    acts, deltas = net.allocate(X.shape[0], X.dtype)
    acts[0] = X
    P = net.forward(acts)
    loss = loss_value(net.out_activation, Y, P, None)
    output_delta(Y, P, None, deltas[-1], scale=1 / X.shape[0])
    net.backward(acts, deltas)
    return (
        loss,
        [layer.grad.copy() for layer in net.layers],
        [layer.bias_grad.copy() for layer in net.layers],
    )


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
@pytest.mark.parametrize(
    "density, kernel",
    # a partial dense layer (gathered gradient), one that trains its dense
    # matrix (its pruned entries' gradient zero), full, CSR
    [(0.55, "dense"), (0.7, "dense"), (1.0, "dense"), (0.5, "sparse")],
)
def test_gradient_matches_finite_differences(activation, out, density, kernel):
    rng = np.random.RandomState(1)
    net = _random_network(rng, [4, 6, 3], density, kernel, activation, out)
    X = rng.normal(size=(5, 4))
    Y = (
        np.eye(3)[rng.randint(3, size=5)]
        if out != "identity"
        else rng.normal(size=(5, 3))
    )
    _, weight_grads, bias_grads = _loss_and_grads(net, X, Y)
    eps = 1e-6
    for layer, wg, bg in zip(net.layers, weight_grads, bias_grads):
        if layer.pruned is not None:  # trains its dense matrix
            assert np.all(wg[layer.pruned] == 0)
        kept = np.arange(layer.trainable.size)
        if layer.pruned is not None:
            kept = layer.positions
        for params, grads, entries in (
            (layer.trainable, wg, kept),
            (layer.bias, bg, range(layer.bias.size)),
        ):
            for j in entries:
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
    net = _random_network(rng, [60, 50, 3], 0.05, "dense", "relu", "softmax")
    X = rng.normal(size=(8, 60))
    acts, _ = net.allocate(8, X.dtype)
    acts[0] = X
    expected = net.forward(acts).copy()
    coefs = [layer.matrix for layer in net.layers]
    biases = [layer.bias for layer in net.layers]
    for chunk_size in (1, 3, 512):
        got = predict_csr(
            X, prediction_operands(coefs), biases, "relu", "softmax", chunk_size
        )
        np.testing.assert_allclose(got, expected, rtol=1e-12)


@pytest.mark.parametrize("density", [0.01, 0.05, 0.5, 1.0])
@pytest.mark.parametrize("kernel", ["dense", "sparse"])
@pytest.mark.parametrize("sparse_input", [False, True])
def test_weight_gradient_at_kept_positions(density, kernel, sparse_input):
    """Dense product then gather, or SDDMM: both equal the masked dense product."""
    rng = np.random.RandomState(0)
    shape = (200, 50)
    positions = np.sort(rng.choice(200 * 50, int(density * 200 * 50), replace=False))
    layer = Layer(
        positions, rng.normal(size=positions.size), np.zeros(50), shape, kernel
    )
    assert layer.sddmm == (density <= NumpyBackend.kept_gradient_max_density)
    A = rng.normal(size=(7, 200)) * (rng.uniform(size=(7, 200)) < 0.3)
    delta = rng.normal(size=(7, 50))
    layer.compute_gradients(sp.csr_array(A) if sparse_input else A, delta)
    np.testing.assert_allclose(layer.grad, (A.T @ delta).ravel()[positions], rtol=1e-10)
    np.testing.assert_allclose(layer.bias_grad, delta.sum(axis=0))


def test_kept_position_gradient_in_blocks_and_for_a_smaller_batch(monkeypatch):
    """The SDDMM gathers rows block by block into buffers kept between calls."""
    # 7 rows a block at batch 7
    monkeypatch.setattr(NumpyBackend, "kept_gradient_block", 50)
    rng = np.random.RandomState(1)
    positions = np.sort(rng.choice(200 * 50, 190, replace=False))
    layer = Layer(positions, rng.normal(size=190), np.zeros(50), (200, 50))
    assert layer.sddmm
    for batch in (7, 3, 7):  # the last batch of an epoch may be smaller
        A = rng.normal(size=(batch, 200))
        delta = rng.normal(size=(batch, 50))
        layer.compute_gradients(A, delta)
        expected = (A.T @ delta).ravel()[positions]
        np.testing.assert_allclose(layer.grad, expected, rtol=1e-10)


def test_flatten_keeps_every_layer_on_views_of_two_buffers():
    rng = np.random.RandomState(0)
    full = _random_network(rng, [6, 5, 3], 1.0, "dense")
    partial = _random_network(rng, [30, 20, 4], 0.04, None)
    for net in (full, partial):
        X = rng.normal(size=(4, net.layers[0].shape[0]))
        acts, _ = net.allocate(4, X.dtype)
        acts[0] = X
        before = net.forward(acts).copy()
        params, grads, n_weights = net.flatten()
        acts[0] = X
        np.testing.assert_array_equal(net.forward(acts), before)
        assert n_weights == sum(layer.n_kept for layer in net.layers)
        for layer in net.layers:
            assert np.shares_memory(layer.values, params)
            assert np.shares_memory(layer.bias, params)
            assert np.shares_memory(layer.bias_grad, grads)
        params[:n_weights] *= 2  # an optimizer step on the flat buffer...
        net.sync()
        for layer in net.layers:  # ...is what the products use
            np.testing.assert_array_equal(layer.matrix.data, layer.values)
            if layer.kernel == "dense":
                np.testing.assert_array_equal(
                    layer.dense.ravel()[layer.positions], layer.values
                )


def test_backward_reuses_the_dense_weights_and_sync_restores_them():
    """A partial dense layer computes its gradient product in the weights' buffer."""
    rng = np.random.RandomState(0)
    net = _random_network(rng, [30, 20, 4], 0.5, "dense")
    X = rng.normal(size=(6, 30))
    Y = np.eye(4)[rng.randint(4, size=6)]
    acts, _ = net.allocate(6, X.dtype)
    acts[0] = X
    before = net.forward(acts).copy()
    _loss_and_grads(net, X, Y)
    layer = net.layers[0]
    assert layer.full_grad is layer.dense  # no second weight-sized buffer
    net.sync()
    acts[0] = X
    np.testing.assert_array_equal(net.forward(acts), before)
    for layer in net.layers:
        np.testing.assert_array_equal(layer.dense, layer.matrix.toarray())


def test_release_gradients_lets_go_of_the_flat_gradient_buffer():
    import gc
    import weakref

    rng = np.random.RandomState(0)
    for density in (1.0, 0.5, 0.04):
        net = _random_network(rng, [30, 20, 4], density, None)
        _, grads, _ = net.flatten()
        alive = weakref.ref(grads)
        del grads
        net.release_gradients()
        gc.collect()
        assert alive() is None
        assert all(layer.values is not None for layer in net.layers)


@pytest.mark.parametrize("dtype, capacity", [(np.float32, 4), (np.float64, 8)])
def test_logistic_on_a_one_row_batch_in_larger_buffers(dtype, capacity):
    """A strided in-place negative that numpy 2.4.6 gets wrong is not used."""
    from scipy.special import expit

    rng = np.random.RandomState(0)
    weights, biases = glorot_uniform([6, 5, 3], "logistic", dtype, rng)
    positions = [np.arange(W.size) for W in weights]
    net = Network.from_dense(weights, biases, positions, "logistic", "logistic")
    X = rng.normal(size=(1, 6)).astype(dtype)
    acts, _ = net.allocate(capacity, dtype, deltas=False)
    acts[0] = X
    hidden = expit(X @ weights[0] + biases[0])
    np.testing.assert_allclose(
        net.forward(acts), expit(hidden @ weights[1] + biases[1]), rtol=1e-6
    )


def test_logistic_saturates_silently():
    """exp(-z) overflowing to inf gives exactly 0, the right limit: no warning."""
    import warnings

    from sklearn_lth._kernels import ACTIVATIONS

    Z = np.array([[-1000.0, 0.0, 1000.0]], dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ACTIVATIONS["logistic"](Z)
    np.testing.assert_array_equal(Z, [[0.0, 0.5, 1.0]])


@pytest.mark.parametrize(
    "shape, density",
    [((784, 300), 0.2), ((5, 7), 0.5), ((30, 1), 0.3), ((1, 40), 1.0), ((3, 4), 0.0)],
)
def test_the_transpose_order_takes_w_data_to_w_transposed_data(shape, density):
    """The permutation the refresh gathers W.T's data with: W's entries in
    W.T's CSR order, explicit zeros included, kept in int32."""
    from sklearn_lth._network import _transpose_order

    rng = np.random.RandomState(0)
    W = sp.random(*shape, density=density, format="csr", random_state=rng)
    W.data[:] = np.arange(W.nnz)  # entry 0 an explicit zero
    order = _transpose_order(W)
    assert order.dtype == np.int32
    np.testing.assert_array_equal(W.data[order], sp.csr_array(W.T).data)
