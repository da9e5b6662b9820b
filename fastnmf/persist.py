"""Saved models without pickle: :func:`save` (the estimators' ``save(path)``) and :func:`load`
(``fastnmf.load(path)``).

A model file is a zip archive of plain ``.npy`` arrays and one JSON member, ``fastnmf.json``,
that describes the model: the format and its version, the fastnmf version that wrote it, the
estimator's class, its constructor parameters (``get_params()``) and its fitted attributes.
A value that is not JSON (an array, a non-finite float, a tuple, a path, a
``numpy.random.RandomState``) is a one-key object naming its kind: ``{"array":
"components_.npy"}`` refers to the member that holds the array.  A
:class:`~fastnmf.MiniBatchNMF` also keeps what ``partial_fit`` continues from: the validated
parameters (``_p``) and the online rule's statistics, so a loaded model continues its stream
exactly as the saved one would.

Loading reads the JSON with :mod:`json` and each array's ``.npy`` header and data with
:mod:`numpy.lib.format`, refusing object arrays before any byte of their data is read: nothing
in a file is ever run as code (no pickle).  Only the parameters and attributes this module
knows are set, each checked for its type and shape.

The format version is :data:`FORMAT_VERSION`.  It goes up when a file of the new version
could not be read correctly by the readers of the older ones; this reader loads every version
up to its own, and refuses newer ones with a message saying so.
"""

import errno
import io
import json
import math
import numbers
import os
import warnings
import zipfile
from pathlib import Path

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ._backends import get_backend, resolve_backend_name
from ._estimator import NMF
from .data.output import _remove, _sync_directory, temp_beside
from .online import masked as _masked
from .online import steps as _steps
from .online.estimator import MiniBatchNMF
from .parallel.threads import kernel_threads, resolve_n_threads

#: what ``fastnmf.json``'s ``"format"`` says
FORMAT = "fastnmf-model"
#: the version of the format written; files of versions 1 to this one are read
FORMAT_VERSION = 1
#: the JSON member
META = "fastnmf.json"
#: the largest JSON member read (bytes): a model's description, feature names included
MAX_META_BYTES = 1 << 30

#: the classes a file may hold, by the name written in it
CLASSES = {"NMF": NMF, "MiniBatchNMF": MiniBatchNMF}

#: the fitted attributes saved and restored, by class, with their kind (see :func:`_check_attr`):
#: 'factor' a 2-D float32/float64 array, 'vector' a 1-D float array, 'int', 'float', 'str',
#: 'names' a list of str (an object array of str in the estimator), 'dict' a dict of values
_COMMON = {
    "components_": "factor", "n_components_": "int", "n_features_in_": "int",
    "feature_names_in_": "names", "n_iter_": "int", "reconstruction_err_": "float",
    "loss_history_": "vector", "time_history_": "vector", "solver_": "str", "backend_": "str",
    "n_missing_": "int",
}
ATTRIBUTES = {
    "NMF": dict(_COMMON, run_losses_="vector", W_="factor", _warm_W="factor"),
    # _p: the parameters as validated at the first fit or partial_fit ('auto' penalties
    # resolved), which partial_fit and transform read
    "MiniBatchNMF": dict(_COMMON, n_steps_="int", _p="dict"),
}
#: attributes without which a model is not fitted
REQUIRED = ("components_", "n_components_", "n_features_in_")

#: the online rules of MiniBatchNMF, by class name, with the statistics each keeps
#: (``rule.state()``) and the shape of each in terms of (n_features, n_components)
RULES = {
    "OnlineMU": (_steps.OnlineMU, {"A": "nk", "B": "nk"}),
    "OnlineKL": (_steps.OnlineKL, {"A": "nk", "B": "nk"}),
    "OnlineCD": (_steps.OnlineCD, {"A": "kk", "B": "nk", "l1_acc": "", "l2_acc": "",
                                   "rows_acc": ""}),
    "MaskedOnlineMU": (_masked.MaskedOnlineMU, {"A": "nk", "B": "nk"}),
    "MaskedOnlineKL": (_masked.MaskedOnlineKL, {"A": "nk", "B": "nk"}),
    "MaskedOnlineCD": (_masked.MaskedOnlineCD, {"A": "n(kk)", "B": "nk", "count": "n",
                                                "scale": ""}),
}

#: the bit generators a saved ``numpy.random.RandomState`` may run on (looked up by name in
#: this table only)
BIT_GENERATORS = {name: getattr(np.random, name)
                  for name in ("MT19937", "PCG64", "PCG64DXSM", "Philox", "SFC64")
                  if hasattr(np.random, name)}


class _Unsupported(TypeError):
    """A value this format cannot hold (raised by :class:`_Writer`, reworded by callers)."""


# --------------------------------------------------------------------------------- saving
def save(estimator, path, *, include_W=True):
    """Save a fitted :class:`~fastnmf.NMF` or :class:`~fastnmf.MiniBatchNMF` to ``path``.

    Parameters
    ----------
    estimator : fastnmf.NMF or fastnmf.MiniBatchNMF, fitted
    path : str, os.PathLike or binary file object
        The file written, exactly this path (no extension added; ``.npz`` is a good one: the
        file is a zip of ``.npy`` arrays).  A file already there is replaced, as by
        ``np.save``; the new file is written beside it under a temporary name, flushed to
        the disk and renamed onto ``path`` only when complete, so ``path`` never holds half
        a model (on an error or an interrupt the temporary file is removed and a file
        already at ``path`` is left as it was).  A file object opened for writing in binary
        mode gets the archive written into it (without that guarantee).
    include_W : bool, default=True
        NMF only: also save ``W_``, the W of the last fit (n_samples x n_components), which
        :meth:`~fastnmf.NMF.predict_entries` uses by default.  False keeps the file small
        when only ``transform`` matters.  A W held on a Dask cluster is never saved.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        The estimator is not fitted.
    TypeError
        Not a fastnmf estimator, or a parameter this format cannot hold (anything but
        None, bool, int, float, str, lists and tuples of them, numeric arrays, paths, a
        ``numpy.random.RandomState``).  A callable (``callback``) is not saved: a warning
        says so, and the loaded model has ``callback=None``.
    """
    cls_name = _class_name(estimator)
    check_is_fitted(estimator)
    if not isinstance(include_W, (bool, np.bool_)):
        raise TypeError(f"include_W must be a bool; got {include_W!r}")
    meta, arrays = _describe(estimator, cls_name, bool(include_W))

    def write(f):
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
            zf.writestr(META, json.dumps(meta, indent=1, allow_nan=False))
            for name, array in arrays.items():
                with zf.open(name, "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, array, allow_pickle=False)

    if _is_path(path):
        _write_atomic(_as_str_path(path), write)
    elif hasattr(path, "write"):
        if isinstance(path, io.TextIOBase):
            raise TypeError("path must be a file path or a binary file object; got a file "
                            "opened in text mode (open it with 'wb')")
        write(path)
    else:
        raise TypeError("path must be a file path (str or os.PathLike) or a binary file "
                        f"object opened for writing; got {type(path).__name__}")


def _class_name(estimator):
    """The name written for the estimator's class (exactly NMF or MiniBatchNMF: a subclass
    could not be loaded as itself)."""
    for name, cls in CLASSES.items():
        if type(estimator) is cls:
            return name
    raise TypeError("save takes a fastnmf.NMF or fastnmf.MiniBatchNMF; got "
                    f"{type(estimator).__module__}.{type(estimator).__qualname__}")


def _describe(est, cls_name, include_W):
    """``(meta, arrays)``: the JSON description and the arrays (member name -> ndarray)."""
    from . import __version__

    writer = _Writer()
    params, unsaved_params = {}, {}
    for name, value in est.get_params(deep=False).items():
        if callable(value) and not isinstance(value, np.random.RandomState):
            unsaved_params[name] = f"a callable ({type(value).__name__}) is not saved"
            continue
        try:
            params[name] = writer.value(value, f"params.{name}")
        except _Unsupported as exc:
            raise TypeError(
                f"cannot save {name}={value!r}: {exc}; a saved parameter must be None, a bool, "
                "int, float or str, a list or tuple of them, a numeric array, a file path or a "
                "numpy.random.RandomState (set it to one of these before saving)") from None
    if unsaved_params:
        warnings.warn(f"{cls_name}.save: not saved: {', '.join(unsaved_params)} (a callable "
                      "cannot be saved without pickle); the loaded model has "
                      f"{', '.join(f'{n}=None' for n in unsaved_params)}",
                      UserWarning, stacklevel=4)  # model.save: the caller of save
    attributes, unsaved_attrs = {}, {}
    for name, kind in ATTRIBUTES[cls_name].items():
        if not hasattr(est, name):
            continue
        value = getattr(est, name)
        if name == "W_" and not include_W:
            unsaved_attrs[name] = "include_W=False"
            continue
        if name == "_warm_W":
            if value is None or not include_W:
                continue  # the next warm start solves W from H (as for new rows)
            if attributes.get("W_") is not None and np.array_equal(value, est.W_):
                attributes[name] = "W_"  # the same values: one copy in the file
                continue
        if kind in ("factor", "vector") and not isinstance(value, np.ndarray):
            unsaved_attrs[name] = (f"{type(value).__module__}.{type(value).__qualname__}, "
                                   "not an in-memory array")
            continue
        if kind == "names":
            value = [str(v) for v in value]
        if name == "_p":  # its random_state is the parameter itself, set again at load
            value = {key: v for key, v in value.items() if key != "random_state"}
        try:
            attributes[name] = writer.value(value, name)
        except _Unsupported as exc:  # pragma: no cover - the estimators' own attributes
            raise TypeError(f"cannot save the attribute {name}: {exc}") from None
    if "W_" in unsaved_attrs and unsaved_attrs["W_"] != "include_W=False":
        warnings.warn(f"NMF.save: W_ ({unsaved_attrs['W_']}) is not saved; the loaded "
                      "model's predict_entries needs W passed", UserWarning, stacklevel=4)
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "fastnmf_version": __version__,
        "class": cls_name,
        "params": params,
        "unsaved_params": unsaved_params,
        "attributes": attributes,
        "unsaved_attributes": unsaved_attrs,
    }
    rule = getattr(est, "_online_rule", None) if cls_name == "MiniBatchNMF" else None
    if rule is not None:
        meta["online_rule"] = _describe_rule(rule, writer)
    return meta, writer.arrays


def _describe_rule(rule, writer):
    """What rebuilds MiniBatchNMF's online rule: its class, loss, penalties, forgetting,
    dtype and statistics (the kernels and threads are this machine's, set at load)."""
    name = type(rule).__name__
    if name not in RULES or RULES[name][0] is not type(rule):  # pragma: no cover
        raise TypeError(f"cannot save the online rule {name}: not one this format knows")
    reg = rule.reg
    return {
        "class": name,
        "beta": writer.value(rule.beta, "rule.beta"),
        "rho": writer.value(rule.rho, "rule.rho"),
        "dtype": str(np.dtype(rule.dtype)),
        "reg": {"alpha_W": writer.value(reg.alpha_W, "rule.alpha_W"),
                "alpha_H": writer.value(reg.alpha_H, "rule.alpha_H"),
                "l1_ratio": writer.value(reg.l1_ratio, "rule.l1_ratio"),
                "n_features": int(reg.n_features)},
        "state": {key: writer.value(value, f"rule.{key}")
                  for key, value in rule.state().items()},
    }


class _Writer:
    """Values into JSON, arrays into members: :meth:`value` returns what JSON holds for a
    value and collects its arrays in :attr:`arrays` (member name -> ndarray)."""

    def __init__(self):
        self.arrays = {}

    def value(self, x, where):
        """JSON for ``x``; ``where`` names the value (and its array members)."""
        if x is None or isinstance(x, (bool, str)):
            return x
        if isinstance(x, np.bool_):
            return bool(x)
        if isinstance(x, numbers.Integral):
            return int(x)
        if isinstance(x, numbers.Real):
            x = float(x)
            return x if math.isfinite(x) else {"float": repr(x)}  # 'nan', 'inf', '-inf'
        if isinstance(x, np.ndarray):
            return {"array": self.array(x, where)}
        if isinstance(x, (list, tuple)):
            items = [self.value(v, f"{where}.{i}") for i, v in enumerate(x)]
            return items if isinstance(x, list) else {"tuple": items}
        if isinstance(x, dict):
            if not all(isinstance(key, str) for key in x):
                raise _Unsupported("a dict with keys other than str")
            return {"dict": {key: self.value(v, f"{where}.{key}") for key, v in x.items()}}
        if isinstance(x, os.PathLike):
            return {"path": os.fsdecode(os.fspath(x))}
        if isinstance(x, np.random.RandomState):
            # the generator's whole state, plain numbers and arrays: it draws on, once
            # loaded, what the saved one would have drawn
            return {"random_state": self.value(x.get_state(legacy=False), where)}
        raise _Unsupported(f"a {type(x).__module__}.{type(x).__qualname__} cannot be saved")

    def array(self, a, where):
        a = np.asarray(a)  # a memmap: its data
        if a.dtype.kind not in "biuf":
            raise _Unsupported(f"an array of dtype {a.dtype} (only bool, int and float arrays "
                               "are saved)")
        name = f"{where}.npy"
        if name in self.arrays or name == META:  # pragma: no cover - names are unique
            raise _Unsupported(f"two arrays named {name}")
        self.arrays[name] = a
        return name


def _is_path(path):
    return isinstance(path, (str, bytes, os.PathLike))


def _as_str_path(path):
    path = os.fspath(path)
    path = os.fsdecode(path) if isinstance(path, bytes) else path
    if path == "":
        raise ValueError("path must be a file path; got an empty string")
    return path


def _write_atomic(path, write):
    """``write(f)`` into a temporary file beside ``path``, flushed to the disk and renamed
    onto ``path`` when complete; on any error (an interrupt too) the temporary file is
    removed and whatever was at ``path`` is left as it was."""
    if os.path.isdir(path):
        raise ValueError(f"path must be a file path; got {path!r}, which is a directory")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(errno.ENOENT, f"path={path!r}: its directory does not exist",
                                directory)
    tmp, fd = temp_beside(path)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise
    _sync_directory(directory)


# -------------------------------------------------------------------------------- loading
def load(path):
    """The fitted estimator saved at ``path`` (by ``NMF.save`` or ``MiniBatchNMF.save``).

    Parameters
    ----------
    path : str, os.PathLike or binary file object
        A file written by :func:`save`.  Nothing in it is run as code: the description is
        JSON, the arrays ``.npy`` data read without pickle (an object array is refused).

    Returns
    -------
    estimator : fastnmf.NMF or fastnmf.MiniBatchNMF
        Fitted, with the saved parameters and attributes: ``transform``,
        ``inverse_transform`` and ``get_params`` agree with the saved model's, and a
        MiniBatchNMF's ``partial_fit`` continues where the saved one stood.  A parameter
        that was not saved (a callable ``callback``) is None.

    Raises
    ------
    ValueError
        The file is not a fastnmf model (not a zip, no ``fastnmf.json``, truncated, an
        unknown class, an object array, ...), or was written in a newer format or with
        parameters or attributes this fastnmf does not know; the message names the path and
        the problem.
    FileNotFoundError
        No file at ``path``.
    """
    if _is_path(path):
        shown = _as_str_path(path)
        with open(shown, "rb") as f:
            return _load(f, shown)
    if hasattr(path, "read"):
        if isinstance(path, io.TextIOBase):
            raise TypeError("path must be a file path or a binary file object; got a file "
                            "opened in text mode (open it with 'rb')")
        shown = getattr(path, "name", None)
        shown = shown if isinstance(shown, str) else f"<{type(path).__name__}>"
        f = path
        if not (hasattr(f, "seekable") and f.seekable()):  # a zip is read from its end
            f = io.BytesIO(f.read())
        return _load(f, shown)
    raise TypeError("path must be a file path (str or os.PathLike) or a binary file object "
                    f"opened for reading; got {type(path).__name__}")


class _BadFile(ValueError):
    """What is wrong with a file (reworded with its path by :func:`_load`)."""


def _load(f, shown):
    try:
        zf = zipfile.ZipFile(f, "r")
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
        raise ValueError(f"cannot load {shown!r}: not a fastnmf model file: it is not a zip "
                         f"archive, or is truncated ({exc}); a fastnmf model is a zip of .npy "
                         f"arrays and {META}, written by model.save(path)") from None
    try:
        with zf:
            reader = _Reader(zf)
            meta = reader.meta()
            return _build(meta, reader)
    except _BadFile as exc:
        raise ValueError(f"cannot load {shown!r}: {exc}") from None
    except (zipfile.BadZipFile, EOFError, OSError, KeyError, ValueError, TypeError,
            UnicodeDecodeError, RuntimeError) as exc:
        # a damaged archive (a bad CRC, a truncated member, ...) found while reading it
        raise ValueError(f"cannot load {shown!r}: the file is damaged or not a fastnmf model "
                         f"({type(exc).__name__}: {exc})") from None


class _Reader:
    """The members of an open model archive: the JSON description, and arrays read without
    pickle and checked against their member's size before they are allocated."""

    def __init__(self, zf):
        self.zf = zf
        self.names = set(zf.namelist())

    def meta(self):
        if META not in self.names:
            raise _BadFile(f"not a fastnmf model file: the archive has no {META} (members: "
                           f"{_some(sorted(self.names))}); a fastnmf model is written by "
                           "model.save(path)")
        info = self.zf.getinfo(META)
        if info.file_size > MAX_META_BYTES:
            raise _BadFile(f"{META} is {info.file_size} bytes, more than a model's "
                           f"description ({MAX_META_BYTES}); not a fastnmf model file")
        try:
            meta = json.loads(self.zf.read(META).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise _BadFile(f"{META} is not valid JSON ({exc})") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise _BadFile(f"not a fastnmf model file: {META} does not say "
                           f"format={FORMAT!r}")
        return meta

    def array(self, name, where):
        if not isinstance(name, str) or name not in self.names:
            raise _BadFile(f"{where} refers to the member {name!r}, which the archive does "
                           "not have")
        info = self.zf.getinfo(name)
        with self.zf.open(info) as m:
            try:
                version = np.lib.format.read_magic(m)
                if version == (1, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_1_0(m)
                elif version == (2, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_2_0(m)
                else:
                    raise ValueError(f".npy format version {version} is not one fastnmf "
                                     "writes")
            except ValueError as exc:
                raise _BadFile(f"the member {name} ({where}) is not a .npy array ({exc})") \
                    from None
            if dtype.hasobject:
                raise _BadFile(f"the member {name} ({where}) holds Python objects (dtype "
                               f"{dtype}), which only pickle could read; refused (a fastnmf "
                               "model has numeric arrays only)")
            if dtype.kind not in "biuf":
                raise _BadFile(f"the member {name} ({where}) has dtype {dtype}; a fastnmf "
                               "model has bool, int and float arrays only")
            count = math.prod(shape)
            nbytes = count * dtype.itemsize
            if nbytes > info.file_size:  # checked before anything that large is allocated
                raise _BadFile(f"the member {name} ({where}) is truncated: its header says "
                               f"shape {shape} ({nbytes} bytes), the member has "
                               f"{info.file_size} bytes")
            buf = np.empty(nbytes, dtype=np.uint8)
            view, done = memoryview(buf), 0
            while done < nbytes:
                got = m.readinto(view[done:])
                if not got:
                    raise _BadFile(f"the member {name} ({where}) is truncated")
                done += got
            if m.read(1):
                raise _BadFile(f"the member {name} ({where}) has data after its array")
        a = buf.view(dtype).reshape(shape, order="F" if fortran else "C")
        return a if a.dtype.isnative else a.astype(a.dtype.newbyteorder("="))


def _some(names, n=8):
    return ", ".join(names[:n]) + (f", ... ({len(names)} in all)" if len(names) > n else "") \
        if names else "none"


def _decode(v, reader, where):
    """The value a JSON description ``v`` of :class:`_Writer` stands for."""
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, list):
        return [_decode(x, reader, f"{where}[{i}]") for i, x in enumerate(v)]
    if isinstance(v, dict) and len(v) == 1:
        ((tag, body),) = v.items()
        if tag == "array":
            return reader.array(body, where)
        if tag == "float" and body in ("nan", "inf", "-inf"):
            return float(body)
        if tag == "tuple" and isinstance(body, list):
            return tuple(_decode(x, reader, f"{where}[{i}]") for i, x in enumerate(body))
        if tag == "dict" and isinstance(body, dict):
            return {key: _decode(x, reader, f"{where}.{key}") for key, x in body.items()}
        if tag == "path" and isinstance(body, str):
            return Path(body)
        if tag == "random_state":
            return _random_state(_decode(body, reader, where), where)
    raise _BadFile(f"{where} holds {_short(v)}, which is not a value fastnmf writes")


def _short(v, n=80):
    text = json.dumps(v)
    return text if len(text) <= n else text[:n] + "..."


def _random_state(state, where):
    """A ``numpy.random.RandomState`` in the saved state (its bit generator from
    :data:`BIT_GENERATORS` only)."""
    name = state.get("bit_generator") if isinstance(state, dict) else None
    if name not in BIT_GENERATORS:
        raise _BadFile(f"{where}: a random state of bit generator {name!r}; known: "
                       f"{', '.join(BIT_GENERATORS)}")
    rs = np.random.RandomState(BIT_GENERATORS[name]())
    try:
        rs.set_state(state)
    except (TypeError, ValueError, KeyError) as exc:
        raise _BadFile(f"{where}: not a valid {name} random state ({exc})") from None
    return rs


def _build(meta, reader):
    """The estimator a checked description stands for."""
    from . import __version__

    version = meta.get("format_version")
    written_by = meta.get("fastnmf_version", "an unknown version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise _BadFile(f"format_version={version!r} in {META} is not a fastnmf model format "
                       "version (an int >= 1)")
    if version > FORMAT_VERSION:
        raise _BadFile(f"written by fastnmf {written_by} in model format {version}; this "
                       f"fastnmf ({__version__}) reads formats up to {FORMAT_VERSION}: upgrade "
                       "fastnmf to load it")
    cls_name = meta.get("class")
    if cls_name not in CLASSES:
        raise _BadFile(f"class={cls_name!r} in {META}: a fastnmf model file holds one of "
                       f"{', '.join(CLASSES)}")
    cls = CLASSES[cls_name]
    for key in ("params", "attributes"):
        if not isinstance(meta.get(key), dict):
            raise _BadFile(f"{META} has no {key!r} object")

    # the parameters: every one known to this fastnmf (one it lacks would be dropped
    # silently, and the model would not be the one saved)
    known = set(cls._get_param_names())
    unknown = sorted(set(meta["params"]) - known)
    if unknown:
        raise _BadFile(f"written by fastnmf {written_by} with parameters of {cls_name} that "
                       f"this fastnmf ({__version__}) does not have: {', '.join(unknown)}; "
                       "upgrade fastnmf to load it")
    params = {name: _decode(v, reader, f"params.{name}") for name, v in meta["params"].items()}
    est = cls(**params)  # a parameter absent from the file (older) keeps its default

    spec = ATTRIBUTES[cls_name]
    attrs = meta["attributes"]
    unknown = sorted(set(attrs) - set(spec))
    if unknown:
        raise _BadFile(f"written by fastnmf {written_by} with attributes of {cls_name} that "
                       f"this fastnmf ({__version__}) does not know: {', '.join(unknown)}")
    missing = [name for name in REQUIRED if name not in attrs]
    if missing:
        raise _BadFile(f"the model has no {', '.join(missing)}: not a fitted {cls_name}")
    values = {}
    for name, v in attrs.items():
        if name == "_warm_W" and v == "W_":
            continue  # W_'s values, copied below
        values[name] = _check_attr(name, spec[name], _decode(v, reader, name))
    if attrs.get("_warm_W") == "W_":
        if "W_" not in values:
            raise _BadFile("_warm_W refers to W_, which the file does not have")
        values["_warm_W"] = values["W_"].copy()
    _check_shapes(values)
    for name, value in values.items():
        setattr(est, name, value)
    est._n_components = est.n_components_  # scikit-learn's private name for it
    if cls_name == "NMF" and "_warm_W" not in values:
        est._warm_W = None  # as after a fit without warm_start: the next one starts afresh
    if cls_name == "MiniBatchNMF":
        if "_p" in values:
            lacking = sorted(set(est._params()) - set(est._p))
            if lacking:
                raise _BadFile(f"the attribute _p (the validated parameters) lacks "
                               f"{', '.join(lacking)}")
            est._p["random_state"] = est.random_state  # the parameter itself, as in a fit
        if "online_rule" in meta:
            est._online_rule = _build_rule(meta["online_rule"], reader, est)
    return est


def _check_attr(name, kind, value):
    """``value`` as the attribute ``name`` of kind ``kind`` (see :data:`ATTRIBUTES`), or
    :class:`_BadFile`."""
    def bad(what):
        return _BadFile(f"the attribute {name} is {what}, not {_KINDS[kind]}")

    if kind in ("factor", "vector"):
        if not isinstance(value, np.ndarray):
            raise bad(f"a {type(value).__name__}")
        ndim = 2 if kind == "factor" else 1
        if value.ndim != ndim or value.dtype not in (np.float32, np.float64):
            raise bad(f"an array of shape {value.shape} and dtype {value.dtype}")
        return value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad(repr(value))
        return value
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad(repr(value))
        return float(value)
    if kind == "str":
        if not isinstance(value, str):
            raise bad(repr(value))
        return value
    if kind == "names":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise bad(f"a {type(value).__name__}")
        return np.asarray(value, dtype=object)  # as scikit-learn sets it
    if kind == "dict":
        if not isinstance(value, dict):
            raise bad(f"a {type(value).__name__}")
        return value
    raise AssertionError(kind)  # pragma: no cover


_KINDS = {"factor": "a 2-D float32 or float64 array", "vector": "a 1-D float array",
          "int": "an int", "float": "a number", "str": "a str", "names": "a list of str",
          "dict": "a dict"}


def _check_shapes(values):
    """The fitted attributes agree with one another: H is n_components_ x n_features_in_,
    W_ has n_components_ columns, one feature name per feature."""
    k, n = values["components_"].shape
    if values["n_components_"] != k or values["n_features_in_"] != n:
        raise _BadFile(f"components_ has shape {(k, n)}, but n_components_="
                       f"{values['n_components_']} and n_features_in_="
                       f"{values['n_features_in_']}")
    names = values.get("feature_names_in_")
    if names is not None and len(names) != n:
        raise _BadFile(f"feature_names_in_ has {len(names)} names for {n} features")
    for name in ("W_", "_warm_W"):
        if name in values and values[name].shape[1] != k:
            raise _BadFile(f"{name} has shape {values[name].shape}, not (n_samples, {k})")


def _build_rule(desc, reader, est):
    """MiniBatchNMF's online rule, rebuilt: its class, loss, penalties, forgetting and
    statistics from the file; the kernels and threads this machine's, as ``partial_fit``
    sets them for a batch (the H sweeps' threads as the rule's first batch chose them, from
    the shape of H and ``n_threads``)."""
    if not isinstance(desc, dict) or desc.get("class") not in RULES:
        cls_name = desc.get("class") if isinstance(desc, dict) else desc
        raise _BadFile(f"online_rule: {cls_name!r} is not an online rule of MiniBatchNMF "
                       f"({', '.join(RULES)})")
    rule_cls, shapes = RULES[desc["class"]]
    try:
        beta = float(_decode(desc["beta"], reader, "online_rule.beta"))
        rho = float(_decode(desc["rho"], reader, "online_rule.rho"))
        dtype = np.dtype(desc["dtype"])
        reg = desc["reg"]
        reg = _steps.Regularization(
            float(_decode(reg["alpha_W"], reader, "online_rule.alpha_W")),
            float(_decode(reg["alpha_H"], reader, "online_rule.alpha_H")),
            float(_decode(reg["l1_ratio"], reader, "online_rule.l1_ratio")),
            int(reg["n_features"]))
        state = {key: _decode(v, reader, f"online_rule.{key}")
                 for key, v in desc["state"].items()}
    except (KeyError, TypeError, AttributeError) as exc:
        raise _BadFile(f"online_rule is incomplete or malformed ({type(exc).__name__}: "
                       f"{exc})") from None
    if dtype not in (np.float32, np.float64):
        raise _BadFile(f"online_rule: dtype {dtype} is not float32 or float64")
    k, n = est.components_.shape
    if set(state) != set(shapes):
        raise _BadFile(f"online_rule: {desc['class']} keeps {', '.join(sorted(shapes))}; the "
                       f"file has {', '.join(sorted(state)) or 'none'}")
    sizes = {"n": (n,), "nk": (n, k), "kk": (k, k), "n(kk)": (n, k * k), "": ()}
    for key, form in shapes.items():
        value = state[key]
        if form == "":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise _BadFile(f"online_rule.{key} is {value!r}, not a number")
        elif not isinstance(value, np.ndarray) or value.shape != sizes[form]:
            got = value.shape if isinstance(value, np.ndarray) else type(value).__name__
            raise _BadFile(f"online_rule.{key} has shape {got}, not {sizes[form]} (for "
                           f"components_ of shape {(k, n)})")
    if reg.n_features != n:
        raise _BadFile(f"online_rule: penalties for {reg.n_features} features, the model has "
                       f"{n}")
    n_threads = resolve_n_threads(est.n_threads)
    try:  # the kernels of this machine (partial_fit sets its own before each batch)
        kernels = get_backend(resolve_backend_name(est.backend))
    except (ImportError, TypeError, ValueError):  # a backend missing here: partial_fit says so
        kernels = None
    rule = rule_cls(beta=beta, reg=reg, rho=rho, kernels=kernels,
                    n_threads=n_threads, factor_threads=kernel_threads(n, k, n_threads),
                    dtype=dtype)
    rule.start(np.ascontiguousarray(est.components_.T))
    rule.load_state(state)
    return rule


__all__ = ["FORMAT_VERSION", "load", "save"]
