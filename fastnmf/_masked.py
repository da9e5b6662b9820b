"""Fits with unknown entries (missing values).

Unknown entries are NaN entries and ``mask`` of a dense X, or, with
``missing='unobserved'``, the absent entries of a sparse X (and a dense X's zeros).  The
known entries are held one of two ways, never as an m x n array beyond one copy of X:

* :class:`Observed`: the known entries as a CSR matrix with their values (stored zeros
  are known zeros) and a CSR copy of its transpose, O(known) memory: for sparse X
  with ``missing='unobserved'``, and for a dense X with many unknown entries.
* :class:`Complement`: X with zeros at the unknown entries plus their CSR pattern,
  for a dense X with few of them (at most :data:`COMPLEMENT_MAX_FRACTION`) under the
  Frobenius coordinate descent, and for select_rank's hold-outs: an ordinary iteration
  plus corrections over the unknown entries (:func:`fit_complement_cd`).

A dense X's unknown entries are found once (:class:`DenseMissing`); which of the two
holds them is decided when the solver is known.

Solvers on :class:`Observed` (loops over kernels that touch the known entries only):

* :func:`fit_cd`: coordinate descent on the residuals of the observed entries, each
  row forming its residuals and updating them as each coordinate moves (kernel
  ``masked_hals_sweep``; the residual-based CCD++ of Yu, Hsieh, Si & Dhillon 2012, in
  HALS's order: all of W, then all of H), O(nnz k) per sweep.
* :func:`fit_cd_kl`: the KL Newton coordinate descent (kernel ``kl_cd_sweep_csr``)
  with per-row sums of the other factor over each row's observed columns.
* :func:`fit_mu`: multiplicative updates, Frobenius and KL, numerators and
  denominators over the observed entries (kernels ``mu_numerator_csr``,
  ``csr_matmul``).

The loss is over the observed entries: ``0.5 sum_obs (x - wh)^2`` or
``sum_obs x log(x / wh) - x + wh``, plus the regularization terms.
"""

import numpy as np
import scipy.sparse as sp

from ._fit import ErrorRule, FitResult, Keeper, ViolationRule, free_components
from ._validation import dot64

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


class Observed:
    """The observed entries of an m x n matrix (see the module docstring).

    Attributes: ``X`` (CSR, the observed values, explicit zeros kept), ``XT`` (CSR of
    the transpose, the same entries), ``shape``, ``nnz``; ``rows`` (the row of each
    entry of ``X``) is formed when asked for.
    """

    def __init__(self, data, indices, indptr, shape):
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

    @property
    def n_missing(self):
        return self.shape[0] * self.shape[1] - self.nnz

    @property
    def rows(self):
        return entry_rows(self.X.indptr)

    def fill_estimate(self):
        """A sparse stand-in for X for the initialization: the observed values scaled by
        ``m n / nnz`` (missing at random, its mean and SVD estimate those of X)."""
        m, n = self.shape
        scale = (m * n) / max(self.nnz, 1)
        est = self.X.copy()
        est.data *= est.dtype.type(scale)
        return est


def wh_at(W, Ht, rows, cols):
    """``sum_t W[rows, t] Ht[cols, t]`` in float64, in chunks (no len x k temporary)."""
    out = np.empty(len(rows), dtype=np.float64)
    step = max(1, CHUNK_ENTRIES // max(1, W.shape[1]))
    for lo in range(0, len(rows), step):
        hi = min(len(rows), lo + step)
        out[lo:hi] = np.einsum("pk,pk->p", W[rows[lo:hi]], Ht[cols[lo:hi]], dtype=np.float64)
    return out


# ------------------------------------------------------------------- building
def prepare(X, mask=None, missing="nan", name="X", columns=True):
    """Validate X (and ``mask``) once: ``(Xa, obs)``, ``obs`` None when every entry is
    known (and no ``mask`` was given), else the :class:`Observed` entries (sparse X) or
    a :class:`DenseMissing` (dense X; its ``representation`` is chosen with the solver).

    ``missing='nan'``: NaN entries of a dense X are missing; a sparse X's absent
    entries are zeros (stored NaN is an error).  ``missing='unobserved'``: only a
    sparse X's stored entries are observed (stored NaN: missing too); for a dense X,
    its zeros and NaN are missing.  ``mask`` (dense X only, boolean, True = missing)
    adds missing entries; a ``numpy.ma.MaskedArray`` X brings its own mask.
    ``columns=False`` (``transform``: H is fixed) allows columns with no observed entry.
    """
    from ._validation import check_matrix, check_option

    check_option(missing, "missing", MISSING)
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
        _check_empty(np.flatnonzero(np.diff(self.T.indptr) == n), "row", name)
        if columns:
            _check_empty(np.flatnonzero(np.bincount(self.T.indices, minlength=n) == m),
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


class Complement:
    """X known everywhere but at a set T of entries: ``X`` is X with zeros at T (dense
    C-ordered, or CSR without T's entries) and ``T``/``TT`` the pattern of T in CSR, by
    rows and by columns.  The Frobenius coordinate descent then costs an ordinary
    iteration (the products of ``X``, the Gram matrices) plus O(|T| k) per sweep
    (kernel ``complement_hals_sweep``)."""

    def __init__(self, X0, T):
        self.X = X0
        self.T = T
        self.TT = T.T.tocsr()
        self.TT.sort_indices()
        self.shape = X0.shape
        self.nnz = X0.shape[0] * X0.shape[1] - T.nnz  # known entries
        self.n_missing = T.nnz
        #: the initialization sees X with zeros at T: its factors are scaled by
        #: sqrt(init_scale), as if the unknown entries had the known ones' mean
        self.init_scale = (self.shape[0] * self.shape[1]) / max(self.nnz, 1)

    def fill_estimate(self):
        """What the initialization sees: X with zeros at T."""
        return self.X

    def solve(self, solver, beta, W, Ht, common, shuffle, rng):
        return fit_complement_cd(self, W, Ht, shuffle=shuffle, rng=rng, **common)


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
    _check_empty(np.flatnonzero(np.diff(obs.X.indptr) == 0), "row", name)
    if columns:
        _check_empty(np.flatnonzero(np.diff(obs.XT.indptr) == 0), "column", name)


def _check_empty(empty, what, name):
    if len(empty):
        shown = ", ".join(str(int(i)) for i in empty[:10]) + (", ..." if len(empty) > 10 else "")
        raise ValueError(
            f"{name} has {len(empty)} {what}(s) with no observed entry ({what} index "
            f"{shown}): their factor {'W' if what == 'row' else 'H'} cannot be estimated. Drop "
            f"them, or impute them before fitting"
        )


# ------------------------------------------------------------------- solvers
def fit_cd(obs, W, Ht, *, kernels, n_threads, penalty, max_iter, tol, monitor, update_H=True,
           shuffle=False, rng=None, frozen=None, **_):
    """Coordinate descent on the observed entries (Frobenius), scikit-learn's cd order
    and stopping rule (summed projected gradient <= ``tol`` times the first one's)."""
    k = W.shape[1]
    X, XT = obs.X, obs.XT
    order = np.arange(k, dtype=np.intp)
    free = free_components(k, frozen)
    rule = ViolationRule(tol)
    sq = 0.0
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        perm = rng.permutation(k).astype(np.intp) if shuffle else order
        violation, sq = kernels.masked_hals_sweep(X.data, X.indices, X.indptr, W, Ht,
                                                  penalty.l1_W, penalty.l2_W, perm, n_threads)
        if update_H:
            perm = rng.permutation(free).astype(np.intp) if shuffle else free
            v, sq = kernels.masked_hals_sweep(XT.data, XT.indices, XT.indptr, Ht, W,
                                              penalty.l1_H, penalty.l2_H, perm, n_threads)
            violation += v
        loss = 0.5 * sq
        go_on = monitor.record(n_iter, loss + penalty.value(W, Ht), W, Ht,
                               f"  violation {violation:.4e}")
        if not go_on or rule.met(violation):
            break
    return FitResult.from_monitor(W, Ht, n_iter, monitor, 0.5 * sq)


def fit_complement_cd(comp, W, Ht, *, kernels, n_threads, penalty, max_iter, tol, monitor,
                      update_H=True, shuffle=False, rng=None, frozen=None, **_):
    """Coordinate descent (Frobenius) on every entry but the few in ``comp.T``: an
    ordinary iteration's products and Gram matrices (of X with zeros at T) and the
    ``complement_hals_sweep`` kernel, which corrects each coordinate's gradient and
    curvature over T.  The loss is the Gram identity's minus ``0.5 sum_T (W H)^2``.
    scikit-learn's cd order and stopping rule."""
    from ._fit import Products, data_loss

    prod = Products(comp.X, kernels, n_threads)
    norm = dot64(comp.X, comp.X) if not sp.issparse(comp.X) else dot64(comp.X.data, comp.X.data)
    T, TT = comp.T, comp.TT
    k = W.shape[1]

    # sparse X: our kernels have every thread (BLAS one); dense X: BLAS has them, and the
    # sweeps run on one (measured at 4000x3000, rank 32, 10% unknown: 77 ms per iteration
    # against 96 ms with two OpenMP threads spinning against BLAS's workers)
    nt = n_threads if prod.sparse else 1
    nt_W = nt_H = nt
    order = np.arange(k, dtype=np.intp)
    free = free_components(k, frozen)
    HtH = prod.gram(Ht)
    XHt = prod.x_times(Ht)
    rule = ViolationRule(tol)
    loss = 0.0
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        if update_H and n_iter > 1:
            XHt = prod.x_times(Ht, out=XHt)
        perm = rng.permutation(k).astype(np.intp) if shuffle else order
        violation, sq = kernels.complement_hals_sweep(W, HtH, XHt, T.indices, T.indptr, Ht,
                                                      penalty.l1_W, penalty.l2_W, perm, nt_W)
        WtW = prod.gram(W)
        if update_H:
            XtW = prod.xt_times(W)
            perm = rng.permutation(free).astype(np.intp) if shuffle else free
            v, sq = kernels.complement_hals_sweep(Ht, WtW, XtW, TT.indices, TT.indptr, W,
                                                  penalty.l1_H, penalty.l2_H, perm, nt_H)
            violation += v
            HtH = prod.gram(Ht)
            full = data_loss(norm, dot64(XtW, Ht), WtW, HtH)
        else:
            full = data_loss(norm, dot64(XHt, W), WtW, HtH)
        loss = max(full - 0.5 * sq, 0.0)
        go_on = monitor.record(n_iter, loss + penalty.value(W, Ht), W, Ht,
                               f"  violation {violation:.4e}")
        if not go_on or rule.met(violation):
            break
    return FitResult.from_monitor(W, Ht, n_iter, monitor, loss)


def _row_sums(kernels, pattern, F, n_threads):
    """Per row of a CSR ``pattern``: the sum of ``F``'s rows over its stored columns
    (float64, rows x k)."""
    ones = np.ones(pattern.nnz, dtype=np.float64)
    out = np.empty((pattern.shape[0], F.shape[1]), dtype=np.float64)
    kernels.csr_matmul(ones, pattern.indices, pattern.indptr,
                       np.ascontiguousarray(F, dtype=np.float64), out, n_threads)
    return out


def fit_cd_kl(obs, W, Ht, *, kernels, n_threads, penalty, max_iter, tol, monitor,
              update_H=True, max_inner=3, frozen=None, **_):
    """KL Newton coordinate descent on the observed entries: ``kl_cd_sweep_csr`` with
    each row's sum of the other factor over its observed columns."""
    if frozen is not None and len(frozen):
        raise ValueError("frozen components are not supported by the KL coordinate descent; "
                         "use solver='mu'")
    X, XT = obs.X, obs.XT
    rule = ViolationRule(tol)
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        bsum = _row_sums(kernels, X, Ht, n_threads)
        violation, nz = kernels.kl_cd_sweep_csr(X.data, X.indices, X.indptr, W, Ht, bsum,
                                                penalty.l1_W, penalty.l2_W, max_inner,
                                                not update_H, n_threads)
        if update_H:
            bsum = _row_sums(kernels, XT, W, n_threads)
            v, nz = kernels.kl_cd_sweep_csr(XT.data, XT.indices, XT.indptr, Ht, W, bsum,
                                            penalty.l1_H, penalty.l2_H, max_inner, True,
                                            n_threads)
            violation += v
            loss = nz + dot64(Ht.astype(np.float64, copy=False), bsum)
        else:
            loss = nz + dot64(W.astype(np.float64, copy=False), bsum)
        go_on = monitor.record(n_iter, loss + penalty.value(W, Ht), W, Ht,
                               f"  violation {violation:.4e}")
        if not go_on or rule.met(violation):
            break
    return FitResult.from_monitor(W, Ht, n_iter, monitor, loss)


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


def fit_mu(obs, W, Ht, *, beta, kernels, n_threads, penalty, max_iter, tol, monitor,
           update_H=True, frozen=None, **_):
    """Multiplicative updates over the observed entries (Frobenius or KL), scikit-learn's
    update and stopping rule (every 10 iterations, the error's improvement relative to
    the initial error below ``tol``)."""
    from ._beta import TINY, _apply

    X, XT = obs.X, obs.XT
    keep = Keeper(Ht, frozen)
    num, den, loss = _mu_terms(kernels, X, W, Ht, beta, n_threads)
    rule = ErrorRule(loss, tol)
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        _apply(W, num, den, penalty.l1_W, penalty.l2_W, 1.0)
        if update_H:
            num, den, _ = _mu_terms(kernels, XT, Ht, W, beta, n_threads)
            _apply(Ht, num, den, penalty.l1_H, penalty.l2_H, 1.0)
            if beta == 1:
                Ht[Ht < TINY] = 0.0
            keep.restore(Ht)
        # the next W update's terms, which give this iteration's loss
        num, den, loss = _mu_terms(kernels, X, W, Ht, beta, n_threads)
        if not monitor.record(n_iter, loss + penalty.value(W, Ht), W, Ht) or rule.met(n_iter, loss):
            break
    return FitResult.from_monitor(W, Ht, n_iter, monitor, loss)


def solve(solver, beta, obs, W, Ht, common, shuffle, rng):
    """Run one masked solver from ``(W, Ht)`` (modified in place).  ``common`` is the
    estimator's solver arguments; ``parallel_kernels`` is the ordinary fits' (these solvers
    give their kernels every thread, or decide for themselves)."""
    common = dict(common)
    common.pop("parallel_kernels", None)
    if hasattr(obs, "solve"):  # Complement, or select_rank's _Complement
        return obs.solve(solver, beta, W, Ht, common, shuffle, rng)
    if solver == "mu":
        return fit_mu(obs, W, Ht, beta=beta, **common)
    if beta == 1:
        return fit_cd_kl(obs, W, Ht, **common)
    return fit_cd(obs, W, Ht, shuffle=shuffle, rng=rng, **common)


def resolve_solver(solver, beta):
    """The solver of a fit with missing entries: 'cd' ('auto', 'cd', 'hals') or 'mu'."""
    if beta not in (1.0, 2.0):
        raise ValueError(
            f"beta_loss={beta!r} is not supported with missing entries: fits on observed "
            "entries minimise the Frobenius (2) or Kullback-Leibler (1) loss")
    if solver in ("auto", "cd", "hals"):
        return "cd"
    if solver == "mu":
        return "mu"
    raise ValueError(
        f"solver={solver!r} is not supported with missing entries; use 'auto' or 'cd' "
        "(coordinate descent on the observed entries; 'hals' runs it too) or 'mu'")


def objective_error(result):
    """``reconstruction_err_`` of a masked fit: ``sqrt(2 loss)`` over the observed entries."""
    return float(np.sqrt(2 * max(result.last_data_loss, 0.0)))
