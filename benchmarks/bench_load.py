"""Load: one round on a 200,000 x 784 float32 input, and the memory it takes.

The figure is the peak of memory allocated during ``fit`` (tracemalloc, which
sees numpy's buffers) on top of the input, against the input's size plus the
fitted model's: the target is at most 2.5 times. ``X`` is never copied:
batches are gathered from it, and validation splits are row indices.
"""

from __future__ import annotations

import pickle
import time
import tracemalloc

import numpy as np
from _common import Row

from sklearn_lth import LotteryTicketMLP


def run(n_samples: int = 200_000) -> list[Row]:
    rng = np.random.default_rng(0)
    X = rng.standard_normal(size=(n_samples, 784), dtype=np.float32)
    y = (X[:, :10].sum(axis=1) > 0).astype(int) + (X[:, 10] > 1)
    model = LotteryTicketMLP(
        (300, 100), target_sparsity=0.0, max_iter=1, early_stopping=True, random_state=0
    )
    tracemalloc.start()
    tic = time.perf_counter()
    model.fit(X, y)
    seconds = time.perf_counter() - tic
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    model_size = len(pickle.dumps(model))
    budget = X.nbytes + model_size
    return [
        Row(
            f"fit one round on {n_samples:,} x 784 float32 ({seconds:.1f} s): peak "
            "memory incl. input vs input + model",
            (peak + X.nbytes) / 1e6,
            budget / 1e6,
            2.5,
            unit="MB",
        ),
    ]


if __name__ == "__main__":
    from _common import print_table

    print_table(run())
