"""Counts cubes and maps with gtbin semantics on any Gammapy geometry.

Pixels are assigned by the geometry's WCS (wcslib, as in the Fermitools) or HEALPix scheme;
energies are binned as gtbin's ``LogBinner`` does for logarithmic axes
(``int(n * log(E / emin) / log(emax / emin))`` for ``emin <= E < emax``) and by edge search
otherwise. Galactic coordinates are obtained from the event RA/Dec with the rotation the
Fermitools use (``astro::SkyDir``: Euler angles 282.8592, 62.8717 and 32.93224 deg), which is
what puts events into the same Galactic pixels as gtbin; it differs from the IAU/astropy
transformation by up to ~2 arcsec.
"""
import math
import warnings

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning
from gammapy.maps import HpxGeom, Map, MapAxis, MapCoord, WcsGeom

from ..errors import LATDataError, LATFileError
from ..utils import write_fits_atomic
from ..utils.resources import check_memory
from .ft1 import LATEventList, _creator
from .ft1 import _now as now

__all__ = [
    "bin_events",
    "make_counts_geom",
    "make_energy_axis",
    "read_counts_geom",
    "write_counts_map",
    "energy_axis_from_ebounds",
    "energy_indices",
    "axis_edges",
    "radec_to_galactic",
    "check_wcs_parameters",
    "check_hpx_order",
    "WCS_PROJECTIONS",
]

_FRAMES = {"CEL": "icrs", "GAL": "galactic"}

#: The celestial projections of WCS (wcslib), as accepted by gtbin's ``proj``.
WCS_PROJECTIONS = (
    "AZP", "SZP", "TAN", "STG", "SIN", "ARC", "ZPN", "ZEA", "AIR", "CYP", "CEA", "CAR", "MER", "COP",
    "COE", "COD", "COO", "SFL", "GLS", "PAR", "MOL", "AIT", "BON", "PCO", "TSC", "CSC", "QSC", "HPX", "XPH",
)  # fmt: skip
#: Largest HEALPix order (healpy).
MAX_HPX_ORDER = 29


def _number(name, value, kind=float):
    if isinstance(value, np.generic):
        value = value.item()  # messages show 0.5, not np.float64(0.5)
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise LATDataError(f"{name}={value!r} is not a number") from None
    if kind is int and number != value:
        raise LATDataError(f"{name}={value!r} is not an integer")
    if not math.isfinite(number):
        raise LATDataError(f"{name}={value!r} is not finite")
    return number


def check_wcs_parameters(nxpix, nypix, binsz, xref, yref, proj="CAR", nplanes=1, itemsize=4, what="map"):
    """Check the parameters of a WCS map (gtbin/gtexpcube2 names) before building it.

    Parameters
    ----------
    nxpix, nypix : int
        Number of pixels (>= 1).
    binsz : float
        Pixel size (deg, > 0).
    xref, yref : float
        Map centre (deg); ``yref`` within [-90, 90].
    proj : str
        WCS projection code (`WCS_PROJECTIONS`).
    nplanes, itemsize : int
        Energy planes and bytes per value, for the memory estimate.
    what : str
        The map, for messages.

    Returns
    -------
    nxpix, nypix, binsz, xref, yref, proj
        Checked values (ints, floats and the upper-case projection).

    Raises
    ------
    LATDataError
        A value that cannot give a correct map, naming the parameter.
    ResourceLimitError
        The map would not fit in the memory limit.
    """

    nxpix, nypix = _number("nxpix", nxpix, int), _number("nypix", nypix, int)
    binsz, xref, yref = _number("binsz", binsz), _number("xref", xref), _number("yref", yref)
    if nxpix < 1 or nypix < 1:
        raise LATDataError(f"Invalid image size nxpix={nxpix}, nypix={nypix}: both must be >= 1")
    if not binsz > 0:
        raise LATDataError(f"binsz={binsz} deg: the pixel size must be > 0")
    if not -90 <= yref <= 90:
        raise LATDataError(f"yref={yref} deg: the latitude of the map centre must be within [-90, 90]")
    proj = str(proj).strip().upper()
    if proj not in WCS_PROJECTIONS:
        raise LATDataError(f"proj={proj!r} is not a WCS projection; use one of {', '.join(WCS_PROJECTIONS)}")
    check_memory(
        2.0 * nxpix * nypix * max(int(nplanes), 1) * itemsize,
        f"A {what} of {nxpix} x {nypix} pixels x {int(nplanes)} plane(s)",
        advice="use larger pixels, fewer pixels or fewer energy bins",
    )
    return nxpix, nypix, binsz, xref, yref, proj


def check_hpx_order(order, nplanes=1, itemsize=4, what="HEALPix map"):
    """Check a HEALPix order (0 to 29) and the memory of its map; returns the order as an int."""

    order = _number("hpx_order", order, int)
    if not 0 <= order <= MAX_HPX_ORDER:
        raise LATDataError(f"hpx_order={order}: the HEALPix order must be within [0, {MAX_HPX_ORDER}]")
    check_memory(
        2.0 * 12 * 4**order * max(int(nplanes), 1) * itemsize,
        f"A {what} of order {order} (NSIDE {2**order}, {12 * 4**order} pixels) x {int(nplanes)} plane(s)",
        advice="use a smaller order or fewer energy bins",
    )
    return order


def _event_columns(events):
    """RA, DEC (deg, float64) and ENERGY (MeV) arrays of any supported event container."""

    if isinstance(events, LATEventList):
        table = events.table
        energy = events.energy.to_value(u.MeV)
    else:
        table = getattr(events, "table", events)
        col = table["ENERGY"]
        unit = getattr(col, "unit", None) or u.MeV
        energy = u.Quantity(np.asarray(col), unit).to_value(u.MeV)
    ra = np.asarray(table["RA"], dtype=float)
    dec = np.asarray(table["DEC"], dtype=float)
    return ra, dec, np.asarray(energy, dtype=float)


def axis_edges(axis, unit="MeV"):
    """Exact bin edges of a `~gammapy.maps.MapAxis` as float64 in ``unit``.

    ``MapAxis.edges`` re-interpolates the edges (e.g. 199.99999999999991 instead of 200 for log
    axes); the stored edge nodes are used when available so that binning is exact.
    """
    nodes = getattr(axis, "_nodes", None)
    if getattr(axis, "node_type", None) == "edges" and nodes is not None and len(nodes) == axis.nbin + 1:
        return u.Quantity(nodes, axis.unit).to_value(unit)
    return axis.edges.to_value(unit)


def _is_log_uniform(edges, rtol=1e-9):
    edges = np.asarray(edges, float)
    if edges.size < 2 or np.any(edges <= 0):
        return False
    ratio = np.log(edges[1:] / edges[:-1])
    return np.allclose(ratio, ratio[0], rtol=1e-6, atol=0)


def energy_indices(energy, edges):
    """Energy-bin index of each event (-1 outside), with gtbin semantics.

    Parameters
    ----------
    energy : `~numpy.ndarray`
        Energies in the unit of ``edges``.
    edges : `~numpy.ndarray`
        Bin edges (increasing).

    Returns
    -------
    idx : `~numpy.ndarray`
        Bin index per event, -1 where ``energy`` is outside ``[edges[0], edges[-1])``.
    """
    energy = np.asarray(energy, float)
    edges = np.asarray(edges, float)
    nbin = edges.size - 1
    inside = (energy >= edges[0]) & (energy < edges[-1])
    if _is_log_uniform(edges):
        with np.errstate(divide="ignore", invalid="ignore"):
            idx = np.floor(nbin * np.log(energy / edges[0]) / np.log(edges[-1] / edges[0]))
        idx = np.where(inside, idx, -1).astype(np.int64)
        idx = np.where(idx >= nbin, nbin - 1, idx)
    else:
        idx = np.searchsorted(edges, energy, side="right") - 1
        idx = np.where(inside, idx, -1)
    return idx


def _rot(axis, angle_deg):
    c, s = math.cos(math.radians(angle_deg)), math.sin(math.radians(angle_deg))
    if axis == "z":
        return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


#: Equatorial (J2000) to Galactic rotation of the Fermitools (``astro::SkyDir``).
FERMI_EQ_TO_GAL = _rot("z", 32.93224) @ _rot("x", -62.8717) @ _rot("z", -282.8592)


def radec_to_galactic(ra, dec, convention="fermitools"):
    """Galactic ``(l, b)`` in degrees of equatorial directions.

    Parameters
    ----------
    ra, dec : array-like
        J2000 directions in degrees.
    convention : {"fermitools", "astropy"}
        ``"fermitools"`` uses the rotation of the Fermitools' ``astro::SkyDir`` (it reproduces
        the ``L``/``B`` columns of FT1 files and gtbin's Galactic pixels); ``"astropy"`` the IAU
        FK5 to Galactic transformation of astropy.
    """
    ra = np.asarray(ra, float)
    dec = np.asarray(dec, float)
    if convention == "astropy":
        coord = SkyCoord(ra * u.deg, dec * u.deg, frame="fk5", equinox="J2000").galactic
        return coord.l.deg, coord.b.deg
    if convention != "fermitools":
        raise LATDataError(f"Unknown Galactic convention {convention!r}; use 'fermitools' or 'astropy'")
    ra_r, dec_r = np.radians(ra), np.radians(dec)
    cosd = np.cos(dec_r)
    vec = np.stack([np.cos(ra_r) * cosd, np.sin(ra_r) * cosd, np.sin(dec_r)])
    gal = np.tensordot(FERMI_EQ_TO_GAL, vec, axes=1)
    lon = np.degrees(np.arctan2(gal[1], gal[0])) % 360.0
    lat = np.degrees(np.arcsin(np.clip(gal[2], -1.0, 1.0)))
    return lon, lat


def _sky_lonlat(ra, dec, frame, convention="fermitools"):
    if frame == "galactic":
        return radec_to_galactic(ra, dec, convention)
    if frame in ("icrs", "fk5"):
        return ra, dec
    coord = SkyCoord(ra * u.deg, dec * u.deg, frame="fk5", equinox="J2000").transform_to(frame)
    return coord.spherical.lon.deg, coord.spherical.lat.deg


def bin_events(events, geom, dtype=np.int32, galactic_convention="fermitools"):
    """Fill a counts map from events.

    Parameters
    ----------
    events : `~gammapy_lat.data.LATEventList`, `~gammapy.data.EventList` or `~astropy.table.Table`
        Events with ``RA``, ``DEC`` (deg) and ``ENERGY`` (MeV unless the column has a unit).
    geom : `~gammapy.maps.WcsGeom` or `~gammapy.maps.HpxGeom`
        Geometry of any projection / HEALPix scheme; with or without an ``energy`` axis.
    dtype : data-type
        Data type of the counts (int32 as gtbin).
    galactic_convention : {"fermitools", "astropy"}
        Equatorial to Galactic rotation for Galactic geometries (see :func:`radec_to_galactic`).

    Returns
    -------
    counts : `~gammapy.maps.Map`
        Counts; events outside the map or the energy range are ignored.
    """
    if not isinstance(geom, (WcsGeom, HpxGeom)):
        raise LATDataError(f"bin_events needs a WcsGeom or HpxGeom, got {type(geom).__name__}")
    extra = [ax.name for ax in geom.axes if ax.name != "energy"]
    if extra:
        raise LATDataError(f"bin_events supports only an 'energy' axis, the geometry also has {extra}")
    ra, dec, energy = _event_columns(events)
    lon, lat = _sky_lonlat(ra, dec, geom.frame, galactic_convention)
    image = geom.to_image()
    coords = MapCoord.create({"lon": lon, "lat": lat}, frame=geom.frame)
    pix_idx = image.coord_to_idx(coords, clip=False)
    valid = np.all([np.asarray(i) >= 0 for i in pix_idx], axis=0)
    idx = list(pix_idx)
    if "energy" in geom.axes.names:
        axis = geom.axes["energy"]
        e_idx = energy_indices(energy, axis_edges(axis, "MeV"))
        valid &= e_idx >= 0
        idx.append(e_idx)
    counts = Map.from_geom(geom, data=np.zeros(geom.data_shape, dtype=dtype), unit="")
    counts.fill_by_idx(tuple(np.asarray(i)[valid] for i in idx))
    return counts


# ------------------------------------------------------------------------- geometries
def make_energy_axis(emin, emax, enumbins, ebinalg="LOG", ebinfile=None):
    """Reconstructed-energy axis from gtbin parameters (``emin``/``emax`` in MeV, ``enumbins``,
    ``ebinalg`` ``LOG``/``LIN``/``FILE`` with ``ebinfile``).

    Returns
    -------
    axis : `~gammapy.maps.MapAxis`
        Named ``energy``, in MeV.
    """
    ebinalg = (ebinalg or "LOG").upper()
    if ebinalg == "FILE":
        if ebinfile is None:
            raise LATDataError("ebinalg=FILE needs an ebinfile")
        return energy_axis_from_ebounds(ebinfile)
    if emin is None or emax is None or enumbins is None:
        raise LATDataError("The energy binning needs emin, emax and enumbins")
    emin, emax, enumbins = _number("emin", emin), _number("emax", emax), _number("enumbins", enumbins, int)
    if not 0 < emin < emax or enumbins < 1:
        raise LATDataError(f"Invalid energy binning emin={emin}, emax={emax}, enumbins={enumbins}: need 0 < emin < emax and enumbins >= 1")
    if ebinalg == "LOG":
        edges = emin * np.exp(np.arange(enumbins + 1) * (math.log(emax / emin) / enumbins))
        edges[0], edges[-1] = emin, emax
        return MapAxis.from_edges(edges * u.MeV, name="energy", interp="log")
    if ebinalg == "LIN":
        edges = np.linspace(emin, emax, enumbins + 1)
        return MapAxis.from_edges(edges * u.MeV, name="energy", interp="lin")
    raise LATDataError(f"Unknown ebinalg {ebinalg!r}; use LOG, LIN or FILE")


def make_counts_geom(
    algorithm="CCUBE",
    nxpix=None,
    nypix=None,
    binsz=None,
    coordsys="CEL",
    xref=None,
    yref=None,
    axisrot=0.0,
    proj="CAR",
    emin=None,
    emax=None,
    enumbins=None,
    ebinalg="LOG",
    ebinfile=None,
    hpx_ordering_scheme="RING",
    hpx_order=3,
    hpx_ebin=True,
    hpx_region=None,
):
    """Geometry from gtbin parameters.

    Parameters are named and meant as in gtbin: ``nxpix``/``nypix`` pixels of ``binsz`` degrees
    centred on ``(xref, yref)`` in ``coordsys`` (``CEL`` or ``GAL``) with projection ``proj``;
    energies from ``emin`` to ``emax`` MeV in ``enumbins`` bins (``ebinalg`` ``LOG``/``LIN``/
    ``FILE``). ``algorithm`` is ``CCUBE`` (counts cube), ``CMAP`` (image) or ``HEALPIX``.

    Returns
    -------
    geom : `~gammapy.maps.WcsGeom` or `~gammapy.maps.HpxGeom`
    """
    algorithm = algorithm.upper()
    coordsys = coordsys.upper()
    if coordsys not in _FRAMES:
        raise LATDataError(f"coordsys must be CEL or GAL, got {coordsys!r}")
    frame = _FRAMES[coordsys]
    if algorithm not in ("CCUBE", "CMAP", "HEALPIX"):
        raise LATDataError(f"Unknown algorithm {algorithm!r}; use CCUBE, CMAP or HEALPIX")
    with_energy = algorithm == "CCUBE" or (algorithm == "HEALPIX" and hpx_ebin)
    # sizes are checked before any array (even the energy edges) is allocated
    nplanes = 1
    if with_energy and (ebinalg or "LOG").upper() != "FILE" and enumbins is not None:
        nplanes = max(_number("enumbins", enumbins, int), 1)
    if algorithm in ("CCUBE", "CMAP"):
        missing = [n for n, v in (("nxpix", nxpix), ("nypix", nypix), ("binsz", binsz), ("xref", xref), ("yref", yref)) if v is None]
        if missing:
            raise LATDataError(f"{algorithm} binning needs {', '.join(missing)}")
        if axisrot:
            raise LATDataError("axisrot other than 0 is not supported")
        nxpix, nypix, binsz, xref, yref, proj = check_wcs_parameters(
            nxpix, nypix, binsz, xref, yref, proj, nplanes=nplanes, what="counts map"
        )
    else:
        hpx_order = check_hpx_order(hpx_order, nplanes=nplanes, what="HEALPix counts map")
    axes = [make_energy_axis(emin, emax, enumbins, ebinalg, ebinfile)] if with_energy else []
    if algorithm in ("CCUBE", "CMAP"):
        wcs = WCS(naxis=2)
        prefix = ("RA--", "DEC-") if frame == "icrs" else ("GLON", "GLAT")
        wcs.wcs.ctype = [f"{prefix[0]}-{proj}", f"{prefix[1]}-{proj}"]
        wcs.wcs.crpix = [(nxpix + 1) / 2.0, (nypix + 1) / 2.0]
        wcs.wcs.crval = [float(xref), float(yref)]
        wcs.wcs.cdelt = [-binsz, binsz]
        wcs.wcs.cunit = ["deg", "deg"]
        if frame == "icrs":
            wcs.wcs.equinox = 2000.0
            wcs.wcs.radesys = "FK5"
        return WcsGeom(wcs, npix=(nxpix, nypix), axes=axes)
    nest = hpx_ordering_scheme.upper() == "NESTED"
    return HpxGeom.create(nside=2**hpx_order, nest=nest, frame=frame, region=hpx_region, axes=axes)


def _snap(value):
    """Round a float32-stored value to 7 significant digits when that is within float32 precision."""
    snapped = float(f"{value:.7g}")
    return snapped if abs(snapped - value) <= 1e-6 * abs(value) else value


def energy_axis_from_ebounds(path_or_hdu, primary_header=None):
    """Energy axis (MeV) from an ``EBOUNDS`` extension as written by gtbin (keV, float32).

    Logarithmically uniform bounds are rebuilt in float64 from the first and last edge (and,
    when given, ``CRVAL3`` of the counts cube), so that events are binned exactly as gtbin did;
    other bounds are used as stored.
    """
    if isinstance(path_or_hdu, (fits.BinTableHDU, fits.TableHDU)):
        hdu = path_or_hdu
    else:
        try:
            with fits.open(path_or_hdu, memmap=False) as hdulist:
                if "EBOUNDS" not in hdulist:
                    raise LATFileError(f"{path_or_hdu} has no EBOUNDS extension")
                hdu = fits.BinTableHDU(hdulist["EBOUNDS"].data.copy(), hdulist["EBOUNDS"].header.copy())
        except OSError as exc:
            if isinstance(exc, LATFileError):
                raise
            raise LATFileError(f"Cannot read {path_or_hdu}: {exc}") from exc
    data, header = hdu.data, hdu.header
    names = [n.upper() for n in hdu.columns.names]
    if "E_MIN" not in names or "E_MAX" not in names:
        raise LATFileError("EBOUNDS extension lacks E_MIN/E_MAX columns")
    unit = None
    for idx, name in enumerate(hdu.columns.names, start=1):
        if name.upper() == "E_MIN":
            unit = header.get(f"TUNIT{idx}")
    unit = u.Unit(unit.strip()) if unit and unit.strip() else u.keV
    lo = u.Quantity(np.asarray(data["E_MIN"], float), unit).to_value(u.MeV)
    hi = u.Quantity(np.asarray(data["E_MAX"], float), unit).to_value(u.MeV)
    nbin = lo.size
    if nbin > 1 and not np.allclose(lo[1:], hi[:-1], rtol=1e-6):
        raise LATDataError("EBOUNDS bins are not contiguous")
    edges = np.r_[lo, hi[-1]]
    if _is_log_uniform(edges):
        emin = _snap(lo[0])
        emax = _snap(hi[-1])
        if primary_header is not None and "CRVAL3" in primary_header:
            crval = float(primary_header["CRVAL3"])
            if abs(crval - lo[0]) <= 1e-6 * lo[0]:
                emin = crval
        edges = emin * np.exp(np.arange(nbin + 1) * (math.log(emax / emin) / nbin))
        edges[0], edges[-1] = emin, emax
        return MapAxis.from_edges(edges * u.MeV, name="energy", interp="log")
    return MapAxis.from_edges(edges * u.MeV, name="energy", interp="lin")


def _plane_energies(hdulist, header, path):
    """Energies (MeV) of the planes of a cube without ``EBOUNDS``, or None.

    From an ``ENERGIES`` table (gtexpcube2 exposure cubes, map cubes), else from the WCS of the
    third axis (``CTYPE3 = 'log_Energy'``: natural log of MeV; ``'Energy'``: MeV, or ``CUNIT3``).
    """
    if "ENERGIES" in hdulist:
        table = hdulist["ENERGIES"]
        column = table.columns[0]
        unit = u.Unit(column.unit.strip()) if column.unit and column.unit.strip() else u.MeV
        return u.Quantity(np.asarray(table.data.field(0), float), unit).to_value(u.MeV)
    if header.get("NAXIS", 0) < 3 or "CRVAL3" not in header:
        return None
    nplane = int(header["NAXIS3"])
    crval, crpix = float(header["CRVAL3"]), float(header.get("CRPIX3", 1.0))
    cdelt = float(header.get("CDELT3", 1.0))
    values = crval + (np.arange(1, nplane + 1) - crpix) * cdelt
    ctype = str(header.get("CTYPE3", "")).strip().upper()
    if ctype.startswith("LOG"):
        return np.exp(values)
    if "ENER" in ctype:
        unit = str(header.get("CUNIT3", "MeV")).strip() or "MeV"
        try:
            return u.Quantity(values, unit).to_value(u.MeV)
        except (ValueError, u.UnitConversionError):
            raise LATFileError(f"{path}: CUNIT3={unit!r} is not an energy unit") from None
    return None


def read_counts_geom(path):
    """Geometry (with energy axis) of an existing counts cube / map, for ``--like``.

    Reads gtbin ``CCUBE``/``CMAP`` files (WCS primary image + ``EBOUNDS``), HEALPix counts
    cubes (``SKYMAP`` + ``EBOUNDS``), and cubes whose energy axis is a set of planes rather than
    bins: gtexpcube2 exposure cubes and map cubes (``ENERGIES`` table or a ``log_Energy``/
    ``Energy`` WCS axis, WCS or ``HPXEXPOSURES``). The planes of such cubes are taken as the edges
    of the energy bins (gtexpcube2's default ``bincalc=EDGE``: n + 1 planes for n bins).
    """
    try:
        with fits.open(path, memmap=False) as hdulist:
            primary = hdulist[0].header.copy()
            ebounds = None
            if "EBOUNDS" in hdulist:
                ebounds = fits.BinTableHDU(hdulist["EBOUNDS"].data.copy(), hdulist["EBOUNDS"].header.copy())
            if primary.get("NAXIS", 0) >= 2:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", FITSFixedWarning)
                    wcs = WCS(primary, naxis=2)
                npix = (int(primary["NAXIS1"]), int(primary["NAXIS2"]))
                axes = []
                if primary.get("NAXIS", 0) >= 3:
                    if ebounds is not None:
                        axes = [energy_axis_from_ebounds(ebounds, primary)]
                    else:
                        axes = [_axis_from_planes(_plane_energies(hdulist, primary, path), path)]
                return WcsGeom(wcs, npix=npix, axes=axes)
            hpx_hdu = None
            for hdu in hdulist[1:]:
                if hdu.header.get("PIXTYPE", "").upper() == "HEALPIX":
                    hpx_hdu = hdu
                    break
            if hpx_hdu is None:
                raise LATFileError(f"{path} holds neither a WCS image nor a HEALPix map")
            geom = HpxGeom.from_header(hpx_hdu.header)
            if ebounds is not None:
                axes = [energy_axis_from_ebounds(ebounds)]
            elif "ENERGIES" in hdulist:
                axes = [_axis_from_planes(_plane_energies(hdulist, hpx_hdu.header, path), path)]
            else:
                axes = []
            return geom.to_image().to_cube(axes) if axes else geom.to_image()
    except OSError as exc:
        if isinstance(exc, LATFileError):
            raise
        raise LATFileError(f"Cannot read counts cube {path}: {exc}") from exc


def _axis_from_planes(energies, path):
    if energies is None:
        raise LATFileError(
            f"Cube {path} has 3 axes but neither an EBOUNDS nor an ENERGIES extension nor an energy WCS axis"
        )
    energies = np.asarray(energies, float)
    if energies.size < 2 or np.any(energies <= 0) or np.any(np.diff(energies) <= 0):
        raise LATFileError(f"Cube {path}: the energies of its planes are not positive and increasing: {energies}")
    if _is_log_uniform(energies):
        # planes stored in float32 or rounded: rebuild the log-uniform edges in float64
        emin, emax, n = _snap(energies[0]), _snap(energies[-1]), energies.size - 1
        edges = emin * np.exp(np.arange(n + 1) * (math.log(emax / emin) / n))
        edges[0], edges[-1] = emin, emax
        return MapAxis.from_edges(edges * u.MeV, name="energy", interp="log")
    return MapAxis.from_edges(energies * u.MeV, name="energy", interp="log")


# ---------------------------------------------------------------------------- writing
def _ebounds_hdu(axis):
    edges_kev = axis_edges(axis, "keV")
    nbin = axis.nbin
    hdu = fits.BinTableHDU.from_columns(
        [
            fits.Column(name="CHANNEL", format="I", array=np.arange(1, nbin + 1, dtype=np.int16)),
            fits.Column(name="E_MIN", format="1E", unit="keV", array=edges_kev[:-1]),
            fits.Column(name="E_MAX", format="1E", unit="keV", array=edges_kev[1:]),
        ],
        name="EBOUNDS",
    )
    header = hdu.header
    header["TELESCOP"] = "GLAST"
    header["INSTRUME"] = "LAT"
    header["FILTER"] = "NONE"
    header["CHANTYPE"] = ("PI", "Energy channel type")
    header["DETCHANS"] = (nbin, "Total number of detector channels available.")
    header["HDUCLASS"] = "OGIP"
    header["HDUCLAS1"] = "RESPONSE"
    header["HDUCLAS2"] = "EBOUNDS"
    header["HDUVERS"] = "1.2.0"
    return hdu


_TIME_KEYS = ("DATE-OBS", "DATE-END", "TSTART", "TSTOP", "MJDREFI", "MJDREFF", "TIMEUNIT", "TIMEZERO", "TIMESYS", "TIMEREF", "CLOCKAPP", "GPS_OUT")


def write_counts_map(counts, path, events=None, overwrite=False, creator=None, exposure=None):
    """Write a counts map in the Fermitools (gtbin) format, atomically.

    WCS maps: primary int32 image (``NAXIS3`` energy planes with ``CTYPE3 = 'Energy'``),
    ``EBOUNDS`` (``CHANNEL``, ``E_MIN``, ``E_MAX`` in keV) and ``GTI``. HEALPix maps: ``SKYMAP``
    table (``CHANNELn`` columns), ``EBOUNDS`` and ``GTI``. Time keywords and DSS keywords come
    from ``events``.

    Parameters
    ----------
    counts : `~gammapy.maps.Map`
        Counts from :func:`bin_events`.
    path : str or `~pathlib.Path`
        Output file.
    events : `~gammapy_lat.data.LATEventList`, optional
        Source events (GTI, time and DSS keywords).
    overwrite : bool
        Replace an existing file.
    creator : str, optional
        ``CREATOR`` keyword.
    exposure : `~astropy.units.Quantity`, optional
        Livetime in the GTIs, written as ``EXPOSURE`` in the ``GTI`` header (as gtbin does when
        given the spacecraft file).
    """

    creator = creator or _creator()
    geom = counts.geom
    has_energy = "energy" in geom.axes.names
    common = fits.Header()
    common["TELESCOP"] = "GLAST"
    common["INSTRUME"] = "LAT"
    if events is not None:
        for key in _TIME_KEYS:
            if key in events.header:
                common[key] = events.header[key]
        common["TSTART"] = events.tstart
        common["TSTOP"] = events.tstop
    common["CREATOR"] = (creator, "Software and version creating file")

    if isinstance(geom, WcsGeom):
        data = np.asarray(counts.data).astype(np.int32) if np.issubdtype(counts.data.dtype, np.integer) else np.asarray(counts.data, np.float32)
        primary = fits.PrimaryHDU(data=data)
        header = primary.header
        header.extend(geom.to_image().wcs.to_header(), update=True)
        # astropy adds WCSAXES=2 and its own time reference; the time keywords come from the events
        for key in ("WCSAXES", "MJDREF", "DATEREF", "MJDREFF", "MJDREFI", "MJD-OBS", "MJD-END"):
            if key in header:
                del header[key]
        if has_energy:
            axis = geom.axes["energy"]
            edges = axis_edges(axis, "MeV")
            header["CTYPE3"] = ("Energy", "Energy")
            header["CRPIX3"] = (1, "Reference pixel")
            header["CRVAL3"] = (float(edges[0]), "Energy at the reference pixel")
            header["CDELT3"] = (float(edges[1] - edges[0]), "Energy increment of the first bin")
            header["CUNIT3"] = ("MeV", "Physical unit of Z-axis")
        header.extend(common, update=True)
        header["DATE"] = _now()
        hdus = [primary]
    else:
        hdulist = counts.to_hdulist(hdu="SKYMAP", format="fgst-ccube")
        primary = fits.PrimaryHDU()
        primary.header.extend(common, update=True)
        skymap = hdulist["SKYMAP"]
        skymap.header.extend(common, update=True)
        hdus = [primary, skymap]
    if has_energy:
        ebounds = _ebounds_hdu(geom.axes["energy"])
        ebounds.header.extend(common, update=True)
        hdus.append(ebounds)
    if events is not None:
        gti = events._gti_hdu(creator)
        if exposure is not None:
            gti.header["EXPOSURE"] = (float(u.Quantity(exposure, u.s).value), "Integration time (in seconds) for the PHA data")
        hdus.append(gti)
        events.dss.to_header(hdus[0].header)
        events.dss.to_header(gti.header)
        if not isinstance(geom, WcsGeom):
            events.dss.to_header(hdus[1].header)  # SKYMAP
    return write_fits_atomic(fits.HDUList(hdus), path, overwrite=overwrite, checksum=True)


def _now():
    return now()
