"""Matrices in files, for the command line: :func:`read_matrix` and :func:`write_factors`.

What the formats are, read by their file name's ending:

========================  =====================================================  ==========
input                     what X is                                              streamed
========================  =====================================================  ==========
``.npy``                  a 2-D numeric array                                    yes (memmap)
``.npz``                  a ``scipy.sparse.save_npz`` matrix, or a dense array   no
                          (``key=`` picks one of several)
``.mtx``, ``.mtx.gz``     Matrix Market, sparse (coordinate) or dense (array)    no
``.csv``, ``.tsv``,       delimited text; a header row of column names and a     no
``.txt``                  first column of row names are found or told
                          (``header=``, ``index=``); empty or ``NA`` cells are
                          unknown entries (NaN)
``.h5ad``                 AnnData (needs ``anndata``): ``X`` or a layer          yes
                          (``key=``); obs and var names are kept
``.h5``, ``.hdf5``        an HDF5 dataset or anndata-style CSR group (``key=``)  yes
``.zarr`` (a directory)   a zarr array, or one of a group's (``key=``)           yes
========================  =====================================================  ==========

"Streamed": the fit reads X a chunk of rows at a time where it lies (``fastnmf.data.chunked``)
when X is larger than one chunk; the other formats are read into memory (a sparse X stays
sparse).  Row and column names come from the file (text headers, AnnData's obs/var) or from
files of one name per line (``row_names=``, ``col_names=``).

:func:`write_factors` writes W and H in the input's family of formats, with the names when
there were any; every file is written under a temporary name and renamed into place (the
command line writes into a temporary directory that is renamed as a whole:
:class:`OutputDir`).  Every error about a file is a :class:`FileFormatError` (a
``ValueError``) whose message names the file and says what is wrong.
"""

import csv
import gzip
import io
import math
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from .data.output import temp_beside

__all__ = ["FileFormatError", "Matrix", "read_matrix", "read_names", "write_factors",
           "OutputDir", "FORMATS"]

#: File name endings and the format family each one belongs to.
FORMATS = {".npy": "npy", ".npz": "npz", ".mtx": "mtx", ".mtx.gz": "mtx", ".csv": "csv",
           ".tsv": "csv", ".txt": "csv", ".h5ad": "h5ad", ".h5": "h5", ".hdf5": "h5",
           ".zarr": "zarr"}

#: Text cells read as unknown entries (NaN), besides the empty cell.
NA_STRINGS = frozenset({"", "na", "nan", "n/a", "null", "none", "-"})


class FileFormatError(ValueError):
    """A file that cannot be read as asked: missing, malformed, of an unknown format."""


@dataclass
class Matrix:
    """X as read from a file, with what came with it.

    ``X`` is what the estimators take: an ndarray, a CSR matrix, or a chunked source (a
    memmap, an HDF5 dataset, a zarr array, ``CSRArrays``).  ``row_names`` and ``col_names``
    are lists of str or None.  ``close()`` releases the file a streamed X reads from.
    """

    X: object
    path: str
    family: str
    row_names: list = None
    col_names: list = None
    streamed: bool = False
    obs: object = None  # AnnData's obs/var frames, carried to an .h5ad output
    var: object = None
    _closers: list = field(default_factory=list, repr=False)

    @property
    def shape(self):
        return tuple(int(s) for s in self.X.shape)

    def describe(self):
        """A dict for the report: path, format, shape, dtype, stored entries."""
        X = self.X
        d = {"path": os.path.abspath(self.path), "format": self.family,
             "shape": list(self.shape), "dtype": str(np.dtype(X.dtype)),
             "sparse": bool(sp.issparse(X) or type(X).__name__ == "CSRArrays"),
             "streamed": self.streamed, "row_names": self.row_names is not None,
             "col_names": self.col_names is not None}
        if sp.issparse(X):
            d["nnz"] = int(X.nnz)
        elif type(X).__name__ == "CSRArrays":
            d["nnz"] = int(X.indptr[-1])
        return d

    def close(self):
        while self._closers:
            self._closers.pop()()


def family_of(path):
    """The format family of ``path`` from its ending (``.mtx.gz`` included), or None."""
    name = str(path).lower().rstrip("/\\")
    for ending in sorted(FORMATS, key=len, reverse=True):
        if name.endswith(ending):
            return FORMATS[ending]
    return None


def _fail(path, what):
    raise FileFormatError(f"{path}: {what}")


# ------------------------------------------------------------------------------- reading
def read_matrix(path, *, key=None, header="auto", index="auto", sep=None, transpose=False,
                row_names=None, col_names=None, stream=True, dtype=None):
    """Read X from ``path`` (see the module docstring for the formats).

    Parameters
    ----------
    key : str, optional
        Which array: an ``.npz`` member, an ``.h5ad`` layer (default ``X``), an HDF5 dataset or
        group path, a zarr group member.  Without it a file holding one matrix is read.
    header, index : {'auto', 'yes', 'no'}
        Text files: whether the first row holds column names, and the first column row
        names ('auto': when they are not all numbers).
    sep : str, optional
        Text files: the delimiter (default: tab for ``.tsv``, else found from the first line).
    transpose : bool
        Read X transposed (Matrix Market files of genes x cells, say); not with a streamed X.
    row_names, col_names : path, optional
        Files of one name per line, replacing the names from the file.
    stream : bool
        Leave ``.npy``, HDF5, zarr and ``.h5ad`` data where it lies (read by chunks); False
        reads them into memory.
    dtype : {None, 'float32', 'float64'}
        Convert X to this dtype (reads into memory when it changes a streamed X's dtype).
    """
    path = os.fspath(path)
    for name, value in (("header", header), ("index", index)):
        if value not in ("auto", "yes", "no"):
            raise ValueError(f"{name} must be 'auto', 'yes' or 'no'; got {value!r}")
    if dtype is not None and np.dtype(dtype) not in (np.float32, np.float64):
        raise ValueError(f"dtype must be None, 'float32' or 'float64'; got {dtype!r}")
    family = family_of(path)
    if family is None:
        known = ", ".join(sorted(FORMATS))
        _fail(path, f"unknown format (the name must end in one of {known})")
    if not os.path.exists(path):
        _fail(path, "no such file")
    if family != "zarr" and os.path.isdir(path):
        _fail(path, "is a directory, not a file")
    reader = {"npy": _read_npy, "npz": _read_npz, "mtx": _read_mtx, "csv": _read_text,
              "h5ad": _read_h5ad, "h5": _read_h5, "zarr": _read_zarr}[family]
    try:
        m = reader(path, key=key, header=header, index=index, sep=sep, stream=stream)
    except FileFormatError:
        raise
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile,
            UnicodeDecodeError) as exc:
        _fail(path, f"cannot be read as {family}: {_one_line(exc)}")
    try:
        _check_matrix(m, path)
        if transpose:
            if m.streamed:
                _fail(path, "--transpose needs X in memory (the file is read by chunks of "
                      "rows); write it transposed, or pass --no-stream")
            m.X = m.X.T.tocsr() if sp.issparse(m.X) else np.ascontiguousarray(m.X.T)
            m.row_names, m.col_names = m.col_names, m.row_names
            m.obs, m.var = m.var, m.obs
        if dtype is not None and np.dtype(m.X.dtype) != np.dtype(dtype):
            if m.streamed:
                m.X, m.streamed = _load_whole(m.X), False
            m.X = m.X.astype(dtype)
        if row_names is not None:
            m.row_names = read_names(row_names, m.shape[0], "row names")
            m.obs = None
        if col_names is not None:
            m.col_names = read_names(col_names, m.shape[1], "column names")
            m.var = None
        for names, n, what in ((m.row_names, m.shape[0], "row names"),
                               (m.col_names, m.shape[1], "column names")):
            if names is not None and len(names) != n:
                _fail(path, f"{len(names)} {what} for {n} {what.split()[0]}s")
    except BaseException:
        m.close()
        raise
    if not m.streamed:  # X is in memory: the file it came from is not needed any more
        m.close()
    return m


def read_names(path, n=None, what="names"):
    """One name per line from a text file (a trailing empty line ignored)."""
    path = os.fspath(path)
    try:
        with _open_text(path) as f:
            names = [line.rstrip("\r\n") for line in f]
    except OSError as exc:
        _fail(path, f"cannot read {what}: {_one_line(exc)}")
    if names and names[-1] == "":
        names.pop()
    if n is not None and len(names) != n:
        _fail(path, f"{len(names)} {what}, X has {n}")
    return names


def _one_line(exc):
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


def _open_text(path):
    if str(path).lower().endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def _check_matrix(m, path):
    X = m.X
    shape = getattr(X, "shape", None)
    if shape is None or len(shape) != 2:
        _fail(path, f"holds an array of shape {shape}; X must be 2-D (samples x features)")
    if shape[0] == 0 or shape[1] == 0:
        _fail(path, f"X is empty (shape {tuple(shape)})")
    kind = np.dtype(X.dtype).kind
    if kind not in "biuf":
        _fail(path, f"holds {np.dtype(X.dtype)} values; X must be numeric")


def _load_whole(X):
    if type(X).__name__ == "CSRArrays":
        return X.read(0, X.shape[0])
    return np.asarray(X[:])


def _read_npy(path, stream, **_):
    with open(path, "rb") as f:
        magic = f.read(6)
    if magic != b"\x93NUMPY":
        _fail(path, "not a .npy file (no NumPy header)")
    try:
        X = np.load(path, mmap_mode="r" if stream else None, allow_pickle=False)
    except ValueError as exc:
        if "pickle" in str(exc).lower() or "object" in str(exc).lower():
            _fail(path, "holds Python objects; X must be numeric")
        raise
    if X.dtype.hasobject:
        _fail(path, "holds Python objects; X must be numeric")
    return Matrix(X, path, "npy", streamed=isinstance(X, np.memmap))


def _read_npz(path, key, **_):
    if not zipfile.is_zipfile(path):
        _fail(path, "not an .npz file (not a zip archive)")
    with np.load(path, allow_pickle=False) as z:
        names = list(z.files)
        if {"data", "indices", "indptr", "shape", "format"} <= set(names) and key is None:
            X = sp.load_npz(path)
            return Matrix(X.tocsr() if X.format != "csr" else X, path, "npz")
        if key is None:
            if len(names) != 1:
                _fail(path, f"holds {len(names)} arrays {names}; name one with --key")
            key = names[0]
        if key not in names:
            _fail(path, f"no array {key!r}; it holds {names}")
        X = z[key]
    return Matrix(X, path, "npz")


def _read_mtx(path, **_):
    import scipy.io

    X = scipy.io.mmread(path)
    if sp.issparse(X):
        X = X.tocsr()
    return Matrix(X, path, "mtx")


def _is_number(cell):
    cell = cell.strip()
    if cell.lower() in NA_STRINGS:
        return True
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _read_text(path, header, index, sep, **_):
    lower = path.lower()
    with _open_text(path) as f:
        first = f.readline()
        if not first.strip():
            _fail(path, "is empty")
        if sep is None:
            sep = "\t" if lower.endswith((".tsv", ".tsv.gz")) or "\t" in first else \
                ("," if "," in first else None)
        f.seek(0)
        if sep is None:  # whitespace-separated
            rows = (line.split() for line in f)
        else:
            rows = csv.reader(f, delimiter=sep)
        rows = [r for r in rows if r and any(c.strip() for c in r)]
    if not rows:
        _fail(path, "is empty")
    has_header = (header == "yes" or
                  (header == "auto" and not all(_is_number(c) for c in rows[0][1:])))
    cols = rows.pop(0) if has_header else None
    if not rows:
        _fail(path, "has a header and no rows")
    has_index = (index == "yes" or
                 (index == "auto" and not all(_is_number(r[0]) for r in rows)))
    width = len(rows[0])
    values = np.empty((len(rows), width - has_index), dtype=np.float64)
    names = [] if has_index else None
    for i, r in enumerate(rows):
        if len(r) != width:
            _fail(path, f"line {i + 1 + has_header} has {len(r)} fields, the first row "
                  f"{width}")
        if has_index:
            names.append(r[0].strip())
        for j, cell in enumerate(r[has_index:]):
            cell = cell.strip()
            if cell.lower() in NA_STRINGS:
                values[i, j] = math.nan
                continue
            try:
                values[i, j] = float(cell)
            except ValueError:
                _fail(path, f"line {i + 1 + has_header}, field {j + 1 + has_index}: "
                      f"{cell[:40]!r} is not a number")
    if cols is not None:
        if len(cols) == width - has_index + 1 and has_index is False:
            _fail(path, "the header has one field more than the rows; give --index yes if "
                  "the first column holds row names")
        cols = [c.strip() for c in cols[len(cols) - values.shape[1]:]]
        if len(cols) != values.shape[1]:
            _fail(path, f"the header has {len(cols)} names for {values.shape[1]} columns")
    return Matrix(values, path, "csv", row_names=names, col_names=cols)


def _require(module, extra):
    try:
        return __import__(module)
    except ImportError:
        raise FileFormatError(f"reading this file needs {module}: pip install "
                              f"'fastnmf[{extra}]'") from None


def _h5_matrix(node, path, stream, m):
    """X from an HDF5/zarr node: a 2-D dataset or a CSR group (data/indices/indptr)."""
    from .data.chunked import CSRArrays

    if hasattr(node, "shape") and hasattr(node, "dtype"):
        if stream:
            m.X, m.streamed = node, True
        else:
            m.X = node[...]
        return m
    keys = set(node.keys())
    if {"data", "indices", "indptr"} <= keys:
        attrs = dict(node.attrs)
        kind = attrs.get("encoding-type", attrs.get("h5sparse_format", "csr_matrix"))
        kind = kind.decode() if isinstance(kind, bytes) else str(kind)
        if kind in ("csc_matrix", "csc"):
            shape = tuple(int(s) for s in attrs.get("shape", attrs.get("h5sparse_shape")))
            m.X = sp.csc_matrix((node["data"][...], node["indices"][...],
                                 node["indptr"][...]), shape=shape).tocsr()
            return m
        src = CSRArrays.from_group(node)
        if stream:
            m.X, m.streamed = src, True
        else:
            m.X = src.read(0, src.shape[0])
        return m
    where = getattr(node, "name", None) or getattr(node, "path", None) or "the group"
    _fail(path, f"{where} is a group holding {sorted(keys)[:10]}, not a matrix; name a "
          "dataset with --key")


def _read_h5ad(path, key, stream, **_):
    anndata = _require("anndata", "anndata")
    h5py = _require("h5py", "ooc")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        adata = anndata.read_h5ad(path, backed="r")
    obs, var = adata.obs.copy(), adata.var.copy()
    rows, cols = [str(s) for s in adata.obs_names], [str(s) for s in adata.var_names]
    adata.file.close()
    f = h5py.File(path, "r")
    m = Matrix(None, path, "h5ad", row_names=rows, col_names=cols, obs=obs, var=var)
    m._closers.append(f.close)
    try:
        if key is None or key == "X":
            if "X" not in f:
                _fail(path, "has no X; name a layer with --key")
            node = f["X"]
        else:
            layers = list(f["layers"].keys()) if "layers" in f else []
            if key not in layers:
                _fail(path, f"no layer {key!r}; its layers: {layers}")
            node = f["layers"][key]
        _h5_matrix(node, path, stream, m)
    except BaseException:
        m.close()
        raise
    return m


def _read_h5(path, key, stream, **_):
    h5py = _require("h5py", "ooc")
    if not h5py.is_hdf5(path):
        _fail(path, "not an HDF5 file")
    f = h5py.File(path, "r")
    m = Matrix(None, path, "h5")
    m._closers.append(f.close)
    try:
        if key is None:
            found = []
            f.visititems(lambda name, obj: found.append(name) if (
                isinstance(obj, h5py.Dataset) and obj.ndim == 2) else None)
            if len(found) != 1:
                _fail(path, f"holds {len(found)} 2-D datasets {found[:10]}; name one with "
                      "--key")
            key = found[0]
        if key not in f:
            _fail(path, f"no dataset or group {key!r}")
        _h5_matrix(f[key], path, stream, m)
    except BaseException:
        m.close()
        raise
    return m


def _read_zarr(path, key, stream, **_):
    zarr = _require("zarr", "ooc")
    node = zarr.open(path, mode="r")
    m = Matrix(None, path, "zarr")
    if key is not None:
        if not hasattr(node, "keys") or key not in node:
            _fail(path, f"no array {key!r}")
        node = node[key]
    elif not hasattr(node, "shape"):
        arrays = [k for k in node.keys() if hasattr(node[k], "shape")]
        if len(arrays) != 1 and not {"data", "indices", "indptr"} <= set(node.keys()):
            _fail(path, f"a group holding {len(arrays)} arrays {arrays[:10]}; name one with "
                  "--key")
        if len(arrays) == 1 and not {"data", "indices", "indptr"} <= set(node.keys()):
            node = node[arrays[0]]
    return _h5_matrix(node, path, stream, m)


# ------------------------------------------------------------------------------- writing
def component_names(k, prefix="NMF"):
    return [f"{prefix}{i + 1}" for i in range(k)]


def write_factors(outdir, family, W=None, H=None, *, row_names=None, col_names=None,
                  obs=None, var=None, uns=None):
    """Write W (m x k) and/or H (k x n) into directory ``outdir`` in ``family``'s format.

    Returns the list of file names written (relative to ``outdir``).  npy: ``W.npy``,
    ``H.npy``; npz: ``W.npz``/``H.npz`` (one array each, named ``W``/``H``); mtx: dense
    Matrix Market ``W.mtx``/``H.mtx``; csv: ``W.csv``/``H.csv`` with the names (rows of W:
    X's row names or 0..m-1; its columns and H's rows ``NMF1..NMFk``; H's columns X's
    column names or 0..n-1) in the input's delimiter; h5ad: ``factors.h5ad`` with X's obs and
    var, W in ``obsm['W']`` and H^T in ``varm['H']``; h5: ``factors.h5`` (datasets W, H);
    zarr: ``factors.zarr`` (arrays W, H).
    """
    outdir = Path(outdir)
    written = []
    k = (W if W is not None else H).shape[1 if W is not None else 0]
    comps = component_names(k)
    if family == "npy":
        for name, A in (("W", W), ("H", H)):
            if A is not None:
                _atomic(outdir / f"{name}.npy", lambda p, A=A: np.save(p, A))
                written.append(f"{name}.npy")
    elif family == "npz":
        for name, A in (("W", W), ("H", H)):
            if A is not None:
                _atomic(outdir / f"{name}.npz", lambda p, A=A, name=name: np.savez(p, **{name: A}))
                written.append(f"{name}.npz")
    elif family == "mtx":
        import scipy.io

        for name, A in (("W", W), ("H", H)):
            if A is not None:
                _atomic(outdir / f"{name}.mtx", lambda p, A=A: scipy.io.mmwrite(p, A))
                written.append(f"{name}.mtx")
    elif family == "csv":
        rows = row_names if row_names is not None else (
            [str(i) for i in range(W.shape[0])] if W is not None else None)
        cols = col_names if col_names is not None else (
            [str(j) for j in range(H.shape[1])] if H is not None else None)
        if W is not None:
            _atomic(outdir / "W.csv", lambda p: _write_csv(p, W, rows, comps))
            written.append("W.csv")
        if H is not None:
            _atomic(outdir / "H.csv", lambda p: _write_csv(p, H, comps, cols))
            written.append("H.csv")
    elif family == "h5ad":
        anndata = _require("anndata", "anndata")
        import pandas as pd

        m = W.shape[0] if W is not None else len(row_names or [])
        n = H.shape[1] if H is not None else len(col_names or [])
        o = obs if obs is not None else pd.DataFrame(
            index=row_names if row_names is not None else [str(i) for i in range(m)])
        v = var if var is not None else pd.DataFrame(
            index=col_names if col_names is not None else [str(j) for j in range(n)])
        if W is None:
            o = pd.DataFrame(index=[])
        if H is None:
            v = pd.DataFrame(index=[])
        a = anndata.AnnData(obs=o, var=v)
        if W is not None:
            a.obsm["W"] = np.asarray(W)
        if H is not None:
            a.varm["H"] = np.ascontiguousarray(np.asarray(H).T)
        a.uns["components"] = np.array(comps)
        if uns:
            a.uns.update(uns)
        _atomic(outdir / "factors.h5ad", lambda p: a.write_h5ad(p))
        written.append("factors.h5ad")
    elif family == "h5":
        h5py = _require("h5py", "ooc")

        def write(p):
            with h5py.File(p, "w") as f:
                if W is not None:
                    f.create_dataset("W", data=np.asarray(W))
                if H is not None:
                    f.create_dataset("H", data=np.asarray(H))
        _atomic(outdir / "factors.h5", write)
        written.append("factors.h5")
    elif family == "zarr":
        zarr = _require("zarr", "ooc")

        def write(p):
            g = zarr.open_group(str(p), mode="w")
            for name, A in (("W", W), ("H", H)):
                if A is not None:
                    A = np.asarray(A)
                    arr = g.create_array(name, shape=A.shape, dtype=A.dtype) if hasattr(
                        g, "create_array") else g.create_dataset(name, shape=A.shape,
                                                                 dtype=A.dtype)
                    arr[...] = A
        _atomic(outdir / "factors.zarr", write, directory=True)
        written.append("factors.zarr")
    else:
        raise ValueError(f"family must be one of {sorted(set(FORMATS.values()))}; got "
                         f"{family!r}")
    return written


def _write_csv(path, A, rows, cols):
    delim = "\t" if str(path).endswith(".tsv") else ","
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, delimiter=delim)
        w.writerow([""] + list(cols))
        for name, row in zip(rows, np.asarray(A)):
            w.writerow([name] + [repr(float(v)) for v in row])


def _atomic(path, write, directory=False):
    """``write(tmp)`` then rename tmp onto ``path``: ``path`` appears only complete."""
    path = Path(path)
    # the writers want the file's own ending (np.save would append .npy to another)
    tmp, fd = temp_beside(path, ".tmp" + path.suffix)
    os.close(fd)
    if directory:
        os.remove(tmp)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
        elif os.path.exists(tmp):
            os.remove(tmp)
        raise


class OutputDir:
    """A directory of results that appears only complete.

    ``with OutputDir(path, force) as tmp:`` files are written into ``tmp``, a new directory
    beside ``path``; on success it is renamed onto ``path`` (a previous ``path`` is replaced
    only with ``force``, and removed only after the new one is in place); on an error,
    Ctrl-C or SIGTERM the temporary directory is removed and ``path`` is left as it was.
    A ``path`` that exists is refused at the start, before any work, unless ``force`` (an
    empty directory counts as free).
    """

    def __init__(self, path, force=False):
        self.path = Path(path)
        self.force = force
        self.tmp = None
        if self.path.exists():
            if not self.path.is_dir():
                raise FileFormatError(f"{self.path}: exists and is not a directory")
            if any(self.path.iterdir()) and not force:
                raise FileFormatError(f"{self.path}: exists and is not empty (--force "
                                      "replaces it)")
        parent = self.path.parent
        if not parent.is_dir():
            raise FileFormatError(f"{parent}: no such directory (for the output {self.path})")
        if not os.access(parent, os.W_OK):
            raise FileFormatError(f"{parent}: not writable")

    def __enter__(self):
        self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.", suffix=".tmp",
                                         dir=self.path.parent))
        return self.tmp

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            return False
        old = None
        if self.path.exists():
            if any(self.path.iterdir()):
                old = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.", suffix=".old",
                                            dir=self.path.parent))
                os.rmdir(old)
                os.rename(self.path, old)
            else:
                os.rmdir(self.path)
        try:
            os.rename(self.tmp, self.path)
        except BaseException:
            if old is not None:
                os.rename(old, self.path)
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise
        os.chmod(self.path, 0o777 & ~_umask())
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return False


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask
