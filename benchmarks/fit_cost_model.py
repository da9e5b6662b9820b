#!/usr/bin/env python
"""Fit the cost model of ``solver='auto'`` (``fastnmf/solvers/auto.py``) to the measured table.

Usage::

    python benchmarks/auto_table.py --json benchmarks/results/auto.json    # ~10 min, 2 cores
    python benchmarks/auto_table.py --json benchmarks/results/auto.json --append  # a 2nd run
    python benchmarks/fit_cost_model.py benchmarks/results/auto.json
    # writes fastnmf/solvers/auto_costs.py and benchmarks/results/auto.md

The model predicts each candidate's whole default call from what its work grows with
(``fastnmf.solvers.auto.cost_features``: k times the stored entries, the stored entries,
k^2 (m + n), k (m + n), 1):

    seconds = setup . f  +  iterations(k) * (per_iter . f)

per solver, loss (Frobenius, KL, other beta), kind of X (dense, sparse) and dtype, where

- ``per_iter``: non-negative least squares, in relative error, on the seconds an iteration
  measured (from ``time_history_``);
- ``setup``: the same on the seconds outside the iterations (the start, validation, the
  solver's set-up);
- ``iterations(k) = exp(u) k^v`` (capped at max_iter): least squares on log iterations.
  Iterations depend on the data more than on anything 'auto' can see; the fit gives how
  they grow with the rank on the table's data, which is what 'auto' can know.

A dtype with fewer than three measurements in a group falls back to float64's coefficients.
The script prints how well the model fits and how often its choice is right, in the table
and with each grid point left out of the fit (the model fitted on the others).
"""

import argparse
import datetime
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
from scipy.optimize import nnls

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fastnmf.solvers.auto import (CANDIDATES, cost_features, cost_group, loss_class,  # noqa: E402
                           model_seconds)


def features(r):
    return np.array(cost_features(r["m"], r["n"], r["nnz"], r["k"]))


def group(r, dtype=True):
    g = cost_group(r["solver"], r["beta"], not r["dense"])
    return f"{g}/{r['dtype']}" if dtype else g


def relative_nnls(F, t):
    """Non-negative c minimizing sum ((F c - t) / t)^2, columns scaled for conditioning."""
    A = F / t[:, None]
    scale = np.abs(A).max(axis=0)
    scale[scale == 0] = 1.0
    c, _ = nnls(A / scale, np.ones(len(t)))
    return c / scale


def fit(records):
    by_group = defaultdict(list)
    for r in records:
        by_group[group(r)].append(r)
    costs = {}
    for g, rs in sorted(by_group.items()):
        if len(rs) < 3 and not g.endswith("float64"):
            continue
        F = np.array([features(r) for r in rs])
        per_iter = relative_nnls(F, np.array([r["per_iter"] for r in rs]))
        setup = relative_nnls(F, np.array([r["setup"] for r in rs]))
        # iterations over every dtype of the group: they are the data's, not the dtype's
        same = [q for q in records if group(q, dtype=False) == group(rs[0], dtype=False)]
        logk = np.log([q["k"] for q in same])
        logi = np.log([q["n_iter"] for q in same])
        if len(set(logk)) > 1:
            v, u = np.polyfit(logk, logi, 1)
        else:
            u, v = float(np.mean(logi)), 0.0
        costs[g] = dict(per_iter=[float(f"{x:.4g}") for x in per_iter],
                        setup=[float(f"{x:.4g}") for x in setup],
                        iterations=[float(f"{u:.4g}"), float(f"{v:.4g}")])
    return costs


def predict(costs, r, solver):
    return model_seconds(costs, solver, r["beta"], sparse=not r["dense"], dtype=r["dtype"],
                         m=r["m"], n=r["n"], stored=r["nnz"], k=r["k"])


KEY = ("m", "n", "nnz", "dense", "k", "dtype", "beta")
LOSS_NAME = {2.0: "Frobenius", 1.0: "KL"}


def key(r):
    return tuple(r[f] for f in KEY)


def points(records):
    """{grid point: {solver: its measurement}}, the median-time run of each."""
    runs = defaultdict(lambda: defaultdict(list))
    for r in records:
        runs[key(r)][r["solver"]].append(r)
    out = {}
    for point, by_solver in runs.items():
        out[point] = {}
        for s, rs in by_solver.items():
            rs = sorted(rs, key=lambda r: r["time"])
            out[point][s] = rs[(len(rs) - 1) // 2]
    return out


def assess(costs, cands):
    """The model's choice at one grid point and whether it is right: its final loss at most
    1% above the target (the loss of scikit-learn's iterates) and its whole call within 10%
    of the fastest such call among the candidates 'auto' may pick.  Also the fastest of
    those, and the fastest of all measured (Frobenius 'mu' is measured but never picked)."""
    any_r = next(iter(cands.values()))
    allowed = [s for s in CANDIDATES[loss_class(any_r["beta"])] if s in cands]
    pred = {s: predict(costs, any_r, s) for s in allowed}
    pred = {s: p for s, p in pred.items() if p is not None}
    choice = min(pred, key=pred.get)
    good = {s: r["time"] for s, r in cands.items() if r["loss"] <= r["target"] * 1.01}
    best_allowed = min((s for s in good if s in allowed), key=good.get)
    best_any = min(good, key=good.get)
    c = cands[choice]
    ok = c["loss"] <= c["target"] * 1.01 and c["time"] <= 1.10 * good[best_allowed]
    return dict(choice=choice, ok=ok, best=best_allowed, best_any=best_any, pred=pred)


def fmt(v):
    return "–" if v is None else (f"{v:.3f}" if v < 10 else f"{v:.1f}")


def render(records, fitted, held_out, table_path, summary):
    """The table: ``fitted`` and ``held_out`` are :func:`assess` of every grid point by the
    model fitted to all of it and to all but that point."""
    grid = points(records)
    runs = sorted({r.get("run", "?") for r in records})
    lines = [
        "# What solver='auto' chooses by: measured whole calls and the cost model fitted to them",
        "",
        f"Written by `python benchmarks/fit_cost_model.py {table_path}` from the "
        f"measurements of `benchmarks/auto_table.py` ({len(runs)} run(s): "
        + "; ".join(runs) + ").",
        "",
        "Each cell: the whole default call in seconds (median over the runs), the iterations, "
        "the final loss over the target (the final loss of scikit-learn's iterates: `solver='cd'`"
        " for the Frobenius loss, 'mu' for the others), and the cost model's prediction of the "
        "whole call. Every candidate ran as `solver='auto'` runs it had it chosen it (dense "
        "Frobenius cd with the guard). Bold: the fastest whole call, among the candidates "
        "'auto' may pick, with a final loss at most 1% above the target; † marks Frobenius "
        "'mu' where it was faster still (it is never picked: `fastnmf/solvers/auto.py`). auto: the "
        "model's choice; left out: the choice of the model fitted without this point's "
        "measurements. Right: the choice's loss at most 1% above the target and its whole call "
        "within 10% of the bold one. The rows named after a case are the real-data corpus's "
        "matrices (`benchmarks/datasets.py`) at the corpus's rank; the others are synthetic "
        "(`benchmarks/auto_table.py`).",
        "",
        "| shape | density | loss | k | dtype | hals | cd | mu | emu | auto | right | left out "
        "| right |",
        "|" + "---|" * 13,
    ]
    def case(point):
        return next(iter(grid[point].values())).get("case")

    order = sorted(grid, key=lambda p: (case(p) is not None, case(p) or "", -p[6], not p[3],
                                        p[0] * p[1], p[2], p[4], p[5]))
    for point in order:
        cands = grid[point]
        a = fitted[point]
        h = held_out[point]
        any_r = next(iter(cands.values()))
        cells = []
        for s in ("hals", "cd", "mu", "emu"):
            if s not in cands:
                cells.append("")
                continue
            r = cands[s]
            bold = "**" if s == a["best"] else ""
            dagger = "†" if s == a["best_any"] and s != a["best"] else ""
            pred = a["pred"].get(s)
            pred = "" if pred is None else f"; model {fmt(pred)}"
            cells.append(f"{bold}{fmt(r['time'])}{bold}{dagger} ({r['n_iter']} it, "
                         f"{r['loss'] / r['target']:.4f}{pred})")
        m, n, nnz, dense, k, dtype, beta = point
        dens = "dense" if dense else f"{nnz / (m * n):.3g} CSR"
        shape = f"{m}×{n}" if case(point) is None else f"{case(point)} {m}×{n}"
        row = [shape, dens, LOSS_NAME.get(beta, f"beta={beta:g}"), str(k), dtype,
               *cells, a["choice"], "yes" if a["ok"] else "**no**",
               h["choice"], "yes" if h["ok"] else "**no**"]
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", summary, ""]
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("table", type=Path, help="the --json output of benchmarks/auto_table.py")
    ap.add_argument("--out", type=Path, default=ROOT / "fastnmf" / "solvers" / "auto_costs.py")
    ap.add_argument("--md", type=Path, default=ROOT / "benchmarks" / "results" / "auto.md")
    args = ap.parse_args(argv)
    records = json.loads(args.table.read_text())
    costs = fit(records)

    errors = [abs(predict(costs, r, r["solver"]) / r["time"] - 1) for r in records]
    grid = points(records)
    fitted = {p: assess(costs, c) for p, c in grid.items()}
    held_out = {p: assess(fit([r for r in records if key(r) != p]), c)
                for p, c in grid.items()}
    n_in = sum(a["ok"] for a in fitted.values())
    n_out = sum(h["ok"] for h in held_out.values())
    n_mu = sum(a["best_any"] != a["best"] for a in fitted.values())
    real = [p for p, c in grid.items() if next(iter(c.values())).get("case")]
    summary = (f"The model's choice was right at {n_in} of {len(grid)} points, and at "
               f"{n_out} with each point left out of the fit; on the {len(real)} real-data "
               f"matrices at {sum(fitted[p]['ok'] for p in real)}, and at "
               f"{sum(held_out[p]['ok'] for p in real)} left out. Its whole-call prediction "
               f"was off by {np.median(errors):.0%} at the median, "
               f"{np.percentile(errors, 90):.0%} at the 90th percentile. Frobenius 'mu', "
               f"never picked, was the fastest at {n_mu} points.")
    print(summary)
    try:
        shown = args.table.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        shown = args.table.as_posix()
    args.md.write_text(render(records, fitted, held_out, shown, summary))
    print(f"wrote {args.md}")

    lines = [
        '"""The fitted constants of the cost model behind ``solver=\'auto\'``',
        "(:func:`fastnmf.solvers.auto.predicted_seconds`).",
        "",
        f"Written by ``python benchmarks/fit_cost_model.py {shown}``",
        f"({datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d}) from the measurements of "
        "``benchmarks/auto_table.py``;",
        "do not edit by hand (a test checks they are that fit).",
        "Keys: solver/loss/X/dtype.  ``per_iter`` and ``setup``: seconds per unit of each cost",
        "feature (:func:`fastnmf.solvers.auto.cost_features`); ``iterations`` (u, v): exp(u) k^v.",
        "The fit: ``benchmarks/results/auto.md``.",
        '"""',
        "",
        "COSTS = {",
    ]
    for g, c in costs.items():
        lines.append(f"    {g!r}: {{")
        for name, v in c.items():
            lines.append(f"        {name!r}: {v!r},")
        lines.append("    },")
    lines += ["}", ""]
    args.out.write_text("\n".join(lines))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
