"""Every kernel of every compiled backend against the NumPy reference."""

import inspect

import numpy as np
import pytest

from fastnmf._backends import BACKENDS, backend_status, get_backend
from fastnmf._kernels import KERNELS
from fastnmf._kernels import reference as ref

from ..conftest import rtol_for

SHAPES = [(1, 1), (7, 1), (50, 3), (130, 8), (200, 17), (97, 32)]  # k = 1 .. 32, partial row blocks


def _H(Ht):
    """H (k x n, C-contiguous) from its transpose."""
    return np.ascontiguousarray(Ht.T)


def problem(m, k, dtype, seed=0, zero_rows=True, zero_diag=False):
    rng = np.random.default_rng(seed)
    n = 40
    H = rng.random((k, n))
    X = rng.random((m, n))
    W = rng.random((m, k))
    if zero_rows and m > 3:
        W[2] = 0.0       # an all-zero row of W
        X[3] = 0.0       # an all-zero row of X
    if k > 1:
        W[:, 0] *= rng.random(m) > 0.5   # zeros scattered through a column
    HHt = H @ H.T
    if zero_diag and k > 1:
        HHt[1, :] = 0.0
        HHt[:, 1] = 0.0  # a dead component: zero Hessian
    XHt = X @ H.T
    cast = lambda a: np.ascontiguousarray(a, dtype=dtype)
    return cast(X), cast(W), cast(H.T), cast(HHt), cast(XHt)


@pytest.mark.parametrize("m,k", SHAPES)
@pytest.mark.parametrize("l1,l2", [(0.0, 0.0), (0.5, 0.0), (0.0, 2.0), (0.3, 1.5)])
@pytest.mark.parametrize("zero_diag", [False, True])
def test_hals_sweep_matches_reference(compiled_backend, dtype, m, k, l1, l2, zero_diag):
    kern = get_backend(compiled_backend)
    X, W, Ht, HHt, XHt = problem(m, k, dtype, zero_diag=zero_diag)
    perm = np.random.default_rng(1).permutation(k).astype(np.intp)
    W_ref, W_got = W.copy(), W.copy()
    v_ref = ref.hals_sweep(W_ref, HHt, XHt, l1, l2, perm, 1)
    v_got = kern.hals_sweep(W_got, HHt, XHt, l1, l2, perm, 2)
    assert W_got.dtype == dtype
    assert isinstance(v_got, float)
    np.testing.assert_allclose(W_got, W_ref, rtol=rtol_for(dtype), atol=rtol_for(dtype) * np.abs(W_ref).max())
    np.testing.assert_allclose(v_got, v_ref, rtol=rtol_for(dtype) * 10)
    assert (W_got >= 0).all()
    if zero_diag and k > 1 and l2 == 0:  # zero Hessian: the coordinate is left alone
        np.testing.assert_array_equal(W_got[:, 1], W[:, 1])


@pytest.mark.parametrize("m,k", SHAPES)
@pytest.mark.parametrize("l1,l2", [(0.0, 0.0), (0.3, 1.5)])
def test_mu_update_matches_reference(compiled_backend, dtype, m, k, l1, l2):
    kern = get_backend(compiled_backend)
    X, W, Ht, HHt, XHt = problem(m, k, dtype)
    W_ref, W_got = W.copy(), W.copy()
    assert ref.mu_update(W_ref, HHt, XHt, l1, l2, 1) is None
    kern.mu_update(W_got, HHt, XHt, l1, l2, 2)
    assert W_got.dtype == dtype
    np.testing.assert_allclose(W_got, W_ref, rtol=rtol_for(dtype), atol=rtol_for(dtype) * np.abs(W_ref).max())


def test_mu_update_zero_denominator(compiled_backend, dtype):
    """A zero row of W with no regularization has a zero denominator: guarded, no NaN."""
    kern = get_backend(compiled_backend)
    X, W, Ht, HHt, XHt = problem(20, 4, dtype)
    W[5] = 0.0
    kern.mu_update(W, HHt, XHt, 0.0, 0.0, 2)
    assert np.isfinite(W).all()
    assert (W[5] == 0).all()


@pytest.mark.parametrize("m,k", SHAPES)
def test_squared_residual_matches_reference(compiled_backend, dtype, m, k):
    kern = get_backend(compiled_backend)
    X, W, Ht, HHt, XHt = problem(m, k, dtype)
    expected = ref.squared_residual(X, W, _H(Ht), 1)
    direct = float(((X.astype(np.float64) - W.astype(np.float64) @ Ht.T.astype(np.float64)) ** 2).sum())
    got = kern.squared_residual(X, W, _H(Ht), 2)
    assert isinstance(got, float)
    np.testing.assert_allclose(got, expected, rtol=rtol_for(dtype))
    np.testing.assert_allclose(expected, direct, rtol=1e-10 if dtype == np.float64 else 1e-4)


def test_squared_residual_exact_fit_is_zero(compiled_backend):
    kern = get_backend(compiled_backend)
    rng = np.random.default_rng(0)
    W, Ht = rng.integers(0, 4, (30, 3)).astype(float), rng.integers(0, 4, (20, 3)).astype(float)
    X = W @ Ht.T  # small integers: exact in float64
    assert kern.squared_residual(X, W, _H(Ht), 2) == 0.0


@pytest.mark.parametrize("kernel", ["hals", "mu", "loss"])
def test_result_independent_of_thread_count(compiled_backend, dtype, kernel):
    kern = get_backend(compiled_backend)
    X, W, Ht, HHt, XHt = problem(1000, 12, dtype, seed=5)
    perm = np.arange(12, dtype=np.intp)
    outs = []
    for nt in (1, 2, 3):
        Wc = W.copy()
        if kernel == "hals":
            v = kern.hals_sweep(Wc, HHt, XHt, 0.1, 0.1, perm, nt)
        elif kernel == "mu":
            v = kern.mu_update(Wc, HHt, XHt, 0.1, 0.1, nt)
        else:
            v = kern.squared_residual(X, Wc, _H(Ht), nt)
        outs.append((Wc, v))
    for Wc, v in outs[1:]:
        np.testing.assert_array_equal(Wc, outs[0][0])
        assert v == outs[0][1]


def test_read_only_inputs(compiled_backend, dtype):
    kern = get_backend(compiled_backend)
    X, W, Ht, HHt, XHt = problem(60, 5, dtype)
    H = _H(Ht)
    for a in (X, Ht, H, HHt, XHt):
        a.flags.writeable = False
    perm = np.arange(5, dtype=np.intp)
    perm.flags.writeable = False
    W1 = W.copy()
    kern.hals_sweep(W1, HHt, XHt, 0.0, 0.0, perm, 1)
    kern.mu_update(W.copy(), HHt, XHt, 0.0, 0.0, 1)
    kern.squared_residual(X, W, H, 1)
    W2 = W.copy()
    ref.hals_sweep(W2, HHt, XHt, 0.0, 0.0, perm, 1)
    np.testing.assert_allclose(W1, W2, rtol=rtol_for(dtype))


def test_every_backend_exports_the_contract_with_identical_signatures():
    expected = {name: list(inspect.signature(getattr(ref, name)).parameters) for name in KERNELS}
    for name in BACKENDS:
        if backend_status()[name] is not None:
            continue  # availability is tested in test_backends
        module = get_backend(name)
        assert sorted(getattr(module, "__all__", KERNELS)) == sorted(KERNELS)
        for kernel in KERNELS:
            params = list(inspect.signature(getattr(module, kernel)).parameters)
            assert params == expected[kernel], (name, kernel, params)


# ---------------------------------------------------------------- property-based
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(m=st.integers(1, 140), k=st.integers(1, 20), seed=st.integers(0, 2**16),
       l1=st.sampled_from([0.0, 0.7]), l2=st.sampled_from([0.0, 1.3]),
       sparsity=st.floats(0.0, 0.9), use32=st.booleans())
def test_kernels_match_reference_on_random_problems(compiled_backend, m, k, seed, l1, l2, sparsity, use32):
    dtype = np.float32 if use32 else np.float64
    kern = get_backend(compiled_backend)
    rng = np.random.default_rng(seed)
    W = rng.random((m, k)) * (rng.random((m, k)) > sparsity)
    H = rng.random((k, 30)) * (rng.random((k, 30)) > sparsity)
    X = rng.random((m, 30))
    cast = lambda a: np.ascontiguousarray(a, dtype=dtype)
    X, W, Ht = cast(X), cast(W), cast(H.T)
    HHt, XHt = cast(H @ H.T), cast(X @ Ht)
    perm = rng.permutation(k).astype(np.intp)
    tol = rtol_for(dtype)
    for name in ("hals", "mu"):
        A, B = W.copy(), W.copy()
        if name == "hals":
            va = ref.hals_sweep(A, HHt, XHt, l1, l2, perm, 1)
            vb = kern.hals_sweep(B, HHt, XHt, l1, l2, perm, 2)
            np.testing.assert_allclose(vb, va, rtol=10 * tol, atol=tol)
        else:
            ref.mu_update(A, HHt, XHt, l1, l2, 1)
            kern.mu_update(B, HHt, XHt, l1, l2, 2)
        np.testing.assert_allclose(B, A, rtol=tol, atol=tol * max(1.0, np.abs(A).max()))
    np.testing.assert_allclose(kern.squared_residual(X, W, _H(Ht), 2), ref.squared_residual(X, W, _H(Ht), 1), rtol=tol)


@pytest.mark.parametrize("m,k", SHAPES)
@pytest.mark.parametrize("beta", [0.0, 0.37, 1.0])
def test_extrapolate_matches_reference(compiled_backend, dtype, m, k, beta):
    kern = get_backend(compiled_backend)
    rng = np.random.default_rng(m * k)
    F = rng.random((m, k)).astype(dtype)
    P = (F + rng.normal(0, 0.5, (m, k))).astype(dtype)  # some steps go negative
    F[0, 0] = np.nan
    expect_F = np.maximum(F + dtype(beta) * (F - P), 0)  # NaN propagates
    expect_F[0, 0] = np.nan
    F_ref, P_ref = F.copy(), P.copy()
    ref.extrapolate(F_ref, P_ref, beta, 1)
    np.testing.assert_array_equal(F_ref, expect_F)
    np.testing.assert_array_equal(P_ref, F)  # the point extrapolated from
    for nt in (1, 2, 3):
        F_got, P_got = F.copy(), P.copy()
        assert kern.extrapolate(F_got, P_got, beta, nt) is None
        assert F_got.dtype == dtype and P_got.dtype == dtype
        np.testing.assert_array_equal(F_got, F_ref)  # elementwise: bit for bit
        np.testing.assert_array_equal(P_got, P_ref)
        assert (F_got[1:] >= 0).all()


# 1, 3 and 64 chunks; k = 10, 13, 20, 29: the 16-, 8- and 4-column groups and the single columns
@pytest.mark.parametrize("m,k", SHAPES + [(0, 4), (5000, 5), (140000, 3), (3000, 10), (700, 13),
                                         (2100, 20), (130, 29)])
def test_gram_matches_reference(compiled_backend, dtype, m, k):
    kern = get_backend(compiled_backend)
    rng = np.random.default_rng(m + k)
    F = rng.random((m, k)).astype(dtype)
    if m > 3:
        F[:, 0] *= rng.random(m) > 0.5  # zeros, as in a sparse factor
        F[3] = 0.0
    F0 = F.copy()
    exact = F.astype(np.float64).T @ F.astype(np.float64)
    want = np.empty((k, k), dtype=dtype)
    ref.gram(F, want, 1)
    tol = rtol_for(dtype)
    np.testing.assert_allclose(want, exact, rtol=tol, atol=tol * max(1.0, np.abs(exact).max()))
    results = []
    for nt in (1, 2, 3):
        out = np.full((k, k), np.nan, dtype=dtype)
        assert kern.gram(F, out, nt) is None
        assert out.dtype == dtype
        np.testing.assert_array_equal(out, out.T)  # exactly symmetric
        np.testing.assert_allclose(out, want, rtol=tol, atol=tol * max(1.0, np.abs(exact).max()))
        results.append(out)
    for out in results[1:]:  # the same chunks whatever the thread count
        np.testing.assert_array_equal(out, results[0])
    np.testing.assert_array_equal(F, F0)


@pytest.mark.parametrize("m,k", [(97, 32), (5000, 5), (3000, 37), (3000, 10), (2100, 20)])
def test_gram_compiled_backends_agree_bitwise(dtype, m, k):
    """Both compiled backends sum every entry over the rows of a chunk in order, then the
    chunks in order: the same numbers, bit for bit."""
    status = backend_status()
    kernels = [get_backend(b) for b in ("cython", "numba") if status[b] is None]
    if len(kernels) < 2:
        pytest.skip("needs both compiled backends")
    F = np.random.default_rng(k).random((m, k)).astype(dtype)
    outs = []
    for kern in kernels:
        out = np.empty((k, k), dtype=dtype)
        kern.gram(F, out, 2)
        outs.append(out)
    np.testing.assert_array_equal(outs[0], outs[1])


@pytest.mark.parametrize("m,k", SHAPES + [(0, 3), (300, 7)])
@pytest.mark.parametrize("l1,l2", [(0.0, 0.0), (0.3, 1.5)])
def test_hals_sweep_blocks_is_hals_sweep_with_its_sums_per_block(compiled_backend, dtype, m, k, l1, l2):
    kern = get_backend(compiled_backend)
    X, W, Ht, HHt, XHt = problem(m, k, dtype, zero_diag=True)
    perm = np.random.default_rng(2).permutation(k).astype(np.intp)
    n_blocks = -(-m // 64)
    W_one = W.copy()
    v_one = kern.hals_sweep(W_one, HHt, XHt, l1, l2, perm, 1)
    for nt in (1, 2):
        W_got = W.copy()
        viol, change = np.full(n_blocks, np.nan), np.full(n_blocks, np.nan)
        assert kern.hals_sweep_blocks(W_got, HHt, XHt, l1, l2, perm, viol, change, nt) is None
        np.testing.assert_array_equal(W_got, W_one)            # the same sweep
        assert sum(viol.tolist()) == v_one                       # its sum, in block order
        d = (W_got - W).astype(np.float64)
        for b in range(n_blocks):                                # ||change||^2 per block
            rows = slice(64 * b, 64 * (b + 1))
            np.testing.assert_allclose(change[b], np.sum(d[rows] ** 2), rtol=1e-12, atol=1e-300)
    W_ref = W.copy()
    rv, rc = np.empty(n_blocks), np.empty(n_blocks)
    ref.hals_sweep_blocks(W_ref, HHt, XHt, l1, l2, perm, rv, rc, 1)
    tol = rtol_for(dtype)
    np.testing.assert_allclose(viol, rv, rtol=10 * tol, atol=tol)
    np.testing.assert_allclose(W_got, W_ref, rtol=tol, atol=tol * max(1.0, np.abs(W_ref).max(initial=0)))
    with pytest.raises(ValueError, match="entries"):
        kern.hals_sweep_blocks(W.copy(), HHt, XHt, l1, l2, perm, np.empty(n_blocks + 1), np.empty(n_blocks + 1), 1)


@pytest.mark.parametrize("m,k,budget", [(1, 3, 5), (200, 16, 21), (700, 9, 40), (130, 4, 1),
                                        (0, 3, 4), (50, 0, 3)])
@pytest.mark.parametrize("l1,l2", [(0.0, 0.0), (0.2, 0.7)])
def test_hals_sweeps_is_the_loop_around_hals_sweep_blocks(backend, dtype, m, k, budget, l1, l2):
    """``hals_sweeps`` (one call) against the inner loop written out around
    ``hals_sweep_blocks`` (fastnmf._kernels.run_hals_sweeps), with the same backend: the same
    W and the same returned violation, bit for bit; HHt, XHt and perm untouched."""
    from fastnmf._kernels import n_row_blocks, run_hals_sweeps

    kern = get_backend(backend)
    rng = np.random.default_rng(m + 7 * k)
    H = rng.random((max(k, 1), 60))[:k].astype(dtype)
    W0 = rng.random((m, k)).astype(dtype)
    HHt = np.ascontiguousarray(H @ H.T)
    XHt = np.ascontiguousarray((rng.random((m, k)) @ HHt + 0.1 * rng.random((m, k))).astype(dtype))
    perm = rng.permutation(k).astype(np.intp)
    saved = HHt.copy(), XHt.copy(), perm.copy()
    nb = n_row_blocks(m)
    for eps in (0.1, 0.0):  # 0.0: never stops early, every sweep runs
        W_one, W_loop = W0.copy(), W0.copy()
        v, c = np.empty(nb), np.empty(nb)
        got = kern.hals_sweeps(W_one, HHt, XHt, l1, l2, perm, budget, eps, v, c, 2)
        v2, c2 = np.empty(nb), np.empty(nb)
        calls = []

        def sweep():
            calls.append(1)
            kern.hals_sweep_blocks(W_loop, HHt, XHt, l1, l2, perm, v2, c2, 2)

        want = run_hals_sweeps(sweep, budget, eps, v2, c2)
        assert isinstance(got, float) and got == want
        np.testing.assert_array_equal(W_one, W_loop)
        assert W_one.dtype == dtype
        if m and k and eps == 0.0:
            assert len(calls) == budget
    for a, b in zip(saved, (HHt, XHt, perm)):
        np.testing.assert_array_equal(a, b)


def test_hals_sweeps_rejects_bad_scratch_and_budget(backend):
    kern = get_backend(backend)
    W = np.ones((70, 3))
    G, C, perm = np.eye(3), np.ones((70, 3)), np.arange(3, dtype=np.intp)
    with pytest.raises(ValueError, match="viol_out and change_out need 2 entries"):
        kern.hals_sweeps(W, G, C, 0.0, 0.0, perm, 3, 0.1, np.empty(1), np.empty(2), 1)
    with pytest.raises(ValueError, match="budget must be >= 1; got 0"):
        kern.hals_sweeps(W, G, C, 0.0, 0.0, perm, 0, 0.1, np.empty(2), np.empty(2), 1)


@pytest.mark.parametrize("rows", [100, 20000])  # one chunk (a single kernel call); split
def test_pooled_hals_sweeps_equals_plain(rows):
    from fastnmf._kernels import n_row_blocks
    from fastnmf.parallel.pool import PooledKernels, RowThreads

    kern = get_backend("cython" if backend_status()["cython"] is None else "numpy")
    rng = np.random.default_rng(rows)
    k = 12
    H = rng.random((k, 80))
    HHt = H @ H.T
    XHt = rng.random((rows, k)) @ HHt
    W0 = rng.random((rows, k))
    perm = np.arange(k, dtype=np.intp)
    nb = n_row_blocks(rows)
    pool = RowThreads(2)
    try:
        outs = []
        for kr in (kern, PooledKernels(kern, pool)):
            W = W0.copy()
            viol = kr.hals_sweeps(W, HHt, XHt, 0.0, 0.0, perm, 9, 0.1, np.empty(nb),
                                  np.empty(nb), 1)
            outs.append((W, viol))
    finally:
        pool.close()
    np.testing.assert_array_equal(outs[0][0], outs[1][0])
    assert outs[0][1] == outs[1][1]


# ---------------------------------------------------------------- fused dense pass
@pytest.mark.parametrize("m,n,k", [(1, 1, 1), (7, 3, 1), (50, 40, 3), (130, 17, 8),
                                   (1000, 60, 12), (2100, 33, 32)])
@pytest.mark.parametrize("l1,l2", [(0.0, 0.0), (0.3, 1.5)])
def test_hals_pass_dense_is_the_sweep_and_the_two_products(backend, dtype, m, n, k, l1, l2):
    """The fused pass against its definition: the sweep on X @ Ht, then X^T W and W^T W of
    the new W (several parts of blocks at the larger shapes, a partial last block)."""
    kern = get_backend(backend)
    rng = np.random.default_rng(m + n + k)
    X = rng.random((m, n)).astype(dtype)
    if m > 3:
        X[3] = 0.0
    W = rng.random((m, k)).astype(dtype)
    Ht = rng.random((n, k)).astype(dtype)
    HHt = np.ascontiguousarray(Ht.T @ Ht)
    perm = rng.permutation(k).astype(np.intp)
    W_ref = W.copy()
    v_ref = ref.hals_sweep(W_ref, HHt, X @ Ht, l1, l2, perm, 1)
    W_got, XtW, WtW = W.copy(), np.full((n, k), np.nan, dtype), np.full((k, k), np.nan, dtype)
    X0 = X.copy()
    v_got = kern.hals_pass_dense(X, Ht, HHt, W_got, l1, l2, perm, XtW, WtW, 2)
    tol = rtol_for(dtype)
    assert isinstance(v_got, float) and XtW.dtype == dtype and W_got.dtype == dtype
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_allclose(W_got, W_ref, rtol=tol, atol=tol * np.abs(W_ref).max())
    np.testing.assert_allclose(v_got, v_ref, rtol=tol * 10)
    np.testing.assert_allclose(XtW, X.T.astype(np.float64) @ W_got, rtol=tol * 10,
                               atol=tol * 10 * np.abs(XtW).max())
    np.testing.assert_allclose(WtW, W_got.T.astype(np.float64) @ W_got, rtol=tol * 10,
                               atol=tol * 10 * np.abs(WtW).max())


def test_hals_pass_dense_does_not_depend_on_the_thread_count(compiled_backend, dtype):
    from fastnmf._kernels import pass_parts

    kern = get_backend(compiled_backend)
    rng = np.random.default_rng(3)
    m, n, k = 3000, 70, 9
    assert pass_parts(m, k) > 2  # several parts, so the threads share them
    X, W, Ht = (rng.random(s).astype(dtype) for s in ((m, n), (m, k), (n, k)))
    HHt = np.ascontiguousarray(Ht.T @ Ht)
    perm = np.arange(k, dtype=np.intp)
    outs = []
    for nt in (1, 2, 3):
        Wc, XtW, WtW = W.copy(), np.empty((n, k), dtype), np.empty((k, k), dtype)
        v = kern.hals_pass_dense(X, Ht, HHt, Wc, 0.1, 0.1, perm, XtW, WtW, nt)
        outs.append((Wc, XtW, WtW, v))
    for got in outs[1:]:
        for a, b in zip(got[:3], outs[0][:3]):
            np.testing.assert_array_equal(a, b)
        assert got[3] == outs[0][3]


def test_hals_pass_dense_rejects_mismatched_outputs(backend):
    kern = get_backend(backend)
    X, W, Ht = np.ones((10, 4)), np.ones((10, 2)), np.ones((4, 2))
    perm = np.arange(2, dtype=np.intp)
    with pytest.raises(ValueError, match="XtW"):
        kern.hals_pass_dense(X, Ht, Ht.T @ Ht, W, 0.0, 0.0, perm, np.empty((3, 2)),
                             np.empty((2, 2)), 1)
