"""Rewinding: the weights and learning-rate position the next round starts from.

================  ==========================================  ====================
``rewind``        surviving weights restart from              learning-rate schedule
================  ==========================================  ====================
``"init"``        the initial weights W0                      from its start
``"early"``       round 0 after ``rewind_iteration`` steps     from that step
``"late"``        round 0 after ``rewind_fraction`` of its     from that step
                  scheduled steps
``"lr"``          the weights just trained                    from its start
``"none"``        the weights just trained                    held at its final value
``"reinit"``      fresh random weights (a control)            from its start
================  ==========================================  ====================

References: Frankle & Carbin (2019) for ``"init"`` and ``"reinit"``; Frankle et
al. (2019, "Stabilizing the lottery ticket hypothesis") for ``"early"`` and
``"late"``; Renda et al. (2020) for ``"lr"``; ``"none"`` is fine-tuning.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from ._params import DEFAULTS, REWIND_STRATEGIES
from ._warnings import warn

__all__ = ["REWIND_STRATEGIES", "RewindPolicy", "StartPoint"]


@dataclass
class StartPoint:
    """Where a round of training starts.

    Attributes
    ----------
    weights, biases : list of ndarray
        The weights, dense (only the kept positions are read) or, once
        :meth:`compacted`, only their values at ``positions``; the biases.
    step : int
        Position on the learning-rate schedule, in optimizer steps.
    hold_final_lr : bool
        Train at the schedule's final learning rate throughout.
    positions : list of ndarray or None
        Per layer, the sorted flat positions of the stored values (None: the
        layer's weights are all stored).
    """

    weights: list[np.ndarray]
    biases: list[np.ndarray]
    step: int = 0
    hold_final_lr: bool = False
    positions: list[np.ndarray] | None = None

    def values(self, layer: int, positions: np.ndarray) -> np.ndarray:
        """The start weights of ``layer`` at ``positions`` (sorted, all stored).

        The stored array itself when ``positions`` are the stored ones: do
        not modify the result.
        """
        stored = None if self.positions is None else self.positions[layer]
        if stored is None:  # a dense start point: gather at the positions
            return self.weights[layer].ravel()[positions]
        if positions is stored:
            # The common case after compacting: the same array object, so no
            # search and no copy (the caller copies if it trains in place).
            return self.weights[layer]
        # Both sorted, and ``positions`` a subset of ``stored`` (pruning only
        # removes weights): a binary search finds each value.
        return self.weights[layer][np.searchsorted(stored, positions)]

    def compacted(self, positions: list[np.ndarray | None]) -> StartPoint:
        """The same start point keeping only the weights at ``positions``.

        Pruning only removes weights, so after a round a start point is read
        only where weights survive: memory then follows the kept weights.
        ``positions`` are shared, not copied; None keeps a whole layer.
        """
        weights = [
            W if pos is None else self.values(i, pos)
            for i, (W, pos) in enumerate(zip(self.weights, positions))
        ]
        return StartPoint(
            weights, self.biases, self.step, self.hold_final_lr, positions=positions
        )


@dataclass(frozen=True)
class RewindPolicy:
    """One rewind strategy: what to snapshot in round 0, and where rounds restart.

    Built once from the estimator's ``rewind``, ``rewind_iteration`` and
    ``rewind_fraction``; the IMP loop asks it questions and never compares
    the strategy's name itself.

    Parameters
    ----------
    strategy : str
        One of :data:`REWIND_STRATEGIES`.
    rewind_iteration : int
        The optimizer step of round 0 that ``"early"`` rewinds to.
    rewind_fraction : float
        The fraction of round 0's scheduled steps that ``"late"`` rewinds to.
    """

    strategy: str = DEFAULTS["rewind"]
    rewind_iteration: int = DEFAULTS["rewind_iteration"]
    rewind_fraction: float = DEFAULTS["rewind_fraction"]

    def __post_init__(self):
        # The estimators validate ``rewind`` first; this guards direct use.
        if self.strategy not in REWIND_STRATEGIES:
            raise ValueError(
                f"Unknown rewind strategy {self.strategy!r}; choose one of "
                f"{REWIND_STRATEGIES}."
            )

    def snapshot_step(self, steps_per_epoch: int, max_iter: int) -> int | None:
        """The optimizer step of round 0 whose weights later rounds rewind to.

        None when the strategy needs no snapshot of round 0.
        """
        if self.strategy == "early":
            return self.rewind_iteration
        if self.strategy == "late":
            # A fraction of the steps round 0 is scheduled to take, not of those
            # it takes: early stopping must not move the rewind point.
            return int(round(self.rewind_fraction * max_iter * steps_per_epoch))
        return None

    @property
    def keeps_initial_weights(self) -> bool:
        """Whether rounds after the first still rewind to W0."""
        return self.strategy == "init"

    @property
    def rewinds_to_snapshot(self) -> bool:
        """Whether rounds after the first rewind to a snapshot of round 0."""
        return self.strategy in ("early", "late")

    def describe(self) -> str:
        """The estimator parameters that choose this policy, as a user sets them."""
        named = f"rewind={self.strategy!r}"
        if self.strategy == "early":
            named += f", rewind_iteration={self.rewind_iteration}"
        if self.strategy == "late":
            named += f", rewind_fraction={self.rewind_fraction}"
        return named

    def check_can_follow(
        self, fitted: RewindPolicy | None, has_initial: bool, has_snapshot: bool
    ) -> None:
        """Refuse to prune a fitted search on if this policy's start point is gone.

        ``"init"`` needs W0 (``has_initial``) and ``"early"``/``"late"`` round
        0's snapshot (``has_snapshot``) at the same step as the ``fitted``
        search's policy (None: a ticket trained once). The trained weights and
        a fresh draw are always at hand.
        """
        if self.keeps_initial_weights:
            missing = not has_initial
        elif self.rewinds_to_snapshot:
            # A snapshot, but maybe of another step.
            missing = not has_snapshot or (fitted is not None and self != fitted)
        else:
            return
        if missing:
            was = "a ticket trained once" if fitted is None else fitted.describe()
            raise ValueError(
                f"warm_start cannot go on with {self.describe()}: the fitted "
                f"search ({was}) did not keep the weights that rewinds to. Use "
                "the fitted search's rewind settings, or set warm_start=False to "
                "search anew."
            )

    @property
    def needs_trained_weights(self) -> bool:
        """Whether the next round starts from the weights just trained."""
        return self.strategy in ("lr", "none")

    def next_start(
        self,
        *,
        initial: StartPoint | None,
        snapshot: StartPoint | None,
        trained: StartPoint | None,
        draw_fresh: Callable[[], StartPoint],
    ) -> StartPoint:
        """Where the next round starts (see the table in this module's docstring).

        Parameters
        ----------
        initial : StartPoint or None
            The initial weights W0 at step 0 (``"init"``).
        snapshot : StartPoint or None
            Round 0's weights at :meth:`snapshot_step` (``"early"``, ``"late"``).
        trained : StartPoint or None
            The weights at the end of the round just finished (``"lr"``,
            ``"none"``).
        draw_fresh : callable
            Draws a new random initialisation (``"reinit"``).
        """
        if self.strategy == "init":
            return initial
        if self.strategy in ("early", "late"):
            return snapshot
        if self.strategy == "lr":
            # Renda et al.: the trained weights, the schedule from its start.
            return replace(trained, step=0, hold_final_lr=False)
        if self.strategy == "none":
            # Fine-tuning: the trained weights at the rate training ended with.
            return replace(trained, hold_final_lr=True)
        # The control: same mask, fresh weights. It draws from the search's
        # random state, before any random pruning scores, in a fixed order.
        return draw_fresh()

    def warn_if_snapshot_late(self, steps_taken: int, snapshot_at: int | None) -> None:
        """Warn when round 0 ended before the step it should rewind to."""
        if snapshot_at is not None and steps_taken < snapshot_at:
            warn(
                f"Round 0 stopped after {steps_taken} optimizer steps, before the "
                f"rewind point at step {snapshot_at} (rewind={self.strategy!r}); "
                "later rounds rewind to the end of round 0 instead. Lower "
                "rewind_iteration or rewind_fraction, or raise max_iter.",
            )
