"""
Parts of handwritten digits, next to scikit-learn
=================================================

Non-negative matrix factorization writes each image as a sum of non-negative parts.
On scikit-learn's bundled digits (8x8 grey-level images, one per row) the parts are
pieces of strokes. This example fits ``fastnmf.NMF`` and ``sklearn.decomposition.NMF``
from the same start (``init='nndsvda'``, ``random_state=0``) with scikit-learn's
coordinate descent, shows the components of both as images, and prints the final loss
and the time of each whole call.
"""

import time

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import NMF as SklearnNMF

from fastnmf import NMF

# %%
# The data
# --------
# One image per row, one pixel per column, grey levels from 0 to 16: a dense
# non-negative matrix.

digits = load_digits()
X = digits.data
print(f"X: {X.shape[0]} x {X.shape[1]}, values {X.min():g} to {X.max():g}")

# %%
# Two fits from the same start
# ----------------------------
# Both estimators take the same parameters. ``solver='cd'`` names scikit-learn's
# coordinate descent, so fastnmf runs the same iterates and both should stop after
# the same number of iterations at the same loss, up to rounding. ``max_iter`` is
# raised above the default so that both fits stop by their tolerance, not by the
# iteration limit. Each whole call (initialization included) is timed with
# ``time.perf_counter``.

params = dict(n_components=16, init="nndsvda", solver="cd", max_iter=1000, random_state=0)

fits = {}
for name, Estimator in (("fastnmf", NMF), ("scikit-learn", SklearnNMF)):
    model = Estimator(**params)
    start = time.perf_counter()
    W = model.fit_transform(X)
    seconds = time.perf_counter() - start
    fits[name] = (model, W, seconds)
    err = model.reconstruction_err_
    print(f"{name:>12}: {model.n_iter_} iterations, ||X - WH||_F = {err:.6f} "
          f"(loss 0.5 ||X - WH||_F^2 = {0.5 * err**2:.6f}), {seconds:.3f} s")

fn_model, fn_W, fn_s = fits["fastnmf"]
sk_model, sk_W, sk_s = fits["scikit-learn"]
fn_err, sk_err = fn_model.reconstruction_err_, sk_model.reconstruction_err_
rel = abs(fn_err - sk_err) / sk_err
diff_H = (np.abs(fn_model.components_ - sk_model.components_).max()
          / np.abs(sk_model.components_).max())
print(f"relative difference of the final errors: {rel:.1e}")
print(f"largest difference between the two H, relative to H's largest entry: {diff_H:.1e}")
print(f"time ratio (scikit-learn / fastnmf): {sk_s / fn_s:.1f}")

# %%
# The times above are from one run of each on the machine that built this page,
# which may have been busy with other work: they are noisy, and the ratio
# between them changes from run to run. ``benchmarks/corpus.py`` in the
# repository repeats such fits and reports medians.
#
# The parts
# ---------
# Each row of ``components_`` is a part, shown as an 8x8 image. The two rows of
# images come from the two libraries.

fig, axes = plt.subplots(2, 16, figsize=(12, 2.2))
for row, name in enumerate(fits):
    H = fits[name][0].components_
    for j, ax in enumerate(axes[row]):
        ax.imshow(H[j].reshape(8, 8), cmap="gray_r", interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
    axes[row, 0].set_ylabel(name, rotation=0, ha="right", va="center")
fig.suptitle("The 16 components of the digits: fastnmf (top), scikit-learn (bottom)")
fig.tight_layout()

# %%
# How the images are put together
# --------------------------------
# A digit is approximated by ``W[i] @ H``: its row of ``W`` says how much of each
# part it uses. Below, a few digits next to their approximation and the three
# parts with the largest weight in each.

idx = [0, 1, 2, 3]
fig, axes = plt.subplots(len(idx), 5, figsize=(6, 1.4 * len(idx)))
H = fn_model.components_
for r, i in enumerate(idx):
    top = np.argsort(fn_W[i])[::-1][:3]
    panels = [(X[i], "digit"), (fn_W[i] @ H, "W[i] @ H")]
    panels += [(fn_W[i, j] * H[j], f"part {j}") for j in top]
    for ax, (img, title) in zip(axes[r], panels):
        ax.imshow(img.reshape(8, 8), cmap="gray_r", interpolation="nearest",
                  vmin=0, vmax=X.max())
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(title, fontsize=8)
fig.tight_layout()
for i in idx:
    top = np.argsort(fn_W[i])[::-1][:3]
    share = fn_W[i, top].sum() / fn_W[i].sum()
    print(f"image {i} (a {digits.target[i]}): parts {', '.join(map(str, top))}; their weights "
          f"are {share:.0%} of the sum of W[{i}]")

plt.show()
