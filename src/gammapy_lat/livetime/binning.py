"""Inclination-angle binning of livetime cubes (gtltcube ``dcostheta`` and ``binsz``)."""
import numpy as np

from ..errors import LivetimeCubeError

__all__ = ["costheta_edges", "THETABIN", "BINNING"]

#: ``THETABIN`` header value of each binning scheme.
THETABIN = {"sqrt": "SQRT(1-COSTHETA)", "linear": "COSTHETA"}
#: Binning scheme of each ``THETABIN`` header value.
BINNING = {value: key for key, value in THETABIN.items()}


def costheta_edges(nbins=40, binning="sqrt", cosmin=0.0):
    """cos θ bin edges of a livetime cube, from the boresight (cos θ = 1) down to ``cosmin``.

    With ``binning="sqrt"`` the bins are uniform in ``sqrt(1 - cos θ)`` (the gtltcube default),
    with ``binning="linear"`` uniform in cos θ.

    Parameters
    ----------
    nbins : int
        Number of bins.
    binning : {"sqrt", "linear"}
        Binning scheme.
    cosmin : float
        Lowest cos θ.

    Returns
    -------
    edges : `~numpy.ndarray`
        ``nbins + 1`` decreasing edges; bin ``i`` spans ``edges[i + 1]`` to ``edges[i]``.
    """
    if binning not in THETABIN:
        raise LivetimeCubeError(f"Unknown cos(theta) binning {binning!r}; use 'sqrt' or 'linear'")
    nbins = int(nbins)
    if nbins < 1:
        raise LivetimeCubeError(f"Number of cos(theta) bins must be >= 1, got {nbins}")
    factor = np.arange(nbins + 1) / nbins
    if binning == "sqrt":
        factor = factor * factor
    return 1.0 - factor * (1.0 - cosmin)
