"""The livetime cube container: livetime per HEALPix pixel and inclination angle.

The on-disk format is the one of the Fermitools (``gtltcube``/``gtltsum``), so that cubes made here
are read by ``gtexpcube2``/fermipy and theirs are read here:

- ``EXPOSURE`` and ``WEIGHTED_EXPOSURE``: one row per HEALPix pixel (``FIRSTPIX`` to
  ``LASTPIX``), a vector column ``COSBINS`` (s) with ``NBRBINS`` values (``NBRBINS * (1 +
  PHIBINS)`` with φ bins: the φ-integrated bins first, then ``NBRBINS`` values per φ bin), and the
  pixel centre as ``RA``/``DEC`` (deg, always equatorial). Keywords ``PIXTYPE``, ``ORDERING``,
  ``COORDSYS`` (``EQU``/``GAL``), ``NSIDE``, ``FIRSTPIX``, ``LASTPIX``, ``THETABIN``
  (``SQRT(1-COSTHETA)`` or ``COSTHETA``), ``NBRBINS``, ``COSMIN``, ``PHIBINS``, ``TSTART``,
  ``TSTOP``.
- ``CTHETABOUNDS``: ``CTHETA_MIN``/``CTHETA_MAX`` per cos θ bin, bin 0 next to the boresight.
- ``GTI``: the good time intervals the cube was made from.

gammapy-lat adds ``ZMAX`` (maximum zenith angle, deg) to the ``EXPOSURE`` header, and for cubes
computed only around a region of interest ``ROI_RA``, ``ROI_DEC``, ``ROI_RAD`` (deg, in the frame
of the cube); pixels outside are written as zeros and are not available for look-up.
"""
import logging

import healpy as hp
import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.table import Table
from gammapy.data import GTI

from .. import __version__
from ..data.constants import MJDREFF, MJDREFI
from ..data.gti import gti_from_met, header_float, normalize_time_keywords, time_ref_from_header
from ..errors import LATFileError, LivetimeCubeError, ResourceLimitError
from ..utils import write_fits_atomic
from ..utils.fitsfile import open_fits, read_error
from .binning import BINNING, THETABIN, costheta_edges
from .compute import check_livetime_request, check_nside, compute_livetime_arrays, roi_pixels

__all__ = ["LivetimeCube"]

log = logging.getLogger(__name__)

_FRAMES = {"icrs": "EQU", "galactic": "GAL"}
_COORDSYS = {"EQU": "icrs", "CEL": "icrs", "C": "icrs", "GAL": "galactic", "G": "galactic"}
def _bad_livetime_values(values):
    """Description of the first NaN, infinite or negative livetime of an array (None if all good)."""
    bad = ~np.isfinite(values) | (values < 0)
    if not bad.any():
        return None
    index = np.unravel_index(int(np.flatnonzero(bad)[0]), values.shape)
    value = float(values[index])
    kind = "negative" if np.isfinite(value) else "not finite"
    where = f"pixel row {int(index[0])}, cos(theta) bin {int(index[-1])}"
    return f"is {kind} ({value!r} s) at {where} and {int(bad.sum())} value(s) in all; livetimes must be finite and >= 0"




class LivetimeCube:
    """Livetime per HEALPix sky pixel and bin of cos θ, θ being the angle to the LAT boresight.

    Holds the livetime (``EXPOSURE`` in the Fermitools files) and the livetime weighted by the
    livetime fraction of each spacecraft interval (``WEIGHTED_EXPOSURE``), which the effective-area
    efficiency correction needs. Create it with `LivetimeCube.compute` or `LivetimeCube.read`.

    Parameters
    ----------
    livetime, weighted_livetime : `~astropy.units.Quantity`
        Livetime and weighted livetime, shape ``(npix, nbins)`` in time units; ``npix`` is the
        number of pixels of the HEALPix scheme, or ``len(pixels)`` for a partial cube.
    costheta_edges : `~numpy.ndarray`
        ``nbins + 1`` decreasing cos θ edges (bin 0 next to the boresight).
    nside : int
        HEALPix NSIDE.
    nest : bool
        NESTED (True) or RING (False) pixel ordering.
    frame : {"icrs", "galactic"}
        Frame of the HEALPix grid.
    gti : `~gammapy.data.GTI`, optional
        Good time intervals the cube was accumulated over.
    zmax : `~astropy.units.Quantity`, optional
        Maximum zenith angle applied (None when unknown, e.g. read from a Fermitools file).
    binning : {"sqrt", "linear"}
        cos θ binning scheme.
    livetime_phi, weighted_livetime_phi : `~astropy.units.Quantity`, optional
        Livetime per φ bin, shape ``(npix, nphibins, nbins)``; φ is folded into [0°, 45°] by the
        four-fold symmetry of the LAT, as in the Fermitools.
    pixels : `~numpy.ndarray`, optional
        For a partial (region-of-interest) cube, the HEALPix indices of the rows.
    roi : tuple, optional
        ``(lon, lat, radius)`` in deg (cube frame) that defined ``pixels``.
    meta : dict, optional
        Extra header keywords (e.g. ``MJDREFI``, ``MJDREFF``, ``TSTART``, ``TSTOP``).
    """

    def __init__(
        self,
        livetime,
        weighted_livetime,
        costheta_edges,
        nside,
        nest=True,
        frame="icrs",
        gti=None,
        zmax=None,
        binning="sqrt",
        livetime_phi=None,
        weighted_livetime_phi=None,
        pixels=None,
        roi=None,
        meta=None,
    ):
        self.livetime = u.Quantity(livetime, "s", dtype=float)
        self.weighted_livetime = u.Quantity(weighted_livetime, "s", dtype=float)
        self.costheta_edges = np.asarray(costheta_edges, dtype=float)
        self.nside = check_nside(nside, "LivetimeCube: nside")
        self.nest = bool(nest)
        if frame not in _FRAMES:
            raise LivetimeCubeError(f"Unknown frame {frame!r}; use 'icrs' or 'galactic'")
        self.frame = frame
        self.gti = gti
        self.zmax = None if zmax is None else u.Quantity(zmax, "deg")
        if binning not in THETABIN:
            raise LivetimeCubeError(f"Unknown cos(theta) binning {binning!r}")
        self.binning = binning
        self.livetime_phi = None if livetime_phi is None else u.Quantity(livetime_phi, "s", dtype=float)
        self.weighted_livetime_phi = (
            None if weighted_livetime_phi is None else u.Quantity(weighted_livetime_phi, "s", dtype=float)
        )
        self.pixels = None if pixels is None else np.asarray(pixels, dtype=np.int64)
        self.roi = roi
        self.meta = dict(meta or {})

        npix_expected = 12 * self.nside**2 if self.pixels is None else len(self.pixels)
        shape = (npix_expected, self.nbins)
        for name in ("livetime", "weighted_livetime"):
            if getattr(self, name).shape != shape:
                raise LivetimeCubeError(
                    f"LivetimeCube: {name} has shape {getattr(self, name).shape}, expected {shape}"
                )
        if (self.livetime_phi is None) != (self.weighted_livetime_phi is None):
            raise LivetimeCubeError("LivetimeCube: give both or none of livetime_phi, weighted_livetime_phi")
        if self.livetime_phi is not None:
            for name in ("livetime_phi", "weighted_livetime_phi"):
                arr = getattr(self, name)
                if arr.ndim != 3 or arr.shape[0] != shape[0] or arr.shape[2] != shape[1]:
                    raise LivetimeCubeError(
                        f"LivetimeCube: {name} has shape {arr.shape}, expected ({shape[0]}, nphi, {shape[1]})"
                    )
        for name in ("livetime", "weighted_livetime", "livetime_phi", "weighted_livetime_phi"):
            values = getattr(self, name)
            if values is not None:
                problem = _bad_livetime_values(values.value)
                if problem:
                    raise LivetimeCubeError(f"LivetimeCube: {name} {problem}")

    # ------------------------------------------------------------------ computation
    @classmethod
    def compute(
        cls,
        spacecraft,
        gti,
        nside=64,
        nbins=40,
        zmax=180 * u.deg,
        binning="sqrt",
        nest=True,
        frame="icrs",
        phibins=0,
        roi=None,
        n_chunks=None,
        n_jobs=None,
        parallel_backend=None,
    ):
        """Compute a livetime cube from the spacecraft history with gtltcube semantics.

        Each spacecraft interval contributes its livetime times the fraction of the interval
        inside the good time intervals; pixels with cos θ <= 0 or, with ``zmax < 180°``, farther
        than ``zmax`` from the interval's zenith get nothing. The result is exact at the pixel
        centres (see `gammapy_lat.livetime.compute`).

        Parameters
        ----------
        spacecraft : `~gammapy_lat.data.SpacecraftData` or `~astropy.table.Table`
            Spacecraft (FT2) data: anything with a ``.table``, or the table itself, with columns
            ``START``, ``STOP``, ``LIVETIME``, ``RA_SCZ``, ``DEC_SCZ``, ``RA_ZENITH``,
            ``DEC_ZENITH`` (and ``RA_SCX``, ``DEC_SCX`` for φ bins).
        gti : `~gammapy.data.GTI` or `~astropy.table.Table`
            Good time intervals (MET); a table needs ``START``/``STOP`` in MET s.
        nside : int
            HEALPix NSIDE.
        nbins : int
            Number of cos θ bins between 1 and 0.
        zmax : `~astropy.units.Quantity` or float
            Maximum zenith angle (deg when a float); 180° applies no cut.
        binning : {"sqrt", "linear"}
            Bins uniform in ``sqrt(1 - cos θ)`` (gtltcube) or in cos θ.
        nest : bool
            NESTED (default, as gtltcube) or RING ordering.
        frame : {"icrs", "galactic"}
            Frame of the HEALPix grid.
        phibins : int
            Number of φ bins (0: none, as the gtltcube default).
        roi : tuple, optional
            ``(lon, lat, radius)`` in deg in ``frame``: compute only the pixels within ``radius``
            (plus a margin of two pixel sizes for bilinear look-up) of the position.
        n_chunks : int, optional
            Number of time chunks the intervals are split into (default: one per 200 000
            intervals, at least ``n_jobs``). The result does not depend on it: contributions are
            summed exactly.
        n_jobs : int, optional
            Number of parallel processes over the time chunks (default: Gammapy's
            ``N_JOBS_DEFAULT``). With more than one, each process runs the compiled kernel on one
            thread; otherwise the kernel shares the rings out between numba's threads
            (``NUMBA_NUM_THREADS``). Serial and parallel runs give identical results.
        parallel_backend : {"multiprocessing", "ray"}, optional
            Gammapy parallel backend (default: Gammapy's ``BACKEND_DEFAULT``).

        Returns
        -------
        cube : `LivetimeCube`
        """

        return compute_livetime_arrays(
            cls,
            spacecraft,
            gti,
            nside=nside,
            nbins=nbins,
            zmax=zmax,
            binning=binning,
            nest=nest,
            frame=frame,
            phibins=phibins,
            roi=roi,
            n_chunks=n_chunks,
            n_jobs=n_jobs,
            parallel_backend=parallel_backend,
        )

    # ------------------------------------------------------------------ properties
    @property
    def nbins(self):
        """Number of cos θ bins."""
        return len(self.costheta_edges) - 1

    @property
    def nphibins(self):
        """Number of φ bins (0 without φ binning)."""
        return 0 if self.livetime_phi is None else self.livetime_phi.shape[1]

    @property
    def npix(self):
        """Number of pixels of the full HEALPix scheme."""
        return 12 * self.nside**2

    @property
    def is_allsky(self):
        """Whether all pixels of the HEALPix scheme are present."""
        return self.pixels is None

    @property
    def pixel_indices(self):
        """HEALPix indices of the rows of `livetime`."""
        return np.arange(self.npix) if self.pixels is None else self.pixels

    @property
    def costheta_min(self):
        """Lower cos θ edge of each bin."""
        return self.costheta_edges[1:]

    @property
    def costheta_max(self):
        """Upper cos θ edge of each bin."""
        return self.costheta_edges[:-1]

    @property
    def costheta_center(self):
        """Bin centre in the binning variable (as the Fermitools' ``CosineBinner``)."""
        i = np.arange(self.nbins) + 0.5
        f = i / self.nbins
        if self.binning == "sqrt":
            f = f * f
        return 1.0 - f * (1.0 - self.costheta_edges[-1])

    @property
    def cosmin(self):
        """Lowest cos θ of the binning."""
        return float(self.costheta_edges[-1])

    @property
    def tstart(self):
        """Start of the accumulated time range (MET s), or None."""
        if self.gti is not None and len(self.gti.table):
            return float(np.min(self.gti.met_start.to_value("s")))
        return self.meta.get("TSTART")

    @property
    def tstop(self):
        """End of the accumulated time range (MET s), or None."""
        if self.gti is not None and len(self.gti.table):
            return float(np.max(self.gti.met_stop.to_value("s")))
        return self.meta.get("TSTOP")

    def pixel_skycoord(self):
        """`~astropy.coordinates.SkyCoord` of the centres of the rows' pixels (cube frame)."""

        lon, lat = hp.pix2ang(self.nside, self.pixel_indices, nest=self.nest, lonlat=True)
        return SkyCoord(lon, lat, unit="deg", frame=self.frame)

    def __repr__(self):
        zmax = "unknown" if self.zmax is None else f"{self.zmax.to_value('deg'):g} deg"
        region = "all-sky" if self.is_allsky else f"{len(self.pixels)} pixels around {self.roi}"
        return (
            f"{self.__class__.__name__}(nside={self.nside}, {'NESTED' if self.nest else 'RING'}, "
            f"frame={self.frame}, nbins={self.nbins} ({self.binning}), phibins={self.nphibins}, "
            f"zmax={zmax}, {region}, total livetime max={self.livetime.sum(axis=1).max():.6g})"
        )

    # ------------------------------------------------------------------ look-up
    def _rows_of(self, ipix):
        """Rows of the cube holding the HEALPix pixels ``ipix``; error for missing pixels."""
        if self.pixels is None:
            return ipix
        order = np.argsort(self.pixels)
        sorted_pix = self.pixels[order]
        pos = np.searchsorted(sorted_pix, ipix)
        pos = np.clip(pos, 0, len(sorted_pix) - 1)
        found = sorted_pix[pos] == ipix
        if not np.all(found):
            raise LivetimeCubeError(
                f"Livetime cube covers only the region {self.roi} (lon, lat, radius in deg, "
                f"{self.frame}); {np.count_nonzero(~found)} requested position(s) fall outside it"
            )
        return order[pos]

    def get_livetime(self, skycoord, interp="nearest"):
        """Livetime distribution in cos θ at sky positions.

        Parameters
        ----------
        skycoord : `~astropy.coordinates.SkyCoord`
            Positions (any shape, any frame).
        interp : {"nearest", "bilinear"}
            ``"nearest"``: the pixel containing the position (as gtexpcube2 and fermipy);
            ``"bilinear"``: HEALPix bilinear interpolation between the four nearest pixel centres.

        Returns
        -------
        livetime, weighted_livetime : `~astropy.units.Quantity`
            Shape ``skycoord.shape + (nbins,)``.
        """

        coord = skycoord.transform_to(self.frame)
        lon = np.asarray(coord.spherical.lon.to_value("deg"), dtype=float)
        lat = np.asarray(coord.spherical.lat.to_value("deg"), dtype=float)
        shape = lon.shape
        lon, lat = lon.ravel(), lat.ravel()
        live = self.livetime.to_value("s")
        wlive = self.weighted_livetime.to_value("s")
        if interp == "nearest":
            rows = self._rows_of(hp.ang2pix(self.nside, lon, lat, nest=self.nest, lonlat=True))
            out, wout = live[rows], wlive[rows]
        elif interp == "bilinear":
            pix, weights = hp.get_interp_weights(self.nside, lon, lat, nest=self.nest, lonlat=True)
            rows = self._rows_of(pix.ravel()).reshape(pix.shape)
            out = np.einsum("kn,knb->nb", weights, live[rows])
            wout = np.einsum("kn,knb->nb", weights, wlive[rows])
        else:
            raise LivetimeCubeError(f"Unknown interpolation {interp!r}; use 'nearest' or 'bilinear'")
        out = out.reshape(shape + (self.nbins,))
        wout = wout.reshape(shape + (self.nbins,))
        return u.Quantity(out, "s"), u.Quantity(wout, "s")

    # ------------------------------------------------------------------ combination
    def _check_compatible(self, other):
        def fail(what, a, b):
            raise LivetimeCubeError(f"Cannot add livetime cubes with different {what}: {a} and {b}")

        if not isinstance(other, LivetimeCube):
            raise LivetimeCubeError(f"Cannot add a LivetimeCube and a {type(other).__name__}")
        for attr in ("nside", "nest", "frame", "binning", "nbins", "nphibins"):
            if getattr(self, attr) != getattr(other, attr):
                fail(attr, getattr(self, attr), getattr(other, attr))
        if not np.allclose(self.costheta_edges, other.costheta_edges, rtol=0, atol=1e-6):
            fail("cos(theta) edges", self.costheta_edges, other.costheta_edges)
        if self.zmax is not None and other.zmax is not None:
            if not u.isclose(self.zmax, other.zmax):
                fail("zmax", self.zmax, other.zmax)
        pix_a = None if self.pixels is None else np.sort(self.pixels)
        pix_b = None if other.pixels is None else np.sort(other.pixels)
        if (pix_a is None) != (pix_b is None) or (
            pix_a is not None and (len(pix_a) != len(pix_b) or np.any(pix_a != pix_b))
        ):
            fail("pixel coverage (all-sky / region of interest)", self.roi, other.roi)
        if self.gti is not None and other.gti is not None and len(self.gti.table) and len(other.gti.table):
            a0, a1 = self.gti.met_start.to_value("s"), self.gti.met_stop.to_value("s")
            b0, b1 = other.gti.met_start.to_value("s"), other.gti.met_stop.to_value("s")
            starts = np.concatenate([a0, b0])
            stops = np.concatenate([a1, b1])
            order = np.argsort(starts, kind="stable")
            if np.any(starts[order][1:] < np.maximum.accumulate(stops[order])[:-1] - 1e-6):
                raise LivetimeCubeError(
                    "Cannot add livetime cubes whose good time intervals overlap (the same time would "
                    "be counted twice)"
                )

    def _aligned(self, other, values):
        """Rows of ``values`` (belonging to ``other``) in the pixel order of ``self``."""
        if self.pixels is None:
            return values
        order = np.argsort(other.pixels)
        pos = np.searchsorted(other.pixels[order], self.pixels)
        return values[order[pos]]

    def __add__(self, other):
        self._check_compatible(other)
        if self.gti is not None and other.gti is not None:
            gti = self.gti.copy()
            gti.stack(other.gti)
            table = gti.table
            table.sort("START")
            gti = GTI(table, reference_time=self.gti.time_ref)
        else:
            gti = self.gti if other.gti is None else other.gti
        kwargs = {}
        if self.nphibins:
            kwargs["livetime_phi"] = self.livetime_phi + self._aligned(other, other.livetime_phi)
            kwargs["weighted_livetime_phi"] = self.weighted_livetime_phi + self._aligned(
                other, other.weighted_livetime_phi
            )
        zmax = self.zmax if self.zmax is not None else other.zmax
        return self.__class__(
            livetime=self.livetime + self._aligned(other, other.livetime),
            weighted_livetime=self.weighted_livetime + self._aligned(other, other.weighted_livetime),
            costheta_edges=self.costheta_edges,
            nside=self.nside,
            nest=self.nest,
            frame=self.frame,
            gti=gti,
            zmax=zmax,
            binning=self.binning,
            pixels=self.pixels,
            roi=self.roi,
            meta=self.meta,
            **kwargs,
        )

    @classmethod
    def stack(cls, cubes):
        """Sum livetime cubes of disjoint time ranges (as gtltsum).

        Parameters
        ----------
        cubes : sequence of `LivetimeCube`
            Compatible cubes (same HEALPix scheme, binning, zmax and region).

        Returns
        -------
        cube : `LivetimeCube`
        """
        cubes = list(cubes)
        if not cubes:
            raise LivetimeCubeError("No livetime cubes to stack")
        total = cubes[0]
        for cube in cubes[1:]:
            total = total + cube
        return total

    # ------------------------------------------------------------------ I/O
    @classmethod
    def read(cls, path):
        """Read a livetime cube in the Fermitools format (gtltcube, gtltsum, fermipy, gammapy-lat).

        Parameters
        ----------
        path : str or `~pathlib.Path`
            File name.

        Returns
        -------
        cube : `LivetimeCube`
        """

        hdulist = open_fits(path, "Livetime cube file")
        with hdulist:
            try:
                return cls.from_hdulist(hdulist, filename=path)
            except (LATFileError, LivetimeCubeError):
                raise
            except (OSError, ValueError, TypeError, EOFError, KeyError) as exc:
                raise read_error(path, "Livetime cube file", exc) from exc

    @classmethod
    def from_hdulist(cls, hdulist, filename="<HDUList>"):
        """Create from an `~astropy.io.fits.HDUList` in the Fermitools format."""
        names = [hdu.name for hdu in hdulist]
        for name in ("EXPOSURE", "CTHETABOUNDS"):
            if name not in names:
                raise LATFileError(f"Livetime cube {filename}: no {name} extension (found {names})")
        hdr = hdulist["EXPOSURE"].header
        for key in ("NSIDE", "ORDERING", "NBRBINS"):
            if key not in hdr:
                raise LATFileError(f"Livetime cube {filename}: keyword {key} missing in EXPOSURE")
        if hdr.get("PIXTYPE", "HEALPIX").strip().upper() != "HEALPIX":
            raise LATFileError(f"Livetime cube {filename}: PIXTYPE={hdr['PIXTYPE']!r} is not HEALPIX")

        def number(key, default=None):
            value = hdr.get(key, default)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise LATFileError(f"Livetime cube {filename}: keyword {key}={value!r} in EXPOSURE is not an integer")
            return int(value)

        nside = number("NSIDE")
        try:
            # reading holds the columns read and the all-sky arrays they fill
            nside = check_livetime_request(nside, max(number("NBRBINS"), 1), max(number("PHIBINS", 0), 0), copies=2)
        except LivetimeCubeError as exc:
            raise LATFileError(f"Livetime cube {filename}: keyword NSIDE={nside} in EXPOSURE: {exc}") from None
        except ResourceLimitError as exc:
            raise ResourceLimitError(f"Livetime cube {filename}: {exc}") from None
        ordering = str(hdr["ORDERING"]).strip().upper()
        if ordering not in ("NESTED", "RING"):
            raise LATFileError(f"Livetime cube {filename}: ORDERING={ordering!r} is neither NESTED nor RING")
        coordsys = hdr.get("COORDSYS", "EQU").strip().upper()
        if coordsys not in _COORDSYS:
            raise LATFileError(f"Livetime cube {filename}: unknown COORDSYS={coordsys!r}")
        nbins = number("NBRBINS")
        nphi = number("PHIBINS", 0)
        if nbins < 1 or nphi < 0:
            raise LATFileError(f"Livetime cube {filename}: NBRBINS={nbins} must be >= 1 and PHIBINS={nphi} >= 0")
        thetabin = str(hdr.get("THETABIN", "SQRT(1-COSTHETA)")).strip().upper()
        if thetabin not in BINNING:
            raise LATFileError(f"Livetime cube {filename}: unknown THETABIN={thetabin!r}")
        firstpix = number("FIRSTPIX", 0)

        bounds = hdulist["CTHETABOUNDS"].data
        try:
            edges = np.append(np.asarray(bounds["CTHETA_MAX"], float), float(bounds["CTHETA_MIN"][-1]))
        except KeyError as exc:
            raise LATFileError(f"Livetime cube {filename}: CTHETABOUNDS lacks column {exc}") from exc
        if len(edges) != nbins + 1:
            raise LATFileError(
                f"Livetime cube {filename}: CTHETABOUNDS has {len(edges) - 1} rows but NBRBINS={nbins}"
            )
        # The file stores float32 edges; recompute them in double precision when they match the
        # declared scheme, so that cubes compare exactly with computed ones.
        cosmin = float(hdr.get("COSMIN", edges[-1]))
        exact = costheta_edges(nbins, BINNING[thetabin], cosmin)
        if np.allclose(exact, edges, rtol=0, atol=1e-6):
            edges = exact

        def read_values(extname):
            data = hdulist[extname].data
            if "COSBINS" not in data.columns.names:
                raise LATFileError(f"Livetime cube {filename}: {extname} lacks column COSBINS")
            values = np.asarray(data["COSBINS"], dtype=float)
            values = values.reshape(len(values), -1)
            if values.shape[1] != nbins * (1 + nphi):
                raise LATFileError(
                    f"Livetime cube {filename}: {extname} COSBINS has {values.shape[1]} values per pixel, "
                    f"expected NBRBINS*(1+PHIBINS)={nbins * (1 + nphi)}"
                )
            if firstpix < 0 or firstpix + len(values) > 12 * nside**2:
                raise LATFileError(
                    f"Livetime cube {filename}: {extname} has {len(values)} rows from FIRSTPIX={firstpix}, "
                    f"more than the {12 * nside**2} pixels of NSIDE={nside}"
                )
            bad = ~np.isfinite(values) | (values < 0)
            if bad.any():
                row, col = np.unravel_index(int(np.flatnonzero(bad)[0]), values.shape)
                value = float(values[row, col])
                raise LATFileError(
                    f"Livetime cube {filename}: {extname} column COSBINS is "
                    f"{'negative' if np.isfinite(value) else 'not finite'} ({value!r} s) in row {int(row)}, "
                    f"value {int(col)} ({int(bad.sum())} bad value(s) in all); a livetime cube with NaN or "
                    "negative livetimes would give NaN or negative exposure"
                )
            full = np.zeros((12 * nside**2, values.shape[1]))
            full[firstpix : firstpix + len(values)] = values
            total = full[:, :nbins]
            phi = full[:, nbins:].reshape(len(full), nphi, nbins) if nphi else None
            return total, phi

        live, live_phi = read_values("EXPOSURE")
        if "WEIGHTED_EXPOSURE" in names:
            wlive, wlive_phi = read_values("WEIGHTED_EXPOSURE")
        else:
            log.warning(f"Livetime cube {filename}: no WEIGHTED_EXPOSURE; using EXPOSURE instead")
            wlive, wlive_phi = live.copy(), None if live_phi is None else live_phi.copy()

        # time keywords as numbers: files of the Pass 6/7 era write MJDREFF = '7.4287...D-4'
        hdr = normalize_time_keywords(hdr, f"Livetime cube {filename} [EXPOSURE]")
        gti = None
        if "GTI" in names:
            gti_hdu = hdulist["GTI"]
            ghdr = gti_hdu.header
            source = f"Livetime cube {filename} [GTI]"
            has_ref = header_float(ghdr, "MJDREFI", source) is not None or header_float(ghdr, "MJDREF", source) is not None
            time_ref = time_ref_from_header(ghdr if has_ref else hdr, source)
            data = gti_hdu.data
            if data is not None and not {"START", "STOP"} <= set(data.columns.names):
                raise LATFileError(f"{source}: no START/STOP columns")
            start = np.asarray(data["START"], float) if data is not None else np.array([])
            stop = np.asarray(data["STOP"], float) if data is not None else np.array([])
            gti = gti_from_met(start, stop, time_ref) if start.size else None

        zmax = hdr.get("ZMAX")
        meta = {key: hdr[key] for key in ("TSTART", "TSTOP", "MJDREFI", "MJDREFF") if key in hdr}
        frame = _COORDSYS[coordsys]
        cube = cls(
            livetime=live,
            weighted_livetime=wlive,
            costheta_edges=edges,
            nside=nside,
            nest=ordering == "NESTED",
            frame=frame,
            gti=gti,
            zmax=None if zmax is None else zmax * u.deg,
            binning=BINNING[thetabin],
            livetime_phi=live_phi,
            weighted_livetime_phi=wlive_phi,
            meta=meta,
        )
        if all(key in hdr for key in ("ROI_RA", "ROI_DEC", "ROI_RAD")):

            roi = (float(hdr["ROI_RA"]), float(hdr["ROI_DEC"]), float(hdr["ROI_RAD"]))
            try:
                check_livetime_request(nside, nbins, nphi, roi=roi, copies=2)
            except LivetimeCubeError as exc:
                raise LATFileError(f"Livetime cube {filename}: keywords ROI_RA/ROI_DEC/ROI_RAD: {exc}") from None
            pixels = roi_pixels(nside, cube.nest, frame, *roi)
            cube = cube._select_pixels(pixels, roi)
        return cube

    def _select_pixels(self, pixels, roi):
        kwargs = {}
        if self.nphibins:
            kwargs = dict(
                livetime_phi=self.livetime_phi[pixels], weighted_livetime_phi=self.weighted_livetime_phi[pixels]
            )
        return self.__class__(
            livetime=self.livetime[pixels],
            weighted_livetime=self.weighted_livetime[pixels],
            costheta_edges=self.costheta_edges,
            nside=self.nside,
            nest=self.nest,
            frame=self.frame,
            gti=self.gti,
            zmax=self.zmax,
            binning=self.binning,
            pixels=pixels,
            roi=roi,
            meta=self.meta,
            **kwargs,
        )

    def _full_values(self, total, phi):
        """All-sky ``(npix, nbins * (1 + nphibins))`` array for the ``COSBINS`` column."""
        total = total.to_value("s")
        values = total if phi is None else np.concatenate([total, phi.to_value("s").reshape(len(total), -1)], axis=1)
        if self.pixels is None:
            return values
        full = np.zeros((self.npix, values.shape[1]))
        full[self.pixels] = values
        return full

    def _time_keywords(self):
        mjdrefi = self.meta.get("MJDREFI", MJDREFI)
        mjdreff = self.meta.get("MJDREFF", MJDREFF)
        if self.gti is not None:
            ref = self.gti.time_ref.tt.mjd
            mjdrefi = int(np.floor(ref))
            mjdreff = float(ref - mjdrefi)
        cards = [
            ("TSTART", self.tstart if self.tstart is not None else 0.0, "mission time of the obs. start"),
            ("TSTOP", self.tstop if self.tstop is not None else 0.0, "mission time of the obs. end"),
            ("MJDREFI", mjdrefi, "Int. part of MJD of SC clock start"),
            ("MJDREFF", mjdreff, "Frac. part of MJD of SC clock start"),
            ("TIMEUNIT", "s", "units for the time related keywords"),
            ("TIMEZERO", 0.0, "clock correction"),
            ("TIMESYS", "TT", "type of time system that is used"),
            ("TIMEREF", "LOCAL", "reference frame used for times"),
        ]
        return cards

    def to_hdulist(self):
        """Convert to an `~astropy.io.fits.HDUList` in the Fermitools format."""


        lon, lat = hp.pix2ang(self.nside, np.arange(self.npix), nest=self.nest, lonlat=True)
        if self.frame == "icrs":
            ra, dec = lon, lat
        else:
            icrs = SkyCoord(lon, lat, unit="deg", frame="galactic").icrs
            ra, dec = icrs.ra.deg, icrs.dec.deg
        time_cards = self._time_keywords()
        common = [
            ("TELESCOP", "GLAST", "name of telescope generating data"),
            ("INSTRUME", "LAT", "name of instrument generating data"),
            ("EQUINOX", 2000.0, "equinox for ra and dec"),
            ("RADECSYS", "FK5", "world coord. system for this file (FK5 or FK4)"),
        ]
        primary = fits.PrimaryHDU()
        for card in common + time_cards[:4]:
            primary.header[card[0]] = card[1:]
        primary.header["CREATOR"] = (f"gammapy-lat {__version__}", "software and version creating file")

        hdus = [primary]
        for extname, total, phi in (
            ("EXPOSURE", self.livetime, self.livetime_phi),
            ("WEIGHTED_EXPOSURE", self.weighted_livetime, self.weighted_livetime_phi),
        ):
            values = self._full_values(total, phi).astype(np.float32)
            ncol = values.shape[1]
            cols = [
                fits.Column("COSBINS", format=f"{ncol}E", unit="s", array=values),
                fits.Column("RA", format="E", unit="deg", array=ra.astype(np.float32)),
                fits.Column("DEC", format="E", unit="deg", array=dec.astype(np.float32)),
            ]
            hdu = fits.BinTableHDU.from_columns(cols, name=extname)
            header = hdu.header
            for card in common + time_cards:
                header[card[0]] = card[1:]
            header["PIXTYPE"] = ("HEALPIX", "Indicates this is a HEALPix representation")
            header["ORDERING"] = ("NESTED" if self.nest else "RING", "Can be NESTED or RING")
            header["COORDSYS"] = (_FRAMES[self.frame], "EQU or GAL")
            header["NSIDE"] = (self.nside, "Number of pixels per side per dodecahedron face")
            header["FIRSTPIX"] = (0, "First pixel index")
            header["LASTPIX"] = (self.npix - 1, "Last pixel index")
            header["THETABIN"] = (THETABIN[self.binning], "Costheta binning scheme")
            header["NBRBINS"] = (self.nbins, "Number of costheta bins")
            header["COSMIN"] = (self.cosmin, "Minimum costheta value")
            header["PHIBINS"] = (self.nphibins, "Number of phi bins")
            if self.zmax is not None:
                header["ZMAX"] = (float(self.zmax.to_value("deg")), "[deg] maximum zenith angle")
            if self.roi is not None:
                header["ROI_RA"] = (float(self.roi[0]), "[deg] centre lon of the computed region")
                header["ROI_DEC"] = (float(self.roi[1]), "[deg] centre lat of the computed region")
                header["ROI_RAD"] = (float(self.roi[2]), "[deg] radius of the computed region")
            header["NDSKEYS"] = 1
            header["DSTYP1"] = "TIME"
            header["DSUNI1"] = "s"
            header["DSVAL1"] = "TABLE"
            header["DSREF1"] = ":GTI"
            hdus.append(hdu)

        bounds = fits.BinTableHDU.from_columns(
            [
                fits.Column("CTHETA_MIN", format="E", array=self.costheta_edges[1:].astype(np.float32)),
                fits.Column("CTHETA_MAX", format="E", array=self.costheta_edges[:-1].astype(np.float32)),
            ],
            name="CTHETABOUNDS",
        )
        for card in common + time_cards[:2]:
            bounds.header[card[0]] = card[1:]
        bounds.header["HDUCLASS"] = ("OGIP", "Format confirms to OGIP standard")
        hdus.append(bounds)

        if self.gti is not None:
            start = self.gti.met_start.to_value("s")
            stop = self.gti.met_stop.to_value("s")
        else:
            start = np.array([self.tstart or 0.0])[:0]
            stop = start.copy()
        gti_hdu = fits.BinTableHDU.from_columns(
            [
                fits.Column("START", format="D", unit="s", array=np.asarray(start, float)),
                fits.Column("STOP", format="D", unit="s", array=np.asarray(stop, float)),
            ],
            name="GTI",
        )
        for card in common + time_cards:
            gti_hdu.header[card[0]] = card[1:]
        gti_hdu.header["HDUCLASS"] = ("OGIP", "format conforms to OGIP standard")
        gti_hdu.header["HDUCLAS1"] = ("GTI", "ext. contains good time intervals")
        gti_hdu.header["HDUCLAS2"] = ("ALL", "ext. contains all science time")
        gti_hdu.header["ONTIME"] = (float(np.sum(np.asarray(stop) - np.asarray(start))), "sum of GTI lengths")
        telapse = float(stop[-1] - start[0]) if len(start) else 0.0
        gti_hdu.header["TELAPSE"] = (telapse, "time between first GTI START and last GTI STOP")
        hdus.append(gti_hdu)
        return fits.HDUList(hdus)

    def write(self, path, overwrite=False):
        """Write in the Fermitools format (atomically).

        Parameters
        ----------
        path : str or `~pathlib.Path`
            Output file (``.gz`` compresses).
        overwrite : bool
            Whether to replace an existing file.
        """
        return write_fits_atomic(self.to_hdulist(), path, overwrite=overwrite, checksum=True)

    # ------------------------------------------------------------------ comparison helpers
    def to_table(self):
        """`~astropy.table.Table` with one row per pixel (``PIXEL``, ``LIVETIME``, ``WEIGHTED_LIVETIME``)."""
        return Table(
            {
                "PIXEL": self.pixel_indices,
                "LIVETIME": self.livetime,
                "WEIGHTED_LIVETIME": self.weighted_livetime,
            }
        )
