#!/usr/bin/env python
"""Over-relaxed multiplicative updates ('emu') against plain mu, from scikit-learn's start.

Usage::

    python benchmarks/emu_omega.py                         # the default cases
    python benchmarks/emu_omega.py --cases digits --omegas 1.8 --momenta 0,0.5 --beta 0
    python benchmarks/emu_omega.py --out benchmarks/results/emu.md

For each corpus case (``benchmarks/datasets.py``) and beta-divergence: scikit-learn's
nndsvda start (``random_state=0``) is computed once; from it scikit-learn's
``NMF(solver='mu', init='custom')`` runs with its defaults (``tol=1e-4``,
``max_iter=200``) and is timed; fastnmf's ``solver='mu'`` (scikit-learn's iterates) and
``solver='emu'`` at each ``omega`` and ``momentum`` (:data:`fastnmf.solvers.beta.EMU_OMEGA` and
:data:`~fastnmf.solvers.beta.EMU_MOMENTUM` set for the run) run from the same start with ``tol=0``
and ``--max-iter`` iterations.

A second table (unless ``--no-whole``) times the whole default calls as a user makes them:
scikit-learn's ``NMF(k, solver='mu', beta_loss=..., random_state=0).fit_transform(X)``
against fastnmf's ``NMF(k, beta_loss=..., random_state=0).fit_transform(X)`` ('auto', which
runs 'emu' on dense X), initialization and stopping rules included, with each one's
iterations and final divergence (this script's measure).

Loss: the beta-divergence itself, computed here from each iterate in float64 with W H
floored only at the smallest normal float64 (not at float32's epsilon, the clamp inside
scikit-learn's updates and its ``_beta_divergence``, which on data of small magnitude hides
the misfit of its tiny entries).  The target is scikit-learn's final loss; for each solver
the table gives the first iteration at or below it (found in an untimed run whose callback
evaluates every iterate), the fit time up to that iteration in the timed runs
(``time_history_``), and whether the loss never rose.

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

DEFAULT_CASES = ("music10s_kl", "digits", "lfw_faces", "mnist5k", "coffee_spectra",
                 "fermentation_spectra", "camera_patches", "china_patches")
TINY = np.finfo(np.float64).tiny
BETAS = {"kl": "kullback-leibler", "is": "itakura-saito"}
BETA_OF = {"kullback-leibler": 1.0, "itakura-saito": 0.0}


def beta_value(text):
    beta = BETAS.get(text, None) or float(text)
    if not isinstance(beta, str):
        BETA_OF[beta] = beta
    return beta


def divergence(X, W, H, beta):
    """D_beta(X | W H) in float64, W H floored at the smallest normal float64 only."""
    X = np.asarray(X.toarray() if hasattr(X, "toarray") else X, dtype=np.float64)
    P = np.asarray(W, dtype=np.float64) @ np.asarray(H, dtype=np.float64)
    pos = X > 0
    x, v = X[pos], np.maximum(P[pos], TINY)
    if beta == 1:
        return float(np.sum(x * np.log(x / v)) - X.sum() + P.sum())
    if beta == 0:
        return float(np.sum(x / v) - np.sum(np.log(x / v)) - X.size)
    return float((np.sum(x ** beta) - beta * np.dot(x, v ** (beta - 1))
                  + (beta - 1) * np.sum(P ** beta)) / (beta * (beta - 1)))


def sklearn_start(X, k):
    from sklearn.decomposition._nmf import _initialize_nmf

    return _initialize_nmf(X, k, init="nndsvda", random_state=0)


def run_sklearn(X, k, beta, W0, H0):
    from sklearn.decomposition import NMF as SKNMF

    est = SKNMF(k, solver="mu", beta_loss=beta, init="custom", random_state=0)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        W = est.fit_transform(X, W=W0.copy(), H=H0.copy())
    return time.perf_counter() - t0, est.n_iter_, divergence(X, W, est.components_, BETA_OF[beta])


def run_fastnmf(X, k, beta, W0, H0, solver, omega, momentum, max_iter, losses=None):
    """(loss_history_, time_history_); with ``losses`` (a list) the divergence of every
    iterate is appended to it (untimed: the callback's work)."""
    import fastnmf
    import fastnmf.solvers.beta as B

    saved = B.EMU_OMEGA, B.EMU_MOMENTUM
    B.EMU_OMEGA = omega if omega is not None else saved[0]
    B.EMU_MOMENTUM = momentum if momentum is not None else saved[1]
    try:
        cb = None
        if losses is not None:
            def cb(info):
                losses.append(divergence(X, info.W, info.H, BETA_OF[beta]))
        est = fastnmf.NMF(k, solver=solver, beta_loss=beta, init="custom", tol=0.0,
                          max_iter=max_iter, random_state=0, callback=cb)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.fit_transform(X, W=W0.copy(), H=H0.copy())
    finally:
        B.EMU_OMEGA, B.EMU_MOMENTUM = saved
    return np.asarray(est.loss_history_), np.asarray(est.time_history_)


def whole_row(name, X, k, beta, repeats):
    """A markdown row: both libraries' whole default calls (see the module docstring)."""
    import fastnmf
    from sklearn.decomposition import NMF as SKNMF

    times = {"sk": [], "fn": []}
    for _ in range(repeats):
        for who, make in (("sk", lambda: SKNMF(k, solver="mu", beta_loss=beta, random_state=0)),
                          ("fn", lambda: fastnmf.NMF(k, beta_loss=beta, random_state=0))):
            est = make()
            time.sleep(0.2)  # idle threads of the other library stop spinning
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                W = est.fit_transform(X)
            times[who].append(time.perf_counter() - t0)
            if who == "sk":
                sk_it, sk_loss = est.n_iter_, divergence(X, W, est.components_, BETA_OF[beta])
            else:
                fn_it, fn_loss = est.n_iter_, divergence(X, W, est.components_, BETA_OF[beta])
    sk_s, fn_s = float(np.median(times["sk"])), float(np.median(times["fn"]))
    return (f"| {name} | {sk_s:.3f} | {sk_it} | {fn_s:.3f} | {fn_it} | **{sk_s / fn_s:.2f}×** | "
            f"{sk_loss:.6g} | {fn_loss:.6g} | {fn_loss / sk_loss:.4f} |")


def first_reach(losses, target):
    hit = np.nonzero(np.asarray(losses) <= target)[0]
    return int(hit[0]) + 1 if len(hit) else None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", default=",".join(DEFAULT_CASES))
    ap.add_argument("--beta", default="kl", help="kl, is, or a number (not 2)")
    ap.add_argument("--omegas", default="1.8")
    ap.add_argument("--momenta", default="0,0.5")
    ap.add_argument("--no-whole", action="store_true", help="skip the whole default calls")
    ap.add_argument("--max-iter", type=int, default=400)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    beta = beta_value(args.beta)
    omegas = [float(o) for o in args.omegas.split(",") if o]
    momenta = [float(o) for o in args.momenta.split(",") if o]
    contenders = [("mu", None, None)] + [("emu", o, mo) for o in omegas for mo in momenta]
    import fastnmf

    lines = [
        "# 'emu' (over-relaxed mu) against mu, from scikit-learn's nndsvda start",
        "",
        f"Written by `python benchmarks/emu_omega.py {' '.join(argv or sys.argv[1:])}`.",
        "",
        f"- beta_loss: {args.beta}; fastnmf {fastnmf.__version__}; "
        f"medians of {args.repeats} interleaved repeats",
        "- it: first iteration whose divergence (W H floored at the smallest normal float64 "
        "only) is at most scikit-learn's final one; s: fit time to it; ratio: "
        "scikit-learn's fit time / that; mono: the divergence never rose; –: not reached "
        "in --max-iter iterations",
        "",
        "| case | shape | k | sklearn it | sklearn s | "
        + " | ".join(f"{s}{'' if o is None else f' {o}/{mo}'} it / s / ratio / mono"
                      for s, o, mo in contenders) + " |",
        "|---|---|---|---|---|" + "---|" * len(contenders),
    ]
    whole = []
    for case in D.get_cases(args.cases):
        try:
            X, _ = case.load()
        except D.DataUnavailable as exc:
            print(f"{case.name}: skipped ({exc})", flush=True)
            continue
        X = X.astype(np.float64)
        k = case.n_components
        W0, H0 = sklearn_start(X, k)
        run_fastnmf(X, k, beta, W0, H0, "mu", None, None, 5)  # warm-up (JIT, pools)
        sk_times, sk_iter, sk_loss, per = [], None, None, {c: [] for c in contenders}
        for _ in range(args.repeats):
            t, sk_iter, sk_loss = run_sklearn(X, k, beta, W0, H0)
            sk_times.append(t)
            for c in contenders:
                per[c].append(run_fastnmf(X, k, beta, W0, H0, *c, args.max_iter)[1])
        sk_s = float(np.median(sk_times))
        cells = []
        for c in contenders:
            losses = []
            run_fastnmf(X, k, beta, W0, H0, *c, args.max_iter, losses=losses)
            it = first_reach(losses, sk_loss)
            mono = bool(np.all(np.diff(losses) <= 1e-12 * abs(losses[0])))
            if it is None:
                cells.append(f"– / – / – / {'yes' if mono else 'no'}")
                continue
            s = float(np.median([th[it - 1] for th in per[c]]))
            cells.append(f"{it} / {s:.3f} / {sk_s / s:.2f}× / {'yes' if mono else 'no'}")
        shape = f"{X.shape[0]}×{X.shape[1]}{' CSR' if hasattr(X, 'nnz') else ''}"
        row = f"| {case.name} | {shape} | {k} | {sk_iter} | {sk_s:.3f} | " + " | ".join(cells) + " |"
        print(row, flush=True)
        lines.append(row)
        if not args.no_whole:
            whole.append(whole_row(case.name, X, k, beta, args.repeats))
            print(whole[-1], flush=True)
    if whole:
        lines += ["", "## The whole default call", "",
                  "scikit-learn `NMF(k, solver='mu', beta_loss, random_state=0)` against fastnmf "
                  "`NMF(k, beta_loss, random_state=0)` ('auto': emu), `fit_transform(X)` timed "
                  f"whole, medians of {args.repeats} interleaved repeats; loss ratio = fastnmf / "
                  "scikit-learn (this script's divergence)", "",
                  "| case | sklearn s | sklearn it | fastnmf s | fastnmf it | time ratio | "
                  "sklearn loss | fastnmf loss | loss ratio |",
                  "|---|---|---|---|---|---|---|---|---|"] + whole
    text = "\n".join(lines) + "\n"
    if args.out:
        Path(args.out).write_text(text)
    else:
        print(text)


if __name__ == "__main__":
    main()
