"""Numba options in one place, and the helpers shared by the numba kernels."""

import numba
import numpy as np

from .. import n_row_blocks, sum_in_order  # noqa: F401 (re-exported to the kernels)

# No fastmath: it assumes no NaN/inf and lets results depend on vector width.
# Kernels are written so that they vectorize without it (loops over rows held
# as vector lanes, reductions as fixed 8-way partial sums).
JIT = dict(nogil=True, cache=True)
PARALLEL_JIT = dict(JIT, parallel=True)


def set_threads(n_threads):
    """Set numba's thread count, return the previous one (restore in ``finally``)."""
    previous = numba.get_num_threads()
    numba.set_num_threads(max(1, min(int(n_threads), numba.config.NUMBA_NUM_THREADS)))
    return previous


def partials(m):
    return np.zeros(n_row_blocks(m), dtype=np.float64)
