"""fit_many: every run is the single fit of its rank and seed, whatever runs beside it; the
seeds, the factors kept, the consensus helpers, the errors."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state

import fastnmf
from fastnmf import NMF, FitBatch, consensus_matrix, fit_many


def _dense(seed=0, m=80, n=50, k=4, dtype=np.float64):
    rng = np.random.default_rng(seed)
    L = rng.random((m, k)) @ rng.random((k, n))
    return np.abs(L + 0.05 * L.mean() * rng.standard_normal(L.shape)).astype(dtype)


def _sparse(seed=1, m=120, n=90, density=0.15):
    rng = np.random.default_rng(seed)
    X = sp.random(m, n, density=density, format="csr", random_state=seed)
    X.data = rng.poisson(3.0, X.nnz).astype(np.float64) + 1.0
    return X


def _with_nan(seed=2):
    X = _dense(seed)
    rng = np.random.default_rng(seed)
    X[rng.random(X.shape) < 0.1] = np.nan
    return X


def _single(X, k, seed, **params):
    """``NMF(k, random_state=seed).fit(X)`` alone, on one thread."""
    params = dict({"init": "random"}, **params)
    est = NMF(k, random_state=seed, n_threads=1, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        W = est.fit_transform(X)
    return est, W


def _assert_runs_equal_single_fits(batch, X, params):
    assert len(batch) == len(batch.ranks) * len(batch.seeds)
    for run in batch:
        est, W = _single(X, run.rank, run.seed, **params)
        np.testing.assert_array_equal(run.W, W)
        np.testing.assert_array_equal(run.H, est.components_)
        assert run.W.dtype == W.dtype and run.H.dtype == est.components_.dtype
        assert run.n_iter == est.n_iter_
        assert run.reconstruction_err == est.reconstruction_err_
        assert run.loss == est.loss_history_[-1]
        assert run.solver == est.solver_


CASES = {
    "dense": (lambda: _dense(), {}),
    "dense-cd-cnmf": (lambda: _dense(), dict(solver="cd", alpha_W=0.0, tol=1e-4, max_iter=300)),
    "float32": (lambda: _dense(dtype=np.float32), {}),
    "sparse": (lambda: _sparse(), {}),
    "sparse-cd": (lambda: _sparse(), dict(solver="cd")),
    "kullback-leibler": (lambda: _dense(), dict(beta_loss="kullback-leibler")),
    "kl-sparse-mu": (lambda: _sparse(), dict(beta_loss="kullback-leibler", solver="mu")),
    "itakura-saito": (lambda: _dense() + 0.1, dict(beta_loss="itakura-saito", max_iter=50)),
    "missing-nan": (_with_nan, {}),
    "missing-nan-mu": (_with_nan, dict(solver="mu", beta_loss="kullback-leibler")),
    "unobserved": (lambda: _sparse(), dict(missing="unobserved")),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_run_equals_its_single_fit(case):
    make, params = CASES[case]
    X = make()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        batch = fit_many(X, [2, 4], n_runs=3, random_state=7, n_jobs=2, **params)
    assert batch.n_jobs == 2
    _assert_runs_equal_single_fits(batch, X, params)
    # different seeds gave different fits
    assert not np.array_equal(batch.runs_of(4)[0].H, batch.runs_of(4)[1].H)


def test_every_run_equals_its_single_fit_on_each_compiled_backend(compiled_backend):
    X = _dense(3)
    params = dict(backend=compiled_backend, solver="hals")
    batch = fit_many(X, 3, n_runs=4, random_state=0, n_jobs=2, **params)
    _assert_runs_equal_single_fits(batch, X, params)


def test_n_jobs_does_not_change_the_runs():
    X = _sparse()
    one = fit_many(X, [2, 3], n_runs=3, random_state=5, n_jobs=1, n_threads=1)
    two = fit_many(X, [2, 3], n_runs=3, random_state=5, n_jobs=2)
    assert one.n_jobs == 1 and two.n_jobs == 2
    for a, b in zip(one, two):
        assert (a.rank, a.seed) == (b.rank, b.seed)
        np.testing.assert_array_equal(a.W, b.W)
        np.testing.assert_array_equal(a.H, b.H)
        assert a.n_iter == b.n_iter


def test_a_loop_on_every_thread_agrees_to_rounding():
    # n_jobs=1 runs each fit on every core (NMF's default n_threads): BLAS rounding only
    X = _dense(4, m=300, n=200)
    loop = fit_many(X, 3, n_runs=2, random_state=1, n_jobs=1, solver="mu", tol=0, max_iter=50)
    side = fit_many(X, 3, n_runs=2, random_state=1, n_jobs=2, solver="mu", tol=0, max_iter=50)
    for a, b in zip(loop, side):
        np.testing.assert_allclose(a.H, b.H, rtol=1e-8, atol=1e-12)
        np.testing.assert_allclose(a.W, b.W, rtol=1e-8, atol=1e-12)


def test_seeds_drawn_from_random_state_are_reproducible():
    X = _dense()
    a = fit_many(X, 2, n_runs=4, random_state=11, keep="none")
    b = fit_many(X, 2, n_runs=4, random_state=11, keep="none")
    expected = check_random_state(11).randint(np.iinfo(np.int32).max, size=4)
    np.testing.assert_array_equal(a.seeds, expected)
    np.testing.assert_array_equal(a.seeds, b.seeds)
    assert [r.loss for r in a] == [r.loss for r in b]
    # a RandomState is drawn from (and advanced), None draws new seeds
    rs = np.random.RandomState(11)
    c = fit_many(X, 2, n_runs=4, random_state=rs, keep="none")
    np.testing.assert_array_equal(c.seeds, expected)
    d = fit_many(X, 2, n_runs=4, random_state=rs, keep="none")
    assert not np.array_equal(d.seeds, expected)


def test_a_sequence_of_seeds_is_used_as_given_at_every_rank():
    X = _dense()
    seeds = [3, 0, 2**32 - 1, np.int64(42)]
    batch = fit_many(X, [3, 2], random_state=seeds, keep="H")
    np.testing.assert_array_equal(batch.seeds, [3, 0, 2**32 - 1, 42])
    assert [(r.rank, r.seed) for r in batch] == [(k, int(s)) for k in (2, 3) for s in seeds]
    batch2 = fit_many(X, 2, n_runs=2, random_state=np.array([5, 6]))
    np.testing.assert_array_equal(batch2.seeds, [5, 6])


def test_input_is_not_modified():
    for X in (_with_nan(), _sparse(), _dense(dtype=np.float32), np.asfortranarray(_dense())):
        before = X.copy() if sp.issparse(X) else np.array(X, order="K")
        fit_many(X, [2, 3], n_runs=2, random_state=0, n_jobs=2)
        if sp.issparse(X):
            assert (X != before).nnz == 0 and X.format == before.format
        else:
            np.testing.assert_array_equal(X, before)
            assert X.flags.f_contiguous == before.flags.f_contiguous


def test_a_sparse_X_is_never_densified():
    # 200000 x 50000: 80 GB dense; the fit needs a few MB
    rng = np.random.default_rng(0)
    m, n, nnz = 200_000, 50_000, 20_000
    X = sp.csr_matrix((rng.random(nnz) + 0.5, (rng.integers(0, m, nnz), rng.integers(0, n, nnz))),
                      shape=(m, n))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        batch = fit_many(X, 2, n_runs=2, random_state=0, max_iter=3, keep="H")
    assert batch.stack().shape == (2, 2, n)


def test_keep():
    X = _dense()
    both = fit_many(X, 3, n_runs=2, random_state=0)
    only_H = fit_many(X, 3, n_runs=2, random_state=0, keep="H")
    only_W = fit_many(X, 3, n_runs=2, random_state=0, keep="W")
    none = fit_many(X, 3, n_runs=2, random_state=0, keep="none")
    for b, h, w, z in zip(both, only_H, only_W, none):
        assert h.W is None and w.H is None and z.W is None and z.H is None
        np.testing.assert_array_equal(h.H, b.H)
        np.testing.assert_array_equal(w.W, b.W)
        assert z.loss == b.loss and z.n_iter == b.n_iter
    assert only_H.components().shape == (6, X.shape[1])
    with pytest.raises(ValueError, match="keep='H'.*keep='W'|do not hold W"):
        only_H.labels(axis=0)
    with pytest.raises(ValueError, match="do not hold H"):
        only_W.components()
    assert only_W.labels(axis=0).shape == (2, X.shape[0])


def test_consensus_helpers():
    X = _dense()
    batch = fit_many(X, [2, 3], n_runs=4, random_state=3)
    runs = batch.runs_of(3)
    assert [r.rank for r in runs] == [3] * 4
    C = batch.components(3)
    assert C.shape == (12, X.shape[1])
    np.testing.assert_array_equal(C[3:6], runs[1].H)  # run i at rows i*k .. (i+1)*k
    Cn = batch.components(3, normalize=True)
    np.testing.assert_allclose(np.linalg.norm(Cn, axis=1), 1.0)
    assert batch.stack(2, "W").shape == (4, X.shape[0], 2)
    best = batch.best(3)
    assert best.loss == min(r.loss for r in runs)
    L = batch.labels(3, axis=1)
    assert L.shape == (4, X.shape[1]) and L.max() <= 2
    np.testing.assert_array_equal(L[0], np.argmax(runs[0].H, axis=0))
    assert consensus_matrix(batch.labels(3)).shape == (X.shape[0],) * 2
    t = batch.table
    assert list(t["rank"]) == [2] * 4 + [3] * 4
    np.testing.assert_array_equal(t["loss"], [r.loss for r in batch])
    assert "8 runs" in str(batch)
    with pytest.raises(ValueError, match="rank is needed"):
        batch.best()
    with pytest.raises(ValueError, match=r"one of the batch's ranks \[2, 3\]; got 5"):
        batch.components(5)
    assert isinstance(batch, FitBatch)


def test_one_convergence_warning_for_the_batch():
    X = _dense()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        batch = fit_many(X, [2, 3], n_runs=3, random_state=0, solver="mu", max_iter=5)
    conv = [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert len(conv) == 1
    assert "6 of 6 runs" in str(conv[0].message)
    assert not any(r.converged for r in batch)


def test_deterministic_init_warns():
    X = _dense()
    with pytest.warns(RuntimeWarning, match="same start"):
        batch = fit_many(X, 2, n_runs=2, random_state=0, init="nndsvda")
    np.testing.assert_allclose(batch[0].H, batch[1].H, rtol=1e-9, atol=1e-12 * batch[0].H.max())
    with pytest.warns(RuntimeWarning, match="same start"):
        fit_many(X, 2, n_runs=2, random_state=0, init=None)  # NMF's default: nndsvda here
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        fit_many(X, 2, n_runs=2, random_state=0, init="nndsvda", shuffle=True)
        fit_many(X, 2, n_runs=2, random_state=0, init="nndsvdar")


def test_progress_bar(capsys):
    fit_many(_dense(), 2, n_runs=3, random_state=0, progress=True)
    assert "fit_many" in capsys.readouterr().err


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(n_components=[]), ValueError, "n_components must name at least one rank"),
    (dict(n_components=[2, 0]), ValueError, "n_components must be ints >= 1; got 0"),
    (dict(n_components=[2, 2]), ValueError, "distinct"),
    (dict(n_components=2.5), TypeError, "n_components must be an int"),
    (dict(n_components=True), TypeError, "n_components must be an int >= 1 or an iterable"),
    (dict(n_components=[2, True]), TypeError, "n_components must be ints >= 1; got True"),
    (dict(n_runs=-3), ValueError, "n_runs must be an int >= 1 or None; got -3"),
    (dict(n_runs=0), ValueError, "n_runs must be an int >= 1"),
    (dict(n_runs=2.0), TypeError, "n_runs must be an int"),
    (dict(n_runs=None), ValueError, "n_runs is needed"),
    (dict(n_runs=None, random_state=[]), ValueError, "at least one seed"),
    (dict(n_runs=None, random_state=[1, -1]), ValueError,
     r"seeds must be ints in \[0, 2\*\*32 - 1\]; got -1"),
    (dict(n_runs=None, random_state=[1, 2.5]), TypeError, "seeds must be ints"),
    (dict(n_runs=3, random_state=[1, 2]), ValueError, "n_runs=3 does not match the 2 seeds"),
    (dict(random_state="abc"), ValueError, "random_state must be None, an int"),
    (dict(n_jobs=0), ValueError, "n_jobs must be None, -1 or a positive int; got 0"),
    (dict(n_jobs="two"), TypeError, "n_jobs must be None, -1 or a positive int; got 'two'"),
    (dict(keep="all"), ValueError, "keep"),
    (dict(progress="yes"), TypeError, "progress must be a bool"),
    (dict(random_state_=1), TypeError, r"unknown NMF parameter\(s\) \['random_state_'\]"),
    (dict(init="custom"), ValueError, "init='custom'"),
    (dict(solver="als", beta_loss="kullback-leibler"), ValueError, "beta_loss"),
    (dict(max_iter=0), ValueError, "max_iter"),
])
def test_errors(kwargs, exc, match):
    args = dict(n_components=2, n_runs=2, random_state=0)
    args.update(kwargs)
    X = _dense()
    with pytest.raises(exc, match=match):
        fit_many(X, args.pop("n_components"), args.pop("n_runs"), **args)


def test_X_errors_name_X():
    with pytest.raises(ValueError, match="[Nn]egative"):
        fit_many(-_dense(), 2, 2, random_state=0)


def test_exported():
    assert fastnmf.fit_many is fit_many and "fit_many" in fastnmf.__all__
