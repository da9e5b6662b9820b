#!/usr/bin/env python
"""The measurements behind ``solver='auto'`` (``fastnmf.solvers.auto``): every candidate solver's
whole default call over a grid of shape, density, rank (2 to 256), dtype and loss.

Usage::

    python benchmarks/auto_table.py --json benchmarks/results/auto.json    # ~10 min, 2 cores
    python benchmarks/auto_table.py --json benchmarks/results/auto.json --append  # another run
    python benchmarks/fit_cost_model.py benchmarks/results/auto.json       # the model, auto.md
    python benchmarks/auto_table.py --quick --json /tmp/auto.json         # a few rows

For each row: ``NMF(k, beta_loss=..., random_state=0)`` with every other parameter at its
default, made to run each candidate ``s`` ('hals', 'cd', 'mu' for the Frobenius loss; 'cd',
'mu', 'emu' for KL; 'mu', 'emu' for beta=1.5) as ``solver='auto'`` runs it had it chosen
``s`` (the guard on dense cd included), the whole ``fit_transform`` timed (initialization
included), interleaved, median of ``--repeats``.  The target loss is the final loss of the
solver that follows scikit-learn's iterates, named as a user would (``solver='cd'`` for
Frobenius, scikit-learn's default solver; 'mu' for the other losses, scikit-learn's only
solver for them); "to target" is what a candidate's call would have taken had it stopped at
its first iteration at or below that loss (its whole time minus the iterations after that
one, from ``loss_history_`` and ``time_history_``).

The script only measures: ``--json`` gets every candidate's measurement (whole call,
iterations, seconds an iteration, seconds outside the iterations, loss, target), and
``benchmarks/fit_cost_model.py`` fits the cost model of ``solver='auto'`` to it and writes
the table (``benchmarks/results/auto.md``) with the model's predictions and choices.

Data (synthetic; the real-data corpus is ``benchmarks/corpus.py``): X = W H with W, H
drawn from a gamma distribution at rank 10 plus 5% uniform noise; sparse X keeps a random
pattern of the stated density with those values (computed on the pattern only); for KL,
Poisson counts of them (sparse: the nonzero counts).
"""

import argparse
import contextlib
import datetime
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path
from unittest import mock

import numpy as np
import scipy.sparse as sp

import fastnmf
import fastnmf._plan
from fastnmf.solvers.auto import choose_solver

CANDIDATES = {"frobenius": ("hals", "cd", "mu"), "kullback-leibler": ("cd", "mu", "emu"),
              1.5: ("mu", "emu")}
REFERENCE = {"frobenius": "cd", "kullback-leibler": "mu", 1.5: "mu"}
BETA = {"frobenius": 2.0, "kullback-leibler": 1.0, 1.5: 1.5}
NAME = {"frobenius": "Frobenius", "kullback-leibler": "KL", 1.5: "beta=1.5"}

#: (m, n, density or None for dense, loss, ranks, dtypes)
GRID = [
    (100, 80, None, "frobenius", (4, 16), ("float64",)),
    (300, 3000, 0.02, "frobenius", (4, 16), ("float64",)),
    (100, 80, None, "kullback-leibler", (4, 16), ("float64",)),
    (500, 300, None, "kullback-leibler", (8,), ("float64",)),
    (300, 3000, 0.02, "kullback-leibler", (4, 16), ("float64",)),
    (100, 80, None, 1.5, (4,), ("float64",)),
    (300, 3000, 0.02, 1.5, (8,), ("float64",)),
    (300, 200, None, "frobenius", (2, 8, 32, 128), ("float64", "float32")),
    (3000, 1000, None, "frobenius", (2, 8, 32, 128, 256), ("float64", "float32")),
    (3000, 1000, 0.1, "frobenius", (2, 8, 32, 128), ("float64",)),
    (10000, 5000, 0.01, "frobenius", (2, 8, 32, 128, 256), ("float64", "float32")),
    (20000, 10000, 0.001, "frobenius", (2, 8, 32), ("float64",)),
    (5000, 100, None, "frobenius", (8, 32), ("float64",)),
    (50000, 2000, 0.005, "frobenius", (8, 32, 128), ("float64",)),
    (1000, 500, None, "kullback-leibler", (2, 8, 32, 128), ("float64", "float32")),
    (3000, 1000, 0.1, "kullback-leibler", (2, 8, 32), ("float64",)),
    (10000, 5000, 0.01, "kullback-leibler", (2, 8, 32), ("float64",)),
    (3000, 500, None, "kullback-leibler", (8, 32), ("float64",)),
    (50000, 2000, 0.005, "kullback-leibler", (8, 32), ("float64",)),
    (1000, 500, None, 1.5, (8, 32), ("float64",)),
    (3000, 1000, 0.1, 1.5, (8, 32), ("float64",)),
    (10000, 5000, 0.01, 1.5, (8,), ("float64",)),
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
        if loss != "frobenius":
            V = rng.poisson(V).astype(np.float64)
        return V.astype(dtype)
    nnz = int(round(density * m * n))
    flat = np.unique(rng.integers(0, m * n, int(nnz * 1.05)))[:nnz]
    rows, cols = np.divmod(flat, n)
    vals = np.einsum("ij,ji->i", W[rows], H[:, cols])
    vals += 0.05 * vals.mean() * rng.random(len(vals))
    if loss != "frobenius":
        vals = rng.poisson(vals).astype(np.float64) + 1.0  # stored entries are counts >= 1
    X = sp.csr_matrix((vals.astype(dtype), (rows, cols)), shape=(m, n))
    X.sum_duplicates()
    return X


def run(X, k, loss, solver, forced=True):
    """One whole default call.  ``forced``: ``solver='auto'`` made to run ``solver`` (with
    the stopping rule 'auto' gives it, as the guard on dense cd): what 'auto' would run had
    it chosen ``solver``.  Otherwise ``solver`` is named, as a user would."""
    est = fastnmf.NMF(k, beta_loss=loss, solver="auto" if forced else solver, random_state=0)
    made = (mock.patch.object(fastnmf._plan, "choose_solver", lambda *a, **kw: solver)
            if forced else contextlib.nullcontext())
    with warnings.catch_warnings(), made:
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        est.fit_transform(X)
        t = time.perf_counter() - t0
    times = np.asarray(est.time_history_)
    n_iter = int(est.n_iter_)
    per_iter = (times[-1] - times[0]) / (n_iter - 1) if n_iter > 1 else times[-1]
    return dict(time=t, n_iter=n_iter, loss=float(est.loss_history_[-1]),
                per_iter=float(per_iter), setup=float(t - times[-1]),
                history=np.asarray(est.loss_history_), times=times)


def to_target(res, target):
    reached = np.nonzero(res["history"] <= target * (1 + 1e-6))[0]
    if not len(reached):
        return None
    return res["time"] - (float(res["times"][-1]) - float(res["times"][reached[0]]))


def measure(X, loss, k, repeats, case=None):
    m, n = X.shape
    solvers = CANDIDATES[loss]
    ref = REFERENCE[loss]
    named = loss == "frobenius"  # 'auto''s cd has a stopping rule of its own (the guard)
    runs = {s: [] for s in solvers + (("reference",) if named else ())}
    for _ in range(repeats):
        for s in solvers:
            runs[s].append(run(X, k, loss, s))
        if named:
            runs["reference"].append(run(X, k, loss, ref, forced=False))
    out = {}
    for s in runs:
        rs = sorted(runs[s], key=lambda r: r["time"])
        out[s] = rs[len(rs) // 2]
    target = out["reference" if named else ref]["loss"]
    for s in out:
        out[s]["to_target"] = to_target(out[s], target)
    # what a user sees: the whole call, among the candidates whose answer is no worse
    # than the reference's by more than 1% (the corpus's criterion)
    good = {s: out[s]["time"] for s in solvers if out[s]["loss"] <= target * 1.01}
    best = min(good, key=good.get)
    auto = choose_solver(X, k, BETA[loss])
    records = [dict(m=m, n=n, nnz=int(X.nnz) if sp.issparse(X) else m * n,
                    dense=not sp.issparse(X), k=k, dtype=str(X.dtype), beta=BETA[loss],
                    solver=s, case=case,
                    time=out[s]["time"], n_iter=out[s]["n_iter"], per_iter=out[s]["per_iter"],
                    setup=out[s]["setup"], loss=out[s]["loss"], target=target,
                    to_target=out[s]["to_target"])
               for s in solvers]
    return dict(out=out, best=best, auto=auto, target=target, records=records)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path, required=True,
                    help="where every candidate's measurement goes (the input of "
                         "benchmarks/fit_cost_model.py)")
    ap.add_argument("--append", action="store_true",
                    help="add this run's measurements to those already in --json")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default=None,
                    help="only the points whose label ('3000x1000 0.1 KL k=8 float64', "
                         "'corpus digits k=16') contains this (or one of these, "
                         "comma-separated)")
    ap.add_argument("--no-corpus", action="store_true",
                    help="leave out the real-data corpus's matrices (benchmarks/datasets.py)")
    args = ap.parse_args(argv)
    grid = QUICK if args.quick else GRID
    run_id = (f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, "
              f"{platform.machine()}, {len(os.sched_getaffinity(0))} cores, numpy "
              f"{np.__version__}, fastnmf {fastnmf.__version__}, --repeats {args.repeats}")
    # warm-up: Numba cache loads, thread pools
    for loss in CANDIDATES:
        for s in CANDIDATES[loss]:
            run(make_X(60, 40, None, loss, "float64"), 3, loss, s)
            run(make_X(60, 40, 0.2, loss, "float64"), 3, loss, s)
    records = json.loads(args.json.read_text()) if args.append and args.json.exists() else []
    points = [(f"{m}x{n} {density or 'dense'} {NAME[loss]} k={k} {dtype}", loss, k, None,
               lambda m=m, n=n, d=density, loss=loss, dtype=dtype: make_X(m, n, d, loss, dtype))
              for m, n, density, loss, ranks, dtypes in grid for k in ranks for dtype in dtypes]
    if not args.no_corpus and not args.quick:  # the real-data corpus's matrices
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import datasets
        for c in datasets.get_cases():
            if c.missing is not None:
                continue
            loss = {"frobenius": "frobenius"}.get(c.beta_loss, "kullback-leibler")
            points.append((f"corpus {c.name} k={c.n_components}", loss, c.n_components,
                           c.name, lambda c=c: c.load()[0]))
    if args.only:
        points = [p for p in points if any(o in p[0] for o in args.only.split(","))]
    for label, loss, k, case, make in points:
        try:
            X = make()
        except Exception as exc:  # a corpus package missing: say so, go on
            print(f"{label}: skipped ({exc})", flush=True)
            continue
        r = measure(X, loss, k, args.repeats, case=case)
        for rec in r["records"]:
            rec["run"] = run_id
        records += r["records"]
        cells = ", ".join(f"{s} {o['time']:.3f} s ({o['n_iter']} it, "
                          f"{o['loss'] / r['target']:.4f})"
                          for s, o in r["out"].items() if s in CANDIDATES[loss])
        print(f"{label}: {cells}; best {r['best']}, auto {r['auto']}", flush=True)
    # one measurement a line
    args.json.write_text("[\n" + ",\n".join(json.dumps(r) for r in records) + "\n]\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
