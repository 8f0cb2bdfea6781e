"""Event-class and event-type conventions of the LAT data passes (Pass 6, Pass 7, Pass 8).

The meaning of the ``EVENT_CLASS`` column, of the ``evclass`` selection and of the DSS keyword
recording it changed between passes (as in the Fermitools' ``dataSubselector``):

=========  ====================  =============================  =================================
pass       ``PASS_VER``          ``EVENT_CLASS`` column         ``evclass`` and its DSS keyword
=========  ====================  =============================  =================================
Pass 6     ``NONE`` (or absent)  integer class value 0..4       range of class values,
                                 (3 DIFFUSE, 4 DATACLEAN)       ``EVENT_CLASS`` = ``3:4``
Pass 7     ``P7V6``, ``P7REP``   bit field, bit n = class n     bit *index* n (2 SOURCE),
                                                                ``BIT_MASK(EVENT_CLASS,2)``
Pass 8     ``P8R2``, ``P8R3``    bit field                      bit *mask* (128 SOURCE),
                                                                ``BIT_MASK(EVENT_CLASS,128,P8R3)``
=========  ====================  =============================  =================================

Before Pass 8 there is no ``EVENT_TYPE`` column: the conversion type (``CONVERSION_TYPE``, 0
FRONT, 1 BACK) is the only event type, selected with ``convtype`` and recorded as a
``CONVERSION_TYPE`` range.

The pass of a file is read from ``PASS_VER``, and where it is absent from its DSS keywords (an
``EVENT_CLASS`` range cut is Pass 6, a ``BIT_MASK(EVENT_CLASS,n)`` without a pass version Pass 7);
files with neither follow Pass 8.
"""
import re

from .constants import EVENT_CLASSES

__all__ = [
    "PASS6",
    "PASS7",
    "PASS8",
    "PASS_EVENT_CLASSES",
    "event_class_convention",
    "evclass_value",
    "default_irf_name",
    "irf_pass_and_class",
    "irf_mismatch",
]

PASS6, PASS7, PASS8 = "P6", "P7", "P8"

#: ``PASS_VER`` values of files whose ``EVENT_CLASS`` bits are indexed by class (Pass 7), as the
#: Fermitools' ``BitMaskCut::post_P7`` list.
_PASS7_VERSIONS = ("P7V6", "P7REP", "P8R0")
_PASS6_VERSIONS = ("", "NONE", "P6")

#: Event classes of each pass: Pass 6 class values, Pass 7 bit indices, Pass 8 bit masks.
PASS_EVENT_CLASSES = {
    PASS6: {"TRANSIENT": 1, "SOURCE": 2, "DIFFUSE": 3, "DATACLEAN": 4},
    PASS7: {"TRANSIENT": 0, "SOURCE": 2, "CLEAN": 3, "ULTRACLEAN": 4},
    PASS8: dict(EVENT_CLASSES),
}

#: Largest Pass 6 class value, the default upper end of a class-range selection (gtselect's
#: ``evclsmax``).
PASS6_MAX_CLASS = 10

#: IRF names for (pass version, class): Pass 6 and 7 versions as distributed with the data.
_IRF_VERSION = {"P8R2": "V6", "P8R3": "V3", "P7V6": "V6", "P7REP": "V15", "P6": "V3"}
_IRF_PREFIX = {"P8R2": "P8R2_", "P8R3": "P8R3_", "P7V6": "P7", "P7REP": "P7REP_"}


def _is_indef(value):
    return isinstance(value, str) and value.strip().upper() in ("INDEF", "NONE", "")


def event_class_convention(pass_ver, dss=None):
    """The pass whose ``EVENT_CLASS`` convention a file follows: ``"P6"``, ``"P7"`` or ``"P8"``.

    Parameters
    ----------
    pass_ver : str or None
        ``PASS_VER`` header value (None when the keyword is absent).
    dss : `~gammapy_lat.data.DSSKeywords`, optional
        DSS keywords, used when ``PASS_VER`` is absent.
    """
    if pass_ver is not None:
        text = str(pass_ver).strip().upper()
        if text in _PASS6_VERSIONS:
            return PASS6
        if text in _PASS7_VERSIONS or text.startswith("P7"):
            return PASS7
        return PASS8
    if dss is not None:
        for cut in dss:
            if cut.kind == "range" and cut.column == "EVENT_CLASS":
                return PASS6
            if cut.kind == "bitmask" and cut.column == "EVENT_CLASS":
                version = cut.bitmask[2]
                if version is None or version.upper() in _PASS7_VERSIONS or version.upper() in _PASS6_VERSIONS:
                    return PASS7
                return PASS8
    return PASS8


def evclass_value(evclass, convention):
    """The ``evclass`` of a selection in the convention of a pass.

    Parameters
    ----------
    evclass : int, str or None
        Number (Pass 6 class value, Pass 7 bit index, Pass 8 bit mask), class name of the pass
        (``"DIFFUSE"``, ``"SOURCE"``...), or ``None``/``"INDEF"`` for no selection.
    convention : {"P6", "P7", "P8"}
        Pass convention of the data.

    Returns
    -------
    value : int or None

    Raises
    ------
    ValueError
        Unknown name for that pass.
    """
    if evclass is None or _is_indef(evclass):
        return None
    if isinstance(evclass, str):
        name = evclass.strip().upper()
        if re.fullmatch(r"\d+", name):
            return int(name)
        classes = PASS_EVENT_CLASSES[convention]
        if name not in classes:
            raise ValueError(
                f"Unknown event class {evclass!r} for {convention} data; known: {', '.join(classes)}"
            )
        return classes[name]
    return int(evclass)


def irf_pass_and_class(irf_name):
    """``(convention, class name)`` of an IRF name, e.g. ``("P8", "SOURCE")`` for ``P8R3_SOURCE_V3``.

    Either may be None when the name does not say.
    """
    text = str(irf_name).strip().upper()
    match = re.fullmatch(r"(P8R\d)_([A-Z0-9]+(?:_ONLY)?)_V\d+", text)
    if match:
        return PASS8, match.group(2)
    match = re.fullmatch(r"P7(?:REP_)?([A-Z]+)_V\d+", text)
    if match:
        return PASS7, match.group(1)
    match = re.fullmatch(r"P6_V\d+_([A-Z]+)", text)
    if match:
        return PASS6, match.group(1)
    return None, None


def default_irf_name(pass_ver, evclass, dss=None):
    """IRF name for a pass version and event class.

    ``("P8R3", 128) -> "P8R3_SOURCE_V3"``, ``("P7REP", 2) -> "P7REP_SOURCE_V15"``,
    ``("P7V6", 2) -> "P7SOURCE_V6"``, ``("NONE", 3) -> "P6_V3_DIFFUSE"`` (Pass 6: the lowest class
    value of the selected range). Returns None when it cannot be determined.
    """
    if evclass is None:
        return None
    convention = event_class_convention(pass_ver, dss)
    if convention == PASS6:
        version = "P6"
    elif pass_ver is None:
        return None
    else:
        version = str(pass_ver).strip().upper()
    names = [name for name, value in PASS_EVENT_CLASSES[convention].items() if value == int(evclass)]
    if not names or version not in _IRF_VERSION:
        return None
    if convention == PASS6:
        return f"P6_{_IRF_VERSION[version]}_{names[0]}"
    return f"{_IRF_PREFIX[version]}{names[0]}_{_IRF_VERSION[version]}"


def irf_mismatch(irf_name, pass_ver, evclass, dss=None):
    """Why an IRF does not go with events of a pass and event class, or None if it does.

    Only what the names tell is compared: the pass (6, 7 or 8) and the event class. Analysing
    data with the IRFs of another pass or class gives wrong exposures, but is sometimes done on
    purpose (e.g. ``P8R2`` data with ``P8R3`` IRFs), hence a message rather than an error.
    """
    irf_convention, irf_class = irf_pass_and_class(irf_name)
    if irf_convention is None:
        return None
    convention = event_class_convention(pass_ver, dss)
    if irf_convention != convention:
        return f"IRF {irf_name} is a {irf_convention} IRF but the events are {convention} data (PASS_VER={pass_ver})"
    if evclass is None or irf_class is None:
        return None
    value = PASS_EVENT_CLASSES[convention].get(irf_class)
    if value is not None and int(evclass) != value:
        names = [k for k, v in PASS_EVENT_CLASSES[convention].items() if v == int(evclass)]
        return (
            f"IRF {irf_name} is for event class {irf_class} ({value}) but the events were selected with "
            f"event class {int(evclass)} ({names[0] if names else 'unknown'})"
        )
    return None
