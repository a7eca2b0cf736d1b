"""Command line: find a lottery ticket on a dataset and print the round table.

``sklearn-lth`` (or ``python -m sklearn_lth``) splits a dataset into train
and test parts, scales the features (fitted on the train part), runs iterative
magnitude pruning and prints one row per round as it finishes, then the dense
network's test score beside the last round's, and says whether the last round
is a winning ticket (within one point of the dense network, or better).
``--output`` saves the fitted ``Pipeline(StandardScaler, estimator)``, which
takes raw features (a regressor inside a ``TransformedTargetRegressor``: the
CLI standardises regression targets too, and the saved model predicts in the
target's own units).

A CSV file is read with the standard library's :mod:`csv` module: its first
row names the columns, the separator is guessed from the file's start unless
``--sep`` is given, and every feature cell must be a finite number; a mistake
in the file is reported with its line number and column name. ``--task auto``
(the default) reads a numeric target with non-integer values or more than
``max(20, 5% of the samples)`` distinct values as a regression target, and
any other target as class labels.

The saved model keeps the CSV's labels and feature names. A classifier's
``classes_`` are the label column's values: ints when they are all whole
numbers, else the original text. When pandas is importable, the scaler is
fitted on a ``pandas.DataFrame`` whose columns are the CSV header, so the
saved pipeline has ``feature_names_in_`` and checks the column names of the
frames it predicts on; without pandas it is fitted on arrays and has no
feature names. The bundled datasets are fitted on arrays.

:func:`main` returns the exit status and never raises ``SystemExit``: 0 on
success (``--help`` included), 2 on a user mistake, reported as one line on
standard error, and 130 when interrupted with Ctrl-C, after saving the last
completed round to ``--output``. Warnings raised on the way are printed once
each, as ``warning: <message>`` on standard error.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import importlib.util
import io
import math
import os
import pickle
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
from sklearn import datasets
from sklearn.compose import TransformedTargetRegressor
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from ._mlp import LotteryTicketMLP, LotteryTicketMLPRegressor
from ._params import DEFAULTS, PARAMS
from ._pruning import per_round_rate

BUNDLED = {
    "digits": datasets.load_digits,
    "breast_cancer": datasets.load_breast_cancer,
    "wine": datasets.load_wine,
    "iris": datasets.load_iris,
}
EXIT_OK, EXIT_BROKEN_PIPE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
#: A last round this far (or less) below the dense network is a winning ticket.
ONE_POINT = 0.01
#: Seconds of a round without a printed row before a progress line.
HEARTBEAT_SECONDS = 10.0
#: Characters of a CSV file that the separator is guessed from.
SNIFF_CHARS = 4096
SEPARATORS = ",;\t|"


class UsageError(Exception):
    """A user mistake: :func:`main` prints its one-line message and returns 2."""


# -- option types ------------------------------------------------------------------
def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def sparsity(text: str) -> float:
    """A fraction of weights in [0, 1) (``--target-sparsity``)."""
    value = _float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(
            f"must be a fraction in [0, 1), e.g. 0.8 to remove 80% of the "
            f"weights; got {text}"
        )
    return value


def round_rate(text: str) -> float:
    """A per-round pruning rate in [0, 1) (``--output-layer-rate``)."""
    value = _float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(
            f"must be a fraction in [0, 1), e.g. 0.1 to remove 10% per round; "
            f"got {text}"
        )
    return value


def held_out_fraction(text: str) -> float:
    """A fraction of the samples in (0, 1) (``--test-size``)."""
    value = _float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(
            f"must be a fraction in (0, 1), e.g. 0.25; got {text}"
        )
    return value


def positive_int(text: str) -> int:
    """An integer >= 1."""
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1; got {text}")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0."""
    value = _float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0; got {text}")
    return value


def non_negative_float(text: str) -> float:
    """A finite number >= 0."""
    value = _float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more; got {text}")
    return value


def hidden_sizes(text: str) -> tuple[int, ...]:
    """Comma-separated positive integers, e.g. ``300,100``."""
    parts = [part.strip() for part in text.split(",")]
    if not all(part.isascii() and part.isdigit() and int(part) for part in parts):
        raise argparse.ArgumentTypeError(
            f"must be comma-separated positive whole numbers, e.g. 300,100; "
            f"got {text!r}"
        )
    return tuple(int(part) for part in parts)


def batch_size(text: str) -> str | int:
    """``auto`` or a positive integer."""
    if text == "auto":
        return text
    try:
        return positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"must be auto or a positive whole number; got {text!r}"
        ) from None


def seed(text: str) -> int:
    """A random seed in [0, 2**32 - 1]."""
    value = _int(text)
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(
            f"must be a whole number in [0, 4294967295]; got {text}"
        )
    return value


def separator(text: str) -> str:
    """One character; ``\\t`` or ``tab`` for a tab."""
    text = {"\\t": "\t", "tab": "\t"}.get(text, text)
    if len(text) != 1:
        raise argparse.ArgumentTypeError(
            f"must be one character, e.g. ';' or '\\t'; got {text!r}"
        )
    return text


# -- parsing -----------------------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on standard error."""

    def error(self, message: str):
        self.exit(
            EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n"
        )


def _add_data_options(group) -> None:
    """Add the options of the dataset and its split to argument group ``group``."""
    group.add_argument(
        "dataset",
        nargs="?",
        metavar="DATASET",
        default="digits",
        help=f"a bundled dataset ({', '.join(BUNDLED)}) or the path of a CSV file "
        "whose first row names the columns (default: %(default)s)",
    )
    group.add_argument(
        "--label-column",
        metavar="NAME",
        help="CSV files only: the column holding the target (default: the last)",
    )
    group.add_argument(
        "--sep",
        metavar="CHAR",
        type=separator,
        help="CSV files only: the field separator, one character, \\t for a tab "
        "(default: guessed from the file's start, else a comma)",
    )
    group.add_argument(
        "--task",
        choices=["auto", "classification", "regression"],
        default="auto",
        help="auto treats the target as a regression target when it is numeric "
        "and has non-integer values or more than max(20, 5%% of the samples) "
        "distinct values, and as class labels otherwise (default: %(default)s)",
    )
    group.add_argument(
        "--test-size",
        metavar="FRACTION",
        type=held_out_fraction,
        default=0.25,
        help="fraction of the samples held out to score each round, in (0, 1) "
        "(default: %(default)s)",
    )
    group.add_argument(
        "--random-state",
        metavar="SEED",
        type=seed,
        default=0,
        help="seed of the split, the initial weights and the shuffling "
        "(default: %(default)s)",
    )


def _add_pruning_options(group) -> None:
    """Add the options of the network and its pruning to ``group``."""
    group.add_argument(
        "--hidden-layer-sizes",
        metavar="UNITS",
        type=hidden_sizes,
        default=",".join(map(str, DEFAULTS["hidden_layer_sizes"])),
        help="units of each hidden layer, comma-separated, e.g. 300,100 "
        "(default: %(default)s)",
    )
    group.add_argument(
        "--target-sparsity",
        metavar="FRACTION",
        type=sparsity,
        default=DEFAULTS["target_sparsity"],
        help="fraction of the weights removed by the last round, in [0, 1), "
        "e.g. 0.8 (default: %(default)s)",
    )
    group.add_argument(
        "--pruning-rounds",
        metavar="N",
        type=positive_int,
        default=DEFAULTS["pruning_rounds"],
        help="rounds of pruning, rewinding and retraining after the dense "
        "round 0 (default: %(default)s)",
    )
    group.add_argument(
        "--pruning-scope",
        choices=PARAMS["pruning_scope"].options,
        default=DEFAULTS["pruning_scope"],
        help="global: remove the smallest weights of the whole network; layer: "
        "the same fraction of each layer (default: %(default)s)",
    )
    group.add_argument(
        "--output-layer-rate",
        metavar="FRACTION",
        type=round_rate,
        default=DEFAULTS["output_layer_rate"],
        help="fraction of the output layer's remaining weights removed each "
        "round, in [0, 1) (default: the rate of the other layers)",
    )
    group.add_argument(
        "--rewind",
        choices=PARAMS["rewind"].options,
        default=DEFAULTS["rewind"],
        help="where the surviving weights restart each round: init (initial "
        "weights), early or late (round 0's weights early in training), lr "
        "(trained weights, schedule restarted), none (fine-tuning), reinit "
        "(fresh random weights) (default: %(default)s)",
    )


def _add_training_options(group) -> None:
    """Add the options of each round's training to ``group``."""
    group.add_argument(
        "--solver",
        choices=PARAMS["solver"].options,
        default=DEFAULTS["solver"],
        help="optimizer (default: %(default)s)",
    )
    group.add_argument(
        "--learning-rate",
        choices=PARAMS["learning_rate"].options,
        default=DEFAULTS["learning_rate"],
        help="learning-rate schedule within a round (default: %(default)s)",
    )
    group.add_argument(
        "--learning-rate-init",
        metavar="RATE",
        type=positive_float,
        default=DEFAULTS["learning_rate_init"],
        help="initial learning rate, > 0 (default: %(default)s)",
    )
    group.add_argument(
        "--alpha",
        metavar="ALPHA",
        type=non_negative_float,
        default=DEFAULTS["alpha"],
        help="L2 penalty, >= 0 (default: %(default)s)",
    )
    group.add_argument(
        "--batch-size",
        metavar="N",
        type=batch_size,
        default=DEFAULTS["batch_size"],
        help="mini-batch size: a positive whole number, or auto for "
        "min(200, samples) (default: %(default)s)",
    )
    group.add_argument(
        "--max-iter",
        metavar="EPOCHS",
        type=positive_int,
        default=DEFAULTS["max_iter"],
        help="maximum epochs of each round (default: %(default)s)",
    )
    group.add_argument(
        "--early-stopping",
        action="store_true",
        help="end a round when the score on "
        f"{100 * DEFAULTS['validation_fraction']:g}%% of the training part, held "
        "out, stops improving (default: off)",
    )


def _add_output_options(group) -> None:
    """Add the options of what is printed and saved to ``group``."""
    group.add_argument(
        "--verbose",
        action="store_true",
        help="print the training loss of every epoch (default: off, and a "
        f"progress line after each {HEARTBEAT_SECONDS:.0f} s of a round without "
        "a row)",
    )
    group.add_argument(
        "--output",
        metavar="PATH",
        help="save the fitted Pipeline(StandardScaler, estimator) to this path "
        "as a pickle (default: not saved)",
    )
    group.add_argument(
        "--plot",
        metavar="PATH",
        help="save a PNG figure of the test score against the weights "
        "remaining to this path; needs matplotlib (default: no figure)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The command line's argument parser; every option is validated here."""
    parser = _Parser(
        prog="sklearn-lth",
        usage="%(prog)s [DATASET] [options]",
        description="Find a lottery ticket (a sparse sub-network that trains as "
        "well as the dense one) by iterative magnitude pruning.",
    )
    _add_data_options(parser.add_argument_group("data"))
    _add_pruning_options(parser.add_argument_group("network and pruning"))
    _add_training_options(parser.add_argument_group("training, in each round"))
    _add_output_options(parser.add_argument_group("output"))
    return parser


# -- data --------------------------------------------------------------------------
@dataclass
class Dataset:
    """Features, targets and, for a CSV file, where each row came from."""

    name: str
    X: np.ndarray
    y: np.ndarray
    feature_names: list[str] | None = None
    label: str | None = None
    lines: list[int] | None = None

    def where(self, row: int) -> str:
        """``data.csv line 7, column "age"`` for the label cell of ``row``."""
        if self.lines is None:
            return f"{self.name} sample {row}"
        return f'{self.name} line {self.lines[row]}, column "{self.label}"'


def load_dataset(name: str, label_column: str | None, sep: str | None) -> Dataset:
    """A bundled scikit-learn dataset by name, or a CSV file with a header row."""
    if name in BUNDLED:
        if label_column is not None or sep is not None:
            option = "--label-column" if label_column is not None else "--sep"
            raise UsageError(
                f"{option} applies to CSV files only, not to the bundled "
                f"dataset {name!r}"
            )
        X, y = BUNDLED[name](return_X_y=True)
        return Dataset(name, X, y)
    return read_csv(name, label_column, sep)


def _read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            return handle.read()
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path} is not UTF-8 text: {exc.reason}") from exc
    except OSError as exc:
        raise UsageError(
            f"{path!r} is neither a bundled dataset ({', '.join(BUNDLED)}) nor a "
            f"readable CSV file: {exc.strerror or exc}"
        ) from exc


def sniff_separator(text: str) -> str:
    """The separator of a CSV text, guessed from its first lines; else a comma."""
    sample = text[:SNIFF_CHARS]
    if len(text) > SNIFF_CHARS and "\n" in sample:
        sample = sample[: sample.rindex("\n")]
    try:
        return csv.Sniffer().sniff(sample, delimiters=SEPARATORS).delimiter
    except csv.Error:
        return ","


def _records(path: str, text: str, sep: str) -> list[tuple[int, list[str]]]:
    """``(line number, cells)`` of each non-blank row, cells stripped."""
    reader = csv.reader(io.StringIO(text), delimiter=sep)
    records = []
    try:
        for row in reader:
            if len(row) > 1 or (row and row[0].strip()):
                records.append((reader.line_num, [cell.strip() for cell in row]))
    except csv.Error as exc:
        raise UsageError(f"{path} line {reader.line_num}: {exc}") from exc
    return records


def _check_header(path: str, line: int, header: list[str]) -> None:
    if len(header) < 2:
        raise UsageError(
            f"{path} line {line}: found one column; a CSV file needs feature "
            "columns and a label column (use --sep if the separator is not "
            "guessed right)"
        )
    if all(_is_number(cell) for cell in header):
        raise UsageError(
            f"{path} line {line} holds numbers; the first row must name the columns"
        )
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise UsageError(f'{path} line {line}: column "{duplicates[0]}" appears twice')


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _not_a_number(cell: str) -> str:
    """Why ``cell`` is not a finite number, e.g. ``"abc" is not a number``."""
    if not cell:
        return "empty cell"
    try:
        float(cell)
    except ValueError:
        return f'"{cell}" is not a number'
    return f'"{cell}" is not a finite number'


def _features(path, header, records, label_index) -> np.ndarray:
    """The feature cells as floats, or an error naming the first bad cell."""
    columns = [j for j in range(len(header)) if j != label_index]
    X = np.empty((len(records), len(columns)))
    for i, (line, row) in enumerate(records):
        if len(row) != len(header):
            raise UsageError(
                f"{path} line {line}: {len(row)} cells, but the header names "
                f"{len(header)} columns"
            )
        try:
            X[i] = [float(row[j]) for j in columns]
        except ValueError:
            X[i] = np.nan
        if not np.isfinite(X[i]).all():
            j = columns[int(np.argmin([_is_number(row[j]) for j in columns]))]
            raise UsageError(
                f'{path} line {line}, column "{header[j]}": {_not_a_number(row[j])}'
            )
    return X


def read_csv(path: str, label_column: str | None, sep: str | None) -> Dataset:
    """A CSV file whose first row names the columns; errors name line and column."""
    text = _read_text(path)
    records = _records(path, text, sep or sniff_separator(text))
    if not records:
        raise UsageError(f"{path} is empty; it needs a header row and data rows")
    (header_line, header), body = records[0], records[1:]
    _check_header(path, header_line, header)
    if not body:
        raise UsageError(f"{path} has a header row but no data rows")
    label = header[-1] if label_column is None else label_column
    if label not in header:
        raise UsageError(
            f'no column "{label}" in {path}; its columns are: {", ".join(header)}'
        )
    j = header.index(label)
    X = _features(path, header, body, j)
    for line, row in body:
        if not row[j]:
            raise UsageError(f'{path} line {line}, column "{label}": empty cell')
    y = np.array([row[j] for _, row in body])
    names = [name for i, name in enumerate(header) if i != j]
    return Dataset(path, X, y, names, label, [line for line, _ in body])


# -- the target --------------------------------------------------------------------
def _numeric(y: np.ndarray) -> np.ndarray | None:
    """``y`` as finite floats, or None when some value is not a finite number."""
    try:
        values = np.asarray(y, dtype=float)
    except ValueError:
        return None
    return values if np.isfinite(values).all() else None


def resolve_task(y: np.ndarray, task: str) -> str:
    """``classification`` or ``regression``; ``auto`` decides from ``y``.

    A numeric target is a regression target when it has non-integer values or
    more than ``max(20, 5% of the samples)`` distinct values; anything else
    (strings, a few integer codes) is a set of class labels.
    """
    if task != "auto":
        return task
    values = _numeric(y)
    if values is None:
        return "classification"
    many = len(np.unique(values)) > max(20, 0.05 * len(values))
    return "regression" if many or not _whole(values) else "classification"


def _whole(values: np.ndarray) -> bool:
    return bool(np.all(values == np.round(values)))


def prepare_target(data: Dataset, task: str) -> np.ndarray:
    """The target as the estimator takes it, or an error for an unusable one.

    Regression targets become floats; class labels become ints when they are
    all whole numbers and keep their original values otherwise.
    """
    values = _numeric(data.y)
    if task == "regression":
        if values is None:
            bad = next(i for i, v in enumerate(data.y) if not _is_number(str(v)))
            raise UsageError(
                f"{data.where(bad)}: {_not_a_number(str(data.y[bad]))}; "
                "--task regression needs a numeric target"
            )
        return values
    whole = values is not None and _whole(values)
    y = values.astype(int) if whole else data.y
    _check_classes(y)
    return y


def _check_classes(y: np.ndarray) -> None:
    labels, counts = np.unique(y, return_counts=True)
    if len(labels) < 2:
        raise UsageError(
            f'the target has a single class ("{labels[0]}"); a classifier needs '
            "at least 2"
        )
    rare = labels[counts < 2]
    if len(rare):
        shown = ", ".join(f'"{label}"' for label in rare[:3])
        more = f" and {len(rare) - 3} more" if len(rare) > 3 else ""
        which = "class" if len(rare) == 1 else "classes"
        has = "has" if len(rare) == 1 else "have"
        raise UsageError(
            f"{which} {shown}{more} {has} a single sample; the stratified "
            "train/test split needs at least 2 per class (remove the rare "
            "classes, or use --task regression for a numeric target)"
        )


# -- splitting and the estimator ---------------------------------------------------
@dataclass
class Split:
    """Scaled train and test features, their targets and the fitted scalers.

    Regression targets are standardised too (``target_scaler``): a network
    learns them at any scale with the default learning rate, and R² is the
    same on standardised targets as on the original ones.
    """

    X_train: np.ndarray
    X_test: np.ndarray
    y_train: np.ndarray
    y_test: np.ndarray
    scaler: StandardScaler
    target_scaler: StandardScaler | None = None


def _one_line(message: object) -> str:
    return " ".join(str(message).split())


def _with_names(X: np.ndarray, names: list[str] | None):
    """``X`` as a DataFrame with columns ``names`` when pandas is importable."""
    if names is None:
        return X
    try:
        import pandas as pd
    except ImportError:
        return X
    return pd.DataFrame(X, columns=names)


def split_and_scale(data: Dataset, y: np.ndarray, task: str, args) -> Split:
    """Stratified (for classes) train/test split; the scaler fits the train part."""
    X = _with_names(data.X, data.feature_names)
    try:
        X_train, X_test, y_train, y_test = train_test_split(
            X,
            y,
            test_size=args.test_size,
            random_state=args.random_state,
            stratify=y if task == "classification" else None,
        )
    except ValueError as exc:
        raise UsageError(
            f"cannot split {len(y)} samples with --test-size {args.test_size}: "
            f"{_one_line(exc)}"
        ) from exc
    scaler = StandardScaler().fit(X_train)
    target_scaler = None
    if task == "regression":
        target_scaler = StandardScaler().fit(y_train.reshape(-1, 1))
        y_train, y_test = (
            target_scaler.transform(part.reshape(-1, 1)).ravel()
            for part in (y_train, y_test)
        )
    return Split(
        scaler.transform(X_train),
        scaler.transform(X_test),
        y_train,
        y_test,
        scaler,
        target_scaler,
    )


def build_estimator(args, task: str):
    """The estimator the options describe, its parameters validated."""
    Estimator = LotteryTicketMLPRegressor if task == "regression" else LotteryTicketMLP
    estimator = Estimator(
        hidden_layer_sizes=args.hidden_layer_sizes,
        target_sparsity=args.target_sparsity,
        pruning_rounds=args.pruning_rounds,
        pruning_scope=args.pruning_scope,
        output_layer_rate=args.output_layer_rate,
        rewind=args.rewind,
        solver=args.solver,
        learning_rate=args.learning_rate,
        learning_rate_init=args.learning_rate_init,
        alpha=args.alpha,
        batch_size=args.batch_size,
        max_iter=args.max_iter,
        early_stopping=args.early_stopping,
        random_state=args.random_state,
        verbose=args.verbose,
    )
    try:
        estimator._validate_params()
    except ValueError as exc:  # sklearn's InvalidParameterError
        raise UsageError(_one_line(exc)) from exc
    return estimator


def check_outputs(args) -> None:
    """Refuse, before any training, output paths that cannot be written."""
    for option, path in (("--output", args.output), ("--plot", args.plot)):
        if path is None:
            continue
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise UsageError(f"{option} {path}: there is no directory {folder}")
        if os.path.isdir(path):
            raise UsageError(f"{option} {path} is a directory")
    if args.plot and importlib.util.find_spec("matplotlib") is None:
        raise UsageError("--plot needs matplotlib: pip install matplotlib")


# -- running the search ------------------------------------------------------------
class Heartbeat:
    """Prints ``  ... round k still training (20 s)`` while a round runs long.

    Used as a context manager, a daemon thread prints that line after every
    ``interval`` seconds without output; :meth:`emit` prints a table row and
    restarts the clock for the next round. Leaving the context stops and joins
    the thread, so nothing is printed after it.

    Parameters
    ----------
    interval : float or None
        Seconds without output before a progress line; None prints none.
    """

    def __init__(self, interval: float | None):
        self.interval = interval
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._round = 0
        self._round_start = self._last_output = time.monotonic()

    def __enter__(self) -> Heartbeat:
        self._round_start = self._last_output = time.monotonic()
        if self.interval is not None:
            self._thread = threading.Thread(
                target=self._run, name="sklearn-lth-heartbeat", daemon=True
            )
            self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join()

    def emit(self, line: str, next_round: int) -> None:
        """Print ``line``; the next progress line is about ``next_round``."""
        with self._lock:
            print(line, flush=True)
            self._round = next_round
            self._round_start = self._last_output = time.monotonic()

    def _run(self) -> None:
        while True:
            with self._lock:
                wait = self._last_output + self.interval - time.monotonic()
            if self._stopped.wait(max(wait, 0.0)):
                return
            with self._lock:
                now = time.monotonic()
                if self._stopped.is_set() or now - self._last_output < self.interval:
                    continue
                seconds = now - self._round_start
                print(
                    f"  ... round {self._round} still training ({seconds:.0f} s)",
                    flush=True,
                )
                self._last_output = now


@dataclass
class Search:
    """What the search printed: each round's test score; whether interrupted."""

    test_scores: list[float] = field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False


def _row(record: dict, test_score: float) -> str:
    return (
        f"| {record['round']:5d} | {record['remaining_parameters']:17d} | "
        f"{record['sparsity']:8.1%} | {record['n_iter']:6d} | "
        f"{record['train_score']:.4f} | {test_score:.4f} | "
        f"{record['seconds']:7.2f} |"
    )


def run_search(estimator, split: Split, verbose: bool) -> Search:
    """Fit ``estimator``, printing a row per round; Ctrl-C ends it early.

    Errors of the estimator's own validation and of the fit (a schedule it
    cannot follow, :class:`TrainingDivergedError`) become :class:`UsageError`.
    """
    search = Search()
    heartbeat = Heartbeat(None if verbose else HEARTBEAT_SECONDS)

    def report(record, round_model):
        test_score = round_model.score(split.X_test, split.y_test)
        search.test_scores.append(test_score)
        heartbeat.emit(_row(record, test_score), record["round"] + 1)

    tic = time.perf_counter()
    try:
        with heartbeat:
            estimator.fit(split.X_train, split.y_train, on_round_end=report)
    except KeyboardInterrupt:
        search.interrupted = True
    except ValueError as exc:  # InvalidParameterError, TrainingDivergedError
        raise UsageError(_one_line(exc)) from exc
    search.seconds = time.perf_counter() - tic
    return search


@contextlib.contextmanager
def printed_warnings() -> Iterator[None]:
    """Print each warning once, as ``warning: <message>`` on standard error."""
    seen = set()

    def show(message, category, filename, lineno, file=None, line=None):
        text = _one_line(message)
        if text not in seen:
            seen.add(text)
            print(f"warning: {text}", file=sys.stderr, flush=True)

    with warnings.catch_warnings():
        warnings.simplefilter("always", UserWarning)
        warnings.simplefilter("always", RuntimeWarning)
        warnings.showwarning = show
        yield


# -- reporting ---------------------------------------------------------------------
def print_header(args, data: Dataset, split: Split, task: str, metric: str) -> None:
    """The dataset, the network, the schedule and the table's header."""
    n_samples, n_features = data.X.shape
    if task == "regression":
        kind, n_outputs = "a numeric target (regression)", 1
    else:
        n_classes = len(np.unique(split.y_train))
        kind, n_outputs = f"{n_classes} classes", 1 if n_classes == 2 else n_classes
    print(
        f"sklearn-lth: {args.dataset}: {n_samples} samples, {n_features} features, "
        f"{kind}; train {len(split.y_train)} / test {len(split.y_test)}"
    )
    layers = "-".join(map(str, (n_features, *args.hidden_layer_sizes, n_outputs)))
    per_round = per_round_rate(args.target_sparsity, args.pruning_rounds)
    print(
        f"network {layers}, target sparsity "
        f"{args.target_sparsity:.0%} in {args.pruning_rounds} rounds "
        f"({per_round:.1%} of the remaining weights per round), "
        f"rewind={args.rewind}, scope={args.pruning_scope}; scores are {metric}"
    )
    print()
    print("| round | remaining weights | sparsity | epochs | train | test | seconds |")
    print("|------:|------------------:|---------:|-------:|------:|-----:|--------:|")
    sys.stdout.flush()


def print_verdict(search: Search, estimator, metric: str) -> None:
    """The dense network's test score, the last round's, and whether it wins."""
    dense, last = search.test_scores[0], search.test_scores[-1]
    ticket = estimator.ticket_
    winning = last - dense >= -ONE_POINT - 1e-12
    print()
    print(f"dense network (round 0) test {metric}: {dense:.4f}")
    print(
        f"{'winning ticket' if winning else 'last round'} "
        f"(round {len(search.test_scores) - 1}, {ticket.sparsity:.1%} sparse, "
        f"{ticket.compression_ratio:.1f}x fewer weights) test {metric}: {last:.4f}"
    )
    print(
        f"difference: {100 * (last - dense):+.2f} points; total {search.seconds:.1f} s"
    )
    if not winning:
        advice = "try a lower --target-sparsity or more --max-iter"
        if metric == "accuracy":  # a classifier: the CV estimator can choose
            advice = (
                "try a lower --target-sparsity, more --max-iter, or "
                "LotteryTicketMLPCV to choose the sparsity by cross-validation"
            )
        print(
            f"the last round ({ticket.sparsity:.1%} sparse) scores "
            f"{100 * (dense - last):.1f} points below the dense network: not a "
            f"winning ticket at this sparsity; {advice}"
        )


def report_interrupt(estimator, split: Split, output: str | None) -> int:
    """Say which round Ctrl-C stopped and which one is kept; save the kept one."""
    if not hasattr(estimator, "history_"):
        print(
            "sklearn-lth: interrupted before any round completed; nothing kept",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    kept = int(estimator.history_["round"][-1])
    sparse = float(estimator.history_["sparsity"][-1])
    when = (
        f"in round {kept + 1}"
        if kept < estimator.pruning_rounds
        else "after the last round"
    )
    print(
        f"sklearn-lth: interrupted {when}; kept round {kept} ({sparse:.1%} sparse)",
        file=sys.stderr,
    )
    if output:
        save_model(output, split, estimator, f" (round {kept})")
    return EXIT_INTERRUPTED


def _in_target_units(estimator, target_scaler: StandardScaler):
    """``estimator`` fitted on standardised targets, predicting original ones.

    A fitted :class:`~sklearn.compose.TransformedTargetRegressor` around it,
    built without refitting (refitting would run the search again).
    """
    model = TransformedTargetRegressor(
        regressor=estimator, transformer=target_scaler, check_inverse=False
    )
    model.regressor_, model.transformer_ = estimator, target_scaler
    model._training_dim = 1
    return model


def save_model(path: str, split: Split, estimator, note: str = "") -> None:
    """Pickle ``Pipeline(scaler, estimator)``, which takes raw features.

    A regressor is saved inside a ``TransformedTargetRegressor`` that undoes
    the target scaling, so the pipeline predicts in the target's own units.
    """
    if split.target_scaler is not None:
        estimator = _in_target_units(estimator, split.target_scaler)
    model = Pipeline([("scale", split.scaler), ("mlp", estimator)])
    try:
        with open(path, "wb") as handle:
            pickle.dump(model, handle)
    except OSError as exc:
        raise UsageError(f"cannot save the model to {path}: {exc}") from exc
    name = type(estimator).__name__
    print(f"saved Pipeline(StandardScaler, {name}){note} to {path}")


def save_plot(path: str, estimator, test_scores: list, metric: str, title: str):
    """Test score per round against the weights remaining, to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ._display import LotteryTicketDisplay

    remaining = 100 * (1 - np.asarray(estimator.history_["sparsity"]))
    display = LotteryTicketDisplay(
        remaining=remaining,
        scores=test_scores,
        dense_score=test_scores[0],
        name=f"rewind={estimator.rewind!r}",
        score_name=f"test {metric}",
    ).plot()
    display.ax_.set_title(f"Lottery ticket search on {title}")
    display.figure_.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(display.figure_)
    print(f"saved the figure to {path}")


# -- the command -------------------------------------------------------------------
def run(args: argparse.Namespace) -> int:
    """Load, split, search, report and save; return the exit status."""
    check_outputs(args)
    data = load_dataset(args.dataset, args.label_column, args.sep)
    task = resolve_task(data.y, args.task)
    y = prepare_target(data, task)
    split = split_and_scale(data, y, task, args)
    estimator = build_estimator(args, task)
    metric = "R2" if task == "regression" else "accuracy"
    print_header(args, data, split, task, metric)
    search = run_search(estimator, split, args.verbose)
    if search.interrupted:
        return report_interrupt(estimator, split, args.output)
    print_verdict(search, estimator, metric)
    if args.plot:
        save_plot(args.plot, estimator, search.test_scores, metric, args.dataset)
    if args.output:
        save_model(args.output, split, estimator)
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Run the command line on ``argv`` (default: ``sys.argv[1:]``).

    Parameters
    ----------
    argv : list of str, optional
        The arguments, without the program name.

    Returns
    -------
    int
        The exit status: 0 on success and for ``--help``; 2 after a user
        mistake, reported as one line on standard error; 130 when interrupted
        with Ctrl-C; 1 when standard output was closed early (a pipe into
        ``head``). ``main`` never raises ``SystemExit``.
    """
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, or a mistake argparse has reported
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        with printed_warnings():
            return run(args)
    except UsageError as exc:
        sys.stdout.flush()
        print(f"sklearn-lth: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        sys.stdout.flush()
        print("sklearn-lth: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # ``sklearn-lth | head``: the reader has gone
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


if __name__ == "__main__":
    sys.exit(main())
