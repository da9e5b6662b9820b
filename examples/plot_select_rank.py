"""
Choosing the number of components by held-out entries
=====================================================

``fastnmf.select_rank`` with ``method='cv'`` hides a random part of the entries of X
("speckled" hold-out), fits the rest for each candidate rank, and scores the
predictions of the hidden entries. The training error keeps falling as the rank
grows; the held-out error stops falling once the extra components fit noise rather
than structure. The matrix is scikit-learn's bundled digits (one 8x8 image per row).
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits

import fastnmf

X = load_digits().data
print(f"X: {X.shape[0]} x {X.shape[1]}")

# %%
# The selection
# -------------
# A small grid of ranks and three hold-outs (``n_repeats``), so that the example
# stays quick; each hold-out hides ``test_fraction`` of the entries (10% by default)
# and the same hold-outs serve every rank. The inner fits run with tighter
# stopping rules than ``NMF``'s defaults (see the documentation of
# ``select_rank``).

res = fastnmf.select_rank(X, range(2, 17, 2), method="cv", n_repeats=3, random_state=0)
print(res)

# %%
# ``best_rank`` is the smallest rank whose mean held-out error is within one
# standard error (over the hold-outs) of the lowest mean: the one-standard-error
# rule, which does not take a larger rank for a difference the hold-outs cannot
# tell from noise. ``elbow_rank`` is the elbow of the training error.

print(f"best_rank = {res.best_rank}, elbow_rank = {res.elbow_rank}")
print(f"selection took {res.seconds:.1f} s")

# %%
# A held-out fit can also blow up: without a penalty, nothing bounds ``W @ H`` at an
# entry the fit never saw, and one hold-out's error then dwarfs the others. The
# plot marks a rank whose mean held-out error is more than ten times the median
# of all ranks' at the top edge in red, with its value written beside it. The
# errors of every hold-out are in ``res.test_errors``; the ranks marked, if any:

med = np.median(res.table["test_error"])
for rank, errors in zip(res.ranks, res.test_errors):
    if errors.mean() > 10 * med:
        print(f"rank {rank}: held-out errors of the {len(errors)} hold-outs: "
              + ", ".join(f"{e:.4g}" for e in errors))

# %%
# The plot
# --------
# ``RankSelection.plot`` draws the held-out error with its spread over the
# hold-outs, the training error, and a dotted line at ``best_rank``.

ax = res.plot()
ax.set_title("digits: held-out and training error against rank")
plt.tight_layout()
plt.show()
