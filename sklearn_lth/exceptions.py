"""The errors and warnings that sklearn-lth raises and users catch.

All of them are also importable from :mod:`sklearn_lth` itself.
"""

from __future__ import annotations

__all__ = ["CheckpointError", "TrainingDivergedError"]


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: damaged, crafted, or another run's.

    Raised by ``fit`` with a ``checkpoint_dir``, before any training, when a
    file in the search's folder is not a regular file, is truncated,
    corrupted or too large, or holds a state that does not belong to this
    search: every value read back is checked against the estimator's
    parameters, the data and the file's other values, and the message names
    the file, the field and what was expected. Nothing is read into memory
    before its size has been checked. Delete the folder named in the message
    (or choose another ``checkpoint_dir``) to start the search over.

    Also raised when the search folder or its lock is a symbolic link (links
    inside ``checkpoint_dir`` are never followed to write or delete), and
    when the folder is read-only and the search would have to write to it
    (a finished search is read from a read-only folder). The estimator is
    left as it was before ``fit``.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from sklearn.datasets import load_iris
    >>> from sklearn_lth import LotteryTicketMLP
    >>> from sklearn_lth.exceptions import CheckpointError
    >>> X, y = load_iris(return_X_y=True)
    >>> params = dict(hidden_layer_sizes=(8,), pruning_rounds=2, max_iter=5,
    ...               random_state=0)
    >>> with tempfile.TemporaryDirectory() as directory:
    ...     _ = LotteryTicketMLP(**params, checkpoint_dir=directory).fit(X, y)
    ...     (state,) = Path(directory).glob("search-*/imp_state.npz")
    ...     _ = state.write_bytes(b"not a checkpoint")
    ...     try:
    ...         LotteryTicketMLP(**params, checkpoint_dir=directory).fit(X, y)
    ...     except CheckpointError as error:
    ...         print("corrupted" in str(error))
    True
    """


class TrainingDivergedError(ValueError):
    """Raised when training fails: the loss diverges or nothing is learned.

    A round has diverged when its training loss stops being a finite number,
    when it ends more than ten times above both its starting loss and the
    loss of a constant prediction, or when it ends more than 10% above both
    of them with a training score no better than chance. The message names
    the round (and the epoch, for a non-finite loss) and suggests a remedy.

    The estimator that ``fit`` was called on is left as it was before the
    call. The rounds completed before the failure are not lost: they are in
    :attr:`estimator`.

    Parameters
    ----------
    message : str
        What diverged, where, and what to try.
    round_index : int, default=None
        The round that diverged.
    estimator : estimator, default=None
        A copy of the estimator fitted at the last completed round, or None
        when no round completed.

    Attributes
    ----------
    round_index : int or None
        The round that diverged.
    estimator : estimator or None
        The estimator fitted at the last completed round (None when the dense
        round 0 diverged).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lth import LotteryTicketMLPRegressor
    >>> from sklearn_lth.exceptions import TrainingDivergedError
    >>> X = np.random.RandomState(0).normal(size=(50, 3)) * 1e3
    >>> reg = LotteryTicketMLPRegressor(solver="sgd", learning_rate_init=10.0,
    ...                                 random_state=0)
    >>> try:
    ...     reg.fit(X, X[:, 0] * 1e3)
    ... except TrainingDivergedError as error:
    ...     print(str(error).split(":")[0], error.estimator)
    Training diverged in round 0, epoch 4 None
    """

    def __init__(self, message: str, *, round_index=None, estimator=None):
        super().__init__(message)
        self.round_index = round_index
        self.estimator = estimator
