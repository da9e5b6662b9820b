"""
Topics in scikit-learn's own documentation
==========================================

Topic modelling with NMF: a matrix of documents by words is factorized into
``W`` (documents by topics) and ``H`` (topics by words); the largest entries of a row of
``H`` are the words of a topic. The documents here are real text that every
scikit-learn installation ships: the docstrings of its public functions and classes.
They are fitted twice, as TF-IDF with the Frobenius loss and as word counts with the
(generalized) Kullback-Leibler divergence, the loss that suits counts.
"""

import importlib
import inspect
import pkgutil
import re
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
import sklearn
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

from fastnmf import NMF

# %%
# The documents
# -------------
# Every public module of scikit-learn is imported, and the docstring of every public
# class and function it defines is kept once (the same object is exported from
# several modules). Of a numpydoc docstring the text is kept (the summary and the
# sections Parameters, Attributes, Returns and Notes); the examples, which are code,
# and the lists of references and related functions are left out. The corpus depends
# on the installed version of scikit-learn.

SECTION = re.compile(r"\n([A-Z][A-Za-z ]*)\n-{3,}\n")
KEEP = {"Parameters", "Attributes", "Returns", "Notes"}


def prose(doc):
    parts = SECTION.split("\n" + doc)
    kept = [parts[0]]
    kept += [body for name, body in zip(parts[1::2], parts[2::2]) if name in KEEP]
    return "\n".join(kept)


def public_docstrings(package):
    found, seen = {}, set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecation notices of some modules on import
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            private = any(p.startswith("_") or p in ("tests", "conftest")
                          for p in info.name.split(".")[1:])
            if private or "externals" in info.name:
                continue
            try:
                module = importlib.import_module(info.name)
            except ImportError:  # a module that needs an optional dependency
                continue
            names = getattr(module, "__all__", None) or [n for n in dir(module)
                                                         if not n.startswith("_")]
            for name in names:
                obj = getattr(module, name, None)
                if not (inspect.isclass(obj) or inspect.isfunction(obj)):
                    continue
                home = getattr(obj, "__module__", "") or ""
                if not home.startswith("sklearn.") or "conftest" in home or "tests" in home:
                    continue
                doc = inspect.getdoc(obj)
                if doc and id(obj) not in seen:  # named where it is first found
                    seen.add(id(obj))
                    found[f"{info.name}.{name}"] = doc
    return found


start = time.perf_counter()
docstrings = public_docstrings(sklearn)
texts = sorted({prose(d) for d in docstrings.values()})
texts = [t for t in texts if len(t.split()) >= 20]  # drop the one-line docstrings
n_words = np.array([len(t.split()) for t in texts])
print(f"scikit-learn {sklearn.__version__}: {len(docstrings)} public classes and functions, "
      f"{len(texts)} distinct docstrings of at least 20 words "
      f"(median {np.median(n_words):.0f} words), read in {time.perf_counter() - start:.1f} s")

# %%
# TF-IDF and the Frobenius loss
# -----------------------------
# Words in fewer than two documents or in more than 95% of them are dropped, and so
# are English stop words.

n_topics, n_top = 8, 8
tfidf = TfidfVectorizer(stop_words="english", min_df=2, max_df=0.95)
X_tfidf = tfidf.fit_transform(texts)
words = tfidf.get_feature_names_out()
print(f"TF-IDF: {X_tfidf.shape[0]} documents x {X_tfidf.shape[1]} words, "
      f"{X_tfidf.nnz / np.prod(X_tfidf.shape):.1%} nonzero")

start = time.perf_counter()
fro = NMF(n_components=n_topics, random_state=0).fit(X_tfidf)
print(f"Frobenius: solver {fro.solver_!r}, {fro.n_iter_} iterations, "
      f"{time.perf_counter() - start:.2f} s")


def plot_topics(H, vocabulary, title):
    fig, axes = plt.subplots(2, (len(H) + 1) // 2, figsize=(12, 5.2))
    for k, (ax, h) in enumerate(zip(axes.ravel(), H)):
        top = np.argsort(h)[::-1][:n_top]
        ax.barh(np.arange(n_top), h[top], color="tab:blue")
        ax.set_yticks(np.arange(n_top), vocabulary[top], fontsize=8)
        ax.invert_yaxis()
        ax.set_title(f"topic {k}", fontsize=9)
        ax.tick_params(axis="x", labelsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    for k, h in enumerate(H):
        print(f"  topic {k}: " + " ".join(vocabulary[np.argsort(h)[::-1][:n_top]]))


plot_topics(fro.components_, words, "TF-IDF, Frobenius loss: the top words of each topic")

# %%
# Word counts and the Kullback-Leibler divergence
# -----------------------------------------------
# The same documents as raw counts. With ``beta_loss='kullback-leibler'`` the fit
# maximizes a Poisson likelihood of the counts, so a word weighs by how often it
# occurs. Without TF-IDF's inverse document frequency, the vocabulary of numpydoc
# itself (``default``, ``shape``, ``int``, ...) would then fill every topic; so the
# counts leave out the words found in more than half of the docstrings
# (``max_df=0.5``). The words that this removes, beyond those the TF-IDF matrix
# already left out, are printed first.

counts = CountVectorizer(stop_words="english", min_df=2, max_df=0.5)
X_counts = counts.fit_transform(texts)
count_words = counts.get_feature_names_out()
dropped = sorted(set(words) - set(count_words))
print(f"counts: {X_counts.shape[0]} documents x {X_counts.shape[1]} words, "
      f"{X_counts.sum()} words in all; max_df=0.5 left out {len(dropped)} words:")
print("  " + " ".join(dropped))

start = time.perf_counter()
kl = NMF(n_components=n_topics, beta_loss="kullback-leibler", max_iter=500,
         random_state=0).fit(X_counts)
print(f"Kullback-Leibler: solver {kl.solver_!r}, {kl.n_iter_} iterations, "
      f"{time.perf_counter() - start:.2f} s")

plot_topics(kl.components_, count_words,
            "Counts, Kullback-Leibler divergence: the top words of each topic")

# %%
# Which document uses which topic is in the rows of ``W``. The docstring with the
# largest weight in each topic of the Frobenius fit:

W = fro.transform(X_tfidf)
names = {prose(d): name for name, d in sorted(docstrings.items())}
for k in range(n_topics):
    i = int(np.argmax(W[:, k]))
    print(f"  topic {k}: {names[texts[i]]}")

plt.show()
