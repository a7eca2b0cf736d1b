"""The estimator the options describe, and whether its training fits in memory.

:func:`build_estimator` validates the estimator's parameters before anything
is read; :func:`check_memory` refuses a network too large for the memory
:func:`available_memory` reports (which also bounds the CSV file read).
"""

from __future__ import annotations

import contextlib
import os

import numpy as np

from .._mlp import LotteryTicketMLP, LotteryTicketMLPRegressor
from ._data import Split
from ._errors import UsageError, one_line
from ._tabular import format_size

#: Peak bytes of memory per weight of the network while a round trains,
#: measured on digits with 1.5 and 6 million weights (120 for Adam and SGD,
#: 590 for L-BFGS, whose history holds ten pairs of full vectors): the
#: weights, their gradients, the optimizer's state, the rewind snapshot and
#: the activations of a batch.
BYTES_PER_WEIGHT = {"adam": 120, "sgd": 120, "lbfgs": 600}


def available_memory() -> int | None:
    """Bytes of memory this process may still allocate, or None if unknown.

    The least of the system's available memory (``MemAvailable`` on Linux),
    a cgroup (container) limit, and the address-space limit (``ulimit -v``)
    less the process's current size.
    """
    limits = []
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    limits.append(int(line.split()[1]) * 1024)
    if not limits:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            limits.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    with contextlib.suppress(OSError, ValueError):
        with open("/sys/fs/cgroup/memory.max") as handle:
            limit = handle.read().strip()
        with open("/sys/fs/cgroup/memory.current") as handle:
            used = int(handle.read().strip())
        if limit != "max":
            limits.append(max(int(limit) - used, 0))
    with contextlib.suppress(ImportError, OSError, ValueError):
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft != resource.RLIM_INFINITY:
            with open("/proc/self/statm") as handle:
                size = int(handle.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
            limits.append(max(soft - size, 0))
    return min(limits) if limits else None


def build_estimator(args, task: str):
    """The estimator the options describe, its parameters validated."""
    if args.n_jobs is not None and args.n_seeds == 1:
        raise UsageError(
            "--n-jobs applies with --n-seeds 2 or more (the seeds are what runs "
            "in parallel)"
        )
    Estimator = LotteryTicketMLPRegressor if task == "regression" else LotteryTicketMLP
    estimator = Estimator(
        hidden_layer_sizes=args.hidden_layer_sizes,
        activation=args.activation,
        target_sparsity=args.target_sparsity,
        pruning_rounds=args.pruning_rounds,
        pruning_scope=args.pruning_scope,
        output_layer_rate=args.output_layer_rate,
        rewind=args.rewind,
        n_seeds=args.n_seeds,
        n_jobs=args.n_jobs,
        checkpoint_dir=args.checkpoint_dir,
        solver=args.solver,
        learning_rate=args.learning_rate,
        learning_rate_init=args.learning_rate_init,
        alpha=args.alpha,
        batch_size=args.batch_size,
        max_iter=args.max_iter,
        early_stopping=args.early_stopping,
        random_state=args.random_state,
        verbose=args.verbose,
    )
    try:
        estimator._validate_params()
    except ValueError as exc:  # sklearn's InvalidParameterError
        raise UsageError(one_line(exc)) from exc
    return estimator


def _n_outputs(split: Split, task: str) -> int:
    if task == "regression":
        return 1
    n_classes = len(np.unique(split.y_train))
    return 1 if n_classes == 2 else n_classes


def layer_units(split: Split, hidden: tuple[int, ...], task: str) -> list[int]:
    """Units of every layer: inputs, the hidden layers, outputs."""
    return [split.n_inputs, *hidden, _n_outputs(split, task)]


def check_memory(units: list[int], args, memory: int | None) -> None:
    """Refuse a network whose training would not fit in ``memory`` bytes.

    Estimated from :data:`BYTES_PER_WEIGHT`, times the seeds searched at
    once (``--n-seeds`` with ``--n-jobs``). Without a known limit, no check.
    """
    if memory is None:
        return
    n_weights = sum(a * b for a, b in zip(units[:-1], units[1:]))
    parallel = 1
    if args.n_seeds > 1 and args.n_jobs is not None:
        workers = (os.cpu_count() or 1) if args.n_jobs == -1 else args.n_jobs
        parallel = min(args.n_seeds, workers)
    per_weight = BYTES_PER_WEIGHT.get(args.solver, max(BYTES_PER_WEIGHT.values()))
    needed = n_weights * per_weight * parallel
    if needed > memory:
        seeds = f" ({parallel} seeds at once)" if parallel > 1 else ""
        raise UsageError(
            f"a {'-'.join(map(str, units))} network has {n_weights:,} weights: "
            f"training it{seeds} needs about {format_size(needed)} of memory, more "
            f"than the {format_size(memory)} available; choose smaller "
            "--hidden-layer-sizes" + (" or a lower --n-jobs" if parallel > 1 else "")
        )
