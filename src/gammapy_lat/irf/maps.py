"""Response maps from a livetime cube: exposure (gtexpcube2), PSF (gtpsf) and energy dispersion (gtdrm).

The response at a sky position is the IRF averaged over the inclination angles the position was
seen at. With the livetime cube :math:`t_i(p)` (and the livetime-fraction weighted cube
:math:`t^w_i(p)`) of HEALPix pixel p in cos θ bin i, the exposure of event type k is

.. math::

    \\epsilon_k(E, p) = \\sum_i A_k(E, c_i) \\left[f_1(E)\\, t_i(p) + f_2(E)\\, t^w_i(p)\\right]

with :math:`c_i` the bin centre in the binning variable (as the Fermitools' ``CosineBinner``) and
:math:`f_1, f_2` the efficiency factors. The IRFs are evaluated once on the (E, cos θ) grid, and
the sky enters only through the few HEALPix pixels a geometry touches: the sums are matrix
products over the unique pixels, the results are then gathered to the map pixels. PSF and
energy dispersion are the per-(E, θ, type) IRFs averaged with the terms of the exposure sum as
weights, as gtpsf does. (gtdrm weights with Aeff x livetime, without the efficiency correction,
and integrates over cos θ with the trapezoidal rule; ``efficiency=False`` drops the correction,
which varies little with θ.)
"""
import logging

import astropy.units as u
import healpy as hp
import numpy as np
from astropy.coordinates import SkyCoord
from gammapy.irf import EDispKernelMap, PSFMap
from gammapy.maps import Map, MapAxis

from ..errors import GammapyLATError

__all__ = [
    "make_exposure_map",
    "make_psf_map",
    "make_edisp_kernel_map",
    "exposure_weights",
    "RAD_AXIS_DEFAULT",
]

log = logging.getLogger(__name__)

#: Default separation axis of PSF maps: 0 to 30 deg, fine near 0 (LAT PSF from ~0.05 deg at
#: 100 GeV to several degrees at 100 MeV).
RAD_AXIS_DEFAULT = MapAxis.from_nodes(
    np.concatenate([[0.0], np.geomspace(1e-3, 30.0, 300)]), unit="deg", name="rad", interp="lin"
)


def _energy_axis(geom, name):
    try:
        return geom.axes[name]
    except (KeyError, ValueError):
        raise GammapyLATError(
            f"The geometry needs a {name!r} axis (found {[ax.name for ax in geom.axes]})"
        ) from None


def _rotation_matrix(frame_from, frame_to):
    """Rotation between two fixed celestial frames (ICRS, Galactic...), from astropy."""
    # unit vectors x, y, z of frame_from
    basis = SkyCoord([0.0, 90.0, 0.0], [0.0, 0.0, 90.0], unit="deg", frame=frame_from)
    rotated = basis.transform_to(frame_to).cartesian
    # columns: images of the basis vectors
    return np.array([rotated.x.value, rotated.y.value, rotated.z.value])


def _unit_vectors(lon, lat, frame_from, frame_to):
    """Unit vectors (3, n) in ``frame_to`` of positions given in ``frame_from`` (deg).

    Both frames are fixed (no observation time), so the transformation is one rotation matrix
    applied to all positions: much faster than a `SkyCoord` transformation for all-sky maps.
    """
    lon = np.radians(lon)
    lat = np.radians(lat)
    cos_lat = np.cos(lat)
    vec = np.array([cos_lat * np.cos(lon), cos_lat * np.sin(lon), np.sin(lat)])
    if SkyCoord(0, 0, unit="deg", frame=frame_from).is_equivalent_frame(SkyCoord(0, 0, unit="deg", frame=frame_to)):
        return vec
    return _rotation_matrix(frame_from, frame_to) @ vec


def _pixel_lookup(ltcube, geom, interp):
    """Unique livetime-cube pixels touched by the geometry and how map pixels combine them.

    Returns
    -------
    centers : `~astropy.coordinates.SkyCoord`
        Centres of the unique HEALPix pixels (cube frame).
    index : `~numpy.ndarray`
        ``(k, n_valid)`` indices into ``centers`` (k = 1 for nearest, 4 for bilinear).
    weights : `~numpy.ndarray`
        ``(k, n_valid)`` weights.
    valid : `~numpy.ndarray`
        Boolean mask over the flattened image (pixels with defined sky coordinates).
    """

    image = geom.to_image()
    coord = image.get_coord()
    lon = np.asarray(coord.lon, dtype=float).ravel()
    lat = np.asarray(coord.lat, dtype=float).ravel()
    valid = np.isfinite(lon) & np.isfinite(lat)
    vec = _unit_vectors(lon[valid], lat[valid], image.frame, ltcube.frame)
    if interp == "nearest":
        pix = hp.vec2pix(ltcube.nside, vec[0], vec[1], vec[2], nest=ltcube.nest)[np.newaxis]
        weights = np.ones(pix.shape)
    elif interp == "bilinear":
        theta, phi = hp.vec2ang(vec.T)
        pix, weights = hp.get_interp_weights(ltcube.nside, theta, phi, nest=ltcube.nest)
    else:
        raise GammapyLATError(f"Unknown livetime interpolation {interp!r}; use 'nearest' or 'bilinear'")
    unique, inverse = np.unique(pix, return_inverse=True)
    inverse = inverse.reshape(pix.shape)
    ulon, ulat = hp.pix2ang(ltcube.nside, unique, nest=ltcube.nest, lonlat=True)
    centers = SkyCoord(ulon, ulat, unit="deg", frame=ltcube.frame)
    return centers, inverse, weights, valid


def _costheta_nodes(ltcube):
    """cos θ at which the IRFs are evaluated for each livetime-cube bin (Fermitools convention)."""
    return np.asarray(ltcube.costheta_center, dtype=float)


def _aeff_grid(irfs, energy, costheta):
    """Effective area per event type on the (E, cos θ) grid, shape (ntype, nE, ncth) in cm2."""
    return np.stack(
        [
            comp.aeff.evaluate(energy[:, np.newaxis], costheta[np.newaxis, :]).to_value("cm2")
            for comp in irfs
        ]
    )


def _efficiency_factors(irfs, energy, efficiency):
    if not efficiency or irfs.efficiency is None:
        return np.ones(len(energy)), np.zeros(len(energy))
    return irfs.efficiency.livetime_factors(energy)


def exposure_weights(ltcube, irfs, energy, skycoord, efficiency=True):
    """Exposure per event type and cos θ bin at sky positions: the weights of PSF/EDISP averages.

    Parameters
    ----------
    ltcube : `~gammapy_lat.livetime.LivetimeCube`
        Livetime cube.
    irfs : `~gammapy_lat.irf.LATIRFs`
        IRFs.
    energy : `~astropy.units.Quantity`
        True energies, 1D.
    skycoord : `~astropy.coordinates.SkyCoord`
        Positions, 1D.
    efficiency : bool
        Apply the livetime-fraction efficiency correction.

    Returns
    -------
    weights : `~astropy.units.Quantity`
        Shape ``(npos, ntype, nE, ncth)`` in cm2 s; their sum over the last two axes (type, θ) is
        the exposure.
    """
    energy = u.Quantity(energy, "MeV").ravel()
    cth = _costheta_nodes(ltcube)
    aeff = _aeff_grid(irfs, energy, cth)
    f1, f2 = _efficiency_factors(irfs, energy, efficiency)
    live, wlive = ltcube.get_livetime(skycoord.reshape(-1), interp="nearest")
    live = live.to_value("s")
    wlive = wlive.to_value("s")
    weights = (
        live[:, np.newaxis, np.newaxis, :] * f1[np.newaxis, np.newaxis, :, np.newaxis]
        + wlive[:, np.newaxis, np.newaxis, :] * f2[np.newaxis, np.newaxis, :, np.newaxis]
    ) * aeff[np.newaxis]
    return u.Quantity(weights, "cm2 s")


def _phi_livetime(ltcube, centers):
    """Livetime per φ bin ``(n, nphi, ncth)`` (s) of the cube pixels at their own centres."""

    coord = centers.transform_to(ltcube.frame)
    ipix = hp.ang2pix(
        ltcube.nside, coord.spherical.lon.deg, coord.spherical.lat.deg, nest=ltcube.nest, lonlat=True
    )
    pixels = ltcube.pixel_indices
    order = np.argsort(pixels)
    pos = np.clip(np.searchsorted(pixels[order], ipix), 0, len(pixels) - 1)
    if np.any(pixels[order][pos] != ipix):
        raise GammapyLATError(
            f"The geometry extends beyond the region {ltcube.roi} covered by the livetime cube"
        )
    rows = order[pos]
    return ltcube.livetime_phi.to_value("s")[rows], ltcube.weighted_livetime_phi.to_value("s")[rows]


def _exposure_phi(ltcube, irfs, energy, cth, centers, f1, f2):
    """Exposure ``(nunique, nE)`` with the φ dependence of the effective area.

    As the Fermitools (``CosineBinner::integral``), the φ-binned livetime is summed with the
    effective area at the φ bin centres, φ folded into [0°, 45°].
    """
    nphi = ltcube.nphibins
    phi = (np.arange(nphi) + 0.5) / nphi * 45.0 * u.deg
    aeff = sum(
        comp.aeff.evaluate(energy[:, None, None], cth[None, :, None], phi=phi[None, None, :]).to_value("cm2")
        for comp in irfs
    )  # (nE, ncth, nphi)
    live, wlive = _phi_livetime(ltcube, centers)  # (n, nphi, ncth)
    expo = np.einsum("upi,eip->ue", live, aeff * f1[:, None, None])
    if np.any(f2 != 0):
        expo += np.einsum("upi,eip->ue", wlive, aeff * f2[:, None, None])
    return expo


def make_exposure_map(
    ltcube, irfs, geom, interp="nearest", efficiency=True, phi_dependence=None, dtype=np.float32
):
    """Exposure map (gtexpcube2) for any Gammapy geometry.

    Parameters
    ----------
    ltcube : `~gammapy_lat.livetime.LivetimeCube`
        Livetime cube.
    irfs : `~gammapy_lat.irf.LATIRFs`
        IRFs of the selected event types; their exposures are summed.
    geom : `~gammapy.maps.Geom`
        WCS (any projection) or HEALPix geometry with an ``energy_true`` axis; the exposure is
        evaluated at the axis centres (use an axis of nodes for gtexpcube2's planes at the bin
        edges).
    interp : {"nearest", "bilinear"}
        Livetime look-up: the HEALPix pixel containing the map pixel centre (as gtexpcube2), or
        bilinear interpolation between HEALPix pixel centres.
    efficiency : bool
        Apply the livetime-fraction efficiency correction (``EFFICIENCY_PARAMS``) as the
        Fermitools do (the correction of the first selected event type for all of them).
    phi_dependence : bool, optional
        Use the φ dependence of the effective area (``PHI_DEPENDENCE``) with the φ-binned
        livetime. Default: when the livetime cube has φ bins, as the Fermitools.
    dtype : numpy dtype
        Data type of the map.

    Returns
    -------
    exposure : `~gammapy.maps.Map`
        Exposure in cm2 s; zero where the map pixel has no sky position (outside the projection).
    """
    axis = _energy_axis(geom, "energy_true")
    energy = axis.center.to("MeV")
    cth = _costheta_nodes(ltcube)
    aeff = _aeff_grid(irfs, energy, cth).sum(axis=0)  # (nE, ncth)
    f1, f2 = _efficiency_factors(irfs, energy, efficiency)

    centers, index, weights, valid = _pixel_lookup(ltcube, geom, interp)
    use_phi = ltcube.nphibins > 0 if phi_dependence is None else bool(phi_dependence)
    if use_phi and ltcube.nphibins == 0:
        raise GammapyLATError("phi_dependence=True needs a livetime cube with phi bins (PHIBINS > 0)")
    if use_phi:
        expo_unique = _exposure_phi(ltcube, irfs, energy, cth, centers, f1, f2)
    else:
        live, wlive = ltcube.get_livetime(centers, interp="nearest")
        # (nunique, ncth) @ (ncth, nE) -> (nunique, nE)
        expo_unique = live.to_value("s") @ (aeff * f1[:, np.newaxis]).T
        if np.any(f2 != 0):
            expo_unique += wlive.to_value("s") @ (aeff * f2[:, np.newaxis]).T
    expo_unique = expo_unique.T.astype(dtype)  # (nE, nunique)

    # gather plane by plane to bound the memory of large (all-sky) maps
    values = np.zeros((len(energy), valid.size), dtype=dtype)
    all_valid = bool(np.all(valid))
    weights = weights.astype(dtype)
    for plane, expo_plane in zip(values, expo_unique):
        if index.shape[0] == 1:
            gathered = expo_plane[index[0]]
        else:
            gathered = np.einsum("kn,kn->n", expo_plane[index], weights)
        if all_valid:
            plane[:] = gathered
        else:
            plane[valid] = gathered
    shape = geom.data_shape
    return Map.from_geom(geom, data=values.reshape(shape), unit="cm2 s", dtype=dtype)


def _weighted_average(ltcube, irfs, geom, energy_true, efficiency, irf_values):
    """Exposure-weighted average of per-(type, E, θ) IRF values for every map pixel.

    ``irf_values`` has shape (ntype, nE, ncth, ...). Returns (average (npix_valid, nE, ...),
    exposure (npix_valid, nE), valid mask).
    """
    centers, index, _, valid = _pixel_lookup(ltcube, geom, "nearest")
    ntype, nenergy, ncth = irf_values.shape[:3]
    extra = irf_values.shape[3:]
    flat = irf_values.reshape((ntype, nenergy, ncth, -1))
    average = np.zeros((len(centers), nenergy, flat.shape[-1]))
    exposure = np.zeros((len(centers), nenergy))
    # chunks of unique pixels bound the (pixel, type, energy, cos θ) weight array to ~100 MB
    chunk = max(1, int(1.2e7 // max(1, ntype * nenergy * ncth)))
    for start in range(0, len(centers), chunk):
        part = slice(start, start + chunk)
        weights = exposure_weights(ltcube, irfs, energy_true, centers[part], efficiency=efficiency)
        weights = weights.to_value("cm2 s")  # (n, ntype, nE, ncth)
        exposure[part] = weights.sum(axis=(1, 3))
        average[part] = np.einsum("utei,teix->uex", weights, flat)
    with np.errstate(invalid="ignore", divide="ignore"):
        average = np.where(exposure[..., np.newaxis] > 0, average / exposure[..., np.newaxis], 0.0)
    average = average.reshape(average.shape[:2] + extra)
    return average[index[0]], exposure[index[0]], valid


def make_psf_map(ltcube, irfs, geom, efficiency=True):
    """PSF map (gtpsf): the PSF averaged over inclination and event types with exposure weights.

    Parameters
    ----------
    ltcube : `~gammapy_lat.livetime.LivetimeCube`
        Livetime cube.
    irfs : `~gammapy_lat.irf.LATIRFs`
        IRFs (with PSF) of the selected event types.
    geom : `~gammapy.maps.Geom`
        Geometry (WCS, HEALPix or region) with an ``energy_true`` axis and optionally a ``rad``
        axis (default `RAD_AXIS_DEFAULT`). PSF maps are usually coarse (e.g. 1-2 deg pixels).
    efficiency : bool
        Apply the efficiency correction to the weights (as gtpsf).

    Returns
    -------
    psf_map : `~gammapy.irf.PSFMap`
        PSF in sr-1 with its exposure map.
    """
    energy_axis = _energy_axis(geom, "energy_true")
    if "rad" in geom.axes.names:
        rad_axis = geom.axes["rad"]
        geom = geom.to_image().to_cube([energy_axis])
    else:
        rad_axis = RAD_AXIS_DEFAULT
    energy = energy_axis.center.to("MeV")
    rad = rad_axis.center.to("rad")
    cth = _costheta_nodes(ltcube)
    values = []
    for comp in irfs:
        if comp.psf is None:
            raise GammapyLATError(f"IRFs {irfs.irf_name} {comp.event_type} were loaded without PSF")
        psf = comp.psf.evaluate(
            energy[:, None, None], cth[None, :, None], rad[None, None, :]
        ).to_value("sr-1")
        values.append(psf)
    values = np.stack(values)  # (ntype, nE, ncth, nrad)
    average, exposure, valid = _weighted_average(ltcube, irfs, geom, energy, efficiency, values)

    psf_map, exposure_map = _irf_and_exposure_maps(
        geom.to_image(), rad_axis, energy_axis, average, exposure, valid, unit="sr-1"
    )
    return PSFMap(psf_map=psf_map, exposure_map=exposure_map)


def _irf_and_exposure_maps(image, inner_axis, outer_axis, average, exposure, valid, unit):
    """IRF map with axes ``(inner_axis, outer_axis)`` and its exposure map (inner axis squashed).

    ``average`` has shape ``(nvalid, nouter, ninner)`` and ``exposure`` ``(nvalid, nouter)`` for
    the pixels flagged in ``valid``; the other pixels stay zero.
    """
    geom = image.to_cube([inner_axis, outer_axis])
    npix = valid.size
    data = np.zeros((outer_axis.nbin, inner_axis.nbin, npix), dtype=np.float32)
    data[:, :, valid] = np.transpose(average, (1, 2, 0))
    irf_map = Map.from_geom(geom, data=data.reshape(geom.data_shape), unit=unit)
    expo_geom = geom.squash(inner_axis.name)
    edata = np.zeros((outer_axis.nbin, 1, npix), dtype=np.float32)
    edata[:, 0, valid] = exposure.T
    exposure_map = Map.from_geom(expo_geom, data=edata.reshape(expo_geom.data_shape), unit="cm2 s")
    return irf_map, exposure_map


def make_edisp_kernel_map(ltcube, irfs, geom, efficiency=True):
    """Energy-dispersion kernel map (gtdrm): exposure-weighted over inclination and event types.

    Parameters
    ----------
    ltcube : `~gammapy_lat.livetime.LivetimeCube`
        Livetime cube.
    irfs : `~gammapy_lat.irf.LATIRFs`
        IRFs (with energy dispersion) of the selected event types.
    geom : `~gammapy.maps.Geom`
        Geometry with a reconstructed ``energy`` axis and an ``energy_true`` axis. Kernels vary
        slowly on the sky: use coarse pixels.
    efficiency : bool
        Apply the efficiency correction to the weights.

    Returns
    -------
    edisp : `~gammapy.irf.EDispKernelMap`
        Probability of each reconstructed-energy bin for each true energy (axis centres), with
        the exposure map.
    """
    energy_true_axis = _energy_axis(geom, "energy_true")
    energy_axis = _energy_axis(geom, "energy")
    energy_true = energy_true_axis.center.to("MeV")
    edges = energy_axis.edges.to("MeV")
    cth = _costheta_nodes(ltcube)
    values = []
    for comp in irfs:
        if comp.edisp is None:
            raise GammapyLATError(
                f"IRFs {irfs.irf_name} {comp.event_type} were loaded without energy dispersion"
            )
        cdf = comp.edisp.cdf(energy_true[:, None, None], cth[None, :, None], edges[None, None, :])
        values.append(np.diff(cdf, axis=-1))
    values = np.stack(values)  # (ntype, nEt, ncth, nEr)
    image = geom.to_image()
    expo_geom = image.to_cube([energy_true_axis])
    average, exposure, valid = _weighted_average(ltcube, irfs, expo_geom, energy_true, efficiency, values)

    kernel, exposure_map = _irf_and_exposure_maps(
        image, energy_axis, energy_true_axis, average, exposure, valid, unit=""
    )
    return EDispKernelMap(edisp_kernel_map=kernel, exposure_map=exposure_map)
