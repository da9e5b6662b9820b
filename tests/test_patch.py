"""fastnmf.patch_sklearn(): scikit-learn's NMF names on fastnmf, with scikit-learn's interface."""

import inspect
import pickle
import subprocess
import sys
import types
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn.decomposition as decomposition
from sklearn.base import clone
from sklearn.decomposition import _nmf as sk
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MaxAbsScaler

import fastnmf
import fastnmf.patch as patch

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

NAMES = ("NMF", "MiniBatchNMF", "non_negative_factorization")
ORIGINAL = {name: getattr(sk, name) for name in NAMES}


@pytest.fixture(autouse=True)
def unpatched():
    """Every test starts and ends with scikit-learn unpatched."""
    fastnmf.unpatch_sklearn()
    yield
    fastnmf.unpatch_sklearn()
    for name in NAMES:
        assert getattr(decomposition, name) is ORIGINAL[name]


@pytest.fixture
def X():
    """Rank 4 plus noise: well conditioned, so that the same iterates summed in another order
    (threads, BLAS) stay within rounding of each other over tens of iterations."""
    rng = np.random.default_rng(0)
    return rng.random((40, 4)) @ rng.random((4, 30)) + 0.05 * rng.random((40, 30))


def _close(a, b, rtol):
    """Equal to ``rtol`` times the largest entry of ``b``."""
    np.testing.assert_allclose(a, b, rtol=0, atol=rtol * np.abs(b).max())


def _dummy_module(monkeypatch, name="_fastnmf_test_frontend"):
    """A module that imported the names before any patch, as a front end does."""
    module = types.ModuleType(name)
    exec("from sklearn.decomposition import NMF, non_negative_factorization as nnf\n"
         "import sklearn.decomposition as decomposition\n"
         "def fit(X, **kw):\n    return nnf(X, **kw)\n", module.__dict__)
    monkeypatch.setitem(sys.modules, name, module)
    return module


# ---------------------------------------------------------------------- what is replaced
def test_patch_replaces_the_three_names_and_unpatch_restores_them():
    assert not fastnmf.sklearn_is_patched()
    fastnmf.patch_sklearn()
    assert fastnmf.sklearn_is_patched()
    assert decomposition.NMF is patch.NMF
    assert decomposition.MiniBatchNMF is patch.MiniBatchNMF
    assert decomposition.non_negative_factorization is patch.non_negative_factorization
    # the defining module keeps scikit-learn's objects
    assert sk.NMF is ORIGINAL["NMF"]
    fastnmf.unpatch_sklearn()
    assert not fastnmf.sklearn_is_patched()
    for name in NAMES:
        assert getattr(decomposition, name) is ORIGINAL[name]


def test_patched_classes_are_fastnmf_and_sklearn_classes(X):
    with fastnmf.sklearn_patched():
        est = decomposition.NMF(2, init="nndsvda", max_iter=500)
        mb = decomposition.MiniBatchNMF(2, random_state=0)
    assert isinstance(est, fastnmf.NMF) and isinstance(est, ORIGINAL["NMF"])
    assert isinstance(mb, fastnmf.MiniBatchNMF) and isinstance(mb, ORIGINAL["MiniBatchNMF"])
    assert not isinstance(est, ORIGINAL["MiniBatchNMF"])
    est.fit(X)
    assert est.solver_ == "cd" and est.backend_ in fastnmf.available_backends()


@pytest.mark.parametrize("name", NAMES)
def test_signatures_and_defaults_are_sklearns(name):
    ours, theirs = getattr(patch, name), ORIGINAL[name]
    if isinstance(theirs, type):
        ours, theirs = ours.__init__, theirs.__init__
    assert inspect.signature(ours) == inspect.signature(theirs)


def test_defaults_differ_from_fastnmfs_where_sklearns_do():
    """The defaults the patch exists for: fastnmf's own are not scikit-learn's."""
    fast = fastnmf.NMF().get_params()
    ours = patch.NMF().get_params()
    assert ours == ORIGINAL["NMF"]().get_params()
    assert (fast["solver"], fast["alpha_W"]) == ("auto", "auto")
    assert (ours["solver"], ours["alpha_W"]) == ("cd", 0.0)
    assert patch.MiniBatchNMF().get_params() == ORIGINAL["MiniBatchNMF"]().get_params()
    assert patch.MiniBatchNMF().solver == "mu" and fastnmf.MiniBatchNMF().solver == "auto"
    # fastnmf's own parameters are not parameters of the patched classes
    assert "n_threads" not in ours and "backend" not in ours
    with pytest.raises(ValueError, match="n_threads"):
        patch.NMF().set_params(n_threads=1)


# ---------------------------------------------------------------------- results
@pytest.mark.parametrize("solver,beta_loss", [
    ("cd", "frobenius"), ("mu", "frobenius"), ("mu", "kullback-leibler"),
    ("mu", 0.5)])  # (scikit-learn's cd is Frobenius only)
def test_nmf_matches_sklearn_and_fastnmf(X, solver, beta_loss):
    params = dict(n_components=4, init="nndsvda", solver=solver, beta_loss=beta_loss,
                  max_iter=60, tol=1e-4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        theirs = ORIGINAL["NMF"](**params)
        W_sk = theirs.fit_transform(X)
        with fastnmf.sklearn_patched():
            ours = decomposition.NMF(**params)
        W = ours.fit_transform(X)
        fast = fastnmf.NMF(**params, alpha_W=0.0)
        W_fast = fast.fit_transform(X)
    # fastnmf's with the same explicit parameters (to the rounding of threaded sums)
    assert ours.solver_ == fast.solver_ == solver and ours.n_iter_ == fast.n_iter_
    _close(W, W_fast, 1e-10)
    _close(ours.components_, fast.components_, 1e-10)
    # scikit-learn's iterates (the same algorithm, summed in another order)
    assert ours.n_iter_ == theirs.n_iter_
    _close(W, W_sk, 1e-10)
    _close(ours.components_, theirs.components_, 1e-10)
    assert ours.reconstruction_err_ == pytest.approx(theirs.reconstruction_err_, rel=1e-10)
    _close(ours.transform(X), theirs.transform(X), 1e-6)


@pytest.mark.parametrize("solver", ["cd", "mu"])
def test_function_matches_sklearn_with_custom_init(X, solver):
    rng = np.random.default_rng(1)
    W0, H0 = rng.random((X.shape[0], 3)), rng.random((3, X.shape[1]))
    kw = dict(n_components=3, init="custom", solver=solver, max_iter=40, tol=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        W_sk, H_sk, n_sk = ORIGINAL["non_negative_factorization"](X, W0.copy(), H0.copy(), **kw)
        with fastnmf.sklearn_patched():
            W, H, n = decomposition.non_negative_factorization(X, W0, H0, **kw)
    assert n == n_sk == 40
    _close(W, W_sk, 1e-10)
    _close(H, H_sk, 1e-10)
    # update_H=False (the default cd, as scikit-learn's: W from zeros)
    with fastnmf.sklearn_patched():
        W1, _, _ = decomposition.non_negative_factorization(X, H=H_sk, n_components=3,
                                                            update_H=False)
    W1_sk, _, _ = ORIGINAL["non_negative_factorization"](X, H=H_sk, n_components=3,
                                                         update_H=False)
    _close(W1, W1_sk, 1e-6)


def test_function_default_solver_is_cd_not_auto(X):
    """sklearn's default solver runs (fastnmf's 'auto' may pick another solver and end
    elsewhere): the patched function equals fastnmf's with solver='cd' and alpha_W=0."""
    with fastnmf.sklearn_patched():
        W, H, n = decomposition.non_negative_factorization(X, n_components=3, init="nndsvda")
    W_cd, H_cd, n_cd = fastnmf.non_negative_factorization(X, n_components=3, init="nndsvda",
                                                          solver="cd", alpha_W=0.0)
    _close(W, W_cd, 1e-10)
    assert n == n_cd


def test_minibatch_is_sklearns_algorithm(X):
    params = dict(n_components=3, init="nndsvda", batch_size=10, max_iter=20, random_state=0,
                  tol=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        theirs = ORIGINAL["MiniBatchNMF"](**params).fit(X)
        with fastnmf.sklearn_patched():
            ours = decomposition.MiniBatchNMF(**params).fit(X)
    assert ours.solver_ == "mu"
    assert ours.n_iter_ == theirs.n_iter_
    _close(ours.components_, theirs.components_, 1e-8)


def test_nan_is_refused_as_by_sklearn(X):
    Xn = X.copy()
    Xn[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        ORIGINAL["NMF"](2).fit(Xn)
    with fastnmf.sklearn_patched():
        with pytest.raises(ValueError, match="Input X contains NaN"):
            decomposition.NMF(2).fit(Xn)
        with pytest.raises(ValueError, match="Input X contains NaN"):
            decomposition.non_negative_factorization(Xn.tolist(), n_components=2)
        with pytest.raises(ValueError, match="Input X contains NaN"):
            decomposition.MiniBatchNMF(2).partial_fit(Xn)
        model = decomposition.NMF(2, max_iter=500).fit(X)
        with pytest.raises(ValueError, match="Input X contains NaN"):
            model.transform(Xn)
        assert not model.__sklearn_tags__().input_tags.allow_nan
    fastnmf.NMF(2, max_iter=20).fit(Xn)  # fastnmf itself fits NaN as unknown


def test_sparse_input_and_negative_values(X):
    with fastnmf.sklearn_patched():
        W = decomposition.NMF(3, init="nndsvda", max_iter=500).fit_transform(sp.csr_matrix(X))
        assert W.shape == (X.shape[0], 3)
        with pytest.raises(ValueError, match="[Nn]egative"):
            decomposition.NMF(2).fit(-X)


# ---------------------------------------------------------------------- estimator protocol
def test_clone_pickle_repr_pipeline(X):
    with fastnmf.sklearn_patched():
        est = decomposition.NMF(n_components=3, init="nndsvda", max_iter=500, alpha_W=0.01)
    assert repr(est) == "NMF(alpha_W=0.01, init='nndsvda', max_iter=500, n_components=3)"
    twin = clone(est)
    assert type(twin) is patch.NMF and twin.get_params() == est.get_params()
    est.fit(X)
    back = pickle.loads(pickle.dumps(est))  # unpatched now: still fastnmf.patch.NMF
    assert type(back) is patch.NMF
    np.testing.assert_array_equal(back.components_, est.components_)
    np.testing.assert_array_equal(back.transform(X), est.transform(X))
    assert list(est.get_feature_names_out()) == ["nmf0", "nmf1", "nmf2"]
    with fastnmf.sklearn_patched():
        pipe = make_pipeline(MaxAbsScaler(), decomposition.NMF(2, max_iter=500)).fit(X)
    assert pipe.transform(X).shape == (X.shape[0], 2)
    mb = pickle.loads(pickle.dumps(patch.MiniBatchNMF(2, random_state=0).fit(X)))
    assert type(mb) is patch.MiniBatchNMF and mb.solver == "mu"


def test_set_output_pandas(X):
    pd = pytest.importorskip("pandas")
    with fastnmf.sklearn_patched():
        est = decomposition.NMF(2, max_iter=500).set_output(transform="pandas")
    out = est.fit_transform(pd.DataFrame(X))
    assert isinstance(out, pd.DataFrame) and list(out.columns) == ["nmf0", "nmf1"]


# ---------------------------------------------------------------------- rebinding
def test_names_imported_before_the_patch_are_rebound_and_restored(monkeypatch, X):
    module = _dummy_module(monkeypatch)
    assert module.NMF is ORIGINAL["NMF"]
    assert module.nnf is ORIGINAL["non_negative_factorization"]
    fastnmf.patch_sklearn()
    assert module.NMF is patch.NMF
    assert module.nnf is patch.non_negative_factorization
    W, H, _ = module.fit(X, n_components=2, init="nndsvda", max_iter=500)
    recorded = {(m, key) for m, _, key, _ in patch._state.rebound}
    assert {(module.__name__, "NMF"), (module.__name__, "nnf"),
            ("sklearn.decomposition", "NMF")} <= recorded
    fastnmf.unpatch_sklearn()
    assert module.NMF is ORIGINAL["NMF"]
    assert module.nnf is ORIGINAL["non_negative_factorization"]
    assert module.decomposition.NMF is ORIGINAL["NMF"]


def test_rebind_false_replaces_sklearn_decomposition_only(monkeypatch):
    module = _dummy_module(monkeypatch)
    fastnmf.patch_sklearn(rebind=False)
    assert decomposition.NMF is patch.NMF
    assert module.NMF is ORIGINAL["NMF"]
    assert module.decomposition.NMF is patch.NMF  # the attribute, looked up at call time
    fastnmf.unpatch_sklearn()
    assert decomposition.NMF is ORIGINAL["NMF"]


def test_unpatch_restores_names_taken_while_patched_and_leaves_others(monkeypatch):
    module = _dummy_module(monkeypatch)
    with fastnmf.sklearn_patched():
        later = _dummy_module(monkeypatch, "_fastnmf_test_frontend_later")  # imports patched
        assert later.NMF is patch.NMF
        module.nnf = "someone else's"  # rebound by someone else while patched: left alone
    assert later.NMF is ORIGINAL["NMF"]
    assert later.nnf is ORIGINAL["non_negative_factorization"]
    assert module.nnf == "someone else's"
    assert module.NMF is ORIGINAL["NMF"]


def test_patch_twice_and_unpatch_without_patch_are_harmless(monkeypatch):
    fastnmf.unpatch_sklearn()  # not patched: nothing happens
    assert decomposition.NMF is ORIGINAL["NMF"]
    fastnmf.patch_sklearn()
    n = len(patch._state.rebound)
    fastnmf.patch_sklearn()
    assert len(patch._state.rebound) == n  # nothing rebound twice
    module = _dummy_module(monkeypatch)  # imported since: picked up by a second call
    assert module.NMF is patch.NMF  # (it imported the patched name)
    fastnmf.unpatch_sklearn()
    assert decomposition.NMF is ORIGINAL["NMF"] and module.NMF is ORIGINAL["NMF"]
    fastnmf.unpatch_sklearn()
    assert decomposition.NMF is ORIGINAL["NMF"]


def test_context_manager_restores_on_exception_and_nests(monkeypatch):
    module = _dummy_module(monkeypatch)
    with pytest.raises(KeyError):
        with fastnmf.sklearn_patched():
            assert module.nnf is patch.non_negative_factorization
            raise KeyError("boom")
    assert module.nnf is ORIGINAL["non_negative_factorization"]
    assert not fastnmf.sklearn_is_patched()
    fastnmf.patch_sklearn()
    with fastnmf.sklearn_patched():  # already patched: stays patched after the block
        pass
    assert fastnmf.sklearn_is_patched() and module.nnf is patch.non_negative_factorization
    with fastnmf.sklearn_patched():
        with fastnmf.sklearn_patched():
            pass
        assert decomposition.NMF is patch.NMF


def test_bad_rebind_argument():
    with pytest.raises(TypeError, match="rebind must be a bool.*'yes'"):
        fastnmf.patch_sklearn(rebind="yes")
    with pytest.raises(TypeError, match="rebind must be a bool"):
        with fastnmf.sklearn_patched(rebind=None):
            pass
    assert not fastnmf.sklearn_is_patched()


def test_runner_runs_a_script_patched(tmp_path):
    script = tmp_path / "front_end.py"
    script.write_text("import sys\n"
                      "from sklearn.decomposition import NMF, non_negative_factorization\n"
                      "print(NMF.__module__, non_negative_factorization.__module__,"
                      " sys.argv[1:])\n")
    r = subprocess.run([sys.executable, "-m", "fastnmf.patch", str(script), "a", "b"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["fastnmf.patch", "fastnmf.patch", "['a',", "'b']"]
    r = subprocess.run([sys.executable, "-m", "fastnmf.patch"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2 and "usage" in r.stdout
