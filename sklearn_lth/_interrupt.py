"""What a failed or interrupted ``fit`` leaves behind.

The rule, the same for every estimator, seed count and joblib backend:

- A ``fit`` that fails leaves the estimator exactly as it was before the call
  (unfitted if it was): no attribute of the new data beside weights of the old.
- A KeyboardInterrupt stops all the work of the ``fit`` (every seed, every
  fold), the estimator keeps the sparsest round completed, and the interrupt
  then propagates, so that whatever wraps ``fit`` (a grid search, a script,
  the command line) stops too. With several seeds the kept one is among those
  that completed the most rounds, chosen as usual by its validation score:
  a seed is never preferred because it was interrupted earlier, denser.
  Without a completed round nothing is kept.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field


class StopFlag:
    """A flag that tells training threads of the same ``fit`` to stop.

    A KeyboardInterrupt reaches only the main thread; a search running in a
    worker thread (joblib's threading backend) checks this flag between
    mini-batches. Pickled, it arrives unset: worker processes are stopped by
    their own signal or by joblib, not through it.
    """

    def __init__(self):
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    def raise_if_set(self) -> None:
        if self._event.is_set():
            raise KeyboardInterrupt("stopped: another part of this fit was interrupted")

    def __getstate__(self) -> dict:
        # An Event cannot be pickled, and a copy in another process could not
        # be set from here anyway: that process gets the signal itself, or
        # joblib terminates it.
        return {}

    def __setstate__(self, state: dict) -> None:
        self._event = threading.Event()


class FitTransaction:
    """Restore an estimator's state when its ``fit`` fails, unless told to keep.

    Use as ``with FitTransaction(self) as transaction:`` around the whole fit;
    call :meth:`keep` once a consistent partial result is in place and the
    exception may propagate without undoing it.
    """

    def __init__(self, estimator):
        self.estimator = estimator
        self.before = dict(estimator.__dict__)
        self.kept = False

    def keep(self) -> None:
        self.kept = True

    def __enter__(self) -> FitTransaction:
        return self

    def __exit__(self, exc_type, exc, traceback) -> bool:
        if exc_type is not None and not self.kept:
            # A shallow copy suffices: fit replaces attributes, it never
            # mutates the old ones (a refit's classes_ is a new array).
            state = self.estimator.__dict__
            state.clear()
            state.update(self.before)
        return False


@dataclass(frozen=True)
class FitScope:
    """The stop flag a fit obeys, and whether it is nested in another fit."""

    stop: StopFlag = field(default_factory=StopFlag)
    nested: bool = False


# Each thread starts without a scope: a fit then has a stop flag of its own.
_SCOPE: ContextVar[FitScope | None] = ContextVar("sklearn_lth_fit_scope", default=None)


def current_fit_scope() -> FitScope:
    """The scope set by :func:`nested_fit` in this thread, or a fresh one."""
    scope = _SCOPE.get()
    return FitScope() if scope is None else scope


@contextmanager
def nested_fit(stop: StopFlag) -> Iterator[None]:
    """Fits in this block (in this thread) are part of another estimator's fit.

    They stop when ``stop`` is set and say nothing of what an interrupt keeps:
    the outer fit decides what it keeps and tells the user.
    """
    token = _SCOPE.set(FitScope(stop, nested=True))
    try:
        yield
    finally:
        _SCOPE.reset(token)
