"""Pruning: the per-round rate, how many weights each round removes, and which.

Iterative magnitude pruning removes, in each of ``n`` rounds, the same
fraction ``p = 1 - (1 - s) ** (1 / n)`` of the weights that are still there,
so that after ``n`` rounds a fraction ``s`` is gone. A round removes exactly
``k = floor(p * remaining + 1/2)`` weights of a pool (``remaining`` counted in
that pool), chosen as the ``k`` with the smallest scores.

Ties are broken deterministically: among equal scores the weight that comes
first is pruned first, in the order (layer, row, column), the same choice as a
stable sort's, so results never depend on the platform.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp

from ._network import Layer, Network
from ._training import mean_gradient
from ._warnings import warn


def per_round_rate(
    target_sparsity: float, pruning_rounds: int, *, reached_sparsity: float = 0.0
) -> float:
    """Fraction of the remaining weights pruned in each round.

    Parameters
    ----------
    target_sparsity : float in [0, 1)
        Fraction of the weights gone after all rounds.
    pruning_rounds : int >= 1
        Number of pruning rounds.
    reached_sparsity : float in [0, target_sparsity], default=0.0
        Fraction already gone before the first of these rounds (a search
        that a warm-started fit takes further).

    Returns
    -------
    float
        ``1 - ((1 - target_sparsity) / (1 - reached_sparsity)) **
        (1 / pruning_rounds)``; from a dense start,
        ``1 - (1 - target_sparsity) ** (1 / pruning_rounds)``.

    Examples
    --------
    >>> round(per_round_rate(0.8, 5), 4)
    0.2752
    >>> round(per_round_rate(0.95, 2, reached_sparsity=0.8), 4)
    0.5
    """
    if not (isinstance(target_sparsity, Real) and 0 <= target_sparsity < 1):
        raise ValueError(
            "target_sparsity must be a fraction in [0, 1) (e.g. 0.8 for 80%), "
            f"got {target_sparsity!r}."
        )
    if (
        not isinstance(pruning_rounds, Integral)
        or isinstance(pruning_rounds, bool)
        or pruning_rounds < 1
    ):
        raise ValueError(
            f"pruning_rounds must be an integer >= 1, got {pruning_rounds!r}."
        )
    if not (
        isinstance(reached_sparsity, Real) and 0 <= reached_sparsity <= target_sparsity
    ):
        raise ValueError(
            f"reached_sparsity must be in [0, target_sparsity={target_sparsity}], "
            f"got {reached_sparsity!r}."
        )
    # Divided by 1.0 from a dense start: exactly the formula without it.
    remaining = (1.0 - target_sparsity) / (1.0 - reached_sparsity)
    return 1.0 - remaining ** (1.0 / pruning_rounds)


def n_to_prune(rate: float, n_remaining: int) -> int:
    """``rate * n_remaining`` rounded half up: the weights one round removes."""
    # Not round(), which takes halves to the even neighbour (2.5 -> 2).
    return int(math.floor(rate * n_remaining + 0.5))


def prune_lowest(
    scores: list[np.ndarray],
    groups: list[list[int]],
    rates: list[float],
    protected: list[np.ndarray] | None = None,
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
    protected : list of boolean arrays, optional
        Weights that must survive. When the ranking would remove one, the next
        lowest weight of the pool goes instead, so counts stay exact unless a
        pool has too few unprotected weights.

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
    ...                     groups=[[0, 1]], rates=[0.5],
    ...                     protected=[np.array([False, False]),
    ...                                np.array([True, False])])
    >>> [k.tolist() for k in keep]
    [[True, False], [True, False]]
    """
    keep = [np.ones(s.shape, dtype=bool) for s in scores]
    for layers, rate in zip(groups, rates):
        members = [scores[i] for i in layers]
        shields = None if protected is None else [protected[i] for i in layers]
        n_pooled = sum(s.size for s in members)
        n_shielded = 0 if shields is None else sum(int(m.sum()) for m in shields)
        # Protected weights are skipped, not counted: the next lowest go in
        # their place, so the count only falls short when the pool runs out.
        k = min(n_to_prune(rate, n_pooled), n_pooled - n_shielded)
        if k == 0:
            continue
        for i, lowest in zip(layers, _lowest(members, k, shields)):
            keep[i] = ~lowest
    return keep


def _lowest(
    members: list[np.ndarray], k: int, shields: list[np.ndarray] | None
) -> list[np.ndarray]:
    """Masks of the ``k`` lowest unshielded values of the pooled ``members``.

    Among equal values the first ones (in pool order) go, as with the first
    ``k`` of a stable sort, but in linear time, with one pooled copy of the
    scores and no index array as large as them.
    """
    pooled = np.concatenate(members)
    if shields is not None:
        # Shielded weights rank last, so the k-th value is an unshielded one
        # (the caller keeps k within the unshielded count).
        pooled[np.concatenate(shields)] = np.inf
    # Only the k-th lowest value is needed: a selection, not a sort.
    pooled.partition(k - 1)
    kth = pooled[k - 1]
    del pooled  # as large as all the scores: gone before the masks are built
    # Everything strictly below the k-th value goes (fewer than k weights);
    # the rest of the count comes from the weights equal to it.
    masks = [s < kth for s in members]
    ties = [s == kth for s in members]
    if shields is not None:
        for mask, tie, shield in zip(masks, ties, shields):
            mask &= ~shield
            tie &= ~shield
    missing = k - sum(int(mask.sum()) for mask in masks)
    # The ties that go are the first ones in pool order: a choice that depends
    # on positions only, unlike the order that partition leaves equal values
    # in, which is the selection algorithm's own and may change with numpy.
    for mask, tie in zip(masks, ties):
        first_ties = np.flatnonzero(tie)[:missing]
        mask[first_ties] = True
        missing -= first_ties.size
    return masks


def strongest_path(matrices: list, scores: list[np.ndarray]) -> list[np.ndarray]:
    """One weight per layer forming a path from an input to an output.

    Among the units still reachable from the inputs, the path takes the
    output layer's highest-scoring weight, then in each layer below the
    highest-scoring weight into the unit the path has reached. Protecting this
    path keeps the network's output dependent on its input at any sparsity:
    no layer collapse.

    Parameters
    ----------
    matrices : list of scipy.sparse.csr_array
        The layers' sparsity patterns (``(n_in, n_out)``, CSR order).
    scores : list of 1-D arrays
        One score per stored entry of each matrix.

    Returns
    -------
    list of boolean arrays
        Per layer, True at the entry on the path.
    """
    # reachable[i]: the inputs of layer i that some input reaches.
    reachable = [np.ones(matrices[0].shape[0], dtype=bool)]
    for W in matrices:
        # Per stored entry (CSR order), whether its row is reachable.
        from_reachable = np.repeat(reachable[-1], np.diff(W.indptr))
        nxt = np.zeros(W.shape[1], dtype=bool)
        nxt[W.indices[from_reachable]] = True
        reachable.append(nxt)
    path = [np.zeros(s.size, dtype=bool) for s in scores]
    # Walk down from the output: ``unit`` is the input unit of the entry
    # chosen in the layer above, which the entry chosen here must feed.
    unit = None
    for i in range(len(matrices) - 1, -1, -1):
        W = matrices[i]
        if W.nnz == 0:
            return path
        usable = np.repeat(reachable[i], np.diff(W.indptr))
        if unit is not None:
            usable &= W.indices == unit
        if not usable.any():  # already cut off: protect what is strongest
            usable[:] = True
        # argmax takes the first of equal scores: ties go by position.
        best = int(np.argmax(np.where(usable, scores[i], -np.inf)))
        path[i][best] = True
        # The row of entry ``best``: the last row starting at or before it.
        unit = int(np.searchsorted(W.indptr, best, side="right")) - 1
    return path


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


class ScheduleError(ValueError):
    """A schedule with a round that would prune no weight; ``empty_round`` is
    that round (from 1), for an estimator that words the error its own way
    (:class:`~sklearn_lth.LotteryTicketMLPCV` names ``max_rounds``)."""

    def __init__(self, message: str, empty_round: int):
        super().__init__(message)
        self.empty_round = empty_round

    def __reduce__(self):  # (raised in a joblib worker, pickled back)
        return type(self), (str(self), self.empty_round)


def check_schedule(
    layer_sizes: list[int],
    target_sparsity: float,
    pruning_rounds: int,
    scope: str,
    output_layer_rate: float | None,
    reached_sparsity: float = 0.0,
) -> None:
    """Refuse a schedule with rounds that would prune no weight at all.

    With too many rounds for a small network the per-round rate rounds down
    to zero weights and the search ends far from ``target_sparsity``. Every
    pool ranked at the per-round rate must lose at least one weight in every
    round; the error names the largest number of rounds that does so.

    Parameters
    ----------
    layer_sizes : list of int
        Number of weights of each layer (kept so far, for a search that a
        warm-started fit takes further).
    target_sparsity, pruning_rounds, scope, output_layer_rate
        As for :class:`~sklearn_lth.LotteryTicketMLP`.
    reached_sparsity : float, default=0.0
        The sparsity the schedule has reached before these rounds.
    """
    if target_sparsity <= reached_sparsity:
        return
    settings = (layer_sizes, target_sparsity, reached_sparsity)
    empty = _empty_round(*settings, pruning_rounds, scope, output_layer_rate)
    if empty is None:
        return
    # Fewer rounds prune more per round: the largest count that works.
    feasible = next(
        (
            n
            for n in range(pruning_rounds - 1, 0, -1)
            if _empty_round(*settings, n, scope, output_layer_rate) is None
        ),
        0,
    )
    advice = (
        f"use pruning_rounds={feasible} or fewer"
        if feasible
        else "use a larger network or a higher target_sparsity"
    )
    rate = per_round_rate(
        target_sparsity, pruning_rounds, reached_sparsity=reached_sparsity
    )
    raise ScheduleError(
        f"pruning_rounds={pruning_rounds} cannot reach "
        f"target_sparsity={target_sparsity} with {sum(layer_sizes)} weights: round "
        f"{empty} would prune no weight at the per-round rate {rate:.4g}; {advice}.",
        empty,
    )


def _empty_round(layer_sizes, target_sparsity, reached, n_rounds, scope, output_rate):
    """The first round that prunes no weight of a pool at the main rate, or None."""
    rate = per_round_rate(target_sparsity, n_rounds, reached_sparsity=reached)
    groups, rates = pruning_pools(len(layer_sizes), scope, rate, output_rate)
    for layers, pool_rate in zip(groups, rates):
        if pool_rate != rate:  # the output layer's own rate is the user's choice
            continue
        # The counts the search will prune: the same rounding, round by round.
        remaining = sum(layer_sizes[i] for i in layers)
        for round_index in range(1, n_rounds + 1):
            pruned = n_to_prune(rate, remaining)
            if pruned == 0:
                return round_index
            remaining -= pruned
    return None


def pruning_scores(
    criterion: str,
    magnitudes: list[np.ndarray],
    rng: np.random.RandomState,
    sensitivity: Callable[[], list[np.ndarray]],
    synflow: Callable[[], list[np.ndarray]] | None = None,
    gradient_flow: Callable[[], list[np.ndarray]] | None = None,
) -> list[np.ndarray]:
    """One score per remaining weight; the lowest are pruned.

    Parameters
    ----------
    criterion : {"magnitude", "random", "snip", "synflow", "grasp"}
        ``"magnitude"``: the trained weights' absolute values. ``"random"``:
        uniform draws from the search's random state (the paper's
        random-pruning control: the same counts at random positions).
        ``"snip"``: connection sensitivity (Lee et al., 2019), from
        ``sensitivity``. ``"synflow"``: iterative synaptic flow (Tanaka et
        al., 2020), from ``synflow`` (see :func:`iterative_synflow`).
        ``"grasp"``: gradient signal preservation (Wang et al., 2020), from
        ``gradient_flow`` (see :func:`gradient_flow_scores`).
    magnitudes : list of ndarray
        Per layer, the absolute values of the trained kept weights.
    rng : RandomState
        The search's random state (``"random"``).
    sensitivity, synflow, gradient_flow : callable
        Compute the connection sensitivity (:func:`connection_sensitivity`),
        the synaptic-flow ranking and GraSP's scores, called only for their
        criterion.
    """
    if criterion == "magnitude":
        return magnitudes
    if criterion == "random":
        # Layer by layer, from the search's random state, after the rewind's
        # draws: a fixed order, so a seed (or a resumed search) repeats them.
        return [rng.random_sample(m.size) for m in magnitudes]
    if criterion == "snip":
        return sensitivity()
    if criterion == "synflow":
        return synflow()
    if criterion == "grasp":
        return gradient_flow()
    raise ValueError(f"Unknown pruning criterion {criterion!r}.")


#: SynFlow's pruning steps over a whole schedule (the paper's 100), shared
#: out over the rounds.
SYNFLOW_STEPS = 100


def synaptic_flow(matrices: list[sp.csr_array]) -> list[np.ndarray]:
    """SynFlow's score of every kept weight (Tanaka et al., 2020).

    ``R = 1^T |W_1| |W_2| ... |W_L| 1``, the summed output of the network of
    absolute weights (no biases, no activations) on an all-ones input, and
    each kept weight's score ``|w| * dR/dw = |w| * a[i] * g[j]``, where
    ``a`` is what flows into its row from the input and ``g`` what flows
    from its column to the output. No data: the scores depend on the weights
    and the masks alone. In float64, per layer in CSR order (the kept
    weights' order).

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> W1 = sp.csr_array(np.array([[1.0, -2.0], [0.0, 3.0]]))
    >>> W2 = sp.csr_array(np.array([[0.5], [-1.0]]))
    >>> [s.tolist() for s in synaptic_flow([W1, W2])]
    [[0.5, 2.0, 3.0], [0.5, 5.0]]
    """
    absolute = [abs(sp.csr_array(W, dtype=np.float64)) for W in matrices]
    inflow = [np.ones(absolute[0].shape[0])]
    for W in absolute[:-1]:
        inflow.append(W.T @ inflow[-1])
    outflow = [np.ones(absolute[-1].shape[1])]
    for W in absolute[:0:-1]:
        outflow.insert(0, W @ outflow[0])
    scores = []
    for W, a, g in zip(absolute, inflow, outflow):
        rows = np.repeat(np.arange(W.shape[0]), np.diff(W.indptr))
        scores.append(W.data * a[rows] * g[W.indices])
    return scores


def iterative_synflow(
    matrices: list[sp.csr_array],
    groups: list[list[int]],
    rates: list[float],
    protected: list[np.ndarray] | None,
    iterations: int,
) -> list[np.ndarray]:
    """A round's SynFlow ranking, pruned in ``iterations`` steps.

    Each step scores the weights still kept (:func:`synaptic_flow`) and
    removes the same fraction of each pool, so that after the last step the
    pools have lost their round's ``rates``: SynFlow's iteration, which is
    what keeps it from emptying a layer, with ``protected`` (the strongest
    path) never removed. Returned as scores for :func:`prune_lowest`: a
    weight removed at step ``t`` scores ``t``, one that survives
    ``iterations + 1`` plus its last score over the largest (below
    ``iterations + 2``), so the round removes them in that order.
    """
    masks = [np.ones(W.nnz, dtype=bool) for W in matrices]
    removed_at = [np.zeros(W.nnz) for W in matrices]
    step_rates = [1.0 - (1.0 - rate) ** (1.0 / iterations) for rate in rates]
    for step in range(1, iterations + 1):
        current = [_kept_entries(W, m) for W, m in zip(matrices, masks)]
        shields = (
            None if protected is None else [p[m] for p, m in zip(protected, masks)]
        )
        keep = prune_lowest(synaptic_flow(current), groups, step_rates, shields)
        for mask, removed, kept in zip(masks, removed_at, keep):
            where = np.flatnonzero(mask)
            removed[where[~kept]] = step
            mask[where[~kept]] = False
    last = synaptic_flow([_kept_entries(W, m) for W, m in zip(matrices, masks)])
    largest = max((s.max() for s in last if s.size), default=1.0) or 1.0
    scores = []
    for mask, removed, final in zip(masks, removed_at, last):
        score = removed.copy()
        score[mask] = iterations + 1 + final / largest
        scores.append(score)
    return scores


def _kept_entries(W: sp.csr_array, mask: np.ndarray) -> sp.csr_array:
    """``W`` with only its stored entries where ``mask`` is True."""
    rows = np.repeat(np.arange(W.shape[0]), np.diff(W.indptr))
    return sp.csr_array((W.data[mask], (rows[mask], W.indices[mask])), shape=W.shape)


def connection_sensitivity(network, X, Y, sample_weight, rows) -> list[np.ndarray]:
    """SNIP's ``|dL/dw * w|`` at ``network``'s kept weights (Lee et al., 2019).

    The gradient is that of the mean training loss over all training ``rows``
    (in mini-batches, no update), at the weights the next round starts from.
    """
    # Over all the training rows (SNIP itself uses one mini-batch): no batch
    # is singled out, and no shuffle is drawn from the search's random state.
    scores = mean_gradient(network, X, Y, sample_weight, rows)
    for score, layer in zip(scores, network.layers):
        # In the gradient sums' own arrays: no second array per layer.
        np.multiply(score, layer.values, out=score)
        np.abs(score, out=score)
    return scores


def hessian_gradient_product(
    network, X, Y, sample_weight, rows
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The mean loss's gradient ``g`` at the kept weights, and ``H g``.

    ``H g`` by central differences of the gradient along ``g``:
    ``(grad(w + e g) - grad(w - e g)) / (2 e)``, with ``e`` scaled to the
    weights and the gradient (two more passes over the rows, no second-order
    backward pass), always in float64 (accurate to about ``1e-7``
    relative): in float32 the differences were mostly rounding noise (a
    float32 network and a float64 copy of its data then compute it).
    """
    if network.layers[0].values.dtype != np.float64:
        network = _in_float64(network)
        X = X.astype(np.float64)
        Y = Y.astype(np.float64)
    gradient = mean_gradient(network, X, Y, sample_weight, rows)
    values = [layer.values for layer in network.layers]
    dtype = values[0].dtype
    norm = math.sqrt(sum(float(np.dot(g, g)) for g in gradient))
    if norm == 0.0:
        return gradient, [np.zeros_like(g) for g in gradient]
    size = math.sqrt(sum(float(np.dot(v, v)) for v in values))
    step = np.sqrt(np.finfo(dtype).eps) * (1.0 + size) / norm
    shifted = []
    for sign in (1.0, -1.0):
        layers = [
            Layer(layer.positions, v + sign * step * g, layer.bias, layer.shape)
            for layer, v, g in zip(network.layers, values, gradient)
        ]
        probe = Network(layers, network.activation, network.out_activation)
        shifted.append(mean_gradient(probe, X, Y, sample_weight, rows))
    product = [(up - down) / (2 * step) for up, down in zip(*shifted)]
    return gradient, product


def _in_float64(network):
    """A float64 copy of ``network`` (its kept weights and biases)."""
    layers = [
        Layer(
            layer.positions,
            layer.values.astype(np.float64),
            layer.bias.astype(np.float64),
            layer.shape,
        )
        for layer in network.layers
    ]
    return Network(layers, network.activation, network.out_activation)


def gradient_flow_scores(network, X, Y, sample_weight, rows) -> list[np.ndarray]:
    """GraSP's ranking of the kept weights (Wang, Zhang & Grosse, 2020).

    GraSP removes the weights whose removal least reduces the gradient's
    flow, those of highest ``-w * (H g)[w]``; :func:`prune_lowest` removes
    the lowest, so the score is ``w * (H g)[w]``
    (:func:`hessian_gradient_product`), over all training rows, at the
    weights the next round starts from.
    """
    _, product = hessian_gradient_product(network, X, Y, sample_weight, rows)
    return [
        layer.values.astype(np.float64) * hg
        for layer, hg in zip(network.layers, product, strict=True)
    ]


def warn_if_pruned_less(
    keep: list[np.ndarray],
    scores: list[np.ndarray],
    groups: list[list[int]],
    rates: list[float],
    round_index: int,
    target_sparsity: float,
) -> None:
    """Warn when protecting the strongest path kept a round from its full count."""
    # The count prune_lowest aims at before any protection, per pool.
    expected = sum(
        n_to_prune(rate, sum(scores[i].size for i in layers))
        for layers, rate in zip(groups, rates)
    )
    removed = sum(int((~k).sum()) for k in keep)
    if removed < expected:
        warn(
            f"Round {round_index} prunes {removed} weights instead of {expected}: "
            "the strongest path from the output back to an input is never pruned, "
            "so that no layer is cut off. The final sparsity will be below "
            f"target_sparsity={target_sparsity}.",
        )
