"""The thread policy (sklearn_lth._threads): which fits take one BLAS thread,
that the caller's setting comes back after any fit, and what kernels_ says."""

import threading

import numpy as np
import pytest
from _helpers import fail_in_round
from threadpoolctl import threadpool_info, threadpool_limits

import sklearn_lth
import sklearn_lth._config as config
from sklearn_lth import LotteryTicketMLP, LotteryTicketMLPCV
from sklearn_lth._threads import (
    MIN_MULTIPLY_ADDS_FOR_THREADS,
    blas_threads,
    blas_threads_for,
)

# 64 inputs, (12,) hidden, 3 outputs: 804 weights, far below the threshold.
SMALL = dict(hidden_layer_sizes=(12,), max_iter=3, pruning_rounds=1, random_state=0)
# 64-3000-3 at batches of 200: 58 million multiply-adds per step.
LARGE = dict(hidden_layer_sizes=(3000,), max_iter=1, pruning_rounds=1, random_state=0)


def _blas_threads() -> list[int]:
    return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]


@pytest.fixture
def two_threads():
    """The caller's BLAS has two threads."""
    with sklearn_lth.config_context(blas_threads="auto"), threadpool_limits(2):
        if not _blas_threads() or max(_blas_threads()) < 2:
            pytest.skip("no BLAS here that takes two threads")
        yield _blas_threads()


@pytest.fixture
def free_threads():
    """The BLAS's own threads, with no thread holding a limit (a limit held
    in the main thread would stop other threads from setting any)."""
    with sklearn_lth.config_context(blas_threads="auto"):
        if not _blas_threads() or max(_blas_threads()) < 2:
            pytest.skip("no BLAS here with two threads or more")
        yield _blas_threads()


@pytest.fixture
def data():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(200, 64))
    return X, (X[:, 0] > 0).astype(int) + (X[:, 1] > 1)


def _threads_during_fit(model, X, y) -> list[list[int]]:
    seen = []
    model.fit(X, y, on_round_end=lambda record, m: seen.append(_blas_threads()))
    return seen


def test_the_rule_reads_the_step_size_seeds_and_setting_only(monkeypatch):
    below = [100, 100]  # 10,000 weights
    batch = MIN_MULTIPLY_ADDS_FOR_THREADS // 10_000
    with sklearn_lth.config_context(blas_threads="auto"):
        assert blas_threads_for(below, batch - 1) == 1
        assert blas_threads_for(below, batch) is None  # the caller's
        assert blas_threads_for(below, batch, n_seeds=2) == 1
        # Not the variables joblib's workers set (a fold would train
        # otherwise than the same fit in the parent).
        monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")
        monkeypatch.setenv("OMP_NUM_THREADS", "2")
        assert blas_threads_for(below, 1) == 1
    with sklearn_lth.config_context(blas_threads=3):
        assert blas_threads_for(below, 1) == 3
        assert blas_threads_for(below, 1, n_seeds=4) == 1  # seeds: one each


@pytest.mark.parametrize("value", [0, -2, 1.5, "two", True, float("inf")])
def test_a_bad_setting_is_refused_by_name(value, monkeypatch):
    with pytest.raises(ValueError, match="blas_threads must be 'auto' or a posit"):
        sklearn_lth.set_config(blas_threads=value)
    assert sklearn_lth.get_config()["blas_threads"] != value
    with sklearn_lth.config_context():
        config._config()["blas_threads"] = "two"
        monkeypatch.setenv("SKLEARN_LTH_BLAS_THREADS", "two")
        with pytest.raises(ValueError, match="SKLEARN_LTH_BLAS_THREADS must be"):
            LotteryTicketMLP(**SMALL).fit(np.eye(3), [0, 1, 1])


def test_a_small_fit_trains_on_one_thread_and_gives_the_callers_back(two_threads, data):
    X, y = data
    model = LotteryTicketMLP(**SMALL)
    with sklearn_lth.config_context(kernels="numpy"):
        assert _threads_during_fit(model, X, y) == [[1] * len(two_threads)] * 2
        assert _blas_threads() == two_threads
        assert model.kernels_ == {"path": "numpy", "blas_threads": 1}
        model.partial_fit(X, y)
    assert _blas_threads() == two_threads
    assert model.kernels_ == {"path": "numpy", "blas_threads": 1}


def test_a_large_fit_keeps_the_callers_threads(two_threads, data):
    X, y = data
    model = LotteryTicketMLP(**LARGE)
    assert _threads_during_fit(model, X, y) == [two_threads] * 2
    assert model.kernels_["blas_threads"] == max(two_threads)
    with sklearn_lth.config_context(blas_threads=1):
        assert _threads_during_fit(model, X, y) == [[1] * len(two_threads)] * 2
    assert _blas_threads() == two_threads


@pytest.mark.parametrize("error", [KeyboardInterrupt, MemoryError])
def test_the_callers_threads_come_back_however_the_fit_ends(
    two_threads, data, monkeypatch, error
):
    X, y = data
    fail_in_round(monkeypatch, 1, error)
    with pytest.raises(error):
        LotteryTicketMLP(**SMALL).fit(X, y)
    assert _blas_threads() == two_threads


def test_fits_in_threads_give_the_callers_threads_back(free_threads, data):
    """Two fits overlap in two threads, one of which stays alive after (as a
    pool's worker does): the caller's threads come back, and a limit set in
    yet another thread afterwards still takes effect."""
    X, y = data
    both_inside, done = threading.Barrier(2, timeout=60), threading.Event()
    a_has_fitted = threading.Event()
    seen, reported = {}, {}

    def fit(name, stay):
        def at_round_end(record, model):
            if record["round"] == 0:
                both_inside.wait()
                seen[name] = _blas_threads()
                both_inside.wait()

        model = LotteryTicketMLP(**SMALL).fit(X, y, on_round_end=at_round_end)
        reported[name] = model.kernels_["blas_threads"]
        if stay:
            a_has_fitted.set()
            done.wait(60)

    workers = [threading.Thread(target=fit, args=(n, n == "a")) for n in "ab"]
    for worker in workers:
        worker.start()
    workers[1].join()
    # Whichever finishes last: on a loaded machine "a" may still be training.
    assert a_has_fitted.wait(60)
    # The first fit in set one thread for both; it has left, alive.
    assert seen["a"] == seen["b"] == [1] * len(free_threads)
    assert _blas_threads() == free_threads
    later = []

    def limit_elsewhere():
        with threadpool_limits(1):
            later.append(_blas_threads())

    elsewhere = threading.Thread(target=limit_elsewhere)
    elsewhere.start()
    elsewhere.join()
    done.set()
    workers[0].join()
    assert later == [[1] * len(free_threads)]
    # The fit that found the other inside cannot say what it trained with.
    assert sorted(reported.values(), key=str) == [1, None]
    assert _blas_threads() == free_threads


def test_a_fit_inside_another_leaves_the_threads_to_the_outer_one(two_threads):
    with blas_threads(None) as outer:
        assert outer == max(two_threads)
        with blas_threads(1) as inner:  # a fit started from a callback, say
            assert inner is None  # the outer fit's threads, whatever they are
            assert _blas_threads() == two_threads
    with blas_threads(1) as alone:
        assert alone == 1 and _blas_threads() == [1] * len(two_threads)
    assert _blas_threads() == two_threads


def test_cv_folds_in_threads_get_the_callers_setting(two_threads, data):
    from joblib import parallel_config

    X, y = data
    model = LotteryTicketMLPCV(
        hidden_layer_sizes=(3000,), max_iter=1, max_rounds=1, cv=2, n_jobs=2
    )
    with (
        parallel_config(backend="threading"),
        sklearn_lth.config_context(blas_threads=1),
    ):
        model.fit(X, y)
    assert model.best_estimator_.kernels_["blas_threads"] == 1
    assert _blas_threads() == two_threads
