"""Missing values: the masked kernels against the reference, masked fits against
ordinary ones and against known properties, recovery of held-out entries, errors."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from fastnmf import NMF, non_negative_factorization
from fastnmf._backends import get_backend
from fastnmf._kernels import reference as ref
from fastnmf.data.missing import from_dense, from_sparse

from ..conftest import rtol_for


def _pattern(m, n, density, seed, dtype=np.float64, empty_row=None):
    rng = np.random.default_rng(seed)
    S = sp.random(m, n, density=density, random_state=seed, format="csr", dtype=np.float64)
    S.data[:] = rng.random(S.nnz) * 3
    S.data[::7] = 0.0  # observed zeros stay stored
    if empty_row is not None:
        S = S.tolil()
        S.rows[empty_row] = []
        S.data[empty_row] = []
        S = S.tocsr()
    S.sort_indices()
    return S.astype(dtype)


def _residual(S, W, Ht):
    rows = np.repeat(np.arange(S.shape[0]), np.diff(S.indptr))
    wh = np.einsum("pk,pk->p", W[rows].astype(np.float64), Ht[S.indices].astype(np.float64))
    return S.data.astype(np.float64) - wh


# ---------------------------------------------------------------- kernels
@pytest.mark.parametrize("m,n,k,density", [(1, 1, 1, 1.0), (57, 41, 5, 0.3), (300, 40, 16, 0.5),
                                           (40, 300, 7, 0.05)])
@pytest.mark.parametrize("l1,l2", [(0.0, 0.0), (0.3, 1.5)])
def test_masked_hals_sweep_matches_reference(compiled_backend, dtype, m, n, k, density, l1, l2):
    kern = get_backend(compiled_backend)
    S = _pattern(m, n, density, seed=m + k, dtype=dtype, empty_row=0 if m > 1 else None)
    rng = np.random.default_rng(1)
    W = rng.random((m, k)).astype(dtype)
    Ht = rng.random((n, k)).astype(dtype)
    perm = rng.permutation(k).astype(np.intp)
    data0, Ht0 = S.data.copy(), Ht.copy()
    W_ref = W.copy()
    v_ref, sq_ref = ref.masked_hals_sweep(S.data, S.indices, S.indptr, W_ref, Ht, l1, l2, perm, 1)
    # the reference against the masked objective itself: sq is the new W's squared residual
    r_new = _residual(S, W_ref, Ht)
    assert sq_ref == pytest.approx(float(np.dot(r_new, r_new)), rel=1e-9, abs=1e-12)
    for nt in (1, 2, 3):
        W_c = W.copy()
        v, sq = kern.masked_hals_sweep(S.data, S.indices, S.indptr, W_c, Ht, l1, l2, perm, nt)
        np.testing.assert_allclose(W_c, W_ref, rtol=rtol_for(dtype), atol=1e-12)
        assert v == pytest.approx(v_ref, rel=1e-9)
        assert sq == pytest.approx(sq_ref, rel=1e-9, abs=1e-12)
        if nt == 1:
            W_1, v_1, sq_1 = W_c, v, sq
        else:  # the thread count changes nothing, bit for bit
            np.testing.assert_array_equal(W_c, W_1)
            assert (v, sq) == (v_1, sq_1)
    if m > 1 and l2 == 0:  # a row with no observed entry: hess == 0, left alone
        assert np.array_equal(W_ref[0], W[0])
    np.testing.assert_array_equal(S.data, data0)  # only W is written
    np.testing.assert_array_equal(Ht, Ht0)


def test_masked_hals_sweep_updates_only_the_components_in_perm(compiled_backend):
    kern = get_backend(compiled_backend)
    S = _pattern(60, 30, 0.4, seed=3)
    rng = np.random.default_rng(2)
    W, Ht = rng.random((60, 6)), rng.random((30, 6))
    W2 = W.copy()
    kern.masked_hals_sweep(S.data, S.indices, S.indptr, W2, Ht, 0.0, 0.0,
                           np.array([4, 1], np.intp), 2)
    untouched = [0, 2, 3, 5]
    np.testing.assert_array_equal(W2[:, untouched], W[:, untouched])
    assert not np.array_equal(W2[:, [1, 4]], W[:, [1, 4]])


@pytest.mark.parametrize("m, l2, perm", [
    (500, 0.2, np.arange(9)),
    # a last group of fewer than four rows, an empty row (hess == 0), some components
    (503, 0.0, np.array([6, 2, 8, 0, 3])),
])
def test_masked_hals_sweep_compiled_backends_agree_bitwise(dtype, m, l2, perm):
    # rows of every length mod 8, so every partial of the sums and the zero padding of
    # the cython kernel's blocks are used
    S = _pattern(m, 200, 0.2, seed=5, dtype=dtype, empty_row=7 if l2 == 0 else None)
    assert len(set(np.diff(S.indptr) % 8)) == 8
    rng = np.random.default_rng(4)
    W, Ht = rng.random((m, 9)).astype(dtype), rng.random((200, 9)).astype(dtype)
    out = []
    for name in ("cython", "numba"):
        try:
            kern = get_backend(name)
        except ImportError:
            pytest.skip(f"{name} unavailable")
        W2 = W.copy()
        res = kern.masked_hals_sweep(S.data, S.indices, S.indptr, W2, Ht, 0.1, l2,
                                     perm.astype(np.intp), 2)
        out.append((W2, res))
    np.testing.assert_array_equal(out[0][0], out[1][0])
    assert out[0][1] == out[1][1]


def test_masked_hals_sweep_decreases_the_masked_objective(compiled_backend):
    kern = get_backend(compiled_backend)
    S = _pattern(80, 50, 0.3, seed=8)
    rng = np.random.default_rng(3)
    W, Ht = rng.random((80, 4)), rng.random((50, 4))
    r = _residual(S, W, Ht)
    before = 0.5 * float(np.dot(r, r)) + 0.2 * W.sum() + 0.5 * 0.7 * (W ** 2).sum()
    _, sq = kern.masked_hals_sweep(S.data, S.indices, S.indptr, W, Ht, 0.2, 0.7,
                                   np.arange(4, dtype=np.intp), 1)
    after = 0.5 * sq + 0.2 * W.sum() + 0.5 * 0.7 * (W ** 2).sum()
    assert after < before


@pytest.mark.parametrize("m,n,k,density", [(1, 1, 1, 1.0), (57, 41, 5, 0.2), (300, 40, 16, 0.05),
                                           (40, 300, 7, 0.0)])
@pytest.mark.parametrize("l1,l2", [(0.0, 0.0), (0.3, 1.5)])
def test_complement_hals_sweep_matches_reference(compiled_backend, dtype, m, n, k, density, l1, l2):
    kern = get_backend(compiled_backend)
    rng = np.random.default_rng(m + k)
    T = sp.random(m, n, density=density, random_state=m, format="csr")
    T.sort_indices()
    unknown = T.toarray() != 0
    X = rng.random((m, n)).astype(dtype)
    X0 = np.where(unknown, 0, X).astype(dtype)
    W = rng.random((m, k)).astype(dtype)
    Ht = rng.random((n, k)).astype(dtype)
    HHt, XHt = Ht.T @ Ht, X0 @ Ht
    perm = rng.permutation(k).astype(np.intp)
    W_ref = W.copy()
    v_ref, sq_ref = ref.complement_hals_sweep(W_ref, HHt, XHt, T.indices, T.indptr, Ht, l1, l2,
                                              perm, 1)
    P = W_ref.astype(np.float64) @ Ht.T.astype(np.float64)
    assert sq_ref == pytest.approx(float((P[unknown] ** 2).sum()), rel=1e-9, abs=1e-12)

    def objective(F):
        R = np.where(unknown, 0.0, X - F.astype(np.float64) @ Ht.T.astype(np.float64))
        F = F.astype(np.float64)
        return 0.5 * (R ** 2).sum() + l1 * F.sum() + 0.5 * l2 * (F ** 2).sum()

    assert objective(W_ref) <= objective(W) + 1e-9
    for nt in (1, 2):
        W_c = W.copy()
        v, sq = kern.complement_hals_sweep(W_c, HHt, XHt, T.indices, T.indptr, Ht, l1, l2, perm, nt)
        np.testing.assert_allclose(W_c, W_ref, rtol=rtol_for(dtype), atol=1e-12)
        assert v == pytest.approx(v_ref, rel=1e-9)
        assert sq == pytest.approx(sq_ref, rel=1e-9, abs=1e-12)
    if density == 0.0:  # no unknown entry: hals_sweep's step
        W_h = W.copy()
        kern.hals_sweep(W_h, HHt, XHt, l1, l2, perm, 1)
        np.testing.assert_allclose(W_c, W_h, rtol=rtol_for(dtype), atol=1e-12)


def test_complement_hals_sweep_compiled_backends_agree_bitwise(dtype):
    rng = np.random.default_rng(4)
    T = sp.random(500, 200, density=0.1, random_state=5, format="csr")
    W, Ht = rng.random((500, 9)).astype(dtype), rng.random((200, 9)).astype(dtype)
    XHt = rng.random((500, 9)).astype(dtype)
    out = []
    for name in ("cython", "numba"):
        try:
            kern = get_backend(name)
        except ImportError:
            pytest.skip(f"{name} unavailable")
        W2 = W.copy()
        res = kern.complement_hals_sweep(W2, Ht.T @ Ht, XHt, T.indices, T.indptr, Ht, 0.1, 0.2,
                                         np.arange(9, dtype=np.intp), 2)
        out.append((W2, res))
    np.testing.assert_array_equal(out[0][0], out[1][0])
    assert out[0][1] == out[1][1]


def test_few_or_many_missing_entries_take_the_same_steps(compiled_backend, monkeypatch):
    # a dense X with few unknown entries is fitted as X with zeros there plus corrections
    # (Complement), with many on its observed entries (Observed): the same algorithm
    import fastnmf.data.missing as masked

    X = _low_rank(90, 70, 4) + 0.05
    X[np.random.default_rng(0).random(X.shape) < 0.3] = np.nan
    rng = np.random.default_rng(1)
    W0, H0 = rng.random((90, 4)), rng.random((4, 70))
    runs = []
    for frac in (0.5, 0.0):
        monkeypatch.setattr(masked, "COMPLEMENT_MAX_FRACTION", frac)
        est = NMF(4, init="custom", max_iter=25, tol=0, backend=compiled_backend, alpha_W=0.01)
        runs.append((est.fit_transform(X, W=W0, H=H0), est.components_, est.loss_history_,
                     est.reconstruction_err_))
    np.testing.assert_allclose(runs[0][0], runs[1][0], rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(runs[0][1], runs[1][1], rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(runs[0][2], runs[1][2], rtol=1e-8)
    assert runs[0][3] == pytest.approx(runs[1][3], rel=1e-7)


def test_kl_cd_sweep_csr_per_row_sums_match_reference(compiled_backend, dtype):
    kern = get_backend(compiled_backend)
    S = _pattern(70, 40, 0.3, seed=11, dtype=dtype)
    rng = np.random.default_rng(6)
    W, Ht = rng.random((70, 5)).astype(dtype) + 0.1, rng.random((40, 5)).astype(dtype) + 0.1
    ones = sp.csr_matrix((np.ones(S.nnz), S.indices, S.indptr), shape=S.shape)
    bsum = ones @ Ht.astype(np.float64)  # per row: B summed over its observed columns
    W_ref = W.copy()
    v_ref, l_ref = ref.kl_cd_sweep_csr(S.data, S.indices, S.indptr, W_ref, Ht, bsum, 0.1, 0.2,
                                       3, True, 1)
    W_c = W.copy()
    v, loss = kern.kl_cd_sweep_csr(S.data, S.indices, S.indptr, W_c, Ht, bsum, 0.1, 0.2, 3, True, 2)
    np.testing.assert_allclose(W_c, W_ref, rtol=rtol_for(dtype) * 10, atol=1e-12)
    assert v == pytest.approx(v_ref, rel=1e-6)
    assert loss == pytest.approx(l_ref, rel=1e-6)
    # a (k,) bsum is the same as every row having it
    W_a, W_b = W.copy(), W.copy()
    col = Ht.sum(axis=0, dtype=np.float64)
    ra = kern.kl_cd_sweep_csr(S.data, S.indices, S.indptr, W_a, Ht, col, 0.0, 0.0, 2, True, 2)
    rb = kern.kl_cd_sweep_csr(S.data, S.indices, S.indptr, W_b, Ht, np.tile(col, (70, 1)),
                              0.0, 0.0, 2, True, 2)
    np.testing.assert_array_equal(W_a, W_b)
    assert ra == rb


# ---------------------------------------------------------------- Observed
def test_observed_entries_of_a_dense_matrix_with_nan_and_mask():
    rng = np.random.default_rng(0)
    X = rng.random((30, 20))
    X[rng.random(X.shape) < 0.2] = np.nan
    X[3, 4] = 0.0
    mask = rng.random(X.shape) < 0.1
    for arr in (X, np.asfortranarray(X)):
        obs = from_dense(arr, mask, "nan")
        seen = ~np.isnan(X) & ~mask
        assert obs.nnz == int(seen.sum())
        np.testing.assert_array_equal(obs.X.toarray() != 0, seen & (X != 0))
        assert (3, 4) in set(zip(*obs.X.nonzero())) or not seen[3, 4] or obs.X[3, 4] == 0
        # the transposed copy and the gathers between the two orders agree
        np.testing.assert_array_equal(obs.XT.toarray(), obs.X.toarray().T)
        assert obs.XT.nnz == obs.nnz  # stored zeros kept in both orders
    obs = from_dense(X, None, "unobserved")  # zeros are unknown too
    assert obs.nnz == int((~np.isnan(X) & (X != 0)).sum())


# ---------------------------------------------------------------- fits
def _low_rank(m, n, k, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((m, k)) @ rng.random((k, n))


@pytest.mark.parametrize("solver,beta", [("cd", "frobenius"), ("mu", "frobenius"),
                                         ("cd", "kullback-leibler"), ("mu", "kullback-leibler")])
def test_masked_fit_with_nothing_missing_equals_the_ordinary_fit(backend, solver, beta):
    X = _low_rank(60, 40, 4) + 0.05
    rng = np.random.default_rng(1)
    W0, H0 = rng.random((60, 4)) + 0.1, rng.random((4, 40)) + 0.1
    kw = dict(n_components=4, init="custom", solver=solver, beta_loss=beta, max_iter=30, tol=0,
              backend=backend)
    a = NMF(**kw)
    Wa = a.fit_transform(X, W=W0, H=H0)
    b = NMF(**kw)
    Wb = b.fit_transform(X, W=W0, H=H0, mask=np.zeros(X.shape, bool))  # masked path, all observed
    assert b.n_missing_ == 0 and a.n_missing_ == 0
    np.testing.assert_allclose(Wb, Wa, rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(b.components_, a.components_, rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(b.loss_history_, a.loss_history_, rtol=1e-8)
    assert b.reconstruction_err_ == pytest.approx(a.reconstruction_err_, rel=1e-7)


@pytest.mark.parametrize("solver,beta", [("cd", "frobenius"), ("cd", "kullback-leibler"),
                                         ("mu", "frobenius"), ("mu", "kullback-leibler")])
def test_held_out_entries_are_recovered_far_better_than_mean_imputation(compiled_backend, solver,
                                                                         beta):
    from sklearn.decomposition import NMF as SkNMF

    X = _low_rank(200, 150, 5, seed=2) + 0.01
    rng = np.random.default_rng(3)
    missing = rng.random(X.shape) < 0.3
    Xn = X.copy()
    Xn[missing] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = NMF(5, solver=solver, beta_loss=beta, max_iter=400 if solver == "cd" else 3000,
                  tol=1e-8, random_state=0, backend=compiled_backend)
        W = est.fit_transform(Xn)
        P = W @ est.components_
        err = np.abs(P[missing] - X[missing]).mean() / X[missing].mean()
        # mean imputation, then an ordinary fit
        Xi = np.where(missing, np.nanmean(Xn, axis=0), X)
        sk = SkNMF(5, max_iter=400, random_state=0, beta_loss=beta,
                   solver="mu" if beta != "frobenius" else "cd")
        Pi = sk.fit_transform(Xi) @ sk.components_
        err_i = np.abs(Pi[missing] - X[missing]).mean() / X[missing].mean()
    assert err < 0.03
    assert err < err_i / 5
    assert est.n_missing_ == int(missing.sum())
    assert np.isnan(Xn[missing]).all()  # the caller's array is untouched


@pytest.mark.parametrize("beta", ["frobenius", "kullback-leibler"])
def test_masked_cd_loss_never_increases(backend, beta, dtype):
    X = (_low_rank(50, 30, 3) + 0.1).astype(dtype)
    X[np.random.default_rng(0).random(X.shape) < 0.4] = np.nan
    est = NMF(3, solver="cd", beta_loss=beta, max_iter=40, tol=0, random_state=0,
              backend=backend, alpha_W=0.01)
    W = est.fit_transform(X)
    assert W.dtype == dtype and est.components_.dtype == dtype
    h = est.loss_history_
    assert np.all(np.diff(h) <= 1e-6 * h[0])
    # the recorded loss is the masked objective of the final factors
    P = (W.astype(np.float64) @ est.components_.astype(np.float64))
    seen = ~np.isnan(X)
    x, p = X[seen].astype(np.float64), P[seen]
    if beta == "frobenius":
        data = 0.5 * np.sum((x - p) ** 2)
    else:
        data = np.sum(np.where(x > 0, x * np.log(np.where(x > 0, x, 1) / p), 0) - x + p)
    # weighted-lambda: each row's (column's) penalty scaled by its observed entries, not by
    # n_features (n_samples)
    W64, H64 = W.astype(np.float64), est.components_.astype(np.float64)
    pen = 0.01 * 0.5 * float(seen.sum(axis=1) @ (W64 ** 2).sum(axis=1)) + \
        0.01 * 0.5 * float(seen.sum(axis=0) @ (H64 ** 2).sum(axis=0))
    assert h[-1] == pytest.approx(data + pen, rel=rtol_for(dtype) * 100)
    assert est.reconstruction_err_ == pytest.approx(np.sqrt(2 * data), rel=rtol_for(dtype) * 100)


def test_sparse_unobserved_equals_dense_with_nan(compiled_backend):
    rng = np.random.default_rng(4)
    X = _low_rank(120, 80, 4) + 0.1
    S = sp.random(120, 80, density=0.25, random_state=5, format="csr")
    rows, cols = np.repeat(np.arange(120), np.diff(S.indptr)), S.indices
    S.data[:] = X[rows, cols]
    S.data[::9] = 0.0  # a stored zero is an observed zero
    D = np.full(X.shape, np.nan)
    D[rows, cols] = S.data
    kw = dict(n_components=4, max_iter=60, tol=0, random_state=0, backend=compiled_backend)
    a = NMF(missing="unobserved", **kw)
    Wa = a.fit_transform(S)
    b = NMF(**kw)
    Wb = b.fit_transform(D)
    np.testing.assert_allclose(Wa, Wb, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(a.components_, b.components_, rtol=1e-10, atol=1e-12)
    assert a.n_missing_ == 120 * 80 - S.nnz
    # predict_entries at the stored entries
    np.testing.assert_allclose(a.predict_entries(rows, cols), (Wa @ a.components_)[rows, cols],
                               rtol=1e-12)
    del rng


def test_masked_results_do_not_depend_on_the_thread_count(compiled_backend):
    X = _low_rank(300, 200, 6) + 0.05
    X[np.random.default_rng(1).random(X.shape) < 0.5] = np.nan
    out = []
    for nt in (1, 2):
        for beta in ("frobenius", "kullback-leibler"):
            est = NMF(6, max_iter=20, tol=0, random_state=0, backend=compiled_backend,
                      n_threads=nt, beta_loss=beta)
            out.append((est.fit_transform(X), est.components_))
    for (Wa, Ha), (Wb, Hb) in zip(out[:2], out[2:]):
        np.testing.assert_array_equal(Wa, Wb)
        np.testing.assert_array_equal(Ha, Hb)


def test_transform_with_missing_entries_fits_the_observed_ones(compiled_backend):
    X = _low_rank(100, 60, 3, seed=7) + 0.01
    est = NMF(3, max_iter=300, tol=1e-8, random_state=0, backend=compiled_backend)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X)
        Xn = X.copy()
        rng = np.random.default_rng(8)
        missing = rng.random(X.shape) < 0.3
        Xn[missing] = np.nan
        W = est.transform(Xn)
        W_mask = est.transform(X, mask=missing)
    np.testing.assert_allclose(W, W_mask, rtol=1e-12)
    P = W @ est.components_
    assert np.abs(P[missing] - X[missing]).mean() / X[missing].mean() < 0.02


def test_transform_allows_columns_with_no_observed_entry(compiled_backend):
    rng = np.random.default_rng(5)
    S = sp.random(80, 30, density=0.3, random_state=1, format="csr")
    est = NMF(3, missing="unobserved", max_iter=30, tol=0, random_state=0,
              backend=compiled_backend).fit(S)
    few = S[:3]  # some columns have no stored entry in these rows: fine with H fixed
    assert (np.diff(few.tocsc().indptr) == 0).any()
    W = est.transform(few)
    assert W.shape == (3, 3) and np.isfinite(W).all()
    D = np.where(rng.random((2, 30)) < 0.9, np.nan, 1.0)
    D[:, 0] = 1.0
    assert est.transform(D).shape == (2, 3)  # dense: the same
    Sr = S.tolil()
    Sr.rows[0], Sr.data[0] = [], []
    with pytest.raises(ValueError, match=r"1 row\(s\) with no observed entry"):
        est.transform(Sr.tocsr()[:3])  # a row still needs one


def test_non_negative_factorization_and_masked_arrays(compiled_backend):
    X = _low_rank(40, 30, 3) + 0.1
    rng = np.random.default_rng(9)
    missing = rng.random(X.shape) < 0.2
    kw = dict(n_components=3, max_iter=50, tol=0, random_state=0, backend=compiled_backend)
    W1, H1, _ = non_negative_factorization(X, mask=missing, **kw)
    est = NMF(**kw)
    W2 = est.fit_transform(np.ma.MaskedArray(X, mask=missing))
    Xn = X.copy()
    Xn[missing] = np.nan
    W3, H3, _ = non_negative_factorization(Xn, **kw)
    np.testing.assert_allclose(W1, W2, rtol=1e-12)
    np.testing.assert_allclose(W1, W3, rtol=1e-12)
    # whatever a masked array holds under its mask is not data
    garbage = np.ma.MaskedArray(np.where(missing, -7.0, X), mask=missing)
    W4 = NMF(**kw).fit_transform(garbage)
    np.testing.assert_allclose(W1, W4, rtol=1e-12)
    np.testing.assert_allclose(H1, H3, rtol=1e-12)


def test_n_init_and_frozen_components_with_missing_entries(compiled_backend):
    X = _low_rank(60, 40, 3) + 0.1
    X[np.random.default_rng(2).random(X.shape) < 0.3] = np.nan
    est = NMF(3, init="random", n_init=3, max_iter=30, tol=0, random_state=0,
              backend=compiled_backend)
    est.fit(X)
    assert len(est.run_losses_) == 3 and est.loss_history_[-1] == min(est.run_losses_)
    rng = np.random.default_rng(3)
    W0, H0 = rng.random((60, 3)), rng.random((3, 40))
    est = NMF(3, init="custom", frozen_components=[1], max_iter=20, tol=0,
              backend=compiled_backend)
    est.fit_transform(X, W=W0, H=H0)
    np.testing.assert_array_equal(est.components_[1], H0[1])


def test_predict_entries_checks_its_input():
    X = _low_rank(20, 10, 2) + 0.1
    est = NMF(2, max_iter=20, random_state=0, backend="numpy").fit(X)
    np.testing.assert_allclose(est.predict_entries([0, -1], [3, -1]),
                               [(est.W_ @ est.components_)[0, 3], (est.W_ @ est.components_)[-1, -1]])
    with pytest.raises(ValueError, match="rows must be indices"):
        est.predict_entries([20], [0])
    with pytest.raises(ValueError, match="cols must be indices"):
        est.predict_entries([0], [10])
    with pytest.raises(TypeError, match="rows must be integer"):
        est.predict_entries([0.5], [0])
    with pytest.raises(ValueError, match="same shape"):
        est.predict_entries([0, 1], [0])
    with pytest.raises(ValueError, match="W must have shape"):
        est.predict_entries([0], [0], W=np.ones((3, 5)))


# ---------------------------------------------------------------- errors
def test_clear_errors_for_what_cannot_be_fitted():
    X = _low_rank(10, 8, 2) + 0.1
    Xr = X.copy()
    Xr[4] = np.nan
    with pytest.raises(ValueError, match=r"1 row\(s\) with no observed entry \(row index 4\)"):
        NMF(2, backend="numpy").fit(Xr)
    Xc = X.copy()
    Xc[:, [2, 5]] = np.nan
    with pytest.raises(ValueError, match=r"2 column\(s\) with no observed entry \(column index 2, 5\)"):
        NMF(2, backend="numpy").fit(Xc)
    with pytest.raises(ValueError, match="every entry is missing"):
        NMF(2, backend="numpy").fit(np.full((3, 3), np.nan))
    with pytest.raises(ValueError, match="missing must be one of"):
        NMF(2, missing="zero").fit(X)
    with pytest.raises(TypeError, match="mask must be a boolean"):
        NMF(2).fit(X, mask=np.zeros(X.shape))
    with pytest.raises(ValueError, match="mask must have the shape of X"):
        NMF(2).fit(X, mask=np.zeros((3, 3), bool))
    with pytest.raises(ValueError, match="mask applies to a dense X"):
        NMF(2).fit(sp.csr_matrix(X), mask=np.zeros(X.shape, bool))
    Xn = X.copy()
    Xn[0, 0] = np.nan
    with pytest.raises(ValueError, match="solver='als' does not fit missing entries"):
        NMF(2, solver="als").fit(Xn)
    with pytest.raises(ValueError, match="beta_loss=0.5 is not supported with missing entries"):
        NMF(2, solver="mu", beta_loss=0.5).fit(Xn)
    Xi = X.copy()
    Xi[0, 0] = np.inf
    with pytest.raises(ValueError, match="finite"):
        NMF(2).fit(Xi)
    Xneg = Xn.copy()
    Xneg[1, 2] = -1.0
    with pytest.raises(ValueError, match=r"non-negative; found minimum value -1.0 at index \(1, 2\)"):
        NMF(2).fit(Xneg)
    S = sp.csr_matrix(X)
    S.data[3] = np.nan
    with pytest.raises(ValueError, match="missing='unobserved'"):
        NMF(2).fit(S)
    NMF(2, missing="unobserved", max_iter=5, tol=0, backend="numpy").fit(S)  # stored NaN: missing


# ---------------------------------------------------------------- default penalty
def _thin_ratings(seed=0, m=300, n=400, k=6):
    """Ratings-like data: 1-5 from a rank-k model, users rating 8-60 items and items
    rated by 1 to 40 users (many fewer than the components of the fits below)."""
    rng = np.random.default_rng(seed)
    W, H = rng.random((m, k)), rng.random((k, n))
    V = W @ H
    V = 1 + 4 * (V - V.min()) / np.ptp(V)
    pop = rng.pareto(1.0, n) + 0.05  # item popularity: a long tail of rare items
    rows, cols = [], []
    for i in range(m):
        c = rng.choice(n, size=rng.integers(8, 60), replace=False, p=pop / pop.sum())
        rows.append(np.full(len(c), i))
        cols.append(c)
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    vals = np.clip(np.rint(V[rows, cols] + 0.5 * rng.standard_normal(len(rows))), 1, 5)
    S = sp.csr_matrix((vals, (rows, cols)), shape=(m, n))
    keep = np.flatnonzero(np.diff(S.tocsc().indptr) > 0)  # items rated at least once
    return S[:, keep].tocsr()


def _split(S, seed=0):
    from fastnmf.selection.holdout import hold_out_observed as _hold_out_observed
    hold = _hold_out_observed(from_sparse(S), 0.1, np.random.default_rng(seed))
    return hold.train.X, hold.rows, hold.cols, hold.values


def test_default_penalty_keeps_held_out_predictions_sane_on_sparse_rows(compiled_backend):
    S = _thin_ratings()
    counts = np.diff(S.tocsc().indptr)
    assert (counts < 16).mean() > 0.3  # many items rated fewer times than components
    train, rows, cols, truth = _split(S)
    mean_rmse = np.sqrt(np.mean((truth - train.data.mean()) ** 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = NMF(16, missing="unobserved", random_state=0, backend=compiled_backend)
        pred = model.fit(train).predict_entries(rows, cols)
        bare = NMF(16, missing="unobserved", random_state=0, backend=compiled_backend,
                   alpha_W=0.0).fit(train).predict_entries(rows, cols)
    rmse = np.sqrt(np.mean((truth - pred) ** 2))
    assert pred.max() < 10 and rmse < mean_rmse  # ratings 1-5: sane, better than the mean
    # without the penalty the same fit is far off (what the default is for)
    assert np.sqrt(np.mean((truth - bare) ** 2)) > 2 * rmse


def test_auto_penalty_is_the_documented_alpha():
    from fastnmf.solvers.penalty import AUTO_ALPHA
    S = _thin_ratings(m=120, n=150)
    kw = dict(n_components=8, missing="unobserved", random_state=0, max_iter=30, tol=0)
    auto = NMF(**kw).fit(S)
    explicit = NMF(alpha_W=AUTO_ALPHA * S.data.mean(), **kw).fit(S)
    np.testing.assert_array_equal(auto.components_, explicit.components_)
    np.testing.assert_array_equal(auto.loss_history_, explicit.loss_history_)
    none = NMF(alpha_W=0.0, **kw).fit(S)
    assert not np.array_equal(none.components_, auto.components_)


@pytest.mark.parametrize("case", ["complete dense", "complete sparse", "well-determined NaN"])
def test_auto_is_no_penalty_without_thin_rows(case):
    rng = np.random.default_rng(3)
    X = rng.random((80, 4)) @ rng.random((4, 60))
    if case == "complete sparse":
        X = sp.random(80, 60, density=0.3, random_state=1, format="csr")
    elif case == "well-determined NaN":
        X[rng.random(X.shape) < 0.2] = np.nan  # every row and column: >= 2 x 5 observed
    kw = dict(n_components=5, random_state=0, max_iter=40, tol=0)
    a, b = NMF(**kw), NMF(alpha_W=0.0, **kw)
    np.testing.assert_array_equal(a.fit_transform(X), b.fit_transform(X))
    np.testing.assert_array_equal(a.loss_history_, b.loss_history_)


def test_alpha_zero_is_exactly_no_penalty_on_thin_rows():
    S = _thin_ratings(m=120, n=150)
    model = NMF(8, missing="unobserved", alpha_W=0.0, random_state=0, max_iter=20, tol=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        W = model.fit_transform(S)
    r = _residual(S, W, model.components_.T)
    assert model.loss_history_[-1] == pytest.approx(0.5 * float(r @ r), rel=1e-9)


def test_penalty_groups_of_many_counts_keep_each_rows_optimality(compiled_backend):
    # more distinct counts than MAX_EXACT_GROUPS: rows are grouped, each group's weight
    # within GROUP_RATIO of its rows' counts; at convergence each row of W satisfies the
    # optimality of its own weighted penalty
    from fastnmf.data.missing import from_sparse
    from fastnmf.solvers.penalty import GROUP_RATIO, MAX_EXACT_GROUPS, Groups, count_penalty
    rng = np.random.default_rng(0)
    m, n, k = 200, 150, 3
    rows = np.concatenate([np.full(c, i) for i, c in enumerate(rng.integers(5, 150, m))])
    cols = np.concatenate([rng.choice(n, size=c, replace=False)
                           for c in np.bincount(rows, minlength=m)])
    L = rng.random((m, k)) @ rng.random((k, n))
    S = sp.csr_matrix((L[rows, cols] + 0.1 * rng.random(len(rows)), (rows, cols)), shape=(m, n))
    counts = np.diff(S.indptr)
    assert len(np.unique(counts)) > MAX_EXACT_GROUPS
    g = Groups(counts, S)
    assert np.all(g.weight / counts < GROUP_RATIO) and np.all(counts / g.weight < GROUP_RATIO)
    alpha = 0.05
    model = NMF(k, missing="unobserved", alpha_W=alpha, random_state=0, max_iter=3000, tol=0,
                backend=compiled_backend)
    W = model.fit_transform(S)
    Ht = model.components_.T
    pen = count_penalty(from_sparse(S), dict(alpha_W=alpha, alpha_H=alpha, l1_ratio=0.0))
    r = _residual(S, W, Ht)
    data_grad = -np.asarray(sp.csr_matrix((r, S.indices, S.indptr), shape=S.shape) @ Ht)

    def worst(weight):  # the largest projected gradient of the objective with these weights
        grad = data_grad + alpha * weight[:, None] * W
        return np.abs(np.where(W > 0, grad, np.minimum(grad, 0))).max()

    # the fit is stationary for its own weights, not for exact counts nor for n_features
    assert worst(pen.rows.weight) < 1e-3 * worst(np.full(m, float(n)))
    assert worst(pen.rows.weight) < 0.05 * worst(counts.astype(float))


def test_alpha_w_errors():
    X = np.random.default_rng(0).random((5, 4))
    with pytest.raises(ValueError, match=r"alpha_W must be a real number >= 0\.0 or 'auto'; got 'x'"):
        NMF(2, alpha_W="x").fit(X)
    with pytest.raises(ValueError, match=r"alpha_W must be a real number >= 0\.0"):
        NMF(2, alpha_W=-1.0).fit(X)
