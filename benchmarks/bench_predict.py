"""Prediction speed against MLPClassifier, and what an exported ticket weighs.

A 784-300-100-10 network in float32 at every density of the grid (a random
pattern per layer, the same weights for both estimators), ``predict`` on
batches of 1, 64 and 10,000 rows; and the ONNX file of a 95%-sparse ticket
against the dense ``MLPClassifier``'s (when the ``onnx`` extra is installed).
"""

from __future__ import annotations

import timeit

import numpy as np
from _common import BusyMachine, Row
from bench_speed import LAYERS, random_ticket
from sklearn.neural_network import MLPClassifier

from sklearn_lth import LotteryTicketMLP

DENSITIES = (1.0, 0.5, 0.2, 0.05, 0.01)
BATCHES = (1, 64, 10_000)


def fitted_pair(density: float, seed: int = 0):
    """Ours at ``density`` and an MLPClassifier with the same (dense) weights."""
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(200, 784)).astype(np.float32)
    y = np.arange(200) % 10
    ours = LotteryTicketMLP(
        ticket=random_ticket(density, seed), max_iter=1, random_state=seed
    ).fit(X, y)
    theirs = MLPClassifier(LAYERS, max_iter=1, random_state=seed).fit(X, y)
    theirs.coefs_ = [W.toarray() for W in ours.coefs_]
    theirs.intercepts_ = [b.copy() for b in ours.intercepts_]
    return ours, theirs


def predict_seconds(model, X, repeats: int = 7) -> float:
    """Median seconds of one ``predict(X)`` (enough calls per timing for 20 ms)."""
    number = max(1, int(0.02 / max(_one_call(model, X), 1e-7)))
    times = timeit.repeat(lambda: model.predict(X), number=number, repeat=repeats)
    return float(np.median(times)) / number


def _one_call(model, X) -> float:
    model.predict(X)
    return min(timeit.repeat(lambda: model.predict(X), number=1, repeat=3))


def predict_grid(repeats: int = 7) -> dict[tuple[float, int], float]:
    """``predict`` time ours / MLPClassifier at every density and batch."""
    rng = np.random.RandomState(1)
    batches = {n: rng.normal(size=(n, 784)).astype(np.float32) for n in BATCHES}
    ratios = {}
    for density in DENSITIES:
        ours, theirs = fitted_pair(density)
        for n, X in batches.items():
            # The same network: labels agree but for near ties (each sums in
            # its own order).
            assert (ours.predict(X) == theirs.predict(X)).mean() >= 0.99
            ratios[density, n] = predict_seconds(ours, X, repeats) / predict_seconds(
                theirs, X, repeats
            )
    return ratios


def print_predict_grid(ratios: dict[tuple[float, int], float]) -> None:
    print("| kept | " + " | ".join(f"batch {n}" for n in BATCHES) + " |")
    print("|---:|" + "---:|" * len(BATCHES))
    for density in DENSITIES:
        cells = " | ".join(f"{ratios[density, n]:.2f}" for n in BATCHES)
        print(f"| {density:.0%} | {cells} |")


def onnx_rows() -> list[Row]:
    try:
        from skl2onnx import to_onnx as skl2onnx_to_onnx

        from sklearn_lth import to_onnx
    except ImportError:
        return []
    ours, theirs = fitted_pair(0.05)
    X = np.zeros((1, 784), np.float32)
    dense = len(skl2onnx_to_onnx(theirs, X).SerializeToString())
    # Sparse constants: the smallest file. Compacted: dense constants of the
    # live units (here nearly all live), no larger than the dense network's.
    return [
        Row(
            f"ONNX file, 95%-sparse ticket{label} vs MLPClassifier's",
            len(to_onnx(ours, X, compact=compact).SerializeToString()),
            dense,
            target,
            unit="B",
        )
        for label, compact, target in (
            (", sparse constants", False, 0.15),
            (", compacted (dense live units)", True, 1.0),
        )
    ]


#: The grids ``run`` measured (quiet, then with two busy programs), for
#: ``run.py`` to print after the table.
GRIDS: dict[str, dict[tuple[float, int], float]] = {}


def run(repeats: int = 7) -> list[Row]:
    GRIDS["quiet"] = predict_grid(repeats)
    with BusyMachine(2):
        GRIDS["loaded"] = predict_grid(repeats)
    rows = []
    for load, ratios in GRIDS.items():
        (density, n), worst = max(ratios.items(), key=lambda item: item[1])
        rows += [
            Row(
                f"predict, slowest cell of the grid ({density:.0%} kept, batch {n}), "
                f"{load}, vs MLPClassifier",
                worst,
                1.0,
                1.05,
                unit="x",
            ),
            Row(
                f"predict at 5% kept, batch 10,000, {load}, vs MLPClassifier",
                ratios[0.05, 10_000],
                1.0,
                0.5,
                unit="x",
            ),
        ]
    return rows + onnx_rows()


if __name__ == "__main__":
    from _common import print_table

    print_table(run())
    for load, grid in GRIDS.items():
        print(f"\npredict time, ours / MLPClassifier, {load}:")
        print_predict_grid(grid)
