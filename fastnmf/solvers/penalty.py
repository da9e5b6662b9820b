"""The regularization terms of the objective.

:class:`Penalty` is scikit-learn's: ``l1_W sum(W) + 0.5 l2_W ||W||^2`` and the same for H,
with ``l1_W = n_features alpha_W l1_ratio`` etc. (:meth:`Penalty.from_alphas`).
:class:`CountPenalty` is that of a fit with unknown entries: each row of W and each column
of H weighted by its own number of observed entries instead of ``n_features`` and
``n_samples`` (the same when nothing is missing), the weighted-lambda regularization of ALS
for ratings (Zhou, Wilkinson, Schreiber & Pan 2008); rows with close counts share a weight
(:class:`Groups`), so that each group is one kernel call with scalar l1, l2.
``alpha_W='auto'`` gives fits with unknown entries a small such penalty (:func:`auto_alpha`)
and complete fits none.
"""

from dataclasses import dataclass

import numpy as np

from .._validation import squared_norm


@dataclass
class Penalty:
    """Scaled regularization (scikit-learn's convention)."""

    l1_W: float = 0.0
    l2_W: float = 0.0
    l1_H: float = 0.0
    l2_H: float = 0.0

    @classmethod
    def from_alphas(cls, shape, alpha_W, alpha_H, l1_ratio):
        m, n = shape
        return cls(
            l1_W=n * alpha_W * l1_ratio,
            l2_W=n * alpha_W * (1.0 - l1_ratio),
            l1_H=m * alpha_H * l1_ratio,
            l2_H=m * alpha_H * (1.0 - l1_ratio),
        )

    def value(self, W, Ht):
        v = 0.0
        for l1, l2, A in ((self.l1_W, self.l2_W, W), (self.l1_H, self.l2_H, Ht)):
            if l1:
                v += l1 * float(A.sum(dtype=np.float64))
            if l2:
                v += 0.5 * l2 * squared_norm(A)
        return v


# ------------------------------------------------------------------- penalty
#: ``alpha_W='auto'`` for a fit with unknown entries: this times the mean of the
#: observed values (see :func:`auto_alpha`) ...
AUTO_ALPHA = 0.02

#: ... when a row or a column has fewer than this times ``n_components`` observed
#: entries (else no penalty).
AUTO_MIN_RATIO = 2

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
    fewest = None
    if k is not None and counts_W is not None:
        fewest = min(int(np.min(counts_W)), int(np.min(counts_H)))
    values = np.asarray(values)
    mean = float(values.mean(dtype=np.float64)) if values.size else 0.0
    return auto_alpha_of(mean, fewest, k, n_missing)


def auto_alpha_of(mean, fewest, k, n_missing):
    """:func:`auto_alpha` from the observed values' ``mean`` and the ``fewest`` observed
    entries of a row or column (None: not known, as without ``k``): what a form whose
    entries are not in one place (a Dask X's blocks) sums up."""
    if not n_missing:
        return 0.0
    if k is not None and fewest is not None and fewest >= AUTO_MIN_RATIO * k:
        return 0.0
    return AUTO_ALPHA * float(mean)


def count_groups(values, frequencies, ratio=GROUP_RATIO):
    """How :class:`Groups` groups rows by count: for the distinct counts ``values``
    (ascending) seen ``frequencies`` times, ``(group, weight)``: each value's group and each
    group's weight (the mean count of its rows).  One group per count when there are at most
    :data:`MAX_EXACT_GROUPS` of them, else counts whose logarithms in base ``ratio`` have
    the same integer part share one.  From the counts' histogram alone, so that rows held
    apart (a Dask X's blocks) are grouped as if they were together."""
    values = np.asarray(values, dtype=np.float64)
    frequencies = np.asarray(frequencies, dtype=np.float64)
    if len(values) > MAX_EXACT_GROUPS:
        level = np.floor(np.log(np.maximum(values, 1.0)) / np.log(ratio)).astype(np.int64)
        _, group = np.unique(level, return_inverse=True)
    else:
        group = np.arange(len(values))
    sizes = np.bincount(group, weights=frequencies)
    return group, np.bincount(group, weights=values * frequencies) / sizes


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
        values, inv, frequencies = np.unique(counts, return_inverse=True, return_counts=True)
        group, group_weight = count_groups(values, frequencies, ratio)
        inv = group[inv.ravel()]
        sizes = np.bincount(inv)
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
        return self.part(0, W) + self.part(1, Ht)

    def part(self, side, A):
        """The penalty of W (side 0) or of Ht (side 1)."""
        a1, a2, g = ((self.a1_W, self.a2_W, self.rows) if side == 0
                     else (self.a1_H, self.a2_H, self.cols))
        return 0.0 if g is None else weighted_penalty(A, g.weight, a1, a2)

    def per_row(self, side, dtype):
        """``(l1, l2)`` of every row of W (side 0) or of Ht (side 1), as column vectors
        (or 0.0 when that factor has no penalty)."""
        a1, a2, g = ((self.a1_W, self.a2_W, self.rows) if side == 0
                     else (self.a1_H, self.a2_H, self.cols))
        if g is None:
            return 0.0, 0.0
        w = g.weight.astype(dtype)[:, None]
        return a1 * w, a2 * w


def weighted_penalty(A, weight, a1, a2):
    """``sum_i weight_i (a1 sum(A_i) + 0.5 a2 ||A_i||^2)`` over the rows of A, float64."""
    v = 0.0
    if a1:
        v += a1 * float(np.dot(weight, A.sum(axis=1, dtype=np.float64)))
    if a2:
        v += 0.5 * a2 * float(np.dot(weight, np.einsum("ik,ik->i", A, A, dtype=np.float64)))
    return v


def count_penalty(form, p, solver="cd", k=None):
    """The :class:`CountPenalty` of a rank-``k`` fit of the data form ``form`` (one with
    unknown entries: :mod:`fastnmf.data.missing`) with the checked parameters ``p``
    (``alpha_W_auto``/``alpha_H_auto``: ``alpha_W='auto'``, see :func:`auto_alpha`);
    ``solver`` 'mu' needs no groups of rows, only their weights.  A form whose entries
    are held elsewhere (a Dask X's) makes it itself (its ``count_penalty``)."""
    if hasattr(form, "count_penalty"):
        return form.count_penalty(p, k)
    alpha_W, alpha_H, l1_ratio = p["alpha_W"], p["alpha_H"], p["l1_ratio"]
    counts_W, counts_H = form.counts()
    if p.get("alpha_W_auto") or p.get("alpha_H_auto"):
        auto = auto_alpha(form.observed_values(), counts_W, counts_H, k, form.n_missing)
        alpha_W = auto if p.get("alpha_W_auto") else alpha_W
        alpha_H = auto if p.get("alpha_H_auto") else alpha_H
    by_rows, by_cols = form.patterns()
    parts = solver != "mu"
    rows = Groups(counts_W, by_rows, parts=parts) if alpha_W > 0 else None
    cols = Groups(counts_H, by_cols, parts=parts) if alpha_H > 0 else None
    return CountPenalty(alpha_W * l1_ratio, alpha_W * (1.0 - l1_ratio),
                        alpha_H * l1_ratio, alpha_H * (1.0 - l1_ratio), rows, cols)


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


