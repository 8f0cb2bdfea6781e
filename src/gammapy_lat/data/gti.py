"""Good-time intervals as MET arrays, and their conversion to Gammapy `~gammapy.data.GTI`.

Interval arithmetic is done on float64 MET arrays (exact, vectorised); Gammapy `GTI` objects are
built at the public boundary with the file's time reference.
"""
import astropy.units as u
import numpy as np
from astropy.io import fits
from astropy.time import Time
from gammapy.data import GTI

from ..errors import LATFileError
from .constants import MET_REFERENCE

__all__ = [
    "merge_intervals",
    "intersect_intervals",
    "intervals_from_mask",
    "in_intervals",
    "gti_from_met",
    "met_from_gti",
    "time_ref_from_header",
    "header_float",
    "normalize_time_keywords",
    "FERMI_TIME_REF",
    "met_to_time",
    "time_to_met",
]

#: Fermi MET reference (`gammapy_lat.data.constants.MET_REFERENCE`).
FERMI_TIME_REF = MET_REFERENCE


def met_to_time(met, time_ref=MET_REFERENCE):
    """`~astropy.time.Time` (TT) of mission elapsed times in seconds."""
    return time_ref + u.Quantity(np.asarray(met, dtype=float), "s")


def time_to_met(time, time_ref=MET_REFERENCE):
    """Mission elapsed time in seconds (float or array) of an `~astropy.time.Time`."""
    met = (time.tt - time_ref).to_value("s")
    return float(met) if np.ndim(met) == 0 else np.asarray(met, dtype=float)

_TIME_SCALES = {"TT", "TAI", "UTC", "TCG", "TCB", "TDB", "UT1"}


def header_float(header, key, source="header"):
    """Numeric value of a header keyword, or None when it is absent or has no value.

    FITS files written by the Fermitools before about 2015 (and the 4FGL catalog files) give some
    real keywords as strings with a Fortran ``D`` exponent, e.g. ``MJDREFF =
    '7.428703703703703D-4'``; these are read as the number they stand for.

    Parameters
    ----------
    header : `~astropy.io.fits.Header` or dict
        Header.
    key : str
        Keyword.
    source : str
        What the header belongs to, for the error message.

    Raises
    ------
    gammapy_lat.errors.LATFileError
        The value is neither a number nor a numeric string.
    """
    if key not in header:
        return None
    value = header[key]
    if isinstance(value, tuple):  # (value, comment) in table meta
        value = value[0]
    if value is None or isinstance(value, fits.card.Undefined):
        return None
    if isinstance(value, (bool, np.bool_)):
        raise LATFileError(f"{source}: keyword {key}={value!r} is not a number")
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value)
    text = str(value).strip()
    if not text:
        return None
    try:
        return float(text.replace("D", "E").replace("d", "e"))
    except ValueError:
        raise LATFileError(f"{source}: keyword {key}={value!r} is not a number") from None


def time_ref_from_header(header, source="header"):
    """MET reference time from a header's ``MJDREFI``/``MJDREFF`` (or ``MJDREF``) and ``TIMESYS``.

    Accepts the conventions of every era of LAT files: integer or real ``MJDREFI``, ``MJDREFF``
    as a number or as a string with a Fortran ``D`` exponent, a single ``MJDREF``. Keywords
    present without a value (as gtsrcmaps writes ``MJDREF =`` in its ``GTI``) count as absent;
    without a reference the Fermi MET reference is used. A ``TIMESYS`` that is not a time scale
    (gtsrcmaps writes ``'MJD'``) is read as ``TT``, the scale of all LAT data.

    Raises
    ------
    gammapy_lat.errors.LATFileError
        A reference keyword holds something that is not a number.
    """
    mjdrefi = header_float(header, "MJDREFI", source)
    mjdreff = header_float(header, "MJDREFF", source)
    mjdref = header_float(header, "MJDREF", source)
    scale = header.get("TIMESYS", "TT") if hasattr(header, "get") else "TT"
    if isinstance(scale, tuple):
        scale = scale[0]
    scale = str(scale).strip().upper() if isinstance(scale, str) else "TT"
    if scale not in _TIME_SCALES:
        scale = "TT"
    if mjdrefi is not None:
        return Time(mjdrefi, mjdreff or 0.0, format="mjd", scale=scale.lower())
    if mjdref is not None:
        integer = np.floor(mjdref)
        return Time(integer, mjdref - integer, format="mjd", scale=scale.lower())
    return FERMI_TIME_REF


def normalize_time_keywords(header, source="header"):
    """Copy of a header with numeric ``MJDREFI``/``MJDREFF``/``MJDREF`` and a valid ``TIMESYS``.

    Gammapy's readers convert these keywords with ``float()``, which fails on the Fortran-style
    strings of older LAT files; this copy keeps every other card as it is.
    """
    header = header.copy()
    for key in ("MJDREFI", "MJDREFF", "MJDREF"):
        value = header_float(header, key, source)
        if key in header:
            if value is None:
                del header[key]
            elif key == "MJDREFI" and value == int(value):
                header[key] = int(value)
            else:
                header[key] = value
    if "TIMESYS" in header:
        scale = header["TIMESYS"]
        if not isinstance(scale, str) or scale.strip().upper() not in _TIME_SCALES:
            header["TIMESYS"] = "TT"
    return header


def merge_intervals(start, stop):
    """Sort intervals and merge those that overlap or touch.

    Parameters
    ----------
    start, stop : array-like
        Interval bounds (MET, s).

    Returns
    -------
    start, stop : `~numpy.ndarray`
        Disjoint sorted intervals.
    """
    start = np.asarray(start, dtype=float).ravel()
    stop = np.asarray(stop, dtype=float).ravel()
    keep = stop > start
    start, stop = start[keep], stop[keep]
    if start.size == 0:
        return start, stop
    order = np.argsort(start, kind="stable")
    start, stop = start[order], stop[order]
    running = np.maximum.accumulate(stop)
    # a new interval begins where its start is beyond everything seen so far
    new = np.ones(start.size, dtype=bool)
    new[1:] = start[1:] > running[:-1]
    first = np.flatnonzero(new)
    last = np.r_[first[1:] - 1, start.size - 1]
    return start[first], running[last]


def intersect_intervals(start1, stop1, start2, stop2):
    """Intersection of two sets of intervals (each merged first).

    Returns
    -------
    start, stop : `~numpy.ndarray`
        Disjoint sorted intervals covered by both inputs.
    """
    a0, a1 = merge_intervals(start1, stop1)
    b0, b1 = merge_intervals(start2, stop2)
    if a0.size == 0 or b0.size == 0:
        return np.array([]), np.array([])
    # candidate pairs: for each a, the b intervals that may overlap it
    lo = np.searchsorted(b1, a0, side="right")
    hi = np.searchsorted(b0, a1, side="left")
    counts = np.maximum(hi - lo, 0)
    ia = np.repeat(np.arange(a0.size), counts)
    # ib runs from lo[i] to hi[i] - 1 for each i, built without a Python loop
    offsets = np.arange(ia.size) - np.repeat(np.cumsum(counts) - counts, counts)
    ib = np.repeat(lo, counts) + offsets
    start = np.maximum(a0[ia], b0[ib])
    stop = np.minimum(a1[ia], b1[ib])
    keep = stop > start
    return start[keep], stop[keep]


def intervals_from_mask(start, stop, good):
    """GTIs from per-row flags: good rows become intervals, contiguous good rows are merged.

    Rows are contiguous when one's ``STOP`` equals the next one's ``START`` (as for FT2 rows).
    """
    good = np.asarray(good, dtype=bool)
    start = np.asarray(start, dtype=float)[good]
    stop = np.asarray(stop, dtype=float)[good]
    if start.size == 0:
        return start, stop
    breaks = np.ones(start.size, dtype=bool)
    breaks[1:] = start[1:] != stop[:-1]
    first = np.flatnonzero(breaks)
    last = np.r_[first[1:] - 1, start.size - 1]
    return start[first], stop[last]


def in_intervals(time, start, stop):
    """Boolean mask of times inside ``[start, stop]`` of sorted disjoint intervals.

    Both ends are inclusive, as the CFITSIO ``gtifilter()`` used by the Fermitools.
    """
    time = np.asarray(time, dtype=float)
    start = np.asarray(start, dtype=float)
    stop = np.asarray(stop, dtype=float)
    if start.size == 0:
        return np.zeros(time.shape, dtype=bool)
    idx = np.searchsorted(start, time, side="right") - 1
    valid = idx >= 0
    idx = np.clip(idx, 0, None)
    return valid & (time <= stop[idx])


def gti_from_met(start, stop, time_ref=FERMI_TIME_REF):
    """Gammapy `~gammapy.data.GTI` from MET arrays.

    Parameters
    ----------
    start, stop : array-like
        MET in seconds.
    time_ref : `~astropy.time.Time`
        MET reference (Fermi: MJD 51910.00074287 TT).
    """
    return GTI.create(
        u.Quantity(np.atleast_1d(np.asarray(start, float)), "s"),
        u.Quantity(np.atleast_1d(np.asarray(stop, float)), "s"),
        reference_time=time_ref,
    )


def met_from_gti(gti, time_ref=FERMI_TIME_REF):
    """MET arrays ``(start, stop)`` in seconds of a Gammapy `~gammapy.data.GTI`."""
    start = (gti.time_start - time_ref).to_value("s")
    stop = (gti.time_stop - time_ref).to_value("s")
    return np.atleast_1d(start).astype(float), np.atleast_1d(stop).astype(float)
