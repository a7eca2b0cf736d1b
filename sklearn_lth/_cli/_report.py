"""What the command line prints around the round table, and its warnings.

The header (the dataset, notes on how a CSV file was read, the network and
the schedule, the table's header), the verdict (the dense network's score,
the last round's, and whether it is a winning ticket, or that the dense
network learned nothing, no better than chance), the round Ctrl-C
kept (saved to ``--output``), and the warnings of a run, held back so that
none lands inside the table.
"""

from __future__ import annotations

import contextlib
import sys
import warnings
from collections.abc import Iterator

import numpy as np

from .._params import DEFAULTS
from .._pruning import per_round_rate
from ._data import Split
from ._errors import EXIT_INTERRUPTED, one_line
from ._outputs import save_model
from ._running import Search, live_units_width, table_header
from ._tabular import Dataset

#: A last round this far (or less) below the dense network is a winning ticket.
ONE_POINT = 0.01


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
        text = one_line(message)
        if text not in self._seen:
            self._seen.add(text)
            self._pending.append(text)

    def flush(self) -> None:
        """Print the warnings collected since the last flush, on standard error."""
        sys.stdout.flush()
        while self._pending:
            print(f"warning: {self._pending.pop(0)}", file=sys.stderr, flush=True)


#: The start of the warning an estimator gives when Ctrl-C stops its fit;
#: the command line says itself which round is kept (:func:`report_interrupt`).
INTERRUPTED_WARNING = "Training interrupted by the user"


@contextlib.contextmanager
def collected_warnings() -> Iterator[Warnings]:
    """Collect every warning raised inside; print those left on leaving.

    All but the estimator's "Training interrupted by the user": the command
    line says which round is kept in its own words.
    """
    collected = Warnings()
    with warnings.catch_warnings():
        warnings.simplefilter("always", UserWarning)
        warnings.simplefilter("always", RuntimeWarning)
        warnings.filterwarnings(
            "ignore", message=INTERRUPTED_WARNING, category=UserWarning
        )
        warnings.showwarning = collected.show
        try:
            yield collected
        finally:
            collected.flush()


# -- reporting ---------------------------------------------------------------------
def plural(count: int, word: str, words: str | None = None) -> str:
    """``1 round``, ``2 rounds``: ``count`` and the word in its number."""
    return f"{count} {word if count == 1 else words or word + 's'}"


def _notes(data: Dataset) -> list[str]:
    """What the user should know about how the file was read."""
    notes = list(data.notes)
    if data.text_columns:
        shown = ", ".join(
            f'"{name}" ({plural(count, "category", "categories")})'
            for name, count in data.text_columns.items()
        )
        which = "column" if len(data.text_columns) == 1 else "columns"
        notes.append(
            f"one-hot encoding the text {which} {shown}; the saved model takes "
            "the rows as pandas.read_csv reads them (spaces around a value "
            "ignored), a category it has not seen as none of them"
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
    features = plural(n_features, "feature")
    if data.text_columns:
        features += (
            f" ({len(data.text_columns)} text, one-hot encoded: "
            f"{plural(split.n_inputs, 'input')})"
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
        f"{args.target_sparsity:.0%} in {plural(args.pruning_rounds, 'round')} "
        f"({per_round:.1%} of the remaining weights per round), "
        f"rewind={args.rewind}, scope={args.pruning_scope}{seeds}; scores are "
        f"{metric}"
    )
    if args.n_seeds > 1:
        # The table and its header come when the search ends (run_search).
        print(
            "the kept seed's rounds are printed when every seed has finished, "
            "scored on the held-out part"
        )
    else:
        print()
        print(table_header("test", live_units_width(units[1:-1])))
    sys.stdout.flush()


def chance_score(split: Split, task: str, scored_on: str) -> float:
    """What the best constant prediction scores where the rounds were scored.

    The share of the most frequent class of the test part (or, for scores
    on the held-out part of several seeds, of the training part it was drawn
    from) for a classifier; an R² of 0 (predicting the mean) for regression.
    """
    if task == "regression":
        return 0.0
    y = split.y_test if scored_on == "test" else split.y_train
    _, counts = np.unique(y, return_counts=True)
    return float(counts.max() / counts.sum())


def _at_chance(dense: float, chance: float, scored_on: str, metric: str) -> str:
    """The verdict when the dense network learned nothing."""
    if metric == "R2":
        level = "an R2 of 0, predicting the mean"
    else:
        level = f"{chance:.4f}, the most frequent class's share of the {scored_on} part"
    return (
        f"the dense network learned nothing: its {scored_on} {metric} "
        f"({dense:.4f}) is no better than chance ({level}), so there is no "
        "ticket to judge; try more --max-iter, another --learning-rate-init or "
        "larger --hidden-layer-sizes"
    )


def print_verdict(
    search: Search, estimator, metric: str, chance: float | None = None
) -> None:
    """The dense network's score, the last round's, and whether it wins.

    ``chance`` (:func:`chance_score`): a dense network that scores no more
    than one point above it learned nothing, and no round is called a
    winning ticket.
    """
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
    learned_nothing = chance is not None and dense <= chance + ONE_POINT + 1e-12
    winning = last - dense >= -ONE_POINT - 1e-12 and not learned_nothing
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
    if learned_nothing:
        print(_at_chance(dense, chance, on, metric))
    elif not winning:
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
