"""Native thread pools pinned to a fixed size, so a fit gives the same bytes on any machine.

HistGradientBoosting sums gradients in OpenMP reductions whose order depends on the number of threads, and
BLAS blocks its products by thread count: the model differs in its last bits between a 1-core and a 4-core
machine unless the thread count is fixed. threadpoolctl sets every pool (OpenMP, BLAS) to ``threads``;
``OMP_NUM_THREADS`` is set too because scikit-learn otherwise caps OpenMP at the CPUs this process may use
(``taskset``, cgroups), which would change the count again.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

OMP_ENV = "OMP_NUM_THREADS"


@contextlib.contextmanager
def pinned(threads: int) -> Iterator[None]:
    """Run the block with every native thread pool at exactly ``threads`` threads."""
    from threadpoolctl import threadpool_limits

    before = os.environ.get(OMP_ENV)
    os.environ[OMP_ENV] = str(threads)
    try:
        with threadpool_limits(limits=threads):
            yield
    finally:
        if before is None:
            os.environ.pop(OMP_ENV, None)
        else:
            os.environ[OMP_ENV] = before
