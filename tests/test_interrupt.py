"""Ctrl-C during ``fit``: the rule of :mod:`sklearn_lth._interrupt`.

A KeyboardInterrupt stops all the work of the fit, the estimator keeps the
sparsest completed round (with several seeds: the best of the deepest seeds)
with a warning naming it, and the interrupt propagates; without a completed
round the estimator is left exactly as before. The first half sends real
SIGINTs to small child processes; the second raises KeyboardInterrupt at
chosen places in this process.
"""

import json
import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from contextlib import contextmanager

import numpy as np
import pytest
from _helpers import FOUR_ROUNDS, ROUND_OF, fail_in_round
from joblib import parallel_config
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_info

import sklearn_lth._search._loop as imp
import sklearn_lth._supermask as supermask
from sklearn_lth import LotteryTicketMLP, LotteryTicketMLPCV, SupermaskMLP
from sklearn_lth._checkpoint import CheckpointStore
from sklearn_lth._interrupt import current_fit_scope
from sklearn_lth._network import glorot_uniform
from sklearn_lth._search import SearchState
from sklearn_lth.exceptions import TrainingDivergedError

# -- real signals, in child processes -------------------------------------------

CHILD = textwrap.dedent(
    r"""
    import copy, json, os, signal, sys, threading, time, warnings
    import numpy as np
    from joblib import parallel_config
    from sklearn.datasets import load_digits
    from sklearn.model_selection import GridSearchCV
    from threadpoolctl import threadpool_info
    import sklearn_lth._search._loop as imp
    from sklearn_lth import LotteryTicketMLP

    # Ctrl-C raises KeyboardInterrupt even if this child was started with
    # SIGINT ignored (as background jobs of a non-interactive shell are).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    config = json.loads(sys.argv[1])
    X, y = load_digits(return_X_y=True)
    X = X / 16
    calls = {"n": 0, "active": 0}
    lock = threading.Lock()
    real = imp.train_round
    hold_at = config.get("hold_at", [])


    def train_round(*args, **kwargs):
        with lock:
            calls["n"] += 1
            calls["active"] += 1
            n = calls["n"]
        try:
            if n in hold_at:
                print("holding", flush=True)
                time.sleep(120)  # the SIGINT ends this sleep
            result = real(*args, **kwargs)
            if n == 1:
                print("trained", flush=True)
            return result
        finally:
            with lock:
                calls["active"] -= 1


    imp.train_round = train_round


    def report(**fields):
        print("RESULT " + json.dumps(fields), flush=True)


    def blas_threads():
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]


    def describe(est, caught=()):
        found = {
            "fitted": hasattr(est, "history_"),
            "warnings": [
                str(w.message) for w in caught if "interrupt" in str(w.message)
            ],
        }
        if not found["fitted"]:
            return found
        table = est.seeds_history_
        seeds = sorted(set(table["seed"].tolist()))
        found.update(
            rounds=est.history_["round"].tolist(),
            best_seed=int(est.best_seed_),
            seed_rounds={
                str(s): table["round"][table["seed"] == s].tolist() for s in seeds
            },
            seed_scores={
                str(s): table["validation_score"][table["seed"] == s].tolist()
                for s in seeds
            },
            kept_score=float(est.history_["validation_score"][-1]),
            sparsity=float(est.ticket_.sparsity),
            history_sparsity=float(est.history_["sparsity"][-1]),
            nnz=int(sum(W.nnz for W in est.coefs_)),
            remaining=int(est.history_["remaining_parameters"][-1]),
            predicts=est.predict(X).shape == y.shape,
        )
        return found


    def fit(est):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                if config.get("backend"):
                    with parallel_config(backend=config["backend"]):
                        est.fit(X, y)
                else:
                    est.fit(X, y)
            except KeyboardInterrupt:
                return True, caught
        return False, caught


    mode = config.get("mode")
    if mode == "grid":
        grid = GridSearchCV(
            LotteryTicketMLP(**config["params"]),
            {"target_sparsity": [0.5, 0.8]},
            cv=3,
            n_jobs=1,
        )
        try:
            grid.fit(X, y)
        except KeyboardInterrupt:
            report(calls=calls["n"], has_results=hasattr(grid, "cv_results_"))
            print("INTERRUPTED", flush=True)
            sys.exit(1)
        report(finished=True)
    elif mode == "fits":
        for params in config["fits"]:
            est = LotteryTicketMLP(**params)
            interrupted, caught = fit(est)
            report(interrupted=interrupted, calls=calls["n"], **describe(est, caught))
    elif mode == "threading":
        from sklearn_lth._interrupt import StopFlag

        checks, real_check = {"n": 0}, StopFlag.raise_if_set

        def raise_if_set(self):  # once a mini-batch
            with lock:
                checks["n"] += 1
            return real_check(self)

        StopFlag.raise_if_set = raise_if_set
        threads, blas = threading.active_count(), blas_threads()
        est = LotteryTicketMLP(**config["params"])
        interrupted, caught = fit(est)
        then, at_return = time.monotonic(), (calls["n"], checks["n"])
        activity, last_active = at_return, then
        while time.monotonic() - last_active < 0.5 and time.monotonic() - then < 5:
            if calls["active"] or (calls["n"], checks["n"]) != activity:
                activity, last_active = (calls["n"], checks["n"]), time.monotonic()
            time.sleep(0.01)
        later = [calls["n"], checks["n"]]
        deadline = time.monotonic() + 2
        while threading.active_count() > threads and time.monotonic() < deadline:
            time.sleep(0.02)
        report(
            interrupted=interrupted,
            active=calls["active"],
            active_for=last_active - then,
            calls_later=later[0] - at_return[0],
            batches_later=later[1] - at_return[1],
            threads=[threads, threading.active_count()],
            blas=[blas, blas_threads()],
            **describe(est, caught),
        )
    elif mode == "loky":
        est = LotteryTicketMLP(**config["params"])
        print("fitting", flush=True)
        interrupted, caught = fit(est)
        report(interrupted=interrupted, **describe(est, caught))
        # A worker that survived the interrupt would save its next round in
        # the (removed) transport folder now.
        time.sleep(2)
    """
)


class _Child:
    """A child process running ``CHILD``; its stdout lines arrive in a queue."""

    def __init__(self, config, tmp_path, env=None, group=False):
        self.group = group
        self.stderr_path = tmp_path / "stderr.txt"
        self.stderr = open(self.stderr_path, "w")
        self.process = subprocess.Popen(
            [sys.executable, "-c", CHILD, json.dumps(config)],
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
            env=env,
            start_new_session=group,
        )
        self.lines = queue.Queue()
        self.seen = []
        threading.Thread(target=self._read, daemon=True).start()
        self.signalled = None

    def _read(self):
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def _next(self, deadline):
        try:
            line = self.lines.get(timeout=max(deadline - time.monotonic(), 0.01))
        except queue.Empty:
            pytest.fail(f"the child printed nothing in time; stderr:\n{self.err()}")
        if line is not None:
            self.seen.append(line)
        return line

    def wait_for(self, text, timeout=60):
        deadline = time.monotonic() + timeout
        while (line := self._next(deadline)) != text:
            if line is None:
                pytest.fail(f"the child ended before {text!r}:\n{self.err()}")

    def interrupt(self):
        """SIGINT to the child, or to its process group (as Ctrl-C in a shell)."""
        self.signalled = time.monotonic()
        if self.group:
            os.killpg(self.process.pid, signal.SIGINT)
        else:
            self.process.send_signal(signal.SIGINT)

    def finish(self, timeout=60):
        """Wait for the exit; the seconds since the signal and the results."""
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the child did not stop in {timeout} s:\n{self.err()}")
        elapsed = time.monotonic() - (self.signalled or time.monotonic())
        deadline = time.monotonic() + 10
        while self._next(deadline) is not None:
            pass
        results = [json.loads(s[7:]) for s in self.seen if s.startswith("RESULT ")]
        return elapsed, results

    def err(self):
        return self.stderr_path.read_text()[-4000:]

    def kill(self):
        if self.group:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=30)
        self.stderr.close()


@contextmanager
def _child(config, tmp_path, env=None, group=False):
    child = _Child(config, tmp_path, env, group)
    try:
        yield child
    finally:
        child.kill()


DIGITS_PARAMS = dict(
    hidden_layer_sizes=(32,),
    max_iter=30,
    target_sparsity=0.5,
    pruning_rounds=2,
    random_state=0,
)


@pytest.mark.slow
def test_sigint_stops_a_grid_search_at_once(tmp_path):
    """The interrupted point of the grid propagates Ctrl-C: the grid search
    stops (no later fit, no results recorded) well before it could finish."""
    config = {"mode": "grid", "params": DIGITS_PARAMS, "hold_at": [5]}
    with _child(config, tmp_path) as child:
        child.wait_for("holding")  # round 1 of the grid's second fit
        child.interrupt()
        elapsed, results = child.finish()
    assert child.process.returncode == 1, child.err()
    assert "INTERRUPTED" in child.seen
    assert elapsed < 10
    # The grid's six fits and its refit would train 21 rounds: it stopped at 5.
    assert results == [{"calls": 5, "has_results": False}]
    assert "keeps round 0" in child.err()


@pytest.fixture(scope="module")
def sequential_seeds_run(tmp_path_factory):
    """One child, two sequential fits of three seeds, each stopped by SIGINT:
    the first in round 1 of seed 1 (seed 0 complete), the second in round 0
    of seed 0."""
    params = dict(DIGITS_PARAMS, n_seeds=3, n_jobs=1)
    config = {"mode": "fits", "fits": [params, params], "hold_at": [5, 6]}
    with _child(config, tmp_path_factory.mktemp("seeds")) as child:
        for _ in range(2):
            child.wait_for("holding")
            child.interrupt()
        elapsed, results = child.finish()
    assert child.process.returncode == 0, child.err()
    assert elapsed < 10
    return results


@pytest.mark.slow
def test_sigint_with_sequential_seeds_keeps_the_deepest_seed(sequential_seeds_run):
    """Seed 0 completed its three rounds, seed 1 only round 0 and seed 2 never
    started: seed 0's round 2 is kept, seed 2 has no rows."""
    first = sequential_seeds_run[0]
    assert first["interrupted"] and first["calls"] == 5
    assert first["best_seed"] == 0
    assert first["rounds"] == [0, 1, 2]
    assert first["seed_rounds"] == {"0": [0, 1, 2], "1": [0]}
    assert first["sparsity"] == first["history_sparsity"]
    assert first["nnz"] == first["remaining"] and first["predicts"]
    assert first["warnings"] == [
        "Training interrupted by the user; the estimator keeps round 2, the last "
        f"one completed (sparsity {first['history_sparsity']:.4f})."
    ]


@pytest.mark.slow
def test_sigint_before_any_round_leaves_the_seeds_unfitted(sequential_seeds_run):
    """Interrupted in the first seed's round 0: unfitted, no warning, and the
    interrupt still propagated."""
    second = sequential_seeds_run[1]
    assert second == {
        "interrupted": True,
        "calls": 6,
        "fitted": False,
        "warnings": [],
    }


@pytest.mark.slow
@pytest.mark.parametrize("group", [False, True], ids=["process", "process-group"])
def test_sigint_with_seeds_in_loky_workers_keeps_the_deepest_seed(tmp_path, group):
    """Seeds in worker processes (which get the SIGINT too with Ctrl-C in a
    shell, sent to the process group): their rounds are read back from the
    transport folder; the kept round is the deepest any seed completed, the
    folder is removed and no worker saves anything after the interrupt."""
    params = dict(DIGITS_PARAMS, max_iter=60, pruning_rounds=3, n_seeds=3, n_jobs=2)
    env = dict(os.environ, TMPDIR=str(tmp_path))
    with _child({"mode": "loky", "params": params}, tmp_path, env, group) as child:
        child.wait_for("fitting")
        deadline = time.monotonic() + 60
        while not list(tmp_path.glob("sklearn-lth-seeds-*/seed*.npz")):
            assert time.monotonic() < deadline, child.err()
            assert child.process.poll() is None, child.err()
            time.sleep(0.02)
        child.interrupt()
        elapsed, results = child.finish()
    assert elapsed < 15
    (found,) = results
    assert found["interrupted"] and found["fitted"], child.err()
    deepest = max(len(rounds) for rounds in found["seed_rounds"].values())
    assert found["rounds"] == list(range(deepest))
    assert len(found["seed_rounds"][str(found["best_seed"])]) == deepest
    assert found["kept_score"] == max(
        scores[-1] for scores in found["seed_scores"].values() if len(scores) == deepest
    )
    assert found["nnz"] == found["remaining"] and found["predicts"]
    assert found["sparsity"] == found["history_sparsity"]
    assert f"keeps round {deepest - 1}," in found["warnings"][0]
    assert not list(tmp_path.glob("sklearn-lth-seeds-*")), "a worker kept saving"


@pytest.mark.slow
def test_sigint_with_seeds_in_threads_stops_them_and_restores_blas(tmp_path):
    """Threading backend: after the interrupt no training thread runs on, the
    pool's threads are gone and the BLAS thread count is what it was."""
    params = dict(DIGITS_PARAMS, max_iter=100, pruning_rounds=3, n_seeds=2, n_jobs=2)
    config = {"mode": "threading", "params": params, "backend": "threading"}
    with _child(config, tmp_path) as child:
        child.wait_for("trained")
        child.interrupt()
        elapsed, results = child.finish()
    assert elapsed < 15
    (found,) = results
    assert found["interrupted"], child.err()
    # Each of the two threads runs at most one more mini-batch check, which
    # stops it (one that was between rounds starts the next round for that).
    assert found["active"] == 0 and found["active_for"] < 2
    assert found["calls_later"] <= 2 and found["batches_later"] <= 2
    assert found["threads"][1] == found["threads"][0]
    assert found["blas"][1] == found["blas"][0]
    if found["fitted"]:
        assert found["nnz"] == found["remaining"] and found["predicts"]


@pytest.mark.slow
def test_interrupts_at_any_moment_keep_a_consistent_model(tmp_path):
    """SIGINTs at spread moments of a refit: the estimator is either exactly as
    before (no completed round) or fitted at a completed round k, equal to an
    uninterrupted run's round k, with a warning naming k; with checkpoints,
    resuming then ends as an uninterrupted run."""
    script = CHILD + textwrap.dedent(
        r"""
        import tempfile
        from sklearn.base import clone
        A = y < 2
        XA, yA = X[A][:, :40], y[A]

        def same_arrays(first, second):
            dense = [getattr(a, "toarray", lambda a=a: a)() for a in first + second]
            n = len(first)
            return len(second) == n and all(
                a.shape == b.shape and np.array_equal(a, b)
                for a, b in zip(dense[:n], dense[n:])
            )

        def attempt(est, delay):
            timer = threading.Timer(delay, os.kill, (os.getpid(), signal.SIGINT))
            returned = False
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                # A SIGINT between open() and its with-block leaves a file
                # unclosed in the library that reads it (threadpoolctl's
                # /proc/self/maps): Python's ResourceWarning, not a message
                # of ours.
                warnings.simplefilter("ignore", ResourceWarning)
                try:
                    timer.start()
                    est.fit(X, y)
                    returned = True
                    timer.cancel()
                    timer.join()
                    time.sleep(0.01)
                except KeyboardInterrupt:
                    pass
            timer.cancel()
            timer.join()
            return returned, [str(w.message) for w in caught]

        problems, outcomes = [], []
        for extra in ({}, {"n_seeds": 2}, {"checkpoint": True}):
            params = dict(config["params"], n_seeds=extra.get("n_seeds", 1))
            rounds = {}
            reference = LotteryTicketMLP(**params)
            tic = time.perf_counter()
            # Several seeds report no rounds (and need none: see below).
            keep_round = lambda r, m: rounds.__setitem__(r["round"], m)  # noqa: E731
            reference.fit(
                X, y, on_round_end=keep_round if params["n_seeds"] == 1 else None
            )
            duration = time.perf_counter() - tic
            prior = LotteryTicketMLP(**params).fit(XA, yA)
            P_prior = prior.predict_proba(XA)
            n_tries = 6 if extra.get("checkpoint") else 10
            for i in range(n_tries):
                delay = duration * 0.85 * (i + 0.5) / n_tries
                est = copy.deepcopy(prior)
                if extra.get("checkpoint"):
                    est.set_params(checkpoint_dir=tempfile.mkdtemp(dir=sys.argv[2]))
                before = dict(vars(est))
                returned, messages = attempt(est, delay)
                where = f"{extra} delay {delay:.3f}"
                if returned:
                    outcomes.append("returned")
                    continue
                if est.history_ is before["history_"]:
                    outcomes.append(-1)
                    if vars(est).keys() != before.keys() or any(
                        vars(est)[k] is not v for k, v in before.items()
                    ):
                        problems.append(f"{where}: not left as before")
                    if not np.array_equal(est.predict_proba(XA), P_prior):
                        problems.append(f"{where}: predictions changed")
                    if messages:
                        problems.append(f"{where}: warned {messages}")
                    continue
                k = int(est.history_["round"][-1])
                outcomes.append(k)
                if est.history_["round"].tolist() != list(range(k + 1)):
                    problems.append(f"{where}: rounds {est.history_['round']}")
                if sum(W.nnz for W in est.coefs_) != est.history_[
                    "remaining_parameters"
                ][-1]:
                    problems.append(f"{where}: nnz != remaining_parameters")
                if est.ticket_.sparsity != est.history_["sparsity"][-1]:
                    problems.append(f"{where}: ticket sparsity")
                if not np.array_equal(est.classes_, np.arange(10)):
                    problems.append(f"{where}: classes {est.classes_}")
                if est.n_features_in_ != 64 or est.predict(X).shape != y.shape:
                    problems.append(f"{where}: cannot predict")
                if not any(f"keeps round {k}," in m for m in messages):
                    problems.append(f"{where}: warnings {messages}")
                if extra.get("n_seeds"):
                    table = est.seeds_history_
                    deepest = max(
                        (table["seed"] == s).sum() for s in set(table["seed"])
                    )
                    if k + 1 != deepest:
                        problems.append(f"{where}: kept {k + 1} of {deepest} rounds")
                    continue
                same = same_arrays(est.coefs_, rounds[k].coefs_) and same_arrays(
                    est.intercepts_, rounds[k].intercepts_
                )
                if not same:
                    problems.append(f"{where}: round {k} differs from the reference")
                if extra.get("checkpoint"):
                    resumed = clone(est).fit(X, y)
                    if not same_arrays(resumed.coefs_, reference.coefs_):
                        problems.append(f"{where}: the resumed search differs")
        report(problems=problems, outcomes=outcomes)
        """
    )
    params = dict(DIGITS_PARAMS, max_iter=8, pruning_rounds=3)
    child = subprocess.Popen(
        [sys.executable, "-c", script, json.dumps({"params": params}), str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = child.communicate(timeout=120)
    finally:
        child.kill()
    assert child.returncode == 0, err[-4000:]
    (line,) = [s for s in out.splitlines() if s.startswith("RESULT ")]
    found = json.loads(line[7:])
    assert found["problems"] == []
    # The moments covered both outcomes: nothing kept, and a kept round.
    outcomes = found["outcomes"]
    assert -1 in outcomes and any(isinstance(k, int) and k >= 1 for k in outcomes)


# -- KeyboardInterrupt raised in this process -----------------------------------


def _round_models(X, y, **params):
    """An uninterrupted fit's network after every round, by round."""
    rounds = {}
    LotteryTicketMLP(**params).fit(
        X, y, on_round_end=lambda record, model: rounds.update({record["round"]: model})
    )
    return rounds


def _assert_consistent_at(model, X, y, expected, round_index):
    """Fitted at ``round_index``, equal to ``expected`` (that round's network)."""
    np.testing.assert_array_equal(model.history_["round"], np.arange(round_index + 1))
    assert (
        sum(W.nnz for W in model.coefs_) == model.history_["remaining_parameters"][-1]
    )
    assert model.ticket_.sparsity == model.history_["sparsity"][-1]
    np.testing.assert_array_equal(
        model.ticket_.sparsity_history, model.history_["sparsity"]
    )
    np.testing.assert_array_equal(model.classes_, np.unique(y))
    for W, W_expected, ticket_W in zip(
        model.coefs_, expected.coefs_, model.ticket_.weights
    ):
        np.testing.assert_array_equal(W.toarray(), W_expected.toarray())
        np.testing.assert_array_equal(ticket_W.indices, W.indices)
        np.testing.assert_array_equal(ticket_W.indptr, W.indptr)
    for b, b_expected in zip(model.intercepts_, expected.intercepts_):
        np.testing.assert_array_equal(b, b_expected)
    # rewind="init": the ticket holds the initial weights at the kept positions.
    W0, b0 = glorot_uniform([8, 12, 6, 3], "relu", X.dtype, np.random.RandomState(0))
    for ticket_W, W, ticket_b, b in zip(
        model.ticket_.weights, W0, model.ticket_.intercepts, b0
    ):
        rows = np.repeat(np.arange(W.shape[0]), np.diff(ticket_W.indptr))
        np.testing.assert_array_equal(ticket_W.data, W[rows, ticket_W.indices])
        np.testing.assert_array_equal(ticket_b, b)
    assert model.predict(X).shape == y.shape


@pytest.mark.parametrize(
    "step, after",
    [("_prune_and_rewind", False), ("_prune_and_rewind", True), ("_record", False)],
    ids=["before-pruning", "after-pruning", "while-scoring"],
)
def test_an_interrupt_inside_round_two_keeps_round_one(
    small_classification, monkeypatch, step, after
):
    """Pruning (before or after it changed the search) and scoring belong to
    round 2: round 1 is kept, as an uninterrupted run had it."""
    X, y = small_classification
    expected = _round_models(X, y, **FOUR_ROUNDS)[1]
    fail_in_round(monkeypatch, 2, KeyboardInterrupt, step=step, after=after)
    model = LotteryTicketMLP(**FOUR_ROUNDS)
    with pytest.warns(UserWarning, match="interrupted.*keeps round 1, the last"):
        with pytest.raises(KeyboardInterrupt):
            model.fit(X, y)
    _assert_consistent_at(model, X, y, expected, 1)


def test_an_interrupt_while_committing_round_two_keeps_round_one(
    small_classification, monkeypatch
):
    """Round 2's history row is written before the round is committed: an
    interrupt in between keeps round 1 and its rows only."""
    X, y = small_classification
    expected = _round_models(X, y, **FOUR_ROUNDS)[1]
    real = SearchState.compact_start_points
    calls = []

    def compact(self, positions, spare=None):
        calls.append(positions)
        if len(calls) == 5:  # rounds 0, 1 and 2 commit; rounds 1 and 2 prune
            assert len(self.history["round"]) == 3
            raise KeyboardInterrupt
        return real(self, positions, spare)

    monkeypatch.setattr(SearchState, "compact_start_points", compact)
    model = LotteryTicketMLP(**FOUR_ROUNDS)
    with pytest.warns(UserWarning, match="keeps round 1,"):
        with pytest.raises(KeyboardInterrupt):
            model.fit(X, y)
    _assert_consistent_at(model, X, y, expected, 1)


def test_an_interrupt_while_saving_round_two_keeps_round_two_and_resumes(
    small_classification, monkeypatch, tmp_path
):
    """Round 2 is committed before its checkpoint is saved: it is kept; the
    checkpoint still holds round 1, and resuming ends as an uninterrupted run."""
    X, y = small_classification
    rounds = _round_models(X, y, **FOUR_ROUNDS)
    real = CheckpointStore.save
    saves = []

    def save(self, header, arrays, durable=None):
        if self.path.name == "imp_state.npz":
            saves.append(header["completed_round"])
            if header["completed_round"] == 2:
                raise KeyboardInterrupt
        return real(self, header, arrays, durable)

    with monkeypatch.context() as patch:
        patch.setattr(CheckpointStore, "save", save)
        model = LotteryTicketMLP(**FOUR_ROUNDS, checkpoint_dir=tmp_path)
        with pytest.warns(UserWarning, match="keeps round 2,"):
            with pytest.raises(KeyboardInterrupt):
                model.fit(X, y)
    assert saves == [0, 1, 2]
    _assert_consistent_at(model, X, y, rounds[2], 2)
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]
    resumed = clone(model).fit(X, y)
    _assert_consistent_at(resumed, X, y, rounds[4], 4)


def _blas_threads():
    return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]


def test_a_threading_fit_of_several_seeds_leaves_the_blas_threads(
    small_classification,
):
    """The seeds run with one BLAS thread; afterwards the count is restored."""
    before = _blas_threads()
    if not before:
        pytest.skip("threadpoolctl finds no BLAS")
    X, y = small_classification
    with parallel_config(backend="threading"):
        LotteryTicketMLP(**FOUR_ROUNDS, n_seeds=2, n_jobs=2).fit(X, y)
    assert _blas_threads() == before


def test_an_interrupt_in_one_seed_thread_stops_the_others(
    small_classification, monkeypatch
):
    """A KeyboardInterrupt in the first seed thread to reach round 2 stops
    every seed of the fit: no thread is left training, none goes on."""
    X, y = small_classification
    real = imp.train_round
    lock, state = threading.Lock(), {"calls": 0, "active": 0, "raised": False}

    def train_round(*args, round_index, **kwargs):
        with lock:
            state["calls"] += 1
            state["active"] += 1
            first = round_index == 2 and not state["raised"]
            state["raised"] |= first
        try:
            if first:
                raise KeyboardInterrupt
            return real(*args, round_index=round_index, **kwargs)
        finally:
            with lock:
                state["active"] -= 1

    monkeypatch.setattr(imp, "train_round", train_round)
    params = dict(FOUR_ROUNDS, max_iter=200, tol=0.0, n_seeds=3, n_jobs=3)
    model = LotteryTicketMLP(**params)
    with pytest.raises(KeyboardInterrupt), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with parallel_config(backend="threading"):
            model.fit(X, y)
    start = last_change = time.monotonic()
    calls = state["calls"]
    while time.monotonic() - last_change < 0.3 and time.monotonic() - start < 5:
        if state["active"] or state["calls"] != calls:
            calls, last_change = state["calls"], time.monotonic()
        time.sleep(0.01)
    assert state["active"] == 0 and last_change - start < 2
    # Each seed trained rounds 0 and 1 at most, and may have started round 2
    # (stopped at its first mini-batch); five rounds each would make 15 calls.
    assert calls <= 9
    # The seed that raised had completed rounds 0 and 1: none completed more.
    np.testing.assert_array_equal(model.history_["round"], [0, 1])


def test_a_seed_thread_between_rounds_starts_no_round_after_the_interrupt(
    small_classification, monkeypatch
):
    """Threading backend, two seeds: one is held while scoring its round 0 when
    the other is interrupted; released once ``fit`` has raised, it must not
    prune nor train again."""
    import sklearn_lth._search._seeds as seeds

    X, y = small_classification
    real_record, real_train, real_find = imp._record, imp.train_round, seeds.find_ticket
    real_prune = imp._prune_and_rewind
    lock, holder, done, late = threading.Lock(), [], [], []
    held, release, interrupted = (threading.Event() for _ in range(3))

    def record(*args, **kwargs):
        with lock:
            first = not holder
            holder.extend([threading.get_ident()] if first else [])
        if first:
            held.set()
            release.wait(30)
        return real_record(*args, **kwargs)

    def train_round(*args, round_index, **kwargs):
        if interrupted.is_set():
            late.append(f"train round {round_index}")
        if round_index == 1 and threading.get_ident() not in holder:
            held.wait(30)
            raise KeyboardInterrupt
        return real_train(*args, round_index=round_index, **kwargs)

    def prune_and_rewind(*args, **kwargs):
        if interrupted.is_set():
            late.append(f"prune round {ROUND_OF['_prune_and_rewind'](args, kwargs)}")
        return real_prune(*args, **kwargs)

    def find_ticket(*args, **kwargs):
        try:
            return real_find(*args, **kwargs)
        finally:
            done.append(threading.get_ident())

    monkeypatch.setattr(imp, "_record", record)
    monkeypatch.setattr(imp, "train_round", train_round)
    monkeypatch.setattr(imp, "_prune_and_rewind", prune_and_rewind)
    monkeypatch.setattr(seeds, "find_ticket", find_ticket)
    model = LotteryTicketMLP(**FOUR_ROUNDS, n_seeds=2, n_jobs=2)
    try:
        with pytest.warns(UserWarning, match="keeps round 0,"):
            with pytest.raises(KeyboardInterrupt):
                with parallel_config(backend="threading"):
                    model.fit(X, y)
    finally:
        interrupted.set()
        release.set()
    deadline = time.monotonic() + 10
    while len(done) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(done) == 2
    assert late == []


# -- a failed refit leaves the previous model ------------------------------------


def _binary_data():
    X, y = load_digits(return_X_y=True)
    keep = y < 2
    return X[keep][:, :20] / 16, y[keep]


@pytest.mark.parametrize("failure", ["interrupt-in-round-0", "nan-in-X", "diverged"])
def test_a_failed_refit_leaves_the_previous_model(
    small_classification, monkeypatch, failure
):
    """Fitted on binary data A, refitted on 3-class data B that fails: the
    estimator is exactly as before (same attributes, same predictions)."""
    X_a, y_a = _binary_data()
    X_b, y_b = small_classification
    model = LotteryTicketMLP(**FOUR_ROUNDS).fit(X_a, y_a)
    before, P_before = dict(vars(model)), model.predict_proba(X_a)
    if failure == "interrupt-in-round-0":
        fail_in_round(monkeypatch, 0, KeyboardInterrupt())
        error = KeyboardInterrupt
    elif failure == "nan-in-X":
        X_b = X_b.copy()
        X_b[3, 2] = np.nan
        error = ValueError
    else:
        fail_in_round(
            monkeypatch,
            2,
            TrainingDivergedError("Training diverged in round 2.", round_index=2),
        )
        error = TrainingDivergedError
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(error) as raised:
            model.fit(X_b, y_b)
    assert not [w for w in caught if "interrupted" in str(w.message)]
    assert vars(model).keys() == before.keys()
    assert all(vars(model)[k] is v for k, v in before.items())
    np.testing.assert_array_equal(model.predict_proba(X_a), P_before)
    np.testing.assert_array_equal(model.classes_, [0, 1])
    assert model.n_features_in_ == 20
    if failure == "diverged":
        kept = raised.value.estimator
        np.testing.assert_array_equal(kept.history_["round"], [0, 1])
        np.testing.assert_array_equal(kept.classes_, [0, 1, 2])
        assert kept.n_features_in_ == 8
        assert kept.predict(X_b).shape == y_b.shape


def test_an_interrupt_before_any_round_leaves_a_new_estimator_unfitted(
    small_classification, monkeypatch
):
    """Only its parameters: no fitted attribute, not even ``classes_``."""
    X, y = small_classification
    fail_in_round(monkeypatch, 0, KeyboardInterrupt())
    model = LotteryTicketMLP(**FOUR_ROUNDS)
    with pytest.raises(KeyboardInterrupt):
        model.fit(X, y)
    assert vars(model) == vars(LotteryTicketMLP(**FOUR_ROUNDS))
    with pytest.raises(NotFittedError):
        check_is_fitted(model)


# -- LotteryTicketMLPCV ------------------------------------------------------------

CV_PARAMS = dict(
    cv=3,
    max_rounds=2,
    score_tolerance=1.0,  # the sparsest level: the refit runs all rounds
    hidden_layer_sizes=(12,),
    max_iter=15,
    learning_rate_init=0.01,
    random_state=0,
)


def test_an_interrupt_during_the_folds_keeps_nothing(small_classification, monkeypatch):
    """Interrupted in the first fold (third round): propagates, unfitted."""
    X, y = small_classification
    calls = []
    real = imp.train_round

    def train_round(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(imp, "train_round", train_round)
    model = LotteryTicketMLPCV(**CV_PARAMS)
    with pytest.raises(KeyboardInterrupt), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y)
    assert len(calls) == 3
    assert vars(model) == vars(LotteryTicketMLPCV(**CV_PARAMS))


def test_an_interrupt_during_the_folds_claims_no_kept_round(
    small_classification, monkeypatch
):
    """No warning says a round is kept when the CV estimator keeps nothing."""
    X, y = small_classification
    fail_in_round(monkeypatch, 2, KeyboardInterrupt())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(KeyboardInterrupt):
            LotteryTicketMLPCV(**CV_PARAMS).fit(X, y)
    assert not [w for w in caught if "keeps round" in str(w.message)]


@pytest.mark.parametrize("round_to_fail", [0, 2])
def test_an_interrupt_during_the_refit_keeps_its_completed_rounds(
    small_classification, monkeypatch, round_to_fail
):
    """The refit keeps rounds 0-1 when interrupted in round 2 (the CV estimator
    copies them and predicts); interrupted in round 0 nothing is kept."""
    X, y = small_classification
    refitting = []
    real_fit = LotteryTicketMLP.fit

    def fit(self, *args, **kwargs):
        if not current_fit_scope().nested:  # the refit, not a fold
            refitting.append(self)
        return real_fit(self, *args, **kwargs)

    real = imp.train_round

    def train_round(*args, round_index, **kwargs):
        if refitting and round_index == round_to_fail:
            raise KeyboardInterrupt
        return real(*args, round_index=round_index, **kwargs)

    monkeypatch.setattr(LotteryTicketMLP, "fit", fit)
    monkeypatch.setattr(imp, "train_round", train_round)
    model = LotteryTicketMLPCV(**CV_PARAMS)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(KeyboardInterrupt):
            model.fit(X, y)
    assert len(refitting) == 1
    if round_to_fail == 0:
        assert vars(model) == vars(LotteryTicketMLPCV(**CV_PARAMS))
        return
    assert model.n_rounds_ == 2
    refit = model.best_estimator_
    np.testing.assert_array_equal(refit.history_["round"], [0, 1])
    assert model.coefs_ is refit.coefs_ and model.history_ is refit.history_
    assert model.ticket_ is refit.ticket_ and model.n_iter_ == refit.n_iter_
    np.testing.assert_array_equal(model.classes_, [0, 1, 2])
    assert (
        sum(W.nnz for W in model.coefs_) == model.history_["remaining_parameters"][-1]
    )
    np.testing.assert_array_equal(model.predict(X), refit.predict(X))
    assert any("keeps round 1," in str(w.message) for w in caught)


# -- SupermaskMLP ------------------------------------------------------------------

SUPERMASK_PARAMS = dict(
    hidden_layer_sizes=(16,), batch_size=40, max_iter=20, random_state=0
)


def _interrupt_loss_at(monkeypatch, call):
    """KeyboardInterrupt at the ``call``-th mini-batch (3 a epoch on 120 rows)."""
    real, calls = supermask.loss_value, []

    def loss_value(*args, **kwargs):
        calls.append(1)
        if len(calls) == call:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(supermask, "loss_value", loss_value)


def test_a_supermask_interrupted_after_three_epochs_keeps_their_masks(
    small_classification, monkeypatch
):
    """Interrupted at the first mini-batch of epoch 4: the masks of three
    epochs, those of an uninterrupted three-epoch fit, are kept."""
    X, y = small_classification
    three_epochs = SupermaskMLP(**{**SUPERMASK_PARAMS, "max_iter": 3}).fit(X, y)
    _interrupt_loss_at(monkeypatch, 10)
    model = SupermaskMLP(**SUPERMASK_PARAMS)
    with pytest.warns(UserWarning, match="keeps the masks learned in 3 epoch"):
        with pytest.raises(KeyboardInterrupt):
            model.fit(X, y)
    assert model.n_iter_ == 3 and len(model.loss_curve_) == 3
    for M, M_expected, W in zip(model.masks_, three_epochs.masks_, model.coefs_):
        np.testing.assert_array_equal(M.toarray(), M_expected.toarray())
        assert W.nnz == M.nnz
    assert model.sparsity_ == three_epochs.sparsity_
    np.testing.assert_array_equal(model.predict(X), three_epochs.predict(X))


@pytest.mark.parametrize("refit", [False, True], ids=["new", "refit"])
def test_a_supermask_interrupted_in_its_first_epoch_is_left_as_it_was(
    small_classification, monkeypatch, refit
):
    """Unfitted if it was; fitted on binary data, its attributes unchanged."""
    X, y = small_classification
    model = SupermaskMLP(**SUPERMASK_PARAMS)
    if refit:
        model.fit(X[:, :5], y == 0)
    before = dict(vars(model))
    _interrupt_loss_at(monkeypatch, 2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(KeyboardInterrupt):
            model.fit(X, y)
    assert not caught
    assert vars(model).keys() == before.keys()
    assert all(vars(model)[k] is v for k, v in before.items())
