"""Atomic file output, temporary files that name their owner, output checks and folder locks.

Products are first written under a temporary name in the destination folder and then moved into
place with :func:`os.replace`, so that an interrupted run never leaves a truncated or corrupt file
under the final name.

Temporary files are named ``.gammapy-lat-tmp-<host>-<pid>-<start>-<random>-<final name>``: the
package prefix, a hash of the host name, the process id and start time of the process writing
it, and the final file name (so that writers choosing compression from the extension behave as for
the final name). Only files with this pattern whose owner process has ended are ever removed as
stale: files of other programs, and temporary files of commands still running (on this or another
host), are left alone. Files are created with mode ``0o666`` minus the user's umask, as any other
file the user creates.
"""
import contextlib
import errno
import fcntl
import hashlib
import logging
import os
import re
import secrets
import shutil
import socket
from pathlib import Path

import yaml

from ..errors import GammapyLATError, OutputError

__all__ = [
    "atomic_output",
    "write_fits_atomic",
    "TMP_PREFIX",
    "LOCK_FILE",
    "temporary_path",
    "is_stale_temporary",
    "remove_stale_temporaries",
    "check_output_path",
    "check_output_dir",
    "folder_lock",
    "is_inside",
    "write_models",
    "write_table",
    "write_yaml_atomic",
]

log = logging.getLogger(__name__)

#: Prefix of every temporary file written by gammapy-lat.
TMP_PREFIX = ".gammapy-lat-tmp-"
#: Name of the lock file taken in an output folder by the runner and the all-sky pipeline.
LOCK_FILE = ".gammapy-lat.lock"

_TMP_RE = re.compile(
    r"^" + re.escape(TMP_PREFIX) + r"(?P<host>[0-9a-f]{8})-(?P<pid>\d+)-(?P<start>\d+)-(?P<rand>[0-9a-f]{8})-(?P<tag>.+)$"
)
# errors of the operating system that mean "this output cannot be written here"
_WRITE_ERRNOS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EFBIG: "file too large for the file system or the process limit",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENAMETOOLONG: "file name too long",
}
_MAX_TAG = 180


def _host_hash():
    return hashlib.sha1(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:8]


def _process_start(pid):
    """Start time of a process (clock ticks since boot, Linux), or 0 when unknown."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
        return int(fields[19])
    except (OSError, IndexError, ValueError):
        return 0


_IDENTITY = {}


def _identity():
    """``(host hash, pid, start)`` of this process (recomputed after a fork)."""
    pid = os.getpid()
    if pid not in _IDENTITY:
        _IDENTITY.clear()
        _IDENTITY[pid] = (_host_hash(), pid, _process_start(pid))
    return _IDENTITY[pid]


def _tag(name):
    """The final-name part of a temporary name (long names shortened, extension kept)."""
    if len(name) <= _MAX_TAG:
        return name
    return hashlib.sha1(name.encode()).hexdigest()[:12] + "-" + name[-100:]


def temporary_path(path):
    """A new temporary path for ``path``, in the same folder, owned by this process."""
    path = Path(path)
    host, pid, start = _identity()
    return path.with_name(f"{TMP_PREFIX}{host}-{pid}-{start}-{secrets.token_hex(4)}-{_tag(path.name)}")


def _owner_alive(host, pid, start):
    if host != _host_hash():
        return True  # another host: its processes cannot be checked from here
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by another user
    if start:
        current = _process_start(pid)
        if current and current != start:
            return False  # the process id was reused by a later process
    return True


def is_stale_temporary(path, final_name=None):
    """Whether ``path`` is a gammapy-lat temporary file whose owner process has ended.

    Parameters
    ----------
    path : str or `~pathlib.Path`
        File to examine.
    final_name : str, optional
        Only temporary files of this final file name.
    """
    match = _TMP_RE.match(Path(path).name)
    if match is None:
        return False
    if final_name is not None and match["tag"] != _tag(final_name):
        return False
    return not _owner_alive(match["host"], int(match["pid"]), int(match["start"]))


def remove_stale_temporaries(folder, final_name=None, recursive=False):
    """Remove the stale gammapy-lat temporary files of a folder (see `is_stale_temporary`).

    Files of other programs and temporary files of running processes are never removed.

    Returns
    -------
    removed : list of `~pathlib.Path`
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    candidates = folder.rglob(TMP_PREFIX + "*") if recursive else folder.glob(TMP_PREFIX + "*")
    removed = []
    for path in candidates:
        if path.is_symlink() or not path.is_file():
            continue
        if is_stale_temporary(path, final_name):
            log.info(f"Removing temporary file left by an interrupted run: {path}")
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def _write_error(exc, path):
    """`OutputError` for an operating-system error met while writing ``path`` (else None)."""
    if isinstance(exc, GammapyLATError) or not isinstance(exc, OSError):
        return None
    reason = _WRITE_ERRNOS.get(exc.errno)
    if reason is None:
        return None
    folder = Path(path).parent
    extra = ""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        with contextlib.suppress(OSError):
            extra = f"; {shutil.disk_usage(folder).free / 1e9:.3g} GB free in {folder}"
    return OutputError(f"Cannot write {path}: {reason}{extra}")


def _nearest_existing(folder):
    folder = Path(os.path.abspath(folder))
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def is_inside(path, folder):
    """Whether ``path`` (symbolic links resolved) lies inside ``folder``."""
    try:
        Path(path).resolve().relative_to(Path(folder).resolve())
    except ValueError:
        return False
    return True


def check_output_dir(folder, what="Output folder"):
    """Check, before any work, that ``folder`` exists or can be created and is writable.

    Raises
    ------
    OutputError
        Naming the folder and the cause.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{what} {folder} exists and is not a folder")
    existing = _nearest_existing(folder)
    if not existing.is_dir():
        raise OutputError(f"{what} {folder} cannot be created: {existing} is not a folder")
    if not os.access(existing, os.W_OK | os.X_OK, effective_ids=os.access in os.supports_effective_ids):
        if existing == Path(os.path.abspath(folder)):
            raise OutputError(f"{what} {folder} is not writable (permission denied)")
        raise OutputError(f"{what} {folder} cannot be created: {existing} is not writable (permission denied)")
    return folder


def check_output_path(path, overwrite=False, ascii_name=False):
    """Check, before any work, that an output file can be written.

    Parameters
    ----------
    path : str or `~pathlib.Path`
        Output file.
    overwrite : bool
        Whether an existing file may be replaced.
    ascii_name : bool
        Whether the file name must be ASCII (it goes into a FITS header card, ``FILENAME``).

    Raises
    ------
    FileExistsError
        The file exists and ``overwrite`` is False.
    OutputError
        The name is unusable or the folder cannot be created or written.
    """
    path = Path(path)
    if not path.name:
        raise OutputError(f"Output file name {str(path)!r} is empty")
    if path.is_dir():
        raise OutputError(f"Output file {path} is an existing folder")
    if path.exists() and not overwrite:
        raise FileExistsError(f"Output file {path} already exists; pass overwrite=True (CLI: --clobber)")
    if ascii_name and not path.name.isascii():
        raise OutputError(
            f"Output file name {path.name!r} has non-ASCII characters, which FITS headers (FILENAME) "
            "cannot hold; choose an ASCII name"
        )
    if len(path.name.encode()) > 255:
        raise OutputError(f"Output file name {path.name[:40]}... is too long ({len(path.name.encode())} bytes, at most 255)")
    check_output_dir(path.parent if str(path.parent) else Path("."))
    return path


@contextlib.contextmanager
def atomic_output(path, overwrite=False):
    """Context manager yielding a temporary path that replaces ``path`` on success.

    The temporary file lives in the same folder as ``path`` (so the final rename is atomic) and its
    name ends with the final file name, so that writers choosing compression from the extension
    (``.gz``) behave as for the final name. On any exception (including ``KeyboardInterrupt`` and
    the ``SystemExit`` the command line raises on SIGTERM) the temporary file is removed and
    ``path`` is left untouched. Stale temporary files of the same product left by a killed process
    are removed first. The file is created with the permissions of the user's umask.

    Parameters
    ----------
    path : str or `~pathlib.Path`
        Final output path.
    overwrite : bool
        Whether an existing file at ``path`` may be replaced.

    Yields
    ------
    tmp_path : `~pathlib.Path`
        Path to write to. The file exists (empty) when the block starts; writers must be told to
        overwrite it.

    Raises
    ------
    FileExistsError
        ``path`` exists and ``overwrite`` is False.
    OutputError
        The folder cannot be created or written, the disk is full, the file is too large.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"Output file {path} already exists; pass overwrite=True (CLI: --clobber)")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"Cannot create the output folder {path.parent}: {exc.strerror}") from exc
    remove_stale_temporaries(path.parent, final_name=path.name)
    tmp = temporary_path(path)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as exc:
        error = _write_error(exc, path)
        if error is None:
            raise
        raise error from exc
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as exc:
        error = _write_error(exc, path)
        if error is None:
            raise
        raise error from exc
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def write_fits_atomic(hdulist, path, overwrite=False, checksum=False):
    """Write an `~astropy.io.fits.HDUList` atomically.

    Parameters
    ----------
    hdulist : `~astropy.io.fits.HDUList`
        HDUs to write.
    path : str or `~pathlib.Path`
        Output file name (``.gz`` compresses).
    overwrite : bool
        Whether an existing file may be replaced.
    checksum : bool
        Whether to add ``CHECKSUM``/``DATASUM`` keywords.
    """
    with atomic_output(path, overwrite=overwrite) as tmp:
        hdulist.writeto(tmp, overwrite=True, checksum=checksum)
    return Path(path)


# ------------------------------------------------------------------------------ folder lock
_HELD = {}


@contextlib.contextmanager
def folder_lock(folder, what="gammapy-lat run"):
    """Exclusive lock on an output folder for the duration of a run (re-entrant in a process).

    Two runs writing into the same folder would redo each other's work and replace each other's
    products; the lock (``<folder>/.gammapy-lat.lock``, released by the operating system even
    when the process is killed) makes the second one stop at once. When it is taken, and again when
    it is released, the stale temporary files of gammapy-lat under the folder (those whose writing
    process has ended) are removed.

    Raises
    ------
    OutputError
        The folder is in use by another run, or cannot be created.
    """
    folder = Path(folder)
    check_output_dir(folder)
    folder.mkdir(parents=True, exist_ok=True)
    key = (os.getpid(), str(folder.resolve()))
    if key in _HELD:
        _HELD[key] += 1
        try:
            yield
        finally:
            _HELD[key] -= 1
        return
    lockfile = folder / LOCK_FILE
    with open(lockfile, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutputError(f"Output folder {folder} is in use by another {what} ({lockfile})") from None
        _HELD[key] = 1
        try:
            remove_stale_temporaries(folder, recursive=True)
            yield
        finally:
            del _HELD[key]
            with contextlib.suppress(OSError):
                remove_stale_temporaries(folder, recursive=True)
            fcntl.flock(fh, fcntl.LOCK_UN)


def write_yaml_atomic(data, path):
    with atomic_output(path, overwrite=True) as tmp:
        tmp.write_text(yaml.safe_dump(data, sort_keys=False))
    return Path(path)


def write_table(table, path, **kwargs):
    """Write an astropy table atomically (format from the extension)."""
    with atomic_output(path, overwrite=True) as tmp:
        table.write(tmp, overwrite=True, **kwargs)
    return Path(path)


def write_models(models, path, write_covariance=True):
    """Write `~gammapy.modeling.models.Models` to YAML (and the covariance next to it) atomically."""
    path = Path(path)
    written = []
    models._covar_file = None
    if write_covariance and models.covariance is not None and len(models.parameters) != 0:
        cov_path = path.with_name(path.stem + "_covariance.dat")
        with atomic_output(cov_path, overwrite=True) as tmp:
            models.write_covariance(tmp, format="ascii.fixed_width", delimiter="|", overwrite=True)
        models._covar_file = cov_path.name
        written.append(cov_path)
    with atomic_output(path, overwrite=True) as tmp:
        tmp.write_text(models.to_yaml())
    written.append(path)
    return written
