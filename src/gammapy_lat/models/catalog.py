"""Region-of-interest source models from Fermi-LAT catalogs, in the manner of make4FGLxml.

All catalog sources within the ROI radius plus a margin are taken from a `gammapy.catalog` LAT
catalog (3FGL, 4FGL, 3FHL, 2FHL, ...). Spectra are rewritten with the exact LAT XML functions
(`~gammapy_lat.models.to_lat_spectral_model`) so that the models can be written as gtlike XML
without approximation. Which parameters are free is decided by distance from the ROI centre,
detection significance and variability:

- sources within ``free_radius`` and with an average significance of at least
  ``min_significance`` get their normalisation (and, with ``free_shape=True``, their spectral shape
  parameters except the pivot energy and the super-exponential ``index_2``) free;
- with ``free_variable=True``, variable sources within ``free_radius_variable`` get their
  normalisation free whatever their significance;
- everything else, and all positions and extensions, is frozen.

Extended sources: disks and 2D Gaussians as Gammapy's analytic models, except elongated ones,
which take the catalog's template (``Spatial_Filename``) when it is found (gtlike XML has no
elongated analytic shape); maps and rings take their templates.

Variability is the catalog's ``Variability_Index`` above the 99 % confidence threshold of a χ² with
(number of light-curve intervals − 1) degrees of freedom (72.44 for the 48 months of 3FGL), or, for
3FHL, more than one Bayesian block.
"""
import logging
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.coordinates import Angle, SkyCoord
from gammapy.modeling.models import (
    DiskSpatialModel,
    GaussianSpatialModel,
    Models,
    PointSpatialModel,
    SkyModel,
    TemplateSpatialModel,
)
from scipy.stats import chi2

from ..errors import LATFileError
from .xml import (
    SHARP_EDGE_WIDTH,
    norm_parameter,
    to_lat_spectral_model,
    write_xml_models,
)

__all__ = ["catalog_roi_models", "write_catalog_roi_xml", "source_significance", "source_is_variable"]

log = logging.getLogger(__name__)

# parameters that describe the spectral shape and are freed with free_shape=True
_SHAPE_PARAMETERS = ("index", "index1", "index2", "index_1", "alpha", "beta", "ecut", "expfactor", "e_peak", "ebreak")
# bounds (Gammapy convention) given to catalog parameters, as make4FGLxml does
_BOUNDS = {
    "index": (0.0, 5.0),
    "index1": (0.0, 5.0),
    "index2": (0.0, 5.0),
    "index_1": (-1.0, 5.0),
    "alpha": (-1.0, 5.0),
    "beta": (-1.0, 2.0),
    "index_2": (0.0, 2.0),
}


def source_significance(source):
    """Average detection significance of a catalog source (``Signif_Avg``), NaN if not given."""
    for key in ("Signif_Avg", "Detection_Significance"):
        if key in source.data:
            value = source.data[key]
            if np.ma.is_masked(value):
                return np.nan
            value = float(value)
            return value if np.isfinite(value) else np.nan
    if "TS" in source.data:
        return float(np.sqrt(max(source.data["TS"], 0)))
    return np.nan


def source_is_variable(source, confidence=0.99):
    """Whether the catalog flags a source as variable (see module docstring)."""
    d = source.data
    if "Variability_Index" in d and "Flux_History" in d:
        nbins = np.size(d["Flux_History"])
        index = float(d["Variability_Index"])
        return bool(np.isfinite(index) and nbins > 1 and index > chi2.ppf(confidence, nbins - 1))
    if "Variability_BayesBlocks" in d:
        return bool(d["Variability_BayesBlocks"] > 1)
    return False


def _find_template(filename, extended_dir):
    names = [filename]
    if not filename.endswith(".gz"):
        names.append(filename + ".gz")
    folders = [Path(extended_dir), Path(extended_dir) / "Templates"] if extended_dir else []
    for folder in folders:
        for name in names:
            if (folder / name).exists():
                return folder / name
    return None


def _spatial_model(source, extended_dir):
    d = source.data
    if source.is_pointlike:
        return PointSpatialModel(lon_0=d["RAJ2000"], lat_0=d["DEJ2000"], frame="icrs")
    de = source.data_extended
    form = de["Model_Form"].strip()
    major = de["Model_SemiMajor"]
    minor = de["Model_SemiMinor"]
    e = float(np.sqrt(1 - (minor / major) ** 2)) if major > 0 else 0.0
    phi = de["Model_PosAng"] if e > 0 else 0 * u.deg
    filename = de["Spatial_Filename"]
    filename = "" if np.ma.is_masked(filename) or filename is None else str(filename).strip()
    if form in ("Disk", "2D Gaussian") and e > 0 and filename:
        # elongated shapes have no gtlike XML form: use the catalog's template, as the XML does
        path = _find_template(filename, extended_dir)
        if path is not None:
            return TemplateSpatialModel.read(path, normalize=True)
    if form == "Disk":
        return DiskSpatialModel(
            lon_0=d["RAJ2000"], lat_0=d["DEJ2000"], r_0=major, e=e, phi=phi, edge_width=SHARP_EDGE_WIDTH, frame="icrs"
        )
    if form == "2D Gaussian":
        return GaussianSpatialModel(lon_0=d["RAJ2000"], lat_0=d["DEJ2000"], sigma=major, e=e, phi=phi, frame="icrs")
    path = _find_template(filename, extended_dir) if filename else None
    if path is None:
        raise LATFileError(
            f"extended source {source.name!r}: template {filename} not found in "
            f"{extended_dir!s} (or its Templates/ folder); pass extended_dir= or missing_templates='skip'"
        )
    return TemplateSpatialModel.read(path, normalize=True)


def _to_lat_units(model):
    """Express energies in MeV and differential fluxes in cm-2 s-1 MeV-1, as in the XML."""
    for par in model.parameters:
        for target in ("MeV", "cm-2 s-1 MeV-1", "cm-2 s-1"):
            unit = u.Unit(target)
            if par.unit != unit and par.unit.is_equivalent(unit):
                factor = par.unit.to(unit)
                lo, hi, err = par.min, par.max, par.error
                par.quantity = par.quantity.to(unit)
                par.min, par.max, par.error = lo * factor, hi * factor, err * factor
                break


def _set_bounds(model):
    for par in model.parameters:
        if par.name in _BOUNDS:
            lo, hi = _BOUNDS[par.name]
            par.min = min(lo, par.value)
            par.max = max(hi, par.value)
        elif par.name in ("amplitude", "norm"):
            par.min = 0.0
            par.max = 1e3 * par.value if par.value > 0 else np.nan
        elif par.name in ("ecut", "ebreak", "e_peak"):
            par.min = par.value / 100
            par.max = par.value * 100
        elif par.name == "expfactor":
            par.min = min(-1.0, par.value)
            par.max = max(1.0, 10 * par.value)
        par.frozen = True
        # catalogs fill the errors of fixed parameters with NaN or huge values
        if not np.isfinite(par.error) or abs(par.error) > 1e10 * max(abs(par.value), 1e-300):
            par.error = 0.0


def _sky_model(source, extended_dir):
    spectral = to_lat_spectral_model(source.spectral_model())
    spectral = spectral.copy()
    _to_lat_units(spectral)
    _set_bounds(spectral)
    spatial = _spatial_model(source, extended_dir)
    spatial.freeze()
    if hasattr(spatial, "lon_0") and not isinstance(spatial, TemplateSpatialModel):
        spatial.lon_0.min, spatial.lon_0.max = -360.0, 360.0
        spatial.lat_0.min, spatial.lat_0.max = -90.0, 90.0
        # catalog position errors
        try:
            source._set_spatial_errors(spatial)
        except Exception:
            pass
        if "phi" in spatial.parameters.names and spatial.e.value == 0:
            spatial.phi.value = 0.0
    return SkyModel(spatial_model=spatial, spectral_model=spectral, name=source.name)


def catalog_roi_models(
    catalog,
    center,
    radius,
    margin="5 deg",
    free_radius=None,
    min_significance=5.0,
    free_shape=True,
    free_variable=True,
    free_radius_variable=None,
    extended_dir=None,
    missing_templates="raise",
):
    """Sky models of the catalog sources around an ROI.

    Parameters
    ----------
    catalog : `~gammapy.catalog.SourceCatalog`
        A LAT catalog from `gammapy.catalog` (e.g. ``SourceCatalog3FGL(filename)``).
    center : `~astropy.coordinates.SkyCoord`
        ROI centre.
    radius : `~astropy.coordinates.Angle` or str
        ROI radius.
    margin : `~astropy.coordinates.Angle` or str
        Sources out to ``radius + margin`` are included (frozen outside the free radii), to model
        the PSF tails of bright neighbours.
    free_radius : `~astropy.coordinates.Angle` or str, optional
        Sources within this distance may have free parameters. Default is ``radius``.
    min_significance : float
        Minimum ``Signif_Avg`` of a source with free parameters. Sources with a non-finite value
        (e.g. components fixed in the catalog such as the Crab IC component) stay frozen.
    free_shape : bool
        Free the spectral shape parameters as well as the normalisation.
    free_variable : bool
        Free the normalisation of variable sources within ``free_radius_variable`` whatever their
        significance.
    free_radius_variable : `~astropy.coordinates.Angle` or str, optional
        Default is ``free_radius``.
    extended_dir : str or `~pathlib.Path`, optional
        Folder with the extended-source templates (``LAT_extended_sources_*``, the file or its
        ``Templates/`` sub-folder is searched, with or without ``.gz``).
    missing_templates : {"raise", "skip"}
        What to do with a template extended source whose template is not found.

    Returns
    -------
    models : `~gammapy.modeling.models.Models`
        Sky models sorted by distance from the centre. Each model's ``meta`` is not used; the
        selection is reproducible from the arguments.
    """
    radius = Angle(radius)
    margin = Angle(margin)
    free_radius = radius if free_radius is None else Angle(free_radius)
    free_radius_variable = free_radius if free_radius_variable is None else Angle(free_radius_variable)
    if missing_templates not in ("raise", "skip"):
        raise ValueError(f"missing_templates must be 'raise' or 'skip', got {missing_templates!r}")

    center = SkyCoord(center).icrs
    sep = catalog.positions.icrs.separation(center)
    selected = np.where(sep <= radius + margin)[0]
    selected = selected[np.argsort(sep[selected])]

    models = []
    for idx in selected:
        source = catalog[int(idx)]
        try:
            model = _sky_model(source, extended_dir)
        except LATFileError as exc:
            if missing_templates == "raise":
                raise
            log.warning("%s; source skipped", exc)
            continue
        distance = sep[idx]
        signif = source_significance(source)
        free_norm = False
        free_all = False
        if distance <= free_radius and np.isfinite(signif) and signif >= min_significance:
            free_norm = True
            free_all = free_shape
        if free_variable and distance <= free_radius_variable and source_is_variable(source):
            free_norm = True
        spectral = model.spectral_model
        if free_norm:
            norm_parameter(spectral).frozen = False
        if free_all:
            for par in spectral.parameters:
                if par.name in _SHAPE_PARAMETERS:
                    par.frozen = False
        models.append(model)
    return Models(models)


def write_catalog_roi_xml(filename, catalog, center, radius, overwrite=False, diffuse_models=None, **kwargs):
    """Write the catalog ROI model (`catalog_roi_models`) as a gtlike XML file.

    Parameters
    ----------
    filename : str or `~pathlib.Path`
        Output XML file.
    catalog, center, radius, **kwargs
        Passed to `catalog_roi_models`.
    overwrite : bool
        Replace an existing file.
    diffuse_models : list of `~gammapy.modeling.models.SkyModel`, optional
        Diffuse background models (Galactic and isotropic) appended to the catalog sources.

    Returns
    -------
    models : `~gammapy.modeling.models.Models`
        The models written.
    """
    models = catalog_roi_models(catalog, center, radius, **kwargs)
    if diffuse_models:
        models = Models(list(models) + list(diffuse_models))
    write_xml_models(models, filename, overwrite=overwrite)
    return models
