"""FT1 (event) files: reading, merging, gtselect-style selection and Fermitools-compatible writing."""
import datetime
import logging
import math

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord, angular_separation
from astropy.io import fits
from astropy.table import Table, vstack
from gammapy.data import EventList

from .. import __version__
from ..errors import LATDataError, LATFileError, OutputError, SelectionError
from ..utils import write_fits_atomic
from ..utils.fitsfile import missing_extension_error, open_fits, read_error
from .constants import EVENT_CLASSES, EVENT_TYPES, MJDREFF, MJDREFI
from .dss import DSSKeywords
from .evtypes import evtype_mask
from .gti import (
    gti_from_met,
    in_intervals,
    intersect_intervals,
    merge_intervals,
    met_from_gti,
    normalize_time_keywords,
    time_ref_from_header,
)
from .passes import PASS6, PASS6_MAX_CLASS, PASS7, PASS8, evclass_value, event_class_convention
from .paths import resolve_paths

__all__ = ["read_events", "LATEventList", "EVENT_TYPES", "EVENT_CLASSES", "evtype_mask"]

log = logging.getLogger(__name__)

_REQUIRED_EVENT_COLUMNS = ("TIME", "ENERGY", "RA", "DEC")
_STRUCTURAL = (
    "XTENSION", "BITPIX", "NAXIS", "PCOUNT", "GCOUNT", "TFIELDS", "CHECKSUM", "DATASUM", "NDSKEYS",
    "EXTEND", "SIMPLE",
)  # fmt: skip
_COLUMN_KEYS = ("TTYPE", "TFORM", "TUNIT", "TDIM", "TNULL", "TSCAL", "TZERO", "TDISP", "TLMIN", "TLMAX")


def _list_files(filenames, limit=4):
    """File names for messages: all of them when few, else the first and last ones and the count."""
    names = [str(f) for f in filenames]
    if len(names) <= limit:
        return ", ".join(names)
    return f"{', '.join(names[:2])}, ..., {names[-1]} ({len(names)} files)"


def _is_structural(key):
    key = key.upper()
    if key in _STRUCTURAL or key.startswith("NAXIS"):
        return True
    if key.startswith(("DSTYP", "DSUNI", "DSVAL", "DSREF")):
        return True
    for prefix in _COLUMN_KEYS:
        if key.startswith(prefix) and key[len(prefix) :].isdigit():
            return True
    return False


def _copy_header(header, skip=()):
    """Copy the non-structural cards of a header (keeps HISTORY/COMMENT)."""
    out = fits.Header()
    for card in header.cards:
        key = card.keyword
        if not key or _is_structural(key) or key in skip:
            continue
        if key in ("HISTORY", "COMMENT"):
            out.add_history(card.value) if key == "HISTORY" else out.add_comment(card.value)
        else:
            out.append(card, end=True)
    return out


def _bits_to_int(column):
    """Decode a FITS ``nX`` bit-array column (bool, most significant bit first) into integers."""
    bits = np.asarray(column)
    if bits.dtype == bool and bits.ndim == 2:
        nbits = bits.shape[1]
        nbytes = (nbits + 7) // 8
        # pad on the left so that the last column stays the least significant bit
        if nbits % 8:
            bits = np.concatenate([np.zeros((bits.shape[0], nbytes * 8 - nbits), bool), bits], axis=1)
        packed = np.packbits(bits, axis=1, bitorder="big")
        if nbytes > 8:
            raise LATDataError(f"Bit columns wider than 64 bits are not supported ({nbits} bits)")
        padded = np.zeros((packed.shape[0], 8), np.uint8)
        padded[:, 8 - nbytes :] = packed
        return padded.view(">u8").ravel().astype(np.uint64)
    return bits.astype(np.int64).astype(np.uint64)


def _int_to_bits(values, nbits=32):
    """Encode integers as a FITS ``nX`` bit-array column (bool, most significant bit first)."""
    values = np.asarray(values, dtype=np.uint64)
    as_bytes = values.astype(">u8").view(np.uint8).reshape(-1, 8)
    bits = np.unpackbits(as_bytes, axis=1, bitorder="big")
    return bits[:, 64 - nbits :].astype(bool)


def _default_format(column):
    """FITS TFORM for a table column created in memory."""
    data = np.asarray(column)
    shape = data.shape[1:]
    repeat = int(np.prod(shape)) if shape else 1
    prefix = "" if repeat == 1 else str(repeat)
    kind, size = data.dtype.kind, data.dtype.itemsize
    if kind == "b":
        return f"{repeat}X" if column.name in ("EVENT_CLASS", "EVENT_TYPE") else f"{prefix}L"
    if kind == "f":
        return prefix + ("E" if size == 4 else "D")
    if kind in "iu":
        return prefix + {1: "B", 2: "I", 4: "J", 8: "K"}[size]
    if kind in "SU":
        return f"{data.dtype.itemsize if kind == 'S' else data.dtype.itemsize // 4}A"
    raise LATDataError(f"Cannot write column {column.name} of dtype {data.dtype} to FITS")


class LATEventList:
    """LAT events (FT1) with their good-time intervals and data sub-space keywords.

    The table keeps every column of the file as read (``TIME`` as float64 MET seconds,
    ``EVENT_CLASS``/``EVENT_TYPE`` as the FITS bit arrays); :attr:`event_class` and
    :attr:`event_type` give them as integer bit masks. :attr:`events` is the same content as a
    Gammapy `~gammapy.data.EventList`.

    Parameters
    ----------
    table : `~astropy.table.Table`
        Event table with at least ``TIME`` (MET, s), ``ENERGY`` (MeV), ``RA`` and ``DEC`` (deg).
    gti : `~gammapy.data.GTI` or tuple of arrays
        Good-time intervals, as a Gammapy GTI or ``(start, stop)`` MET arrays.
    header : `~astropy.io.fits.Header`, optional
        ``EVENTS`` header (time reference, ``TSTART``/``TSTOP``, ``PASS_VER``...).
    dss : `DSSKeywords`, optional
        Selections applied so far (read from ``header`` if not given).
    primary_header, gti_header : `~astropy.io.fits.Header`, optional
        Headers of the primary and ``GTI`` HDUs, carried over when writing.
    filenames : list of `~pathlib.Path`, optional
        Source files, used in messages.
    column_formats : dict, optional
        FITS column definitions (``format``, ``unit``, ``dim``, ``comment``, ``tlmin``,
        ``tlmax``) by column name, as read from a file; columns without one get a format from
        their dtype when written (bool ``(n, 32)`` ``EVENT_CLASS``/``EVENT_TYPE`` as ``32X``).
    """

    def __init__(
        self, table, gti, header=None, dss=None, primary_header=None, gti_header=None, filenames=None, column_formats=None
    ):
        missing = [c for c in _REQUIRED_EVENT_COLUMNS if c not in table.colnames]
        if missing:
            raise LATFileError(f"{self._describe(filenames)}: event table lacks column(s) {', '.join(missing)}")
        self.table = table
        source = self._describe(filenames)
        # numeric time keywords (older files write MJDREFF = '7.428703703703703D-4')
        self.header = normalize_time_keywords(header, source) if header is not None else fits.Header()
        if primary_header is not None:
            primary_header = normalize_time_keywords(primary_header, source)
        if gti_header is not None:
            gti_header = normalize_time_keywords(gti_header, source)
        if "MJDREFI" not in self.header and "MJDREF" not in self.header:
            self.header["MJDREFI"] = MJDREFI
            self.header["MJDREFF"] = MJDREFF
            self.header["TIMESYS"] = "TT"
        if isinstance(gti, tuple):
            start, stop = gti
        else:
            start, stop = met_from_gti(gti, self.time_ref)
        self.gti_start, self.gti_stop = merge_intervals(start, stop)
        self.dss = dss if dss is not None else DSSKeywords.from_header(self.header)
        self.primary_header = primary_header
        self.gti_header = gti_header
        self.filenames = list(filenames or [])
        self._column_formats = dict(column_formats or {})
        self._events = None

    @staticmethod
    def _describe(filenames):
        if not filenames:
            return "event list"
        if len(filenames) == 1:
            return f"FT1 file {filenames[0]}"
        return f"FT1 files {_list_files(filenames)}"

    @property
    def source(self):
        """Description of where the events come from, for messages."""
        return self._describe(self.filenames)

    # ------------------------------------------------------------------------ reading
    @classmethod
    def read(cls, paths):
        """Read FT1 files (see :func:`read_events`)."""
        return read_events(paths)

    # -------------------------------------------------------------------- properties
    def __len__(self):
        return len(self.table)

    def __repr__(self):
        return (
            f"{type(self).__name__}(events={len(self)}, gtis={len(self.gti_start)}, "
            f"tstart={self.tstart:.3f}, tstop={self.tstop:.3f}, files={[str(f) for f in self.filenames]})"
        )

    @property
    def time_ref(self):
        """MET reference time (from ``MJDREFI``/``MJDREFF``)."""
        return time_ref_from_header(self.header, self.source)

    @property
    def time(self):
        """Event times (MET, s) as float64 array."""
        return np.asarray(self.table["TIME"], dtype=float)

    @property
    def energy(self):
        """Event energies as a `~astropy.units.Quantity` (MeV)."""
        unit = self.table["ENERGY"].unit or u.MeV
        return u.Quantity(np.asarray(self.table["ENERGY"]), unit)

    @property
    def radec(self):
        """Event directions (ICRS)."""
        return SkyCoord(np.asarray(self.table["RA"], float), np.asarray(self.table["DEC"], float), unit="deg", frame="icrs")

    @property
    def event_class(self):
        """``EVENT_CLASS`` as integer bit masks (uint64), or None if the column is absent."""
        if "EVENT_CLASS" not in self.table.colnames:
            return None
        return _bits_to_int(self.table["EVENT_CLASS"])

    @property
    def event_type(self):
        """``EVENT_TYPE`` as integer bit masks (uint64).

        Files without ``EVENT_TYPE`` (before Pass 8) get FRONT/BACK bits from ``CONVERSION_TYPE``.
        """
        if "EVENT_TYPE" in self.table.colnames:
            return _bits_to_int(self.table["EVENT_TYPE"])
        if "CONVERSION_TYPE" in self.table.colnames:
            return np.left_shift(np.uint64(1), np.asarray(self.table["CONVERSION_TYPE"]).astype(np.uint64))
        return None

    @property
    def gti(self):
        """Good-time intervals as a Gammapy `~gammapy.data.GTI`."""
        return gti_from_met(self.gti_start, self.gti_stop, self.time_ref)

    @property
    def tstart(self):
        """``TSTART`` (MET, s): header value, else first GTI start."""
        if "TSTART" in self.header:
            return float(self.header["TSTART"])
        return float(self.gti_start[0]) if self.gti_start.size else math.nan

    @property
    def tstop(self):
        """``TSTOP`` (MET, s): header value, else last GTI stop."""
        if "TSTOP" in self.header:
            return float(self.header["TSTOP"])
        return float(self.gti_stop[-1]) if self.gti_stop.size else math.nan

    @property
    def ontime(self):
        """Sum of the GTI lengths as a `~astropy.units.Quantity` (s)."""
        return float(np.sum(self.gti_stop - self.gti_start)) * u.s

    @property
    def pass_ver(self):
        """Pass version (``PASS_VER`` header keyword or DSS ``BIT_MASK`` entry), e.g. ``P8R3``."""
        value = self.header.get("PASS_VER")
        if value:
            return str(value).strip()
        return self.dss.pass_ver

    @property
    def events(self):
        """The events as a Gammapy `~gammapy.data.EventList` (``TIME`` as `~astropy.time.Time`)."""
        if self._events is None:
            meta = {k: v for k, v in self.header.items() if k and not _is_structural(k) and k not in ("HISTORY", "COMMENT")}
            meta["TSTART"] = self.tstart
            meta["TSTOP"] = self.tstop
            data = {
                "TIME": self.time_ref + u.Quantity(self.time, "s"),
                "ENERGY": self.energy,
                "RA": u.Quantity(np.asarray(self.table["RA"], float), "deg"),
                "DEC": u.Quantity(np.asarray(self.table["DEC"], float), "deg"),
            }
            table = Table(data, meta=meta)
            for name in self.table.colnames:
                if name not in data:
                    table[name] = self.table[name]
            self._events = EventList(table)
        return self._events

    # ------------------------------------------------------------------- selections
    def _subset(self, mask, gti=None, dss=None, header_updates=None):
        header = self.header.copy()
        for key, value in (header_updates or {}).items():
            header[key] = value
            date_key = {"TSTART": "DATE-OBS", "TSTOP": "DATE-END"}.get(key)
            if date_key in header:
                date = (self.time_ref + float(value) * u.s).utc.isot
                header[date_key] = date
        return LATEventList(
            self.table[mask],
            gti if gti is not None else (self.gti_start, self.gti_stop),
            header=header,
            dss=dss if dss is not None else self.dss.copy(),
            primary_header=self.primary_header,
            gti_header=self.gti_header,
            filenames=self.filenames,
            column_formats=self._column_formats,
        )

    def select(
        self,
        evclass=None,
        evtype=None,
        emin=None,
        emax=None,
        ra=None,
        dec=None,
        rad=None,
        tmin=None,
        tmax=None,
        zmin=None,
        zmax=None,
        convtype=None,
        allow_empty=False,
    ):
        """Select events with gtselect semantics.

        Every cut that is given is applied and recorded in the DSS keywords; GTIs are restricted to
        ``[tmin, tmax]`` and events outside the GTIs are dropped. Ranges are ``low < x <= high``
        and the cone is ``separation < rad``, as in the CFITSIO filter gtselect builds.

        Parameters
        ----------
        evclass : int, str or tuple, optional
            Event class, in the convention of the data's pass (`pass_convention`): Pass 8 bit
            mask (``128`` or ``"SOURCE"``: events with ``EVENT_CLASS & 128``), Pass 7 bit index
            (``2`` or ``"SOURCE"``: events with bit 2 set), Pass 6 class value (``3`` or
            ``"DIFFUSE"``: events with ``3 <= EVENT_CLASS <= 10``, or a ``(min, max)`` range).
            ``"INDEF"`` applies no cut.
        evtype : int, str or list, optional
            Event-type bit mask (``3``, ``"PSF3"``, ``["FRONT", "BACK"]``); events with
            ``EVENT_TYPE & evtype``. Pass 6/7 data (no ``EVENT_TYPE`` column): ``1``/``"FRONT"``
            and ``2``/``"BACK"`` select on ``CONVERSION_TYPE`` (as ``convtype``), ``3`` is no cut.
            ``"INDEF"`` applies no cut.
        emin, emax : float or `~astropy.units.Quantity`, optional
            Energy range (MeV if a float).
        ra, dec, rad : float or `~astropy.units.Quantity`, optional
            Acceptance cone (deg if floats); all three or none.
        tmin, tmax : float, optional
            MET range in seconds.
        zmin, zmax : float or `~astropy.units.Quantity`, optional
            Zenith-angle range (deg); ``zmin`` defaults to 0 when ``zmax`` is given.
        convtype : int, optional
            Conversion type (0 FRONT, 1 BACK; -1 or None for both).
        allow_empty : bool
            Return an empty list instead of raising when nothing is selected.

        Returns
        -------
        events : `LATEventList`
            Selected events with updated DSS keywords and GTIs.

        Raises
        ------
        gammapy_lat.errors.SelectionError
            Invalid parameters, or no event selected (unless ``allow_empty``).
        """
        mask = np.ones(len(self), dtype=bool)
        dss = _CheckedDSS(self.dss.copy(), self.source)
        cuts = []
        convention = self.pass_convention
        evclass = None if _is_indef(evclass) else evclass
        evtype = None if _is_indef(evtype) else evtype

        if evclass is not None:
            mask &= self._evclass_cut(evclass, convention, dss, cuts)
        if evtype is not None:
            if convention != PASS8 and "EVENT_TYPE" not in self.table.colnames:
                # before Pass 8 the conversion type is the only event type
                convtype = _convtype_from_evtype(evtype, convtype, self.source)
            else:
                bits = evtype_mask(evtype)
                if bits < 0:
                    raise SelectionError(f"evtype={bits}: a bit mask cannot be negative")
                values = self.event_type
                if values is None:
                    raise SelectionError(f"{self.source}: no EVENT_TYPE column, cannot apply evtype={bits}")
                mask &= (values & np.uint64(bits)) != 0
                dss.add_bitmask("EVENT_TYPE", bits, self.pass_ver or "P8R3")
                cuts.append(f"evtype={bits}")

        if convtype is not None and int(convtype) >= 0:
            if "CONVERSION_TYPE" not in self.table.colnames:
                raise SelectionError(f"{self.source}: no CONVERSION_TYPE column, cannot apply convtype")
            mask &= np.asarray(self.table["CONVERSION_TYPE"]) == int(convtype)
            dss.add_range("CONVERSION_TYPE", "dimensionless", int(convtype), int(convtype))
            cuts.append(f"convtype={convtype}")

        if emin is not None or emax is not None:
            lo = _to_value(emin, u.MeV, default=0.0)
            hi = _to_value(emax, u.MeV, default=math.inf)
            if not hi > lo:
                raise SelectionError(f"Energy range is empty: emin={lo} MeV >= emax={hi} MeV")
            energy = self.energy.to_value(u.MeV)
            mask &= (energy > lo) & (energy <= hi)
            dss.add_range("ENERGY", "MeV", lo, hi if math.isfinite(hi) else None)
            cuts.append(f"{lo}<ENERGY<={hi} MeV")

        cone = [v is not None for v in (ra, dec, rad)]
        if any(cone):
            if not all(cone):
                raise SelectionError("A cone selection needs all of ra, dec and rad")
            ra_v, dec_v, rad_v = (_to_value(v, u.deg) for v in (ra, dec, rad))
            if not 0 < rad_v <= 180:
                raise SelectionError(f"Cone radius rad={rad_v} deg must be in (0, 180]")
            if not -90 <= dec_v <= 90:
                raise SelectionError(f"Cone centre dec={dec_v} deg is outside [-90, 90]")
            if rad_v < 180:
                ra_e = np.asarray(self.table["RA"], float) * u.deg
                dec_e = np.asarray(self.table["DEC"], float) * u.deg
                sep = angular_separation(ra_e, dec_e, ra_v * u.deg, dec_v * u.deg).to_value(u.deg)
                mask &= sep < rad_v
            dss.add_cone(ra_v, dec_v, rad_v)
            cuts.append(f"angsep(RA,DEC,{ra_v},{dec_v})<{rad_v}")

        gti_start, gti_stop = self.gti_start, self.gti_stop
        header_updates = {}
        if tmin is not None or tmax is not None:
            lo = float(tmin) if tmin is not None else -math.inf
            hi = float(tmax) if tmax is not None else math.inf
            if not hi > lo:
                raise SelectionError(f"Time range is empty: tmin={lo} >= tmax={hi}")
            time = self.time
            mask &= (time > lo) & (time <= hi)
            gti_start, gti_stop = intersect_intervals(gti_start, gti_stop, [lo], [hi])
            dss.add_range("TIME", "s", lo if math.isfinite(lo) else None, hi if math.isfinite(hi) else None)
            if math.isfinite(lo):
                header_updates["TSTART"] = max(lo, self.tstart) if "TSTART" in self.header else lo
            if math.isfinite(hi):
                header_updates["TSTOP"] = min(hi, self.tstop) if "TSTOP" in self.header else hi
            cuts.append(f"{lo}<TIME<={hi}")

        if zmin is not None or zmax is not None:
            lo = _to_value(zmin, u.deg, default=0.0)
            hi = _to_value(zmax, u.deg, default=180.0)
            if not hi > lo:
                raise SelectionError(f"Zenith range is empty: zmin={lo} >= zmax={hi}")
            if "ZENITH_ANGLE" not in self.table.colnames:
                raise SelectionError(f"{self.source}: no ZENITH_ANGLE column, cannot apply a zenith cut")
            zenith = np.asarray(self.table["ZENITH_ANGLE"], float)
            mask &= (zenith > lo) & (zenith <= hi)
            dss.add_range("ZENITH_ANGLE", "deg", lo, hi)
            cuts.append(f"{lo}<ZENITH_ANGLE<={hi}")

        mask &= in_intervals(self.time, gti_start, gti_stop)
        dss = dss.dss
        dss.ensure_gti()
        if not mask.any() and not allow_empty:
            raise SelectionError(
                f"{self.source}: the selection ({' && '.join(cuts) or 'GTI'}) leaves no event "
                f"out of {len(self)}"
            )
        out = self._subset(mask, gti=(gti_start, gti_stop), dss=dss, header_updates=header_updates)
        if cuts:
            out.header.add_history(f"Filter string: {' && '.join(cuts)} && gtifilter()")
        return out

    def _evclass_cut(self, evclass, convention, dss, cuts):
        """Event mask of an ``evclass`` selection in the convention of the data's pass."""
        if "EVENT_CLASS" not in self.table.colnames:
            raise SelectionError(f"{self.source}: no EVENT_CLASS column, cannot apply evclass={evclass}")
        if convention == PASS6 and isinstance(evclass, (tuple, list)):
            if len(evclass) != 2:
                raise SelectionError(f"evclass={evclass!r}: a Pass 6 class range is (min, max)")
            low, high = (evclass_value(v, PASS6) for v in evclass)
        else:
            try:
                low = evclass_value(evclass, convention)
            except ValueError as exc:
                raise SelectionError(f"{self.source}: {exc}") from None
            high = PASS6_MAX_CLASS
        if low < 0:
            raise SelectionError(f"evclass={low}: an event class cannot be negative")
        if convention == PASS6:
            # Pass 6: integer class values, hierarchical (DATACLEAN events are DIFFUSE too)
            if high < low:
                raise SelectionError(
                    f"{self.source}: evclass {low}:{high} selects no Pass 6 class (class values 0-{PASS6_MAX_CLASS}: "
                    "1 TRANSIENT, 2 SOURCE, 3 DIFFUSE, 4 DATACLEAN)"
                )
            values = np.asarray(self.table["EVENT_CLASS"]).astype(np.int64)
            if values.ndim != 1:
                raise SelectionError(
                    f"{self.source}: PASS_VER says Pass 6 but EVENT_CLASS is a bit array, not a class value"
                )
            dss.add_range("EVENT_CLASS", "dimensionless", low, high)
            cuts.append(f"{low}<=EVENT_CLASS<={high}")
            return (values >= low) & (values <= high)
        values = self.event_class
        if convention == PASS7:
            # Pass 7: evclass is the index of the class bit
            if low > 31:
                raise SelectionError(f"evclass={low}: Pass 7 event classes are bit indices 0..31")
            version = self.pass_ver
            version = version if version and version.upper() not in ("NONE", "P6") else None
            dss.add_bitmask("EVENT_CLASS", low, version)
            cuts.append(f"((EVENT_CLASS/{1 << low})%2==1)")
            return ((values >> np.uint64(low)) & np.uint64(1)) == 1
        dss.add_bitmask("EVENT_CLASS", low, self.pass_ver or "P8R3")
        cuts.append(f"evclass={low}")
        return (values & np.uint64(low)) != 0

    @property
    def pass_convention(self):
        """Event-class convention of the data: ``"P6"``, ``"P7"`` or ``"P8"``.

        From ``PASS_VER`` (``NONE`` is Pass 6, ``P7V6``/``P7REP`` Pass 7), else from the DSS
        keywords (see `gammapy_lat.data.passes`).
        """
        value = self.header.get("PASS_VER")
        if value is None or (isinstance(value, str) and not value.strip()):
            value = self.dss.pass_ver
        return event_class_convention(value, self.dss)

    @property
    def evclass(self):
        """Event class of the selection recorded in the DSS keywords, in the pass's convention.

        Pass 8: the ``BIT_MASK`` mask (128); Pass 7: the bit index (2); Pass 6: the lowest class
        value of the ``EVENT_CLASS`` range (3 for ``3:4``). None without such a cut.
        """
        if self.pass_convention == PASS6:
            rng = self.dss.event_class_range
            return None if rng is None or not np.isfinite(rng[0]) else int(rng[0])
        return self.dss.evclass

    def select_gti(self, gti, allow_empty=True, update_header_times=False):
        """Restrict to the intersection with other good-time intervals.

        Parameters
        ----------
        gti : `~gammapy.data.GTI` or tuple of arrays
            Intervals to intersect with (``(start, stop)`` MET arrays or a Gammapy GTI).
        allow_empty : bool
            Whether an empty result is allowed.
        update_header_times : bool
            Set ``TSTART``/``TSTOP`` to the first/last resulting GTI bound.
        """
        if isinstance(gti, tuple):
            start, stop = gti
        else:
            start, stop = met_from_gti(gti, self.time_ref)
        start, stop = intersect_intervals(self.gti_start, self.gti_stop, start, stop)
        mask = in_intervals(self.time, start, stop)
        if not mask.any() and not allow_empty:
            raise SelectionError(f"{self.source}: no event left inside the good time intervals")
        updates = {}
        if update_header_times and start.size:
            updates = {"TSTART": float(start[0]), "TSTOP": float(stop[-1])}
        return self._subset(mask, gti=(start, stop), header_updates=updates)

    def select_time(self, tmin, tmax, right_open=False):
        """Events and GTIs inside ``[tmin, tmax]`` (MET, s), without touching the DSS keywords.

        Parameters
        ----------
        tmin, tmax : float
            MET range in seconds.
        right_open : bool
            Exclude events at exactly ``tmax`` (for consecutive chunks that must not share an
            event).
        """
        out = self.select_gti(([tmin], [tmax]))
        if right_open:
            keep = out.time < float(tmax)
            if not keep.all():
                out = out._subset(keep, gti=(out.gti_start, out.gti_stop))
        out.header["TSTART"] = max(float(tmin), self.tstart)
        out.header["TSTOP"] = min(float(tmax), self.tstop)
        return out

    # --------------------------------------------------------------------- stacking
    @classmethod
    def from_stack(cls, event_lists):
        """Merge event lists (e.g. weekly files) into one.

        Events are sorted by time; events present in several inputs (same ``RUN_ID`` and
        ``EVENT_ID``, or same time, energy and direction when these columns are absent) are kept
        once; GTIs are merged (union). The DSS keywords of all inputs must agree, apart from
        ``TIME`` range cuts which are widened to cover all inputs.
        """
        event_lists = list(event_lists)
        if not event_lists:
            raise LATDataError("No event list to stack")
        if len(event_lists) == 1:
            return event_lists[0]
        first = event_lists[0]
        colnames = first.table.colnames
        for other in event_lists[1:]:
            if other.table.colnames != colnames:
                diff = set(colnames).symmetric_difference(other.table.colnames)
                raise LATDataError(
                    f"Cannot merge {first.source} and {other.source}: columns differ "
                    f"({', '.join(sorted(diff)) or 'order'})"
                )
            _check_dss_compatible(first, other)
        tables = []
        for ev in event_lists:
            table = ev.table.copy(copy_data=False)
            table.meta = {}
            tables.append(table)
        table = vstack(tables, join_type="exact", metadata_conflicts="silent")
        if "RUN_ID" in colnames and "EVENT_ID" in colnames:
            keys = [np.asarray(table["TIME"], float), np.asarray(table["RUN_ID"]), np.asarray(table["EVENT_ID"])]
        else:
            keys = [np.asarray(table[c], float) for c in ("TIME", "ENERGY", "RA", "DEC")]
        order = np.lexsort(keys[::-1])
        table = table[order]
        sorted_keys = [k[order] for k in keys]
        dup = np.zeros(len(table), dtype=bool)
        if len(table) > 1:
            same = np.ones(len(table) - 1, dtype=bool)
            for k in sorted_keys:
                same &= k[1:] == k[:-1]
            dup[1:] = same
        if dup.any():
            log.info("Dropping %d events present in more than one input file", int(dup.sum()))
            table = table[~dup]
        gti_start = np.concatenate([ev.gti_start for ev in event_lists])
        gti_stop = np.concatenate([ev.gti_stop for ev in event_lists])
        header = first.header.copy()
        header["TSTART"] = min(ev.tstart for ev in event_lists)
        header["TSTOP"] = max(ev.tstop for ev in event_lists)
        dss = first.dss.copy()
        ranges = [ev.dss.time_range for ev in event_lists]
        if all(r is not None for r in ranges):
            for cut in [c for c in dss.cuts if c.kind == "range" and c.column == "TIME"]:
                dss.cuts.remove(cut)
            dss.add_range("TIME", "s", min(r[0] for r in ranges), max(r[1] for r in ranges))
        filenames = [f for ev in event_lists for f in ev.filenames]
        return cls(
            table,
            (gti_start, gti_stop),
            header=header,
            dss=dss,
            primary_header=first.primary_header,
            gti_header=first.gti_header,
            filenames=filenames,
            column_formats=first._column_formats,
        )

    # ---------------------------------------------------------------------- writing
    def _events_hdu(self, creator):
        columns = []
        for name in self.table.colnames:
            col = self.table[name]
            data = np.asarray(col)
            template = self._column_formats.get(name)
            fmt = template["format"] if template else _default_format(col)
            unit = template.get("unit") if template else (str(col.unit) if col.unit else None)
            dim = template.get("dim") if template else None
            columns.append(fits.Column(name=name, format=fmt, unit=unit, dim=dim, array=data))
        hdu = fits.BinTableHDU.from_columns(columns, name="EVENTS")
        header = hdu.header
        comments = {name: tpl.get("comment") for name, tpl in self._column_formats.items()}
        limits = {name: (tpl.get("tlmin"), tpl.get("tlmax")) for name, tpl in self._column_formats.items()}
        for idx, name in enumerate(self.table.colnames, start=1):
            if comments.get(name):
                header.comments[f"TTYPE{idx}"] = comments[name]
        for card in _copy_header(self.header, skip=("EXTNAME",)).cards:
            if card.keyword in ("HISTORY", "COMMENT"):
                header.add_history(card.value) if card.keyword == "HISTORY" else header.add_comment(card.value)
            else:
                header.append(card, end=True)
        header["EXTNAME"] = "EVENTS"
        header.setdefault("TELESCOP", "GLAST")
        header.setdefault("INSTRUME", "LAT")
        header.setdefault("HDUCLASS", "OGIP")
        header.setdefault("HDUCLAS1", "EVENTS")
        header["TSTART"] = self.tstart
        header["TSTOP"] = self.tstop
        header["CREATOR"] = (creator, "software and version creating file")
        header["DATE"] = (_now(), "file creation date (YYYY-MM-DDThh:mm:ss UT)")
        for idx, name in enumerate(self.table.colnames, start=1):
            tlmin, tlmax = limits.get(name, (None, None))
            if tlmin is not None:
                header[f"TLMIN{idx}"] = tlmin
            if tlmax is not None:
                header[f"TLMAX{idx}"] = tlmax
        self.dss.to_header(header)
        return hdu

    def _gti_hdu(self, creator):
        hdu = fits.BinTableHDU.from_columns(
            [
                fits.Column(name="START", format="D", unit="s", array=self.gti_start),
                fits.Column(name="STOP", format="D", unit="s", array=self.gti_stop),
            ],
            name="GTI",
        )
        header = hdu.header
        if self.gti_header is not None:
            for card in _copy_header(self.gti_header, skip=("EXTNAME", "ONTIME", "TELAPSE")).cards:
                if card.keyword in ("HISTORY", "COMMENT"):
                    continue
                header.append(card, end=True)
        else:
            for key in ("TELESCOP", "INSTRUME", "MJDREFI", "MJDREFF", "TIMEUNIT", "TIMESYS", "TIMEREF", "TIMEZERO"):
                if key in self.header:
                    header[key] = self.header[key]
            header.setdefault("HDUCLASS", "OGIP")
            header.setdefault("HDUCLAS1", "GTI")
            header.setdefault("HDUCLAS2", "ALL")
        header["EXTNAME"] = "GTI"
        header["TSTART"] = self.tstart
        header["TSTOP"] = self.tstop
        header["ONTIME"] = (float(np.sum(self.gti_stop - self.gti_start)), "sum of GTI lengths")
        header["TELAPSE"] = (self.tstop - self.tstart, "TSTOP - TSTART")
        header["CREATOR"] = (creator, "software and version creating file")
        return hdu

    def _primary_hdu(self, creator):
        hdu = fits.PrimaryHDU()
        if self.primary_header is not None:
            for card in _copy_header(self.primary_header).cards:
                if card.keyword in ("HISTORY", "COMMENT"):
                    continue
                hdu.header.append(card, end=True)
        else:
            for key in ("TELESCOP", "INSTRUME", "EQUINOX", "RADECSYS", "MJDREFI", "MJDREFF", "TIMESYS", "TIMEUNIT"):
                if key in self.header:
                    hdu.header[key] = self.header[key]
        hdu.header["TSTART"] = self.tstart
        hdu.header["TSTOP"] = self.tstop
        hdu.header["CREATOR"] = (creator, "software and version creating file")
        hdu.header["DATE"] = (_now(), "file creation date (YYYY-MM-DDThh:mm:ss UT)")
        return hdu

    def to_hdulist(self, creator=None):
        """FT1 HDU list: primary, ``EVENTS`` (all columns, DSS keywords) and ``GTI``."""
        creator = creator or _creator()
        return fits.HDUList([self._primary_hdu(creator), self._events_hdu(creator), self._gti_hdu(creator)])

    def write(self, path, overwrite=False, creator=None):
        """Write a Fermitools-compatible FT1 file atomically.

        Parameters
        ----------
        path : str or `~pathlib.Path`
            Output file (``.gz`` compresses).
        overwrite : bool
            Replace an existing file.
        creator : str, optional
            ``CREATOR`` keyword (default ``gammapy-lat <version>``).
        """

        hdulist = self.to_hdulist(creator=creator)
        if "FILENAME" in hdulist[0].header:
            name = str(path).split("/")[-1]
            if not name.isascii():
                raise OutputError(
                    f"Output file name {name!r} has non-ASCII characters, which the FITS header card "
                    "FILENAME cannot hold; choose an ASCII name"
                )
            hdulist[0].header["FILENAME"] = name
        return write_fits_atomic(hdulist, path, overwrite=overwrite, checksum=True)


class _CheckedDSS:
    """Wraps `DSSKeywords` so that a cut disjoint from the data's selection is a `SelectionError`."""

    def __init__(self, dss, source):
        self.dss = dss
        self.source = source

    def __getattr__(self, name):
        method = getattr(self.dss, name)

        def call(*args, **kwargs):
            try:
                return method(*args, **kwargs)
            except LATDataError as exc:
                raise SelectionError(
                    f"{self.source}: the requested cut does not overlap the data's own selection ({exc})"
                ) from exc

        return call


def _check_dss_compatible(a, b):
    def key(ev):
        return [(c.type, c.unit, c.value, c.ref) for c in ev.dss.cuts if not (c.kind == "range" and c.column == "TIME")]

    if key(a) != key(b):
        raise LATDataError(
            f"Cannot merge {a.source} and {b.source}: their data selections (DSS keywords) differ:\n"
            f"{a.dss!r}\n{b.dss!r}"
        )


def _creator():
    return f"gammapy-lat {__version__}"


def _now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def _is_indef(value):
    """Whether a selection parameter is the Fermitools' "not set" (``INDEF``/``NONE``)."""
    return isinstance(value, str) and value.strip().upper() in ("INDEF", "NONE")


def _convtype_from_evtype(evtype, convtype, source):
    """Conversion type (0, 1 or -1) equivalent to an event-type selection of Pass 6/7 data."""
    bits = evtype_mask(evtype)
    if bits <= 0 or bits & ~3:
        raise SelectionError(
            f"{source}: evtype={evtype!r}: Pass 6/7 data have FRONT (1) and BACK (2) event types only "
            "(from CONVERSION_TYPE)"
        )
    wanted = -1 if bits == 3 else (0 if bits == 1 else 1)
    given = -1 if convtype is None else int(convtype)
    if given >= 0 and wanted >= 0 and given != wanted:
        raise SelectionError(f"evtype={evtype!r} and convtype={convtype} select different conversion types")
    return given if given >= 0 else wanted


def _to_value(value, unit, default=None):
    if value is None:
        return default
    if isinstance(value, u.Quantity):
        return float(value.to_value(unit))
    return float(value)


def _check_rows(path, column, values, bad, why, what="column", consequence="such events cannot be selected or binned correctly"):
    rows = np.flatnonzero(bad)
    if rows.size:
        row = int(rows[0])
        raise LATDataError(
            f"FT1 file {path}: {what} {column} is {why} in row {row} ({column}={float(values[row])!r}; "
            f"{rows.size} bad row(s) in all): {consequence}"
        )


def _validate_events(path, table):
    """Event values that cannot be right are an error naming the file, column and first bad row."""
    time = np.asarray(table["TIME"], dtype=float)
    _check_rows(path, "TIME", time, ~np.isfinite(time), "not finite")
    energy = np.asarray(table["ENERGY"], dtype=float)
    _check_rows(path, "ENERGY", energy, ~np.isfinite(energy), "not finite")
    _check_rows(path, "ENERGY", energy, energy <= 0, "not positive")
    ra = np.asarray(table["RA"], dtype=float)
    _check_rows(path, "RA", ra, ~np.isfinite(ra), "not finite")
    dec = np.asarray(table["DEC"], dtype=float)
    _check_rows(path, "DEC", dec, ~np.isfinite(dec), "not finite")
    _check_rows(path, "DEC", dec, np.abs(dec) > 90, "outside [-90, 90] deg")
    if "ZENITH_ANGLE" in table.colnames:
        zenith = np.asarray(table["ZENITH_ANGLE"], dtype=float)
        with np.errstate(invalid="ignore"):
            _check_rows(path, "ZENITH_ANGLE", zenith, ~((zenith >= 0) & (zenith <= 180)), "outside [0, 180] deg")


def _validate_gti(path, start, stop):
    """GTI rows with a non-finite bound or STOP < START are errors; empty ones are dropped (warning)."""
    what, consequence = "GTI column", "the good time intervals are corrupt"
    _check_rows(path, "START", start, ~np.isfinite(start), "not finite", what, consequence)
    _check_rows(path, "STOP", stop, ~np.isfinite(stop), "not finite", what, consequence)
    inverted = np.flatnonzero(stop < start)
    if inverted.size:
        row = int(inverted[0])
        raise LATDataError(
            f"FT1 file {path}: GTI row {row} has STOP={float(stop[row])!r} before START={float(start[row])!r} "
            f"({inverted.size} such row(s)); the good time intervals are corrupt"
        )
    empty = int(np.count_nonzero(stop == start))
    if empty:
        log.warning(f"FT1 file {path}: dropping {empty} empty GTI row(s) (STOP == START)")


def _read_one(path):
    try:
        with open_fits(path, "FT1 file") as hdulist:
            if "EVENTS" not in hdulist:
                raise missing_extension_error(path, "FT1 file", "EVENTS", hdulist)
            if "GTI" not in hdulist:
                raise missing_extension_error(path, "FT1 file", "GTI", hdulist)
            events_hdu = hdulist["EVENTS"]
            header = events_hdu.header.copy()
            table = Table.read(events_hdu)
            gti_hdu = hdulist["GTI"]
            gti_header = gti_hdu.header.copy()
            if not {"START", "STOP"} <= set(gti_hdu.columns.names):
                raise LATFileError(f"FT1 file {path}: GTI extension lacks START/STOP columns")
            start = np.asarray(gti_hdu.data["START"], float) if gti_hdu.data is not None else np.array([])
            stop = np.asarray(gti_hdu.data["STOP"], float) if gti_hdu.data is not None else np.array([])
            primary_header = hdulist[0].header.copy()
            formats = {}
            for idx, col in enumerate(events_hdu.columns, start=1):
                formats[col.name] = {
                    "format": col.format,
                    "unit": col.unit,
                    "dim": col.dim,
                    "comment": header.comments[f"TTYPE{idx}"],
                    "tlmin": header.get(f"TLMIN{idx}"),
                    "tlmax": header.get(f"TLMAX{idx}"),
                }
    except LATFileError:
        raise
    except (OSError, ValueError, TypeError, EOFError, IndexError) as exc:
        raise read_error(path, "FT1 file", exc) from exc
    missing = [c for c in _REQUIRED_EVENT_COLUMNS if c not in table.colnames]
    if missing:
        raise LATFileError(f"FT1 file {path}: EVENTS lacks required column(s) {', '.join(missing)}")
    _validate_events(path, table)
    _validate_gti(path, start, stop)
    table.meta = {}
    if table["TIME"].dtype != np.float64:
        table["TIME"] = table["TIME"].astype(np.float64)
    return LATEventList(
        table,
        (start, stop),
        header=header,
        primary_header=primary_header,
        gti_header=gti_header,
        filenames=[path],
        column_formats=formats,
    )


def read_events(paths, selection=None):
    """Read FT1 (event) files.

    Parameters
    ----------
    paths : str, `~pathlib.Path` or list
        One file, a glob (``"weekly/lat_photon_weekly_*.fits"``), an ``@list.txt`` file holding one
        file name per line (the Fermitools convention), or a list of these. Several files are
        merged with :meth:`LATEventList.from_stack` (no duplicated or dropped events, GTIs
        merged).
    selection : dict, optional
        Arguments of :meth:`LATEventList.select` applied to each file as it is read, before
        merging, so that only the selected events of a long list of files are held in memory.
        An empty result is an error naming all files.

    Returns
    -------
    events : `LATEventList`
        Events with all columns, GTIs, DSS keywords and header.

    Raises
    ------
    gammapy_lat.errors.LATFileError
        A file is missing, unreadable, or lacks the ``EVENTS``/``GTI`` extensions or the
        ``TIME``/``ENERGY``/``RA``/``DEC`` columns.
    gammapy_lat.errors.SelectionError
        ``selection`` leaves no event.
    """
    files = resolve_paths(paths, what="FT1")
    if selection is None:
        return LATEventList.from_stack([_read_one(path) for path in files])
    selection = dict(selection)
    allow_empty = selection.pop("allow_empty", False)
    parts, total = [], 0
    for path in files:
        events = _read_one(path)
        total += len(events)
        parts.append(events.select(**selection, allow_empty=True))
    merged = LATEventList.from_stack(parts)
    if len(merged) == 0 and not allow_empty:
        cuts = ", ".join(f"{k}={v}" for k, v in selection.items() if v is not None)
        raise SelectionError(f"{merged.source}: the selection ({cuts}) leaves no event out of {total}")
    log.info("Selected %d of %d events from %d file(s)", len(merged), total, len(files))
    return merged
