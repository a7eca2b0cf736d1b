"""Invariants of pruning, masks and rewinding, over random shapes (hypothesis)."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sklearn_lth import LotteryTicket
from sklearn_lth._network import Network, csr_from_positions, kept_positions
from sklearn_lth._pruning import (
    n_to_prune,
    per_round_rate,
    prune_lowest,
    pruning_pools,
)
from sklearn_lth._rewinding import REWIND_STRATEGIES, RewindPolicy, StartPoint

layer_units = st.lists(st.integers(1, 12), min_size=2, max_size=5)
sparsities = st.floats(0.0, 0.99)
rounds = st.integers(1, 6)
scopes = st.sampled_from(["global", "layer"])
output_rates = st.one_of(st.none(), st.floats(0.0, 0.9))


def _shapes(units):
    return list(zip(units[:-1], units[1:]))


def _search(units, sparsity, n_rounds, scope, output_rate, seed):
    """Prune random scores over rounds; yield the positions kept per round."""
    rng = np.random.RandomState(seed)
    shapes = _shapes(units)
    positions = [np.arange(a * b) for a, b in shapes]
    rate = per_round_rate(sparsity, n_rounds)
    groups, rates = pruning_pools(len(shapes), scope, rate, output_rate)
    yield positions, groups, rates
    for _ in range(n_rounds):
        scores = [rng.normal(size=p.size) for p in positions]
        keep = prune_lowest(scores, groups, rates)
        positions = [p[k] for p, k in zip(positions, keep)]
        yield positions, groups, rates


@settings(max_examples=60, deadline=None)
@given(layer_units, sparsities, rounds, scopes, output_rates, st.integers(0, 99))
def test_exact_counts_and_masks_only_lose_entries(
    units, sparsity, n_rounds, scope, output_rate, seed
):
    steps = list(_search(units, sparsity, n_rounds, scope, output_rate, seed))
    for (before, groups, rates), (after, _, _) in zip(steps, steps[1:]):
        for layers, rate in zip(groups, rates):
            remaining = sum(before[i].size for i in layers)
            kept = sum(after[i].size for i in layers)
            assert remaining - kept == n_to_prune(rate, remaining)
        for b, a in zip(before, after):
            assert np.isin(a, b).all()  # only ever lose entries
            assert np.all(np.diff(a) > 0)  # sorted, no duplicates


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 30), sparsities, rounds, st.integers(0, 99))
def test_global_and_layer_scope_agree_for_one_layer(
    n_weights, sparsity, n_rounds, seed
):
    scores = [np.random.RandomState(seed).normal(size=n_weights)]
    rate = per_round_rate(sparsity, n_rounds)
    by_scope = [
        prune_lowest(scores, *pruning_pools(1, scope, rate, None))
        for scope in ("global", "layer")
    ]
    np.testing.assert_array_equal(by_scope[0][0], by_scope[1][0])


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 8), st.integers(1, 8), st.floats(0.0, 1.0), st.integers(0, 99))
def test_applying_a_mask_twice_equals_once(n_in, n_out, density, seed):
    rng = np.random.RandomState(seed)
    W = rng.normal(size=(n_in, n_out))
    mask = rng.uniform(size=W.shape) < density
    positions = np.flatnonzero(mask)
    once = csr_from_positions(positions, W.ravel()[positions], W.shape)
    twice_positions = kept_positions(once)
    twice = csr_from_positions(twice_positions, once.data.copy(), W.shape)
    np.testing.assert_array_equal(twice_positions, positions)
    np.testing.assert_array_equal(once.toarray(), twice.toarray())
    np.testing.assert_array_equal(once.toarray(), W * mask)


@settings(max_examples=60, deadline=None)
@given(layer_units, st.floats(0.01, 1.0), st.integers(0, 99))
def test_compression_ratio_is_total_over_remaining(units, density, seed):
    rng = np.random.RandomState(seed)
    weights = []
    for a, b in _shapes(units):
        W = rng.normal(size=(a, b)) * (rng.uniform(size=(a, b)) < density)
        W.ravel()[0] = 1.0  # at least one weight kept
        weights.append(W)
    ticket = LotteryTicket(weights, [np.zeros(b) for _, b in _shapes(units)])
    total = sum(W.size for W in weights)
    remaining = sum(int((W != 0).sum()) for W in weights)
    assert ticket.total_parameters == total
    assert ticket.remaining_parameters == remaining
    assert ticket.compression_ratio == total / remaining
    assert ticket.sparsity == 1 - remaining / total


@settings(max_examples=60, deadline=None)
@given(
    layer_units,
    st.sampled_from(REWIND_STRATEGIES),
    st.floats(0.05, 1.0),
    st.integers(0, 99),
)
def test_kept_weights_after_rewinding_equal_the_rewind_point(
    units, rewind, density, seed
):
    rng = np.random.RandomState(seed)
    shapes = _shapes(units)

    def point(step=0):
        return StartPoint(
            [rng.normal(size=s) for s in shapes],
            [rng.normal(size=s[1]) for s in shapes],
            step=step,
        )

    initial, snapshot, trained = point(), point(step=7), point()
    fresh = point()
    start = RewindPolicy(rewind).next_start(
        initial=initial,
        snapshot=snapshot,
        trained=trained,
        draw_fresh=lambda: fresh,
    )
    expected = {
        "init": initial,
        "early": snapshot,
        "late": snapshot,
        "lr": trained,
        "none": trained,
        "reinit": fresh,
    }[rewind]
    positions = [np.flatnonzero(rng.uniform(size=a * b) < density) for a, b in shapes]
    network = Network.from_dense(
        start.weights, start.biases, positions, "relu", "softmax"
    )
    for layer, W, b, pos in zip(
        network.layers, expected.weights, expected.biases, positions
    ):
        np.testing.assert_array_equal(layer.values, W.ravel()[pos])
        np.testing.assert_array_equal(layer.bias, b)
    assert start.hold_final_lr == (rewind == "none")
    assert start.step == (7 if rewind in ("early", "late") else 0)
