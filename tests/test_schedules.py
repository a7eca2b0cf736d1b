import numpy as np
import pytest

from sklearn_lth._rewinding import StartPoint
from sklearn_lth._schedules import (
    FINAL_LR_FRACTION,
    SCHEDULES,
    LearningRateSchedule,
    make_schedule,
)
from sklearn_lth._training import TrainingConfig


def _schedule(name, steps=100, *, step=0, hold_final_lr=False, lr=0.1):
    config = TrainingConfig(learning_rate=name, learning_rate_init=lr)
    start = StartPoint([], [], step=step, hold_final_lr=hold_final_lr)
    return make_schedule(config, start, steps)


@pytest.mark.parametrize("schedule", ["constant", "cosine", "step"])
def test_schedules_start_at_lr_init_and_decay(schedule):
    rate_at = _schedule(schedule, lr=0.1).rate_at
    assert rate_at(0.0) == pytest.approx(0.1)
    end = rate_at(1.0)
    expected = 0.1 if schedule == "constant" else 0.1 * FINAL_LR_FRACTION
    assert end == pytest.approx(expected)
    lrs = [rate_at(t) for t in np.linspace(0, 1, 11)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_the_rate_of_a_step_is_the_rate_at_its_progress(name):
    schedule = _schedule(name, steps=40)
    assert isinstance(schedule, LearningRateSchedule) and schedule.name == name
    for step in range(41):
        assert schedule.learning_rate(step) == schedule.rate_at(step / 40)
    # Past the end (a round rewound part-way trains max_iter epochs): the end.
    assert schedule.learning_rate(55) == schedule.rate_at(1.0)


def test_the_step_schedule_divides_by_ten_at_half_and_three_quarters():
    schedule = _schedule("step", steps=8, lr=1.0)
    rates = [schedule.learning_rate(step) for step in range(8)]
    assert rates == pytest.approx([1, 1, 1, 1, 0.1, 0.1, 0.01, 0.01])


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_holding_the_final_rate_trains_at_the_end_of_the_schedule(name):
    """rewind="none": every step at the schedule's final rate."""
    held = _schedule(name, steps=30, step=4, hold_final_lr=True)
    final = _schedule(name, steps=30).rate_at(1.0)
    assert [held.learning_rate(step) for step in (0, 4, 15, 30)] == [final] * 4


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_the_end_of_epoch_hook_changes_nothing_yet(name):
    schedule = _schedule(name, steps=10)
    before = [schedule.learning_rate(step) for step in range(11)]
    assert not schedule.end_epoch(samples_seen=500, epochs_without_improvement=20)
    assert [schedule.learning_rate(step) for step in range(11)] == before


def test_an_unknown_schedule_is_a_value_error():
    with pytest.raises(ValueError, match="Unknown learning-rate schedule 'linear'"):
        _schedule("linear")
