"""Checkpoints: resuming a search, refusing what does not belong, no lost rounds."""

import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings

import numpy as np
import pytest

import sklearn_lth._imp as imp
from sklearn_lth import LotteryTicketMLP, TrainingDivergedError
from sklearn_lth._checkpoint import CheckpointError

PARAMS = dict(
    hidden_layer_sizes=(12, 6),
    max_iter=15,
    learning_rate_init=0.01,
    target_sparsity=0.8,
    pruning_rounds=4,
    random_state=0,
)


def _assert_same_model(a, b):
    for Wa, Wb in zip(a.coefs_ + a.ticket_.weights, b.coefs_ + b.ticket_.weights):
        np.testing.assert_array_equal(Wa.toarray(), Wb.toarray())
    for ba, bb in zip(a.intercepts_, b.intercepts_):
        np.testing.assert_array_equal(ba, bb)
    for key in a.history_:
        if key != "seconds":
            np.testing.assert_array_equal(a.history_[key], b.history_[key])
    assert a.loss_curve_ == b.loss_curve_


def _fail_in_round(monkeypatch, round_to_fail, error):
    real = imp.train_round

    def train_round(*args, round_index, **kwargs):
        if round_index == round_to_fail:
            raise error
        return real(*args, round_index=round_index, **kwargs)

    monkeypatch.setattr(imp, "train_round", train_round)


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
    params = {**PARAMS, **extra}
    uninterrupted = LotteryTicketMLP(**params).fit(X, y)
    with monkeypatch.context() as patch:
        _fail_in_round(patch, 3, RuntimeError("the machine went down"))
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
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_a_finished_search_is_read_back_without_training(
    small_classification, tmp_path, monkeypatch
):
    X, y = small_classification
    first = LotteryTicketMLP(**PARAMS, checkpoint_dir=tmp_path).fit(X, y)
    _fail_in_round(monkeypatch, 0, AssertionError("no round should run"))
    for r in range(5):
        _fail_in_round(monkeypatch, r, AssertionError("no round should run"))
    again = LotteryTicketMLP(**PARAMS, checkpoint_dir=tmp_path).fit(X, y)
    _assert_same_model(again, first)


def test_a_checkpoint_for_other_parameters_or_data_is_refused(
    small_classification, tmp_path
):
    X, y = small_classification
    LotteryTicketMLP(**PARAMS, checkpoint_dir=tmp_path).fit(X, y)
    with pytest.raises(
        CheckpointError, match="other parameters or other training data.*Delete it"
    ):
        LotteryTicketMLP(
            **{**PARAMS, "target_sparsity": 0.5}, checkpoint_dir=tmp_path
        ).fit(X, y)
    with pytest.raises(CheckpointError, match="other parameters or other training"):
        LotteryTicketMLP(**PARAMS, checkpoint_dir=tmp_path).fit(X[:-1], y[:-1])
    # Parameters that do not change the search may differ.
    LotteryTicketMLP(**PARAMS, checkpoint_dir=tmp_path, verbose=False, n_jobs=2).fit(
        X, y
    )


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_a_damaged_checkpoint_is_a_clear_error(small_classification, tmp_path, damage):
    X, y = small_classification
    LotteryTicketMLP(**PARAMS, checkpoint_dir=tmp_path).fit(X, y)
    path = tmp_path / "imp_state.npz"
    content = path.read_bytes()
    path.write_bytes(
        {
            "garbage": b"not a checkpoint" * 10,
            "truncated": content[: len(content) // 2],
            "empty": b"",
        }[damage]
    )
    with pytest.raises(CheckpointError, match="corrupted or truncated.*Delete it"):
        LotteryTicketMLP(**PARAMS, checkpoint_dir=tmp_path).fit(X, y)


def test_ctrl_c_keeps_the_last_completed_round(small_classification, monkeypatch):
    X, y = small_classification
    _fail_in_round(monkeypatch, 3, KeyboardInterrupt())
    with pytest.warns(UserWarning, match="during round 3.*keeps round 2"):
        model = LotteryTicketMLP(**PARAMS).fit(X, y)
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
    _fail_in_round(monkeypatch, 1, KeyboardInterrupt())
    with pytest.warns(UserWarning, match="keeps round 0"):
        model = LotteryTicketMLP(**PARAMS, rewind=rewind).fit(X, y)
    W0, b0 = glorot_uniform([8, 12, 6, 3], "relu", X.dtype, np.random.RandomState(0))
    for W_ticket, W, b_ticket, b in zip(
        model.ticket_.weights, W0, model.ticket_.intercepts, b0
    ):
        np.testing.assert_array_equal(W_ticket.toarray(), W)
        np.testing.assert_array_equal(b_ticket, b)


def test_ctrl_c_in_round_zero_stops_the_fit(small_classification, monkeypatch):
    X, y = small_classification
    _fail_in_round(monkeypatch, 0, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        LotteryTicketMLP(**PARAMS).fit(X, y)


def test_divergence_keeps_the_previous_round(small_classification, monkeypatch):
    X, y = small_classification
    _fail_in_round(
        monkeypatch,
        2,
        TrainingDivergedError(
            "Training diverged in round 2, epoch 3: the loss is nan."
        ),
    )
    model = LotteryTicketMLP(**PARAMS)
    with pytest.raises(
        TrainingDivergedError, match="round 2, epoch 3.*keeps the network of round 1"
    ):
        model.fit(X, y)
    np.testing.assert_array_equal(model.history_["round"], [0, 1])
    assert all(np.isfinite(W.data).all() for W in model.coefs_)
    assert model.predict(X).shape == y.shape


def test_extreme_sparsity_keeps_every_layer_connected(small_classification):
    X, y = small_classification
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = LotteryTicketMLP(**{**PARAMS, "target_sparsity": 0.999}).fit(X, y)
    assert all(W.nnz >= 1 for W in model.coefs_)
    assert any("strongest path" in str(w.message) for w in caught)
    # A path of kept weights still links some input to some output.
    reach = model.ticket_.masks[0].astype(int)
    for mask in model.ticket_.masks[1:]:
        reach = reach @ mask.astype(int)
    assert reach.any()


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


def test_sigkill_during_a_later_round_then_resume(tmp_path):
    """A real crash: the search process is killed, a new one resumes it."""
    from sklearn.datasets import load_digits

    params = dict(
        hidden_layer_sizes=(64,),
        target_sparsity=0.9,
        pruning_rounds=6,
        max_iter=25,
        random_state=0,
    )
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path), repr(params)])
    state = tmp_path / "imp_state.npz"
    deadline = time.monotonic() + 120
    while _completed_round(state) < 2 and child.poll() is None:
        assert time.monotonic() < deadline, "the child made no progress"
        time.sleep(0.02)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL
    killed_after = _completed_round(state)
    assert 2 <= killed_after < 6

    X, y = load_digits(return_X_y=True)
    resumed = LotteryTicketMLP(**params, checkpoint_dir=tmp_path).fit(X / 16, y)
    uninterrupted = LotteryTicketMLP(**params).fit(X / 16, y)
    _assert_same_model(resumed, uninterrupted)
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


@pytest.mark.parametrize("rewind", ["init", "early"])
def test_checkpoints_keep_start_points_at_the_kept_weights_only(
    small_classification, tmp_path, rewind
):
    """Memory for rewinding follows the kept weights, round after round."""
    from sklearn_lth._network import glorot_uniform, kept_positions

    X, y = small_classification
    model = LotteryTicketMLP(
        **PARAMS, rewind=rewind, rewind_iteration=3, checkpoint_dir=tmp_path
    )
    model.fit(X, y)
    W0, _ = glorot_uniform([8, 12, 6, 3], "relu", X.dtype, np.random.RandomState(0))
    with np.load(tmp_path / "imp_state.npz", allow_pickle=False) as stored:
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
