"""The pipeline's steps, run in worker processes.

Every function takes the path of the product it must write as first argument and writes it
atomically; the other arguments are plain picklable values (paths, numbers, dicts), so the steps run
unchanged on local processes and on Ray workers. They return a small dict of figures for the run
summary — never arrays.

Partial products are internal files in ``<outdir>/partials``:

- ``gti``: the good time intervals of one time chunk (FT1 file GTI ∩ gtmktime filter on the FT2
  rows ∩ chunk window), a FITS ``GTI`` table;
- ``counts``: the counts of one component in one time chunk, stored sparsely as
  ``(flat index, count)`` pairs of the component's counts-cube data array;
- ``livetime``: the livetime cube of one time chunk, in the Fermitools format;
- ``exposure tile``: the exposure of one spatial tile (rows of a WCS map) of one component.

Final products (co-added counts cube, livetime cube, exposure cube) are in the formats of gtbin,
gtltcube and gtexpcube2.
"""
import logging

import numpy as np
from astropy.io import fits
from astropy.table import Table
from gammapy.maps import Map

from ..data import read_spacecraft
from ..data.gti import intersect_intervals, merge_intervals
from ..livetime import LivetimeCube
from ..utils import write_fits_atomic
from .geometry import (
    component_counts_geom,
    component_exposure_geom,
    exposure_tile_geom,
    tile_slice,
)
from .interfaces import (
    bin_counts,
    compute_exposure,
    compute_livetime,
    ft1_gti,
    header_cards,
    mktime_intervals,
    select_component_events,
    write_counts_cube,
    write_exposure_cube,
)

__all__ = [
    "make_chunk_gti",
    "make_counts_partial",
    "make_livetime_partial",
    "coadd_counts",
    "coadd_livetime",
    "make_exposure_tile",
    "assemble_exposure",
    "read_gti_partial",
    "product_figures",
]

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------- GTIs
def _write_gti(output, start, stop, meta):
    table = Table({"START": np.asarray(start, float), "STOP": np.asarray(stop, float)})
    hdu = fits.BinTableHDU(table, name="GTI")
    hdu.header["TUNIT1"] = "s"
    hdu.header["TUNIT2"] = "s"
    for key, value in meta.items():
        hdu.header[key] = value
    write_fits_atomic(fits.HDUList([fits.PrimaryHDU(), hdu]), output)


def read_gti_partial(path):
    """``(start, stop)`` MET arrays and header of a GTI partial product."""
    with fits.open(path, memmap=False) as hdulist:
        data = hdulist["GTI"].data
        return (
            np.asarray(data["START"], float),
            np.asarray(data["STOP"], float),
            hdulist["GTI"].header.copy(),
        )


def make_chunk_gti(output, ft1, ft2, filter, tmin, tmax):
    """Good time intervals of one time chunk of one FT1 file.

    The intervals are the FT1 file's GTIs, restricted to the gtmktime filter evaluated on the
    spacecraft rows (``filter``, e.g. ``(DATA_QUAL>0)&&(LAT_CONFIG==1)``, ``roicut=no``) and to the
    chunk window ``[tmin, tmax]``.
    """

    file_start, file_stop, header = ft1_gti(ft1)
    start, stop = intersect_intervals(file_start, file_stop, np.array([tmin]), np.array([tmax]))
    if filter:
        spacecraft = read_spacecraft(ft2, time_range=(tmin, tmax))
        good_start, good_stop = mktime_intervals(spacecraft, filter)
        start, stop = intersect_intervals(start, stop, good_start, good_stop)
    meta = {k: header[k] for k in ("MJDREFI", "MJDREFF", "TIMESYS", "TIMEUNIT", "TIMEREF") if k in header}
    meta.update(CHUNKMIN=(float(tmin), "chunk window start (MET)"), CHUNKMAX=(float(tmax), "chunk window stop (MET)"))
    _write_gti(output, start, stop, meta)
    return {"ontime": float(np.sum(stop - start)), "ngti": int(start.size)}


# ------------------------------------------------------------------------------------ counts
def make_counts_partial(output, ft1, gti, component, evclass, last_chunk):
    """Counts of one component in one time chunk, stored sparsely.

    Events of the chunk are those inside the chunk GTIs (ends included, as gtmktime) and inside
    the window ``[CHUNKMIN, CHUNKMAX)``; the last chunk of a file also keeps events at
    ``CHUNKMAX``, so that chunks never count an event twice and their union is the single-pass
    selection.
    """

    start, stop, header = read_gti_partial(gti)
    if not last_chunk:
        # an event exactly at the window end belongs to the next chunk
        chunk_max = header["CHUNKMAX"]
        stop = np.where(stop >= chunk_max, np.nextafter(chunk_max, -np.inf), stop)
    geom = component_counts_geom(component)
    events = select_component_events(ft1, (start, stop), component, evclass)
    counts = bin_counts(events, geom)
    data = np.asarray(counts.data)
    idx = np.flatnonzero(data)
    values = data.flat[idx]
    if np.any(values != np.round(values)):
        raise ValueError(f"counts of {ft1} are not integers")
    table = Table({"INDEX": idx.astype(np.int64), "COUNTS": values.astype(np.int64)})
    hdu = fits.BinTableHDU(table, name="SPARSE_COUNTS")
    hdu.header["SHAPE"] = (",".join(str(n) for n in data.shape), "shape of the dense counts array")
    hdu.header["NEVENTS"] = (int(values.sum()), "number of binned events")
    # the events header (time reference, DSS keywords of the selection) for the co-added cube
    primary = fits.PrimaryHDU()
    primary.header.extend(header_cards(events.header), update=True)
    events.dss.to_header(primary.header)
    gti_hdu = fits.BinTableHDU(Table({"START": start, "STOP": stop}), name="GTI")
    write_fits_atomic(fits.HDUList([primary, hdu, gti_hdu]), output)
    return {"nevents": int(values.sum())}


def _read_sparse(path):
    with fits.open(path, memmap=False) as hdulist:
        hdu = hdulist["SPARSE_COUNTS"]
        shape = tuple(int(n) for n in hdu.header["SHAPE"].split(","))
        return (
            np.asarray(hdu.data["INDEX"], np.int64),
            np.asarray(hdu.data["COUNTS"], np.int64),
            shape,
            hdulist[0].header.copy(),
        )


def coadd_counts(output, partials, gtis, component):
    """Sum the sparse counts partials of one component into its counts cube (gtbin format).

    Streams over the partials: memory is one dense cube plus one partial at a time.
    """

    geom = component_counts_geom(component)
    total = np.zeros(geom.data_shape, dtype=np.int32)  # gtbin's type; the cube is the largest array held
    flat = total.reshape(-1)
    primary = None
    for path in partials:
        idx, values, shape, header = _read_sparse(path)
        if shape != total.shape:
            raise ValueError(f"counts partial {path} has shape {shape}, expected {total.shape}")
        flat[idx] += values.astype(np.int32)  # indices are unique within a partial
        if primary is None:
            primary = header
    starts, stops = [], []
    for path in gtis:
        start, stop, _ = read_gti_partial(path)
        starts.append(start)
        stops.append(stop)

    start, stop = merge_intervals(np.concatenate(starts), np.concatenate(stops))
    write_counts_cube(output, geom, total, (start, stop), primary)
    return {"nevents": int(total.sum())}


# ---------------------------------------------------------------------------------- livetime
def make_livetime_partial(output, ft2, gti, nside, ncostheta, zmax):
    """Livetime cube of one time chunk (gtltcube with the chunk GTIs)."""

    start, stop, header = read_gti_partial(gti)
    spacecraft = read_spacecraft(ft2, time_range=(header["CHUNKMIN"], header["CHUNKMAX"]))
    cube = compute_livetime(spacecraft, (start, stop), nside=nside, nbins=ncostheta, zmax=zmax)
    cube.write(output)
    return {"ontime": float(np.sum(stop - start))}


def coadd_livetime(output, partials):
    """Sum livetime cubes of disjoint time chunks (gtltsum), streaming over the partials."""

    total = None
    for path in partials:
        cube = LivetimeCube.read(path)
        total = cube if total is None else total + cube
    total.write(output)
    return {"livetime_max_s": float(total.livetime.sum(axis=1).max().to_value("s"))}


# ---------------------------------------------------------------------------------- exposure
def make_exposure_tile(output, ltcube, component, irf_name, caldb, tile):
    """Exposure of one spatial tile of one component's exposure cube."""

    geom = exposure_tile_geom(component_exposure_geom(component), tile)
    exposure = compute_exposure(ltcube, irf_name, component, caldb, geom)
    data = np.asarray(exposure.quantity.to_value("cm2 s"))
    hdu = fits.ImageHDU(data, name="EXPOSURE_TILE")
    hdu.header["TILE0"], hdu.header["TILE1"] = int(tile[0]), int(tile[1])
    write_fits_atomic(fits.HDUList([fits.PrimaryHDU(), hdu]), output)
    return {"npix": int(data.size)}


def assemble_exposure(output, tiles, ltcube, component, irf_name):
    """Assemble the exposure tiles of one component into its exposure cube (gtexpcube2 format)."""

    geom = component_exposure_geom(component)
    data = np.zeros(geom.data_shape, dtype=np.float32)  # as make_exposure_map and gtexpcube2
    for path in tiles:
        with fits.open(path, memmap=False) as hdulist:
            hdu = hdulist["EXPOSURE_TILE"]
            tile = (hdu.header["TILE0"], hdu.header["TILE1"])
            data[tile_slice(geom, tile)] = hdu.data
    write_exposure_cube(output, geom, data, ltcube, component, irf_name)
    return {"exposure_max_cm2s": float(data.max())}


# ------------------------------------------------------------------------------ figures
def product_figures(kind, path):
    """The figures of a final product, as its step returned them, read back from the file.

    Used when a run finds the final products already made but not their figures (a run killed
    after computing them and before writing ``manifest.json``).
    """
    if kind == "ltcube":

        cube = LivetimeCube.read(path)
        return {"livetime_max_s": float(cube.livetime.sum(axis=1).max().to_value("s"))}

    data = np.asarray(Map.read(path).data)
    if kind == "ccube":
        return {"nevents": int(data.sum())}
    if kind == "bexpmap":
        return {"exposure_max_cm2s": float(data.max())}
    return {}
