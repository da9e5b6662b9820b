"""asv benchmarks for fastnmf (run from ``asv_bench/``, see ``asv.conf.json``)."""
