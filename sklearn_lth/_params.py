"""The parameters of the estimators, each stated once.

For every parameter, :data:`PARAMS` (the lottery-ticket classifier),
:data:`REGRESSOR_PARAMS` (the regressor: the same and ``loss``),
:data:`CV_PARAMS` and :data:`REGRESSOR_CV_PARAMS` (their cross-validated
twins) hold its numpydoc type, its default, its scikit-learn constraint and
its description. From them come the estimators' ``__init__`` defaults
(:data:`DEFAULTS` and the like), their ``_parameter_constraints``
(:func:`constraints`),
the Parameters sections of their docstrings (:func:`fill_parameters`) and the
command line's choices and defaults. ``tests/test_params.py`` checks that they
agree.
"""

from __future__ import annotations

import math
import os
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from numbers import Integral, Real

from sklearn.metrics import get_scorer_names

from ._compat import Interval, Options, StrOptions
from ._ticket import LotteryTicket

# The rewind strategies, in the order the documentation lists them; their
# meaning lives in :mod:`._rewinding`.
REWIND_STRATEGIES = ("init", "early", "late", "lr", "none", "reinit")


@dataclass(frozen=True)
class Param:
    """One parameter: numpydoc type, default, constraint and description.

    ``options`` are the strings a choice takes (see :func:`_choice`), in the
    order the documentation lists them; empty for any other parameter.
    """

    type: str
    default: object
    constraint: list
    doc: str
    options: tuple[str, ...] = ()

    def entry(self, name: str) -> str:
        """The numpydoc entry: ``name : type, default=...``, then the description."""
        doc = textwrap.indent(textwrap.dedent(self.doc).strip(), "    ")
        return f"{name} : {self.type}, default={_shown(self.default)}\n{doc}"


def _shown(default: object) -> str:
    """A default as the docs write it: ``"relu"``, ``1e-4`` (not ``0.0001``)."""
    if isinstance(default, str):
        return f'"{default}"'
    if isinstance(default, float) and 0 < default < 1e-2:
        return f"{default:.0e}".replace("e-0", "e-")
    return repr(default)


def _choice(options: tuple[str, ...], default: str, doc: str) -> Param:
    """A parameter that is one of ``options``."""
    listed = ", ".join(f'"{option}"' for option in options)
    return Param("{" + listed + "}", default, [StrOptions(set(options))], doc, options)


_POSITIVE_INT = Interval(Integral, 1, None, closed="left")

#: The parameters of LotteryTicketMLP and (with ``loss``, see
#: :data:`REGRESSOR_PARAMS`) LotteryTicketMLPRegressor, in the order of their
#: signature and documentation.
PARAMS: dict[str, Param] = {
    "hidden_layer_sizes": Param(
        "array-like of int",
        (100,),
        ["array-like", _POSITIVE_INT],
        "Number of units of each hidden layer.",
    ),
    "activation": _choice(
        ("relu", "tanh", "logistic", "identity"),
        "relu",
        "Activation of the hidden layers.",
    ),
    "target_sparsity": Param(
        "float in [0, 1)",
        0.8,
        [Interval(Real, 0, 1, closed="left")],
        """
        Fraction of the weights pruned once all rounds are done. ``0.0``
        trains one dense round: a plain MLP.
        """,
    ),
    "pruning_rounds": Param(
        "int",
        5,
        [_POSITIVE_INT],
        """
        Number of prune-rewind-train rounds after the dense round 0. ``1`` is
        one-shot pruning.
        """,
    ),
    "pruning_scope": _choice(
        ("global", "layer"),
        "global",
        """
        ``"global"`` ranks the weights of all layers together; ``"layer"``
        prunes every layer at the per-round rate separately.
        """,
    ),
    "pruning_criterion": _choice(
        ("magnitude", "random", "snip", "synflow", "grasp"),
        "magnitude",
        """
        Which weights a round removes: the smallest trained weights by
        absolute value; ``"random"`` ones (the same counts, positions drawn
        from ``random_state``: the paper's random-pruning control); or those
        with the lowest connection sensitivity ``|dL/dw * w|`` (SNIP, Lee et
        al. 2019), measured at the weights the next round starts from with the
        gradient of the mean training loss over all training samples (in
        mini-batches, no update). With ``rewind="init"`` and
        ``pruning_rounds=1`` that is SNIP's pruning at initialisation: the cut
        does not depend on the dense training of round 0. ``"synflow"``
        (Tanaka et al. 2020) needs no data: it ranks the weights the next
        round starts from by their share of the summed output of the network
        of absolute weights on an all-ones input, ``|w * dR/dw|``, and
        prunes in about 100 steps over the schedule, scoring again after
        each, which keeps it from emptying a layer. ``"grasp"`` (Wang et al.
        2020) removes the weights whose removal least reduces the gradient's
        flow, those of highest ``-w * (H g)`` (the Hessian of the mean
        training loss times its gradient, by finite differences), measured
        as ``"snip"`` is.
        """,
    ),
    "output_layer_rate": Param(
        "float in [0, 1)",
        None,
        [Interval(Real, 0, 1, closed="left"), None],
        """
        Per-round pruning rate of the output layer, which is then ranked on
        its own. None prunes it like the other layers; ``0`` never prunes it.
        Frankle & Carbin use half the hidden layers' rate.
        """,
    ),
    "rewind": _choice(
        REWIND_STRATEGIES,
        "init",
        """
        What the surviving weights restart from after each pruning step:
        ``"init"`` the initial weights; ``"early"`` the weights after
        ``rewind_iteration`` optimizer steps of round 0; ``"late"`` the weights
        after ``rewind_fraction`` of round 0's scheduled steps; ``"lr"`` the
        weights just trained, with the learning-rate schedule restarted;
        ``"none"`` the weights just trained, at the schedule's final learning
        rate (fine-tuning); ``"reinit"`` fresh random weights (the control
        experiment). Biases are rewound with the weights. With
        ``solver="lbfgs"`` a step is an L-BFGS iteration (``"early"``: after
        ``rewind_iteration`` iterations of round 0; ``"late"``: after
        ``rewind_fraction * max_iter``), and ``"lr"`` and ``"none"`` both
        restart from the weights just trained (no schedule).
        """,
    ),
    "rewind_iteration": Param(
        "int",
        100,
        [Interval(Integral, 0, None, closed="left")],
        'Optimizer step of round 0 that ``rewind="early"`` rewinds to.',
    ),
    "rewind_fraction": Param(
        "float in [0, 1]",
        0.1,
        [Interval(Real, 0, 1, closed="both")],
        """
        Fraction of round 0's scheduled steps (``max_iter`` epochs) that
        ``rewind="late"`` rewinds to.
        """,
    ),
    "ticket": Param(
        "LotteryTicket",
        None,
        [LotteryTicket, None],
        """
        If given, no search: ``fit`` trains this sub-network alone from its
        stored weights. The architecture and sparsity come from the ticket,
        so ``hidden_layer_sizes``, ``target_sparsity`` and the pruning
        parameters are not used (a warning names those set to other values).
        """,
    ),
    "n_seeds": Param(
        "int",
        1,
        [_POSITIVE_INT],
        """
        Number of independent searches, each from its own initialisation
        (seeds drawn from ``random_state``). With more than one,
        ``validation_fraction`` of the training data is held out (once, shared
        by all seeds; stratified for a classifier) and the seed whose final
        network scores best on it is kept (ties: the first). Results do not
        depend on ``n_jobs`` or the joblib backend.
        """,
    ),
    "n_jobs": Param(
        "int",
        None,
        [Integral, None],
        """
        Number of seeds searched in parallel through joblib. None means 1
        unless in a :func:`joblib.parallel_config` context (which also chooses
        the backend, for example ``"dask"``); -1 means all processors.
        """,
    ),
    "checkpoint_dir": Param(
        "str or path-like",
        None,
        [str, os.PathLike, None],
        """
        If given, the state of the search is saved there after every
        completed round (atomically, as plain ``.npz`` arrays), in a folder
        of its own named by a fingerprint of the parameters, the data and the
        random state, and ``fit`` with the same directory, parameters and data
        resumes after the last completed round, ending exactly as an
        uninterrupted run; other parameters or data start a search of their
        own beside it. A file in the search's folder that is damaged or holds
        values that do not fit the parameters and data, or a folder or lock
        that is a symbolic link, raises
        :class:`~sklearn_lth.exceptions.CheckpointError` before any training
        (delete that folder, or choose another directory, to start over). A
        finished search is read back even from a read-only directory.
        """,
    ),
    "solver": _choice(
        ("adam", "sgd", "lbfgs"),
        "adam",
        """
        Optimizer. Its state restarts every round. ``"lbfgs"`` is full-batch
        L-BFGS (scipy's L-BFGS-B, as in scikit-learn's MLP) over the kept
        weights and the biases: ``max_iter`` then counts its iterations,
        ``max_fun`` its loss evaluations and ``tol`` bounds the gradient; the
        mini-batch settings (``batch_size``, ``shuffle``, ``learning_rate``
        and the rest, ``n_iter_no_change``) do not apply, and
        ``early_stopping`` stops nothing, as in scikit-learn (the validation
        split it or ``n_seeds`` holds out is scored once per round, with the
        final weights). ``loss_curve_`` then holds the loss after each
        iteration.
        """,
    ),
    "alpha": Param(
        "float",
        1e-4,
        [Interval(Real, 0, None, closed="left")],
        "L2 penalty on the weights.",
    ),
    "batch_size": Param(
        'int or "auto"',
        "auto",
        [StrOptions({"auto"}), _POSITIVE_INT],
        'Mini-batch size; ``"auto"`` is ``min(200, n_samples)``.',
    ),
    "learning_rate": _choice(
        ("constant", "cosine", "step", "invscaling", "adaptive"),
        "constant",
        """
        Learning-rate schedule over each round's ``max_iter`` epochs.
        ``"cosine"`` anneals to 1% of ``learning_rate_init``; ``"step"``
        divides it by 10 at half and at three quarters of the round. With a
        decaying schedule ``rewind="lr"`` and ``"none"`` differ.
        ``"invscaling"`` and ``"adaptive"`` are scikit-learn's, for
        ``solver="sgd"`` only (with ``"adam"`` they are ``"constant"``, as in
        scikit-learn, which ignores them there): ``"invscaling"`` sets the
        rate to ``learning_rate_init / (t + 1) ** power_t`` at each epoch's
        end, ``t`` the training rows of the epochs so far; ``"adaptive"``
        keeps ``learning_rate_init`` and, each time the ``n_iter_no_change``
        rule would stop training, divides the rate by 5 and goes on (training
        stops once the rate is at most 1e-6). On rewinding, ``"invscaling"``
        counts rows as a position: ``"lr"`` restarts the count, ``"none"``
        holds the rate after ``max_iter`` epochs, ``"early"`` and ``"late"``
        go on from the epochs round 0 had completed at the rewind point;
        ``"adaptive"`` starts every round from ``learning_rate_init``.
        """,
    ),
    "learning_rate_init": Param(
        "float",
        1e-3,
        [Interval(Real, 0, None, closed="neither")],
        "Initial learning rate.",
    ),
    "power_t": Param(
        "float",
        0.5,
        [Interval(Real, 0, None, closed="left")],
        """
        Exponent of the inverse-scaling learning rate,
        ``learning_rate_init / (t + 1) ** power_t`` after ``t`` training
        samples, updated at each epoch's end (``learning_rate="invscaling"``
        with ``solver="sgd"``; see ``learning_rate`` for what a rewind does
        to ``t``).
        """,
    ),
    "max_iter": Param(
        "int", 200, [_POSITIVE_INT], "Maximum number of epochs of each round."
    ),
    "shuffle": Param(
        "bool", True, ["boolean"], "Whether to shuffle the samples every epoch."
    ),
    "random_state": Param(
        "int, RandomState instance or None",
        None,
        ["random_state"],
        'Seeds initialisation, shuffling, the validation split and ``"reinit"``.',
    ),
    "tol": Param(
        "float",
        1e-4,
        [Interval(Real, 0, None, closed="left")],
        """
        A round stops when the training loss (or validation score with
        ``early_stopping``) has not improved by ``tol`` for
        ``n_iter_no_change`` epochs.
        """,
    ),
    "verbose": Param("bool", False, ["verbose"], "Print the loss after every epoch."),
    "warm_start": Param(
        "bool",
        False,
        ["boolean"],
        """
        Let ``fit`` go on from the fitted network instead of starting over.
        With the ``target_sparsity`` already reached it trains the network
        on, pruning nothing, as scikit-learn's ``warm_start`` does (one more
        row in ``history_``). With a higher one it takes the search further:
        ``pruning_rounds`` more rounds from the fitted mask and rewind point,
        each pruning the fraction that reaches the new target in those
        rounds, appended to ``history_`` (a search that Ctrl-C stopped
        short of the same target finishes its own rounds instead). A lower
        one is an error. The data must have the same features (and classes);
        ``n_seeds`` must be 1. See :ref:`warm_start`.
        """,
    ),
    "momentum": Param(
        "float",
        0.9,
        [Interval(Real, 0, 1, closed="both")],
        'Momentum of ``solver="sgd"``.',
    ),
    "nesterovs_momentum": Param(
        "bool", True, ["boolean"], 'Use Nesterov\'s momentum with ``solver="sgd"``.'
    ),
    "early_stopping": Param(
        "bool",
        False,
        ["boolean"],
        """
        Hold out ``validation_fraction`` of the training data (stratified for
        a classifier), stop each round when its score (accuracy, or R² for a
        regressor) stops improving and keep the best weights.
        """,
    ),
    "validation_fraction": Param(
        "float",
        0.1,
        [Interval(Real, 0, 1, closed="left")],
        """
        Size of the held-out split for ``early_stopping`` and ``n_seeds > 1``
        (which then need it above 0).
        """,
    ),
    "beta_1": Param(
        "float",
        0.9,
        [Interval(Real, 0, 1, closed="left")],
        "Decay rate of Adam's first-moment (mean) estimates.",
    ),
    "beta_2": Param(
        "float",
        0.999,
        [Interval(Real, 0, 1, closed="left")],
        "Decay rate of Adam's second-moment (variance) estimates.",
    ),
    "epsilon": Param(
        "float",
        1e-8,
        [Interval(Real, 0, None, closed="neither")],
        "Adam's term added to the denominator, for numerical stability.",
    ),
    "n_iter_no_change": Param(
        "int or inf",
        10,
        [_POSITIVE_INT, Options(Real, {math.inf})],
        """
        Epochs without improvement before a round stops; ``numpy.inf`` runs
        every round for ``max_iter`` epochs.
        """,
    ),
    "max_fun": Param(
        "int",
        15000,
        [_POSITIVE_INT],
        """
        Maximum number of loss evaluations of each round (``solver="lbfgs"``;
        checked at the end of each iteration, as scipy does).
        """,
    ),
}

_LOSS = _choice(
    ("squared_error", "poisson"),
    "squared_error",
    """
    The loss, as in scikit-learn's ``MLPRegressor``: half the squared error
    with an identity output, or half the Poisson deviance with an exponential
    output (log link), which predicts positive values and requires
    ``y >= 0``. Both are summed over outputs and averaged over samples.
    """,
)


def _inserted_after(
    params: dict[str, Param], after: str, name: str, param: Param
) -> dict[str, Param]:
    """``params`` with ``name`` inserted right after ``after``."""
    inserted = {}
    for key, value in params.items():
        inserted[key] = value
        if key == after:
            inserted[name] = param
    return inserted


#: The parameters of LotteryTicketMLPRegressor: the classifier's, and
#: ``loss`` first among the keyword-only ones (scikit-learn's MLPRegressor
#: puts it first of all; here the positional ``hidden_layer_sizes`` and
#: ``activation`` keep their places).
REGRESSOR_PARAMS: dict[str, Param] = _inserted_after(
    PARAMS, "activation", "loss", _LOSS
)

#: What LotteryTicketMLPCV does not pass on to the LotteryTicketMLP of its
#: folds: it sets the sparsity and the rounds itself, and offers no ticket,
#: seeds, checkpoints or warm start (every fold and the refit start over).
CV_EXCLUDED = (
    "target_sparsity",
    "pruning_rounds",
    "ticket",
    "n_seeds",
    "checkpoint_dir",
    "warm_start",
)

_CV_OWN: dict[str, Param] = {
    "cv": Param(
        "int, cross-validation generator or iterable",
        5,
        ["cv_object"],
        "The folds (stratified for classifiers when an int).",
    ),
    "pruning_rate": Param(
        "float in (0, 1)",
        0.2,
        [Interval(Real, 0, 1, closed="neither")],
        "Fraction of the remaining weights pruned in each round.",
    ),
    "max_rounds": Param(
        "int",
        10,
        [_POSITIVE_INT],
        """
        Rounds of the path; the sparsest level is
        ``1 - (1 - pruning_rate) ** max_rounds``.
        """,
    ),
    "score_tolerance": Param(
        "float",
        0.01,
        [Interval(Real, 0, None, closed="left")],
        """
        How far below the best mean score (see ``scoring``) the chosen,
        sparser level may be. ``0`` takes the best.
        """,
    ),
    "scoring": Param(
        "str, callable or None",
        None,
        [StrOptions(set(get_scorer_names())), callable, None],
        """
        How each round is scored on a fold's held-out part: a scorer name
        (:func:`sklearn.metrics.get_scorer_names`) or a callable
        ``scorer(estimator, X, y)``; higher is better. None is the estimator's
        ``score``: accuracy for the classifier, R² for the regressor. With
        ``sample_weight``, the held-out part's weights are passed to the
        scorer when it takes them (None; a scorer name whose metric has a
        ``sample_weight`` parameter, which all but a few such as
        ``"neg_max_error"`` have; a callable with a ``sample_weight`` or
        ``**kwargs`` parameter), and otherwise left out with a warning. The
        same rule holds for ``score``.
        """,
    ),
    "n_jobs": Param(
        "int", None, [Integral, None], "Folds run in parallel through joblib."
    ),
}


def _cv_params(params: dict[str, Param]) -> dict[str, Param]:
    """A cross-validated estimator's parameters: its own, then those it
    passes on to the estimator with ``params``."""
    return _CV_OWN | {
        name: param
        for name, param in params.items()
        if name not in CV_EXCLUDED and name not in _CV_OWN
    }


#: The parameters of LotteryTicketMLPCV: its own, then those it passes on.
CV_PARAMS: dict[str, Param] = _cv_params(PARAMS)
#: The parameters of LotteryTicketMLPRegressorCV.
REGRESSOR_CV_PARAMS: dict[str, Param] = _cv_params(REGRESSOR_PARAMS)


def _defaults(params: dict[str, Param]) -> dict[str, object]:
    return {name: param.default for name, param in params.items()}


DEFAULTS = _defaults(PARAMS)
REGRESSOR_DEFAULTS = _defaults(REGRESSOR_PARAMS)
CV_DEFAULTS = _defaults(CV_PARAMS)
REGRESSOR_CV_DEFAULTS = _defaults(REGRESSOR_CV_PARAMS)


def constraints(params: dict[str, Param]) -> dict[str, list]:
    """The ``_parameter_constraints`` of an estimator with ``params``."""
    return {name: param.constraint for name, param in params.items()}


def fill_parameters(params: dict[str, Param]) -> Callable[[type], type]:
    """Class decorator: the docstring's line ``{parameters}`` becomes the
    numpydoc entries of ``params``, indented as that line was."""

    def decorate(cls: type) -> type:
        if cls.__doc__:  # None under python -OO
            entries = "\n".join(param.entry(name) for name, param in params.items())
            lines = cls.__doc__.splitlines(keepends=True)
            (line,) = [line for line in lines if line.strip() == "{parameters}"]
            indent = line[: len(line) - len(line.lstrip())]
            cls.__doc__ = cls.__doc__.replace(
                line, textwrap.indent(entries, indent) + "\n"
            )
        return cls

    return decorate
