#!/usr/bin/env python
"""Many seeds at a few ranks, as consensus front ends fit them: fastnmf.fit_many against loops.

Usage::

    python benchmarks/batch.py                 # digits, pbmc68k, reuters395, mnist5k
    python benchmarks/batch.py --quick         # digits and pbmc68k only
    python benchmarks/batch.py --out DIR       # where batch.md goes

Every case fits the same real matrix from ``--seeds`` seeds at each of its ranks, four ways:

* ``fit_many``: :func:`fastnmf.fit_many` with its default ``n_jobs`` (every core: the fits
  side by side, one thread each);
* ``fit_many n_jobs=1``: the same fits one after another, each on every core (X still
  prepared once);
* ``NMF loop``: ``for seed in seeds: fastnmf.NMF(k, random_state=seed, ...).fit(X)``;
* ``sklearn loop``: the same loop with :class:`sklearn.decomposition.NMF`.

with two settings: cNMF's (Kotliar et al. 2019: Frobenius loss, solver 'cd', init 'random',
alpha 0, max_iter 1000, tol 1e-4; scikit-learn's 'cd' is what cNMF runs) and the defaults
(fastnmf: solver 'auto', max_iter 200, tol 1e-4; scikit-learn: solver 'cd'; both with
init 'random', since the default NNDSVDa start ignores the seed).  The four are interleaved,
the order rotated each repeat, and the medians reported (a shared, noisy 2-core machine).
Peak memory: the largest traced allocation (tracemalloc, NumPy's arrays included) of one more
pass of fit_many keeping both factors, keeping H only, and the NMF loop keeping W and H.
"""

import argparse
import statistics
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import compare as C  # noqa: E402  (machine lines)
import datasets as D  # noqa: E402
from sklearn.decomposition import NMF as SkNMF  # noqa: E402

import fastnmf  # noqa: E402
from fastnmf.parallel.threads import usable_cores  # noqa: E402

#: cNMF's settings of scikit-learn's NMF (its defaults for the Frobenius loss).
CNMF = dict(solver="cd", init="random", beta_loss="frobenius", alpha_W=0.0, max_iter=1000,
            tol=1e-4)
#: Each library's defaults, with a random start (the seed matters only there).
DEFAULT = dict(init="random")
SETTINGS = {"cNMF": (CNMF, CNMF), "default": (DEFAULT, DEFAULT)}


#: (name, loader, ranks, seeds factor): the real matrices (benchmarks/datasets.py).
CASES = {
    "digits": (D.digits, (5, 10), 1.0),
    "pbmc68k": (lambda: D.pbmc68k("counts"), (5, 10), 1.0),
    "reuters395": (lambda: D.reuters395("counts"), (10, 20), 1.0),
    "mnist5k": (D.mnist5k, (10, 20), 0.5),  # medium: half the seeds
}
QUICK = ("digits", "pbmc68k")


def contenders(X, ranks, seeds, fast, sk):
    def batch(n_jobs):
        return lambda: fastnmf.fit_many(X, ranks, random_state=seeds, n_jobs=n_jobs, **fast)

    def fast_loop():
        return [fastnmf.NMF(k, random_state=s, **fast).fit(X) for k in ranks for s in seeds]

    def sk_loop():
        return [SkNMF(k, random_state=s, **sk).fit(X) for k in ranks for s in seeds]

    return {"fit_many": batch(None), "fit_many n_jobs=1": batch(1), "NMF loop": fast_loop,
            "sklearn loop": sk_loop}


CONTENDERS = ("fit_many", "fit_many n_jobs=1", "NMF loop", "sklearn loop")


def ratio(med, c):
    """``med[c] / med['fit_many']`` for the table, '-' when ``c`` was not run."""
    return f"{med[c] / med['fit_many']:.2f}x" if c in med else "-"


def peak_mb(f):
    tracemalloc.start()
    try:
        kept = f()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    del kept
    return peak / 2**20


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--seeds", type=int, default=20)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--settings", default="cNMF,default")
    p.add_argument("--cases", default=None,
                   help=f"comma-separated, of {', '.join(CASES)} (default: all; --quick: "
                        f"{', '.join(QUICK)})")
    p.add_argument("--skip", default="", help="contenders left out, comma-separated (e.g. "
                   "'NMF loop'): a '-' in the table")
    p.add_argument("--no-memory", action="store_true")
    p.add_argument("--out", default=str(HERE / "out"))
    a = p.parse_args(argv)
    warnings.simplefilter("ignore")
    threads = usable_cores()
    rows, mem_rows = [], []
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    names = a.cases.split(",") if a.cases else QUICK if a.quick else tuple(CASES)
    skip = {c.strip() for c in a.skip.split(",") if c.strip()}
    for name in names:
        load, ranks, factor = CASES[name]
        X, how = load()
        n_seeds = max(2, int(round(a.seeds * factor)))
        seeds = list(range(n_seeds))
        kind = f"sparse, {X.nnz} nonzeros" if hasattr(X, "nnz") else "dense"
        label = f"{name} {X.shape[0]}x{X.shape[1]} ({kind})"
        for setting in a.settings.split(","):
            fast, sk = SETTINGS[setting]
            runs = {c: f for c, f in contenders(X, ranks, seeds, fast, sk).items()
                    if c not in skip}
            fastnmf.fit_many(X, ranks[0], random_state=[0], **fast)  # warm up (numba, BLAS)
            times = {c: [] for c in runs}
            order = list(runs)
            for r in range(a.repeats):
                for c in order[r % len(order):] + order[:r % len(order)]:
                    t0 = time.perf_counter()
                    runs[c]()
                    times[c].append(time.perf_counter() - t0)
            med = {c: statistics.median(t) for c, t in times.items()}
            b = fastnmf.fit_many(X, ranks, random_state=seeds, **fast)
            iters = "/".join(f"{statistics.median([r.n_iter for r in b.runs_of(k)]):.0f}"
                             for k in ranks)
            rows.append(
                f"| {label} | {setting} | {', '.join(map(str, ranks))} | {n_seeds} | {iters} | "
                + " | ".join(f"{med[c]:.2f}" if c in med else "-" for c in CONTENDERS)
                + f" | {ratio(med, 'NMF loop')} | {ratio(med, 'fit_many n_jobs=1')}"
                + f" | {ratio(med, 'sklearn loop')} |")
            print(rows[-1], flush=True)
            if not a.no_memory and setting == a.settings.split(",")[0]:
                both = peak_mb(lambda: fastnmf.fit_many(X, ranks, random_state=seeds, **fast))
                only_H = peak_mb(lambda: fastnmf.fit_many(X, ranks, random_state=seeds,
                                                          keep="H", **fast))

                def loop_keeping():
                    kept = []
                    for k in ranks:
                        for s in seeds:
                            est = fastnmf.NMF(k, random_state=s, **fast)
                            kept.append((est.fit_transform(X), est.components_))
                    return kept

                loop = peak_mb(loop_keeping)
                mem_rows.append(f"| {label} | {setting} | {len(ranks) * n_seeds} | {both:.1f} | "
                                f"{only_H:.1f} | {loop:.1f} |")
                print(mem_rows[-1], flush=True)
        write(out, a, threads, rows, mem_rows)
    print((out / "batch.md").read_text())
    return 0


def write(out, a, threads, rows, mem_rows):
    md = "\n".join([
        "## Many seeds at a few ranks: fit_many against loops of fits",
        "",
        *C.machine_lines(),
        f"- threads: {threads}; seconds for every (rank, seed) fit of a case, medians of "
        f"{a.repeats} repeats, the four interleaved (order rotated each repeat)",
        "- cNMF: solver 'cd', init 'random', Frobenius, alpha 0, max_iter 1000, tol 1e-4; "
        "default: each library's defaults with init 'random' (fastnmf solver 'auto', "
        "scikit-learn 'cd'; max_iter 200, tol 1e-4)",
        "- fit_many: default n_jobs (every core, one fit per core); fit_many n_jobs=1: the "
        "fits in sequence on every core; NMF loop: fastnmf.NMF(k, random_state=s).fit(X) in "
        "a loop; sklearn loop: the same with sklearn.decomposition.NMF",
        "",
        "| data | settings | ranks | seeds | median iterations | fit_many (s) "
        "| fit_many n_jobs=1 (s) | NMF loop (s) | sklearn loop (s) | NMF loop / fit_many "
        "| n_jobs=1 / fit_many | sklearn loop / fit_many |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        "### Peak traced memory (MB, tracemalloc) of one batch",
        "",
        "| data | settings | fits | fit_many keep='both' | fit_many keep='H' "
        "| NMF loop keeping W and H |",
        "|---|---|---|---|---|---|",
        *mem_rows,
    ]) + "\n"
    (out / "batch.md").write_text(md)


if __name__ == "__main__":
    sys.exit(main())
