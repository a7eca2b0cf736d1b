"""Stochastic optimizers: Adam and SGD, as scikit-learn's.

The optimizers update a list of parameter arrays in place (in training, the
one flat buffer of :meth:`~sklearn_lth._network.Network.flatten`; the
supermask's 2-D scores), with state (moments, velocities) preallocated once
per round. The parameters hold the weights that survived pruning, or the
dense matrix of a partial layer that trains it (see
:mod:`sklearn_lth._network`), whose pruned entries get a zero gradient at
every step: a zero weight with a zero gradient keeps zero momentum and zero
Adam moments, and so stays exactly zero. The
learning rate of each step comes from the caller (see
:mod:`sklearn_lth._schedules`).

:meth:`SGD.step` and :meth:`Adam.step` are the numpy definitions. In
training, the kernel path's backend runs them behind the L2 term's gradient
(``optimizer_update`` in :mod:`sklearn_lth._kernels`); the compiled path
performs the same float operations in one pass, with their state and
hyper-parameters, and then sets subnormal numbers to zero (training does
that every few steps on the numpy path, through each optimizer's ``state``:
see :func:`~sklearn_lth._kernels.flush_subnormal`). A new solver is a new
class here with a ``state`` (the arrays it keeps from step to step) and a
name in :func:`make_optimizer`; it trains on either path (a compiled update
of its own is an addition to the numba backend).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ._training_config import TrainingConfig


class SGD:
    """Stochastic gradient descent with (Nesterov) momentum, as scikit-learn's.

    ``step`` uses the gradients as its scratch space: they are overwritten.
    """

    def __init__(self, params: list[np.ndarray], momentum: float, nesterov: bool):
        self.momentum = momentum
        self.nesterov = nesterov and momentum > 0
        self.velocities = [np.zeros_like(p) for p in params]

    @property
    def state(self) -> list[np.ndarray]:
        """The arrays the optimizer keeps from step to step."""
        return self.velocities

    def step(
        self, params: list[np.ndarray], grads: list[np.ndarray], lr: float
    ) -> None:
        """Update ``params`` in place from ``grads`` at learning rate ``lr``."""
        m = self.momentum
        for p, g, v in zip(params, grads, self.velocities):
            # v <- m v - lr g ; update = v, or m v - lr g with Nesterov
            g *= lr
            v *= m
            v -= g
            if self.nesterov:
                # p += m v - lr g in two passes, with g (now lr g) as scratch.
                p -= g
                np.multiply(v, m, out=g)
                p += g
            else:
                p += v


class Adam:
    """Adam (Kingma & Ba, 2014), in place, with no temporary arrays.

    The moments are kept rescaled, ``m' = m / (1 - beta_1)`` and
    ``v' = v / (1 - beta_2)``, which saves a pass per moment; the update
    ``lr_t * m / (sqrt(v) + eps)`` is the same. ``step`` uses the gradients as
    its scratch space: they are overwritten.
    """

    def __init__(
        self, params: list[np.ndarray], beta_1: float, beta_2: float, epsilon: float
    ):
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon
        self.t = 0
        self.first = [np.zeros_like(p) for p in params]
        self.second = [np.zeros_like(p) for p in params]

    @property
    def state(self) -> list[np.ndarray]:
        """The arrays the optimizer keeps from step to step."""
        return [*self.first, *self.second]

    def step(
        self, params: list[np.ndarray], grads: list[np.ndarray], lr: float
    ) -> None:
        """Update ``params`` in place from ``grads`` at learning rate ``lr``."""
        scale, eps = self.next_scale(lr)
        b1, b2 = self.beta_1, self.beta_2
        for p, g, m, v in zip(params, grads, self.first, self.second):
            # The rescaled moments: m' <- b1 m' + g, v' <- b2 v' + g^2.
            m *= b1
            m += g
            g *= g
            v *= b2
            v += g
            # The denominator, then the update m' / denominator, both built
            # in g: no temporary array.
            np.sqrt(v, out=g)
            g += eps
            g *= 1.0 / scale
            np.divide(m, g, out=g)
            p -= g

    def next_scale(self, lr: float) -> tuple[float, float]:
        """Count a step; return its scale and rescaled epsilon (see the class)."""
        self.t += 1
        return self.scale_at(lr, self.t)

    def scale_at(self, lr: float, t: int) -> tuple[float, float]:
        """Step ``t``'s scale and rescaled epsilon, counting nothing (the
        compiled update, ``sklearn_lth._kernels._numba.CompiledUpdate``,
        asks before it knows whether the step updates)."""
        b1, b2 = self.beta_1, self.beta_2
        lr_t = lr * math.sqrt(1 - b2**t) / (1 - b1**t)
        # lr_t m / (sqrt(v) + eps) = m' / ((sqrt(v') + eps') / scale)
        root = math.sqrt(1 - b2)
        return lr_t * (1 - b1) / root, self.epsilon / root


def make_optimizer(
    solver: str, params: list[np.ndarray], config: TrainingConfig
) -> SGD | Adam:
    """The optimizer named by ``solver``, with fresh state for ``params``."""
    if solver == "sgd":
        return SGD(params, config.momentum, config.nesterovs_momentum)
    return Adam(params, config.beta_1, config.beta_2, config.epsilon)
