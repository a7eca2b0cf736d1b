"""The search loop: pruning criteria and the paper's per-round metrics."""

import numpy as np
import pytest

from sklearn_lth import LotteryTicketMLP
from sklearn_lth._network import glorot_uniform
from sklearn_lth._pruning import n_to_prune, per_round_rate

PARAMS = dict(
    hidden_layer_sizes=(10,),
    max_iter=20,
    learning_rate_init=0.01,
    target_sparsity=0.7,
    pruning_rounds=2,
    random_state=0,
)


def _masks(model):
    return np.concatenate([m.ravel() for m in model.ticket_.masks])


def test_random_pruning_keeps_the_counts_but_not_the_positions(small_classification):
    X, y = small_classification
    magnitude = LotteryTicketMLP(**PARAMS).fit(X, y)
    random = LotteryTicketMLP(**PARAMS, pruning_criterion="random").fit(X, y)
    again = LotteryTicketMLP(**PARAMS, pruning_criterion="random").fit(X, y)
    other = LotteryTicketMLP(
        **{**PARAMS, "random_state": 1}, pruning_criterion="random"
    ).fit(X, y)
    np.testing.assert_array_equal(
        random.history_["remaining_parameters"],
        magnitude.history_["remaining_parameters"],
    )
    assert not np.array_equal(_masks(random), _masks(magnitude))
    np.testing.assert_array_equal(_masks(random), _masks(again))
    assert not np.array_equal(_masks(random), _masks(other))


def test_snip_prunes_the_lowest_connection_sensitivity(small_classification):
    """One-shot SNIP against a gradient computed here by hand."""
    X, y = small_classification
    Y = np.eye(3)[y]
    params = dict(
        PARAMS,
        pruning_rounds=1,
        target_sparsity=0.5,
        pruning_criterion="snip",
        alpha=0.0,
    )
    model = LotteryTicketMLP(**params).fit(X, y)
    (W1, W2), (b1, b2) = glorot_uniform(
        [8, 10, 3], "relu", X.dtype, np.random.RandomState(0)
    )
    H = np.maximum(X @ W1 + b1, 0)
    Z = H @ W2 + b2
    P = np.exp(Z - Z.max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)
    D2 = (P - Y) / len(X)
    D1 = (D2 @ W2.T) * (H > 0)
    scores = np.concatenate(
        [np.abs((X.T @ D1) * W1).ravel(), np.abs((H.T @ D2) * W2).ravel()]
    )
    kept = _masks(model)
    k = n_to_prune(per_round_rate(0.5, 1), scores.size)
    assert (~kept).sum() == k
    # Pruned: the k lowest sensitivities, but for at most one protected weight
    # per layer (the path that keeps the network connected).
    lowest = np.argsort(scores, kind="stable")[: k + 2]
    assert set(np.flatnonzero(~kept)) <= set(lowest)
    assert (~kept[np.argsort(scores, kind="stable")[: k - 2]]).all()


@pytest.mark.parametrize("extra", [{"early_stopping": True}, {"n_seeds": 2}])
def test_min_validation_loss_iteration_is_recorded(small_classification, extra):
    X, y = small_classification
    model = LotteryTicketMLP(**PARAMS, **extra).fit(X, y)
    history = model.history_
    steps_per_epoch = -(-int(len(X) * 0.9) // 200)  # rows after the 10% split
    iterations = history["min_validation_loss_iteration"]
    assert len(iterations) == 3
    assert all(
        it % steps_per_epoch == 0 and 0 < it <= 20 * steps_per_epoch
        for it in iterations
    )
    scores = history["validation_score_at_min_loss"]
    assert np.all((0 <= scores) & (scores <= 1))
    assert set(model.validation_scores_) >= {scores[-1]}
