"""LAT data layer: FT1 events, FT2 spacecraft data, selections, observations and binning."""
from .binning import bin_events, make_counts_geom, read_counts_geom, write_counts_map
from .dss import DSSCut, DSSKeywords
from .ft1 import EVENT_CLASSES, EVENT_TYPES, LATEventList, evtype_mask, read_events
from .filter import FilterExpression, parse_filter
from .ft2 import SpacecraftData, read_spacecraft
from .mktime import DEFAULT_FILTER, good_time_intervals, make_gti, mktime
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
    "EVENT_TYPES",
    "EVENT_CLASSES",
    "resolve_paths",
]
