"""The pipeline's calls into the data, livetime, observation and maker layers.

Kept in one module so that the steps read as the sequence of gtselect/gtmktime/gtbin/gtltcube/
gtexpcube2 operations they reproduce, each done by the layer that owns it: counts and exposure
cubes are made by `~gammapy_lat.makers.LATMapDatasetMaker` from a
`~gammapy_lat.observations.LATObservation`, as for every other entry point.
"""
import numpy as np
from astropy.io import fits
from astropy.table import Table
from gammapy.maps import Map

from ..data import (
    DSSKeywords,
    LATEventList,
    good_time_intervals,
    read_events,
    write_counts_map,
)
from ..data.gti import gti_from_met, merge_intervals, met_from_gti, normalize_time_keywords
from ..errors import CALDBError, LATFileError
from ..irf import CALDB
from ..irf.io import write_exposure_cube as write_cube
from ..livetime import LivetimeCube
from ..makers import LATMapDatasetMaker
from ..observations import LATObservation
from .config import ComponentConfig

__all__ = [
    "ft1_gti",
    "mktime_intervals",
    "select_component_events",
    "bin_counts",
    "write_counts_cube",
    "compute_livetime",
    "compute_exposure",
    "write_exposure_cube",
    "caldb_index_file",
]

_STRUCTURAL_PREFIXES = (
    "XTENSION", "BITPIX", "NAXIS", "PCOUNT", "GCOUNT", "TFIELDS", "TTYPE", "TFORM", "TUNIT", "TDIM",
    "TNULL", "TSCAL", "TZERO", "TDISP", "TLMIN", "TLMAX", "EXTNAME", "CHECKSUM", "DATASUM", "SIMPLE",
    "EXTEND", "HISTORY", "COMMENT",
)  # fmt: skip


def header_cards(header):
    """The descriptive cards of a header (no structural or column keywords)."""
    out = fits.Header()
    for card in header.cards:
        if card.keyword and not card.keyword.startswith(_STRUCTURAL_PREFIXES):
            out.append(card, end=True)
    return out


def ft1_gti(path):
    """``(start, stop, events header)`` of an FT1 file's good time intervals (merged, MET s)."""

    try:
        with fits.open(path, memmap=False) as hdulist:
            gti = hdulist["GTI"].data
            header = normalize_time_keywords(hdulist["EVENTS"].header, f"FT1 file {path}")
            start, stop = merge_intervals(gti["START"], gti["STOP"])
    except KeyError as exc:
        raise LATFileError(f"FT1 file {path} lacks the EVENTS or GTI extension") from exc
    return start, stop, header


def mktime_intervals(spacecraft, expression):
    """Intervals (MET arrays) of the spacecraft rows passing a gtmktime filter (``roicut=no``)."""

    return good_time_intervals(spacecraft, filter=expression)


def _component(component):
    return component if isinstance(component, ComponentConfig) else ComponentConfig.model_validate(component)


def select_component_events(ft1, gti, component, evclass):
    """gtselect (event class and type, energy range, zenith cut) and GTI selection of one FT1 file."""

    component = _component(component)
    edges = component.energy.edges
    events = read_events(ft1).select(
        evclass=evclass,
        evtype=component.evtype_mask,
        emin=edges[0],
        emax=edges[-1],
        zmax=component.zmax,
        allow_empty=True,
    )
    return events.select_gti(gti, allow_empty=True)


def bin_counts(events, geom):
    """gtbin: the counts cube of ``events`` on ``geom`` (`~gammapy_lat.makers.LATMapDatasetMaker`)."""
    observation = LATObservation(events, check_selection=False)
    return LATMapDatasetMaker(selection=["counts"]).make_counts(geom, observation)


def write_counts_cube(output, geom, data, gti, header):
    """Write a co-added counts cube in the gtbin format with its GTIs and selection keywords."""

    start, stop = gti
    header = fits.Header(header) if header is not None else fits.Header()
    if start.size:
        header["TSTART"] = float(start[0])
        header["TSTOP"] = float(stop[-1])
    table = Table({"TIME": np.zeros(0), "ENERGY": np.zeros(0), "RA": np.zeros(0), "DEC": np.zeros(0)})
    carrier = LATEventList(table, gti=(start, stop), header=header, dss=DSSKeywords.from_header(header))
    counts = Map.from_geom(geom, data=data.astype(np.int32, copy=False), unit="")

    write_counts_map(counts, output, events=carrier)


def compute_livetime(spacecraft, gti, nside, nbins, zmax):
    """gtltcube over the intervals ``gti = (start, stop)`` (MET s)."""

    start, stop = gti
    # one process per chunk: the pipeline already runs chunks in parallel
    return LivetimeCube.compute(
        spacecraft, gti_from_met(start, stop, spacecraft.time_ref), nside=nside, nbins=nbins, zmax=zmax, n_jobs=1
    )


def compute_exposure(ltcube, irf_name, component, caldb, geom):
    """gtexpcube2: exposure of ``geom`` from a livetime cube file and the component's event types."""

    component = _component(component)
    cube = LivetimeCube.read(ltcube)
    # the observation of the livetime cube's time range, with the component's response settings
    start, stop = met_from_gti(cube.gti, cube.gti.time_ref)
    empty = Table({"TIME": np.zeros(0), "ENERGY": np.zeros(0), "RA": np.zeros(0), "DEC": np.zeros(0)})
    observation = LATObservation(
        LATEventList(empty, gti=(start, stop)), irf_name=irf_name, evtype=component.evtype_mask, caldb=caldb,
        ltcube=cube, check_selection=False,
    )
    return LATMapDatasetMaker(selection=["exposure"]).make_exposure(geom, observation)


def write_exposure_cube(output, geom, data, ltcube, component, irf_name):
    """Write an exposure cube in the gtexpcube2 format (GTIs of the livetime cube)."""


    component = _component(component)
    exposure = Map.from_geom(geom, data=data.astype(np.float32, copy=False), unit="cm2 s")
    gti = LivetimeCube.read(ltcube).gti
    write_cube(exposure, output, gti=gti, irf_name=irf_name, evtype=component.evtype_mask)


def caldb_index_file(caldb):
    """The ``caldb.indx`` of a CALDB (``$CALDB`` if None), or None if there is none."""

    try:
        return CALDB(caldb).index_file
    except CALDBError:
        return None
