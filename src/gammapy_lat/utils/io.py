"""Atomic file output.

Products are first written under a temporary name in the destination folder and then moved into
place with :func:`os.replace`, so that an interrupted run never leaves a truncated or corrupt file
under the final name.
"""
import contextlib
import os
import tempfile
from pathlib import Path

__all__ = ["atomic_output", "write_fits_atomic"]


@contextlib.contextmanager
def atomic_output(path, overwrite=False):
    """Context manager yielding a temporary path that replaces ``path`` on success.

    The temporary file lives in the same folder as ``path`` (so the final rename is atomic) and its
    name ends with the final file name, so that writers choosing compression from the extension
    (``.gz``) behave as for the final name. On any exception the temporary file is removed and
    ``path`` is left untouched.

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
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"Output file {path} already exists; pass overwrite=True (CLI: --clobber)")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix="-" + path.name, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


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
