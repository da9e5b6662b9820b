"""
Consensus components from many seeds with ``fit_many``
======================================================

NMF from a random start finds a different local optimum for each seed. Consensus NMF
(the approach of cNMF, Kotliar et al. 2019) fits the same data many times, clusters
the components of all the runs, and keeps the median of each cluster: components that
come back from most seeds are kept, the ones a single run made up are averaged away.
The stability of that clustering across ranks helps choose the rank.

:func:`fastnmf.fit_many` does the many fits in one call: X is validated once and the
fits run side by side, one per core. Here the data are scikit-learn's bundled 8x8
digits (1797 images), fitted with cNMF's settings (Frobenius loss, coordinate descent,
random starts, up to 1000 iterations).
"""

import time

import matplotlib.pyplot as plt
import numpy as np
from sklearn.cluster import KMeans
from sklearn.datasets import load_digits
from sklearn.metrics import silhouette_score

import fastnmf

X = load_digits().data
print(f"X: {X.shape[0]} images x {X.shape[1]} pixels")

# %%
# Many seeds at several ranks
# ---------------------------
# Twelve seeds at each of three ranks, drawn from ``random_state=0``. Only the
# components are needed for the consensus, so ``keep='H'`` lets each run's W go as
# soon as its fit ends (W is images x rank per run: the part of the memory that grows
# with the data).

ranks = [6, 10, 14]
start = time.perf_counter()
batch = fastnmf.fit_many(X, ranks, n_runs=12, random_state=0, keep="H", solver="cd",
                         max_iter=1000, tol=1e-4)
print(f"{len(batch)} fits in {time.perf_counter() - start:.2f} s, "
      f"{batch.n_jobs} side by side\n")
print(batch)

# %%
# Each run is the single fit of its seed: refitting one alone gives the same factors.

run = batch.runs_of(10)[3]
alone = fastnmf.NMF(10, init="random", random_state=run.seed, solver="cd", max_iter=1000,
                    tol=1e-4, n_threads=1).fit(X)
print(f"run of seed {run.seed}: same H as the fit alone: "
      f"{np.array_equal(alone.components_, run.H)}")

# %%
# Clustering the components
# -------------------------
# At each rank the components of the 12 runs, scaled to unit norm, are clustered with
# k-means into ``rank`` clusters; the silhouette score says how tightly each component
# sits in its cluster (1: every run found the same components). The consensus component
# of a cluster is the median of its members.


def consensus(batch, k):
    C = batch.components(k, normalize=True)  # (runs * k) x pixels
    km = KMeans(n_clusters=k, n_init=10, random_state=0).fit(C)
    H = np.vstack([np.median(C[km.labels_ == c], axis=0) for c in range(k)])
    sizes = np.bincount(km.labels_, minlength=k)
    return H, silhouette_score(C, km.labels_), sizes


stability, error = {}, {}
for k in ranks:
    H, stability[k], sizes = consensus(batch, k)
    # how well the consensus components explain X: W refitted with H fixed
    W, _, _ = fastnmf.non_negative_factorization(X, H=H, n_components=k, update_H=False)
    error[k] = np.linalg.norm(X - W @ H)
    best = batch.best(k)
    print(f"rank {k:2d}: silhouette {stability[k]:.3f}, cluster sizes {sizes.min()}-{sizes.max()} "
          f"(runs: {len(batch.seeds)}), consensus error {error[k]:.1f}, "
          f"best single run {best.reconstruction_err:.1f}")

# %%
# The consensus components of rank 10, each the median of a cluster of components from
# different seeds.

H10, _, _ = consensus(batch, 10)
fig, axes = plt.subplots(2, 5, figsize=(7, 3.2))
for h, ax in zip(H10, axes.ravel()):
    ax.imshow(h.reshape(8, 8), cmap="gray_r")
    ax.set_xticks([])
    ax.set_yticks([])
fig.suptitle("Consensus components at rank 10")

# %%
# The choice of rank: stability against error, the plot cNMF draws. A rank whose
# components most seeds recover has a high silhouette; the error falls with every rank.

fig, ax = plt.subplots(figsize=(5.5, 3.6))
ax.plot(ranks, [stability[k] for k in ranks], "o-", color="C0")
ax.set_xlabel("rank")
ax.set_ylabel("silhouette of the components", color="C0")
ax2 = ax.twinx()
ax2.plot(ranks, [error[k] for k in ranks], "s--", color="C1")
ax2.set_ylabel("consensus error ||X - WH||", color="C1")
fig.tight_layout()
plt.show()
