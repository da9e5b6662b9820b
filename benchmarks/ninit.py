#!/usr/bin/env python
"""n_init runs side by side (one per thread) against one after the other (each on all threads).

Usage::

    python benchmarks/ninit.py            # digits, dense 1000x800 .. 4000x3000, sparse 100000x20000
    python benchmarks/ninit.py --quick    # digits and dense 1000x800 only
    python benchmarks/ninit.py --out DIR  # where ninit.md goes

``NMF(n_init=R, init='random', tol=0)`` is fitted with fastnmf's choice (side by side when
there are several threads and nothing prints or calls back) and again with the runs forced
into sequence; both give the same runs (tests/solvers/test_solvers.py checks this), so only time
differs.  Medians over repeats, the two modes interleaved.  The ratio is sequential time
over side-by-side time: above 1 means side by side is faster.
"""

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import compare as C  # noqa: E402  (data, machine lines)
import fastnmf  # noqa: E402
import fastnmf._plan as E  # noqa: E402  (where the plan decides how many runs go side by side)
from fastnmf.parallel.threads import usable_cores  # noqa: E402


def cases(quick):
    from sklearn.datasets import load_digits

    yield "digits 1797x64", load_digits().data, 16, ("cd", "hals"), 100
    yield "dense 1000x800", C.make_data((1000, 800), 16), 16, ("cd", "hals"), 100
    if quick:
        return
    yield "dense 2000x1500", C.make_data((2000, 1500), 16), 16, ("cd", "hals"), 100
    yield "dense 4000x3000", C.make_data((4000, 3000), 32), 32, ("cd", "hals", "als", "mu"), 30
    yield ("sparse 100000x20000 (2e6 nnz)", C.make_sparse_data((100000, 20000), 2_000_000), 32,
           ("cd", "hals", "mu"), 30)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--n-init", type=int, default=4)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--backends", default="cython,numba")
    p.add_argument("--out", default=str(HERE / "out"))
    a = p.parse_args(argv)
    threads = usable_cores()
    if threads < 2:
        print("one usable core: n_init runs always go one after the other; nothing to compare")
        return 0
    warnings.simplefilter("ignore")
    rows = []
    forced = E.parallel_runs
    for name, X, k, solvers, iters in cases(a.quick):
        for solver in solvers:
            for backend in a.backends.split(","):
                kw = dict(n_components=k, n_init=a.n_init, init="random", random_state=0,
                          max_iter=iters, tol=0, backend=backend, solver=solver, n_threads=threads)
                fastnmf.NMF(**kw).fit(X)  # compile, and let numba pick its threading layer
                side_by_side = forced(a.n_init, threads, backend, ordered_output=False)
                times = {"side": [], "seq": []}
                for _ in range(a.repeats):
                    for mode in ("side", "seq"):
                        if mode == "seq":
                            E.parallel_runs = lambda *args, **kws: 1
                        t0 = time.perf_counter()
                        fastnmf.NMF(**kw).fit(X)
                        times[mode].append(time.perf_counter() - t0)
                        E.parallel_runs = forced
                side, seq = (statistics.median(times[m]) for m in ("side", "seq"))
                rows.append(f"| {name}, rank {k} | {solver} | {backend} | {iters} | "
                            f"{side_by_side} | {side:.3f} | {seq:.3f} | {seq / side:.2f}x |")
                print(rows[-1], flush=True)
    md = "\n".join([
        f"## n_init={a.n_init}: runs side by side against one after the other",
        "",
        *C.machine_lines(),
        f"- threads: {threads}; iterations per run as listed (tol=0); medians of {a.repeats}",
        "",
        "| data | solver | backend | iterations | runs at once | side by side (s) "
        "| sequential (s) | sequential / side by side |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
    ]) + "\n"
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "ninit.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
