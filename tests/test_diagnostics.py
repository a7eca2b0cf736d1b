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


# -- from the estimators --------------------------------------------------------
from sklearn_lth import LotteryTicketMLP, LotteryTicketMLPCV  # noqa: E402


@pytest.fixture(scope="module")
def easy():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(200, 6))
    return X, (X[:, 0] + X[:, 1] > 0).astype(int)


SMALL = dict(
    hidden_layer_sizes=(8,),
    max_iter=60,
    batch_size=20,
    learning_rate_init=0.02,
    random_state=0,
)


def test_fit_warns_when_the_last_rounds_lose_what_earlier_ones_learned(easy):
    X, y = easy
    # 98% of 56 weights: the last rounds keep the protected path alone and
    # cannot fit what round 0 learned (it reaches 1.0).
    with pytest.warns(UserWarning) as record:
        model = LotteryTicketMLP(target_sparsity=0.98, pruning_rounds=3, **SMALL).fit(
            X, y
        )
    assert model.history_["train_score"][0] == 1.0
    messages = [str(w.message) for w in record]
    fell = [m for m in messages if m.startswith("The fitted network (round 3")]
    assert len(fell) == 1 and "training score of 0.505" in fell[0]
    # Rounds 2 and 3 are at chance, said once: not again as "near chance".
    assert sum("Round(s) [2, 3]" in m for m in messages) == 1
    # The warnings point at the caller's line, not inside the package.
    assert {w.filename for w in record} == {__file__}


def test_a_search_that_keeps_its_score_does_not_warn(easy, recwarn):
    X, y = easy
    LotteryTicketMLP(target_sparsity=0.5, pruning_rounds=2, **SMALL).fit(X, y)
    assert not [w for w in recwarn if "fitted network" in str(w.message)]


def test_the_folds_of_the_cv_estimator_do_not_warn(easy, recwarn):
    X, y = easy
    # Its path goes to 99% on purpose, to choose among the rounds.
    LotteryTicketMLPCV(cv=2, pruning_rate=0.8, max_rounds=3, **SMALL).fit(X, y)
    fell = [w for w in recwarn if "fitted network" in str(w.message)]
    # Only the refit, at the chosen sparsity, may say so; never once per fold.
    assert len(fell) <= 1


def test_fit_with_a_ticket_names_the_parameters_it_ignores(easy):
    X, y = easy
    found = LotteryTicketMLP(target_sparsity=0.5, pruning_rounds=1, **SMALL).fit(X, y)
    with pytest.warns(UserWarning, match=r"hidden_layer_sizes=\(50,\).*are ignored"):
        LotteryTicketMLP(
            ticket=found.ticket_,
            hidden_layer_sizes=(50,),
            target_sparsity=0.9,
            max_iter=5,
        ).fit(X, y)


def test_batch_size_beyond_the_training_rows_warns_as_scikit_learn(easy):
    X, y = easy
    with pytest.warns(UserWarning, match="batch_size.*clipped.*200 training"):
        LotteryTicketMLP(**{**SMALL, "batch_size": 500}, pruning_rounds=1).fit(X, y)
    with pytest.warns(UserWarning, match="batch_size.*clipped.*50 training"):
        LotteryTicketMLP(**{**SMALL, "batch_size": 500}).partial_fit(
            X[:50], y[:50], classes=[0, 1]
        )


@pytest.mark.parametrize(
    "solver, sklearn_filter",
    [
        ("adam", "Stochastic Optimizer: Maximum iterations.*hasn't converged"),
        ("lbfgs", "lbfgs failed to converge"),
    ],
)
def test_a_filter_for_scikit_learns_convergence_warning_catches_ours(
    solver, sklearn_filter
):
    """Worded as MLPClassifier's (with the rounds appended), so that a
    filter written for scikit-learn's message silences ours too."""
    import warnings

    from sklearn.datasets import load_iris
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    from sklearn_lth import LotteryTicketMLP

    X, y = load_iris(return_X_y=True)
    for model in (
        MLPClassifier((8,), max_iter=2, solver=solver),
        LotteryTicketMLP((8,), max_iter=2, solver=solver, pruning_rounds=1),
    ):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            warnings.filterwarnings("ignore", message=sklearn_filter)
            model.fit(X, y)
        assert not [w for w in caught if w.category is ConvergenceWarning]
