# What every family of the Cython kernels shares: included (``include "_common.pxi"``) at the
# top of each family's .pyx, so each extension has its own copy (they are small: types,
# constants, scratch buffers, block counts).  The directives are each family's.


import numpy as np

from cython cimport floating
from cython.parallel cimport parallel, prange, threadid
from libc.math cimport INFINITY, fabs, log, log1p, pow, sqrt

from fastnmf._kernels import gram_chunks, pass_parts, row_chunks

# Index arrays of a CSR matrix: int32 or int64 (indices and indptr share one).
ctypedef fused index_t:
    int
    long long

# Rows per reduction block: must equal fastnmf._kernels.ROW_BLOCK (checked in
# __init__.py at import time); a compile-time constant keeps the loops simple.
cdef enum:
    _ROW_BLOCK = 64

# Denominator guard of the multiplicative update: float32 machine epsilon
# (fastnmf._kernels.MU_EPS, also checked in __init__.py).
cdef double _MU_EPS = 1.1920928955078125e-07
# fastnmf._kernels.COMPLEMENT_HESS_RTOL (checked in __init__.py)
cdef double _COMPLEMENT_HESS_RTOL = 1e-12
COMPLEMENT_HESS_RTOL = _COMPLEMENT_HESS_RTOL

# Per-thread scratch rows are separated by _PAD elements (>= 128 bytes) so that
# two threads never write to the same or adjacent cache lines (false sharing
# made mu_update slower with 2 threads than with 1 without it).
cdef enum:
    _PAD = 32


cdef object _scratch(int n_threads, Py_ssize_t width, dtype):
    """Zeroed (n_threads + 1, _PAD + width) buffer; thread t uses row t from column _PAD."""
    return np.zeros((max(n_threads, 1) + 1, _PAD + width), dtype=dtype)

cdef extern from *:
    """
    #ifdef _OPENMP
    #define FASTNMF_COMPILED_WITH_OPENMP 1
    #else
    #define FASTNMF_COMPILED_WITH_OPENMP 0
    #endif
    """
    int FASTNMF_COMPILED_WITH_OPENMP

#: True when this extension was compiled with OpenMP (otherwise prange is serial).
OPENMP = bool(FASTNMF_COMPILED_WITH_OPENMP)

ROW_BLOCK = _ROW_BLOCK
MU_EPS = _MU_EPS


cdef inline Py_ssize_t _n_blocks(Py_ssize_t m) noexcept nogil:
    return (m + _ROW_BLOCK - 1) // _ROW_BLOCK


# HALS sweep: a block's rows are the vector lanes, the block held transposed with
# leading dimension _LD (not 64: a power-of-two stride puts every element of a column
# in the same few cache sets), and the gradients of _LANES rows at a time are kept in
# registers over the components r (measured, 100000 x 32: 8.4 against 11.7 ms per
# float64 sweep on 2 threads, 5.1 against 7.9 ms in float32).  The order of operations
# per row is unchanged, so the results are too.
cdef enum:
    _LANES = 16
    _LD = 72



def _residual_block_rows(Py_ssize_t n):
    """Rows of W H formed per BLAS call: about 2**18 entries, a multiple of 64.
    (Only the size of the scratch block; the result does not depend on it.)"""
    return max(64, ((1 << 18) // max(n, 1)) // 64 * 64)


cdef inline double _max(double a, double b) noexcept nogil:
    # Python's max(a, b): a unless b > a
    return b if b > a else a


cdef inline double _min(double a, double b) noexcept nogil:
    # Python's min(a, b): a unless b < a
    return b if b < a else a
