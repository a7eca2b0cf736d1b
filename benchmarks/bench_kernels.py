"""Where sparse kernels start to pay: the crossovers behind the layer defaults.

For a 784x300 float32 layer and batches of 60, the time (microseconds, best
of repeats) of one training step of the layer: forward product, error sent
down, weight gradient, refresh of the product operands after the update.
Each path ("numpy", and "numba" when it is installed) is timed with each
kernel, dense BLAS and CSR, and a CSR layer with its gradient both as a dense
product then a gather and at the kept positions only (SDDMM).
Each path's backend (``sklearn_lth._kernels``) switches at the crossovers
measured here (for numpy ``sparse_max_density`` and
``kept_gradient_max_density``; for numba, which switches by layer size and
batch, :func:`print_crossovers` prints both the measured crossover and the
switch); a dense layer at or above ``trains_dense_min_density`` trains its
dense matrix, as in training.

:func:`print_bandwidth` times the compiled CSR kernels alone and reports the
bytes of batch rows each streams per cycle (every kept weight reads one row
of ``batch`` values per pass), against the estimate of about 60 bytes a
cycle from the L2 cache (a 240-byte row per kept weight in about 4 cycles).
"""

from __future__ import annotations

import timeit

import numpy as np
import scipy.sparse as sp

from sklearn_lth._config import numba_available
from sklearn_lth._kernels import backend_for
from sklearn_lth._network import Layer

DENSITIES = (0.5, 0.4, 0.3, 0.25, 0.2, 0.15, 0.1, 0.08, 0.05, 0.03, 0.02, 0.01)


def _us(fn, number=100) -> float:
    return min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6


def _layer(positions, values, shape, kernels, kernel, sddmm):
    layer = Layer(positions, values, np.zeros(shape[1], np.float32), shape, kernel)
    # The kernel and the gradient forced, whatever the backend would choose.
    layer._build(np.array(values), kernel, backend_for(kernels), kept_gradient=sddmm)
    layer._allocate_gradient()
    return layer


def measure(
    kernels: str, shape=(784, 300), batch=60, densities=DENSITIES
) -> list[tuple]:
    """Per density: dense step, CSR step (dense gradient), CSR step (SDDMM)."""
    rng = np.random.RandomState(0)
    # Feature-major buffers, as the network allocates them (the compiled
    # path's have whole blocks of columns, which its CSR products take).
    backend = backend_for(kernels)

    def buffer(units: int) -> np.ndarray:
        return backend.feature_major_buffer(units, batch, np.float32)[:, :batch].T

    A, delta, out, below = (
        buffer(shape[0]),
        buffer(shape[1]),
        buffer(shape[1]),
        buffer(shape[0]),
    )
    A[...] = rng.normal(size=A.shape)
    delta[...] = rng.normal(size=delta.shape)
    results = []
    for density in densities:
        n = max(1, int(density * shape[0] * shape[1]))
        positions = np.sort(rng.choice(shape[0] * shape[1], n, replace=False))
        values = rng.normal(size=n).astype(np.float32)

        def step(layer):
            layer.forward(A, out)
            layer.backward(delta, below)
            layer.compute_gradients(A, delta)
            layer.sync()

        times = [density]
        for kernel, sddmm in (("dense", False), ("sparse", False), ("sparse", True)):
            layer = _layer(positions, values, shape, kernels, kernel, sddmm)
            times.append(_us(lambda layer=layer: step(layer)))
        results.append(tuple(times))
    return results


def main() -> None:
    paths = ["numpy"] + (["numba"] if numba_available() else [])
    header = " | ".join(
        f"{path}: {what}"
        for path in paths
        for what in ("dense", "CSR + dense gradient", "CSR + SDDMM")
    )
    print(f"| density | {header} |")
    print("|---:|" + "---:|" * 3 * len(paths))
    tables = [measure(path) for path in paths]
    for rows in zip(*tables):
        cells = " | ".join(f"{t:.0f} us" for row in rows for t in row[1:])
        print(f"| {rows[0][0]:.0%} | {cells} |")


#: Layer shapes and batches of :func:`print_crossovers`.
CROSSOVER_SHAPES = ((784, 300), (300, 100), (100, 100), (100, 10))
CROSSOVER_BATCHES = (60, 128, 200)


def print_crossovers() -> None:
    """Per layer shape and batch, the density up to which a CSR layer step
    (kept-position gradient) is faster than the dense one on the compiled
    path, against the density ``NumbaBackend.choose_kernel`` switches at."""
    if not numba_available():
        return
    backend = backend_for("numba")
    densities = tuple(np.round(np.arange(0.05, 1.0001, 0.05), 2))
    print("| layer | batch | CSR faster up to | the backend's switch |")
    print("|---|---:|---:|---:|")
    for shape in CROSSOVER_SHAPES:
        for batch in CROSSOVER_BATCHES:
            rows = measure("numba", shape, batch, densities)
            # The densities before CSR first loses (one noisy win above a
            # loss would overstate the crossover).
            faster = []
            for density, dense, _, sddmm in rows:
                if sddmm >= dense:
                    break
                faster.append(density)
            switch = max(
                (
                    d
                    for d in densities
                    if backend.choose_kernel(d, shape, batch) == "sparse"
                ),
                default=0.0,
            )
            print(
                f"| {shape[0]}x{shape[1]} | {batch} | "
                f"{max(faster, default=0.0):.0%} | {switch:.0%} |"
            )


def _cpu_hz() -> float | None:
    """The clock /proc/cpuinfo reports (nominal: turbo and the VM may differ)."""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("cpu MHz"):
                    return float(line.split(":")[1]) * 1e6
    except OSError:
        pass
    return None


def _csr_kernels(W, inputs, errors, out_fwd, out_bwd, bias, batch) -> dict:
    """The three compiled CSR kernels of a layer ``W`` on ``batch`` columns,
    ready to call: the forward product by panels of input rows where the
    network takes it so (see ``_compiled.panels_for``)."""
    from sklearn_lth._kernels import _compiled

    W_T = W.T.tocsr()
    grad = np.empty(W.nnz, np.float32)
    panels = _compiled.panels_for(W_T.indptr, W_T.indices, W.shape[0], np.float32)

    def forward():
        if panels is None:
            _compiled.csr_forward(
                W_T.indptr, W_T.indices, W_T.data, inputs, batch, out_fwd, bias, 0, True
            )
        else:
            _compiled.csr_forward_panels(
                W_T.indptr,
                W_T.indices,
                W_T.data,
                panels,
                inputs,
                batch,
                out_fwd,
                bias,
                0,
            )

    return {
        "forward": forward,
        "backward": lambda: _compiled.csr_backward(
            W.indptr, W.indices, W.data, errors, batch, out_bwd, out_bwd, 0
        ),
        "kept gradient": lambda: _compiled.kept_gradient(
            W.indptr, W.indices, inputs, errors, batch, grad
        ),
    }


def print_bandwidth(shape=(784, 300), batch=60) -> None:
    """Bytes of batch rows per cycle streamed by each compiled CSR kernel."""
    if not numba_available():
        return
    # The network's buffers: whole blocks of columns, on a cache line.
    buffer = backend_for("numba").feature_major_buffer
    rng = np.random.RandomState(0)
    inputs = buffer(shape[0], batch, np.float32)
    inputs[:, :batch] = rng.normal(size=(shape[0], batch))
    errors = buffer(shape[1], batch, np.float32)
    errors[:, :batch] = rng.normal(size=(shape[1], batch))
    out_fwd = buffer(shape[1], batch, np.float32)
    out_bwd = buffer(shape[0], batch, np.float32)
    bias = np.zeros(shape[1], np.float32)
    hz = _cpu_hz()
    clock = f"at {hz / 1e9:.2f} GHz" if hz else "(clock unknown)"
    print(f"| kernel | density | kept | us | GB/s | bytes/cycle {clock} |")
    print("|---|---:|---:|---:|---:|---:|")
    for density in (0.2, 0.13, 0.05, 0.02):
        W = sp.random(*shape, density=density, format="csr", random_state=0)
        W = W.astype(np.float32)
        kernels = _csr_kernels(W, inputs, errors, out_fwd, out_bwd, bias, batch)
        streamed = W.nnz * batch * 4  # one row of the batch per kept weight
        for name, kernel in kernels.items():
            kernel()  # compiled (or loaded) before timing
            seconds = _us(kernel) * 1e-6
            per_cycle = f"{streamed / seconds / hz:.1f}" if hz else "?"
            print(
                f"| {name} | {density:.0%} | {W.nnz} | {seconds * 1e6:.0f} | "
                f"{streamed / seconds / 1e9:.0f} | {per_cycle} (estimate 60) |"
            )


if __name__ == "__main__":
    main()
    print()
    print_bandwidth()
    print()
    print_crossovers()
