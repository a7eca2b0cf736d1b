"""Four seeds searched with ``n_jobs=2`` against ``n_jobs=1`` (target <= 0.65)."""

from __future__ import annotations

import numpy as np
from _common import Row, median_seconds
from sklearn.datasets import load_digits
from sklearn.preprocessing import StandardScaler

from sklearn_lth import LotteryTicketMLP


def run(repeats: int = 3) -> list[Row]:
    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X).astype(np.float32)
    params = dict(
        hidden_layer_sizes=(100,),
        target_sparsity=0.8,
        pruning_rounds=3,
        max_iter=30,
        n_seeds=4,
        random_state=0,
    )
    serial = median_seconds(
        lambda: LotteryTicketMLP(**params, n_jobs=1).fit(X, y), repeats
    )
    parallel = median_seconds(
        lambda: LotteryTicketMLP(**params, n_jobs=2).fit(X, y), repeats
    )
    return [Row("4 seeds, n_jobs=2 vs n_jobs=1 (wall)", parallel, serial, 0.65)]


if __name__ == "__main__":
    from _common import print_table

    print_table(run())
