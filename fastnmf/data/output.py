"""Where W goes: :class:`WOutput`, the m x k result written to a caller's array or to a file.

``fit_transform``, ``transform`` and ``non_negative_factorization`` take ``out``:

- ``None``: W is returned as the in-memory ndarray the fit computed;
- a path (``str`` or ``os.PathLike``): W is written to a ``.npy`` file there (exactly that
  path, no suffix added) and returned as ``np.load(path, mmap_mode='r+')``, a
  ``numpy.memmap``.  The file is written as a temporary file in the same directory
  (``<name>.<random>.npy.tmp``), flushed to the disk and renamed onto the path
  (``os.replace``) only when it is complete, so the path never holds a half-written W: on an
  error (or an interrupt) the temporary file is removed and a file already at the path is
  left as it was.  The space is reserved when the temporary file is created
  (``posix_fallocate`` where the file system has it), so a full disk is an ``OSError`` then,
  not a crash while W is written;
- an ndarray (a ``numpy.memmap`` included) of shape (n_samples, n_components), exactly the
  result's dtype (X's float dtype) and writeable: W is written into it and it is returned.

An NMF fit computes W in memory (a solver holds a few m x k arrays); ``out`` copies that W to
its destination a block of rows at a time (:func:`write_rows`), so writing it adds no second
m x k array in memory.  An online fit (``MiniBatchNMF``) can write each batch's rows straight
into :attr:`WOutput.array`.  The pattern::

    o = WOutput.open(out, (m, k), dtype)
    try:
        ...                     # o.array[rows] = W_rows, batch by batch
        return o.finish()       # the final array (flushed, renamed, mapped again)
    except BaseException:
        o.abort()               # the temporary file removed
        raise

or, the same, ``with WOutput.open(out, (m, k), dtype) as o: ...`` and then ``o.result``.
"""

import errno
import os
import secrets
import stat

import numpy as np

#: Entries of W copied at once by :func:`write_rows` (32 MB of float64).
DEFAULT_STEP_ENTRIES = 1 << 22


def write_rows(dst, src, step_entries=DEFAULT_STEP_ENTRIES):
    """Copy ``src`` into ``dst`` (both 2-D, the same shape and dtype) a block of rows at a
    time, about ``step_entries`` entries each: no temporary of the whole array is made, and
    a memmap ``dst`` is written a block at a time.  Returns ``dst``."""
    if dst.shape != src.shape or len(dst.shape) != 2:
        raise ValueError(f"write_rows: the shapes differ or are not 2-D: {dst.shape} and "
                         f"{src.shape}")
    m, k = dst.shape
    step = max(1, int(step_entries) // max(1, k))
    for lo in range(0, m, step):
        hi = min(m, lo + step)
        np.copyto(dst[lo:hi], src[lo:hi], casting="no")
    return dst


def check_out(out, name="out"):
    """What can be checked of ``out`` before its shape and dtype are known: its type, that a
    path's directory exists and is not a directory itself, that an array is writeable.
    ``TypeError`` or ``ValueError`` (``FileNotFoundError`` for a missing directory), each
    naming ``name``."""
    if out is None:
        return
    if isinstance(out, np.ndarray):
        if not out.flags.writeable:
            raise ValueError(f"{name} must be a writeable array; got a read-only array "
                             f"(shape {out.shape}, dtype {out.dtype})")
        return
    if isinstance(out, (str, os.PathLike)):
        path = os.fspath(out)
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        if path == "":
            raise ValueError(f"{name} must be a file path; got an empty string")
        if os.path.isdir(path):
            raise ValueError(f"{name} must be a file path; got {path!r}, which is a directory")
        directory = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(directory):
            raise FileNotFoundError(errno.ENOENT, f"{name}={path!r}: its directory does not "
                                    f"exist", directory)
        return
    raise TypeError(f"{name} must be None, a file path (str or os.PathLike) or a writeable "
                    f"numpy array; got {type(out).__name__}")


class WOutput:
    """The destination of an m x k W: :attr:`array` to write into, then :meth:`finish`
    (or :meth:`abort` on an error).  Made by :meth:`open`."""

    def __init__(self, array, path=None, tmp=None, name="out"):
        self._array = array
        self.path = path    # the final path (a file output), else None
        self.tmp = tmp      # the temporary file being written (a file output), else None
        self.name = name
        self.result = None  # what finish() returned
        self._done = False

    # ---------------------------------------------------------------- opening
    @classmethod
    def open(cls, out, shape, dtype, name="out", disjoint_from=()):
        """The output for ``out`` (None, a path or an ndarray, see the module) of a W of
        ``shape`` and ``dtype``.  A path's temporary file is created here, the full size
        (reserved on the disk where the file system can); an ndarray is checked: shape,
        exactly ``dtype``, writeable, and no memory shared with the arrays of
        ``disjoint_from`` (X: an array, or a tuple of them).  Errors name ``name``."""
        shape = tuple(int(s) for s in shape)
        dtype = np.dtype(dtype)
        check_out(out, name)
        others = [a for a in (disjoint_from if isinstance(disjoint_from, (tuple, list))
                              else (disjoint_from,)) if a is not None]
        if out is None:
            return cls(np.empty(shape, dtype=dtype), name=name)
        if isinstance(out, np.ndarray):
            if out.shape != shape:
                raise ValueError(f"{name} must have shape {shape} (n_samples, n_components); "
                                 f"got shape {out.shape}")
            if out.dtype != dtype:
                raise ValueError(f"{name} must have dtype {dtype} (the dtype of the result, "
                                 f"X's float dtype); got dtype {out.dtype}")
            for a in others:
                if _overlaps(out, a):
                    raise ValueError(f"{name} must not share memory with X; got an array "
                                     "that overlaps X")
            return cls(out, name=name)
        path = os.fspath(out)
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        for a in others:
            if _same_file(path, getattr(a, "filename", None)):
                raise ValueError(f"{name}={path!r} is the file X is read from; write W to "
                                 "another file")
        return cls._open_file(path, shape, dtype, name)

    @classmethod
    def _open_file(cls, path, shape, dtype, name):
        tmp, fd = temp_beside(path, ".npy.tmp", name=name)
        try:
            os.close(fd)
            fd = None
            array = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=shape)
            _reserve(tmp)
        except BaseException:
            if fd is not None:
                os.close(fd)
            _remove(tmp)
            raise
        return cls(array, path=path, tmp=tmp, name=name)

    # ---------------------------------------------------------------- writing
    @property
    def array(self):
        """The m x k array to write W into (a memmap of the temporary file for a path)."""
        if self._done:
            raise ValueError(f"{self.name}: the output is finished or aborted")
        return self._array

    def write(self, rows, values):
        """``array[rows] = values``."""
        self.array[rows] = values

    def fill(self, W, step_entries=DEFAULT_STEP_ENTRIES):
        """All of W (an m x k array of the output's dtype), a block of rows at a time
        (:func:`write_rows`).  Returns ``self``."""
        write_rows(self.array, W, step_entries)
        return self

    # -------------------------------------------------------------- finishing
    def finish(self):
        """The final array: a file is flushed to the disk, renamed onto its path and mapped
        again (``np.load(path, mmap_mode='r+')``); an array given is flushed if a memmap,
        and returned.  On an error the temporary file is removed (:meth:`abort`)."""
        if self._done:
            raise ValueError(f"{self.name}: the output is already finished or aborted")
        if self.tmp is None:
            if isinstance(self._array, np.memmap):
                self._array.flush()
            self.result, self._array, self._done = self._array, None, True
            return self.result
        try:
            self._array.flush()
            self._array = None  # this mapping of the temporary file: dropped
            with open(self.tmp, "rb+") as f:
                os.fsync(f.fileno())
            os.replace(self.tmp, self.path)
        except BaseException:
            self.abort()
            raise
        self.tmp, self._done = None, True
        _sync_directory(os.path.dirname(os.path.abspath(self.path)))
        self.result = np.load(self.path, mmap_mode="r+")
        return self.result

    def abort(self):
        """Give up: the temporary file (if any) is removed; a file at the path is untouched.
        An array given keeps what was written into it.  Safe to call more than once."""
        self._array, self._done = None, True
        if self.tmp is not None:
            _remove(self.tmp)
            self.tmp = None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.finish()
        else:
            self.abort()
        return False

    def __repr__(self):
        where = (f"path={self.path!r}" if self.path is not None else
                 "array" if not self._done else "done")
        return f"WOutput({where})"


def _overlaps(out, a):
    """Whether ``out`` may write into ``a`` (memory, or a memmap of the same file)."""
    if not isinstance(a, np.ndarray):
        return False
    if np.may_share_memory(out, a):
        return True
    return _same_file(getattr(out, "filename", None), getattr(a, "filename", None))


def _same_file(p, q):
    if not p or not q:
        return False
    try:
        return os.path.samefile(p, q)
    except (OSError, TypeError, ValueError):
        return False


def temp_beside(path, suffix=".tmp", name="path"):
    """A new file beside ``path`` under a random name ending in ``suffix``, created
    exclusively with the mode a new file gets (0o666 less the umask, as ``np.save``) or, when
    it will replace a file at ``path``, that file's mode.  Returns ``(tmp, fd)``, the file
    open for reading and writing.  The temporary half of every write that appears whole:
    W's ``out`` file, a saved model, the command line's outputs."""
    directory, base = os.path.split(os.path.abspath(path))
    for _ in range(100):
        tmp = os.path.join(directory, f"{base}.{secrets.token_hex(6)}{suffix}")
        try:
            fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:  # pragma: no cover - a 48-bit name taken
            continue
        except OSError as e:  # not writeable there, say
            raise type(e)(e.errno, f"{name}={path!r}: cannot create a file in its "
                          f"directory ({e.strerror})", tmp) from e
        break
    else:  # pragma: no cover
        raise FileExistsError(f"{name}={path!r}: no free temporary file name in {directory!r}")
    try:  # a file replaced keeps its permissions
        os.fchmod(fd, stat.S_IMODE(os.stat(path).st_mode))
    except (OSError, AttributeError):
        pass
    return tmp, fd


_NO_SPACE = tuple(getattr(errno, n) for n in ("ENOSPC", "EFBIG", "EDQUOT") if hasattr(errno, n))


def _reserve(path):
    """Allocate the file's blocks now, so that a full disk is an OSError here rather than a
    SIGBUS when the memmap is written; file systems without it are left as they are."""
    if not hasattr(os, "posix_fallocate"):  # pragma: no cover - not POSIX
        return
    size = os.path.getsize(path)
    if size == 0:
        return
    fd = os.open(path, os.O_RDWR)
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as e:
        if e.errno in _NO_SPACE:
            raise
    finally:
        os.close(fd)


def _remove(path):
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def _sync_directory(directory):
    """The rename made durable (best effort: not every platform opens directories)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


__all__ = ["DEFAULT_STEP_ENTRIES", "WOutput", "check_out", "write_rows"]
