"""Command line: find a lottery ticket on a dataset and print the round table.

``sklearn-lth`` (or ``python -m sklearn_lth``) splits a dataset into train
and test parts, scales the features (fitted on the train part), runs iterative
magnitude pruning and prints one row per round as it finishes, then the dense
network's test score beside the last round's, and says whether the last round
is a winning ticket (within one point of the dense network, or better).
``--output`` saves the fitted ``Pipeline(StandardScaler, estimator)``, which
takes raw features (a regressor inside a ``TransformedTargetRegressor``: the
CLI standardises regression targets too, and the saved model predicts in the
target's own units). With text columns the pipeline's first step is a
``ColumnTransformer`` that scales the numeric columns and one-hot encodes the
text ones (``OneHotEncoder(handle_unknown="ignore")``), so the saved model
takes the CSV's rows as they are.

A CSV file is read by :mod:`._tabular` (its docstring states the rules in
full): its first row names the columns, the separator is guessed from the
file's start unless ``--sep`` is given, ``--decimal ,`` reads ``1,5``,
``--encoding`` decodes other than UTF-8, and ``--drop`` leaves columns out. A
feature column is numeric when at least half of its cells are numbers, and
then every cell must be a finite number; any other column is text, one-hot
encoded, unless it has more than ``max(50, half the rows)`` distinct values
(free text or an identifier: refused, ``--drop`` it). Empty cells are errors,
never imputed; a mistake in the file is reported with its line number and
column name. An index column is left out with a note (``--keep-index`` keeps
it): an unnamed column before any named one (header empty or ``Unnamed: 0``)
of distinct whole numbers that are 0..n-1 or 1..n in any order, or
increasing, or of distinct texts (R's row names); or a column named as a row
identifier (``id``, ``index``, ``PassengerId``, ``user_id``...) holding n
consecutive whole numbers in any order. An identifier-named column that does
not hold them stays a feature, with a note. ``--task auto`` (the default)
reads a numeric target with non-integer values or more than ``max(20, 5% of
the samples)`` distinct values as a regression target, and any other target
as class labels.

The saved model keeps the CSV's labels and feature names. A classifier's
``classes_`` are the label column's values: ints when they are all whole
numbers, else the original text. When pandas is importable, the scaler is
fitted on a ``pandas.DataFrame`` whose columns are the CSV header, so the
saved pipeline has ``feature_names_in_`` and checks the column names of the
frames it predicts on; without pandas it is fitted on arrays (of objects,
with text columns) and has no feature names. The bundled datasets are fitted
on arrays.

Before anything is trained, every path to write is checked: ``--output``
and ``--plot`` must be writable (tried, then cleaned up), must not be the
dataset, nor each other, and ``--plot`` must end in a format matplotlib
writes; ``--checkpoint-dir`` must not be a file. A dataset that is not a
regular file (``/dev/zero``, a pipe, a directory) is refused before it is
read, and so are a file or a network too large for the memory available
(about 120 bytes per weight to train with Adam or SGD, 600 with L-BFGS, per
seed searched in parallel). The model is saved before the optional figure,
and every file is written atomically (to a temporary file in the same
folder, then renamed over the old one), so a crash never leaves half a file.

With ``--n-seeds`` above 1 the estimator searches that many seeds and keeps
the one that scores best on a held-out part of the training set; the rows
are then printed when the search ends (the kept seed's, scored on that
held-out part) and the verdict compares them; the test score is the kept
ticket's. With ``--checkpoint-dir`` the search is saved after every round,
and the same command run again resumes after the last completed round (the
rounds read back are not scored again).

:func:`main` returns the exit status and never raises ``SystemExit``: 0 on
success (``--help`` and ``--version`` included), 2 on a user mistake or a
failure to save or to allocate memory, reported as one line on standard
error, and 130 when interrupted with Ctrl-C, after saving the last completed
round to ``--output``. Warnings raised on the way are printed once each, as
``warning: <message>`` on standard error, after the verdict (those raised
while reading the data, before the table). How a CSV file was read (an index
column left out, text columns one-hot encoded) is said on standard output,
as ``note: <message>`` lines under the first line of the header.
:func:`sklearn_lth._entry.main` runs :func:`main` after importing this module
(numpy and scikit-learn with it) under its own Ctrl-C handler: the console
script's entry point.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
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
from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from ._cli_outputs import check_outputs, plot_format, write_atomically
from ._interrupt import StopFlag, nested_fit
from ._mlp import LotteryTicketMLP, LotteryTicketMLPRegressor
from ._params import DEFAULTS, PARAMS
from ._pruning import per_round_rate
from ._tabular import (
    MIN_CATEGORIES_LIMIT,
    CsvOptions,
    Dataset,
    UsageError,
    check_encoding,
    format_size,
    is_number,
    not_a_number,
    read_csv,
    sniff_separator,
)

__all__ = ["Dataset", "UsageError", "build_parser", "main", "sniff_separator"]

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
#: Peak bytes of memory per weight of the network while a round trains,
#: measured on digits with 1.5 and 6 million weights (120 for Adam and SGD,
#: 590 for L-BFGS, whose history holds ten pairs of full vectors): the
#: weights, their gradients, the optimizer's state, the rewind snapshot and
#: the activations of a batch.
BYTES_PER_WEIGHT = {"adam": 120, "sgd": 120, "lbfgs": 600}


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


def decimal_mark(text: str) -> str:
    """One character that is neither a digit, a sign, a letter nor a space."""
    if len(text) != 1 or text.isalnum() or text.isspace() or text in "+-":
        raise argparse.ArgumentTypeError(
            f"must be one character that marks the decimals, e.g. ',' for 1,5; "
            f"got {text!r}"
        )
    return text


def encoding(text: str) -> str:
    """A text encoding Python knows, e.g. ``latin-1``."""
    try:
        check_encoding(text)
    except LookupError:
        raise argparse.ArgumentTypeError(
            f"unknown encoding {text!r}; e.g. utf-8, latin-1, cp1252"
        ) from None
    return text


def column_names(text: str) -> str:
    """Column names, comma-separated (split once the header is known)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("needs a column name")
    return text


def n_jobs(text: str) -> int:
    """A number of parallel jobs: a positive integer, or -1 for all processors."""
    value = _int(text)
    if value == 0 or value < -1:
        raise argparse.ArgumentTypeError(
            f"must be a positive whole number, or -1 for all processors; got {text}"
        )
    return value


def path(text: str) -> str:
    """A non-empty path."""
    if not text:
        raise argparse.ArgumentTypeError("must be a path, not an empty string")
    return text


# -- parsing -----------------------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on standard error."""

    def error(self, message: str):
        self.exit(
            EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n"
        )


def version() -> str:
    """The installed distribution's version, else the package's own."""
    try:
        return importlib.metadata.version("sklearn-lth")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree
        from . import __version__

        return __version__


def _add_data_options(group) -> None:
    """Add the options of the dataset and its split to argument group ``group``."""
    group.add_argument(
        "dataset",
        nargs="?",
        metavar="DATASET",
        default="digits",
        help=f"a bundled dataset ({', '.join(BUNDLED)}) or the path of a CSV file "
        "whose first row names the columns; a column is numeric when at least "
        "half its cells are numbers, else text, one-hot encoded (refused with "
        f"more than max({MIN_CATEGORIES_LIMIT}, half the rows) distinct values); "
        "empty cells are errors (default: %(default)s)",
    )
    group.add_argument(
        "--label-column",
        metavar="NAME",
        help="CSV files only: the column holding the target (default: the last)",
    )
    group.add_argument(
        "--drop",
        metavar="COLUMNS",
        type=column_names,
        action="append",
        help="CSV files only: leave these columns out, comma-separated or the "
        "option repeated, e.g. --drop name,ticket (default: none)",
    )
    group.add_argument(
        "--keep-index",
        action="store_true",
        help="CSV files only: use index columns as features; without it an "
        "unnamed column before any named one (header empty or 'Unnamed: 0') of "
        "distinct whole numbers 0..n-1 or 1..n in any order, or increasing, or "
        "of distinct texts, and a column named as an identifier (id, index, "
        "PassengerId, user_id, ...) holding n consecutive whole numbers, are "
        "left out with a "
        "note (default: off)",
    )
    group.add_argument(
        "--sep",
        metavar="CHAR",
        type=separator,
        help="CSV files only: the field separator, one character, \\t for a tab "
        "(default: guessed from the file's start, else a comma)",
    )
    group.add_argument(
        "--decimal",
        metavar="CHAR",
        type=decimal_mark,
        default=".",
        help="CSV files only: the decimal mark of the numbers, e.g. --decimal , "
        "for 1,5; not the separator (default: %(default)s)",
    )
    group.add_argument(
        "--encoding",
        metavar="NAME",
        type=encoding,
        default="utf-8",
        help="CSV files only: the file's text encoding, e.g. latin-1 or cp1252; "
        "a UTF-8 byte-order mark is skipped (default: %(default)s)",
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
        "--activation",
        choices=PARAMS["activation"].options,
        default=DEFAULTS["activation"],
        help="activation of the hidden layers (default: %(default)s)",
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
    group.add_argument(
        "--n-seeds",
        metavar="N",
        type=positive_int,
        default=DEFAULTS["n_seeds"],
        help="independent searches, each from its own initial weights; above 1, "
        f"{100 * DEFAULTS['validation_fraction']:g}%% of the training part is "
        "held out, the seed scoring best on it is kept, and the rows are printed "
        "when all have finished (default: %(default)s)",
    )
    group.add_argument(
        "--n-jobs",
        metavar="N",
        type=n_jobs,
        default=DEFAULTS["n_jobs"],
        help="with --n-seeds above 1: seeds searched in parallel, -1 for one per "
        "processor; each needs its own memory (default: one at a time)",
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
        type=path,
        help="save the fitted pipeline, which takes raw rows (a StandardScaler, "
        "with text columns in a ColumnTransformer beside a OneHotEncoder, then "
        "the estimator), to this path as a pickle, atomically, before the "
        "figure; never over the dataset (default: not saved)",
    )
    group.add_argument(
        "--plot",
        metavar="PATH",
        type=path,
        help="save a figure of the test score against the weights remaining to "
        "this path, in the format its extension names (png, pdf, svg, ...; PNG "
        "without one); needs matplotlib (default: no figure)",
    )
    group.add_argument(
        "--checkpoint-dir",
        metavar="DIR",
        type=path,
        default=DEFAULTS["checkpoint_dir"],
        help="save the search there after every round; the same command run "
        "again resumes after the last completed round (default: no checkpoints)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The command line's argument parser; every option is validated here."""
    parser = _Parser(
        prog="sklearn-lth",
        usage="%(prog)s [DATASET] [options]",
        description="Find a lottery ticket (a sparse sub-network that trains as "
        "well as the dense one) by iterative magnitude pruning.",
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"%(prog)s {version()}",
        help="print the version and exit",
    )
    _add_data_options(parser.add_argument_group("data"))
    _add_pruning_options(parser.add_argument_group("network and pruning"))
    _add_training_options(parser.add_argument_group("training, in each round"))
    _add_output_options(parser.add_argument_group("output"))
    return parser


# -- data --------------------------------------------------------------------------
def available_memory() -> int | None:
    """Bytes of memory this process may still allocate, or None if unknown.

    The least of the system's available memory (``MemAvailable`` on Linux),
    a cgroup (container) limit, and the address-space limit (``ulimit -v``)
    less the process's current size.
    """
    limits = []
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    limits.append(int(line.split()[1]) * 1024)
    if not limits:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            limits.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    with contextlib.suppress(OSError, ValueError):
        with open("/sys/fs/cgroup/memory.max") as handle:
            limit = handle.read().strip()
        with open("/sys/fs/cgroup/memory.current") as handle:
            used = int(handle.read().strip())
        if limit != "max":
            limits.append(max(int(limit) - used, 0))
    with contextlib.suppress(ImportError, OSError, ValueError):
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft != resource.RLIM_INFINITY:
            with open("/proc/self/statm") as handle:
                size = int(handle.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
            limits.append(max(soft - size, 0))
    return min(limits) if limits else None


def load_dataset(args, memory: int | None) -> Dataset:
    """A bundled scikit-learn dataset by name, or a CSV file with a header row.

    ``memory``: bytes available, or None; a CSV file too large is refused.
    """
    options = CsvOptions(
        label_column=args.label_column,
        sep=args.sep,
        decimal=args.decimal,
        encoding=args.encoding,
        drop=tuple(args.drop or ()),
        keep_index=args.keep_index,
    )
    if args.dataset in BUNDLED:
        given = [
            option
            for option, value in (
                ("--label-column", args.label_column),
                ("--sep", args.sep),
                ("--drop", args.drop),
                ("--keep-index", args.keep_index or None),
                ("--decimal", None if args.decimal == "." else args.decimal),
                ("--encoding", None if args.encoding == "utf-8" else args.encoding),
            )
            if value is not None
        ]
        if given:
            raise UsageError(
                f"{given[0]} applies to CSV files only, not to the bundled "
                f"dataset {args.dataset!r}"
            )
        X, y = BUNDLED[args.dataset](return_X_y=True)
        return Dataset(args.dataset, X, y)
    if args.sep is not None and args.sep == args.decimal:
        raise UsageError(
            f"--decimal {args.decimal!r} is also the separator (--sep); a CSV "
            "file with decimal commas is usually separated by ';'"
        )
    return read_csv(args.dataset, options, bundled=tuple(BUNDLED), memory=memory)


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
            bad = next(i for i, v in enumerate(data.y) if not is_number(str(v)))
            raise UsageError(
                f"{data.where(bad)}: {not_a_number(str(data.y[bad]))}; "
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
    """Prepared train and test features, their targets and the fitted steps.

    ``preprocessor`` is a :class:`~sklearn.preprocessing.StandardScaler`, or
    with text columns a :class:`~sklearn.compose.ColumnTransformer` that also
    one-hot encodes them. Regression targets are standardised too
    (``target_scaler``): a network learns them at any scale with the default
    learning rate, and R² is the same on standardised targets as on the
    original ones.
    """

    X_train: np.ndarray
    X_test: np.ndarray
    y_train: np.ndarray
    y_test: np.ndarray
    preprocessor: StandardScaler | ColumnTransformer
    target_scaler: StandardScaler | None = None

    @property
    def n_inputs(self) -> int:
        """Columns the network takes: the features, text ones one-hot encoded."""
        return self.X_train.shape[1]


def _one_line(message: object) -> str:
    return " ".join(str(message).split())


def _as_table(data: Dataset):
    """The features as the saved pipeline takes them.

    A DataFrame with the CSV's column names when pandas is importable (text
    columns as strings, the others as floats); otherwise ``data.X`` itself.
    """
    if data.feature_names is None:
        return data.X
    try:
        import pandas as pd
    except ImportError:
        return data.X
    frame = pd.DataFrame(data.X, columns=data.feature_names)
    numeric = [data.feature_names[j] for j in data.numeric_columns]
    return frame.astype(dict.fromkeys(numeric, float)) if data.text_columns else frame


def build_preprocessor(data: Dataset, table) -> StandardScaler | ColumnTransformer:
    """A StandardScaler; with text columns, one beside a OneHotEncoder.

    The columns are named for a DataFrame ``table``, numbered for an array.
    """
    if not data.text_columns:
        return StandardScaler()
    by_name = hasattr(table, "columns")
    numeric = data.numeric_columns
    text = [j for j in range(len(data.feature_names)) if j not in numeric]
    if by_name:
        numeric = [data.feature_names[j] for j in numeric]
        text = [data.feature_names[j] for j in text]
    return ColumnTransformer(
        [
            ("scale", StandardScaler(), numeric),
            ("onehot", OneHotEncoder(handle_unknown="ignore"), text),
        ]
    )


def _scaler(preprocessor) -> StandardScaler:
    if isinstance(preprocessor, StandardScaler):
        return preprocessor
    return preprocessor.named_transformers_["scale"]


def _check_scaled(data: Dataset, preprocessor, numeric_names: list[str]) -> None:
    """Refuse columns whose mean or variance overflows a float64.

    Values beyond about 1e154 have a square (and values near 1e308 a sum)
    that overflows: the scaler would make them NaN, or silently 0.
    """
    scaler = _scaler(preprocessor)
    if not hasattr(scaler, "var_"):  # no numeric column
        return
    bad = np.flatnonzero(~(np.isfinite(scaler.mean_) & np.isfinite(scaler.var_)))
    if len(bad):
        names = [numeric_names[k] for k in bad]
        where = f"{data.name} column" if len(names) == 1 else f"{data.name} columns"
        shown = ", ".join(f'"{name}"' for name in names[:5])
        columns = [data.numeric_columns[k] for k in bad]
        largest = np.max(np.abs(np.asarray(data.X[:, columns], dtype=float)))
        raise UsageError(
            f"{where} {shown}: values as large as {largest:.3g} are too large to "
            "standardise (their mean or variance overflows a float); divide them "
            f"by a power of 10, or leave them out with --drop {','.join(names)}"
        )


def split_and_scale(data: Dataset, y: np.ndarray, task: str, args) -> Split:
    """Stratified (for classes) train/test split; the scaler fits the train part."""
    X = _as_table(data)
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
    preprocessor = build_preprocessor(data, X)
    with np.errstate(over="ignore", invalid="ignore"):
        preprocessor.fit(X_train)
    names = data.feature_names or [f"x{j}" for j in range(data.X.shape[1])]
    _check_scaled(data, preprocessor, [names[j] for j in data.numeric_columns])
    target_scaler = None
    if task == "regression":
        with np.errstate(over="ignore", invalid="ignore"):
            target_scaler = StandardScaler().fit(y_train.reshape(-1, 1))
        if not np.isfinite(target_scaler.var_).all():
            raise UsageError(
                f"the target's values (as large as {np.max(np.abs(y)):.3g}) are "
                "too large to standardise; divide them by a power of 10"
            )
        y_train, y_test = (
            target_scaler.transform(part.reshape(-1, 1)).ravel()
            for part in (y_train, y_test)
        )
    return Split(
        preprocessor.transform(X_train),
        preprocessor.transform(X_test),
        y_train,
        y_test,
        preprocessor,
        target_scaler,
    )


def build_estimator(args, task: str):
    """The estimator the options describe, its parameters validated."""
    if args.n_jobs is not None and args.n_seeds == 1:
        raise UsageError(
            "--n-jobs applies with --n-seeds 2 or more (the seeds are what runs "
            "in parallel)"
        )
    Estimator = LotteryTicketMLPRegressor if task == "regression" else LotteryTicketMLP
    estimator = Estimator(
        hidden_layer_sizes=args.hidden_layer_sizes,
        activation=args.activation,
        target_sparsity=args.target_sparsity,
        pruning_rounds=args.pruning_rounds,
        pruning_scope=args.pruning_scope,
        output_layer_rate=args.output_layer_rate,
        rewind=args.rewind,
        n_seeds=args.n_seeds,
        n_jobs=args.n_jobs,
        checkpoint_dir=args.checkpoint_dir,
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


def _n_outputs(split: Split, task: str) -> int:
    if task == "regression":
        return 1
    n_classes = len(np.unique(split.y_train))
    return 1 if n_classes == 2 else n_classes


def layer_units(split: Split, hidden: tuple[int, ...], task: str) -> list[int]:
    """Units of every layer: inputs, the hidden layers, outputs."""
    return [split.n_inputs, *hidden, _n_outputs(split, task)]


def check_memory(units: list[int], args, memory: int | None) -> None:
    """Refuse a network whose training would not fit in ``memory`` bytes.

    Estimated from :data:`BYTES_PER_WEIGHT`, times the seeds searched at
    once (``--n-seeds`` with ``--n-jobs``). Without a known limit, no check.
    """
    if memory is None:
        return
    n_weights = sum(a * b for a, b in zip(units[:-1], units[1:]))
    parallel = 1
    if args.n_seeds > 1 and args.n_jobs is not None:
        workers = (os.cpu_count() or 1) if args.n_jobs == -1 else args.n_jobs
        parallel = min(args.n_seeds, workers)
    per_weight = BYTES_PER_WEIGHT.get(args.solver, max(BYTES_PER_WEIGHT.values()))
    needed = n_weights * per_weight * parallel
    if needed > memory:
        seeds = f" ({parallel} seeds at once)" if parallel > 1 else ""
        raise UsageError(
            f"a {'-'.join(map(str, units))} network has {n_weights:,} weights: "
            f"training it{seeds} needs about {format_size(needed)} of memory, more "
            f"than the {format_size(memory)} available; choose smaller "
            "--hidden-layer-sizes" + (" or a lower --n-jobs" if parallel > 1 else "")
        )


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
    searching : str, default=None
        What the progress line says runs, e.g. ``3 seeds`` (printed as
        ``  ... 3 seeds still searching (20 s)``); by default the round.
    """

    def __init__(self, interval: float | None, searching: str | None = None):
        self.interval = interval
        self.searching = searching
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
                doing = (
                    f"round {self._round} still training"
                    if self.searching is None
                    else f"{self.searching} still searching"
                )
                print(f"  ... {doing} ({seconds:.0f} s)", flush=True)
                self._last_output = now


@dataclass
class Search:
    """What the search printed: each round's score; whether interrupted.

    ``scores`` maps a round to its score on the part ``scored_on`` names:
    ``test``, or with several seeds ``validation``, the held-out part of the
    training set that chose the seed. The rounds a resumed search read from
    its checkpoint are not scored. ``test_score`` is the last round's score
    on the test part.
    """

    scores: dict[int, float] = field(default_factory=dict)
    scored_on: str = "test"
    test_score: float | None = None
    seconds: float = 0.0
    interrupted: bool = False


def _row(record: dict, score: float) -> str:
    return (
        f"| {record['round']:5d} | {record['remaining_parameters']:17d} | "
        f"{record['sparsity']:8.1%} | {record['n_iter']:6d} | "
        f"{record['train_score']:.4f} | {score:.4f} | "
        f"{record['seconds']:7.2f} |"
    )


def _resumed(first: int, last: int) -> str:
    """The line that stands for the rounds read back from a checkpoint."""
    rounds = f"round {first} was" if first == last else f"rounds {first}-{last} were"
    return (
        f"  ... {rounds} completed by an earlier run, read from --checkpoint-dir "
        "(not scored again)"
    )


def run_search(estimator, split: Split, verbose: bool) -> Search:
    """Fit ``estimator``, printing a row per round; Ctrl-C ends it early.

    With several seeds the estimator reports no round as it goes: the kept
    seed's rows, scored on its held-out part, are printed when it ends.
    Errors of the estimator's own validation and of the fit (a schedule it
    cannot follow, :class:`TrainingDivergedError`, a checkpoint folder it
    cannot use) become :class:`UsageError`.
    """
    seeds = estimator.n_seeds
    search = Search(scored_on="test" if seeds == 1 else "validation")
    heartbeat = Heartbeat(
        None if verbose else HEARTBEAT_SECONDS,
        searching=None if seeds == 1 else f"{seeds} seeds",
    )

    def report(record, round_model):
        index = int(record["round"])
        if not search.scores and index > 0:
            heartbeat.emit(_resumed(0, index - 1), index)
        test_score = round_model.score(split.X_test, split.y_test)
        search.scores[index] = test_score
        heartbeat.emit(_row(record, test_score), index + 1)

    tic = time.perf_counter()
    try:
        # As a fit nested in the command line's: after Ctrl-C the estimator
        # keeps the last completed round without a warning of its own, since
        # report_interrupt says which round is kept.
        with heartbeat, nested_fit(StopFlag()):
            estimator.fit(
                split.X_train,
                split.y_train,
                on_round_end=report if seeds == 1 else None,
            )
    except KeyboardInterrupt:
        search.interrupted = True
    except ValueError as exc:  # InvalidParameterError, TrainingDivergedError
        raise UsageError(_one_line(exc)) from exc
    except OSError as exc:
        if estimator.checkpoint_dir is None:
            raise
        # A checkpoint folder that cannot be written (permissions, disk full).
        where = f": {exc.filename}" if exc.filename else ""
        raise UsageError(
            f"cannot write checkpoints: {exc.strerror or exc}{where}"
        ) from exc
    search.seconds = time.perf_counter() - tic
    if hasattr(estimator, "history_"):
        _finish_table(search, estimator, split)
    return search


def _finish_table(search: Search, estimator, split: Split) -> None:
    """The rows the estimator did not report, and the last round's test score."""
    history = estimator.history_
    rounds = [int(index) for index in history["round"]]
    last = rounds[-1]
    if search.scored_on == "validation":
        for position, index in enumerate(rounds):
            record = {key: values[position] for key, values in history.items()}
            search.scores[index] = float(record["validation_score"])
            print(_row(record, search.scores[index]))
        print(_kept_seed(estimator))
    if not search.interrupted:
        if search.scored_on == "test" and last not in search.scores:
            # The whole search was read back from the checkpoint.
            print(_resumed(rounds[0], last))
            search.scores[last] = float(estimator.score(split.X_test, split.y_test))
        search.test_score = (
            search.scores[last]
            if search.scored_on == "test"
            else float(estimator.score(split.X_test, split.y_test))
        )
    sys.stdout.flush()


def _kept_seed(estimator) -> str:
    """``kept seed 2 of 3 (...)``: the seed kept, and each seed's last score."""
    seeds = estimator.seeds_history_
    last_scores = []
    for seed_index in range(estimator.n_seeds):
        rows = np.flatnonzero(seeds["seed"] == seed_index)
        if len(rows):
            last_scores.append(f"{seeds['validation_score'][rows[-1]]:.4f}")
    return (
        f"  kept seed {estimator.best_seed_ + 1} of {estimator.n_seeds} (each "
        f"seed's last round scores {', '.join(last_scores)} on the held-out part)"
    )


class Warnings:
    """The warnings of a run, each printed once, when :meth:`flush` is called.

    Held back so that none lands inside the round table: the command line
    flushes them before the table and after the verdict.
    """

    def __init__(self):
        self._seen: set[str] = set()
        self._pending: list[str] = []

    def show(self, message, category, filename, lineno, file=None, line=None):
        """Collect a warning (the signature of :func:`warnings.showwarning`)."""
        text = _one_line(message)
        if text not in self._seen:
            self._seen.add(text)
            self._pending.append(text)

    def flush(self) -> None:
        """Print the warnings collected since the last flush, on standard error."""
        sys.stdout.flush()
        while self._pending:
            print(f"warning: {self._pending.pop(0)}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def collected_warnings() -> Iterator[Warnings]:
    """Collect every warning raised inside; print those left on leaving."""
    collected = Warnings()
    with warnings.catch_warnings():
        warnings.simplefilter("always", UserWarning)
        warnings.simplefilter("always", RuntimeWarning)
        warnings.showwarning = collected.show
        try:
            yield collected
        finally:
            collected.flush()


# -- reporting ---------------------------------------------------------------------
def _notes(data: Dataset) -> list[str]:
    """What the user should know about how the file was read."""
    notes = list(data.notes)
    if data.text_columns:
        shown = ", ".join(
            f'"{name}" ({count} categories)'
            for name, count in data.text_columns.items()
        )
        which = "column" if len(data.text_columns) == 1 else "columns"
        notes.append(
            f"one-hot encoding the text {which} {shown}; the saved model takes "
            "the text as it is, a category it has not seen as none of them"
        )
    return notes


def print_header(
    args, data: Dataset, split: Split, task: str, metric: str, units: list[int]
) -> None:
    """The dataset, notes on reading it, the network, the schedule, the header."""
    n_samples, n_features = data.X.shape
    if task == "regression":
        kind = "a numeric target (regression)"
    else:
        kind = f"{len(np.unique(split.y_train))} classes"
    features = f"{n_features} features"
    if data.text_columns:
        features += (
            f" ({len(data.text_columns)} text, one-hot encoded: "
            f"{split.n_inputs} inputs)"
        )
    print(
        f"sklearn-lth: {args.dataset}: {n_samples} samples, {features}, "
        f"{kind}; train {len(split.y_train)} / test {len(split.y_test)}"
    )
    for note in _notes(data):
        print(f"note: {note}")
    per_round = per_round_rate(args.target_sparsity, args.pruning_rounds)
    activation = ""
    if args.activation != DEFAULTS["activation"]:
        activation = f" ({args.activation})"
    seeds = ""
    if args.n_seeds > 1:
        held_out = f"{DEFAULTS['validation_fraction']:.0%}"
        seeds = (
            f"; {args.n_seeds} seeds, the one scoring best on {held_out} of the "
            "training part (held out) kept"
        )
    print(
        f"network {'-'.join(map(str, units))}{activation}, target sparsity "
        f"{args.target_sparsity:.0%} in {args.pruning_rounds} rounds "
        f"({per_round:.1%} of the remaining weights per round), "
        f"rewind={args.rewind}, scope={args.pruning_scope}{seeds}; scores are "
        f"{metric}"
    )
    if args.n_seeds > 1:
        print(
            "the kept seed's rounds are printed when every seed has finished, "
            "scored on the held-out part"
        )
    scored_on = "test" if args.n_seeds == 1 else "validation"
    print()
    print(
        f"| round | remaining weights | sparsity | epochs | train | {scored_on} "
        "| seconds |"
    )
    print(
        f"|------:|------------------:|---------:|-------:|------:|"
        f"{'-' * (len(scored_on) + 1)}:|--------:|"
    )
    sys.stdout.flush()


def print_verdict(search: Search, estimator, metric: str) -> None:
    """The dense network's score, the last round's, and whether it wins."""
    ticket = estimator.ticket_
    last_round = max(search.scores)
    last = search.scores[last_round]
    on = search.scored_on
    described = (
        f"(round {last_round}, {ticket.sparsity:.1%} sparse, "
        f"{ticket.compression_ratio:.1f}x fewer weights)"
    )
    print()
    if 0 not in search.scores:  # resumed: round 0 came from the checkpoint
        print(
            "dense network (round 0): read from --checkpoint-dir, not scored in "
            "this run"
        )
        print(f"last round {described} {on} {metric}: {last:.4f}")
        print(
            "no comparison with the dense network (a new --checkpoint-dir runs "
            f"the whole search); total {search.seconds:.1f} s"
        )
        return
    dense = search.scores[0]
    winning = last - dense >= -ONE_POINT - 1e-12
    print(f"dense network (round 0) {on} {metric}: {dense:.4f}")
    print(
        f"{'winning ticket' if winning else 'last round'} {described} "
        f"{on} {metric}: {last:.4f}"
    )
    print(
        f"difference: {100 * (last - dense):+.2f} points; total {search.seconds:.1f} s"
    )
    if on != "test" and search.test_score is not None:
        print(f"the kept ticket's test {metric}: {search.test_score:.4f}")
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


def report_interrupt(estimator, split: Split, args) -> int:
    """Say which round Ctrl-C stopped and which one is kept; save the kept one."""
    resume = ""
    if args.checkpoint_dir is not None:
        resume = "; the same command resumes from --checkpoint-dir"
    if not hasattr(estimator, "history_"):
        print(
            f"sklearn-lth: interrupted before any round completed; nothing kept"
            f"{resume}",
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
    sys.stdout.flush()
    print(
        f"sklearn-lth: interrupted {when}; kept round {kept} ({sparse:.1%} sparse)"
        f"{resume}",
        file=sys.stderr,
    )
    if args.output:
        save_model(args.output, split, estimator, f" (round {kept})")
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


def saved_pipeline(split: Split, estimator) -> Pipeline:
    """``Pipeline(preprocessor, estimator)``, which takes the raw features.

    A regressor is wrapped in a ``TransformedTargetRegressor`` that undoes
    the target scaling, so the pipeline predicts in the target's own units.
    The first step is named ``scale`` (a StandardScaler) or ``prepare`` (a
    ColumnTransformer that also one-hot encodes the text columns).
    """
    if split.target_scaler is not None:
        estimator = _in_target_units(estimator, split.target_scaler)
    step = "scale" if isinstance(split.preprocessor, StandardScaler) else "prepare"
    return Pipeline([(step, split.preprocessor), ("mlp", estimator)])


def _described(model: Pipeline) -> str:
    """``Pipeline(StandardScaler, LotteryTicketMLP)``: the steps by class."""
    first, last = model.steps[0][1], model.steps[-1][1]
    name = type(first).__name__
    if isinstance(first, ColumnTransformer):
        inner = ", ".join(type(step).__name__ for _, step, _ in first.transformers)
        name = f"{name}({inner})"
    return f"Pipeline({name}, {type(last).__name__})"


def save_model(path: str, split: Split, estimator, note: str = "") -> None:
    """Pickle :func:`saved_pipeline` to ``path``, atomically."""
    model = saved_pipeline(split, estimator)
    try:
        write_atomically(path, lambda stream: pickle.dump(model, stream, protocol=5))
    except OSError as exc:
        raise UsageError(
            f"cannot save the model to {path}: {exc.strerror or exc}"
        ) from exc
    print(f"saved {_described(model)}{note} to {path}", flush=True)


def save_plot(path: str, estimator, search: Search, metric: str, title: str):
    """Each scored round's score against the weights remaining, to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ._display import LotteryTicketDisplay

    rounds = sorted(search.scores)
    position = {int(index): k for k, index in enumerate(estimator.history_["round"])}
    sparsity = np.asarray(estimator.history_["sparsity"])[
        [position[index] for index in rounds]
    ]
    display = LotteryTicketDisplay(
        remaining=100 * (1 - sparsity),
        scores=[search.scores[index] for index in rounds],
        dense_score=search.scores.get(0),
        name=f"rewind={estimator.rewind!r}",
        score_name=f"{search.scored_on} {metric}",
    ).plot()
    display.ax_.set_title(f"Lottery ticket search on {title}")
    try:
        write_atomically(
            path,
            lambda stream: display.figure_.savefig(
                stream, format=plot_format(path), dpi=100, bbox_inches="tight"
            ),
        )
    finally:
        plt.close(display.figure_)
    print(f"saved the figure to {path}", flush=True)


# -- the command -------------------------------------------------------------------
def run(args: argparse.Namespace, collected: Warnings) -> int:
    """Check, load, split, search, report and save; return the exit status."""
    check_outputs(
        args.output,
        args.plot,
        args.checkpoint_dir,
        dataset=None if args.dataset in BUNDLED else args.dataset,
    )
    data = load_dataset(args, available_memory())
    task = resolve_task(data.y, args.task)
    y = prepare_target(data, task)
    split = split_and_scale(data, y, task, args)
    estimator = build_estimator(args, task)
    units = layer_units(split, args.hidden_layer_sizes, task)
    check_memory(units, args, available_memory())
    metric = "R2" if task == "regression" else "accuracy"
    collected.flush()  # what reading the data raised, before the table
    print_header(args, data, split, task, metric, units)
    search = run_search(estimator, split, args.verbose)
    if search.interrupted:
        return report_interrupt(estimator, split, args)
    print_verdict(search, estimator, metric)
    collected.flush()  # after the verdict, never inside the table
    # The model first: the figure is optional, and may fail.
    if args.output:
        save_model(args.output, split, estimator)
    if args.plot:
        try:
            save_plot(args.plot, estimator, search, metric, args.dataset)
        except Exception as exc:  # whatever matplotlib raises: one line
            saved = f"; the model was saved to {args.output}" if args.output else ""
            raise UsageError(
                f"cannot save the figure to {args.plot}: {_one_line(exc)}{saved}"
            ) from exc
    return EXIT_OK


def _interrupted() -> int:
    with contextlib.suppress(OSError, ValueError):
        sys.stdout.flush()
    print("sklearn-lth: interrupted", file=sys.stderr)
    return EXIT_INTERRUPTED


def main(argv: list[str] | None = None) -> int:
    """Run the command line on ``argv`` (default: ``sys.argv[1:]``).

    Parameters
    ----------
    argv : list of str, optional
        The arguments, without the program name.

    Returns
    -------
    int
        The exit status: 0 on success and for ``--help`` and ``--version``;
        2 after a user mistake or when memory or a file to write fails,
        reported as one line on standard error; 130 when interrupted with
        Ctrl-C; 1 when standard output was closed early (a pipe into
        ``head``). ``main`` never raises ``SystemExit``.
    """
    try:
        return _run_command_line(argv)
    except KeyboardInterrupt:  # a second Ctrl-C, or one between the steps
        return _interrupted()


def _run_command_line(argv: list[str] | None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a mistake reported
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        with collected_warnings() as collected:
            return run(args, collected)
    except UsageError as exc:
        sys.stdout.flush()
        print(f"sklearn-lth: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except MemoryError as exc:
        sys.stdout.flush()
        reason = _one_line(exc) or "no detail"
        print(
            f"sklearn-lth: error: out of memory ({reason}); try smaller "
            "--hidden-layer-sizes or fewer rows",
            file=sys.stderr,
        )
        return EXIT_USAGE
    except KeyboardInterrupt:
        return _interrupted()
    except BrokenPipeError:  # ``sklearn-lth | head``: the reader has gone
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


if __name__ == "__main__":
    sys.exit(main())
