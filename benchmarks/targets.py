#!/usr/bin/env python
"""fastnmf's speed targets, each measured side by side with scikit-learn in one run.

Usage::

    python benchmarks/targets.py            # every target (about 15 minutes on 2 cores)
    python benchmarks/targets.py --quick    # smoke run on small data (numbers meaningless)
    python benchmarks/targets.py --only dense,threads --out DIR

Targets (same data, same nndsvda start, ratios from this one run):

- dense: 4000x3000 rank 32, float64 and float32: time to reach the loss scikit-learn's
  ``solver='cd'`` reaches in 100 iterations, fastnmf's default solver ('auto'): >= 5x.
- bound: the cd solver's per-iteration time within 1.15x of the two products X.Ht, W^T.X
  in NumPy/BLAS (marginal cost of an iteration, from 30- and 2-iteration fits; paired medians).
- sparse: 100000x20000 with 2e6 nonzeros, rank 32: time to scikit-learn cd's 30-iteration
  loss >= 5x, default solver.
- kl: 20000x5000 counts (density 0.5%), rank 16: time to scikit-learn mu's 200-iteration
  KL divergence >= 20x, default solver (cd for KL).
- threads: per-iteration speed-up of the default solver (and of cd) from 1 to all threads:
  >= 1.8x dense, >= 1.6x sparse (fixed-iteration fits, paired medians).
- first: the overhead of the first fit in a new process (import + first fit minus the same
  fit run again in that process) with a warm Numba cache: < 1 s; cython for comparison.

The time-to-target rows use ``compare.time_to_target`` (N = the first iteration at or below
the target in a ``tol=0`` fit, then fits of exactly N iterations timed whole, median of
repeats); scikit-learn's reference fit is timed 3 times (median).  The machine
lines and per-target tables go to ``targets.md``.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import compare as C  # noqa: E402
import compare_kl as K  # noqa: E402
from fastnmf._init import initialize  # noqa: E402
from fastnmf.parallel.threads import usable_cores  # noqa: E402

ALL = ("dense", "bound", "sparse", "kl", "threads", "first")
SK_REPEATS = 3


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small data, 2 repeats")
    p.add_argument("--only", default=",".join(ALL), help="comma-separated from " + ", ".join(ALL))
    p.add_argument("--repeats", type=int, default=None, help="default 5 (--quick: 2)")
    p.add_argument("--backends", default="cython,numba")
    p.add_argument("--out", default=str(HERE / "out"), metavar="DIR")
    a = p.parse_args(argv)
    a.only = [w.strip() for w in a.only.split(",") if w.strip()]
    bad = sorted(set(a.only) - set(ALL))
    if bad:
        p.error(f"--only: unknown {bad}; choose from {', '.join(ALL)}")
    a.repeats = a.repeats or (2 if a.quick else 5)
    a.threads = usable_cores()
    a.dense_shape = (600, 400) if a.quick else (4000, 3000)
    a.sparse_shape = (20000, 5000) if a.quick else (100000, 20000)
    a.nnz = 200_000 if a.quick else 2_000_000
    a.kl_shape = (4000, 1000) if a.quick else (20000, 5000)
    a.kl_density = 0.02 if a.quick else 0.005
    a.rank = 16 if a.quick else 32
    a.kl_rank = 8 if a.quick else 16
    status = C.backend_status()
    a.backends = [b for b in a.backends.split(",") if status.get(b.strip()) is None]
    return a


def verdict(value, goal, higher=True):
    ok = value >= goal if higher else value <= goal
    return "met" if ok else "**not met**"


def to_target_rows(label, X, rank, sk_iters, args, sk_solver="cd", solver="auto", **loss):
    """scikit-learn's sk_iters-iteration reference, then fastnmf's ``solver`` per backend."""
    W0, H0 = initialize(X, rank, "nndsvda", 0)
    T = args.threads
    C.timed_fit(C.SK, X, W0, H0, rank, 2, T, solver=sk_solver, **loss)  # warm-up
    # the reference is timed SK_REPEATS times (median): one run of it varied by up to 2x
    runs = [C.timed_fit(C.SK, X, W0, H0, rank, sk_iters, T, solver=sk_solver, **loss)
            for _ in range(1 if args.quick else SK_REPEATS)]
    t_sk, sk = statistics.median(t for t, _ in runs), runs[0][1]
    if loss.get("beta_loss", "frobenius") == "frobenius":
        target = 0.5 * float(sk.reconstruction_err_) ** 2
    else:
        target = K.kl_of(X, sk.bench_W_, sk.components_)
    C.log(f"[{label}] scikit-learn {sk_solver}, {sk_iters} iterations: {t_sk:.2f} s")
    rows = []
    for b in args.backends:
        row = C.time_to_target(f"fastnmf {b}", X, W0, H0, rank, T, target, 2 * sk_iters,
                               args.repeats, solver=solver, **loss)
        est = C.make_estimator(f"fastnmf {b}", rank, 1, T, solver=solver, **loss)
        row["ran"] = _solver_ran(est, X, W0, H0)
        row["ratio"] = t_sk / row["seconds"] if row["reached"] else None
        rows.append(row)
        C.log(f"[{label}] fastnmf {b} {solver} ({row['ran']}): N={row['n']}, "
              f"{row['seconds'] if row['seconds'] is None else round(row['seconds'], 3)} s")
    return t_sk, rows


def _solver_ran(est, X, W0, H0):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit_transform(X, W=W0.copy(), H=H0.copy())
    return est.solver_


def time_target_lines(title, goal, results, sk_label):
    lines = [f"### {title}", "",
             f"| data | {sk_label} | backend | solver that ran | iterations | time | speed-up | "
             f"target ≥ {goal}× |", "|---|---:|---|---|---:|---:|---:|---|"]
    summary = []
    for data, (t_sk, rows) in results.items():
        for row in rows:
            if row["reached"]:
                cells = f"{row['n']} | {row['seconds']:.2f} s | {row['ratio']:.1f}×"
                ok = verdict(row["ratio"], goal)
                summary.append((data, row["who"], f"{row['ratio']:.1f}×", ok))
            else:
                cells = f"not in {row['n']} | | "
                ok = "**not met**"
                summary.append((data, row["who"], "not reached", ok))
            lines.append(f"| {data} | {t_sk:.2f} s | {row['who'].split()[-1]} | {row['ran']} | "
                         f"{cells} | {ok} |")
    return lines, summary


# --------------------------------------------------------------------------- targets
def dense_target(args):
    results = {}
    X64 = C.make_data(args.dense_shape, args.rank)
    for dt in ("float64", "float32"):
        X = np.ascontiguousarray(X64, dtype=dt)
        label = f"dense {X.shape[0]}×{X.shape[1]} {dt}"
        results[label] = to_target_rows(label, X, args.rank, 100, args)
    return time_target_lines(
        f"Dense, rank {args.rank}: time to scikit-learn cd's 100-iteration loss, default solver",
        5, results, "scikit-learn cd, 100 it.")


def sparse_target(args):
    X = C.make_sparse_data(args.sparse_shape, args.nnz)
    label = f"sparse {X.shape[0]}×{X.shape[1]}, {X.nnz} nonzeros, float64"
    results = {label: to_target_rows(label, X, args.rank, 30, args)}
    return time_target_lines(
        f"Sparse, rank {args.rank}: time to scikit-learn cd's 30-iteration loss, default solver",
        5, results, "scikit-learn cd, 30 it.")


def kl_target(args):
    X = K.make_count_data(args.kl_shape, args.kl_density)
    label = f"KL counts {X.shape[0]}×{X.shape[1]}, {X.nnz} nonzeros, float64"
    results = {label: to_target_rows(label, X, args.kl_rank, 200, args, sk_solver="mu",
                                     beta_loss="kullback-leibler")}
    return time_target_lines(
        f"Kullback-Leibler, rank {args.kl_rank}: time to scikit-learn mu's 200-iteration "
        "divergence, default solver", 20, results, "scikit-learn mu, 200 it.")


def per_iteration(who, X, W0, H0, rank, iters, threads, solver):
    sec, _ = C.timed_fit(who, X, W0, H0, rank, iters, threads, solver=solver)
    return sec / iters


def bound_target(args):
    """cd per-iteration time over the two BLAS products, paired per repeat.

    Per iteration: the marginal cost, (time of a ``iters``-iteration fit - time of a
    2-iteration fit) / (iters - 2), which leaves out what a fit pays once (validation,
    the copies of W and H, the final ``reconstruction_err_``); the whole-fit average is
    shown next to it."""
    X64 = C.make_data(args.dense_shape, args.rank)
    T, iters = args.threads, 30
    lines = [f"### Dense cd per iteration against the products bound ({T} threads)", "",
             "| dtype | backend | ms / iteration (marginal) | ms / iteration (whole "
             f"{iters}-iteration fit) | bound: X·Hᵀ + Wᵀ·X, ms | marginal ÷ bound (median of "
             "paired) | target ≤ 1.15× |", "|---|---|---:|---:|---:|---:|---|"]
    summary = []
    for dt in ("float64", "float32"):
        X = np.ascontiguousarray(X64, dtype=dt)
        W0, H0 = initialize(X, args.rank, "nndsvda", 0)
        Ht0 = np.ascontiguousarray(H0.T)
        fast = [f"fastnmf {b}" for b in args.backends]
        for who in fast:
            C.timed_fit(who, X, W0, H0, args.rank, 2, T, solver="cd")
        bound, whole, marginal = [], {w: [] for w in fast}, {w: [] for w in fast}
        for _ in range(args.repeats):
            bound.append(C.bound_per_iter(X, W0, Ht0, 10, T))
            for who in fast:
                long, _ = C.timed_fit(who, X, W0, H0, args.rank, iters, T, solver="cd")
                short, _ = C.timed_fit(who, X, W0, H0, args.rank, 2, T, solver="cd")
                whole[who].append(long / iters)
                marginal[who].append((long - short) / (iters - 2))
        for who in fast:
            ratio = C.paired(marginal[who], bound)
            ok = verdict(ratio, 1.15, higher=False)
            lines.append(f"| {dt} | {who.split()[-1]} | {C.med(marginal[who]) * 1e3:.1f} | "
                         f"{C.med(whole[who]) * 1e3:.1f} | {C.med(bound) * 1e3:.1f} | "
                         f"{ratio:.2f}× | {ok} |")
            summary.append((f"dense cd per iteration / bound, {dt}", who, f"{ratio:.2f}×", ok))
    return lines, summary


def threads_target(args):
    T = args.threads
    if T < 2:
        return ["### Threads", "", "one usable core: nothing to measure"], []
    lines = [f"### Per-iteration speed-up from 1 to {T} threads", "",
             "| data | backend | solver | ms / it., 1 thread | ms / it., "
             f"{T} threads | speed-up | target |", "|---|---|---|---:|---:|---:|---|"]
    summary = []
    cases = [("dense", C.make_data(args.dense_shape, args.rank), 1.8, 20),
             ("sparse", C.make_sparse_data(args.sparse_shape, args.nnz), 1.6, 10)]
    for name, X, goal, iters in cases:
        W0, H0 = initialize(X, args.rank, "nndsvda", 0)
        for b in args.backends:
            who = f"fastnmf {b}"
            for solver in ("auto", "cd"):
                for t in (1, T):
                    C.timed_fit(who, X, W0, H0, args.rank, 2, t, solver=solver)
                one, many = [], []
                for _ in range(args.repeats):
                    one.append(per_iteration(who, X, W0, H0, args.rank, iters, 1, solver))
                    many.append(per_iteration(who, X, W0, H0, args.rank, iters, T, solver))
                ratio = C.paired(one, many)
                ok = verdict(ratio, goal)
                lines.append(f"| {name} {X.shape[0]}×{X.shape[1]} | {b} | {solver} | "
                             f"{C.med(one) * 1e3:.1f} | {C.med(many) * 1e3:.1f} | {ratio:.2f}× | "
                             f"≥ {goal}×: {ok} |")
                summary.append((f"{name} threads 1→{T}, {solver}", who, f"{ratio:.2f}×", ok))
    return lines, summary


_FIRST = """
import time
t0 = time.perf_counter()
import numpy as np, scipy.sparse, sklearn.base, sklearn.utils.extmath, threadpoolctl
t1 = time.perf_counter()
import fastnmf
t2 = time.perf_counter()
X = np.random.default_rng(0).random((500, 300))
def fit():
    fastnmf.NMF(10, init='nndsvda', max_iter=50, tol=0, backend={backend!r}).fit(X)
t3 = time.perf_counter(); fit(); t4 = time.perf_counter()
for _ in range(3):
    fit()
t5 = time.perf_counter()
print(t1 - t0, t2 - t1, t4 - t3, (t5 - t4) / 3)
"""


def first_target(args):
    """Overhead of a first fit: importing fastnmf itself (its dependencies, which any
    scikit-learn user has loaded already, are reported apart) plus the first fit's
    extra time over a later one (loading Numba's cached kernels, first-touch costs)."""
    lines = ["### First fit in a new process", "",
             "| backend | import numpy, scipy, scikit-learn | import fastnmf | first fit | a later "
             "fit | overhead: import fastnmf + first fit − later fit | target < 1 s |",
             "|---|---:|---:|---:|---:|---:|---|"]
    summary = []
    root = str(HERE.parent)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [root] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])))
    for b in args.backends:
        code = _FIRST.format(backend=b)
        subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True)
        runs = []
        for _ in range(args.repeats):
            out = subprocess.run([sys.executable, "-c", code], env=env, check=True,
                                 capture_output=True, text=True).stdout.split()
            runs.append([float(v) for v in out])
        deps, imp, first, later = (statistics.median(r[i] for r in runs) for i in range(4))
        overhead = imp + first - later
        ok = verdict(overhead, 1.0, higher=False)
        label = f"{b} (Numba cache warm)" if b == "numba" else b
        lines.append(f"| {label} | {deps:.2f} s | {imp:.2f} s | {first:.2f} s | "
                     f"{later:.3f} s | {overhead:.2f} s | {ok} |")
        summary.append(("first fit overhead, warm cache", f"fastnmf {b}", f"{overhead:.2f} s", ok))
    lines += ["", "- 500×300 dense, rank 10, 50 iterations, in a fresh interpreter; medians of "
              f"{args.repeats} processes, after one that fills Numba's on-disk cache."]
    return lines, summary


def main(argv=None):
    args = parse_args(argv)
    start = time.perf_counter()
    sections, summary = [], []
    for name in args.only:
        t0 = time.perf_counter()
        lines, rows = globals()[f"{name}_target"](args)
        sections.append("\n".join(lines) + f"\n\n({name}: {time.perf_counter() - t0:.0f} s)")
        summary += rows
        C.log(f"[{name}] done in {time.perf_counter() - t0:.0f} s")
    head = ["# fastnmf speed targets against scikit-learn", "", *C.machine_lines(),
            f"- threads: {args.threads}; repeats: {args.repeats}"
            + ("; --quick (small data: ratios not meaningful)" if args.quick else ""), "",
            "| target | contender | measured | verdict |", "|---|---|---:|---|",
            *[f"| {a} | {b} | {c} | {d} |" for a, b, c, d in summary]]
    text = "\n".join(head) + "\n\n" + "\n\n".join(sections) + \
        f"\n\nWhole run: {time.perf_counter() - start:.0f} s.\n"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "targets.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
