"""solver="lbfgs": full-batch L-BFGS over the kept weights (issue 13).

Dense, it takes scikit-learn's L-BFGS path; pruned, the pruned weights stay
exactly zero; every rewind strategy has its meaning in iterations; and the
search machinery (seeds, checkpoints, interrupts) works as with the
stochastic solvers.
"""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from joblib import parallel_config
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier, MLPRegressor

import sklearn_lth._lbfgs as lbfgs
import sklearn_lth._search._loop as imp
from sklearn_lth import (
    LotteryTicketMLP,
    LotteryTicketMLPRegressor,
    TrainingDivergedError,
)
from sklearn_lth._interrupt import StopFlag
from sklearn_lth._network import Network, glorot_uniform
from sklearn_lth._params import REWIND_STRATEGIES
from sklearn_lth._pruning import n_to_prune, per_round_rate
from sklearn_lth._training_config import TrainingConfig

ARCH = dict(hidden_layer_sizes=(9, 5), solver="lbfgs", random_state=0)
SEARCH = dict(ARCH, max_iter=20, target_sparsity=0.8, pruning_rounds=3)


@pytest.fixture(scope="module")
def data():
    """Features, binary/multiclass/regression targets, sample weights."""
    rng = np.random.RandomState(0)
    X = rng.normal(size=(120, 8))
    binary = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(int)
    multiclass = binary + (X[:, 3] > 1)
    regression = X[:, 0] - 0.5 * X[:, 1] * X[:, 2] + 0.1 * rng.normal(size=120)
    weights = rng.uniform(0.1, 3.0, size=120)
    return X, binary, multiclass, regression, weights


def _weights(model):
    return [W.toarray() for W in model.coefs_] + list(model.intercepts_)


def _assert_same_model(a, b):
    for x, y in zip(_weights(a), _weights(b)):
        np.testing.assert_array_equal(x, y)
    for key in a.history_:
        if key != "seconds":
            np.testing.assert_array_equal(a.history_[key], b.history_[key])
    assert a.loss_curve_ == b.loss_curve_


# -- Equality with scikit-learn ------------------------------------------------
# L-BFGS amplifies last-bit differences of the products along its path (a
# change of one ulp in one input moves scikit-learn's own result by as much
# after 200 iterations), so the runs compared are short or converge early.
CASES = {
    # Converges (gradient below tol) after 25 iterations.
    "binary-converged": ("binary", None, dict(max_iter=200)),
    "binary-weighted": ("binary", "weights", dict(alpha=0.1, max_iter=20)),
    "multiclass-tanh": ("multiclass", None, dict(activation="tanh", alpha=1e-3)),
    "multiclass-weighted-logistic": (
        "multiclass",
        "weights",
        dict(activation="logistic", alpha=0.01),
    ),
    "regression": ("regression", None, dict()),
    "regression-weighted": ("regression", "weights", dict(alpha=1.0)),
}


@pytest.mark.parametrize("case", CASES)
def test_dense_lbfgs_matches_scikit_learn(data, case):
    X, binary, multiclass, regression, weights = data
    target, weighted, params = CASES[case]
    y = {"binary": binary, "multiclass": multiclass, "regression": regression}[target]
    sample_weight = weights if weighted else None
    params = {**ARCH, "max_iter": 20, **params}
    if target == "regression":
        Theirs, Ours = MLPRegressor, LotteryTicketMLPRegressor
    else:
        Theirs, Ours = MLPClassifier, LotteryTicketMLP
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        theirs = Theirs(**params).fit(X, y, sample_weight=sample_weight)
        ours = Ours(target_sparsity=0.0, **params).fit(
            X, y, sample_weight=sample_weight
        )
    assert ours.n_iter_ == theirs.n_iter_
    for a, b in zip(ours.coefs_, theirs.coefs_):
        np.testing.assert_allclose(a.toarray(), b, rtol=1e-7, atol=1e-9)
    for a, b in zip(ours.intercepts_, theirs.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(ours.loss_, theirs.loss_, rtol=1e-9)
    # One loss per iteration, the last scikit-learn's loss_.
    assert len(ours.loss_curve_) == ours.n_iter_
    assert ours.loss_curve_[-1] == ours.loss_
    assert np.all(np.diff(ours.loss_curve_) <= 0)


@pytest.mark.parametrize("limit", [dict(max_iter=4), dict(max_fun=15)])
def test_max_iter_and_max_fun_stop_as_in_scikit_learn(data, limit):
    X, _, y, _, _ = data
    params = {**ARCH, "max_iter": 200, **limit}
    with pytest.warns(ConvergenceWarning):
        theirs = MLPClassifier(**params).fit(X, y)
    with pytest.warns(ConvergenceWarning):
        ours = LotteryTicketMLP(target_sparsity=0.0, **params).fit(X, y)
    assert ours.n_iter_ == theirs.n_iter_ <= params["max_iter"]
    assert ours.history_["n_iter"][0] == ours.n_iter_


def test_a_converged_round_does_not_warn(data):
    X, y = data[:2]
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model = LotteryTicketMLP(target_sparsity=0.0, **ARCH).fit(X, y)
    assert model.n_iter_ < 200
    # Converged at the start: no iteration, the curve is the starting loss.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # untrained: at chance
        big_tol = LotteryTicketMLP(target_sparsity=0.0, tol=1e3, **ARCH).fit(X, y)
    assert big_tol.n_iter_ == 0 and len(big_tol.loss_curve_) == 1


# -- The objective --------------------------------------------------------------
def _masked_network(X, units, seed=0, density=0.4, kernel=None, out="softmax"):
    rng = np.random.RandomState(seed)
    weights, biases = glorot_uniform(units, "tanh", X.dtype, rng)
    positions = [np.flatnonzero(rng.uniform(size=W.shape) < density) for W in weights]
    net = Network.from_dense(weights, biases, positions, "tanh", out, kernel)
    return net, positions


def test_gradient_is_the_objectives_in_chunks_and_rows(data, monkeypatch):
    """Central differences of the objective, over kept weights and biases."""
    X, _, y, _, sample_weight = data
    Y = np.eye(3)[y]
    rows = np.arange(5, 110)
    monkeypatch.setattr(lbfgs, "LBFGS_CHUNK", 32)  # four chunks, the last short
    net, _ = _masked_network(X, [8, 7, 3])
    objective = lbfgs.FullBatchObjective(net, X, Y, sample_weight, rows, 0.3, None, 0)
    assert not objective.single_chunk
    x = objective.params.astype(np.float64).copy()
    _, grad = objective(x)
    rng = np.random.RandomState(1)
    for i in rng.choice(x.size, 25, replace=False):
        step = np.zeros_like(x)
        step[i] = 1e-6
        numeric = (objective(x + step)[0] - objective(x - step)[0]) / 2e-6
        assert numeric == pytest.approx(grad[i], rel=1e-5, abs=1e-8)


def test_chunks_sum_to_the_single_batch(data, monkeypatch):
    X, _, y, _, sample_weight = data
    params = dict(ARCH, target_sparsity=0.5, pruning_rounds=2, max_iter=8)
    whole = LotteryTicketMLP(**params).fit(X, y, sample_weight=sample_weight)
    monkeypatch.setattr(lbfgs, "LBFGS_CHUNK", 50)
    chunked = LotteryTicketMLP(**params).fit(X, y, sample_weight=sample_weight)
    for a, b in zip(_weights(whole), _weights(chunked)):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("kernel", ["dense", "sparse"])
def test_pruned_weights_stay_exactly_zero(data, kernel):
    X, _, y, _, sample_weight = data
    net, positions = _masked_network(X, [8, 30, 3], kernel=kernel)
    before = [layer.values.copy() for layer in net.layers]
    config = TrainingConfig(solver="lbfgs", alpha=1e-3, max_iter=25)
    result = lbfgs.train_round_lbfgs(
        net, X, np.eye(3)[y], sample_weight, config, None, start=None
    )
    assert result.n_iter == 25 and not result.converged
    for layer, pos, old in zip(net.layers, positions, before):
        W = layer.matrix.toarray().ravel()
        assert np.count_nonzero(np.delete(W, pos)) == 0
        assert not np.array_equal(layer.values, old)  # the kept ones trained
        if kernel == "dense":
            assert np.count_nonzero(np.delete(layer.dense.ravel(), pos)) == 0


def test_float32_trains_in_float32(data):
    X, _, y, _, _ = data
    model = LotteryTicketMLP(**SEARCH).fit(X.astype(np.float32), y)
    assert all(W.dtype == np.float32 for W in model.coefs_)
    assert model.score(X.astype(np.float32), y) > 0.7


def test_sparse_input_equals_dense(data):
    X, _, y, _, _ = data
    X = np.where(np.abs(X) > 0.5, X, 0.0)
    params = dict(SEARCH, max_iter=10)
    dense = LotteryTicketMLP(**params).fit(X, y)
    sparse = LotteryTicketMLP(**params).fit(sp.csr_array(X), y)
    for a, b in zip(_weights(dense), _weights(sparse)):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


# -- Rounds and rewinding -------------------------------------------------------
def test_a_search_keeps_the_sparsity_schedule(data):
    X, _, y, _, _ = data
    model = LotteryTicketMLP(**SEARCH).fit(X, y)
    history = model.history_
    rate = per_round_rate(0.8, 3)
    remaining = [8 * 9 + 9 * 5 + 5 * 3]
    for _ in range(3):
        remaining.append(remaining[-1] - n_to_prune(rate, remaining[-1]))
    np.testing.assert_array_equal(history["remaining_parameters"], remaining)
    assert sum(W.nnz for W in model.coefs_) == remaining[-1]
    assert history["sparsity"][-1] == pytest.approx(0.8, abs=0.01)
    assert all(1 <= n <= 20 for n in history["n_iter"])
    assert len(model.loss_curve_) == model.n_iter_
    assert model.score(X, y) >= 0.75


def test_early_snapshot_is_the_iterate_after_that_many_iterations(data):
    X, _, y, _, _ = data
    Y = np.eye(3)[y]
    config = TrainingConfig(solver="lbfgs", max_iter=30, tol=0.0)
    net, _ = _masked_network(X, [8, 7, 3])
    result = lbfgs.train_round_lbfgs(net, X, Y, None, config, snapshot_at=7)
    # The same start trained for 7 iterations only.
    short, _ = _masked_network(X, [8, 7, 3])
    config = TrainingConfig(solver="lbfgs", max_iter=7, tol=0.0)
    lbfgs.train_round_lbfgs(short, X, Y, None, config)
    snapshot = result.snapshot
    assert snapshot.step == 7 and result.n_iter == 30
    for values, bias, layer in zip(snapshot.weights, snapshot.biases, short.layers):
        np.testing.assert_array_equal(values, layer.values)
        np.testing.assert_array_equal(bias, layer.bias)


def _kept(ticket_weights, dense):
    """``dense`` weights at the ticket's kept positions, as the ticket's CSR."""
    return [W.toarray() * (T.toarray() != 0) for T, W in zip(ticket_weights, dense)]


@pytest.mark.parametrize("rewind", REWIND_STRATEGIES)
def test_every_rewind_strategy_restarts_where_it_says(data, rewind):
    X, _, y, _, _ = data
    params = dict(ARCH, max_iter=20, tol=0.0, rewind=rewind, rewind_iteration=6)
    params |= dict(rewind_fraction=0.25, target_sparsity=0.5, pruning_rounds=1)
    rounds = []
    model = LotteryTicketMLP(**params).fit(
        X, y, on_round_end=lambda record, m: rounds.append(m.coefs_)
    )
    assert len(rounds) == 2 and model.history_["n_iter"][0] == 20
    start = [W.toarray() for W in model.ticket_.weights]
    if rewind in ("early", "late"):
        # After 6 iterations; rewind_fraction * max_iter = 5 iterations.
        n = 6 if rewind == "early" else 5
        dense = LotteryTicketMLP(**dict(ARCH, target_sparsity=0.0, max_iter=n))
        expected = dense.fit(X, y).coefs_
    elif rewind in ("lr", "none"):
        expected = rounds[0]  # the weights round 0 trained
    else:
        units = [8, 9, 5, 3]
        initial = glorot_uniform(units, "relu", X.dtype, np.random.RandomState(0))[0]
        expected = [sp.csr_array(W) for W in initial]
    expected = _kept(model.ticket_.weights, expected)
    for a, b in zip(start, expected):
        if rewind == "reinit":
            assert not np.array_equal(a, b)  # fresh weights, same mask
        else:
            np.testing.assert_array_equal(a, b)


def test_a_rewind_point_after_round_zero_ended_warns(data):
    X, y = data[:2]
    params = dict(SEARCH, max_iter=200, rewind="early", rewind_iteration=500)
    with pytest.warns(UserWarning, match="before the rewind point at step 500"):
        LotteryTicketMLP(**params).fit(X, y)


# -- The search machinery -------------------------------------------------------
def test_fits_are_deterministic(data):
    X, _, y, _, weights = data
    a = LotteryTicketMLP(**SEARCH).fit(X, y, sample_weight=weights)
    b = LotteryTicketMLP(**SEARCH).fit(X, y, sample_weight=weights)
    _assert_same_model(a, b)


def test_seeds_in_parallel_equal_serial_and_score_each_round(data):
    X, _, y, _, _ = data
    params = dict(SEARCH, n_seeds=2, pruning_rounds=2)
    serial = LotteryTicketMLP(**params, n_jobs=1).fit(X, y)
    # Threads (processes would only add their start-up: the search pickles
    # as with the other solvers, see test_seeds.py).
    with parallel_config(backend="threading"):
        parallel = LotteryTicketMLP(**params, n_jobs=2).fit(X, y)
    _assert_same_model(serial, parallel)
    assert serial.best_seed_ == parallel.best_seed_
    assert len(serial.seeds_history_["validation_score"]) == 2 * 3
    assert len(serial.validation_scores_) == 1


def test_early_stopping_is_ignored_as_by_scikit_learn(data):
    """scikit-learn's L-BFGS ignores early_stopping and trains on all rows."""
    X, _, y, _, _ = data
    params = dict(ARCH, max_iter=15, tol=0.0, target_sparsity=0.5, pruning_rounds=1)
    stopping = LotteryTicketMLP(**params, early_stopping=True).fit(X, y)
    plain = LotteryTicketMLP(**params).fit(X, y)
    np.testing.assert_array_equal(stopping.history_["n_iter"], [15, 15])
    for a, b in zip(stopping.coefs_, plain.coefs_):
        np.testing.assert_array_equal(a.toarray(), b.toarray())
    assert stopping.best_validation_score_ is None


def test_resuming_from_a_checkpoint_equals_an_uninterrupted_run(
    data, tmp_path, monkeypatch
):
    X, _, y, _, _ = data
    uninterrupted = LotteryTicketMLP(**SEARCH).fit(X, y)
    real = imp.train_round_lbfgs
    ran = []

    def crash_in_round_two(*args, round_index, **kwargs):
        ran.append(round_index)
        if round_index == 2 and len(ran) == 3:
            raise RuntimeError("the machine went down")
        return real(*args, round_index=round_index, **kwargs)

    monkeypatch.setattr(imp, "train_round_lbfgs", crash_in_round_two)
    with pytest.raises(RuntimeError, match="went down"):
        LotteryTicketMLP(**SEARCH, checkpoint_dir=tmp_path).fit(X, y)
    resumed = LotteryTicketMLP(**SEARCH, checkpoint_dir=tmp_path).fit(X, y)
    assert ran == [0, 1, 2, 2, 3]
    _assert_same_model(resumed, uninterrupted)


class _StopAfter(StopFlag):
    """Set after ``n`` checks, as another thread's Ctrl-C would set it."""

    def __init__(self, n):
        super().__init__()
        self.n, self.checks = n, 0

    def raise_if_set(self):
        self.checks += 1
        if self.checks > self.n:
            self.set()
        super().raise_if_set()


def test_the_stop_flag_is_checked_before_every_evaluation(data):
    X, _, y, _, _ = data
    net, _ = _masked_network(X, [8, 7, 3])
    stop = _StopAfter(5)
    config = TrainingConfig(solver="lbfgs", max_iter=100)
    with pytest.raises(KeyboardInterrupt):
        lbfgs.train_round_lbfgs(net, X, np.eye(3)[y], None, config, stop=stop)
    assert stop.checks == 6


def test_a_non_finite_loss_is_a_divergence(data):
    X, _, _, y, _ = data
    with pytest.raises(TrainingDivergedError, match="L-BFGS evaluation 1"):
        LotteryTicketMLPRegressor(**SEARCH).fit(X * 1e200, y)


def test_verbose_prints_every_iteration(data, capsys):
    X, y = data[:2]
    LotteryTicketMLP(target_sparsity=0.0, verbose=True, **dict(ARCH, max_iter=3)).fit(
        X, y
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("Round 0: ")
    assert lines[1:4] == [line for line in lines if "Iteration" in line]
    assert lines[3].startswith("Iteration 3, loss = ")
