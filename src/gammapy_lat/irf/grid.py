"""Tabulated IRF parameters on the (log E, cos θ) grid of the LAT CALDB, and their interpolation.

The LAT IRF tables give one value per (energy bin, cos θ bin). As in the Fermitools
(``latResponse``), the values are attached to the bin centres — log10 of the geometric mean energy
and the arithmetic mean of cos θ — and the grid is padded with one node on every side
(log10 E = 0 and 10, cos θ = -1 and 1) repeating the edge values, so that bilinear
interpolation in (log10 E, cos θ) is defined everywhere.
"""
import numpy as np
from astropy.io import fits

from ..errors import CALDBError

__all__ = ["ParameterGrid", "read_table_hdu"]


def read_table_hdu(filename, ext):
    """Read one binary-table HDU of a CALDB file as a dict of float64 arrays (first row).

    Parameters
    ----------
    filename : `~pathlib.Path`
        CALDB file.
    ext : int or str
        Extension number or name.

    Returns
    -------
    columns : dict
        Column name (upper case) -> array of the first row; ``"_ALL_<NAME>"`` holds the
        column for all rows, ``"_EXTNAME"`` the extension name and ``"_HEADER"`` its header.
    """
    try:
        with fits.open(filename, memmap=False) as hdulist:
            hdu = hdulist[ext]
            data = hdu.data
            out = {"_EXTNAME": hdu.name, "_HEADER": hdu.header.copy()}
            for name in data.columns.names:
                out[name.upper()] = np.asarray(data[name][0], dtype=np.float64)
                out["_ALL_" + name.upper()] = np.asarray(data[name], dtype=np.float64)
            return out
    except (OSError, KeyError, IndexError, TypeError, ValueError) as exc:
        raise CALDBError(f"Cannot read extension {ext} of the CALDB file {filename}: {exc}") from exc


class ParameterGrid:
    """Parameters tabulated on the CALDB (energy, cos θ) bins, padded Fermitools-style.

    Parameters
    ----------
    columns : dict
        Output of `read_table_hdu`; must hold ``ENERG_LO``, ``ENERG_HI``, ``CTHETA_LO``,
        ``CTHETA_HI`` (MeV, cos θ) and the parameter columns.
    names : list of str
        Parameter columns to use (each of size n_costheta * n_energy).
    filename : str
        For error messages.
    """

    LOGE_PAD = (0.0, 10.0)
    COSTHETA_PAD = (-1.0, 1.0)

    def __init__(self, columns, names, filename=""):
        try:
            elo, ehi = columns["ENERG_LO"], columns["ENERG_HI"]
            clo, chi = columns["CTHETA_LO"], columns["CTHETA_HI"]
        except KeyError as exc:
            raise CALDBError(f"CALDB table {filename} lacks the column {exc}") from None
        self.energy_edges = np.append(elo, ehi[-1])
        self.costheta_edges = np.append(clo, chi[-1])
        self.log_energy_center = np.log10(np.sqrt(elo * ehi))
        self.costheta_center = 0.5 * (clo + chi)
        self.min_costheta = float(clo[0])
        shape = (len(clo), len(elo))
        self.names = list(names)
        self.values = {}
        for name in names:
            if name not in columns:
                raise CALDBError(f"CALDB table {filename} lacks the parameter column {name}")
            values = columns[name]
            if values.size != shape[0] * shape[1]:
                raise CALDBError(
                    f"Column {name} of {filename} has {values.size} values, expected "
                    f"{shape[0]}x{shape[1]} (cos theta x energy)"
                )
            self.values[name] = values.reshape(shape)
        # padded nodes
        self.node_loge = np.concatenate([[self.LOGE_PAD[0]], self.log_energy_center, [self.LOGE_PAD[1]]])
        self.node_costheta = np.concatenate(
            [[self.COSTHETA_PAD[0]], self.costheta_center, [self.COSTHETA_PAD[1]]]
        )

    @staticmethod
    def pad(values):
        """Pad a (n_costheta, n_energy) array by repeating its edges."""
        return np.pad(values, 1, mode="edge")

    def padded(self, name):
        """Padded (n_costheta + 2, n_energy + 2) array of a parameter."""
        return self.pad(self.values[name])

    @staticmethod
    def _index(nodes, x):
        """Upper-bound cell index as in ``latResponse`` (``Bilinear::getCorners``)."""
        x = np.asarray(x, dtype=float)
        idx = np.searchsorted(nodes, x, side="right")
        idx = np.where(x <= nodes[0], 1, idx)
        idx = np.where(x >= nodes[-1], len(nodes) - 1, idx)
        return np.clip(idx, 1, len(nodes) - 1)

    def corners(self, log_energy, costheta):
        """Cell corners and weights for bilinear interpolation.

        Returns
        -------
        i, j : arrays of int
            Upper node indices in log E and cos θ (the cell is [i-1, i] x [j-1, j]).
        tt, uu : arrays
            Fractional positions in the cell.
        """
        i = self._index(self.node_loge, log_energy)
        j = self._index(self.node_costheta, costheta)
        x0, x1 = self.node_loge[i - 1], self.node_loge[i]
        y0, y1 = self.node_costheta[j - 1], self.node_costheta[j]
        tt = (log_energy - x0) / (x1 - x0)
        uu = (costheta - y0) / (y1 - y0)
        return i, j, tt, uu

    @staticmethod
    def corner_weights(tt, uu):
        """Weights of the corners (i-1, j-1), (i, j-1), (i, j), (i-1, j)."""
        return ((1 - tt) * (1 - uu), tt * (1 - uu), tt * uu, (1 - tt) * uu)

    def interpolate(self, name, log_energy, costheta):
        """Bilinear interpolation of a parameter in (log10 E, cos θ) (broadcasting)."""
        log_energy, costheta = np.broadcast_arrays(
            np.asarray(log_energy, float), np.asarray(costheta, float)
        )
        table = self.padded(name)
        i, j, tt, uu = self.corners(log_energy, costheta)
        w = self.corner_weights(tt, uu)
        return (
            w[0] * table[j - 1, i - 1]
            + w[1] * table[j - 1, i]
            + w[2] * table[j, i]
            + w[3] * table[j, i - 1]
        )

    def nearest(self, name, log_energy, costheta):
        """Value of the CALDB bin containing (log10 E, cos θ), clipped to the table."""
        ie = np.clip(np.searchsorted(np.log10(self.energy_edges), log_energy, side="right") - 1, 0,
                     len(self.log_energy_center) - 1)
        ic = np.clip(np.searchsorted(self.costheta_edges, costheta, side="right") - 1, 0,
                     len(self.costheta_center) - 1)
        return self.values[name][ic, ie]
