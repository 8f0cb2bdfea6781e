"""Simulation of LAT events (FT1) from a Gammapy sky model through the LAT response.

Photons are generated as a thinned Poisson process, as a Monte Carlo of the instrument would:

1. *Candidates*: for every source, true energies and directions are drawn from the model flux
   multiplied by the largest effective area at that energy (over inclination and the selected
   event types), and times from the livetime history of the spacecraft file (rows weighted by
   ``LIVETIME``, uniform inside a row). Their number is Poisson distributed around the integral
   ``∫ F(E, Ω) A_max(E) dE dΩ × T_live``.
2. *Thinning*: at the candidate's time the inclination θ (angle to the LAT boresight, pointing
   interpolated between spacecraft rows) gives the acceptance probability
   ``Σ_types A(E, θ) / A_max(E)``; photons from below the Earth's limb are removed. The event
   type is chosen with probability ``A_type(E, θ) / Σ A``. The accepted photons are therefore a
   Poisson sample with rate ``F × Σ_types A(E, θ(t)) × livetime``, i.e. the exposure.
3. *Response*: the reconstructed direction is offset from the true one by an angle drawn from the
   PSF of the event type at (E, θ) (and a uniform azimuth); the reconstructed energy from the
   energy dispersion at (E, θ). Both are drawn from quantile tables computed once from
   `gammapy_lat.irf` (`LATPSF.evaluate`, `LATEnergyDispersion.cdf`) on fine grids of
   (log E, cos θ) and interpolated.

Point sources are drawn at their position; any other spatial model (isotropic, Galactic-like
templates, Gaussian...) is integrated over HEALPix pixels of the simulated region with the
model evaluated per pixel and energy, so that energy-dependent templates are supported.
"""
import logging
import warnings

import healpy as hp
import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.table import Table
from gammapy.modeling.models import Models, PointSpatialModel, SkyModel

from ..data import DSSKeywords, LATEventList
from ..data.constants import MJDREFF, MJDREFI
from ..data.gti import intersect_intervals, merge_intervals, met_to_time
from ..irf import EVENT_TYPE_BITS
from .spacecraft import R_EARTH_EQ, SimulationError, _fit_comment

__all__ = ["simulate_events", "write_events", "EventSimulator"]

log = logging.getLogger(__name__)

_DEG = np.pi / 180.0


def _unit(ra_deg, dec_deg):
    ra = np.asarray(ra_deg, float) * _DEG
    dec = np.asarray(dec_deg, float) * _DEG
    cd = np.cos(dec)
    return np.stack([cd * np.cos(ra), cd * np.sin(ra), np.sin(dec)], axis=-1)


def _radec(vec):
    ra = np.degrees(np.arctan2(vec[..., 1], vec[..., 0])) % 360.0
    dec = np.degrees(np.arcsin(np.clip(vec[..., 2], -1.0, 1.0)))
    return ra, dec


def _normalize(vec):
    return vec / np.linalg.norm(vec, axis=-1, keepdims=True)


def _dot(a, b):
    return np.einsum("...i,...i->...", a, b)


def _angle_deg(a, b):
    """Angle between unit vectors (numerically stable at small angles)."""
    cross = np.linalg.norm(np.cross(a, b), axis=-1)
    return np.degrees(np.arctan2(cross, _dot(a, b)))


def _offset_directions(direction, offset_rad, azimuth_rad):
    """Rotate unit vectors by ``offset`` towards position angle ``azimuth`` (vectorised)."""
    pole = np.array([0.0, 0.0, 1.0])
    east = np.cross(pole, direction)
    norm = np.linalg.norm(east, axis=-1, keepdims=True)
    # directions at a celestial pole: any perpendicular works
    east = np.where(norm > 1e-12, east / np.where(norm > 1e-12, norm, 1.0), np.array([0.0, 1.0, 0.0]))
    north = np.cross(direction, east)
    s, c = np.sin(offset_rad)[:, None], np.cos(offset_rad)[:, None]
    return _normalize(
        c * direction + s * (np.cos(azimuth_rad)[:, None] * north + np.sin(azimuth_rad)[:, None] * east)
    )


def _powerlaw_cell_integrals(e_lo, e_hi, f_lo, f_hi):
    """Integral of a power law through (e_lo, f_lo) and (e_hi, f_hi), and its index."""
    with np.errstate(divide="ignore", invalid="ignore"):
        index = np.log(f_hi / f_lo) / np.log(e_hi / e_lo)
        g1 = index + 1.0
        near_m1 = np.abs(g1) < 1e-6
        integ = np.where(
            near_m1,
            f_lo * e_lo * np.log(e_hi / e_lo),
            f_lo * e_lo / g1 * ((e_hi / e_lo) ** g1 - 1.0),
        )
    bad = ~np.isfinite(integ) | (f_lo <= 0) | (f_hi <= 0)
    # cells with a zero end: trapezoid (and linear sampling is then replaced by log-uniform)
    integ = np.where(bad, 0.5 * (f_lo + f_hi) * (e_hi - e_lo), integ)
    index = np.where(bad, 0.0, index)
    return integ, index


def _sample_powerlaw(e_lo, e_hi, index, rng):
    """Draw energies in [e_lo, e_hi] from E^index (vectorised)."""
    uu = rng.random(np.shape(e_lo))
    g1 = index + 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        pl = (e_lo**g1 + uu * (e_hi**g1 - e_lo**g1)) ** (1.0 / g1)
    log_uniform = e_lo * (e_hi / e_lo) ** uu
    return np.where(np.abs(g1) < 1e-6, log_uniform, np.where(np.isfinite(pl), pl, log_uniform))


class _QuantileTable:
    """Quantile function q(u | log E, cos θ) tabulated on a regular grid, trilinear look-up."""

    def __init__(self, log_energy, costheta, uu, values):
        self.log_energy = log_energy
        self.costheta = costheta
        self.uu = uu
        self.values = values  # (nE, nC, nU)

    @staticmethod
    def _frac_index(nodes, x):
        x = np.clip(x, nodes[0], nodes[-1])
        pos = (x - nodes[0]) / (nodes[1] - nodes[0])
        i0 = np.clip(np.floor(pos).astype(int), 0, len(nodes) - 2)
        return i0, pos - i0

    def __call__(self, log_energy, costheta, uu):
        ie, te = self._frac_index(self.log_energy, log_energy)
        ic, tc = self._frac_index(self.costheta, costheta)
        # u nodes are not regular: searchsorted
        iu = np.clip(np.searchsorted(self.uu, uu, side="right") - 1, 0, len(self.uu) - 2)
        tu = (uu - self.uu[iu]) / (self.uu[iu + 1] - self.uu[iu])
        out = 0.0
        for de, we in ((0, 1 - te), (1, te)):
            for dc, wc in ((0, 1 - tc), (1, tc)):
                for du, wu in ((0, 1 - tu), (1, tu)):
                    out = out + we * wc * wu * self.values[ie + de, ic + dc, iu + du]
        return out


def _quantile_nodes():
    # dense towards u = 1 for the PSF tails
    return np.unique(np.concatenate([np.linspace(0, 0.9, 181), 1 - np.geomspace(0.1, 1e-5, 160), [1.0]]))


def _psf_quantile_table(psf, log_energy, costheta):
    rad = np.concatenate([[0.0], np.geomspace(1e-4, 180.0, 700)])  # deg
    rad_rad = np.radians(rad)
    dens = psf.evaluate(
        u.Quantity(10 ** log_energy[:, None, None], "MeV"), costheta[None, :, None], u.Quantity(rad[None, None, :], "deg")
    ).to_value("sr-1")
    integrand = 2 * np.pi * np.sin(rad_rad) * dens
    cdf = np.concatenate(
        [np.zeros(dens.shape[:2] + (1,)), np.cumsum(0.5 * (integrand[..., 1:] + integrand[..., :-1]) * np.diff(rad_rad), axis=-1)],
        axis=-1,
    )
    cdf /= cdf[..., -1:]
    uu = _quantile_nodes()
    values = np.empty(dens.shape[:2] + (len(uu),))
    for i in range(dens.shape[0]):
        for j in range(dens.shape[1]):
            values[i, j] = np.interp(uu, cdf[i, j], rad)
    return _QuantileTable(log_energy, costheta, uu, values)


def _edisp_quantile_table(edisp, log_energy, costheta):
    migra = np.unique(np.concatenate([np.linspace(0.02, 0.6, 30), np.linspace(0.6, 1.6, 300), np.linspace(1.6, 4.0, 40)]))
    energy = u.Quantity(10 ** log_energy[:, None, None], "MeV")
    cdf = edisp.cdf(energy, costheta[None, :, None], migra[None, None, :] * energy)
    cdf = np.maximum.accumulate(np.asarray(cdf, float), axis=-1)
    cdf = (cdf - cdf[..., :1]) / np.maximum(cdf[..., -1:] - cdf[..., :1], 1e-300)
    uu = _quantile_nodes()
    values = np.empty(cdf.shape[:2] + (len(uu),))
    for i in range(cdf.shape[0]):
        for j in range(cdf.shape[1]):
            values[i, j] = np.interp(uu, cdf[i, j], migra)
    return _QuantileTable(log_energy, costheta, uu, values)


def _spacecraft_table(spacecraft):
    table = getattr(spacecraft, "table", spacecraft)
    needed = ("START", "STOP", "LIVETIME", "RA_SCZ", "DEC_SCZ", "RA_SCX", "DEC_SCX", "RA_ZENITH", "DEC_ZENITH")
    missing = [c for c in needed if c not in table.colnames]
    if missing:
        raise SimulationError(f"Spacecraft data lacks column(s) {', '.join(missing)}")
    return table


def _good_time_intervals(table, tmin, tmax):
    """GTIs from the spacecraft rows: livetime > 0 and the standard quality flags."""

    good = np.asarray(table["LIVETIME"], float) > 0
    if "DATA_QUAL" in table.colnames:
        good &= np.asarray(table["DATA_QUAL"]) > 0
    if "LAT_CONFIG" in table.colnames:
        good &= np.asarray(table["LAT_CONFIG"]) == 1
    start, stop = merge_intervals(np.asarray(table["START"], float)[good], np.asarray(table["STOP"], float)[good])
    return intersect_intervals(start, stop, [tmin], [tmax])


def _sky_models(models):
    if isinstance(models, SkyModel):
        models = [models]
    out = []
    for model in Models(models):
        if not isinstance(model, SkyModel):
            log.warning("Skipping model %s of type %s: only SkyModel can be simulated", model.name, type(model).__name__)
            continue
        if model.spatial_model is None:
            raise SimulationError(f"Sky model {model.name!r} has no spatial model; cannot simulate directions")
        if model.temporal_model is not None:
            log.warning("Temporal model of %s is ignored: sources are simulated as steady", model.name)
        out.append(model)
    if not out:
        raise SimulationError("No SkyModel to simulate")
    return out


class EventSimulator:
    """Draw LAT events for sky models along a spacecraft history (see the module docstring).

    Parameters
    ----------
    spacecraft : `~gammapy_lat.data.SpacecraftData` or `~astropy.table.Table`
        Pointing and livetime history.
    irfs : `~gammapy_lat.irf.LATIRFs`
        Response; events get the event types of its components.
    energy_range : tuple of `~astropy.units.Quantity`
        Reconstructed-energy range of the output events.
    true_energy_range : tuple of `~astropy.units.Quantity`, optional
        True-energy range of the simulated photons; default: ``energy_range`` widened by a
        factor 1.5 on each side (photons migrate into the range through the dispersion).
    roi : tuple of (`~astropy.coordinates.SkyCoord`, `~astropy.units.Quantity`), optional
        Acceptance cone on the reconstructed directions; photons are generated inside the cone
        widened by ``roi_margin``. Default: the whole sky.
    roi_margin : `~astropy.units.Quantity`
        Margin for photons scattered into the cone by the PSF.
    gti : tuple of arrays, optional
        Good-time intervals (MET start, stop); default from the spacecraft rows with livetime and
        nominal ``DATA_QUAL``/``LAT_CONFIG``.
    zmax : `~astropy.units.Quantity`, optional
        Maximum zenith angle of the reconstructed direction (recorded as a DSS cut).
    apply_edisp : bool
        Draw reconstructed energies from the energy dispersion (otherwise E' = E).
    healpix_nside : int
        HEALPix resolution for sources that are not point sources.
    random_state : int or `~numpy.random.Generator`
        Seed.
    """

    def __init__(
        self,
        spacecraft,
        irfs,
        energy_range=(100 * u.MeV, 100 * u.GeV),
        true_energy_range=None,
        roi=None,
        roi_margin=5 * u.deg,
        gti=None,
        zmax=None,
        apply_edisp=True,
        healpix_nside=256,
        random_state=0,
        chunk_size=2_000_000,
    ):
        self.table = _spacecraft_table(spacecraft)
        self.header = getattr(spacecraft, "header", None)
        self.irfs = irfs
        self.emin, self.emax = (u.Quantity(e, "MeV").value for e in energy_range)
        if not 0 < self.emin < self.emax:
            raise SimulationError(f"Invalid energy range {energy_range}")
        if true_energy_range is None:
            true_energy_range = (self.emin / 1.5 * u.MeV, self.emax * 1.5 * u.MeV)
        self.etrue_min, self.etrue_max = (u.Quantity(e, "MeV").value for e in true_energy_range)
        if not 0 < self.etrue_min < self.etrue_max:
            raise SimulationError(f"Invalid true energy range {true_energy_range}")
        self.roi = None
        if roi is not None:
            center, radius = roi
            center = center.icrs
            self.roi = (center, u.Quantity(radius, "deg"))
        self.roi_margin = u.Quantity(roi_margin, "deg")
        self.zmax = None if zmax is None else u.Quantity(zmax, "deg")
        self.apply_edisp = apply_edisp
        self.healpix_nside = int(healpix_nside)
        self.rng = random_state if isinstance(random_state, np.random.Generator) else np.random.default_rng(random_state)
        self.chunk_size = int(chunk_size)

        start = np.asarray(self.table["START"], float)
        stop = np.asarray(self.table["STOP"], float)
        if gti is None:
            gti = _good_time_intervals(self.table, start[0], stop[-1])
        self.gti_start, self.gti_stop = (np.asarray(g, float) for g in gti)
        if self.gti_start.size == 0:
            raise SimulationError("No good time interval in the spacecraft data (no row with livetime)")
        self._prepare_rows()
        self._prepare_response()

    # ------------------------------------------------------------------------ spacecraft
    def _prepare_rows(self):
        t = self.table
        start = np.asarray(t["START"], float)
        stop = np.asarray(t["STOP"], float)
        live = np.asarray(t["LIVETIME"], float)
        # fraction of each row inside the GTIs
        frac = np.zeros(len(t))
        for i0 in range(0, len(t), 200_000):
            sl = slice(i0, i0 + 200_000)
            s, e = start[sl], stop[sl]
            lo = np.searchsorted(self.gti_stop, s, side="right")
            hi = np.searchsorted(self.gti_start, e, side="left")
            single = hi - lo <= 1
            idx = np.clip(lo, 0, len(self.gti_start) - 1)
            overlap = np.clip(np.minimum(e, self.gti_stop[idx]) - np.maximum(s, self.gti_start[idx]), 0, None)
            overlap = np.where(hi > lo, overlap, 0.0)
            f = np.where(e > s, overlap / np.where(e > s, e - s, 1.0), 0.0)
            if not np.all(single):
                for k in np.flatnonzero(~single):
                    a, b = intersect_intervals([s[k]], [e[k]], self.gti_start, self.gti_stop)
                    f[k] = np.sum(b - a) / (e[k] - s[k])
            frac[sl] = f
        use = (live > 0) & (frac > 0)
        self.rows = np.flatnonzero(use)
        self.row_start, self.row_stop, self.row_live = start, stop, live
        self.live_exposed = float(np.sum(live * frac))
        weights = live[use]
        self._row_cdf = np.cumsum(weights)
        self._live_sum = float(self._row_cdf[-1]) if self._row_cdf.size else 0.0
        if self._live_sum <= 0:
            raise SimulationError("The spacecraft rows inside the GTIs have no livetime")
        self.scz = _unit(t["RA_SCZ"], t["DEC_SCZ"])
        self.scx = _unit(t["RA_SCX"], t["DEC_SCX"])
        self.zen = _unit(t["RA_ZENITH"], t["DEC_ZENITH"])
        if "SC_POSITION" in t.colnames:
            radius = np.linalg.norm(np.asarray(t["SC_POSITION"], float), axis=-1)
            radius = np.where(radius > R_EARTH_EQ, radius, R_EARTH_EQ + 550e3)
        else:
            radius = np.full(len(t), R_EARTH_EQ + 550e3)
        # zenith angle beyond which the Earth blocks the view
        self.earth_zenith = 180.0 - np.degrees(np.arcsin(R_EARTH_EQ / radius))
        self._contiguous = np.zeros(len(t), dtype=bool)
        self._contiguous[:-1] = np.abs(start[1:] - stop[:-1]) < 1e-3
        self._cum_live = np.concatenate([[0.0], np.cumsum(live)])
        duration = stop - start
        self.row_live_fraction = np.where(duration > 0, live / np.where(duration > 0, duration, 1.0), 0.0)

    def _draw_times(self, n):
        """Times drawn from the livetime history (rows weighted by LIVETIME, uniform within)."""
        pick = np.searchsorted(self._row_cdf, self.rng.random(n) * self._live_sum, side="right")
        rows = self.rows[np.clip(pick, 0, len(self.rows) - 1)]
        time = self.row_start[rows] + self.rng.random(n) * (self.row_stop[rows] - self.row_start[rows])
        return rows, time

    def _attitude(self, rows, time):
        """Boresight, x axis and zenith at the given times (linear interpolation between rows)."""
        nxt = np.minimum(rows + 1, len(self.table) - 1)
        span = self.row_start[nxt] - self.row_start[rows]
        w = np.where(self._contiguous[rows] & (span > 0), (time - self.row_start[rows]) / np.where(span > 0, span, 1.0), 0.0)
        w = w[:, None]
        scz = _normalize((1 - w) * self.scz[rows] + w * self.scz[nxt])
        scx = (1 - w) * self.scx[rows] + w * self.scx[nxt]
        scx = _normalize(scx - _dot(scx, scz)[:, None] * scz)
        zen = _normalize((1 - w) * self.zen[rows] + w * self.zen[nxt])
        return scz, scx, zen

    def _in_gti(self, time):
        idx = np.searchsorted(self.gti_start, time, side="right") - 1
        ok = idx >= 0
        idx = np.clip(idx, 0, len(self.gti_start) - 1)
        return ok & (time < self.gti_stop[idx])

    # --------------------------------------------------------------------------- response
    def _prepare_response(self):
        lo, hi = np.log10(self.etrue_min), np.log10(self.etrue_max)
        self._cth_nodes = np.linspace(0.0, 1.0, 101)
        n = int(np.ceil((hi - lo) / 0.01)) + 1
        self._loge_nodes = np.linspace(lo, hi, n)
        aeff = np.zeros((len(self._loge_nodes), len(self._cth_nodes)))
        energy = u.Quantity(10 ** self._loge_nodes[:, None], "MeV")
        for comp in self.irfs:
            aeff += comp.aeff.evaluate(energy, self._cth_nodes[None, :]).to_value("cm2")
        # Aeff is piecewise bilinear in (log E, cos θ) between CALDB nodes: its maximum over
        # a fine cos θ grid, with a small safety factor, bounds it.
        self._aeff_max = aeff.max(axis=1) * 1.001
        # livetime-fraction efficiency correction (as in the exposure: that of the first event
        # type, linear in the live fraction, so bounded by its values at the extreme fractions)
        self._efficiency = getattr(self.irfs, "efficiency", None)
        if self._efficiency is not None and getattr(self._efficiency, "enabled", True):
            fractions = self.row_live_fraction[self.rows]
            bounds = [self._efficiency.evaluate(energy[:, 0], f) for f in (fractions.min(), fractions.max())]
            self._aeff_max = self._aeff_max * np.maximum(np.max(bounds, axis=0), 1e-3) * 1.001
        else:
            self._efficiency = None
        if not np.any(self._aeff_max > 0):
            raise SimulationError("The effective area is zero over the simulated energy range")
        grid_loge = np.arange(lo - 0.05, hi + 0.1, 0.05)
        grid_cth = np.linspace(0.2, 1.0, 17)
        self._psf_tables = [_psf_quantile_table(c.psf, grid_loge, grid_cth) for c in self.irfs]
        # the dispersion varies slowly: a coarser grid is enough
        edisp_loge = np.arange(lo - 0.1, hi + 0.2, 0.1)
        edisp_cth = np.linspace(0.2, 1.0, 9)
        self._edisp_tables = (
            [_edisp_quantile_table(c.edisp, edisp_loge, edisp_cth) for c in self.irfs] if self.apply_edisp else None
        )

    def aeff_max(self, energy_mev):
        """Upper bound of the summed effective area (cm2) at true energies (MeV)."""
        return np.interp(np.log10(energy_mev), self._loge_nodes, self._aeff_max)

    # ------------------------------------------------------------------------- candidates
    def _energy_nodes(self, per_decade):
        lo, hi = np.log10(self.etrue_min), np.log10(self.etrue_max)
        n = max(int(np.ceil((hi - lo) * per_decade)), 1) + 1
        return np.logspace(lo, hi, n)

    def _sim_region(self):
        if self.roi is None:
            return None
        center, radius = self.roi
        return center, radius + self.roi_margin

    def _point_candidates(self, model):
        position = model.spatial_model.position.icrs
        region = self._sim_region()
        if region is not None and position.separation(region[0]) > region[1]:
            log.info("Point source %s is outside the simulated region, skipped", model.name)
            return None
        nodes = self._energy_nodes(64)
        flux = model.spectral_model(u.Quantity(nodes, "MeV")).to_value("cm-2 s-1 MeV-1")
        rate = flux * self.aeff_max(nodes)
        integ, index = _powerlaw_cell_integrals(nodes[:-1], nodes[1:], rate[:-1], rate[1:])
        expected = float(np.sum(integ)) * self._live_sum
        n = self.rng.poisson(expected)
        cells = self.rng.choice(len(integ), size=n, p=integ / integ.sum()) if n else np.zeros(0, int)
        energy = _sample_powerlaw(nodes[cells], nodes[cells + 1], index[cells], self.rng)
        direction = np.broadcast_to(_unit(position.ra.deg, position.dec.deg), (n, 3))
        return energy, np.array(direction), expected

    def _healpix_pixels(self):
        nside = self.healpix_nside
        region = self._sim_region()
        if region is None:
            pix = np.arange(hp.nside2npix(nside))
        else:
            center, radius = region
            vec = _unit(center.ra.deg, center.dec.deg)
            pix = hp.query_disc(nside, vec, radius.to_value("rad"), inclusive=True, nest=False)
        theta, phi = hp.pix2ang(nside, pix)
        ra, dec = np.degrees(phi), 90 - np.degrees(theta)
        return ra, dec, hp.nside2pixarea(nside), hp.nside2resol(nside)

    def _diffuse_candidates(self, model):
        ra, dec, pixarea, resol = self._healpix_pixels()
        coords = SkyCoord(ra * u.deg, dec * u.deg, frame="icrs")
        frame = getattr(model.spatial_model, "frame", "icrs") or "icrs"
        coords = coords.transform_to(frame)
        lon, lat = coords.spherical.lon, coords.spherical.lat
        nodes = self._energy_nodes(16)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            values = model.evaluate(lon[:, None], lat[:, None], u.Quantity(nodes[None, :], "MeV"))
        values = np.broadcast_to(values.to_value("cm-2 s-1 MeV-1 sr-1"), (len(ra), len(nodes)))
        values = np.nan_to_num(values, nan=0.0, posinf=0.0)
        values = np.clip(values, 0, None)
        rate = values * pixarea * self.aeff_max(nodes)[None, :]
        integ, index = _powerlaw_cell_integrals(nodes[None, :-1], nodes[None, 1:], rate[:, :-1], rate[:, 1:])
        total = float(np.sum(integ))
        expected = total * self._live_sum
        n = self.rng.poisson(expected) if total > 0 else 0
        flat = integ.ravel()
        cells = self.rng.choice(flat.size, size=n, p=flat / total) if n else np.zeros(0, int)
        ipix, icell = np.divmod(cells, integ.shape[1])
        energy = _sample_powerlaw(nodes[icell], nodes[icell + 1], index[ipix, icell], self.rng)
        # uniform position inside the pixel (square of the pixel size in the tangent plane)
        base = _unit(ra[ipix], dec[ipix])
        dx, dy = (self.rng.random((2, n)) - 0.5) * resol
        direction = _offset_directions(base, np.hypot(dx, dy), np.arctan2(dx, dy))
        return energy, direction, expected

    # ------------------------------------------------------------------------- run
    def _thin(self, energy, direction):
        n = len(energy)
        rows, time = self._draw_times(n)
        scz, scx, zen = self._attitude(rows, time)
        cth = _dot(direction, scz)
        aeff = np.zeros((len(self.irfs), n))
        for k, comp in enumerate(self.irfs):
            aeff[k] = comp.aeff.evaluate(u.Quantity(energy, "MeV"), cth).to_value("cm2")
        total = aeff.sum(axis=0)
        if self._efficiency is not None:
            total = total * self._efficiency.evaluate(u.Quantity(energy, "MeV"), self.row_live_fraction[rows])
        keep = self.rng.random(n) * self.aeff_max(energy) < total
        keep &= self._in_gti(time)
        zenith_true = _angle_deg(direction, zen)
        keep &= zenith_true < self.earth_zenith[rows]
        # event type
        cum = np.cumsum(aeff, axis=0) / np.where(total > 0, total, 1.0)
        etype = (self.rng.random(n)[None, :] > cum).sum(axis=0)
        etype = np.minimum(etype, len(self.irfs) - 1)
        sel = np.flatnonzero(keep)
        return dict(
            energy=energy[sel],
            direction=direction[sel],
            time=time[sel],
            rows=rows[sel],
            scz=scz[sel],
            scx=scx[sel],
            zen=zen[sel],
            cth=cth[sel],
            etype=etype[sel],
        )

    def _apply_response(self, ev):
        n = len(ev["energy"])
        loge = np.log10(ev["energy"])
        cth = ev["cth"]
        offset = np.zeros(n)
        migra = np.ones(n)
        for k in range(len(self.irfs)):
            m = ev["etype"] == k
            if not m.any():
                continue
            offset[m] = self._psf_tables[k](loge[m], cth[m], self.rng.random(m.sum()))
            if self._edisp_tables is not None:
                migra[m] = self._edisp_tables[k](loge[m], cth[m], self.rng.random(m.sum()))
        azimuth = self.rng.random(n) * 2 * np.pi
        ev["reco_direction"] = _offset_directions(ev["direction"], np.radians(offset), azimuth)
        ev["reco_energy"] = ev["energy"] * migra
        ev["psf_offset"] = offset
        return ev

    def simulate(self, models, evclass=128, pass_ver=None, random_state=None):
        """Simulate the events of the models as a `~gammapy_lat.data.LATEventList`.

        The response tables are computed once per simulator, so repeated calls (e.g. with
        different ``random_state``) are cheap. See `simulate_events` for the parameters.
        """
        if random_state is not None:
            self.rng = (
                random_state if isinstance(random_state, np.random.Generator) else np.random.default_rng(random_state)
            )
        return _event_list(self, self.run(models), self.irfs, evclass, pass_ver)

    def run(self, models):
        """Simulate the events of the models.

        Returns
        -------
        events : dict of arrays
            True and reconstructed quantities of the accepted events (before the output cuts),
            with the per-source ``source_index`` and the expected numbers of candidates.
        """
        results = []
        expected = {}
        for index, model in enumerate(_sky_models(models)):

            if isinstance(model.spatial_model, PointSpatialModel):
                out = self._point_candidates(model)
                if out is None:
                    continue
            else:
                out = self._diffuse_candidates(model)
            energy, direction, n_expected = out
            expected[model.name] = n_expected
            for i0 in range(0, len(energy), self.chunk_size):
                sl = slice(i0, i0 + self.chunk_size)
                ev = self._thin(energy[sl], direction[sl])
                ev = self._apply_response(ev)
                ev["source_index"] = np.full(len(ev["energy"]), index)
                results.append(ev)
            log.info("%s: %d candidate photons", model.name, len(energy))
        if results:
            merged = {key: np.concatenate([r[key] for r in results]) for key in results[0]}
        else:
            merged = {}
        merged["expected_candidates"] = expected
        return merged


_FT1_COLUMNS = [
    # name, format, unit, comment, tlmin, tlmax
    ("ENERGY", "E", "MeV", "energy of event", 0.0, 1e7),
    ("RA", "E", "deg", "right ascension (J2000) of event", 0.0, 360.0),
    ("DEC", "E", "deg", "declination (J2000) of event", -90.0, 90.0),
    ("L", "E", "deg", "Galactic longitude of event", 0.0, 360.0),
    ("B", "E", "deg", "Galactic latitude of event", -90.0, 90.0),
    ("THETA", "E", "deg", "inclination angle of event in instrument coordinates", 0.0, 180.0),
    ("PHI", "E", "deg", "azimuthal angle of event in instrument coordinates", 0.0, 360.0),
    ("ZENITH_ANGLE", "E", "deg", "zenith angle of event", 0.0, 180.0),
    ("EARTH_AZIMUTH_ANGLE", "E", "deg", "Earth azimuth (from north to east) of event", 0.0, 360.0),
    ("TIME", "D", "s", "Mission Elapsed Time", 0.0, 1e10),
    ("EVENT_ID", "J", None, "ID number of original event", 0, 2147483647),
    ("RUN_ID", "J", None, "Run number of original event", 0, 2147483647),
    ("RECON_VERSION", "I", None, "version of event reconstruction software", 0, 32767),
    ("CALIB_VERSION", "3I", None, "versions of calibration tables for the ACD, CAL", None, None),
    ("EVENT_CLASS", "32X", None, "event class: 0, 1, 2,...", 0, 32767),
    ("EVENT_TYPE", "32X", None, "event types encoded as bit array", 0, 32767),
    ("CONVERSION_TYPE", "I", None, "type of conversion: 0=Front converting, 1=Back", 0, 32767),
    ("LIVETIME", "D", "s", "Accumulated livetime since start of the spacecraft data", 0.0, 1e10),
]


def _int_to_bits(values, nbits=32):
    values = np.asarray(values, dtype=np.uint64)
    shifts = np.arange(nbits - 1, -1, -1, dtype=np.uint64)
    return ((values[:, None] >> shifts) & np.uint64(1)).astype(bool)


def _met_to_isot(met):
    return met_to_time(met).utc.isot


def simulate_events(
    models,
    spacecraft,
    irfs,
    energy_range=(100 * u.MeV, 100 * u.GeV),
    true_energy_range=None,
    roi=None,
    roi_margin=5 * u.deg,
    gti=None,
    zmax=None,
    evclass=128,
    apply_edisp=True,
    healpix_nside=256,
    random_state=0,
    pass_ver=None,
):
    """Simulate LAT events (FT1) for Gammapy sky models through the LAT response.

    Parameters
    ----------
    models : `~gammapy.modeling.models.SkyModel`, list or `~gammapy.modeling.models.Models`
        Sources: point sources, extended and diffuse components (any spatial model).
    spacecraft : `~gammapy_lat.data.SpacecraftData` or `~astropy.table.Table`
        Spacecraft history, e.g. from `~gammapy_lat.simulate.simulate_spacecraft`.
    irfs : `~gammapy_lat.irf.LATIRFs`
        Response (real CALDB or the built-in synthetic one); selects the event types.
    energy_range : tuple of `~astropy.units.Quantity`
        Reconstructed-energy selection of the output.
    true_energy_range : tuple of `~astropy.units.Quantity`, optional
        True-energy range of the photons (default: ``energy_range`` widened by 1.5 each side).
    roi : tuple of (`~astropy.coordinates.SkyCoord`, `~astropy.units.Quantity`), optional
        Acceptance cone (reconstructed directions); default the whole sky.
    roi_margin : `~astropy.units.Quantity`
        Margin of the generation region around the cone.
    gti : tuple of arrays, optional
        Good-time intervals (MET); default from the spacecraft rows.
    zmax : `~astropy.units.Quantity`, optional
        Maximum zenith angle of the reconstructed directions.
    evclass : int
        Event-class bit of the simulated events (128 = SOURCE); the events carry this bit and all
        lower (looser) class bits, as Pass 8 classes are nested.
    apply_edisp : bool
        Apply the energy dispersion.
    healpix_nside : int
        Resolution used to integrate non-point sources.
    random_state : int or `~numpy.random.Generator`
        Seed, for reproducible simulations.
    pass_ver : str, optional
        ``PASS_VER`` keyword; default from the IRF name (``P8R3`` for the synthetic response).

    Returns
    -------
    events : `~gammapy_lat.data.LATEventList`
        Events with the standard FT1 columns, GTIs and DSS keywords; write with ``.write()``.
    """
    sim = EventSimulator(
        spacecraft,
        irfs,
        energy_range=energy_range,
        true_energy_range=true_energy_range,
        roi=roi,
        roi_margin=roi_margin,
        gti=gti,
        zmax=zmax,
        apply_edisp=apply_edisp,
        healpix_nside=healpix_nside,
        random_state=random_state,
    )
    return sim.simulate(models, evclass=evclass, pass_ver=pass_ver)


def _event_list(sim, ev, irfs, evclass, pass_ver):
    """`~gammapy_lat.data.LATEventList` of the simulated photons passing the output cuts."""


    n = len(ev.get("energy", []))
    if n == 0:
        ev = {k: np.zeros((0, 3)) if k in ("direction", "reco_direction", "scz", "scx", "zen") else np.zeros(0)
              for k in ("energy", "direction", "time", "rows", "scz", "scx", "zen", "cth", "etype",
                        "reco_direction", "reco_energy", "source_index")}
        ev["rows"] = ev["rows"].astype(int)
        ev["etype"] = ev["etype"].astype(int)
    reco = ev["reco_direction"]
    zenith = _angle_deg(reco, ev["zen"])
    keep = (ev["reco_energy"] > sim.emin) & (ev["reco_energy"] <= sim.emax)
    if sim.roi is not None:
        center, radius = sim.roi
        keep &= _angle_deg(reco, _unit(center.ra.deg, center.dec.deg)[None, :]) < radius.to_value("deg")
    if sim.zmax is not None:
        keep &= zenith <= sim.zmax.to_value("deg")
    order = np.argsort(ev["time"][keep], kind="stable")
    sel = np.flatnonzero(keep)[order]

    reco = reco[sel]
    scz, scx, zen = ev["scz"][sel], ev["scx"][sel], ev["zen"][sel]
    scy = np.cross(scz, scx)
    ra, dec = _radec(reco)
    gal = SkyCoord(ra * u.deg, dec * u.deg, frame="icrs").galactic
    theta = _angle_deg(reco, scz)
    phi = np.degrees(np.arctan2(_dot(reco, scy), _dot(reco, scx))) % 360.0
    east = np.cross(np.array([0.0, 0.0, 1.0]), zen)
    east = _normalize(np.where(np.linalg.norm(east, axis=-1, keepdims=True) > 1e-12, east, [0.0, 1.0, 0.0]))
    north = np.cross(zen, east)
    earth_az = np.degrees(np.arctan2(_dot(reco, east), _dot(reco, north))) % 360.0
    time = ev["time"][sel]
    rows = ev["rows"][sel]
    names = [c.event_type for c in irfs]

    type_bits = np.array([EVENT_TYPE_BITS[name] for name in names], dtype=np.uint64)
    etype = ev["etype"][sel].astype(int)
    conversion = np.array([1 if name == "BACK" else 0 for name in names], dtype=np.int16)[etype] if len(sel) else np.zeros(0, np.int16)
    class_bits = (np.uint64(evclass) << np.uint64(1)) - np.uint64(1)
    run_idx = np.clip(np.searchsorted(sim.gti_start, time, side="right") - 1, 0, len(sim.gti_start) - 1)
    livetime = sim._cum_live[rows] + sim.row_live[rows] * (time - sim.row_start[rows]) / np.maximum(
        sim.row_stop[rows] - sim.row_start[rows], 1e-9
    )

    table = Table()
    table["ENERGY"] = ev["reco_energy"][sel].astype(np.float32)
    table["RA"] = ra.astype(np.float32)
    table["DEC"] = dec.astype(np.float32)
    table["L"] = gal.l.deg.astype(np.float32)
    table["B"] = gal.b.deg.astype(np.float32)
    table["THETA"] = theta.astype(np.float32)
    table["PHI"] = phi.astype(np.float32)
    table["ZENITH_ANGLE"] = zenith[sel].astype(np.float32)
    table["EARTH_AZIMUTH_ANGLE"] = earth_az.astype(np.float32)
    table["TIME"] = time.astype(np.float64)
    table["EVENT_ID"] = np.arange(len(sel), dtype=np.int32)
    table["RUN_ID"] = np.floor(sim.gti_start[run_idx]).astype(np.int32)
    table["RECON_VERSION"] = np.zeros(len(sel), dtype=np.int16)
    table["CALIB_VERSION"] = np.zeros((len(sel), 3), dtype=np.int16)
    table["EVENT_CLASS"] = _int_to_bits(np.full(len(sel), class_bits, dtype=np.uint64))
    table["EVENT_TYPE"] = _int_to_bits(type_bits[etype] if len(sel) else np.zeros(0, np.uint64))
    table["CONVERSION_TYPE"] = conversion
    table["LIVETIME"] = livetime
    for name, unit in (("ENERGY", "MeV"), ("TIME", "s"), ("LIVETIME", "s")):
        table[name].unit = unit
    for name in ("RA", "DEC", "L", "B", "THETA", "PHI", "ZENITH_ANGLE", "EARTH_AZIMUTH_ANGLE"):
        table[name].unit = "deg"

    irf_name = irfs.irf_name
    if pass_ver is None:
        pass_ver = irf_name[:4] if irf_name.upper().startswith("P8R") else "P8R3"
    tstart, tstop = float(sim.gti_start[0]), float(sim.gti_stop[-1])
    header = fits.Header()
    for key, value, comment in [
        ("TELESCOP", "GLAST", "name of telescope generating data"),
        ("INSTRUME", "LAT", "name of instrument generating data"),
        ("EQUINOX", 2000.0, "equinox for ra and dec"),
        ("RADECSYS", "FK5", "world coord. system for this file (FK5 or FK4)"),
        ("DATE-OBS", _met_to_isot(tstart), "start date and time of the observation"),
        ("DATE-END", _met_to_isot(tstop), "end date and time of the observation"),
        ("OBSERVER", "SIMULATED", "simulated data"),
        ("ORIGIN", "gammapy-lat", "name of organization making file"),
        ("HDUCLASS", "OGIP", "format conforms to OGIP standard"),
        ("HDUCLAS1", "EVENTS", "extension contains events"),
        ("HDUCLAS2", "ALL", "extension contains all events detected"),
        ("TSTART", tstart, "mission time of the start of the observation"),
        ("TSTOP", tstop, "mission time of the end of the observation"),
        ("MJDREFI", MJDREFI, "Integer part of MJD corresponding to SC clock start"),
        ("MJDREFF", MJDREFF, "Fractional part of MJD corresponding to SC clock start"),
        ("TIMEUNIT", "s", "units for the time related keywords"),
        ("TIMEZERO", 0.0, "clock correction"),
        ("TIMESYS", "TT", "type of time system that is used"),
        ("TIMEREF", "LOCAL", "reference frame used for times"),
        ("CLOCKAPP", False, "whether a clock drift correction has been applied"),
        ("GPS_OUT", False, "whether GPS time was unavailable"),
        ("PASS_VER", pass_ver, "IRF pass version"),
        ("IRF_NAME", irf_name, "response used to simulate the events"),
        ("SIMULATD", True, "simulated events"),
        ("SYNTHET", "SYNTHETIC" in irf_name.upper(), "simulated with a synthetic response"),
    ]:
        header[key] = (value, _fit_comment(value, comment))
    dss = DSSKeywords()
    dss.add_bitmask("EVENT_CLASS", evclass, pass_ver)
    dss.add_bitmask("EVENT_TYPE", int(type_bits.sum()), pass_ver)
    dss.ensure_gti()
    if sim.roi is not None:
        center, radius = sim.roi
        dss.add_cone(round(center.ra.deg, 6), round(center.dec.deg, 6), round(radius.to_value("deg"), 6))
    dss.add_range("ENERGY", "MeV", sim.emin, sim.emax)
    if sim.zmax is not None:
        dss.add_range("ZENITH_ANGLE", "deg", 0, sim.zmax.to_value("deg"))
    formats = {
        name: {"format": fmt, "unit": unit, "dim": None, "comment": comment[:47], "tlmin": tlmin, "tlmax": tlmax}
        for name, fmt, unit, comment, tlmin, tlmax in _FT1_COLUMNS
    }
    primary = fits.Header()
    for key in ("TELESCOP", "INSTRUME", "EQUINOX", "RADECSYS", "DATE-OBS", "DATE-END", "TSTART", "TSTOP",
                "MJDREFI", "MJDREFF", "TIMEUNIT", "TIMEZERO", "TIMESYS", "TIMEREF", "OBSERVER", "ORIGIN",
                "IRF_NAME", "SIMULATD", "SYNTHET"):
        primary[key] = (header[key], header.comments[key])
    primary["FILENAME"] = ""
    events = LATEventList(
        table,
        (sim.gti_start, sim.gti_stop),
        header=header,
        dss=dss,
        primary_header=primary,
        column_formats=formats,
    )
    events.meta_simulation = {
        "expected_candidates": ev.get("expected_candidates", {}),
        "source_index": ev["source_index"][sel].astype(int),
        "true_energy": ev["energy"][sel],
        "true_direction": ev["direction"][sel],
        "psf_offset": ev.get("psf_offset", np.zeros(len(ev["energy"])))[sel],
        "costheta": ev["cth"][sel],
        "livetime": sim.live_exposed,
    }
    return events


def write_events(events, path, overwrite=False):
    """Write simulated events as a standard FT1 file (atomic)."""
    return events.write(path, overwrite=overwrite, creator="gammapy-lat simulate")
