"""KL divergence and the other beta-divergences: kernels and whole fits."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.decomposition import NMF as SkNMF
from sklearn.decomposition._nmf import _beta_divergence

from fastnmf import NMF, non_negative_factorization
from fastnmf._backends import get_backend
from fastnmf._init import initialize
from fastnmf._kernels import reference as ref

from ..conftest import _use, rtol_for

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def counts(m, n, r=4, density=0.3, seed=0, dtype=np.float64):
    """A Poisson count matrix from a rank-r model, with many zeros."""
    rng = np.random.default_rng(seed)
    lam = rng.gamma(0.5, size=(m, r)) @ rng.gamma(0.5, size=(r, n))
    lam *= -np.log1p(-density) / lam.mean()
    return rng.poisson(lam).astype(dtype)


def kl_direct(X, W, H):
    """sum x log(x / wh) - x + wh over every entry, 0 log 0 = 0, in float64."""
    X = np.asarray(X.toarray() if sp.issparse(X) else X, dtype=np.float64)
    WH = W.astype(np.float64) @ H.astype(np.float64)
    pos = X > 0
    return float(np.sum(X[pos] * np.log(X[pos] / WH[pos])) - X.sum() + WH.sum())


def as_csr(X, index=np.int32, explicit_zero=True):
    S = sp.csr_matrix(X)
    if explicit_zero and S.nnz:
        S = S.copy()
        # store one zero explicitly next to a nonzero of the first non-empty row
        i = int(np.flatnonzero(np.diff(S.indptr))[0])
        row = np.asarray(X)[i]
        j = int(np.flatnonzero(row == 0)[0]) if (row == 0).any() else None
        if j is not None:
            S = sp.csr_matrix((np.append(S.data, 0.0).astype(S.dtype),
                               (np.append(S.nonzero()[0], i), np.append(S.nonzero()[1], j))),
                              shape=S.shape)
            S.sum_duplicates()
    S.indices = S.indices.astype(index)
    S.indptr = S.indptr.astype(index)
    return S


def factors(m, n, k, dtype, seed=1):
    rng = np.random.default_rng(seed)
    W = (rng.random((m, k)) + 0.05).astype(dtype)
    Ht = (rng.random((n, k)) + 0.05).astype(dtype)
    return W, Ht


# ------------------------------------------------------------------ kernels
SHAPES = [(1, 1, 1), (9, 7, 1), (40, 30, 5), (130, 50, 16), (70, 90, 33)]


@pytest.mark.parametrize("m,n,k", SHAPES)
def test_kl_loss_kernels_match_reference_and_direct_formula(compiled_backend, dtype, m, n, k):
    kern = get_backend(compiled_backend)
    X = counts(m, n, dtype=dtype, seed=m)
    X[min(1, m - 1)] = 0  # an empty row
    W, Ht = factors(m, n, k, dtype)
    H = np.ascontiguousarray(Ht.T)
    S = as_csr(X)
    tol = rtol_for(dtype)
    dense = kern.kl_nonzero_loss(X, W, H, 2)
    csr = kern.kl_nonzero_loss_csr(S.data, S.indices, S.indptr, W, Ht, 2)
    assert isinstance(dense, float) and isinstance(csr, float)
    np.testing.assert_allclose(dense, ref.kl_nonzero_loss(X, W, H, 1), rtol=tol, atol=tol)
    np.testing.assert_allclose(csr, ref.kl_nonzero_loss_csr(S.data, S.indices, S.indptr, W, Ht, 1),
                               rtol=tol, atol=tol)
    sum_wh = float(W.sum(0, dtype=np.float64) @ Ht.sum(0, dtype=np.float64))
    expected = kl_direct(X, W, H)
    np.testing.assert_allclose(dense + sum_wh, expected, rtol=1e-10 if dtype == np.float64 else 1e-5)
    np.testing.assert_allclose(csr + sum_wh, expected, rtol=1e-10 if dtype == np.float64 else 1e-5)


def test_kl_loss_zero_for_exact_fit(compiled_backend):
    kern = get_backend(compiled_backend)
    W, Ht = factors(20, 15, 3, np.float64)
    X = W @ Ht.T
    nz = kern.kl_nonzero_loss(X, W, np.ascontiguousarray(Ht.T), 1)
    np.testing.assert_allclose(nz + float(W.sum(0) @ Ht.sum(0)), 0.0, atol=1e-10)


@pytest.mark.parametrize("beta", [1.0, 0.5, 1.5, 3.0, -0.5])
@pytest.mark.parametrize("index", [np.int32, np.int64])
def test_mu_numerator_csr_matches_reference(compiled_backend, dtype, beta, index):
    kern = get_backend(compiled_backend)
    X = counts(60, 45, dtype=dtype)
    S = as_csr(X, index)
    W, Ht = factors(60, 45, 6, dtype)
    outs = []
    for nt in (1, 2, 3):
        out = np.full_like(W, np.nan)
        loss = kern.mu_numerator_csr(S.data, S.indices, S.indptr, W, Ht, beta, out, True, nt)
        outs.append((out, loss))
    expected = np.empty_like(W)
    loss_ref = ref.mu_numerator_csr(S.data, S.indices, S.indptr, W, Ht, beta, expected, True, 1)
    np.testing.assert_allclose(outs[0][0], expected, rtol=rtol_for(dtype))
    np.testing.assert_allclose(outs[0][1], loss_ref, rtol=rtol_for(dtype))
    if beta == 1:  # the fused loss is the KL nonzero sum, and the numerator X/(WH) H
        np.testing.assert_allclose(loss_ref, ref.kl_nonzero_loss_csr(S.data, S.indices, S.indptr, W, Ht, 1))
        dense = (X / (W @ Ht.T)) @ Ht
        np.testing.assert_allclose(outs[0][0], dense, rtol=10 * rtol_for(dtype))
    else:
        assert outs[0][1] == 0.0
    for out, loss in outs[1:]:  # independent of the thread count
        np.testing.assert_array_equal(out, outs[0][0])
        assert loss == outs[0][1]


def _kl_objective(X, W, Ht, l1, l2):
    return kl_direct(X, W, Ht.T) + l1 * W.sum() + 0.5 * l2 * float((W.astype(np.float64) ** 2).sum())


@pytest.mark.parametrize("m,n,k", SHAPES)
@pytest.mark.parametrize("l1,l2", [(0.0, 0.0), (0.5, 0.0), (0.0, 3.0), (0.2, 1.0)])
def test_kl_cd_sweep_matches_reference_and_decreases(compiled_backend, dtype, m, n, k, l1, l2):
    kern = get_backend(compiled_backend)
    X = counts(m, n, dtype=dtype, seed=m + k)
    X[min(2, m - 1)] = 0  # a row with no entries: its W row goes to 0
    S = as_csr(X)
    W, Ht = factors(m, n, k, dtype, seed=k)
    if k > 1:
        W[0, 0] = 0.0  # a coordinate at the bound (k == 1 would make W H = 0 where x > 0)
    bsum = Ht.sum(axis=0, dtype=np.float64)
    W_ref, W_dense, W_csr = W.copy(), W.copy(), W.copy()
    v_ref, l_ref = ref.kl_cd_sweep(X, W_ref, Ht, bsum, l1, l2, 3, True, 1)
    v_d, l_d = kern.kl_cd_sweep(X, W_dense, Ht, bsum, l1, l2, 3, True, 2)
    v_c, l_c = kern.kl_cd_sweep_csr(S.data, S.indices, S.indptr, W_csr, Ht, bsum, l1, l2, 3, True, 2)
    tol = rtol_for(dtype)
    scale = float(np.abs(W_ref).max()) or 1.0
    for Wg, v, loss in ((W_dense, v_d, l_d), (W_csr, v_c, l_c)):
        assert Wg.dtype == dtype and (Wg >= 0).all()
        np.testing.assert_allclose(Wg, W_ref, rtol=100 * tol, atol=100 * tol * scale)
        np.testing.assert_allclose(v, v_ref, rtol=100 * tol)
        np.testing.assert_allclose(loss, l_ref, rtol=100 * tol, atol=tol)
    np.testing.assert_array_equal(W_dense, W_csr)  # same entries, same order: same steps
    before = _kl_objective(X, W, Ht, l1, l2)
    after = _kl_objective(X, W_csr, Ht, l1, l2)
    assert after <= before + 1e-12 * abs(before)
    if m > 2:
        assert (W_csr[min(2, m - 1)] == 0).all()


def test_kl_cd_sweep_on_transposed_dense_X_updates_H(compiled_backend, dtype):
    """The H update passes X.T (not C-contiguous): same as the CSR of X^T."""
    kern = get_backend(compiled_backend)
    X = counts(80, 50, dtype=dtype)
    W, Ht = factors(80, 50, 7, dtype)
    wsum = W.sum(axis=0, dtype=np.float64)
    H1, H2, H3 = Ht.copy(), Ht.copy(), Ht.copy()
    XT = sp.csr_matrix(X.T)
    r1 = kern.kl_cd_sweep(X.T, H1, W, wsum, 0.1, 0.1, 3, True, 2)
    r2 = kern.kl_cd_sweep_csr(XT.data, XT.indices, XT.indptr, H2, W, wsum, 0.1, 0.1, 3, True, 2)
    r3 = ref.kl_cd_sweep(X.T, H3, W, wsum, 0.1, 0.1, 3, True, 1)
    np.testing.assert_array_equal(H1, H2)
    assert r1 == r2
    np.testing.assert_allclose(H1, H3, rtol=100 * rtol_for(dtype), atol=1e-12)


@pytest.mark.parametrize("sparse", [False, True])
def test_kl_cd_sweep_independent_of_thread_count(compiled_backend, dtype, sparse):
    kern = get_backend(compiled_backend)
    X = counts(900, 120, r=6, dtype=dtype, seed=3)
    S = as_csr(X)
    W, Ht = factors(900, 120, 12, dtype)
    bsum = Ht.sum(axis=0, dtype=np.float64)
    results = []
    for nt in (1, 2, 3):
        Wc = W.copy()
        if sparse:
            r = kern.kl_cd_sweep_csr(S.data, S.indices, S.indptr, Wc, Ht, bsum, 0.0, 0.0, 2, True, nt)
        else:
            r = kern.kl_cd_sweep(X, Wc, Ht, bsum, 0.0, 0.0, 2, True, nt)
        results.append((Wc, r))
    for Wc, r in results[1:]:
        np.testing.assert_array_equal(Wc, results[0][0])
        assert r == results[0][1]


def test_kl_kernels_read_only_inputs(compiled_backend, dtype):
    kern = get_backend(compiled_backend)
    X = counts(30, 20, dtype=dtype)
    S = as_csr(X)
    W, Ht = factors(30, 20, 4, dtype)
    H = np.ascontiguousarray(Ht.T)
    bsum = Ht.sum(axis=0, dtype=np.float64)
    for a in (X, S.data, S.indices, S.indptr, Ht, H, bsum):
        a.flags.writeable = False
    kern.kl_nonzero_loss(X, W, H, 1)
    kern.kl_nonzero_loss_csr(S.data, S.indices, S.indptr, W, Ht, 1)
    kern.mu_numerator_csr(S.data, S.indices, S.indptr, W, Ht, 1.0, np.empty_like(W), True, 1)
    kern.kl_cd_sweep(X, W.copy(), Ht, bsum, 0.0, 0.0, 2, True, 1)
    kern.kl_cd_sweep_csr(S.data, S.indices, S.indptr, W.copy(), Ht, bsum, 0.0, 0.0, 2, True, 1)


# ------------------------------------------------------------------ fits
BETAS = [1, "kullback-leibler", 0, "itakura-saito", 0.5, 1.5, 3]


def _data_for(beta):
    X = counts(50, 40, density=0.4)
    if beta in (0, "itakura-saito"):
        X = X + 0.25  # beta <= 0 needs X without zeros
    return X


@pytest.mark.parametrize("beta", BETAS)
@pytest.mark.parametrize("sparse", [False, True])
def test_mu_beta_matches_scikit_learn(backend, beta, sparse):
    X = _data_for(beta)
    Xi = sp.csr_matrix(X) if sparse else X
    kw = dict(n_components=5, solver="mu", beta_loss=beta, init="nndsvda", random_state=0,
              max_iter=60, tol=1e-4, alpha_W=0.01, alpha_H=0.02, l1_ratio=0.3)
    sk = SkNMF(**kw)
    W_sk = sk.fit_transform(Xi)
    ours = NMF(backend=backend, **kw)
    W = ours.fit_transform(Xi)
    assert ours.n_iter_ == sk.n_iter_  # same stopping rule, same iterations
    np.testing.assert_allclose(W, W_sk, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(ours.components_, sk.components_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(ours.reconstruction_err_, sk.reconstruction_err_, rtol=1e-9)
    assert len(ours.loss_history_) == ours.n_iter_


@pytest.mark.parametrize("beta", [1, 0.5, 3])
def test_mu_beta_transform_matches_scikit_learn(beta):
    X = _data_for(beta)
    kw = dict(n_components=4, solver="mu", beta_loss=beta, random_state=0, max_iter=80)
    sk = SkNMF(**kw).fit(X)
    ours = NMF(**kw).fit(X)
    np.testing.assert_allclose(ours.transform(X[:10]), sk.transform(X[:10]), rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("beta", [1, 0.5])
def test_mu_beta_loss_is_monotone_and_recorded(beta):
    X = _data_for(beta)
    model = NMF(4, solver="mu", beta_loss=beta, max_iter=50, tol=0, random_state=0)
    W = model.fit_transform(X)
    h = model.loss_history_
    assert h.shape == (50,) and np.isfinite(h).all()
    assert (np.diff(h) <= 1e-10 * h[0]).all()
    np.testing.assert_allclose(h[-1], _beta_divergence(X, W, model.components_, beta), rtol=1e-9)


def test_mu_kl_sparse_history_equals_dense():
    """Sparse KL records its loss from the numerator pass: same as dense."""
    X = counts(60, 50, density=0.2)
    kw = dict(n_components=4, solver="mu", beta_loss=1, max_iter=25, tol=0, random_state=0)
    dense = NMF(**kw).fit(X)
    sparse = NMF(**kw).fit(sp.csr_matrix(X))
    np.testing.assert_allclose(sparse.loss_history_, dense.loss_history_, rtol=1e-10)
    np.testing.assert_allclose(sparse.components_, dense.components_, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("alpha", [0.0, 0.05])
def test_cd_kl_is_monotone_and_reports_its_loss(backend, dtype, sparse, alpha):
    X = counts(80, 60, density=0.25, dtype=dtype)
    Xi = sp.csr_matrix(X) if sparse else X
    model = NMF(5, solver="cd", beta_loss="kullback-leibler", max_iter=40, tol=0, random_state=0,
                backend=backend, alpha_W=alpha, l1_ratio=0.5)
    W = model.fit_transform(Xi)
    H = model.components_
    assert W.dtype == dtype and H.dtype == dtype
    assert (W >= 0).all() and (H >= 0).all()
    h = model.loss_history_
    assert h.shape == (40,)
    assert (np.diff(h) <= 1e-12 * abs(h[0])).all(), np.diff(h).max()
    # the recorded objective is the KL divergence plus the penalty, computed directly
    m, n = X.shape
    l1W, l2W = n * alpha * 0.5, n * alpha * 0.5
    l1H, l2H = m * alpha * 0.5, m * alpha * 0.5
    W64, H64 = W.astype(np.float64), H.astype(np.float64)
    objective = (kl_direct(X, W64, H64) + l1W * W64.sum() + 0.5 * l2W * (W64 ** 2).sum()
                 + l1H * H64.sum() + 0.5 * l2H * (H64 ** 2).sum())
    np.testing.assert_allclose(h[-1], objective, rtol=1e-8 if dtype == np.float64 else 1e-4)
    np.testing.assert_allclose(model.reconstruction_err_, np.sqrt(2 * kl_direct(X, W64, H64)),
                               rtol=1e-9 if dtype == np.float64 else 1e-4)


def test_cd_kl_sparse_equals_dense_and_backends_agree(dtype):
    X = counts(70, 55, density=0.3, dtype=dtype)
    W0, H0 = initialize(X, 4, "nndsvda", 0)
    results = []
    for backend in ("numpy", _use("numba"), _use("cython")):
        for Xi in (X, sp.csr_matrix(X), sp.csc_matrix(X)):
            W, H, n_iter = non_negative_factorization(
                Xi, W0.copy(), H0.copy(), n_components=4, init="custom", solver="cd",
                beta_loss=1, max_iter=20, tol=0, backend=backend)
            results.append((backend, W, H))
    tol = 1e-10 if dtype == np.float64 else 1e-4
    for backend, W, H in results[1:]:
        np.testing.assert_allclose(W, results[0][1], rtol=tol, atol=tol * np.abs(W).max())
        np.testing.assert_allclose(H, results[0][2], rtol=tol, atol=tol * np.abs(H).max())


def test_cd_kl_beats_scikit_learn_mu_in_fewer_iterations():
    """The point of the solver: 40 cd iterations go below 200 of scikit-learn's mu
    (here 19 are enough)."""
    X = counts(200, 400, r=6, density=0.1, seed=2)
    W0, H0 = initialize(X, 6, "nndsvda", 0)
    sk = SkNMF(6, solver="mu", beta_loss=1, init="custom", max_iter=200, tol=0)
    W_sk = sk.fit_transform(X, W=W0.copy(), H=H0.copy())
    ours = NMF(6, solver="cd", beta_loss=1, init="custom", max_iter=40, tol=0)
    W = ours.fit_transform(X, W=W0.copy(), H=H0.copy())
    assert _beta_divergence(X, W, ours.components_, 1) < _beta_divergence(X, W_sk, sk.components_, 1)


def test_cd_kl_stops_on_tol_and_transform_works():
    X = counts(60, 40, density=0.3)
    model = NMF(4, solver="cd", beta_loss=1, tol=1e-2, max_iter=500, random_state=0)
    W = model.fit_transform(X)
    assert 1 < model.n_iter_ < 500
    W2 = model.transform(X)  # H fixed: W solved again from a flat start
    assert W2.shape == W.shape and (W2 >= 0).all()
    fixed = _beta_divergence(X, W2, model.components_, 1)
    assert fixed <= _beta_divergence(X, W, model.components_, 1) * 1.05


@pytest.mark.parametrize("solver", ["cd", "mu"])
def test_kl_many_zeros_and_empty_rows(solver):
    X = counts(300, 200, density=0.01, seed=7)
    X[5] = 0
    X[:, 9] = 0
    for Xi in (X, sp.csr_matrix(X)):
        model = NMF(8, solver=solver, beta_loss=1, max_iter=50, random_state=0)
        W = model.fit_transform(Xi)
        H = model.components_
        assert np.isfinite(W).all() and np.isfinite(H).all()
        assert np.isfinite(model.reconstruction_err_)
        assert (W[5] == 0).all() or solver == "mu"  # no entries: cd sends the row to 0
        np.testing.assert_allclose(model.reconstruction_err_,
                                   np.sqrt(2 * kl_direct(X, W, H)), rtol=1e-9)


@pytest.mark.parametrize("solver,beta", [("cd", 1), ("mu", 1), ("mu", 0.5)])
def test_beta_fits_leave_inputs_alone(solver, beta):
    X = counts(40, 30)
    S = sp.csr_matrix(X)
    W0, H0 = initialize(X, 3, "nndsvda", 0)
    copies = [a.copy() for a in (X, S.data, S.indices, S.indptr, W0, H0)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for Xi in (X, S):
            non_negative_factorization(Xi, W0, H0, n_components=3, init="custom", solver=solver,
                                       beta_loss=beta, max_iter=5)
    for a, b in zip((X, S.data, S.indices, S.indptr, W0, H0), copies):
        np.testing.assert_array_equal(a, b)


def test_mu_with_nndsvd_warns_like_scikit_learn():
    with pytest.warns(UserWarning, match="cannot update zeros"):
        NMF(3, solver="mu", init="nndsvd", beta_loss=1, max_iter=5).fit(counts(20, 10) + 1)


@pytest.mark.parametrize("beta", [1, 0.5])
def test_dense_mu_on_the_pool_matches_scikit_learn_and_not_the_thread_count(beta):
    """Dense X with several groups of row blocks (fastnmf.data.beta.BetaTerms.row_groups):
    with threads, the groups run on fastnmf's pool with one BLAS thread each and their
    partial sums are added in group order; the same iterates as scikit-learn's mu to
    rounding, and bit for bit the same factors on 1, 2 and 3 threads."""
    from fastnmf.data import as_data

    X = counts(3000, 300, density=0.5)
    assert len(as_data(X, None, 2).beta_terms().row_groups()) - 1 >= 3
    X0 = X.copy()
    kw = dict(n_components=6, solver="mu", beta_loss=beta, init="nndsvda", random_state=0,
              max_iter=40, tol=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk = SkNMF(**kw)
        W_sk = sk.fit_transform(X)
        fits = [NMF(n_threads=nt, **kw) for nt in (1, 2, 3)]
        Ws = [f.fit_transform(X) for f in fits]
    np.testing.assert_allclose(Ws[0], W_sk, rtol=1e-7, atol=1e-9 * np.abs(W_sk).max())
    np.testing.assert_allclose(fits[0].components_, sk.components_, rtol=1e-7,
                               atol=1e-9 * np.abs(sk.components_).max())
    for f, W in zip(fits[1:], Ws[1:]):
        np.testing.assert_array_equal(W, Ws[0])
        np.testing.assert_array_equal(f.components_, fits[0].components_)
    np.testing.assert_array_equal(X, X0)


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
def test_kl_cd_stops_once_the_divergence_is_flat(sparse):
    """The KL Newton cd stops at the first tenth iteration whose error sqrt(2 D) improved by
    less than tol times itself over the last ten (not before), and its divergence is then
    within 0.1% of a fit four times as long from the same start."""
    X = counts(300, 200, r=5, density=0.3, seed=7)
    X = sp.csr_matrix(X) if sparse else X
    W0, H0 = initialize(X, 5, "nndsvda", 0)
    tol = 1e-4

    def run(**kw):
        est = NMF(5, beta_loss="kullback-leibler", solver="cd", init="custom", **kw)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.fit_transform(X, W=W0.copy(), H=H0.copy())
        return est

    est = run(tol=tol, max_iter=1000)
    e0 = np.sqrt(2 * kl_direct(X.toarray() if sparse else X, W0, H0))
    e = np.sqrt(2 * np.asarray(est.loss_history_))
    assert 10 <= est.n_iter_ < 1000 and est.n_iter_ % 10 == 0
    previous = e0
    for t in range(10, est.n_iter_, 10):
        assert previous - e[t - 1] >= tol * e[t - 1]
        previous = e[t - 1]
    assert previous - e[est.n_iter_ - 1] < tol * e[est.n_iter_ - 1]
    longer = run(tol=0, max_iter=4 * est.n_iter_)
    assert longer.n_iter_ == 4 * est.n_iter_
    assert longer.loss_history_[-1] <= est.loss_history_[-1]
    assert est.loss_history_[-1] <= longer.loss_history_[-1] * (1 + 1e-3)
