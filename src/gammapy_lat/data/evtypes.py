"""The one grammar of LAT event-type and event-class selections.

Used by the event selection, the CALDB look-up, the makers and every config, so that ``3``,
``"FB"``, ``"FRONT+BACK"``, ``["FRONT", "BACK"]`` and ``"3"`` mean the same everywhere.
"""
import re
from typing import Annotated, Optional

import numpy as np
from pydantic import BeforeValidator

from ..errors import SelectionError
from .constants import (
    EVENT_TYPE_BITS,
    EVENT_TYPE_PARTITIONS,
    EVENT_TYPES,
)
from .passes import PASS8, evclass_value

__all__ = [
    "EVENT_TYPE_BITS",
    "EVENT_TYPE_PARTITIONS",
    "EVENT_TYPES",
    "evtype_mask",
    "evtype_names",
    "evclass_mask",
    "validate_evtype",
    "validate_evclass",
    "EvtypeField",
    "EvclassField",
]

_ALIASES = {"FRONT+BACK": 3, "FRONTBACK": 3}
_ALL_BITS = sum(EVENT_TYPE_BITS.values())


def evtype_mask(evtype, error=SelectionError):
    """Event-type bit mask from an int, a name, names joined by ``+``/``,`` or a list of them.

    Parameters
    ----------
    evtype : int, str, sequence or None
        Fermitools bit mask (``3``, ``60``, ``4``...), a name (``"FRONT"``, ``"PSF3"``, ``"FB"``,
        ``"PSF"``, ``"EDISP"``), names joined with ``+`` or ``,`` (``"PSF2+PSF3"``), a string
        holding an integer (``"3"``), or a sequence of any of these. None gives None.
    error : type, optional
        Exception class raised on invalid input (default `~gammapy_lat.errors.SelectionError`).

    Returns
    -------
    mask : int or None

    Examples
    --------
    >>> evtype_mask(["FRONT", "BACK"])
    3
    >>> evtype_mask("PSF")
    60
    >>> evtype_mask("PSF2+PSF3")
    48
    """
    if evtype is None:
        return None
    if isinstance(evtype, (bool, np.bool_)):
        raise error(f"Invalid event-type selection {evtype!r}")
    if isinstance(evtype, (int, np.integer)):
        return int(evtype)
    if isinstance(evtype, str):
        text = evtype.strip().upper()
        if re.fullmatch(r"\d+", text):
            return int(text)
        if text in _ALIASES:
            return _ALIASES[text]
        parts = [p for p in re.split(r"[+,\s|]+", text) if p]
        if len(parts) > 1:
            return _or_masks(parts, evtype, error)
        if text in EVENT_TYPES:
            return EVENT_TYPES[text]
        raise error(
            f"Unknown event type {evtype!r}; valid names: {', '.join(EVENT_TYPES)} "
            "(or an integer bit mask)"
        )
    try:
        items = list(evtype)
    except TypeError:
        raise error(f"Invalid event-type selection {evtype!r}") from None
    return _or_masks(items, evtype, error)


def _or_masks(items, original, error):
    if not items:
        raise error(f"Event-type selection {original!r} is empty")
    mask = 0
    for item in items:
        mask |= evtype_mask(item, error=error)
    return mask


def evtype_names(evtype, error=SelectionError):
    """Names of the single event types of a selection, checked to lie within one partition.

    Parameters
    ----------
    evtype : int, str or sequence
        Any form accepted by `evtype_mask`.
    error : type, optional
        Exception class raised on invalid input.

    Returns
    -------
    names : list of str
        Event-type names in bit order.

    Raises
    ------
    error
        If the selection is empty, has unknown bits or mixes partitions (e.g. ``FRONT`` with
        ``PSF0``, which would count photons twice).
    """
    mask = evtype_mask(evtype, error=error)
    if mask is None or mask <= 0:
        raise error(f"Event-type selection {evtype!r} selects no event type")
    unknown = mask & ~_ALL_BITS
    if unknown:
        raise error(
            f"Event-type mask {mask} has unknown bits {unknown}; valid bits: "
            + ", ".join(f"{k}={v}" for k, v in EVENT_TYPE_BITS.items())
        )
    names = [name for name, bit in EVENT_TYPE_BITS.items() if mask & bit]
    partitions = {p for p, members in EVENT_TYPE_PARTITIONS.items() for n in names if n in members}
    if len(partitions) > 1:
        raise error(
            f"Event-type selection {evtype!r} (mask {mask}) mixes the partitions "
            f"{sorted(partitions)}; each photon belongs to one type of every partition, so select "
            "types from one partition only (FRONT/BACK, PSF0-3 or EDISP0-3)"
        )
    return names


def evclass_mask(evclass, error=SelectionError):
    """Pass 8 event-class bit mask from an int, a class name (``"SOURCE"``) or a string integer.

    None and ``"INDEF"`` give None (no cut). Other passes: `gammapy_lat.data.passes.evclass_value`.
    """
    try:
        return evclass_value(evclass, PASS8)
    except ValueError as exc:
        raise error(str(exc)) from None


def validate_evtype(value):
    """Validator of configuration ``evtype`` fields: any form of `evtype_mask`, as an int.

    Raises
    ------
    ValueError
        For an unknown name, an empty selection or a mask outside the Pass 8 bits (pydantic
        reports it with the key).
    """
    if isinstance(value, str) and value.strip().upper() == "INDEF":
        return None
    mask = evtype_mask(value, error=ValueError)
    if mask is None or not 0 < mask <= _ALL_BITS:
        raise ValueError(f"event-type mask {value!r} out of range 1..{_ALL_BITS}")
    return mask


def validate_evclass(value):
    """Validator of configuration ``evclass`` fields: a class number (Pass 8 bit mask, Pass 7 bit
    index, Pass 6 class value) or a Pass 8 class name, as an int; ``INDEF`` is None (no cut)."""
    bit = evclass_mask(value, error=ValueError)
    if bit is not None and bit < 0:
        raise ValueError(f"event class {value!r} must not be negative")
    return bit


#: Configuration field type of an event-type selection (any form of `evtype_mask`, stored as int).
EvtypeField = Annotated[Optional[int], BeforeValidator(validate_evtype)]
#: Configuration field type of an event class (a bit or a class name, stored as int).
EvclassField = Annotated[Optional[int], BeforeValidator(validate_evclass)]
