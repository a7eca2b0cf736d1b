"""The thread policy: how many BLAS threads the products of a fit use.

A BLAS such as OpenBLAS splits each matrix product over its threads, which
then wait for each other, spinning, at the end of every product. On a quiet
machine a second thread shortens a training step by a fraction that grows
with the step's size; on a machine where other programs compute, a thread
that waits for one the system has descheduled makes every product late, and
small products (many per second) pay most. Measured on 2 cores with
OpenBLAS 0.3.30 (SkylakeX kernel), dense training steps, 2 threads against
1 (``benchmarks/bench_threads.py`` prints the same on any machine):

======================  ===========  ========  ==================
multiply-adds per step  quiet        one busy  two busy programs
======================  ===========  ========  ==================
1.3 M (64-100-10)       0.92-0.98    1.9       5 to 20
16 M (784-300-100, 60)  0.85-0.91    2.4       2.4
360 M (784-1000-1000)   0.69-0.74    1.7       1.6
======================  ===========  ========  ==================

So ``blas_threads="auto"`` (see :func:`sklearn_lth.set_config`) gives a
fit one thread when its step has fewer than
:data:`MIN_MULTIPLY_ADDS_FOR_THREADS` multiply-adds (the batch size times
the dense network's weights), where a second thread saves under about 10%
when the machine is quiet and costs several times that when it is not; a
larger network keeps the threads its BLAS has. The choice depends on the
network and the batch only, never on the machine's load at the time: a
BLAS's sums can differ in the last bits with its thread count, and a fit
must give the same result each time it runs on one machine.

BLAS threads are a setting of the whole process: fits that run at the same
time in threads of one process share them (see :func:`blas_threads`).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from ._config import resolved_blas_threads

#: Below this many multiply-adds per training step a fit takes one thread.
MIN_MULTIPLY_ADDS_FOR_THREADS = 10_000_000

# A user who set one of these chose the BLAS's threads: "auto" leaves them.
BLAS_THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
)


def blas_threads_for(
    layer_units: list[int], batch_size: int, n_seeds: int = 1
) -> int | None:
    """The BLAS threads a fit should use; None: as the caller has them.

    Parameters
    ----------
    layer_units : list of int
        The network's layer sizes, inputs to outputs.
    batch_size : int
        The rows of one training step (all training rows for L-BFGS).
    n_seeds : int
        Searches of the fit; several search with one thread each (see
        :mod:`sklearn_lth._search._seeds`).
    """
    setting = resolved_blas_threads()
    if n_seeds > 1:
        return 1  # whatever the setting: see _seeds
    if setting != "auto":
        return setting
    if any(os.environ.get(name) for name in BLAS_THREAD_VARIABLES):
        return None
    n_weights = sum(a * b for a, b in zip(layer_units, layer_units[1:]))
    if batch_size * n_weights < MIN_MULTIPLY_ADDS_FOR_THREADS:
        return 1
    return None


class _FitsInside:
    """How many fits of this process are inside :func:`blas_threads` now."""

    def __init__(self):
        self.lock = threading.Lock()
        self.count = 0

    def enter(self) -> bool:
        """Count a fit in; whether it is the only one."""
        with self.lock:
            self.count += 1
            return self.count == 1

    def leave(self) -> None:
        with self.lock:
            self.count -= 1


_FITS = _FitsInside()


@contextmanager
def blas_threads(limit: int | None) -> Iterator[int | None]:
    """Run the block with ``limit`` BLAS threads (None: as they are).

    Yields the number of threads the BLAS has in the block (None when no
    BLAS is loaded). BLAS threads belong to the whole process: only a fit
    that starts while no other is inside sets them, and it gives the
    caller's setting back as it leaves, in its own thread, however it leaves
    (threadpoolctl lets only one thread at a time change a shared pool, the
    one that set it last and has not given it back). A fit that starts while
    another is inside, in another thread, runs with the threads that one
    set, or the caller's once it has left.
    """
    from threadpoolctl import ThreadpoolController

    controller = ThreadpoolController()
    first = _FITS.enter()
    try:
        with ExitStack() as stack:
            if first and limit is not None:
                stack.enter_context(controller.limit(limits=limit, user_api="blas"))
            counts = [
                info["num_threads"]
                for info in controller.select(user_api="blas").info()
            ]
            yield max(counts) if counts else None
    finally:
        _FITS.leave()
