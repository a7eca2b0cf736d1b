"""``warm_start``: a second ``fit`` that goes on with the fitted search.

What the fitted search left (:class:`SearchEnd`, kept by the estimator as a
plain fitted attribute) and the estimator's parameters decide how the next
fit goes on (:func:`continue_fitted`):

- a higher ``target_sparsity`` prunes on, ``pruning_rounds`` more rounds from
  the fitted mask, rewind point and random state;
- the same target (or a ``ticket``, which never prunes) trains the fitted
  network on, as scikit-learn's ``warm_start`` does;
- a search Ctrl-C stopped short of its target is finished at the target and
  ``pruning_rounds`` it was given, exactly as it would have gone on;
- a lower target, another ticket, several seeds, or a rewind strategy whose
  start point the fitted search did not keep are refused.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import numpy as np

from .._pruning import check_schedule
from .._rewinding import RewindPolicy, StartPoint
from .._ticket import LotteryTicket
from .._training import EarlierTraining, RoundResult


@dataclass(frozen=True)
class SearchEnd:
    """What a later, warm-started fit needs to go on with a search.

    The fitted weights, ticket and round table hold the rest: the ticket's
    weights are the last round's start point, here its position on the
    learning-rate schedule.

    Attributes
    ----------
    rng_state : tuple
        The search's random state after its last completed round.
    start_step : int
        The ticket's position on the learning-rate schedule.
    hold_final_lr : bool
        Whether rounds from the ticket train at the schedule's final rate.
    snapshot : StartPoint or None
        Round 0's rewind snapshot, when it is not the ticket itself (a search
        that stopped after round 0).
    scheduled_sparsity : float or None
        The sparsity the schedule has reached (the target, for a finished
        search; it differs from the measured one with ``output_layer_rate``).
        None for a ``ticket=`` trained once.
    rewind : RewindPolicy or None
        How the search rewound (None: a ticket trained once).
    plan : tuple or None
        Its schedule: ``(origin, reached_sparsity, target_sparsity,
        pruning_rounds)``, the rounds after round ``origin`` pruning from
        one sparsity to the other (None for a ticket trained once). A search
        interrupted before ``origin + pruning_rounds`` can be finished.
    """

    rng_state: tuple
    start_step: int
    hold_final_lr: bool
    snapshot: StartPoint | None
    scheduled_sparsity: float | None
    rewind: RewindPolicy | None = None
    plan: tuple | None = None

    def as_fitted(self) -> dict:
        """Plain types only (dicts, lists, arrays), as a fitted attribute:
        skops then loads it with the estimator, trusting nothing more."""
        return asdict(self)

    @classmethod
    def from_fitted(cls, fitted: dict) -> SearchEnd:
        """The inverse of :meth:`as_fitted`."""
        snapshot, rewind = fitted["snapshot"], fitted["rewind"]
        return cls(
            rng_state=tuple(fitted["rng_state"]),
            start_step=int(fitted["start_step"]),
            hold_final_lr=bool(fitted["hold_final_lr"]),
            snapshot=None if snapshot is None else StartPoint(**snapshot),
            scheduled_sparsity=fitted["scheduled_sparsity"],
            rewind=None if rewind is None else RewindPolicy(**rewind),
            plan=None if fitted["plan"] is None else tuple(fitted["plan"]),
        )

    @property
    def ticket_is_initial(self) -> bool:
        """Whether the ticket's weights are W0 (what ``"init"`` rewinds to).

        So they are when the search rewound to W0, and until a round prunes
        (the ticket is then round 0's start; a ticket trained once started
        from its own weights).
        """
        to_initial = self.rewind is not None and self.rewind.keeps_initial_weights
        return to_initial or not self.scheduled_sparsity

    @property
    def ticket_is_snapshot(self) -> bool:
        """Whether the ticket's weights are round 0's rewind snapshot."""
        to_snapshot = self.rewind is not None and self.rewind.rewinds_to_snapshot
        return to_snapshot and bool(self.scheduled_sparsity)

    def check_rewind(self, rewind: RewindPolicy) -> None:
        """Refuse to prune on with ``rewind`` if its start point is gone."""
        rewind.check_can_follow(
            self.rewind,
            has_initial=self.ticket_is_initial,
            has_snapshot=self.snapshot is not None or self.ticket_is_snapshot,
        )


@dataclass
class WarmStart:
    """A fitted search that a warm-started fit goes on with.

    Parameters
    ----------
    coefs, intercepts : list
        The fitted (trained) weights, CSR, and biases.
    ticket : LotteryTicket
        The fitted ticket: the last round's start point, same pattern.
    history : dict of ndarray
        The fitted round table.
    last_round : RoundResult
        What the fitted last round did (kept if this fit completes none).
    end : SearchEnd
        The rest of the fitted search's state.
    earlier : EarlierTraining or None
        None: prune on (more rounds). Otherwise train the fitted network
        once more, as scikit-learn's ``warm_start`` does, carrying this over.
    plan_origin : int or None
        Finish the fitted, interrupted schedule, whose rounds follow this
        one, rather than start a schedule after the fitted last round.
    """

    coefs: list
    intercepts: list
    ticket: LotteryTicket
    history: dict
    last_round: RoundResult
    end: SearchEnd
    earlier: EarlierTraining | None = None
    plan_origin: int | None = None

    @property
    def keeps_training(self) -> bool:
        """Whether the fit trains the fitted network on, pruning nothing."""
        return self.earlier is not None

    def fingerprint_arrays(self) -> list[np.ndarray]:
        """The arrays a warm-started search is also a function of (its
        checkpoint folder's fingerprint includes them)."""
        arrays = []
        for W in (*self.coefs, *self.ticket.weights):
            arrays += [W.indices, W.indptr, W.data]
        return [*arrays, *self.intercepts, np.asarray(self.end.rng_state[1])]


def check_can_warm_start(fitted) -> None:
    """Refuse a warm start that cannot go on from ``fitted``'s fitted state.

    ``fitted`` is the estimator (read, never changed).
    """
    if not hasattr(fitted, "_search_end"):
        raise ValueError(
            "warm_start=True goes on from a search that fit found, but this "
            "estimator was trained by partial_fit only: call fit with "
            "warm_start=False first, or go on with partial_fit."
        )
    if fitted.n_seeds > 1:
        raise ValueError(
            f"warm_start=True goes on with the fitted network alone, not with "
            f"n_seeds={fitted.n_seeds} searches: set n_seeds=1 for the "
            "warm-started fits (or warm_start=False to search anew)."
        )


def _check_same_ticket(fitted) -> None:
    """A ``ticket`` on a warm start must be the fitted network's pattern.

    It never prunes (the fitted network trains on): another ticket is refused
    rather than ignored.
    """
    kept = [(W.indptr, W.indices) for W in fitted.coefs_]
    given = [(W.indptr, W.indices) for W in fitted.ticket.weights]
    if len(kept) != len(given) or not all(
        np.array_equal(a, b) for pair in zip(kept, given) for a, b in zip(*pair)
    ):
        raise ValueError(
            "warm_start=True trains the fitted network on, but the ticket "
            "given keeps other weights: set warm_start=False to train that "
            "ticket, or ticket=None to go on from the fitted network."
        )


def _earlier_training(fitted) -> EarlierTraining:
    """scikit-learn's counts and stopping rule, which a fit training the
    fitted network on carries over (see :class:`~._training.EarlierTraining`)."""
    best = fitted.best_validation_score_ if fitted.early_stopping else None
    if not fitted.early_stopping and fitted.best_loss_ is not None:
        best = fitted.best_loss_
    return EarlierTraining(
        samples_seen=fitted.t_,
        loss_curve=list(fitted.loss_curve_),
        validation_scores=fitted.validation_scores_,
        best=best,
        stall_count=fitted._no_improvement_count,
    )


def _unfinished_schedule(fitted, end: SearchEnd) -> tuple[int, float] | None:
    """The origin and starting sparsity of the fitted schedule, when Ctrl-C
    stopped it short and this fit asks for the same target and rounds."""
    if end.plan is None:
        return None
    origin, reached, target, rounds = end.plan
    unfinished = int(fitted.history_["round"][-1]) < origin + rounds
    if unfinished and (fitted.target_sparsity, fitted.pruning_rounds) == (
        target,
        rounds,
    ):
        return int(origin), reached
    return None


def continue_fitted(fitted, pruning, rewind: RewindPolicy):
    """The fitted search to go on with, and the pruning that takes it on.

    The schedule's sparsity so far decides (see the module docstring).

    Parameters
    ----------
    fitted : estimator
        The fitted estimator with ``warm_start=True`` (read, never changed).
    pruning : PruningConfig
        Its pruning parameters.
    rewind : RewindPolicy
        Its rewind parameters.

    Returns
    -------
    warm : WarmStart
    pruning : PruningConfig
        ``pruning`` from the sparsity reached, when the fit prunes on.
    """
    end = SearchEnd.from_fitted(fitted._search_end)
    reached = end.scheduled_sparsity
    if reached is None:  # a ticket trained once: its measured sparsity
        reached = float(fitted.history_["sparsity"][-1])
    target = fitted.target_sparsity
    if fitted.ticket is not None:
        _check_same_ticket(fitted)
    keeps_training = fitted.ticket is not None or math.isclose(
        target, reached, rel_tol=1e-9, abs_tol=1e-12
    )
    unfinished = None if keeps_training else _unfinished_schedule(fitted, end)
    if unfinished is not None:
        reached = unfinished[1]
    if not keeps_training and target < reached:
        raise ValueError(
            f"target_sparsity={target} is below the sparsity the fitted search "
            f"has reached ({reached:.6g}): warm_start can only prune further, or "
            "train on at the same target. Set warm_start=False to search anew."
        )
    if not keeps_training:
        if unfinished is None:  # (an unfinished schedule was checked)
            check_schedule(
                [W.nnz for W in fitted.coefs_],
                target,
                fitted.pruning_rounds,
                fitted.pruning_scope,
                fitted.output_layer_rate,
                reached_sparsity=reached,
            )
        pruning = replace(pruning, reached_sparsity=reached)
        end.check_rewind(rewind)  # before any work, if its point is gone
    warm = WarmStart(
        fitted.coefs_,
        fitted.intercepts_,
        fitted.ticket_,
        fitted.history_,
        RoundResult(
            n_iter=fitted.n_iter_,
            loss_curve=list(fitted.loss_curve_),
            samples_seen=fitted.t_,
            stall_count=fitted._no_improvement_count,
        ),
        end,
        _earlier_training(fitted) if keeps_training else None,
        None if unfinished is None else unfinished[0],
    )
    return warm, pruning
