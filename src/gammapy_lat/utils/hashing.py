"""Content hashes and input-file identities: what decides whether a product is up to date.

Used by the all-sky pipeline (task products named after the hash of their inputs) and by the
analysis runner (step keys in ``analysis-state.json``). A product is named (or keyed) after a
hash of everything it depends on: the identity of its input files (path, size and modification
time, or a SHA-256 of the content), the configuration of the step and the code version. A rerun finds the products whose inputs did not change under the same
names and redoes only what is missing; a changed input or configuration gives new names, so stale
products are never reused.
"""
import hashlib
import json
from pathlib import Path

import astropy
import gammapy
import numpy as np

from .. import __version__
from ..errors import LATFileError

__all__ = ["FORMAT_VERSION", "code_version", "file_identity", "content_hash"]

#: Version of the layout of the partial products; bump when their content changes.
FORMAT_VERSION = 1

_DIGEST_CACHE = {}


def code_version():
    """Versions that change the products: this package, the partial format, Gammapy."""
    return {"gammapy_lat": __version__, "format": FORMAT_VERSION, "gammapy": gammapy.__version__}


def file_identity(path, mode="stat"):
    """Identity of an input file.

    Parameters
    ----------
    path : str or `~pathlib.Path`
        File.
    mode : {"stat", "digest"}
        ``"stat"``: resolved path, size and modification time (ns) — cheap, and any rewrite of the
        file changes it. ``"digest"``: SHA-256 of the content — independent of path and time stamps
        (files moved or copied keep their identity), at the cost of reading each file once per run.

    Returns
    -------
    identity : dict
    """
    path = Path(path)
    try:
        stat = path.stat()
    except OSError as exc:
        raise LATFileError(f"Input file {path}: {exc.strerror}") from exc
    if mode == "stat":
        return {"path": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    if mode != "digest":
        raise ValueError(f"Unknown file identity mode {mode!r}")
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _DIGEST_CACHE:
        sha = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                sha.update(block)
        _DIGEST_CACHE[key] = sha.hexdigest()
    return {"name": path.name, "sha256": _DIGEST_CACHE[key], "size": stat.st_size}


def _default(obj):
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, astropy.units.Quantity):
        return {"value": np.asarray(obj.value).tolist(), "unit": obj.unit.to_string()}
    raise TypeError(f"Cannot hash object of type {type(obj).__name__}")


def content_hash(*parts, length=16):
    """Hex digest (``length`` characters) of the canonical JSON of ``parts``."""
    text = json.dumps(parts, sort_keys=True, default=_default, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:length]
