"""The ``"numpy"`` path: numpy, scipy and BLAS, complete on its own.

:class:`NumpyBackend` computes everything a training step does that the
paths compute differently (see :mod:`sklearn_lth._kernels`); the ``"numba"``
path's backend subclasses it and falls back on it for whatever its compiled
kernels do not cover. The activations and their derivatives here are also
the ones prediction and :class:`~sklearn_lth.SupermaskMLP` apply.

Each layer's kernel (see :mod:`sklearn_lth._network`) comes from its density,
at crossovers measured by ``benchmarks/bench_kernels.py`` (784x300 and 300x100
float32 layers, batches of 60, 2 cores): below ``sparse_max_density`` a
layer's training step (products, gradient, refresh) is faster on CSR than on
dense BLAS; below ``kept_gradient_max_density`` computing the weight gradient
at the kept positions only (a sampled dense-dense product, SDDMM) beats a
dense product then a gather.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from .._losses import loss_value, output_delta

# Elements per chunk of the L2 penalty's gradient (128 KiB of float32).
L2_CHUNK = 32_768


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


def as_dense(product) -> np.ndarray:
    """A matrix product as a dense array (sparse @ sparse gives a sparse one)."""
    return product.toarray() if sp.issparse(product) else np.asarray(product)


def add_l2_gradient(
    weights: list[np.ndarray],
    grads: list[np.ndarray],
    coefficient: float,
    scratch: np.ndarray,
) -> None:
    """``grad += coefficient * weight`` for every layer, in chunks of ``scratch``.

    A small scratch buffer, reused chunk after chunk, keeps the penalty from
    costing a parameter-sized array.
    """
    chunk = scratch.size
    for w, g in zip(weights, grads):
        for start in range(0, w.size, chunk):
            stop = min(start + chunk, w.size)
            buf = scratch[: stop - start]
            np.multiply(w[start:stop], coefficient, out=buf)
            g[start:stop] += buf


def flush_subnormal(values: np.ndarray) -> bool:
    """Set the subnormal numbers of ``values`` to zero; return whether any was.

    A subnormal number (nonzero, below the dtype's smallest normal number,
    1.2e-38 in float32) is too small to change a sum of the network's
    magnitudes, yet every operation on one costs the CPU some hundred
    cycles. Training makes them: a weight whose unit no longer gets any
    error (a dead ReLU unit, common in sparse networks) shrinks under the L2
    term geometrically, and so do the optimizer's moments or velocity of any
    parameter whose gradient is zero; left there, they made a 784-300-100-10
    epoch at 2% kept 8 times slower after 25 epochs. Each becomes a zero of
    its sign, as the CPU's flush-to-zero mode makes it (which the compiled
    kernels run in). Zeros, infinities and NaN are left as they are.
    """
    tiny = np.finfo(values.dtype).tiny
    small = np.abs(values) < tiny
    small &= values != 0
    if not small.any():
        return False
    values[small] *= 0  # keeps the sign
    return True


class NumpyBackend:
    """The training step's computations on numpy, scipy and BLAS.

    Stateless and shared (see :func:`~sklearn_lth._kernels.backend_for`): a
    layer's operands and buffers are the layer's own, a round's are its
    training step's.
    """

    #: Layers at or below this density multiply by their CSR matrices. The
    #: crossover measured 9-12% across runs for a 784x300 layer, about 8% for
    #: a 300x100 one.
    sparse_max_density = 0.08
    #: Layers at or below this density compute their weight gradient at the
    #: kept positions only.
    kept_gradient_max_density = 0.025
    #: Elements of each block of gathered rows in the kept-position gradient
    #: (256 KiB of float32): big enough to amortise the calls, small enough
    #: for the cache.
    kept_gradient_block = 65_536
    #: A kernel ``gather(X, rows, out)`` writing ``out[:, k] = X[rows[k]]``,
    #: which gathers a mini-batch straight into the feature-major layout a
    #: CSR first layer reads, or None: numpy has none as fast as its row
    #: gather (``np.take``), so its first layer transposes the batch itself.
    feature_major_gather: Callable | None = None
    #: Rows per chunk where a network's first layer reads dense rows
    #: feature-major, when predicting many (see
    #: :func:`~sklearn_lth._training.predict_network`); None: as on BLAS (the
    #: scipy products of a 784-300-100-10 search's CSR first layers took
    #: 0.94-0.97 of the time of chunks of 128 in chunks of 512).
    feature_major_prediction_rows: int | None = None

    #: Partial dense layers at or above this density train their dense
    #: matrix, the pruned entries' gradient zeroed at each step, instead of
    #: their kept weights with a gather and a scatter per step. Measured on
    #: whole epochs (784-300-100-10, global tickets, A/B in one process):
    #: 0.79-0.96 of the gather and scatter epoch at 80-90% kept (1.04-1.16
    #: of the dense epoch, against 1.11-1.23), 0.89 at 64%, 1.03 at 51%:
    #: numpy's Adam takes about ten passes over what it updates, which the
    #: pruned entries lengthen.
    trains_dense_min_density = 0.6

    def feature_major_input(self, layer, M):
        """The input batch ``M`` as a transposed view of feature-major memory
        (``M`` itself when it is one, else a copy in the layer's buffer)."""
        return layer.feature_major(M, "input").T

    def feature_major_buffer(self, units: int, batch_size: int, dtype) -> np.ndarray:
        """A zeroed ``(units, columns)`` buffer for batches of ``batch_size``
        feature-major: the activations and errors of a layer, or a gathered
        input batch (a batch is its first columns)."""
        return np.zeros((units, batch_size), dtype)

    # -- a layer's kernel ---------------------------------------------------------
    def choose_kernel(
        self, density: float, shape: tuple[int, int], batch_size: int | None = None
    ) -> str:
        """``"sparse"`` (CSR products) or ``"dense"`` (BLAS) for a layer of
        ``shape`` and ``density`` trained on batches of ``batch_size`` rows
        (None: not known). On this path, by the density alone."""
        return "sparse" if density <= self.sparse_max_density else "dense"

    def choose_kernels(
        self,
        densities: list[float],
        shapes: list[tuple[int, int]],
        batch_size: int | None,
        activations: tuple[str, str],
    ) -> list[str]:
        """The kernel of each layer of a network: layers of ``densities`` and
        ``shapes`` on batches of ``batch_size`` rows, with ``activations``
        (hidden, output). On this path, each layer's :meth:`choose_kernel`."""
        return [
            self.choose_kernel(density, shape, batch_size)
            for density, shape in zip(densities, shapes)
        ]

    def trains_dense(self, density: float) -> bool:
        """Whether a partial dense layer of ``density`` trains its dense matrix."""
        return density >= self.trains_dense_min_density

    def pruned_entries(self, kept: np.ndarray) -> np.ndarray:
        """How a layer that trains its dense matrix marks its pruned
        entries, whose gradient must be zero at every step, from the boolean
        ``kept`` (one per entry): here their flat positions, where
        :meth:`gradients` zeroes it (numpy zeroes a list of positions several
        times faster than a boolean mask's)."""
        return np.flatnonzero(~kept)

    def gradient_at_kept_positions(self, kernel: str, density: float) -> bool:
        """Whether a layer computes its weight gradient at the kept positions only.

        Otherwise it computes the dense product, then gathers the kept entries.
        """
        return density <= self.kept_gradient_max_density

    def kept_gradient_index(self, layer) -> tuple[np.ndarray, np.ndarray]:
        """What the kept-position gradient of ``layer`` reads besides its operands.

        Each kept weight's input unit (row) and output unit (column).
        """
        return np.divmod(layer.positions.astype(np.intp, copy=False), layer.shape[1])

    def gradient_buffer(self, layer) -> np.ndarray:
        """Where a partial layer's dense gradient product goes before the gather.

        A dense layer's weight copy, which the backward pass no longer needs
        by then (:meth:`refresh` clears and refills it after the update). A
        CSR layer denser than ``kept_gradient_max_density``, where a dense
        product then a gather is measured faster, gets one dense buffer.
        """
        if layer.kernel == "dense":
            return layer.dense
        return np.empty(layer.shape, dtype=layer.trainable.dtype)

    # -- a layer's step -----------------------------------------------------------
    def forward(self, layer, A, out: np.ndarray, activation: str) -> None:
        """``out = f(A @ W + b)``, computed as ``out.T = f(W.T @ A.T + b)``."""
        out_T = out.T
        if sp.issparse(A):
            # Sparse input rows (first layer only): scipy's product, copied.
            W = layer.dense if layer.kernel == "dense" else layer.csr
            out_T[...] = as_dense(A @ W).T
        elif layer.kernel == "dense":
            np.matmul(layer.dense.T, A.T, out=out_T)
        else:
            # W.T stored as CSR times feature-major rows: scipy's row kernel.
            out_T[...] = layer.csr_transposed @ layer.feature_major(A, "input")
        out_T += layer.bias[:, None]
        ACTIVATIONS[activation](out)

    def backward(
        self, layer, delta: np.ndarray, out: np.ndarray, below, activation: str
    ) -> None:
        """``out = (delta @ W.T) * f'(below)``, computed as ``out.T = W @ delta.T``."""
        out_T = out.T
        if layer.kernel == "dense":
            np.matmul(layer.dense, delta.T, out=out_T)
        else:
            out_T[...] = layer.csr @ layer.feature_major(delta, "delta")
        if below is not None:
            DERIVATIVES[activation](below, out)

    def gradients(self, layer, A, delta: np.ndarray) -> None:
        """``layer.grad = (A.T @ delta)`` at the kept positions (zero at the
        pruned ones of a layer that trains its dense matrix, here: the
        compiled path leaves them to its update); ``bias_grad``."""
        np.sum(delta, axis=0, out=layer.bias_grad)
        if layer.sddmm:
            self._kept_gradient(layer, A, delta)
            return
        self.dense_gradient(layer, A, delta)
        if layer.trains_dense:
            if layer.pruned is not None:
                layer.grad[layer.pruned] = 0  # the pruned weights stay zero
        else:
            # mode="clip" here and below: with ``out=``, the default "raise"
            # gathers through a temporary; the indices are valid, so clipping
            # never acts.
            np.take(
                layer.full_grad.ravel(), layer.positions, out=layer.grad, mode="clip"
            )

    def dense_gradient(self, layer, A, delta: np.ndarray) -> None:
        """The dense product ``A.T @ delta`` into ``layer.full_grad`` (both paths).

        A layer that keeps every weight writes it into ``grad`` itself.
        """
        if sp.issparse(A):
            layer.full_grad[...] = as_dense(A.T @ delta)
        else:
            np.matmul(A.T, delta, out=layer.full_grad)

    def _kept_gradient(self, layer, A, delta: np.ndarray) -> None:
        """``grad[k] = A[:, row_k] @ delta[:, col_k]``: only the kept products.

        On feature-major operands each kept weight reads two contiguous rows;
        the rows are gathered block by block into buffers kept between calls
        (fresh large arrays would cost page faults).
        """
        n = delta.shape[0]
        # Kept weights per block: each gathers one row of ``n`` values from
        # either operand, ``kept_gradient_block`` values per operand in all.
        block = max(1, self.kept_gradient_block // n)
        A_rows = layer.feature_major(A, "input")
        delta_rows = layer.feature_major(delta, "delta")
        rows, cols = layer.kept_index
        # One buffer for both operands' gathered rows: inputs, then errors.
        blocks = layer.scratch("blocks", 2 * block * n, delta.dtype)
        for start in range(0, layer.n_kept, block):
            stop = min(start + block, layer.n_kept)
            size = (stop - start) * n
            input_rows = blocks[:size].reshape(stop - start, n)
            error_rows = blocks[block * n : block * n + size].reshape(stop - start, n)
            np.take(A_rows, rows[start:stop], axis=0, out=input_rows, mode="clip")
            np.take(delta_rows, cols[start:stop], axis=0, out=error_rows, mode="clip")
            # Row by row dot products: one per kept weight.
            np.einsum(
                "ij,ij->i",
                input_rows,
                error_rows,
                out=layer.grad[start:stop],
                casting="same_kind",  # float64 data into a float32 network
            )

    def refresh(self, layer) -> None:
        """Propagate an in-place update of ``layer.trainable`` to its operands."""
        if layer.kernel == "dense":
            if not layer.trains_dense:
                layer.dense.fill(0)  # it may hold the last gradient product
                layer.dense.ravel()[layer.positions] = layer.values
        else:
            # ``layer.csr.data`` is ``values``: only W.T's copy lags behind.
            np.take(
                layer.values,
                layer.transpose_order,
                out=layer.csr_transposed.data,
                mode="clip",
            )

    # -- a training step ----------------------------------------------------------
    def network_passes(self, network, activations: list, deltas: list):
        """What computes a training step's passes over ``network`` with the
        step's buffers ``activations`` and ``deltas``: an object with the
        network's ``forward``, ``backward`` and ``sync``. Here the network
        itself, layer by layer."""
        return network

    def fused_step(self, passes, update, out_activation: str) -> Callable | None:
        """A call that takes a whole training step, ``step(inputs, targets,
        weights, weight_sum, learning_rate, penalty) -> (loss, squares)`` or
        None for a batch it does not take, on ``passes`` (from
        :meth:`network_passes`) with ``update`` (from
        :meth:`optimizer_update`); or None: the step calls the passes, the
        loss and the update one by one (here always)."""
        return None

    def fused_steps(self, passes, update, out_activation: str) -> Callable | None:
        """Where :meth:`fused_step` gives a step, a call that takes several:
        ``steps(X, positions, bounds, Y, inputs, learning_rates, penalty,
        alpha) -> (losses, squares)`` (see
        ``sklearn_lth._kernels._numba.CsrNetworkPasses.train_batches``);
        else None (here always)."""
        return None

    def loss_and_error(
        self,
        out_activation: str,
        targets: np.ndarray,
        outputs: np.ndarray,
        weights: np.ndarray | None,
        weight_sum: float,
        errors: np.ndarray,
    ) -> float:
        """A batch's mean loss; its error at the output, unless it weighs nothing.

        ``outputs`` and ``errors`` are the network's output and output-error
        buffers (see :meth:`~sklearn_lth._network.Network.allocate`), whose
        first ``len(targets)`` rows are the batch's. The error, written into
        ``errors``, is divided by ``weight_sum`` so that the gradients come
        out as averages with no pass over them: backpropagation is linear in
        the error, and the (batch, n_outputs) error is far smaller than the
        parameter-sized gradient. A batch whose rows all weigh zero takes no
        step: it gets no error.
        """
        n = targets.shape[0]
        predicted = outputs[:n]
        loss = loss_value(out_activation, targets, predicted, weights)
        if weight_sum > 0:
            output_delta(
                targets, predicted, weights, errors[:n], scale=1.0 / weight_sum
            )
        return loss

    def update_flushes_subnormal(self, optimizer) -> bool:
        """Whether :meth:`optimizer_update`'s update of ``optimizer`` sets the
        subnormal numbers among the parameters and its state to zero itself,
        at every step (here never: a numpy pass costs what numpy's Adam
        step does, so training does it every few steps instead)."""
        return False

    def optimizer_update(
        self,
        optimizer,
        params: np.ndarray,
        grads: np.ndarray,
        n_weights: int,
        alpha: float,
        layers: list,
    ) -> Callable[[float, float], float | None]:
        """The update of a round's steps, ``update(learning_rate, weight_sum)``.

        Each call adds the L2 term's gradient, ``alpha / weight_sum`` times
        the weights, to the gradient of the first ``n_weights`` entries of the
        flat buffers (the weights; the biases follow, unpenalised), then
        takes one ``optimizer`` step over ``params``. With ``alpha=0`` there
        is no L2 pass at all. ``layers``, whose trainable arrays the flat
        buffers hold in order, are not read here (:meth:`gradients` zeroes
        the gradient of their pruned entries); the compiled path's update
        gives those entries a zero gradient itself, its gradients leaving
        them as they come.

        ``update`` returns the weights' sum of squares after the step when it
        has it at no cost (the compiled updates, with an L2 term), else None.
        """
        step = optimizer.step
        param_list, grad_list = [params], [grads]
        weights, weight_grads = [params[:n_weights]], [grads[:n_weights]]
        # The L2 gradient goes through this chunk, not a weight-sized temporary.
        scratch = np.empty(min(n_weights, L2_CHUNK), dtype=params.dtype)

        def update(learning_rate: float, weight_sum: float) -> None:
            if alpha:
                add_l2_gradient(weights, weight_grads, alpha / weight_sum, scratch)
            step(param_list, grad_list, learning_rate)

        return update
