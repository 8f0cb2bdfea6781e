"""Closed-loop validation: simulate a known sky, reduce with the LAT makers, fit, compare.

`closed_loop` draws independent realisations of a power-law point source on an isotropic
background along one simulated spacecraft history, reduces them with
`~gammapy_lat.makers.LATMapDatasetMaker` (exposure, PSF and dispersion maps are made once: they
do not depend on the realisation; the counts are binned for each), fits the amplitude and index
of the source (and the isotropic normalisation; optionally its position, and the normalisation of
a smooth Galactic ridge added to the sky) and returns the fitted values, errors and pulls
``(fit - true) / error``. Unbiased simulation and reduction give pulls of mean 0 and standard
deviation 1.
"""
import logging
import time

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.table import Table
from gammapy.datasets import Datasets
from gammapy.maps import MapAxis, WcsGeom
from gammapy.modeling import Fit
from gammapy.modeling.models import (
    ConstantSpatialModel,
    GaussianSpatialModel,
    Models,
    PointSpatialModel,
    PowerLawSpectralModel,
    SkyModel,
)
from regions import CircleSkyRegion

from ..data import SpacecraftData
from ..irf import CALDB, LATIRFs
from ..makers import LATComponent, LATComponentsMaker, create_lat_map_dataset
from ..observations import LATObservation
from .events import EventSimulator
from .spacecraft import simulate_spacecraft

__all__ = ["closed_loop", "pull_summary"]

log = logging.getLogger(__name__)


def _models(position, amplitude, index, iso_amplitude, frame="icrs", ridge_amplitude=None):
    pos = position.transform_to(frame)
    source = SkyModel(
        PowerLawSpectralModel(index=index, amplitude=amplitude, reference="1 GeV"),
        PointSpatialModel(lon_0=pos.spherical.lon, lat_0=pos.spherical.lat, frame=frame),
        name="source",
    )
    iso = SkyModel(
        PowerLawSpectralModel(index=2.1, amplitude=iso_amplitude, reference="1 GeV"),
        ConstantSpatialModel(value="1 sr-1"),
        name="isotropic",
    )
    models = [source, iso]
    if ridge_amplitude is not None:
        # the smooth Galactic ridge of the default simulation: 60 deg along the plane, 3.2 deg across
        models.append(
            SkyModel(
                PowerLawSpectralModel(index=2.6, amplitude=ridge_amplitude, reference="1 GeV"),
                GaussianSpatialModel(lon_0="0 deg", lat_0="0 deg", sigma="60 deg", e=0.9986, phi="90 deg",
                                     frame="galactic"),
                name="galactic_ridge",
            )
        )
    return Models(models)


#: Default position of the simulated source (the Crab).
CRAB_POSITION = SkyCoord(83.63, 22.01, unit="deg")


def closed_loop(
    n_realisations=20,
    irf_name="P8R3_SOURCE_V2",
    caldb=None,
    evtype=3,
    duration=2 * u.d,
    position=CRAB_POSITION,
    amplitude="3e-10 cm-2 s-1 MeV-1",
    index=2.2,
    iso_amplitude="1.2e-9 cm-2 s-1 MeV-1",
    energy_range=(300 * u.MeV, 30 * u.GeV),
    map_width=6 * u.deg,
    binsz=0.2 * u.deg,
    fit_radius=2.5 * u.deg,
    seed=0,
    frame="icrs",
    fit_position=False,
    ridge_amplitude=None,
):
    """Fit independent simulated realisations of a point source and return the pulls.

    Parameters
    ----------
    n_realisations : int
        Number of realisations.
    irf_name, caldb, evtype
        Response (CALDB root, default ``$CALDB``).
    duration : `~astropy.units.Quantity`
        Simulated time span (one spacecraft history for all realisations).
    position : `~astropy.coordinates.SkyCoord`
        Source position.
    amplitude, index
        Injected power law (reference 1 GeV).
    iso_amplitude
        Injected isotropic intensity at 1 GeV (per sr).
    energy_range : tuple of `~astropy.units.Quantity`
        Reconstructed-energy range of the analysis.
    map_width, binsz : `~astropy.units.Quantity`
        Counts map size and pixel size.
    fit_radius : `~astropy.units.Quantity`
        Radius of the fitted region (``mask_fit``) around the source.
    seed : int
        Seed of the first realisation (then ``seed + i``).
    frame : {"icrs", "galactic"}
        Frame of the counts map and of the source position parameters.
    fit_position : bool
        Also fit the source position (``lon_0``, ``lat_0`` in ``frame``).
    ridge_amplitude : str or `~astropy.units.Quantity`, optional
        Add the smooth Galactic ridge of the default simulation (a Gaussian 60 deg long and
        3.2 deg wide along the plane, index 2.6) with this amplitude at 1 GeV; its normalisation
        is fitted.

    Returns
    -------
    table : `~astropy.table.Table`
        One row per realisation: fitted ``amplitude``, ``index``, ``iso_norm`` with errors,
        ``pull_amplitude``, ``pull_index``, ``n_events``, ``success`` (with ``fit_position``
        also ``lon``, ``lat`` with errors and ``pull_lon``, ``pull_lat``); ``meta`` holds the truth.
    """


    t0 = time.perf_counter()
    caldb = CALDB(caldb)
    irfs = LATIRFs.from_caldb(irf_name, evtype, caldb=caldb)
    tstart = 239557417.0
    spacecraft = simulate_spacecraft(tstart, tstart + u.Quantity(duration, "s").value)
    truth = _models(position, amplitude, index, iso_amplitude, frame=frame, ridge_amplitude=ridge_amplitude)
    emin, emax = (u.Quantity(e, "MeV") for e in energy_range)
    roi_radius = 0.75 * u.Quantity(map_width, "deg") + 0.5 * u.deg
    simulator = EventSimulator(
        spacecraft, irfs, energy_range=(emin, emax), roi=(position, roi_radius), roi_margin=3 * u.deg,
        healpix_nside=128, random_state=seed,
    )
    nbin = max(int(round(4 * np.log10(emax / emin))), 1)
    energy_axis = MapAxis.from_energy_bounds(emin, emax, nbin=nbin, name="energy")
    # fine true-energy bins: the exposure is taken at the bin centres
    nbin_true = int(np.ceil(8 * np.log10(2.25 * emax / emin)))
    energy_axis_true = MapAxis.from_energy_bounds(emin / 1.5, emax * 1.5, nbin=nbin_true, name="energy_true")
    geom = WcsGeom.create(skydir=position.transform_to(frame), frame=frame, binsz=binsz, width=map_width,
                          axes=[energy_axis])
    reference = create_lat_map_dataset(geom, energy_axis_true=energy_axis_true, name="loop")
    # one dataset of the simulated event types, no safe mask (the fit mask selects the region)
    components = [LATComponent(name=None, evtype=evtype, safe_mask_methods=[])]
    maker = LATComponentsMaker(components)
    counts_maker = LATComponentsMaker(components, selection=["counts"])
    mask_fit = geom.region_mask([CircleSkyRegion(position, u.Quantity(fit_radius, "deg"))])
    setup_time = time.perf_counter() - t0

    rows = []
    datasets = None
    true_amp = truth["source"].spectral_model.amplitude.value
    true_lon = truth["source"].spatial_model.lon_0.value
    true_lat = truth["source"].spatial_model.lat_0.value
    for i in range(n_realisations):
        events = simulator.simulate(truth, random_state=seed + i)
        observation = LATObservation(
            events, _spacecraft_data(spacecraft), obs_id=i, irf_name=irf_name, caldb=caldb,
            ltcube_kwargs={"nside": 64, "nbins": 40},
        )
        if datasets is None:
            (dataset,) = maker.run(reference, observation)
            dataset.mask_fit = mask_fit
            datasets = Datasets([dataset])
            models = truth.copy()
            spatial = models["source"].spatial_model
            spatial.lon_0.frozen = spatial.lat_0.frozen = not fit_position
            if fit_position:
                spatial.lon_0.value = true_lon + 0.05 / np.cos(np.radians(true_lat))
                spatial.lat_0.value = true_lat - 0.05
            models["isotropic"].spectral_model.index.frozen = True
            models["source"].spectral_model.amplitude.value = true_amp * 0.8
            models["source"].spectral_model.index.value = index + 0.15
            if "galactic_ridge" in models.names:
                ridge = models["galactic_ridge"]
                for par in ridge.parameters:
                    par.frozen = par.name != "amplitude"
                ridge.spectral_model.amplitude.value *= 1.2
            datasets.models = models
            start = [(par, par.value) for par in datasets.models.parameters]
        else:
            # same response maps and model evaluators (PSF kernels): only the counts change
            (counts,) = counts_maker.run(reference, observation)
            dataset.counts.data = counts.counts.data
            for par, value in start:
                par.value = value
                par.error = 0
        result = Fit().run(datasets)
        spec = datasets.models["source"].spectral_model
        iso = datasets.models["isotropic"].spectral_model
        spatial = datasets.models["source"].spatial_model
        rows.append(
            (
                i,
                len(events),
                float(dataset.counts.data[dataset.mask].sum()),
                spec.amplitude.value,
                spec.amplitude.error,
                spec.index.value,
                spec.index.error,
                iso.amplitude.value,
                iso.amplitude.error,
                spatial.lon_0.value,
                spatial.lon_0.error,
                spatial.lat_0.value,
                spatial.lat_0.error,
                bool(result.success),
            )
        )
        log.info("realisation %d: amplitude %.3g ± %.2g, index %.3f ± %.3f", i, rows[-1][3], rows[-1][4], rows[-1][5], rows[-1][6])
    table = Table(
        rows=rows,
        names=["realisation", "n_events", "n_fitted", "amplitude", "amplitude_err", "index", "index_err",
               "iso_amplitude", "iso_amplitude_err", "lon", "lon_err", "lat", "lat_err", "success"],
    )
    table["pull_amplitude"] = (table["amplitude"] - true_amp) / table["amplitude_err"]
    table["pull_index"] = (table["index"] - index) / table["index_err"]
    if fit_position:
        dlon = (table["lon"] - true_lon + 180.0) % 360.0 - 180.0
        table["pull_lon"] = dlon / table["lon_err"]
        table["pull_lat"] = (table["lat"] - true_lat) / table["lat_err"]
    else:
        table.remove_columns(["lon", "lon_err", "lat", "lat_err"])
    table.meta.update(
        {
            "irf": irf_name,
            "true_amplitude": true_amp,
            "true_index": index,
            "true_lon": true_lon,
            "true_lat": true_lat,
            "frame": frame,
            "duration_s": u.Quantity(duration, "s").value,
            "setup_time_s": setup_time,
            "total_time_s": time.perf_counter() - t0,
        }
    )
    return table


def _spacecraft_data(table):
    return SpacecraftData(table, validate=False)


def pull_summary(table):
    """Mean and standard deviation of the amplitude and index pulls (and position, if fitted)."""
    out = {}
    names = [name for name in ("amplitude", "index", "lon", "lat") if f"pull_{name}" in table.colnames]
    for name in names:
        pulls = np.asarray(table[f"pull_{name}"], float)
        out[name] = (float(np.mean(pulls)), float(np.std(pulls, ddof=1)))
    return out
