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
    X, y = small_classification
    model = LotteryTicketMLP(**PARAMS).fit(X, y)
    display = LotteryTicketDisplay.from_estimator(model, name="ticket")
    assert display.band_ is None
    np.testing.assert_allclose(display.line_.get_ydata(), model.history_["train_score"])


def test_several_lines_on_one_axes(small_classification):
    X, y = small_classification
    fig, ax = plt.subplots()
    for rewind in ("init", "reinit"):
        model = LotteryTicketMLP(**PARAMS, rewind=rewind).fit(X, y)
        LotteryTicketDisplay.from_estimator(model, ax=ax)
    assert [t.get_text() for t in ax.get_legend().get_texts()][::2] == [
        "rewind='init'",
        "rewind='reinit'",
    ]
    assert ax.xaxis_inverted()  # inverted once, not flipped back


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
