"""Writers of the Fermitools response products: gtexpcube2 exposure cubes, gtpsf and gtdrm files."""
import numpy as np
from astropy.io import fits
from gammapy.maps import HpxGeom, WcsGeom

from .. import __version__
from ..errors import GammapyLATError
from ..utils import write_fits_atomic

__all__ = ["exposure_cube_hdulist", "write_exposure_cube", "edisp_kernel_gtdrm_hdulist"]


def _gti_hdu(gti):
    start = np.array([], float) if gti is None else gti.met_start.to_value("s")
    stop = np.array([], float) if gti is None else gti.met_stop.to_value("s")
    hdu = fits.BinTableHDU.from_columns(
        [
            fits.Column("START", format="D", unit="s", array=np.asarray(start, float)),
            fits.Column("STOP", format="D", unit="s", array=np.asarray(stop, float)),
        ],
        name="GTI",
    )
    hdu.header["HDUCLASS"] = "OGIP"
    hdu.header["HDUCLAS1"] = "GTI"
    hdu.header["HDUCLAS2"] = "ALL"
    if gti is not None:
        ref = gti.time_ref.tt.mjd
        hdu.header["MJDREFI"] = int(np.floor(ref))
        hdu.header["MJDREFF"] = float(ref - np.floor(ref))
        hdu.header["TIMESYS"] = "TT"
        hdu.header["TIMEUNIT"] = "s"
        if len(start):
            hdu.header["TSTART"] = float(np.min(start))
            hdu.header["TSTOP"] = float(np.max(stop))
    return hdu


def _common_cards(header, irf_name=None, evtype=None, gti=None):
    header["TELESCOP"] = "GLAST"
    header["INSTRUME"] = "LAT"
    header["CREATOR"] = f"gammapy-lat {__version__}"
    if gti is not None and len(gti.table):
        header["TSTART"] = float(np.min(gti.met_start.to_value("s")))
        header["TSTOP"] = float(np.max(gti.met_stop.to_value("s")))
        ref = gti.time_ref.tt.mjd
        header["MJDREFI"] = int(np.floor(ref))
        header["MJDREFF"] = float(ref - np.floor(ref))
        header["TIMESYS"] = "TT"
        header["TIMEUNIT"] = "s"
    if irf_name is not None:
        header["IRFS"] = (irf_name, "LAT instrument response functions")
    if evtype is not None:
        header["EVTYPE"] = (int(evtype), "event-type bit mask")


def exposure_cube_hdulist(exposure, gti=None, irf_name=None, evtype=None):
    """HDU list of a gtexpcube2 exposure cube.

    WCS: primary image ``(n_energy, ny, nx)`` in cm2 s with ``CTYPE3 = 'log_Energy'``, an
    ``ENERGIES`` table (``Energy`` in MeV, one row per plane) and a ``GTI`` table.
    HEALPix: the Fermitools ``HPXEXPOSURES`` layout with ``ENERGIES`` and ``GTI``.

    Parameters
    ----------
    exposure : `~gammapy.maps.Map`
        Exposure map with an ``energy_true`` axis (planes at the axis centres).
    gti : `~gammapy.data.GTI`, optional
        Good time intervals (of the livetime cube).
    irf_name : str, optional
        IRF name, recorded in the header.
    evtype : int, optional
        Event-type mask, recorded in the header.

    Returns
    -------
    hdulist : `~astropy.io.fits.HDUList`
    """
    geom = exposure.geom
    energy = geom.axes["energy_true"].center.to_value("MeV")
    if isinstance(geom, HpxGeom):
        # gammapy 2.1 cannot write format="fgst-bexpcube" (no bands-table writer for it): write the
        # same column layout (ENERGY1..n) under the gtexpcube2 HDU names, with an ENERGIES table
        # holding "Energy" as the WCS branch
        hdulist = exposure.to_hdulist(hdu="HPXEXPOSURES", format="fgst-template")
        header = hdulist[1].header
        header["HPX_CONV"] = "FGST-BEXPCUBE"
        hdulist[2] = fits.BinTableHDU.from_columns(
            [fits.Column("Energy", format="1D", unit="MeV", array=energy)], name="ENERGIES"
        )
    elif isinstance(geom, WcsGeom):
        header = geom.to_image().wcs.to_header()
        primary = fits.PrimaryHDU(data=exposure.quantity.to_value("cm2 s").astype(np.float32), header=header)
        header = primary.header
        header["CRVAL3"] = float(np.log(energy[0]))
        header["CRPIX3"] = 1.0
        header["CDELT3"] = float(np.log(energy[-1] / energy[0]) / (len(energy) - 1)) if len(energy) > 1 else 0.0
        header["CTYPE3"] = "log_Energy"
        header["BUNIT"] = "cm2 s"
        frame = geom.frame
        header["COORDSYS"] = "GAL" if frame == "galactic" else "CEL"
        table = fits.BinTableHDU.from_columns(
            [fits.Column("Energy", format="1D", unit="MeV", array=energy)], name="ENERGIES"
        )
        hdulist = fits.HDUList([primary, table])
    else:
        raise GammapyLATError(f"Exposure cubes are written for WCS or HEALPix maps, not {type(geom).__name__}")
    _common_cards(header, irf_name=irf_name, evtype=evtype, gti=gti)
    hdulist.append(_gti_hdu(gti))
    return hdulist


def write_exposure_cube(exposure, filename, gti=None, irf_name=None, evtype=None, overwrite=False):
    """Write a gtexpcube2-compatible exposure cube atomically (see `exposure_cube_hdulist`)."""
    hdulist = exposure_cube_hdulist(exposure, gti=gti, irf_name=irf_name, evtype=evtype)
    return write_fits_atomic(hdulist, filename, overwrite=overwrite, checksum=True)


def edisp_kernel_gtdrm_hdulist(kernel, exposure=None, irf_name=None, evtype=None, gti=None):
    """HDU list of a gtdrm detector response matrix, readable by ``EDispKernelMap.read(format="gtdrm")``.

    Parameters
    ----------
    kernel : `~gammapy.irf.EDispKernel`
        Kernel, true energy x reconstructed energy.
    exposure : `~astropy.units.Quantity`, optional
        Exposure per true-energy bin, stored in the ``EXPOSURE`` column.
    irf_name, evtype, gti : optional
        Recorded in the headers.

    Returns
    -------
    hdulist : `~astropy.io.fits.HDUList`
        Primary, ``DRM`` (``ENERG_LO``, ``ENERG_HI``, ``MATRIX`` in the OGIP RMF layout with
        ``DETCHANS``) and ``EBOUNDS``.
    """
    e_true = kernel.axes["energy_true"].edges.to_value("MeV")
    e_reco = kernel.axes["energy"].edges.to_value("MeV")
    matrix = kernel.pdf_matrix.astype(np.float32)
    ntrue, nreco = matrix.shape
    columns = [
        fits.Column("ENERG_LO", format="D", unit="MeV", array=e_true[:-1]),
        fits.Column("ENERG_HI", format="D", unit="MeV", array=e_true[1:]),
        fits.Column("N_GRP", format="I", array=np.ones(ntrue, dtype=np.int16)),
        fits.Column("F_CHAN", format="I", array=np.zeros(ntrue, dtype=np.int16)),
        fits.Column("N_CHAN", format="I", array=np.full(ntrue, nreco, dtype=np.int16)),
        fits.Column("MATRIX", format=f"{nreco}E", array=matrix),
    ]
    if exposure is not None:
        columns.append(fits.Column("EXPOSURE", format="D", unit="cm2 s", array=np.asarray(exposure, float)))
    drm = fits.BinTableHDU.from_columns(columns, name="DRM")
    drm.header["HDUCLASS"] = "OGIP"
    drm.header["HDUCLAS1"] = "RESPONSE"
    drm.header["HDUCLAS2"] = "RSP_MATRIX"
    drm.header["DETCHANS"] = nreco
    drm.header["CHANTYPE"] = "PI"
    drm.header["TLMIN4"] = 0
    ebounds = fits.BinTableHDU.from_columns(
        [
            fits.Column("CHANNEL", format="J", array=np.arange(nreco, dtype=np.int32)),
            fits.Column("E_MIN", format="D", unit="MeV", array=e_reco[:-1]),
            fits.Column("E_MAX", format="D", unit="MeV", array=e_reco[1:]),
        ],
        name="EBOUNDS",
    )
    primary = fits.PrimaryHDU()
    for hdu in (primary, drm, ebounds):
        _common_cards(hdu.header, irf_name=irf_name, evtype=evtype, gti=gti)
    return fits.HDUList([primary, drm, ebounds])
