"""Good-time intervals as MET arrays, and their conversion to Gammapy `~gammapy.data.GTI`.

Interval arithmetic is done on float64 MET arrays (exact, vectorised); Gammapy `GTI` objects are
built at the public boundary with the file's time reference.
"""
import astropy.units as u
import numpy as np
from gammapy.data import GTI
from gammapy.utils.time import time_ref_from_dict

from .constants import MET_REFERENCE

__all__ = [
    "merge_intervals",
    "intersect_intervals",
    "intervals_from_mask",
    "in_intervals",
    "gti_from_met",
    "met_from_gti",
    "time_ref_from_header",
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


def time_ref_from_header(header):
    """Time reference from ``MJDREFI``/``MJDREFF``/``TIMESYS`` (Fermi MET reference if absent)."""
    if "MJDREFI" in header or "MJDREF" in header:
        meta = {k: header[k] for k in ("MJDREFI", "MJDREFF", "MJDREF", "TIMESYS") if k in header}
        meta.setdefault("TIMESYS", "TT")
        return time_ref_from_dict(meta)
    return FERMI_TIME_REF


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
