"""Global settings of sklearn-lth, in scikit-learn's style.

``kernels``: which implementation of the training step a fit uses.
``"numpy"`` is numpy, scipy and BLAS alone; ``"numba"`` adds the compiled
kernels of :mod:`sklearn_lth._kernels._compiled` (the optional
``fast`` extra, ``pip install "sklearn-lth[fast]"``); ``"auto"`` (the
default) is ``"numba"`` when numba is installed and the network has at least
``AUTO_MIN_WEIGHTS`` weights, ``"numpy"`` otherwise. The environment variable
``SKLEARN_LTH_KERNELS`` sets the default of every thread and process (the
workers of other libraries' joblib calls, such as ``GridSearchCV(n_jobs=2)``,
included: they start with the default, not with ``set_config``'s).

A fit reads the setting once, when it starts, and passes the resolved path
down to everything it runs, joblib workers included: a fit never mixes the
two paths, whatever ``n_jobs`` or joblib backend. Each round then computes
with that path's backend object (:func:`sklearn_lth._kernels.backend_for`).

``blas_threads``: how many BLAS threads the products of a fit use;
``"auto"`` (the default) is the thread policy of :mod:`sklearn_lth._threads`,
a number sets that many for every fit. ``SKLEARN_LTH_BLAS_THREADS`` sets its
default as ``SKLEARN_LTH_KERNELS`` does the path's.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

KERNELS = ("auto", "numpy", "numba")

# Below this many weights a fit is usually short, and a new process pays
# about 0.4 s to import numba and load the cached kernels: the README's
# digits search (64-100-10, about 3 s) would gain nothing overall. The
# compiled steps are faster there too (0.73 of the numpy path's time for a
# 64-100-10 search to 95% in a warm process): force kernels="numba" for long
# fits of small networks.
AUTO_MIN_WEIGHTS = 50_000

# An empty variable counts as unset.
_global_config = {
    "kernels": os.environ.get("SKLEARN_LTH_KERNELS") or "auto",
    "blas_threads": os.environ.get("SKLEARN_LTH_BLAS_THREADS") or "auto",
}
_local = threading.local()


def _config() -> dict:
    # Each thread starts from the global settings, as scikit-learn's do.
    if not hasattr(_local, "config"):
        _local.config = _global_config.copy()
    return _local.config


def get_config() -> dict:
    """Return the current settings of sklearn-lth.

    Returns
    -------
    config : dict
        ``{"kernels": ..., "blas_threads": ...}``; see :func:`set_config`.

    Examples
    --------
    >>> import sklearn_lth
    >>> sklearn_lth.get_config()["kernels"] in ("auto", "numpy", "numba")
    True
    """
    return _config().copy()


def set_config(
    kernels: str | None = None, blas_threads: int | str | None = None
) -> None:
    """Set sklearn-lth's settings for the current thread.

    Parameters
    ----------
    kernels : {"auto", "numpy", "numba"}, default=None
        The implementation of the training step. ``"numpy"`` uses numpy,
        scipy and BLAS only; ``"numba"`` uses compiled kernels (fused
        optimizer updates, sparse products and kept-position gradients),
        which need the optional ``fast`` extra (numba); ``"auto"`` uses
        numba when it is installed and the layer sizes make at least 50,000
        weights, pruned or not (below that, a fit is usually too short to
        repay the 0.4 s a process spends loading numba and its kernels).
        L-BFGS and :class:`~sklearn_lth.SupermaskMLP` always use numpy.
        Both paths compute the same training up to float rounding; each is
        bit-for-bit reproducible on its own, on one machine. A fit reads the
        setting when it starts (``partial_fit`` at its first call) and hands
        it to its own seeds' and folds' workers. Workers that other libraries
        start (``GridSearchCV(n_jobs=2)``, ``cross_validate(n_jobs=2)``,
        threads or processes) do not see it: they start from the environment
        variable ``SKLEARN_LTH_KERNELS`` (set before Python starts), or
        ``"auto"``. None leaves the setting unchanged.
    blas_threads : "auto" or int, default=None
        How many BLAS threads the products of a fit (and of ``partial_fit``)
        use; the caller's setting is restored when it ends. ``"auto"``: one
        thread for networks whose training step is too small to gain from
        more (fewer than 10 million multiply-adds: batch size times weights;
        for L-BFGS, its chunks of up to 4096 rows), where threads that wait
        for each other make a fit several times slower on a machine that
        runs other work; otherwise the threads the BLAS has (as the
        ``OMP_NUM_THREADS`` family of variables or threadpoolctl set them).
        A number sets that many threads for every fit. Several seeds always
        search with one thread each. Workers that other libraries start see
        the environment variable ``SKLEARN_LTH_BLAS_THREADS``, which sets the
        default, not ``set_config``. None leaves the setting unchanged.

    See Also
    --------
    config_context : The same, for a ``with`` block only.
    get_config : The current settings.

    Examples
    --------
    >>> import sklearn_lth
    >>> sklearn_lth.set_config(kernels="numpy")
    >>> sklearn_lth.get_config()["kernels"]
    'numpy'
    >>> sklearn_lth.set_config(kernels="auto")
    """
    if kernels is not None:
        _check_kernels(kernels)
        _config()["kernels"] = kernels
    if blas_threads is not None:
        _config()["blas_threads"] = _checked_threads(blas_threads)


@contextmanager
def config_context(
    *, kernels: str | None = None, blas_threads: int | str | None = None
) -> Iterator[None]:
    """Change sklearn-lth's settings inside a ``with`` block.

    Parameters
    ----------
    kernels : {"auto", "numpy", "numba"}, default=None
        See :func:`set_config`. None leaves the setting unchanged.
    blas_threads : "auto" or int, default=None
        See :func:`set_config`. None leaves the setting unchanged.

    Notes
    -----
    The setting is the current thread's. It reaches every fit started in the
    block, with the seeds and folds those fits run in other threads or
    processes, but not the workers of other libraries: a
    ``GridSearchCV(n_jobs=2)`` or ``cross_validate(n_jobs=2)`` inside the
    block fits in workers that start from the environment variable
    ``SKLEARN_LTH_KERNELS`` (or ``"auto"``). To choose the path for those,
    set the variable before starting Python, e.g.
    ``SKLEARN_LTH_KERNELS=numpy python script.py``.

    Examples
    --------
    >>> import sklearn_lth
    >>> from sklearn_lth import LotteryTicketMLP
    >>> with sklearn_lth.config_context(kernels="numpy"):
    ...     model = LotteryTicketMLP(max_iter=5).fit([[0.0], [1.0]], [0, 1])
    ...     sklearn_lth.get_config()["kernels"]
    'numpy'
    """
    old = get_config()
    set_config(kernels=kernels, blas_threads=blas_threads)
    try:
        yield
    finally:
        _config().update(old)  # as it was, checked or not


def _check_kernels(kernels, source: str = "kernels") -> None:
    if kernels not in KERNELS:
        raise ValueError(
            f"{source} must be one of {', '.join(map(repr, KERNELS))}; got {kernels!r}."
        )
    if kernels == "numba" and not numba_available():
        raise ImportError(
            f"{source}='numba' needs numba, which is not installed or does not "
            f"import ({_numba_problem}): "
            'pip install "sklearn-lth[fast]" (or pip install numba), or use '
            "kernels='auto', which falls back to numpy."
        )


def _checked_threads(value, source: str = "blas_threads") -> int | str:
    """``"auto"`` or a positive whole number (a string of one, from the
    environment), or a clear error."""
    if value == "auto":
        return value
    try:
        threads = int(value)
    except (TypeError, ValueError, OverflowError):
        threads = 0
    if threads < 1 or isinstance(value, bool) or float(threads) != float(value):
        raise ValueError(
            f"{source} must be 'auto' or a positive whole number of threads; "
            f"got {value!r}."
        )
    return threads


def resolved_blas_threads() -> int | str:
    """The ``blas_threads`` setting of a fit starting now, checked."""
    value = _config()["blas_threads"]
    from_environment = value == os.environ.get("SKLEARN_LTH_BLAS_THREADS")
    return _checked_threads(
        value, "SKLEARN_LTH_BLAS_THREADS" if from_environment else "blas_threads"
    )


_numba_problem: str | None = None


def numba_available() -> bool:
    """Whether numba is installed and imports (tried once, when first asked).

    An installed numba that fails to import (one built for an older numpy,
    say) counts as absent: ``"auto"`` then falls back to numpy.
    """
    global _numba_problem
    if _numba_problem is None:
        if importlib.util.find_spec("numba") is None:
            _numba_problem = "no module named 'numba'"
        else:
            try:
                import numba  # noqa: F401
            except Exception as exc:  # any failure: numba is unusable here
                _numba_problem = f"{type(exc).__name__}: {exc}"
            else:
                _numba_problem = ""
    return not _numba_problem


def resolved_kernels(n_weights: int) -> str:
    """The path a fit of a network of ``n_weights`` weights starting now uses.

    ``"numpy"`` or ``"numba"``.
    """
    kernels = _config()["kernels"]
    # The environment variable may name anything: say so when it did.
    from_environment = kernels == os.environ.get("SKLEARN_LTH_KERNELS")
    _check_kernels(kernels, "SKLEARN_LTH_KERNELS" if from_environment else "kernels")
    if kernels == "auto":
        if n_weights >= AUTO_MIN_WEIGHTS and numba_available():
            return "numba"
        return "numpy"
    return kernels
