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
``sum_obs x log(x / wh) - x + wh``, plus the regularization terms, which count each
row's and column's observed entries (:class:`CountPenalty`): scikit-learn scales the
penalty of W by ``n_features`` and that of H by ``n_samples``, the number of entries of
a row and of a column; with unknown entries each row of W is scaled by its own number
of observed entries and each column of H by its own, the weighted-lambda
regularization of ALS for ratings (Zhou, Wilkinson, Schreiber & Pan 2008).  Both are
the same when nothing is missing.  ``alpha_W='auto'`` (the default) gives fits with
unknown entries a small such penalty (:func:`auto_alpha`) and complete fits none.
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


# ------------------------------------------------------------------- penalty
#: ``alpha_W='auto'`` for a fit with unknown entries: this times the mean of the
#: observed values (see :func:`auto_alpha`) ...
AUTO_ALPHA = 0.02

#: ... when a row or a column has fewer than this times ``n_components`` observed
#: entries (else no penalty).
AUTO_MIN_RATIO = 2

#: A group of rows with fewer observed entries than this is swept on one thread (a
#: parallel region per group cost more than the sweep: MovieLens 100k at rank 32 on 2
#: busy cores, 30 groups of rows a side, 160 ms per iteration against 29 ms unpenalized;
#: on one thread 12 ms against 10).
PARALLEL_MIN_ENTRIES = 1 << 15

#: With at most this many distinct counts, each count is a group of its own.
MAX_EXACT_GROUPS = 64

#: Else rows (columns) whose observed counts differ by less than this ratio share one
#: penalty weight (the kernels take one l1 and one l2 per call, so each group of rows is
#: one call): a row's weight is within this ratio of its own count.
GROUP_RATIO = 1.25


def auto_alpha(values, counts_W=None, counts_H=None, k=None, n_missing=1):
    """What ``alpha_W='auto'`` is for a rank-``k`` fit with unknown entries:
    :data:`AUTO_ALPHA` times the mean observed value (``values``: the observed entries)
    when a row or a column has fewer than ``AUTO_MIN_RATIO * k`` observed entries
    (``counts_W``, ``counts_H``), else 0; 0 when nothing is unknown (``n_missing``).

    Why a penalty there: a row with fewer observed entries than components is an
    under-determined least-squares problem, fitted exactly, and its predictions are
    unbounded; with c entries and k components the noise of its fit is amplified by
    about ``c / (c - k)``, twice at ``c = 2k``.  Measured on MovieLens 100k (items rated
    once or twice), held-out RMSE at ranks 8 / 32: 2220 / 839032 without a penalty
    (predictions up to 6e7 for ratings 1-5), 0.911 / 0.917 with this one, below the
    bias baseline's 0.94 (benchmarks/results/ratings.md).  Why not always: on data
    whose rows and columns are all well determined, a penalty only biases the fit
    (rank 8, 500 x 300, 30% unknown, no noise: held-out error 0.7% of the mean
    without, 6% with it), so such fits keep no penalty, as in scikit-learn.

    Its form: the penalty of row i of W is ``0.5 alpha c_i ||w_i||^2`` (``c_i`` its
    observed entries) against ``c_i`` squared errors, so alpha is a penalty per
    observed entry, proportional to the data's scale (scaling X by s scales the
    penalty of ``W, H`` by s and the squared errors by s^2).  0.02 was the best of
    {0.005, 0.01, 0.02, 0.05} times the mean on MovieLens 100k at ranks 8 and 32.
    :func:`fastnmf.select_params` chooses alpha by cross-validation.
    """
    if not n_missing:
        return 0.0
    if k is not None and counts_W is not None:
        fewest = min(int(np.min(counts_W)), int(np.min(counts_H)))
        if fewest >= AUTO_MIN_RATIO * k:
            return 0.0
    values = np.asarray(values)
    mean = float(values.mean(dtype=np.float64)) if values.size else 0.0
    return AUTO_ALPHA * mean


class Groups:
    """The rows of a CSR ``pattern`` grouped by ``counts`` (each row's observed entries):
    one group per count when there are at most :data:`MAX_EXACT_GROUPS` of them (each
    row's weight its count), else groups whose counts differ by less than
    :data:`GROUP_RATIO` (weight: their mean count).  Per group its rows
    (``rows``), their entries of ``pattern`` (a CSR of those rows: views of one permuted
    copy of ``pattern``) and its weight (the mean count); ``weight`` is every row's.
    ``parts`` is None when there is one group (the kernels then get the whole arrays)."""

    def __init__(self, counts, pattern, ratio=GROUP_RATIO, parts=True):
        counts = np.asarray(counts, dtype=np.float64)
        _, inv = np.unique(counts, return_inverse=True)
        if inv.max() + 1 > MAX_EXACT_GROUPS:  # else one group per count: exact weights
            level = np.floor(np.log(np.maximum(counts, 1.0)) / np.log(ratio)).astype(np.int64)
            _, inv = np.unique(level, return_inverse=True)
        sizes = np.bincount(inv)
        group_weight = np.bincount(inv, weights=counts) / sizes
        self.weight = group_weight[inv]
        self.parts = None
        self.single = float(group_weight[0]) if len(sizes) == 1 else None
        if len(sizes) == 1 or not parts:  # (the multiplicative updates need weight only)
            return
        order = np.argsort(inv, kind="stable")
        P = pattern[order]
        P.sort_indices()
        ptr = P.indptr
        bounds = np.concatenate(([0], np.cumsum(sizes)))
        self.parts = []
        for g in range(len(sizes)):
            lo, hi = int(bounds[g]), int(bounds[g + 1])
            a, b = int(ptr[lo]), int(ptr[hi])
            indptr = np.ascontiguousarray(ptr[lo:hi + 1] - ptr[lo], dtype=pattern.indices.dtype)
            indices = np.ascontiguousarray(P.indices[a:b], dtype=pattern.indices.dtype)
            self.parts.append((order[lo:hi].astype(np.intp), P.data[a:b], indices, indptr,
                               float(group_weight[g])))


class CountPenalty:
    """The regularization of a fit with unknown entries: row i of W has
    ``l1 = a1_W c_i`` and ``l2 = a2_W c_i`` (``c_i`` its observed entries), column j
    of H ``a1_H c_j`` and ``a2_H c_j`` (see the module docstring).  With alpha and
    ``l1_ratio``: ``a1 = alpha l1_ratio``, ``a2 = alpha (1 - l1_ratio)``.
    ``rows``/``cols``: :class:`Groups` of W's rows and H's rows (``Ht``), or None
    where that factor has no penalty."""

    def __init__(self, a1_W, a2_W, a1_H, a2_H, rows, cols):
        self.a1_W, self.a2_W, self.a1_H, self.a2_H = a1_W, a2_W, a1_H, a2_H
        self.rows, self.cols = rows, cols
        self.l1_W = self.l2_W = self.l1_H = self.l2_H = 0.0  # the kernels' scalars: see sweep

    @property
    def zero(self):
        return self.rows is None and self.cols is None

    def value(self, W, Ht):
        v = 0.0
        for a1, a2, g, A in ((self.a1_W, self.a2_W, self.rows, W),
                             (self.a1_H, self.a2_H, self.cols, Ht)):
            if g is None:
                continue
            if a1:
                v += a1 * float(np.dot(g.weight, A.sum(axis=1, dtype=np.float64)))
            if a2:
                v += 0.5 * a2 * float(np.dot(g.weight, np.einsum("ik,ik->i", A, A,
                                                                   dtype=np.float64)))
        return v

    def per_row(self, side, dtype):
        """``(l1, l2)`` of every row of W (side 0) or of Ht (side 1), as column vectors
        (or 0.0 when that factor has no penalty)."""
        a1, a2, g = ((self.a1_W, self.a2_W, self.rows) if side == 0
                     else (self.a1_H, self.a2_H, self.cols))
        if g is None:
            return 0.0, 0.0
        w = g.weight.astype(dtype)[:, None]
        return a1 * w, a2 * w


def _counts(obs):
    """Observed entries per row and per column of a fit's training set."""
    if isinstance(obs, Observed):
        return np.diff(obs.X.indptr), np.diff(obs.XT.indptr)
    m, n = obs.shape
    if isinstance(obs, Complement):
        return n - np.diff(obs.T.indptr), m - np.diff(obs.TT.indptr)
    T = obs.T  # select_rank's _Complement: every entry but the held-out ones T
    return n - np.diff(T.X.indptr), m - np.diff(T.XT.indptr)


def _patterns(obs):
    """The CSR (by rows, by columns) that the kernels of ``obs``'s solvers take."""
    if isinstance(obs, Observed):
        return obs.X, obs.XT
    if isinstance(obs, Complement):
        return obs.T, obs.TT
    return obs.T.X, obs.T.XT


def count_penalty(obs, p, solver="cd", k=None):
    """The :class:`CountPenalty` of a rank-``k`` fit of ``obs`` with the checked
    parameters ``p`` (``alpha_W_auto``/``alpha_H_auto``: ``alpha_W='auto'``, see
    :func:`auto_alpha`); ``solver`` 'mu' needs no groups of rows, only their weights."""
    alpha_W, alpha_H, l1_ratio = p["alpha_W"], p["alpha_H"], p["l1_ratio"]
    counts_W, counts_H = _counts(obs)
    if p.get("alpha_W_auto") or p.get("alpha_H_auto"):
        auto = auto_alpha(_observed_values(obs), counts_W, counts_H, k, obs.n_missing)
        alpha_W = auto if p.get("alpha_W_auto") else alpha_W
        alpha_H = auto if p.get("alpha_H_auto") else alpha_H
    by_rows, by_cols = _patterns(obs)
    parts = solver != "mu"
    rows = Groups(counts_W, by_rows, parts=parts) if alpha_W > 0 else None
    cols = Groups(counts_H, by_cols, parts=parts) if alpha_H > 0 else None
    return CountPenalty(alpha_W * l1_ratio, alpha_W * (1.0 - l1_ratio),
                        alpha_H * l1_ratio, alpha_H * (1.0 - l1_ratio), rows, cols)


def _observed_values(obs):
    if isinstance(obs, Observed):
        return obs.X.data
    X = obs.X  # Complement (zeros at T, which the mean must leave out) or _Complement
    if isinstance(obs, Complement):
        total = float(X.sum(dtype=np.float64)) if not sp.issparse(X) else float(X.data.sum())
        return np.array([total / max(obs.nnz, 1)])
    total = float(X.data.sum(dtype=np.float64)) - float(obs.T.X.data.sum(dtype=np.float64))
    return np.array([total / max(obs.nnz, 1)])


def sweep_rows(groups, a1, a2, F, call):
    """Run a row-wise kernel over the rows of ``F`` group by group (:class:`Groups`),
    each group with its own ``l1 = a1 weight``, ``l2 = a2 weight``:
    ``call(data, indices, indptr, F_rows, rows, l1, l2)`` returns a tuple of floats,
    summed over the groups; ``rows`` is None for the whole of F.  ``groups`` None: no
    penalty, ``pattern`` whole (``call`` gets ``data`` etc. None: it uses its own)."""
    if groups is None:
        return call(None, None, None, F, None, 0.0, 0.0)
    if groups.parts is None:
        w = groups.single
        if w is None:
            raise RuntimeError("penalty groups built without their rows (solver='mu')")
        return call(None, None, None, F, None, a1 * w, a2 * w)
    total = None
    for rows, data, indices, indptr, w in groups.parts:
        Fg = np.ascontiguousarray(F[rows])
        out = call(data, indices, indptr, Fg, rows, a1 * w, a2 * w)
        F[rows] = Fg
        total = out if total is None else tuple(s + o for s, o in zip(total, out))
    return total


def _apply_rows(F, num, den, l1, l2):
    """The multiplicative update ``F *= num / (den + l1 + l2 F)`` with per-row ``l1``,
    ``l2`` (column vectors or 0.0; ``den == 0 -> EPS``)."""
    from ._beta import EPS

    if np.any(l1):
        den = den + l1
    if np.any(l2):
        den = den + l2 * F
    den[den == 0] = EPS
    num /= den
    F *= num


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
    and stopping rule (summed projected gradient <= ``tol`` times the first one's).
    ``penalty``: a :class:`CountPenalty` (each group of rows its own l1, l2)."""
    k = W.shape[1]
    X, XT = obs.X, obs.XT
    order = np.arange(k, dtype=np.intp)
    free = free_components(k, frozen)
    rule = ViolationRule(tol)
    sq = 0.0
    n_iter = 0

    def sweeper(A, B, pattern, perm):
        def call(data, indices, indptr, F, rows, l1, l2):
            if data is None:
                data, indices, indptr = pattern.data, pattern.indices, pattern.indptr
            nt = n_threads if len(data) >= PARALLEL_MIN_ENTRIES else 1
            return kernels.masked_hals_sweep(data, indices, indptr, F, B, l1, l2, perm, nt)
        return call

    for n_iter in range(1, max_iter + 1):
        perm = rng.permutation(k).astype(np.intp) if shuffle else order
        violation, sq = sweep_rows(penalty.rows, penalty.a1_W, penalty.a2_W, W,
                                   sweeper(W, Ht, X, perm))
        if update_H:
            perm = rng.permutation(free).astype(np.intp) if shuffle else free
            v, sq = sweep_rows(penalty.cols, penalty.a1_H, penalty.a2_H, Ht,
                               sweeper(Ht, W, XT, perm))
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
    scikit-learn's cd order and stopping rule; ``penalty`` a :class:`CountPenalty`."""
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

    def sweeper(G, C, pattern, B, perm, nt):
        def call(data, indices, indptr, F, rows, l1, l2):
            if data is None:
                indices, indptr, Cg, t = pattern.indices, pattern.indptr, C, nt
            else:  # a group of rows: their products' rows
                Cg = np.ascontiguousarray(C[rows])
                t = nt if len(F) * len(B) >= PARALLEL_MIN_ENTRIES else 1
            return kernels.complement_hals_sweep(F, G, Cg, indices, indptr, B, l1, l2, perm, t)
        return call

    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        if update_H and n_iter > 1:
            XHt = prod.x_times(Ht, out=XHt)
        perm = rng.permutation(k).astype(np.intp) if shuffle else order
        violation, sq = sweep_rows(penalty.rows, penalty.a1_W, penalty.a2_W, W,
                                   sweeper(HtH, XHt, T, Ht, perm, nt_W))
        WtW = prod.gram(W)
        if update_H:
            XtW = prod.xt_times(W)
            perm = rng.permutation(free).astype(np.intp) if shuffle else free
            v, sq = sweep_rows(penalty.cols, penalty.a1_H, penalty.a2_H, Ht,
                               sweeper(WtW, XtW, TT, W, perm, nt_H))
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

    def sweeper(pattern, B, bsum, want_loss):
        def call(data, indices, indptr, F, rows, l1, l2):
            if data is None:
                data, indices, indptr, bs = pattern.data, pattern.indices, pattern.indptr, bsum
            else:
                bs = np.ascontiguousarray(bsum[rows])
            nt = n_threads if len(data) >= PARALLEL_MIN_ENTRIES else 1
            return kernels.kl_cd_sweep_csr(data, indices, indptr, F, B, bs, l1, l2, max_inner,
                                           want_loss, nt)
        return call

    for n_iter in range(1, max_iter + 1):
        bsum = _row_sums(kernels, X, Ht, n_threads)
        violation, nz = sweep_rows(penalty.rows, penalty.a1_W, penalty.a2_W, W,
                                   sweeper(X, Ht, bsum, not update_H))
        if update_H:
            bsum = _row_sums(kernels, XT, W, n_threads)
            v, nz = sweep_rows(penalty.cols, penalty.a1_H, penalty.a2_H, Ht,
                               sweeper(XT, W, bsum, True))
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
    from ._beta import TINY

    X, XT = obs.X, obs.XT
    keep = Keeper(Ht, frozen)
    l1_W, l2_W = penalty.per_row(0, W.dtype)
    l1_H, l2_H = penalty.per_row(1, Ht.dtype)
    num, den, loss = _mu_terms(kernels, X, W, Ht, beta, n_threads)
    rule = ErrorRule(loss, tol)
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        _apply_rows(W, num, den, l1_W, l2_W)
        if update_H:
            num, den, _ = _mu_terms(kernels, XT, Ht, W, beta, n_threads)
            _apply_rows(Ht, num, den, l1_H, l2_H)
            if beta == 1:
                Ht[Ht < TINY] = 0.0
            keep.restore(Ht)
        # the next W update's terms, which give this iteration's loss
        num, den, loss = _mu_terms(kernels, X, W, Ht, beta, n_threads)
        if not monitor.record(n_iter, loss + penalty.value(W, Ht), W, Ht) or rule.met(n_iter, loss):
            break
    return FitResult.from_monitor(W, Ht, n_iter, monitor, loss)


def scaled_starts(obs, starts, beta):
    """The initial ``(seed, W, Ht)`` of a fit with unknown entries, initialized (by
    ``init``) from ``obs.fill_estimate()``, brought to the observed entries' scale.

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
        if scale is None and isinstance(obs, Observed):
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


def solve(solver, beta, obs, W, Ht, common, shuffle, rng):
    """Run one masked solver from ``(W, Ht)`` (modified in place).  ``common`` is the
    estimator's solver arguments; ``parallel_kernels`` is the ordinary fits' (these solvers
    give their kernels every thread, or decide for themselves)."""
    common = dict(common)
    common.pop("parallel_kernels", None)
    pen = common["penalty"]
    if not isinstance(pen, CountPenalty):  # scikit-learn's scalars: alpha = l / n_features
        m, n = obs.shape
        l1_ratio = pen.l1_W / (pen.l1_W + pen.l2_W) if pen.l1_W + pen.l2_W else 0.0
        aW = (pen.l1_W + pen.l2_W) / n
        aH = (pen.l1_H + pen.l2_H) / m
        l1_H = pen.l1_H / (pen.l1_H + pen.l2_H) if pen.l1_H + pen.l2_H else l1_ratio
        common["penalty"] = count_penalty(obs, dict(alpha_W=aW, alpha_H=aH, l1_ratio=l1_ratio),
                                          solver)
        if l1_H != l1_ratio:
            common["penalty"].a1_H, common["penalty"].a2_H = aH * l1_H, aH * (1 - l1_H)
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
        f"solver={solver!r} does not fit missing entries (NaN in X, or missing='unobserved'); "
        "use solver='auto' or 'cd' (coordinate descent on the observed entries; 'hals' runs "
        "it too) or 'mu', or remove the NaN from X")


def objective_error(result):
    """``reconstruction_err_`` of a masked fit: ``sqrt(2 loss)`` over the observed entries."""
    return float(np.sqrt(2 * max(result.last_data_loss, 0.0)))
