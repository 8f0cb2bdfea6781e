"""LAT energy dispersion: the Pass 8 parametric form.

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
"""
import numpy as np
import astropy.units as u
from scipy.special import gamma as gamma_function
from scipy.special import gammainc, gammaincc

from ..errors import CALDBError
from .grid import ParameterGrid, read_table_hdu

__all__ = ["LATEnergyDispersion"]

EDISP_PARAMETERS = ["F", "S1", "K1", "BIAS", "BIAS2", "S2", "K2", "PINDEX1", "PINDEX2"]


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


def _mixture(func, x, pars):
    f, s1, k1, b1, b2, s2, k2, p1, p2 = pars
    return f * func(x, s1, k1, b1, p1) + (1.0 - f) * func(x, s2, k2, b2, p2)


class LATEnergyDispersion:
    """Energy dispersion of one LAT event type (Pass 8 parametrisation).

    Parameters
    ----------
    grid : `~gammapy_lat.irf.grid.ParameterGrid`
        The nine parameters versus (energy, cos θ).
    scale_pars : array_like
        The six ``EDISPSCALE`` coefficients.
    meta : dict, optional
        Origin.
    """

    def __init__(self, grid, scale_pars, meta=None):
        self.grid = grid
        self.scale_pars = np.asarray(scale_pars, dtype=float)
        self.meta = meta or {}
        self._node_pars = np.stack([grid.padded(name) for name in EDISP_PARAMETERS])
        # ratio of the node scale factor to the one the Fermitools use when evaluating the node
        # (cos θ capped at the top tabulated bin centre)
        loge = grid.node_loge[np.newaxis, :]
        cth = grid.node_costheta[:, np.newaxis]
        cth_capped = np.minimum(cth, grid.costheta_center[-1])
        self._node_ratio = self.scale_factor(loge, cth) / self.scale_factor(loge, cth_capped)

    @classmethod
    def read(cls, filename, ext, scaling_ext):
        """Read from a CALDB file: ``ENERGY DISPERSION`` and ``EDISP_SCALING_PARAMS``."""
        columns = read_table_hdu(filename, ext)
        if "F" not in columns:
            raise CALDBError(
                f"Energy dispersion table {filename}[{ext}] is not in the Pass 8 parametrisation "
                f"(columns {', '.join(k for k in columns if not k.startswith('_'))}); only Pass 8 "
                "energy dispersion is supported"
            )
        grid = ParameterGrid(columns, EDISP_PARAMETERS, filename=str(filename))
        scale = read_table_hdu(filename, scaling_ext)["EDISPSCALE"]
        if scale.size < 6:
            raise CALDBError(f"EDISPSCALE of {filename}[{scaling_ext}] has {scale.size} < 6 values")
        return cls(grid, scale[:6], meta={"filename": str(filename), "ext": ext})

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

    def _evaluate_x(self, func, energy, costheta, energy_reco):
        energy = u.Quantity(energy, "MeV").to_value("MeV")
        energy_reco = u.Quantity(energy_reco, "MeV").to_value("MeV")
        log_energy, costheta = np.broadcast_arrays(np.log10(energy), np.asarray(costheta, float))
        sf = self.scale_factor(log_energy, costheta)
        x = (energy_reco - 10**log_energy) / (10**log_energy * sf)
        weights, nodes = self._corners(log_energy, costheta)
        value = 0.0
        for w, (jj, ii) in zip(weights, nodes):
            ratio = self._node_ratio[jj, ii]
            pars = self._node_pars[:, jj, ii]
            term = _mixture(func, x * ratio, pars)
            if func is _component_pdf:
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
        value, sf, energy_mev = self._evaluate_x(_component_pdf, energy, costheta, energy_reco)
        norm = self._positive_fraction(energy, costheta)
        return u.Quantity(value / (energy_mev * sf * norm), "MeV-1")

    def evaluate_migration(self, energy, costheta, migra):
        """Probability density in migration μ = E'/E (dimensionless)."""
        energy = u.Quantity(energy, "MeV")
        value = self.evaluate(energy, costheta, np.asarray(migra) * energy)
        return (value * energy).to_value("")

    def cdf(self, energy, costheta, energy_reco):
        """Probability that the reconstructed energy is below ``energy_reco``."""
        value, _, _ = self._evaluate_x(_component_cdf, energy, costheta, energy_reco)
        below_zero, _, _ = self._evaluate_x(_component_cdf, energy, costheta, 0 * u.MeV)
        return np.clip((value - below_zero) / (1.0 - below_zero), 0.0, 1.0)

    def _positive_fraction(self, energy, costheta):
        below_zero, _, _ = self._evaluate_x(_component_cdf, energy, costheta, 0 * u.MeV)
        return 1.0 - below_zero
