"""IACT quick-look analysis: everything a shift analyst needs the morning after an alert.

From a DL3 data store and a target, `QuickLook` selects the runs (printing zenith, duration and
quality), makes the θ² plot with the Li & Ma significance, significance and excess maps (ring or
adaptive ring on the DL3 background IRF, a model built from OFF runs, or one built from the ON
runs with the target excluded when the DL3 files have no background), a 1D spectrum with
reflected (or wobble) OFF regions and the energy-dependent ``RAD_MAX`` of point-like IRFs,
run-wise and intra-night light curves, and a Markdown/HTML page with all of it.
"""
import json
import logging
import time
from pathlib import Path
from typing import Literal, Optional

import astropy.units as u
import gammapy
import numpy as np
from astropy.coordinates import Angle, SkyCoord
from gammapy.data import DataStore
from gammapy.datasets import Datasets, MapDataset, MapDatasetOnOff, SpectrumDataset
from gammapy.estimators import ExcessMapEstimator, FluxPointsEstimator, LightCurveEstimator
from gammapy.makers import (
    MapDatasetMaker,
    ReflectedRegionsBackgroundMaker,
    ReflectedRegionsFinder,
    SafeMaskMaker,
    SpectrumDatasetMaker,
    WobbleRegionsFinder,
)
from gammapy.maps import MapAxis, RegionGeom, WcsGeom
from gammapy.modeling import Fit
from gammapy.modeling.models import (
    LogParabolaSpectralModel,
    Models,
    PowerLawSpectralModel,
    SkyModel,
    create_crab_spectral_model,
)
from pydantic import Field, ValidationError
from regions import CircleSkyRegion, PointSkyRegion
from scipy.stats import chi2 as chi2_dist

from .. import __version__
from ..errors import ConfigError, GammapyLATError, LATFileError, SelectionError
from ..utils import atomic_output, write_fits_atomic
from ..utils.config import AngleType, BaseConfig, DurationType, EnergyType, SolidAngleType
from ..utils.io import write_models
from .background import DEFAULT_ZENITH_EDGES, BackgroundModelMaker
from .page import Section, write_page
from .plotting import (
    plot_counts_spectrum,
    plot_light_curves,
    plot_sed,
    plot_significance_distribution,
    plot_sky_maps,
    plot_theta2,
)
from .ring import AdaptiveRingBackgroundMaker, RingBackgroundMaker
from .runs import parse_runs, select_runs
from .targets import resolve_target
from .theta2 import make_theta2
from .timesplit import split_observations

__all__ = ["QuickLook", "QuickLookConfig", "open_datastore", "default_outdir"]

log = logging.getLogger(__name__)

#: obs-index values marking OFF (empty-field) runs
OFF_TAGS = ("off", "offdata", "off data", "off run", "empty field")


class QuickLookConfig(BaseConfig):
    """Settings of a quick-look analysis (the defaults suit a first look at a point source)."""

    datastore: str
    target: str
    date: Optional[str] = None
    runs: Optional[str] = None
    outdir: Optional[str] = None
    # run selection
    max_offset: AngleType = "2.5 deg"
    zenith_max: AngleType = "60 deg"
    min_livetime: DurationType = "5 min"
    quality_max: Optional[int] = 1
    # energies (reconstructed); energy_min None: the highest of the runs' safe thresholds
    energy_min: Optional[EnergyType] = None
    energy_max: EnergyType = "100 TeV"
    aeff_percent: float = Field(10, gt=0, lt=100)
    # θ²
    theta_cut: Optional[AngleType] = None
    theta2_max: SolidAngleType = "0.2 deg2"
    n_off: int = Field(3, ge=1)
    # sky maps
    maps: bool = True
    background: Literal["auto", "dl3", "off_runs", "self"] = "auto"
    off_runs: Optional[str] = None
    # model from OFF/ON runs: 2d (Alt/Az-aligned) where Gammapy can use it, else radial
    background_model: Literal["auto", "radial", "2d"] = "auto"
    ring: Literal["ring", "adaptive_ring"] = "ring"
    map_width: AngleType = "4 deg"
    map_binsz: AngleType = "0.02 deg"
    ring_r_in: AngleType = "0.5 deg"
    ring_width: AngleType = "0.3 deg"
    exclusion_radius: AngleType = "0.3 deg"
    # largest offset of the map pixels used; None: 2 deg, or less where a background model from
    # OFF or ON runs falls below 20 % of its peak (small cameras)
    offset_max: Optional[AngleType] = None
    # spectrum
    spectrum: bool = True
    spectral_model: Literal["pl", "lp"] = "pl"
    # light curves
    light_curve: bool = True
    time_bin: Optional[DurationType] = "10 min"


def open_datastore(path):
    """`~gammapy.data.DataStore` from a folder with ``hdu-index``/``obs-index`` (or its ``data``
    sub-folder), or an index file."""

    path = Path(path).expanduser()
    if path.is_file():
        return DataStore.from_file(path)
    for folder in (path, path / "data"):
        if any((folder / n).exists() for n in ("hdu-index.fits.gz", "hdu-index.fits")):
            return DataStore.from_dir(folder)
    if not path.exists():
        raise LATFileError(f"DL3 data store not found: {path}")
    raise LATFileError(f"{path}: no hdu-index.fits[.gz] (not a GADF DL3 data store)")


def default_outdir(target, date=None, runs=None):
    """``quicklook-<target>[-<night>]``."""
    name = f"quicklook-{target.slug}"
    if date:
        name += "-" + date.replace("/", "_")
    elif runs:
        name += f"-runs{runs[0]}" + (f"-{runs[-1]}" if len(runs) > 1 else "")
    return Path(name)


class _CachedRegionsFinder:
    """A Gammapy regions finder remembering its OFF regions per pointing: the pieces of a run
    split in time share the run's pointing and OFF regions."""

    def __init__(self, finder):
        self.finder = finder
        self._cache = {}

    def run(self, region, center, exclusion_mask=None):
        key = (round(center.icrs.ra.deg, 9), round(center.icrs.dec.deg, 9))
        if key not in self._cache:
            self._cache[key] = self.finder.run(region=region, center=center, exclusion_mask=exclusion_mask)
        return self._cache[key]


def _altaz_usable(observation):
    """Whether an Alt/Az-aligned 2D background model can be made for the run (observatory
    location known)."""
    return observation.observatory_earth_location is not None


def _is_pointlike(observation):
    try:
        return bool(observation.aeff.is_pointlike)
    except Exception:  # no or unreadable aeff
        return False


def _safe_threshold(observation, position, percent):
    """Lowest true energy where the effective area at the target offset exceeds ``percent`` %
    of its maximum (Gammapy's ``aeff-max`` definition)."""

    axis = MapAxis.from_energy_bounds("5 GeV", "200 TeV", nbin=40, per_decade=True, name="energy_true")
    offset = observation.get_pointing_icrs(observation.tmid).separation(position)
    kwargs = {"energy_true": axis.center}
    if "offset" in observation.aeff.axes.names:
        kwargs["offset"] = offset
    values = observation.aeff.evaluate(**kwargs).value
    above = np.nonzero(values > percent / 100 * np.nanmax(values))[0]
    return axis.center[above[0]] if len(above) else axis.center[0]


class QuickLook:
    """Quick-look analysis of one target (see the module docstring).

    Parameters
    ----------
    config : `QuickLookConfig` or dict
        Settings.
    overwrite : bool
        Replace the products of an earlier run in the output folder.

    Examples
    --------
    >>> from gammapy_lat.iact import QuickLook
    >>> ql = QuickLook({"datastore": "hess-dl3-dr1", "target": "PKS 2155-304",
    ...                 "date": "2006-07-29"})  # doctest: +SKIP
    >>> ql.run()  # doctest: +SKIP
    """

    def __init__(self, config, overwrite=False):
        if isinstance(config, dict):

            try:
                config = QuickLookConfig(**config)
            except ValidationError as exc:
                msg = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
                raise ConfigError(f"quicklook settings: {msg}") from None
        self.config = config
        self.overwrite = overwrite
        self.summary = {}
        self.products = []
        self.sections = []
        self.timing = {}

    # ------------------------------------------------------------------ helpers
    def _path(self, name):
        path = self.outdir / name
        self.products.append(path)
        return path

    def _write_table(self, table, name):
        path = self._path(name)
        with atomic_output(path, overwrite=True) as tmp:
            table.write(tmp, format="ascii.ecsv", overwrite=True)
        return path

    def _title(self, what):
        return f"{self.target.name} — {what}"

    # ------------------------------------------------------------------ steps
    def select(self):
        """Data store, target and run selection (``runs.ecsv``, ``runs.txt``)."""
        cfg = self.config
        self.datastore = open_datastore(cfg.datastore)
        self.target = resolve_target(cfg.target, self.datastore.obs_table)
        runs = parse_runs(cfg.runs, self.datastore.obs_table["OBS_ID"]) if cfg.runs else None
        self.selection = select_runs(
            self.datastore, self.target, runs=runs, date=cfg.date, max_offset=cfg.max_offset,
            zenith_max=cfg.zenith_max, min_livetime=cfg.min_livetime, quality_max=cfg.quality_max,
            required_irf=["aeff", "edisp"],
        )
        self.outdir = Path(cfg.outdir) if cfg.outdir else default_outdir(self.target, cfg.date, runs)
        marker = self.outdir / "quicklook.json"
        if marker.exists() and not self.overwrite:
            raise FileExistsError(f"{self.outdir} holds an earlier quick-look; pass --clobber to replace it")
        self.outdir.mkdir(parents=True, exist_ok=True)
        text = self.selection.format()
        log.debug(f"{self.target.name} ({self.target.source}): run selection\n{text}")

        with atomic_output(self._path("runs.txt"), overwrite=True) as tmp:
            tmp.write_text(text + "\n")
        self._write_table(self.selection.table, "runs.ecsv")
        self.observations = self.datastore.get_observations(self.selection.obs_ids, required_irf="all-optional")
        self.pointlike = any(_is_pointlike(o) for o in self.observations)
        thresholds = u.Quantity([_safe_threshold(o, self.target.position, cfg.aeff_percent) for o in self.observations])
        self.thresholds = thresholds.to("TeV")
        self.energy_min = (thresholds.max() if cfg.energy_min is None else cfg.energy_min).to("TeV")
        self.energy_max = cfg.energy_max.to("TeV")
        if self.energy_min >= self.energy_max:
            raise ConfigError(f"energy_min {self.energy_min:.3g} is not below energy_max {self.energy_max:.3g}")
        self.summary["target"] = {"name": self.target.name, "ra": self.target.position.ra.deg,
                                  "dec": self.target.position.dec.deg, "resolved_from": self.target.source}
        self.summary["runs"] = {"selected": self.selection.obs_ids, "n_candidates": len(self.selection.table),
                                "livetime_h": float(np.sum(self.selection.table["LIVETIME"][
                                    self.selection.table["STATUS"] == "ok"]) / 60),
                                "pointlike_irfs": self.pointlike}
        self.summary["energy_range_TeV"] = [float(self.energy_min.value), float(self.energy_max.value)]

        self.sections.append(_section("Run selection", [
            f"Runs pointing within {cfg.max_offset.deg:g} deg of the target"
            + (f" in the night of {cfg.date}" if cfg.date else "")
            + f"; cuts: zenith < {cfg.zenith_max.deg:g} deg, live time > {cfg.min_livetime}"
            + (f", quality <= {cfg.quality_max}" if cfg.quality_max is not None else "") + ".",
            "Safe energy thresholds (effective area above "
            f"{cfg.aeff_percent:g} % of its maximum at the target offset): "
            + ", ".join(f"{o.obs_id}: {t:.2f}" for o, t in zip(self.observations, self.thresholds.value))
            + f" TeV; analysis range {self.energy_min:.3g} - {self.energy_max:.3g}."],
            tables=[("", self.selection.table)]))
        return self.selection

    def theta2(self):
        """θ² plot and signal (``theta2.ecsv``, ``theta2_runs.ecsv``, ``theta2.png``)."""
        cfg = self.config
        result = make_theta2(self.observations, self.target.position, theta_cut=cfg.theta_cut,
                             theta2_max=cfg.theta2_max, n_off=cfg.n_off,
                             energy_range=(self.energy_min, self.energy_max))
        self.theta2_result = result
        self._write_table(result.table, "theta2.ecsv")
        self._write_table(result.runs, "theta2_runs.ecsv")

        plot_theta2(result, self._path("theta2.png"),
                    self._title(f"θ², E > {self.energy_min:.2g}"))
        s = result.summary
        self.summary["theta2"] = s
        self.sections.append(_section("θ² and detection", [
            f"N_on = {s['n_on']}, N_off = {s['n_off']}, α = {s['alpha']:.3f}, excess = "
            f"{s['excess']:.1f} ± {s['excess_err']:.1f}, significance (Li & Ma eq. 17) = "
            f"{s['significance']:.1f} σ in {s['livetime']:.2f} h; γ rate {s['excess_rate']:.2f}/min, "
            f"background rate {s['background_rate']:.2f}/min; θ cut: "
            + ("RAD_MAX (energy dependent)" if s["theta_cut"] == "RAD_MAX" else f"{s['theta_cut']:.3f} deg")
            + "."], tables=[("per run", result.runs)], images=[("θ² distribution", "theta2.png")]))
        return result

    # ---- background and maps
    def _off_run_ids(self):
        cfg = self.config
        if cfg.off_runs:
            return parse_runs(cfg.off_runs, self.datastore.obs_table["OBS_ID"])
        table = self.datastore.obs_table
        tags = np.zeros(len(table), dtype=bool)
        for col in ("TARGET_TAG", "TARGET_NAME", "OBJECT", "OBS_MODE"):
            if col in table.colnames:
                values = np.char.lower(np.char.strip(np.asarray(table[col]).astype(str)))
                tags |= np.isin(values, OFF_TAGS)
        return [int(i) for i in table["OBS_ID"][tags]]

    def background_models(self):
        """Choose and attach the background template of the sky maps."""

        cfg = self.config
        mode = cfg.background
        has_bkg = all("bkg" in o.available_irfs for o in self.observations)
        off_ids = self._off_run_ids() if mode in ("auto", "off_runs") else []
        if mode == "auto":
            mode = "dl3" if has_bkg else ("off_runs" if off_ids else "self")
        if mode == "dl3" and not has_bkg:
            raise SelectionError("background dl3: the runs have no bkg IRF; use off_runs or self")
        if mode == "off_runs" and not off_ids:
            raise SelectionError("background off_runs: no OFF runs (give off_runs or tag them in the obs-index)")
        self.background_mode = mode
        text = {"dl3": "the DL3 background IRF of each run",
                "off_runs": f"a model built from {len(off_ids)} OFF runs of the data store",
                "self": "a model built from the ON runs themselves, the target excluded"}[mode]
        if mode != "dl3":
            text += " (" + ("2D, Alt/Az aligned" if (cfg.background_model == "2d" or (
                cfg.background_model == "auto" and all(_altaz_usable(o) for o in self.observations)))
                else "radial") + ")"
        self.summary["background"] = {"mode": mode}
        if mode == "dl3":
            return None, text

        exclusion = [CircleSkyRegion(self.target.position, cfg.exclusion_radius)]
        kind = cfg.background_model
        if kind == "auto":
            kind = "2d" if all(_altaz_usable(o) for o in self.observations) else "radial"
        self.summary["background"]["model"] = kind
        if mode == "self":
            zen = np.asarray(self.selection.table["ZENITH"][self.selection.table["STATUS"] == "ok"], dtype=float)
            edges = [max(zen.min() - 1, 0), min(zen.max() + 1, 90)]
            maker = BackgroundModelMaker(exclusion_regions=exclusion, target_radius=None,
                                         kind=kind, zenith_edges=edges, min_runs=1, offset_max="2.5 deg",
                                         energy_axis=self._model_energy_axis())
            models = maker.run(self.observations, self.datastore.obs_table)
        else:
            off = self.datastore.get_observations(off_ids, required_irf="all-optional")
            maker = BackgroundModelMaker(exclusion_regions=exclusion, zenith_edges=DEFAULT_ZENITH_EDGES,
                                         kind=kind,
                                         offset_max="2.5 deg", energy_axis=self._model_energy_axis())
            models = maker.run(off, self.datastore.obs_table)
        _, table = models.attach(self.observations, self.datastore.obs_table, method="interpolate")
        self.models = models
        models.write(self._path("background_model.fits"), overwrite=True)
        self._write_table(table, "background_assignment.ecsv")
        self.summary["background"]["models"] = [e.name for e in models]
        return table, text

    def _model_energy_axis(self):
        """Energy axis of background models: 10 bins per decade from a decade edge below the
        analysis threshold (the template must cover every energy of the maps)."""

        lo = 10 ** np.floor(np.log10(min(self.thresholds.min(), self.energy_min).to_value("TeV") / 2))
        return MapAxis.from_energy_bounds(lo * u.TeV, max(self.energy_max, 100 * u.TeV), nbin=10,
                                          per_decade=True)

    def _map_offset_max(self):
        """Offset up to which map pixels are used: the configured one, else 2 deg or, with a
        background model from runs, the offset where its rate above the threshold falls below
        20 % of its peak."""
        if self.config.offset_max is not None:
            return self.config.offset_max
        default = 2.0 * u.deg
        if getattr(self, "models", None) is None:
            return default
        values = []
        for entry in self.models:
            irf = entry.irf
            if not irf.has_offset_axis:
                continue
            energy = irf.axes["energy"]
            keep = energy.center >= self.energy_min
            rate = (irf.quantity[keep] * energy.bin_width[keep][:, None]).sum(axis=0).value
            offset = irf.axes["offset"].center
            if not np.any(rate > 0):
                continue
            low = np.nonzero((rate < 0.2 * rate.max()) & (offset > offset[np.argmax(rate)]))[0]
            if len(low):
                values.append(offset[low[0]])
        return min(min(values), default).to("deg") if values else default

    def maps(self):
        """Significance and excess maps with the ring (or adaptive ring) background
        (``sky_maps.fits``, ``sky_maps.png``, ``significance_distribution.png``)."""


        cfg = self.config
        assignment, text = self.background_models()
        energy = MapAxis.from_energy_bounds(self.energy_min, self.energy_max, nbin=5, per_decade=True)
        geom = WcsGeom.create(skydir=self.target.position, width=cfg.map_width, binsz=cfg.map_binsz,
                              frame="icrs", axes=[energy])
        image_geom = geom.to_image()
        exclusion = ~image_geom.region_mask([CircleSkyRegion(self.target.position, cfg.exclusion_radius)])
        oversampling = None if self.background_mode == "dl3" else 2
        maker = MapDatasetMaker(selection=["counts", "background"], background_oversampling=oversampling)
        offset_max = self._map_offset_max()
        safe = SafeMaskMaker(methods=["offset-max"], offset_max=offset_max)
        if cfg.theta_cut is not None:
            radius = Angle(cfg.theta_cut)
        elif hasattr(self, "theta2_result"):
            radius = np.sqrt(self.theta2_result.cut_theta2) * u.deg
        else:
            radius = 0.11 * u.deg
        if cfg.ring == "adaptive_ring":
            # alpha of the ring choice over the region the significance is computed in
            ring = AdaptiveRingBackgroundMaker(r_in=cfg.ring_r_in, width=cfg.ring_width,
                                               r_out_max=cfg.ring_r_in + 4 * cfg.ring_width,
                                               theta=radius, exclusion_mask=exclusion)
        else:
            ring = RingBackgroundMaker(r_in=cfg.ring_r_in, width=cfg.ring_width, exclusion_mask=exclusion)
        reference = MapDataset.create(geom, name="maps")
        stacked = MapDatasetOnOff.create(image_geom.to_cube([energy.squash()]), name="maps")
        for obs in self.observations:
            dataset = maker.run(reference.copy(name=f"maps-{obs.obs_id}"), obs)
            dataset = safe.run(dataset, obs)
            image = dataset.to_image(name=dataset.name)
            stacked.stack(ring.run(image))
        estimator = ExcessMapEstimator(correlation_radius=radius, selection_optional=[])
        result = estimator.run(stacked)
        significance = result.sqrt_ts.reduce_over_axes()
        excess = result.npred_excess.reduce_over_axes()
        self.sky_maps = {"significance": significance, "excess": excess, "dataset": stacked}
        hdulist = significance.to_hdulist(hdu="SIGNIFICANCE")
        hdulist += excess.to_hdulist(hdu="EXCESS")[1:]
        hdulist += exclusion.to_hdulist(hdu="EXCLUSION")[1:]

        write_fits_atomic(hdulist, self._path("sky_maps.fits"), overwrite=True)
        data = significance.data
        iy, ix = np.unravel_index(np.nanargmax(data), data.shape)
        peak = image_geom.pix_to_coord((ix, iy))

        peak = SkyCoord(peak[0], peak[1], frame="icrs")
        mask = exclusion.data & np.isfinite(data) & stacked.mask_safe.data[0]
        ring_name = "adaptive ring" if cfg.ring == "adaptive_ring" else "ring"
        plot_sky_maps(significance, excess, self._path("sky_maps.png"),
                      self._title(f"{ring_name} background, E > {self.energy_min:.2g}, "
                                  f"r = {radius.to_value('deg'):.2f} deg"),
                      target=self.target.position, exclusion=exclusion)
        _, mu, sigma = plot_significance_distribution(
            data[mask], self._path("significance_distribution.png"),
            self._title("map significances outside the exclusion region"))
        self.summary["maps"] = dict(
            background=self.background_mode, ring=cfg.ring, correlation_radius_deg=float(radius.to_value("deg")),
            offset_max_deg=float(offset_max.to_value("deg")),
            peak_significance=float(np.nanmax(data)), peak_ra=peak.ra.deg, peak_dec=peak.dec.deg,
            peak_offset_deg=float(peak.separation(self.target.position).deg),
            off_region_mean=mu, off_region_sigma=sigma,
        )
        tables = [("background model per run", assignment)] if assignment is not None else []
        self.sections.append(_section("Sky maps", [
            f"Background template: {text}; {ring_name} background (inner radius "
            f"{cfg.ring_r_in.deg:g} deg, width {cfg.ring_width.deg:g} deg), target region of "
            f"{cfg.exclusion_radius.deg:g} deg excluded, pixels within {offset_max.to_value('deg'):.2f} deg of "
            f"the pointings; significance (Li & Ma) within "
            f"{radius.to_value('deg'):.2f} deg. Peak {np.nanmax(data):.1f} σ at "
            f"({peak.ra.deg:.3f}, {peak.dec.deg:.3f}) deg, {peak.separation(self.target.position).deg:.3f} deg "
            f"from the target. Significances outside the exclusion region: mean {mu:.2f}, width {sigma:.2f}."],
            tables=tables,
            images=[("significance and excess maps", "sky_maps.png"),
                    ("significance distribution", "significance_distribution.png")]))
        return result

    # ---- spectrum
    def _spectrum_makers(self):
        cfg = self.config
        if self.pointlike:
            finder = WobbleRegionsFinder(n_off_regions=cfg.n_off)
            containment = False
            exclusion = None
        else:
            finder = ReflectedRegionsFinder()
            containment = True
            geom = WcsGeom.create(skydir=self.target.position, width=cfg.map_width + 2 * u.deg,
                                  binsz=0.02, frame="icrs")
            exclusion = ~geom.region_mask([CircleSkyRegion(self.target.position, cfg.exclusion_radius)])
        return (
            SpectrumDatasetMaker(selection=["counts", "exposure", "edisp"], containment_correction=containment),
            ReflectedRegionsBackgroundMaker(region_finder=_CachedRegionsFinder(finder), exclusion_mask=exclusion),
            SafeMaskMaker(methods=["aeff-max"], aeff_percent=cfg.aeff_percent),
        )

    def _on_radius(self):
        """ON-region radius of full-enclosure spectra (or with a given θ cut)."""
        return Angle(self.config.theta_cut) if self.config.theta_cut is not None else Angle(0.11, "deg")

    def _spectrum_reference(self):
        if self.pointlike:
            # point-like IRFs hold for their RAD_MAX cut only, whatever the θ cut of θ² and maps
            region = PointSkyRegion(self.target.position)
        else:
            region = CircleSkyRegion(self.target.position, self._on_radius())
        # point-like: RAD_MAX grows below the threshold, and OFF regions must not overlap the ON
        # region at any energy of the axis
        emin = min(self.thresholds.min(), self.energy_min) / (1 if self.pointlike else 2)
        # 5 bins per decade with edges on the decades
        lo = np.floor(np.log10(emin.to_value("TeV")) * 5 + 1e-6) / 5
        hi = np.ceil(np.log10(self.energy_max.to_value("TeV")) * 5 - 1e-6) / 5
        edges = 10 ** np.linspace(lo, hi, int(round((hi - lo) * 5)) + 1) * u.TeV
        energy = MapAxis.from_energy_edges(edges)
        lo_true = np.floor(np.log10(edges[0].to_value("TeV") / 3) * 10 + 1e-6) / 10
        hi_true = np.ceil(np.log10(edges[-1].to_value("TeV") * 2.5) * 10 - 1e-6) / 10
        edges_true = 10 ** np.linspace(lo_true, hi_true, int(round((hi_true - lo_true) * 10)) + 1) * u.TeV
        energy_true = MapAxis.from_energy_edges(edges_true, name="energy_true")
        return SpectrumDataset.create(RegionGeom.create(region=region, axes=[energy]), energy_axis_true=energy_true)

    def _reduce_1d(self, observations, names):
        if not hasattr(self, "_makers_1d"):
            self._makers_1d = self._spectrum_makers()

        maker, bkg, safe = self._makers_1d
        reference = self._spectrum_reference()
        datasets = Datasets()
        for obs, name in zip(observations, names):
            dataset = maker.run(reference.copy(name=name), obs)
            result = bkg.run(dataset, obs)
            n_off = self.config.n_off
            # wobble OFF regions overlapping the (energy-dependent) ON region: use fewer
            while result.counts_off is None and self.pointlike and n_off > 1:
                n_off -= 1
                finder = _CachedRegionsFinder(WobbleRegionsFinder(n_off_regions=n_off))
                result = ReflectedRegionsBackgroundMaker(region_finder=finder).run(dataset, obs)
            if result.counts_off is None:
                log.warning(f"run {obs.obs_id}: no OFF region, not used in the spectrum")
                continue
            datasets.append(safe.run(result, obs))
        if len(datasets) == 0:
            raise SelectionError("spectrum: no run has OFF regions")
        return datasets

    def _model(self):
        if self.config.spectral_model == "lp":
            spectral = LogParabolaSpectralModel(alpha=2.5, beta=0.1, amplitude="3e-11 cm-2 s-1 TeV-1",
                                                reference="1 TeV")
        else:
            spectral = PowerLawSpectralModel(index=2.5, amplitude="3e-11 cm-2 s-1 TeV-1", reference="1 TeV")
        return SkyModel(spectral_model=spectral, name=self.target.slug)

    def spectrum(self):
        """1D spectrum: fit, flux points and plots (``spectrum_*``, ``flux_points.*``, ``sed.png``)."""


        self.run_datasets = self._reduce_1d(self.observations, [f"run-{o.obs_id}" for o in self.observations])
        stacked = self.run_datasets.stack_reduce(name="stacked")
        model = self._model()
        stacked.models = Models([model])
        fit = Fit()
        result = fit.run([stacked])
        if not result.success:
            log.warning(f"spectral fit did not converge: {result.message}")
        self.spectral_model = model
        self.stacked_spectrum = stacked
        safe = stacked.mask_safe.data.ravel()
        edges = stacked.counts.geom.axes["energy"].edges
        fit_range = (edges[:-1][safe].min(), edges[1:][safe].max())
        # flux points up to the last bin with an ON event
        with_counts = safe & (stacked.counts.data.ravel() > 0)
        fp_max = edges[1:][with_counts].max() if np.any(with_counts) else fit_range[1]

        with atomic_output(self._path("spectrum_stacked.fits"), overwrite=True) as tmp:
            stacked.write(tmp, overwrite=True, format="gadf")
        write_models(Models([model]), self._path("spectrum_model.yaml"), write_covariance=True)
        self.products.append(self.outdir / "spectrum_model_covariance.dat")
        params = model.parameters.to_table()
        self._write_table(params, "spectrum_parameters.ecsv")
        # flux points: about 3 per decade over the safe range
        decades = np.log10((fp_max / fit_range[0]).to_value(""))
        n = max(int(np.ceil(decades * 3)), 2)
        fp_edges = np.geomspace(fit_range[0].to_value("TeV"), fp_max.to_value("TeV"), n + 1) * u.TeV
        fpe = FluxPointsEstimator(energy_edges=fp_edges, source=model.name, selection_optional=["ul"])
        flux_points = fpe.run([stacked])
        self.flux_points = flux_points
        with atomic_output(self._path("flux_points.fits"), overwrite=True) as tmp:
            flux_points.write(tmp, sed_type="likelihood", overwrite=True)
        table = flux_points.to_table(sed_type="e2dnde", formatted=True)
        keep = [c for c in ("e_ref", "e_min", "e_max", "e2dnde", "e2dnde_err", "e2dnde_ul", "sqrt_ts", "is_ul")
                if c in table.colnames]
        self._write_table(table[keep], "flux_points.ecsv")
        crab = create_crab_spectral_model("magic_lp")
        e1 = max(self.energy_min, 1 * u.TeV)
        flux, errn, errp = model.spectral_model.integral_error(e1, self.energy_max)
        flux_err = 0.5 * (errn + errp)
        crab_flux = crab.integral(e1, self.energy_max)
        plot_sed(flux_points, model.spectral_model, self._path("sed.png"), self._title("spectral energy distribution"),
                 fit_range, reference=(crab, "Crab (MAGIC 2015)"))
        plot_counts_spectrum(stacked, self._path("counts_spectrum.png"), self._title("excess counts"))
        info = dict(
            model=type(model.spectral_model).__name__, success=bool(result.success),
            fit_range_TeV=[float(fit_range[0].to_value("TeV")), float(fit_range[1].to_value("TeV"))],
            parameters={p.name: [float(p.value), float(p.error)] for p in model.parameters if not p.frozen},
            flux_above_TeV=float(e1.to_value("TeV")),
            integral_flux=[float(flux.to_value("cm-2 s-1")), float(flux_err.to_value("cm-2 s-1"))],
            crab_units=float((flux / crab_flux).to_value("")),
            on_region="RAD_MAX (point-like)" if self.pointlike
            else f"circle {self._on_radius().to_value('deg'):.3f} deg",
            total_stat=float(result.total_stat),
        )
        self.summary["spectrum"] = info
        par = ", ".join(f"{k} = {v[0]:.4g} ± {v[1]:.2g}" for k, v in info["parameters"].items())
        self.sections.append(_section("Spectrum", [
            f"ON region: {info['on_region']}; OFF: " + ("wobble regions" if self.pointlike else "reflected regions")
            + f"; safe range {fit_range[0]:.3g} - {fit_range[1]:.3g}. {info['model']}: {par} "
            f"(amplitude in cm-2 s-1 TeV-1 at 1 TeV). Flux above {e1:.2g}: "
            f"{flux.to_value('cm-2 s-1'):.3g} ± {flux_err.to_value('cm-2 s-1'):.2g} cm-2 s-1 "
            f"({info['crab_units']:.2f} Crab)."],
            tables=[("fit parameters", params["name", "value", "error", "unit", "frozen"])],
            images=[("SED", "sed.png"), ("excess counts", "counts_spectrum.png")]))
        return result

    # ---- light curves
    def light_curves(self):
        """Run-wise and intra-night light curves (``light_curve_*.ecsv/fits``, ``light_curve.png``)."""


        cfg = self.config
        if not hasattr(self, "spectral_model"):
            self.spectrum()
        energy = u.Quantity([self.energy_min, self.energy_max])
        template = self.spectral_model.copy(name=self.target.slug)

        def estimate(datasets, intervals, name):
            for d in datasets:
                d.models = [template.copy(name=template.name)]
            estimator = LightCurveEstimator(energy_edges=energy, source=template.name, time_intervals=intervals,
                                            selection_optional=["ul"], n_sigma_ul=2)
            lc = estimator.run(datasets)

            with atomic_output(self._path(f"{name}.fits"), overwrite=True) as tmp:
                lc.write(tmp, format="lightcurve", sed_type="flux", overwrite=True)
            table = lc.to_table(format="lightcurve", sed_type="flux")
            keep = [c for c in ("time_min", "time_max", "flux", "flux_err", "flux_ul", "is_ul", "sqrt_ts", "ts",
                                "counts", "npred_excess") if c in table.colnames]
            out = table[keep]
            for col in ("flux", "flux_err", "flux_ul", "counts", "npred_excess", "sqrt_ts", "ts", "is_ul"):
                if col in out.colnames and out[col].ndim > 1:
                    out[col] = out[col][:, 0] if out[col].ndim == 2 else out[col].reshape(len(out), -1)[:, 0]
            self._write_table(out, f"{name}.ecsv")
            return lc

        runwise = estimate(self.run_datasets, None, "light_curve_runs")
        curves = {"per run": runwise}
        info = {"energy_range_TeV": [float(energy[0].value), float(energy[1].value)], "n_runwise": runwise.geom.axes["time"].nbin}
        if cfg.time_bin is not None:
            pieces, intervals = split_observations(self.observations, cfg.time_bin)
            names = []
            count = {}
            for obs in pieces:
                count[obs.obs_id] = count.get(obs.obs_id, -1) + 1
                names.append(f"run-{obs.obs_id}-{count[obs.obs_id]:02d}")
            datasets = self._reduce_1d(pieces, names)
            kept = [i for i, n in enumerate(names) if n in datasets.names]
            intra = estimate(datasets, [intervals[i] for i in kept], "light_curve_intranight")
            self.intranight_datasets = datasets
            curves[f"{cfg.time_bin.to_value('min'):g}-min bins"] = intra
            info["time_bin_min"] = float(cfg.time_bin.to_value("min"))
            info["n_intranight"] = intra.geom.axes["time"].nbin
        self.light_curve_results = curves
        plot_light_curves(curves, self._path("light_curve.png"),
                          self._title(f"flux {energy[0]:.2g} - {energy[1]:.3g}"))
        flux = runwise.flux.quantity.to_value("cm-2 s-1").ravel()
        err = runwise.flux_err.quantity.to_value("cm-2 s-1").ravel()
        ok = np.isfinite(flux) & (err > 0)
        if ok.sum() > 1:
            mean = np.sum(flux[ok] / err[ok] ** 2) / np.sum(1 / err[ok] ** 2)
            chi2 = float(np.sum((flux[ok] - mean) ** 2 / err[ok] ** 2))

            info["constant_flux_chi2"] = chi2
            info["constant_flux_ndf"] = int(ok.sum() - 1)
            info["constant_flux_pvalue"] = float(chi2_dist.sf(chi2, ok.sum() - 1))
        self.summary["light_curve"] = info
        text = f"Integral flux {energy[0]:.2g} - {energy[1]:.3g}, spectral shape fixed to the fit, per run"
        if cfg.time_bin is not None:
            text += f" and in {cfg.time_bin.to_value('min'):g}-min bins (runs split in time)"
        if "constant_flux_chi2" in info:
            text += (f". Constant-flux fit of the run-wise curve: χ² = {info['constant_flux_chi2']:.1f} for "
                     f"{info['constant_flux_ndf']} degrees of freedom (p = {info['constant_flux_pvalue']:.2g})")
        self.sections.append(_section("Light curves", [text + "."], images=[("light curves", "light_curve.png")]))
        return curves

    # ------------------------------------------------------------------ page and run
    def page(self):
        """``summary.md``, ``index.html`` and ``quicklook.json``."""


        cfg = self.config
        s = self.summary
        facts = [("target", f"{self.target.name} (RA {self.target.position.ra.deg:.4f}, Dec "
                            f"{self.target.position.dec.deg:+.4f} deg; {self.target.source})"),
                 ("data", str(Path(cfg.datastore).resolve())),
                 ("runs", f"{len(s['runs']['selected'])} ({s['runs']['livetime_h']:.2f} h live time)")]
        if "theta2" in s:
            facts.append(("detection", f"{s['theta2']['significance']:.1f} σ (Li & Ma), excess "
                                       f"{s['theta2']['excess']:.0f} events"))
        if "maps" in s:
            facts.append(("map peak", f"{s['maps']['peak_significance']:.1f} σ, "
                                      f"{s['maps']['peak_offset_deg']:.3f} deg from the target"))
        if "spectrum" in s:
            sp = s["spectrum"]
            facts.append(("flux", f"{sp['integral_flux'][0]:.3g} ± {sp['integral_flux'][1]:.2g} cm-2 s-1 above "
                                  f"{sp['flux_above_TeV']:.2g} TeV ({sp['crab_units']:.2f} Crab)"))
        facts.append(("software", f"gammapy-lat {__version__}, Gammapy {gammapy.__version__}"))
        facts.append(("run time", ", ".join(f"{k} {v:.1f} s" for k, v in self.timing.items())))
        self.products += write_page(self.outdir, f"Quick look: {self.target.name}", facts, self.sections)

        s["products"] = sorted({str(p.relative_to(self.outdir)) for p in self.products if p.exists()})
        s["timing_s"] = self.timing
        with atomic_output(self.outdir / "quicklook.json", overwrite=True) as tmp:
            tmp.write_text(json.dumps(s, indent=1, default=_json_default))
        return self.outdir / "index.html"

    def run(self):
        """All steps; returns the summary dict."""
        cfg = self.config
        steps = [("selection", self.select), ("theta2", self.theta2)]
        if cfg.maps:
            steps.append(("maps", self.maps))
        if cfg.spectrum or cfg.light_curve:
            steps.append(("spectrum", self.spectrum))
        if cfg.light_curve:
            steps.append(("light curves", self.light_curves))
        for name, step in steps:
            start = time.perf_counter()
            try:
                step()
            except (GammapyLATError, ValueError, RuntimeError) as exc:
                if name == "selection":
                    raise
                log.warning(f"quick-look step '{name}' failed: {exc}")
                self.sections.append(_section(name.capitalize(), [f"This step failed: {exc}"]))
                self.summary.setdefault("failed_steps", {})[name] = str(exc)
            self.timing[name] = time.perf_counter() - start
        self.page()
        return self.summary


def _section(title, paragraphs=(), tables=(), images=()):
    return Section(title, list(paragraphs), list(tables), list(images))


def _json_default(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, u.Quantity):
        return str(value)
    return str(value)
