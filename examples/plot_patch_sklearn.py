"""
scikit-learn code on fastnmf, unchanged: ``patch_sklearn``
==========================================================

Code written for scikit-learn (a package, a pipeline, a front end such as cNMF) names
``sklearn.decomposition.NMF`` or ``non_negative_factorization`` itself.
``fastnmf.sklearn_patched()`` runs those names on fastnmf for the block it encloses, with
scikit-learn's defaults, so the code gets the answer it asked for, sooner; on the way out
scikit-learn's own objects are back. ``fastnmf.patch_sklearn()`` does the same until
``fastnmf.unpatch_sklearn()``.

The data: a TF-IDF matrix of the docstrings of numpy's and scipy's public functions
(real text installed with them).
"""

import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning

import fastnmf
from fastnmf._cli import load_docstrings_tfidf

warnings.simplefilter("ignore", ConvergenceWarning)
X, words, _ = load_docstrings_tfidf()
print(f"X: {X.shape[0]} docstrings x {X.shape[1]} words, {X.nnz} stored entries")


# %%
# Code that knows only scikit-learn
# ---------------------------------
# A function as a package would write it: it imports scikit-learn's names itself. Two
# fits: the estimator with KL loss (multiplicative updates, scikit-learn's only solver
# for it) and the function with the Frobenius loss (coordinate descent).

def topics(X, k):
    from sklearn.decomposition import NMF, non_negative_factorization

    model = NMF(k, beta_loss="kullback-leibler", solver="mu", init="nndsvda",
                max_iter=30, random_state=0)
    W_kl = model.fit_transform(X)
    W, H, n_iter = non_negative_factorization(X, n_components=k, init="nndsvda",
                                              random_state=0)
    return model.components_, W_kl, H, W, type(model).__module__


def timed(run):
    start = time.perf_counter()
    out = run()
    return time.perf_counter() - start, out


# %%
# The same call, with and without the patch
# -----------------------------------------
# Alternated and repeated (the faster of two runs is kept), as this machine is shared.

plain, patched = [], []
for _ in range(2):
    plain.append(timed(lambda: topics(X, 10)))
    with fastnmf.sklearn_patched():
        patched.append(timed(lambda: topics(X, 10)))
t_sk, (H_kl_sk, W_kl_sk, H_sk, W_sk, where_sk) = min(plain, key=lambda r: r[0])
t_fn, (H_kl_fn, W_kl_fn, H_fn, W_fn, where_fn) = min(patched, key=lambda r: r[0])
print(f"without the patch: NMF from {where_sk}, {t_sk:.2f} s")
print(f"with the patch:    NMF from {where_fn}, {t_fn:.2f} s  ({t_sk / t_fn:.1f}x faster)")
print("after the block:", fastnmf.sklearn_is_patched())

# %%
# The same answer
# ---------------
# The patched names run the solver the caller named from the same start: the
# iterates of scikit-learn's, to rounding.


def rel(a, b):
    return float(np.abs(a - b).max() / np.abs(b).max())


print(f"KL (mu) components:        max relative difference {rel(H_kl_fn, H_kl_sk):.1e}")
print(f"Frobenius (cd) components: max relative difference {rel(H_fn, H_sk):.1e}")

fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
for ax, (a, b, title) in zip(axes, [(H_kl_sk, H_kl_fn, "KL, solver='mu'"),
                                   (H_sk, H_fn, "Frobenius, solver='cd'")]):
    ax.loglog(b.ravel() + 1e-12, a.ravel() + 1e-12, ".", ms=2)
    ax.set_xlabel("H with the patch (fastnmf)")
    ax.set_ylabel("H without (scikit-learn)")
    ax.set_title(title)
fig.tight_layout()
plt.show()

# %%
# The topics, from the patched run:

for i, row in enumerate(H_fn):
    print(f"topic {i + 1:2d}:", ", ".join(words[j] for j in np.argsort(row)[::-1][:8]))
