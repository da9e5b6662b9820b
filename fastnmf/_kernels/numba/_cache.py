"""Where Numba caches fastnmf's compiled kernels: a per-user folder, never the package.

Numba's ``cache=True`` writes next to the source file by default
(``fastnmf/_kernels/numba/__pycache__``).  In site-packages those files are not in pip's
RECORD, so ``pip uninstall`` leaves a ``fastnmf`` folder behind that then shadows an
editable install; in a clone they are untracked files.  So fastnmf's own functions are
cached in a per-user folder instead, chosen once per process, first that is writable:

1. ``$FASTNMF_CACHE_DIR`` (used as it is),
2. ``$NUMBA_CACHE_DIR`` (numba's own setting, ``numba.config.CACHE_DIR``), under ``fastnmf/``,
3. the user cache folder: ``$XDG_CACHE_HOME/fastnmf`` or ``~/.cache/fastnmf`` (Linux),
   ``~/Library/Caches/fastnmf`` (macOS), ``%LOCALAPPDATA%\\fastnmf\\Cache`` (Windows),

then a subfolder per fastnmf version, Python version and numba version, and one per
install (a hash of the kernels' folder, so two checkouts of the same version never
overwrite each other's entries).  Within it numba checks the source file's hash as usual.
If none is writable, the kernels are compiled without a disk cache (``JIT['cache']`` is
False): each process compiles again, results are the same.

How: a :class:`numba.core.caching._CacheLocator` subclass placed first in numba's list of
locators.  It answers only for source files in this folder and returns None for every
other file, so numba goes on to its own locators for everybody else's functions: their
caching is unchanged.  Choosing the folder creates it and one temporary file, nothing is
compiled.  (A user who sets ``NUMBA_CACHE_LOCATOR_CLASSES`` replaces numba's list, ours
included; that choice is respected.)
"""

import hashlib
import os
import sys
import tempfile

import numba
from numba.core import caching, config

#: The folder whose source files this locator answers for (fastnmf's numba kernels).
KERNELS_DIR = os.path.dirname(os.path.abspath(__file__))


def _user_cache_root():
    """The platform's per-user cache folder for fastnmf (not created here)."""
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or os.path.expanduser(r"~\AppData\Local")
        return os.path.join(base, "fastnmf", "Cache")
    if sys.platform == "darwin":
        return os.path.expanduser("~/Library/Caches/fastnmf")
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = xdg if os.path.isabs(xdg) else os.path.expanduser("~/.cache")  # XDG: relative is ignored
    return os.path.join(base, "fastnmf")


def candidate_roots():
    """``[(root, where it came from)]`` in the order tried."""
    roots = []
    own = os.environ.get("FASTNMF_CACHE_DIR", "")
    if own:
        roots.append((os.path.abspath(os.path.expanduser(own)), "FASTNMF_CACHE_DIR"))
    numba_dir = config.CACHE_DIR or os.environ.get("NUMBA_CACHE_DIR", "")
    if numba_dir:
        roots.append((os.path.join(os.path.abspath(os.path.expanduser(numba_dir)), "fastnmf"),
                      "NUMBA_CACHE_DIR"))
    roots.append((_user_cache_root(), "user cache folder"))
    return roots


def version_key():
    """The subfolder name: fastnmf, Python and numba versions, and which install."""
    where = hashlib.sha1(KERNELS_DIR.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return (f"{_fastnmf_version()}-py{sys.version_info[0]}{sys.version_info[1]}"
            f"{getattr(sys, 'abiflags', '')}-numba{numba.__version__}-{where}")


def _fastnmf_version():
    package = sys.modules.get(__name__.split(".")[0])
    version = getattr(package, "__version__", None)  # unset while fastnmf/__init__ runs
    if version is None:
        try:
            from importlib.metadata import version as _dist_version
            version = _dist_version("fastnmf")
        except Exception:  # not installed (a bare checkout on sys.path)
            version = "unknown"
    return version


def _writable(path):
    try:
        os.makedirs(path, exist_ok=True)
        tempfile.TemporaryFile(dir=path).close()
        return True
    except OSError:
        return False


def _choose():
    key = version_key()
    for root, source in candidate_roots():
        path = os.path.join(root, key)
        if _writable(path):
            return path, source
    return None, None


#: The folder the kernels are cached in, and which setting chose it; None: no disk cache.
CACHE_DIR, CACHE_SOURCE = _choose()

_LocatorBase = getattr(caching, "_CacheLocator")
_SourceMixin = getattr(caching, "_SourceFileBackedLocatorMixin")


class FastnmfCacheLocator(_SourceMixin, _LocatorBase):
    """Cache the functions defined in fastnmf's numba kernel files in :data:`CACHE_DIR`."""

    def __init__(self, py_func, py_file):
        self._py_file = py_file
        self._lineno = py_func.__code__.co_firstlineno
        self._cache_path = CACHE_DIR

    def get_cache_path(self):
        return self._cache_path

    @classmethod
    def from_function(cls, py_func, py_file):
        if CACHE_DIR is None or not _is_kernel_file(py_file):
            return None  # somebody else's function (or no cache): numba's own locators decide
        # The mixin checks that the file exists and that the folder is (still) writable.
        return super().from_function(py_func, py_file)


def _is_kernel_file(py_file):
    try:
        return os.path.dirname(os.path.abspath(py_file)) == KERNELS_DIR
    except (TypeError, ValueError):
        return False


def _impl_class():
    # Named CacheImpl in numba 0.68, _CacheImpl before.
    impl = getattr(caching, "CacheImpl", None) or getattr(caching, "_CacheImpl")
    return impl


def register():
    """Put :class:`FastnmfCacheLocator` first in numba's locator list (once per process)."""
    classes = _impl_class()._locator_classes
    # Drop an earlier copy (e.g. after importlib.reload of this module), keep ours first.
    classes[:] = [c for c in classes if getattr(c, "__qualname__", "") != "FastnmfCacheLocator"
                  or c.__module__ != __name__]
    classes.insert(0, FastnmfCacheLocator)


if CACHE_DIR is not None:
    register()
