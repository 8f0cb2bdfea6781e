"""Responses of the unbinned likelihood: per-event densities and the exposure integral of a cone.

An unbinned LAT likelihood (gtlike ``UNBINNED``) needs two things for every source of the model:

* the **density at each event** — the rate per unit energy, solid angle and livetime of events
  like it (reconstructed energy :math:`E_i`, direction :math:`\\hat p_i`, event type :math:`k_i`,
  time :math:`t_i`):

  .. math::

      \\lambda_i = \\int d\\Omega\\, S(E_i)\\, M(\\Omega, E_i)\\, A_{k_i}(E_i, \\theta(\\Omega, t_i), \\phi)
          \\,\\mathrm{PSF}_{k_i}(|\\hat p_i - \\Omega|; E_i, \\theta)\\, \\eta_i

  with the instrument inclination θ and azimuth φ of the source direction at the event time (the
  spacecraft attitude interpolated between FT2 rows, as the Fermitools' ``ScData``) and
  :math:`\\eta_i` the livetime-fraction efficiency correction of the event's FT2 row. For a point
  source the integral is the response at the source direction; for extended and diffuse sources
  it is the per-event "diffuse response" of gtdiffrsp, :class:`EventResponse` computes both;
* the **predicted number of events** — the spectrum integrated against the exposure of each sky
  position to events reconstructed inside the acceptance cone:

  .. math::

      \\epsilon_{\\rm ROI}(E, \\Omega) = \\sum_k \\sum_c
          \\left[f_1(E)\\, t_c(\\Omega) + f_2(E)\\, t^w_c(\\Omega)\\right] A_k(E, c)\\, C_k(E, c, d)

  where :math:`t_c` and :math:`t^w_c` are the livetime-cube entries of the position and
  :math:`C_k(E, c, d)` the fraction of the PSF of a source at angular distance d from the cone
  centre that falls inside the cone (``Psf::angularIntegral`` of the Fermitools, here from the
  PSF's cumulative distribution on a fine grid and the exact fraction of each circle about the
  source inside the cone). This is what gtexpmap tabulates; :class:`ROIExposure` evaluates it at
  any set of positions and, with energy dispersion, folds in the probability of each
  reconstructed-energy bin.

Everything is vectorised over events (or positions) in chunks bounded in memory.
"""
import logging

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord

from ..errors import GammapyLATError, LATDataError
from .caldb import EVENT_TYPE_BITS

__all__ = [
    "EventGeometry",
    "EventResponse",
    "ROIExposure",
    "spacecraft_attitude",
    "unit_vectors",
    "vectors_to_lonlat",
    "frame_rotation",
]

log = logging.getLogger(__name__)

# Fine separation grid (rad) of the PSF cumulative distributions: 0, then log-spaced to pi.
_RHO = np.concatenate([[0.0], np.geomspace(1e-6, np.pi, 900)])
# Step in cos(theta) of the PSF derivative of the per-event sky integrals.
_DCOS = 0.01
# Number of events or positions handled at once (bounds the temporary arrays to ~100 MB).
_CHUNK_POINTS = 400_000


def unit_vectors(lon_deg, lat_deg):
    """Unit vectors ``(..., 3)`` of longitudes and latitudes in degrees."""
    lon = np.radians(np.asarray(lon_deg, dtype=float))
    lat = np.radians(np.asarray(lat_deg, dtype=float))
    cos_lat = np.cos(lat)
    return np.stack([cos_lat * np.cos(lon), cos_lat * np.sin(lon), np.sin(lat)], axis=-1)


def vectors_to_lonlat(vec):
    """Longitudes (in [0, 360)) and latitudes in degrees of vectors ``(..., 3)``."""
    vec = np.asarray(vec, dtype=float)
    lon = np.degrees(np.arctan2(vec[..., 1], vec[..., 0])) % 360.0
    lat = np.degrees(np.arcsin(np.clip(vec[..., 2] / np.linalg.norm(vec, axis=-1), -1.0, 1.0)))
    return lon, lat


def frame_rotation(frame_from, frame_to):
    """Matrix rotating unit vectors of ``frame_from`` into ``frame_to`` (fixed celestial frames)."""
    basis = SkyCoord([0.0, 90.0, 0.0], [0.0, 0.0, 90.0], unit="deg", frame=frame_from)
    try:
        rotated = basis.transform_to(frame_to).cartesian
    except (ValueError, TypeError) as exc:
        raise GammapyLATError(f"Cannot rotate directions from frame {frame_from!r} to {frame_to!r}: {exc}") from exc
    return np.array([rotated.x.value, rotated.y.value, rotated.z.value])


def _normalize(vec):
    return vec / np.linalg.norm(vec, axis=-1, keepdims=True)


def _sky_vectors(skycoord):
    """ICRS unit vectors ``(n, 3)`` of a `~astropy.coordinates.SkyCoord` (flattened)."""
    icrs = skycoord.icrs
    return unit_vectors(np.ravel(icrs.ra.deg), np.ravel(icrs.dec.deg))


def _spacecraft_arrays(spacecraft):
    table = getattr(spacecraft, "table", spacecraft)
    names = ("START", "STOP", "LIVETIME", "RA_SCZ", "DEC_SCZ", "RA_SCX", "DEC_SCX")
    missing = [n for n in names if n not in table.colnames]
    if missing:
        raise LATDataError(f"Spacecraft data lack the column(s) {', '.join(missing)}")
    return {n: np.asarray(table[n], dtype=float) for n in names}


def spacecraft_attitude(spacecraft, time):
    """Spacecraft axes and livetime fraction at event times.

    As the Fermitools' ``ScData``, the z and x axes are interpolated linearly between the
    directions at the starts of consecutive FT2 rows and renormalised; where the next row does not
    follow without a gap, the motion of the previous row is extrapolated. The livetime fraction is
    that of the row holding the time (``LIVETIME / (STOP - START)``).

    Parameters
    ----------
    spacecraft : `~gammapy_lat.data.SpacecraftData` or `~astropy.table.Table`
        FT2 rows, sorted by time.
    time : array_like
        Times (MET, s).

    Returns
    -------
    scz, scx : `~numpy.ndarray`
        ICRS unit vectors ``(n, 3)`` of the boresight and of the x axis (made orthogonal to z).
    live_fraction : `~numpy.ndarray`
        Livetime fraction of the row of each time (0 outside every row).
    """
    cols = _spacecraft_arrays(spacecraft)
    time = np.atleast_1d(np.asarray(time, dtype=float))
    start, stop = cols["START"], cols["STOP"]
    n = len(start)
    if n == 0:
        raise LATDataError("Spacecraft data have no rows")
    z = unit_vectors(cols["RA_SCZ"], cols["DEC_SCZ"])
    x = unit_vectors(cols["RA_SCX"], cols["DEC_SCX"])
    row = np.clip(np.searchsorted(start, time, side="right") - 1, 0, n - 1)
    inside = (time >= start[row]) & (time <= stop[row])
    if n == 1:
        scz, scx = z[row], x[row]
    else:
        contiguous = np.zeros(n, dtype=bool)
        contiguous[:-1] = np.abs(start[1:] - stop[:-1]) < 1.0
        # interpolate towards the next row, or extrapolate from the previous one across a gap
        forward = contiguous[row] & (row < n - 1)
        base = np.where(forward, row, np.maximum(row - 1, 0))
        base = np.where(~forward & ~contiguous[base], row, base)
        nxt = np.minimum(base + 1, n - 1)
        span = start[nxt] - start[base]
        frac = np.where(span > 0, (time - start[base]) / np.where(span > 0, span, 1.0), 0.0)[:, None]
        scz = _normalize(z[base] + frac * (z[nxt] - z[base]))
        scx = x[base] + frac * (x[nxt] - x[base])
    scx = _normalize(scx - np.sum(scx * scz, axis=-1, keepdims=True) * scz)
    duration = stop[row] - start[row]
    live = np.where(inside & (duration > 0), cols["LIVETIME"][row] / np.where(duration > 0, duration, 1.0), 0.0)
    return scz, scx, live


def _instrument_angles(vec, scz, scx):
    """cos θ and φ (deg) of directions ``vec`` (..., 3) in the frames ``scz``/``scx`` (..., 3)."""
    costheta = np.clip(np.sum(vec * scz, axis=-1), -1.0, 1.0)
    scy = np.cross(scz, scx)
    phi = np.degrees(np.arctan2(np.sum(vec * scy, axis=-1), np.sum(vec * scx, axis=-1)))
    return costheta, phi


def _separation(vec_a, vec_b):
    """Angular separation (rad) of unit vectors, accurate at small angles."""
    cross = np.linalg.norm(np.cross(vec_a, vec_b), axis=-1)
    dot = np.sum(vec_a * vec_b, axis=-1)
    return np.arctan2(cross, dot)


def _orthonormal_basis(vec):
    """Two unit vectors orthogonal to ``vec`` (n, 3) and to each other."""
    helper = np.where(np.abs(vec[:, 2:3]) < 0.9, [[0.0, 0.0, 1.0]], [[1.0, 0.0, 0.0]])
    e1 = _normalize(np.cross(helper, vec))
    e2 = np.cross(vec, e1)
    return e1, e2


def _psf_cumulative(psf, energy_mev, costheta):
    """PSF cumulative distribution ``P(< rho)`` on `_RHO`, shape ``energy.shape + (nrho,)``.

    ``energy_mev`` and ``costheta`` broadcast together. The distribution is normalised to 1 at
    pi (the LAT PSF functions are normalised over the sphere; this removes the quadrature error).
    """
    energy = np.asarray(energy_mev, float)[..., None]
    cth = np.asarray(costheta, float)[..., None]
    dens = psf.evaluate(energy * u.MeV, cth, _RHO * u.rad).to_value("sr-1") * 2 * np.pi * np.sin(_RHO)
    steps = 0.5 * (dens[..., 1:] + dens[..., :-1]) * np.diff(_RHO)
    cum = np.concatenate([np.zeros(steps.shape[:-1] + (1,)), np.cumsum(steps, axis=-1)], axis=-1)
    return cum / cum[..., -1:]


def _circle_fraction(rho, dist, radius):
    """Fraction of the circle of radius ``rho`` about a point at ``dist`` from the centre of a cone
    of radius ``radius`` that lies inside the cone (all angles in rad, broadcast)."""
    rho, dist = np.broadcast_arrays(np.asarray(rho, float), np.asarray(dist, float))
    with np.errstate(invalid="ignore", divide="ignore"):
        denom = np.sin(dist) * np.sin(rho)
        x = (np.cos(radius) - np.cos(dist) * np.cos(rho)) / denom
        frac = np.arccos(np.clip(x, -1.0, 1.0)) / np.pi
    # degenerate circles (rho = 0, or the point at the centre or the antipode)
    small = denom < 1e-12
    angle = np.where(np.cos(dist) >= 0, np.abs(dist - rho), np.pi - np.abs(np.pi - dist - rho))
    frac = np.where(small, (np.cos(angle) >= np.cos(radius)).astype(float), frac)
    return frac


class _ConeContainment:
    """Fraction :math:`C(E, c, d)` of the PSF inside a cone for sources at distance d from its centre.

    Tabulated on the true energies and cos θ nodes given, and on a grid of distances dense next
    to the cone edge; linear interpolation in d.
    """

    def __init__(self, psf, radius, energy_mev, costheta, dist_max):
        self.radius = float(radius)
        dist_max = float(min(max(dist_max, self.radius + 1e-3), np.pi))
        edge = self.radius + np.concatenate([-np.geomspace(1e-6, self.radius, 120), [0.0], np.geomspace(1e-6, np.pi, 160)])
        nodes = np.concatenate([np.linspace(0.0, dist_max, 400), edge])
        self.dist = np.unique(np.clip(nodes, 0.0, dist_max))
        cum = _psf_cumulative(psf, np.asarray(energy_mev)[:, None], np.asarray(costheta)[None, :])
        dcum = np.diff(cum, axis=-1)  # (nE, nc, nrho - 1)
        frac = _circle_fraction(_RHO[:, None], self.dist[None, :], self.radius)  # (nrho, nd)
        mid = 0.5 * (frac[1:] + frac[:-1])
        shape = dcum.shape[:2]
        self.table = (dcum.reshape(-1, dcum.shape[-1]) @ mid).reshape(shape + (len(self.dist),))
        np.clip(self.table, 0.0, 1.0, out=self.table)

    def __call__(self, dist):
        """Containment ``(n, nE, nc)`` at distances ``dist`` (rad, (n,))."""
        dist = np.clip(np.asarray(dist, float), 0.0, self.dist[-1])
        idx = np.clip(np.searchsorted(self.dist, dist, side="right") - 1, 0, len(self.dist) - 2)
        w = (dist - self.dist[idx]) / (self.dist[idx + 1] - self.dist[idx])
        lo = np.moveaxis(self.table[:, :, idx], -1, 0)
        hi = np.moveaxis(self.table[:, :, idx + 1], -1, 0)
        return lo + w[:, None, None] * (hi - lo)


class EventGeometry:
    """What the response needs to know about each event.

    Parameters
    ----------
    energy : `~astropy.units.Quantity`
        Reconstructed energies.
    direction : `~numpy.ndarray`
        ICRS unit vectors ``(n, 3)`` of the reconstructed directions.
    type_index : `~numpy.ndarray`
        Index of the event type of each event in the `~gammapy_lat.irf.LATIRFs` components.
    scz, scx : `~numpy.ndarray`
        Spacecraft axes ``(n, 3)`` at the event times (see `spacecraft_attitude`).
    live_fraction : `~numpy.ndarray`
        Livetime fraction of the FT2 row of each event (for the efficiency correction).
    time : `~numpy.ndarray`, optional
        Event times (MET, s).
    """

    def __init__(self, energy, direction, type_index, scz, scx, live_fraction, time=None):
        self.energy = u.Quantity(energy, "MeV", dtype=float).ravel()
        n = self.energy.size
        self.direction = np.asarray(direction, dtype=float).reshape(n, 3)
        self.type_index = np.asarray(type_index, dtype=int).reshape(n)
        self.scz = np.asarray(scz, dtype=float).reshape(n, 3)
        self.scx = np.asarray(scx, dtype=float).reshape(n, 3)
        self.live_fraction = np.asarray(live_fraction, dtype=float).reshape(n)
        self.time = None if time is None else np.asarray(time, dtype=float).reshape(n)

    def __len__(self):
        return self.energy.size

    @property
    def energy_mev(self):
        return self.energy.to_value("MeV")

    def select(self, mask):
        """Subset of the events (boolean mask or indices)."""
        return EventGeometry(
            self.energy[mask],
            self.direction[mask],
            self.type_index[mask],
            self.scz[mask],
            self.scx[mask],
            self.live_fraction[mask],
            None if self.time is None else self.time[mask],
        )

    @classmethod
    def from_events(cls, events, spacecraft, irfs):
        """Geometry of a `~gammapy_lat.data.LATEventList` with its spacecraft data.

        Raises
        ------
        LATDataError
            Events of a type the IRFs do not hold, or events outside the spacecraft rows.
        """
        event_type = events.event_type
        if event_type is None:
            raise LATDataError(f"{events.source}: events have neither EVENT_TYPE nor CONVERSION_TYPE")
        type_index = type_indices(event_type, irfs, source=events.source)
        time = events.time
        scz, scx, live = spacecraft_attitude(spacecraft, time)
        outside = live <= 0
        if np.any(outside):
            bad = np.flatnonzero(outside)
            raise LATDataError(
                f"{events.source}: {bad.size} event(s) (first at MET {time[bad[0]]:.3f}) lie outside the "
                "spacecraft rows with livetime"
            )
        ra = np.asarray(events.table["RA"], float)
        dec = np.asarray(events.table["DEC"], float)
        return cls(events.energy, unit_vectors(ra, dec), type_index, scz, scx, live, time)


def type_indices(event_type, irfs, source="events"):
    """Index in ``irfs`` of the event type of each event (from the ``EVENT_TYPE`` bit masks)."""

    event_type = np.asarray(event_type, dtype=np.uint64)
    index = np.full(event_type.shape, -1, dtype=int)
    for k, comp in enumerate(irfs):
        bit = np.uint64(EVENT_TYPE_BITS[comp.event_type])
        index = np.where((index < 0) & ((event_type & bit) != 0), k, index)
    if np.any(index < 0):
        missing = int(np.count_nonzero(index < 0))
        raise LATDataError(
            f"{source}: {missing} event(s) belong to none of the event types {irfs.event_types} of the IRFs "
            f"{irfs.irf_name}"
        )
    return index


def _gauss_legendre(a, b, n):
    x, w = np.polynomial.legendre.leggauss(n)
    return 0.5 * (b - a) * x + 0.5 * (b + a), 0.5 * (b - a) * w


class _PSFRadii:
    """Containment radii (rad) of each event type's PSF versus (log10 E, cos θ), interpolated."""

    def __init__(self, irfs, log_energy_range, levels=(0.68, 0.999)):
        lo, hi = log_energy_range
        self.loge = np.arange(lo - 0.1, hi + 0.15, 0.05)
        self.cth = np.linspace(0.0, 1.0, 11)
        self.levels = levels
        self.tables = []
        for comp in irfs:
            if comp.psf is None:
                self.tables.append(None)
                continue
            cum = _psf_cumulative(comp.psf, 10 ** self.loge[:, None], self.cth[None, :])
            radii = np.empty(cum.shape[:2] + (len(levels),))
            for i, level in enumerate(levels):
                idx = np.argmax(cum >= level, axis=-1)
                radii[..., i] = _RHO[np.maximum(idx, 1)]
            self.tables.append(radii)

    def __call__(self, type_index, log_energy, costheta):
        """Radii ``(n, nlevels)`` for events of one type."""
        table = self.tables[type_index]
        x = np.clip((log_energy - self.loge[0]) / 0.05, 0, len(self.loge) - 1.001)
        y = np.clip(costheta / 0.1, 0, len(self.cth) - 1.001)
        i, j = x.astype(int), y.astype(int)
        fx, fy = (x - i)[:, None], (y - j)[:, None]
        return (
            table[i, j] * (1 - fx) * (1 - fy)
            + table[i + 1, j] * fx * (1 - fy)
            + table[i, j + 1] * (1 - fx) * fy
            + table[i + 1, j + 1] * fx * fy
        )


class EventResponse:
    """Per-event response of the LAT to sources of given morphology (see the module docstring).

    Parameters
    ----------
    irfs : `~gammapy_lat.irf.LATIRFs`
        IRFs of the event types of the events (with PSF; with energy dispersion for
        `edisp_kernel`).
    geometry : `EventGeometry`
        The events.
    efficiency : bool
        Apply the livetime-fraction efficiency correction (of the first event type, as in the
        exposure).
    phi_dependence : bool
        Use the φ dependence of the effective area where the IRFs have one (as gtlike does for
        the instantaneous response).
    n_rho, n_psi : int
        Quadrature nodes in separation (Gauss-Legendre in log separation, from 1e-3 of the 68 %
        containment radius to the 99.9 % radius of the event's PSF) and in azimuth (uniform) of
        the per-event integrals over the sky (`integrate_around_events`).
    """

    def __init__(self, irfs, geometry, efficiency=True, phi_dependence=True, n_rho=32, n_psi=16):
        self.irfs = irfs
        self.geometry = geometry
        self.phi_dependence = phi_dependence
        self.n_rho = int(n_rho)
        self.n_psi = int(n_psi)
        energy = geometry.energy_mev
        if efficiency and irfs.efficiency is not None and len(geometry):
            self.efficiency = np.asarray(irfs.efficiency.evaluate(energy * u.MeV, geometry.live_fraction), float)
        else:
            self.efficiency = np.ones(len(geometry))
        self._radii = None
        self.event_costheta, _ = _instrument_angles(geometry.direction, geometry.scz, geometry.scx)

    def __len__(self):
        return len(self.geometry)

    def _psf_radii(self):
        if self._radii is None:
            loge = np.log10(self.geometry.energy_mev) if len(self.geometry) else np.array([2.0, 5.0])
            self._radii = _PSFRadii(self.irfs, (loge.min(), loge.max()))
        return self._radii

    def _types(self):
        """(component index, component, event indices) for the event types present."""
        for k, comp in enumerate(self.irfs):
            idx = np.flatnonzero(self.geometry.type_index == k)
            if idx.size:
                yield k, comp, idx

    def _aeff(self, comp, energy_mev, costheta, phi):
        if self.phi_dependence:
            return comp.aeff.evaluate(energy_mev * u.MeV, costheta, phi=phi * u.deg).to_value("cm2")
        return comp.aeff.evaluate(energy_mev * u.MeV, costheta).to_value("cm2")

    @staticmethod
    def _psf(comp, energy_mev, costheta, rad):
        if comp.psf is None:
            raise GammapyLATError(f"IRFs {comp.irf_name} {comp.event_type} were loaded without PSF")
        return comp.psf.evaluate(energy_mev * u.MeV, costheta, rad * u.rad).to_value("sr-1")

    # ------------------------------------------------------------------ point sources
    def point_source(self, direction, energy_true=None):
        """Aeff x PSF (x efficiency) at each event for a point source (cm2 sr-1).

        Parameters
        ----------
        direction : `~astropy.coordinates.SkyCoord`
            Source position.
        energy_true : `~astropy.units.Quantity`, optional
            True energies ``(n, m)`` at which to evaluate the response of each event (energy
            dispersion); default: the reconstructed energies (no dispersion), result ``(n,)``.

        Returns
        -------
        response : `~numpy.ndarray`
            ``(n,)`` or ``(n, m)``.
        """
        geo = self.geometry
        src = _sky_vectors(direction)[0]
        n = len(geo)
        cth, phi = _instrument_angles(src[None, :], geo.scz, geo.scx)
        sep = _separation(geo.direction, src[None, :])
        if energy_true is None:
            energy = geo.energy_mev[:, None]
        else:
            energy = u.Quantity(energy_true, "MeV").to_value("MeV").reshape(n, -1)
        out = np.zeros(energy.shape)
        for _, comp, idx in self._types():
            e = energy[idx]
            c, p, r = cth[idx, None], phi[idx, None], sep[idx, None]
            out[idx] = self._aeff(comp, e, c, p) * self._psf(comp, e, c, r)
        out *= self.efficiency[:, None]
        return out[:, 0] if energy_true is None else out

    def edisp_kernel(self, direction, energy_true):
        """Energy-dispersion density dP/dE' at each event for true energies ``(n, m)`` (MeV-1).

        Evaluated at the inclination of ``direction`` (a `~astropy.coordinates.SkyCoord`) at the
        event time; for extended sources pass None to use the inclination of the event direction.
        """
        geo = self.geometry
        n = len(geo)
        if direction is None:
            cth = self.event_costheta
        else:
            cth, _ = _instrument_angles(_sky_vectors(direction)[0][None, :], geo.scz, geo.scx)
        energy = u.Quantity(energy_true, "MeV").to_value("MeV").reshape(n, -1)
        out = np.zeros(energy.shape)
        for _, comp, idx in self._types():
            if comp.edisp is None:
                raise GammapyLATError(f"IRFs {comp.irf_name} {comp.event_type} were loaded without energy dispersion")
            out[idx] = comp.edisp.evaluate(
                energy[idx] * u.MeV, cth[idx, None], geo.energy[idx, None]
            ).to_value("MeV-1")
        return out

    def aeff_at_events(self, energy_true=None):
        """Effective area x efficiency at the event directions (cm2), ``(n,)`` or ``(n, m)``."""
        geo = self.geometry
        cth, phi = _instrument_angles(geo.direction, geo.scz, geo.scx)
        energy = geo.energy_mev[:, None] if energy_true is None else u.Quantity(energy_true, "MeV").to_value("MeV")
        energy = energy.reshape(len(geo), -1)
        out = np.zeros(energy.shape)
        for _, comp, idx in self._types():
            out[idx] = self._aeff(comp, energy[idx], cth[idx, None], phi[idx, None])
        out *= self.efficiency[:, None]
        return out[:, 0] if energy_true is None else out

    # ------------------------------------------------------------------ extended sources
    def integrate_around_events(self, intensity, mask=None):
        """Per-event diffuse response: the sky integral of intensity x Aeff x PSF (gtdiffrsp).

        The integral runs over a polar grid about each event direction (see the class
        parameters), with the effective area and the PSF at the inclination of every grid
        direction (the PSF linear in cos θ about the event's, see the code).

        Parameters
        ----------
        intensity : callable
            ``intensity(vectors, energy_mev)`` with ICRS unit vectors ``(..., 3)`` and the event
            energies broadcast to the same leading shape; returns the model intensity (any unit,
            as a float array) — a spatial model in sr-1 gives a response in cm2 sr-1.
        mask : `~numpy.ndarray`, optional
            Events to compute (default all); the others get 0.

        Returns
        -------
        response : `~numpy.ndarray`
            ``(n,)``.
        """
        geo = self.geometry
        out = np.zeros(len(geo))
        todo = np.ones(len(geo), bool) if mask is None else np.asarray(mask, bool)
        radii = self._psf_radii()
        t_nodes, t_weights = _gauss_legendre(0.0, 1.0, self.n_rho)
        psi = (np.arange(self.n_psi) + 0.5) * 2 * np.pi / self.n_psi
        cos_psi, sin_psi = np.cos(psi), np.sin(psi)
        chunk = max(1, _CHUNK_POINTS // (self.n_rho * self.n_psi))
        for k, comp, idx in self._types():
            idx = idx[todo[idx]]
            for start in range(0, idx.size, chunk):
                sel = idx[start : start + chunk]
                energy = geo.energy_mev[sel]
                r68, r999 = radii(k, np.log10(energy), self.event_costheta[sel]).T
                lo = np.log(1e-3 * r68)
                hi = np.log(np.minimum(np.maximum(r999, 2 * r68), np.pi))
                rho = np.exp(lo[:, None] + (hi - lo)[:, None] * t_nodes[None, :])  # (m, nrho)
                w_rho = (hi - lo)[:, None] * t_weights[None, :] * rho * np.sin(rho)
                vec = self._polar_points(geo.direction[sel], rho, cos_psi, sin_psi)  # (m, nrho, npsi, 3)
                scz, scx = geo.scz[sel][:, None, None, :], geo.scx[sel][:, None, None, :]
                cth, phi = _instrument_angles(vec, scz, scx)
                e3 = energy[:, None, None]
                # the PSF varies slowly with the inclination: linear in cos(theta) about that of
                # the event direction (exact inside a CALDB grid cell), from three evaluations
                # per separation instead of one per grid direction
                c0 = self.event_costheta[sel][:, None]
                e2 = energy[:, None]
                psf0 = self._psf(comp, e2, c0, rho)
                hi, lo = np.minimum(c0 + _DCOS, 1.0), np.maximum(c0 - _DCOS, -1.0)
                slope = (self._psf(comp, e2, hi, rho) - self._psf(comp, e2, lo, rho)) / (hi - lo)
                psf = psf0[:, :, None] + slope[:, :, None] * (cth - c0[:, :, None])
                value = self._aeff(comp, e3, cth, phi) * np.maximum(psf, 0.0)
                value *= np.broadcast_to(np.asarray(intensity(vec, np.broadcast_to(e3, cth.shape)), float), cth.shape)
                out[sel] = np.einsum("mrp,mr->m", value, w_rho) * (2 * np.pi / self.n_psi)
        return out * self.efficiency

    @staticmethod
    def _polar_points(center, rho, cos_psi, sin_psi):
        e1, e2 = _orthonormal_basis(center)
        cr, sr = np.cos(rho)[:, :, None, None], np.sin(rho)[:, :, None, None]
        ring = cos_psi[None, None, :, None] * e1[:, None, None, :] + sin_psi[None, None, :, None] * e2[:, None, None, :]
        return cr * center[:, None, None, :] + sr * ring

    def integrate_over_points(self, points, weights, values, mask=None):
        """Per-event response of a source sampled at fixed sky points (compact extended sources).

        Parameters
        ----------
        points : `~numpy.ndarray`
            ICRS unit vectors ``(q, 3)`` of the sample points.
        weights : `~numpy.ndarray`
            Solid angle of each point (sr), ``(q,)``.
        values : `~numpy.ndarray` or callable
            Intensity at the points, ``(q,)``, or a callable ``values(energy_mev)`` returning
            ``(m, q)`` for events of energies ``(m, 1)`` (energy-dependent models).
        mask : `~numpy.ndarray`, optional
            Events to compute (default all).

        Returns
        -------
        response : `~numpy.ndarray`
            Sum over points of weight x value x Aeff x PSF, ``(n,)``.
        """
        geo = self.geometry
        out = np.zeros(len(geo))
        todo = np.ones(len(geo), bool) if mask is None else np.asarray(mask, bool)
        if not callable(values):
            values = np.asarray(values, float)
        chunk = max(1, _CHUNK_POINTS // max(1, len(points)))
        for _, comp, idx in self._types():
            idx = idx[todo[idx]]
            for start in range(0, idx.size, chunk):
                sel = idx[start : start + chunk]
                e2 = geo.energy_mev[sel][:, None]
                cth, phi = _instrument_angles(points[None, :, :], geo.scz[sel][:, None, :], geo.scx[sel][:, None, :])
                sep = _separation(geo.direction[sel][:, None, :], points[None, :, :])
                value = self._aeff(comp, e2, cth, phi) * self._psf(comp, e2, cth, sep)
                vals = np.asarray(values(e2), float) if callable(values) else values[None, :]
                out[sel] = np.sum(value * vals * weights[None, :], axis=1)
        return out * self.efficiency

    def psf_radius(self, level=0.68):
        """PSF containment radius (rad) at each event (68 % or 99.9 %)."""
        radii = self._psf_radii()
        col = radii.levels.index(level)
        out = np.zeros(len(self.geometry))
        for k, _, idx in self._types():
            out[idx] = radii(k, np.log10(self.geometry.energy_mev[idx]), self.event_costheta[idx])[:, col]
        return out


class ROIExposure:
    """Exposure to events reconstructed inside an acceptance cone (gtexpmap), at any sky positions.

    Parameters
    ----------
    irfs : `~gammapy_lat.irf.LATIRFs`
        IRFs of the selected event types (summed).
    ltcube : `~gammapy_lat.livetime.LivetimeCube`
        Livetime cube of the observation.
    center : `~astropy.coordinates.SkyCoord`
        Centre of the acceptance cone.
    radius : `~astropy.units.Quantity`
        Radius of the acceptance cone.
    energy_true : `~astropy.units.Quantity`
        True energies at which the exposure is evaluated (1D).
    energy_reco_edges : `~astropy.units.Quantity`, optional
        With energy dispersion: reconstructed-energy bin edges; the exposure of each true energy
        is then split into the probabilities of the bins (shape ``(..., nE, nbins)``).
    efficiency : bool
        Apply the livetime-fraction efficiency correction.
    source_radius : `~astropy.units.Quantity`, optional
        Largest distance of a source from the cone centre for which the containment is
        tabulated (gtexpmap's ``srcrad``); farther sources have none. Default: radius + 30 deg.
    """

    def __init__(
        self, irfs, ltcube, center, radius, energy_true, energy_reco_edges=None, efficiency=True, source_radius=None
    ):
        self.irfs = irfs
        self.ltcube = ltcube
        self.center = center.icrs
        self.radius = u.Quantity(radius, "deg")
        self.energy_true = u.Quantity(energy_true, "MeV").ravel()
        self.energy_reco_edges = None if energy_reco_edges is None else u.Quantity(energy_reco_edges, "MeV").ravel()
        if source_radius is None:
            source_radius = self.radius + 30 * u.deg
        self.source_radius = u.Quantity(min(u.Quantity(source_radius, "deg").to_value("deg"), 180.0), "deg")
        self._center_vec = _sky_vectors(self.center)[0]
        energy = self.energy_true.to_value("MeV")
        self.costheta = np.asarray(ltcube.costheta_center, float)
        self._aeff = np.stack(
            [c.aeff.evaluate(energy[:, None] * u.MeV, self.costheta[None, :]).to_value("cm2") for c in irfs]
        )  # (ntype, nE, nc)
        if efficiency and irfs.efficiency is not None:
            self._f1, self._f2 = irfs.efficiency.livetime_factors(energy * u.MeV)
        else:
            self._f1, self._f2 = np.ones(energy.size), np.zeros(energy.size)
        self._containment = None
        self._migration = None
        if ltcube.nphibins:
            log.info("The livetime cube has phi bins; the unbinned exposure uses the phi-averaged effective area")

    @property
    def radius_rad(self):
        return self.radius.to_value("rad")

    def _get_containment(self):
        if self._containment is None:
            for comp in self.irfs:
                if comp.psf is None:
                    raise GammapyLATError(f"IRFs {comp.irf_name} {comp.event_type} were loaded without PSF")
            energy = self.energy_true.to_value("MeV")
            dist_max = self.source_radius.to_value("rad")
            self._containment = [
                _ConeContainment(c.psf, self.radius_rad, energy, self.costheta, dist_max) for c in self.irfs
            ]
        return self._containment

    def _get_migration(self):
        """Probability of each reconstructed-energy bin, ``(ntype, nE, nc, nbins)``."""
        if self._migration is None:
            edges = self.energy_reco_edges
            energy = self.energy_true[:, None, None]
            cth = self.costheta[None, :, None]
            out = []
            for comp in self.irfs:
                if comp.edisp is None:
                    raise GammapyLATError(
                        f"IRFs {comp.irf_name} {comp.event_type} were loaded without energy dispersion"
                    )
                cdf = comp.edisp.cdf(energy, cth, edges[None, None, :])
                out.append(np.diff(cdf, axis=-1))
            self._migration = np.stack(out)
        return self._migration

    def distance(self, skycoord):
        """Angular distance (rad) of positions from the cone centre."""
        return _separation(_sky_vectors(skycoord), self._center_vec[None, :])

    def evaluate(self, skycoord, psf=True):
        """Exposure of the positions to events reconstructed in the cone (cm2 s).

        Parameters
        ----------
        skycoord : `~astropy.coordinates.SkyCoord`
            Source positions (flattened).
        psf : bool
            With the fraction of the PSF inside the cone (sources observed through the PSF);
            without it, the exposure itself inside the cone and zero outside.

        Returns
        -------
        exposure : `~numpy.ndarray`
            ``(n, nE)``, or ``(n, nE, nbins)`` with reconstructed-energy bins.
        """
        skycoord = skycoord.reshape(-1) if skycoord.shape else skycoord.reshape(1)
        n = len(skycoord)
        dist = self.distance(skycoord)
        nbins = None if self.energy_reco_edges is None else len(self.energy_reco_edges) - 1
        shape = (n, self.energy_true.size) + (() if nbins is None else (nbins,))
        out = np.zeros(shape)
        reach = dist <= self.source_radius.to_value("rad") if psf else dist <= self.radius_rad
        use = np.flatnonzero(reach)
        if use.size == 0:
            return out
        containment = self._get_containment() if psf else None
        migration = self._get_migration() if nbins is not None else None
        ne, nc = self.energy_true.size, self.costheta.size
        chunk = max(1, _CHUNK_POINTS * 4 // (ne * nc * (nbins or 1)))
        for start in range(0, use.size, chunk):
            sel = use[start : start + chunk]
            live, wlive = self.ltcube.get_livetime(skycoord[sel], interp="nearest")
            live, wlive = live.to_value("s"), wlive.to_value("s")
            # livetime-weighted efficiency: (m, nE, nc)
            weights = live[:, None, :] * self._f1[None, :, None] + wlive[:, None, :] * self._f2[None, :, None]
            total = 0.0
            for k in range(len(self.irfs)):
                term = weights * self._aeff[k][None]
                if psf:
                    term = term * containment[k](dist[sel])
                if nbins is None:
                    total = total + term.sum(axis=-1)
                else:
                    total = total + np.einsum("mec,ecj->mej", term, migration[k])
            out[sel] = total
        return out

    # ------------------------------------------------------------------ integration grids
    def region_grid(self, psf=True, n_radial=(24, 32, 24), n_azimuth=96, edge_width=3 * u.deg):
        """Quadrature points and solid angles covering the region that feeds the cone.

        Polar grid about the cone centre: Gauss-Legendre in the radial distance over three
        segments — the inner cone, a band of ``edge_width`` on either side of the edge (where the
        containment falls from 1 to 0) and, with ``psf``, the outer source region up to
        ``source_radius`` — times ``n_azimuth`` uniform azimuths.

        Returns
        -------
        points : `~astropy.coordinates.SkyCoord`
            ICRS positions ``(q,)``.
        weights : `~numpy.ndarray`
            Solid angles (sr) ``(q,)``.
        """
        radius = self.radius_rad
        width = min(u.Quantity(edge_width, "deg").to_value("rad"), 0.5 * radius)
        outer = self.source_radius.to_value("rad") if psf else radius
        segments = [(0.0, radius - width, n_radial[0]), (radius - width, min(radius + width, outer) if psf else radius, n_radial[1])]
        if psf and outer > radius + width:
            segments.append((radius + width, outer, n_radial[2]))
        r, wr = [], []
        for a, b, n in segments:
            x, w = _gauss_legendre(a, b, n)
            r.append(x)
            wr.append(w)
        r, wr = np.concatenate(r), np.concatenate(wr)
        psi = (np.arange(n_azimuth) + 0.5) * 2 * np.pi / n_azimuth
        center = self._center_vec[None, :]
        e1, e2 = _orthonormal_basis(center)
        ring = np.cos(psi)[:, None] * e1 + np.sin(psi)[:, None] * e2  # (npsi, 3)
        vec = np.cos(r)[:, None, None] * center[None] + np.sin(r)[:, None, None] * ring[None]
        weights = (wr * np.sin(r))[:, None] * np.full(n_azimuth, 2 * np.pi / n_azimuth)[None, :]
        lon, lat = vectors_to_lonlat(vec.reshape(-1, 3))
        return SkyCoord(lon, lat, unit="deg", frame="icrs"), weights.ravel()
