"""Learning-rate schedules: the learning rate of each optimizer step of a round.

One class per value of the estimators' ``learning_rate`` parameter, each
owning what its name means. :func:`make_schedule` builds one per round from
the training configuration and the round's
:class:`~sklearn_lth._rewinding.StartPoint`, which says where on the schedule
the round starts (``step``) and whether it trains at the schedule's final rate
throughout (``hold_final_lr``, the fine-tuning of ``rewind="none"``).

A new schedule is one new subclass registered in ``SCHEDULES``: a per-step
schedule implements :meth:`LearningRateSchedule.rate_at`; a per-epoch one
(scikit-learn's ``"invscaling"`` and ``"adaptive"``) subclasses
:class:`EpochSchedule`, keeping its current rate in ``rate``, which
:meth:`LearningRateSchedule.end_epoch` updates.

Rewinding, per schedule (the start point's ``step`` and ``hold_final_lr``):

==============  ==============================  ===============================
schedule        ``"early"``, ``"late"``           ``"none"`` (hold the final rate)
==============  ==============================  ===============================
per-step        the rates round 0 had from the  the rate at the schedule's end
                snapshot's step on
``invscaling``  counts the rows from the        the rate after ``max_iter``
                epochs round 0 had completed    epochs' rows, held
                at the snapshot's step
``adaptive``    ``learning_rate_init``          ``learning_rate_init`` (as
                                                ``"lr"``)
==============  ==============================  ===============================

``"init"``, ``"lr"`` and ``"reinit"`` start every schedule from its start.
``"adaptive"`` has no position: its rate follows the stalls of the round that
trains, so every round starts from ``learning_rate_init`` and divides it as
that round stalls (a start point carries no rate a round ended with).

scikit-learn applies ``"invscaling"`` and ``"adaptive"`` to ``solver="sgd"``
only: with Adam they are the constant rate, as there.

``partial_fit`` trains a stream, one epoch per call, with one schedule for
all its calls (:meth:`LearningRateSchedule.for_stream`, built with the
optimizer at the first call). A stream has no end to schedule toward: the
per-step schedules train at ``learning_rate_init`` there. ``"invscaling"``
decays with the rows of the calls so far, as scikit-learn's does.
``"adaptive"`` keeps ``learning_rate_init``: no stopping rule counts stalls
across calls (scikit-learn's ``partial_fit`` does, and divides the rate by 5
after ``n_iter_no_change + 1`` calls without improvement).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from ._rewinding import StartPoint
    from ._training_config import TrainingConfig

# Decaying schedules end at this fraction of ``learning_rate_init``.
FINAL_LR_FRACTION = 0.01

# ``"adaptive"`` stops dividing its rate (and training stops) at this rate or
# below, as scikit-learn's ``SGDOptimizer.trigger_stopping``.
ADAPTIVE_MIN_RATE = 1e-6

# What ``"adaptive"`` divides its rate by at each stall, as scikit-learn.
ADAPTIVE_DIVISOR = 5.0


class LearningRateSchedule:
    """The learning rate at every optimizer step of one round.

    Parameters
    ----------
    learning_rate_init : float
        The rate the schedule starts from.
    scheduled_steps : int or float
        Optimizer steps from the schedule's start to its end (``max_iter``
        epochs of the round's batches); a rewound round may start part-way.
        ``math.inf`` for ``partial_fit``'s stream, which has no end.
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
        cls,
        config: TrainingConfig,
        start: StartPoint,
        scheduled_steps: int,
        *,
        n_samples: int | None = None,
    ) -> LearningRateSchedule:
        """The schedule of a round; override to read more of ``config``.

        ``n_samples`` is the number of training rows of an epoch (what a
        per-epoch schedule counts in).
        """
        return cls(
            config.learning_rate_init,
            scheduled_steps,
            hold_final=start.hold_final_lr,
        )

    @classmethod
    def for_stream(cls, config: TrainingConfig) -> LearningRateSchedule:
        """The schedule of ``partial_fit``'s calls; override for a per-epoch one.

        A stream has no end to schedule toward: a per-step schedule is the
        constant ``learning_rate_init`` there.
        """
        return ConstantSchedule(config.learning_rate_init, math.inf)

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
        """Called after every epoch; the per-step schedules do nothing here.

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


class EpochSchedule(LearningRateSchedule):
    """A rate that changes only at the end of an epoch, kept in ``rate``.

    The schedules of scikit-learn's SGD: ``rate`` is the rate of every step
    until :meth:`end_epoch` changes it, whatever the step's position.
    """

    #: The rate of the steps until the next end of an epoch.
    rate: float

    @classmethod
    def for_round(
        cls,
        config: TrainingConfig,
        start: StartPoint,
        scheduled_steps: int,
        *,
        n_samples: int | None = None,
    ) -> LearningRateSchedule:
        """The schedule of a round; Adam's is the constant rate.

        scikit-learn's ``AdamOptimizer`` takes no schedule (it never updates
        its rate at an epoch's end, and stops at the first stall): a
        ``learning_rate`` that only ``solver="sgd"`` reads there is the
        constant rate here too, so that code moved from ``MLPClassifier``
        takes the same steps.
        """
        if config.solver != "sgd":
            return ConstantSchedule.for_round(
                config, start, scheduled_steps, n_samples=n_samples
            )
        return cls._for_sgd_round(config, start, scheduled_steps, n_samples)

    @classmethod
    def _for_sgd_round(
        cls,
        config: TrainingConfig,
        start: StartPoint,
        scheduled_steps: int,
        n_samples: int | None,
    ) -> LearningRateSchedule:
        raise NotImplementedError

    @classmethod
    def for_stream(cls, config: TrainingConfig) -> LearningRateSchedule:
        """The schedule of ``partial_fit``'s calls; Adam's is the constant rate.

        With ``solver="sgd"``, each call is an epoch: :meth:`end_epoch` after
        it counts the rows of every call so far.
        """
        if config.solver != "sgd":
            return ConstantSchedule(config.learning_rate_init, math.inf)
        return cls._for_sgd_stream(config)

    @classmethod
    def _for_sgd_stream(cls, config: TrainingConfig) -> LearningRateSchedule:
        raise NotImplementedError

    def learning_rate(self, step: int) -> float:
        # The same rate for every step of an epoch, whatever its position.
        return self.rate

    def rate_at(self, progress: float) -> float:
        # No function of the position: the rate follows the epochs' ends.
        return self.rate


class InvScalingSchedule(EpochSchedule):
    """``learning_rate_init / (t + 1) ** power_t`` after ``t`` training rows.

    scikit-learn's ``"invscaling"``: ``t`` counts the rows of the epochs
    completed (its ``t_``) and the rate changes at each epoch's end, after
    the stopping rule has counted the epoch.

    Parameters
    ----------
    learning_rate_init : float
    scheduled_steps : int
    hold_final : bool, default=False
        Train at the rate after ``final_samples`` rows throughout.
    power_t : float, default=0.5
    samples_before : int, default=0
        Rows the schedule counts before the round's first epoch (a round
        rewound part-way into round 0 goes on counting from there).
    final_samples : int, default=0
        The rows of ``max_iter`` epochs: the count at the schedule's end.
    """

    name = "invscaling"

    def __init__(
        self,
        learning_rate_init: float,
        scheduled_steps: int,
        *,
        hold_final: bool = False,
        power_t: float = 0.5,
        samples_before: int = 0,
        final_samples: int = 0,
    ):
        super().__init__(learning_rate_init, scheduled_steps, hold_final=hold_final)
        self.power_t = power_t
        self.samples_before = samples_before
        self.final_samples = final_samples
        self.rate = self.rate_after(final_samples if hold_final else samples_before)

    @classmethod
    def _for_sgd_round(cls, config, start, scheduled_steps, n_samples):
        if n_samples is None:
            raise ValueError('learning_rate="invscaling" needs the rows per epoch.')
        # The rows of the epochs round 0 had completed at the start's step:
        # the round starts at the rate round 0 had there, and after j of its
        # epochs has the rate round 0 had after as many more.
        epochs_before = start.step // config.steps_per_epoch(n_samples)
        return cls(
            config.learning_rate_init,
            scheduled_steps,
            hold_final=start.hold_final_lr,
            power_t=config.power_t,
            samples_before=epochs_before * n_samples,
            final_samples=config.max_iter * n_samples,
        )

    @classmethod
    def _for_sgd_stream(cls, config):
        # Counts the rows of every call from 0 and never ends: scikit-learn's
        # ``partial_fit``, whose ``t_`` goes on from call to call.
        return cls(config.learning_rate_init, math.inf, power_t=config.power_t)

    def rate_after(self, samples: int) -> float:
        """The rate after ``samples`` training rows (scikit-learn's formula)."""
        return float(self.learning_rate_init) / (samples + 1) ** self.power_t

    def end_epoch(self, *, samples_seen: int, epochs_without_improvement: int) -> bool:
        if not self.hold_final:
            self.rate = self.rate_after(self.samples_before + samples_seen)
        return False


class AdaptiveSchedule(EpochSchedule):
    """``learning_rate_init``, divided by 5 each time training would stop.

    scikit-learn's ``"adaptive"``: when the stopping rule counts more than
    ``n_iter_no_change`` epochs without improvement, the rate is divided by 5
    and the count restarts, unless the rate is already at most
    ``ADAPTIVE_MIN_RATE``: then training stops.

    Parameters
    ----------
    learning_rate_init : float
    scheduled_steps : int
    hold_final : bool, default=False
        Ignored: the schedule has no final rate (see the module docstring).
    n_iter_no_change : int or float, default=10
        The stopping rule's patience (``np.inf``: the rate never changes).
    """

    name = "adaptive"

    def __init__(
        self,
        learning_rate_init: float,
        scheduled_steps: int,
        *,
        hold_final: bool = False,
        n_iter_no_change: float = 10,
    ):
        super().__init__(learning_rate_init, scheduled_steps, hold_final=hold_final)
        self.n_iter_no_change = n_iter_no_change
        self.rate = float(learning_rate_init)

    @classmethod
    def _for_sgd_round(cls, config, start, scheduled_steps, n_samples):
        return cls(
            config.learning_rate_init,
            scheduled_steps,
            hold_final=start.hold_final_lr,
            n_iter_no_change=config.n_iter_no_change,
        )

    @classmethod
    def _for_sgd_stream(cls, config):
        return cls(
            config.learning_rate_init,
            math.inf,
            n_iter_no_change=config.n_iter_no_change,
        )

    def end_epoch(self, *, samples_seen: int, epochs_without_improvement: int) -> bool:
        if epochs_without_improvement <= self.n_iter_no_change:
            return False  # no stall: nothing to answer
        if self.rate <= ADAPTIVE_MIN_RATE:
            return False  # too small to lower: training stops
        self.rate /= ADAPTIVE_DIVISOR
        return True


#: The schedules by the ``learning_rate`` value that selects them.
SCHEDULES: dict[str, type[LearningRateSchedule]] = {
    schedule.name: schedule
    for schedule in (
        ConstantSchedule,
        CosineSchedule,
        StepSchedule,
        InvScalingSchedule,
        AdaptiveSchedule,
    )
}


def make_schedule(
    config: TrainingConfig,
    start: StartPoint,
    scheduled_steps: int,
    *,
    n_samples: int | None = None,
) -> LearningRateSchedule:
    """The schedule ``config.learning_rate`` names, for a round from ``start``.

    ``n_samples``, the training rows of an epoch, is needed by
    ``"invscaling"`` (with ``solver="sgd"``).

    Raises
    ------
    ValueError
        When no schedule has that name.
    """
    schedule = _schedule_named(config.learning_rate)
    return schedule.for_round(config, start, scheduled_steps, n_samples=n_samples)


def make_stream_schedule(config: TrainingConfig) -> LearningRateSchedule:
    """The schedule ``config.learning_rate`` names, for ``partial_fit``'s calls.

    One for all the calls (see :meth:`LearningRateSchedule.for_stream`).

    Raises
    ------
    ValueError
        When no schedule has that name.
    """
    return _schedule_named(config.learning_rate).for_stream(config)


def _schedule_named(name: str) -> type[LearningRateSchedule]:
    schedule = SCHEDULES.get(name)
    if schedule is None:
        raise ValueError(f"Unknown learning-rate schedule {name!r}.")
    return schedule
