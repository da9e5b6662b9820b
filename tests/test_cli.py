"""The console script: `fastnmf demo` and `fastnmf config`."""

import re
import subprocess
import sys
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_digits
from sklearn.decomposition import NMF as SklearnNMF
from sklearn.exceptions import ConvergenceWarning

import fastnmf
from fastnmf._cli import demo_loss, load_docstrings_tfidf, main


def _table_rows(out):
    """{library: (solver cell, iterations, loss)} from the demo's table(s), in order."""
    rows = []
    for line in out.splitlines():
        m = re.match(r"^(scikit-learn|fastnmf)\s{2,}(.+?)\s{2,}(\d+)\s{2,}([\d.]+ m?s)\s{2,}(\S+)$",
                     line)
        if m:
            rows.append((m.group(1), m.group(2), int(m.group(3)), float(m.group(5))))
    return rows


def _ratio_lines(out):
    return [(float(a), float(b)) for a, b in re.findall(
        r"fastnmf vs scikit-learn: time ratio ([\d.]+) \([\d.]+x (?:faster|slower)\), "
        r"loss ratio ([\d.]+)", out)]


def _fit(est, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        W = est.fit_transform(X)
    return est, W


def _direct_loss(X, W, H):
    return 0.5 * float(np.sum((X - W @ H) ** 2))


def test_demo_digits_table_matches_the_fits(capsys, tmp_path):
    out_png = tmp_path / "components.png"
    assert main(["demo", "--data", "digits", "--max-iter", "20", "--repeats", "1",
                 "--output", str(out_png)]) == 0
    out = capsys.readouterr().out
    rows = _table_rows(out)
    assert [r[0] for r in rows] == ["scikit-learn", "fastnmf"], out

    # The same fits, made here: defaults but max_iter, random_state=0.
    X = load_digits().data
    sk, W_sk = _fit(SklearnNMF(16, random_state=0, max_iter=20), X)
    fn, W_fn = _fit(fastnmf.NMF(16, random_state=0, max_iter=20), X)
    loss_sk = _direct_loss(X, W_sk, sk.components_)
    loss_fn = _direct_loss(X, W_fn, fn.components_)

    (_, sk_solver, sk_iter, sk_loss), (_, fn_solver, fn_iter, fn_loss) = rows
    assert sk_solver == "cd" and sk_iter == sk.n_iter_
    assert fn_solver.startswith(f"{fn.solver_} ('auto' chose it), {fn.backend_}")
    assert fn_iter == fn.n_iter_
    assert sk_loss == pytest.approx(loss_sk, rel=1e-5)
    assert fn_loss == pytest.approx(loss_fn, rel=1e-5)
    [(time_ratio, loss_ratio)] = _ratio_lines(out)
    assert loss_ratio == pytest.approx(loss_fn / loss_sk, abs=1.5e-4)
    assert time_ratio > 0
    capped = [name for name, est in (("scikit-learn", sk), ("fastnmf", fn)) if est.n_iter_ >= 20]
    assert (f"({' and '.join(capped)} stopped at max_iter=20, not at tol)" in out) == bool(capped)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert not out_png.exists()
    else:
        assert out_png.exists() and out_png.stat().st_size > 0


def test_demo_solver_option_is_used_by_both(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--data", "digits", "--solver", "mu", "--max-iter", "30",
                 "--repeats", "1"]) == 0
    assert list(tmp_path.iterdir()) == []  # no --output: the demo writes nothing
    out = capsys.readouterr().out
    rows = _table_rows(out)
    assert rows[0][1] == "mu" and rows[1][1].split(",")[0] == "mu", out
    assert "'auto' chose" not in out
    # scikit-learn's mu and fastnmf's mu run the same iterates: the same loss to rounding.
    assert rows[1][3] == pytest.approx(rows[0][3], rel=1e-5)


def test_demo_loss_dense_and_sparse_agree():
    rng = np.random.default_rng(0)
    X = rng.random((50, 30)) * (rng.random((50, 30)) < 0.3)
    W, H = rng.random((50, 4)), rng.random((4, 30))
    direct = _direct_loss(X, W, H)
    assert demo_loss(X, W, H) == pytest.approx(direct, rel=1e-12)
    assert demo_loss(sp.csr_matrix(X), W, H) == pytest.approx(direct, rel=1e-10)


def test_docstrings_corpus_and_its_demo(capsys):
    X, words, names = load_docstrings_tfidf()
    assert sp.issparse(X) and X.format == "csr"
    assert X.shape == (len(names), len(words)) and X.shape[0] > 500
    assert X.data.min() > 0
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
    assert np.allclose(norms[norms > 0], 1.0)
    assert "matrix" in set(words) and len(set(names)) == len(names)

    assert main(["demo", "--data", "docstrings", "--max-iter", "5", "--repeats", "1",
                 "--no-plot"]) == 0
    out = capsys.readouterr().out
    assert f"{X.shape[0]} x {X.shape[1]} sparse CSR" in out
    assert [r[0] for r in _table_rows(out)] == ["scikit-learn", "fastnmf"]
    topics = re.findall(r"^    \d+: (.+)$", out, flags=re.M)
    assert len(topics) == 5 and all(set(t.split()) <= set(words) for t in topics)


@pytest.mark.parametrize("argv, flag", [
    (["--n-components", "0"], "--n-components"),
    (["--data", "digits", "--n-components", "65"], "--n-components"),
    (["--max-iter", "0"], "--max-iter"),
    (["--threads", "0"], "--threads"),
])
def test_demo_bad_values_exit_2(capsys, argv, flag):
    assert main(["demo", *argv, "--no-plot"]) == 2
    assert flag in capsys.readouterr().err


def test_config_and_module_entry_point():
    assert main(["config"]) == 0
    done = subprocess.run([sys.executable, "-m", "fastnmf", "config"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "backends" in done.stdout
    if fastnmf.available_backends() and "numba" in fastnmf.available_backends():
        from fastnmf._kernels.numba import _cache
        assert f"numba cache: {_cache.CACHE_DIR}" in done.stdout or _cache.CACHE_DIR is None
