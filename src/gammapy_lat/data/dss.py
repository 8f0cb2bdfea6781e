"""Data sub-space (DSS) keywords.

The Fermitools record every selection applied to a LAT data product in the header as numbered
``DSTYPn`` (what was cut), ``DSUNIn`` (unit), ``DSVALn`` (the cut) and optional ``DSREFn``
(reference to another extension, e.g. ``:GTI``) keywords, with ``NDSKEYS`` giving their number.
The likelihood tools read them back to know the event class, event types, energy range, region
and time selection of the data. :class:`DSSKeywords` parses, edits and writes them.
"""
import logging
import math
import re
from dataclasses import dataclass

from astropy.coordinates import angular_separation

from ..errors import LATDataError

__all__ = ["DSSKeywords", "DSSCut"]

log = logging.getLogger(__name__)

_INDEXED = re.compile(r"^DS(TYP|UNI|VAL|REF)(\d+)$")
_BITMASK = re.compile(r"^BIT_MASK\(\s*(\w+)\s*,\s*(\d+)\s*(?:,\s*(\w+)\s*)?\)$", re.IGNORECASE)
_CIRCLE = re.compile(r"^CIRCLE\(([^,]+),([^,]+),([^,)]+)\)$", re.IGNORECASE)


def _fmt(value):
    """Format a number the way the Fermitools write DSS values (shortest round-trip form)."""
    value = float(value)
    if math.isinf(value):
        return ""
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


@dataclass
class DSSCut:
    """One data sub-space cut (``DSTYPn``/``DSUNIn``/``DSVALn``/``DSREFn``)."""

    type: str
    unit: str
    value: str
    ref: str = None

    @property
    def kind(self):
        """``"range"``, ``"cone"``, ``"bitmask"``, ``"gti"`` or ``"other"``."""
        if _BITMASK.match(self.type):
            return "bitmask"
        if self.type.upper().startswith("POS(") and _CIRCLE.match(self.value.replace(" ", "")):
            return "cone"
        if self.value.strip().upper() == "TABLE":
            return "gti"
        if ":" in self.value:
            return "range"
        return "other"

    @property
    def range(self):
        """``(low, high)`` of a range cut as floats (an empty side is infinite)."""
        if self.kind != "range":
            raise LATDataError(f"DSS cut {self.type}={self.value!r} is not a range cut")
        low, high = self.value.split(":", 1)
        low = float(low) if low.strip() else -math.inf
        high = float(high) if high.strip() else math.inf
        return low, high

    @property
    def cone(self):
        """``(lon, lat, radius)`` in degrees of a ``CIRCLE`` cut."""
        match = _CIRCLE.match(self.value.replace(" ", ""))
        if match is None:
            raise LATDataError(f"DSS cut {self.type}={self.value!r} is not a CIRCLE cut")
        return tuple(float(v) for v in match.groups())

    @property
    def bitmask(self):
        """``(column, mask, pass_version)`` of a ``BIT_MASK`` cut."""
        match = _BITMASK.match(self.type)
        if match is None:
            raise LATDataError(f"DSS cut {self.type} is not a BIT_MASK cut")
        column, mask, pass_ver = match.groups()
        return column.upper(), int(mask), pass_ver

    @property
    def column(self):
        """The column (or ``POS(RA,DEC)``) the cut applies to."""
        if self.kind == "bitmask":
            return self.bitmask[0]
        return self.type.upper()


class DSSKeywords:
    """Ordered set of data sub-space cuts.

    Parameters
    ----------
    cuts : list of `DSSCut`, optional
        The cuts in header order.

    Examples
    --------
    >>> from gammapy_lat.data import DSSKeywords
    >>> dss = DSSKeywords()
    >>> dss.add_range("ENERGY", "MeV", 100, 1000)
    >>> dss.energy_range
    (100.0, 1000.0)
    """

    def __init__(self, cuts=None):
        self.cuts = list(cuts or [])

    # ----------------------------------------------------------------------------------- I/O
    @classmethod
    def from_header(cls, header):
        """Parse the DSS keywords of a FITS header (or dict-like)."""
        found = {}
        for key in header.keys():
            match = _INDEXED.match(str(key).upper())
            if match:
                found.setdefault(int(match.group(2)), {})[match.group(1)] = str(header[key]).strip()
        cuts = []
        for idx in sorted(found):
            entry = found[idx]
            if "TYP" not in entry:
                continue
            cuts.append(
                DSSCut(
                    type=entry["TYP"],
                    unit=entry.get("UNI", ""),
                    value=entry.get("VAL", ""),
                    ref=entry.get("REF"),
                )
            )
        return cls(cuts)

    def to_header(self, header):
        """Write the cuts into ``header`` in place, replacing any previous DSS keywords.

        Parameters
        ----------
        header : `~astropy.io.fits.Header`
            Header to update.

        Returns
        -------
        header : `~astropy.io.fits.Header`
            The same header.
        """
        for key in list(header.keys()):
            if _INDEXED.match(str(key).upper()) or str(key).upper() == "NDSKEYS":
                del header[key]
        header["NDSKEYS"] = len(self.cuts)
        for idx, cut in enumerate(self.cuts, start=1):
            header[f"DSTYP{idx}"] = cut.type
            header[f"DSUNI{idx}"] = cut.unit
            header[f"DSVAL{idx}"] = cut.value
            if cut.ref:
                header[f"DSREF{idx}"] = cut.ref
        return header

    def copy(self):
        """Independent copy."""
        return DSSKeywords([DSSCut(c.type, c.unit, c.value, c.ref) for c in self.cuts])

    def __len__(self):
        return len(self.cuts)

    def __iter__(self):
        return iter(self.cuts)

    def __eq__(self, other):
        if not isinstance(other, DSSKeywords):
            return NotImplemented
        return self.cuts == other.cuts

    def __repr__(self):
        lines = [f"{type(self).__name__}("]
        for idx, cut in enumerate(self.cuts, start=1):
            ref = f" [{cut.ref}]" if cut.ref else ""
            lines.append(f"  {idx}: {cut.type} = {cut.value} ({cut.unit}){ref}")
        lines.append(")")
        return "\n".join(lines)

    # ----------------------------------------------------------------------------- editing
    def _find(self, column, kind):
        return [c for c in self.cuts if c.kind == kind and c.column == column.upper()]

    def add_range(self, column, unit, low, high):
        """Add a range cut ``low < column <= high``, intersecting with an existing one.

        Parameters
        ----------
        column : str
            Column name, e.g. ``ENERGY``, ``TIME``, ``ZENITH_ANGLE``.
        unit : str
            Unit written in ``DSUNIn``.
        low, high : float or None
            Limits; None leaves a side open (or keeps the existing limit).
        """
        low = -math.inf if low is None else float(low)
        high = math.inf if high is None else float(high)
        existing = self._find(column, "range")
        if existing:
            old_low, old_high = existing[0].range
            low, high = max(low, old_low), min(high, old_high)
            for cut in existing[1:]:
                self.cuts.remove(cut)
            target = existing[0]
        else:
            target = DSSCut(type=column.upper(), unit=unit, value="")
            self.cuts.append(target)
        if low > high:
            raise LATDataError(f"DSS range cut on {column} is empty: {low}:{high}")
        target.value = f"{_fmt(low)}:{_fmt(high)}"

    def add_cone(self, ra, dec, radius):
        """Add a ``POS(RA,DEC)`` ``CIRCLE`` cut (degrees).

        An existing cone that contains the new one is replaced by it; otherwise both are kept
        (both selections apply to the events).
        """
        value = f"CIRCLE({_fmt(ra)},{_fmt(dec)},{_fmt(radius)})"
        for cut in self._find("POS(RA,DEC)", "cone"):
            c_ra, c_dec, c_rad = cut.cone
            sep = _angsep(c_ra, c_dec, ra, dec)
            if sep + radius <= c_rad + 1e-9:
                cut.value = value
                return
            if _angsep(ra, dec, c_ra, c_dec) + c_rad <= radius + 1e-9:
                return  # new cone contains the existing one: nothing changes
        self.cuts.append(DSSCut(type="POS(RA,DEC)", unit="deg", value=value))

    def add_bitmask(self, column, mask, pass_ver="P8R3"):
        """Add a ``BIT_MASK(column,mask,pass)`` cut (value ``1:1``), as gtselect does.

        For Pass 7 event classes ``mask`` is the bit index and ``pass_ver`` may be None (the
        keyword is then ``BIT_MASK(EVENT_CLASS,2)``, as older gtselect versions wrote it).

        An existing cut on the same column is replaced in place (the Fermitools keep one event
        class and one event type selection). For ``EVENT_TYPE`` the new mask must be reachable from
        the existing one: any mask if the existing one keeps a whole partition (FRONT/BACK = 3,
        PSF0..3 = 60, EDISP0..3 = 960), otherwise only a subset of it (PSF3 data cannot become
        FRONT data).

        Raises
        ------
        gammapy_lat.errors.LATDataError
            The event-type selection is inconsistent with the existing one.
        """
        mask = int(mask)
        column = column.upper()
        existing = self._find(column, "bitmask")
        version = f",{pass_ver}" if pass_ver else ""
        new = DSSCut(type=f"BIT_MASK({column},{mask}{version})", unit="DIMENSIONLESS", value="1:1")
        if not existing:
            self.cuts.append(new)
            return
        current = existing[-1]
        old_mask = current.bitmask[1]
        if column == "EVENT_TYPE":
            partitions = (3, 60, 960)
            if not any((old_mask & p) == p for p in partitions) and (mask & ~old_mask):
                raise LATDataError(
                    f"The requested evtype selection {new.type} is inconsistent with the existing "
                    f"evtype selection {current.type}"
                )
        elif mask != old_mask:
            log.warning("Replacing the event selection %s with %s", current.type, new.type)
        index = self.cuts.index(current)
        self.cuts[index] = new
        for cut in existing[:-1]:
            self.cuts.remove(cut)

    def ensure_gti(self):
        """Make sure the ``TIME`` ``TABLE`` cut referencing ``:GTI`` is present."""
        if not any(c.kind == "gti" for c in self.cuts):
            self.cuts.insert(0, DSSCut(type="TIME", unit="s", value="TABLE", ref=":GTI"))

    # ----------------------------------------------------------------------------- queries
    def _range_of(self, column):
        cuts = self._find(column, "range")
        if not cuts:
            return None
        low, high = -math.inf, math.inf
        for cut in cuts:
            lo, hi = cut.range
            low, high = max(low, lo), min(high, hi)
        return low, high

    @property
    def energy_range(self):
        """``(emin, emax)`` in MeV, or None."""
        return self._range_of("ENERGY")

    @property
    def zenith_range(self):
        """``(zmin, zmax)`` in degrees, or None."""
        return self._range_of("ZENITH_ANGLE")

    @property
    def time_range(self):
        """``(tmin, tmax)`` MET range cut in seconds, or None."""
        return self._range_of("TIME")

    @property
    def event_class_range(self):
        """``(min, max)`` class values of a Pass 6 ``EVENT_CLASS`` range cut, or None."""
        return self._range_of("EVENT_CLASS")

    @property
    def conversion_type_range(self):
        """``(min, max)`` of a ``CONVERSION_TYPE`` range cut (0 FRONT, 1 BACK), or None."""
        return self._range_of("CONVERSION_TYPE")

    @property
    def cone(self):
        """``(ra, dec, radius)`` of the (last) ``CIRCLE`` cut in degrees, or None."""
        cuts = self._find("POS(RA,DEC)", "cone")
        return cuts[-1].cone if cuts else None

    def _mask(self, column):
        cuts = self._find(column, "bitmask")
        return cuts[-1].bitmask[1] if cuts else None

    @property
    def evclass(self):
        """Event-class bit mask (e.g. 128 for SOURCE), or None."""
        return self._mask("EVENT_CLASS")

    @property
    def evtype(self):
        """Event-type bit mask (e.g. 3 for FRONT+BACK), or None.

        When several ``EVENT_TYPE`` cuts were applied one after the other (e.g. ``evtype=3`` by
        the data server, then ``evtype=32`` by the user), a cut that keeps a whole partition
        (FRONT/BACK = 3, PSF0..3 = 60, EDISP0..3 = 960) removes no event and the other cut is the
        effective one.
        """
        cuts = self._find("EVENT_TYPE", "bitmask")
        masks = [c.bitmask[1] for c in cuts]
        if not masks:
            return None
        partitions = (3, 60, 960)
        effective = [m for m in masks if not any((m & p) == p for p in partitions)]
        return effective[-1] if effective else masks[-1]

    @property
    def pass_ver(self):
        """Pass version recorded in a ``BIT_MASK`` cut (e.g. ``P8R2``), or None."""
        for cut in self.cuts:
            if cut.kind == "bitmask" and cut.bitmask[2]:
                return cut.bitmask[2]
        return None


def _angsep(ra1, dec1, ra2, dec2):
    """Angular separation in degrees of two directions given in degrees."""
    return math.degrees(angular_separation(*(math.radians(v) for v in (ra1, dec1, ra2, dec2))))
