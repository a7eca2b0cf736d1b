import numpy as np
import pytest
import scipy.sparse as sp

from sklearn_lth._kernels import flush_subnormal
from sklearn_lth._losses import loss_value
from sklearn_lth._network import Network, glorot_uniform
from sklearn_lth._rewinding import StartPoint
from sklearn_lth._schedules import make_schedule
from sklearn_lth._training import (
    SUBNORMAL_FLUSH_STEPS,
    BatchSource,
    NoImprovementRule,
    RoundResult,
    TrainingStep,
    ValidationTracker,
    epoch_steps,
    predict_network,
    train_round,
)
from sklearn_lth._training_config import TrainingConfig, resolve_batch_size
from sklearn_lth.exceptions import TrainingDivergedError


def _masked_start(rng, units, density, dtype=np.float64):
    weights, biases = glorot_uniform(units, "relu", dtype, rng)
    positions = [
        np.sort(rng.choice(W.size, max(1, int(density * W.size)), replace=False))
        for W in weights
    ]
    return StartPoint(weights, biases), positions


@pytest.mark.parametrize("solver", ["adam", "sgd"])
@pytest.mark.parametrize("density", [0.01, 0.04, 0.3])
@pytest.mark.parametrize("sparse_input", [False, True])
def test_a_full_round_is_the_same_with_dense_and_sparse_kernels(
    small_classification, solver, density, sparse_input
):
    X, y = small_classification
    X = np.hstack([X] * 10)  # 80 features, so that 1% keeps some weights
    if sparse_input:
        X = sp.csr_array(X * (np.abs(X) > 0.7))
    Y = np.eye(3)[y]
    start, positions = _masked_start(np.random.RandomState(0), [80, 40, 3], density)
    config = TrainingConfig(
        solver=solver, batch_size=16, max_iter=5, learning_rate_init=0.01
    )
    trained = []
    for kernel in ("dense", "sparse"):
        net = Network.from_dense(
            start.weights, start.biases, positions, "relu", "softmax", kernel
        )
        result = train_round(
            net, X, Y, None, config, np.random.RandomState(1), start=start
        )
        trained.append((net, result))
    (dense, dense_result), (sparse, sparse_result) = trained
    np.testing.assert_allclose(
        dense_result.loss_curve, sparse_result.loss_curve, rtol=1e-9
    )
    for a, b in zip(dense.layers, sparse.layers):
        np.testing.assert_allclose(a.values, b.values, rtol=1e-8, atol=1e-12)
        np.testing.assert_allclose(
            a.matrix.toarray(), b.matrix.toarray(), rtol=1e-8, atol=1e-12
        )
    np.testing.assert_allclose(
        predict_network(dense, X), predict_network(sparse, X), rtol=1e-8
    )


@pytest.mark.parametrize("kernels", ["numpy", "numba"])
def test_an_epoch_stops_after_a_loss_that_is_not_finite(small_classification, kernels):
    """epoch_steps gives the step whose loss is not finite, and no more,
    whoever reads it (the step by step way and runs of steps alike)."""
    if kernels == "numba":
        pytest.importorskip("numba")
    X, y = small_classification
    X = X.astype(np.float32)
    X[40] = np.inf  # in the third batch of 16
    start, positions = _masked_start(np.random.RandomState(0), [8, 10, 3], 0.3)
    network = Network.from_dense(
        [W.astype(np.float32) for W in start.weights],
        [b.astype(np.float32) for b in start.biases],
        positions,
        "relu",
        "softmax",
    )
    config = TrainingConfig(kernels=kernels, batch_size=16, shuffle=False)
    step = TrainingStep(network, config, 16, np.float32)
    batches = BatchSource(
        X,
        np.eye(3, dtype=np.float32)[y],
        None,
        None,
        16,
        False,
        np.random.RandomState(0),
        **step.network.gathering(),
    )
    schedule = make_schedule(config, start, 100)
    losses = [loss for loss, _ in epoch_steps(step, batches, schedule, 0)]
    assert len(losses) == 3
    assert np.isfinite(losses[:2]).all() and not np.isfinite(losses[2])


def test_divergence_raises_with_round_and_epoch(small_classification):
    X, y = small_classification
    start, positions = _masked_start(np.random.RandomState(0), [8, 10, 1], 1.0)
    net = Network.from_dense(start.weights, start.biases, positions, "relu", "identity")
    config = TrainingConfig(solver="sgd", learning_rate_init=1e3, max_iter=50)
    with pytest.raises(TrainingDivergedError, match=r"round 4, epoch \d+"):
        train_round(
            net,
            X * 100,
            y[:, None] * 1e3,
            None,
            config,
            np.random.RandomState(0),
            start=start,
            round_index=4,
        )


def test_early_stopping_restores_the_best_weights(small_classification):
    X, y = small_classification
    Y = np.eye(3)[y]
    start, positions = _masked_start(np.random.RandomState(0), [8, 20, 3], 1.0)
    net = Network.from_dense(start.weights, start.biases, positions, "relu", "softmax")
    config = TrainingConfig(
        max_iter=40,
        learning_rate_init=0.05,
        early_stopping=True,
        n_iter_no_change=40,
        tol=0.0,
    )
    result = train_round(
        net,
        X,
        Y,
        None,
        config,
        np.random.RandomState(0),
        start=start,
        rows=np.arange(30, 120),
        validation_rows=np.arange(30),
    )
    assert result.best_validation_score == max(result.validation_scores)
    P = predict_network(net, X[:30])
    assert np.mean(P.argmax(1) == y[:30]) == result.best_validation_score


def test_snapshot_holds_the_weights_after_that_many_steps(small_classification):
    X, y = small_classification
    Y = np.eye(3)[y]
    start, positions = _masked_start(np.random.RandomState(0), [8, 6, 3], 0.5)
    config = TrainingConfig(batch_size=40, max_iter=3, shuffle=False)
    net = Network.from_dense(start.weights, start.biases, positions, "relu", "softmax")
    result = train_round(
        net, X, Y, None, config, np.random.RandomState(0), start=start, snapshot_at=3
    )
    once = Network.from_dense(start.weights, start.biases, positions, "relu", "softmax")
    train_round(
        once,
        X,
        Y,
        None,
        TrainingConfig(batch_size=40, max_iter=1, shuffle=False),
        np.random.RandomState(0),
        start=start,
    )
    assert result.snapshot.step == 3
    for i, layer in enumerate(once.layers):
        np.testing.assert_array_equal(
            result.snapshot.values(i, layer.positions), layer.values
        )


def test_a_batch_whose_samples_all_weigh_zero_trains(small_classification):
    """Zero-weight batches are skipped, not divided by: the other rows train."""
    from sklearn_lth import LotteryTicketMLP

    X, y = small_classification
    weights = np.ones(len(y))
    weights[:40] = 0.0  # the first batch of 40, unshuffled
    params = dict(
        hidden_layer_sizes=(16,),
        target_sparsity=0.0,
        batch_size=40,
        shuffle=False,
        max_iter=100,
        learning_rate_init=0.01,
    )
    model = LotteryTicketMLP(**params, random_state=0).fit(X, y, sample_weight=weights)
    assert np.isfinite(model.loss_)
    assert model.score(X[40:], y[40:]) > 0.5


@pytest.mark.parametrize(
    "train_loss, train_score, diverged",
    [
        (2.0, 0.9, False),  # a fine round
        (25.0, 0.9, True),  # ten times above its start and a constant's loss
        (1.5, 0.5, True),  # above both, at chance
        (1.25, 0.5, False),  # at chance a hair above both: noise, not diverged
        (1.5, 0.6, False),  # above both, but learned something
        (0.9, 0.5, False),  # at chance but below its start: slow, not diverged
    ],
)
def test_a_round_has_failed_when_it_ends_far_above_or_at_chance_above(
    train_loss, train_score, diverged
):
    from sklearn_lth._training import RoundResult, failed_round

    result = RoundResult(loss_curve=[1.2, 1.0])
    baseline = (0.7, 0.5)  # a balanced binary target: log 2, half right
    reason = failed_round(result, train_loss, train_score, baseline)
    assert (reason is not None) == diverged


def test_where_a_round_started_is_its_first_mini_batch_if_its_first_epoch_exploded():
    """An epoch whose mean loss is already huge (weights grown a million
    times, and the L2 term with them) is no reference for divergence."""
    from sklearn_lth._training import RoundResult, failed_round

    baseline = (2.3, 0.1)
    exploded = [8e9, 7e9]
    assert failed_round(RoundResult(loss_curve=exploded), 32.0, 0.1, baseline) is None
    result = RoundResult(loss_curve=exploded, initial_loss=8.5)
    assert "where it started (8.5)" in failed_round(result, 32.0, 0.1, baseline)
    # A first epoch below its first mini-batch (the usual case) stays the
    # reference, as before.
    result = RoundResult(loss_curve=[3.0, 2.0], initial_loss=20.0)
    assert "(3)" in failed_round(result, 32.0, 0.1, baseline)
    assert failed_round(result, 3.2, 0.5, baseline) is None


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_an_adam_step_that_explodes_in_the_first_epoch_is_divergence():
    """Unscaled digits and learning_rate_init=1e4: Adam's weights explode in
    the first epoch, which ends confidently wrong, at chance (this fitted
    with only a warning while the first epoch's mean loss, its L2 term
    included, was the reference)."""
    from sklearn.datasets import load_digits

    from sklearn_lth import LotteryTicketMLP

    X, y = load_digits(return_X_y=True)
    model = LotteryTicketMLP(
        hidden_layer_sizes=(16,),
        learning_rate_init=1e4,
        max_iter=10,
        pruning_rounds=1,
        random_state=0,
    )
    with pytest.raises(TrainingDivergedError, match=r"round 0: .* where it started"):
        model.fit(X[:400], y[:400])


def test_an_exploding_but_finite_loss_is_divergence(digits):
    """SGD at a learning rate of 10 ends with a loss near 1e200, not NaN."""
    from sklearn_lth import LotteryTicketMLP

    X, y = digits
    model = LotteryTicketMLP(
        hidden_layer_sizes=(16,),
        solver="sgd",
        learning_rate_init=10.0,
        max_iter=5,
        random_state=0,
    )
    with pytest.raises(
        TrainingDivergedError, match=r"round 0(: its training loss ended|, epoch)"
    ):
        model.fit(X[:400], y[:400])
    assert not hasattr(model, "coefs_")


def test_a_network_that_learned_nothing_warns(digits):
    """Unscaled features and a huge learning rate: a dead network at chance."""
    from sklearn.datasets import load_digits

    from sklearn_lth import LotteryTicketMLP

    X, y = load_digits(return_X_y=True)
    model = LotteryTicketMLP(
        learning_rate_init=10.0, max_iter=20, pruning_rounds=1, random_state=0
    )
    with pytest.warns(UserWarning, match=r"no better than chance.*learned nothing"):
        try:
            model.fit(X, y)
        except TrainingDivergedError:
            pytest.fail("a dead network below its starting loss is not divergence")


@pytest.mark.parametrize(
    "batch_size, n_samples, resolved, steps",
    [("auto", 1000, 200, 5), ("auto", 90, 90, 1), (60, 4000, 60, 67), (0, 5, 1, 5)],
)
def test_batch_size_and_steps_per_epoch(batch_size, n_samples, resolved, steps):
    assert resolve_batch_size(batch_size, n_samples) == resolved
    config = TrainingConfig(batch_size=batch_size)
    assert config.resolved_batch_size(n_samples) == resolved
    assert config.steps_per_epoch(n_samples) == steps


def test_the_stopping_rule_counts_epochs_without_improvement_by_tol():
    rule = NoImprovementRule(tol=0.1, n_iter_no_change=2)
    # The first value always improves; 0.95 is a new best but not by tol.
    for value, is_best, count in [(1.0, True, 0), (0.95, True, 1), (1.2, False, 2)]:
        assert rule.update(value) is is_best
        assert rule.count == count and not rule.should_stop
    assert rule.best == 0.95
    assert rule.update(0.9) is True and rule.count == 3 and rule.should_stop
    rule.restart()
    assert rule.count == 0 and not rule.should_stop
    assert rule.update(0.5) is True and rule.count == 0


def test_the_stopping_rule_maximizes_a_score():
    rule = NoImprovementRule(tol=0.05, n_iter_no_change=1, maximize=True)
    assert rule.update(0.5) and rule.update(0.7) and rule.count == 0
    assert rule.update(0.72) and rule.count == 1  # the best, but not by tol
    assert not rule.update(0.6) and rule.should_stop and rule.best == 0.72
    # A NaN score is never the best and does not count as a stall (as
    # scikit-learn's, whose comparisons with NaN are all False).
    assert not rule.update(np.nan) and rule.count == 0 and rule.best == 0.72


def test_a_round_stops_after_n_iter_no_change_stalled_epochs(small_classification):
    """A tolerance no epoch can beat: the first epoch sets the best, then
    ``n_iter_no_change + 1`` stalled epochs stop the round."""
    X, y = small_classification
    start, positions = _masked_start(np.random.RandomState(0), [8, 6, 3], 1.0)
    net = Network.from_dense(start.weights, start.biases, positions, "relu", "softmax")
    config = TrainingConfig(max_iter=50, tol=1e9, n_iter_no_change=3)
    result = train_round(
        net, X, np.eye(3)[y], None, config, np.random.RandomState(0), start=start
    )
    assert result.converged and result.n_iter == 5


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("sparse_input", [False, True])
def test_the_batch_source_gathers_the_rows_of_each_batch(shuffle, sparse_input):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(50, 4))
    if sparse_input:
        X = sp.csr_array(X)
    Y, sw = rng.normal(size=(50, 2)), rng.uniform(size=50)
    rows = np.arange(3, 40)
    source = BatchSource(X, Y, sw, rows, 8, shuffle, np.random.RandomState(1))
    assert source.total_weight == pytest.approx(sw[rows].sum())
    for _ in range(2):  # the order is shuffled again every epoch
        seen, buffers = [], set()
        for batch in source.epoch():
            inputs, targets, weights, weight_sum = source.gather(batch)
            idx = rows[source.order[batch]]
            dense = inputs.toarray() if sparse_input else inputs
            np.testing.assert_array_equal(
                dense, X[idx].toarray() if sparse_input else X[idx]
            )
            np.testing.assert_array_equal(targets, Y[idx])
            np.testing.assert_array_equal(weights, sw[idx])
            assert weight_sum == pytest.approx(sw[idx].sum())
            seen.extend(idx)
            if not sparse_input:
                buffers.add(inputs.__array_interface__["data"][0])
        assert sorted(seen) == list(rows)
        assert len(buffers) <= 1  # one buffer, reused
    assert np.array_equal(np.sort(source.order), np.arange(rows.size))
    assert shuffle != np.array_equal(source.order, np.arange(rows.size))


def test_an_unshuffled_batch_of_all_rows_is_a_view_of_x():
    X, Y = np.arange(20.0).reshape(10, 2), np.zeros((10, 1))
    source = BatchSource(X, Y, None, None, 4, False, np.random.RandomState(0))
    inputs, _, weights, weight_sum = source.gather(slice(4, 8))
    assert np.shares_memory(inputs, X) and weights is None and weight_sum == 4


def _step_and_network(small_classification, alpha=1e-3):
    X, y = small_classification
    start, positions = _masked_start(np.random.RandomState(0), [8, 6, 3], 0.5)
    net = Network.from_dense(start.weights, start.biases, positions, "relu", "softmax")
    step = TrainingStep(net, TrainingConfig(alpha=alpha), 20, X.dtype)
    return X[:20], np.eye(3)[y[:20]], net, step


def test_a_training_step_updates_and_returns_the_batch_loss(small_classification):
    X, Y, net, step = _step_and_network(small_classification, alpha=0.0)
    before = step.params[0].copy()
    expected = loss_value("softmax", Y, predict_network(net, X), None)
    loss = step(X, Y, None, 20, 0.01)
    assert loss == pytest.approx(expected, rel=1e-12)
    assert not np.array_equal(step.params[0], before)
    # The layers read the updated values (the step synced them).
    np.testing.assert_array_equal(
        np.concatenate([layer.values for layer in net.layers]),
        step.weights,
    )


def test_a_batch_that_weighs_nothing_takes_no_step(small_classification):
    X, Y, _, step = _step_and_network(small_classification)
    before = step.params[0].copy()
    loss = step(X, Y, np.zeros(20), 0.0, 0.01)
    assert np.isfinite(loss)
    np.testing.assert_array_equal(step.params[0], before)


def test_a_non_finite_loss_is_returned_before_any_update(small_classification):
    X, Y, _, step = _step_and_network(small_classification)
    before = step.params[0].copy()
    with np.errstate(all="ignore"):
        loss = step(X * np.inf, Y, None, 20, 0.01)
    assert not np.isfinite(loss)
    np.testing.assert_array_equal(step.params[0], before)


def test_the_validation_tracker_records_the_step_of_minimum_loss(
    small_classification,
):
    X, y = small_classification
    start, positions = _masked_start(np.random.RandomState(0), [8, 6, 3], 1.0)
    net = Network.from_dense(start.weights, start.biases, positions, "relu", "softmax")
    tracker = ValidationTracker(net, X, np.eye(3)[y], None, np.arange(30))
    result = RoundResult(validation_scores=[])
    result.steps = 7
    score = tracker.score_epoch(result)
    assert result.validation_scores == [score]
    assert result.min_validation_loss_iteration == 7
    assert result.validation_score_at_min_loss == score
    params = [np.arange(3.0)]
    tracker.keep_best(params)
    kept = tracker.best_params[0]
    params[0][:] = -1.0
    tracker.keep_best(params)
    assert tracker.best_params[0] is kept  # the same array, overwritten
    params[0][:] = 5.0
    assert tracker.restore_best(params) and np.all(params[0] == -1.0)


def _ticket_with_subnormal_numbers(dtype):
    """A 8-4-3 ticket whose hidden unit 0 sends nothing (its outgoing weights
    are pruned), so it gets no error: its two kept incoming weights and its
    bias, subnormal, keep their values through Adam's steps (alpha=0)."""
    from sklearn_lth import LotteryTicket

    tiny = np.finfo(dtype).tiny
    rng = np.random.RandomState(0)
    first = rng.normal(size=(8, 4)).astype(dtype)
    second = rng.normal(size=(4, 3)).astype(dtype)
    second[0] = 0
    first[:, 0] = 0
    first[[1, 6], 0] = tiny * np.array([0.5, -0.25], dtype)
    biases = [np.zeros(4, dtype), np.zeros(3, dtype)]
    biases[0][0] = tiny / 8
    ticket = LotteryTicket([sp.csr_array(first), sp.csr_array(second)], biases)
    assert ticket.remaining_parameters == 8 * 3 + 2 + 3 * 3
    return ticket


def _assert_no_subnormal_number(model, dtype):
    tiny = np.finfo(dtype).tiny
    assert not model.coefs_[0].toarray()[:, 0].any()
    assert model.intercepts_[0][0] == 0
    for values in [*model.coefs_, *model.intercepts_]:
        values = values.data if sp.issparse(values) else values
        assert not np.any((values != 0) & (np.abs(values) < tiny))


# A few epochs on a tiny network: it may not learn, nor converge.
@pytest.mark.filterwarnings("ignore:Round\\(s\\):UserWarning")
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("kernels", ["numpy", "numba"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_training_leaves_no_subnormal_number(small_classification, kernels, dtype):
    """Subnormal numbers become zero (each operation on one costs some
    hundred cycles), on both paths, after a fit of fewer steps than the
    numpy path's flushes are apart; the other weights train as before."""
    if kernels == "numba":
        pytest.importorskip("numba")
    from sklearn_lth import LotteryTicketMLP, config_context

    X, y = small_classification
    ticket = _ticket_with_subnormal_numbers(dtype)
    with config_context(kernels=kernels):
        model = LotteryTicketMLP(
            ticket=ticket, alpha=0.0, max_iter=2, batch_size=40, random_state=0
        )
        model.fit(X.astype(dtype), y)
    _assert_no_subnormal_number(model, dtype)
    trained = model.coefs_[0].toarray()[:, 1:]
    assert not np.allclose(trained, ticket.weights[0].toarray()[:, 1:])


@pytest.mark.parametrize("kernels", ["numpy", "numba"])
def test_partial_fit_sets_subnormal_numbers_to_zero(small_classification, kernels):
    """Across calls: the numpy path counts the steps since its last flush."""
    if kernels == "numba":
        pytest.importorskip("numba")
    from sklearn_lth import LotteryTicketMLP, config_context

    X, y = small_classification
    model = LotteryTicketMLP(
        ticket=_ticket_with_subnormal_numbers(np.float64),
        alpha=0.0,
        batch_size=10,
        random_state=0,
    )
    with config_context(kernels=kernels):
        for _ in range(2):  # 12 steps each
            model.partial_fit(X, y, classes=np.unique(y))
    _assert_no_subnormal_number(model, np.float64)


def test_the_numpy_path_flushes_every_few_steps(small_classification, monkeypatch):
    """Parameters and Adam's moments, every SUBNORMAL_FLUSH_STEPS steps (the
    compiled update does it at every step, and its steps never call it)."""
    X, Y, _, step = _step_and_network(small_classification)
    tiny = np.finfo(np.float64).tiny
    assert len(step.carried) == 3  # the parameters and Adam's two moments
    for values in step.carried:
        values[[0, -1]] = [tiny / 2, -tiny / 4]
        values[1] = 0.5
    step.flush_subnormal()
    for values in step.carried:
        assert values[0] == 0 and values[-1] == 0 and values[1] == 0.5
    flushes, flush = [], TrainingStep.flush_subnormal
    monkeypatch.setattr(
        TrainingStep,
        "flush_subnormal",
        lambda self: flushes.append(self) or flush(self),
    )
    for _ in range(2 * SUBNORMAL_FLUSH_STEPS + 1):
        step(X, Y, None, 20, 1e-3)
    assert flushes == [step, step]


@pytest.mark.parametrize("density", [0.05, 0.5])
def test_a_flush_refreshes_the_products_copies_of_the_weights(
    small_classification, density
):
    """A CSR layer's transposed data, a partial dense layer's dense copy."""
    X, y = small_classification
    start, positions = _masked_start(np.random.RandomState(0), [8, 6, 3], density)
    network = Network.from_dense(
        start.weights, start.biases, positions, "relu", "softmax"
    )
    step = TrainingStep(network, TrainingConfig(), 20, X.dtype)
    layer = network.layers[0]
    assert (layer.kernel == "sparse") == (density < 0.1)
    layer.trainable[0] = np.finfo(np.float64).tiny / 2
    network.sync()
    step.flush_subnormal()
    assert layer.trainable[0] == 0
    if layer.kernel == "sparse":
        copy = layer.csr_transposed.data
    else:
        copy = layer.dense.ravel()[positions[0]]
    np.testing.assert_array_equal(np.sort(copy), np.sort(layer.trainable))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_flush_subnormal_sets_only_subnormal_numbers_to_zero(dtype):
    """Each to a zero of its sign (as the CPU's flush-to-zero mode does)."""
    tiny = np.finfo(dtype).tiny
    values = np.array(
        [tiny, -tiny, tiny / 2, -tiny / 3, tiny * 2**-20, -0.0, 0.0, 1.0, np.inf]
        + [-np.inf, np.nan, np.finfo(dtype).smallest_subnormal],
        dtype,
    )
    expected = values.copy()
    expected[[2, 4, 11]] = 0
    expected[3] = -0.0
    flushed = values.copy()
    assert flush_subnormal(flushed)
    np.testing.assert_array_equal(flushed, expected)
    np.testing.assert_array_equal(np.signbit(flushed), np.signbit(expected))
    assert not flush_subnormal(flushed)  # none left
