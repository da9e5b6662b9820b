#!/usr/bin/env python
"""fastnmf against scikit-learn, side by side: NMF(solver='cd') on the same data from the same start.

Usage::

    python benchmarks/compare.py                 # dense, then sparse (both tables in compare.md)
    python benchmarks/compare.py --dense         # only dense 4000x3000, rank 32, float64 and float32
    python benchmarks/compare.py --sparse        # only sparse CSR 100000x20000, 2e6 nonzeros, rank 32
    python benchmarks/compare.py --quick         # smoke run: dense 1000x800, sparse 20000x5000 with
                                                 # 2e5 nonzeros, 3 repeats
    python benchmarks/compare.py --out DIR       # where compare.md, loss_vs_time.{csv,png} go

Everything runs in one process, on one seeded non-negative matrix per case and dtype and one
nndsvda initialization (seed 0) that every contender starts from (``init='custom'``).  Per
repeat, the contenders run interleaved (in a rotating order), so a noisy neighbour slows them
alike; reported are medians over repeats, and ratios are medians of the per-repeat (paired)
ratios.  Per-iteration times are whole ``fit_transform`` calls with ``max_iter=iters, tol=0``
divided by ``iters``: nothing is subtracted (validation and the final ``reconstruction_err_``
are included; the table's footnote estimates that fixed cost).  Peak memory is measured in a fresh
child process per contender.  Machines are noisy: quote the ratios, not the absolute times.

Dense case: a low-rank-plus-noise matrix; the bound is the two products of an iteration in
NumPy/BLAS; a loss-vs-time curve (loss_vs_time.csv/.png) is written.

Sparse case (``--sparse``; part of the default run): a seeded count-like CSR matrix, nonzeros at
distinct uniformly random positions, values ``1 + Poisson(u_i . v_j)`` with rank-8 Gamma(0.5)
factors u, v (int32 indices); 10 iterations per fit by default (scikit-learn takes ~0.15-0.3 s per
iteration at the full size).  Two reference rows: *scipy products* (``X @ Ht`` plus ``X.T @ W``
with scipy.sparse, which is single-threaded) and *fastnmf products* (the backend's own
``csr_matmul`` plus ``csr_t_matmul`` kernels, at each thread count).  No loss-vs-time curve.
"""

import argparse
import csv
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import scipy.sparse as sp

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

import fastnmf  # noqa: E402
from fastnmf._backends import backend_status, get_backend  # noqa: E402
from fastnmf._init import initialize  # noqa: E402
from fastnmf.parallel.threads import blas_threads, usable_cores  # noqa: E402

SK = "scikit-learn"
BOUND = "bound"
SCIPY = "scipy products"
PRODUCTS = "fastnmf products"  # followed by the backend name
DTYPES = ("float64", "float32")
CURVE_REPEATS = 3  # fits per point of the loss-vs-time curve (the fastest is kept)


# ------------------------------------------------------------------ setup
def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Without --dense or --sparse, the dense case runs first, then the sparse case "
               "(CSR 100000x20000, 2e6 count-like nonzeros, 10 iterations per fit); compare.md "
               "gets one table per case and the time each part took. Only the dense case writes "
               "loss_vs_time.{csv,png}. Full run: under ~10 minutes on 2 cores.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    which = p.add_mutually_exclusive_group()
    which.add_argument("--dense", action="store_true", help="run only the dense case")
    which.add_argument("--sparse", action="store_true", help="run only the sparse case")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: dense 1000x800, sparse 20000x5000 with 2e5 nonzeros, "
                        "3 repeats, unless given")
    p.add_argument("--shape", default=None, metavar="MxN",
                   help="dense data shape (default 4000x3000)")
    p.add_argument("--sparse-shape", default=None, metavar="MxN",
                   help="sparse data shape (default 100000x20000)")
    p.add_argument("--nnz", type=float, default=None,
                   help="nonzeros of the sparse matrix (default 2e6)")
    p.add_argument("--rank", type=int, default=32, help="n_components (default 32)")
    p.add_argument("--iters", type=int, default=30, help="iterations per dense fit (default 30)")
    p.add_argument("--sparse-iters", type=int, default=10,
                   help="iterations per sparse fit (default 10)")
    p.add_argument("--repeats", type=int, default=None, help="repeats (default 5; --quick: 3)")
    p.add_argument("--threads", type=int, default=None,
                   help="threads for everybody (default: all usable cores)")
    p.add_argument("--out", default=str(HERE / "out"), metavar="DIR",
                   help="output directory (default: benchmarks/out)")
    p.add_argument("--_mem-child", dest="mem_child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    def shape_of(opt, text):
        try:
            m, n = (int(v) for v in text.lower().split("x"))
        except ValueError:
            p.error(f"{opt} must look like 4000x3000; got {text!r}")
        if min(m, n) < 1 or args.rank > min(m, n):
            p.error(f"{opt}: both sides must be positive and at least --rank")
        return m, n

    args.run_dense = not args.sparse
    args.run_sparse = not args.dense
    args.shape = shape_of("--shape", args.shape or ("1000x800" if args.quick else "4000x3000"))
    args.sparse_shape = shape_of("--sparse-shape", args.sparse_shape
                                 or ("20000x5000" if args.quick else "100000x20000"))
    args.nnz = int(args.nnz if args.nnz is not None else (2e5 if args.quick else 2e6))
    if not 1 <= args.nnz <= args.sparse_shape[0] * args.sparse_shape[1]:
        p.error("--nnz must be between 1 and the number of entries of --sparse-shape")
    if args.repeats is None:
        args.repeats = 3 if args.quick else 5
    if min(args.rank, args.iters, args.sparse_iters, args.repeats) < 1:
        p.error("rank, iters, sparse-iters and repeats must be positive")
    args.threads = args.threads or usable_cores()
    return args


def make_data(shape, rank, seed=0):
    """Seeded non-negative rank-`rank` matrix plus uniform noise, float64."""
    m, n = shape
    rng = np.random.default_rng(seed)
    X = rng.random((m, rank)) @ rng.random((rank, n))
    X += 0.1 * rng.random((m, n))
    return X


def make_sparse_data(shape, nnz, seed=0, rank=8):
    """Seeded count-like CSR matrix (float64, int32 indices, canonical): ``nnz`` nonzeros at
    distinct uniformly random positions, values ``1 + Poisson(u_i . v_j)`` with Gamma(0.5, 1)
    factors u (m x rank), v (n x rank), so the data have a low-rank-ish structure."""
    m, n = shape
    rng = np.random.default_rng(seed)
    flat = np.sort(rng.choice(m * n, size=nnz, replace=False))  # fast for huge m*n
    rows, cols = np.divmod(flat, n)
    del flat
    U = rng.gamma(0.5, 1.0, size=(m, rank))
    V = rng.gamma(0.5, 1.0, size=(n, rank))
    lam = np.empty(nnz)
    step = 1 << 18
    for s in range(0, nnz, step):
        lam[s:s + step] = np.einsum("ij,ij->i", U[rows[s:s + step]], V[cols[s:s + step]])
    data = 1.0 + rng.poisson(lam)
    idx = np.int32 if max(m, n, nnz) < 2**31 - 1 else np.int64
    indptr = np.zeros(m + 1, dtype=idx)
    np.cumsum(np.bincount(rows, minlength=m), out=indptr[1:])
    X = sp.csr_matrix((data, cols.astype(idx), indptr), shape=(m, n))
    X.has_sorted_indices = True  # positions were sorted and are distinct: canonical
    X.has_canonical_format = True
    return X


def sparse_nbytes(X):
    return X.data.nbytes + X.indices.nbytes + X.indptr.nbytes


def as_dtype(X64, dtype):
    if sp.issparse(X64):
        X = X64.astype(dtype)  # a copy with its own index arrays
        X.has_canonical_format = True
        return X
    return np.ascontiguousarray(X64, dtype=dtype)


def machine_lines():
    from threadpoolctl import threadpool_info

    from machine import cpu_model

    cpu = cpu_model()
    blas = sorted({f"{d.get('internal_api')} {d.get('version')} ({d.get('architecture')}, "
                   f"{d.get('threading_layer')}, {d.get('num_threads')} threads)"
                   for d in threadpool_info() if d.get("user_api") == "blas"})
    import numba
    import sklearn

    coretype = os.environ.get("OPENBLAS_CORETYPE")
    return [
        f"- machine: {cpu}, {usable_cores()} usable cores ({os.cpu_count()} online), "
        f"{platform.system()} {platform.machine()}",
        f"- BLAS (threadpoolctl): {'; '.join(blas) or 'none found'}",
        "- OPENBLAS_CORETYPE: " + (f"set ({coretype!r}, left as is)" if coretype is not None
                                   else "not set"),
        f"- versions: python {platform.python_version()}, numpy {np.__version__}, "
        f"scikit-learn {sklearn.__version__}, numba {numba.__version__}, "
        f"fastnmf {fastnmf.__version__}",
    ]


# ------------------------------------------------------------------ contenders
def make_estimator(contender, rank, max_iter, threads, solver="cd", beta_loss="frobenius"):
    common = dict(n_components=rank, init="custom", solver=solver, beta_loss=beta_loss,
                  max_iter=max_iter, tol=0.0)
    if contender == SK:
        from sklearn.decomposition import NMF as SklearnNMF

        return SklearnNMF(**common)
    backend = contender.split()[-1]  # "fastnmf cython" -> "cython"
    return fastnmf.NMF(**common, backend=backend, n_threads=threads)


def timed_fit(contender, X, W0, H0, rank, max_iter, threads, copy=True, **loss):
    """One fit from copies of W0, H0 (from W0, H0 themselves with ``copy=False``: the memory
    child copies before its peak reset); ``loss``: ``solver``/``beta_loss`` (default cd,
    Frobenius); returns (seconds, estimator), the fitted W in ``estimator.bench_W_``."""
    from sklearn.exceptions import ConvergenceWarning

    est = make_estimator(contender, rank, max_iter, threads, **loss)
    # scikit-learn writes into the W it is given (fastnmf copies W and H itself)
    W, H = (W0.copy(), H0.copy()) if copy else (W0, H0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if contender == SK:  # its cd kernel is single-threaded: only BLAS takes threads
            with blas_threads(threads):
                t0 = time.perf_counter()
                est.bench_W_ = est.fit_transform(X, W=W, H=H)
                t = time.perf_counter() - t0
        else:  # fastnmf limits BLAS itself, to n_threads
            t0 = time.perf_counter()
            est.bench_W_ = est.fit_transform(X, W=W, H=H)
            t = time.perf_counter() - t0
    return t, est


#: A loss within this relative distance of the target has reached it.  The two libraries
#: evaluate the loss with different formulas (fastnmf's ``loss_history_`` from the Gram
#: identity, the target from scikit-learn's ``reconstruction_err_``), whose rounding
#: differs by a few ulps: on the sparse case fastnmf's 30th cd iterate, the same point as
#: scikit-learn's, evaluated 1.3e-16 (relative) above the target, while one iteration
#: there changes the loss by about 1e-6.  Without the tolerance that ulp cost a whole
#: iteration.
REACH_RTOL = 1e-12


def first_reaching(history, target):
    """1-based index of the first loss <= target (within REACH_RTOL) in ``history``, or None."""
    hit = np.flatnonzero(np.asarray(history) <= target * (1.0 + REACH_RTOL))
    return int(hit[0]) + 1 if hit.size else None


def time_to_target(who, X, W0, H0, rank, threads, target, cap, repeats, time_all=False, **loss):
    """Time for contender ``who`` to reach the loss ``target`` from (W0, H0).

    A first fit of ``cap`` iterations with ``tol=0`` records ``loss_history_``; N is the
    first iteration at or below ``target``; then fits of exactly N iterations are timed,
    whole (validation and the final error included), median of ``repeats``.  When the
    target is never reached: ``seconds`` None, unless ``time_all`` (then the ``cap``
    iterations are timed, a per-iteration comparison).  ``loss``: solver, beta_loss.
    Returns dict(who, n, seconds, loss, reached, times).
    """
    timed_fit(who, X, W0, H0, rank, 2, threads, **loss)  # warm-up: JIT cache, thread pools
    _, est = timed_fit(who, X, W0, H0, rank, cap, threads, **loss)
    n = first_reaching(est.loss_history_, target)
    row = dict(who=who, n=n, seconds=None, loss=float(est.loss_history_[-1]),
               reached=n is not None, times=[])
    if n is None:
        if not time_all:
            row["n"] = cap
            return row
        n = row["n"] = cap
    for _ in range(repeats):
        sec, e = timed_fit(who, X, W0, H0, rank, n, threads, **loss)
        row["times"].append(sec)
        row["loss"] = float(e.loss_history_[-1])
    row["seconds"] = statistics.median(row["times"])
    return row


def bound_per_iter(X, W, Ht, loops, threads):
    """Per-iteration time of the two products an iteration cannot avoid, at BLAS speed.

    ``X @ Ht`` plus the faster of ``X.T @ W`` and ``(W.T @ X).T`` (same result; which one BLAS
    does faster depends on the library and the shapes).
    """
    def loop(f):
        t0 = time.perf_counter()
        for _ in range(loops):
            f()
        return (time.perf_counter() - t0) / loops

    with blas_threads(threads):
        a = loop(lambda: X @ Ht)
        b = loop(lambda: X.T @ W)
        c = loop(lambda: (W.T @ X).T)
    return a + min(b, c)


# ------------------------------------------------------------------ memory (child process)
def _status_kb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(f"{field} not in /proc/self/status")


def _reset_peak():
    """Reset the kernel's peak-RSS mark (VmHWM) to the current RSS; False if not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def mem_child(spec):
    """Child mode: fit once and print the growth of peak RSS during the fit, as JSON.

    The peak mark is reset right before the fit (Linux: ``/proc/self/clear_refs``), so imports,
    loading and the warm-up cannot hide the fit's own peak; without that, the growth of
    ``ru_maxrss`` is reported, which is a lower bound.
    """
    import resource

    spec = json.loads(spec)
    d = Path(spec["dir"])
    if (d / "X.npz").exists():  # sparse case: CSR saved uncompressed by scipy
        X = sp.load_npz(d / "X.npz").tocsr()
        X.has_canonical_format = True
    else:
        X = np.load(d / "X.npy")
    W0, H0 = np.load(d / "W0.npy"), np.load(d / "H0.npy")
    rank, threads, contender = spec["rank"], spec["threads"], spec["contender"]
    loss = spec.get("loss", {})
    # warm-up on a tiny matrix of the same kind: imports, kernel loading / JIT (from cache),
    # thread pools
    rng = np.random.default_rng(1)
    Xs = rng.random((60, 40)).astype(X.dtype)
    if sp.issparse(X):
        Xs[Xs < 0.7] = 0
        Xs = sp.csr_matrix(Xs)
    Ws, Hs = initialize(Xs, min(rank, 10), "nndsvda", 0)
    timed_fit(contender, Xs, Ws, Hs, min(rank, 10), 2, threads, **loss)
    W, H = W0.copy(), H0.copy()
    if _reset_peak():
        method = "VmHWM after clear_refs"
        before = _status_kb("VmRSS")
        timed_fit(contender, X, W, H, rank, spec["iters"], threads, copy=False, **loss)
        after = _status_kb("VmHWM")
    else:
        method = "ru_maxrss (lower bound)"
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        timed_fit(contender, X, W, H, rank, spec["iters"], threads, copy=False, **loss)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"before_kb": before, "after_kb": after, "method": method}))


def peak_memory_mb(contender, data_dir, rank, iters, threads, **loss):
    """Peak-RSS growth (MB) of one fit, in a fresh interpreter; (None, why) if the child failed.
    ``loss``: ``solver``/``beta_loss`` of the fit (default cd, Frobenius)."""
    spec = json.dumps({"dir": str(data_dir), "contender": contender, "rank": rank,
                       "iters": iters, "threads": threads, "loss": loss})
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(Path(fastnmf.__file__).resolve().parent.parent)]
        + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    for attempt in (1, 2):  # one retry: a shared machine can kill or starve a child
        proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--_mem-child",
                               spec], capture_output=True, text=True, env=env, timeout=600)
        if proc.returncode == 0:
            break
        print(f"  memory child for {contender} failed (attempt {attempt}, exit status "
              f"{proc.returncode}):\n{proc.stderr[-2000:]}", file=sys.stderr)
    else:
        return None, "child failed"
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    return max(r["after_kb"] - r["before_kb"], 0) / 1024, r["method"]


# ------------------------------------------------------------------ main measurement
def log(msg):
    print(msg, file=sys.stderr, flush=True)


def measure_dtype(dtype, X64, args, backends):
    rank, iters, T = args.rank, args.iters, args.threads
    X = np.ascontiguousarray(X64, dtype=dtype)
    W0, H0 = initialize(X, rank, "nndsvda", 0)
    Ht0 = np.ascontiguousarray(H0.T)
    fast = [f"fastnmf {b}" for b in backends]
    threads_list = [T, 1] if T > 1 else [T]
    tasks = [(c, t) for t in threads_list for c in [BOUND, SK, *fast]]

    log(f"[{dtype}] warm-up fits (JIT compile / caches excluded from the timings)")
    for c in [SK, *fast]:
        for t in threads_list:
            timed_fit(c, X, W0, H0, rank, 2, t)

    times = {task: [] for task in tasks}
    errors = {}
    loops = min(iters, 10)
    for rep in range(args.repeats):
        order = tasks[rep % len(tasks):] + tasks[:rep % len(tasks)]
        for c, t in order:
            if c == BOUND:
                times[(c, t)].append(bound_per_iter(X, W0, Ht0, loops, t))
            else:
                sec, est = timed_fit(c, X, W0, H0, rank, iters, t)
                times[(c, t)].append(sec / iters)
                errors[(c, t)] = est.reconstruction_err_
        log(f"[{dtype}] repeat {rep + 1}/{args.repeats}: "
            + ", ".join(f"{c}@{t}: {times[(c, t)][-1] * 1e3:.1f} ms/it" for c, t in tasks))

    # loss against time, from fits of increasing length (all threads)
    checkpoints = sorted({m for m in (1, 2, 5, 10, 20, 30, 50, 100) if m < iters} | {iters})
    curve = {}
    histories = {}
    best = {(c, mi): float("inf") for c in [SK, *fast] for mi in checkpoints}
    for _ in range(CURVE_REPEATS):  # fastest of a few fits: noise only ever adds time
        for c in [SK, *fast]:
            # an untimed short fit first: the first fit after another contender's pays for cold
            # memory and thread pools (up to a few hundred ms here), which is not its cost
            timed_fit(c, X, W0, H0, rank, 1, T)
            for mi in checkpoints:
                sec, est = timed_fit(c, X, W0, H0, rank, mi, T)
                best[(c, mi)] = min(best[(c, mi)], sec)
                loss = 0.5 * est.reconstruction_err_ ** 2
                if c != SK and mi == iters:
                    histories[c] = np.asarray(est.loss_history_)
                curve.setdefault(c, {})[mi] = loss
    curve = {c: [(mi, best[(c, mi)], curve[c][mi]) for mi in checkpoints] for c in curve}
    log(f"[{dtype}] loss-vs-time checkpoint fits done")

    # peak memory, one fresh process per contender
    mem = {}
    with tempfile.TemporaryDirectory(prefix="fastnmf_compare_") as tmp:
        np.save(Path(tmp) / "X.npy", X)
        np.save(Path(tmp) / "W0.npy", W0)
        np.save(Path(tmp) / "H0.npy", H0)
        for c in [SK, *fast]:
            mem[c], mem_method = peak_memory_mb(c, tmp, rank, iters, T)
            if mem[c] is not None:
                mem["method"] = mem_method
    log(f"[{dtype}] peak memory children done")
    return dict(dtype=dtype, X_mb=X.nbytes / 2**20, times=times, errors=errors, curve=curve,
                histories=histories, mem=mem, threads_list=threads_list, fast=fast)


# ------------------------------------------------------------------ sparse case
def _per_call(f, loops):
    t0 = time.perf_counter()
    for _ in range(loops):
        f()
    return (time.perf_counter() - t0) / loops


def scipy_products_per_iter(X, W, Ht, loops):
    """``X @ Ht`` plus ``X.T @ W`` with scipy.sparse (single-threaded code; BLAS held at 1)."""
    with blas_threads(1):
        return _per_call(lambda: X @ Ht, loops) + _per_call(lambda: X.T @ W, loops)


def fastnmf_products_per_iter(backend, X, W, Ht, loops, threads):
    """fastnmf's own ``csr_matmul`` plus ``csr_t_matmul`` kernels, as a sparse fit calls them
    (BLAS held at one thread, as the fit's thread plan does)."""
    kern = get_backend(backend)
    out_m = np.empty((X.shape[0], Ht.shape[1]), dtype=Ht.dtype)
    out_n = np.empty((X.shape[1], W.shape[1]), dtype=W.dtype)
    d, ind, ptr = X.data, X.indices, X.indptr
    with blas_threads(1):
        a = _per_call(lambda: kern.csr_matmul(d, ind, ptr, Ht, out_m, threads), loops)
        b = _per_call(lambda: kern.csr_t_matmul(d, ind, ptr, W, out_n, threads), loops)
    return a + b


def measure_sparse_dtype(dtype, X64, args, backends):
    rank, iters, T = args.rank, args.sparse_iters, args.threads
    X = as_dtype(X64, dtype)
    t0 = time.perf_counter()
    W0, H0 = initialize(X, rank, "nndsvda", 0)
    W0, H0 = W0.astype(dtype, copy=False), H0.astype(dtype, copy=False)
    log(f"[sparse {dtype}] nndsvda initialization: {time.perf_counter() - t0:.1f} s")
    Ht0 = np.ascontiguousarray(H0.T)
    fast = [f"fastnmf {b}" for b in backends]
    prods = [f"{PRODUCTS} {b}" for b in backends]
    threads_list = [T, 1] if T > 1 else [T]
    # (contender, threads, max_iter): full fits at every thread count, one-iteration fits at T
    # (for the fixed-cost estimate), the product timings; scipy's products once (no threads)
    tasks = [(SCIPY, T, None)]
    tasks += [(c, t, None) for t in threads_list for c in prods]
    tasks += [(c, t, iters) for t in threads_list for c in [SK, *fast]]
    if iters > 1:
        tasks += [(c, T, 1) for c in [SK, *fast]]

    log(f"[sparse {dtype}] warm-up fits (JIT compile / caches excluded from the timings)")
    for c in [SK, *fast]:
        for t in threads_list:
            timed_fit(c, X, W0, H0, rank, 1, t)
    for b in backends:
        fastnmf_products_per_iter(b, X, W0, Ht0, 1, T)

    times = {task: [] for task in tasks}
    errors = {}
    loops = min(iters, 10)
    for rep in range(args.repeats):
        order = tasks[rep % len(tasks):] + tasks[:rep % len(tasks)]
        for task in order:
            c, t, mi = task
            if c == SCIPY:
                sec = scipy_products_per_iter(X, W0, Ht0, loops)
            elif c.startswith(PRODUCTS):
                sec = fastnmf_products_per_iter(c.split()[-1], X, W0, Ht0, loops, t)
            else:
                sec, est = timed_fit(c, X, W0, H0, rank, mi, t)
                if mi == iters:
                    sec /= iters
                    errors[(c, t)] = est.reconstruction_err_
            times[task].append(sec)
        log(f"[sparse {dtype}] repeat {rep + 1}/{args.repeats}: "
            + ", ".join(f"{c}@{t}{'' if mi in (None, iters) else f' ({mi} it)'}: "
                        f"{times[(c, t, mi)][-1] * 1e3:.1f} ms" for c, t, mi in tasks))

    mem = {}
    with tempfile.TemporaryDirectory(prefix="fastnmf_compare_") as tmp:
        sp.save_npz(Path(tmp) / "X.npz", X, compressed=False)
        np.save(Path(tmp) / "W0.npy", W0)
        np.save(Path(tmp) / "H0.npy", H0)
        for c in [SK, *fast]:
            mem[c], mem_method = peak_memory_mb(c, tmp, rank, iters, T)
            if mem[c] is not None:
                mem["method"] = mem_method
    log(f"[sparse {dtype}] peak memory children done")
    return dict(dtype=dtype, X_mb=sparse_nbytes(X) / 2**20, times=times, errors=errors, mem=mem,
                threads_list=threads_list, fast=fast, prods=prods, iters=iters,
                index_dtype=str(X.indices.dtype))


def med(values):
    return statistics.median(values)


def paired(a, b):
    """Median over repeats of a[i] / b[i]."""
    return med([x / y for x, y in zip(a, b)])


def fixed_cost_ms(points):
    """Intercept of fit time against max_iter (least squares): validation, init checks, final error."""
    its = np.array([p[0] for p in points], float)
    secs = np.array([p[1] for p in points], float)
    if len(its) < 2:
        return float("nan")
    slope, intercept = np.polyfit(its, secs, 1)
    return intercept * 1e3


def table(results, args):
    T = args.threads
    m, n = args.shape
    lines = [
        f"## fastnmf vs scikit-learn, `NMF(solver='cd')`: dense {m}×{n}, rank {args.rank}, "
        f"{args.iters} iterations, {T} threads",
        "",
        *machine_lines(),
        f"- method: same process, same data (seed 0), same nndsvda initialization for all; "
        f"{args.repeats} repeats with the contenders interleaved; times are medians "
        f"(min–max over repeats), ratios are medians of per-repeat ratios.",
        "",
        f"| dtype | contender | ms / iteration, {T} threads | ms / iteration, 1 thread | "
        f"thread speed-up | scikit-learn ÷ this | this ÷ bound | rel. diff of "
        f"reconstruction_err_ vs scikit-learn | peak RSS growth of a fit |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    notes = []
    for r in results:
        ts, dt = r["times"], r["dtype"]
        has1 = 1 in r["threads_list"] and T > 1
        sk_err = r["errors"][(SK, T)]
        for c in [BOUND, SK, *r["fast"]]:
            tt = ts[(c, T)]
            cell_t = f"{med(tt) * 1e3:.1f} ({min(tt) * 1e3:.1f}–{max(tt) * 1e3:.1f})"
            cell_1 = f"{med(ts[(c, 1)]) * 1e3:.1f}" if has1 else "–"
            speed_thr = f"{paired(ts[(c, 1)], tt):.2f}×" if has1 else "–"
            vs_sk = f"{paired(ts[(SK, T)], tt):.2f}×"
            vs_bound = f"{paired(tt, ts[(BOUND, T)]):.2f}×"
            if c == BOUND:
                name = "bound: X·Hᵀ + Xᵀ·W (NumPy/BLAS)"
                rel = mem_cell = "–"
            else:
                name = c if c == SK else f"**{c}**"
                err = r["errors"][(c, T)]
                rel = "(reference)" if c == SK else f"{abs(err - sk_err) / sk_err:.1e}"
                mb = r["mem"].get(c)
                mem_cell = "failed" if mb is None else f"{mb:.0f} MB (X: {r['X_mb']:.0f} MB)"
            lines.append(f"| {dt} | {name} | {cell_t} | {cell_1} | {speed_thr} | {vs_sk} | "
                         f"{vs_bound} | {rel} | {mem_cell} |")
        fixed = ", ".join(f"{c} {fixed_cost_ms(r['curve'][c]):.0f} ms" for c in [SK, *r["fast"]])
        notes.append(f"- fixed cost of one {dt} fit (validation, init checks, final "
                     f"`reconstruction_err_`), estimated as the intercept of fit time against "
                     f"max_iter in the loss-vs-time fits: {fixed}")
    lines += [
        "",
        "- *bound*: the two m×n×r products every iteration needs, `X @ Ht` plus the faster of "
        "`X.T @ W` and `(W.T @ X).T`, in plain NumPy with the same dtype and thread limit.",
        "- *ms / iteration*: a whole `fit_transform(X, W=W0, H=H0)` with `max_iter="
        f"{args.iters}, tol=0`, divided by {args.iters}; nothing subtracted. scikit-learn's cd "
        "kernel is single-threaded, its BLAS gets the thread limit (threadpoolctl).",
        "- *rel. diff*: |err − err_sklearn| / err_sklearn of the final `reconstruction_err_`; "
        "~1e-12 or below in float64 means the same iterates (same algorithm).",
        "- *peak RSS growth*: peak resident memory during the fit minus the resident memory "
        "before it, in a fresh process already holding X and a copy of W0, H0 to pass in "
        "(scikit-learn writes into that W; fastnmf copies W and H), warmed up on a tiny fit "
        f"(measured as {results[0]['mem'].get('method', '?')}).",
        *notes,
    ]
    return "\n".join(lines)


def sparse_table(results, args, X64):
    T = args.threads
    m, n = args.sparse_shape
    iters = args.sparse_iters
    lines = [
        f"## fastnmf vs scikit-learn, `NMF(solver='cd')`: sparse CSR {m}×{n} with "
        f"{X64.nnz:,} nonzeros (density {X64.nnz / (m * n):.1e}), rank {args.rank}, "
        f"{iters} iterations, {T} threads",
        "",
        f"- data: count-like, seed 0: nonzeros at distinct uniformly random positions, values "
        f"1 + Poisson(u_i·v_j) with rank-8 Gamma(0.5, 1) factors (mean {X64.data.mean():.2f}, "
        f"max {X64.data.max():.0f}), {results[0]['index_dtype']} indices, canonical CSR",
        f"- method: same process, same data, same nndsvda initialization (seed 0) for all; "
        f"{args.repeats} repeats with the contenders interleaved; times are medians "
        f"(min–max over repeats), ratios are medians of per-repeat ratios.",
        "",
        f"| dtype | contender | ms / iteration, {T} threads | ms / iteration, 1 thread | "
        f"thread speed-up | scikit-learn ÷ this | scikit-learn ÷ this, marginal iteration | "
        f"this ÷ scipy products | this ÷ fastnmf products "
        f"(same backend) | rel. diff of reconstruction_err_ vs scikit-learn | "
        f"peak RSS growth of a fit |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]

    def marginal(ts, c, it):
        """Per repeat: (time of an it-iteration fit - time of a 1-iteration fit) / (it - 1)."""
        return [(a * it - b) / (it - 1) for a, b in zip(ts[(c, T, it)], ts[(c, T, 1)])]

    notes = []
    for r in results:
        ts, dt = r["times"], r["dtype"]
        it = r["iters"]
        has1 = 1 in r["threads_list"] and T > 1
        sk_err = r["errors"][(SK, T)]
        scipy_t = ts[(SCIPY, T, None)]
        sk_t = ts[(SK, T, it)]
        for c in [SCIPY, *r["prods"], SK, *r["fast"]]:
            is_fit = c == SK or c in r["fast"]
            mi = it if is_fit else None
            if c == SCIPY:
                tt, t1 = scipy_t, None
            else:
                tt = ts[(c, T, mi)]
                t1 = ts[(c, 1, mi)] if has1 else None
            cell_t = f"{med(tt) * 1e3:.1f} ({min(tt) * 1e3:.1f}–{max(tt) * 1e3:.1f})"
            if c == SCIPY:
                cell_1 = "(same: single-threaded)"
            else:
                cell_1 = f"{med(t1) * 1e3:.1f}" if t1 else "–"
            speed_thr = f"{paired(t1, tt):.2f}×" if t1 else "–"
            vs_sk = f"{paired(sk_t, tt):.2f}×"
            if is_fit and it > 1:
                vs_sk_marginal = f"{paired(marginal(ts, SK, it), marginal(ts, c, it)):.2f}×"
            else:
                vs_sk_marginal = "–"
            vs_scipy = "–" if c == SCIPY else f"{paired(tt, scipy_t):.2f}×"
            if c in r["fast"]:
                own = ts[(f"{PRODUCTS} {c.split()[-1]}", T, None)]
                vs_own = f"{paired(tt, own):.2f}×"
            else:
                vs_own = "–"
            if c == SCIPY:
                name = "scipy products: `X @ Ht` + `X.T @ W` (scipy.sparse, single-threaded)"
            elif c in r["prods"]:
                name = f"fastnmf products, {c.split()[-1]}: `csr_matmul` + `csr_t_matmul`"
            else:
                name = c if c == SK else f"**{c}**"
            if not is_fit:
                rel = mem_cell = "–"
            else:
                err = r["errors"][(c, T)]
                rel = "(reference)" if c == SK else f"{abs(err - sk_err) / sk_err:.1e}"
                mb = r["mem"].get(c)
                xmb = r["X_mb"]
                mem_cell = ("failed" if mb is None
                            else f"{mb:.0f} MB (X: {xmb:.{1 if xmb < 10 else 0}f} MB)")
            lines.append(f"| {dt} | {name} | {cell_t} | {cell_1} | {speed_thr} | {vs_sk} | "
                         f"{vs_sk_marginal} | {vs_scipy} | {vs_own} | {rel} | {mem_cell} |")
        if it > 1:
            parts = []
            for c in [SK, *r["fast"]]:
                per_it = med(ts[(c, T, it)])
                one = med(ts[(c, T, 1)])
                fixed = (one * it - per_it * it) / (it - 1)  # intercept through (1, one), (it, it*per_it)
                parts.append(f"{c} {fixed * 1e3:.0f} ms")
            notes.append(f"- fixed cost of one {dt} fit (validation, init checks, final "
                         f"`reconstruction_err_`), estimated from medians of {it}-iteration and "
                         f"1-iteration fits at {T} threads: {', '.join(parts)} (the table's "
                         f"per-iteration times include 1/{it} of it)")
    lines += [
        "",
        "- *scipy products*: `X @ Ht` plus `X.T @ W` with scipy.sparse (its CSR/CSC times dense "
        "code is single-threaded; measured once per repeat, shown in the all-threads column). "
        "These are the products scikit-learn's sparse cd does each iteration.",
        "- *fastnmf products*: the backend's own kernels for the same two products "
        "(`csr_matmul`, `csr_t_matmul`) at the given thread count, as a fit calls them.",
        f"- *ms / iteration*: a whole `fit_transform(X, W=W0, H=H0)` with `max_iter={iters}, "
        f"tol=0`, divided by {iters}; nothing subtracted. scikit-learn's BLAS (here only the "
        "k×k Gram matrices) gets the thread limit; fastnmf's sparse thread plan gives its "
        "kernels every thread and BLAS one.",
        f"- *marginal iteration*: the cost of one more iteration, (time of a {iters}-iteration "
        f"fit − time of a 1-iteration fit) / {iters - 1}, per repeat; the ratio of scikit-learn's "
        "to ours, median over repeats. It leaves out what a fit pays once (validation, "
        "initial copies, the final error).",
        "- *rel. diff*: |err − err_sklearn| / err_sklearn of the final `reconstruction_err_` "
        "(both from the nonzeros and the Gram matrices on sparse X).",
        "- *peak RSS growth*: peak resident memory during the fit minus the resident memory "
        "before it, in a fresh process already holding X and a copy of W0, H0 to pass in "
        "(scikit-learn writes into that W; fastnmf copies W and H), warmed up on a tiny sparse "
        f"fit (measured as {results[0]['mem'].get('method', '?')}); X is data + indices + "
        "indptr bytes.",
        *notes,
    ]
    return "\n".join(lines)


def write_curves(results, out):
    rows = []
    for r in results:
        for c, pts in r["curve"].items():
            for mi, sec, loss in pts:
                rows.append((r["dtype"], c, "fit with max_iter", mi, f"{sec:.6f}", f"{loss:.10e}"))
    path = out / "loss_vs_time.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["dtype", "contender", "kind", "iterations", "seconds", "objective"])
        w.writerows(rows)
    return path


def plot_curves(results, args, out):
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    T = args.threads
    fig = Figure(figsize=(6 * len(results), 4.6))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(results), squeeze=False)[0]
    for ax, r in zip(axes, results):
        for c, pts in r["curve"].items():
            xs = [p[1] for p in pts]
            ys = [p[2] for p in pts]
            line = ax.plot(xs, ys, "o", label=f"{c}: fits of max_iter={','.join(str(p[0]) for p in pts)}")[0]
            if c in r["histories"]:
                h = r["histories"][c]
                per_it = med(r["times"][(c, T)])
                ax.plot(per_it * np.arange(1, len(h) + 1), h, "-", color=line.get_color(),
                        alpha=0.6, label=f"{c}: loss_history_ × median time/iteration")
            else:
                ax.plot(xs, ys, "-", color=line.get_color(), alpha=0.6)
        ax.set_yscale("log")
        ax.set_xlabel("wall time of the fit (s)")
        ax.set_ylabel("objective ½‖X − WH‖²_F")
        m, n = args.shape
        ax.set_title(f"{r['dtype']}: {m}×{n}, rank {args.rank}, {T} threads", fontsize=10)
        ax.legend(fontsize=7)
    fig.suptitle(f"NMF(solver='cd') from the same nndsvda start. Markers: whole fits of "
                 f"increasing max_iter (fastest of {CURVE_REPEATS}), objective from "
                 f"reconstruction_err_. Lines: fastnmf's loss_history_ at i x median time per "
                 f"iteration", fontsize=8)
    fig.tight_layout()
    path = out / "loss_vs_time.png"
    fig.savefig(path, dpi=110)
    return path


def main(argv=None):
    args = parse_args(argv)
    if args.mem_child is not None:
        mem_child(args.mem_child)
        return 0
    status = backend_status()
    backends = [b for b in ("cython", "numba") if status.get(b) is None]
    for b in ("cython", "numba"):
        if b not in backends:
            log(f"fastnmf backend {b} unavailable ({status.get(b)}): left out")
    if not backends:
        log("no compiled fastnmf backend is available: nothing to compare")
        return 1
    start = time.perf_counter()
    log("\n".join(machine_lines()))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sections, timing, written = [], [], []
    if args.run_dense:
        t0 = time.perf_counter()
        X64 = make_data(args.shape, args.rank)
        results = [measure_dtype(dt, X64, args, backends) for dt in DTYPES]
        del X64
        sections.append(table(results, args))
        timing.append(f"dense part {time.perf_counter() - t0:.0f} s")
        written.append(write_curves(results, out))
        png = plot_curves(results, args, out)
        if png is None:
            log("matplotlib not installed: no loss_vs_time.png (pip install fastnmf[plot])")
        else:
            written.append(png)
    if args.run_sparse:
        t0 = time.perf_counter()
        X64 = make_sparse_data(args.sparse_shape, args.nnz)
        log(f"[sparse] data: {X64.shape[0]}x{X64.shape[1]}, {X64.nnz} nonzeros, "
            f"{time.perf_counter() - t0:.1f} s to generate")
        sresults = [measure_sparse_dtype(dt, X64, args, backends) for dt in DTYPES]
        body = sparse_table(sresults, args, X64)
        if not args.run_dense:  # the machine description lives in the dense table otherwise
            head, rest = body.split("\n\n", 1)
            body = "\n".join([head, "", *machine_lines(), rest])
        sections.append(body)
        timing.append(f"sparse part {time.perf_counter() - t0:.0f} s")
    md = "\n\n".join(sections)
    md += f"\n\n- whole run: {time.perf_counter() - start:.0f} s ({', '.join(timing)})\n"
    print(md)
    (out / "compare.md").write_text(md)
    written.insert(0, out / "compare.md")
    log("wrote " + ", ".join(str(p) for p in written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
