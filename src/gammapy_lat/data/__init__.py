"""LAT data layer: FT1 events, FT2 spacecraft data, selections, observations and binning."""
from .binning import bin_events, make_counts_geom, read_counts_geom, write_counts_map
from .dss import DSSCut, DSSKeywords
from .constants import DEFAULT_FILTER, EVENT_CLASSES, EVENT_TYPES, MET_REFERENCE
from .evtypes import evclass_mask, evtype_mask, evtype_names
from .ft1 import LATEventList, read_events
from .filter import FilterExpression, parse_filter
from .ft2 import SpacecraftData, read_spacecraft
from .gti import met_to_time, time_to_met
from .mktime import good_time_intervals, make_gti, mktime
from .observation import LATDataStore, LATObservation, default_irf_name
from .paths import resolve_paths

__all__ = [
    "read_events",
    "LATEventList",
    "read_spacecraft",
    "SpacecraftData",
    "DSSKeywords",
    "parse_filter",
    "FilterExpression",
    "LATObservation",
    "LATDataStore",
    "default_irf_name",
    "mktime",
    "make_gti",
    "good_time_intervals",
    "DEFAULT_FILTER",
    "DSSCut",
    "bin_events",
    "make_counts_geom",
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
