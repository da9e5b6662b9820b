"""Initial W and H: random, NNDSVD and its variants (Boutsidis & Gallopoulos 2008).

The same ``random_state`` gives the same W and H as scikit-learn's NMF, so a
fit that switches ``from sklearn.decomposition import NMF`` to fastnmf starts
from the same point.
"""

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils.extmath import randomized_svd


def default_init(n_components, shape):
    """scikit-learn's rule for ``init=None``."""
    return "nndsvda" if n_components <= min(shape) else "random"


def initialize(X, n_components, init, random_state, eps=1e-6):
    """Return C-contiguous ``W`` (m x k) and ``H`` (k x n) in X's dtype.

    Parameters
    ----------
    X : ndarray of shape (m, n), non-negative float32/float64
    n_components : int
    init : {None, 'random', 'nndsvd', 'nndsvda', 'nndsvdar'}
    random_state : None, int or numpy.random.RandomState
    eps : float
        NNDSVD entries below ``eps`` are set to zero.
    """
    m, n = X.shape
    k = n_components
    if init is None:
        init = default_init(k, X.shape)
    if init != "random" and k > min(m, n):
        raise ValueError(
            f"init={init!r} needs n_components <= min(n_samples, n_features) = "
            f"{min(m, n)}; got n_components={k}. Use init='random' or fewer components"
        )
    if init == "random":
        # mean of |N(0, s^2)| products matches the mean of X: scale sqrt(mean/k)
        scale = np.sqrt(X.mean() / k)
        rng = check_random_state(random_state)
        H = scale * rng.standard_normal(size=(k, n)).astype(X.dtype, copy=False)
        W = scale * rng.standard_normal(size=(m, k)).astype(X.dtype, copy=False)
        np.abs(H, out=H)
        np.abs(W, out=W)
        return np.ascontiguousarray(W), np.ascontiguousarray(H)

    U, S, Vt = randomized_svd(X, k, random_state=random_state)
    W = np.zeros_like(U)
    H = np.zeros_like(Vt)
    # the leading singular pair of a non-negative matrix can be taken non-negative
    W[:, 0] = np.sqrt(S[0]) * np.abs(U[:, 0])
    H[0, :] = np.sqrt(S[0]) * np.abs(Vt[0, :])
    for j in range(1, k):
        u, v = U[:, j], Vt[j, :]
        up, un = np.maximum(u, 0), np.abs(np.minimum(u, 0))
        vp, vn = np.maximum(v, 0), np.abs(np.minimum(v, 0))
        up_n, un_n = np.linalg.norm(up), np.linalg.norm(un)
        vp_n, vn_n = np.linalg.norm(vp), np.linalg.norm(vn)
        pos, neg = up_n * vp_n, un_n * vn_n
        # keep whichever sign pattern carries more of the rank-one term
        if pos > neg:
            a, b, sigma = up / up_n, vp / vp_n, pos
        elif neg > 0:
            a, b, sigma = un / un_n, vn / vn_n, neg
        else:  # nothing of this pair survives the sign split (e.g. X == 0)
            continue
        lam = np.sqrt(S[j] * sigma)
        W[:, j] = lam * a
        H[j, :] = lam * b
    W[W < eps] = 0
    H[H < eps] = 0

    if init == "nndsvda":
        mean = X.mean()
        W[W == 0] = mean
        H[H == 0] = mean
    elif init == "nndsvdar":
        rng = check_random_state(random_state)
        mean = X.mean()
        W[W == 0] = np.abs(mean * rng.standard_normal(size=int((W == 0).sum())) / 100)
        H[H == 0] = np.abs(mean * rng.standard_normal(size=int((H == 0).sum())) / 100)
    elif init != "nndsvd":
        raise ValueError(f"init must be one of {[None, 'random', 'nndsvd', 'nndsvda', 'nndsvdar', 'custom']}; got {init!r}")
    return (np.ascontiguousarray(W, dtype=X.dtype), np.ascontiguousarray(H, dtype=X.dtype))
