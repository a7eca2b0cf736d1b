"""Warnings where a fitted search is worse than it looks (unit level)."""

import numpy as np
import pytest
import scipy.sparse as sp

from sklearn_lth import LotteryTicket
from sklearn_lth._diagnostics import score_warnings, ticket_override_warning
from sklearn_lth._params import DEFAULTS


def _history(scores, column="validation_score"):
    n = len(scores)
    return {
        "round": np.arange(n),
        "sparsity": np.linspace(0, 0.9, n),
        column: np.asarray(scores, dtype=float),
    }


def test_a_kept_round_far_below_the_best_is_named_with_both_scores():
    # The case: validation 0.970 at round 2, 0.926 kept.
    (message,) = score_warnings(_history([0.95, 0.96, 0.97, 0.95, 0.926]), 0.1, 300)
    assert "round 4" in message and "round 2" in message
    assert "0.926" in message and "0.97" in message
    assert "validation score" in message and "target_sparsity" in message


@pytest.mark.parametrize(
    "scores, n_scored",
    [
        ([0.95, 0.96, 0.97, 0.96], 300),  # one point: within the noise
        ([0.95, 0.97, 0.95], 50),  # 2 points, but one validation row of 50
        ([0.9, 0.92, 0.95], 300),  # the kept round is the best
    ],
)
def test_small_or_noisy_drops_do_not_warn(scores, n_scored):
    assert score_warnings(_history(scores), 0.1, n_scored) == []


def test_without_validation_the_training_score_judges():
    # The case: Adam at learning_rate_init=10, 0.98 then 0.45.
    history = _history([0.98, 0.97, 0.45], column="train_score")
    (message,) = score_warnings(history, 0.1, 1000)
    assert "training score of 0.45" in message


def test_rounds_that_fall_back_to_chance_are_listed():
    # target_sparsity=0.999: the last rounds keep almost nothing.
    history = _history([0.97, 0.96, 0.9, 0.15, 0.11])
    near_chance, far_below = score_warnings(history, 0.1, 300)
    assert "Round(s) [3, 4] ended near chance" in near_chance
    assert "chance 0.1" in near_chance
    assert "round 4" in far_below


def test_a_regressor_near_r2_of_zero_is_near_chance():
    near_chance, _ = score_warnings(_history([0.8, 0.7, 0.05]), 0.0, 300)
    assert "Round(s) [2]" in near_chance


def test_a_search_that_never_learned_is_not_said_to_fall_back():
    # Scores near chance throughout: the at-chance warning's case, not this.
    assert score_warnings(_history([0.12, 0.13, 0.11]), 0.1, 300) == []


def test_non_finite_or_single_rounds_say_nothing():
    assert score_warnings(_history([0.9]), 0.1, 300) == []
    assert score_warnings(_history([0.9, np.nan]), 0.1, 300) == []


@pytest.fixture
def ticket():
    rng = np.random.RandomState(0)
    weights = [
        sp.random_array((4, 3), density=0.5, random_state=rng, format="csr"),
        sp.random_array((3, 2), density=0.5, random_state=rng, format="csr"),
    ]
    return LotteryTicket(weights, [np.zeros(3), np.zeros(2)])


def test_defaults_and_agreeing_values_are_not_overrides(ticket):
    params = dict(DEFAULTS)
    assert ticket_override_warning(params, DEFAULTS, ticket) is None
    params.update(hidden_layer_sizes=[3], target_sparsity=ticket.sparsity)
    assert ticket_override_warning(params, DEFAULTS, ticket) is None


def test_every_overridden_parameter_is_named(ticket):
    params = dict(
        DEFAULTS,
        hidden_layer_sizes=(50, 20),
        target_sparsity=0.95,
        pruning_rounds=10,
        pruning_criterion="snip",
    )
    message = ticket_override_warning(params, DEFAULTS, ticket)
    for part in (
        "hidden_layer_sizes=(50, 20) (the ticket's hidden layers are (3,))",
        "target_sparsity=0.95",
        "pruning_rounds=10",
        "pruning_criterion='snip'",
        "are ignored",
        "ticket=None",
    ):
        assert part in message
