"""`LATMapDatasetMaker`: LAT observations to Gammapy map datasets."""
import logging
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.table import Table
from gammapy.makers import Maker
from gammapy.maps import Map

from ..datasets import LATMapDataset
from ..errors import LATDataError, SelectionError
from .utils import DEFAULT_EDISP_BINS, DEFAULT_OVERSAMPLING, check_geom_in_cone, make_energy_axis_true

__all__ = ["LATMapDatasetMaker", "create_lat_map_dataset"]

log = logging.getLogger(__name__)

#: Event-type partitions of Pass 8: every event carries exactly one bit of each.
_PARTITIONS = (3, 60, 960)


def create_lat_map_dataset(
    geom,
    energy_axis_true=None,
    binsz_irf=None,
    rad_axis=None,
    name=None,
    edisp_bins=DEFAULT_EDISP_BINS,
    oversampling=DEFAULT_OVERSAMPLING,
    **kwargs,
):
    """Empty reference `~gammapy_lat.datasets.LATMapDataset` for LAT data.

    Like `~gammapy.datasets.MapDataset.create`, with defaults suited to the LAT: the true-energy
    axis of `~gammapy_lat.makers.make_energy_axis_true`, the PSF separation axis of
    `gammapy_lat.irf.RAD_AXIS_DEFAULT` (0-30 deg) and coarse IRF maps (2 deg pixels; PSF and
    energy dispersion vary slowly over the sky).

    Parameters
    ----------
    geom : `~gammapy.maps.WcsGeom` or `~gammapy.maps.HpxGeom`
        Counts geometry with a reconstructed ``energy`` axis (any WCS projection or HEALPix).
    energy_axis_true : `~gammapy.maps.MapAxis`, optional
        True-energy axis (default: `make_energy_axis_true` of the ``energy`` axis).
    binsz_irf : `~astropy.units.Quantity` or float, optional
        Pixel size of the PSF and energy-dispersion maps. Default is 2 deg.
    rad_axis : `~gammapy.maps.MapAxis`, optional
        PSF separation axis.
    name : str, optional
        Dataset name.
    edisp_bins, oversampling : int, optional
        Passed to `make_energy_axis_true` when ``energy_axis_true`` is not given.
    **kwargs : dict
        Passed to `~gammapy.datasets.MapDataset.create`.

    Returns
    -------
    dataset : `~gammapy_lat.datasets.LATMapDataset`
        A `~gammapy.datasets.MapDataset` with the LAT likelihood; `LATMapDatasetMaker` returns
        the same class.
    """
    from ..irf import RAD_AXIS_DEFAULT

    if "energy" not in geom.axes.names:
        raise ValueError("The dataset geometry needs a reconstructed 'energy' axis")
    if energy_axis_true is None:
        energy_axis_true = make_energy_axis_true(
            geom.axes["energy"], edisp_bins=edisp_bins, oversampling=oversampling
        )
    binsz_irf = u.Quantity(2.0 if binsz_irf is None else binsz_irf, "deg")
    dataset = LATMapDataset.create(
        geom,
        energy_axis_true=energy_axis_true,
        binsz_irf=binsz_irf,
        rad_axis=rad_axis if rad_axis is not None else RAD_AXIS_DEFAULT,
        name=name,
        **kwargs,
    )
    # LAT exposures are in cm2 s: keep that unit when datasets are stacked into this one.
    maps = [dataset.exposure]
    for irf in (dataset.psf, dataset.edisp):
        if irf is not None and getattr(irf, "exposure_map", None) is not None:
            maps.append(irf.exposure_map)
    for m in maps:
        m.quantity = m.quantity.to("cm2 s")
    return dataset


def _irf_class_and_pass(irf_name):
    """``("SOURCE", "P8R2")`` from ``"P8R2_SOURCE_V6"`` (None where it cannot be told)."""
    parts = str(irf_name).upper().split("_")
    pass_ver = parts[0] if parts and parts[0].startswith("P8") else None
    evclass = parts[1] if len(parts) >= 3 else None
    return evclass, pass_ver


class LATMapDatasetMaker(Maker):
    """Make the maps of a LAT `~gammapy.datasets.MapDataset` from a `~gammapy_lat.data.LATObservation`.

    The LAT counterpart of `~gammapy.makers.MapDatasetMaker`: counts are binned from the events;
    exposure (true energy), PSF (`~gammapy.irf.PSFMap`) and energy dispersion
    (`~gammapy.irf.EDispKernelMap`) are computed from the livetime cube of the observation and the
    CALDB IRFs, as gtexpcube2, gtpsf and gtdrm do. The livetime cube is computed (or read) once per
    observation and reused for all maps.

    Parameters
    ----------
    selection : list of str, optional
        Maps to make: 'counts', 'exposure', 'psf', 'edisp'. Default is all of them; leave out
        'edisp' to analyse without energy dispersion.
    irf_name : str, optional
        IRF name, e.g. ``"P8R2_SOURCE_V6"`` (default: the observation's).
    evtype : int, str or list, optional
        Event-type selection of this dataset (bit mask such as 3, 1 (FRONT), 32 (PSF3), or names);
        the events are selected accordingly and the IRFs of these types are summed. Default: the
        observation's event types.
    caldb : `~gammapy_lat.irf.CALDB`, str or `~pathlib.Path`, optional
        CALDB (default ``$CALDB``).
    zmax : `~astropy.units.Quantity`, optional
        Maximum zenith angle for this dataset: events with a larger zenith angle are dropped and
        the livetime cube uses the same cut. Default: the zenith cut of the event selection.
    ltcube : `~gammapy_lat.livetime.LivetimeCube`, str or `~pathlib.Path`, optional
        Livetime cube to use instead of computing one (e.g. a gtltcube product). It must cover the
        observation's time range; only meaningful when the maker runs on one observation.
    ltcube_kwargs : dict, optional
        Options of `~gammapy_lat.livetime.LivetimeCube.compute` (``nside``, ``nbins``,
        ``binning``...). Defaults: ``nside=64``, ``nbins=40`` and a cube computed only around the
        dataset geometry.
    exposure_interp : {"nearest", "bilinear"}, optional
        Livetime look-up of the exposure map: "nearest" as gtexpcube2 (default), or bilinear.
    check_selection : bool, optional
        Check the IRFs and geometry against the event selection (DSS keywords). Default is True.

    Examples
    --------
    >>> from gammapy_lat.data import LATObservation
    >>> from gammapy_lat.makers import LATMapDatasetMaker, create_lat_map_dataset
    >>> from gammapy.maps import MapAxis, WcsGeom
    >>> obs = LATObservation.read("ft1.fits", "ft2.fits")  # doctest: +SKIP
    >>> axis = MapAxis.from_energy_bounds("200 MeV", "20 GeV", 20, name="energy")
    >>> geom = WcsGeom.create(skydir=(184.56, -5.78), frame="galactic", binsz=0.2, width=20, axes=[axis])
    >>> empty = create_lat_map_dataset(geom, name="crab")
    >>> dataset = LATMapDatasetMaker(irf_name="P8R2_SOURCE_V6").run(empty, obs)  # doctest: +SKIP
    """

    tag = "LATMapDatasetMaker"
    available_selection = ["counts", "exposure", "psf", "edisp"]

    def __init__(
        self,
        selection=None,
        irf_name=None,
        evtype=None,
        caldb=None,
        zmax=None,
        ltcube=None,
        ltcube_kwargs=None,
        exposure_interp="nearest",
        check_selection=True,
    ):
        if selection is None:
            selection = self.available_selection
        selection = set(selection)
        if not selection.issubset(self.available_selection):
            raise ValueError(f"{selection - set(self.available_selection)} is not a valid selection")
        self.selection = selection
        self.irf_name = irf_name
        self.evtype = evtype
        self.caldb = caldb
        self.zmax = None if zmax is None else u.Quantity(zmax, "deg")
        self.ltcube = ltcube
        self.ltcube_kwargs = dict(ltcube_kwargs or {})
        self.exposure_interp = exposure_interp
        self.check_selection = check_selection
        self._irfs_cache = {}
        self._ltcube_cache = (None, None)

    def __getstate__(self):
        # Caches are not sent to worker processes.
        state = self.__dict__.copy()
        state["_ltcube_cache"] = (None, None)
        return state

    # ---------------------------------------------------------------- selection
    def get_evtype(self, observation):
        """Event-type bit mask of the dataset, checked against the event selection.

        Raises
        ------
        SelectionError
            If the requested event types are not all in the event file: a PSF or EDISP
            partition can be cut out of FRONT+BACK data (every event has one bit of each
            partition), but not FRONT out of PSF3-only data.
        """
        from ..data import evtype_mask

        data_mask = int(observation.evtype)
        if self.evtype is None:
            return data_mask
        mask = evtype_mask(self.evtype)
        full = any((data_mask & part) == part for part in _PARTITIONS)
        if not full and (mask & ~data_mask):
            raise SelectionError(
                f"Event types {mask} requested, but the events of observation {observation.obs_id} "
                f"were selected with EVENT_TYPE mask {data_mask} (DSS keywords of "
                f"{observation.lat_events.source})"
            )
        return mask

    def get_irf_name(self, observation):
        """IRF name, checked against the event class and pass of the events."""
        irf_name = self.irf_name or observation.irf_name
        if irf_name is None:
            raise LATDataError(
                f"No IRF name for observation {observation.obs_id}: pass irf_name= to the maker"
            )
        if not self.check_selection:
            return irf_name
        dss = observation.lat_events.dss
        recorded = None
        for cut in dss:
            if cut.type.upper() == "IRF_VERSION":
                recorded = cut.value.strip()
        source = observation.lat_events.source
        if recorded and recorded.upper() != str(irf_name).upper():
            raise SelectionError(
                f"IRF {irf_name} does not match IRF_VERSION={recorded} in the DSS keywords of {source}"
            )
        from ..data import EVENT_CLASSES

        irf_class, irf_pass = _irf_class_and_pass(irf_name)
        data_pass = observation.lat_events.pass_ver
        if irf_pass and data_pass and irf_pass != str(data_pass).upper():
            raise SelectionError(f"IRF {irf_name} is for {irf_pass}, but {source} holds {data_pass} events")
        evclass = observation.evclass
        if irf_class and evclass is not None:
            expected = EVENT_CLASSES.get(irf_class)
            if expected is not None and int(evclass) != expected:
                names = [k for k, v in EVENT_CLASSES.items() if v == int(evclass)]
                raise SelectionError(
                    f"IRF {irf_name} is for event class {irf_class} ({expected}), but the events of "
                    f"{source} were selected with event class {int(evclass)} "
                    f"({names[0] if names else 'unknown'}) (DSS BIT_MASK(EVENT_CLASS))"
                )
        return irf_name

    def get_zmax(self, observation):
        """Zenith-angle cut of the dataset (`~astropy.units.Quantity`)."""
        zrange = observation.lat_events.dss.zenith_range
        data_zmax = zrange[1] if zrange is not None else 180.0
        data_zmax = min(float(data_zmax), 180.0)
        if self.zmax is None:
            return data_zmax * u.deg
        if self.zmax.to_value("deg") > data_zmax + 1e-9:
            raise SelectionError(
                f"zmax={self.zmax} is larger than the zenith cut {data_zmax} deg of the events of "
                f"{observation.lat_events.source}"
            )
        return self.zmax

    def select_events(self, observation):
        """Events of the dataset: event-type and zenith cuts of the maker applied."""
        events = observation.lat_events
        evtype = self.get_evtype(observation)
        kwargs = {}
        if evtype != int(observation.evtype):
            kwargs["evtype"] = evtype
        if self.zmax is not None:
            zmax = self.get_zmax(observation)
            zrange = events.dss.zenith_range
            if zrange is None or zmax.to_value("deg") < zrange[1]:
                kwargs["zmax"] = zmax
        if kwargs:
            events = events.select(allow_empty=True, **kwargs)
        return events

    # --------------------------------------------------------------------- IRFs
    def get_irfs(self, observation, psf=True, edisp=True):
        """`~gammapy_lat.irf.LATIRFs` of the dataset (cached per IRF name and event types)."""
        from ..irf import LATIRFs

        irf_name = self.get_irf_name(observation)
        evtype = self.get_evtype(observation)
        key = (str(irf_name).upper(), evtype, psf, edisp)
        if key not in self._irfs_cache:
            self._irfs_cache[key] = LATIRFs.from_caldb(irf_name, evtype, caldb=self.caldb, psf=psf, edisp=edisp)
        return self._irfs_cache[key]

    def _selected_irfs(self, observation, psf=False, edisp=False):
        # One CALDB load per observation with every component the selection needs, shared by
        # the exposure, PSF and energy-dispersion maps (instead of one load for each).
        psf = psf or "psf" in self.selection
        edisp = edisp or "edisp" in self.selection
        return self.get_irfs(observation, psf=psf, edisp=edisp)

    def _ltcube_key(self, observation, geom):
        return (
            observation.obs_id,
            observation.met_start,
            observation.met_stop,
            float(self.get_zmax(observation).to_value("deg")),
            id(observation),
        )

    def get_livetime_cube(self, observation, geom):
        """Livetime cube of the observation (computed or read once, then reused).

        Parameters
        ----------
        observation : `~gammapy_lat.data.LATObservation`
            Observation.
        geom : `~gammapy.maps.Geom`
            Dataset geometry; the cube is computed only around it (plus a margin).

        Returns
        -------
        ltcube : `~gammapy_lat.livetime.LivetimeCube`
        """
        from ..livetime import LivetimeCube

        key = self._ltcube_key(observation, geom)
        cached_key, cached = self._ltcube_cache
        if cached_key == key:
            return cached

        if self.ltcube is not None:
            ltcube = self.ltcube
            if isinstance(ltcube, (str, Path)):
                ltcube = LivetimeCube.read(ltcube)
                self.ltcube = ltcube
            self._check_ltcube_time(ltcube, observation)
        else:
            if observation.spacecraft is None:
                raise LATDataError(
                    f"Observation {observation.obs_id}: exposure needs the spacecraft (FT2) data or "
                    f"a livetime cube (ltcube=)"
                )
            kwargs = {"nside": 64, "nbins": 40}
            kwargs.update(self.ltcube_kwargs)
            kwargs.setdefault("zmax", self.get_zmax(observation))
            if "roi" not in kwargs:
                kwargs["roi"] = self._roi_of(geom, kwargs.get("frame", "icrs"))
            ltcube = LivetimeCube.compute(observation.spacecraft, observation.gti, **kwargs)
        self._ltcube_cache = (key, ltcube)
        return ltcube

    @staticmethod
    def _roi_of(geom, frame):
        from .utils import geom_max_separation

        image = geom.to_image()
        center = image.center_skydir
        if image.is_hpx and image.is_allsky:
            return None
        radius = geom_max_separation(image, center).to_value("deg") + 1.0
        if radius >= 180:
            return None
        center = center.transform_to(frame)
        lon, lat = center.spherical.lon.deg, center.spherical.lat.deg
        return (float(lon), float(lat), float(radius))

    @staticmethod
    def _check_ltcube_time(ltcube, observation, tolerance=60.0):
        """A given livetime cube must span the observation's time range (within ``tolerance`` s).

        A longer cube would silently scale the exposure up; a shorter one down.
        """
        if ltcube.tstart is None or ltcube.tstop is None:
            log.warning("Livetime cube has no TSTART/TSTOP: cannot check it against observation %s", observation.obs_id)
            return
        start, stop = float(ltcube.tstart), float(ltcube.tstop)
        if abs(start - observation.met_start) > tolerance or abs(stop - observation.met_stop) > tolerance:
            raise LATDataError(
                f"Livetime cube spans MET {start:.1f}-{stop:.1f}, but observation "
                f"{observation.obs_id} spans {observation.met_start:.1f}-{observation.met_stop:.1f}: "
                f"the exposure would not match the events (compute the cube per observation instead)"
            )

    # --------------------------------------------------------------------- maps
    def make_counts(self, geom, observation):
        """Counts map of the selected events (gtbin).

        Parameters
        ----------
        geom : `~gammapy.maps.Geom`
            Counts geometry (reconstructed energy).
        observation : `~gammapy_lat.data.LATObservation`
            Observation.

        Returns
        -------
        counts : `~gammapy.maps.Map`
        """
        from ..data import bin_events

        events = self.select_events(observation)
        counts = bin_events(events, geom)
        return Map.from_geom(geom, data=counts.data.astype(np.float32), unit="")

    def make_exposure(self, geom, observation, ltcube=None):
        """Exposure map in true energy (gtexpcube2), summed over the selected event types."""
        from ..irf import make_exposure_map

        if ltcube is None:
            ltcube = self.get_livetime_cube(observation, geom)
        irfs = self._selected_irfs(observation)
        exposure = make_exposure_map(ltcube, irfs, geom, interp=self.exposure_interp)
        if observation.spacecraft is not None:
            exposure.meta["livetime"] = observation.observation_live_time_duration
        if not np.any(exposure.data > 0):
            raise LATDataError(
                f"No exposure in the dataset geometry for observation {observation.obs_id} "
                f"(centre {geom.center_skydir.to_string('decimal')}): the livetime cube "
                f"({ltcube}) has no livetime there"
            )
        return exposure

    def make_psf(self, geom, observation, ltcube=None):
        """PSF map (gtpsf) for the PSF geometry of the reference dataset."""
        from ..irf import make_psf_map

        if ltcube is None:
            ltcube = self.get_livetime_cube(observation, geom)
        irfs = self._selected_irfs(observation, psf=True)
        return make_psf_map(ltcube, irfs, geom)

    def make_edisp_kernel(self, geom, observation, ltcube=None):
        """Energy-dispersion kernel map (gtdrm) for the geometry of the reference dataset."""
        from ..irf import make_edisp_kernel_map

        if ltcube is None:
            ltcube = self.get_livetime_cube(observation, geom)
        irfs = self._selected_irfs(observation, edisp=True)
        return make_edisp_kernel_map(ltcube, irfs, geom)

    def make_meta_table(self, observation):
        """One-row table with the observation and response identification."""
        irf_name = self.irf_name or observation.irf_name
        row = {
            "TELESCOP": "GLAST",
            "INSTRUME": "LAT",
            "OBS_ID": -1 if observation.obs_id is None else observation.obs_id,
            "TSTART": observation.met_start,
            "TSTOP": observation.met_stop,
            "IRF": str(irf_name),
            "EVTYPE": int(self.get_evtype(observation)),
        }
        table = Table([row])
        table["TSTART"].unit = table["TSTOP"].unit = "s"
        return table

    def check_geom(self, geom, observation):
        """The dataset geometry must lie inside the acceptance cone of the events."""
        cone = observation.lat_events.dss.cone
        if cone is None:
            log.warning(
                "Events of %s record no acceptance cone; counts near the map edge may be missing",
                observation.lat_events.source,
            )
            return
        check_geom_in_cone(geom, cone, name=str(observation.lat_events.source))

    def run(self, dataset, observation):
        """Make the LAT map dataset.

        Parameters
        ----------
        dataset : `~gammapy.datasets.MapDataset`
            Reference dataset (e.g. from `create_lat_map_dataset`).
        observation : `~gammapy_lat.data.LATObservation`
            Observation.

        Returns
        -------
        dataset : `~gammapy.datasets.MapDataset`
            Dataset with all-True ``mask_safe`` (apply `LATSafeMaskMaker` next).

        Raises
        ------
        SelectionError
            IRFs or event types inconsistent with the event selection, geometry outside the
            acceptance cone.
        LATDataError
            No exposure in the geometry.
        """
        geom = dataset.counts.geom
        if self.check_selection:
            self.check_geom(geom, observation)
            self.get_irf_name(observation)
        self.get_evtype(observation)

        kwargs = {"gti": observation.gti, "meta_table": self.make_meta_table(observation)}
        kwargs["mask_safe"] = Map.from_geom(geom, data=np.ones(geom.data_shape, dtype=bool), dtype=bool)

        if "counts" in self.selection:
            kwargs["counts"] = self.make_counts(geom, observation)
        else:
            kwargs["counts"] = Map.from_geom(geom, data=0)

        needs_ltcube = self.selection & {"exposure", "psf", "edisp"}
        ltcube = self.get_livetime_cube(observation, geom) if needs_ltcube else None

        if "exposure" in self.selection:
            kwargs["exposure"] = self.make_exposure(dataset.exposure.geom, observation, ltcube)
        if "psf" in self.selection:
            if dataset.psf is None:
                raise LATDataError("The reference dataset has no PSF map geometry (create it with a rad axis)")
            kwargs["psf"] = self.make_psf(dataset.psf.psf_map.geom, observation, ltcube)
        if "edisp" in self.selection:
            if dataset.edisp is None or not hasattr(dataset.edisp, "edisp_map"):
                raise LATDataError("The reference dataset has no energy-dispersion map geometry")
            edisp_geom = dataset.edisp.edisp_map.geom
            if "migra" in edisp_geom.axes.names:
                raise LATDataError("LAT energy dispersion is made as an EDispKernelMap: create the dataset with reco_psf=False and an energy axis")
            kwargs["edisp"] = self.make_edisp_kernel(edisp_geom, observation, ltcube)

        return dataset.__class__(name=dataset.name, **kwargs)
