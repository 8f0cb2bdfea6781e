"""Target positions without a name resolver: ``RA,DEC`` or a name from a built-in table.

The table holds common very-high-energy targets (ICRS, J2000 positions of the optical or radio
counterpart, to better than an arcsecond for the point-like ones). Names are compared without
case, spaces and punctuation (``"pks 2155-304"`` = ``"PKS2155-304"``). A name not in the table is
looked up in the ``OBJECT`` column of the data store's obs-index (its ``RA_OBJ``/``DEC_OBJ``).
Nothing goes to the network.
"""
import re
from dataclasses import dataclass

import numpy as np
from astropy.coordinates import SkyCoord

from ..errors import SelectionError

__all__ = ["Target", "resolve_target", "KNOWN_TARGETS", "normalise_name"]

#: name -> (RA deg, Dec deg, aliases)
KNOWN_TARGETS = {
    "Crab Nebula": (83.63308, 22.01450, ["Crab", "M1", "Tau A", "Crab pulsar", "PSR B0531+21"]),
    "PKS 2155-304": (329.71694, -30.22559, ["PKS2155", "HESS J2158-302"]),
    "Mrk 421": (166.11381, 38.20883, ["Markarian 421"]),
    "Mrk 501": (253.46757, 39.76017, ["Markarian 501"]),
    "Mrk 180": (174.11003, 70.15758, ["Markarian 180"]),
    "1ES 1959+650": (299.99939, 65.14852, []),
    "1ES 2344+514": (356.77015, 51.70497, []),
    "1ES 1218+304": (185.34142, 30.17698, []),
    "1ES 0229+200": (38.20256, 20.28819, []),
    "BL Lac": (330.68038, 42.27777, ["BL Lacertae"]),
    "3C 279": (194.04653, -5.78931, []),
    "3C 454.3": (343.49062, 16.14821, []),
    "PKS 1510-089": (228.21055, -9.09995, []),
    "PKS 1424+240": (216.75163, 23.80000, []),
    "PKS 2005-489": (302.35579, -48.83163, []),
    "PG 1553+113": (238.92935, 11.19010, []),
    "H 2356-309": (359.78288, -30.62782, []),
    "W Comae": (185.38203, 28.23292, ["W Com"]),
    "S5 0716+714": (110.47270, 71.34343, []),
    "OJ 287": (133.70365, 20.10851, []),
    "TXS 0506+056": (77.35819, 5.69315, []),
    "IC 310": (49.17907, 41.32475, []),
    "NGC 1275": (49.95067, 41.51170, ["Perseus A", "3C 84"]),
    "M87": (187.70593, 12.39112, ["Virgo A", "NGC 4486"]),
    "Cen A": (201.36506, -43.01911, ["Centaurus A", "NGC 5128"]),
    "NGC 253": (11.88806, -25.28822, []),
    "M82": (148.96969, 69.67938, ["NGC 3034"]),
    "Sgr A*": (266.41684, -29.00781, ["Galactic Centre", "Galactic Center", "GC", "HESS J1745-290"]),
    "Vela pulsar": (128.83606, -45.17643, ["PSR B0833-45", "Vela"]),
    "Geminga": (98.47564, 17.77025, ["PSR J0633+1746"]),
    "MSH 15-52": (228.48167, -59.13583, ["PSR B1509-58", "HESS J1514-591"]),
    "RX J1713.7-3946": (258.38792, -39.76222, ["RXJ1713", "HESS J1713-397"]),
    "Cas A": (350.85000, 58.81500, ["Cassiopeia A"]),
    "LS I +61 303": (40.13194, 61.22933, ["LSI +61 303", "LSI+61303"]),
    "LS 5039": (276.56272, -14.84833, []),
    "PSR B1259-63": (195.69854, -63.83570, ["PSR B1259-63/LS 2883"]),
    "Cyg X-3": (308.10742, 40.95775, ["Cygnus X-3"]),
    "Cyg X-1": (299.59032, 35.20161, ["Cygnus X-1"]),
    "SS 433": (287.95650, 4.98267, []),
    "RS Oph": (267.55486, -6.70783, ["RS Ophiuchi"]),
    "T CrB": (239.87567, 25.92017, ["T Coronae Borealis"]),
}


def normalise_name(name):
    """Lower case, without spaces and punctuation (``*`` kept)."""
    return re.sub(r"[^0-9a-z*]", "", str(name).lower())


_LOOKUP = {}
for _name, (_ra, _dec, _aliases) in KNOWN_TARGETS.items():
    for _alias in [_name] + _aliases:
        _LOOKUP[normalise_name(_alias)] = _name


@dataclass
class Target:
    """A named sky position."""

    name: str
    position: SkyCoord
    source: str = "coordinates"

    @property
    def slug(self):
        """File-name friendly version of the name."""
        return re.sub(r"[^0-9A-Za-z+.-]+", "_", self.name).strip("_") or "target"


def _parse_coordinates(text):
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 2:
        parts = text.split()
    if len(parts) != 2 or not all(parts):
        return None
    if any(c in parts[0] for c in ":hms"):
        try:
            return SkyCoord(parts[0], parts[1], unit=("hourangle", "deg"), frame="icrs")
        except Exception:  # astropy raises several parser errors
            return None
    try:
        ra, dec = float(parts[0]), float(parts[1])
    except ValueError:
        return None
    if not (0 <= ra <= 360 and -90 <= dec <= 90):
        raise SelectionError(f"target {text!r}: RA must be in [0, 360] deg and Dec in [-90, 90] deg")
    return SkyCoord(ra, dec, unit="deg", frame="icrs")


def resolve_target(text, obs_table=None):
    """Target from ``RA,DEC`` (degrees or sexagesimal) or a name.

    Parameters
    ----------
    text : str
        ``"83.633,22.014"``, ``"05:34:31.9,+22:00:52"``, or a name (``"Crab"``,
        ``"PKS 2155-304"``).
    obs_table : `~astropy.table.Table`, optional
        obs-index whose ``OBJECT``, ``RA_OBJ`` and ``DEC_OBJ`` columns are used for names that are
        not in the built-in table.

    Returns
    -------
    target : `Target`

    Raises
    ------
    SelectionError
        When the name is unknown (the message lists what was tried).
    """
    text = str(text).strip()
    if not text:
        raise SelectionError("target: empty name")
    position = _parse_coordinates(text)
    if position is not None:
        name = f"RA {position.ra.deg:.3f} Dec {position.dec.deg:+.3f}"
        return Target(name, position, "coordinates")
    key = normalise_name(text)
    if key in _LOOKUP:
        name = _LOOKUP[key]
        ra, dec, _ = KNOWN_TARGETS[name]
        return Target(name, SkyCoord(ra, dec, unit="deg", frame="icrs"), "built-in table")
    if obs_table is not None and {"OBJECT", "RA_OBJ", "DEC_OBJ"} <= set(obs_table.colnames):
        names = np.array([normalise_name(n) for n in obs_table["OBJECT"]])
        match = names == key
        if np.any(match):
            ra = np.asarray(obs_table["RA_OBJ"][match], dtype=float)
            dec = np.asarray(obs_table["DEC_OBJ"][match], dtype=float)
            name = str(obs_table["OBJECT"][match][0]).strip()
            return Target(name, SkyCoord(np.median(ra), np.median(dec), unit="deg"), "obs-index")
    raise SelectionError(
        f"target {text!r}: not a position ('RA,DEC' in degrees or 'hh:mm:ss,dd:mm:ss') and not a "
        "known name (built-in table" + (" or the obs-index OBJECT column" if obs_table is not None else "")
        + "); give RA,DEC"
    )
