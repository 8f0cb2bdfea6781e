"""Configuration of a simulation (``gammapy-lat simulate``): a validated YAML schema and its runner.

Quantities are written as strings (``"550 km"``, ``"3 d"``); unknown keys are rejected. The sky is
given as Gammapy model components, inline (``models: [...]`` in the Gammapy models YAML layout)
or as the path of a Gammapy models YAML file. Without a CALDB (``irf.caldb`` unset and no
``$CALDB``) the built-in synthetic response is used and the outputs say so.

The embedded default (`default_config_text`) simulates three days of a bright point source on an
isotropic and a smooth Galactic-ridge background.
"""
import logging
import os
from pathlib import Path
from typing import List, Literal, Optional, Union

import astropy.units as u
import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from ..errors import ConfigError

__all__ = ["SimulationConfig", "default_config_text", "run_simulation", "resolve_irfs", "DEFAULT_IRF_NAMES"]

log = logging.getLogger(__name__)

_RESOURCES = Path(__file__).resolve().parent / "resources"
#: IRF names tried, in order, when a real CALDB is used without ``irf.name``.
DEFAULT_IRF_NAMES = ("P8R3_SOURCE_V3", "P8R3_SOURCE_V2", "P8R2_SOURCE_V6")


def default_config_text():
    """The embedded default configuration (commented YAML)."""
    return (_RESOURCES / "simulate-default.yaml").read_text()


def _quantity(value, physical_type, example):
    try:
        quantity = u.Quantity(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"expected a quantity like '{example}', got {value!r}") from exc
    if not quantity.isscalar or quantity.unit.physical_type != physical_type:
        raise ValueError(f"expected a single {physical_type} like '{example}', got {value!r}")
    return quantity


class _Base(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class TimeConfig(_Base):
    tstart: float = 239557417.0
    duration: str = "3 d"
    step: str = "30 s"

    @field_validator("duration", "step")
    @classmethod
    def _time(cls, value):
        q = _quantity(value, "time", "3 d")
        if q <= 0 * u.s:
            raise ValueError(f"must be positive, got {value!r}")
        return value


class OrbitConfig(_Base):
    altitude: str = "550 km"
    inclination: str = "25.6 deg"
    precession_period: Optional[str] = None

    @field_validator("altitude")
    @classmethod
    def _length(cls, value):
        _quantity(value, "length", "550 km")
        return value

    @field_validator("inclination")
    @classmethod
    def _angle(cls, value):
        _quantity(value, "angle", "25.6 deg")
        return value

    @field_validator("precession_period")
    @classmethod
    def _period(cls, value):
        if value is not None:
            _quantity(value, "time", "53 d")
        return value


class RockingConfig(_Base):
    profile: Literal["alternating", "constant", "sinusoidal"] = "alternating"
    angle: str = "50 deg"
    slew_time: str = "240 s"

    @field_validator("angle")
    @classmethod
    def _angle(cls, value):
        _quantity(value, "angle", "50 deg")
        return value

    @field_validator("slew_time")
    @classmethod
    def _slew(cls, value):
        _quantity(value, "time", "240 s")
        return value


class SpacecraftConfig(_Base):
    orbit: OrbitConfig = OrbitConfig()
    rocking: RockingConfig = RockingConfig()
    livetime_fraction: Union[Literal["geomagnetic"], float] = "geomagnetic"
    saa: bool = True
    saa_rows: Literal["flag", "drop"] = "flag"


class IRFConfig(_Base):
    caldb: Optional[str] = None
    name: Optional[str] = None
    evtype: Union[int, str] = 3
    synthetic: bool = False


class ROIConfig(_Base):
    ra: float
    dec: float
    radius: str = "10 deg"

    @field_validator("radius")
    @classmethod
    def _radius(cls, value):
        _quantity(value, "angle", "10 deg")
        return value


class EventsConfig(_Base):
    energy_range: List[str] = ["100 MeV", "100 GeV"]
    roi: Optional[ROIConfig] = None
    roi_margin: str = "5 deg"
    zmax: Optional[str] = None
    evclass: int = 128
    apply_edisp: bool = True
    healpix_nside: int = 256

    @field_validator("energy_range")
    @classmethod
    def _energies(cls, value):
        if len(value) != 2:
            raise ValueError("energy_range needs two energies [emin, emax]")
        emin, emax = (_quantity(v, "energy", "100 MeV") for v in value)
        if not 0 * u.MeV < emin < emax:
            raise ValueError(f"energy_range must satisfy 0 < emin < emax, got {value}")
        return value


class OutputsConfig(_Base):
    outdir: str = "simulated"
    ft1: Optional[str] = "ft1.fits"
    ft2: Optional[str] = "ft2.fits"


class SimulationConfig(_Base):
    """A simulation: spacecraft history, response, sky models and outputs."""

    seed: int = 0
    time: TimeConfig = TimeConfig()
    spacecraft: SpacecraftConfig = SpacecraftConfig()
    irf: IRFConfig = IRFConfig()
    events: EventsConfig = EventsConfig()
    models: Union[str, List[dict], None] = None
    outputs: OutputsConfig = OutputsConfig()

    @classmethod
    def from_yaml(cls, text, filename="<config>"):
        """Parse and validate YAML text (``yaml.safe_load``)."""
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{filename}: invalid YAML: {exc}") from exc
        except RecursionError:
            raise ConfigError(f"{filename}: invalid YAML: nested too deeply") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{filename}: the configuration must be a mapping of keys")
        try:
            config = cls(**data)
        except ValidationError as exc:
            lines = []
            for err in exc.errors():
                where = ".".join(str(p) for p in err["loc"])
                lines.append(f"{where}: {err['msg']}")
            raise ConfigError(f"{filename}: invalid simulation config:\n  " + "\n  ".join(lines)) from None
        config._base_dir = Path(filename).resolve().parent if filename != "<config>" else Path.cwd()
        return config

    @classmethod
    def read(cls, path):
        """Read a YAML file."""
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"Simulation config {path} does not exist")
        from ..utils.yamlio import read_yaml_text

        return cls.from_yaml(read_yaml_text(path, "Simulation config"), filename=str(path))

    @classmethod
    def default(cls):
        """The embedded default configuration."""
        return cls.from_yaml(default_config_text(), filename="<default>")

    def resolve(self, path):
        """Path relative to the config file (absolute paths and ``$VAR`` are kept)."""
        path = Path(os.path.expandvars(str(path))).expanduser()
        base = getattr(self, "_base_dir", Path.cwd())
        return path if path.is_absolute() else base / path

    # ----------------------------------------------------------------------------- objects
    def get_models(self):
        """Gammapy `~gammapy.modeling.models.Models` of the sky."""
        from gammapy.modeling.models import Models

        if self.models is None:
            raise ConfigError("models: no sky model given")
        try:
            if isinstance(self.models, str):
                path = self.resolve(self.models)
                if not path.is_file():
                    raise ConfigError(f"models: file {path} does not exist")
                return Models.read(path)
            return Models.from_dict({"components": self.models})
        except ConfigError:
            raise
        except Exception as exc:  # gammapy raises various errors for malformed models
            raise ConfigError(f"models: cannot build the Gammapy models: {exc}") from exc

    def spacecraft_kwargs(self):
        from .spacecraft import OrbitParameters, RockingProfile

        sc = self.spacecraft
        orbit = OrbitParameters(
            altitude=u.Quantity(sc.orbit.altitude),
            inclination=u.Quantity(sc.orbit.inclination),
            precession_period=None if sc.orbit.precession_period is None else u.Quantity(sc.orbit.precession_period),
        )
        rocking = RockingProfile(
            sc.rocking.profile, u.Quantity(sc.rocking.angle), u.Quantity(sc.rocking.slew_time)
        )
        tstart = self.time.tstart
        tstop = tstart + u.Quantity(self.time.duration).to_value("s")
        return dict(
            tstart=tstart,
            tstop=tstop,
            step=u.Quantity(self.time.step),
            orbit=orbit,
            rocking=rocking,
            livetime_fraction=sc.livetime_fraction,
            saa=sc.saa,
            saa_rows=sc.saa_rows,
        )

    def event_kwargs(self):
        from astropy.coordinates import SkyCoord

        ev = self.events
        roi = None
        if ev.roi is not None:
            roi = (SkyCoord(ev.roi.ra, ev.roi.dec, unit="deg", frame="icrs"), u.Quantity(ev.roi.radius))
        return dict(
            energy_range=tuple(u.Quantity(e) for e in ev.energy_range),
            roi=roi,
            roi_margin=u.Quantity(ev.roi_margin),
            zmax=None if ev.zmax is None else u.Quantity(ev.zmax),
            evclass=ev.evclass,
            apply_edisp=ev.apply_edisp,
            healpix_nside=ev.healpix_nside,
            random_state=self.seed,
        )


def resolve_irfs(caldb=None, name=None, evtype=3, synthetic=False):
    """LAT IRFs from a CALDB, or the built-in synthetic response when none is available.

    Parameters
    ----------
    caldb : str or `~pathlib.Path`, optional
        CALDB root; default ``$CALDB``.
    name : str, optional
        IRF name; default the first of `DEFAULT_IRF_NAMES` present in the CALDB.
    evtype : int or str
        Event-type selection.
    synthetic : bool
        Force the synthetic response.

    Returns
    -------
    irfs : `~gammapy_lat.irf.LATIRFs`
    is_synthetic : bool
    """
    from ..irf import CALDB, LATIRFs
    from .response import SYNTHETIC_IRF_NAME, synthetic_caldb

    caldb = caldb or os.environ.get("CALDB")
    if synthetic or not caldb:
        if not synthetic:
            log.warning(
                "No CALDB configured: using the built-in SYNTHETIC response %s (not a LAT calibration)",
                SYNTHETIC_IRF_NAME,
            )
        irfs = LATIRFs.from_caldb(SYNTHETIC_IRF_NAME, evtype, caldb=synthetic_caldb())
        return irfs, True
    db = CALDB(caldb)
    if name is None:
        available = [n for n in DEFAULT_IRF_NAMES if n in db.irf_names]
        if not available:
            raise ConfigError(
                f"irf.name: none of {', '.join(DEFAULT_IRF_NAMES)} is in the CALDB {db.index_file}; "
                f"set irf.name to one of {', '.join(db.irf_names)}"
            )
        name = available[0]
    return LATIRFs.from_caldb(name, evtype, caldb=db), False


def run_simulation(config, overwrite=False):
    """Run a simulation: write the FT2 and FT1 files of a `SimulationConfig`.

    Returns
    -------
    result : dict
        ``ft1``/``ft2`` paths, the event list, the spacecraft table, the IRFs and whether the
        response is synthetic.
    """
    from .events import simulate_events
    from .spacecraft import simulate_spacecraft, write_spacecraft

    outdir = config.resolve(config.outputs.outdir)
    spacecraft = simulate_spacecraft(**config.spacecraft_kwargs())
    result = {"spacecraft": spacecraft}
    if config.outputs.ft2:
        result["ft2"] = write_spacecraft(spacecraft, outdir / config.outputs.ft2, overwrite=overwrite)
    if config.outputs.ft1:
        models = config.get_models()
        irfs, synthetic = resolve_irfs(
            None if config.irf.caldb is None else config.resolve(config.irf.caldb),
            config.irf.name,
            config.irf.evtype,
            config.irf.synthetic,
        )
        events = simulate_events(models, spacecraft, irfs, **config.event_kwargs())
        result.update(events=events, irfs=irfs, synthetic=synthetic)
        result["ft1"] = events.write(outdir / config.outputs.ft1, overwrite=overwrite, creator="gammapy-lat simulate")
    return result
