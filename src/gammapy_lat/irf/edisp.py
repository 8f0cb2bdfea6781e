"""LAT energy dispersion: the Pass 8 parametric form (and the Pass 7 one).

The migration is expressed in the scaled deviation :math:`x = (E' - E) / (E\\, S_D(E, \\theta))`
with the scaling :math:`S_D = c_0 \\log^2E + c_1 \\cos^2\\theta + c_2 \\log E + c_3 \\cos\\theta
+ c_4 \\log E \\cos\\theta + c_5` (``EDISP_SCALING_PARAMS``, log10 of E in MeV, |cos θ|). Its
density is the mixture

.. math::

    g(x) = F\\, g_1(x; S_1, K_1, B_1, P_1) + (1 - F)\\, g_2(x; S_2, K_2, B_2, P_2),

    g_i(x) = \\frac{p}{\\sigma\\,\\Gamma(1/p)} \\frac{k}{1 + k^2}
        \\exp\\left[-\\left(\\frac{k\\, (x - b)_+}{\\sigma}\\right)^p
                   -\\left(\\frac{(x - b)_-}{k\\, \\sigma}\\right)^p\\right]

which has unit integral over x. As in the Fermitools (``latResponse::Edisp3`` with
``EdispInterpolator``), the density in x is evaluated at the four CALDB grid nodes surrounding
(log10 E, cos θ) and interpolated bilinearly; the energy density is then
:math:`dP/dE' = g(x) / (E S_D(E, \\theta))`. Bin probabilities use the closed-form cumulative
distribution of each component (regularised incomplete gamma functions), so kernels are exact
integrals of the density. The parametrisation gives a small weight (up to a few 1e-3 at large
inclination) to :math:`E' < 0`; the density is renormalised to the physical range so that the
migration :math:`\\mu = E'/E` has unit integral over :math:`(0, \\infty)`.

Pass 7 and Pass 6 (``EDISPVER = 2``, ``latResponse::Edisp2``) use the same scaled deviation and node interpolation with the
parameters ``NORM, LS1, RS1, BIAS, LS2, RS2`` of a two-sided function with a Gaussian-like core
and a power-exponential tail joined at :math:`|x - b| = t_0` (exponents and :math:`t_0` are the
last three ``EDISPSCALE`` values). Each node is normalised, as in the Fermitools, over
:math:`E/10 < E' < 10 E`, which is the range where its distribution is defined here.
"""
import astropy.units as u
import numpy as np
from scipy.special import gamma as gamma_function
from scipy.special import gammainc, gammaincc

from ..errors import CALDBError
from .grid import ParameterGrid, read_table_hdu

__all__ = ["LATEnergyDispersion"]

EDISP_PARAMETERS = ["F", "S1", "K1", "BIAS", "BIAS2", "S2", "K2", "PINDEX1", "PINDEX2"]
EDISP_PARAMETERS_PASS7 = ["NORM", "LS1", "RS1", "BIAS", "LS2", "RS2"]
# points of the tabulated cumulative distribution of each Pass 7 node
_PASS7_NPOINTS = 8001


def _component_pdf(x, sigma, k, bias, p):
    uu = x - bias
    up = np.where(uu > 0, uu, 0.0)
    um = np.where(uu < 0, -uu, 0.0)
    norm = p / sigma / gamma_function(1.0 / p) * k / (1.0 + k * k)
    return norm * np.exp(-((k * up / sigma) ** p)) * np.exp(-((um / k / sigma) ** p))


def _component_cdf(x, sigma, k, bias, p):
    uu = x - bias
    left = k * k / (1.0 + k * k)
    below = left * gammaincc(1.0 / p, (np.maximum(-uu, 0.0) / (k * sigma)) ** p)
    above = left + (1.0 - left) * gammainc(1.0 / p, (np.maximum(uu, 0.0) * k / sigma) ** p)
    return np.where(uu < 0, below, above)


def _pass7_function(x, pars, shape):
    """Pass 7 dispersion function of the scaled deviation (unnormalised)."""
    norm, ls1, rs1, bias, ls2, rs2 = pars
    p1, p2, t0 = shape
    tt = np.abs(x - bias)
    right = x > bias
    s1 = np.where(right, rs1, ls1)
    s2 = np.where(right, rs2, ls2)
    core = np.exp(-0.5 * (tt / s1) ** p1)
    tail = np.exp(0.5 * ((t0 / s2) ** p2 - (t0 / s1) ** p1)) * np.exp(-0.5 * (tt / s2) ** p2)
    return norm * np.where(tt > t0, tail, core)


def _mixture(func, x, pars):
    f, s1, k1, b1, b2, s2, k2, p1, p2 = pars
    return f * func(x, s1, k1, b1, p1) + (1.0 - f) * func(x, s2, k2, b2, p2)


class LATEnergyDispersion:
    """Energy dispersion of one LAT event type (Pass 8 or Pass 7 parametrisation).

    Parameters
    ----------
    grid : `~gammapy_lat.irf.grid.ParameterGrid`
        The parameters versus (energy, cos θ): ``F, S1, K1, BIAS, BIAS2, S2, K2, PINDEX1,
        PINDEX2`` (Pass 8) or ``NORM, LS1, RS1, BIAS, LS2, RS2`` (Pass 7).
    scale_pars : array_like
        ``EDISPSCALE``: six scaling coefficients, followed for Pass 7 by the two exponents and
        the core/tail transition t0.
    version : {"pass8", "pass7"}
        Parametrisation.
    meta : dict, optional
        Origin.
    """

    def __init__(self, grid, scale_pars, version="pass8", meta=None):
        self.grid = grid
        self.scale_pars = np.asarray(scale_pars, dtype=float)
        self.version = version
        self.meta = meta or {}
        names = EDISP_PARAMETERS if version == "pass8" else EDISP_PARAMETERS_PASS7
        self._node_pars = np.stack([grid.padded(name) for name in names])
        # ratio of the node scale factor to the one the Fermitools use when evaluating the node
        # (cos θ capped at the top tabulated bin centre)
        loge = grid.node_loge[np.newaxis, :]
        cth = grid.node_costheta[:, np.newaxis]
        cth_capped = np.minimum(cth, grid.costheta_center[-1])
        self._node_ratio = self.scale_factor(loge, cth) / self.scale_factor(loge, cth_capped)
        if version == "pass7":
            self._prepare_pass7(self.scale_factor(loge, cth))

    def _prepare_pass7(self, node_scale):
        """Normalise each node over E/10 < E' < 10 E and tabulate its cumulative distribution."""
        self._p7_lo = -0.9 / node_scale
        self._p7_hi = 9.0 / node_scale
        frac = np.linspace(0.0, 1.0, _PASS7_NPOINTS)
        x = self._p7_lo[..., None] + (self._p7_hi - self._p7_lo)[..., None] * frac
        pars = [p[..., None] for p in self._node_pars]
        values = _pass7_function(x, pars, self.scale_pars[6:9])
        steps = 0.5 * (values[..., 1:] + values[..., :-1]) * np.diff(x, axis=-1)
        cumulative = np.concatenate([np.zeros(x.shape[:-1] + (1,)), np.cumsum(steps, axis=-1)], axis=-1)
        self._p7_norm = cumulative[..., -1]
        self._p7_cdf = cumulative / self._p7_norm[..., None]

    def _pass7_node(self, pdf, jj, ii, y):
        lo, hi = self._p7_lo[jj, ii], self._p7_hi[jj, ii]
        if pdf:
            pars = self._node_pars[:, jj, ii]
            value = _pass7_function(y, pars, self.scale_pars[6:9]) / self._p7_norm[jj, ii]
            return np.where((y >= lo) & (y <= hi), value, 0.0)
        pos = np.clip((y - lo) / (hi - lo), 0.0, 1.0) * (_PASS7_NPOINTS - 1)
        i0 = np.minimum(np.floor(pos).astype(int), _PASS7_NPOINTS - 2)
        f = pos - i0
        return self._p7_cdf[jj, ii, i0] * (1 - f) + self._p7_cdf[jj, ii, i0 + 1] * f

    @classmethod
    def read(cls, filename, ext, scaling_ext):
        """Read from a CALDB file: ``ENERGY DISPERSION`` and ``EDISP_SCALING_PARAMS``."""
        columns = read_table_hdu(filename, ext)
        names = [k for k in columns if not k.startswith("_")]
        edispver = int(columns["_HEADER"].get("EDISPVER", 0))
        if edispver == 1:
            raise CALDBError(
                f"Energy dispersion table {filename}[{ext}] has EDISPVER=1, which is not supported "
                "(versions 2 and 3 are)"
            )
        if "F" in columns:
            version, parameters, nscale = "pass8", EDISP_PARAMETERS, 6
        elif "NORM" in columns and "LS1" in columns:
            version, parameters, nscale = "pass7", EDISP_PARAMETERS_PASS7, 9
        else:
            raise CALDBError(
                f"Energy dispersion table {filename}[{ext}] has neither the Pass 8 nor the Pass 7 "
                f"parametrisation (columns {', '.join(names)})"
            )
        grid = ParameterGrid(columns, parameters, filename=str(filename))
        scale = read_table_hdu(filename, scaling_ext)["EDISPSCALE"]
        if scale.size < nscale:
            raise CALDBError(
                f"EDISPSCALE of {filename}[{scaling_ext}] has {scale.size} values; the {version} "
                f"parametrisation needs {nscale}"
            )
        if version == "pass7":
            # the exponents and t0 are the last three values
            scale = np.concatenate([scale[:6], scale[-3:]])
        return cls(grid, scale[:nscale], version=version, meta={"filename": str(filename), "ext": ext})

    def scale_factor(self, log_energy, costheta):
        """Scale factor S_D(log10 E, cos θ)."""
        c = self.scale_pars
        cth = np.abs(costheta)
        return (
            c[0] * log_energy**2
            + c[1] * cth**2
            + c[2] * log_energy
            + c[3] * cth
            + c[4] * log_energy * cth
            + c[5]
        )

    def _corners(self, log_energy, costheta):
        i, j, tt, uu = self.grid.corners(log_energy, costheta)
        weights = self.grid.corner_weights(tt, uu)
        nodes = ((j - 1, i - 1), (j - 1, i), (j, i), (j, i - 1))
        return weights, nodes

    def _evaluate_x(self, pdf, energy, costheta, energy_reco):
        """Density in x (``pdf=True``) or cumulative distribution at ``energy_reco``."""
        energy = u.Quantity(energy, "MeV").to_value("MeV")
        energy_reco = u.Quantity(energy_reco, "MeV").to_value("MeV")
        log_energy, costheta = np.broadcast_arrays(np.log10(energy), np.asarray(costheta, float))
        sf = self.scale_factor(log_energy, costheta)
        x = (energy_reco - 10**log_energy) / (10**log_energy * sf)
        weights, nodes = self._corners(log_energy, costheta)
        value = 0.0
        for w, (jj, ii) in zip(weights, nodes):
            ratio = self._node_ratio[jj, ii]
            if self.version == "pass8":
                func = _component_pdf if pdf else _component_cdf
                term = _mixture(func, x * ratio, self._node_pars[:, jj, ii])
            else:
                term = self._pass7_node(pdf, jj, ii, x * ratio)
            if pdf:
                term = term * ratio
            value = value + w * term
        return value, sf, 10**log_energy

    def evaluate(self, energy, costheta, energy_reco):
        """Probability density in reconstructed energy, dP/dE'.

        Parameters
        ----------
        energy : `~astropy.units.Quantity`
            True energy.
        costheta : array_like
            Cosine of the inclination angle.
        energy_reco : `~astropy.units.Quantity`
            Reconstructed energy.

        Returns
        -------
        density : `~astropy.units.Quantity`
            In MeV-1 (broadcast shape of the inputs).
        """
        value, sf, energy_mev = self._evaluate_x(True, energy, costheta, energy_reco)
        norm = self._positive_fraction(energy, costheta)
        return u.Quantity(value / (energy_mev * sf * norm), "MeV-1")

    def evaluate_migration(self, energy, costheta, migra):
        """Probability density in migration μ = E'/E (dimensionless)."""
        energy = u.Quantity(energy, "MeV")
        value = self.evaluate(energy, costheta, np.asarray(migra) * energy)
        return (value * energy).to_value("")

    def cdf(self, energy, costheta, energy_reco):
        """Probability that the reconstructed energy is below ``energy_reco``."""
        value, _, _ = self._evaluate_x(False, energy, costheta, energy_reco)
        below_zero, _, _ = self._evaluate_x(False, energy, costheta, 0 * u.MeV)
        return np.clip((value - below_zero) / (1.0 - below_zero), 0.0, 1.0)

    def _positive_fraction(self, energy, costheta):
        below_zero, _, _ = self._evaluate_x(False, energy, costheta, 0 * u.MeV)
        return 1.0 - below_zero
