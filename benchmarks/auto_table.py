#!/usr/bin/env python
"""The measurements behind ``solver='auto'`` (``fastnmf._auto``): every candidate solver's
whole default call over a grid of shape, density, rank (2 to 256), dtype and loss.

Usage::

    python benchmarks/auto_table.py --out benchmarks/results/auto.md     # about 10 minutes on 2 cores
    python benchmarks/auto_table.py --quick                              # a few rows

For each row: ``NMF(k, beta_loss=..., solver=s, random_state=0)`` with every other parameter
at its default, for each candidate ``s`` ('hals', 'cd', 'mu' for the Frobenius loss; 'cd',
'mu', 'emu' for KL), the whole ``fit_transform`` timed (initialization included), interleaved,
median of ``--repeats``.  The target loss is the final loss of the candidate that follows
scikit-learn's iterates (fastnmf 'cd' for Frobenius, as scikit-learn's default solver;
'mu' for KL, scikit-learn's only KL solver); "to target" is what a candidate's call would
have taken had it stopped at its first iteration at or below that loss (its whole time
minus the iterations after that one, from ``loss_history_`` and ``time_history_``).  The
best is the fastest whole call among the candidates whose final loss is at most 1% above
the target (what users time, and the real-data corpus's criterion); ``solver='auto'`` is
run too, and is right when its loss is at most 1% above the target and its whole call
within 10% of the best's.  "To target" is shown because it is where
'hals' shines: it reaches the target sooner than cd but often keeps going.

Data (synthetic; the real-data corpus is ``benchmarks/corpus.py``): X = W H with W, H
drawn from a gamma distribution at rank 10 plus 5% uniform noise; sparse X keeps a random
pattern of the stated density with those values (computed on the pattern only); for KL,
Poisson counts of them (sparse: the nonzero counts).
"""

import argparse
import datetime
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import scipy.sparse as sp

import fastnmf
from fastnmf._auto import choose_solver

CANDIDATES = {"frobenius": ("hals", "cd", "mu"), "kullback-leibler": ("cd", "mu", "emu")}
REFERENCE = {"frobenius": "cd", "kullback-leibler": "mu"}
BETA = {"frobenius": 2.0, "kullback-leibler": 1.0}

#: (m, n, density or None for dense, loss, ranks, dtypes)
GRID = [
    (300, 200, None, "frobenius", (2, 8, 32, 128), ("float64", "float32")),
    (3000, 1000, None, "frobenius", (2, 8, 32, 128, 256), ("float64", "float32")),
    (3000, 1000, 0.1, "frobenius", (2, 8, 32, 128), ("float64",)),
    (10000, 5000, 0.01, "frobenius", (2, 8, 32, 128, 256), ("float64", "float32")),
    (20000, 10000, 0.001, "frobenius", (2, 8, 32), ("float64",)),
    (1000, 500, None, "kullback-leibler", (2, 8, 32, 128), ("float64", "float32")),
    (3000, 1000, 0.1, "kullback-leibler", (2, 8, 32), ("float64",)),
    (10000, 5000, 0.01, "kullback-leibler", (2, 8, 32), ("float64",)),
]
QUICK = [
    (300, 200, None, "frobenius", (8,), ("float64",)),
    (3000, 1000, 0.1, "kullback-leibler", (8,), ("float64",)),
]


def make_X(m, n, density, loss, dtype, seed=0, rank=10):
    rng = np.random.default_rng(seed)
    W = rng.gamma(1.0, 1.0, (m, rank))
    H = rng.gamma(1.0, 1.0, (rank, n))
    if density is None:
        V = W @ H
        V += 0.05 * V.mean() * rng.random((m, n))
        if loss == "kullback-leibler":
            V = rng.poisson(V).astype(np.float64)
        return V.astype(dtype)
    nnz = int(round(density * m * n))
    flat = np.unique(rng.integers(0, m * n, int(nnz * 1.05)))[:nnz]
    rows, cols = np.divmod(flat, n)
    vals = np.einsum("ij,ji->i", W[rows], H[:, cols])
    vals += 0.05 * vals.mean() * rng.random(len(vals))
    if loss == "kullback-leibler":
        vals = rng.poisson(vals).astype(np.float64) + 1.0  # stored entries are counts >= 1
    X = sp.csr_matrix((vals.astype(dtype), (rows, cols)), shape=(m, n))
    X.sum_duplicates()
    return X


def run(X, k, loss, solver):
    est = fastnmf.NMF(k, beta_loss=loss, solver=solver, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        est.fit_transform(X)
        t = time.perf_counter() - t0
    return dict(time=t, n_iter=int(est.n_iter_), loss=float(est.loss_history_[-1]),
                history=np.asarray(est.loss_history_), times=np.asarray(est.time_history_))


def to_target(res, target):
    reached = np.nonzero(res["history"] <= target * (1 + 1e-6))[0]
    if not len(reached):
        return None
    return res["time"] - (float(res["times"][-1]) - float(res["times"][reached[0]]))


def measure(m, n, density, loss, k, dtype, repeats):
    X = make_X(m, n, density, loss, dtype)
    solvers = CANDIDATES[loss] + ("auto",)
    runs = {s: [] for s in solvers}
    for _ in range(repeats):
        for s in solvers:
            runs[s].append(run(X, k, loss, s))
    out = {}
    for s in solvers:
        rs = sorted(runs[s], key=lambda r: r["time"])
        out[s] = rs[len(rs) // 2]
    target = out[REFERENCE[loss]]["loss"]
    for s in solvers:
        out[s]["to_target"] = to_target(out[s], target)
    # what a user sees: the whole call, among the candidates whose answer is no worse
    # than the reference's by more than 1% (the corpus's criterion)
    good = {s: r["time"] for s, r in out.items() if s != "auto" and r["loss"] <= target * 1.01}
    best = min(good, key=good.get)
    auto = choose_solver(X, k, BETA[loss])
    a = out["auto"]
    ok = a["loss"] <= target * 1.01 and a["time"] <= 1.10 * good[best]
    return dict(X=X, out=out, best=best, auto=auto, ok=ok, target=target)


def fmt(v):
    return "–" if v is None else (f"{v:.3f}" if v < 10 else f"{v:.1f}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    grid = QUICK if args.quick else GRID
    started = time.time()
    # warm-up: Numba cache loads, thread pools
    for loss in CANDIDATES:
        for s in CANDIDATES[loss]:
            run(make_X(60, 40, None, loss, "float64"), 3, loss, s)
            run(make_X(60, 40, 0.2, loss, "float64"), 3, loss, s)
    head = ["shape", "density", "loss", "k", "dtype"]
    lines = []
    n_ok = n_rows = 0
    for m, n, density, loss, ranks, dtypes in grid:
        for k in ranks:
            for dtype in dtypes:
                r = measure(m, n, density, loss, k, dtype, args.repeats)
                cells = []
                for s in ("hals", "cd", "mu", "emu"):
                    if s not in r["out"]:
                        cells.append("")
                        continue
                    o = r["out"][s]
                    mark = "**" if s == r["best"] else ""
                    cells.append(f"{mark}{fmt(o['time'])} / {fmt(o['to_target'])}{mark} "
                                 f"({o['n_iter']} it, {o['loss'] / r['target']:.4f})")
                dens = "dense" if density is None else f"{density:g} CSR"
                a = r["out"]["auto"]
                auto_cell = (f"{r['auto']}: {fmt(a['time'])} ({a['n_iter']} it, "
                             f"{a['loss'] / r['target']:.4f})")
                row = [f"{m}×{n}", dens, "KL" if loss != "frobenius" else "Frobenius",
                       str(k), dtype] + cells + [auto_cell, "yes" if r["ok"] else "**no**"]
                lines.append("| " + " | ".join(row) + " |")
                n_rows += 1
                n_ok += r["ok"]
                print(lines[-1], flush=True)
    elapsed = (time.time() - started) / 60
    text = [
        "# What solver='auto' is checked against: every candidate's whole default call",
        "",
        f"Written by `python benchmarks/auto_table.py{' --quick' if args.quick else ''}"
        f" --repeats {args.repeats}` in {elapsed:.1f} minutes "
        f"({datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC). "
        f"Machine: {platform.machine()}, {len(__import__('os').sched_getaffinity(0))} usable "
        f"cores; numpy {np.__version__}, fastnmf {fastnmf.__version__}.",
        "",
        "Each cell: whole call s / s to the target loss (iterations, final loss / target). "
        "Target: the final loss of the solver with scikit-learn's iterates ('cd' for Frobenius, "
        "'mu' for KL). Bold: the fastest whole call among the candidates with a final loss "
        "at most 1% above the target. auto: what solver='auto' ran and its whole call "
        "(iterations, final loss / target; it differs from that candidate's cell where a rule "
        "of its own acts, as the guard on dense cd). 'auto right': its loss at most 1% above "
        "the target and its whole call within 10% of the bold one. Rules: `fastnmf/_auto.py`; method: this script's docstring.",
        "",
        "| " + " | ".join(head + ["hals", "cd", "mu", "emu", "auto", "auto right"]) + " |",
        "|" + "---|" * (len(head) + 6),
        *lines,
        "",
        f"'auto' right in {n_ok} of {n_rows} rows.",
        "",
    ]
    if args.out:
        args.out.write_text("\n".join(text))
    else:
        print("\n".join(text))
    return 0


if __name__ == "__main__":
    sys.exit(main())
