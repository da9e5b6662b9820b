"""The ``fastnmf`` console script: ``fastnmf demo`` and ``fastnmf config``.

``fastnmf demo`` factorizes scikit-learn's bundled digits (1797 images of 8x8
pixels, no download) with scikit-learn's NMF and with fastnmf's NMF on every
available compiled backend, all from one shared initialization, and prints a
side-by-side table.  ``fastnmf config`` prints :func:`fastnmf.show_config`.
"""

import argparse
import math
import statistics
import sys
import time
import warnings

__all__ = ["main"]

DEFAULT_OUTPUT = "fastnmf_demo_components.png"


def _build_parser():
    parser = argparse.ArgumentParser(
        prog="fastnmf",
        description="fastnmf: fast non-negative matrix factorization, a drop-in for "
        "scikit-learn's NMF.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser(
        "demo",
        help="factorize scikit-learn's digits with scikit-learn and fastnmf, side by side",
        description="Factorize scikit-learn's bundled digits (1797 x 64) with scikit-learn's "
        "NMF and fastnmf's NMF (each available backend) from the same nndsvda "
        "initialization, and compare time and reconstruction error.",
    )
    demo.add_argument("--n-components", type=int, default=16, metavar="K",
                      help="number of components (default: 16)")
    demo.add_argument("--max-iter", type=int, default=200, metavar="N",
                      help="maximum iterations of every fit (default: 200)")
    demo.add_argument("--tol", type=float, default=1e-4,
                      help="stopping tolerance of every fit (default: 1e-4)")
    demo.add_argument("--solver", choices=["cd", "mu"], default="cd",
                      help="solver for both libraries (default: cd)")
    demo.add_argument("--dtype", choices=["float64", "float32"], default="float64",
                      help="dtype of the data (default: float64)")
    demo.add_argument("--threads", type=int, default=None, metavar="N",
                      help="threads for fastnmf and for BLAS (default: all usable cores)")
    demo.add_argument("--repeats", type=int, default=3, metavar="N",
                      help="timed fits per contender; the median is reported (default: 3)")
    demo.add_argument("--all-backends", action="store_true",
                      help="also run the slow pure-NumPy reference backend")
    demo.add_argument("--output", default=DEFAULT_OUTPUT, metavar="PNG",
                      help=f"where to save the components image (default: {DEFAULT_OUTPUT})")
    demo.add_argument("--no-plot", action="store_true", help="do not save the image")
    demo.set_defaults(func=_demo)

    config = sub.add_parser(
        "config", help="print versions, backends, threads and BLAS",
        description="Print versions, kernel backends (and why one is missing), threads and BLAS.",
    )
    config.set_defaults(func=_config)
    return parser


def main(argv=None):
    """Run the ``fastnmf`` command line; returns the exit status."""
    parser = _build_parser()
    args = parser.parse_args(argv)
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
def _timed_fit(make, X, W0, H0, threads, blas_limit):
    """Fit a fresh estimator from copies of W0, H0; returns (estimator, seconds)."""
    from sklearn.exceptions import ConvergenceWarning

    from ._threads import blas_threads

    est = make()
    W, H = W0.copy(), H0.copy()  # scikit-learn updates the W it is given in place
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if blas_limit:
            with blas_threads(threads):
                start = time.perf_counter()
                est.fit_transform(X, W=W, H=H)
                elapsed = time.perf_counter() - start
        else:
            start = time.perf_counter()
            est.fit_transform(X, W=W, H=H)
            elapsed = time.perf_counter() - start
    return est, elapsed


def _format_table(header, rows, align):
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]

    def line(cells):
        return "  ".join(str(c).rjust(w) if a == "r" else str(c).ljust(w)
                         for c, w, a in zip(cells, widths, align))

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule] + [line(r) for r in rows])


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
    from sklearn.decomposition import NMF as SklearnNMF

    from . import NMF, __version__
    from ._backends import backend_status
    from ._init import initialize
    from ._threads import resolve_n_threads

    for flag, value, low in (("--n-components", args.n_components, 1), ("--max-iter", args.max_iter, 1),
                             ("--repeats", args.repeats, 1), ("--tol", args.tol, 0)):
        if value < low:
            raise _UsageError(f"{flag} must be >= {low}; got {value}")
    if args.n_components > 64:
        raise _UsageError(f"--n-components must be <= 64 (the digits have 64 pixels); "
                          f"got {args.n_components}")
    if args.threads is not None and args.threads < 1 and args.threads != -1:
        raise _UsageError(f"--threads must be a positive int or -1; got {args.threads}")
    threads = resolve_n_threads(args.threads)
    dtype = np.dtype(args.dtype)

    X = load_digits().data.astype(dtype)  # 1797 x 64, pixel values 0..16
    k = args.n_components
    W0, H0 = initialize(X, k, "nndsvda", 0)  # the one initialization everybody starts from

    status = backend_status()
    backends = [b for b, reason in status.items()
                if reason is None and (b != "numpy" or args.all_backends)]
    avail = ", ".join(f"{b} {'yes' if r is None else 'no (' + r + ')'}" for b, r in status.items())

    common = dict(n_components=k, init="custom", solver=args.solver, max_iter=args.max_iter,
                  tol=args.tol)
    contenders = [("scikit-learn", lambda: SklearnNMF(**common), True)]
    for b in backends:
        contenders.append((f"fastnmf {b}",
                           lambda b=b: NMF(**common, backend=b, n_threads=threads), False))

    print(f"fastnmf {__version__} demo: scikit-learn's digits, X = {X.shape[0]} x {X.shape[1]} "
          f"{dtype.name} (8x8 images, values 0..16)")
    print(f"  NMF: n_components={k}, solver={args.solver!r}, max_iter={args.max_iter}, "
          f"tol={args.tol:g}, one shared nndsvda initialization (init='custom')")
    print(f"  threads: {threads} (fastnmf kernels and BLAS; BLAS limited to the same for "
          f"scikit-learn)")
    print(f"  fastnmf backends: {avail}"
          + ("" if args.all_backends or "numpy" not in status else
             "  [numpy reference skipped: --all-backends]"))
    print(f"  each contender: one untimed warm-up fit (so Numba's JIT compile is not counted), "
          f"then the median of {args.repeats} timed fits")
    print(flush=True)

    results = []
    for name, make, blas_limit in contenders:
        _timed_fit(make, X, W0, H0, threads, blas_limit)  # warm-up
        times = []
        for _ in range(args.repeats):
            est, elapsed = _timed_fit(make, X, W0, H0, threads, blas_limit)
            times.append(elapsed)
        results.append((name, est, statistics.median(times)))

    _, sk_est, sk_time = results[0]
    sk_per_iter = sk_time / sk_est.n_iter_
    header = ["", "iterations", "time", "per iteration", "speed-up", "reconstruction error",
              "rel. diff"]
    rows = []
    for name, est, t in results:
        per_iter = t / est.n_iter_
        rel = abs(est.reconstruction_err_ - sk_est.reconstruction_err_) / max(
            abs(sk_est.reconstruction_err_), np.finfo(float).tiny)
        rows.append([name, est.n_iter_, f"{t * 1e3:.1f} ms", f"{per_iter * 1e3:.3f} ms",
                     f"{sk_per_iter / per_iter:.2f}x", f"{est.reconstruction_err_:.6f}",
                     "(reference)" if est is sk_est else f"{rel:.1e}"])
    print(_format_table(header, rows, "lrrrrrr"))
    print()
    print("speed-up: scikit-learn's time per iteration / this one's (per iteration, so fits that "
          "stop at different iterations compare fairly).")
    print("rel. diff: |error - scikit-learn's error| / scikit-learn's error, with "
          "error = ||X - WH||_F at the end of the fit.")
    if any(est.n_iter_ == args.max_iter for _, est, _ in results) and args.tol > 0:
        print(f"(a fit that shows {args.max_iter} iterations stopped at --max-iter, "
              f"not at --tol)")
    if sk_time < 0.05:
        print("note: fits this small take milliseconds; per-call overhead and a busy machine "
              "dominate the ratios.")

    if not args.no_plot:
        name, est, _ = results[1] if len(results) > 1 else results[0]
        title = f"{k} NMF components of the digits ({name}, {est.n_iter_} iterations)"
        path = _save_components(est.components_, args.output, title=title)
        print()
        if path is None:
            print("matplotlib is not installed, so no image was saved; it is an optional extra: "
                  "pip install fastnmf[plot]")
        else:
            print(f"components saved as an image grid: {path}")
    return 0
