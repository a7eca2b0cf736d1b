"""warm_start: a second fit trains the fitted network on, or prunes on.

At the target already reached a warm-started fit takes scikit-learn's
``warm_start`` steps (checked against MLPClassifier and MLPRegressor); at a
higher one it continues the search, and a search continued in two fits ends
bit-identical to one search with the same per-round counts.
"""

import pickle
import warnings

import numpy as np
import pytest
from _helpers import fail_in_round
from sklearn.base import clone
from sklearn.datasets import load_digits, load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier, MLPRegressor

from sklearn_lth import LotteryTicketMLP, LotteryTicketMLPRegressor
from sklearn_lth.exceptions import TrainingDivergedError

RATE = 0.3
# Two rounds at RATE, then two more: the same per-round rate as four at once.
HALF_WAY, ALL_THE_WAY = 1 - (1 - RATE) ** 2, 1 - (1 - RATE) ** 4
SEARCH = dict(hidden_layer_sizes=(24,), max_iter=6, random_state=0)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:300] / 16, y[:300]


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return (X - X.mean(0)) / X.std(0), y


@pytest.fixture
def half_way(digits):
    """A warm-started search fitted half-way (two of four rounds), pickled."""
    model = LotteryTicketMLP(
        target_sparsity=HALF_WAY, pruning_rounds=2, warm_start=True, **SEARCH
    ).fit(*digits)
    return model, pickle.dumps(model)


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def assert_same_fit(a, b):
    """Bit-identical weights, ticket and round table (not the timings)."""
    for fitted_a, fitted_b in [
        (a.coefs_, b.coefs_),
        (a.ticket_.weights, b.ticket_.weights),
    ]:
        for W_a, W_b in zip(fitted_a, fitted_b):
            np.testing.assert_array_equal(W_a.indices, W_b.indices)
            np.testing.assert_array_equal(W_a.indptr, W_b.indptr)
            np.testing.assert_array_equal(W_a.data, W_b.data)
    for b_a, b_b in zip(a.intercepts_, b.intercepts_):
        np.testing.assert_array_equal(b_a, b_b)
    assert a.history_.keys() == b.history_.keys()
    for key in a.history_:
        if key != "seconds":
            np.testing.assert_array_equal(a.history_[key], b.history_[key])
    np.testing.assert_array_equal(
        a.ticket_.sparsity_history, b.ticket_.sparsity_history
    )


def interrupt_fit(model, X, y, monkeypatch, round_index, kept_round=None):
    """Fit ``model`` with a Ctrl-C at the start of ``round_index``; check the
    warning naming the round it keeps (None: nothing new to keep)."""
    with monkeypatch.context() as patch:
        fail_in_round(patch, round_index, KeyboardInterrupt())
        with (
            pytest.raises(KeyboardInterrupt),
            warnings.catch_warnings(record=True) as caught,
        ):
            warnings.simplefilter("always")
            model.fit(X, y)
    kept = [str(w.message) for w in caught if "interrupted" in str(w.message)]
    assert len(kept) == (kept_round is not None)
    if kept_round is not None:
        assert f"keeps round {kept_round}" in kept[0]


def kept(W):
    """The flat positions a CSR layer keeps."""
    rows = np.repeat(np.arange(W.shape[0]), np.diff(W.indptr))
    return set((rows * W.shape[1] + W.indices).tolist())


# -- pruning on -----------------------------------------------------------------
@pytest.mark.parametrize(
    "settings",
    [
        {},
        dict(rewind="early", rewind_iteration=5),
        dict(rewind="late", learning_rate="cosine"),
        dict(rewind="lr"),
        dict(rewind="none"),
        dict(rewind="reinit"),
        dict(pruning_criterion="random"),
        dict(early_stopping=True),
        dict(solver="lbfgs"),
        dict(pruning_scope="layer", output_layer_rate=0.1),
    ],
    ids=lambda s: ",".join(f"{k}={v}" for k, v in s.items()) or "default",
)
def test_a_search_continued_in_two_fits_is_one_search(digits, settings):
    X, y = digits
    one = LotteryTicketMLP(
        target_sparsity=ALL_THE_WAY, pruning_rounds=4, **SEARCH, **settings
    ).fit(X, y)
    two = LotteryTicketMLP(
        target_sparsity=HALF_WAY,
        pruning_rounds=2,
        warm_start=True,
        **SEARCH,
        **settings,
    ).fit(X, y)
    first_masks = [kept(W) for W in two.coefs_]
    two.set_params(target_sparsity=ALL_THE_WAY).fit(X, y)
    assert_same_fit(one, two)
    assert two.history_["round"].tolist() == [0, 1, 2, 3, 4]
    # Each layer only lost weights; pruned weights stayed exactly zero.
    for before, W in zip(first_masks, two.coefs_):
        assert kept(W) <= before


@pytest.mark.parametrize("rewind", ["init", "early", "late", "reinit"])
def test_a_dense_fit_continues_into_a_search(digits, rewind):
    # Round 0 alone: its ticket is W0 and its rewind snapshot is kept aside.
    X, y = digits
    settings = dict(SEARCH, rewind=rewind, rewind_iteration=4)
    one = LotteryTicketMLP(target_sparsity=0.5, pruning_rounds=2, **settings)
    two = LotteryTicketMLP(target_sparsity=0.0, warm_start=True, **settings)
    two = pickle.loads(pickle.dumps(two.fit(X, y)))
    two.set_params(target_sparsity=0.5, pruning_rounds=2).fit(X, y)
    assert_same_fit(one.fit(X, y), two)


def test_pruning_on_reaches_the_new_target_at_its_own_rate(digits):
    X, y = digits
    model = LotteryTicketMLP(
        target_sparsity=0.8, pruning_rounds=2, warm_start=True, **SEARCH
    ).fit(X, y)
    model.set_params(target_sparsity=0.95, pruning_rounds=2).fit(X, y)
    sparsity = model.history_["sparsity"]
    np.testing.assert_allclose(sparsity[[2, 4]], [0.8, 0.95], atol=2e-3)
    # 0.8 -> 0.95 in two rounds: half of what remains goes in each.
    remaining = model.history_["remaining_parameters"]
    np.testing.assert_allclose(remaining[3:] / remaining[2:4], 0.5, atol=2e-3)
    np.testing.assert_array_equal(model.ticket_.sparsity_history, sparsity)


def test_a_lower_target_is_refused_and_changes_nothing(digits):
    X, y = digits
    model = LotteryTicketMLP(
        target_sparsity=0.5, pruning_rounds=2, warm_start=True, **SEARCH
    ).fit(X, y)
    before = pickle.dumps(model)
    with pytest.raises(ValueError, match="below the sparsity the fitted search"):
        model.set_params(target_sparsity=0.3).fit(X, y)
    assert pickle.dumps(model.set_params(target_sparsity=0.5)) == before


def test_a_rewind_point_that_is_gone_is_refused(digits):
    X, y = digits
    model = LotteryTicketMLP(
        target_sparsity=0.5, pruning_rounds=2, warm_start=True, rewind="lr", **SEARCH
    ).fit(X, y)
    with pytest.raises(ValueError, match="cannot go on with rewind='init'"):
        model.set_params(target_sparsity=0.7, rewind="init").fit(X, y)
    # Rewinds that need nothing of round 0 go on from any search.
    model.set_params(rewind="reinit").fit(X, y)
    assert len(model.history_["round"]) == 5


def test_a_crashed_continuation_resumes_from_its_checkpoint(digits, tmp_path):
    X, y = digits
    one = LotteryTicketMLP(target_sparsity=ALL_THE_WAY, pruning_rounds=4, **SEARCH)
    two = LotteryTicketMLP(
        target_sparsity=HALF_WAY,
        pruning_rounds=2,
        warm_start=True,
        checkpoint_dir=tmp_path,
        **SEARCH,
    ).fit(X, y)

    def crash(record, round_model):
        if record["round"] == 3:
            raise RuntimeError("crash")

    two.set_params(target_sparsity=ALL_THE_WAY)
    with pytest.raises(RuntimeError, match="crash"):
        two.fit(X, y, on_round_end=crash)
    assert len(two.history_["round"]) == 3  # as it was
    assert_same_fit(one.fit(X, y), two.fit(X, y))


def test_an_interrupted_continuation_keeps_its_new_rounds(
    digits, half_way, monkeypatch
):
    X, y = digits
    model, fitted = half_way
    model.set_params(target_sparsity=ALL_THE_WAY)
    interrupt_fit(model, X, y, monkeypatch, 3)
    # Nothing new completed: the estimator is as it was.
    assert pickle.dumps(model.set_params(target_sparsity=HALF_WAY)) == fitted
    model.set_params(target_sparsity=ALL_THE_WAY)
    interrupt_fit(model, X, y, monkeypatch, 4, kept_round=3)
    assert model.history_["round"].tolist() == [0, 1, 2, 3]


def test_a_diverged_continuation_leaves_the_estimator_as_it_was(
    digits, half_way, monkeypatch
):
    X, y = digits
    model, fitted = half_way
    model.set_params(target_sparsity=ALL_THE_WAY)
    fail_in_round(monkeypatch, 4, TrainingDivergedError("boom", round_index=4))
    with pytest.raises(TrainingDivergedError) as error:
        model.fit(X, y)
    assert pickle.dumps(model.set_params(target_sparsity=HALF_WAY)) == fitted
    assert error.value.estimator.history_["round"].tolist() == [0, 1, 2, 3]


# -- training on, as scikit-learn ---------------------------------------------
@pytest.mark.parametrize(
    "settings",
    [
        dict(solver="adam"),
        dict(solver="sgd"),
        dict(solver="sgd", learning_rate="invscaling"),
        dict(solver="sgd", learning_rate="adaptive", n_iter_no_change=2),
        dict(solver="adam", n_iter_no_change=np.inf),
    ],
    ids=lambda s: "-".join(map(str, s.values())),
)
@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_training_on_takes_scikit_learns_steps(iris, settings, kind):
    X, y = iris
    if kind == "classifier":
        ours, theirs = LotteryTicketMLP, MLPClassifier
    else:
        ours, theirs, y = LotteryTicketMLPRegressor, MLPRegressor, X[:, 0]
        X = X[:, 1:]
    common = dict(hidden_layer_sizes=(5,), max_iter=15, random_state=0, warm_start=True)
    mlp = theirs(**common, **settings)
    lth = ours(target_sparsity=0.0, **common, **settings)
    for _ in range(3):
        mlp.fit(X, y)
        lth.fit(X, y)
        for W_theirs, W_ours in zip(mlp.coefs_, lth.coefs_):
            np.testing.assert_allclose(W_ours.toarray(), W_theirs, rtol=0, atol=1e-10)
        assert lth.n_iter_ == mlp.n_iter_
        assert lth.t_ == mlp.t_
        np.testing.assert_allclose(lth.loss_curve_, mlp.loss_curve_, rtol=1e-10)
        assert lth.best_loss_ == pytest.approx(mlp.best_loss_, rel=1e-10)
        assert lth._no_improvement_count == mlp._no_improvement_count
    assert lth.history_["round"].tolist() == [0, 1, 2]
    assert lth.history_["sparsity"].tolist() == [0.0, 0.0, 0.0]


def test_training_on_with_lbfgs_restarts_from_the_fitted_weights(iris):
    X, y = iris
    common = dict(hidden_layer_sizes=(5,), max_iter=20, random_state=0)
    lth = LotteryTicketMLP(
        target_sparsity=0.0, solver="lbfgs", warm_start=True, **common
    ).fit(X, y)
    # From the very same weights: L-BFGS magnifies the last bits over fits.
    mlp = MLPClassifier(solver="lbfgs", warm_start=True, **common).fit(X, y)
    mlp.coefs_ = [W.toarray() for W in lth.coefs_]
    mlp.intercepts_ = [b.copy() for b in lth.intercepts_]
    mlp.fit(X, y)
    lth.fit(X, y)
    for W_theirs, W_ours in zip(mlp.coefs_, lth.coefs_):
        np.testing.assert_allclose(W_ours.toarray(), W_theirs, rtol=0, atol=1e-9)
    assert lth.n_iter_ == mlp.n_iter_ == 20


def test_training_on_with_early_stopping_keeps_the_best_weights(iris):
    X, y = iris
    common = dict(
        hidden_layer_sizes=(5,), max_iter=30, random_state=0, early_stopping=True
    )
    mlp = MLPClassifier(warm_start=True, **common).fit(X, y)
    lth = LotteryTicketMLP(target_sparsity=0.0, warm_start=True, **common).fit(X, y)
    fitted = [W.toarray() for W in lth.coefs_]
    for _ in range(2):
        mlp.fit(X, y)
        lth.fit(X, y)
        assert lth.n_iter_ == mlp.n_iter_
        assert lth.t_ == mlp.t_
        np.testing.assert_allclose(lth.validation_scores_, mlp.validation_scores_)
        assert lth.best_validation_score_ == mlp.best_validation_score_
    # No epoch beat the fitted best score, so the fitted weights stay. (Here
    # scikit-learn's do not: its best weights are the fitted arrays
    # themselves, which the optimizer has moved on.)
    assert lth.best_validation_score_ == max(lth.validation_scores_[:-2])
    for W_fitted, W in zip(fitted, lth.coefs_):
        np.testing.assert_array_equal(W.toarray(), W_fitted)


def test_training_on_keeps_the_ticket_and_the_pattern(digits):
    X, y = digits
    model = LotteryTicketMLP(
        target_sparsity=0.5, pruning_rounds=2, warm_start=True, **SEARCH
    ).fit(X, y)
    ticket, masks = model.ticket_, [kept(W) for W in model.coefs_]
    weights = [W.toarray() for W in model.coefs_]
    model.fit(X, y)
    assert model.ticket_.weights[0] is not ticket.weights[0]
    for W_before, W_after in zip(ticket.weights, model.ticket_.weights):
        np.testing.assert_array_equal(W_before.toarray(), W_after.toarray())
    assert [kept(W) for W in model.coefs_] == masks
    assert any(
        not np.array_equal(W.toarray(), w) for W, w in zip(model.coefs_, weights)
    )
    assert model.history_["round"].tolist() == [0, 1, 2, 3]
    assert model.history_["sparsity"][3] == model.history_["sparsity"][2]
    assert len(model.loss_curve_) == model.history_["n_iter"][2:].sum()


def test_a_ticket_trains_on(digits):
    X, y = digits
    found = LotteryTicketMLP(target_sparsity=0.5, pruning_rounds=2, **SEARCH).fit(X, y)
    model = LotteryTicketMLP(ticket=found.ticket_, warm_start=True, **SEARCH).fit(X, y)
    masks = [kept(W) for W in model.coefs_]
    model.set_params(target_sparsity=0.9).fit(X, y)  # a ticket never prunes
    assert [kept(W) for W in model.coefs_] == masks
    assert model.history_["round"].tolist() == [0, 1]


# -- what a warm start needs --------------------------------------------------
def test_the_classes_must_stay_as_scikit_learn_requires(iris):
    X, y = iris
    model = LotteryTicketMLP(target_sparsity=0.0, warm_start=True, max_iter=5)
    model.fit(X, y)
    with pytest.raises(ValueError, match="same classes as in the previous call"):
        model.fit(X, np.where(y == 2, 1, y))


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(hidden_layer_sizes=(7,)), "whose layers have"),
        (dict(n_seeds=2), "n_seeds=1"),
    ],
)
def test_what_cannot_go_on_is_refused(digits, change, message):
    X, y = digits
    model = LotteryTicketMLP(
        target_sparsity=0.5, pruning_rounds=2, warm_start=True, **SEARCH
    )
    model.fit(X, y)
    with pytest.raises(ValueError, match=message):
        model.set_params(**change).fit(X, y)


def test_other_features_are_refused(digits):
    X, y = digits
    model = LotteryTicketMLP(target_sparsity=0.0, warm_start=True, **SEARCH).fit(X, y)
    with pytest.raises(ValueError, match="features"):
        model.fit(X[:, :10], y)


def test_a_regressor_keeps_its_outputs(iris):
    X, y = iris
    model = LotteryTicketMLPRegressor(target_sparsity=0.0, warm_start=True, max_iter=5)
    model.fit(X, np.c_[y, y])
    with pytest.raises(ValueError, match="2 output"):
        model.fit(X, y)


def test_after_partial_fit_alone_fit_must_start_over(iris):
    X, y = iris
    model = LotteryTicketMLP(warm_start=True, random_state=0)
    model.partial_fit(X, y, classes=[0, 1, 2])
    with pytest.raises(ValueError, match="partial_fit only"):
        model.fit(X, y)


def test_partial_fit_goes_on_from_the_warm_started_fit(digits):
    X, y = digits
    model = LotteryTicketMLP(
        target_sparsity=0.5, pruning_rounds=2, warm_start=True, **SEARCH
    ).fit(X, y)
    model.partial_fit(X, y)
    model.set_params(target_sparsity=0.7).fit(X, y)
    after_fit = [W.toarray() for W in model.coefs_]
    model.partial_fit(X[:50], y[:50])  # from the weights fit just found
    for W, W_fit in zip(model.coefs_, after_fit):
        assert set(np.flatnonzero(W.toarray())) <= set(np.flatnonzero(W_fit))


def test_without_warm_start_every_fit_starts_over(digits):
    X, y = digits
    model = LotteryTicketMLP(target_sparsity=0.5, pruning_rounds=2, **SEARCH)
    first = pickle.dumps(model.fit(X, y).coefs_)
    assert pickle.dumps(model.fit(X, y).coefs_) == first
    assert (
        clone(model.set_params(warm_start=True)).fit(X, y).history_["round"].size == 3
    )


def test_a_search_interrupted_then_warm_started_finishes_as_planned(
    digits, monkeypatch
):
    # Ctrl-C keeps round 3 of four; the same fit again finishes that
    # schedule (round 4, at its rate), not two new rounds.
    X, y = digits
    one = LotteryTicketMLP(target_sparsity=ALL_THE_WAY, pruning_rounds=4, **SEARCH)
    model = LotteryTicketMLP(
        target_sparsity=ALL_THE_WAY, pruning_rounds=4, warm_start=True, **SEARCH
    )
    interrupt_fit(model, X, y, monkeypatch, 4, kept_round=3)
    assert_same_fit(one.fit(X, y), model.fit(X, y))


def test_another_ticket_is_refused_not_ignored(digits):
    X, y = digits
    found = LotteryTicketMLP(target_sparsity=0.5, pruning_rounds=2, **SEARCH).fit(X, y)
    other = LotteryTicketMLP(target_sparsity=0.8, pruning_rounds=2, **SEARCH).fit(X, y)
    model = LotteryTicketMLP(ticket=found.ticket_, warm_start=True, **SEARCH).fit(X, y)
    with pytest.raises(ValueError, match="the ticket given keeps other weights"):
        model.set_params(ticket=other.ticket_).fit(X, y)
    # Without a ticket it prunes on, rewinding to the ticket's weights.
    model.set_params(ticket=None, target_sparsity=0.8, pruning_rounds=2).fit(X, y)
    assert model.history_["sparsity"][-1] == pytest.approx(0.8, abs=2e-3)
