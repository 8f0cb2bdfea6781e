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
from typing import ClassVar, List, Literal, Optional, Union

import astropy.units as u
from astropy.coordinates import SkyCoord
from gammapy.modeling.models import Models
from pydantic import field_validator

from ..data.evtypes import EvclassField, EvtypeField
from ..errors import ConfigError
from ..irf import CALDB, LATIRFs
from ..utils.config import AngleType, BaseConfig, DurationType, EnergyType, LengthType
from .events import simulate_events
from .response import SYNTHETIC_IRF_NAME, synthetic_caldb
from .spacecraft import (
    OrbitParameters,
    RockingProfile,
    simulate_spacecraft,
    write_spacecraft,
)

__all__ = ["SimulationConfig", "default_config_text", "run_simulation", "resolve_irfs", "DEFAULT_IRF_NAMES"]

log = logging.getLogger(__name__)

_RESOURCES = Path(__file__).resolve().parent / "resources"
#: IRF names tried, in order, when a real CALDB is used without ``irf.irf_name``.
DEFAULT_IRF_NAMES = ("P8R3_SOURCE_V3", "P8R3_SOURCE_V2", "P8R2_SOURCE_V6")


def default_config_text():
    """The embedded default configuration (commented YAML)."""
    return (_RESOURCES / "simulate-default.yaml").read_text()


class _Base(BaseConfig):
    config_kind: ClassVar[str] = "simulation config"


def _positive(value):
    if value <= 0:
        raise ValueError(f"must be positive, got {value}")
    return value


class TimeConfig(_Base):
    tstart: float = 239557417.0
    duration: DurationType = "3 d"
    step: DurationType = "30 s"

    @field_validator("duration", "step")
    @classmethod
    def _time(cls, value):
        return _positive(value)


class OrbitConfig(_Base):
    altitude: LengthType = "550 km"
    inclination: AngleType = "25.6 deg"
    precession_period: Optional[DurationType] = None


class RockingConfig(_Base):
    profile: Literal["alternating", "constant", "sinusoidal"] = "alternating"
    angle: AngleType = "50 deg"
    slew_time: DurationType = "240 s"


class SpacecraftConfig(_Base):
    orbit: OrbitConfig = OrbitConfig()
    rocking: RockingConfig = RockingConfig()
    livetime_fraction: Union[Literal["geomagnetic"], float] = "geomagnetic"
    saa: bool = True
    saa_rows: Literal["flag", "drop"] = "flag"


class IRFConfig(_Base):
    key_aliases: ClassVar[dict] = {"name": "irf_name", "irfs": "irf_name"}

    caldb: Optional[str] = None
    irf_name: Optional[str] = None
    evtype: EvtypeField = 3
    synthetic: bool = False


class ROIConfig(_Base):
    ra: float
    dec: float
    radius: AngleType = "10 deg"


class EventsConfig(_Base):
    energy_range: List[EnergyType] = ["100 MeV", "100 GeV"]
    roi: Optional[ROIConfig] = None
    roi_margin: AngleType = "5 deg"
    zmax: Optional[AngleType] = None
    evclass: EvclassField = 128
    apply_edisp: bool = True
    healpix_nside: int = 256

    @field_validator("energy_range")
    @classmethod
    def _energies(cls, value):
        if len(value) != 2:
            raise ValueError("energy_range needs two energies [emin, emax]")
        emin, emax = value
        if not 0 * u.MeV < emin < emax:
            raise ValueError(f"energy_range must satisfy 0 < emin < emax, got {[str(v) for v in value]}")
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
        """Parse and validate YAML text (``yaml.safe_load``); relative paths of the config are
        taken from the folder of ``filename``."""
        source = None if filename in ("<config>", "<default>") else filename
        config = cls.from_dict(cls.load_yaml(text, source) or {}, source=source or filename)
        config._base_dir = Path(filename).resolve().parent if source is not None else Path.cwd()
        return config

    @classmethod
    def read(cls, path):
        """Read a YAML file."""
        return cls.from_yaml(cls.read_text(path), filename=str(path))

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
                f"irf.irf_name: none of {', '.join(DEFAULT_IRF_NAMES)} is in the CALDB {db.index_file}; "
                f"set irf.irf_name to one of {', '.join(db.irf_names)}"
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

    outdir = config.resolve(config.outputs.outdir)
    spacecraft = simulate_spacecraft(**config.spacecraft_kwargs())
    result = {"spacecraft": spacecraft}
    if config.outputs.ft2:
        result["ft2"] = write_spacecraft(spacecraft, outdir / config.outputs.ft2, overwrite=overwrite)
    if config.outputs.ft1:
        models = config.get_models()
        irfs, synthetic = resolve_irfs(
            None if config.irf.caldb is None else config.resolve(config.irf.caldb),
            config.irf.irf_name,
            config.irf.evtype,
            config.irf.synthetic,
        )
        events = simulate_events(models, spacecraft, irfs, **config.event_kwargs())
        result.update(events=events, irfs=irfs, synthetic=synthetic)
        result["ft1"] = events.write(outdir / config.outputs.ft1, overwrite=overwrite, creator="gammapy-lat simulate")
    return result
