"""
A dictionary of parts from patches of a photograph
==================================================

Small square patches cut from a photograph form a non-negative matrix: one patch per
row, one pixel per column. NMF of that matrix learns a dictionary of non-negative
patches, and every patch is approximated by a non-negative combination of them: the
dictionary holds parts (bright spots, pieces of edges and of stripes) rather than
patterns of positive and negative values as principal components would. The image is
scikit-learn's bundled ``china.jpg`` (read with Pillow), converted to grey levels.
"""

import time

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_sample_image
from sklearn.feature_extraction.image import extract_patches_2d, reconstruct_from_patches_2d

from fastnmf import NMF

# %%
# Patches
# -------
# The colour image becomes grey levels in [0, 1] (the usual luma weights), and
# ``extract_patches_2d`` cuts square patches at random places.

rgb = load_sample_image("china.jpg")
gray = rgb @ np.array([0.299, 0.587, 0.114]) / 255.0
side = 10
patches = extract_patches_2d(gray, (side, side), max_patches=3000, random_state=0)
X = patches.reshape(len(patches), -1)
print(f"image {gray.shape[0]} x {gray.shape[1]}; X: {X.shape[0]} patches of "
      f"{side}x{side} = {X.shape[1]} pixels, values {X.min():.3f} to {X.max():.3f}")

# %%
# The dictionary
# --------------
# ``n_components=25``, everything else at fastnmf's defaults except a larger
# ``max_iter``, so that the fit stops by its tolerance.

model = NMF(n_components=25, max_iter=1000, random_state=0)
start = time.perf_counter()
W = model.fit_transform(X)
seconds = time.perf_counter() - start
H = model.components_
rel = model.reconstruction_err_ / np.linalg.norm(X)
print(f"solver {model.solver_!r}: {model.n_iter_} iterations in {seconds:.2f} s, "
      f"||X - WH|| / ||X|| = {rel:.4f}")

# %%
# The components, ordered by how much the patches use them (the sum of each
# column of W times the size of the component), each scaled to its own range:

usage = W.sum(axis=0) * H.sum(axis=1)
order = np.argsort(usage)[::-1]
fig, axes = plt.subplots(5, 5, figsize=(5.5, 5.5))
for ax, j in zip(axes.ravel(), order):
    ax.imshow(H[j].reshape(side, side), cmap="gray", interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
fig.suptitle(f"{H.shape[0]} NMF components of {side}x{side} patches")
fig.tight_layout()

nonzero = (H > 1e-6 * H.max()).mean()
print(f"share of the components' pixels that are nonzero: {nonzero:.0%}")
print(f"share of the entries of W that are nonzero: {(W > 1e-6 * W.max()).mean():.0%}")

# %%
# Rebuilding a part of the photograph
# -----------------------------------
# ``transform`` fits the weights of new patches with the dictionary fixed. Every
# overlapping patch of a crop of the image is approximated from the dictionary,
# and ``reconstruct_from_patches_2d`` averages the overlapping approximations back
# into an image.

crop = gray[150:250, 250:370]
crop_patches = extract_patches_2d(crop, (side, side))
Y = crop_patches.reshape(len(crop_patches), -1)
approx = (model.transform(Y) @ H).reshape(crop_patches.shape)
rebuilt = reconstruct_from_patches_2d(approx, crop.shape)
err = np.linalg.norm(rebuilt - crop) / np.linalg.norm(crop)
print(f"crop {crop.shape[0]} x {crop.shape[1]}: {len(Y)} overlapping patches; "
      f"relative error of the rebuilt crop: {err:.4f}")

fig, axes = plt.subplots(1, 2, figsize=(8, 3.6))
for ax, img, title in ((axes[0], crop, "crop of the photograph"),
                       (axes[1], rebuilt, f"rebuilt from {H.shape[0]} parts")):
    ax.imshow(img, cmap="gray", vmin=0, vmax=1)
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
fig.tight_layout()

plt.show()
