"""`LATMapEvaluator`: Gammapy's `~gammapy.datasets.MapEvaluator` with fast arithmetic.

* PSF: with a `~gammapy_lat.irf.LATPSFKernel` each true-energy plane is convolved with its own
  square (a few pixels at high energy instead of the width of the lowest-energy plane). An image
  with few non-zero pixels (a point source spreads its flux on four pixels) is convolved by adding
  shifted kernels; other images by FFT (`scipy.signal.oaconvolve`). The result is the same as
  `~gammapy.maps.WcsNDMap.convolve` with the full kernel ("same" mode, float32).
* Exposure: from the second evaluation on, the product of the PSF-convolved spatial part and the
  exposure is kept, so that a change of spectral parameters costs one multiplication by the
  spectrum and the energy dispersion (a matrix product) instead of unit-aware map arithmetic.
  Models evaluated only once (frozen sources) do not keep it.

The predicted counts are those of Gammapy's evaluator (same steps, same order of the IRFs).
"""
import logging

import astropy.units as u
import gammapy.datasets.evaluator as gammapy_evaluator
import numpy as np
import scipy.signal
from astropy.nddata import NoOverlapError
from astropy.utils import lazyproperty
from gammapy.datasets.evaluator import MapEvaluator
from gammapy.irf import PSFKernel
from gammapy.maps import Map, WcsNDMap
from gammapy.modeling.models import SkyModel, TemplateNPredModel

from ..irf.kernel import LATPSFKernel

__all__ = ["LATMapEvaluator", "convolve_kernel_planes", "model_signature"]

log = logging.getLogger(__name__)

# attributes holding the components of Gammapy models (SkyModel, TemplateNPredModel,
# FoVBackgroundModel), read from the instance dictionary (model attribute access is slow)
_COMPONENTS = ("_spectral_model", "_spatial_model", "_temporal_model")


def model_signature(model):
    """The component objects of a model: its parameters must be resolved again if one is replaced."""
    attributes = object.__getattribute__(model, "__dict__")
    return tuple(attributes.get(name) for name in _COMPONENTS)

#: Images with at most this many non-zero pixels are convolved by adding shifted kernels.
SPARSE_PIXELS_MAX = 16


def _convolve_sparse(image, kernel, out):
    """Add ``kernel`` centred on each non-zero pixel of ``image`` (weighted) to ``out``."""
    ny, nx = image.shape
    c = kernel.shape[0] // 2
    ys, xs = np.nonzero(image)
    for y, x in zip(ys, xs):
        y0, y1 = max(y - c, 0), min(y + c + 1, ny)
        x0, x1 = max(x - c, 0), min(x + c + 1, nx)
        if y0 >= y1 or x0 >= x1:
            continue
        out[y0:y1, x0:x1] += image[y, x] * kernel[y0 - y + c : y1 - y + c, x0 - x + c : x1 - x + c]
    return out


def _convolve_same(image, kernel):
    """``scipy.signal.convolve(image, kernel, mode="same")`` for an odd square kernel."""
    if kernel.shape[0] == 1:
        return image * kernel[0, 0]
    nnz = np.count_nonzero(image)
    if nnz == 0:
        return np.zeros(image.shape)
    if nnz <= SPARSE_PIXELS_MAX:
        return _convolve_sparse(image, kernel.astype(np.float64), np.zeros(image.shape))
    return scipy.signal.oaconvolve(image, kernel, mode="same")


def convolve_kernel_planes(npred, kernel):
    """Convolve a map with a `~gammapy_lat.irf.LATPSFKernel`, plane by plane.

    Parameters
    ----------
    npred : `~gammapy.maps.WcsNDMap`
        Image (then every kernel plane is applied to it) or cube with the kernel's energy planes.
    kernel : `~gammapy_lat.irf.LATPSFKernel`
        Kernel.

    Returns
    -------
    convolved : `~gammapy.maps.WcsNDMap`
        Convolved map (float32, as `~gammapy.maps.WcsNDMap.convolve`).
    """
    kgeom = kernel.geom
    if not np.allclose(npred.geom.pixel_scales.deg, kgeom.pixel_scales.deg, rtol=1e-5):
        raise ValueError("Pixel size of kernel and map not compatible.")
    planes = kernel.planes
    geom = npred.geom
    if geom.is_image:
        geom = geom.to_cube(kgeom.axes)
        images = [npred.data] * len(planes)
    else:
        if geom.data_shape[0] != len(planes) or npred.data.ndim != 3:
            raise ValueError(f"Incompatible shape between data {geom.data_shape} and kernel ({len(planes)} planes)")
        images = npred.data
    data = np.empty(geom.data_shape, dtype=np.float32)
    for idx, (image, plane) in enumerate(zip(images, planes)):
        data[idx] = _convolve_same(image, plane)
    return npred._init_copy(data=data, geom=geom)


class _NpredTrue:
    """Predicted counts in true energy handed from `compute_flux_psf_convolved` to `apply_exposure`."""

    __slots__ = ("map",)

    def __init__(self, npred):
        self.map = npred


class LATMapEvaluator(MapEvaluator):
    """Gammapy's `~gammapy.datasets.MapEvaluator` with the plane-by-plane PSF convolution.

    The parameters are those of `~gammapy.datasets.MapEvaluator`. The evaluator also remembers
    where its predicted counts go in the dataset geometry (used by
    `~gammapy_lat.datasets.LATMapDataset` to add them up without recomputing the slices).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._stack_slices = None
        self._spatial_exposure = None
        self._n_flux_evaluations = 0
        self._parameters_resolved = None
        self._geom_frame = None

    # ------------------------------------------------------------------ parameters
    @property
    def _parameter_list(self):
        """Parameters of the model, resolved once (again if a component is replaced)."""
        signature = model_signature(self.model)
        resolved = self._parameters_resolved
        if resolved is None or not all(a is b for a, b in zip(signature, resolved[0])):
            if resolved is not None:
                # another component: the norm may be elsewhere, the caches are stale
                del self._norm_idx
                self.reset_cache_properties()
                self._cached_parameter_values = None
                self._cached_parameter_values_previous = None
                self._cached_parameter_values_spatial = None
            resolved = self._parameters_resolved = (signature, list(self.model.parameters))
        return resolved[1]

    def _parameter_values(self):
        return np.array([p.value for p in self._parameter_list], dtype=np.float64)

    @property
    def parameters_changed(self):
        """Parameters changed."""
        values = self._parameter_values()
        changed = ~np.all(self._cached_parameter_values == values)
        if changed:
            self._cached_parameter_values = values
        return changed

    @property
    def parameter_norm_only_changed(self):
        """Only norm parameter changed."""
        norm_only_changed = False
        idx = self._norm_idx
        values = self._parameter_values()
        if idx is not None and self._computation_cache is not None:
            changed = self._cached_parameter_values_previous != values
            norm_only_changed = np.count_nonzero(changed) == 1 and changed[idx]
        if not norm_only_changed:
            self._cached_parameter_values_previous = values
        return norm_only_changed

    def renorm(self):
        """Ratio of the norm to its value at the last full evaluation."""
        return self._parameter_values()[self._norm_idx] / self._cached_parameter_values_previous[self._norm_idx]

    @lazyproperty
    def _compute_npred(self):
        """Compute npred (Gammapy's, with the norm-only change done without map arithmetic)."""
        cache = self._computation_cache
        idx = self._norm_idx
        if (
            self.use_cache
            and cache is not None
            and idx is not None
            and not isinstance(self.model, TemplateNPredModel)
            and self._cached_parameter_values_previous is not None
        ):
            values = self._parameter_values()
            previous = self._cached_parameter_values_previous
            changed = previous != values
            if values[idx] != 0 and np.count_nonzero(changed) == 1 and changed[idx]:
                return Map.from_geom(cache.geom, data=cache.data * (values[idx] / previous[idx]), unit=cache.unit)
        return MapEvaluator._compute_npred.fget(self)

    @property
    def psf_width(self):
        """Width of the PSF kernel."""
        if isinstance(self.psf, LATPSFKernel):
            return np.max(self.psf.geom.width)
        return super().psf_width

    @property
    def apply_psf_after_edisp(self):
        """Whether the PSF is applied in reconstructed energy (after the energy dispersion)."""
        if isinstance(self.psf, LATPSFKernel):
            return "energy" in self.psf.geom.axes.names
        return super().apply_psf_after_edisp

    @lazyproperty
    def position(self):
        """Latest evaluation position, in the frame of the dataset geometry."""
        position = self.model.position
        frame = getattr(self._geom_frame, "frame", None)
        if frame is not None and position is not None:
            try:
                position = position.transform_to(frame)
            except (ValueError, TypeError):
                pass
        return position

    def _contributes(self, mask, margin):
        """`SkyModel.contributes` at `position` (in the frame of the mask)."""
        if not isinstance(self.model, SkyModel):
            return self.model.contributes(mask=mask, margin=margin)
        margin = u.Quantity(margin)
        if not mask.geom.is_image:
            mask = mask.reduce_over_axes(func=np.logical_or)
        if mask.geom.is_region and mask.geom.region is not None:
            if mask.geom.is_all_point_sky_regions:
                return True
            geom = mask.geom.to_wcs_geom()
            mask = geom.region_mask([mask.geom.region])
        try:
            width = 2 * self.model.evaluation_radius + gammapy_evaluator.CUTOUT_MARGIN + margin
            cutout = mask.cutout(position=self.position, width=width)
            return bool(np.any(cutout.data))
        except (NoOverlapError, ValueError):
            return False

    def update(self, exposure, psf, edisp, geom, mask):
        """Update the evaluator (as `~gammapy.datasets.MapEvaluator.update`)."""
        del self.position
        del self.cutout_width
        self._geom_frame = geom
        self._geom_reco_axis = geom.axes["energy"]

        del self._edisp_diagonal
        if edisp:
            self.edisp = edisp.get_edisp_kernel(position=self.position, energy_axis=geom.axes["energy"])
            del self._edisp_diagonal

        if psf and self.model.spatial_model and not (isinstance(self.psf, PSFKernel) and psf.has_single_spatial_bin):
            energy_name = psf.energy_name
            geom_psf = geom if energy_name == "energy" else exposure.geom
            if self.use_psf_containment(geom=geom_psf):
                energy_values = geom_psf.axes[energy_name].center.reshape((-1, 1, 1))
                kwargs = {energy_name: energy_values, "rad": geom.region.radius}
                self.psf_containment = psf.containment(**kwargs)
            else:
                self.psf = psf.get_psf_kernel(
                    position=self.position,
                    geom=geom_psf,
                    containment=gammapy_evaluator.PSF_CONTAINMENT,
                    max_radius=gammapy_evaluator.PSF_MAX_RADIUS,
                )

        self.exposure = exposure
        if self.evaluation_mode == "local":
            self.contributes = self._contributes(mask=mask, margin=self.psf_width)
            if self.contributes and not self._contributes(mask=mask, margin=0 * u.deg):
                log.warning(
                    f"Model {self.model.name} is outside the target geom but contributes inside through the psf."
                    "This contribution cannot be estimated precisely."
                    "Consider extending the dataset geom and/or the masked margin in the mask_fit."
                )
            if self.contributes and not self.geom.is_region:
                self.exposure = exposure._cutout_view(position=self.position, width=self.cutout_width, odd_npix=True)

        self.reset_cache_properties()
        self._stack_slices = None
        self._spatial_exposure = None
        self._n_flux_evaluations = 0

    def reset_cache_properties(self):
        """Reset cached properties."""
        super().reset_cache_properties()
        self._spatial_exposure = None

    def release_caches(self):
        """Drop the cached spatial flux and predicted counts (they are recomputed when needed)."""
        del self._compute_flux_spatial
        del self._compute_npred
        self._computation_cache = None
        self._spatial_exposure = None

    @property
    def _fast_exposure(self):
        """Whether the spatial x exposure product can replace Gammapy's map arithmetic."""
        return (
            self.model.spatial_model is not None
            and self.psf_containment is None
            and self.model.apply_irf["exposure"]
            and self.exposure is not None
            and isinstance(self.exposure, WcsNDMap)
            and not self.apply_psf_after_edisp
        )

    def compute_flux_psf_convolved(self, *arg):
        """Compute PSF convolved and temporal model corrected flux (see Gammapy's)."""
        self._n_flux_evaluations += 1
        if self._n_flux_evaluations < 2 or not self._fast_exposure:
            return super().compute_flux_psf_convolved(*arg)
        spectral = self.compute_flux_spectral()
        spatial = self.compute_flux_spatial()
        cached = self._spatial_exposure
        if cached is None or cached[0] is not spatial or cached[1] is not self.exposure or cached[2] != spectral.unit:
            spatial_q = spatial.quantity if isinstance(spatial, Map) else u.Quantity(spatial)
            factor = (spectral.unit * spatial_q.unit * self.exposure.unit).to("")
            product = np.multiply(spatial_q.value, self.exposure.data, dtype=np.float64)
            product *= factor
            cached = self._spatial_exposure = (spatial, self.exposure, spectral.unit, product)
        value = cached[3] * spectral.value
        if self.model.temporal_model:
            value *= self.compute_temporal_norm()
        return _NpredTrue(Map.from_geom(geom=self.geom, data=value, unit=""))

    def apply_exposure(self, flux):
        """Compute npred cube (a product already made by `compute_flux_psf_convolved` is passed on)."""
        if isinstance(flux, _NpredTrue):
            return flux.map
        return super().apply_exposure(flux)

    def apply_psf(self, npred):
        """Convolve npred cube with the PSF."""
        if isinstance(self.psf, LATPSFKernel) and isinstance(npred, WcsNDMap):
            return convolve_kernel_planes(npred, self.psf)
        return super().apply_psf(npred)

    def stack_slices(self, geom, npred):
        """Slices ``(parent, cutout)`` that add ``npred`` into a map of geometry ``geom``.

        As `~gammapy.maps.WcsNDMap.stack`: ``None`` where the geometries are not both WCS.
        """
        if self._stack_slices is None or self._stack_slices[0] != npred.data.shape:
            slices = None
            if isinstance(npred, WcsNDMap) and geom.is_image is False and not geom.is_hpx and not geom.is_region:
                if geom == npred.geom:
                    slices = (Ellipsis, Ellipsis)
                elif geom.is_aligned(npred.geom):
                    cutout = npred.geom.cutout_slices(geom)
                    parent = cutout["parent-slices"]
                    child = cutout["cutout-slices"]
                    slices = ((Ellipsis, parent[0], parent[1]), (Ellipsis, child[0], child[1]))
                else:
                    raise ValueError("Can only stack equivalent maps or cutout of the same map.")
            self._stack_slices = (npred.data.shape, slices)
        return self._stack_slices[1]
