"""LAT observations (events + GTIs + spacecraft history) and a time-indexed store of LAT files."""
import copy
import logging
from pathlib import Path

import numpy as np
import astropy.units as u
from astropy.io import fits
from astropy.table import Table
from astropy.time import Time
from gammapy.data import Observation, Observations

from ..errors import LATDataError, LATFileError
from .ft1 import LATEventList, read_events
from .ft2 import read_spacecraft
from .gti import time_ref_from_header
from .passes import default_irf_name
from .paths import resolve_paths

__all__ = ["LATObservation", "LATDataStore", "default_irf_name"]

log = logging.getLogger(__name__)

class LATObservation(Observation):
    """A LAT observation: events, good-time intervals and spacecraft history of one time chunk.

    Behaves like a Gammapy `~gammapy.data.Observation` (``events``, ``gti``, ``tstart``,
    ``tstop``, ``obs_id``, ``observation_time_duration``, ``observation_live_time_duration``)
    and carries what the LAT response needs: the spacecraft rows (for livetime cubes), the IRF
    name and the event class / types of the data.

    Parameters
    ----------
    events : `~gammapy_lat.data.LATEventList`
        Events with their GTIs and DSS keywords.
    spacecraft : `~gammapy_lat.data.SpacecraftData`, optional
        Spacecraft rows covering the GTIs (needed for livetime and exposure).
    obs_id : int, optional
        Observation identifier.
    irf_name : str, optional
        IRF name, e.g. ``P8R3_SOURCE_V3`` (default: from the pass version and event class:
        ``P8R3`` + 128 is ``P8R3_SOURCE_V3``, ``P7REP`` + 2 ``P7REP_SOURCE_V15``, Pass 6 class
        3 ``P6_V3_DIFFUSE``; see `gammapy_lat.data.passes`).
    evtype : int, optional
        Event-type bit mask of the data (default: from the DSS keywords, else 3).
    evclass : int, optional
        Event class in the pass's convention (default: from the DSS keywords, see
        `LATEventList.evclass`).
    """

    def __init__(self, events, spacecraft=None, obs_id=None, irf_name=None, evtype=None, evclass=None):
        if not isinstance(events, LATEventList):
            raise TypeError(f"events must be a LATEventList, got {type(events).__name__}")
        self.lat_events = events
        self.spacecraft = spacecraft
        self.evclass = evclass if evclass is not None else events.evclass
        if evtype is None:
            evtype = events.dss.evtype
        if evtype is None:
            # Pass 6/7: the conversion-type cut is the event-type selection (0 FRONT, 1 BACK)
            conv = events.dss.conversion_type_range
            evtype = {(0.0, 0.0): 1, (1.0, 1.0): 2}.get(tuple(conv) if conv else None, 3)
        self.evtype = int(evtype)
        if not irf_name:
            pass_ver = events.header.get("PASS_VER") or events.pass_ver
            irf_name = default_irf_name(pass_ver, self.evclass, events.dss)
        self.irf_name = irf_name
        super().__init__(obs_id=obs_id, gti=events.gti, events=events.events)

    # ------------------------------------------------------------------- construction
    @classmethod
    def read(cls, ft1, ft2=None, obs_id=None, irf_name=None, evtype=None, check_coverage=True):
        """Read an observation from FT1 (and FT2) file specifications.

        Parameters
        ----------
        ft1, ft2 : str, `~pathlib.Path` or list
            Event and spacecraft files (single file, glob, ``@list`` or list).
        check_coverage : bool
            Require the spacecraft rows to cover the event GTIs.
        """
        events = read_events(ft1)
        spacecraft = None
        if ft2 is not None:
            # only the spacecraft rows of the events' time span (a small part of a mission-long FT2)
            span = (events.gti_start[0], events.gti_stop[-1]) if len(events.gti_start) else None
            spacecraft = read_spacecraft(ft2, time_range=span)
            if check_coverage:
                spacecraft.check_gti_coverage(events.gti_start, events.gti_stop, what=f"the GTIs of {events.source}")
        return cls(events, spacecraft, obs_id=obs_id, irf_name=irf_name, evtype=evtype)

    # ----------------------------------------------------------------------- times
    @property
    def tstart(self):
        """Start of the first GTI as `~astropy.time.Time`."""
        return self.gti.time_start[0]

    @property
    def tstop(self):
        """Stop of the last GTI as `~astropy.time.Time`."""
        return self.gti.time_stop[-1]

    @property
    def met_start(self):
        """Start of the first GTI (MET, s)."""
        return float(self.lat_events.gti_start[0])

    @property
    def met_stop(self):
        """Stop of the last GTI (MET, s)."""
        return float(self.lat_events.gti_stop[-1])

    @property
    def observation_live_time_duration(self):
        """Livetime inside the GTIs from the FT2 ``LIVETIME`` column (`~astropy.units.Quantity`, s).

        Rows partially inside a GTI count with the fraction of their duration inside it.
        """
        if self.spacecraft is None:
            raise LATDataError(
                f"Observation {self.obs_id}: the livetime needs the spacecraft (FT2) data, none was given"
            )
        return self.spacecraft.livetime_in_gti(self.lat_events.gti_start, self.lat_events.gti_stop)

    @property
    def observation_dead_time_fraction(self):
        """``1 - livetime / ontime``."""
        ontime = self.observation_time_duration.to_value(u.s)
        if ontime <= 0 or self.spacecraft is None:
            return 0.0
        return 1.0 - self.observation_live_time_duration.to_value(u.s) / ontime

    @property
    def pointing(self):
        """None: the LAT surveys the sky; use :attr:`spacecraft` for the attitude history."""
        return None

    @property
    def target_radec(self):
        """Centre of the acceptance cone of the events (DSS keywords), or None."""
        from astropy.coordinates import SkyCoord

        cone = self.lat_events.dss.cone
        return SkyCoord(cone[0], cone[1], unit="deg", frame="icrs") if cone else None

    def select_time(self, time_interval, inverted=False):
        """Observation restricted to a time interval.

        Parameters
        ----------
        time_interval : `~astropy.time.Time` or tuple of float
            ``[start, stop]`` as times or MET seconds.
        """
        if inverted:
            raise NotImplementedError("Inverted time selection is not supported for LAT observations")
        tmin, tmax = time_interval
        ref = self.lat_events.time_ref
        if isinstance(tmin, Time):
            tmin = (tmin - ref).to_value(u.s)
        if isinstance(tmax, Time):
            tmax = (tmax - ref).to_value(u.s)
        events = self.lat_events.select_time(float(tmin), float(tmax))
        spacecraft = self.spacecraft.select_time(float(tmin), float(tmax)) if self.spacecraft is not None else None
        return LATObservation(events, spacecraft, self.obs_id, self.irf_name, self.evtype, self.evclass)

    def copy(self, in_memory=False, **kwargs):
        """Copy, optionally overriding ``events``, ``spacecraft``, ``obs_id``, ``irf_name``,
        ``evtype`` or ``evclass``.

        Parameters
        ----------
        in_memory : bool
            Deep copy of the data (otherwise the event and spacecraft tables are shared).
        """
        params = dict(
            events=self.lat_events,
            spacecraft=self.spacecraft,
            obs_id=self.obs_id,
            irf_name=self.irf_name,
            evtype=self.evtype,
            evclass=self.evclass,
        )
        unknown = set(kwargs) - set(params)
        if unknown:
            raise TypeError(f"LATObservation.copy() got unexpected arguments {sorted(unknown)}")
        params.update(kwargs)
        if in_memory:
            params["events"] = copy.deepcopy(params["events"])
            params["spacecraft"] = copy.deepcopy(params["spacecraft"])
        return LATObservation(**params)

    def __str__(self):
        live = (
            f"{self.observation_live_time_duration.to_value('s'):.1f} s" if self.spacecraft is not None else "n/a"
        )
        return (
            f"{type(self).__name__}\n\n"
            f"\tobs id            : {self.obs_id}\n"
            f"\ttstart (MET)      : {self.met_start:.3f}\n"
            f"\ttstop  (MET)      : {self.met_stop:.3f}\n"
            f"\tGTIs              : {len(self.lat_events.gti_start)}\n"
            f"\tontime            : {self.observation_time_duration.to_value('s'):.1f} s\n"
            f"\tlivetime          : {live}\n"
            f"\tevents            : {len(self.lat_events)}\n"
            f"\tirf               : {self.irf_name} (evclass {self.evclass}, evtype {self.evtype})\n"
        )


def _classify(path):
    """``"FT1"``, ``"FT2"`` or None for a FITS file, from its extensions."""
    try:
        with fits.open(path, memmap=False) as hdulist:
            names = {hdu.name for hdu in hdulist}
    except OSError:
        return None
    if "EVENTS" in names:
        return "FT1"
    if "SC_DATA" in names:
        return "FT2"
    return None


class LATDataStore:
    """Index of many FT1/FT2 files (e.g. a folder of weekly files) by time.

    Only headers and GTIs are read when indexing; events and spacecraft rows are read when
    observations are requested.

    Parameters
    ----------
    ft1 : str, `~pathlib.Path` or list
        Event files (single file, glob, ``@list`` or list).
    ft2 : str, `~pathlib.Path` or list, optional
        Spacecraft files.
    irf_name : str, optional
        IRF name given to the observations (default: from the files).
    evtype : int, optional
        Event-type mask given to the observations (default: from the files).

    Examples
    --------
    >>> store = LATDataStore.from_dir("weekly/")  # doctest: +SKIP
    >>> obs = store.get_observations(tmin=239557417, tmax=240162217, chunk=1 * u.day)  # doctest: +SKIP
    """

    def __init__(self, ft1, ft2=None, irf_name=None, evtype=None):
        self.ft1_files = resolve_paths(ft1, what="FT1")
        self.ft2_files = resolve_paths(ft2, what="FT2") if ft2 is not None else []
        self.irf_name = irf_name
        self.evtype = evtype
        self.obs_table = self._index_ft1(self.ft1_files)
        self.sc_table = self._index_ft2(self.ft2_files)

    @classmethod
    def from_dir(cls, path, pattern="*.fits*", **kwargs):
        """Index every FT1 and FT2 file of a folder (recognised by their ``EVENTS``/``SC_DATA`` HDUs)."""
        path = Path(path)
        if not path.is_dir():
            raise LATFileError(f"Data folder {path} does not exist")
        ft1, ft2 = [], []
        for name in sorted(path.glob(pattern)):
            kind = _classify(name)
            if kind == "FT1":
                ft1.append(name)
            elif kind == "FT2":
                ft2.append(name)
        if not ft1:
            raise LATFileError(f"Data folder {path} holds no FT1 file (no FITS file with an EVENTS HDU)")
        return cls(ft1, ft2 or None, **kwargs)

    @staticmethod
    def _index_ft1(files):
        rows = []
        for path in files:
            try:
                with fits.open(path, memmap=False) as hdulist:
                    if "EVENTS" not in hdulist:
                        raise LATFileError(f"FT1 file {path} has no EVENTS extension")
                    if "GTI" not in hdulist:
                        raise LATFileError(f"FT1 file {path} has no GTI extension")
                    header = hdulist["EVENTS"].header
                    gti = hdulist["GTI"].data
                    if gti is not None and not {"START", "STOP"} <= set(gti.columns.names):
                        raise LATFileError(f"FT1 file {path}: the GTI extension has no START/STOP columns")
                    start = np.asarray(gti["START"], float) if gti is not None else np.array([])
                    stop = np.asarray(gti["STOP"], float) if gti is not None else np.array([])
                    tstart = float(header.get("TSTART", start.min() if start.size else np.nan))
                    tstop = float(header.get("TSTOP", stop.max() if stop.size else np.nan))
                    rows.append(
                        (len(rows), tstart, tstop, float(np.sum(stop - start)), int(header.get("NAXIS2", 0)), str(path))
                    )
            except OSError as exc:
                if isinstance(exc, LATFileError):
                    raise
                raise LATFileError(f"Cannot read FT1 file {path}: {exc}") from exc
        table = Table(rows=rows, names=["OBS_ID", "TSTART", "TSTOP", "ONTIME", "NEVENTS", "FILE"])
        table["TSTART"].unit = table["TSTOP"].unit = table["ONTIME"].unit = "s"
        table.sort("TSTART")
        return table

    @staticmethod
    def _index_ft2(files):
        rows = []
        for path in files:
            try:
                with fits.open(path, memmap=False) as hdulist:
                    if "SC_DATA" not in hdulist:
                        raise LATFileError(f"FT2 file {path} has no SC_DATA extension")
                    data = hdulist["SC_DATA"].data
                    if data is None or len(data) == 0:
                        raise LATFileError(f"FT2 file {path}: the SC_DATA table has no rows")
                    missing = [c for c in ("START", "STOP") if c not in data.columns.names]
                    if missing:
                        raise LATFileError(f"FT2 file {path}: SC_DATA has no {'/'.join(missing)} column")
                    rows.append((float(data["START"][0]), float(data["STOP"][-1]), str(path)))
            except OSError as exc:
                if isinstance(exc, LATFileError):
                    raise
                raise LATFileError(f"Cannot read FT2 file {path}: {exc}") from exc
        table = Table(rows=rows, names=["TSTART", "TSTOP", "FILE"]) if rows else Table(names=["TSTART", "TSTOP", "FILE"], dtype=[float, float, str])
        if rows:
            table.sort("TSTART")
        return table

    def __len__(self):
        return len(self.obs_table)

    def __repr__(self):
        return f"{type(self).__name__}(ft1_files={len(self.ft1_files)}, ft2_files={len(self.ft2_files)})"

    @property
    def tstart(self):
        """Earliest ``TSTART`` of the FT1 files (MET, s)."""
        return float(np.min(self.obs_table["TSTART"]))

    @property
    def tstop(self):
        """Latest ``TSTOP`` of the FT1 files (MET, s)."""
        return float(np.max(self.obs_table["TSTOP"]))

    def _ft1_overlapping(self, tmin, tmax):
        table = self.obs_table
        mask = (np.asarray(table["TSTOP"]) > tmin) & (np.asarray(table["TSTART"]) < tmax)
        return table[mask]

    def _spacecraft(self, tmin, tmax):
        if len(self.sc_table) == 0:
            return None
        table = self.sc_table
        mask = (np.asarray(table["TSTOP"]) > tmin) & (np.asarray(table["TSTART"]) < tmax)
        files = list(table["FILE"][mask])
        if not files:
            raise LATDataError(f"No FT2 file covers MET {tmin:.3f}-{tmax:.3f}")
        return read_spacecraft(files, time_range=(tmin, tmax))

    def _make_obs(self, events, obs_id, check_coverage):
        if len(events.gti_start) == 0:
            return None
        tmin, tmax = float(events.gti_start[0]), float(events.gti_stop[-1])
        spacecraft = self._spacecraft(tmin, tmax)
        if spacecraft is not None and check_coverage:
            spacecraft.check_gti_coverage(events.gti_start, events.gti_stop, what=f"the GTIs of {events.source}")
        return LATObservation(events, spacecraft, obs_id=obs_id, irf_name=self.irf_name, evtype=self.evtype)

    def get_observations(self, tmin=None, tmax=None, chunk=None, check_coverage=True):
        """Observations for a time range, one per FT1 file or one per time chunk.

        Parameters
        ----------
        tmin, tmax : float or `~astropy.time.Time`, optional
            Time range (MET seconds or times); default everything.
        chunk : `~astropy.units.Quantity`, optional
            Chunk duration (e.g. ``1 * u.day``). Chunks start at ``tmin``; events of several
            files falling into a chunk are merged. Without it, one observation per file.
        check_coverage : bool
            Require the FT2 rows to cover each observation's GTIs (when FT2 files are indexed).

        Returns
        -------
        observations : `~gammapy.data.Observations`
            `LATObservation` objects, empty chunks (no GTI) skipped.
        """
        ref = None
        tmin = self.tstart if tmin is None else tmin
        tmax = self.tstop if tmax is None else tmax
        if isinstance(tmin, Time) or isinstance(tmax, Time):
            with fits.open(self.obs_table["FILE"][0], memmap=False) as hdulist:
                ref = time_ref_from_header(hdulist["EVENTS"].header)
            tmin = (tmin - ref).to_value(u.s) if isinstance(tmin, Time) else float(tmin)
            tmax = (tmax - ref).to_value(u.s) if isinstance(tmax, Time) else float(tmax)
        tmin, tmax = float(tmin), float(tmax)
        if not tmax > tmin:
            raise LATDataError(f"Empty time range tmin={tmin} >= tmax={tmax}")
        rows = self._ft1_overlapping(tmin, tmax)
        observations = []
        cache = {}

        def load(path):
            if path not in cache:
                cache[path] = read_events(path)
            return cache[path]

        if chunk is None:
            for row in rows:
                events = load(row["FILE"])
                if tmin > events.tstart or tmax < events.tstop:
                    events = events.select_time(tmin, tmax)
                obs = self._make_obs(events, int(row["OBS_ID"]), check_coverage)
                if obs is not None:
                    observations.append(obs)
            return Observations(observations)

        step = u.Quantity(chunk).to_value(u.s)
        if not step > 0:
            raise LATDataError(f"Chunk duration must be positive, got {chunk}")
        edges = np.arange(tmin, tmax, step)
        for idx, start in enumerate(edges):
            stop = min(start + step, tmax)
            files = self._ft1_overlapping(start, stop)
            if len(files) == 0:
                continue
            last = stop >= tmax
            parts = [load(p).select_time(start, stop, right_open=not last) for p in files["FILE"]]
            parts = [p for p in parts if len(p.gti_start)]
            if not parts:
                continue
            events = LATEventList.from_stack(parts) if len(parts) > 1 else parts[0]
            obs = self._make_obs(events, idx, check_coverage)
            if obs is not None:
                observations.append(obs)
        return Observations(observations)
