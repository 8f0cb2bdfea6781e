"""The foundation of every configuration of the package (analysis runner, all-sky pipeline,
simulation): one pydantic base class, the quantity types, YAML reading and error reporting.

* `BaseConfig`: unknown keys are errors, assignments and defaults are validated;
  `BaseConfig.read`, `BaseConfig.from_yaml` and `BaseConfig.from_dict` read YAML with
  ``yaml.safe_load`` and turn validation errors into one `~gammapy_lat.errors.ConfigError` that
  names every offending key (``datasets[0].geom.wcs.binsize: wrong unit 'TeV' ...``).
* `AngleType`, `EnergyType`, `SolidAngleType`, `LengthType`, `DurationType`, `TimeType`
  (`quantity_type` for others): quantities written as strings (``"1 TeV"``, ``"0.1 deg"``,
  ``"3 d"``, ``"2008-08-04T15:43:37"``) in YAML, astropy objects in Python.
"""
import warnings
from pathlib import Path
from typing import Annotated, ClassVar

import astropy.units as u
import yaml
from astropy.coordinates import Angle
from astropy.time import Time
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
    ValidationError,
    model_validator,
)

from ..errors import ConfigError
from .yamlio import load_yaml, read_yaml_text

__all__ = [
    "BaseConfig",
    "AngleType",
    "EnergyType",
    "SolidAngleType",
    "TimeType",
    "LengthType",
    "DurationType",
    "quantity_type",
    "quantity_validator",
    "config_error",
]


def quantity_validator(physical_type, example):
    """Pydantic validator of a scalar quantity of one physical type (e.g. ``"energy"``)."""

    def validate(value):
        if isinstance(value, (int, float)) and physical_type == "dimensionless":
            return u.Quantity(value)
        try:
            quantity = u.Quantity(value)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"expected a quantity like '{example}', got {value!r}") from exc
        if not quantity.isscalar:
            raise ValueError(f"expected a single value like '{example}', got {value!r}")
        if quantity.unit.physical_type != physical_type:
            unit = quantity.unit.to_string() or "no unit"
            raise ValueError(f"wrong unit '{unit}' in {value!r}: expected {physical_type} (like '{example}')")
        return quantity

    return validate


def _angle(value):
    return Angle(quantity_validator("angle", "0.1 deg")(value))


def _time(value):
    if isinstance(value, Time):
        return value
    try:
        return Time(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"expected a time like '2008-08-04T15:43:37' or a Time, got {value!r}") from exc


def _serialize_quantity(value):
    return f"{value.value:.10g} {value.unit.to_string()}".strip()


def _serialize_time(value):
    return value.isot if value.isscalar else list(value.isot)


_SER = dict(when_used="json-unless-none", return_type=str)

AngleType = Annotated[Angle, BeforeValidator(_angle), PlainSerializer(_serialize_quantity, **_SER)]
EnergyType = Annotated[
    u.Quantity,
    BeforeValidator(quantity_validator("energy", "1 TeV")),
    PlainSerializer(_serialize_quantity, **_SER),
]
SolidAngleType = Annotated[
    u.Quantity,
    BeforeValidator(quantity_validator("solid angle", "0.3 deg2")),
    PlainSerializer(_serialize_quantity, **_SER),
]
TimeType = Annotated[Time, BeforeValidator(_time), PlainSerializer(_serialize_time, when_used="json-unless-none")]


def quantity_type(physical_type, example):
    """Annotated type of a scalar quantity of one physical type, written as a string in YAML."""
    return Annotated[
        u.Quantity,
        BeforeValidator(quantity_validator(physical_type, example)),
        PlainSerializer(_serialize_quantity, **_SER),
    ]


LengthType = quantity_type("length", "550 km")
DurationType = quantity_type("time", "3 d")


def _format_location(loc):
    parts = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif item in ("lat", "iact", "dl4", "wcs", "healpix") and parts and parts[-1].startswith("["):
            continue  # discriminator tag inserted by pydantic
        elif str(item).startswith("function-") or item in ("list[...]", "str", "int"):
            continue
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts) or "config"


def config_error(exc, what="config", source=None, pattern_messages=None):
    """One `~gammapy_lat.errors.ConfigError` naming every key of a pydantic ``ValidationError``.

    Parameters
    ----------
    exc : `pydantic.ValidationError`
        The error.
    what : str
        What was validated, e.g. ``"analysis config"``.
    source : str or `~pathlib.Path`, optional
        The file, for the message.
    pattern_messages : dict, optional
        Messages (formatted with ``input``) for values not matching a field pattern.
    """
    lines, seen = [], set()
    for err in exc.errors():
        loc = _format_location(err["loc"])
        msg = err["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        elif err["type"] == "missing":
            msg = "required key is missing"
        elif err["type"] == "union_tag_invalid":
            ctx = err.get("ctx", {})
            key = str(ctx.get("discriminator", "type")).strip("'")
            msg = f"unknown {key} {ctx.get('tag')!r} (expected {ctx.get('expected_tags', '')})"
        elif err["type"] == "string_pattern_mismatch" and err.get("ctx", {}).get("pattern") in (pattern_messages or {}):
            msg = pattern_messages[err["ctx"]["pattern"]].format(input=err.get("input"))
        elif err["type"] == "union_tag_not_found":
            key = str(err.get("ctx", {}).get("discriminator", "type")).strip("'")
            msg = f"the '{key}' key is missing"
        if (loc, msg) in seen:
            continue
        seen.add((loc, msg))
        lines.append(f"{loc}: {msg}")
    where = f" in {source}" if source else ""
    return ConfigError(f"Invalid {what}{where}: " + "; ".join(lines))


class BaseConfig(BaseModel):
    """Base of all configuration sections: unknown keys are errors, assignments are validated."""

    model_config = ConfigDict(
        arbitrary_types_allowed=True,
        validate_assignment=True,
        extra="forbid",
        validate_default=True,
        use_enum_values=True,
    )

    #: What the configuration is, in messages (e.g. "analysis config").
    config_kind: ClassVar[str] = "config"
    #: Messages for values that do not match a field pattern (keyed by the pattern).
    pattern_messages: ClassVar[dict] = {}
    #: Older or alternative key names accepted for a key, each with a deprecation warning.
    key_aliases: ClassVar[dict] = {}

    @model_validator(mode="before")
    @classmethod
    def _rename_aliases(cls, data):
        if not isinstance(data, dict) or not cls.key_aliases:
            return data
        data = dict(data)
        for old, new in cls.key_aliases.items():
            if old not in data:
                continue
            if new in data:
                raise ValueError(f"give '{new}' only, not also its deprecated name '{old}'")
            warnings.warn(
                f"{cls.config_kind}: the key '{old}' is deprecated and will be removed; write '{new}'",
                FutureWarning,
                stacklevel=2,
            )
            data[new] = data.pop(old)
        return data

    @classmethod
    def from_dict(cls, data, source=None):
        """Validate a nested dict; errors become one `~gammapy_lat.errors.ConfigError`."""
        if not isinstance(data, dict):
            where = f" in {source}" if source else ""
            raise ConfigError(
                f"Invalid {cls.config_kind}{where}: expected a mapping at the top level, got {type(data).__name__}"
            )
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise cls._config_error(exc, source) from None

    @classmethod
    def _config_error(cls, exc, source):
        return config_error(exc, cls.config_kind, source, cls.pattern_messages)

    @classmethod
    def load_yaml(cls, text, source=None):
        """``yaml.safe_load`` of a config text (`gammapy_lat.utils.yamlio.load_yaml`)."""
        return load_yaml(text, source=source or cls.config_kind)

    @classmethod
    def from_yaml(cls, text, source=None):
        """Read from a YAML string."""
        return cls.from_dict(cls.load_yaml(text, source), source=source)

    @classmethod
    def read_text(cls, path):
        """Text of a config file; a missing, binary, non-UTF-8 or oversized file is a
        `~gammapy_lat.errors.ConfigError` (`gammapy_lat.utils.yamlio.read_yaml_text`)."""
        path = Path(path).expanduser()
        if not path.is_file():
            raise ConfigError(f"{cls.config_kind.capitalize()} file not found: {path}")
        return read_yaml_text(path, cls.config_kind.capitalize())

    @classmethod
    def read(cls, path):
        """Read a YAML config file."""
        return cls.from_yaml(cls.read_text(path), source=Path(path))

    def to_yaml(self):
        """All settings as YAML text (quantities as strings)."""
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False, default_flow_style=False)
