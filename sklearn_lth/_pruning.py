"""Pruning: the per-round rate, how many weights each round removes, and which.

Iterative magnitude pruning removes, in each of ``n`` rounds, the same
fraction ``p = 1 - (1 - s) ** (1 / n)`` of the weights that are still there,
so that after ``n`` rounds a fraction ``s`` is gone. A round removes exactly
``k = floor(p * remaining + 1/2)`` weights of a pool (``remaining`` counted in
that pool), chosen as the ``k`` with the smallest scores.

Ties are broken deterministically: among equal scores the weight that comes
first is pruned first, in the order (layer, row, column). Selection uses a
stable sort, so results never depend on the platform.
"""

from __future__ import annotations

import math

import numpy as np


def per_round_rate(target_sparsity: float, pruning_rounds: int) -> float:
    """Fraction of the remaining weights pruned in each round.

    Parameters
    ----------
    target_sparsity : float in [0, 1)
        Fraction of the weights gone after all rounds.
    pruning_rounds : int >= 1
        Number of pruning rounds.

    Returns
    -------
    float
        ``1 - (1 - target_sparsity) ** (1 / pruning_rounds)``.

    Examples
    --------
    >>> round(per_round_rate(0.8, 5), 4)
    0.2752
    """
    return 1.0 - (1.0 - target_sparsity) ** (1.0 / pruning_rounds)


def n_to_prune(rate: float, n_remaining: int) -> int:
    """``rate * n_remaining`` rounded half up: the weights one round removes."""
    return int(math.floor(rate * n_remaining + 0.5))


def prune_lowest(
    scores: list[np.ndarray],
    groups: list[list[int]],
    rates: list[float],
    floors: list[int] | None = None,
) -> list[np.ndarray]:
    """Choose which weights survive a round: the lowest scores go.

    Parameters
    ----------
    scores : list of 1-D arrays
        One score per remaining weight of each layer (for magnitude pruning,
        ``abs(weight)``).
    groups : list of list of int
        Pools of layers ranked together. Global pruning pools the layers;
        layer-wise pruning gives each layer a pool of its own.
    rates : list of float
        The fraction of each pool's remaining weights to remove.
    floors : list of int, optional
        The fewest weights each layer may keep (its highest scores are
        protected). When the floors protect weights that the ranking would
        remove, the next lowest weights of the pool go instead; a pool with too
        few unprotected weights loses all of those and no more.

    Returns
    -------
    list of boolean arrays
        For each layer, which of its remaining weights are kept.

    Examples
    --------
    >>> import numpy as np
    >>> keep = prune_lowest([np.array([3.0, 1.0]), np.array([2.0, 1.0])],
    ...                     groups=[[0, 1]], rates=[0.5])
    >>> [k.tolist() for k in keep]
    [[True, False], [True, False]]
    >>> keep = prune_lowest([np.array([3.0, 1.0]), np.array([0.2, 0.1])],
    ...                     groups=[[0, 1]], rates=[0.5], floors=[1, 1])
    >>> [k.tolist() for k in keep]
    [[True, False], [True, False]]
    """
    keep = [np.ones(s.shape, dtype=bool) for s in scores]
    floors = [0] * len(scores) if floors is None else floors
    for layers, rate in zip(groups, rates):
        pooled = np.concatenate([scores[i] for i in layers])
        sizes = [scores[i].size for i in layers]
        offsets = np.cumsum([0] + sizes)
        k = n_to_prune(rate, pooled.size)
        if k == 0:
            continue
        pruned = np.argsort(pooled, kind="stable")[:k]
        per_layer = np.bincount(
            np.searchsorted(offsets, pruned, side="right") - 1, minlength=len(layers)
        )
        limits = [max(size - floors[i], 0) for size, i in zip(sizes, layers)]
        if np.any(per_layer > limits):
            # Protect each layer's highest scores, rank the rest.
            ranked = pooled.copy()
            for j, i in enumerate(layers):
                if floors[i] > 0:
                    order = np.argsort(scores[i], kind="stable")
                    ranked[offsets[j] + order[limits[j] :]] = np.inf
            n_candidates = int(np.isfinite(ranked).sum())
            pruned = np.argsort(ranked, kind="stable")[: min(k, n_candidates)]
        pooled_keep = np.ones(pooled.size, dtype=bool)
        pooled_keep[pruned] = False
        for j, i in enumerate(layers):
            keep[i] = pooled_keep[offsets[j] : offsets[j + 1]]
    return keep


def pruning_pools(
    n_layers: int, scope: str, rate: float, output_layer_rate: float | None
) -> tuple[list[list[int]], list[float]]:
    """Group layers into pools and give each pool its rate.

    With ``scope="global"`` all layers are ranked together, except the output
    layer when it has a rate of its own (``output_layer_rate`` not None), which
    then forms its own pool. With ``scope="layer"`` every layer is its own pool.
    """
    out = n_layers - 1
    own_output = output_layer_rate is not None
    if scope == "layer":
        groups = [[i] for i in range(n_layers)]
    else:
        hidden = list(range(out)) if own_output else list(range(n_layers))
        groups = ([hidden] if hidden else []) + ([[out]] if own_output else [])
    rates = [output_layer_rate if own_output and g == [out] else rate for g in groups]
    return groups, rates
