"""The backend registry: name -> kernel module, loaded lazily.

``get_backend("auto")`` prefers ``cython`` (compiled ahead of time, no warm-up),
then ``numba`` (JIT, cached on disk), then ``numpy`` (the slow reference).
The environment variable ``FASTNMF_BACKEND`` sets the default for
``backend=None``/``"auto"`` callers.  A backend that cannot be loaded is
remembered together with the reason, which :func:`available_backends` and
:func:`fastnmf.show_config` report.
"""

import importlib
import os
import warnings

from ._kernels import KERNELS

__all__ = ["available_backends", "get_backend", "backend_status", "BACKENDS"]

#: Every backend fastnmf knows about, in the order ``"auto"`` tries them.
BACKENDS = ("cython", "numba", "numpy")

_MODULES = {
    "cython": "fastnmf._kernels.cython",
    "numba": "fastnmf._kernels.numba",
    "numpy": "fastnmf._kernels.reference",
}

# name -> (module or None, reason or None)
_loaded = {}


def _load(name):
    if name not in _loaded:
        try:
            module = importlib.import_module(_MODULES[name])
            missing = [k for k in KERNELS if not callable(getattr(module, k, None))]
            if missing:
                raise ImportError(f"module {_MODULES[name]} lacks kernels {missing}")
            _loaded[name] = (module, None)
            if name == "cython" and not getattr(module, "OPENMP", True):
                warnings.warn(
                    "fastnmf's cython backend was built without OpenMP: it runs "
                    "single-threaded (rebuild with an OpenMP-capable compiler for threads)",
                    RuntimeWarning,
                    stacklevel=3,
                )
        except Exception as exc:  # any failure to load makes the backend unavailable
            _loaded[name] = (None, f"{type(exc).__name__}: {exc}")
    return _loaded[name]


def backend_status():
    """Return ``{name: reason}`` with ``reason=None`` for each available backend."""
    return {name: _load(name)[1] for name in BACKENDS}


def available_backends():
    """Names of the kernel backends that can be used here, in ``"auto"`` order.

    Returns
    -------
    list of str
        A subset of ``["cython", "numba", "numpy"]``.

    Examples
    --------
    >>> import fastnmf
    >>> "numpy" in fastnmf.available_backends()
    True
    """
    return [name for name in BACKENDS if _load(name)[0] is not None]


def resolve_backend_name(backend):
    """Validate ``backend`` and return the concrete backend name it selects."""
    if backend is None:
        backend = "auto"
    if not isinstance(backend, str):
        raise TypeError(
            f"backend must be a string, one of {['auto', *BACKENDS]}; got {backend!r}"
        )
    name = backend.lower()
    if name == "auto":
        env = os.environ.get("FASTNMF_BACKEND", "").strip().lower()
        if env and env != "auto":
            if env not in BACKENDS:
                raise ValueError(
                    f"environment variable FASTNMF_BACKEND={env!r} is not a backend; "
                    f"allowed: {['auto', *BACKENDS]}"
                )
            name = env
        else:
            for candidate in BACKENDS:
                if _load(candidate)[0] is not None:
                    return candidate
    if name not in BACKENDS:
        raise ValueError(f"backend must be one of {['auto', *BACKENDS]}; got {backend!r}")
    module, reason = _load(name)
    if module is None:
        raise ValueError(
            f"backend {name!r} is unavailable: {reason}; available: {available_backends()}"
        )
    return name


def get_backend(backend="auto"):
    """Return the kernel module for ``backend`` (see :data:`BACKENDS`)."""
    return _load(resolve_backend_name(backend))[0]
