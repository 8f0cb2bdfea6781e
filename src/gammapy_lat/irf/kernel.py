"""PSF kernels of a LAT PSF map, built once per (PSF-map pixel, true-energy bin) and shared.

`LATPSFMap` is a Gammapy `~gammapy.irf.PSFMap` whose `~LATPSFMap.get_psf_kernel` returns the
kernel of the PSF-map pixel that contains the requested position. Kernels are kept in a
process-wide cache (`PSF_KERNEL_CACHE`) keyed by the content of the PSF profile of that pixel, the
kernel geometry and the options, so that every source in the pixel, and every copy of the dataset
an estimator makes (energy slices of an SED, padded and downsampled datasets of a TS map), reuses
the same kernel instead of recomputing it.

A kernel is computed as `gammapy.irf.PSFMap.get_psf_kernel` does (per true energy: a square of
side twice the ``containment`` radius, oversampled by the same factor from the 68 % radius,
PSF interpolated linearly in separation, summed into the pixels, normalised to unit sum), with
three differences:

* the PSF is the profile of the PSF-map pixel, not an interpolation between pixel centres (the
  LAT PSF varies by a few per cent over the 1-2 deg pixels of a PSF map);
* separations are computed once per oversampling factor on the kernel grid and reused for all
  energies and all pixels (the grid depends only on the geometry);
* it also serves HEALPix PSF maps (the kernel of the HEALPix pixel holding the position; Gammapy
  2.1 cannot interpolate a HEALPix PSF map);
* each energy plane is stored on its own square (`LATPSFKernel.planes`): high-energy planes are
  a few pixels wide instead of the width of the 100 MeV plane. The full Gammapy kernel map is
  made only if some code asks for `LATPSFKernel.psf_kernel_map`.

At the centre of a PSF-map pixel the kernels agree with Gammapy's to float32 precision.

`LATEDispKernelMap` is the energy-dispersion counterpart: Gammapy takes the kernel of the pixel
holding the position too ("nearest"), `LATEDispKernelMap.get_edisp_kernel` reads it directly
from the map instead of building a region map of it (70 ms per source).
"""
import hashlib
import logging
import threading
from collections import OrderedDict

import astropy.units as u
import numpy as np
from astropy.coordinates import angular_separation
from gammapy.irf import EDispKernel, EDispKernelMap, PSFKernel, PSFMap
from gammapy.maps import HpxGeom, Map, WcsGeom
from gammapy.utils.array import round_up_to_odd

__all__ = [
    "LATPSFMap",
    "LATPSFKernel",
    "LATEDispKernelMap",
    "PSFKernelCache",
    "PSF_KERNEL_CACHE",
    "containment_radius_profile",
]

log = logging.getLogger(__name__)

#: Largest oversampling factor of a kernel pixel (as ``gammapy.irf.psf.map.PSF_MAX_OVERSAMPLING``).
PSF_MAX_OVERSAMPLING = 4


class PSFKernelCache:
    """Least-recently-used cache of PSF kernels (and kernel grids) with a memory budget.

    Parameters
    ----------
    max_bytes : int
        Memory budget of the cached kernels. When it is exceeded, the least recently used
        kernels are dropped. Default is 128 MB (a kernel of the LAT PSF on 0.2 deg pixels with
        48 true-energy planes takes about 2 MB; an ROI uses a few tens).
    """

    def __init__(self, max_bytes=128 * 2**20):
        self.max_bytes = int(max_bytes)
        self._items = OrderedDict()
        self._grids = OrderedDict()
        self._nbytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self):
        return len(self._items)

    @property
    def nbytes(self):
        """Memory held by the cached kernels (bytes)."""
        return self._nbytes

    def clear(self):
        """Drop all kernels and grids."""
        with self._lock:
            self._items.clear()
            self._grids.clear()
            self._nbytes = 0
            self.hits = self.misses = 0

    def get(self, key):
        with self._lock:
            kernel = self._items.get(key)
            if kernel is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return kernel

    def put(self, key, kernel):
        with self._lock:
            if key in self._items:
                return
            self._items[key] = kernel
            self._nbytes += kernel.nbytes
            while self._nbytes > self.max_bytes and len(self._items) > 1:
                _, old = self._items.popitem(last=False)
                self._nbytes -= old.nbytes

    def grid(self, key, npix, factor, make):
        """Separation grid (deg) of at least ``npix`` kernel pixels oversampled by ``factor``."""
        with self._lock:
            grid = self._grids.get((key, factor))
            if grid is not None and grid.shape[0] >= npix * factor:
                self._grids.move_to_end((key, factor))
                return grid
        grid = make(npix, factor)
        with self._lock:
            self._grids[(key, factor)] = grid
            while len(self._grids) > 64:
                self._grids.popitem(last=False)
        return grid


#: Process-wide kernel cache used by `LATPSFMap.get_psf_kernel`.
PSF_KERNEL_CACHE = PSFKernelCache()


def containment_radius_profile(profile, rad_axis, fraction, factor=20):
    """Containment radius of radial PSF profiles, computed as `gammapy.irf.PSF.containment_radius`.

    The cumulative sum of :math:`2 \\pi r\\, P(r)\\, \\Delta r` over the ``rad`` bins is
    interpolated linearly on the ``rad`` axis upsampled ``factor`` times, and the radius whose
    containment is closest to ``fraction`` is returned.

    Parameters
    ----------
    profile : `~numpy.ndarray`
        PSF values (sr-1) of shape (..., n_rad).
    rad_axis : `~gammapy.maps.MapAxis`
        Separation axis of the profile.
    fraction : float or list of float
        Containment fraction(s).
    factor : int
        Upsampling factor of the separation axis.

    Returns
    -------
    radius : `~numpy.ndarray` or list of `~numpy.ndarray`
        Radii (deg), shape of ``profile`` without its last axis (one array per fraction if
        ``fraction`` is a list).
    """
    rc = rad_axis.center.to_value("deg")
    width = rad_axis.bin_width.to_value("deg")
    to_sr = (u.deg**2).to(u.sr)
    cumsum = np.cumsum(profile * (width * 2 * np.pi * rc), axis=-1) * to_sr
    nodes = rad_axis.edges[1:].to_value("deg")
    rad = rad_axis.upsample(factor).center.to_value("deg")
    idx = np.clip(np.searchsorted(nodes, rad, side="right") - 1, 0, len(nodes) - 2)
    weight = (rad - nodes[idx]) / (nodes[idx + 1] - nodes[idx])
    values = cumsum[..., idx] * (1 - weight) + cumsum[..., idx + 1] * weight
    values[..., (rad < nodes[0]) | (rad > nodes[-1])] = 0
    if np.ndim(fraction) == 0:
        return rad[np.argmin(np.abs(values - fraction), axis=-1)]
    return [rad[np.argmin(np.abs(values - f), axis=-1)] for f in fraction]


def _interp_extrapolate(x, xp, fp):
    """Linear interpolation in ``xp`` with linear extrapolation beyond the last node."""
    values = np.interp(x, xp, fp)
    beyond = x > xp[-1]
    if np.any(beyond):
        slope = (fp[-1] - fp[-2]) / (xp[-1] - xp[-2])
        values[beyond] = fp[-1] + slope * (x[beyond] - xp[-1])
    return values


def _geom_key(geom):
    """Hashable description of a kernel reference geometry (what `to_odd_npix` depends on)."""
    center = geom.center_skydir
    lon, lat = center.data.lon.deg, center.data.lat.deg
    energy = geom.axes[0]
    return (
        geom.frame,
        geom.projection,
        round(float(lon), 10),
        round(float(lat), 10),
        round(float(geom.pixel_scales.max().to_value("deg")), 12),
        energy.name,
        hashlib.blake2b(energy.edges.to_value("MeV").tobytes(), digest_size=12).hexdigest(),
    )


class LATPSFKernel(PSFKernel):
    """PSF kernel with one square per energy plane (see the module docstring).

    Parameters
    ----------
    psf_kernel_map : `~gammapy.maps.Map`, optional
        Kernel map, as for `~gammapy.irf.PSFKernel`. Either this or ``planes`` and ``geom``.
    normalize : bool
        Normalise each plane to unit sum. Default is True.
    planes : list of `~numpy.ndarray`, optional
        Odd-sized square kernel of each energy plane, centred on the kernel centre.
    geom : `~gammapy.maps.WcsGeom`, optional
        Geometry of the full kernel map (spatial pixels and energy axis).
    """

    def __init__(self, psf_kernel_map=None, normalize=True, planes=None, geom=None):
        if psf_kernel_map is not None:
            geom = psf_kernel_map.geom
            data = psf_kernel_map.data
            if data.ndim == 2:
                data = data[np.newaxis]
            planes = [_trim(plane) for plane in data]
        if planes is None or geom is None:
            raise ValueError("LATPSFKernel needs a kernel map, or planes and geom")
        self._geom = geom
        self._planes = [np.asarray(p, dtype=np.float32) for p in planes]
        self._psf_kernel_map = None
        if normalize:
            self.normalize()

    @property
    def geom(self):
        """Geometry of the full kernel map."""
        return self._geom

    @property
    def planes(self):
        """Kernel squares of the energy planes (list of float32 arrays)."""
        return self._planes

    @property
    def nbytes(self):
        """Memory of the kernel (bytes), the full map included if it was made."""
        nbytes = sum(p.nbytes for p in self._planes)
        if self._psf_kernel_map is not None:
            nbytes += self._psf_kernel_map.data.nbytes
        return nbytes

    def normalize(self):
        """Normalise each energy plane to unit sum."""
        planes = []
        for plane in self._planes:
            total = plane.sum(dtype=np.float64)
            planes.append((plane / total).astype(np.float32) if total > 0 else np.zeros_like(plane))
        self._planes = planes
        self._psf_kernel_map = None

    @property
    def psf_kernel_map(self):
        """The kernel as a Gammapy kernel map (made on first access)."""
        if self._psf_kernel_map is None:
            data = np.zeros(self._geom.data_shape, dtype=np.float64)
            if data.ndim == 2:
                data = data[np.newaxis]
            npix = data.shape[-1]
            for plane, image in zip(self._planes, data):
                n = plane.shape[-1]
                o = (npix - n) // 2
                image[o : o + n, o : o + n] = plane
            self._psf_kernel_map = Map.from_geom(self._geom, data=data.reshape(self._geom.data_shape))
        return self._psf_kernel_map

    def to_image(self, spectral_model=None, exposure=None, keepdims=True):
        """Weighted image kernel, a `~gammapy.irf.PSFKernel` (see Gammapy)."""
        return PSFKernel(self.psf_kernel_map).to_image(spectral_model, exposure, keepdims)

    def slice_by_idx(self, slices):
        """Kernel of a slice of the energy axis."""
        kernel = self.psf_kernel_map.slice_by_idx(slices=slices)
        return self.__class__(psf_kernel_map=kernel, normalize=False)


def _trim(image):
    """Smallest centred odd square holding the non-zero values of a kernel image."""
    npix = image.shape[-1]
    nonzero = np.nonzero(image)
    if len(nonzero[0]) == 0:
        return image[npix // 2 : npix // 2 + 1, npix // 2 : npix // 2 + 1].copy()
    c = npix // 2
    half = int(max(np.abs(nonzero[0] - c).max(), np.abs(nonzero[1] - c).max()))
    return image[c - half : c + half + 1, c - half : c + half + 1].copy()


def _mask_safe_image(irf_map):
    """`mask_safe_image` of an IRF map, kept until the map is stacked or replaced."""
    data = irf_map._irf_map.data
    cached = irf_map.__dict__.get("_lat_mask_safe")
    if cached is None or cached[0] is not data:
        cached = (data, irf_map.mask_safe_image)
        irf_map.__dict__["_lat_mask_safe"] = cached
    return cached[1]


class _StackMixin:
    def stack(self, other, weights=None, nan_to_num=True):
        """Stack IRF map with another one in place (see `~gammapy.irf.IRFMap.stack`)."""
        self.__dict__.pop("_lat_mask_safe", None)
        return super().stack(other, weights=weights, nan_to_num=nan_to_num)


def _pixel_index(image, position, clip=False):
    """Data index (without the non-spatial axes) of the pixel holding a position, None outside."""
    idx = image.coord_to_idx(position, clip=clip)
    if image.is_hpx:
        # HEALPix: coord_to_idx gives the all-sky pixel, the data are indexed by the map's own
        idx = image.global_to_local(idx)
    idx = tuple(int(np.ravel(i)[0]) for i in idx)
    if any(i < 0 for i in idx):
        return None
    return idx[::-1]


def _nearest_valid_pixel(irf_map, position):
    """Data index of the IRF-map pixel holding a position, or of the nearest pixel with a response.

    The index (``(iy, ix)`` for WCS maps, ``(ipix,)`` for HEALPix maps) selects the pixel's response
    as ``data[(Ellipsis,) + index]``.
    """
    image = irf_map._irf_map.geom.to_image()
    data = irf_map._irf_map.data
    index = _pixel_index(image, position)
    if index is not None and np.any(data[(Ellipsis,) + index] > 0):
        return index
    mask = _mask_safe_image(irf_map)
    if not np.any(mask.data):
        return _pixel_index(image, position, clip=True)
    log.warning(f"Position {position} is outside valid IRF map range, using nearest IRF defined within")
    return _pixel_index(image, mask.mask_nearest_position(position), clip=True)


class LATEDispKernelMap(_StackMixin, EDispKernelMap):
    """`~gammapy.irf.EDispKernelMap` reading the kernel of a position directly from its pixel.

    Parameters
    ----------
    edisp_kernel_map : `~gammapy.maps.Map`
        Energy-dispersion kernel map with ``energy`` and ``energy_true`` axes.
    exposure_map : `~gammapy.maps.Map`, optional
        Associated exposure map.
    """

    @classmethod
    def from_edisp_kernel_map(cls, edisp):
        """`LATEDispKernelMap` sharing the maps of a `~gammapy.irf.EDispKernelMap` (no copy)."""
        if isinstance(edisp, cls):
            return edisp
        return cls(edisp_kernel_map=edisp.edisp_map, exposure_map=edisp.exposure_map)

    def get_edisp_kernel(self, position=None, energy_axis=None):
        """Energy dispersion kernel at a position (the pixel's, as Gammapy's "nearest").

        Parameters
        ----------
        position : `~astropy.coordinates.SkyCoord`, optional
            Position. Default is the centre of the map.
        energy_axis : `~gammapy.maps.MapAxis`, optional
            Reconstructed energy axis, only used for checking.

        Returns
        -------
        edisp : `~gammapy.irf.EDispKernel`
        """
        geom = self.edisp_map.geom
        if not isinstance(geom, WcsGeom) or getattr(position, "shape", ()) != () or geom.axes.names != [
            "energy",
            "energy_true",
        ]:
            return super().get_edisp_kernel(position=position, energy_axis=energy_axis)
        if energy_axis:
            assert energy_axis == geom.axes["energy"]
        if position is None:
            position = geom.center_skydir
        index = _nearest_valid_pixel(self, position)
        return EDispKernel(axes=geom.axes[["energy_true", "energy"]], data=self.edisp_map.data[(Ellipsis,) + index])


class LATPSFMap(_StackMixin, PSFMap):
    """`~gammapy.irf.PSFMap` with shared, cached PSF kernels per PSF-map pixel.

    Everything but `get_psf_kernel` is Gammapy's. See the module docstring.

    Parameters
    ----------
    psf_map : `~gammapy.maps.Map`
        PSF map with ``rad`` and ``energy_true`` axes.
    exposure_map : `~gammapy.maps.Map`, optional
        Associated exposure map.
    """

    kernel_cache = PSF_KERNEL_CACHE

    @classmethod
    def from_psf_map(cls, psf):
        """`LATPSFMap` sharing the maps of a `~gammapy.irf.PSFMap` (no copy)."""
        if isinstance(psf, cls):
            return psf
        return cls(psf_map=psf.psf_map, exposure_map=psf.exposure_map)

    def _fast_kernels(self):
        geom = self.psf_map.geom
        return (
            isinstance(geom, (WcsGeom, HpxGeom))
            and self.energy_name == "energy_true"
            and geom.axes.names == ["rad", "energy_true"]
        )

    def get_psf_kernel(self, geom, position=None, max_radius=None, containment=0.999, precision_factor=12):
        """PSF kernel of the PSF-map pixel holding ``position`` (cached, see the module docstring).

        Parameters
        ----------
        geom : `~gammapy.maps.Geom`
            Geometry of the maps the kernel is applied to (pixel size, projection, true-energy
            axis); region and HEALPix geometries are replaced by their WCS geometry.
        position : `~astropy.coordinates.SkyCoord`, optional
            Position (default: centre of the PSF map).
        max_radius : `~astropy.coordinates.Angle`, optional
            Largest kernel radius. Default: the ``containment`` radius at the lowest energy.
        containment : float
            Containment fraction of the kernel radius of each energy plane. Default is 0.999.
        precision_factor : int
            Factor between the pixel half-width and the 68 % containment radius that sets the
            oversampling of each plane, as in Gammapy. Default is 12.

        Returns
        -------
        kernel : `LATPSFKernel`
        """
        if geom.is_region or geom.is_hpx:
            geom = geom.to_wcs_geom()
        if not self._fast_kernels() or not isinstance(geom, WcsGeom) or geom.axes.names != ["energy_true"]:
            return super().get_psf_kernel(
                geom, position=position, max_radius=max_radius, containment=containment,
                precision_factor=precision_factor,
            )
        if position is None:
            position = self.psf_map.geom.center_skydir
        index = _nearest_valid_pixel(self, position)
        profile = np.asarray(self.psf_map.quantity[(Ellipsis,) + index].to_value("sr-1"), dtype=np.float64)
        rad_axis = self.psf_map.geom.axes["rad"]
        energy_axis = self.psf_map.geom.axes["energy_true"]
        digest = hashlib.blake2b(digest_size=16)
        for array in (profile, rad_axis.center.to_value("deg"), energy_axis.center.to_value("MeV")):
            digest.update(np.ascontiguousarray(array, dtype=np.float64).tobytes())
        max_radius_deg = None if max_radius is None else float(u.Quantity(max_radius).to_value("deg"))
        geom_key = _geom_key(geom)
        key = (digest.hexdigest(), geom_key, float(containment), max_radius_deg, int(precision_factor))
        kernel = self.kernel_cache.get(key)
        if kernel is None:
            kernel = _make_kernel(
                profile, rad_axis, energy_axis, geom, geom_key, containment, max_radius_deg, precision_factor,
                self.kernel_cache,
            )
            self.kernel_cache.put(key, kernel)
        return kernel


def _profile_at(profile, energy_axis, energy):
    """PSF profiles at true energies: the node's where they coincide, else linear in log energy."""
    nodes = np.log(energy_axis.center.to_value("MeV"))
    x = np.log(energy.to_value("MeV"))
    if len(nodes) == 1:
        return np.repeat(profile[:1], len(x), axis=0)
    idx = np.clip(np.searchsorted(nodes, x) - 1, 0, len(nodes) - 2)
    weight = ((x - nodes[idx]) / (nodes[idx + 1] - nodes[idx]))[:, np.newaxis]
    values = profile[idx] * (1 - weight) + profile[idx + 1] * weight
    nearest = np.argmin(np.abs(x[:, np.newaxis] - nodes[np.newaxis, :]), axis=1)
    exact = np.abs(x - nodes[nearest]) < 1e-12
    values[exact] = profile[nearest[exact]]
    return values


def _make_kernel(profile, rad_axis, energy_axis, geom, geom_key, containment, max_radius, precision_factor, cache):
    energy = geom.axes["energy_true"].center
    profile = _profile_at(profile, energy_axis, energy)
    radii, r68 = containment_radius_profile(profile, rad_axis, [containment, 0.68])
    if max_radius is None:
        max_radius = float(np.max(radii))
    else:
        radii = np.minimum(radii, max_radius)
    binsz = float(geom.pixel_scales.max().to_value("deg"))
    with np.errstate(divide="ignore"):
        factors = np.minimum(np.ceil(precision_factor / (2 * r68 / binsz)), PSF_MAX_OVERSAMPLING).astype(int)
    factors = np.maximum(factors, 1)

    kernel_geom = geom.to_odd_npix(max_radius=max_radius * u.deg)
    image = kernel_geom.to_image()
    center = kernel_geom.center_skydir
    lon0, lat0 = center.data.lon.rad, center.data.lat.rad
    # as WcsGeom.to_odd_npix(max_radius=r)
    npix = [int(round_up_to_odd(2 * r / binsz)) for r in radii]

    def make_grid(n, factor):
        up = image.to_odd_npix(max_radius=(n // 2) * binsz * u.deg).upsample(int(factor))
        coords = up.get_coord(sparse=True)
        lon = np.radians(np.asarray(coords.lon, dtype=np.float64))
        lat = np.radians(np.asarray(coords.lat, dtype=np.float64))
        return np.degrees(angular_separation(lon, lat, lon0, lat0))

    rad_nodes = rad_axis.center.to_value("deg")
    planes = []
    for idx, (n, factor) in enumerate(zip(npix, factors)):
        n_needed = max(m for m, f in zip(npix, factors) if f == factor)
        grid = cache.grid(geom_key, n_needed, int(factor), make_grid)
        o = (grid.shape[0] - n * factor) // 2
        rad = grid[o : o + n * factor, o : o + n * factor]
        values = np.clip(_interp_extrapolate(rad, rad_nodes, profile[idx]), 0, np.inf)
        planes.append(values.reshape(n, factor, n, factor).sum(axis=(1, 3)))
    return LATPSFKernel(planes=planes, geom=kernel_geom, normalize=True)
