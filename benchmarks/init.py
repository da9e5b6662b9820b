#!/usr/bin/env python
"""NNDSVDA initialization: scikit-learn's ``_initialize_nmf`` against ``fastnmf._init.initialize``.

Usage::

    python benchmarks/init.py [--repeats 5] [--out benchmarks/results/init.md]

Both get X, the corpus case's rank (``benchmarks/datasets.py``) and ``random_state=0``, with
each library's default threads (all cores); the two calls are interleaved and timed whole,
median of ``--repeats``.  Two synthetic cases from the issue are added: dense 4000 x 3000 and
sparse 100000 x 20000 (density 5e-4), both rank 32.  ``max |W - W_sk|`` and ``max |H - H_sk|``
relative to the largest entry show that the result is scikit-learn's to rounding.
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

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import datasets as D  # noqa: E402


def cases():
    for c in D.get_cases():
        if c.missing is None and c.beta_loss == "frobenius" or c.name.endswith("_kl"):
            if c.missing is None:
                yield c.name, c.load()[0], c.n_components
    rng = np.random.default_rng(0)
    yield "dense4000x3000", rng.random((4000, 3000)), 32
    yield "sparse1e5x2e4", sp.random(100000, 20000, density=5e-4, format="csr", random_state=0), 32


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--out", default=None)
    a = p.parse_args()
    warnings.simplefilter("ignore")
    from sklearn.decomposition._nmf import _initialize_nmf
    import sklearn
    import fastnmf
    from fastnmf._init import initialize
    from fastnmf._backends import get_backend, resolve_backend_name
    from fastnmf.parallel.threads import resolve_n_threads

    # as NMF.fit calls it: the default backend's kernels on every thread
    kernels, n_threads = get_backend(resolve_backend_name("auto")), resolve_n_threads(None)

    rows, ratios = [], []
    for name, X, k in cases():
        ts = {"sk": [], "fn": []}
        for _ in range(a.repeats):
            time.sleep(0.2)  # idle BLAS/OpenMP threads stop spinning (see corpus.SETTLE)
            t = time.perf_counter(); Ws, Hs = _initialize_nmf(X, k, "nndsvda", random_state=0)
            ts["sk"].append(time.perf_counter() - t)
            time.sleep(0.2)
            t = time.perf_counter(); Wf, Hf = initialize(X, k, "nndsvda", 0, kernels=kernels,
                                                n_threads=n_threads)
            ts["fn"].append(time.perf_counter() - t)
        sk_t, fn_t = np.median(ts["sk"]), np.median(ts["fn"])
        dW = np.abs(Wf - Ws).max() / np.abs(Ws).max()
        dH = np.abs(Hf - Hs).max() / np.abs(Hs).max()
        ratios.append(sk_t / fn_t)
        kind = "CSR" if sp.issparse(X) else "dense"
        rows.append(f"| {name} | {X.shape[0]}×{X.shape[1]} {kind} | {k} | {sk_t*1e3:.1f} | "
                    f"{fn_t*1e3:.1f} | **{sk_t/fn_t:.2f}×** | {dW:.1e} | {dH:.1e} |")
        print(rows[-1], flush=True)
    out = [
        "# NNDSVDA initialization: scikit-learn's and fastnmf's, same result",
        "",
        f"Written by `python benchmarks/init.py` on {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC; "
        f"{platform.processor() or platform.machine()}, numpy {np.__version__}, "
        f"scikit-learn {sklearn.__version__}, fastnmf {fastnmf.__version__}; {a.repeats} repeats, "
        "median, interleaved with a 0.2 s pause before each call, default threads (2 cores).",
        "",
        "| case | X | k | scikit-learn ms | fastnmf ms | speed-up | max ΔW (rel.) | max ΔH (rel.) |",
        "|---|---|---|---|---|---|---|---|",
        *rows, "",
        f"Median speed-up {np.median(ratios):.2f}×, smallest {min(ratios):.2f}×.", "",
    ]
    if a.out:
        Path(a.out).write_text("\n".join(out))
    print("\n".join(out[-2:]))


if __name__ == "__main__":
    main()
