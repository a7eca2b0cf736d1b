"""The network: initialisation, forward and backward passes on masked weights.

A layer keeps its surviving weights in a fixed sparsity pattern (CSR order,
row-major over ``(n_in, n_out)``). The trainable values are one 1-D array per
layer, ``Layer.trainable`` (in training, a view into one flat buffer for the
whole network): the kept weights, ``Layer.values``, whose pruned weights have
no storage at all, or for a partial layer dense enough, its dense matrix,
whose pruned entries get a zero gradient at every step. Either way a pruned
weight is exactly zero and no optimizer step can bring it back.

Two kernels compute the same products:

- ``"dense"`` keeps a dense copy of the weights (zeros at pruned positions) in
  sync with ``values`` and uses BLAS; a layer that keeps every weight has no
  copy: its dense matrix *is* ``values``. A partial layer dense enough (the
  backend says which, :meth:`~sklearn_lth._kernels.NumpyBackend.trains_dense`)
  trains its dense matrix itself too, with its pruned entries given a zero
  gradient at every step (by the backend's gradient, or on the compiled
  path by its update): no gather or scatter per step, and a weight that is
  zero with a zero gradient stays exactly zero under Adam and SGD, whose
  state for it stays zero too;
- ``"sparse"`` multiplies by the CSR matrix directly, whose ``data`` *is*
  ``values``, and by a CSR copy of its transpose refreshed after each update.

The dense kernel wins for dense-ish layers, the sparse one for very sparse
layers. A layer holds these operands and its buffers; the kernel path's
backend (:mod:`sklearn_lth._kernels`, one per fit) chooses the kernel from the
layer's density and computes with them.

Activations and errors live feature-major, as ``(units, batch)`` arrays seen
through ``(batch, units)`` transposed views: BLAS reads either layout at the
same speed, while the CSR products and the kept-position gradients then read
and write whole contiguous rows with no transposed copies.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ._kernels import NumpyBackend, as_dense, backend_for


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


class Layer:
    """A fully connected layer whose surviving weights have a fixed pattern.

    The trainable arrays (``trainable``: the kept weights, ``values``, or the
    dense matrix of a layer that ``trains_dense``; ``bias``) and their
    gradients (``grad``, ``bias_grad``) are updated in place by the
    optimizer. Once the network is flattened (:meth:`Network.flatten`) they
    are views into the network's flat buffers, which the layer does not own
    (the training step holds them), so one optimizer call updates every
    layer.

    The layer's ``backend`` (see :mod:`sklearn_lth._kernels`) chooses its
    ``kernel`` and computes its products, gradients and refreshes from the
    operands the layer holds: ``dense`` (the dense kernel's weights), ``csr``
    and ``csr_transposed`` (the sparse kernel's W and W.T, with
    ``transpose_order``, the permutation from W's data to W.T's),
    ``full_grad`` (the buffer of the dense gradient product) and
    ``kept_index`` (what the backend's kept-position gradient reads, when
    ``sddmm``).

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
        How to compute products, kept on every backend; None lets each
        backend choose (from the density, and on the compiled path the
        layer's size and the batch). The layer computes on the numpy path
        until :meth:`use_backend` says otherwise.
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
        self.forced_kernel = kernel
        self._build(np.array(values), kernel, backend_for("numpy"))

    def _build(
        self,
        values: np.ndarray,
        kernel: str | None,
        backend: NumpyBackend,
        kept_gradient: bool | None = None,
    ) -> None:
        """Set ``values`` (owned) and the operands ``backend`` computes with.

        ``kernel`` and ``kept_gradient`` (whether the weight gradient is
        computed at the kept positions only) default to the backend's choice
        for the layer (its batch not known).
        """
        self.backend = backend
        if kernel is None:
            kernel = backend.choose_kernel(self.density, self.shape)
        self.kernel = kernel
        self.dense = None
        # The array the optimizer updates (see :meth:`Network.flatten`): the
        # kept weights, or the dense matrix of a layer that trains it.
        self.trains_dense = self.kernel == "dense" and (
            self.full or backend.trains_dense(self.density)
        )
        self.pruned = None
        if self.kernel == "dense":
            self.dense = np.zeros(self.shape, dtype=values.dtype)
            if self.trains_dense:
                # Train the dense matrix itself, no copies: every weight is
                # kept, or the pruned ones take a zero gradient each step
                # (the backend marks them, ``pruned_entries``).
                flat = self.dense.ravel()
                if self.full:
                    flat[:] = values
                else:
                    flat[self._positions] = values
                    kept = np.zeros(flat.size, dtype=bool)
                    kept[self._positions] = True
                    self.pruned = backend.pruned_entries(kept)
                self.trainable = flat
            else:
                self.trainable = values
                self.sync()
        else:
            self.trainable = values
        self.csr = self.csr_transposed = self.transpose_order = None
        if self.kernel == "sparse":
            # Forward multiplies by W.T and backward by W, both kept as CSR so
            # that both run a CSR-times-dense kernel on feature-major rows.
            # W's data is ``values``; W.T's is a copy, refreshed from
            # ``values`` through the permutation ``transpose_order`` (see sync).
            self.csr = csr_from_positions(self.positions, self.trainable, self.shape)
            self.csr_transposed = self.csr.T.tocsr()
            self.transpose_order = _transpose_order(self.csr)
        # The weight gradient: a dense product read at the kept positions, or
        # for very sparse layers a product at the kept positions only (SDDMM).
        if kept_gradient is None:
            kept_gradient = backend.gradient_at_kept_positions(
                self.kernel, self.density
            )
        self.sddmm = kept_gradient
        self.kept_index = backend.kept_gradient_index(self) if self.sddmm else None
        self._buffers: dict[str, np.ndarray] = {}
        # Gradient buffers come with ``rebind`` (training) or on first use.
        self.full_grad = self.grad = None

    def use_backend(
        self,
        backend: NumpyBackend,
        batch_size: int | None = None,
        kernel: str | None = None,
    ) -> None:
        """Compute with ``backend`` (see :mod:`sklearn_lth._kernels`) from now on,
        on batches of ``batch_size`` rows (None: not known).

        Call before training starts (before :meth:`Network.flatten`): the
        operands are rebuilt for the kernel the layer was made with, else
        ``kernel``, else the backend's choice, and the gradient buffers
        dropped.
        """
        kernel = self.forced_kernel or kernel
        if kernel is None:
            kernel = backend.choose_kernel(self.density, self.shape, batch_size)
        if backend is not self.backend or kernel != self.kernel:
            self._build(np.array(self.values), kernel, backend)

    @property
    def values(self) -> np.ndarray:
        """The kept weights, one per position (in training, the flat buffer's
        view; a copy for a partial layer that trains its dense matrix)."""
        if self.pruned is None:
            return self.trainable
        return self.trainable[self._positions]

    def kept_grad(self) -> np.ndarray:
        """The weight gradient at the kept positions, as ``values`` holds them."""
        if self.pruned is None:
            return self.grad
        return self.grad[self._positions]

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
        self.full_grad = self.grad = self.bias_grad = self.csr = None
        self._buffers = {}
        # The kernels' index arrays (one intp per kept weight each): only
        # products and gradients read them, and this layer computes neither.
        self.csr_transposed = self.transpose_order = self.kept_index = None
        if self.kernel == "dense" and not self.full:
            # ``values`` and ``positions`` hold the weights.
            self.trainable, self.pruned, self.trains_dense = self.values, None, False
            self.dense = None

    @property
    def matrix(self) -> sp.csr_array:
        """The weights as CSR, sharing ``values`` (a copy of them for a layer
        that trains its dense matrix).

        Built on demand when the layer keeps no CSR matrix (the dense kernel,
        or after :meth:`release_training_state`).
        """
        if self.csr is not None:
            return self.csr
        return csr_from_positions(self.positions, self.values, self.shape)

    @property
    def density(self) -> float:
        return self.n_kept / (self.shape[0] * self.shape[1])

    def _allocate_gradient(self, grad=None) -> None:
        """Set ``grad`` (the given array, or a new one) and the product's buffer.

        The buffer, ``full_grad``, receives the dense gradient product
        ``A.T @ delta``: ``grad`` itself when the layer trains its dense
        matrix (every position kept, or ``trains_dense``), none with
        ``sddmm``, else the backend's choice (on the numpy path, a
        partial dense layer computes it in the dense copy of its weights,
        which the backward pass no longer needs by then; :meth:`sync`
        rebuilds the weights after the update).
        """
        self.grad = np.empty_like(self.trainable) if grad is None else grad
        if self.bias_grad is None:
            self.bias_grad = np.empty_like(self.bias)
        if self.sddmm:
            self.full_grad = None
        elif self.trains_dense:
            self.full_grad = self.grad.reshape(self.shape)
        else:
            self.full_grad = self.backend.gradient_buffer(self)

    def rebind(self, values, grad, bias, bias_grad) -> None:
        """Move the parameters into the given views; use the gradient views.

        The views are slices of the network's flat buffers; the layer's own
        arrays are then let go.
        """
        values[...] = self.trainable
        bias[...] = self.bias
        # The products must read the moved weights: a full dense layer's
        # matrix becomes a view of them, the CSR matrix's data becomes them.
        # A partial dense layer's copy and the transposed CSR data already
        # hold the same values.
        if self.trains_dense:
            self.dense = values.reshape(self.shape)
        if self.csr is not None:
            self.csr.data = values
        self._allocate_gradient(grad)
        self.trainable, self.grad, self.bias, self.bias_grad = (
            values,
            grad,
            bias,
            bias_grad,
        )

    def to_csr(self) -> sp.csr_array:
        """The weights as a new CSR array (its own copy of the values)."""
        return csr_from_positions(self.positions, np.array(self.values), self.shape)

    def sync(self) -> None:
        """Propagate an in-place update of ``trainable`` to the product operands."""
        self.backend.refresh(self)

    def scratch(self, name: str, size: int, dtype) -> np.ndarray:
        """A flat scratch array of at least ``size`` kept between calls."""
        buffer = self._buffers.get(name)
        if buffer is None or buffer.size < size or buffer.dtype != dtype:
            # Zeros: columns past a batch may be computed, never read, and
            # should not hold denormals (which slow the products down).
            buffer = self._buffers[name] = np.zeros(size, dtype=dtype)
        return buffer[:size]

    def feature_major(self, M, name: str) -> np.ndarray:
        """``M.T`` as a C-contiguous array.

        The network's activations and errors are transposed views of
        feature-major buffers, so this is usually ``M``'s own memory; other
        arrays (an input batch) are copied into the scratch array ``name``,
        kept for the next call.
        """
        if sp.issparse(M):
            return as_dense(M.T)
        T = M.T
        if T.flags.c_contiguous:
            return T
        out = self.scratch(name, T.size, T.dtype).reshape(T.shape)
        out[...] = T
        return out

    def forward(self, A, out: np.ndarray, activation: str = "identity") -> np.ndarray:
        """``out = f(A @ W + b)``, computed as ``out.T = f(W.T @ A.T + b)``.

        ``out`` should be a transposed view of a C-contiguous array (see
        :meth:`Network.allocate`): the products then write their rows in place.
        ``f`` is the activation named ``activation``.
        """
        self.backend.forward(self, A, out, activation)
        return out

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
        self.backend.backward(self, delta, out, below, activation)
        return out

    def compute_gradients(self, A, delta: np.ndarray) -> None:
        """``grad = (A.T @ delta)`` at the kept positions; ``bias_grad``."""
        if self.grad is None:
            self._allocate_gradient()
        self.backend.gradients(self, A, delta)


def _transpose_order(matrix: sp.csr_array) -> np.ndarray:
    """Permutation taking CSR data of ``matrix`` to CSR data of ``matrix.T``.

    ``matrix.T``'s CSR order is ``matrix``'s entries by column, and within a
    column by row, which is their CSR order: a stable sort of the column
    indices (as scipy's transposition moves them). In int32 when the entries
    fit: the permutation is kept for every step's refresh.
    """
    order = np.argsort(matrix.indices, kind="stable")
    return order.astype(np.int32) if matrix.nnz < 2**31 else order


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
    def dtype(self) -> np.dtype:
        """The float dtype of the weights and biases."""
        return self.layers[0].bias.dtype

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

    def gathering(self) -> dict:
        """:class:`~sklearn_lth._training.BatchSource`'s keywords for this
        network's batches: gathered feature-major where the first layer reads
        them so (CSR products or the kept-position gradient) and its backend
        can."""
        backend = self.layers[0].backend
        gather = backend.feature_major_gather if self.reads_batch_transposed else None
        return {
            "feature_major_gather": gather,
            "feature_major_buffer": backend.feature_major_buffer,
        }

    def use_backend(
        self,
        backend: NumpyBackend,
        batch_size: int | None = None,
        *,
        whole_passes: bool = True,
    ) -> None:
        """Compute with ``backend`` (see :mod:`sklearn_lth._kernels`), on
        batches of ``batch_size`` rows (None: not known).

        Call before :meth:`flatten`: each layer rebuilds its operands, on
        the backend's choice of kernels for the whole network
        (``choose_kernels``), or each its own where the batches cannot take
        whole-network passes (``whole_passes=False``: sparse rows, or
        another dtype than the layers') or a layer was made with a kernel.
        """
        kernels = [None] * len(self.layers)
        if whole_passes and not any(layer.forced_kernel for layer in self.layers):
            kernels = backend.choose_kernels(
                [layer.density for layer in self.layers],
                [layer.shape for layer in self.layers],
                batch_size,
                (self.activation, self.out_activation),
            )
        for layer, kernel in zip(self.layers, kernels):
            layer.use_backend(backend, batch_size, kernel)

    def flatten(self) -> tuple[np.ndarray, np.ndarray, int]:
        """Move every trainable array and its gradient into one flat buffer each.

        Weights come first, then biases; the layers keep views into the
        buffers, so the optimizer updates everything with a handful of numpy
        calls per step instead of a handful per array. Returns the parameter
        buffer, the gradient buffer and the number of weight entries.
        """
        # Weights first, then biases: all the weights are one slice, which the
        # L2 penalty reads whole (biases are not penalised).
        n_weights = sum(layer.trainable.size for layer in self.layers)
        n_biases = sum(layer.bias.size for layer in self.layers)
        dtype = self.layers[0].trainable.dtype
        params = np.empty(n_weights + n_biases, dtype=dtype)
        grads = np.zeros(n_weights + n_biases, dtype=dtype)
        weight_at = 0
        bias_at = n_weights
        for layer in self.layers:
            n, m = layer.trainable.size, layer.bias.size
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
        backend = self.layers[0].backend

        def buffer(n: int) -> np.ndarray:
            # The backend may give more columns than a batch (whole blocks of
            # its CSR products).
            return backend.feature_major_buffer(n, batch_size, dtype)[:, :batch_size].T

        activations = [None] + [buffer(n) for n in units]
        if not deltas:
            return activations, None
        return activations, [buffer(n) for n in units]

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
            activations[0] = first.backend.feature_major_input(first, activations[0])
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            A = activations[i] if i == 0 else activations[i][:n]
            activation = self.out_activation if i == last else self.activation
            layer.forward(A, activations[i + 1][:n], activation)
        return activations[-1][:n]

    def backward(self, activations, deltas) -> None:
        """Backpropagate ``deltas[-1]`` (set by the loss) into the gradients.

        The weights' copies may serve as scratch (on the numpy path, partial
        dense layers compute their gradient products there): call
        :meth:`sync` before the next forward pass.
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
