"""The lottery-ticket picture: score against the weights that remain."""

from __future__ import annotations

import numpy as np
from sklearn.compose import TransformedTargetRegressor
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from ._cv import LotteryTicketMLPCV, LotteryTicketMLPRegressorCV
from ._mlp import LotteryTicketMLP, LotteryTicketMLPRegressor

# The searches the display plots, and the meta-estimators it looks through to
# find one (with the attribute that holds the fitted model they wrap).
_SEARCHES = (LotteryTicketMLP, LotteryTicketMLPRegressor)
_SEARCH_CVS = (
    GridSearchCV,
    RandomizedSearchCV,
    LotteryTicketMLPCV,
    LotteryTicketMLPRegressorCV,
)
# Marks the dense reference lines on an axes, so that a second display with
# the same dense score draws no copy of it (see ``plot``).
_DENSE_LINE_GID = "sklearn_lth.dense_score"


def check_matplotlib_support(caller: str) -> None:
    """Raise a clear ImportError when the optional matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            f"{caller} needs matplotlib: pip install 'sklearn-lth[plot]'."
        ) from exc


def _describe(path: list) -> str:
    """``Pipeline > LotteryTicketMLP``: the objects walked through, by class."""
    return " > ".join(
        repr(step) if isinstance(step, str) else type(step).__name__ for step in path
    )


def fitted_search(estimator, caller: str):
    """The fitted lottery-ticket search that ``estimator`` is or wraps.

    Looks through a Pipeline (its last step), a TransformedTargetRegressor
    (its fitted ``regressor_``) and a search such as GridSearchCV or
    LotteryTicketMLPCV (its ``best_estimator_``), nested in any order.

    Raises
    ------
    TypeError
        When what it finds is not a LotteryTicketMLP or
        LotteryTicketMLPRegressor.
    NotFittedError
        When that search, or a wrapper around it, is not fitted.
    """
    path = [estimator]
    inner = estimator
    while True:
        if isinstance(inner, Pipeline):
            attribute = None
            inner = inner.steps[-1][1]
        elif isinstance(inner, TransformedTargetRegressor):
            attribute = "regressor_"
        elif isinstance(inner, _SEARCH_CVS) or hasattr(inner, "best_estimator_"):
            attribute = "best_estimator_"
        else:
            break
        if attribute is not None:
            if not hasattr(inner, attribute):
                # Unfitted, the wrapper holds only a template of the model it
                # will fit: neither its type nor its state is the fitted one.
                hint = " with refit=True" if attribute == "best_estimator_" else ""
                raise NotFittedError(
                    f"{caller} needs a fitted model: this {_describe(path)} has no "
                    f"{attribute}; call fit{hint} first."
                )
            inner = getattr(inner, attribute)
        path.append(inner)
    if not isinstance(inner, _SEARCHES):
        raise TypeError(
            f"{caller} plots a LotteryTicketMLP or LotteryTicketMLPRegressor, alone "
            "or wrapped in a Pipeline (as its last step), a "
            "TransformedTargetRegressor or a search (GridSearchCV, "
            f"LotteryTicketMLPCV, ...); got {_describe(path)}."
        )
    try:
        check_is_fitted(inner)
    except NotFittedError as exc:
        raise NotFittedError(
            f"{caller} needs a fitted model: this {_describe(path)} is not fitted "
            "yet; call fit first."
        ) from exc
    return inner


def _axis_label(column: str) -> str:
    """``train_score`` -> ``training score``: a round-table column in words."""
    words = column.split("_")
    if words[0] == "train":
        words[0] = "training"
    return " ".join(words)


class LotteryTicketDisplay:
    """Score against the fraction of weights remaining, as in the paper.

    The x axis shows the percentage of weights remaining on a log scale, 100%
    on the left; one line per search, a band for the spread over seeds when
    several were run, and the dense network's score as a reference line. Build
    it with :meth:`from_estimator`, or directly from numbers (for example test
    scores computed per round); ``plot`` can be called again on other axes.

    Several displays drawn on one axes share their dense reference line when
    their dense scores are equal (searches that differ only after round 0,
    such as ``rewind="init"`` against ``rewind="reinit"``): it is drawn once,
    in grey, with the legend entry "dense".

    Parameters
    ----------
    remaining : array-like of float
        Percentage of the weights remaining at each round.
    scores : array-like of float
        The score at each round (the mean over seeds when several).
    dense_score : float, default=None
        The dense network's score, drawn as a horizontal reference line.
    spread : tuple of two array-likes, default=None
        Lower and upper ends of the band per round (over seeds).
    name : str, default=None
        The line's label.
    score_name : str, default="score"
        The y axis label.

    Attributes
    ----------
    line_ : matplotlib Line2D
        The score line.
    band_ : matplotlib PolyCollection or None
        The spread band.
    dense_line_ : matplotlib Line2D or None
        The dense reference line (possibly shared with another display on the
        same axes).
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn_lth import LotteryTicketDisplay, LotteryTicketMLP
    >>> X, y = load_digits(return_X_y=True)
    >>> X = StandardScaler().fit_transform(X)
    >>> clf = LotteryTicketMLP(hidden_layer_sizes=(16,), pruning_rounds=2,
    ...                        max_iter=20, n_seeds=2, random_state=0).fit(X, y)
    >>> display = LotteryTicketDisplay.from_estimator(clf, name="rewind=init")
    >>> display.line_.get_label()
    'rewind=init'
    >>> [round(float(x), 1) for x in display.line_.get_xdata()]
    [100.0, 44.8, 20.0]
    """

    def __init__(
        self,
        *,
        remaining,
        scores,
        dense_score=None,
        spread=None,
        name=None,
        score_name="score",
    ):
        self.remaining = np.asarray(remaining, dtype=float)
        self.scores = np.asarray(scores, dtype=float)
        self.dense_score = dense_score
        self.spread = spread
        self.name = name
        self.score_name = score_name

    @classmethod
    def from_estimator(
        cls, estimator, *, score="validation_score", name=None, ax=None, **kwargs
    ):
        """Plot a fitted search's round table.

        The default plots the validation score of every round: accuracy (R²
        for a regressor) on the ``validation_fraction`` of the training data
        that the search holds out, with ``early_stopping=True`` or
        ``n_seeds > 1`` (the best epoch's score with early stopping, else the
        last epoch's). A search without that split has no validation score;
        then the score on the training data is plotted, and the y axis says
        "training score". With several seeds the line is their mean and the
        band spans them.

        Parameters
        ----------
        estimator : fitted LotteryTicketMLP or LotteryTicketMLPRegressor
            Or a fitted meta-estimator around one: a Pipeline whose last step
            it is, a TransformedTargetRegressor, or a search (GridSearchCV,
            LotteryTicketMLPCV, ...), whose ``best_estimator_`` is plotted.
        score : str, default="validation_score"
            The column of the round table (``seeds_history_``) to plot, for
            example ``"train_score"``. The default falls back to
            ``"train_score"`` when there is no validation split; any other
            column must exist.
        name : str, default=None
            The line's label (default: the estimator's ``rewind`` strategy).
        ax : matplotlib Axes, default=None
        **kwargs
            Passed to ``ax.plot``.

        Returns
        -------
        LotteryTicketDisplay

        Raises
        ------
        TypeError
            When ``estimator`` is neither a lottery-ticket search nor a
            meta-estimator around one.
        sklearn.exceptions.NotFittedError
            When the search, or the meta-estimator around it, is not fitted.
        ValueError
            When ``score`` is not a column of the round table.

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> from sklearn.datasets import load_digits
        >>> from sklearn.pipeline import make_pipeline
        >>> from sklearn.preprocessing import StandardScaler
        >>> from sklearn_lth import LotteryTicketDisplay, LotteryTicketMLP
        >>> X, y = load_digits(return_X_y=True)
        >>> pipeline = make_pipeline(
        ...     StandardScaler(),
        ...     LotteryTicketMLP(hidden_layer_sizes=(16,), pruning_rounds=2,
        ...                      max_iter=20, random_state=0),
        ... ).fit(X, y)
        >>> display = LotteryTicketDisplay.from_estimator(pipeline)
        >>> display.ax_.get_ylabel()  # one seed, no early stopping: no split
        'training score'
        """
        caller = f"{cls.__name__}.from_estimator"
        check_matplotlib_support(caller)
        search = fitted_search(estimator, caller)
        # One row per seed and round (one seed: the round table itself).
        table = search.seeds_history_
        if score not in table:
            if score != "validation_score":
                raise ValueError(
                    f"score={score!r} is not a column of the round table; its "
                    f"columns are {', '.join(map(repr, table))}."
                )
            # No validation split: the training score it is, and the y axis
            # label says so.
            score = "train_score"
        rounds = np.unique(table["round"])
        by_round = [table[score][table["round"] == r] for r in rounds]
        remaining = [
            100 * (1 - table["sparsity"][table["round"] == r][0]) for r in rounds
        ]
        means = np.array([values.mean() for values in by_round])
        spread = None
        if len(by_round[0]) > 1:
            spread = (
                np.array([values.min() for values in by_round]),
                np.array([values.max() for values in by_round]),
            )
        display = cls(
            remaining=remaining,
            scores=means,
            dense_score=means[0],  # round 0 trains the dense network
            spread=spread,
            name=f"rewind={search.rewind!r}" if name is None else name,
            score_name=_axis_label(score),
        )
        return display.plot(ax=ax, **kwargs)

    def plot(self, ax=None, *, name=None, **kwargs):
        """Draw on ``ax`` (a new figure when None).

        Parameters
        ----------
        ax : matplotlib Axes, default=None
        name : str, default=None
            Overrides the line's label.
        **kwargs
            Passed to ``ax.plot``.

        Returns
        -------
        LotteryTicketDisplay
            ``self``, with the artists set.
        """
        check_matplotlib_support(f"{type(self).__name__}.plot")
        import matplotlib.pyplot as plt

        # Checked here, with the names of the arguments, rather than left to
        # matplotlib's less telling errors.
        n_points = np.shape(self.remaining)
        if np.shape(self.scores) != n_points or len(n_points) != 1:
            raise ValueError(
                "remaining and scores must be 1-d and of the same length, got "
                f"shapes {np.shape(self.remaining)} and {np.shape(self.scores)}."
            )
        if self.spread is not None and np.shape(self.spread) != (2, *n_points):
            raise ValueError(
                "spread must be (lower, upper) with one value per point, got "
                f"shape {np.shape(self.spread)}."
            )

        if ax is None:
            _, ax = plt.subplots()
        label = self.name if name is None else name
        # A marker at every round unless the caller chooses another.
        line_kwargs = {"marker": "o", **kwargs}
        (self.line_,) = ax.plot(self.remaining, self.scores, label=label, **line_kwargs)
        self.band_ = None
        if self.spread is not None:
            self.band_ = ax.fill_between(
                self.remaining,
                *self.spread,
                alpha=0.2,
                color=self.line_.get_color(),
            )
        self.dense_line_ = None
        if self.dense_score is not None:
            self.dense_line_ = self._shared_dense_line(ax)
        if self.dense_score is not None and self.dense_line_ is None:
            self.dense_line_ = ax.axhline(
                self.dense_score,
                linestyle="--",
                color=self.line_.get_color(),
                alpha=0.6,
                label=None if label is None else f"{label}, dense",
                gid=_DENSE_LINE_GID,
            )
        ax.set_xscale("log")
        # 100% on the left. Axes a previous plot drew on are inverted
        # already: inverting them again would undo it.
        if not ax.xaxis_inverted():
            ax.invert_xaxis()
        from matplotlib.ticker import FixedLocator, NullLocator, StrMethodFormatter

        # Round percentages rather than powers of ten, down to just below the
        # sparsest point of every line on the axes, not only this one's: a
        # shorter search drawn after a longer one keeps the longer one's ticks.
        sparsest = min(self.remaining.min(), *ax.dataLim.intervalx)
        ticks = [
            t for t in (100, 50, 20, 10, 5, 2, 1, 0.5, 0.2, 0.1) if t >= 0.8 * sparsest
        ]
        ax.xaxis.set_major_locator(FixedLocator(ticks))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_major_formatter(StrMethodFormatter("{x:g}"))
        ax.set_xlabel("weights remaining (%)")
        ax.set_ylabel(self.score_name)
        if label is not None:
            ax.legend()
        self.ax_, self.figure_ = ax, ax.figure
        return self

    def _shared_dense_line(self, ax):
        """The dense line already on ``ax`` at this dense score, made shared.

        Searches that share round 0 have the same dense network: one line,
        grey and labelled "dense" once it stands for several, rather than
        copies of it on top of one another, one legend entry each.
        """
        for line in ax.get_lines():
            if line.get_gid() == _DENSE_LINE_GID and float(
                line.get_ydata()[0]
            ) == float(self.dense_score):
                line.set_color("0.4")
                # A line without a legend entry (its label starts with "_")
                # stays without one.
                if not line.get_label().startswith("_"):
                    line.set_label("dense")
                return line
        return None
