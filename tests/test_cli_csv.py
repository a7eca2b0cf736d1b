"""The command line's CSV files: index and text columns, decimal marks,
encodings, dropped columns, and paths that are not regular files."""

import csv
import os
import pickle
import re
import subprocess
import sys
import threading
import warnings

import numpy as np
import pytest
from _helpers import error_line as _error_line
from _helpers import hide_pandas
from sklearn.datasets import load_iris

from sklearn_lth import _cli
from sklearn_lth._cli import _tabular, main
from sklearn_lth._cli._errors import UsageError
from sklearn_lth._cli._tabular import CsvOptions, read_csv

TINY = ["--hidden-layer-sizes", "8", "--max-iter", "5", "--pruning-rounds", "1"]


def _write(tmp_path, header, rows, name="data.csv", sep=",", encoding="utf-8"):
    path = tmp_path / name
    lines = [sep.join(header)] + [sep.join(map(str, row)) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding=encoding)
    return str(path)


def _iris_rows(first_column=None):
    """Iris rows (species as text), with ``first_column`` values in front."""
    iris = load_iris()
    rows = [[*x, iris.target_names[t]] for x, t in zip(iris.data, iris.target)]
    if first_column is not None:
        rows = [[value, *row] for value, row in zip(first_column, rows)]
    return rows


IRIS_HEADER = ["sl", "sw", "pl", "pw", "species"]


# -- index columns -----------------------------------------------------------------
def _shuffled(values, seed=0):
    return list(np.random.RandomState(seed).permutation(values))


@pytest.mark.parametrize(
    "name, values, why",
    [
        ("", range(150), "0..149, in order"),
        ("Unnamed: 0", range(1, 151), "1..150, in order"),
        ("", _shuffled(range(150)), "0..149, shuffled"),
        ("", range(0, 300, 2), "0..298, increasing, with gaps"),
        # What train_test_split leaves: gaps, in no order (the QA's file).
        ("", _shuffled(range(0, 300, 2)), "0..298, with gaps, in no order"),
        ("", range(-1, 149), "-1..148, in order"),
        ("", np.linspace(0, 1, 150), "a distinct number in every row"),
        ("Id", _shuffled(range(1, 151)), "consecutive whole numbers 1..150"),
        ("index", range(10, 160), "consecutive whole numbers 10..159"),
        ("PassengerId", range(1, 151), "consecutive whole numbers 1..150"),
        ("row_id", range(150), "consecutive whole numbers 0..149"),
    ],
)
def test_an_index_column_is_left_out_with_a_note(tmp_path, name, values, why):
    path = _write(tmp_path, [name, *IRIS_HEADER], _iris_rows(values))
    data = read_csv(path, CsvOptions())
    assert data.feature_names == IRIS_HEADER[:-1]
    assert data.X.shape == (150, 4)
    [note] = data.notes
    shown = name or "Unnamed: 0"  # pandas' name for an empty header
    assert f'column 1 ("{shown}")' in note and why in note
    assert "left out" in note and "--keep-index" in note
    kept = read_csv(path, CsvOptions(keep_index=True))
    assert kept.feature_names == [shown, *IRIS_HEADER[:-1]] and kept.notes == []


@pytest.mark.parametrize(
    "name, values",
    [
        ("", [0, 1] * 75),  # repeats: not an index
        ("", [*range(149), 0]),  # one repeat
        ("year", range(1900, 2050)),  # consecutive, but a name of its own
        ("sid", range(150)),  # "id" inside a word
        ("paid", range(150)),
    ],
)
def test_other_columns_are_features_without_a_note(tmp_path, name, values):
    path = _write(tmp_path, [name, *IRIS_HEADER], _iris_rows(values))
    data = read_csv(path, CsvOptions())
    assert data.feature_names == [name or "Unnamed: 0", *IRIS_HEADER[:-1]]
    assert data.notes == []


@pytest.mark.slow
def test_the_index_train_test_split_leaves_is_left_out(tmp_path):
    """The QA's file, run as the user does: pandas' to_csv of the train part
    of train_test_split (an unnamed index with gaps, in no order, that
    leaks the sorted class) is not a feature; --drop names it as pandas."""
    pytest.importorskip("pandas")
    from sklearn.model_selection import train_test_split

    train, _ = train_test_split(
        load_iris(as_frame=True).frame, test_size=0.3, random_state=0
    )
    path = tmp_path / "iris_train.csv"
    train.to_csv(path)
    result = subprocess.run(
        [sys.executable, "-m", "sklearn_lth", str(path), *TINY],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "105 samples, 4 features, 3 classes" in result.stdout
    assert (
        'note: column 1 ("Unnamed: 0") is unnamed and holds the distinct whole numbers '
    ) in result.stdout
    assert ", with gaps, in no order: a row index" in result.stdout
    assert "network 4-8-3" in result.stdout
    # pandas' name for it: --drop takes it, and --keep-index is not needed.
    for options in (CsvOptions(drop=("Unnamed: 0",)), CsvOptions(keep_index=True)):
        data = read_csv(str(path), options)
        assert len(data.feature_names) == 4 + options.keep_index


def test_drop_an_unnamed_column_by_pandas_name(tmp_path, capsys):
    """``Unnamed: N`` for the N-th column (from 0) when its header is empty."""
    rows = [[*row[:2], i % 3, *row[2:]] for i, row in enumerate(_iris_rows())]
    path = _write(tmp_path, [*IRIS_HEADER[:2], "", *IRIS_HEADER[2:]], rows)
    assert read_csv(path, CsvOptions()).feature_names[2] == "Unnamed: 2"
    data = read_csv(path, CsvOptions(drop=("Unnamed: 2",)))
    assert data.feature_names == IRIS_HEADER[:-1]
    assert main([path, *TINY, "--drop", "Unnamed: 2"]) == 0
    assert "150 samples, 4 features" in capsys.readouterr().out


@pytest.mark.parametrize("drop", ["", " ", "sl,,sw"])
def test_drop_an_empty_name_says_how_to_name_an_unnamed_column(tmp_path, drop, capsys):
    path = _write(tmp_path, ["", *IRIS_HEADER], _iris_rows(range(150)))
    assert main([path, *TINY, "--drop", drop]) == 2
    line = _error_line(capsys)
    assert "a column with an empty header is named as pandas names it" in line
    assert '"Unnamed: N" for the N-th column counted from 0' in line
    assert "--drop 'Unnamed: 0'" in line


def test_help_says_how_to_drop_an_unnamed_column(capsys):
    assert main(["--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert "is named as pandas names it, 'Unnamed: N' for the N-th column" in (
        help_text
    )
    assert "e.g. --drop 'Unnamed: 0'" in help_text


@pytest.mark.parametrize(
    "values, what",
    [(range(0, 300, 2), "0..298 are not 150 consecutive"), ([1, 2] * 75, "1..2")],
)
def test_an_identifier_that_is_not_consecutive_is_a_feature_with_a_note(
    tmp_path, values, what
):
    """Gaps or repeats: maybe a code the user means; said, not dropped."""
    path = _write(tmp_path, ["id", *IRIS_HEADER], _iris_rows(values))
    data = read_csv(path, CsvOptions())
    assert data.feature_names == ["id", *IRIS_HEADER[:-1]]
    [note] = data.notes
    assert what in note and "used as a feature" in note and "--drop id" in note


def test_a_frame_read_with_its_index_and_written_again_has_two(tmp_path):
    """``pd.read_csv(path).to_csv(path)``: "", then "Unnamed: 0"."""
    rows = [[i, i, *row] for i, row in enumerate(_iris_rows())]
    path = _write(tmp_path, ["", "Unnamed: 0", *IRIS_HEADER], rows)
    data = read_csv(path, CsvOptions())
    assert data.feature_names == IRIS_HEADER[:-1]
    # pandas' names: the empty header is "Unnamed: 0.1" beside "Unnamed: 0".
    assert [note[:32] for note in data.notes] == [
        'column 1 ("Unnamed: 0.1") is unn',
        'column 2 ("Unnamed: 0") is unnam',
    ]


def test_an_unnamed_column_after_a_named_one_is_a_feature(tmp_path):
    rows = [[*row[:2], i, *row[2:]] for i, row in enumerate(_iris_rows())]
    header = [*IRIS_HEADER[:2], "", *IRIS_HEADER[2:]]
    data = read_csv(_write(tmp_path, header, rows), CsvOptions())
    assert data.feature_names == [*IRIS_HEADER[:2], "Unnamed: 2", *IRIS_HEADER[2:4]]
    assert data.notes == []


def test_r_row_names_are_left_out(tmp_path):
    """R's write.csv: an unnamed first column of distinct texts."""
    names = [f'"car {i}"' for i in range(150)]
    data = read_csv(
        _write(tmp_path, ['""', *IRIS_HEADER], _iris_rows(names)), CsvOptions()
    )
    assert data.feature_names == IRIS_HEADER[:-1]
    assert "row names" in data.notes[0] and data.text_columns == {}


def test_the_label_column_is_never_an_index(tmp_path):
    rows = [[*row[:-1], i % 3] for i, row in enumerate(_iris_rows())]
    header = [*IRIS_HEADER[:-1], "id"]
    data = read_csv(_write(tmp_path, header, rows), CsvOptions())
    assert data.label == "id" and data.notes == []


@pytest.mark.slow
def test_an_index_column_does_not_leak_the_sorted_labels(tmp_path):
    """pandas' ``to_csv`` of sorted iris, run as the user does: the row
    number is not a feature, and the saved model takes the other columns,
    or the file's whole frame (index and label included), as with text
    columns."""
    pd = pytest.importorskip("pandas")
    frame = load_iris(as_frame=True).frame
    path = tmp_path / "iris.csv"
    frame.to_csv(path)  # with pandas' default index column
    output = tmp_path / "model.pkl"
    result = subprocess.run(
        [sys.executable, "-m", "sklearn_lth", str(path), *TINY]
        + ["--output", str(output)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "150 samples, 4 features, 3 classes" in result.stdout
    assert (
        'note: column 1 ("Unnamed: 0") is unnamed and holds the distinct whole '
        "numbers 0..149, in order"
    ) in result.stdout
    assert "network 4-8-3" in result.stdout
    with open(output, "rb") as handle:
        model = pickle.load(handle)
    assert list(model.feature_names_in_) == list(frame.columns[:-1])
    features = pd.read_csv(path, index_col=0).iloc[:, :-1]
    assert model.predict(features).shape == (150,)
    np.testing.assert_array_equal(
        model.predict(pd.read_csv(path)), model.predict(features)
    )


# -- text columns ------------------------------------------------------------------
def _with_color(tmp_path, colors, name="data.csv"):
    rows = [[*row[:2], color, *row[2:]] for row, color in zip(_iris_rows(), colors)]
    header = [*IRIS_HEADER[:2], "color", *IRIS_HEADER[2:]]
    return _write(tmp_path, header, rows, name=name)


@pytest.mark.slow
def test_a_text_column_is_one_hot_encoded_in_the_saved_model(tmp_path):
    """Run as the user does, on a real file: a note names the column and its
    categories, and the saved model takes the raw rows, text included."""
    pd = pytest.importorskip("pandas")
    path = _with_color(tmp_path, ["red", "green", "blue"] * 50)
    output = tmp_path / "model.pkl"
    result = subprocess.run(
        [sys.executable, "-m", "sklearn_lth", path, *TINY, "--output", str(output)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "150 samples, 5 features (1 text, one-hot encoded: 7 inputs)" in (
        result.stdout
    )
    assert 'note: one-hot encoding the text column "color" (3 categories)' in (
        result.stdout
    )
    assert "network 7-8-3" in result.stdout
    assert (
        "saved Pipeline(ColumnTransformer(StandardScaler, OneHotEncoder), "
        "LotteryTicketMLP)"
    ) in result.stdout
    with open(output, "rb") as handle:
        model = pickle.load(handle)
    rows = pd.read_csv(path).drop(columns="species")
    assert set(model.predict(rows)) <= {"setosa", "versicolor", "virginica"}
    encoder = model.named_steps["prepare"].named_transformers_["onehot"][-1]
    assert encoder.handle_unknown == "ignore"
    assert list(encoder.categories_[0]) == ["blue", "green", "red"]
    rows.loc[0, "color"] = "purple"  # unseen: encoded as no category
    assert model.predict(rows.iloc[:1]).shape == (1,)


def test_text_columns_without_pandas_train_on_an_object_array(
    tmp_path, monkeypatch, capsys
):
    hide_pandas(monkeypatch)
    path = _with_color(tmp_path, ["red", "green"] * 75)
    output = tmp_path / "model.pkl"
    assert main([path, *TINY, "--output", str(output)]) == 0
    with open(output, "rb") as handle:
        model = pickle.load(handle)
    assert not hasattr(model, "feature_names_in_")
    rows = np.array([[5.1, 3.5, "red", 1.4, 0.2]], dtype=object)
    assert model.predict(rows)[0] in {"setosa", "versicolor", "virginica"}


@pytest.mark.parametrize(
    "n_rows, n_distinct, limit",
    [(60, 50, 50), (60, 51, 50), (150, 75, 75), (150, 76, 75)],
)
def test_a_text_column_with_too_many_values_is_refused(
    tmp_path, n_rows, n_distinct, limit, capsys
):
    """At most max(50, half the rows) categories: free text or identifiers."""
    rows = [[i % 7, f"c{i % n_distinct}", i % 2] for i in range(n_rows)]
    path = _write(tmp_path, ["a", "code", "label"], rows)
    if n_distinct <= limit:
        assert read_csv(path, CsvOptions()).text_columns == {"code": n_distinct}
        return
    assert main([path, *TINY]) == 2
    assert _error_line(capsys).endswith(
        f'column "code" is text with {n_distinct} distinct values in {n_rows} '
        "rows (free text or an identifier?): too many to one-hot encode (at "
        f"most max(50, half the rows) = {limit}); leave it out with --drop code"
    )


def test_a_column_mostly_numbers_is_numeric_and_its_other_cells_errors(tmp_path):
    rows = [[1, 2, "x"], [3, "n/a", "y"], [5, 6, "x"]]
    path = _write(tmp_path, ["a", "b", "label"], rows)
    with pytest.raises(UsageError) as error:
        read_csv(path, CsvOptions())
    assert str(error.value) == (
        f'{path} line 3, column "b": "n/a" is not a number (nothing is imputed: '
        "fix the cell, or leave the column out with --drop b)"
    )


def test_every_bad_cell_is_named_at_once_by_line(tmp_path, capsys):
    """Empty cells, a word in a numeric column, an empty text cell and an
    empty label: one error names them all, by line; without the label's, it
    names the columns a --drop would leave out, when some feature is left."""
    rows = [[1, "red", 0, "x"], [2, "", 0, "y"], ["n/a", "blue", 0, "x"]]
    rows += [[4, "red", 0, ""], ["", "red", 0, "y"], [6, "blue", 0, "x"]]
    path = _write(tmp_path, ["b", "site", "c", "label"], rows)
    assert main([path, *TINY]) == 2
    listed = (
        'line 3, column "site": empty cell in a text column; '
        'line 4, column "b": "n/a" is not a number; '
    )
    assert _error_line(capsys) == (
        f"sklearn-lth: error: {path}: 4 cells to fix (nothing is imputed): "
        f'{listed}line 5, column "label": empty cell; '
        'line 6, column "b": empty cell. Fix them.'
    )
    rows[3][-1] = "x"
    path = _write(tmp_path, ["b", "site", "c", "label"], rows)
    assert main([path, *TINY]) == 2
    assert _error_line(capsys) == (
        f"sklearn-lth: error: {path}: 3 cells to fix (nothing is imputed): "
        f'{listed}line 6, column "b": empty cell. Fix them, or leave their '
        "columns out with --drop site --drop b."
    )


def test_bad_cells_suggest_no_drop_that_leaves_no_feature_or_many(tmp_path):
    rows = [[i, i, i, i, i % 2] for i in range(6)]
    for j in range(4):
        rows[j][j] = ""
    path = _write(tmp_path, ["a", "b", "c", "d", "label"], rows)
    with pytest.raises(UsageError) as error:  # four columns: fix the file
        read_csv(path, CsvOptions())
    assert str(error.value).endswith('line 5, column "d": empty cell. Fix them.')
    path = _write(tmp_path, ["c", "d", "label"], [r[2:] for r in rows])
    with pytest.raises(UsageError) as error:  # dropping both leaves none
        read_csv(path, CsvOptions())
    assert str(error.value).endswith('line 5, column "d": empty cell. Fix them.')


def test_many_bad_cells_are_counted_past_the_first_five(tmp_path):
    rows = [[i if i % 3 else "", i % 2] for i in range(30)]
    with pytest.raises(UsageError) as error:
        read_csv(_write(tmp_path, ["a", "label"], rows), CsvOptions())
    message = str(error.value)
    assert ': 10 cells to fix (nothing is imputed): line 2, column "a": empty' in (
        message
    )
    assert message.endswith('line 14, column "a": empty cell; and 5 more. Fix them.')


def test_bad_cells_message_stays_one_line_and_hints_once(tmp_path):
    """A cell holding a line break is shown escaped; the option that would
    read cells as numbers is given once; a column empty in every row is
    named as such."""
    rows = [[i, i, i % 2] for i in range(20)]
    rows[3][0], rows[5][0] = '"1,234"', '"2,345"'
    rows[7][1] = '"two\nlines"'
    with pytest.raises(UsageError) as error:
        read_csv(_write(tmp_path, ["a", "b", "label"], rows), CsvOptions())
    message = str(error.value)
    assert "\n" not in message and '"two\\nlines" is not a number' in message
    assert message.count("--thousands ,") == 1
    # (No --drop: dropping both columns would leave no feature.)
    assert message.endswith('Give --thousands , if "," separates thousands. Fix them.')
    rows = [[i, "", i % 2] for i in range(20)]
    with pytest.raises(UsageError) as error:
        read_csv(_write(tmp_path, ["a", "notes", "label"], rows), CsvOptions())
    assert str(error.value).endswith(
        'column "notes" is empty in every row; leave it out with --drop notes'
    )


def test_an_empty_cell_of_a_text_column_is_an_error(tmp_path):
    rows = [[1, "red", "x"], [3, "", "y"], [5, "blue", "x"]]
    with pytest.raises(UsageError, match='line 3, column "c": empty cell'):
        read_csv(_write(tmp_path, ["a", "c", "label"], rows), CsvOptions())


def test_a_text_feature_named_with_a_space_is_quoted_in_the_hint(tmp_path, capsys):
    rows = [[i, f"t{i}", i % 2] for i in range(120)]
    assert main([_write(tmp_path, ["a", "free text", "y"], rows), *TINY]) == 2
    assert _error_line(capsys).endswith("--drop 'free text'")


# -- the saved model takes the rows as pandas, csv or numpy read them -----------
def _spaced_csv(tmp_path, label_of, header="x,color,flag,label", label_space=" "):
    """The QA's file: ``-0.109, blue,True, C``, a space after some separators
    (pandas keeps it, the command line strips it) and a True/False column
    (pandas parses it as bool)."""
    rng = np.random.RandomState(0)
    lines = [header]
    for _ in range(160):
        x, color = rng.normal(), rng.choice(["blue", "green", "red"])
        flag = rng.choice(["True", "False"])
        label = label_of(color, flag)
        lines.append(f"{x:.3f}, {color},{flag},{label_space}{label}")
    path = tmp_path / "spaced.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def _printed_test_score(out: str) -> str:
    return re.search(r"\(round 1, .*\) test accuracy: ([\d.]+)", out)[1]


def _test_rows(n_rows, y):
    """The rows the command line held out (its split, stratified)."""
    from sklearn.model_selection import train_test_split

    return train_test_split(
        np.arange(n_rows), y, test_size=0.25, random_state=0, stratify=y
    )[1]


def _raw_rows(path):
    """Every row as the csv module reads it: strings, spaces kept."""
    with open(path, newline="") as handle:
        return list(csv.reader(handle))[1:]


FIT = ["--hidden-layer-sizes", "16", "--max-iter", "100", "--pruning-rounds", "1"]
FIT += ["--learning-rate-init", "0.05"]


@pytest.mark.parametrize("header", ["x,color,flag,label", "x, color,flag,label"])
def test_the_saved_model_takes_the_rows_pandas_and_csv_read(tmp_path, capsys, header):
    """Text values with spaces and a True/False column: the saved model
    scores on pandas.read_csv's frame (and on the csv module's strings, as
    an object array) what the command line printed for its test part. Its
    feature names are pandas' (" color", with a header spaced too)."""
    pd = pytest.importorskip("pandas")

    def label_of(color, flag):
        return "A" if color == "blue" else ("B" if flag == "True" else "C")

    path = _spaced_csv(tmp_path, label_of, header)
    output = tmp_path / "model.pkl"
    assert main([str(path), *FIT, "--output", str(output)]) == 0
    printed = _printed_test_score(capsys.readouterr().out)
    with open(output, "rb") as handle:
        model = pickle.load(handle)
    frame = pd.read_csv(path)
    color = header.split(",")[1]
    assert frame["flag"].dtype == bool and frame[color][0].startswith(" ")
    assert list(model.feature_names_in_) == ["x", color, "flag"]
    X, y = frame.drop(columns="label"), frame["label"].str.strip()
    test = _test_rows(len(y), y.to_numpy())
    assert f"{model.score(X.iloc[test], y.iloc[test]):.4f}" == printed
    assert float(printed) > 0.9
    assert len(set(model.predict(X))) == 3  # not one class for every row
    rows = np.array([row[:-1] for row in _raw_rows(path)], dtype=object)
    with warnings.catch_warnings():  # fitted on a frame, given an array
        warnings.filterwarnings("ignore", "X does not have valid feature names")
        from_csv = model.predict(rows[test])
    assert list(from_csv) == list(model.predict(X.iloc[test]))
    assert f"{np.mean(from_csv == y.iloc[test].to_numpy()):.4f}" == printed


def test_true_false_labels_are_booleans(tmp_path, capsys):
    """Labels all True or False come back as bools, as pandas reads them."""
    pd = pytest.importorskip("pandas")
    label_of = lambda color, flag: str(color != "red").lower()  # noqa: E731
    path = _spaced_csv(tmp_path, label_of, label_space="")
    output = tmp_path / "model.pkl"
    assert main([str(path), *FIT, "--output", str(output)]) == 0
    printed = _printed_test_score(capsys.readouterr().out)
    with open(output, "rb") as handle:
        model = pickle.load(handle)
    assert list(model.classes_) == [False, True]
    assert model.classes_.dtype == bool
    frame = pd.read_csv(path)
    X, y = frame.drop(columns="label"), frame["label"]
    assert y.dtype == bool
    test = _test_rows(len(y), y.to_numpy())
    assert f"{model.score(X.iloc[test], y.iloc[test]):.4f}" == printed


def test_text_cells_as_other_readers_give_them():
    """What pandas makes of a CSV's text: spaces, bools, whole floats of a
    column with NA, and a category pandas reads as missing."""
    from sklearn_lth._cli._steps import TextCells

    train = np.array(
        [["blue", "True", "1", "NA"], ["red", "False", "x", "b"]], dtype=object
    )
    cells = TextCells().fit(train)
    given = np.array(
        [[" blue ", True, 1.0, float("nan")], ["green", np.False_, "x", None]],
        dtype=object,
    )
    assert cells.transform(given).tolist() == [
        ["blue", "True", "1", "NA"],
        ["green", "False", "x", "NA"],
    ]
    # Two categories pandas reads as missing: NaN matches none of them.
    both = TextCells().fit(np.array([["NA"], ["None"]], dtype=object))
    assert both.transform(np.array([[None]], dtype=object)).tolist() == [[""]]
    assert cells.get_feature_names_out().tolist() == ["x0", "x1", "x2", "x3"]


# -- decimal marks and encodings ---------------------------------------------------
def _semicolon_iris(tmp_path, encoding="utf-8", header=IRIS_HEADER):
    rows = [
        [str(v).replace(".", ",") if isinstance(v, float) else v for v in row]
        for row in _iris_rows()
    ]
    return _write(tmp_path, header, rows, sep=";", encoding=encoding)


def test_decimal_comma(tmp_path, capsys):
    path = _semicolon_iris(tmp_path)
    data = read_csv(path, CsvOptions(decimal=","))
    assert data.X.dtype == float and data.X[0, 0] == pytest.approx(5.1)
    assert main([path, *TINY, "--decimal", ","]) == 0
    assert "150 samples, 4 features, 3 classes" in capsys.readouterr().out


def test_decimal_commas_without_the_option_are_refused_with_a_hint(tmp_path, capsys):
    assert main([_semicolon_iris(tmp_path), *TINY]) == 2
    assert _error_line(capsys).endswith(
        'column "sl": "5,1" looks like a number with a decimal comma; give '
        "--decimal , to read it as one"
    )


def test_decimal_equal_to_the_separator_is_refused(tmp_path, capsys):
    assert main([_semicolon_iris(tmp_path), "--sep", ";", "--decimal", ";"]) == 2
    assert "--decimal ';' is also the separator" in _error_line(capsys)


def test_a_decimal_comma_regression_target(tmp_path):
    rows = [[f"{i},5", f"{2 * i},25"] for i in range(30)]
    data = read_csv(
        _write(tmp_path, ["x", "y"], rows, sep=";"), CsvOptions(decimal=",")
    )
    assert data.y[1] == "2.25" and data.X[1, 0] == 1.5


def test_with_a_decimal_comma_a_dot_is_not_a_number(tmp_path):
    rows = [["1,5", "x"], ["1.234,5", "y"], ["2,5", "x"]]
    hint = '"1.234,5" is not a number with --decimal ","; give --thousands . if "."'
    with pytest.raises(UsageError, match=re.escape(hint)):
        read_csv(
            _write(tmp_path, ["a", "label"], rows, sep=";"), CsvOptions(decimal=",")
        )


@pytest.mark.parametrize("bad", ["a", "1", "", ",,", "-"])
def test_decimal_must_be_one_mark(bad, capsys):
    assert main(["data.csv", "--decimal", bad]) == 2
    assert "--decimal: must be one character" in _error_line(capsys)


def test_latin_1_needs_encoding(tmp_path, capsys):
    header = ["sépal", *IRIS_HEADER[1:]]
    path = _write(tmp_path, header, _iris_rows(), encoding="latin-1")
    assert main([path, *TINY]) == 2
    assert _error_line(capsys).endswith(
        "line 1 is not utf-8 text (byte 0xe9): if it is a CSV file, give its "
        "encoding, e.g. --encoding latin-1"
    )
    assert main([path, *TINY, "--encoding", "latin-1"]) == 0
    data = read_csv(path, CsvOptions(encoding="latin-1"))
    assert data.feature_names[0] == "sépal"


def test_a_utf8_byte_order_mark_is_skipped(tmp_path):
    path = _write(tmp_path, IRIS_HEADER, _iris_rows(), encoding="utf-8-sig")
    assert read_csv(path, CsvOptions()).feature_names[0] == "sl"
    assert read_csv(path, CsvOptions(encoding="UTF8")).feature_names[0] == "sl"


def test_unknown_encoding(capsys):
    assert main(["data.csv", "--encoding", "klingon"]) == 2
    assert "--encoding: unknown encoding 'klingon'" in _error_line(capsys)


# -- thousands separators --------------------------------------------------------
def _incomes(tmp_path, cells, name="data.csv", sep=","):
    rows = [[20 + i % 50, cell, i % 2] for i, cell in enumerate(cells)]
    return _write(tmp_path, ["age", "income", "label"], rows, name=name, sep=sep)


def test_a_quoted_thousands_separator_is_hinted_both_ways(tmp_path, capsys):
    """The QA's ``"79,543"`` in a comma-separated file: a decimal comma or a
    thousands separator, both named (not just --decimal, which leads nowhere
    with a comma as the separator); --thousands , reads it, as pandas'
    thousands=","."""
    cells = [f'"{10 + i % 90},{i % 1000:03d}"' for i in range(120)]
    path = _incomes(tmp_path, cells)
    assert main([path, *TINY]) == 2
    assert _error_line(capsys).endswith(
        'column "income": "10,000" looks like a number with a comma: give '
        "--thousands , if it separates thousands, or --decimal , if it is a "
        "decimal comma (a decimal comma needs another separator than the comma: "
        "save the file separated by ';')"
    )
    data = read_csv(path, CsvOptions(thousands=","))
    assert data.X.dtype == float and data.X[1, 1] == 11001
    assert main([path, *TINY, "--thousands", ","]) == 0
    assert "120 samples, 2 features, 2 classes" in capsys.readouterr().out


def test_several_thousands_separators_are_hinted_as_such(tmp_path, capsys):
    cells = [f'"1,{i:03d},{i:03d}.5"' for i in range(60)]
    assert main([_incomes(tmp_path, cells), *TINY]) == 2
    assert _error_line(capsys).endswith(
        '"1,000,000.5" looks like a number with "," between thousands; give '
        "--thousands , to read it as one"
    )


def test_dots_between_thousands_with_a_decimal_comma(tmp_path, capsys):
    cells = [f"{1 + i % 9}.{i:03d},5" for i in range(60)]
    path = _incomes(tmp_path, cells, sep=";")
    assert main([path, *TINY, "--decimal", ","]) == 2
    assert _error_line(capsys).endswith(
        '"1.000,5" looks like a number with "." between thousands; give '
        "--thousands . to read it as one"
    )
    data = read_csv(path, CsvOptions(decimal=",", thousands="."))
    assert data.X[1, 1] == 2001.5


def test_a_thousands_separator_in_a_numeric_column_is_hinted(tmp_path, capsys):
    rows = [[i, i % 2] for i in range(20)] + [['"1,234"', 0]]
    assert main([_write(tmp_path, ["a", "label"], rows), *TINY]) == 2
    assert _error_line(capsys).endswith(
        'column "a": "1,234" is not a number; give --thousands , if "," separates '
        "thousands (nothing is imputed: fix the cell)"  # (no other feature)
    )


def test_thousands_in_a_numeric_target(tmp_path):
    rows = [[i, f'"{i},{i:03d}.5"'] for i in range(1, 30)]
    data = read_csv(_write(tmp_path, ["x", "y"], rows), CsvOptions(thousands=","))
    assert data.y[1] == "2002.5"


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--thousands", ".", "--decimal", "."], "--thousands '.' is also the decimal"),
        (["--thousands", ","] + ["--decimal", ","], "is also the decimal mark"),
        (["--thousands", "a"], "--thousands: must be one character that separates"),
        (["--thousands", "12"], "--thousands: must be one character that separates"),
    ],
)
def test_thousands_mistakes(tmp_path, argv, expected, capsys):
    path = _write(tmp_path, IRIS_HEADER, _iris_rows())
    assert main([path, *TINY, *argv]) == 2
    assert expected in _error_line(capsys)


def test_thousands_may_be_the_separator(tmp_path):
    """As pandas' sep="," with thousands=",": quoted cells carry it."""
    path = _incomes(tmp_path, [f'"{i},500"' for i in range(1, 80)])
    data = read_csv(path, CsvOptions(sep=",", thousands=","))
    assert data.X[0, 1] == 1500


# -- spreadsheet endings -----------------------------------------------------------
def test_every_line_ending_in_the_separator(tmp_path, capsys):
    """Excel's ``a;b;label;``: an empty last column, ignored with a note
    (it was ``line 2, column "": empty cell``)."""
    path = tmp_path / "data.csv"
    lines = [";".join(IRIS_HEADER) + ";"] + [
        ";".join(map(str, row)) + ";" for row in _iris_rows()
    ]
    path.write_text("\n".join(lines) + "\n")
    data = read_csv(str(path), CsvOptions())
    assert data.feature_names == IRIS_HEADER[:-1] and data.label == "species"
    assert data.notes == [
        'the last column has no header and no value (every line ends in ";"): ignored'
    ]
    assert main([str(path), *TINY]) == 0
    assert "150 samples, 4 features, 3 classes" in capsys.readouterr().out


def test_rows_of_separators_only_are_blank(tmp_path, capsys):
    """A trailing ``,,,,`` (and one inside): skipped like empty lines, not
    "empty cell ... --drop" of a good column."""
    rows = _iris_rows(range(1000, 1150))
    header = ["customer_id", *IRIS_HEADER]
    path = tmp_path / "data.csv"
    lines = [",".join(header)] + [",".join(map(str, row)) for row in rows]
    lines.insert(50, "," * 5)
    lines.append("," * 5)
    path.write_text("\n".join(lines) + "\n")
    assert main([str(path), *TINY]) == 0
    assert "150 samples, 4 features, 3 classes" in capsys.readouterr().out
    assert len(read_csv(str(path), CsvOptions()).y) == 150


def test_a_last_unnamed_column_with_values_is_kept(tmp_path):
    """Only a last column empty in every row, header included, is ignored."""
    rows = [[*row, i % 4] for i, row in enumerate(_iris_rows())]
    path = _write(tmp_path, [*IRIS_HEADER, ""], rows)
    assert read_csv(path, CsvOptions()).label == "Unnamed: 5"
    data = read_csv(path, CsvOptions(label_column="species"))
    assert data.feature_names == [*IRIS_HEADER[:-1], "Unnamed: 5"]
    assert data.notes == []


# -- --drop ------------------------------------------------------------------------
def test_drop_comma_separated_and_repeated(tmp_path, capsys):
    path = _with_color(tmp_path, ["red", "green", "blue"] * 50)
    data = read_csv(path, CsvOptions(drop=("color,sw", "pl")))
    assert data.feature_names == ["sl", "pw"]
    assert main([path, *TINY, "--drop", "color,sw", "--drop", "pl"]) == 0
    assert "150 samples, 2 features, 3 classes" in capsys.readouterr().out


def test_drop_a_name_with_a_comma(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text('"a,b",c,label\n1,2,x\n3,4,y\n')
    assert read_csv(str(path), CsvOptions(drop=("a,b",))).feature_names == ["c"]


@pytest.mark.parametrize(
    "drop, expected",
    [
        ("colour", '--drop: no column "colour" in'),
        ("species", '--drop species: "species" is the label column'),
        ("sl,sw,pl,pw", "no feature column is left after --drop"),
    ],
)
def test_drop_mistakes(tmp_path, drop, expected, capsys):
    path = _write(tmp_path, IRIS_HEADER, _iris_rows())
    assert main([path, "--drop", drop]) == 2
    line = _error_line(capsys)
    assert expected in line
    if "no column" in line:
        assert line.endswith('its columns are: "sl", "sw", "pl", "pw", "species"')


@pytest.mark.parametrize(
    "option",
    [
        ["--drop", "x"],
        ["--keep-index"],
        ["--decimal", ","],
        ["--encoding", "latin-1"],
    ],
)
def test_csv_options_on_a_bundled_dataset(option, capsys):
    assert main(["iris", *option]) == 2
    assert f"{option[0]} applies to CSV files only" in _error_line(capsys)


# -- what is not a regular file, or too large -------------------------------------
@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
def test_a_device_is_refused_before_reading(capsys):
    assert main(["/dev/zero", *TINY]) == 2
    assert _error_line(capsys) == (
        "sklearn-lth: error: /dev/zero is a character device, not a CSV file; "
        "give the path of a regular file"
    )


def test_a_directory_is_refused(tmp_path, capsys):
    assert main([str(tmp_path), *TINY]) == 2
    assert f"{tmp_path} is a directory, not a CSV file" in _error_line(capsys)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes")
def test_a_named_pipe_is_refused_without_waiting_for_a_writer(tmp_path, capsys):
    fifo = str(tmp_path / "data.csv")
    os.mkfifo(fifo)

    def write_if_read():  # unblocks a reader that should not be there
        with open(fifo, "w") as handle:
            handle.write("a,b\n1,2\n")

    threading.Thread(target=write_if_read, daemon=True).start()
    assert main([fifo, *TINY]) == 2
    assert "data.csv is a named pipe, not a CSV file" in _error_line(capsys)


def test_a_file_too_large_for_memory_is_refused_by_its_size(
    tmp_path, monkeypatch, capsys
):
    path = _write(tmp_path, IRIS_HEADER, _iris_rows())
    size = os.path.getsize(path)
    monkeypatch.setattr(_cli, "available_memory", lambda: 1000)
    assert main([path, *TINY]) == 2
    line = _error_line(capsys)
    needed = _tabular.format_size(size * _tabular.READ_BYTES_PER_FILE_BYTE)
    assert line.endswith(
        f"data.csv is {_tabular.format_size(size)}: reading it needs about "
        f"{needed} of memory, more than the 1 kB available; use a sample of its "
        "rows"
    )


@pytest.mark.parametrize(
    "name, expected",
    [
        ("id", True),
        ("ID", True),
        ("Index", True),
        ("row number", True),
        ("user_id", True),
        ("user-ID", True),
        ("userId", True),
        ("PassengerId", True),
        ("mid", False),
        ("PAID", False),
        ("Idaho", False),
        ("identity", False),
        ("ident", False),
    ],
)
def test_looks_like_identifier(name, expected):
    assert _tabular.looks_like_identifier(name) == expected
