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

import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from ._config import resolved_blas_threads

#: Below this many multiply-adds per training step a fit takes one thread.
MIN_MULTIPLY_ADDS_FOR_THREADS = 10_000_000


def blas_threads_for(
    layer_units: list[int], batch_size: int, n_seeds: int = 1
) -> int | None:
    """The BLAS threads a fit should use; None: as the caller has them.

    The rule reads the setting, the network and the batch only: not the
    environment's thread variables, which joblib's workers set themselves
    (a fold would then train otherwise than the same fit in the parent).

    Parameters
    ----------
    layer_units : list of int
        The network's layer sizes, inputs to outputs.
    batch_size : int
        The rows of one product (for L-BFGS, those of one chunk).
    n_seeds : int
        Searches of the fit; several search with one thread each (see
        :mod:`sklearn_lth._search._seeds`).
    """
    setting = resolved_blas_threads()
    if n_seeds > 1:
        return 1  # whatever the setting: see _seeds
    if setting != "auto":
        return setting
    n_weights = sum(a * b for a, b in zip(layer_units, layer_units[1:]))
    if batch_size * n_weights < MIN_MULTIPLY_ADDS_FOR_THREADS:
        return 1
    return None


class _Blas:
    """The process's BLAS libraries, and how many fits are inside a block.

    The controller is made at the first fit and kept: finding the libraries
    costs about a millisecond, which a ``partial_fit`` on a small chunk would
    pay at every call (a BLAS loaded after the first fit is not limited).
    """

    def __init__(self):
        self.lock = threading.Lock()
        self.fits_inside = 0
        self.controller = None

    def found(self):
        """The controller of the process's BLAS libraries (found once).

        Call with ``self.lock`` held.
        """
        if self.controller is None:
            from threadpoolctl import ThreadpoolController

            self.controller = ThreadpoolController().select(user_api="blas")
        return self.controller

    def enter(self):
        """Count a fit in; the controller, and whether the fit is alone."""
        with self.lock:
            controller = self.found()  # first: if it fails, no fit is counted
            self.fits_inside += 1
            return controller, self.fits_inside == 1

    def leave(self) -> None:
        with self.lock:
            self.fits_inside -= 1


_BLAS = _Blas()


def current_blas_threads() -> int | None:
    """How many threads the BLAS has now (None when no BLAS is loaded).

    What a caller's BLAS products would use: joblib's workers limit it, as
    do ``threadpool_limits`` blocks and a fit's own policy.
    """
    with _BLAS.lock:
        controller = _BLAS.found()
    counts = [info["num_threads"] for info in controller.info()]
    return max(counts) if counts else None


@contextmanager
def blas_threads(limit: int | None) -> Iterator[int | None]:
    """Run the block with ``limit`` BLAS threads (None: as they are).

    Yields the number of threads the BLAS has in the block: None when no
    BLAS is loaded, or when another fit of this process is already inside
    such a block (in another thread, or around this one). BLAS threads
    belong to the whole process, and threadpoolctl lets one thread at a
    time change a shared pool (the one that set it last and has not given
    it back): only a fit that starts while no other is inside sets them,
    and it gives the caller's setting back as it leaves, in its own thread,
    however it leaves. A fit that starts while another is inside trains
    with the threads that one set, then with the caller's once it has left.
    """
    entered = False
    try:
        controller, alone = _BLAS.enter()
        entered = True
        with ExitStack() as stack:
            threads = None
            if alone:
                if limit is not None:
                    stack.enter_context(controller.limit(limits=limit))
                counts = [info["num_threads"] for info in controller.info()]
                threads = max(counts) if counts else None
            yield threads
    finally:
        if entered:
            _BLAS.leave()
