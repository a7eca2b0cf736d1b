"""The thread policy, on a quiet machine and on one where other programs compute.

The load is started here: two busy processes (``BusyMachine``), stopped when
each measurement ends. Figures:

- the README's first command (the digits search, in this process), with the
  policy against one BLAS thread set by the user: target <= 1.2 loaded;
- a small network's round with two BLAS threads forced (as every fit ran
  before the policy) against the policy, loaded: what the policy saves;
- a large network's round with the policy against one thread, quiet: a large
  network keeps its threads (target <= 1.0);
- four seeds with ``n_jobs=2`` against ``n_jobs=1``, loaded (target <= 0.6;
  with two busy programs on 2 cores a fair share of the machine gives 0.67
  at best; ``bench_seeds`` measures the same on a quiet machine).
"""

from __future__ import annotations

import contextlib
import io

import numpy as np
from _common import BusyMachine, Row, median_seconds
from sklearn.datasets import load_digits
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from sklearn_lth import LotteryTicketMLP, config_context
from sklearn_lth._cli import main as command_line


def _first_command() -> None:
    with contextlib.redirect_stdout(io.StringIO()):
        assert command_line([]) == 0


def _one_thread(run):
    def limited():
        with threadpool_limits(1, user_api="blas"):
            run()

    return limited


def _digits():
    X, y = load_digits(return_X_y=True)
    return StandardScaler().fit_transform(X).astype(np.float32), y


def run(repeats: int = 3) -> list[Row]:
    X, y = _digits()
    small = dict(hidden_layer_sizes=(100,), target_sparsity=0.0, max_iter=30)
    rng = np.random.default_rng(0)
    X_large = rng.standard_normal((2000, 784), dtype=np.float32)
    y_large = (X_large[:, 0] > 0).astype(int)
    large = dict(
        hidden_layer_sizes=(1000, 1000), target_sparsity=0.0, max_iter=2, tol=0.0
    )
    seeds = dict(
        hidden_layer_sizes=(100,), target_sparsity=0.8, pruning_rounds=3,
        max_iter=30, n_seeds=4,
    )  # fmt: skip

    def fit(params, data=(X, y), **extra):
        return lambda: LotteryTicketMLP(**params, **extra, random_state=0).fit(*data)

    rows = []
    with BusyMachine(2, seconds=600):
        policy = median_seconds(_first_command, repeats)
        one = median_seconds(_one_thread(_first_command), repeats)
        rows.append(
            Row("[loaded] README's first command, default vs 1 BLAS thread",
                policy, one, 1.2)
        )  # fmt: skip
        with config_context(blas_threads=2):
            forced = median_seconds(fit(small), repeats)
        policy = median_seconds(fit(small), repeats)
        rows.append(
            Row("[loaded] 64-100-10 round, 2 BLAS threads forced vs the policy",
                forced, policy, 1.0, lower_is_better=False)
        )  # fmt: skip
        serial = median_seconds(fit(seeds, n_jobs=1), repeats)
        parallel = median_seconds(fit(seeds, n_jobs=2), repeats)
        rows.append(
            # Two busy programs share the 2 cores with the seeds: n_jobs=1 gets
            # 2/3 of the machine, n_jobs=2 one half each, so 0.67 is the floor.
            Row(
                "[loaded] 4 seeds, n_jobs=2 vs n_jobs=1 (wall; fair share: 0.67)",
                parallel,
                serial,
                0.6,
            )
        )
    policy = median_seconds(fit(large, (X_large, y_large)), repeats)
    one = median_seconds(_one_thread(fit(large, (X_large, y_large))), repeats)
    rows.append(
        Row("[quiet] 784-1000-1000 round (batch 200), default vs 1 BLAS thread",
            policy, one, 1.0)
    )  # fmt: skip
    return rows


if __name__ == "__main__":
    from _common import print_table

    print_table(run())
