"""
Loss against time for each solver
=================================

fastnmf has several algorithms for the Frobenius loss. This example runs each of them
on scikit-learn's bundled digits from one and the same random start, with
``fastnmf.engine.solve`` (which runs a named solver from the ``W`` and ``H`` it is
given, without an initialization of its own), and plots the objective
``0.5 ||X - W H||_F^2`` against the time since each solver started.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits

from fastnmf import engine

# %%
# The solvers
# -----------
# ``engine.capabilities()`` lists each solver with the losses and kinds of data it
# takes; the ones for the Frobenius loss on a complete matrix are:

solvers = [c["solver"] for c in engine.capabilities()
           if "frobenius" in c["losses"] and "complete" in c["kinds"]]
print("Frobenius solvers:", ", ".join(solvers))

# %%
# One start for all
# -----------------
# A random start scaled as scikit-learn's ``init='random'`` scales it:
# ``sqrt(mean(X) / k)`` times the absolute values of normal draws.

X = load_digits().data
k = 16
rng = np.random.default_rng(0)
scale = np.sqrt(X.mean() / k)
W0 = scale * np.abs(rng.standard_normal((X.shape[0], k)))
H0 = scale * np.abs(rng.standard_normal((k, X.shape[1])))
print(f"X: {X.shape[0]} x {X.shape[1]}, k = {k}; objective at the start: "
      f"{0.5 * np.linalg.norm(X - W0 @ H0) ** 2:.4g}")

# %%
# The runs
# --------
# Every solver runs the same number of iterations with its stopping rule off
# (``tol=0``), so the objectives printed below do not depend on the speed of the
# machine; the times do. An iteration costs more for some solvers than for others,
# which is why the curves are drawn against time. ``Solution.times`` holds the
# seconds since the solver started at the end of each iteration (the checks of X
# and the conversion of the start come before).

n_iter = 300
runs = {}
for solver in solvers:
    runs[solver] = engine.solve(X, W0, H0, solver=solver, tol=0, max_iter=n_iter)
best = min(sol.loss_history[-1] for sol in runs.values())
print(f"{n_iter} iterations each; lowest final objective: {best:.6g}")
for solver, sol in runs.items():
    reached = np.flatnonzero(sol.loss_history <= 1.01 * best)
    when = (f"after {reached[0] + 1} iterations, {sol.times[reached[0]]:.3f} s"
            if reached.size else "never")
    print(f"{solver:>6}: {sol.times[-1]:.3f} s, final objective {sol.loss_history[-1]:.6g} "
          f"({sol.loss_history[-1] / best - 1:+.2%} of the lowest); within 1% of the "
          f"lowest {when}")

# %%
# The curves
# ----------
# Left: the objective, on a log scale. Right: how far each solver is above the
# lowest final objective of all, relative to it, on a log scale too (the solver
# that ends lowest drops to zero there at its last iteration, off the scale).

fig, axes = plt.subplots(1, 2, figsize=(11, 4))
for solver, sol in runs.items():
    axes[0].plot(sol.times, sol.loss_history, label=solver)
    axes[1].plot(sol.times, sol.loss_history / best - 1, label=solver)
axes[0].set_yscale("log")
axes[0].set_ylabel("objective 0.5 ||X - WH||²")
axes[1].set_yscale("log")
axes[1].set_ylim(1e-5, None)
axes[1].set_ylabel("objective / lowest final objective - 1")
for ax in axes:
    ax.set_xlabel("seconds since the solver started")
    ax.legend()
fig.suptitle(f"digits, k = {k}, one random start")
fig.tight_layout()

# %%
# From the same start the solvers follow different paths and can end near
# different local minima of the same objective, so the order of the final
# objectives says how far each got in its iterations, not which minimum is best.
# ``fastnmf.NMF(solver='auto')`` picks among these solvers by a cost model measured
# on whole default fits (see the guide's page on solvers).

plt.show()
