"""LAT observations: events, GTIs and spacecraft history of one time chunk, with their response
settings (IRF name, event types, zenith cut, CALDB) and the livetime cube and IRFs derived once."""
import copy
import logging
from pathlib import Path

import astropy.units as u
from astropy.coordinates import SkyCoord
from astropy.time import Time
from gammapy.data import Observation

from ..data import LATEventList, read_events, read_spacecraft
from ..data.constants import EVENT_TYPE_BITS, EVENT_TYPE_PARTITIONS
from ..data.evtypes import evtype_mask
from ..data.passes import default_irf_name, irf_mismatch
from ..errors import LATDataError, SelectionError
from ..irf import LATIRFs
from ..livetime import LivetimeCube

__all__ = ["LATObservation", "default_irf_name"]

log = logging.getLogger(__name__)

#: Masks of the event-type partitions (FRONT/BACK, PSF0-3, EDISP0-3).
_PARTITION_MASKS = tuple(
    sum(EVENT_TYPE_BITS[name] for name in names) for names in EVENT_TYPE_PARTITIONS.values()
)


def _freeze(value):
    """Hashable form of livetime-cube options (dicts, lists, quantities)."""
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, u.Quantity):
        return (float(value.value) if value.isscalar else tuple(value.value.ravel()), str(value.unit))
    return value


class _ResponseCache:
    """Livetime cubes and IRFs of one observation, shared with the observations derived from it
    by `LATObservation.select` (same events' time span and spacecraft rows)."""

    def __init__(self):
        self.ltcubes = {}
        self.irfs = {}


class LATObservation(Observation):
    """A LAT observation: events, good-time intervals and spacecraft history of one time chunk,
    with the response settings resolved once.

    Behaves like a Gammapy `~gammapy.data.Observation` (``events``, ``gti``, ``tstart``,
    ``tstop``, ``obs_id``, ``observation_time_duration``, ``observation_live_time_duration``)
    and carries what the LAT response needs, as Gammapy observations carry their IRFs: the IRF
    name, event class and event types, the zenith-angle cut, the CALDB, and the livetime cube
    (`ltcube`, computed once from the spacecraft rows or given) and the CALDB IRFs (`irfs`),
    both loaded on first use and shared with the observations that `select` derives from it.
    The makers take everything from the observation and keep no state.

    Parameters
    ----------
    events : `~gammapy_lat.data.LATEventList`
        Events with their GTIs and DSS keywords.
    spacecraft : `~gammapy_lat.data.SpacecraftData`, optional
        Spacecraft rows covering the GTIs (needed for livetime and exposure).
    obs_id : int, optional
        Observation identifier.
    irf_name : str, optional
        IRF name, e.g. ``P8R3_SOURCE_V3`` (default: from the pass version and event class).
    evtype : int, optional
        Event-type bit mask of the data (default: from the DSS keywords, else 3).
    evclass : int, optional
        Event-class bit (default: from the DSS keywords).
    zmax : `~astropy.units.Quantity`, optional
        Zenith-angle cut of the livetime cube (default: the zenith cut of the event selection,
        else 180 deg). It may not exceed the events' own cut.
    caldb : `~gammapy_lat.irf.CALDB`, str or `~pathlib.Path`, optional
        CALDB of the IRFs (default ``$CALDB``).
    ltcube : `~gammapy_lat.livetime.LivetimeCube`, str or `~pathlib.Path`, optional
        Livetime cube to use instead of computing one (e.g. a gtltcube product); it must span the
        observation's time range (within 60 s).
    ltcube_kwargs : dict, optional
        Options of `~gammapy_lat.livetime.LivetimeCube.compute` (``nside``, ``nbins``,
        ``binning``, ``roi``, ``n_jobs``...). Defaults: ``nside=64``, ``nbins=40``, and the sky
        within 1 deg of the acceptance cone of the events (all sky without a cone).
    check_selection : bool, optional
        Check the IRF name against the event selection (pass, event class, ``IRF_VERSION``).
        Default is True.
    """

    def __init__(
        self,
        events,
        spacecraft=None,
        obs_id=None,
        irf_name=None,
        evtype=None,
        evclass=None,
        zmax=None,
        caldb=None,
        ltcube=None,
        ltcube_kwargs=None,
        check_selection=True,
    ):
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
        self.check_selection = bool(check_selection)
        if not irf_name:
            irf_name = default_irf_name(events.header.get("PASS_VER") or events.pass_ver, self.evclass, events.dss)
        self.irf_name = self._check_irf_name(irf_name)
        self.zmax = self._check_zmax(zmax)
        self.caldb = caldb
        self.ltcube_kwargs = dict(ltcube_kwargs or {})
        self._ltcube = ltcube
        self._cache = _ResponseCache()
        super().__init__(obs_id=obs_id, gti=events.gti, events=events.events)

    # ------------------------------------------------------------------- construction
    @classmethod
    def read(cls, ft1, ft2=None, obs_id=None, irf_name=None, evtype=None, check_coverage=True, **kwargs):
        """Read an observation from FT1 (and FT2) file specifications.

        Parameters
        ----------
        ft1, ft2 : str, `~pathlib.Path` or list
            Event and spacecraft files (single file, glob, ``@list`` or list).
        check_coverage : bool
            Require the spacecraft rows to cover the event GTIs.
        **kwargs : dict
            Other `LATObservation` parameters (``zmax``, ``caldb``, ``ltcube``...).
        """
        events = read_events(ft1)
        spacecraft = None
        if ft2 is not None:
            # only the spacecraft rows of the events' time span (a small part of a mission-long FT2)
            span = (events.gti_start[0], events.gti_stop[-1]) if len(events.gti_start) else None
            spacecraft = read_spacecraft(ft2, time_range=span)
            if check_coverage:
                spacecraft.check_gti_coverage(events.gti_start, events.gti_stop, what=f"the GTIs of {events.source}")
        return cls(events, spacecraft, obs_id=obs_id, irf_name=irf_name, evtype=evtype, **kwargs)

    def _parameters(self):
        return dict(
            events=self.lat_events,
            spacecraft=self.spacecraft,
            obs_id=self.obs_id,
            irf_name=self.irf_name,
            evtype=self.evtype,
            evclass=self.evclass,
            zmax=self.zmax,
            caldb=self.caldb,
            ltcube=self._ltcube,
            ltcube_kwargs=self.ltcube_kwargs,
            check_selection=self.check_selection,
        )

    def _derive(self, **changes):
        """Observation with some settings changed, sharing the livetime cubes and IRFs."""
        params = self._parameters()
        params.update(changes)
        derived = LATObservation(**params)
        derived._cache = self._cache
        return derived

    def copy(self, in_memory=False, **kwargs):
        """Copy, optionally overriding any of the parameters of `LATObservation`.

        A copy with the same events and spacecraft rows shares the computed livetime cubes and
        loaded IRFs of this observation.

        Parameters
        ----------
        in_memory : bool
            Deep copy of the data (otherwise the event and spacecraft tables are shared).
        """
        params = self._parameters()
        unknown = set(kwargs) - set(params)
        if unknown:
            raise TypeError(f"LATObservation.copy() got unexpected arguments {sorted(unknown)}")
        shares = not in_memory and all(
            kwargs.get(key, params[key]) is params[key] for key in ("events", "spacecraft")
        )
        params.update(kwargs)
        if in_memory:
            params["events"] = copy.deepcopy(params["events"])
            params["spacecraft"] = copy.deepcopy(params["spacecraft"])
        result = LATObservation(**params)
        if shares:
            result._cache = self._cache
        return result

    # ------------------------------------------------------------------- selection
    def _check_irf_name(self, irf_name):
        """The IRF name must match a recorded ``IRF_VERSION``; an IRF of another pass or event
        class than the events is a warning (it is sometimes done on purpose, e.g. P8R2 data with
        P8R3 IRFs)."""
        if irf_name is None or not self.check_selection:
            return irf_name
        events = self.lat_events
        recorded = None
        for cut in events.dss:
            if cut.type.upper() == "IRF_VERSION":
                recorded = cut.value.strip()
        source = events.source
        if recorded and recorded.upper() != str(irf_name).upper():
            raise SelectionError(
                f"IRF {irf_name} does not match IRF_VERSION={recorded} in the DSS keywords of {source}"
            )
        irf_pass = str(irf_name).upper().split("_")[0]
        data_pass = events.pass_ver
        if irf_pass.startswith("P8") and data_pass and str(data_pass).upper().startswith("P8") and irf_pass != str(data_pass).upper():
            log.warning(f"IRF {irf_name} is for {irf_pass}, but {source} holds {data_pass} events")
        problem = irf_mismatch(irf_name, events.header.get("PASS_VER") or data_pass, self.evclass, events.dss)
        if problem:
            log.warning(f"{problem} ({source}); the exposure will not match the events")
        return irf_name

    @property
    def data_zmax(self):
        """Zenith-angle cut of the event selection (DSS keywords; 180 deg without one)."""
        zrange = self.lat_events.dss.zenith_range
        value = zrange[1] if zrange is not None else 180.0
        return min(float(value), 180.0) * u.deg

    def _check_zmax(self, zmax):
        data_zmax = self.data_zmax
        if zmax is None:
            return data_zmax
        zmax = u.Quantity(zmax, "deg")
        if zmax.to_value("deg") > data_zmax.to_value("deg") + 1e-9:
            raise SelectionError(
                f"zmax={zmax} is larger than the zenith cut {data_zmax.to_value('deg')} deg of the "
                f"events of {self.lat_events.source}"
            )
        return zmax

    def select(self, evtype=None, zmax=None):
        """Observation of an event-type selection and/or a tighter zenith cut.

        The events are cut accordingly; the livetime cube (when ``zmax`` does not change) and
        the loaded IRFs are shared with this observation.

        Parameters
        ----------
        evtype : int, str or list, optional
            Event types (bit mask or names, e.g. ``"PSF3"``, ``["FRONT"]``, ``12``). A PSF or
            EDISP partition can be cut out of FRONT+BACK data (every event has one bit of each
            partition), but not FRONT out of PSF3-only data.
        zmax : `~astropy.units.Quantity`, optional
            Zenith-angle cut, at most the events' own.

        Returns
        -------
        observation : `LATObservation`

        Raises
        ------
        SelectionError
            Event types not in the data, or a zenith cut wider than the events'.
        """
        changes, cuts = {}, {}
        if evtype is not None:
            mask = evtype_mask(evtype)
            data_mask = int(self.evtype)
            full = any((data_mask & part) == part for part in _PARTITION_MASKS)
            if not full and (mask & ~data_mask):
                raise SelectionError(
                    f"Event types {mask} requested, but the events of observation {self.obs_id} "
                    f"were selected with EVENT_TYPE mask {data_mask} (DSS keywords of "
                    f"{self.lat_events.source})"
                )
            if mask != data_mask:
                cuts["evtype"] = mask
                changes["evtype"] = mask
        if zmax is not None:
            zmax = self._check_zmax(zmax)
            zrange = self.lat_events.dss.zenith_range
            if zrange is None or zmax.to_value("deg") < zrange[1]:
                cuts["zmax"] = zmax
            if zmax != self.zmax:
                changes["zmax"] = zmax
        if not changes:
            return self
        if cuts:
            changes["events"] = self.lat_events.select(allow_empty=True, **cuts)
        return self._derive(**changes)

    # ------------------------------------------------------------------- responses
    @property
    def ltcube(self):
        """Livetime cube of the observation (`~gammapy_lat.livetime.LivetimeCube`).

        The given cube (read once from a file), or one computed once from the spacecraft rows
        and the GTIs with the zenith cut `zmax` and `ltcube_kwargs`.

        Raises
        ------
        LATDataError
            No spacecraft data and no cube given, or a given cube that does not span the
            observation's time range.
        """
        if self._ltcube is not None:
            key = ("given", id(self._ltcube))
            if key not in self._cache.ltcubes:
                cube = self._ltcube
                if isinstance(cube, (str, Path)):
                    cube = LivetimeCube.read(cube)
                self._check_ltcube_time(cube)
                self._cache.ltcubes[key] = cube
            return self._cache.ltcubes[key]
        kwargs = {"nside": 64, "nbins": 40}
        kwargs.update(self.ltcube_kwargs)
        kwargs.setdefault("zmax", self.zmax)
        if "roi" not in kwargs:
            kwargs["roi"] = self._ltcube_roi(kwargs.get("frame", "icrs"))
        key = ("computed", _freeze(kwargs))
        if key not in self._cache.ltcubes:
            if self.spacecraft is None:
                raise LATDataError(
                    f"Observation {self.obs_id}: exposure needs the spacecraft (FT2) data or a "
                    f"livetime cube (ltcube=)"
                )
            self._cache.ltcubes[key] = LivetimeCube.compute(self.spacecraft, self.gti, **kwargs)
        return self._cache.ltcubes[key]

    def _ltcube_roi(self, frame):
        """The acceptance cone plus 1 deg (``(lon, lat, radius)`` in ``frame``), or None."""
        cone = self.lat_events.dss.cone
        if cone is None or cone[2] + 1.0 >= 180.0:
            return None
        center = SkyCoord(cone[0], cone[1], unit="deg", frame="icrs").transform_to(frame)
        return (float(center.spherical.lon.deg), float(center.spherical.lat.deg), float(cone[2]) + 1.0)

    def _check_ltcube_time(self, ltcube, tolerance=60.0):
        """A given livetime cube must span the observation's time range (within ``tolerance`` s).

        A longer cube would silently scale the exposure up; a shorter one down.
        """
        if ltcube.tstart is None or ltcube.tstop is None:
            log.warning("Livetime cube has no TSTART/TSTOP: cannot check it against observation %s", self.obs_id)
            return
        start, stop = float(ltcube.tstart), float(ltcube.tstop)
        if abs(start - self.met_start) > tolerance or abs(stop - self.met_stop) > tolerance:
            raise LATDataError(
                f"Livetime cube spans MET {start:.1f}-{stop:.1f}, but observation "
                f"{self.obs_id} spans {self.met_start:.1f}-{self.met_stop:.1f}: "
                f"the exposure would not match the events (compute the cube per observation instead)"
            )

    def get_irfs(self, psf=True, edisp=True):
        """CALDB IRFs of the observation's IRF name and event types (loaded once).

        Parameters
        ----------
        psf, edisp : bool
            Whether the PSF and the energy dispersion are needed.

        Returns
        -------
        irfs : `~gammapy_lat.irf.LATIRFs`
        """
        if self.irf_name is None:
            raise LATDataError(f"No IRF name for observation {self.obs_id}: give irf_name=")
        base = (str(self.irf_name).upper(), int(self.evtype), id(self.caldb) if self.caldb is not None else None)
        for (key, has_psf, has_edisp), irfs in self._cache.irfs.items():
            if key == base and (has_psf or not psf) and (has_edisp or not edisp):
                return irfs
        irfs = LATIRFs.from_caldb(self.irf_name, self.evtype, caldb=self.caldb, psf=psf, edisp=edisp)
        self._cache.irfs[(base, psf, edisp)] = irfs
        return irfs

    @property
    def irfs(self):
        """`get_irfs` with the PSF and the energy dispersion."""
        return self.get_irfs()

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
        params = self._parameters()
        params.update(events=events, spacecraft=spacecraft)
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
            f"\tzmax              : {self.zmax.to_value('deg'):g} deg\n"
        )
