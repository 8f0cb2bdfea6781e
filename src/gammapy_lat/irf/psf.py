"""LAT point-spread function: the double King function of Pass 8 and Pass 7.

The PSF of one event type at true energy E and inclination θ is

.. math::

    P(r) = N_c K(r; S_c s(E), G_c) + N_t N_c K(r; S_t s(E), G_t), \\qquad
    K(r; \\sigma, \\gamma) = \\left(1 - \\frac{1}{\\gamma}\\right)
        \\left(1 + \\frac{u}{\\gamma}\\right)^{-\\gamma},\\ u = \\frac{r^2}{2\\sigma^2}

with the angular separation r in radians and the energy scaling
:math:`s(E) = \\sqrt{(c_0 (E / 100\\,{\\rm MeV})^{\\beta})^2 + c_1^2}` from ``PSF_SCALING_PARAMS``.

* ``PSFVER = 3`` (all Pass 8 and the Pass 7 reprocessed/SOURCE files; ``latResponse::Psf3``):
  the function is evaluated at the four CALDB grid nodes surrounding (log10 E, cos θ) — each node
  with its own parameters and its own node energy in s(E) — and the four values are interpolated
  bilinearly. Each node is normalised to unit integral over the sphere, so the interpolated PSF
  is normalised too.
* ``PSFVER = 2`` (``latResponse::Psf2``): the parameters are interpolated bilinearly, scaled with
  s(E) at the requested energy and the resulting function is normalised over the sphere.

The scaling has three values (c0, c1, β) for Pass 8 event types and five for Pass 7
(c0, c1 for FRONT, c0, c1 for BACK, β). The Pass 6 parametrisation (``PSFVER`` absent: one
width ``SIGMA``) is `~gammapy_lat.irf.psf_pass6.LATPass6PSF`; `gammapy_lat.irf.read_psf` picks the class from
the table.
"""
import astropy.units as u
import numpy as np

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
    scheme : {"nodes", "parameters"}
        Interpolation scheme: of the node functions (``PSFVER = 3``) or of the parameters
        (``PSFVER = 2``), see the module docstring.
    is_front : bool
        With the 5-value (Pass 7) scaling: use the FRONT scaling parameters.
    meta : dict, optional
        Origin.
    """

    def __init__(self, grid, scale_pars, scheme="nodes", is_front=True, meta=None):
        if scheme not in ("nodes", "parameters"):
            raise ValueError(f"Unknown PSF interpolation scheme {scheme!r}")
        self.grid = grid
        self.scale_pars = np.asarray(scale_pars, dtype=float)
        if self.scale_pars.size not in (3, 5):
            raise CALDBError(f"PSF scaling needs 3 or 5 values, got {self.scale_pars.size}")
        self.scheme = scheme
        self.is_front = is_front
        self.meta = meta or {}
        if scheme == "nodes":
            self._prepare_nodes()

    @classmethod
    def read(cls, filename, ext, scaling_ext, is_front=True):
        """Read from a CALDB file: ``RPSF`` and ``PSF_SCALING_PARAMS`` extensions."""
        columns = read_table_hdu(filename, ext)
        if "SIGMA" in columns and "NTAIL" not in columns:
            raise CALDBError(
                f"PSF table {filename}[{ext}] has the Pass 6 parametrisation (NCORE, SIGMA, GCORE, "
                "GTAIL): read it with gammapy_lat.irf.read_psf or LATPass6PSF"
            )
        grid = ParameterGrid(columns, PSF_PARAMETERS, filename=str(filename))
        scale = read_table_hdu(filename, scaling_ext)["PSFSCALE"]
        if scale.size not in (3, 5):
            raise CALDBError(
                f"PSFSCALE of {filename}[{scaling_ext}] has {scale.size} values; expected 3 (Pass 8) "
                "or 5 (Pass 7)"
            )
        psfver = int(columns["_HEADER"].get("PSFVER", 3))
        if psfver not in (2, 3):
            raise CALDBError(f"PSF table {filename}[{ext}] has PSFVER={psfver}; versions 2 and 3 are supported")
        scheme = "nodes" if psfver == 3 else "parameters"
        meta = {"filename": str(filename), "ext": ext, "PSFVER": psfver}
        return cls(grid, scale, scheme=scheme, is_front=is_front, meta=meta)

    def scale_factor(self, energy_mev):
        """Energy scaling s(E) of the PSF widths (rad)."""
        if self.scale_pars.size == 3:
            c0, c1, beta = self.scale_pars
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
        if self.scheme == "nodes":
            i, j, tt, uu = self.grid.corners(log_energy, costheta)
            weights = self.grid.corner_weights(tt, uu)
            value = np.zeros(shape)
            for w, (jj, ii) in zip(weights, ((j - 1, i - 1), (j - 1, i), (j, i), (j, i - 1))):
                pars = self._node_pars[:, jj, ii]
                value += w * _double_king(rad, *pars)
        else:
            pars = self.interpolated_parameters(log_energy, costheta)
            value = np.broadcast_to(_double_king(rad, *pars), shape)
        return u.Quantity(value, "sr-1")

    def interpolated_parameters(self, log_energy, costheta):
        """``PSFVER = 2`` parameters at (log10 E, cos θ): interpolated, scaled and normalised."""
        costheta = np.where(costheta == 1.0, 0.9999, costheta)
        pars = [self.grid.interpolate(name, log_energy, costheta) for name in PSF_PARAMETERS]
        scale = self.scale_factor(10**log_energy)
        pars[2] = pars[2] * scale
        pars[3] = pars[3] * scale
        pars[0] = pars[0] / _sphere_integral(*pars)
        return pars
