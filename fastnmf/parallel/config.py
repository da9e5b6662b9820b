"""The tunable thresholds of fastnmf's thread plan, in one place, overridable.

Every constant that decides how many threads a piece of work gets, or how work is split
between them, is a field of :data:`CONFIG`; the code reads it when it runs, so a change
takes effect at the next fit.  The defaults were measured on a 2-core machine (the figures
are in each field's comment and in ``docs/guide/threads.md``); another machine may want
others.  Change them for a block of code with :func:`override`, for the process with
:func:`set_config`, and go back to the defaults with :func:`reset`::

    from fastnmf.parallel import config

    with config.override(fused_parallel_min_work=0):   # fused passes always threaded
        model.fit(X)

Fields that fix how work is split into chunks (``product_chunk``, ``max_row_parts``) also
fix how sums are rounded: results then differ from the defaults' at the last bits.
"""

import contextlib
import dataclasses
from dataclasses import dataclass


@dataclass
class ParallelConfig:
    """The thresholds (see the module docstring); a field's comment says what it decides."""

    #: Dense X: a row kernel (a sweep, an extrapolation) runs on one thread below this many
    #: multiply-adds (rows * k * k).  OpenMP workers spin-wait after a parallel region and take
    #: the core from the BLAS products that follow, and BLAS workers spinning after a product
    #: take it from the kernel: on 2 cores (4000x3000, float64) threaded sweeps cost about 10
    #: ms per call in lost BLAS time, so a cd iteration took 51 ms instead of 33 ms at rank 32.
    kernel_parallel_min_work: int = 1 << 27

    #: Dense cd: its fused pass over X (kernel ``hals_pass_dense``) runs on the fit's threads
    #: only from this many multiply-adds (m n k); below, on one.  Its parallel region per
    #: iteration waits for its slowest thread, and a thread that shares its core with
    #: OpenBLAS's spinning workers makes every iteration wait: whole default fits on 2 cores,
    #: threads always against from 2^23: 60 x 1841 spectra at k=3 83 against 32 ms, 200 x 625
    #: faces 97 against 54, digits 89 against 74.
    fused_parallel_min_work: int = 1 << 23

    #: A Frobenius fit on sparse X with fewer multiply-adds per iteration than this
    #: (``2 nnz k + (m + n) k^2``) runs its kernels on one thread: a 300 x 3382 TF-IDF matrix at
    #: k=10 (8e5 per iteration) took 0.127 s on two threads against 0.078 s on one.
    small_sparse_work: int = 1 << 21

    #: fastnmf's pool (:mod:`fastnmf.parallel.pool`): a row kernel is split only from this
    #: many multiply-adds (rows * k * k); below, a sweep takes well under a millisecond and
    #: handing it to the threads (about 40 us per call) costs more than it saves.
    pool_min_kernel_work: int = 1 << 20

    #: fastnmf's pool: the products on dense X are split only from m * n * k this large.
    pool_min_product_work: int = 1 << 22

    #: fastnmf's pool: rows (of ``X @ Ht``) or columns (of ``W^T X``) of X per chunk of a
    #: split product, the same for every thread count (so the factors do not depend on it).
    product_chunk: int = 512

    #: fastnmf's pool: at most this many row chunks (partial k x n products) for ``W^T X`` on
    #: an X with fewer than ``2 product_chunk`` columns.
    max_row_parts: int = 16

    #: Initialization: a product of a dense X with the randomized SVD's sketch is split over
    #: fastnmf's pool from this many multiply-adds (OpenBLAS's own threads would leave workers
    #: spinning against the fit's OpenMP threads).
    init_threaded_product_flops: float = 1e6

    #: Initialization: a product of a CSR X with the sketch runs on every thread from this
    #: many multiply-adds (300 x 3382 TF-IDF, 21k nonzeros, k=10: each product ~0.1 ms, less
    #: than waking the workers costs).
    init_threaded_sparse_flops: float = 1e7

    #: Initialization: the LU/QR factorizations of the thin sketch run on BLAS's threads from
    #: this many entries (threaded getrf and geqrf on 4000 x 42: 2-5x slower than one thread;
    #: on 100000 x 42, QR 1.4x faster threaded).
    init_threaded_factor_size: float = 2e6

    #: Fits with unknown entries: a group of rows with fewer observed entries than this is
    #: swept on one thread (MovieLens 100k at rank 32 on 2 busy cores, 30 groups of rows a
    #: side: 160 ms per iteration threaded against 12 ms on one thread).
    masked_parallel_min_entries: int = 1 << 15


#: The thresholds in use (read by the code when it runs).
CONFIG = ParallelConfig()

_DEFAULTS = dataclasses.asdict(ParallelConfig())


def _check(changes):
    unknown = sorted(set(changes) - set(_DEFAULTS))
    if unknown:
        raise TypeError(f"unknown parallel config field(s) {unknown}; the fields are "
                        f"{sorted(_DEFAULTS)}")
    for name, value in changes.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ValueError(f"{name} must be a number >= 0; got {value!r}")


def get_config():
    """The thresholds in use, as a dict."""
    return dataclasses.asdict(CONFIG)


def set_config(**changes):
    """Change thresholds for the rest of the process (``reset()`` restores the defaults)."""
    _check(changes)
    for name, value in changes.items():
        setattr(CONFIG, name, type(_DEFAULTS[name])(value))


def reset():
    """Restore every threshold's default."""
    set_config(**_DEFAULTS)


@contextlib.contextmanager
def override(**changes):
    """Change thresholds within a ``with`` block, then restore what was there."""
    _check(changes)
    before = get_config()
    try:
        set_config(**changes)
        yield CONFIG
    finally:
        set_config(**before)
