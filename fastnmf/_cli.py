"""The ``fastnmf`` console script: ``demo``, ``config``, and the file commands ``fit``, ``rank``,
``transform`` (:mod:`fastnmf._commands`).

``fastnmf demo`` runs what a user gets: ``sklearn.decomposition.NMF(k, random_state=0)``
against ``fastnmf.NMF(k, random_state=0)``, both with their default parameters, on real
data that the dependencies ship (no download): scikit-learn's digits (1797 images of 8x8
pixels) and a TF-IDF matrix of the docstrings of numpy's and scipy's public functions
(documentation text installed with them).  It times the whole ``fit_transform`` call, the
two libraries interleaved, and prints the median time, the iterations, the final loss (one
function, the same for both) and the ratios.  ``fastnmf config`` prints
:func:`fastnmf.show_config`.
"""

import argparse
import importlib
import inspect
import math
import statistics
import sys
import time
import warnings

__all__ = ["main"]

#: The demo's data sets and their default ranks.
DATASETS = {"digits": 16, "docstrings": 20}

#: Modules whose public functions' docstrings make the text corpus (those that import).
DOC_MODULES = (
    "numpy", "numpy.linalg", "numpy.fft", "numpy.random", "numpy.ma", "numpy.polynomial",
    "scipy.linalg", "scipy.sparse", "scipy.sparse.linalg", "scipy.sparse.csgraph",
    "scipy.special", "scipy.stats", "scipy.optimize", "scipy.signal", "scipy.interpolate",
    "scipy.integrate", "scipy.spatial", "scipy.ndimage", "scipy.fft", "scipy.cluster.hierarchy",
    "scipy.io",
)


def _build_parser():
    parser = argparse.ArgumentParser(
        prog="fastnmf",
        description="fastnmf: fast non-negative matrix factorization, a drop-in for "
        "scikit-learn's NMF.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser(
        "demo",
        help="scikit-learn's NMF and fastnmf's NMF on real data, side by side",
        description="Fit sklearn.decomposition.NMF(k, random_state=0) and "
        "fastnmf.NMF(k, random_state=0), each with its default parameters, on scikit-learn's "
        "digits (1797 x 64) and a TF-IDF matrix of numpy's and scipy's docstrings; time the "
        "whole fit_transform call (interleaved, median of repeats) and compare time, "
        "iterations and final loss.",
    )
    demo.add_argument("--data", choices=[*DATASETS, "all"], default="all",
                      help="which data set(s) (default: all)")
    demo.add_argument("--n-components", type=int, default=None, metavar="K",
                      help="number of components (default: "
                      + ", ".join(f"{k} for the {n}" for n, k in DATASETS.items()) + ")")
    demo.add_argument("--solver", choices=["cd", "mu"], default=None,
                      help="the same solver for both libraries (default: each library's "
                      "default: scikit-learn 'cd', fastnmf 'auto')")
    demo.add_argument("--max-iter", type=int, default=None, metavar="N",
                      help="max_iter of both fits (default: the libraries' default, 200)")
    demo.add_argument("--tol", type=float, default=None,
                      help="tol of both fits (default: the libraries' default, 1e-4)")
    demo.add_argument("--backend", choices=["auto", "cython", "numba", "numpy"], default="auto",
                      help="fastnmf's backend (default: auto)")
    demo.add_argument("--dtype", choices=["float64", "float32"], default="float64",
                      help="dtype of the data (default: float64)")
    demo.add_argument("--threads", type=int, default=None, metavar="N",
                      help="threads for fastnmf and for BLAS, both libraries (default: not set: "
                      "each library's default, all cores)")
    demo.add_argument("--repeats", type=int, default=3, metavar="N",
                      help="timed fits per library; the median is reported (default: 3)")
    demo.add_argument("--output", default=None, metavar="PNG",
                      help="save fastnmf's components of the digits as an image grid there "
                      "(needs matplotlib; default: no image, nothing is written)")
    demo.add_argument("--no-plot", action="store_true",
                      help="do not save the image even with --output")
    demo.set_defaults(func=_demo)

    config = sub.add_parser(
        "config", help="print versions, backends, threads and BLAS",
        description="Print versions, kernel backends (and why one is missing), threads and BLAS.",
    )
    config.set_defaults(func=_config)

    from ._commands import add_file_commands

    add_file_commands(sub)
    return parser


def main(argv=None):
    """Run the ``fastnmf`` command line; returns the exit status."""
    parser = _build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    args.argv = argv
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except _UsageError as exc:
        print(f"fastnmf {args.command}: error: {exc}", file=sys.stderr)
        return 2


class _UsageError(Exception):
    """A bad command-line value: reported in one line, exit status 2."""


def _config(args):
    from ._config import show_config

    show_config()
    return 0


# ---------------------------------------------------------------------- demo
def load_docstrings_tfidf(dtype="float64"):
    """TF-IDF (CSR) of the docstrings of numpy's and scipy's public functions and classes.

    Real English text installed with fastnmf's dependencies: one document per distinct
    docstring of at least 200 characters among the public names of :data:`DOC_MODULES`
    (those that import), in a fixed order; words of two letters or more, English stop words
    removed, words in at least 3 documents and at most half of them; rows of unit length
    (scikit-learn's ``TfidfVectorizer`` defaults otherwise).  Returns ``(X, words, names)``.
    """
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer

    docs, names = {}, []
    with warnings.catch_warnings():  # deprecated names warn when looked up
        warnings.simplefilter("ignore")
        for modname in DOC_MODULES:
            try:
                mod = importlib.import_module(modname)
            except Exception:  # an optional part of a dependency: skip it
                continue
            public = getattr(mod, "__all__", None) or dir(mod)
            for attr in sorted(a for a in public if isinstance(a, str) and not a.startswith("_")):
                try:
                    obj = getattr(mod, attr)
                except Exception:
                    continue
                doc = getattr(obj, "__doc__", None)
                if inspect.ismodule(obj) or not isinstance(doc, str) or len(doc) < 200:
                    continue
                if doc not in docs:  # a function exported twice is one document
                    docs[doc] = len(names)
                    names.append(f"{modname}.{attr}")
    vectorizer = TfidfVectorizer(stop_words="english", min_df=3, max_df=0.5,
                                 token_pattern=r"(?u)\b[a-zA-Z][a-zA-Z]+\b",
                                 dtype=np.dtype(dtype))
    X = vectorizer.fit_transform(list(docs))
    return X.tocsr(), vectorizer.get_feature_names_out(), names


def demo_loss(X, W, H):
    """The Frobenius objective 0.5 ||X - WH||_F^2, in float64, the same for every fit.

    Sparse X: from the nonzeros and k x k Gram matrices (||X||^2 - 2 <X H^T, W> + <W^T W, H H^T>),
    never an m x n array; dense X: the residual in blocks of rows.
    """
    import numpy as np
    import scipy.sparse as sp

    W = np.asarray(W, dtype=np.float64)
    H = np.asarray(H, dtype=np.float64)
    if sp.issparse(X):
        X = sp.csr_matrix(X, dtype=np.float64)
        cross = float(np.sum(np.asarray(X @ H.T) * W))
        total = float(X.data @ X.data) - 2.0 * cross + float(np.sum((W.T @ W) * (H @ H.T)))
        return 0.5 * max(total, 0.0)
    X = np.asarray(X)
    total = 0.0
    for start in range(0, X.shape[0], 4096):
        R = X[start:start + 4096].astype(np.float64) - W[start:start + 4096] @ H
        total += float(np.einsum("ij,ij->", R, R))
    return 0.5 * total


def _timed_fit(make, X, threads):
    """Fit a fresh estimator; returns (estimator, W, seconds of the whole fit_transform)."""
    from sklearn.exceptions import ConvergenceWarning

    from .parallel.threads import blas_threads

    est = make()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if threads is not None:
            with blas_threads(threads):
                start = time.perf_counter()
                W = est.fit_transform(X)
                elapsed = time.perf_counter() - start
        else:
            start = time.perf_counter()
            W = est.fit_transform(X)
            elapsed = time.perf_counter() - start
    return est, W, elapsed


def run_case(X, k, *, solver=None, max_iter=None, tol=None, backend="auto", threads=None,
             repeats=3):
    """Both libraries on X: an untimed 2-iteration fit each, then ``repeats`` timed fits,
    interleaved (the order alternates).  Returns ``{library: result dict}``."""
    from sklearn.decomposition import NMF as SklearnNMF

    from . import NMF

    common = dict(n_components=k, random_state=0)
    for name, value in (("solver", solver), ("max_iter", max_iter), ("tol", tol)):
        if value is not None:
            common[name] = value
    ours = dict(common)
    if backend != "auto":
        ours["backend"] = backend
    if threads is not None:
        ours["n_threads"] = threads
    makers = {"scikit-learn": lambda: SklearnNMF(**common), "fastnmf": lambda: NMF(**ours)}

    # Warm-up: a 2-iteration fit each on the same X (the same kernels for its dtype and
    # format: Numba's compile or cache load, thread pools, imports), not timed.
    for make in makers.values():
        _timed_fit(lambda make=make: make().set_params(max_iter=2), X, threads)
    times = {name: [] for name in makers}
    fits = {}
    for rep in range(repeats):
        order = list(makers) if rep % 2 == 0 else list(makers)[::-1]
        for name in order:
            est, W, elapsed = _timed_fit(makers[name], X, threads)
            times[name].append(elapsed)
            fits[name] = (est, W)
    results = {}
    for name, (est, W) in fits.items():
        results[name] = {
            "estimator": est, "W": W, "time": statistics.median(times[name]),
            "times": times[name], "n_iter": int(est.n_iter_),
            "solver": getattr(est, "solver_", est.solver),
            "backend": getattr(est, "backend_", None),
            "loss": demo_loss(X, W, est.components_),
        }
    return results


def _format_table(header, rows, align):
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]

    def line(cells):
        return "  ".join(str(c).rjust(w) if a == "r" else str(c).ljust(w)
                         for c, w, a in zip(cells, widths, align)).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule] + [line(r) for r in rows])


def _fmt_time(seconds):
    return f"{seconds * 1e3:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _print_case(title, results, solver_requested):
    sk, fn = results["scikit-learn"], results["fastnmf"]
    header = ["library", "solver", "iterations", "time", "loss"]
    rows = []
    for name, res in results.items():
        label = res["solver"]
        if name == "fastnmf":
            label = (f"{res['solver']} ('auto' chose it)" if solver_requested is None
                     else res["solver"]) + f", {res['backend']}"
        rows.append([name, label, res["n_iter"], _fmt_time(res["time"]), f"{res['loss']:.6g}"])
    print(title)
    print(_format_table(header, rows, "llrrr"))
    time_ratio = sk["time"] / fn["time"]
    loss_ratio = fn["loss"] / sk["loss"] if sk["loss"] > 0 else float("nan")
    speed = (f"{time_ratio:.2f}x faster" if time_ratio >= 1 else f"{1 / time_ratio:.2f}x slower")
    print(f"fastnmf vs scikit-learn: time ratio {time_ratio:.2f} ({speed}), "
          f"loss ratio {loss_ratio:.4f} (fastnmf's / scikit-learn's; below 1: lower)")
    capped = [name for name, res in results.items()
              if res["n_iter"] >= res["estimator"].max_iter]
    if capped:
        print(f"({' and '.join(capped)} stopped at max_iter="
              f"{results[capped[0]]['estimator'].max_iter}, not at tol)")
    print(flush=True)
    return time_ratio, loss_ratio


def _save_components(components, path, shape=(8, 8), title=None):
    """Save the components as a grid of images; returns the path or None without matplotlib."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    k = components.shape[0]
    cols = min(k, 8)
    rows = math.ceil(k / cols)
    fig = Figure(figsize=(1.2 * cols, 1.2 * rows + (0.5 if title else 0)))
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False)
    for i, ax in enumerate(axes.ravel()):
        ax.set_xticks([])
        ax.set_yticks([])
        if i < k:
            ax.imshow(components[i].reshape(shape), cmap="gray_r", interpolation="nearest")
            ax.set_title(str(i), fontsize=8)
        else:
            ax.set_axis_off()
    if title:
        fig.suptitle(title, fontsize=9)
    fig.savefig(path, dpi=100)
    return path


def _demo(args):
    import numpy as np
    from sklearn.datasets import load_digits

    from . import __version__
    from ._backends import backend_status
    from .parallel.threads import usable_cores

    for flag, value, low in (("--n-components", args.n_components, 1),
                             ("--max-iter", args.max_iter, 1), ("--repeats", args.repeats, 1),
                             ("--tol", args.tol, 0)):
        if value is not None and value < low:
            raise _UsageError(f"{flag} must be >= {low}; got {value}")
    if args.threads is not None and args.threads < 1 and args.threads != -1:
        raise _UsageError(f"--threads must be a positive int or -1; got {args.threads}")
    threads = None if args.threads is None else (usable_cores() if args.threads == -1
                                                 else args.threads)
    if args.backend != "auto":
        reason = backend_status().get(args.backend)
        if reason is not None:
            raise _UsageError(f"--backend {args.backend} is unavailable: {reason}")
    names = list(DATASETS) if args.data == "all" else [args.data]

    settings = ["random_state=0"]
    settings += [f"{n}={v!r}" for n, v in (("solver", args.solver), ("max_iter", args.max_iter),
                                           ("tol", args.tol)) if v is not None]
    print(f"fastnmf {__version__} demo: sklearn.decomposition.NMF(k, {', '.join(settings)}) "
          f"against fastnmf.NMF(k, the same), every other parameter at its default")
    print(f"  timed: the whole fit_transform(X) call, the libraries interleaved, median of "
          f"{args.repeats}, after an untimed 2-iteration fit each (imports, Numba's compile)")
    print("  threads: " + ("each library's default (all cores)" if threads is None else
                          f"{threads} for fastnmf's kernels and BLAS, in both libraries")
          + f"; {usable_cores()} usable cores")
    print("  loss: 0.5 ||X - WH||_F^2 of the W and components_ each fit returned, "
          "computed the same way for both")
    print(flush=True)

    dtype = np.dtype(args.dtype)
    summary, digits_fit = [], None
    for name in names:
        if name == "digits":
            X = load_digits().data.astype(dtype)
            what = (f"scikit-learn's digits: {X.shape[0]} x {X.shape[1]} dense {dtype.name} "
                    f"(8x8 images, values 0..16)")
        else:
            start = time.perf_counter()
            X, words, doc_names = load_docstrings_tfidf(dtype)
            density = X.nnz / (X.shape[0] * X.shape[1])
            what = (f"TF-IDF of {X.shape[0]} docstrings of numpy's and scipy's public functions: "
                    f"{X.shape[0]} x {X.shape[1]} sparse CSR {dtype.name}, {density:.1%} nonzero "
                    f"(built in {time.perf_counter() - start:.1f} s)")
        k = args.n_components if args.n_components is not None else DATASETS[name]
        if k > min(X.shape):
            raise _UsageError(f"--n-components must be <= {min(X.shape)} for the {name}; got {k}")
        results = run_case(X, k, solver=args.solver, max_iter=args.max_iter, tol=args.tol,
                           backend=args.backend, threads=threads, repeats=args.repeats)
        time_ratio, loss_ratio = _print_case(f"{what}, k={k}", results, args.solver)
        summary.append((name, time_ratio, loss_ratio))
        if name == "digits":
            digits_fit = results["fastnmf"]
        else:
            H = results["fastnmf"]["estimator"].components_
            print("  fastnmf's first topics (top words of a component):")
            for t in range(min(5, k)):
                top = np.argsort(H[t])[::-1][:8]
                print(f"    {t}: " + " ".join(words[top]))
            print(flush=True)

    if len(summary) > 1:
        print("summary (time ratio, loss ratio): "
              + "; ".join(f"{n} {t:.2f}, {lr:.4f}" for n, t, lr in summary))

    if args.output is None or args.no_plot or digits_fit is None:
        if digits_fit is not None and not args.no_plot:
            print("(fastnmf demo --output digits.png saves fastnmf's components of the digits "
                  "as an image)")
    else:
        est = digits_fit["estimator"]
        title = (f"{est.n_components_} NMF components of the digits (fastnmf, "
                 f"solver {digits_fit['solver']}, {digits_fit['n_iter']} iterations)")
        path = _save_components(est.components_, args.output, title=title)
        if path is None:
            print("matplotlib is not installed, so no image was saved; it is an optional extra: "
                  "pip install fastnmf[plot]")
        else:
            print(f"fastnmf's components of the digits saved as an image grid: {path}")
    return 0
