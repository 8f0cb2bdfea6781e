"""Likelihood analysis products for any Gammapy `~gammapy.datasets.Datasets` and models.

These functions give the numbers LAT analysts expect from gtlike/fermipy, computed with Gammapy's
fitting and estimator machinery. Several datasets (e.g. one per event type) sharing sky models are
fitted jointly, as Gammapy does for any `~gammapy.datasets.Datasets`.

- `source_ts`: test statistic of each source, TS = 2 (log L₁ − log L₀), the null hypothesis being
  the model without the source, refitted;
- `band_flux`: photon and energy flux in a band with 1σ errors propagated from the fit covariance
  (linear propagation, as gtlike's ``flux``/``energyFlux`` errors);
- `sed_points`, `light_curve`, `residual_maps`, `ts_map`: thin, defaulted wrappers around
  `~gammapy.estimators.FluxPointsEstimator`, `~gammapy.estimators.LightCurveEstimator`,
  `~gammapy.estimators.ExcessMapEstimator` and `~gammapy.estimators.TSMapEstimator`;
- `fit_results_table`: parameter values ± errors in gtlike's names and conventions, TS, Npred,
  fluxes and −log L.

Gammapy's ``cash`` statistic is −2 log L without the data-only term Σ log nᵢ!, so
``-log L = stat / 2`` is gtlike's binned −log L.
"""
import logging

import astropy.units as u
import numpy as np
from astropy.table import Table
from gammapy.datasets import Datasets
from gammapy.estimators import (
    ExcessMapEstimator,
    FluxPointsEstimator,
    LightCurveEstimator,
    TSMapEstimator,
)
from gammapy.modeling import Fit
from gammapy.modeling.models import (
    Models,
    PointSpatialModel,
    PowerLawSpectralModel,
    SkyModel,
)

from ..errors import GammapyLATError
from ..models.xml import _NORM_SPECTRA, _SPATIAL, _SPECTRA, to_lat_spectral_model

__all__ = [
    "source_ts",
    "band_flux",
    "sed_points",
    "light_curve",
    "residual_maps",
    "excess_map",
    "ts_map",
    "fit_results_table",
    "npred_source",
]

log = logging.getLogger(__name__)


def _as_datasets(datasets):
    return datasets if isinstance(datasets, Datasets) else Datasets(datasets)


def _sky_model_names(datasets):
    return [m.name for m in datasets.models if isinstance(m, SkyModel)]


def source_ts(datasets, source_names=None, refit=True, fit=None):
    """Test statistic of sources: TS = stat(without source) − stat(with source).

    The datasets' models are taken as the best fit with all sources. For each source the model is
    refitted without it (all other free parameters free, as gtlike does) unless ``refit=False``.
    Models and parameters are restored afterwards.

    Parameters
    ----------
    datasets : `~gammapy.datasets.Datasets`
        Datasets with their (fitted) models.
    source_names : list of str, optional
        Sources to test. Default is every `~gammapy.modeling.models.SkyModel`.
    refit : bool
        Refit the null hypothesis (True) or only remove the source (False, faster, an upper bound).
    fit : `~gammapy.modeling.Fit`, optional
        Fit whose ``optimize`` is used for the null hypothesis (the covariance is left as is).

    Returns
    -------
    ts : dict
        Source name → TS.
    """
    datasets = _as_datasets(datasets)
    fit = fit or Fit()
    models = Models(list(datasets.models))
    names = _sky_model_names(datasets) if source_names is None else list(source_names)
    unknown = set(names) - set(models.names)
    if unknown:
        raise GammapyLATError(f"source_ts: unknown source(s) {sorted(unknown)}; models are {models.names}")
    stat_full = datasets.stat_sum()
    params = models.parameters
    saved = [p.value for p in params]
    ts = {}
    try:
        for name in names:
            datasets.models = Models([m for m in models if m.name != name])
            if refit and len(datasets.models.parameters.free_parameters) > 0:
                result = fit.optimize(datasets)
                if not result.success:
                    log.warning("source_ts: null-hypothesis fit without %r did not converge", name)
            ts[name] = float(datasets.stat_sum() - stat_full)
            for p, v in zip(params, saved):
                p.value = v
    finally:
        datasets.models = models
        for p, v in zip(params, saved):
            p.value = v
    return ts


def _free_indices(model):
    return [i for i, p in enumerate(model.parameters) if not p.frozen]


def band_flux(model, energy_min, energy_max, covariance=None):
    """Photon and energy flux of a spectral model in a band, with linearly propagated errors.

    Parameters
    ----------
    model : `~gammapy.modeling.models.SpectralModel` or `~gammapy.modeling.models.SkyModel`
        Fitted model; its ``covariance`` is used unless ``covariance`` is given.
    energy_min, energy_max : `~astropy.units.Quantity`
        Band.
    covariance : `~numpy.ndarray`, optional
        Covariance matrix of the model's parameters (all of them, frozen ones included).

    Returns
    -------
    result : dict
        ``flux``, ``flux_err`` (cm-2 s-1) and ``energy_flux``, ``energy_flux_err`` (erg cm-2 s-1).
    """
    if isinstance(model, SkyModel):
        model = model.spectral_model
    energy_min = u.Quantity(energy_min)
    energy_max = u.Quantity(energy_max)
    cov = np.asarray(model.covariance.data if covariance is None else covariance, dtype=float)
    free = _free_indices(model)
    pars = model.parameters

    def values():
        f = model.integral(energy_min, energy_max).to_value("cm-2 s-1")
        g = model.energy_flux(energy_min, energy_max).to_value("erg cm-2 s-1")
        return np.array([float(np.squeeze(f)), float(np.squeeze(g))])

    central = values()
    grads = np.zeros((2, len(pars)))
    for i in free:
        p = pars[i]
        v0 = p.value
        step = 1e-4 * abs(v0) if v0 != 0 else 1e-6
        err = np.sqrt(cov[i, i]) if cov[i, i] > 0 else 0
        if err > 0:
            step = min(step, 1e-2 * err) if step > 0 else 1e-2 * err
        try:
            p.value = v0 + step
            up = values()
            p.value = v0 - step
            down = values()
        finally:
            p.value = v0
        grads[:, i] = (up - down) / (2 * step)
    var = np.einsum("ki,ij,kj->k", grads, cov, grads)
    err = np.sqrt(np.clip(var, 0, None))
    return {
        "flux": central[0] * u.Unit("cm-2 s-1"),
        "flux_err": err[0] * u.Unit("cm-2 s-1"),
        "energy_flux": central[1] * u.Unit("erg cm-2 s-1"),
        "energy_flux_err": err[1] * u.Unit("erg cm-2 s-1"),
    }


def sed_points(datasets, source, energy_edges, selection_optional=None, **kwargs):
    """SED points of a source (`~gammapy.estimators.FluxPointsEstimator`).

    Parameters
    ----------
    datasets : `~gammapy.datasets.Datasets`
        Fitted datasets.
    source : str
        Source name.
    energy_edges : `~astropy.units.Quantity`
        Bin edges of the SED.
    selection_optional : list of str, optional
        Optional quantities (``"errn-errp"``, ``"ul"``, ``"scan"``...). Default is ``["ul"]``.
    **kwargs
        Passed to `~gammapy.estimators.FluxPointsEstimator`.

    Returns
    -------
    flux_points : `~gammapy.estimators.FluxPoints`
    """
    if selection_optional is None:
        selection_optional = ["ul"]
    estimator = FluxPointsEstimator(
        energy_edges=u.Quantity(energy_edges), source=source, selection_optional=selection_optional, **kwargs
    )
    return estimator.run(_as_datasets(datasets))


def light_curve(datasets, source, time_intervals=None, energy_edges=None, selection_optional=None, **kwargs):
    """Light curve of a source (`~gammapy.estimators.LightCurveEstimator`).

    Without ``time_intervals`` each dataset is one bin (e.g. one dataset per time interval).

    Parameters
    ----------
    datasets : `~gammapy.datasets.Datasets`
        Datasets with GTIs.
    source : str
        Source name.
    time_intervals : list of `~astropy.time.Time` pairs, optional
        Time bins.
    energy_edges : `~astropy.units.Quantity`, optional
        Energy band(s); default is the datasets' full range.
    selection_optional : list of str, optional
        Default is ``["ul"]``.
    **kwargs
        Passed to `~gammapy.estimators.LightCurveEstimator`.

    Returns
    -------
    light_curve : `~gammapy.estimators.FluxPoints`
    """
    if selection_optional is None:
        selection_optional = ["ul"]
    datasets = _as_datasets(datasets)
    if energy_edges is None:
        axes = [d.counts.geom.axes["energy"] for d in datasets]
        energy_edges = u.Quantity([min(a.edges[0] for a in axes), max(a.edges[-1] for a in axes)])
    kwargs["energy_edges"] = u.Quantity(energy_edges)
    estimator = LightCurveEstimator(
        time_intervals=time_intervals, source=source, selection_optional=selection_optional, **kwargs
    )
    return estimator.run(datasets)


def residual_maps(dataset, correlation_radius="0.3 deg", energy_edges=None):
    """Counts, model, residual and residual-significance maps of a dataset.

    Parameters
    ----------
    dataset : `~gammapy.datasets.MapDataset`
        Dataset with its (fitted) models.
    correlation_radius : `~astropy.coordinates.Angle` or str
        Radius over which counts are summed for the significance map.
    energy_edges : `~astropy.units.Quantity`, optional
        Energy bins of the maps; default is the sum over the dataset's energy range.

    Returns
    -------
    maps : dict of `~gammapy.maps.Map`
        ``counts``, ``npred``, ``residual`` (counts − npred) summed over energy within the safe
        mask, and ``significance`` (Li & Ma–like signed significance of counts against the model,
        from `~gammapy.estimators.ExcessMapEstimator`).
    """
    mask = dataset.mask
    counts = dataset.counts * mask if mask is not None else dataset.counts
    npred = dataset.npred() * mask if mask is not None else dataset.npred()
    counts = counts.sum_over_axes(keepdims=False)
    npred = npred.sum_over_axes(keepdims=False)
    result = excess_map(dataset, correlation_radius=correlation_radius, energy_edges=energy_edges)
    return {
        "counts": counts,
        "npred": npred,
        "residual": counts - npred,
        "significance": result["sqrt_ts"],
    }


def excess_map(dataset, correlation_radius="0.3 deg", energy_edges=None, **kwargs):
    """Excess and significance maps of a dataset against its models
    (`~gammapy.estimators.ExcessMapEstimator`).

    Parameters
    ----------
    dataset : `~gammapy.datasets.MapDataset`
        Dataset; its models (if any) are the background of the excess.
    correlation_radius : `~astropy.coordinates.Angle` or str
        Radius over which counts are summed.
    energy_edges : `~astropy.units.Quantity`, optional
        Energy bins; default is the dataset's whole range.
    **kwargs
        Passed to `~gammapy.estimators.ExcessMapEstimator` (``selection_optional`` defaults to
        none).

    Returns
    -------
    maps : `~gammapy.estimators.FluxMaps`
    """
    kwargs.setdefault("selection_optional", [])
    estimator = ExcessMapEstimator(
        correlation_radius=correlation_radius,
        energy_edges=None if energy_edges is None else u.Quantity(energy_edges),
        **kwargs,
    )
    return estimator.run(dataset)


def ts_map(dataset, model=None, kernel_width="1 deg", energy_edges=None, **kwargs):
    """TS map for an additional source (`~gammapy.estimators.TSMapEstimator`).

    Parameters
    ----------
    dataset : `~gammapy.datasets.MapDataset`
        Dataset with its (fitted) models, which form the null hypothesis.
    model : `~gammapy.modeling.models.SkyModel`, optional
        Test source; default is a point source with a power law of index 2.
    kernel_width : `~astropy.coordinates.Angle` or str
        Width of the PSF-convolved kernel.
    energy_edges : `~astropy.units.Quantity`, optional
        Energy range; default is the dataset's.
    **kwargs
        Passed to `~gammapy.estimators.TSMapEstimator`.

    Returns
    -------
    maps : `~gammapy.estimators.FluxMaps`
        With ``ts``, ``sqrt_ts``, ``norm``, ``flux``... maps.
    """
    if model is None:
        model = SkyModel(
            spatial_model=PointSpatialModel(),
            spectral_model=PowerLawSpectralModel(index=2),
            name="ts-test-source",
        )
    kwargs.setdefault("selection_optional", [])
    if energy_edges is not None:
        kwargs["energy_edges"] = u.Quantity(energy_edges)
    estimator = TSMapEstimator(kernel_model=model, kernel_width=kernel_width, **kwargs)
    return estimator.run(dataset)


def npred_source(datasets, name):
    """Predicted counts of one source summed over datasets, within their fit/safe masks."""
    total = 0.0
    for ds in _as_datasets(datasets):
        if ds.models is None or name not in ds.models.names:
            continue
        npred = ds.npred_signal(model_names=[name])
        mask = ds.mask
        total += float(np.sum(npred.data * (mask.data if mask is not None else 1)))
    return total


def _gtlike_parameters(model):
    """(XML name, true value, error, unit) rows of a sky model in gtlike's conventions."""
    rows = []
    spectral = model.spectral_model
    spatial = model.spatial_model
    lat = to_lat_spectral_model(spectral) if spectral is not None else None
    spec = None
    table = _NORM_SPECTRA if getattr(spatial, "normalize", True) is False else _SPECTRA
    for _, (cls, entries) in table.items():
        if lat is not None and type(lat) is cls:
            spec = entries
            break
    if spec is None and lat is not None:
        rows += [(p.name, p.value, p.error, str(p.unit), p.frozen) for p in lat.parameters]
    elif spec is not None:
        for e in spec:
            p = lat.parameters[e.name]
            conv = u.Unit(p.unit).to(u.Unit(e.unit))
            rows.append((e.xml, e.sign * p.value * conv, p.error * conv, e.unit, p.frozen))
    if spatial is not None:
        entry = None
        for _, (cls, entries) in _SPATIAL.items():
            if type(spatial) is cls and entries[0].name in spatial.parameters.names:
                entry = entries
                break
        if entry is not None and spatial.frame == "icrs":
            for e in entry:
                p = spatial.parameters[e.name]
                rows.append((e.xml, p.value, p.error, e.unit, p.frozen))
        else:
            rows += [(p.name, p.value, p.error, str(p.unit), p.frozen) for p in spatial.parameters]
    return rows


def fit_results_table(datasets, ts=None, energy_band=("100 MeV", "100 GeV")):
    """Fit results in gtlike's terms.

    Parameters
    ----------
    datasets : `~gammapy.datasets.Datasets`
        Fitted datasets (covariance computed).
    ts : dict, optional
        Source name → TS (e.g. from `source_ts`); NaN where absent.
    energy_band : tuple of `~astropy.units.Quantity` or str
        Band of the photon and energy fluxes.

    Returns
    -------
    sources : `~astropy.table.Table`
        One row per sky model: ``name``, ``ts``, ``npred``, ``flux``, ``flux_err``,
        ``energy_flux``, ``energy_flux_err``. ``meta`` holds ``-logL`` (= stat/2, gtlike's binned
        −log L) and the band.
    parameters : `~astropy.table.Table`
        One row per parameter: ``source``, ``parameter`` (XML name), ``value`` (true value, XML
        sign convention: index −2 for E⁻²), ``error``, ``unit`` (MeV-based), ``free``.
    """
    datasets = _as_datasets(datasets)
    ts = ts or {}
    emin, emax = (u.Quantity(e) for e in energy_band)
    stat = datasets.stat_sum()
    src_rows, par_rows = [], []
    for model in datasets.models:
        if isinstance(model, SkyModel):
            flux = {"flux": np.nan, "flux_err": np.nan, "energy_flux": np.nan, "energy_flux_err": np.nan}
            is_norm_model = getattr(model.spatial_model, "normalize", True) is False or model.spatial_model is None
            if model.spectral_model is not None and not is_norm_model:
                try:
                    flux = {k: v.value for k, v in band_flux(model, emin, emax).items()}
                except Exception as exc:
                    log.debug("no band flux for %s: %s", model.name, exc)
            src_rows.append(
                (model.name, ts.get(model.name, np.nan), npred_source(datasets, model.name),
                 flux["flux"], flux["flux_err"], flux["energy_flux"], flux["energy_flux_err"])
            )
            rows = _gtlike_parameters(model)
        else:
            rows = [(p.name, p.value, p.error, str(p.unit), p.frozen) for p in model.parameters]
        for name, value, error, unit, frozen in rows:
            par_rows.append((model.name, name, value, error, unit, not frozen))
    sources = Table(
        rows=src_rows or None,
        names=["name", "ts", "npred", "flux", "flux_err", "energy_flux", "energy_flux_err"],
        dtype=[str, float, float, float, float, float, float],
    )
    sources["flux"].unit = sources["flux_err"].unit = "cm-2 s-1"
    sources["energy_flux"].unit = sources["energy_flux_err"].unit = "erg cm-2 s-1"
    sources.meta.update({"-logL": stat / 2, "stat": stat, "E_MIN": str(emin), "E_MAX": str(emax)})
    parameters = Table(
        rows=par_rows or None,
        names=["source", "parameter", "value", "error", "unit", "free"],
        dtype=[str, str, float, float, str, bool],
    )
    return sources, parameters
