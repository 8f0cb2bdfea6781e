"""Configuration of the all-sky pipeline.

The configuration is a pydantic model read from YAML (``yaml.safe_load`` only). It lists the input
files, the good-time filter, the livetime-cube binning, the binning components and how the work is
executed (number of workers, parallel backend, Ray address).

Example
-------
.. code-block:: yaml

    ft1: "weekly/lat_photon_weekly_w*_p305_v001.fits"
    ft2: "lat_spacecraft_merged.fits"
    outdir: "allsky-out"
    irf_name: P8R3_SOURCE_V3
    evclass: 128
    filter: "(DATA_QUAL>0)&&(LAT_CONFIG==1)"
    livetime: {nside: 64, ncostheta: 40}
    components:
      - name: gal_0p1deg
        energy: {min: 500 MeV, max: 500 GeV, nbins: 24}
        evtype: [FRONT, BACK]
        zmax: 90
        geom: {type: wcs, binsz: 0.1, frame: galactic, proj: CAR}
    parallel: {n_jobs: 2, backend: multiprocessing}
"""
import re
from pathlib import Path
from typing import Annotated, ClassVar, Literal, Optional, Union

import astropy.units as u
import numpy as np
from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from ..data.binning import WCS_PROJECTIONS
from ..data.constants import DEFAULT_FILTER
from ..data.evtypes import EvclassField, EvtypeField
from ..data.paths import resolve_paths
from ..errors import ConfigError, LATFileError
from ..utils.config import BaseConfig

__all__ = [
    "AllSkyConfig",
    "ComponentConfig",
    "EnergyBinningConfig",
    "WcsGeomConfig",
    "HpxGeomConfig",
    "LivetimeConfig",
    "ParallelConfig",
]


class _Base(BaseConfig):
    config_kind: ClassVar[str] = "pipeline config"


def _to_quantity(value, unit, key):
    try:
        q = u.Quantity(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{key}: cannot read {value!r} as a quantity") from exc
    if q.unit == u.dimensionless_unscaled:
        q = q * unit
    try:
        return q.to(unit)
    except u.UnitConversionError as exc:
        raise ValueError(f"{key}: {value!r} is not convertible to {unit}") from exc


class EnergyBinningConfig(_Base):
    """Reconstructed-energy binning: ``nbins`` logarithmic bins from ``min`` to ``max``.

    Values are quantities given as strings (``"500 MeV"``); bare numbers are MeV.
    """

    min: str = "500 MeV"
    max: str = "500 GeV"
    nbins: int = Field(24, ge=1)

    @field_validator("min", "max", mode="before")
    @classmethod
    def _check_energy(cls, value, info):
        q = _to_quantity(value, u.MeV, f"energy.{info.field_name}")
        if not q.value > 0:
            raise ValueError(f"energy.{info.field_name} must be positive, got {value!r}")
        return f"{q.to_value(u.MeV):.12g} MeV"

    @model_validator(mode="after")
    def _check_order(self):
        if not u.Quantity(self.min) < u.Quantity(self.max):
            raise ValueError(f"energy.min ({self.min}) must be below energy.max ({self.max})")
        return self

    @property
    def edges(self):
        """Bin edges as a `~astropy.units.Quantity` in MeV."""
        emin, emax = u.Quantity(self.min).to_value("MeV"), u.Quantity(self.max).to_value("MeV")
        return np.geomspace(emin, emax, self.nbins + 1) * u.MeV


class WcsGeomConfig(_Base):
    """WCS geometry (all-sky CAR by default)."""

    type: Literal["wcs"] = "wcs"
    binsz: float = Field(0.1, gt=0, description="pixel size (deg)")
    width: tuple[float, float] = Field((360.0, 180.0), description="map width (deg)")
    center: tuple[float, float] = Field((0.0, 0.0), description="map centre (deg)")
    frame: Literal["galactic", "icrs"] = "galactic"
    proj: str = "CAR"

    @model_validator(mode="after")
    def _check_size(self):
        if not all(0 < w <= 360 for w in self.width):
            raise ValueError(f"geom.width {list(self.width)} deg: each width must be in (0, 360]")
        if not all(round(w / self.binsz) >= 1 for w in self.width):
            raise ValueError(f"geom.width {list(self.width)} deg is smaller than one pixel of {self.binsz} deg")
        if not -90 <= self.center[1] <= 90:
            raise ValueError(f"geom.center latitude {self.center[1]} deg is outside [-90, 90]")
        if self.proj.upper() not in WCS_PROJECTIONS:
            raise ValueError(f"geom.proj {self.proj!r} is not a WCS projection; use one of {', '.join(WCS_PROJECTIONS)}")
        return self


class HpxGeomConfig(_Base):
    """HEALPix geometry (all-sky) given by its order, ``nside = 2**order``."""

    type: Literal["healpix"] = "healpix"
    order: int = Field(6, ge=0, le=13)
    nest: bool = True
    frame: Literal["galactic", "icrs"] = "galactic"

    @property
    def nside(self):
        return 2**self.order


class ComponentConfig(_Base):
    """One binning component: energy range and bins, event types, zenith cut and geometry."""

    name: str
    energy: EnergyBinningConfig = EnergyBinningConfig()
    evtype: EvtypeField = 3
    zmax: float = Field(90.0, gt=0, le=180)
    geom: Annotated[Union[WcsGeomConfig, HpxGeomConfig], Field(discriminator="type")] = WcsGeomConfig()
    exposure: bool = True

    @field_validator("name")
    @classmethod
    def _check_name(cls, value):
        if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*", value) or len(value) > 100:
            raise ValueError(
                f"component name {value!r} must start with a letter, digit or '_' and hold only letters, "
                "digits and _.+- (at most 100 characters): it names the folder outdir/<name> of the products"
            )
        return value

    @property
    def evtype_mask(self):
        """Event-type bit mask (int)."""
        return self.evtype


class LivetimeConfig(_Base):
    """Livetime-cube binning (gtltcube ``binsz`` as HEALPix ``nside``, ``dcostheta`` as bins)."""

    nside: int = Field(64, ge=1)
    ncostheta: int = Field(40, ge=1)
    zmax: Optional[float] = Field(
        None,
        gt=0,
        le=180,
        description="zenith cut of the livetime cubes (deg); default: each component's zmax",
    )
    time_chunk: Optional[float] = Field(
        None, gt=0, description="split each FT1 file into time chunks of this length (s)"
    )

    @field_validator("nside")
    @classmethod
    def _check_nside(cls, value):
        if value & (value - 1):
            raise ValueError(f"livetime.nside must be a power of two, got {value}")
        return value


class ParallelConfig(_Base):
    """Execution through `gammapy.utils.parallel`: worker count, backend, Ray address."""

    n_jobs: int = Field(1, ge=1)
    backend: Literal["multiprocessing", "ray"] = "multiprocessing"
    ray_address: Optional[str] = None


class AllSkyConfig(_Base):
    """Configuration of the all-sky, multi-file counts and exposure pipeline."""

    ft1: Union[str, list[str]]
    ft2: Union[str, list[str]]
    outdir: str = "allsky"
    key_aliases: ClassVar[dict] = {"irfs": "irf_name", "irf": "irf_name"}

    irf_name: str = "P8R3_SOURCE_V3"
    caldb: Optional[str] = None
    evclass: EvclassField = 128
    filter: Optional[str] = DEFAULT_FILTER
    components: list[ComponentConfig] = Field(..., min_length=1)
    livetime: LivetimeConfig = LivetimeConfig()
    parallel: ParallelConfig = ParallelConfig()
    file_identity: Literal["stat", "digest"] = Field(
        "stat", description="identify input files by path+size+mtime ('stat') or by SHA-256 ('digest')"
    )
    exposure_tile_pixels: int = Field(
        2_000_000, ge=1, description="spatial pixels per exposure task (all-sky maps are tiled)"
    )

    @model_validator(mode="after")
    def _check_names(self):
        names = [c.name for c in self.components]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"components: duplicate component name(s) {dup}")
        return self

    @classmethod
    def read(cls, path):
        """Read a YAML configuration file.

        Relative paths in the file are taken relative to the folder of the configuration file.

        Raises
        ------
        ConfigError
            If the file cannot be read or does not validate.
        """

        path = Path(path)
        config = cls.from_yaml(cls.read_text(path), source=path)
        return config.resolve_paths(path.parent)

    def resolve_paths(self, base):
        """Copy with relative paths (``ft1``, ``ft2``, ``outdir``, ``caldb``) made absolute from ``base``."""
        base = Path(base)

        def fix(p):
            if p is None:
                return None
            p = Path(p).expanduser()
            return str(p if p.is_absolute() else (base / p))

        data = self.model_dump()
        for key in ("ft1", "ft2"):
            value = data[key]
            data[key] = [fix(v) for v in value] if isinstance(value, list) else fix(value)
        data["outdir"] = fix(data["outdir"])
        data["caldb"] = fix(data["caldb"])
        return type(self).model_validate(data)

    @staticmethod
    def _expand(value, key):
        try:
            return resolve_paths(value, what=f"{key}:")
        except LATFileError as exc:
            raise ConfigError(str(exc)) from None

    def ft1_files(self):
        """FT1 files as a sorted list of paths (globs expanded)."""
        return self._expand(self.ft1, "ft1")

    def ft2_files(self):
        """FT2 files as a list of paths (globs expanded)."""
        return self._expand(self.ft2, "ft2")
