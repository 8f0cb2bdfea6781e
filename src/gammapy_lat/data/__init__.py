"""LAT data layer: FT1 events, FT2 spacecraft data, selections, observations and binning."""
from .binning import bin_events, make_counts_geom, read_counts_geom, write_counts_map
from .dss import DSSCut, DSSKeywords
from .ft1 import EVENT_CLASSES, EVENT_TYPES, LATEventList, evtype_mask, read_events
from .ft2 import SpacecraftData, read_spacecraft
from .paths import resolve_paths

__all__ = [
    "read_events",
    "LATEventList",
    "read_spacecraft",
    "SpacecraftData",
    "DSSKeywords",
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
