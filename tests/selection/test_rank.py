"""select_rank: rank recovery on synthetic data of known rank, consensus statistics
against hand-checked values, reproducibility, errors."""

import numpy as np
import pytest
import scipy.sparse as sp

import fastnmf
from fastnmf import consensus_matrix, cophenetic_correlation, dispersion, select_rank
from fastnmf.data.missing import from_dense
from fastnmf.selection.holdout import hold_out_observed as _hold_out_observed
from fastnmf.selection.rank import _elbow, _one_se_best


def _dense(k, seed, m=150, n=100, noise=0.1):
    rng = np.random.default_rng(seed)
    L = rng.random((m, k)) @ rng.random((k, n))
    return np.abs(L + noise * L.mean() * rng.standard_normal(L.shape))


def _sparse_counts(k, seed, m=240, n=180):
    rng = np.random.default_rng(seed)
    W = rng.random((m, k)) * (rng.random((m, k)) < 0.4)
    H = rng.random((k, n)) * (rng.random((k, n)) < 0.4)
    L = W @ H
    return sp.csr_matrix(rng.poisson(L / L[L > 0].mean() * 5).astype(np.float64))


@pytest.mark.parametrize("k", [3, 6])
def test_cv_finds_the_true_rank_of_dense_data(compiled_backend, k):
    X = _dense(k, seed=k)
    res = select_rank(X, range(2, 10), n_repeats=3, random_state=0, backend=compiled_backend)
    assert res.best_rank == k
    assert res.elbow_rank == k
    assert res.table["test_error"].shape == (8,) and res.test_errors.shape == (8, 3)
    # past the true rank the fit improves on the fitted entries only
    i = k - 2
    assert res.table["train_error"][-1] < res.table["train_error"][i]


@pytest.mark.parametrize("k,beta", [(3, "frobenius"), (5, "kullback-leibler")])
def test_cv_finds_the_true_rank_of_sparse_counts(compiled_backend, k, beta):
    # absent entries are zeros (data): fitted on X minus the held-out entries
    S = _sparse_counts(k, seed=k)
    res = select_rank(S, range(2, 9), beta_loss=beta, random_state=0, backend=compiled_backend)
    assert res.best_rank == k


def test_cv_finds_the_true_rank_with_unobserved_entries(compiled_backend):
    rng = np.random.default_rng(2)
    L = rng.random((600, 4)) @ rng.random((4, 300))
    S = sp.random(600, 300, density=0.15, random_state=3, format="csr")
    S.data[:] = L[np.repeat(np.arange(600), np.diff(S.indptr)), S.indices]
    res = select_rank(S, range(2, 8), missing="unobserved", random_state=0,
                      backend=compiled_backend)
    assert res.best_rank == 4
    # dense X with NaN for the unknown entries: the same result
    D = np.full(L.shape, np.nan)
    D[np.repeat(np.arange(600), np.diff(S.indptr)), S.indices] = S.data
    res2 = select_rank(D, range(2, 8), random_state=0, backend=compiled_backend)
    np.testing.assert_allclose(res2.table["test_error"], res.table["test_error"], rtol=1e-8)


def test_consensus_of_clustered_data(compiled_backend):
    """Rows in 4 clear groups (each row one component, plus noise): at rank 4 the consensus
    is the groups' block structure, and best_rank follows Brunet's rule on the table.  Not
    asserted: that the rule picks 4.  On this data the cophenetic correlation is within
    0.003 of 1 at every rank from 2 to 7, so which rank it picks depends on the restarts'
    local minima (hals: 4; cd, 'auto' on dense data: 7, cophenetic 1.0 at every rank)."""
    rng = np.random.default_rng(0)
    H = rng.random((4, 60)) * (rng.random((4, 60)) < 0.5) + 0.01
    groups = np.repeat(np.arange(4), 30)
    X = H[groups] * (1 + rng.random((120, 1))) + 0.02 * rng.random((120, 60))
    res = select_rank(X, range(2, 8), method="consensus", n_repeats=8, random_state=0,
                      backend=compiled_backend)
    coph = np.asarray(res.table["cophenetic"])
    drops = coph[:-1] - coph[1:]
    ranks = np.arange(2, 8)
    expected = ranks[np.argmax(drops)] if drops.max() > 0 else ranks[coph == coph.max()][-1]
    assert res.best_rank == expected
    assert res.table["cophenetic"][2] > 0.99 and res.table["dispersion"][2] > 0.99
    C = res.consensus[4]
    assert C.shape == (120, 120) and C.dtype == np.float32
    # the consensus of the right rank is the block structure of the groups
    np.testing.assert_array_equal(C == 1, groups[:, None] == groups[None, :])
    both = select_rank(X, range(2, 8), method="both", n_repeats=4, random_state=0,
                       backend=compiled_backend)
    assert {"test_error", "cophenetic", "dispersion"} <= set(both.table)
    assert both.best_rank == 4


def test_consensus_statistics_on_a_hand_checked_example():
    # three runs over four items
    labels = [[0, 0, 1, 1], [0, 0, 1, 1], [1, 0, 0, 0]]
    C = consensus_matrix(labels)
    expected = np.array([[1, 2 / 3, 0, 0],
                         [2 / 3, 1, 1 / 3, 1 / 3],
                         [0, 1 / 3, 1, 1],
                         [0, 1 / 3, 1, 1]])
    np.testing.assert_allclose(C, expected)
    # dispersion, mean of 4 (C - 1/2)^2: ten entries at 0 or 1 (1 each), six at 1/3 or
    # 2/3 (1/9 each)
    assert dispersion(C) == pytest.approx((10 + 6 / 9) / 16)
    # average linkage of D = 1 - C (pairs 01 02 03 12 13 23: 1/3 1 1 2/3 2/3 0): {2,3}
    # at 0, {0,1} at 1/3, then the two groups at the mean of 1, 1, 2/3, 2/3 = 5/6
    d = np.array([1 / 3, 1, 1, 2 / 3, 2 / 3, 0])
    coph = np.array([1 / 3, 5 / 6, 5 / 6, 5 / 6, 5 / 6, 0])
    assert cophenetic_correlation(C) == pytest.approx(np.corrcoef(d, coph)[0, 1])
    assert cophenetic_correlation(C) < 1
    # a consensus the tree cannot reproduce: distances 0.1, 0.5, 0.6 (a-b, a-c, b-c)
    # join a-b at 0.1, then c at the average 0.55: cophenetic (0.1, 0.55, 0.55)
    C2 = 1 - np.array([[0, 0.1, 0.5, 0.9], [0.1, 0, 0.6, 0.9], [0.5, 0.6, 0, 0.9],
                       [0.9, 0.9, 0.9, 0]])
    d = np.array([0.1, 0.5, 0.9, 0.6, 0.9, 0.9])
    coph = np.array([0.1, 0.55, 0.9, 0.55, 0.9, 0.9])
    assert cophenetic_correlation(C2) == pytest.approx(np.corrcoef(d, coph)[0, 1])
    perfect = consensus_matrix([[0, 0, 1, 1, 2]] * 5)
    assert dispersion(perfect) == 1.0 and cophenetic_correlation(perfect) == pytest.approx(1.0)


def test_rank_rules():
    errors = np.array([[5.0, 5.2, 4.8], [2.0, 2.1, 1.9], [1.95, 2.05, 1.9], [3.0, 3, 3]])
    assert _one_se_best([2, 3, 4, 5], errors) == 3  # 4 is lower, but within one SE of 3
    assert _one_se_best([2, 3, 4, 5], errors[:, :1]) == 4  # one hold-out: the minimum
    assert _elbow([1, 2, 3, 4, 5, 6], [10, 6, 2, 1.8, 1.6, 1.5]) == 3


def test_hold_out_keeps_an_entry_in_every_row_and_column():
    X = np.random.default_rng(0).random((30, 20))
    X[:, 0] = np.nan
    X[:, 0][:2] = 1.0  # column 0 has two observed entries only
    obs = from_dense(X, None, "nan")
    for seed in range(20):
        hold = _hold_out_observed(obs, 0.6, np.random.default_rng(seed))
        assert np.all(np.diff(hold.train.X.indptr) > 0)
        assert np.all(np.diff(hold.train.XT.indptr) > 0)
        assert hold.train.nnz + len(hold.rows) == obs.nnz
        np.testing.assert_array_equal(hold.values, X[hold.rows, hold.cols])


def test_dense_hold_out_keeps_a_known_entry_in_every_row_and_column():
    from fastnmf.data.missing import unknown_pattern
    from fastnmf.selection.holdout import hold_out_dense as _hold_out_dense

    X = np.random.default_rng(0).random((30, 20))
    X[:, 0] = np.nan
    X[:2, 0] = 1.0  # column 0 has two known entries only
    T = unknown_pattern(X, None, "nan")
    for seed in range(20):
        hold = _hold_out_dense(X, T, 0.6, np.random.default_rng(seed))
        unknown = hold.train.T.toarray() != 0
        assert (~unknown).any(axis=1).all() and (~unknown).any(axis=0).all()
        assert unknown[np.isnan(X)].all()  # the missing entries stay unknown
        assert unknown[hold.rows, hold.cols].all() and not np.isnan(X[hold.rows, hold.cols]).any()
        np.testing.assert_array_equal(hold.values, X[hold.rows, hold.cols])
        assert np.all(hold.train.X[unknown] == 0) and not np.isnan(hold.train.X).any()


@pytest.mark.parametrize("cd", [True, False])
def test_sparse_hold_out_keeps_an_entry_in_every_row_and_column(cd):
    from fastnmf.selection.holdout import hold_out_complement as _hold_out_complement

    X = sp.random(6, 5, density=0.5, random_state=0, format="csr") * 3
    D = X.toarray()
    for seed in range(20):
        hold = _hold_out_complement(X, 0.97, 10**6, np.random.default_rng(seed), cd=cd)
        unknown = np.zeros(X.shape, bool)
        unknown[hold.rows, hold.cols] = True
        assert (~unknown).any(axis=1).all() and (~unknown).any(axis=0).all()
        np.testing.assert_array_equal(hold.values, D[hold.rows, hold.cols])
        train = hold.train.X if cd else hold.train.X_train
        np.testing.assert_array_equal(train.toarray(), np.where(unknown, 0, D))
        assert hold.train.n_missing == unknown.sum()


def test_reproducible_and_independent_of_n_jobs(compiled_backend):
    X = _dense(3, seed=1, m=80, n=60)
    a = select_rank(X, [2, 3, 4], method="both", n_repeats=2, random_state=5, n_jobs=1,
                    backend=compiled_backend)
    b = select_rank(X, [2, 3, 4], method="both", n_repeats=2, random_state=5, n_jobs=2,
                    backend=compiled_backend)
    for key in a.table:
        np.testing.assert_array_equal(a.table[key], b.table[key])
    c = select_rank(X, [2, 3, 4], n_repeats=2, random_state=6, backend=compiled_backend)
    assert not np.array_equal(a.table["test_error"], c.table["test_error"])
    assert "best_rank=" in str(a)


def test_plot(tmp_path):
    mpl = pytest.importorskip("matplotlib")
    mpl.use("Agg")
    X = _dense(3, seed=1, m=60, n=40)
    res = select_rank(X, [2, 3, 4], method="both", n_repeats=2, random_state=0)
    axes = res.plot()
    assert len(axes) == 2
    assert axes[0].get_xlabel() == "rank"
    assert len(axes[0].lines) >= 2 and len(axes[1].lines) == 2
    axes[0].figure.savefig(tmp_path / "ranks.png")
    assert (tmp_path / "ranks.png").stat().st_size > 0


def test_consensus_size_limit(monkeypatch):
    import fastnmf.selection.rank as rank

    monkeypatch.setattr(rank, "MAX_CONSENSUS_ITEMS", 12)
    X = _dense(2, seed=0, m=20, n=10)
    with pytest.raises(ValueError, match="20 rows is more than 12; subsample them"):
        select_rank(X, [2], method="both")
    res = select_rank(X, [2], method="consensus", axis=1, n_repeats=2, random_state=0)
    assert res.consensus[2].shape == (10, 10)


def test_errors():
    X = _dense(2, seed=0, m=20, n=10)
    with pytest.raises(ValueError, match="method must be one of"):
        select_rank(X, [2], method="bic")
    with pytest.raises(ValueError, match="ranks must be ints >= 1"):
        select_rank(X, [0, 2])
    with pytest.raises(ValueError, match="ranks must not be empty"):
        select_rank(X, [])
    with pytest.raises(ValueError, match="ranks must be distinct"):
        select_rank(X, [2, 2])
    with pytest.raises(ValueError, match=r"at most min\(n_samples, n_features\) = 10"):
        select_rank(X, [2, 11])
    with pytest.raises(ValueError, match=r"test_fraction must be in \(0, 1\)"):
        select_rank(X, [2], test_fraction=0.0)
    with pytest.raises(ValueError, match="beta_loss must be 'frobenius' or 'kullback-leibler'"):
        select_rank(X, [2], beta_loss="itakura-saito")
    with pytest.raises(ValueError, match="held-out entries treated as missing: "
                                         "solver='pgd' does not fit missing entries"):
        select_rank(X, [2], solver="pgd")
    with pytest.raises(ValueError, match="held-out entries treated as missing: "
                                         "solver='emu' does not fit missing entries"):
        select_rank(X, [2], beta_loss="kullback-leibler", solver="emu")
    with pytest.raises(ValueError, match="axis must be 0"):
        select_rank(X, [2], method="consensus", axis=2)
    with pytest.raises(ValueError, match="n_repeats must be"):
        select_rank(X, [2], n_repeats=0)
    with pytest.raises(ValueError, match="n_jobs must be None, -1 or a positive int"):
        select_rank(X, [2], n_jobs=0)
    with pytest.raises(ValueError, match="labels must have shape"):
        consensus_matrix([1, 2, 3])
    assert fastnmf.RankSelection is not None


def test_defaults_find_the_rank_where_nmf_defaults_stop_early(compiled_backend):
    # uniform random factors converge slowly: with NMF's tol=1e-4 and max_iter=200 the
    # inner fits stop early and select_rank chose 9 here; its defaults are tighter
    rng = np.random.default_rng(8)
    X = rng.random((300, 8)) @ rng.random((8, 200))
    X = np.clip(X + 0.05 * X.mean() * rng.standard_normal(X.shape), 0, None)
    res = select_rank(X, range(6, 12), random_state=0, backend=compiled_backend)
    assert res.best_rank == 8


def _blown_up():
    ranks = np.arange(1, 8)
    test = np.array([0.5, 0.2, 0.1, 0.11, 0.12, 6e6, 0.13])
    train = np.array([0.45, 0.18, 0.08, 0.07, 0.06, 0.05, 0.04])
    table = {"rank": ranks, "test_error": test, "test_error_std": np.full(7, 0.01),
             "train_error": train}
    return fastnmf.RankSelection(ranks=ranks, method="cv", table=table, best_rank=3,
                                 elbow_rank=3, test_errors=np.tile(test[:, None], (1, 3)))


def test_plot_stays_readable_when_a_rank_blows_up():
    mpl = pytest.importorskip("matplotlib")
    mpl.use("Agg")
    ax = _blown_up().plot()
    low, high = ax.get_ylim()
    assert 0.5 <= high <= 1.0 and low <= 0.04  # every sane point shown, 6e6 off scale
    marked = [ln for ln in ax.lines if ln.get_label() == "off scale"]
    assert len(marked) == 1 and list(marked[0].get_xdata()) == [6]
    assert any("6e+06" in t.get_text() for t in ax.texts)
    # nothing blown up: nothing clipped, the whole curve inside the axis
    res = _blown_up()
    res.table["test_error"] = np.array([0.5, 0.2, 0.1, 0.11, 0.12, 0.125, 0.13])
    ax = res.plot()
    assert ax.get_ylim()[1] >= 0.5
    assert not [ln for ln in ax.lines if ln.get_label() == "off scale"]


def _thin(seed=0, m=200, n=300, k=4):
    """Ratings 1-5 of a rank-k model; items rated by 1 to ~30 users."""
    rng = np.random.default_rng(seed)
    V = rng.random((m, k)) @ rng.random((k, n))
    V = 1 + 4 * (V - V.min()) / np.ptp(V)
    pop = rng.pareto(1.0, n) + 0.05
    rows, cols = [], []
    for i in range(m):
        c = rng.choice(n, size=rng.integers(10, 40), replace=False, p=pop / pop.sum())
        rows.append(np.full(len(c), i))
        cols.append(c)
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    vals = np.clip(np.rint(V[rows, cols] + 0.4 * rng.standard_normal(len(rows))), 1, 5)
    S = sp.csr_matrix((vals, (rows, cols)), shape=(m, n))
    return S[:, np.flatnonzero(np.diff(S.tocsc().indptr) > 0)].tocsr()


def test_select_params_picks_a_penalty_for_thin_rows(compiled_backend):
    from fastnmf import select_params
    from fastnmf.selection.rank import DEFAULT_ALPHA_FACTORS

    S = _thin()
    res = select_params(S, [2, 4, 8], missing="unobserved", n_repeats=2, max_iter=200,
                        random_state=0, backend=compiled_backend)
    mean = S.data.mean()
    np.testing.assert_allclose(res.alphas, mean * np.asarray(DEFAULT_ALPHA_FACTORS))
    assert res.table["rank"].shape == (18,) and res.test_errors.shape == (3, 6, 2)
    np.testing.assert_array_equal(res.table["rank"], np.repeat([2, 4, 8], 6))
    err = res.test_errors.mean(axis=2)
    i, a = list(res.ranks).index(res.best_rank), list(res.alphas).index(res.best_alpha)
    assert err[i, a] == np.nanmin(err)
    assert res.best_alpha > 0 and err[i, a] < err[:, 0].min()  # unpenalized fits lose
    assert res.best_params == {"n_components": res.best_rank, "alpha_W": res.best_alpha}
    assert "best_alpha=" in str(res)
    again = select_params(S, [2, 4, 8], missing="unobserved", n_repeats=2, max_iter=200,
                          random_state=0, n_jobs=1, backend=compiled_backend)
    np.testing.assert_array_equal(again.test_errors, res.test_errors)


def test_select_params_with_one_alpha_is_select_rank():
    from fastnmf import select_params

    X = _dense(3, seed=2, m=60, n=40)
    a = select_params(X, [2, 3], alphas=[0.01], n_repeats=2, max_iter=100, random_state=0)
    b = select_rank(X, [2, 3], alpha_W=0.01, n_repeats=2, max_iter=100, random_state=0)
    np.testing.assert_array_equal(a.test_errors[:, 0, :], b.test_errors)


def test_select_params_errors():
    from fastnmf import select_params

    X = _dense(2, seed=0, m=20, n=10)
    with pytest.raises(ValueError, match="alphas must not be empty"):
        select_params(X, [2], alphas=[])
    with pytest.raises(ValueError, match=r"alphas must be a real number >= 0\.0; got -1"):
        select_params(X, [2], alphas=[0.1, -1])
    with pytest.raises(ValueError, match="alphas must be distinct"):
        select_params(X, [2], alphas=[0.1, 0.1])
    with pytest.raises(TypeError, match="alphas must be an iterable"):
        select_params(X, [2], alphas=0.1)
