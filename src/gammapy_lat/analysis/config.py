"""Analysis configuration: a validated pydantic schema read from YAML.

The layout follows Gammapy's `~gammapy.analysis.AnalysisConfig` (quantities written as strings such
as ``"1 TeV"``, defaults for every setting, unknown keys rejected) but holds any number of
``datasets`` blocks, each with an ``instrument``:

* ``lat``: Fermi-LAT events and spacecraft files reduced with `gammapy_lat.makers`;
* ``iact``: IACT DL3 data reduced with Gammapy's makers (3D or 1D, including point-like IRFs with an
  energy-dependent ``RAD_MAX``);
* ``dl4``: datasets that are already reduced (Gammapy datasets files, OGIP spectra, fermipy outputs).

Relative paths are resolved against the data root: ``general.data_root`` if set, else the
environment variable ``GAMMAPY_LAT_DATA``, else the folder of the config file. Paths starting with
``./`` or ``../`` are relative to the config file (for files shipped next to it, such as models).
Absolute paths and paths starting with an environment variable (``$GAMMAPY_DATA/...``) are used as
they are.
"""
import json
import logging
import os
from pathlib import Path
from typing import Annotated, ClassVar, List, Literal, Optional, Union

import numpy as np
import yaml
from astropy.coordinates import SkyCoord
from gammapy.maps import MapAxis
from pydantic import (
    Field,
    field_validator,
    model_validator,
)
from regions import CircleSkyRegion, PointSkyRegion

from ..data.binning import WCS_PROJECTIONS
from ..data.constants import DEFAULT_FILTER
from ..data.evtypes import EvclassField, EvtypeField
from ..data.paths import resolve_paths
from ..errors import CALDBError, ConfigError, GammapyLATError, LATFileError
from ..irf import CALDB
from ..utils import atomic_output, check_output_dir
from ..utils.config import AngleType, BaseConfig, DurationType, EnergyType, SolidAngleType, TimeType
from ..utils.resources import check_memory

__all__ = [
    "AnalysisConfig",
    "GeneralConfig",
    "LATDatasetsConfig",
    "IACTDatasetsConfig",
    "DL4DatasetsConfig",
    "DATA_ROOT_ENV",
    "TEMPLATES",
]

log = logging.getLogger(__name__)


DATA_ROOT_ENV = "GAMMAPY_LAT_DATA"
TEMPLATE_PATH = Path(__file__).resolve().parent / "templates"
TEMPLATES = ("lat", "iact", "joint")


#: Names of datasets blocks (they name folders of the output): no leading dot, no '/'.
NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.+-]*$"


def _show(quantity):
    """A quantity for messages: ``-200 MeV`` (never a numpy repr)."""
    return f"{float(quantity.value):g} {quantity.unit.to_string()}".strip()


def _positive_energy(value, key):
    if value is not None and not 0 < value.value < np.inf:
        raise ValueError(f"{key}={_show(value)}: energies must be positive and finite")
    return value


def _positive_angle(value, key, upper):
    if not 0 < value.to_value("deg") <= upper:
        raise ValueError(f"{key}={_show(value)} must be in (0, {upper}] deg")
    return value


def _zenith_angle(value, key):
    if not 0 < value.to_value("deg") <= 180:
        raise ValueError(f"{key}={_show(value)} must be in (0, 180] deg")
    return value


def _check_map_size(wcs, energy_axes, ncomponents=1):
    """Refuse a map geometry whose datasets would not fit in the memory limit."""
    nx = wcs.width.width.to_value("deg") / wcs.binsize.to_value("deg")
    ny = wcs.width.height.to_value("deg") / wcs.binsize.to_value("deg")
    nbins = sum(axis.n_bins or 0 for axis in energy_axes) or 1
    # counts, background, model, masks (float32) per reconstructed bin, exposure per true bin
    nbytes = 8.0 * 4 * max(nx, 1) * max(ny, 1) * nbins * ncomponents
    try:
        check_memory(
            nbytes,
            f"geom: maps of {int(max(nx, 1))} x {int(max(ny, 1))} pixels x {nbins} energy bins",
            advice="use larger pixels (geom.wcs.binsize), a smaller width or fewer energy bins",
        )
    except GammapyLATError as exc:
        raise ValueError(str(exc)) from None


# --------------------------------------------------------------------------------------------
# Small building blocks
# --------------------------------------------------------------------------------------------
class SkyCoordConfig(BaseConfig):
    """A sky position (``frame``, ``lon``, ``lat``)."""

    frame: Literal["icrs", "galactic"] = "icrs"
    lon: Optional[AngleType] = None
    lat: Optional[AngleType] = None

    @model_validator(mode="after")
    def _both_or_none(self):
        if (self.lon is None) != (self.lat is None):
            raise ValueError("give both 'lon' and 'lat' or neither")
        if self.lat is not None and not -90 <= self.lat.to_value("deg") <= 90:
            raise ValueError(f"lat={_show(self.lat)} is outside [-90, 90] deg")
        if self.lon is not None and not np.isfinite(self.lon.to_value("deg")):
            raise ValueError(f"lon={_show(self.lon)} is not finite")
        return self

    @property
    def is_set(self):
        return self.lon is not None

    def to_skycoord(self):
        """Position as a `~astropy.coordinates.SkyCoord` (None when unset)."""
        if not self.is_set:
            return None
        return SkyCoord(self.lon, self.lat, frame=self.frame)


class CircleConfig(SkyCoordConfig):
    """A circle on the sky; ``radius: null`` means a point (for point-like IRFs with ``RAD_MAX``)."""

    radius: Optional[AngleType] = None

    @field_validator("radius")
    @classmethod
    def _positive_radius(cls, value):
        if value is not None and not 0 < value.to_value("deg") <= 180:
            raise ValueError(f"radius={_show(value)} must be in (0, 180] deg (null for a point)")
        return value

    def to_region(self):
        """`~regions.CircleSkyRegion`, `~regions.PointSkyRegion` or None when the centre is unset."""

        center = self.to_skycoord()
        if center is None:
            return None
        if self.radius is None:
            return PointSkyRegion(center)
        return CircleSkyRegion(center, self.radius)


class EnergyRangeConfig(BaseConfig):
    """An energy interval; either end may be left open."""

    min: Optional[EnergyType] = None
    max: Optional[EnergyType] = None

    @field_validator("min", "max")
    @classmethod
    def _positive(cls, value, info):
        return _positive_energy(value, info.field_name)

    @model_validator(mode="after")
    def _ordered(self):
        if self.min is not None and self.max is not None and self.min >= self.max:
            raise ValueError(f"energy range is empty: min={_show(self.min)} is not below max={_show(self.max)}")
        return self

    @property
    def is_set(self):
        return self.min is not None or self.max is not None


class EnergyAxisConfig(BaseConfig):
    """A logarithmic energy axis: ``min``, ``max`` and ``nbins`` (or ``nbins_per_decade``)."""

    min: Optional[EnergyType] = None
    max: Optional[EnergyType] = None
    nbins: Optional[int] = Field(None, ge=1)
    nbins_per_decade: Optional[float] = Field(None, gt=0)

    @field_validator("min", "max")
    @classmethod
    def _positive(cls, value, info):
        return _positive_energy(value, info.field_name)

    @model_validator(mode="after")
    def _check(self):
        if self.min is not None and self.max is not None and self.min >= self.max:
            raise ValueError(f"energy axis is empty: min={_show(self.min)} is not below max={_show(self.max)}")
        if self.nbins is not None and self.nbins_per_decade is not None:
            raise ValueError("give either 'nbins' or 'nbins_per_decade', not both")
        return self

    @property
    def is_set(self):
        return self.min is not None and self.max is not None and (
            self.nbins is not None or self.nbins_per_decade is not None
        )

    @property
    def n_bins(self):
        """Number of bins of the axis (None when incomplete), computed without building it."""
        if not self.is_set:
            return None
        if self.nbins is not None:
            return self.nbins
        decades = np.log10(self.max.to_value(self.min.unit) / self.min.value)
        return max(int(np.ceil(decades * self.nbins_per_decade - 1e-6)), 1)

    def to_axis(self, name="energy"):
        """`~gammapy.maps.MapAxis` with log-spaced edges, or None when incomplete."""

        if not self.is_set:
            return None
        unit = self.min.unit
        if self.nbins is not None:
            nbin = self.nbins
        else:
            decades = np.log10(self.max.to_value(unit) / self.min.value)
            nbin = max(int(np.ceil(decades * self.nbins_per_decade - 1e-6)), 1)
        return MapAxis.from_energy_bounds(self.min, self.max.to(unit), nbin=nbin, name=name)


class TimeRangeConfig(BaseConfig):
    """A time interval (ISO strings or astropy `~astropy.time.Time`)."""

    start: Optional[TimeType] = None
    stop: Optional[TimeType] = None

    @model_validator(mode="after")
    def _ordered(self):
        if (self.start is None) != (self.stop is None):
            raise ValueError("give both 'start' and 'stop' or neither")
        if self.start is not None and self.start >= self.stop:
            raise ValueError("time range is empty: start is not before stop")
        return self

    @property
    def is_set(self):
        return self.start is not None


class WidthConfig(BaseConfig):
    width: AngleType = "5 deg"
    height: AngleType = "5 deg"

    @field_validator("width", "height")
    @classmethod
    def _positive(cls, value, info):
        return _positive_angle(value, info.field_name, upper=360)


class ExclusionConfig(BaseConfig):
    """Exclusion regions: a mask file, a DS9 region file and/or circles given here."""

    mask: Optional[str] = None
    region_file: Optional[str] = None
    regions: List[CircleConfig] = []
    # geometry of the exclusion mask made from regions for 1D analyses (3D uses the dataset geometry)
    width: AngleType = "6 deg"
    binsize: AngleType = "0.02 deg"

    @field_validator("width", "binsize")
    @classmethod
    def _positive(cls, value, info):
        return _positive_angle(value, info.field_name, upper=360)

    @field_validator("regions")
    @classmethod
    def _radius_required(cls, value):
        for region in value:
            if region.radius is None or not region.is_set:
                raise ValueError("each exclusion region needs 'lon', 'lat' and 'radius'")
        return value

    @property
    def is_set(self):
        return bool(self.mask or self.region_file or self.regions)


# --------------------------------------------------------------------------------------------
# General
# --------------------------------------------------------------------------------------------
class LogConfig(BaseConfig):
    level: Literal["debug", "info", "warning", "error", "DEBUG", "INFO", "WARNING", "ERROR"] = "info"
    filename: Optional[str] = None
    filemode: Optional[Literal["w", "a"]] = None
    format: Optional[str] = None
    datefmt: Optional[str] = None


class GeneralConfig(BaseConfig):
    """Output folder, logging, parallelism and the data root."""

    outdir: str = "analysis"
    data_root: Optional[str] = None
    log: LogConfig = LogConfig()
    n_jobs: int = Field(1, ge=1)
    parallel_backend: Optional[Literal["multiprocessing", "ray"]] = None
    progress_bar: bool = True


# --------------------------------------------------------------------------------------------
# IACT (DL3) datasets
# --------------------------------------------------------------------------------------------
class ObservationSelectionConfig(BaseConfig):
    """Runs of an IACT block; ``time_bin`` splits each run into pieces of that length (for light
    curves with bins shorter than a run)."""

    obs_ids: List[int] = []
    obs_cone: CircleConfig = CircleConfig()
    obs_time: TimeRangeConfig = TimeRangeConfig()
    time_bin: Optional[DurationType] = None
    required_irf: Union[Literal["full-enclosure", "point-like", "all-optional"], List[
        Literal["events", "gti", "aeff", "edisp", "psf", "bkg", "rad_max"]
    ]] = "full-enclosure"

    @model_validator(mode="after")
    def _cone_radius(self):
        if self.obs_cone.is_set and self.obs_cone.radius is None:
            raise ValueError("obs_cone needs a 'radius'")
        return self


class WcsConfig(BaseConfig):
    skydir: SkyCoordConfig = SkyCoordConfig()
    binsize: AngleType = "0.02 deg"
    width: WidthConfig = WidthConfig()
    binsize_irf: AngleType = "0.2 deg"
    proj: str = "CAR"

    @field_validator("binsize", "binsize_irf")
    @classmethod
    def _positive(cls, value, info):
        return _positive_angle(value, info.field_name, upper=180)

    @field_validator("proj")
    @classmethod
    def _projection(cls, value):
        if value.strip().upper() not in WCS_PROJECTIONS:
            raise ValueError(f"proj {value!r} is not a WCS projection; use one of {', '.join(WCS_PROJECTIONS)}")
        return value.strip().upper()


class IACTAxesConfig(BaseConfig):
    energy: EnergyAxisConfig = EnergyAxisConfig(min="1 TeV", max="10 TeV", nbins=5)
    energy_true: EnergyAxisConfig = EnergyAxisConfig(min="0.5 TeV", max="20 TeV", nbins=16)


class IACTGeomConfig(BaseConfig):
    wcs: WcsConfig = WcsConfig()
    axes: IACTAxesConfig = IACTAxesConfig()


class ReflectedConfig(BaseConfig):
    """Options of the OFF-region finder of `~gammapy.makers.ReflectedRegionsBackgroundMaker`."""

    finder: Literal["reflected", "wobble"] = "reflected"
    n_off_regions: int = Field(3, ge=1)
    min_distance_input: AngleType = "0.1 rad"
    max_region_number: int = Field(10000, ge=1)
    binsz: AngleType = "0.01 deg"


class AdaptiveRingConfig(BaseConfig):
    """Options of the adaptive ring (`~gammapy.makers.AdaptiveRingBackgroundMaker`): the ring
    (inner radius ``ring_r_in``, width ``ring_width``) grows up to ``r_out_max`` until the ON/OFF
    acceptance ratio is below ``threshold_alpha``."""

    r_out_max: AngleType = "2 deg"
    stepsize: AngleType = "0.02 deg"
    threshold_alpha: float = Field(0.1, gt=0)
    theta: AngleType = "0.22 deg"
    method: Literal["fixed_width", "fixed_r_in"] = "fixed_width"


class PhaseConfig(BaseConfig):
    """ON and OFF phase intervals of pulsar runs (`~gammapy.makers.PhaseBackgroundMaker`)."""

    on_phase: List[List[float]] = []
    off_phase: List[List[float]] = []
    column: str = "PHASE"

    @field_validator("on_phase", "off_phase")
    @classmethod
    def _intervals(cls, value):
        for interval in value:
            if len(interval) != 2 or not (0 <= interval[0] <= 1 and 0 <= interval[1] <= 1):
                raise ValueError(f"phase intervals are [start, stop] pairs within [0, 1], got {interval}")
        return value


class BackgroundModelConfig(BaseConfig):
    """Where the background template of 3D reductions comes from.

    * ``dl3``: the ``bkg`` IRF of each DL3 run;
    * ``off_runs``: a model built from OFF runs (``off_obs_ids`` in ``off_datastore``, default
      the block's data store) with `gammapy_lat.iact.BackgroundModelMaker`;
    * ``file``: models written by `gammapy_lat.iact.BackgroundModels.write` (``file``).

    The model of the closest zenith bin (``attach: closest``) or an interpolation in cos(zenith)
    (``attach: interpolate``) is attached to every run.
    """

    source: Literal["dl3", "off_runs", "file"] = "dl3"
    off_obs_ids: List[int] = []
    off_datastore: Optional[str] = None
    file: Optional[str] = None
    type: Literal["radial", "2d"] = "radial"
    fov_alignment: Literal["ALTAZ", "RADEC"] = "RADEC"
    zenith_edges: List[AngleType] = []
    attach: Literal["closest", "interpolate"] = "closest"
    offset_max: AngleType = "2.5 deg"
    target_radius: Optional[AngleType] = "0.3 deg"

    @model_validator(mode="after")
    def _check(self):
        if self.source == "off_runs" and not self.off_obs_ids:
            raise ValueError("background.model.source 'off_runs' needs off_obs_ids")
        if self.source == "file" and not self.file:
            raise ValueError("background.model.source 'file' needs a file")
        return self


class BackgroundConfig(BaseConfig):
    """Background estimation: FoV template normalisation (3D), reflected regions (1D), ring and
    adaptive ring (3D, kept as ON/OFF datasets with WStat) or ON/OFF phases (pulsars)."""

    method: Optional[Literal["fov_background", "reflected", "ring", "adaptive_ring", "phase"]] = None
    fov_method: Literal["scale", "fit"] = "scale"
    fov_spectral_model: Literal["pl-norm", "pl"] = "pl-norm"
    reflected: ReflectedConfig = ReflectedConfig()
    ring_r_in: AngleType = "0.7 deg"
    ring_width: AngleType = "0.3 deg"
    adaptive_ring: AdaptiveRingConfig = AdaptiveRingConfig()
    phase: PhaseConfig = PhaseConfig()
    model: BackgroundModelConfig = BackgroundModelConfig()
    exclusion: ExclusionConfig = ExclusionConfig()

    @model_validator(mode="after")
    def _phases(self):
        if self.method == "phase" and (not self.phase.on_phase or not self.phase.off_phase):
            raise ValueError("background.method 'phase' needs phase.on_phase and phase.off_phase intervals")
        return self


class SafeMaskConfig(BaseConfig):
    """Options of `~gammapy.makers.SafeMaskMaker`."""

    methods: List[Literal["aeff-default", "aeff-max", "edisp-bias", "offset-max", "bkg-peak"]] = [
        "aeff-default"
    ]
    aeff_percent: float = Field(10, ge=0, le=100)
    bias_percent: float = Field(10, ge=0)
    offset_max: AngleType = "3 deg"
    fixed_offset: Optional[AngleType] = None
    position: SkyCoordConfig = SkyCoordConfig()


class IACTDatasetsConfig(BaseConfig):
    """IACT DL3 data reduced with Gammapy's makers."""

    instrument: Literal["iact"]
    name: str = Field(..., pattern=NAME_PATTERN)
    datastore: str
    observations: ObservationSelectionConfig = ObservationSelectionConfig()
    type: Literal["3d", "1d"] = "3d"
    stack: bool = True
    geom: IACTGeomConfig = IACTGeomConfig()
    offset_max: AngleType = "2.5 deg"
    map_selection: List[Literal["counts", "exposure", "background", "psf", "edisp"]] = [
        "counts",
        "exposure",
        "background",
        "psf",
        "edisp",
    ]
    on_region: CircleConfig = CircleConfig()
    containment_correction: bool = True
    background: BackgroundConfig = BackgroundConfig()
    safe_mask: SafeMaskConfig = SafeMaskConfig()
    fit_range: EnergyRangeConfig = EnergyRangeConfig()

    @model_validator(mode="after")
    def _check(self):
        method = self.background.method
        if self.type == "1d":
            if not self.on_region.is_set:
                raise ValueError("a 1d reduction needs 'on_region' (lon, lat and radius or null)")
            if method in ("fov_background", "ring", "adaptive_ring"):
                raise ValueError(f"background.method '{method}' is for 3d reductions; use 'reflected'")
            if self.background.model.source != "dl3":
                raise ValueError("background.model is the template of 3d reductions")
            if self.on_region.radius is None and self.containment_correction:
                raise ValueError(
                    "on_region.radius is null (RAD_MAX point-like IRFs): set containment_correction: false"
                )
        else:
            if method == "reflected":
                raise ValueError("background.method 'reflected' is for 1d reductions")
            if not self.geom.wcs.skydir.is_set:
                raise ValueError("a 3d reduction needs geom.wcs.skydir (lon, lat)")
        if self.observations.time_bin is not None and (self.type != "1d" or self.stack):
            raise ValueError("observations.time_bin (runs split in time) needs type: 1d and stack: false")
        if not self.geom.axes.energy.is_set:
            raise ValueError("geom.axes.energy needs min, max and nbins")
        _check_fit_range(self.fit_range, self.geom.axes.energy)
        _check_map_size(self.geom.wcs, [self.geom.axes.energy, self.geom.axes.energy_true])
        return self


# --------------------------------------------------------------------------------------------
# LAT datasets
# --------------------------------------------------------------------------------------------
class LATSelectionConfig(BaseConfig):
    """gtselect-like event selection."""

    evclass: EvclassField = 128
    evtype: EvtypeField = 3
    zmax: AngleType = "90 deg"
    energy: EnergyRangeConfig = EnergyRangeConfig(min="100 MeV", max="100 GeV")
    time: TimeRangeConfig = TimeRangeConfig()
    tmin: Optional[float] = None
    tmax: Optional[float] = None
    roi: CircleConfig = CircleConfig()

    @field_validator("zmax")
    @classmethod
    def _zenith(cls, value):
        return _zenith_angle(value, "zmax")

    @model_validator(mode="after")
    def _check(self):
        if self.tmin is not None and self.tmax is not None and self.tmin >= self.tmax:
            raise ValueError("tmin is not below tmax")
        if self.time.is_set and (self.tmin is not None or self.tmax is not None):
            raise ValueError("give either 'time' or 'tmin'/'tmax' (MET), not both")
        if self.roi.is_set and self.roi.radius is None:
            raise ValueError("roi needs a 'radius'")
        return self


class LATMkTimeConfig(BaseConfig):
    """gtmktime-like good-time selection from the spacecraft file."""

    filter: str = DEFAULT_FILTER
    roicut: bool = False


class LATLivetimeConfig(BaseConfig):
    """Livetime cube: an existing file or the options to compute one."""

    file: Optional[str] = None
    nside: Optional[int] = Field(None, ge=1)
    binsz: AngleType = "1 deg"
    dcostheta: float = Field(0.025, gt=0, le=1)
    zmax: Optional[AngleType] = None

    @field_validator("nside")
    @classmethod
    def _nside(cls, value):
        if value is not None and (value & (value - 1) or value > 2**29):
            raise ValueError(f"nside={value} must be a power of 2 between 1 and {2**29}")
        return value

    @field_validator("binsz")
    @classmethod
    def _binsz(cls, value):
        return _positive_angle(value, "binsz", upper=180)

    @field_validator("zmax")
    @classmethod
    def _zenith(cls, value):
        return None if value is None else _zenith_angle(value, "zmax")


class LATComponentConfig(BaseConfig):
    """One event-type component: its own dataset, IRFs and isotropic template."""

    name: Optional[str] = None
    evtype: EvtypeField
    isodiff: Optional[str] = None


class LATAxesConfig(BaseConfig):
    energy: EnergyAxisConfig = EnergyAxisConfig(min="100 MeV", max="100 GeV", nbins_per_decade=8)
    energy_true: EnergyAxisConfig = EnergyAxisConfig()


class LATGeomConfig(BaseConfig):
    wcs: WcsConfig = WcsConfig(binsize="0.1 deg", width={"width": "10 deg", "height": "10 deg"},
                               binsize_irf="0.5 deg")
    axes: LATAxesConfig = LATAxesConfig()


class LATEDispConfig(BaseConfig):
    enabled: bool = True
    edisp_bins: int = Field(2, ge=0)


class LATSafeMaskConfig(BaseConfig):
    """Options of `~gammapy_lat.makers.LATSafeMaskMaker` (energy range from ``selection.energy``)."""

    methods: List[Literal["energy-range", "edge", "exposure", "offset-max", "aeff-max", "edisp-bias"]] = [
        "energy-range",
        "exposure",
    ]
    edge_width: Union[Literal["psf"], AngleType] = "psf"
    psf_containment: float = Field(0.68, gt=0, lt=1)
    exposure_min_fraction: float = Field(0.0, ge=0, lt=1)
    offset_max: AngleType = "15 deg"
    aeff_percent: float = Field(10, ge=0, le=100)


class LATPSFConfig(BaseConfig):
    max_radius: AngleType = "10 deg"


class LATDatasetsConfig(BaseConfig):
    """Fermi-LAT events and spacecraft files, reduced with `gammapy_lat.makers`."""

    instrument: Literal["lat"]
    name: str = Field(..., pattern=NAME_PATTERN)
    events: Union[str, List[str]]
    spacecraft: Union[str, List[str]]
    key_aliases: ClassVar[dict] = {"irf": "irf_name", "irfs": "irf_name"}

    irf_name: str = "P8R3_SOURCE_V3"
    caldb: Optional[str] = None
    selection: LATSelectionConfig = LATSelectionConfig()
    gtmktime: LATMkTimeConfig = LATMkTimeConfig()
    ltcube: LATLivetimeConfig = LATLivetimeConfig()
    components: List[LATComponentConfig] = []
    geom: LATGeomConfig = LATGeomConfig()
    edisp: LATEDispConfig = LATEDispConfig()
    psf: LATPSFConfig = LATPSFConfig()
    safe_mask: LATSafeMaskConfig = LATSafeMaskConfig()
    fit_range: EnergyRangeConfig = EnergyRangeConfig()
    likelihood: Literal["binned", "unbinned"] = "binned"

    @model_validator(mode="after")
    def _check(self):
        if self.likelihood == "unbinned" and not self.selection.roi.is_set:
            raise ValueError("likelihood: unbinned needs selection.roi (the acceptance cone of the events)")
        if not self.geom.wcs.skydir.is_set:
            if not self.selection.roi.is_set:
                raise ValueError("give geom.wcs.skydir or selection.roi (the map centre)")
        if not self.geom.axes.energy.is_set:
            raise ValueError("geom.axes.energy needs min, max and nbins or nbins_per_decade")
        sel, axis = self.selection.energy, self.geom.axes.energy
        if sel.min is not None and axis.min < sel.min * (1 - 1e-6):
            raise ValueError(
                f"geom.axes.energy.min={axis.min} is below selection.energy.min={sel.min}: "
                "the map would have bins without selected events"
            )
        if sel.max is not None and axis.max > sel.max * (1 + 1e-6):
            raise ValueError(
                f"geom.axes.energy.max={axis.max} is above selection.energy.max={sel.max}: "
                "the map would have bins without selected events"
            )
        names = [c.name or f"evtype{c.evtype}" for c in self.components]
        if len(set(names)) != len(names):
            raise ValueError(f"component names are not unique: {names}")
        _check_fit_range(self.fit_range, self.geom.axes.energy)
        _check_map_size(self.geom.wcs, [self.geom.axes.energy, self.geom.axes.energy_true], len(self.components) or 1)
        return self


# --------------------------------------------------------------------------------------------
# DL4 datasets
# --------------------------------------------------------------------------------------------
class DL4DatasetsConfig(BaseConfig):
    """Datasets that are already reduced."""

    instrument: Literal["dl4"]
    name: str = Field(..., pattern=NAME_PATTERN)
    format: Literal["gammapy", "ogip", "fermipy"]
    path: Union[str, List[str]]
    models: Optional[str] = None
    stack: bool = False
    edisp_bins: int = Field(0, ge=0)
    fit_range: EnergyRangeConfig = EnergyRangeConfig()

    @model_validator(mode="after")
    def _check(self):
        if self.models is not None and self.format != "gammapy":
            raise ValueError("'models' is only read with format 'gammapy'")
        if self.edisp_bins and self.format != "fermipy":
            raise ValueError("'edisp_bins' applies to format 'fermipy' only")
        return self


DatasetsBlock = Annotated[
    Union[LATDatasetsConfig, IACTDatasetsConfig, DL4DatasetsConfig],
    Field(discriminator="instrument"),
]


# --------------------------------------------------------------------------------------------
# Models, fit, estimators, outputs
# --------------------------------------------------------------------------------------------
class CatalogModelsConfig(BaseConfig):
    """Sources of a LAT catalog around a position (`gammapy_lat.models.catalog.catalog_roi_models`)."""

    catalog: str
    type: Literal["4fgl", "3fgl", "2fhl", "3fhl"] = "4fgl"
    center: SkyCoordConfig
    radius: AngleType = "5 deg"
    margin: AngleType = "5 deg"
    free_radius: Optional[AngleType] = None
    min_significance: float = 5.0
    free_shape: bool = True
    extdir: Optional[str] = None

    @field_validator("center")
    @classmethod
    def _center_set(cls, value):
        if not value.is_set:
            raise ValueError("catalog.center needs lon and lat")
        return value


class ModelsEntryConfig(BaseConfig):
    """One source of models: a Gammapy models YAML, a gtlike XML file or a catalog selection.

    ``datasets`` restricts the models to the datasets of the given blocks (e.g. the Galactic and
    isotropic diffuse models to the LAT block); by default they apply to every dataset.
    """

    file: Optional[str] = None
    format: Optional[Literal["yaml", "xml"]] = None
    missing_files: Literal["raise", "skip"] = "raise"
    catalog: Optional[CatalogModelsConfig] = None
    datasets: Optional[List[str]] = None

    @model_validator(mode="after")
    def _one_source(self):
        if (self.file is None) == (self.catalog is None):
            raise ValueError("give exactly one of 'file' or 'catalog'")
        if self.file is not None and self.format is None:
            suffix = Path(self.file).suffix.lower()
            fmt = {".yaml": "yaml", ".yml": "yaml", ".xml": "xml"}.get(suffix)
            if fmt is None:
                raise ValueError(f"cannot guess the format of {self.file!r}: set format: yaml or xml")
            self.__dict__["format"] = fmt
        return self


class FitConfig(BaseConfig):
    """`~gammapy.modeling.Fit` options and a global fit energy range."""

    backend: Literal["minuit", "scipy"] = "minuit"
    optimize_opts: dict = {}
    covariance: bool = True
    energy_range: EnergyRangeConfig = EnergyRangeConfig()


class FluxPointsConfig(BaseConfig):
    """Flux points of one source. With several datasets blocks (``by_block``: null or true) the
    points are computed for each block in its own fit range, which together make the broadband
    SED; ``by_block: false`` fits all datasets together in each energy bin."""

    source: str
    energy: EnergyAxisConfig = EnergyAxisConfig()
    by_block: Optional[bool] = None
    selection_optional: Union[Literal["all"], List[Literal["errn-errp", "ul", "scan"]]] = ["ul"]
    n_sigma_ul: float = Field(2, gt=0)

    @model_validator(mode="after")
    def _axis(self):
        if not self.energy.is_set:
            raise ValueError("flux_points.energy needs min, max and nbins or nbins_per_decade")
        return self


class LightCurveConfig(BaseConfig):
    source: str
    energy: EnergyRangeConfig = EnergyRangeConfig()
    time_intervals: List[TimeRangeConfig] = []
    selection_optional: Union[Literal["all"], List[Literal["errn-errp", "ul", "scan"]]] = ["ul"]
    n_sigma_ul: float = Field(2, gt=0)


class ExcessMapConfig(BaseConfig):
    datasets: Optional[List[str]] = None
    correlation_radius: AngleType = "0.1 deg"
    energy: EnergyRangeConfig = EnergyRangeConfig()


class TSMapConfig(BaseConfig):
    datasets: Optional[List[str]] = None
    index: float = 2.0
    kernel_width: AngleType = "0.5 deg"
    energy: EnergyRangeConfig = EnergyRangeConfig()
    exclude: List[str] = []


class Theta2Config(BaseConfig):
    """θ² table of IACT blocks; ``theta_cut``: the cut of the ON/OFF numbers and Li & Ma
    significance reported with it (and drawn on its plot)."""

    datasets: Optional[List[str]] = None
    position: SkyCoordConfig
    theta2_max: SolidAngleType = "0.2 deg2"
    nbins: int = Field(20, ge=1)
    energy: EnergyRangeConfig = EnergyRangeConfig()
    off_regions_number: int = Field(1, ge=1)
    theta_cut: AngleType = "0.11 deg"


class EstimatorsConfig(BaseConfig):
    """Estimators run after the fit; a missing (null) section is not run."""

    flux_points: Optional[FluxPointsConfig] = None
    light_curve: Optional[LightCurveConfig] = None
    excess_map: Optional[ExcessMapConfig] = None
    ts_map: Optional[TSMapConfig] = None
    theta2: Optional[Theta2Config] = None


class OutputsConfig(BaseConfig):
    """Which products are written besides the ones the steps need."""

    plots: bool = True
    write_covariance: bool = True
    checksum: bool = False


# --------------------------------------------------------------------------------------------
# Top level
# --------------------------------------------------------------------------------------------
def _check_fit_range(fit_range, axis):
    if fit_range.min is not None and axis.max is not None and fit_range.min >= axis.max:
        raise ValueError(f"fit_range.min={fit_range.min} is not below the energy axis max {axis.max}")
    if fit_range.max is not None and axis.min is not None and fit_range.max <= axis.min:
        raise ValueError(f"fit_range.max={fit_range.max} is not above the energy axis min {axis.min}")


class AnalysisConfig(BaseConfig):
    """Configuration of a `~gammapy_lat.analysis.Analysis`.

    Attributes
    ----------
    general : `GeneralConfig`
        Output folder, logging, parallelism, data root.
    datasets : list
        One or more datasets blocks (`LATDatasetsConfig`, `IACTDatasetsConfig`,
        `DL4DatasetsConfig`), chosen by their ``instrument`` key.
    models : list of `ModelsEntryConfig`
        Gammapy YAML, gtlike XML or catalog models, shared by all datasets unless restricted.
    fit : `FitConfig`
        Fit options.
    estimators : `EstimatorsConfig`
        Flux points, light curve, excess/TS maps, θ² table.
    outputs : `OutputsConfig`
        Optional products.

    Examples
    --------
    >>> from gammapy_lat.analysis import AnalysisConfig
    >>> config = AnalysisConfig.read("configs/hess-crab-3d.yaml")  # doctest: +SKIP
    >>> config.datasets[0].geom.wcs.binsize = "0.05 deg"  # doctest: +SKIP
    """

    config_kind: ClassVar[str] = "analysis config"
    pattern_messages: ClassVar[dict] = {
        NAME_PATTERN: "name {input!r} must start with a letter, digit or '_' and hold only letters, digits and "
        "_.+- (it names folders of the output)"
    }

    general: GeneralConfig = GeneralConfig()
    datasets: List[DatasetsBlock] = Field(..., min_length=1)
    models: List[ModelsEntryConfig] = []
    fit: FitConfig = FitConfig()
    estimators: EstimatorsConfig = EstimatorsConfig()
    outputs: OutputsConfig = OutputsConfig()

    # folder against which relative paths are resolved when no data root is set (not serialised)
    _base_dir: Optional[Path] = None

    @model_validator(mode="after")
    def _cross_checks(self):
        names = [block.name for block in self.datasets]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"datasets: block names must be unique, repeated: {duplicates}")
        for idx, entry in enumerate(self.models):
            for name in entry.datasets or []:
                if name not in names:
                    raise ValueError(f"models[{idx}].datasets: no datasets block named {name!r}")
        est = self.estimators
        for key in ("excess_map", "ts_map", "theta2"):
            section = getattr(est, key)
            for name in (section.datasets or []) if section is not None else []:
                if name not in names:
                    raise ValueError(f"estimators.{key}.datasets: no datasets block named {name!r}")
        if est.theta2 is not None:
            blocks = [b for b in self.datasets if b.name in (est.theta2.datasets or names)]
            if not any(b.instrument == "iact" for b in blocks):
                raise ValueError("estimators.theta2 needs at least one iact datasets block")
        # the global fit range must overlap every dataset's energy axis
        frange = self.fit.energy_range
        for idx, block in enumerate(self.datasets):
            if block.instrument == "dl4":
                continue
            try:
                _check_fit_range(frange, block.geom.axes.energy)
            except ValueError as exc:
                raise ValueError(f"fit.energy_range vs datasets[{idx}] ({block.name}): {exc}") from None
        if est.flux_points is not None:
            fp = est.flux_points.energy
            bounds = [b.geom.axes.energy for b in self.datasets if b.instrument != "dl4"]
            if bounds and len(bounds) == len(self.datasets):
                emin = min(a.min for a in bounds)
                emax = max(a.max for a in bounds)
                if fp.max <= emin or fp.min >= emax:
                    raise ValueError(
                        f"estimators.flux_points.energy ({fp.min} - {fp.max}) does not overlap the "
                        f"datasets' energy range ({emin} - {emax})"
                    )
        return self

    # ---------------------------------------------------------------- I/O
    @classmethod
    def from_dict(cls, data, base_dir=None, source=None):
        """Validate a nested dict; errors become a `~gammapy_lat.errors.ConfigError`."""
        if isinstance(data, dict):
            data = dict(data)
            data.pop("metadata", None)
        config = super().from_dict(data, source=source)
        config._base_dir = Path(base_dir) if base_dir is not None else None
        return config

    @classmethod
    def from_yaml(cls, text, base_dir=None, source=None):
        """Read from a YAML string (``yaml.safe_load``)."""
        return cls.from_dict(cls.load_yaml(text, source), base_dir=base_dir, source=source)

    @classmethod
    def read(cls, path):
        """Read a YAML config file (relative paths are taken from its folder)."""
        path = Path(path).expanduser()
        return cls.from_yaml(cls.read_text(path), base_dir=path.resolve().parent, source=path)

    @classmethod
    def template(cls, kind="iact"):
        """Fully commented template config text (``lat``, ``iact`` or ``joint``)."""
        if kind not in TEMPLATES:
            raise ConfigError(f"Unknown template {kind!r}: choose one of {', '.join(TEMPLATES)}")
        blocks = {"lat": ["lat"], "iact": ["iact"], "joint": ["lat", "iact", "dl4"]}[kind]
        parts = ["general"] + [f"block-{b}" for b in blocks] + ["tail"]
        text = "".join((TEMPLATE_PATH / f"{part}.yaml").read_text() for part in parts)
        if "iact" in blocks:
            text += (TEMPLATE_PATH / "estimators-theta2.yaml").read_text()
        else:
            text += "  theta2: null                  # theta^2 table of IACT blocks\n"
        return text + (TEMPLATE_PATH / "outputs.yaml").read_text()

    def to_dict(self):
        """Plain dict of all settings (quantities as strings)."""
        return json.loads(self.model_dump_json())


    def write(self, path, overwrite=False):
        """Write all settings to a YAML file (atomically)."""

        with atomic_output(path, overwrite=overwrite) as tmp:
            Path(tmp).write_text(self.to_yaml())

    def update(self, other):
        """New config with the settings of ``other`` (dict, YAML text or config) merged in.

        Nested mappings are merged key by key; lists (such as ``datasets``) are replaced.
        """
        if isinstance(other, str):
            other = yaml.safe_load(other)
        elif isinstance(other, AnalysisConfig):
            other = other.model_dump(exclude_defaults=True)
        merged = _deep_update(self.model_dump(exclude_defaults=True), other)
        return AnalysisConfig.from_dict(merged, base_dir=self._base_dir)

    def __str__(self):
        return f"{self.__class__.__name__}\n\n" + self.to_yaml()

    # ---------------------------------------------------------------- paths
    @property
    def data_root(self):
        """Folder that relative data paths refer to (None: the config file's folder)."""
        root = self.general.data_root or os.environ.get(DATA_ROOT_ENV)
        if not root:
            return None
        return Path(os.path.expandvars(os.path.expanduser(root)))

    def resolve_path(self, value):
        """Resolve a path of the config.

        ``$VAR`` and ``~`` are expanded; absolute results are returned unchanged; paths starting
        with ``./`` or ``../`` are relative to the config file's folder; other relative paths are
        relative to the data root (`data_root`, or the config file's folder when unset).
        """
        text = os.path.expanduser(os.path.expandvars(str(value)))
        if "$" in text:
            raise ConfigError(f"Undefined environment variable in path {value!r}")
        path = Path(text)
        if path.is_absolute():
            return path
        base = self._base_dir if self._base_dir is not None else Path.cwd()
        if text.startswith(("./", "../")):
            return base / path
        root = self.data_root
        if root is None:
            root = base
        return root / path

    def resolve_paths(self, value):
        """Resolve a file specification into files (`gammapy_lat.data.resolve_paths` with this
        config's path rules: a path, a glob pattern, a folder of ``*.fit*`` files, an
        ``@list.txt`` file or a list of these). Missing plain files are returned, for
        `check_inputs` to report together."""
        try:
            return resolve_paths(value, resolve=self.resolve_path, must_exist=False)
        except LATFileError as exc:
            raise ConfigError(str(exc)) from None

    @property
    def outdir(self):
        """Output folder (relative paths are relative to the current directory)."""
        return Path(os.path.expandvars(os.path.expanduser(self.general.outdir)))

    def check_inputs(self):
        """Check that every input file and folder exists, before any work starts.

        Raises
        ------
        ConfigError
            Naming the config key and the missing path.
        """
        problems = []

        def need(key, value, kind="file"):
            if value is None:
                return
            try:
                paths = [self.resolve_path(value)] if kind == "dir" else self.resolve_paths(value)
            except ConfigError as exc:
                problems.append(f"{key}: {exc}")
                return
            if not paths:
                problems.append(f"{key}: no file matches {value!r}")
            for path in paths:
                ok = path.is_dir() if kind == "dir" else path.exists()
                if not ok:
                    problems.append(f"{key}: {kind} not found: {path}")

        for idx, block in enumerate(self.datasets):
            key = f"datasets[{idx}]"
            if block.instrument == "iact":
                path = self.resolve_path(block.datastore)
                if not path.exists():
                    problems.append(f"{key}.datastore: not found: {path}")
                elif path.is_dir() and not any((path / n).exists() for n in ("hdu-index.fits.gz", "hdu-index.fits")):
                    problems.append(f"{key}.datastore: no hdu-index.fits[.gz] in {path}")
                excl = block.background.exclusion
                need(f"{key}.background.exclusion.mask", excl.mask)
                need(f"{key}.background.exclusion.region_file", excl.region_file)
                bm = block.background.model
                need(f"{key}.background.model.file", bm.file if bm.source == "file" else None)
                if bm.source == "off_runs" and bm.off_datastore:
                    off = self.resolve_path(bm.off_datastore)
                    if not off.exists():
                        problems.append(f"{key}.background.model.off_datastore: not found: {off}")
            elif block.instrument == "dl4":
                need(f"{key}.path", block.path)
                need(f"{key}.models", block.models)
            elif block.instrument == "lat":
                need(f"{key}.events", block.events)
                need(f"{key}.spacecraft", block.spacecraft)
                need(f"{key}.ltcube.file", block.ltcube.file)
                need(f"{key}.caldb", block.caldb, kind="dir")
                for jdx, comp in enumerate(block.components):
                    need(f"{key}.components[{jdx}].isodiff", comp.isodiff)
                problems.extend(self._check_irf(key, block))
        for idx, entry in enumerate(self.models):
            need(f"models[{idx}].file", entry.file)
            if entry.catalog is not None:
                need(f"models[{idx}].catalog.catalog", entry.catalog.catalog)
                need(f"models[{idx}].catalog.extdir", entry.catalog.extdir, kind="dir")

        try:
            check_output_dir(self.outdir, what="general.outdir")
        except GammapyLATError as exc:
            problems.append(str(exc))
        if problems:
            raise ConfigError("Invalid analysis config: " + "; ".join(problems))

    def _check_irf(self, key, block):
        """Problems with the IRF of a LAT block: unknown name, event type or missing CALDB file."""

        if block.caldb is not None:
            path = self.resolve_path(block.caldb)
            if not path.is_dir():
                return []  # reported as a missing folder
        elif os.environ.get("CALDB"):
            path = Path(os.environ["CALDB"])
        else:
            return [f"{key}.caldb: not set and the environment variable CALDB is not set"]
        evtypes = [c.evtype for c in block.components] or [block.selection.evtype]
        try:
            caldb = CALDB(path)
            for evtype in evtypes:
                caldb.check_irf(block.irf_name, evtype, psf=True, edisp=block.edisp.enabled)
        except CALDBError as exc:
            return [f"{key}.irf_name {block.irf_name!r}: {exc}"]
        return []

    def set_logging(self):
        """Configure logging from ``general.log`` (``logging.basicConfig``).

        When logging is already configured (by the command line or the calling script), its
        levels are kept and only a log file, if given, is added.
        """
        settings = self.general.log.model_dump()
        settings["level"] = settings["level"].upper()
        settings = {k: v for k, v in settings.items() if v is not None}
        root = logging.getLogger()
        if not root.handlers:
            logging.basicConfig(**settings)
        elif "filename" in settings:
            # logging already set up (e.g. by the command line): add the log file only
            handler = logging.FileHandler(settings["filename"], mode=settings.get("filemode", "a"))
            handler.setFormatter(logging.Formatter(settings.get("format"), settings.get("datefmt")))
            handler.setLevel(settings["level"])
            root.addHandler(handler)


def _deep_update(base, other):
    for key, value in other.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = _deep_update(dict(base[key]), value)
        else:
            base[key] = value
    return base
