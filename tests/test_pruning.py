import numpy as np
import pytest

from sklearn_lth._pruning import (
    check_schedule,
    n_to_prune,
    per_round_rate,
    prune_lowest,
    pruning_pools,
)


@pytest.mark.parametrize(
    "sparsity, rounds, expected",
    [(0.8, 5, 0.27522), (0.9, 10, 0.20567), (0.5, 1, 0.5), (0.0, 3, 0.0)],
)
def test_per_round_rate(sparsity, rounds, expected):
    rate = per_round_rate(sparsity, rounds)
    assert rate == pytest.approx(expected, abs=1e-5)
    assert (1 - rate) ** rounds == pytest.approx(1 - sparsity)


def test_n_to_prune_rounds_half_up():
    assert n_to_prune(0.5, 5) == 3  # 2.5 -> 3, not banker's 2
    assert n_to_prune(0.2, 7400) == 1480
    assert n_to_prune(0.0, 100) == 0


def test_global_pruning_ranks_all_layers_together():
    scores = [np.array([0.1, 0.9, 0.8]), np.array([0.2, 0.3, 0.7, 0.6])]
    groups, rates = pruning_pools(2, "global", 3 / 7, None)
    keep = prune_lowest(scores, groups, rates)
    assert keep[0].tolist() == [False, True, True]
    assert keep[1].tolist() == [False, False, True, True]


def test_layer_pruning_prunes_each_layer_at_the_rate():
    scores = [np.array([0.1, 0.9, 0.8, 0.7]), np.array([5.0, 6.0, 7.0, 8.0])]
    groups, rates = pruning_pools(2, "layer", 0.5, None)
    keep = prune_lowest(scores, groups, rates)
    assert keep[0].tolist() == [False, True, True, False]
    assert keep[1].tolist() == [False, False, True, True]


def test_output_layer_rate_has_its_own_pool():
    groups, rates = pruning_pools(3, "global", 0.2, 0.1)
    assert groups == [[0, 1], [2]] and rates == [0.2, 0.1]
    groups, rates = pruning_pools(3, "global", 0.2, 0.0)
    scores = [np.ones(10), np.ones(10), np.full(10, 1e-9)]
    keep = prune_lowest(scores, groups, rates)
    assert keep[2].all()  # rate 0: the output layer is never pruned
    assert sum((~k).sum() for k in keep[:2]) == 4


def test_ties_prune_the_earliest_position_first():
    scores = [np.array([1.0, 1.0, 1.0]), np.array([1.0, 1.0])]
    keep = prune_lowest(scores, [[0, 1]], [0.4])
    assert keep[0].tolist() == [False, False, True]
    assert keep[1].tolist() == [True, True]


def test_exact_counts_over_rounds():
    rng = np.random.RandomState(0)
    sizes = [784 * 300, 300 * 100, 100 * 10]
    remaining = list(sizes)
    rate = per_round_rate(0.9, 10)
    groups, rates = pruning_pools(3, "global", rate, None)
    scores = [rng.normal(size=n) for n in sizes]
    for _ in range(10):
        total = sum(remaining)
        keep = prune_lowest(scores, groups, rates)
        scores = [s[k] for s, k in zip(scores, keep)]
        remaining = [s.size for s in scores]
        assert total - sum(remaining) == n_to_prune(rate, total)
    assert sum(remaining) / sum(sizes) == pytest.approx(0.1, abs=1e-4)


def test_strongest_path_links_an_input_to_an_output():
    from sklearn_lth._pruning import strongest_path

    rng = np.random.RandomState(0)
    shapes = [(6, 5), (5, 4), (4, 3)]
    positions = [np.sort(rng.choice(a * b, 4, replace=False)) for a, b in shapes]
    scores = [rng.uniform(size=4) for _ in shapes]

    from sklearn_lth._network import csr_from_positions

    matrices = [
        csr_from_positions(p, np.ones(p.size), s) for p, s in zip(positions, shapes)
    ]
    path = strongest_path(matrices, scores)
    assert [int(p.sum()) for p in path] == [1, 1, 1]
    reach = None
    for pos, on, (n_in, n_out) in zip(positions, path, shapes):
        mask = np.zeros(n_in * n_out, dtype=int)
        mask[pos[on]] = 1
        mask = mask.reshape(n_in, n_out)
        reach = mask if reach is None else reach @ mask
    assert reach.sum() == 1


def test_protected_weights_survive_and_counts_stay_exact():
    scores = [np.array([0.1, 0.2, 0.3, 0.4]), np.array([0.05, 0.5])]
    protected = [np.array([True, False, False, False]), np.array([True, False])]
    keep = prune_lowest(scores, [[0, 1]], [0.5], protected)
    # 3 of 6 go: the lowest unprotected ones (0.2, 0.3, 0.4), not 0.05 or 0.1.
    assert keep[0].tolist() == [True, False, False, False]
    assert keep[1].tolist() == [True, True]
    assert sum((~k).sum() for k in keep) == 3


@pytest.mark.parametrize(
    "sparsity, rounds", [(80, 5), (1.5, 2), (-0.1, 2), (0.5, 0), (0.5, True)]
)
def test_per_round_rate_refuses_impossible_arguments(sparsity, rounds):
    with pytest.raises(ValueError, match="target_sparsity|pruning_rounds"):
        per_round_rate(sparsity, rounds)
    with pytest.raises(ValueError, match="reached_sparsity must be in"):
        per_round_rate(0.8, 2, reached_sparsity="a")


def test_a_schedule_with_empty_rounds_is_refused_with_the_feasible_count():
    # 13 weights, 50 rounds: about 0.4 weights a round, rounded to none.
    with pytest.raises(ValueError, match="round 1 would prune no weight.*=8 or fewer"):
        check_schedule([10, 3], 0.8, 50, "global", None)
    check_schedule([10, 3], 0.8, 8, "global", None)
    # Per layer, the small output layer runs out first.
    with pytest.raises(ValueError, match="round 2 would prune.*=2 or fewer"):
        check_schedule([200, 2], 0.8, 5, "layer", None)
    # The output layer's own rate is the user's choice, never refused.
    check_schedule([200, 2], 0.8, 5, "global", 0.01)
    check_schedule([10, 3], 0.0, 50, "global", None)  # nothing to prune


def test_fit_refuses_an_empty_round_before_training(small_classification):
    from sklearn_lth import LotteryTicketMLP

    X, y = small_classification
    model = LotteryTicketMLP(hidden_layer_sizes=(2,), pruning_rounds=40, max_iter=5)
    with pytest.raises(ValueError, match="cannot reach target_sparsity=0.8"):
        model.fit(X, y)
    assert not hasattr(model, "n_features_in_")
