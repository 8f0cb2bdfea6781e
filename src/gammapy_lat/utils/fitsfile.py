"""Opening FITS inputs with one-line errors for missing, unreadable and truncated files.

astropy reads a truncated gzip-compressed FITS file silently up to the last complete HDU (an FT1
file cut in its ``EVENTS`` table looks like a file without ``EVENTS``), and a truncated
uncompressed file fails only when its data are accessed, with numpy messages such as "cannot
reshape array". The functions here name the file and say that it is truncated.
"""
import gzip
import warnings
import zlib
from pathlib import Path

from astropy.io import fits
from astropy.utils.exceptions import AstropyUserWarning

from ..errors import LATFileError

__all__ = ["open_fits", "read_error", "missing_extension_error", "truncation"]

_BLOCK = 2880
_READ_ERRORS = (OSError, ValueError, TypeError, EOFError, IndexError, zlib.error)


def _is_gzip(path):
    try:
        with open(path, "rb") as fh:
            return fh.read(2) == b"\x1f\x8b"
    except OSError:
        return False


def _described_size(hdulist):
    """End of the last HDU's data as described by the headers (bytes)."""
    hdulist.readall()
    end = 0
    for i in range(len(hdulist)):
        info = hdulist.fileinfo(i)
        if info:
            end = max(end, info["datLoc"] + info["datSpan"])
    return end


def truncation(path):
    """Why ``path`` looks truncated or corrupt ("the gzip stream ends early", ...), else None."""
    path = Path(path)
    if _is_gzip(path):
        try:
            with gzip.open(path, "rb") as fh:
                size = 0
                while chunk := fh.read(1 << 24):
                    size += len(chunk)
        except (EOFError, OSError, zlib.error) as exc:
            return f"its gzip stream ends early or is damaged ({exc})"
    else:
        try:
            size = path.stat().st_size
        except OSError:
            return None
    if size % _BLOCK:
        return f"its size ({size} bytes) is not a multiple of the FITS block of 2880 bytes"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with fits.open(path, memmap=False) as hdulist:
                end = _described_size(hdulist)
    except _READ_ERRORS:
        return None
    if end > size:
        return f"its headers describe {end} bytes of data but it holds {size}"
    return None


def read_error(path, what, exc=None):
    """`~gammapy_lat.errors.LATFileError` for a file that could not be read."""
    reason = truncation(path)
    if reason is not None:
        return LATFileError(f"{what} {path} is truncated or corrupt: {reason}")
    detail = f": {exc}" if exc is not None else ""
    return LATFileError(f"{what} {path} cannot be read as FITS{detail}")


def missing_extension_error(path, what, extname, hdulist):
    """Error for a missing extension: the file is truncated, or it lacks the extension."""
    reason = truncation(path)
    if reason is not None:
        return LATFileError(f"{what} {path} is truncated or corrupt: {reason}; no complete {extname} extension")
    names = ", ".join(hdu.name for hdu in hdulist)
    return LATFileError(f"{what} {path} has no {extname} extension (extensions: {names})")


def open_fits(path, what, memmap=False):
    """`astropy.io.fits.open` whose failures are one-line `~gammapy_lat.errors.LATFileError`.

    Parameters
    ----------
    path : str or `~pathlib.Path`
        The file.
    what : str
        What the file is, for messages (``"FT1 file"``).
    memmap : bool
        Memory-map the data.
    """
    path = Path(path)
    if not path.exists():
        raise LATFileError(f"{what} {path} not found")
    if path.is_dir():
        raise LATFileError(f"{what} {path} is a folder, not a FITS file")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", AstropyUserWarning)
        try:
            hdulist = fits.open(path, memmap=memmap)
        except _READ_ERRORS as exc:
            raise read_error(path, what, exc) from exc
        if not _is_gzip(path):
            # the headers are read at once; a truncated file fails here rather than with a numpy
            # message when its data are read
            try:
                end = _described_size(hdulist)
            except _READ_ERRORS as exc:
                hdulist.close()
                raise read_error(path, what, exc) from exc
            size = path.stat().st_size
            if end > size:
                hdulist.close()
                raise LATFileError(
                    f"{what} {path} is truncated or corrupt: its headers describe {end} bytes of data but it holds {size}"
                )
    for warning in caught:
        if "truncated" in str(warning.message):
            continue
        warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    return hdulist
