"""FT2 (spacecraft) files: the ``SC_DATA`` pointing and livetime history."""
import logging
import warnings

import numpy as np
import astropy.units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.table import Table, vstack

from ..errors import LATDataError, LATFileError
from .gti import gti_from_met, in_intervals, intersect_intervals, merge_intervals, time_ref_from_header
from .paths import resolve_paths

__all__ = ["read_spacecraft", "SpacecraftData", "REQUIRED_SC_COLUMNS"]

log = logging.getLogger(__name__)

#: Columns every FT2 file must have for the data layer and the livetime cube.
REQUIRED_SC_COLUMNS = ("START", "STOP", "LIVETIME", "RA_SCZ", "DEC_SCZ", "RA_SCX", "DEC_SCX", "RA_ZENITH", "DEC_ZENITH")

# tolerance (s) for rows that touch: FT2 START/STOP are float64 MET
_TIME_TOL = 1e-6
# gaps in the spacecraft history shorter than this (s) do not count as missing coverage
_COVERAGE_TOL = 1e-3


def _read_sc_table(path):
    try:
        with fits.open(path, memmap=False) as hdulist:
            if "SC_DATA" not in hdulist:
                names = [hdu.name for hdu in hdulist]
                raise LATFileError(
                    f"FT2 file {path} has no SC_DATA extension (extensions: {', '.join(names)})"
                )
            hdu = hdulist["SC_DATA"]
            with warnings.catch_warnings():
                # FT2 files use non-FITS units such as 'Gauss' and 'Earth_Radii'
                warnings.simplefilter("ignore", u.UnitsWarning)
                table = Table.read(hdu)
            header = hdu.header.copy()
            primary = hdulist[0].header.copy()
    except OSError as exc:
        if isinstance(exc, LATFileError):
            raise
        raise LATFileError(f"Cannot read FT2 file {path}: {exc}") from exc
    missing = [c for c in REQUIRED_SC_COLUMNS if c not in table.colnames]
    if missing:
        raise LATFileError(f"FT2 file {path}: SC_DATA lacks required column(s) {', '.join(missing)}")
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
        from .ft1 import _list_files

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
            raise LATDataError(
                f"{self._source()} (MET {self.tstart:.3f}-{self.tstop:.3f}) does not cover {what} "
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


def read_spacecraft(paths):
    """Read FT2 (spacecraft) files.

    Parameters
    ----------
    paths : str, `~pathlib.Path` or list
        One file, a glob, an ``@list.txt`` file or a list of these. Several files (e.g. weekly
        files) are merged: rows are sorted by ``START``; rows repeated identically in two files
        are kept once; overlapping different rows are an error.

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
    tables, header = [], None
    for path in files:
        table, hdr, _ = _read_sc_table(path)
        if header is None:
            header = hdr
        tables.append(table)
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
        header = header.copy()
        header["TSTART"] = float(table["START"][0])
        header["TSTOP"] = float(table["STOP"][-1])
    return SpacecraftData(table, header=header, filenames=files)
