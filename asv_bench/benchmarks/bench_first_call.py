"""What the first call costs in a fresh interpreter: ``import fastnmf`` plus a first small fit.

``timeraw_`` benchmarks: for every sample asv starts a new Python process (``sys.executable``)
and times only the statement, which is

    import numpy as np, fastnmf
    X = np.random.default_rng(0).random((300, 200))           # float64, dense
    fastnmf.NMF(8, max_iter=20, backend=...).fit(X)            # default init and solver ('auto')

so the time holds importing numpy, scipy and fastnmf, the backend's kernels and everything that
fit compiles or loads, but not the interpreter's own start-up.  Three cases:

- ``numba, empty cache``: ``NUMBA_CACHE_DIR`` points at a new empty directory made for that
  process (before the timed statement), so every kernel the fit uses is JIT-compiled: what the
  very first ``fastnmf`` call after installing costs.
- ``numba, warm cache``: ``NUMBA_CACHE_DIR`` points at a directory that ``setup`` filled by
  running the same statement once, so the kernels are loaded from Numba's on-disk cache: what a
  user pays in every later process.
- ``cython``: the ahead-of-time compiled backend (no JIT), for comparison.

``setup`` runs the statement once in a child process in every case (with a throw-away cache
directory for the empty-cache case), so the operating system's file cache and the ``.pyc``
files are warm alike for the three.  A backend that is not available here makes its case skip.
"""

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import fastnmf

from ._common import require

NUMBA_COLD = "numba, empty cache"
NUMBA_WARM = "numba, warm cache"
CYTHON = "cython"

_FIT = ("import numpy as np, fastnmf\n"
        "X = np.random.default_rng(0).random((300, 200))\n"
        "fastnmf.NMF(8, max_iter=20, backend={backend!r}).fit(X)\n")


def _child_setup(cache_dir=None, fresh_under=None):
    """Untimed part of the child: silence warnings, make this fastnmf importable, set the cache.
    Imports nothing that the timed statement imports (numpy, scipy, numba, fastnmf)."""
    root = str(Path(fastnmf.__file__).resolve().parent.parent)
    lines = ["import os, sys, tempfile, warnings",
             "warnings.simplefilter('ignore')",
             f"sys.path.insert(0, {root!r})"]
    if cache_dir is not None:
        lines.append(f"os.environ['NUMBA_CACHE_DIR'] = {str(cache_dir)!r}")
    if fresh_under is not None:
        lines.append(f"os.environ['NUMBA_CACHE_DIR'] = tempfile.mkdtemp(dir={str(fresh_under)!r})")
    return "\n".join(lines) + "\n"


class FirstCall:
    """import + first small fit in a fresh interpreter (see the module docstring)."""

    params = [[NUMBA_COLD, NUMBA_WARM, CYTHON]]
    param_names = ["case"]
    number = 1
    repeat = (2, 5, 90.0)
    warmup_time = 0
    timeout = 600

    def setup(self, case):
        self.backend = "cython" if case == CYTHON else "numba"
        require(self.backend)
        self.tmp = Path(tempfile.mkdtemp(prefix="fastnmf-asv-numba-cache-"))
        self.warm = self.tmp / "warm"
        self.warm.mkdir()
        prime = (_child_setup(cache_dir=self.warm) if case == NUMBA_WARM
                 else _child_setup(fresh_under=self.tmp))
        subprocess.run([sys.executable, "-c", prime + _FIT.format(backend=self.backend)],
                       check=True, timeout=self.timeout, stdout=subprocess.DEVNULL)

    def teardown(self, case):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def timeraw_import_and_first_fit(self, case):
        """Seconds for ``import numpy, fastnmf`` plus a first 20-iteration fit of a 300x200
        float64 matrix, rank 8, in a new interpreter (start-up not included); the case sets the
        backend and the state of Numba's cache."""
        if case == NUMBA_COLD:
            setup = _child_setup(fresh_under=self.tmp)
        elif case == NUMBA_WARM:
            setup = _child_setup(cache_dir=self.warm)
        else:
            setup = _child_setup()
        return _FIT.format(backend=self.backend), setup

