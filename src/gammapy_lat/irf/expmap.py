"""Unbinned exposure maps in the format of gtexpmap.

gtexpmap tabulates, for the unbinned likelihood, the exposure of every position of a "source
region" about the acceptance cone to events reconstructed inside the cone (the livetime-cube
exposure times the fraction of the PSF falling in the cone, `~gammapy_lat.irf.unbinned.ROIExposure`).
Its file is a primary image ``(nenergies, nlat, nlong)`` in cm2 s on a stereographic (``STG``)
grid centred on the cone, ``2 srcrad`` across (``CDELT = 2 srcrad / (n - 1)``, reference pixel
``n/2 + 0.5``, both increments positive as gtexpmap writes them), the third axis ``log_Energy``
(``CRVAL3`` = lowest energy in MeV, ``CDELT3`` = natural-log step), an ``ENERGIES`` table (column
``Energy``, MeV) with the energies of the planes (log-spaced from the lowest to the highest energy
of the event selection), the DSS keywords of the events and their ``GTI`` extension. gtlike
integrates diffuse sources over its pixels, interpolating linearly in log energy between planes;
`UnbinnedExposureMap.integrate` does the same.
"""
import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.wcs import WCS

from ..errors import LATFileError
from ..utils import write_fits_atomic
from .unbinned import ROIExposure

__all__ = ["UnbinnedExposureMap"]


def _pixel_solid_angles(wcs, nlon, nlat, oversample=4):
    """Solid angle (sr) of each pixel, from the areas of sub-pixel spherical quadrilaterals."""
    step = 1.0 / oversample
    edges_x = np.arange(nlon * oversample + 1) * step + 0.5
    edges_y = np.arange(nlat * oversample + 1) * step + 0.5
    xx, yy = np.meshgrid(edges_x, edges_y)
    lon, lat = wcs.all_pix2world(xx, yy, 1)
    lon, lat = np.radians(lon), np.radians(lat)
    vec = np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], axis=-1)

    def triangle(a, b, c):
        num = np.abs(np.sum(a * np.cross(b, c), axis=-1))
        den = 1 + np.sum(a * b, axis=-1) + np.sum(b * c, axis=-1) + np.sum(c * a, axis=-1)
        return 2 * np.arctan2(num, den)

    a, b = vec[:-1, :-1], vec[:-1, 1:]
    c, d = vec[1:, 1:], vec[1:, :-1]
    area = triangle(a, b, c) + triangle(a, c, d)
    return area.reshape(nlat, oversample, nlon, oversample).sum(axis=(1, 3))


class UnbinnedExposureMap:
    """Exposure of the source region to events reconstructed in an acceptance cone (gtexpmap).

    Parameters
    ----------
    data : `~numpy.ndarray`
        ``(nenergies, nlat, nlong)`` exposure in cm2 s.
    energy : `~astropy.units.Quantity`
        Energies of the planes.
    wcs : `~astropy.wcs.WCS`
        Celestial WCS of the image (2D).
    meta : dict, optional
        Extra header cards (DSS keywords...).
    gti : `~astropy.io.fits.BinTableHDU`, optional
        ``GTI`` extension written with the map.
    """

    def __init__(self, data, energy, wcs, meta=None, gti=None):
        self.data = np.asarray(data, dtype=float)
        self.energy = u.Quantity(energy, "MeV").ravel()
        self.wcs = wcs
        self.meta = dict(meta or {})
        self.gti = gti
        if self.data.ndim != 3 or self.data.shape[0] != self.energy.size:
            raise LATFileError(
                f"Unbinned exposure map: data shape {self.data.shape} does not match {self.energy.size} energies"
            )

    @property
    def shape(self):
        return self.data.shape

    def __repr__(self):
        n, nlat, nlon = self.shape
        return (
            f"{self.__class__.__name__}({nlon}x{nlat} {self.wcs.wcs.ctype[0][-3:]} pixels, {n} energies "
            f"{self.energy[0]:.4g}-{self.energy[-1]:.4g})"
        )

    # ------------------------------------------------------------------ creation
    @staticmethod
    def make_wcs(center, srcrad, nlong=120, nlat=120):
        """gtexpmap's grid: STG, centred on the cone, ``2 srcrad`` across."""
        srcrad = u.Quantity(srcrad, "deg").to_value("deg")
        center = center.icrs
        wcs = WCS(naxis=2)
        wcs.wcs.ctype = ["RA---STG", "DEC--STG"]
        wcs.wcs.crval = [center.ra.deg, center.dec.deg]
        wcs.wcs.crpix = [nlong / 2 + 0.5, nlat / 2 + 0.5]
        wcs.wcs.cdelt = [2 * srcrad / (nlong - 1), 2 * srcrad / (nlat - 1)]
        return wcs

    @classmethod
    def compute(cls, roi_exposure, srcrad=30 * u.deg, nlong=120, nlat=120, nenergies=20, energy_range=None):
        """Compute the map as gtexpmap does.

        Parameters
        ----------
        roi_exposure : `~gammapy_lat.irf.unbinned.ROIExposure`
            Exposure of the acceptance cone (its energies are replaced by the planes').
        srcrad : `~astropy.units.Quantity`
            Radius of the source region (half the map width).
        nlong, nlat : int
            Number of pixels in longitude and latitude.
        nenergies : int
            Number of energy planes, log-spaced over ``energy_range``.
        energy_range : tuple of `~astropy.units.Quantity`
            Energy selection of the events (the planes span it).

        Returns
        -------
        expmap : `UnbinnedExposureMap`
        """

        emin, emax = (u.Quantity(e, "MeV").to_value("MeV") for e in energy_range)
        energy = np.geomspace(emin, emax, int(nenergies)) * u.MeV
        wcs = cls.make_wcs(roi_exposure.center, srcrad, nlong, nlat)
        srcrad = u.Quantity(srcrad, "deg")
        # the corners of the square map lie farther than srcrad from the centre
        reach = max(srcrad.to_value("deg") * np.sqrt(2) + 1.0, roi_exposure.source_radius.to_value("deg"))
        expo = ROIExposure(
            roi_exposure.irfs,
            roi_exposure.ltcube,
            roi_exposure.center,
            roi_exposure.radius,
            energy,
            source_radius=min(reach, 180.0) * u.deg,
        )
        jj, ii = np.mgrid[0:nlat, 0:nlong]
        lon, lat = wcs.all_pix2world(ii + 1, jj + 1, 1)
        coords = SkyCoord(lon.ravel(), lat.ravel(), unit="deg", frame="icrs")
        values = expo.evaluate(coords, psf=True)  # (npix, nE)
        data = values.T.reshape(energy.size, nlat, nlong)
        return cls(data, energy, wcs)

    # ------------------------------------------------------------------ I/O
    def to_hdulist(self):
        """Primary image, ``ENERGIES`` table and (when known) ``GTI``, as gtexpmap writes them."""
        primary = fits.PrimaryHDU(data=self.data.astype(np.float32))
        h = primary.header
        h["TELESCOP"] = "GLAST"
        h["INSTRUME"] = "LAT"
        h["DATE-OBS"] = ""
        h["DATE-END"] = ""
        energy = self.energy.to_value("MeV")
        estep = np.log(energy[-1] / energy[0]) / (energy.size - 1) if energy.size > 1 else 0.0
        axes = [
            (self.wcs.wcs.crval[0], self.wcs.wcs.crpix[0], self.wcs.wcs.cdelt[0], self.wcs.wcs.ctype[0]),
            (self.wcs.wcs.crval[1], self.wcs.wcs.crpix[1], self.wcs.wcs.cdelt[1], self.wcs.wcs.ctype[1]),
            (float(energy[0]), 1.0, estep, "log_Energy"),
        ]
        for i, (crval, crpix, cdelt, ctype) in enumerate(axes, start=1):
            h[f"CRVAL{i}"] = crval
            h[f"CRPIX{i}"] = crpix
            h[f"CDELT{i}"] = cdelt
            h[f"CTYPE{i}"] = ctype
        for key, value in self.meta.items():
            h[key] = value
        table = fits.BinTableHDU.from_columns([fits.Column("Energy", "1D", array=energy)], name="ENERGIES")
        hdus = [primary, table]
        if self.gti is not None:
            hdus.append(self.gti)
        return fits.HDUList(hdus)

    def write(self, path, overwrite=False):
        """Write a gtexpmap-format file (atomically)."""
        return write_fits_atomic(self.to_hdulist(), path, overwrite=overwrite, checksum=True)

    @classmethod
    def read(cls, path):
        """Read a gtexpmap file (or one written by `write`)."""
        try:
            hdulist = fits.open(path, memmap=False)
        except OSError as exc:
            raise LATFileError(f"Unbinned exposure map {path}: cannot read ({exc})") from exc
        with hdulist:
            return cls.from_hdulist(hdulist, source=path)

    @classmethod
    def from_hdulist(cls, hdulist, source="<HDUList>"):
        """Create from an `~astropy.io.fits.HDUList` in the gtexpmap layout."""
        primary = hdulist[0]
        if primary.data is None or primary.data.ndim != 3:
            raise LATFileError(f"Unbinned exposure map {source}: the primary HDU is not a 3D image")
        if "ENERGIES" not in hdulist:
            raise LATFileError(f"Unbinned exposure map {source}: no ENERGIES extension")
        names = [n.upper() for n in hdulist["ENERGIES"].columns.names]
        if "ENERGY" not in names:
            raise LATFileError(f"Unbinned exposure map {source}: ENERGIES lacks the column Energy")
        energy = np.asarray(hdulist["ENERGIES"].data.field(names.index("ENERGY")), float)
        header = primary.header
        wcs = WCS(naxis=2)
        try:
            wcs.wcs.ctype = [header["CTYPE1"], header["CTYPE2"]]
            wcs.wcs.crval = [header["CRVAL1"], header["CRVAL2"]]
            wcs.wcs.crpix = [header["CRPIX1"], header["CRPIX2"]]
            wcs.wcs.cdelt = [header["CDELT1"], header["CDELT2"]]
        except KeyError as exc:
            raise LATFileError(f"Unbinned exposure map {source}: keyword {exc} missing") from None
        data = np.asarray(primary.data, float)
        gti = hdulist["GTI"].copy() if "GTI" in hdulist else None
        meta = {k: header[k] for k in header if k.startswith(("DSTYP", "DSUNI", "DSVAL", "DSREF", "NDSKEYS"))}
        return cls(data, energy * u.MeV, wcs, meta=meta, gti=gti)

    # ------------------------------------------------------------------ use
    def pixel_coords(self):
        """ICRS positions of the pixel centres, flattened (row-major, latitude first)."""
        _, nlat, nlon = self.shape
        jj, ii = np.mgrid[0:nlat, 0:nlon]
        lon, lat = self.wcs.all_pix2world(ii + 1, jj + 1, 1)
        frame = "galactic" if self.wcs.wcs.ctype[0].startswith("GLON") else "icrs"
        return SkyCoord(lon.ravel(), lat.ravel(), unit="deg", frame=frame).icrs

    def solid_angles(self):
        """Pixel solid angles (sr), flattened as `pixel_coords`."""
        _, nlat, nlon = self.shape
        return _pixel_solid_angles(self.wcs, nlon, nlat).ravel()

    def interp_energy(self, energy):
        """Planes at other energies, linear in log energy between planes (as gtlike); ``(nE, npix)``."""
        energy = u.Quantity(energy, "MeV").to_value("MeV").ravel()
        logs = np.log(self.energy.to_value("MeV"))
        x = np.log(energy)
        k = np.clip(np.searchsorted(logs, x, side="right"), 1, logs.size - 1)
        w = (x - logs[k - 1]) / (logs[k] - logs[k - 1])
        flat = self.data.reshape(self.data.shape[0], -1)
        return flat[k - 1] * (1 - w)[:, None] + flat[k] * w[:, None]

    def integrate(self, intensity, energy):
        """Exposure-weighted integral of an intensity over the map: sum of map x intensity x solid angle.

        Parameters
        ----------
        intensity : callable or float
            ``intensity(skycoord, energy)`` returning values per sr (``(npix,)`` or ``(npix, nE)``),
            or a constant.
        energy : `~astropy.units.Quantity`
            Energies.

        Returns
        -------
        exposure : `~numpy.ndarray`
            ``(nE,)`` in cm2 s x [intensity] x sr.
        """
        planes = self.interp_energy(energy)  # (nE, npix)
        omega = self.solid_angles()
        if callable(intensity):
            values = np.asarray(intensity(self.pixel_coords(), u.Quantity(energy, "MeV")), float)
            values = values.T if values.ndim == 2 else values[None, :]
        else:
            values = np.full((1, omega.size), float(intensity))
        return np.sum(planes * values * omega[None, :], axis=1)
