"""MovieLens 100k ratings, read from the copy shipped inside the RecBole wheel.

Benchmark-only dependency (no download at run time): ``pip install --no-deps recbole``
(RecBole 1.2.1 ships ``recbole/dataset_example/ml-100k/ml-100k.inter``, 100,000 ratings
1-5 of 1682 movies by 943 users; its dependencies, torch among them, are not needed to
read the file, and the package is never imported here).

    >>> from benchmarks.ratings import load_ratings      # doctest: +SKIP
    >>> X, description = load_ratings()                  # CSR users x items, float64
"""

import importlib.util
import os

import numpy as np
import scipy.sparse as sp

RELATIVE = os.path.join("dataset_example", "ml-100k", "ml-100k.inter")


def ratings_path():
    """Where the installed RecBole package keeps ml-100k.inter (the package is located,
    not imported: importing it would import torch)."""
    spec = importlib.util.find_spec("recbole")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the MovieLens 100k ratings come from the RecBole wheel: "
                          "pip install --no-deps recbole")
    for root in spec.submodule_search_locations:
        path = os.path.join(root, RELATIVE)
        if os.path.exists(path):
            return path
    raise FileNotFoundError(f"recbole is installed but has no {RELATIVE}")


def load_ratings(dtype=np.float64):
    """``(X, description)``: X the users x items CSR matrix of ratings (stored entries
    are the ratings given, 1-5; absent entries are unknown, for
    ``NMF(missing='unobserved')``), rows and columns in the order of the sorted
    original ids; description a one-line summary."""
    path = ratings_path()
    # header "user_id:token item_id:token rating:float timestamp:float", tab separated
    raw = np.loadtxt(path, delimiter="\t", skiprows=1, usecols=(0, 1, 2))
    users, u = np.unique(raw[:, 0].astype(np.int64), return_inverse=True)
    items, i = np.unique(raw[:, 1].astype(np.int64), return_inverse=True)
    X = sp.csr_matrix((raw[:, 2].astype(dtype), (u, i)), shape=(len(users), len(items)))
    X.sum_duplicates()
    X.sort_indices()
    desc = (f"MovieLens 100k (RecBole {RELATIVE}): {X.shape[0]} users x {X.shape[1]} items, "
            f"{X.nnz} ratings {X.data.min():g}-{X.data.max():g}, density {X.nnz / np.prod(X.shape):.2%}")
    return X, desc


if __name__ == "__main__":
    X, desc = load_ratings()
    print(desc)
    cnt_u, cnt_i = np.diff(X.indptr), np.bincount(X.indices, minlength=X.shape[1])
    print(f"ratings per user: min {cnt_u.min()}, median {np.median(cnt_u):g}; per item: min "
          f"{cnt_i.min()}, median {np.median(cnt_i):g}, {np.sum(cnt_i < 32)} items with < 32")
