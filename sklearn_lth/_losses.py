"""Losses paired with their output activations, and validation scores.

Each loss is paired with the canonical output activation (softmax with the
categorical log loss, logistic with the binary log loss, identity with half
the squared error summed over outputs, exp with half the Poisson deviance
summed over outputs), so that the error at the output is
``prediction - target``. The output activation names the loss throughout.
"""

from __future__ import annotations

import numpy as np
from scipy.special import xlogy
from sklearn.metrics import r2_score

#: The output activations of regressors (squared error, Poisson deviance):
#: scored by R², their best constant an R² of 0.
REGRESSION_OUTPUTS = ("identity", "exp")


def l2_penalty(alpha: float, squares: float, weight_sum: float) -> float:
    """scikit-learn's L2 penalty ``0.5 * alpha * ||W||^2`` (``squares``), per
    unit of batch weight like the loss it is added to (compiled as it is for
    the compiled path's runs of steps, so that both compute it alike)."""
    return 0.5 * alpha * squares / max(weight_sum, 1e-12)


def loss_value(
    out_activation: str, Y: np.ndarray, P: np.ndarray, sample_weight: np.ndarray | None
) -> float:
    """Average loss of predictions ``P`` against targets ``Y``.

    The mean over samples (weighted by ``sample_weight``) of the per-sample
    loss, summed over outputs; 0 when every sample weighs zero.
    """
    if out_activation == "identity":
        per_sample = 0.5 * ((Y - P) ** 2).sum(axis=1)
    elif out_activation == "exp":
        per_sample = _half_poisson_deviance(Y, P).sum(axis=1)
    else:
        # Probabilities are clipped to [eps, 1 - eps] of their own dtype, as
        # scikit-learn does: a probability that underflowed to 0 (easily, in
        # float32) would make the loss infinite and pass for a divergence.
        # The clip only bounds the loss: the error P - Y is left alone.
        eps = np.finfo(P.dtype).eps
        if out_activation == "softmax":
            # One-hot targets: only the probability of the true class counts.
            p_true = np.einsum("ij,ij->i", Y, P)
            per_sample = -np.log(np.clip(p_true, eps, 1 - eps))
        else:
            P = np.clip(P, eps, 1 - eps)
            per_sample = -(xlogy(Y, P) + xlogy(1 - Y, 1 - P)).sum(axis=1)
    if sample_weight is None:
        return float(per_sample.mean())
    if not sample_weight.any():  # a batch whose samples all weigh zero
        return 0.0
    return float(np.average(per_sample, weights=sample_weight))


def _half_poisson_deviance(Y: np.ndarray, P: np.ndarray) -> np.ndarray:
    """``y log(y / p) - y + p`` per entry: scikit-learn's "poisson" loss.

    Its gradient with respect to ``log p`` (the pre-activation of the exp
    output) is ``p - y``, the error :func:`output_delta` gives.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        log_term = xlogy(Y, Y / P)
    # 0 / 0 (a zero target where exp underflowed to 0) is NaN, but the term is
    # 0 for every zero target; a NaN prediction still shows through ``+ P``.
    log_term[Y == 0] = 0
    return log_term - Y + P


def output_delta(
    Y: np.ndarray,
    P: np.ndarray,
    sample_weight: np.ndarray | None,
    out: np.ndarray,
    scale: float = 1.0,
) -> np.ndarray:
    """Error at the output, ``scale * (P - Y)`` weighted per sample, into ``out``.

    ``P - Y`` is the gradient of each loss with respect to the pre-activation
    of its paired output activation (for the Poisson deviance,
    ``d/dz (y log(y / exp(z)) - y + exp(z)) = exp(z) - y``); ``scale`` turns
    sums into means (see :class:`~sklearn_lth._training.TrainingStep`).
    """
    np.subtract(P, Y, out=out)
    if sample_weight is not None:
        # Scale and weights folded into one per-sample factor: one pass.
        out *= (scale * sample_weight)[:, None]
    elif scale != 1.0:
        out *= scale
    return out


def validation_score(
    out_activation: str, Y: np.ndarray, P: np.ndarray, sample_weight=None
) -> float:
    """Accuracy (exact match for multilabel) for classifiers, R² for regressors.

    Rows that all weigh zero score as if unweighted (there is nothing else to
    score them by).
    """
    if sample_weight is not None and not sample_weight.any():
        sample_weight = None
    if out_activation in REGRESSION_OUTPUTS:
        return float(r2_score(Y, P, sample_weight=sample_weight))
    if out_activation == "softmax":
        correct = P.argmax(axis=1) == Y.argmax(axis=1)
    else:
        correct = np.all((P > 0.5) == (Y > 0.5), axis=1)
    return float(np.average(correct, weights=sample_weight))


def constant_prediction(
    out_activation: str, Y: np.ndarray, sample_weight=None
) -> tuple[float, float]:
    """Loss and score of the best constant prediction: the baseline of chance.

    The constant is the (weighted) mean target: the class frequencies for
    classifiers, the mean for regressors (which minimises the Poisson
    deviance too). Its loss is the entropy of the classes (for regressors,
    half the variance, or half the Poisson deviance of the mean, summed over
    outputs), its score the share of the most frequent class (for binary and
    multilabel targets, the exact-match score of predicting each label's
    majority value; an R² of 0 for regressors).
    """
    # np.average refuses weights that sum to zero; the unweighted mean stands
    # in (loss_value gives such a set a loss of 0 anyway).
    weights = (
        None if sample_weight is None or not sample_weight.any() else sample_weight
    )
    mean = np.average(Y, axis=0, weights=weights)
    # In the targets' dtype (np.average gives float64): the loss then clips
    # with the same eps as in training.
    P = np.broadcast_to(mean, Y.shape).astype(Y.dtype)
    if out_activation in REGRESSION_OUTPUTS:
        return loss_value(out_activation, Y, P, sample_weight), 0.0
    if out_activation == "softmax":
        score = float(mean.max())
    else:
        score = validation_score(out_activation, Y, P, weights)
    return loss_value(out_activation, Y, P, sample_weight), score
