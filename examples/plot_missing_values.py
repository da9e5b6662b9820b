"""
Filling in hidden pixels
========================

NaN entries of a dense X are unknown to ``fastnmf.NMF`` (``missing='nan'``, the
default): the fit uses only the observed entries, and ``W @ H`` then gives a value for
every entry, the unknown ones included. This example hides a random part of the pixels
of scikit-learn's bundled digits, fits the rest, and compares the filled-in pixels with
the hidden truth.
"""

import time

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits

from fastnmf import NMF

# %%
# Hiding entries
# --------------
# Each entry is hidden independently with probability ``hidden_fraction``. The
# truth is kept aside to score the predictions.

X = load_digits().data
rng = np.random.default_rng(0)
hidden_fraction = 0.3
hidden = rng.random(X.shape) < hidden_fraction
X_holes = np.where(hidden, np.nan, X)
print(f"X: {X.shape[0]} x {X.shape[1]}, values {X.min():g} to {X.max():g}; "
      f"{hidden.sum()} entries hidden ({hidden.mean():.1%}), set to NaN")

# %%
# The fit
# -------
# The estimator needs nothing else: NaN means unknown by default. Its loss and
# ``reconstruction_err_`` are sums over the observed entries only.

model = NMF(n_components=16, random_state=0)
start = time.perf_counter()
W = model.fit_transform(X_holes)
seconds = time.perf_counter() - start
filled = W @ model.components_
print(f"solver {model.solver_!r}, {model.n_iter_} iterations, {seconds:.2f} s; "
      f"n_missing_ = {model.n_missing_}")

# %%
# The error on the hidden entries
# -------------------------------
# The root mean squared error of ``W @ H`` at the hidden entries, against the
# truth, next to two simple guesses: each pixel's mean over the images where it is
# observed, and NMF of the matrix with the hidden entries replaced by those means
# (given a larger ``max_iter``, so that it too stops by its tolerance, not by the
# iteration limit).


def rmse(estimate):
    return np.sqrt(np.mean((estimate[hidden] - X[hidden]) ** 2))


column_means = np.nanmean(X_holes, axis=0)
mean_guess = np.where(hidden, column_means, X)
imputer = NMF(n_components=16, max_iter=1000, random_state=0)
imputed_nmf = imputer.fit_transform(mean_guess) @ imputer.components_
print(f"NMF after mean imputation: {imputer.n_iter_} iterations")
observed_rmse = np.sqrt(np.mean((filled[~hidden] - X[~hidden]) ** 2))
print(f"RMSE on the hidden entries, NMF of the observed entries: {rmse(filled):.3f}")
print(f"RMSE on the hidden entries, each pixel's observed mean:  {rmse(mean_guess):.3f}")
print(f"RMSE on the hidden entries, NMF after mean imputation:   {rmse(imputed_nmf):.3f}")
print(f"RMSE on the observed entries (the fit itself):          {observed_rmse:.3f}")

# %%
# A few digits
# ------------
# Top: the original images. Middle: what the fit saw (hidden pixels in red).
# Bottom: the observed pixels kept and the hidden ones filled in from ``W @ H``.

show = np.arange(8)
completed = np.where(hidden, np.clip(filled, 0, None), X)
cmap = plt.get_cmap("gray_r").copy()
cmap.set_bad("tab:red")
fig, axes = plt.subplots(3, len(show), figsize=(9, 3.8))
for c, i in enumerate(show):
    for r, img in enumerate((X[i], X_holes[i], completed[i])):
        ax = axes[r, c]
        ax.imshow(img.reshape(8, 8), cmap=cmap, vmin=0, vmax=16, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
for r, label in enumerate(("original", "with holes", "filled in")):
    axes[r, 0].set_ylabel(label)
fig.tight_layout()

# %%
# How the error on the hidden entries is spread over the pixel values: the
# filled-in value against the truth, for every hidden entry (the true values are
# integers, spread sideways a little to be seen), with the mean filled-in value at
# each true value. A low-rank fit pulls the extremes towards the middle: compare the
# means printed below with the true values.

fig, ax = plt.subplots(figsize=(4.5, 4))
truth = X[hidden]
guess = filled[hidden]
means = [guess[truth == v].mean() for v in range(17)]
ax.plot(truth + rng.uniform(-0.3, 0.3, truth.size), guess, ",", alpha=0.3)
ax.plot(np.arange(17), means, "o-", color="tab:orange", label="mean per true value")
ax.plot([0, 16], [0, 16], "k:", lw=1)
ax.set_xlabel("hidden true value")
ax.set_ylabel("filled-in value (W @ H)")
ax.legend()
fig.tight_layout()
print("mean filled-in value for true values 0, 8, 16: "
      + ", ".join(f"{means[v]:.2f}" for v in (0, 8, 16)))

plt.show()
