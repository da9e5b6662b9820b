"""Initial W and H: random, NNDSVD and its variants (Boutsidis & Gallopoulos 2008).

The same ``random_state`` gives the same W and H as scikit-learn's NMF, so a
fit that switches ``from sklearn.decomposition import NMF`` to fastnmf starts
from the same point.
"""

import contextlib

import numpy as np
import scipy.sparse as sp
from scipy import linalg
from sklearn.utils import check_random_state
from sklearn.utils.extmath import svd_flip

from .data.base import Data
from .parallel.config import CONFIG
from .parallel.threads import blas_threads

# scikit-learn normalizes the sketch (LU) after both products of a power iteration; in
# float64 fastnmf only after the second, on the short side (see randomized_svd)
_NORMALIZE_BOTH_SIDES = False


def default_init(n_components, shape):
    """scikit-learn's rule for ``init=None``."""
    return "nndsvda" if n_components <= min(shape) else "random"


def initialize(X, n_components, init, random_state, eps=1e-6, *, kernels=None, n_threads=1):
    """Return C-contiguous ``W`` (m x k) and ``H`` (k x n) in X's dtype.

    Parameters
    ----------
    X : ndarray or CSR matrix of shape (m, n), non-negative float32/float64, or a data form
        (:mod:`fastnmf.data`: X read in chunks), whose products the randomized SVD then uses
    n_components : int
    init : {None, 'random', 'nndsvd', 'nndsvda', 'nndsvdar'}
    random_state : None, int or numpy.random.RandomState
    eps : float
        NNDSVD entries below ``eps`` are set to zero.
    kernels, n_threads : a kernel backend and its thread count
        When given, the randomized SVD's products with a CSR X run on the backend's threaded
        ``csr_matmul``/``csr_t_matmul`` instead of scipy's one-thread products.
    """
    m, n = X.shape
    k = n_components
    if init is None:
        init = default_init(k, X.shape)
    if init != "random" and k > min(m, n):
        raise ValueError(
            f"init={init!r} needs n_components <= min(n_samples, n_features) = "
            f"{min(m, n)}; got n_components={k}. Use init='random' or fewer components"
        )
    if init == "random":
        # mean of |N(0, s^2)| products matches the mean of X: scale sqrt(mean/k)
        scale = np.dtype(X.dtype).type(np.sqrt(X.mean() / k))  # (a NumPy float64 would upcast)
        rng = check_random_state(random_state)
        H = scale * rng.standard_normal(size=(k, n)).astype(X.dtype, copy=False)
        W = scale * rng.standard_normal(size=(m, k)).astype(X.dtype, copy=False)
        np.abs(H, out=H)
        np.abs(W, out=W)
        return np.ascontiguousarray(W), np.ascontiguousarray(H)

    if init not in ("nndsvd", "nndsvda", "nndsvdar"):
        raise ValueError(f"init must be one of {[None, 'random', 'nndsvd', 'nndsvda', 'nndsvdar', 'custom']}; got {init!r}")
    if hasattr(X, "distribute") and init != "nndsvdar" and m >= n:
        # X on a cluster: the same start with W's blocks made where X's are
        from .distributed.start import nndsvd

        return nndsvd(X, k, init, random_state, eps)
    U, S, Vt = randomized_svd(X, k, random_state=random_state, kernels=kernels,
                              n_threads=n_threads)
    scales, H = nndsvd_H(S, Vt, split_norms(U), eps)
    W = nndsvd_W(U, scales, eps)

    if init == "nndsvda":
        mean = X.mean()
        W[W == 0] = mean
        H[H == 0] = mean
    elif init == "nndsvdar":
        rng = check_random_state(random_state)
        mean = X.mean()
        W[W == 0] = np.abs(mean * rng.standard_normal(size=int((W == 0).sum())) / 100)
        H[H == 0] = np.abs(mean * rng.standard_normal(size=int((H == 0).sum())) / 100)
    return (np.ascontiguousarray(W, dtype=X.dtype), np.ascontiguousarray(H, dtype=X.dtype))


def split_norms(U):
    """``(||max(u, 0)||^2, ||min(u, 0)||^2)`` of every column u of U (k x 2, float64): what
    NNDSVD needs of U, which adds up over blocks of rows."""
    U = np.asarray(U, dtype=np.float64)
    pos = np.einsum("ij,ij->j", np.maximum(U, 0), np.maximum(U, 0))
    neg = np.einsum("ij,ij->j", np.minimum(U, 0), np.minimum(U, 0))
    return np.stack([pos, neg], axis=1)


def nndsvd_H(S, Vt, norms2, eps):
    """NNDSVD's H (k x n, entries below ``eps`` zeroed) and, for W, the scale of each column
    of U: ``+c`` (W's column is ``c max(u, 0)``), ``-c`` (``c max(-u, 0)``), ``0`` (an empty
    column), from the singular values ``S``, ``Vt`` and U's :func:`split_norms`.  The leading
    pair of a non-negative matrix can be taken non-negative: W's column 0 is
    ``sqrt(S[0]) |u|`` (:func:`nndsvd_W`)."""
    k = len(S)
    H = np.zeros_like(Vt)
    H[0, :] = np.sqrt(S[0]) * np.abs(Vt[0, :])
    scales = np.zeros(k)
    scales[0] = np.sqrt(S[0])
    for j in range(1, k):
        v = Vt[j, :]
        vp, vn = np.maximum(v, 0), np.abs(np.minimum(v, 0))
        up_n, un_n = np.sqrt(norms2[j, 0]), np.sqrt(norms2[j, 1])
        vp_n, vn_n = np.linalg.norm(vp), np.linalg.norm(vn)
        pos, neg = up_n * vp_n, un_n * vn_n
        # keep whichever sign pattern carries more of the rank-one term
        if pos > neg:
            lam = np.sqrt(S[j] * pos)
            scales[j] = lam / up_n
            H[j, :] = lam * (vp / vp_n)
        elif neg > 0:
            lam = np.sqrt(S[j] * neg)
            scales[j] = -lam / un_n
            H[j, :] = lam * (vn / vn_n)
        # else nothing of this pair survives the sign split (e.g. X == 0): zeros
    H[H < eps] = 0
    return scales, H


def nndsvd_W(U, scales, eps, fill=None):
    """NNDSVD's W from U (any block of its rows) and :func:`nndsvd_H`'s ``scales``: column 0
    ``scales[0] |u|``, column j ``scales[j] max(u, 0)`` or ``|scales[j]| max(-u, 0)``;
    entries below ``eps`` zeroed, then set to ``fill`` when given (nndsvda)."""
    W = np.zeros_like(U)
    W[:, 0] = scales[0] * np.abs(U[:, 0])
    for j in range(1, U.shape[1]):
        if scales[j] > 0:
            W[:, j] = scales[j] * np.maximum(U[:, j], 0)
        elif scales[j] < 0:
            W[:, j] = -scales[j] * np.abs(np.minimum(U[:, j], 0))
    W[W < eps] = 0
    if fill is not None:
        W[W == 0] = fill
    return W


def _threads_if(threaded):
    """All BLAS threads (no change) when ``threaded``, else one."""
    return contextlib.nullcontext() if threaded else blas_threads(1)


def _form_products(data, transpose):
    """``(M @ F, M.T @ F)`` for ``M = X.T if transpose else X``, X a data form
    (:mod:`fastnmf.data`: X read in chunks, say), by its own products."""
    def x_times(F, out):
        return data.x_times(np.ascontiguousarray(F), out)

    def xt_times(F, out):
        out[...] = data.xt_times(np.ascontiguousarray(F))
        return out

    return (xt_times, x_times) if transpose else (x_times, xt_times)


def _pooled_products(M, n_threads):
    """``(M @ F, M.T @ F)`` for a dense M (a view of X or of its transpose), each split into
    contiguous chunks of the output's rows on fastnmf's pool (``n_threads`` workers), one
    single-threaded BLAS call per chunk (``init_threaded_product_flops`` of :mod:`fastnmf.parallel.config`: not on OpenBLAS's
    threads, whose workers spin for about a tenth of a second after a threaded call and
    would slow the OpenMP fit that follows; the pool's idle workers block)."""
    from .parallel.pool import chunk_bounds, row_threads

    pool = row_threads(n_threads)
    rows, cols = M.shape
    by_rows, by_cols = chunk_bounds(rows, n_threads, 1), chunk_bounds(cols, n_threads, 1)

    def m_times(F, out):
        with blas_threads(1):
            pool.map(lambda lo, hi: np.matmul(M[lo:hi], F, out=out[lo:hi]), by_rows)
        return out

    def mt_times(F, out):
        with blas_threads(1):
            pool.map(lambda lo, hi: np.matmul(M[:, lo:hi].T, F, out=out[lo:hi]), by_cols)
        return out

    return m_times, mt_times


def _sparse_products(X, dtype, transpose, kernels, n_threads):
    """``(M @ F, M.T @ F)`` for ``M = X.T if transpose else X``, on the backend's threaded CSR
    kernels (F C-contiguous in X's dtype), or None where they do not apply (no backend, not
    CSR, or another dtype)."""
    if kernels is None or X.format != "csr" or X.dtype != dtype:
        return None
    if X.indices.dtype not in (np.int32, np.int64) or X.indptr.dtype != X.indices.dtype:
        return None

    def x_times(F, out):  # X @ F: (m x n) (n x l), into out
        kernels.csr_matmul(X.data, X.indices, X.indptr, np.ascontiguousarray(F), out, n_threads)
        return out

    # X^T @ F (n x l, F m x l): a scatter over X's rows reads F in order and writes the output
    # at random; a gather over a CSR copy of X^T (made once, O(nnz)) writes in order and reads
    # F at random.  Each output row sums its entries in the same order either way (rows of X
    # in order), so on one thread the numbers are the same; the random side should be the
    # smaller array: the gather on wide X (m < n), the scatter on tall X (measured on 2 cores,
    # whole starts: news 3824 x 27788 100 -> 88 ms and 2000 x 20925 68 -> 57 ms with the
    # gather; tweets 20000 x 9940 74 -> 90 ms and 100000 x 20000 541 -> 552 ms)
    if X.shape[0] < X.shape[1]:
        XT = X.T.tocsr()
        XT.sort_indices()
        if XT.indices.dtype != XT.indptr.dtype:
            XT.indptr = XT.indptr.astype(XT.indices.dtype)

        def xt_times(F, out):  # X^T @ F: (n x m) (m x l), into out
            kernels.csr_matmul(XT.data, XT.indices, XT.indptr, np.ascontiguousarray(F), out,
                               n_threads)
            return out
    else:
        def xt_times(F, out):  # X^T @ F: (n x m) (m x l), into out
            kernels.csr_t_matmul(X.data, X.indices, X.indptr, np.ascontiguousarray(F), out,
                                 n_threads)
            return out

    return (xt_times, x_times) if transpose else (x_times, xt_times)


def randomized_svd(M, n_components, *, random_state=None, n_oversamples=10, kernels=None,
                   n_threads=1):
    """scikit-learn's ``randomized_svd`` with its defaults (Halko et al. 2009, algorithm 4.3;
    ``n_iter='auto'``, LU-normalized power iterations, ``flip_sign=True``, transposed when
    ``n_samples < n_features``): the same random sketch and the same products, so the same
    result to rounding.  What differs is where the time goes:

    - In float64 the sketch is normalized once per power iteration, after the product that
      leaves it on the short side (``min(m, n) x (k + 10)``), where scikit-learn factors it
      after both products.  The normalization changes the basis, not the subspace it spans,
      and the subspace is all the result depends on; skipping one costs accuracy only in
      directions whose singular value is below ``sqrt(eps)`` times the largest.  Measured on
      the corpus and two synthetic cases: max relative difference from scikit-learn's start
      3.0e-12 (2.0e-12 with both); on a spectrum falling over 14 decades the leading
      triplets agree to 1e-12; in a cluster of noise singular values the sketch has not
      resolved (1-3% from the true ones in both libraries) up to 4e-10.  On a 100000 x 20000
      CSR matrix the seven LUs of the tall side took ~0.23 s of a 1.3 s start (and fresh
      product outputs, below, ~0.3 s); the start now takes 0.51 s against scikit-learn's
      1.15 s.  float32 keeps both normalizations (there ``sqrt(eps)`` is 2.4e-4).
    - The LU and QR factorizations of the thin sketch and the small SVD run on one BLAS
      thread unless the sketch is tall (OpenBLAS's threaded getrf on a C-ordered tall, thin
      matrix took 10x longer than one thread: 14 ms against 1.5 ms at 4000 x 42), and the
      products with X are threaded only when they are large enough to gain from it.
    - The products write into two buffers reused at every step.

    On a CSR X, with ``kernels`` given, the products are the backend's threaded
    ``csr_matmul`` on X and, for X^T, ``csr_matmul`` on a CSR copy of X^T made for the start
    (O(nnz), freed after it) when X is wide, ``csr_t_matmul`` on X when it is tall, on
    ``n_threads`` (else scipy's, on one thread), and the
    factorizations are BLAS's; kept on one thread, they also leave no OpenBLAS workers
    spinning (for about a tenth of a second after a threaded call) against the fit's OpenMP
    kernels that follow: measured on the corpus, whole default fits, 300 x 3382 TF-IDF 0.23
    -> 0.12 s, 20000 x 9940 tweets 0.68 -> 0.57 s (``benchmarks/results/init.md``)."""
    rng = check_random_state(random_state)
    k = n_components
    n_random = k + n_oversamples
    m, n = M.shape
    n_iter = 7 if k < 0.1 * min(m, n) else 4
    transpose = m < n
    dtype = np.float32 if M.dtype == np.float32 else np.float64
    native = None
    if isinstance(M, Data):  # a data form (X read in chunks): its own products
        native = _form_products(M, transpose)
    elif sp.issparse(M):
        nt = n_threads if M.nnz * n_random >= CONFIG.init_threaded_sparse_flops else 1
        native = _sparse_products(M, dtype, transpose, kernels, nt)
    if transpose and not isinstance(M, Data):
        M = M.T
    rows, cols = (n, m) if transpose else (m, n)
    Q = rng.normal(size=(cols, n_random))
    if M.dtype == np.float32:
        Q = Q.astype(np.float32, copy=False)
    # scipy's sparse products are one-threaded whatever BLAS has
    threaded = (native is None and not sp.issparse(M)
                and rows * cols * n_random >= CONFIG.init_threaded_product_flops)

    # where the power iterations normalize the sketch: see the docstring
    both_sides = Q.dtype == np.float32 or _NORMALIZE_BOTH_SIDES

    def lu(Y):
        # the factorization of a thin sketch: one thread, in F order, unless it is tall
        # (threaded or not, getrf on the C-ordered sketch is slow here); threaded on a tall
        # one, as it is (100000 x 42: 62 ms against 82 ms with the conversion)
        tall = Y.size >= CONFIG.init_threaded_factor_size
        with _threads_if(tall):
            return linalg.lu(Y if tall else np.asfortranarray(Y), permute_l=True,
                             check_finite=False)[0]

    # the products' outputs: two buffers written in place at every step (a fresh rows x l
    # array per step costs its page faults: 100000 x 42, 10-20 ms on top of a 10 ms product)
    buffers = {}

    def buffer(side):  # 'rows' or 'cols' x Q's width (below k + 10 where an LU of a wide
        # sketch cut it); one per side, so a product never writes over its own input
        shape = (rows if side == "rows" else cols, Q.shape[1])
        if side not in buffers or buffers[side].shape != shape:
            buffers[side] = np.empty(shape, dtype=Q.dtype)
        return buffers[side]

    pooled = _pooled_products(M, n_threads) if threaded and n_threads > 1 else None

    def m_times(F, out):
        if native is not None:
            return native[0](F, out)
        if sp.issparse(M):
            return M @ F
        if pooled is not None:
            return pooled[0](F, out)
        with blas_threads(1):
            return np.matmul(M, F, out=out)

    def mt_times(F, out):
        if native is not None:
            return native[1](F, out)
        if sp.issparse(M):
            return M.T @ F
        if pooled is not None:
            return pooled[1](F, out)
        with blas_threads(1):
            return np.matmul(M.T, F, out=out)

    for _ in range(n_iter):
        if both_sides:
            Q = lu(m_times(Q, buffer("rows")))
            Q = lu(mt_times(Q, buffer("cols")))
        else:
            Q = lu(mt_times(m_times(Q, buffer("rows")), buffer("cols")))
    Y = m_times(Q, buffer("rows"))
    with _threads_if(Y.size >= CONFIG.init_threaded_factor_size):
        Q, _ = linalg.qr(Y, mode="economic", check_finite=False)
    B = np.asarray(mt_times(Q, buffer("cols")).T)
    with blas_threads(1):
        Uhat, s, Vt = linalg.svd(B, full_matrices=False, lapack_driver="gesdd")
        # U in F order (the same product, transposed): svd_flip's arg-max down its columns
        # is then 25x faster (100000 x 42: 9 against 220 ms)
        U = (Uhat.T @ Q.T).T
        U, Vt = svd_flip(U, Vt, u_based_decision=not transpose)
    if transpose:
        return Vt[:k, :].T, s[:k], U[:, :k].T
    return U[:, :k], s[:k], Vt[:k, :]
