"""verbose=True: scikit-learn's lines for one search, labelled for several."""

import re

import numpy as np
import pytest

from sklearn_lth import LotteryTicketMLP, LotteryTicketMLPCV

rng = np.random.RandomState(0)
X = rng.normal(size=(60, 4))
y = (X[:, 0] > 0).astype(int)
SMALL = dict(hidden_layer_sizes=(4,), max_iter=2, pruning_rounds=1, verbose=True)


def _lines(capsys) -> list[str]:
    return capsys.readouterr().out.splitlines()


def test_one_search_prints_scikit_learns_lines_unlabelled(capsys):
    LotteryTicketMLP(**SMALL).fit(X, y)
    lines = _lines(capsys)
    assert lines[0].startswith("Round 0: 20 of 20 weights kept")
    assert re.fullmatch(r"Iteration 1, loss = \d+\.\d{8}", lines[1])
    assert not any(line.startswith("[") for line in lines)


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_every_line_of_a_seed_names_it(capsys, n_jobs):
    # n_jobs=2: the threads or processes of joblib print labelled lines too
    # (a worker process's output reaches pytest only through the threading
    # backend, which joblib uses for so small a job only if told).
    from joblib import parallel_config

    with parallel_config(backend="threading"):
        LotteryTicketMLP(n_seeds=2, n_jobs=n_jobs, **SMALL).fit(X, y)
    lines = _lines(capsys)
    for seed in (0, 1):
        own = [line for line in lines if line.startswith(f"[seed {seed}] ")]
        # Per round: its header, and per epoch its loss and validation score.
        assert len(own) == 2 * (1 + 2 * 2)
        assert (
            own[0] == f"[seed {seed}] Round 0: 20 of 20 weights kept (sparsity 0.0000)"
        )
    assert all(line.startswith("[seed ") for line in lines)


def test_every_line_of_a_fold_names_it_and_the_refit_is_plain(capsys):
    LotteryTicketMLPCV(
        cv=2, max_rounds=1, hidden_layer_sizes=(4,), max_iter=2, verbose=True
    ).fit(X, y)
    lines = _lines(capsys)
    folds = [line for line in lines if line.startswith("[fold ")]
    assert {line.split("]")[0] for line in folds} == {"[fold 0", "[fold 1"}
    assert len(folds) == 2 * 2 * (1 + 2)  # folds x rounds x (header + epochs)
    refit = [line for line in lines if not line.startswith("[fold ")]
    assert refit and refit[0].startswith("Round 0: ")
