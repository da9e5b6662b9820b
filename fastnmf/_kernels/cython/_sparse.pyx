# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, binding=True, embedsignature=True
"""CSR times dense products: ``X @ B`` and ``X^T @ A`` over the stored entries.

One family of the Cython kernels (what every family shares: :mod:`fastnmf._kernels.cython`).
"""

include "_common.pxi"


cdef extern from "fastnmf_vector.h":
    void fastnmf_csr_di_gather(const double* data, const int* idx, Py_ssize_t p0,
                               Py_ssize_t p1, const double* B, Py_ssize_t k,
                               double* out) noexcept nogil
    void fastnmf_csr_dl_gather(const double* data, const long long* idx, Py_ssize_t p0,
                               Py_ssize_t p1, const double* B, Py_ssize_t k,
                               double* out) noexcept nogil
    void fastnmf_csr_fi_gather(const float* data, const int* idx, Py_ssize_t p0,
                               Py_ssize_t p1, const float* B, Py_ssize_t k,
                               float* out) noexcept nogil
    void fastnmf_csr_fl_gather(const float* data, const long long* idx, Py_ssize_t p0,
                               Py_ssize_t p1, const float* B, Py_ssize_t k,
                               float* out) noexcept nogil
    void fastnmf_csr_di_scatter(const double* data, const int* idx, Py_ssize_t p0,
                                Py_ssize_t p1, const double* a, Py_ssize_t k,
                                double* acc) noexcept nogil
    void fastnmf_csr_dl_scatter(const double* data, const long long* idx, Py_ssize_t p0,
                                Py_ssize_t p1, const double* a, Py_ssize_t k,
                                double* acc) noexcept nogil
    void fastnmf_csr_fi_scatter(const float* data, const int* idx, Py_ssize_t p0,
                                Py_ssize_t p1, const float* a, Py_ssize_t k,
                                float* acc) noexcept nogil
    void fastnmf_csr_fl_scatter(const float* data, const long long* idx, Py_ssize_t p0,
                                Py_ssize_t p1, const float* a, Py_ssize_t k,
                                float* acc) noexcept nogil


cdef inline void _csr_gather(const floating* data, const index_t* idx, Py_ssize_t p0,
                             Py_ssize_t p1, const floating* B, Py_ssize_t k,
                             floating* out) noexcept nogil:
    """out[:k] = sum_p data[p] * B[idx[p]], p = p0 .. p1 - 1 in order (fastnmf_vector.h)."""
    if floating is double:
        if index_t is int:
            fastnmf_csr_di_gather(data, idx, p0, p1, B, k, out)
        else:
            fastnmf_csr_dl_gather(data, idx, p0, p1, B, k, out)
    else:
        if index_t is int:
            fastnmf_csr_fi_gather(data, idx, p0, p1, B, k, out)
        else:
            fastnmf_csr_fl_gather(data, idx, p0, p1, B, k, out)


cdef inline void _csr_scatter(const floating* data, const index_t* idx, Py_ssize_t p0,
                              Py_ssize_t p1, const floating* a, Py_ssize_t k,
                              floating* acc) noexcept nogil:
    """acc[idx[p]] += data[p] * a[:k], p = p0 .. p1 - 1 in order (fastnmf_vector.h)."""
    if floating is double:
        if index_t is int:
            fastnmf_csr_di_scatter(data, idx, p0, p1, a, k, acc)
        else:
            fastnmf_csr_dl_scatter(data, idx, p0, p1, a, k, acc)
    else:
        if index_t is int:
            fastnmf_csr_fi_scatter(data, idx, p0, p1, a, k, acc)
        else:
            fastnmf_csr_fl_scatter(data, idx, p0, p1, a, k, acc)


def csr_matmul(const floating[::1] data, const index_t[::1] indices,
               const index_t[::1] indptr, const floating[:, ::1] B,
               floating[:, ::1] out, int n_threads):
    """out = X @ B for a CSR matrix X (data, indices, indptr) and dense B (n x k).

    Parallel over rows of X; row i's nonzeros are gathered in stored order,
    ``out[i] = sum_p data[p] * B[indices[p]]``, the row's sums held in vector registers
    (``fastnmf_vector.h``).  The result does not depend on ``n_threads``.  See
    :mod:`fastnmf._kernels` for the full contract.
    """
    cdef Py_ssize_t m = out.shape[0]
    cdef Py_ssize_t k = out.shape[1]
    cdef Py_ssize_t i
    if m == 0 or k == 0:
        return
    if data.shape[0] == 0:  # no nonzeros (and maybe nothing to point at)
        out[:, :] = 0
        return

    with nogil, parallel(num_threads=n_threads):
        for i in prange(m, schedule='static'):
            _csr_gather(&data[0], &indices[0], <Py_ssize_t> indptr[i],
                        <Py_ssize_t> indptr[i + 1], &B[0, 0], k, &out[i, 0])


def csr_t_matmul(const floating[::1] data, const index_t[::1] indices,
                 const index_t[::1] indptr, const floating[:, ::1] A,
                 floating[:, ::1] out, int n_threads):
    """out = X^T @ A for a CSR matrix X (data, indices, indptr) and dense A (m x k).

    The rows of X are split by ``row_chunks(indptr, n_threads)``; each chunk
    scatters ``data[p] * A[i]`` into ``out[indices[p]]`` in a private n x k
    accumulator (chunk 0 directly into ``out``), rows and nonzeros in order (A's row
    held in vector registers: ``fastnmf_vector.h``), and
    the accumulators are then added to ``out`` in chunk order.  Deterministic for
    a given ``n_threads``.  See :mod:`fastnmf._kernels` for the full contract.
    """
    cdef Py_ssize_t n = out.shape[0]
    cdef Py_ssize_t k = out.shape[1]
    cdef Py_ssize_t nk = n * k
    cdef Py_ssize_t c, i, j, q, r
    cdef floating* acc
    cdef floating* o
    cdef const floating* s
    if n == 0 or k == 0:
        return
    if data.shape[0] == 0:
        out[:, :] = 0
        return
    cdef Py_ssize_t[::1] bounds = row_chunks(np.asarray(indptr), n_threads)
    cdef Py_ssize_t n_chunks = bounds.shape[0] - 1
    dtype = np.float32 if floating is float else np.float64
    # chunk c > 0 scatters into scratch[c - 1]
    cdef floating[:, :, ::1] scratch = np.empty((n_chunks - 1, n, k), dtype=dtype)

    with nogil, parallel(num_threads=n_threads):
        for c in prange(n_chunks, schedule='static', chunksize=1):
            if c == 0:
                acc = &out[0, 0]
            else:
                acc = &scratch[c - 1, 0, 0]
            for q in range(nk):
                acc[q] = 0
            for i in range(bounds[c], bounds[c + 1]):
                _csr_scatter(&data[0], &indices[0], <Py_ssize_t> indptr[i],
                             <Py_ssize_t> indptr[i + 1], &A[i, 0], k, acc)

    if n_chunks < 2:
        return
    # add the private accumulators in chunk order, in parallel over rows of out
    with nogil, parallel(num_threads=n_threads):
        for r in prange(n, schedule='static'):
            o = &out[r, 0]
            for c in range(n_chunks - 1):
                s = &scratch[c, r, 0]
                for j in range(k):
                    o[j] = o[j] + s[j]
