"""Learning-rate schedules: the learning rate of each optimizer step of a round.

One class per value of the estimators' ``learning_rate`` parameter, each
owning what its name means. :func:`make_schedule` builds one per round from
the training configuration and the round's
:class:`~sklearn_lth._rewinding.StartPoint`, which says where on the schedule
the round starts (``step``) and whether it trains at the schedule's final rate
throughout (``hold_final_lr``, the fine-tuning of ``rewind="none"``).

A new schedule is one new subclass registered in ``SCHEDULES``: a per-step
schedule implements :meth:`LearningRateSchedule.rate_at`; a per-epoch one
(scikit-learn's ``"invscaling"`` and ``"adaptive"``, not implemented yet) keeps
its current rate in an attribute that
:meth:`LearningRateSchedule.learning_rate` returns and that
:meth:`LearningRateSchedule.end_epoch` updates.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from ._rewinding import StartPoint
    from ._training import TrainingConfig

# Decaying schedules end at this fraction of ``learning_rate_init``.
FINAL_LR_FRACTION = 0.01


class LearningRateSchedule:
    """The learning rate at every optimizer step of one round.

    Parameters
    ----------
    learning_rate_init : float
        The rate the schedule starts from.
    scheduled_steps : int
        Optimizer steps from the schedule's start to its end (``max_iter``
        epochs of the round's batches); a rewound round may start part-way.
    hold_final : bool, default=False
        Train at the schedule's final rate at every step (``rewind="none"``).
    """

    #: The ``learning_rate`` parameter's value that selects this schedule.
    name: ClassVar[str]

    def __init__(
        self,
        learning_rate_init: float,
        scheduled_steps: int,
        *,
        hold_final: bool = False,
    ):
        self.learning_rate_init = learning_rate_init
        self.scheduled_steps = scheduled_steps
        self.hold_final = hold_final

    @classmethod
    def for_round(
        cls, config: TrainingConfig, start: StartPoint, scheduled_steps: int
    ) -> LearningRateSchedule:
        """The schedule of a round; override to read more of ``config``."""
        return cls(
            config.learning_rate_init,
            scheduled_steps,
            hold_final=start.hold_final_lr,
        )

    def learning_rate(self, step: int) -> float:
        """The rate of the optimizer step at position ``step`` on the schedule.

        ``step`` counts from the schedule's start, not the round's: a round
        rewound to step ``k`` asks first for step ``k``. Steps past the end
        keep the final rate.
        """
        # A function of the position alone: a round rewound to step k goes on
        # at the rates round 0 had from its step k.
        progress = 1.0 if self.hold_final else step / self.scheduled_steps
        return self.rate_at(min(max(progress, 0.0), 1.0))

    def rate_at(self, progress: float) -> float:
        """The rate at ``progress`` along the schedule (0: start, 1: end)."""
        raise NotImplementedError

    def end_epoch(self, *, samples_seen: int, epochs_without_improvement: int) -> bool:
        """Called after every epoch; the built-in schedules do nothing here.

        Parameters
        ----------
        samples_seen : int
            Training rows seen in this round so far (what scikit-learn's
            ``"invscaling"`` divides by).
        epochs_without_improvement : int
            The stopping rule's count after this epoch (what scikit-learn's
            ``"adaptive"`` compares with ``n_iter_no_change`` before dividing
            its rate by 5).

        Returns
        -------
        answered_stall : bool
            True when the schedule lowered its rate in answer to the stall:
            the count of epochs without improvement then restarts instead of
            training stopping, as scikit-learn's ``trigger_stopping``.
        """
        return False


class ConstantSchedule(LearningRateSchedule):
    """``learning_rate_init`` at every step."""

    name = "constant"

    def learning_rate(self, step: int) -> float:
        # The same rate at every step, held at the end or not.
        return self.learning_rate_init

    def rate_at(self, progress: float) -> float:
        return self.learning_rate_init


class CosineSchedule(LearningRateSchedule):
    """Half a cosine from ``learning_rate_init`` to ``FINAL_LR_FRACTION`` of it."""

    name = "cosine"

    def rate_at(self, progress: float) -> float:
        lr_min = FINAL_LR_FRACTION * self.learning_rate_init
        half_range = 0.5 * (self.learning_rate_init - lr_min)
        return lr_min + half_range * (1 + math.cos(math.pi * progress))


class StepSchedule(LearningRateSchedule):
    """``learning_rate_init``, divided by 10 at half and again at three quarters."""

    name = "step"

    def rate_at(self, progress: float) -> float:
        # The booleans add up to the number of milestones passed (0, 1 or 2).
        return self.learning_rate_init * (
            0.1 ** ((progress >= 0.5) + (progress >= 0.75))
        )


#: The schedules by the ``learning_rate`` value that selects them.
SCHEDULES: dict[str, type[LearningRateSchedule]] = {
    schedule.name: schedule
    for schedule in (ConstantSchedule, CosineSchedule, StepSchedule)
}


def make_schedule(
    config: TrainingConfig, start: StartPoint, scheduled_steps: int
) -> LearningRateSchedule:
    """The schedule ``config.learning_rate`` names, for a round from ``start``.

    Raises
    ------
    ValueError
        When no schedule has that name.
    """
    schedule = SCHEDULES.get(config.learning_rate)
    if schedule is None:
        raise ValueError(f"Unknown learning-rate schedule {config.learning_rate!r}.")
    return schedule.for_round(config, start, scheduled_steps)
