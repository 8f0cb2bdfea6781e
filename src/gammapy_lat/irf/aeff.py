"""LAT effective area, its φ dependence and the livetime-fraction efficiency correction."""
import astropy.units as u
import numpy as np

from ..errors import CALDBError
from .grid import ParameterGrid, read_table_hdu

__all__ = ["LATEffectiveArea", "LATEfficiencyFactor"]


def _energy_mev(energy):
    return u.Quantity(energy, "MeV").to_value("MeV")


class LATEffectiveArea:
    """Effective area of one LAT event type versus (E, cos θ[, φ]).

    Evaluated as the Fermitools do (``latResponse::Aeff``): bilinear interpolation in
    (log10 E, cos θ) between the CALDB bin centres, cos θ capped at the centre of the top bin,
    zero below the lowest tabulated cos θ.

    Parameters
    ----------
    grid : `~gammapy_lat.irf.grid.ParameterGrid`
        Table of ``EFFAREA`` (m2).
    phi_grid : `~gammapy_lat.irf.grid.ParameterGrid`, optional
        ``PHI_DEPENDENCE`` parameters (``PHIDEP0``, ``PHIDEP1``).
    meta : dict, optional
        Origin (file, extension).
    """

    def __init__(self, grid, phi_grid=None, meta=None):
        self.grid = grid
        self.phi_grid = phi_grid
        self.meta = meta or {}

    @classmethod
    def read(cls, filename, ext, phi_ext=None):
        """Read from a CALDB file (extension number or name)."""
        grid = ParameterGrid(read_table_hdu(filename, ext), ["EFFAREA"], filename=str(filename))
        phi_grid = None
        if phi_ext is not None:
            columns = read_table_hdu(filename, phi_ext)
            phi_grid = ParameterGrid(columns, ["PHIDEP0", "PHIDEP1"], filename=str(filename))
        return cls(grid, phi_grid=phi_grid, meta={"filename": str(filename), "ext": ext})

    @property
    def min_costheta(self):
        """Lowest tabulated cos θ; the effective area is zero below."""
        return self.grid.min_costheta

    def evaluate(self, energy, costheta, phi=None):
        """Effective area.

        Parameters
        ----------
        energy : `~astropy.units.Quantity`
            True energy.
        costheta : array_like
            Cosine of the inclination angle.
        phi : `~astropy.units.Quantity`, optional
            Azimuth in the instrument frame; without it the φ-averaged area is returned (as the
            Fermitools do for livetime cubes without φ bins).

        Returns
        -------
        aeff : `~astropy.units.Quantity`
            Effective area in cm2 (broadcast shape of the inputs).
        """
        log_energy = np.log10(_energy_mev(energy))
        costheta = np.asarray(costheta, dtype=float)
        log_energy, costheta = np.broadcast_arrays(log_energy, costheta)
        cth = np.minimum(costheta, 0.99999)
        cth = np.minimum(cth, self.grid.costheta_center[-1])
        value = self.grid.interpolate("EFFAREA", log_energy, cth) * 1e4
        value = np.where(costheta < self.min_costheta, 0.0, value)
        if phi is not None and self.phi_grid is not None:
            value = value * self.phi_modulation(log_energy, costheta, phi)
        return u.Quantity(value, "cm2")

    def phi_modulation(self, log_energy, costheta, phi):
        """Relative φ modulation of the effective area (mean 1 over φ)."""
        par0 = self.phi_grid.nearest("PHIDEP0", log_energy, costheta)
        par1 = self.phi_grid.nearest("PHIDEP1", log_energy, costheta)
        phi = np.mod(u.Quantity(phi, "deg").to_value("rad"), 2 * np.pi)
        norm = 1.0 / (1.0 + par0 / (1.0 + par1))
        phi_pv = np.fmod(phi, np.pi) - np.pi / 2
        xx = 2.0 * np.abs(2.0 / np.pi * np.abs(phi_pv) - 0.5)
        return norm * (1.0 + par0 * xx**par1)


class LATEfficiencyFactor:
    """Livetime-fraction dependent efficiency correction of the effective area.

    The ``EFFICIENCY_PARAMS`` HDU holds "meta-parameters" p0(log10 E), p1(log10 E), each a
    continuous piecewise-linear function of log10 E with two breaks (6 numbers: a0, b0, a1,
    logEb1, a2, logEb2). The correction at livetime fraction f is ``p0 * f + p1``, so that the
    exposure from a livetime cube is ``aeff * (p1 * livetime + p0 * weighted_livetime)`` where
    the weighted livetime is the livetime weighted by f (``WEIGHTED_EXPOSURE``).

    The table layout depends on the pass:

    * Pass 8: 2 rows (p0, p1) per event type, used as they are;
    * Pass 7 (``P7SOURCE_V6``, ``P7REP_SOURCE_V15``...): 4 rows, a FRONT pair (p0, p1) and a BACK
      pair, the same table in the FRONT and BACK files. As the ScienceTools that went with these
      IRFs (``latResponse::EfficiencyFactor`` up to 2015), the livetime factors applied to a
      livetime cube are the averages of the two pairs, ``(p1_front + p1_back) / 2`` and
      ``(p0_front + p0_back) / 2``, for either conversion type (the cube does not separate
      them); `evaluate` gives the per-type value ``p0_type * f + p1_type``.

    Parameters
    ----------
    pars : array_like, shape (2, 6) or (4, 6)
        Rows p0, p1 (Pass 8) or p0_front, p1_front, p0_back, p1_back (Pass 7). All zeros means no
        correction.
    """

    def __init__(self, pars):
        self.pars = np.atleast_2d(np.asarray(pars, dtype=float))
        if self.pars.shape[0] not in (2, 4) or self.pars.shape[1] != 6:
            raise CALDBError(
                f"EFFICIENCY_PARS must have 2 (Pass 8) or 4 (Pass 7: FRONT and BACK pairs) rows of 6 "
                f"values, got shape {self.pars.shape}"
            )
        self.enabled = bool(np.any(self.pars != 0))

    @classmethod
    def read(cls, filename, ext):
        """Read from a CALDB file (extension number or name); every row of the table is kept."""
        columns = read_table_hdu(filename, ext)
        try:
            return cls(columns["_ALL_EFFICIENCY_PARS"])
        except KeyError:
            raise CALDBError(f"Extension {ext} of {filename} has no EFFICIENCY_PARS column") from None
        except CALDBError as exc:
            raise CALDBError(f"{filename}[{ext}]: {exc}") from None

    @property
    def has_conversion_pairs(self):
        """Whether the table has separate FRONT and BACK pairs (Pass 7 layout)."""
        return self.pars.shape[0] == 4

    @staticmethod
    def _broken_line(pars, log_energy):
        a0, b0, a1, logeb1, a2, logeb2 = pars
        b1 = (a0 - a1) * logeb1 + b0
        b2 = (a1 - a2) * logeb2 + b1
        return np.where(
            log_energy < logeb1,
            a0 * log_energy + b0,
            np.where(log_energy < logeb2, a1 * log_energy + b1, a2 * log_energy + b2),
        )

    def _pair(self, log_energy, front=True):
        rows = self.pars[0:2] if front or not self.has_conversion_pairs else self.pars[2:4]
        return self._broken_line(rows[0], log_energy), self._broken_line(rows[1], log_energy)

    def livetime_factors(self, energy):
        """Factors (f1, f2) multiplying the livetime and the weighted livetime.

        Parameters
        ----------
        energy : `~astropy.units.Quantity`
            True energy.

        Returns
        -------
        f1, f2 : `~numpy.ndarray`
            ``(1, 0)`` when the correction is disabled; ``(p1, p0)`` for a Pass 8 table, the
            FRONT/BACK averages for a Pass 7 one.
        """
        log_energy = np.log10(_energy_mev(energy))
        if not self.enabled:
            return np.ones_like(log_energy), np.zeros_like(log_energy)
        p0, p1 = self._pair(log_energy, front=True)
        if self.has_conversion_pairs:
            p0_back, p1_back = self._pair(log_energy, front=False)
            p0, p1 = 0.5 * (p0 + p0_back), 0.5 * (p1 + p1_back)
        return p1, p0

    def evaluate(self, energy, livetime_fraction, front=True):
        """Efficiency at a livetime fraction: ``p0 * f + p1``.

        Parameters
        ----------
        energy : `~astropy.units.Quantity`
            True energy.
        livetime_fraction : array_like
            Livetime fraction f.
        front : bool
            With a Pass 7 table, the FRONT (else BACK) pair; ignored for Pass 8.
        """
        log_energy = np.log10(_energy_mev(energy))
        if not self.enabled:
            return np.ones(np.broadcast_shapes(np.shape(log_energy), np.shape(livetime_fraction)))
        p0, p1 = self._pair(log_energy, front=front)
        return p0 * np.asarray(livetime_fraction) + p1
