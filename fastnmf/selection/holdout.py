"""Held-out entries for cross-validation: a random set of entries is held out, the rest is
the training set, fitted by the solvers of fits with unknown entries
(:mod:`fastnmf.data.missing` holds it, :mod:`fastnmf.solvers.masked` fits it), and the error
on the held-out entries is scored (:func:`test_error`).  Every row and column keeps a known
training entry.
"""

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .._kernels import MU_EPS
from ..data.missing import (Complement, Observed, SparseComplement, _pattern, entry_rows,
                            row_pointers, wh_at, zeros_at)


@dataclass
class HoldOut:
    """A training set (fitted) and the held-out entries (scored)."""

    train: object  # Observed, Complement, or SparseComplement for sparse X whose zeros are data
    rows: np.ndarray
    cols: np.ndarray
    values: np.ndarray


def give_back(held, idx, capacity, rng):
    """Return to training (``held[p] = False``) one random held-out entry of every item
    (row or column; ``idx[p]`` is entry p's) whose held-out entries would be all of its
    ``capacity[item]`` known ones: every row and column keeps a training entry."""
    full = np.bincount(idx[held], minlength=len(capacity)) >= capacity
    cand = np.flatnonzero(held & full[idx])
    if len(cand):
        cand = cand[rng.permutation(len(cand))]
        _, first = np.unique(idx[cand], return_index=True)
        held[cand[first]] = False


def hold_out_observed(obs, fraction, rng):
    """Hold out ``fraction`` of the observed entries at random, giving back to the
    training set one held-out entry of any row or column left with none."""
    test = rng.random(obs.nnz) < fraction
    rows, cols = obs.rows, obs.X.indices
    give_back(test, rows, np.diff(obs.X.indptr), rng)
    give_back(test, cols, np.diff(obs.XT.indptr), rng)
    keep = ~test
    indptr = row_pointers(rows[keep], obs.shape[0])
    train = Observed(np.ascontiguousarray(obs.X.data[keep]), cols[keep], indptr, obs.shape)
    return HoldOut(train, rows[test].astype(np.intp), cols[test].astype(np.intp),
                   obs.X.data[test].astype(np.float64))


def hold_out_dense(X, T_missing, fraction, rng):
    """Hold out ``fraction`` of the known entries of a dense X (known: not in
    ``T_missing``), a block of rows at a time; the training set is a
    :class:`~fastnmf.data.missing.Complement` (X with zeros at the missing and held-out
    entries)."""
    m, n = X.shape
    step = max(1, (1 << 20) // n)
    hr, hc = [], []
    miss_rows = entry_rows(T_missing.indptr)
    for lo in range(0, m, step):
        hi = min(m, lo + step)
        pick = rng.random((hi - lo, n)) < fraction
        sel = (miss_rows >= lo) & (miss_rows < hi)
        pick[miss_rows[sel] - lo, T_missing.indices[sel]] = False
        r, c = np.nonzero(pick)
        hr.append(r + lo)
        hc.append(c)
    hr, hc = np.concatenate(hr), np.concatenate(hc)
    # every row and column keeps a known training entry
    held = np.ones(len(hr), dtype=bool)
    give_back(held, hr, n - np.bincount(miss_rows, minlength=m), rng)
    give_back(held, hc, m - np.bincount(T_missing.indices, minlength=n), rng)
    hr, hc = hr[held], hc[held]
    order = np.lexsort((hc, hr))
    hr, hc = hr[order].astype(np.intp), hc[order].astype(np.intp)
    Thold = sp.csr_matrix((np.ones(len(hr)), (hr, hc)), shape=(m, n))
    T = (T_missing + Thold).tocsr()
    T.sort_indices()
    T = _pattern(T.indices, T.indptr, (m, n))
    train = Complement(zeros_at(X, T), T)
    return HoldOut(train, hr, hc, np.asarray(X[hr, hc], dtype=np.float64))


def hold_out_complement(X, fraction, max_entries, rng, cd=True):
    """Hold out ``fraction`` of all the entries of a sparse X whose absent entries are
    zeros (at most ``max_entries``; drawn with replacement, repeats dropped), giving back
    one held-out entry of any row or column that would keep none.  The training set: a
    :class:`~fastnmf.data.missing.Complement` for the Frobenius cd (``cd``), else a
    :class:`~fastnmf.data.missing.SparseComplement` (multiplicative updates)."""
    m, n = X.shape
    size = max(1, int(min(fraction * m * n, max_entries)))
    flat = np.unique(rng.integers(0, m * n, size=size, dtype=np.int64))  # row-major order
    rows, cols = (flat // n).astype(np.intp), (flat % n).astype(np.intp)
    held = np.ones(len(rows), dtype=bool)
    give_back(held, rows, np.full(m, n), rng)
    give_back(held, cols, np.full(n, m), rng)
    rows, cols = rows[held], cols[held]
    comp = SparseComplement(X, rows, cols, for_mu=not cd)
    hold = HoldOut(comp, rows, cols, comp.T.X.data.astype(np.float64))
    if cd:  # Frobenius cd: X without the held-out entries, corrections over them
        T = _pattern(comp.T.X.indices, comp.T.X.indptr, X.shape)
        hold.train = Complement(comp.X_train, T)
    return hold


def test_error(W, Ht, hold, beta):
    """Mean loss per held-out entry: squared error (Frobenius) or KL divergence."""
    wh = wh_at(W, Ht, hold.rows, hold.cols)
    x = hold.values
    if beta == 2:
        return float(np.mean((x - wh) ** 2))
    wh = np.maximum(wh, MU_EPS)
    pos = x > 0
    terms = wh - x
    terms[pos] += x[pos] * np.log(x[pos] / wh[pos])
    return float(np.mean(terms))
