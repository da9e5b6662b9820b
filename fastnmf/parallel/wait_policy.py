"""How long fastnmf's idle OpenMP threads spin before they sleep: briefly, unless the user says.

An OpenMP runtime's idle threads busy-wait (spin) after a parallel region before they sleep:
GCC's libgomp for ``GOMP_SPINCOUNT`` iterations (300000 by default, milliseconds), LLVM's libomp
for ``KMP_BLOCKTIME`` (200 ms by default).  On a machine whose cores are all busy (other jobs on
a shared node, several fits at once: cNMF's ``factorize --total-workers``, joblib) a spinning
thread holds a core that another thread needs, and a parallel region waits for a peer the OS
has switched out; a sparse fit runs a few short regions per iteration and waits at each.  On 2
shared cores (benchmarks/results/loaded_machine.md, docs/guide/threads.md) pbmc68k counts at k=9,
Frobenius cd, took 13-48 s on two threads with libgomp's default against 0.6-1.6 s on one.
Sleeping at once (``OMP_WAIT_POLICY=PASSIVE``) removes that (0.65-0.70 s loaded), but costs a
wake-up per region when the cores are free (0.64-0.70 s against 0.40 s, slower than one
thread); a short spin, ``GOMP_SPINCOUNT=1000`` (about 10 microseconds), keeps the quiet
machine's speed (0.40-0.42 s) and bounds the loaded one (0.95-1.05 s).

So :func:`apply`, at ``import fastnmf`` (before fastnmf's Cython extensions or Numba's OpenMP
layer load libgomp, which reads its variables once, when it is loaded), sets
``GOMP_SPINCOUNT=1000`` in ``os.environ`` unless ``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT`` is
set: a user's own setting is never changed.  A libgomp loaded before ``import fastnmf`` (by
another library) does not see it: :func:`status` says what was set and whether it was in
time.  The variable stays in ``os.environ``: child processes inherit it, and so does any
libgomp loaded later in the process.  It changes when threads sleep, never what they compute.

LLVM's libomp (a clang build) is left as it is: it ignores ``GOMP_SPINCOUNT``, its finest
setting is whole milliseconds (``KMP_BLOCKTIME``), and its default already yields the core
while it spins: measured, pbmc68k at k=9 on 2 threads 1.56 s under load against 0.96 s on
one (not tens of seconds), while ``KMP_BLOCKTIME=0`` made the quiet-machine fit twice as slow
(1.17 s against 0.56 s).
"""

import os
import re

#: What fastnmf sets (libgomp: GCC builds, Numba's omp layer) unless one of :data:`GOMP_USER`
#: is set.
GOMP_DEFAULTS = {"GOMP_SPINCOUNT": "1000"}
GOMP_USER = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")

#: Every variable that chooses how OpenMP threads wait.
USER_VARS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME", "KMP_LIBRARY")

#: File names of the OpenMP runtimes fastnmf's extensions (or Numba's omp layer) link: GCC's
#: libgomp, LLVM's libomp (``libomp.so.5``, ``libomp-14.so.5``), Intel's.  (Vendored copies
#: such as scikit-learn's ``libgomp-<hash>.so`` are other runtimes, not matched.)
RUNTIMES = re.compile(r"^(libgomp\.so|libomp(-[0-9.]+)?\.so|libiomp5\.so)")

_state = {"applied": False, "set": {}, "user": {}, "loaded_before": None, "at_load": None}


def loaded_runtimes():
    """The OpenMP runtimes (:data:`RUNTIMES`) mapped in this process now, as paths (Linux:
    from ``/proc/self/maps``); None where that cannot be read."""
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split(None, 5)[5].strip() for line in f if line.count(" ") >= 5
                     and "/" in line}
    except (OSError, IndexError):
        return None
    return sorted(p for p in paths if RUNTIMES.match(os.path.basename(p)))


def _set_unless(defaults, user_vars):
    if any(name in os.environ for name in user_vars):
        return
    for name, value in defaults.items():
        os.environ[name] = value
        _state["set"][name] = value


def apply():
    """Set :data:`GOMP_DEFAULTS` in ``os.environ`` unless the user set one of
    :data:`GOMP_USER` (once per process; later calls do nothing).  Returns what fastnmf has
    set so far."""
    if not _state["applied"]:
        _state["applied"] = True
        _state["user"] = {k: os.environ[k] for k in USER_VARS if k in os.environ}
        _state["loaded_before"] = loaded_runtimes()
        _set_unless(GOMP_DEFAULTS, GOMP_USER)
    return dict(_state["set"])


def before_extension_load():
    """Called by :mod:`fastnmf._kernels.cython` just before it loads its extensions: applies
    the default if :func:`apply` has not run, and records the variables then (:func:`status`)."""
    apply()
    if _state["at_load"] is None:
        _state["at_load"] = {"env": {k: os.environ[k] for k in USER_VARS if k in os.environ}}


def status():
    """How fastnmf's OpenMP threads wait, as a dict:

    - ``set``: what fastnmf set (``{}``: nothing, e.g. the user chose: see ``user``);
    - ``user``: the user's own :data:`USER_VARS` at ``import fastnmf``;
    - ``env_at_extension_load``: those variables when the Cython extensions were loaded
      (None: not loaded yet);
    - ``loaded_before``: OpenMP runtimes already mapped at ``import fastnmf`` (they read their
      variables before fastnmf set any, and do not see them);
    - ``runtimes``: the OpenMP runtimes loaded now (fastnmf's extensions load libgomp, or
      libomp in a clang build, at the first fit; Numba's omp threading layer loads libgomp);
    - ``effective``: True when fastnmf's setting was in the environment before libgomp was
      loaded (or fastnmf set nothing: the environment is as the user started the process);
      False when a libgomp was loaded before ``import fastnmf`` (by another library) and did
      not see it; None when it cannot be told (not Linux).
    """
    at_load = _state["at_load"]
    before = _state["loaded_before"]
    if _state["set"]:
        effective = None if before is None else not any(
            os.path.basename(p).startswith("libgomp") for p in before)
    else:
        effective = True
    return {"set": dict(_state["set"]), "user": dict(_state["user"]),
            "env_at_extension_load": None if at_load is None else dict(at_load["env"]),
            "loaded_before": before, "runtimes": loaded_runtimes(), "effective": effective}
