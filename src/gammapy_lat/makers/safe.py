"""Safe data masks for LAT datasets."""
import logging

import healpy as hp
import numpy as np
from astropy import units as u
from astropy.coordinates import Angle, SkyCoord
from gammapy.makers import Maker, SafeMaskMaker
from gammapy.maps import Map, MapAxis

from ..errors import LATDataError
from .utils import energy_mask

__all__ = ["LATSafeMaskMaker"]

log = logging.getLogger(__name__)


class LATSafeMaskMaker(Maker):
    """Make the safe data mask of a LAT `~gammapy.datasets.MapDataset`.

    The LAT has no per-observation safe energy threshold as IACTs do; what must be excluded is
    set by the analysis: the reconstructed energy range, the margin bins kept only so that energy
    dispersion can move photons in from outside the analysis range, pixels so close to the edge of
    the geometry that the PSF of sources outside the map matters, and pixels without exposure.

    Parameters
    ----------
    methods : list of str, optional
        Masks to combine (logical *and*):

        * ``"energy-range"``: reconstructed-energy bins fully inside
          [``energy_min``, ``energy_max``] (edges within a relative 1e-6 of a limit count as on
          it), minus ``edisp_bins`` bins at each end of the axis;
        * ``"edge"``: pixels closer than ``edge_width`` to the border of the geometry;
        * ``"exposure"``: pixels and energies with an exposure not above
          ``exposure_min_fraction`` times its maximum (at the reconstructed bin centres);
        * ``"offset-max"``: pixels farther than ``offset_max`` from ``position`` (default: the
          centre of the observation's selection cone, else of the geometry);
        * ``"aeff-max"``: energies where the exposure at ``position`` is below ``aeff_percent`` %
          of its maximum;
        * ``"edisp-bias"``: Gammapy's energy-bias threshold from the dataset's ``edisp``.

        Default is ``["energy-range", "exposure"]``.
    energy_min, energy_max : `~astropy.units.Quantity`, optional
        Reconstructed-energy range of the analysis.
    edisp_bins : int, optional
        Reconstructed-energy bins excluded at each end of the axis (the fermipy ``edisp_bins``
        convention when the counts cube itself carries the margin). Default is 0.
    edge_width : `~astropy.coordinates.Angle`, str, optional
        Width of the excluded border for ``"edge"``; ``"psf"`` uses, for each reconstructed
        energy bin, the ``psf_containment`` radius of the dataset PSF at the bin centre.
        Default is "psf".
    psf_containment : float, optional
        Containment fraction for ``edge_width="psf"``. Default is 0.68.
    exposure_min_fraction : float, optional
        Threshold of ``"exposure"``, as a fraction of the maximum exposure. Default is 0.
    offset_max : `~astropy.coordinates.Angle` or str, optional
        Radius of ``"offset-max"``. Default is 15 deg.
    aeff_percent : float, optional
        Threshold of ``"aeff-max"`` in percent. Default is 10.
    bias_percent : float, optional
        Threshold of ``"edisp-bias"`` in percent. Default is 10.
    position : `~astropy.coordinates.SkyCoord`, optional
        Reference position of ``"offset-max"``, ``"aeff-max"`` and ``"edisp-bias"``.
    """

    tag = "LATSafeMaskMaker"
    available_methods = {"energy-range", "edge", "exposure", "offset-max", "aeff-max", "edisp-bias"}

    def __init__(
        self,
        methods=("energy-range", "exposure"),
        energy_min=None,
        energy_max=None,
        edisp_bins=0,
        edge_width="psf",
        psf_containment=0.68,
        exposure_min_fraction=0.0,
        offset_max="15 deg",
        aeff_percent=10,
        bias_percent=10,
        position=None,
    ):
        methods = set(methods)
        if not methods.issubset(self.available_methods):
            raise ValueError(
                f"{sorted(methods - self.available_methods)} not valid; "
                f"choose from {sorted(self.available_methods)}"
            )
        self.methods = methods
        self.energy_min = None if energy_min is None else u.Quantity(energy_min)
        self.energy_max = None if energy_max is None else u.Quantity(energy_max)
        self.edisp_bins = int(edisp_bins)
        if isinstance(edge_width, str) and edge_width.strip().lower() == "psf":
            self.edge_width = "psf"
        else:
            self.edge_width = Angle(edge_width)
        self.psf_containment = float(psf_containment)
        self.exposure_min_fraction = float(exposure_min_fraction)
        self.offset_max = Angle(offset_max)
        self.aeff_percent = aeff_percent
        self.bias_percent = bias_percent
        self.position = position

    # ------------------------------------------------------------------ energy
    def make_mask_energy_range(self, dataset):
        """Reconstructed-energy range and margin bins, broadcast to the dataset shape."""
        geom = dataset._geom
        mask = energy_mask(geom, energy_min=self.energy_min, energy_max=self.energy_max)
        if self.edisp_bins > 0:
            axis = geom.axes["energy"]
            if 2 * self.edisp_bins >= axis.nbin:
                raise LATDataError(
                    f"edisp_bins={self.edisp_bins} leaves no energy bin of the {axis.nbin}-bin axis"
                )
            keep = np.zeros(axis.nbin, dtype=bool)
            keep[self.edisp_bins : axis.nbin - self.edisp_bins] = True
            mask = mask & keep.reshape((-1,) + (1,) * (mask.ndim - 1))
        return mask

    def _reference_position(self, dataset, observation):
        if self.position is not None:
            return self.position
        # The centre of the events' acceptance cone (DSS keywords) of a LATObservation.
        center = getattr(observation, "target_radec", None) if observation is not None else None
        if center is not None:
            return center
        return dataset._geom.center_skydir

    def make_mask_aeff_max(self, dataset, observation=None):
        """Energies where the exposure at the reference position exceeds ``aeff_percent`` %."""
        if dataset.exposure is None:
            raise LATDataError("Method 'aeff-max' needs the dataset exposure")
        position = self._reference_position(dataset, observation)
        spectrum = dataset.exposure.get_spectrum(position)
        values = np.ravel(spectrum.data)
        energy_true = spectrum.geom.axes["energy_true"]
        if not np.any(values > 0):
            raise LATDataError(
                f"Exposure is zero at {position.to_string('decimal')} in dataset {dataset.name!r}"
            )
        above = values > self.aeff_percent / 100.0 * values.max()
        energy_min = energy_true.center[np.argmax(above)]
        return energy_mask(dataset._geom, energy_min=energy_min)

    def make_mask_edisp_bias(self, dataset, observation=None):
        """Gammapy's ``edisp-bias`` threshold, at the reference position."""
        if dataset.edisp is None:
            raise LATDataError("Method 'edisp-bias' needs the dataset energy dispersion")
        maker = SafeMaskMaker(
            methods=["edisp-bias"],
            bias_percent=self.bias_percent,
            position=self._reference_position(dataset, observation),
        )
        return maker.make_mask_energy_edisp_bias(dataset)

    # ----------------------------------------------------------------- spatial
    def make_mask_offset_max(self, dataset, observation=None):
        """Pixels within ``offset_max`` of the reference position."""
        geom = dataset._geom
        position = self._reference_position(dataset, observation)
        separation = geom.to_image().separation(position)
        mask = separation < self.offset_max
        return np.broadcast_to(mask, geom.data_shape)

    @staticmethod
    def _distance_to_edge(geom):
        """Angular distance of every pixel centre to the nearest pixel outside the geometry."""
        image = geom.to_image()
        if image.is_hpx:
            if image.is_allsky:
                return np.full(image.data_shape, np.inf) * u.deg

            ipix = np.asarray(image._ipix if image._ipix is not None else np.arange(image.npix_max))
            inside = np.zeros(hp.nside2npix(int(image.nside[0])), dtype=bool)
            inside[ipix] = True
            neighbours = hp.get_all_neighbours(int(image.nside[0]), ipix, nest=image.nest)
            valid = neighbours >= 0
            outside = valid & ~inside[np.where(valid, neighbours, 0)]
            boundary = np.unique(neighbours[outside])
            if boundary.size == 0:
                return np.full(image.data_shape, np.inf) * u.deg
            lon, lat = hp.pix2ang(int(image.nside[0]), boundary, nest=image.nest, lonlat=True)

            border = SkyCoord(lon, lat, unit="deg", frame=image.frame)
        else:
            ny, nx = image.data_shape
            # Centres of the ring of pixels just outside the map.
            x = np.concatenate([np.arange(-1, nx + 1), np.arange(-1, nx + 1), np.full(ny, -1), np.full(ny, nx)])
            y = np.concatenate([np.full(nx + 2, -1), np.full(nx + 2, ny), np.arange(ny), np.arange(ny)])
            border = image.pix_to_coord((x.astype(float), y.astype(float)))
            border = border[0], border[1]

            border = SkyCoord(border[0], border[1], unit="deg", frame=image.frame)
        coords = image.get_coord().skycoord
        flat = coords.reshape(-1)
        # Vectorised in chunks to bound memory (npix x nborder separations).
        out = np.empty(flat.size)
        chunk = max(1, int(2e6 // max(border.size, 1)))
        for start in range(0, flat.size, chunk):
            sub = flat[start : start + chunk]
            sep = sub[:, None].separation(border[None, :]).deg
            out[start : start + chunk] = sep.min(axis=1)
        # The border ring is one pixel outside: subtract half a pixel to measure from the edge.
        if image.is_hpx:
            half = np.sqrt(np.max(image.solid_angle().to_value("sr"))) / 2 * 180 / np.pi
        else:
            half = np.max(np.abs(image.pixel_scales.to_value("deg"))) / 2
        return (out.reshape(image.data_shape) - half) * u.deg

    def make_mask_edge(self, dataset, observation=None):
        """Pixels at least ``edge_width`` (or the PSF radius) from the geometry border."""
        geom = dataset._geom
        distance = self._distance_to_edge(geom)
        energy_axis = geom.axes["energy"]
        if self.edge_width == "psf":
            if dataset.psf is None:
                raise LATDataError("edge_width='psf' needs the dataset PSF")
            position = self._reference_position(dataset, observation)
            radius = dataset.psf.containment_radius(
                fraction=self.psf_containment,
                energy_true=energy_axis.center,
                position=position,
            )
            radius = Angle(np.nan_to_num(np.ravel(radius.to_value("deg")), nan=0.0), "deg")
        else:
            radius = Angle(np.full(energy_axis.nbin, self.edge_width.to_value("deg")), "deg")
        shape = (-1,) + (1,) * (distance.ndim)
        return distance[np.newaxis] >= radius.reshape(shape)

    def make_mask_exposure(self, dataset):
        """Pixels and energies with exposure above the threshold (at reco bin centres)."""
        if dataset.exposure is None:
            raise LATDataError("Method 'exposure' needs the dataset exposure")
        geom = dataset._geom
        axis = MapAxis.from_nodes(geom.axes["energy"].center, name="energy_true", interp="log")
        exposure = dataset.exposure
        target = geom.to_image().to_cube([axis])
        if exposure.geom.to_image() == target.to_image():
            values = exposure.interp_to_geom(target, method="nearest").data
        else:
            values = exposure.interp_to_geom(target, method="linear").data
        values = np.nan_to_num(values, nan=0.0)
        threshold = self.exposure_min_fraction * np.max(values)
        return values > threshold

    def run(self, dataset, observation=None):
        """Set the dataset's ``mask_safe``.

        Parameters
        ----------
        dataset : `~gammapy.datasets.MapDataset`
            Dataset.
        observation : `~gammapy_lat.observations.LATObservation`, optional
            Observation (its selection cone centre is the default reference position).

        Returns
        -------
        dataset : `~gammapy.datasets.MapDataset`
            Dataset with ``mask_safe`` set.
        """
        geom = dataset._geom
        if dataset.mask_safe is not None:
            mask = dataset.mask_safe.data.copy()
        else:
            mask = np.ones(geom.data_shape, dtype=bool)

        if "energy-range" in self.methods:
            mask &= self.make_mask_energy_range(dataset)
        if "offset-max" in self.methods:
            mask &= self.make_mask_offset_max(dataset, observation)
        if "edge" in self.methods:
            mask &= self.make_mask_edge(dataset, observation)
        if "exposure" in self.methods:
            mask &= self.make_mask_exposure(dataset)
        if "aeff-max" in self.methods:
            mask &= self.make_mask_aeff_max(dataset, observation)
        if "edisp-bias" in self.methods:
            mask &= self.make_mask_edisp_bias(dataset, observation)

        if not np.any(mask):
            log.warning(f"Safe mask of dataset {dataset.name!r} excludes every bin")
        dataset.mask_safe = Map.from_geom(geom, data=mask, dtype=bool)
        return dataset
