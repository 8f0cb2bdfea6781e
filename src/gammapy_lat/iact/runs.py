"""Run selection for quick-look analyses: runs pointing near a target, in a night or a list, with
zenith, live-time and quality cuts, and the table a shift analyst reads (zenith, duration,
quality, and why a run was left out)."""
import logging
import re
from dataclasses import dataclass

import astropy.units as u
import numpy as np
from astropy.coordinates import Angle, SkyCoord
from astropy.table import Table
from astropy.time import Time

from ..errors import SelectionError
from .background import observation_nsb, observation_zenith_azimuth

__all__ = ["RunSelection", "select_runs", "parse_runs", "parse_nights", "night_interval", "site_longitude"]

log = logging.getLogger(__name__)


def _run_items(text):
    """(explicit ids, ranges) of a run specification."""
    ids, ranges = [], []
    for item in re.split(r"[,\s]+", str(text).strip()):
        if not item:
            continue
        match = re.fullmatch(r"(\d+)\s*(?:-|\.\.)\s*(\d+)", item)
        if match:
            lo, hi = int(match.group(1)), int(match.group(2))
            if hi < lo:
                raise SelectionError(f"runs: invalid range {item!r}")
            ranges.append((lo, hi))
        elif item.isdigit():
            ids.append(int(item))
        else:
            raise SelectionError(f"runs: {item!r} is not a run number or a range like 33787-33801")
    if not ids and not ranges:
        raise SelectionError("runs: no run number given")
    return ids, ranges


def parse_runs(text, available=None):
    """Run ids from ``"23523,23526"``, ranges ``"33787-33801"`` or a mix (``"1-3,7"``).

    With ``available`` (the data store's ids) a range means the available runs inside it, and a
    single id that is not available is an error.
    """
    ids, ranges = _run_items(text)
    if available is None:
        for lo, hi in ranges:
            if hi - lo > 100000:
                raise SelectionError(f"runs: range {lo}-{hi} is too long; give the runs of the data store")
            ids.extend(range(lo, hi + 1))
        return sorted(set(ids))
    available = set(int(i) for i in available)
    missing = sorted(set(ids) - available)
    if missing:
        raise SelectionError(f"runs: not in the data store: {missing[:20]}")
    for lo, hi in ranges:
        inside = [i for i in available if lo <= i <= hi]
        if not inside:
            raise SelectionError(f"runs: no run of the data store in {lo}-{hi}")
        ids.extend(inside)
    return sorted(set(ids))


def parse_nights(text):
    """Calendar dates of the evenings of the nights: ``"2006-07-29"`` or
    ``"2006-07-29/2006-07-31"`` (inclusive). Returns the first and last date as `~astropy.time.Time`."""
    parts = str(text).strip().split("/")
    if len(parts) > 2:
        raise SelectionError(f"date {text!r}: give YYYY-MM-DD or YYYY-MM-DD/YYYY-MM-DD")
    try:
        days = [Time(p.strip() + "T00:00:00", format="isot", scale="utc") for p in parts]
    except ValueError:
        raise SelectionError(f"date {text!r}: give YYYY-MM-DD or YYYY-MM-DD/YYYY-MM-DD") from None
    if days[-1] < days[0]:
        raise SelectionError(f"date {text!r}: the last night is before the first")
    return days[0], days[-1]


def night_interval(first, last, longitude):
    """UTC interval of the nights whose evenings are on the dates ``first``..``last``: from local
    mean solar noon of ``first`` to local noon after ``last`` (site longitude in degrees, east
    positive)."""
    shift = -float(longitude) / 15.0 * u.h
    return first + 12 * u.h + shift, last + 36 * u.h + shift


def site_longitude(datastore, observation=None):
    """Observatory longitude (deg) from the obs-index header or an observation."""
    value = datastore.obs_table.meta.get("GEOLON")
    if value is not None:
        try:
            return float(value)
        except ValueError:
            pass
    if observation is not None and observation.observatory_earth_location is not None:
        return float(observation.observatory_earth_location.lon.deg)
    return None


@dataclass
class RunSelection:
    """Runs considered for a target and whether each was selected.

    Attributes
    ----------
    table : `~astropy.table.Table`
        One row per candidate run (``STATUS`` is ``ok`` or the reason for leaving it out).
    target : `~gammapy_lat.iact.targets.Target`
        The target.
    """

    table: Table
    target: object

    @property
    def obs_ids(self):
        """Selected run ids."""
        return [int(i) for i in self.table["OBS_ID"][self.table["STATUS"] == "ok"]]

    def format(self):
        """The table as fixed-width text."""
        lines = self.table.pformat(max_lines=-1, max_width=-1, show_unit=False)
        n = len(self.obs_ids)
        hours = np.sum(self.table["LIVETIME"][self.table["STATUS"] == "ok"]) / 60
        return "\n".join(lines + [f"{n} of {len(self.table)} runs selected, {hours:.2f} h live time"])


def _times(datastore, table, ids):
    """Start and stop times of the runs (obs-index, else the runs' GTIs)."""
    sub = table.select_obs_id(ids)
    try:
        return sub.time_start, sub.time_stop
    except (KeyError, ValueError):
        pass
    starts, stops = [], []
    for obs in datastore.get_observations(ids, required_irf="all-optional"):
        starts.append(obs.tstart.utc.mjd)
        stops.append(obs.tstop.utc.mjd)
    return Time(starts, format="mjd", scale="utc"), Time(stops, format="mjd", scale="utc")


def _column(table, name, default=np.nan):
    return np.asarray(table[name], dtype=float) if name in table.colnames else np.full(len(table), default)


def select_runs(datastore, target, runs=None, date=None, max_offset="2.5 deg", zenith_max="60 deg",
                min_livetime="5 min", quality_max=1, required_irf=None):
    """Select the runs of a target.

    Parameters
    ----------
    datastore : `~gammapy.data.DataStore`
        DL3 data store.
    target : `~gammapy_lat.iact.targets.Target`
        Target.
    runs : list of int or str, optional
        Run ids to consider, or a specification such as ``"33787-33801,47802"`` (ranges mean the
        runs of the data store inside them). Default: every run pointing within ``max_offset``.
    date : str, optional
        Night(s) (``YYYY-MM-DD`` of the evening, or ``first/last``); local noon to noon at the
        site.
    max_offset : `~astropy.coordinates.Angle`
        Largest distance between pointing and target.
    zenith_max : `~astropy.coordinates.Angle`
        Largest mean zenith angle.
    min_livetime : `~astropy.units.Quantity`
        Shortest live time.
    quality_max : int
        Largest obs-index ``QUALITY`` value (GADF: 0 best), when the column exists.
    required_irf : list of str, optional
        HDU types every run needs (e.g. ``["aeff", "edisp"]``).

    Returns
    -------
    selection : `RunSelection`
    """
    table = datastore.obs_table
    max_offset = Angle(max_offset)
    pointing = SkyCoord(_column(table, "RA_PNT"), _column(table, "DEC_PNT"), unit="deg")
    offset = pointing.separation(target.position).deg
    all_ids = np.asarray(table["OBS_ID"]).astype(int)
    if isinstance(runs, str):
        runs = parse_runs(runs, all_ids)
    if runs is not None:
        missing = sorted(set(runs) - set(all_ids.tolist()))
        if missing:
            raise SelectionError(f"runs: not in the data store: {missing[:20]}")
        mask = np.isin(all_ids, runs)
    else:
        mask = offset <= max_offset.deg
        if not np.any(mask):
            best = int(np.nanargmin(offset))
            raise SelectionError(
                f"no run points within {max_offset.deg:g} deg of {target.name} "
                f"(closest: run {all_ids[best]} at {offset[best]:.2f} deg)"
            )
    ids = all_ids[mask].tolist()
    sub = table.select_obs_id(ids)
    order = np.argsort(np.asarray(sub["OBS_ID"]))
    sub = sub[order]
    ids = [int(i) for i in sub["OBS_ID"]]
    start, stop = _times(datastore, table, ids)

    observations = {}

    def obs(obs_id):
        if obs_id not in observations:
            observations[obs_id] = datastore.obs(obs_id, required_irf="all-optional")
        return observations[obs_id]

    class _Row:  # an observation stand-in: conditions from the obs-index only, no file read
        def __init__(self, obs_id):
            self.obs_id = obs_id

    in_index = "AZ_PNT" in sub.colnames and ({"ZEN_PNT", "ALT_PNT"} & set(sub.colnames))
    zenith, azimuth, nsb = [], [], []
    for obs_id in ids:
        zen, az = observation_zenith_azimuth(_Row(obs_id) if in_index else obs(obs_id), sub)
        zenith.append(zen)
        azimuth.append(az)
        value = observation_nsb(_Row(obs_id), sub)
        nsb.append(np.nan if value is None else value)
    duration = _column(sub, "ONTIME")
    bad = ~np.isfinite(duration)
    duration[bad] = (stop - start).to_value("s")[bad]
    livetime = _column(sub, "LIVETIME")
    bad = ~np.isfinite(livetime)
    if np.any(bad):
        deadc = _column(sub, "DEADC", 1.0)
        livetime[bad] = duration[bad] * np.where(np.isfinite(deadc[bad]), deadc[bad], 1.0)

    out = Table()
    out["OBS_ID"] = ids
    out["START"] = [t[:19] for t in start.utc.isot]
    out["DURATION"] = np.round(duration / 60, 1) * u.min
    out["LIVETIME"] = np.round(livetime / 60, 1) * u.min
    out["ZENITH"] = np.round(zenith, 1) * u.deg
    out["AZIMUTH"] = np.round(azimuth, 1) * u.deg
    out["OFFSET"] = np.round(offset[mask][order], 2) * u.deg
    if "N_TELS" in sub.colnames:
        out["N_TELS"] = np.asarray(sub["N_TELS"]).astype(int)
    if "QUALITY" in sub.colnames:
        out["QUALITY"] = np.asarray(sub["QUALITY"]).astype(int)
    if "MUONEFF" in sub.colnames:
        out["MUONEFF"] = np.round(np.asarray(sub["MUONEFF"], dtype=float), 3)
    if np.any(np.isfinite(nsb)):
        out["NSB"] = np.round(nsb, 3)

    status = np.array(["ok"] * len(out), dtype=object)

    def reject(condition, reason):
        for i in np.nonzero(condition & (status == "ok"))[0]:
            status[i] = reason(i)

    if date is not None:
        first, last = parse_nights(date)
        lon = site_longitude(datastore, obs(ids[0]))
        if lon is None:
            lon = 0.0
            log.warning("site longitude unknown: nights taken from noon to noon UTC")
        t0, t1 = night_interval(first, last, lon)
        outside = (start < t0) | (start >= t1)
        reject(outside, lambda i: "other night")
    reject(offset[mask][order] > max_offset.deg,
           lambda i: f"offset {out['OFFSET'][i]:.2f} > {max_offset.deg:g} deg")
    zmax = Angle(zenith_max).deg
    reject(np.asarray(zenith) > zmax, lambda i: f"zenith {zenith[i]:.1f} > {zmax:g} deg")
    tmin = u.Quantity(min_livetime).to_value("s")
    reject(livetime < tmin, lambda i: f"live time {livetime[i] / 60:.1f} < {tmin / 60:g} min")
    if "QUALITY" in out.colnames and quality_max is not None:
        reject(out["QUALITY"] > quality_max, lambda i: f"quality {out['QUALITY'][i]} > {quality_max}")
    if required_irf:
        hdu = datastore.hdu_table
        for i, obs_id in enumerate(ids):
            types = set(np.char.strip(np.asarray(hdu["HDU_TYPE"][hdu["OBS_ID"] == obs_id]).astype(str)))
            missing = [t for t in required_irf if t not in types]
            if missing and status[i] == "ok":
                status[i] = "no " + "/".join(missing)
    out["STATUS"] = status.astype(str)
    if date is not None and not np.any(out["STATUS"] != "other night"):
        raise SelectionError(f"no run of {target.name} in the night(s) of {date}")
    out = out[out["STATUS"] != "other night"] if date is not None else out
    selection = RunSelection(out, target)
    if not selection.obs_ids:
        raise SelectionError(
            f"no run of {target.name} passes the selection:\n" + selection.format()
        )
    return selection
