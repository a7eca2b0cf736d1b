"""Helpers shared by several test modules."""

import builtins
import pickle
import re

import sklearn_lth._search._loop as loop

#: A three-round search of a small network, for tests of what a fitted
#: estimator holds and does.
FAST = dict(
    hidden_layer_sizes=(12, 6),
    max_iter=30,
    learning_rate_init=0.01,
    random_state=0,
    target_sparsity=0.8,
    pruning_rounds=3,
)

#: A search of four rounds on small data, fast enough to run many times: the
#: search the checkpoint and interrupt tests stop, resume and compare.
FOUR_ROUNDS = dict(
    hidden_layer_sizes=(12, 6),
    max_iter=15,
    learning_rate_init=0.01,
    target_sparsity=0.8,
    pruning_rounds=4,
    random_state=0,
)


def returns_of(monkeypatch, owner, name: str) -> list:
    """Let ``owner.name`` run as it does, recording what each call returns.

    The list fills as the code under test calls it (a spy).
    """
    real = getattr(owner, name)
    returned = []

    def spy(*args, **kwargs):
        returned.append(real(*args, **kwargs))
        return returned[-1]

    monkeypatch.setattr(owner, name, spy)
    return returned


#: How each step of the loop that a fault is injected into tells its round.
ROUND_OF = {
    "train_round": lambda args, kwargs: kwargs["round_index"],
    "train_round_lbfgs": lambda args, kwargs: kwargs["round_index"],
    # _prune_and_rewind(state, plan, round_index, ...)
    "_prune_and_rewind": lambda args, kwargs: args[2],
    # _record(state, result, round_index, ...)
    "_record": lambda args, kwargs: args[2],
}


def fail_in_round(
    monkeypatch, round_to_fail, error, *, step="train_round", after=False
):
    """Make the search raise ``error`` in round ``round_to_fail``, at ``step``.

    ``step`` is one of the loop's steps (:data:`ROUND_OF`); with ``after`` the
    real step runs first, so its changes to the search are made. The one
    fault injector of the tests: ``monkeypatch`` is pytest's fixture (or one
    of its contexts), and the real step comes back when it is undone.
    """
    real = getattr(loop, step)

    def failing(*args, **kwargs):
        if ROUND_OF[step](args, kwargs) != round_to_fail:
            return real(*args, **kwargs)
        if after:
            real(*args, **kwargs)
        raise error

    monkeypatch.setattr(loop, step, failing)


def no_training(monkeypatch, why: str = "no round should train") -> None:
    """Make any round's training fail the test: what is checked (a refused
    checkpoint, a bad argument) must stop the fit before it trains."""

    def train(*args, **kwargs):
        raise AssertionError(why)

    monkeypatch.setattr(loop, "train_round", train)
    monkeypatch.setattr(loop, "train_round_lbfgs", train)


# -- the command line ------------------------------------------------------------
#: What an earlier model's file starts with: a pickle (protocol 5).
OLDER_MODEL = pickle.dumps("an older model", protocol=5)


def error_line(capsys) -> str:
    """The one line a command-line mistake leaves on stderr (no traceback)."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def table_rows(output: str) -> list[list[str]]:
    """The cells of each row of the command line's round table."""
    return [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in output.splitlines()
        if re.match(r"\|\s+\d+ \|", line)
    ]


def hide_pandas(monkeypatch) -> None:
    """Make ``import pandas`` fail, as on a machine without it (modules that
    imported it already keep it: scikit-learn still sees ``sys.modules``)."""
    real_import = builtins.__import__

    def import_without_pandas(name, *args, **kwargs):
        if name == "pandas":
            raise ImportError("No module named 'pandas'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", import_without_pandas)
