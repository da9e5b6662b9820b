"""fastnmf.NMF on a Dask X without a distributed client: a clear error (this module starts
none)."""

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

from fastnmf import NMF  # noqa: E402


def test_nmf_on_a_dask_array_needs_a_client():
    dX = da.from_array(np.ones((10, 4)), chunks=(5, 4))
    try:
        distributed.get_client()
    except ValueError:
        with pytest.raises(ValueError, match="start a distributed.Client first"):
            NMF(2).fit(dX)
    else:  # pragma: no cover - a client from another test module is still open
        pytest.skip("a distributed client is running in this process")
