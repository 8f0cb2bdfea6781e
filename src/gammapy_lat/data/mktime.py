"""Good-time selection from the spacecraft file with gtmktime semantics."""
import logging

import astropy.units as u
import numpy as np
from astropy.coordinates import angular_separation

from ..errors import FilterExpressionError, SelectionError
from .constants import DEFAULT_FILTER
from .filter import parse_filter
from .gti import gti_from_met, in_intervals, intersect_intervals, intervals_from_mask

__all__ = ["good_time_intervals", "make_gti", "mktime", "DEFAULT_FILTER"]

log = logging.getLogger(__name__)



def _roi_zenith_mask(spacecraft, ra, dec, rad, zmax):
    """Rows where the whole ROI cone is within ``zmax`` of the zenith (gtmktime ``roicut``)."""
    ra_z = np.asarray(spacecraft.table["RA_ZENITH"], float) * u.deg
    dec_z = np.asarray(spacecraft.table["DEC_ZENITH"], float) * u.deg
    sep = angular_separation(ra_z, dec_z, ra * u.deg, dec * u.deg).to_value(u.deg)
    return sep < zmax - rad


def good_time_intervals(spacecraft, filter=DEFAULT_FILTER, roicut=False, roi=None, zmax=None, tmin=None, tmax=None):
    """Good-time intervals (MET arrays) from the spacecraft rows.

    An FT2 row is good when ``filter`` holds for it (and, with ``roicut``, when the whole ROI cone
    is within ``zmax`` of the zenith: ``angsep(RA_ZENITH, DEC_ZENITH, ra, dec) < zmax - radius``,
    at the row start, as gtmktime does); each good row contributes its ``[START, STOP]`` and
    contiguous good rows are merged.

    Parameters
    ----------
    spacecraft : `~gammapy_lat.data.SpacecraftData`
        FT2 rows.
    filter : str or `~gammapy_lat.data.filter.FilterExpression`, optional
        gtmktime filter expression; None or empty keeps every row.
    roicut : bool
        Apply the ROI-based zenith cut (needs ``roi`` and ``zmax``).
    roi : tuple, optional
        ``(ra, dec, radius)`` in degrees.
    zmax : float, optional
        Maximum zenith angle in degrees.
    tmin, tmax : float, optional
        Restrict to this MET range.

    Returns
    -------
    start, stop : `~numpy.ndarray`
        Disjoint sorted intervals (MET, s).
    """
    mask = np.ones(len(spacecraft), dtype=bool)
    if filter is not None and str(filter).strip():
        expression = parse_filter(filter) if isinstance(filter, str) else filter
        try:
            mask &= expression.evaluate(spacecraft.table)
        except FilterExpressionError as exc:
            raise FilterExpressionError(
                f"{spacecraft._source()}: {str(exc).splitlines()[0]}", exc.expression, exc.position
            ) from exc
    if roicut:
        if roi is None or zmax is None:
            raise SelectionError("roicut needs the ROI cone (ra, dec, rad) and a maximum zenith angle zmax")
        mask &= _roi_zenith_mask(spacecraft, *roi, zmax)
    start, stop = intervals_from_mask(spacecraft.start, spacecraft.stop, mask)
    if tmin is not None or tmax is not None:
        lo = -np.inf if tmin is None else float(tmin)
        hi = np.inf if tmax is None else float(tmax)
        start, stop = intersect_intervals(start, stop, [lo], [hi])
    return start, stop


def make_gti(spacecraft, filter=DEFAULT_FILTER, roicut=False, roi=None, zmax=None, tmin=None, tmax=None):
    """Good-time intervals from the spacecraft rows as a Gammapy `~gammapy.data.GTI`.

    See :func:`good_time_intervals` for the parameters.
    """
    start, stop = good_time_intervals(spacecraft, filter, roicut, roi, zmax, tmin, tmax)
    return gti_from_met(start, stop, spacecraft.time_ref)


def mktime(
    events,
    spacecraft,
    filter=DEFAULT_FILTER,
    roicut=False,
    overwrite=False,
    header_obstimes=True,
    tstart=None,
    tstop=None,
    allow_empty=False,
):
    """gtmktime: intersect the events' GTIs with the good time from the spacecraft file.

    An FT2 row is good when ``filter`` holds for it; good rows that touch form one interval. The
    result is intersected with the GTIs of the event file (or, with ``overwrite``, with
    ``[TSTART, TSTOP]`` of the file or ``[tstart, tstop]``), and events outside are dropped. The
    header times and DSS keywords of the events are kept, as gtmktime does.

    Parameters
    ----------
    events : `~gammapy_lat.data.LATEventList`
        Input events.
    spacecraft : `~gammapy_lat.data.SpacecraftData`
        FT2 rows; they must cover the events' GTIs.
    filter : str, optional
        Filter expression over the FT2 columns (default ``(DATA_QUAL>0)&&(LAT_CONFIG==1)``);
        None or empty keeps every row.
    roicut : bool
        Also require ``angsep(zenith, ROI centre) < zmax - ROI radius`` with the cone and the
        maximum zenith angle of the events' DSS keywords. Without both keywords (or with
        ``zmax >= 180``) no cut is applied and a warning is logged, as gtmktime does.
    overwrite : bool
        Replace the GTIs of the event file instead of intersecting with them (gtmktime
        ``overwrite``).
    header_obstimes : bool
        With ``overwrite``: use ``TSTART``/``TSTOP`` of the event file (True) or ``tstart``/
        ``tstop`` (False).
    tstart, tstop : float, optional
        MET range used with ``overwrite`` and ``header_obstimes=False``.
    allow_empty : bool
        Return an empty event list instead of raising when no good time or no event remains.

    Returns
    -------
    events : `~gammapy_lat.data.LATEventList`
        Events inside the new GTIs, with the new GTIs.

    Raises
    ------
    gammapy_lat.errors.LATDataError
        The spacecraft rows do not cover the events' GTIs.
    gammapy_lat.errors.FilterExpressionError
        Malformed filter or unknown column.
    gammapy_lat.errors.SelectionError
        No good time or no event left (unless ``allow_empty``), ``overwrite`` without a range.
    """
    spacecraft.check_gti_coverage(events.gti_start, events.gti_stop, what=f"the GTIs of {events.source}")
    roi = zmax = None
    if roicut:
        zrange = events.dss.zenith_range
        cone = events.dss.cone
        if cone is not None and zrange is not None and zrange[1] < 180:
            roi, zmax = cone, zrange[1]
        else:
            log.warning(
                "%s: no acceptance cone and zenith-angle cut below 180 deg in the DSS keywords; "
                "the ROI-based zenith-angle cut is not applied",
                events.source,
            )
            roicut = False
    start, stop = good_time_intervals(spacecraft, filter, roicut, roi, zmax)
    if start.size == 0 and not allow_empty:
        raise SelectionError(f"{spacecraft._source()}: the filter {filter!r} selects no good time")
    if overwrite:
        if header_obstimes:
            lo, hi = events.tstart, events.tstop
        else:
            if tstart is None or tstop is None:
                raise SelectionError("overwrite without header_obstimes needs tstart and tstop")
            lo, hi = float(tstart), float(tstop)
        start, stop = intersect_intervals(start, stop, [lo], [hi])
        mask = in_intervals(events.time, start, stop)
        out = events._subset(mask, gti=(start, stop))
    else:
        out = events.select_gti((start, stop), allow_empty=True)
    if out.gti_start.size == 0 and not allow_empty:
        raise SelectionError(
            f"{events.source}: no good time left after intersecting its GTIs with the filter {filter!r}"
        )
    if len(out) == 0 and not allow_empty:
        raise SelectionError(f"{events.source}: no event left inside the new good time intervals")
    log.info(
        "mktime: %d -> %d GTIs, %d -> %d events, ontime %.1f -> %.1f s",
        events.gti_start.size, out.gti_start.size, len(events), len(out), events.ontime.value, out.ontime.value,
    )  # fmt: skip
    return out
