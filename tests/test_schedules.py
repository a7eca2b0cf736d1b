import warnings

import numpy as np
import pytest
from sklearn.neural_network import MLPClassifier, MLPRegressor

from sklearn_lth import LotteryTicketMLP, LotteryTicketMLPRegressor
from sklearn_lth._rewinding import StartPoint
from sklearn_lth._schedules import (
    ADAPTIVE_MIN_RATE,
    FINAL_LR_FRACTION,
    SCHEDULES,
    AdaptiveSchedule,
    ConstantSchedule,
    EpochSchedule,
    InvScalingSchedule,
    LearningRateSchedule,
    make_schedule,
    make_stream_schedule,
)
from sklearn_lth._training_config import TrainingConfig

# The schedules whose rate is a function of the step's position alone.
PER_STEP = sorted(
    name for name, cls in SCHEDULES.items() if not issubclass(cls, EpochSchedule)
)


def _schedule(
    name, steps=100, *, step=0, hold_final_lr=False, lr=0.1, n_samples=50, **config
):
    config = TrainingConfig(learning_rate=name, learning_rate_init=lr, **config)
    start = StartPoint([], [], step=step, hold_final_lr=hold_final_lr)
    return make_schedule(config, start, steps, n_samples=n_samples)


@pytest.mark.parametrize("schedule", ["constant", "cosine", "step"])
def test_schedules_start_at_lr_init_and_decay(schedule):
    rate_at = _schedule(schedule, lr=0.1).rate_at
    assert rate_at(0.0) == pytest.approx(0.1)
    end = rate_at(1.0)
    expected = 0.1 if schedule == "constant" else 0.1 * FINAL_LR_FRACTION
    assert end == pytest.approx(expected)
    lrs = [rate_at(t) for t in np.linspace(0, 1, 11)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))


@pytest.mark.parametrize("name", PER_STEP)
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


@pytest.mark.parametrize("name", PER_STEP)
def test_holding_the_final_rate_trains_at_the_end_of_the_schedule(name):
    """rewind="none": every step at the schedule's final rate."""
    held = _schedule(name, steps=30, step=4, hold_final_lr=True)
    final = _schedule(name, steps=30).rate_at(1.0)
    assert [held.learning_rate(step) for step in (0, 4, 15, 30)] == [final] * 4


@pytest.mark.parametrize("name", PER_STEP)
def test_the_end_of_epoch_hook_changes_no_per_step_schedule(name):
    schedule = _schedule(name, steps=10)
    before = [schedule.learning_rate(step) for step in range(11)]
    assert not schedule.end_epoch(samples_seen=500, epochs_without_improvement=20)
    assert [schedule.learning_rate(step) for step in range(11)] == before


def test_an_unknown_schedule_is_a_value_error():
    with pytest.raises(ValueError, match="Unknown learning-rate schedule 'linear'"):
        _schedule("linear")


# -- scikit-learn's per-epoch schedules ------------------------------------------


def test_invscaling_updates_its_rate_from_the_rows_seen_at_each_epochs_end():
    schedule = _schedule("invscaling", lr=0.2, power_t=0.25, solver="sgd")
    assert isinstance(schedule, InvScalingSchedule)
    # One rate for every step of an epoch, learning_rate_init in the first.
    assert {schedule.learning_rate(step) for step in range(7)} == {0.2}
    for epoch in (1, 2, 3):
        # Training goes on whatever the stall: the hook never answers it.
        assert not schedule.end_epoch(
            samples_seen=50 * epoch, epochs_without_improvement=99
        )
        expected = 0.2 / (50 * epoch + 1) ** 0.25  # scikit-learn's formula
        assert schedule.learning_rate(0) == schedule.learning_rate(99) == expected


def test_invscaling_counts_rows_as_a_position_for_rewinding():
    """Rewinding: "early" and "late" go on from the epochs round 0 had
    completed at the rewind step; "none" holds the rate after max_iter
    epochs; "lr" (step 0) restarts."""
    # 50 rows in batches of 20: 3 steps per epoch; step 7 is in epoch 3.
    common = dict(lr=0.5, power_t=0.5, solver="sgd", batch_size=20, max_iter=10)
    rewound = _schedule("invscaling", step=7, **common)
    assert rewound.learning_rate(7) == 0.5 / (2 * 50 + 1) ** 0.5
    rewound.end_epoch(samples_seen=50, epochs_without_improvement=0)
    assert rewound.learning_rate(10) == 0.5 / (3 * 50 + 1) ** 0.5

    held = _schedule("invscaling", step=7, hold_final_lr=True, **common)
    final = 0.5 / (10 * 50 + 1) ** 0.5
    assert held.learning_rate(0) == final
    held.end_epoch(samples_seen=50, epochs_without_improvement=0)
    assert held.learning_rate(3) == final

    assert _schedule("invscaling", step=0, **common).learning_rate(0) == 0.5


def test_invscaling_needs_the_rows_per_epoch():
    config = TrainingConfig(learning_rate="invscaling", solver="sgd")
    with pytest.raises(ValueError, match="rows per epoch"):
        make_schedule(config, StartPoint([], []), 10)


def test_adaptive_divides_by_five_instead_of_stopping_until_the_rate_is_tiny():
    schedule = _schedule("adaptive", lr=1e-4, n_iter_no_change=3, solver="sgd")
    assert isinstance(schedule, AdaptiveSchedule)
    # The stopping rule's count up to its patience: nothing changes.
    for count in (0, 1, 2, 3):
        assert not schedule.end_epoch(samples_seen=0, epochs_without_improvement=count)
        assert schedule.learning_rate(0) == 1e-4
    # Past it: the rate is divided and the count restarts (True), ...
    rates = []
    while schedule.end_epoch(samples_seen=0, epochs_without_improvement=4):
        rates.append(schedule.learning_rate(0))
    expected = [1e-4 / 5, 1e-4 / 5 / 5, 1e-4 / 5 / 5 / 5]
    assert rates == expected  # the same float divisions as scikit-learn
    # ... until the rate is at most 1e-6: then training stops (False).
    assert rates[-2] > ADAPTIVE_MIN_RATE >= rates[-1]
    assert schedule.learning_rate(0) == rates[-1]


def test_adaptive_never_changes_with_infinite_patience():
    schedule = _schedule("adaptive", n_iter_no_change=np.inf, solver="sgd")
    assert not schedule.end_epoch(samples_seen=0, epochs_without_improvement=10**6)
    assert schedule.learning_rate(0) == 0.1


@pytest.mark.parametrize("hold_final_lr", [False, True])
def test_adaptive_starts_every_round_at_lr_init(hold_final_lr):
    """The adaptive rate has no position: a rewound round ("early", "late",
    "none" alike) starts at the initial rate."""
    schedule = _schedule(
        "adaptive", step=13, hold_final_lr=hold_final_lr, lr=0.3, solver="sgd"
    )
    assert schedule.learning_rate(13) == 0.3


@pytest.mark.parametrize("name", ["invscaling", "adaptive"])
def test_with_adam_the_sgd_schedules_are_the_constant_rate(name):
    """scikit-learn's Adam ignores learning_rate: so does ours."""
    schedule = _schedule(name, lr=0.01, solver="adam", n_iter_no_change=1)
    assert type(schedule) is ConstantSchedule
    assert not schedule.end_epoch(samples_seen=500, epochs_without_improvement=9)
    assert schedule.learning_rate(1000) == 0.01


# -- partial_fit's stream: one schedule for all the calls --------------------------


@pytest.mark.parametrize("name", PER_STEP)
@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_a_stream_has_no_end_so_per_step_schedules_are_constant(name, solver):
    config = TrainingConfig(learning_rate=name, learning_rate_init=0.1, solver=solver)
    schedule = make_stream_schedule(config)
    assert [schedule.learning_rate(step) for step in (0, 10, 10**6)] == [0.1] * 3
    assert not schedule.end_epoch(samples_seen=100, epochs_without_improvement=0)
    assert schedule.learning_rate(10**7) == 0.1


def test_invscaling_on_a_stream_decays_with_the_rows_of_every_call():
    config = TrainingConfig(
        learning_rate="invscaling", learning_rate_init=0.2, power_t=0.25, solver="sgd"
    )
    schedule = make_stream_schedule(config)
    assert schedule.learning_rate(0) == 0.2
    for seen in (30, 60, 75):  # calls of 30, 30 and 15 rows
        assert not schedule.end_epoch(samples_seen=seen, epochs_without_improvement=0)
        # scikit-learn's formula, its t_ counting the rows of every call
        assert schedule.learning_rate(seen) == 0.2 / (seen + 1) ** 0.25
    adam = TrainingConfig(learning_rate="invscaling", solver="adam")
    assert type(make_stream_schedule(adam)) is ConstantSchedule


def test_adaptive_on_a_stream_keeps_its_rate_when_no_stall_is_counted():
    config = TrainingConfig(
        learning_rate="adaptive",
        learning_rate_init=0.3,
        solver="sgd",
        n_iter_no_change=1,
    )
    schedule = make_stream_schedule(config)
    for seen in (10, 20, 30):
        assert not schedule.end_epoch(samples_seen=seen, epochs_without_improvement=0)
    assert schedule.learning_rate(3) == 0.3


def test_partial_fit_trains_the_other_schedules_at_lr_init(small_classification):
    """Per-step schedules and adaptive (no stall counted): the constant's steps."""
    X, y = small_classification
    coefs = {}
    for name in ("constant", "cosine", "step", "adaptive"):
        model = LotteryTicketMLP(
            (5,), solver="sgd", learning_rate=name, target_sparsity=0.0, random_state=0
        )
        for start in (0, 40, 80):
            rows = slice(start, start + 40)
            model.partial_fit(X[rows], y[rows], classes=np.unique(y))
        coefs[name] = [W.toarray() for W in model.coefs_]
    for name in ("cosine", "step", "adaptive"):
        for W, C in zip(coefs[name], coefs["constant"]):
            np.testing.assert_array_equal(W, C)


def test_an_unknown_stream_schedule_is_a_value_error():
    with pytest.raises(ValueError, match="Unknown learning-rate schedule 'linear'"):
        make_stream_schedule(TrainingConfig(learning_rate="linear"))


# -- the same steps as scikit-learn's MLP at target_sparsity=0.0 ------------------


def _both(theirs_class, ours_class, X, y, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # max_iter reached
        theirs = theirs_class(**params).fit(X, y)
        ours = ours_class(target_sparsity=0.0, **params).fit(X, y)
    return theirs, ours


def _assert_same_steps(theirs, ours):
    assert ours.n_iter_ == theirs.n_iter_
    for a, b in zip(ours.coefs_, theirs.coefs_):
        np.testing.assert_allclose(a.toarray(), b, rtol=1e-9, atol=1e-12)
    for a, b in zip(ours.intercepts_, theirs.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-9)


SGD = dict(hidden_layer_sizes=(9,), solver="sgd", batch_size=32, random_state=0)


@pytest.mark.parametrize("nesterovs_momentum", [True, False])
@pytest.mark.parametrize("power_t", [0.5, 0.25])
def test_invscaling_takes_scikit_learns_steps(
    small_classification, nesterovs_momentum, power_t
):
    X, y = small_classification
    theirs, ours = _both(
        MLPClassifier,
        LotteryTicketMLP,
        X,
        y,
        **SGD,
        learning_rate="invscaling",
        power_t=power_t,
        learning_rate_init=0.2,
        nesterovs_momentum=nesterovs_momentum,
        max_iter=25,
    )
    # The rate did decay, to the same value.
    final_rate = 0.2 / (theirs.t_ + 1) ** power_t
    assert theirs._optimizer.learning_rate == final_rate
    _assert_same_steps(theirs, ours)


@pytest.mark.parametrize("early_stopping", [False, True])
def test_adaptive_takes_scikit_learns_steps_and_stops_where_it_does(
    small_classification, early_stopping
):
    X, y = small_classification
    theirs, ours = _both(
        MLPClassifier,
        LotteryTicketMLP,
        X,
        y,
        **SGD,
        learning_rate="adaptive",
        learning_rate_init=0.5,
        tol=1e-2,
        n_iter_no_change=2,
        early_stopping=early_stopping,
        max_iter=80,
    )
    # The rate was divided down to 1e-6 or below, then training stopped.
    assert theirs._optimizer.learning_rate <= ADAPTIVE_MIN_RATE
    assert ours.n_iter_ < 80
    _assert_same_steps(theirs, ours)
    if early_stopping:
        assert ours.validation_scores_ == theirs.validation_scores_


def test_the_regressor_takes_scikit_learns_invscaling_steps():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 5))
    y = X @ rng.normal(size=5)
    theirs, ours = _both(
        MLPRegressor,
        LotteryTicketMLPRegressor,
        X,
        y,
        **{**SGD, "batch_size": 16},
        learning_rate="invscaling",
        learning_rate_init=0.05,
        max_iter=15,
    )
    _assert_same_steps(theirs, ours)


@pytest.mark.parametrize("learning_rate", ["invscaling", "adaptive"])
def test_with_adam_the_sgd_schedules_take_scikit_learns_steps(
    small_classification, learning_rate
):
    X, y = small_classification
    theirs, ours = _both(
        MLPClassifier,
        LotteryTicketMLP,
        X,
        y,
        hidden_layer_sizes=(9,),
        batch_size=32,
        random_state=0,
        learning_rate=learning_rate,
        learning_rate_init=0.05,
        tol=1e-2,
        n_iter_no_change=2,
        max_iter=40,
    )
    _assert_same_steps(theirs, ours)


@pytest.mark.parametrize("rewind", ["init", "lr", "none", "early", "late"])
@pytest.mark.parametrize("learning_rate", ["invscaling", "adaptive"])
def test_the_sgd_schedules_search_with_every_rewind(
    small_classification, rewind, learning_rate
):
    X, y = small_classification
    model = LotteryTicketMLP(
        **SGD,
        learning_rate=learning_rate,
        learning_rate_init=0.2,
        rewind=rewind,
        rewind_iteration=5,
        target_sparsity=0.5,
        pruning_rounds=2,
        max_iter=8,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # max_iter reached
        model.fit(X, y)
    np.testing.assert_allclose(model.history_["sparsity"], [0.0, 0.293, 0.5], atol=0.01)
    assert model.score(X, y) > 0.5
