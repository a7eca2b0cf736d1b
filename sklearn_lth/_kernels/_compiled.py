"""Compiled kernels of the training step (the optional ``fast`` extra: numba).

Called by :class:`~sklearn_lth._kernels._numba.NumbaBackend` only, and so
imported only by a fit that runs on the ``"numba"`` path (see
:mod:`sklearn_lth._config`); each kernel compiles on its first call for the
types that call uses (float32 or float64, int32 or int64 indices) and is
cached on disk (``cache=True``), so a fit compiles only what it runs, once
per machine.

Every kernel is serial: a parallel kernel between two multi-threaded BLAS
calls was measured to make a step 15 times slower (the threads fight), and
serial code gives the same bits whatever ``n_jobs`` or joblib backend.
``error_model="numpy"`` lets division and square roots vectorise (numba's
default checks them for zero, one element at a time).

Every kernel that computes with floats runs in the float mode that reads
and writes subnormal numbers (nonzero, below 1.2e-38 in float32) as zeros
of their sign, set for the kernel's duration and restored before it returns
(:func:`_subnormals_as_zero`; on x86, its MXCSR's FTZ and DAZ bits;
elsewhere no change): each operation on a subnormal number costs the CPU
some hundred cycles, and sparse training makes them (``_numpy.flush_subnormal``
says how). The caller's thread, numpy and BLAS's threads keep their mode,
and so do the two kernels prediction calls (:func:`csr_forward`,
:func:`bias_and_activation`, asked to with ``flush_subnormals=False``): a
probability below the smallest normal number stays what numpy makes it,
whatever the batch, rather than a zero whose log is -inf.

The optimizer updates use no ``fastmath`` and perform, element by element,
the numpy path's float operations in the same order: they give its bits
between two passes of ``_numpy.flush_subnormal``, the subnormal numbers set
to zero before the step (read as zero) and after it (written as zero); the
numpy path sets them to zero every few steps instead, and can differ where
a gradient or a step's own intermediate value is subnormal (a square of a
gradient below 1e-19, say): Adam then moves that parameter by about
``learning_rate * gradient / epsilon`` more or less (2e-35 for a gradient
of 1e-40 at the defaults).
The products, activations and sums agree with the numpy path to float
rounding, not bit for bit (they group their terms differently, and ``exp``
comes from another library; the forward tanh is numpy's on both paths).
:func:`kept_gradient`, a sum over the batch per kept weight, sums each
weight's columns in vectors and adds their lanes at the end (its own
order, written as LLVM IR: see :func:`_row_dots`), as BLAS's own dot
products do, and it and the CSR products contract a multiply and an add
into one fused multiply-add (``fastmath={"contract"}``), as BLAS does.
Every kernel names its float semantics, helpers included (see
``_SERIAL``), and every order is fixed by the compiled code, so results are
reproducible run to run on one machine, whichever kernels a process or the
disk cache compiled first; the reassociated sum and the fused
multiply-adds may differ between machines with other vector units, as
BLAS's results do.

The CSR products compute ``BLOCK`` columns of an output row at a time, their
sums held in registers from the first kept weight to the last: the
feature-major buffers that the network allocates have a multiple of
``BLOCK`` columns (see :func:`padded_width`), and a kernel handed arrays with
fewer falls back to a row-at-a-time loop. Columns past a batch's ``n`` are
computed too (from whatever the buffers hold there) and never read, but
by :func:`kept_gradient`, which sets the few it sums to zero first.
"""

from __future__ import annotations

import platform

import numba
import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from .._losses import l2_penalty

# Every kernel names its float semantics (fastmath=False: IEEE, in the
# order written): numba compiles a function that names none, called first
# from one that does, with the caller's, and keeps that compiled version
# (in memory and in the disk cache) for every caller, so a helper's results
# would depend on which kernel a process (or the cache) compiled first.
_SERIAL = dict(cache=True, nogil=True, error_model="numpy", fastmath=False)


def _serial(**options) -> dict:
    """``_SERIAL`` with ``options`` (another ``fastmath``, ``inline``)."""
    return {**_SERIAL, **options}


#: Columns a CSR product computes at once: 4 vectors of ``ROW_VECTOR_BYTES``
#: in float32 (see :func:`_add_scaled_row`), whose sums stay in registers
#: over a row's kept weights (LLVM had unrolled loops of 32 columns into
#: scalar code, 3 times slower).
BLOCK = 64


def padded_width(n: int) -> int:
    """The columns of a feature-major buffer for batches of ``n``: a
    multiple of ``BLOCK``, so that the CSR products can take whole blocks."""
    return -(-n // BLOCK) * BLOCK


@intrinsic
def _stack_array(typingctx, size, dtype):  # pragma: no cover
    """A pointer to ``size`` values of ``dtype`` on the stack.

    Memory no argument can alias: LLVM keeps it in registers across a loop.
    """

    def codegen(context, builder, signature, args):
        value_type = context.get_value_type(dtype.dtype)
        return cgutils.alloca_once(builder, value_type, size=args[0])

    return types.CPointer(dtype.dtype)(types.intp, dtype), codegen


#: The bits of the x86 control register MXCSR that make the vector unit treat
#: subnormal inputs as zero (DAZ, bit 6) and write zero for subnormal results
#: (FTZ, bit 15).
SUBNORMALS_AS_ZERO = 0x8040
#: Whether this machine has MXCSR (elsewhere the float mode is left alone).
_X86 = platform.machine().lower() in ("x86_64", "amd64", "i386", "i686")


def _mxcsr_call(builder, name: str, slot) -> None:
    pointer = builder.bitcast(slot, ir.IntType(8).as_pointer())
    function = cgutils.get_or_insert_function(
        builder.module,
        ir.FunctionType(ir.VoidType(), [pointer.type]),
        f"llvm.x86.sse.{name}",
    )
    builder.call(function, [pointer])


@intrinsic
def _subnormals_as_zero(typingctx, on):  # pragma: no cover
    """If ``on``, set this thread's float mode to read and write subnormal
    numbers as zero; return the mode it had, for :func:`_restore_float_mode`
    (0 and no change where there is no MXCSR)."""

    def codegen(context, builder, signature, args):
        if not _X86:
            return ir.Constant(ir.IntType(32), 0)
        saved = cgutils.alloca_once(builder, ir.IntType(32))
        _mxcsr_call(builder, "stmxcsr", saved)
        mode = builder.load(saved)
        with builder.if_then(args[0]):
            changed = cgutils.alloca_once(builder, ir.IntType(32))
            flushing = builder.or_(mode, ir.Constant(mode.type, SUBNORMALS_AS_ZERO))
            builder.store(flushing, changed)
            _mxcsr_call(builder, "ldmxcsr", changed)
        return mode

    return types.uint32(types.boolean), codegen


@intrinsic
def _restore_float_mode(typingctx, mode):  # pragma: no cover
    """Give this thread back the float mode ``mode`` that
    :func:`_subnormals_as_zero` returned."""

    def codegen(context, builder, signature, args):
        if _X86:
            saved = cgutils.alloca_once(builder, ir.IntType(32))
            builder.store(args[0], saved)
            _mxcsr_call(builder, "ldmxcsr", saved)
        return context.get_dummy_value()

    return types.void(types.uint32), codegen


@njit(**_SERIAL)
def float_mode():  # pragma: no cover
    """This thread's MXCSR (0 where there is none): for tests."""
    mode = _subnormals_as_zero(False)
    _restore_float_mode(mode)
    return mode


#: Lanes of the weights' sum of squares that the updates accumulate (see
#: adam_step): a sum in the written order would keep the loop from
#: vectorising; each lane's own sum keeps every float operation in order.
SQUARES_LANES = 16
#: Entries after which the lanes are added into a float64 total and start
#: again: float32 lanes alone drifted 1.5e-4 (relative) over 10 million
#: weights where numpy's dot drifts 2e-5; float64 lanes cost 11% of Adam.
SQUARES_CHUNK = 4096


@njit(**_SERIAL)
def _flushed(lanes, zero):  # pragma: no cover
    """The lanes' sum in float64, the lanes set back to ``zero``."""
    total = 0.0
    for lane in range(SQUARES_LANES):
        total += lanes[lane]
        lanes[lane] = zero
    return total


@njit(**_SERIAL)
def _normal_or_zero(x, tiny, zero):  # pragma: no cover
    """``x``, or a zero of its sign when ``x`` is subnormal (``0 < |x| <
    tiny``): what the float mode of :func:`_subnormals_as_zero` writes, on a
    machine without it."""
    return x * zero if x != zero and abs(x) < tiny else x


@njit(**_SERIAL)
def adam_step(
    params, grads, first, second, n_weights, constants, pruned
):  # pragma: no cover
    """Adam with the L2 term of the weights, in one pass over the parameters.

    ``constants`` (the parameters' dtype): ``beta_1``, ``beta_2``,
    ``1 / scale``, ``epsilon`` (both rescaled as in
    :class:`~sklearn_lth._optimizers.Adam`), the L2 coefficient, which
    applies to the first ``n_weights`` entries (the weights; biases follow),
    and the dtype's smallest normal number: the step, then the subnormal
    numbers among the new parameters and moments set to zero (see
    :func:`~sklearn_lth._kernels._numpy.flush_subnormal`; on x86 the float
    mode does it, see the module's docstring).
    ``pruned``, one byte per weight or empty: a weight marked 1 takes a zero
    gradient (a pruned entry of a layer that trains its dense matrix), and
    so, zero with zero moments, stays exactly zero.

    Returns the sum of the squares of the first ``n_weights`` entries after
    the update (the next step's L2 penalty, without a pass of its own), in
    ``SQUARES_LANES`` lanes of the parameters' dtype added up in float64
    every ``SQUARES_CHUNK`` entries.
    """
    mode = _subnormals_as_zero(True)
    beta_1, beta_2 = constants[0], constants[1]
    inverse_scale, epsilon, l2 = constants[2], constants[3], constants[4]
    tiny = constants[5]
    masked = pruned.size > 0
    zero = grads[:0].sum()  # the dtype's zero
    lanes = numba.carray(_stack_array(SQUARES_LANES, params.dtype), (SQUARES_LANES,))
    for lane in range(SQUARES_LANES):
        lanes[lane] = zero
    squares = 0.0
    whole = n_weights // SQUARES_LANES * SQUARES_LANES
    # The step is written out in each loop: the same body in helpers (the
    # gradient, the entry's update; called, or inlined by numba) made this
    # pass 23 times slower, no longer vectorised.
    for start in range(0, whole, SQUARES_LANES):
        for lane in range(SQUARES_LANES):
            i = start + lane
            g = grads[i]
            if l2 != 0:
                g += params[i] * l2
            if masked and pruned[i]:
                g = zero
            m = first[i] * beta_1 + g
            v = second[i] * beta_2 + g * g
            p = params[i] - m / ((np.sqrt(v) + epsilon) * inverse_scale)
            first[i] = _normal_or_zero(m, tiny, zero)
            second[i] = _normal_or_zero(v, tiny, zero)
            p = params[i] = _normal_or_zero(p, tiny, zero)
            lanes[lane] += p * p
        if (start + SQUARES_LANES) % SQUARES_CHUNK == 0:
            squares += _flushed(lanes, zero)
    squares += _flushed(lanes, zero)
    for i in range(whole, n_weights):
        g = grads[i]
        if l2 != 0:
            g += params[i] * l2
        if masked and pruned[i]:
            g = zero
        m = first[i] * beta_1 + g
        v = second[i] * beta_2 + g * g
        p = params[i] - m / ((np.sqrt(v) + epsilon) * inverse_scale)
        first[i] = _normal_or_zero(m, tiny, zero)
        second[i] = _normal_or_zero(v, tiny, zero)
        p = params[i] = _normal_or_zero(p, tiny, zero)
        squares += p * p
    # The biases, through views that start at 0: LLVM left a loop from
    # ``n_weights`` scalar (3 times slower per entry; a fit with alpha=0 and
    # no pruned entries runs every parameter through this loop).
    params, grads = params[n_weights:], grads[n_weights:]
    first, second = first[n_weights:], second[n_weights:]
    for i in range(params.size):
        g = grads[i]
        m = first[i] * beta_1 + g
        v = second[i] * beta_2 + g * g
        p = params[i] - m / ((np.sqrt(v) + epsilon) * inverse_scale)
        first[i] = _normal_or_zero(m, tiny, zero)
        second[i] = _normal_or_zero(v, tiny, zero)
        p = params[i] = _normal_or_zero(p, tiny, zero)
    _restore_float_mode(mode)
    return squares


@njit(**_SERIAL)
def sgd_step(
    params, grads, velocities, n_weights, constants, nesterov, pruned
):  # pragma: no cover
    """SGD with (Nesterov) momentum and the L2 term, in one pass.

    ``constants``: learning rate, momentum, L2 coefficient (first
    ``n_weights`` entries only) and the smallest normal number, in the
    parameters' dtype; ``pruned``, the subnormal numbers set to zero and the
    sum of squares returned as in :func:`adam_step`.
    """
    mode = _subnormals_as_zero(True)
    lr, momentum, l2, tiny = constants[0], constants[1], constants[2], constants[3]
    masked = pruned.size > 0
    zero = grads[:0].sum()
    lanes = numba.carray(_stack_array(SQUARES_LANES, params.dtype), (SQUARES_LANES,))
    for lane in range(SQUARES_LANES):
        lanes[lane] = zero
    squares = 0.0
    whole = n_weights // SQUARES_LANES * SQUARES_LANES
    for start in range(0, whole, SQUARES_LANES):
        for lane in range(SQUARES_LANES):
            i = start + lane
            g = grads[i]
            if l2 != 0:
                g += params[i] * l2
            if masked and pruned[i]:
                g = zero
            _sgd_update(params, velocities, i, g, lr, momentum, nesterov, tiny)
            lanes[lane] += params[i] * params[i]
        if (start + SQUARES_LANES) % SQUARES_CHUNK == 0:
            squares += _flushed(lanes, zero)
    squares += _flushed(lanes, zero)
    for i in range(whole, n_weights):
        g = grads[i]
        if l2 != 0:
            g += params[i] * l2
        if masked and pruned[i]:
            g = zero
        _sgd_update(params, velocities, i, g, lr, momentum, nesterov, tiny)
        squares += params[i] * params[i]
    # The biases, which have no L2 term, through views that start at 0 (see
    # adam_step).
    params, grads = params[n_weights:], grads[n_weights:]
    velocities = velocities[n_weights:]
    for i in range(params.size):
        _sgd_update(params, velocities, i, grads[i], lr, momentum, nesterov, tiny)
    _restore_float_mode(mode)
    return squares


#: The compiled updates, by the number :func:`optimizer_step` and
#: :func:`network_step` take.
SOLVER_CODES = {"adam": 0, "sgd": 1}


@njit(**_SERIAL)
def optimizer_step(
    solver, params, grads, state, more_state, n_weights, constants, pruned
):  # pragma: no cover
    """:func:`adam_step` (``solver`` 0; its moments ``state`` and
    ``more_state``) or :func:`sgd_step` (1; its velocities ``state``,
    Nesterov's momentum when ``constants[4]`` is not zero); returns theirs."""
    if solver == 0:
        return adam_step(params, grads, state, more_state, n_weights, constants, pruned)
    nesterov = constants[4] != 0
    return sgd_step(params, grads, state, n_weights, constants, nesterov, pruned)


@njit(**_SERIAL)
def _sgd_update(
    params, velocities, i, g, lr, momentum, nesterov, tiny
):  # pragma: no cover
    g = g * lr
    v = velocities[i] * momentum - g
    if nesterov:
        p = (params[i] - g) + v * momentum
    else:
        p = params[i] + v
    zero = tiny - tiny  # the dtype's
    velocities[i] = _normal_or_zero(v, tiny, zero)
    params[i] = _normal_or_zero(p, tiny, zero)


#: An index as an unsigned integer: numba then indexes with no check for a
#: negative index (a signed index costs a test and a conditional move per
#: access, a quarter of a CSR product's time in its inner loop). Only for
#: indices known to be valid: the network's own CSR arrays, positions and batch rows.
_unsigned = numba.uintp


@njit(**_SERIAL)
def gather(source, positions, out):  # pragma: no cover
    """``out[k] = source[positions[k]]``."""
    for k in range(positions.size):
        out[k] = source[_unsigned(positions[k])]


#: Bytes of the vectors :func:`gather_transposed` moves: a tile of 8 float32
#: (or 4 float64) rows by as many features is loaded, transposed in
#: registers and stored, 8 (or 4) stores where an element at a time took 64.
TILE_BYTES = 32


def _index_at(context, builder, array_type, array, position):
    """``array[position]`` (an integer array) as an unsigned ``intp``, as
    :data:`_unsigned` indexes."""
    value = builder.load(
        cgutils.get_item_pointer(
            context, builder, array_type, array, [position], wraparound=False
        )
    )
    intp = context.get_value_type(types.intp)
    return builder.zext(value, intp) if value.type.width < intp.width else value


def _shuffle(builder, a, b, mask):
    lanes = ir.Constant(ir.VectorType(ir.IntType(32), len(mask)), list(mask))
    return builder.shuffle_vector(a, b, lanes)


def _transposed(builder, vectors: list) -> list:
    """The columns of the square tile whose rows are ``vectors`` (8 or 4
    lanes): interleaves of 1, then 2 (then 4) lanes."""
    if len(vectors) == 4:
        pairs = []
        for a, b in zip(vectors[::2], vectors[1::2]):
            pairs += [_shuffle(builder, a, b, (0, 4, 2, 6))]
            pairs += [_shuffle(builder, a, b, (1, 5, 3, 7))]
        low, high = (0, 1, 4, 5), (2, 3, 6, 7)
        return [
            _shuffle(builder, pairs[0], pairs[2], low),
            _shuffle(builder, pairs[1], pairs[3], low),
            _shuffle(builder, pairs[0], pairs[2], high),
            _shuffle(builder, pairs[1], pairs[3], high),
        ]
    pairs = []
    for a, b in zip(vectors[::2], vectors[1::2]):
        pairs += [_shuffle(builder, a, b, (0, 8, 1, 9, 4, 12, 5, 13))]
        pairs += [_shuffle(builder, a, b, (2, 10, 3, 11, 6, 14, 7, 15))]
    quads = []
    for low, high, low2, high2 in (pairs[:4], pairs[4:]):
        for a, b in ((low, low2), (high, high2)):
            quads += [_shuffle(builder, a, b, (0, 1, 8, 9, 4, 5, 12, 13))]
            quads += [_shuffle(builder, a, b, (2, 3, 10, 11, 6, 7, 14, 15))]
    columns = [None] * 8
    for i in range(4):
        a, b = quads[i], quads[4 + i]
        columns[i] = _shuffle(builder, a, b, (0, 1, 2, 3, 8, 9, 10, 11))
        columns[i + 4] = _shuffle(builder, a, b, (4, 5, 6, 7, 12, 13, 14, 15))
    return columns


@intrinsic
def _transpose_tile(typingctx, X, rows, n, k0, f0, out):  # pragma: no cover
    """``out[f0 + i, k0 + j] = X[rows[min(k0 + j, n - 1)], f0 + i]`` for
    ``i, j`` below the tile's width (``TILE_BYTES`` of values); each row of
    ``X`` and of ``out`` must have contiguous values. Only for ``X`` and
    ``out`` of one dtype of 4 or 8 bytes (a copy of bits); for others it
    does nothing (:func:`gather_transposed` does not call it for them)."""
    bits = getattr(X.dtype, "bitwidth", 0)
    tiled = X.dtype == out.dtype and bits in (32, 64)
    width = TILE_BYTES * 8 // bits if tiled else 0

    def codegen(context, builder, signature, args):
        if not tiled:
            return context.get_dummy_value()
        X_type, rows_type, _, _, _, out_type = signature.args
        X_array = context.make_array(X_type)(context, builder, args[0])
        rows_array = context.make_array(rows_type)(context, builder, args[1])
        out_array = context.make_array(out_type)(context, builder, args[5])
        n, k0, f0 = args[2], args[3], args[4]
        last = builder.sub(n, ir.Constant(n.type, 1))
        vector = ir.VectorType(context.get_data_type(X_type.dtype), width)
        align = X_type.dtype.bitwidth // 8
        loaded = []
        for j in range(width):
            k = builder.add(k0, ir.Constant(k0.type, j))
            k = builder.select(builder.icmp_signed("<", k, n), k, last)
            row = _index_at(context, builder, rows_type, rows_array, k)
            start = cgutils.get_item_pointer(
                context, builder, X_type, X_array, [row, f0], wraparound=False
            )
            pointer = builder.bitcast(start, vector.as_pointer())
            loaded.append(builder.load(pointer, align=align))
        for i, column in enumerate(_transposed(builder, loaded)):
            f = builder.add(f0, ir.Constant(f0.type, i))
            start = cgutils.get_item_pointer(
                context, builder, out_type, out_array, [f, k0], wraparound=False
            )
            builder.store(
                column, builder.bitcast(start, vector.as_pointer()), align=align
            )
        return context.get_dummy_value()

    signature = types.void(X, rows, types.intp, types.intp, types.intp, out)
    return signature, codegen


@njit(**_SERIAL)
def gather_transposed(X, rows, out):  # pragma: no cover
    """``out[:, k] = X[rows[k]]``: a mini-batch gathered feature-major.

    In square tiles (:func:`_transpose_tile`) where the rows of ``X`` and
    ``out`` are contiguous, a tile's width of rows at a time, each read
    whole before the next (rows read side by side, features outermost, took
    6.5 us alone against 11.7, but 41-46 us inside the steps of a 20% kept
    network against 21-29, and epochs there 1.02-1.10 times as long, at 2%
    and 5% kept 0.98-1.12, processes taking turns: a few rows streamed whole
    are what the cache's prefetcher follows from L3);
    a batch that does not fill its last tile fills it with
    its last row, in ``out``'s columns past the batch (a buffer's padding,
    from which the products compute columns nobody reads). The rest, and
    arrays of two dtypes or of other sizes than 4 and 8 bytes, one element
    at a time.
    """
    n = rows.size
    n_features = X.shape[1]
    width = TILE_BYTES // X.itemsize
    tiled_features = 0
    tiled_columns = 0
    if (
        n
        and X.dtype == out.dtype
        and (X.itemsize == 4 or X.itemsize == 8)
        and X.strides[1] == X.itemsize
        and out.strides[1] == out.itemsize
    ):
        tiled_features = n_features - n_features % width
        tiled_columns = min(-(-n // width) * width, out.shape[1] // width * width)
    for k0 in range(0, tiled_columns, width):
        for f0 in range(0, tiled_features, width):
            _transpose_tile(X, rows, n, k0, f0, out)
    for f in range(n_features):
        for k in range(0 if f >= tiled_features else min(tiled_columns, n), n):
            out[f, k] = X[_unsigned(rows[k]), f]


@njit(**_SERIAL)
def scatter(values, positions, out):  # pragma: no cover
    """``out[positions[k]] = values[k]``."""
    for k in range(positions.size):
        out[_unsigned(positions[k])] = values[k]


# The activations a layer's kernels apply (or differentiate) as they write a
# row, and softmax, applied across the rows once they are all written (an
# output activation: never differentiated). exp stays with numpy, and so
# does the forward tanh (see FUSED_FORWARD).
ACTIVATION_CODES = {"identity": 0, "relu": 1, "tanh": 2, "logistic": 3, "softmax": 4}
#: The activations a product applies in its own compiled call. Not tanh: the
#: compiled code calls a scalar tanh per value, 10 times slower than numpy's
#: vectorised one (277 against 27 us for a 300 x 60 float32 layer; a tanh
#: network's compiled epoch took 0.93 of the numpy path's, against 0.57 for
#: relu), so the caller applies numpy's after the identity. Its derivative,
#: ``1 - z * z``, stays compiled.
FUSED_FORWARD = {
    name: code for name, code in ACTIVATION_CODES.items() if name != "tanh"
}


@njit(**_SERIAL)
def _zero_and_one(array):  # pragma: no cover
    """0 and 1 in ``array``'s dtype (a literal would be float64)."""
    constants = np.zeros(2, array.dtype)
    constants[1] = 1
    return constants[0], constants[1]


@njit(**_SERIAL)
def _activate_row(out, i, n, code, zero, one):  # pragma: no cover
    """Apply activation ``code`` to ``out[i, :n]``, as the numpy path does."""
    if code == 1:  # relu: np.maximum(z, 0), which keeps a NaN
        for j in range(n):
            if out[i, j] < zero:
                out[i, j] = zero
    elif code == 2:
        for j in range(n):
            out[i, j] = np.tanh(out[i, j])
    elif code == 3:  # 1 / (exp(-z) + 1)
        for j in range(n):
            out[i, j] = one / (np.exp(-out[i, j]) + one)


#: Columns :func:`_softmax_columns` takes at a time.
SOFTMAX_COLUMNS = 32


@njit(**_SERIAL)
def _softmax_columns(out, n):  # pragma: no cover
    """Softmax of each column of ``out[:, :n]`` (one sample per column).

    As the numpy path: shifted by the column's maximum, exponentiated, then
    divided by the column's sum (summed in row order). ``SOFTMAX_COLUMNS``
    columns at a time, their maxima and sums in stack arrays: no allocation,
    which could fail between a kernel's setting of the float mode and its
    restoring it.
    """
    width = SOFTMAX_COLUMNS
    shift = numba.carray(_stack_array(width, out.dtype), (width,))
    total = numba.carray(_stack_array(width, out.dtype), (width,))
    zero = out[:0, 0].sum()  # the dtype's zero
    for first in range(0, n, width):
        m = min(width, n - first)
        columns = out[:, first : first + m]
        for j in range(m):
            shift[j] = columns[0, j]
            total[j] = zero
        for i in range(1, out.shape[0]):
            for j in range(m):
                shift[j] = max(shift[j], columns[i, j])
        for i in range(out.shape[0]):
            for j in range(m):
                e = np.exp(columns[i, j] - shift[j])
                columns[i, j] = e
                total[j] += e
        for i in range(out.shape[0]):
            for j in range(m):
                columns[i, j] /= total[j]


@njit(**_SERIAL)
def _differentiate_row(errors, activations, i, n, code, one):  # pragma: no cover
    """Multiply ``errors[i, :n]`` by the derivative at ``activations[i, :n]``.

    Written in terms of the activation's output, as the numpy path's.
    """
    if code == 1:  # relu: multiplied by (z > 0)
        for j in range(n):
            errors[i, j] *= one if activations[i, j] > 0 else one - one
    elif code == 2:
        for j in range(n):
            z = activations[i, j]
            errors[i, j] *= one - z * z
    elif code == 3:
        for j in range(n):
            z = activations[i, j]
            errors[i, j] = (errors[i, j] * z) * (one - z)


@njit(**_serial(fastmath={"contract"}))
def _csr_row_product(indptr, indices, data, rows, n, out, i):  # pragma: no cover
    """``out[i, :n] += sum_k data[k] * rows[indices[k], :n]`` over row i's k.

    Four stored entries per pass over the output row, so that the row is
    loaded and stored a quarter as often.
    """
    k, end = indptr[i], indptr[i + 1]
    while k + 4 <= end:
        w0, w1, w2, w3 = data[k], data[k + 1], data[k + 2], data[k + 3]
        c0, c1, c2, c3 = indices[k], indices[k + 1], indices[k + 2], indices[k + 3]
        for j in range(n):
            out[i, j] += (
                w0 * rows[c0, j] + w1 * rows[c1, j] + w2 * rows[c2, j]
            ) + w3 * rows[c3, j]
        k += 4
    while k < end:
        w, c = data[k], indices[k]
        for j in range(n):
            out[i, j] += w * rows[c, j]
        k += 1


@njit(**_serial(fastmath={"contract"}))
def _csr_row_tail(indptr, indices, data, rows, first, n, out, i):  # pragma: no cover
    """:func:`_csr_row_product` on the columns ``first:n`` (after whole
    blocks), through views that start there: a loop from ``first`` over
    the whole rows measured 3 times slower."""
    k, end = indptr[i], indptr[i + 1]
    written, m = out[i, first:n], n - first
    while k + 4 <= end:
        w0, w1, w2, w3 = data[k], data[k + 1], data[k + 2], data[k + 3]
        r0, r1 = rows[indices[k], first:n], rows[indices[k + 1], first:n]
        r2, r3 = rows[indices[k + 2], first:n], rows[indices[k + 3], first:n]
        for j in range(m):
            written[j] += (w0 * r0[j] + w1 * r1[j] + w2 * r2[j]) + w3 * r3[j]
        k += 4
    while k < end:
        w, row = data[k], rows[indices[k], first:n]
        for j in range(m):
            written[j] += w * row[j]
        k += 1


@njit(**_SERIAL)
def _block_columns(n, rows, out):  # pragma: no cover
    """How many of the first columns the CSR products take in whole blocks.

    Every whole block of ``n``; the last part block too when it is more
    than half a block and both arrays have its columns (a padded buffer).
    The columns after are taken a row at a time.
    """
    whole = n // BLOCK * BLOCK
    padded = whole + BLOCK
    if 2 * (n - whole) > BLOCK and padded <= rows.shape[1] and padded <= out.shape[1]:
        return padded
    return whole


def _float_bits(dtype) -> int:
    """The bits of a float32 or float64 numba type; 0 for any other."""
    if isinstance(dtype, types.Float) and dtype.bitwidth in (32, 64):
        return dtype.bitwidth
    return 0


@intrinsic
def _of_floats(typingctx, array):  # pragma: no cover
    """Whether ``array`` holds float32 or float64 values (a constant)."""
    floats = bool(_float_bits(array.dtype))

    def codegen(context, builder, signature, args):
        return context.get_constant(types.boolean, floats)

    return types.boolean(array), codegen


def _fmuladd(builder, vector, bits: int):
    """LLVM's multiply-add of ``vector``s of ``bits``-bit floats, fused where
    the CPU can (as ``fastmath={"contract"}`` makes ``a * b + c``)."""
    return cgutils.get_or_insert_function(
        builder.module,
        ir.FunctionType(vector, [vector] * 3),
        f"llvm.fmuladd.v{vector.count}f{bits}",
    )


#: Bytes of the vectors in which :func:`_add_scaled_row` adds a row's block:
#: an AVX-512 register (LLVM's loops use 32-byte ones on these CPUs; a
#: machine with narrower vectors takes each in two). A 784x300 float32
#: forward product with its rows in L1: 4.2-5.0 cycles a kept weight
#: against 5.5-6.9 in 32-byte vectors (the same sums, the same bits).
ROW_VECTOR_BYTES = 64


@intrinsic
def _add_scaled_row(typingctx, sums, w, rows, r, j0):  # pragma: no cover
    """``sums[j] += w * rows[r, j0 + j]`` for ``j`` below ``BLOCK``, each a
    multiply-add as the loop compiled with ``fastmath={"contract"}`` makes
    it, in vectors of ``ROW_VECTOR_BYTES``; returns True. ``sums``: a
    :func:`_stack_array` of ``BLOCK`` values. Only for ``sums``, ``w`` and
    a C-contiguous ``rows`` of one float dtype; for others it does nothing
    and returns False (the caller then runs its loop)."""
    bits = _float_bits(rows.dtype)
    vectorised = rows.layout == "C" and sums.dtype == w == rows.dtype and bits

    def codegen(context, builder, signature, args):
        if not vectorised:
            return context.get_constant(types.boolean, False)
        rows_type = signature.args[2]
        rows_array = context.make_array(rows_type)(context, builder, args[2])
        lanes = ROW_VECTOR_BYTES * 8 // bits
        vector = ir.VectorType(context.get_data_type(rows_type.dtype), lanes)
        start = cgutils.get_item_pointer(
            context,
            builder,
            rows_type,
            rows_array,
            [args[3], args[4]],
            wraparound=False,
        )
        row = builder.bitcast(start, vector.as_pointer())
        total = builder.bitcast(args[0], vector.as_pointer())
        scale = builder.insert_element(
            ir.Constant(vector, ir.Undefined), args[1], ir.IntType(32)(0)
        )
        scale = _shuffle(builder, scale, scale, [0] * lanes)
        fmuladd = _fmuladd(builder, vector, bits)
        # Element alignment only: neither is known to be vector-aligned.
        align = bits // 8
        for v in range(BLOCK // lanes):
            offset = [ir.Constant(ir.IntType(64), v)]
            values = builder.load(builder.gep(row, offset), align=align)
            slot = builder.gep(total, offset)
            before = builder.load(slot, align=align)
            builder.store(builder.call(fmuladd, [scale, values, before]), slot, align)
        return context.get_constant(types.boolean, True)

    return types.boolean(sums, w, rows, types.intp, types.intp), codegen


@njit(**_serial(fastmath={"contract"}, inline="always"))
def _add_to_sums(pointer, sums, w, rows, r, j0):  # pragma: no cover
    """``sums[:BLOCK] += w * rows[r, j0 : j0 + BLOCK]``: in vectors
    (:func:`_add_scaled_row`) where it can, else in this loop (the same
    multiply-adds). ``sums`` is ``pointer``'s array."""
    if not _add_scaled_row(pointer, w, rows, r, j0):
        row = rows[r, j0 : j0 + BLOCK]
        for j in range(BLOCK):
            sums[j] += w * row[j]


@njit(**_serial(fastmath={"contract"}, inline="always"))
def _row_blocks(indptr, indices, data, rows, width, out, i, start):  # pragma: no cover
    """``out[i, :width] = start + sum_k data[k] * rows[indices[k], :width]``.

    ``BLOCK`` columns at a time, their sums in a stack array that LLVM keeps
    in registers over the kept weights (inlined: the caller's stack).
    """
    pointer = _stack_array(BLOCK, out.dtype)
    sums = numba.carray(pointer, (BLOCK,))
    first, end = _unsigned(indptr[i]), _unsigned(indptr[i + 1])
    for j0 in range(0, width, BLOCK):
        for j in range(BLOCK):
            sums[j] = start
        for k in range(first, end):
            _add_to_sums(pointer, sums, data[k], rows, _unsigned(indices[k]), j0)
        written = out[i, j0 : j0 + BLOCK]
        for j in range(BLOCK):
            written[j] = sums[j]


@njit(**_serial(fastmath={"contract"}))
def csr_forward(
    indptr, indices, data, rows, n, out, bias, code, flush_subnormals
):  # pragma: no cover
    """``out[i, :n] = f(bias[i] + (W.T @ rows)[i, :n])``: a CSR layer's output.

    ``indptr, indices, data``: the CSR arrays of ``W.T``; ``rows`` and
    ``out`` are feature-major (the batch is the contiguous inner dimension,
    of which the first ``n`` columns are used; see :func:`_block_columns`
    for the columns computed in whole blocks); ``f`` is activation
    ``code`` (see ``ACTIVATION_CODES``), applied while the row is in cache.
    ``flush_subnormals``: in the float mode that reads and writes subnormal
    numbers as zero (training), or in the caller's (prediction, whose
    probabilities are numpy's, subnormal ones included).
    """
    zero, one = _zero_and_one(out)  # (allocates: before the mode)
    mode = _subnormals_as_zero(flush_subnormals)
    width = _block_columns(n, rows, out)
    for i in range(indptr.size - 1):
        if width == 0:
            b = bias[i]
            for j in range(n):
                out[i, j] = b
            _csr_row_product(indptr, indices, data, rows, n, out, i)
        else:
            _row_blocks(indptr, indices, data, rows, width, out, i, bias[i])
            if width < n:
                b = bias[i]
                for j in range(width, n):
                    out[i, j] = b
                _csr_row_tail(indptr, indices, data, rows, width, n, out, i)
        _activate_row(out, i, n, code, zero, one)
    if code == 4:
        _softmax_columns(out, n)
    _restore_float_mode(mode)


#: Bytes of batch rows a panel of :func:`csr_forward_panels` reads: half
#: the L1 data cache of most x86 cores (32-48 KB), with room for the output.
PANEL_BYTES = 24 * 1024


def panel_rows(dtype) -> int:
    """Input rows per panel: a block of ``BLOCK`` columns of each in
    ``PANEL_BYTES`` (96 rows of float32, 48 of float64)."""
    return PANEL_BYTES // (BLOCK * np.dtype(dtype).itemsize)


def panel_bounds(indptr: np.ndarray, indices: np.ndarray, n_columns: int, rows: int):
    """Where each CSR row's entries for each panel of ``rows`` columns start.

    ``bounds[i, p]`` is the first entry of row ``i`` whose column is at least
    ``p * rows`` (the columns of a CSR row are sorted), ``bounds[i, -1]``
    the row's end: shape ``(n_rows, n_panels + 1)``.
    """
    n_rows = indptr.size - 1
    n_panels = -(-n_columns // rows)
    row_of = np.repeat(np.arange(n_rows), np.diff(indptr))
    counts = np.bincount(
        row_of * n_panels + indices // rows, minlength=n_rows * n_panels
    ).reshape(n_rows, n_panels)
    bounds = np.empty((n_rows, n_panels + 1), dtype=np.intp)
    bounds[:, 0] = indptr[:-1]
    np.cumsum(counts, axis=1, out=bounds[:, 1:])
    bounds[:, 1:] += indptr[:-1, None]
    return bounds


#: A CSR forward product takes its input a panel of rows at a time when the
#: input has at least this many panels and its output rows keep, on
#: average, at least this many weights per panel. Measured for 784x300
#: (float32, batch 60, panels of 96 rows): 0.65-0.70 of the row-at-a-time
#: product's time from 30% to 50% kept, 0.77 at 20%, 0.92-0.99 at 10%,
#: 1.05-1.15 at 5%; a 300-row input (whose batch rows nearly fit in L1
#: already) gains little (0.85-0.9 at half kept), none below 30%.
PANELS_MIN = 4
KEPT_PER_PANEL_MIN = 12


def panels_for(indptr, indices, n_inputs: int, dtype) -> np.ndarray | None:
    """The :func:`panel_bounds` of a CSR ``W.T`` (``indptr``, ``indices``)
    when its forward product pays for panels, else None."""
    rows = panel_rows(dtype)
    kept_per_panel = indices.size / max(indptr.size - 1, 1) * rows / n_inputs
    if n_inputs >= PANELS_MIN * rows and kept_per_panel >= KEPT_PER_PANEL_MIN:
        return panel_bounds(indptr, indices, n_inputs, rows)
    return None


@njit(**_serial(fastmath={"contract"}))
def csr_forward_panels(
    indptr, indices, data, bounds, rows, n, out, bias, code
):  # pragma: no cover
    """:func:`csr_forward` one panel of input rows at a time (see
    :func:`panel_bounds`): the panel's batch rows stay in the L1 cache while
    every output row takes its kept weights there, where the whole input
    streams from L2 once per output row. The same sums in the same order
    (bias first, then the kept weights in CSR order; a block's sums go to
    ``out`` and back between panels, exactly): the same bits.
    """
    zero, one = _zero_and_one(out)  # (allocates: before the mode)
    mode = _subnormals_as_zero(True)
    width = _block_columns(n, rows, out)
    n_out = indptr.size - 1
    n_panels = bounds.shape[1] - 1
    pointer = _stack_array(BLOCK, out.dtype)
    sums = numba.carray(pointer, (BLOCK,))
    for j0 in range(0, width, BLOCK):
        for i in range(n_out):
            b = bias[i]
            written = out[i, j0 : j0 + BLOCK]
            for j in range(BLOCK):
                written[j] = b
        for p in range(n_panels):
            for i in range(n_out):
                first, end = _unsigned(bounds[i, p]), _unsigned(bounds[i, p + 1])
                if first == end:
                    continue
                written = out[i, j0 : j0 + BLOCK]
                for j in range(BLOCK):
                    sums[j] = written[j]
                for k in range(first, end):
                    w, r = data[k], _unsigned(indices[k])
                    _add_to_sums(pointer, sums, w, rows, r, j0)
                for j in range(BLOCK):
                    written[j] = sums[j]
    for i in range(n_out):
        if width < n:
            b = bias[i]
            for j in range(width, n):
                out[i, j] = b
            if width == 0:
                _csr_row_product(indptr, indices, data, rows, n, out, i)
            else:
                _csr_row_tail(indptr, indices, data, rows, width, n, out, i)
        _activate_row(out, i, n, code, zero, one)
    if code == 4:
        _softmax_columns(out, n)
    _restore_float_mode(mode)


@njit(**_serial(fastmath={"contract"}))
def csr_backward(
    indptr, indices, data, errors, n, out, activations, code
):  # pragma: no cover
    """``out[i, :n] = (W @ errors)[i, :n] * f'(activations[i, :n])``.

    The error a CSR layer sends down, times the derivative of the layer
    below's activation ``code`` (``indptr, indices, data``: W's CSR arrays;
    whole blocks as in :func:`csr_forward`).
    """
    zero, one = _zero_and_one(out)  # (allocates: before the mode)
    mode = _subnormals_as_zero(True)
    width = _block_columns(n, errors, out)
    for i in range(indptr.size - 1):
        if width == 0:
            for j in range(n):
                out[i, j] = zero
            _csr_row_product(indptr, indices, data, errors, n, out, i)
        else:
            _row_blocks(indptr, indices, data, errors, width, out, i, zero)
            if width < n:
                for j in range(width, n):
                    out[i, j] = zero
                _csr_row_tail(indptr, indices, data, errors, width, n, out, i)
        _differentiate_row(out, activations, i, n, code, one)
    _restore_float_mode(mode)


@njit(**_SERIAL)
def bias_and_activation(out, n, bias, code, flush_subnormals):  # pragma: no cover
    """``out[i, :n] = f(out[i, :n] + bias[i])`` after a dense (BLAS) product
    (``flush_subnormals`` as in :func:`csr_forward`)."""
    zero, one = _zero_and_one(out)  # (allocates: before the mode)
    mode = _subnormals_as_zero(flush_subnormals)
    for i in range(out.shape[0]):
        b = bias[i]
        for j in range(n):
            out[i, j] += b
        _activate_row(out, i, n, code, zero, one)
    if code == 4:
        _softmax_columns(out, n)
    _restore_float_mode(mode)


@njit(**_SERIAL)
def differentiate(errors, n, activations, code):  # pragma: no cover
    """``errors[:, :n] *= f'(activations[:, :n])`` after a dense product."""
    zero, one = _zero_and_one(errors)  # (allocates: before the mode)
    mode = _subnormals_as_zero(True)
    for i in range(errors.shape[0]):
        _differentiate_row(errors, activations, i, n, code, one)
    _restore_float_mode(mode)


#: Rows :func:`row_sums` sums side by side.
ROWS_SUMMED_AT_ONCE = 8


@njit(**_SERIAL)
def row_sums(rows, n, out):  # pragma: no cover
    """``out[i] = rows[i, :n].sum()``: the bias gradient from feature-major errors.

    Each row summed in order, as numpy sums the batch's rows, eight rows at
    a time: their sums are independent, where one row's adds wait for each
    other (300 rows of 60: 2.7 us against 4.0). Rows of another dtype than
    ``out`` one at a time, summed in the wider of the two (numpy's too).
    """
    zero, one = _zero_and_one(out)  # (allocates: before the mode)
    mode = _subnormals_as_zero(True)
    sums = numba.carray(
        _stack_array(ROWS_SUMMED_AT_ONCE, out.dtype), (ROWS_SUMMED_AT_ONCE,)
    )
    whole = 0
    if rows.dtype == out.dtype:
        whole = rows.shape[0] // ROWS_SUMMED_AT_ONCE * ROWS_SUMMED_AT_ONCE
    for first in range(0, whole, ROWS_SUMMED_AT_ONCE):
        for q in range(ROWS_SUMMED_AT_ONCE):
            sums[q] = zero
        for j in range(n):
            for q in range(ROWS_SUMMED_AT_ONCE):
                sums[q] += rows[first + q, j]
        for q in range(ROWS_SUMMED_AT_ONCE):
            out[first + q] = sums[q]
    for i in range(whole, rows.shape[0]):
        total = zero
        for j in range(n):
            total += rows[i, j]
        out[i] = total
    _restore_float_mode(mode)


def _lane_sums(builder, vectors: list, lanes: int):
    """A vector whose lane q is the sum of the ``lanes`` lanes of
    ``vectors[q]`` (2, 4 or 8 vectors): pairs of vectors interleaved by 1,
    then 2 (then 4) lanes and added, so that each add sums two vectors'
    halves at once; a vector of fewer than ``lanes`` sums then adds its
    halves."""
    block = 1
    while len(vectors) > 1:
        merged = []
        for a, b in zip(vectors[::2], vectors[1::2]):
            low, high = [], []
            for start in range(0, lanes, 2 * block):
                low += [*range(start, start + block)]
                low += [*range(lanes + start, lanes + start + block)]
                high += [*range(start + block, start + 2 * block)]
                high += [*range(lanes + start + block, lanes + start + 2 * block)]
            merged.append(
                builder.fadd(
                    _shuffle(builder, a, b, low),
                    _shuffle(builder, a, b, high),
                    flags=("reassoc", "contract"),
                )
            )
        vectors, block = merged, 2 * block
        # Each lane now holds a sum for vector (lane % block) of the group.
    (summed,) = vectors
    while lanes > block:
        lanes //= 2
        summed = builder.fadd(
            _shuffle(builder, summed, summed, range(lanes)),
            _shuffle(builder, summed, summed, range(lanes, 2 * lanes)),
            flags=("reassoc", "contract"),
        )
    return summed


def _row_dots(group_bytes: int):
    """An intrinsic ``dots(indices, k, count, inputs, r, errors, m, grad)``:
    ``grad[k + q] = inputs[r, :m] @ errors[indices[k + q], :m]`` for ``q``
    below ``count``, at most a group of ``group_bytes`` of values.

    A vector of ``ROW_VECTOR_BYTES`` at a time (16 float32 or 8 float64
    columns; ``m`` must be a multiple), each vector of ``inputs`` loaded once for the
    group; one vector of sums per weight, added across its lanes for the
    whole group at once (:func:`_lane_sums`), where a loop per weight sums
    each vector alone.
    With ``count`` below the group's size it computes its last weight again
    in the lanes past ``count`` and stores only the first ``count``. Only for
    ``inputs``, ``errors`` and ``grad`` of one float dtype, the rows of
    ``inputs`` and ``errors`` contiguous (:func:`kept_gradient` checks)."""

    @intrinsic
    def dots(typingctx, indices, k, count, inputs, r, errors, m, grad):
        bits = _float_bits(inputs.dtype)
        vectorised = inputs.dtype == errors.dtype == grad.dtype and bits
        width = ROW_VECTOR_BYTES * 8 // bits if vectorised else 0
        group = group_bytes * 8 // bits if vectorised else 0

        def codegen(context, builder, signature, args):
            if not vectorised:
                return context.get_dummy_value()
            index_type, _, _, inputs_type, _, errors_type, _, grad_type = signature.args
            arrays = [
                context.make_array(t)(context, builder, args[i])
                for i, t in ((0, index_type), (3, inputs_type), (5, errors_type))
            ]
            index_array, inputs_array, errors_array = arrays
            grad_array = context.make_array(grad_type)(context, builder, args[7])
            k, count, r, m = args[1], args[2], args[4], args[6]
            intp = context.get_value_type(types.intp)
            zero = ir.Constant(intp, 0)
            float_type = context.get_data_type(inputs_type.dtype)
            vector = ir.VectorType(float_type, width)
            align = bits // 8
            last = builder.sub(count, ir.Constant(intp, 1))
            error_rows = []
            for q in range(group):
                lane = ir.Constant(intp, q)
                lane = builder.select(builder.icmp_signed("<", lane, count), lane, last)
                column = _index_at(
                    context, builder, index_type, index_array, builder.add(k, lane)
                )
                error_rows.append(
                    cgutils.get_item_pointer(
                        context,
                        builder,
                        errors_type,
                        errors_array,
                        [column, zero],
                        wraparound=False,
                    )
                )
            input_row = cgutils.get_item_pointer(
                context, builder, inputs_type, inputs_array, [r, zero], wraparound=False
            )
            sums = [cgutils.alloca_once(builder, vector) for _ in range(group)]
            for slot in sums:
                builder.store(ir.Constant(vector, [float_type(0)] * width), slot)
            fmuladd = _fmuladd(builder, vector, bits)

            vector_pointer = vector.as_pointer()

            def load(row, offset):
                pointer = builder.bitcast(builder.gep(row, [offset]), vector_pointer)
                return builder.load(pointer, align=align)

            chunks = builder.udiv(m, ir.Constant(intp, width))
            with cgutils.for_range(builder, chunks) as loop:
                offset = builder.mul(loop.index, ir.Constant(intp, width))
                x = load(input_row, offset)
                for row, slot in zip(error_rows, sums):
                    product = builder.call(
                        fmuladd, [x, load(row, offset), builder.load(slot)]
                    )
                    builder.store(product, slot)
            totals = _lane_sums(builder, [builder.load(s) for s in sums], width)
            out = cgutils.get_item_pointer(
                context, builder, grad_type, grad_array, [k], wraparound=False
            )
            whole = builder.icmp_signed("==", count, ir.Constant(intp, group))
            with builder.if_else(whole) as (then, otherwise):
                with then:
                    pointer = builder.bitcast(out, totals.type.as_pointer())
                    builder.store(totals, pointer, align=align)
                with otherwise:
                    for q in range(group):
                        lane = ir.Constant(intp, q)
                        with builder.if_then(builder.icmp_signed("<", lane, count)):
                            total = builder.extract_element(totals, ir.IntType(32)(q))
                            builder.store(total, builder.gep(out, [lane]))
            return context.get_dummy_value()

        intp = types.intp
        signature = types.void(indices, intp, intp, inputs, intp, errors, intp, grad)
        return signature, codegen

    return dots


#: Bytes of the sums of one of :func:`kept_gradient`'s groups of kept
#: weights: 8 in float32, 4 in float64 (groups of 16 took 1.05-1.5 times as
#: long), then half of that for a row's last ones (a row at 2% kept of 300
#: outputs has 6).
GROUP_BYTES = 32
_vector_of_dots = _row_dots(GROUP_BYTES)
_half_vector_of_dots = _row_dots(GROUP_BYTES // 2)


@njit(**_SERIAL)
def _summed_columns(n, inputs, errors, grad, zero):  # pragma: no cover
    """How many columns :func:`kept_gradient` sums in vectors: ``n`` rounded
    up to whole vectors, the columns past ``n`` set to zero in both arrays
    first (nothing else reads them: they add exact zeros); or 0 when the
    arrays cannot be summed so (too few columns, rows or ``grad`` not
    contiguous, dtypes that differ or are not floats)."""
    lanes = ROW_VECTOR_BYTES // inputs.itemsize
    width = (n + lanes - 1) // lanes * lanes
    if (
        width > inputs.shape[1]
        or width > errors.shape[1]
        or not (inputs.dtype == errors.dtype and inputs.dtype == grad.dtype)
        or not _of_floats(inputs)
        or (inputs.shape[1] > 1 and inputs.strides[1] != inputs.itemsize)
        or (errors.shape[1] > 1 and errors.strides[1] != errors.itemsize)
        or (grad.size > 1 and grad.strides[0] != grad.itemsize)
    ):
        return 0
    for i in range(inputs.shape[0]):
        for j in range(n, width):
            inputs[i, j] = zero
    for i in range(errors.shape[0]):
        for j in range(n, width):
            errors[i, j] = zero
    return width


@njit(**_serial(fastmath={"reassoc", "contract"}))
def kept_gradient(indptr, indices, inputs, errors, n, grad):  # pragma: no cover
    """``grad[k] = inputs[r, :n] @ errors[c, :n]`` for each kept weight (r, c).

    The weight gradient at the kept positions only (a sampled dense-dense
    product), row by row of the CSR pattern, in groups of kept weights that
    share their input row (:func:`_row_dots`; a 784x300 float32 layer at 20%
    kept took 0.72-0.74 of the time of four weights a pass, each summed on
    its own; in 64-byte vectors, 0.8-0.85 of the time again: 7.2-7.4 cycles
    a kept weight against 8.5-9.0 in 32-byte ones). Both operands are
    feature-major. Arrays the groups cannot take (see
    :func:`_summed_columns`) are summed one weight at a time.
    """
    mode = _subnormals_as_zero(True)
    zero = grad[:0].sum()  # the dtype's zero
    width = _summed_columns(n, inputs, errors, grad, zero)
    group = GROUP_BYTES // inputs.itemsize
    half = group // 2
    for r in range(indptr.size - 1):
        k, end = indptr[r], indptr[r + 1]
        if width:
            while k + group <= end:
                _vector_of_dots(indices, k, group, inputs, r, errors, width, grad)
                k += group
            while k < end:
                count = min(half, end - k)
                _half_vector_of_dots(indices, k, count, inputs, r, errors, width, grad)
                k += half
        while k < end:
            c = _unsigned(indices[k])
            total = zero
            for j in range(n):
                total += inputs[r, j] * errors[c, j]
            grad[k] = total
            k += 1
    _restore_float_mode(mode)


@njit(**_SERIAL)
def log_loss_and_error(
    probabilities, n, targets, weights, scale, error
):  # pragma: no cover
    """The softmax output's mean log loss, and its error into ``error``.

    ``probabilities`` and ``error`` are feature-major (one sample per column,
    first ``n`` used), ``targets`` one-hot ``(n, n_classes)``; ``weights`` of
    size 0 means unweighted. As :func:`~sklearn_lth._losses.loss_value`
    (probabilities clipped to ``[eps, 1 - eps]`` of their dtype, the mean
    weighted by ``weights``) and :func:`~sklearn_lth._losses.output_delta`
    (``scale * weight * (p - y)``), in one pass; the mean is summed in
    float64. Returns 0 when every sample weighs zero.
    """
    mode = _subnormals_as_zero(True)
    weighted = weights.size > 0
    eps = np.finfo(probabilities.dtype).eps
    total, total_weight = 0.0, 0.0
    for j in range(n):
        p_true = probabilities[0, j] * targets[j, 0]
        for i in range(1, probabilities.shape[0]):
            p_true += probabilities[i, j] * targets[j, i]
        p_true = min(max(p_true, eps), 1 - eps)
        w = weights[j] if weighted else 1.0
        total += -np.log(p_true) * w
        total_weight += w
        factor = scale * weights[j] if weighted else scale
        for i in range(probabilities.shape[0]):
            error[i, j] = (probabilities[i, j] - targets[j, i]) * factor
    mean = total / total_weight if total_weight != 0 else 0.0
    _restore_float_mode(mode)
    return mean


# -- a whole network of CSR layers, one compiled call per pass ----------------
# Each layer's arrays come as tuples, one entry per layer (numba types a tuple
# of arrays of one type as a homogeneous tuple, indexed in a loop). The
# passes call the layer kernels above in the order the layer-by-layer code
# does (:class:`~sklearn_lth._kernels._numba.CsrNetworkPasses`): the same
# bits, where a step of a very sparse network spent about a third of its time
# in Python between twenty calls.


@njit(**_SERIAL)
def network_forward(
    inputs, n, indptrs, indices, data, panels, biases, outputs, hidden_code, out_code
):  # pragma: no cover
    """Every layer's :func:`csr_forward` (or :func:`csr_forward_panels` for
    a layer with panel bounds, a non-empty ``panels[i]``), from the
    feature-major ``inputs`` into ``outputs[i]``; the CSR arrays are each
    layer's ``W.T``'s."""
    mode = _subnormals_as_zero(True)
    last = len(indptrs) - 1
    rows = inputs
    for i in range(last + 1):
        code = out_code if i == last else hidden_code
        if panels[i].size:
            csr_forward_panels(
                indptrs[i],
                indices[i],
                data[i],
                panels[i],
                rows,
                n,
                outputs[i],
                biases[i],
                code,
            )
        else:
            csr_forward(
                indptrs[i],
                indices[i],
                data[i],
                rows,
                n,
                outputs[i],
                biases[i],
                code,
                True,
            )
        rows = outputs[i]
    _restore_float_mode(mode)


@njit(**_SERIAL)
def network_backward(
    inputs, n, indptrs, indices, data, outputs, errors, grads, bias_grads, hidden_code
):  # pragma: no cover
    """From the output's error ``errors[-1]`` down: each layer's error sent
    below (:func:`csr_backward`, times the derivative of activation
    ``hidden_code``), then its bias gradient (:func:`row_sums`) and its
    kept-position gradient (:func:`kept_gradient`). The CSR arrays are each
    layer's ``W``'s; ``outputs[i]`` is layer ``i``'s output, ``inputs`` the
    batch."""
    mode = _subnormals_as_zero(True)
    for i in range(len(indptrs) - 1, -1, -1):
        below = inputs
        if i:
            below = outputs[i - 1]
            csr_backward(
                indptrs[i],
                indices[i],
                data[i],
                errors[i],
                n,
                errors[i - 1],
                below,
                hidden_code,
            )
        row_sums(errors[i], n, bias_grads[i])
        kept_gradient(indptrs[i], indices[i], below, errors[i], n, grads[i])
    _restore_float_mode(mode)


@njit(**_SERIAL)
def network_refresh(values, orders, transposed_data):  # pragma: no cover
    """Every layer's ``W.T`` data from its updated ``W`` data (:func:`gather`
    through the permutation ``orders[i]``)."""
    for i in range(len(values)):
        gather(values[i], orders[i], transposed_data[i])


@njit(**_SERIAL)
def network_step(
    inputs,
    n,
    forward,
    outputs,
    errors,
    hidden_code,
    out_code,
    targets,
    weights,
    scale,
    penalty,
    backward,
    gradients,
    update,
    orders,
):  # pragma: no cover
    """A whole training step of a network of CSR layers with a softmax
    output, in one call: :func:`network_forward`, :func:`log_loss_and_error`
    plus ``penalty`` (the L2 term), and, when that loss is finite,
    :func:`network_backward`, :func:`optimizer_step` and
    :func:`network_refresh`, on the operands of each (``forward``,
    ``backward``, ``gradients`` and ``update``: tuples of their arguments;
    the refresh's are the CSR data of ``backward`` and ``forward`` and the
    permutations ``orders``: each array an argument once, since a call
    unboxes each; 3.9 us for a 3-layer network's 48, against 4.4 with 6
    more). The same kernels in the same order as their calls one by one:
    the same bits.

    Returns the loss and the update's sum of squares (NaN: no update).
    """
    network_forward(inputs, n, *forward, outputs, hidden_code, out_code)
    last = len(outputs) - 1
    loss = log_loss_and_error(outputs[last], n, targets, weights, scale, errors[last])
    loss += penalty
    if not np.isfinite(loss):
        return loss, np.nan
    network_backward(inputs, n, *backward, outputs, errors, *gradients, hidden_code)
    squares = optimizer_step(*update)
    network_refresh(backward[2], orders, forward[2])
    return loss, squares


_l2_penalty = njit(**_SERIAL)(l2_penalty)


@njit(**_SERIAL)
def network_steps(
    X,
    positions,
    bounds,
    Y,
    targets,
    inputs,
    forward,
    outputs,
    errors,
    hidden_code,
    out_code,
    no_weights,
    scales,
    penalty,
    alpha,
    backward,
    gradients,
    update,
    step_constants,
    orders,
    losses,
):  # pragma: no cover
    """Several whole training steps (:func:`network_step`) in one call: step
    ``k`` trains on the rows ``X[positions[bounds[k]:bounds[k + 1]]]``,
    gathered feature-major into ``inputs`` (:func:`gather_transposed`) with
    their one-hot targets from ``Y`` into ``targets``, unweighted (an empty
    ``no_weights`` of the network's dtype), with its
    error scaled by ``scales[k]`` and the update's constants
    ``step_constants[k]`` (each step's, as the update prepares them). The
    first step adds ``penalty`` to its loss; each later one the L2 penalty
    (:func:`~sklearn_lth._losses.l2_penalty`, of coefficient ``alpha``) of
    the weights the step before left.

    Writes each step's loss into ``losses`` and stops after the first that
    is not finite (that step makes no update). Returns the steps taken and
    the sum of squares after the last update (NaN if none).
    """
    constants = update[6]  # update: optimizer_step's arguments, its 7th these
    last_squares = np.nan
    for k in range(bounds.size - 1):
        start, stop = bounds[k], bounds[k + 1]
        n = stop - start
        rows = positions[start:stop]
        gather_transposed(X, rows, inputs)
        for i in range(n):
            row = _unsigned(rows[i])
            for j in range(Y.shape[1]):
                targets[i, j] = Y[row, j]
        for c in range(constants.size):
            constants[c] = step_constants[k, c]
        if k and alpha != 0:
            penalty = _l2_penalty(alpha, last_squares, n)
        loss, squares = network_step(
            inputs,
            n,
            forward,
            outputs,
            errors,
            hidden_code,
            out_code,
            targets[:n],
            no_weights,
            scales[k],
            penalty,
            backward,
            gradients,
            update,
            orders,
        )
        losses[k] = loss
        if not np.isfinite(loss):
            return k + 1, last_squares
        last_squares = squares
    return bounds.size - 1, last_squares
