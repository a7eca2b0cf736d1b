"""sparsity_curve and SparsityCurveDisplay: the paper's experiment in one call."""

import warnings

import numpy as np
import pytest
from _helpers import returns_of
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import sklearn_lth
import sklearn_lth._sparsity_curve as curve_module
from sklearn_lth import (
    LotteryTicketMLP,
    LotteryTicketMLPRegressor,
    SparsityCurveDisplay,
    sparsity_curve,
)

SEARCH = dict(
    hidden_layer_sizes=(10,), target_sparsity=0.8, pruning_rounds=2, max_iter=10
)


@pytest.fixture
def data():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(90, 6))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    return X, y


def test_shapes_and_arms(data):
    X, y = data
    curve = sparsity_curve(
        LotteryTicketMLP(**SEARCH), X, y, cv=3, n_seeds=2, random_state=0
    )
    assert curve.weights_remaining.shape == (3,)
    assert curve.weights_remaining[0] == 1.0
    np.testing.assert_allclose(curve.weights_remaining[-1], 0.2, atol=0.02)
    assert (
        set(curve.scores)
        == set(curve.early_stop_iteration)
        == {
            "ticket",
            "reinit",
            "random",
        }
    )
    for arm in curve.scores:
        assert curve.scores[arm].shape == (2, 3)
        assert np.isfinite(curve.scores[arm]).all()
        # No validation rows held out: no early-stopping iteration.
        assert np.isnan(curve.early_stop_iteration[arm]).all()
    # Round 0 is the same dense network in every arm of a seed.
    np.testing.assert_array_equal(
        curve.scores["ticket"][:, 0], curve.scores["random"][:, 0]
    )
    assert curve.seeds.shape == (2,) and curve.seeds[0] != curve.seeds[1]


def test_the_seeds_give_the_same_curve_for_any_n_jobs(data):
    X, y = data
    kwargs = dict(cv=2, n_seeds=2, random_state=3, controls=("reinit",))
    serial = sparsity_curve(LotteryTicketMLP(**SEARCH), X, y, n_jobs=1, **kwargs)
    parallel = sparsity_curve(LotteryTicketMLP(**SEARCH), X, y, n_jobs=2, **kwargs)
    for arm in serial.scores:
        np.testing.assert_array_equal(serial.scores[arm], parallel.scores[arm])
    np.testing.assert_array_equal(serial.seeds, parallel.seeds)


def test_arms_that_would_leave_workers_idle_run_with_their_dense_round(
    data, monkeypatch
):
    """5 seeds' 15 arms on 2 workers: one arm (random pruning's, the
    longest) goes on in its dense round's task, so that the other 14 are
    whole waves; none when the arms already are, or when there are no more
    dense rounds than workers."""
    order = sorted(
        ((t, arm) for t in range(5) for arm in ("ticket", "reinit", "random")),
        key=lambda task: task[1] != "random",
    )
    assert curve_module._carried_arms(order, 5, 2) == {0: "random"}
    assert curve_module._carried_arms(order, 5, 4) == {
        0: "random",
        1: "random",
        2: "random",
    }
    assert curve_module._carried_arms(order, 5, 1) == {}
    assert curve_module._carried_arms(order, 5, 5) == {}  # 15 arms: 3 waves
    assert curve_module._carried_arms(order, 5, 8) == {}  # 5 dense rounds, 8 workers
    # And the curve is the one every n_jobs gives (3 seeds' 9 arms on 2
    # workers: one is carried).
    X, y = data
    carried = returns_of(monkeypatch, curve_module, "_carried_arms")
    kwargs = dict(X_test=X[:30], y_test=y[:30], n_seeds=3, random_state=1)
    serial = sparsity_curve(LotteryTicketMLP(**SEARCH), X, y, n_jobs=1, **kwargs)
    parallel = sparsity_curve(LotteryTicketMLP(**SEARCH), X, y, n_jobs=2, **kwargs)
    assert carried == [{}, {0: "random"}]
    for arm in serial.scores:
        np.testing.assert_array_equal(serial.scores[arm], parallel.scores[arm])
        np.testing.assert_array_equal(
            serial.early_stop_iteration[arm], parallel.early_stop_iteration[arm]
        )


def test_the_controls_are_the_papers(data, monkeypatch):
    """reinit re-draws the weights, random draws the masks: each arm is the
    search with that one parameter changed (and its own seed)."""
    X, y = data
    fitted = []
    real = curve_module._scored_search

    def spy(model, *args):
        fitted.append(model.get_params())
        return real(model, *args)

    monkeypatch.setattr(curve_module, "_scored_search", spy)
    sparsity_curve(LotteryTicketMLP(**SEARCH), X, y, cv=2, n_seeds=1, random_state=0)
    # The dense round once per fold (both folds first, as tasks of their
    # own), then each arm going on from it.
    assert len(fitted) == 2 * 4
    for dense in fitted[:2]:
        assert dense["target_sparsity"] == 0.0 and not dense["warm_start"]
    arms = fitted[2:]
    assert all(p["warm_start"] and p["target_sparsity"] == 0.8 for p in arms)
    # Random pruning's (the longest) first, then the others, fold by fold.
    assert [p["pruning_criterion"] for p in arms[:2]] == ["random", "random"]
    assert [p["rewind"] for p in arms[:2]] == ["init", "init"]
    ticket, reinit = arms[2:4]
    assert ticket["rewind"] == "init" and ticket["pruning_criterion"] == "magnitude"
    assert reinit["rewind"] == "reinit" and reinit["pruning_criterion"] == "magnitude"
    random_ = arms[0]
    assert ticket["random_state"] == reinit["random_state"] == random_["random_state"]
    assert all(params["n_seeds"] == 1 for params in fitted)


def test_each_arm_scores_what_a_search_from_scratch_scores(data):
    """Sharing the dense round changes nothing: each arm's row is that of the
    arm's own search, fitted from scratch with the seed and scored per round."""
    X, y = data
    X_test, y_test = X[:30], y[:30]
    curve = sparsity_curve(
        LotteryTicketMLP(**SEARCH),
        X,
        y,
        X_test=X_test,
        y_test=y_test,
        n_seeds=1,
        random_state=0,
    )
    seed = int(curve.seeds[0])
    for arm, params in (
        ("ticket", {}),
        ("reinit", {"rewind": "reinit"}),
        ("random", {"pruning_criterion": "random"}),
    ):
        scores = []

        def score(record, model, scores=scores):
            scores.append(model.score(X_test, y_test))

        LotteryTicketMLP(**SEARCH, **params, random_state=seed).fit(
            X, y, on_round_end=score
        )
        np.testing.assert_array_equal(curve.scores[arm][0], scores)


def test_held_out_rows_are_never_trained_on(data, monkeypatch):
    X, y = data
    X_test, y_test = X[:30] + 100.0, y[:30]  # far from anything trained on
    seen = []
    real_fit = LotteryTicketMLP.fit

    def recording_fit(self, X_fit, y_fit, *args, **kwargs):
        seen.append(np.asarray(X_fit))
        return real_fit(self, X_fit, y_fit, *args, **kwargs)

    monkeypatch.setattr(LotteryTicketMLP, "fit", recording_fit)
    curve = sparsity_curve(
        LotteryTicketMLP(**SEARCH, early_stopping=True),
        X,
        y,
        X_test=X_test,
        y_test=y_test,
        n_seeds=1,
        random_state=0,
    )
    assert seen and all(np.abs(Xf).max() < 50 for Xf in seen)
    # Early stopping held out validation rows of X: its iterations are known.
    assert np.isfinite(curve.early_stop_iteration["ticket"]).all()


def test_a_pipeline_and_a_regressor(data):
    X, y = data
    pipeline = make_pipeline(StandardScaler(), LotteryTicketMLP(**SEARCH))
    curve = sparsity_curve(pipeline, X, y, cv=2, n_seeds=1, controls=())
    assert set(curve.scores) == {"ticket"}
    target = X[:, 0] - X[:, 2]
    curve = sparsity_curve(
        LotteryTicketMLPRegressor(**SEARCH),
        X,
        target,
        cv=2,
        n_seeds=1,
        scoring="neg_mean_squared_error",
    )
    assert (curve.scores["ticket"] <= 0).all()


def test_bad_arguments_are_refused_by_name(data):
    X, y = data
    with pytest.raises(ValueError, match="Unknown control 'shuffled'"):
        sparsity_curve(LotteryTicketMLP(), X, y, controls=("shuffled",))
    with pytest.raises(ValueError, match="n_seeds must be a positive integer"):
        sparsity_curve(LotteryTicketMLP(), X, y, n_seeds=0)
    with pytest.raises(ValueError, match="X_test and y_test go together"):
        sparsity_curve(LotteryTicketMLP(), X, y, X_test=X)
    with pytest.raises(TypeError, match="not StandardScaler"):
        sparsity_curve(StandardScaler(), X, y)


def test_the_display_draws_each_arm_and_the_early_stopping_panel(data):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    X, y = data
    display = SparsityCurveDisplay.from_estimator(
        LotteryTicketMLP(**SEARCH, early_stopping=True),
        X,
        y,
        cv=2,
        n_seeds=2,
        random_state=0,
    )
    assert sorted(display.lines_) == ["random", "reinit", "ticket"]
    assert len(display.axes_) == 2  # the early-stopping panel
    axis = display.axes_[0]
    assert axis.get_xscale() == "log"
    left, right = axis.get_xlim()
    assert left > right  # 100% on the left
    np.testing.assert_allclose(
        display.lines_["ticket"].get_ydata(),
        display.scores["ticket"].mean(axis=0),
    )
    without = SparsityCurveDisplay(
        weights_remaining=[1.0, 0.5], scores={"ticket": [[0.9, 0.8]]}
    ).plot()
    assert len(without.axes_) == 1


def test_the_shuffled_control_keeps_each_layers_count_and_the_initial_weights(
    data, monkeypatch
):
    from sklearn_lth._instability import _initial

    X, y = data
    tickets, ticket_counts = [], []
    real_params, real_arm = curve_module._with_params, curve_module._shuffled_arm

    def spy_params(estimator, **params):
        if "ticket" in params:
            tickets.append(params["ticket"])
        return real_params(estimator, **params)

    def spy_arm(*args):
        ticket_counts.extend(args[-1][3][1:])  # the ticket arm's pruned rounds
        return real_arm(*args)

    monkeypatch.setattr(curve_module, "_with_params", spy_params)
    monkeypatch.setattr(curve_module, "_shuffled_arm", spy_arm)
    search = LotteryTicketMLP(**SEARCH)
    curve = sparsity_curve(
        search,
        X,
        y,
        X_test=X,
        y_test=y,
        n_seeds=1,
        controls=("shuffle",),
        random_state=0,
    )
    assert curve.scores["shuffle"].shape == (1, 3)
    # Round 0 is the dense network of the ticket arm.
    assert curve.scores["shuffle"][0, 0] == curve.scores["ticket"][0, 0]
    # One ticket per pruned round, each layer at the ticket arm's count.
    assert [[W.nnz for W in t.weights] for t in tickets] == ticket_counts
    # The kept weights are the seed's initial ones, at new positions.
    initial = _initial(search, X, y, int(curve.seeds[0])).weights
    for ticket in tickets:
        for W, W0 in zip(ticket.weights, initial):
            np.testing.assert_array_equal(W.data, W0.toarray()[W.nonzero()])


def test_the_initial_weights_are_the_searchs_own(data):
    from sklearn_lth._instability import _initial

    X, y = data
    search = LotteryTicketMLP(**SEARCH, rewind="init", random_state=5).fit(X, y)
    initial = _initial(LotteryTicketMLP(**SEARCH), X, y, 5).weights
    for W, mask, W0 in zip(search.ticket_.weights, search.ticket_.masks, initial):
        np.testing.assert_array_equal(W.toarray()[mask], W0.toarray()[mask])


def test_checkpoints_of_the_estimator_are_not_used(data, tmp_path):
    """A curve scores the rounds its searches train: the estimator's
    checkpoint_dir (whose rounds would be read back unscored) is not used."""
    X, y = data
    search = LotteryTicketMLP(**SEARCH, checkpoint_dir=tmp_path)
    first = sparsity_curve(search, X, y, cv=2, n_seeds=1, random_state=0)
    again = sparsity_curve(search, X, y, cv=2, n_seeds=1, random_state=0)
    assert again.scores["ticket"].shape == (1, 3)
    np.testing.assert_array_equal(first.scores["ticket"], again.scores["ticket"])
    assert not any(tmp_path.iterdir())


def test_the_threading_backend_leaves_the_warning_filters_alone(data):
    import warnings

    from joblib import parallel_config

    X, y = data
    before = list(warnings.filters)
    with parallel_config(backend="threading"):
        sparsity_curve(
            LotteryTicketMLP(**SEARCH),
            X,
            y,
            cv=2,
            n_seeds=2,
            n_jobs=2,
            controls=None,
        )
    assert warnings.filters == before


def test_the_test_set_needs_both_halves(data):
    X, y = data
    for kwargs in ({"X_test": X}, {"y_test": y}):
        with pytest.raises(ValueError, match="X_test and y_test go together"):
            sparsity_curve(LotteryTicketMLP(), X, y, **kwargs)
    with pytest.raises(ValueError, match="n_seeds must be a positive integer"):
        sparsity_curve(LotteryTicketMLP(), X, y, n_seeds=True)


def test_the_display_takes_a_grid_of_axes_and_hides_an_unused_panel():
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    _, axes = plt.subplots(1, 2, squeeze=False)
    display = SparsityCurveDisplay(
        weights_remaining=[1.0, 0.5], scores={"ticket": [[0.9, 0.8]]}
    ).plot(ax=axes)
    assert len(display.axes_) == 1
    assert not axes[0, 1].get_visible()


@pytest.mark.parametrize("kernels", ["numpy", "auto"])
def test_every_task_runs_in_the_callers_configuration(data, kernels):
    """Joblib workers do not inherit sklearn_lth's configuration: the curve
    hands it to every task (the scorer, called in the tasks, reports it)."""
    X, y = data

    def kernels_in_task(estimator, X, y):
        return float(sklearn_lth.get_config()["kernels"] == kernels)

    for n_jobs in (1, 2):
        with sklearn_lth.config_context(kernels=kernels):
            curve = sparsity_curve(
                LotteryTicketMLP(**SEARCH),
                X,
                y,
                cv=2,
                n_seeds=1,
                scoring=kernels_in_task,
                controls=("reinit", "shuffle"),
                n_jobs=n_jobs,
                random_state=0,
            )
        for arm, scores in curve.scores.items():
            assert (scores == 1.0).all(), (arm, n_jobs)


def test_the_shuffled_arm_does_not_warn_about_its_own_tickets(data):
    """The shuffled masks train as tickets: the search's pruning parameters
    they ignore are the curve's business, not a warning to its user."""
    X, y = data
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sparsity_curve(
            LotteryTicketMLP(**SEARCH),
            X,
            y,
            cv=2,
            n_seeds=1,
            controls=("shuffle",),
            random_state=0,
        )
    assert not [w for w in caught if "A ticket is given" in str(w.message)]


@pytest.mark.slow
def test_the_workers_keep_the_callers_warning_filters(data, capfd):
    """n_jobs=2 runs in other processes: a warning the caller silenced is
    not printed by them either (as in scikit-learn's own Parallel)."""
    from sklearn.exceptions import ConvergenceWarning

    X, y = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sparsity_curve(
            LotteryTicketMLP(**{**SEARCH, "max_iter": 2}), X, y, cv=2, n_jobs=2
        )
    assert "ConvergenceWarning" not in capfd.readouterr().err


def test_an_estimator_that_does_not_prune_is_refused(data):
    """A curve of one round (or of more training of a given ticket) would
    compare nothing."""
    X, y = data
    fitted = LotteryTicketMLP(**SEARCH).fit(X, y)
    for estimator, why in (
        (LotteryTicketMLP(ticket=fitted.ticket_), "trains the ticket it was given"),
        (LotteryTicketMLP(target_sparsity=0.0), "has target_sparsity=0"),
    ):
        with pytest.raises(ValueError, match=why):
            sparsity_curve(estimator, X, y, cv=2)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"weights_remaining": [100, 50], "scores": {"ticket": [0.9, 0.8]}},
            r"fractions in \(0, 1\] \(1.0 for the dense network, not percentages\)",
        ),
        (
            {"weights_remaining": [1, 0.5], "scores": [[0.9, 0.8]]},
            "scores must map each arm's name to its values",
        ),
        (
            {"weights_remaining": [1, 0.5, 0.25], "scores": {"ticket": [0.9, 0.8]}},
            r"scores\['ticket'\] must have one column per round \(3",
        ),
        (
            {
                "weights_remaining": [1, 0.5],
                "scores": {"ticket": [0.9, 0.8]},
                "early_stop_iteration": {"ticket": [[1, 2, 3]]},
            },
            r"early_stop_iteration\['ticket'\] must have one column per round",
        ),
    ],
)
def test_the_display_refuses_arguments_it_cannot_draw_by_name(kwargs, message):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    with pytest.raises(ValueError, match=message):
        SparsityCurveDisplay(**kwargs).plot()


def test_the_curves_fits_do_not_judge_their_rounds():
    """Every round is on the curve, and the controls fall below round 0 on
    purpose: no "a lower target_sparsity would score better" from its fits
    (a user's run had printed one per arm and seed)."""
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    search = make_pipeline(
        StandardScaler(),
        LotteryTicketMLP((8,), target_sparsity=0.8, pruning_rounds=2, batch_size=32),
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        curve = sparsity_curve(search, X, y, cv=2, n_seeds=2, random_state=0)
    random_arm = curve.scores["random"]
    assert random_arm[:, -1].mean() < random_arm[:, 0].mean() - 0.1  # fell
    assert not [w for w in caught if "would score better" in str(w.message)]
