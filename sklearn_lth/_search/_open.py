"""How a search opens: its folder, its draws, its first state.

Before the first round a fit

1. takes its search's checkpoint folder, when it has a ``checkpoint_dir``
   (:func:`search_folder`: one folder per fingerprint of parameters and data,
   locked while the fit uses it);
2. draws its validation split and seeds, or reads them back from that folder
   (:func:`draw_split`), so that a resumed search continues exactly;
3. opens each search (:func:`open_search`): from drawn initial weights W0, a
   ticket's weights, a fitted search it goes on with (``warm_start``), and
   then from the checkpoint of its last completed round, if there is one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.utils.validation import check_random_state

from .._checkpoint import (
    CheckpointStore,
    SearchLock,
    blas_differences,
    blas_info,
    fingerprint,
    search_directory,
)
from .._network import glorot_uniform, position_dtype
from .._rewinding import StartPoint
from .._warnings import warn
from ._persistence import SavedPlan, load_plan, restore_search, save_plan
from ._plan import SearchPlan, Split
from ._state import SearchState, start_from_ticket
from ._warm import WarmStart


# -- 1. the folder -----------------------------------------------------------------
@dataclass
class Folder:
    """The checkpoint folder of one search, the fingerprint its files carry,
    and whether it is read-only (its finished search is read, never written)."""

    directory: Path
    key: str
    read_only: bool = False

    def store(self, name: str) -> CheckpointStore:
        """The checkpoint file ``name`` of this folder."""
        return CheckpointStore(self.directory, name, self.key, read_only=self.read_only)


@contextmanager
def search_folder(
    checkpoint_dir, params: dict, arrays: list, warm: WarmStart | None = None
) -> Iterator[Folder | None]:
    """The locked folder of this search inside ``checkpoint_dir``, or None.

    Each distinct search (``params``, the data ``arrays``, the fitted search
    it goes on with) has a folder of its own, named by its fingerprint, so
    that the folds of a cross-validation and the points of a grid never
    share files.
    """
    if checkpoint_dir is None:
        yield None
        return
    fitted = [] if warm is None else warm.fingerprint_arrays()
    key = fingerprint(params, *arrays, *fitted)
    directory = search_directory(checkpoint_dir, key)
    with SearchLock(directory) as lock:
        yield Folder(directory, key, lock.read_only)


# -- 2. the draws ------------------------------------------------------------------
class WeightsFirstRandomState(np.random.RandomState):
    """A search's random state when its validation split follows W0 in it.

    scikit-learn's MLP draws the initial weights W0 and then, from the same
    random state, its early-stopping validation split. The estimators plan
    the split before the search draws W0; to draw it where scikit-learn
    does, the plan draws W0 once aside, splits, and hands the search this
    random state: set to the state W0 is drawn from, it moves on to
    ``after_split`` (where the plan left off) once :func:`open_search` has
    drawn W0, and training goes on from there as scikit-learn's does.

    Parameters
    ----------
    initial_state : tuple
        The state W0 is drawn from (``RandomState.get_state()``).
    after_split : tuple
        The state after W0 and the split.
    """

    def __init__(self, initial_state: tuple, after_split: tuple):
        super().__init__()
        self.set_state(initial_state)
        self.after_split = after_split


def draw_seeds(rng: np.random.RandomState, n_seeds: int) -> np.ndarray:
    """``n_seeds`` independent integer seeds drawn from ``rng``."""
    # Integers, not RandomState objects: each search rebuilds its own from
    # the seed, identical in whichever process or machine runs it.
    return rng.randint(np.iinfo(np.int32).max, size=n_seeds)


def draw_split(
    params: dict,
    data,
    folder: Folder | None,
    warm: WarmStart | None,
    kernels: str,
    split_rows: Callable,
) -> tuple[np.random.RandomState, Split]:
    """The random state, training and validation rows, and seeds of a fit.

    With a checkpoint folder they are saved once, with the random state
    after drawing, and read back when the search resumes, so that a resumed
    search continues exactly. With a checkpoint folder and
    ``random_state=None``, the random state is a fresh one, recorded too,
    rather than numpy's global one (which reading a plan back would
    overwrite); without a folder, ``random_state=None`` means numpy's global
    random state, as in scikit-learn.

    One search from drawn initial weights with early stopping splits as
    scikit-learn's MLP does (with ``target_sparsity=0.0`` it takes the same
    steps): after the initial weights W0, from the state they leave,
    stratified as there. The search draws W0 later, so W0 is drawn once aside
    to split, and the random state returned sits at W0's own state and moves
    on to the state after the split once the search has drawn W0
    (:class:`WeightsFirstRandomState`; that earlier state is saved and read
    back with the plan). With ``n_seeds > 1`` the split comes first, then the
    seeds, each of which draws its own W0 from itself; a ticket draws no W0.
    A warm-started fit that trains the fitted network on draws no W0 either;
    one that prunes on draws as the fit it continues did.

    Parameters
    ----------
    params : dict
        The estimator's parameters.
    data : object
        The fit's validated data: ``X``, ``y`` and ``layer_units``.
    folder : Folder or None
        The search's checkpoint folder.
    warm : WarmStart or None
        The fitted search a warm-started fit goes on with.
    kernels : str
        The training step's path, recorded with the plan; resuming on the
        other path warns.
    split_rows : callable
        The estimator's split, ``split_rows(X, y, rng, like_scikit_learn=...)``
        returning the training and the validation rows.
    """
    rng = check_random_state(params["random_state"])
    if folder is not None and params["random_state"] is None:
        rng = np.random.RandomState()
    like_scikit_learn = params["n_seeds"] == 1 and params["ticket"] is None
    weights_first = like_scikit_learn and (warm is None or not warm.keeps_training)
    # scikit-learn's L-BFGS ignores early_stopping: it trains on all rows.
    early_stopping = params["early_stopping"] and params["solver"] != "lbfgs"
    splits = early_stopping or params["n_seeds"] > 1
    store = None if folder is None else folder.store("plan.npz")
    if store is not None:
        saved = load_plan(
            store,
            n_samples=data.X.shape[0],
            validation_fraction=params["validation_fraction"] if splits else None,
            n_seeds=params["n_seeds"],
            weights_first=weights_first,
        )
        if saved is not None:
            return _read_back(saved, store, rng, kernels)
    rows = validation_rows = seeds = initial_state = None
    if splits:
        if weights_first:
            # Drawn aside (the search draws it again from this state):
            # scikit-learn's split comes after W0.
            initial_state = rng.get_state()
            glorot_uniform(data.layer_units, params["activation"], data.X.dtype, rng)
        rows, validation_rows = split_rows(
            data.X, data.y, rng, like_scikit_learn=like_scikit_learn
        )
    if params["n_seeds"] > 1:
        # Drawn here, before any work is handed out: each seed's search is
        # then a function of its seed alone, whatever n_jobs.
        seeds = draw_seeds(rng, params["n_seeds"])
    split = Split(rows, validation_rows, seeds)
    if store is not None:
        save_plan(
            store, split, rng.get_state(), initial_state=initial_state, kernels=kernels
        )
    if initial_state is not None:
        rng = WeightsFirstRandomState(initial_state, rng.get_state())
    return rng, split


def _read_back(saved: SavedPlan, store: CheckpointStore, rng, kernels: str):
    """The random state and split of a plan read back (see :func:`draw_split`).

    :func:`~._persistence.load_plan` has checked it against the parameters
    and the data; a plan written under another BLAS or kernel path warns.
    """
    # The same plan and random state; another BLAS (kernel, version,
    # threads) may still change the last bits of the resumed rounds.
    difference = blas_differences(saved.blas, blas_info())
    if difference:
        warn(
            f"Resuming the search in {store.directory} under another BLAS "
            f"setup: {difference} The resumed rounds may differ in the last "
            "bits from an uninterrupted run.",
        )
    if saved.kernels != kernels:
        warn(
            f"Resuming the search in {store.directory} on the {kernels!r} "
            f"kernels; its completed rounds ran on the {saved.kernels!r} "
            "kernels (see sklearn_lth.set_config). The resumed rounds may "
            "differ in the last bits from an uninterrupted run.",
        )
    rng.set_state(saved.random_state)
    if saved.initial_state is not None:
        # The split was drawn after W0 (see draw_split).
        rng = WeightsFirstRandomState(saved.initial_state, rng.get_state())
    return rng, saved.plan


# -- 3. the search's first state -----------------------------------------------------
def open_search(plan: SearchPlan, dtype, rng: np.random.RandomState, n_samples: int):
    """Step 1 of the loop: the search ``plan`` opens, as a :class:`SearchState`.

    From ``rng``'s initial weights (or a ticket's), or the fitted search a
    warm-started fit goes on with; then from the plan's checkpoint, if it
    holds a state, checked against ``plan.spec(n_samples)``.
    """
    spec = None if plan.checkpoint is None else plan.spec(n_samples)
    validation = plan.validation_rows is not None
    if plan.warm is not None:
        state = SearchState.continued(
            plan.warm, dtype, validation, plan.activation, plan.out_activation
        )
        if not plan.keeps_training:
            # Pruning on takes the random numbers where the search left them.
            rng.set_state(plan.warm.end.rng_state)
    else:
        state = _first_state(plan, dtype, rng, validation)
    if plan.checkpoint is not None:
        # The checkpoint's saved random state replaces ``rng``'s: drawing W0
        # changed nothing that the resumed search reads (and the saved W0 is
        # checked against it).
        restore_search(plan.checkpoint, state, rng, spec)
    return state


def _first_state(plan: SearchPlan, dtype, rng, validation: bool) -> SearchState:
    """A new search, from W0 drawn from ``rng`` or from the plan's ticket."""
    redraw_initial = None
    if plan.ticket is not None:
        initial, positions = start_from_ticket(plan.ticket, dtype)
    else:
        units, activation = plan.layer_units, plan.activation
        # W0 is needed whole only to export round 0 if round 1 fails; rather
        # than keep it, the search can draw it again from this state.
        first_draw = rng.get_state()

        def redraw_initial() -> StartPoint:
            again = np.random.RandomState()
            again.set_state(first_draw)
            return StartPoint(*glorot_uniform(units, activation, dtype, again))

        initial = StartPoint(*glorot_uniform(units, activation, dtype, rng))
        if isinstance(rng, WeightsFirstRandomState):
            # The validation split was drawn after these draws, as in
            # scikit-learn: go on from where it left the random state.
            rng.set_state(rng.after_split)
        positions = [
            np.arange(W.size, dtype=position_dtype(W.shape)) for W in initial.weights
        ]
    return SearchState(
        initial,
        positions,
        validation,
        plan.activation,
        plan.out_activation,
        redraw_initial,
    )
