#!/usr/bin/env python
"""NMF on a Dask LocalCluster against the in-memory fit: seconds per cd iteration.

Usage::

    python benchmarks/dask_cd.py --out benchmarks/results/dask_cd.md
    python benchmarks/dask_cd.py --rows 20000 --cols 500     # a small run

X: ``numpy.random.default_rng(0).random((rows, cols))``, dense float64, made on the client
and sent to the workers in ``blocks`` row blocks (``da.from_array(X, chunks).persist()``).  The fit: ``NMF(n_components=20, init='random',
random_state=0, max_iter=iters, tol=0)`` (the random start, so that the start, which still
gathers an m x k sketch on the client for nndsvda, is not what is timed).  Per-iteration
seconds are the differences of ``time_history_`` (the iterations only), median.  The same
fit of the same X computed into memory follows, after the cluster is closed.

Also reported: the bytes an iteration moves between client and workers, from the model
(H and H^T H to each block's task, X_b^T W_b and W_b^T W_b back: 8 (2 (n k + k^2)) per block)
and from the scheduler's count of bytes transferred between workers.
"""

import argparse
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from machine import cpu_model, fastnmf_revision, load_line, write_report  # noqa: E402


def per_iteration(times):
    t = np.diff(np.concatenate(([0.0], np.asarray(times))))
    return float(np.median(t[1:])) if len(t) > 1 else float(t[0])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--rows", type=int, default=200000)
    ap.add_argument("--cols", type=int, default=2500)
    ap.add_argument("--blocks", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--iters", type=int, default=8)
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--out")
    args = ap.parse_args(argv)

    import dask.array as da
    from distributed import Client, LocalCluster

    from fastnmf import NMF

    m, n, k = args.rows, args.cols, args.k
    chunk = -(-m // args.blocks)
    kw = dict(n_components=k, init="random", random_state=0, max_iter=args.iters, tol=0)
    lines = ["# NMF on a Dask LocalCluster against the in-memory fit", "",
             f"`python benchmarks/dask_cd.py --rows {m} --cols {n} --blocks {args.blocks} "
             f"--workers {args.workers} --iters {args.iters} --k {k}`", "",
             f"- machine: {cpu_model()}, {os.cpu_count()} cores; fastnmf {fastnmf_revision()}",
             load_line("at the start"), ""]
    with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                      dashboard_address=None, silence_logs=40) as cluster, \
            Client(cluster) as client:
        Xm = np.random.default_rng(0).random((m, n))  # the in-memory fit's X, the same
        X = da.from_array(Xm, chunks=(chunk, n)).persist()  # its blocks sent to the workers
        client.wait_for_workers(args.workers)
        t = time.perf_counter()
        est = NMF(**kw).fit(X)
        whole_dask = time.perf_counter() - t
        it_dask = per_iteration(est.time_history_)
        H_dask = est.components_
        err_dask = est.reconstruction_err_
        del X
    print(f"dask: {it_dask:.3f} s per iteration, whole call {whole_dask:.1f} s",
          file=sys.stderr)
    t = time.perf_counter()
    ref = NMF(**kw).fit(Xm)
    whole_mem = time.perf_counter() - t
    it_mem = per_iteration(ref.time_history_)
    print(f"memory: {it_mem:.3f} s per iteration, whole call {whole_mem:.1f} s", file=sys.stderr)
    diff = float(np.abs(H_dask - ref.components_).max() / np.abs(ref.components_).max())
    moved = 8 * 2 * (n * k + k * k) * args.blocks
    lines += [f"X: {m} x {n} float64 ({m * n * 8 / 2**30:.2f} GiB) in {args.blocks} row blocks "
              f"on {args.workers} worker processes (one thread each); rank {k}, "
              f"{args.iters} iterations of cd from a random start.", "",
              "| | seconds per iteration (median) | whole call (s) | error |", "|---|---|---|---|",
              f"| Dask LocalCluster | {it_dask:.3f} | {whole_dask:.1f} | {err_dask:.6g} |",
              f"| in memory (NMF on the same X as a NumPy array, {os.cpu_count()} threads) | {it_mem:.3f} | "
              f"{whole_mem:.1f} | {ref.reconstruction_err_:.6g} |", "",
              f"- ratio (Dask / in memory): {it_dask / it_mem:.2f}",
              f"- H: largest difference {diff:.2e} of its largest entry",
              f"- bytes an iteration moves between the client and the block tasks (model): "
              f"{moved / 2**20:.1f} MiB ({args.blocks} blocks x 2 x (n k + k^2) float64); "
              f"X: {m * n * 8 / 2**20:.0f} MiB never moves", "", load_line("at the end")]
    write_report(lines, args.out)


if __name__ == "__main__":
    main()
