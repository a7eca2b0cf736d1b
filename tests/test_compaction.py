"""Compaction to a plain scikit-learn MLP, and the inputs a ticket reads."""

import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.compose import ColumnTransformer
from sklearn.feature_selection import SelectFromModel
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import Pipeline, make_pipeline

from sklearn_lth import (
    LotteryTicket,
    LotteryTicketMLP,
    LotteryTicketMLPCV,
    LotteryTicketMLPRegressor,
)
from sklearn_lth._compaction import compact, input_importances, ticket_cost
from sklearn_lth._prediction import predict_csr, prediction_operands

pytestmark = pytest.mark.filterwarnings("ignore:Round\\(s\\):UserWarning")

ACTIVATIONS = ["identity", "logistic", "tanh", "relu"]


def _forward(coefs, intercepts, activation, out_activation, X):
    return predict_csr(
        X, prediction_operands(coefs), intercepts, activation, out_activation
    )


def _hand_network():
    """5 inputs -> 4 -> 3 -> 2 with every kind of dead unit.

    Input 4 feeds only hidden unit 0.1, which nothing reads (removed, and
    input 4 with it); unit 0.2 reads nothing (a constant, folded into layer
    1's biases); unit 1.2 reads only unit 0.2 (so a constant too, once that
    is folded); input 3 is read by no weight at all.
    """
    W0 = np.zeros((5, 4))
    W0[0, 0], W0[1, 0], W0[2, 3], W0[4, 1] = 1.0, -2.0, 0.5, 3.0
    W1 = np.zeros((4, 3))
    W1[0, 0], W1[3, 1], W1[2, 2], W1[2, 0] = 2.0, -1.0, 4.0, 0.25
    W2 = np.zeros((3, 2))
    W2[0, 0], W2[1, 1], W2[2, 0], W2[2, 1] = 1.0, 1.0, -0.5, 2.0
    coefs = [sp.csr_array(W) for W in (W0, W1, W2)]
    intercepts = [
        np.array([0.1, 0.2, 0.7, -0.3]),
        np.array([0.0, 0.5, -0.2]),
        np.array([0.3, -0.1]),
    ]
    return coefs, intercepts


def test_compaction_removes_unread_units_and_folds_constant_ones():
    coefs, intercepts = _hand_network()
    compacted = compact(coefs, intercepts, "relu")
    # Inputs 3 (read by nothing) and 4 (read only by the removed unit 0.1).
    np.testing.assert_array_equal(compacted.kept_inputs, [0, 1, 2])
    np.testing.assert_array_equal(compacted.live_units[0], [0, 3])
    np.testing.assert_array_equal(compacted.live_units[1], [0, 1])
    np.testing.assert_array_equal(compacted.constant_units[0], [2])
    np.testing.assert_array_equal(compacted.constant_units[1], [2])
    # Unit 0.2 emits relu(0.7) = 0.7 into units 1.0 (weight 0.25) and 1.2
    # (weight 4): 1.0's bias becomes 0.175; 1.2 emits relu(-0.2 + 2.8) = 2.6
    # into both outputs (weights -0.5 and 2).
    np.testing.assert_allclose(compacted.intercepts[1], [0.175, 0.5])
    np.testing.assert_allclose(compacted.intercepts[2], [0.3 - 1.3, -0.1 + 5.2])
    assert [W.shape for W in compacted.coefs] == [(3, 2), (2, 2), (2, 2)]
    X = np.random.RandomState(0).normal(size=(20, 5))
    expected = _forward(coefs, intercepts, "relu", "identity", X)
    dense = [sp.csr_array(W) for W in compacted.coefs]
    got = _forward(
        dense, compacted.intercepts, "relu", "identity", X[:, compacted.input_columns]
    )
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


def test_a_dead_network_keeps_one_unit_per_layer_and_predicts_its_constant():
    coefs, intercepts = _hand_network()
    coefs[1] = sp.csr_array((4, 3))  # nothing reaches layer 1 any more
    compacted = compact(coefs, intercepts, "tanh")
    assert [W.shape for W in compacted.coefs] == [(1, 1), (1, 1), (1, 2)]
    assert compacted.kept_inputs.size == 0
    assert [u.size for u in compacted.live_units] == [0, 0]
    assert not any(W.any() for W in compacted.coefs[:2])  # place holders
    X = np.random.RandomState(0).normal(size=(7, 5))
    expected = _forward(coefs, intercepts, "tanh", "identity", X)
    got = _forward(
        [sp.csr_array(W) for W in compacted.coefs],
        compacted.intercepts,
        "tanh",
        "identity",
        X[:, compacted.input_columns],
    )
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    # The only output is a constant: it does not depend on X.
    assert np.ptp(got, axis=0).max() == 0


def _ticket_with_dead_units(n_features, n_outputs, dtype, seed=0):
    """A 2-hidden-layer ticket where whole units and inputs die."""
    rng = np.random.RandomState(seed)
    shapes = [(n_features, 10), (10, 8), (8, n_outputs)]
    weights = [rng.normal(size=shape) for shape in shapes]
    weights[0][:, 1] = 0  # unit 0.1 reads nothing: a constant
    weights[0][2] = 0  # input 2 is read by nothing
    weights[1][4] = 0  # unit 0.4 is read by nothing
    weights[1][:, 3] = 0  # unit 1.3 reads nothing
    weights[2][5] = 0  # unit 1.5 is read by nothing
    weights[0][0] = 0
    weights[0][0, 0] = 1.0  # input 0 feeds unit 0.0 only...
    weights[1][0] = 0  # ...which nothing reads: input 0 goes too
    biases = [rng.normal(size=n) for n in (10, 8, n_outputs)]
    return LotteryTicket(
        [sp.csr_array(W.astype(dtype)) for W in weights],
        [b.astype(dtype) for b in biases],
    )


def _targets(kind, rng, n):
    if kind == "binary":
        return rng.randint(2, size=n)
    if kind == "multiclass":
        return np.array(["a", "b", "c"])[rng.randint(3, size=n)]
    if kind == "multilabel":
        return rng.randint(2, size=(n, 3))
    if kind == "poisson":
        return rng.poisson(2.0, size=n).astype(float)
    return rng.normal(size=(n, 2))


OUTPUTS = {"binary": 1, "multiclass": 3, "multilabel": 3, "regression": 2, "poisson": 1}


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("kind", list(OUTPUTS))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_plain_mlp_predicts_what_the_ticket_predicts(activation, kind, dtype):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 7)).astype(dtype)
    y = _targets(kind, rng, 60)
    ticket = _ticket_with_dead_units(7, OUTPUTS[kind], dtype)
    params = dict(ticket=ticket, activation=activation, max_iter=3, random_state=0)
    if kind in ("regression", "poisson"):
        loss = {"loss": "poisson"} if kind == "poisson" else {}
        model = LotteryTicketMLPRegressor(**params, **loss).fit(X, y)
    else:
        model = LotteryTicketMLP(**params).fit(X, y)
    plain = model.to_sklearn()
    # Inputs 0 and 2 are read by no live unit: a selector goes in front.
    assert isinstance(plain, Pipeline)
    selector, mlp = plain.named_steps["select_inputs"], plain.named_steps["mlp"]
    assert isinstance(selector, ColumnTransformer)
    regressor = kind in ("regression", "poisson")
    assert type(mlp) is (MLPRegressor if regressor else MLPClassifier)
    assert mlp.hidden_layer_sizes == (7, 6)
    assert mlp.n_features_in_ == 5
    tolerance = 1e-12 if dtype == np.float64 else 1e-5
    if regressor:
        expected = model.predict(X)
        np.testing.assert_allclose(
            plain.predict(X), expected, atol=tolerance * np.abs(expected).max()
        )
    else:
        np.testing.assert_array_equal(plain.predict(X), model.predict(X))
        np.testing.assert_allclose(
            plain.predict_proba(X), model.predict_proba(X), rtol=0, atol=tolerance
        )
        assert plain.score(X, y) == model.score(X, y)
    # It loads without this package.
    assert b"sklearn_lth" not in pickle.dumps(plain)


def test_without_dropped_inputs_the_result_is_the_mlp_itself(data_frame_or_array):
    X, y = data_frame_or_array
    model = LotteryTicketMLP(
        (8,), target_sparsity=0.0, max_iter=20, random_state=0
    ).fit(X, y)
    plain = model.to_sklearn()
    assert type(plain) is MLPClassifier
    assert plain.hidden_layer_sizes == (8,)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no feature-name warning either way
        np.testing.assert_array_equal(plain.predict(X), model.predict(X))
    for name in ("classes_", "n_iter_", "loss_curve_", "n_features_in_"):
        assert np.array_equal(getattr(plain, name), getattr(model, name))


@pytest.fixture(params=["array", "frame"])
def data_frame_or_array(request):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(40, 4))
    y = (X[:, 0] > 0).astype(int)
    if request.param == "frame":
        pd = pytest.importorskip("pandas")
        X = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    return X, y


def test_a_selector_in_front_takes_data_frames_by_their_names():
    pd = pytest.importorskip("pandas")
    rng = np.random.RandomState(0)
    X = pd.DataFrame(rng.normal(size=(60, 7)), columns=list("abcdefg"))
    y = rng.randint(2, size=60)
    ticket = _ticket_with_dead_units(7, 1, np.float64)
    model = LotteryTicketMLP(ticket=ticket, max_iter=3, random_state=0).fit(X, y)
    plain = model.to_sklearn()
    assert list(model.unused_features_) == ["a", "c"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(plain.predict(X), model.predict(X))
    # The selector picks its columns by name: reordered, they still work.
    np.testing.assert_array_equal(plain.predict(X[list("gfedcba")]), model.predict(X))


def test_the_live_units_match_the_masks_and_the_pickle_shrinks():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(200, 30))
    y = (X[:, :3].sum(axis=1) > 0).astype(int)
    model = LotteryTicketMLP(
        (64, 32), target_sparsity=0.98, pruning_rounds=3, max_iter=20, random_state=0
    ).fit(X, y)
    masks = [W.toarray() != 0 for W in model.coefs_]
    # A unit is live when it reads something and something live reads it.
    reads = [m.any(axis=0) for m in masks[:-1]]
    read_above = masks[2].any(axis=1)
    live_1 = reads[1] & read_above
    live_0 = reads[0] & masks[1][:, live_1].any(axis=1)
    mlp = model.to_sklearn()
    mlp = mlp.steps[-1][1] if isinstance(mlp, Pipeline) else mlp
    assert mlp.hidden_layer_sizes == (int(live_0.sum()), int(live_1.sum()))
    assert mlp.hidden_layer_sizes != (64, 32)
    dense = MLPClassifier((64, 32), max_iter=1).fit(X, y)
    dead_share = 1 - sum(W.size for W in mlp.coefs_) / sum(W.size for W in dense.coefs_)
    assert len(pickle.dumps(mlp)) < (1 - dead_share) * len(pickle.dumps(dense)) * 1.1


def test_feature_importances_select_the_inputs_a_ticket_reads():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(120, 8))
    y = (X[:, 0] - X[:, 1] > 0).astype(int)
    ticket = _ticket_with_dead_units(8, 1, np.float64)
    model = LotteryTicketMLP(ticket=ticket, max_iter=5, random_state=0).fit(X, y)
    importances = model.feature_importances_
    assert importances.shape == (8,)
    assert importances.sum() == pytest.approx(1.0)
    np.testing.assert_array_equal(np.flatnonzero(importances == 0), [0, 2])
    np.testing.assert_array_equal(model.unused_features_, [0, 2])
    selected = SelectFromModel(model, prefit=True, threshold=1e-12).transform(X)
    assert selected.shape[1] == 6


def test_select_from_model_in_a_grid_search():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(90, 10))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    selector = SelectFromModel(
        LotteryTicketMLP((8,), target_sparsity=0.9, pruning_rounds=2, max_iter=15)
    )
    search = GridSearchCV(
        make_pipeline(selector, LogisticRegression()),
        {"selectfrommodel__estimator__target_sparsity": [0.5, 0.9]},
        cv=2,
    ).fit(X, y)
    assert search.best_estimator_.predict(X).shape == (90,)


def test_the_cv_estimator_hands_over_its_refitted_ticket():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(80, 5))
    y = (X[:, 0] > 0).astype(int)
    cv_model = LotteryTicketMLPCV(
        hidden_layer_sizes=(8,),
        pruning_rate=0.5,
        max_rounds=2,
        max_iter=10,
        cv=2,
        random_state=0,
    ).fit(X, y)
    plain = cv_model.to_sklearn()
    np.testing.assert_array_equal(plain.predict(X), cv_model.predict(X))
    np.testing.assert_array_equal(
        cv_model.feature_importances_, cv_model.best_estimator_.feature_importances_
    )


def test_unfitted_estimators_say_so():
    from sklearn.exceptions import NotFittedError

    for model in (LotteryTicketMLP(), LotteryTicketMLPCV()):
        with pytest.raises(NotFittedError):
            model.to_sklearn()
        assert not hasattr(model, "feature_importances_")


def test_the_round_table_says_what_each_round_costs():
    pd = pytest.importorskip("pandas")
    rng = np.random.RandomState(0)
    X = rng.normal(size=(120, 20))
    y = (X[:, 0] > 0).astype(int)
    model = LotteryTicketMLP(
        (16, 8), target_sparsity=0.97, pruning_rounds=3, max_iter=20, random_state=0
    ).fit(X, y)
    history = model.history_
    # Round 0 is dense: every unit lives, every multiply-add is done.
    assert history["live_units"][0] == (16, 8)
    assert history["multiply_adds"][0] == 20 * 16 + 16 * 8 + 8 * 1
    # The last round's cells are those of the fitted network.
    plain = model.to_sklearn()
    mlp = plain.steps[-1][1] if isinstance(plain, Pipeline) else plain
    assert history["live_units"][-1] == mlp.hidden_layer_sizes
    assert history["multiply_adds"][-1] == sum(W.size for W in mlp.coefs_)
    assert history["stored_bytes"][-1] == sum(
        W.data.nbytes + W.indices.nbytes + W.indptr.nbytes for W in model.coefs_
    ) + sum(b.nbytes for b in model.intercepts_)
    assert np.all(np.diff(history["stored_bytes"]) < 0)  # pruning saves bytes
    table = pd.DataFrame(history)  # one value per round in every column
    assert table.shape[0] == 4
    assert list(model.seeds_history_["live_units"]) == list(history["live_units"])


def test_compaction_leaves_the_estimators_weights_alone():
    coefs, intercepts = _hand_network()
    # A kept weight that is exactly zero, stored: compaction drops it.
    coefs[1].data[0] = 0.0
    before = [(W.data.copy(), W.indices.copy(), W.indptr.copy()) for W in coefs]
    biases_before = [b.copy() for b in intercepts]
    compact(coefs, intercepts, "relu")
    ticket_cost(coefs, intercepts)
    input_importances(coefs, intercepts, "relu")
    for W, (data, indices, indptr) in zip(coefs, before):
        np.testing.assert_array_equal(W.data, data)
        np.testing.assert_array_equal(W.indices, indices)
        np.testing.assert_array_equal(W.indptr, indptr)
    for b, b0 in zip(intercepts, biases_before):
        np.testing.assert_array_equal(b, b0)


def test_a_ticket_whose_output_reads_nothing_becomes_a_constant_model():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(30, 5))
    y = rng.randint(3, size=30)
    ticket = LotteryTicket(
        [sp.csr_array(rng.normal(size=(5, 4))), sp.csr_array((4, 3))],
        [rng.normal(size=4), rng.normal(size=3)],
    )
    model = LotteryTicketMLP(ticket=ticket, max_iter=3, random_state=0).fit(X, y)
    plain = model.to_sklearn()
    assert plain[-1].hidden_layer_sizes == (1,) and plain[-1].n_features_in_ == 1
    np.testing.assert_allclose(plain.predict_proba(X), model.predict_proba(X))
    assert np.ptp(plain.predict_proba(X), axis=0).max() == 0
    assert len(model.unused_features_) == 5
    assert model.history_["live_units"][-1] == (0,)
    assert model.history_["multiply_adds"][-1] == 0


def test_a_training_networks_cost_is_its_exported_weights_cost():
    """From kept positions (a full layer's pattern never built, but made
    when a constant unit below it is folded away) as from the CSR weights."""
    rng = np.random.RandomState(0)
    W0 = rng.normal(size=(6, 5)) * (rng.uniform(size=(6, 5)) < 0.5)
    W0[:, 2] = 0  # a constant unit under a layer that keeps every weight
    W0[:, 4] = 0
    W0[0] = 1.0
    W0[0, [2, 4]] = 0
    ticket = LotteryTicket(
        [sp.csr_array(W0), sp.csr_array(rng.normal(size=(5, 3)))],
        [rng.normal(size=5), rng.normal(size=3)],
    )
    X = rng.normal(size=(40, 6))
    y = rng.randint(3, size=40)
    model = LotteryTicketMLP(ticket=ticket, max_iter=3, random_state=0).fit(X, y)
    expected = ticket_cost(model.coefs_, model.intercepts_)
    assert expected["live_units"] == (3,)
    for key, value in expected.items():
        assert model.history_[key][-1] == value
