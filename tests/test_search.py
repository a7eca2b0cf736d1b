"""The search package: its plan, its state and what a fitted search keeps."""

from dataclasses import replace

import numpy as np
import pytest

from sklearn_lth import LotteryTicketMLP
from sklearn_lth._network import glorot_uniform
from sklearn_lth._rewinding import RewindPolicy, StartPoint
from sklearn_lth._search import (
    PruningConfig,
    SearchEnd,
    SearchPlan,
    SearchState,
    TrainingData,
    find_ticket,
)
from sklearn_lth._search._state import Progress
from sklearn_lth._training import RoundResult, TrainingConfig

UNITS = [8, 12, 3]


def _plan(**changes) -> SearchPlan:
    plan = SearchPlan(
        layer_units=UNITS,
        activation="relu",
        out_activation="softmax",
        training=TrainingConfig(max_iter=5, batch_size=20, learning_rate_init=0.01),
        pruning=PruningConfig(target_sparsity=0.8, pruning_rounds=3),
        rewind=RewindPolicy("init"),
    )
    return replace(plan, **changes)


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, UNITS[0]))
    Y = np.eye(3)[rng.randint(0, 3, size=60)]
    return TrainingData(X, Y, None)


# -- the plan -------------------------------------------------------------------
def test_a_fresh_plan_trains_round_0_then_its_pruning_rounds():
    assert _plan().rounds() == (0, 0, 3)


def test_a_ticket_or_a_reached_target_trains_one_round():
    assert _plan(pruning=PruningConfig(0.0, 3)).rounds() == (0, 0, 0)
    pruning = PruningConfig(0.5, 3, reached_sparsity=0.5)
    assert _plan(pruning=pruning).rounds() == (0, 0, 0)


@pytest.mark.parametrize(
    "rewind, expected",
    [
        (RewindPolicy("init"), None),
        (RewindPolicy("early", rewind_iteration=7), 7),
        # 10% of round 0's 5 epochs of 3 mini-batches of 20 rows.
        (RewindPolicy("late", rewind_fraction=0.1), 2),
    ],
)
def test_the_snapshot_step_is_counted_in_mini_batches(rewind, expected):
    assert _plan(rewind=rewind).snapshot_step(n_train=60) == expected


def test_the_spec_counts_what_the_search_keeps(data):
    """The weights per round that a checkpoint must hold are those the loop
    prunes, counted from the plan alone."""
    plan = _plan()
    spec = plan.spec(n_samples=60)
    result = find_ticket(data, plan, np.random.RandomState(0))
    assert spec.first_round == 0 and spec.last_round == 3
    assert [sum(kept) for kept in spec.kept] == list(
        result.history["remaining_parameters"]
    )
    assert spec.epoch == (3, 60) and spec.snapshot_at is None


def test_the_spec_of_layer_pruning_counts_each_layer(data):
    plan = _plan(pruning=PruningConfig(0.8, 2, pruning_scope="layer"))
    spec = plan.spec(n_samples=60)
    assert spec.pools == [[0], [1]]
    result = find_ticket(data, plan, np.random.RandomState(0))
    assert [W.nnz for W in result.coefs] == spec.kept[-1]


# -- the state ------------------------------------------------------------------
def _state(validation=False) -> SearchState:
    rng = np.random.RandomState(0)
    weights, biases = glorot_uniform(UNITS, "relu", np.float64, rng)
    positions = [np.arange(W.size) for W in weights]
    return SearchState(
        StartPoint(weights, biases), positions, validation, "relu", "softmax"
    )


def test_a_round_counts_only_once_it_is_committed():
    state = _state()
    progress = Progress()
    progress.search = state
    assert state.completed == -1 and progress.result() is None
    state.build_first_network()
    record = {"round": 0, "sparsity": 0.0, "remaining_parameters": 132}
    state.complete(0, RoundResult(n_iter=1, loss_curve=[1.0]), record)
    assert state.completed == 0
    result = progress.result()
    assert list(result.history["round"]) == [0]
    # A column the row lacks is NaN, not a missing row.
    assert np.isnan(result.history["train_score"][0])
    # The ticket of round 0 is W0 itself, at every kept position.
    np.testing.assert_array_equal(
        result.ticket.weights[0].toarray(), state.initial.weights[0]
    )


def test_validation_columns_only_with_a_validation_split():
    assert "validation_score" not in _state().history
    assert "validation_score" in _state(validation=True).history


# -- what a fitted search keeps for warm_start -------------------------------------
@pytest.fixture(scope="module")
def fitted(data):
    model = LotteryTicketMLP(
        hidden_layer_sizes=(12,),
        target_sparsity=0.8,
        pruning_rounds=2,
        max_iter=5,
        rewind="early",
        rewind_iteration=3,
        random_state=0,
    )
    return model.fit(data.X, data.Y.argmax(1))


def test_the_search_end_round_trips_through_plain_types(fitted):
    end = SearchEnd.from_fitted(fitted._search_end)
    again = SearchEnd.from_fitted(end.as_fitted())
    assert again.rewind == RewindPolicy("early", rewind_iteration=3)
    assert again.plan == end.plan == (0, 0.0, 0.8, 2)
    assert again.scheduled_sparsity == pytest.approx(0.8)
    np.testing.assert_array_equal(again.rng_state[1], end.rng_state[1])
    assert end.ticket_is_snapshot and not end.ticket_is_initial


@pytest.mark.parametrize(
    "policy, allowed",
    [
        (RewindPolicy("early", rewind_iteration=3), True),
        (RewindPolicy("early", rewind_iteration=4), False),  # another step
        (RewindPolicy("init"), False),  # W0 was not kept
        (RewindPolicy("lr"), True),
        (RewindPolicy("reinit"), True),
    ],
)
def test_a_warm_start_may_rewind_only_where_the_search_kept_weights(
    fitted, policy, allowed
):
    end = SearchEnd.from_fitted(fitted._search_end)
    if allowed:
        end.check_rewind(policy)
    else:
        with pytest.raises(ValueError, match="did not keep the weights"):
            end.check_rewind(policy)


def test_rewind_policies_describe_the_parameters_that_chose_them():
    assert RewindPolicy("late", rewind_fraction=0.2).describe() == (
        "rewind='late', rewind_fraction=0.2"
    )
    assert RewindPolicy("none").describe() == "rewind='none'"
