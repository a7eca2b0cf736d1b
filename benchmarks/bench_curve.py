"""The paper's experiment against one search in a plain PyTorch loop.

The sparsity curve of LeNet-300-100 on an MNIST-sized problem (60,000 x 784
random float32 inputs, 10 classes; 12 rounds at 20% per round, one epoch per
round, Adam, batches of 60): 5 seeds x (ticket, random re-initialisation,
random pruning) with ``sparsity_curve(n_jobs=2)``, against a single 12-round
search written as a plain PyTorch loop (the masks multiplied into the
weights after every step, global magnitude pruning, rewound to the initial
weights), on the same machine. Skipped when PyTorch is not installed (it is
not a dependency: ``pip install torch``).
"""

from __future__ import annotations

import time

import numpy as np
from _common import Row

ROUNDS, BATCH, LAYERS = 12, 60, (300, 100)


def workload(n_samples: int = 60_000, n_test: int = 10_000):
    rng = np.random.RandomState(0)
    centres = rng.normal(size=(10, 784)).astype(np.float32)
    y = rng.randint(10, size=n_samples + n_test)
    X = centres[y] + 3 * rng.normal(size=(y.size, 784)).astype(np.float32)
    return X[:n_samples], y[:n_samples], X[n_samples:], y[n_samples:]


def curve_seconds(X, y, X_test, y_test) -> float:
    from sklearn_lth import LotteryTicketMLP, sparsity_curve

    search = LotteryTicketMLP(
        LAYERS,
        target_sparsity=1 - 0.8**ROUNDS,
        pruning_rounds=ROUNDS,
        max_iter=1,
        batch_size=BATCH,
        tol=0.0,
        n_iter_no_change=10_000,
    )
    tic = time.perf_counter()
    sparsity_curve(
        search,
        X,
        y,
        X_test=X_test,
        y_test=y_test,
        n_seeds=5,
        n_jobs=2,
        random_state=0,
    )
    return time.perf_counter() - tic


def torch_search_seconds(X, y) -> float:
    """One 12-round IMP search of LeNet-300-100 in plain PyTorch."""
    import torch

    torch.manual_seed(0)
    units = [784, *LAYERS, 10]
    layers = [torch.nn.Linear(a, b) for a, b in zip(units, units[1:])]
    model = torch.nn.Sequential(
        layers[0], torch.nn.ReLU(), layers[1], torch.nn.ReLU(), layers[2]
    )
    initial = [layer.weight.detach().clone() for layer in layers]
    initial_bias = [layer.bias.detach().clone() for layer in layers]
    masks = [torch.ones_like(w) for w in initial]
    X_t, y_t = torch.from_numpy(X), torch.from_numpy(y.astype(np.int64))
    loss_fn = torch.nn.CrossEntropyLoss()
    tic = time.perf_counter()
    for _ in range(ROUNDS + 1):
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        order = torch.randperm(X_t.shape[0])
        for start in range(0, X_t.shape[0], BATCH):
            rows = order[start : start + BATCH]
            optimizer.zero_grad()
            loss_fn(model(X_t[rows]), y_t[rows]).backward()
            optimizer.step()
            with torch.no_grad():
                for layer, mask in zip(layers, masks):
                    layer.weight.mul_(mask)
        with torch.no_grad():
            # Global magnitude pruning of 20% of the remaining weights, then
            # the survivors rewound to their initial values.
            kept = torch.cat([lay.weight[m > 0].abs() for lay, m in zip(layers, masks)])
            threshold = torch.kthvalue(kept, int(0.2 * kept.numel())).values
            for layer, mask, w0, b0 in zip(layers, masks, initial, initial_bias):
                mask.mul_((layer.weight.abs() > threshold).float())
                layer.weight.copy_(w0 * mask)
                layer.bias.copy_(b0)
    return time.perf_counter() - tic


def run() -> list[Row]:
    try:
        import torch  # noqa: F401
    except ImportError:
        return []
    X, y, X_test, y_test = workload()
    ours = curve_seconds(X, y, X_test, y_test)
    theirs = torch_search_seconds(X, y)
    return [
        Row(
            "sparsity curve (5 seeds x 3 arms x 12 rounds) vs one PyTorch search",
            ours,
            theirs,
            5.0,
        )
    ]


if __name__ == "__main__":
    from _common import print_table

    print_table(run())
