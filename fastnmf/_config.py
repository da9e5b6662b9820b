"""``fastnmf.show_config()``: versions, backends (and why one is missing), threads, BLAS."""

import platform
import sys


def config_info():
    """Return the configuration as a dict (what :func:`show_config` prints)."""
    import numpy
    import scipy
    import sklearn
    from threadpoolctl import threadpool_info

    from . import __version__
    from ._backends import backend_status, resolve_backend_name
    from .parallel.threads import usable_cores

    versions = {"fastnmf": __version__, "python": sys.version.split()[0],
                "numpy": numpy.__version__, "scipy": scipy.__version__,
                "scikit-learn": sklearn.__version__}
    try:
        import numba
        versions["numba"] = numba.__version__
        numba_threads = numba.config.NUMBA_NUM_THREADS
        threading_layer = numba.config.THREADING_LAYER
    except Exception:  # numba missing: the backend table says why
        numba_threads = threading_layer = None
    status = backend_status()
    try:
        auto = resolve_backend_name("auto")
    except ValueError as exc:
        auto = f"<error: {exc}>"
    openmp = isa = None
    fallback = {}
    if status.get("cython") is None:
        from ._kernels import cython as cy
        openmp = bool(getattr(cy, "OPENMP", False))
        isa = getattr(cy, "ISA", None)
        fallback = dict(getattr(cy, "FALLBACK", {}))
    numba_cache = None
    if status.get("numba") is None:
        from ._kernels.numba import _cache
        numba_cache = {"folder": _cache.CACHE_DIR, "chosen by": _cache.CACHE_SOURCE,
                       "tried": [root for root, _ in _cache.candidate_roots()]}
    blas = [
        {k: d.get(k) for k in ("internal_api", "version", "num_threads", "threading_layer", "architecture")}
        for d in threadpool_info() if d.get("user_api") == "blas"
    ]
    return {
        "versions": versions,
        "machine": f"{platform.machine()} {platform.system()} {platform.release()}",
        "backends": {name: ("available" if reason is None else f"unavailable: {reason}")
                     for name, reason in status.items()},
        "auto_backend": auto,
        "cython_openmp": openmp,
        "cython_isa": isa,
        "cython_fallback": fallback,
        "threads": {"usable_cores": usable_cores(), "numba_max_threads": numba_threads,
                    "numba_threading_layer": threading_layer,
                    "openmp_wait": _openmp_wait()},
        "numba_cache": numba_cache,
        "blas": blas,
    }


def _openmp_wait():
    """How idle OpenMP threads wait (fastnmf.parallel.wait_policy), in one line."""
    from .parallel import wait_policy

    st = wait_policy.status()
    if st["set"]:
        text = "fastnmf set " + ", ".join(f"{k}={v}" for k, v in st["set"].items())
        if st["effective"] is False:
            text += " (too late: a libgomp was loaded before import fastnmf)"
        return text
    if st["user"]:
        return "as set by the user: " + ", ".join(f"{k}={v}" for k, v in st["user"].items())
    return "the OpenMP runtime's default"


def show_config(file=None):
    """Print versions, kernel backends (with the reason one is missing), threads and BLAS.

    Examples
    --------
    >>> import fastnmf
    >>> fastnmf.show_config()  # doctest: +SKIP
    """
    info = config_info()
    out = [f"fastnmf {info['versions']['fastnmf']} on {info['machine']}", "", "versions:"]
    out += [f"  {k:<13} {v}" for k, v in info["versions"].items() if k != "fastnmf"]
    out += ["", "backends ('auto' -> %s):" % info["auto_backend"]]
    out += [f"  {k:<13} {v}" for k, v in info["backends"].items()]
    if info["cython_openmp"] is not None:
        out.append(f"  cython built with OpenMP: {info['cython_openmp']}")
        out.append(f"  cython build in use: {info['cython_isa']} "
                   "(widest SIMD this CPU runs; FASTNMF_CYTHON_ISA forces one)")
        for family, why in info["cython_fallback"].items():
            out.append(f"  cython family {family!r} runs on numba: {why}")
    cache = info["numba_cache"]
    if cache is not None:
        if cache["folder"] is None:
            out.append("  numba cache: off (no writable folder among "
                       + ", ".join(cache["tried"]) + "): kernels compile in every process")
        else:
            out.append(f"  numba cache: {cache['folder']} (from the {cache['chosen by']}; "
                       "FASTNMF_CACHE_DIR or NUMBA_CACHE_DIR moves it)")
    out += ["", "threads:"] + [f"  {k:<22} {v}" for k, v in info["threads"].items()]
    out += ["", "BLAS:"] + ([f"  {b}" for b in info["blas"]] or ["  (none found by threadpoolctl)"])
    print("\n".join(out), file=file)
