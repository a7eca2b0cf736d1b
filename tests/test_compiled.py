"""The compiled path (``kernels="numba"``) against the numpy path.

Each kernel against its numpy definition; layer products and gradients on
both paths, for every kernel choice and a short batch; a round and a whole
search, which agree to float tolerance; and the compiled path's own
reproducibility (seeds in parallel, a checkpoint resumed).
"""

import gc
import os

import numpy as np
import pytest
import scipy.sparse as sp
from _helpers import fail_in_round, returns_of
from sklearn.datasets import load_digits

import sklearn_lth
from sklearn_lth import LotteryTicketMLP, LotteryTicketMLPRegressor
from sklearn_lth._interrupt import StopFlag
from sklearn_lth._kernels import ACTIVATIONS as NUMPY_ACTIVATIONS
from sklearn_lth._kernels import DERIVATIVES, backend_for, flush_subnormal
from sklearn_lth._network import Network, glorot_uniform
from sklearn_lth._optimizers import SGD, Adam
from sklearn_lth._rewinding import StartPoint
from sklearn_lth._training import TrainingConfig, train_round
from sklearn_lth.exceptions import TrainingDivergedError

numba = pytest.importorskip("numba")
from sklearn_lth import _training  # noqa: E402
from sklearn_lth._kernels import _compiled, _numba  # noqa: E402
from sklearn_lth._kernels._numba import NumbaBackend  # noqa: E402

# The density at or below which the largest layers compute on CSR on this
# path (at batches of up to 60 rows; smaller layers cross higher).
COMPILED_SPARSE_MAX_DENSITY = NumbaBackend.sparse_max_density_by_size[-1][1]


def _weights(model):
    return [W.toarray() for W in model.coefs_] + list(model.intercepts_)


def _fit(kernels, estimator=LotteryTicketMLP, X=None, y=None, **params):
    with sklearn_lth.config_context(kernels=kernels):
        return estimator(**params).fit(X, y)


# -- the kernels ------------------------------------------------------------
ACTIVATIONS = ["identity", "relu", "tanh", "logistic"]
#: The smallest normal number of each dtype: below it (and above zero), subnormal.
TINY = {dtype: np.finfo(dtype).tiny for dtype in (np.float32, np.float64)}


def _numpy_activation(name, Z_rows):
    """The numpy path's activation of feature-major ``Z_rows`` (one sample a column)."""
    Z = Z_rows.T.copy()  # (samples, units), as the numpy path holds it
    NUMPY_ACTIVATIONS[name](Z)
    return Z.T


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 5, 13])
@pytest.mark.parametrize("activation", [*ACTIVATIONS, "softmax"])
def test_csr_forward_is_the_csr_product_then_the_activation(dtype, n, activation):
    rng = np.random.RandomState(0)
    W_T = sp.random(23, 17, density=0.3, format="csr", dtype=dtype, random_state=rng)
    rows = rng.normal(size=(17, 16)).astype(dtype)  # n of 16 columns used
    bias = rng.normal(size=23).astype(dtype)
    out = np.full((23, 16), np.nan, dtype)
    code = _compiled.ACTIVATION_CODES[activation]
    _compiled.csr_forward(
        W_T.indptr, W_T.indices, W_T.data, rows, n, out, bias, code, True
    )
    expected = _numpy_activation(activation, W_T @ rows[:, :n] + bias[:, None])
    np.testing.assert_allclose(out[:, :n], expected, rtol=1e-5, atol=1e-6)
    assert np.isnan(out[:, n:]).all()  # columns past n are not touched
    # After a dense product: the bias and the activation alone.
    dense = W_T @ rows
    _compiled.bias_and_activation(dense, n, bias, code, True)
    np.testing.assert_allclose(dense[:, :n], expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [33, 60, 64, 100, 130, 200])
@pytest.mark.parametrize("padded", [True, False])
@pytest.mark.parametrize("activation", [*ACTIVATIONS, "softmax"])
def test_the_csr_products_in_whole_blocks_are_the_definition(
    dtype, n, padded, activation
):
    """Batches long enough for whole blocks of columns: in buffers padded to
    whole blocks (the network's) and in buffers of exactly n columns."""
    rng = np.random.RandomState(1)
    columns = _compiled.padded_width(n) if padded else n
    W = sp.random(40, 23, density=0.2, format="csr", dtype=dtype, random_state=rng)
    W_T = sp.csr_array(W.T)
    rows = rng.normal(size=(40, columns)).astype(dtype)
    bias = rng.normal(size=23).astype(dtype)
    out = np.full((23, columns + 64), np.nan, dtype)[:, :columns]
    code = _compiled.ACTIVATION_CODES[activation]
    _compiled.csr_forward(
        W_T.indptr, W_T.indices, W_T.data, rows, n, out, bias, code, True
    )
    expected = _numpy_activation(activation, W_T @ rows[:, :n] + bias[:, None])
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(out[:, :n], expected, rtol=rtol, atol=rtol)
    # Only whole blocks are written past n (here, up to the padded width).
    assert np.isnan(out.base[:, columns:]).all()
    if activation == "softmax":
        return
    errors = rng.normal(size=(23, columns)).astype(dtype)
    below = _numpy_activation(activation, rng.normal(size=(40, columns)).astype(dtype))
    down = np.empty((40, columns), dtype)
    _compiled.csr_backward(W.indptr, W.indices, W.data, errors, n, down, below, code)
    expected = (W @ errors[:, :n]).T.copy()
    DERIVATIVES[activation](below[:, :n].T, expected)
    np.testing.assert_allclose(down[:, :n], expected.T, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [60, 64, 128, 200])
def test_the_vector_products_give_the_loops_bits(dtype, n):
    """The CSR products add whole blocks in 64-byte vectors
    (_add_scaled_row) where the rows are C-ordered and of the products'
    dtype, else in a loop of the same multiply-adds: rows in F order, or
    of another dtype (summed in the wider one), take the loop. Both give
    the same bits, forward (by rows and by panels) and backward."""
    rng = np.random.RandomState(4)
    columns = _compiled.padded_width(n)
    W = sp.random(150, 40, density=0.3, format="csr", dtype=dtype, random_state=rng)
    W_T = sp.csr_array(W.T)
    rows = rng.normal(size=(150, columns)).astype(dtype)
    bias = rng.normal(size=40).astype(dtype)
    bounds = _compiled.panel_bounds(W_T.indptr, W_T.indices, 150, 16)

    def forward(rows, panels):
        out = np.zeros((40, columns), dtype)
        if panels:
            _compiled.csr_forward_panels(
                W_T.indptr, W_T.indices, W_T.data, bounds, rows, n, out, bias, 0
            )
        else:
            _compiled.csr_forward(
                W_T.indptr, W_T.indices, W_T.data, rows, n, out, bias, 0, True
            )
        return out

    for panels in (False, True):
        vectors = forward(rows, panels)
        np.testing.assert_array_equal(vectors, forward(np.asfortranarray(rows), panels))
    errors = rng.normal(size=(40, columns)).astype(dtype)
    below = np.ones((150, columns), dtype)

    def backward(errors):
        down = np.zeros((150, columns), dtype)
        _compiled.csr_backward(W.indptr, W.indices, W.data, errors, n, down, below, 0)
        return down

    np.testing.assert_array_equal(backward(errors), backward(np.asfortranarray(errors)))
    # Rows of the other dtype: the loop, in the wider dtype (numpy's result).
    other = np.float64 if dtype == np.float32 else np.float32
    mixed = forward(rows.astype(other), panels=False)
    expected = W_T @ rows.astype(other)[:, :n] + bias[:, None]
    np.testing.assert_allclose(mixed[:, :n], expected, rtol=1e-5, atol=1e-5)


def test_the_vector_kernels_leave_integers_to_the_loops():
    """Integer arrays (no network passes them) take the loops, as before the
    vectors: integer sums, not a compile error nor a gradient left
    unwritten."""
    W_T = sp.csr_array(np.array([[1, 0, 2], [0, 3, 0]], dtype=np.int64))
    rows = np.arange(3 * 64, dtype=np.int64).reshape(3, 64)
    out = np.zeros((2, 64), np.int64)
    bias = np.array([1, -1], np.int64)
    _compiled.csr_forward(
        W_T.indptr, W_T.indices, W_T.data, rows, 64, out, bias, 0, True
    )
    np.testing.assert_array_equal(out, W_T @ rows + bias[:, None])
    W = sp.csr_array(W_T.T)
    errors = np.arange(2 * 64, dtype=np.int64).reshape(2, 64)
    grad = np.full(W.nnz, -7, np.int64)
    _compiled.kept_gradient(W.indptr, W.indices, rows, errors, 60, grad)
    kept_rows = np.repeat(np.arange(3), np.diff(W.indptr))
    expected = (rows[:, :60] @ errors[:, :60].T)[kept_rows, W.indices]
    np.testing.assert_array_equal(grad, expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [5, 60, 64, 100, 200])
@pytest.mark.parametrize("padded", [True, False])
@pytest.mark.parametrize("activation", [*ACTIVATIONS, "softmax"])
@pytest.mark.parametrize("panel", [7, 16, 1000])
def test_the_forward_product_by_panels_gives_the_same_bits(
    dtype, n, padded, activation, panel
):
    """A panel of input rows at a time (uneven panels, a panel wider than the
    input, empty rows and panels): the row-at-a-time product's bits, for
    whole blocks, their tail and batches shorter than a block."""
    rng = np.random.RandomState(2)
    columns = _compiled.padded_width(n) if padded else n
    W = sp.random(50, 23, density=0.3, format="csr", dtype=dtype, random_state=rng)
    W = W.tolil()
    W[:, 3] = 0  # an output with no kept weight
    W[10:17, :] = 0  # a panel with no kept weight
    W_T = sp.csr_array(sp.csr_array(W).T)
    bounds = _compiled.panel_bounds(W_T.indptr, W_T.indices, 50, panel)
    assert bounds.shape == (23, -(-50 // panel) + 1)
    rows = rng.normal(size=(50, columns)).astype(dtype)
    bias = rng.normal(size=23).astype(dtype)
    code = _compiled.ACTIVATION_CODES[activation]
    by_rows = np.full((23, columns), np.nan, dtype)
    by_panels = np.full((23, columns), np.nan, dtype)
    args = (rows, n)
    _compiled.csr_forward(
        W_T.indptr, W_T.indices, W_T.data, *args, by_rows, bias, code, True
    )
    _compiled.csr_forward_panels(
        W_T.indptr, W_T.indices, W_T.data, bounds, *args, by_panels, bias, code
    )
    np.testing.assert_array_equal(by_panels[:, :n], by_rows[:, :n])
    expected = _numpy_activation(activation, W_T @ rows[:, :n] + bias[:, None])
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(by_panels[:, :n], expected, rtol=rtol, atol=rtol)


def test_a_wide_input_layer_trains_by_panels_with_the_same_bits(monkeypatch):
    """Training takes the panel product for a wide, not too sparse CSR layer,
    and a round gives the row-at-a-time product's weights bit for bit."""
    rng = np.random.RandomState(0)
    X = rng.normal(size=(150, 400)).astype(np.float32)
    y = rng.randint(3, size=150)
    params = dict(
        hidden_layer_sizes=(20,),
        target_sparsity=0.8,
        pruning_rounds=1,
        max_iter=3,
        random_state=0,
    )
    calls = []
    real = _compiled.csr_forward_panels

    def spy(*args):
        calls.append(args[3].shape)
        return real(*args)

    monkeypatch.setattr(_numba, "csr_forward_panels", spy)
    _layer_by_layer(monkeypatch)  # the whole-network passes: tested below
    monkeypatch.setattr(_compiled, "PANELS_MIN", 2)
    monkeypatch.setattr(_compiled, "KEPT_PER_PANEL_MIN", 1)
    by_panels = _fit("numba", X=X, y=y, **params)
    assert calls  # the first layer, 20% kept in round 1, took the panels
    monkeypatch.setattr(_compiled, "KEPT_PER_PANEL_MIN", 10**9)
    calls.clear()
    by_rows = _fit("numba", X=X, y=y, **params)
    assert not calls
    for a, b in zip(_weights(by_panels), _weights(by_rows)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_csr_backward_is_the_product_times_the_derivative(dtype, activation):
    rng = np.random.RandomState(5)
    W = sp.random(19, 11, density=0.4, format="csr", dtype=dtype, random_state=rng)
    errors = rng.normal(size=(11, 9)).astype(dtype)
    below = _numpy_activation(activation, rng.normal(size=(19, 9)).astype(dtype))
    out = np.empty((19, 9), dtype)
    code = _compiled.ACTIVATION_CODES[activation]
    _compiled.csr_backward(W.indptr, W.indices, W.data, errors, 7, out, below, code)
    expected = (W @ errors[:, :7]).T.copy()
    DERIVATIVES[activation](below[:, :7].T, expected)
    np.testing.assert_allclose(out[:, :7], expected.T, rtol=1e-5, atol=1e-6)
    dense = W @ errors
    _compiled.differentiate(dense, 7, below, code)
    np.testing.assert_allclose(dense[:, :7], expected.T, rtol=1e-5, atol=1e-6)
    sums = np.empty(11, dtype)
    _compiled.row_sums(errors, 7, sums)
    np.testing.assert_allclose(sums, errors[:, :7].sum(axis=1), rtol=1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("units", [3, 8, 19])
def test_bias_gradients_are_numpys_sums_over_the_batch_bit_for_bit(dtype, units):
    """Eight rows side by side and the rest one by one, each summed in the
    batch's order, as numpy sums the rows of a (batch, units) error."""
    rng = np.random.RandomState(6)
    errors = rng.normal(size=(units, 64)) * 10.0 ** rng.randint(-8, 8, 64)
    errors = errors.astype(dtype)
    sums = np.empty(units, dtype)
    _compiled.row_sums(errors, 61, sums)
    np.testing.assert_array_equal(sums, errors[:, :61].T.copy().sum(axis=0))
    # float64 errors into a float32 bias gradient (partial_fit on float64
    # data): summed in float64, as numpy does, then rounded once.
    sums = np.empty(units, np.float32)
    errors = errors.astype(np.float64)
    errors[:, 0] = 1e8
    errors[:, 1] = -1e8
    _compiled.row_sums(errors, 61, sums)
    expected = errors[:, :61].T.copy().sum(axis=0).astype(np.float32)
    np.testing.assert_array_equal(sums, expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("weighted", [False, True])
def test_log_loss_and_error_are_the_numpy_loss_and_error(dtype, weighted):
    from sklearn_lth._losses import loss_value, output_delta

    rng = np.random.RandomState(6)
    n, capacity = 7, 9
    P = rng.dirichlet(np.ones(4), size=capacity).astype(dtype)
    P[0] = [1, 0, 0, 0]  # a probability at 0: clipped
    Y = np.eye(4, dtype=dtype)[rng.randint(4, size=n)]
    Y[0] = [0, 1, 0, 0]
    weights = rng.uniform(size=n).astype(dtype) if weighted else None
    error = np.zeros((4, capacity), dtype)
    loss = _compiled.log_loss_and_error(
        np.ascontiguousarray(P.T),
        n,
        Y,
        np.empty(0, dtype) if weights is None else weights,
        dtype(0.25),
        error,
    )
    expected_error = output_delta(Y, P[:n], weights, np.empty((n, 4), dtype), 0.25)
    np.testing.assert_allclose(
        loss, loss_value("softmax", Y, P[:n], weights), rtol=1e-6
    )
    np.testing.assert_allclose(error[:, :n], expected_error.T, rtol=1e-6)
    assert not error[:, n:].any()  # columns past n are not touched
    zero = _compiled.log_loss_and_error(
        np.ascontiguousarray(P.T), n, Y, np.zeros(n, dtype), dtype(0), error
    )
    assert zero == 0.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kept_gradient_is_the_product_at_the_kept_positions(dtype):
    rng = np.random.RandomState(1)
    W = sp.random(19, 11, density=0.4, format="csr", dtype=dtype, random_state=rng)
    inputs = rng.normal(size=(19, 9)).astype(dtype)
    errors = rng.normal(size=(11, 9)).astype(dtype)
    grad = np.empty(W.nnz, dtype)
    _compiled.kept_gradient(W.indptr, W.indices, inputs, errors, 7, grad)
    full = inputs[:, :7] @ errors[:, :7].T
    rows = np.repeat(np.arange(19), np.diff(W.indptr))
    np.testing.assert_allclose(grad, full[rows, W.indices], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n_features", [1, 7, 8, 19])
@pytest.mark.parametrize("batch", [1, 3, 8, 9, 21])
def test_a_batch_gathered_feature_major_is_its_rows_transposed(
    order, dtype, n_features, batch
):
    """Whole tiles, a batch that ends inside one, features past the last tile,
    int32 and int64 rows, rows with strides (F order: one at a time); the
    columns past the batch hold, up to the end of its last tile, its last row
    (a buffer's padding), and are untouched beyond."""
    rng = np.random.RandomState(8)
    X = np.asarray(rng.normal(size=(50, n_features)).astype(dtype), order=order)
    for rows in (
        rng.permutation(50)[:batch],
        rng.permutation(50)[:batch].astype(np.int32),
    ):
        for columns in (batch, batch + 1, 32):
            out = np.full((n_features, columns), np.nan, dtype)
            _compiled.gather_transposed(X, rows, out)
            np.testing.assert_array_equal(out[:, :batch], X[rows].T)
            padding = out[:, batch:]
            written = ~np.isnan(padding)
            last_row = np.broadcast_to(X[rows[-1]][:, None], padding.shape)
            np.testing.assert_array_equal(padding[written], last_row[written])
            tile = _compiled.TILE_BYTES // X.itemsize
            assert (written.sum(axis=1) < tile).all()


@pytest.mark.parametrize(
    "X_dtype, out_dtype",
    [(np.float64, np.float32), (np.float32, np.float64), (np.int32, np.float32)],
)
def test_a_batch_gathered_into_another_dtype_is_converted(X_dtype, out_dtype):
    """Tiles copy bits: arrays of two dtypes go one element at a time, and
    nothing past the batch is written."""
    X = np.arange(9 * 16).reshape(9, 16).astype(X_dtype)
    rows = np.array([3, 1, 4, 1, 5])
    out = np.full((16, 64), np.nan, out_dtype)
    _compiled.gather_transposed(X, rows, out)
    np.testing.assert_array_equal(out[:, :5], X[rows].T.astype(out_dtype))
    assert np.isnan(out[:, 5:]).all()


def test_the_gathered_batch_fills_the_padding_of_its_last_tile_only():
    X = np.arange(40, dtype=np.float32).reshape(5, 8)
    out = np.full((8, 64), np.nan, np.float32)
    _compiled.gather_transposed(X, np.array([4, 0, 2]), out)
    np.testing.assert_array_equal(out[:, :3], X[[4, 0, 2]].T)
    np.testing.assert_array_equal(out[:, 3:8], np.repeat(X[[2]].T, 5, axis=1))
    assert np.isnan(out[:, 8:]).all()


def test_the_kernels_know_the_networks_buffers_and_forget_dropped_ones():
    """A view of a buffer the backend made is read in place (its buffer);
    another array only when it is C-contiguous itself; a dropped buffer's
    entry goes with it."""
    buffer = backend_for("numba").feature_major_buffer(5, 10, np.float32)
    batch = buffer[:, :7].T  # a batch of 7 rows, as the network views it
    assert _numba._rows_in_memory(batch.T) is buffer
    other = np.zeros((5, 16), np.float32)
    assert _numba._rows_in_memory(other[:, :7]) is None
    assert _numba._rows_in_memory(other) is other
    key = id(buffer)
    assert key in _numba._BUFFERS
    del buffer, batch
    gc.collect()
    assert key not in _numba._BUFFERS


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_networks_buffers_start_on_a_cache_line(dtype):
    """Every feature-major buffer (and so every row of one: whole blocks of
    columns) starts on a 64-byte line, zeroed and writable, whatever the
    allocator gives; its views keep it alive."""
    backend = backend_for("numba")
    for units in (1, 10, 100, 300, 784, 1000):
        buffer = backend.feature_major_buffer(units, 60, dtype)
        assert buffer.ctypes.data % _numba.ALIGNMENT == 0
        assert buffer.strides[0] % _numba.ALIGNMENT == 0
        assert buffer.shape == (units, 64) and buffer.dtype == dtype
        assert buffer.flags.c_contiguous and buffer.flags.writeable
        assert not buffer.any()
        view = buffer[:, :60].T
        del buffer
        view[:] = 1.0  # (its memory still there)
        assert _numba._rows_in_memory(view.T).sum() == units * 60


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX only")
def test_a_forked_process_writes_its_own_copy_of_the_buffers():
    """The buffers are private memory: a forked child (multiprocessing's
    default on Linux) that trains on, say, a model's partial_fit state
    leaves its parent's untouched (a shared memory map, tried for them, had
    let it write into them)."""
    buffer = backend_for("numba").feature_major_buffer(300, 60, np.float32)
    child = os.fork()
    if child == 0:  # pragma: no cover (the child)
        try:
            buffer[:] = 1.0
        finally:
            os._exit(0)
    os.waitpid(child, 0)
    assert not buffer.any()


def test_gather_and_scatter():
    source = np.arange(10.0)
    positions = np.array([1, 4, 9])
    out = np.empty(3)
    _compiled.gather(source, positions, out)
    np.testing.assert_array_equal(out, [1, 4, 9])
    dense = np.zeros(10)
    _compiled.scatter(np.array([7.0, 8.0, 9.0]), positions, dense)
    np.testing.assert_array_equal(np.nonzero(dense)[0], positions)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("solver", ["adam", "sgd", "nesterov"])
@pytest.mark.parametrize("alpha", [0.0, 1e-3])
def test_fused_updates_take_the_numpy_path_steps_bit_for_bit(dtype, solver, alpha):
    """L2 + optimizer in one compiled pass: the numpy path's float operations.

    With no L2 term the numpy path adds none (alpha=0): neither does the
    compiled one, which keeps a gradient's -0.0 and an infinite weight.
    """
    rng = np.random.RandomState(2)
    n, n_weights = 1000, 900
    start = rng.normal(size=n).astype(dtype)
    start[:3] = [np.inf, -np.inf, 0.0]

    def update(kernels, params, grads):
        if solver == "adam":
            optimizer = Adam([params], 0.9, 0.999, 1e-8)
        else:
            optimizer = SGD([params], 0.9, nesterov=solver == "nesterov")
        backend = backend_for(kernels)
        return backend.optimizer_update(optimizer, params, grads, n_weights, alpha, [])

    numpy_params, fused_params = start.copy(), start.copy()
    numpy_grads, fused_grads = np.empty(n, dtype), np.empty(n, dtype)
    reference = update("numpy", numpy_params, numpy_grads)
    fused = update("numba", fused_params, fused_grads)
    for weight_sum in (1.0, 7.0, 1.0, 3.0):
        grad = rng.normal(size=n).astype(dtype)
        grad[2] = -0.0
        numpy_grads[...] = fused_grads[...] = grad
        with np.errstate(invalid="ignore"):
            reference(0.01, weight_sum)
            fused(0.01, weight_sum)
        np.testing.assert_array_equal(fused_params, numpy_params)
        np.testing.assert_array_equal(
            np.signbit(fused_params), np.signbit(numpy_params)
        )
    assert not np.array_equal(fused_params[3:], start[3:])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("solver", ["adam", "sgd", "nesterov"])
@pytest.mark.parametrize("l2", [0.0, 1e-2])
def test_the_updates_mask_is_a_zero_gradient_at_the_pruned_weights(dtype, solver, l2):
    """The compiled updates' byte mask gives a pruned weight the step of a
    zero gradient (the step with the gradient zeroed first, bit for bit):
    a zero weight with zero state stays exactly zero."""
    rng = np.random.RandomState(0)
    n, n_weights = 300, 250
    pruned = (rng.uniform(size=n_weights) < 0.4).astype(np.uint8)
    start = rng.normal(size=n).astype(dtype)
    start[:n_weights][pruned == 1] = 0
    runs = []
    for mask in (pruned, np.zeros(0, np.uint8)):
        params, state = start.copy(), [np.zeros(n, dtype), np.zeros(n, dtype)]
        for step in range(4):
            grads = np.random.RandomState(step).normal(size=n).astype(dtype)
            if not mask.size:  # the reference: the gradient zeroed first
                grads[:n_weights][pruned == 1] = 0
            if solver == "adam":
                constants = np.array([0.9, 0.999, 0.5, 1e-8, l2, TINY[dtype]], dtype)
                _compiled.adam_step(params, grads, *state, n_weights, constants, mask)
            else:
                constants = np.array([0.1, 0.9, l2, TINY[dtype]], dtype)
                _compiled.sgd_step(
                    params,
                    grads,
                    state[0],
                    n_weights,
                    constants,
                    solver == "nesterov",
                    mask,
                )
        runs.append((params, state))
    (masked, masked_state), (reference, reference_state) = runs
    np.testing.assert_array_equal(masked, reference)
    for a, b in zip(masked_state, reference_state):
        np.testing.assert_array_equal(a, b)
    assert not masked[:n_weights][pruned == 1].any()
    assert masked[:n_weights][pruned == 0].all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("solver", ["adam", "sgd"])
@pytest.mark.parametrize("n_weights", [0, 5, 16, 250])
@pytest.mark.parametrize("masked", [False, True])
def test_the_updates_return_the_new_weights_sum_of_squares(
    dtype, solver, n_weights, masked
):
    """The next step's L2 penalty, from the update's own pass (lanes, then a
    tail: weight counts around their multiple of 16)."""
    rng = np.random.RandomState(0)
    n = n_weights + 7
    params = rng.normal(size=n).astype(dtype)
    grads = rng.normal(size=n).astype(dtype)
    state = [np.zeros(n, dtype), np.zeros(n, dtype)]
    pruned = (rng.uniform(size=n_weights) < 0.3).astype(np.uint8)
    if not masked:
        pruned = np.zeros(0, np.uint8)
    if solver == "adam":
        constants = np.array([0.9, 0.999, 0.5, 1e-8, 1e-2, TINY[dtype]], dtype)
        squares = _compiled.adam_step(
            params, grads, *state, n_weights, constants, pruned
        )
    else:
        constants = np.array([0.1, 0.9, 1e-2, TINY[dtype]], dtype)
        squares = _compiled.sgd_step(
            params, grads, state[0], n_weights, constants, False, pruned
        )
    expected = np.sum(params[:n_weights].astype(np.float64) ** 2)
    rtol = 1e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(squares, expected, rtol=rtol, atol=0)


@pytest.mark.skipif(not _compiled._X86, reason="the float mode is x86's MXCSR")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_kernels_read_subnormal_numbers_as_zero_and_restore_the_float_mode(
    dtype,
):
    """A product whose terms are subnormal comes out zero (numpy's is not;
    nor is the forward product's when asked for the caller's mode, as
    prediction does), and the thread's float mode after a kernel is the one
    before it, so numpy computes subnormal numbers as ever."""
    tiny = TINY[dtype]
    mode = _float_mode()
    if mode & _compiled.SUBNORMALS_AS_ZERO:
        pytest.skip("this process already reads subnormal numbers as zero")
    # Products that underflow (written as zero), and subnormal inputs times
    # large weights (read as zero; numpy's product is a normal number).
    for weights, inputs, expected in (
        ([0.5, 0.25], tiny, dtype(0.75) * tiny),
        ([2.0**20, 2.0**21], tiny / 4, dtype(3 * 2.0**18) * tiny),
    ):
        W_T = sp.csr_array(np.array([weights], dtype))  # one unit, two inputs
        rows = np.full((2, 64), inputs, dtype)
        assert (W_T @ rows)[0, 0] == expected != 0  # numpy's
        for flush in (True, False):
            out = np.ones((1, 64), dtype)
            _compiled.csr_forward(
                *(W_T.indptr, W_T.indices, W_T.data, rows, 64, out),
                *(np.zeros(1, dtype), 0, flush),
            )
            np.testing.assert_array_equal(out, 0 if flush else expected)
            assert _float_mode() == mode
    # A kernel that returns a value restores it too.
    probabilities = np.full((2, 3), 0.5, dtype)
    targets = np.eye(2, dtype=dtype)[[0, 1, 0]]
    error = np.empty((2, 3), dtype)
    loss = _compiled.log_loss_and_error(
        probabilities, 3, targets, np.empty(0, dtype), dtype(tiny), error
    )
    assert loss == pytest.approx(np.log(2))
    assert not error.any()  # 0.5 * tiny: subnormal, written as zero
    assert _float_mode() == mode
    # A fit: the network's passes and the update, on every layer's kernels.
    X, y = load_digits(return_X_y=True)
    with sklearn_lth.config_context(kernels="numba"):
        LotteryTicketMLP(
            (20,), target_sparsity=0.9, pruning_rounds=2, max_iter=3, random_state=0
        ).fit(X[:300].astype(dtype) / 16, y[:300])
    assert _float_mode() == mode
    assert dtype(tiny) / 2 != 0


def _float_mode() -> int:
    """The thread's float mode, without the flags of the exceptions that
    operations raised (sticky bits 0-5, which numpy and scipy's own
    operations set)."""
    return _compiled.float_mode() & ~0x3F


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("solver", ["adam", "sgd", "nesterov"])
@pytest.mark.parametrize("alpha", [0.0, 1e-3])
@pytest.mark.parametrize("masked", [False, True])
def test_the_compiled_updates_set_subnormal_numbers_to_zero(
    dtype, solver, alpha, masked
):
    """Every step: the numpy step, then the subnormal numbers among the
    parameters and the optimizer's state set to zero, bit for bit, in every
    loop (weights by lanes and their tail, biases); on x86, where the kernels
    run in the float mode that reads subnormal numbers as zero, they are set
    to zero before the step too. Zeros keep their sign."""
    tiny = TINY[dtype]
    n, n_weights = 61, 37  # 2 blocks of 16 lanes and a tail of weights
    rng = np.random.RandomState(0)
    start = rng.normal(size=n).astype(dtype)
    # Weights and biases that a zero gradient keeps, one made subnormal by
    # the step (its moment tiny) and zeros of either sign.
    small = np.array([3, 20, 35, 40, 59])
    start[small] = tiny * np.array([0.25, -0.5, 0.75, -0.125, 0.5], dtype)
    start[[5, 45]] = -0.0
    pruned = np.zeros(0, np.uint8)
    if masked:
        pruned = (rng.uniform(size=n_weights) < 0.2).astype(np.uint8)
        pruned[[*small[small < n_weights], 5, 7, 34]] = 0  # (kept: they move)
        start[:n_weights][pruned == 1] = 0
    runs = {}
    for kernels in ("numpy", "numba"):
        params, grads = start.copy(), np.empty(n, dtype)
        if solver == "adam":
            optimizer = Adam([params], 0.9, 0.999, 1e-8)
        else:
            optimizer = SGD([params], 0.9, nesterov=solver == "nesterov")
        for array in optimizer.state:
            # Subnormal moments (weights by lanes, their tail, a bias), made
            # zero by the step's flush, not by the step.
            array[[7, 34, 50]] = tiny * np.array([0.5, 0.75, 0.25], dtype)
        layers = []
        if masked:
            layers = [_LayerMask(pruned)]
        update = backend_for(kernels).optimizer_update(
            optimizer, params, grads, n_weights, alpha, layers
        )
        for step in range(3):
            grads[...] = np.random.RandomState(step).normal(size=n)
            grads[small] = grads[[5, 45, 7, 34, 50]] = 0
            if kernels == "numpy":
                grads[:n_weights][pruned == 1] = 0  # the numpy path's gradients
            if kernels == "numpy" and _compiled._X86:
                for values in (params, *optimizer.state):
                    flush_subnormal(values)
            update(0.01, 1.0)
            if kernels == "numpy":  # the definition: the step, then the flush
                for values in (params, *optimizer.state):
                    flush_subnormal(values)
        runs[kernels] = (params, optimizer.state)
    (numpy_params, numpy_state), (params, state) = runs["numpy"], runs["numba"]
    np.testing.assert_array_equal(params, numpy_params)
    np.testing.assert_array_equal(np.signbit(params), np.signbit(numpy_params))
    for a, b in zip(state, numpy_state):
        np.testing.assert_array_equal(a, b)
    for values in (params, *state):
        assert not np.any((values != 0) & (np.abs(values) < tiny))
    if alpha == 0:  # a zero gradient kept them: now exactly zero
        assert not params[small].any()
    if solver == "adam":  # (SGD's step itself makes -0 + 0 a +0)
        assert np.signbit(params[[5, 45]]).all()


class _LayerMask:
    """What the compiled update reads of a layer: its trainable weights and
    the mark of their pruned entries."""

    def __init__(self, pruned):
        self.pruned = pruned.copy()
        self.trainable = np.empty(pruned.size)


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_the_l2_penalty_of_each_step_is_that_of_the_weights_it_used(solver):
    """On the compiled path the L2 term of a step's loss comes from the last
    update: each step's loss is the numpy path's (which sums the squares in
    a pass of its own), also once the weights were set from outside and
    forget_weights_squares was called."""
    from sklearn_lth._training import TrainingConfig, TrainingStep

    rng = np.random.RandomState(0)
    weights, biases = glorot_uniform([12, 16, 3], "relu", np.float64, rng)
    positions = [np.arange(W.size) for W in weights]
    X = rng.normal(size=(10, 12))
    Y = np.eye(3)[rng.randint(3, size=10)]
    steps = []
    for kernels in ("numpy", "numba"):
        network = Network.from_dense(weights, biases, positions, "relu", "softmax")
        config = TrainingConfig(
            solver=solver, learning_rate_init=0.01, alpha=5.0, kernels=kernels
        )
        steps.append(TrainingStep(network, config, 10, np.float64))
    losses = []
    for k in range(8):
        if k == 4:  # weights set from outside the steps
            for step in steps:
                step.weights[...] *= 0.5
                step.forget_weights_squares()
        losses.append([step(X, Y, None, 10.0, 0.01) for step in steps])
    numpy_losses, numba_losses = np.array(losses).T
    np.testing.assert_allclose(numba_losses, numpy_losses, rtol=1e-10)
    assert numba_losses[4] < 0.5 * numba_losses[3]  # the penalty counted


def test_an_optimizer_with_no_compiled_update_takes_the_numpy_passes():
    """A new solver trains on the numba path before it has a kernel of its own."""

    class HalvedSGD(SGD):
        def step(self, params, grads, lr):
            super().step(params, grads, lr / 2)

    results = []
    for kernels in ("numpy", "numba"):
        params, grads = np.ones(10), np.full(10, 0.5)
        optimizer = HalvedSGD([params], 0.0, nesterov=False)
        backend_for(kernels).optimizer_update(optimizer, params, grads, 6, 0.1, [])(
            0.2, 2.0
        )
        results.append(params)
    # 1 - (0.2 / 2) * (0.5 + 0.1 / 2 * 1) for the weights, without L2 after.
    np.testing.assert_array_equal(results[1], results[0])
    np.testing.assert_allclose(results[0], [0.945] * 6 + [0.95] * 4)


# -- layers and the network ---------------------------------------------------
def _network(rng, units, density, kernels, activation="relu", kernel=None):
    """A network of ``density`` on ``kernels``, its layers on the backend's
    choice of kernel or on ``kernel``."""
    weights, biases = glorot_uniform(units, activation, np.float32, rng)
    positions = [
        np.sort(rng.choice(W.size, max(1, int(density * W.size)), replace=False))
        for W in weights
    ]
    network = Network.from_dense(weights, biases, positions, activation, "softmax")
    backend = backend_for(kernels)
    network.use_backend(backend)
    if kernel is not None:
        for layer in network.layers:
            layer._build(np.array(layer.values), kernel, backend)
    return network


def _gradients(network, X, Y, capacity):
    """Loss gradients of a batch of ``X`` held in buffers of ``capacity`` rows."""
    from sklearn_lth._losses import output_delta

    activations, deltas = network.allocate(capacity, X.dtype)
    activations[0] = X
    P = network.forward(activations).copy()
    output_delta(Y, P, None, deltas[-1][: X.shape[0]], scale=1 / X.shape[0])
    network.backward(activations, deltas)
    network.sync()
    return P, [
        (layer.kept_grad().copy(), layer.bias_grad.copy()) for layer in network.layers
    ]


@pytest.mark.parametrize(
    "density, kernel",
    # numba: dense BLAS (all kept; some pruned, the dense matrix trained or
    # the kept weights gathered and scattered: layers this small are on CSR
    # up to 80% unless told), CSR with kept-position gradients (above and at
    # the crossover of the largest layers, and below numpy's own 2.5%)
    [
        (1.0, None),
        (0.9, "dense"),
        (0.3, "dense"),
        (0.5, None),
        (COMPILED_SPARSE_MAX_DENSITY, None),
        (0.02, None),
    ],
)
@pytest.mark.parametrize("n", [7, 10])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_forward_and_backward_agree_with_the_numpy_path(density, kernel, n, activation):
    """Every kernel choice, a full batch and a short one (n < capacity 10)."""
    rng = np.random.RandomState(3)
    X = rng.normal(size=(n, 40)).astype(np.float32)
    Y = np.eye(5, dtype=np.float32)[rng.randint(5, size=n)]
    units = [40, 30, 20, 5]
    numpy_net = _network(np.random.RandomState(4), units, density, "numpy", activation)
    numba_net = _network(
        np.random.RandomState(4), units, density, "numba", activation, kernel
    )
    if kernel is not None:
        assert {layer.kernel for layer in numba_net.layers} == {kernel}
    assert all(layer.backend is backend_for("numba") for layer in numba_net.layers)
    if density < COMPILED_SPARSE_MAX_DENSITY:
        assert {layer.kernel for layer in numba_net.layers} == {"sparse"}
    P_numpy, grads_numpy = _gradients(numpy_net, X, Y, capacity=10)
    P_numba, grads_numba = _gradients(numba_net, X, Y, capacity=10)
    np.testing.assert_allclose(P_numba, P_numpy, rtol=1e-5, atol=1e-6)
    for (g1, b1), (g2, b2) in zip(grads_numba, grads_numpy):
        np.testing.assert_allclose(g1, g2, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(b1, b2, rtol=1e-4, atol=1e-6)
    # After sync, the operands hold the weights again (the next forward).
    np.testing.assert_allclose(
        _gradients(numba_net, X, Y, 10)[0], P_numba, rtol=1e-6, atol=1e-7
    )


# -- training ---------------------------------------------------------------------
SEARCH = dict(
    hidden_layer_sizes=(30, 20),
    target_sparsity=0.9,
    pruning_rounds=3,
    max_iter=15,
    batch_size=32,
    random_state=0,
)


@pytest.mark.parametrize(
    "extra",
    [{}, {"solver": "sgd", "alpha": 1e-2}, {"rewind": "early", "early_stopping": True}],
)
def test_a_search_agrees_with_the_numpy_path(digits, extra):
    X, y = digits
    X = X.astype(np.float32)
    numpy_fit = _fit("numpy", X=X, y=y, **SEARCH, **extra)
    numba_fit = _fit("numba", X=X, y=y, **SEARCH, **extra)
    # Dense round 0: the same steps up to float rounding.
    np.testing.assert_allclose(
        numba_fit.history_["train_loss"][0],
        numpy_fit.history_["train_loss"][0],
        rtol=1e-4,
    )
    # Later rounds prune by magnitude: a weight at the threshold may fall on
    # either side, so the patterns nearly match and the scores are close.
    for a, b in zip(numba_fit.coefs_, numpy_fit.coefs_):
        assert a.nnz == b.nnz
        same = (a != 0).multiply(b != 0).nnz
        assert same >= 0.98 * a.nnz
    np.testing.assert_allclose(
        numba_fit.history_["train_score"], numpy_fit.history_["train_score"], atol=0.03
    )


def test_sparse_input_reaches_every_kernel(digits):
    """CSR rows into a first layer sparse enough for kept-position gradients."""
    X, y = digits
    X = sp.csr_array(np.where(np.abs(X) > 1, X, 0).astype(np.float32))
    params = dict(SEARCH, target_sparsity=0.97, max_iter=5)
    numpy_fit = _fit("numpy", X=X, y=y, **params)
    numba_fit = _fit("numba", X=X, y=y, **params)
    assert numba_fit.coefs_[0].nnz <= COMPILED_SPARSE_MAX_DENSITY * 64 * 30
    np.testing.assert_allclose(
        numba_fit.history_["train_score"], numpy_fit.history_["train_score"], atol=0.03
    )


def test_a_regressor_round_agrees_with_the_numpy_path():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(150, 12)).astype(np.float32)
    y = X[:, :3].sum(axis=1) + 0.1 * rng.normal(size=150)
    params = dict(hidden_layer_sizes=(25,), target_sparsity=0.0, max_iter=30)
    a = _fit("numpy", LotteryTicketMLPRegressor, X, y, **params, random_state=0)
    b = _fit("numba", LotteryTicketMLPRegressor, X, y, **params, random_state=0)
    np.testing.assert_allclose(b.loss_curve_, a.loss_curve_, rtol=1e-4)
    for Wa, Wb in zip(_weights(a), _weights(b)):
        np.testing.assert_allclose(Wb, Wa, rtol=1e-3, atol=1e-4)


def test_seeds_in_parallel_are_bit_identical_to_serial(small_classification):
    X, y = small_classification
    params = dict(
        hidden_layer_sizes=(12,),
        max_iter=20,
        learning_rate_init=0.01,
        target_sparsity=0.9,
        pruning_rounds=2,
        n_seeds=2,
        random_state=0,
    )
    serial = _fit("numba", X=X, y=y, **params, n_jobs=1)
    parallel = _fit("numba", X=X, y=y, **params, n_jobs=2)
    for a, b in zip(_weights(serial), _weights(parallel)):
        np.testing.assert_array_equal(a, b)


def test_a_resumed_search_is_bit_identical_and_says_which_path(
    digits, tmp_path, monkeypatch
):
    X, y = digits
    params = dict(SEARCH, max_iter=5)
    uninterrupted = _fit("numba", X=X, y=y, **params)
    with monkeypatch.context() as patch:
        fail_in_round(patch, 2, RuntimeError("the machine went down"))
        with pytest.raises(RuntimeError, match="went down"):
            _fit("numba", X=X, y=y, **params, checkpoint_dir=tmp_path)
    resumed = _fit("numba", X=X, y=y, **params, checkpoint_dir=tmp_path)
    for a, b in zip(_weights(uninterrupted), _weights(resumed)):
        np.testing.assert_array_equal(a, b)
    # The checkpoint says it was written by the numba path.
    with pytest.warns(UserWarning, match="'numpy' kernels; its completed rounds ran"):
        _fit("numpy", X=X, y=y, **params, checkpoint_dir=tmp_path)


def test_lbfgs_has_no_compiled_path_and_its_checkpoints_say_numpy(
    small_classification, tmp_path
):
    import warnings

    X, y = small_classification
    params = dict(solver="lbfgs", hidden_layer_sizes=(8,), max_iter=20)
    params.update(target_sparsity=0.5, pruning_rounds=2, random_state=0)
    a = _fit("numba", X=X, y=y, **params, checkpoint_dir=tmp_path)
    with warnings.catch_warnings():
        # Resumed under numpy: no warning about another path.
        warnings.filterwarnings("error", message=".*kernels")
        b = _fit("numpy", X=X, y=y, **params, checkpoint_dir=tmp_path)
    for Wa, Wb in zip(_weights(a), _weights(b)):
        np.testing.assert_array_equal(Wa, Wb)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [20, 60, 100, 200])
def test_the_kept_gradient_of_padded_buffers_ignores_their_padding(dtype, n):
    """Buffers with whole blocks of columns (the network's) hold anything past
    n: a long remainder is summed as zeros, a short one not at all."""
    rng = np.random.RandomState(2)
    columns = _compiled.padded_width(n)
    W = sp.random(50, 30, density=0.3, format="csr", dtype=dtype, random_state=rng)
    inputs = np.full((50, columns), np.inf, dtype)
    errors = np.full((30, columns), np.nan, dtype)
    inputs[:, :n] = rng.normal(size=(50, n))
    errors[:, :n] = rng.normal(size=(30, n))
    full = inputs[:, :n] @ errors[:, :n].T
    grad = np.empty(W.nnz, dtype)
    _compiled.kept_gradient(W.indptr, W.indices, inputs, errors, n, grad)
    rows = np.repeat(np.arange(50), np.diff(W.indptr))
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(grad, full[rows, W.indices], rtol=rtol, atol=rtol)


@pytest.mark.parametrize(
    "units, densities, batch_size, activation, all_csr",
    [
        # With the 784x300 layer on CSR, the layers above their own
        # crossovers (300x100: 50%, 100x10: 80%, less at larger batches)
        # holding at most 2,000,000 multiply-adds a step: on CSR too ...
        ((784, 300, 100, 10), (0.2, 0.6, 0.85), 60, "relu", True),
        ((784, 300, 100, 10), (0.2, 0.8, 0.7), 32, "logistic", True),
        ((784, 300, 100, 10), (0.1, 0.25, 0.75), 200, "relu", True),
        ((784, 300, 100, 10), (0.2, 0.9, 0.7), 60, "relu", True),
        # ... not more, nor when the 784x300 stays on BLAS, nor in a network
        # with no layer on CSR by its own choice, nor with tanh (no whole
        # passes).
        ((784, 300, 100, 10), (0.1, 0.4, 0.75), 200, "relu", False),
        ((100, 300, 300, 10), (0.3, 0.55, 0.9), 60, "relu", False),
        ((784, 300, 100, 10), (0.5, 0.6, 0.7), 60, "relu", False),
        ((64, 100, 10), (1.0, 1.0), 60, "relu", False),
        ((784, 300, 100, 10), (0.2, 0.6, 0.7), 60, "tanh", False),
    ],
)
def test_small_layers_go_on_csr_where_that_makes_the_whole_network_csr(
    units, densities, batch_size, activation, all_csr
):
    backend = backend_for("numba")
    shapes = list(zip(units[:-1], units[1:]))
    on_their_own = [
        backend.choose_kernel(density, shape, batch_size)
        for density, shape in zip(densities, shapes)
    ]
    assert "dense" in on_their_own
    chosen = backend.choose_kernels(
        list(densities), shapes, batch_size, (activation, "softmax")
    )
    assert chosen == (["sparse"] * len(shapes) if all_csr else on_their_own)
    # A network's layers take them.
    rng = np.random.RandomState(0)
    weights, biases = glorot_uniform(list(units), activation, np.float32, rng)
    positions = [
        np.sort(rng.choice(W.size, int(density * W.size), replace=False))
        for W, density in zip(weights, densities)
    ]
    network = Network.from_dense(weights, biases, positions, activation, "softmax")
    network.use_backend(backend, batch_size)
    assert [layer.kernel for layer in network.layers] == chosen
    # Batches that cannot take whole passes (CSR rows, another dtype): each
    # layer its own kernel.
    network.use_backend(backend, batch_size, whole_passes=False)
    assert [layer.kernel for layer in network.layers] == on_their_own


def test_a_network_trained_on_csr_rows_keeps_each_layers_own_kernel(digits):
    """Whole passes take dense rows: CSR rows leave each layer on its own
    kernel (with dense rows the 64x100 layer would go on CSR with the
    output)."""
    X, y = digits
    ticket = _random_ticket(np.random.RandomState(0), [64, 100, 10], 0.8, np.float32)
    ticket.weights[1] = sp.csr_array(
        np.where(np.arange(1000).reshape(100, 10) % 2, 0.1, 0).astype(np.float32)
    )
    for rows, kernels in [(X, ["sparse"] * 2), (sp.csr_array(X), ["dense", "sparse"])]:
        with sklearn_lth.config_context(kernels="numba"):
            model = LotteryTicketMLP(ticket=ticket, batch_size=60, max_iter=1)
            model.partial_fit(rows, y, classes=np.unique(y))
        assert [layer.kernel for layer in model._incremental.network.layers] == kernels


def test_partial_fit_chooses_the_kernels_for_its_batch(digits):
    """Each layer's CSR-or-BLAS choice is made for the first call's batch
    (as fit makes it for its own), not for a batch of one row."""
    X, y = digits
    params = dict(
        hidden_layer_sizes=(300, 100),
        target_sparsity=0.7,
        pruning_rounds=1,
        max_iter=2,
        batch_size=256,
        random_state=0,
    )
    with sklearn_lth.config_context(kernels="numba"):
        model = LotteryTicketMLP(**params).fit(X, y)
        model.partial_fit(X[:1000], y[:1000])
    backend = backend_for("numba")
    layers = model._incremental.network.layers
    chosen = [layer.kernel for layer in layers]
    assert chosen == backend.choose_kernels(
        [layer.density for layer in layers],
        [layer.shape for layer in layers],
        256,
        ("relu", "softmax"),
    )
    # A batch of one row would have put every layer of this ticket on CSR.
    assert chosen != ["sparse"] * 3


@pytest.mark.parametrize("some_rows", [False, True])
def test_predicting_leaves_no_chunk_sized_copy_with_the_layers(some_rows):
    """predict_network gathers its chunks feature-major as training gathers
    its batches: the outputs are those of one whole batch, and nothing the
    size of a chunk stays behind with the network (a 512-row feature-major
    copy of the input had stayed on a CSR first layer, and set the peak
    memory of a search)."""
    import tracemalloc

    rng = np.random.RandomState(0)
    X = rng.normal(size=(1100, 300)).astype(np.float32)
    rows = rng.permutation(1100)[:700] if some_rows else None
    # The kernels compiled first, on another network.
    _training.predict_network(_network(rng, [300, 30, 5], 0.1, "numba"), X, rows)
    network = _network(rng, [300, 30, 5], 0.1, "numba")
    assert network.reads_batch_transposed
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    P = _training.predict_network(network, X, rows)
    kept = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    # A chunk's copy: 300 x 512 x 4 bytes = 614 KB.
    assert kept < P.nbytes + 100_000
    batch = X if rows is None else X[rows]
    activations, _ = network.allocate(batch.shape[0], X.dtype, deltas=False)
    activations[0] = batch
    np.testing.assert_allclose(P, network.forward(activations), rtol=1e-6, atol=1e-7)


# -- a network of CSR layers: one compiled call per pass --------------------
def _random_ticket(rng, units, density, dtype):
    """A ticket keeping about ``density`` of every layer's weights at random."""
    weights, biases = [], []
    for n_in, n_out in zip(units[:-1], units[1:]):
        W = rng.uniform(-0.3, 0.3, (n_in, n_out)).astype(dtype)
        W[rng.uniform(size=W.shape) >= density] = 0
        W[0, 0] = 0.1  # no empty layer
        weights.append(sp.csr_array(W))
        biases.append(rng.uniform(-0.1, 0.1, n_out).astype(dtype))
    return sklearn_lth.LotteryTicket(weights, biases)


def _passes_made(monkeypatch) -> list:
    """Record every whole-network passes object a fit makes."""
    made = []
    real = _numba.CsrNetworkPasses.__init__

    def spy(self, *args):
        real(self, *args)
        made.append(self)

    monkeypatch.setattr(_numba.CsrNetworkPasses, "__init__", spy)
    return made


def _layer_by_layer(monkeypatch) -> None:
    monkeypatch.setattr(
        NumbaBackend, "network_passes", lambda self, network, *buffers: network
    )


# These compare bits of a few epochs, learned or not.
@pytest.mark.filterwarnings("ignore:Round\\(s\\):UserWarning")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("activation", ["relu", "logistic", "identity"])
@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"solver": "sgd", "alpha": 1e-3},
        {"solver": "sgd", "nesterovs_momentum": False, "alpha": 0.0},
        {"alpha": 0.0, "weighted": True},
    ],
)
def test_a_network_of_csr_layers_trains_by_whole_passes_with_the_same_bits(
    monkeypatch, dtype, activation, extra
):
    """Every layer on CSR: forward, backward and refresh each run as one
    compiled call over the network, and give the layer-by-layer calls' bits,
    a short last batch and a wide input taken by panels included."""
    rng = np.random.RandomState(0)
    X = rng.normal(size=(150, 400)).astype(dtype)
    y = X[:, :3].argmax(axis=1)
    ticket = _random_ticket(rng, [400, 20, 10, 3], 0.3, dtype)
    extra = dict(extra)
    sample_weight = rng.uniform(0, 2, 150) if extra.pop("weighted", False) else None
    # Batches of 60 (60, 60, 30): whole blocks, panels, and a short last
    # batch the row-at-a-time way.
    params = dict(
        ticket=ticket, activation=activation, max_iter=3, batch_size=60, **extra
    )
    monkeypatch.setattr(_compiled, "PANELS_MIN", 2)
    monkeypatch.setattr(_compiled, "KEPT_PER_PANEL_MIN", 1)
    made = _passes_made(monkeypatch)

    def fit():
        with sklearn_lth.config_context(kernels="numba"):
            return LotteryTicketMLP(**params, random_state=0).fit(
                X, y, sample_weight=sample_weight
            )

    steps = returns_of(monkeypatch, _numba, "network_step")
    runs = returns_of(monkeypatch, _numba, "network_steps")
    whole = fit()
    assert made, "every layer is CSR: the whole-network passes should train"
    assert made[0].forward_operands[3][0].size  # the first layer by panels
    if sample_weight is None:
        # An epoch's three batches in one call.
        assert [taken for taken, _ in runs] == [3, 3, 3] and not steps
    else:
        assert steps and not runs, "each weighted step in one call"
    _layer_by_layer(monkeypatch)
    by_layer = fit()
    np.testing.assert_array_equal(whole.loss_curve_, by_layer.loss_curve_)
    for a, b in zip(_weights(whole), _weights(by_layer)):
        np.testing.assert_array_equal(a, b)


def test_a_regressor_of_csr_layers_trains_by_whole_passes_with_the_same_bits(
    monkeypatch,
):
    rng = np.random.RandomState(1)
    X = rng.normal(size=(90, 30)).astype(np.float32)
    y = X[:, :3].sum(axis=1)
    ticket = _random_ticket(rng, [30, 16, 1], 0.3, np.float32)
    made = _passes_made(monkeypatch)
    params = dict(ticket=ticket, max_iter=4, batch_size=32, random_state=0)
    whole = _fit("numba", LotteryTicketMLPRegressor, X, y, **params)
    assert made
    _layer_by_layer(monkeypatch)
    by_layer = _fit("numba", LotteryTicketMLPRegressor, X, y, **params)
    for a, b in zip(_weights(whole), _weights(by_layer)):
        np.testing.assert_array_equal(a, b)


def test_sparse_rows_through_whole_network_passes_take_the_layer_calls(monkeypatch):
    """A CSR batch has no feature-major rows: those steps go layer by layer."""
    rng = np.random.RandomState(2)
    X = sp.csr_array(sp.random(120, 40, density=0.2, random_state=2, dtype=np.float32))
    y = (X.toarray()[:, :5].sum(axis=1) > 0.5).astype(int)
    ticket = _random_ticket(rng, [40, 12, 1], 0.3, np.float32)
    params = dict(ticket=ticket, max_iter=3, random_state=0)
    made = _passes_made(monkeypatch)
    calls = returns_of(monkeypatch, _numba, "network_forward")
    sparse_fit = _fit("numba", X=X, y=y, **params)
    assert made and not calls
    dense_fit = _fit("numba", X=X.toarray(), y=y, **params)
    assert calls
    for a, b in zip(_weights(sparse_fit), _weights(dense_fit)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def _stream(X, y, ticket, chunks):
    """A ticket's network trained by partial_fit on ``chunks`` (rows, and
    "dense", "csr" or a dtype to convert them to)."""
    model = LotteryTicketMLP(ticket=ticket, batch_size=16, random_state=0)
    losses = []
    with sklearn_lth.config_context(kernels="numba"):
        for rows, form in chunks:
            Xc = X[rows]
            if form == "csr":
                Xc = sp.csr_array(Xc)
            elif form != "dense":
                Xc = Xc.astype(form)
            model.partial_fit(Xc, y[rows], classes=np.unique(y))
            losses.append(model.loss_)
    return model, losses


@pytest.mark.parametrize(
    "chunks",
    [
        # A first call of small batches, then larger ones: new buffers.
        [(slice(0, 10), "dense"), (slice(0, 200), "dense"), (slice(50, 60), "dense")],
        # float32, float64, float32: buffers of each dtype in turn.
        [
            (slice(0, 100), "dense"),
            (slice(0, 100), np.float64),
            (slice(100, 200), np.float32),
        ],
        # Dense and CSR batches alternating.
        [(slice(0, 100), "dense"), (slice(0, 100), "csr"), (slice(100, 200), "dense")],
    ],
    ids=["larger batches", "dtypes", "dense and csr"],
)
def test_partial_fit_through_whole_network_passes_is_the_layer_calls(
    monkeypatch, chunks
):
    """partial_fit remakes its buffers for larger batches or another dtype:
    the whole-network passes must follow (they wrote past the old buffers'
    end, or trained on stale ones)."""
    rng = np.random.RandomState(4)
    X = rng.normal(size=(200, 20)).astype(np.float32)
    y = X[:, :3].argmax(axis=1)
    ticket = _random_ticket(rng, [20, 30, 3], 0.3, np.float32)
    made = _passes_made(monkeypatch)
    runs = returns_of(monkeypatch, _numba.CsrNetworkPasses, "train_batches")
    whole, whole_losses = _stream(X, y, ticket, chunks)
    assert made
    assert runs, "a chunk's mini-batches in runs of steps"
    _layer_by_layer(monkeypatch)
    by_layer, by_layer_losses = _stream(X, y, ticket, chunks)
    assert whole_losses == by_layer_losses
    for a, b in zip(_weights(whole), _weights(by_layer)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_a_step_whose_loss_is_not_finite_updates_nothing_in_one_call(
    monkeypatch, solver
):
    """A whole step in one call whose loss is not finite (here its L2
    penalty) leaves the weights and the optimizer's state, Adam's step
    count included, as they were."""
    rng = np.random.RandomState(5)
    X = rng.normal(size=(120, 20)).astype(np.float32)
    y = X[:, :3].argmax(axis=1)
    ticket = _random_ticket(rng, [20, 30, 3], 0.3, np.float32)
    model = LotteryTicketMLP(ticket=ticket, solver=solver, alpha=1e-3, batch_size=40)
    with sklearn_lth.config_context(kernels="numba"):
        model.partial_fit(X, y, classes=np.unique(y))
    step = model._incremental.train_step
    assert step.fused_step is not None
    optimizer = step.update.optimizer
    before = [step.params[0].copy(), *(a.copy() for a in optimizer.state)]
    count = getattr(optimizer, "t", None)
    step.weights_squares = np.inf
    targets = np.eye(3, dtype=np.float32)[y[:40]]
    steps = returns_of(monkeypatch, _numba, "network_step")
    loss = step(X[:40], targets, None, 40, 0.001)
    assert loss == np.inf
    assert steps and steps[-1][0] == np.inf  # in one call
    assert getattr(optimizer, "t", None) == count
    for a, b in zip(before, [step.params[0], *optimizer.state]):
        np.testing.assert_array_equal(a, b)
    # A finite step counts and updates.
    step.weights_squares = None
    assert np.isfinite(step(X[:40], targets, None, 40, 0.001))
    assert not np.array_equal(before[0], step.params[0])
    if solver == "adam":
        assert optimizer.t == count + 1


@pytest.mark.filterwarnings("error")
def test_a_batch_too_light_for_its_dtype_takes_the_step_call_by_call(monkeypatch):
    """1 / weight_sum past float32's range: no cast warning, no single call."""
    rng = np.random.RandomState(7)
    X = rng.normal(size=(40, 20)).astype(np.float32)
    y = X[:, :3].argmax(axis=1)
    ticket = _random_ticket(rng, [20, 30, 3], 0.3, np.float32)
    model = LotteryTicketMLP(ticket=ticket, batch_size=40)
    with sklearn_lth.config_context(kernels="numba"):
        model.partial_fit(X, y, classes=np.unique(y))
    step = model._incremental.train_step
    steps = returns_of(monkeypatch, _numba, "network_step")
    targets = np.eye(3, dtype=np.float32)[y]
    assert np.isfinite(step(X, targets, None, 40, 0.001))
    assert len(steps) == 1
    light = np.full(40, 1e-41)
    assert np.isfinite(step(X, targets, light, float(light.sum()), 0.001))
    assert len(steps) == 1


@pytest.mark.filterwarnings("ignore:Round\\(s\\):UserWarning")
@pytest.mark.parametrize("case", ["tanh", "a dense layer"])
def test_networks_the_whole_passes_do_not_cover_go_layer_by_layer(monkeypatch, case):
    """tanh is applied by numpy after the product; a dense layer by BLAS (one
    too large to go on CSR with the other, see NumbaBackend.choose_kernels:
    20,000 weights at batches of 100 rows)."""
    rng = np.random.RandomState(3)
    n_features = 20 if case == "tanh" else 200
    X = rng.normal(size=(100, n_features)).astype(np.float32)
    y = rng.randint(3, size=100)
    ticket = _random_ticket(rng, [n_features, 100, 3], 0.3, np.float32)
    params = dict(ticket=ticket, max_iter=2, random_state=0)
    if case == "tanh":
        params["activation"] = "tanh"
    else:
        params["ticket"] = sklearn_lth.LotteryTicket(
            [sp.csr_array(np.ones((200, 100), np.float32)), ticket.weights[1]],
            ticket.intercepts,
        )
    made = _passes_made(monkeypatch)
    _fit("numba", X=X, y=y, **params)
    assert not made


# -- several steps in one compiled call ---------------------------------------
def _sparse_round(monkeypatch, steps_per_call, bad_row=None, config=(), **kwargs):
    """A round of a network of CSR layers (numba), ``steps_per_call`` steps
    at most per call (23 steps an epoch), with an infinite input in row
    ``bad_row`` if given; returns the network and the result."""
    monkeypatch.setattr(_training, "STEPS_PER_CALL", steps_per_call)
    rng = np.random.RandomState(8)
    X = rng.normal(size=(230, 40)).astype(np.float32)
    Y = np.eye(3, dtype=np.float32)[X[:, :3].argmax(axis=1)]
    if bad_row is not None:
        X[bad_row] = np.inf
    weights, biases = glorot_uniform([40, 24, 3], "relu", np.float32, rng)
    positions = [
        np.sort(rng.choice(W.size, W.size // 5, replace=False)) for W in weights
    ]
    network = Network.from_dense(weights, biases, positions, "relu", "softmax")
    config = TrainingConfig(
        kernels="numba", batch_size=10, max_iter=2, alpha=1e-3, **dict(config)
    )
    result = train_round(
        network,
        X,
        Y,
        None,
        config,
        np.random.RandomState(0),
        start=StartPoint(weights, biases),
        **kwargs,
    )
    return network, result


def test_a_run_of_steps_ends_at_the_snapshot(monkeypatch):
    """The weights after step 5 (rewinding's snapshot) are taken between two
    calls, as they are step by step: the run ends there."""
    runs = returns_of(monkeypatch, _numba.CsrNetworkPasses, "train_batches")
    network, result = _sparse_round(monkeypatch, 32, snapshot_at=5)
    assert [losses.size for losses, _ in runs] == [5, 18, 23]
    runs.clear()
    one_by_one, expected = _sparse_round(monkeypatch, 1, snapshot_at=5)
    assert not runs
    assert result.snapshot.step == expected.snapshot.step == 5
    for a, b in zip(result.snapshot.weights, expected.snapshot.weights):
        np.testing.assert_array_equal(a, b)
    assert result.loss_curve == expected.loss_curve
    for a, b in zip(network.layers, one_by_one.layers):
        np.testing.assert_array_equal(a.values, b.values)


def test_a_stop_flag_stops_a_round_between_two_runs(monkeypatch):
    """A thread's stop is read before each call of several steps."""
    stop = StopFlag()
    runs = []
    real = _numba.CsrNetworkPasses.train_batches

    def train_batches(*args):
        runs.append(real(*args))
        stop.set()  # (as another thread would, during the call)
        return runs[-1]

    monkeypatch.setattr(_numba.CsrNetworkPasses, "train_batches", train_batches)
    with pytest.raises(KeyboardInterrupt):
        _sparse_round(monkeypatch, 8, stop=stop)
    assert [losses.size for losses, _ in runs] == [8]


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_a_run_of_steps_stops_at_a_loss_that_is_not_finite(monkeypatch, solver):
    """The step whose loss is not finite is the run's last and updates
    nothing: the round reports it, with the weights, the optimizer's state
    and the steps of one step at a time."""
    seen = []
    real = _training._Round._diverged

    def diverged(self, loss, epoch):
        step = self.train_step
        optimizer = step.update.optimizer
        state = [step.params[0].copy(), *(a.copy() for a in optimizer.state)]
        counts = (getattr(optimizer, "t", None), self.result.steps)
        seen.append((state, counts, step.weights_squares))
        return real(self, loss, epoch)

    monkeypatch.setattr(_training._Round, "_diverged", diverged)
    runs = returns_of(monkeypatch, _numba.CsrNetworkPasses, "train_batches")
    messages = []
    for steps_per_call in (32, 1):
        with pytest.raises(TrainingDivergedError) as raised:
            _sparse_round(
                monkeypatch, steps_per_call, bad_row=100, config=dict(solver=solver)
            )
        messages.append(str(raised.value))
    (losses, _), *_ = runs
    assert not np.isfinite(losses[-1]) and 1 < losses.size < 23, "mid-run"
    assert len(runs) == 1 and messages[0] == messages[1]
    (state, counts, squares), (expected, expected_counts, expected_squares) = seen
    assert counts == expected_counts and counts[1] == losses.size - 1
    # The L2 penalty's sum of squares: the last update's, not the NaN of the
    # step that made none.
    assert squares == expected_squares and np.isfinite(squares)
    for a, b in zip(state, expected):
        np.testing.assert_array_equal(a, b)


def test_a_ticket_that_keeps_no_weight_trains_in_runs(monkeypatch):
    """Its steps have no multiply-add (the run's bound divided by zero)."""
    rng = np.random.RandomState(9)
    X = rng.normal(size=(100, 20)).astype(np.float32)
    y = rng.randint(3, size=100)
    ticket = sklearn_lth.LotteryTicket(
        [
            sp.csr_array((20, 8), dtype=np.float32),
            sp.csr_array((8, 3), dtype=np.float32),
        ],
        [np.zeros(8, np.float32), np.zeros(3, np.float32)],
    )
    runs = returns_of(monkeypatch, _numba.CsrNetworkPasses, "train_batches")
    params = dict(ticket=ticket, max_iter=2, batch_size=10, random_state=0)
    fitted = _fit("numba", X=X, y=y, **params)
    assert [losses.size for losses, _ in runs] == [10, 10]
    monkeypatch.setattr(_training, "STEPS_PER_CALL", 1)
    one_by_one = _fit("numba", X=X, y=y, **params)
    assert fitted.loss_curve_ == one_by_one.loss_curve_
    for a, b in zip(_weights(fitted), _weights(one_by_one)):
        np.testing.assert_array_equal(a, b)


def test_runs_are_as_long_as_their_multiply_adds_allow(monkeypatch):
    """A run's forward multiply-adds (kept weights times rows, summed over
    its steps) stay within MULTIPLY_ADDS_PER_CALL, so that a stop waits
    about as long whatever the network: a network whose one step exceeds
    it takes its steps one at a time."""
    network, _ = _sparse_round(monkeypatch, 32)
    per_step = network.n_remaining * 10  # batches of 10
    runs = returns_of(monkeypatch, _numba.CsrNetworkPasses, "train_batches")
    monkeypatch.setattr(_training, "MULTIPLY_ADDS_PER_CALL", 7 * per_step + 1)
    _sparse_round(monkeypatch, 32)
    assert [losses.size for losses, _ in runs] == [7, 7, 7, 2] * 2
    runs.clear()
    monkeypatch.setattr(_training, "MULTIPLY_ADDS_PER_CALL", per_step - 1)
    _sparse_round(monkeypatch, 32)
    assert not runs


_COMPILE_ORDER_SCRIPT = """
import hashlib, sys
import numpy as np
import scipy.sparse as sp
from sklearn_lth._kernels import _compiled

rng = np.random.RandomState(0)
z = rng.uniform(-1, 1, (4, 64))
errors = rng.normal(size=(4, 64))
if sys.argv[1] == "csr_backward first":
    W = sp.csr_array(np.eye(4))
    _compiled.csr_backward(
        W.indptr, W.indices, W.data, errors.copy(), 64, np.empty((4, 64)), z, 2
    )
out = errors.copy()
_compiled.differentiate(out, 64, z, 2)  # tanh's 1 - z * z
print(hashlib.sha1(out.tobytes()).hexdigest())
print(hashlib.sha1((errors * (1 - z * z)).tobytes()).hexdigest())  # numpy's
"""


def test_every_kernel_names_its_float_semantics():
    """What the test below checks in two processes, for every kernel, on
    any CPU: none inherits its first caller's fastmath."""
    kernels = [
        value
        for value in vars(_compiled).values()
        if isinstance(value, numba.core.registry.CPUDispatcher)
    ]
    assert len(kernels) > 20
    unnamed = [k.py_func.__name__ for k in kernels if "fastmath" not in k.targetoptions]
    assert not unnamed


@pytest.mark.slow  # starts two processes
def test_a_kernels_bits_do_not_depend_on_which_kernel_compiled_first(tmp_path):
    """numba compiles a helper that names no float semantics with those of
    its first caller, and keeps it for all: every kernel names its own. Two
    fresh processes, each with an empty disk cache, compile the dense
    derivative alone or after the CSR one (whose products contract)."""
    import os
    import subprocess
    import sys

    script = tmp_path / "order.py"
    script.write_text(_COMPILE_ORDER_SCRIPT)
    digests = []
    for order in ("alone", "csr_backward first"):
        cache = tmp_path / order.replace(" ", "_")
        env = {**os.environ, "NUMBA_CACHE_DIR": str(cache)}
        done = subprocess.run(
            [sys.executable, str(script), order],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        digests.append(done.stdout.split())
    # Both orders, and numpy's float operations.
    assert digests[0][0] == digests[1][0] == digests[0][1]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("n", [1, 7, 8, 9, 16, 17, 60])
@pytest.mark.parametrize("layout", ["padded", "exact", "fortran"])
def test_kept_gradient_in_groups_of_every_size(dtype, index_dtype, n, layout):
    """Rows keeping 0 to 19 weights (whole groups of a vector's width, half
    groups, part groups), batches that end inside a vector; buffers with
    columns past n (summed in vectors, the padding read as zero whatever it
    holds), with exactly n (vectors only when n fills them) and in F order
    (one weight at a time)."""
    rng = np.random.RandomState(3)
    n_inputs, n_outputs = 20, 23
    dense = np.zeros((n_inputs, n_outputs), dtype)
    for r in range(n_inputs):
        dense[r, rng.choice(n_outputs, r, replace=False)] = 1
    W = sp.csr_array(dense)
    indptr, indices = W.indptr.astype(index_dtype), W.indices.astype(index_dtype)
    columns = _compiled.padded_width(n) if layout == "padded" else n
    inputs = np.full((n_inputs, columns), np.nan, dtype)
    errors = np.full((n_outputs, columns), np.inf, dtype)
    inputs[:, :n] = rng.normal(size=(n_inputs, n))
    errors[:, :n] = rng.normal(size=(n_outputs, n))
    if layout == "fortran":
        inputs, errors = np.asfortranarray(inputs), np.asfortranarray(errors)
    expected = inputs[:, :n].astype(float) @ errors[:, :n].T.astype(float)
    lanes = _compiled.ROW_VECTOR_BYTES // np.dtype(dtype).itemsize
    summed = -(-n // lanes) * lanes
    vectors = layout == "padded" or (layout == "exact" and summed == n)
    zero = dtype(0)
    other_dtype = np.zeros(0, np.int32)
    assert _compiled._summed_columns(n, inputs, errors, other_dtype, zero) == 0
    grad = np.full(W.nnz + 8, np.nan, dtype)  # (a tail no group may write)
    width = _compiled._summed_columns(n, inputs, errors, grad[: W.nnz], zero)
    assert width == (summed if vectors else 0)
    _compiled.kept_gradient(indptr, indices, inputs, errors, n, grad[: W.nnz])
    assert np.isnan(grad[W.nnz :]).all()
    rows = np.repeat(np.arange(n_inputs), np.diff(W.indptr))
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(
        grad[: W.nnz], expected[rows, W.indices], rtol=rtol, atol=rtol
    )
