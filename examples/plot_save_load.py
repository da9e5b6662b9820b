"""
Saving a model and loading it back
==================================

A fitted ``fastnmf.NMF`` or ``MiniBatchNMF`` is saved with ``model.save(path)`` and read back
with ``fastnmf.load(path)``: a zip of ``.npy`` arrays and a JSON description, no pickle. This
example fits scikit-learn's bundled digits, saves the model into a temporary directory, looks
inside the file, checks that the loaded model transforms new images exactly as the saved one
does, and pauses an online fit half-way through its stream to continue it from the file.
"""

import json
import tempfile
import zipfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits

import fastnmf
from fastnmf import NMF, MiniBatchNMF

# %%
# Fit and save
# ------------
# The first 1500 images are fitted; the others play the part of new data. ``save`` writes
# exactly the path given (no extension added), through a temporary file renamed into place
# when complete.

X = load_digits().data
X_fit, X_new = X[:1500], X[1500:]

model = NMF(n_components=16, max_iter=400, random_state=0).fit(X_fit)
tmp = tempfile.TemporaryDirectory()
directory = Path(tmp.name)
path = directory / "digits-nmf.npz"
model.save(path)
print(f"{path.name}: {path.stat().st_size / 1024:.0f} KiB")

# %%
# Most of that is ``W_``, the W of the 1500 fitted images, kept for ``predict_entries``.
# ``transform`` does not need it; ``include_W=False`` leaves it out.

model.save(directory / "small.npz", include_W=False)
print(f"small.npz: {(directory / 'small.npz').stat().st_size / 1024:.0f} KiB")

# %%
# Inside the file
# ---------------
# The members are ``.npy`` arrays and ``fastnmf.json``, which says which format version and
# which fastnmf wrote it, the class, the parameters and the fitted attributes (an array
# stands as the name of its member).

with zipfile.ZipFile(path) as zf:
    for info in zf.infolist():
        print(f"{info.filename:>22}  {info.file_size:>7} bytes")
    meta = json.loads(zf.read("fastnmf.json"))
print({key: meta[key] for key in ("format", "format_version", "fastnmf_version", "class")})
print("n_components:", meta["params"]["n_components"], " n_iter_:", meta["attributes"]["n_iter_"],
      " components_:", meta["attributes"]["components_"])

# %%
# Load and use
# ------------
# ``fastnmf.load`` returns a fitted ``NMF``; its transform of the new images is the saved
# model's, to the last bit.

loaded = fastnmf.load(path)
same = np.array_equal(loaded.transform(X_new), model.transform(X_new))
print(f"loaded: {type(loaded).__name__}, same parameters: "
      f"{loaded.get_params() == model.get_params()}, same transform of new images: {same}")

fig, axes = plt.subplots(2, 8, figsize=(8, 2.3))
for j, ax in enumerate(axes.flat):
    ax.imshow(loaded.components_[j].reshape(8, 8), cmap="gray_r", interpolation="nearest")
    ax.set_axis_off()
fig.suptitle("The loaded model's components")
plt.show()

# %%
# An online fit, paused and continued
# -----------------------------------
# A ``MiniBatchNMF`` fed by ``partial_fit`` keeps statistics of the batches it has seen;
# they are saved too. Here one model takes all 15 batches of 100 images in one go, and
# another takes 8, is saved, loaded (as in a new process) and takes the other 7: both end
# with the same components.

batches = np.array_split(X_fit, 15)
whole = MiniBatchNMF(n_components=16, random_state=0)
for batch in batches:
    whole.partial_fit(batch)

paused = MiniBatchNMF(n_components=16, random_state=0)
for batch in batches[:8]:
    paused.partial_fit(batch)
paused.save(directory / "stream.npz")
resumed = fastnmf.load(directory / "stream.npz")
for batch in batches[8:]:
    resumed.partial_fit(batch)
print(f"batches: {resumed.n_steps_}, same components as the unpaused stream: "
      f"{np.array_equal(resumed.components_, whole.components_)}")

tmp.cleanup()
