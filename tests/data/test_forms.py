"""The data protocol (fastnmf.data): each form's operations against NumPy, and a form of
complete X written here, outside the package, that every Frobenius solver runs on
unchanged (what a chunked or Dask form will be)."""

import numpy as np
import pytest
import scipy.sparse as sp

from fastnmf import engine
from fastnmf._backends import get_backend
from fastnmf.data import DenseData, SparseData, as_data
from fastnmf.data.base import Data
from fastnmf.data.missing import from_dense, from_sparse

from ..conftest import rtol_for


def _problem(dtype, sparse, m=90, n=70, k=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.random((m, n)) * (rng.random((m, n)) < 0.3)
    W, Ht = rng.random((m, k)), rng.random((n, k))
    cast = lambda a: np.ascontiguousarray(a, dtype=dtype)
    Xf = sp.csr_matrix(X.astype(dtype)) if sparse else cast(X)
    return X, Xf, cast(W), cast(Ht)


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
def test_complete_forms_compute_what_numpy_does(backend, dtype, sparse):
    X, Xf, W, Ht = _problem(dtype, sparse)
    data = as_data(Xf, get_backend(backend), 2)
    assert isinstance(data, SparseData if sparse else DenseData)
    assert data.protocol == "complete" and data.kind == ("sparse" if sparse else "dense")
    tol = rtol_for(dtype) * 10
    X64, W64, H64 = X, W.astype(np.float64), Ht.astype(np.float64)
    np.testing.assert_allclose(data.norm2(), np.sum(X ** 2), rtol=tol)
    assert data.stored_entries() == np.count_nonzero(X)
    for got, want in ((data.x_times(Ht), X64 @ H64), (data.xt_times(W), X64.T @ W64),
                      (data.gram(W), W64.T @ W64)):
        assert got.dtype == dtype and got.flags.c_contiguous
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol * np.abs(want).max())
    np.testing.assert_allclose(data.reconstruction_error(W, Ht),
                               np.linalg.norm(X64 - W64 @ H64.T), rtol=tol)
    # the beta terms: the divergence by its definition (KL and beta = 1.5)
    WH = W64 @ H64.T
    pos = X > 0
    kl = np.sum(X[pos] * np.log(X[pos] / WH[pos])) - X.sum() + WH.sum()
    np.testing.assert_allclose(data.beta_terms().divergence(W, Ht, 1.0), kl, rtol=tol)
    b = 1.5
    d15 = np.sum(X ** b + (b - 1) * WH ** b - b * X * WH ** (b - 1)) / (b * (b - 1))
    np.testing.assert_allclose(data.beta_terms().divergence(W, Ht, b), d15, rtol=tol)
    np.testing.assert_allclose(data.x_sum(), X.sum(), rtol=tol)
    assert data.has_zeros()


def test_bind_shares_x_and_what_was_computed_but_not_the_kernels():
    X, Xf, W, Ht = _problem(np.float64, False)
    data = as_data(Xf, get_backend("numpy"), 1)
    data.norm2()
    other = data.bind(get_backend("numpy"), 3)
    assert other.X is data.X and other.n_threads == 3 and data.n_threads == 1
    assert "norm2" in other.cache


def test_observed_form_counts_and_terms():
    X, Xf, W, Ht = _problem(np.float64, True)
    obs = from_sparse(Xf).bind(get_backend("numpy"), 1)
    assert obs.protocol == "observed" and obs.n_missing == X.size - Xf.nnz
    rows, cols = obs.counts()
    np.testing.assert_array_equal(rows, np.count_nonzero(X, axis=1))
    np.testing.assert_array_equal(cols, np.count_nonzero(X, axis=0))
    num, den, loss = obs.mu_terms(0, W, Ht, 2.0)
    mask = X != 0
    R = np.where(mask, W @ Ht.T, 0.0)
    np.testing.assert_allclose(num, X @ Ht, rtol=1e-12)
    np.testing.assert_allclose(den, R @ Ht, rtol=1e-12)
    np.testing.assert_allclose(loss, 0.5 * np.sum((X - W @ Ht.T)[mask] ** 2), rtol=1e-10)
    dense_obs = from_dense(np.where(mask, X, np.nan), None, "nan")
    np.testing.assert_array_equal(dense_obs.X.toarray(), X)


class RowBlocks(Data):
    """A complete X held as a list of dense row blocks (as a chunked on-disk array would
    hand them over), implementing the complete-X operations and nothing else."""

    kind = "row-blocks"

    def __init__(self, X, kernels, n_threads, rows_per_block=17):
        super().__init__(X, kernels, n_threads)
        self.blocks = [np.array(X[i:i + rows_per_block]) for i in range(0, X.shape[0],
                                                                       rows_per_block)]
        self.X = None  # nothing else holds X whole

    def norm2(self):
        return float(sum(np.vdot(b, b) for b in self.blocks))

    def stored_entries(self):
        return int(sum(np.count_nonzero(b) for b in self.blocks))

    def x_times(self, Ht, out=None):
        out = np.empty((self.shape[0], Ht.shape[1]), self.dtype) if out is None else out
        start = 0
        for b in self.blocks:
            np.matmul(b, Ht, out=out[start:start + len(b)])
            start += len(b)
        return out

    def xt_times(self, W):
        total, start = np.zeros((self.shape[1], W.shape[1]), self.dtype), 0
        for b in self.blocks:
            total += b.T @ W[start:start + len(b)]
            start += len(b)
        return total

    def gram(self, F):
        return F.T @ F

    def reconstruction_error(self, W, Ht):
        start, sq = 0, 0.0
        for b in self.blocks:
            sq += float(np.sum((b - W[start:start + len(b)] @ Ht.T) ** 2))
            start += len(b)
        return float(np.sqrt(sq))


@pytest.mark.parametrize("solver", ["cd", "hals", "ehals", "pgd", "als", "mu"])
def test_a_new_form_runs_every_frobenius_solver_unchanged(solver):
    """The solvers see only the protocol: on the row-block form they take the steps they
    take on the dense form of the same X (to rounding: its products are summed by blocks)."""
    rng = np.random.default_rng(1)
    X = rng.random((60, 8)) @ rng.random((8, 40)) + 0.01 * rng.random((60, 40))
    W0, H0 = rng.random((60, 6)), rng.random((6, 40))
    kern = get_backend("numpy")
    fits = []
    for data in (RowBlocks(X, kern, 1), as_data(X, kern, 1)):
        W, Ht = W0.copy(), np.ascontiguousarray(H0.T)
        rule = engine.make_rule(solver, data, W, Ht)
        result = engine.run(rule, W, Ht, max_iter=30, tol=0)
        fits.append((W, Ht, result.loss_history))
    np.testing.assert_allclose(fits[0][0], fits[1][0], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(fits[0][1], fits[1][1], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(fits[0][2], fits[1][2], rtol=1e-9)
