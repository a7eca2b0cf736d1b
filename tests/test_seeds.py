import numpy as np
import pytest
from _helpers import fail_in_round
from joblib import parallel_config

from sklearn_lth import LotteryTicketMLP
from sklearn_lth._search._open import draw_seeds

PARAMS = dict(
    hidden_layer_sizes=(12,),
    max_iter=20,
    learning_rate_init=0.01,
    target_sparsity=0.7,
    pruning_rounds=2,
    n_seeds=3,
    random_state=0,
)


def _weights(model):
    return [W.toarray() for W in model.coefs_] + list(model.intercepts_)


def _assert_same_model(a, b):
    for x, y in zip(_weights(a), _weights(b)):
        np.testing.assert_array_equal(x, y)
    assert a.best_seed_ == b.best_seed_
    for key in a.seeds_history_:
        if key != "seconds":
            np.testing.assert_array_equal(a.seeds_history_[key], b.seeds_history_[key])


def test_the_best_seed_is_kept(small_classification):
    X, y = small_classification
    model = LotteryTicketMLP(**PARAMS).fit(X, y)
    table = model.seeds_history_
    assert len(table["seed"]) == 3 * 3
    np.testing.assert_array_equal(table["seed"], np.repeat([0, 1, 2], 3))
    final = table["validation_score"][table["round"] == 2]
    assert model.best_seed_ == int(np.argmax(final))
    rows = table["seed"] == model.best_seed_
    np.testing.assert_array_equal(
        model.history_["remaining_parameters"], table["remaining_parameters"][rows]
    )
    np.testing.assert_array_equal(
        model.history_["validation_score"], table["validation_score"][rows]
    )
    # The seeds really are different initialisations.
    assert len(set(table["train_loss"][table["round"] == 0])) == 3


def test_seeds_come_from_random_state():
    a = draw_seeds(np.random.RandomState(0), 4)
    np.testing.assert_array_equal(a, draw_seeds(np.random.RandomState(0), 4))
    assert len(set(a)) == 4


@pytest.mark.parametrize("n_jobs", [2, -1])
def test_parallel_equals_serial(small_classification, n_jobs):
    X, y = small_classification
    serial = LotteryTicketMLP(**PARAMS, n_jobs=1).fit(X, y)
    parallel = LotteryTicketMLP(**PARAMS, n_jobs=n_jobs).fit(X, y)
    _assert_same_model(serial, parallel)


def test_threading_backend_equals_serial(small_classification):
    X, y = small_classification
    serial = LotteryTicketMLP(**PARAMS).fit(X, y)
    with parallel_config(backend="threading", n_jobs=2):
        threaded = LotteryTicketMLP(**PARAMS).fit(X, y)
    _assert_same_model(serial, threaded)


@pytest.mark.slow
def test_dask_cluster_equals_serial(small_classification):
    """Seeds and a grid search spread over a real two-process dask cluster."""
    distributed = pytest.importorskip("distributed")
    from sklearn.model_selection import GridSearchCV

    X, y = small_classification
    serial = LotteryTicketMLP(**PARAMS).fit(X, y)
    grid = {"target_sparsity": [0.5, 0.8], "rewind": ["init", "lr"]}
    search_params = dict(PARAMS, n_seeds=1)
    serial_search = GridSearchCV(LotteryTicketMLP(**search_params), grid, cv=2).fit(
        X, y
    )
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster),
        parallel_config(backend="dask"),
    ):
        on_dask = LotteryTicketMLP(**PARAMS, n_jobs=-1).fit(X, y)
        dask_search = GridSearchCV(
            LotteryTicketMLP(**search_params), grid, cv=2, n_jobs=-1
        ).fit(X, y)
    _assert_same_model(serial, on_dask)
    np.testing.assert_array_equal(
        dask_search.cv_results_["mean_test_score"],
        serial_search.cv_results_["mean_test_score"],
    )
    assert dask_search.best_params_ == serial_search.best_params_


def test_a_diverged_seed_does_not_discard_the_finished_ones(
    small_classification, monkeypatch
):
    """Seeds run one after another here: the second diverges in round 1."""
    import sklearn_lth._search._loop as imp
    from sklearn_lth.exceptions import TrainingDivergedError

    X, y = small_classification
    real, calls = imp.train_round, []

    def train_round(*args, round_index, **kwargs):
        calls.append(round_index)
        if len(calls) == 5:  # seed 1, round 1
            raise TrainingDivergedError("the loss is nan", round_index=round_index)
        return real(*args, round_index=round_index, **kwargs)

    monkeypatch.setattr(imp, "train_round", train_round)
    with pytest.warns(UserWarning, match="1 of 3 seeds diverged"):
        model = LotteryTicketMLP(**PARAMS, n_jobs=1).fit(X, y)
    assert model.best_seed_ in (0, 2)
    table = model.seeds_history_
    np.testing.assert_array_equal(table["round"][table["seed"] == 1], [0])
    np.testing.assert_array_equal(model.history_["round"], [0, 1, 2])


def test_when_every_seed_diverges_the_error_keeps_the_deepest_rounds(
    small_classification, monkeypatch
):
    from sklearn_lth.exceptions import TrainingDivergedError

    X, y = small_classification
    fail_in_round(
        monkeypatch, 2, TrainingDivergedError("the loss is nan", round_index=2)
    )
    with pytest.raises(TrainingDivergedError, match="round 1, the last") as caught:
        LotteryTicketMLP(**PARAMS, n_jobs=1).fit(X, y)
    np.testing.assert_array_equal(caught.value.estimator.history_["round"], [0, 1])


def test_the_kept_seed_is_the_deepest_then_the_best_scoring():
    from sklearn_lth._search._seeds import choose_seed

    def result(rounds, score):
        history = {
            "round": np.arange(rounds),
            "validation_score": np.full(rounds, score),
        }
        return type("Result", (), {"history": history})()

    # A denser seed that scores better is never kept over a sparser one.
    assert choose_seed([result(2, 0.99), result(3, 0.5), result(3, 0.7)]) == 2
    assert choose_seed([None, result(1, 0.5), result(1, 0.5)]) == 1
    assert choose_seed([None, None]) is None
