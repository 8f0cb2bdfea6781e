"""LAT point-spread function of Pass 6 (``P6_V3_*`` IRFs): one width, a core and a tail King term.

The Pass 6 CALDB tables (no ``PSFVER`` keyword, i.e. version 1: ``latResponse::Psf``) give four
parameters per (energy, cos θ) bin: ``NCORE``, ``SIGMA``, ``GCORE`` and ``GTAIL``. At true energy
E and inclination θ the parameters are interpolated bilinearly in (log10 E, cos θ) between the
bin centres (the grid padded as for all LAT tables), the width is scaled with the
``PSF_SCALING_PARAMS`` energy scaling of the conversion type,

.. math::

    \\sigma = \\mathrm{SIGMA}\\; s(E), \\qquad
    s(E) = \\sqrt{\\left(c_0 (E / 100\\,{\\rm MeV})^{\\beta}\\right)^2 + c_1^2}

(PSFSCALE = ``c0_front, c1_front, c0_back, c1_back, beta``), and the PSF is

.. math::

    P(r) = N \\left[K(u; \\gamma_c) + \\frac{K(10; \\gamma_c)}{K(10; \\gamma_t)} K(u; \\gamma_t)\\right],
    \\qquad K(u; \\gamma) = \\left(1 - \\frac{1}{\\gamma}\\right)\\left(1 + \\frac{u}{\\gamma}\\right)^{-\\gamma},
    \\qquad u = \\frac{1}{2}\\left(\\frac{r}{\\sigma}\\right)^2 .

The tail amplitude is tied to the core so that both terms are equal at u = 10 (``NCORE`` only
scales the whole function, and drops out in the normalisation). The normalisation N follows
the Fermitools: above 120 MeV the small-angle integral over the plane out to r = π/2,

.. math::

    2 \\pi \\sigma^2 \\left[ \\left(1 - (1 + U/\\gamma_c)^{1-\\gamma_c}\\right)
    + \\frac{K(10; \\gamma_c)}{K(10; \\gamma_t)} \\left(1 - (1 + U/\\gamma_t)^{1-\\gamma_t}\\right)\\right]
    N = 1, \\qquad U = \\frac{1}{2}\\left(\\frac{\\pi / 2}{\\sigma}\\right)^2,

and below 120 MeV (where the PSF is wide) the integral over the sphere out to θ = π/2,
:math:`2\\pi \\int_0^{\\pi/2} P(\\theta) \\sin\\theta \\, d\\theta = 1`.
"""
import astropy.units as u
import numpy as np

from ..errors import CALDBError
from .grid import ParameterGrid, read_table_hdu
from .psf import LATPSF, king_function

__all__ = ["LATPass6PSF", "PASS6_PSF_PARAMETERS", "read_psf"]

PASS6_PSF_PARAMETERS = ["NCORE", "SIGMA", "GCORE", "GTAIL"]

#: Separation (u = (r/σ)²/2) where core and tail are matched.
_U_MATCH = 10.0
#: Below this energy (MeV) the normalisation is integrated on the sphere.
_SPHERE_NORM_ENERGY = 120.0

# integration grid in θ (rad) for the normalisation over the hemisphere below 120 MeV
_THETA_HEMI = np.concatenate([[0.0], np.geomspace(1e-6, np.pi / 2, 3000)])
_SIN_THETA_HEMI = np.sin(_THETA_HEMI)


def _king(uu, gamma):
    gamma = np.where(gamma == 1, 1.001, gamma)
    return (1.0 - 1.0 / gamma) * (1.0 + uu / gamma) ** (-gamma)


def _king_integral(uu, gamma):
    """Integral of `_king` in u from 0 to ``uu``."""
    return 1.0 - (1.0 + uu / gamma) ** (1.0 - gamma)


class LATPass6PSF:
    """PSF of one Pass 6 conversion type (FRONT or BACK).

    Parameters
    ----------
    grid : `~gammapy_lat.irf.grid.ParameterGrid`
        ``NCORE, SIGMA, GCORE, GTAIL`` versus (energy, cos θ).
    scale_pars : array_like
        ``PSFSCALE``: (c0_front, c1_front, c0_back, c1_back, beta).
    is_front : bool
        Use the FRONT (else BACK) scaling parameters.
    meta : dict, optional
        Origin.
    """

    def __init__(self, grid, scale_pars, is_front=True, meta=None):
        self.grid = grid
        self.scale_pars = np.asarray(scale_pars, dtype=float).ravel()
        if self.scale_pars.size != 5:
            raise CALDBError(
                f"Pass 6 PSF scaling needs 5 values (c0, c1 FRONT, c0, c1 BACK, beta), got {self.scale_pars.size}"
            )
        self.is_front = bool(is_front)
        self.meta = meta or {}

    def __repr__(self):
        side = "FRONT" if self.is_front else "BACK"
        return f"{type(self).__name__}({self.meta.get('filename', '')!r}, {side})"

    @classmethod
    def read(cls, filename, ext, scaling_ext, is_front=True):
        """Read from a CALDB file: ``RPSF`` and ``PSF_SCALING_PARAMS`` extensions."""
        columns = read_table_hdu(filename, ext)
        grid = ParameterGrid(columns, PASS6_PSF_PARAMETERS, filename=str(filename))
        scale = read_table_hdu(filename, scaling_ext)["PSFSCALE"]
        meta = {"filename": str(filename), "ext": ext, "PSFVER": 1}
        return cls(grid, scale, is_front=is_front, meta=meta)

    def scale_factor(self, energy_mev):
        """Energy scaling s(E) of the width (rad)."""
        c0, c1 = self.scale_pars[0:2] if self.is_front else self.scale_pars[2:4]
        beta = self.scale_pars[4]
        tt = (np.asarray(energy_mev, float) / 100.0) ** beta
        return np.sqrt((c0 * tt) ** 2 + c1**2)

    def parameters(self, energy, costheta):
        """Width σ (rad), core and tail indices and the normalisation at (E, cos θ).

        Parameters
        ----------
        energy : `~astropy.units.Quantity`
            True energy.
        costheta : array_like
            Cosine of the inclination angle.

        Returns
        -------
        sigma, gcore, gtail, tail_ratio, norm : `~numpy.ndarray`
            ``P(r) = norm * (K(u, gcore) + tail_ratio * K(u, gtail))`` in sr-1.
        """
        energy = u.Quantity(energy, "MeV").to_value("MeV")
        log_energy, costheta = np.broadcast_arrays(np.log10(energy), np.asarray(costheta, float))
        costheta = np.where(costheta == 1.0, 0.9999, costheta)
        sigma = self.grid.interpolate("SIGMA", log_energy, costheta) * self.scale_factor(10**log_energy)
        gcore = self.grid.interpolate("GCORE", log_energy, costheta)
        gtail = self.grid.interpolate("GTAIL", log_energy, costheta)
        if np.any(sigma <= 0) or np.any(gcore == 0) or np.any(gtail == 0):
            raise CALDBError(
                f"Pass 6 PSF {self.meta.get('filename', '')}: zero width or index in the interpolated "
                "parameters"
            )
        ratio = _king(_U_MATCH, gcore) / _king(_U_MATCH, gtail)
        # small-angle normalisation over the plane out to r = pi/2
        big_u = 0.5 * (0.5 * np.pi / sigma) ** 2
        plane = 2 * np.pi * sigma**2 * (_king_integral(big_u, gcore) + ratio * _king_integral(big_u, gtail))
        norm = 1.0 / plane
        low = 10**log_energy < _SPHERE_NORM_ENERGY
        if np.any(low):
            s, gc, gt, rt = (np.asarray(a)[low][..., np.newaxis] for a in (sigma, gcore, gtail, ratio))
            uu = 0.5 * (_THETA_HEMI / s) ** 2
            values = (_king(uu, gc) + rt * _king(uu, gt)) * _SIN_THETA_HEMI
            sphere = 2 * np.pi * np.trapezoid(values, _THETA_HEMI, axis=-1)
            norm = np.array(norm, dtype=float)
            norm[low] = 1.0 / sphere
        return sigma, gcore, gtail, ratio, norm

    def evaluate(self, energy, costheta, rad):
        """PSF value.

        Parameters
        ----------
        energy : `~astropy.units.Quantity`
            True energy.
        costheta : array_like
            Cosine of the inclination angle.
        rad : `~astropy.units.Quantity`
            Angular separation from the true direction.

        Returns
        -------
        psf : `~astropy.units.Quantity`
            Probability per solid angle (sr-1), broadcast shape of the inputs.
        """
        rad = u.Quantity(rad, "rad").to_value("rad")
        sigma, gcore, gtail, ratio, norm = self.parameters(energy, costheta)
        value = norm * (king_function(rad, sigma, gcore) + ratio * king_function(rad, sigma, gtail))
        return u.Quantity(value, "sr-1")


def read_psf(filename, ext, scaling_ext, is_front=True):
    """Read the PSF of one event type from a CALDB file, whatever its pass.

    Tables with ``SIGMA`` and no ``NTAIL`` column (Pass 6, ``PSFVER`` absent) give a
    `LATPass6PSF`, the others a `~gammapy_lat.irf.LATPSF`.

    Parameters
    ----------
    filename : `~pathlib.Path`
        CALDB file.
    ext, scaling_ext : int or str
        ``RPSF`` and ``PSF_SCALING_PARAMS`` extensions.
    is_front : bool
        FRONT (else BACK) scaling parameters, for the 5-value scaling of Pass 6 and 7.
    """
    columns = read_table_hdu(filename, ext)
    if "SIGMA" in columns and "NTAIL" not in columns:
        return LATPass6PSF.read(filename, ext, scaling_ext, is_front=is_front)
    return LATPSF.read(filename, ext, scaling_ext, is_front=is_front)
