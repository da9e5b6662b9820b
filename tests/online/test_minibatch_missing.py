"""fastnmf.MiniBatchNMF on an X with unknown entries (NaN, ``mask``, ``missing='unobserved'``):
online cd against a NumPy reference of its steps, the rules on known entries against the
complete rules on complete data, unknown values without influence, partial_fit, transform,
checkpoints, validation."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal

from fastnmf import NMF, MiniBatchNMF

RULES = [("cd", "frobenius"), ("cd", "kullback-leibler"), ("mu", "frobenius"),
         ("mu", "kullback-leibler")]


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=Warning)
        yield


def _data(m=80, n=30, k=4, frac=0.25, seed=0, noise=0.01):
    """A low-rank X, a mask of unknown entries (every row and column keeps some) and the X
    with NaN there."""
    rng = np.random.default_rng(seed)
    X = rng.random((m, k)) @ rng.random((k, n)) + noise * rng.random((m, n))
    M = rng.random((m, n)) < frac
    M[:, 0] = False
    M[0, :] = False
    Xn = X.copy()
    Xn[M] = np.nan
    return X, M, Xn


def _masked_sweeps(W, Ht, X, known, sweeps, a1=0.0, a2=0.0):
    """Coordinate-descent sweeps of each row of W on its known entries, penalties per known
    entry (the NumPy reference of the masked kernel's use)."""
    W = W.copy()
    for i in range(W.shape[0]):
        cols = np.flatnonzero(known[i])
        G, x = Ht[cols], X[i, cols]
        c = len(cols)
        for _ in range(sweeps):
            for t in range(W.shape[1]):
                r = x - G @ W[i]
                grad = -r @ G[:, t] + a1 * c + a2 * c * W[i, t]
                hess = G[:, t] @ G[:, t] + a2 * c
                if hess > 0:
                    W[i, t] = max(W[i, t] - grad / hess, 0.0)
    return W


@pytest.mark.parametrize("alpha", [0.0, 0.05])
def test_online_cd_matches_a_numpy_reference_of_its_steps(alpha):
    """Per batch: 5 cd sweeps of the batch's W on its known entries, then per column j
    ``A_j += sum w_i w_i^T`` and ``B_j += sum x_ij w_i`` over the batch's known entries of
    the column (the last visit's terms replaced from the second epoch), and one cd sweep of
    each column of H on its own statistics; penalties per known entry."""
    from fastnmf.online.steps import REFRESH_SWEEPS, W_SWEEPS

    X, M, Xn = _data(70, 25, seed=3)
    known = ~M
    rng = np.random.default_rng(1)
    W0, H0 = rng.random((70, 4)), rng.random((4, 25))
    bs, epochs, r = 16, 3, 0.3
    a1, a2 = alpha * r, alpha * (1 - r)
    est = MiniBatchNMF(4, init="custom", batch_size=bs, max_iter=epochs, tol=0,
                       max_no_improvement=None, alpha_W=alpha, l1_ratio=r)
    W = est.fit_transform(Xn, W=W0, H=H0)
    Wr, Ht = W0.copy(), H0.T.copy()
    A, B, count = np.zeros((25, 4, 4)), np.zeros((25, 4)), np.zeros(25)
    Xz = np.where(known, X, 0.0)
    for epoch in range(epochs):
        for lo in range(0, 70, bs):
            sl = slice(lo, lo + bs)
            old = Wr[sl].copy()
            Wr[sl] = _masked_sweeps(Wr[sl], Ht, X[sl], known[sl], W_SWEEPS, a1, a2)
            Kb = known[sl].astype(float)
            A += np.einsum("ij,ik,il->jkl", Kb, Wr[sl], Wr[sl])
            B += Xz[sl].T @ Wr[sl]
            if epoch:
                A -= np.einsum("ij,ik,il->jkl", Kb, old, old)
                B -= Xz[sl].T @ old
            else:
                count += Kb.sum(axis=0)
            for j in np.flatnonzero(Kb.sum(axis=0)):
                for t in range(4):
                    grad = A[j, t] @ Ht[j] - B[j, t] + a1 * count[j] + a2 * count[j] * Ht[j, t]
                    hess = A[j, t, t] + a2 * count[j]
                    Ht[j, t] = max(Ht[j, t] - grad / hess, 0.0)
    Wr = _masked_sweeps(Wr, Ht, X, known, REFRESH_SWEEPS, a1, a2)
    assert est.n_steps_ == epochs * 5 and est.solver_ == "cd"
    assert est.n_missing_ == M.sum()
    assert_allclose(est.components_, Ht.T, rtol=1e-9, atol=1e-12)
    assert_allclose(W, Wr, rtol=1e-9, atol=1e-12)
    # the error is over the known entries
    R = np.where(known, X - W @ est.components_, 0.0)
    assert_allclose(est.reconstruction_err_, np.sqrt(np.sum(R ** 2)), rtol=1e-10)


@pytest.mark.parametrize("solver, beta", RULES)
@pytest.mark.parametrize("alpha", [0.0, 0.01])
def test_rules_on_known_entries_are_the_complete_rules_on_complete_data(solver, beta, alpha):
    """With every entry known (an all-False mask), the fit on known entries runs the
    complete fit's iterates: the same sweeps, statistics, penalties (a row's known entries
    are then n_features) and costs."""
    rng = np.random.default_rng(2)
    X = rng.random((150, 20)) + 0.05
    W0, H0 = rng.random((150, 4)), rng.random((4, 20))
    kw = dict(n_components=4, batch_size=32, init="custom", solver=solver, beta_loss=beta,
              max_iter=4, tol=0, max_no_improvement=None, alpha_W=alpha)
    a = MiniBatchNMF(**kw)
    Wa = a.fit_transform(X, W=W0, H=H0)
    b = MiniBatchNMF(**kw)
    Wb = b.fit_transform(X, W=W0, H=H0, mask=np.zeros(X.shape, dtype=bool))
    assert b.n_missing_ == 0
    assert_allclose(Wb, Wa, rtol=1e-9, atol=1e-12)
    assert_allclose(b.components_, a.components_, rtol=1e-9, atol=1e-12)
    assert_allclose(b.loss_history_, a.loss_history_, rtol=1e-9)
    assert_allclose(b.reconstruction_err_, a.reconstruction_err_, rtol=1e-9)


@pytest.mark.parametrize("solver, beta", RULES)
def test_unknown_values_have_no_influence(solver, beta):
    """NaN, a mask over arbitrary values, a MaskedArray and a sparse X with
    missing='unobserved' holding the same known entries give one fit."""
    X, M, Xn = _data(seed=5)
    kw = dict(n_components=4, batch_size=20, solver=solver, beta_loss=beta, max_iter=20,
              random_state=0)
    W1 = MiniBatchNMF(**kw).fit_transform(Xn)
    junk = np.where(M, 1e6, X)
    est = MiniBatchNMF(**kw)
    W2 = est.fit_transform(junk, mask=M)
    W3 = MiniBatchNMF(**kw).fit_transform(np.ma.MaskedArray(junk, mask=M))
    assert_allclose(W2, W1, rtol=1e-12)
    assert_allclose(W3, W1, rtol=1e-12)
    S = sp.csr_matrix(np.where(M, 0.0, X))
    W4 = MiniBatchNMF(missing="unobserved", **kw).fit_transform(S)
    assert_allclose(W4, W1, rtol=1e-9, atol=1e-12)
    # the fit follows the known entries: far better there than a flat fit
    P = W2 @ est.components_
    bound = 0.1 if solver == "cd" and beta == "frobenius" else 0.5
    assert np.abs(P - X)[~M].mean() < bound * np.abs(X - X.mean())[~M].mean()


def test_online_cd_reaches_the_batch_loss_on_known_entries():
    X, M, Xn = _data(400, 60, seed=7, noise=0.3)
    est = MiniBatchNMF(4, batch_size=50, random_state=0).fit(Xn)
    ref = NMF(4, random_state=0, max_iter=2000, tol=1e-8).fit(Xn)
    assert est.reconstruction_err_ <= 1.01 * ref.reconstruction_err_
    # held-out entries: predicted as well as by batch NMF (the data are low rank)
    P, Q = est.inverse_transform(est.transform(Xn)), ref.inverse_transform(ref.transform(Xn))
    scale = X[M].mean()
    assert np.abs(P - X)[M].mean() <= np.abs(Q - X)[M].mean() + 0.01 * scale


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("solver, beta", RULES)
def test_dtype_kept_and_inputs_not_modified(dtype, solver, beta):
    X, M, Xn = _data(seed=1)
    Xn = Xn.astype(dtype)
    keep = Xn.copy()
    est = MiniBatchNMF(3, batch_size=25, max_iter=3, solver=solver, beta_loss=beta,
                       random_state=0)
    W = est.fit_transform(Xn)
    assert W.dtype == dtype and est.components_.dtype == dtype
    assert est.transform(Xn).dtype == dtype
    assert_array_equal(Xn, keep)  # NaN where they were, nothing else touched
    assert np.isfinite(W).all() and (W >= 0).all()


@pytest.mark.parametrize("solver, beta", RULES)
def test_transform_fits_the_known_entries(solver, beta):
    """transform's W for fixed H fits the known entries: for Frobenius cd it satisfies the
    optimality conditions of its rows' NNLS problems on them."""
    X, M, Xn = _data(seed=2)
    est = MiniBatchNMF(4, batch_size=20, max_iter=20, solver=solver, beta_loss=beta,
                       random_state=0, alpha_W=0.0, tol=1e-10, transform_max_iter=2000).fit(Xn)
    W = est.transform(Xn)
    H = est.components_
    assert W.shape == (80, 4) and np.isfinite(W).all()
    if solver == "cd" and beta == "frobenius":
        for i in range(0, 80, 7):
            cols = ~M[i]
            grad = H[:, cols] @ (H[:, cols].T @ W[i] - X[i, cols])
            scale = np.abs(H[:, cols] @ X[i, cols]).max()
            assert np.all(grad >= -1e-6 * scale)
            assert np.all(np.abs(grad[W[i] > 0]) <= 1e-6 * scale)
    # a row whose unknown entries hold junk under a mask gets the same W
    junk = np.where(M, 7.0, X)
    assert_allclose(est.transform(junk, mask=M), W, rtol=1e-10, atol=1e-12)


def test_partial_fit_streams_with_unknown_entries():
    X, M, Xn = _data(120, 30, seed=4)
    est = MiniBatchNMF(3, random_state=0)
    for lo in range(0, 120, 40):
        est.partial_fit(Xn[lo:lo + 40])
    assert est.n_steps_ == 3 and np.isfinite(est.components_).all()
    # a complete first batch, then one with unknown entries: the statistics carry over
    a = MiniBatchNMF(3, init="custom", alpha_W=0.0)
    rng = np.random.default_rng(0)
    W0, H0 = rng.random((40, 3)), rng.random((3, 30))
    a.partial_fit(X[:40], W=W0, H=H0)
    a.partial_fit(Xn[40:80])
    # the same as a stream fitted on known entries from the start (whose first W, solved by
    # sweeps, is the exact NNLS solution to their tolerance)
    b = MiniBatchNMF(3, init="custom", alpha_W=0.0)
    b.partial_fit(X[:40], W=W0, H=H0, mask=np.zeros((40, 30), dtype=bool))
    b.partial_fit(Xn[40:80])
    assert_allclose(a.components_, b.components_, rtol=1e-3, atol=1e-8)
    # a sparse batch (absent entries known zeros) after that is refused, by name
    with pytest.raises(ValueError, match="sparse batch with missing='nan'"):
        a.partial_fit(sp.csr_matrix(X[80:]))
    a.partial_fit(X[80:])  # dense and complete: accepted


def test_checkpoint_resumes_a_fit_with_unknown_entries(tmp_path):
    X, M, Xn = _data(seed=6)
    kw = dict(n_components=3, batch_size=20, random_state=0, tol=0, max_no_improvement=None)
    full = MiniBatchNMF(max_iter=6, **kw)
    W_full = full.fit_transform(Xn)
    path = tmp_path / "fit.npz"
    MiniBatchNMF(max_iter=3, checkpoint=path, **kw).fit(Xn)
    resumed = MiniBatchNMF(max_iter=6, checkpoint=path, **kw)
    W = resumed.fit_transform(Xn)
    assert_allclose(W, W_full, rtol=1e-12)
    assert_allclose(resumed.components_, full.components_, rtol=1e-12)
    with pytest.raises(ValueError, match="missing"):  # a complete fit does not take it
        MiniBatchNMF(max_iter=6, checkpoint=path, **kw).fit(X)


def test_auto_alpha_keeps_few_known_entries_bounded():
    """Rows and columns with fewer known entries than components: without a penalty their
    predictions are unbounded; alpha_W='auto' (the default) bounds them, as in NMF."""
    rng = np.random.default_rng(0)
    m, n, k = 200, 120, 8
    X = rng.random((m, 3)) @ rng.random((3, n)) + 1.0
    known = rng.random((m, n)) < 0.08
    known[np.arange(m), rng.integers(0, n, m)] = True
    known[rng.integers(0, m, n), np.arange(n)] = True
    S = sp.csr_matrix(np.where(known, X, 0.0))
    est = MiniBatchNMF(k, missing="unobserved", random_state=0, batch_size=50).fit(S)
    P = est.inverse_transform(est.transform(S))
    assert P[~known].max() < 5 * X.max()
    assert est._p["alpha_W"] > 0


def test_errors_name_what_is_not_supported(tmp_path):
    X, M, Xn = _data()
    path = tmp_path / "fit.npz"
    with pytest.raises(ValueError, match=r"beta_loss=0.5 with unknown entries"):
        MiniBatchNMF(2, beta_loss=0.5, checkpoint=path).fit(Xn)
    assert not path.exists()
    mm = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", shape=X.shape)
    mm[...] = Xn
    with pytest.raises(ValueError, match="unknown entries are not supported"):
        MiniBatchNMF(2, chunk_bytes=1024).fit(mm)
    bad = Xn.copy()
    bad[:, 3] = np.nan
    with pytest.raises(ValueError, match="column"):
        MiniBatchNMF(2).fit(bad)
    with pytest.raises(ValueError, match="missing must be one of"):
        MiniBatchNMF(2, missing="zeros").fit(X)
    with pytest.raises(ValueError, match="mask must have the shape of X"):
        MiniBatchNMF(2).fit_transform(X, mask=M[:5])


def test_stream_forgetting_matches_a_numpy_reference():
    """partial_fit's statistics on known entries: ``A_j <- rho A_j + sum w w^T`` etc. (held
    divided by the running product of rho, only the batch's columns touched) give the H of
    explicit forgetting, penalties forgotten alike."""
    from fastnmf._backends import get_backend
    from fastnmf.online.masked import make_masked_rule
    from fastnmf.online.steps import W_SWEEPS, Regularization

    X, M, Xn = _data(60, 20, seed=8)
    known = ~M
    known[40:, 5:9] = False  # columns the last batch does not touch
    rng = np.random.default_rng(3)
    Ht0 = rng.random((20, 3))
    rho, a, r = 0.6, 0.05, 0.5
    rule = make_masked_rule("cd", 2.0, reg=Regularization(a, a, r, 20), rho=rho,
                            kernels=get_backend("numpy"), n_threads=1, dtype=np.float64)
    Ht = Ht0.copy()
    rule.start(Ht)
    A, B, count, Hr = np.zeros((20, 3, 3)), np.zeros((20, 3)), np.zeros(20), Ht0.copy()
    for lo in range(0, 60, 20):
        sl = slice(lo, lo + 20)
        pattern = sp.csr_matrix(known[sl])  # the known entries, stored zeros included
        Xb = sp.csr_matrix((X[sl][known[sl]], pattern.indices, pattern.indptr), shape=(20, 20))
        Wb0 = rng.random((20, 3))
        Wb, _ = rule.step(Xb, Wb0.copy(), Ht, True, 30, 0.0, stream=True)
        Wr = _masked_sweeps(Wb0, Hr, X[sl], known[sl], W_SWEEPS, a * r, a * (1 - r))
        assert_allclose(Wb, Wr, rtol=1e-10, atol=1e-12)
        Kb = known[sl].astype(float)
        A = rho * A + np.einsum("ij,ik,il->jkl", Kb, Wr, Wr)
        B = rho * B + np.where(known[sl], X[sl], 0.0).T @ Wr
        count = rho * count + Kb.sum(axis=0)
        for j in np.flatnonzero(Kb.sum(axis=0)):
            for t in range(3):
                grad = (A[j, t] @ Hr[j] - B[j, t] + a * r * count[j]
                        + a * (1 - r) * count[j] * Hr[j, t])
                Hr[j, t] = max(Hr[j, t] - grad / (A[j, t, t] + a * (1 - r) * count[j]), 0.0)
        assert_allclose(Ht, Hr, rtol=1e-10, atol=1e-12)
