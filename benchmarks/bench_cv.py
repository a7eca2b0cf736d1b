"""LotteryTicketMLPCV against GridSearchCV over the same sparsities and folds.

The path scores every round of one search per fold; the grid runs one search
per candidate sparsity. Target: at most 0.5 of the grid's wall time, with an
equal or better chosen score.
"""

from __future__ import annotations

import time

from _common import Row
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.preprocessing import StandardScaler

from sklearn_lth import LotteryTicketMLP, LotteryTicketMLPCV


def run() -> list[Row]:
    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    folds = StratifiedKFold(3)
    rounds, rate = 6, 0.2
    mlp = dict(hidden_layer_sizes=(64,), max_iter=40, random_state=0)

    tic = time.perf_counter()
    path = LotteryTicketMLPCV(
        cv=folds, pruning_rate=rate, max_rounds=rounds, **mlp
    ).fit(X, y)
    path_seconds = time.perf_counter() - tic

    grid = [{"target_sparsity": [0.0], "pruning_rounds": [1]}] + [
        {"target_sparsity": [1 - (1 - rate) ** r], "pruning_rounds": [r]}
        for r in range(1, rounds + 1)
    ]
    tic = time.perf_counter()
    search = GridSearchCV(LotteryTicketMLP(**mlp), grid, cv=folds).fit(X, y)
    grid_seconds = time.perf_counter() - tic

    path_best = path.cv_results_["mean_test_score"].max()
    return [
        Row(
            f"CV path vs GridSearchCV, {rounds + 1} sparsities x 3 folds (wall)",
            path_seconds,
            grid_seconds,
            0.5,
        ),
        Row(
            "CV path vs GridSearchCV, best mean accuracy",
            path_best,
            search.best_score_,
            1.0,
            unit="",
            lower_is_better=False,
        ),
    ]


if __name__ == "__main__":
    from _common import print_table

    print_table(run())
