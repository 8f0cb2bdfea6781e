"""The built-in demonstration: simulate, reduce with the LAT makers, fit, SED, products.

`run_demo` simulates a few days of survey observations of a bright point source on an isotropic
background and a smooth Galactic ridge (the embedded default simulation config), reduces the
FT1/FT2 files with `~gammapy_lat.makers.LATMapDatasetMaker` into a Gammapy
`~gammapy.datasets.MapDataset`, fits the sky model starting away from the injected values,
estimates the SED of the source, writes the products and plots, and returns the injected and
fitted values side by side. Without a CALDB it runs on the built-in SYNTHETIC response.
"""
import logging
import time
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.table import Table
from gammapy.datasets import Datasets
from gammapy.maps import MapAxis, WcsGeom
from regions import CircleSkyRegion

from .. import estimators as plotting
from .. import estimators as products
from ..makers import (
    LATComponent,
    LATComponentsMaker,
    LATSafeMaskMaker,
    create_lat_map_dataset,
)
from ..modeling import LATFit
from ..observations import LATObservation
from .config import SimulationConfig, resolve_irfs
from .events import simulate_events
from .spacecraft import simulate_spacecraft, write_spacecraft

__all__ = ["run_demo", "format_comparison", "DEMO_SOURCE"]

log = logging.getLogger(__name__)

DEMO_SOURCE = "bright_source"
#: Lowest energy of the likelihood (the second bin edge of 4 bins per decade from 100 MeV).
ANALYSIS_EMIN = 177 * u.MeV
#: Radius of the fitted region around the source.
FIT_RADIUS = 4 * u.deg

# fitted parameters: (model, parameter) -> initial value for the fit (away from the truth)
_FREE = {
    (DEMO_SOURCE, "amplitude"): 0.5,  # factor on the injected value
    (DEMO_SOURCE, "index"): 2.0,
    (DEMO_SOURCE, "lon_0"): None,  # start at the injected position + 0.2 deg
    (DEMO_SOURCE, "lat_0"): None,
    ("galactic_ridge", "amplitude"): 1.5,
    ("isotropic", "amplitude"): 0.7,
}


def _fit_models(injected):
    """Copy of the injected models with the demo's free parameters moved away from the truth."""
    models = injected.copy()
    for model in models:
        for par in model.parameters:
            par.frozen = True
    for (name, pname), start in _FREE.items():
        par = models[name].parameters[pname]
        par.frozen = False
        if pname == "amplitude":
            par.value = par.value * start
        elif pname == "index":
            par.value = start
        else:
            par.value = par.value + 0.2
    models[DEMO_SOURCE].spatial_model.lon_0.min = models[DEMO_SOURCE].spatial_model.lon_0.value - 2
    models[DEMO_SOURCE].spatial_model.lon_0.max = models[DEMO_SOURCE].spatial_model.lon_0.value + 2
    models[DEMO_SOURCE].spatial_model.lat_0.min = models[DEMO_SOURCE].spatial_model.lat_0.value - 2
    models[DEMO_SOURCE].spatial_model.lat_0.max = models[DEMO_SOURCE].spatial_model.lat_0.value + 2
    return models


def comparison_table(injected, fitted):
    """Injected and fitted values (with errors and pulls) of the free parameters."""
    rows = []
    for (name, pname) in _FREE:
        true = injected[name].parameters[pname]
        fit = fitted[name].parameters[pname]
        error = fit.error if fit.error and np.isfinite(fit.error) else np.nan
        pull = (fit.value - true.value) / error if error and np.isfinite(error) and error > 0 else np.nan
        rows.append((name, pname, true.value, fit.value, error, pull, str(true.unit)))
    return Table(rows=rows, names=["model", "parameter", "injected", "fitted", "error", "pull", "unit"])


def format_comparison(table):
    """Text of the injected-vs-fitted table."""
    lines = [f"{'parameter':<28} {'injected':>12} {'fitted':>12} {'± error':>11} {'pull':>6}  unit"]
    for row in table:
        label = f"{row['model']}.{row['parameter']}"
        lines.append(
            f"{label:<28} {row['injected']:>12.5g} {row['fitted']:>12.5g} {row['error']:>11.3g} "
            f"{row['pull']:>6.2f}  {row['unit']}"
        )
    return "\n".join(lines)


def run_demo(outdir="gammapy-lat-demo", caldb=None, synthetic=False, duration="3 d", seed=0, plots=True,
             overwrite=True):
    """Run the demonstration.

    Parameters
    ----------
    outdir : str or `~pathlib.Path`
        Output folder.
    caldb : str, optional
        CALDB root (default ``$CALDB``; without one the SYNTHETIC response is used).
    synthetic : bool
        Use the built-in synthetic response even if a CALDB is configured.
    duration : str
        Simulated time span.
    seed : int
        Random seed.
    plots : bool
        Write PNG plots.
    overwrite : bool
        Replace existing products.

    Returns
    -------
    result : dict
        ``comparison`` (`~astropy.table.Table`), ``dataset``, ``models`` (fitted), ``injected``,
        ``flux_points``, ``irf_name``, ``synthetic``, ``files``, ``timing``.
    """


    timing = {}
    t0 = time.perf_counter()
    outdir = Path(outdir)
    (outdir / "data").mkdir(parents=True, exist_ok=True)
    config = SimulationConfig.default()
    config.seed = seed
    config.time.duration = duration

    # --- simulate ---------------------------------------------------------------------------
    irfs, is_synthetic = resolve_irfs(caldb, None, 3, synthetic)
    caldb_root = irfs[0].aeff.meta.get("filename")
    caldb_root = Path(caldb_root).parents[5] if caldb_root else None  # .../data/glast/lat/bcf/ea/file
    injected = config.get_models()
    spacecraft = simulate_spacecraft(**config.spacecraft_kwargs())
    ft2 = write_spacecraft(spacecraft, outdir / "data" / "ft2.fits", overwrite=overwrite)
    events = simulate_events(injected, spacecraft, irfs, **config.event_kwargs())
    ft1 = events.write(outdir / "data" / "ft1.fits", overwrite=overwrite, creator="gammapy-lat demo")
    timing["simulate"] = time.perf_counter() - t0
    log.info("Simulated %d events (%s)", len(events), irfs.irf_name)

    # --- reduce -----------------------------------------------------------------------------
    t1 = time.perf_counter()
    observation = LATObservation.read(
        ft1, ft2, obs_id=0, irf_name=irfs.irf_name, caldb=caldb_root, ltcube_kwargs={"nside": 64, "nbins": 40}
    )
    position = injected[DEMO_SOURCE].spatial_model.position
    # The model maps cover 13 x 13 deg but the likelihood uses only 4 deg around the source:
    # diffuse photons scattered in by the PSF from outside the fitted region are modelled.
    energy_axis = MapAxis.from_energy_bounds("100 MeV", "100 GeV", nbin=12, name="energy")
    energy_axis_true = MapAxis.from_energy_bounds("70 MeV", "150 GeV", nbin=16, name="energy_true")
    geom = WcsGeom.create(skydir=position.galactic, frame="galactic", binsz=0.25, width=(13, 13), axes=[energy_axis])
    reference = create_lat_map_dataset(geom, energy_axis_true=energy_axis_true, name="demo")
    maker = LATComponentsMaker(
        [LATComponent(name=None, evtype=observation.evtype)],
        safe_mask_maker=LATSafeMaskMaker(methods=["energy-range"], energy_min=ANALYSIS_EMIN, energy_max=100 * u.GeV),
    )
    (dataset,) = maker.run(reference, observation)
    dataset.mask_fit = geom.region_mask([CircleSkyRegion(position, FIT_RADIUS)])
    timing["reduce"] = time.perf_counter() - t1

    # --- fit --------------------------------------------------------------------------------
    t2 = time.perf_counter()
    models = _fit_models(injected)
    datasets = Datasets([dataset])
    datasets.models = models
    fit = LATFit()
    fit_result = fit.run(datasets)
    if not fit_result.success:
        log.warning("The fit did not converge: %s", fit_result.message)
    timing["fit"] = time.perf_counter() - t2

    # --- SED and products ---------------------------------------------------------------------
    t3 = time.perf_counter()
    energy_edges = energy_axis.edges[[1, 3, 5, 7, 9, 12]]
    flux_points = products.sed_points(datasets, DEMO_SOURCE, energy_edges, selection_optional=["ul"])
    timing["sed"] = time.perf_counter() - t3
    comparison = comparison_table(injected, datasets.models)
    files = {"ft1": ft1, "ft2": ft2}
    prod = outdir / "products"
    prod.mkdir(parents=True, exist_ok=True)
    dataset.write(prod / "dataset.fits.gz", overwrite=overwrite)
    files["dataset"] = prod / "dataset.fits.gz"
    datasets.models.write(prod / "models-fitted.yaml", overwrite=overwrite, write_covariance=False)
    injected.write(prod / "models-injected.yaml", overwrite=overwrite, write_covariance=False)
    flux_points.write(prod / "sed.fits", overwrite=overwrite)
    comparison.meta.update({"IRF": irfs.irf_name, "SYNTHET": is_synthetic, "DURATION": duration, "SEED": seed})
    comparison.write(prod / "injected-vs-fitted.ecsv", overwrite=overwrite)
    sources, parameters = products.fit_results_table(datasets)
    sources.write(prod / "fit-sources.ecsv", overwrite=overwrite)
    parameters.write(prod / "fit-parameters.ecsv", overwrite=overwrite)
    files.update(
        models=prod / "models-fitted.yaml", sed=prod / "sed.fits", comparison=prod / "injected-vs-fitted.ecsv",
        sources=prod / "fit-sources.ecsv",
    )
    if plots:

        files["spectrum_plot"] = plotting.plot_spectrum(
            datasets.models[DEMO_SOURCE], prod / "sed.png", flux_points=flux_points, overwrite=overwrite
        )
        maps = products.residual_maps(dataset, correlation_radius="0.3 deg")
        files["maps_plot"] = plotting.plot_maps(maps, prod / "maps.png", overwrite=overwrite)
    timing["total"] = time.perf_counter() - t0
    summary = (
        f"gammapy-lat demo: {len(events)} events in {duration}, IRF {irfs.irf_name}"
        + (" (SYNTHETIC response, not a LAT calibration)" if is_synthetic else "")
        + "\n" + format_comparison(comparison) + "\n"
    )
    (prod / "summary.txt").write_text(summary)
    files["summary"] = prod / "summary.txt"
    return dict(
        comparison=comparison,
        dataset=dataset,
        datasets=datasets,
        models=datasets.models,
        injected=injected,
        flux_points=flux_points,
        irf_name=irfs.irf_name,
        synthetic=is_synthetic,
        files=files,
        timing=timing,
        n_events=len(events),
        fit_result=fit_result,
        summary=summary,
    )
