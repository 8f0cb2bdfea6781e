"""LAT event-type bits, as in the Fermitools ``evtype`` parameter and the ``EVENT_TYPE`` column."""

__all__ = ["EVENT_TYPE_BITS", "EVENT_TYPE_PARTITIONS"]

#: Bit of each single event type.
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

#: The three event-type partitions; a selection must stay within one of them.
EVENT_TYPE_PARTITIONS = {
    "FB": ("FRONT", "BACK"),
    "PSF": ("PSF0", "PSF1", "PSF2", "PSF3"),
    "EDISP": ("EDISP0", "EDISP1", "EDISP2", "EDISP3"),
}
