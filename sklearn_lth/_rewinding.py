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

REWIND_STRATEGIES = ("init", "early", "late", "lr", "none", "reinit")


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
        if stored is None:
            return self.weights[layer].ravel()[positions]
        if positions is stored:
            return self.weights[layer]
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


def snapshot_step(
    rewind: str,
    rewind_iteration: int,
    rewind_fraction: float,
    steps_per_epoch: int,
    max_iter: int,
) -> int | None:
    """The optimizer step of round 0 whose weights later rounds rewind to.

    None when the strategy needs no snapshot of round 0.
    """
    if rewind == "early":
        return rewind_iteration
    if rewind == "late":
        return int(round(rewind_fraction * max_iter * steps_per_epoch))
    return None


def rewind_point(
    rewind: str,
    *,
    initial: StartPoint,
    snapshot: StartPoint | None,
    trained: StartPoint | None,
    draw_fresh: Callable[[], StartPoint],
) -> StartPoint:
    """The start of the next round for strategy ``rewind``.

    Parameters
    ----------
    rewind : str
        One of :data:`REWIND_STRATEGIES`.
    initial : StartPoint
        The initial weights W0 at step 0.
    snapshot : StartPoint or None
        Round 0's weights at :func:`snapshot_step` (``"early"``, ``"late"``).
    trained : StartPoint or None
        The weights at the end of the round just finished (``"lr"``,
        ``"none"``).
    draw_fresh : callable
        Draws a new random initialisation (``"reinit"``).
    """
    if rewind == "init":
        return initial
    if rewind in ("early", "late"):
        return snapshot
    if rewind == "lr":
        return replace(trained, step=0, hold_final_lr=False)
    if rewind == "none":
        return replace(trained, hold_final_lr=True)
    if rewind == "reinit":
        return draw_fresh()
    raise ValueError(
        f"Unknown rewind strategy {rewind!r}; choose one of {REWIND_STRATEGIES}."
    )
