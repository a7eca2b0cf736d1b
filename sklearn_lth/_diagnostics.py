"""What a fitted search should tell its user: results worse than they look.

A search ends with the network of its last round, the sparsest. When that
network scores far below an earlier, denser round, or a round ends near
chance after earlier ones had learned, the fitted model is worse than the
search could have given, and nothing else says so. These functions word
the warnings; the estimators decide when to raise them (not in the folds of
a cross-validation, whose paths are meant to go too far).

Each warning is one line in scikit-learn's style and names the parameter to
change.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ._losses import constant_prediction
from ._warnings import warn

#: A kept round this much (in score units: accuracy, R²) below the best
#: round is "far below" it. One point, the command line's margin for a
#: winning ticket, is within the noise of a validation split of a few
#: hundred rows; two points are not.
FAR_BELOW = 0.02

#: A round keeping no more than this share of the best earlier round's gain
#: over chance has ended "near chance".
NEAR_CHANCE = 0.1

#: A round must have beaten chance by this much to count as having learned:
#: a later round can fall "back" to chance, or "far below" it, only then (a
#: search that never learned has the at-chance warning of
#: :func:`~._training.at_chance`).
LEARNED = 0.1


def scored_column(history: dict) -> str:
    """The column of ``history`` that judges the rounds.

    The validation score where a validation split was held out, which
    measures what the user cares about; else the training score.
    """
    if "validation_score" in history:
        return "validation_score"
    return "train_score"


def score_warnings(
    history: dict, chance: float, n_scored: int, reported=()
) -> list[str]:
    """Warnings about the rounds of a search whose scores fell.

    Parameters
    ----------
    history : dict of ndarray
        The search's round table (``history_``).
    chance : float
        The score of the best constant prediction on the rows scored (the
        share of the most frequent class; 0 for R²).
    n_scored : int
        The number of rows the scores were measured on: a drop of two of
        them (``2 / n_scored``) is never "far", whatever :data:`FAR_BELOW`.
    reported : sequence of int, default=()
        Rounds already reported at chance, not listed again as near it.

    Returns
    -------
    list of str
        At most two messages: rounds that ended near chance after earlier
        ones had learned, and a kept (last) round far below the best one.
    """
    column = scored_column(history)
    scores = np.asarray(history[column], dtype=float)
    rounds = np.asarray(history["round"])
    sparsity = np.asarray(history["sparsity"], dtype=float)
    if scores.size < 2 or not np.isfinite(scores).all():
        return []
    name = "validation score" if column == "validation_score" else "training score"
    messages = []
    # Best score of the rounds before each round.
    best_before = np.maximum.accumulate(scores)[:-1]
    gain = best_before - chance
    collapsed = (gain >= LEARNED) & (scores[1:] - chance <= NEAR_CHANCE * gain)
    collapsed &= ~np.isin(rounds[1:], np.asarray(reported, dtype=int))
    if collapsed.any():
        listed = [int(r) for r in rounds[1:][collapsed]]
        messages.append(
            f"Round(s) {listed} ended near chance ({name} "
            f"{scores[1:][collapsed][0]:.4g}, chance {chance:.4g}) although an "
            f"earlier round reached {best_before[collapsed][0]:.4g}: those rounds "
            "kept too few weights to learn, or training failed there. Lower "
            "target_sparsity (or learning_rate_init, if the weights left were "
            "still many)."
        )
    best = int(np.argmax(scores))
    drop = scores[best] - scores[-1]
    learned = scores[best] - chance >= LEARNED
    # (A tolerance of float rounding: 0.13 - 0.11 is a drop of 0.02.)
    if learned and drop > max(FAR_BELOW, 2.0 / max(n_scored, 1)) + 1e-9:
        messages.append(
            f"The fitted network (round {int(rounds[-1])}, sparsity "
            f"{sparsity[-1]:.4f}) has a {name} of {scores[-1]:.4g}, {drop:.4g} "
            f"below round {int(rounds[best])} (sparsity {sparsity[best]:.4f}, "
            f"{scores[best]:.4g}): a lower target_sparsity would score better. "
            "LotteryTicketMLPCV chooses the sparsity by cross-validation."
        )
    return messages


#: Parameters a ``ticket`` makes meaningless: it trains once and never prunes.
TICKET_IGNORES = (
    "pruning_rounds",
    "pruning_scope",
    "pruning_criterion",
    "output_layer_rate",
)


def ticket_override_warning(params: dict, defaults: dict, ticket) -> str | None:
    """The warning for parameters that ``ticket=`` overrides, or None.

    A parameter is named when the user set it to something other than its
    default that the ticket contradicts: ``hidden_layer_sizes`` other than
    the ticket's layers, ``target_sparsity`` other than its sparsity, or any
    of :data:`TICKET_IGNORES`.
    """
    overridden = []
    hidden = tuple(shape[1] for shape in ticket.layer_shapes[:-1])
    given = params["hidden_layer_sizes"]
    given = tuple(np.atleast_1d(given).tolist())
    if given != tuple(np.atleast_1d(defaults["hidden_layer_sizes"]).tolist()):
        if given != hidden:
            overridden.append(
                f"hidden_layer_sizes={params['hidden_layer_sizes']!r} (the "
                f"ticket's hidden layers are {hidden})"
            )
    target = params["target_sparsity"]
    if target != defaults["target_sparsity"] and not np.isclose(
        target, ticket.sparsity, atol=1e-3
    ):
        overridden.append(
            f"target_sparsity={target!r} (the ticket's sparsity is "
            f"{ticket.sparsity:.4f})"
        )
    overridden += [
        f"{name}={params[name]!r}"
        for name in TICKET_IGNORES
        if params[name] != defaults[name]
    ]
    if not overridden:
        return None
    return (
        f"A ticket is given, so fit trains it as it is and never prunes: "
        f"{', '.join(overridden)} {'is' if len(overridden) == 1 else 'are'} "
        "ignored. Set ticket=None to search for a ticket with these parameters."
    )


@dataclass
class Scored:
    """What the rounds' scores were measured on, to place chance among them.

    ``rows`` and ``validation_rows`` are the search's training and validation
    rows (None: all rows train, none validate).
    """

    out_activation: str
    Y: np.ndarray
    sample_weight: np.ndarray | None
    rows: np.ndarray | None
    validation_rows: np.ndarray | None

    def chance(self, column: str) -> tuple[float, int]:
        """The best constant prediction's score on the rows ``column`` was
        measured on, and their number."""
        scored = self.validation_rows if column == "validation_score" else self.rows
        Y, weights = self.Y, self.sample_weight
        if scored is not None:
            Y = Y[scored]
            weights = None if weights is None else weights[scored]
        return constant_prediction(self.out_activation, Y, weights)[1], Y.shape[0]


def warn_about_fit(
    result,
    history: dict,
    solver: str,
    max_iter: int,
    scored: Scored,
    *,
    judge_scores: bool,
) -> None:
    """Every warning about a finished fit, once, in scikit-learn's style.

    Rounds that did not converge (``ConvergenceWarning``, as scikit-learn's
    MLP), rounds that learned nothing (at chance, and above a constant
    prediction's loss), and, if ``judge_scores``, the rounds whose scores
    fell (:func:`score_warnings`; a round already reported at chance is
    not listed again).

    Parameters
    ----------
    result : IMPResult
        The kept search: its unconverged and at-chance rounds.
    history : dict of ndarray
        The fitted round table.
    solver, max_iter : str, int
        The estimator's parameters, named in the convergence warning.
    scored : Scored
        The data the rounds were scored on.
    judge_scores : bool
        Whether to judge the rounds' scores against each other.
    """
    if result.unconverged_rounds:
        # Worded as scikit-learn's MLP words them, so that a filter written
        # for its messages catches these too.
        rounds = f"in round(s) {result.unconverged_rounds}"
        warn(
            f"lbfgs failed to converge after {max_iter} iteration(s) {rounds}: "
            "increase max_iter or scale the data."
            if solver == "lbfgs"
            else f"Stochastic Optimizer: Maximum iterations ({max_iter}) reached "
            f"and the optimization hasn't converged yet {rounds}.",
            ConvergenceWarning,
        )
    if result.chance_rounds:
        warn(
            f"Round(s) {result.chance_rounds} ended with a training score no "
            "better than chance (the share of the most frequent class, or an R2 "
            "of 0) and a loss above a constant prediction's: the network has "
            "learned nothing there. More epochs (max_iter), another "
            "learning_rate_init or scaled input features (and, for regression, "
            "targets) may help."
        )
    if judge_scores:
        chance, n_scored = scored.chance(scored_column(history))
        messages = score_warnings(
            history, chance, n_scored, reported=result.chance_rounds
        )
        for message in messages:
            warn(message)


def warn_if_batch_clipped(batch_size, solver: str, n_samples: int) -> None:
    """scikit-learn's MLP warning for a ``batch_size`` above the training rows."""
    if solver != "lbfgs" and batch_size != "auto" and batch_size > n_samples:
        warn(
            "Got `batch_size` less than 1 or larger than sample size. It is going "
            f"to be clipped (batch_size={batch_size}, {n_samples} training samples)."
        )


def warn_if_ticket_overrides(params: dict, defaults: dict, ticket) -> None:
    """Warn (``UserWarning``) about parameters that ``ticket=`` overrides."""
    message = ticket_override_warning(params, defaults, ticket)
    if message is not None:
        warn(message)
