"""Helpers shared by several test modules."""

import sklearn_lth._imp as imp


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
