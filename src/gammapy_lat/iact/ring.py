"""Adaptive ring background on datasets with several energy bins.

Gammapy's `~gammapy.makers.AdaptiveRingBackgroundMaker` works on the first energy plane only,
and in Gammapy 2.1 converts its integration radius ``theta`` to pixels by multiplying by the
pixel size instead of dividing, so that the ON acceptance is that of a single pixel, alpha is
always tiny and the ring never grows. `AdaptiveRingBackgroundMaker` here takes the alpha of the ring
choice from the background within ``theta`` of each pixel (``theta / pixel size`` pixels), keeps
the per-pixel template as ON acceptance (as `~gammapy.makers.RingBackgroundMaker` does), works on
each energy plane and assembles one `~gammapy.datasets.MapDatasetOnOff` with all planes.
"""
import numpy as np
from astropy.convolution import Tophat2DKernel
from gammapy.datasets import MapDatasetOnOff
from gammapy.makers import AdaptiveRingBackgroundMaker as _GammapyAdaptiveRing
from gammapy.makers import RingBackgroundMaker as _GammapyRingMaker
from gammapy.maps import Map
from gammapy.utils.array import scale_cube

__all__ = ["AdaptiveRingBackgroundMaker", "RingBackgroundMaker"]


class AdaptiveRingBackgroundMaker(_GammapyAdaptiveRing):
    """Gammapy's adaptive ring background, applied energy plane by energy plane.

    Takes the parameters of `gammapy.makers.AdaptiveRingBackgroundMaker`.
    """

    tag = "AdaptiveRingBackgroundMaker"

    def _plane(self, dataset, idx):
        """OFF counts, OFF acceptance and ON acceptance of energy plane ``idx``: for each pixel the
        smallest ring whose alpha (background within ``theta`` over background in the ring) is
        below ``threshold_alpha``; NaN where no ring reaches it."""
        counts = dataset.counts.data[idx]
        background = dataset.npred_background().data[idx]
        geom = dataset.counts.geom.to_image()
        kernels = self.kernels(dataset.counts)
        if self.exclusion_mask is not None:
            usable = self.exclusion_mask.interp_to_geom(geom=geom).data.astype(bool)
            usable = usable.reshape(counts.shape)
        else:
            usable = np.ones(counts.shape, dtype=bool)
        counts_off = scale_cube(counts * usable, kernels)
        acceptance_off = scale_cube(background * usable, kernels)
        radius = (self.theta / geom.pixel_scales[0]).to_value("")
        tophat = Tophat2DKernel(radius)
        tophat.normalize("peak")
        on = Map.from_geom(geom, data=background).convolve(tophat.array).data
        with np.errstate(divide="ignore", invalid="ignore"):
            alpha = np.where(acceptance_off > 0, on[..., None] / acceptance_off, np.inf)
        ok = alpha <= self.threshold_alpha
        first = np.argmax(ok, axis=-1)
        found = ok.any(axis=-1)
        pick = lambda cube: np.where(found, np.take_along_axis(cube, first[..., None], -1)[..., 0], np.nan)  # noqa: E731
        return pick(counts_off), pick(acceptance_off), background

    def run(self, dataset, observation=None):
        """Adaptive ring OFF counts and acceptances for every energy plane.

        Returns
        -------
        dataset_on_off : `~gammapy.datasets.MapDatasetOnOff`
            ON acceptance per pixel (the background template), OFF counts and acceptance of the
            chosen ring; pixels where no ring reaches ``threshold_alpha`` are outside the safe
            mask.
        """

        nbin = dataset.counts.geom.axes["energy"].nbin
        shape = dataset.counts.data.shape
        counts_off = np.zeros(shape)
        acceptance = np.zeros(shape)
        acceptance_off = np.zeros(shape)
        for idx in range(nbin):
            counts_off[idx], acceptance_off[idx], acceptance[idx] = self._plane(dataset, idx)
        invalid = ~np.isfinite(acceptance_off) | (acceptance_off <= 0)
        counts_off[invalid] = 0
        acceptance_off[invalid] = 0
        template = dataset.counts
        result = MapDatasetOnOff.from_map_dataset(
            dataset=dataset,
            counts_off=template.copy(data=counts_off),
            acceptance=template.copy(data=acceptance),
            acceptance_off=template.copy(data=acceptance_off),
            name=dataset.name,
        )
        if dataset.mask_safe is not None:
            mask = dataset.mask_safe.copy()
            mask.data &= ~invalid
            result.mask_safe = mask
        return result


class RingBackgroundMaker(_GammapyRingMaker):
    """Gammapy's ring background with the FFT round-off of fully excluded rings removed.

    The ring convolution is computed by FFT, so a ring lying entirely in excluded regions gets an
    OFF acceptance of ~1e-14 instead of 0, which Gammapy keeps in the safe mask (alpha ~1e14).
    OFF acceptances below ``1e-6`` of the largest one (and their OFF counts) are set to zero
    and masked.

    Takes the parameters of `gammapy.makers.RingBackgroundMaker`.
    """

    tag = "RingBackgroundMaker"

    def run(self, dataset, observation=None):
        """Ring OFF counts and acceptance (`~gammapy.datasets.MapDatasetOnOff`)."""
        result = super().run(dataset, observation)
        acceptance_off = result.acceptance_off.data
        tiny = acceptance_off < 1e-6 * np.nanmax(acceptance_off, initial=0)
        acceptance_off[tiny] = 0
        result.counts_off.data[tiny] = 0
        if result.mask_safe is not None:
            result.mask_safe.data[tiny] = False
        return result
