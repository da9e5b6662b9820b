"""
The command line: from a file to factors, a saved model and a report
====================================================================

``fastnmf fit INPUT -k K -o OUTDIR`` reads X from a file, fits ``fastnmf.NMF`` with
its default parameters (or those given as options), and writes into ``OUTDIR``: W and
H in the input's family of formats (with its row and column names), the saved model,
``report.json`` and plots. This example runs it on real text: a TF-IDF matrix of the
docstrings of numpy's and scipy's public functions (documentation installed with them),
written as a ``scipy.sparse`` ``.npz`` file with the vocabulary beside it. In a shell
the same run is::

    fastnmf fit docs.npz --col-names words.txt -k 12 -o topics

Here ``fastnmf._cli.main`` takes the same arguments as a list.
"""

import json
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import scipy.sparse as sp

import fastnmf
from fastnmf._cli import load_docstrings_tfidf, main

work = Path(tempfile.mkdtemp())
X, words, names = load_docstrings_tfidf()
sp.save_npz(work / "docs.npz", X)
(work / "words.txt").write_text("\n".join(words) + "\n")
print(f"X: {X.shape[0]} docstrings x {X.shape[1]} words, {X.nnz} stored entries")

# %%
# The fit
# -------
# ``--seed`` is ``random_state`` (0 unless given, so that a run repeats). On a
# terminal a progress bar shows the loss; ``-q`` silences everything but errors.

status = main(["fit", str(work / "docs.npz"), "--col-names", str(work / "words.txt"),
               "-k", "12", "-o", str(work / "topics")])
print("exit status", status)
print(sorted(p.name for p in (work / "topics").iterdir()))

# %%
# The report
# ----------
# ``report.html`` is the report to open in a browser (one file, the plots embedded);
# ``report.json`` says what ran and how long it took: the command line, every
# parameter, the input (format, shape, stored entries), the solver that 'auto'
# chose, the iterations, the loss after each one and when, the versions and the
# machine, the timings and the peak memory of the process. Its main entries:

report = json.loads((work / "topics" / "report.json").read_text())
print("argv:    ", " ".join(report["argv"]))
print("input:   ", {k: report["input"][k] for k in ("format", "shape", "nnz", "dtype")})
result = report["result"]
print("result:  ", {k: result[k] for k in ("solver", "n_iter", "converged",
                                           "reconstruction_err")})
print("timings: ", report["timings_s"], f"peak memory {report['peak_memory_mb']:.0f} MB")
print("versions:", report["versions"])
print("loss:    ", [round(v, 4) for v in result["loss_history"][:5]], "...",
      round(result["loss_history"][-1], 4))

# %%
# The topics
# ----------
# With named columns, ``top_features.txt`` lists each component's heaviest words
# and ``components.png`` draws them; ``loss.png`` is the loss against time.

print((work / "topics" / "top_features.txt").read_text())

fig, axes = plt.subplots(1, 2, figsize=(12, 6), gridspec_kw={"width_ratios": [2, 1]})
for ax, name in zip(axes, ["components.png", "loss.png"]):
    ax.imshow(plt.imread(work / "topics" / name))
    ax.set_axis_off()
fig.tight_layout()
plt.show()

# %%
# The saved model
# ---------------
# ``model.npz`` is read back with ``fastnmf.load`` (arrays and JSON, no pickle), and
# ``fastnmf transform MODEL INPUT -o OUTDIR`` writes W of new rows under it, here
# the same rows again.

model = fastnmf.load(work / "topics" / "model.npz")
print(model)
main(["transform", str(work / "topics" / "model.npz"), str(work / "docs.npz"),
      "-o", str(work / "usage"), "-q"])
import numpy as np  # noqa: E402

W = np.load(work / "usage" / "W.npz")["W"]
print(sorted(p.name for p in (work / "usage").iterdir()), W.shape)
