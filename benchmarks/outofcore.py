#!/usr/bin/env python
"""X larger than one wants in memory: a fit on a memmap read in chunks, against the same fit
in memory.

Usage::

    python benchmarks/outofcore.py                       # 200000 x 2500 float64: 4 GB
    python benchmarks/outofcore.py --rows 20000 --out benchmarks/results/outofcore.md
    python benchmarks/outofcore.py --dir /data/tmp        # where the .npy file goes
    python benchmarks/outofcore.py --repeats 3            # medians of 3 rounds

Writes X (rank 20 plus 1% noise, non-negative) to a ``.npy`` file once (kept for later runs),
then, each in a fresh process:

- **disk**: how fast the file reads by itself, start to end in 8 MB pieces, from the disk:
  its pages are evicted from the operating system's cache first (``posix_fadvise(DONTNEED)``,
  which needs no privilege; ``/proc/sys/vm/drop_caches`` too where this process may write it);
- **chunked**: ``NMF(20, max_iter=..., chunk_bytes=...)`` on ``np.load(path, mmap_mode='r')``,
  the whole ``fit_transform`` timed, with the peak growth of the process's resident memory
  (VmHWM after ``/proc/self/clear_refs``, minus VmRSS before), the passes over X (counted)
  and their read throughput (X's size times the passes, over the whole call's time).  X's
  pages are evicted before the fit, so its first pass reads the disk; the later ones read
  what the operating system kept in its cache (all of X when it fits in RAM);
- **chunked, every pass from the disk** (run unless ``--no-evict``):
  the same fit with each chunk's pages evicted from the cache once it is read, so that every
  pass reads the disk, as when X is larger than RAM;
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
import json, os, sys, time, warnings
import numpy as np
warnings.simplefilter("ignore")
from fastnmf import NMF

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) / 1024

def cpu_seconds():  # (seconds the cores were busy since boot, seconds this process ran)
    with open("/proc/stat") as f:
        ticks = [int(v) for v in f.readline().split()[1:8]]  # user ... softirq
    busy = sum(ticks) - ticks[3] - ticks[4]
    own = os.times()
    return busy / os.sysconf("SC_CLK_TCK"), own.user + own.system

mode, path, k, iters, chunk, out = sys.argv[1:7]
k, iters, chunk = int(k), int(iters), int(chunk)
NMF(3, max_iter=2).fit(np.random.rand(60, 40))  # libraries and threads up
if mode == "memory":
    X = np.load(path)
else:
    X = np.load(path, mmap_mode="r")
passes, reading = [0], [0.0]
if mode != "memory":  # count the passes over X and time the reads (evicting: each chunk
    from fastnmf.data.chunked import ChunkedData  # dropped from the cache once read)
    chunks = ChunkedData.chunks
    fd = os.open(path, os.O_RDONLY)
    row = X.strides[0]

    def counted(self):
        passes[0] += 1
        it = chunks(self)
        while True:
            t = time.perf_counter()
            try:
                lo, hi, block = next(it)
            except StopIteration:
                break
            reading[0] += time.perf_counter() - t
            yield lo, hi, block
            if mode == "evict":
                os.posix_fadvise(fd, X.offset + lo * row, (hi - lo) * row,
                                 os.POSIX_FADV_DONTNEED)

    ChunkedData.chunks = counted
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
before = status("VmRSS")
busy0, own0 = cpu_seconds()
t0 = time.perf_counter()
est = NMF(k, random_state=0, max_iter=iters, tol=0, chunk_bytes=chunk)
W = est.fit_transform(X)
seconds = time.perf_counter() - t0
busy1, own1 = cpu_seconds()
peak = status("VmHWM") - before
np.save(out + "_W.npy", W)
np.save(out + "_H.npy", est.components_)
print(json.dumps({"seconds": seconds, "peak_mb": peak, "n_iter": int(est.n_iter_),
                  "solver": est.solver_, "error": float(est.reconstruction_err_),
                  "passes": passes[0], "reading": reading[0],
                  "others": (busy1 - busy0 - (own1 - own0)) / seconds}))
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


def drop_caches(path):
    """Evict ``path``'s pages from the operating system's cache (written back first); True
    when they are gone (``posix_fadvise`` needs no privilege; ``drop_caches`` needs root and,
    in a container, may be refused)."""
    os.sync()
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
    except OSError:
        pass
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    cached = cached_bytes(path)
    return cached is not None and cached < 0.01 * os.path.getsize(path)


def cached_bytes(path):
    """Bytes of ``path`` in the operating system's cache (``mincore`` of a map of it, which
    reads nothing); None where that cannot be asked."""
    import ctypes
    import mmap

    size = os.path.getsize(path)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                          ctypes.c_int, ctypes.c_long]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
    fd = os.open(path, os.O_RDONLY)
    try:
        addr = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
        if addr in (None, ctypes.c_void_p(-1).value):
            return None
        try:
            vec = np.zeros(-(-size // mmap.PAGESIZE), dtype=np.uint8)
            if libc.mincore(addr, size, vec.ctypes.data) != 0:
                return None
            return int(np.count_nonzero(vec & 1)) * mmap.PAGESIZE
        finally:
            libc.munmap(addr, size)
    finally:
        os.close(fd)


def disk_read(path):
    """Seconds to read the file from start to end, 8 MB at a time into one buffer (``read()``
    of 64 MB pieces, each a new bytes object, measured the allocation: 1.7 GB/s from the
    cache, where this reads at 15)."""
    buf = memoryview(bytearray(8 << 20))
    t0 = time.perf_counter()
    with open(path, "rb", buffering=0) as f:
        while f.readinto(buf):
            pass
    return time.perf_counter() - t0


def child(mode, path, k, iters, chunk, out):
    res = subprocess.run([sys.executable, "-c", CHILD, mode, str(path), str(k), str(iters),
                          str(chunk), str(out)], capture_output=True, text=True)
    if res.returncode != 0:
        sys.exit(f"the {mode} fit failed:\n{res.stderr}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def machine_lines(directory):
    """The machine: CPU, cores, RAM, the disk under ``directory``, library versions."""
    from threadpoolctl import threadpool_info

    import fastnmf

    cpu, ram_gb = platform.processor() or platform.machine(), None
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f
                       if line.startswith("model name"))
        with open("/proc/meminfo") as f:
            ram_gb = next(int(line.split()[1]) for line in f
                          if line.startswith("MemTotal")) / 2**20
    except (OSError, StopIteration):
        pass
    disk = "unknown"
    try:
        dev = os.stat(directory).st_dev
        disk = "/dev/" + Path(f"/sys/dev/block/{os.major(dev)}:{os.minor(dev)}").resolve().name
    except OSError:
        pass
    blas = sorted({f"{d.get('internal_api')} {d.get('version')} ({d.get('num_threads')} "
                   f"threads)" for d in threadpool_info() if d.get("user_api") == "blas"})
    from machine import fastnmf_revision

    rev = fastnmf_revision()
    return [
        f"- machine: {cpu}, {os.cpu_count()} cores, "
        + (f"{ram_gb:.0f} GB of RAM, " if ram_gb else "")
        + f"{platform.system()} {platform.machine()}; {directory} on {disk}",
        f"- versions: python {platform.python_version()}, numpy {np.__version__}, BLAS "
        f"{'; '.join(blas) or 'none found'}, fastnmf {fastnmf.__version__} at {rev}",
    ]


def spread(values, fmt):
    """The median of ``values``, with their range when there are several."""
    med, lo, hi = (fmt.format(float(v)) for v in (np.median(values), min(values), max(values)))
    return med if lo == hi else f"{med} ({lo}–{hi})"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=200000)
    ap.add_argument("--cols", type=int, default=2500)
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--chunk-mb", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=1,
                    help="rounds of the disk read and the fits, interleaved; medians reported")
    ap.add_argument("--dir", default="/tmp")
    ap.add_argument("--out", default=None)
    ap.add_argument("--no-evict", dest="evict", action="store_false",
                    help="skip the fit that reads every pass from the disk")
    ap.add_argument("--note", action="append", default=[],
                    help="a line to add to the results (the machine's load, say); repeatable")
    a = ap.parse_args()
    Path(a.dir).mkdir(parents=True, exist_ok=True)
    path = Path(a.dir) / f"fastnmf_ooc_{a.rows}x{a.cols}.npy"
    if not path.exists():
        print(f"writing {path} ...", file=sys.stderr, flush=True)
        make_x(path, a.rows, a.cols)
    size = path.stat().st_size
    size_gb = size / 1e9
    chunk = a.chunk_mb << 20
    out = str(Path(a.dir) / "fastnmf_ooc")
    modes = {"chunked": f"memmap, chunks of {a.chunk_mb} MB"}
    if a.evict:
        modes["evict"] = f"memmap, chunks of {a.chunk_mb} MB, every pass from the disk"
    modes["memory"] = "in memory (np.load)"
    disk, cold = [], True
    results = {mode: [] for mode in modes}  # per repeat: (result, X's bytes in the cache after)
    for rep in range(a.repeats):
        cold = drop_caches(path) and cold
        disk.append(disk_read(path))
        for mode in modes:
            drop_caches(path)
            print(f"round {rep + 1}/{a.repeats}: {mode} fit ...", file=sys.stderr, flush=True)
            r = child(mode, path, a.k, a.iters, chunk, f"{out}_{mode}{rep}")
            results[mode].append((r, cached_bytes(path)))
        cold = drop_caches(path) and cold  # the disk again: its speed drifts
        disk.append(disk_read(path))
    factors = {mode: (np.load(f"{out}_{mode}0_W.npy"), np.load(f"{out}_{mode}0_H.npy"))
               for mode in modes}
    W0, H0 = factors["memory"]

    def cache_note(cached):
        return "?" if any(c is None for c in cached) else \
            spread([c / size * 100 for c in cached], "{:.0f}") + "% of X"

    lines = [
        "# X read in chunks: a memmap against memory",
        "",
        f"Written by `python benchmarks/outofcore.py --rows {a.rows} --cols {a.cols} "
        f"--iters {a.iters} --chunk-mb {a.chunk_mb} --repeats {a.repeats}` on "
        f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC.",
        "",
        *machine_lines(a.dir),
        *[f"- {note}" for note in a.note],
        f"- X: {a.rows} x {a.cols} float64, {size_gb:.2f} GB in a .npy file (rank 20 + 1% "
        f"noise); NMF(n_components={a.k}, max_iter={a.iters}, tol=0, "
        f"chunk_bytes={chunk}), default start (nndsvda) and solver",
        f"- the disk: the file read start to end (8 MB reads), before and after each round's "
        f"fits, in {spread(disk, '{:.1f}')} s, "
        f"**{spread([size_gb / t for t in disk], '{:.2f}')} GB/s** "
        + ("(its pages evicted from the cache first)" if cold else
           "(**its pages could not be evicted from the cache: this is the cache's speed**)"),
        "",
        "| how X is held | whole call s | peak RSS growth MB | solver | iterations | "
        "passes over X | read GB/s | reading s | GB/s while reading | in the OS cache after "
        "the fit | other processes, cores |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for mode, label in modes.items():
        rs = [r for r, _ in results[mode]]
        r0 = rs[0]
        seconds = [r["seconds"] for r in rs]
        peak = spread([r["peak_mb"] for r in rs], "{:.0f}")
        if mode == "memory":
            peak += f" (X, {size / 2**20:.0f} MB, not counted: loaded before)"
            passes = rate = reading = reading_rate = cached = "–"
        else:
            passes = str(r0["passes"])
            rate = spread([r["passes"] * size_gb / r["seconds"] for r in rs], "{:.2f}")
            reading = spread([r["reading"] for r in rs], "{:.1f}")
            reading_rate = spread([r["passes"] * size_gb / r["reading"] for r in rs], "{:.2f}")
            cached = cache_note([c for _, c in results[mode]])
        others = spread([max(0.0, r["others"]) for r in rs], "{:.1f}")
        lines.append(f"| {label} | {spread(seconds, '{:.1f}')} | {peak} | {r0['solver']} | "
                     f"{r0['n_iter']} | {passes} | {rate} | {reading} | "
                     f"{reading_rate} | {cached} | {others} |")
    lines += [
        "",
        "- *whole call*: `fit_transform(X)`, validation, start, iterations and final error"
        + (f"; medians of {a.repeats} rounds (min–max), the fits interleaved, each in a fresh "
           "process" if a.repeats > 1 else ", in a fresh process")
        + "; *peak RSS growth*: VmHWM after `/proc/self/clear_refs` minus VmRSS before the "
        "call; *read GB/s*: X's size times the passes over it (counted), over the whole "
        "call's time; *reading*: the part of the call spent getting the chunks (copying them "
        "out of the memmap: from the cache, or through page faults from the disk), and X's "
        "size times the passes over that part; *other processes*: the CPU time the machine "
        "spent on anything but the fit's process during the call (`/proc/stat`), over the "
        "call's time (of "
        f"{os.cpu_count()} cores)",
        "- before each chunked fit X's pages are evicted from the operating system's cache, so "
        "the first pass reads the disk; in the first row the later passes read what the cache "
        "kept of X (with more RAM than X, all of it); in the second, each chunk is evicted "
        "again once read (`posix_fadvise(DONTNEED)`), so every pass reads the disk, as when X "
        "is larger than RAM" if a.evict else
        "- before the chunked fit X's pages are evicted from the operating system's cache, so "
        "its first pass reads the disk and the later ones what the cache kept of X",
    ]
    if a.repeats > 1:  # each round: the disk, then each fit's time (other processes' cores)
        lines += ["", "| round | disk GB/s, before / after | "
                  + " | ".join(f"{label}: s (others, cores)" for label in modes.values()) + " |",
                  "|---" * (len(modes) + 2) + "|"]
        for rep in range(a.repeats):
            cells = [f"{results[mode][rep][0]['seconds']:.1f} "
                     f"({max(0.0, results[mode][rep][0]['others']):.1f})" for mode in modes]
            lines.append(f"| {rep + 1} | {size_gb / disk[2 * rep]:.2f} / "
                         f"{size_gb / disk[2 * rep + 1]:.2f} | " + " | ".join(cells) + " |")
        lines.append("")
    err0 = results["memory"][0][0]["error"]
    for mode, label in modes.items():
        if mode == "memory":
            continue
        W1, H1 = factors[mode]
        dW = float(np.abs(W1 - W0).max() / np.abs(W0).max())
        dH = float(np.abs(H1 - H0).max() / np.abs(H0).max())
        lines.append(
            f"- {label} against in memory: largest difference of W {dW:.1e}, of H {dH:.1e} "
            f"(relative to the factor's largest entry); final errors "
            f"{results[mode][0][0]['error']:.10g} and {err0:.10g}")
    n_passes = results["chunked"][0][0]["passes"]
    lines.append(
        f"- the {n_passes} passes over X: one to validate it, {n_passes - a.iters - 3} for the "
        f"nndsvda start's randomized SVD, one for the starting loss, one an iteration (cd's "
        f"fused pass), one for the final error")
    text = "\n".join(lines) + "\n"
    print(text)
    if a.out:
        Path(a.out).write_text(text)
    for mode in modes:
        for rep in range(a.repeats):
            for f in ("W", "H"):
                Path(f"{out}_{mode}{rep}_{f}.npy").unlink()


if __name__ == "__main__":
    main()
