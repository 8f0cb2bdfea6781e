"""Gammapy geometries of the binning components, and spatial tiles of the exposure cubes."""
from astropy import units as u
from gammapy.maps import MapAxis, WcsGeom

from ..data import make_counts_geom
from .config import ComponentConfig

__all__ = [
    "component_counts_geom",
    "component_exposure_geom",
    "exposure_tiles",
    "exposure_tile_geom",
    "tile_slice",
    "component_size",
]


def _component(component):
    if isinstance(component, ComponentConfig):
        return component
    return ComponentConfig.model_validate(component)


_COORDSYS = {"galactic": "GAL", "icrs": "CEL"}


def component_size(component):
    """``(nx, ny, nbins)`` of a component's counts cube from its configuration alone.

    ``ny`` is 1 for HEALPix maps (``nx`` is then the number of pixels). Nothing is allocated, so
    this serves to check the size of a request before building its geometry.
    """
    component = _component(component)
    geom = component.geom
    if geom.type == "healpix":
        return 12 * 4**geom.order, 1, component.energy.nbins
    nx, ny = (int(round(w / geom.binsz)) for w in geom.width)
    return nx, ny, component.energy.nbins


def component_counts_geom(component):
    """Counts-cube geometry of a component, built with gtbin's conventions.

    WCS: ``nxpix = width / binsz`` by ``nypix`` pixels centred on ``center``; HEALPix: the order
    and ordering scheme. Energies: ``nbins`` logarithmic bins (gtbin ``ebinalg=LOG``).
    """

    component = _component(component)
    energy = component.energy
    emin, emax = (u.Quantity(v).to_value("MeV") for v in (energy.min, energy.max))
    common = dict(coordsys=_COORDSYS[component.geom.frame], emin=emin, emax=emax, enumbins=energy.nbins)
    geom = component.geom
    if geom.type == "healpix":
        return make_counts_geom(
            algorithm="HEALPIX",
            hpx_order=geom.order,
            hpx_ordering_scheme="NESTED" if geom.nest else "RING",
            **common,
        )
    nxpix, nypix = (int(round(w / geom.binsz)) for w in geom.width)
    return make_counts_geom(
        algorithm="CCUBE",
        nxpix=nxpix,
        nypix=nypix,
        binsz=geom.binsz,
        xref=geom.center[0],
        yref=geom.center[1],
        proj=geom.proj,
        **common,
    )


def component_exposure_geom(component):
    """Exposure-cube geometry: true energies at the counts-cube bin edges (as gtexpcube2)."""
    counts = component_counts_geom(component)
    edges = counts.axes["energy"].edges
    axis = MapAxis.from_nodes(edges, name="energy_true", interp="log")
    return counts.to_image().to_cube([axis])


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
