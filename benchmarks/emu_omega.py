#!/usr/bin/env python
"""Over-relaxed multiplicative updates ('emu') against plain mu, from scikit-learn's start.

Usage::

    python benchmarks/emu_omega.py                         # the default cases, omega 1.5/1.8/2.0
    python benchmarks/emu_omega.py --cases digits --omegas 1.8 --beta 0
    python benchmarks/emu_omega.py --out benchmarks/results/emu.md

For each corpus case (``benchmarks/datasets.py``) and beta-divergence: scikit-learn's
nndsvda start (``random_state=0``) is computed once; from it scikit-learn's
``NMF(solver='mu', init='custom')`` runs with its defaults (``tol=1e-4``,
``max_iter=200``) and is timed; fastnmf's ``solver='mu'`` (scikit-learn's iterates) and
``solver='emu'`` at each ``omega`` (:data:`fastnmf._beta.EMU_OMEGA` set for the run) run
from the same start with ``tol=0`` and ``--max-iter`` iterations.  The target is the loss
fastnmf's mu has after as many iterations as scikit-learn's call ran (the same iterates, so
scikit-learn's final loss in fastnmf's own measure); for each solver the table gives the
first iteration whose recorded loss (``loss_history_``) is at most the target, the fit time
up to it (``time_history_``), and whether its loss history never rose.

The ratio is scikit-learn's fit time (its whole call from the given start) over fastnmf's
time to the same loss.  One process, the contenders interleaved, ``--repeats`` times,
medians.
"""

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import datasets as D  # noqa: E402  (benchmarks/datasets.py)

DEFAULT_CASES = ("music10s_kl", "digits", "lfw_faces", "coffee_spectra", "fermentation_spectra",
                 "camera_patches", "pbmc68k_counts_kl", "lee300_counts_kl")
BETAS = {"kl": "kullback-leibler", "is": "itakura-saito"}


def beta_value(text):
    return BETAS.get(text, None) or float(text)


def sklearn_start(X, k):
    from sklearn.decomposition._nmf import _initialize_nmf

    return _initialize_nmf(X, k, init="nndsvda", random_state=0)


def run_sklearn(X, k, beta, W0, H0):
    from sklearn.decomposition import NMF as SKNMF

    est = SKNMF(k, solver="mu", beta_loss=beta, init="custom", random_state=0)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit_transform(X, W=W0.copy(), H=H0.copy())
    return time.perf_counter() - t0, est.n_iter_


def run_fastnmf(X, k, beta, W0, H0, solver, omega, max_iter):
    import fastnmf
    import fastnmf._beta as B

    saved = B.EMU_OMEGA
    B.EMU_OMEGA = omega if omega is not None else saved
    try:
        est = fastnmf.NMF(k, solver=solver, beta_loss=beta, init="custom", tol=0.0,
                          max_iter=max_iter, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.fit_transform(X, W=W0.copy(), H=H0.copy())
    finally:
        B.EMU_OMEGA = saved
    return np.asarray(est.loss_history_), np.asarray(est.time_history_)


def first_reach(hist, times, target):
    hit = np.nonzero(hist <= target)[0]
    if not len(hit):
        return None, None
    return int(hit[0]) + 1, float(times[hit[0]])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", default=",".join(DEFAULT_CASES))
    ap.add_argument("--beta", default="kl", help="kl, is, or a number (not 2)")
    ap.add_argument("--omegas", default="1.5,1.8,2.0")
    ap.add_argument("--max-iter", type=int, default=400)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    beta = beta_value(args.beta)
    omegas = [float(o) for o in args.omegas.split(",") if o]
    contenders = [("mu", None)] + [("emu", o) for o in omegas]
    import fastnmf

    lines = [
        "# 'emu' (over-relaxed mu) against mu, from scikit-learn's nndsvda start",
        "",
        f"Written by `python benchmarks/emu_omega.py {' '.join(argv or sys.argv[1:])}`.",
        "",
        f"- beta_loss: {args.beta}; fastnmf {fastnmf.__version__}; "
        f"medians of {args.repeats} interleaved repeats",
        "- it: first iteration at or below the target (scikit-learn's final loss, measured "
        "as fastnmf's mu loss after scikit-learn's iteration count); s: fit time to it; "
        "ratio: scikit-learn's fit time / that; mono: loss history never rose",
        "",
        "| case | shape | k | sklearn it | sklearn s | "
        + " | ".join(f"{s}{'' if o is None else ' ' + str(o)} it / s / ratio / mono"
                      for s, o in contenders) + " |",
        "|---|---|---|---|---|" + "---|" * len(contenders),
    ]
    for case in D.get_cases(args.cases):
        try:
            X, _ = case.load()
        except D.DataUnavailable as exc:
            print(f"{case.name}: skipped ({exc})", flush=True)
            continue
        X = X.astype(np.float64)
        k = case.n_components
        W0, H0 = sklearn_start(X, k)
        run_fastnmf(X, k, beta, W0, H0, "mu", None, 5)  # warm-up (JIT, pools)
        sk_times, sk_iter, per = [], None, {c: [] for c in contenders}
        for _ in range(args.repeats):
            t, sk_iter = run_sklearn(X, k, beta, W0, H0)
            sk_times.append(t)
            for c in contenders:
                per[c].append(run_fastnmf(X, k, beta, W0, H0, c[0], c[1], args.max_iter))
        target = per[("mu", None)][0][0][sk_iter - 1]
        sk_s = float(np.median(sk_times))
        cells = []
        for c in contenders:
            reach = [first_reach(h, th, target) for h, th in per[c]]
            it = reach[0][0]
            mono = all(bool(np.all(np.diff(h) <= 1e-12 * abs(h[0]))) for h, _ in per[c])
            if it is None:
                cells.append(f"– / – / – / {'yes' if mono else 'no'}")
                continue
            s = float(np.median([r[1] for r in reach]))
            cells.append(f"{it} / {s:.3f} / {sk_s / s:.2f}× / {'yes' if mono else 'no'}")
        shape = f"{X.shape[0]}×{X.shape[1]}{' CSR' if hasattr(X, 'nnz') else ''}"
        row = f"| {case.name} | {shape} | {k} | {sk_iter} | {sk_s:.3f} | " + " | ".join(cells) + " |"
        print(row, flush=True)
        lines.append(row)
    text = "\n".join(lines) + "\n"
    if args.out:
        Path(args.out).write_text(text)
    else:
        print(text)


if __name__ == "__main__":
    main()
