"""The lottery-ticket picture: score against the weights that remain."""

from __future__ import annotations

import numpy as np
from sklearn.utils.validation import check_is_fitted


def check_matplotlib_support(caller: str) -> None:
    """Raise a clear ImportError when the optional matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            f"{caller} needs matplotlib: pip install 'sklearn-lth[plot]'."
        ) from exc


class LotteryTicketDisplay:
    """Score against the fraction of weights remaining, as in the paper.

    The x axis shows the percentage of weights remaining on a log scale, 100%
    on the left; one line per search, a band for the spread over seeds when
    several were run, and the dense network's score as a reference line. Build
    it with :meth:`from_estimator`, or directly from numbers (for example test
    scores computed per round); ``plot`` can be called again on other axes.

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
        The dense reference line.
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

        Parameters
        ----------
        estimator : fitted LotteryTicketMLP or LotteryTicketMLPRegressor
        score : str, default="validation_score"
            The ``history_`` column to plot; falls back to ``"train_score"``
            when there is no validation split.
        name : str, default=None
            The line's label (default: the estimator's ``rewind`` strategy).
        ax : matplotlib Axes, default=None
        **kwargs
            Passed to ``ax.plot``.

        Returns
        -------
        LotteryTicketDisplay
        """
        check_matplotlib_support(f"{cls.__name__}.from_estimator")
        check_is_fitted(estimator)
        # One row per seed and round (one seed: the round table itself).
        table = estimator.seeds_history_
        if score not in table:
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
            name=f"rewind={estimator.rewind!r}" if name is None else name,
            score_name=score.replace("_", " "),
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
        (self.line_,) = ax.plot(
            self.remaining, self.scores, marker="o", label=label, **kwargs
        )
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
            self.dense_line_ = ax.axhline(
                self.dense_score,
                linestyle="--",
                color=self.line_.get_color(),
                alpha=0.6,
                label=None if label is None else f"{label}, dense",
            )
        ax.set_xscale("log")
        # 100% on the left. Axes a previous plot drew on are inverted
        # already: inverting them again would undo it.
        if not ax.xaxis_inverted():
            ax.invert_xaxis()
        from matplotlib.ticker import FixedLocator, NullLocator, StrMethodFormatter

        # Round percentages rather than powers of ten, down to just below the
        # sparsest point.
        ticks = [
            t
            for t in (100, 50, 20, 10, 5, 2, 1, 0.5, 0.2, 0.1)
            if t >= 0.8 * self.remaining.min()
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
