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
from dataclasses import dataclass

import numpy as np

REWIND_STRATEGIES = ("init", "early", "late", "lr", "none", "reinit")


@dataclass
class StartPoint:
    """Where a round of training starts.

    Attributes
    ----------
    weights, biases : list of ndarray
        Dense weights (only the kept positions are read) and biases.
    step : int
        Position on the learning-rate schedule, in optimizer steps.
    hold_final_lr : bool
        Train at the schedule's final learning rate throughout.
    """

    weights: list[np.ndarray]
    biases: list[np.ndarray]
    step: int = 0
    hold_final_lr: bool = False


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
        return StartPoint(trained.weights, trained.biases, step=0)
    if rewind == "none":
        return StartPoint(trained.weights, trained.biases, hold_final_lr=True)
    if rewind == "reinit":
        return draw_fresh()
    raise ValueError(
        f"Unknown rewind strategy {rewind!r}; choose one of {REWIND_STRATEGIES}."
    )
