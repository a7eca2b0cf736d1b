"""Several independent searches (seeds), run in parallel with joblib.

Each seed is one call of :func:`~sklearn_lth._imp.find_ticket` from its own
integer seed, a pure function of its arguments. The seeds are drawn from the
estimator's ``random_state`` before any work is handed out, and every search
runs with one BLAS thread, so results do not depend on ``n_jobs`` or on the
joblib backend (loky, threading, dask): ``n_jobs=1`` and ``n_jobs=-1`` give
bit-identical models.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils.parallel import Parallel, delayed
from threadpoolctl import threadpool_limits

from ._imp import IMPResult, find_ticket


def draw_seeds(rng: np.random.RandomState, n_seeds: int) -> np.ndarray:
    """``n_seeds`` independent integer seeds drawn from ``rng``."""
    return rng.randint(np.iinfo(np.int32).max, size=n_seeds)


def _search_one_seed(seed: int, X, Y, sample_weight, checkpoint, kwargs) -> IMPResult:
    with threadpool_limits(limits=1, user_api="blas"):
        return find_ticket(
            X,
            Y,
            sample_weight,
            rng=np.random.RandomState(seed),
            checkpoint=checkpoint,
            **kwargs,
        )


def search_seeds(
    seeds: np.ndarray, X, Y, sample_weight, n_jobs: int | None, checkpoints, **kwargs
) -> list[IMPResult]:
    """Run one search per seed, in parallel; results come in seed order.

    ``checkpoints`` gives each search its own checkpoint store (or None).
    """
    return Parallel(n_jobs=n_jobs)(
        delayed(_search_one_seed)(int(seed), X, Y, sample_weight, store, kwargs)
        for seed, store in zip(seeds, checkpoints)
    )


def best_seed(results: list[IMPResult]) -> int:
    """Index of the search whose final network scores best on validation.

    Ties go to the lowest index.
    """
    scores = [result.history["validation_score"][-1] for result in results]
    return int(np.argmax(scores))


def stack_histories(results: list[IMPResult]) -> dict[str, np.ndarray]:
    """All seeds' round tables in one long table with a ``seed`` column."""
    keys = results[0].history.keys()
    stacked = {
        "seed": np.concatenate(
            [np.full(len(r.history["round"]), i) for i, r in enumerate(results)]
        )
    }
    for key in keys:
        stacked[key] = np.concatenate([r.history[key] for r in results])
    return stacked
