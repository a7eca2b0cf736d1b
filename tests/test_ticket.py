"""LotteryTicket: its counts, its masks, and the tickets it refuses."""

import pickle

import numpy as np
import pytest
import scipy.sparse as sp

from sklearn_lth import LotteryTicket


def _ticket(density=0.5, seed=0):
    rng = np.random.RandomState(seed)
    weights = [
        sp.random_array((6, 4), density=density, random_state=rng, format="csr"),
        sp.random_array((4, 3), density=density, random_state=rng, format="csr"),
    ]
    return LotteryTicket(weights, [np.zeros(4), np.ones(3)], [0.0, 0.5])


def test_counts_and_ratios_follow_the_kept_weights():
    ticket = _ticket()
    kept = sum(W.nnz for W in ticket.weights)
    assert ticket.remaining_parameters == kept
    assert ticket.total_parameters == 6 * 4 + 4 * 3
    assert ticket.sparsity == pytest.approx(1 - kept / 36)
    assert ticket.compression_ratio == pytest.approx(36 / kept)
    assert ticket.layer_shapes == [(6, 4), (4, 3)]
    assert repr(ticket) == (
        f"LotteryTicket(layers=6-4-3, remaining={kept}/36, "
        f"sparsity={1 - kept / 36:.4f})"
    )


def test_masks_are_true_exactly_at_the_stored_entries():
    ticket = _ticket()
    for mask, W in zip(ticket.masks, ticket.weights):
        assert mask.dtype == bool
        np.testing.assert_array_equal(mask, W.toarray() != 0)


def test_an_empty_ticket_has_a_ratio_not_a_division_by_zero():
    empty = LotteryTicket([sp.csr_array((3, 2))], [np.zeros(2)])
    assert empty.sparsity == 1.0 and empty.compression_ratio == 6.0


def test_duplicate_entries_are_summed_as_scipy_does():
    W = sp.csr_array((np.array([1.0, 2.0]), np.array([0, 0]), np.array([0, 2, 2])))
    ticket = LotteryTicket([W], [np.zeros(W.shape[1])])
    assert ticket.weights[0].nnz == 1 and ticket.weights[0].data[0] == 3.0
    assert W.nnz == 2  # the caller's matrix is left alone


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda t: t.weights[0].data.__setitem__(0, np.nan), "NaN"),
        (lambda t: t.intercepts.__setitem__(1, np.array([np.inf, 0, 0])), "NaN"),
        (lambda t: t.intercepts.pop(), "one intercept vector per layer"),
        (lambda t: t.intercepts.__setitem__(0, np.zeros(5)), "4 units"),
        (lambda t: t.weights[1].indices.__setitem__(0, 9), "out of range"),
        (lambda t: t.weights.reverse(), "takes|inputs|intercepts"),
    ],
)
def test_a_ticket_changed_after_construction_is_refused_by_check(edit, message):
    ticket = _ticket(density=1.0)
    edit(ticket)
    with pytest.raises(ValueError, match=message):
        ticket.check()


def test_a_pickled_ticket_is_the_same_ticket():
    ticket = _ticket()
    again = pickle.loads(pickle.dumps(ticket))
    for W, V in zip(ticket.weights, again.weights):
        assert (W != V).nnz == 0
    np.testing.assert_array_equal(again.sparsity_history, [0.0, 0.5])
