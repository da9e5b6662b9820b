"""The file commands: ``fastnmf fit``, ``rank`` and ``transform`` (fastnmf._commands), and the
readers and writers behind them (fastnmf.files)."""

import json
import os
import signal
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning

import fastnmf
from fastnmf import files
from fastnmf._cli import main


@pytest.fixture(scope="module")
def digits():
    X = load_digits().data
    return X[:400]


def _nmf(X, k, **kw):
    est = fastnmf.NMF(k, **{"random_state": 0, **kw})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        W = est.fit_transform(X)
    return est, W


def _write_csv(path, X, rows=None, cols=None, sep=","):
    with open(path, "w") as f:
        if cols is not None:
            f.write(sep.join(([""] if rows is not None else []) + cols) + "\n")
        for i, r in enumerate(X):
            cells = ["" if np.isnan(v) else repr(float(v)) for v in r]
            f.write(sep.join(([rows[i]] if rows is not None else []) + cells) + "\n")


def _run(capsys, *argv):
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def _one_line_error(err):
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


# ------------------------------------------------------------------------------- fit
@pytest.mark.parametrize("fmt", ["npy", "npz", "npz-sparse", "mtx", "mtx-sparse", "csv"])
def test_fit_writes_the_estimators_factors(tmp_path, capsys, digits, fmt):
    X = digits
    path = tmp_path / {"npy": "X.npy", "npz": "X.npz", "npz-sparse": "X.npz", "mtx": "X.mtx",
                       "mtx-sparse": "X.mtx", "csv": "X.csv"}[fmt]
    if fmt == "npy":
        np.save(path, X)
    elif fmt == "npz":
        np.savez(path, counts=X)
    elif fmt == "npz-sparse":
        sp.save_npz(path, sp.csr_matrix(X))
    elif fmt == "mtx":
        scipy.io.mmwrite(path, X)
    elif fmt == "mtx-sparse":
        scipy.io.mmwrite(path, sp.coo_matrix(X))
    else:
        _write_csv(path, X)
    out = tmp_path / "out"
    rc, stdout, _ = _run(capsys, "fit", str(path), "-k", "6", "-o", str(out), "--no-plot",
                         "--seed", "3", "--max-iter", "50")
    assert rc == 0
    Xin = sp.csr_matrix(X) if "sparse" in fmt else X
    est = fastnmf.NMF(6, random_state=3, max_iter=50)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        W = est.fit_transform(Xin)
    family = files.family_of(path)
    if family == "npy":
        W2, H2 = np.load(out / "W.npy"), np.load(out / "H.npy")
    elif family == "npz":
        W2, H2 = np.load(out / "W.npz")["W"], np.load(out / "H.npz")["H"]
    elif family == "mtx":
        W2, H2 = scipy.io.mmread(out / "W.mtx"), scipy.io.mmread(out / "H.mtx")
    else:
        W2 = np.loadtxt(out / "W.csv", delimiter=",", skiprows=1, usecols=range(1, 7))
        H2 = np.loadtxt(out / "H.csv", delimiter=",", skiprows=1, usecols=range(1, 65))
    np.testing.assert_allclose(W2, W, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(H2, est.components_, rtol=1e-12, atol=1e-300)
    report = json.loads((out / "report.json").read_text())
    assert report["result"]["solver"] == est.solver_
    assert report["result"]["n_iter"] == est.n_iter_
    assert report["result"]["reconstruction_err"] == pytest.approx(est.reconstruction_err_)
    assert len(report["result"]["loss_history"]) == len(est.loss_history_)
    assert report["input"]["shape"] == list(X.shape)
    assert report["parameters"]["random_state"] == 3
    assert report["seed"] == 3
    assert report["argv"][:2] == ["fastnmf", "fit"]
    for key in ("versions", "machine", "timings_s", "peak_memory_mb"):
        assert report[key]
    assert set(report["outputs"]) == {p.name for p in out.iterdir()}
    model = fastnmf.load(out / "model.npz")
    np.testing.assert_array_equal(model.components_, est.components_)
    assert f"rank 6, solver {est.solver_}" in stdout


def test_fit_carries_text_names(tmp_path, capsys, digits):
    X = digits[:50]
    rows = [f"img{i}" for i in range(X.shape[0])]
    cols = [f"px{j}" for j in range(X.shape[1])]
    path = tmp_path / "X.tsv"
    _write_csv(path, X, rows, cols, sep="\t")
    out = tmp_path / "out"
    rc, _, _ = _run(capsys, "fit", str(path), "-k", "4", "-o", str(out), "--no-plot",
                    "--top", "3")
    assert rc == 0
    head = (out / "W.csv").read_text().splitlines()
    assert head[0] == ",NMF1,NMF2,NMF3,NMF4"
    assert [line.split(",")[0] for line in head[1:]] == rows
    hhead = (out / "H.csv").read_text().splitlines()
    assert hhead[0].split(",")[1:] == cols
    est, _ = _nmf(X, 4)
    top = (out / "top_features.txt").read_text().splitlines()
    assert len(top) == 4
    for i, line in enumerate(top):
        best = cols[int(np.argmax(est.components_[i]))]
        assert line.startswith(f"NMF{i + 1}: {best} (")


def test_text_reader_options(tmp_path):
    X = np.arange(12, dtype=float).reshape(3, 4)
    X[1, 2] = np.nan
    p = tmp_path / "a.csv"
    _write_csv(p, X)  # no names: all numbers
    m = files.read_matrix(p)
    assert m.row_names is None and m.col_names is None
    np.testing.assert_array_equal(np.isnan(m.X), np.isnan(X))
    np.testing.assert_array_equal(np.nan_to_num(m.X), np.nan_to_num(X))
    m = files.read_matrix(p, header="yes")  # the first row taken as names when told
    assert m.shape == (2, 4) and m.col_names == [repr(float(v)) for v in X[0]]
    p = tmp_path / "b.txt"
    p.write_text("1 2 3\n4 5 6\n")
    np.testing.assert_array_equal(files.read_matrix(p).X, [[1, 2, 3], [4, 5, 6]])
    p = tmp_path / "c.csv"
    p.write_text("1,2,3\n4,x,6\n")
    with pytest.raises(files.FileFormatError, match=r"c.csv: line 2, field 2: 'x' is not a number"):
        files.read_matrix(p)
    p.write_text("1,2,3\n4,5\n")
    with pytest.raises(files.FileFormatError, match="line 2 has 2 fields"):
        files.read_matrix(p)


def test_h5ad_names_layers_and_streaming(tmp_path, capsys, digits):
    anndata = pytest.importorskip("anndata")
    pd = pytest.importorskip("pandas")
    X = digits[:120]
    obs = pd.DataFrame({"label": np.arange(120) % 10}, index=[f"c{i}" for i in range(120)])
    var = pd.DataFrame(index=[f"g{j}" for j in range(64)])
    a = anndata.AnnData(X=sp.csr_matrix(X), obs=obs, var=var)
    a.layers["dense"] = X * 2
    path = tmp_path / "cells.h5ad"
    a.write_h5ad(path)
    m = files.read_matrix(path)
    assert m.streamed and m.row_names == list(obs.index) and m.col_names == list(var.index)
    m.close()
    m = files.read_matrix(path, key="dense", stream=False)
    assert not m.streamed
    np.testing.assert_array_equal(m.X, X * 2)
    with pytest.raises(files.FileFormatError, match="no layer 'nope'; its layers: \\['dense'\\]"):
        files.read_matrix(path, key="nope")
    out = tmp_path / "out"
    rc, _, _ = _run(capsys, "fit", str(path), "-k", "5", "-o", str(out), "--no-plot",
                    "--chunk-mb", "0.01", "--max-iter", "30")
    assert rc == 0
    r = anndata.read_h5ad(out / "factors.h5ad")
    assert list(r.obs_names) == list(obs.index) and list(r.var_names) == list(var.index)
    assert list(r.obs["label"]) == list(obs["label"])
    est = fastnmf.NMF(5, random_state=0, max_iter=30)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        W = est.fit_transform(sp.csr_matrix(X))
    # read by chunks of rows: the same iterates to rounding
    np.testing.assert_allclose(r.obsm["W"], W, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(r.varm["H"].T, est.components_, rtol=1e-6, atol=1e-8)
    report = json.loads((out / "report.json").read_text())
    assert report["input"]["streamed"] is True and report["input"]["sparse"] is True

    # transform with the saved model: W of new rows, names kept
    out2 = tmp_path / "out2"
    rc, _, _ = _run(capsys, "transform", str(out / "model.npz"), str(path), "-o", str(out2))
    assert rc == 0
    t = anndata.read_h5ad(out2 / "factors.h5ad")
    model = fastnmf.load(out / "model.npz")
    np.testing.assert_allclose(t.obsm["W"], model.transform(sp.csr_matrix(X)), rtol=1e-10)
    assert list(t.obs_names) == list(obs.index)


def test_h5_and_zarr(tmp_path, capsys, digits):
    h5py = pytest.importorskip("h5py")
    X = digits[:100]
    path = tmp_path / "x.h5"
    with h5py.File(path, "w") as f:
        f["a/X"] = X
        f["b/Y"] = X[:10]
    rc, _, err = _run(capsys, "fit", str(path), "-k", "3", "-o", str(tmp_path / "o"))
    assert rc == 2
    assert "holds 2 2-D datasets" in _one_line_error(err) and "--key" in err
    rc, _, _ = _run(capsys, "fit", str(path), "--key", "a/X", "-k", "3", "-o",
                    str(tmp_path / "o"), "--no-plot", "--max-iter", "20")
    assert rc == 0
    with h5py.File(tmp_path / "o" / "factors.h5") as f:
        W, H = f["W"][...], f["H"][...]
    est, W0 = _nmf(X, 3, max_iter=20)
    np.testing.assert_allclose(W, W0, rtol=1e-10)
    np.testing.assert_allclose(H, est.components_, rtol=1e-10)
    zarr = pytest.importorskip("zarr")
    z = zarr.open_array(str(tmp_path / "x.zarr"), mode="w", shape=X.shape, dtype="f8")
    z[...] = X
    rc, _, _ = _run(capsys, "fit", str(tmp_path / "x.zarr"), "-k", "3", "-o",
                    str(tmp_path / "oz"), "--no-plot", "--max-iter", "20")
    assert rc == 0
    g = zarr.open_group(str(tmp_path / "oz" / "factors.zarr"), mode="r")
    np.testing.assert_allclose(g["W"][...], W0, rtol=1e-10)


def test_rank_writes_select_rank_table(tmp_path, capsys, digits):
    X = digits[:200]
    np.save(tmp_path / "X.npy", X)
    out = tmp_path / "r"
    rc, stdout, _ = _run(capsys, "rank", str(tmp_path / "X.npy"), "--ranks", "2:6:2",
                         "--repeats", "2", "-o", str(out), "--no-plot", "--seed", "1",
                         "--max-iter", "40")
    assert rc == 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sel = fastnmf.select_rank(X, [2, 4, 6], n_repeats=2, random_state=1, max_iter=40)
    table = np.genfromtxt(out / "rank.csv", delimiter=",", names=True)
    np.testing.assert_array_equal(table["rank"], [2, 4, 6])
    np.testing.assert_allclose(table["test_error"], sel.table["test_error"], rtol=1e-10)
    report = json.loads((out / "report.json").read_text())
    assert report["result"]["best_rank"] == sel.best_rank
    assert f"best_rank={sel.best_rank}" in stdout


@pytest.mark.parametrize("text,ranks", [("2:5", [2, 3, 4, 5]), ("2:10:4", [2, 6, 10]),
                                        ("3,7", [3, 7])])
def test_rank_ranges(text, ranks):
    from fastnmf._commands import _ranks

    assert _ranks(text) == ranks


# ------------------------------------------------------------------------------- refusals
def test_errors_are_one_line(tmp_path, capsys, digits):
    np.save(tmp_path / "neg.npy", -digits)
    (tmp_path / "bad.npy").write_bytes(b"not numpy at all")
    (tmp_path / "bad.npz").write_bytes(b"PK nothing")
    np.save(tmp_path / "obj.npy", np.array([[1, "a"]], dtype=object), allow_pickle=True)
    np.save(tmp_path / "one.npy", np.arange(5.0))
    cases = [
        (("fit", "nothere.npy"), "nothere.npy: no such file"),
        (("fit", str(tmp_path / "neg.npy")), "Negative values"),
        (("fit", str(tmp_path / "bad.npy")), "not a .npy file"),
        (("fit", str(tmp_path / "bad.npz")), "not an .npz file"),
        (("fit", str(tmp_path / "obj.npy")), "holds Python objects"),
        (("fit", str(tmp_path / "one.npy")), "X must be 2-D"),
        (("fit", str(tmp_path / "x.parquet")), "unknown format"),
    ]
    for argv, message in cases:
        rc, _, err = _run(capsys, *argv, "-k", "2", "-o", str(tmp_path / "o"))
        assert rc == 2, argv
        line = _one_line_error(err)
        assert line.startswith("fastnmf fit: error: ") and message in line, line
        assert not (tmp_path / "o").exists()
    rc, _, err = _run(capsys, "transform", str(tmp_path / "nomodel.npz"),
                      str(tmp_path / "neg.npy"), "-o", str(tmp_path / "o"))
    assert rc == 2 and "nomodel.npz" in _one_line_error(err)


def test_transform_refuses_other_columns(tmp_path, capsys, digits):
    np.save(tmp_path / "X.npy", digits)
    np.save(tmp_path / "Y.npy", digits[:, :10])
    assert _run(capsys, "fit", str(tmp_path / "X.npy"), "-k", "3", "-o", str(tmp_path / "m"),
                "--no-plot", "--max-iter", "10")[0] == 0
    rc, _, err = _run(capsys, "transform", str(tmp_path / "m" / "model.npz"),
                      str(tmp_path / "Y.npy"), "-o", str(tmp_path / "t"))
    assert rc == 2
    assert "X has 10 columns; the model was fitted on 64" in _one_line_error(err)


def test_never_overwrites_without_force(tmp_path, capsys, digits):
    np.save(tmp_path / "X.npy", digits)
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    rc, _, err = _run(capsys, "fit", str(tmp_path / "X.npy"), "-k", "3", "-o", str(out))
    assert rc == 2 and "exists and is not empty (--force replaces it)" in _one_line_error(err)
    assert [p.name for p in out.iterdir()] == ["mine.txt"]
    rc, _, _ = _run(capsys, "fit", str(tmp_path / "X.npy"), "-k", "3", "-o", str(out),
                    "--force", "--no-plot", "--max-iter", "10")
    assert rc == 0
    assert not (out / "mine.txt").exists() and (out / "W.npy").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["X.npy", "out"]  # no temporaries


def test_a_failed_write_leaves_the_old_output(tmp_path, capsys, digits, monkeypatch):
    np.save(tmp_path / "X.npy", digits)
    out = tmp_path / "out"
    assert _run(capsys, "fit", str(tmp_path / "X.npy"), "-k", "3", "-o", str(out),
                "--no-plot", "--max-iter", "10")[0] == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    import fastnmf._commands as commands

    def broken(path, obj):
        raise OSError("No space left on device")

    monkeypatch.setattr(commands, "_write_json", broken)
    rc, _, err = _run(capsys, "fit", str(tmp_path / "X.npy"), "-k", "4", "-o", str(out),
                      "--force", "--no-plot", "--max-iter", "10")
    assert rc == 2 and "No space left on device" in _one_line_error(err)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["X.npy", "out"]


def test_output_dir_is_renamed_whole(tmp_path):
    target = tmp_path / "res"
    with pytest.raises(RuntimeError):
        with files.OutputDir(target) as tmp:
            (tmp / "W.npy").write_text("half")
            raise RuntimeError("crash")
    assert list(tmp_path.iterdir()) == []
    with files.OutputDir(target) as tmp:
        (tmp / "W.npy").write_text("whole")
        assert not target.exists()
    assert (target / "W.npy").read_text() == "whole"


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="reads /proc (Linux)")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_fit_writes_nothing(tmp_path, sig):
    X = np.random.default_rng(0).random((1500, 300))
    np.save(tmp_path / "X.npy", X)
    proc = subprocess.Popen(
        [sys.executable, "-m", "fastnmf", "fit", str(tmp_path / "X.npy"), "-k", "10",
         "--tol", "0", "--max-iter", "1000000", "-o", str(tmp_path / "out")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    # wait until the fit runs: 5 s of CPU time is past the imports (about 1 s)
    stat, tick = f"/proc/{proc.pid}/stat", os.sysconf("SC_CLK_TCK")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        fields = open(stat).read().rsplit(")", 1)[1].split()
        if (int(fields[11]) + int(fields[12])) / tick > 5:
            break
        time.sleep(0.2)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted; nothing was written" in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["X.npy"]


def test_progress_bar_only_on_a_terminal(tmp_path, capsys, digits, monkeypatch):
    import fastnmf._commands as commands

    seen = []
    real = fastnmf.NMF.fit_transform

    def spy(self, *a, **kw):
        seen.append(self.progress)
        return real(self, *a, **kw)

    monkeypatch.setattr(fastnmf.NMF, "fit_transform", spy)
    np.save(tmp_path / "X.npy", digits)
    for i, (tty, quiet) in enumerate([(False, False), (True, False), (True, True)]):
        monkeypatch.setattr(commands.sys.stderr, "isatty", lambda tty=tty: tty, raising=False)
        argv = ["fit", str(tmp_path / "X.npy"), "-k", "2", "-o", str(tmp_path / f"o{i}"),
                "--no-plot", "--max-iter", "5"] + (["-q"] if quiet else [])
        assert _run(capsys, *argv)[0] == 0
    assert seen[-3:] == [False, True, False]
    assert fastnmf.load(tmp_path / "o1" / "model.npz").progress is False  # the bar not saved
    rc, out, _ = _run(capsys, "fit", str(tmp_path / "X.npy"), "-k", "2", "-o",
                      str(tmp_path / "o9"), "--no-plot", "--max-iter", "5", "-q")
    assert rc == 0 and out == ""


def test_plots(tmp_path, capsys, digits):
    pytest.importorskip("matplotlib")
    np.save(tmp_path / "X.npy", digits)
    out = tmp_path / "out"
    assert _run(capsys, "fit", str(tmp_path / "X.npy"), "-k", "3", "-o", str(out),
                "--max-iter", "20")[0] == 0
    for name in ("loss.png", "components.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (out / "report.html").read_text()
    report = json.loads((out / "report.json").read_text())
    assert page.count("data:image/png;base64,") == 2
    assert f"<th>n_iter</th><td>{report['result']['n_iter']}</td>" in page


def test_console_script_reports_a_bad_file_in_one_line(tmp_path):
    (tmp_path / "X.csv").write_text("1,2\n3,oops\n")
    proc = subprocess.run([sys.executable, "-m", "fastnmf", "fit", str(tmp_path / "X.csv"),
                           "-k", "1", "-o", str(tmp_path / "o")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert _one_line_error(proc.stderr).endswith("'oops' is not a number")
    assert not os.path.exists(tmp_path / "o")
