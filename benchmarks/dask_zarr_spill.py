#!/usr/bin/env python
"""NMF on a zarr X larger than its Dask workers' memory: seconds per cd iteration, bytes
spilled and peak RSS, against the same X on workers with enough memory.

Usage::

    python benchmarks/dask_zarr_spill.py --out benchmarks/results/dask_zarr_spill.md
    python benchmarks/dask_zarr_spill.py --rows 40000 --limit 300MB   # a small run

X: a rank-5 product plus uniform noise (0.1), dense float64, written to a zarr array in row
chunks of ``block-rows`` (no compression) block by block (the client never holds X), read
with ``da.from_zarr``.  The same fit, ``NMF(n_components=k, init=init, random_state=0,
max_iter=iters, tol=0)``, on a fresh LocalCluster (``workers`` processes, one thread each)
per configuration:

- ``enough memory``: no memory limit (nothing spills, nothing pauses);
- ``limited``: memory_limit ``limit`` per worker (default: X's bytes / (2 workers), so the
  limits sum to half of X), dask's memory thresholds (target 60 %, spill 70 %, pause 80 %,
  terminate 95 %);
- ``limited, target < block``: the same limit with ``distributed.worker.memory.target``
  at half a block of X (at most 2 %): every block is written to disk when stored and read
  from there by each task, never moved back into memory (at 60 % a block read back is moved
  into memory and written again when evicted).

Per-iteration seconds are the differences of ``time_history_`` after the first (median).
Spilled bytes: the workers' ``data.cumulative_metrics`` (bytes written to and read from
their spill directories, the whole fit).  Peak RSS: each worker process's VmHWM
(/proc/<pid>/status), the largest of the workers.  Restarts: workers the nanny replaced
(killed over 95 % of the limit).  A fit that fails (or does not end in ``timeout`` s) is
reported as such.  Pauses: times a worker was seen paused (its status,
polled every 50 ms).
"""

import argparse
import concurrent.futures
import os
import shutil
import sys
import tempfile
import threading
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from machine import cpu_model, fastnmf_revision, load_line, write_report  # noqa: E402


def per_iteration(times):
    t = np.diff(np.concatenate(([0.0], np.asarray(times))))
    return float(np.median(t[1:])) if len(t) > 1 else float(t[0])


def write_x(path, m, n, block_rows, rank=5, seed=0):
    """X = A B + 0.1 noise to a zarr array at ``path``, one row block at a time."""
    import zarr

    rng = np.random.default_rng(seed)
    A, B = rng.random((m, rank)), rng.random((rank, n))
    z = zarr.create_array(store=path, shape=(m, n), chunks=(block_rows, n), dtype="f8",
                          compressors=None, overwrite=True)
    for b, lo in enumerate(range(0, m, block_rows)):
        hi = min(m, lo + block_rows)
        noise = np.random.default_rng([seed, b]).random((hi - lo, n))
        z[lo:hi] = A[lo:hi] @ B + 0.1 * noise
    return m * n * 8


def worker_counts(dask_worker):
    """(bytes written to the spill directory, bytes read back, peak RSS) of a worker."""
    metrics = getattr(dask_worker.data, "cumulative_metrics", {})
    with open("/proc/self/status") as f:
        peak = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))
    return (metrics.get(("disk-write", "bytes"), 0), metrics.get(("disk-read", "bytes"), 0),
            peak)


def fit_on_cluster(path, kw, n_workers, limit, config, timeout):
    import dask
    import dask.array as da
    from distributed import Client, LocalCluster

    from fastnmf import NMF

    with dask.config.set(config), \
            LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                         memory_limit=limit, dashboard_address=None,
                         silence_logs=50) as cluster, Client(cluster) as client:
        client.wait_for_workers(n_workers)
        started = set(client.scheduler_info()["workers"])
        pauses, done = [0], threading.Event()

        def watch():  # the workers' status, as the scheduler sees it
            paused = set()
            while not done.wait(0.05):
                try:
                    now = {a for a, w in client.scheduler_info()["workers"].items()
                           if w.get("status") == "paused"}
                except Exception:  # noqa: BLE001 - the cluster is closing
                    return
                pauses[0] += len(now - paused)
                paused = now

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        t = time.perf_counter()
        est = NMF(**kw)
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            fit = pool.submit(est.fit, da.from_zarr(path))
            try:
                fit.result(timeout=timeout)
                failed = None
            except concurrent.futures.TimeoutError:
                failed = f"did not finish in {timeout:.0f} s"
                client.close()  # ends the fit
            except Exception as exc:  # noqa: BLE001 - reported in the table
                failed = f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}"
        whole = time.perf_counter() - t
        done.set()
        watcher.join()
        counts = client.run(worker_counts) if failed is None or "finish" not in failed else {}
        restarts = len(started - set(counts)) if counts else None
    if failed:
        return dict(failed=failed, whole=whole, pauses=pauses[0], restarts=restarts)
    return dict(it=per_iteration(est.time_history_), whole=whole,
                err=est.reconstruction_err_, H=est.components_,
                written=sum(c[0] for c in counts.values()),
                read=sum(c[1] for c in counts.values()),
                peak=max(c[2] for c in counts.values()), restarts=restarts, pauses=pauses[0])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=125000)
    ap.add_argument("--cols", type=int, default=2000)
    ap.add_argument("--block-rows", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--limit", help="memory limit per worker (default: X's bytes / (2 "
                    "workers)); a worker with fastnmf imported holds ~250 MiB of its own: "
                    "below ~400 MB it pauses for good (or its nanny kills it)")
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--init", default="random")
    ap.add_argument("--timeout", type=float, default=900,
                    help="seconds a fit may take (a fit on paused workers waits for ever)")
    ap.add_argument("--dir", help="where the zarr X goes (default: a temporary directory, "
                    "removed at the end)")
    ap.add_argument("--out")
    args = ap.parse_args(argv)

    from dask.utils import format_bytes, parse_bytes

    m, n, k = args.rows, args.cols, args.k
    nbytes = m * n * 8
    limit = parse_bytes(args.limit) if args.limit else nbytes // (2 * args.workers)
    kw = dict(n_components=k, init=args.init, random_state=0, max_iter=args.iters, tol=0)
    where = args.dir or tempfile.mkdtemp(prefix="dask_zarr_spill_")
    path = os.path.join(where, "X.zarr")
    command = (f"python benchmarks/dask_zarr_spill.py --rows {m} --cols {n} --block-rows "
               f"{args.block_rows} --workers {args.workers} --limit {limit} --iters "
               f"{args.iters} --k {k} --init {args.init}")
    lines = ["# NMF on a zarr X larger than the Dask workers' memory (spilling)", "",
             f"`{command}`", "",
             f"- machine: {cpu_model()}, {os.cpu_count()} cores; fastnmf {fastnmf_revision()}",
             load_line("at the start"), ""]
    runs = {}
    try:
        t = time.perf_counter()
        write_x(path, m, n, args.block_rows)
        target = min(0.02, args.block_rows * n * 8 / 2 / limit)
        print(f"X written in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        configs = [("enough memory", 0, {}),
                   ("limited", limit, {}),
                   ("limited, target < block", limit,
                    {"distributed.worker.memory.target": target})]
        for name, lim, config in configs:
            runs[name] = r = fit_on_cluster(path, kw, args.workers, lim, config, args.timeout)
            if "failed" in r:
                print(f"{name}: {r['failed']}", file=sys.stderr)
                continue
            print(f"{name}: {r['it']:.3f} s per iteration, whole call {r['whole']:.1f} s, "
                  f"written {format_bytes(r['written'])}, peak RSS {format_bytes(r['peak'])}",
                  file=sys.stderr)
    finally:
        if not args.dir:
            shutil.rmtree(where, ignore_errors=True)

    ref = runs["enough memory"]
    lines += [f"X: {m} x {n} float64 ({format_bytes(nbytes)}), zarr, uncompressed, in "
              f"{-(-m // args.block_rows)} row blocks of {args.block_rows}; {args.workers} "
              f"worker processes (one thread each); memory limit per worker: "
              f"{format_bytes(limit)} when limited ({args.workers} x {format_bytes(limit)} = "
              f"{args.workers * limit / nbytes:.0%} of X); rank {k}, {args.iters} iterations "
              f"of cd from init='{args.init}'; target < block: "
              f"distributed.worker.memory.target={target:.3g} ({format_bytes(target * limit)})."
              , "",
              "| workers | s per iteration (median) | vs enough memory | whole call (s) | "
              "spilled: written / read | peak RSS of a worker | pauses | restarts | "
              "H vs enough memory |",
              "|---|---|---|---|---|---|---|---|---|"]
    for name, r in runs.items():
        limit_name = "no limit" if name == "enough memory" else f"{format_bytes(limit)} each"
        if "failed" in r:
            lines.append(f"| {name} ({limit_name}) | failed: {r['failed']} (after "
                         f"{r['whole']:.0f} s) | | | | | {r['pauses']} | {r['restarts']} | |")
            continue
        if "failed" in ref:
            ratio = diff = float("nan")
        else:
            ratio = r["it"] / ref["it"]
            diff = float(np.abs(r["H"] - ref["H"]).max() / np.abs(ref["H"]).max())
        lines.append(f"| {name} ({limit_name}) | {r['it']:.3f} | "
                     f"{ratio:.2f} | {r['whole']:.1f} | "
                     f"{format_bytes(r['written'])} / {format_bytes(r['read'])} | "
                     f"{format_bytes(r['peak'])} | {r['pauses']} | {r['restarts']} | "
                     f"{diff:.1e} |")
    lines += ["", load_line("at the end")]
    write_report(lines, args.out)


if __name__ == "__main__":
    main()
