"""Likelihood products and estimators for fitted LAT (and any Gammapy) datasets.

The one place where Gammapy's estimators are wrapped with LAT defaults: the Python API and the
analysis runner both call these functions.

* `source_ts`, `band_flux`, `npred_source`, `fit_results_table`: what gtlike and fermipy report
  per source after a fit (TS, fluxes with errors, predicted counts, parameters in gtlike's names);
* `sed_points`, `light_curve`, `residual_maps`, `ts_map`: `~gammapy.estimators` with defaults;
* `plot_maps`, `plot_spectrum`, `plot_energy_residuals`, `plot_ts_map`: figures of these products.
"""
from .plotting import plot_energy_residuals, plot_maps, plot_spectrum, plot_ts_map
from .products import (
    band_flux,
    excess_map,
    fit_results_table,
    light_curve,
    npred_source,
    residual_maps,
    sed_points,
    source_ts,
    ts_map,
)

__all__ = [
    "source_ts",
    "band_flux",
    "npred_source",
    "fit_results_table",
    "sed_points",
    "light_curve",
    "residual_maps",
    "excess_map",
    "ts_map",
    "plot_maps",
    "plot_spectrum",
    "plot_energy_residuals",
    "plot_ts_map",
]
