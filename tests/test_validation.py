"""Bad input gets a clear ValueError/TypeError naming the parameter, before any kernel runs."""

import numpy as np
import pytest
import scipy.sparse as sp

from fastnmf import NMF, non_negative_factorization

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

X_OK = np.abs(np.random.default_rng(0).random((6, 5)))


@pytest.mark.parametrize(
    "X,exc,match",
    [
        (np.array([[1.0, -1.0], [2.0, 3.0]]), ValueError, r"X must be non-negative; found minimum value -1\.0 at index \(0, 1\)"),
        # NaN entries are missing values (fastnmf.data.missing); a row with nothing else is an error
        (np.array([[np.nan, np.nan], [2.0, 3.0]]), ValueError, r"X has 1 row\(s\) with no observed entry \(row index 0\)"),
        (np.array([[1.0, np.inf], [2.0, 3.0]]), ValueError, r"X must contain only finite values; found 0 NaN and 1 infinite"),
        (np.ones(5), ValueError, r"X must be a 2-D array; got 1-D"),
        (np.ones((2, 2, 2)), ValueError, r"X must be a 2-D array; got 3-D"),
        (np.ones((0, 3)), ValueError, r"X must have at least one row and one column; got shape \(0, 3\)"),
        (np.ones((3, 0)), ValueError, r"at least one row and one column"),
        (np.array([["a", "b"], ["c", "d"]]), TypeError, r"X must have a real numeric dtype.*<U1"),
        (np.array([[1 + 1j, 2], [3, 4]]), TypeError, r"X must have a real numeric dtype.*complex"),
        (np.array([[1, "x"], [2, None]], dtype=object), TypeError, r"X must contain only numbers"),
        ("not an array", TypeError, r"X must be a 2-D array-like of numbers"),
        (None, TypeError, r"X must be a 2-D array-like"),
        (sp.csr_matrix(np.array([[1.0, -2.0], [0.0, 3.0]])), ValueError, r"X must be non-negative; found minimum stored value -2\.0"),
        (sp.csr_matrix(np.array([[1.0, np.nan], [0.0, 3.0]])), ValueError, r"X must contain only finite values; found 1 NaN and 0 infinite stored entries"),
        (sp.csc_array(np.array([[1.0, np.inf], [0.0, 3.0]])), ValueError, r"found 0 NaN and 1 infinite stored entries"),
        (sp.csr_matrix((0, 4)), ValueError, r"at least one row and one column; got shape \(0, 4\)"),
        (sp.csr_matrix(np.array([[1 + 1j, 0], [0, 1]])), TypeError, r"X must have a real numeric dtype.*complex"),
    ],
)
@pytest.mark.parametrize("entry", ["fit", "nnf"])
def test_bad_X(X, exc, match, entry, monkeypatch):
    _forbid_kernels(monkeypatch)
    with pytest.raises(exc, match=match):
        if entry == "fit":
            NMF(2).fit(X)
        else:
            non_negative_factorization(X, n_components=2)


def _forbid_kernels(monkeypatch):
    """Any kernel call fails the test: validation must come first."""
    import fastnmf._plan as plan
    import fastnmf.solvers.driver as driver

    def boom(*a, **k):
        raise AssertionError("a solver ran before validation finished")

    # every solver runs through the driver; transform's exact W through solve_W
    monkeypatch.setattr(driver, "run", boom)
    monkeypatch.setattr(plan, "run", boom)
    monkeypatch.setattr(plan, "solve_W", boom)


@pytest.mark.parametrize(
    "params,exc,match",
    [
        (dict(n_components=0), ValueError, r"n_components must be an int >= 1, 'auto' or None; got 0"),
        (dict(n_components=2.5), TypeError, r"n_components must be an int >= 1.*got 2\.5"),
        (dict(n_components="many"), ValueError, r"n_components must be .*got 'many'"),
        (dict(n_components=True), TypeError, r"n_components"),
        (dict(init="svd"), ValueError, r"init must be one of \[None, 'random', 'nndsvd', 'nndsvda', 'nndsvdar', 'custom'\]; got 'svd'"),
        (dict(solver="nnls"), ValueError,
         r"solver must be one of \['auto', 'cd', 'mu', 'emu', 'hals', 'ehals', 'pgd', 'als'\]; got 'nnls'"),
        (dict(solver="hals", beta_loss=1), ValueError, r"not supported by solver='hals'"),
        (dict(n_init=0), ValueError, r"n_init must be an int >= 1; got 0"),
        (dict(callback="print"), TypeError, r"callback must be None or a callable"),
        (dict(beta_loss="itakura-saito", solver="cd"), ValueError, r"beta_loss='itakura-saito' is not supported by solver='cd', which handles 'frobenius' \(2\) and 'kullback-leibler' \(1\); use solver='mu'"),
        (dict(beta_loss=0.5, solver="cd"), ValueError, r"beta_loss=0\.5 is not supported by solver='cd'"),
        (dict(beta_loss=float("nan"), solver="mu"), ValueError, r"beta_loss must be a finite real number; got nan"),
        (dict(beta_loss=float("inf"), solver="mu"), ValueError, r"beta_loss must be a finite real number"),
        (dict(beta_loss=True, solver="mu"), TypeError, r"beta_loss must be a string or a real number; got True"),
        (dict(beta_loss="l2"), ValueError, r"beta_loss must be one of"),
        (dict(beta_loss=[2]), TypeError, r"beta_loss must be a string or a real number"),
        (dict(tol=-1), ValueError, r"tol must be a real number >= 0\.0; got -1\.0"),
        (dict(tol="small"), TypeError, r"tol must be a real number"),
        (dict(tol=float("nan")), ValueError, r"tol must be a real number"),
        (dict(max_iter=0), ValueError, r"max_iter must be an int >= 1; got 0"),
        (dict(max_iter=10.0), TypeError, r"max_iter must be an int >= 1; got 10\.0"),
        (dict(alpha_W=-0.1), ValueError, r"alpha_W must be a real number >= 0\.0; got -0\.1"),
        (dict(alpha_H="different"), ValueError, r"alpha_H must be one of \['same'\]"),
        (dict(alpha_H=-1), ValueError, r"alpha_H must be a real number >= 0\.0"),
        (dict(l1_ratio=1.5), ValueError, r"l1_ratio must be a real number in \[0\.0, 1\.0\]; got 1\.5"),
        (dict(verbose=-1), ValueError, r"verbose must be a non-negative int"),
        (dict(shuffle="yes"), TypeError, r"shuffle must be a bool; got 'yes'"),
        (dict(backend="gpu"), ValueError, r"backend must be one of \['auto', 'cython', 'numba', 'numpy'\]; got 'gpu'"),
        (dict(backend=3), TypeError, r"backend must be a string"),
        (dict(n_threads=0), ValueError, r"n_threads must be None, -1 or a positive int; got 0"),
        (dict(n_threads=1.5), TypeError, r"n_threads must be None, -1 or a positive int; got 1\.5"),
        (dict(random_state="seed"), ValueError, r"random_state must be None, an int or a numpy.random.RandomState; got 'seed'"),
    ],
)
def test_bad_parameters(params, exc, match, monkeypatch):
    _forbid_kernels(monkeypatch)
    with pytest.raises(exc, match=match):
        NMF(**{"n_components": 2, **params}).fit(X_OK)


@pytest.mark.parametrize(
    "W,H,exc,match",
    [
        (np.ones((6, 3)), np.ones((2, 5)), ValueError, r"H must have shape \(3, 5\); got \(2, 5\)"),
        (np.ones((5, 3)), np.ones((3, 5)), ValueError, r"W must have shape \(6, 3\); got \(5, 3\)"),
        (-np.ones((6, 3)), np.ones((3, 5)), ValueError, r"W must be non-negative"),
        (np.ones((6, 3)), np.full((3, 5), np.nan), ValueError, r"H must contain only finite values"),
        (np.ones((6, 3)), np.ones(15), ValueError, r"H must be a 2-D array"),
        (None, np.ones((3, 5)), ValueError, r"init='custom' needs both W and H"),
        (np.ones((6, 3)), "H", TypeError, r"H must be a 2-D array-like"),
    ],
)
def test_bad_custom_init(W, H, exc, match, monkeypatch):
    _forbid_kernels(monkeypatch)
    with pytest.raises(exc, match=match):
        NMF(3, init="custom").fit_transform(X_OK, W=W, H=H)


def test_custom_init_is_cast_to_X_dtype():
    W0 = np.ones((6, 3), dtype=np.float32)
    H0 = np.ones((3, 5), dtype=np.float32)
    W = NMF(3, init="custom", max_iter=5).fit_transform(X_OK, W=W0, H=H0)
    assert W.dtype == np.float64


def test_update_H_false_needs_H():
    with pytest.raises(ValueError, match="update_H=False needs H"):
        non_negative_factorization(X_OK, n_components=2, update_H=False)
    with pytest.raises(TypeError, match="update_H must be a bool"):
        non_negative_factorization(X_OK, n_components=2, update_H="no")


def test_transform_before_fit():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        NMF(2).transform(X_OK)


def test_no_numba_or_cython_error_for_odd_but_valid_input(compiled_backend):
    """float16, int8, big-endian and non-contiguous inputs all go through the boundary."""
    for X in (X_OK.astype(np.float16), (X_OK * 10).astype(np.int8), X_OK.astype(">f8"), X_OK[:, ::2]):
        W = NMF(2, max_iter=5, backend=compiled_backend).fit_transform(X)
        assert np.isfinite(W).all()


@pytest.mark.parametrize("beta", [0, "itakura-saito", -0.5])
@pytest.mark.parametrize("make", [np.asarray, sp.csr_matrix], ids=["dense", "sparse"])
def test_nonpositive_beta_with_zeros_in_X(beta, make, monkeypatch):
    """scikit-learn's rule: beta_loss <= 0 is undefined where X is zero."""
    _forbid_kernels(monkeypatch)
    X = X_OK.copy()
    X[1, 2] = 0.0
    with pytest.raises(ValueError, match=r"X contains zeros and beta_loss=.* <= 0"):
        NMF(2, solver="mu", beta_loss=beta).fit(make(X))
    with pytest.raises(ValueError, match=r"X contains zeros"):
        non_negative_factorization(make(X), n_components=2, solver="mu", beta_loss=beta)


def test_nonpositive_beta_sparse_with_an_implicit_zero(monkeypatch):
    """A sparse X with every entry stored except one still has a zero."""
    _forbid_kernels(monkeypatch)
    X = sp.csr_matrix(X_OK + 1.0)
    X = X.tolil()
    X[0, 0] = 0.0
    X = X.tocsr()
    X.eliminate_zeros()
    with pytest.raises(ValueError, match=r"X contains zeros"):
        NMF(2, solver="mu", beta_loss=0).fit(X)
