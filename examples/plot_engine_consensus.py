"""
A consensus front end on ``fastnmf.engine``
===========================================

``fastnmf.engine`` is the way in for code that manages its own fits. This example
builds a small consensus-clustering front end on it (Brunet et al., 2004): several
restarts of NMF from random ``W`` and ``H`` on scikit-learn's bundled digits, each run
with ``engine.solve``; every restart assigns each image to the component with its
largest coefficient; the consensus matrix holds how often two images were assigned
together, and its cophenetic correlation says how stable that clustering is (1 for
a clustering that never changes).
"""

import time

import matplotlib.pyplot as plt
import numpy as np
from scipy.cluster.hierarchy import fcluster, leaves_list, linkage
from scipy.spatial.distance import squareform
from sklearn.datasets import load_digits
from sklearn.metrics import adjusted_rand_score

import fastnmf
from fastnmf import engine

digits = load_digits()
X, y = digits.data, digits.target
print(f"X: {X.shape[0]} x {X.shape[1]}")

# %%
# The restarts
# ------------
# The front end draws its own starts (scaled as scikit-learn's ``init='random'``)
# from one seeded generator, and runs the coordinate descent on each.

k, n_restarts = 10, 10
rng = np.random.default_rng(0)
scale = np.sqrt(X.mean() / k)
labels, errors = [], []
start = time.perf_counter()
for r in range(n_restarts):
    W0 = scale * np.abs(rng.standard_normal((X.shape[0], k)))
    H0 = scale * np.abs(rng.standard_normal((k, X.shape[1])))
    sol = engine.solve(X, W0, H0, solver="cd", max_iter=1000)
    labels.append(sol.W.argmax(axis=1))
    errors.append(sol.error)
    print(f"restart {r}: {sol.n_iter} iterations, converged={sol.converged}, "
          f"||X - WH||_F = {sol.error:.2f}")
print(f"{n_restarts} restarts in {time.perf_counter() - start:.2f} s; "
      f"errors from {min(errors):.2f} to {max(errors):.2f}")

# %%
# The consensus
# -------------
# ``fastnmf.consensus_matrix`` takes the labels of the restarts (one row each) and
# returns the fraction of restarts in which each pair of images shares a label.

labels = np.array(labels)
C = fastnmf.consensus_matrix(labels)
coph = fastnmf.cophenetic_correlation(C)
disp = fastnmf.dispersion(C)
print(f"consensus matrix {C.shape[0]} x {C.shape[1]}; cophenetic correlation "
      f"{coph:.4f}, dispersion {disp:.4f}")
agree = [adjusted_rand_score(labels[0], labels[r]) for r in range(1, n_restarts)]
print(f"adjusted Rand index of restart 0's labels with each other restart's: "
      f"{min(agree):.3f} to {max(agree):.3f}")

# %%
# Shown as an image, the images ordered as the leaves of the average-linkage tree of
# ``1 - C`` (the tree the cophenetic correlation is computed from): blocks on the
# diagonal are groups of images that the restarts keep together.

tree = linkage(squareform(1.0 - C, checks=False), method="average")
order = leaves_list(tree)
fig, ax = plt.subplots(figsize=(5.5, 5))
im = ax.imshow(C[np.ix_(order, order)], cmap="viridis", vmin=0, vmax=1,
               interpolation="nearest")
fig.colorbar(im, ax=ax, label="fraction of restarts together")
ax.set_title(f"consensus of {n_restarts} restarts, k = {k}\n"
             f"cophenetic correlation {coph:.3f}")
ax.set_xticks([])
ax.set_yticks([])
fig.tight_layout()

# %%
# The consensus and the digits
# ----------------------------
# NMF's components are parts of digits, not digits, so the clusters need not be the
# ten classes. Cutting the tree into ``k`` clusters and comparing them with the
# true digit labels (adjusted Rand index: 1 for the same partition, about 0 for an
# unrelated one), next to a single restart's labels:

clusters = fcluster(tree, k, criterion="maxclust")
print(f"adjusted Rand index with the digit labels: consensus clusters "
      f"{adjusted_rand_score(y, clusters):.3f}; single restarts "
      f"{min(adjusted_rand_score(y, lab) for lab in labels):.3f} to "
      f"{max(adjusted_rand_score(y, lab) for lab in labels):.3f}")

fig, ax = plt.subplots(figsize=(6, 3.2))
table = np.zeros((k, 10))
for c, digit in zip(clusters, y):
    table[c - 1, digit] += 1
ax.imshow(table / table.sum(axis=1, keepdims=True), cmap="Blues", aspect="auto")
ax.set_xticks(range(10))
ax.set_xlabel("digit")
ax.set_yticks(range(k), [f"{int(n)}" for n in table.sum(axis=1)])
ax.set_ylabel("consensus cluster (size)")
ax.set_title("share of each cluster's images by digit")
fig.tight_layout()

plt.show()
