"""What ``verbose=True`` prints, and whose search each line is from.

One search prints scikit-learn's MLP lines (``Iteration 3, loss = ...``)
under a ``Round k: ...`` line per round. Several searches at once (the seeds
of one fit, the folds of :class:`~sklearn_lth.LotteryTicketMLPCV`) print
into the same output, interleaved, so each of their lines starts with its
label: ``[fold 2] [seed 1] Iteration 3, loss = ...``. The label is set where
the search starts, inside its worker (a context variable: each thread and
process has its own).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_LABEL: ContextVar[str] = ContextVar("sklearn_lth_verbose_label", default="")


@contextmanager
def labelled(label: str) -> Iterator[None]:
    """Start every verbose line printed inside the block with ``[label] ``."""
    token = _LABEL.set(f"{_LABEL.get()}[{label}] ")
    try:
        yield
    finally:
        _LABEL.reset(token)


def say(text: str) -> None:
    """Print ``text``, each of its lines under the current label."""
    label = _LABEL.get()
    print("\n".join(label + line for line in text.split("\n")), flush=bool(label))
