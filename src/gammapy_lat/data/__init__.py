"""LAT data layer: FT1 events, FT2 spacecraft data, gtselect/gtmktime selections, GTIs, counts
binning and the LAT constants.

Observations (events + spacecraft rows + response settings) are in `gammapy_lat.observations`.
"""
import warnings

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


def __getattr__(name):
    # Deprecated aliases: LATObservation and LATDataStore carry their livetime cube and IRFs, so
    # they live above the livetime and irf layers, in gammapy_lat.observations.
    if name in ("LATObservation", "LATDataStore", "default_irf_name"):
        from .. import (
            observations,  # deferred: an upward reference, for this deprecated alias only
        )

        warnings.warn(
            f"gammapy_lat.data.{name} moved to gammapy_lat.observations.{name}; import it from there",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(observations, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
