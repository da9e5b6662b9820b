"""Does ``fastnmf.select_rank`` with its defaults find the true rank?

A grid of synthetic cases of known rank (240 x 160): ranks 3-20, noise 1% and 10%,
dense Frobenius, dense with 30% of the entries unknown (NaN), and sparse counts
(Poisson, KL), of uniform or sparse random factors (see ``factors``).  Each case
runs ``select_rank(X, ranks, random_state=0)`` with the defaults (plus
``beta_loss='kullback-leibler'`` for counts) and reports found/true.

    python benchmarks/rank_grid.py                   # the grid, defaults (~3 min, 2 cores)
    python benchmarks/rank_grid.py --tol 1e-4        # the same with another inner tol
    python benchmarks/rank_grid.py --quick           # 4 cases

Output: a markdown table (benchmarks/results/rank_grid.md holds one run).
"""

import argparse
import platform
import time
import warnings

import numpy as np
import scipy.sparse as sp

import fastnmf


def factors(m, n, r, rng, style):
    """Non-negative factors of rank r: 'uniform' (entries uniform in [0, 1), as in the
    documentation's examples: ill-conditioned, the hard case for the solvers' convergence) or
    'sparse' (exponential entries, about half of them zero: every component distinct)."""
    if style == "uniform":
        return rng.random((m, r)), rng.random((r, n))
    W = rng.exponential(1.0, (m, r)) * (rng.random((m, r)) < 0.5)
    H = rng.exponential(1.0, (r, n)) * (rng.random((r, n)) < 0.5)
    W[np.arange(m), rng.integers(0, r, m)] += 1.0  # no empty row
    H[rng.integers(0, r, n), np.arange(n)] += 1.0
    return W, H


def make_case(kind, style, r, noise, seed, m=240, n=160):
    """X of rank r: dense with Gaussian noise of ``noise`` times the mean (clipped at
    0), the same with 30% of the entries NaN ('missing'), or Poisson counts of mean
    1 per entry, sparse ('counts', fitted with KL)."""
    rng = np.random.default_rng(seed)
    W, H = factors(m, n, r, rng, style)
    V = W @ H
    if kind == "counts":
        return sp.csr_matrix(rng.poisson(V / V.mean()).astype(np.float64)), "kullback-leibler"
    X = np.clip(V + noise * V.mean() * rng.standard_normal(V.shape), 0, None)
    if kind == "missing":
        X[rng.random(X.shape) < 0.3] = np.nan
    return X, "frobenius"


CASES = ([("dense", "uniform", r, s) for r in (3, 5, 8, 12, 20) for s in (0.01, 0.1)]
         + [("dense", "sparse", r, 0.1) for r in (5, 12, 20)]
         + [("missing", "uniform", r, s) for r in (3, 8, 20) for s in (0.01, 0.1)]
         + [("counts", "sparse", r, None) for r in (3, 8, 12)])
QUICK = [("dense", "uniform", 5, 0.05), ("dense", "uniform", 8, 0.05),
         ("missing", "uniform", 8, 0.1), ("counts", "sparse", 5, None)]


def ranks_for(r):
    return sorted(set([1, max(1, r // 2)] + list(range(max(1, r - 3), r + 5))))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--tol", type=float, default=None, help="inner fits' tol (default: select_rank's)")
    ap.add_argument("--max-iter", type=int, default=None)
    args = ap.parse_args()
    kw = {}
    if args.tol is not None:
        kw["tol"] = args.tol
    if args.max_iter is not None:
        kw["max_iter"] = args.max_iter
    cases = QUICK if args.quick else CASES
    print(f"fastnmf {fastnmf.__version__ if hasattr(fastnmf, '__version__') else ''}, "
          f"{platform.processor() or platform.machine()}, select_rank options {kw or 'defaults'}")
    print()
    print("| case | true rank | ranks tried | found (best_rank) | held-out error at found / at true | seconds |")
    print("|---|---|---|---|---|---|")
    hits = 0
    total = time.perf_counter()
    for i, (kind, style, r, noise) in enumerate(cases):
        X, beta = make_case(kind, style, r, noise, seed=100 + i)
        ranks = ranks_for(r)
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = fastnmf.select_rank(X, ranks, beta_loss=beta, random_state=0, **kw)
        sec = time.perf_counter() - t
        te = dict(zip(res.ranks.tolist(), res.table["test_error"]))
        hits += res.best_rank == r
        label = f"{kind}, {style} factors" + ("" if noise is None else f", noise {noise:.0%}")
        print(f"| {label} | {r} | {ranks[0]}-{ranks[-1]} | {res.best_rank}"
              f"{'' if res.best_rank == r else ' **miss**'} | {te[res.best_rank]:.4g} / {te[r]:.4g} "
              f"| {sec:.1f} |", flush=True)
    print()
    print(f"found the true rank in {hits} of {len(cases)} cases; total "
          f"{time.perf_counter() - total:.0f} s")


if __name__ == "__main__":
    main()
