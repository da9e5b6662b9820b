"""Consensus clustering over restarts (Brunet, Tamayo, Golub & Mesirov, PNAS 2004): each
restart assigns every row (or column) to the component with its largest coefficient; the
consensus matrix is the fraction of restarts in which two items share a component.  Its
cophenetic correlation (how well average-linkage clustering of ``1 - consensus`` reproduces
it) and its dispersion (Kim & Park 2007, ``mean 4 (C - 1/2)^2``) are 1 for a perfectly
stable clustering.
"""

import numpy as np


def consensus_matrix(labels):
    """The consensus matrix of several clusterings of the same n items.

    ``labels``: array-like of shape (n_runs, n); ``C[i, j]`` is the fraction of
    runs in which items i and j have the same label (so ``C[i, i] = 1``).
    """
    L = np.asarray(labels)
    if L.ndim != 2 or L.shape[0] == 0:
        raise ValueError(f"labels must have shape (n_runs, n_items); got {L.shape}")
    n = L.shape[1]
    C = np.zeros((n, n), dtype=np.float64)
    for run in L:
        C += run[:, None] == run[None, :]
    C /= L.shape[0]
    return C


def cophenetic_correlation(C):
    """Brunet et al.'s cophenetic correlation of a consensus matrix: the Pearson
    correlation between the distances ``1 - C`` and the cophenetic distances of their
    average-linkage tree.  1 when the consensus is perfectly clustered (every entry 0
    or 1, a partition); NaN when there is no variation (e.g. a single item)."""
    from scipy.cluster.hierarchy import cophenet, linkage
    from scipy.spatial.distance import squareform

    C = np.asarray(C, dtype=np.float64)
    if C.shape[0] < 3:
        return float("nan")
    D = squareform(np.clip(1.0 - C, 0.0, None), checks=False)
    if np.ptp(D) == 0:  # one cluster, or all apart: perfectly stable
        return 1.0
    c, _ = cophenet(linkage(D, method="average"), D)
    return float(c)


def dispersion(C):
    """Kim & Park's (2007) dispersion of a consensus matrix, ``mean 4 (C - 1/2)^2``:
    1 when every entry is 0 or 1, lower as the clustering varies between runs."""
    C = np.asarray(C, dtype=np.float64)
    return float(np.mean(4.0 * (C - 0.5) ** 2))


# ------------------------------------------------------------------ hold-outs
