"""Partial layers that train their dense matrix (Layer.trains_dense): the
pruned weights and their optimizer state stay exactly zero, and the kept
weights take the same steps, bit for bit, as with a gather and a scatter."""

import importlib.util
from dataclasses import replace

import numpy as np
import pytest
from _helpers import returns_of

import sklearn_lth._training as training
from sklearn_lth._kernels import backend_for
from sklearn_lth._network import Network, glorot_uniform
from sklearn_lth._training import TrainingConfig, TrainingStep

KERNELS = [
    "numpy",
    pytest.param(
        "numba",
        marks=pytest.mark.skipif(
            importlib.util.find_spec("numba") is None, reason="numba not installed"
        ),
    ),
]
CONFIGS = {
    "adam": TrainingConfig(solver="adam", learning_rate_init=0.05),
    # With no L2 term the compiled update would take every weight through
    # its biases' loop, which has no mask.
    "adam, no l2": TrainingConfig(solver="adam", learning_rate_init=0.05, alpha=0.0),
    "sgd, no l2": TrainingConfig(solver="sgd", learning_rate_init=0.1, alpha=0.0),
    "adam+l2": TrainingConfig(solver="adam", learning_rate_init=0.05, alpha=0.1),
    "nesterov+l2": TrainingConfig(
        solver="sgd", learning_rate_init=0.1, momentum=0.9, alpha=0.1
    ),
    "sgd": TrainingConfig(
        solver="sgd", learning_rate_init=0.1, momentum=0.0, nesterovs_momentum=False
    ),
}


def _train(kernels, config, dtype, trains_dense_from, monkeypatch, n_steps=15):
    """A 20-16-3 network at 70% kept, its layers on BLAS, trained ``n_steps``
    steps; the network, the flat parameters and the optimizer."""
    backend = backend_for(kernels)
    monkeypatch.setattr(type(backend), "trains_dense_min_density", trains_dense_from)
    # Layers this small would be on CSR (see NumbaBackend.choose_kernel).
    monkeypatch.setattr(type(backend), "choose_kernel", lambda *args: "dense")
    rng = np.random.RandomState(0)
    weights, biases = glorot_uniform([20, 16, 3], "tanh", dtype, rng)
    positions = [np.sort(rng.choice(W.size, int(0.7 * W.size), False)) for W in weights]
    network = Network.from_dense(weights, biases, positions, "tanh", "softmax")
    optimizers = returns_of(monkeypatch, training, "make_optimizer")
    step = TrainingStep(network, replace(config, kernels=kernels), 10, dtype)
    for _ in range(n_steps):
        X = rng.normal(size=(10, 20)).astype(dtype)
        Y = np.eye(3, dtype=dtype)[rng.randint(3, size=10)]
        step(X, Y, None, 10.0, config.learning_rate_init)
    return network, step.params[0], optimizers[0]


def _pruned_at(layer) -> np.ndarray:
    """The flat positions of the layer's pruned weights."""
    return np.setdiff1d(np.arange(layer.dense.size), layer.positions)


def _state(optimizer) -> list[np.ndarray]:
    if hasattr(optimizer, "first"):
        return [optimizer.first[0], optimizer.second[0]]
    return [optimizer.velocities[0]]


@pytest.mark.parametrize("kernels", KERNELS)
@pytest.mark.parametrize("config", CONFIGS.values(), ids=CONFIGS.keys())
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pruned_weights_and_their_state_stay_zero(kernels, config, dtype, monkeypatch):
    network, params, optimizer = _train(kernels, config, dtype, 0.5, monkeypatch)
    for layer in network.layers:
        assert layer.backend is backend_for(kernels)
        assert layer.trains_dense and layer.pruned is not None
        offset = (layer.trainable.ctypes.data - params.ctypes.data) // params.itemsize
        pruned = _pruned_at(layer)
        assert np.all(layer.trainable[pruned] == 0)
        assert np.all(layer.dense.ravel()[pruned] == 0)
        for state in _state(optimizer):
            assert np.all(state[offset + pruned] == 0)
            # ... while the kept weights' state moved.
            assert np.any(state[offset + layer.positions] != 0)
        assert np.all(layer.values != 0)  # every kept weight trained


@pytest.mark.parametrize("kernels", KERNELS)
@pytest.mark.parametrize("config", CONFIGS.values(), ids=CONFIGS.keys())
def test_the_kept_weights_take_the_gather_and_scatter_steps(
    kernels, config, monkeypatch
):
    dense, _, _ = _train(kernels, config, np.float32, 0.5, monkeypatch)
    kept, _, _ = _train(kernels, config, np.float32, float("inf"), monkeypatch)
    assert not any(layer.trains_dense for layer in kept.layers)
    for a, b in zip(dense.layers, kept.layers):
        np.testing.assert_array_equal(a.values, b.values)
        np.testing.assert_array_equal(a.bias, b.bias)
        np.testing.assert_array_equal(a.to_csr().toarray(), b.to_csr().toarray())


@pytest.mark.parametrize("kernels", KERNELS)
def test_an_optimizer_with_no_compiled_update_keeps_pruned_weights_zero(
    kernels, monkeypatch
):
    """On the compiled path the update, not the gradient, skips the pruned
    weights: a solver with no compiled update gets them zeroed for its own."""
    from sklearn_lth._optimizers import SGD

    class HalvedSGD(SGD):
        def step(self, params, grads, lr):
            super().step(params, grads, lr / 2)

    monkeypatch.setattr(
        training,
        "make_optimizer",
        lambda solver, params, config: HalvedSGD(params, 0.9, nesterov=False),
    )
    network, _, _ = _train(kernels, CONFIGS["sgd"], np.float32, 0.5, monkeypatch)
    for layer in network.layers:
        assert layer.trains_dense
        assert np.all(layer.trainable[_pruned_at(layer)] == 0)
        assert np.all(layer.values != 0)


def test_a_released_layer_keeps_its_kept_weights_only(monkeypatch):
    network, _, _ = _train("numpy", CONFIGS["adam"], np.float64, 0.5, monkeypatch)
    layer = network.layers[0]
    values = layer.values.copy()
    network.release_gradients()
    assert layer.trainable.size == layer.n_kept and layer.dense is None
    np.testing.assert_array_equal(layer.values, values)
    np.testing.assert_array_equal(
        layer.matrix.toarray().ravel()[layer.positions], values
    )


def test_lbfgs_keeps_the_pruned_weights_of_a_dense_trained_layer_zero(monkeypatch):
    """L-BFGS's direction is zero where the gradient has always been: the
    pruned coordinates of the flat vector it optimises never move."""
    from sklearn_lth._lbfgs import train_round_lbfgs

    monkeypatch.setattr(type(backend_for("numpy")), "trains_dense_min_density", 0.5)
    rng = np.random.RandomState(0)
    weights, biases = glorot_uniform([20, 16, 3], "tanh", np.float64, rng)
    positions = [np.sort(rng.choice(W.size, int(0.7 * W.size), False)) for W in weights]
    network = Network.from_dense(weights, biases, positions, "tanh", "softmax")
    X = rng.normal(size=(50, 20))
    Y = np.eye(3)[rng.randint(3, size=50)]
    config = TrainingConfig(solver="lbfgs", max_iter=30, alpha=0.01)
    result = train_round_lbfgs(network, X, Y, None, config)
    assert result.n_iter > 5
    for layer, W0 in zip(network.layers, weights):
        assert layer.trains_dense
        assert np.all(layer.trainable[_pruned_at(layer)] == 0)
        assert not np.array_equal(layer.values, W0.ravel()[layer.positions])
