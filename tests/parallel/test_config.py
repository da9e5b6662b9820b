"""The thread plan's thresholds in one place (fastnmf.parallel.config), overridable."""

import numpy as np
import pytest

from fastnmf.parallel import config
from fastnmf.parallel.threads import fit_threads, fused_pass_threads, kernel_threads


def test_override_changes_the_plan_and_restores_it():
    before = config.get_config()
    assert fused_pass_threads(100, 100, 10, 2) == 1  # 1e5 < 2^23: one thread
    with config.override(fused_parallel_min_work=0, kernel_parallel_min_work=0):
        assert fused_pass_threads(100, 100, 10, 2) == 2
        assert kernel_threads(10, 2, 4) == 4
    assert config.get_config() == before
    assert kernel_threads(10, 2, 4) == 1


def test_set_config_and_reset():
    import scipy.sparse as sp

    X = sp.random(300, 300, density=0.01, format="csr", random_state=0)
    assert fit_threads(X, 5, 2.0, 2) == 1  # a small sparse Frobenius fit: one thread
    try:
        config.set_config(small_sparse_work=0)
        assert fit_threads(X, 5, 2.0, 2) == 2
    finally:
        config.reset()
    assert fit_threads(X, 5, 2.0, 2) == 1
    assert config.get_config() == config._DEFAULTS


def test_bad_fields_are_refused():
    with pytest.raises(TypeError, match="unknown parallel config field"):
        config.set_config(threads_please=3)
    with pytest.raises(ValueError, match="product_chunk must be a number >= 0; got -1"):
        config.set_config(product_chunk=-1)
    with pytest.raises(ValueError, match="must be a number"):
        with config.override(product_chunk="big"):
            pass


def test_a_fit_under_an_override_gives_the_same_answer():
    """The thresholds decide threads, not results (for the fields that do not fix chunks)."""
    from fastnmf import NMF

    rng = np.random.default_rng(0)
    X = rng.random((200, 60))
    base = NMF(5, random_state=0, max_iter=30).fit(X)
    with config.override(fused_parallel_min_work=0):
        threaded = NMF(5, random_state=0, max_iter=30, n_threads=2).fit(X)
    np.testing.assert_array_equal(base.components_, threaded.components_)
