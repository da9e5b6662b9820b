"""asv benchmarks for fastnmf (run from ``asv_bench/``, see ``asv.conf.json`` and the README).

- ``bench_dense``: Frobenius NMF on dense 4000x3000, rank 32 (``DenseSolvers``: every solver x
  backend x dtype; ``DenseThreads``: ``solver='auto'``, 1 thread and all usable cores).
- ``bench_sparse``: the same on CSR 100000x20000 with 2e6 nonzeros (``SparseSolvers``,
  ``SparseThreads``).
- ``bench_kl``: the Kullback-Leibler loss (cd and mu) on sparse counts.
- ``bench_missing``: missing values (``MaskedSparse``: ``missing='unobserved'`` on the sparse
  data; ``DenseNaN``: the dense data with 10% NaN) and ``select_rank`` (``SelectRank``).
- ``bench_first_call``: ``import fastnmf`` plus a first small fit in a fresh interpreter, with
  Numba's cache empty or warm, and with the Cython backend.

Each benchmark's docstring says what it times.  The data and nndsvda starts are the ones of the
scripts in ``benchmarks/`` (``compare.py``, ``compare_kl.py``), made once per run in asv's
``setup_cache``; every ``setup`` runs a short fit first, so JIT compiling is only ever timed by
``bench_first_call``.  A backend that is not available makes its benchmarks skip.
"""
