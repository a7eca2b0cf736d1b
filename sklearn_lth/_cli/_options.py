"""The command line's options: their types (each validates a value) and the parser.

Every option is checked as it is parsed: a value out of range is a one-line
error naming the option (:class:`argparse.ArgumentTypeError`), and the
parser's own errors are one line too, with exit status 2.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import math

from .._params import DEFAULTS, PARAMS
from ._data import BUNDLED
from ._errors import EXIT_USAGE
from ._running import HEARTBEAT_SECONDS
from ._tabular import MIN_CATEGORIES_LIMIT, UNNAMED_HINT, check_encoding


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


def thousands_mark(text: str) -> str:
    """One character that is neither a digit, a sign nor a letter; a space may be."""
    if len(text) != 1 or text.isalnum() or text in "+-":
        raise argparse.ArgumentTypeError(
            f"must be one character that separates thousands, e.g. ',' for "
            f"79,543; got {text!r}"
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
        raise argparse.ArgumentTypeError(f"needs a column name; {UNNAMED_HINT}")
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
        from .. import __version__

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


def _add_csv_options(group) -> None:
    """Add the options of reading a CSV file to ``group``."""
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
        "option repeated, e.g. --drop name,ticket; a column with an empty header "
        "is named as pandas names it, 'Unnamed: N' for the N-th column counted "
        "from 0, e.g. --drop 'Unnamed: 0' (default: none)",
    )
    group.add_argument(
        "--keep-index",
        action="store_true",
        help="CSV files only: use index columns as features; without it an "
        "unnamed column before any named one (header empty or 'Unnamed: N') "
        "whose values are all distinct (the index pandas' to_csv writes, in any "
        "order, with gaps or not; R's row names), and a column named as an "
        "identifier (id, index, PassengerId, user_id, ...) holding n "
        "consecutive whole numbers, are left out with a note (default: off)",
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
        "--thousands",
        metavar="CHAR",
        type=thousands_mark,
        help="CSV files only: the thousands separator, removed inside numbers "
        'as pandas\' thousands= does, e.g. --thousands , for "79,543" (quoted '
        "in a comma-separated file); not the decimal mark (default: none)",
    )
    group.add_argument(
        "--encoding",
        metavar="NAME",
        type=encoding,
        default="utf-8",
        help="CSV files only: the file's text encoding, e.g. latin-1 or cp1252; "
        "a UTF-8 byte-order mark is skipped (default: %(default)s)",
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


def _add_seed_options(group) -> None:
    """Add the options of several searches in parallel to ``group``."""
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
        "for a CSV file in a ColumnTransformer, beside a OneHotEncoder of its "
        "text columns, then the estimator), to this path as a pickle, "
        "atomically, as soon as the "
        "search ends; an existing file is replaced only if it is empty or a "
        "pickle (an earlier model), never the dataset (default: not saved)",
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
    _add_csv_options(parser.add_argument_group("CSV files"))
    _add_pruning_options(parser.add_argument_group("network and pruning"))
    _add_training_options(parser.add_argument_group("training, in each round"))
    _add_seed_options(parser.add_argument_group("several seeds"))
    _add_output_options(parser.add_argument_group("output"))
    return parser
