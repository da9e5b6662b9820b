"""fastnmf.persist: models saved without pickle (``model.save(path)``, ``fastnmf.load(path)``):
round trips of NMF and MiniBatchNMF (transform equal, partial_fit continued equal), what is and
is not saved, atomic writes, and files that are not models refused with a clear ValueError."""

import io
import json
import numbers
import os
import pathlib
import stat
import warnings
import zipfile
from decimal import Decimal

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import NotFittedError

import fastnmf
from fastnmf import NMF, MiniBatchNMF, persist

# short fits: their not converging is beside the point here
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _data(m=60, n=20, k=4, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = rng.random((m, k)) @ rng.random((k, n)) + 0.01 * rng.random((m, n))
    return X.astype(dtype)


def _sparse(m=60, n=20, seed=0, dtype=np.float64):
    return sp.random(m, n, density=0.3, format="csr", random_state=seed,
                     data_rvs=np.random.default_rng(seed).random).astype(dtype)


def _same(a, b):
    """Whether two parameter or attribute values are the same (arrays: values and dtype;
    random states: their states)."""
    if isinstance(a, np.random.RandomState):
        return isinstance(b, np.random.RandomState) and _same(a.get_state(legacy=False),
                                                              b.get_state(legacy=False))
    if isinstance(a, np.ndarray):
        return (isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape
                and np.array_equal(a, b, equal_nan=a.dtype.kind == "f"))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k])
                                                                    for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, (bool, np.bool_)):
        return isinstance(b, bool) and a == b
    if isinstance(a, numbers.Real):  # numpy scalars come back as Python numbers
        return (isinstance(b, numbers.Real) and not isinstance(b, bool)
                and (a == b or (np.isnan(a) and np.isnan(b))))
    return type(a) is type(b) and a == b


def _fitted_attrs(est):
    return {name: getattr(est, name) for name in persist.ATTRIBUTES[type(est).__name__]
            if hasattr(est, name)}


def _assert_same_model(a, b):
    assert type(a) is type(b)
    pa, pb = a.get_params(deep=False), b.get_params(deep=False)
    assert pa.keys() == pb.keys()
    for name in pa:
        if name == "callback":
            continue
        assert _same(pa[name], pb[name]), name
    attrs = _fitted_attrs(a)
    assert attrs.keys() == _fitted_attrs(b).keys()
    for name, value in attrs.items():
        if name == "_p":
            value = {k: v for k, v in value.items() if k != "random_state"}
            other = {k: v for k, v in b._p.items() if k != "random_state"}
            assert _same(value, other)
        else:
            assert _same(value, getattr(b, name)), name


def _roundtrip(est, tmp_path, **kw):
    path = tmp_path / "model.npz"
    est.save(path, **kw)
    return fastnmf.load(path)


# ----------------------------------------------------------------------------- NMF round trips
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("sparse, solver, beta_loss", [
    (sparse, solver, beta) for sparse in (False, True)
    for solver, beta in [("auto", "frobenius"), ("cd", "frobenius"), ("cd", "kullback-leibler"),
                         ("mu", 0.5), ("auto", "itakura-saito")]
    if not (sparse and beta == "itakura-saito")])  # beta <= 0 needs X without zeros
def test_nmf_round_trip(tmp_path, sparse, dtype, solver, beta_loss):
    X = _sparse(dtype=dtype) if sparse else _data(dtype=dtype)
    model = NMF(4, solver=solver, beta_loss=beta_loss, max_iter=30, tol=1e-6, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # not converged in 30 iterations
        W = model.fit_transform(X)
    loaded = _roundtrip(model, tmp_path)
    _assert_same_model(model, loaded)
    assert loaded.components_.dtype == dtype
    assert loaded.components_.flags.c_contiguous
    np.testing.assert_array_equal(loaded.transform(X), model.transform(X))
    np.testing.assert_array_equal(loaded.inverse_transform(W), model.inverse_transform(W))
    np.testing.assert_array_equal(loaded.predict_entries([0, 3], [1, 2]),
                                  model.predict_entries([0, 3], [1, 2]))
    np.testing.assert_array_equal(loaded.get_feature_names_out(), model.get_feature_names_out())


def test_nmf_missing_values(tmp_path):
    X = _data()
    X[np.random.default_rng(1).random(X.shape) < 0.2] = np.nan
    model = NMF(3, max_iter=40, random_state=0).fit(X)
    assert model.n_missing_ > 0
    loaded = _roundtrip(model, tmp_path)
    assert loaded.n_missing_ == model.n_missing_
    _assert_same_model(model, loaded)
    np.testing.assert_array_equal(loaded.transform(X), model.transform(X))


def test_nmf_parameters_kept(tmp_path):
    """Parameters of every kind: tuple and array frozen_components, a path, non-finite floats
    in a list, numpy scalars (saved as Python numbers, equal)."""
    X = _data()
    model = NMF(np.int64(4), init="random", alpha_W=np.float64(0.01), l1_ratio=0.5,
                frozen_components=np.array([True, False, False, False]), max_iter=20,
                random_state=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X)
    loaded = _roundtrip(model, tmp_path)
    _assert_same_model(model, loaded)
    assert isinstance(loaded.frozen_components, np.ndarray)
    # values the estimator takes only as parameters to keep (set after the fit)
    model.set_params(frozen_components=(0, 2), chunk_bytes=2**20, n_threads=-1)
    model.set_params(tol=1e-5)
    loaded = _roundtrip(model, tmp_path)
    assert loaded.frozen_components == (0, 2)
    assert loaded.chunk_bytes == 2**20 and loaded.n_threads == -1 and loaded.tol == 1e-5
    writer = persist._Writer()
    value = [float("nan"), float("inf"), -float("inf"), pathlib.Path("a/b"), (1, None)]
    encoded = json.loads(json.dumps(writer.value(value, "x"), allow_nan=False))
    decoded = persist._decode(encoded, None, "x")
    assert np.isnan(decoded[0]) and decoded[1:3] == [float("inf"), -float("inf")]
    assert decoded[3] == pathlib.Path("a/b") and decoded[4] == (1, None)


def test_nmf_warm_start_continues(tmp_path):
    X = _data()
    model = NMF(4, warm_start=True, max_iter=10, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X)
        loaded = _roundtrip(model, tmp_path)
        model.fit(X)
        loaded.fit(X)
    np.testing.assert_array_equal(loaded.components_, model.components_)
    assert loaded.loss_history_[0] == model.loss_history_[0]


def test_nmf_without_W(tmp_path):
    X = _data(m=200)
    model = NMF(4, max_iter=30, random_state=0).fit(X)
    model.save(tmp_path / "with.npz")
    model.save(tmp_path / "without.npz", include_W=False)
    assert os.path.getsize(tmp_path / "without.npz") < os.path.getsize(tmp_path / "with.npz")
    loaded = fastnmf.load(tmp_path / "without.npz")
    assert not hasattr(loaded, "W_")
    np.testing.assert_array_equal(loaded.transform(X), model.transform(X))
    W = model.transform(X)
    np.testing.assert_array_equal(loaded.predict_entries([1], [2], W=W),
                                  model.predict_entries([1], [2], W=W))
    with zipfile.ZipFile(tmp_path / "without.npz") as zf:
        meta = json.loads(zf.read("fastnmf.json"))
        assert "W_.npy" not in zf.namelist()
    assert meta["unsaved_attributes"] == {"W_": "include_W=False"}
    with pytest.raises(TypeError, match="include_W must be a bool"):
        model.save(tmp_path / "x.npz", include_W="no")


def test_feature_names_from_dataframe(tmp_path):
    pd = pytest.importorskip("pandas")
    X = _data()
    df = pd.DataFrame(X, columns=[f"word {j}" for j in range(X.shape[1])])
    for model in (NMF(3, max_iter=30, random_state=0),
                  MiniBatchNMF(3, batch_size=20, max_iter=5, random_state=0)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(df)
        loaded = _roundtrip(model, tmp_path)
        assert loaded.feature_names_in_.dtype == object
        np.testing.assert_array_equal(loaded.feature_names_in_, model.feature_names_in_)
        np.testing.assert_array_equal(loaded.transform(df), model.transform(df))
        with pytest.raises(ValueError, match="feature names"):
            loaded.transform(df.rename(columns={"word 0": "other"}))


def test_random_state_instance_kept(tmp_path):
    """A RandomState is saved with its state: the loaded model's next fit draws what the
    saved model's next fit would."""
    X = _data()
    model = NMF(4, init="random", max_iter=20, random_state=np.random.RandomState(7))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X)
        loaded = _roundtrip(model, tmp_path)
        assert loaded.random_state is not model.random_state
        assert _same(loaded.random_state, model.random_state)
        model.fit(X)
        loaded.fit(X)
    np.testing.assert_array_equal(loaded.components_, model.components_)
    # one on another bit generator too
    rs = np.random.RandomState(np.random.PCG64(5))
    rs.random_sample(3)
    model.set_params(random_state=rs)
    loaded = _roundtrip(model, tmp_path)
    np.testing.assert_array_equal(loaded.random_state.random_sample(4), rs.random_sample(4))


def test_callback_not_saved(tmp_path):
    calls = []
    model = NMF(3, max_iter=20, callback=calls.append, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(_data())
    with pytest.warns(UserWarning, match="not saved: callback") as record:
        model.save(tmp_path / "m.npz")
    assert record[0].filename == __file__  # the warning points at the call of save
    loaded = fastnmf.load(tmp_path / "m.npz")
    assert loaded.callback is None and model.callback is not None
    with zipfile.ZipFile(tmp_path / "m.npz") as zf:
        assert "callback" in json.loads(zf.read("fastnmf.json"))["unsaved_params"]


# ---------------------------------------------------------------------- MiniBatchNMF round trips
@pytest.mark.parametrize("solver, beta_loss", [("cd", "frobenius"), ("cd", "kullback-leibler"),
                                               ("mu", "frobenius"), ("mu", 0.5)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_minibatch_fit_round_trip(tmp_path, solver, beta_loss, dtype):
    X = _data(m=100, dtype=dtype)
    model = MiniBatchNMF(4, solver=solver, beta_loss=beta_loss, batch_size=25, max_iter=5,
                         random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X)
    loaded = _roundtrip(model, tmp_path)
    _assert_same_model(model, loaded)
    np.testing.assert_array_equal(loaded.transform(X), model.transform(X))
    W = model.transform(X)
    np.testing.assert_array_equal(loaded.inverse_transform(W), model.inverse_transform(W))
    # a model fitted by fit keeps no online statistics; partial_fit starts them from H alike
    model.partial_fit(X[:30])
    loaded.partial_fit(X[:30])
    np.testing.assert_array_equal(loaded.components_, model.components_)


@pytest.mark.parametrize("solver, beta_loss, missing", [
    ("cd", "frobenius", False), ("cd", "kullback-leibler", False), ("mu", "frobenius", False),
    ("mu", 1.5, False), ("cd", "frobenius", True), ("cd", "kullback-leibler", True),
    ("mu", "kullback-leibler", True)])
def test_minibatch_partial_fit_continues(tmp_path, solver, beta_loss, missing):
    """A loaded model's partial_fit does exactly what the saved model's would: the online
    statistics (complete or on known entries) are saved."""
    X = _data(m=160, seed=2)
    if missing:
        X[np.random.default_rng(3).random(X.shape) < 0.15] = np.nan
    model = MiniBatchNMF(4, solver=solver, beta_loss=beta_loss, alpha_W=0.001,
                         random_state=0)
    for lo in range(0, 80, 20):
        model.partial_fit(X[lo:lo + 20])
    loaded = _roundtrip(model, tmp_path)
    assert type(loaded._online_rule) is type(model._online_rule)
    assert model._online_rule.masked if missing else not hasattr(model._online_rule, "masked")
    _assert_same_model(model, loaded)
    for lo in range(80, 160, 20):
        model.partial_fit(X[lo:lo + 20])
        loaded.partial_fit(X[lo:lo + 20])
        np.testing.assert_array_equal(loaded.components_, model.components_)
    assert loaded.n_steps_ == model.n_steps_ == 8
    np.testing.assert_array_equal(loaded.transform(X), model.transform(X))


def test_minibatch_partial_fit_equals_unsaved_stream(tmp_path):
    """Saving mid-stream changes nothing: save, load and continue is the stream fitted in
    one go."""
    X = _sparse(m=120, n=30, seed=4)
    whole = MiniBatchNMF(3, random_state=1)
    for lo in range(0, 120, 30):
        whole.partial_fit(X[lo:lo + 30])
    part = MiniBatchNMF(3, random_state=1)
    for lo in range(0, 60, 30):
        part.partial_fit(X[lo:lo + 30])
    part.save(tmp_path / "m.npz")
    part = fastnmf.load(tmp_path / "m.npz")
    for lo in range(60, 120, 30):
        part.partial_fit(X[lo:lo + 30])
    np.testing.assert_array_equal(part.components_, whole.components_)


# ----------------------------------------------------------------------------- the file itself
def test_file_is_plain_npz(tmp_path):
    model = NMF(3, max_iter=20, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(_data())
    path = tmp_path / "model"  # no extension: written as named
    model.save(str(path))
    assert path.exists() and not (tmp_path / "model.npz").exists()
    with np.load(path, allow_pickle=False) as f:
        np.testing.assert_array_equal(f["components_"], model.components_)
    with zipfile.ZipFile(path) as zf:
        meta = json.loads(zf.read("fastnmf.json"))
        assert all(n == "fastnmf.json" or n.endswith(".npy") for n in zf.namelist())
    assert meta["format"] == "fastnmf-model"
    assert meta["format_version"] == persist.FORMAT_VERSION
    assert meta["fastnmf_version"] == fastnmf.__version__
    assert meta["class"] == "NMF"
    assert set(meta["params"]) == set(model.get_params())  # callback=None is JSON
    assert meta["attributes"]["n_iter_"] == model.n_iter_


def test_file_objects_and_paths(tmp_path):
    model = NMF(3, max_iter=20, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(_data())
    buf = io.BytesIO()
    model.save(buf)
    buf.seek(0)
    np.testing.assert_array_equal(fastnmf.load(buf).components_, model.components_)

    class Stream(io.RawIOBase):  # read once, front to back (a pipe, a socket)
        def __init__(self, data):
            self.data = io.BytesIO(data)

        def readable(self):
            return True

        def readinto(self, b):
            return self.data.readinto(b)

    np.testing.assert_array_equal(fastnmf.load(Stream(buf.getvalue())).components_,
                                  model.components_)
    with open(tmp_path / "f.npz", "wb") as f:
        model.save(f)
    with open(tmp_path / "f.npz", "rb") as f:
        np.testing.assert_array_equal(fastnmf.load(f).components_, model.components_)
    model.save(os.fsencode(tmp_path / "b.npz"))
    np.testing.assert_array_equal(fastnmf.load(str(tmp_path / "b.npz")).components_,
                                  model.components_)
    with pytest.raises(TypeError, match="path must be a file path"):
        model.save(3)
    with pytest.raises(TypeError, match="path must be a file path"):
        fastnmf.load(3.5)
    with open(tmp_path / "t.txt", "w") as f, pytest.raises(TypeError, match="text mode"):
        model.save(f)
    with pytest.raises(ValueError, match="directory"):
        model.save(tmp_path)
    with pytest.raises(FileNotFoundError, match="directory does not exist"):
        model.save(tmp_path / "nowhere" / "m.npz")
    with pytest.raises(FileNotFoundError):
        fastnmf.load(tmp_path / "absent.npz")


def test_save_refuses(tmp_path):
    with pytest.raises(NotFittedError):
        NMF(3).save(tmp_path / "m.npz")
    with pytest.raises(NotFittedError):
        MiniBatchNMF(3).save(tmp_path / "m.npz")
    assert list(tmp_path.iterdir()) == []

    class MyNMF(NMF):
        pass

    sub = MyNMF(3, max_iter=20, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sub.fit(_data())
    with pytest.raises(TypeError, match="MyNMF"):
        sub.save(tmp_path / "m.npz")
    with pytest.raises(TypeError, match="fastnmf.NMF or fastnmf.MiniBatchNMF"):
        persist.save(object(), tmp_path / "m.npz")
    model = NMF(3, max_iter=20, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(_data())
    model.set_params(tol=Decimal("0.001"))
    with pytest.raises(TypeError, match="tol=Decimal"):
        model.save(tmp_path / "m.npz")
    model.set_params(tol=1e-4, frozen_components=np.array(["a"], dtype=object))
    with pytest.raises(TypeError, match="frozen_components"):
        model.save(tmp_path / "m.npz")
    assert list(tmp_path.iterdir()) == []


def _fitted():
    model = NMF(3, max_iter=20, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(_data())
    return model


@pytest.mark.parametrize("failure", ["interrupt", "replace"])
def test_save_is_atomic(tmp_path, monkeypatch, failure):
    model = _fitted()
    path = tmp_path / "m.npz"
    path.write_bytes(b"the old model")
    os.chmod(path, 0o640)
    if failure == "interrupt":  # a KeyboardInterrupt with part of the archive written
        real, calls = np.lib.format.write_array, []

        def write_array(fp, array, *args, **kw):
            calls.append(1)
            if len(calls) >= 2:
                raise KeyboardInterrupt
            return real(fp, array, *args, **kw)

        monkeypatch.setattr(np.lib.format, "write_array", write_array)
        expected = KeyboardInterrupt
    else:  # the rename fails (the file complete, then left behind?)
        def replace(src, dst):
            raise OSError("simulated rename failure")

        monkeypatch.setattr(os, "replace", replace)
        expected = OSError
    with pytest.raises(expected):
        model.save(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]
    assert path.read_bytes() == b"the old model"
    # no file at all before: none after
    with pytest.raises(expected):
        model.save(tmp_path / "new.npz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]
    monkeypatch.undo()
    model.save(path)  # a file replaced keeps its permissions
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    np.testing.assert_array_equal(fastnmf.load(path).components_, model.components_)


# --------------------------------------------------------------------- files that are not models
def _members(path):
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def _rewrite(path, members):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def _edit_meta(path, edit):
    members = _members(path)
    meta = json.loads(members["fastnmf.json"])
    edit(meta)
    members["fastnmf.json"] = json.dumps(meta)
    _rewrite(path, members)


def _npy(array, allow_pickle=False):
    buf = io.BytesIO()
    np.lib.format.write_array(buf, array, allow_pickle=allow_pickle)
    return buf.getvalue()


def _load_fails(path, *fragments):
    with pytest.raises(ValueError) as info:
        fastnmf.load(path)
    message = str(info.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_foreign_files_refused(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not a model")
    _load_fails(text, "not a zip")
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    _load_fails(empty, "not a zip")
    npy = tmp_path / "a.npy"
    np.save(npy, np.ones(3))
    _load_fails(npy, "not a zip")
    npz = tmp_path / "plain.npz"
    np.savez(npz, components_=np.ones((2, 3)))
    _load_fails(npz, "no fastnmf.json", "components_.npy")
    other = tmp_path / "other.zip"
    _rewrite(other, {"readme.txt": b"hello"})
    _load_fails(other, "no fastnmf.json")
    _rewrite(other, {"fastnmf.json": b"{not json"})
    _load_fails(other, "not valid JSON")
    _rewrite(other, {"fastnmf.json": json.dumps({"format": "something else"})})
    _load_fails(other, "not a fastnmf model file")
    _rewrite(other, {"fastnmf.json": json.dumps([1, 2])})
    _load_fails(other, "not a fastnmf model file")


def test_damaged_model_refused(tmp_path):
    model = _fitted()
    path = tmp_path / "m.npz"
    model.save(path)
    data = path.read_bytes()
    for size in (len(data) // 2, len(data) - 10, 30):
        cut = tmp_path / f"cut{size}.npz"
        cut.write_bytes(data[:size])
        _load_fails(cut)
    # a byte of H changed: the member's CRC no longer matches
    members = _members(path)
    start = data.index(members["components_.npy"])
    flipped = bytearray(data)
    flipped[start + len(members["components_.npy"]) - 3] ^= 0xFF
    bad = tmp_path / "flipped.npz"
    bad.write_bytes(bytes(flipped))
    _load_fails(bad, "damaged")
    # a member shorter than its header says
    members["components_.npy"] = members["components_.npy"][:-8]
    _rewrite(bad, members)
    _load_fails(bad, "components_.npy", "truncated")
    # a member that is not .npy
    members["components_.npy"] = b"hello"
    _rewrite(bad, members)
    _load_fails(bad, "components_.npy", "not a .npy array")
    # a member referred to but absent
    del members["components_.npy"]
    _rewrite(bad, members)
    _load_fails(bad, "components_.npy", "does not have")


@pytest.mark.parametrize("edit, fragments", [
    (lambda m: m.update(format_version=persist.FORMAT_VERSION + 1, fastnmf_version="9.0"),
     ["fastnmf 9.0", f"format {persist.FORMAT_VERSION + 1}",
      f"reads formats up to {persist.FORMAT_VERSION}", "upgrade fastnmf"]),
    (lambda m: m.update(format_version=0), ["format_version=0"]),
    (lambda m: m.update(format_version="1"), ["format_version='1'"]),
    (lambda m: m.pop("format_version"), ["format_version=None"]),
    (lambda m: m.update({"class": "PCA"}), ["class='PCA'", "NMF, MiniBatchNMF"]),
    (lambda m: m["params"].update(new_knob=1, other_knob=None),
     ["parameters", "new_knob, other_knob", "upgrade fastnmf"]),
    (lambda m: m["attributes"].update(transform=1), ["attributes", "transform"]),
    (lambda m: m["attributes"].pop("components_"), ["no components_", "not a fitted NMF"]),
    (lambda m: m["attributes"].update(n_components_=5), ["n_components_=5"]),
    (lambda m: m["attributes"].update(n_iter_="10"), ["n_iter_", "not an int"]),
    (lambda m: m["attributes"].update(feature_names_in_=["a"]), ["1 names for 20 features"]),
    (lambda m: m["attributes"].update(W_={"array": "loss_history_.npy"}), ["W_", "not a 2-D"]),
    (lambda m: m["params"].update(tol={"eval": "1"}), ["params.tol", "not a value"]),
    (lambda m: m["params"].update(random_state={"random_state": {"dict": {
        "bit_generator": "Evil"}}}), ["bit generator 'Evil'"]),
    (lambda m: m.pop("params"), ["no 'params'"]),
])
def test_bad_descriptions_refused(tmp_path, edit, fragments):
    path = tmp_path / "m.npz"
    _fitted().save(path)
    _edit_meta(path, edit)
    _load_fails(path, *fragments)


def test_older_file_without_new_parameter_loads(tmp_path):
    """A parameter absent from the file (a file written before it existed) keeps its
    default."""
    path = tmp_path / "m.npz"
    model = _fitted()
    model.set_params(chunk_bytes=12345)
    model.save(path)
    _edit_meta(path, lambda m: m["params"].pop("chunk_bytes"))
    loaded = fastnmf.load(path)
    assert loaded.chunk_bytes is None
    np.testing.assert_array_equal(loaded.components_, model.components_)


def test_minibatch_bad_online_state_refused(tmp_path):
    X = _data()
    model = MiniBatchNMF(3, random_state=0).partial_fit(X[:20]).partial_fit(X[20:40])
    path = tmp_path / "m.npz"
    model.save(path)
    _edit_meta(path, lambda m: m["online_rule"].update({"class": "os.system"}))
    _load_fails(path, "'os.system' is not an online rule")
    model.save(path)
    _edit_meta(path, lambda m: m["online_rule"]["state"].pop("B"))
    _load_fails(path, "online_rule", "keeps")
    model.save(path)
    _edit_meta(path, lambda m: m["online_rule"]["state"].update(
        A={"array": "components_.npy"}))
    _load_fails(path, "online_rule.A has shape (3, 20), not (3, 3)")
    model.save(path)
    _edit_meta(path, lambda m: m["attributes"]["_p"]["dict"].pop("batch_size"))
    _load_fails(path, "_p", "lacks batch_size")
    with zipfile.ZipFile(path) as zf:  # the random state is the parameter's, saved once
        assert "random_state" not in json.loads(zf.read("fastnmf.json"))["attributes"]["_p"][
            "dict"]


#: what unpickling a _Trap appends to: the tests' proof that pickle ran
_SPRUNG = []


class _Trap:
    """Unpickling one calls :func:`_sprung`."""

    def __reduce__(self):
        return (_sprung, ())


def _sprung():
    _SPRUNG.append(True)
    return "sprung"


def test_pickles_never_run(tmp_path):
    trap = np.array([_Trap()], dtype=object)
    npz = tmp_path / "pickle.npz"
    np.savez(npz, components_=trap)  # np.savez pickles object arrays
    _load_fails(npz, "no fastnmf.json")
    # a model whose H was replaced by a pickled object array
    path = tmp_path / "m.npz"
    _fitted().save(path)
    members = _members(path)
    members["components_.npy"] = _npy(trap, allow_pickle=True)
    _rewrite(path, members)
    _load_fails(path, "components_.npy", "Python objects", "pickle")
    # the pickle itself as a member
    import pickle

    members["components_.npy"] = pickle.dumps(_Trap())
    _rewrite(path, members)
    _load_fails(path, "components_.npy", "not a .npy array")
    # a parameter's array, and the random state's key
    model = NMF(3, max_iter=20, random_state=np.random.RandomState(0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(_data())
    model.save(path)
    members = _members(path)
    key = next(n for n in members if n.startswith("params.random_state"))
    members[key] = _npy(trap, allow_pickle=True)
    _rewrite(path, members)
    _load_fails(path, key, "Python objects")
    assert _SPRUNG == []
    # the trap works: np.load with pickle allowed would have sprung it
    with np.load(npz, allow_pickle=True) as f:
        f["components_"]
    assert _SPRUNG == [True]
    _SPRUNG.clear()


def test_other_dtypes_refused(tmp_path):
    path = tmp_path / "m.npz"
    _fitted().save(path)
    members = _members(path)
    members["components_.npy"] = _npy(np.array([["a", "b"]]))
    _rewrite(path, members)
    _load_fails(path, "components_.npy", "dtype <U1")
    members["components_.npy"] = _npy(np.ones((3, 20), dtype=np.int64))
    _rewrite(path, members)
    _load_fails(path, "components_", "2-D float32 or float64")
    # a header claiming far more data than the member holds: refused before allocating
    header = np.lib.format.header_data_from_array_1_0(np.ones((3, 20)))
    header["shape"] = (10**9, 10**6)
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, header)
    members["components_.npy"] = buf.getvalue() + b"\0" * 64
    _rewrite(path, members)
    _load_fails(path, "components_.npy", "truncated")


def test_big_endian_arrays_read(tmp_path):
    """Arrays written on a big-endian machine load as native floats."""
    path = tmp_path / "m.npz"
    model = _fitted()
    model.save(path)
    members = _members(path)
    members["components_.npy"] = _npy(model.components_.astype(">f8"))
    _rewrite(path, members)
    loaded = fastnmf.load(path)
    assert loaded.components_.dtype == np.float64 and loaded.components_.dtype.isnative
    np.testing.assert_array_equal(loaded.components_, model.components_)


def test_W_on_a_cluster_not_saved(tmp_path):
    """A W_ that is not an in-memory array (a Dask array, after a fit on a cluster) is left
    out, with a warning; the rest of the model loads."""
    da = pytest.importorskip("dask.array")
    model = _fitted()
    model.W_ = da.from_array(model.W_, chunks=(30, -1))  # as a fit of a Dask X leaves it
    with pytest.warns(UserWarning, match=r"W_ \(dask\.array\.core\.Array, not an in-memory "
                      r"array\) is not saved"):
        model.save(tmp_path / "m.npz")
    loaded = fastnmf.load(tmp_path / "m.npz")
    assert not hasattr(loaded, "W_")
    np.testing.assert_array_equal(loaded.components_, model.components_)
