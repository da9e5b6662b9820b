#!/usr/bin/env python
"""fastnmf's threaded fits on a loaded machine: OpenMP wait policies, fresh processes, medians.

Usage::

    python benchmarks/loaded_machine.py                    # every case, condition and variant
    python benchmarks/loaded_machine.py --repeats 2 --cases pbmc_k9_cd,mnist_cd
    python benchmarks/loaded_machine.py --numba            # the Numba backend's rows only
    python benchmarks/loaded_machine.py --out benchmarks/results/loaded_machine.md

Each fit runs in a fresh process (``--worker``), so the wait-policy variables are in its
environment before any OpenMP runtime is loaded (libgomp reads them once, when it is loaded).
The worker reads the matrix from a cache written by this script (so it never imports the data
packages), runs a 3-iteration warm-up fit (loads the extension, numba's cache, threadpoolctl's
scan), then times one fit.  Conditions:

- ``quiet``: nothing of ours besides the fit (the machine is shared with other jobs, so
  this is only approximately quiet: the load average is recorded);
- ``load``: one CPU-bound process (``while True: pass``) per usable core minus one (at least
  one) runs during the fit, like a second job on a shared node;
- ``pair``: two identical fits run at once (like cNMF's ``factorize --total-workers 2`` or
  joblib workers), each timed, both times kept;
- ``nice``: as ``quiet``, the fit at nice -10 (needs root: it then gets the cores nearly to
  itself while other jobs run), the closest this shared machine came to a quiet one.

Variants (the worker's environment; ``OMP_WAIT_POLICY``, ``GOMP_SPINCOUNT`` and
``KMP_BLOCKTIME`` are removed first, then):

- ``spin300k``: ``GOMP_SPINCOUNT=300000``, libgomp's own default when nothing is set (an idle
  thread spins ~300000 iterations, a few ms, before it sleeps);
- ``default``: nothing set: whatever fastnmf does by default;
- ``passive``: ``OMP_WAIT_POLICY=PASSIVE`` (idle threads sleep at once);
- ``spin10k``, ``spin1k``, ``spin300``, ``spin100``: ``GOMP_SPINCOUNT`` 10000, 1000, 300, 100;
- ``kmp200``: ``KMP_BLOCKTIME=200``, LLVM libomp's own default (a clang build: run this
  script with ``PYTHONPATH`` pointing at one, as ci/clang_build.sh makes);
- ``threads1``: nothing set, ``n_threads=1``;
- ``workqueue`` (Numba backend): nothing set, ``NUMBA_THREADING_LAYER=workqueue`` (Numba's
  own thread pool instead of its OpenMP layer, which uses libgomp like fastnmf's extensions).

The conditions and variants are interleaved in a shuffled order within each repeat (fixed
seed); the table shows the median seconds per fit and, in brackets, the spread (min-max).
"""

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

WAIT_VARS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")

#: case -> (loader, loader args, estimator params, description)
CASES = {
    "pbmc_k9_cd": ("pbmc68k", ("counts",),
                   dict(n_components=9, solver="cd", init="random", alpha_W=0.0, max_iter=1000,
                        random_state=0),
                   "pbmc68k counts (700x765 sparse), k=9, Frobenius cd, cNMF's settings"),
    "pbmc_k5_cd": ("pbmc68k", ("counts",),
                   dict(n_components=5, solver="cd", init="random", alpha_W=0.0, max_iter=1000,
                        random_state=0),
                   "pbmc68k counts, k=5, Frobenius cd, cNMF's settings"),
    "pbmc_k9_kl": ("pbmc68k", ("counts",),
                   dict(n_components=9, beta_loss="kullback-leibler", init="random",
                        max_iter=1000, random_state=0),
                   "pbmc68k counts, k=9, KL, default solver"),
    "mnist_cd": ("mnist5k", (), dict(n_components=10, solver="cd", max_iter=200,
                                     random_state=0),
                 "mnist5k (5000x784 dense), k=10, cd, 200 iterations at most"),
    "news_cd": ("news3824", ("tfidf",), dict(n_components=20, solver="cd", max_iter=200,
                                             random_state=0),
                "news3824 TF-IDF (sparse), k=20, cd, 200 iterations at most"),
}

VARIANTS = {
    "spin300k": ({"GOMP_SPINCOUNT": "300000"}, None),
    "default": ({}, None),
    "passive": ({"OMP_WAIT_POLICY": "PASSIVE"}, None),
    "spin10k": ({"GOMP_SPINCOUNT": "10000"}, None),
    "spin1k": ({"GOMP_SPINCOUNT": "1000"}, None),
    "spin300": ({"GOMP_SPINCOUNT": "300"}, None),
    "spin100": ({"GOMP_SPINCOUNT": "100"}, None),
    "kmp200": ({"KMP_BLOCKTIME": "200"}, None),
    "threads1": ({}, 1),
    "workqueue": ({"NUMBA_THREADING_LAYER": "workqueue"}, None),
}

CONDITIONS = ("quiet", "load", "pair", "nice")


# ------------------------------------------------------------------------------ worker
def worker(args):
    import fastnmf

    data = np.load(args.data, allow_pickle=False)
    if "indptr" in data:
        import scipy.sparse as sp

        X = sp.csr_matrix((data["data"], data["indices"], data["indptr"]),
                          shape=tuple(data["shape"]))
    else:
        X = data["X"]
    params = dict(CASES[args.worker][2])
    threads = None if args.threads == 0 else args.threads
    warm = dict(params, max_iter=3)
    fastnmf.NMF(**warm, backend=args.backend, n_threads=threads).fit(X)
    model = fastnmf.NMF(**params, backend=args.backend, n_threads=threads)
    t0 = time.perf_counter()
    model.fit(X)
    seconds = time.perf_counter() - t0
    from fastnmf.parallel import wait_policy

    runtime = wait_policy.status()
    if args.backend == "numba":
        import numba

        try:
            runtime["numba_threading_layer"] = numba.threading_layer()
        except ValueError:  # no parallel kernel ran (one thread)
            runtime["numba_threading_layer"] = None
    print(json.dumps({"seconds": seconds, "n_iter": int(model.n_iter_),
                      "err": float(model.reconstruction_err_), "runtime": runtime}))


# ------------------------------------------------------------------------------ driver
def cache_case(name, folder):
    import datasets

    loader, largs, _, _ = CASES[name]
    path = Path(folder) / f"{loader}_{'_'.join(largs)}.npz"
    if not path.exists():
        X, _ = getattr(datasets, loader)(*largs)
        if hasattr(X, "indptr"):
            np.savez(path, data=X.data, indices=X.indices, indptr=X.indptr,
                     shape=np.array(X.shape))
        else:
            np.savez(path, X=X)
    return path


def worker_cmd(case, data, backend, threads):
    return [sys.executable, __file__, "--worker", case, "--data", str(data), "--backend",
            backend, "--threads", str(threads or 0)]


def worker_env(variant, backend):
    env = {k: v for k, v in os.environ.items() if k not in WAIT_VARS}
    env.update(VARIANTS[variant][0])
    env.pop("FASTNMF_BACKEND", None)
    return env


def spawn(case, data, backend, variant, nice=0):
    return subprocess.Popen(worker_cmd(case, data, backend, VARIANTS[variant][1]),
                            env=worker_env(variant, backend), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=(lambda: os.nice(nice)) if nice else None)


def collect(proc, timeout):
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return {"seconds": float("inf"), "timeout": True}
    if proc.returncode != 0:
        raise RuntimeError(f"worker failed:\n{err}")
    return json.loads(out.strip().splitlines()[-1])


def run_one(case, data, backend, variant, condition, spinners, timeout):
    hogs = []
    try:
        if condition == "load":
            hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
                    for _ in range(spinners)]
            time.sleep(0.3)
        procs = [spawn(case, data, backend, variant, nice=-10 if condition == "nice" else 0)
                 for _ in range(2 if condition == "pair" else 1)]
        return [collect(p, timeout) for p in procs]
    finally:
        for h in hogs:  # only the processes started here, by their handle
            h.kill()
            h.wait()


def fmt(values):
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    med = statistics.median(values)
    if med == float("inf"):
        return "timeout"
    return f"{med:.2f} ({min(values):.2f}-{max(values):.2f})"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--worker")
    ap.add_argument("--data")
    ap.add_argument("--backend", default="cython")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--cases", default="pbmc_k9_cd,pbmc_k5_cd,pbmc_k9_kl,mnist_cd")
    ap.add_argument("--variants", default="spin300k,default,passive,spin10k,threads1")
    ap.add_argument("--conditions", default="quiet,load,pair")
    ap.add_argument("--backends", default="cython")
    ap.add_argument("--numba", action="store_true",
                    help="the Numba backend on pbmc_k9_cd only, its own variants")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--out")
    ap.add_argument("--json")
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    if args.numba:
        args.backends, args.cases = "numba", "pbmc_k9_cd"
        args.variants = "spin300k,default,passive,threads1,workqueue"
    cases = args.cases.split(",")
    variants = args.variants.split(",")
    conditions = args.conditions.split(",")
    backends = args.backends.split(",")
    from fastnmf.parallel.threads import usable_cores

    cores = usable_cores()
    spinners = max(1, cores - 1)
    cache = Path(tempfile.gettempdir()) / "fastnmf_loaded_machine"
    cache.mkdir(exist_ok=True)
    data = {c: cache_case(c, cache) for c in cases}
    jobs = [(c, b, v, cond) for c in cases for b in backends for v in variants
            for cond in conditions]
    rng = random.Random(0)
    results = {j: [] for j in jobs}
    runtime = {}
    loads = []
    for r in range(args.repeats):
        order = jobs[:]
        rng.shuffle(order)
        for job in order:
            case, backend, variant, condition = job
            loads.append(os.getloadavg()[0])
            outs = run_one(case, data[case], backend, variant, condition, spinners,
                           args.timeout)
            results[job] += [o["seconds"] for o in outs]
            runtime.setdefault((backend, variant), outs[0].get("runtime"))
            print(f"[{r}] {case:11s} {backend:6s} {variant:8s} {condition:5s} "
                  + " ".join(f"{o['seconds']:.3f}s/{o.get('n_iter', '?')}it" for o in outs),
                  flush=True)
    lines = [f"cores: {cores}; load spinners: {spinners}; repeats: {args.repeats}; "
             f"1-min load average before the runs: median {statistics.median(loads):.2f} "
             f"(min {min(loads):.2f}, max {max(loads):.2f})", ""]
    for case in cases:
        for backend in backends:
            lines += [f"**{case}** ({CASES[case][3]}), backend {backend}: seconds per fit, "
                      "median (min-max)", "",
                      "| variant | " + " | ".join(conditions) + " |",
                      "|---|" + "---|" * len(conditions)]
            for v in variants:
                lines.append(f"| {v} | " + " | ".join(
                    fmt(results[(case, backend, v, cond)]) for cond in conditions) + " |")
            lines.append("")
    lines += ["runtime as the workers saw it (fastnmf.parallel.wait_policy.status()):", ""]
    lines += [f"- {b} {v}: `{s}`" for (b, v), s in sorted(runtime.items())]
    text = "\n".join(lines)
    print(text)
    if args.out:
        with open(args.out, "a") as f:
            f.write(text + "\n\n")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"|".join(k): v for k, v in results.items()}, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
