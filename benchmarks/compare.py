#!/usr/bin/env python
"""fastnmf against scikit-learn, side by side: NMF(solver='cd') on the same data from the same start.

Usage::

    python benchmarks/compare.py                 # dense 4000x3000, rank 32, float64 and float32
    python benchmarks/compare.py --quick         # 1000x800, 3 repeats: a smoke run
    python benchmarks/compare.py --out DIR       # where compare.md, loss_vs_time.{csv,png} go

Everything runs in one process, on one seeded non-negative low-rank-plus-noise matrix per dtype and
one nndsvda initialization (seed 0) that every contender starts from (``init='custom'``).  Per
repeat, the contenders run interleaved (in a rotating order), so a noisy neighbour slows them
alike; reported are medians over repeats, and ratios are medians of the per-repeat (paired)
ratios.  Per-iteration times are whole ``fit_transform`` calls with ``max_iter=iters, tol=0``
divided by ``iters``: nothing is subtracted (validation and the final ``reconstruction_err_``
are included; the table's footnote estimates that fixed cost).  Peak memory is measured in a fresh
child process per contender.  Machines are noisy: quote the ratios, not the absolute times.
"""

import argparse
import csv
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

import fastnmf  # noqa: E402
from fastnmf._backends import backend_status  # noqa: E402
from fastnmf._init import initialize  # noqa: E402
from fastnmf._threads import blas_threads, usable_cores  # noqa: E402

SK = "scikit-learn"
BOUND = "bound"
DTYPES = ("float64", "float32")
CURVE_REPEATS = 3  # fits per point of the loss-vs-time curve (the fastest is kept)


# ------------------------------------------------------------------ setup
def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="smoke run: shape 1000x800 and 3 repeats unless given")
    p.add_argument("--shape", default=None, metavar="MxN", help="data shape (default 4000x3000)")
    p.add_argument("--rank", type=int, default=32, help="n_components (default 32)")
    p.add_argument("--iters", type=int, default=30, help="iterations per fit (default 30)")
    p.add_argument("--repeats", type=int, default=None, help="repeats (default 5; --quick: 3)")
    p.add_argument("--threads", type=int, default=None,
                   help="threads for everybody (default: all usable cores)")
    p.add_argument("--out", default=str(HERE / "out"), metavar="DIR",
                   help="output directory (default: benchmarks/out)")
    p.add_argument("--_mem-child", dest="mem_child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    shape = args.shape or ("1000x800" if args.quick else "4000x3000")
    try:
        m, n = (int(v) for v in shape.lower().split("x"))
    except ValueError:
        p.error(f"--shape must look like 4000x3000; got {shape!r}")
    args.shape = (m, n)
    if args.repeats is None:
        args.repeats = 3 if args.quick else 5
    if min(m, n, args.rank, args.iters, args.repeats) < 1 or args.rank > min(m, n):
        p.error("shape, rank, iters and repeats must be positive, rank <= min(shape)")
    args.threads = args.threads or usable_cores()
    return args


def make_data(shape, rank, seed=0):
    """Seeded non-negative rank-`rank` matrix plus uniform noise, float64."""
    m, n = shape
    rng = np.random.default_rng(seed)
    X = rng.random((m, rank)) @ rng.random((rank, n))
    X += 0.1 * rng.random((m, n))
    return X


def machine_lines():
    from threadpoolctl import threadpool_info

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    blas = sorted({f"{d.get('internal_api')} {d.get('version')} ({d.get('architecture')}, "
                   f"{d.get('threading_layer')}, {d.get('num_threads')} threads)"
                   for d in threadpool_info() if d.get("user_api") == "blas"})
    import numba
    import sklearn

    coretype = os.environ.get("OPENBLAS_CORETYPE")
    return [
        f"- machine: {cpu}, {usable_cores()} usable cores ({os.cpu_count()} online), "
        f"{platform.system()} {platform.machine()}",
        f"- BLAS (threadpoolctl): {'; '.join(blas) or 'none found'}",
        "- OPENBLAS_CORETYPE: " + (f"set ({coretype!r}, left as is)" if coretype is not None
                                   else "not set"),
        f"- versions: python {platform.python_version()}, numpy {np.__version__}, "
        f"scikit-learn {sklearn.__version__}, numba {numba.__version__}, "
        f"fastnmf {fastnmf.__version__}",
    ]


# ------------------------------------------------------------------ contenders
def make_estimator(contender, rank, max_iter, threads):
    common = dict(n_components=rank, init="custom", solver="cd", max_iter=max_iter, tol=0.0)
    if contender == SK:
        from sklearn.decomposition import NMF as SklearnNMF

        return SklearnNMF(**common)
    backend = contender.split()[-1]  # "fastnmf cython" -> "cython"
    return fastnmf.NMF(**common, backend=backend, n_threads=threads)


def timed_fit(contender, X, W0, H0, rank, max_iter, threads):
    """One fit from copies of W0, H0; returns (seconds, estimator)."""
    from sklearn.exceptions import ConvergenceWarning

    est = make_estimator(contender, rank, max_iter, threads)
    W, H = W0.copy(), H0.copy()  # scikit-learn writes into the W it is given
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if contender == SK:  # its cd kernel is single-threaded: only BLAS takes threads
            with blas_threads(threads):
                t0 = time.perf_counter()
                est.fit_transform(X, W=W, H=H)
                t = time.perf_counter() - t0
        else:  # fastnmf limits BLAS itself, to n_threads
            t0 = time.perf_counter()
            est.fit_transform(X, W=W, H=H)
            t = time.perf_counter() - t0
    return t, est


def bound_per_iter(X, W, Ht, loops, threads):
    """Per-iteration time of the two products an iteration cannot avoid, at BLAS speed.

    ``X @ Ht`` plus the faster of ``X.T @ W`` and ``(W.T @ X).T`` (same result; which one BLAS
    does faster depends on the library and the shapes).
    """
    def loop(f):
        t0 = time.perf_counter()
        for _ in range(loops):
            f()
        return (time.perf_counter() - t0) / loops

    with blas_threads(threads):
        a = loop(lambda: X @ Ht)
        b = loop(lambda: X.T @ W)
        c = loop(lambda: (W.T @ X).T)
    return a + min(b, c)


# ------------------------------------------------------------------ memory (child process)
def _status_kb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(f"{field} not in /proc/self/status")


def _reset_peak():
    """Reset the kernel's peak-RSS mark (VmHWM) to the current RSS; False if not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def mem_child(spec):
    """Child mode: fit once and print the growth of peak RSS during the fit, as JSON.

    The peak mark is reset right before the fit (Linux: ``/proc/self/clear_refs``), so imports,
    loading and the warm-up cannot hide the fit's own peak; without that, the growth of
    ``ru_maxrss`` is reported, which is a lower bound.
    """
    import resource

    spec = json.loads(spec)
    d = Path(spec["dir"])
    X = np.load(d / "X.npy")
    W0, H0 = np.load(d / "W0.npy"), np.load(d / "H0.npy")
    rank, threads, contender = spec["rank"], spec["threads"], spec["contender"]
    # warm-up on a tiny matrix: imports, kernel loading / JIT (from cache), thread pools
    rng = np.random.default_rng(1)
    Xs = rng.random((60, 40)).astype(X.dtype)
    Ws, Hs = initialize(Xs, min(rank, 10), "nndsvda", 0)
    timed_fit(contender, Xs, Ws, Hs, min(rank, 10), 2, threads)
    W, H = W0.copy(), H0.copy()
    if _reset_peak():
        method = "VmHWM after clear_refs"
        before = _status_kb("VmRSS")
        timed_fit(contender, X, W, H, rank, spec["iters"], threads)
        after = _status_kb("VmHWM")
    else:
        method = "ru_maxrss (lower bound)"
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        timed_fit(contender, X, W, H, rank, spec["iters"], threads)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"before_kb": before, "after_kb": after, "method": method}))


def peak_memory_mb(contender, data_dir, rank, iters, threads):
    """Peak-RSS growth (MB) of one fit, in a fresh interpreter; (None, why) if the child failed."""
    spec = json.dumps({"dir": str(data_dir), "contender": contender, "rank": rank,
                       "iters": iters, "threads": threads})
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(Path(fastnmf.__file__).resolve().parent.parent)]
        + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    for attempt in (1, 2):  # one retry: a shared machine can kill or starve a child
        proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--_mem-child",
                               spec], capture_output=True, text=True, env=env, timeout=600)
        if proc.returncode == 0:
            break
        print(f"  memory child for {contender} failed (attempt {attempt}, exit status "
              f"{proc.returncode}):\n{proc.stderr[-2000:]}", file=sys.stderr)
    else:
        return None, "child failed"
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    return max(r["after_kb"] - r["before_kb"], 0) / 1024, r["method"]


# ------------------------------------------------------------------ main measurement
def log(msg):
    print(msg, file=sys.stderr, flush=True)


def measure_dtype(dtype, X64, args, backends):
    rank, iters, T = args.rank, args.iters, args.threads
    X = np.ascontiguousarray(X64, dtype=dtype)
    W0, H0 = initialize(X, rank, "nndsvda", 0)
    Ht0 = np.ascontiguousarray(H0.T)
    fast = [f"fastnmf {b}" for b in backends]
    threads_list = [T, 1] if T > 1 else [T]
    tasks = [(c, t) for t in threads_list for c in [BOUND, SK, *fast]]

    log(f"[{dtype}] warm-up fits (JIT compile / caches excluded from the timings)")
    for c in [SK, *fast]:
        for t in threads_list:
            timed_fit(c, X, W0, H0, rank, 2, t)

    times = {task: [] for task in tasks}
    errors = {}
    loops = min(iters, 10)
    for rep in range(args.repeats):
        order = tasks[rep % len(tasks):] + tasks[:rep % len(tasks)]
        for c, t in order:
            if c == BOUND:
                times[(c, t)].append(bound_per_iter(X, W0, Ht0, loops, t))
            else:
                sec, est = timed_fit(c, X, W0, H0, rank, iters, t)
                times[(c, t)].append(sec / iters)
                errors[(c, t)] = est.reconstruction_err_
        log(f"[{dtype}] repeat {rep + 1}/{args.repeats}: "
            + ", ".join(f"{c}@{t}: {times[(c, t)][-1] * 1e3:.1f} ms/it" for c, t in tasks))

    # loss against time, from fits of increasing length (all threads)
    checkpoints = sorted({m for m in (1, 2, 5, 10, 20, 30, 50, 100) if m < iters} | {iters})
    curve = {}
    histories = {}
    best = {(c, mi): float("inf") for c in [SK, *fast] for mi in checkpoints}
    for _ in range(CURVE_REPEATS):  # fastest of a few fits: noise only ever adds time
        for c in [SK, *fast]:
            # an untimed short fit first: the first fit after another contender's pays for cold
            # memory and thread pools (up to a few hundred ms here), which is not its cost
            timed_fit(c, X, W0, H0, rank, 1, T)
            for mi in checkpoints:
                sec, est = timed_fit(c, X, W0, H0, rank, mi, T)
                best[(c, mi)] = min(best[(c, mi)], sec)
                loss = 0.5 * est.reconstruction_err_ ** 2
                if c != SK and mi == iters:
                    histories[c] = np.asarray(est.loss_history_)
                curve.setdefault(c, {})[mi] = loss
    curve = {c: [(mi, best[(c, mi)], curve[c][mi]) for mi in checkpoints] for c in curve}
    log(f"[{dtype}] loss-vs-time checkpoint fits done")

    # peak memory, one fresh process per contender
    mem = {}
    with tempfile.TemporaryDirectory(prefix="fastnmf_compare_") as tmp:
        np.save(Path(tmp) / "X.npy", X)
        np.save(Path(tmp) / "W0.npy", W0)
        np.save(Path(tmp) / "H0.npy", H0)
        for c in [SK, *fast]:
            mem[c], mem_method = peak_memory_mb(c, tmp, rank, iters, T)
            if mem[c] is not None:
                mem["method"] = mem_method
    log(f"[{dtype}] peak memory children done")
    return dict(dtype=dtype, X_mb=X.nbytes / 2**20, times=times, errors=errors, curve=curve,
                histories=histories, mem=mem, threads_list=threads_list, fast=fast)


def med(values):
    return statistics.median(values)


def paired(a, b):
    """Median over repeats of a[i] / b[i]."""
    return med([x / y for x, y in zip(a, b)])


def fixed_cost_ms(points):
    """Intercept of fit time against max_iter (least squares): validation, init checks, final error."""
    its = np.array([p[0] for p in points], float)
    secs = np.array([p[1] for p in points], float)
    if len(its) < 2:
        return float("nan")
    slope, intercept = np.polyfit(its, secs, 1)
    return intercept * 1e3


def table(results, args):
    T = args.threads
    m, n = args.shape
    lines = [
        f"## fastnmf vs scikit-learn, `NMF(solver='cd')`: dense {m}×{n}, rank {args.rank}, "
        f"{args.iters} iterations, {T} threads",
        "",
        *machine_lines(),
        f"- method: same process, same data (seed 0), same nndsvda initialization for all; "
        f"{args.repeats} repeats with the contenders interleaved; times are medians "
        f"(min–max over repeats), ratios are medians of per-repeat ratios.",
        "",
        f"| dtype | contender | ms / iteration, {T} threads | ms / iteration, 1 thread | "
        f"thread speed-up | scikit-learn ÷ this | this ÷ bound | rel. diff of "
        f"reconstruction_err_ vs scikit-learn | peak RSS growth of a fit |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    notes = []
    for r in results:
        ts, dt = r["times"], r["dtype"]
        has1 = 1 in r["threads_list"] and T > 1
        sk_err = r["errors"][(SK, T)]
        for c in [BOUND, SK, *r["fast"]]:
            tt = ts[(c, T)]
            cell_t = f"{med(tt) * 1e3:.1f} ({min(tt) * 1e3:.1f}–{max(tt) * 1e3:.1f})"
            cell_1 = f"{med(ts[(c, 1)]) * 1e3:.1f}" if has1 else "–"
            speed_thr = f"{paired(ts[(c, 1)], tt):.2f}×" if has1 else "–"
            vs_sk = f"{paired(ts[(SK, T)], tt):.2f}×"
            vs_bound = f"{paired(tt, ts[(BOUND, T)]):.2f}×"
            if c == BOUND:
                name = "bound: X·Hᵀ + Xᵀ·W (NumPy/BLAS)"
                rel = mem_cell = "–"
            else:
                name = c if c == SK else f"**{c}**"
                err = r["errors"][(c, T)]
                rel = "(reference)" if c == SK else f"{abs(err - sk_err) / sk_err:.1e}"
                mb = r["mem"].get(c)
                mem_cell = "failed" if mb is None else f"{mb:.0f} MB (X: {r['X_mb']:.0f} MB)"
            lines.append(f"| {dt} | {name} | {cell_t} | {cell_1} | {speed_thr} | {vs_sk} | "
                         f"{vs_bound} | {rel} | {mem_cell} |")
        fixed = ", ".join(f"{c} {fixed_cost_ms(r['curve'][c]):.0f} ms" for c in [SK, *r["fast"]])
        notes.append(f"- fixed cost of one {dt} fit (validation, init checks, final "
                     f"`reconstruction_err_`), estimated as the intercept of fit time against "
                     f"max_iter in the loss-vs-time fits: {fixed}")
    lines += [
        "",
        "- *bound*: the two m×n×r products every iteration needs, `X @ Ht` plus the faster of "
        "`X.T @ W` and `(W.T @ X).T`, in plain NumPy with the same dtype and thread limit.",
        "- *ms / iteration*: a whole `fit_transform(X, W=W0, H=H0)` with `max_iter="
        f"{args.iters}, tol=0`, divided by {args.iters}; nothing subtracted. scikit-learn's cd "
        "kernel is single-threaded, its BLAS gets the thread limit (threadpoolctl).",
        "- *rel. diff*: |err − err_sklearn| / err_sklearn of the final `reconstruction_err_`; "
        "~1e-12 or below in float64 means the same iterates (same algorithm).",
        "- *peak RSS growth*: peak resident memory during the fit minus the resident memory "
        "before it, in a fresh process already holding X, W0, H0 and warmed up on a tiny fit "
        f"(measured as {results[0]['mem'].get('method', '?')}).",
        *notes,
    ]
    return "\n".join(lines)


def write_curves(results, out):
    rows = []
    for r in results:
        for c, pts in r["curve"].items():
            for mi, sec, loss in pts:
                rows.append((r["dtype"], c, "fit with max_iter", mi, f"{sec:.6f}", f"{loss:.10e}"))
    path = out / "loss_vs_time.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["dtype", "contender", "kind", "iterations", "seconds", "objective"])
        w.writerows(rows)
    return path


def plot_curves(results, args, out):
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    T = args.threads
    fig = Figure(figsize=(6 * len(results), 4.6))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(results), squeeze=False)[0]
    for ax, r in zip(axes, results):
        for c, pts in r["curve"].items():
            xs = [p[1] for p in pts]
            ys = [p[2] for p in pts]
            line = ax.plot(xs, ys, "o", label=f"{c}: fits of max_iter={','.join(str(p[0]) for p in pts)}")[0]
            if c in r["histories"]:
                h = r["histories"][c]
                per_it = med(r["times"][(c, T)])
                ax.plot(per_it * np.arange(1, len(h) + 1), h, "-", color=line.get_color(),
                        alpha=0.6, label=f"{c}: loss_history_ × median time/iteration")
            else:
                ax.plot(xs, ys, "-", color=line.get_color(), alpha=0.6)
        ax.set_yscale("log")
        ax.set_xlabel("wall time of the fit (s)")
        ax.set_ylabel("objective ½‖X − WH‖²_F")
        m, n = args.shape
        ax.set_title(f"{r['dtype']}: {m}×{n}, rank {args.rank}, {T} threads", fontsize=10)
        ax.legend(fontsize=7)
    fig.suptitle(f"NMF(solver='cd') from the same nndsvda start. Markers: whole fits of "
                 f"increasing max_iter (fastest of {CURVE_REPEATS}), objective from "
                 f"reconstruction_err_. Lines: fastnmf's loss_history_ at i x median time per "
                 f"iteration", fontsize=8)
    fig.tight_layout()
    path = out / "loss_vs_time.png"
    fig.savefig(path, dpi=110)
    return path


def main(argv=None):
    args = parse_args(argv)
    if args.mem_child is not None:
        mem_child(args.mem_child)
        return 0
    status = backend_status()
    backends = [b for b in ("cython", "numba") if status.get(b) is None]
    for b in ("cython", "numba"):
        if b not in backends:
            log(f"fastnmf backend {b} unavailable ({status.get(b)}): left out")
    if not backends:
        log("no compiled fastnmf backend is available: nothing to compare")
        return 1
    start = time.perf_counter()
    log("\n".join(machine_lines()))
    X64 = make_data(args.shape, args.rank)
    results = [measure_dtype(dt, X64, args, backends) for dt in DTYPES]
    md = table(results, args)
    md += f"\n- whole run: {time.perf_counter() - start:.0f} s\n"
    print(md)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "compare.md").write_text(md)
    written = [out / "compare.md", write_curves(results, out)]
    png = plot_curves(results, args, out)
    if png is None:
        log("matplotlib not installed: no loss_vs_time.png (pip install fastnmf[plot])")
    else:
        written.append(png)
    log("wrote " + ", ".join(str(p) for p in written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
