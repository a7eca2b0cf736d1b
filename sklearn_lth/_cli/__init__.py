"""Command line: find a lottery ticket on a dataset and print the round table.

``sklearn-lth`` (or ``python -m sklearn_lth``) splits a dataset into train
and test parts, scales the features (fitted on the train part), runs iterative
magnitude pruning and prints one row per round as it finishes, then the dense
network's test score beside the last round's, and says whether the last round
is a winning ticket (within one point of the dense network, or better), or
that there is no ticket to judge when the dense network itself scores no
better than chance (within one point of the most frequent class's share, or
of an R² of 0).
``--output`` saves the fitted ``Pipeline(StandardScaler, estimator)`` of a
bundled dataset, which takes raw features (a regressor inside a
``TransformedTargetRegressor``: the CLI standardises regression targets
too, and the saved model predicts in the target's own units). For a CSV
file the pipeline's first step is a ``ColumnTransformer`` that scales the
numeric columns and one-hot encodes the text ones
(``OneHotEncoder(handle_unknown="ignore")``) after making each value the
stripped string the CLI read (:class:`._steps.TextCells`). So the saved
model takes the CSV's rows as they are read by ``pandas.read_csv`` (spaces
after a separator kept, True/False parsed as booleans), whose frame it
takes whole when pandas was there to train it (it picks its columns by
name, leaving out the label, an index and dropped columns), or by
:mod:`csv` as an object array of the feature columns, in the file's order.

A CSV file is read by :mod:`._tabular` (its docstring states the rules in
full): its first row names the columns, an empty header cell naming its
column as pandas does (``Unnamed: N``, N counted from 0); the separator is
guessed from the file's start unless ``--sep`` is given, ``--decimal ,``
reads ``1,5``, ``--thousands ,`` reads ``"79,543"``, ``--encoding`` decodes
other than UTF-8, and ``--drop`` leaves columns out. A row of empty cells
only is blank, and a last column whose header and every cell are empty
(every line ending in the separator) is ignored. A feature column is
numeric when at least half of its cells are numbers, and then every cell
must be a finite number; any other column is text, one-hot encoded, unless
it has more than ``max(50, half the rows)`` distinct values (free text or
an identifier: refused, ``--drop`` it), or its cells look like numbers
written with a comma (the message names ``--decimal ,`` or ``--thousands
,``). Empty cells are errors, never imputed; a mistake in the file is
reported with its line number and column name. An index column is left out
with a note (``--keep-index`` keeps it): an unnamed column before any named
one (header empty or ``Unnamed: N``) whose values are all distinct, as
pandas' ``to_csv`` writes an index (in order, shuffled, or with the gaps
``train_test_split`` leaves) and R's ``write.csv`` its row names; or a
column named as a row identifier (``id``, ``index``, ``PassengerId``,
``user_id``...) holding n consecutive whole numbers in any order. An
identifier-named column that does not hold them stays a feature, with a
note. ``--task auto`` (the default) reads a numeric target with non-integer
values or more than ``max(20, 5% of the samples)`` distinct values as a
regression target, and any other target as class labels.

The saved model keeps the CSV's labels and feature names. A classifier's
``classes_`` are the label column's values: ints when they are all whole
numbers, bools when they are all True or False (as pandas parses them),
else the original text. When pandas is importable, the preprocessing is
fitted on a ``pandas.DataFrame`` whose columns are named as
``pandas.read_csv`` names them (spaces around a header cell kept), so the
saved pipeline has ``feature_names_in_`` and checks the column names of the
frames it predicts on; without pandas it is fitted on arrays (of objects,
with text columns) and has no feature names. The bundled datasets are fitted
on arrays.

Before anything is trained, every path to write is checked: ``--output``
and ``--plot`` must be writable (tried, then cleaned up), must not be the
dataset, nor each other, an existing ``--output`` must be empty or a pickle
(an earlier model; a CSV file given by mistake is refused), ``--plot`` must
end in a format matplotlib writes, and ``--checkpoint-dir`` must not be a
file. A dataset that is not a regular file (``/dev/zero``, a pipe, a
directory) is refused before it is read, and so are a file or a network too
large for the memory available (about 120 bytes per weight to train with
Adam or SGD, 600 with L-BFGS, per seed searched in parallel). The model is
saved as soon as the search ends, before the verdict and the optional
figure; Ctrl-C from the search's end until the model is saved waits for the
save, then exits 130. Every file is written atomically (to a temporary file
in the same folder, then renamed over the old one), so a crash never leaves
half a file.

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
round to ``--output``. Warnings raised on the way (the estimator's own
included: rounds that did not converge, or scored far below an earlier one)
are printed once each, as ``warning: <message>`` on standard error, after
the verdict (those raised while reading the data, before the table); the
estimator's "Training interrupted by the user" is not, as the command line
says which round Ctrl-C kept. How a CSV file was read (an index
column left out, text columns one-hot encoded) is said on standard output,
as ``note: <message>`` lines under the first line of the header.
:func:`sklearn_lth._entry.main`, the console script's entry point, runs
:func:`main` after importing this package (numpy and scikit-learn with it)
with a SIGINT handler that only records Ctrl-C, so that none is raised
inside the imports: Ctrl-C during start-up is one line and exit 130 too.

Each step has its own module: :mod:`._options` (the option types and the
parser), :mod:`._tabular` (reading a CSV file), :mod:`._data` (the dataset,
its target, the split and the scaling), :mod:`._steps` (the saved pipeline's
text step), :mod:`._estimator` (the estimator
and the memory check), :mod:`._running` (running the search, a row per
round), :mod:`._report` (the header, the verdict, the warnings),
:mod:`._outputs` (checking and writing the files) and :mod:`._errors` (user
mistakes and exit statuses); this one runs them in order.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys

from ._data import (
    BUNDLED,
    load_dataset,
    prepare_target,
    resolve_task,
    split_and_scale,
)
from ._errors import (
    EXIT_BROKEN_PIPE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    UsageError,
    one_line,
)
from ._estimator import available_memory, build_estimator, check_memory, layer_units
from ._options import build_parser
from ._outputs import check_outputs, save_model, save_plot
from ._report import (
    Warnings,
    chance_score,
    collected_warnings,
    print_header,
    print_verdict,
    report_interrupt,
)
from ._running import HeldInterrupt, run_search
from ._tabular import Dataset, sniff_separator

__all__ = ["Dataset", "UsageError", "build_parser", "main", "sniff_separator"]


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
    # A completed search is never lost: its model is saved as soon as it
    # ends, before the verdict and the optional figure, and a Ctrl-C from
    # the search's end to the save waits for the save (then exits 130).
    with HeldInterrupt() as held:
        search = run_search(
            estimator, split, args.verbose, on_end=held.hold if args.output else None
        )
        if search.interrupted:
            return report_interrupt(estimator, split, args)
        if args.output:
            save_model(args.output, split, estimator)
    if held.pending:
        raise KeyboardInterrupt
    chance = chance_score(split, task, search.scored_on)
    print_verdict(search, estimator, metric, chance)
    collected.flush()  # after the verdict, never inside the table
    if args.plot:
        try:
            save_plot(args.plot, estimator, search, metric, args.dataset)
        except Exception as exc:  # whatever matplotlib raises: one line
            saved = f"; the model was saved to {args.output}" if args.output else ""
            raise UsageError(
                f"cannot save the figure to {args.plot}: {one_line(exc)}{saved}"
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
        reason = one_line(exc) or "no detail"
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
