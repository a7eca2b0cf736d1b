"""Where sparse kernels start to pay: the crossovers behind the layer defaults.

For a 784x300 float32 layer and batches of 60, times (microseconds, best of
repeats) of one training step of the layer (forward product, error sent down,
weight gradient as a dense product then a gather, refresh after the update)
with dense BLAS against CSR, and of the weight gradient alone as a dense
product then a gather against a product at the kept positions only (SDDMM),
over densities. ``sklearn_lth._network`` switches at the measured crossovers
(``SPARSE_KERNEL_MAX_DENSITY``, ``SDDMM_MAX_DENSITY``).
"""

from __future__ import annotations

import timeit

import numpy as np

from sklearn_lth._network import Layer

DENSITIES = (0.3, 0.2, 0.15, 0.12, 0.1, 0.08, 0.06, 0.04, 0.03, 0.025, 0.02, 0.01)


def _us(fn, number=200) -> float:
    return min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6


def measure(
    shape=(784, 300), batch=60
) -> list[tuple[float, float, float, float, float]]:
    rng = np.random.RandomState(0)
    A = rng.normal(size=(batch, shape[0])).astype(np.float32)
    delta = rng.normal(size=(batch, shape[1])).astype(np.float32)
    out = np.empty((batch, shape[1]), np.float32)
    below = np.empty((batch, shape[0]), np.float32)
    results = []
    for density in DENSITIES:
        n = int(density * shape[0] * shape[1])
        positions = np.sort(rng.choice(shape[0] * shape[1], n, replace=False))
        values = rng.normal(size=n).astype(np.float32)
        bias = np.zeros(shape[1], np.float32)
        layers = {}
        for kernel in ("dense", "sparse"):
            layer = layers[kernel] = Layer(positions, values, bias, shape, kernel)
            layer.sddmm = False
            layer._allocate_gradient()

        def step(layer):
            layer.forward(A, out)
            layer.backward(delta, below)
            layer.compute_gradients(A, delta)
            layer.sync()

        kept_only = Layer(positions, values, bias, shape, "sparse")
        kept_only.sddmm = True
        kept_only._rows, kept_only._cols = np.divmod(positions, shape[1])
        results.append(
            (
                density,
                _us(lambda d=layers["dense"]: step(d)),
                _us(lambda s=layers["sparse"]: step(s)),
                _us(lambda s=layers["sparse"]: s.compute_gradients(A, delta)),
                _us(lambda k=kept_only: k.compute_gradients(A, delta), 50),
            )
        )
    return results


def main() -> None:
    print(
        "| density | layer step dense | layer step CSR | gradient dense+gather "
        "| gradient SDDMM |"
    )
    print("|---:|---:|---:|---:|---:|")
    for row in measure():
        print("| {:.1%} | {:.0f} us | {:.0f} us | {:.0f} us | {:.0f} us |".format(*row))


if __name__ == "__main__":
    main()
