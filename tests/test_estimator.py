"""Whole fits: scikit-learn parity, backend agreement, properties of the result."""

import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.decomposition import NMF as SkNMF
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler

import fastnmf
from fastnmf import NMF, non_negative_factorization
from fastnmf._init import initialize

from .conftest import low_rank

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def test_readme_example(backend):
    X = np.array([[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]])
    model = NMF(n_components=2, init="random", random_state=0, backend=backend)
    W = model.fit_transform(X)
    H = model.components_
    assert W.shape == (3, 2) and H.shape == (2, 4)
    assert np.abs(W @ H - X).max() < 0.05
    assert W.dtype == np.float64


@pytest.mark.parametrize("solver,shuffle", [("cd", False), ("cd", True), ("mu", False)])
@pytest.mark.parametrize("reg", [dict(), dict(alpha_W=0.01, l1_ratio=0.3), dict(alpha_W=0.02, alpha_H=0.0, l1_ratio=1.0)])
def test_same_loss_as_sklearn_with_same_custom_init(backend, solver, reg, shuffle):
    X = low_rank(120, 90, 6, seed=1)
    W0, H0 = initialize(X, 8, "nndsvda", 0)
    kw = dict(n_components=8, init="custom", solver=solver, max_iter=60, tol=0, random_state=0, **reg)
    if solver == "cd":
        kw["shuffle"] = shuffle
    sk = SkNMF(**kw)
    Ws = sk.fit_transform(X, W=W0.copy(), H=H0.copy())
    ours = NMF(**kw, backend=backend)
    Wf = ours.fit_transform(X, W=W0, H=H0)
    assert ours.n_iter_ == sk.n_iter_ == 60
    rel = abs(ours.reconstruction_err_ - sk.reconstruction_err_) / sk.reconstruction_err_
    assert rel < 1e-6
    np.testing.assert_allclose(Wf, Ws, rtol=1e-5, atol=1e-7 * np.abs(Ws).max())
    np.testing.assert_allclose(ours.components_, sk.components_, rtol=1e-5, atol=1e-7 * np.abs(sk.components_).max())


@pytest.mark.parametrize("init", [None, "random", "nndsvd", "nndsvda", "nndsvdar"])
def test_init_matches_sklearn(init):
    X = low_rank(40, 30, 4, seed=2)
    sk = SkNMF(5, init=init, max_iter=5, random_state=7).fit(X)
    ours = NMF(5, init=init, solver="cd", max_iter=5, random_state=7).fit(X)
    np.testing.assert_allclose(ours.components_, sk.components_, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("solver", ["cd", "mu"])
def test_default_stopping_matches_sklearn(solver):
    X = low_rank(80, 60, 5, seed=3)
    sk = SkNMF(5, solver=solver, random_state=0).fit(X)
    ours = NMF(5, solver=solver, random_state=0).fit(X)
    assert ours.n_iter_ == sk.n_iter_
    assert abs(ours.reconstruction_err_ - sk.reconstruction_err_) <= 1e-6 * sk.reconstruction_err_


@pytest.mark.parametrize("solver", ["cd", "mu"])
def test_backends_agree_on_a_whole_fit(solver):
    X = low_rank(150, 100, 7, seed=4)
    fits = {}
    for name in fastnmf.available_backends():
        m = NMF(7, init="nndsvdar", solver=solver, max_iter=80, tol=0, random_state=1, backend=name)
        fits[name] = (m.fit_transform(X), m.components_, m.reconstruction_err_)
    assert len(fits) >= 2
    W0, H0, e0 = fits["numpy"]
    for name, (W, H, e) in fits.items():
        assert abs(e - e0) / e0 < 1e-8, name
        np.testing.assert_allclose(W @ H, W0 @ H0, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("solver", ["cd", "mu"])
@pytest.mark.parametrize("reg", [dict(), dict(alpha_W=0.05, l1_ratio=0.5)])
def test_loss_never_increases(backend, dtype, solver, reg):
    X = low_rank(100, 70, 5, seed=5, noise=0.3, dtype=dtype)
    m = NMF(8, init="random", solver=solver, max_iter=100, tol=0, random_state=0, backend=backend, **reg)
    m.fit(X)
    h = m.loss_history_
    assert h.shape == (100,)
    slack = (1e-10 if dtype == np.float64 else 1e-5) * h[0]
    assert np.all(np.diff(h) <= slack), np.diff(h).max()
    assert h[-1] < h[0]


def test_loss_history_matches_direct_loss(backend):
    X = low_rank(60, 50, 4, seed=6)
    m = NMF(4, max_iter=30, tol=0, random_state=0, backend=backend)
    W = m.fit_transform(X)
    direct = 0.5 * np.sum((X - W @ m.components_) ** 2)
    np.testing.assert_allclose(m.loss_history_[-1], direct, rtol=1e-9)
    np.testing.assert_allclose(m.reconstruction_err_, np.sqrt(2 * direct), rtol=1e-12)


@pytest.mark.parametrize("solver", ["cd", "mu"])
def test_dtype_is_kept_and_float32_agrees_with_float64(backend, solver):
    X = low_rank(80, 60, 4, seed=7)
    m64 = NMF(4, solver=solver, max_iter=50, tol=0, random_state=0, backend=backend)
    m32 = clone(m64)
    W64 = m64.fit_transform(X)
    W32 = m32.fit_transform(X.astype(np.float32))
    assert W32.dtype == np.float32 and m32.components_.dtype == np.float32
    assert W64.dtype == np.float64 and m64.components_.dtype == np.float64
    assert m32.transform(X.astype(np.float32)).dtype == np.float32
    assert abs(m32.reconstruction_err_ - m64.reconstruction_err_) / m64.reconstruction_err_ < 1e-3


def test_integer_and_bool_input_become_float64():
    X = np.arange(20).reshape(4, 5)
    assert NMF(2, max_iter=5).fit(X).components_.dtype == np.float64
    assert NMF(2, max_iter=5).fit(X > 7).components_.dtype == np.float64


def test_inputs_are_not_modified(backend):
    X = low_rank(50, 40, 3, seed=8)
    W0, H0 = initialize(X, 3, "random", 0)
    copies = [a.copy() for a in (X, W0, H0)]
    m = NMF(3, init="custom", max_iter=20, backend=backend)
    W = m.fit_transform(X, W=W0, H=H0)
    for a, c in zip((X, W0, H0), copies):
        np.testing.assert_array_equal(a, c)
    assert not np.shares_memory(W, W0) and not np.shares_memory(m.components_, H0)
    H_before = m.components_.copy()
    m.transform(X)
    np.testing.assert_array_equal(m.components_, H_before)
    non_negative_factorization(X, W0, H0, 3, init="custom", max_iter=5, backend=backend)
    for a, c in zip((X, W0, H0), copies):
        np.testing.assert_array_equal(a, c)


@pytest.mark.parametrize("layout", ["fortran", "strided", "readonly", "list"])
def test_layouts_give_the_same_fit(backend, layout):
    X = low_rank(40, 30, 3, seed=9)
    ref = NMF(3, max_iter=40, random_state=0, backend=backend).fit(X)
    if layout == "fortran":
        Xv = np.asfortranarray(X)
    elif layout == "strided":
        big = np.zeros((80, 60))
        big[::2, ::2] = X
        Xv = big[::2, ::2]
    elif layout == "readonly":
        Xv = X.copy()
        Xv.flags.writeable = False
    else:
        Xv = X.tolist()
    m = NMF(3, max_iter=40, random_state=0, backend=backend).fit(Xv)
    np.testing.assert_allclose(m.components_, ref.components_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(m.reconstruction_err_, ref.reconstruction_err_, rtol=1e-9)


def test_same_seed_same_result(backend):
    X = low_rank(60, 40, 4, seed=10)
    a = NMF(5, init="random", shuffle=True, random_state=42, max_iter=30, backend=backend).fit(X)
    b = NMF(5, init="random", shuffle=True, random_state=42, max_iter=30, backend=backend).fit(X)
    c = NMF(5, init="random", shuffle=True, random_state=43, max_iter=30, backend=backend).fit(X)
    np.testing.assert_array_equal(a.components_, b.components_)
    assert not np.array_equal(a.components_, c.components_)


def test_thread_count_does_not_change_the_fit(compiled_backend):
    X = low_rank(300, 200, 5, seed=11)
    a = NMF(6, max_iter=30, random_state=0, backend=compiled_backend, n_threads=1).fit(X)
    b = NMF(6, max_iter=30, random_state=0, backend=compiled_backend, n_threads=2).fit(X)
    np.testing.assert_allclose(a.components_, b.components_, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("solver", ["cd", "mu"])
@pytest.mark.parametrize("init", ["random", "nndsvda", None])
def test_all_zero_X_gives_zeros(backend, solver, init):
    X = np.zeros((6, 5))
    m = NMF(2, init=init, solver=solver, backend=backend)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        W = m.fit_transform(X)
    assert np.isfinite(W).all() and np.isfinite(m.components_).all()
    assert (W @ m.components_ == 0).all()
    assert m.reconstruction_err_ == 0.0


def test_zero_rows_and_columns(backend):
    X = low_rank(30, 20, 3, seed=12)
    X[4] = 0
    X[:, 7] = 0
    m = NMF(3, random_state=0, backend=backend)
    W = m.fit_transform(X)
    assert np.isfinite(W).all()
    assert np.allclose(W[4] @ m.components_, 0, atol=1e-6)
    assert np.allclose(W @ m.components_[:, 7], 0, atol=1e-6)


@pytest.mark.parametrize("shape", [(1, 7), (7, 1), (1, 1)])
def test_tiny_shapes(backend, shape):
    X = np.random.default_rng(0).random(shape) + 0.1
    m = NMF(1, random_state=0, backend=backend)
    W = m.fit_transform(X)
    assert W.shape == (shape[0], 1) and m.components_.shape == (1, shape[1])
    assert np.abs(W @ m.components_ - X).max() < 1e-3


def test_rank_larger_than_matrix(backend):
    X = low_rank(5, 4, 2, seed=13)
    m = NMF(10, random_state=0, max_iter=300, backend=backend)  # init None -> random
    W = m.fit_transform(X)
    assert W.shape == (5, 10) and m.components_.shape == (10, 4)
    assert m.reconstruction_err_ < 0.05 * np.linalg.norm(X)
    with pytest.raises(ValueError, match="n_components <= min"):
        NMF(10, init="nndsvd").fit(X)


def test_n_components_auto_and_none():
    X = low_rank(20, 6, 2, seed=14)
    assert NMF(max_iter=5).fit(X).n_components_ == 6
    assert NMF(None, max_iter=5).fit(X).n_components_ == 6
    W0, H0 = initialize(X, 3, "random", 0)
    m = NMF("auto", init="custom", max_iter=5)
    m.fit_transform(X, W=W0, H=H0)
    assert m.n_components_ == 3


def test_transform_and_inverse_transform():
    X = low_rank(70, 40, 4, seed=15)
    m = NMF(4, solver="cd", max_iter=500, tol=1e-8, random_state=0)
    W = m.fit_transform(X)
    Wt = m.transform(X)
    assert Wt.shape == W.shape
    # scikit-learn's transform iterates cd from zero to its tolerance; ours is the exact
    # NNLS solution it converges to
    sk = SkNMF(4, max_iter=500, tol=1e-8, random_state=0).fit(X)
    np.testing.assert_allclose(Wt, sk.transform(X), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(m.inverse_transform(W), W @ m.components_)
    with pytest.raises(ValueError, match="n_components_"):
        m.inverse_transform(np.ones((3, 5)))
    with pytest.raises(ValueError, match="features"):
        m.transform(X[:, :10])


def test_non_negative_factorization_matches_sklearn():
    from sklearn.decomposition import non_negative_factorization as sk_nnf

    X = low_rank(50, 40, 3, seed=16)
    W, H, n = non_negative_factorization(X, n_components=3, solver="cd", random_state=0, max_iter=50,
                                         tol=0)
    Ws, Hs, ns = sk_nnf(X, n_components=3, random_state=0, max_iter=50, tol=0)
    assert n == ns
    np.testing.assert_allclose(W @ H, Ws @ Hs, rtol=1e-6, atol=1e-9)
    # update_H=False: solve for W only, with H held fixed
    W2, H2, _ = non_negative_factorization(X, H=H, n_components=3, update_H=False, solver="cd",
                                           max_iter=50, tol=0)
    Ws2, _, _ = sk_nnf(X, H=H, n_components=3, update_H=False, max_iter=50, tol=0)
    np.testing.assert_array_equal(H2, H)
    np.testing.assert_allclose(W2, Ws2, rtol=1e-6, atol=1e-9)


def test_convergence_warning_like_sklearn():
    X = low_rank(30, 20, 3, seed=17)
    with pytest.warns(ConvergenceWarning, match="Maximum number of iterations 2"):
        NMF(3, max_iter=2).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        NMF(3, max_iter=2, tol=0).fit(X)


def test_sklearn_api_clone_pipeline_grid_search():
    X = low_rank(40, 12, 3, seed=18)
    m = NMF(3, backend="numpy", n_threads=1)
    assert clone(m).get_params() == m.get_params()
    assert m.get_params()["backend"] == "numpy"
    pipe = make_pipeline(MinMaxScaler(), NMF(3, max_iter=50, random_state=0))
    assert pipe.fit_transform(X).shape == (40, 3)
    gs = GridSearchCV(NMF(max_iter=50, random_state=0), {"n_components": [2, 3]}, cv=2,
                      scoring=lambda est, X, y=None: -est.reconstruction_err_)
    gs.fit(X)
    assert gs.best_params_["n_components"] in (2, 3)
    fitted = NMF(3, max_iter=10).fit(X)
    assert list(fitted.get_feature_names_out()) == ["nmf0", "nmf1", "nmf2"]
    assert fitted.n_features_in_ == 12
    assert fitted.backend_ in fastnmf.available_backends()


def test_feature_names_in_with_a_dataframe():
    pd = pytest.importorskip("pandas")
    X = low_rank(20, 4, 2, seed=19)
    df = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    m = NMF(2, max_iter=10).fit(df)
    assert list(m.feature_names_in_) == ["a", "b", "c", "d"]
