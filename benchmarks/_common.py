"""Shared helpers: medians of repeated timings and the markdown table."""

from __future__ import annotations

import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

from sklearn.exceptions import ConvergenceWarning

warnings.filterwarnings("ignore", category=ConvergenceWarning)


def median_seconds(
    run: Callable[[], object], repeats: int = 5, warmup: int = 1
) -> float:
    """Median wall time of ``run()`` over ``repeats`` calls, after warm-up calls."""
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeats):
        tic = time.perf_counter()
        run()
        times.append(time.perf_counter() - tic)
    return statistics.median(times)


@dataclass
class Row:
    """One line of the results table: ``ours / baseline`` against a target."""

    figure: str
    ours: float
    baseline: float
    target: float
    unit: str = "s"
    lower_is_better: bool = True

    @property
    def ratio(self) -> float:
        return self.ours / self.baseline

    @property
    def met(self) -> bool:
        if self.lower_is_better:
            return self.ratio <= self.target
        return self.ratio >= self.target


def print_table(rows: list[Row]) -> None:
    print("| figure | ours | baseline | ratio | target | met? |")
    print("|---|---:|---:|---:|---:|:---:|")
    for row in rows:
        sign = "<=" if row.lower_is_better else ">="
        print(
            f"| {row.figure} | {row.ours:.4g} {row.unit} | {row.baseline:.4g} "
            f"{row.unit} | {row.ratio:.3f} | {sign} {row.target} | "
            f"{'yes' if row.met else 'NO'} |"
        )


# A busy loop that ends by itself, should its parent die before stopping it.
_SPIN = "import time\nend = time.monotonic() + {}\nwhile time.monotonic() < end: pass"


class BusyMachine:
    """Other work on the machine: ``n_processes`` busy loops, for at most
    ``seconds``, stopped when the block ends.

    ``with BusyMachine(2): ...`` measures as a user would on a 2-core machine
    where two other programs compute.
    """

    def __init__(self, n_processes: int = 2, seconds: float = 120.0):
        self.n_processes, self.seconds = n_processes, seconds

    def __enter__(self) -> BusyMachine:
        import subprocess
        import sys

        code = _SPIN.format(self.seconds)
        self.processes = [
            subprocess.Popen([sys.executable, "-c", code])
            for _ in range(self.n_processes)
        ]
        time.sleep(0.5)  # the loops are running before the timing starts
        return self

    def __exit__(self, *exc) -> None:
        for process in self.processes:
            process.kill()
        for process in self.processes:
            process.wait()
