"""LAT constants shared by every layer: the MET time reference, event classes and types, and the
default gtmktime filter.

This is the one place where these values are written down; every other module imports them.
"""
from astropy.time import Time

__all__ = [
    "MJDREFI",
    "MJDREFF",
    "MET_REFERENCE",
    "DEFAULT_FILTER",
    "EVENT_CLASSES",
    "EVENT_TYPE_BITS",
    "EVENT_TYPE_PARTITIONS",
    "EVENT_TYPES",
]

#: Integer part of the MJD (TT) of Fermi mission elapsed time (MET) 0: 2001-01-01T00:00:00 UTC.
MJDREFI = 51910
#: Fractional part of the MJD (TT) of MET 0.
MJDREFF = 7.428703703703703e-4
#: MET 0 as an `~astropy.time.Time` (TT); times in LAT files are seconds since this instant.
MET_REFERENCE = Time(MJDREFI, MJDREFF, format="mjd", scale="tt")

#: The good-time filter recommended by the FSSC for standard analyses (gtmktime ``filter``).
DEFAULT_FILTER = "(DATA_QUAL>0)&&(LAT_CONFIG==1)"

#: Pass 8 event-class bits, as used by the Fermitools ``evclass`` parameter.
EVENT_CLASSES = {
    "TRANSIENT020E": 8,
    "TRANSIENT020": 16,
    "TRANSIENT010E": 32,
    "TRANSIENT010": 64,
    "SOURCE": 128,
    "CLEAN": 256,
    "ULTRACLEAN": 512,
    "ULTRACLEANVETO": 1024,
    "SOURCEVETO": 2048,
    "ULTRACLEANVETO_ONLY": 4096,
    "TRANSIENT015S": 65536,
}

#: Bit of each single event type (Fermitools ``evtype`` parameter and ``EVENT_TYPE`` column).
EVENT_TYPE_BITS = {
    "FRONT": 1,
    "BACK": 2,
    "PSF0": 4,
    "PSF1": 8,
    "PSF2": 16,
    "PSF3": 32,
    "EDISP0": 64,
    "EDISP1": 128,
    "EDISP2": 256,
    "EDISP3": 512,
}

#: The three event-type partitions; every photon has exactly one type of each, so a selection
#: must stay within one of them.
EVENT_TYPE_PARTITIONS = {
    "FB": ("FRONT", "BACK"),
    "PSF": ("PSF0", "PSF1", "PSF2", "PSF3"),
    "EDISP": ("EDISP0", "EDISP1", "EDISP2", "EDISP3"),
}

#: Event-type names with their masks: the single types and the whole partitions.
EVENT_TYPES = dict(EVENT_TYPE_BITS)
EVENT_TYPES.update(
    {name: sum(EVENT_TYPE_BITS[t] for t in types) for name, types in EVENT_TYPE_PARTITIONS.items()}
)
