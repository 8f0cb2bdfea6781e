"""`UnbinnedLATDatasetMaker`: a LAT observation to an `~gammapy_lat.datasets.UnbinnedLATDataset`."""
import logging
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord
from astropy.table import Table
from gammapy.datasets import Datasets
from gammapy.makers import Maker

from ..datasets.unbinned import UnbinnedLATDataset, _UnbinnedReference, read_diffuse_responses
from ..errors import GammapyLATError, LATDataError, SelectionError
from ..irf.unbinned import EventGeometry
from .map import LATMapDatasetMaker

__all__ = ["UnbinnedLATDatasetMaker"]

log = logging.getLogger(__name__)


class UnbinnedLATDatasetMaker(Maker):
    """Make an `UnbinnedLATDataset` from a `~gammapy_lat.observations.LATObservation`.

    The events of the observation inside the reference cone and energy range (and of the
    selected event types and zenith cut) are kept with the spacecraft attitude at their times; the
    livetime cube is computed from the spacecraft data around the cone (or given), as gtltcube
    does.

    Parameters
    ----------
    irf_name : str, optional
        IRF name (default: the observation's).
    evtype : int, str or list, optional
        Event types of the dataset (default: the observation's).
    caldb : str or `~gammapy_lat.irf.CALDB`, optional
        CALDB (default ``$CALDB``).
    zmax : `~astropy.units.Quantity`, optional
        Zenith cut (default: that of the event selection).
    ltcube : `~gammapy_lat.livetime.LivetimeCube` or path, optional
        Livetime cube to use (it must span the observation).
    ltcube_kwargs : dict, optional
        Options of `~gammapy_lat.livetime.LivetimeCube.compute` (default ``nside=64, nbins=40``).
    apply_edisp : bool
        Energy dispersion (default False, as gtlike ``UNBINNED``).
    use_diffrsp : bool
        Use the ``DIFRSP`` columns of the events with the gtdiffrsp label of a model (default
        True).
    check_selection : bool
        Check the IRFs, event types and the cone against the event selection (DSS keywords).
    options : dict, optional
        Accuracy settings of the dataset (see `UnbinnedLATDataset`).
    expmap : `~gammapy_lat.irf.UnbinnedExposureMap` or path, optional
        gtexpmap file for the predicted counts of extended and diffuse sources (see
        `UnbinnedLATDataset`).
    """

    tag = "UnbinnedLATDatasetMaker"

    def __init__(
        self,
        irf_name=None,
        evtype=None,
        caldb=None,
        zmax=None,
        ltcube=None,
        ltcube_kwargs=None,
        apply_edisp=False,
        use_diffrsp=True,
        check_selection=True,
        options=None,
        expmap=None,
    ):
        self.irf_name = irf_name
        self.evtype = evtype
        self.caldb = caldb
        self.zmax = None if zmax is None else u.Quantity(zmax, "deg")
        self.ltcube = ltcube
        self.ltcube_kwargs = dict(ltcube_kwargs or {})
        self.apply_edisp = bool(apply_edisp)
        self.use_diffrsp = bool(use_diffrsp)
        self.check_selection = bool(check_selection)
        self.options = dict(options or {})
        self.expmap = expmap
        # the observation settings it overrides, applied as the binned maker applies them
        self._settings = LATMapDatasetMaker(
            selection=[], irf_name=irf_name, evtype=evtype, caldb=caldb, zmax=zmax, ltcube=ltcube,
            check_selection=check_selection,
        )

    def _source_radius(self, reference):
        value = self.options.get("source_radius")
        return reference.radius + 10 * u.deg if value is None else u.Quantity(value, "deg")

    def observation_for(self, observation):
        """The observation with this maker's settings applied (see
        `~gammapy_lat.makers.LATMapDatasetMaker.observation_for`)."""
        return self._settings.observation_for(observation)

    def select_events(self, reference, observation):
        """Events of the dataset: the cone, the energy range, the event types and the zenith cut.

        ``observation`` is the one of `observation_for` (event types and zenith cut applied)."""
        events = observation.lat_events
        center = reference.center.icrs
        edges = reference.energy_axis.edges.to("MeV")
        cone = events.dss.cone
        if self.check_selection and cone is not None:
            data_center = SkyCoord(cone[0], cone[1], unit="deg")
            reach = data_center.separation(center).deg + reference.radius.to_value("deg")
            if reach > cone[2] + 1e-6:
                raise SelectionError(
                    f"The dataset cone (centre {center.ra.deg:.4f}, {center.dec.deg:.4f}, radius "
                    f"{reference.radius.to_value('deg'):g} deg) extends beyond the acceptance cone "
                    f"{cone} of {events.source}"
                )
        erange = events.dss.energy_range
        if self.check_selection and erange is not None:
            if edges[0].value < erange[0] * (1 - 1e-6) or edges[-1].value > erange[1] * (1 + 1e-6):
                raise SelectionError(
                    f"The energy axis {edges[0]:.6g}-{edges[-1]:.6g} extends beyond the energy selection "
                    f"{erange[0]:g}-{erange[1]:g} MeV of {events.source}"
                )
        return events.select(
            ra=center.ra.deg,
            dec=center.dec.deg,
            rad=reference.radius.to_value("deg"),
            emin=edges[0],
            emax=edges[-1],
            allow_empty=True,
        )

    def get_livetime_cube(self, reference, observation):
        """Livetime cube of the observation covering the source region about the cone: the given
        cube, or the observation's computed over that region (once per observation)."""
        if observation._ltcube is not None:
            return observation.ltcube
        if observation.spacecraft is None:
            raise LATDataError(f"Observation {observation.obs_id}: the exposure needs the spacecraft (FT2) data")
        kwargs = {"nside": 64, "nbins": 40}
        kwargs.update(observation.ltcube_kwargs)
        kwargs.update(self.ltcube_kwargs)
        frame = kwargs.get("frame", "icrs")
        center = reference.center.transform_to(frame)
        radius = min(self._source_radius(reference).to_value("deg") + 2.0, 180.0)
        if "roi" not in kwargs:
            kwargs["roi"] = (float(center.spherical.lon.deg), float(center.spherical.lat.deg), radius) if radius < 180.0 else None
        return observation.copy(ltcube_kwargs=kwargs).ltcube

    def run(self, dataset, observation):
        """Make the dataset.

        Parameters
        ----------
        dataset : reference from `UnbinnedLATDataset.create`
            Cone, energy axis and name.
        observation : `~gammapy_lat.observations.LATObservation`
            Observation with spacecraft data.

        Returns
        -------
        dataset : `UnbinnedLATDataset`
        """
        if observation.spacecraft is None:
            raise LATDataError(
                f"Observation {observation.obs_id}: the unbinned likelihood needs the spacecraft (FT2) data "
                "(attitude at the event times)"
            )
        observation = self.observation_for(observation)
        irf_name, evtype = observation.irf_name, observation.evtype
        events = self.select_events(dataset, observation)
        irfs = observation.get_irfs(psf=True, edisp=self.apply_edisp)
        geometry = EventGeometry.from_events(events, observation.spacecraft, irfs)
        ltcube = self.get_livetime_cube(dataset, observation)
        responses = read_diffuse_responses(events) if self.use_diffrsp else {}
        meta = Table(
            [
                {
                    "TELESCOP": "GLAST",
                    "INSTRUME": "LAT",
                    "OBS_ID": -1 if observation.obs_id is None else observation.obs_id,
                    "TSTART": observation.met_start,
                    "TSTOP": observation.met_stop,
                    "IRF": str(irf_name),
                    "EVTYPE": int(evtype),
                    "LIVETIME": float(observation.observation_live_time_duration.to_value("s")),
                }
            ]
        )
        caldb = observation.caldb
        caldb = caldb if isinstance(caldb, (str, Path)) or caldb is None else getattr(caldb, "path", None)
        return UnbinnedLATDataset(
            geometry,
            irfs,
            ltcube,
            dataset.center,
            dataset.radius,
            dataset.energy_axis,
            name=dataset.name,
            gti=observation.gti,
            meta_table=meta,
            apply_edisp=self.apply_edisp,
            diffuse_responses=responses,
            irf_name=irf_name,
            caldb=None if caldb is None else str(caldb),
            options=self.options,
            expmap=self.expmap,
        )

    def run_time_intervals(self, dataset, observation, time_intervals):
        """One dataset per time interval (for `~gammapy.estimators.LightCurveEstimator`).

        Parameters
        ----------
        dataset : reference from `UnbinnedLATDataset.create`
            Cone, energy axis and name (suffixed with the interval index).
        observation : `~gammapy_lat.observations.LATObservation`
            Observation.
        time_intervals : list of (`~astropy.time.Time`, `~astropy.time.Time`) or of MET pairs
            Intervals.

        Returns
        -------
        datasets : `~gammapy.datasets.Datasets`
            Intervals without good time are skipped.
        """
        out = Datasets()
        saved = self.ltcube
        if saved is not None:
            raise GammapyLATError("run_time_intervals computes a livetime cube per interval; do not give ltcube=")
        for i, (tmin, tmax) in enumerate(time_intervals):
            obs = observation.select_time((tmin, tmax))
            if len(obs.lat_events.gti_start) == 0 or np.sum(obs.lat_events.gti_stop - obs.lat_events.gti_start) <= 0:
                log.info(f"Time interval {i} has no good time: skipped")
                continue
            ref = _UnbinnedReference(dataset.energy_axis, dataset.center, dataset.radius, f"{dataset.name}-t{i}")
            out.append(self.run(ref, obs))
        return out
