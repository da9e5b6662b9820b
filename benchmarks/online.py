#!/usr/bin/env python
"""Online NMF: fastnmf's MiniBatchNMF against scikit-learn's MiniBatchNMF and batch NMF.

Usage::

    python benchmarks/online.py --out benchmarks/results/online.md   # the full run
    python benchmarks/online.py --quick                               # a small test run
    python benchmarks/online.py --memory none                         # skip the memory calls
    python benchmarks/online.py --skip-real                           # the synthetic case only

Part 1, the issue's target case: ``X = scipy.sparse.random(300000, 20000, density=3e6 /
(300000 * 20000), format='csr', random_state=np.random.default_rng(0))`` (uniform [0, 1)
values, nnz 3e6; a Generator, not ``random_state=0``: see :func:`synthetic`), rank 20.
Every contender is a sequence of whole ``fit_transform(X)`` calls (initialization included),
each with a fixed amount of work: ``tol=0, max_no_improvement=None, max_iter=E`` (E epochs)
for the minibatch estimators, ``tol=0, max_iter=I`` for batch NMF:

- scikit-learn ``MiniBatchNMF(n_components=20, random_state=0, ...)``, E = 1, 2, 3, 5;
- fastnmf ``MiniBatchNMF`` with the same parameters (default solver, online cd), E = 1, 2, 3, 5;
- fastnmf ``MiniBatchNMF(solver='mu')`` (scikit-learn's algorithm), E = 1, 5;
- batch: fastnmf ``NMF(n_components=20, random_state=0, tol=0, max_iter=I)`` and
  scikit-learn ``NMF(..., solver='cd')``, I = 2, 5, 10, 20.

The target: L5 = scikit-learn's MiniBatchNMF loss after 5 epochs, T5 its time; fastnmf's
T_reach = the time of its smallest E whose loss is <= L5; speedup = T5 / T_reach.

Part 2, real data (``benchmarks/datasets.py``: tweets, news3824, mnist5k, camera_patches) and
the synthetic case: both MiniBatchNMF with every parameter at its default but
``n_components=20, random_state=0``, and batch fastnmf ``NMF`` with defaults for reference;
then the same "reach" figure as in part 1 on the real data.

Timing: ``time.perf_counter`` around the whole call, after ``gc.collect()`` and 0.2 s of idle
(idle BLAS/OpenMP threads of the previous call stop spinning); the contenders interleaved
(A, B, C, ..., then again), ``--repeats`` rounds, medians.  A contender whose first call takes
longer than ``--slow`` seconds in part 2 is not repeated (said in the results; part 1 always
runs every round).  Part 1 also times the initialization alone (both libraries' nndsvda, by
their private functions), to read the 1-epoch times against.

Objective: ``0.5 ||X - W H||_F^2`` with W the array ``fit_transform`` returned and H
``components_``, in float64, the same function for every contender: for sparse X
``(||X||^2 - 2 <X H^T, W> + <W^T W, H H^T>) / 2`` (never densified), for dense X in blocks of
rows (no temporary above ~100 MB).  Losses must be the same in every repeat.

Memory (part 1): one more, untimed, call of each contender with ``tracemalloc`` on: the peak
of traced memory during the call minus the traced memory before it.  tracemalloc sees what
Python objects and NumPy arrays allocate (NumPy reports its data buffers to it); not buffers
allocated by compiled code with plain malloc (scipy.sparse's C++ products' temporaries are
NumPy arrays and counted; OpenBLAS's and the kernels' private buffers are not).
"""

import argparse
import datetime
import gc
import os
import platform
import subprocess
import sys
import time
import tracemalloc
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import scipy.sparse as sp

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import datasets as D  # noqa: E402  (benchmarks/datasets.py)

SK, FN = "scikit-learn", "fastnmf"
K = 20
SETTLE = 0.2  # seconds of idle before each timed call
#: losses of repeats of one call must agree to this (relative); the fits are deterministic
SAME_LOSS_REPEAT = 1e-9
EPOCHS = (1, 2, 3, 5)
EPOCHS_MU = (1, 5)
BATCH_ITERS = (2, 5, 10, 20)
BLOCK_BYTES = 100e6  # the largest dense temporary of the loss
SLOW = 60.0  # part 2: seconds above which a contender's first call is not repeated
#: a timed call during which other processes kept more than this many cores busy (on average)
#: is run again, up to RETRIES more times: on this shared 2-core machine one busy core made
#: scikit-learn's MiniBatchNMF (its BLAS on 2 threads) up to 7x slower, fastnmf's 1.6x
MAX_OTHERS = 0.1
RETRIES = 3
QUIET_WAIT = 120.0  # seconds a retry waits at most for the machine to be idle
WAIT_BUDGET = 900.0  # seconds of such waiting over the whole run, at most


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ------------------------------------------------------------------ data
def synthetic(m, n=20000, nnz=3e6):
    """The issue's sparse random matrix.

    ``random_state=np.random.default_rng(0)``, not ``random_state=0``: with an int seed scipy
    draws the positions with the legacy ``RandomState.choice(m * n, nnz, replace=False)``,
    which permutes all m * n = 6e9 positions (a 45 GiB int64 array) and fails here; a
    ``Generator``'s ``choice`` samples without that array.  Same distribution (nnz distinct
    positions uniformly at random, uniform [0, 1) values), other numbers."""
    X = sp.random(m, n, density=nnz / (m * n), format="csr",
                  random_state=np.random.default_rng(0), dtype=np.float64)
    X.sum_duplicates()
    X.sort_indices()
    gib = m * n * 8 / 2**30
    desc = (f"scipy.sparse.random({m}, {n}, density={nnz:g}/({m}*{n}), format='csr', "
            f"random_state=np.random.default_rng(0), dtype=np.float64): uniform [0, 1) values "
            f"at {X.nnz} distinct uniformly random positions (not random_state=0: with an int "
            f"seed scipy draws the positions by permuting all {m * n:.3g} of them, an int64 "
            f"array of {gib:.1f} GiB"
            + (", more than this machine's memory" if gib > mem_gib() else "") + ")")
    return X, desc


def mem_gib():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return float("inf")


REAL = {
    "tweets": D.tweets,
    "news3824": D.news3824,
    "mnist5k": D.mnist5k,
    "camera_patches": D.camera_patches,
}


# ------------------------------------------------------------------ the objective
def objective(X, W, H):
    """0.5 ||X - W H||_F^2 in float64, never densifying a sparse X."""
    W = np.asarray(W, dtype=np.float64)
    H = np.asarray(H, dtype=np.float64)
    if sp.issparse(X):
        X = sp.csr_matrix(X)
        xx = float(np.dot(X.data, X.data))
        cross = float(np.sum(np.asarray(X @ H.T) * W))
        gram = float(np.sum((W.T @ W) * (H @ H.T)))
        return 0.5 * (xx - 2.0 * cross + gram)
    X = np.asarray(X)
    rows = max(1, int(BLOCK_BYTES // (8 * X.shape[1])))
    total = 0.0
    for s in range(0, X.shape[0], rows):
        d = np.asarray(X[s:s + rows], dtype=np.float64) - W[s:s + rows] @ H
        total += float(np.einsum("ij,ij->", d, d))
    return 0.5 * total


# ------------------------------------------------------------------ contenders
@dataclass
class Contender:
    name: str          # e.g. "scikit-learn MiniBatchNMF"
    lib: str
    unit: str          # "epochs", "iterations" or "defaults"
    param: object      # E, I or None
    make: Callable = field(repr=False)

    @property
    def key(self):
        return (self.name, self.param)


def sk_minibatch(**kw):
    from sklearn.decomposition import MiniBatchNMF

    return MiniBatchNMF(n_components=K, random_state=0, **kw)


def fn_minibatch(**kw):
    import fastnmf

    return fastnmf.MiniBatchNMF(n_components=K, random_state=0, **kw)


def sk_nmf(**kw):
    from sklearn.decomposition import NMF

    return NMF(n_components=K, random_state=0, **kw)


def fn_nmf(**kw):
    import fastnmf

    return fastnmf.NMF(n_components=K, random_state=0, **kw)


FIXED = dict(tol=0, max_no_improvement=None)
SK_MB, FN_MB = "scikit-learn MiniBatchNMF", "fastnmf MiniBatchNMF (default, cd)"
FN_MU = "fastnmf MiniBatchNMF(solver='mu')"
FN_NMF, SK_NMF = "fastnmf NMF (batch)", "scikit-learn NMF(solver='cd') (batch)"
SK_MB_DEF, FN_MB_DEF = "scikit-learn MiniBatchNMF", "fastnmf MiniBatchNMF"
FN_NMF_DEF = "fastnmf NMF (batch, reference)"


def epoch_contenders(epochs=EPOCHS):
    out = []
    for e in epochs:
        out.append(Contender(SK_MB, SK, "epochs", e,
                             lambda e=e: sk_minibatch(max_iter=e, **FIXED)))
        out.append(Contender(FN_MB, FN, "epochs", e,
                             lambda e=e: fn_minibatch(max_iter=e, **FIXED)))
    return out


def target_contenders(batch_iters=BATCH_ITERS):
    out = epoch_contenders()
    for e in EPOCHS_MU:
        out.append(Contender(FN_MU, FN, "epochs", e,
                             lambda e=e: fn_minibatch(max_iter=e, solver="mu", **FIXED)))
    for i in batch_iters:
        out.append(Contender(FN_NMF, FN, "iterations", i,
                             lambda i=i: fn_nmf(tol=0, max_iter=i)))
        out.append(Contender(SK_NMF, SK, "iterations", i,
                             lambda i=i: sk_nmf(tol=0, max_iter=i, solver="cd")))
    return out


def default_contenders():
    return [Contender(SK_MB_DEF, SK, "defaults", None, sk_minibatch),
            Contender(FN_MB_DEF, FN, "defaults", None, fn_minibatch),
            Contender(FN_NMF_DEF, FN, "defaults", None, fn_nmf)]


def order(contenders):
    """Sort for the tables: by name as first listed, then by param."""
    names = list(dict.fromkeys(c.name for c in contenders))
    return sorted(contenders, key=lambda c: (names.index(c.name), c.param or 0))


# ------------------------------------------------------------------ measurement
_HZ = os.sysconf("SC_CLK_TCK")


def _busy_seconds():
    """CPU seconds all processes have used (user+nice+system+irq+softirq+steal)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] if len(v) > 7 else 0)) / _HZ


def timed_call(c, X):
    """One whole fit_transform(X): time, W, H, counters, and the CPU others used meanwhile."""
    est = c.make()
    gc.collect()
    time.sleep(SETTLE)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        busy0, own0 = _busy_seconds(), time.process_time()
        t0 = time.perf_counter()
        W = est.fit_transform(X)
        t = time.perf_counter() - t0
        busy1, own1 = _busy_seconds(), time.process_time()
    others = max(0.0, (busy1 - busy0) - (own1 - own0)) / t  # cores busy with other work
    hit_max = any(w.category.__name__ == "ConvergenceWarning" for w in caught)
    return dict(time=t, W=W, H=est.components_, n_iter=int(est.n_iter_),
                n_steps=int(getattr(est, "n_steps_", 0)) or None,
                solver=getattr(est, "solver_", None), others=others, hit_max=hit_max)


def memory_call(c, X):
    """Peak tracemalloc-traced memory (MB) of one untimed call above what was traced before."""
    est = c.make()
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.fit_transform(X)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return (peak - base) / 2**20


def wait_quiet(max_others, max_wait=QUIET_WAIT, window=1.0):
    """Before a retry: wait (at most ``max_wait`` seconds) until a ``window`` of idle of ours
    sees other processes use at most ``max_others`` cores; returns the seconds waited."""
    t0 = time.perf_counter()
    while True:
        busy0, own0 = _busy_seconds(), time.process_time()
        time.sleep(window)
        others = max(0.0, (_busy_seconds() - busy0) - (time.process_time() - own0)) / window
        waited = time.perf_counter() - t0
        if others <= max_others or waited >= max_wait:
            return waited if waited > 1.5 * window else 0.0


#: seconds left for :func:`wait_quiet` over the whole run (``--wait-budget``); once spent, a
#: contaminated call is kept (marked) instead of run again
WAIT_LEFT = [WAIT_BUDGET]


def limit(max_others, t):
    """The others' CPU a call of ``t`` seconds may show: ``max_others`` plus two clock ticks
    of /proc/stat (10 ms each at 100 Hz) over its time, the resolution of the measure."""
    return max_others + 2.0 / _HZ / max(t, 1e-3)


def clean_call(call, max_others, retries, what=""):
    """``call()`` (a dict with 'time' and 'others') again, up to ``retries`` more times, while
    other processes used more than :func:`limit` cores during it; returns the least
    contaminated attempt, with 'thrown' (the attempts thrown away: time, others)."""
    attempts = []
    for attempt in range(retries + 1):
        res = call()
        res["busy"] = res["others"] > limit(max_others, res["time"])
        attempts.append(res)
        if not res["busy"]:
            break
        if attempt < retries and WAIT_LEFT[0] > 0:
            log(f"    {what}: {res['time']:.3f} s with others at {res['others']:.2f} cores: "
                f"again")
            waited = wait_quiet(max_others, max_wait=min(QUIET_WAIT, WAIT_LEFT[0]))
            WAIT_LEFT[0] -= waited
            if waited:
                log(f"    waited {waited:.0f} s for the machine to quieten "
                    f"({max(WAIT_LEFT[0], 0):.0f} s of waiting left)")
        else:
            break
    best = min(attempts, key=lambda a: a["others"])
    best["thrown"] = [(a["time"], a["others"]) for a in attempts if a is not best]
    best["discarded"] = len(best["thrown"])
    for a in attempts:
        if a is not best:
            a.pop("W", None), a.pop("H", None)
    return best


def run_series(contenders, X, repeats, slow, memory="none", label="", max_others=float("inf"),
               retries=0):
    """Interleaved rounds of the contenders; returns {key: result dict}.

    ``memory``: 'all' (an untimed tracemalloc call of every contender), 'first' (of the
    fewest epochs/iterations of each series) or 'none'.  A call during which other processes
    used more than ``max_others`` cores is run again (:func:`clean_call`)."""
    runs = {c.key: [] for c in contenders}
    slow_keys = set()
    for r in range(repeats):
        for c in contenders:
            if r > 0 and c.key in slow_keys:
                continue
            res = clean_call(lambda c=c: timed_call(c, X), max_others, retries,
                             f"{c.name} {c.param}")
            res["loss"] = objective(X, res.pop("W"), res.pop("H"))
            runs[c.key].append(res)
            if r == 0 and res["time"] > slow and repeats > 1:
                slow_keys.add(c.key)
            p = "" if c.param is None else f" {c.unit[:-1] if c.unit != 'defaults' else ''}" \
                                           f"={c.param}"
            log(f"  {label} round {r + 1}/{repeats} {c.name}{p}: {res['time']:.3f} s, "
                f"loss {res['loss']:.10g}, n_iter {res['n_iter']}"
                + (f", n_steps {res['n_steps']}" if res['n_steps'] else "")
                + f", others {res['others']:.2f} cores"
                + (" (slow: not repeated)" if c.key in slow_keys and r == 0 else ""))
    out = {}
    for c in contenders:
        rs = runs[c.key]
        ts = [x["time"] for x in rs]
        losses = [x["loss"] for x in rs]
        spread = max(abs(v - losses[0]) for v in losses) / abs(losses[0])
        out[c.key] = dict(
            contender=c, time=float(np.median(ts)), tmin=min(ts), tmax=max(ts), n=len(ts),
            loss=losses[0], loss_spread=spread,
            n_iter=sorted({x["n_iter"] for x in rs}), n_steps=sorted({x["n_steps"] for x in rs}),
            solver=rs[0]["solver"], others=max(x["others"] for x in rs),
            hit_max=any(x["hit_max"] for x in rs), mem=None,
            discarded=sum(x["discarded"] for x in rs),
            thrown=[(t, o, x["time"], x["others"]) for x in rs for t, o in x["thrown"]],
            busy_kept=sum(x["busy"] for x in rs))
    if memory != "none":
        first = {}
        for c in contenders:
            if c.name not in first or (c.param or 0) < (first[c.name].param or 0):
                first[c.name] = c
        for c in contenders:
            if memory == "first" and first[c.name] is not c:
                continue
            out[c.key]["mem"] = memory_call(c, X)
            log(f"  {label} memory {c.name} {c.param}: {out[c.key]['mem']:.1f} MB")
    return out


def init_times(X, repeats, max_others=float("inf"), retries=0):
    """Seconds of the initialization alone (nndsvda, k=20, random_state=0): scikit-learn's
    ``_initialize_nmf`` and fastnmf's ``initialize`` with its default kernels and threads (the
    private functions the estimators call); medians of ``repeats``.  None where unavailable."""
    out = {}
    try:
        from sklearn.decomposition._nmf import _initialize_nmf

        def sk():
            _initialize_nmf(X, K, init="nndsvda", random_state=0)
    except ImportError:
        sk = None
    try:
        from fastnmf._init import initialize
        from fastnmf.online.estimator import MiniBatchNMF as _M
        from fastnmf.parallel.threads import blas_threads

        _, kernels, n_threads = _M()._engine()

        def fn():
            with blas_threads(n_threads):
                initialize(X, K, "nndsvda", 0, kernels=kernels, n_threads=n_threads)
    except (ImportError, AttributeError):
        fn = None
    for lib, f in ((SK, sk), (FN, fn)):
        if f is None:
            out[lib] = None
            continue
        def once(f=f):
            gc.collect()
            time.sleep(SETTLE)
            busy0, own0 = _busy_seconds(), time.process_time()
            t0 = time.perf_counter()
            f()
            t = time.perf_counter() - t0
            busy1, own1 = _busy_seconds(), time.process_time()
            return dict(time=t, others=max(0.0, (busy1 - busy0) - (own1 - own0)) / t)

        ts = [clean_call(once, max_others, retries, f"{lib} init")["time"]
              for _ in range(repeats)]
        out[lib] = float(np.median(ts))
    return out


def warm_up():
    """A tiny fit of every estimator, dense and sparse (JIT/cache loads, thread pools)."""
    rng = np.random.default_rng(1)
    Xd = rng.random((300, 60))
    Xs = Xd.copy()
    Xs[Xs < 0.7] = 0
    Xs = sp.csr_matrix(Xs)
    makers = [lambda: sk_minibatch(max_iter=2, batch_size=64),
              lambda: fn_minibatch(max_iter=2, batch_size=64),
              lambda: fn_minibatch(max_iter=2, batch_size=64, solver="mu"),
              lambda: sk_nmf(max_iter=5, solver="cd"), lambda: fn_nmf(max_iter=5)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for X in (Xd, Xs):
            for make in makers:
                make().fit_transform(X)


# ------------------------------------------------------------------ figures
def reach(results, n_sk=SK_MB, n_fn=FN_MB, target_epochs=5):
    """L5, T5, fastnmf's smallest E reaching L5, its time, speedup."""
    sk5 = results[(n_sk, target_epochs)]
    L5, T5 = sk5["loss"], sk5["time"]
    fn = sorted((k[1], v) for k, v in results.items() if k[0] == n_fn)
    hit = next(((e, v) for e, v in fn if v["loss"] <= L5), None)
    out = dict(L5=L5, T5=T5, E=None, T=None, speedup=None, below_at_1=False)
    if hit is not None:
        out.update(E=hit[0], T=hit[1]["time"], speedup=T5 / hit[1]["time"],
                   below_at_1=hit[0] == fn[0][0])
    return out


def batch_reach(results, name, L):
    its = sorted((k[1], v) for k, v in results.items() if k[0] == name)
    hit = next(((i, v) for i, v in its if v["loss"] <= L), None)
    return None if hit is None else (hit[0], hit[1]["time"])


def not_decreasing(results):
    """Contender series whose loss goes up with more epochs/iterations."""
    odd = []
    for name in dict.fromkeys(k[0] for k in results):
        series = sorted((k[1], v["loss"]) for k, v in results.items()
                        if k[0] == name and k[1] is not None)
        for (p0, l0), (p1, l1) in zip(series, series[1:]):
            if l1 > l0:
                odd.append(f"{name}: {l0:.8g} at {p0} -> {l1:.8g} at {p1}")
    return odd


# ------------------------------------------------------------------ machine
def machine_lines(rev):
    import scipy
    import sklearn

    import fastnmf

    from machine import cpu_model

    cpu = cpu_model()
    mem = f"{mem_gib():.1f} GiB"
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    blas = "?"
    try:
        from threadpoolctl import threadpool_info

        blas = "; ".join(sorted({f"{d.get('internal_api')} {d.get('version')} "
                                 f"({d.get('num_threads')} threads)"
                                 for d in threadpool_info() if d.get("user_api") == "blas"}))
    except ImportError:
        pass
    return [
        f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- machine: {cpu}, {usable} usable cores ({os.cpu_count()} online), {mem} memory, "
        f"{platform.system()} {platform.machine()}",
        f"- BLAS (threadpoolctl): {blas}",
        f"- versions: python {platform.python_version()}, numpy {np.__version__}, scipy "
        f"{scipy.__version__}, scikit-learn {sklearn.__version__}, fastnmf "
        f"{fastnmf.__version__} at {rev}",
    ]


def git_rev():
    """The fastnmf source this process runs: the short commit, plus the files under fastnmf/
    with uncommitted changes and a short hash of that diff (other people edit and commit
    while benchmarks run, so this is read at the start, right after fastnmf is imported)."""
    import hashlib

    root = str(HERE.parent)

    def git(*a):
        return subprocess.run(["git", "-C", root, *a], capture_output=True, text=True).stdout

    try:
        commit = git("rev-parse", "--short", "HEAD").strip()
        files = [line[3:] for line in git("status", "--porcelain", "--", "fastnmf").splitlines()
                 if line.strip()]
        diff = git("diff", "HEAD", "--", "fastnmf")
    except OSError:
        return "unknown"
    if not files:
        return commit
    return (f"{commit} with uncommitted changes under fastnmf/ ({', '.join(files)}; diff "
            f"sha1 {hashlib.sha1(diff.encode()).hexdigest()[:10]})")


def load_line(when):
    from machine import load_line as line

    return line(when)


def other_benchmarks():
    """Other benchmark processes running now (command lines), this one excluded."""
    try:
        out = subprocess.run(["pgrep", "-af", "benchmarks/"], capture_output=True,
                             text=True).stdout
    except OSError:
        return []
    me = os.getpid()
    return [line.split(None, 1)[1][:120] for line in out.splitlines()
            if line.strip() and int(line.split()[0]) != me and "pgrep" not in line]


# ------------------------------------------------------------------ markdown
def fs(v):
    return "–" if v is None else (f"{v:.3f}" if v < 10 else f"{v:.1f}")


def fl(v):
    return f"{v:.8g}"


def trange(r):
    if r["n"] == 1:
        return f"{fs(r['time'])} (1 run)"
    return f"{fs(r['time'])} ({fs(r['tmin'])}–{fs(r['tmax'])})"


def its(r):
    return "/".join(map(str, r["n_iter"])) + ("*" if r["hit_max"] else "")


def steps(r):
    v = [s for s in r["n_steps"] if s]
    return "/".join(map(str, v)) if v else "–"


def busy(r):
    """The others' CPU cell: the largest over the kept calls, attempts rerun, † if a kept call
    was still above the threshold."""
    return (f"{r['others']:.2f}" + (f" ({r['discarded']} rerun)" if r["discarded"] else "")
            + (" †" if r["busy_kept"] else ""))


def curve_table(results, L5):
    lines = ["| contender | epochs / iterations | time s, median (min–max) | objective | "
             "objective / L5 | n_iter_ | n_steps_ | peak traced MB | others' CPU (cores) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for c in order([v["contender"] for v in results.values()]):
        r = results[c.key]
        mem = "–" if r["mem"] is None else f"{r['mem']:.0f}"
        unit = c.unit[:-1] if c.param == 1 else c.unit
        lines.append(f"| {c.name} | {c.param} {unit} | {trange(r)} | {fl(r['loss'])} | "
                     f"{r['loss'] / L5:.6f} | {its(r)} | {steps(r)} | {mem} | "
                     f"{busy(r)} |")
    return lines


def equal_epochs_table(results, epochs=EPOCHS):
    lines = ["| epochs | scikit-learn s | fastnmf s | time ratio (sk / fn) | scikit-learn "
             "objective | fastnmf objective | objective ratio (fn / sk) |",
             "|---|---|---|---|---|---|---|"]
    for e in epochs:
        s, f = results[(SK_MB, e)], results[(FN_MB, e)]
        lines.append(f"| {e} | {fs(s['time'])} | {fs(f['time'])} | "
                     f"{s['time'] / f['time']:.2f}× | {fl(s['loss'])} | {fl(f['loss'])} | "
                     f"{f['loss'] / s['loss']:.6f} |")
    return lines


def reach_text(rc):
    if rc["E"] is None:
        return (f"fastnmf did not reach L5 = {fl(rc['L5'])} within {max(EPOCHS)} epochs; "
                f"no speedup figure")
    s = (f"L5 = {fl(rc['L5'])} (scikit-learn, 5 epochs, T5 = {fs(rc['T5'])} s); fastnmf's "
         f"smallest E with objective <= L5: E = {rc['E']}, T_reach = {fs(rc['T'])} s; "
         f"**speedup T5 / T_reach = {rc['speedup']:.2f}×**")
    if rc["below_at_1"]:
        s += (" (already below L5 after 1 epoch, the fewest measured: T_reach is an upper "
              "bound of its time to L5, the speedup a lower bound)")
    return s


def mu_lines(results):
    lines = []
    for e in EPOCHS_MU:
        if (FN_MU, e) not in results or (SK_MB, e) not in results:
            continue
        s, f = results[(SK_MB, e)], results[(FN_MU, e)]
        lines.append(f"- solver='mu', {e} epoch(s): fastnmf {fs(f['time'])} s, scikit-learn "
                     f"{fs(s['time'])} s ({s['time'] / f['time']:.2f}×); objectives "
                     f"{fl(f['loss'])} and {fl(s['loss'])} (relative difference "
                     f"{abs(f['loss'] - s['loss']) / s['loss']:.1e})")
    return lines


def batch_lines(results, rc):
    lines = []
    for name in (FN_NMF, SK_NMF):
        if not any(k[0] == name for k in results):
            continue
        b = batch_reach(results, name, rc["L5"])
        if b is None:
            top = max(k[1] for k in results if k[0] == name)
            lines.append(f"- {name}: not at L5 within {top} iterations")
        else:
            lines.append(f"- {name}: objective <= L5 first at {b[0]} iterations (of "
                         f"{', '.join(map(str, sorted(k[1] for k in results if k[0] == name)))}"
                         f"), {fs(b[1])} s: {rc['T5'] / b[1]:.2f}× sooner than scikit-learn's "
                         f"MiniBatchNMF")
    return lines


def defaults_table(rows):
    lines = ["| data | shape | scikit-learn s | n_iter_ / n_steps_ | scikit-learn objective | "
             "fastnmf s | n_iter_ / n_steps_ | fastnmf objective | time ratio (sk / fn) | "
             "objective ratio (fn / sk) | batch fastnmf NMF s | n_iter_ | batch objective | "
             "others' CPU (cores): sk / fn / batch |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, X, res in rows:
        s, f, b = res[(SK_MB_DEF, None)], res[(FN_MB_DEF, None)], res[(FN_NMF_DEF, None)]
        shape = f"{X.shape[0]}×{X.shape[1]} {'CSR' if sp.issparse(X) else 'dense'}"
        lines.append(
            f"| {name} | {shape} | {trange(s)} | {its(s)} / {steps(s)} | {fl(s['loss'])} | "
            f"{trange(f)} | {its(f)} / {steps(f)} | {fl(f['loss'])} | "
            f"{s['time'] / f['time']:.2f}× | {f['loss'] / s['loss']:.6f} | {trange(b)} | "
            f"{its(b)} | {fl(b['loss'])} | {busy(s)} / {busy(f)} / {busy(b)} |")
    return lines


def reach_tables(rows):
    summary = ["| data | L5 (scikit-learn, 5 epochs) | T5 s | fastnmf E reaching L5 | "
               "T_reach s | speedup T5 / T_reach | fastnmf objective at 1 epoch / L5 |",
               "|---|---|---|---|---|---|---|"]
    detail = ["| data | epochs | scikit-learn s | scikit-learn objective | fastnmf s | "
              "fastnmf objective | time ratio (sk / fn) | objective ratio (fn / sk) | "
              "others' CPU (cores): sk / fn |",
              "|---|---|---|---|---|---|---|---|---|"]
    for name, res in rows:
        rc = reach(res)
        f1 = res[(FN_MB, 1)]["loss"] / rc["L5"]
        if rc["E"] is None:
            summary.append(f"| {name} | {fl(rc['L5'])} | {fs(rc['T5'])} | not within "
                           f"{max(EPOCHS)} | – | – | {f1:.6f} |")
        else:
            mark = " (≤: already at E=1)" if rc["below_at_1"] else ""
            summary.append(f"| {name} | {fl(rc['L5'])} | {fs(rc['T5'])} | {rc['E']} | "
                           f"{fs(rc['T'])} | **{rc['speedup']:.2f}×**{mark} | {f1:.6f} |")
        for e in EPOCHS:
            s, f = res[(SK_MB, e)], res[(FN_MB, e)]
            detail.append(f"| {name} | {e} | {trange(s)} | {fl(s['loss'])} | {trange(f)} | "
                          f"{fl(f['loss'])} | {s['time'] / f['time']:.2f}× | "
                          f"{f['loss'] / s['loss']:.6f} | {busy(s)} / {busy(f)} |")
    return summary, detail


# ------------------------------------------------------------------ main
def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="a 30000 x 20000 synthetic case (nnz 3e5), 2 repeats, for testing")
    p.add_argument("--repeats", type=int, default=None,
                   help="interleaved rounds (default 3; --quick: 2)")
    p.add_argument("--slow", type=float, default=SLOW,
                   help="part 2: a contender whose first call takes longer (s) is not "
                        f"repeated (default {SLOW:g}; part 1 always repeats)")
    p.add_argument("--max-others", type=float, default=MAX_OTHERS,
                   help="a timed call during which other processes used more than this many "
                        f"cores is run again (default {MAX_OTHERS:g})")
    p.add_argument("--retries", type=int, default=RETRIES,
                   help=f"at most this many more attempts per call (default {RETRIES}); the "
                        "least contaminated attempt is kept")
    p.add_argument("--wait-budget", type=float, default=WAIT_BUDGET,
                   help="seconds of waiting for an idle machine before reruns, over the whole "
                        f"run (default {WAIT_BUDGET:g})")
    p.add_argument("--out", default=None, metavar="FILE.md", help="write the markdown")
    p.add_argument("--memory", choices=("all", "first", "none"), default=None,
                   help="target case: an untimed tracemalloc call of every contender ('all', "
                        "the --quick default), of the fewest epochs/iterations of each series "
                        "('first', the default) or none")
    p.add_argument("--batch-iters", default=",".join(map(str, BATCH_ITERS)),
                   help="batch NMF iterations in the target case (default "
                        f"{','.join(map(str, BATCH_ITERS))})")
    p.add_argument("--skip-real", action="store_true", help="only part 1 (synthetic)")
    p.add_argument("--real", default=",".join(REAL),
                   help=f"comma-separated real datasets (default: {','.join(REAL)})")
    p.add_argument("--note", action="append", default=[],
                   help="a line to add to the results' header (repeatable)")
    a = p.parse_args(argv)
    if a.repeats is None:
        a.repeats = 2 if a.quick else 3
    if a.repeats < 1:
        p.error("--repeats must be >= 1")
    if a.memory is None:
        a.memory = "all" if a.quick else "first"
    a.batch_iters = tuple(int(v) for v in a.batch_iters.split(",") if v)
    return a


def command_line(args):
    cmd = "python benchmarks/online.py"
    if args.quick:
        cmd += " --quick"
    if args.repeats != (2 if args.quick else 3):
        cmd += f" --repeats {args.repeats}"
    if args.max_others != MAX_OTHERS:
        cmd += f" --max-others {args.max_others:g}"
    if args.retries != RETRIES:
        cmd += f" --retries {args.retries}"
    if args.wait_budget != WAIT_BUDGET:
        cmd += f" --wait-budget {args.wait_budget:g}"
    if args.slow != SLOW:
        cmd += f" --slow {args.slow:g}"
    if args.memory != ("all" if args.quick else "first"):
        cmd += f" --memory {args.memory}"
    if args.batch_iters != BATCH_ITERS:
        cmd += f" --batch-iters {','.join(map(str, args.batch_iters))}"
    if args.skip_real:
        cmd += " --skip-real"
    elif args.real != ",".join(REAL):
        cmd += f" --real {args.real}"
    for n in args.note:
        cmd += f" --note {n!r}"
    if args.out:
        cmd += f" --out {args.out}"
    return cmd


def main(argv=None):
    args = parse_args(argv)
    t_start = time.perf_counter()
    header = [load_line("at the start")]
    others_start = other_benchmarks()
    m = 30000 if args.quick else 300000
    nnz = 3e5 if args.quick else 3e6
    log(f"synthetic {m} x 20000, nnz {nnz:g}")
    Xs, sdesc = synthetic(m, nnz=nnz)
    log("warming up")
    warm_up()  # imports every fastnmf module the fits use: the source of the run is now read
    rev_start = git_rev()
    log(f"fastnmf at {rev_start}")

    # part 1: the target case
    log("part 1: target case")
    t1 = time.perf_counter()
    clean = dict(max_others=args.max_others, retries=args.retries)
    WAIT_LEFT[0] = args.wait_budget
    target = run_series(target_contenders(args.batch_iters), Xs, args.repeats, float("inf"),
                        memory=args.memory, label="synthetic", **clean)
    t1 = time.perf_counter() - t1
    rc = reach(target)
    log("part 1: initialization alone")
    inits = init_times(Xs, args.repeats, **clean)
    log(f"  init: {inits}")

    # part 2: defaults, and reach on real data
    defaults_rows, reach_rows, descs = [], [], [("synthetic", sdesc)]
    t2 = time.perf_counter()
    log("part 2: defaults, synthetic")
    defaults_rows.append(("synthetic", Xs, run_series(default_contenders(), Xs, args.repeats,
                                                      args.slow, label="synthetic defaults",
                                                      **clean)))
    if not args.skip_real:
        for name in [n for n in args.real.split(",") if n]:
            try:
                X, desc = REAL[name]()
            except D.DataUnavailable as exc:
                log(f"skipping {name}: {exc}")
                descs.append((name, f"skipped: {exc}"))
                continue
            descs.append((name, desc))
            log(f"part 2: {name} {X.shape}")
            defaults_rows.append((name, X, run_series(default_contenders(), X, args.repeats,
                                                      args.slow, label=f"{name} defaults",
                                                      **clean)))
            reach_rows.append((name, run_series(epoch_contenders(), X, args.repeats,
                                                args.slow, label=f"{name} epochs", **clean)))
            del X
    t2 = time.perf_counter() - t2
    elapsed = time.perf_counter() - t_start
    header.append(load_line("at the end"))
    others_end = other_benchmarks()
    rev_end = git_rev()

    # losses equal across repeats?
    spreads = [(k, v["loss_spread"]) for res in [target] + [r for _, _, r in defaults_rows]
               + [r for _, r in reach_rows] for k, v in res.items()]
    worst = max(spreads, key=lambda kv: kv[1])
    losses_ok = worst[1] <= SAME_LOSS_REPEAT
    odd = not_decreasing(target) + [f"{n}: {o}" for n, r in reach_rows
                                    for o in not_decreasing(r)]

    title = "# Online NMF: fastnmf MiniBatchNMF, scikit-learn MiniBatchNMF and batch NMF"
    if args.quick:
        title += " (--quick test run, not the target size)"
    L = [title, "",
         f"Written by `{command_line(args)}` in {elapsed / 60:.1f} minutes (part 1 "
         f"{t1 / 60:.1f} min, part 2 {t2 / 60:.1f} min).", ""]
    L += machine_lines(rev_start) + header
    L.append("- other benchmark processes at the start: "
             + ("; ".join(f"`{o}`" for o in others_start) or "none")
             + "; at the end: " + ("; ".join(f"`{o}`" for o in others_end) or "none"))
    if rev_end != rev_start:
        L.append(f"- the fastnmf source changed during the run (now {rev_end}); the run used "
                 f"the modules imported at its start ({rev_start})")
    L += [f"- note: {n}" for n in args.note]
    L += [
        f"- timing: `time.perf_counter()` around the whole `fit_transform(X)` call "
        f"(validation, initialization, the epochs/iterations, the final W pass and error), "
        f"after `gc.collect()` and {SETTLE} s of idle; contenders interleaved in one process "
        f"(each round runs every contender once), {args.repeats} rounds, median (min–max). "
        f"Part 2 only: a contender whose first call took over {args.slow:g} s ran once "
        f"(marked '1 run'). "
        f"Threads: every library's default (all usable cores). Before any timing every "
        f"estimator fitted a tiny dense and a tiny sparse matrix.",
        "- objective: 0.5‖X − WH‖²_F with W = the array `fit_transform` returned and H = "
        "`components_`, computed by this script in float64, the same function for all: sparse X"
        " as (‖X‖² − 2⟨XHᵀ, W⟩ + ⟨WᵀW, HHᵀ⟩)/2, never densified; dense X in blocks of rows "
        "(temporaries ≤ 100 MB). Note the W: scikit-learn's MiniBatchNMF (and fastnmf's "
        "'mu', its algorithm) returns each row's W from the last minibatch step that visited "
        "it (H as it was then); fastnmf's default cd solves every row's W once more for the "
        "final H at the end of the fit (inside the timed call).",
        f"- losses are deterministic: every repeat gave the same objective (largest relative "
        f"difference over all repeats {worst[1]:.1e}"
        + ("" if losses_ok else f", ABOVE {SAME_LOSS_REPEAT:g}: {worst[0]}") + ").",
        "- n_iter_: epochs (MiniBatchNMF) or iterations (NMF); * = ConvergenceWarning "
        "(stopped by max_iter with tol > 0); n_steps_: minibatches.",
        "- others' CPU: cores' worth of CPU time used by other processes during a call "
        "(/proc/stat busy time minus this process's CPU time, over the wall time: 0 = the "
        "machine was ours, 1 = one of the 2 cores busy with other work); the largest over the "
        "calls kept. The machine is shared: a call during which others used more than "
        f"{args.max_others:g} cores (plus 2 clock ticks of /proc/stat over the call's time, "
        f"its resolution) was run again, up to {args.retries} more times (each "
        f"after waiting, at most {QUIET_WAIT:g} s, for a 1-s window in which others used at "
        f"most {args.max_others:g} cores; {args.wait_budget:g} s of such waiting at most "
        f"over the run, then no more reruns), and the "
        "least contaminated attempt kept ('(n rerun)': attempts thrown away; † a kept call "
        f"still above {args.max_others:g}). The attempts thrown away are listed at the end, next to "
        "the kept call's time.",
        "",
    ]
    L += ["## 1. Target case: sparse " + f"{Xs.shape[0]}×{Xs.shape[1]}, nnz {Xs.nnz}, rank {K}",
          "", f"X: {sdesc}.", "",
          "Each row is a separate whole call: `MiniBatchNMF(n_components=20, random_state=0, "
          "tol=0, max_no_improvement=None, max_iter=E)` (E epochs exactly), "
          "`NMF(n_components=20, random_state=0, tol=0, max_iter=I)` (fastnmf: default solver;"
          " scikit-learn: `solver='cd'`). Init: every estimator's default (nndsvda here)."]
    if args.memory != "none":
        L.append(("Peak traced MB (measured for every call): " if args.memory == "all" else
                  "Peak traced MB (measured for the call with the fewest epochs/iterations of "
                  "each contender; – for the others): ")
                 + "one extra, untimed call with `tracemalloc` on: the peak of "
                 "traced memory during the call minus the traced memory before it. tracemalloc "
                 "counts Python objects and NumPy arrays (NumPy reports its buffers to it), "
                 "not memory that compiled code (OpenBLAS, scipy's C++, fastnmf's kernels) "
                 "allocates with plain malloc; X itself is not counted.")
    L += ["", "### (a) The curve", ""] + curve_table(target, rc["L5"])
    L += ["", "### (b) The target figure", "", "- " + reach_text(rc)]
    L += mu_lines(target) + batch_lines(target, rc)
    if any(v is not None for v in inits.values()):
        L.append(f"- the initialization alone (nndsvda, timed apart, median of {args.repeats}; "
                 f"inside every call above): scikit-learn {fs(inits[SK])} s, fastnmf "
                 f"{fs(inits[FN])} s")
    L += ["", "At equal epochs (fastnmf default vs scikit-learn MiniBatchNMF):", ""]
    L += equal_epochs_table(target)
    if odd:
        L += ["", "Objective going up with more epochs/iterations:", ""]
        L += [f"- {o}" for o in odd]
    L += ["", "## 2. Defaults (what users see)", "",
          "`MiniBatchNMF(n_components=20, random_state=0)` with every other parameter at its "
          "default in both libraries (batch_size 1024, tol 1e-4, max_no_improvement 10, "
          "max_iter 200; fastnmf solver 'auto' = cd), and batch fastnmf "
          "`NMF(n_components=20, random_state=0)` (defaults) for reference; "
          f"{args.repeats} interleaved round(s), median (min–max).", "",
          "### (c) Defaults", ""] + defaults_table(defaults_rows)
    if reach_rows:
        summary, detail = reach_tables(reach_rows)
        L += ["", "### (d) Reach on real data", "",
              "As in part 1: `tol=0, max_no_improvement=None, max_iter=E`, E = 1, 2, 3, 5, "
              "both libraries; L5 = scikit-learn's objective after 5 epochs, T5 its time; "
              "T_reach = fastnmf's time at its smallest E with objective ≤ L5.", ""]
        L += summary + ["", "Every call:", ""] + detail
    thrown = []
    for label, res in ([("synthetic", target), ("synthetic, defaults", defaults_rows[0][2])]
                       + [(f"{n}, defaults", r) for n, _, r in defaults_rows[1:]]
                       + [(f"{n}, epochs", r) for n, r in reach_rows]):
        for k, v in res.items():
            for t, o, tk, ok in v["thrown"]:
                thrown.append(f"| {label} | {k[0]} | {'' if k[1] is None else k[1]} | {fs(t)} "
                              f"| {o:.2f} | {fs(tk)} | {ok:.2f} |")
    L += ["", f"Timed calls thrown away (others above {args.max_others:g} cores) and the "
          "attempt kept in their place:", ""]
    L += (["| case | contender | E / I | thrown s | others' CPU | kept s | kept others' CPU |",
           "|---|---|---|---|---|---|---|"] + thrown) if thrown else ["none"]
    L += ["", "Data:", ""] + [f"- `{n}`: {d}" for n, d in descs]
    text = "\n".join(L) + "\n"
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)
        log(f"wrote {args.out}")
    print(text)
    if not losses_ok:
        log(f"ERROR: objectives differ across repeats: {worst}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
