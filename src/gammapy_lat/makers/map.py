"""`LATMapDatasetMaker`: LAT observations to Gammapy map datasets."""
import logging

import numpy as np
from astropy import units as u
from astropy.table import Table
from gammapy.makers import Maker
from gammapy.maps import Map

from ..data import bin_events
from ..datasets import LATMapDataset
from ..errors import LATDataError
from ..irf import (
    RAD_AXIS_DEFAULT,
    make_edisp_kernel_map,
    make_exposure_map,
    make_psf_map,
)
from .utils import (
    DEFAULT_EDISP_BINS,
    DEFAULT_OVERSAMPLING,
    check_geom_in_cone,
    make_energy_axis_true,
)

__all__ = ["LATMapDatasetMaker", "create_lat_map_dataset"]

log = logging.getLogger(__name__)


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


class LATMapDatasetMaker(Maker):
    """Make the maps of a LAT `~gammapy.datasets.MapDataset` from a
    `~gammapy_lat.observations.LATObservation`.

    The LAT counterpart of `~gammapy.makers.MapDatasetMaker`: counts are binned from the events;
    exposure (true energy), PSF (`~gammapy.irf.PSFMap`) and energy dispersion
    (`~gammapy.irf.EDispKernelMap`) are computed from the observation's livetime cube and CALDB
    IRFs, as gtexpcube2, gtpsf and gtdrm do. The maker keeps no state: the IRF name, event
    types, zenith cut, livetime cube and IRFs come from the observation, which computes or loads
    them once.

    Parameters
    ----------
    selection : list of str, optional
        Maps to make: 'counts', 'exposure', 'psf', 'edisp'. Default is all of them; leave out
        'edisp' to analyse without energy dispersion.
    irf_name, evtype, caldb, zmax, ltcube, ltcube_kwargs : optional
        Settings that override the observation's for this maker (see
        `~gammapy_lat.observations.LATObservation`): e.g. ``evtype="PSF3"`` makes the dataset of
        that event type (its events are selected and its IRFs used), ``zmax`` a tighter zenith
        cut. Each run applies them with `~gammapy_lat.observations.LATObservation.select` and
        `~gammapy_lat.observations.LATObservation.copy`, so that the livetime cube and IRFs
        stay shared with the observation.
    exposure_interp : {"nearest", "bilinear"}, optional
        Livetime look-up of the exposure map: "nearest" as gtexpcube2 (default), or bilinear.
    check_selection : bool, optional
        Check the geometry against the acceptance cone of the events. Default is True.

    Examples
    --------
    >>> from gammapy_lat.observations import LATObservation
    >>> from gammapy_lat.makers import LATMapDatasetMaker, create_lat_map_dataset
    >>> from gammapy.maps import MapAxis, WcsGeom
    >>> obs = LATObservation.read("ft1.fits", "ft2.fits", irf_name="P8R2_SOURCE_V6")  # doctest: +SKIP
    >>> axis = MapAxis.from_energy_bounds("200 MeV", "20 GeV", 20, name="energy")
    >>> geom = WcsGeom.create(skydir=(184.56, -5.78), frame="galactic", binsz=0.2, width=20, axes=[axis])
    >>> empty = create_lat_map_dataset(geom, name="crab")
    >>> dataset = LATMapDatasetMaker().run(empty, obs)  # doctest: +SKIP
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
        self.ltcube_kwargs = None if ltcube_kwargs is None else dict(ltcube_kwargs)
        self.exposure_interp = exposure_interp
        self.check_selection = check_selection

    # ---------------------------------------------------------------- observation
    def observation_for(self, observation):
        """The observation with this maker's settings applied (the one the maps are made from).

        Parameters
        ----------
        observation : `~gammapy_lat.observations.LATObservation`
            Observation.

        Returns
        -------
        observation : `~gammapy_lat.observations.LATObservation`
            ``observation`` itself when the maker overrides nothing.

        Raises
        ------
        SelectionError
            IRF name, event types or zenith cut inconsistent with the event selection.
        """
        changes = {
            key: value
            for key, value in (
                ("irf_name", self.irf_name),
                ("caldb", self.caldb),
                ("ltcube", self.ltcube),
                ("ltcube_kwargs", self.ltcube_kwargs),
            )
            if value is not None
        }
        if changes:
            observation = observation.copy(**changes)
        return observation.select(evtype=self.evtype, zmax=self.zmax)

    # --------------------------------------------------------------------- maps
    def make_counts(self, geom, observation):
        """Counts map of the observation's events (gtbin).

        Parameters
        ----------
        geom : `~gammapy.maps.Geom`
            Counts geometry (reconstructed energy).
        observation : `~gammapy_lat.observations.LATObservation`
            Observation (with the maker's settings applied, see `observation_for`).

        Returns
        -------
        counts : `~gammapy.maps.Map`
        """
        counts = bin_events(observation.lat_events, geom)
        return Map.from_geom(geom, data=counts.data.astype(np.float32), unit="")

    def _irfs(self, observation):
        # One CALDB load per observation with every component the selection needs, shared by
        # the exposure, PSF and energy-dispersion maps.
        return observation.get_irfs(psf="psf" in self.selection, edisp="edisp" in self.selection)

    def make_exposure(self, geom, observation):
        """Exposure map in true energy (gtexpcube2), summed over the observation's event types."""
        exposure = make_exposure_map(observation.ltcube, self._irfs(observation), geom, interp=self.exposure_interp)
        if observation.spacecraft is not None:
            exposure.meta["livetime"] = observation.observation_live_time_duration
        return exposure

    def make_psf(self, geom, observation):
        """PSF map (gtpsf) for the PSF geometry of the reference dataset."""
        return make_psf_map(observation.ltcube, self._irfs(observation), geom)

    def make_edisp_kernel(self, geom, observation):
        """Energy-dispersion kernel map (gtdrm) for the geometry of the reference dataset."""
        return make_edisp_kernel_map(observation.ltcube, self._irfs(observation), geom)

    @staticmethod
    def make_meta_table(observation):
        """One-row table with the observation and response identification."""
        row = {
            "TELESCOP": "GLAST",
            "INSTRUME": "LAT",
            "OBS_ID": -1 if observation.obs_id is None else observation.obs_id,
            "TSTART": observation.met_start,
            "TSTOP": observation.met_stop,
            "IRF": str(observation.irf_name),
            "EVTYPE": int(observation.evtype),
        }
        table = Table([row])
        table["TSTART"].unit = table["TSTOP"].unit = "s"
        return table

    @staticmethod
    def check_geom(geom, observation):
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
        observation : `~gammapy_lat.observations.LATObservation`
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
        observation = self.observation_for(observation)
        geom = dataset.counts.geom
        if self.check_selection:
            self.check_geom(geom, observation)
        if observation.irf_name is None and self.selection & {"exposure", "psf", "edisp"}:
            raise LATDataError(
                f"No IRF name for observation {observation.obs_id}: give irf_name= to the "
                f"observation or the maker"
            )

        kwargs = {"gti": observation.gti, "meta_table": self.make_meta_table(observation)}
        kwargs["mask_safe"] = Map.from_geom(geom, data=np.ones(geom.data_shape, dtype=bool), dtype=bool)

        if "counts" in self.selection:
            kwargs["counts"] = self.make_counts(geom, observation)
        else:
            kwargs["counts"] = Map.from_geom(geom, data=0)
        if "exposure" in self.selection:
            kwargs["exposure"] = exposure = self.make_exposure(dataset.exposure.geom, observation)
            if not np.any(exposure.data > 0):
                raise LATDataError(
                    f"No exposure in the dataset geometry for observation {observation.obs_id} "
                    f"(centre {geom.center_skydir.to_string('decimal')}): the livetime cube "
                    f"({observation.ltcube}) has no livetime there"
                )
        if "psf" in self.selection:
            if dataset.psf is None:
                raise LATDataError("The reference dataset has no PSF map geometry (create it with a rad axis)")
            kwargs["psf"] = self.make_psf(dataset.psf.psf_map.geom, observation)
        if "edisp" in self.selection:
            if dataset.edisp is None or not hasattr(dataset.edisp, "edisp_map"):
                raise LATDataError("The reference dataset has no energy-dispersion map geometry")
            edisp_geom = dataset.edisp.edisp_map.geom
            if "migra" in edisp_geom.axes.names:
                raise LATDataError(
                    "LAT energy dispersion is made as an EDispKernelMap: create the dataset with "
                    "reco_psf=False and an energy axis"
                )
            kwargs["edisp"] = self.make_edisp_kernel(edisp_geom, observation)

        return dataset.__class__(name=dataset.name, **kwargs)
