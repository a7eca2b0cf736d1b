"""Losses paired with their output activations, and validation scores.

Each loss is paired with the canonical output activation (softmax with the
categorical log loss, logistic with the binary log loss, identity with half
the squared error summed over outputs), so that the error at the output is
``prediction - target``.
"""

from __future__ import annotations

import numpy as np
from scipy.special import xlogy
from sklearn.metrics import r2_score


def loss_value(
    out_activation: str, Y: np.ndarray, P: np.ndarray, sample_weight: np.ndarray | None
) -> float:
    """Average loss of predictions ``P`` against targets ``Y``."""
    if out_activation == "identity":
        per_sample = 0.5 * ((Y - P) ** 2).sum(axis=1)
    else:
        eps = np.finfo(P.dtype).eps
        if out_activation == "softmax":
            # One-hot targets: only the probability of the true class counts.
            true = np.einsum("ij,ij->i", Y, P)
            per_sample = -np.log(np.clip(true, eps, 1 - eps))
        else:
            P = np.clip(P, eps, 1 - eps)
            per_sample = -(xlogy(Y, P) + xlogy(1 - Y, 1 - P)).sum(axis=1)
    if sample_weight is None:
        return float(per_sample.mean())
    if not sample_weight.any():  # a batch whose samples all weigh zero
        return 0.0
    return float(np.average(per_sample, weights=sample_weight))


def output_delta(
    Y: np.ndarray,
    P: np.ndarray,
    sample_weight: np.ndarray | None,
    out: np.ndarray,
    scale: float = 1.0,
) -> np.ndarray:
    """Error at the output, ``scale * (P - Y)`` weighted per sample, into ``out``."""
    np.subtract(P, Y, out=out)
    if sample_weight is not None:
        out *= (scale * sample_weight)[:, None]
    elif scale != 1.0:
        out *= scale
    return out


def validation_score(
    out_activation: str, Y: np.ndarray, P: np.ndarray, sample_weight=None
) -> float:
    """Accuracy (exact match for multilabel) for classifiers, R² for regressors."""
    if out_activation == "identity":
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
    classifiers, the mean for regressors. Its loss is the entropy of the
    classes (half the variance for regressors), its score the share of the
    most frequent class (the most frequent label pattern for multilabel
    targets; an R² of 0 for regressors).
    """
    weights = (
        None if sample_weight is None or not sample_weight.any() else sample_weight
    )
    mean = np.average(Y, axis=0, weights=weights)
    P = np.broadcast_to(mean, Y.shape).astype(Y.dtype)
    if out_activation == "identity":
        return loss_value(out_activation, Y, P, sample_weight), 0.0
    if out_activation == "softmax":
        score = float(mean.max())
    else:
        score = validation_score(out_activation, Y, P, weights)
    return loss_value(out_activation, Y, P, sample_weight), score
