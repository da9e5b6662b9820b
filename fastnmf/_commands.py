"""The console script's file commands: ``fastnmf fit``, ``fastnmf rank``, ``fastnmf transform``.

Each one reads X from a file (:mod:`fastnmf.files`), runs the estimator, and writes its
results into a new directory that appears only complete (:class:`fastnmf.files.OutputDir`):

- ``fit INPUT -k K -o OUTDIR``: W and H in the input's family of formats (with its row and
  column names), the saved model (``model.npz``, :func:`fastnmf.load`), ``report.json`` and
  plots (``loss.png``; ``components.png``; ``top_features.txt`` when the columns have names);
- ``rank INPUT --ranks 2:30 -o OUTDIR``: :func:`fastnmf.select_rank`'s table (``rank.csv``),
  ``rank.png`` and ``report.json``;
- ``transform MODEL INPUT -o OUTDIR``: W of new rows under a saved model, and ``report.json``.

``report.json`` holds what a run needs to be understood and repeated: the command line, the
parameters, the input's description, versions, the machine, timings, peak memory, the loss
history, iterations, the seed and the solver that ran.
"""

import datetime
import json
import math
import os
import platform
import sys
import time
import warnings

import numpy as np

from .files import OutputDir, component_names, read_matrix, write_factors

__all__ = ["add_file_commands"]

#: beta_loss names the command line takes besides a number.
LOSSES = ("frobenius", "kullback-leibler", "itakura-saito")


class CommandError(Exception):
    """A bad value or file: one line on stderr, exit status 2."""


# ---------------------------------------------------------------------------- arguments
def _number_or(choices, kind=float):
    """An argparse type: one of ``choices`` or a number of ``kind``."""
    def parse(text):
        if text in choices:
            return text
        try:
            return kind(text)
        except ValueError:
            import argparse
            raise argparse.ArgumentTypeError(
                f"{text!r} is not {' or '.join(map(repr, choices))} or a number") from None
    return parse


def _ranks(text):
    """``2:30`` (inclusive), ``2:30:2`` or ``2,4,8``."""
    import argparse

    try:
        if ":" in text:
            parts = [int(p) for p in text.split(":")]
            if len(parts) not in (2, 3):
                raise ValueError
            lo, hi = parts[0], parts[1]
            step = parts[2] if len(parts) == 3 else 1
            if step < 1 or hi < lo:
                raise ValueError
            ranks = list(range(lo, hi + 1, step))
        else:
            ranks = [int(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give LO:HI (inclusive), LO:HI:STEP or a list K1,K2,...") from None
    if not ranks or min(ranks) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: ranks must be integers >= 1")
    return ranks


def _input_options(p):
    g = p.add_argument_group("reading the input")
    g.add_argument("--key", default=None,
                   help="which array: an .npz member, an .h5ad layer (default X), an HDF5 "
                   "dataset or group, a zarr member")
    g.add_argument("--header", choices=["auto", "yes", "no"], default="auto",
                   help="text files: the first row holds column names (default: auto)")
    g.add_argument("--index", choices=["auto", "yes", "no"], default="auto",
                   help="text files: the first column holds row names (default: auto)")
    g.add_argument("--sep", default=None,
                   help="text files: the delimiter (default: tab for .tsv, else found)")
    g.add_argument("--transpose", action="store_true",
                   help="factorize the transpose of the file's matrix (e.g. genes x cells)")
    g.add_argument("--row-names", default=None, metavar="FILE",
                   help="row names, one per line")
    g.add_argument("--col-names", default=None, metavar="FILE",
                   help="column names, one per line")
    g.add_argument("--no-stream", action="store_true",
                   help="read .npy, HDF5, zarr and .h5ad into memory (default: a large X is "
                   "read by chunks where it lies)")
    g.add_argument("--dtype", choices=["float32", "float64"], default=None,
                   help="convert X (default: keep float32, else float64)")


def _output_options(p, plots=True):
    g = p.add_argument_group("output")
    g.add_argument("-o", "--output", required=True, metavar="OUTDIR",
                   help="directory for the results (created; must not exist or be empty)")
    g.add_argument("--force", action="store_true",
                   help="replace OUTDIR if it exists (only once the new results are complete)")
    g.add_argument("-q", "--quiet", action="store_true",
                   help="no progress bar and no summary")
    if plots:
        g.add_argument("--no-plot", action="store_true",
                       help="no plots (they need matplotlib)")


def _model_options(p, rank=False):
    g = p.add_argument_group("the model (fastnmf.NMF's parameters)")
    if not rank:
        g.add_argument("-k", "--n-components", required=True,
                       type=_number_or(("auto",), int), metavar="K",
                       help="number of components")
        g.add_argument("--init", default=None,
                       choices=["random", "nndsvd", "nndsvda", "nndsvdar"],
                       help="initialization (default: nndsvda, or random for K > min(m, n))")
        g.add_argument("--n-init", type=int, default=1, metavar="N",
                       help="starts (random after the first), the best kept (default: 1)")
    g.add_argument("--loss", default="frobenius", type=_number_or(LOSSES),
                   help="beta_loss: frobenius, kullback-leibler, itakura-saito or a beta "
                   "(default: frobenius)")
    g.add_argument("--solver", default="auto",
                   choices=["auto", "cd", "mu", "emu", "hals", "ehals", "pgd", "als"],
                   help="(default: auto, the one predicted fastest)")
    g.add_argument("--missing", default="nan", choices=["nan", "unobserved"],
                   help="nan: NaN entries are unknown; unobserved: only the stored entries of "
                   "a sparse X (the nonzeros of a dense one) are known (default: nan)")
    g.add_argument("--max-iter", type=int, default=None, metavar="N",
                   help="maximum iterations (default: the estimator's)")
    g.add_argument("--tol", type=float, default=None,
                   help="stopping tolerance (default: the estimator's)")
    g.add_argument("--alpha-W", dest="alpha_W", default="auto",
                   type=_number_or(("auto",)),
                   help="regularization of W: a number or auto (default: auto)")
    g.add_argument("--alpha-H", dest="alpha_H", default="same",
                   type=_number_or(("same", "auto")),
                   help="regularization of H: a number, same or auto (default: same)")
    g.add_argument("--l1-ratio", type=float, default=0.0,
                   help="the L1 share of the regularization (default: 0)")
    g.add_argument("--threads", type=int, default=None, metavar="N",
                   help="threads (default: all usable cores)")
    g.add_argument("--seed", type=int, default=0,
                   help="random_state (default: 0, so that a run repeats)")
    g.add_argument("--backend", choices=["auto", "cython", "numba", "numpy"], default="auto")
    g.add_argument("--chunk-mb", type=float, default=None, metavar="MB",
                   help="at most this much of a streamed X in memory at once (default: 256)")


def add_file_commands(sub):
    """Add ``fit``, ``rank`` and ``transform`` to the console script's subparsers."""
    fit = sub.add_parser(
        "fit", help="factorize a matrix in a file: W, H, the model, a report and plots",
        description="Factorize X (rows: samples, columns: features) read from INPUT (.npy, "
        ".npz, .mtx, .csv/.tsv, .h5ad, .h5, .zarr) and write W and H in the input's format, "
        "the saved model (model.npz), report.json and plots into OUTDIR.")
    fit.add_argument("input", metavar="INPUT")
    _model_options(fit)
    _input_options(fit)
    _output_options(fit)
    fit.add_argument("--top", type=int, default=10, metavar="N",
                     help="features listed per component when the columns have names "
                     "(default: 10)")
    fit.set_defaults(func=_run, command_func=_fit)

    rank = sub.add_parser(
        "rank", help="choose the number of components (fastnmf.select_rank)",
        description="Run fastnmf.select_rank on X read from INPUT over --ranks and write its "
        "table (rank.csv), plot (rank.png) and report.json into OUTDIR.")
    rank.add_argument("input", metavar="INPUT")
    rank.add_argument("--ranks", type=_ranks, required=True,
                      help="LO:HI (inclusive), LO:HI:STEP or K1,K2,...")
    rank.add_argument("--method", choices=["cv", "consensus", "both"], default="cv",
                      help="cross-validation, consensus, or both (default: cv)")
    rank.add_argument("--repeats", type=int, default=3, metavar="N",
                      help="hold-outs (cv) or restarts (consensus) per rank (default: 3)")
    _model_options(rank, rank=True)
    _input_options(rank)
    _output_options(rank)
    rank.set_defaults(func=_run, command_func=_rank)

    tr = sub.add_parser(
        "transform", help="W of new rows under a saved model",
        description="Load MODEL (written by fastnmf fit or model.save) and write W of the "
        "rows of INPUT (H fixed) in the input's format, with report.json, into OUTDIR.")
    tr.add_argument("model", metavar="MODEL")
    tr.add_argument("input", metavar="INPUT")
    _input_options(tr)
    _output_options(tr, plots=False)
    tr.add_argument("--threads", type=int, default=None, metavar="N")
    tr.set_defaults(func=_run, command_func=_transform)


# ---------------------------------------------------------------------------- running
def _run(args):
    """Run a file command: one-line errors, Ctrl-C and SIGTERM leave no partial output."""
    import signal

    def terminate(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, terminate) if _main_thread() else None
    try:
        return args.command_func(args)
    except KeyboardInterrupt:
        print(f"fastnmf {args.command}: interrupted; nothing was written", file=sys.stderr)
        return 130
    except (CommandError, ValueError, TypeError, OSError, MemoryError) as exc:
        text = str(exc).strip().splitlines()
        print(f"fastnmf {args.command}: error: {text[0] if text else type(exc).__name__}",
              file=sys.stderr)
        return 2
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _main_thread():
    import threading

    return threading.current_thread() is threading.main_thread()


def _read(args):
    chunk = None if getattr(args, "chunk_mb", None) is None else int(args.chunk_mb * 2**20)
    t0 = time.perf_counter()
    m = read_matrix(args.input, key=args.key, header=args.header, index=args.index,
                    sep=args.sep, transpose=args.transpose, row_names=args.row_names,
                    col_names=args.col_names, stream=not args.no_stream, dtype=args.dtype)
    return m, time.perf_counter() - t0, chunk


def _estimator_params(args, k=None):
    params = dict(beta_loss=args.loss, solver=args.solver, missing=args.missing,
                  alpha_W=args.alpha_W, alpha_H=args.alpha_H, l1_ratio=args.l1_ratio,
                  n_threads=args.threads, random_state=args.seed, backend=args.backend)
    if args.max_iter is not None:
        params["max_iter"] = args.max_iter
    if args.tol is not None:
        params["tol"] = args.tol
    if k is not None:
        params.update(n_components=k, init=args.init, n_init=args.n_init)
    return params


def _show_progress(args):
    return not args.quiet and sys.stderr.isatty()


def _fit(args):
    from . import NMF

    start = time.perf_counter()
    m, t_read, chunk = _read(args)
    # refuse a taken OUTDIR before the fit, not after it
    out = OutputDir(args.output, force=args.force)
    try:
        params = _estimator_params(args, args.n_components)
        if chunk is not None:
            params["chunk_bytes"] = chunk
        est = NMF(progress=_show_progress(args), **params)
        t0 = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            W = est.fit_transform(m.X)
        t_fit = time.perf_counter() - t0
        H = est.components_
        with out as tmp:
            t0 = time.perf_counter()
            files = write_factors(tmp, m.family, W, H, row_names=m.row_names,
                                  col_names=m.col_names, obs=m.obs, var=m.var)
            est.set_params(progress=False)  # a terminal's bar is not part of the model
            est.save(tmp / "model.npz", include_W=False)  # W is written beside it
            files.append("model.npz")
            if m.col_names is not None:
                _write_top_features(tmp / "top_features.txt", H, m.col_names, args.top)
                files.append("top_features.txt")
            plots = [] if args.no_plot else _fit_plots(tmp, est, H, m.col_names, args.top)
            files += plots
            t_write = time.perf_counter() - t0
            files.append("report.html")
            report = _report(args, m, est, files, caught,
                             {"read": t_read, "fit": t_fit, "write": t_write,
                              "total": time.perf_counter() - start})
            _write_json(tmp / "report.json", report)
            _write_html(tmp / "report.html", report, tmp)
    finally:
        m.close()
    if not args.quiet:
        r = report["result"]
        print(f"fastnmf fit: {m.shape[0]} x {m.shape[1]} ({m.family}), rank "
              f"{r['n_components']}, solver {r['solver']}: {r['n_iter']} iterations, "
              f"reconstruction error {r['reconstruction_err']:.6g}, fit {t_fit:.2f} s")
        for w in report["warnings"]:
            print(f"  warning: {w}")
        print(f"wrote {args.output}/: {', '.join(files + ['report.json'])}")
    return 0


def _rank(args):
    from .selection import select_rank

    start = time.perf_counter()
    m, t_read, _ = _read(args)
    out = OutputDir(args.output, force=args.force)
    try:
        X = m.X
        if m.streamed:  # select_rank holds out entries of an X in memory
            from .files import _load_whole
            X = _load_whole(X)
        params = _estimator_params(args)
        kw = dict(method=args.method, n_repeats=args.repeats, beta_loss=params["beta_loss"],
                  solver=params["solver"], alpha_W=params["alpha_W"],
                  alpha_H=params["alpha_H"], l1_ratio=params["l1_ratio"],
                  missing=params["missing"], random_state=params["random_state"],
                  backend=params["backend"])
        for name in ("max_iter", "tol"):
            if name in params:
                kw[name] = params[name]
        if args.threads is not None:
            kw["n_jobs"] = args.threads
        if not args.quiet:
            print(f"fastnmf rank: {X.shape[0]} x {X.shape[1]}, ranks {args.ranks[0]}.."
                  f"{args.ranks[-1]} ({len(args.ranks)}), {args.method}, {args.repeats} "
                  "repeats each ...", file=sys.stderr)
        t0 = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            sel = select_rank(X, args.ranks, **kw)
        t_fit = time.perf_counter() - t0
        with out as tmp:
            files = ["rank.csv"]
            cols = list(sel.table)
            with open(tmp / "rank.csv", "w", encoding="utf-8") as f:
                f.write(",".join(cols) + "\n")
                for i in range(len(sel.ranks)):
                    f.write(",".join(str(int(sel.table[c][i])) if c == "rank"
                                     else repr(float(sel.table[c][i])) for c in cols) + "\n")
            if not args.no_plot and _matplotlib():
                import matplotlib.pyplot as plt

                fig = plt.figure(figsize=(7, 4))
                sel.plot(ax=fig.add_subplot(111))
                fig.tight_layout()
                fig.savefig(tmp / "rank.png", dpi=110)
                plt.close(fig)
                files.append("rank.png")
            report = _base_report(args, m, files, caught,
                                  {"read": t_read, "select": t_fit,
                                   "total": time.perf_counter() - start})
            report["parameters"] = _jsonable(kw)
            report["result"] = {"ranks": [int(r) for r in sel.ranks],
                                "best_rank": int(sel.best_rank),
                                "elbow_rank": int(sel.elbow_rank),
                                "table": _jsonable(sel.table), "seconds": sel.seconds}
            _write_json(tmp / "report.json", report)
    finally:
        m.close()
    if not args.quiet:
        print(str(sel))
        print(f"wrote {args.output}/: {', '.join(files + ['report.json'])}")
    return 0


def _transform(args):
    from .persist import load

    start = time.perf_counter()
    try:
        est = load(args.model)
    except FileNotFoundError:
        raise CommandError(f"{args.model}: no such file") from None
    m, t_read, _ = _read(args)
    out = OutputDir(args.output, force=args.force)
    try:
        if args.threads is not None:
            est.set_params(n_threads=args.threads)
        n_in = getattr(est, "n_features_in_", None)
        if n_in is not None and m.shape[1] != n_in:
            raise CommandError(f"{args.input}: X has {m.shape[1]} columns; the model was "
                               f"fitted on {n_in}")
        t0 = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            W = est.transform(m.X)
        t_fit = time.perf_counter() - t0
        with out as tmp:
            files = write_factors(tmp, m.family, W, None, row_names=m.row_names, obs=m.obs)
            report = _base_report(args, m, files, caught,
                                  {"read": t_read, "transform": t_fit,
                                   "total": time.perf_counter() - start})
            report["model"] = {"path": os.path.abspath(args.model),
                               "class": type(est).__name__,
                               "n_components": int(est.n_components_)}
            _write_json(tmp / "report.json", report)
    finally:
        m.close()
    if not args.quiet:
        print(f"fastnmf transform: {m.shape[0]} rows, rank {est.n_components_}, "
              f"{t_fit:.2f} s; wrote {args.output}/: {', '.join(files + ['report.json'])}")
    return 0


# ---------------------------------------------------------------------------- reports
def _jsonable(obj):
    """Plain JSON values: arrays to lists, non-finite floats to None, others to str."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    if obj is None or isinstance(obj, str):
        return obj
    return repr(obj)


def _peak_memory_mb():
    try:
        import resource

        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return rss / 1024 if sys.platform != "darwin" else rss / 2**20
    except ImportError:  # Windows
        return None


def _base_report(args, m, files, caught, timings):
    from ._config import config_info

    info = config_info()
    return {
        "fastnmf_report": 1,
        "command": args.command,
        "argv": ["fastnmf", *args.argv],
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "input": m.describe(),
        "outputs": sorted(files) + ["report.json"],
        "timings_s": {k: round(v, 6) for k, v in timings.items()},
        "peak_memory_mb": _peak_memory_mb(),
        "warnings": sorted({str(w.message).splitlines()[0] for w in caught if not issubclass(
            w.category, (DeprecationWarning, PendingDeprecationWarning))}),
        "versions": info["versions"],
        "machine": {"platform": platform.platform(), "machine": info["machine"],
                    "cpu_count": os.cpu_count(), "usable_cores": info["threads"]["usable_cores"],
                    "backend_auto": info["auto_backend"], "blas": info["blas"]},
    }


def _report(args, m, est, files, caught, timings):
    report = _base_report(args, m, files, caught, timings)
    params = est.get_params()
    params.pop("callback", None)
    params.pop("progress", None)
    report["parameters"] = _jsonable(params)
    report["seed"] = args.seed
    report["result"] = _jsonable({
        "solver": getattr(est, "solver_", None), "backend": getattr(est, "backend_", None),
        "n_components": int(est.n_components_), "n_iter": int(est.n_iter_),
        "max_iter": est.max_iter, "converged": int(est.n_iter_) < est.max_iter,
        "reconstruction_err": float(est.reconstruction_err_),
        "loss_history": np.asarray(getattr(est, "loss_history_", [])),
        "time_history_s": np.asarray(getattr(est, "time_history_", [])),
        "n_missing": getattr(est, "n_missing_", None),
    })
    return report


def _write_json(path, obj):
    tmp = str(path) + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=1, allow_nan=False)
        f.write("\n")
    os.replace(tmp, path)


def _write_html(path, report, folder):
    """``report.html``: the report for a browser, one file (the plots embedded)."""
    import base64
    import html

    def table(d):
        rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(_short(v))}</td>"
                       "</tr>" for k, v in d.items())
        return f"<table>{rows}</table>"

    r = report["result"]
    summary = {k: r[k] for k in ("solver", "backend", "n_components", "n_iter", "converged",
                                 "reconstruction_err", "n_missing")}
    parts = [f"<h1>fastnmf {html.escape(report['command'])}</h1>",
             f"<p><code>{html.escape(' '.join(report['argv']))}</code><br>"
             f"{html.escape(report['created'])}</p>",
             "<h2>Result</h2>", table(summary)]
    for w in report["warnings"]:
        parts.append(f"<p class=warn>warning: {html.escape(w)}</p>")
    for name in ("loss.png", "components.png"):
        if (folder / name).exists():
            data = base64.b64encode((folder / name).read_bytes()).decode()
            parts.append(f"<h2>{name[:-4].capitalize()}</h2>"
                         f"<img src='data:image/png;base64,{data}' alt='{name}'>")
    if (folder / "top_features.txt").exists():
        parts.append("<h2>Top features</h2><pre>" + html.escape(
            (folder / "top_features.txt").read_text(encoding="utf-8")) + "</pre>")
    parts += ["<h2>Input</h2>", table(report["input"]),
              "<h2>Parameters</h2>", table(report["parameters"]),
              "<h2>Timings (s) and memory</h2>",
              table({**report["timings_s"], "peak memory (MB)": report["peak_memory_mb"]}),
              "<h2>Versions and machine</h2>", table({**report["versions"],
                                                      **report["machine"]}),
              "<h2>Files</h2>", "<p>" + ", ".join(map(html.escape, report["outputs"])) + "</p>"]
    style = ("body{font-family:sans-serif;max-width:70em;margin:2em auto;padding:0 1em}"
             "table{border-collapse:collapse}th,td{border:1px solid #ccc;padding:2px 8px;"
             "text-align:left;vertical-align:top}th{background:#f4f4f4}"
             "img{max-width:100%}.warn{color:#a40}")
    text = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>fastnmf "
            f"{html.escape(report['command'])}</title><style>{style}</style></head><body>"
            + "\n".join(parts) + "</body></html>\n")
    path.write_text(text, encoding="utf-8")


def _short(value):
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= 300 else text[:297] + "..."


def _write_top_features(path, H, names, top):
    lines = []
    for i, row in enumerate(H):
        order = np.argsort(row)[::-1][:top]
        words = [f"{names[j]} ({row[j]:.3g})" for j in order if row[j] > 0]
        lines.append(f"NMF{i + 1}: " + ", ".join(words))
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


def _matplotlib():
    try:
        import matplotlib
    except ImportError:
        return False
    matplotlib.use("Agg", force=False) if "matplotlib.pyplot" not in sys.modules else None
    return True


def _fit_plots(tmp, est, H, col_names, top):
    """``loss.png`` (loss against time and iteration) and ``components.png``: H as a heatmap,
    or, when the columns have names and there are many, each component's top features."""
    if not _matplotlib():
        return []
    import matplotlib.pyplot as plt

    written = []
    loss = np.asarray(getattr(est, "loss_history_", []), dtype=float)
    times = np.asarray(getattr(est, "time_history_", []), dtype=float)
    if loss.size:
        fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.4))
        x = times if times.size == loss.size else np.arange(loss.size)
        a.plot(x, loss, ".-", ms=3)
        a.set_xlabel("seconds" if times.size == loss.size else "iteration")
        b.plot(np.arange(loss.size), loss, ".-", ms=3)
        b.set_xlabel("iteration")
        for ax in (a, b):
            ax.set_ylabel("loss")
            if np.all(loss > 0) and loss.max() > 20 * loss.min():  # a wide range
                ax.set_yscale("log")
            ax.grid(alpha=0.3)
        fig.suptitle(f"solver {getattr(est, 'solver_', '?')}: {est.n_iter_} iterations")
        fig.tight_layout()
        fig.savefig(tmp / "loss.png", dpi=110)
        plt.close(fig)
        written.append("loss.png")
    k, n = H.shape
    if col_names is not None and n > 60:
        cols = min(k, 4)
        rows = math.ceil(k / cols)
        fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 0.22 * top * rows + 0.8),
                                 squeeze=False)
        for i in range(rows * cols):
            ax = axes[i // cols][i % cols]
            if i >= k:
                ax.axis("off")
                continue
            order = np.argsort(H[i])[::-1][:top]
            ax.barh(np.arange(len(order))[::-1], H[i, order], color="C0")
            ax.set_yticks(np.arange(len(order))[::-1])
            ax.set_yticklabels([str(col_names[j])[:24] for j in order], fontsize=7)
            ax.set_title(f"NMF{i + 1}", fontsize=9)
            ax.tick_params(axis="x", labelsize=6)
        fig.tight_layout()
    else:
        fig, ax = plt.subplots(figsize=(min(12, 2 + 0.12 * n), 1 + 0.3 * k))
        im = ax.imshow(H, aspect="auto", cmap="viridis", interpolation="nearest")
        ax.set_yticks(range(k))
        ax.set_yticklabels(component_names(k), fontsize=7)
        if col_names is not None:
            ax.set_xticks(range(n))
            ax.set_xticklabels([str(c)[:16] for c in col_names], rotation=90, fontsize=6)
        else:
            ax.set_xlabel("feature")
        fig.colorbar(im, ax=ax)
        ax.set_title("H (components x features)")
        fig.tight_layout()
    fig.savefig(tmp / "components.png", dpi=110)
    plt.close(fig)
    written.append("components.png")
    return written

