"""Computation of livetime cubes from the spacecraft history (gtltcube semantics)."""
import numpy as np

__all__ = ["roi_pixels"]


def roi_pixels(nside, nest, frame, lon, lat, radius):
    """HEALPix pixels of a region of interest, with a margin for bilinear look-up.

    The region keeps every pixel whose centre lies within ``radius`` plus twice the largest
    centre-to-corner distance of the scheme, so that the four pixels used by bilinear
    interpolation at any position inside ``radius`` are present.

    Parameters
    ----------
    nside : int
        HEALPix NSIDE.
    nest : bool
        NESTED ordering.
    frame : str
        Frame of ``lon``/``lat`` (that of the cube; unused, for the record).
    lon, lat, radius : float
        Centre and radius in deg.

    Returns
    -------
    pixels : `~numpy.ndarray`
        Sorted pixel indices.
    """
    import healpy as hp

    vec = hp.ang2vec(lon, lat, lonlat=True)
    margin = 2 * hp.max_pixrad(nside)
    pixels = hp.query_disc(nside, vec, np.radians(radius) + margin, inclusive=False, nest=nest)
    return np.sort(pixels.astype(np.int64))
