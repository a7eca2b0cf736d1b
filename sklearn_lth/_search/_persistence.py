"""The saved forms of a search's plan and of a search after each round.

A plan (:func:`save_plan`, :func:`load_plan`) is what a fit draws once: the
random state, the validation split, the seeds. A search
(:func:`save_search`, :func:`restore_search`) is its state after its last
completed round: the kept positions and weights of every layer, the start
points it may rewind to, the round table and the random state. Both are
plain arrays in a :class:`~sklearn_lth._checkpoint.CheckpointStore`, and
both are read as untrusted: every value is checked against the estimator's
parameters (:class:`~._plan.SearchSpec`), the data and the file's other
values before any of it is used, and a refused file changes nothing. This
module is the only one that knows these saved forms; the store knows files.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._checkpoint import (
    CheckpointStore,
    SavedFile,
    blas_info,
    put_random_state,
    read_only_error,
    same_value,
    shown,
)
from .._compaction import COST_KEYS
from .._network import Layer, Network
from .._rewinding import StartPoint
from .._training import RoundResult
from ._plan import SearchSpec, Split
from ._state import HISTORY_KEYS, VALIDATION_KEYS, CompletedRound, SearchState


# -- the plan of a search -----------------------------------------------------------
@dataclass(frozen=True)
class SavedPlan:
    """A plan read back, with what was recorded beside it.

    Attributes
    ----------
    plan : Split
    random_state : tuple
        The estimator's random state after planning.
    initial_state : tuple or None
        The state the initial weights are drawn from, when the validation split
        follows them in the random state (see
        :class:`~._open.WeightsFirstRandomState`).
    blas : list
        :func:`blas_info` where the plan was written.
    kernels : str
        The training step's path where the plan was written.
    """

    plan: Split
    random_state: tuple
    initial_state: tuple | None
    blas: list
    kernels: str


def save_plan(
    store: CheckpointStore,
    plan: Split,
    random_state: tuple,
    *,
    initial_state: tuple | None = None,
    kernels: str = "numpy",
) -> None:
    """Save ``plan``, the random state after it, and where it was drawn."""
    header = {"blas": blas_info(), "kernels": kernels}
    arrays = {}
    put_random_state(header, arrays, "rng", random_state)
    if initial_state is not None:
        put_random_state(header, arrays, "rng_initial_weights", initial_state)
    for name in ("rows", "validation_rows", "seeds"):
        if getattr(plan, name) is not None:
            arrays[name] = getattr(plan, name)
    store.save(header, arrays)


def load_plan(
    store: CheckpointStore,
    *,
    n_samples: int,
    validation_fraction: float | None,
    n_seeds: int,
    weights_first: bool,
) -> SavedPlan | None:
    """The plan saved in ``store``, checked against the estimator and data.

    Parameters
    ----------
    store : CheckpointStore
        The search's ``plan.npz``.
    n_samples : int
        Rows of the training data.
    validation_fraction : float or None
        The share held out for validation, None when all rows train.
    n_seeds : int
        Searches from drawn seeds (1: one search, no seeds saved).
    weights_first : bool
        Whether the validation split follows the initial weights in the
        random state, which then saves their state too.

    Returns
    -------
    SavedPlan or None
        None when there is no plan yet.

    Raises
    ------
    CheckpointError
        If the file is not a plan these arguments would have saved.
    """
    saved = store.read()
    if saved is None:
        return None
    splits = validation_fraction is not None
    states = {"rng"} | ({"rng_initial_weights"} if splits and weights_first else set())
    saved.expect_header(states, optional={"blas", "kernels"})
    arrays = {f"{name}_keys" for name in states}
    arrays |= {"rows", "validation_rows"} if splits else set()
    arrays |= {"seeds"} if n_seeds > 1 else set()
    saved.expect_arrays(
        arrays,
        f"a plan with {'a' if splits else 'no'} validation split and "
        f"{n_seeds} search{'es' if n_seeds > 1 else ''}",
    )
    random_state = saved.random_state("rng")
    initial_state = (
        saved.random_state("rng_initial_weights")
        if "rng_initial_weights" in states
        else None
    )
    rows = validation_rows = seeds = None
    if splits:
        rows, validation_rows = _read_split(saved, n_samples, validation_fraction)
    if n_seeds > 1:
        seeds = saved.array("seeds", "integer", (n_seeds,))
        # draw_seeds' range: what RandomState(seed) takes, whatever the dtype.
        high = np.iinfo(np.int32).max
        inside = bool((seeds >= 0).all() and (seeds < high).all())
        saved.check(
            inside,
            "seeds",
            f"integers in [0, {high})",
            found=None if inside else f"seeds from {seeds.min()} to {seeds.max()}",
        )
    blas = saved.get("blas", "a list", default=[])
    saved.check(isinstance(blas, list), "blas", "a list", blas)
    kernels = saved.get("kernels", "'numpy' or 'numba'", default="numpy")
    saved.check(kernels in ("numpy", "numba"), "kernels", "'numpy' or 'numba'", kernels)
    return SavedPlan(
        Split(rows, validation_rows, seeds),
        random_state,
        initial_state,
        blas,
        kernels,
    )


def _read_split(saved: SavedFile, n_samples: int, validation_fraction: float):
    """Training and validation rows that split all ``n_samples`` rows as
    ``train_test_split(test_size=validation_fraction)`` does."""
    # train_test_split's sizes, and the estimator's own bounds on them.
    n_validation = math.ceil(validation_fraction * n_samples)
    n_train = n_samples - n_validation
    saved.check(
        n_validation >= 2 and n_train >= 1,
        "validation_rows",
        f"no split: validation_fraction={validation_fraction} of {n_samples} rows "
        "cannot be held out",
        found="present",
    )
    parts = {
        "rows": saved.array("rows", "integer", (n_train,)),
        "validation_rows": saved.array("validation_rows", "integer", (n_validation,)),
    }
    for name, part in parts.items():
        inside = bool((part >= 0).all() and (part < n_samples).all())
        saved.check(
            inside,
            name,
            f"row indices in [0, {n_samples})",
            found=None if inside else f"indices from {part.min()} to {part.max()}",
        )
    parts = {name: part.astype(np.intp, copy=False) for name, part in parts.items()}
    counts = np.bincount(np.concatenate(list(parts.values())), minlength=n_samples)
    twice = np.flatnonzero(counts != 1)
    saved.check(
        twice.size == 0,
        "rows and validation_rows",
        f"every one of the {n_samples} rows exactly once",
        found=f"row {twice[0] if twice.size else 0} {counts[twice[:1]].sum()} times",
    )
    return parts["rows"], parts["validation_rows"]


# -- the state of a search, as a checkpoint ------------------------------------
_SEARCH_HEADER = {
    "completed_round",
    "history",
    "unconverged",
    "chance",
    "rng",
    "start",
    "snapshot_step",
    "last_round",
}

# RoundResult's fields that a checkpoint saves (all but the snapshot, which
# the search keeps as its own start point).
_RESULT_FIELDS = (
    "n_iter",
    "steps",
    "loss_curve",
    "validation_scores",
    "best_validation_score",
    "converged",
    "min_validation_loss_iteration",
    "validation_score_at_min_loss",
    "samples_seen",
    "stall_count",
)


def save_search(store: CheckpointStore, state: SearchState, rng) -> None:
    """Save ``state`` after its last completed round, with ``rng``'s state.

    Start points are saved at the kept positions only: later rounds read
    nothing else from them.
    """
    last_round = state.last.result
    header = {
        "completed_round": state.completed,
        "history": state.history,
        "unconverged": state.unconverged,
        "chance": state.chance,
        "start": [state.start.step, state.start.hold_final_lr],
        "snapshot_step": (
            None if state.rewind_snapshot is None else state.rewind_snapshot.step
        ),
        "last_round": {name: getattr(last_round, name) for name in _RESULT_FIELDS},
    }
    arrays = {}
    # The random state after the round: a resumed search draws exactly what
    # an uninterrupted one would (shuffles, random scores, fresh weights).
    # No optimizer state is saved: every round starts with fresh state.
    put_random_state(header, arrays, "rng", rng.get_state())
    points = {
        "start": state.start,
        "initial": state.initial,
        "snapshot": state.rewind_snapshot,
    }
    for i, layer in enumerate(state.network.layers):
        positions = layer.positions
        arrays[f"positions_{i}"] = positions
        arrays[f"values_{i}"] = layer.values
        arrays[f"bias_{i}"] = layer.bias
        for prefix, point in points.items():
            if point is not None:
                arrays[f"{prefix}_weights_{i}"] = point.values(i, positions)
                arrays[f"{prefix}_bias_{i}"] = point.biases[i]
    store.save(header, arrays)


def restore_search(
    store: CheckpointStore, state: SearchState, rng, spec: SearchSpec
) -> bool:
    """Continue ``state`` (and ``rng``) from the store, if it holds a search.

    Every value is checked against ``spec``, against ``state`` as it was
    opened (its initial weights, or the fitted search a warm-started fit goes
    on with) and against the file's other values before any is used: a
    refused file leaves ``state`` and ``rng`` as they were.

    Returns
    -------
    bool
        Whether the store held a search.

    Raises
    ------
    CheckpointError
        If the file does not hold a state of this search, or if the store is
        read-only and the search is not finished (its next round could not be
        saved): raised before any training.
    """
    saved = store.read()
    restored = None if saved is None else _read_search(saved, state, spec)
    completed = -1 if restored is None else restored.completed
    if store.read_only and completed < spec.last_round:
        held = "no round" if restored is None else f"round {completed}"
        raise read_only_error(
            store.directory,
            f"its search is not finished: {store.path.name} holds {held} of "
            f"rounds 0-{spec.last_round}",
        )
    if restored is None:
        return False
    restored.apply(state, rng)
    return True


@dataclass
class _RestoredSearch:
    """Every value of a saved search, checked; :meth:`apply` cannot fail."""

    completed: int
    positions: list[np.ndarray]
    values: list[np.ndarray]
    biases: list[np.ndarray]
    history: dict[str, list]
    unconverged: list[int]
    chance: list[int]
    points: dict[str, StartPoint | None]
    result: RoundResult
    rng_state: tuple

    def apply(self, state: SearchState, rng) -> None:
        """Continue ``state`` and ``rng`` from the saved round."""
        rng.set_state(self.rng_state)
        state.history = self.history
        state.unconverged, state.chance = self.unconverged, self.chance
        state.initial = self.points["initial"]
        state.rewind_snapshot = self.points["snapshot"]
        state.start = self.points["start"]
        # Only the trained values are saved: the kernels' copies (dense
        # weights, transposed CSR) are rebuilt from them, exactly.
        layers = [
            Layer(positions, values, bias, shape)
            for positions, values, bias, shape in zip(
                self.positions, self.values, self.biases, state.shapes
            )
        ]
        state.network = Network(layers, state.activation, state.out_activation)
        state.first_positions = None  # the network holds them
        state.last = CompletedRound(
            self.completed, state.network, state.start, self.result, rng.get_state()
        )


def _read_search(saved: SavedFile, state: SearchState, spec: SearchSpec):
    """Read and check a saved search (see :func:`restore_search`)."""
    saved.expect_header(_SEARCH_HEADER - {"chance"}, optional={"chance"})
    completed = saved.integer("completed_round", spec.first_round, spec.last_round)
    restarted = spec.restarted(completed)
    points = _saved_points(state, spec, restarted)
    names = {"rng_keys"}
    for i in range(len(state.shapes)):
        names |= {f"positions_{i}", f"values_{i}", f"bias_{i}"}
        names |= {
            f"{prefix}_{part}_{i}" for prefix in points for part in ("weights", "bias")
        }
    saved.expect_arrays(names, f"a search after round {completed}")
    positions = _read_positions(saved, state, spec, completed, restarted)
    history = _read_history(saved, state, spec, completed)
    result = _read_last_round(saved, spec, history, completed)
    rounds = {}
    for name in ("unconverged", "chance"):
        listed = saved.get(name, "a list", default=[])
        rounds[name] = _read_round_list(saved, name, listed, spec, completed)
    saved.check(
        (completed in rounds["unconverged"]) != result.converged,
        "last_round.converged",
        f"{completed not in rounds['unconverged']}, as the unconverged rounds say",
        result.converged,
    )
    values, biases = _read_layers(saved, "values", "bias", state, positions)
    return _RestoredSearch(
        completed=completed,
        positions=positions,
        values=values,
        biases=biases,
        history=history,
        unconverged=rounds["unconverged"],
        chance=rounds["chance"],
        points=_read_points(saved, state, spec, positions, restarted, points),
        result=result,
        rng_state=saved.random_state("rng"),
    )


def _saved_points(state: SearchState, spec: SearchSpec, restarted: bool) -> set:
    """The start points a search saves after a round (see :func:`save_search`).

    W0 (or a ticket's weights) while no round has restarted, and then only if
    the rounds rewind to it; round 0's snapshot once taken, in this fit or the
    fitted search; the start of the last round always.
    """
    points = {"start"}
    if state.initial is not None and (not restarted or spec.rewind.strategy == "init"):
        points.add("initial")
    if state.rewind_snapshot is not None or (
        spec.first_round == 0 and spec.snapshot_at is not None
    ):
        points.add("snapshot")
    return points


def _read_positions(saved, state, spec, completed, restarted) -> list[np.ndarray]:
    """Each layer's kept positions: sorted, unique, inside the layer, within
    the positions the search started from, as many as the schedule keeps."""
    if state.network is None:  # W0 or a ticket, before round 0
        known = state.first_positions
    else:  # the fitted network a warm-started fit goes on with
        known = [layer.positions for layer in state.network.layers]
    positions = []
    for i, (shape, before) in enumerate(zip(state.shapes, known)):
        name, size = f"positions_{i}", shape[0] * shape[1]
        kept = saved.array(name, "integer", (None,))
        inside = bool((kept >= 0).all() and (kept < size).all())
        saved.check(
            inside,
            name,
            f"positions in [0, {size}) of a layer of shape {shape}",
            found=None if inside else f"positions from {kept.min()} to {kept.max()}",
        )
        kept = kept.astype(np.intp, copy=False)
        saved.check(
            bool((np.diff(kept) > 0).all()),
            name,
            "sorted, unique positions",
            found="positions out of order or repeated",
        )
        if not restarted:
            saved.check(
                np.array_equal(kept, before),
                name,
                f"the {before.size} positions the search started from (no round "
                "has pruned yet)",
                found=f"{kept.size} other positions",
            )
        elif before.size < size:
            saved.check(
                bool(np.isin(kept, before, assume_unique=True).all()),
                name,
                "positions of the fitted network (pruning only removes weights)",
                found="positions outside them",
            )
        positions.append(kept)
    for layers, n_kept in zip(spec.pools, spec.kept[completed - spec.first_round]):
        found = sum(positions[i].size for i in layers)
        saved.check(
            found == n_kept,
            f"the kept positions of layers {layers}",
            f"{n_kept} weights, the pruning schedule's count after round {completed}",
            found=f"{found} weights",
        )
        if restarted:
            # Pruning never empties a layer: the strongest path keeps one.
            for i in layers:
                saved.check(
                    positions[i].size > 0,
                    f"positions_{i}",
                    "at least one kept weight",
                    found="empty",
                )
    return positions


def _read_history(saved, state, spec, completed) -> dict[str, list]:
    """The round table: the fitted search's rows as fitted, then one row per
    completed round, whose counts are the schedule's."""
    known = state.history  # the fitted search's rows (none without warm_start)
    costs = [key for key in COST_KEYS if key in known]
    saved_keys = saved.get("history", "an object", default={})
    if isinstance(saved_keys, dict) and set(saved_keys) == set(known) - set(costs):
        # Written before the cost columns: they are unknown for its own
        # rounds; a warm-started search's fitted rows keep the fitted values.
        first = spec.first_round
        saved_keys.update(
            {
                key: list(known[key][:first]) + [math.nan] * (completed + 1 - first)
                for key in costs
            }
        )
    saved.mapping("history", set(known))
    history = {key: saved.sequence(f"history.{key}", completed + 1) for key in known}
    if "live_units" in history:
        history["live_units"] = [
            tuple(units) if isinstance(units, list) else units
            for units in history["live_units"]
        ]
    for key, column in history.items():
        for r in range(spec.first_round):
            saved.check(
                same_value(column[r], known[key][r]),
                f"history.{key}[{r}]",
                f"{shown(known[key][r])}, as in the fitted search",
                column[r],
            )
    typed = HISTORY_KEYS + (VALIDATION_KEYS if spec.validation else ())
    for r in range(spec.first_round, completed + 1):
        remaining = sum(spec.kept[r - spec.first_round])
        expected = {
            "round": r,
            "remaining_parameters": remaining,
            "sparsity": 1.0 - remaining / state.n_dense_weights,
        }
        for key in known:
            name, found = f"history.{key}[{r}]", history[key][r]
            if key in expected:
                saved.check(
                    same_value(found, expected[key]), name, repr(expected[key]), found
                )
            elif key == "n_iter":
                saved.integer(name, 0, spec.max_iter, value=found)
            elif key in COST_KEYS:
                _check_cost(saved, name, key, found, state.shapes)
            elif key not in typed:
                # A column of the fitted search that this fit does not fill.
                saved.check(same_value(found, math.nan), name, "NaN", found)
            elif key == "min_validation_loss_iteration":
                if found is not None:
                    saved.integer(name, value=found)
            elif found is not None or key != "validation_score_at_min_loss":
                value = saved.number(name, finite=False, value=found)
                low, high, meaning = _HISTORY_RANGES[key]
                # (NaN is left to the checks that know when it may appear.)
                saved.check(not value < low and not value > high, name, meaning, found)
    return history


def _check_cost(saved, name: str, key: str, found, shapes) -> None:
    """A round's cost cell: unknown (NaN, from an older checkpoint), or what
    a network of these layer shapes can cost."""
    if same_value(found, math.nan):
        return
    if key != "live_units":
        saved.integer(name, 0, value=found)
        return
    hidden = [n_out for _, n_out in shapes[:-1]]
    saved.check(
        isinstance(found, tuple)
        and len(found) == len(hidden)
        and all(
            isinstance(n, int) and 0 <= n <= size for n, size in zip(found, hidden)
        ),
        name,
        f"the live units of each hidden layer (sizes {hidden})",
        found,
    )


# What a round's measured values can be: a duration, a loss (half a squared
# error, a cross-entropy or a deviance: never negative) and scores (accuracy
# in [0, 1], R2 at most 1). A value outside cannot have been measured.
_HISTORY_RANGES = {
    "seconds": (0.0, math.inf, "a duration of 0 seconds or more"),
    "train_loss": (0.0, math.inf, "a loss of 0 or more"),
    "train_score": (-math.inf, 1.0, "a score of at most 1"),
    "validation_score": (-math.inf, 1.0, "a score of at most 1"),
    "validation_score_at_min_loss": (-math.inf, 1.0, "a score of at most 1"),
}


def _read_last_round(saved, spec, history, completed) -> RoundResult:
    """What the last completed round did, as its row of the table says too."""
    saved.mapping("last_round", set(_RESULT_FIELDS))

    def optional(field: str, read):
        value = saved.get(f"last_round.{field}", "a value")
        return None if value is None else read(f"last_round.{field}", value=value)

    result = RoundResult(
        n_iter=saved.integer("last_round.n_iter", 0, spec.max_iter),
        steps=saved.integer("last_round.steps"),
        loss_curve=saved.numbers("last_round.loss_curve"),
        validation_scores=optional("validation_scores", saved.numbers),
        best_validation_score=optional("best_validation_score", saved.number),
        converged=saved.boolean("last_round.converged"),
        min_validation_loss_iteration=optional(
            "min_validation_loss_iteration", saved.integer
        ),
        validation_score_at_min_loss=optional(
            "validation_score_at_min_loss", saved.number
        ),
        samples_seen=saved.integer("last_round.samples_seen"),
        stall_count=saved.integer("last_round.stall_count"),
    )
    _check_round_counts(saved, spec, result)
    row = _round_row(saved, spec, result)
    for key, value in row.items():
        found = history[key][completed]
        saved.check(
            same_value(found, value),
            f"history.{key}[{completed}]",
            f"{shown(value)}, as last_round says",
            found,
        )
    return result


def _check_round_counts(saved, spec, result: RoundResult) -> None:
    """A round's steps, samples and stalls are its epochs', and the minimum
    of its validation loss one of its steps."""
    if spec.epoch is not None:
        steps, rows = spec.epoch
        epochs = f"{result.n_iter} epochs of {steps} steps and {rows} rows"
        for field, per_epoch in (("steps", steps), ("samples_seen", rows)):
            found = getattr(result, field)
            expected = result.n_iter * per_epoch
            saved.check(
                found == expected,
                f"last_round.{field}",
                f"{expected} ({epochs})",
                found,
            )
        saved.check(
            result.stall_count <= result.n_iter,
            "last_round.stall_count",
            f"at most the round's {result.n_iter} epochs",
            result.stall_count,
        )
    at_min = result.min_validation_loss_iteration
    saved.check(
        at_min is None or at_min <= result.steps,
        "last_round.min_validation_loss_iteration",
        f"a step of the round (at most {result.steps})",
        at_min,
    )


def _round_row(saved, spec, result: RoundResult) -> dict:
    """The cells of the round table that ``result`` determines."""
    row = {
        "n_iter": result.n_iter,
        "train_loss": result.loss_curve[-1] if result.loss_curve else math.nan,
    }
    if not spec.validation:
        for field in (
            "validation_scores",
            "best_validation_score",
            "min_validation_loss_iteration",
            "validation_score_at_min_loss",
        ):
            value = getattr(result, field)
            saved.check(
                value is None, f"last_round.{field}", "null (no validation rows)", value
            )
        return row
    best = result.best_validation_score
    if best is None and result.validation_scores:
        best = result.validation_scores[-1]
    saved.check(
        best is not None,
        "last_round.validation_scores",
        "a score (the round is scored on validation rows)",
        result.validation_scores,
    )
    row["validation_score"] = best
    row["min_validation_loss_iteration"] = result.min_validation_loss_iteration
    row["validation_score_at_min_loss"] = result.validation_score_at_min_loss
    return row


def _read_round_list(saved, name, listed, spec, completed) -> list[int]:
    """Rounds of this fit (unconverged, at chance): increasing, completed."""
    rounds = saved.sequence(name, value=listed)
    for i, r in enumerate(rounds):
        saved.integer(f"{name}[{i}]", spec.first_round, completed, value=r)
    saved.check(rounds == sorted(set(rounds)), name, "increasing rounds", rounds)
    return rounds


def _read_layers(saved, values_name, bias_name, state, positions) -> tuple:
    """Each layer's saved values at its kept ``positions`` (``values_name_i``)
    and its biases (``bias_name_i``), in the search's dtype, all finite."""
    dtype = state.start.biases[0].dtype
    values = [
        saved.array(f"{values_name}_{i}", dtype, (pos.size,), finite=True)
        for i, pos in enumerate(positions)
    ]
    biases = [
        saved.array(f"{bias_name}_{i}", dtype, (shape[1],), finite=True)
        for i, shape in enumerate(state.shapes)
    ]
    return values, biases


def _read_points(saved, state, spec, positions, restarted, points) -> dict:
    """The saved start points, checked against the known ones and the rule
    by which the last round restarted; one object where the search had one."""
    start_step, hold = saved.sequence("start", 2)
    saved.integer("start[0]", value=start_step)
    saved.boolean("start[1]", value=hold)
    snapshot_step = saved.get("snapshot_step", "a step or null")
    if "snapshot" in points:
        saved.integer("snapshot_step", 0, spec.snapshot_at, value=snapshot_step)
    else:
        saved.check(snapshot_step is None, "snapshot_step", "null", snapshot_step)

    def read(prefix: str, step: int, hold: bool) -> StartPoint | None:
        if prefix not in points:
            return None
        weights, biases = _read_layers(
            saved, f"{prefix}_weights", f"{prefix}_bias", state, positions
        )
        return StartPoint(weights, biases, step, hold, positions=positions)

    initial = read("initial", *_step_of(state.initial))
    snapshot = read("snapshot", snapshot_step, False)
    start = read("start", start_step, hold)
    if initial is not None:
        _check_same(saved, "initial", initial, state.initial, "the initial weights")
    if snapshot is not None and state.rewind_snapshot is not None:
        _check_same(
            saved, "snapshot", snapshot, state.rewind_snapshot, "the fitted snapshot"
        )
    strategy = spec.rewind.strategy
    if not restarted:
        # Round 0 (or a ticket, or a fitted network trained on) starts from
        # the point the search was opened with, which may be W0 or the
        # snapshot itself.
        _check_same(saved, "start", start, state.start, "the search's first start")
        if state.start is state.initial:
            start = initial
        elif state.start is state.rewind_snapshot:
            start = snapshot
    elif strategy in ("init", "early", "late"):
        # The rounds restart from W0 or round 0's snapshot itself.
        rewound = initial if strategy == "init" else snapshot
        _check_same(saved, "start", start, rewound, f"the rewind point of {strategy!r}")
        start = rewound
    else:
        # From the trained or fresh weights, at the schedule's start, or at
        # its final rate for "none".
        expected = [0, strategy == "none"]
        saved.check(
            [start_step, hold] == expected,
            "start",
            f"{expected} (rewind={strategy!r})",
            [start_step, hold],
        )
    return {"initial": initial, "snapshot": snapshot, "start": start}


def _step_of(point: StartPoint | None) -> tuple[int, bool]:
    """A known start point's position on the schedule (None: none)."""
    return (0, False) if point is None else (point.step, point.hold_final_lr)


def _check_same(saved, prefix, point, known, what) -> None:
    """``point`` (saved) holds ``known``'s weights at its positions, and step."""
    for i, positions in enumerate(point.positions):
        saved.check(
            np.array_equal(point.weights[i], known.values(i, positions)),
            f"{prefix}_weights_{i}",
            f"{what} at the kept positions",
            found="other weights",
        )
        saved.check(
            np.array_equal(point.biases[i], known.biases[i]),
            f"{prefix}_bias_{i}",
            f"{what}' biases",
            found="other biases",
        )
    step = "snapshot_step" if prefix == "snapshot" else prefix
    saved.check(
        (point.step, point.hold_final_lr) == (known.step, known.hold_final_lr),
        step,
        f"the step of {what}: {[known.step, known.hold_final_lr]}",
        [point.step, point.hold_final_lr],
    )
