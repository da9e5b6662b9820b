#!/usr/bin/env python
"""NMF on a Dask LocalCluster: the whole call and each iteration against the in-memory fit,
bytes moved, 1/2/4-process scaling, and a model of 10 and 100 machines checked against them.

Usage::

    python benchmarks/dask_scaling.py --out benchmarks/results/dask_scaling.md
    python benchmarks/dask_scaling.py --rows 40000 --cols 500 --scale-rows 20000   # small

Part 1 (the issue's target: a matrix that takes at least a second per iteration in memory).
X: ``dask.array.random.RandomState(0).random((rows, cols), chunks=(rows // blocks, cols))``,
dense float64, made block by block on the workers; the in-memory fit gets the same X
computed into a NumPy array (first, in this process, before the cluster starts, so the two
copies never coexist).  Fits: ``NMF(n_components=k, random_state=0, max_iter=iters, tol=0)``
with ``solver='cd'`` and ``'mu'`` (defaults otherwise: the nndsvda start, made on the workers
for the Dask X).  Per-iteration seconds: the median of the differences of
``time_history_``.  Bytes moved per iteration: worker to worker from the workers' transfer
counters (``transfer_outgoing_bytes_total``) over the iterations, plus what the client sends
and receives (the model: Ht and Ht^T Ht out, the tree-summed n x k and k x k back).

Part 2 (scaling): cd on 1, 2 and 4 worker processes (one thread each) of this machine, strong
(the same X of ``scale_rows`` rows) and weak (``scale_rows / 2`` rows per process), and the
fixed cost of an iteration (a tiny X: the tasks, the tree sum and the round trips).

Part 3 (model): seconds per iteration ``T = a m n k / P + t0 + t1 log2(B) + 8 q (n k) / bw``
with ``a`` the seconds per m n k of one core (measured here, in memory on one thread),
``P`` cores, ``B`` blocks, ``t0``, ``t1`` from the tiny-X runs, ``q`` the n x k arrays a
machine sends and receives per iteration (4: Ht out and X^T W back, each way through the
tree) and ``bw`` the network's bytes per second (assumed: 10 Gbit/s, 1.25e9).  Checked
against part 2 (``P`` = min(processes, cores here)), then evaluated for 10 and 100 machines
of 32 cores.
"""

import argparse
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from machine import cpu_model, fastnmf_revision, load_line, write_report  # noqa: E402

BANDWIDTH = 1.25e9  # bytes/s of a 10 Gbit/s network (an assumption, stated in the output)


def per_iteration(times):
    t = np.diff(np.concatenate(([0.0], np.asarray(times))))
    return float(np.median(t[1:])) if len(t) > 1 else float(t[0])


def dask_x(m, n, blocks, dtype=np.float64):
    import dask.array as da

    chunk = -(-m // blocks)
    return da.random.RandomState(0).random((m, n), chunks=(chunk, n)).astype(dtype)


def sent_bytes(client):
    return sum(client.run(lambda dask_worker: dask_worker.transfer_outgoing_bytes_total).values())


def worker_rss(client):
    import psutil

    return max(client.run(lambda: psutil.Process().memory_info().rss).values())


def fit_on_cluster(workers, X, kw, threads=1):
    """(estimator, whole call seconds, worker-to-worker bytes per iteration, peak worker RSS)"""
    from distributed import Client, LocalCluster

    from fastnmf import NMF

    with LocalCluster(n_workers=workers, threads_per_worker=threads, processes=True,
                      dashboard_address=None, silence_logs=50) as cluster, \
            Client(cluster) as client:
        client.wait_for_workers(workers)
        marks = []

        def watch(info):
            if info.iteration in (1, kw["max_iter"]):
                marks.append(sent_bytes(client))
            return True

        t = time.perf_counter()
        est = NMF(callback=watch, **kw).fit(X)
        whole = time.perf_counter() - t
        per_it = (marks[-1] - marks[0]) / max(1, kw["max_iter"] - 1) if len(marks) == 2 else 0
        return est, whole, per_it, worker_rss(client)


def part1(args, lines):
    from fastnmf import NMF

    m, n, k = args.rows, args.cols, args.k
    X = dask_x(m, n, args.blocks)
    lines += [f"## 1. Against the in-memory fit ({m} x {n} float64, "
              f"{m * n * 8 / 2**30:.2f} GiB, rank {k}, {args.blocks} row blocks, 2 worker "
              "processes of one thread; in memory: 2 threads)", "",
              "| solver | in memory s/iteration | Dask s/iteration | ratio | whole call in memory "
              "| whole call Dask | H: largest difference | moved per iteration (measured "
              "+ client) | model O(n k) per block |", "|---|---|---|---|---|---|---|---|---|"]
    for solver in args.solvers:
        kw = dict(n_components=k, solver=solver, random_state=0, max_iter=args.iters, tol=0)
        Xm = X.compute(scheduler="threads")
        t = time.perf_counter()
        ref = NMF(**kw).fit(Xm)
        whole_mem = time.perf_counter() - t
        it_mem = per_iteration(ref.time_history_)
        del Xm
        print(f"{solver} memory: {it_mem:.3f} s/it, {whole_mem:.1f} s", file=sys.stderr)
        est, whole, moved, rss = fit_on_cluster(2, X, kw)
        it = per_iteration(est.time_history_)
        print(f"{solver} dask: {it:.3f} s/it, {whole:.1f} s, {moved / 2**20:.1f} MiB/it, "
              f"worker RSS {rss / 2**30:.2f} GiB", file=sys.stderr)
        diff = float(np.abs(est.components_ - ref.components_).max()
                     / np.abs(ref.components_).max())
        client_bytes = 8 * 2 * (n * k + k * k)  # Ht, HtH out; X^T W, W^T W back
        model = 8 * 2 * (n * k + k * k) * args.blocks
        lines.append(f"| {solver} | {it_mem:.3f} | {it:.3f} | {it / it_mem:.2f} | "
                     f"{whole_mem:.1f} s | {whole:.1f} s | {diff:.1e} | "
                     f"{(moved + client_bytes) / 2**20:.1f} MiB | {model / 2**20:.1f} MiB |")
        lines.append("")
        lines.append(f"- {solver}: peak worker RSS {rss / 2**30:.2f} GiB (X's share: "
                     f"{m * n * 8 / 2 / 2**30:.2f} GiB per worker)")
    lines.append("")


def _pass_worker(rows, n, k, reps, barrier, queue, block_rows):
    """One process of :func:`concurrent_pass`: cd's fused pass over its rows, a block of
    ``block_rows`` at a time, timed."""
    import os as _os

    _os.environ["OMP_NUM_THREADS"] = "1"
    from fastnmf._backends import get_backend

    kern = get_backend("cython")
    rng = np.random.default_rng(0)
    Ht = rng.random((n, k))
    blocks = [(rng.random((min(block_rows, rows - lo), n)),
               rng.random((min(block_rows, rows - lo), k))) for lo in range(0, rows, block_rows)]
    HtH, perm = Ht.T @ Ht, np.arange(k, dtype=np.intp)
    XtW, WtW = np.empty((n, k)), np.empty((k, k))

    def one_pass():
        for X, W in blocks:
            kern.hals_pass_dense(X, Ht, HtH, W, 0.0, 0.0, perm, XtW, WtW, 1)

    one_pass()
    barrier.wait()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        one_pass()
        times.append(time.perf_counter() - t)
    queue.put(float(np.median(times)))


def concurrent_pass(processes, rows, n, k, block_rows, reps=3):
    """Seconds of the W half of a cd iteration over ``rows`` rows split between
    ``processes`` processes of one thread running at once, in blocks of ``block_rows`` (the
    slowest one's median): what this machine delivers to that many processes now, without
    Dask."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    barrier, queue = ctx.Barrier(processes), ctx.Queue()
    procs = [ctx.Process(target=_pass_worker, args=(rows // processes, n, k, reps, barrier,
                                                    queue, block_rows))
             for _ in range(processes)]
    for p in procs:
        p.start()
    times = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    return max(times)


def part2(args, lines):
    """Measured scaling and the fixed cost; returns the model's constants."""
    from fastnmf import NMF

    n, k, iters = args.cols, 20, args.scale_iters
    kw = dict(n_components=k, solver="cd", init="random", random_state=0, max_iter=iters,
              tol=0)
    # what this machine's cores deliver: the in-memory fit on 1 and on all threads
    cores = os.cpu_count()
    Xm = dask_x(args.scale_rows, n, 8).compute(scheduler="threads")
    mem = {}
    for threads in (1, cores, 1, cores):  # interleaved, the better of two each
        est = NMF(n_threads=threads, **kw).fit(Xm)
        mem[threads] = min(mem.get(threads, np.inf), per_iteration(est.time_history_))
    speedup = mem[1] / mem[cores]
    del Xm
    # the fixed cost of an iteration: a tiny X in 2, 8 and 32 blocks on 2 processes
    fixed = {}
    for blocks in (2, 8, 32):
        est, _, _, _ = fit_on_cluster(2, dask_x(64 * blocks, 50, blocks),
                                      dict(kw, n_components=4))
        fixed[blocks] = per_iteration(est.time_history_)
    t1, t0 = np.polyfit(np.log2(list(fixed)), list(fixed.values()), 1)
    measured, alone = {}, {}
    for kind in ("strong", "weak"):
        for p in (1, 2, 4):
            rows = args.scale_rows if kind == "strong" else args.scale_rows // 2 * p
            # the kernels alone on p processes, just before the Dask run (the machine's
            # capacity changes from minute to minute: see part 2's notes)
            # in the Dask run's blocks: 8 row chunks, merged into at most 4 per process
            alone[kind, p] = concurrent_pass(p, rows, n, k, rows // min(8, 4 * p))
            est, _, _, _ = fit_on_cluster(p, dask_x(rows, n, 8), kw)
            measured[kind, p] = (rows, per_iteration(est.time_history_))
            print(f"{kind} p={p}: {measured[kind, p][1]:.3f} s/it, kernels alone "
                  f"{alone[kind, p]:.3f} s", file=sys.stderr)
    # a: seconds per m n k on one core, from the one-process run (the same code as on a
    # cluster), its fixed cost taken off
    rows1, T1 = measured["strong", 1]
    a = (T1 - (t0 + t1 * 3)) / (rows1 * n * k)
    lines += ["## 2. Scaling on this machine (cd, random start, rank 20, one thread per "
              "process, 8 blocks)", "",
              f"- in memory, the same X ({args.scale_rows} x {n}): {mem[1]:.3f} s per iteration "
              f"on 1 thread, {mem[cores]:.3f} on {cores}: the {cores} cores deliver "
              f"{speedup:.2f}x one (a shared machine: other tenants' load, see the load "
              "averages)",
              "- the fixed cost of an iteration (a tiny X, 2 processes): "
              + ", ".join(f"{b} blocks {v * 1e3:.0f} ms" for b, v in fixed.items())
              + f"; fitted t0 = {t0 * 1e3:.0f} ms, t1 = {t1 * 1e3:.1f} ms per doubling of "
              "the blocks",
              f"- a = {a:.3e} s per m n k on one core (the 1-process run, its fixed cost "
              "taken off)", "",
              "Two models: (A) a m n k / P + t0 + 3 t1, with P = 1 for one process and the "
              f"in-memory {speedup:.2f} for two or more (this machine's {cores} cores); (B) "
              "the kernels' own time on p processes of one thread running at once, measured "
              "just before each Dask run without Dask (cd's fused pass over the run's rows in "
              "its blocks, split between the processes), plus t0 + 3 t1.", "",
              "| run | processes | X | s/iteration measured | kernels alone, p processes | "
              "model A | A / measured | model B | B / measured |",
              "|---|---|---|---|---|---|---|---|---|"]
    for (kind, p), (rows, it) in measured.items():
        P = 1.0 if p == 1 else speedup
        model = a * rows * n * k / P + t0 + t1 * 3
        model_b = alone[kind, p] + t0 + t1 * 3
        lines.append(f"| {kind} | {p} | {rows} x {n} | {it:.3f} | {alone[kind, p]:.3f} | "
                     f"{model:.3f} | {model / it:.2f} | {model_b:.3f} | {model_b / it:.2f} |")
    lines.append("")
    return a, t0, t1


def part3(a, t0, t1, lines, k=20, cores=32):
    lines += ["## 3. Model: 10 and 100 machines", "",
              f"T = a m n k / P + t0 + t1 log2(B) + 8 * 4 n k / bw, with a = {a:.3e}, "
              f"t0 = {t0 * 1e3:.0f} ms, t1 = {t1 * 1e3:.1f} ms (part 2), {cores} cores per "
              f"machine, one block per core (B = P), bw = {BANDWIDTH / 1e9:.2f} GB/s "
              "(10 Gbit/s, assumed), rank "
              f"{k}.  Strong: X of 2e7 x 5000 float64 (745 GiB) on 10 and 100 machines; weak: "
              "2e6 x 5000 per machine.", "",
              "| scaling | machines | rows | compute s | fixed s | network s | s/iteration | "
              "efficiency |", "|---|---|---|---|---|---|---|---|"]
    n = 5000
    base = {}
    for kind in ("strong", "weak"):
        for machines in (1, 10, 100):
            rows = 2e7 if kind == "strong" else 2e6 * machines
            P = machines * cores
            compute = a * rows * n * k / P
            fixed = t0 + t1 * np.log2(P)
            network = 8 * 4 * n * k / BANDWIDTH * np.log2(max(2, machines))
            total = compute + fixed + network
            if machines == 1:
                base[kind] = total
            eff = (base[kind] / (machines * total) if kind == "strong"
                   else base[kind] / total)
            lines.append(f"| {kind} | {machines} | {rows:.0e} | {compute:.3f} | {fixed:.3f} | "
                         f"{network:.4f} | {total:.3f} | {eff:.0%} |")
    lines += ["", "Efficiency: strong, T(1) / (machines T(machines)); weak, T(1) / "
              "T(machines).  The network term is the tree sum's log2(machines) rounds of an "
              "n x k array each way; H's sweep on the client (n k^2) is in t0.", ""]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--rows", type=int, default=200000)
    ap.add_argument("--cols", type=int, default=2500)
    ap.add_argument("--k", type=int, default=40)
    ap.add_argument("--blocks", type=int, default=8)
    ap.add_argument("--iters", type=int, default=6)
    ap.add_argument("--solvers", nargs="+", default=["cd", "mu"])
    ap.add_argument("--scale-rows", type=int, default=80000)
    ap.add_argument("--scale-iters", type=int, default=6)
    ap.add_argument("--skip", nargs="*", default=[], help="parts to skip: 1, 2")
    ap.add_argument("--out")
    args = ap.parse_args(argv)
    cmd = " ".join(["python benchmarks/dask_scaling.py"] + (argv or sys.argv[1:]))
    lines = ["# NMF on a Dask cluster: against the in-memory fit, scaling, and a model", "",
             f"`{cmd}`", "",
             f"- machine: {cpu_model()}, {os.cpu_count()} cores; fastnmf {fastnmf_revision()}",
             load_line("at the start"), ""]
    if "1" not in args.skip:
        part1(args, lines)
    if "2" not in args.skip:
        a, t0, t1 = part2(args, lines)
        part3(a, t0, t1, lines, k=20)
    lines.append(load_line("at the end"))
    write_report(lines, args.out)


if __name__ == "__main__":
    main()
