"""Helpers for LAT dataset geometries: default true-energy axis, sky-region checks."""
import numpy as np
from astropy import units as u
from astropy.coordinates import Angle, SkyCoord
from gammapy.maps import MapAxis

from ..errors import SelectionError

__all__ = [
    "make_energy_axis_true",
    "geom_max_separation",
    "check_geom_in_cone",
    "energy_mask",
    "ENERGY_EDGE_RTOL",
]

ENERGY_EDGE_RTOL = 1e-6
"""Relative tolerance when an energy range is compared with the edges of an energy axis.

Edges computed in floating point (10000.00000000001 MeV for a 10 GeV edge, float32 EBOUNDS) must
not turn a range ending at an edge into one that excludes the bin below it."""
_LOG10_RTOL = float(np.log10(1.0 + ENERGY_EDGE_RTOL))


def energy_mask(geom, energy_min=None, energy_max=None, axis_name="energy", rtol=ENERGY_EDGE_RTOL):
    """Mask of the energy bins fully inside ``[energy_min, energy_max]``, edges compared with a tolerance.

    Like `~gammapy.maps.Geom.energy_mask`, except that an edge within ``rtol`` (relative) of the
    range limit counts as on it.

    Parameters
    ----------
    geom : `~gammapy.maps.Geom`
        Geometry with an energy axis.
    energy_min, energy_max : `~astropy.units.Quantity`, optional
        Range (open side when None).
    axis_name : str
        Name of the axis (``"energy"`` or ``"energy_true"``).
    rtol : float
        Relative tolerance. Default is `ENERGY_EDGE_RTOL`.

    Returns
    -------
    mask : `~numpy.ndarray`
        Boolean array of the geometry's data shape.
    """
    axis = geom.axes[axis_name]
    edges = axis.edges
    keep = np.ones(axis.nbin, dtype=bool)
    if energy_min is not None:
        keep &= edges[:-1] >= u.Quantity(energy_min) * (1 - rtol)
    if energy_max is not None:
        keep &= edges[1:] <= u.Quantity(energy_max) * (1 + rtol)
    names = list(geom.axes.names)
    shape = [1] * len(geom.data_shape)
    # data axes are reversed: non-spatial axes first, the last one outermost
    index = len(names) - 1 - names.index(axis_name)
    shape[index] = axis.nbin
    return np.broadcast_to(keep.reshape(shape), geom.data_shape).copy()

DEFAULT_EDISP_BINS = 2
"""Margin of the default true-energy axis, in reconstructed-energy bins on each side."""

DEFAULT_OVERSAMPLING = 2
"""True-energy bins per reconstructed-energy bin of the default true-energy axis."""


def make_energy_axis_true(
    energy_axis,
    edisp_bins=DEFAULT_EDISP_BINS,
    oversampling=DEFAULT_OVERSAMPLING,
    energy_true_min=None,
    energy_true_max=None,
):
    """Default true-energy axis for a reconstructed-energy axis.

    Energy dispersion moves photons between energy bins, so the true-energy axis must extend
    beyond the reconstructed range (the "EDISP margin" of the Pass 8 energy-dispersion
    recommendations, ``edisp_bins`` in fermipy) and be fine enough for the exposure and the
    source spectra to be sampled well within each reconstructed bin.

    The axis uses the logarithmic bin width of ``energy_axis`` divided by ``oversampling``, and
    extends ``edisp_bins`` reconstructed bins below and above it. Reconstructed bin edges are also
    true-energy bin edges, so that a dataset without energy dispersion maps exactly onto the
    reconstructed bins.

    Parameters
    ----------
    energy_axis : `~gammapy.maps.MapAxis`
        Reconstructed energy axis (logarithmic binning).
    edisp_bins : int, optional
        Margin in reconstructed-energy bins on each side. Default is 2 (for 8-10 bins per
        decade this covers more than twice the 68 % energy resolution at 100 MeV).
    oversampling : int, optional
        True-energy bins per reconstructed-energy bin. Default is 2.
    energy_true_min, energy_true_max : `~astropy.units.Quantity`, optional
        Clip the axis to this range (e.g. the validity range of the IRFs). The clipped axis
        keeps whole bins.

    Returns
    -------
    energy_axis_true : `~gammapy.maps.MapAxis`
        Axis named ``energy_true``.
    """
    if energy_axis.name != "energy":
        raise ValueError(f"Expected a reconstructed 'energy' axis, got {energy_axis.name!r}")
    edisp_bins = int(edisp_bins)
    oversampling = int(oversampling)
    if edisp_bins < 0 or oversampling < 1:
        raise ValueError("edisp_bins must be >= 0 and oversampling >= 1")

    edges = energy_axis.edges
    unit = edges.unit
    log_edges = np.log10(edges.to_value(unit))
    # Sub-divide each reconstructed bin (irregular binning is supported).
    fine = [np.linspace(lo, hi, oversampling + 1)[:-1] for lo, hi in zip(log_edges[:-1], log_edges[1:])]
    fine = np.concatenate(fine + [log_edges[-1:]])
    width_lo = (log_edges[1] - log_edges[0]) / oversampling
    width_hi = (log_edges[-1] - log_edges[-2]) / oversampling
    n_margin = edisp_bins * oversampling
    below = log_edges[0] - width_lo * np.arange(n_margin, 0, -1)
    above = log_edges[-1] + width_hi * np.arange(1, n_margin + 1)
    log_true = np.concatenate([below, fine, above])

    if energy_true_min is not None:
        lo = np.log10(u.Quantity(energy_true_min).to_value(unit))
        if log_true[0] < lo:
            log_true = np.concatenate([[lo], log_true[log_true > lo + _LOG10_RTOL]])
    if energy_true_max is not None:
        hi = np.log10(u.Quantity(energy_true_max).to_value(unit))
        if log_true[-1] > hi:
            log_true = np.concatenate([log_true[log_true < hi - _LOG10_RTOL], [hi]])
    if log_true.size < 2:
        raise ValueError("The clipped true-energy axis is empty")
    return MapAxis.from_edges(10**log_true * unit, name="energy_true", interp="log")


def geom_max_separation(geom, center):
    """Largest angular distance between ``center`` and a pixel corner/centre of ``geom``.

    Parameters
    ----------
    geom : `~gammapy.maps.WcsGeom` or `~gammapy.maps.HpxGeom`
        Geometry.
    center : `~astropy.coordinates.SkyCoord`
        Reference position.

    Returns
    -------
    separation : `~astropy.coordinates.Angle`
    """
    image = geom.to_image()
    coords = image.get_coord().skycoord
    sep = center.separation(coords).max()
    if image.is_hpx:
        pix_radius = Angle(np.sqrt(np.max(image.solid_angle().to_value("sr")) / np.pi), "rad")
    else:
        pix_radius = Angle(np.max(np.abs(image.pixel_scales.to_value("deg"))) / np.sqrt(2), "deg")
    return Angle(sep + pix_radius).to("deg")


def check_geom_in_cone(geom, cone, name="events", tolerance="0 deg"):
    """Raise when the geometry extends beyond an event selection cone.

    Parameters
    ----------
    geom : `~gammapy.maps.Geom`
        Analysis geometry.
    cone : tuple
        ``(ra, dec, radius)`` in deg (the ``CIRCLE`` of the DSS keywords).
    name : str, optional
        What the cone belongs to, for the message.
    tolerance : `~astropy.coordinates.Angle`, optional
        Allowed excess.

    Raises
    ------
    SelectionError
        If a part of the geometry lies outside the cone: its counts would be missing while its
        exposure is not, biasing every fit.
    """
    ra, dec, radius = cone
    center = SkyCoord(ra, dec, unit="deg", frame="icrs")
    coords = geom.to_image().get_coord().skycoord
    sep = center.separation(coords)
    excess = sep.max() - Angle(radius, "deg")
    if excess > Angle(tolerance):
        raise SelectionError(
            f"Geometry extends {excess.to_value('deg'):.2f} deg beyond the selection cone of "
            f"{name} (CIRCLE({ra},{dec},{radius})): pixel centres up to "
            f"{sep.max().to_value('deg'):.2f} deg from the cone centre. Use a smaller geometry or "
            f"a larger event selection."
        )
