"""Several independent searches (seeds), run in parallel with joblib.

Each seed is one call of :func:`~._loop.find_ticket` from its own
integer seed, a pure function of its arguments. The seeds are drawn from the
estimator's ``random_state`` before any work is handed out, and every search
runs with one BLAS thread, so results do not depend on ``n_jobs`` or on the
joblib backend (loky, threading, dask): ``n_jobs=1`` and ``n_jobs=-1`` give
bit-identical models.

Completed rounds outlive an interrupt: a search running in this process
leaves its state in a :class:`~._state.Progress`, and one running in
another process on this machine saves each completed round to a checkpoint
file (the user's ``checkpoint_dir``, or a temporary folder), which is read
back when the fit is interrupted.
"""

from __future__ import annotations

import socket
import tempfile
from contextlib import nullcontext
from dataclasses import dataclass, replace

import numpy as np
from sklearn.utils.parallel import Parallel, delayed
from threadpoolctl import threadpool_limits

from .._checkpoint import CheckpointStore
from .._interrupt import StopFlag
from .._verbose import labelled
from ..exceptions import CheckpointError, TrainingDivergedError
from ._loop import find_ticket
from ._open import open_search
from ._plan import SearchPlan, TrainingData
from ._state import IMPResult, Progress


@dataclass
class DivergedSeed:
    """A seed whose search diverged, with the rounds it completed before."""

    error: TrainingDivergedError
    partial: IMPResult | None


class SeedsProgress:
    """Where the seeds of one fit leave their completed rounds.

    Made in the fit's process. A worker in the same process (the sequential
    and threading backends) fills :attr:`slots`; a worker in another process
    on this machine saves its rounds to a file in :attr:`transport`, unless it
    already saves them to the user's checkpoint. A worker on another machine
    (a remote dask worker) leaves nothing to read back.
    """

    def __init__(self, n_seeds: int, transport: str, stop: StopFlag):
        self.host = socket.gethostname()
        self.slots = [Progress() for _ in range(n_seeds)]
        self.transport = transport
        self.stop = stop

    def at_home(self) -> bool:
        """Whether this is the fit's own object (a worker that got no copy)."""
        return self.slots is not None

    def on_this_machine(self) -> bool:
        """Whether the fit's process could read a file written here."""
        return socket.gethostname() == self.host

    def transport_store(self, index: int) -> CheckpointStore:
        """The file in which a worker process leaves seed ``index``'s rounds."""
        # Only this fit reads it back, and only if it is interrupted: atomic
        # renames suffice, no fsync.
        return CheckpointStore(
            self.transport, f"seed{index}.npz", "transport", durable=False
        )

    def __getstate__(self) -> dict:
        # A copy (another process, or dask even in this one) fills no slot.
        return {**self.__dict__, "slots": None}


def _search_one_seed(
    index: int, seed: int, data: TrainingData, plan: SearchPlan, progress
) -> IMPResult | DivergedSeed:
    """One seed's search, wherever joblib runs it; divergence is an outcome."""
    at_home = progress.at_home()
    if at_home:
        # The fit limits this process's BLAS to one thread around all seeds:
        # limits set and restored by concurrent threads would interleave (a
        # copy's threads in this process restore that one thread, harmlessly).
        slot, limits = progress.slots[index], nullcontext()
    else:
        # Another process (or a dask copy): limit its BLAS here. The fit
        # cannot read this slot, so a worker on this machine leaves its
        # rounds in a file.
        slot, limits = Progress(), threadpool_limits(limits=1, user_api="blas")
        if plan.checkpoint is None and progress.on_this_machine():
            plan = replace(plan, checkpoint=progress.transport_store(index))
    with limits, labelled(f"seed {index}"):
        try:
            return find_ticket(
                data,
                plan,
                np.random.RandomState(seed),
                progress=slot,
                stop=progress.stop,
            )
        except TrainingDivergedError as error:
            return DivergedSeed(error, slot.result())


def search_seeds(
    seeds: np.ndarray,
    data: TrainingData,
    plan: SearchPlan,
    n_jobs: int | None,
    checkpoints: list,
    progress: SeedsProgress,
) -> list[IMPResult | DivergedSeed]:
    """Run one search per seed, in parallel; outcomes come in seed order.

    ``checkpoints`` gives each search its own checkpoint store (or None). A
    seed that diverges does not stop the others: its outcome is a
    :class:`DivergedSeed`.
    """
    # One BLAS thread per search whatever n_jobs: a BLAS may split its sums
    # differently with the thread count, and the results would then depend
    # on n_jobs. Seeds in parallel use the cores instead.
    with threadpool_limits(limits=1, user_api="blas"):
        return Parallel(n_jobs=n_jobs)(
            delayed(_search_one_seed)(
                i, int(seed), data, replace(plan, checkpoint=store), progress
            )
            for i, (seed, store) in enumerate(zip(seeds, checkpoints))
        )


def transport_folder():
    """A temporary folder for the rounds of seeds searched in other processes."""
    return tempfile.TemporaryDirectory(
        prefix="sklearn-lth-seeds-", ignore_cleanup_errors=True
    )


def recover_seeds(
    seeds, data: TrainingData, plan: SearchPlan, checkpoints, progress: SeedsProgress
) -> list[IMPResult | None]:
    """After an interrupt: each seed's last completed round, or None."""
    recovered = []
    for i, (seed, store) in enumerate(zip(seeds, checkpoints)):
        # A search in this process left its state in the slot; one in another
        # process saved its rounds to a file.
        result = progress.slots[i].result()
        if result is None:
            store = store if store is not None else progress.transport_store(i)
            result = _read_back(data, replace(plan, checkpoint=store), int(seed))
        recovered.append(result)
    return recovered


def _read_back(data: TrainingData, plan: SearchPlan, seed: int) -> IMPResult | None:
    """The last round a worker process saved in ``plan.checkpoint``, if any."""
    if not plan.checkpoint.path.exists():
        return None
    # The search is opened as the worker opened it (same seed, so the same
    # initial weights) and continued from the file, which is checked as the
    # worker would have checked it.
    try:
        search = open_search(
            plan, data.X.dtype, np.random.RandomState(seed), data.X.shape[0]
        )
    except CheckpointError:
        # An unreadable file costs this seed its rounds, not the recovery of
        # the others.
        return None
    return None if search.last is None else search.result()


def choose_seed(results: list[IMPResult | None]) -> int | None:
    """Index of the search to keep: the rule of :mod:`._interrupt`.

    Among the searches that completed the most rounds, the one whose last
    network scores best on validation; ties go to the lowest index. None when
    no search completed a round.
    """
    candidates = [(i, r) for i, r in enumerate(results) if r is not None]
    if not candidates:
        return None
    # The most rounds first: an interrupted seed is never preferred for being
    # denser. Without validation (one search) every score is 0.
    deepest = max(len(r.history["round"]) for _, r in candidates)
    last_scores = {
        i: r.history.get("validation_score", [0.0])[-1]
        for i, r in candidates
        if len(r.history["round"]) == deepest
    }
    best = max(last_scores.values())
    return min(i for i, score in last_scores.items() if score == best)


def stack_histories(results: list[IMPResult | None]) -> dict[str, np.ndarray]:
    """All seeds' round tables in one long table with a ``seed`` column.

    Seeds without a completed round (None) have no rows.
    """
    present = [(i, r) for i, r in enumerate(results) if r is not None]
    stacked = {
        "seed": np.concatenate(
            [np.full(len(r.history["round"]), i) for i, r in present]
        )
    }
    for key in present[0][1].history:
        stacked[key] = np.concatenate([r.history[key] for _, r in present])
    return stacked
