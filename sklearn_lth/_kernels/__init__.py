"""Kernel backends: one object per path owns what the two paths compute differently.

A fit resolves its path once, as a name (``"numpy"`` or ``"numba"``, see
:mod:`sklearn_lth._config`, recorded in ``TrainingConfig.kernels``), and each
round asks :func:`backend_for` for that path's backend. The layers
(:mod:`sklearn_lth._network`) and the training step
(:mod:`sklearn_lth._training`) then call the backend for every computation
that differs between the paths, and never ask which path it is:

- the density crossovers: which kernel a layer uses (dense BLAS or CSR
  products), and whether its weight gradient is computed at the kept
  positions only;
- a layer's products, forward with the bias and the activation, backward with
  the derivative; its gradients (the kept-position gradient, the gather of a
  partial layer's); the refresh of its product operands after an update (the
  scatter of a partial dense layer's weights);
- the layout mini-batches are gathered in, the output's loss and error (the
  softmax's), and the optimizer's update with the L2 term.

:class:`~sklearn_lth._kernels._numpy.NumpyBackend` (numpy, scipy and BLAS) is
complete on its own. :class:`~sklearn_lth._kernels._numba.NumbaBackend`
subclasses it and overrides what the compiled kernels of
:mod:`sklearn_lth._kernels._compiled` compute; it imports numba, and
:func:`backend_for` imports it only when a fit asks for that path, so that
importing sklearn_lth, or fitting on the numpy path, never loads numba.

A new kernel is a method of the backend that uses it (an override, for one
path only); a new path is one new class, named in :func:`backend_for`.
"""

from ._numpy import (
    ACTIVATIONS,
    DERIVATIVES,
    NumpyBackend,
    as_dense,
    flush_subnormal,
)

__all__ = [
    "ACTIVATIONS",
    "DERIVATIVES",
    "NumpyBackend",
    "as_dense",
    "backend_for",
    "flush_subnormal",
]

# One instance per path, shared by every layer and round: backends keep no
# state of their own.
_BACKENDS: dict[str, NumpyBackend] = {"numpy": NumpyBackend()}


def backend_for(kernels: str) -> NumpyBackend:
    """The backend of the path named ``kernels``, ``"numpy"`` or ``"numba"``.

    Raises
    ------
    ValueError
        For any other name.
    """
    backend = _BACKENDS.get(kernels)
    if backend is None:
        if kernels != "numba":
            raise ValueError(
                f"No kernel path named {kernels!r}; expected 'numpy' or 'numba'."
            )
        # Imports numba and the compiled kernels (which compile on first use).
        from ._numba import NumbaBackend

        backend = _BACKENDS.setdefault(kernels, NumbaBackend())
    return backend
