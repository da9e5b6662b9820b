"""solver='emu': over-relaxed multiplicative updates for the beta-divergences (beta != 2)."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.decomposition import NMF as SkNMF
from sklearn.decomposition._nmf import _beta_divergence

import fastnmf.solvers.beta as B
from fastnmf import NMF, non_negative_factorization
from fastnmf.solvers.auto import choose_solver
from fastnmf._init import initialize

from .test_kl import counts

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _data(beta, m=60, n=45, seed=0, dtype=np.float64):
    X = counts(m, n, r=4, density=0.5, seed=seed, dtype=dtype)
    if beta in (0, "itakura-saito"):
        X = X + dtype(0.25)  # beta <= 0 needs X without zeros
    return X


def _fit(X, solver, beta, W0, H0, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return non_negative_factorization(X, W0.copy(), H0.copy(), n_components=W0.shape[1],
                                          init="custom", solver=solver, beta_loss=beta, **kw)


@pytest.fixture
def omega(monkeypatch):
    """Sets fastnmf.solvers.beta.EMU_OMEGA for one test (read when each fit starts)."""
    def set_omega(value):
        monkeypatch.setattr(B, "EMU_OMEGA", value)
    return set_omega


@pytest.fixture
def momentum(monkeypatch):
    """Sets fastnmf.solvers.beta.EMU_MOMENTUM for one test (read when each fit starts)."""
    def set_momentum(value):
        monkeypatch.setattr(B, "EMU_MOMENTUM", value)
    return set_momentum


@pytest.mark.parametrize("beta", [1, 0.5, 1.5, 0])
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
@pytest.mark.parametrize("alpha", [0.0, 0.05])
def test_emu_objective_never_rises_and_is_the_one_recorded(backend, beta, sparse, alpha):
    X = _data(beta)
    Xi = sp.csr_matrix(X) if sparse else X
    model = NMF(4, solver="emu", beta_loss=beta, max_iter=60, tol=0, random_state=0,
                backend=backend, alpha_W=alpha, alpha_H="same", l1_ratio=0.5)
    W = model.fit_transform(Xi)
    H = model.components_
    h = model.loss_history_
    assert model.n_iter_ == 60 and h.shape == (60,) and np.isfinite(h).all()
    assert (W >= 0).all() and (H >= 0).all()
    assert (np.diff(h) <= 1e-10 * abs(h[0])).all(), np.diff(h).max()
    m, n = X.shape
    l1W, l2W, l1H, l2H = n * alpha * 0.5, n * alpha * 0.5, m * alpha * 0.5, m * alpha * 0.5
    objective = (_beta_divergence(X, W, H, beta) + l1W * W.sum() + 0.5 * l2W * (W ** 2).sum()
                 + l1H * H.sum() + 0.5 * l2H * (H ** 2).sum())
    np.testing.assert_allclose(h[-1], objective, rtol=1e-8)


@pytest.mark.parametrize("beta", [1, 0.5, 3])
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
def test_emu_with_omega_one_is_scikit_learns_mu(omega, momentum, monkeypatch, beta, sparse):
    """omega = 1 is no over-relaxation, momentum 0 none: with scikit-learn's clamp (EPS, not
    EPS times the mean of X), scikit-learn's mu iterates, to rounding."""
    omega(1.0)
    momentum(0.0)
    monkeypatch.setattr(B, "relative_floor", lambda X: B.EPS)
    X = _data(beta)
    Xi = sp.csr_matrix(X) if sparse else X
    W0, H0 = initialize(X, 4, "nndsvda", 0)
    sk = SkNMF(4, solver="mu", beta_loss=beta, init="custom", max_iter=40, tol=0)
    W_sk = sk.fit_transform(Xi, W=W0.copy(), H=H0.copy())
    W, H, n_iter = _fit(Xi, "emu", beta, W0, H0, max_iter=40, tol=0)
    assert n_iter == 40
    np.testing.assert_allclose(W, W_sk, rtol=1e-8, atol=1e-10 * np.abs(W_sk).max())
    np.testing.assert_allclose(H, sk.components_, rtol=1e-8, atol=1e-10 * np.abs(H).max())


@pytest.mark.parametrize("beta", [1, 0.5, 1.5])
def test_emu_is_invariant_to_the_scale_of_X(beta):
    """emu clamps W H at EPS times the mean of X, so a fit of c X from a start scaled by
    sqrt(c) is c times the fit of X (scikit-learn's absolute EPS clamp is not: on data of
    small magnitude it ends at another divergence)."""
    X = _data(beta, m=70, n=50, seed=6)
    X[X > 0] += 1e-6  # tiny entries, whose fit the clamp decides
    W0, H0 = initialize(X, 4, "nndsvda", 0)
    c = 1e-6
    W, H, _ = _fit(X, "emu", beta, W0, H0, max_iter=50, tol=0)
    Wc, Hc, _ = _fit(c * X, "emu", beta, np.sqrt(c) * W0, np.sqrt(c) * H0, max_iter=50, tol=0)
    np.testing.assert_allclose(Wc @ Hc, c * (W @ H), rtol=1e-6, atol=1e-9 * c * np.abs(X).max())


@pytest.mark.parametrize("beta", [1, 1.5])
def test_emu_reaches_scikit_learns_mu_loss_in_fewer_iterations(beta):
    """The point of the solver: from the same start, 120 iterations of emu end below 200 of
    scikit-learn's mu (dense KL on the corpus: 1.2-2.4 times fewer, benchmarks/emu_omega.py)."""
    X = counts(300, 200, r=6, density=0.5, seed=3)
    W0, H0 = initialize(X, 6, "nndsvda", 0)
    sk = SkNMF(6, solver="mu", beta_loss=beta, init="custom", max_iter=200, tol=0)
    W_sk = sk.fit_transform(X, W=W0.copy(), H=H0.copy())
    W, H, _ = _fit(X, "emu", beta, W0, H0, max_iter=120, tol=0)
    assert _beta_divergence(X, W, H, beta) < _beta_divergence(X, W_sk, sk.components_, beta)


def test_emu_safeguard_keeps_a_too_large_omega_monotone(omega):
    """At omega = 4 plain over-relaxed steps raise the loss (checked here without the
    safeguard); with it the loss never rises and the fit still ends below mu's."""
    X = _data(1, m=80, n=60, seed=5)
    W0, H0 = initialize(X, 5, "nndsvda", 0)
    rises = []
    W, Ht = W0.copy(), np.ascontiguousarray(H0.T)
    losses = [_beta_divergence(X, W, Ht.T, 1)]
    for _ in range(30):  # unguarded omega = 4 steps, the same formulas as the solver's
        num = (X / np.maximum(W @ Ht.T, B.EPS)) @ Ht
        W *= (num / Ht.sum(axis=0)) ** 4
        numH = (X / np.maximum(W @ Ht.T, B.EPS)).T @ W
        Ht *= (numH / W.sum(axis=0)) ** 4
        losses.append(_beta_divergence(X, W, Ht.T, 1))
        rises.append(losses[-1] > losses[-2])
    assert any(rises)  # the safeguard has something to do
    omega(4.0)
    model = NMF(5, solver="emu", beta_loss=1, init="custom", max_iter=60, tol=0)
    model.fit_transform(X, W=W0.copy(), H=H0.copy())
    h = model.loss_history_
    assert model.n_iter_ == 60 and (np.diff(h) <= 1e-12 * h[0]).all()
    W_mu, H_mu, _ = _fit(X, "mu", 1, W0, H0, max_iter=60, tol=0)
    assert h[-1] <= _beta_divergence(X, W_mu, H_mu, 1) * (1 + 1e-12)


def test_emu_stops_by_scikit_learns_mu_rule():
    """tol > 0: stops at a multiple of 10 iterations, once the error sqrt(2 D) improved by
    less than tol times the initial error over the last ten (scikit-learn's mu rule)."""
    X = _data(1, m=100, n=80)
    W0, H0 = initialize(X, 4, "nndsvda", 0)
    tol = 1e-3
    model = NMF(4, solver="emu", beta_loss=1, init="custom", tol=tol, max_iter=1000)
    model.fit_transform(X, W=W0.copy(), H=H0.copy())
    assert 10 <= model.n_iter_ < 1000 and model.n_iter_ % 10 == 0
    e0 = np.sqrt(2 * _beta_divergence(X, W0, H0, 1))
    e = np.sqrt(2 * model.loss_history_)
    previous = e0
    for t in range(10, model.n_iter_, 10):
        assert previous - e[t - 1] >= tol * e0
        previous = e[t - 1]
    assert previous - e[model.n_iter_ - 1] < tol * e0


def test_emu_keeps_float32_and_leaves_inputs_alone():
    X = _data(1, dtype=np.float32)
    S = sp.csr_matrix(X)
    W0, H0 = initialize(X, 3, "nndsvda", 0)
    copies = [a.copy() for a in (X, S.data, S.indices, S.indptr, W0, H0)]
    for Xi in (X, S):
        W, H, _ = _fit(Xi, "emu", 1, W0, H0, max_iter=15)
        assert W.dtype == np.float32 and H.dtype == np.float32
        assert np.isfinite(W).all() and np.isfinite(H).all()
    for a, b in zip((X, S.data, S.indices, S.indptr, W0, H0), copies):
        np.testing.assert_array_equal(a, b)


def test_emu_with_H_fixed_lowers_the_divergence_faster_than_mu():
    """update_H=False (and so transform): only W moves, H is returned as given, and emu's
    divergence after 30 iterations is at most mu's."""
    X = _data(1, m=120, n=50, seed=2)
    model = NMF(4, solver="emu", beta_loss=1, random_state=0, max_iter=300).fit(X)
    H = model.components_
    W_emu, H_out, _ = non_negative_factorization(X, H=H.copy(), n_components=4,
                                                 update_H=False, solver="emu", beta_loss=1,
                                                 max_iter=30, tol=0)
    W_mu, _, _ = non_negative_factorization(X, H=H.copy(), n_components=4, update_H=False,
                                            solver="mu", beta_loss=1, max_iter=30, tol=0)
    np.testing.assert_array_equal(H_out, H)
    assert _beta_divergence(X, W_emu, H, 1) <= _beta_divergence(X, W_mu, H, 1)
    W_t = model.transform(X)
    assert W_t.shape == (120, 4) and (W_t >= 0).all() and np.isfinite(W_t).all()


def test_emu_refuses_the_frobenius_loss_and_missing_entries():
    X = _data(1)
    with pytest.raises(ValueError, match=r"beta_loss='frobenius'.*solver='emu'"):
        NMF(3, solver="emu").fit(X)
    Xn = X.copy()
    Xn[0, 0] = np.nan
    with pytest.raises(ValueError, match=r"solver='emu' does not fit missing entries"):
        NMF(3, solver="emu", beta_loss=1).fit(Xn)


def test_auto_kl_with_frozen_components_leaves_out_the_newton_cd():
    """The KL Newton cd does not take frozen components, so 'auto' chooses among the others
    there (whatever the cost model says without them), and the fit keeps them."""
    X = _data(1)
    for data in (X, sp.csr_matrix(X)):
        for k in (2, 4, 40):
            assert choose_solver(data, k, 1.0, frozen=True) in ("emu", "mu")
        W0, H0 = initialize(X, 4, "nndsvda", 0)
        frozen = NMF(4, beta_loss=1.0, init="custom", frozen_components=[0], max_iter=5)
        frozen.fit(data, W=W0.copy(), H=H0.copy())
        assert frozen.solver_ in ("emu", "mu")
        np.testing.assert_array_equal(frozen.components_[0], H0[0])


def test_auto_kl_fit_is_monotone():
    X = _data(1)
    model = NMF(4, beta_loss="kullback-leibler", random_state=0).fit(X)
    assert model.solver_ == choose_solver(X, 4, 1.0)
    assert (np.diff(model.loss_history_) <= 1e-10 * model.loss_history_[0]).all()


@pytest.mark.parametrize("beta", [1, 1.5, 0.5])
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
def test_emu_momentum_lowers_the_divergence_sooner(momentum, beta, sparse):
    """The momentum (default) against none, from the same start, the same iterations: a
    lower objective after 40 and after 100, both monotone."""
    X = counts(300, 200, r=6, density=0.5, seed=3) + (0.1 if beta < 1 else 0.0)
    Xi = sp.csr_matrix(X) if sparse else X
    W0, H0 = initialize(X, 6, "nndsvda", 0)
    ends, default = {}, B.EMU_MOMENTUM
    for mom in (default, 0.0):
        momentum(mom)
        for it in (40, 100):
            model = NMF(6, solver="emu", beta_loss=beta, init="custom", max_iter=it, tol=0)
            model.fit_transform(Xi, W=W0.copy(), H=H0.copy())
            h = model.loss_history_
            assert model.n_iter_ == it and (np.diff(h) <= 1e-10 * h[0]).all()
            ends[mom, it] = h[-1]
    assert ends[default, 40] < ends[0.0, 40]
    assert ends[default, 100] < ends[0.0, 100]
