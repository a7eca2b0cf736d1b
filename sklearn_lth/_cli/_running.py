"""Running the search: a row of the round table per round as it finishes.

:func:`run_search` fits the estimator, prints each round's row (with several
seeds, the kept seed's rows when the search ends), a progress line from
:class:`Heartbeat` while a round runs long, and turns Ctrl-C into a
:class:`Search` marked interrupted and the fit's errors into
:class:`UsageError`. :class:`HeldInterrupt` holds Ctrl-C back from the
moment the search ends until its model is saved: a completed search is
never lost.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ._data import Split
from ._errors import UsageError, one_line

#: Seconds of a round without a printed row before a progress line.
HEARTBEAT_SECONDS = 10.0


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


class HeldInterrupt:
    """Ctrl-C recorded instead of raised once :meth:`hold` is called.

    Used as a context manager around the search and the save that follows
    it. Until :meth:`hold`, Ctrl-C interrupts as usual (the handler that was
    in place runs); from then on it only sets :attr:`pending`, so that the
    model of a completed search is saved before the command stops. Leaving
    the context puts the previous handler back; the caller then stops if
    :attr:`pending`.

    Signal handlers can be set in the main thread only, and only Python's
    own kind can be chained: elsewhere (a thread, SIGINT ignored or set from
    C) nothing is installed and nothing is held, as Ctrl-C then raises
    nothing in this thread anyway, or is left as it was set.
    """

    def __init__(self):
        self.held = False
        self.pending = False
        self._previous = None

    def __enter__(self) -> HeldInterrupt:
        if threading.current_thread() is threading.main_thread():
            previous = signal.getsignal(signal.SIGINT)
            if callable(previous):  # default_int_handler, or a Python handler
                self._previous = previous
                signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc_info) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None

    def hold(self) -> None:
        """From now on, record Ctrl-C instead of raising it."""
        self.held = True

    def _handle(self, signum, frame) -> None:
        if self.held:
            self.pending = True
        else:
            self._previous(signum, frame)


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


def live_units_width(hidden_layer_sizes) -> int:
    """The live units column's width: the dense network's ``300-100`` fits."""
    text = "-".join(str(n) for n in hidden_layer_sizes)
    return max(len("live units"), len(text))


def table_header(scored_on: str, live_width: int) -> str:
    """The round table's header (two lines), its score column ``scored_on``."""
    score_width = _score_width(scored_on)
    return (
        f"| round | remaining weights | sparsity | {'live units':>{live_width}} | "
        f"epochs | {'train':>7} | {scored_on:>{score_width}} | seconds |\n"
        f"|------:|------------------:|---------:|{'-' * (live_width + 1)}:|"
        f"-------:|--------:|{'-' * (score_width + 1)}:|--------:|"
    )


def _score_width(scored_on: str) -> int:
    """A score column's width: ``-0.1234`` (an R2 below 0) fits."""
    return max(7, len(scored_on))


def _row(record: dict, score: float, live_width: int, scored_on: str) -> str:
    live = _live_units(record["live_units"])
    return (
        f"| {record['round']:5d} | {record['remaining_parameters']:17d} | "
        f"{record['sparsity']:8.1%} | {live:>{live_width}} | "
        f"{record['n_iter']:6d} | {record['train_score']:7.4f} | "
        f"{score:{_score_width(scored_on)}.4f} | {record['seconds']:7.2f} |"
    )


def _live_units(units) -> str:
    """The live units of each hidden layer, ``45-28`` (``?`` when unknown: a
    round read back from an older checkpoint)."""
    if not isinstance(units, tuple):
        return "?"
    return "-".join(str(n) for n in units)


def _resumed(first: int, last: int) -> str:
    """The line that stands for the rounds read back from a checkpoint."""
    rounds = f"round {first} was" if first == last else f"rounds {first}-{last} were"
    return (
        f"  ... {rounds} completed by an earlier run, read from --checkpoint-dir "
        "(not scored again)"
    )


def run_search(
    estimator,
    split: Split,
    verbose: bool,
    on_end: Callable[[], None] | None = None,
) -> Search:
    """Fit ``estimator``, printing a row per round; Ctrl-C ends it early.

    With several seeds the estimator reports no round as it goes: the kept
    seed's rows, scored on its held-out part, are printed when it ends.
    Errors of the estimator's own validation and of the fit (a schedule it
    cannot follow, :class:`TrainingDivergedError`, a checkpoint folder it
    cannot use) become :class:`UsageError`. ``on_end`` is called as soon as
    the fit returns or is interrupted (:meth:`HeldInterrupt.hold`: from then
    on Ctrl-C waits for the model to be saved).
    """
    seeds = estimator.n_seeds
    search = Search(scored_on="test" if seeds == 1 else "validation")
    live_width = live_units_width(estimator.hidden_layer_sizes)
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
        heartbeat.emit(_row(record, test_score, live_width, "test"), index + 1)

    tic = time.perf_counter()
    try:
        # A fit of its own (not nested_fit, which would also silence the
        # estimator's judgement of its rounds' scores): the warning it gives
        # after Ctrl-C is filtered out by collected_warnings instead, since
        # report_interrupt says which round is kept.
        with heartbeat:
            estimator.fit(
                split.X_train,
                split.y_train,
                on_round_end=report if seeds == 1 else None,
            )
            # The search is complete: a Ctrl-C before this line is an
            # interrupted search that kept its last round (all of them).
            if on_end is not None:
                on_end()
    except KeyboardInterrupt:
        if on_end is not None:
            on_end()
        search.interrupted = True
    except ValueError as exc:  # InvalidParameterError, TrainingDivergedError
        raise UsageError(one_line(exc)) from exc
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
        _finish_table(search, estimator, split, live_width)
    return search


def _finish_table(search: Search, estimator, split: Split, live_width: int) -> None:
    """The rows the estimator did not report, and the last round's test score."""
    history = estimator.history_
    rounds = [int(index) for index in history["round"]]
    last = rounds[-1]
    if search.scored_on == "validation":
        # The header only now: the seeds' progress lines (--verbose, the
        # heartbeat) came before it, not inside the table.
        print()
        print(table_header(search.scored_on, live_width))
        for position, index in enumerate(rounds):
            record = {key: values[position] for key, values in history.items()}
            search.scores[index] = float(record["validation_score"])
            print(_row(record, search.scores[index], live_width, search.scored_on))
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
    """``kept seed 2 of 3 (...)``: the seed kept, and each seed's last score.

    After Ctrl-C the seeds may have completed different rounds, or none:
    each is then named with its last completed round.
    """
    seeds = estimator.seeds_history_
    last = []  # (round, score) of each seed's last completed round, or None
    for seed_index in range(estimator.n_seeds):
        rows = np.flatnonzero(seeds["seed"] == seed_index)
        last.append(
            (int(seeds["round"][rows[-1]]), float(seeds["validation_score"][rows[-1]]))
            if len(rows)
            else None
        )
    kept = f"  kept seed {estimator.best_seed_ + 1} of {estimator.n_seeds}"
    if None not in last and len({round_ for round_, _ in last}) == 1:
        scores = ", ".join(f"{score:.4f}" for _, score in last)
        return f"{kept} (each seed's last round scores {scores} on the held-out part)"
    each = "; ".join(
        f"seed {k + 1}: no round completed"
        if seed is None
        else f"seed {k + 1}, round {seed[0]}: {seed[1]:.4f}"
        for k, seed in enumerate(last)
    )
    return f"{kept} (each seed's last completed round on the held-out part: {each})"
