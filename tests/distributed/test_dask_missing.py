"""A Dask X with unknown entries (NaN; ``missing='unobserved'``): the fit of its known
entries on the workers (fastnmf.distributed.observed) is the in-memory fit of the same
entries, penalties by count included; what it does not do is refused by name."""

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

from fastnmf import NMF  # noqa: E402
from fastnmf.distributed.observed import DaskObserved  # noqa: E402
from fastnmf.solvers.penalty import MAX_EXACT_GROUPS  # noqa: E402


def _low_rank(rng, m, n, k, dtype=np.float64):
    return (rng.random((m, k)) @ rng.random((k, n)) + 0.05 * rng.random((m, n))).astype(dtype)


def _spread_unknown(rng, X, k):
    """NaN in X with each row's share of unknown entries its own (from 5% to all but
    ``k`` of them): more than MAX_EXACT_GROUPS distinct counts, and rows with fewer than
    2 k known entries (where ``alpha_W='auto'`` penalizes)."""
    m, n = X.shape
    X = X.copy()
    known = np.linspace(k, int(0.95 * n), m).astype(int)
    for i in rng.permutation(m):
        X[i, rng.permutation(n)[known[i]:]] = np.nan
    return X


def _fit_pair(X_memory, dX, **kw):
    ref = NMF(**kw)
    W_ref = ref.fit_transform(X_memory)
    est = NMF(**kw)
    W = est.fit_transform(dX)
    return ref, W_ref, est, W


def _assert_same_fit(ref, W_ref, est, W, rtol, scale):
    assert est.solver_ == "mu" and est.n_iter_ == ref.n_iter_
    assert est.n_missing_ == ref.n_missing_ > 0
    assert isinstance(W, da.Array) and W.dtype == W_ref.dtype
    assert est.components_.dtype == ref.components_.dtype
    assert_allclose(W.compute(), W_ref, rtol=rtol, atol=scale * W_ref.max())
    assert_allclose(est.components_, ref.components_, rtol=rtol,
                    atol=scale * ref.components_.max())
    assert_allclose(est.loss_history_, ref.loss_history_, rtol=rtol)
    assert_allclose(est.reconstruction_err_, ref.reconstruction_err_, rtol=rtol)


@pytest.mark.parametrize("beta", ["frobenius", "kullback-leibler"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_nan_entries_are_fitted_as_in_memory(client, beta, dtype):
    rng = np.random.default_rng(0)
    X = _low_rank(rng, 300, 120, 4, dtype)
    X[rng.random(X.shape) < 0.3] = np.nan
    dX = da.from_array(X, chunks=(70, 120))
    ref, W_ref, est, W = _fit_pair(X, dX, n_components=4, solver="mu", beta_loss=beta,
                                   random_state=0, max_iter=40, alpha_W=0.01, alpha_H=0.02,
                                   l1_ratio=0.3)
    rtol, scale = (1e-8, 1e-12) if dtype == np.float64 else (2e-3, 1e-3)
    _assert_same_fit(ref, W_ref, est, W, rtol, scale)
    assert np.isnan(X).sum() == est.n_missing_  # X itself is not changed


@pytest.mark.parametrize("beta", ["frobenius", "kullback-leibler"])
def test_penalties_by_count_are_those_of_the_in_memory_fit(client, beta):
    # more distinct row counts than MAX_EXACT_GROUPS: rows are grouped by count, from the
    # counts' histogram on the cluster and from the counts themselves in memory; and some rows
    # have fewer than 2 k known entries, so that alpha_W='auto' is a penalty
    rng = np.random.default_rng(1)
    X = _spread_unknown(rng, _low_rank(rng, 400, 90, 4), 4)
    counts = np.isfinite(X).sum(axis=1)
    assert len(np.unique(counts)) > MAX_EXACT_GROUPS and counts.min() < 8
    dX = da.from_array(X, chunks=(90, 90))
    kw = dict(n_components=4, solver="mu", beta_loss=beta, random_state=0, max_iter=40)
    ref, W_ref, est, W = _fit_pair(X, dX, alpha_W="auto", **kw)
    _assert_same_fit(ref, W_ref, est, W, 1e-8, 1e-12)
    # the penalty was one: without it the fit differs
    unpenalized = NMF(alpha_W=0.0, **kw).fit(dX)
    assert not np.allclose(unpenalized.components_, est.components_, rtol=1e-3)


def test_unobserved_entries_of_sparse_and_dense_x(client):
    rng = np.random.default_rng(2)
    X = _low_rank(rng, 260, 50, 3)
    X[rng.random(X.shape) < 0.5] = 0  # with missing='unobserved': unknown, not zeros
    kw = dict(n_components=3, solver="mu", missing="unobserved", random_state=0, max_iter=30,
              alpha_W=0.01)
    S = sp.csr_matrix(X)
    for X_memory, dX in ((X, da.from_array(X, chunks=(60, 50))),
                         (S, da.from_array(S, chunks=(60, 50), asarray=False))):
        _assert_same_fit(*_fit_pair(X_memory, dX, **kw), 1e-8, 1e-12)


def test_auto_fits_the_known_entries_by_multiplicative_updates(client):
    rng = np.random.default_rng(3)
    X = _low_rank(rng, 200, 30, 3)
    X[rng.random(X.shape) < 0.2] = np.nan
    dX = da.from_array(X, chunks=(50, 30))
    est = NMF(3, random_state=0, max_iter=30).fit(dX)
    ref = NMF(3, solver="mu", random_state=0, max_iter=30).fit(X)
    assert est.solver_ == "mu"
    assert_allclose(est.components_, ref.components_, rtol=1e-8, atol=1e-12)
    # losses that only the stopping rule reads: each pass gives the previous iteration's,
    # and the loss history is that of the in-memory fit (which computes every one)
    assert_allclose(est.loss_history_, ref.loss_history_, rtol=1e-8)
    assert np.all(np.diff(est.loss_history_) <= 1e-12 * est.loss_history_[0])


def test_the_known_entries_form_sums_the_whole_x_from_its_blocks(client):
    rng = np.random.default_rng(4)
    X = _low_rank(rng, 150, 20, 2)
    X[rng.random(X.shape) < 0.4] = np.nan
    from fastnmf.distributed.data import DaskData

    form = DaskData.from_dask(da.from_array(X, chunks=(40, 20)), client)
    known = np.isfinite(X)
    assert isinstance(form, DaskObserved) and form.protocol == "observed"
    assert form.n_missing == (~known).sum() and form.nnz == known.sum()
    assert_allclose(form.col_counts, known.sum(axis=0))
    assert_allclose(form.histogram, np.bincount(known.sum(axis=1), minlength=21))
    assert_allclose(form.observed_sum, np.nansum(X), rtol=1e-12)


def test_what_the_known_entries_fit_does_not_do_is_refused(client):
    rng = np.random.default_rng(5)
    X = _low_rank(rng, 80, 12, 2)
    X[rng.random(X.shape) < 0.2] = np.nan
    dX = da.from_array(X, chunks=(20, 12))
    with pytest.raises(ValueError, match=r"solver='cd' does not fit the unknown entries of a "
                                         r"Dask X .* use solver='mu' or 'auto'"):
        NMF(2, solver="cd").fit(dX)
    with pytest.raises(ValueError, match=r"beta_loss=0.5 is not supported with missing"):
        NMF(2, beta_loss=0.5, solver="mu").fit(dX)
    Y = X.copy()
    Y[45, :] = np.nan
    with pytest.raises(ValueError, match=r"X has 1 row\(s\) with no observed entry \(row "
                                         r"index 45\)"):
        NMF(2).fit(da.from_array(Y, chunks=(20, 12)))
    Y = X.copy()
    Y[:, 7] = np.nan
    with pytest.raises(ValueError, match=r"1 column\(s\) with no observed entry \(column "
                                         r"index 7\)"):
        NMF(2).fit(da.from_array(Y, chunks=(20, 12)))
    S = sp.csr_matrix(np.nan_to_num(X))
    S.data[3] = np.nan
    with pytest.raises(ValueError, match=r"stored NaN .* missing='unobserved'"):
        NMF(2).fit(da.from_array(S, chunks=(20, 12), asarray=False))
