"""The ``"numba"`` path: the compiled kernels of the ``fast`` extra.

:class:`NumbaBackend` overrides what :mod:`sklearn_lth._kernels._compiled`
computes and leaves the rest to :class:`~sklearn_lth._kernels._numpy.
NumpyBackend`: the products of sparse input rows, the Poisson output's exp,
the losses other than softmax's, and any operand that is not a network
buffer. This module imports numba: only
:func:`~sklearn_lth._kernels.backend_for` imports it, when a fit runs on this
path.

What the compiled path does differently:

- Adam and SGD take one pass over the flat parameters, L2 term included,
  instead of about ten: the same float operations, the same bits where no
  value is subnormal; the pass also sets subnormal numbers to zero, at every
  step (the numpy path every 20 steps, see ``_numpy.flush_subnormal``); it
  sums the squares of the weights for the next step's L2 penalty too.
- Every compiled training kernel reads and writes subnormal numbers as zero
  (the float mode of ``_compiled._subnormals_as_zero``, for the kernel's
  duration), where numpy computes them, slowly; prediction's keep the
  caller's mode.
- CSR layers' products apply the bias and the activation (or its derivative)
  as they write each row (tanh itself is numpy's, after the product); a
  dense layer's BLAS product is followed by one compiled pass that does the
  same; a softmax output's softmax, loss and error come from compiled calls
  too.
- Its CSR products and kept-position gradient are faster than scipy's and
  numpy's: a layer trains on them up to a crossover density that depends
  on its size and the batch (``sparse_max_density_by_size``, measured on
  whole epochs: 25% for layers of more than 300,000 weights, 42% for a
  784x300 layer at batches of 60, 50% for layers of up to 100,000 weights,
  80% for layers of up to 4,096 weights (a 10-unit output of up to 409
  inputs), all lower for larger batches).
  A CSR layer always computes its gradient at the kept positions only, and
  a wide one takes its input by panels of rows in its forward product.
- The kernels are chosen for the whole network (``choose_kernels``): the
  layers above their crossover go on CSR with the rest where that makes
  every layer CSR and they hold few multiply-adds
  (``whole_csr_max_multiply_adds``).
- A network whose layers are all CSR (and whose activations the products
  apply) runs its forward pass, its backward pass and its refresh as one
  compiled call each (:class:`CsrNetworkPasses`), not some twenty; with a
  softmax output and Adam or SGD, the whole step is one call (forward, loss,
  backward, update, refresh: :meth:`CsrNetworkPasses.train`).
- The mini-batch is gathered straight into the feature-major layout a CSR
  first layer reads.
- Partial dense layers (above their crossover) that keep 35% of their
  weights or more train their dense matrix, with no gather or scatter: the
  update reads a byte per weight and gives the pruned ones a zero gradient
  (zeroing them in the gradient first took 60 us of a 784-300-100-10 step
  at 80% kept; epochs from 80% to 30% kept now cost 0.99-1.04 of the dense
  epoch, where they cost 1.07-1.12).
  Sparser ones refresh their weights with a scatter that does not clear the
  copy first (their gradient product has its own buffer).

The kernels read and write the network's feature-major buffers in place:
the activations and errors of a short batch are the first ``n`` columns of
``(units, batch)`` arrays, which a kernel is handed whole, with ``n``.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable
from functools import partial

import numpy as np
import scipy.sparse as sp

from .._optimizers import SGD, Adam
from ._compiled import (
    ACTIVATION_CODES,
    FUSED_FORWARD,
    SOLVER_CODES,
    bias_and_activation,
    csr_backward,
    csr_forward,
    csr_forward_panels,
    differentiate,
    gather,
    gather_transposed,
    kept_gradient,
    log_loss_and_error,
    network_backward,
    network_forward,
    network_refresh,
    network_step,
    network_steps,
    optimizer_step,
    padded_width,
    panels_for,
    row_sums,
    scatter,
)
from ._numpy import ACTIVATIONS, NumpyBackend

# The feature-major buffers this backend made (see feature_major_buffer),
# by id, a weak reference to each that drops its entry with the buffer: a
# view of one is only ever its first columns. (A plain dict: a
# WeakValueDictionary's get, written in Python, cost about a microsecond of
# the 19 look-ups of a training step.)
_BUFFERS: dict[int, weakref.ref] = {}


#: Feature-major buffers start on a cache line, so that no vector load or
#: store of a row (whole blocks of columns: 256 bytes in float32) straddles
#: two: numpy aligns its allocations to 16 bytes, and a 784-300-100-10
#: network at 20% kept had its 300- and 10-row buffers start 48 bytes into
#: a line (a CSR product reading its rows from L2 took 1.4 times as long, a
#: training step about 1.1 times).
ALIGNMENT = 64


def aligned_zeros(shape: tuple[int, int], dtype) -> np.ndarray:
    """A zeroed C-ordered array that starts on a cache line.

    An array over a ``bytearray`` of its own (so the views of it have it as
    their ``base``, as they would an array that owned its memory; and, unlike
    a memory map, tracemalloc sees it and a fork copies it).
    """
    dtype = np.dtype(dtype)
    memory = bytearray(shape[0] * shape[1] * dtype.itemsize + ALIGNMENT)
    start = -np.frombuffer(memory, np.uint8).ctypes.data % ALIGNMENT
    return np.ndarray(shape, dtype, buffer=memory, offset=start)


def _own(units: int, columns: int, dtype) -> np.ndarray:
    """A new zeroed ``(units, columns)`` buffer of ours (see
    :func:`aligned_zeros`), recorded as such."""
    buffer = aligned_zeros((units, columns), dtype)
    key = id(buffer)
    _BUFFERS[key] = weakref.ref(buffer, lambda _, key=key: _BUFFERS.pop(key, None))
    return buffer


def _is_sparse(M) -> bool:
    """``scipy.sparse.issparse(M)``, an array's answer first (issparse is an
    abstract-class check, about half a microsecond, 17 times a step)."""
    return type(M) is not np.ndarray and sp.issparse(M)


def _rows_in_memory(T: np.ndarray) -> np.ndarray | None:
    """The C-contiguous array whose first columns ``T`` is, or None.

    The network's activations and errors are ``(units, n)`` column slices of
    ``(units, columns)`` buffers: the compiled kernels read and write the
    buffer in place, with no copy. A buffer of ours is known by its id (a
    look-up, where reading two data pointers cost 3 us a call): the code
    only ever views their first columns, ``buffer[:, :n]``, never a column
    offset. Any other array counts only when it is ``T`` itself.
    """
    base = T.base
    if base is None:
        return T if T.flags.c_contiguous else None
    owned = _BUFFERS.get(id(base))
    if (
        owned is not None
        and owned() is base
        and base.shape[0] == T.shape[0]
        and base.strides == T.strides
        and base.dtype == T.dtype
    ):
        return base
    if T.flags.c_contiguous:
        return T
    return None


def _rows_of(layer, M, name: str) -> tuple[np.ndarray, int]:
    """``M.T`` as the first ``n`` columns of a C-contiguous array, and ``n``.

    The memory of a network buffer when ``M`` is one (no copy), else a copy
    in the layer's buffer ``name`` (padded to whole blocks), kept between
    calls.
    """
    n = M.shape[0]
    if _is_sparse(M):
        return layer.feature_major(M, name), n
    rows = _rows_in_memory(M.T)
    if rows is None:
        rows = _padded_scratch(layer, name, M.shape[1], n, M.dtype)
        rows[:, :n] = M.T
    return rows, n


def _panels(layer, dtype) -> np.ndarray | None:
    """The panel bounds of the layer's ``W.T`` when its forward product pays
    for panels (see _compiled.panels_for), else None; computed once per
    pattern (the layer's buffers are new with every pattern)."""
    bounds = layer._buffers.get("panel bounds")
    if bounds is None:
        W_T = layer.csr_transposed
        bounds = panels_for(W_T.indptr, W_T.indices, layer.shape[0], dtype)
        if bounds is None:
            bounds = np.empty((0, 0), dtype=np.intp)  # no panels
        layer._buffers["panel bounds"] = bounds
    return bounds if bounds.size else None


def _padded_scratch(layer, name: str, units: int, n: int, dtype) -> np.ndarray:
    """The layer's ``(units, columns)`` buffer ``name`` for ``n`` columns,
    in whole blocks (as the network's buffers), kept between calls."""
    name = f"padded {name}"  # not the flat scratch arrays of the same name
    buffer = layer._buffers.get(name)
    if (
        buffer is None
        or buffer.shape[0] != units
        or buffer.shape[1] < n
        or buffer.dtype != dtype
    ):
        buffer = layer._buffers[name] = _own(units, padded_width(n), dtype)
    return buffer


# The weights argument of an unweighted batch for log_loss_and_error, per
# dtype (shared: the kernel never writes it).
_NO_WEIGHTS: dict[np.dtype, np.ndarray] = {}


def _batch_scale(batch_size: int | None) -> float:
    """How much lower the crossover densities are at ``batch_size`` rows.

    BLAS does more per row with larger batches, the CSR products the same:
    in whole epochs (2026-12-08) a 784x300 first layer crossed at about 45%
    at 60 rows, above 28% at 128 and at about 23% at 200, 300x100 and
    300x300 layers at 27-30% at 200 (50% at 60): about ``(60 /
    batch_size) ** (1 / 2)`` of the crossover at 60 (earlier kernels fell
    as the cube root); not extrapolated beyond 256 rows (nor for an unknown
    batch, None).
    """
    if batch_size is None or batch_size <= 60:
        return 1.0
    return (60 / min(batch_size, 256)) ** (1 / 2)


class NumbaBackend(NumpyBackend):
    """The training step's computations on numba's compiled kernels."""

    #: The density at or below which a layer computes on CSR, at batches
    #: of up to 60 rows, for layers of up to so many weights (the last: any
    #: larger). Whole epochs of training networks (2 BLAS threads, float32,
    #: random patterns; 2026-12-07 and -08) cross where BLAS's cost per step
    #: stops paying for itself: layers of 1,000-3,000 weights (a 10-unit
    #: output) at 65-100% kept (their BLAS products cost little, their calls
    #: the same), 10,000-90,000 weights at 41-50%, a 784x300 layer at about
    #: 45% (first; CSR at 40% took 0.96 of BLAS's time, at 42% with the
    #: smaller layers on CSR too 0.87) and at 35-45% (hidden, where it made
    #: the network all CSR), a 1000x1000 one below 20% at 200 rows (below
    #: 37% at 60, once scaled). The middle sizes at the top of their range: a
    #: network whose layers are all CSR runs each pass in one compiled call
    #: (:class:`CsrNetworkPasses`), and a 784-300-100-10 search's rounds
    #: 7-10 (the 300x100 layer at 43-49% kept, the others on CSR already)
    #: then took 0.88-0.94 of the time with that layer on BLAS; alone, at 57%
    #: kept, CSR took 1.07 times BLAS's. Memory does not hold them lower: a
    #: CSR layer holds about 32 bytes per kept weight (its two orientations,
    #: gradient and Adam's moments) against 16-17 per position for a dense
    #: one, and a fit to 95% with the 784x300 layers on CSR up to 42% kept
    #: peaks at 8.1 MB against the dense fit's 8.95 (8.6 while prediction
    #: took chunks of 512 rows). What had held them at 25% was a 512-row copy
    #: of the input that the history's scoring left on a CSR first layer
    #: (9.05 MB with the switch at 31%); predict_network now gathers its
    #: chunks as training does.
    sparse_max_density_by_size = (
        (4_096, 0.8),
        (100_000, 0.5),
        (300_000, 0.42),
        (None, 0.25),
    )
    #: Where some layer is on CSR by its own crossover, the layers above
    #: theirs go on CSR too when that puts every layer of the network on CSR
    #: and their products hold at most so many multiply-adds a step (kept
    #: weights times the batch's padded width, ``padded_width``): the
    #: network's passes (and with a softmax output and Adam or SGD, its
    #: whole steps) are then single compiled calls, which saves more than
    #: those products lose. Whole epochs of 784-300-100-10 networks
    #: (2026-12-08; the 784x300 layer on CSR), with the others on CSR against
    #: BLAS: at batches of 60, a 300x100 layer at 50-65% kept 0.77-0.84 (with
    #: SGD 0.75, a regressor 0.94; tanh, whose products do not apply it,
    #: 0.99), full with a full output 0.93; at 32 rows 0.91; at 128 and 200
    #: rows the 100x10 output alone 0.83-0.88, with a 300x100 at 30-40%
    #: 0.74-0.89 (1.6-3.3 million multiply-adds), at 60% 1.03 and at 80%
    #: 1.18 (4.8 and 6.4 million). A 300x300 (with a 100x300 on CSR) at 60%
    #: 0.88 and 66% 0.97 at 60 rows (3.6 and 4.0 million) but 1.13 at 75%,
    #: and at 32 rows, padded to 64 columns, 1.37 at 66%: the bound is set
    #: below the last of those. Not where every layer is dense: a 64-100-10
    #: network took 0.72 at 60 rows but 1.06 at 200, a 100-200-10 0.90 and
    #: 1.57, a 64-250-100-10 1.13 at 60.
    whole_csr_max_multiply_adds = 2_000_000
    #: Not read on this path (see ``sparse_max_density_by_size``).
    sparse_max_density = None
    #: Measured on whole epochs (784-300-100-10, global tickets, 2 BLAS
    #: threads, with the update skipping the pruned entries): against the
    #: gather-and-scatter epoch 0.92 with the first layer at 49% kept, 0.97
    #: at 38%, even at 30%; against the dense epoch 0.99-1.04 from 80% kept
    #: down to 30%. Not lower: a layer that trains its dense matrix holds 17
    #: bytes per position (weights, gradient, Adam's two moments, the pruned
    #: mask) where gather and scatter hold 8 plus about 16 per kept weight
    #: (the kept weights, their gradient and moments), and a
    #: fit to 95% with every partial dense layer so (down to 25%) peaked at
    #: 9.2 MB against the dense fit's 8.95.
    trains_dense_min_density = 0.35
    feature_major_gather = staticmethod(gather_transposed)
    #: The CSR products stream each kept weight's row of the chunk: over a
    #: 784-300-100-10 search's CSR networks (2026-12-08), chunks of 128 rows
    #: took 0.67-0.85 of the time of 512 (whose 1.6 MB of input leaves the
    #: L2 cache), 64 rows 0.67-0.86 and 256 0.73-0.95; 128 the fastest (or
    #: tied) in 8 rounds of 9.
    feature_major_prediction_rows = 128

    def update_flushes_subnormal(self, optimizer) -> bool:
        """The compiled updates do, in their pass (the others are numpy's)."""
        return type(optimizer) in COMPILED_OPTIMIZERS

    def feature_major_input(self, layer, M):
        if _is_sparse(M):
            return super().feature_major_input(layer, M)
        rows, n = _rows_of(layer, M, "input")
        return rows[:, :n].T

    def feature_major_buffer(self, units: int, batch_size: int, dtype) -> np.ndarray:
        # Whole blocks of columns for the CSR products (see
        # _compiled.padded_width), known to the kernels as a buffer of ours.
        return _own(units, padded_width(batch_size), dtype)

    # -- a layer's kernel ---------------------------------------------------------
    def choose_kernel(
        self, density: float, shape: tuple[int, int], batch_size: int | None = None
    ) -> str:
        """``"sparse"`` up to the crossover density of a layer of ``shape``
        (``sparse_max_density_by_size``) at batches of ``batch_size`` rows
        (see :func:`_batch_scale`), else ``"dense"``."""
        n_weights = shape[0] * shape[1]
        crossover = next(
            density_at_most
            for most, density_at_most in self.sparse_max_density_by_size
            if most is None or n_weights <= most
        )
        return "sparse" if density <= crossover * _batch_scale(batch_size) else "dense"

    def choose_kernels(
        self,
        densities: list[float],
        shapes: list[tuple[int, int]],
        batch_size: int | None,
        activations: tuple[str, str],
    ) -> list[str]:
        """Each layer's :meth:`choose_kernel`; but every layer on CSR where
        that makes the network's passes whole compiled calls (see
        :meth:`network_passes`), some layer is on CSR by its own choice and
        the others' products hold at most ``whole_csr_max_multiply_adds``."""
        kernels = super().choose_kernels(densities, shapes, batch_size, activations)
        if (
            batch_size is None
            or "sparse" not in kernels
            or "dense" not in kernels
            or not _passes_compiled(*activations, len(kernels))
        ):
            return kernels
        kept_above = sum(
            density * rows * columns
            for kernel, density, (rows, columns) in zip(kernels, densities, shapes)
            if kernel == "dense"
        )
        if kept_above * padded_width(batch_size) <= self.whole_csr_max_multiply_adds:
            return ["sparse"] * len(kernels)
        return kernels

    def pruned_entries(self, kept: np.ndarray) -> np.ndarray:
        # A byte per entry, which the compiled update reads (see
        # optimizer_update; gradients leaves these entries as they come):
        # zeroing a list of positions in the gradient first took 60 us of a
        # 784-300-100-10 step at 80% kept.
        return np.logical_not(kept).view(np.uint8)

    def gradient_at_kept_positions(self, kernel: str, density: float) -> bool:
        # Every CSR layer: the compiled kernel reads its CSR pattern.
        return kernel == "sparse"

    def kept_gradient_index(self, layer) -> None:
        return None  # the kernel reads the CSR pattern itself

    def gradient_buffer(self, layer) -> np.ndarray:
        # Never the weights' copy, even for a partial dense layer: the copy
        # is then only ever written where weights are kept, so that refresh
        # scatters the weights with no pass to clear it.
        return np.empty(layer.shape, dtype=layer.trainable.dtype)

    # -- a layer's step -----------------------------------------------------------
    def forward(self, layer, A, out: np.ndarray, activation: str) -> None:
        out_T = out.T
        out_rows = None if _is_sparse(A) else _rows_in_memory(out_T)
        if out_rows is None:
            super().forward(layer, A, out, activation)
            return
        # Softmax is applied across the rows once they are all written; exp
        # (the Poisson output) and tanh stay with numpy, after the identity.
        fused = activation in FUSED_FORWARD
        code = FUSED_FORWARD[activation if fused else "identity"]
        if layer.kernel == "sparse":
            rows, n = _rows_of(layer, A, "input")
            W_T = layer.csr_transposed
            bounds = _panels(layer, rows.dtype)
            if bounds is None:
                csr_forward(
                    W_T.indptr,
                    W_T.indices,
                    W_T.data,
                    rows,
                    n,
                    out_rows,
                    layer.bias,
                    code,
                    True,
                )
            else:
                csr_forward_panels(
                    W_T.indptr,
                    W_T.indices,
                    W_T.data,
                    bounds,
                    rows,
                    n,
                    out_rows,
                    layer.bias,
                    code,
                )
        else:
            np.matmul(layer.dense.T, A.T, out=out_T)
            bias_and_activation(out_rows, A.shape[0], layer.bias, code, True)
        if not fused:
            ACTIVATIONS[activation](out)

    def backward(
        self, layer, delta: np.ndarray, out: np.ndarray, below, activation: str
    ) -> None:
        out_T = out.T
        out_rows = below_rows = None
        if activation in ACTIVATION_CODES:
            out_rows = _rows_in_memory(out_T)
            below_rows = None if below is None else _rows_in_memory(below.T)
        if out_rows is None or (below is not None and below_rows is None):
            super().backward(layer, delta, out, below, activation)
            return
        code = 0 if below_rows is None else ACTIVATION_CODES[activation]
        if below_rows is None:
            below_rows = out_rows  # unread: the identity's derivative is 1
        if layer.kernel == "sparse":
            rows, n = _rows_of(layer, delta, "delta")
            W = layer.csr
            csr_backward(
                W.indptr, W.indices, W.data, rows, n, out_rows, below_rows, code
            )
        else:
            np.matmul(layer.dense, delta.T, out=out_T)
            differentiate(out_rows, delta.shape[0], below_rows, code)

    def gradients(self, layer, A, delta: np.ndarray) -> None:
        errors, n = _rows_of(layer, delta, "delta")
        row_sums(errors, n, layer.bias_grad)
        if layer.sddmm:
            inputs, n = _rows_of(layer, A, "input")
            W = layer.csr
            kept_gradient(W.indptr, W.indices, inputs, errors, n, layer.grad)
            return
        self.dense_gradient(layer, A, delta)
        # A layer that trains its dense matrix leaves its pruned entries'
        # gradient to the update, which reads them as zero.
        if not layer.trains_dense:
            gather(layer.full_grad.ravel(), layer.positions, layer.grad)

    def refresh(self, layer) -> None:
        if layer.kernel == "sparse":
            gather(layer.values, layer.transpose_order, layer.csr_transposed.data)
        elif not layer.trains_dense:
            scatter(layer.values, layer.positions, layer.dense.ravel())

    # -- a training step ----------------------------------------------------------
    def network_passes(self, network, activations: list, deltas: list):
        """The whole network's passes in one compiled call each
        (:class:`CsrNetworkPasses`) when every layer is CSR and computes its
        activation in its compiled product; else ``network``."""
        layers = network.layers
        if not (
            _passes_compiled(network.activation, network.out_activation, len(layers))
            # Buffers of the layers' dtype (partial_fit may bring another).
            and activations[1].dtype == layers[0].trainable.dtype
            and all(layer.kernel == "sparse" for layer in layers)
            # One index type for the whole network: numba's tuples of arrays
            # are indexed in a loop only when all their arrays share a type.
            and len({layer.csr.indices.dtype for layer in layers}) == 1
            and len({layer.csr_transposed.indices.dtype for layer in layers}) == 1
            and len({layer.transpose_order.dtype for layer in layers}) == 1
        ):
            return network
        return CsrNetworkPasses(network, activations, deltas)

    def fused_step(self, passes, update, out_activation: str) -> Callable | None:
        """:meth:`CsrNetworkPasses.train` with ``update`` where a whole
        step takes one call (see :func:`_fused`), else None."""
        if _fused(passes, update, out_activation):
            return partial(passes.train, update)
        return None

    def fused_steps(self, passes, update, out_activation: str) -> Callable | None:
        """:meth:`CsrNetworkPasses.train_batches` with ``update`` where
        :meth:`fused_step` gives a step, else None."""
        if _fused(passes, update, out_activation):
            return partial(passes.train_batches, update)
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
        if out_activation != "softmax":
            return super().loss_and_error(
                out_activation, targets, outputs, weights, weight_sum, errors
            )
        # The loss and the error in one call, as the numpy path computes them
        # (a batch that weighs nothing gets a zero error, which is not read).
        if weights is None:
            weights = _NO_WEIGHTS.get(outputs.dtype)
            if weights is None:
                weights = _NO_WEIGHTS.setdefault(
                    outputs.dtype, np.empty(0, outputs.dtype)
                )
        scale = 1.0 / weight_sum if weight_sum > 0 else 0.0
        return log_loss_and_error(
            outputs.T,
            targets.shape[0],
            targets,
            weights,
            outputs.dtype.type(scale),
            errors.T,
        )

    def optimizer_update(
        self,
        optimizer,
        params: np.ndarray,
        grads: np.ndarray,
        n_weights: int,
        alpha: float,
        layers: list,
    ) -> Callable[[float, float], float | None]:
        # The pruned entries of the layers that train their dense matrix, a
        # byte per weight of the flat buffer (empty when there are none); the
        # layers' masks become views of it, as their arrays are of the flat
        # buffers (one copy of each byte).
        pruned = np.zeros(0, np.uint8)
        if any(layer.pruned is not None for layer in layers):
            pruned = np.zeros(n_weights, np.uint8)
            at = 0
            for layer in layers:
                size = layer.trainable.size
                if layer.pruned is not None:
                    pruned[at : at + size] = layer.pruned
                    layer.pruned = pruned[at : at + size]
                at += size
            if at != n_weights:
                raise ValueError(
                    f"The layers hold {at} weights; the flat buffers {n_weights}."
                )
        if type(optimizer) not in COMPILED_OPTIMIZERS:  # numpy's passes
            update = super().optimizer_update(
                optimizer, params, grads, n_weights, alpha, layers
            )
            if not pruned.size:
                return update
            pruned_at = np.flatnonzero(pruned)

            def masked_update(learning_rate: float, weight_sum: float) -> None:
                grads[pruned_at] = 0
                update(learning_rate, weight_sum)

            return masked_update
        return CompiledUpdate(optimizer, params, grads, n_weights, alpha, pruned)


# The compiled updates: one pass over the flat buffers, with the numpy path's
# float operations (the same result where no value is subnormal), then the
# subnormal numbers among the new parameters and state set to zero (see
# _numpy.flush_subnormal, and the float mode in _compiled's docstring; at
# every step, where it costs Adam and SGD at most 4%; the numpy path does it
# every 20 steps). The L2 coefficient ``alpha / weight_sum`` applies to the first
# ``n_weights`` entries, and so does the mask ``pruned``; with neither, every
# entry takes the biases' loop. With an L2 term they return the weights' sum
# of squares after the update (None otherwise), which the next step's loss
# reads (see TrainingStep).

#: The optimizers with a compiled update (exactly these classes: a subclass
#: may change the step).
COMPILED_OPTIMIZERS = (Adam, SGD)


def _passes_compiled(hidden: str, out: str, n_layers: int) -> bool:
    """Whether every product of a network with these activations applies its
    activation in its compiled call (what a whole pass in one call needs)."""
    # (A network with no hidden layer has no hidden activation.)
    return (hidden in FUSED_FORWARD or n_layers == 1) and out in FUSED_FORWARD


def _fused(passes, update, out_activation: str) -> bool:
    """Whether a whole step takes one call: a softmax output, ``passes`` a
    whole network's compiled passes, ``update`` compiled (which sets
    subnormal numbers to zero itself, so no step needs ``flush_subnormal``)."""
    return (
        isinstance(passes, CsrNetworkPasses)
        and isinstance(update, CompiledUpdate)
        and out_activation == "softmax"
    )


class CompiledUpdate:
    """A round's update on the compiled path: Adam's or SGD's one pass
    (:func:`~sklearn_lth._kernels._compiled.optimizer_step`), called as
    ``update(learning_rate, weight_sum)``, or within a whole compiled step
    (:meth:`CsrNetworkPasses.train`) through :meth:`prepare`, ``operands``
    and :meth:`commit`.

    Parameters
    ----------
    optimizer : Adam or SGD
        Its hyper-parameters and state; Adam's step count advances with
        each update.
    params, grads : ndarray
        The flat buffers.
    n_weights : int
        The weights lead the buffers (the L2 term's entries).
    alpha : float
        The L2 coefficient.
    pruned : ndarray of uint8
        A byte per weight (1: pruned, zero gradient), or empty.
    """

    def __init__(self, optimizer, params, grads, n_weights, alpha, pruned):
        self.optimizer, self.alpha = optimizer, alpha
        tiny = np.finfo(params.dtype).tiny
        # Filled by prepare: Adam's beta_1, beta_2, 1 / scale, epsilon, the
        # L2 coefficient and the smallest normal number; SGD's learning rate,
        # momentum, L2 coefficient, smallest normal number and Nesterov.
        if isinstance(optimizer, Adam):
            solver, state = "adam", (optimizer.first[0], optimizer.second[0])
            _, epsilon = optimizer.scale_at(1.0, 1)
            values = [optimizer.beta_1, optimizer.beta_2, 0, epsilon, 0, tiny]
        else:
            solver, state = "sgd", (optimizer.velocities[0],) * 2
            values = [0, optimizer.momentum, 0, tiny, optimizer.nesterov]
        self.constants = np.array(values, dtype=params.dtype)
        # The L2 term's entries, or none (without L2 nor pruned entries the
        # weights take the biases' loop, see adam_step).
        n = n_weights if alpha or pruned.size else 0
        #: optimizer_step's arguments.
        self.operands = (
            SOLVER_CODES[solver],
            params,
            grads,
            *state,
            n,
            self.constants,
            pruned,
        )

    def prepare(self, learning_rate: float, weight_sum: float) -> None:
        """Set the constants of the next update."""
        self._set(self.constants, learning_rate, weight_sum, 1)

    def constants_for(self, learning_rates: list, weight_sums: list) -> np.ndarray:
        """The constants of the next updates, a row each (the next first),
        as :meth:`prepare` would set them before each."""
        rows = np.tile(self.constants, (len(learning_rates), 1))
        for k, (rate, weight_sum) in enumerate(zip(learning_rates, weight_sums)):
            self._set(rows[k], rate, weight_sum, k + 1)
        return rows

    def _set(self, constants, learning_rate, weight_sum, updates_ahead) -> None:
        """Write the per-update constants of the ``updates_ahead``-th update
        from now into ``constants``."""
        optimizer = self.optimizer
        l2 = self.alpha / weight_sum
        if isinstance(optimizer, Adam):
            scale, _ = optimizer.scale_at(learning_rate, optimizer.t + updates_ahead)
            constants[2], constants[4] = 1.0 / scale, l2
        else:
            constants[0], constants[2] = learning_rate, l2

    def commit(self, updates: int = 1) -> None:
        """Count ``updates`` made (with :meth:`prepare`'s or
        :meth:`constants_for`'s constants)."""
        if isinstance(self.optimizer, Adam):
            self.optimizer.t += updates

    def __call__(self, learning_rate: float, weight_sum: float) -> float | None:
        """Update; return the weights' sum of squares when there is an L2
        term (else None)."""
        self.prepare(learning_rate, weight_sum)
        squares = optimizer_step(*self.operands)
        self.commit()
        return squares if self.alpha else None


class CsrNetworkPasses:
    """A network of CSR layers' forward and backward passes and refresh,
    each one compiled call over every layer.

    Computes what :class:`~sklearn_lth._network.Network`'s ``forward``,
    ``backward`` and ``sync`` compute, with the same kernels in the same
    order (the same bits), on the buffers of one training step: its
    activations and errors, the layers' flat parameter and gradient views,
    their CSR arrays (fixed for a round). A step of a 784-300-100-10
    network at 2% kept spent about 67 of its 192 us in Python and dispatch
    between some twenty compiled calls.

    Parameters
    ----------
    network : Network
        Flattened, every layer on the CSR kernel.
    activations, deltas : list of ndarray
        The step's buffers (:meth:`Network.allocate`), for good.
    """

    def __init__(self, network, activations: list, deltas: list):
        layers = network.layers
        self.network = network
        self.first = layers[0]
        self.hidden_code = ACTIVATION_CODES[network.activation]
        self.out_code = ACTIVATION_CODES[network.out_activation]
        self.outputs = tuple(_rows_in_memory(A.T) for A in activations[1:])
        self.errors = tuple(_rows_in_memory(D.T) for D in deltas)
        dtype = layers[0].trainable.dtype
        no_panels = np.empty((0, 0), dtype=np.intp)
        self.forward_operands = (
            tuple(layer.csr_transposed.indptr for layer in layers),
            tuple(layer.csr_transposed.indices for layer in layers),
            tuple(layer.csr_transposed.data for layer in layers),
            tuple(
                no_panels if bounds is None else bounds
                for bounds in (_panels(layer, dtype) for layer in layers)
            ),
            tuple(layer.bias for layer in layers),
        )
        self.backward_operands = (
            tuple(layer.csr.indptr for layer in layers),
            tuple(layer.csr.indices for layer in layers),
            tuple(layer.csr.data for layer in layers),
        )
        self.gradients = (
            tuple(layer.grad for layer in layers),
            tuple(layer.bias_grad for layer in layers),
        )
        # The refresh: W.T's data from W's through these permutations.
        self.orders = tuple(layer.transpose_order for layer in layers)
        self.dtype = dtype
        self.no_weights = np.empty(0, dtype)  # (train's unweighted batches)
        self.largest = float(np.finfo(dtype).max)
        # The batch's feature-major rows of the last forward pass (None: the
        # network computed it layer by layer).
        self.inputs = None
        self._targets = None  # train_batches' one-hot rows, kept between calls

    def forward(self, activations: list) -> np.ndarray:
        """As :meth:`Network.forward`, which computes a sparse batch, or
        one of another dtype (``partial_fit`` on new data)."""
        n = self._take_batch(activations[0])
        if n is None:
            return self.network.forward(activations)
        network_forward(
            self.inputs,
            n,
            *self.forward_operands,
            self.outputs,
            self.hidden_code,
            self.out_code,
        )
        return activations[-1][:n]

    def _take_batch(self, batch) -> int | None:
        """Read ``batch`` feature-major (``self.inputs``) and return its
        rows; None for a batch the network computes layer by layer (sparse
        rows, or another dtype: ``partial_fit`` on new data)."""
        if _is_sparse(batch) or batch.dtype != self.dtype:
            self.inputs = None
            return None
        self.inputs, n = _rows_of(self.first, batch, "input")
        return n

    def backward(self, activations: list, deltas: list) -> None:
        """As :meth:`Network.backward`, after :meth:`forward`."""
        if self.inputs is None:
            self.network.backward(activations, deltas)
            return
        network_backward(
            self.inputs,
            activations[0].shape[0],
            *self.backward_operands,
            self.outputs,
            self.errors,
            *self.gradients,
            self.hidden_code,
        )

    def sync(self) -> None:
        """As :meth:`Network.sync`."""
        network_refresh(
            self.backward_operands[2], self.orders, self.forward_operands[2]
        )

    def train(
        self,
        update: CompiledUpdate,
        batch,
        targets: np.ndarray,
        weights: np.ndarray | None,
        weight_sum: float,
        learning_rate: float,
        penalty: float,
    ) -> tuple[float, float] | None:
        """A whole training step of a softmax network in one compiled call
        (:func:`~sklearn_lth._kernels._compiled.network_step`): forward, the
        loss plus ``penalty``, and when it is finite backward, ``update`` and
        refresh, as the calls one by one compute them (the same bits). The
        Python between those calls had cost a 784-300-100-10 network at 2%
        kept about a sixth of its step (the same kernels called from a
        compiled loop: 86 us a step against 104).

        Returns the loss and the weights' sum of squares after the update,
        or None for a batch that :meth:`forward` computes layer by layer,
        or that weighs so little that its scale overflows the dtype (the
        caller then takes the step call by call). Only for a positive
        ``weight_sum``.
        """
        scale = 1.0 / weight_sum
        if scale > self.largest:  # (the calls one by one cast it silently)
            return None
        n = self._take_batch(batch)
        if n is None:
            return None
        if weights is None:
            weights = self.no_weights
        update.prepare(learning_rate, weight_sum)
        loss, squares = network_step(
            self.inputs,
            n,
            self.forward_operands,
            self.outputs,
            self.errors,
            self.hidden_code,
            self.out_code,
            targets,
            weights,
            self.dtype.type(scale),
            penalty,
            self.backward_operands,
            self.gradients,
            update.operands,
            self.orders,
        )
        if math.isfinite(loss):
            update.commit()
        return loss, squares

    def train_batches(
        self,
        update: CompiledUpdate,
        X: np.ndarray,
        positions: np.ndarray,
        bounds: np.ndarray,
        Y: np.ndarray,
        inputs: np.ndarray,
        learning_rates: list,
        penalty: float,
        alpha: float,
    ) -> tuple[np.ndarray, float]:
        """Several unweighted steps of :meth:`train` in one compiled call
        (:func:`~sklearn_lth._kernels._compiled.network_steps`), the same
        bits: step ``k`` on the rows ``X[positions[bounds[k]:bounds[k + 1]]]``
        of ``X`` (of the network's dtype), gathered into the feature-major
        buffer ``inputs``, at ``learning_rates[k]``; the first step's loss
        adds ``penalty``, the later ones' the L2 term of coefficient
        ``alpha``. The Python and dispatch between the steps had cost a
        784-300-100-10 network at 2% kept a tenth of its epoch (5.9 ms
        against 6.6).

        Returns the losses of the steps taken (up to and including the first
        that is not finite, which makes no update) and the weights' sum of
        squares after the last update (NaN if none).
        """
        rows = np.diff(bounds)
        most = int(rows.max())
        targets = self._targets
        if targets is None or targets.shape[0] < most or targets.dtype != Y.dtype:
            targets = self._targets = np.empty((most, Y.shape[1]), Y.dtype)
        losses = np.empty(rows.size)
        taken, squares = network_steps(
            X,
            positions,
            bounds,
            Y,
            targets,
            inputs,
            self.forward_operands,
            self.outputs,
            self.errors,
            self.hidden_code,
            self.out_code,
            self.no_weights,
            (1.0 / rows).astype(self.dtype),
            penalty,
            alpha,
            self.backward_operands,
            self.gradients,
            update.operands,
            update.constants_for(learning_rates, rows.tolist()),
            self.orders,
            losses,
        )
        self.inputs = inputs
        losses = losses[:taken]
        update.commit(taken if math.isfinite(losses[-1]) else taken - 1)
        return losses, squares
