"""The paper's experiment in one call: held-out score against weights remaining.

:func:`sparsity_curve` runs, for several seeds, a lottery-ticket search and
its controls, scores every round on held-out data, and returns arrays in the
style of scikit-learn's ``validation_curve``; :class:`SparsityCurveDisplay`
draws them as Frankle & Carbin's Figure 1 (mean and spread per arm against
the weights remaining on a log axis, the early-stopping iteration beside).

The arms:

- ``"ticket"``: the estimator's search as configured;
- ``"reinit"``: the same search with ``rewind="reinit"``, each round's mask
  trained from fresh random weights (the paper's random re-initialisation);
- ``"random"``: ``pruning_criterion="random"``, each round's mask drawn at
  random at the same counts (the paper's random pruning);
- ``"shuffle"``: each round of the ticket arm's masks with its kept
  positions drawn anew within each layer, trained alone from the seed's
  initial weights at the new positions (the sanity check of Frankle et al.,
  2021: it keeps only the per-layer densities).
"""

from __future__ import annotations

import copy
import os
import warnings
from collections.abc import Mapping
from numbers import Integral

import numpy as np
import scipy.sparse as sp
from joblib import Parallel, delayed, effective_n_jobs
from sklearn.base import clone, is_classifier
from sklearn.metrics import check_scoring
from sklearn.model_selection import check_cv
from sklearn.pipeline import Pipeline
from sklearn.utils import Bunch, check_random_state
from threadpoolctl import threadpool_limits

from ._compat import safe_indexing
from ._config import config_context, get_config
from ._diagnostics import TICKET_IGNORES
from ._display import check_matplotlib_support
from ._instability import _initial
from ._interrupt import StopFlag, nested_fit
from ._mlp import LotteryTicketMLP, LotteryTicketMLPRegressor
from ._ticket import LotteryTicket

ARMS = ("ticket", "reinit", "random", "shuffle")
_CONTROL_PARAMS = {
    "reinit": {"rewind": "reinit"},
    "random": {"pruning_criterion": "random"},
}


def sparsity_curve(
    estimator,
    X,
    y,
    *,
    X_test=None,
    y_test=None,
    cv=None,
    controls=("reinit", "random"),
    n_seeds: int = 5,
    scoring=None,
    n_jobs=None,
    random_state=None,
) -> Bunch:
    """Held-out score of every round of a search and its controls, per seed.

    Parameters
    ----------
    estimator : LotteryTicketMLP, LotteryTicketMLPRegressor or Pipeline
        The search to run (cloned, never fitted itself); a Pipeline's last
        step must be one of ours. Its ``random_state`` is replaced by each
        seed's, its ``n_seeds`` by 1.
    X, y : array-like
        Training data. The searches never see the held-out rows, neither to
        train nor to stop early.
    X_test, y_test : array-like, default=None
        Held-out data every round is scored on. When None, ``cv`` splits
        ``X, y`` and the scores are the mean over its folds.
    cv : int, cross-validation generator or iterable, default=None
        As in ``validation_curve`` (5-fold when None, stratified for a
        classifier); used only when ``X_test`` is None.
    controls : tuple of str, default=("reinit", "random")
        The control arms beside the ticket: any of ``"reinit"``,
        ``"random"`` and ``"shuffle"`` (see the module's description).
    n_seeds : int, default=5
        Independent searches per arm, each with its own seed.
    scoring : str or callable, default=None
        A scikit-learn scorer; the estimator's ``score`` when None.
    n_jobs : int, default=None
        Searches run in parallel with joblib: first the dense round 0 of
        each seed and fold, then each arm's later rounds, going on from it
        with ``warm_start`` (the same rounds as searches from scratch), as a
        task of its own (when there are more dense rounds than workers, a
        few arms go on in their dense round's task, so that the others
        fill whole waves of workers). Every task runs in the
        caller's configuration
        (:func:`~sklearn_lth.config_context`) on one BLAS thread: the
        results do not depend on ``n_jobs``.
    random_state : int, RandomState or None, default=None
        Draws the seeds.

    Returns
    -------
    Bunch
        ``weights_remaining``, the fraction of weights each round keeps,
        shape (n_rounds + 1,); ``scores`` and ``early_stop_iteration``, dicts
        from arm name (``"ticket"`` and each control) to arrays of shape
        (n_seeds, n_rounds + 1): the held-out score, and the optimizer step
        at the epoch of minimum validation loss (NaN unless the estimator
        holds out validation rows, ``early_stopping=True``); ``seeds``, the
        seed of each row.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn_lth import LotteryTicketMLP, sparsity_curve
    >>> X, y = load_iris(return_X_y=True)
    >>> search = make_pipeline(StandardScaler(), LotteryTicketMLP(
    ...     (8,), target_sparsity=0.8, pruning_rounds=2, batch_size=32))
    >>> curve = sparsity_curve(search, X, y, cv=2, n_seeds=2, random_state=0)
    >>> curve.weights_remaining.round(3).tolist()
    [1.0, 0.446, 0.196]
    >>> sorted(curve.scores), curve.scores["ticket"].shape
    (['random', 'reinit', 'ticket'], (2, 3))
    >>> last = {arm: scores[:, -1].mean() for arm, scores in curve.scores.items()}
    >>> bool(last["ticket"] > last["random"])
    True
    """
    search = _last_step(estimator)
    if search.ticket is not None or search.target_sparsity == 0:
        raise ValueError(
            "sparsity_curve compares the rounds of a pruning search: give an "
            "estimator with target_sparsity > 0 and no ticket (this one "
            + (
                "trains the ticket it was given"
                if search.ticket is not None
                else "has target_sparsity=0"
            )
            + ")."
        )
    arms = _check_arms(controls)
    if not isinstance(n_seeds, Integral) or isinstance(n_seeds, bool) or n_seeds < 1:
        raise ValueError(f"n_seeds must be a positive integer, got {n_seeds!r}.")
    if (X_test is None) != (y_test is None):
        raise ValueError(
            "X_test and y_test go together: give both (a test set) or neither "
            "(cross-validation with cv)."
        )
    seeds = check_random_state(random_state).randint(
        np.iinfo(np.int32).max, size=n_seeds
    )
    if X_test is not None:
        splits = [None]
    else:
        cv = check_cv(cv, y, classifier=is_classifier(search))
        splits = list(cv.split(X, y))
    data = (X, y, X_test, y_test)
    tasks = [(seed, split) for seed in seeds for split in splits]
    # Our configuration (the kernel path, BLAS threads) and the warning
    # filters, which a joblib worker does not inherit: every task runs in the
    # caller's (see _configured).
    caller = (get_config(), list(warnings.filters), os.getpid())
    searched = [arm for arm in arms if arm != "shuffle"]
    # Random pruning's arms first: they keep each layer at the round's
    # density, where a magnitude ticket's largest layer keeps less, so they
    # take longest; the workers then end on the shorter tasks.
    order = sorted(
        ((t, arm) for t in range(len(tasks)) for arm in searched),
        key=lambda task: task[1] != "random",
    )
    carried = _carried_arms(order, len(tasks), effective_n_jobs(n_jobs))
    with Parallel(n_jobs=n_jobs) as parallel:
        # Round 0, the dense network, is the same in every arm of a seed and
        # split: trained and scored once each. Every arm then goes on from it
        # with warm_start (the same rounds as a search from scratch, bit for
        # bit) as a task of its own: tasks of about equal size keep n_jobs
        # workers busy to the end (5 seeds' three arms as 5 tasks left a
        # worker idle for a third of the curve on 2 cores). The carried arms
        # go on in the dense round's own task (see _carried_arms).
        starts = sorted(range(len(tasks)), key=lambda t: t not in carried)
        first = parallel(
            delayed(_configured)(
                caller,
                _dense_round,
                estimator,
                data,
                tasks[t][1],
                tasks[t][0],
                scoring,
                carried.get(t),
            )
            for t in starts
        )
        dense = {t: (model, lists) for t, (model, lists, _) in zip(starts, first)}
        rounds = {
            (t, carried[t]): later
            for t, (_, _, later) in zip(starts, first)
            if t in carried
        }
        rest = [task for task in order if task not in rounds]
        later = parallel(
            delayed(_configured)(
                caller,
                _later_rounds,
                dense[t][0],
                data,
                tasks[t][1],
                arm,
                estimator,
                scoring,
            )
            for t, arm in rest
        )
        rounds.update(zip(rest, later))
        results = [
            {
                arm: tuple(a + b for a, b in zip(dense[t][1], rounds[t, arm]))
                for arm in searched
            }
            for t in range(len(tasks))
        ]
        if "shuffle" in arms:
            shuffled = parallel(
                delayed(_configured)(
                    caller,
                    _shuffled_arm,
                    estimator,
                    data,
                    split,
                    seed,
                    scoring,
                    result["ticket"],
                )
                for (seed, split), result in zip(tasks, results)
            )
            for result, arm in zip(results, shuffled):
                result["shuffle"] = arm
    return _collect(results, arms, seeds, len(splits))


def _last_step(estimator):
    """Our search, ``estimator`` itself or a Pipeline's last step."""
    search = estimator.steps[-1][1] if isinstance(estimator, Pipeline) else estimator
    if not isinstance(search, LotteryTicketMLP | LotteryTicketMLPRegressor):
        raise TypeError(
            "sparsity_curve runs a LotteryTicketMLP or LotteryTicketMLPRegressor "
            f"(or a Pipeline ending in one), not {type(search).__name__}."
        )
    return search


def _check_arms(controls) -> tuple[str, ...]:
    if controls is None:
        controls = ()
    if isinstance(controls, str):
        controls = (controls,)
    unknown = [c for c in controls if c not in ARMS[1:]]
    if unknown:
        raise ValueError(
            f"Unknown control {unknown[0]!r}; the controls are {list(ARMS[1:])}."
        )
    return ("ticket", *dict.fromkeys(controls))


def _with_params(estimator, **params):
    """A clone of ``estimator`` with its search's ``params`` set.

    With no checkpoints: rounds read back from one would not be scored
    (``on_round_end`` sees the rounds a fit trains).
    """
    return _set_search_params(clone(estimator), checkpoint_dir=None, **params)


def _set_search_params(estimator, **params):
    """``estimator`` (ours or a Pipeline ending in ours) with ``params`` set
    on the search."""
    if isinstance(estimator, Pipeline):
        name = estimator.steps[-1][0]
        params = {f"{name}__{key}": value for key, value in params.items()}
    return estimator.set_params(**params)


def _fit_params(estimator, callback) -> dict:
    if isinstance(estimator, Pipeline):
        return {f"{estimator.steps[-1][0]}__on_round_end": callback}
    return {"on_round_end": callback}


def _configured(caller: tuple, task, *args):
    """``task(*args)`` under the caller's configuration, on one BLAS thread
    whatever ``n_jobs`` (as the seeds of a search: a BLAS may split its sums
    differently with its threads, and the curve would then depend on
    ``n_jobs``), and in another process under the caller's warning filters
    (a thread shares them already: setting them there would change the
    caller's). Its fits are nested, as a CV estimator's folds: they do not
    judge their rounds' scores (the curve reports every round, and its
    controls fall below round 0 on purpose) nor say what an interrupt keeps."""
    config, filters, pid = caller
    with (
        nested_fit(StopFlag()),
        config_context(**config),
        threadpool_limits(limits=1, user_api="blas"),
    ):
        if os.getpid() == pid:
            return task(*args)
        with warnings.catch_warnings():
            warnings.filters = filters
            return task(*args)


def _held_out(data, split):
    """``X, y, X_test, y_test``: the data as given, or one split of ``X, y``."""
    if split is None:
        return data
    X, y = data[:2]
    train, test = split
    return (
        safe_indexing(X, train),
        safe_indexing(y, train),
        safe_indexing(X, test),
        safe_indexing(y, test),
    )


def _dense_round(estimator, data, split, seed, scoring, arm=None):
    """The dense round 0 of one seed on one split, scored: the fitted search
    (every arm goes on from it) and its per-round lists; with ``arm``, that
    arm's later rounds too (from a copy: the fitted round stays as it was)."""
    X, y, X_test, y_test = _held_out(data, split)
    dense = _with_params(
        estimator, random_state=seed, n_seeds=1, target_sparsity=0.0, warm_start=False
    )
    first = _scored_search(dense, X, y, X_test, y_test, scoring)
    if arm is None:
        return dense, first, None
    return dense, first, _later_rounds(dense, data, split, arm, estimator, scoring)


def _carried_arms(order, n_tasks: int, n_workers: int) -> dict[int, str]:
    """The arms whose later rounds run in their dense round's task, by task.

    The later rounds are ``len(order)`` tasks of about equal length, much
    longer than a dense round: when they are not a whole number of waves of
    ``n_workers``, the last wave leaves workers idle for a whole arm however
    they are dispatched. Run that many arms (the first of ``order``, each
    of another task: seed and split) in the first pass instead, beside the
    other dense rounds: the later rounds are then whole waves, and the
    first pass takes about one dense round and one arm, where it took a
    dense round per wave of ``n_workers`` dense rounds (5 dense rounds on 2
    workers: 3). Only when there are more dense rounds than workers:
    otherwise the first pass would grow by an arm and save nothing.
    """
    extra = len(order) % n_workers
    if n_tasks <= n_workers or extra == 0:
        return {}
    carried = {}
    for t, arm in order:
        if len(carried) == extra:
            break
        carried.setdefault(t, arm)
    return carried


def _later_rounds(dense, data, split, arm, estimator, scoring):
    """Rounds 1 onwards of ``arm``, going on from the fitted dense round:
    per round, scores, early-stopping iterations, weights remaining and
    kept weights per layer."""
    X, y, X_test, y_test = _held_out(data, split)
    # A copy: run in this process (n_jobs=None), every arm is handed the
    # same fitted dense round.
    model = _set_search_params(
        copy.deepcopy(dense),
        warm_start=True,
        target_sparsity=_last_step(estimator).target_sparsity,
        **_CONTROL_PARAMS.get(arm, {}),
    )
    return _scored_search(model, X, y, X_test, y_test, scoring)


def _scored_search(model, X, y, X_test, y_test, scoring):
    """Fit ``model``, scoring each round on the held-out rows as it ends."""
    scores, early, remaining, kept = [], [], [], []
    held_out = {}

    def score_round(record, round_model):
        if "X" not in held_out:
            # A Pipeline's steps before ours are fitted by now.
            Xt = X_test
            if isinstance(model, Pipeline):
                Xt = model[:-1].transform(X_test)
            held_out["X"] = Xt
        scorer = check_scoring(round_model, scoring=scoring)
        scores.append(scorer(round_model, held_out["X"], y_test))
        early.append(record.get("min_validation_loss_iteration", np.nan))
        remaining.append(1.0 - record["sparsity"])
        kept.append([W.nnz for W in round_model.coefs_])

    model.fit(X, y, **_fit_params(model, score_round))
    return scores, early, remaining, kept


def _shuffled_arm(estimator, data, split, seed, scoring, ticket_arm):
    """Each round of the ticket arm's masks with its kept positions drawn
    anew within each layer (the same count per layer), trained alone from
    the seed's initial weights at those positions; round 0 is the dense
    network, as in the ticket arm."""
    X, y, X_test, y_test = _held_out(data, split)
    scores, early, remaining, kept = ticket_arm
    search = _last_step(estimator)
    X_search = X
    if isinstance(estimator, Pipeline):
        X_search = clone(estimator[:-1]).fit_transform(X, y)
    initial = _initial(_with_params(search, random_state=seed), X_search, y, seed)
    # The search's own parameters at their defaults: a model given a ticket
    # ignores them, and would say so to the user every round.
    defaults = type(search)().get_params()
    search_only = {
        name: defaults[name] for name in ("target_sparsity", *TICKET_IGNORES)
    }
    dense = [W.toarray() for W in initial.weights]
    rng = np.random.RandomState(seed)
    shuffled_scores, shuffled_early = [scores[0]], [early[0]]
    for counts in kept[1:]:
        weights = []
        for W, count in zip(dense, counts):
            chosen = np.zeros(W.size, dtype=bool)
            chosen[rng.choice(W.size, size=count, replace=False)] = True
            weights.append(sp.csr_array(np.where(chosen.reshape(W.shape), W, 0.0)))
        ticket = LotteryTicket(weights, [b.copy() for b in initial.intercepts])
        model = _with_params(
            estimator, random_state=seed, n_seeds=1, ticket=ticket, **search_only
        )
        model.fit(X, y)
        fitted = model.steps[-1][1] if isinstance(model, Pipeline) else model
        X_held = model[:-1].transform(X_test) if isinstance(model, Pipeline) else X_test
        scorer = check_scoring(fitted, scoring=scoring)
        shuffled_scores.append(scorer(fitted, X_held, y_test))
        stop = fitted.history_.get("min_validation_loss_iteration")
        shuffled_early.append(np.nan if stop is None else stop[-1])
    return shuffled_scores, shuffled_early, remaining, kept


def _collect(results, arms, seeds, n_splits) -> Bunch:
    """Per arm, (n_seeds, n_rounds + 1) arrays: the mean over the splits."""
    rounds = len(results[0]["ticket"][0])
    scores, early = {}, {}
    for arm in arms:
        per_task = np.array([task[arm][0] for task in results], dtype=float)
        per_stop = np.array([task[arm][1] for task in results], dtype=float)
        scores[arm] = per_task.reshape(len(seeds), n_splits, rounds).mean(axis=1)
        early[arm] = per_stop.reshape(len(seeds), n_splits, rounds).mean(axis=1)
    remaining = np.asarray(results[0]["ticket"][2], dtype=float)
    return Bunch(
        weights_remaining=remaining,
        scores=scores,
        early_stop_iteration=early,
        seeds=np.asarray(seeds),
    )


class SparsityCurveDisplay:
    """Held-out score against weights remaining, per arm, as in the paper.

    Frankle & Carbin's Figure 1: one line per arm (the mean over seeds) with
    a band from the lowest to the highest seed, the percentage of weights
    remaining on a log axis (100% on the left) and, when the searches held
    out validation rows, the early-stopping iteration in a second panel.
    Build it with :meth:`from_estimator`, or from :func:`sparsity_curve`'s
    result.

    Parameters
    ----------
    weights_remaining : array-like of shape (n_rounds + 1,)
        Fraction of the weights each round keeps.
    scores : dict of str to array-like of shape (n_seeds, n_rounds + 1)
        Each arm's held-out scores.
    early_stop_iteration : dict of str to array-like, default=None
        Each arm's early-stopping iterations (all NaN: no second panel).
    score_name : str, default="test score"
        The y axis label.

    Attributes
    ----------
    lines_ : dict of str to matplotlib Line2D
    bands_ : dict of str to matplotlib PolyCollection
    axes_ : ndarray of matplotlib Axes
        One, or two with the early-stopping panel.
    figure_ : matplotlib Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from sklearn_lth import SparsityCurveDisplay
    >>> display = SparsityCurveDisplay(
    ...     weights_remaining=[1.0, 0.5, 0.25],
    ...     scores={"ticket": np.array([[0.9, 0.9, 0.88], [0.92, 0.9, 0.86]]),
    ...             "random": np.array([[0.9, 0.85, 0.7], [0.92, 0.83, 0.72]])},
    ... ).plot()
    >>> sorted(display.lines_)
    ['random', 'ticket']
    """

    def __init__(
        self,
        *,
        weights_remaining,
        scores,
        early_stop_iteration=None,
        score_name="test score",
    ):
        self.weights_remaining = np.asarray(weights_remaining, dtype=float)
        self.scores = _by_arm(scores)
        self.early_stop_iteration = _by_arm(early_stop_iteration)
        self.score_name = score_name

    @classmethod
    def from_estimator(cls, estimator, X, y, *, ax=None, score_name=None, **kwargs):
        """Run :func:`sparsity_curve` and plot it.

        Parameters
        ----------
        estimator : LotteryTicketMLP, LotteryTicketMLPRegressor or Pipeline
            The search (unfitted; a Pipeline's last step one of ours).
        X, y : array-like
            Training data (and, with ``cv``, the held-out folds).
        ax : matplotlib Axes or array of two, default=None
            Where to draw: one axes (no early-stopping panel) or two.
        score_name : str, default=None
            The y axis label (the scoring's name, or "test score").
        **kwargs
            Passed to :func:`sparsity_curve` (``X_test``, ``y_test``,
            ``cv``, ``controls``, ``n_seeds``, ``scoring``, ``n_jobs``,
            ``random_state``).

        Returns
        -------
        SparsityCurveDisplay
        """
        check_matplotlib_support(f"{cls.__name__}.from_estimator")
        curve = sparsity_curve(estimator, X, y, **kwargs)
        scoring = kwargs.get("scoring")
        name = score_name or (scoring if isinstance(scoring, str) else "test score")
        return cls(
            weights_remaining=curve.weights_remaining,
            scores=curve.scores,
            early_stop_iteration=curve.early_stop_iteration,
            score_name=name,
        ).plot(ax=ax)

    def plot(self, ax=None):
        """Draw on ``ax`` (a new figure when None).

        Returns
        -------
        SparsityCurveDisplay
            ``self``, with the artists set.
        """
        check_matplotlib_support(f"{type(self).__name__}.plot")
        import matplotlib.pyplot as plt

        self._check()
        panels = self._has_early_stopping()
        if ax is None:
            _, ax = plt.subplots(
                1, 2 if panels else 1, figsize=(10 if panels else 6, 4)
            )
        axes = np.ravel(ax)
        remaining = 100 * self.weights_remaining
        self.lines_, self.bands_ = {}, {}
        for arm, values in self.scores.items():
            line, band = _draw(axes[0], remaining, values, arm)
            self.lines_[arm], self.bands_[arm] = line, band
        axes[0].set_ylabel(self.score_name)
        if panels and len(axes) > 1:
            for arm, values in self.early_stop_iteration.items():
                if not np.isnan(values).all():
                    _draw(axes[1], remaining, values, arm)
            axes[1].set_ylabel("early-stopping iteration")
        elif len(axes) > 1:
            # Nothing to draw there: no validation rows were held out.
            for axis in axes[1:]:
                axis.set_visible(False)
            axes = axes[:1]
        for axis in axes:
            axis.set_xscale("log")
            axis.set_xlim(remaining.max() * 1.1, remaining.min() / 1.1)
            axis.set_xlabel("weights remaining (%)")
            axis.legend()
        self.axes_, self.figure_ = axes, axes[0].figure
        return self

    def _check(self) -> None:
        """The arguments' shapes and ranges, checked with their names rather
        than left to matplotlib's errors."""
        remaining = self.weights_remaining
        if remaining.ndim != 1 or not remaining.size:
            raise ValueError(
                "weights_remaining must be 1-d, one fraction per round, got shape "
                f"{remaining.shape}."
            )
        if not np.all((remaining > 0) & (remaining <= 1)):
            raise ValueError(
                "weights_remaining must be fractions in (0, 1] (1.0 for the dense "
                f"network, not percentages), got {remaining.tolist()}."
            )
        for name in ("scores", "early_stop_iteration"):
            arms = getattr(self, name)
            if arms is None and name == "early_stop_iteration":
                continue
            if not isinstance(arms, dict):
                raise ValueError(
                    f"{name} must map each arm's name to its values (one row per "
                    f"seed, one column per round), got {type(arms).__name__}."
                )
            for arm, values in arms.items():
                if values.ndim not in (1, 2) or values.shape[-1] != remaining.size:
                    raise ValueError(
                        f"{name}[{arm!r}] must have one column per round "
                        f"({remaining.size}, as weights_remaining), got shape "
                        f"{values.shape}."
                    )

    def _has_early_stopping(self) -> bool:
        return self.early_stop_iteration is not None and any(
            not np.isnan(v).all() for v in self.early_stop_iteration.values()
        )


def _by_arm(values):
    """``{arm: float array}`` from a mapping; anything else as it is (refused
    by name when plotted)."""
    if not isinstance(values, Mapping):
        return values
    return {arm: np.asarray(v, dtype=float) for arm, v in values.items()}


def _draw(axis, remaining, values, label):
    """One arm: its mean over seeds, and a band from the lowest to the highest."""
    values = np.atleast_2d(values)
    (line,) = axis.plot(remaining, np.nanmean(values, axis=0), marker="o", label=label)
    band = axis.fill_between(
        remaining,
        np.nanmin(values, axis=0),
        np.nanmax(values, axis=0),
        color=line.get_color(),
        alpha=0.2,
    )
    return line, band
