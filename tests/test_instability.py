"""instability and InstabilityDisplay: linear mode connectivity."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_digits
from sklearn.preprocessing import StandardScaler

import sklearn_lth._instability as module
from sklearn_lth import (
    InstabilityDisplay,
    LotteryTicket,
    LotteryTicketMLP,
    LotteryTicketMLPRegressor,
    instability,
    stable_rewind_iteration,
)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return StandardScaler().fit_transform(X[:600]), y[:600]


def test_training_from_initialisation_is_stable_on_digits(digits):
    """The paper's finding for LeNet on MNIST: from iteration 0 the two copies
    end in one valley, far below the barrier between independent starts."""
    X, y = digits
    result = instability(
        LotteryTicketMLP((64,), max_iter=40), X, y, n_points=7, random_state=0
    )
    np.testing.assert_allclose(result.alphas, np.linspace(0, 1, 7))
    assert result.errors.shape == result.reference_errors.shape == (7,)
    ends = (result.errors[0] + result.errors[-1]) / 2
    assert result.barrier == pytest.approx(result.errors.max() - ends)
    assert result.barrier < 0.02
    assert result.reference_barrier > result.barrier + 0.01


def test_the_same_random_state_gives_the_same_analysis(digits):
    X, y = digits
    kwargs = dict(n_points=3, random_state=4, rewind_iteration=3)
    first = instability(LotteryTicketMLP((16,), max_iter=5), X, y, **kwargs)
    second = instability(LotteryTicketMLP((16,), max_iter=5), X, y, **kwargs)
    np.testing.assert_array_equal(first.errors, second.errors)
    np.testing.assert_array_equal(first.reference_errors, second.reference_errors)


def test_a_later_state_is_the_initial_one_after_that_many_steps(digits):
    X, y = digits
    estimator = LotteryTicketMLP((16,), batch_size=50)
    initial = module._state_at(estimator, X, y, 0, 1, 2)
    later = module._state_at(estimator, X, y, 4, 1, 2)
    moved = [
        np.abs((a - b).toarray()).max() for a, b in zip(initial.weights, later.weights)
    ]
    assert all(m > 0 for m in moved)
    # The same masks (dense here), the steps changed the weights only.
    assert [W.nnz for W in initial.weights] == [W.nnz for W in later.weights]


def test_a_ticket_keeps_its_masks_along_the_line_and_in_the_reference(digits):
    X, y = digits
    rng = np.random.RandomState(0)
    masks = [rng.uniform(size=(64, 12)) < 0.3, rng.uniform(size=(12, 10)) < 0.5]
    ticket = LotteryTicket(
        [sp.csr_array(rng.normal(size=m.shape) * 0.3 * m) for m in masks],
        [np.zeros(12), np.zeros(10)],
    )
    estimator = LotteryTicketMLP(ticket=ticket, max_iter=10)
    fresh = module._initial(estimator, X, y, 7)
    for W, mask in zip(fresh.weights, masks):
        assert not (W.toarray() != 0)[~mask].any()
    result = instability(estimator, X, y, n_points=3, random_state=0)
    assert (
        np.isfinite(result.errors).all() and np.isfinite(result.reference_errors).all()
    )


def test_a_regressor_and_bad_arguments(digits):
    X, y = digits
    result = instability(
        LotteryTicketMLPRegressor((8,), max_iter=5),
        X,
        y.astype(float),
        n_points=3,
        random_state=0,
    )
    assert np.isfinite(result.errors).all()  # 1 - R2
    with pytest.raises(TypeError, match="not StandardScaler"):
        instability(StandardScaler(), X, y)
    with pytest.raises(ValueError, match="n_points must be an integer >= 2"):
        instability(LotteryTicketMLP(), X, y, n_points=1)
    with pytest.raises(ValueError, match="rewind_iteration must be an integer >= 0"):
        instability(LotteryTicketMLP(), X, y, rewind_iteration=-1)


def test_the_display_draws_both_lines(digits):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    X, y = digits
    display = InstabilityDisplay.from_estimator(
        LotteryTicketMLP((16,), max_iter=5), X, y, n_points=3, random_state=0
    )
    np.testing.assert_allclose(display.line_.get_xdata(), [0, 0.5, 1])
    assert display.reference_line_ is not None
    assert display.line_.get_label() == "from iteration 0"


def test_the_chooser_stops_at_the_first_stable_iteration(digits, monkeypatch):
    from sklearn.utils import Bunch

    barriers = {0: 0.2, 5: 0.05, 20: 0.01, 50: 0.0}
    tried = []

    def fake(estimator, X, y, *, rewind_iteration, **kwargs):
        tried.append(rewind_iteration)
        return Bunch(barrier=barriers[rewind_iteration])

    monkeypatch.setattr(module, "instability", fake)
    X, y = digits
    found = stable_rewind_iteration(
        LotteryTicketMLP(), X, y, candidates=(0, 5, 20, 50), tolerance=0.02
    )
    assert found.rewind_iteration == 20 and tried == [0, 5, 20]
    assert found.barriers == {0: 0.2, 5: 0.05, 20: 0.01}
    none = stable_rewind_iteration(
        LotteryTicketMLP(), X, y, candidates=(0, 5), tolerance=0.01
    )
    assert none.rewind_iteration is None
    with pytest.raises(ValueError, match="increasing"):
        stable_rewind_iteration(LotteryTicketMLP(), X, y, candidates=(5, 0))


def test_later_states_from_data_frames_series_and_lists(digits):
    pd = pytest.importorskip("pandas")
    X, y = digits
    frame = pd.DataFrame(X[:200])
    labels = pd.Series(y[:200], index=np.arange(1000, 1200))
    estimator = LotteryTicketMLP((8,), max_iter=3, early_stopping=True, batch_size=50)
    for X_in, y_in in ((frame, labels), (X[:200].tolist(), y[:200].tolist())):
        result = instability(
            estimator, X_in, y_in, rewind_iteration=2, n_points=3, random_state=0
        )
        assert np.isfinite(result.errors).all()


def test_what_instability_cannot_do_is_refused_by_name(digits):
    X, y = digits
    with pytest.raises(ValueError, match="solver='lbfgs' has not"):
        instability(LotteryTicketMLP(solver="lbfgs"), X, y, rewind_iteration=3)
    with pytest.raises(ValueError, match="X_test and y_test go together"):
        instability(LotteryTicketMLP(), X, y, X_test=X)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"tolerance": "x"}, "tolerance must be a number >= 0"),
        ({"tolerance": None}, "tolerance must be a number >= 0"),
        ({"tolerance": -1}, "tolerance must be a number >= 0"),
        ({"candidates": 5}, "candidates must be a sequence of increasing"),
        ({"candidates": [0, 1.5]}, "candidates must be a sequence of increasing"),
        ({"candidates": [10, 5]}, "candidates must be a sequence of increasing"),
    ],
)
def test_the_chooser_refuses_bad_arguments_before_training(digits, kwargs, message):
    X, y = digits
    with pytest.raises(ValueError, match=message):
        stable_rewind_iteration(LotteryTicketMLP(max_iter=1), X, y, **kwargs)


@pytest.mark.parametrize(
    "params, why",
    [
        ({}, "batch_size='auto' makes every epoch one batch of all 150 rows"),
        ({"batch_size": 500}, "batch_size=500 makes every epoch one batch"),
        ({"batch_size": 30, "shuffle": False}, "shuffle=False gives both"),
        ({"solver": "lbfgs"}, "solver='lbfgs' trains on all the rows at once"),
    ],
)
def test_copies_that_see_the_same_batches_are_warned_of(digits, params, why):
    """Then only the data order could tell them apart: barrier 0 by
    construction (a user's 178-row run reported 0 for a network that had
    learned nothing)."""
    X, y = digits
    estimator = LotteryTicketMLP((8,), max_iter=2, **params)
    with pytest.warns(
        UserWarning, match=f"The two copies see the same batches \\({why}"
    ):
        result = instability(estimator, X[:150], y[:150], n_points=2, random_state=0)
    assert result.barrier == 0


def test_shuffled_mini_batches_are_not_warned_of(digits):
    X, y = digits
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        warnings.filterwarnings("ignore", message="Round\\(s\\)")
        instability(
            LotteryTicketMLP((8,), max_iter=2, batch_size=50),
            X[:150],
            y[:150],
            n_points=2,
            random_state=0,
        )


def test_the_display_refuses_arguments_it_cannot_draw_by_name():
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    with pytest.raises(ValueError, match=r"errors must have one value per alpha"):
        InstabilityDisplay(alphas=[0, 0.5, 1], errors=[0.1, 0.2]).plot()
    with pytest.raises(ValueError, match="reference_errors must have one value"):
        InstabilityDisplay(
            alphas=[0, 1], errors=[0.1, 0.2], reference_errors=[0.1]
        ).plot()
    with pytest.raises(ValueError, match="alphas must be 1-d with 2 points"):
        InstabilityDisplay(alphas=[0], errors=[0.1]).plot()
