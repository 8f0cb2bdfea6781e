"""A time-indexed store of LAT event and spacecraft files (e.g. a folder of weekly files)."""
import logging
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.io import fits
from astropy.table import Table
from astropy.time import Time
from gammapy.data import Observations

from ..data import LATEventList, mktime, read_events, read_spacecraft, resolve_paths
from ..data.gti import time_ref_from_header, time_to_met
from ..errors import LATDataError, LATFileError, SelectionError
from .observation import LATObservation

__all__ = ["LATDataStore"]

log = logging.getLogger(__name__)

#: Settings of the observations that a store passes through.
_OBSERVATION_KEYS = {"zmax", "caldb", "ltcube", "ltcube_kwargs", "check_selection"}


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
    selection : dict, optional
        gtselect cuts applied to the events of each file as it is read (arguments of
        `~gammapy_lat.data.LATEventList.select`: ``evclass``, ``evtype``, ``emin``, ``emax``,
        ``ra``/``dec``/``rad``, ``tmin``/``tmax``, ``zmax``...).
    gtmktime : dict, optional
        gtmktime options (``filter``, ``roicut``; see `~gammapy_lat.data.mktime`) applied to the
        events of each observation with its spacecraft rows. Default: none applied.
    **observation_kwargs : dict
        Other settings given to every `LATObservation` (``zmax``, ``caldb``, ``ltcube``,
        ``ltcube_kwargs``, ``check_selection``).

    Examples
    --------
    >>> store = LATDataStore.from_dir("weekly/", selection={"evclass": 128, "zmax": 90})  # doctest: +SKIP
    >>> obs = store.get_observations(tmin=239557417, tmax=240162217, chunk=1 * u.day)  # doctest: +SKIP
    >>> whole = store.get_observation()  # doctest: +SKIP
    """

    def __init__(self, ft1, ft2=None, irf_name=None, evtype=None, selection=None, gtmktime=None,
                 **observation_kwargs):
        self.ft1_files = resolve_paths(ft1, what="FT1")
        self.ft2_files = resolve_paths(ft2, what="FT2") if ft2 is not None else []
        self.irf_name = irf_name
        self.evtype = evtype
        self.selection = dict(selection) if selection else None
        self.gtmktime = dict(gtmktime) if gtmktime is not None else None
        unknown = set(observation_kwargs) - _OBSERVATION_KEYS
        if unknown:
            raise TypeError(f"LATDataStore got unexpected arguments {sorted(unknown)}")
        self.observation_kwargs = observation_kwargs
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

    def _read(self, paths, allow_empty=True):
        """Events of files with the store's gtselect cuts."""
        if self.selection is None:
            return read_events(paths)
        return read_events(paths, selection=dict(self.selection, allow_empty=allow_empty))

    def _make_obs(self, events, obs_id, check_coverage):
        if len(events.gti_start) == 0:
            return None
        tmin, tmax = float(events.gti_start[0]), float(events.gti_stop[-1])
        spacecraft = self._spacecraft(tmin, tmax)
        if spacecraft is not None and check_coverage:
            spacecraft.check_gti_coverage(events.gti_start, events.gti_stop, what=f"the GTIs of {events.source}")
        if self.gtmktime is not None:
            if spacecraft is None:
                raise LATDataError(f"gtmktime options need spacecraft (FT2) files for {events.source}")
            events = mktime(events, spacecraft, **self.gtmktime)
            if len(events.gti_start) == 0:
                return None
            # only the spacecraft rows of the good time are needed from here on
            spacecraft = spacecraft.select_time(events.gti_start[0], events.gti_stop[-1])
        return LATObservation(
            events, spacecraft, obs_id=obs_id, irf_name=self.irf_name, evtype=self.evtype, **self.observation_kwargs
        )

    def _time_range(self, tmin, tmax):
        """``(tmin, tmax)`` in MET seconds (default: the whole store)."""
        tmin = self.tstart if tmin is None else tmin
        tmax = self.tstop if tmax is None else tmax
        if isinstance(tmin, Time) or isinstance(tmax, Time):
            with fits.open(self.obs_table["FILE"][0], memmap=False) as hdulist:
                ref = time_ref_from_header(hdulist["EVENTS"].header)
            tmin = time_to_met(tmin, ref) if isinstance(tmin, Time) else float(tmin)
            tmax = time_to_met(tmax, ref) if isinstance(tmax, Time) else float(tmax)
        tmin, tmax = float(tmin), float(tmax)
        if not tmax > tmin:
            raise LATDataError(f"Empty time range tmin={tmin} >= tmax={tmax}")
        return tmin, tmax

    def get_observation(self, tmin=None, tmax=None, obs_id=0, check_coverage=True):
        """One observation with every event of a time range (the files merged).

        Parameters
        ----------
        tmin, tmax : float or `~astropy.time.Time`, optional
            Time range (MET seconds or times); default everything.
        obs_id : int, optional
            Identifier of the observation.
        check_coverage : bool
            Require the FT2 rows to cover the observation's GTIs.

        Returns
        -------
        observation : `LATObservation`

        Raises
        ------
        SelectionError
            No event of the files passes the selection, or no good time is left.
        """
        tmin, tmax = self._time_range(tmin, tmax)
        rows = self._ft1_overlapping(tmin, tmax)
        if len(rows) == 0:
            raise SelectionError(f"No FT1 file of the store overlaps MET {tmin:.3f}-{tmax:.3f}")
        events = self._read(list(rows["FILE"]), allow_empty=False)
        if tmin > events.tstart or tmax < events.tstop:
            events = events.select_time(tmin, tmax)
        obs = self._make_obs(events, obs_id, check_coverage)
        if obs is None:
            raise SelectionError(f"No good time left in MET {tmin:.3f}-{tmax:.3f} of {events.source}")
        return obs

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
        tmin, tmax = self._time_range(tmin, tmax)
        rows = self._ft1_overlapping(tmin, tmax)
        observations = []
        cache = {}

        def load(path):
            if path not in cache:
                cache[path] = self._read(path)
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
