"""pruning_criterion="grasp": the Hessian-gradient product and the ranking."""

import numpy as np

from sklearn_lth import LotteryTicketMLP
from sklearn_lth._network import Layer, Network
from sklearn_lth._pruning import gradient_flow_scores, hessian_gradient_product
from sklearn_lth._training import mean_gradient


def _network(rng):
    """A 3-4-2 tanh network, half of the first layer's weights kept."""
    first = np.sort(rng.choice(12, size=6, replace=False))
    layers = [
        Layer(first, rng.normal(size=6), rng.normal(size=4), (3, 4)),
        Layer(np.arange(8), rng.normal(size=8), rng.normal(size=2), (4, 2)),
    ]
    return Network(layers, "tanh", "softmax")


def _gradient_at(network, flat, X, Y):
    """The mean gradient with the kept weights set to ``flat``."""
    sizes = np.cumsum([0] + [layer.n_kept for layer in network.layers])
    layers = [
        Layer(layer.positions, flat[a:b].copy(), layer.bias, layer.shape)
        for layer, a, b in zip(network.layers, sizes[:-1], sizes[1:])
    ]
    probe = Network(layers, network.activation, network.out_activation)
    return np.concatenate(mean_gradient(probe, X, Y, None))


def test_the_product_is_the_hessian_times_the_gradient():
    """Against the Hessian built column by column (central differences of
    the gradient along each kept weight), then multiplied by the gradient."""
    rng = np.random.RandomState(0)
    network = _network(rng)
    X = rng.normal(size=(30, 3))
    Y = np.eye(2)[rng.randint(2, size=30)]
    gradient, product = hessian_gradient_product(network, X, Y, None, None)
    flat = np.concatenate([layer.values for layer in network.layers])
    step = 1e-5
    hessian = np.column_stack(
        [
            (
                _gradient_at(network, flat + step * e, X, Y)
                - _gradient_at(network, flat - step * e, X, Y)
            )
            / (2 * step)
            for e in np.eye(flat.size)
        ]
    )
    expected = hessian @ np.concatenate(gradient)
    np.testing.assert_allclose(np.concatenate(product), expected, rtol=1e-4, atol=1e-8)
    # GraSP keeps the lowest -w * Hg: the score handed to prune_lowest is w * Hg.
    scores = gradient_flow_scores(network, X, Y, None, None)
    np.testing.assert_allclose(
        np.concatenate(scores), flat * expected, rtol=1e-4, atol=1e-8
    )


def test_a_search_prunes_by_it():
    rng = np.random.RandomState(0)
    X, y = rng.normal(size=(80, 6)), rng.randint(3, size=80)
    model = LotteryTicketMLP(
        (10,),
        pruning_criterion="grasp",
        target_sparsity=0.8,
        pruning_rounds=2,
        max_iter=10,
        random_state=0,
    ).fit(X, y)
    kept = sum(W.nnz for W in model.coefs_)
    assert kept == model.history_["remaining_parameters"][-1]
    assert abs(kept - 0.2 * (6 * 10 + 10 * 3)) <= 1


def test_float32_data_rank_as_float64_data():
    """The differences are taken in float64 whatever the data's dtype."""
    rng = np.random.RandomState(0)
    X, y = rng.normal(size=(80, 6)), rng.randint(3, size=80)
    masks = []
    for dtype in (np.float64, np.float32):
        model = LotteryTicketMLP(
            (10,),
            pruning_criterion="grasp",
            target_sparsity=0.7,
            pruning_rounds=1,
            max_iter=5,
            random_state=0,
        ).fit(X.astype(dtype), y)
        masks.append(model.ticket_.masks)
    for m64, m32 in zip(*masks):
        np.testing.assert_array_equal(m64, m32)
