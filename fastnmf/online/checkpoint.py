"""Checkpoints of an online fit: its whole state at the end of an epoch, in one ``.npz`` file.

A checkpoint holds W, H, the rule's accumulated statistics, the counters and the early
stopping state, and what the fit was (shape of X, rank, solver, loss, batch size, dtype,
whether it fitted known entries only): a
fit resumed from it continues exactly where the saved one stood.  The file is written next
to its final name and renamed into place (``os.replace``), so a fit stopped while writing
leaves the previous checkpoint whole, never half a file.
"""

import json
import os
from pathlib import Path

import numpy as np

#: the keys of what the checkpoint describes (a resumed fit must match them)
IDENTITY = ("shape", "n_components", "solver", "beta_loss", "batch_size", "dtype", "missing")


def save(path, identity, arrays, counters):
    """Write a checkpoint: ``identity`` (dict, JSON), ``arrays`` (name -> ndarray), ``counters``
    (dict of numbers, booleans or None, JSON)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    meta = json.dumps({"identity": identity, "counters": counters})
    with open(tmp, "wb") as f:
        np.savez(f, __meta__=np.array(meta), **arrays)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load(path, identity):
    """``(arrays, counters)`` of the checkpoint at ``path``, or None when there is none; a
    checkpoint of another fit (another X shape, rank, solver, ...) is a ValueError."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            meta = json.loads(str(f["__meta__"]))
            arrays = {key: f[key] for key in f.files if key != "__meta__"}
    except (OSError, ValueError, KeyError) as exc:
        raise ValueError(f"checkpoint={str(path)!r} is not a fastnmf checkpoint ({exc}); "
                         "remove it or choose another path") from None
    saved = meta["identity"]
    diff = [key for key in IDENTITY if saved.get(key) != identity.get(key)]
    if diff:
        what = ", ".join(f"{key}={saved.get(key)!r} (this fit: {identity.get(key)!r})"
                         for key in diff)
        raise ValueError(f"checkpoint={str(path)!r} was written by another fit: {what}; "
                         "remove it to start afresh, or fit what it was written for")
    return arrays, meta["counters"]
