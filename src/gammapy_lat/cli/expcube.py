"""``gammapy-lat expcube``, ``psf`` and ``drm``: response products from a livetime cube.

Equivalents of gtexpcube2 (exposure cube, planes at the energy bin edges), gtpsf (PSF averaged
over the livetime at one position) and gtdrm (detector response matrix at one position).
"""
import logging

import astropy.units as u
import click
import numpy as np
from astropy.coordinates import SkyCoord

from .common import check_output, clobber_option, handle_errors, irf_name_option, outfile_option

# Imports of gammapy and of the package's layers are deferred into the commands: importing
# them takes several seconds, and `gammapy-lat --help` or a wrong option must answer at once.

__all__ = ["expcube_command", "psf_command", "drm_command"]

log = logging.getLogger(__name__)

_irf_options = [
    click.option("--ltcube", required=True, type=click.Path(exists=True, dir_okay=False), help="Livetime cube (gtltcube format)."),
    click.option("--evtype", default="3", show_default=True, help="Event-type bit mask or names (3, 60, FRONT, PSF3...)."),
    click.option("--caldb", type=click.Path(exists=True), default=None, help="CALDB folder (default: $CALDB)."),
]


def irf_options(func):
    for option in reversed(_irf_options):
        func = option(func)
    return irf_name_option(func)


def _load(ltcube, irf_name, evtype, caldb, psf=False, edisp=False):
    from ..irf import LATIRFs
    from ..livetime import LivetimeCube

    cube = LivetimeCube.read(ltcube)
    irfs = LATIRFs.from_caldb(irf_name, evtype, caldb=caldb, psf=psf, edisp=edisp)
    return cube, irfs


def _energy_edges(emin, emax, enumbins):
    """Energy edges (MeV) of ``--emin --emax --enumbins`` (gtbin LOG binning), or None."""
    from ..data import make_energy_axis
    from ..utils.resources import check_memory

    if None in (emin, emax, enumbins):
        return None
    if not (0 < emin < emax < np.inf) or enumbins < 1:
        raise click.BadParameter(f"need 0 < emin < emax and enumbins >= 1 (got {emin}, {emax}, {enumbins})")
    check_memory(8.0 * 16 * enumbins, f"{enumbins} energy bins", advice="use fewer energy bins")
    return make_energy_axis(emin, emax, enumbins).edges.to("MeV")


def _read_counts_geom(path):
    """Geometry of a ``--like`` cube: counts cube (EBOUNDS) or a cube of energy planes."""
    from ..data import read_counts_geom
    from ..errors import LATFileError

    geom = read_counts_geom(path)
    if "energy" not in geom.axes.names:
        raise LATFileError(f"Cube {path} has no energy axis (no EBOUNDS, ENERGIES or energy planes)")
    return geom


@click.command("expcube")
@irf_options
@click.option("--like", "cmap", type=click.Path(exists=True, dir_okay=False), default=None, help="Counts cube giving the sky geometry and energy bins.")
@click.option("--nxpix", type=int, default=None, help="Number of pixels along x.")
@click.option("--nypix", type=int, default=None, help="Number of pixels along y.")
@click.option("--binsz", type=float, default=None, help="Pixel size (deg).")
@click.option("--coordsys", type=click.Choice(["CEL", "GAL"], case_sensitive=False), default="CEL", show_default=True)
@click.option("--xref", type=float, default=None, help="Longitude of the map centre (deg).")
@click.option("--yref", type=float, default=None, help="Latitude of the map centre (deg).")
@click.option("--proj", default="CAR", show_default=True, help="WCS projection (CAR, AIT, TAN...).")
@click.option("--emin", type=float, default=None, help="Lowest energy (MeV).")
@click.option("--emax", type=float, default=None, help="Highest energy (MeV).")
@click.option("--enumbins", type=int, default=None, help="Number of logarithmic energy bins.")
@click.option("--bincalc", type=click.Choice(["EDGE", "CENTER"], case_sensitive=False), default="EDGE", show_default=True, help="Planes at the bin edges (n+1 planes) or at the log centres (n planes).")
@click.option("--interp", type=click.Choice(["nearest", "bilinear"]), default="nearest", show_default=True, help="Livetime look-up.")
@outfile_option
@clobber_option
@handle_errors
def expcube_command(ltcube, irf_name, evtype, caldb, cmap, nxpix, nypix, binsz, coordsys, xref, yref, proj, emin, emax, enumbins, bincalc, interp, outfile, clobber):
    """Compute an exposure cube (gtexpcube2)."""
    from gammapy.maps import MapAxis

    from ..data import make_counts_geom
    from ..data.binning import check_wcs_parameters
    from ..irf import make_exposure_map
    from ..irf.io import write_exposure_cube

    check_output(outfile, clobber)
    edges = _energy_edges(emin, emax, enumbins)
    sky_given = None not in (nxpix, nypix, binsz, xref, yref)
    if sky_given:
        nplanes = (enumbins or 1) + 1
        nxpix, nypix, binsz, xref, yref, proj = check_wcs_parameters(
            nxpix, nypix, binsz, xref, yref, proj, nplanes=nplanes, itemsize=8, what="exposure cube"
        )
    if cmap is not None:
        counts_geom = _read_counts_geom(cmap)
        image = counts_geom.to_image()
        if edges is None:
            edges = counts_geom.axes["energy"].edges.to("MeV")
    elif sky_given:
        image = None
    else:
        raise click.UsageError("give --like CCUBE or all of --nxpix --nypix --binsz --xref --yref")
    if sky_given:
        image = make_counts_geom("CMAP", nxpix=nxpix, nypix=nypix, binsz=binsz, coordsys=coordsys,
                                 xref=xref, yref=yref, proj=proj)
    if edges is None:
        raise click.UsageError("give --emin --emax --enumbins, or --like CCUBE for the energy bins")
    if bincalc.upper() == "EDGE":
        nodes = edges
    else:
        nodes = np.sqrt(edges[:-1] * edges[1:])
    axis = MapAxis.from_nodes(nodes, name="energy_true", interp="log")
    geom = image.to_cube([axis])
    cube, irfs = _load(ltcube, irf_name, evtype, caldb)
    exposure = make_exposure_map(cube, irfs, geom, interp=interp)
    write_exposure_cube(exposure, outfile, gti=cube.gti, irf_name=irfs.irf_name, evtype=irfs.evtype, overwrite=clobber)
    click.echo(f"Wrote {outfile}: exposure {tuple(int(n) for n in geom.data_shape)} for {irfs.irf_name} evtype {irfs.evtype}")


def _position(ra, dec):
    if not (-90 <= dec <= 90) or not np.isfinite(ra):
        raise click.BadParameter(f"need a finite ra and dec within [-90, 90], got ra={ra}, dec={dec}")
    return SkyCoord(ra, dec, unit="deg", frame="icrs")


@click.command("psf")
@irf_options
@click.option("--ra", type=float, required=True, help="Right ascension of the source (deg).")
@click.option("--dec", type=float, required=True, help="Declination of the source (deg).")
@click.option("--emin", type=float, default=100.0, show_default=True, help="Lowest energy (MeV).")
@click.option("--emax", type=float, default=1e6, show_default=True, help="Highest energy (MeV).")
@click.option("--nenergies", type=int, default=101, show_default=True, help="Number of logarithmically spaced energies.")
@click.option("--thetamax", type=float, default=30.0, show_default=True, help="Largest separation (deg).")
@click.option("--ntheta", type=int, default=300, show_default=True, help="Number of separations (quadratically spaced from 0 to thetamax).")
@outfile_option
@clobber_option
@handle_errors
def psf_command(ltcube, irf_name, evtype, caldb, ra, dec, emin, emax, nenergies, thetamax, ntheta, outfile, clobber):
    """Compute the livetime-averaged PSF at a position (gtpsf format)."""
    from gammapy.maps import MapAxis, RegionGeom
    from regions import PointSkyRegion

    from ..irf import make_psf_map
    from ..utils import write_fits_atomic
    from ..utils.resources import check_memory

    check_output(outfile, clobber)
    if not (0 < emin < emax < np.inf) or nenergies < 2 or ntheta < 2 or not 0 < thetamax <= 180:
        raise click.BadParameter("need 0 < emin < emax, nenergies >= 2, ntheta >= 2 and 0 < thetamax <= 180")
    check_memory(8.0 * 8 * nenergies * ntheta, f"A PSF table of {nenergies} energies x {ntheta} separations",
                 advice="use fewer energies or separations")
    energy_axis = MapAxis.from_nodes(np.geomspace(emin, emax, nenergies) * u.MeV, name="energy_true", interp="log")
    # separations spaced quadratically, as gtpsf: thetamax * (i / ntheta)**2
    rad_axis = MapAxis.from_nodes(thetamax * (np.arange(ntheta) / ntheta) ** 2 * u.deg, name="rad")
    geom = RegionGeom(PointSkyRegion(_position(ra, dec)), axes=[rad_axis, energy_axis])
    cube, irfs = _load(ltcube, irf_name, evtype, caldb, psf=True)
    psf_map = make_psf_map(cube, irfs, geom)
    hdulist = psf_map.to_hdulist(format="gtpsf")
    for hdu in hdulist:
        hdu.header["TELESCOP"] = "GLAST"
        hdu.header["INSTRUME"] = "LAT"
    hdulist["PSF"].header["NDSKEYS"] = 1
    hdulist["PSF"].header["DSTYP1"] = "IRF_VERSION"
    hdulist["PSF"].header["DSUNI1"] = "DIMENSIONLESS"
    hdulist["PSF"].header["DSVAL1"] = irfs.irf_name
    hdulist[0].header["IRFS"] = irfs.irf_name
    hdulist[0].header["EVTYPE"] = irfs.evtype
    hdulist[0].header["RA"] = ra
    hdulist[0].header["DEC"] = dec
    write_fits_atomic(hdulist, outfile, overwrite=clobber)
    click.echo(f"Wrote {outfile}: PSF at (RA, Dec) = ({ra}, {dec}) for {irfs.irf_name} evtype {irfs.evtype}")


@click.command("drm")
@irf_options
@click.option("--ra", type=float, required=True, help="Right ascension (deg).")
@click.option("--dec", type=float, required=True, help="Declination (deg).")
@click.option("--like", "cmap", type=click.Path(exists=True, dir_okay=False), default=None, help="Counts cube giving the reconstructed-energy bins.")
@click.option("--emin", type=float, default=None, help="Lowest reconstructed energy (MeV).")
@click.option("--emax", type=float, default=None, help="Highest reconstructed energy (MeV).")
@click.option("--enumbins", type=int, default=None, help="Number of logarithmic energy bins.")
@click.option("--edisp-bins", type=int, default=0, show_default=True, help="Extra true-energy bins on each side of the reconstructed range.")
@outfile_option
@clobber_option
@handle_errors
def drm_command(ltcube, irf_name, evtype, caldb, ra, dec, cmap, emin, emax, enumbins, edisp_bins, outfile, clobber):
    """Compute the detector response matrix at a position (gtdrm)."""
    from gammapy.maps import MapAxis, RegionGeom
    from regions import PointSkyRegion

    from ..irf import make_edisp_kernel_map
    from ..irf.io import edisp_kernel_gtdrm_hdulist
    from ..utils import write_fits_atomic

    check_output(outfile, clobber)
    _position(ra, dec)
    edges = _energy_edges(emin, emax, enumbins)
    if edges is None and cmap is not None:
        edges = _read_counts_geom(cmap).axes["energy"].edges.to("MeV")
    if edges is None:
        raise click.UsageError("give --like CCUBE or --emin --emax --enumbins")
    if edisp_bins < 0:
        raise click.BadParameter("--edisp-bins must be >= 0")
    log_edges = np.log(edges.to_value("MeV"))
    step = log_edges[1] - log_edges[0]
    true_log = np.concatenate(
        [log_edges[0] - step * np.arange(edisp_bins, 0, -1), log_edges, log_edges[-1] + step * np.arange(1, edisp_bins + 1)]
    )
    energy_axis = MapAxis.from_edges(edges, name="energy", interp="log")
    energy_true_axis = MapAxis.from_edges(np.exp(true_log) * u.MeV, name="energy_true", interp="log")
    geom = RegionGeom(PointSkyRegion(_position(ra, dec)), axes=[energy_axis, energy_true_axis])
    cube, irfs = _load(ltcube, irf_name, evtype, caldb, edisp=True)
    edisp_map = make_edisp_kernel_map(cube, irfs, geom)
    kernel = edisp_map.get_edisp_kernel()
    exposure = edisp_map.exposure_map.quantity.to_value("cm2 s").ravel()
    hdulist = edisp_kernel_gtdrm_hdulist(kernel, exposure=exposure, irf_name=irfs.irf_name, evtype=irfs.evtype, gti=cube.gti)
    write_fits_atomic(hdulist, outfile, overwrite=clobber)
    click.echo(f"Wrote {outfile}: response matrix {kernel.pdf_matrix.shape} for {irfs.irf_name} evtype {irfs.evtype}")
