"""X with unknown entries (missing values): the data forms of fits on known entries only.

Unknown entries are NaN entries and ``mask`` of a dense X, or, with
``missing='unobserved'``, the absent entries of a sparse X (and a dense X's zeros).  The
known entries are held one of these ways, never as an m x n array beyond one copy of X:

* :class:`Observed` (kind 'observed'): the known entries as a CSR matrix with their values
  (stored zeros are known zeros) and a CSR copy of its transpose, O(known) memory: for
  sparse X with ``missing='unobserved'``, and for a dense X with many unknown entries.
* :class:`Complement` (kind 'complement'): X with zeros at the unknown entries plus their
  CSR pattern, for a dense X with few of them (at most :data:`COMPLEMENT_MAX_FRACTION`)
  under the Frobenius coordinate descent, and for select_rank's hold-outs: an ordinary
  iteration (the complete-X products of that X) plus corrections over the unknown entries.
* :class:`SparseComplement` (kind 'sparse-complement'): a sparse X whose absent entries
  are zeros (data), minus a held-out set (select_rank's hold-outs, fitted by
  multiplicative updates whose terms are those of the whole X minus those of the set).

A dense X's unknown entries are found once (:class:`DenseMissing`); which form holds them is
decided when the solver is known (:meth:`DenseMissing.representation`).  :func:`prepare`
validates X and finds its unknown entries.  The solvers on these forms are in
:mod:`fastnmf.solvers.masked`.
"""

import numbers

import numpy as np
import scipy.sparse as sp

from .._validation import dot64
from .base import Data
from .dense import DenseData
from .sparse import SparseData

#: Entries per chunk when W H is formed at given entries (bounds the temporaries).
CHUNK_ENTRIES = 1 << 16

#: What ``missing`` may be.
MISSING = ("nan", "unobserved")


def index_dtype(nnz, m, n):
    """int32 for CSR index arrays when every index and count fits, else int64."""
    return np.int32 if max(nnz, m, n) < np.iinfo(np.int32).max else np.int64


def entry_rows(indptr):
    """The row of each stored entry of a CSR matrix with row pointers ``indptr``."""
    indptr = np.asarray(indptr)
    return np.repeat(np.arange(len(indptr) - 1, dtype=indptr.dtype), np.diff(indptr))


def row_pointers(rows, m):
    """CSR row pointers of entries whose rows, in row order, are ``rows`` (m rows): the
    inverse of :func:`entry_rows`."""
    return np.concatenate(([0], np.cumsum(np.bincount(rows, minlength=m))))


class Observed(Data):
    """The observed entries of an m x n matrix (see the module docstring).

    Attributes: ``X`` (CSR, the observed values, explicit zeros kept), ``XT`` (CSR of
    the transpose, the same entries), ``shape``, ``nnz``; ``rows`` (the row of each
    entry of ``X``) is formed when asked for.
    """

    kind = protocol = "observed"

    def __init__(self, data, indices, indptr, shape, kernels=None, n_threads=1):
        m, n = shape
        nnz = int(indptr[-1])
        idx_dtype = index_dtype(nnz, m, n)
        self.shape = (m, n)
        self.nnz = nnz
        self.X = sp.csr_matrix((data, np.ascontiguousarray(indices, dtype=idx_dtype),
                                np.ascontiguousarray(indptr, dtype=idx_dtype)),
                               shape=shape, copy=False)
        self.XT = self.X.T.tocsr()  # keeps stored zeros; rows come out sorted
        self.XT.sort_indices()
        self.kernels, self.n_threads = kernels, n_threads
        self.dtype = self.X.dtype
        self.cache = {}

    @property
    def n_missing(self):
        return self.shape[0] * self.shape[1] - self.nnz

    @property
    def rows(self):
        return entry_rows(self.X.indptr)

    def init_view(self):
        """A sparse stand-in for X for the initialization: the observed values scaled by
        ``m n / nnz`` (missing at random, its mean and SVD estimate those of X)."""
        m, n = self.shape
        scale = (m * n) / max(self.nnz, 1)
        est = self.X.copy()
        est.data *= est.dtype.type(scale)
        return est


    def counts(self):
        """Observed entries per row and per column."""
        return np.diff(self.X.indptr), np.diff(self.XT.indptr)

    def patterns(self):
        """The CSR (by rows, by columns) that the solvers' kernels take."""
        return self.X, self.XT

    def observed_values(self):
        return self.X.data

    def side(self, side):
        """The entries by rows (side 0: W's rows) or by columns (side 1: H's)."""
        return self.X if side == 0 else self.XT

    def row_sums(self, side, F):
        """Per row of side ``side``: the sum of ``F``'s rows over its observed columns
        (float64)."""
        return _row_sums(self.kernels, self.side(side), F, self.n_threads)

    def mu_terms(self, side, A, B, beta):
        """Numerator, denominator (A's shape and dtype) of the multiplicative update of
        ``A`` over the observed entries of side ``side``, and the loss at the current
        ``(A, B)`` over them (without regularization)."""
        return _mu_terms(self.kernels, self.side(side), A, B, beta, self.n_threads)


def wh_at(W, Ht, rows, cols):
    """``sum_t W[rows, t] Ht[cols, t]`` in float64, in chunks (no len x k temporary)."""
    out = np.empty(len(rows), dtype=np.float64)
    step = max(1, CHUNK_ENTRIES // max(1, W.shape[1]))
    for lo in range(0, len(rows), step):
        hi = min(len(rows), lo + step)
        out[lo:hi] = np.einsum("pk,pk->p", W[rows[lo:hi]], Ht[cols[lo:hi]], dtype=np.float64)
    return out


# ------------------------------------------------------------------- building
def prepare(X, mask=None, missing="nan", name="X", columns=True, chunk_bytes=None):
    """Validate X (and ``mask``) once: ``(Xa, obs)``, ``obs`` None when every entry is
    known (and no ``mask`` was given), else the :class:`Observed` entries (sparse X) or
    a :class:`DenseMissing` (dense X; its ``representation`` is chosen with the solver).

    ``missing='nan'``: NaN entries of a dense X are missing; a sparse X's absent
    entries are zeros (stored NaN is an error).  ``missing='unobserved'``: only a
    sparse X's stored entries are observed (stored NaN: missing too); for a dense X,
    its zeros and NaN are missing.  ``mask`` (dense X only, boolean, True = missing)
    adds missing entries; a ``numpy.ma.MaskedArray`` X brings its own mask.
    ``columns=False`` (``transform``: H is fixed) allows columns with no observed entry.
    An X read in chunks (a memmap, an HDF5 or zarr array, CSR arrays on disk, row blocks:
    :mod:`fastnmf.data.chunked`) becomes a :class:`~fastnmf.data.chunked.ChunkedData` after
    one validation pass, ``chunk_bytes`` of it at a time; it may not have unknown entries.
    """
    from .._validation import check_matrix, check_option
    from .chunked import chunked, in_memory, is_chunked

    check_option(missing, "missing", MISSING)
    from ..distributed import is_dask

    if is_dask(X):  # held on its cluster by the plan (fastnmf.distributed.data.DaskData,
        # or, with unknown entries, fastnmf.distributed.observed.DaskObserved)
        if mask is not None:
            raise ValueError(
                f"mask is not supported for a Dask {name}: mark its unknown entries NaN "
                f"instead ({name} = dask.array.where(mask, numpy.nan, {name}))")
        if X.ndim != 2:
            raise ValueError(f"Expected 2D array, got a {X.ndim}-D Dask array for {name}")
        return X, None
    if is_chunked(X):
        small = in_memory(X, chunk_bytes) if _valid_chunk_bytes(chunk_bytes) else None
        if small is not None:  # fits in one chunk: read whole, an array like any other
            X = small
    if is_chunked(X):
        if mask is not None or missing != "nan":
            raise ValueError(
                f"unknown entries (mask, missing={missing!r}) are not supported when {name} is "
                "read in chunks (a memmap, HDF5 or zarr array, CSR arrays or row blocks); "
                f"load {name} into memory to fit its observed entries")
        return chunked(X, chunk_bytes, name), None
    if isinstance(X, np.ma.MaskedArray):
        own = np.ma.getmaskarray(X)
        # a copy with NaN under the mask: what is stored there is not data (not checked)
        dtype = np.float32 if X.dtype == np.float32 else np.float64
        X = np.ma.filled(X.astype(dtype), np.nan)
        if own.any():
            mask = own if mask is None else (check_mask(mask, own.shape) | own)
    if sp.issparse(X):
        if mask is not None:
            raise ValueError(
                "mask applies to a dense X; for a sparse X whose absent entries are unknown "
                "use missing='unobserved' (only its stored entries are observed)")
        Xa = check_matrix(X, name, allow_nan=missing == "unobserved")
        if missing != "unobserved":
            return Xa, None
        obs = from_sparse(Xa)
    else:
        Xa = check_matrix(X, name, allow_nan=True)
        has_nan = not np.isfinite(Xa.min())  # infinities were rejected: a NaN
        if not (has_nan or mask is not None or missing == "unobserved"):
            return Xa, None
        spec = DenseMissing(Xa, None if mask is None else check_mask(mask, Xa.shape), missing)
        spec.check(name, columns)
        return Xa, spec
    check_observed(obs, name, columns)
    return Xa, obs


def _valid_chunk_bytes(chunk_bytes):
    """Whether ``chunk_bytes`` is a valid value (else :func:`~fastnmf.data.chunked.chunked`
    raises the error, with the message)."""
    return chunk_bytes is None or (not isinstance(chunk_bytes, bool)
                                   and isinstance(chunk_bytes, numbers.Integral)
                                   and chunk_bytes >= 1)


def check_mask(mask, shape):
    """``mask`` as a boolean ndarray of ``shape`` (True = missing)."""
    if sp.issparse(mask):
        raise TypeError("mask must be a dense boolean array-like (True = missing); got a "
                        "sparse matrix")
    arr = np.asarray(mask)
    if arr.dtype != np.bool_:
        raise TypeError(f"mask must be a boolean array (True = missing); got dtype {arr.dtype}")
    if arr.shape != tuple(shape):
        raise ValueError(f"mask must have the shape of X, {tuple(shape)}; got {arr.shape}")
    return arr


def _unknown(block, mask_block, missing):
    """Boolean: which entries of a dense block are unknown."""
    out = np.isnan(block)
    if mask_block is not None:
        out |= mask_block
    if missing == "unobserved":
        out |= block == 0
    return out


class DenseMissing:
    """A dense X with unknown entries, before the solver picks how to hold them:
    :meth:`representation` gives a :class:`Complement` (X with zeros there, and the
    unknown entries' pattern) for the Frobenius coordinate descent when at most
    :data:`COMPLEMENT_MAX_FRACTION` of the entries are unknown, else the
    :class:`Observed` entries."""

    def __init__(self, X, mask, missing):
        self.X, self.mask, self.missing = X, mask, missing
        self.shape = X.shape
        self.T = unknown_pattern(X, mask, missing)
        self.n_missing = self.T.nnz

    def check(self, name="X", columns=True):
        m, n = self.shape
        if self.n_missing == m * n:
            raise ValueError(f"{name} has no observed entry: every entry is missing")
        check_empty(np.flatnonzero(np.diff(self.T.indptr) == n), "row", name)
        if columns:
            check_empty(np.flatnonzero(np.bincount(self.T.indices, minlength=n) == m),
                         "column", name)

    def representation(self, beta, solver):
        m, n = self.shape
        if beta == 2 and solver == "cd" and self.n_missing <= COMPLEMENT_MAX_FRACTION * m * n:
            return Complement(zeros_at(self.X, self.T), self.T)
        return from_dense(self.X, self.mask, self.missing)


#: A dense X with at most this fraction of unknown entries is fitted (Frobenius cd) as
#: X with zeros there plus corrections over them (:class:`Complement`); above it, on the
#: observed entries (:class:`Observed`).  Measured at 4000x3000, rank 32, 2 threads
#: (ms per iteration, Complement / Observed): 10% unknown 92 / 294, 30% 187 / 251, 50%
#: 300 / 182 (Complement's sweeps then on two threads; on one, as now, 10% takes 77).
COMPLEMENT_MAX_FRACTION = 0.4


def unknown_pattern(X, mask, missing):
    """The unknown entries of a dense X as a canonical CSR pattern (values 1), built a
    block of rows at a time."""
    m, n = X.shape
    step = max(1, (1 << 20) // n)
    cols, counts = [], np.empty(m, dtype=np.int64)
    for lo in range(0, m, step):
        hi = min(m, lo + step)
        r, c = np.nonzero(_unknown(X[lo:hi], None if mask is None else mask[lo:hi], missing))
        cols.append(c)
        counts[lo:hi] = np.bincount(r, minlength=hi - lo)
    indptr = np.concatenate(([0], np.cumsum(counts)))
    cols = np.concatenate(cols) if cols else np.empty(0, np.int64)
    return _pattern(cols, indptr, (m, n))


def _pattern(cols, indptr, shape):
    m, n = shape
    nnz = int(indptr[-1])
    idx = index_dtype(nnz, m, n)
    return sp.csr_matrix((np.ones(nnz, dtype=np.float64), np.asarray(cols, dtype=idx),
                          np.asarray(indptr, dtype=idx)), shape=shape)


def zeros_at(X, T):
    """A copy of the dense X (C order) with zeros at the entries of the pattern T (and no
    NaN): the X of a :class:`Complement`."""
    X0 = np.array(X, order="C", copy=True)
    X0[entry_rows(T.indptr), T.indices] = 0
    return X0


def from_dense(X, mask, missing):
    """Observed entries of a dense X: not NaN, not ``mask`` (True = missing), and with
    ``missing='unobserved'`` not zero.  Built a block of rows at a time."""
    m, n = X.shape
    step = max(1, (1 << 20) // n)
    data, cols, counts = [], [], np.empty(m, dtype=np.int64)
    for lo in range(0, m, step):
        hi = min(m, lo + step)
        block = X[lo:hi]
        r, c = np.nonzero(~_unknown(block, None if mask is None else mask[lo:hi], missing))
        data.append(block[r, c])
        cols.append(c)
        counts[lo:hi] = np.bincount(r, minlength=hi - lo)
    indptr = np.concatenate(([0], np.cumsum(counts)))
    data = np.concatenate(data) if data else np.empty(0, X.dtype)
    return Observed(np.ascontiguousarray(data, dtype=X.dtype), np.concatenate(cols), indptr,
                    (m, n))


def from_sparse(X):
    """Observed entries of a canonical CSR X: its stored entries (stored NaN: missing)."""
    data, indices, indptr = X.data, X.indices, X.indptr
    nan = np.isnan(data)
    if nan.any():
        keep = ~nan
        rows = entry_rows(indptr)
        indptr = row_pointers(rows[keep], X.shape[0])
        data, indices = data[keep], indices[keep]
    return Observed(np.ascontiguousarray(data), indices, indptr, X.shape)


def check_observed(obs, name="X", columns=True):
    """Errors for rows/columns with nothing observed, or nothing observed at all (the
    values themselves were checked with X: finite, non-negative)."""
    if obs.nnz == 0:
        raise ValueError(f"{name} has no observed entry: every entry is missing")
    check_empty(np.flatnonzero(np.diff(obs.X.indptr) == 0), "row", name)
    if columns:
        check_empty(np.flatnonzero(np.diff(obs.XT.indptr) == 0), "column", name)


def check_empty(empty, what, name):
    if len(empty):
        shown = ", ".join(str(int(i)) for i in empty[:10]) + (", ..." if len(empty) > 10 else "")
        raise ValueError(
            f"{name} has {len(empty)} {what}(s) with no observed entry ({what} index "
            f"{shown}): their factor {'W' if what == 'row' else 'H'} cannot be estimated. Drop "
            f"them, or impute them before fitting"
        )


class Complement(Data):
    """X known everywhere but at a set T of entries: ``X`` is X with zeros at T (dense
    C-ordered, or CSR without T's entries) and ``T``/``TT`` the pattern of T in CSR, by
    rows and by columns.  The Frobenius coordinate descent then costs an ordinary
    iteration (the products of ``X``, the Gram matrices: :attr:`whole`, the complete-X form
    of that X) plus O(|T| k) per sweep (kernel ``complement_hals_sweep``)."""

    kind = protocol = "complement"

    def __init__(self, X0, T, kernels=None, n_threads=1):
        self.X = X0
        self.dtype = X0.dtype
        self.kernels, self.n_threads = kernels, n_threads
        self.cache = {}
        self.T = T
        self.TT = T.T.tocsr()
        self.TT.sort_indices()
        self.shape = X0.shape
        self.nnz = X0.shape[0] * X0.shape[1] - T.nnz  # known entries
        self.n_missing = T.nnz
        #: the initialization sees X with zeros at T: its factors are scaled by
        #: sqrt(init_scale), as if the unknown entries had the known ones' mean
        self.init_scale = (self.shape[0] * self.shape[1]) / max(self.nnz, 1)

    def init_view(self):
        """What the initialization sees: X with zeros at T."""
        return self.X

    @property
    def whole(self):
        """The complete-X form of ``X`` (zeros at T): its products and Gram matrices."""
        def make():
            cls = SparseData if sp.issparse(self.X) else DenseData
            return cls(self.X, self.kernels, self.n_threads)
        return self.cached("whole", make)

    def counts(self):
        m, n = self.shape
        return n - np.diff(self.T.indptr), m - np.diff(self.TT.indptr)

    def patterns(self):
        return self.T, self.TT

    def observed_values(self):
        X = self.X  # zeros at T, which the mean must leave out
        total = float(X.sum(dtype=np.float64)) if not sp.issparse(X) else float(X.data.sum())
        return np.array([total / max(self.nnz, 1)])


def _row_sums(kernels, pattern, F, n_threads):
    """Per row of a CSR ``pattern``: the sum of ``F``'s rows over its stored columns
    (float64, rows x k)."""
    ones = np.ones(pattern.nnz, dtype=np.float64)
    out = np.empty((pattern.shape[0], F.shape[1]), dtype=np.float64)
    kernels.csr_matmul(ones, pattern.indices, pattern.indptr,
                       np.ascontiguousarray(F, dtype=np.float64), out, n_threads)
    return out


def _mu_terms(kernels, pattern, A, B, beta, n_threads):
    """Numerator, denominator (m x k, A's dtype) of the multiplicative update of ``A``
    over the entries of ``pattern``, and the loss at the current ``(A, B)`` over them
    (without regularization)."""
    m, k = A.shape
    data, ind, ptr = pattern.data, pattern.indices, pattern.indptr
    num = np.empty((m, k), dtype=A.dtype)
    den = np.empty((m, k), dtype=A.dtype)
    ones = np.ones(pattern.nnz, dtype=A.dtype)
    if beta == 2:
        kernels.csr_matmul(data, ind, ptr, B, num, n_threads)
        # sum_p wh_p B[j_p]: the "numerator" of beta = 3 with x = 1
        kernels.mu_numerator_csr(ones, ind, ptr, A, B, 3.0, den, False, n_threads)
        norm_x = dot64(data, data)
        loss = 0.5 * (norm_x - 2.0 * dot64(A, num) + dot64(A, den))
        return num, den, max(loss, 0.0)
    nz = kernels.mu_numerator_csr(data, ind, ptr, A, B, 1.0, num, True, n_threads)
    kernels.csr_matmul(ones, ind, ptr, B, den, n_threads)
    return num, den, nz + dot64(A, den)


def scaled_starts(obs, starts, beta):
    """The initial ``(seed, W, Ht)`` of a fit with unknown entries, initialized (by
    ``init``) from ``obs.init_view()``, brought to the observed entries' scale.

    :class:`Complement` (X with zeros at the unknown entries): W and H times
    ``sqrt(init_scale)``, as if those entries had the known ones' mean.
    :class:`Observed`: W and H times ``sqrt(s)``, s the best scale of ``W H`` for the
    observed entries (``<x, wh> / <wh, wh>``, Frobenius; ``sum x / sum wh``, KL): the
    SVD of the scaled sparse stand-in puts ``W H`` about 50 times too high at the
    observed entries of MovieLens 100k, whose first sweep then had a projected gradient
    so large that scikit-learn's stopping rule (``tol`` times the first one's) stopped
    the fit after 3 iterations, at 1.5 times the converged loss.
    """
    scale = getattr(obs, "init_scale", None)
    out = []
    for seed, W0, Ht0 in starts:
        if scale is None and hasattr(obs, "start_scale"):  # known entries on a cluster
            s = obs.start_scale(W0, Ht0, beta)
        elif scale is None and isinstance(obs, Observed):
            wh = wh_at(W0, Ht0, obs.rows, obs.X.indices)
            x = obs.X.data
            if beta == 2:
                den = float(np.dot(wh, wh))
                s = float(np.dot(x, wh)) / den if den > 0 else 1.0
            else:
                den = float(wh.sum())
                s = float(x.sum(dtype=np.float64)) / den if den > 0 else 1.0
        else:
            s = 1.0 if scale is None else scale
        if s > 0 and s != 1.0:
            f = W0.dtype.type(np.sqrt(s))
            W0, Ht0 = W0 * f, Ht0 * f
        out.append((seed, W0, Ht0))
    return out


class SparseComplement(Data):
    """Sparse X whose absent entries are zeros (data), minus a held-out set T: every
    entry but T is observed.  Fitted (KL, or the 'mu' solver) by multiplicative updates
    whose terms are those of the whole X minus those of T (no m x n array; T is
    sparse); the Frobenius cd uses a :class:`Complement` instead.
    ``rows``, ``cols``: T's entries in row-major order, distinct."""

    kind = protocol = "sparse-complement"

    def __init__(self, X, rows, cols, for_mu=True, kernels=None, n_threads=1):
        m, n = X.shape
        self.dtype = X.dtype
        self.kernels, self.n_threads = kernels, n_threads
        self.cache = {}
        self.shape = X.shape
        self.X = X
        # T as a CSR pattern with X's values there (zeros stored)
        vals = np.asarray(X[rows, cols], dtype=X.dtype).ravel()
        self.T = Observed(vals, cols, row_pointers(rows, m), (m, n))
        # X without the held-out entries
        held = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=X.shape)
        keep = X - X.multiply(held)
        keep.eliminate_zeros()
        self.X_train = keep.tocsr().astype(X.dtype)
        self.X_train.sort_indices()
        if for_mu:  # the transposes the H updates read
            self.XT = X.T.tocsr()
            self.XT_train = self.X_train.T.tocsr()
        self.nnz = m * n - len(rows)
        self.n_missing = len(rows)

    def init_view(self):
        """What the initialization sees: X itself (its zeros are data)."""
        return self.X

    def counts(self):
        m, n = self.shape
        T = self.T  # every entry but the held-out ones
        return n - np.diff(T.X.indptr), m - np.diff(T.XT.indptr)

    def patterns(self):
        return self.T.X, self.T.XT

    def observed_values(self):
        total = float(self.X.data.sum(dtype=np.float64)) - float(self.T.X.data.sum(dtype=np.float64))
        return np.array([total / max(self.nnz, 1)])

    def mu_terms(self, side, A, B, beta):
        """Numerator, denominator and loss of the MU update of A over the training entries
        (``side`` 0: A = W over rows, 1: A = Ht over columns)."""
        return _complement_terms(self.kernels, self, A, B, beta, side, self.n_threads)




def _complement_terms(kernels, comp, A, B, beta, side, n_threads):
    """Numerator, denominator and loss of the MU update of A over the training entries
    of a :class:`_Complement` (``side`` 0: A = W over rows, 1: A = Ht over columns)."""
    T = comp.T.X if side == 0 else comp.T.XT
    X = comp.X if side == 0 else comp.XT
    m, k = A.shape
    ones = np.ones(T.nnz, dtype=A.dtype)
    num = np.empty((m, k), dtype=A.dtype)
    den = np.empty((m, k), dtype=A.dtype)
    held = np.empty((m, k), dtype=A.dtype)
    if beta == 2:
        kernels.csr_matmul(X.data, X.indices, X.indptr, B, num, n_threads)
        kernels.csr_matmul(T.data, T.indices, T.indptr, B, held, n_threads)
        num -= held
        np.maximum(num, 0, out=num)
        kernels.mu_numerator_csr(ones, T.indices, T.indptr, A, B, 3.0, held, False, n_threads)
        den[...] = A @ (B.T @ B)
        den -= held
        np.maximum(den, 0, out=den)
        norm = dot64(X.data, X.data) - dot64(T.data, T.data)
        loss = 0.5 * (norm - 2.0 * dot64(A, num) + dot64(A, den))
        return num, den, max(loss, 0.0)
    Xt = comp.X_train if side == 0 else comp.XT_train
    nz = kernels.mu_numerator_csr(Xt.data, Xt.indices, Xt.indptr, A, B, 1.0, num, True, n_threads)
    kernels.csr_matmul(ones, T.indices, T.indptr, B, held, n_threads)
    den[...] = B.sum(axis=0)[None, :]
    den -= held
    np.maximum(den, 0, out=den)
    return num, den, nz + dot64(A, den)


