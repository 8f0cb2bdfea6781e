"""Gammapy geometries of the binning components, and spatial tiles of the exposure cubes."""
import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from gammapy.maps import HpxGeom, MapAxis, WcsGeom

from .config import ComponentConfig

__all__ = [
    "component_counts_geom",
    "component_exposure_geom",
    "exposure_tiles",
    "exposure_tile_geom",
    "tile_slice",
]


def _component(component):
    if isinstance(component, ComponentConfig):
        return component
    return ComponentConfig.model_validate(component)


def _spatial(component, axes):
    geom = component.geom
    if geom.type == "healpix":
        return HpxGeom.create(nside=geom.nside, nest=geom.nest, frame=geom.frame, axes=axes)
    skydir = SkyCoord(geom.center[0], geom.center[1], unit="deg", frame=geom.frame)
    return WcsGeom.create(
        skydir=skydir, binsz=geom.binsz, width=tuple(geom.width), frame=geom.frame, proj=geom.proj, axes=axes
    )


def component_counts_geom(component):
    """Counts-cube geometry: the component's sky geometry and its reconstructed-energy bins."""
    component = _component(component)
    axis = MapAxis.from_energy_edges(component.energy.edges, name="energy", interp="log")
    return _spatial(component, [axis])


def component_exposure_geom(component):
    """Exposure-cube geometry: true energies at the counts-cube bin edges (as gtexpcube2)."""
    component = _component(component)
    axis = MapAxis.from_nodes(component.energy.edges, name="energy_true", interp="log")
    return _spatial(component, [axis])


def _nrows(geom):
    if isinstance(geom, WcsGeom):
        return int(geom.data_shape[-2])
    return int(geom.data_shape[-1])


def exposure_tiles(geom, max_pixels):
    """Tiles ``(start, stop)`` of at most ``max_pixels`` spatial pixels.

    WCS maps are cut into bands of rows (pixel centres are unchanged, so a tile's exposure is
    exactly that of the same pixels in the full map); HEALPix maps are one tile.
    """
    nrows = _nrows(geom)
    if not isinstance(geom, WcsGeom):
        return [(0, nrows)]
    ncols = int(geom.data_shape[-1])
    step = max(1, int(max_pixels) // ncols)
    edges = list(range(0, nrows, step)) + [nrows]
    return [(a, b) for a, b in zip(edges[:-1], edges[1:])]


def exposure_tile_geom(geom, tile):
    """Geometry of the rows ``tile = (start, stop)`` of a WCS geometry (the full geometry otherwise)."""
    start, stop = int(tile[0]), int(tile[1])
    if not isinstance(geom, WcsGeom):
        if (start, stop) != (0, _nrows(geom)):
            raise ValueError("HEALPix exposure cubes are computed as one tile")
        return geom
    wcs = geom.wcs.deepcopy()
    wcs.wcs.crpix[1] -= start
    npix = (int(geom.data_shape[-1]), stop - start)
    return WcsGeom(wcs=wcs, npix=npix, axes=geom.axes)


def tile_slice(geom, tile):
    """Index of ``tile`` in the data array of ``geom``."""
    if isinstance(geom, WcsGeom):
        return (Ellipsis, slice(tile[0], tile[1]), slice(None))
    return (Ellipsis, slice(tile[0], tile[1]))
