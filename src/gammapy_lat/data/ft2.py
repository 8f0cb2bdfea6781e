"""FT2 (spacecraft) files: the ``SC_DATA`` pointing and livetime history."""
import logging
import warnings

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.table import Table, vstack

from ..errors import LATDataError, LATFileError
from ..utils.fitsfile import missing_extension_error, open_fits, read_error
from .ft1 import _list_files
from .gti import (
    gti_from_met,
    in_intervals,
    intersect_intervals,
    merge_intervals,
    time_ref_from_header,
)
from .paths import resolve_paths

__all__ = ["read_spacecraft", "SpacecraftData", "REQUIRED_SC_COLUMNS"]

log = logging.getLogger(__name__)

#: Columns every FT2 file must have for the data layer and the livetime cube.
REQUIRED_SC_COLUMNS = ("START", "STOP", "LIVETIME", "RA_SCZ", "DEC_SCZ", "RA_SCX", "DEC_SCX", "RA_ZENITH", "DEC_ZENITH")

# tolerance (s) for rows that touch: FT2 START/STOP are float64 MET
_TIME_TOL = 1e-6
# gaps in the spacecraft history shorter than this (s) do not count as missing coverage
_COVERAGE_TOL = 1e-3


def _first_row(column, nrows, predicate):
    """First row ``i`` with ``predicate(column[i])`` for a predicate false then true along the rows.

    A plain bisection reading one value per step, so that on a memory-mapped file it touches a
    few pages only (``numpy.searchsorted`` would copy the byte-swapped FITS column first).
    """
    lo, hi = 0, nrows
    while lo < hi:
        mid = (lo + hi) // 2
        if predicate(float(column[mid])):
            hi = mid
        else:
            lo = mid + 1
    return lo


def _row_range(hdu, tmin, tmax):
    """Rows ``[i0, i1)`` of a ``SC_DATA`` HDU sorted by time that overlap ``[tmin, tmax]``.

    The range is widened by one row on each side, so that validating the rows read also checks
    their order against their neighbours in the file.
    """
    nrows = int(hdu.header.get("NAXIS2", 0))
    if nrows == 0:
        return 0, 0
    start, stop = hdu.data.field("START"), hdu.data.field("STOP")
    i0 = _first_row(stop, nrows, lambda t: t > tmin)
    i1 = _first_row(start, nrows, lambda t: t >= tmax)
    return max(i0 - 1, 0), min(max(i1, i0) + 1, nrows)


def _read_sc_table(path, time_range=None):
    try:
        # with a time range the file is memory-mapped and only the rows in the range are read
        with open_fits(path, "FT2 file", memmap=time_range is not None) as hdulist:
            if "SC_DATA" not in hdulist:
                raise missing_extension_error(path, "FT2 file", "SC_DATA", hdulist)
            hdu = hdulist["SC_DATA"]
            header = hdu.header.copy()
            missing = [c for c in REQUIRED_SC_COLUMNS if c not in hdu.columns.names]
            if missing:
                raise LATFileError(f"FT2 file {path}: SC_DATA lacks required column(s) {', '.join(missing)}")
            if time_range is not None:
                # a view of those rows, still on the mapped file (copied below)
                i0, i1 = _row_range(hdu, *time_range)
                hdu = fits.BinTableHDU(data=hdu.data[i0:i1], header=header.copy(), name="SC_DATA")
            with warnings.catch_warnings():
                # FT2 files use non-FITS units such as 'Gauss' and 'Earth_Radii'
                warnings.simplefilter("ignore", u.UnitsWarning)
                table = Table.read(hdu)
            if time_range is not None:
                table = table.copy(copy_data=True)  # off the mapped file before it is closed
            primary = hdulist[0].header.copy()
    except LATFileError:
        raise
    except (OSError, ValueError, TypeError, EOFError, IndexError) as exc:
        raise read_error(path, "FT2 file", exc) from exc
    table.meta = {}
    return table, header, primary


class SpacecraftData:
    """Spacecraft pointing and livetime history (the ``SC_DATA`` table of FT2 files).

    Rows are sorted by ``START`` and do not overlap. Times are Fermi MET in seconds.

    Parameters
    ----------
    table : `~astropy.table.Table`
        The ``SC_DATA`` rows.
    header : `~astropy.io.fits.Header`, optional
        Header of the (first) ``SC_DATA`` extension.
    filenames : list of `~pathlib.Path`, optional
        Source files.
    validate : bool
        Check ordering and overlaps (default True).
    """

    def __init__(self, table, header=None, filenames=None, validate=True):
        self.table = table
        self.header = header if header is not None else fits.Header()
        self.filenames = list(filenames or [])
        if validate:
            self._validate()

    def _source(self):
        if not self.filenames:
            return "spacecraft data"
        if len(self.filenames) == 1:
            return f"FT2 file {self.filenames[0]}"

        return f"FT2 files {_list_files(self.filenames)}"

    def _validate(self):
        start, stop = self.start, self.stop
        if len(start) == 0:
            raise LATDataError(f"{self._source()}: SC_DATA has no rows")
        if not (np.all(np.isfinite(start)) and np.all(np.isfinite(stop))):
            raise LATDataError(f"{self._source()}: non-finite START/STOP values")
        if np.any(stop < start):
            row = int(np.flatnonzero(stop < start)[0])
            raise LATDataError(f"{self._source()}: row {row} has STOP < START")
        if np.any(np.diff(start) < 0):
            row = int(np.flatnonzero(np.diff(start) < 0)[0]) + 1
            raise LATDataError(f"{self._source()}: rows are not sorted by START (row {row})")
        overlap = start[1:] < stop[:-1] - _TIME_TOL
        if np.any(overlap):
            row = int(np.flatnonzero(overlap)[0]) + 1
            raise LATDataError(
                f"{self._source()}: row {row} (START={start[row]:.6f}) overlaps the previous row "
                f"(STOP={stop[row - 1]:.6f})"
            )
        self._validate_values(start, stop)

    def _bad_rows(self, column, bad, why):
        rows = np.flatnonzero(bad)
        if rows.size:
            row = int(rows[0])
            value = float(np.asarray(self.table[column])[row])
            raise LATDataError(
                f"{self._source()}: column {column} is {why} in row {row} ({column}={value!r}, "
                f"START={float(self.table['START'][row])!r}; {rows.size} bad row(s) in all): "
                "such a spacecraft file cannot give a correct livetime"
            )

    def _validate_values(self, start, stop):
        """Livetimes within [0, STOP - START] and pointing directions on the sphere."""
        names = self.table.colnames
        if "LIVETIME" in names:
            live = self.livetime
            duration = stop - start
            self._bad_rows("LIVETIME", ~np.isfinite(live), "not finite")
            self._bad_rows("LIVETIME", live < 0, "negative")
            self._bad_rows(
                "LIVETIME", live > duration * (1 + 1e-6) + _TIME_TOL, "larger than the row duration STOP - START"
            )
        for column in ("DEC_SCZ", "DEC_SCX", "DEC_ZENITH"):
            if column in names:
                dec = np.asarray(self.table[column], dtype=float)
                with np.errstate(invalid="ignore"):
                    self._bad_rows(column, np.abs(dec) > 90 + 1e-6, "outside [-90, 90] deg")
                self._bad_rows(column, np.isinf(dec), "infinite")
        for column in ("RA_SCZ", "RA_SCX", "RA_ZENITH"):
            if column in names:
                self._bad_rows(column, np.isinf(np.asarray(self.table[column], dtype=float)), "infinite")

    # ---------------------------------------------------------------------------- reading
    @classmethod
    def read(cls, paths):
        """Read one or several FT2 files (see :func:`read_spacecraft`)."""
        return read_spacecraft(paths)

    # ---------------------------------------------------------------------- convenience
    @property
    def start(self):
        """Row start times (MET, s) as float64 array."""
        return np.asarray(self.table["START"], dtype=float)

    @property
    def stop(self):
        """Row stop times (MET, s) as float64 array."""
        return np.asarray(self.table["STOP"], dtype=float)

    @property
    def livetime(self):
        """Row livetimes (s) as float64 array."""
        return np.asarray(self.table["LIVETIME"], dtype=float)

    @property
    def tstart(self):
        """Start of the first row (MET, s)."""
        return float(self.table["START"][0])

    @property
    def tstop(self):
        """Stop of the last row (MET, s)."""
        return float(self.table["STOP"][-1])

    @property
    def time_ref(self):
        """MET reference time."""
        return time_ref_from_header(self.header)

    @property
    def gti(self):
        """Gammapy `~gammapy.data.GTI` of the time covered by the rows (contiguous rows merged)."""
        start, stop = merge_intervals(self.start, self.stop)
        return gti_from_met(start, stop, self.time_ref)

    def _radec(self, ra, dec):
        return SkyCoord(
            np.asarray(self.table[ra], float) * u.deg, np.asarray(self.table[dec], float) * u.deg, frame="icrs"
        )

    @property
    def scz(self):
        """Spacecraft z-axis (LAT boresight) directions at row start."""
        return self._radec("RA_SCZ", "DEC_SCZ")

    @property
    def scx(self):
        """Spacecraft x-axis directions at row start."""
        return self._radec("RA_SCX", "DEC_SCX")

    @property
    def zenith(self):
        """Local zenith directions at row start."""
        return self._radec("RA_ZENITH", "DEC_ZENITH")

    def __len__(self):
        return len(self.table)

    def __repr__(self):
        return (
            f"{type(self).__name__}(rows={len(self)}, tstart={self.tstart:.3f}, tstop={self.tstop:.3f}, "
            f"files={[str(f) for f in self.filenames]})"
        )

    # ------------------------------------------------------------------------ coverage
    def covers(self, tmin, tmax, tolerance=_COVERAGE_TOL):
        """Whether the rows cover ``[tmin, tmax]`` without gaps.

        Parameters
        ----------
        tmin, tmax : float
            MET range in seconds.
        tolerance : float
            Allowed mismatch in seconds at the boundaries of contiguous rows.
        """
        return not self._gaps(tmin, tmax, tolerance)

    def _gaps(self, tmin, tmax, tolerance=_TIME_TOL):
        start, stop = merge_intervals(self.start - tolerance, self.stop + tolerance)
        cov_start, cov_stop = intersect_intervals(start, stop, [tmin], [tmax])
        # gaps = [tmin, tmax] minus covered intervals
        edges = np.r_[tmin, np.ravel(np.column_stack([cov_start, cov_stop])), tmax]
        gaps = [(a, b) for a, b in zip(edges[::2], edges[1::2]) if b - a > tolerance]
        return gaps

    def check_coverage(self, tmin, tmax, what="the requested time range"):
        """Raise `~gammapy_lat.errors.LATDataError` unless ``[tmin, tmax]`` is fully covered.

        Parameters
        ----------
        tmin, tmax : float
            MET range in seconds.
        what : str
            Description of the range used in the error message (e.g. an FT1 file name).
        """
        gaps = self._gaps(float(tmin), float(tmax), _COVERAGE_TOL)
        if gaps:
            a, b = gaps[0]
            if len(self.table):
                span = f"MET {self.tstart:.3f}-{self.tstop:.3f}"
            else:
                span = f"no rows in that range; file TSTART-TSTOP {self.header.get('TSTART')}-{self.header.get('TSTOP')}"
            raise LATDataError(
                f"{self._source()} ({span}) does not cover {what} "
                f"(MET {tmin:.3f}-{tmax:.3f}): no spacecraft data in {a:.3f}-{b:.3f}"
                + (f" and {len(gaps) - 1} more gap(s)" if len(gaps) > 1 else "")
            )

    def check_gti_coverage(self, start, stop, what="the good time intervals"):
        """Raise unless every interval ``[start_i, stop_i]`` is covered by the rows."""
        for a, b in zip(np.atleast_1d(start), np.atleast_1d(stop)):
            self.check_coverage(a, b, what=what)

    # ------------------------------------------------------------------------ selection
    def select_time(self, tmin, tmax):
        """Rows overlapping ``[tmin, tmax]`` (MET, s), as a new `SpacecraftData`."""
        mask = (self.stop > tmin) & (self.start < tmax)
        return SpacecraftData(self.table[mask], self.header, self.filenames, validate=False)

    def overlap_fraction(self, start, stop):
        """Fraction of each row inside the intervals ``[start_i, stop_i]`` (vectorised).

        Parameters
        ----------
        start, stop : array-like
            Disjoint sorted intervals (MET, s), e.g. GTIs.

        Returns
        -------
        fraction : `~numpy.ndarray`
            One value in [0, 1] per row.
        """
        start, stop = merge_intervals(start, stop)
        row0, row1 = self.start, self.stop
        # cumulative covered time as a function of t: C(t) = sum over intervals of overlap with (-inf, t]
        lengths = stop - start
        cum = np.r_[0.0, np.cumsum(lengths)]

        def covered(t):
            idx = np.searchsorted(start, t, side="right")  # intervals starting before t
            full = cum[np.maximum(idx - 1, 0)]
            partial = np.where(idx > 0, np.clip(t - start[np.maximum(idx - 1, 0)], 0, None), 0.0)
            partial = np.minimum(partial, np.where(idx > 0, lengths[np.maximum(idx - 1, 0)], 0.0))
            return np.where(idx > 0, full + partial, 0.0)

        if start.size == 0:
            return np.zeros(len(self))
        duration = row1 - row0
        inside = covered(row1) - covered(row0)
        with np.errstate(invalid="ignore", divide="ignore"):
            frac = np.where(duration > 0, inside / duration, in_intervals(row0, start, stop).astype(float))
        return np.clip(frac, 0.0, 1.0)

    def livetime_in_gti(self, start, stop):
        """Total livetime inside the intervals, with fractional rows weighted by overlap (s).

        As in the Fermitools, a row partially inside the GTIs contributes its ``LIVETIME`` times
        the fraction of its duration inside them.
        """
        return float(np.sum(self.livetime * self.overlap_fraction(start, stop))) * u.s


def read_spacecraft(paths, time_range=None):
    """Read FT2 (spacecraft) files.

    Parameters
    ----------
    paths : str, `~pathlib.Path` or list
        One file, a glob, an ``@list.txt`` file or a list of these. Several files (e.g. weekly
        files) are merged: rows are sorted by ``START``; rows repeated identically in two files
        are kept once; overlapping different rows are an error.
    time_range : tuple of float, optional
        ``(tmin, tmax)`` in MET (s): keep only the rows overlapping ``[tmin, tmax]``, as
        `SpacecraftData.select_time`. Only those rows (and one more on each side, whose order is
        checked with them) are read from each file, found by bisection on the sorted
        ``START``/``STOP`` columns of the memory-mapped file: a week out of a mission-long FT2 file
        costs about as much as a weekly file. Rows out of order elsewhere in the file are not seen.

    Returns
    -------
    spacecraft : `SpacecraftData`
        The merged ``SC_DATA`` table.

    Raises
    ------
    gammapy_lat.errors.LATFileError
        A file is missing, lacks ``SC_DATA`` or a required column.
    gammapy_lat.errors.LATDataError
        Rows are not sorted or overlap.
    """
    files = resolve_paths(paths, what="FT2")
    if time_range is not None:
        time_range = tuple(float(t) for t in time_range)
    tables, header, empty_file = [], None, False
    for path in files:
        table, hdr, _ = _read_sc_table(path, time_range)
        if header is None:
            header = hdr
        tables.append(table)
        empty_file |= int(hdr.get("NAXIS2", 0)) == 0
    if len(tables) == 1:
        table = tables[0]
    else:
        table = vstack(tables, join_type="exact", metadata_conflicts="silent")
        order = np.argsort(np.asarray(table["START"], float), kind="stable")
        table = table[order]
        start = np.asarray(table["START"], float)
        stop = np.asarray(table["STOP"], float)
        dup = np.zeros(len(table), dtype=bool)
        dup[1:] = (start[1:] == start[:-1]) & (stop[1:] == stop[:-1])
        if dup.any():
            log.debug("Dropping %d spacecraft rows repeated in several FT2 files", dup.sum())
            table = table[~dup]
        if len(table):
            header = header.copy()
            header["TSTART"] = float(table["START"][0])
            header["TSTOP"] = float(table["STOP"][-1])
    if time_range is None:
        return SpacecraftData(table, header=header, filenames=files)
    # the same rows as select_time, also where a file was read whole; no row in the range is not
    # an error, an empty file is
    data = SpacecraftData(table, header=header, filenames=files, validate=len(table) > 0 or empty_file)
    return data.select_time(*time_range)
