"""Pickled size of a fitted model at 90% sparsity against MLPClassifier."""

from __future__ import annotations

import pickle

import numpy as np
from _common import Row
from sklearn.neural_network import MLPClassifier

from sklearn_lth import LotteryTicketMLP


def run() -> list[Row]:
    rng = np.random.RandomState(0)
    X = rng.normal(size=(500, 784)).astype(np.float32)
    y = rng.randint(10, size=500)
    ours = LotteryTicketMLP(
        (300, 100), target_sparsity=0.9, pruning_rounds=2, max_iter=2, random_state=0
    ).fit(X, y)
    dense = MLPClassifier((300, 100), max_iter=2, random_state=0).fit(X, y)
    size, dense_size = len(pickle.dumps(ours)), len(pickle.dumps(dense))
    kept = sum(W.nnz for W in ours.coefs_)
    return [
        Row(
            "pickle size, 784-300-100-10 float32 at 90% sparsity",
            size / 1e6,
            dense_size / 1e6,
            0.2,
            unit="MB",
        ),
        Row("pickle bytes per kept weight (vs 14 B)", size / kept, 14.0, 1.0, unit="B"),
    ]


if __name__ == "__main__":
    from _common import print_table

    print_table(run())
