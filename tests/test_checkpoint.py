"""Checkpoints: resuming a search, a folder per search, no lost rounds.

The second half tests the files alone (safe reading, search folders, the
search lock, links inside checkpoint_dir, read-only folders, BLAS records):
stores are built directly with small arrays. Crafted contents are in
test_checkpoint_crafted.py.
"""

import io
import json
import os
import signal
import struct
import subprocess
import sys
import textwrap
import threading
import time
import tracemalloc
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from _helpers import FOUR_ROUNDS, fail_in_round, no_training

import sklearn_lth._search._loop as imp
from sklearn_lth import LotteryTicketMLP, TrainingDivergedError
from sklearn_lth._checkpoint import (
    FORMAT_VERSION,
    CheckpointStore,
    SearchLock,
    blas_differences,
    blas_info,
    fingerprint,
    search_directory,
)
from sklearn_lth.exceptions import CheckpointError


def _assert_same_model(a, b):
    for Wa, Wb in zip(a.coefs_ + a.ticket_.weights, b.coefs_ + b.ticket_.weights):
        np.testing.assert_array_equal(Wa.toarray(), Wb.toarray())
    for ba, bb in zip(a.intercepts_, b.intercepts_):
        np.testing.assert_array_equal(ba, bb)
    for key in a.history_:
        if key != "seconds":
            np.testing.assert_array_equal(a.history_[key], b.history_[key])
    assert a.loss_curve_ == b.loss_curve_


def _search_folder(checkpoint_dir):
    """The one search folder inside ``checkpoint_dir``."""
    (folder,) = checkpoint_dir.glob("search-*")
    return folder


def _stale_files(checkpoint_dir):
    return [p for p in checkpoint_dir.rglob("*") if p.name.endswith(".tmp")]


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"rewind": "late"},
        {"rewind": "lr", "learning_rate": "cosine"},
        {"rewind": "reinit", "early_stopping": True},
        {"n_seeds": 2},
    ],
)
def test_resuming_after_a_crash_equals_an_uninterrupted_run(
    small_classification, tmp_path, monkeypatch, extra
):
    X, y = small_classification
    params = {**FOUR_ROUNDS, **extra}
    uninterrupted = LotteryTicketMLP(**params).fit(X, y)
    with monkeypatch.context() as patch:
        fail_in_round(patch, 3, RuntimeError("the machine went down"))
        with pytest.raises(RuntimeError, match="went down"):
            LotteryTicketMLP(**params, checkpoint_dir=tmp_path).fit(X, y)
    ran = []
    real = imp.train_round
    monkeypatch.setattr(
        imp,
        "train_round",
        lambda *a, round_index, **k: (
            ran.append(round_index) or real(*a, round_index=round_index, **k)
        ),
    )
    resumed = LotteryTicketMLP(**params, checkpoint_dir=tmp_path).fit(X, y)
    # Rounds 0-2 are not trained again (with two seeds, the crash came in the
    # first seed's round 3, before the second seed started).
    assert sorted(ran) == ([3, 4] if "n_seeds" not in extra else [0, 1, 2, 3, 3, 4, 4])
    _assert_same_model(resumed, uninterrupted)
    assert not _stale_files(tmp_path)


def test_a_finished_search_is_read_back_without_training(
    small_classification, tmp_path, monkeypatch
):
    X, y = small_classification
    first = LotteryTicketMLP(**FOUR_ROUNDS, checkpoint_dir=tmp_path).fit(X, y)
    fail_in_round(monkeypatch, 0, AssertionError("no round should run"))
    for r in range(5):
        fail_in_round(monkeypatch, r, AssertionError("no round should run"))
    again = LotteryTicketMLP(**FOUR_ROUNDS, checkpoint_dir=tmp_path).fit(X, y)
    _assert_same_model(again, first)


def test_each_search_has_a_folder_of_its_own(small_classification, tmp_path):
    """Other parameters or data never collide: each resumes only itself."""
    X, y = small_classification
    first = LotteryTicketMLP(**FOUR_ROUNDS, checkpoint_dir=tmp_path).fit(X, y)
    other_params = LotteryTicketMLP(
        **{**FOUR_ROUNDS, "target_sparsity": 0.5}, checkpoint_dir=tmp_path
    ).fit(X, y)
    other_data = LotteryTicketMLP(**FOUR_ROUNDS, checkpoint_dir=tmp_path).fit(
        X[:-1], y[:-1]
    )
    assert len(list(tmp_path.glob("search-*"))) == 3
    _assert_same_model(
        other_params,
        LotteryTicketMLP(**{**FOUR_ROUNDS, "target_sparsity": 0.5}).fit(X, y),
    )
    _assert_same_model(other_data, LotteryTicketMLP(**FOUR_ROUNDS).fit(X[:-1], y[:-1]))
    # Parameters that do not change the search share its folder.
    again = LotteryTicketMLP(
        **FOUR_ROUNDS, checkpoint_dir=tmp_path, verbose=False, n_jobs=2
    ).fit(X, y)
    _assert_same_model(again, first)
    assert len(list(tmp_path.glob("search-*"))) == 3


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_a_damaged_checkpoint_is_a_clear_error(small_classification, tmp_path, damage):
    X, y = small_classification
    LotteryTicketMLP(**FOUR_ROUNDS, checkpoint_dir=tmp_path).fit(X, y)
    path = _search_folder(tmp_path) / "imp_state.npz"
    content = path.read_bytes()
    path.write_bytes(
        {
            "garbage": b"not a checkpoint" * 10,
            "truncated": content[: len(content) // 2],
            "empty": b"",
        }[damage]
    )
    with pytest.raises(
        CheckpointError, match="corrupted or truncated.*Delete the folder"
    ):
        LotteryTicketMLP(**FOUR_ROUNDS, checkpoint_dir=tmp_path).fit(X, y)


def test_ctrl_c_keeps_the_last_completed_round_and_propagates(
    small_classification, monkeypatch
):
    X, y = small_classification
    fail_in_round(monkeypatch, 3, KeyboardInterrupt())
    model = LotteryTicketMLP(**FOUR_ROUNDS)
    with pytest.warns(UserWarning, match="interrupted.*keeps round 2"):
        with pytest.raises(KeyboardInterrupt):
            model.fit(X, y)
    np.testing.assert_array_equal(model.history_["round"], [0, 1, 2])
    assert (
        sum(W.nnz for W in model.coefs_) == model.history_["remaining_parameters"][-1]
    )
    assert model.predict(X).shape == y.shape


@pytest.mark.parametrize("rewind", ["init", "late", "lr"])
def test_a_failure_in_round_one_keeps_round_zero_and_its_initial_weights(
    small_classification, monkeypatch, rewind
):
    """Round 0's ticket is the whole initial draw, even once the search kept
    only the surviving initial weights for rewinding."""
    from sklearn_lth._network import glorot_uniform

    X, y = small_classification
    fail_in_round(monkeypatch, 1, KeyboardInterrupt())
    model = LotteryTicketMLP(**FOUR_ROUNDS, rewind=rewind)
    with pytest.warns(UserWarning, match="keeps round 0"):
        with pytest.raises(KeyboardInterrupt):
            model.fit(X, y)
    W0, b0 = glorot_uniform([8, 12, 6, 3], "relu", X.dtype, np.random.RandomState(0))
    for W_ticket, W, b_ticket, b in zip(
        model.ticket_.weights, W0, model.ticket_.intercepts, b0
    ):
        np.testing.assert_array_equal(W_ticket.toarray(), W)
        np.testing.assert_array_equal(b_ticket, b)


def test_ctrl_c_in_round_zero_stops_the_fit(small_classification, monkeypatch):
    X, y = small_classification
    fail_in_round(monkeypatch, 0, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        LotteryTicketMLP(**FOUR_ROUNDS).fit(X, y)


def test_divergence_leaves_the_estimator_and_keeps_the_rounds_in_the_error(
    small_classification, monkeypatch
):
    X, y = small_classification
    fitted = LotteryTicketMLP(**FOUR_ROUNDS).fit(X[:, :6], y == 0)
    before = fitted.predict_proba(X[:, :6])
    fail_in_round(
        monkeypatch,
        2,
        TrainingDivergedError(
            "Training diverged in round 2, epoch 3: the loss is nan.", round_index=2
        ),
    )
    with pytest.raises(
        TrainingDivergedError,
        match="round 2, epoch 3.*left as it was.*round 1, the last one completed",
    ) as caught:
        fitted.fit(X, y)
    # The refit left nothing of the new data behind.
    np.testing.assert_array_equal(fitted.classes_, [False, True])
    np.testing.assert_array_equal(fitted.predict_proba(X[:, :6]), before)
    kept = caught.value.estimator
    assert caught.value.round_index == 2
    np.testing.assert_array_equal(kept.history_["round"], [0, 1])
    np.testing.assert_array_equal(kept.classes_, [0, 1, 2])
    assert kept.predict(X).shape == y.shape


def test_resuming_after_a_crash_in_round_zero_with_early_stopping_is_exact(
    small_classification, tmp_path, monkeypatch
):
    """The split drawn before the crash, and the random state after it, are
    read back: the resumed search draws the same initial weights."""
    X, y = small_classification
    params = {**FOUR_ROUNDS, "early_stopping": True, "rewind": "late"}
    uninterrupted = LotteryTicketMLP(**params).fit(X, y)
    with monkeypatch.context() as patch:
        fail_in_round(patch, 0, RuntimeError("the machine went down"))
        with pytest.raises(RuntimeError):
            LotteryTicketMLP(**params, checkpoint_dir=tmp_path).fit(X, y)
    resumed = LotteryTicketMLP(**params, checkpoint_dir=tmp_path).fit(X, y)
    _assert_same_model(resumed, uninterrupted)


def test_random_state_none_is_recorded_so_a_resume_is_exact(
    small_classification, tmp_path, monkeypatch
):
    X, y = small_classification
    params = {**FOUR_ROUNDS, "random_state": None}
    with monkeypatch.context() as patch:
        fail_in_round(patch, 2, RuntimeError("the machine went down"))
        with pytest.raises(RuntimeError):
            LotteryTicketMLP(**params, checkpoint_dir=tmp_path).fit(X, y)
    state = np.random.get_state()[1].copy()  # noqa: NPY002
    resumed = LotteryTicketMLP(**params, checkpoint_dir=tmp_path).fit(X, y)
    # numpy's global random state was neither used nor reset.
    np.testing.assert_array_equal(np.random.get_state()[1], state)  # noqa: NPY002
    again = LotteryTicketMLP(**params, checkpoint_dir=tmp_path).fit(X, y)
    _assert_same_model(again, resumed)
    # A fit without checkpoints still draws a new network each time.
    a, b = (LotteryTicketMLP(**params).fit(X, y) for _ in range(2))
    assert not np.array_equal(a.coefs_[0].toarray(), b.coefs_[0].toarray())


def test_a_random_state_instance_is_fingerprinted_with_its_state(
    small_classification, tmp_path
):
    X, y = small_classification
    params = {**FOUR_ROUNDS, "pruning_rounds": 1, "checkpoint_dir": tmp_path}
    first = LotteryTicketMLP(**{**params, "random_state": np.random.RandomState(0)})
    first.fit(X, y)
    # The instance moved on, so another fit with it is another search...
    first.fit(X, y)
    assert len(list(tmp_path.glob("search-*"))) == 2
    # ...while a fresh instance at the same state finds the first one again.
    again = LotteryTicketMLP(**{**params, "random_state": np.random.RandomState(0)})
    again.fit(X, y)
    assert len(list(tmp_path.glob("search-*"))) == 2


def _split_scores(search):
    return [search.cv_results_[f"split{k}_test_score"] for k in range(2)]


def test_cross_validation_with_checkpoints_scores_as_without_and_resumes(
    small_classification, tmp_path, monkeypatch
):
    """Each fold and grid point has its own folder; a crashed grid resumes."""
    from sklearn.model_selection import GridSearchCV, cross_validate

    X, y = small_classification
    params = {**FOUR_ROUNDS, "pruning_rounds": 2}
    plain = cross_validate(LotteryTicketMLP(**params), X, y, cv=3)["test_score"]
    saved = cross_validate(
        LotteryTicketMLP(**params, checkpoint_dir=tmp_path / "cv"), X, y, cv=3
    )["test_score"]
    np.testing.assert_array_equal(saved, plain)
    assert len(list((tmp_path / "cv").glob("search-*"))) == 3

    grid = {"target_sparsity": [0.5, 0.8]}
    expected = GridSearchCV(LotteryTicketMLP(**params), grid, cv=2).fit(X, y)
    estimator = LotteryTicketMLP(**params, checkpoint_dir=tmp_path / "grid")
    calls = []
    real = imp.train_round
    with monkeypatch.context() as patch:

        def crash_late(*args, round_index, **kwargs):
            calls.append(round_index)
            if len(calls) == 8:  # round 1 of the third fit (3 rounds each)
                raise RuntimeError("the machine went down")
            return real(*args, round_index=round_index, **kwargs)

        patch.setattr(imp, "train_round", crash_late)
        with pytest.raises(RuntimeError):
            GridSearchCV(estimator, grid, cv=2, error_score="raise").fit(X, y)
    calls.clear()
    with monkeypatch.context() as patch:
        patch.setattr(
            imp,
            "train_round",
            lambda *a, round_index, **k: (
                calls.append(round_index) or real(*a, round_index=round_index, **k)
            ),
        )
        resumed = GridSearchCV(estimator, grid, cv=2).fit(X, y)
    # The first two fits and round 0 of the third are not trained again; the
    # fourth fit and the refit run in full.
    assert calls == [1, 2, 0, 1, 2, 0, 1, 2]
    for a, b in zip(_split_scores(resumed), _split_scores(expected)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_two_processes_sharing_a_search_folder_take_turns(tmp_path):
    """The second waits for the first and reads its finished search back."""
    script = CHILD + "print('done', flush=True)\n"
    params = repr(dict(PARAMS_DIGITS, pruning_rounds=3))
    children = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(tmp_path), params],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for child in children:
        out, _ = child.communicate(timeout=300)
        assert child.returncode == 0 and "done" in out
    folder = _search_folder(tmp_path)
    assert _completed_round(folder / "imp_state.npz") == 3
    assert not _stale_files(tmp_path)


def test_an_empty_checkpoint_dir_is_refused(small_classification, tmp_path):
    X, y = small_classification
    with pytest.raises(ValueError, match="empty path"):
        LotteryTicketMLP(**FOUR_ROUNDS, checkpoint_dir="").fit(X, y)


def test_stale_temporary_files_are_removed(small_classification, tmp_path):
    X, y = small_classification
    LotteryTicketMLP(**FOUR_ROUNDS, checkpoint_dir=tmp_path).fit(X, y)
    stale = _search_folder(tmp_path) / ".imp_state.npz.abc123de.tmp"
    stale.write_bytes(b"left by a killed writer")
    LotteryTicketMLP(**FOUR_ROUNDS, checkpoint_dir=tmp_path).fit(X, y)
    assert not stale.exists()


def test_a_resume_under_another_blas_setup_warns(
    small_classification, tmp_path, monkeypatch
):
    import sklearn_lth._search._open as opening

    X, y = small_classification
    LotteryTicketMLP(**FOUR_ROUNDS, checkpoint_dir=tmp_path).fit(X, y)
    other = [
        {
            "internal_api": "otherblas",
            "architecture": "Z80",
            "num_threads": 64,
            "version": "0.1",
        }
    ]
    monkeypatch.setattr(opening, "blas_info", lambda: other)
    with pytest.warns(UserWarning, match="another BLAS setup.*last bits"):
        LotteryTicketMLP(**FOUR_ROUNDS, checkpoint_dir=tmp_path).fit(X, y)


def test_extreme_sparsity_keeps_every_layer_connected(small_classification):
    X, y = small_classification
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = LotteryTicketMLP(**{**FOUR_ROUNDS, "target_sparsity": 0.999}).fit(X, y)
    assert all(W.nnz >= 1 for W in model.coefs_)
    assert any("strongest path" in str(w.message) for w in caught)
    # A path of kept weights still links some input to some output.
    reach = model.ticket_.masks[0].astype(int)
    for mask in model.ticket_.masks[1:]:
        reach = reach @ mask.astype(int)
    assert reach.any()


PARAMS_DIGITS = dict(
    hidden_layer_sizes=(64,),
    target_sparsity=0.9,
    pruning_rounds=6,
    max_iter=25,
    random_state=0,
)

CHILD = textwrap.dedent("""
    import sys
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn_lth import LotteryTicketMLP
    X, y = load_digits(return_X_y=True)
    LotteryTicketMLP(**eval(sys.argv[2]), checkpoint_dir=sys.argv[1]).fit(X / 16, y)
""")


def _completed_round(path):
    try:
        with np.load(path, allow_pickle=False) as stored:
            import json

            return json.loads(str(stored["header"]))["completed_round"]
    except (OSError, ValueError, KeyError, EOFError):
        return -1


@pytest.mark.slow
def test_sigkill_during_a_later_round_then_resume(tmp_path):
    """A real crash: the search process is killed, a new one resumes it."""
    from sklearn.datasets import load_digits

    params = PARAMS_DIGITS
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path), repr(params)])
    deadline = time.monotonic() + 120

    def completed():
        return max(
            (_completed_round(p) for p in tmp_path.rglob("imp_state.npz")), default=-1
        )

    while completed() < 2 and child.poll() is None:
        assert time.monotonic() < deadline, "the child made no progress"
        time.sleep(0.02)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL
    killed_after = completed()
    assert 2 <= killed_after < 6

    X, y = load_digits(return_X_y=True)
    resumed = LotteryTicketMLP(**params, checkpoint_dir=tmp_path).fit(X / 16, y)
    uninterrupted = LotteryTicketMLP(**params).fit(X / 16, y)
    _assert_same_model(resumed, uninterrupted)
    assert not _stale_files(tmp_path)


@pytest.mark.parametrize("rewind", ["init", "early"])
def test_checkpoints_keep_start_points_at_the_kept_weights_only(
    small_classification, tmp_path, rewind
):
    """Memory for rewinding follows the kept weights, round after round."""
    from sklearn_lth._network import glorot_uniform, kept_positions

    X, y = small_classification
    model = LotteryTicketMLP(
        **FOUR_ROUNDS, rewind=rewind, rewind_iteration=3, checkpoint_dir=tmp_path
    )
    model.fit(X, y)
    W0, _ = glorot_uniform([8, 12, 6, 3], "relu", X.dtype, np.random.RandomState(0))
    with np.load(
        _search_folder(tmp_path) / "imp_state.npz", allow_pickle=False
    ) as stored:
        for i, W in enumerate(model.coefs_):
            assert stored[f"values_{i}"].size == W.nnz
            np.testing.assert_array_equal(
                stored[f"start_weights_{i}"], model.ticket_.weights[i].data
            )
            if rewind == "init":
                np.testing.assert_array_equal(
                    stored[f"initial_weights_{i}"], W0[i].ravel()[kept_positions(W)]
                )
            else:  # only round 0's snapshot is rewound to; W0 is not kept
                assert f"initial_weights_{i}" not in stored.files
                np.testing.assert_array_equal(
                    stored[f"snapshot_weights_{i}"], model.ticket_.weights[i].data
                )


# -- the checkpoint files alone ---------------------------------------------------

KEY = "0123456789abcdef0123456789abcdef"
HEADER = {"completed_round": 3, "history": {"loss": [0.5, 0.25]}, "rng": ["MT", 1]}


def _arrays():
    rng = np.random.RandomState(0)
    return {
        "rng_keys": rng.randint(0, 2**31, size=624).astype(np.uint32),
        "values_0": rng.normal(size=(7, 5)),
        "positions_0": np.arange(12, dtype=np.intp),
        "bias_0": rng.normal(size=5).astype(np.float32),
        "fortran": np.asfortranarray(rng.normal(size=(3, 4))),
        "empty": np.zeros((0, 3)),
    }


def _assert_same_arrays(loaded, expected):
    assert loaded.keys() == expected.keys()
    for key, array in expected.items():
        assert loaded[key].dtype == array.dtype
        np.testing.assert_array_equal(loaded[key], array)


def _write_npz(path, **arrays):
    """An .npz as np.savez writes it, with whatever (possibly wrong) header."""
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


def _json_header(value):
    return np.array(json.dumps(value))


def _npy_bytes(header: dict, data: bytes = b"") -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue() + data


def _stored_zip(path, members: dict) -> None:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)


def _valid_header_member():
    buffer = io.BytesIO()
    np.lib.format.write_array(
        buffer, _json_header({"format": FORMAT_VERSION, "fingerprint": KEY})
    )
    return buffer.getvalue()


# -- reading and writing ------------------------------------------------------
def test_a_round_trip_keeps_header_and_arrays(tmp_path):
    store = CheckpointStore(tmp_path / "new", "imp_state.npz", KEY)
    assert store.load() is None
    store.save(HEADER, _arrays())
    header, arrays = store.load()
    assert header == {**HEADER, "format": FORMAT_VERSION, "fingerprint": KEY}
    _assert_same_arrays(arrays, _arrays())
    assert arrays["fortran"].flags.f_contiguous
    assert not [p for p in store.directory.iterdir() if p.name.endswith(".tmp")]
    sibling = store.sibling("run.npz")
    assert sibling.path == store.directory / "run.npz"
    assert (sibling.fingerprint, sibling.max_bytes) == (KEY, store.max_bytes)


def test_saving_without_durability_skips_fsync(tmp_path, monkeypatch):
    calls = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: calls.append(fd) or real_fsync(fd))
    store = CheckpointStore(tmp_path, "a.npz", KEY)
    store.save(HEADER, _arrays(), durable=False)
    assert calls == []
    _assert_same_arrays(store.load()[1], _arrays())
    store.save(HEADER, _arrays())
    assert len(calls) >= 1


def test_arrays_of_python_objects_are_not_saved(tmp_path):
    store = CheckpointStore(tmp_path, "a.npz", KEY)
    with pytest.raises(TypeError, match="'bad' holds Python objects"):
        store.save({}, {"bad": np.array([{}, 1], dtype=object)})
    assert list(tmp_path.iterdir()) == []


def test_damaged_files_give_checkpoint_errors_or_the_original(tmp_path):
    """Truncations and single-byte flips anywhere: never a wrong array, never
    another exception."""
    store = CheckpointStore(tmp_path, "imp_state.npz", KEY)
    store.save(HEADER, _arrays())
    content = store.path.read_bytes()
    expected_header, expected = store.load()
    rng = np.random.default_rng(0)
    damaged = [content[:n] for n in rng.integers(0, len(content), size=200)]
    for position, flip in zip(
        rng.integers(0, len(content), size=200), rng.integers(1, 256, size=200)
    ):
        flipped = bytearray(content)
        flipped[position] ^= int(flip)
        damaged.append(bytes(flipped))
    refused = 0
    for data in damaged:
        store.path.write_bytes(data)
        try:
            header, arrays = store.load()
        except CheckpointError as exc:
            assert str(store.path) in str(exc) and "Delete the folder" in str(exc)
            refused += 1
        else:
            assert header == expected_header
            _assert_same_arrays(arrays, expected)
    assert refused >= 300  # most damage is detected, not merely survived


@pytest.mark.parametrize("content", [b"", b"not a checkpoint" * 10])
def test_garbage_is_corrupted(tmp_path, content):
    store = CheckpointStore(tmp_path, "a.npz", KEY)
    store.path.write_bytes(content)
    with pytest.raises(
        CheckpointError, match="corrupted or truncated.*Delete the folder"
    ):
        store.load()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_is_refused_without_blocking(tmp_path):
    store = CheckpointStore(tmp_path, "a.npz", KEY)
    os.mkfifo(store.path)
    outcome = []

    def load():
        try:
            store.load()
        except CheckpointError as exc:
            outcome.append(exc)

    reader = threading.Thread(target=load, daemon=True)
    reader.start()
    reader.join(timeout=5)
    if reader.is_alive():  # release the blocked reader before failing
        os.close(os.open(store.path, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail("loading a FIFO blocked")
    assert len(outcome) == 1
    assert "is not a regular file" in str(outcome[0])


def test_a_directory_is_refused(tmp_path):
    store = CheckpointStore(tmp_path, "a.npz", KEY)
    store.path.mkdir()
    with pytest.raises(CheckpointError, match="a.npz"):
        store.load()


def test_a_file_larger_than_max_bytes_is_refused(tmp_path):
    CheckpointStore(tmp_path, "a.npz", KEY).save(HEADER, _arrays())
    size = (tmp_path / "a.npz").stat().st_size
    small = CheckpointStore(tmp_path, "a.npz", KEY, max_bytes=size - 1)
    with pytest.raises(CheckpointError, match=f"is {size} bytes, larger than"):
        small.load()
    assert CheckpointStore(tmp_path, "a.npz", KEY, max_bytes=size).load()
    with pytest.raises(ValueError, match="max_bytes must be positive"):
        CheckpointStore(tmp_path, "a.npz", KEY, max_bytes=0)


def test_a_crafted_huge_shape_is_refused_without_allocating(tmp_path):
    """A small file whose .npy header claims 8 GB of float64."""
    path = tmp_path / "a.npz"
    claim = {"descr": "<f8", "fortran_order": False, "shape": (10**9,)}
    _stored_zip(
        path,
        {
            "header.npy": _valid_header_member(),
            "values_0.npy": _npy_bytes(claim, b"\0" * 2**20),
        },
    )
    assert path.stat().st_size < 2**21
    tracemalloc.start()
    tic = time.perf_counter()
    try:
        with pytest.raises(CheckpointError, match="declares 8000000000 bytes"):
            CheckpointStore(tmp_path, "a.npz", KEY).load()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - tic < 1
    assert peak < 16 * 2**20


def _set_declared_size(content: bytes, name: bytes, size: int) -> bytes:
    """Make the zip's central directory claim ``size`` bytes for ``name``."""
    entry = content.rindex(b"PK\x01\x02", 0, content.rindex(name))
    return (
        content[: entry + 20] + struct.pack("<II", size, size) + content[entry + 28 :]
    )


@pytest.mark.parametrize(
    "declared, max_bytes, message",
    [
        (2**31, None, "members declare 21474[0-9]+ bytes in a file of"),
        (2**31, 2**30, "'big.npy' declares 2147483648 bytes"),
    ],
)
def test_members_declaring_more_bytes_than_the_file_are_refused(
    tmp_path, declared, max_bytes, message
):
    """The zip's directory claims 2 GiB for a member of a few bytes."""
    path = tmp_path / "a.npz"
    claim = {"descr": "<f8", "fortran_order": False, "shape": (2**28,)}
    _stored_zip(
        path,
        {"header.npy": _valid_header_member(), "big.npy": _npy_bytes(claim, b"0")},
    )
    path.write_bytes(_set_declared_size(path.read_bytes(), b"big.npy", declared))
    store = CheckpointStore(tmp_path, "a.npz", KEY, max_bytes=max_bytes)
    with pytest.raises(CheckpointError, match=message):
        store.load()


def test_members_hidden_from_the_central_directory_are_refused(tmp_path):
    """zipfile stops reading the directory early after a damaged length."""
    store = CheckpointStore(tmp_path, "a.npz", KEY)
    store.save(HEADER, _arrays())
    content = store.path.read_bytes()
    entry = content.index(b"PK\x01\x02")
    name_length, extra_length = struct.unpack("<HH", content[entry + 28 : entry + 32])
    rest = content.rindex(b"PK\x05\x06") - (entry + 46 + name_length + extra_length)
    # A comment length in the first entry swallows the entries after it.
    swallowing = content[: entry + 32] + struct.pack("<H", rest) + content[entry + 34 :]
    store.path.write_bytes(swallowing)
    with pytest.raises(CheckpointError, match="comment"):
        store.load()
    # Bytes before the first member belong to no member.
    store.path.write_bytes(b"\0" * 64 + content)
    with pytest.raises(CheckpointError, match="bytes 0-64 are unaccounted"):
        store.load()


@pytest.mark.parametrize(
    "member, message",
    [
        (_npy_bytes({"descr": "|O", "fortran_order": False, "shape": (1,)}), "objects"),
        (_npy_bytes({"descr": "<f8", "fortran_order": False, "shape": (-1,)}), "shape"),
        (b"\x93NUMPY\x01\x00\x08\x00{[]: 1}\n", "unhashable"),
        (b"\x93NUMPY\x09\x00", "version"),
        (b"\x93NUMP", "EOF"),
    ],
)
def test_crafted_npy_headers_are_refused(tmp_path, member, message):
    _stored_zip(
        tmp_path / "a.npz", {"header.npy": _valid_header_member(), "x.npy": member}
    )
    with pytest.raises(CheckpointError, match=message):
        CheckpointStore(tmp_path, "a.npz", KEY).load()


def test_compressed_duplicated_or_foreign_members_are_refused(tmp_path):
    store = CheckpointStore(tmp_path, "a.npz", KEY)
    header = _json_header({"format": FORMAT_VERSION, "fingerprint": KEY})
    np.savez_compressed(store.path, header=header, x=np.zeros(100))
    with pytest.raises(CheckpointError, match="is compressed"):
        store.load()
    _stored_zip(store.path, {"header.npy": _valid_header_member(), "x.txt": b""})
    with pytest.raises(CheckpointError, match="not an .npy array"):
        store.load()
    with pytest.warns(UserWarning, match="Duplicate name"):
        _stored_zip(store.path, {"header.npy": _valid_header_member()})
        with zipfile.ZipFile(store.path, "a") as archive:
            archive.writestr("header.npy", _valid_header_member())
    with pytest.raises(CheckpointError, match="appears twice"):
        store.load()


@pytest.mark.parametrize(
    "header, message",
    [
        (None, "has no header"),
        (np.array(["{}"]), "not a JSON string"),
        (np.array("{not json"), "not valid JSON"),
        (np.array("[" * 100_000), "not valid JSON"),
        (_json_header([FORMAT_VERSION, KEY]), "not a JSON object"),
        (_json_header({"fingerprint": KEY}), "has no format number"),
        (_json_header({"format": 1, "fingerprint": KEY}), "has format 1;"),
        (_json_header({"format": FORMAT_VERSION}), "has no fingerprint"),
        (
            _json_header({"format": FORMAT_VERSION, "fingerprint": "ab" * 16}),
            "other parameters or other training data",
        ),
    ],
)
def test_headers_that_do_not_belong_are_refused(tmp_path, header, message):
    store = CheckpointStore(tmp_path, "a.npz", KEY)
    arrays = {"x": np.zeros(2)}
    _write_npz(store.path, **arrays, **({} if header is None else {"header": header}))
    with pytest.raises(CheckpointError) as caught:
        store.load()
    assert message in str(caught.value)
    assert str(store.path) in str(caught.value)
    assert "(or choose another checkpoint_dir) to start over" in str(caught.value)


# -- search folders and the lock -------------------------------------------------
def test_search_directory(tmp_path):
    assert search_directory(tmp_path, KEY) == tmp_path / f"search-{KEY}"
    assert search_directory("runs", KEY) == Path("runs", f"search-{KEY}")
    with pytest.raises(ValueError, match="empty path.*working directory"):
        search_directory("", KEY)
    with pytest.raises(ValueError, match="hexadecimal"):
        search_directory(tmp_path, "../elsewhere")


needs_flock = pytest.mark.skipif(
    sys.platform == "win32", reason="SearchLock does not lock on Windows"
)


def _enter_in_thread(directory, events):
    """A thread that takes the lock, reports, then waits to be told to leave."""
    leave = threading.Event()

    def hold():
        with SearchLock(directory) as lock:
            events.append(("entered", sorted(p.name for p in lock.removed)))
            leave.wait(timeout=10)
        events.append("left")

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    return thread, leave


def _wait_for(condition, timeout=5):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


@needs_flock
def test_the_lock_serialises_holders_and_cleans_stale_files(tmp_path):
    directory = tmp_path / "runs" / f"search-{KEY}"
    directory.mkdir(parents=True)
    stale = directory / ".imp_state.npz.k3j_x9a1.tmp"
    stale.write_bytes(b"left by a killed writer")
    (directory / "imp_state.npz").write_bytes(b"a checkpoint")
    (directory / "notes.tmp").write_bytes(b"not ours")

    first_events, second_events = [], []
    first, release_first = _enter_in_thread(directory, first_events)
    _wait_for(lambda: first_events)
    assert first_events == [("entered", [stale.name])]
    in_flight = directory / ".run.npz.abcdefgh.tmp"  # the first holder saving
    in_flight.write_bytes(b"being written")

    second, release_second = _enter_in_thread(directory, second_events)
    time.sleep(0.2)
    assert second_events == []  # waiting for the first holder
    assert in_flight.exists()
    release_first.set()
    _wait_for(lambda: second_events)
    assert first_events[-1] == "left"
    assert second_events == [("entered", [in_flight.name])]
    release_second.set()
    for thread in (first, second):
        thread.join(timeout=5)
    assert sorted(p.name for p in directory.iterdir()) == [
        "imp_state.npz",
        "lock",
        "notes.tmp",
    ]


@needs_flock
def test_the_lock_waits_for_another_process(tmp_path):
    holder = textwrap.dedent("""
        import fcntl, os, sys
        fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
        fcntl.flock(fd, fcntl.LOCK_EX)
        print("held", flush=True)
        sys.stdin.readline()
    """)
    child = subprocess.Popen(
        [sys.executable, "-c", holder, str(tmp_path / "lock")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout.readline() == "held\n"
        events = []
        thread, release = _enter_in_thread(tmp_path, events)
        time.sleep(0.2)
        assert events == []
        child.stdin.write("\n")
        child.stdin.flush()
        _wait_for(lambda: events)
        release.set()
        thread.join(timeout=5)
    finally:
        child.kill()
        child.wait()


@needs_flock
def test_the_lock_is_released_on_keyboard_interrupt(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with SearchLock(tmp_path / "new" / "search"):
            raise KeyboardInterrupt
    events = []
    thread, release = _enter_in_thread(tmp_path / "new" / "search", events)
    _wait_for(lambda: events, timeout=2)
    release.set()
    thread.join(timeout=5)
    lock = SearchLock(tmp_path)
    with lock, pytest.raises(RuntimeError, match="already held"):
        lock.__enter__()


# -- links inside checkpoint_dir ----------------------------------------------------
SHORT = {**FOUR_ROUNDS, "pruning_rounds": 2}


@needs_flock
@pytest.mark.parametrize("target_exists", [False, True])
def test_a_lock_that_is_a_link_is_refused_and_never_followed(
    small_classification, tmp_path, target_exists
):
    X, y = small_classification
    root = tmp_path / "runs"
    LotteryTicketMLP(**SHORT, checkpoint_dir=root).fit(X, y)
    folder = _search_folder(root)
    target = tmp_path / "elsewhere"
    if target_exists:
        target.write_bytes(b"not ours")
    (folder / "lock").unlink()
    (folder / "lock").symlink_to(target)
    with pytest.raises(CheckpointError, match=f"{folder} has a 'lock' that is a sym"):
        LotteryTicketMLP(**SHORT, checkpoint_dir=root).fit(X, y)
    # A dangling link did not make fit create its target.
    assert target.exists() == target_exists
    assert not target_exists or target.read_bytes() == b"not ours"


@needs_flock
def test_a_search_folder_that_is_a_link_is_refused(small_classification, tmp_path):
    """Neither written to nor cleaned: its target's temporary-looking files stay."""
    X, y = small_classification
    root = tmp_path / "runs"
    LotteryTicketMLP(**SHORT, checkpoint_dir=root).fit(X, y)
    folder = _search_folder(root)
    real = tmp_path / "real"
    folder.rename(real)
    folder.symlink_to(real, target_is_directory=True)
    (real / ".imp_state.npz.abcdefgh.tmp").write_bytes(b"someone's file")
    (real / "plan.npz").unlink()
    before = sorted(p.name for p in real.iterdir())
    with pytest.raises(CheckpointError, match=f"{folder} is a symbolic link"):
        LotteryTicketMLP(**SHORT, checkpoint_dir=root).fit(X, y)
    assert sorted(p.name for p in real.iterdir()) == before


@needs_flock
@pytest.mark.parametrize("odd", ["lock is a directory", "lock is a FIFO", "folder"])
def test_a_lock_or_folder_that_is_no_file_or_folder_is_refused(tmp_path, odd):
    directory = tmp_path / "search"
    if odd == "folder":
        directory.write_bytes(b"a file")
        message = f"{directory} is not a directory"
    else:
        directory.mkdir()
        if odd == "lock is a FIFO":
            os.mkfifo(directory / "lock")
        else:
            (directory / "lock").mkdir()
        message = f"{directory} has a 'lock' that is not a file"
    with pytest.raises(CheckpointError, match=message):
        with SearchLock(directory):
            pass


def test_the_checkpoint_dir_itself_may_be_a_link(small_classification, tmp_path):
    X, y = small_classification
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real", target_is_directory=True)
    first = LotteryTicketMLP(**SHORT, checkpoint_dir=tmp_path / "link").fit(X, y)
    again = LotteryTicketMLP(**SHORT, checkpoint_dir=tmp_path / "real").fit(X, y)
    _assert_same_model(again, first)


@needs_flock
def test_stale_file_cleanup_removes_only_our_own_regular_files(tmp_path):
    directory = tmp_path / "search"
    directory.mkdir()
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep me")
    ours = directory / ".plan.npz.a1b2c3d4.tmp"
    ours.write_bytes(b"left by a killed writer")
    link = directory / ".imp_state.npz.abcdefgh.tmp"
    link.symlink_to(victim)
    folder_named_so = directory / ".imp_state.npz.12345678.tmp"
    folder_named_so.mkdir()
    foreign = directory / ".imp_state.npz.zzzzzzzz.tmp"
    foreign.write_bytes(b"another user's")
    try:
        os.chown(foreign, os.geteuid() + 1, -1)
    except PermissionError:  # only root gives files away
        foreign.unlink()
    with SearchLock(directory) as lock:
        assert lock.removed == [ours]
    assert link.is_symlink() and victim.read_bytes() == b"keep me"
    assert folder_named_so.is_dir()
    assert foreign.exists() == (os.geteuid() == 0)


def test_saving_never_writes_through_a_link(tmp_path, monkeypatch):
    """The temporary file is created anew and renamed over whatever is there."""
    import sklearn_lth._checkpoint as checkpoint

    victim = tmp_path / "victim"
    victim.write_bytes(b"keep me")
    planted = tmp_path / ".a.npz.aaaaaaaa.tmp"
    planted.symlink_to(victim)
    (tmp_path / "a.npz").symlink_to(victim)
    names = iter(["aaaaaaaa", "bbbbbbbb"])
    monkeypatch.setattr(checkpoint.secrets, "token_hex", lambda n: next(names))
    store = CheckpointStore(tmp_path, "a.npz", KEY)
    store.save(HEADER, _arrays())
    assert victim.read_bytes() == b"keep me"
    assert planted.is_symlink()  # the name was taken: the next one was used
    assert not store.path.is_symlink()
    _assert_same_arrays(store.load()[1], _arrays())


# -- read-only folders ----------------------------------------------------------------
def _read_only(monkeypatch, root):
    """Make every write under ``root`` fail as on a read-only file system.

    The tests run as root, which file permissions do not stop, and mounting a
    read-only file system needs privileges they do not have: instead, the
    calls that write (opening for writing or creating, mkdir, unlink,
    rename) raise ``OSError(EROFS)`` for paths under ``root`` and for opens
    relative to a directory descriptor (only the search folder's). Reading
    is left alone. mkdir of an existing path raises FileExistsError, as the
    kernel does on a read-only mount.
    """
    import errno

    root = str(root)
    writes = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND

    def inside(path) -> bool:
        return os.path.abspath(os.fspath(path)).startswith(root)

    def refuse(path):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fspath(path))

    real_open = os.open

    def fake_open(path, flags, mode=0o777, *, dir_fd=None):
        if flags & writes and (dir_fd is not None or inside(path)):
            refuse(path)
        return real_open(path, flags, mode, dir_fd=dir_fd)

    real_mkdir = os.mkdir

    def fake_mkdir(path, mode=0o777, *, dir_fd=None):
        if inside(path):
            if os.path.lexists(path):
                raise FileExistsError(errno.EEXIST, "File exists", os.fspath(path))
            refuse(path)
        return real_mkdir(path, mode, dir_fd=dir_fd)

    def guard(real):
        def fake(path, *args, **kwargs):
            if kwargs.get("dir_fd") is not None or inside(path):
                refuse(path)
            return real(path, *args, **kwargs)

        return fake

    monkeypatch.setattr(os, "open", fake_open)
    monkeypatch.setattr(os, "mkdir", fake_mkdir)
    for name in ("unlink", "remove", "replace", "rename", "rmdir"):
        monkeypatch.setattr(os, name, guard(getattr(os, name)))


def _no_training(monkeypatch):
    no_training(monkeypatch)


@needs_flock
@pytest.mark.parametrize("extra", [{}, {"n_seeds": 2, "early_stopping": True}])
@pytest.mark.parametrize("lock_file", [True, False])
def test_a_finished_search_is_read_from_a_read_only_folder(
    small_classification, tmp_path, monkeypatch, extra, lock_file
):
    """With a lock file, under a shared lock; without one, without a lock."""
    X, y = small_classification
    params = {**SHORT, **extra}
    first = LotteryTicketMLP(**params, checkpoint_dir=tmp_path).fit(X, y)
    if not lock_file:
        (_search_folder(tmp_path) / "lock").unlink()
    _read_only(monkeypatch, tmp_path)
    _no_training(monkeypatch)
    again = LotteryTicketMLP(**params, checkpoint_dir=tmp_path).fit(X, y)
    _assert_same_model(again, first)


@needs_flock
def test_a_read_only_folder_is_entered_under_a_shared_lock(tmp_path, monkeypatch):
    """It waits for a writer's exclusive lock, as a writer would."""
    import fcntl

    writer = os.open(tmp_path / "lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(writer, fcntl.LOCK_EX)
    _read_only(monkeypatch, tmp_path)
    entered = []

    def enter():
        with SearchLock(tmp_path) as lock:
            entered.append(lock.read_only)

    thread = threading.Thread(target=enter, daemon=True)
    try:
        thread.start()
        time.sleep(0.2)
        assert entered == []
    finally:
        fcntl.flock(writer, fcntl.LOCK_UN)
        os.close(writer)
    thread.join(timeout=5)
    assert entered == [True]


@needs_flock
def test_an_unfinished_search_in_a_read_only_folder_is_refused_before_training(
    small_classification, tmp_path, monkeypatch
):
    X, y = small_classification
    with monkeypatch.context() as patch:
        fail_in_round(patch, 2, RuntimeError("the machine went down"))
        with pytest.raises(RuntimeError):
            LotteryTicketMLP(**SHORT, checkpoint_dir=tmp_path).fit(X, y)
    _read_only(monkeypatch, tmp_path)
    _no_training(monkeypatch)
    model = LotteryTicketMLP(**SHORT, checkpoint_dir=tmp_path)
    with pytest.raises(
        CheckpointError,
        match="is read-only .* but its search is not finished: imp_state.npz holds "
        "round 1 of rounds 0-2",
    ):
        model.fit(X, y)
    assert not [name for name in vars(model) if name.endswith("_")]


@needs_flock
@pytest.mark.parametrize("folder_exists", [True, False])
def test_a_new_search_in_a_read_only_folder_is_refused_before_training(
    small_classification, tmp_path, monkeypatch, folder_exists
):
    X, y = small_classification
    if folder_exists:  # made, then killed before its plan was saved
        LotteryTicketMLP(**SHORT, checkpoint_dir=tmp_path).fit(X, y)
        for path in _search_folder(tmp_path).iterdir():
            path.unlink()
    _read_only(monkeypatch, tmp_path)
    _no_training(monkeypatch)
    message = "plan.npz would be saved there" if folder_exists else "cannot be created"
    root = tmp_path if folder_exists else tmp_path / "runs"
    with pytest.raises(CheckpointError, match=message):
        LotteryTicketMLP(**SHORT, checkpoint_dir=root).fit(X, y)


# -- fingerprints and BLAS ---------------------------------------------------------
def test_random_states_are_fingerprinted_with_their_whole_state():
    def key(random_state):
        return fingerprint({"random_state": random_state, "alpha": 1e-4})

    fresh = np.random.RandomState(0)
    assert key(fresh) == key(np.random.RandomState(0))
    assert key(fresh) != key(np.random.RandomState(1))
    moved = np.random.RandomState(0)
    moved.random_sample()  # same keys, another position
    assert key(moved) != key(fresh)
    assert key(fresh) != key(0)
    kind, keys, pos, _, _ = fresh.get_state()
    states = []
    for has_gauss, cached in [(0, 0.0), (1, 0.5), (1, -0.5)]:
        state = np.random.RandomState()
        state.set_state((kind, keys, pos, has_gauss, cached))
        states.append(key(state))
    assert len(set(states)) == 3
    assert key(fresh) == states[0]


def test_fingerprints_ignore_neutral_parameters_and_see_the_data():
    X = np.arange(6.0).reshape(3, 2)
    base = fingerprint({"alpha": 1.0}, X, None)
    assert base == fingerprint({"alpha": 1.0, "verbose": True, "n_jobs": 4}, X)
    assert base != fingerprint({"alpha": 2.0}, X)
    assert base != fingerprint({"alpha": 1.0}, X[:2])


def test_blas_info_is_json_serialisable_and_compared():
    info = blas_info()
    assert json.loads(json.dumps(info)) == info
    for library in info:
        assert set(library) == {
            "internal_api",
            "architecture",
            "num_threads",
            "version",
        }
    assert blas_differences(json.loads(json.dumps(info)), info) is None

    saved = [
        {"internal_api": "openblas", "architecture": "Haswell", "num_threads": 4,
         "version": "0.3.27"},
        {"internal_api": "mkl", "architecture": None, "num_threads": 2,
         "version": None},
    ]  # fmt: skip
    assert blas_differences(saved, saved[::-1]) is None
    now = [{**saved[0], "num_threads": 1}, saved[1]]
    message = blas_differences(saved, now)
    assert "Haswell, 4 threads" in message and "Haswell, 1 threads" in message
    assert blas_differences(saved, []).endswith("runs no BLAS detected.")
    assert "no BLAS" in blas_differences(None, saved)
