"""X read in row chunks from where it lives: :class:`ChunkedData`.

An X too large for memory stays where it is (a ``numpy.memmap``, an ``h5py.Dataset``, a
``zarr.Array``, CSR arrays on disk, or any re-iterable of row blocks) and every pass over it
reads it a chunk of rows at a time, at most ``chunk_bytes`` of it in memory at once.  The
solvers do not know: :class:`ChunkedData` implements the complete-X operations of the data
protocol (:mod:`fastnmf.data.base`) by accumulating them over the chunks,

    X @ Ht   = the chunks' X_c @ Ht stacked,          X^T @ W = sum_c X_c^T @ W_c,
    ||X||^2  = sum_c ||X_c||^2,                       ||X - W H||^2 = sum_c ||X_c - W_c H||^2,

so a batch solver runs the iterates of the in-memory fit (to rounding: the sums are taken
chunk by chunk).  On dense chunks, cd's sweep of W is fused with the products of the new W
(kernel ``hals_pass_dense`` per chunk): one read of X per iteration.  What a fit holds in
memory: one chunk, the factors and their products, O((m + n) k); never anything m x n.

Sources (:func:`as_source`):

- :class:`ArraySource`: anything with ``shape``, ``dtype`` and row slicing that returns a
  NumPy array: ``numpy.memmap`` (its pages are released after each chunk, so they do not
  accumulate in the process's memory), ``h5py.Dataset``, ``zarr.Array``;
- :class:`CSRArrays`: a sparse X as its three CSR arrays (``data``, ``indices``, ``indptr``),
  each any sliceable 1-D array (memmaps of ``.npy`` files, HDF5 or zarr arrays);
- :class:`RowBlocks`: a re-iterable of row blocks (dense arrays or scipy.sparse matrices,
  the same number of columns), for data that arrives in pieces.

Not supported when X is read in chunks: unknown entries (NaN, ``mask``, ``missing``) and the
Kullback-Leibler coordinate descent, whose H update reads the columns of X (the
multiplicative updates, 'mu' and 'emu', read rows and work).
"""

import mmap
import numbers
import struct
import zipfile

import numpy as np
import scipy.sparse as sp

from .base import Data

#: Bytes of X read at once, by default (``chunk_bytes=None``).
DEFAULT_CHUNK_BYTES = 1 << 28


class ArraySource:
    """Rows of a sliceable 2-D array that may live on disk (memmap, HDF5, zarr)."""

    sparse = False

    def __init__(self, array, name="X"):
        shape = tuple(int(s) for s in array.shape)
        if len(shape) != 2:
            raise ValueError(f"{name} must be 2-D; got shape {shape}")
        self.array = array
        self.shape = shape
        self.dtype = np.dtype(array.dtype)

    def row_bytes(self):
        return self.shape[1] * self.dtype.itemsize

    def read(self, lo, hi):
        """Rows ``lo:hi`` as a C-contiguous ndarray of their own (a copy)."""
        out = np.empty((hi - lo, self.shape[1]), dtype=self.dtype)
        return self.read_into(lo, hi, out)

    def read_into(self, lo, hi, out):
        """Rows ``lo:hi`` into ``out`` (a C-contiguous array of ``hi - lo`` rows), without a
        second copy where the source allows: a memmap is copied a few MB at a time, each
        piece's pages released as soon as it is copied; an HDF5 dataset reads straight into
        ``out``; anything else through one temporary block."""
        a = self.array
        if isinstance(a, np.memmap):
            step = max(1, _PIECE_BYTES // max(1, self.row_bytes()))
            for p in range(lo, hi, step):
                q = min(hi, p + step)
                np.copyto(out[p - lo:q - lo], a[p:q], casting="unsafe")
                _release(a, p, q)
        elif hasattr(a, "read_direct") and out.dtype == self.dtype:  # h5py
            a.read_direct(out, np.s_[lo:hi], np.s_[0:hi - lo])
        else:
            np.copyto(out, np.asarray(a[lo:hi]), casting="unsafe")
        return out


#: A memmap is copied this much at a time (its pages released after each piece).
_PIECE_BYTES = 1 << 23


def _release(mm, lo, hi):
    """Drop rows ``lo:hi`` of a memory-mapped array from this process's resident pages (the
    file's pages stay in the operating system's cache): without it, every page a pass over a
    memmap touches would count in the process's memory until the end."""
    buf = getattr(mm, "_mmap", None)
    if buf is None or not hasattr(buf, "madvise") or not mm.flags.c_contiguous:
        return
    try:
        base = np.frombuffer(buf, dtype=np.uint8).ctypes.data
    except (TypeError, ValueError):  # pragma: no cover - an unusual buffer
        return
    row = mm.strides[0]
    start = mm.ctypes.data - base + lo * row
    stop = start + (hi - lo) * row
    page = mmap.PAGESIZE
    start_page = -(-start // page) * page  # only whole pages inside the rows
    stop_page = stop // page * page
    if stop_page > start_page:
        try:
            buf.madvise(mmap.MADV_DONTNEED, start_page, stop_page - start_page)
        except (OSError, ValueError):  # pragma: no cover - not supported here
            pass


class CSRArrays:
    """A sparse X held as its three CSR arrays, each sliceable (on disk or in memory).

    Parameters
    ----------
    data, indices, indptr : 1-D array-likes with slicing
        The CSR arrays of X: row i's entries are ``data[indptr[i]:indptr[i + 1]]`` at columns
        ``indices[...]``.  Memmaps of ``.npy`` files (``np.load(path, mmap_mode='r')``),
        ``h5py`` or ``zarr`` arrays, or NumPy arrays.
    shape : (n_samples, n_features)

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from fastnmf.data.chunked import CSRArrays
    >>> X = sp.random(50, 30, density=0.1, format="csr", random_state=0)
    >>> CSRArrays(X.data, X.indices, X.indptr, X.shape).shape
    (50, 30)
    """

    sparse = True

    def __init__(self, data, indices, indptr, shape):
        self.data, self.indices = data, indices
        self.indptr = np.asarray(indptr[:], dtype=np.int64)  # m + 1 numbers: kept in memory
        self.shape = tuple(int(s) for s in shape)
        if len(self.shape) != 2 or len(self.indptr) != self.shape[0] + 1:
            raise ValueError(f"indptr must have n_samples + 1 = {self.shape[0] + 1} entries "
                             f"for shape {self.shape}; got {len(self.indptr)}")
        if int(self.indptr[-1]) > len(data) or len(indices) != len(data):
            raise ValueError(f"data and indices must have indptr[-1] = {int(self.indptr[-1])} "
                             f"entries; got {len(data)} and {len(indices)}")
        self.dtype = np.dtype(data.dtype)

    @classmethod
    def from_npz(cls, path):
        """The CSR matrix of a ``scipy.sparse.save_npz`` file, read where it lies: with
        ``compressed=False`` its arrays are memory-mapped inside the file (nothing is
        loaded); compressed, each array is decompressed into memory once (nnz entries).

        >>> import scipy.sparse as sp, tempfile, os
        >>> X = sp.random(40, 10, density=0.2, format="csr", random_state=0)
        >>> path = os.path.join(tempfile.mkdtemp(), "X.npz")
        >>> sp.save_npz(path, X, compressed=False)
        >>> CSRArrays.from_npz(path).shape
        (40, 10)
        """
        with zipfile.ZipFile(path) as z:
            names = {n[:-4] for n in z.namelist() if n.endswith(".npy")}
        missing = {"data", "indices", "indptr", "shape", "format"} - names
        if missing:
            raise ValueError(f"{path!s} is not a scipy.sparse.save_npz file: no "
                             f"{sorted(missing)}")
        fmt = _npz_array(path, "format")
        fmt = fmt.item().decode() if isinstance(fmt.item(), bytes) else str(fmt.item())
        if fmt != "csr":
            raise ValueError(f"{path!s} holds a {fmt!r} matrix; CSRArrays reads rows of a 'csr' "
                             "one (convert it: scipy.sparse.save_npz(path, X.tocsr()))")
        shape = tuple(int(v) for v in _npz_array(path, "shape"))
        return cls(_npz_array(path, "data"), _npz_array(path, "indices"),
                   _npz_array(path, "indptr"), shape)

    @classmethod
    def from_group(cls, group):
        """The CSR matrix stored in an HDF5 or zarr group as ``data``, ``indices``, ``indptr``
        with a ``shape`` attribute (anndata's layout of a sparse ``X``: ``h5py.File(
        "cells.h5ad")["X"]``), read chunk by chunk from the file."""
        attrs = dict(group.attrs)
        kind = attrs.get("encoding-type", attrs.get("h5sparse_format", "csr_matrix"))
        kind = kind.decode() if isinstance(kind, bytes) else str(kind)
        if kind not in ("csr_matrix", "csr"):
            raise ValueError(f"the group holds a {kind!r}; CSRArrays reads rows of a CSR "
                             "matrix (anndata: write it with X as a csr_matrix)")
        shape = attrs.get("shape", attrs.get("h5sparse_shape"))
        if shape is None:
            raise ValueError("the group has no 'shape' attribute (n_samples, n_features)")
        return cls(group["data"], group["indices"], group["indptr"], tuple(shape))

    def row_bytes(self):
        nnz = max(int(self.indptr[-1]), 1)
        return max(1, nnz * (self.dtype.itemsize + 8) // max(self.shape[0], 1))

    def read(self, lo, hi):
        a, b = int(self.indptr[lo]), int(self.indptr[hi])
        data = np.array(self.data[a:b], copy=True)
        indices = np.array(self.indices[a:b], copy=True)
        for arr, full in ((data, self.data), (indices, self.indices)):
            if isinstance(full, np.memmap):
                _release(full.reshape(-1, 1), a, b)
        block = sp.csr_matrix((data, indices, self.indptr[lo:hi + 1] - a),
                              shape=(hi - lo, self.shape[1]))
        block.sum_duplicates()
        block.sort_indices()
        return block

    def __len__(self):
        return self.shape[0]


def _npz_array(path, name):
    """Member ``name`` of an ``.npz`` file: a read-only memmap into the file when it is stored
    uncompressed, else the array read into memory."""
    with zipfile.ZipFile(path) as z:
        info = z.getinfo(name + ".npy")
        if info.compress_type != zipfile.ZIP_STORED:
            with z.open(info) as f:
                return np.lib.format.read_array(f, allow_pickle=False)
    with open(path, "rb") as f:
        f.seek(info.header_offset)
        local = f.read(30)
        if local[:4] != b"PK\x03\x04":
            raise ValueError(f"{path!s}: a damaged zip file (member {name!r})")
        name_len, extra_len = struct.unpack("<HH", local[26:30])
        f.seek(info.header_offset + 30 + name_len + extra_len)
        version = np.lib.format.read_magic(f)
        read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                       else np.lib.format.read_array_header_2_0)
        shape, fortran, dtype = read_header(f)
        offset = f.tell()
    if dtype.hasobject:
        raise ValueError(f"{path!s}: member {name!r} holds Python objects")
    if int(np.prod(shape)) == 0:
        return np.empty(shape, dtype=dtype)
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape,
                     order="F" if fortran else "C")


class RowBlocks:
    """X as the row blocks a re-iterable yields, in order (dense arrays or scipy.sparse
    matrices with the same number of columns).  Each pass over X iterates again, so the
    iterable must start over at every ``iter()``: a list of arrays or of file names read by
    a generator function (``RowBlocks(lambda: (np.load(f) for f in files))`` takes a
    callable that returns a fresh iterator), not a one-shot generator."""

    def __init__(self, blocks):
        if callable(blocks):
            self._make = blocks
        else:
            if iter(blocks) is blocks:
                raise TypeError("RowBlocks needs a re-iterable (a list, or a callable that "
                                "returns a new iterator); got an iterator, which can be read "
                                "only once")
            self._make = lambda: iter(blocks)
        m = n = None
        dtype = None
        self.sparse = None
        self._bounds = [0]
        for block in self._make():
            shape = getattr(block, "shape", None)
            if shape is None or len(shape) != 2:
                raise ValueError(f"every row block must be 2-D; got {type(block).__name__} "
                                 f"with shape {shape}")
            if n is None:
                n, self.sparse = int(shape[1]), sp.issparse(block)
            elif int(shape[1]) != n:
                raise ValueError(f"every row block must have {n} columns (the first one's); "
                                 f"got {shape[1]}")
            dtype = np.result_type(dtype, block.dtype) if dtype is not None else block.dtype
            self._bounds.append(self._bounds[-1] + int(shape[0]))
        if n is None:
            raise ValueError("RowBlocks got no block")
        m = self._bounds[-1]
        self.shape = (m, n)
        self.dtype = np.dtype(dtype)

    def row_bytes(self):
        return self.shape[1] * self.dtype.itemsize

    def blocks(self):
        """``(lo, hi, block)`` of each block, as it comes."""
        for c, block in enumerate(self._make()):
            lo, hi = self._bounds[c], self._bounds[c + 1]
            if block.shape[0] != hi - lo:
                raise ValueError("the row blocks changed between passes over X")
            if sp.issparse(block):
                block = sp.csr_matrix(block)
                block.sum_duplicates()
                block.sort_indices()
            else:
                block = np.ascontiguousarray(block)
            yield lo, hi, block


def is_chunked(X):
    """Whether X is read in chunks: a memmap, an HDF5 or zarr array, :class:`CSRArrays`,
    :class:`RowBlocks`, or an :class:`ArraySource` (anything else is taken into memory)."""
    if isinstance(X, (np.memmap, CSRArrays, RowBlocks, ArraySource, ChunkedData)):
        return True
    module = type(X).__module__ or ""
    return module.startswith(("h5py", "zarr")) and hasattr(X, "shape") and hasattr(X, "dtype")


def source_bytes(src):
    """How many bytes X takes in memory (dense: all its entries; CSR: its three arrays); None
    for row blocks (read only by passing over them)."""
    if isinstance(src, RowBlocks):
        return None
    if isinstance(src, CSRArrays):
        nnz = int(src.indptr[-1])
        return nnz * (src.dtype.itemsize + np.dtype(src.indices.dtype).itemsize) + \
            src.indptr.nbytes
    return src.shape[0] * src.shape[1] * np.dtype(src.dtype).itemsize


def in_memory(X, chunk_bytes=None):
    """X itself in memory (an ndarray, or a CSR matrix for :class:`CSRArrays`) when it takes
    at most ``chunk_bytes`` (None: :data:`DEFAULT_CHUNK_BYTES`): an X that fits in one chunk
    is read whole, once, and fitted like any array in memory (every solver then applies).
    None when X is larger, or is row blocks, or is a :class:`ChunkedData` already."""
    if isinstance(X, ChunkedData):
        return None
    src = as_source(X)
    size = source_bytes(src)
    limit = DEFAULT_CHUNK_BYTES if chunk_bytes is None else chunk_bytes
    if size is None or size > limit:
        return None
    if isinstance(src, CSRArrays):
        return src.read(0, src.shape[0])
    return src.read(0, src.shape[0])


def as_source(X):
    """The source of a chunked X (see the module docstring)."""
    if isinstance(X, (CSRArrays, RowBlocks, ArraySource)):
        return X
    return ArraySource(X)


class ChunkedData(Data):
    """X read a chunk of rows at a time (see the module docstring).

    ``chunk_bytes``: how much of X one chunk holds at most (``None``: 256 MB); at least one
    row.  Created unbound by :func:`chunked` (the validation pass: finite, non-negative, the
    sums the solvers need), bound to kernels by the fit.
    """

    kind = "chunked"

    def __init__(self, source, kernels=None, n_threads=1, chunk_bytes=None):
        self.source = source
        self.X = self  # what solver code that asks for data.X gets: the chunked form itself
        self.kernels, self.n_threads = kernels, n_threads
        self.shape = tuple(source.shape)
        dt = np.dtype(source.dtype)
        self.dtype = np.dtype(np.float32) if dt == np.float32 else np.dtype(np.float64)
        self.cache = {}
        chunk_bytes = DEFAULT_CHUNK_BYTES if chunk_bytes is None else chunk_bytes
        self.chunk_rows = max(1, int(chunk_bytes) // max(1, source.row_bytes()))
        self.sparse = bool(source.sparse)

    @property
    def can_fuse(self):
        return not self.sparse

    def supports(self, op):
        return op != "kl_sweep"

    # ------------------------------------------------------------ reading
    def chunks(self):
        """``(lo, hi, block)`` of every chunk, in order, ``block`` in X's float dtype (a
        C-contiguous ndarray, or a canonical CSR matrix)."""
        src = self.source
        if isinstance(src, RowBlocks):
            it = src.blocks()
        elif isinstance(src, ArraySource):
            it = self._dense_chunks(src)
        else:
            m, step = self.shape[0], self.chunk_rows
            it = ((lo, min(m, lo + step), src.read(lo, min(m, lo + step)))
                  for lo in range(0, m, step))
        for lo, hi, block in it:
            if block.dtype != self.dtype:
                block = block.astype(self.dtype)
            yield lo, hi, block

    def _dense_chunks(self, src):
        """The chunks of a dense source, each read into one buffer reused by the whole pass
        (so a pass holds one chunk, whatever the caller keeps of the last one)."""
        m, step = self.shape[0], self.chunk_rows
        buffer = np.empty((min(step, m), self.shape[1]), dtype=self.dtype)
        for lo in range(0, m, step):
            hi = min(m, lo + step)
            yield lo, hi, src.read_into(lo, hi, buffer[:hi - lo])

    def __getitem__(self, rows):
        """Rows ``rows`` (a slice with step 1) as a block: what the beta terms read."""
        if not isinstance(rows, slice) or rows.step not in (None, 1):
            raise TypeError("a chunked X is read by slices of rows")
        lo, hi, _ = rows.indices(self.shape[0])
        src = self.source
        if isinstance(src, RowBlocks):
            parts = [b[max(lo, a) - a:min(hi, z) - a] for a, z, b in src.blocks()
                     if a < hi and z > lo]
            block = sp.vstack(parts, format="csr") if self.sparse else np.concatenate(parts)
        else:
            block = src.read(lo, hi)
        return block.astype(self.dtype, copy=False)

    def scan(self, name="X"):
        """One pass over X: every entry finite and non-negative (else ValueError), and the
        sums the solvers need (``||X||^2``, ``sum(X)``, the nonzeros, a zero entry), kept."""
        norm2 = total = 0.0
        nnz = 0
        zero = False
        for lo, hi, block in self.chunks():
            values = block.data if sp.issparse(block) else block
            if values.size:
                vmin, vmax = values.min(), values.max()
                if not (np.isfinite(vmin) and np.isfinite(vmax)):
                    raise ValueError(
                        f"{name} must contain only finite values when it is read in chunks "
                        f"(unknown entries are not supported there); rows {lo}:{hi} have NaN "
                        "or infinite entries")
                if vmin < 0:
                    raise ValueError(
                        f"Negative values in data passed to NMF ({name}): {name} must be "
                        f"non-negative; found {float(vmin)!r} in rows {lo}:{hi}")
                v64 = values.astype(np.float64, copy=False).ravel()
                norm2 += float(np.dot(v64, v64))
                total += float(v64.sum())
                stored = int(np.count_nonzero(values))
                nnz += stored
                zero = zero or stored < values.size
            if sp.issparse(block) and block.nnz < block.shape[0] * block.shape[1]:
                zero = True
        self.cache.update({"norm2": norm2, "sum": total, "nonzeros": nnz, "has zeros": zero})
        return self

    def norm2(self):
        return self.cache["norm2"]

    def stored_entries(self):
        return self.cache["nonzeros"]

    @property
    def nnz(self):
        return self.cache["nonzeros"]

    def x_sum(self):
        return self.cache["sum"]

    def mean(self):
        return self.x_sum() / max(self.shape[0] * self.shape[1], 1)

    def has_zeros(self):
        return self.cache["has zeros"]

    # ------------------------------------------------------------ the products
    def x_times(self, Ht, out=None):
        if out is None:
            out = np.empty((self.shape[0], Ht.shape[1]), dtype=Ht.dtype)
        for lo, hi, block in self.chunks():
            if sp.issparse(block):
                self.kernels.csr_matmul(block.data, block.indices, block.indptr, Ht,
                                        out[lo:hi], self.n_threads)
            else:
                np.matmul(block, Ht, out=out[lo:hi])
        return out

    def xt_times(self, W):
        n, k = self.shape[1], W.shape[1]
        total = np.zeros((n, k), dtype=W.dtype)
        part = np.empty((n, k), dtype=W.dtype)
        for lo, hi, block in self.chunks():
            Wc = np.ascontiguousarray(W[lo:hi])
            if sp.issparse(block):
                self.kernels.csr_t_matmul(block.data, block.indices, block.indptr, Wc, part,
                                          self.n_threads)
                total += part
            else:
                total += (Wc.T @ block).T
        return total

    def gram(self, F):
        return F.T @ F

    def fused_pass(self, Ht, HtH, W, l1, l2, perm, XtW, WtW, n_threads):
        """cd's sweep of W fused with ``X^T W`` and ``W^T W``: kernel ``hals_pass_dense`` on
        each chunk (its rows of W), the chunks' partial products added in chunk order."""
        n, k = XtW.shape
        xtw, wtw = np.empty((n, k), dtype=W.dtype), np.empty((k, k), dtype=W.dtype)
        XtW[...] = 0
        WtW[...] = 0
        violation = 0.0
        for lo, hi, block in self.chunks():
            violation += self.kernels.hals_pass_dense(block, Ht, HtH, W[lo:hi], l1, l2, perm,
                                                      xtw, wtw, n_threads)
            XtW += xtw
            WtW += wtw
        return violation

    def reconstruction_error(self, W, Ht):
        if self.sparse:
            from ..solvers.frobenius import data_loss
            from .._validation import dot64

            cross = dot64(self.x_times(Ht), W)
            return float(np.sqrt(2 * data_loss(self.norm2(), cross, W.T @ W, Ht.T @ Ht)))
        H = np.ascontiguousarray(Ht.T)
        sq = 0.0
        for lo, hi, block in self.chunks():
            sq += self.kernels.squared_residual(block, np.ascontiguousarray(W[lo:hi]), H,
                                                self.n_threads)
        return float(np.sqrt(sq))

    def beta_terms(self, floor=None):
        if self.sparse:
            raise ValueError("the beta-divergence losses are not supported on a sparse X read "
                             "in chunks; load X into memory (scipy.sparse), or use the "
                             "Frobenius loss")
        return super().beta_terms(floor)

    def kl_sweep(self, *args, **kwargs):
        raise ValueError("the Kullback-Leibler coordinate descent reads the columns of X, "
                         "which a chunked X does not give; use solver='mu' or 'emu'")

    def init_view(self):
        return self


def chunked(X, chunk_bytes=None, name="X"):
    """The unbound :class:`ChunkedData` of a chunked X (``is_chunked(X)``), after its
    validation pass (:meth:`ChunkedData.scan`)."""
    if isinstance(X, ChunkedData):
        return X
    if chunk_bytes is not None and (isinstance(chunk_bytes, bool)
                                    or not isinstance(chunk_bytes, numbers.Integral)
                                    or chunk_bytes < 1):
        raise ValueError(f"chunk_bytes must be None or an int >= 1 (bytes of X read at once); "
                         f"got {chunk_bytes!r}")
    src = as_source(X)
    kind = np.dtype(src.dtype).kind
    if kind not in "biuf":
        raise TypeError(f"{name} must hold numbers; got dtype {np.dtype(src.dtype)}")
    if src.shape[0] == 0 or src.shape[1] == 0:
        raise ValueError(f"{name} must have at least one row and one column; got shape "
                         f"{src.shape}")
    return ChunkedData(src, chunk_bytes=chunk_bytes).scan(name)
