#!/usr/bin/env python
"""KL divergence, fastnmf against scikit-learn: time to reach the loss of scikit-learn's mu.

Usage::

    python benchmarks/compare_kl.py            # 20000x5000 counts, density 0.5%, rank 16
    python benchmarks/compare_kl.py --quick    # smoke run: 4000x1000, density 2%, rank 8
    python benchmarks/compare_kl.py --out DIR  # where compare_kl.md goes

The data: a seeded sparse count matrix, ``X ~ Poisson(U V)`` with Gamma(0.3, 1) factors
U (m x 16), V (16 x n) scaled so that the expected share of nonzero entries is the density
(float64 CSR, int32 indices; generated a block of rows at a time, never dense as a whole).
Every contender starts from the same nndsvda initialization (seed 0, ``init='custom'``).

The reference is scikit-learn's ``NMF(solver='mu', beta_loss='kullback-leibler',
max_iter=200, tol=0)``: its time T_sk (one run: it is slow) and the KL divergence L_sk it
reaches.  For fastnmf's cd (Newton coordinate descent for KL) and mu, a first fit with
``tol=0`` records ``loss_history_``; N is the first iteration whose loss is <= L_sk; then
fits of exactly N iterations are timed (median of ``--repeats``), everything included
(validation, the CSR transpose, the final ``reconstruction_err_``).  The speed-up is
T_sk / T_N.  fastnmf's mu is scikit-learn's algorithm, so its N is 200 and its speed-up is
a per-iteration one.  Peak memory: the growth of peak RSS during one fit of N iterations
(200 for scikit-learn), each in a fresh process (see compare.py), next to the sizes of X
and of O((m + n) r) and O(nnz) arrays.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import compare as C  # noqa: E402  (shared: contenders, timing, memory children, machine lines)
from fastnmf._init import initialize  # noqa: E402
from fastnmf.parallel.threads import usable_cores  # noqa: E402

KL = dict(beta_loss="kullback-leibler")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smoke run: 4000x1000, density 2%%, rank 8")
    p.add_argument("--shape", default=None, metavar="MxN", help="default 20000x5000")
    p.add_argument("--density", type=float, default=None, help="default 0.005")
    p.add_argument("--rank", type=int, default=None, help="default 16")
    p.add_argument("--sk-iters", type=int, default=200, help="scikit-learn mu iterations (200)")
    p.add_argument("--repeats", type=int, default=None, help="timed repeats (default 5; --quick 2)")
    p.add_argument("--threads", type=int, default=None, help="default: all usable cores")
    p.add_argument("--dtypes", default="float64,float32", help="default float64,float32")
    p.add_argument("--out", default=str(HERE / "out"), metavar="DIR")
    a = p.parse_args(argv)
    m, n = (int(v) for v in (a.shape or ("4000x1000" if a.quick else "20000x5000")).split("x"))
    a.shape = (m, n)
    a.density = a.density or (0.02 if a.quick else 0.005)
    a.rank = a.rank or (8 if a.quick else 16)
    a.repeats = a.repeats or (2 if a.quick else 5)
    a.threads = a.threads or usable_cores()
    a.dtypes = [d.strip() for d in a.dtypes.split(",") if d.strip()]
    return a


def make_count_data(shape, density, seed=0, rank=16):
    """Seeded Poisson counts from a rank-``rank`` Gamma model (CSR float64, int32 indices)."""
    m, n = shape
    rng = np.random.default_rng(seed)
    U = rng.gamma(0.3, size=(m, rank))
    V = rng.gamma(0.3, size=(rank, n))
    scale = -np.log1p(-density) / (U.sum(axis=0) @ V.sum(axis=1) / (m * n))
    step = max(1, (1 << 20) // n)
    blocks = [sp.csr_matrix(rng.poisson(U[s:s + step] @ V * scale).astype(np.float64))
              for s in range(0, m, step)]
    X = sp.vstack(blocks, format="csr")
    X.indices = X.indices.astype(np.int32)
    X.indptr = X.indptr.astype(np.int32)
    return X


def kl_of(X, W, H):
    from sklearn.decomposition._nmf import _beta_divergence

    return float(_beta_divergence(X, W.astype(np.float64), H.astype(np.float64), 1))


def measure(dtype, X64, args, backends):
    X = X64.astype(dtype)
    W0, H0 = initialize(X, args.rank, "nndsvda", 0)
    T, rank = args.threads, args.rank
    rows = []
    C.log(f"[{dtype}] scikit-learn mu, {args.sk_iters} iterations ...")
    t_sk, est = C.timed_fit(C.SK, X, W0, H0, rank, args.sk_iters, T, solver="mu", **KL)
    target = kl_of(X, est.bench_W_, est.components_)
    rows.append(dict(who=f"{C.SK} mu", n=args.sk_iters, seconds=t_sk, loss=target, reached=True))
    C.log(f"[{dtype}] scikit-learn: {t_sk:.1f} s, KL {target:.6e}")
    contenders = [(f"fastnmf {b}", s) for s in ("cd", "mu") for b in backends]
    for who, solver in contenders:
        # cap: mu is scikit-learn's algorithm, it needs all of them; when even those do not
        # get there (e.g. float32 mu ends a rounding error above scikit-learn's float32 run),
        # all `cap` iterations are timed anyway, so the row gives the per-iteration speed-up
        row = C.time_to_target(who, X, W0, H0, rank, T, target, args.sk_iters, args.repeats,
                               time_all=True, solver=solver, **KL)
        row["who"] = f"{who} {solver}"
        rows.append(row)
        C.log(f"[{dtype}] {row['who']}: N={row['n']}{'' if row['reached'] else ' (not reached)'}"
              f", {row['seconds']:.3f} s")
    # peak memory, one fresh process per contender
    with tempfile.TemporaryDirectory() as tmp:
        sp.save_npz(Path(tmp) / "X.npz", X, compressed=False)
        np.save(Path(tmp) / "W0.npy", W0)
        np.save(Path(tmp) / "H0.npy", H0)
        for r in rows:
            who, solver = r["who"].rsplit(" ", 1)
            r["mem"], r["mem_method"] = C.peak_memory_mb(who, tmp, rank, r["n"], T, solver=solver,
                                                         **KL)
    return rows, X


def table(results, args, X64):
    m, n = args.shape
    r = args.rank
    lines = [
        f"### KL divergence: sparse counts {m}x{n}, density {X64.nnz / (m * n):.2%} "
        f"({X64.nnz} nonzeros), rank {r}, {args.threads} threads",
        "",
        f"Target: the KL divergence scikit-learn's mu reaches in {args.sk_iters} iterations. "
        f"X itself: {C.sparse_nbytes(X64) / 2**20:.1f} MB in float64 ({X64.nnz} nonzeros); "
        f"W and H: {(m + n) * r * 8 / 2**20:.1f} MB in float64.",
        "",
        "| dtype | solver | iterations to the target | time | speed-up vs scikit-learn | "
        "final KL | peak RSS growth of a fit |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for dtype, rows in results.items():
        t_sk = rows[0]["seconds"]
        for row in rows:
            mem = "failed" if row.get("mem") is None else f"{row['mem']:.0f} MB"
            if row["reached"]:
                its, ratio = f"{row['n']}", f"{t_sk / row['seconds']:.1f}x"
            else:  # same iteration count as scikit-learn: a per-iteration speed-up
                its, ratio = f"not reached; {row['n']} timed", f"{t_sk / row['seconds']:.1f}x per iteration"
            lines.append(
                f"| {dtype} | {row['who']} | {its} | {row['seconds']:.2f} s | "
                f"{ratio} | {row['loss']:.6e} | {mem} |")
    lines += [
        "",
        "- *time*: a whole `fit_transform` with `max_iter` = the iterations shown and `tol=0`; "
        f"fastnmf: median of {args.repeats}, scikit-learn: one run.",
        "- *peak RSS growth*: peak resident memory during one such fit minus the resident memory "
        "before it, in a fresh process (includes the private copies of W and H and, for "
        "fastnmf on sparse X, its CSR copy of X^T).",
    ]
    if not all(row["reached"] for rows in results.values() for row in rows):
        lines.append("- *not reached*: the final KL stays above scikit-learn's (e.g. float32 mu, the "
                     "same algorithm summed in a different order, ends a rounding error away); the "
                     "row times as many iterations as scikit-learn, so its ratio is per iteration.")
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    backends = [b for b in ("cython", "numba") if C.backend_status()[b] is None]
    X64 = make_count_data(args.shape, args.density)
    start = time.perf_counter()
    results = {}
    for dtype in args.dtypes:
        rows, _ = measure(np.dtype(dtype), X64, args, backends)
        results[dtype] = rows
    text = "\n".join(["# fastnmf vs scikit-learn: KL divergence", "", *C.machine_lines(), "",
                      table(results, args, X64), "",
                      f"Run time: {time.perf_counter() - start:.0f} s."])
    (out / "compare_kl.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
