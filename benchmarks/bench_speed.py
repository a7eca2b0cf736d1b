"""Training and prediction speed on the issue's workload.

784-300-100-10 network, Adam, batches of 60, float32, a 4,000 x 784 random
input with 10 classes; every round trains a fixed number of epochs. Rows
marked ``[numpy]`` or ``[numba]`` ran on that kernel path (see
``sklearn_lth.set_config``); the numba rows only when numba is installed.
"""

from __future__ import annotations

import statistics
import time
import timeit
import tracemalloc

import numpy as np
import scipy.sparse as sp
from _common import Row, median_seconds
from sklearn.neural_network import MLPClassifier
from threadpoolctl import threadpool_limits

from sklearn_lth import LotteryTicket, LotteryTicketMLP, config_context
from sklearn_lth._config import numba_available

LAYERS = (300, 100)
EPOCHS = 3
FIXED = dict(
    batch_size=60, max_iter=EPOCHS, tol=0.0, n_iter_no_change=10_000, random_state=0
)


def workload(n_samples: int = 4000):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(n_samples, 784)).astype(np.float32)
    y = rng.randint(10, size=n_samples)
    return X, y


def random_ticket(density: float, seed: int = 0) -> LotteryTicket:
    rng = np.random.RandomState(seed)
    units = [784, *LAYERS, 10]
    weights, biases = [], []
    for n_in, n_out in zip(units[:-1], units[1:]):
        bound = np.sqrt(6 / (n_in + n_out))
        W = rng.uniform(-bound, bound, (n_in, n_out)).astype(np.float32)
        W[rng.uniform(size=W.shape) >= density] = 0
        weights.append(sp.csr_array(W))
        biases.append(np.zeros(n_out, np.float32))
    return LotteryTicket(weights, biases)


def bare_gemm_seconds(batch: int = 60) -> float:
    """The matrix products of one training step, alone (the machine's limit)."""
    rng = np.random.RandomState(0)
    units = [784, *LAYERS, 10]
    Ws = [rng.normal(size=(a, b)).astype(np.float32) for a, b in zip(units, units[1:])]
    As = [rng.normal(size=(batch, n)).astype(np.float32) for n in units]
    grads = [np.empty_like(W) for W in Ws]

    def step():
        for i, W in enumerate(Ws):
            np.matmul(As[i], W, out=As[i + 1])  # forward
            np.matmul(As[i].T, As[i + 1], out=grads[i])  # weight gradient
            if i:
                np.matmul(As[i + 1], W.T, out=As[i])  # error sent down

    return min(timeit.repeat(step, number=50, repeat=5)) / 50


def global_ticket(kept: float, seed: int = 0) -> LotteryTicket:
    """A ticket keeping ``kept`` of the weights by global magnitude at init.

    The per-layer densities of a real global search's pattern: the layers
    with the widest initial range (the smallest) keep the most.
    """
    rng = np.random.RandomState(seed)
    units = [784, *LAYERS, 10]
    weights, biases = [], []
    for n_in, n_out in zip(units[:-1], units[1:]):
        bound = np.sqrt(6 / (n_in + n_out))
        weights.append(rng.uniform(-bound, bound, (n_in, n_out)).astype(np.float32))
        biases.append(np.zeros(n_out, np.float32))
    magnitudes = np.sort(np.concatenate([np.abs(W).ravel() for W in weights]))
    threshold = magnitudes[int((1 - kept) * magnitudes.size)]
    return LotteryTicket(
        [sp.csr_array(np.where(np.abs(W) >= threshold, W, 0)) for W in weights],
        biases,
    )


def paths() -> list[str]:
    """The kernel paths this machine can run: numpy, and numba if installed."""
    return ["numpy"] + (["numba"] if numba_available() else [])


def epoch_seconds(X, y, repeats: int, **params) -> float:
    """One epoch's time: fits of 2 * EPOCHS minus fits of EPOCHS epochs.

    The fixed costs of a fit (validation, set-up) cancel out. The two run
    back to back and the median is over these paired differences, which
    keeps the machine's drift out of the figure.
    """

    def fit(epochs):
        return LotteryTicketMLP(**{**FIXED, "max_iter": epochs}, **params).fit(X, y)

    fit(EPOCHS)  # warm-up (and, on the numba path, loading the kernels)
    differences = []
    for _ in range(2 * repeats):
        tic = time.perf_counter()
        fit(2 * EPOCHS)
        middle = time.perf_counter()
        fit(EPOCHS)
        differences.append((middle - tic) - (time.perf_counter() - middle))
    return statistics.median(differences) / EPOCHS


def late_epoch_seconds(X, y, ticket, after: int, epochs: int) -> float:
    """One epoch's time among the ``epochs`` that follow epoch ``after``:
    fits of ``after + epochs`` minus fits of ``after`` epochs (medians of 3)."""

    def fit(n):
        tic = time.perf_counter()
        LotteryTicketMLP(**{**FIXED, "max_iter": n}, ticket=ticket).fit(X, y)
        return time.perf_counter() - tic

    fit(1)  # warm-up
    differences = [fit(after + epochs) - fit(after) for _ in range(3)]
    return statistics.median(differences) / epochs


def search_seconds(X, y) -> tuple[float, float]:
    """A 12-round search at 20%/round: total seconds and its round 0's."""
    totals, firsts = [], []
    for _ in range(3):
        search = LotteryTicketMLP(
            LAYERS, target_sparsity=1 - 0.8**12, pruning_rounds=12, **FIXED
        ).fit(X, y)
        seconds = search.history_["seconds"]
        totals.append(seconds.sum())
        firsts.append(seconds[0])
    middle = int(np.argsort(totals)[1])
    return float(totals[middle]), float(firsts[middle])


# Targets per path: the numpy path's, and the compiled path's (issues 14
# and 21).
TARGETS = {
    "numpy": {"mlp": 0.8, "5%": 0.6, "2%": 0.4, "20%": 1.0, "search": 8.0},
    "numba": {"mlp": 0.35, "5%": 0.2, "2%": 0.12, "20%": 0.5, "search": 8.0},
}


def run(repeats: int = 5) -> list[Row]:
    X, y = workload()
    rows = []
    sklearn_time = median_seconds(
        lambda: MLPClassifier(LAYERS, **FIXED).fit(X, y), repeats
    )
    dense_epochs, searches = {}, {}
    for path in paths():
        targets = TARGETS[path]
        with config_context(kernels=path):
            # 1. Dense round against MLPClassifier.
            dense = median_seconds(
                lambda: LotteryTicketMLP(LAYERS, target_sparsity=0.0, **FIXED).fit(
                    X, y
                ),
                repeats,
            )
            rows.append(
                Row(
                    f"[{path}] dense round, {EPOCHS} epochs, vs MLPClassifier",
                    dense,
                    sklearn_time,
                    targets["mlp"],
                )
            )
            # 2. Epochs at 20% (global pattern), 5% and 2% kept vs dense.
            dense_epoch = dense_epochs[path] = epoch_seconds(
                X, y, repeats, hidden_layer_sizes=LAYERS, target_sparsity=0.0
            )
            tickets = (
                ("20% kept (global)", global_ticket(0.2), targets["20%"]),
                ("5% kept", random_ticket(0.05), targets["5%"]),
                ("2% kept", random_ticket(0.02), targets["2%"]),
            )
            for name, ticket, target in tickets:
                rows.append(
                    Row(
                        f"[{path}] epoch at {name} vs dense epoch",
                        epoch_seconds(X, y, repeats, ticket=ticket),
                        dense_epoch,
                        target,
                    )
                )
            # Long training at 2% kept: epochs 51-60 against epochs 6-10. The
            # weights of units that get no error decay under the L2 term into
            # subnormal numbers, each of which costs some hundred cycles per
            # operation unless training sets them to zero (it does): the late
            # epochs had taken 8 times as long.
            rows.append(
                Row(
                    f"[{path}] epochs 51-60 vs epochs 6-10, 2% kept",
                    late_epoch_seconds(X, y, random_ticket(0.02), 50, 10),
                    late_epoch_seconds(X, y, random_ticket(0.02), 5, 5),
                    1.5,
                )
            )
            # 3. A 12-round search at 20%/round against its own dense round 0.
            total, first = searches[path] = search_seconds(X, y)
            rows.append(
                Row(
                    f"[{path}] 12-round IMP at 20%/round vs its dense round 0",
                    total,
                    first,
                    targets["search"],
                )
            )
    if "numba" in dense_epochs:
        steps = -(-len(X) // 60)
        rows.append(
            Row(
                "dense step, numba / numpy path",
                dense_epochs["numba"] / steps * 1e3,
                dense_epochs["numpy"] / steps * 1e3,
                0.75,
                unit="ms",
            )
        )
        rows.append(
            Row(
                "whole 12-round search, numba / numpy path",
                searches["numba"][0],
                searches["numpy"][0],
                0.5,
            )
        )

    with config_context(kernels="numpy"):
        with threadpool_limits(limits=1, user_api="blas"):
            one_thread = median_seconds(
                lambda: LotteryTicketMLP(LAYERS, target_sparsity=0.0, **FIXED).fit(
                    X, y
                ),
                repeats,
            )
        dense = median_seconds(
            lambda: LotteryTicketMLP(LAYERS, target_sparsity=0.0, **FIXED).fit(X, y),
            repeats,
        )
    # Informative: above 1 means the default (all cores) is the faster choice.
    rows.append(
        Row(
            "[numpy] dense round, 1 BLAS thread vs default threads",
            one_thread,
            dense,
            1.0,
            lower_is_better=False,
        )
    )
    steps = -(-len(X) // 60)
    rows.append(
        Row(
            "[numpy] bare GEMM time / our dense step time",
            bare_gemm_seconds() * 1e3,
            dense_epochs["numpy"] / steps * 1e3,
            0.5,
            unit="ms",
            lower_is_better=False,
        )
    )

    # 4. Prediction at 95% sparsity against MLPClassifier.predict.
    ours = LotteryTicketMLP(ticket=random_ticket(0.05), **FIXED).fit(X, y)
    theirs = MLPClassifier(LAYERS, **FIXED).fit(X, y)
    one = X[:1]
    big = np.tile(X, (3, 1))[:10_000]

    def per_call(f, number):
        return statistics.median(timeit.repeat(f, number=number, repeat=7)) / number

    rows.append(
        Row(
            "predict 1 sample at 95% sparsity",
            per_call(lambda: ours.predict(one), 200) * 1e6,
            per_call(lambda: theirs.predict(one), 200) * 1e6,
            0.5,
            unit="us",
        )
    )
    rows.append(
        Row(
            "predict 10,000 samples at 95% sparsity",
            per_call(lambda: ours.predict(big), 5) * 1e3,
            per_call(lambda: theirs.predict(big), 5) * 1e3,
            1.0,
            unit="ms",
        )
    )

    # 5. Peak memory of fit at 95% sparsity against 0%.
    def peak(**params):
        tracemalloc.start()
        LotteryTicketMLP(LAYERS, **{**FIXED, "max_iter": 1}, **params).fit(X, y)
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top / 1e6

    rows.append(
        Row(
            "peak memory of fit, 95% vs 0% sparsity",
            peak(target_sparsity=0.95, pruning_rounds=5),
            peak(target_sparsity=0.0),
            1.0,
            unit="MB",
        )
    )
    return rows


if __name__ == "__main__":
    from _common import print_table

    print_table(run())


def print_density_table(repeats: int = 3) -> None:
    """An epoch at every density of a 12-round search (20% pruned per round,
    global magnitude patterns), against the same path's dense epoch."""
    X, y = workload()
    dense = {}
    rows = []
    for path in paths():
        with config_context(kernels=path):
            dense[path] = epoch_seconds(
                X, y, repeats, hidden_layer_sizes=LAYERS, target_sparsity=0.0
            )
    for round_index in range(13):
        kept = 0.8**round_index
        ticket = global_ticket(kept)
        ratios = []
        for path in paths():
            with config_context(kernels=path):
                ratios.append(epoch_seconds(X, y, repeats, ticket=ticket) / dense[path])
        layers = " / ".join(f"{mask.mean():.0%}" for mask in ticket.masks)
        rows.append((round_index, kept, layers, ratios))
    print("| round | kept | per layer | " + " | ".join(paths()) + " |")
    print("|---:|---:|---|" + "---:|" * len(paths()))
    for round_index, kept, layers, ratios in rows:
        cells = " | ".join(f"{ratio:.2f}" for ratio in ratios)
        print(f"| {round_index} | {kept:.1%} | {layers} | {cells} |")
    print()
    epochs = ", ".join(f"{path} {s * 1e3:.1f} ms" for path, s in dense.items())
    print(f"Dense epoch: {epochs}")
