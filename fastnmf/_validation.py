"""Input and parameter checks, done once at the boundary.

Every message names the parameter, shows what was given and says what is
allowed.  Nothing here modifies the caller's arrays: conversions copy.
"""

import numbers

import numpy as np
import scipy.sparse as sp
from sklearn.utils import check_random_state

_BLOCK_ELEMS = 1 << 20  # elements per block when scanning large arrays


class ComplexDataError(TypeError, ValueError):
    """Complex X, W or H: a TypeError (a dtype we do not take) that is also the
    ValueError scikit-learn raises for complex data, so code catching either works."""


def _whom(name):
    """How scikit-learn names an input in its messages ('NMF (input H)'); fastnmf's
    messages start with scikit-learn's phrase, so code matching it keeps working."""
    return f"NMF (input {name})"


def _check_dtype_kind(dtype, name):
    if dtype.kind == "c":
        raise ComplexDataError(
            f"Complex data not supported: {name} must have a real numeric dtype (bool, int, "
            f"uint, float); got dtype {dtype}"
        )
    if dtype.kind not in "biuf":
        raise TypeError(
            f"{name} must have a real numeric dtype (bool, int, uint, float); got dtype {dtype}"
        )


def _check_not_empty(shape, name):
    if shape[0] == 0 or shape[1] == 0:
        what = "sample(s)" if shape[0] == 0 else "feature(s)"
        raise ValueError(
            f"{name} must have at least one row and one column; got shape {shape}: found "
            f"array with 0 {what} (shape={shape}) while a minimum of 1 is required by NMF."
        )


def _float_dtype(dtype):
    """float32 stays float32; everything else numeric becomes float64."""
    return np.float32 if dtype == np.float32 else np.float64


def check_matrix(X, name="X", allow_nan=False):
    """Return ``X`` as a 2-D float32/float64 ndarray that is C- or F-contiguous.

    The input is returned as is (no copy) when it already is such an array;
    otherwise it is converted (a copy).  The caller's data is never written to.
    ``allow_nan``: NaN entries (missing values) pass; infinities never do.
    """
    if sp.issparse(X):
        return _check_sparse(X, name, allow_nan)
    if isinstance(X, (str, bytes)) or X is None:
        raise TypeError(f"{name} must be a 2-D array-like of numbers; got {X!r}")
    if hasattr(X, "to_numpy") and not isinstance(X, np.ndarray):  # pandas & co
        X = X.to_numpy()
    try:
        arr = np.asarray(X)
    except Exception as exc:
        raise TypeError(f"{name} could not be converted to an array: {exc}") from None
    kind = arr.dtype.kind
    if kind == "O":
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"{name} must contain only numbers; got an object array that cannot be "
                f"converted to float ({exc})"
            ) from None
        kind = "f"
    _check_dtype_kind(arr.dtype, name)
    if arr.ndim != 2:
        hint = (". Reshape your data with .reshape(1, -1) if it is one sample or "
                ".reshape(-1, 1) if it is one feature" if arr.ndim == 1 else "")
        raise ValueError(f"{name} must be a 2-D array; got {arr.ndim}-D with shape {arr.shape}{hint}")
    _check_not_empty(arr.shape, name)
    dtype = _float_dtype(arr.dtype)
    if arr.dtype != dtype or not (arr.flags.c_contiguous or arr.flags.f_contiguous):
        arr = np.ascontiguousarray(arr, dtype=dtype)
    _check_finite_nonnegative(arr, name, allow_nan=allow_nan)
    return arr


def _check_sparse(X, name, allow_nan=False):
    """Return a canonical CSR float32/float64 copy or view of a scipy.sparse X.

    CSR input of the right dtype without duplicate entries is used as it is;
    anything else is converted (a copy of O(nnz)); duplicate entries are summed,
    as scipy does.  Never densifies, never writes to the caller's matrix.
    """
    _check_dtype_kind(X.dtype, name)
    if X.ndim != 2:
        raise ValueError(f"{name} must be a 2-D matrix; got shape {X.shape}")
    _check_not_empty(X.shape, name)
    dtype = _float_dtype(X.dtype)
    if X.format == "csr" and X.dtype == dtype and X.has_canonical_format:
        csr = X
    else:
        csr = X.tocsr(copy=True).astype(dtype, copy=False)
        if not csr.has_canonical_format:
            if csr is X:  # pragma: no cover - tocsr(copy=True) copies
                csr = csr.copy()
            csr.sum_duplicates()
    if csr.nnz:
        _check_finite_nonnegative(csr.data.reshape(1, -1), name, sparse=True, allow_nan=allow_nan)
    return csr


def _blocks(arr):
    """Yield 2-D row blocks of a C-contiguous view of ``arr`` (no copies)."""
    a = arr if arr.flags.c_contiguous else arr.T
    step = max(1, _BLOCK_ELEMS // max(1, a.shape[1]))
    for start in range(0, a.shape[0], step):
        yield a[start:start + step]


def _check_finite_nonnegative(arr, name, sparse=False, allow_nan=False):
    # min and max propagate NaN, and an infinity shows in one of them: two fast
    # passes, no temporaries; the slow counting runs only to write the message.
    lo, hi = arr.min(), arr.max()
    if not (np.isfinite(lo) and np.isfinite(hi)):
        n_nan = sum(int(np.isnan(b).sum()) for b in _blocks(arr))
        n_inf = sum(int(np.isinf(b).sum()) for b in _blocks(arr))
        if n_inf or not allow_nan:
            hint = ("" if allow_nan or not n_nan else
                    "; to fit only the observed entries of a sparse X (absent and NaN entries "
                    "unknown) use missing='unobserved'" if sparse else "")
            raise ValueError(
                f"{name} must contain only finite values; found {n_nan} NaN and "
                f"{n_inf} infinite {'stored ' if sparse else ''}entries{hint}"
            )
        # NaN are missing values: the smallest of the others (fmin skips NaN)
        lo = min(float(np.fmin.reduce(b, axis=None)) for b in _blocks(arr))
    if lo < 0:
        negative = f"Negative values in data passed to {_whom(name)}: {name} must be non-negative"
        if sparse:
            raise ValueError(f"{negative}; found minimum stored value {float(lo)!r}")
        where = np.argwhere(arr == lo)[0]  # error path only (argmin would stop at a NaN)
        raise ValueError(
            f"{negative}; found minimum value {float(lo)!r} at index "
            f"{tuple(int(i) for i in where)}"
        )


def squared_norm(arr):
    """``||arr||_F^2`` accumulated in float64, block by block (no full-size temporary); a
    factor held elsewhere (``fastnmf.distributed.blocks.BlockFactor``) computes its own."""
    if hasattr(arr, "squared_norm"):
        return arr.squared_norm()
    return dot64(arr, arr)


def dot64(a, b):
    """``<a, b>`` (Frobenius inner product) in float64, in blocks of
    :data:`_BLOCK_ELEMS` elements, so that float32 input is upcast a block at a
    time.  Sparse input: the product of the stored values (``a`` and ``b`` must
    then be the same matrix)."""
    same = a is b
    if sp.issparse(a):
        a = b = a.data
        same = True
    order = "K" if same else "C"  # the same array: any order pairs elements right
    a = np.ravel(a, order=order)
    b = a if same else np.ravel(b, order=order)
    if a.dtype == np.float64 and b.dtype == np.float64:
        return float(np.dot(a, b))
    total = 0.0
    for start in range(0, a.shape[0], _BLOCK_ELEMS):
        stop = start + _BLOCK_ELEMS
        total += float(np.dot(a[start:stop].astype(np.float64), b[start:stop].astype(np.float64)))
    return total


def check_factor(A, name, shape, dtype):
    """Validate a user-given W or H and return a private C-contiguous copy
    (in ``dtype``, X's: a W or H of another dtype is converted, where scikit-learn
    raises a TypeError)."""
    arr = check_matrix(A, name)
    shape = tuple(shape)
    if arr.shape != shape:
        axis = "first" if arr.shape[0] != shape[0] else "second"
        i = 0 if axis == "first" else 1
        raise ValueError(
            f"Array with wrong {axis} dimension passed to {_whom(name)}. Expected "
            f"{shape[i]}, but got {arr.shape[i]}: {name} must have shape {shape}; got {arr.shape}"
        )
    if not arr.max() > 0:  # finite and non-negative already
        raise ValueError(
            f"Array passed to {_whom(name)} is full of zeros: {name} must have a positive "
            f"entry (W @ H would be zero, and the solvers cannot move from there)"
        )
    return np.array(arr, dtype=dtype, order="C", copy=True)


# ----------------------------------------------------------------- parameters

def _is_int(v):
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _is_real(v):
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def check_int(value, name, low, allowed=None):
    allowed = allowed or f"an int >= {low}"
    if not _is_int(value):
        raise TypeError(f"{name} must be {allowed}; got {value!r}")
    if value < low:
        raise ValueError(f"{name} must be {allowed}; got {value!r}")
    return int(value)


def check_real(value, name, low=None, high=None):
    rng = f"in [{low}, {high}]" if high is not None else f">= {low}"
    if not _is_real(value):
        raise TypeError(f"{name} must be a real number {rng}; got {value!r}")
    value = float(value)
    if not np.isfinite(value) or (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{name} must be a real number {rng}; got {value!r}")
    return value


def check_option(value, name, options):
    if value is None and None in options:
        return value
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"{name} must be one of {list(options)}; got {value!r}")
    return value


INITS = (None, "random", "nndsvd", "nndsvda", "nndsvdar", "custom")
SOLVERS = ("auto", "cd", "mu", "emu", "hals", "ehals", "pgd", "als")
#: Solvers that minimise the Frobenius loss only.
FROBENIUS_ONLY = ("hals", "ehals", "pgd", "als")


def beta_loss_to_float(beta_loss):
    """'frobenius' -> 2.0, 'kullback-leibler' -> 1.0, 'itakura-saito' -> 0.0, a real -> itself."""
    names = {"frobenius": 2.0, "kullback-leibler": 1.0, "itakura-saito": 0.0}
    if isinstance(beta_loss, str):
        if beta_loss not in names:
            raise ValueError(
                f"beta_loss must be one of {list(names)} or a real number; got {beta_loss!r}"
            )
        return names[beta_loss]
    if _is_real(beta_loss):
        beta = float(beta_loss)
        if not np.isfinite(beta):
            raise ValueError(f"beta_loss must be a finite real number; got {beta_loss!r}")
        return beta
    raise TypeError(f"beta_loss must be a string or a real number; got {beta_loss!r}")


def check_alphas(alpha_W, alpha_H):
    """``alpha_W`` (a real >= 0 or 'auto') and ``alpha_H`` (a real >= 0 or 'same'), checked:
    a dict of ``alpha_W``, ``alpha_H`` (floats, 0.0 for 'auto') and ``alpha_W_auto``,
    ``alpha_H_auto``.  'auto' is no penalty without unknown entries and
    :func:`fastnmf.solvers.penalty.auto_alpha` with them."""
    p = {"alpha_W_auto": isinstance(alpha_W, str) and alpha_W == "auto"}
    if isinstance(alpha_W, str) and not p["alpha_W_auto"]:
        raise ValueError(f"alpha_W must be a real number >= 0.0 or 'auto'; got {alpha_W!r}")
    p["alpha_W"] = 0.0 if p["alpha_W_auto"] else check_real(alpha_W, "alpha_W", low=0.0)
    if isinstance(alpha_H, str):
        check_option(alpha_H, "alpha_H", ("same",))
        p["alpha_H"], p["alpha_H_auto"] = p["alpha_W"], p["alpha_W_auto"]
    else:
        p["alpha_H"], p["alpha_H_auto"] = check_real(alpha_H, "alpha_H", low=0.0), False
    return p


def check_n_components(n):
    """``n_components``: an int >= 1, or 'auto' / None as given."""
    allowed = "an int >= 1, 'auto' or None"
    if n is None or (isinstance(n, str) and n == "auto"):
        return n
    if isinstance(n, str):
        raise ValueError(f"n_components must be {allowed}; got {n!r}")
    return check_int(n, "n_components", 1, allowed)


def check_cd_beta(solver, beta, beta_loss):
    """solver='cd' runs the Frobenius (2) and Kullback-Leibler (1) losses only."""
    if solver == "cd" and beta not in (1.0, 2.0):
        raise ValueError(
            f"beta_loss={beta_loss!r} is not supported by solver='cd', which handles "
            "'frobenius' (2) and 'kullback-leibler' (1); use solver='mu' for other beta values"
        )


def check_params(est):
    """Validate the estimator's hyper-parameters; return them normalised."""
    p = {}
    p["n_components"] = check_n_components(est.n_components)
    p["init"] = check_option(est.init, "init", INITS)
    p["solver"] = check_option(est.solver, "solver", SOLVERS)
    p["beta_loss"] = beta_loss_to_float(est.beta_loss)
    check_cd_beta(p["solver"], p["beta_loss"], est.beta_loss)
    if p["solver"] in FROBENIUS_ONLY and p["beta_loss"] != 2.0:
        raise ValueError(
            f"beta_loss={est.beta_loss!r} is not supported by solver={est.solver!r}, which "
            "minimises the Frobenius loss only; use solver='cd' (KL) or 'mu' (any beta), or 'auto'"
        )
    if p["solver"] == "emu" and p["beta_loss"] == 2.0:
        raise ValueError(
            "beta_loss='frobenius' (2) is not supported by solver='emu', the over-relaxed "
            "multiplicative updates of the other beta-divergences; use solver='cd', 'hals' or "
            "'mu' (or 'auto') for the Frobenius loss"
        )
    p["tol"] = check_real(est.tol, "tol", low=0.0)
    p["max_iter"] = check_int(est.max_iter, "max_iter", 1)
    p.update(check_alphas(est.alpha_W, est.alpha_H))
    p["l1_ratio"] = check_real(est.l1_ratio, "l1_ratio", low=0.0, high=1.0)
    if not isinstance(est.verbose, (numbers.Integral, np.bool_)) or est.verbose < 0:
        raise ValueError(f"verbose must be a non-negative int or bool; got {est.verbose!r}")
    p["verbose"] = int(est.verbose)
    try:
        check_random_state(est.random_state)
    except ValueError:
        raise ValueError(
            "random_state must be None, an int or a numpy.random.RandomState; "
            f"got {est.random_state!r}"
        ) from None
    if not isinstance(est.shuffle, (bool, np.bool_)):
        raise TypeError(f"shuffle must be a bool; got {est.shuffle!r}")
    p["shuffle"] = bool(est.shuffle)
    p["n_init"] = check_int(getattr(est, "n_init", 1), "n_init", 1)
    callback = getattr(est, "callback", None)
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be None or a callable taking one argument; got {callback!r}")
    p["callback"] = callback
    for name in ("progress", "warm_start"):
        value = getattr(est, name, False)
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{name} must be a bool; got {value!r}")
        p[name] = bool(value)
    return p


def check_frozen(frozen, k):
    """``frozen_components`` as a sorted intp array of distinct indices in [0, k), or None.

    Accepts indices (negative ones count from the end) or a boolean mask of length k.
    """
    if frozen is None:
        return None
    what = (f"frozen_components must be None, a list of component indices in [0, {k}) or a "
            f"boolean mask of length {k}")
    arr = np.asarray(frozen)
    if arr.ndim != 1 or arr.dtype.kind not in "biu":
        raise TypeError(f"{what}; got {frozen!r}")
    if arr.dtype.kind == "b":
        if arr.shape[0] != k:
            raise ValueError(f"{what}; got a boolean mask of length {arr.shape[0]}")
        idx = np.flatnonzero(arr)
    else:
        if arr.size and (arr.min() < -k or arr.max() >= k):
            raise ValueError(f"{what}; got {frozen!r}")
        idx = np.unique(np.where(arr < 0, arr + k, arr))
        if idx.size != arr.size:
            raise ValueError(f"{what}; got repeated indices {frozen!r}")
    if idx.size == k:
        raise ValueError(f"{what}, not all of them: with every component frozen there is "
                         "nothing to fit in H (use non_negative_factorization(update_H=False))")
    return idx.astype(np.intp) if idx.size else None
