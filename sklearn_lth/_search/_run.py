"""Running a fit's searches: one, or one per seed, and what an end keeps.

:func:`run_searches` runs the search of a plan, or one per seed in parallel
(:mod:`._seeds`), and gives back the search to keep (:class:`Kept`), chosen
by the rule of :mod:`sklearn_lth._interrupt`. Whatever ends it early keeps
what was completed: on Ctrl-C the caller's ``on_interrupt`` receives the
completed rounds before the interrupt goes on; a search that diverges raises
:class:`SearchDiverged` with them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from .._interrupt import StopFlag
from .._warnings import warn
from ..exceptions import TrainingDivergedError
from ._loop import find_ticket
from ._open import Folder
from ._plan import SearchPlan, Split, TrainingData
from ._seeds import (
    DivergedSeed,
    SeedsProgress,
    choose_seed,
    recover_seeds,
    search_seeds,
    transport_folder,
)
from ._state import IMPResult, Progress


@dataclass(frozen=True)
class Kept:
    """The search a fit keeps, among all its seeds' (``results[best]``).

    ``results`` holds every seed's completed rounds (None: a seed with none),
    for ``seeds_history_``.
    """

    results: list
    best: int

    @property
    def result(self) -> IMPResult:
        return self.results[self.best]


class SearchDiverged(Exception):
    """Every search diverged: the error, and what they had completed (or None)."""

    def __init__(self, error: TrainingDivergedError, kept: Kept | None):
        super().__init__(str(error))
        self.error, self.kept = error, kept


def _kept(results: list) -> Kept | None:
    best = choose_seed(results)
    return None if best is None else Kept(results, best)


def run_searches(
    data: TrainingData,
    plan: SearchPlan,
    rng: np.random.RandomState,
    split: Split,
    folder: Folder | None,
    *,
    n_jobs: int | None = None,
    on_round_end: Callable | None = None,
    stop: StopFlag,
    on_interrupt: Callable[[Kept | None], None],
) -> Kept:
    """Run the plan's search (or one per seed of ``split``); return the one kept.

    Parameters
    ----------
    data, plan, rng
        As :func:`~._loop.find_ticket` takes them (``rng``: the one search's;
        each seed's search draws from its own seed).
    split : Split
        The fit's draws: with ``seeds``, one search per seed.
    folder : Folder or None
        The checkpoint folder: each search saves in a file of its own there.
    n_jobs : int or None
        Seeds searched in parallel.
    on_round_end : callable or None
        ``on_round_end(record, coefs, intercepts)`` after each round of the one
        search (not with seeds).
    stop : StopFlag
        Stops every search once set.
    on_interrupt : callable
        Receives what the searches completed (or None) when Ctrl-C ends them,
        before the KeyboardInterrupt goes on.

    Raises
    ------
    SearchDiverged
        When the search diverges, or every seed's does.
    """
    if split.seeds is None:
        store = None if folder is None else folder.store("imp_state.npz")
        return _run_one(
            data, replace(plan, checkpoint=store), rng, on_round_end, stop, on_interrupt
        )
    return _run_seeds(data, plan, split.seeds, folder, n_jobs, stop, on_interrupt)


def _run_one(data, plan, rng, on_round_end, stop, on_interrupt) -> Kept:
    """One search; its completed rounds survive an interrupt or divergence."""
    # find_ticket leaves its search here before the first round: the
    # completed rounds outlive whatever exception ends it.
    progress = Progress()
    try:
        result = find_ticket(
            data, plan, rng, on_round_end=on_round_end, progress=progress, stop=stop
        )
    except KeyboardInterrupt:
        on_interrupt(_kept([progress.result()]))
        raise
    except TrainingDivergedError as error:
        raise SearchDiverged(error, _kept([progress.result()])) from error
    return Kept([result], 0)


def _run_seeds(data, plan, seeds, folder, n_jobs, stop, on_interrupt) -> Kept:
    """One search per seed, in parallel; keep the best that finished."""
    stores = [
        None if folder is None else folder.store(f"imp_state_seed{i}.npz")
        for i in range(len(seeds))
    ]
    with transport_folder() as transport:
        progress = SeedsProgress(len(seeds), transport, stop)
        try:
            outcomes = search_seeds(seeds, data, plan, n_jobs, stores, progress)
        except KeyboardInterrupt:
            # Seeds in threads stop at their next mini-batch (or run); worker
            # processes are stopped by their own signal or by joblib. Then
            # each seed's last completed round is collected, from memory or
            # from its file.
            stop.set()
            on_interrupt(_kept(recover_seeds(seeds, data, plan, stores, progress)))
            raise
    # A diverged seed is never chosen, but its completed rounds stay in
    # ``seeds_history_``.
    finished = [o if isinstance(o, IMPResult) else None for o in outcomes]
    tables = [o if isinstance(o, IMPResult) else o.partial for o in outcomes]
    diverged = [o for o in outcomes if isinstance(o, DivergedSeed)]
    if len(diverged) == len(outcomes):
        raise SearchDiverged(diverged[0].error, _kept(tables)) from diverged[0].error
    if diverged:
        warn(
            f"{len(diverged)} of {len(outcomes)} seeds diverged and are left "
            f"out of the choice (the first: {diverged[0].error})",
        )
    return Kept(tables, choose_seed(finished))
