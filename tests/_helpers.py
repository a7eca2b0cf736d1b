"""Helpers shared by several test modules."""

import builtins
import pickle
import re

import sklearn_lth._search._loop as imp


def fail_in_round(monkeypatch, round_to_fail, error):
    """Make the search raise ``error`` when it starts training ``round_to_fail``.

    ``monkeypatch`` is pytest's fixture (or one of its contexts): the real
    ``train_round`` comes back when it is undone.
    """
    real = imp.train_round

    def train_round(*args, round_index, **kwargs):
        if round_index == round_to_fail:
            raise error
        return real(*args, round_index=round_index, **kwargs)

    monkeypatch.setattr(imp, "train_round", train_round)


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
