"""Access to the LAT calibration database (CALDB) through its ``caldb.indx`` index.

The index is the OGIP calibration index file of the LAT CALDB
(``data/glast/lat/caldb.indx`` under ``$CALDB``; a gzipped copy ``caldb.indx.gz`` is accepted).
Each row describes one HDU: the file (``CAL_DIR``/``CAL_FILE``), the extension number
(``CAL_XNO``), the kind of calibration data (``CAL_CNAM``: ``EFF_AREA``, ``PHI_DEP``,
``EFFICIENCY_PARS``, ``RPSF``, ``PSF_SCALING``, ``FISHEYE_CORR``, ``EDISP``, ``EDISP_SCALING``),
the event type (``DETNAM``: ``FRONT``, ``BACK``, ``PSF0``..``PSF3``, ``EDISP0``..``EDISP3``)
and, in the boundary column ``CAL_CBD``, the IRF version and class
(``VERSION(P8R3_SOURCE_V2)``, ``CLASS(P8R3_SOURCE_FRONT)``).

The IRF name is the ``VERSION`` value (the Fermitools ``irfs`` name); the ``CLASS`` without its
event-type suffix (``P6_v3_diff``, ``P8R3_SOURCE``) is accepted as an alias. Both the Pass 8
layout (one ``_FB``/``_PSF``/``_EDISP`` file holding one HDU set per event type) and the
Pass 7/6 layout (one file per conversion type) resolve the same way.
"""
import gzip
import logging
import os
import re
from pathlib import Path

from astropy.io import fits

from ..data.constants import EVENT_TYPE_BITS
from ..data.evtypes import evtype_names
from ..errors import CALDBError

__all__ = ["CALDB", "EVENT_TYPE_BITS", "parse_event_types"]

log = logging.getLogger(__name__)


def parse_event_types(evtype):
    """Event-type names selected by a bit mask, a name or a list of them.

    The grammar is that of `gammapy_lat.data.evtype_mask` (``3``, ``"FB"``, ``"PSF2+PSF3"``,
    ``["FRONT", "BACK"]``...).

    Returns
    -------
    names : list of str
        Event-type names in bit order.

    Raises
    ------
    CALDBError
        If the selection is empty, names an unknown type or mixes partitions
        (e.g. ``FRONT`` with ``PSF0``, which would count events twice).
    """
    return evtype_names(evtype, error=CALDBError)


class CALDB:
    """LAT calibration database located through its ``caldb.indx`` index.

    Parameters
    ----------
    path : str or `~pathlib.Path`, optional
        The CALDB root (the folder holding ``data/glast/lat``), the folder holding
        ``caldb.indx``, or the index file itself. Default: the environment variable ``$CALDB``.

    Examples
    --------
    >>> from gammapy_lat.irf import CALDB
    >>> caldb = CALDB("/path/to/caldb")  # doctest: +SKIP
    >>> caldb.irf_names  # doctest: +SKIP
    ['P6_V3_DIFFUSE', 'P7REP_SOURCE_V15', 'P8R2_SOURCE_V6', ...]
    >>> caldb.event_types("P8R2_SOURCE_V6")  # doctest: +SKIP
    ['FRONT', 'BACK', 'PSF0', ...]
    """

    def __init__(self, path=None):
        if path is None:
            path = os.environ.get("CALDB")
            if not path:
                raise CALDBError(
                    "No CALDB given and the environment variable CALDB is not set; pass the path "
                    "of a LAT CALDB (the folder holding data/glast/lat/caldb.indx)"
                )
        self.index_file = self._find_index(Path(path).expanduser())
        self._entries, self._aliases = self._read_index(self.index_file)
        self.root = self._find_root()

    def __repr__(self):
        return f"{self.__class__.__name__}({str(self.root)!r})"

    @staticmethod
    def _find_index(path):
        if path.is_file():
            return path
        candidates = [
            path / "data" / "glast" / "lat" / "caldb.indx",
            path / "caldb.indx",
        ]
        for candidate in candidates:
            for name in (candidate, candidate.with_name(candidate.name + ".gz")):
                if name.is_file():
                    return name
        raise CALDBError(
            f"No LAT CALDB index found under {path}: looked for "
            + ", ".join(str(c) + "[.gz]" for c in candidates)
        )

    @staticmethod
    def _read_index(index_file):
        try:
            if index_file.suffix == ".gz":
                with gzip.open(index_file, "rb") as f:
                    hdulist = fits.HDUList.fromstring(f.read())
            else:
                hdulist = fits.open(index_file, memmap=False)
            with hdulist:
                table = hdulist["CIF"].data if "CIF" in hdulist else hdulist[1].data
                columns = ("CAL_DIR", "CAL_FILE", "CAL_CNAM", "CAL_XNO", "DETNAM", "CAL_CBD")
                missing = [c for c in columns if c not in table.columns.names]
                if missing:
                    raise CALDBError(f"CALDB index {index_file} lacks the columns {missing}")
                rows = []
                qual = table["CAL_QUAL"] if "CAL_QUAL" in table.columns.names else None
                vsd = table["CAL_VSD"] if "CAL_VSD" in table.columns.names else None
                for i in range(len(table)):
                    if qual is not None and int(qual[i]) != 0:
                        continue
                    cbd = table["CAL_CBD"][i]
                    cbd = " ".join(cbd) if not isinstance(cbd, str) else cbd
                    match = re.search(r"CLASS\(([^)]*)\)", cbd)
                    version = re.search(r"VERSION\(([^)]*)\)", cbd)
                    rows.append(
                        dict(
                            cal_dir=str(table["CAL_DIR"][i]).strip(),
                            cal_file=str(table["CAL_FILE"][i]).strip(),
                            cnam=str(table["CAL_CNAM"][i]).strip().upper(),
                            xno=int(table["CAL_XNO"][i]),
                            detnam=str(table["DETNAM"][i]).strip().upper(),
                            cls=match.group(1).strip() if match else "",
                            version=version.group(1).strip() if version else "",
                            date=str(vsd[i]).strip() if vsd is not None else "",
                        )
                    )
        except CALDBError:
            raise
        except Exception as exc:  # corrupt or non-FITS index
            raise CALDBError(f"Cannot read the CALDB index {index_file}: {exc}") from exc

        # The IRF name is the VERSION of the boundary column (the Fermitools ``irfs`` name, e.g.
        # P8R3_SOURCE_V2); the CLASS without its event-type suffix (P6_v3_diff, P8R3_SOURCE) is
        # accepted as an alias when it designates one version only.
        file_irf = {}
        aliases = {}
        for row in rows:
            suffix = "_" + row["detnam"]
            cls_name = row["cls"][: -len(suffix)] if row["cls"].upper().endswith(suffix) else ""
            row["irf"] = row["version"] or cls_name
            if row["irf"]:
                file_irf.setdefault(row["cal_file"], row["irf"])
            if cls_name and row["irf"]:
                aliases.setdefault(cls_name.upper(), set()).add(row["irf"])
        entries = {}
        for row in rows:
            irf = row["irf"] or file_irf.get(row["cal_file"])
            if not irf:
                continue
            row["irf"] = irf
            key = (irf.upper(), row["detnam"], row["cnam"])
            # several validity epochs: keep the latest
            if key not in entries or row["date"] >= entries[key]["date"]:
                entries[key] = row
        return entries, {k: v.pop() for k, v in aliases.items() if len(v) == 1}

    def _find_root(self):
        index_dir = self.index_file.parent
        some = next(iter(self._entries.values()), None)
        if some is None:
            raise CALDBError(f"The CALDB index {self.index_file} lists no usable IRF HDU")
        for root in [index_dir, *index_dir.parents[:3]]:
            if (root / some["cal_dir"]).is_dir():
                return root
        raise CALDBError(
            f"The folders of the CALDB index {self.index_file} (e.g. {some['cal_dir']}) "
            "do not exist relative to it"
        )

    @property
    def irf_names(self):
        """IRF names held by this CALDB (sorted)."""
        return sorted({row["irf"] for row in self._entries.values()})

    def resolve_name(self, irf_name):
        """The IRF name as held by the CALDB, for any case or accepted alias.

        Raises
        ------
        CALDBError
            Unknown name; the message lists the IRFs of the CALDB.
        """
        names = {name.upper(): name for name in self.irf_names}
        key = str(irf_name).strip().upper()
        if key not in names and key in self._aliases:
            key = self._aliases[key].upper()
        if key not in names:
            raise CALDBError(
                f"IRF {irf_name!r} not found in the CALDB {self.index_file}; it holds: "
                + ", ".join(self.irf_names)
            )
        return names[key]

    def event_types(self, irf_name):
        """Event types available for an IRF, in bit order."""
        irf = self.resolve_name(irf_name).upper()
        found = {row["detnam"] for (name, _, _), row in self._entries.items() if name == irf}
        return [name for name in EVENT_TYPE_BITS if name in found]

    def hdu_location(self, irf_name, event_type, cnam, required=True):
        """File and extension number of one IRF HDU.

        Parameters
        ----------
        irf_name : str
            IRF name, e.g. ``"P8R2_SOURCE_V6"`` (case-insensitive).
        event_type : str
            Event-type name, e.g. ``"FRONT"``.
        cnam : str
            Calibration data name (``EFF_AREA``, ``PHI_DEP``, ``EFFICIENCY_PARS``, ``RPSF``,
            ``PSF_SCALING``, ``FISHEYE_CORR``, ``EDISP``, ``EDISP_SCALING``).
        required : bool
            Whether a missing entry is an error (otherwise `None` is returned).

        Returns
        -------
        location : tuple of (`~pathlib.Path`, int) or None
        """
        irf = self.resolve_name(irf_name)
        event_type = str(event_type).upper()
        available = self.event_types(irf)
        if event_type not in available:
            raise CALDBError(
                f"Event type {event_type} not available for IRF {irf} in the CALDB "
                f"{self.index_file}; available: {', '.join(available)}"
            )
        row = self._entries.get((irf.upper(), event_type, cnam.upper()))
        if row is None:
            if required:
                raise CALDBError(
                    f"The CALDB {self.index_file} has no {cnam} HDU for IRF {irf} {event_type}"
                )
            return None
        folder = self.root / row["cal_dir"]
        path = folder / row["cal_file"]
        for candidate in (path, path.with_name(path.name + ".gz"), path.with_suffix("")):
            if candidate.is_file():
                return candidate, row["xno"]
        raise CALDBError(
            f"CALDB file {path} (listed in {self.index_file} for {irf} {event_type} {cnam}) "
            "does not exist"
        )

    def check_irf(self, irf_name, evtype, psf=True, edisp=True):
        """Check that every file an IRF needs for an event-type selection is present.

        Runs the look-ups of `~gammapy_lat.irf.LATIRFs.from_caldb` without reading the IRFs, so
        that a configuration can be checked before any work starts.

        Parameters
        ----------
        irf_name : str
            IRF name (any accepted alias).
        evtype : int, str or sequence
            Event-type selection (see `parse_event_types`).
        psf, edisp : bool
            Whether the PSF and energy-dispersion files are needed too.

        Returns
        -------
        files : list of `~pathlib.Path`
            The files found.

        Raises
        ------
        CALDBError
            Unknown IRF or event type, or a file listed in the index that does not exist.
        """
        irf = self.resolve_name(irf_name)
        names = parse_event_types(evtype)
        available = self.event_types(irf)
        missing = [name for name in names if name not in available]
        if missing:
            raise CALDBError(
                f"Event type(s) {', '.join(missing)} not available for IRF {irf} in the CALDB "
                f"{self.index_file}; available: {', '.join(available)}"
            )
        cnams = ["EFF_AREA"] + (["RPSF"] if psf else []) + (["EDISP"] if edisp else [])
        optional = ["PHI_DEP", "EFFICIENCY_PARS"] + (["PSF_SCALING"] if psf else []) + (["EDISP_SCALING"] if edisp else [])
        files = []
        for name in names:
            for cnam in cnams:
                files.append(self.hdu_location(irf, name, cnam)[0])
            for cnam in optional:
                location = self.hdu_location(irf, name, cnam, required=False)
                if location is not None:
                    files.append(location[0])
        return sorted(set(files))
