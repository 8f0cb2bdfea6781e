"""Fermi-LAT gtlike XML source models ↔ Gammapy `~gammapy.modeling.models.Models`.

A ``<source_library>`` holds ``<source>`` elements, each with a ``<spectrum>`` and a
``<spatialModel>`` made of ``<parameter>`` elements carrying ``value``, ``scale``, ``min``, ``max``,
``free`` and optionally ``error``. The true value of a parameter is ``value * scale``. Energies are
in MeV, differential fluxes in cm⁻² s⁻¹ MeV⁻¹, integral fluxes in cm⁻² s⁻¹, angles in degrees.

Gammapy parameters take the true values, with

- indices in Gammapy's convention (``dN/dE ~ E^-index``): XML ``Index = -2`` ↔ ``index = 2``, the
  bounds being swapped accordingly;
- ``min``/``max`` → ``Parameter.min``/``max``, ``free="0"`` → ``frozen=True``, ``error`` → ``error``;
- units MeV, cm⁻² s⁻¹ MeV⁻¹, cm⁻² s⁻¹ and deg.

Diffuse sources: ``MapCubeFunction`` (alias ``DiffuseMapCube``) becomes a
`~gammapy.modeling.models.TemplateSpatialModel` with ``normalize=False`` whose spectrum is a norm
model (``PowerLaw`` → `~gammapy.modeling.models.PowerLawNormSpectralModel`, ``ConstantValue`` →
``PowerLawNormSpectralModel`` with a frozen zero tilt, ``LogParabola`` →
`~gammapy.modeling.models.LogParabolaNormSpectralModel`); ``ConstantValue`` (aliases
``DiffuseIsotropic``, ``IsotropicConstant``) becomes a `~gammapy.modeling.models.ConstantSpatialModel`
in sr⁻¹; ``SpatialMap`` becomes a normalised ``TemplateSpatialModel``. Template and table files are
resolved against the XML file's folder after expanding ``$(VAR)``/``$VAR``; a ``.gz`` copy is used
when the plain name is absent.

Instrument response, as gtlike applies it: an isotropic source (``ConstantValue`` spatial
model) gets no PSF (the convolution leaves an isotropic intensity unchanged, and done inside a map
it would only lose counts at the edges); ``apply_edisp="false"`` on a ``<source>`` turns the
energy dispersion off for it (``SkyModel.apply_irf``), and is written back.

Spectra of the 4FGL era beyond the classic ones: ``SmoothBrokenPowerLaw``, ``BrokenPowerLaw2``,
``Gaussian``, ``DMFitFunction`` (with its yield table in the ``file`` attribute) and
``EblAtten::<function>``: the function times Gammapy's
`~gammapy.modeling.models.EBLAbsorptionNormSpectralModel` of the Fermitools EBL model
``ebl_model`` (4 Franceschini 2008, 5 Finke 2010, 10 Dominguez 2011: the models Gammapy has
tables for, read from ``$GAMMAPY_DATA/ebl``), with ``tau_norm`` its ``alpha_norm`` (the
absorption is :math:`e^{-\tau_{norm} \tau(E, z)}`) and ``redshift``.
"""
import logging
import operator
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord
from gammapy.modeling.models import (
    BrokenPowerLawSpectralModel,
    CompoundSpectralModel,
    ConstantSpatialModel,
    ConstantSpectralModel,
    DiskSpatialModel,
    EBLAbsorptionNormSpectralModel,
    ExpCutoffPowerLaw3FGLSpectralModel,
    ExpCutoffPowerLawSpectralModel,
    GaussianSpatialModel,
    GaussianSpectralModel,
    LogParabolaNormSpectralModel,
    LogParabolaSpectralModel,
    Models,
    PointSpatialModel,
    PowerLaw2SpectralModel,
    PowerLawNormSpectralModel,
    PowerLawSpectralModel,
    ScaleSpectralModel,
    SkyModel,
    SuperExpCutoffPowerLaw3FGLSpectralModel,
    SuperExpCutoffPowerLaw4FGLDR3SpectralModel,
    SuperExpCutoffPowerLaw4FGLSpectralModel,
    TemplateSpatialModel,
    TemplateSpectralModel,
)
from gammapy.modeling.models.spectral import EBL_DATA_BUILTIN

from ..errors import LATFileError, XMLModelError
from ..utils import atomic_output
from .diffuse import read_galactic_diffuse_cube
from .dmfit import LATDMFitSpectralModel
from .spectral import (
    FileFunctionSpectralModel,
    LATBandSpectralModel,
    LATBrokenPowerLaw2SpectralModel,
    LATExpCutoffSpectralModel,
    LATSmoothBrokenPowerLawSpectralModel,
    LATSuperExpCutoff2SpectralModel,
    LATSuperExpCutoffSpectralModel,
)

__all__ = [
    "XMLModelError",
    "read_xml_models",
    "write_xml_models",
    "models_from_xml_string",
    "models_to_xml_string",
    "to_lat_spectral_model",
    "norm_parameter",
]

log = logging.getLogger(__name__)

DNDE = "cm-2 s-1 MeV-1"
# relative edge width of a LAT RadialDisk (sharp) in Gammapy's smoothed DiskSpatialModel; zero
# would give 0/0 exactly on the edge
SHARP_EDGE_WIDTH = 1e-6
FLUX = "cm-2 s-1"


class _P:
    """How one XML parameter maps to one Gammapy parameter."""

    def __init__(self, xml, name, unit="", sign=1, aliases=()):
        self.xml = xml
        self.name = name
        self.unit = unit
        self.sign = sign
        self.aliases = tuple(aliases)


# XML spectral function -> (Gammapy class, parameter map). The first parameter is the normalisation.
_SPECTRA = {
    "PowerLaw": (
        PowerLawSpectralModel,
        [_P("Prefactor", "amplitude", DNDE), _P("Index", "index", sign=-1), _P("Scale", "reference", "MeV")],
    ),
    "PowerLaw2": (
        PowerLaw2SpectralModel,
        [
            _P("Integral", "amplitude", FLUX, aliases=("PhotonFlux",)),
            _P("Index", "index", sign=-1),
            _P("LowerLimit", "emin", "MeV"),
            _P("UpperLimit", "emax", "MeV"),
        ],
    ),
    "BrokenPowerLaw": (
        BrokenPowerLawSpectralModel,
        [
            _P("Prefactor", "amplitude", DNDE),
            _P("Index1", "index1", sign=-1),
            _P("Index2", "index2", sign=-1),
            _P("BreakValue", "ebreak", "MeV"),
        ],
    ),
    "LogParabola": (
        LogParabolaSpectralModel,
        [_P("norm", "amplitude", DNDE), _P("alpha", "alpha"), _P("beta", "beta"), _P("Eb", "reference", "MeV")],
    ),
    "ExpCutoff": (
        LATExpCutoffSpectralModel,
        [
            _P("Prefactor", "amplitude", DNDE),
            _P("Index", "index", sign=-1),
            _P("Scale", "reference", "MeV"),
            _P("Ebreak", "ebreak", "MeV"),
            _P("P1", "p1", "MeV"),
            _P("P2", "p2"),
            _P("P3", "p3"),
        ],
    ),
    "PLSuperExpCutoff": (
        LATSuperExpCutoffSpectralModel,
        [
            _P("Prefactor", "amplitude", DNDE),
            _P("Index1", "index_1", sign=-1),
            _P("Scale", "reference", "MeV"),
            _P("Cutoff", "ecut", "MeV"),
            _P("Index2", "index_2"),
        ],
    ),
    "PLSuperExpCutoff2": (
        LATSuperExpCutoff2SpectralModel,
        [
            _P("Prefactor", "amplitude", DNDE),
            _P("Index1", "index_1", sign=-1),
            _P("Scale", "reference", "MeV"),
            _P("Expfactor", "expfactor"),
            _P("Index2", "index_2"),
        ],
    ),
    "PLSuperExpCutoff4": (
        SuperExpCutoffPowerLaw4FGLDR3SpectralModel,
        [
            _P("Prefactor", "amplitude", DNDE),
            _P("IndexS", "index_1", sign=-1),
            _P("Scale", "reference", "MeV"),
            _P("ExpfactorS", "expfactor"),
            _P("Index2", "index_2"),
        ],
    ),
    "BandFunction": (
        LATBandSpectralModel,
        [_P("norm", "amplitude", DNDE), _P("alpha", "alpha"), _P("beta", "beta"), _P("Ep", "e_peak", "MeV")],
    ),
    "ConstantValue": (ConstantSpectralModel, [_P("Value", "const", DNDE, aliases=("Normalization",))]),
    "FileFunction": (FileFunctionSpectralModel, [_P("Normalization", "norm")]),
    "SmoothBrokenPowerLaw": (
        LATSmoothBrokenPowerLawSpectralModel,
        [
            _P("Prefactor", "amplitude", DNDE),
            _P("Index1", "index1", sign=-1),
            _P("Scale", "reference", "MeV"),
            _P("Index2", "index2", sign=-1),
            _P("BreakValue", "ebreak", "MeV"),
            _P("Beta", "beta"),
        ],
    ),
    "BrokenPowerLaw2": (
        LATBrokenPowerLaw2SpectralModel,
        [
            _P("Integral", "amplitude", FLUX),
            _P("Index1", "index1", sign=-1),
            _P("Index2", "index2", sign=-1),
            _P("BreakValue", "ebreak", "MeV"),
            _P("LowerLimit", "emin", "MeV"),
            _P("UpperLimit", "emax", "MeV"),
        ],
    ),
    "Gaussian": (
        GaussianSpectralModel,
        [_P("Prefactor", "amplitude", FLUX), _P("Mean", "mean", "MeV"), _P("Sigma", "sigma", "MeV")],
    ),
    "DMFitFunction": (
        LATDMFitSpectralModel,
        [
            _P("norm", "norm"),
            _P("sigmav", "sigmav"),
            _P("mass", "mass"),
            _P("bratio", "bratio"),
            _P("channel0", "channel0"),
            _P("channel1", "channel1"),
        ],
    ),
}

#: Parameters added by ``EblAtten::<function>`` to those of the function.
_EBL_PARAMETERS = ("tau_norm", "redshift", "ebl_model")
#: Fermitools EBL model index (``ebl_model``) -> Gammapy built-in EBL absorption table.
EBL_MODELS = {4: "franceschini", 5: "finke", 10: "dominguez"}
_EBL_NAMES = {
    0: "Kneiske 2004 best fit", 1: "Primack 2005", 2: "Kneiske 2004 high UV", 3: "Stecker 2006",
    4: "Franceschini 2008", 5: "Finke 2010", 6: "Gilmore 2010", 7: "Stecker 2006 fast evolution",
    8: "Salamon & Stecker 1998", 9: "generic (Finke)", 10: "Dominguez 2011", 11: "Kneiske & Dole 2010",
    12: "Kneiske & Dole 2010 with CMB", 13: "Gilmore 2010", 14: "Gilmore 2012 fiducial",
    15: "Gilmore 2012 fixed", 16: "Scully 2014 low opacity", 17: "Scully 2014 high opacity",
    18: "Inoue 2013", 19: "Helgason & Kashlinsky 2012",
}  # fmt: skip

# Spectra of map cubes are dimensionless multipliers of the cube.
_NORM_SPECTRA = {
    "PowerLaw": (
        PowerLawNormSpectralModel,
        [_P("Prefactor", "norm"), _P("Index", "tilt", sign=-1), _P("Scale", "reference", "MeV")],
    ),
    "LogParabola": (
        LogParabolaNormSpectralModel,
        [_P("norm", "norm"), _P("alpha", "alpha"), _P("beta", "beta"), _P("Eb", "reference", "MeV")],
    ),
    "ConstantValue": (PowerLawNormSpectralModel, [_P("Value", "norm", aliases=("Normalization",))]),
}

_SPECTRUM_ALIASES = {"Constant": "ConstantValue"}

_RADEC = [_P("RA", "lon_0", "deg"), _P("DEC", "lat_0", "deg")]
_SPATIAL = {
    "SkyDirFunction": (PointSpatialModel, _RADEC),
    "RadialGaussian": (GaussianSpatialModel, _RADEC + [_P("Sigma", "sigma", "deg")]),
    "RadialDisk": (DiskSpatialModel, _RADEC + [_P("Radius", "r_0", "deg")]),
    "ConstantValue": (ConstantSpatialModel, [_P("Value", "value", "sr-1", aliases=("Normalization",))]),
    "SpatialMap": (TemplateSpatialModel, [_P("Prefactor", "norm", aliases=("Normalization", "Value"))]),
    "MapCubeFunction": (TemplateSpatialModel, [_P("Normalization", "norm", aliases=("Prefactor", "Value"))]),
}
_SPATIAL_ALIASES = {
    "PointSource": "SkyDirFunction",
    "DiffuseIsotropic": "ConstantValue",
    "IsotropicConstant": "ConstantValue",
    "DiffuseMapCube": "MapCubeFunction",
}


# --------------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------------
def _float_attr(elem, key, where, default=None):
    text = elem.get(key)
    if text is None or text.strip() == "":
        if default is not None:
            return default
        raise XMLModelError(f"{where}: attribute '{key}' is missing")
    try:
        return float(text)
    except ValueError:
        raise XMLModelError(f"{where}: attribute {key}={text!r} is not a number") from None


def _read_xml_parameters(elem, where):
    """Parameters of a spectrum/spatialModel element as {name: dict(true value, bounds, ...)}."""
    out = {}
    for par in elem.findall("parameter"):
        name = par.get("name")
        if name is None:
            raise XMLModelError(f"{where}: a <parameter> has no 'name'")
        pw = f"{where}, parameter '{name}'"
        scale = _float_attr(par, "scale", pw, default=1.0)
        if scale == 0:
            raise XMLModelError(f"{pw}: scale is zero")
        value = _float_attr(par, "value", pw)
        vmin = _float_attr(par, "min", pw, default=np.nan)
        vmax = _float_attr(par, "max", pw, default=np.nan)
        lo, hi = sorted([vmin * scale, vmax * scale]) if scale < 0 else (vmin * scale, vmax * scale)
        free = par.get("free", "0").strip().lower() in ("1", "true", "yes")
        error = _float_attr(par, "error", pw, default=0.0) * abs(scale)
        out[name] = dict(value=value * scale, min=lo, max=hi, free=free, error=error)
    return out


def _match_parameters(xml_pars, spec, where):
    """Assign XML parameters to the entries of ``spec``; unknown or missing names are errors."""
    remaining = dict(xml_pars)
    matched = []
    for p in spec:
        for key in (p.xml,) + p.aliases:
            if key in remaining:
                matched.append((p, remaining.pop(key)))
                break
        else:
            raise XMLModelError(
                f"{where}: parameter '{p.xml}' is missing (found {sorted(xml_pars)})"
            )
    if remaining:
        raise XMLModelError(
            f"{where}: unexpected parameter(s) {sorted(remaining)} (expected {[p.xml for p in spec]})"
        )
    return matched


def _apply(model, matched):
    """Set Gammapy parameters from matched XML parameters."""
    for p, d in matched:
        par = model.parameters[p.name]
        lo, hi = d["min"], d["max"]
        if p.sign < 0:
            lo, hi = -hi, -lo
        par.quantity = u.Quantity(p.sign * d["value"], p.unit)
        par.min = lo
        par.max = hi
        par.frozen = not d["free"]
        par.error = d["error"]
    return model


def _expand(path_text, variables):
    def repl(match):
        key = match.group(1) or match.group(2)
        if variables and key in variables:
            return str(variables[key])
        if key in os.environ:
            return os.environ[key]
        raise XMLModelError(f"file name {path_text!r}: variable ${key} is not defined")

    return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)|\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", repl, path_text)


def _resolve(path_text, folder, variables):
    """Absolute path of a file named in the XML, or the expected path if it does not exist."""
    path = Path(_expand(path_text, variables)).expanduser()
    if not path.is_absolute():
        path = Path(folder) / path
    if path.exists():
        return path, True
    gz = path.with_name(path.name + ".gz")
    if gz.exists():
        return gz, True
    return path, False


class _MissingFile(Exception):
    def __init__(self, path, what):
        self.path = path
        self.what = what


def _read_template(elem, stype, where, folder, variables, matched, geom=None):
    fname = elem.get("file")
    if not fname:
        raise XMLModelError(f"{where}: spatial model {stype} has no 'file' attribute")
    path, exists = _resolve(fname, folder, variables)
    if not exists:
        raise _MissingFile(path, f"{stype} template")
    normalize = stype == "SpatialMap"
    try:
        if normalize:
            model = TemplateSpatialModel.read(path, normalize=True)
        else:
            cube = read_galactic_diffuse_cube(path, geom=geom)
            model = TemplateSpatialModel(cube, normalize=False, filename=str(path))
    except LATFileError as exc:
        raise LATFileError(f"{where}: {exc}") from exc
    except Exception as exc:
        raise LATFileError(f"{where}: cannot read template {path}: {exc}") from exc
    ((p, d),) = matched
    if d["free"]:
        raise XMLModelError(
            f"{where}: a free '{p.xml}' of a {stype} is degenerate with the spectral normalisation;"
            " freeze it and fit the spectrum's normalisation instead"
        )
    return model, d["value"]


def _read_spectrum(elem, src_name, spatial_is_cube, folder, variables):
    if elem is None:
        raise XMLModelError(f"source '{src_name}': no <spectrum> element")
    stype = elem.get("type")
    stype = _SPECTRUM_ALIASES.get(stype, stype)
    where = f"source '{src_name}', spectrum {elem.get('type')!r}"
    xml_pars = _read_xml_parameters(elem, where)
    if stype and stype.startswith("EblAtten::"):
        if spatial_is_cube:
            raise XMLModelError(f"{where}: EBL attenuation of a map cube is not supported")
        return _read_ebl_spectrum(elem, stype, xml_pars, where, src_name, folder, variables)
    if stype == "PowerLaw" and ("Integral" in xml_pars or "PhotonFlux" in xml_pars):
        stype = "PowerLaw2"  # integral-flux parametrisation written with the PowerLaw type name
    table = _NORM_SPECTRA if spatial_is_cube else _SPECTRA
    if stype not in table:
        kind = "map-cube spectrum" if spatial_is_cube else "spectrum"
        raise XMLModelError(
            f"{where}: unsupported {kind} type {elem.get('type')!r} (supported: {sorted(table)})"
        )
    cls, spec = table[stype]
    matched = _match_parameters(xml_pars, spec, where)
    if stype == "DMFitFunction":
        fname = elem.get("file")
        if not fname:
            raise XMLModelError(f"{where}: DMFitFunction needs the yield table in its 'file' attribute")
        path, exists = _resolve(fname, folder, variables)
        if not exists:
            raise _MissingFile(path, "DMFitFunction yield table")
        return _apply(LATDMFitSpectralModel.read(path), matched)
    if stype == "FileFunction":
        fname = elem.get("file")
        if not fname:
            raise XMLModelError(f"{where}: FileFunction has no 'file' attribute")
        path, exists = _resolve(fname, folder, variables)
        if not exists:
            raise _MissingFile(path, "FileFunction table")
        model = FileFunctionSpectralModel.read(path)
    elif stype == "ConstantValue" and spatial_is_cube:
        model = PowerLawNormSpectralModel(tilt=0, reference="1 MeV")
    else:
        model = cls()
    return _apply(model, matched)


def _read_ebl_spectrum(elem, stype, xml_pars, where, src_name, folder, variables):
    """``EblAtten::<function>``: the function times an EBL absorption of Gammapy."""
    missing = [name for name in _EBL_PARAMETERS if name not in xml_pars]
    if missing:
        raise XMLModelError(f"{where}: parameter(s) {missing} missing (found {sorted(xml_pars)})")
    base_type = stype.split("::", 1)[1]
    base = ET.Element("spectrum", {k: v for k, v in elem.attrib.items() if k != "type"})
    base.set("type", base_type)
    for par in elem.findall("parameter"):
        if par.get("name") not in _EBL_PARAMETERS:
            base.append(par)
    model = _read_spectrum(base, src_name, False, folder, variables)
    index = int(round(xml_pars["ebl_model"]["value"]))
    if index not in EBL_MODELS:
        known = ", ".join(f"{k} ({_EBL_NAMES[k]})" for k in EBL_MODELS)
        raise XMLModelError(
            f"{where}: EBL model {index} ({_EBL_NAMES.get(index, 'unknown')}) has no Gammapy table; "
            f"supported ebl_model values: {known}"
        )
    redshift = xml_pars["redshift"]
    tau = xml_pars["tau_norm"]
    try:
        ebl = EBLAbsorptionNormSpectralModel.read_builtin(
            EBL_MODELS[index], redshift=redshift["value"], alpha_norm=tau["value"]
        )
    except OSError as exc:
        raise LATFileError(
            f"{where}: cannot read Gammapy's {EBL_MODELS[index]!r} EBL table (in $GAMMAPY_DATA/ebl): {exc}"
        ) from exc
    for par, d in ((ebl.redshift, redshift), (ebl.alpha_norm, tau)):
        par.frozen = not d["free"]
        par.min, par.max = d["min"], d["max"]
        par.error = d["error"]
    return model * ebl


def _read_spatial(elem, src_name, folder, variables, geom=None):
    if elem is None:
        raise XMLModelError(f"source '{src_name}': no <spatialModel> element")
    stype = elem.get("type")
    stype = _SPATIAL_ALIASES.get(stype, stype)
    where = f"source '{src_name}', spatialModel {elem.get('type')!r}"
    if stype not in _SPATIAL:
        raise XMLModelError(
            f"{where}: unsupported spatial model type {elem.get('type')!r} "
            f"(supported: {sorted(set(_SPATIAL) | set(_SPATIAL_ALIASES))})"
        )
    cls, spec = _SPATIAL[stype]
    matched = _match_parameters(_read_xml_parameters(elem, where), spec, where)
    if cls is TemplateSpatialModel:
        return (*_read_template(elem, stype, where, folder, variables, matched, geom), stype)
    if cls is ConstantSpatialModel:
        # Gammapy keeps the isotropic model at 1 sr-1 (its value is not serialised): a frozen
        # XML value is folded into the spectral normalisation.
        ((p, d),) = matched
        if d["free"]:
            raise XMLModelError(
                f"{where}: a free '{p.xml}' of an isotropic model is degenerate with the spectral"
                " normalisation; freeze it and fit the spectrum's normalisation instead"
            )
        return ConstantSpatialModel(), d["value"], stype
    kwargs = {"frame": "icrs"} if stype != "ConstantValue" else {}
    if stype == "RadialDisk":
        kwargs["edge_width"] = SHARP_EDGE_WIDTH
    model = cls(**kwargs)
    return _apply(model, matched), 1.0, stype


def norm_parameter(model):
    """The normalisation parameter of a spectral model (``amplitude``, ``norm`` or ``const``)."""
    for name in ("amplitude", "norm", "const"):
        if name in model.parameters.names:
            return model.parameters[name]
    raise XMLModelError(f"spectral model {type(model).__name__} has no normalisation parameter")


def _source_to_sky_model(src, folder, variables, geom=None):
    name = src.get("name")
    if not name:
        raise XMLModelError("a <source> has no 'name' attribute")
    spatial, factor, stype = _read_spatial(src.find("spatialModel"), name, folder, variables, geom)
    spectral = _read_spectrum(src.find("spectrum"), name, stype == "MapCubeFunction", folder, variables)
    if factor != 1:
        # fold a frozen template normalisation into the spectral normalisation
        norm = norm_parameter(spectral)
        norm.value *= factor
        norm.min *= factor
        norm.max *= factor
    apply_irf = {
        "exposure": True,
        # an isotropic intensity is unchanged by the PSF; convolving it inside the map would only
        # lose the counts the PSF moves across the map edges
        "psf": not isinstance(spatial, ConstantSpatialModel),
        "edisp": _bool_attr(src, "apply_edisp", f"source '{name}'", default=True),
    }
    return SkyModel(spatial_model=spatial, spectral_model=spectral, name=name, apply_irf=apply_irf)


def _bool_attr(elem, key, where, default):
    text = elem.get(key)
    if text is None or not text.strip():
        return default
    value = text.strip().lower()
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no"):
        return False
    raise XMLModelError(f"{where}: attribute {key}={text!r} is neither true nor false")


def _models_from_root(root, folder, variables, missing_files, origin, geom=None):
    if root.tag != "source_library":
        raise XMLModelError(f"{origin}: root element is <{root.tag}>, expected <source_library>")
    if missing_files not in ("raise", "skip"):
        raise ValueError(f"missing_files must be 'raise' or 'skip', got {missing_files!r}")
    models = []
    for src in root.findall("source"):
        try:
            models.append(_source_to_sky_model(src, folder, variables, geom))
        except _MissingFile as exc:
            msg = f"{origin}: source '{src.get('name')}': {exc.what} {exc.path} not found"
            if missing_files == "raise":
                raise LATFileError(msg + " (use missing_files='skip' to leave the source out)") from None
            log.warning(msg + "; source skipped")
        except XMLModelError as exc:
            raise XMLModelError(f"{origin}: {exc}") from None
    return Models(models)


def read_xml_models(filename, missing_files="raise", variables=None, geom=None):
    """Read a gtlike XML source model into Gammapy `~gammapy.modeling.models.Models`.

    Parameters
    ----------
    filename : str or `~pathlib.Path`
        XML file (``<source_library>``).
    missing_files : {"raise", "skip"}
        What to do when a template or ``FileFunction`` table is missing: raise
        `~gammapy_lat.errors.LATFileError` or leave the source out with a warning.
    variables : dict, optional
        Values of ``$(VAR)`` in file names (e.g. ``{"LATEXTDIR": ...}``); the environment is used
        otherwise.
    geom : `~gammapy.maps.Geom`, optional
        Analysis geometry: map cubes (``MapCubeFunction``) are cut out around it (with a 3 deg
        margin) when read, through `gammapy_lat.makers.read_galactic_diffuse_cube`, so that an
        all-sky interstellar emission model is not kept whole in memory.

    Returns
    -------
    models : `~gammapy.modeling.models.Models`
        One `~gammapy.modeling.models.SkyModel` per source, in file order.
    """
    filename = Path(filename)
    try:
        root = ET.parse(filename).getroot()
    except OSError as exc:
        raise LATFileError(f"XML model {filename}: cannot read ({exc})") from exc
    except ET.ParseError as exc:
        raise XMLModelError(f"XML model {filename}: not well-formed XML ({exc})") from exc
    return _models_from_root(root, filename.resolve().parent, variables, missing_files, str(filename), geom)


def models_from_xml_string(text, folder=".", missing_files="raise", variables=None, geom=None):
    """Like `read_xml_models` for XML text; relative file names are resolved against ``folder``."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise XMLModelError(f"XML model text: not well-formed XML ({exc})") from exc
    return _models_from_root(root, Path(folder).resolve(), variables, missing_files, "XML model text", geom)


# --------------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------------
def to_lat_spectral_model(model):
    """Exact re-expression of a Gammapy spectral model with a LAT XML function, if needed.

    Models already matching a LAT function are returned unchanged. Catalog forms normalised at
    their pivot energy are rewritten without renormalisation:

    - `~gammapy.modeling.models.ExpCutoffPowerLaw3FGLSpectralModel` and
      `~gammapy.modeling.models.SuperExpCutoffPowerLaw3FGLSpectralModel` → ``PLSuperExpCutoff``
      (prefactor times :math:`\\exp[(E_0/E_c)^{\\Gamma_2}]`);
    - `~gammapy.modeling.models.SuperExpCutoffPowerLaw4FGLSpectralModel` → ``PLSuperExpCutoff2``
      (prefactor times :math:`\\exp(a E_0^{\\Gamma_2})`);
    - `~gammapy.modeling.models.ExpCutoffPowerLawSpectralModel` → ``PLSuperExpCutoff``
      (:math:`E_c = 1/\\lambda`, :math:`\\Gamma_2 = \\alpha`);
    - a `~gammapy.modeling.models.TemplateSpectralModel` times a norm (untilted
      ``PowerLawNormSpectralModel`` or ``ScaleSpectralModel``), as made by
      `gammapy_lat.makers.create_isotropic_model` → ``FileFunction``.

    Parameters
    ----------
    model : `~gammapy.modeling.models.SpectralModel`

    Returns
    -------
    model : `~gammapy.modeling.models.SpectralModel`
    """
    pars = model.parameters

    def copy_par(dst, src, factor=1.0):
        dst.value = src.value * factor
        dst.min = src.min * factor
        dst.max = src.max * factor
        dst.frozen = src.frozen
        dst.error = src.error * factor

    file_function = _as_file_function(model)
    if file_function is not None:
        return file_function
    if isinstance(model, (ExpCutoffPowerLaw3FGLSpectralModel, SuperExpCutoffPowerLaw3FGLSpectralModel)):
        out = LATSuperExpCutoffSpectralModel()
        e0 = pars["reference"].quantity
        ec = pars["ecut"].quantity
        b = pars["index_2"].value if "index_2" in pars.names else 1.0
        factor = float(np.exp((e0 / ec).to_value(u.one) ** b))
        out.amplitude.quantity = pars["amplitude"].quantity * factor
        copy_par(out.amplitude, pars["amplitude"], factor)
        out.reference.quantity = e0
        out.reference.frozen = pars["reference"].frozen
        out.ecut.quantity = ec
        out.ecut.frozen = pars["ecut"].frozen
        out.ecut.error = pars["ecut"].error
        idx = pars["index"] if "index" in pars.names else pars["index_1"]
        copy_par(out.index_1, idx)
        if "index_2" in pars.names:
            copy_par(out.index_2, pars["index_2"])
        else:
            out.index_2.value, out.index_2.frozen = 1.0, True
        return out
    if isinstance(model, SuperExpCutoffPowerLaw4FGLSpectralModel):
        out = LATSuperExpCutoff2SpectralModel()
        e0 = pars["reference"].quantity.to_value("MeV")
        factor = float(np.exp(pars["expfactor"].value * e0 ** pars["index_2"].value))
        out.amplitude.quantity = pars["amplitude"].quantity
        copy_par(out.amplitude, pars["amplitude"], factor)
        out.reference.quantity = pars["reference"].quantity
        for n in ("index_1", "expfactor", "index_2"):
            copy_par(out.parameters[n], pars[n])
        return out
    if isinstance(model, ExpCutoffPowerLawSpectralModel):
        out = LATSuperExpCutoffSpectralModel()
        out.amplitude.quantity = pars["amplitude"].quantity
        copy_par(out.amplitude, pars["amplitude"])
        out.reference.quantity = pars["reference"].quantity
        copy_par(out.index_1, pars["index"])
        lam = pars["lambda_"]
        out.ecut.quantity = 1 / lam.quantity
        out.ecut.frozen = lam.frozen
        out.ecut.min = 1 / lam.max if lam.max > 0 else np.nan
        out.ecut.max = 1 / lam.min if lam.min > 0 else np.nan
        out.ecut.error = lam.error / lam.value**2 if lam.value else 0.0
        copy_par(out.index_2, pars["alpha"])
        return out
    return model


def _as_file_function(model):
    """A tabulated spectrum times a pure normalisation (e.g. the isotropic model of
    `gammapy_lat.makers.create_isotropic_model`) as a `FileFunctionSpectralModel`, else None."""
    template, norm = None, None
    if isinstance(model, CompoundSpectralModel) and model.operator is operator.mul:
        for a, b in ((model.model1, model.model2), (model.model2, model.model1)):
            if isinstance(a, TemplateSpectralModel) and isinstance(b, PowerLawNormSpectralModel):
                template, norm = a, b
                break
        if norm is None or not (norm.tilt.frozen and norm.tilt.value == 0):
            return None
        norm = norm.norm
    elif isinstance(model, ScaleSpectralModel) and isinstance(model.model, TemplateSpectralModel):
        template, norm = model.model, model.norm
    else:
        return None
    filename = template.meta.get("filename") if template.meta else None
    out = FileFunctionSpectralModel(
        energy=template.energy, values=template.values.to(DNDE), filename=filename
    )
    out.norm.value = norm.value
    out.norm.min, out.norm.max = norm.min, norm.max
    out.norm.frozen = norm.frozen
    out.norm.error = norm.error
    return out


def _fmt(x):
    return repr(float(x))


def _scale_for(x, is_norm):
    if x == 0 or not np.isfinite(x):
        return 1.0
    if is_norm or abs(x) < 1e-3:
        return 10.0 ** np.floor(np.log10(abs(x)))
    return 1.0


def _write_parameters(elem, model, spec, where, norm_first=False):
    for i, p in enumerate(spec):
        par = model.parameters[p.name]
        try:
            value = p.sign * par.quantity.to_value(p.unit)
            lo, hi = (par.min, par.max) if p.sign > 0 else (-par.max, -par.min)
            conv = u.Unit(par.unit).to(u.Unit(p.unit))
        except u.UnitConversionError as exc:
            raise XMLModelError(f"{where}: parameter '{par.name}' unit {par.unit} is not {p.unit}") from exc
        lo, hi = lo * conv, hi * conv
        scale = _scale_for(value, is_norm=(norm_first and i == 0))
        attrs = {"name": p.xml, "value": _fmt(value / scale), "scale": _fmt(scale)}
        if np.isfinite(lo):
            attrs["min"] = _fmt(lo / scale)
        if np.isfinite(hi):
            attrs["max"] = _fmt(hi / scale)
        attrs["free"] = "0" if par.frozen else "1"
        if par.error:
            attrs["error"] = _fmt(par.error * conv / abs(scale))
        ET.SubElement(elem, "parameter", attrs)


def _reverse(table, exclude=()):
    return {cls: (xml_type, spec) for xml_type, (cls, spec) in table.items() if xml_type not in exclude}


_SPECTRA_BY_CLASS = _reverse(_SPECTRA)
_NORM_BY_CLASS = _reverse(_NORM_SPECTRA, exclude=("ConstantValue",))


def _file_attr(path, out_folder):
    path = Path(path)
    if out_folder is not None:
        try:
            return str(path.resolve().relative_to(Path(out_folder).resolve()))
        except ValueError:
            pass
    return str(path)


def _write_spectrum(src_elem, model, is_cube, where, out_folder):
    if is_cube:
        if (
            isinstance(model, PowerLawNormSpectralModel)
            and model.tilt.frozen
            and model.tilt.value == 0
            and np.isnan(model.tilt.min)
            and np.isnan(model.tilt.max)
            and model.reference.quantity == 1 * u.MeV
        ):
            xml_type, spec = "ConstantValue", _NORM_SPECTRA["ConstantValue"][1]
        elif type(model) in _NORM_BY_CLASS:
            xml_type, spec = _NORM_BY_CLASS[type(model)]
        else:
            raise XMLModelError(
                f"{where}: spectral model {type(model).__name__} of a map cube has no XML equivalent"
                f" (use {', '.join(c.__name__ for c in _NORM_BY_CLASS)})"
            )
    else:
        ebl = _split_ebl(model)
        if ebl is not None:
            model, ebl = ebl
        model = to_lat_spectral_model(model)
        if type(model) not in _SPECTRA_BY_CLASS:
            raise XMLModelError(
                f"{where}: spectral model {type(model).__name__} has no gtlike XML equivalent"
            )
        xml_type, spec = _SPECTRA_BY_CLASS[type(model)]
        if ebl is not None:
            xml_type = f"EblAtten::{xml_type}"
    attrs = {"type": xml_type, "normPar": "sigmav" if xml_type == "DMFitFunction" else spec[0].xml}
    if isinstance(model, (FileFunctionSpectralModel, LATDMFitSpectralModel)):
        if not model.filename:
            raise XMLModelError(f"{where}: {xml_type} spectrum has no file name")
        attrs["file"] = _file_attr(model.filename, out_folder)
    elem = ET.SubElement(src_elem, "spectrum", attrs)
    _write_parameters(elem, model, spec, where, norm_first=True)
    if not is_cube and ebl is not None:
        _write_ebl_parameters(elem, ebl, where)


def _split_ebl(model):
    """``(function, EBL absorption)`` of a product with an EBL absorption, else None."""
    if isinstance(model, CompoundSpectralModel) and model.operator is operator.mul:
        for a, b in ((model.model1, model.model2), (model.model2, model.model1)):
            if isinstance(b, EBLAbsorptionNormSpectralModel):
                return a, b
    return None


def _write_ebl_parameters(elem, ebl, where):
    filename = str(getattr(ebl, "filename", "") or "")
    index = None

    for key, name in EBL_MODELS.items():
        stem = Path(EBL_DATA_BUILTIN[name]).name.split(".")[0]
        if stem and stem in filename:
            index = key
    if index is None:
        raise XMLModelError(
            f"{where}: EBL absorption from {filename or 'an in-memory table'} is none of the Fermitools EBL "
            f"models with a Gammapy table ({', '.join(EBL_MODELS.values())})"
        )
    for name, par in (("tau_norm", ebl.alpha_norm), ("redshift", ebl.redshift)):
        attrs = {"name": name, "value": _fmt(par.value), "scale": "1.0"}
        if np.isfinite(par.min):
            attrs["min"] = _fmt(par.min)
        if np.isfinite(par.max):
            attrs["max"] = _fmt(par.max)
        attrs["free"] = "0" if par.frozen else "1"
        ET.SubElement(elem, "parameter", attrs)
    ET.SubElement(elem, "parameter", {"name": "ebl_model", "value": str(index), "scale": "1.0", "free": "0"})


def _write_spatial(src_elem, model, where, out_folder):
    if isinstance(model, TemplateSpatialModel):
        xml_type = "SpatialMap" if model.normalize else "MapCubeFunction"
        if not model.filename:
            raise XMLModelError(f"{where}: template spatial model has no file name")
        attrs = {"type": xml_type, "file": _file_attr(model.filename, out_folder)}
        if model.normalize:
            attrs["map_based_integral"] = "true"
        elem = ET.SubElement(src_elem, "spatialModel", attrs)
        name = "Prefactor" if model.normalize else "Normalization"
        ET.SubElement(
            elem,
            "parameter",
            {"name": name, "value": "1.0", "scale": "1.0", "min": "0.001", "max": "1000.0", "free": "0"},
        )
        return xml_type
    if isinstance(model, ConstantSpatialModel):
        value = model.value.quantity.to_value("sr-1")
        elem = ET.SubElement(src_elem, "spatialModel", {"type": "ConstantValue"})
        ET.SubElement(
            elem,
            "parameter",
            {"name": "Value", "value": _fmt(value), "scale": "1.0", "min": "0.0", "max": "10.0", "free": "0"},
        )
        return "ConstantValue"
    for xml_type in ("SkyDirFunction", "RadialGaussian", "RadialDisk"):
        cls, spec = _SPATIAL[xml_type]
        if type(model) is cls:
            break
    else:
        raise XMLModelError(f"{where}: spatial model {type(model).__name__} has no gtlike XML equivalent")
    if "e" in model.parameters.names and model.e.value != 0:
        raise XMLModelError(f"{where}: elongated {type(model).__name__} (e={model.e.value}) has no XML equivalent")
    if model.frame != "icrs":
        model = model.copy()
        pos = SkyCoord(model.lon_0.quantity, model.lat_0.quantity, frame=model.frame).icrs
        model.frame = "icrs"
        model.lon_0.quantity = pos.ra
        model.lat_0.quantity = pos.dec
        model.lon_0.min, model.lon_0.max = -360.0, 360.0
        model.lat_0.min, model.lat_0.max = -90.0, 90.0
    elem = ET.SubElement(src_elem, "spatialModel", {"type": xml_type})
    _write_parameters(elem, model, spec, where)
    return xml_type


def _models_to_root(models, out_folder):
    root = ET.Element("source_library", {"title": "source library"})
    for model in models:
        if not isinstance(model, SkyModel):
            log.info("%s %r has no gtlike XML equivalent; not written", type(model).__name__, model.name)
            continue
        where = f"model '{model.name}'"
        if model.spatial_model is None or model.spectral_model is None:
            raise XMLModelError(f"{where}: needs both a spatial and a spectral model")
        if model.temporal_model is not None:
            log.warning("%s: temporal model not representable in XML; ignored", where)
        is_point = isinstance(model.spatial_model, PointSpatialModel)
        attrs = {"name": model.name, "type": "PointSource" if is_point else "DiffuseSource"}
        if not model.apply_irf.get("edisp", True):
            attrs["apply_edisp"] = "false"
        src = ET.SubElement(root, "source", attrs)
        # spectrum first, as gtlike writes it; the spatial type decides the spectrum flavour
        tmp = ET.Element("tmp")
        stype = _write_spatial(tmp, model.spatial_model, where, out_folder)
        _write_spectrum(src, model.spectral_model, stype == "MapCubeFunction", where, out_folder)
        src.extend(list(tmp))
    ET.indent(root, space="  ")
    return root


def models_to_xml_string(models, out_folder=None):
    """gtlike XML text of `~gammapy.modeling.models.Models` (see `write_xml_models`)."""
    root = _models_to_root(Models(models), out_folder)
    return '<?xml version="1.0" ?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_xml_models(models, filename, overwrite=False):
    """Write Gammapy sky models as a gtlike XML source model.

    Spectral models are written with their exact LAT function (see `to_lat_spectral_model`),
    positions in ICRS (RA/Dec), file names of templates and tables relative to the XML's folder when
    below it. Parameters without bounds are written without ``min``/``max``. Background models that
    are not sky models (`~gammapy.modeling.models.FoVBackgroundModel`, ...) are not written.

    Parameters
    ----------
    models : `~gammapy.modeling.models.Models` or list of `~gammapy.modeling.models.SkyModel`
        Models to write.
    filename : str or `~pathlib.Path`
        Output XML file.
    overwrite : bool
        Replace an existing file.

    Raises
    ------
    XMLModelError
        If a model has no XML equivalent (the message names it).
    """
    filename = Path(filename)
    text = models_to_xml_string(models, out_folder=filename.resolve().parent)
    with atomic_output(filename, overwrite=overwrite) as tmp:
        tmp.write_text(text)
    return filename
