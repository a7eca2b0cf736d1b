"""The network: initialisation, forward and backward passes on masked weights.

A layer keeps its surviving weights in a fixed sparsity pattern (CSR order,
row-major over ``(n_in, n_out)``). The trainable values are one 1-D array per
layer, ``Layer.values`` (in training, a view into one flat buffer for the whole
network); pruned weights have no storage at all, so they are exactly zero by
construction and no optimizer step can bring them back.

Two kernels compute the same products:

- ``"dense"`` keeps a dense copy of the weights (zeros at pruned positions) in
  sync with ``values`` and uses BLAS; a layer that keeps every weight has no
  copy: its dense matrix *is* ``values``;
- ``"sparse"`` multiplies by the CSR matrix directly, whose ``data`` *is*
  ``values``, and by a CSR copy of its transpose refreshed after each update.

The dense kernel wins for dense-ish layers, the sparse one for very sparse
layers; :func:`choose_kernel` picks one per layer from its density.

Activations and errors live feature-major, as ``(units, batch)`` arrays seen
through ``(batch, units)`` transposed views: BLAS reads either layout at the
same speed, while the CSR products and the kept-position gradients then read
and write whole contiguous rows with no transposed copies.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

# The activations the compiled kernels apply (the Poisson output's exp stays
# with numpy); as in _compiled, which only a compiled fit imports.
ACTIVATION_CODES = ("identity", "relu", "tanh", "logistic", "softmax")

# Crossovers measured by ``benchmarks/bench_kernels.py`` (784x300 and 300x100
# float32 layers, batches of 60, 2 cores): below ``SPARSE_KERNEL_MAX_DENSITY``
# a layer's training step (products, gradient, refresh) is faster on CSR than
# on dense BLAS; below ``SDDMM_MAX_DENSITY`` computing the weight gradient at
# the kept positions only beats a dense product then a gather.
SPARSE_KERNEL_MAX_DENSITY = 0.08
SDDMM_MAX_DENSITY = 0.025
# Elements of each block of gathered rows in the kept-position product (256
# KiB of float32): big enough to amortise the calls, small enough for cache.
SDDMM_BLOCK = 65_536
# The crossover on the "numba" path (see _compiled), whose CSR products and
# kept-position gradient are faster than scipy's and numpy's: whole layer
# steps measured by ``benchmarks/bench_kernels.py`` cross at about 13% for a
# 784x300 layer and 15% for a 300x100 one. Below it a compiled CSR layer
# always computes its gradient at the kept positions only, which is as fast
# as a dense product then a gather at 15% and faster below.
COMPILED_SPARSE_KERNEL_MAX_DENSITY = 0.13


# The activations overwrite ``Z`` in place: each layer's output buffer first
# receives the product, then becomes the layer's activation.
def _identity(Z: np.ndarray) -> None:
    pass


def _logistic(Z: np.ndarray) -> None:
    # Not np.negative(Z, out=Z): in numpy 2.4.6 it reads the wrong elements
    # of a view whose step is 4 float32 or 8 float64 elements (a one-row
    # batch in buffers of 4 or 8 rows). Multiplying by -1 is as exact.
    np.multiply(Z, -1, out=Z)
    # exp(-z) overflows to inf for very negative z; 1 / inf is then 0, the
    # right limit, so the overflow is no news (in scoring and prediction
    # either, which run outside training's silenced errors).
    with np.errstate(over="ignore"):
        np.exp(Z, out=Z)
    Z += 1
    np.reciprocal(Z, out=Z)


def _tanh(Z: np.ndarray) -> None:
    np.tanh(Z, out=Z)


def _relu(Z: np.ndarray) -> None:
    np.maximum(Z, 0, out=Z)


def _exp(Z: np.ndarray) -> None:
    # The Poisson regressor's output (log link). An overflow gives inf, an
    # infinite loss, which training reports as a divergence.
    np.exp(Z, out=Z)


def _softmax(Z: np.ndarray) -> None:
    # Shifting each row by its maximum leaves softmax unchanged and keeps exp
    # from overflowing: the largest term becomes exp(0) = 1.
    Z -= Z.max(axis=1, keepdims=True)
    np.exp(Z, out=Z)
    Z /= Z.sum(axis=1, keepdims=True)


ACTIVATIONS = {
    "identity": _identity,
    "logistic": _logistic,
    "tanh": _tanh,
    "relu": _relu,
    "softmax": _softmax,
    "exp": _exp,
}


# The derivatives multiply ``delta`` in place and are written in terms of the
# activation's output ``Z``, which is all the forward pass keeps (for relu,
# Z > 0 exactly where the input was). Softmax and exp need none: they are
# only output activations, whose error the loss gives directly (see _losses).
def _identity_derivative(Z: np.ndarray, delta: np.ndarray) -> None:
    pass


def _logistic_derivative(Z: np.ndarray, delta: np.ndarray) -> None:
    delta *= Z
    delta *= 1 - Z


def _tanh_derivative(Z: np.ndarray, delta: np.ndarray) -> None:
    delta *= 1 - Z**2


def _relu_derivative(Z: np.ndarray, delta: np.ndarray) -> None:
    np.multiply(delta, Z > 0, out=delta)


DERIVATIVES = {
    "identity": _identity_derivative,
    "logistic": _logistic_derivative,
    "tanh": _tanh_derivative,
    "relu": _relu_derivative,
}


def glorot_uniform(
    layer_units: list[int], activation: str, dtype: np.dtype, rng: np.random.RandomState
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Draw dense weights and biases as scikit-learn's MLP does.

    Weights and biases of layer ``i`` are uniform in ``[-b, b]`` with
    ``b = sqrt(f / (fan_in + fan_out))``, ``f = 2`` for the logistic activation
    and ``6`` otherwise, drawn in the same order as scikit-learn so that the
    same ``RandomState`` gives the same initial network.
    """
    factor = 2.0 if activation == "logistic" else 6.0
    weights, biases = [], []
    # Layer by layer, weights then biases, drawn in float64 and cast after:
    # scikit-learn's draws, in its order, so the same seed gives its W0.
    for fan_in, fan_out in zip(layer_units[:-1], layer_units[1:]):
        bound = np.sqrt(factor / (fan_in + fan_out))
        weights.append(rng.uniform(-bound, bound, (fan_in, fan_out)).astype(dtype))
        biases.append(rng.uniform(-bound, bound, fan_out).astype(dtype))
    return weights, biases


def position_dtype(shape: tuple[int, int]) -> np.dtype:
    """The smallest integer type that holds every flat position of ``shape``."""
    return np.dtype(np.int32 if shape[0] * shape[1] < 2**31 else np.int64)


def kept_positions(matrix: sp.csr_array) -> np.ndarray:
    """Flat row-major positions of the stored entries of ``matrix``, in CSR order."""
    n_out = matrix.shape[1]
    # In int64: ``row * n_out`` may overflow int32 although each factor fits.
    entry_rows = np.repeat(
        np.arange(matrix.shape[0], dtype=np.int64), np.diff(matrix.indptr)
    )
    positions = entry_rows * n_out + matrix.indices
    return positions.astype(position_dtype(matrix.shape), copy=False)


def csr_from_positions(
    positions: np.ndarray, values: np.ndarray, shape: tuple[int, int]
) -> sp.csr_array:
    """Build a CSR array from sorted flat positions and their values.

    The returned array's ``data`` is ``values`` itself (no copy).
    """
    # int32 indices whenever every index and the entry count fit: 4 bytes per
    # kept weight instead of 8, in memory and in pickles.
    largest = max(*shape, positions.size)
    index_dtype = np.int32 if largest < np.iinfo(np.int32).max else np.int64
    indices = (positions % shape[1]).astype(index_dtype, copy=False)
    # Sorted positions: row r's entries start at the first position >= r *
    # n_out, so a binary search per row builds ``indptr`` with no counting.
    # In the positions' own type: a wider one would copy them for the search.
    row_starts = np.arange(shape[0] + 1, dtype=positions.dtype) * shape[1]
    indptr = np.searchsorted(positions, row_starts).astype(index_dtype, copy=False)
    matrix = sp.csr_array((values, indices, indptr), shape=shape, copy=False)
    if matrix.data is not values:  # scipy keeps a view (or a copy): use ``values``
        matrix.data = values
    return matrix


def _as_dense(product) -> np.ndarray:
    """A matrix product as a dense array (sparse @ sparse gives a sparse one)."""
    return product.toarray() if sp.issparse(product) else np.asarray(product)


def choose_kernel(density: float, compiled: bool = False) -> str:
    """Return ``"sparse"`` for layers sparse enough to gain from CSR products.

    ``compiled``: for the "numba" path's kernels, whose crossover is higher.
    """
    limit = (
        COMPILED_SPARSE_KERNEL_MAX_DENSITY if compiled else SPARSE_KERNEL_MAX_DENSITY
    )
    return "sparse" if density <= limit else "dense"


def _rows_in_memory(T: np.ndarray) -> np.ndarray | None:
    """The C-contiguous array whose first columns ``T`` is, or None.

    The network's activations and errors of a short batch are ``(units, n)``
    column slices of ``(units, batch)`` buffers: the compiled kernels read
    and write the buffer's first ``n`` columns in place, with no copy.
    """
    if T.flags.c_contiguous:
        return T
    base = T.base
    if (
        isinstance(base, np.ndarray)
        and base.ndim == 2
        and base.flags.c_contiguous
        and base.shape[0] == T.shape[0]
        and base.strides == T.strides
        and base.dtype == T.dtype
        and base.ctypes.data == T.ctypes.data
    ):
        return base
    return None


class Layer:
    """A fully connected layer whose surviving weights have a fixed pattern.

    The trainable arrays (``values``, ``bias``) and their gradients (``grad``,
    ``bias_grad``) are updated in place by the optimizer. Once the network is
    flattened (:meth:`Network.flatten`) they are views into the network's
    flat buffers, which the layer does not own (the training step holds
    them), so one optimizer call updates every layer.

    Parameters
    ----------
    positions : ndarray of int
        Sorted flat positions (row-major in ``shape``) of the kept weights
        (int32 unless the layer has 2**31 weights or more).
    values : ndarray
        The kept weights, one per position (copied).
    bias : ndarray of shape (n_out,)
        The layer's biases (copied).
    shape : tuple of int
        ``(n_in, n_out)``.
    kernel : {"dense", "sparse"} or None
        How to compute products; None chooses from the density.
    """

    def __init__(self, positions, values, bias, shape, kernel=None):
        self.shape = shape
        self.n_kept = positions.size
        self.full = positions.size == shape[0] * shape[1]
        # A layer that keeps every weight needs no list of positions; the others
        # index with native integers (numpy converts any other type on every
        # gather and scatter, which doubles their cost).
        self._positions = None if self.full else positions.astype(np.intp, copy=False)
        self.bias = np.array(bias)
        self.bias_grad = np.empty_like(self.bias)
        self._build(np.array(values), kernel, compiled=False)

    def _build(self, values: np.ndarray, kernel: str | None, compiled: bool) -> None:
        """Set ``values`` (owned) and the product operands for ``kernel``.

        ``compiled``: the "numba" path's kernels (see :meth:`use_kernels`).
        """
        self.compiled = compiled
        self.kernel = (
            choose_kernel(self.density, compiled) if kernel is None else kernel
        )
        self.dense = None
        if self.kernel == "dense":
            self.dense = np.zeros(self.shape, dtype=values.dtype)
            if self.full:
                # Every weight is kept: train the dense matrix itself, no copies.
                self.dense.ravel()[:] = values
                self.values = self.dense.ravel()
            else:
                self.values = values
                self.sync()
        else:
            self.values = values
        self._matrix = None
        if self.kernel == "sparse":
            # Forward multiplies by W.T and backward by W, both kept as CSR so
            # that both run a CSR-times-dense kernel on feature-major rows.
            # W's data is ``values``; W.T's is a copy, refreshed from
            # ``values`` through the permutation ``_order`` (see sync).
            self._matrix = csr_from_positions(self.positions, self.values, self.shape)
            self._transposed = self._matrix.T.tocsr()
            self._order = _transpose_order(self._matrix)
        # The weight gradient: a dense product read at the kept positions, or
        # for very sparse layers a product at the kept positions only (SDDMM):
        # numpy's below SDDMM_MAX_DENSITY, the compiled one (which reads the
        # CSR pattern) on every compiled CSR layer.
        if compiled:
            self.sddmm = self.kernel == "sparse"
        else:
            self.sddmm = self.density <= SDDMM_MAX_DENSITY
        if self.sddmm and not compiled:
            # Each kept weight's input unit (row) and output unit (column).
            self._rows, self._cols = np.divmod(
                self.positions.astype(np.intp, copy=False), self.shape[1]
            )
        self._buffers: dict[str, np.ndarray] = {}
        # Gradient buffers come with ``rebind`` (training) or on first use.
        self._full_grad = self.grad = None

    def use_kernels(self, kernels: str) -> None:
        """Compute on the ``"numpy"`` or the ``"numba"`` path from now on.

        Call before training starts (before :meth:`Network.flatten`): the
        operands are rebuilt and the gradient buffers dropped.
        """
        compiled = kernels == "numba"
        if compiled != self.compiled:
            if compiled:
                from . import _compiled  # noqa: F401  (numba: imported when used)
            self._build(np.array(self.values), None, compiled)

    @property
    def positions(self) -> np.ndarray:
        """Sorted flat positions of the kept weights."""
        if self._positions is None:
            return np.arange(self.n_kept, dtype=position_dtype(self.shape))
        return self._positions

    @property
    def sparse_positions(self) -> np.ndarray | None:
        """The kept positions, or None when the layer keeps every weight."""
        return self._positions

    def release_training_state(self) -> None:
        """Free the gradients, buffers and kernel copies; keep the weights.

        For a layer that will not train again (the last completed round while
        the next one trains): ``values``, ``positions`` and ``bias`` remain.
        """
        # ``bias_grad`` too: as a view, it would keep the whole flat gradient
        # buffer alive.
        self._full_grad = self.grad = self.bias_grad = self._matrix = None
        self._buffers = {}
        # The kernels' index arrays (one intp per kept weight each): only
        # products and gradients read them, and this layer computes neither.
        for name in ("_transposed", "_order", "_rows", "_cols"):
            self.__dict__.pop(name, None)
        if self.kernel == "dense" and not self.full:
            self.dense = None  # ``values`` and ``positions`` hold the weights

    @property
    def matrix(self) -> sp.csr_array:
        """The weights as CSR, sharing ``values``.

        Built on demand when the layer keeps no CSR matrix (the dense kernel,
        or after :meth:`release_training_state`).
        """
        if self._matrix is not None:
            return self._matrix
        return csr_from_positions(self.positions, self.values, self.shape)

    @property
    def density(self) -> float:
        return self.n_kept / (self.shape[0] * self.shape[1])

    def _allocate_gradient(self, grad=None) -> None:
        """Set ``grad`` (the given array, or a new one) and the product's buffer.

        The buffer receives the dense gradient product ``A.T @ delta``. A
        partial layer on the dense kernel computes it in the dense copy of its
        weights, which the backward pass no longer needs by then;
        :meth:`sync` rebuilds the weights after the update.
        """
        self.grad = np.empty_like(self.values) if grad is None else grad
        if self.bias_grad is None:
            self.bias_grad = np.empty_like(self.bias)
        if self.sddmm:
            self._full_grad = None
        elif self.full:
            # Every position is kept: the product is the gradient itself.
            self._full_grad = self.grad.reshape(self.shape)
        elif self.kernel == "dense" and not self.compiled:
            self._full_grad = self.dense
        else:
            # A CSR layer denser than SDDMM_MAX_DENSITY: a dense product then
            # a gather is measured faster there, for one dense buffer. (On the
            # compiled path, a partial dense layer too: its weights' copy is
            # then only ever written where weights are kept, so sync scatters
            # the weights with no pass to clear it.)
            self._full_grad = np.empty(self.shape, dtype=self.values.dtype)

    def rebind(self, values, grad, bias, bias_grad) -> None:
        """Move the parameters into the given views; use the gradient views.

        The views are slices of the network's flat buffers; the layer's own
        arrays are then let go.
        """
        values[...] = self.values
        bias[...] = self.bias
        # The products must read the moved weights: a full dense layer's
        # matrix becomes a view of them, the CSR matrix's data becomes them.
        # A partial dense layer's copy and the transposed CSR data already
        # hold the same values.
        if self.kernel == "dense" and self.full:
            self.dense = values.reshape(self.shape)
        if self._matrix is not None:
            self._matrix.data = values
        self._allocate_gradient(grad)
        self.values, self.grad, self.bias, self.bias_grad = (
            values,
            grad,
            bias,
            bias_grad,
        )

    def to_csr(self) -> sp.csr_array:
        """The weights as a new CSR array (its own copy of the values)."""
        return csr_from_positions(self.positions, self.values.copy(), self.shape)

    def sync(self) -> None:
        """Propagate an in-place update of ``values`` to the product operands."""
        if self.compiled:
            from . import _compiled

            if self.kernel == "sparse":
                _compiled.gather(self.values, self._order, self._transposed.data)
            elif not self.full:
                _compiled.scatter(self.values, self._positions, self.dense.ravel())
            return
        if self.kernel == "dense":
            if not self.full:
                self.dense.fill(0)  # it may hold the last gradient product
                self.dense.ravel()[self.positions] = self.values
        else:
            # ``self._matrix.data`` is ``values``: only W.T's copy lags behind.
            # mode="clip" here and below: with ``out=``, the default "raise"
            # gathers through a temporary; the indices are valid, so clipping
            # never acts.
            np.take(self.values, self._order, out=self._transposed.data, mode="clip")

    def _buffer(self, name: str, size: int, dtype) -> np.ndarray:
        """A flat scratch array of at least ``size`` kept between calls."""
        buffer = self._buffers.get(name)
        if buffer is None or buffer.size < size or buffer.dtype != dtype:
            buffer = self._buffers[name] = np.empty(size, dtype=dtype)
        return buffer[:size]

    def _feature_major(self, M, name: str) -> np.ndarray:
        """``M.T`` as a C-contiguous array.

        The network's activations and errors are transposed views of
        feature-major buffers, so this is usually ``M``'s own memory; other
        arrays (an input batch) are copied into a buffer kept for the next call.
        """
        if sp.issparse(M):
            return _as_dense(M.T)
        T = M.T
        if T.flags.c_contiguous:
            return T
        out = self._buffer(name, T.size, T.dtype).reshape(T.shape)
        out[...] = T
        return out

    def forward(self, A, out: np.ndarray, activation: str = "identity") -> np.ndarray:
        """``out = f(A @ W + b)``, computed as ``out.T = f(W.T @ A.T + b)``.

        ``out`` should be a transposed view of a C-contiguous array (see
        :meth:`Network.allocate`): the products then write their rows in place.
        ``f`` is the activation named ``activation``.
        """
        out_T = out.T
        if self.compiled and not sp.issparse(A):
            out_rows = _rows_in_memory(out_T)
            if out_rows is not None:
                # Softmax and exp (output layers only) stay with numpy.
                fused = activation in ACTIVATION_CODES
                self._compiled_forward(
                    A, out_T, out_rows, activation if fused else "identity"
                )
                if not fused:
                    ACTIVATIONS[activation](out)
                return out
        if self.kernel == "dense" and not sp.issparse(A):
            np.matmul(self.dense.T, A.T, out=out_T)
        elif sp.issparse(A):
            # Sparse input rows (first layer only): scipy's product, copied.
            W = self.dense if self.kernel == "dense" else self._matrix
            out_T[...] = _as_dense(A @ W).T
        else:
            # W.T stored as CSR times feature-major rows: scipy's row kernel.
            out_T[...] = self._transposed @ self._feature_major(A, "input")
        out_T += self.bias[:, None]
        ACTIVATIONS[activation](out)
        return out

    def _compiled_forward(self, A, out_T, out_rows, activation: str) -> None:
        """:meth:`forward` on the compiled path, into the buffer ``out_rows``."""
        from . import _compiled

        code = _compiled.ACTIVATION_CODES[activation]
        if self.kernel == "sparse":
            rows, n = self._rows_of(A, "input")
            W_T = self._transposed
            _compiled.csr_forward(
                W_T.indptr, W_T.indices, W_T.data, rows, n, out_rows, self.bias, code
            )
        else:
            np.matmul(self.dense.T, A.T, out=out_T)
            _compiled.bias_and_activation(out_rows, A.shape[0], self.bias, code)

    def backward(
        self,
        delta: np.ndarray,
        out: np.ndarray,
        below: np.ndarray | None = None,
        activation: str = "identity",
    ) -> np.ndarray:
        """``out = (delta @ W.T) * f'``, computed as ``out.T = W @ delta.T``.

        ``f'`` is the derivative of the activation named ``activation`` (the
        layer below's), written in terms of that layer's output ``below``.
        """
        out_T = out.T
        if self.compiled and activation in ACTIVATION_CODES:
            out_rows = _rows_in_memory(out_T)
            below_rows = None if below is None else _rows_in_memory(below.T)
            if out_rows is not None and (below is None or below_rows is not None):
                self._compiled_backward(delta, out_T, out_rows, below_rows, activation)
                return out
        if self.kernel == "dense":
            np.matmul(self.dense, delta.T, out=out_T)
        else:
            out_T[...] = self._matrix @ self._feature_major(delta, "delta")
        if below is not None:
            DERIVATIVES[activation](below, out)
        return out

    def _compiled_backward(self, delta, out_T, out_rows, below_rows, activation):
        """:meth:`backward` on the compiled path, into the buffer ``out_rows``."""
        from . import _compiled

        code = 0 if below_rows is None else _compiled.ACTIVATION_CODES[activation]
        if below_rows is None:
            below_rows = out_rows  # unread: the identity's derivative is 1
        if self.kernel == "sparse":
            rows, n = self._rows_of(delta, "delta")
            W = self._matrix
            _compiled.csr_backward(
                W.indptr, W.indices, W.data, rows, n, out_rows, below_rows, code
            )
        else:
            np.matmul(self.dense, delta.T, out=out_T)
            _compiled.differentiate(out_rows, delta.shape[0], below_rows, code)

    def compute_gradients(self, A, delta: np.ndarray) -> None:
        """``grad = (A.T @ delta)`` at the kept positions; ``bias_grad``."""
        if self.grad is None:
            self._allocate_gradient()
        if self.compiled:
            from . import _compiled

            errors, n = self._rows_of(delta, "delta")
            _compiled.row_sums(errors, n, self.bias_grad)
        else:
            np.sum(delta, axis=0, out=self.bias_grad)
        if self.sddmm:
            if self.compiled:
                inputs, n = self._rows_of(A, "input")
                W = self._matrix
                _compiled.kept_gradient(
                    W.indptr, W.indices, inputs, errors, n, self.grad
                )
            else:
                self._gradient_at_kept_positions(A, delta)
            return
        if sp.issparse(A):
            self._full_grad[...] = _as_dense(A.T @ delta)
        else:
            np.matmul(A.T, delta, out=self._full_grad)
        if self.full:  # the product was written into ``grad``
            return
        if self.compiled:
            from . import _compiled

            _compiled.gather(self._full_grad.ravel(), self.positions, self.grad)
        else:
            np.take(self._full_grad.ravel(), self.positions, out=self.grad, mode="clip")

    def _rows_of(self, M: np.ndarray, name: str) -> tuple[np.ndarray, int]:
        """``M.T`` as the first ``n`` columns of a C-contiguous array, and ``n``.

        The memory of a network buffer when ``M`` is one (no copy), else a
        copy in a buffer kept between calls.
        """
        n = M.shape[0]
        rows = None if sp.issparse(M) else _rows_in_memory(M.T)
        if rows is None:
            rows = self._feature_major(M, name)
        return rows, n

    def _gradient_at_kept_positions(self, A, delta: np.ndarray) -> None:
        """``grad[k] = A[:, row_k] @ delta[:, col_k]``: only the kept products.

        On feature-major operands each kept weight reads two contiguous rows;
        the rows are gathered block by block into buffers kept between calls
        (fresh large arrays would cost page faults).
        """
        n = delta.shape[0]
        # Kept weights per block: each gathers one row of ``n`` values from
        # either operand, SDDMM_BLOCK values per operand in all.
        block = max(1, SDDMM_BLOCK // n)
        A_rows = self._feature_major(A, "input")
        delta_rows = self._feature_major(delta, "delta")
        # One buffer for both operands' gathered rows: inputs, then errors.
        blocks = self._buffer("blocks", 2 * block * n, delta.dtype)
        for start in range(0, self.n_kept, block):
            stop = min(start + block, self.n_kept)
            size = (stop - start) * n
            input_rows = blocks[:size].reshape(stop - start, n)
            error_rows = blocks[block * n : block * n + size].reshape(stop - start, n)
            np.take(A_rows, self._rows[start:stop], axis=0, out=input_rows, mode="clip")
            np.take(
                delta_rows, self._cols[start:stop], axis=0, out=error_rows, mode="clip"
            )
            # Row by row dot products: one per kept weight.
            np.einsum("ij,ij->i", input_rows, error_rows, out=self.grad[start:stop])


def _transpose_order(matrix: sp.csr_array) -> np.ndarray:
    """Permutation taking CSR data of ``matrix`` to CSR data of ``matrix.T``."""
    # Each entry tagged with its own index, and scipy moves the tags as it
    # would move the data: float64 holds the indices exactly (below 2**53),
    # and the conversion keeps the explicit zero of entry 0.
    tagged = sp.csr_array(
        (np.arange(matrix.nnz, dtype=np.float64), matrix.indices, matrix.indptr),
        shape=matrix.shape,
    )
    return tagged.T.tocsr().data.astype(np.intp)


class Network:
    """A multi-layer perceptron built from :class:`Layer` objects.

    Parameters
    ----------
    layers : list of Layer
    activation : str
        Hidden activation name.
    out_activation : str
        Output activation name (``identity``, ``logistic`` or ``softmax``).
    """

    def __init__(self, layers: list[Layer], activation: str, out_activation: str):
        self.layers = layers
        self.activation = activation
        self.out_activation = out_activation

    @classmethod
    def from_dense(
        cls,
        weights: list[np.ndarray],
        biases: list[np.ndarray],
        positions: list[np.ndarray],
        activation: str,
        out_activation: str,
        kernel: str | None = None,
    ) -> Network:
        """Network keeping ``weights`` at ``positions`` (copies, trainable)."""
        layers = [
            Layer(pos, W.ravel()[pos], b, W.shape, kernel)
            for W, b, pos in zip(weights, biases, positions)
        ]
        return cls(layers, activation, out_activation)

    @property
    def n_remaining(self) -> int:
        return sum(layer.n_kept for layer in self.layers)

    def sync(self) -> None:
        for layer in self.layers:
            layer.sync()

    @property
    def reads_batch_transposed(self) -> bool:
        """Whether the first layer reads its input batch feature-major."""
        first = self.layers[0]
        return first.kernel == "sparse" or first.sddmm

    def use_kernels(self, kernels: str) -> None:
        """Train on the ``"numpy"`` or ``"numba"`` path (before :meth:`flatten`)."""
        for layer in self.layers:
            layer.use_kernels(kernels)

    def flatten(self) -> tuple[np.ndarray, np.ndarray, int]:
        """Move every trainable array and its gradient into one flat buffer each.

        Weights come first, then biases; the layers keep views into the
        buffers, so the optimizer updates everything with a handful of numpy
        calls per step instead of a handful per array. Returns the parameter
        buffer, the gradient buffer and the number of weight entries.
        """
        # Weights first, then biases: all the weights are one slice, which the
        # L2 penalty reads whole (biases are not penalised).
        n_weights = sum(layer.values.size for layer in self.layers)
        n_biases = sum(layer.bias.size for layer in self.layers)
        dtype = self.layers[0].values.dtype
        params = np.empty(n_weights + n_biases, dtype=dtype)
        grads = np.zeros(n_weights + n_biases, dtype=dtype)
        weight_at = 0
        bias_at = n_weights
        for layer in self.layers:
            n, m = layer.values.size, layer.bias.size
            layer.rebind(
                params[weight_at : weight_at + n],
                grads[weight_at : weight_at + n],
                params[bias_at : bias_at + m],
                grads[bias_at : bias_at + m],
            )
            weight_at += n
            bias_at += m
        return params, grads, n_weights

    def release_gradients(self) -> None:
        """Free what a network that will not train again no longer needs."""
        for layer in self.layers:
            layer.release_training_state()

    def biases(self) -> list[np.ndarray]:
        return [layer.bias.copy() for layer in self.layers]

    def allocate(self, batch_size: int, dtype, deltas: bool = True) -> tuple:
        """Preallocate activations and (unless ``deltas=False``) errors.

        Each is a ``(batch, units)`` transposed view of a feature-major
        ``(units, batch)`` array, the layout in which the layers' products
        (BLAS or CSR) and the kept-position gradients read and write whole
        contiguous rows. ``activations[0]``, the input batch, is the caller's.
        """
        units = [layer.shape[1] for layer in self.layers]
        activations = [None] + [np.empty((n, batch_size), dtype).T for n in units]
        if not deltas:
            return activations, None
        return activations, [np.empty((n, batch_size), dtype).T for n in units]

    def forward(self, activations: list) -> np.ndarray:
        """Fill ``activations[1:]`` from ``activations[0]``; return the output.

        ``activations[0]`` may be replaced by a view of the same values in the
        layout the first layer reads fastest; pass the list on to :meth:`backward`.
        """
        n = activations[0].shape[0]
        first = self.layers[0]
        if self.reads_batch_transposed and not sp.issparse(activations[0]):
            # The first layer's CSR product and kept-position gradient both
            # read the batch feature-major: transpose it once for both (a
            # batch gathered feature-major already is, unless it is short).
            activations[0] = first._feature_major(activations[0], "input").T
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            A = activations[i] if i == 0 else activations[i][:n]
            activation = self.out_activation if i == last else self.activation
            layer.forward(A, activations[i + 1][:n], activation)
        return activations[-1][:n]

    def backward(self, activations, deltas) -> None:
        """Backpropagate ``deltas[-1]`` (set by the loss) into the gradients.

        The weights of partial dense layers are overwritten by their gradient
        products: call :meth:`sync` before the next forward pass.
        """
        n = activations[0].shape[0]
        for i in range(len(self.layers) - 1, -1, -1):
            delta = deltas[i][:n]
            layer = self.layers[i]
            # The error sent down first (times the derivative of the hidden
            # activation below): computing the gradient may reuse the weights'
            # dense buffer.
            if i:
                layer.backward(
                    delta, deltas[i - 1][:n], activations[i][:n], self.activation
                )
            layer.compute_gradients(activations[i][:n] if i else activations[0], delta)


def prediction_operands(coefs: list[sp.csr_array]) -> list:
    """What :func:`predict_csr` multiplies with, per layer.

    A dense copy of the weights (for BLAS) above ``SPARSE_KERNEL_MAX_DENSITY``;
    below it ``W.T``, a CSC view sharing the CSR arrays, whose product with the
    transposed batch is scipy's fastest sparse kernel here.
    """
    return [
        W.toarray()
        if W.nnz > SPARSE_KERNEL_MAX_DENSITY * W.shape[0] * W.shape[1]
        else W.T
        for W in coefs
    ]


def predict_csr(
    X,
    operands: list,
    intercepts: list[np.ndarray],
    activation: str,
    out_activation: str,
    chunk_size: int = 512,
) -> np.ndarray:
    """Forward pass of a fitted network from its :func:`prediction_operands`.

    Samples go through in chunks, which keeps transposed copies small and in
    cache.
    """
    n = X.shape[0]
    dtype = np.result_type(X.dtype, intercepts[0].dtype)
    out = np.empty((n, intercepts[-1].shape[0]), dtype=dtype)
    last = len(operands) - 1
    for start in range(0, n, chunk_size):
        A = X[start : start + chunk_size]
        for i, (W, b) in enumerate(zip(operands, intercepts)):
            if not sp.issparse(W):
                A = _as_dense(A @ W)
            elif sp.issparse(A):
                A = _as_dense(A @ W.T)
            elif A.shape[0] == 1:
                # One sample: a matrix-vector product, no transposes.
                A = (W @ A.ravel())[None, :]
            else:
                A = (W @ A.T).T
            A += b
            ACTIVATIONS[out_activation if i == last else activation](A)
        out[start : start + chunk_size] = A
    return out
