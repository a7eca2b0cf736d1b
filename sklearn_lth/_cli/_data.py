"""The data of a run: the dataset, its target, the train/test split, the scaling.

:func:`load_dataset` reads a bundled scikit-learn dataset or a CSV file (see
:mod:`._tabular`); :func:`resolve_task` and :func:`prepare_target` decide
whether the target holds class labels or numbers and refuse one a model
cannot learn; :func:`split_and_scale` splits the samples (stratified for
classes) and fits the preprocessing on the train part, the steps the saved
pipeline starts with.

The saved pipeline takes the CSV file's rows as ``pandas.read_csv`` reads
them (its columns picked from the frame by name), and as object arrays of
the feature columns (:mod:`csv`, numpy; by position); text goes through
:class:`._steps.TextCells` (values made stripped strings) before the one-hot
encoder.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

import numpy as np
from sklearn import datasets
from sklearn.compose import ColumnTransformer
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from ._errors import UsageError, one_line
from ._steps import TextCells
from ._tabular import CsvOptions, Dataset, is_number, not_a_number, read_csv

BUNDLED = {
    "digits": datasets.load_digits,
    "breast_cancer": datasets.load_breast_cancer,
    "wine": datasets.load_wine,
    "iris": datasets.load_iris,
}
#: The labels pandas' read_csv parses as booleans (its true and false values).
TRUE = ["True", "TRUE", "true"]
FALSE = ["False", "FALSE", "false"]


def load_dataset(args, memory: int | None) -> Dataset:
    """A bundled scikit-learn dataset by name, or a CSV file with a header row.

    ``memory``: bytes available, or None; a CSV file too large is refused.
    """
    options = CsvOptions(
        label_column=args.label_column,
        sep=args.sep,
        decimal=args.decimal,
        thousands=args.thousands,
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
                ("--thousands", args.thousands),
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
    # The thousands separator may be the field separator: pandas' usual
    # thousands="," reads quoted cells such as "79,543" in a comma-separated
    # file. It cannot be the decimal mark.
    if args.thousands is not None and args.thousands == args.decimal:
        raise UsageError(
            f"--thousands {args.thousands!r} is also the decimal mark (--decimal "
            f"{args.decimal!r}); with decimal commas, thousands are usually "
            "separated by '.' (--decimal , --thousands .)"
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
    all whole numbers, bools when they are all True or False (as pandas reads
    them: ``True``, ``TRUE``, ``true``...), and keep their original values
    otherwise.
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
    if values is not None and _whole(values):
        y = values.astype(int)
    elif data.y.dtype.kind == "U" and np.isin(data.y, TRUE + FALSE).all():
        y = np.isin(data.y, TRUE)
    else:
        y = data.y
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


# -- splitting and scaling ---------------------------------------------------------
@dataclass
class Split:
    """Prepared train and test features, their targets and the fitted steps.

    ``preprocessor`` is a :class:`~sklearn.preprocessing.StandardScaler`, or
    for a CSV file a :class:`~sklearn.compose.ColumnTransformer` that also
    one-hot encodes its text columns (see :func:`build_preprocessor`).
    Regression targets are standardised too
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


def _as_table(data: Dataset):
    """The features as the saved pipeline takes them.

    A DataFrame when pandas is importable, its columns named as
    ``pandas.read_csv`` names them (``data.frame_names``), so that the saved
    model checks the names of the frame pandas reads from the same file
    (text columns as strings, the others as floats); otherwise ``data.X``.
    """
    if data.feature_names is None:
        return data.X
    try:
        import pandas as pd
    except ImportError:
        return data.X
    names = data.frame_names or data.feature_names
    if len(set(names)) < len(names):  # two headers of spaces only (pandas
        # mangles them): the command line's names, which are distinct
        names = data.feature_names
    frame = pd.DataFrame(data.X, columns=names)
    if not data.text_columns:
        return frame
    numeric = [names[j] for j in data.numeric_columns]
    return frame.astype(dict.fromkeys(numeric, float))


def build_preprocessor(data: Dataset) -> StandardScaler | ColumnTransformer:
    """A StandardScaler for a bundled dataset; for a CSV file's columns, a
    ColumnTransformer: the StandardScaler of the numeric ones, beside a
    OneHotEncoder of the text ones.

    The columns are given by position, so that the fitted step takes a
    DataFrame or an array alike; fitted on a DataFrame (with pandas), it
    picks them from a frame by name, so that the saved model takes
    ``pandas.read_csv``'s frame of the file whole (the label, an index or a
    dropped column included), with text columns or without. The text columns go through
    :class:`TextCells` first, which makes each value the stripped string the
    command line read (see :mod:`._steps`).
    """
    if data.frame_names is None and not data.text_columns:
        return StandardScaler()
    numeric = data.numeric_columns
    text = [j for j in range(len(data.feature_names)) if j not in numeric]
    steps = [("scale", StandardScaler(), numeric)]
    if text:
        encode = Pipeline(
            [("text", TextCells()), ("encode", OneHotEncoder(handle_unknown="ignore"))]
        )
        steps.append(("onehot", encode, text))
    return ColumnTransformer(steps)


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
            f"by a power of 10, or leave them out with {_drop_option(names)}"
        )


def _drop_option(names: list[str]) -> str:
    """``--drop a,b`` as typed in a shell: quoted, one option per name with a
    comma in it."""
    if any("," in name for name in names):
        return " ".join(f"--drop {shlex.quote(name)}" for name in names)
    return f"--drop {shlex.quote(','.join(names))}"


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
            f"{one_line(exc)}"
        ) from exc
    preprocessor = build_preprocessor(data)
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
