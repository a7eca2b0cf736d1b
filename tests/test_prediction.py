"""Prediction: each layer's product by density and batch, the same outputs."""

import numpy as np
import pytest
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

import sklearn_lth._prediction as prediction
from sklearn_lth import config_context
from sklearn_lth._prediction import predict_csr, prediction_operands


def _network(rng, units, densities, dtype):
    coefs = [
        sp.csr_array(
            (rng.normal(size=(a, b)) * (rng.uniform(size=(a, b)) < d)).astype(dtype)
        )
        for a, b, d in zip(units, units[1:], densities)
    ]
    intercepts = [rng.normal(size=b).astype(dtype) for b in units[1:]]
    return coefs, intercepts


@pytest.fixture
def small_networks_compile(monkeypatch):
    """Let networks of any size, and batches from 300 rows, take the compiled
    kernel (the real thresholds need a large network and 1,024 rows)."""
    pytest.importorskip("numba")
    monkeypatch.setattr(prediction, "AUTO_MIN_WEIGHTS", 0)
    monkeypatch.setattr(prediction, "COMPILED_MIN_ROWS", 300)
    monkeypatch.setattr(prediction, "COMPILED_CHUNK", 64)


def _outputs(X, coefs, intercepts, activation, out_activation, kernels):
    with config_context(kernels=kernels):
        return predict_csr(
            X, prediction_operands(coefs), intercepts, activation, out_activation
        )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("activation", ["identity", "relu", "tanh", "logistic"])
@pytest.mark.parametrize("out_activation", ["softmax", "logistic", "identity", "exp"])
def test_the_compiled_path_predicts_what_the_numpy_one_does(
    small_networks_compile, monkeypatch, dtype, activation, out_activation
):
    rng = np.random.RandomState(0)
    # A sparse layer, a layer above the compiled crossover (a dense product
    # between compiled ones), a sparse output.
    coefs, intercepts = _network(rng, [30, 40, 20, 5], [0.1, 0.5, 0.12], dtype)
    X = rng.normal(size=(333, 30)).astype(dtype)  # a short last chunk
    calls = []
    real = prediction._predict_compiled
    monkeypatch.setattr(
        prediction,
        "_predict_compiled",
        lambda *args: calls.append(1) or real(*args),
    )
    compiled = _outputs(X, coefs, intercepts, activation, out_activation, "numba")
    assert calls, "the batch did not take the compiled kernel"
    expected = _outputs(X, coefs, intercepts, activation, out_activation, "numpy")
    assert len(calls) == 1, "kernels='numpy' took the compiled kernel"
    assert compiled.dtype == dtype
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(compiled, expected, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_compiled_path_keeps_subnormal_probabilities(small_networks_compile, dtype):
    """Prediction's kernels compute in the caller's float mode, not training's
    (which reads and writes subnormal numbers as zero): a probability below
    the smallest normal number is numpy's, not 0, whatever the batch (its log
    finite, not -inf)."""
    rng = np.random.RandomState(0)
    coefs, intercepts = _network(rng, [30, 40, 5], [0.1, 0.1], dtype)
    coefs[-1] = sp.csr_array(coefs[-1].toarray() * 60)  # confident outputs
    X = rng.normal(size=(333, 30)).astype(dtype)
    compiled = _outputs(X, coefs, intercepts, "relu", "softmax", "numba")
    expected = _outputs(X, coefs, intercepts, "relu", "softmax", "numpy")
    tiny = np.finfo(dtype).tiny
    subnormal = (expected > 0) & (expected < tiny)
    assert subnormal.any(), "no subnormal probability to compare"
    assert (compiled[subnormal] > 0).all()
    np.testing.assert_allclose(compiled[subnormal], expected[subnormal], rtol=1e-2)


def test_threads_give_the_same_bits(small_networks_compile):
    rng = np.random.RandomState(0)
    coefs, intercepts = _network(rng, [30, 40, 5], [0.1, 0.1], np.float32)
    X = rng.normal(size=(700, 30)).astype(np.float32)
    with threadpool_limits(1):
        serial = _outputs(X, coefs, intercepts, "relu", "softmax", "numba")
    with threadpool_limits(2):
        threaded = _outputs(X, coefs, intercepts, "relu", "softmax", "numba")
    np.testing.assert_array_equal(serial, threaded)


def test_small_batches_and_other_inputs_take_the_numpy_path(
    small_networks_compile, monkeypatch
):
    rng = np.random.RandomState(0)
    coefs, intercepts = _network(rng, [30, 40, 5], [0.1, 0.1], np.float32)

    def fail(*args):
        raise AssertionError("took the compiled kernel")

    monkeypatch.setattr(prediction, "_predict_compiled", fail)
    operands = prediction_operands(coefs)
    for X in (
        rng.normal(size=(299, 30)).astype(np.float32),  # too few rows
        rng.normal(size=(400, 30)),  # float64 rows, float32 weights
        sp.csr_array(rng.normal(size=(400, 30)).astype(np.float32)),
    ):
        out = predict_csr(X, operands, intercepts, "relu", "softmax")
        assert out.shape == (X.shape[0], 5)


def test_a_fitted_estimator_predicts_the_same_in_one_batch_or_many(
    small_networks_compile,
):
    from sklearn_lth import LotteryTicketMLP

    rng = np.random.RandomState(0)
    X = rng.normal(size=(400, 12)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    with config_context(kernels="numba"):
        clf = LotteryTicketMLP(
            (20,), target_sparsity=0.9, pruning_rounds=2, max_iter=20, random_state=0
        ).fit(X, y)
        whole = clf.predict_proba(X)  # compiled kernel
    in_pieces = np.vstack([clf.predict_proba(X[i : i + 50]) for i in range(0, 400, 50)])
    np.testing.assert_allclose(whole, in_pieces, rtol=1e-5, atol=1e-6)
