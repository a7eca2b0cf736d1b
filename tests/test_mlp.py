import copy
import pickle

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
from _helpers import FAST
from sklearn.base import clone

from sklearn_lth import (
    LotteryTicket,
    LotteryTicketMLP,
    LotteryTicketMLPRegressor,
    TrainingDivergedError,
)
from sklearn_lth._compat import InvalidParameterError
from sklearn_lth._pruning import n_to_prune, per_round_rate


def test_weights_are_csr_with_the_kept_count(small_classification):
    X, y = small_classification
    model = LotteryTicketMLP(**FAST).fit(X, y)
    assert all(isinstance(W, sp.csr_array) for W in model.coefs_)
    remaining = model.history_["remaining_parameters"]
    assert sum(W.nnz for W in model.coefs_) == remaining[-1]
    assert model.ticket_.remaining_parameters == remaining[-1]
    for W, mask in zip(model.coefs_, model.ticket_.masks):
        np.testing.assert_array_equal(W.toarray() != 0, mask)


@pytest.mark.parametrize("scope", ["global", "layer"])
def test_history_follows_the_schedule_exactly(small_classification, scope):
    X, y = small_classification
    model = LotteryTicketMLP(pruning_scope=scope, **FAST).fit(X, y)
    history = model.history_
    assert set(history) >= {
        "round",
        "sparsity",
        "remaining_parameters",
        "n_iter",
        "train_loss",
        "train_score",
        "seconds",
    }
    assert all(len(v) == 4 for v in history.values())
    np.testing.assert_array_equal(history["round"], [0, 1, 2, 3])
    rate = per_round_rate(0.8, 3)
    if scope == "global":
        remaining = [8 * 12 + 12 * 6 + 6 * 3]
        for _ in range(3):
            remaining.append(remaining[-1] - n_to_prune(rate, remaining[-1]))
        np.testing.assert_array_equal(history["remaining_parameters"], remaining)
    else:
        per_layer = [8 * 12, 12 * 6, 6 * 3]
        for _ in range(3):
            per_layer = [n - n_to_prune(rate, n) for n in per_layer]
        assert [W.nnz for W in model.coefs_] == per_layer
    assert history["sparsity"][-1] == pytest.approx(0.8, abs=0.01)
    np.testing.assert_array_equal(model.ticket_.sparsity_history, history["sparsity"])


def test_output_layer_rate_zero_never_prunes_the_output(small_classification):
    X, y = small_classification
    model = LotteryTicketMLP(output_layer_rate=0.0, **FAST).fit(X, y)
    assert model.coefs_[-1].nnz == 6 * 3
    assert sum(W.nnz for W in model.coefs_[:-1]) == pytest.approx(
        0.2 * (96 + 72), abs=2
    )


def test_target_sparsity_zero_trains_one_dense_round(small_classification):
    X, y = small_classification
    model = LotteryTicketMLP(**{**FAST, "target_sparsity": 0.0}).fit(X, y)
    assert len(model.history_["round"]) == 1
    assert model.ticket_.sparsity == 0.0


def test_deterministic_under_random_state(small_classification):
    X, y = small_classification
    a = LotteryTicketMLP(**FAST).fit(X, y)
    b = LotteryTicketMLP(**FAST).fit(X, y)
    c = LotteryTicketMLP(**{**FAST, "random_state": 1}).fit(X, y)
    for Wa, Wb in zip(a.coefs_, b.coefs_):
        np.testing.assert_array_equal(Wa.toarray(), Wb.toarray())
    assert not np.array_equal(a.coefs_[0].toarray(), c.coefs_[0].toarray())


@pytest.mark.parametrize(
    "round_trip",
    [clone, copy.deepcopy, lambda m: pickle.loads(pickle.dumps(m))],
    ids=["clone", "deepcopy", "pickle"],
)
def test_round_trips(small_classification, round_trip, tmp_path):
    X, y = small_classification
    model = LotteryTicketMLP(**FAST).fit(X, y)
    if round_trip is clone:
        copy_ = clone(model).fit(X, y)
    else:
        copy_ = round_trip(model)
    np.testing.assert_array_equal(copy_.predict_proba(X), model.predict_proba(X))
    joblib.dump(model, tmp_path / "model.joblib")
    loaded = joblib.load(tmp_path / "model.joblib")
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_float32_stays_float32(small_classification):
    X, y = small_classification
    model = LotteryTicketMLP(**FAST).fit(X.astype(np.float32), y)
    assert all(W.dtype == np.float32 for W in model.coefs_)
    assert model.predict_proba(X.astype(np.float32)).dtype == np.float32
    loaded = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(
        loaded.predict(X.astype(np.float32)), model.predict(X.astype(np.float32))
    )


def test_sparse_input_matches_dense_input(small_classification):
    X, y = small_classification
    X = X * (np.abs(X) > 0.5)
    dense = LotteryTicketMLP(**FAST).fit(X, y)
    sparse = LotteryTicketMLP(**FAST).fit(sp.csr_matrix(X), y)
    np.testing.assert_allclose(
        sparse.predict_proba(sp.csr_array(X)),
        dense.predict_proba(X),
        rtol=1e-6,
        atol=1e-9,
    )


def test_string_binary_and_multilabel_targets(small_classification):
    X, y = small_classification
    labels = np.array(["cat", "dog", "emu"])[y]
    model = LotteryTicketMLP(**FAST).fit(X, labels)
    assert set(model.predict(X)) <= set(labels)
    assert model.predict_proba(X).shape == (len(X), 3)
    binary = LotteryTicketMLP(**FAST).fit(X, y > 0)
    assert binary.out_activation_ == "logistic"
    assert binary.predict_proba(X).shape == (len(X), 2)
    Y = np.column_stack([y == 0, y == 1, X[:, 0] > 0]).astype(int)
    multilabel = LotteryTicketMLP(**{**FAST, "target_sparsity": 0.5, "max_iter": 200})
    multilabel.fit(X, Y)
    assert multilabel.predict(X).shape == Y.shape
    assert multilabel.score(X, Y) > 0.5


def test_regressor_single_and_multi_output():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(150, 6))
    Y = np.column_stack([X[:, 0] - X[:, 1], np.tanh(X[:, 2])])
    params = dict(FAST, target_sparsity=0.5, max_iter=200)
    multi = LotteryTicketMLPRegressor(**params).fit(X, Y)
    assert multi.predict(X).shape == (150, 2)
    assert multi.score(X, Y) > 0.8
    single = LotteryTicketMLPRegressor(**params).fit(X, Y[:, 0])
    assert single.predict(X).shape == (150,)


def test_early_stopping_records_validation_scores(small_classification):
    X, y = small_classification
    model = LotteryTicketMLP(early_stopping=True, **FAST).fit(X, y)
    scores = model.history_["validation_score"]
    assert len(scores) == 4 and np.all((0 <= scores) & (scores <= 1))
    assert model.best_validation_score_ == max(model.validation_scores_)
    assert scores[-1] == model.best_validation_score_


def test_ticket_retrains_the_sub_network_alone(small_classification):
    X, y = small_classification
    found = LotteryTicketMLP(**FAST).fit(X, y)
    ticket = found.ticket_
    # Retrain on other data of the same shape.
    rng = np.random.RandomState(5)
    X_other = rng.normal(size=(90, 8))
    y_other = (X_other[:, 1] > 0).astype(int) + (X_other[:, 4] > 0.5)
    retrained = LotteryTicketMLP(
        ticket=ticket, max_iter=300, learning_rate_init=0.01, random_state=0
    ).fit(X_other, y_other)
    assert len(retrained.history_["round"]) == 1
    for W, mask in zip(retrained.coefs_, ticket.masks):
        np.testing.assert_array_equal(W.toarray() != 0, mask)
    assert not np.array_equal(retrained.coefs_[0].data, ticket.weights[0].data)
    assert retrained.score(X_other, y_other) > 0.6


def test_ticket_with_the_wrong_shape_is_refused(small_classification):
    X, y = small_classification
    ticket = LotteryTicketMLP(**FAST).fit(X, y).ticket_
    with pytest.raises(
        ValueError, match="does not fit the data.*8 features.*5 features"
    ):
        LotteryTicketMLP(ticket=ticket).fit(X[:, :5], y)
    with pytest.raises(ValueError, match="3 outputs.*1 outputs"):
        LotteryTicketMLP(ticket=ticket).fit(X, y > 0)


@pytest.mark.parametrize(
    "params, message",
    [
        (
            dict(target_sparsity=1.0),
            r"'target_sparsity' parameter .* range \[0.0, 1.0\)",
        ),
        (dict(pruning_rounds=0), "'pruning_rounds' parameter"),
        (
            dict(rewind="rewound"),
            "'rewind' parameter (?=.*'init')(?=.*'late').*'rewound'",
        ),
        (dict(pruning_scope="local"), "'pruning_scope' parameter"),
        (dict(ticket="ticket"), "'ticket' parameter .*LotteryTicket"),
    ],
)
def test_invalid_parameters(small_classification, params, message):
    X, y = small_classification
    with pytest.raises(InvalidParameterError, match=message):
        LotteryTicketMLP(**params).fit(X, y)


def test_divergence_names_the_round_and_the_learning_rate(small_classification):
    X, y = small_classification
    model = LotteryTicketMLPRegressor(
        solver="sgd", learning_rate_init=10.0, momentum=0.9, random_state=0
    )
    with pytest.raises(
        TrainingDivergedError, match=r"round 0, epoch \d+.*learning_rate_init"
    ):
        model.fit(X * 1e3, y * 1e3)


def test_ticket_and_coefs_share_their_sparsity_pattern(small_classification):
    X, y = small_classification
    model = LotteryTicketMLP(**FAST).fit(X, y)
    for W, T in zip(model.coefs_, model.ticket_.weights):
        assert W.indices is T.indices and W.indptr is T.indptr


def test_ticket_class_validates_its_layers():
    W = sp.csr_array(np.ones((3, 2)))
    with pytest.raises(ValueError, match="one intercept vector per layer"):
        LotteryTicket([W, W], [np.zeros(2)])
    with pytest.raises(ValueError, match="Layer 1 of the ticket takes 3 inputs"):
        LotteryTicket([W, W], [np.zeros(2), np.zeros(2)])


def test_grid_search_over_sparsity_rounds_and_rewind_in_a_pipeline(
    small_classification,
):
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = small_classification
    grid = {
        "lotteryticketmlp__target_sparsity": [0.5, 0.9],
        "lotteryticketmlp__pruning_rounds": [1, 2],
        "lotteryticketmlp__rewind": ["init", "reinit"],
    }
    pipeline = make_pipeline(StandardScaler(), LotteryTicketMLP(**FAST))
    search = GridSearchCV(pipeline, grid, cv=2).fit(X, y)
    assert len(search.cv_results_["params"]) == 8
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    best = search.best_estimator_[-1]
    assert (
        best.get_params()["target_sparsity"]
        == search.best_params_["lotteryticketmlp__target_sparsity"]
    )
    assert best.ticket_.sparsity == pytest.approx(best.target_sparsity, abs=0.01)
    assert len(best.history_["round"]) == best.pruning_rounds + 1


@pytest.mark.parametrize("kind", ["binary", "multiclass", "multilabel"])
def test_predict_decodes_like_the_label_binarizer(small_classification, kind):
    X, y = small_classification
    targets = {
        "binary": np.array(["no", "yes"])[(y > 0).astype(int)],
        "multiclass": y,
        "multilabel": np.column_stack([y == 0, y == 1, X[:, 0] > 0]).astype(int),
    }[kind]
    model = LotteryTicketMLP(**FAST).fit(X, targets)
    P = model._forward(X)
    expected = model._label_binarizer.inverse_transform(
        P.ravel() if P.shape[1] == 1 else P
    )
    np.testing.assert_array_equal(model.predict(X), expected)


def test_fast_input_path_still_rejects_bad_input(small_classification):
    X, y = small_classification
    model = LotteryTicketMLP(**FAST).fit(X, y)
    bad = X.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.predict(bad)
    with pytest.raises(
        ValueError, match="4 features, but LotteryTicketMLP is expecting 8"
    ):
        model.predict(X[:, :4])
    np.testing.assert_array_equal(model.predict(X[:1]), model.predict(X)[:1])


def test_a_ticket_with_duplicate_entries_trains_and_predicts_with_their_sum(
    small_classification,
):
    """Duplicates mean their sum, in scipy and in a ticket alike."""
    X, y = small_classification
    found = LotteryTicketMLP(**FAST).fit(X, y).ticket_
    first = found.weights[0]
    # The first stored weight split into two entries that add up to it.
    data = np.concatenate([[first.data[0] / 2, first.data[0] / 2], first.data[1:]])
    indices = np.concatenate([[first.indices[0]], first.indices])
    indptr = first.indptr.copy()
    indptr[1:] += 1
    doubled = sp.csr_array((data, indices, indptr), shape=first.shape)
    ticket = LotteryTicket([doubled, *found.weights[1:]], found.intercepts)
    np.testing.assert_array_equal(ticket.weights[0].toarray(), first.toarray())
    assert ticket.remaining_parameters == found.remaining_parameters


def test_a_ticket_changed_after_construction_is_refused_with_the_reason(
    small_classification,
):
    X, y = small_classification
    ticket = LotteryTicketMLP(**FAST).fit(X, y).ticket_
    ticket.weights[0].data[0] = np.nan
    with pytest.raises(ValueError, match="Layer 0 of the ticket holds NaN"):
        LotteryTicketMLP(ticket=ticket).fit(X, y)
    ticket.weights[0].data[0] = 0.5
    ticket.weights[1].indices[0] = 10_000
    with pytest.raises(ValueError, match="Layer 1 .*column index is out of range"):
        LotteryTicketMLP(ticket=ticket).fit(X, y)
    ticket.weights[1].indices[0] = ticket.weights[1].indices[1]
    with pytest.raises(ValueError, match="Layer 1 .*duplicate or unsorted"):
        LotteryTicketMLP(ticket=ticket).fit(X, y)


def test_on_round_end_sees_every_round_as_a_fitted_model(small_classification):
    """The documented observer: a history row and a model per round."""
    X, y = small_classification
    seen = []
    model = LotteryTicketMLP(**FAST).fit(
        X,
        y,
        on_round_end=lambda record, round_model: seen.append((record, round_model)),
    )
    assert [record["round"] for record, _ in seen] == [0, 1, 2, 3]
    for (record, round_model), remaining in zip(
        seen, model.history_["remaining_parameters"]
    ):
        assert record["remaining_parameters"] == remaining
        assert sum(W.nnz for W in round_model.coefs_) == remaining
        assert round_model.predict(X).shape == y.shape
    np.testing.assert_array_equal(seen[-1][1].predict(X), model.predict(X))


def test_n_iter_no_change_inf_and_validation_fraction_zero_as_in_sklearn(
    small_classification,
):
    """scikit-learn's MLPs accept both; so do ours, with the same meaning."""
    X, y = small_classification
    model = LotteryTicketMLP(
        **{**FAST, "max_iter": 15}, n_iter_no_change=np.inf, validation_fraction=0.0
    ).fit(X, y)
    assert list(model.history_["n_iter"]) == [15] * 4  # no round stops early
    with pytest.raises(ValueError, match="Cannot hold out validation_fraction=0.0"):
        LotteryTicketMLP(**FAST, validation_fraction=0.0, early_stopping=True).fit(X, y)


# -- loss="poisson", as scikit-learn's MLPRegressor ---------------------------


def _counts(n=80, n_outputs=1, seed=0):
    """Count targets whose log-mean is linear in the features."""
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, 5))
    rates = np.exp(0.6 * X[:, :n_outputs] - 0.3 * X[:, [1]])
    y = rng.poisson(rates).astype(float)
    return X, y[:, 0] if n_outputs == 1 else y


@pytest.mark.parametrize("solver", ["adam", "sgd"])
@pytest.mark.parametrize("n_outputs", [1, 2])
@pytest.mark.parametrize("weighted", [False, True])
def test_poisson_dense_round_equals_scikit_learns_mlp(solver, n_outputs, weighted):
    """target_sparsity=0.0: the steps of MLPRegressor(loss="poisson"), from
    the same random_state (shuffled mini-batches, L2 penalty)."""
    import warnings

    from sklearn.neural_network import MLPRegressor

    X, y = _counts(n_outputs=n_outputs)
    sample_weight = np.random.RandomState(1).uniform(0.5, 2.0, len(y))
    fit_params = {"sample_weight": sample_weight} if weighted else {}
    params = dict(
        loss="poisson",
        hidden_layer_sizes=(7, 4),
        solver=solver,
        batch_size=16,
        learning_rate_init=0.01,
        alpha=1e-3,
        max_iter=12,
        tol=0.0,
        n_iter_no_change=100,
        random_state=3,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = MLPRegressor(**params).fit(X, y, **fit_params)
        ours = LotteryTicketMLPRegressor(target_sparsity=0.0, **params).fit(
            X, y, **fit_params
        )
    assert ours.out_activation_ == theirs.out_activation_ == "exp"
    for a, b in zip(ours.coefs_, theirs.coefs_):
        np.testing.assert_allclose(a.toarray(), b, rtol=1e-9, atol=1e-12)
    for a, b in zip(ours.intercepts_, theirs.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-9)
    if not weighted:
        # Weighted, the epoch's loss here is the weighted mean over its rows
        # (scikit-learn weighs each batch by its row count instead).
        np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-9)


def test_poisson_loss_is_half_the_poisson_deviance_with_error_p_minus_y():
    """The loss is scikit-learn's metric halved, and the error at the output
    is its gradient with respect to the exp output's pre-activation."""
    from sklearn.metrics import mean_poisson_deviance

    from sklearn_lth._losses import loss_value, output_delta

    rng = np.random.RandomState(0)
    Z = rng.normal(size=(6, 2))
    Y = rng.poisson(2.0, size=(6, 2)).astype(float)
    Y[0] = 0.0  # zero counts: y log y is 0
    sw = rng.uniform(0.5, 2.0, 6)
    loss = loss_value("exp", Y, np.exp(Z), sw)
    expected = sum(
        mean_poisson_deviance(Y[:, k], np.exp(Z[:, k]), sample_weight=sw) / 2
        for k in range(2)
    )
    assert loss == pytest.approx(expected, rel=1e-12)
    # Central differences of the summed loss with respect to Z.
    numeric = np.empty_like(Z)
    h = 1e-6
    for index in np.ndindex(Z.shape):
        up, down = Z.copy(), Z.copy()
        up[index] += h
        down[index] -= h
        numeric[index] = (
            loss_value("exp", Y, np.exp(up), sw)
            - loss_value("exp", Y, np.exp(down), sw)
        ) / (2 * h)
    delta = output_delta(Y, np.exp(Z), sw, np.empty_like(Z), scale=1 / sw.sum())
    np.testing.assert_allclose(delta, numeric, rtol=1e-6, atol=1e-9)
    # A zero target where exp underflowed to 0 is a perfect prediction, not NaN.
    assert loss_value("exp", np.zeros((2, 1)), np.zeros((2, 1)), None) == 0.0


def test_poisson_constant_prediction_is_the_mean_with_an_r2_of_zero():
    """The baseline of the divergence and chance tests: the deviance of the
    mean, the constant that minimises it."""
    from sklearn.metrics import mean_poisson_deviance

    from sklearn_lth._losses import constant_prediction, loss_value

    _, y = _counts()
    Y = y.reshape(-1, 1)
    loss, score = constant_prediction("exp", Y)
    assert score == 0.0
    assert loss == pytest.approx(
        mean_poisson_deviance(y, np.full_like(y, y.mean())) / 2
    )
    for other in (0.9 * y.mean(), 1.1 * y.mean()):
        assert loss < loss_value("exp", Y, np.full_like(Y, other), None)
    assert constant_prediction("exp", np.zeros((4, 1))) == (0.0, 0.0)


def test_poisson_regressor_prunes_predicts_positive_counts_without_warnings():
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    X, y = _counts(n=200)
    model = LotteryTicketMLPRegressor(
        loss="poisson",
        hidden_layer_sizes=(12,),
        target_sparsity=0.75,
        pruning_rounds=2,
        learning_rate_init=0.01,
        max_iter=100,
        random_state=0,
    )
    with warnings.catch_warnings():
        # A round that learned would be flagged "no better than chance" if
        # the baseline were the squared error's (or a classifier's).
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", ConvergenceWarning)
        # This small network does lose ground at 75% (R2 0.62 -> 0.45), and
        # says so: that warning is right here.
        warnings.filterwarnings("ignore", "The fitted network", UserWarning)
        model.fit(X, y)
    assert model.out_activation_ == "exp"
    assert model.ticket_.sparsity == pytest.approx(0.75, abs=0.01)
    assert np.all(model.predict(X) > 0)
    assert np.all(model.history_["train_score"] > 0.3)  # R², as scikit-learn's
    # The history scores the training network's outputs, predict takes its
    # own products (by density and rows): the same R² to float rounding.
    assert model.score(X, y) == pytest.approx(
        model.history_["train_score"][-1], rel=1e-12
    )


def test_poisson_refuses_negative_targets_and_leaves_the_estimator_unfitted():
    from sklearn.exceptions import NotFittedError

    X, y = _counts()
    y[3] = -0.5
    model = LotteryTicketMLPRegressor(loss="poisson", **FAST)
    with pytest.raises(
        ValueError, match=r'loss="poisson" requires non-negative .*-0.5'
    ):
        model.fit(X, y)
    with pytest.raises(NotFittedError):
        model.predict(X)
    # The squared error takes any target; so does poisson once y >= 0.
    LotteryTicketMLPRegressor(**FAST).fit(X, y)
    y[3] = 0.0
    LotteryTicketMLPRegressor(loss="poisson", **FAST).fit(X, y)
    with pytest.raises(InvalidParameterError, match="'loss' parameter"):
        LotteryTicketMLPRegressor(loss="log_loss").fit(X, y)


# -- t_, best_loss_ and early stopping, as scikit-learn's MLP -------------------


def _with_sklearn(theirs_class, ours_class, X, y, fit_params=None, **params):
    """scikit-learn's MLP and ours at target_sparsity=0.0, fitted alike."""
    import warnings

    fit_params = fit_params or {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # max_iter reached
        theirs = theirs_class(**params).fit(X, y, **fit_params)
        ours = ours_class(target_sparsity=0.0, **params).fit(X, y, **fit_params)
    return theirs, ours


ES = dict(
    hidden_layer_sizes=(9,),
    early_stopping=True,
    n_iter_no_change=3,
    learning_rate_init=0.01,
    max_iter=60,
)


@pytest.mark.parametrize("early_stopping", [False, True])
@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_t_and_best_loss_are_scikit_learns(
    small_classification, early_stopping, solver
):
    from sklearn.neural_network import MLPClassifier

    X, y = small_classification
    theirs, ours = _with_sklearn(
        MLPClassifier,
        LotteryTicketMLP,
        X,
        y,
        **{**ES, "early_stopping": early_stopping, "max_iter": 20},
        solver=solver,
        random_state=2,
    )
    assert ours.n_iter_ == theirs.n_iter_
    n_train = 108 if early_stopping else 120  # 12 rows held out
    assert type(ours.t_) is int and ours.t_ == theirs.t_ == ours.n_iter_ * n_train
    if early_stopping:
        assert ours.best_loss_ is None and theirs.best_loss_ is None
    else:
        assert ours.best_loss_ == pytest.approx(theirs.best_loss_, rel=1e-9)
        assert ours.best_loss_ == min(ours.loss_curve_)


@pytest.mark.filterwarnings("ignore:Round\\(s\\)")  # rounds at chance: irrelevant here
def test_t_and_best_loss_describe_the_last_round(small_classification):
    X, y = small_classification
    model = LotteryTicketMLP(**{**FAST, "tol": 1e-2, "n_iter_no_change": 2}).fit(X, y)
    last_epochs = int(model.history_["n_iter"][-1])
    assert model.n_iter_ == last_epochs
    assert model.t_ == last_epochs * len(y)
    assert model.best_loss_ == min(model.loss_curve_)
    early = LotteryTicketMLP(**FAST, early_stopping=True).fit(X, y)
    assert early.t_ == early.n_iter_ * 108 and early.best_loss_ is None
    restored = pickle.loads(pickle.dumps(model))
    assert (restored.t_, restored.best_loss_) == (model.t_, model.best_loss_)


def _targets(kind, X, y):
    if kind == "binary":
        return (y > 0).astype(int)
    if kind == "multilabel":
        return np.c_[y == 1, X[:, 4] > 0].astype(int)
    return y


@pytest.mark.parametrize("random_state", [0, 5, "instance"])
@pytest.mark.parametrize("kind", ["binary", "multiclass", "multilabel"])
def test_early_stopping_takes_scikit_learns_steps(
    small_classification, kind, random_state
):
    """The same initial weights, then the same validation split (drawn after
    them, stratified for binary targets only), shuffles and best weights."""
    from sklearn.neural_network import MLPClassifier

    X, y = small_classification
    y = _targets(kind, X, y)
    if random_state == "instance":
        random_state = np.random.RandomState(7)
        theirs_state, ours_state = copy.deepcopy(random_state), random_state
    else:
        theirs_state = ours_state = random_state
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = MLPClassifier(**ES, random_state=theirs_state).fit(X, y)
        ours = LotteryTicketMLP(target_sparsity=0.0, **ES, random_state=ours_state)
        ours.fit(X, y)
    assert ours.n_iter_ == theirs.n_iter_ < ES["max_iter"]
    assert ours.validation_scores_ == theirs.validation_scores_
    assert ours.best_validation_score_ == theirs.best_validation_score_
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-9)
    for a, b in zip(ours.coefs_, theirs.coefs_):
        assert a.nnz == b.size  # dense
        np.testing.assert_allclose(a.toarray(), b, rtol=1e-9, atol=1e-12)
    for a, b in zip(ours.intercepts_, theirs.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))


def test_early_stopping_with_sample_weight_takes_scikit_learns_steps(
    small_classification,
):
    from sklearn.neural_network import MLPClassifier

    X, y = small_classification
    sample_weight = np.random.RandomState(0).uniform(0.2, 2.0, len(y))
    theirs, ours = _with_sklearn(
        MLPClassifier,
        LotteryTicketMLP,
        X,
        y,
        {"sample_weight": sample_weight},
        **ES,
        random_state=1,
    )
    # The loss is weighted otherwise (see the loss="poisson" test above); the
    # split, the steps and the weighted validation accuracy are the same.
    assert ours.n_iter_ == theirs.n_iter_
    np.testing.assert_allclose(ours.validation_scores_, theirs.validation_scores_)
    for a, b in zip(ours.coefs_, theirs.coefs_):
        np.testing.assert_allclose(a.toarray(), b, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("n_outputs", [1, 2])
def test_early_stopping_takes_scikit_learns_steps_in_regression(n_outputs):
    from sklearn.neural_network import MLPRegressor

    rng = np.random.RandomState(0)
    X = rng.normal(size=(100, 6))
    t = X @ rng.normal(size=6) / 3
    y = t if n_outputs == 1 else np.c_[t, np.sin(t)]
    theirs, ours = _with_sklearn(
        MLPRegressor,
        LotteryTicketMLPRegressor,
        X,
        y,
        **{**ES, "learning_rate_init": 0.03},
        random_state=4,
    )
    assert ours.n_iter_ == theirs.n_iter_ < ES["max_iter"]
    np.testing.assert_allclose(
        ours.validation_scores_, theirs.validation_scores_, rtol=1e-12
    )
    for a, b in zip(ours.coefs_, theirs.coefs_):
        np.testing.assert_allclose(a.toarray(), b, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-9)
    if n_outputs == 1:
        # With several outputs scikit-learn reports the squared error averaged
        # over the outputs too (its gradient, the one both follow, is of the
        # sum): ``loss_`` in the regressor's docstring.
        np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-9)


@pytest.mark.filterwarnings("ignore:Round\\(s\\)")  # rounds at chance: irrelevant here
def test_early_stopping_with_several_seeds_splits_before_them(small_classification):
    """n_seeds > 1: the split comes first (the seeds then draw their own
    initial weights); t_ counts the training rows it leaves."""
    X, y = small_classification
    model = LotteryTicketMLP(
        **{**FAST, "pruning_rounds": 1, "max_iter": 5},
        n_seeds=2,
        early_stopping=True,
    ).fit(X, y)
    assert model.t_ == model.n_iter_ * 108
