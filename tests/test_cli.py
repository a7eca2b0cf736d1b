import io
import pickle
import re
import subprocess
import sys
import threading
import time
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
from _helpers import error_line as _error_line
from _helpers import fail_in_round, hide_pandas
from _helpers import table_rows as _rows
from sklearn.datasets import load_diabetes, load_digits, load_iris, load_wine
from sklearn.exceptions import ConvergenceWarning

from sklearn_lth import LotteryTicketMLP, TrainingDivergedError, _cli
from sklearn_lth._cli import main
from sklearn_lth._cli._data import resolve_task
from sklearn_lth._cli._options import build_parser
from sklearn_lth._cli._report import chance_score, print_verdict
from sklearn_lth._cli._running import Heartbeat, Search
from sklearn_lth._cli._tabular import sniff_separator
from sklearn_lth._compat import InvalidParameterError

TINY = ["--hidden-layer-sizes", "8", "--max-iter", "5", "--pruning-rounds", "2"]
TINY += ["--learning-rate-init", "0.05"]


def _iris_csv(tmp_path, sep=",", name="iris.csv"):
    """Iris with named columns and the species as strings, last column."""
    iris = load_iris()
    header = [*iris.feature_names, "species"]
    lines = [sep.join(header)] + [
        sep.join([*map(str, x), str(iris.target_names[t])])
        for x, t in zip(iris.data, iris.target)
    ]
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.slow
def test_default_run_finds_a_ticket_within_one_point_of_dense(capsys):
    """The README's first command: digits, (100,), 80% sparsity in 5 rounds."""
    assert main([]) == 0
    out = capsys.readouterr().out
    rows = _rows(out)
    assert [int(r[0]) for r in rows] == [0, 1, 2, 3, 4, 5]
    assert [int(r[1]) for r in rows] == [7400, 5363, 3887, 2817, 2042, 1480]
    dense = float(
        re.search(r"dense network \(round 0\) test accuracy: ([\d.]+)", out)[1]
    )
    ticket = float(re.search(r"winning ticket .* test accuracy: ([\d.]+)", out)[1])
    assert ticket >= dense - 0.01
    assert float(rows[0][6]) == dense and float(rows[-1][6]) == ticket
    assert "not a winning ticket" not in out


def test_output_saves_a_pipeline_on_raw_features(tmp_path, capsys):
    path = tmp_path / "model.pkl"
    args = [
        "wine",
        "--hidden-layer-sizes",
        "16",
        "--pruning-rounds",
        "2",
        "--max-iter",
        "50",
        "--learning-rate-init",
        "0.01",
        "--output",
        str(path),
    ]
    assert main(args) == 0
    assert "saved Pipeline" in capsys.readouterr().out
    with open(path, "rb") as handle:
        model = pickle.load(handle)
    X, y = load_wine(return_X_y=True)
    assert model.score(X, y) > 0.8
    assert model[-1].ticket_.sparsity == pytest.approx(0.8, abs=0.01)


def test_csv_with_a_label_column_and_regression(tmp_path, capsys):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(80, 3))
    path = tmp_path / "data.csv"
    lines = ["a,target,b,c"] + [f"{x[0]},{2 * x[0] - x[1]},{x[1]},{x[2]}" for x in X]
    path.write_text("\n".join(lines))
    args = [
        str(path),
        "--label-column",
        "target",
        "--pruning-rounds",
        "1",
        "--max-iter",
        "30",
        "--hidden-layer-sizes",
        "8",
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "scores are R2" in out and len(_rows(out)) == 2


def test_a_saved_regressor_predicts_in_the_targets_own_units(tmp_path, capsys):
    """Targets are standardised for training; the saved model undoes it, and
    its R2 on the test part is the one printed."""
    from sklearn.metrics import r2_score
    from sklearn.model_selection import train_test_split

    rng = np.random.RandomState(0)
    X = rng.normal(size=(200, 3))
    y = 1000 + 300 * X[:, 0] - 200 * X[:, 1]  # far from unit scale
    path = tmp_path / "data.csv"
    rows = ["a,b,c,target"] + [f"{a},{b},{c},{t}" for (a, b, c), t in zip(X, y)]
    path.write_text("\n".join(rows))
    model_path = tmp_path / "model.pkl"
    argv = [str(path), "--pruning-rounds", "1", "--max-iter", "100"]
    assert main([*argv, "--output", str(model_path)]) == 0
    out = capsys.readouterr().out
    printed = float(re.search(r"last round .* test R2: ([-\d.]+)", out)[1])
    with open(model_path, "rb") as handle:
        model = pickle.load(handle)
    _, X_test, _, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
    if hasattr(model, "feature_names_in_"):  # fitted on a DataFrame (pandas)
        import pandas as pd

        X_test = pd.DataFrame(X_test, columns=["a", "b", "c"])
    assert r2_score(y_test, model.predict(X_test)) == pytest.approx(printed, abs=1e-4)
    assert printed > 0.5


# -- mistakes: one line on stderr, exit status 2 -----------------------------------
@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--target-sparsity", "1.5"], "a fraction in [0, 1), e.g. 0.8"),
        (["--target-sparsity", "80"], "a fraction in [0, 1), e.g. 0.8"),
        (["--target-sparsity", "abc"], "'abc' is not a number"),
        (["--pruning-rounds", "0"], "--pruning-rounds: must be at least 1"),
        (["--pruning-rounds", "2.5"], "'2.5' is not a whole number"),
        (["--hidden-layer-sizes", "10.5"], "comma-separated positive whole"),
        (["--hidden-layer-sizes", "0"], "comma-separated positive whole"),
        (["--hidden-layer-sizes", "a"], "comma-separated positive whole"),
        (["--hidden-layer-sizes", "10,,5"], "comma-separated positive whole"),
        (["--batch-size", "0"], "--batch-size: must be auto or a positive"),
        (["--batch-size", "big"], "--batch-size: must be auto or a positive"),
        (["--learning-rate-init", "0"], "must be greater than 0"),
        (["--learning-rate-init", "nan"], "'nan' is not a finite number"),
        (["--alpha", "-1"], "--alpha: must be 0 or more"),
        (["--max-iter", "0"], "--max-iter: must be at least 1"),
        (["--test-size", "0"], "--test-size: must be a fraction in (0, 1)"),
        (["--test-size", "1"], "--test-size: must be a fraction in (0, 1)"),
        (["--output-layer-rate", "1"], "--output-layer-rate: must be a fraction"),
        (["--random-state", "-1"], "--random-state: must be a whole number"),
        (["--sep", ";;"], "--sep: must be one character"),
        (["--rewind", "later"], "invalid choice: 'later'"),
        (["--task", "ranking"], "invalid choice: 'ranking'"),
        (["iris", "--label-column", "species"], "--label-column applies to CSV"),
        (["iris", "--sep", ";"], "--sep applies to CSV files only"),
        (["no_such_dataset"], "neither a bundled dataset"),
        (["iris", "--output", "/no/such/dir/model.pkl"], "no directory /no/such"),
    ],
)
def test_mistakes_are_one_line_and_exit_2(argv, expected, capsys):
    assert main(argv) == 2
    line = _error_line(capsys)
    assert line.startswith("sklearn-lth: error: ")
    assert expected in line


def test_help_describes_every_option_with_its_default(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for action in build_parser()._actions:
        assert action.help, action.dest
        assert "default" in action.help or action.dest in ("help", "version")
        name = action.option_strings[-1] if action.option_strings else "DATASET"
        assert name in out
    assert "max(20, 5% of the samples)" in out


@pytest.mark.parametrize(
    "error",
    [
        InvalidParameterError("The 'alpha' parameter of X must be >= 0."),
        TrainingDivergedError("Training diverged in round 1, epoch 3: loss is nan."),
        ValueError("The pruning schedule cannot be met:\nonly 3 weights."),
    ],
)
def test_errors_of_the_estimator_are_one_line(error, monkeypatch, capsys):
    def fit(self, X, y, sample_weight=None, on_round_end=None):
        raise error

    monkeypatch.setattr(LotteryTicketMLP, "_fit", fit)
    assert main(["iris", *TINY]) == 2
    line = _error_line(capsys)
    assert line == f"sklearn-lth: error: {' '.join(str(error).split())}"


def test_a_value_error_of_fit_is_one_line(capsys):
    """7 training samples cannot hold out a validation set of two."""
    assert main(["iris", *TINY, "--test-size", "0.95", "--early-stopping"]) == 2
    assert _error_line(capsys).startswith("sklearn-lth: error: ")


@pytest.mark.slow
def test_python_dash_m_prints_no_traceback():
    result = subprocess.run(
        [sys.executable, "-m", "sklearn_lth", "iris", *TINY, "--test-size", "0.95"]
        + ["--early-stopping"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("sklearn-lth: error: ")
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_python_dash_m_entry_point():
    result = subprocess.run(
        [sys.executable, "-m", "sklearn_lth", "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0 and "lottery ticket" in result.stdout


# -- CSV files ---------------------------------------------------------------------
@pytest.mark.parametrize("sep, given", [(";", None), ("\t", None), (";", ";")])
def test_csv_separator_is_sniffed_or_given(sep, given, tmp_path, capsys):
    path = _iris_csv(tmp_path, sep=sep)
    argv = [str(path), *TINY] + ([] if given is None else ["--sep", given])
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "150 samples, 4 features, 3 classes" in out and len(_rows(out)) == 3


def test_sniffing_falls_back_to_a_comma():
    assert sniff_separator("label\n1\n2\n") == ","
    assert sniff_separator("a;b\n1;2\n" * 2000) == ";"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("", "data.csv is empty"),
        ("\n\n", "data.csv is empty"),
        ("a,b,label\n", "data.csv has a header row but no data rows"),
        ("a,b,label\n1,2,x\n1,2\n", "data.csv line 3: 2 cells, but the header"),
        ("a,age,label\n1,2,x\n\n3,,y\n", 'data.csv line 4, column "age": empty cell'),
        ("a,age,label\n1,2,x\n1,abc,y\n", 'line 3, column "age": "abc" is not a'),
        ("a,age,label\n1,inf,x\n", '"inf" is not a finite number'),
        ("a,b,label\n1,2,\n", 'data.csv line 2, column "label": empty cell'),
        ("1,2,3\n1,2,3\n", "data.csv line 1 holds numbers; the first row must"),
        ("a,a,label\n1,2,x\n", 'column "a" appears twice'),
        ("label\nx\ny\n", "found one column"),
        ("a,b,label\n1,2,x\n3,4,y\n3,4,y\n", 'class "x" has a single sample'),
        ("a,b,label\n1,2,x\n3,4,x\n", 'a single class ("x")'),
    ],
)
def test_csv_mistakes_name_the_line_and_column(
    text, expected, tmp_path, monkeypatch, capsys
):
    (tmp_path / "data.csv").write_text(text)
    monkeypatch.chdir(tmp_path)
    assert main(["data.csv", *TINY]) == 2
    assert expected in _error_line(capsys)


def test_csv_unknown_label_column_lists_the_columns(tmp_path, capsys):
    path = _iris_csv(tmp_path)
    assert main([str(path), "--label-column", "kind"]) == 2
    line = _error_line(capsys)
    assert 'no column "kind"' in line and "sepal length (cm)" in line


def test_regression_needs_a_numeric_target(tmp_path, capsys):
    path = _iris_csv(tmp_path)
    assert main([str(path), "--task", "regression"]) == 2
    line = _error_line(capsys)
    assert 'line 2, column "species": "setosa" is not a number' in line


# -- the task ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "y, task",
    [
        (load_diabetes(return_X_y=True)[1], "regression"),
        (load_digits(return_X_y=True)[1], "classification"),
        (np.array([0, 1] * 50), "classification"),
        (np.array(["0", "1"] * 50), "classification"),
        (np.array(["cat", "dog"] * 50), "classification"),
        (np.linspace(0, 1, 15), "regression"),
        (np.arange(100), "regression"),
    ],
)
def test_auto_task(y, task):
    assert resolve_task(y, "auto") == task


def test_task_option_overrides_auto(capsys):
    assert main(["iris", *TINY, "--task", "regression"]) == 0
    out = capsys.readouterr().out
    assert "a numeric target (regression)" in out and "scores are R2" in out


# -- progress, warnings, verdict ---------------------------------------------------
def test_verbose_prints_every_epoch(monkeypatch, capsys):
    real_fit = LotteryTicketMLP._fit
    verbose = []

    def fit(self, X, y, sample_weight=None, on_round_end=None):
        verbose.append(self.verbose)
        return real_fit(self, X, y, sample_weight, on_round_end=on_round_end)

    monkeypatch.setattr(LotteryTicketMLP, "_fit", fit)
    assert main(["iris", *TINY, "--verbose"]) == 0
    out = capsys.readouterr().out
    assert verbose == [True] and len(_rows(out)) == 3
    epochs = [line for line in out.splitlines() if line.startswith("Iteration ")]
    assert len(epochs) == 3 * 5


def test_heartbeat_prints_during_a_long_round_and_stops(capsys):
    with Heartbeat(0.02) as heartbeat:
        time.sleep(0.15)
        heartbeat.emit("| row |", next_round=1)
        time.sleep(0.15)
    out = capsys.readouterr().out
    assert re.search(r"^  \.\.\. round 0 still training \(\d+ s\)$", out, re.M)
    assert out.index("| row |") < out.index("  ... round 1 still training")
    time.sleep(0.05)
    assert capsys.readouterr().out == ""


def test_heartbeat_during_a_run_ends_with_main(monkeypatch, capsys):
    real_fit = LotteryTicketMLP._fit

    def slow_fit(self, X, y, sample_weight=None, on_round_end=None):
        time.sleep(0.1)
        return real_fit(self, X, y, sample_weight, on_round_end=on_round_end)

    monkeypatch.setattr("sklearn_lth._cli._running.HEARTBEAT_SECONDS", 0.02)
    monkeypatch.setattr(LotteryTicketMLP, "_fit", slow_fit)
    assert main(["iris", *TINY]) == 0
    out = capsys.readouterr().out
    assert "  ... round 0 still training" in out and len(_rows(out)) == 3
    assert not any(t.name == "sklearn-lth-heartbeat" for t in threading.enumerate())
    time.sleep(0.05)
    assert capsys.readouterr().out == ""


def test_warnings_are_printed_once_without_source(monkeypatch, capsys):
    real_fit = LotteryTicketMLP._fit

    def fit(self, X, y, sample_weight=None, on_round_end=None):
        for _ in range(2):
            warnings.warn("twice the same", UserWarning, stacklevel=2)
        # A stack level beyond the stack is what Python shows as "sys:1: ...".
        warnings.warn("from nowhere", ConvergenceWarning, stacklevel=50)
        return real_fit(self, X, y, sample_weight, on_round_end=on_round_end)

    monkeypatch.setattr(LotteryTicketMLP, "_fit", fit)
    assert main(["iris", *TINY]) == 0
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert lines.count("warning: twice the same") == 1
    assert lines.count("warning: from nowhere") == 1
    assert all(line.startswith("warning: ") for line in lines)
    assert "ConvergenceWarning" not in err and "sys:1" not in err
    assert "UserWarning" not in err and "warnings.warn" not in err


@pytest.mark.parametrize(
    "last, winning", [(0.95, True), (0.89, True), (0.8895, False), (0.768, False)]
)
def test_verdict_calls_a_winning_ticket_only_within_one_point(last, winning, capsys):
    ticket = SimpleNamespace(sparsity=0.8, compression_ratio=5.0)
    search = Search(scores={0: 0.9, 1: 0.93, 2: last}, seconds=1.0)
    print_verdict(search, SimpleNamespace(ticket_=ticket), "accuracy")
    out = capsys.readouterr().out
    assert "dense network (round 0) test accuracy: 0.9000" in out
    assert (
        f"round 2, 80.0% sparse, 5.0x fewer weights) test accuracy: {last:.4f}"
    ) in out
    assert out.count("winning ticket (round 2") == winning
    assert out.count("last round (round 2") == (not winning)
    assert ("not a winning ticket" in out) == (not winning)
    if last == 0.768:
        assert (
            "the last round (80.0% sparse) scores 13.2 points below the dense "
            "network: not a winning ticket at this sparsity; try a lower "
            "--target-sparsity, more --max-iter, or LotteryTicketMLPCV to choose "
            "the sparsity by cross-validation\n"
        ) in out


def test_the_estimators_score_warnings_reach_the_user(monkeypatch, capsys):
    """The CLI's fit is not a nested one: the estimator judges its rounds'
    scores, and says so after the verdict (the kept round far below round 0)."""
    terminal = io.StringIO()
    monkeypatch.setattr(sys, "stdout", terminal)
    monkeypatch.setattr(sys, "stderr", terminal)
    argv = ["iris", "--hidden-layer-sizes", "8", "--target-sparsity", "0.97"]
    argv += ["--pruning-rounds", "2", "--max-iter", "50"]
    assert main([*argv, "--learning-rate-init", "0.05"]) == 0
    text = terminal.getvalue()
    warning = text.index("warning: The fitted network (round 2, sparsity 0.9643)")
    assert text.index("difference: ") < warning


def test_a_dense_network_at_chance_is_no_ticket(capsys):
    """The QA's run: every round at 0.3393 (train) and 0.3158 (test), below
    the most frequent class's share: not "winning ticket ... +0.00"."""
    argv = ["iris", "--hidden-layer-sizes", "3,2", "--target-sparsity", "0.95"]
    assert main([*argv, "--pruning-rounds", "2"]) == 0
    out = capsys.readouterr().out
    assert "winning ticket" not in out and "not a winning ticket" not in out
    assert (
        "the dense network learned nothing: its test accuracy (0.3158) is no "
        "better than chance (0.3421, the most frequent class's share of the test "
        "part), so there is no ticket to judge; try more --max-iter, another "
        "--learning-rate-init or larger --hidden-layer-sizes\n"
    ) in out


@pytest.mark.parametrize(
    "dense, metric, chance, verdict",
    [
        (0.35, "accuracy", 0.3421, "learned nothing"),  # within one point
        (0.36, "accuracy", 0.3421, "winning ticket (round 2"),
        (0.005, "R2", 0.0, "learned nothing"),
        (-0.5, "R2", 0.0, "learned nothing"),
        (0.02, "R2", 0.0, "winning ticket (round 2"),
    ],
)
def test_verdict_at_chance(dense, metric, chance, verdict, capsys):
    ticket = SimpleNamespace(sparsity=0.8, compression_ratio=5.0)
    search = Search(scores={0: dense, 1: dense, 2: dense}, seconds=1.0)
    print_verdict(search, SimpleNamespace(ticket_=ticket), metric, chance)
    out = capsys.readouterr().out
    assert verdict in out
    if metric == "R2" and verdict == "learned nothing":
        assert "no better than chance (an R2 of 0, predicting the mean)" in out


def test_chance_score_is_the_scored_parts_most_frequent_class():
    y_train, y_test = np.array([0, 0, 0, 1]), np.array([0, 1, 1, 1, 2])
    split = SimpleNamespace(y_train=y_train, y_test=y_test)
    assert chance_score(split, "classification", "test") == 0.6
    assert chance_score(split, "classification", "validation") == 0.75
    assert chance_score(split, "regression", "test") == 0.0


# -- the saved model ---------------------------------------------------------------
@pytest.mark.parametrize("with_pandas", [True, False])
def test_saved_model_keeps_feature_names_and_labels(
    with_pandas, tmp_path, monkeypatch, capsys
):
    if with_pandas:
        pd = pytest.importorskip("pandas")
    else:  # the CLI's ``import pandas`` fails
        hide_pandas(monkeypatch)
    path = _iris_csv(tmp_path)
    output = tmp_path / "model.pkl"
    assert main([str(path), *TINY, "--output", str(output)]) == 0
    with open(output, "rb") as handle:
        model = pickle.load(handle)
    iris = load_iris()
    if with_pandas:
        assert list(model.feature_names_in_) == iris.feature_names
        X = pd.DataFrame(iris.data, columns=iris.feature_names)
    else:
        assert not hasattr(model, "feature_names_in_")
        X = iris.data
    assert set(model.predict(X)) <= {"setosa", "versicolor", "virginica"}
    assert list(model.classes_) == ["setosa", "versicolor", "virginica"]


# -- Ctrl-C ------------------------------------------------------------------------
def test_ctrl_c_keeps_the_last_completed_round(tmp_path, monkeypatch, capsys):
    """The estimator keeps round 1 and re-raises; the CLI saves it, exits 130."""
    fail_in_round(monkeypatch, 2, KeyboardInterrupt)
    output = tmp_path / "model.pkl"
    argv = ["iris", *TINY, "--target-sparsity", "0.75", "--output", str(output)]
    assert main(argv) == 130
    captured = capsys.readouterr()
    assert len(_rows(captured.out)) == 2
    assert "dense network" not in captured.out and "ticket" not in captured.out
    assert "saved Pipeline(StandardScaler, LotteryTicketMLP) (round 1)" in captured.out
    assert "Traceback" not in captured.err
    assert "Training interrupted by the user" not in captured.err
    assert re.search(
        r"^sklearn-lth: interrupted in round 2; kept round 1 \(50\.0% sparse\)$",
        captured.err,
        re.MULTILINE,
    )
    with open(output, "rb") as handle:
        model = pickle.load(handle)
    assert list(model[-1].history_["round"]) == [0, 1]


def test_ctrl_c_before_any_round_keeps_nothing(tmp_path, monkeypatch, capsys):
    def fit(self, X, y, sample_weight=None, on_round_end=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(LotteryTicketMLP, "_fit", fit)
    output = tmp_path / "model.pkl"
    assert main(["iris", *TINY, "--output", str(output)]) == 130
    assert _error_line(capsys) == (
        "sklearn-lth: interrupted before any round completed; nothing kept"
    )
    assert not output.exists()


def test_ctrl_c_while_loading(monkeypatch, capsys):
    def load(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(_cli, "load_dataset", load)
    assert main(["iris"]) == 130
    assert _error_line(capsys) == "sklearn-lth: interrupted"


def test_the_live_units_column_fits_a_deep_network(capsys):
    assert main(["iris", *TINY, "--hidden-layer-sizes", "100,100,100"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line[:1] == "|"]
    assert "100-100-100" in lines[2]
    # Every line of the table is as wide as its header.
    assert {len(line) for line in lines} == {len(lines[0])}
