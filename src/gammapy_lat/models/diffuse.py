"""Standard LAT diffuse backgrounds as Gammapy models.

The Fermi Science Support Center distributes two diffuse background components with each event
class:

* the isotropic spectrum, a text file ``iso_<IRF>.txt`` with three columns: energy [MeV],
  intensity dN/dE [cm-2 s-1 MeV-1 sr-1] and its uncertainty;
* the Galactic interstellar emission model (IEM), a "MapCube" FITS file (``gll_iem_v07.fits``):
  a cube of intensities [cm-2 s-1 MeV-1 sr-1] on a sky grid, with the energies of the planes in an
  ``ENERGIES`` table extension.

As in the Fermitools (``FileFunction`` and ``MapCubeFunction``), both are interpolated linearly
in log(intensity) versus log(energy). The functions below turn them into Gammapy
`~gammapy.modeling.models.SkyModel` objects with a free normalisation (and, for the IEM, a free
spectral tilt), ready to be added to the models of a `~gammapy.datasets.MapDataset`.
"""
import logging
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.coordinates import Angle
from astropy.io import fits
from astropy.wcs import WCS
from gammapy.maps import Map, MapAxis, WcsGeom
from gammapy.modeling.models import (
    ConstantSpatialModel,
    PowerLawNormSpectralModel,
    SkyModel,
    TemplateSpatialModel,
    TemplateSpectralModel,
)

from ..errors import LATFileError

__all__ = [
    "INTENSITY_UNIT",
    "read_isotropic_spectrum",
    "create_isotropic_model",
    "read_galactic_diffuse_cube",
    "create_galactic_diffuse_model",
]

log = logging.getLogger(__name__)

INTENSITY_UNIT = u.Unit("MeV-1 cm-2 s-1 sr-1")
"""Unit of the FSSC diffuse model files."""

# Spellings of the intensity unit found in the headers of FSSC / GALPROP map cubes that astropy
# cannot parse.
_KNOWN_BUNITS = {
    "photons/cm^2/s/mev/steradian",
    "photons/cm^2/s/mev/sr",
    "ph/cm^2/s/mev/sr",
    "photon/cm**2/mev/s/sr",
    "ph cm-2 s-1 mev-1 sr-1",
    "intensity",
}


def read_isotropic_spectrum(filename, interp_kwargs=None):
    """Read an FSSC isotropic spectrum file as a template spectral model.

    Parameters
    ----------
    filename : str or `~pathlib.Path`
        Text file with columns energy [MeV], intensity [cm-2 s-1 MeV-1 sr-1] and (optionally)
        its uncertainty. Lines starting with ``#`` are ignored.
    interp_kwargs : dict, optional
        Interpolation options for `~gammapy.modeling.models.TemplateSpectralModel`. The default
        interpolates linearly in log-log and extrapolates the end segments (as the Fermitools
        ``FileFunction``).

    Returns
    -------
    model : `~gammapy.modeling.models.TemplateSpectralModel`
        Spectrum in cm-2 s-1 MeV-1; the sr-1 of the file is carried by the isotropic spatial
        model (``ConstantSpatialModel`` of value 1 sr-1).
    """
    path = Path(filename).expanduser()
    if not path.is_file():
        raise LATFileError(f"Isotropic spectrum file not found: {path}")
    try:
        values = np.loadtxt(path, comments="#", ndmin=2)
    except ValueError as exc:
        raise LATFileError(f"Isotropic spectrum file {path} is not a numeric table: {exc}") from exc

    if values.shape[1] < 2 or values.shape[0] < 2:
        raise LATFileError(
            f"Isotropic spectrum file {path} must have at least two rows of "
            f"'energy [MeV] intensity [cm-2 s-1 MeV-1 sr-1]', got shape {values.shape}"
        )
    energy, intensity = values[:, 0], values[:, 1]
    if not (np.all(np.isfinite(values[:, :2])) and np.all(energy > 0)):
        raise LATFileError(f"Isotropic spectrum file {path}: non-finite values or energies <= 0")
    if np.any(np.diff(energy) <= 0):
        raise LATFileError(f"Isotropic spectrum file {path}: energies are not strictly increasing")
    if np.any(intensity < 0):
        raise LATFileError(f"Isotropic spectrum file {path}: negative intensities")

    kwargs = {"extrapolate": True, "fill_value": None, "values_scale": "log"}
    kwargs.update(interp_kwargs or {})
    return TemplateSpectralModel(
        energy=u.Quantity(energy, "MeV"),
        values=u.Quantity(intensity, "MeV-1 cm-2 s-1"),
        interp_kwargs=kwargs,
        meta={"filename": str(path)},
    )


def create_isotropic_model(filename, name="isotropic", datasets_names=None, apply_edisp=True):
    """Isotropic diffuse background as a sky model with a free normalisation.

    Parameters
    ----------
    filename : str or `~pathlib.Path`
        FSSC isotropic spectrum file (``iso_<IRF>.txt``).
    name : str, optional
        Model name. Default is "isotropic".
    datasets_names : list of str, optional
        Datasets the model applies to (one isotropic spectrum per event type).
    apply_edisp : bool, optional
        Whether the energy dispersion is applied to the model. The PSF is never applied: an
        isotropic intensity is unchanged by the convolution. Default is True.

    Returns
    -------
    model : `~gammapy.modeling.models.SkyModel`
        ``ConstantSpatialModel`` x (template spectrum x ``PowerLawNormSpectralModel``); ``norm`` is
        free, ``tilt`` frozen at 0.
    """
    template = read_isotropic_spectrum(filename)
    norm = PowerLawNormSpectralModel(norm=1, tilt=0, reference="1 GeV")
    norm.tilt.frozen = True
    return SkyModel(
        spatial_model=ConstantSpatialModel(value=1 * u.Unit("sr-1")),
        spectral_model=template * norm,
        name=name,
        datasets_names=datasets_names,
        apply_irf={"psf": False, "exposure": True, "edisp": bool(apply_edisp)},
    )


def _parse_intensity_unit(header, path):
    bunit = header.get("BUNIT")
    if bunit is None or str(bunit).strip() == "":
        return INTENSITY_UNIT
    text = str(bunit).strip()
    if text.lower().replace(" ", "") in {k.replace(" ", "") for k in _KNOWN_BUNITS}:
        return INTENSITY_UNIT
    try:
        unit = u.Unit(text)
    except ValueError:
        unit = u.Unit(text.replace("photons", "").replace("^", "").replace("steradian", "sr"),
                      parse_strict="silent")
    if not isinstance(unit, u.UnrecognizedUnit) and unit.is_equivalent(INTENSITY_UNIT):
        return unit
    raise LATFileError(
        f"Map cube {path}: BUNIT={text!r} is not an intensity unit "
        f"(expected e.g. 'MeV-1 cm-2 s-1 sr-1')"
    )


def read_galactic_diffuse_cube(filename, geom=None, margin="3 deg"):
    """Read a LAT Galactic diffuse map cube (FSSC ``MapCube`` format or Gammapy format).

    Parameters
    ----------
    filename : str or `~pathlib.Path`
        Map cube file, e.g. ``gll_iem_v07.fits``: a 3D primary image [cm-2 s-1 MeV-1 sr-1] with
        the plane energies [MeV] in an ``ENERGIES`` table, or a cube written by Gammapy.
    geom : `~gammapy.maps.Geom`, optional
        Analysis geometry. When given, only the part of the cube covering it (plus ``margin``) is
        kept, which keeps the all-sky cube out of memory downstream.
    margin : `~astropy.coordinates.Angle` or str, optional
        Margin added around ``geom`` for the cutout. Default is 3 deg.

    Returns
    -------
    cube : `~gammapy.maps.WcsNDMap`
        Intensity cube with an ``energy_true`` node axis interpolated in log.
    """
    path = Path(filename).expanduser()
    if not path.is_file():
        raise LATFileError(f"Galactic diffuse map cube not found: {path}")
    try:
        with fits.open(path) as hdulist:
            header = hdulist[0].header
            if "BANDSHDU" in header:
                cube = Map.read(path)
            else:
                cube = _read_fssc_mapcube(hdulist, path)
    except OSError as exc:
        raise LATFileError(f"Cannot read Galactic diffuse map cube {path}: {exc}") from exc

    if cube.geom.axes[0].name != "energy_true":
        axis = cube.geom.axes[0]
        if axis.name != "energy":
            raise LATFileError(f"Map cube {path} has no energy axis (found {axis.name!r})")
        axis = axis.copy(name="energy_true")
        cube = Map.from_geom(cube.geom.to_image().to_cube([axis]), data=cube.data, unit=cube.unit)
    if not cube.unit.is_equivalent(INTENSITY_UNIT):
        if cube.unit == u.dimensionless_unscaled:
            cube.unit = INTENSITY_UNIT
        else:
            raise LATFileError(f"Map cube {path}: unit {cube.unit} is not an intensity unit")
    if not np.all(np.isfinite(cube.data)):
        raise LATFileError(f"Map cube {path} contains non-finite intensities")

    if geom is not None:
        cube = _cutout_for_geom(cube, geom, Angle(margin), path)
    return cube


def _read_fssc_mapcube(hdulist, path):
    """Primary 3D image + ENERGIES table, the Fermitools ``MapCubeFunction`` format."""
    header = hdulist[0].header
    data = hdulist[0].data
    if data is None or data.ndim != 3:
        raise LATFileError(f"Map cube {path}: primary HDU is not a 3D image")
    if "ENERGIES" not in hdulist:
        raise LATFileError(f"Map cube {path}: missing ENERGIES extension")
    table = hdulist["ENERGIES"]
    energy = np.asarray(table.data.field(0), dtype=float)
    unit = table.columns[0].unit or "MeV"
    if energy.size != data.shape[0]:
        raise LATFileError(
            f"Map cube {path}: ENERGIES has {energy.size} rows but the cube has "
            f"{data.shape[0]} planes"
        )
    if np.any(np.diff(energy) <= 0) or np.any(energy <= 0):
        raise LATFileError(f"Map cube {path}: ENERGIES are not positive and increasing")
    wcs = WCS(header, naxis=2)
    axis = MapAxis.from_nodes(u.Quantity(energy, unit).to("MeV"), name="energy_true", interp="log")
    geom = WcsGeom(wcs=wcs, npix=(data.shape[2], data.shape[1]), axes=[axis])
    unit = _parse_intensity_unit(header, path)
    return Map.from_geom(geom, data=np.asarray(data, dtype=np.float32), unit=unit)


def _cutout_for_geom(cube, geom, margin, path):
    """Part of ``cube`` covering ``geom`` plus ``margin``: a slice of the cube's own pixels.

    The cut-out keeps the cube's projection and pixels (values are not resampled). For cubes
    spanning 360 deg in longitude, the slice wraps around the longitude edge, so that regions
    across it (e.g. the Galactic anticentre at l = 180 deg, where the Crab is) are complete.
    """
    image = geom.to_image()
    src = cube.geom.to_image()
    if not hasattr(src, "wcs"):
        return cube
    center = image.center_skydir.transform_to(src.frame)
    coords = image.get_coord().skycoord
    radius = Angle(np.nanmax(center.separation(coords).deg), "deg") + margin
    binsz = np.abs(src.pixel_scales.to_value("deg")).ravel()
    nx, ny = (int(n) for n in np.asarray(src.npix).ravel()[:2])
    # Longitude half-width: the radius widens towards the poles.
    lat_c = center.spherical.lat.deg
    lat_max = min(abs(lat_c) + radius.to_value("deg"), 90.0)
    cos_max = np.cos(np.radians(lat_max))
    lon_half = 180.0 if cos_max < 1e-3 else min(radius.to_value("deg") / cos_max, 180.0)
    hx = int(np.ceil(lon_half / binsz[0])) + 1
    hy = int(np.ceil(radius.to_value("deg") / binsz[1])) + 1
    if 2 * hx + 1 >= nx and 2 * hy + 1 >= ny:
        return cube
    xpix, ypix = (float(np.ravel(p)[0]) for p in src.coord_to_pix(center))
    if not (np.isfinite(xpix) and np.isfinite(ypix)):
        raise LATFileError(f"Map cube {path} does not cover {center.to_string('decimal')}")
    xc, yc = int(np.round(xpix)), int(np.round(ypix))
    # A plate carree grid with its reference on the equator is periodic in longitude.
    wrap = (
        src.projection == "CAR"
        and abs(src.wcs.wcs.crval[1]) < 1e-9
        and abs(binsz[0] * nx - 360.0) < 1e-3 * binsz[0]
        and 2 * hx + 1 < nx
    )
    x_start = xc - hx
    x_idx = np.arange(x_start, xc + hx + 1)
    if wrap:
        x_idx = np.mod(x_idx, nx)
    else:
        x_idx = x_idx[(x_idx >= 0) & (x_idx < nx)]
    y_idx = np.arange(max(yc - hy, 0), min(yc + hy, ny - 1) + 1)
    if x_idx.size == 0 or y_idx.size == 0:
        raise LATFileError(f"Map cube {path} does not cover {center.to_string('decimal')}")
    wcs = src.wcs.deepcopy()
    if wrap:
        # Re-reference the longitude axis on the central pixel so that no pixel is more than
        # 180 deg from the reference (WCS gives no coordinates beyond).
        lon_c = float(np.ravel(u.Quantity(src.pix_to_coord((np.array([xc]), np.array([yc])))[0], "deg").value)[0])
        wcs.wcs.crval = [lon_c, wcs.wcs.crval[1]]
        wcs.wcs.crpix = [xc - x_start + 1, wcs.wcs.crpix[1] - int(y_idx[0])]
    else:
        wcs.wcs.crpix = [wcs.wcs.crpix[0] - int(x_idx[0]), wcs.wcs.crpix[1] - int(y_idx[0])]
    new_geom = WcsGeom(wcs=wcs, npix=(x_idx.size, y_idx.size), axes=cube.geom.axes)
    data = cube.data[..., y_idx[:, None], x_idx[None, :]]
    return Map.from_geom(new_geom, data=data, unit=cube.unit)


def create_galactic_diffuse_model(
    filename,
    geom=None,
    name="galactic_diffuse",
    datasets_names=None,
    margin="3 deg",
    reference="1 GeV",
):
    """Galactic interstellar emission model as a sky model with free norm and tilt.

    Parameters
    ----------
    filename : str or `~pathlib.Path`
        Map cube (``gll_iem_v07.fits`` or a cutout of it).
    geom : `~gammapy.maps.Geom`, optional
        Analysis geometry used to cut the cube out (see `read_galactic_diffuse_cube`).
    name : str, optional
        Model name. Default is "galactic_diffuse".
    datasets_names : list of str, optional
        Datasets the model applies to.
    margin : `~astropy.coordinates.Angle` or str, optional
        Margin around ``geom`` kept in the cutout. Default is 3 deg.
    reference : `~astropy.units.Quantity` or str, optional
        Reference energy of the spectral tilt. Default is 1 GeV.

    Returns
    -------
    model : `~gammapy.modeling.models.SkyModel`
        ``TemplateSpatialModel`` (not renormalised, intensities in sr-1 MeV-1 cm-2 s-1) x
        ``PowerLawNormSpectralModel`` with free ``norm`` and ``tilt`` (the Fermitools'
        "PowerLaw" correction to the IEM, with index = -tilt).
    """
    cube = read_galactic_diffuse_cube(filename, geom=geom, margin=margin)
    spatial = TemplateSpatialModel(cube, normalize=False, filename=str(filename))
    spectral = PowerLawNormSpectralModel(norm=1, tilt=0, reference=reference)
    spectral.tilt.frozen = False
    return SkyModel(
        spatial_model=spatial,
        spectral_model=spectral,
        name=name,
        datasets_names=datasets_names,
    )
