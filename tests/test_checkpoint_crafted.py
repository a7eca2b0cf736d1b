"""Checkpoints crafted at the content level are refused, and change nothing.

Each case takes a valid checkpoint of an interrupted search (round 1 of 3
completed), changes one field of its header or one array to a value that
contradicts the estimator, the data or the file's other values, and writes
it back with the right fingerprint through the module's own save. ``fit``
must raise :class:`CheckpointError` naming the file and the field, and leave
the estimator (unfitted, or fitted before) exactly as it was.
"""

import copy
import json
import math
import pickle
import shutil

import numpy as np
import pytest
from _helpers import fail_in_round, no_training

import sklearn_lth._search._loop as imp
from sklearn_lth import LotteryTicketMLP
from sklearn_lth._checkpoint import CheckpointStore
from sklearn_lth.exceptions import CheckpointError

BASE = dict(
    hidden_layer_sizes=(6,),
    max_iter=3,
    target_sparsity=0.7,
    pruning_rounds=3,
    random_state=0,
)

# n_seeds, early_stopping, rewind: each file with and without its optional
# parts (validation rows, seeds, the state W0 is drawn from, a snapshot).
SCENARIOS = {
    "one": dict(n_seeds=1, early_stopping=False, rewind="init"),
    "one-early-stopping": dict(n_seeds=1, early_stopping=True, rewind="late"),
    "two": dict(n_seeds=2, early_stopping=False, rewind="late"),
    "two-early-stopping": dict(n_seeds=2, early_stopping=True, rewind="init"),
}


def _splits(scenario: str) -> bool:
    return scenario != "one"


def _set(path: str, value):
    """An edit that sets the header's dotted ``path`` (``a.b``, ``a[1]``)."""

    def edit(header, arrays):
        *parents, last = path.replace("[", ".[").split(".")
        node = header
        for part in parents:
            node = node[int(part[1:-1])] if part.startswith("[") else node[part]
        if last.startswith("["):
            node[int(last[1:-1])] = value
        else:
            node[last] = value

    return edit


def _drop(name: str):
    def edit(header, arrays):
        (arrays if name in arrays else header).pop(name)

    return edit


def _array(name: str, change):
    """An edit that replaces the array ``name`` by ``change(array)``."""

    def edit(header, arrays):
        arrays[name] = change(arrays[name].copy())

    return edit


def _put(name: str, value):
    def edit(header, arrays):
        arrays[name] = np.asarray(value)

    return edit


def _with(array, index, value):
    array[index] = value
    return array


def _swap_first_two(array):
    array[[0, 1]] = array[[1, 0]]
    return array


def _history(key: str, change):
    def edit(header, arrays):
        header["history"][key] = change(list(header["history"][key]))

    return edit


def _move_one_row(header, arrays):
    """One validation row more for training: sizes off validation_fraction."""
    arrays["rows"] = np.append(arrays["rows"], arrays["validation_rows"][0])
    arrays["validation_rows"] = arrays["validation_rows"][1:]


def _overlap(header, arrays):
    arrays["validation_rows"] = _with(
        arrays["validation_rows"].copy(), 0, arrays["rows"][0]
    )


def _history_without(key: str):
    def edit(header, arrays):
        header["history"].pop(key)

    return edit


def _no_validation_score(header, arrays):
    header["last_round"]["best_validation_score"] = None
    header["last_round"]["validation_scores"] = []


def _last_round_without(key: str):
    def edit(header, arrays):
        header["last_round"].pop(key)

    return edit


def _converged_flipped(header, arrays):
    header["last_round"]["converged"] = not header["last_round"]["converged"]


def _loss_curve_off(header, arrays):
    header["last_round"]["loss_curve"][-1] += 1.0


# (file, field, edit, scenarios it applies to, what the message names).
# "search" is imp_state.npz (imp_state_seed0.npz with two seeds).
ALL = tuple(SCENARIOS)
SPLIT = tuple(s for s in SCENARIOS if _splits(s))
ONE_SEED = ("one", "one-early-stopping")
EDITS = [
    # -- plan.npz -------------------------------------------------------------
    ("plan", "rng name", _set("rng[0]", "PCG64"), ALL, "rng[0]"),
    ("plan", "rng pos", _set("rng[1]", 625), ALL, "rng[1]"),
    ("plan", "rng pos huge", _set("rng[1]", 10**400), ALL, "rng[1]"),
    ("plan", "rng has_gauss", _set("rng[2]", 2), ALL, "rng[2]"),
    ("plan", "rng cached", _set("rng[3]", math.nan), ALL, "rng[3]"),
    ("plan", "rng short", _set("rng", ["MT19937", 1]), ALL, "rng"),
    ("plan", "rng missing", _drop("rng"), ALL, "rng"),
    (
        "plan",
        "rng keys dtype",
        _array("rng_keys", lambda a: a.astype(np.int64)),
        ALL,
        "rng_keys",
    ),
    ("plan", "rng keys short", _array("rng_keys", lambda a: a[:-1]), ALL, "rng_keys"),
    ("plan", "rng keys zero", _array("rng_keys", np.zeros_like), ALL, "rng_keys"),
    ("plan", "kernels", _set("kernels", "cuda"), ALL, "kernels"),
    ("plan", "blas", _set("blas", "openblas"), ALL, "blas"),
    ("plan", "unknown field", _set("extra", 1), ALL, "extra"),
    ("plan", "unknown array", _put("junk", [1]), ALL, "junk"),
    ("plan", "seeds for one search", _put("seeds", [1, 2, 3]), ONE_SEED, "seeds"),
    (
        "plan",
        "three seeds",
        _put("seeds", [1, 2, 3]),
        ("two", "two-early-stopping"),
        "seeds",
    ),
    (
        "plan",
        "negative seed",
        _array("seeds", lambda a: _with(a, 0, -1)),
        ("two", "two-early-stopping"),
        "seeds",
    ),
    (
        "plan",
        "seed too large",
        _array("seeds", lambda a: _with(a, 0, 2**31)),
        ("two", "two-early-stopping"),
        "seeds",
    ),
    (
        "plan",
        "float seeds",
        _array("seeds", lambda a: a.astype(float)),
        ("two", "two-early-stopping"),
        "seeds",
    ),
    ("plan", "rows without a split", _put("rows", np.arange(10)), ("one",), "rows"),
    ("plan", "no validation rows", _drop("validation_rows"), SPLIT, "validation_rows"),
    ("plan", "no rows", _drop("rows"), SPLIT, "rows"),
    ("plan", "overlapping rows", _overlap, SPLIT, "rows and validation_rows"),
    ("plan", "sizes off the fraction", _move_one_row, SPLIT, "rows"),
    (
        "plan",
        "row out of range",
        _array("rows", lambda a: _with(a, 0, 120)),
        SPLIT,
        "rows",
    ),
    (
        "plan",
        "negative row",
        _array("validation_rows", lambda a: _with(a, 0, -1)),
        SPLIT,
        "validation_rows",
    ),
    ("plan", "float rows", _array("rows", lambda a: a.astype(float)), SPLIT, "rows"),
    ("plan", "2-d rows", _array("rows", lambda a: a.reshape(-1, 1)), SPLIT, "rows"),
    (
        "plan",
        "initial state missing",
        _drop("rng_initial_weights"),
        ("one-early-stopping",),
        "rng_initial_weights",
    ),
    (
        "plan",
        "initial state where none",
        _set("rng_initial_weights", ["MT19937", 0, 0, 0.0]),
        ("one", "two", "two-early-stopping"),
        "rng_initial_weights",
    ),
    (
        "plan",
        "initial state pos",
        _set("rng_initial_weights[1]", -1),
        ("one-early-stopping",),
        "rng_initial_weights[1]",
    ),
    # -- imp_state*.npz: the header ----------------------------------------------
    (
        "search",
        "completed_round beyond pruning_rounds",
        _set("completed_round", 4),
        ALL,
        "completed_round",
    ),
    (
        "search",
        "completed_round negative",
        _set("completed_round", -1),
        ALL,
        "completed_round",
    ),
    (
        "search",
        "completed_round ahead of its arrays",
        _set("completed_round", 2),
        ALL,
        "the kept positions",
    ),
    (
        "search",
        "completed_round a string",
        _set("completed_round", "1"),
        ALL,
        "completed_round",
    ),
    (
        "search",
        "completed_round a bool",
        _set("completed_round", True),
        ALL,
        "completed_round",
    ),
    (
        "search",
        "completed_round a float",
        _set("completed_round", 1.0),
        ALL,
        "completed_round",
    ),
    ("search", "unknown field", _set("extra", 1), ALL, "extra"),
    ("search", "history not a table", _set("history", [1, 2]), ALL, "history"),
    (
        "search",
        "history column missing",
        _history_without("train_score"),
        ALL,
        "history",
    ),
    (
        "search",
        "history column extra",
        _set("history.extra", [0.0, 0.0]),
        ALL,
        "history",
    ),
    (
        "search",
        "history rounds rewritten",
        _history("round", lambda c: [0, 2]),
        ALL,
        "history.round[1]",
    ),
    (
        "search",
        "history short",
        _history("n_iter", lambda c: c[:1]),
        ALL,
        "history.n_iter",
    ),
    (
        "search",
        "remaining count off",
        _history("remaining_parameters", lambda c: [c[0], c[1] + 1]),
        ALL,
        "history.remaining_parameters[1]",
    ),
    (
        "search",
        "sparsity off",
        _history("sparsity", lambda c: [c[0], c[1] + 0.01]),
        ALL,
        "history.sparsity[1]",
    ),
    (
        "search",
        "n_iter negative",
        _history("n_iter", lambda c: [c[0], -1]),
        ALL,
        "history.n_iter[1]",
    ),
    (
        "search",
        "n_iter off last_round",
        _history("n_iter", lambda c: [c[0], c[1] + 1]),
        ALL,
        "history.n_iter[1]",
    ),
    (
        "search",
        "train_loss a string",
        _history("train_loss", lambda c: [c[0], "low"]),
        ALL,
        "history.train_loss[1]",
    ),
    (
        "search",
        "validation score rewritten",
        _history("validation_score", lambda c: [c[0], c[1] + 0.5]),
        SPLIT,
        "history.validation_score[1]",
    ),
    ("search", "unconverged beyond", _set("unconverged", [7]), ALL, "unconverged[0]"),
    (
        "search",
        "unconverged unordered",
        _set("unconverged", [1, 0]),
        ALL,
        "unconverged",
    ),
    ("search", "converged flipped", _converged_flipped, ALL, "last_round.converged"),
    ("search", "chance not a list", _set("chance", "none"), ALL, "chance"),
    ("search", "chance negative", _set("chance", [-1]), ALL, "chance[0]"),
    ("search", "rng pos", _set("rng[1]", 700), ALL, "rng[1]"),
    ("search", "rng pos negative", _set("rng[1]", -3), ALL, "rng[1]"),
    ("search", "rng name", _set("rng[0]", "Philox"), ALL, "rng[0]"),
    ("search", "rng has_gauss", _set("rng[2]", True), ALL, "rng[2]"),
    ("search", "rng cached", _set("rng[3]", math.inf), ALL, "rng[3]"),
    ("search", "rng keys", _array("rng_keys", lambda a: a[:100]), ALL, "rng_keys"),
    ("search", "rng cached huge", _set("rng[3]", 10**400), ALL, "rng[3]"),
    (
        "search",
        "n_iter huge",
        _history("n_iter", lambda c: [c[0], 2**70]),
        ALL,
        "history.n_iter[1]",
    ),
    (
        "search",
        "seconds huge",
        _history("seconds", lambda c: [c[0], 10**400]),
        ALL,
        "history.seconds[1]",
    ),
    (
        "search",
        "stored bytes negative",
        _history("stored_bytes", lambda c: [c[0], -8]),
        ALL,
        "history.stored_bytes[1]",
    ),
    (
        "search",
        "multiply-adds not a count",
        _history("multiply_adds", lambda c: [c[0], 1.5]),
        ALL,
        "history.multiply_adds[1]",
    ),
    (
        "search",
        "live units beyond the layer",
        _history("live_units", lambda c: [c[0], [7]]),
        ALL,
        "history.live_units[1]",
    ),
    (
        "search",
        "live units of another depth",
        _history("live_units", lambda c: [c[0], [3, 3]]),
        ALL,
        "history.live_units[1]",
    ),
    (
        "search",
        "seconds negative",
        _history("seconds", lambda c: [c[0], -1.0]),
        ALL,
        "history.seconds[1]",
    ),
    (
        "search",
        "train_loss negative",
        _history("train_loss", lambda c: [-0.5, c[1]]),
        ALL,
        "history.train_loss[0]",
    ),
    (
        "search",
        "train_score above 1",
        _history("train_score", lambda c: [c[0], 1.5]),
        ALL,
        "history.train_score[1]",
    ),
    (
        "search",
        "validation_score above 1",
        _history("validation_score", lambda c: [2.0, c[1]]),
        SPLIT,
        "history.validation_score[0]",
    ),
    (
        "search",
        "stall_count beyond the epochs",
        _set("last_round.stall_count", 4),
        ALL,
        "last_round.stall_count",
    ),
    (
        "search",
        "minimum at no step",
        _history("min_validation_loss_iteration", lambda c: [1.5, c[1]]),
        SPLIT,
        "history.min_validation_loss_iteration[0]",
    ),
    (
        "search",
        "sparsity of -0.0",
        _history("sparsity", lambda c: [-0.0, c[1]]),
        ALL,
        "history.sparsity[0]",
    ),
    (
        "search",
        "train_score missing",
        _history("train_score", lambda c: [None, c[1]]),
        ALL,
        "history.train_score[0]",
    ),
    (
        "search",
        "n_iter beyond max_iter",
        _set("last_round.n_iter", 4),
        ALL,
        "last_round.n_iter",
    ),
    (
        "search",
        "steps off the epochs",
        _set("last_round.steps", 1),
        ALL,
        "last_round.steps",
    ),
    (
        "search",
        "samples_seen off the epochs",
        _set("last_round.samples_seen", 7),
        ALL,
        "last_round.samples_seen",
    ),
    (
        "search",
        "minimum after the last step",
        _set("last_round.min_validation_loss_iteration", 10**6),
        SPLIT,
        "last_round.min_validation_loss_iteration",
    ),
    (
        "search",
        "samples_seen huge",
        _set("last_round.samples_seen", 10**30),
        ALL,
        "last_round.samples_seen",
    ),
    ("search", "start step negative", _set("start[0]", -1), ALL, "start[0]"),
    ("search", "start step moved", _set("start[0]", 5), ALL, "start"),
    ("search", "start holds the final rate", _set("start[1]", True), ALL, "start"),
    ("search", "start hold a string", _set("start[1]", "no"), ALL, "start[1]"),
    ("search", "start short", _set("start", [0]), ALL, "start"),
    (
        "search",
        "snapshot step without a snapshot",
        _set("snapshot_step", 4),
        ("one", "two-early-stopping"),
        "snapshot_step",
    ),
    (
        "search",
        "snapshot step beyond",
        _set("snapshot_step", 10**6),
        ("one-early-stopping", "two"),
        "snapshot_step",
    ),
    (
        "search",
        "snapshot step negative",
        _set("snapshot_step", -1),
        ("one-early-stopping", "two"),
        "snapshot_step",
    ),
    (
        "search",
        "last_round field missing",
        _last_round_without("stall_count"),
        ALL,
        "last_round",
    ),
    (
        "search",
        "last_round field extra",
        _set("last_round.extra", 1),
        ALL,
        "last_round",
    ),
    ("search", "loss curve off the table", _loss_curve_off, ALL, "history.train_loss"),
    (
        "search",
        "loss curve NaN",
        _set("last_round.loss_curve", [math.nan]),
        ALL,
        "last_round.loss_curve[0]",
    ),
    (
        "search",
        "samples_seen negative",
        _set("last_round.samples_seen", -1),
        ALL,
        "last_round.samples_seen",
    ),
    (
        "search",
        "stall_count a string",
        _set("last_round.stall_count", "2"),
        ALL,
        "last_round.stall_count",
    ),
    ("search", "steps a float", _set("last_round.steps", 2.5), ALL, "last_round.steps"),
    (
        "search",
        "validation scores without validation",
        _set("last_round.validation_scores", [0.5]),
        ("one",),
        "last_round.validation_scores",
    ),
    (
        "search",
        "no validation score with validation",
        _no_validation_score,
        SPLIT,
        "last_round.validation_scores",
    ),
    # -- imp_state*.npz: the arrays ----------------------------------------------
    (
        "search",
        "positions unsorted",
        _array("positions_0", _swap_first_two),
        ALL,
        "positions_0",
    ),
    (
        "search",
        "positions repeated",
        _array("positions_0", lambda a: _with(a, 1, a[0])),
        ALL,
        "positions_0",
    ),
    (
        "search",
        "position beyond the layer",
        _array("positions_0", lambda a: _with(a, -1, 48)),
        ALL,
        "positions_0",
    ),
    (
        "search",
        "position negative",
        _array("positions_0", lambda a: _with(a, 0, -1)),
        ALL,
        "positions_0",
    ),
    (
        "search",
        "positions float",
        _array("positions_0", lambda a: a.astype(float)),
        ALL,
        "positions_0",
    ),
    (
        "search",
        "positions 2-d",
        _array("positions_0", lambda a: a.reshape(1, -1)),
        ALL,
        "positions_0",
    ),
    (
        "search",
        "positions fewer than counted",
        _array("positions_0", lambda a: a[1:]),
        ALL,
        "the kept positions",
    ),
    (
        "search",
        "values NaN",
        _array("values_0", lambda a: _with(a, 0, np.nan)),
        ALL,
        "values_0",
    ),
    ("search", "values short", _array("values_0", lambda a: a[1:]), ALL, "values_0"),
    (
        "search",
        "values float32",
        _array("values_0", lambda a: a.astype(np.float32)),
        ALL,
        "values_0",
    ),
    (
        "search",
        "bias infinite",
        _array("bias_1", lambda a: _with(a, 0, np.inf)),
        ALL,
        "bias_1",
    ),
    (
        "search",
        "bias long",
        _array("bias_0", lambda a: np.append(a, 1.0)),
        ALL,
        "bias_0",
    ),
    (
        "search",
        "initial weights rewritten",
        _array("initial_weights_0", lambda a: a + 1.0),
        ("one", "two-early-stopping"),
        "initial_weights_0",
    ),
    (
        "search",
        "initial bias rewritten",
        _array("initial_bias_1", lambda a: a + 1.0),
        ("one", "two-early-stopping"),
        "initial_bias_1",
    ),
    (
        "search",
        "initial weights where none",
        _put("initial_weights_0", np.zeros(3)),
        ("one-early-stopping", "two"),
        "initial_weights_0",
    ),
    (
        "search",
        "start weights rewritten",
        _array("start_weights_0", lambda a: a * 2),
        ALL,
        "start_weights_0",
    ),
    (
        "search",
        "start bias NaN",
        _array("start_bias_0", lambda a: _with(a, 0, np.nan)),
        ALL,
        "start_bias_0",
    ),
    (
        "search",
        "snapshot weights rewritten",
        _array("snapshot_weights_0", lambda a: a - 1.0),
        ("one-early-stopping", "two"),
        "start_weights_0",
    ),
    (
        "search",
        "snapshot missing",
        _drop("snapshot_weights_1"),
        ("one-early-stopping", "two"),
        "snapshot_weights_1",
    ),
    ("search", "array missing", _drop("values_1"), ALL, "values_1"),
    ("search", "unknown array", _put("junk", [1]), ALL, "junk"),
]


CASES = [
    pytest.param(scenario, file, edit, named, id=f"{scenario}-{file}-{field}")
    for file, field, edit, scenarios, named in EDITS
    for scenario in scenarios
]


def _search_folder(root):
    (folder,) = root.glob("search-*")
    return folder


def _raise(error):
    raise error


def _no_training(monkeypatch):
    """A fit that trains any round fails loudly: refusals come first."""
    no_training(monkeypatch, "a refused checkpoint must stop the fit before training")


@pytest.fixture(scope="module")
def interrupted(small_classification, tmp_path_factory):
    """Per scenario: a search folder after round 1 of 3, and a fitted copy of
    the estimator (fitted without checkpoints)."""
    X, y = small_classification
    made = {}
    for scenario, extra in SCENARIOS.items():
        params = {**BASE, **extra}
        root = tmp_path_factory.mktemp(scenario)
        with pytest.MonkeyPatch.context() as patch:
            fail_in_round(patch, 2, RuntimeError("the machine went down"))
            with pytest.raises(RuntimeError):
                LotteryTicketMLP(**params, checkpoint_dir=root).fit(X, y)
        made[scenario] = (
            params,
            _search_folder(root),
            LotteryTicketMLP(**params).fit(X, y),
        )
    return made


def _craft(folder, name, edit):
    """Rewrite ``folder / name`` with ``edit`` applied, through the module's
    own save, with the right fingerprint."""
    with np.load(folder / name, allow_pickle=False) as stored:
        key = json.loads(str(stored["header"]))["fingerprint"]
    store = CheckpointStore(folder, name, key)
    header, arrays = store.load()
    del header["format"], header["fingerprint"]
    edit(header, arrays)
    store.save(header, arrays)
    return store


@pytest.mark.parametrize("scenario, file, edit, named", CASES)
def test_a_crafted_checkpoint_is_refused_and_changes_nothing(
    small_classification,
    interrupted,
    tmp_path,
    monkeypatch,
    scenario,
    file,
    edit,
    named,
):
    X, y = small_classification
    params, source, fitted = interrupted[scenario]
    folder = tmp_path / source.name
    shutil.copytree(source, folder)
    name = (
        "plan.npz"
        if file == "plan"
        else ("imp_state.npz" if params["n_seeds"] == 1 else "imp_state_seed0.npz")
    )
    store = _craft(folder, name, edit)
    _no_training(monkeypatch)
    for estimator in (LotteryTicketMLP(**params), copy.deepcopy(fitted)):
        estimator.set_params(checkpoint_dir=tmp_path)
        state, settings = dict(estimator.__dict__), estimator.get_params()
        with pytest.raises(CheckpointError) as caught:
            estimator.fit(X, y)
        message = str(caught.value)
        assert f"The checkpoint {store.path} " in message
        assert (
            f"Delete the folder {folder} (or choose another checkpoint_dir)" in message
        )
        assert f": {named}" in message or f" {named} is " in message, message
        # The estimator is as it was: the same attributes, the same objects.
        assert estimator.__dict__.keys() == state.keys()
        assert all(estimator.__dict__[key] is value for key, value in state.items())
        assert estimator.get_params() == settings


# -- and what the checks accept ----------------------------------------------------
ACCEPTED = {
    "default": {},
    "layer-wise, output layer kept": {"pruning_scope": "layer", "output_layer_rate": 0},
    "output layer at its own rate": {"output_layer_rate": 0.5},
    # The strongest path keeps weights that the schedule's count would prune.
    "beyond the strongest path": {"target_sparsity": 0.995, "pruning_rounds": 4},
    "lbfgs, seeds": {"solver": "lbfgs", "early_stopping": True, "n_seeds": 2},
    "random scores, fresh weights": {"pruning_criterion": "random", "rewind": "reinit"},
    "fine-tuning": {"rewind": "none", "early_stopping": True},
    "snapshot after round 0 ended": {"rewind": "early", "rewind_iteration": 10**4},
    "float32": {"float32": True, "rewind": "late"},
}


@pytest.mark.parametrize("extra", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_the_checks_accept_every_search_they_guard(
    small_classification, tmp_path, monkeypatch, extra
):
    """A resumed search and a finished one read back are the uninterrupted
    fit, down to what a warm start would go on with (``_search_end``)."""
    X, y = small_classification
    params = {**BASE, "pruning_rounds": 3, **extra}
    if params.pop("float32", False):
        X = X.astype(np.float32)
    uninterrupted = LotteryTicketMLP(**params).fit(X, y)
    with monkeypatch.context() as patch:
        fail_in_round(patch, 2, RuntimeError("the machine went down"))
        # L-BFGS rounds go through their own function.
        real = imp.train_round_lbfgs
        patch.setattr(
            imp,
            "train_round_lbfgs",
            lambda *a, round_index, **k: (
                _raise(RuntimeError("down"))
                if round_index == 2
                else real(*a, round_index=round_index, **k)
            ),
        )
        with pytest.raises(RuntimeError):
            LotteryTicketMLP(**params, checkpoint_dir=tmp_path).fit(X, y)
    resumed = LotteryTicketMLP(**params, checkpoint_dir=tmp_path).fit(X, y)
    _no_training(monkeypatch)
    read_back = LotteryTicketMLP(**params, checkpoint_dir=tmp_path).fit(X, y)
    for model in (resumed, read_back):
        expected = uninterrupted.coefs_ + uninterrupted.ticket_.weights
        for a, b in zip(model.coefs_ + model.ticket_.weights, expected):
            np.testing.assert_array_equal(a.toarray(), b.toarray())
        for key, column in uninterrupted.history_.items():
            if key != "seconds":
                np.testing.assert_array_equal(model.history_[key], column)
        assert model.loss_curve_ == uninterrupted.loss_curve_
        assert pickle.dumps(model._search_end) == pickle.dumps(
            uninterrupted._search_end
        )


def test_a_checkpoint_written_before_the_cost_columns_resumes(
    small_classification, interrupted, tmp_path
):
    """Its rounds' costs are unknown (NaN); the rounds after it have them."""
    X, y = small_classification
    params, source, fitted = interrupted["one"]
    folder = tmp_path / source.name
    shutil.copytree(source, folder)

    def older(header, arrays):
        for key in ("stored_bytes", "multiply_adds", "live_units"):
            header["history"].pop(key)

    _craft(folder, "imp_state.npz", older)
    resumed = LotteryTicketMLP(**params, checkpoint_dir=tmp_path).fit(X, y)
    history = resumed.history_
    assert np.isnan(history["stored_bytes"][:2].astype(float)).all()
    assert all(np.isnan(units) for units in history["live_units"][:2])
    np.testing.assert_array_equal(
        history["multiply_adds"][2:], fitted.history_["multiply_adds"][2:]
    )
    assert list(history["live_units"][2:]) == list(fitted.history_["live_units"][2:])
    np.testing.assert_array_equal(resumed.predict(X), fitted.predict(X))
