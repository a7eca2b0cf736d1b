"""The hyper-parameters of training, as one value every training module reads.

:class:`TrainingConfig` is read from an estimator's parameters once per fit
and handed to each round (:mod:`sklearn_lth._training`,
:mod:`sklearn_lth._lbfgs`, :mod:`sklearn_lth._incremental`), to the
optimizers and to the learning-rate schedules. It lives in a module of its
own, importing nothing of the package but the parameters' defaults and the
kernel configuration, so that each of those can import it without importing
the others.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields

from ._config import resolved_kernels
from ._params import DEFAULTS


def resolve_batch_size(batch_size: int | str, n_samples: int) -> int:
    """The mini-batch size ``batch_size`` means for ``n_samples`` rows.

    ``"auto"`` is ``min(200, n_samples)``, as in scikit-learn's MLP; a number
    is clipped to ``[1, n_samples]``.
    """
    if batch_size == "auto":
        return min(200, n_samples)
    return min(max(int(batch_size), 1), n_samples)


@dataclass(frozen=True)
class TrainingConfig:
    """Hyper-parameters of training, read from an estimator's parameters."""

    solver: str = DEFAULTS["solver"]
    alpha: float = DEFAULTS["alpha"]
    batch_size: int | str = DEFAULTS["batch_size"]
    learning_rate: str = DEFAULTS["learning_rate"]
    learning_rate_init: float = DEFAULTS["learning_rate_init"]
    power_t: float = DEFAULTS["power_t"]
    max_iter: int = DEFAULTS["max_iter"]
    shuffle: bool = DEFAULTS["shuffle"]
    tol: float = DEFAULTS["tol"]
    n_iter_no_change: int = DEFAULTS["n_iter_no_change"]
    momentum: float = DEFAULTS["momentum"]
    nesterovs_momentum: bool = DEFAULTS["nesterovs_momentum"]
    beta_1: float = DEFAULTS["beta_1"]
    beta_2: float = DEFAULTS["beta_2"]
    epsilon: float = DEFAULTS["epsilon"]
    verbose: bool = DEFAULTS["verbose"]
    early_stopping: bool = DEFAULTS["early_stopping"]
    max_fun: int = DEFAULTS["max_fun"]
    # Not a parameter: the path the fit resolved from sklearn_lth's config
    # when it started ("numpy" or "numba"; see _config), the same for every
    # round and worker of the fit. A name, not the backend object: it is
    # recorded in checkpoints and sent to workers; each round asks
    # sklearn_lth._kernels.backend_for for the object.
    kernels: str = "numpy"

    @classmethod
    def from_params(
        cls, params: Mapping[str, object], layer_units: list[int]
    ) -> TrainingConfig:
        """The training an estimator's ``params`` ask for, on these layers.

        The kernel path is the one :mod:`sklearn_lth._config` gives a network
        of that many weights; L-BFGS has no compiled kernels and takes numpy.
        """
        kernels = "numpy"
        if params["solver"] != "lbfgs":
            n_weights = sum(a * b for a, b in zip(layer_units, layer_units[1:]))
            kernels = resolved_kernels(n_weights)
        names = [f.name for f in fields(cls) if f.name != "kernels"]
        return cls(**{name: params[name] for name in names}, kernels=kernels)

    def resolved_batch_size(self, n_samples: int) -> int:
        """The mini-batch size for ``n_samples`` training rows."""
        return resolve_batch_size(self.batch_size, n_samples)

    def steps_per_epoch(self, n_samples: int) -> int:
        """Optimizer steps in one epoch over ``n_samples`` training rows.

        The last mini-batch of an epoch may be short. The search uses this
        too (the steps a rewind point is counted in): keep it the only place
        that computes it.
        """
        return -(-n_samples // self.resolved_batch_size(n_samples))
