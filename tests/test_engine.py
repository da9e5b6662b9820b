"""fastnmf.engine: the solvers on given W and H, their pieces, the kernels, the table."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from fastnmf import NMF, engine
from fastnmf._kernels import KERNELS
from fastnmf._kernels import reference as ref


def _data(m=40, n=30, k=4, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = (rng.random((m, k)) @ rng.random((k, n)) + 0.01 * rng.random((m, n))).astype(dtype)
    return X, rng.random((m, k)).astype(dtype), rng.random((k, n)).astype(dtype)


@pytest.mark.parametrize("solver,beta", [("cd", "frobenius"), ("hals", "frobenius"),
                                         ("mu", "frobenius"), ("als", "frobenius"),
                                         ("mu", "kullback-leibler"), ("cd", "kullback-leibler"),
                                         ("emu", 1.5)])
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
def test_solve_is_the_estimators_fit_from_the_same_start(solver, beta, sparse):
    X, W0, H0 = _data()
    Xs = sp.csr_matrix(X) if sparse else X
    W0c, H0c = W0.copy(), H0.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sol = engine.solve(Xs, W0, H0, solver=solver, beta_loss=beta, max_iter=40)
        est = NMF(4, init="custom", solver=solver, beta_loss=beta, max_iter=40, alpha_W=0.0)
        W = est.fit_transform(Xs, W=W0, H=H0)
    np.testing.assert_array_equal(sol.W, W)
    np.testing.assert_array_equal(sol.H, est.components_)
    assert sol.n_iter == est.n_iter_ and sol.solver == solver
    np.testing.assert_array_equal(sol.loss_history, est.loss_history_)
    assert sol.error == pytest.approx(est.reconstruction_err_)
    np.testing.assert_array_equal(W0, W0c)  # the caller's arrays are not modified
    np.testing.assert_array_equal(H0, H0c)


def test_solve_keeps_float32_and_fits_missing_entries():
    X, W0, H0 = _data(dtype=np.float32)
    true = float(X[3, 4])
    X[3, 4] = np.nan
    sol = engine.solve(X, W0, H0, max_iter=2000)
    assert sol.W.dtype == np.float32 and sol.H.dtype == np.float32
    assert sol.converged and np.isfinite(sol.error)
    # low rank plus 1% noise: the unknown entry is predicted from the others
    assert abs((sol.W @ sol.H)[3, 4] - true) < 0.05 * true


def test_solve_with_fixed_H_solves_for_W():
    X, W0, H0 = _data()
    sol = engine.solve(X, None, H0, update_H=False, solver="cd", max_iter=500, tol=1e-8)
    np.testing.assert_array_equal(sol.H, H0)
    # W is the NNLS solution for the fixed H: the gradient vanishes where W > 0
    G = sol.W @ (H0 @ H0.T) - X @ H0.T
    assert np.abs(G[sol.W > 1e-8]).max() < 1e-5 * np.abs(X @ H0.T).max()


def test_solve_errors_name_the_parameter():
    X, W0, H0 = _data()
    with pytest.raises(ValueError, match="solver must be one of"):
        engine.solve(X, W0, H0, solver="fast")
    with pytest.raises(ValueError, match=r"W must have shape \(40, 4\)"):
        engine.solve(X, W0[:10], H0)
    with pytest.raises(ValueError, match="H must be a 2-D array"):
        engine.solve(X, W0, H0[0])
    with pytest.raises(ValueError, match="W must be given"):
        engine.solve(X, None, H0)
    with pytest.raises(ValueError, match="non-negative"):
        engine.solve(-X, W0, H0)


def test_the_pieces_of_solve_reproduce_it():
    X, W0, H0 = _data()
    sol = engine.solve(X, W0, H0, solver="hals", max_iter=25, tol=0)
    data = engine.as_data(X, backend="auto")
    W, Ht = W0.copy(), np.ascontiguousarray(H0.T)
    rule = engine.make_rule("hals", data, W, Ht)
    result = engine.run(rule, W, Ht, max_iter=25, tol=0)
    np.testing.assert_array_equal(W, sol.W)
    np.testing.assert_array_equal(Ht.T, sol.H)
    assert result.n_iter == 25
    with pytest.raises(ValueError, match="W must be a C-contiguous float64 array"):
        engine.make_rule("hals", data, W.astype(np.float32), Ht)
    with pytest.raises(ValueError, match="solver must be one of"):
        engine.make_rule("auto", data, W, Ht)


def test_kernels_and_capabilities():
    kern = engine.kernels("auto")
    for name in KERNELS:
        assert callable(getattr(kern, name))
    assert engine.KERNELS == KERNELS
    X, W0, H0 = _data()
    HHt, XHt = H0 @ H0.T, X @ H0.T
    perm = np.arange(4, dtype=np.intp)
    W1, W2 = W0.copy(), W0.copy()
    v1 = kern.hals_sweep(W1, HHt, XHt, 0.0, 0.0, perm, 1)
    v2 = ref.hals_sweep(W2, HHt, XHt, 0.0, 0.0, perm, 1)
    np.testing.assert_allclose(W1, W2, rtol=1e-10)
    assert v1 == pytest.approx(v2, rel=1e-10)
    caps = engine.capabilities()
    assert {c["solver"] for c in caps} == {"cd", "hals", "ehals", "pgd", "als", "mu", "emu"}
    kl_cd = [c for c in caps if c["solver"] == "cd" and "kl" in c["losses"]
             and "complete" in c["kinds"]]
    assert kl_cd and not kl_cd[0]["frozen"]
    with pytest.raises(ValueError, match="backend"):
        engine.kernels("fortran")
