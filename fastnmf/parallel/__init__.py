"""Threads: how a fit shares the cores between fastnmf's kernels and BLAS.

- :mod:`fastnmf.parallel.threads`: every decision of how many threads a piece of work
  gets (the thread plan), and the BLAS limit (threadpoolctl);
- :mod:`fastnmf.parallel.pool`: fastnmf's own pool of threads (idle workers block instead
  of spinning), for hals/ehals on dense X and the initialization's dense products;
- :mod:`fastnmf.parallel.config`: the thresholds of both, measured on a 2-core machine,
  overridable (``config.override(...)``, ``config.set_config(...)``, ``config.reset()``);
- :mod:`fastnmf.parallel.wait_policy`: idle OpenMP threads spin only briefly before they
  sleep (``GOMP_SPINCOUNT=1000`` unless the user set how they wait), set here, at
  ``import fastnmf``, before any OpenMP runtime of fastnmf's is loaded.
"""

from . import wait_policy

wait_policy.apply()  # before anything loads libgomp: it reads the variables once, at load

from . import config
from .threads import blas_threads, resolve_n_threads, usable_cores

__all__ = ["blas_threads", "config", "resolve_n_threads", "usable_cores", "wait_policy"]
