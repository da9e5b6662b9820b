"""The kernel contract.

Every backend module (``reference``, ``numba``, ``cython``) exports exactly the
names in :data:`KERNELS`, with the signatures documented below.  Shared rules:

* Array arguments are C-contiguous and share one dtype, float32 or float64
  (``perm`` is an ``intp`` array).  The caller (``fastnmf._fit``) guarantees this;
  kernels never validate and never allocate anything of size m x n.
* The factor being updated is modified in place; everything else is read only.
* Loops that are parallel run over rows, with the component loop inside, so the
  result of every kernel is the same for every ``n_threads``.  Scalar reductions
  are accumulated in float64 over fixed blocks of :data:`ROW_BLOCK` rows and the
  block partials are summed in order, which keeps them independent of the thread
  count too.

Kernels
-------
hals_sweep(W, HHt, XHt, l1, l2, perm, n_threads) -> float
    One exact coordinate-descent (HALS) sweep over the columns of ``W``
    (m x k) for ``min 0.5||X - W H||^2 + l1 sum(W) + 0.5 l2 ||W||^2``, given the
    Gram matrix ``HHt = H H^T`` (k x k) and the cross product ``XHt = X H^T``
    (m x k).  Components are visited in the order ``perm`` (length k).  For each
    row ``i`` and component ``t``::

        grad = (W[i] @ HHt[t]) - XHt[i, t] + l1 + l2 * W[i, t]
        hess = HHt[t, t] + l2
        W[i, t] = max(W[i, t] - grad / hess, 0)     (skipped when hess == 0)

    The compiled backends evaluate ``grad`` in scikit-learn's order,
    ``-(XHt[i, t] - l1)`` plus ``(HHt[t, r] + l2 [r == t]) * W[i, r]`` for
    r = 0..k-1, so that with the same products they take scikit-learn's steps.

    Returns the sum over all entries of ``|projected gradient|`` measured
    before each coordinate's update (scikit-learn's cd stopping quantity).
    Used for H too, by passing ``H^T`` (n x k), ``W^T W`` and ``X^T W``.

mu_update(W, HHt, XHt, l1, l2, n_threads) -> None
    Multiplicative update for the Frobenius loss (Lee & Seung 2001, with the
    L1/L2 terms of scikit-learn)::

        denom = W @ HHt + l1 + l2 * W   (from the old W, whole row at once)
        denom[denom == 0] = EPS          (EPS = float32 machine epsilon)
        W *= XHt / denom

squared_residual(X, W, H, n_threads) -> float
    ``||X - W H||_F^2`` for dense ``X`` (m x n), ``W`` (m x k), ``H`` (k x n),
    summed directly entry by entry without an m x n temporary: blocks of rows of
    ``W H`` are formed by NumPy's BLAS into a scratch block of about 2**18
    entries (BLAS threads are limited by the caller; ``n_threads`` is what it
    was limited to), each residual ``X[i, j] - (W H)[i, j]`` is formed in the array
    dtype, and its square is summed in float64 row by row, rows added in order.
    Exact where the Gram-matrix identity ``||X||^2 - 2<X H^T, W> + <W^T W, H H^T>``
    cancels catastrophically.

csr_matmul(data, indices, indptr, B, out, n_threads) -> None
    ``out = X @ B`` for a CSR matrix ``X`` (m x n, given by its ``data``,
    ``indices``, ``indptr``; index arrays int32 or int64) and a dense ``B``
    (n x k); ``out`` is m x k.  Row i gathers the rows of B named by its
    nonzeros, in their stored order: ``out[i] = sum_p data[p] * B[indices[p]]``.
    Parallel over rows: the result does not depend on ``n_threads``.

csr_t_matmul(data, indices, indptr, A, out, n_threads) -> None
    ``out = X^T @ A`` for the same CSR ``X`` and a dense ``A`` (m x k); ``out``
    is n x k.  The rows of X are split into ``n_threads`` contiguous chunks; each
    chunk scatters ``data[p] * A[i]`` into ``out[indices[p]]`` in a private
    n x k accumulator (the first chunk directly into ``out``), and the
    accumulators are added to ``out`` in chunk order.  Deterministic for a given
    ``n_threads``; needs ``(n_threads - 1) * n * k`` scratch.
"""

KERNELS = ("hals_sweep", "mu_update", "squared_residual", "csr_matmul", "csr_t_matmul")

#: Rows per block for scalar reductions (fixed, so results do not depend on threads).
ROW_BLOCK = 64

#: Denominator guard of the multiplicative update (scikit-learn's value).
MU_EPS = 1.1920928955078125e-07  # np.finfo(np.float32).eps


def row_chunks(indptr, n_chunks):
    """Row boundaries (length ``n_chunks + 1``) splitting a CSR matrix into
    ``n_chunks`` contiguous row ranges of about equal numbers of nonzeros.

    Shared by every backend so that ``csr_t_matmul`` sums in the same order.
    """
    import numpy as np

    m = len(indptr) - 1
    nnz = int(indptr[-1])
    n_chunks = max(1, min(int(n_chunks), max(m, 1)))
    targets = (np.arange(1, n_chunks, dtype=np.float64) * nnz) / n_chunks
    inner = np.searchsorted(np.asarray(indptr, dtype=np.int64), targets, side="left")
    return np.concatenate(([0], np.minimum(inner, m), [m])).astype(np.intp)
