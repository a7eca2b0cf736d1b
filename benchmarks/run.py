"""Run every benchmark and print one markdown table.

Usage: ``python benchmarks/run.py`` (from the repository root). Ratios are
measured in one process, medians of repeated runs.
"""

from __future__ import annotations

import datetime
import os
import platform
import sys

sys.path.insert(0, os.path.dirname(__file__))

import bench_curve  # noqa: E402
import bench_cv  # noqa: E402
import bench_kernels  # noqa: E402
import bench_load  # noqa: E402
import bench_predict  # noqa: E402
import bench_seeds  # noqa: E402
import bench_size  # noqa: E402
import bench_speed  # noqa: E402
import bench_threads  # noqa: E402
from _common import print_table  # noqa: E402


def blas_line() -> str:
    """The BLAS libraries the figures ran on: kernel, version and threads."""
    import numpy  # noqa: F401  (loads numpy's BLAS)
    import scipy.linalg  # noqa: F401  (loads scipy's)
    from threadpoolctl import threadpool_info

    return "; ".join(
        f"{lib['filepath'].rsplit('/', 1)[-1]}: {lib['internal_api']} "
        f"{lib.get('version')}, kernel {lib.get('architecture')}, "
        f"{lib['num_threads']} threads"
        for lib in threadpool_info()
        if lib["user_api"] == "blas"
    )


def main() -> None:
    print(
        f"sklearn-lth benchmarks, {datetime.date.today()}, {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(f"BLAS: {blas_line()}")
    try:
        import numba

        print(f"numba {numba.__version__} (the [numba] rows)")
    except ImportError:
        print("numba not installed: numpy path only")
    print()
    rows = bench_speed.run() + bench_size.run() + bench_seeds.run() + bench_load.run()
    rows += bench_cv.run() + bench_threads.run() + bench_predict.run()
    rows += bench_curve.run()  # needs PyTorch, skipped without it
    print_table(rows)
    print()
    for load, grid in bench_predict.GRIDS.items():
        print(f"predict time, ours / MLPClassifier (784-300-100-10, float32), {load}:")
        print()
        bench_predict.print_predict_grid(grid)
        print()
    print("An epoch at each density of a 12-round search, / the dense epoch")
    print("(784-300-100-10, batches of 60, float32, global magnitude patterns):")
    print()
    bench_speed.print_density_table()
    print()
    print("Layer step per kernel and path (784x300 float32 layer, batches of 60):")
    print()
    bench_kernels.main()
    print()
    print("The compiled CSR kernels alone (784x300, batches of 60):")
    print()
    bench_kernels.print_bandwidth()


if __name__ == "__main__":
    main()
