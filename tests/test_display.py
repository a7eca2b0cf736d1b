import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from sklearn_lth import LotteryTicketDisplay, LotteryTicketMLP  # noqa: E402

PARAMS = dict(
    hidden_layer_sizes=(10,),
    max_iter=15,
    learning_rate_init=0.01,
    target_sparsity=0.75,
    pruning_rounds=2,
    random_state=0,
)

# The tiny networks here are about plotting, not learning: some of their rounds
# end at chance, which the estimators rightly warn about.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Round\\(s\\) .* no better than chance:UserWarning"
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_from_estimator_draws_each_round_with_a_band_over_seeds(small_classification):
    X, y = small_classification
    model = LotteryTicketMLP(**PARAMS, n_seeds=3).fit(X, y)
    display = LotteryTicketDisplay.from_estimator(model)
    table = model.seeds_history_
    np.testing.assert_allclose(display.line_.get_xdata(), [100, 50, 25], rtol=0.02)
    for r, value in enumerate(display.line_.get_ydata()):
        assert value == pytest.approx(
            table["validation_score"][table["round"] == r].mean()
        )
    assert display.band_ is not None
    assert display.dense_line_.get_ydata()[0] == display.line_.get_ydata()[0]
    assert display.ax_.get_xscale() == "log" and display.ax_.xaxis_inverted()
    assert display.line_.get_label() == "rewind='init'"
    assert display.ax_.get_ylabel() == "validation score"


def test_one_seed_has_no_band_and_falls_back_to_the_train_score(small_classification):
    """Without a validation split the training score is plotted, and the y
    axis says so."""
    X, y = small_classification
    model = LotteryTicketMLP(**PARAMS).fit(X, y)
    assert "validation_score" not in model.history_
    display = LotteryTicketDisplay.from_estimator(model, name="ticket")
    assert display.band_ is None
    np.testing.assert_allclose(display.line_.get_ydata(), model.history_["train_score"])
    assert display.ax_.get_ylabel() == "training score"


def test_the_training_score_asked_for_is_labelled_as_such(small_classification):
    X, y = small_classification
    model = LotteryTicketMLP(**PARAMS, early_stopping=True).fit(X, y)
    validation = LotteryTicketDisplay.from_estimator(model)
    assert validation.ax_.get_ylabel() == "validation score"
    training = LotteryTicketDisplay.from_estimator(model, score="train_score")
    assert training.ax_.get_ylabel() == "training score"
    np.testing.assert_allclose(
        training.line_.get_ydata(), model.history_["train_score"]
    )


def test_a_score_that_is_not_in_the_round_table_is_an_error(small_classification):
    """Only the default falls back to the training score: a misspelt column
    is not silently replaced by it."""
    X, y = small_classification
    model = LotteryTicketMLP(**PARAMS).fit(X, y)
    with pytest.raises(ValueError, match="score='test_score' is not a column.*'round'"):
        LotteryTicketDisplay.from_estimator(model, score="test_score")


def _legend(ax) -> list[str]:
    return [text.get_text() for text in ax.get_legend().get_texts()]


def test_several_lines_on_one_axes_share_their_dense_line(small_classification):
    """The searches differ only after round 0: one dense network, one grey
    reference line, one "dense" entry in the legend."""
    X, y = small_classification
    fig, ax = plt.subplots()
    searches = {
        "ticket": {},
        "reinit": {"rewind": "reinit"},
        "random": {"pruning_criterion": "random"},
    }
    displays = [
        LotteryTicketDisplay.from_estimator(
            LotteryTicketMLP(**PARAMS, **options).fit(X, y), name=name, ax=ax
        )
        for name, options in searches.items()
    ]
    assert _legend(ax) == ["ticket", "dense", "reinit", "random"]
    dense_lines = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
    assert len(dense_lines) == 1
    assert all(display.dense_line_ is dense_lines[0] for display in displays)
    assert dense_lines[0].get_color() == "0.4"
    assert ax.xaxis_inverted()  # inverted once, not flipped back


def test_different_dense_scores_keep_a_dense_line_each():
    fig, ax = plt.subplots()
    for name, dense in (("a", 0.9), ("b", 0.8)):
        LotteryTicketDisplay(
            remaining=[100, 50], scores=[dense, 0.7], dense_score=dense, name=name
        ).plot(ax=ax)
    assert _legend(ax) == ["a", "a, dense", "b", "b, dense"]
    colors = [line.get_color() for line in ax.get_lines()]
    assert colors[0] == colors[1] != colors[2] == colors[3]


def test_the_log_axis_has_plain_percentage_ticks_for_every_line():
    """Ticks such as 50 and 5, not 5x10^1: a shorter line drawn second keeps
    the ticks of the longer one, and the minor ticks have no labels."""
    fig, ax = plt.subplots()
    LotteryTicketDisplay(remaining=[100, 20, 4.4], scores=[0.9, 0.8, 0.7]).plot(ax=ax)
    LotteryTicketDisplay(remaining=[100, 50], scores=[0.9, 0.85]).plot(ax=ax)
    fig.canvas.draw()
    labels = [label.get_text() for label in ax.get_xticklabels()]
    assert labels == ["100", "50", "20", "10", "5"]
    assert not [label.get_text() for label in ax.get_xticklabels(minor=True)]


def test_plot_keyword_arguments_override_the_default_marker():
    display = LotteryTicketDisplay(remaining=[100, 50], scores=[0.9, 0.8]).plot(
        marker="s", color="black"
    )
    assert display.line_.get_marker() == "s"
    assert display.line_.get_color() == "black"


def test_cli_saves_a_plot(tmp_path, capsys):
    from sklearn_lth._cli import main

    path = tmp_path / "ticket.png"
    assert (
        main(
            [
                "wine",
                "--hidden-layer-sizes",
                "8",
                "--pruning-rounds",
                "2",
                "--max-iter",
                "20",
                "--plot",
                str(path),
            ]
        )
        == 0
    )
    assert path.stat().st_size > 1000
    assert path.read_bytes()[:4] == b"\x89PNG"


def test_mismatched_points_are_a_clear_error():
    pytest.importorskip("matplotlib")
    with pytest.raises(
        ValueError, match="same length, got shapes \\(2,\\) and \\(1,\\)"
    ):
        LotteryTicketDisplay(remaining=[100, 50], scores=[0.9]).plot()
    with pytest.raises(ValueError, match="spread must be"):
        LotteryTicketDisplay(remaining=[100, 50], scores=[0.9, 0.8], spread=[1]).plot()


# -- Estimators inside meta-estimators ----------------------------------------------


def _ydata(display) -> np.ndarray:
    return np.asarray(display.line_.get_ydata())


def test_a_pipeline_is_plotted_through_its_last_step(small_classification):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = small_classification
    pipeline = make_pipeline(StandardScaler(), LotteryTicketMLP(**PARAMS)).fit(X, y)
    display = LotteryTicketDisplay.from_estimator(pipeline)
    np.testing.assert_array_equal(
        _ydata(display), _ydata(LotteryTicketDisplay.from_estimator(pipeline[-1]))
    )
    assert display.line_.get_label() == "rewind='init'"


def test_a_transformed_target_regressor_is_plotted_through_its_regressor(
    small_classification,
):
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from sklearn_lth import LotteryTicketMLPRegressor

    X, _ = small_classification
    target = X[:, 0] + 2 * X[:, 1] + 10
    model = make_pipeline(
        StandardScaler(),
        TransformedTargetRegressor(
            LotteryTicketMLPRegressor(**PARAMS), transformer=StandardScaler()
        ),
    ).fit(X, target)
    display = LotteryTicketDisplay.from_estimator(model)
    regressor = model[-1].regressor_
    np.testing.assert_allclose(_ydata(display), regressor.history_["train_score"])
    assert display.ax_.get_ylabel() == "training score"


def test_a_search_is_plotted_through_its_best_estimator(small_classification):
    from sklearn.model_selection import GridSearchCV

    from sklearn_lth import LotteryTicketMLPCV

    X, y = small_classification
    grid = GridSearchCV(
        LotteryTicketMLP(**PARAMS), {"pruning_rounds": [1, 2]}, cv=2
    ).fit(X, y)
    np.testing.assert_array_equal(
        _ydata(LotteryTicketDisplay.from_estimator(grid)),
        grid.best_estimator_.history_["train_score"],
    )
    path = LotteryTicketMLPCV(
        cv=2, max_rounds=2, hidden_layer_sizes=(10,), max_iter=15, random_state=0
    ).fit(X, y)
    np.testing.assert_array_equal(
        _ydata(LotteryTicketDisplay.from_estimator(path)),
        path.best_estimator_.history_["train_score"],
    )


def test_an_estimator_that_is_not_a_search_is_a_type_error(small_classification):
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from sklearn_lth import SupermaskMLP

    X, y = small_classification
    cases = {
        "got SupermaskMLP.$": SupermaskMLP(hidden_layer_sizes=(4,), max_iter=2),
        "got Pipeline > LogisticRegression.$": make_pipeline(
            StandardScaler(), LogisticRegression()
        ).fit(X, y),
        "got TransformedTargetRegressor > LinearRegression.$": (
            TransformedTargetRegressor().fit(X, y.astype(float))
        ),
        "got Pipeline > 'passthrough'.$": make_pipeline(
            StandardScaler(), "passthrough"
        ),
    }
    for message, estimator in cases.items():
        with pytest.raises(TypeError, match=message):
            LotteryTicketDisplay.from_estimator(estimator)


def test_an_unfitted_estimator_is_a_not_fitted_error(small_classification):
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.exceptions import NotFittedError
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from sklearn_lth import LotteryTicketMLPRegressor

    X, y = small_classification
    no_refit = GridSearchCV(
        LotteryTicketMLP(**PARAMS), {"pruning_rounds": [1]}, cv=2, refit=False
    ).fit(X, y)
    cases = {
        "this LotteryTicketMLP is not fitted": LotteryTicketMLP(),
        "this Pipeline > LotteryTicketMLP is not fitted": make_pipeline(
            StandardScaler(), LotteryTicketMLP()
        ),
        "this TransformedTargetRegressor has no regressor_": (
            TransformedTargetRegressor(LotteryTicketMLPRegressor())
        ),
        "this GridSearchCV has no best_estimator_; call fit with refit=True": (
            no_refit
        ),
    }
    for message, estimator in cases.items():
        with pytest.raises(NotFittedError, match=message):
            LotteryTicketDisplay.from_estimator(estimator)
