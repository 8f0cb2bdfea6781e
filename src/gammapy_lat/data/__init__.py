"""LAT data layer: FT1 events, FT2 spacecraft data, gtselect/gtmktime selections, GTIs, counts
binning and the LAT constants.

Observations (events + spacecraft rows + response settings) are in `gammapy_lat.observations`.
"""
from ..utils.deprecation import moved_names
from .binning import bin_events, make_counts_geom, make_energy_axis, read_counts_geom, write_counts_map
from .constants import DEFAULT_FILTER, EVENT_CLASSES, EVENT_TYPES, MET_REFERENCE
from .dss import DSSCut, DSSKeywords
from .evtypes import evclass_mask, evtype_mask, evtype_names
from .filter import FilterExpression, parse_filter
from .ft1 import LATEventList, read_events
from .ft2 import SpacecraftData, read_spacecraft
from .gti import met_to_time, time_to_met
from .mktime import good_time_intervals, make_gti, mktime
from .paths import resolve_paths

__all__ = [
    "read_events",
    "LATEventList",
    "read_spacecraft",
    "SpacecraftData",
    "DSSKeywords",
    "parse_filter",
    "FilterExpression",
    "mktime",
    "make_gti",
    "good_time_intervals",
    "DEFAULT_FILTER",
    "DSSCut",
    "bin_events",
    "make_counts_geom",
    "make_energy_axis",
    "read_counts_geom",
    "write_counts_map",
    "evtype_mask",
    "evtype_names",
    "evclass_mask",
    "MET_REFERENCE",
    "met_to_time",
    "time_to_met",
    "EVENT_TYPES",
    "EVENT_CLASSES",
    "resolve_paths",
]


# Deprecated aliases: LATObservation and LATDataStore carry their livetime cube and IRFs, so they
# live above the livetime and irf layers, in gammapy_lat.observations.
__getattr__ = moved_names(__name__, ("LATObservation", "LATDataStore", "default_irf_name"), "gammapy_lat.observations")
