"""LAT point-spread function: the double King function of Pass 8 and Pass 7.

The PSF of one event type at true energy E and inclination θ is

.. math::

    P(r) = N_c K(r; S_c s(E), G_c) + N_t N_c K(r; S_t s(E), G_t), \\qquad
    K(r; \\sigma, \\gamma) = \\left(1 - \\frac{1}{\\gamma}\\right)
        \\left(1 + \\frac{u}{\\gamma}\\right)^{-\\gamma},\\ u = \\frac{r^2}{2\\sigma^2}

with the angular separation r in radians and the energy scaling
:math:`s(E) = \\sqrt{(c_0 (E / 100\\,{\\rm MeV})^{\\beta})^2 + c_1^2}` from ``PSF_SCALING_PARAMS``.

* Pass 8 (``latResponse::Psf3``): the function is evaluated at the four CALDB grid nodes
  surrounding (log10 E, cos θ) — each node with its own parameters and its own node energy in
  s(E) — and the four values are interpolated bilinearly. Each node is normalised to unit
  integral over the sphere, so the interpolated PSF is normalised too.
* Pass 7 (``latResponse::Psf2``): the parameters are interpolated bilinearly, scaled with s(E)
  at the requested energy (front: c0, c1; back: c2, c3 of the 5-element scaling) and the
  resulting function is normalised over the sphere.
"""
import numpy as np
import astropy.units as u

from ..errors import CALDBError
from .grid import ParameterGrid, read_table_hdu

__all__ = ["LATPSF", "king_function"]

PSF_PARAMETERS = ["NCORE", "NTAIL", "SCORE", "STAIL", "GCORE", "GTAIL"]

# integration grid in separation (rad) for normalisation over the sphere
_THETA_NORM = np.concatenate([[0.0], np.geomspace(1e-7, np.pi, 4000)])
_SIN_THETA_NORM = np.sin(_THETA_NORM)


def king_function(rad, sigma, gamma):
    """King profile of the LAT PSF, unnormalised, as in the CALDB parametrisation.

    Parameters
    ----------
    rad : array_like
        Separation (rad).
    sigma, gamma : array_like
        Scale (rad) and index.

    Returns
    -------
    value : `~numpy.ndarray`
        :math:`(1 - 1/\\gamma)(1 + u/\\gamma)^{-\\gamma}`; its small-angle integral over the
        plane is :math:`2\\pi\\sigma^2`.
    """
    gamma = np.where(gamma == 1, 1.001, gamma)
    uu = 0.5 * (rad / sigma) ** 2
    return (1.0 - 1.0 / gamma) * (1.0 + uu / gamma) ** (-gamma)


def _double_king(rad, ncore, ntail, score, stail, gcore, gtail):
    return ncore * king_function(rad, score, gcore) + ntail * ncore * king_function(rad, stail, gtail)


def _sphere_integral(ncore, ntail, score, stail, gcore, gtail):
    """Integral over the sphere of the double King function (parameters of any shape)."""
    pars = [np.asarray(p, float)[..., np.newaxis] for p in (ncore, ntail, score, stail, gcore, gtail)]
    values = _double_king(_THETA_NORM, *pars) * 2 * np.pi * _SIN_THETA_NORM
    return np.trapezoid(values, _THETA_NORM, axis=-1)


class LATPSF:
    """PSF of one LAT event type.

    Parameters
    ----------
    grid : `~gammapy_lat.irf.grid.ParameterGrid`
        ``NCORE, NTAIL, SCORE, STAIL, GCORE, GTAIL`` versus (energy, cos θ).
    scale_pars : array_like
        ``PSFSCALE``: (c0, c1, beta) for Pass 8, (c0_front, c1_front, c0_back, c1_back, beta)
        for Pass 7.
    version : {"pass8", "pass7"}
        Evaluation scheme (see the module docstring).
    is_front : bool
        For Pass 7: use the front scaling parameters.
    meta : dict, optional
        Origin.
    """

    def __init__(self, grid, scale_pars, version="pass8", is_front=True, meta=None):
        self.grid = grid
        self.scale_pars = np.asarray(scale_pars, dtype=float)
        self.version = version
        self.is_front = is_front
        self.meta = meta or {}
        if version == "pass8":
            self._prepare_nodes()

    @classmethod
    def read(cls, filename, ext, scaling_ext, is_front=True):
        """Read from a CALDB file: ``RPSF`` and ``PSF_SCALING_PARAMS`` extensions."""
        columns = read_table_hdu(filename, ext)
        if "SIGMA" in columns and "NTAIL" not in columns:
            raise CALDBError(
                f"PSF table {filename}[{ext}] has the Pass 6 parametrisation (NCORE, SIGMA, GCORE, "
                "GTAIL), which is not supported; use a Pass 7 or Pass 8 IRF"
            )
        grid = ParameterGrid(columns, PSF_PARAMETERS, filename=str(filename))
        scale = read_table_hdu(filename, scaling_ext)["PSFSCALE"]
        if scale.size == 3:
            version = "pass8"
        elif scale.size == 5:
            version = "pass7"
        else:
            raise CALDBError(
                f"PSFSCALE of {filename}[{scaling_ext}] has {scale.size} values; expected 3 (Pass 8) "
                "or 5 (Pass 7)"
            )
        meta = {"filename": str(filename), "ext": ext}
        return cls(grid, scale, version=version, is_front=is_front, meta=meta)

    def scale_factor(self, energy_mev):
        """Energy scaling s(E) of the PSF widths (rad)."""
        if self.version == "pass8":
            c0, c1, beta = self.scale_pars[:3]
        else:
            c0, c1 = self.scale_pars[0:2] if self.is_front else self.scale_pars[2:4]
            beta = self.scale_pars[4]
        tt = (np.asarray(energy_mev, float) / 100.0) ** beta
        return np.sqrt((c0 * tt) ** 2 + c1**2)

    def _prepare_nodes(self):
        grid = self.grid
        pars = {name: grid.padded(name) for name in PSF_PARAMETERS}
        node_energy = 10 ** grid.node_loge
        scale = self.scale_factor(node_energy)[np.newaxis, :]
        pars["SCORE"] = pars["SCORE"] * scale
        pars["STAIL"] = pars["STAIL"] * scale
        norm = _sphere_integral(*[pars[n] for n in PSF_PARAMETERS])
        pars["NCORE"] = pars["NCORE"] / norm
        self._node_pars = np.stack([pars[n] for n in PSF_PARAMETERS])  # (6, ncth+2, ne+2)

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
        energy = u.Quantity(energy, "MeV").to_value("MeV")
        rad = u.Quantity(rad, "rad").to_value("rad")
        log_energy, costheta = np.broadcast_arrays(np.log10(energy), np.asarray(costheta, float))
        shape = np.broadcast_shapes(log_energy.shape, np.shape(rad))
        if self.version == "pass8":
            i, j, tt, uu = self.grid.corners(log_energy, costheta)
            weights = self.grid.corner_weights(tt, uu)
            value = np.zeros(shape)
            for w, (jj, ii) in zip(weights, ((j - 1, i - 1), (j - 1, i), (j, i), (j, i - 1))):
                pars = self._node_pars[:, jj, ii]
                value += w * _double_king(rad, *pars)
        else:
            pars = self.pass7_parameters(log_energy, costheta)
            value = np.broadcast_to(_double_king(rad, *pars), shape)
        return u.Quantity(value, "sr-1")

    def pass7_parameters(self, log_energy, costheta):
        """Pass 7 parameters at (log10 E, cos θ), scaled and normalised."""
        costheta = np.where(costheta == 1.0, 0.9999, costheta)
        pars = [self.grid.interpolate(name, log_energy, costheta) for name in PSF_PARAMETERS]
        scale = self.scale_factor(10**log_energy)
        pars[2] = pars[2] * scale
        pars[3] = pars[3] * scale
        pars[0] = pars[0] / _sphere_integral(*pars)
        return pars
