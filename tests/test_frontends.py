"""Front ends that call scikit-learn's NMF, run on fastnmf through ``fastnmf.sklearn_patched()``.

cNMF (consensus NMF for single-cell RNA-seq, ``pip install cnmf``) imports
``non_negative_factorization`` from ``sklearn.decomposition`` when it is imported, and calls
it for every replicate (factorize) and for the consensus usages (consensus, with
``update_H=False``).  Its whole pipeline runs here on real counts shipped inside scanpy
(10x PBMC, 700 cells), once on scikit-learn and once patched, and the outputs must agree.
The timings on the same data are in benchmarks/results/frontend_cnmf.md.
"""

import contextlib
import importlib.util
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

import fastnmf
import fastnmf.patch as patch

ROOT = Path(__file__).resolve().parents[1]


def _pbmc_counts():
    """The UMI counts of scanpy's 10x_pbmc68k_reduced (benchmarks/datasets.py)."""
    spec = importlib.util.spec_from_file_location("_datasets", ROOT / "benchmarks" / "datasets.py")
    datasets = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(datasets)
    try:
        X, _ = datasets.pbmc68k("counts")
    except datasets.DataUnavailable as e:
        pytest.skip(str(e))
    return X


@pytest.fixture(scope="module")
def counts_file(tmp_path_factory):
    pytest.importorskip("cnmf")
    anndata = pytest.importorskip("anndata")
    X = _pbmc_counts()
    a = anndata.AnnData(X=X.astype(np.float32))
    a.obs_names = [f"cell{i}" for i in range(X.shape[0])]
    a.var_names = [f"gene{j}" for j in range(X.shape[1])]
    path = tmp_path_factory.mktemp("counts") / "pbmc_counts.h5ad"
    a.write_h5ad(path)
    return str(path)


def _sklearn_csr(monkeypatch, cnmf):
    """scikit-learn's function with a CSC X given as CSR (the same matrix).

    cNMF's consensus refits the TPM spectra on ``tpm.X.T``, a CSC matrix.  scikit-learn's
    multiplicative updates for beta != 2 are wrong on CSC input (scikit-learn 1.9:
    ``_special_sparse_dot`` returns W H at the nonzeros in CSR order, and the update divides
    ``X.data``, in CSC order, by it entry by entry): on cNMF's matrix the first KL update of
    W differs from the same update on the dense or CSR X by 16x.  fastnmf's result on CSC is
    the dense one (to 1e-15), so the reference here is scikit-learn on the CSR copy."""
    original = cnmf.cnmf.non_negative_factorization

    def on_csr(X, *args, **kwargs):
        return original(X.tocsr() if getattr(X, "format", None) == "csc" else X, *args, **kwargs)

    monkeypatch.setattr(cnmf.cnmf, "non_negative_factorization", on_csr)


def _run_cnmf(cnmf, out, name, counts, ks, patched, **prepare):
    """prepare, factorize (one worker, in this process), combine, consensus; the consensus
    spectra and usages of each k, and each replicate's spectra (pandas DataFrames)."""
    import pandas as pd

    c = cnmf.cNMF(output_dir=str(out), name=name)
    with warnings.catch_warnings(), contextlib.redirect_stdout(None):
        warnings.simplefilter("ignore")  # scanpy's and cNMF's own warnings
        c.prepare(counts_fn=counts, components=list(ks), seed=14, **prepare)
        with fastnmf.sklearn_patched() if patched else contextlib.nullcontext():
            c.factorize(worker_i=0, total_workers=1)
            c.combine()
            for k in ks:
                # density_threshold=2: no outlier filtering (a handful of replicates)
                c.consensus(k, density_threshold=2.0, show_clustering=False)
    result = {}
    for k in ks:
        spectra = pd.read_csv(c.paths["consensus_spectra__txt"] % (k, "2_0"), sep="\t",
                              index_col=0)
        usages = pd.read_csv(c.paths["consensus_usages__txt"] % (k, "2_0"), sep="\t",
                             index_col=0)
        reps = [cnmf.cnmf.load_df_from_npz(c.paths["iter_spectra"] % (k, r))
                for r in range(prepare["n_iter"])]
        result[k] = spectra, usages, reps
    return result


def _match(A, B):
    """Rows of B matched to rows of A by their Pearson correlation (Hungarian);
    the correlations of the matched pairs, and B's row order."""
    C = np.corrcoef(A, B)[: len(A), len(A):]
    rows, cols = linear_sum_assignment(-C)
    return C[rows, cols], cols


@pytest.mark.parametrize("beta_loss,ks,n_iter,max_iter", [
    ("frobenius", (4, 5), 6, 1000),  # cNMF's default loss: solver 'cd'
    ("kullback-leibler", (4,), 4, 200),  # solver 'mu'
])
def test_cnmf_pipeline_agrees_with_and_without_fastnmf(tmp_path, counts_file, monkeypatch,
                                                       beta_loss, ks, n_iter, max_iter):
    cnmf = pytest.importorskip("cnmf")
    prepare = dict(n_iter=n_iter, num_highvar_genes=300, beta_loss=beta_loss,
                   max_NMF_iter=max_iter)

    original = cnmf.cnmf.non_negative_factorization
    assert original.__module__.startswith("sklearn.")
    with monkeypatch.context() as m:
        _sklearn_csr(m, cnmf)
        reference = _run_cnmf(cnmf, tmp_path, "sklearn", counts_file, ks, False, **prepare)

    # count the factorizations fastnmf runs for cNMF
    calls = []
    fast_nnf = patch._fast_nnf

    def counting(*args, **kwargs):
        calls.append(kwargs.get("update_H", True))
        return fast_nnf(*args, **kwargs)

    monkeypatch.setattr(patch, "_fast_nnf", counting)
    ours = _run_cnmf(cnmf, tmp_path, "fastnmf", counts_file, ks, True, **prepare)
    # cNMF's module-level name was rebound for the run, and given back afterwards
    assert cnmf.cnmf.non_negative_factorization is original
    # every replicate (update_H=True) and every consensus refit (update_H=False: cNMF 1.7's
    # consensus refits the usages, the TPM spectra, the usages on TPM) went through fastnmf
    assert calls.count(True) == n_iter * len(ks)
    assert calls.count(False) == 3 * len(ks)

    for k in ks:
        spectra_sk, usages_sk, reps_sk = reference[k]
        spectra_fa, usages_fa, reps_fa = ours[k]
        assert spectra_fa.shape == spectra_sk.shape == (k, prepare["num_highvar_genes"])
        # the replicates: the same algorithm from the same seeds (scikit-learn's cd and mu
        # iterates), equal to rounding
        for a, b in zip(reps_sk, reps_fa):
            assert a.shape == b.shape
            scale = np.abs(a.values).max()
            np.testing.assert_allclose(b.values, a.values, rtol=0, atol=1e-6 * scale)
        # consensus spectra: every component found again (matched by correlation)
        corr, order = _match(spectra_sk.values, spectra_fa.values)
        assert corr.min() > 0.999, corr
        # consensus usages (cells x k), in the matched order
        U_sk = usages_sk.values
        U_fa = usages_fa.values[:, order]
        assert np.abs(U_fa - U_sk).max() <= 1e-4 * np.abs(U_sk).max()
