"""Missing values and rank selection, measured.

1. Masked coordinate descent (``missing='unobserved'``: only the stored entries of a sparse
   X are observed) against the ordinary sparse fit (absent entries are zeros) on the same
   100000 x 20000 matrix with 2e6 stored entries, rank 32, the same start: time per
   iteration (marginal: the median step of ``time_history_``), the whole fit, and the
   peak-RSS growth of the fit.  Target: masked <= 2x unmasked per iteration.
2. ``select_rank`` for ranks 2..20 against a loop of scikit-learn fits doing the same
   number of fits of the same size (scikit-learn cannot leave entries out, so its fits
   are of the whole matrix), same ``max_iter`` and ``tol``.

Usage: python benchmarks/missing.py [--quick] [--out benchmarks/results]
"""

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import compare as C  # noqa: E402

import fastnmf  # noqa: E402
from fastnmf._init import initialize  # noqa: E402
from fastnmf.parallel.threads import usable_cores  # noqa: E402


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def peak_growth_mb(fn):
    """Run ``fn`` and return (its result, peak-RSS growth in MB or None)."""
    if not C._reset_peak():
        return fn(), None
    before = C._status_kb("VmRSS")
    out = fn()
    return out, max(C._status_kb("VmHWM") - before, 0) / 1024


def masked_vs_unmasked(args):
    X = C.make_sparse_data(args.sparse_shape, args.nnz)
    # rows and columns without a stored entry cannot be fitted when absent means unknown
    X = X[np.diff(X.indptr) > 0][:, np.bincount(X.indices, minlength=X.shape[1]) > 0].tocsr()
    k, iters, threads = args.rank, args.iters, args.threads
    W0, H0 = initialize(X, k, "nndsvda", 0)
    lines = [f"### Masked cd against the ordinary sparse fit ({threads} threads)", "",
             f"X: {X.shape[0]}×{X.shape[1]}, {X.nnz} stored entries (float64), rank {k}, "
             f"nndsvda start, {iters} iterations, tol=0; {args.repeats} repeats alternating "
             "the two fits, medians. "
             "'ordinary': absent entries are zeros (scikit-learn's meaning); 'masked': "
             "`missing='unobserved'`, only the stored entries are observed.", "",
             "| backend | fit | ms / iteration (marginal) | whole fit, s | peak RSS growth, MB "
             "| masked ÷ ordinary per iteration | target ≤ 2× |", "|---|---|---:|---:|---:|---:|---|"]
    summary = []
    for backend in args.backends:
        per, whole, mem = {}, {}, {}
        kws = {}
        for kind in ("ordinary", "masked"):
            kws[kind] = dict(n_components=k, init="custom", solver="cd", max_iter=iters, tol=0,
                             backend=backend, n_threads=threads)
            if kind == "masked":
                kws[kind]["missing"] = "unobserved"
            # warm-up (JIT from cache, thread pools)
            fastnmf.NMF(**dict(kws[kind], max_iter=1)).fit_transform(X, W=W0.copy(),
                                                                     H=H0.copy())
        steps = {"ordinary": [], "masked": []}
        totals = {"ordinary": [], "masked": []}
        mems = {"ordinary": [], "masked": []}
        # the two fits alternate, so that a slow spell of the (shared) machine falls on both
        for _ in range(args.repeats):
            for kind in ("ordinary", "masked"):
                est = fastnmf.NMF(**kws[kind])
                W, H = W0.copy(), H0.copy()
                t0 = time.perf_counter()
                _, mb = peak_growth_mb(lambda: est.fit_transform(X, W=W, H=H))
                totals[kind].append(time.perf_counter() - t0)
                steps[kind].append(float(np.median(np.diff(est.time_history_))))
                mems[kind].append(mb)
        for kind in ("ordinary", "masked"):
            per[kind], whole[kind] = statistics.median(steps[kind]), statistics.median(totals[kind])
            mem[kind] = (max(mems[kind]) if all(m is not None for m in mems[kind]) else None)
            log(f"{backend} {kind}: {per[kind] * 1e3:.1f} ms/it, whole {whole[kind]:.2f} s, "
                f"mem {mem[kind]}")
        log(f"{backend} per-repeat ratios: " + ", ".join(
            f"{a / b:.2f}" for a, b in zip(steps["masked"], steps["ordinary"])))
        ratio = per["masked"] / per["ordinary"]
        for kind in ("ordinary", "masked"):
            m_txt = "n/a" if mem[kind] is None else f"{mem[kind]:.0f}"
            lines.append(f"| {backend} | {kind} | {per[kind] * 1e3:.1f} | {whole[kind]:.2f} | "
                         f"{m_txt} | " + (f"{ratio:.2f}× | {'yes' if ratio <= 2 else 'no'} |"
                                          if kind == "masked" else " | |"))
        summary.append(f"masked ÷ ordinary per iteration, {backend}: {ratio:.2f}×")
    x_mb = (X.data.nbytes + X.indices.nbytes + X.indptr.nbytes) / 2**20
    lines += ["", f"X itself takes {x_mb:.0f} MB. Both fits hold a CSR copy of Xᵀ (the masked "
              "fit for its H sweep, which walks the observed entries column by column); the "
              "masked sweeps form each row's residuals in per-thread scratch.", ""]
    return lines, summary


def dense_missing(args):
    """Dense X with NaN: per-iteration time of the masked cd against the ordinary cd on the
    complete X (same start)."""
    X = C.make_data(args.dense_shape, args.rank)
    k, iters, threads = args.rank, args.iters, args.threads
    W0, H0 = initialize(X, k, "nndsvda", 0)
    lines = [f"### Dense X with NaN ({threads} threads)", "",
             f"X: dense {X.shape[0]}×{X.shape[1]} float64, rank {k}, nndsvda start, {iters} "
             "iterations of cd, tol=0; a random fraction of the entries set to NaN. Up to 40% of "
             "the entries unknown, the fit runs on X with zeros there plus corrections over the "
             "unknown entries (the ordinary BLAS products); beyond, on the observed entries.", "",
             "| backend | NaN fraction | ms / iteration (marginal) | ÷ complete X |",
             "|---|---:|---:|---:|"]
    summary = []
    for backend in args.backends:
        base = None
        for frac in (0.0, 0.1, 0.3, 0.7):
            Xn = X.copy()
            if frac:
                Xn[np.random.default_rng(1).random(X.shape) < frac] = np.nan
            kw = dict(n_components=k, init="custom", solver="cd", max_iter=iters, tol=0,
                      backend=backend, n_threads=threads)
            fastnmf.NMF(**dict(kw, max_iter=1)).fit_transform(Xn, W=W0.copy(), H=H0.copy())
            steps = []
            for _ in range(args.repeats):
                est = fastnmf.NMF(**kw)
                est.fit_transform(Xn, W=W0.copy(), H=H0.copy())
                steps.append(float(np.median(np.diff(est.time_history_))))
            per = statistics.median(steps)
            base = per if base is None else base
            lines.append(f"| {backend} | {frac:.0%} | {per * 1e3:.1f} | {per / base:.2f}× |")
            log(f"dense {backend} NaN {frac}: {per * 1e3:.1f} ms/it")
            if frac == 0.3:
                summary.append(f"dense 30% NaN ÷ complete, {backend}: {per / base:.2f}×")
    return lines + [""], summary


def rank_selection(args):
    m, n = args.rank_shape
    rng = np.random.default_rng(0)
    L = rng.random((m, args.true_rank)) @ rng.random((args.true_rank, n))
    X = np.abs(L + 0.1 * L.mean() * rng.standard_normal(L.shape))
    ranks = list(range(2, args.max_rank + 1))
    reps = args.rank_repeats
    lines = [f"### select_rank, ranks {ranks[0]}..{ranks[-1]}, against a loop of scikit-learn fits",
             "", f"X: dense {m}×{n} float64, |rank {args.true_rank} + Gaussian noise of 10% of "
             f"its mean|; {reps} hold-outs (cv, 10% of the entries each) or restarts "
             "(consensus, random starts) per rank; solver 'cd' (scikit-learn's algorithm), "
             "max_iter=200, tol=1e-4 on both sides; {0} threads. scikit-learn cannot leave "
             "entries out: its loop fits the whole matrix (nndsvda start for cv, random starts "
             "for consensus).".format(usable_cores()),
             "", "| method | fastnmf, s | best_rank | elbow_rank | scikit-learn loop (same number "
             "of fits), s | ratio |", "|---|---:|---:|---:|---:|---:|"]
    summary = []
    from sklearn.decomposition import NMF as SkNMF

    for method in ("cv", "consensus"):
        t0 = time.perf_counter()
        # solver='cd': scikit-learn's algorithm (cv runs it anyway), so that both sides do
        # the same iterations and only the speed differs
        res = fastnmf.select_rank(X, ranks, method=method, n_repeats=reps, random_state=0,
                                  solver="cd")
        ours = time.perf_counter() - t0
        log(f"select_rank {method}: {ours:.1f} s, best {res.best_rank}")
        log(str(res))
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for k in ranks:
                for r in range(reps):
                    init = "random" if method == "consensus" else None
                    SkNMF(k, init=init, random_state=r, max_iter=200, tol=1e-4).fit(X)
        theirs = time.perf_counter() - t0
        log(f"scikit-learn loop: {theirs:.1f} s")
        lines.append(f"| {method} | {ours:.1f} | {res.best_rank} | {res.elbow_rank} | "
                     f"{theirs:.1f} | {theirs / ours:.1f}× |")
        summary.append(f"select_rank {method}: {ours:.1f} s against {theirs:.1f} s "
                       f"({theirs / ours:.1f}×), best_rank {res.best_rank}")
        if method == "cv":
            table = str(res)
    lines += ["", "cv table:", "", "```", table, "```", ""]
    return lines, summary


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="smaller data, fewer repeats")
    p.add_argument("--out", default=None, help="directory for missing.md")
    p.add_argument("--backends", default="cython,numba")
    p.add_argument("--parts", default="masked,dense,rank",
                   help="which parts to run (comma-separated: masked, dense, rank)")
    args = p.parse_args(argv)
    args.backends = [b for b in args.backends.split(",") if b]
    args.threads = usable_cores()
    args.sparse_shape, args.nnz, args.rank, args.iters, args.repeats = (
        (100000, 20000), 2_000_000, 32, 15, 5)
    args.rank_shape, args.true_rank, args.max_rank, args.rank_repeats = (2000, 1000), 8, 20, 3
    args.dense_shape = (4000, 3000)
    if args.quick:
        args.sparse_shape, args.nnz, args.iters, args.repeats = (20000, 5000), 200_000, 8, 1
        args.rank_shape, args.max_rank = (400, 300), 10
        args.dense_shape = (800, 600)
    lines = ["# Missing values and rank selection", "", "`python benchmarks/missing.py`", ""]
    lines += C.machine_lines() + [""]
    summary = []
    parts = {"masked": masked_vs_unmasked, "dense": dense_missing, "rank": rank_selection}
    for name in [n for n in args.parts.split(",") if n]:
        if name not in parts:
            p.error(f"--parts: unknown part {name!r}; choose from {sorted(parts)}")
        ls, sm = parts[name](args)
        lines += ls
        summary += sm
    lines += ["Summary:", ""] + [f"- {s}" for s in summary] + [""]
    text = "\n".join(lines)
    print(text)
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "missing.md").write_text(text)


if __name__ == "__main__":
    main()
