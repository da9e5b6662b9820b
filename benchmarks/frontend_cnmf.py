#!/usr/bin/env python
"""cNMF on scikit-learn and on fastnmf (``fastnmf.sklearn_patched()``): time and agreement.

Usage::

    python benchmarks/frontend_cnmf.py                 # pbmc68k counts, both losses
    python benchmarks/frontend_cnmf.py --quick         # 1 pair, fewer replicates
    python benchmarks/frontend_cnmf.py --cores 2,1 --repeats 3 --out DIR

cNMF (``pip install cnmf``; consensus NMF for single-cell RNA-seq) imports
``non_negative_factorization`` from ``sklearn.decomposition`` when it is imported, and calls it
once per replicate (``factorize``) and three times per k in ``consensus`` (the usages, the TPM
spectra and the usages again, each with ``update_H=False``).  Its whole pipeline (prepare,
factorize on one worker, combine, consensus for every k) runs on a real count matrix once as
installed (scikit-learn) and once under ``fastnmf.sklearn_patched()`` entered after cNMF was
imported (so cNMF's module-level name is what the patch rebinds), each run in a fresh process
(its peak RSS is the run's), the two alternating, ``--repeats`` pairs (default 3 for the
Frobenius loss, 2 for KL, whose scikit-learn runs are long); times are medians.  ``--cores``:
the runs on all usable cores (fastnmf's default ``n_threads``; scikit-learn's cd is
single-threaded Cython with BLAS on every core) and/or with the process pinned to one core
(``os.sched_setaffinity``: fastnmf then runs one thread), and on all cores with
``OMP_WAIT_POLICY=passive`` (OpenMP's idle threads sleep rather than spin: on a machine
shared with other jobs a spinning thread holds a core that another process's thread needs, and
fastnmf's threaded sparse cd fits then wait at every parallel region), each a row.
cNMF's parameters are its defaults (``num_highvar_genes=2000``, ``max_NMF_iter=1000``,
``init='random'``, ``tol=1e-4``, no regularization; Frobenius: solver 'cd', KL: 'mu') but for
the ranks and the number of replicates (default 100), fewer here to fit the machine; consensus
with ``density_threshold=2`` (no outlier filtering).

Agreement, from the first pair (the same seeds): each replicate's spectra (largest difference
relative to the largest entry), the consensus spectra (matched by correlation, Hungarian; the
smallest matched correlation) and the consensus usages (cells x k, matched order, largest
difference relative to the largest entry).

Data: ``pbmc68k``: the UMI counts behind scanpy's bundled 10x_pbmc68k_reduced (700 cells x 765
genes, benchmarks/datasets.py; cNMF keeps all 765 genes as highly variable, fewer than its
default 2000).
"""

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

#: dataset -> (loader arguments, {loss: (ranks, replicates)}): fewer for KL, whose
#: scikit-learn runs are long (mu)
DATASETS = {
    "pbmc68k": (("pbmc68k", "counts"), {"frobenius": ((5, 7, 9), 10),
                                        "kullback-leibler": ((5,), 4)}),
}
LOSSES = ("frobenius", "kullback-leibler")
REPEATS = {"frobenius": 3, "kullback-leibler": 2}
DT = 2.0  # cNMF's density threshold: 2 = no filtering


def write_counts(name, path):
    """The dataset's counts as an .h5ad cNMF reads; its description."""
    import anndata
    import datasets

    loader, *args = DATASETS[name][0]
    X, desc = getattr(datasets, loader)(*args)
    a = anndata.AnnData(X=X.astype(np.float32))
    a.obs_names = [f"row{i}" for i in range(X.shape[0])]
    a.var_names = [f"col{j}" for j in range(X.shape[1])]
    a.write_h5ad(path)
    return f"{desc}; {X.shape[0]} x {X.shape[1]}, {X.nnz} nonzeros"


# ------------------------------------------------------------------ one run (a child process)
def child(counts, out, name, loss, ks, n_iter, patched, cores):
    """cNMF's pipeline once; prints a JSON line with the step times and peak RSS."""
    import resource

    if cores is not None:  # the process on that many cores (BLAS: see run_child)
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:cores])

    from cnmf import cNMF  # imported before the patch: its name is rebound by it

    import fastnmf

    c = cNMF(output_dir=out, name=name)
    t = {}
    with warnings.catch_warnings(), contextlib.redirect_stdout(sys.stderr):
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        c.prepare(counts_fn=counts, components=list(ks), n_iter=n_iter, seed=14, beta_loss=loss)
        t1 = time.perf_counter()
        with fastnmf.sklearn_patched() if patched else contextlib.nullcontext():
            import cnmf.cnmf as module

            fit = module.non_negative_factorization
            assert fit.__module__ == ("fastnmf.patch" if patched else "sklearn.decomposition._nmf")
            c.factorize(worker_i=0, total_workers=1)
            t2 = time.perf_counter()
            c.combine()
            for k in ks:
                c.consensus(k, density_threshold=DT, show_clustering=False)
            t3 = time.perf_counter()
    t.update(prepare=t1 - t0, factorize=t2 - t1, consensus=t3 - t2, total=t3 - t0)
    t["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(t))


def run_child(counts, out, name, loss, ks, n_iter, patched, cores, passive=False):
    cmd = [sys.executable, __file__, "--child", json.dumps(
        dict(counts=counts, out=out, name=name, loss=loss, ks=list(ks), n_iter=n_iter,
             patched=patched, cores=cores))]
    env = dict(os.environ)
    if passive:  # OpenMP's idle threads sleep instead of spinning
        env["OMP_WAIT_POLICY"] = "passive"
    if cores is not None:  # BLAS's threads too (the child pins itself after NumPy's import)
        env.update(OPENBLAS_NUM_THREADS=str(cores), OMP_NUM_THREADS=str(cores),
                   MKL_NUM_THREADS=str(cores))
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        sys.exit(f"child failed: {' '.join(cmd)}\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------ agreement
def _match(A, B):
    from scipy.optimize import linear_sum_assignment

    C = np.corrcoef(A, B)[: len(A), len(A):]
    rows, cols = linear_sum_assignment(-C)
    return C[rows, cols], cols


def agreement(out, ks, n_iter):
    """Replicates, consensus spectra and usages of the 'sk' and 'fa' runs of one pair."""
    import pandas as pd
    from cnmf.cnmf import load_df_from_npz

    def path(name, what, k, rep=None):
        if rep is not None:
            return os.path.join(out, name, "cnmf_tmp", f"{name}.spectra.k_{k}.iter_{rep}.df.npz")
        dt = str(DT).replace(".", "_")
        return os.path.join(out, name, f"{name}.{what}.k_{k}.dt_{dt}.consensus.txt")

    reps, corr, usages = [], [], []
    for k in ks:
        for r in range(n_iter):
            a = load_df_from_npz(path("sk", None, k, r)).values
            b = load_df_from_npz(path("fa", None, k, r)).values
            reps.append(np.abs(a - b).max() / np.abs(a).max())
        S = [pd.read_csv(path(n, "spectra", k), sep="\t", index_col=0).values for n in ("sk", "fa")]
        U = [pd.read_csv(path(n, "usages", k), sep="\t", index_col=0).values for n in ("sk", "fa")]
        c, order = _match(S[0], S[1])
        corr.append(c.min())
        usages.append(np.abs(U[1][:, order] - U[0]).max() / np.abs(U[0]).max())
    return max(reps), min(corr), max(usages)


# ------------------------------------------------------------------ the report
def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--quick", action="store_true", help="1 pair, a quarter of the replicates")
    p.add_argument("--datasets", default="pbmc68k", help=f"of {','.join(DATASETS)}")
    p.add_argument("--losses", default=",".join(LOSSES))
    p.add_argument("--repeats", type=int, default=None,
                   help="pairs of runs (default 3 for Frobenius, 2 for KL; --quick 1)")
    p.add_argument("--cores", default="all,all-passive,1",
                   help="configurations: 'all' (every usable core), 'all-passive' (the same "
                        "with OMP_WAIT_POLICY=passive), a number of cores")
    p.add_argument("--out", default=str(HERE / "out"), metavar="DIR")
    a = p.parse_args(argv)
    if a.child:
        return child(**json.loads(a.child))
    import cnmf.version
    import sklearn

    import fastnmf
    from compare import machine_lines
    from machine import fastnmf_revision, load_line, write_report

    started = time.time()
    lines = ["# cNMF on scikit-learn and on fastnmf (`fastnmf.sklearn_patched()`)", ""]
    lines += machine_lines()
    lines += [f"- cnmf {cnmf.version.__version__}, scikit-learn {sklearn.__version__}, "
              f"fastnmf {fastnmf.__version__} at {fastnmf_revision()}", load_line("at the start"), ""]
    rows = []
    for name in a.datasets.split(","):
        _, plan = DATASETS[name]
        with tempfile.TemporaryDirectory() as tmp:
            counts = os.path.join(tmp, "counts.h5ad")
            desc = write_counts(name, counts)
            lines.append(f"- `{name}`: {desc}")
            for loss in a.losses.split(","):
                ks, n_iter = plan[loss]
                n_iter = max(4, n_iter // 4) if a.quick else n_iter
                repeats = a.repeats or (1 if a.quick else REPEATS[loss])
                for config in a.cores.split(","):
                    passive = config == "all-passive"
                    cores = None if config in ("all", "all-passive") else int(config)
                    times = {"sk": [], "fa": []}
                    agree = None
                    for i in range(repeats):
                        out = os.path.join(tmp, f"{loss}{config}-{i}")
                        order = ("sk", "fa") if i % 2 == 0 else ("fa", "sk")  # alternate
                        for who in order:
                            times[who].append(run_child(counts, out, who, loss, ks, n_iter,
                                                        who == "fa", cores, passive))
                        if agree is None:
                            agree = agreement(out, ks, n_iter)
                        print(f"{name} {loss} {config} pair {i}: " + ", ".join(
                            f"{w} {times[w][-1]['factorize']:.2f}/{times[w][-1]['total']:.2f} s"
                            for w in ("sk", "fa")), flush=True)
                    where = (f"{len(os.sched_getaffinity(0))} (all)" if cores is None else cores)
                    where = f"{where}, OMP_WAIT_POLICY=passive" if passive else where
                    rows.append((name, loss, ks, n_iter, where, repeats, times, agree))
    lines += ["", "Median of the runs (each in a fresh process); *factorize*: cNMF's replicates, "
              "*consensus*: combine + consensus of every k (three `update_H=False` refits per "
              "k), *pipeline*: prepare + factorize + combine + consensus.", "",
              "| data | loss (solver) | ranks x replicates | cores | runs | step | scikit-learn | "
              "fastnmf | ratio |", "|---|---|---|---|---:|---|---:|---:|---:|"]
    for name, loss, ks, n_iter, where, repeats, times, _ in rows:
        solver = "cd" if loss == "frobenius" else "mu"
        for step in ("factorize", "consensus", "total", "peak_rss_mb"):
            sk = statistics.median(t[step] for t in times["sk"])
            fa = statistics.median(t[step] for t in times["fa"])
            label = {"total": "pipeline", "peak_rss_mb": "peak RSS"}.get(step, step)
            unit = " MB" if step == "peak_rss_mb" else " s"
            fmt = "{:.0f}" if step == "peak_rss_mb" else "{:.2f}"
            lines.append(f"| {name} | {loss} ({solver}) | {list(ks)} x {n_iter} | {where} | "
                         f"{repeats} | {label} | "
                         f"{fmt.format(sk)}{unit} | {fmt.format(fa)}{unit} | {sk / fa:.2f}x |")
    lines += ["", "Agreement (first pair, the same seeds):", "",
              "| data | loss | cores | replicate spectra: max rel. difference | consensus "
              "spectra: min matched correlation | consensus usages: max rel. difference |",
              "|---|---|---|---:|---:|---:|"]
    for name, loss, _, _, where, _, _, (rep, corr, use) in rows:
        lines.append(f"| {name} | {loss} | {where} | {rep:.1e} | {corr:.6f} | {use:.1e} |")
    lines += ["", "The replicates are the same iterates (scikit-learn's cd and mu from the same "
              "seeds), equal to rounding, and so are the consensus spectra.  The KL consensus "
              "usages differ because of scikit-learn, not fastnmf: cNMF's consensus refits the "
              "TPM spectra on `tpm.X.T`, a CSC matrix, and scikit-learn's multiplicative updates "
              "for beta != 2 are wrong on CSC input (`_special_sparse_dot` returns W H at the "
              "nonzeros in CSR order, divided entry by entry into `X.data` in CSC order); "
              "fastnmf's refit equals scikit-learn's on the same matrix as CSR or dense, and "
              "tests/test_frontends.py checks the whole KL pipeline against that reference."]
    lines += ["", load_line("at the end"), f"- run time: {time.time() - started:.0f} s"]
    Path(a.out).mkdir(parents=True, exist_ok=True)
    write_report(lines, os.path.join(a.out, "frontend_cnmf.md"))


if __name__ == "__main__":
    main()
