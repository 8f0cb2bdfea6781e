"""Unbinned LAT likelihood: an event-level Gammapy dataset (gtlike ``UNBINNED``).

`UnbinnedLATDataset` is a `~gammapy.datasets.Dataset` whose fit statistic is the extended
unbinned Poisson likelihood of the events inside an acceptance cone,

.. math::

    -2 \\log L = 2 \\left(\\sum_s N_s - \\sum_i \\log \\sum_s \\lambda_{s,i}\\right),

with :math:`\\lambda_{s,i}` the density of source s at event i (spectrum x spatial model x
effective area x PSF at the event's energy, direction, type and time) and :math:`N_s` its
predicted number of events (the spectrum integrated against the exposure of the cone, with the
PSF containment), as `gammapy_lat.irf.unbinned` computes them. Densities of extended and
diffuse sources are the per-event sky integrals of gtdiffrsp; ``DIFRSP`` columns of the event
file with the gtdiffrsp label of a model are used instead when present.

The dataset carries a binned summary of its events — ``counts`` per reconstructed-energy bin in
the cone, as a `~gammapy.maps.RegionNDMap` — and its predicted counts per bin (`npred`), so that
energy masks, `slice_by_energy` and Gammapy's estimators (flux points, light curves of
per-interval datasets, upper limits, TS) work as on binned datasets; the likelihood itself never
bins the events.

`UnbinnedLATDatasetMaker` makes it from a `~gammapy_lat.data.LATObservation`.
"""
import copy
import html
import logging
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.table import Table
from gammapy.data import GTI
from gammapy.datasets import Dataset
from gammapy.maps import LabelMapAxis, Map, MapAxis, RegionGeom, RegionNDMap
from gammapy.modeling.models import (
    ConstantFluxSpatialModel,
    ConstantSpatialModel,
    DatasetModels,
    PointSpatialModel,
    SkyModel,
)
from gammapy.utils.scripts import make_name
from regions import CircleSkyRegion

from ..errors import GammapyLATError, LATDataError, LATFileError, SelectionError
from ..irf import LATIRFs
from ..irf.expmap import UnbinnedExposureMap
from ..irf.unbinned import (
    EventGeometry,
    EventResponse,
    ROIExposure,
    frame_rotation,
    unit_vectors,
    vectors_to_lonlat,
)
from ..livetime import LivetimeCube
from ..utils import write_fits_atomic

__all__ = [
    "UnbinnedLATDataset",
    "diffuse_response_label",
    "read_diffuse_responses",
    "add_diffuse_responses",
    "compute_diffuse_responses",
    "split_diffuse_response_label",
]

log = logging.getLogger(__name__)

_DENSITY_UNIT = u.Unit("s-1 MeV-1 sr-1")
# Smallest predicted number of events per bin (Gammapy's cash TRUNCATION_VALUE).
_NPRED_TRUNCATION = 1e-25
# Models whose spatial extent is below this radius are integrated on a grid about the source.
_COMPACT_RADIUS = 10 * u.deg


# --------------------------------------------------------------------------------------------
# gtdiffrsp columns
# --------------------------------------------------------------------------------------------
def diffuse_response_label(irf_name, source_name):
    """Label of a diffuse-response column as gtdiffrsp writes it: ``<irfs>__<source>``, lower case.

    An event-type qualifier of the IRF name (``P8R3_SOURCE_V3::FRONT``) is dropped, as gtdiffrsp
    does.
    """
    irf = str(irf_name).split("::")[0]
    return f"{irf}__{source_name}".lower()


def split_diffuse_response_label(label):
    """IRF name and source name of a gtdiffrsp label (``"p6_v3_diffuse__eg_v02"`` ->
    ``("p6_v3_diffuse", "eg_v02")``); labels of the older ``<irfs>::<source>`` form are accepted."""
    for sep in ("__", "::"):
        if sep in label:
            irf, name = label.split(sep, 1)
            return irf, name
    raise LATDataError(f"Diffuse-response label {label!r} names no IRF (expected '<irfs>__<source>')")


def read_diffuse_responses(events):
    """Diffuse-response columns of an event list: label -> values.

    Reads the ``NDIFRSP``/``DIFRSPn`` header keywords (the format of gtdiffrsp since 2008) and
    the matching ``DIFRSPn`` columns; placeholder columns labelled ``NONE`` are skipped.

    Parameters
    ----------
    events : `~gammapy_lat.data.LATEventList`
        Events (or any object with the ``EVENTS`` ``header`` and ``table``).

    Returns
    -------
    responses : dict
        Label (e.g. ``"p6_v3_diffuse__eg_v02"``) -> float64 array, one value per event.
    """
    header = events.header
    source = getattr(events, "source", "events")
    out = {}
    try:
        ndifrsp = int(header.get("NDIFRSP", 0))
    except (TypeError, ValueError):
        raise LATFileError(f"{source}: NDIFRSP={header.get('NDIFRSP')!r} is not an integer") from None
    for i in range(ndifrsp):
        label = str(header.get(f"DIFRSP{i}", "NONE")).strip()
        column = f"DIFRSP{i}"
        if label.upper() == "NONE":
            continue
        if column not in events.table.colnames:
            raise LATFileError(f"{source}: header labels {column}={label!r} but the column {column} is missing")
        values = np.asarray(events.table[column], dtype=float)
        if values.ndim != 1:
            raise LATFileError(
                f"{source}: column {column} ({label}) holds energy-dispersion parameters, not one response per event"
            )
        out[label.lower()] = values
    return out


def add_diffuse_responses(events, responses):
    """Copy of an event list with diffuse-response columns, as gtdiffrsp writes them.

    Each label is stored in the first ``DIFRSPn`` column that already carries it or is a ``NONE``
    placeholder (data-server files have five), otherwise in a new column; the ``DIFRSPn`` header
    keywords name the labels and ``NDIFRSP`` counts the columns.

    Parameters
    ----------
    events : `~gammapy_lat.data.LATEventList`
        Events.
    responses : dict
        Label -> values (one per event; the livetime-fraction efficiency is not included, as in
        gtdiffrsp).

    Returns
    -------
    events : `~gammapy_lat.data.LATEventList`
        New event list (the input is unchanged).
    """
    header = events.header
    ndifrsp = int(header.get("NDIFRSP", 0) or 0)
    labels = [str(header.get(f"DIFRSP{i}", "NONE")).strip() for i in range(ndifrsp)]
    table = events.table.copy(copy_data=True)
    new = events._subset(np.ones(len(events), dtype=bool))
    new.table = table
    formats = dict(events._column_formats)
    for label, values in responses.items():
        values = np.asarray(values, dtype=np.float32)
        if values.shape != (len(events),):
            raise LATDataError(f"diffuse response {label!r}: {values.shape} values for {len(events)} events")
        label = label.lower()
        lowered = [lab.lower() for lab in labels]
        if label in lowered:
            slot = lowered.index(label)
        elif "none" in lowered:
            slot = lowered.index("none")
        else:
            slot = len(labels)
            labels.append("NONE")
        labels[slot] = label
        column = f"DIFRSP{slot}"
        table[column] = values
        formats[column] = {"format": "E", "unit": None, "dim": None, "comment": "Diffuse response component",
                           "tlmin": None, "tlmax": None}
    new._column_formats = formats
    new.header["NDIFRSP"] = (len(labels), "Number of diffuse response labels")
    for i, label in enumerate(labels):
        new.header[f"DIFRSP{i}"] = (label, f"Diffuse response label for component {i}")
    return new


class _ResponseContext:
    """What a model evaluator needs to compute per-event responses without a full dataset."""

    apply_edisp = False

    def __init__(self, geometry, center, name="events"):
        self._geometry = geometry
        self.center = center
        self.name = name

    @staticmethod
    def _diffrsp_column(model):
        return None


def compute_diffuse_responses(events, spacecraft, irfs, models, n_rho=32, n_psi=16):
    """Per-event diffuse responses of the extended and diffuse models (gtdiffrsp).

    For each event: the sky integral of the model intensity times the effective area and the PSF
    of the event's type at the event's energy, at the instrument inclination of every direction at
    the event time (no energy dispersion, no efficiency correction: gtlike multiplies by the
    efficiency and by the spectrum).

    Parameters
    ----------
    events : `~gammapy_lat.data.LATEventList`
        Events.
    spacecraft : `~gammapy_lat.data.SpacecraftData`
        Spacecraft data covering the events.
    irfs : `~gammapy_lat.irf.LATIRFs`
        IRFs of the event types (with PSF).
    models : `~gammapy.modeling.models.Models`
        Models; point sources are skipped (as gtdiffrsp does).
    n_rho, n_psi : int
        Quadrature nodes of the per-event integrals (see `~gammapy_lat.irf.unbinned.EventResponse`).

    Returns
    -------
    responses : dict
        Model name -> values (one per event), in the unit of the spatial model times cm2 (cm2 for
        a ``ConstantSpatialModel`` of value 1 sr-1, as gtdiffrsp's ``ConstantValue``).
    """
    geometry = EventGeometry.from_events(events, spacecraft, irfs)
    context = _ResponseContext(geometry, SkyCoord(0, 0, unit="deg"))
    response = EventResponse(irfs, geometry, efficiency=False, n_rho=n_rho, n_psi=n_psi)
    out = {}
    for model in DatasetModels(models):
        if not isinstance(model, SkyModel) or model.spatial_model is None:
            continue
        if isinstance(model.spatial_model, PointSpatialModel):
            continue
        evaluator = _UnbinnedEvaluator(model, context)
        points, solid_angle = evaluator._source_grid() if evaluator.is_compact else (None, None)
        out[model.name] = evaluator._event_values(response, points, solid_angle)
    return out


# --------------------------------------------------------------------------------------------
# energy quadrature
# --------------------------------------------------------------------------------------------
class _EnergyNodes:
    """True-energy quadrature of the predicted counts per reconstructed-energy bin.

    Without energy dispersion: Gauss-Legendre nodes in log E inside each bin. With it: a
    log-spaced grid over the bins widened by ``edisp_range`` (trapezoid in log E), each node
    spread over the bins by the dispersion.
    """

    def __init__(self, edges, edisp, nodes_per_bin=3, edisp_range=4.0, per_decade=24):
        edges = u.Quantity(edges, "MeV").to_value("MeV")
        self.edisp = bool(edisp)
        self.nbins = len(edges) - 1
        if not self.edisp:
            x, w = np.polynomial.legendre.leggauss(int(nodes_per_bin))
            lo, hi = np.log(edges[:-1])[:, None], np.log(edges[1:])[:, None]
            loge = 0.5 * (hi - lo) * x[None, :] + 0.5 * (hi + lo)
            self.energy = np.exp(loge).ravel()
            self.weight = (0.5 * (hi - lo) * w[None, :]).ravel() * self.energy
            self.bin = np.repeat(np.arange(self.nbins), len(x))
        else:
            lo, hi = np.log10(edges[0] / edisp_range), np.log10(edges[-1] * edisp_range)
            n = max(int(np.ceil((hi - lo) * per_decade)), 2) + 1
            loge = np.linspace(lo, hi, n) * np.log(10)
            dl = np.diff(loge)
            w = np.zeros(n)
            w[:-1] += 0.5 * dl
            w[1:] += 0.5 * dl
            self.energy = np.exp(loge)
            self.weight = w * self.energy
            self.bin = None

    def npred(self, flux, exposure):
        """Predicted counts per bin from the flux and exposure at the nodes."""
        values = self.weight * flux
        if not self.edisp:
            return np.bincount(self.bin, weights=values * exposure, minlength=self.nbins)
        return values @ exposure

    def subset(self, bin_slice):
        """Nodes of a range of bins (all nodes with energy dispersion); returns (nodes, node index)."""
        new = copy.copy(self)
        start, stop = bin_slice.start, bin_slice.stop
        new.nbins = stop - start
        if not self.edisp:
            idx = np.flatnonzero((self.bin >= start) & (self.bin < stop))
            new.energy, new.weight, new.bin = self.energy[idx], self.weight[idx], self.bin[idx] - start
            return new, idx
        return new, np.arange(self.energy.size)


def _roi_exposure_subset(expo, node_index, bin_slice, edisp):
    """Shallow copy of a `ROIExposure` restricted to some energy nodes and reconstructed bins."""
    new = copy.copy(expo)
    new.energy_true = expo.energy_true[node_index]
    new._aeff = expo._aeff[:, node_index]
    new._f1, new._f2 = expo._f1[node_index], expo._f2[node_index]
    if expo._containment is not None:
        subsets = []
        for cont in expo._containment:
            c = copy.copy(cont)
            c.table = cont.table[node_index]
            subsets.append(c)
        new._containment = subsets
    if edisp:
        new.energy_reco_edges = expo.energy_reco_edges[bin_slice.start : bin_slice.stop + 1]
        if expo._migration is not None:
            new._migration = expo._migration[..., bin_slice]
    return new


# --------------------------------------------------------------------------------------------
# model evaluation
# --------------------------------------------------------------------------------------------
def _spatial_key(model, psf, edisp):
    spatial = model.spatial_model
    values = tuple(float(p.value) for p in spatial.parameters)
    fingerprint = None
    if hasattr(spatial, "map"):
        data = spatial.map.data
        fingerprint = (getattr(spatial, "filename", None), data.shape, float(np.nansum(data)), str(spatial.map.unit))
    return (model.name, type(spatial).__name__, getattr(spatial, "frame", None), values, fingerprint, psf, edisp)


class _UnbinnedEvaluator:
    """Densities at the events and predicted counts per bin of one `SkyModel` on a dataset."""

    def __init__(self, model, dataset):
        if not isinstance(model, SkyModel):
            raise GammapyLATError(
                f"Model {model.name!r} ({type(model).__name__}) cannot be used on the unbinned dataset "
                f"{dataset.name!r}: only SkyModel components are supported"
            )
        if model.spatial_model is None:
            raise GammapyLATError(f"Model {model.name!r} has no spatial model: the unbinned likelihood needs one")
        if model.temporal_model is not None:
            raise GammapyLATError(
                f"Model {model.name!r} has a temporal model, which the unbinned dataset does not support "
                "(split the observation into time intervals instead)"
            )
        apply_irf = model.apply_irf
        if not apply_irf.get("exposure", True):
            raise GammapyLATError(f"Model {model.name!r}: apply_irf exposure=False is not supported by the unbinned dataset")
        self.model = model
        self.dataset = dataset
        self.psf = bool(apply_irf.get("psf", True))
        self.edisp = bool(apply_irf.get("edisp", True)) and dataset.apply_edisp
        spatial = model.spatial_model
        self.is_point = isinstance(spatial, PointSpatialModel)
        if self.is_point and not self.psf:
            raise GammapyLATError(f"Model {model.name!r}: a point source needs the PSF (apply_irf psf=True)")
        self.is_constant = isinstance(spatial, (ConstantSpatialModel, ConstantFluxSpatialModel))
        radius = None if self.is_point or self.is_constant else spatial.evaluation_radius
        self.is_compact = radius is not None and u.Quantity(radius, "deg") < _COMPACT_RADIUS
        self.energy_dependent = bool(getattr(spatial, "is_energy_dependent", False))
        self._rotation = None
        energy = 1 * u.GeV
        spec_unit = u.Unit(model.spectral_model(energy).unit)
        for unit in ("cm-2 s-1 MeV-1", ""):
            if spec_unit.is_equivalent(unit):
                spec_unit = u.Unit(unit)
                break
        self.spectral_unit = spec_unit
        if self.is_point:
            spat_unit = u.Unit("sr-1")
        else:
            center = dataset.center.transform_to(spatial.frame) if hasattr(spatial, "frame") else dataset.center
            lon, lat = center.spherical.lon, center.spherical.lat
            value = spatial(lon, lat, energy) if self.energy_dependent else spatial(lon, lat)
            spat_unit = u.Unit(value.unit)
        self.spatial_unit = spat_unit
        try:
            self.density_factor = float((spec_unit * spat_unit * u.cm**2).to(_DENSITY_UNIT))
            self.npred_factor = float((spec_unit * u.MeV * spat_unit * u.Unit("cm2 s sr")).to(""))
        except u.UnitConversionError as exc:
            raise GammapyLATError(
                f"Model {model.name!r}: spectral unit {spec_unit} times spatial unit {spat_unit} is not a "
                f"surface brightness (e.g. cm-2 s-1 MeV-1 sr-1): {exc}"
            ) from None

    # ---- spatial model sampling
    def intensity(self, vectors, energy_mev=None):
        """Spatial model (value in ``spatial_unit``) at ICRS unit vectors ``(..., 3)``."""
        spatial = self.model.spatial_model
        if self.is_constant:
            value = spatial(0 * u.deg, 0 * u.deg)
            return np.full(np.shape(vectors)[:-1], float(value.to_value(self.spatial_unit)))
        if self._rotation is None:
            self._rotation = frame_rotation("icrs", spatial.frame)
        vec = np.asarray(vectors) @ self._rotation.T
        lon, lat = vectors_to_lonlat(vec)
        if self.energy_dependent:
            shape = np.broadcast_shapes(lon.shape, np.shape(energy_mev))
            lon, lat = np.broadcast_to(lon, shape), np.broadcast_to(lat, shape)
            energy = np.broadcast_to(energy_mev, shape) * u.MeV
            value = spatial(lon * u.deg, lat * u.deg, energy)
        else:
            value = spatial(lon * u.deg, lat * u.deg)
        return np.asarray(u.Quantity(value).to_value(self.spatial_unit), float)

    def _source_grid(self):
        """Polar grid about the source: ICRS unit vectors (q, 3) and solid angles (sr)."""
        spatial = self.model.spatial_model
        center = spatial.position.icrs
        radius = u.Quantity(spatial.evaluation_radius, "rad").value
        radius = min(max(radius, 1e-4), np.pi / 2)
        r, wr = np.polynomial.legendre.leggauss(32)
        r = 0.5 * radius * (r + 1)
        wr = 0.5 * radius * wr
        npsi = 48
        psi = (np.arange(npsi) + 0.5) * 2 * np.pi / npsi
        c = unit_vectors(center.ra.deg, center.dec.deg)[None, :]
        helper = np.array([[0.0, 0.0, 1.0]]) if abs(c[0, 2]) < 0.9 else np.array([[1.0, 0.0, 0.0]])
        e1 = np.cross(helper, c)
        e1 /= np.linalg.norm(e1)
        e2 = np.cross(c, e1)
        ring = np.cos(psi)[:, None] * e1 + np.sin(psi)[:, None] * e2
        vec = np.cos(r)[:, None, None] * c[None] + np.sin(r)[:, None, None] * ring[None]
        weights = (wr * np.sin(r))[:, None] * np.full(npsi, 2 * np.pi / npsi)[None, :]
        return vec.reshape(-1, 3), weights.ravel()

    def _scale(self):
        """Angular scale (rad) of the source structure, for the choice of per-event grid."""
        return u.Quantity(self.model.spatial_model.evaluation_radius, "rad").value / 5.0

    # ---- cached responses
    def key(self):
        return _spatial_key(self.model, self.psf, self.edisp)

    def _compute_exposure(self):
        """Exposure of the model's spatial distribution per true-energy node (and bin)."""
        ds = self.dataset
        nodes = ds._nodes(self.edisp)
        expo = ds._roi_exposure(self.edisp)
        spatial = self.model.spatial_model
        if self.is_point:
            return expo.evaluate(spatial.position, psf=True)[0]
        if self.is_compact:
            points, solid_angle = self._source_grid()
            lon, lat = vectors_to_lonlat(points)
            coords = SkyCoord(lon, lat, unit="deg", frame="icrs")
            expo_points = expo.evaluate(coords, psf=self.psf)
        else:
            coords, solid_angle = ds._region_grid(self.psf, self.edisp)
            expo_points = ds._grid_exposure(self.edisp, self.psf)
            points = unit_vectors(coords.ra.deg, coords.dec.deg)
        if self.energy_dependent:
            values = self.intensity(points[:, None, :], nodes.energy[None, :])  # (q, nE)
            return np.einsum("qe,qe...->e...", values * solid_angle[:, None], expo_points)
        values = self.intensity(points)
        return np.tensordot(values * solid_angle, expo_points, axes=(0, 0))

    def _compute_events(self):
        """Response at each event (``(n,)``, or ``(n, m)`` true-energy kernels with dispersion)."""
        ds = self.dataset
        response = ds._event_response()
        spatial = self.model.spatial_model
        if self.is_point:
            position = spatial.position
            if self.edisp:
                energy_true, weight = ds._edisp_energies()
                events = response.point_source(position, energy_true) * response.edisp_kernel(position, energy_true)
                return events * weight
            return response.point_source(position)
        # extended and diffuse sources: the per-event response at the reconstructed energy
        points, solid_angle = self._source_grid() if self.is_compact else (None, None)
        events = self._event_values(response, points, solid_angle)
        if self.edisp:
            energy_true, weight = ds._edisp_energies()
            aeff_true = response.aeff_at_events(energy_true)
            aeff_reco = response.aeff_at_events()
            with np.errstate(invalid="ignore", divide="ignore"):
                ratio = np.where(aeff_reco[:, None] > 0, aeff_true / aeff_reco[:, None], 0.0)
            events = events[:, None] * ratio * response.edisp_kernel(None, energy_true) * weight
        return events

    def _event_values(self, response, points, solid_angle):
        ds = self.dataset
        geo = ds._geometry
        n = len(geo)
        column = ds._diffrsp_column(self.model) if self.psf else None
        if column is not None:
            return column * response.efficiency
        if not self.psf:
            vec = geo.direction
            return self.intensity(vec, geo.energy_mev) * response.aeff_at_events()
        intensity = self.intensity
        if self.is_compact:
            narrow = response.psf_radius(0.68) < self._scale()
            out = np.zeros(n)
            if np.any(narrow):
                out += response.integrate_around_events(intensity, mask=narrow)
            if np.any(~narrow):
                if self.energy_dependent:
                    def values(energy_mev):
                        return self.intensity(points[None, :, :], energy_mev)
                else:
                    values = self.intensity(points)
                out += response.integrate_over_points(points, solid_angle, values, mask=~narrow)
            return out
        return response.integrate_around_events(intensity)

    def events_response(self):
        key = self.key()
        cache = self.dataset._cache_events
        if key not in cache:
            cache[key] = self._compute_events()
        return cache[key]

    def exposure(self):
        key = self.key()
        cache = self.dataset._cache_exposure
        if key not in cache:
            cache[key] = self._compute_exposure()
        return cache[key]

    # ---- likelihood pieces
    def _flux(self):
        """Spectrum at the event energies and at the energy nodes, in one evaluation.

        Returns the flux at the events (``(n,)`` or ``(n, m)`` with dispersion) and at the nodes.
        """
        events = self.events_response()
        ds = self.dataset
        nodes = ds._nodes(self.edisp)
        key = ("flux_energies", events.ndim, self.edisp)
        energy = ds._event_shared.get(key)
        if energy is None:
            e_events = ds._geometry.energy_mev if events.ndim == 1 else ds._edisp_energies()[0].to_value("MeV").ravel()
            energy = u.Quantity(np.concatenate([e_events, nodes.energy]), "MeV")
            ds._event_shared[key] = energy
        flux = self.model.spectral_model(energy)
        flux = flux.to_value(self.spectral_unit) if flux.unit != self.spectral_unit else flux.value
        n = events.size
        return flux[:n].reshape(events.shape), flux[n:]

    def evaluate(self):
        """Density at each event (s-1 MeV-1 sr-1) and predicted counts per bin."""
        events = self.events_response()
        flux_events, flux_nodes = self._flux()
        density = flux_events * events
        if density.ndim == 2:
            density = density.sum(axis=1)
        npred = self.dataset._nodes(self.edisp).npred(flux_nodes, self.exposure())
        return density * self.density_factor, npred * self.npred_factor

    def density(self):
        """Density at each event (s-1 MeV-1 sr-1)."""
        return self.evaluate()[0]

    def npred(self):
        """Predicted counts per reconstructed-energy bin."""
        return self.evaluate()[1]


# --------------------------------------------------------------------------------------------
# the dataset
# --------------------------------------------------------------------------------------------
class UnbinnedLATDataset(Dataset):
    """LAT events in an acceptance cone with their unbinned likelihood (see the module docstring).

    Parameters
    ----------
    events : `~gammapy_lat.irf.unbinned.EventGeometry`
        The events: energies, directions, types and spacecraft attitude at their times.
    irfs : `~gammapy_lat.irf.LATIRFs`
        IRFs of the event types (with PSF, and energy dispersion when ``apply_edisp``).
    ltcube : `~gammapy_lat.livetime.LivetimeCube`
        Livetime cube of the observation, covering the cone and ``source_radius`` about it.
    center : `~astropy.coordinates.SkyCoord`
        Centre of the acceptance cone.
    radius : `~astropy.units.Quantity`
        Radius of the acceptance cone.
    energy_axis : `~gammapy.maps.MapAxis`
        Reconstructed-energy axis: its range is the energy selection of the events, its bins those
        of the energy masks, of `slice_by_energy` and of `counts`/`npred`.
    models : `~gammapy.modeling.models.Models`, optional
        Sky models.
    name : str, optional
        Dataset name.
    mask_safe, mask_fit : `~gammapy.maps.RegionNDMap`, optional
        Boolean masks over the energy bins; events in masked bins do not enter the likelihood.
    gti : `~gammapy.data.GTI`, optional
        Good time intervals.
    meta_table : `~astropy.table.Table`, optional
        Observation and response identification (``TELESCOP``, ``IRF``, ``EVTYPE``...).
    apply_edisp : bool
        Fold the energy dispersion into the densities and the predicted counts (default False,
        as gtlike ``UNBINNED``). Densities of extended sources then use the per-event spatial
        response at the reconstructed energy scaled by the effective area at each true energy.
    diffuse_responses : dict, optional
        Per-event responses read from ``DIFRSP`` columns: gtdiffrsp label -> values.
    irf_name : str, optional
        IRF name (for the gtdiffrsp labels); default ``irfs.irf_name``.
    caldb : str, optional
        CALDB location recorded when the dataset is written.
    options : dict, optional
        Accuracy settings: ``nodes_per_bin`` (3, true-energy nodes per bin without dispersion),
        ``edisp_per_decade`` (24), ``edisp_range`` (4, factor beyond the bin edges), ``n_edisp``
        (64, true-energy nodes of each event's dispersion integral), ``source_radius`` (radius of
        the region whose sources can send events into the cone, default radius + 10 deg),
        ``n_radial`` ((24, 32, 24)), ``n_azimuth`` (96), ``n_rho`` (32), ``n_psi`` (16).
    expmap : `~gammapy_lat.irf.UnbinnedExposureMap` or path, optional
        A gtexpmap file: the predicted counts of extended and diffuse sources (observed through
        the PSF, without energy dispersion) are then its pixel sums, as in gtlike, instead of the
        dataset's own quadrature about the cone.
    """

    tag = "UnbinnedLATDataset"

    _DEFAULT_OPTIONS = {
        "nodes_per_bin": 3,
        "edisp_per_decade": 24,
        "edisp_range": 4.0,
        "n_edisp": 64,
        "source_radius": None,
        "n_radial": (24, 32, 24),
        "n_azimuth": 96,
        "n_rho": 32,
        "n_psi": 16,
    }

    def __init__(
        self,
        events,
        irfs,
        ltcube,
        center,
        radius,
        energy_axis,
        models=None,
        name=None,
        mask_safe=None,
        mask_fit=None,
        gti=None,
        meta_table=None,
        apply_edisp=False,
        diffuse_responses=None,
        irf_name=None,
        caldb=None,
        options=None,
        expmap=None,
    ):
        self._name = make_name(name)
        self._geometry = events
        self.irfs = irfs
        self.ltcube = ltcube
        self.center = center.icrs
        self.radius = u.Quantity(radius, "deg")
        self.energy_axis = energy_axis.copy(name="energy")
        self.apply_edisp = bool(apply_edisp)
        self.gti = gti
        self.meta_table = meta_table
        self.irf_name = irf_name or irfs.irf_name
        self.caldb = caldb
        self.options = dict(self._DEFAULT_OPTIONS)
        self.options.update(options or {})
        self.diffuse_responses = dict(diffuse_responses or {})
        if expmap is not None and not isinstance(expmap, UnbinnedExposureMap):
            expmap = UnbinnedExposureMap.read(expmap)
        self.expmap = expmap
        self._cache_events = {}
        self._cache_exposure = {}
        # event-independent quantities (energy nodes, exposures, grids), shared with
        # `with_events` copies, and event-dependent ones
        self._shared = {}
        self._event_shared = {}
        self._response = None
        self._set_events(events)
        self.mask_safe = mask_safe
        self.mask_fit = mask_fit
        self._models = None
        self._evaluators = {}
        self.models = models

    # ------------------------------------------------------------------ basics
    def _set_events(self, events):
        """Set the events, their energy bins and the counts."""
        self._geometry = events
        geom = self._make_geom()
        edges = self.energy_axis.edges.to_value("MeV")
        energy = events.energy_mev
        inside = (energy >= edges[0]) & (energy <= edges[-1])
        if not np.all(inside):
            raise SelectionError(
                f"Dataset {self._name}: {np.count_nonzero(~inside)} event(s) outside the energy axis "
                f"{edges[0]:g}-{edges[-1]:g} MeV"
            )
        self._event_bin = np.clip(np.searchsorted(edges, energy, side="right") - 1, 0, len(edges) - 2)
        counts = np.bincount(self._event_bin, minlength=self.energy_axis.nbin).astype(float)
        self.counts = RegionNDMap.from_geom(geom, data=counts.reshape(geom.data_shape))

    def _make_geom(self):
        region = CircleSkyRegion(center=self.center, radius=self.radius.to("deg"))
        return RegionGeom.create(region, axes=[self.energy_axis])

    @property
    def stat_type(self):
        """Fit statistic: the unbinned Poisson likelihood (-2 log L)."""
        return "unbinned"

    @property
    def events(self):
        """The events (`~gammapy_lat.irf.unbinned.EventGeometry`)."""
        return self._geometry

    @property
    def _geom(self):
        return self.counts.geom

    @property
    def data_shape(self):
        return self.counts.data.shape

    @property
    def n_events(self):
        """Number of events (all energy bins)."""
        return len(self._geometry)

    def __str__(self):
        info = self.info_dict()
        lines = [
            f"{self.__class__.__name__}",
            "-" * len(self.__class__.__name__),
            "",
            f"  Name                : {self.name}",
            f"  Events              : {self.n_events} ({info['counts']} in the masks)",
            f"  Predicted           : {info['npred']:.2f}",
            f"  Cone                : ({self.center.ra.deg:.4f}, {self.center.dec.deg:.4f}) deg, r = {self.radius.to_value('deg'):g} deg",
            f"  Energy range        : {self.energy_axis.edges[0]:.4g} - {self.energy_axis.edges[-1]:.4g} ({self.energy_axis.nbin} bins)",
            f"  IRFs                : {self.irf_name} {self.irfs.event_types}",
            f"  Energy dispersion   : {self.apply_edisp}",
            f"  Models              : {[] if self.models is None else self.models.names}",
        ]
        if info.get("stat_sum") is not None:
            lines.append(f"  -2 log L            : {info['stat_sum']:.3f}")
        return "\n".join(lines)

    def _repr_html_(self):
        return f"<pre>{html.escape(str(self))}</pre>"

    # ------------------------------------------------------------------ models
    @property
    def models(self):
        """Models set on the dataset (`~gammapy.modeling.models.DatasetModels`)."""
        return self._models

    @models.setter
    def models(self, models):
        self._evaluators = {}
        if models is not None:
            models = DatasetModels(models).select(datasets_names=self.name)
            for model in models:
                self._evaluators[model.name] = _UnbinnedEvaluator(model, self)
        self._models = models

    @property
    def evaluators(self):
        """Per-model evaluators (densities at the events, predicted counts per bin)."""
        return self._evaluators

    # ------------------------------------------------------------------ responses
    def _event_response(self):
        if self._response is None:
            self._response = EventResponse(
                self.irfs, self._geometry, n_rho=self.options["n_rho"], n_psi=self.options["n_psi"]
            )
        return self._response

    def _nodes(self, edisp):
        key = ("nodes", edisp)
        if key not in self._shared:
            self._shared[key] = _EnergyNodes(
                self.energy_axis.edges,
                edisp,
                nodes_per_bin=self.options["nodes_per_bin"],
                edisp_range=self.options["edisp_range"],
                per_decade=self.options["edisp_per_decade"],
            )
        return self._shared[key]

    def _source_radius(self):
        value = self.options.get("source_radius")
        return self.radius + 10 * u.deg if value is None else u.Quantity(value, "deg")

    def _roi_exposure(self, edisp):
        key = ("exposure", edisp)
        if key not in self._shared:
            nodes = self._nodes(edisp)
            self._shared[key] = ROIExposure(
                self.irfs,
                self.ltcube,
                self.center,
                self.radius,
                nodes.energy * u.MeV,
                energy_reco_edges=self.energy_axis.edges if edisp else None,
                source_radius=self._source_radius(),
            )
        return self._shared[key]

    def _use_expmap(self, edisp, psf):
        return self.expmap is not None and psf and not edisp

    def _region_grid(self, psf, edisp=False):
        key = ("grid", psf, self._use_expmap(edisp, psf))
        if key not in self._shared and key[-1]:
            self._shared[key] = (self.expmap.pixel_coords(), self.expmap.solid_angles())
        if key not in self._shared:
            expo = self._roi_exposure(False)
            self._shared[key] = expo.region_grid(
                psf=psf, n_radial=tuple(self.options["n_radial"]), n_azimuth=int(self.options["n_azimuth"])
            )
        return self._shared[key]

    def _grid_exposure(self, edisp, psf):
        key = ("grid_exposure", edisp, psf)
        if key not in self._shared and self._use_expmap(edisp, psf):
            self._shared[key] = self.expmap.interp_energy(self._nodes(edisp).energy * u.MeV).T
        if key not in self._shared:
            coords, _ = self._region_grid(psf)
            self._shared[key] = self._roi_exposure(edisp).evaluate(coords, psf=psf)
        return self._shared[key]

    def _edisp_energies(self):
        """True energies ``(n, m)`` of each event's dispersion integral and their weights (dE)."""
        key = ("edisp_energies",)
        if key not in self._event_shared:
            m = int(self.options["n_edisp"])
            lnr = np.log(float(self.options["edisp_range"]))
            x = np.linspace(-lnr, lnr, m)
            w = np.full(m, x[1] - x[0])
            w[[0, -1]] *= 0.5
            energy = self._geometry.energy_mev[:, None] * np.exp(x)[None, :]
            self._event_shared[key] = (energy * u.MeV, w[None, :] * energy)
        return self._event_shared[key]

    def _diffrsp_column(self, model):
        """gtdiffrsp column of a model (efficiency not included), if the events carry one."""
        if not self.diffuse_responses:
            return None
        label = diffuse_response_label(self.irf_name, model.name)
        values = self.diffuse_responses.get(label)
        if values is None:
            return None
        if any(not p.frozen for p in model.spatial_model.parameters):
            return None
        scale = 1.0
        if isinstance(model.spatial_model, ConstantSpatialModel):
            scale = float(model.spatial_model.value.quantity.to_value("sr-1"))
        log.info(f"Dataset {self.name}: using the diffuse-response column {label!r} for model {model.name!r}")
        return np.asarray(values, float) * scale

    def diffuse_responses_of(self, models=None):
        """Per-event diffuse responses of the non-point models (gtdiffrsp), efficiency excluded.

        Parameters
        ----------
        models : `~gammapy.modeling.models.Models`, optional
            Default: the dataset's models.

        Returns
        -------
        responses : dict
            Model name -> values (in the unit of the spatial model times cm2).
        """
        models = self.models if models is None else DatasetModels(models)
        response = self._event_response()
        out = {}
        for model in models:
            if isinstance(model.spatial_model, PointSpatialModel) or model.spatial_model is None:
                continue
            evaluator = _UnbinnedEvaluator(model, self)
            if not evaluator.psf:
                values = evaluator._event_values(response, None, None)
            elif evaluator.is_compact:
                points, solid_angle = evaluator._source_grid()
                values = evaluator._event_values(response, points, solid_angle)
            else:
                values = response.integrate_around_events(evaluator.intensity)
            out[model.name] = values / response.efficiency
        return out

    # ------------------------------------------------------------------ likelihood
    @property
    def _bin_mask(self):
        mask = self.mask
        if mask is None:
            return np.ones(self.energy_axis.nbin, dtype=bool)
        return np.asarray(mask.data, dtype=bool).reshape(-1)

    def density(self, model_names=None):
        """Total density at each event (s-1 MeV-1 sr-1) of the models (default all)."""
        total = np.zeros(self.n_events)
        for name, evaluator in self._evaluators.items():
            if model_names is None or name in model_names:
                total += evaluator.density()
        return total

    def stat_sum(self):
        """-2 log L of the events in the masks (unbinned extended Poisson likelihood)."""
        bins = self._bin_mask
        if not np.any(bins):
            return 0.0
        npred = np.zeros(self.energy_axis.nbin)
        density = np.zeros(self.n_events)
        for evaluator in self._evaluators.values():
            dens, counts = evaluator.evaluate()
            density += dens
            npred += counts
        # as Gammapy's cash statistic: a negative prediction counts as (almost) zero
        npred = np.sum(np.maximum(npred[bins], _NPRED_TRUNCATION))
        use = bins[self._event_bin]
        if not np.any(use):
            return float(2 * npred)
        density = density[use]
        with np.errstate(divide="ignore"):
            log_density = np.log(np.maximum(density, 1e-300))
        return float(2 * (npred - np.sum(log_density)))

    def _stat_sum_likelihood(self):
        return self.stat_sum()

    def stat_array(self):
        """-2 log of the density of each event (the data term of `stat_sum`)."""
        return -2 * np.log(np.maximum(self.density(), 1e-300))

    def npred_signal(self, model_names=None, stack=True):
        """Predicted counts per energy bin of the models (stacked, or with a ``models`` axis)."""
        evaluators = self._evaluators
        if model_names is not None:
            if isinstance(model_names, str):
                model_names = [model_names]
            evaluators = {name: self._evaluators[name] for name in model_names}
        geom = self._geom
        if stack:
            total = np.zeros(self.energy_axis.nbin)
            for evaluator in evaluators.values():
                total += evaluator.npred()
            return RegionNDMap.from_geom(geom, data=total.reshape(geom.data_shape))
        maps = [RegionNDMap.from_geom(geom, data=e.npred().reshape(geom.data_shape)) for e in evaluators.values()]
        if not maps:
            return RegionNDMap.from_geom(geom, data=0.0)
        return Map.from_stack(maps, axis=LabelMapAxis(list(evaluators), name="models"))

    def npred(self):
        """Predicted counts per energy bin of all models."""
        return self.npred_signal()

    def info_dict(self, in_safe_data_range=True):
        """Summary: counts, predicted counts, livetime and fit statistic."""
        mask = self.mask_safe.data.reshape(-1).astype(bool) if (self.mask_safe is not None and in_safe_data_range) else slice(None)
        counts = self.counts.data.reshape(-1)[mask].sum()
        info = {"name": self.name, "counts": int(counts), "n_events": self.n_events}
        npred = np.nan
        if self.models:
            npred = float(self.npred().data.reshape(-1)[mask].sum())
        info["npred"] = npred
        info["excess"] = np.nan
        info["background"] = np.nan
        livetime = np.nan
        if self.meta_table is not None and "LIVETIME" in self.meta_table.colnames:
            livetime = float(self.meta_table["LIVETIME"][0])
        info["livetime"] = livetime * u.s
        info["stat_sum"] = self.stat_sum() if self.models else None
        return info

    # ------------------------------------------------------------------ slicing and copies
    def _derived(self, event_mask, bin_slice, name):
        """New dataset of a subset of the events and energy bins, sharing the responses."""
        new = copy.copy(self)
        new._name = name
        new._geometry = self._geometry.select(event_mask)
        new.energy_axis = self.energy_axis.slice(bin_slice)
        new._event_bin = self._event_bin[event_mask] - bin_slice.start
        geom = new._make_geom()
        counts = np.bincount(new._event_bin, minlength=new.energy_axis.nbin).astype(float)
        new.counts = RegionNDMap.from_geom(geom, data=counts.reshape(geom.data_shape))
        for attr in ("mask_safe", "mask_fit"):
            mask = getattr(self, attr)
            if mask is not None:
                data = np.asarray(mask.data, bool).reshape(-1)[bin_slice]
                setattr(new, attr, RegionNDMap.from_geom(geom, data=data.reshape(geom.data_shape), dtype=bool))
        new.diffuse_responses = {k: v[event_mask] for k, v in self.diffuse_responses.items()}
        new._response = None
        if self._response is not None:
            resp = copy.copy(self._response)
            resp.geometry = new._geometry
            resp.efficiency = self._response.efficiency[event_mask]
            resp.event_costheta = self._response.event_costheta[event_mask]
            new._response = resp
        # energy nodes, exposures and cached responses restricted to the slice
        shared = {}
        node_index = {}
        for key, value in self._shared.items():
            if key[0] == "nodes":
                shared[key], node_index[key[1]] = value.subset(bin_slice)
        for key, value in self._shared.items():
            kind = key[0]
            if kind == "exposure":
                edisp = key[1]
                if ("nodes", edisp) in node_index:
                    shared[key] = _roi_exposure_subset(value, node_index[edisp], bin_slice, edisp)
            elif kind == "grid":
                shared[key] = value
            elif kind == "grid_exposure":
                edisp = key[1]
                if edisp in node_index:
                    values = value[:, node_index[edisp]]
                    shared[key] = values[..., bin_slice] if edisp else values
        new._shared = shared
        new._event_shared = {}
        if ("edisp_energies",) in self._event_shared:
            energy, weight = self._event_shared[("edisp_energies",)]
            new._event_shared[("edisp_energies",)] = (energy[event_mask], weight[event_mask])
        new._cache_events = {key: value[event_mask] for key, value in self._cache_events.items()}
        cache = {}
        for key, value in self._cache_exposure.items():
            edisp = key[-1]
            if edisp in node_index:
                exposure = value[node_index[edisp]]
                cache[key] = exposure[..., bin_slice] if edisp else exposure
        new._cache_exposure = cache
        new._models = None
        new._evaluators = {}
        new.models = None
        return new

    def slice_by_energy(self, energy_min=None, energy_max=None, name=None):
        """Dataset of the energy bins inside ``[energy_min, energy_max]`` and their events.

        The responses computed so far are shared, restricted to the bins.
        """
        name = make_name(name)
        axis = self.energy_axis
        energy_min = axis.bounds[0] if energy_min is None else u.Quantity(energy_min)
        energy_max = axis.bounds[1] if energy_max is None else u.Quantity(energy_max)
        group = axis.group_table(edges=[energy_min, energy_max])
        group = group[group["bin_type"] == "normal   "]
        if len(group) == 0:
            raise ValueError(f"Dataset {self.name}: no energy bin in {energy_min} - {energy_max}")
        bin_slice = slice(int(group["idx_min"][0]), int(group["idx_max"][0]) + 1)
        in_bins = (self._event_bin >= bin_slice.start) & (self._event_bin < bin_slice.stop)
        return self._derived(in_bins, bin_slice, name)

    def copy(self, name=None):
        """Copy sharing the (read-only) responses and caches; models are not copied."""
        new = self._derived(np.ones(self.n_events, dtype=bool), slice(0, self.energy_axis.nbin), make_name(name))
        return new

    def with_events(self, events, spacecraft=None, name=None, use_diffrsp=True):
        """The same dataset (cone, energy axis, IRFs, livetime cube and exposures) with other events.

        The exposures and predicted counts computed so far are kept; the per-event responses are
        computed again. This makes repeated fits of simulated realisations cheap.

        Parameters
        ----------
        events : `~gammapy_lat.data.LATEventList` or `~gammapy_lat.irf.unbinned.EventGeometry`
            New events; an event list is cut to the cone and the energy range, and needs the
            spacecraft data for the attitude at the event times.
        spacecraft : `~gammapy_lat.data.SpacecraftData`, optional
            Spacecraft data of an event list.
        name : str, optional
            Name of the new dataset (default: a new unique name).
        use_diffrsp : bool
            Use the ``DIFRSP`` columns of an event list.

        Returns
        -------
        dataset : `UnbinnedLATDataset`
        """
        responses = {}
        if not isinstance(events, EventGeometry):
            if spacecraft is None:
                raise GammapyLATError("with_events: an event list needs the spacecraft data (spacecraft=)")
            edges = self.energy_axis.edges.to("MeV")
            events = events.select(
                ra=self.center.ra.deg, dec=self.center.dec.deg, rad=self.radius.to_value("deg"),
                emin=edges[0], emax=edges[-1], allow_empty=True,
            )
            responses = read_diffuse_responses(events) if use_diffrsp else {}
            events = EventGeometry.from_events(events, spacecraft, self.irfs)
        new = copy.copy(self)
        new._name = make_name(name)
        new._set_events(events)
        new.diffuse_responses = responses
        new._response = None
        new._cache_events = {}
        # exposures do not depend on the events: shared (not copied) with this dataset
        new._cache_exposure = self._cache_exposure
        new._shared = self._shared
        new._event_shared = {}
        new._models = None
        new._evaluators = {}
        new.models = None
        return new

    def select_events(self, mask, name=None):
        """Dataset of a subset of the events (all energy bins), sharing the responses."""
        mask = np.asarray(mask)
        if mask.dtype != bool:
            full = np.zeros(self.n_events, dtype=bool)
            full[mask] = True
            mask = full
        return self._derived(mask, slice(0, self.energy_axis.nbin), make_name(name))

    # ------------------------------------------------------------------ creation and I/O
    @classmethod
    def create(cls, energy_axis, center, radius, name=None):
        """Empty reference dataset for `UnbinnedLATDatasetMaker`: the cone and the energy axis."""
        return _UnbinnedReference(energy_axis, center, radius, name=make_name(name))

    def to_hdulist(self):
        """FITS HDUs: events with their attitude, energy masks, livetime cube, GTIs and meta data."""
        geo = self._geometry
        ra, dec = vectors_to_lonlat(geo.direction)
        zra, zdec = vectors_to_lonlat(geo.scz)
        xra, xdec = vectors_to_lonlat(geo.scx)
        cols = [
            fits.Column("ENERGY", "D", unit="MeV", array=geo.energy_mev),
            fits.Column("RA", "D", unit="deg", array=ra),
            fits.Column("DEC", "D", unit="deg", array=dec),
            fits.Column("TIME", "D", unit="s", array=geo.time if geo.time is not None else np.full(len(geo), np.nan)),
            fits.Column("TYPE_INDEX", "I", array=geo.type_index),
            fits.Column("RA_SCZ", "D", unit="deg", array=zra),
            fits.Column("DEC_SCZ", "D", unit="deg", array=zdec),
            fits.Column("RA_SCX", "D", unit="deg", array=xra),
            fits.Column("DEC_SCX", "D", unit="deg", array=xdec),
            fits.Column("LIVE_FRACTION", "D", array=geo.live_fraction),
        ]
        labels = list(self.diffuse_responses)
        for i, label in enumerate(labels):
            cols.append(fits.Column(f"DIFRSP{i}", "D", array=self.diffuse_responses[label]))
        events = fits.BinTableHDU.from_columns(cols, name="EVENTS")
        hdr = events.header
        hdr["NDIFRSP"] = len(labels)
        for i, label in enumerate(labels):
            hdr[f"DIFRSP{i}"] = label
        primary = fits.PrimaryHDU()
        ph = primary.header
        ph["DSTYPE"] = (self.tag, "dataset type")
        ph["NAME"] = self.name
        ph["IRF"] = (self.irf_name, "IRF name")
        ph["EVTYPES"] = (",".join(self.irfs.event_types), "event types, in TYPE_INDEX order")
        ph["CALDB"] = (str(self.caldb) if self.caldb else "", "CALDB the IRFs were read from")
        ph["RA_ROI"] = (self.center.ra.deg, "acceptance cone centre RA (deg)")
        ph["DEC_ROI"] = (self.center.dec.deg, "acceptance cone centre Dec (deg)")
        ph["RAD_ROI"] = (self.radius.to_value("deg"), "acceptance cone radius (deg)")
        ph["EDISP"] = (self.apply_edisp, "energy dispersion applied")
        for key, value in self.options.items():
            if value is not None:
                ph[f"HIERARCH OPT {key.upper()}"] = str(value)
        hdulist = fits.HDUList([primary, events])
        hdulist += self.counts.to_hdulist(hdu="COUNTS")[1:]
        for attr, hdu in (("mask_safe", "MASK_SAFE"), ("mask_fit", "MASK_FIT")):
            mask = getattr(self, attr)
            if mask is not None:
                m = RegionNDMap.from_geom(self._geom, data=np.asarray(mask.data, np.int16))
                hdulist += m.to_hdulist(hdu=hdu)[1:]
        edges = fits.BinTableHDU.from_columns(
            [fits.Column("E_EDGE", "D", unit="MeV", array=self.energy_axis.edges.to_value("MeV"))], name="ENERGY_EDGES"
        )
        hdulist.append(edges)
        hdulist.append(_ltcube_hdu(self.ltcube))
        if self.expmap is not None:
            em = self.expmap.to_hdulist()
            image = fits.ImageHDU(data=em[0].data, header=em[0].header, name="EXPMAP")
            hdulist += [image, fits.BinTableHDU(em[1].data, header=em[1].header, name="EXPMAP_ENERGIES")]
        if self.gti is not None:
            hdulist.append(self.gti.to_table_hdu())
        if self.meta_table is not None:
            hdulist.append(fits.table_to_hdu(self.meta_table))
            hdulist[-1].name = "META_TABLE"
        return hdulist

    def write(self, filename, overwrite=False, checksum=False):
        """Write to a FITS file (atomically); the IRFs are referenced by name and CALDB."""
        write_fits_atomic(self.to_hdulist(), filename, overwrite=overwrite, checksum=checksum)

    @classmethod
    def read(cls, filename, name=None, caldb=None, checksum=False):
        """Read a dataset written by `write`; the IRFs are loaded from ``caldb`` (default: the recorded
        CALDB, else ``$CALDB``)."""

        path = Path(filename)
        try:
            hdulist = fits.open(path, memmap=False, checksum=checksum)
        except OSError as exc:
            raise LATFileError(f"Unbinned dataset {path}: cannot read ({exc})") from exc
        with hdulist:
            ph = hdulist[0].header
            if ph.get("DSTYPE") != cls.tag:
                raise LATFileError(f"{path} is not an {cls.tag} file (DSTYPE={ph.get('DSTYPE')!r})")
            caldb = caldb or (ph.get("CALDB") or None)
            types = [t for t in str(ph["EVTYPES"]).split(",") if t]
            irfs = LATIRFs.from_caldb(ph["IRF"], types, caldb=caldb, edisp=bool(ph["EDISP"]))
            if irfs.event_types != types:
                raise LATFileError(f"{path}: event types {types} reloaded as {irfs.event_types}")
            ev = hdulist["EVENTS"].data
            geometry = EventGeometry(
                np.asarray(ev["ENERGY"], float) * u.MeV,
                unit_vectors(ev["RA"], ev["DEC"]),
                np.asarray(ev["TYPE_INDEX"], int),
                unit_vectors(ev["RA_SCZ"], ev["DEC_SCZ"]),
                unit_vectors(ev["RA_SCX"], ev["DEC_SCX"]),
                np.asarray(ev["LIVE_FRACTION"], float),
                np.asarray(ev["TIME"], float),
            )
            eh = hdulist["EVENTS"].header
            responses = {str(eh[f"DIFRSP{i}"]): np.asarray(ev[f"DIFRSP{i}"], float) for i in range(int(eh.get("NDIFRSP", 0)))}
            energy_axis = MapAxis.from_energy_edges(
                np.asarray(hdulist["ENERGY_EDGES"].data["E_EDGE"], float) * u.MeV, name="energy"
            )
            center = SkyCoord(ph["RA_ROI"], ph["DEC_ROI"], unit="deg")
            region = CircleSkyRegion(center=center, radius=ph["RAD_ROI"] * u.deg)
            geom = RegionGeom.create(region, axes=[energy_axis])
            masks = {}
            for attr, hdu in (("mask_safe", "MASK_SAFE"), ("mask_fit", "MASK_FIT")):
                if hdu in hdulist:
                    m = RegionNDMap.from_hdulist(hdulist, hdu=hdu)
                    masks[attr] = RegionNDMap.from_geom(geom, data=m.data.astype(bool), dtype=bool)
            ltcube = _ltcube_from_hdu(hdulist["LTCUBE"], path)
            expmap = None
            if "EXPMAP" in hdulist:
                em = fits.HDUList([fits.PrimaryHDU(data=hdulist["EXPMAP"].data, header=hdulist["EXPMAP"].header),
                                   fits.BinTableHDU(hdulist["EXPMAP_ENERGIES"].data, name="ENERGIES")])
                expmap = UnbinnedExposureMap.from_hdulist(em, source=path)
            gti = GTI.from_table_hdu(hdulist["GTI"]) if "GTI" in hdulist else None
            meta = Table.read(hdulist["META_TABLE"]) if "META_TABLE" in hdulist else None
            options = {}
            for key, default in cls._DEFAULT_OPTIONS.items():
                card = f"OPT {key.upper()}"
                if card in ph:
                    options[key] = _parse_option(ph[card], default)
        return cls(
            geometry,
            irfs,
            ltcube,
            center,
            ph["RAD_ROI"] * u.deg,
            energy_axis,
            name=name or ph.get("NAME"),
            gti=gti,
            meta_table=meta,
            apply_edisp=bool(ph["EDISP"]),
            diffuse_responses=responses,
            irf_name=ph["IRF"],
            caldb=caldb,
            options=options,
            expmap=expmap,
            **masks,
        )


def _parse_option(text, default):
    text = str(text)
    if isinstance(default, tuple):
        return tuple(int(v) for v in text.strip("()").split(",") if v.strip())
    if isinstance(default, int):
        return int(text)
    if isinstance(default, float):
        return float(text)
    try:
        return u.Quantity(text)
    except (TypeError, ValueError):
        return float(text)


def _ltcube_hdu(ltcube):
    """Compact HDU of a (partial) livetime cube: one row per HEALPix pixel with livetime."""
    live = ltcube.livetime.to_value("s")
    wlive = ltcube.weighted_livetime.to_value("s")
    keep = np.flatnonzero(live.sum(axis=1) > 0)
    pixels = ltcube.pixel_indices[keep]
    nbins = ltcube.nbins
    cols = [
        fits.Column("PIXEL", "K", array=pixels),
        fits.Column("LIVETIME", f"{nbins}D", unit="s", array=live[keep]),
        fits.Column("WEIGHTED_LIVETIME", f"{nbins}D", unit="s", array=wlive[keep]),
    ]
    hdu = fits.BinTableHDU.from_columns(cols, name="LTCUBE")
    h = hdu.header
    h["NSIDE"] = ltcube.nside
    h["ORDERING"] = "NESTED" if ltcube.nest else "RING"
    h["FRAME"] = ltcube.frame
    h["BINNING"] = ltcube.binning
    h["ZMAX"] = -1.0 if ltcube.zmax is None else ltcube.zmax.to_value("deg")
    for i, edge in enumerate(ltcube.costheta_edges):
        h[f"CTH{i}"] = float(edge)
    return hdu


def _ltcube_from_hdu(hdu, path):
    h = hdu.header
    try:
        nside = int(h["NSIDE"])
        nbins = int(hdu.columns["LIVETIME"].format[:-1])
        edges = np.array([h[f"CTH{i}"] for i in range(nbins + 1)], float)
    except KeyError as exc:
        raise LATFileError(f"Unbinned dataset {path}: LTCUBE lacks {exc}") from None
    pixels = np.asarray(hdu.data["PIXEL"], np.int64)
    live = np.asarray(hdu.data["LIVETIME"], float).reshape(len(pixels), nbins)
    wlive = np.asarray(hdu.data["WEIGHTED_LIVETIME"], float).reshape(len(pixels), nbins)
    zmax = float(h.get("ZMAX", -1))
    return LivetimeCube(
        live * u.s,
        wlive * u.s,
        edges,
        nside,
        nest=str(h["ORDERING"]).upper() == "NESTED",
        frame=str(h["FRAME"]),
        zmax=None if zmax < 0 else zmax * u.deg,
        binning=str(h["BINNING"]),
        pixels=pixels,
    )


class _UnbinnedReference:
    """Cone and energy axis of an unbinned dataset to be made (see `UnbinnedLATDataset.create`)."""

    def __init__(self, energy_axis, center, radius, name):
        if energy_axis.name not in ("energy", "energy_true"):
            raise ValueError(f"The energy axis must be named 'energy', got {energy_axis.name!r}")
        self.energy_axis = energy_axis.copy(name="energy")
        self.center = center
        self.radius = u.Quantity(radius, "deg")
        self.name = name

    def __repr__(self):
        return (
            f"UnbinnedLATDataset reference {self.name!r}: cone ({self.center.icrs.ra.deg:.4f}, "
            f"{self.center.icrs.dec.deg:.4f}) r={self.radius}, energy {self.energy_axis.edges[0]:.4g}-"
            f"{self.energy_axis.edges[-1]:.4g}"
        )


# --------------------------------------------------------------------------------------------
# the maker
# --------------------------------------------------------------------------------------------
