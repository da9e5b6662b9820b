#!/usr/bin/env python
"""X larger than one wants in memory: a fit on a memmap read in chunks, against the same fit
in memory.

Usage::

    python benchmarks/outofcore.py                       # 200000 x 2500 float64: 4 GB
    python benchmarks/outofcore.py --rows 20000 --out benchmarks/results/outofcore.md
    python benchmarks/outofcore.py --dir /data/tmp        # where the .npy file goes

Writes X (rank 20 plus 1% noise, non-negative) to a ``.npy`` file once (kept for later runs),
then, each in a fresh process:

- **disk**: how fast the file reads by itself, start to end in 64 MB pieces (the page cache
  dropped first when this process may: run as root);
- **chunked**: ``NMF(20, max_iter=..., chunk_bytes=...)`` on ``np.load(path, mmap_mode='r')``,
  the whole ``fit_transform`` timed, with the peak growth of the process's resident memory
  (VmHWM after ``/proc/self/clear_refs``, minus VmRSS before) and the read throughput of its
  passes over X (X's size times the passes, over the time);
- **in memory**: the same fit on X loaded with ``np.load`` (its memory is X itself plus the
  fit's), for the time and to compare the factors.

The fits start from the same nndsvda start and run the same solver ('auto': cd, one fused
pass over X an iteration) for a fixed number of iterations (``tol=0``).
"""

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

CHILD = r"""
import json, sys, time, warnings
import numpy as np
warnings.simplefilter("ignore")
from fastnmf import NMF

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) / 1024

mode, path, k, iters, chunk, out = sys.argv[1:7]
k, iters, chunk = int(k), int(iters), int(chunk)
NMF(3, max_iter=2).fit(np.random.rand(60, 40))  # libraries and threads up
if mode == "memory":
    X = np.load(path)
else:
    X = np.load(path, mmap_mode="r")
open("/proc/self/clear_refs", "w").write("5")
before = status("VmRSS")
t0 = time.perf_counter()
est = NMF(k, random_state=0, max_iter=iters, tol=0, chunk_bytes=chunk)
W = est.fit_transform(X)
seconds = time.perf_counter() - t0
peak = status("VmHWM") - before
np.save(out, W)
print(json.dumps({"seconds": seconds, "peak_mb": peak, "n_iter": int(est.n_iter_),
                  "solver": est.solver_, "error": float(est.reconstruction_err_)}))
"""


def make_x(path, m, n, rank=20, seed=0):
    """X = W H + 1% noise, written to ``path`` a block of rows at a time."""
    rng = np.random.default_rng(seed)
    W_all = rng.random((m, rank))
    H = rng.random((rank, n))
    X = np.lib.format.open_memmap(path, mode="w+", dtype=np.float64, shape=(m, n))
    step = max(1, (64 << 20) // (8 * n))
    for lo in range(0, m, step):
        hi = min(m, lo + step)
        X[lo:hi] = W_all[lo:hi] @ H + 0.01 * rng.random((hi - lo, n))
    X.flush()
    del X


def drop_caches():
    try:
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True
    except OSError:
        return False


def disk_read(path):
    """Seconds to read the file from start to end in 64 MB pieces."""
    t0 = time.perf_counter()
    with open(path, "rb", buffering=0) as f:
        while f.read(64 << 20):
            pass
    return time.perf_counter() - t0


def child(mode, path, k, iters, chunk, out):
    res = subprocess.run([sys.executable, "-c", CHILD, mode, str(path), str(k), str(iters),
                          str(chunk), str(out)], capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=200000)
    ap.add_argument("--cols", type=int, default=2500)
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--chunk-mb", type=int, default=256)
    ap.add_argument("--dir", default="/tmp")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    path = Path(a.dir) / f"fastnmf_ooc_{a.rows}x{a.cols}.npy"
    if not path.exists():
        print(f"writing {path} ...", flush=True)
        make_x(path, a.rows, a.cols)
    size_gb = path.stat().st_size / 1e9
    dropped = drop_caches()
    t_disk = disk_read(path)
    cold = dropped
    rows = []
    chunk = a.chunk_mb << 20
    W_chunked = Path(a.dir) / "fastnmf_ooc_W_chunked.npy"
    W_memory = Path(a.dir) / "fastnmf_ooc_W_memory.npy"
    drop_caches()
    r_chunk = child("chunked", path, a.k, a.iters, chunk, W_chunked)
    r_mem = child("memory", path, a.k, a.iters, chunk, W_memory)
    W1, W2 = np.load(W_chunked), np.load(W_memory)
    diff = float(np.abs(W1 - W2).max() / np.abs(W2).max())
    # passes over X: the start (16 products of the randomized SVD, one pass each, plus a
    # validation pass) and one fused pass an iteration, plus the final error's
    passes = 1 + 16 + a.iters + 1
    lines = [
        "# X read in chunks: a memmap against memory",
        "",
        f"Written by `python benchmarks/outofcore.py --rows {a.rows} --cols {a.cols} "
        f"--iters {a.iters} --chunk-mb {a.chunk_mb}` on "
        f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; "
        f"{platform.machine()}, {os.cpu_count()} cores.",
        "",
        f"- X: {a.rows} x {a.cols} float64, {size_gb:.2f} GB in a .npy file (rank 20 + 1% noise); "
        f"NMF(n_components={a.k}, max_iter={a.iters}, tol=0), default start and solver",
        f"- the disk: the file read start to end in {t_disk:.1f} s, {size_gb / t_disk:.2f} GB/s "
        f"({'page cache dropped first' if cold else 'page cache not dropped: this is the cache'})",
        "",
        "| how X is held | whole call s | peak RSS growth MB | solver | iterations | "
        "passes over X | read GB/s |",
        "|---|---|---|---|---|---|---|",
        f"| memmap, chunks of {a.chunk_mb} MB | {r_chunk['seconds']:.1f} | "
        f"{r_chunk['peak_mb']:.0f} | {r_chunk['solver']} | {r_chunk['n_iter']} | {passes} | "
        f"{passes * size_gb / r_chunk['seconds']:.2f} |",
        f"| in memory (np.load) | {r_mem['seconds']:.1f} | {r_mem['peak_mb']:.0f} (X not "
        f"counted: loaded before) | {r_mem['solver']} | {r_mem['n_iter']} | {passes} | – |",
        "",
        f"- W of the two fits: largest difference {diff:.1e} of the largest entry; final "
        f"errors {r_chunk['error']:.6g} and {r_mem['error']:.6g}",
        f"- passes over X: one to validate it, 16 for the nndsvda start's randomized SVD, one "
        f"an iteration (cd's fused pass), one for the final error",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if a.out:
        Path(a.out).write_text(text)
    W_chunked.unlink()
    W_memory.unlink()


if __name__ == "__main__":
    main()
