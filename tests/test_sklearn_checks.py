"""fastnmf.NMF and MiniBatchNMF against scikit-learn's estimator checks, and NMF against
scikit-learn's NMF.

The expected failures come from the one list of deviations, ``ci/sklearn_deviations.py``
(which ``ci/sklearn_tests.py``, scikit-learn's own test_nmf.py run against fastnmf,
uses too); they are strict: a listed check that passes fails here.
"""

import importlib.util
import inspect
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.decomposition import NMF as SkNMF
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import parametrize_with_checks

from fastnmf import NMF, MiniBatchNMF, non_negative_factorization


def _deviations():
    path = Path(__file__).resolve().parents[1] / "ci" / "sklearn_deviations.py"
    spec = importlib.util.spec_from_file_location("sklearn_deviations", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


DEVIATIONS = _deviations()

ESTIMATORS = [
    NMF(),                                                  # the default: solver='auto'
    NMF(solver="cd", max_iter=500),                         # what scikit-learn checks its NMF with
    NMF(solver="mu", max_iter=500),
    NMF(solver="cd", beta_loss="kullback-leibler"),         # fastnmf's Newton cd
    NMF(solver="als"),                                      # no missing values: allow_nan=False
    MiniBatchNMF(),                                         # online cd
    MiniBatchNMF(solver="mu"),                              # scikit-learn's algorithm
    MiniBatchNMF(beta_loss="kullback-leibler"),             # online KL
]

_strict = ({"xfail_strict": True}
           if "xfail_strict" in inspect.signature(parametrize_with_checks).parameters else {})


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=DEVIATIONS.expected_failed_checks,
                         **_strict)
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


# ---------------------------------------------------------------- the deviation's remainder

def test_parameter_checking_apart_from_cd_with_kl():
    """What scikit-learn's test_parameter_checking asserts after its first line (cd with
    KL, listed in ci/sklearn_deviations.py): negative X in fit and in transform, and
    nndsvd-type inits with more components than min(n_samples, n_features)."""
    A = np.ones((2, 2))
    for call in (lambda: NMF().fit(-A), lambda: NMF(2, tol=0.1).fit(A).transform(-A)):
        with pytest.raises(ValueError, match="Negative values in data passed to") as err:
            call()
        assert "X must be non-negative; found minimum value -1.0" in str(err.value)
    for init in ("nndsvd", "nndsvda", "nndsvdar"):
        with pytest.raises(ValueError, match=re.escape("n_components <= min(n_samples, n_features)")):
            NMF(3, init=init).fit(A)


def test_solver_cd_takes_kl_where_scikit_learn_refuses():
    """The deviation itself: scikit-learn's cd refuses KL, fastnmf's runs Newton cd."""
    X = np.random.default_rng(0).random((8, 5)) + 0.1
    with pytest.raises(ValueError, match="does not handle beta_loss"):
        SkNMF(2, solver="cd", beta_loss=1.0).fit(X)
    assert NMF(2, solver="cd", beta_loss=1.0, max_iter=20).fit(X).solver_ == "cd"


@pytest.mark.parametrize("which,shape,expected", [
    ("W", (5, 2), "Array with wrong first dimension passed to NMF (input W). Expected 6, but got 5"),
    ("W", (6, 3), "Array with wrong second dimension passed to NMF (input W). Expected 2, but got 3"),
    ("H", (3, 5), "Array with wrong first dimension passed to NMF (input H). Expected 2, but got 3"),
])
def test_custom_init_shape_messages_have_both_wordings(which, shape, expected):
    rng = np.random.default_rng(0)
    X = rng.random((6, 5))
    factors = {"W": rng.random((6, 2)), "H": rng.random((2, 5))}
    factors[which] = rng.random(shape)
    with pytest.raises(ValueError) as err:
        NMF(2, init="custom").fit(X, **factors)
    message = str(err.value)
    assert expected in message  # scikit-learn's
    assert f"{which} must have shape" in message  # fastnmf's


@pytest.mark.parametrize("which", ["W", "H"])
def test_all_zero_custom_factor_is_refused(which):
    X = np.random.default_rng(0).random((6, 5))
    factors = {"W": np.ones((6, 2)), "H": np.ones((2, 5))}
    factors[which] = np.zeros_like(factors[which])
    with pytest.raises(ValueError, match=re.escape(f"Array passed to NMF (input {which}) is full of zeros")):
        NMF(2, init="custom").fit(X, **factors)


# ------------------------------------------------ transform with a scikit-learn solver

def _data(sparse, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.random((30, 12)) @ rng.random((12, 20))
    X[rng.random(X.shape) < 0.3] = 0.0
    return sp.csr_matrix(X) if sparse else X


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
@pytest.mark.parametrize("params", [
    dict(solver="cd"),
    dict(solver="cd", alpha_W=0.01, l1_ratio=0.5),
    dict(solver="mu"),
    dict(solver="mu", beta_loss="kullback-leibler"),
    dict(solver="mu", beta_loss=1.5, alpha_W=0.01),
], ids=lambda p: "-".join(f"{k}={v}" for k, v in p.items()))
def test_transform_with_a_sklearn_solver_is_sklearns_transform(params, sparse):
    """solver='cd'/'mu': transform is scikit-learn's (its start for W, its iterations,
    tol and max_iter), given the same components; and it is
    non_negative_factorization(update_H=False) with the same solver."""
    X, X_new = _data(sparse), _data(sparse, seed=1)
    common = dict(n_components=4, init="random", random_state=0, tol=1e-3, max_iter=300,
                  **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk = SkNMF(**common).fit(X)
        ours = NMF(**common).fit(X)
        ours.components_ = sk.components_.copy()  # the same H, to compare transform alone
        expected = sk.transform(X_new)
        W = ours.transform(X_new)
        W_nnf, H_nnf, _ = non_negative_factorization(X_new, H=sk.components_, update_H=False,
                                                     **common)
    np.testing.assert_allclose(W, expected, rtol=1e-6, atol=1e-9 * expected.max())
    np.testing.assert_array_equal(W, W_nnf)
    np.testing.assert_array_equal(H_nnf, sk.components_)
