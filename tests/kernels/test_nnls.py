"""nnls_bpp (block principal pivoting NNLS) of every backend against scipy.optimize.nnls."""

import functools

import numpy as np
import pytest
from scipy.optimize import nnls as scipy_nnls

from fastnmf._backends import get_backend
from fastnmf._kernels import reference as ref

from ..conftest import _use

KS = [1, 2, 7, 32, 64]


def _rows(backend, m):
    """Fewer rows for the slow NumPy reference."""
    return m if backend != "numpy" else min(m, 40)


def _design(m, k, seed, kind="uniform"):
    """A (n x k), B (m x n): the rows of B are the right-hand sides."""
    rng = np.random.default_rng(seed)
    n = 2 * k + 10
    if kind == "uniform":  # NMF-like: non-negative, correlated columns
        A, B = rng.random((n, k)), rng.random((m, n))
    else:
        A, B = rng.standard_normal((n, k)), rng.standard_normal((m, n))
    return A, B


@functools.lru_cache(maxsize=None)
def _scipy_solution(m, k, seed, kind):
    A, B = _design(m, k, seed, kind)
    return np.array([scipy_nnls(A, b)[0] for b in B])


def _scipy_rows(A, B):
    return np.array([scipy_nnls(A, b, maxiter=50 * A.shape[1])[0] for b in B])


def _cast(dtype, *arrays):
    return [np.ascontiguousarray(a, dtype=dtype) for a in arrays]


def _objective(G, C, X):
    """Row objectives 0.5 x^T G x - c @ x in float64."""
    G, C, X = (np.asarray(a, dtype=np.float64) for a in (G, C, X))
    return 0.5 * np.einsum("ij,jk,ik->i", X, G, X) - np.einsum("ij,ij->i", C, X)


def _residual_scale(B):
    return 0.5 * np.einsum("ij,ij->i", B, B)  # the objective of x = 0 is 0, of the LS fit >= -this


def _obj_rtol(dtype):
    return 1e-10 if dtype == np.float64 else 1e-5


def _kkt_tol(dtype):
    return 1e-8 if dtype == np.float64 else 1e-5


def assert_kkt(G, C, X, dtype):
    """x >= 0, grad >= -tol * scale, |grad| <= tol * scale where x > 0 (the problem as given)."""
    G, C, X = (np.asarray(a, dtype=np.float64) for a in (G, C, X))
    assert np.isfinite(X).all()
    assert (X >= 0).all()
    grad = X @ G - C  # G symmetric
    scale = np.abs(C) + np.abs(X) @ np.abs(G) + 1e-300
    tol = _kkt_tol(dtype)
    assert (grad >= -tol * scale).all(), np.min(grad / scale)
    assert (np.abs(grad)[X > 0] <= tol * scale[X > 0]).all(), np.max(np.abs(grad)[X > 0] / scale[X > 0])


def assert_objective_matches(G, C, X, X_ref, B, dtype):
    f_got, f_ref = _objective(G, C, X), _objective(G, C, X_ref)
    np.testing.assert_array_less(np.abs(f_got - f_ref), _obj_rtol(dtype) * _residual_scale(B) + 1e-12)


def run(backend, G, C, X, max_iter=100, n_threads=2):
    kern = get_backend(backend)
    G0, C0 = G.copy(), C.copy()
    n_failed = kern.nnls_bpp(G, C, X, max_iter, n_threads)
    assert isinstance(n_failed, int)
    np.testing.assert_array_equal(G, G0)  # inputs are read only
    np.testing.assert_array_equal(C, C0)
    return n_failed


# ------------------------------------------------------------------ against scipy
@pytest.mark.parametrize("k", KS)
@pytest.mark.parametrize("kind", ["uniform", "gauss"])
def test_cold_start_matches_scipy(backend, dtype, k, kind):
    m = _rows(backend, 150)
    A, B = _design(m, k, seed=k, kind=kind)
    X_ref = _scipy_solution(m, k, k, kind)
    G, C = _cast(dtype, A.T @ A, B @ A)
    X = np.zeros((m, k), dtype=dtype)
    assert run(backend, G, C, X) == 0
    assert X.dtype == dtype
    assert_kkt(G, C, X, dtype)
    assert_objective_matches(A.T @ A, B @ A, X, X_ref, B, dtype)
    if dtype == np.float64:
        np.testing.assert_allclose(X, X_ref, rtol=1e-7, atol=1e-9 * np.abs(X_ref).max())
    else:
        np.testing.assert_allclose(X, X_ref, rtol=0, atol=1e-3 * np.abs(X_ref).max())


@pytest.mark.parametrize("k", [7, 32])
@pytest.mark.parametrize("warm", ["random", "positive", "exact"])
def test_warm_start_matches_scipy(backend, dtype, k, warm):
    m = _rows(backend, 120)
    A, B = _design(m, k, seed=100 + k, kind="gauss")
    X_ref = _scipy_solution(m, k, 100 + k, "gauss")
    G, C = _cast(dtype, A.T @ A, B @ A)
    rng = np.random.default_rng(k)
    if warm == "random":
        X0 = rng.random((m, k)) * (rng.random((m, k)) < 0.5)
    elif warm == "positive":
        X0 = rng.random((m, k)) + 0.1
    else:
        X0 = X_ref
    X = np.ascontiguousarray(X0, dtype=dtype)
    # the exact solution as warm start: its passive set is optimal, no exchange needed
    max_iter = 0 if warm == "exact" and dtype == np.float64 else 100
    assert run(backend, G, C, X, max_iter=max_iter) == 0
    assert_kkt(G, C, X, dtype)
    assert_objective_matches(A.T @ A, B @ A, X, X_ref, B, dtype)
    if dtype == np.float64:
        np.testing.assert_allclose(X, X_ref, rtol=1e-7, atol=1e-9 * np.abs(X_ref).max())


@pytest.mark.parametrize("k", [7, 32])
@pytest.mark.parametrize("case", ["zero", "duplicate", "both"])
@pytest.mark.parametrize("warm", [False, True])
def test_rank_deficient_gram(backend, dtype, k, case, warm):
    """A zero component (G[t, t] == 0) and/or a duplicated one: no NaN, the optimal objective."""
    m = _rows(backend, 100)
    A, B = _design(m, k, seed=7 * k, kind="uniform" if case == "zero" else "gauss")
    if case in ("zero", "both"):
        A[:, 2] = 0.0
    if case in ("duplicate", "both"):
        A[:, 4] = A[:, 1]
    X_ref = _scipy_rows(A, B)
    G, C = _cast(dtype, A.T @ A, B @ A)
    X = np.zeros((m, k), dtype=dtype) if not warm else (np.random.default_rng(1).random((m, k)) + 0.1).astype(dtype)
    assert run(backend, G, C, X) == 0
    assert_kkt(G, C, X, dtype)
    assert_objective_matches(A.T @ A, B @ A, X, X_ref, B, dtype)
    if case in ("zero", "both"):
        assert (X[:, 2] == 0).all()  # pinned (warm) or never entering (cold)
    if case in ("duplicate", "both"):
        # only the sum of the twins is determined
        s, s_ref = X[:, 1].astype(np.float64) + X[:, 4], X_ref[:, 1] + X_ref[:, 4]
        tol = 1e-7 if dtype == np.float64 else 1e-3
        np.testing.assert_allclose(s, s_ref, rtol=tol, atol=tol * np.abs(s_ref).max())


def test_rank_deficient_duplicate_is_pinned(backend):
    """Both twins passive: the later one is pinned to 0 and the earlier carries the sum."""
    A = np.array([[1.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 1.0, 1.0]])
    b = np.array([[2.0, 1.0, 3.0]])
    G, C = A.T @ A, b @ A
    X = np.ones((1, 3))
    assert run(backend, G, C, X, max_iter=0) == 0
    np.testing.assert_allclose(X, [[2.0, 0.0, 1.0]], rtol=1e-12)


@pytest.mark.parametrize("k", [1, 7, 32])
@pytest.mark.parametrize("warm", [False, True])
def test_nonpositive_c_gives_zero(backend, dtype, k, warm):
    rng = np.random.default_rng(k)
    m = 20
    A, _ = _design(m, k, seed=k, kind="uniform")
    C = -rng.random((m, k)) * (rng.random((m, k)) < 0.7)  # <= 0, some exact zeros
    C[0] = 0.0
    G, C = _cast(dtype, A.T @ A, C)
    X = (rng.random((m, k)) + 0.1).astype(dtype) if warm else np.zeros((m, k), dtype=dtype)
    assert run(backend, G, C, X) == 0
    assert (X == 0).all()
    assert not np.signbit(X).any()  # no -0.0


@pytest.mark.parametrize("k", [2, 7, 32])
def test_l2_ridge_matches_scipy(backend, dtype, k):
    """G + l2 I is min 0.5||A x - b||^2 + 0.5 l2 ||x||^2: scipy on [A; sqrt(l2) I], [b; 0]."""
    m, l2 = _rows(backend, 80), 3.0
    A, B = _design(m, k, seed=k + 1, kind="gauss")
    A_aug = np.vstack([A, np.sqrt(l2) * np.eye(k)])
    B_aug = np.hstack([B, np.zeros((m, k))])
    X_ref = _scipy_rows(A_aug, B_aug)
    G, C = _cast(dtype, A.T @ A + l2 * np.eye(k), B @ A)
    X = np.zeros((m, k), dtype=dtype)
    assert run(backend, G, C, X) == 0
    assert_kkt(G, C, X, dtype)
    assert_objective_matches(A_aug.T @ A_aug, B_aug @ A_aug, X, X_ref, B_aug, dtype)
    if dtype == np.float64:
        np.testing.assert_allclose(X, X_ref, rtol=1e-7, atol=1e-9 * np.abs(X_ref).max())


@pytest.mark.parametrize("k", [7, 32])
def test_l1_term_kkt(backend, dtype, k):
    """C - l1 (an L1 penalty): KKT of the shifted problem, equal to the reference."""
    m, l1 = _rows(backend, 80), 2.0
    A, B = _design(m, k, seed=k + 2, kind="uniform")
    G, C = _cast(dtype, A.T @ A + 0.5 * np.eye(k), B @ A - l1)
    X = np.zeros((m, k), dtype=dtype)
    assert run(backend, G, C, X) == 0
    assert_kkt(G, C, X, dtype)
    X_ref = np.zeros_like(X)
    assert ref.nnls_bpp(G, C, X_ref, 100, 1) == 0
    tol = 1e-9 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(X, X_ref, rtol=tol, atol=tol * np.abs(X_ref).max())


def test_large_k(backend):
    m, k = (12, 128) if backend != "numpy" else (3, 128)
    A, B = _design(m, k, seed=3, kind="gauss")
    X_ref = _scipy_rows(A, B)
    G, C = A.T @ A, B @ A
    X = np.zeros((m, k))
    assert run(backend, G, C, X, max_iter=500) == 0
    assert_kkt(G, C, X, np.float64)
    assert_objective_matches(G, C, X, X_ref, B, np.float64)


def _backup_problem(seed):
    """A small problem (random PD G with scaled columns, warm start) on which the full
    exchange stalls and the backup rule swaps single indices."""
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 8))
    M = rng.standard_normal((k, k))
    M = M @ np.diag(np.exp(2 * rng.standard_normal(k)))
    c = rng.standard_normal(k) * 3
    x0 = rng.random(k) * (rng.random(k) < 0.5)
    return M.T @ M, c, x0


# seed -> exchanges needed (full exchanges, backup full exchanges, then single ones)
BACKUP_CASES = {869: 6, 1020: 14, 1353: 6, 1811: 11}


@pytest.mark.parametrize("seed", sorted(BACKUP_CASES))
def test_backup_rule(backend, seed):
    """Every backend takes the same pivoting path: converged after exactly n exchanges."""
    G, c, x0 = _backup_problem(seed)
    n = BACKUP_CASES[seed]
    L = np.linalg.cholesky(G)  # G = A^T A with A = L^T, c = A^T b
    x_ref = scipy_nnls(L.T, np.linalg.solve(L, c))[0]
    for max_iter, failed in ((n - 1, 1), (n, 0), (100, 0)):
        X = x0[None].copy()
        assert run(backend, G, c[None].copy(), X, max_iter=max_iter) == failed
    assert_kkt(G, c[None], X, np.float64)
    f_got, f_ref = _objective(G, c[None], X)[0], _objective(G, c[None], x_ref[None])[0]
    assert abs(f_got - f_ref) <= 1e-10 * abs(f_ref)


# ---------------------------------------------------------- iteration limit
def test_max_iter_zero_cold_start(backend, dtype):
    """No exchange allowed: rows with some c_t > 0 fail and keep the warm start 0."""
    m, k = 30, 7
    A, B = _design(m, k, seed=0, kind="gauss")
    G, C = _cast(dtype, A.T @ A, B @ A)
    C[:5] = -np.abs(C[:5])  # these are solved by 0
    X = np.zeros((m, k), dtype=dtype)
    expected = int((C > 0).any(axis=1).sum())
    assert expected >= m - 10
    assert run(backend, G, C, X, max_iter=0) == expected
    assert (X == 0).all()


def test_not_converged_never_increases_the_objective(backend, dtype):
    m, k = _rows(backend, 200), 32
    A, B = _design(m, k, seed=11, kind="gauss")
    G, C = _cast(dtype, A.T @ A, B @ A)
    rng = np.random.default_rng(0)
    X0 = (rng.random((m, k)) * (rng.random((m, k)) < 0.5)).astype(dtype)
    f0 = _objective(G, C, X0)
    counts = []
    for max_iter in (0, 1, 2):
        X = X0.copy()
        counts.append(run(backend, G, C, X, max_iter=max_iter))
        assert (X >= 0).all()
        np.testing.assert_array_less(_objective(G, C, X), f0 + 1e-6 * _residual_scale(B))
    assert counts[0] > 0 and counts[0] >= counts[1] >= counts[2]
    X = X0.copy()
    assert run(backend, G, C, X) == 0


def test_not_converged_rows_match_reference(compiled_backend, dtype):
    """The fallback (better of the warm start and the clipped last iterate) as in the reference."""
    m, k = 100, 16
    A, B = _design(m, k, seed=12, kind="gauss")
    G, C = _cast(dtype, A.T @ A, B @ A)
    X0 = (np.random.default_rng(1).random((m, k)) + 0.05).astype(dtype)
    for max_iter in (0, 1, 3):
        X, X_ref = X0.copy(), X0.copy()
        n = run(compiled_backend, G, C, X, max_iter=max_iter)
        assert n == ref.nnls_bpp(G, C, X_ref, max_iter, 1)
        tol = 1e-9 if dtype == np.float64 else 1e-5
        np.testing.assert_allclose(X, X_ref, rtol=tol, atol=tol * np.abs(X_ref).max())


def test_empty(backend, dtype):
    kern = get_backend(backend)
    assert kern.nnls_bpp(np.zeros((3, 3), dtype), np.zeros((0, 3), dtype), np.zeros((0, 3), dtype), 10, 2) == 0
    assert kern.nnls_bpp(np.zeros((0, 0), dtype), np.zeros((4, 0), dtype), np.zeros((4, 0), dtype), 10, 2) == 0


# ------------------------------------------------------- determinism and twins
def _big_problem(dtype, seed=5, m=700, k=24):
    A, B = _design(m, k, seed=seed, kind="gauss")
    A[:, 3] = A[:, 0]  # with a pinned component too
    G, C = _cast(dtype, A.T @ A + 0.01 * np.eye(k) * (seed % 2), B @ A)
    X0 = (np.random.default_rng(seed).random((m, k)) * (np.random.default_rng(seed + 1).random((m, k)) < 0.4))
    return G, C, X0.astype(dtype)


@pytest.mark.parametrize("warm", [False, True])
def test_independent_of_thread_count(compiled_backend, dtype, warm):
    G, C, X0 = _big_problem(dtype)
    if not warm:
        X0[:] = 0
    outs = []
    for nt in (1, 2, 3):
        X = X0.copy()
        outs.append((run(compiled_backend, G, C, X, n_threads=nt), X))
    for n, X in outs[1:]:
        assert n == outs[0][0]
        np.testing.assert_array_equal(X, outs[0][1])


@pytest.mark.parametrize("seed", [5, 6])
def test_numba_and_cython_bitwise_equal(dtype, seed):
    """Both follow the same arithmetic in the same order: identical results."""
    cy, nb = get_backend(_use("cython")), get_backend(_use("numba"))
    G, C, X0 = _big_problem(dtype, seed=seed)
    for max_iter in (100, 1):
        Xc, Xn = X0.copy(), X0.copy()
        assert cy.nnls_bpp(G, C, Xc, max_iter, 2) == nb.nnls_bpp(G, C, Xn, max_iter, 2)
        np.testing.assert_array_equal(Xc, Xn)
    Xr = X0.copy()
    ref.nnls_bpp(G, C, Xr, 100, 1)
    Xc = X0.copy()
    cy.nnls_bpp(G, C, Xc, 100, 2)
    tol = 1e-9 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(Xc, Xr, rtol=tol, atol=tol * np.abs(Xr).max())


def test_read_only_inputs(backend, dtype):
    G, C, X0 = _big_problem(dtype, m=50, k=6)
    G.flags.writeable = False
    C.flags.writeable = False
    X = X0.copy()
    assert run(backend, G, C, X) == 0
    assert_kkt(G, C, X, dtype)
