"""pruning_criterion="synflow": data-free, iterative, never empties a layer."""

import numpy as np
import pytest
import scipy.sparse as sp

from sklearn_lth import LotteryTicketMLP
from sklearn_lth._pruning import iterative_synflow, prune_lowest, synaptic_flow


def test_synaptic_flow_is_the_hand_computed_score():
    # R = 1^T |W1| |W2| 1. Into the hidden units flow a = [1, 5] (from the
    # ones input), out of them g = [0.5, 1]; a weight's score is
    # |w| * (flow into its row) * (flow out of its column).
    W1 = sp.csr_array(np.array([[1.0, -2.0], [0.0, 3.0]]))
    W2 = sp.csr_array(np.array([[0.5], [-1.0]]))
    scores = synaptic_flow([W1, W2])
    np.testing.assert_allclose(scores[0], [1 * 1 * 0.5, 2 * 1 * 1, 3 * 1 * 1])
    np.testing.assert_allclose(scores[1], [0.5 * 1 * 1, 1 * 5 * 1])
    # Every layer's scores sum to R (SynFlow's conservation): here 5.5.
    assert scores[0].sum() == pytest.approx(5.5)
    assert scores[1].sum() == pytest.approx(5.5)


def test_one_step_is_one_shot_and_more_steps_rescore():
    rng = np.random.RandomState(0)
    matrices = [
        sp.csr_array(rng.normal(size=(6, 5))),
        sp.csr_array(rng.normal(size=(5, 2))),
    ]
    one_shot = prune_lowest(synaptic_flow(matrices), [[0, 1]], [0.5])
    ranked = iterative_synflow(matrices, [[0, 1]], [0.5], None, iterations=1)
    assert [k.tolist() for k in prune_lowest(ranked, [[0, 1]], [0.5])] == [
        k.tolist() for k in one_shot
    ]
    iterated = iterative_synflow(matrices, [[0, 1]], [0.9], None, iterations=20)
    keep = prune_lowest(iterated, [[0, 1]], [0.9])
    assert sum(k.sum() for k in keep) == 4  # 40 weights, 90% pruned
    assert all(k.any() for k in keep)  # no layer emptied


def _masks(X, y, criterion):
    model = LotteryTicketMLP(
        (12,),
        pruning_criterion=criterion,
        target_sparsity=0.9,
        pruning_rounds=2,
        rewind="init",
        max_iter=30,
        learning_rate_init=0.05,
        random_state=0,
    ).fit(X, y)
    return [m.copy() for m in model.ticket_.masks]


def test_the_masks_do_not_depend_on_the_data():
    rng = np.random.RandomState(0)
    X1, X2 = rng.normal(size=(60, 8)), rng.uniform(size=(60, 8)) * 10
    y1, y2 = rng.randint(2, size=60), 1 - rng.randint(2, size=60)
    for m1, m2 in zip(_masks(X1, y1, "synflow"), _masks(X2, y2, "synflow")):
        np.testing.assert_array_equal(m1, m2)
    # Magnitude pruning of the same trainings does depend on the data.
    magnitude = zip(_masks(X1, y1, "magnitude"), _masks(X2, y2, "magnitude"))
    assert not all(np.array_equal(m1, m2) for m1, m2 in magnitude)


def test_extreme_sparsity_keeps_every_layer():
    rng = np.random.RandomState(0)
    X, y = rng.normal(size=(60, 30)), rng.randint(2, size=60)
    model = LotteryTicketMLP(
        (40, 40),
        pruning_criterion="synflow",
        target_sparsity=0.995,
        pruning_rounds=1,
        max_iter=3,
        random_state=0,
    ).fit(X, y)
    assert all(W.nnz > 0 for W in model.coefs_)
    assert model.history_["multiply_adds"][-1] > 0  # the output reads the input
