"""Prediction: a fitted network's forward pass, each layer's product chosen
by its density and the batch.

:func:`prediction_operands` derives, from a fitted estimator's CSR
``coefs_``, what :func:`predict_csr` multiplies by. It is never pickled (a
loaded estimator derives it again), so a model's file grows with its kept
weights only. Measured on 784-300-100-10 layers in float32, 2 cores
(``benchmarks/bench_predict.py``):

- A layer above ``DENSE_MIN_DENSITY`` of its weights kept multiplies by a
  dense copy (BLAS); below it by the CSR arrays (scipy's kernel, which beats
  BLAS there from a batch of one up).
- A large batch (at least ``COMPILED_MIN_ROWS`` rows) of a network of at
  least :data:`~sklearn_lth._config.AUTO_MIN_WEIGHTS` weights goes through
  the compiled CSR kernel of the ``fast`` extra when numba is installed (and
  ``set_config(kernels=...)`` is not ``"numpy"``), for every layer up to
  ``COMPILED_MAX_DENSITY`` kept, in chunks of rows spread over as many
  threads as the BLAS has: at 5% kept and 10,000 rows it takes about half
  the time of ``MLPClassifier``'s dense products, where scipy's kernel
  takes as long as they do.

Each path sums in its own order, so the last bits of a probability can
depend on the batch it came in (as they do with BLAS, whose kernels depend
on the matrix sizes).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse as sp

from ._config import AUTO_MIN_WEIGHTS, get_config, numba_available
from ._kernels import ACTIVATIONS, as_dense

#: Above this share of weights kept, a layer multiplies by a dense copy.
DENSE_MIN_DENSITY = 0.08
#: The compiled kernel's crossover with BLAS on large batches. 30% measured
#: faster on random patterns (every layer at the same density: 0.74 of
#: MLPClassifier's time at 20% kept), but a global ticket with a 21% first
#: layer then sends its denser layers through 256-row chunks too, and
#: predicted 1.3-1.8 times slower than the numpy path: a layer at 21% of a
#: standardised input took 525 us per chunk on the kernel, 474 on BLAS.
COMPILED_MAX_DENSITY = 0.15
#: Batches from this many rows go through the compiled kernel.
COMPILED_MIN_ROWS = 1024
#: Rows per chunk of the compiled kernel (its inputs, feature-major, stay in
#: L2).
COMPILED_CHUNK = 256
#: Rows per chunk of the other paths: memory stays bounded for huge inputs,
#: while a batch of 10,000 rows takes one BLAS call per layer, as
#: MLPClassifier's does (five calls of 2,048 rows took 1.2-1.5 times as long
#: with two other programs running: each call's threads wait for each other).
CHUNK = 16384


class PredictionOperands:
    """What prediction multiplies by, per layer, from CSR weights.

    ``products[i]`` is layer ``i``'s dense copy (density above
    ``DENSE_MIN_DENSITY``) or ``W.T`` as a CSC view of its CSR arrays. The
    compiled kernel's operands (each layer's CSR transpose) are made on the
    first large batch and kept.
    """

    def __init__(self, coefs: list[sp.csr_array]):
        self.coefs = coefs
        self.products = [
            W.toarray() if _density(W) > DENSE_MIN_DENSITY else W.T for W in coefs
        ]
        self._compiled: list | None = None
        n_weights = sum(W.shape[0] * W.shape[1] for W in coefs)
        self.compiled_is_possible = n_weights >= AUTO_MIN_WEIGHTS and any(
            _density(W) <= COMPILED_MAX_DENSITY for W in coefs
        )

    def compiled(self) -> list:
        """Per layer: ``(indptr, indices, data)`` of ``W.T`` in CSR, or the
        dense copy for a layer above ``COMPILED_MAX_DENSITY``."""
        if self._compiled is None:
            self._compiled = [
                _transposed_csr(W)
                if _density(W) <= COMPILED_MAX_DENSITY
                else np.ascontiguousarray(W.toarray().T)
                for W in self.coefs
            ]
        return self._compiled


def prediction_operands(coefs: list[sp.csr_array]) -> PredictionOperands:
    """What :func:`predict_csr` multiplies with (see :class:`PredictionOperands`)."""
    return PredictionOperands(coefs)


def predict_csr(
    X,
    operands: PredictionOperands,
    intercepts: list[np.ndarray],
    activation: str,
    out_activation: str,
    chunk_size: int = CHUNK,
) -> np.ndarray:
    """Outputs of a fitted network for ``X`` (dense or sparse rows)."""
    dtype = np.result_type(X.dtype, intercepts[0].dtype)
    if _compiled_pays(X, operands, dtype):
        return _predict_compiled(X, operands, intercepts, activation, out_activation)
    n = X.shape[0]
    out = np.empty((n, intercepts[-1].shape[0]), dtype=dtype)
    last = len(intercepts) - 1
    for start in range(0, n, chunk_size):
        batch = slice(start, start + chunk_size)
        A = X[batch]
        for i, (W, b) in enumerate(zip(operands.products, intercepts)):
            if not sp.issparse(W):
                A = as_dense(A @ W)
            elif sp.issparse(A):
                A = as_dense(A @ W.T)
            elif A.shape[0] == 1:
                # One sample: a matrix-vector product, no transposes.
                A = (W @ A.ravel())[None, :]
            else:
                A = (W @ A.T).T
            A += b
            ACTIVATIONS[out_activation if i == last else activation](A)
        out[batch] = A
    return out


def _density(W) -> float:
    return W.nnz / max(1, W.shape[0] * W.shape[1])


def _transposed_csr(W: sp.csr_array) -> tuple[np.ndarray, ...]:
    """``W.T``'s CSR arrays (those of ``W`` in CSC), sorted, with int32 indices."""
    T = sp.csr_array(W.T)
    T.sort_indices()
    return T.indptr, T.indices, T.data


def _compiled_pays(X, operands: PredictionOperands, dtype) -> bool:
    """Whether this batch goes through the compiled kernel."""
    return (
        operands.compiled_is_possible
        and X.shape[0] >= COMPILED_MIN_ROWS
        and isinstance(X, np.ndarray)
        and X.dtype == dtype == operands.coefs[0].dtype
        and get_config()["kernels"] != "numpy"
        and numba_available()
    )


def _predict_compiled(X, operands, intercepts, activation, out_activation):
    """The forward pass on the compiled kernels, chunks of rows in threads."""
    from ._kernels._compiled import (
        FUSED_FORWARD,
        bias_and_activation,
        csr_forward,
    )
    from ._kernels._numba import aligned_zeros
    from ._threads import current_blas_threads

    layers = operands.compiled()
    last = len(layers) - 1
    n_rows = X.shape[0]
    out = np.empty((n_rows, intercepts[-1].shape[0]), dtype=X.dtype)
    starts = range(0, n_rows, COMPILED_CHUNK)
    threads = min(current_blas_threads() or 1, os.cpu_count() or 1, len(starts))

    def forward_chunks(first: int) -> None:
        """Every ``threads``-th chunk from ``first``, in buffers of its own
        (fresh ones for every chunk would cost a page fault per page)."""
        # Zeros: a short last chunk's whole block computes its padding too.
        # On cache lines, as the training buffers (see aligned_zeros).
        inputs = aligned_zeros((X.shape[1], COMPILED_CHUNK), X.dtype)
        buffers = [
            aligned_zeros((b.shape[0], COMPILED_CHUNK), X.dtype) for b in intercepts
        ]
        for start in starts[first::threads]:
            batch = slice(start, start + COMPILED_CHUNK)
            n = min(COMPILED_CHUNK, n_rows - start)
            np.copyto(inputs[:, :n], X[batch].T)  # feature-major
            rows = inputs
            for i, (layer, bias, result) in enumerate(zip(layers, intercepts, buffers)):
                name = out_activation if i == last else activation
                code = FUSED_FORWARD.get(name, 0)  # exp, tanh: numpy's, below
                if isinstance(layer, tuple):
                    # Numpy's float mode: subnormal probabilities stay.
                    csr_forward(*layer, rows, n, result, bias, code, False)
                else:
                    np.matmul(layer, rows[:, :n], out=result[:, :n])
                    bias_and_activation(result, n, bias, code, False)
                if name not in FUSED_FORWARD:
                    ACTIVATIONS[name](result[:, :n])
                rows = result
            out[batch] = rows[:, :n].T

    if threads == 1:
        forward_chunks(0)
    else:
        with ThreadPoolExecutor(threads) as pool:
            # list(): an exception in a thread is raised here.
            list(pool.map(forward_chunks, range(threads)))
    return out
