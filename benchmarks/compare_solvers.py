#!/usr/bin/env python
"""Every fastnmf solver against scikit-learn's cd: time to reach the loss scikit-learn reaches in K iterations.

Usage::

    python benchmarks/compare_solvers.py             # dense 4000x3000 (float64, float32) and
                                                     # sparse 100000x20000 (2e6 nonzeros), rank 32
    python benchmarks/compare_solvers.py --quick     # smoke run on small data
    python benchmarks/compare_solvers.py --cases dense64,sparse64 --out DIR

The data are those of ``compare.py`` (seeded low-rank plus noise, dense; count-like
CSR, sparse), and everybody starts from the same nndsvda W, H (``init='custom'``).
The reference is ``sklearn.decomposition.NMF(solver='cd', max_iter=K, tol=0)``: its time
T_sk (one run) and the loss ``0.5 ||X - W H||^2`` it reaches.  For each fastnmf solver
(and backend), a first fit of up to ``--cap`` iterations with ``tol=0`` records
``loss_history_``; N is the first iteration whose loss is <= scikit-learn's; then fits of
exactly N iterations are timed (median of ``--repeats``, everything included).  The
speed-up is T_sk / T_N.  A solver that does not get there within the cap is reported
with its final loss.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import compare as C  # noqa: E402  (data, contenders, timing, machine lines)
from fastnmf._init import initialize  # noqa: E402
from fastnmf.parallel.threads import usable_cores  # noqa: E402

SOLVERS = ("hals", "ehals", "cd", "als", "pgd", "mu")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smoke run: dense 600x400, sparse 20000x5000")
    p.add_argument("--cases", default="dense64,dense32,sparse64",
                   help="comma-separated from dense64, dense32, sparse64, sparse32")
    p.add_argument("--shape", default=None, metavar="MxN", help="dense shape (default 4000x3000)")
    p.add_argument("--sparse-shape", default=None, metavar="MxN", help="default 100000x20000")
    p.add_argument("--nnz", type=float, default=None, help="default 2e6")
    p.add_argument("--rank", type=int, default=32)
    p.add_argument("--sk-iters", type=int, default=100, help="scikit-learn cd iterations (100)")
    p.add_argument("--cap", type=int, default=None, help="iterations at most per solver (default 2 K)")
    p.add_argument("--repeats", type=int, default=None, help="timed repeats (default 3; --quick 2)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--backends", default="cython,numba")
    p.add_argument("--out", default=str(HERE / "out"), metavar="DIR")
    a = p.parse_args(argv)

    def shape(text, default):
        return tuple(int(v) for v in (text or default).split("x"))

    a.shape = shape(a.shape, "600x400" if a.quick else "4000x3000")
    a.sparse_shape = shape(a.sparse_shape, "20000x5000" if a.quick else "100000x20000")
    a.nnz = int(a.nnz or (2e5 if a.quick else 2e6))
    if a.quick:
        a.rank = min(a.rank, 16)
    a.cap = a.cap or 2 * a.sk_iters
    a.repeats = a.repeats or (2 if a.quick else 3)
    a.threads = a.threads or usable_cores()
    a.cases = [c.strip() for c in a.cases.split(",") if c.strip()]
    a.backends = [b.strip() for b in a.backends.split(",") if b.strip()]
    return a


def measure(case, args, backends):
    dtype = np.float64 if case.endswith("64") else np.float32
    if case.startswith("dense"):
        X = C.make_data(args.shape, args.rank).astype(dtype)
    else:
        X = C.as_dtype(C.make_sparse_data(args.sparse_shape, args.nnz), dtype)
    W0, H0 = initialize(X, args.rank, "nndsvda", 0)
    T, r = args.threads, args.rank
    C.log(f"[{case}] scikit-learn cd, {args.sk_iters} iterations ...")
    t_sk, sk = C.timed_fit(C.SK, X, W0, H0, r, args.sk_iters, T, solver="cd")
    target = 0.5 * float(sk.reconstruction_err_) ** 2
    rows = [dict(who=f"{C.SK} cd", n=args.sk_iters, seconds=t_sk, loss=target, reached=True)]
    C.log(f"[{case}] scikit-learn: {t_sk:.2f} s, loss {target:.6e}")
    for solver in SOLVERS:
        for b in backends:
            row = C.time_to_target(f"fastnmf {b}", X, W0, H0, r, T, target, args.cap,
                                   args.repeats, solver=solver)
            row["who"] = f"fastnmf {b} {solver}"
            rows.append(row)
            C.log(f"[{case}] {row['who']}: " + (f"N={row['n']}, {row['seconds']:.3f} s"
                  if row["reached"] else f"not reached in {args.cap} iterations"))
    return rows, X


def describe(case, X, args):
    kind = "dense" if case.startswith("dense") else f"sparse CSR ({X.nnz} nonzeros)"
    dtype = "float64" if case.endswith("64") else "float32"
    return f"{kind} {X.shape[0]}x{X.shape[1]}, {dtype}, rank {args.rank}, {args.threads} threads"


def table(results, args):
    lines = [
        f"Target: the loss `0.5 ||X - W H||^2` scikit-learn's cd reaches in {args.sk_iters} "
        "iterations, from the same nndsvda start.",
        "",
        "| data | solver | iterations to the target | time | speed-up vs scikit-learn cd | final loss |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for case, (rows, desc) in results.items():
        t_sk = rows[0]["seconds"]
        for row in rows:
            if row["reached"]:
                lines.append(f"| {desc} | {row['who']} | {row['n']} | {row['seconds']:.2f} s | "
                             f"{t_sk / row['seconds']:.1f}x | {row['loss']:.6e} |")
            else:
                lines.append(f"| {desc} | {row['who']} | not in {row['n']} | | | "
                             f"{row['loss']:.6e} |")
    lines += [
        "",
        "- *time*: a whole `fit_transform` with `max_iter` = the iterations shown and `tol=0`; "
        f"fastnmf: median of {args.repeats}, scikit-learn: one run.",
        "- solvers: `hals` accelerated HALS (what `solver='auto'` runs on dense X), `ehals` hals with extrapolation, `cd` scikit-learn's "
        "exact cd, `als` exact alternating NNLS, `pgd` accelerated projected gradient, `mu` "
        "multiplicative updates.",
    ]
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    backends = [b for b in args.backends if C.backend_status()[b] is None]
    start = time.perf_counter()
    results = {}
    for case in args.cases:
        rows, X = measure(case, args, backends)
        results[case] = (rows, describe(case, X, args))
    text = "\n".join(["# fastnmf solvers vs scikit-learn's cd: time to the same loss", "",
                      *C.machine_lines(), "", table(results, args), "",
                      f"Run time: {time.perf_counter() - start:.0f} s."])
    (out / "compare_solvers.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
