import warnings

import numpy as np
import pytest

from sklearn_lth import LotteryTicketMLP
from sklearn_lth._network import glorot_uniform, kept_positions

# 120 samples in batches of 20: 6 optimizer steps per epoch.
PARAMS = dict(
    hidden_layer_sizes=(10,),
    batch_size=20,
    max_iter=4,
    random_state=0,
    learning_rate_init=0.01,
    target_sparsity=0.5,
    pruning_rounds=2,
)


def _fit(X, y, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return LotteryTicketMLP(**{**PARAMS, **params}).fit(X, y)


def _assert_ticket_holds(ticket, weights, biases):
    for W_ticket, W, b_ticket, b in zip(
        ticket.weights, weights, ticket.intercepts, biases
    ):
        np.testing.assert_array_equal(
            W_ticket.data, W.ravel()[kept_positions(W_ticket)]
        )
        np.testing.assert_array_equal(b_ticket, b)


def test_init_rewinds_to_the_initial_weights(small_classification):
    X, y = small_classification
    model = _fit(X, y, rewind="init")
    W0, b0 = glorot_uniform([8, 10, 3], "relu", X.dtype, np.random.RandomState(0))
    _assert_ticket_holds(model.ticket_, W0, b0)


@pytest.mark.parametrize(
    "params",
    [
        dict(rewind="early", rewind_iteration=6),
        dict(rewind="late", rewind_fraction=0.25),
    ],
)
def test_early_and_late_rewind_to_the_weights_after_those_steps(
    small_classification, params
):
    X, y = small_classification
    model = _fit(X, y, **params)
    # A dense model trained for one epoch (6 steps) from the same seed.
    one_epoch = _fit(X, y, target_sparsity=0.0, max_iter=1)
    _assert_ticket_holds(
        model.ticket_, [W.toarray() for W in one_epoch.coefs_], one_epoch.intercepts_
    )


def test_early_at_step_zero_is_init(small_classification):
    X, y = small_classification
    early = _fit(X, y, rewind="early", rewind_iteration=0)
    init = _fit(X, y, rewind="init")
    for a, b in zip(early.coefs_, init.coefs_):
        np.testing.assert_array_equal(a.toarray(), b.toarray())


@pytest.mark.parametrize("rewind", ["lr", "none"])
def test_lr_and_none_keep_the_trained_weights(small_classification, rewind):
    X, y = small_classification
    model = _fit(X, y, rewind=rewind, pruning_rounds=1)
    dense = _fit(X, y, target_sparsity=0.0)  # round 0 alone
    _assert_ticket_holds(
        model.ticket_, [W.toarray() for W in dense.coefs_], dense.intercepts_
    )


def test_lr_and_none_differ_only_with_a_decaying_schedule(small_classification):
    X, y = small_classification

    def coefs(**p):
        return np.concatenate([W.toarray().ravel() for W in _fit(X, y, **p).coefs_])

    np.testing.assert_array_equal(coefs(rewind="lr"), coefs(rewind="none"))
    assert not np.allclose(
        coefs(rewind="lr", learning_rate="cosine"),
        coefs(rewind="none", learning_rate="cosine"),
    )


def test_reinit_draws_fresh_weights(small_classification):
    X, y = small_classification
    model = _fit(X, y, rewind="reinit")
    W0, _ = glorot_uniform([8, 10, 3], "relu", X.dtype, np.random.RandomState(0))
    for W_ticket, W in zip(model.ticket_.weights, W0):
        bound = np.sqrt(6 / sum(W.shape))
        assert np.all(np.abs(W_ticket.data) <= bound)
        assert not np.isin(W_ticket.data, W).any()
    # Same mask as the winning ticket: round 0 and its pruning are shared.
    reinit_one = _fit(X, y, rewind="reinit", pruning_rounds=1)
    init_one = _fit(X, y, rewind="init", pruning_rounds=1)
    for a, b in zip(reinit_one.ticket_.masks, init_one.ticket_.masks):
        np.testing.assert_array_equal(a, b)


def test_rewind_point_after_round_zero_warns_and_uses_its_end(small_classification):
    X, y = small_classification
    with pytest.warns(UserWarning, match="before the rewind point at step 1000"):
        model = LotteryTicketMLP(
            **{
                **PARAMS,
                "rewind": "early",
                "rewind_iteration": 1000,
                "pruning_rounds": 1,
            }
        ).fit(X, y)
    dense = _fit(X, y, target_sparsity=0.0)
    _assert_ticket_holds(
        model.ticket_, [W.toarray() for W in dense.coefs_], dense.intercepts_
    )


def test_compacted_start_point_keeps_the_weights_at_kept_positions():
    from sklearn_lth._rewinding import StartPoint

    rng = np.random.RandomState(0)
    weights, biases = glorot_uniform([8, 10, 3], "relu", np.float64, rng)
    dense = StartPoint(weights, biases, step=7)
    kept = [np.sort(rng.choice(W.size, W.size // 2, replace=False)) for W in weights]
    kept[1] = None  # a layer that keeps every weight stays whole
    compact = dense.compacted(kept)
    assert compact.weights[0].shape == (kept[0].size,)
    assert compact.weights[1] is weights[1]
    assert compact.step == 7
    fewer = np.sort(rng.choice(kept[0], 10, replace=False))
    for point in (dense, compact, compact.compacted(kept)):
        np.testing.assert_array_equal(point.values(0, fewer), weights[0].ravel()[fewer])
        np.testing.assert_array_equal(
            point.values(1, [0, 5]), weights[1].ravel()[[0, 5]]
        )
