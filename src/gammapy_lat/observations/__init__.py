"""LAT observations and the store of LAT files they come from.

A `LATObservation` is the events, GTIs and spacecraft rows of one time chunk together with its
response settings (IRF name, event class and types, zenith cut, CALDB), from which it derives its
livetime cube and CALDB IRFs once; `LATDataStore` indexes many FT1/FT2 files by time and hands out
observations per file, per time chunk or for a whole range, with a gtselect/gtmktime selection.
"""
from .datastore import LATDataStore
from .observation import LATObservation, default_irf_name

__all__ = ["LATObservation", "LATDataStore", "default_irf_name"]
