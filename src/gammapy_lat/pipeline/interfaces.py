"""The pipeline's calls into the data, livetime and IRF layers.

Kept in one module so that the steps read as the sequence of gtselect/gtmktime/gtbin/gtltcube/
gtexpcube2 operations they reproduce, each done by the layer that owns it.
"""
import numpy as np
from astropy.io import fits
from astropy.table import Table

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
    from ..data.gti import merge_intervals, normalize_time_keywords
    from ..errors import LATFileError

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
    from ..data import good_time_intervals

    return good_time_intervals(spacecraft, filter=expression)


def _component(component):
    from .config import ComponentConfig

    return component if isinstance(component, ComponentConfig) else ComponentConfig.model_validate(component)


def select_component_events(ft1, gti, component, evclass):
    """gtselect (event class and type, energy range, zenith cut) and GTI selection of one FT1 file."""
    from ..data import read_events

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
    """gtbin: the counts cube of ``events`` on ``geom``."""
    from ..data import bin_events

    return bin_events(events, geom)


def write_counts_cube(output, geom, data, gti, header):
    """Write a co-added counts cube in the gtbin format with its GTIs and selection keywords."""
    from gammapy.maps import Map

    from ..data import DSSKeywords, LATEventList
    from ..data.dss import DSSKeywords as _DSS  # noqa: F401  (same class, explicit origin)

    start, stop = gti
    header = fits.Header(header) if header is not None else fits.Header()
    if start.size:
        header["TSTART"] = float(start[0])
        header["TSTOP"] = float(stop[-1])
    table = Table({"TIME": np.zeros(0), "ENERGY": np.zeros(0), "RA": np.zeros(0), "DEC": np.zeros(0)})
    carrier = LATEventList(table, gti=(start, stop), header=header, dss=DSSKeywords.from_header(header))
    counts = Map.from_geom(geom, data=data.astype(np.int32, copy=False), unit="")
    from ..data import write_counts_map

    write_counts_map(counts, output, events=carrier)


def compute_livetime(spacecraft, gti, nside, nbins, zmax):
    """gtltcube over the intervals ``gti = (start, stop)`` (MET s)."""
    from ..data.gti import gti_from_met
    from ..livetime import LivetimeCube

    start, stop = gti
    # one process per chunk: the pipeline already runs chunks in parallel
    return LivetimeCube.compute(
        spacecraft, gti_from_met(start, stop, spacecraft.time_ref), nside=nside, nbins=nbins, zmax=zmax, n_jobs=1
    )


def compute_exposure(ltcube, irfs, component, caldb, geom):
    """gtexpcube2: exposure of ``geom`` from a livetime cube file and the component's event types."""
    from ..irf import LATIRFs, make_exposure_map
    from ..livetime import LivetimeCube

    component = _component(component)
    irf = LATIRFs.from_caldb(irfs, component.evtype_mask, caldb=caldb, psf=False, edisp=False)
    return make_exposure_map(LivetimeCube.read(ltcube), irf, geom)


def write_exposure_cube(output, geom, data, ltcube, component, irfs):
    """Write an exposure cube in the gtexpcube2 format (GTIs of the livetime cube)."""
    from gammapy.maps import Map

    from ..irf.io import write_exposure_cube as write_cube
    from ..livetime import LivetimeCube

    component = _component(component)
    exposure = Map.from_geom(geom, data=data.astype(np.float32, copy=False), unit="cm2 s")
    gti = LivetimeCube.read(ltcube).gti
    write_cube(exposure, output, gti=gti, irf_name=irfs, evtype=component.evtype_mask)


def caldb_index_file(caldb):
    """The ``caldb.indx`` of a CALDB (``$CALDB`` if None), or None if there is none."""
    from ..errors import CALDBError
    from ..irf import CALDB

    try:
        return CALDB(caldb).index_file
    except CALDBError:
        return None
