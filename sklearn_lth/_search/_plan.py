"""The plan of a search: one value that says how it opens and runs.

A :class:`SearchPlan` is built once per fit from the estimator's parameters
and data: the network (layer sizes, activations), how to train
(:class:`~sklearn_lth._training.TrainingConfig`), prune
(:class:`PruningConfig`) and rewind
(:class:`~sklearn_lth._rewinding.RewindPolicy`), the training and
validation rows, and where the search opens from: drawn initial weights, a
``ticket``, a fitted search it goes on with (``warm``), and the checkpoint it
may resume from. Everything the loop asks about its rounds (which ones it
trains, which step of round 0 it snapshots, what a checkpoint of it must
hold) is answered here, from the plan alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._checkpoint import CheckpointStore
from .._params import DEFAULTS
from .._pruning import n_to_prune, per_round_rate, pruning_pools
from .._rewinding import RewindPolicy
from .._ticket import LotteryTicket
from .._training import TrainingConfig
from ._warm import WarmStart


@dataclass(frozen=True)
class PruningConfig:
    """How IMP prunes, read from an estimator's parameters."""

    target_sparsity: float = DEFAULTS["target_sparsity"]
    pruning_rounds: int = DEFAULTS["pruning_rounds"]
    pruning_scope: str = DEFAULTS["pruning_scope"]
    output_layer_rate: float | None = DEFAULTS["output_layer_rate"]
    pruning_criterion: str = DEFAULTS["pruning_criterion"]
    # The schedule's sparsity before this fit's rounds (a warm-started fit
    # that takes a search further); not an estimator parameter.
    reached_sparsity: float = 0.0

    @property
    def rate(self) -> float:
        """The fraction of the remaining weights each round prunes."""
        return per_round_rate(
            self.target_sparsity,
            self.pruning_rounds,
            reached_sparsity=self.reached_sparsity,
        )

    def scheduled_sparsity(self, rounds_pruned: int) -> float:
        """The sparsity the schedule reaches after ``rounds_pruned`` rounds."""
        if rounds_pruned <= 0 or self.target_sparsity <= self.reached_sparsity:
            return self.reached_sparsity
        if rounds_pruned >= self.pruning_rounds:
            return self.target_sparsity
        return 1.0 - (1.0 - self.reached_sparsity) * (1.0 - self.rate) ** rounds_pruned


@dataclass(frozen=True)
class TrainingData:
    """All the data; the search trains on ``rows`` (None: all) and scores
    on ``validation_rows`` (early stopping, choosing among seeds)."""

    X: object
    Y: np.ndarray
    sample_weight: np.ndarray | None
    rows: np.ndarray | None = None
    validation_rows: np.ndarray | None = None

    @property
    def n_train(self) -> int:
        return self.X.shape[0] if self.rows is None else self.rows.size

    def training_targets(self) -> tuple[np.ndarray, np.ndarray | None]:
        """The targets and sample weights of the training rows."""
        Y, weights, rows = self.Y, self.sample_weight, self.rows
        if rows is None:
            return Y, weights
        return Y[rows], None if weights is None else weights[rows]


@dataclass(frozen=True)
class Split:
    """What is drawn once per fit, before any training.

    Attributes
    ----------
    rows, validation_rows : ndarray or None
        The training and the held-out validation rows (None: all rows, no
        validation).
    seeds : ndarray or None
        One integer seed per search (None: one search, from the estimator's
        random state).
    """

    rows: np.ndarray | None = None
    validation_rows: np.ndarray | None = None
    seeds: np.ndarray | None = None


@dataclass(frozen=True)
class SearchSpec:
    """What the plan says a saved search holds (see :meth:`SearchPlan.spec`).

    :func:`~._persistence.restore_search` refuses a checkpoint that
    contradicts it.

    Attributes
    ----------
    first_round : int
        The first round this fit completes: 0, or the one after the fitted
        search that a warm-started fit goes on with.
    pools : list of list of int
        The layers ranked together when pruning.
    kept : list of list of int
        For each round from ``first_round`` to the last, the weights each pool
        keeps: the pruning schedule's counts, which depend on the layer sizes
        and the parameters only.
    restarts_from : int or None
        The first round that prunes and restarts from a rewind point; None
        when none does (a ticket, or a fitted network trained on).
    rewind : RewindPolicy
        Where the rounds that prune restart.
    snapshot_at : int or None
        The step at which round 0 of this fit snapshots its weights (None:
        this fit takes no snapshot).
    validation : bool
        Whether the rounds are scored on validation rows.
    max_iter : int
        The most epochs (L-BFGS iterations) a round trains.
    epoch : tuple of int or None
        The optimizer steps and training rows of one epoch (L-BFGS: one step,
        no rows), which a round's counts are multiples of; None when the
        round goes on with a fitted network's counts.
    """

    first_round: int
    pools: list[list[int]]
    kept: list[list[int]]
    restarts_from: int | None
    rewind: RewindPolicy
    snapshot_at: int | None
    validation: bool
    max_iter: int
    epoch: tuple[int, int] | None

    @property
    def last_round(self) -> int:
        return self.first_round + len(self.kept) - 1

    def restarted(self, round_index: int) -> bool:
        """Whether round ``round_index`` pruned and restarted from a rewind point."""
        return self.restarts_from is not None and round_index >= self.restarts_from


@dataclass(frozen=True)
class SearchPlan:
    """How one search opens and runs: everything but its data and random state.

    Attributes
    ----------
    layer_units : list of int
        Units of every layer, input and output included.
    activation, out_activation : str
        The hidden layers' and the output's activations.
    training : TrainingConfig
        How each round trains (and on which kernels).
    pruning : PruningConfig
        How each round prunes.
    rewind : RewindPolicy
        Where the survivors restart.
    rows, validation_rows : ndarray or None
        The training and validation rows (None: all rows train, none
        validate).
    ticket : LotteryTicket or None
        Open from a ticket's weights and train it once, without pruning.
    warm : WarmStart or None
        Go on with a fitted search (``warm_start``).
    checkpoint : CheckpointStore or None
        Resume from it if it holds a state, and save there after each round.
    """

    layer_units: list[int]
    activation: str
    out_activation: str
    training: TrainingConfig
    pruning: PruningConfig
    rewind: RewindPolicy
    rows: np.ndarray | None = None
    validation_rows: np.ndarray | None = None
    ticket: LotteryTicket | None = None
    warm: WarmStart | None = None
    checkpoint: CheckpointStore | None = None

    @property
    def keeps_training(self) -> bool:
        """Whether the search trains a fitted network on, pruning nothing."""
        return self.warm is not None and self.warm.keeps_training

    def rounds(self) -> tuple[int, int, int]:
        """This fit's first round, the round its schedule follows, its last.

        The schedule's rounds follow round 0 (which trains the dense network),
        the fitted search's last round (pruning on), or where an interrupted
        schedule began (finishing it).
        """
        warm, pruning = self.warm, self.pruning
        first_round = 0 if warm is None else len(warm.history["round"])
        origin = 0 if warm is None else first_round - 1
        if warm is not None and warm.plan_origin is not None:
            origin = warm.plan_origin
        if self.keeps_training:
            last_round = first_round
        elif (
            self.ticket is not None
            or pruning.target_sparsity <= pruning.reached_sparsity
        ):
            # A ticket trains once; a target already reached has nothing to prune.
            last_round = first_round
        else:
            last_round = origin + pruning.pruning_rounds
        return first_round, origin, last_round

    def snapshot_step(self, n_train: int) -> int | None:
        """The step of round 0 whose weights later rounds rewind to, if any."""
        if self.ticket is not None or self.warm is not None:
            return None  # no round 0 in this fit, or no rounds after it
        # Counted in mini-batches, or L-BFGS iterations (each one "epoch" of
        # one step).
        training = self.training
        batches = 1 if training.solver == "lbfgs" else training.steps_per_epoch(n_train)
        return self.rewind.snapshot_step(batches, training.max_iter)

    def spec(self, n_samples: int) -> SearchSpec:
        """What a checkpoint of this search must hold (``n_samples``: the
        rows of the data).

        The weights each round keeps are counted here as the loop prunes them:
        per pool, the schedule's count, less what the strongest path protects
        (one weight per layer) when a pool runs out.
        """
        first_round, _, last_round = self.rounds()
        sizes, restarts_from = self._starting_sizes(first_round)
        prunes = restarts_from is not None and last_round >= restarts_from
        groups, rates = pruning_pools(
            len(sizes),
            self.pruning.pruning_scope,
            self.pruning.rate if prunes else 0.0,
            self.pruning.output_layer_rate,
        )
        pool_sizes = [sum(sizes[i] for i in layers) for layers in groups]
        kept = []
        for round_index in range(first_round, last_round + 1):
            if prunes and round_index >= restarts_from:
                pool_sizes = [
                    n - min(n_to_prune(rate, n), n - len(layers))
                    for n, rate, layers in zip(pool_sizes, rates, groups)
                ]
            kept.append(pool_sizes)
        n_train = n_samples if self.rows is None else self.rows.size
        if self.keeps_training:
            epoch = None  # the fitted network's counts go on
        elif self.training.solver == "lbfgs":
            epoch = (1, 0)  # an iteration is a step; L-BFGS counts no samples
        else:
            epoch = (self.training.steps_per_epoch(n_train), n_train)
        return SearchSpec(
            first_round=first_round,
            pools=groups,
            kept=kept,
            restarts_from=restarts_from,
            rewind=self.rewind,
            snapshot_at=self.snapshot_step(n_train),
            validation=self.validation_rows is not None,
            max_iter=self.training.max_iter,
            epoch=epoch,
        )

    def _starting_sizes(self, first_round: int) -> tuple[list[int], int | None]:
        """The weights of each layer before this fit's rounds, and the first
        round that prunes and restarts (None: none does)."""
        if self.warm is not None:
            sizes = [W.nnz for W in self.warm.coefs]
            return sizes, None if self.keeps_training else first_round
        if self.ticket is not None:
            return [W.nnz for W in self.ticket.weights], None
        units = self.layer_units
        return [a * b for a, b in zip(units, units[1:])], 1
