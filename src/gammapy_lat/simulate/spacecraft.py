"""Simulation of the LAT pointing and livetime history (FT2 spacecraft files).

The spacecraft is on a circular orbit of given altitude and inclination whose ascending node
regresses under the Earth's oblateness (J2), which gives the ~53-day precession period of the
Fermi orbit. The LAT points in survey mode: the +z axis is tilted from the zenith towards the
north (positive rocking angle) or south orbital pole by a rocking angle that follows a profile
(by default ±50° alternating every orbit), and the spacecraft yaws about +z so that the Sun
stays in the x-z plane on the +x side, as on Fermi. Geographic coordinates follow the Earth's
rotation (Greenwich mean sidereal time). The live fraction follows the McIlwain L parameter of a
tilted-dipole geomagnetic field with the linear relation seen in flight data, and rows inside a
polygon approximating the South Atlantic Anomaly (SAA) have no livetime and ``DATA_QUAL = 0``
(or are left out of the file, as in data-server files).

Everything is vectorised over the rows: a year at 30 s steps (about one million rows) takes a
few seconds.
"""
import logging
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.io import fits
from astropy.table import Table
from scipy.spatial.transform import Rotation

from ..data.constants import MJDREFF, MJDREFI
from ..data.gti import met_to_time
from ..errors import SimulationError
from ..utils import write_fits_atomic

__all__ = [
    "OrbitParameters",
    "RockingProfile",
    "SAA_POLYGON",
    "simulate_spacecraft",
    "spacecraft_hdulist",
    "write_spacecraft",
]

log = logging.getLogger(__name__)

# Fermi mission elapsed time reference (MET 0 = 2001-01-01T00:00:00 UTC), TT.

GM_EARTH = 3.986004418e14  # m3 s-2
R_EARTH_EQ = 6378137.0  # m, WGS84
R_EARTH_POL = 6356752.314  # m, WGS84
J2_EARTH = 1.08262668e-3
# Tilted-dipole approximation of the geomagnetic field (north geomagnetic pole, IGRF epoch 2015).
GEOMAG_POLE_LAT = 80.37  # deg
GEOMAG_POLE_LON = -72.62  # deg
B0_DIPOLE = 0.3  # Gauss at the equatorial surface

# Polygon in (longitude, latitude) degrees approximating the region of the South Atlantic
# Anomaly in which the LAT stops taking data (drawn to match the data gaps of flight FT2 files).
SAA_POLYGON = np.array(
    [
        [-88.0, -30.0],
        [-98.0, -14.0],
        [-96.0, -9.0],
        [-60.0, 0.0],
        [-38.0, 5.0],
        [-25.0, 5.0],
        [-15.0, 2.0],
        [25.0, -22.0],
        [34.0, -30.0],
    ]
)


def _unit_vector(lon, lat):
    """Unit vectors (..., 3) from longitude and latitude in radians."""
    clat = np.cos(lat)
    return np.stack([clat * np.cos(lon), clat * np.sin(lon), np.sin(lat)], axis=-1)


def _lonlat(vec):
    """Longitude in [0, 360) and latitude in degrees of vectors (..., 3)."""
    norm = np.linalg.norm(vec, axis=-1)
    lon = np.degrees(np.arctan2(vec[..., 1], vec[..., 0])) % 360.0
    lat = np.degrees(np.arcsin(np.clip(vec[..., 2] / norm, -1.0, 1.0)))
    return lon, lat


def _normalize(vec):
    return vec / np.linalg.norm(vec, axis=-1, keepdims=True)


def met_to_jd_tt(met):
    """Julian date (TT) of mission elapsed times."""
    return 2400000.5 + MJDREFI + MJDREFF + np.asarray(met, dtype=float) / 86400.0


def _tt_minus_utc(met):
    """TT - UTC in seconds at a mission elapsed time (leap seconds from astropy)."""
    t = met_to_time(met)
    return float((t.tt.mjd - t.utc.mjd) * 86400.0)


def gmst_deg(met, tt_minus_utc=69.184):
    """Greenwich mean sidereal time in degrees (UT1 taken equal to UTC).

    Parameters
    ----------
    met : array-like
        Mission elapsed time (s).
    tt_minus_utc : float
        TT - UTC in seconds over the interval.
    """
    jd_ut = met_to_jd_tt(met) - tt_minus_utc / 86400.0
    return (280.46061837 + 360.98564736629 * (jd_ut - 2451545.0)) % 360.0


def sun_direction(met):
    """Unit vector of the Sun in equatorial coordinates (low-precision solar ephemeris, ~0.01°)."""
    n = met_to_jd_tt(met) - 2451545.0
    mean_lon = np.radians(280.460 + 0.9856474 * n)
    anomaly = np.radians(357.528 + 0.9856003 * n)
    ecl_lon = mean_lon + np.radians(1.915) * np.sin(anomaly) + np.radians(0.020) * np.sin(2 * anomaly)
    # from the equinox of date to J2000 (general precession, 1.397 deg per century)
    ecl_lon = ecl_lon - np.radians(3.8248e-5) * n
    eps = np.radians(23.4393)
    return np.stack(
        [np.cos(ecl_lon), np.cos(eps) * np.sin(ecl_lon), np.sin(eps) * np.sin(ecl_lon)], axis=-1
    )


class OrbitParameters:
    """Circular orbit with J2 nodal precession.

    Parameters
    ----------
    altitude : `~astropy.units.Quantity`
        Height above the equatorial radius; 550 km gives the 95.6 min period of Fermi.
    inclination : `~astropy.units.Quantity`
        Orbit inclination (25.6° for Fermi).
    raan : `~astropy.units.Quantity`
        Right ascension of the ascending node at ``epoch``.
    argument_of_latitude : `~astropy.units.Quantity`
        Angle from the ascending node along the orbit at ``epoch``.
    epoch : float
        Mission elapsed time (s) of the elements above.
    precession_period : `~astropy.units.Quantity` or None
        Period of the regression of the node. By default it follows from the Earth's J2 term
        (about 53.4 days for the defaults).
    """

    def __init__(
        self,
        altitude=550 * u.km,
        inclination=25.6 * u.deg,
        raan=0 * u.deg,
        argument_of_latitude=0 * u.deg,
        epoch=0.0,
        precession_period=None,
    ):
        self.altitude = u.Quantity(altitude, "km")
        self.inclination = u.Quantity(inclination, "deg")
        self.raan = u.Quantity(raan, "deg")
        self.argument_of_latitude = u.Quantity(argument_of_latitude, "deg")
        self.epoch = float(epoch)
        if self.altitude <= 0 * u.km:
            raise SimulationError(f"Orbit altitude must be positive, got {self.altitude}")
        if not 0 * u.deg <= self.inclination <= 180 * u.deg:
            raise SimulationError(f"Orbit inclination must be in [0, 180] deg, got {self.inclination}")
        self._precession_period = None if precession_period is None else u.Quantity(precession_period, "d")

    @property
    def semi_major_axis(self):
        """Orbit radius (m)."""
        return R_EARTH_EQ + self.altitude.to_value("m")

    @property
    def mean_motion(self):
        """Angular velocity along the orbit (rad/s, Keplerian)."""
        return np.sqrt(GM_EARTH / self.semi_major_axis**3)

    @property
    def period(self):
        """Orbital period."""
        return (2 * np.pi / self.mean_motion) * u.s

    @property
    def nodal_rate(self):
        """Rate of change of the right ascension of the ascending node (rad/s, negative = regression)."""
        if self._precession_period is not None:
            return -2 * np.pi / self._precession_period.to_value("s")
        a = self.semi_major_axis
        return -1.5 * self.mean_motion * J2_EARTH * (R_EARTH_EQ / a) ** 2 * np.cos(self.inclination.to_value("rad"))

    @property
    def precession_period(self):
        """Period of the nodal precession."""
        return (2 * np.pi / abs(self.nodal_rate) * u.s).to("d")

    def elements(self, met):
        """Node right ascension and argument of latitude (rad) at the given times."""
        dt = np.asarray(met, dtype=float) - self.epoch
        raan = self.raan.to_value("rad") + self.nodal_rate * dt
        arglat = self.argument_of_latitude.to_value("rad") + self.mean_motion * dt
        return raan, arglat

    def position(self, met):
        """Unit position vectors (n, 3), orbit-normal unit vectors (n, 3) and argument of latitude."""
        raan, arglat = self.elements(met)
        inc = self.inclination.to_value("rad")
        cO, sO = np.cos(raan), np.sin(raan)
        cu, su = np.cos(arglat), np.sin(arglat)
        ci, si = np.cos(inc), np.sin(inc)
        pos = np.stack([cO * cu - sO * su * ci, sO * cu + cO * su * ci, su * si], axis=-1)
        normal = np.stack([sO * si, -cO * si, np.full_like(raan, ci)], axis=-1)
        return pos, normal, arglat


class RockingProfile:
    """Rocking angle of the LAT +z axis from the zenith (positive towards the north orbital pole).

    Parameters
    ----------
    kind : {"alternating", "constant", "sinusoidal"}
        ``alternating``: ``+angle`` during one orbit and ``-angle`` during the next (survey mode,
        switching at the ascending node, with linear slews of ``slew_time``); ``constant``: a fixed
        angle (``0`` is zenith pointing); ``sinusoidal``: ``angle * sin(u / 2)`` with ``u`` the
        argument of latitude.
    angle : `~astropy.units.Quantity`
        Rocking amplitude (50° in the nominal survey since 2009, 35° before).
    slew_time : `~astropy.units.Quantity`
        Duration of the transition between north and south rocking (``alternating`` only).
    """

    KINDS = ("alternating", "constant", "sinusoidal")

    def __init__(self, kind="alternating", angle=50 * u.deg, slew_time=240 * u.s):
        if kind not in self.KINDS:
            raise SimulationError(f"Unknown rocking profile {kind!r}; choose one of {self.KINDS}")
        self.kind = kind
        self.angle = u.Quantity(angle, "deg")
        if abs(self.angle) > 90 * u.deg:
            raise SimulationError(f"Rocking angle must be within ±90 deg, got {self.angle}")
        self.slew_time = u.Quantity(slew_time, "s")
        if self.slew_time < 0 * u.s:
            raise SimulationError(f"Rocking slew_time must be >= 0, got {self.slew_time}")

    def __call__(self, arglat, mean_motion):
        """Rocking angle (deg) for arguments of latitude (rad)."""
        amp = self.angle.to_value("deg")
        if self.kind == "constant":
            return np.full(np.shape(arglat), amp)
        half = 0.5 * np.asarray(arglat)
        if self.kind == "sinusoidal":
            return amp * np.sin(half)
        # square wave of period two orbits with linear ramps of the requested duration
        w = 0.25 * self.slew_time.to_value("s") * mean_motion
        if w <= 0:
            return np.where(np.sin(half) >= 0, amp, -amp)
        # distance (in u/2 units) to the nearest switch, signed by the half-period
        phase = np.mod(half, np.pi)
        dist = np.minimum(phase, np.pi - phase)
        sign = np.where(np.mod(half, 2 * np.pi) < np.pi, 1.0, -1.0)
        # rising/falling ramps centred on the switch
        ramp = np.clip(dist / w, 0.0, 1.0)
        return amp * sign * ramp


def _points_in_polygon(lon, lat, polygon):
    """Even-odd rule point-in-polygon test, vectorised over the points."""
    inside = np.zeros(np.shape(lon), dtype=bool)
    px, py = polygon[:, 0], polygon[:, 1]
    n = len(px)
    for i in range(n):  # loop over the (few) polygon edges only
        x1, y1, x2, y2 = px[i], py[i], px[(i + 1) % n], py[(i + 1) % n]
        crosses = (y1 > lat) != (y2 > lat)
        with np.errstate(divide="ignore", invalid="ignore"):
            xint = x1 + (lat - y1) * (x2 - x1) / (y2 - y1)
        inside ^= crosses & (lon < xint)
    return inside


def _geomagnetic(pos_geo, radius):
    """Dipole geomagnetic latitude (deg), McIlwain L and field B (Gauss)."""
    pole = _unit_vector(np.radians(GEOMAG_POLE_LON), np.radians(GEOMAG_POLE_LAT))
    sin_lam = np.clip(pos_geo @ pole, -1.0, 1.0)
    lam = np.degrees(np.arcsin(sin_lam))
    r_re = radius / R_EARTH_EQ
    cos2 = np.maximum(1.0 - sin_lam**2, 1e-12)
    mc_l = r_re / cos2
    b_field = B0_DIPOLE / r_re**3 * np.sqrt(1.0 + 3.0 * sin_lam**2)
    invariant = np.degrees(np.arccos(np.sqrt(np.clip(1.0 / mc_l, 0.0, 1.0))))
    return lam, invariant, mc_l, b_field


def _ellipsoid_radius(lat_rad):
    a, b = R_EARTH_EQ, R_EARTH_POL
    c, s = np.cos(lat_rad), np.sin(lat_rad)
    return np.sqrt(((a * a * c) ** 2 + (b * b * s) ** 2) / ((a * c) ** 2 + (b * s) ** 2))


def _quaternions(x, y, z):
    """Attitude quaternions (scalar last) of the rotation whose matrix columns are x, y, z."""

    matrix = np.stack([x, y, z], axis=-1)
    return Rotation.from_matrix(matrix).as_quat()


def _live_fraction(mc_l, model):
    if model == "geomagnetic":
        # Linear relation between the live fraction and McIlwain L fitted on flight FT2 data
        # (correlation -0.97): about 0.93 at L = 1 and 0.83 at L = 1.7, mean ~0.9.
        return np.clip(1.085 - 0.148 * mc_l, 0.5, 0.97)
    frac = float(model)
    if not 0 < frac <= 1:
        raise SimulationError(f"livetime_fraction must be in (0, 1] or 'geomagnetic', got {model!r}")
    return np.full(np.shape(mc_l), frac)


def simulate_spacecraft(
    tstart,
    tstop,
    step=30 * u.s,
    orbit=None,
    rocking=None,
    livetime_fraction="geomagnetic",
    saa=True,
    saa_rows="flag",
    saa_polygon=None,
):
    """Simulate a LAT spacecraft (FT2) history.

    Parameters
    ----------
    tstart, tstop : float or `~astropy.units.Quantity`
        Start and stop in mission elapsed time (s).
    step : `~astropy.units.Quantity`
        Row duration (30 s in data-server files).
    orbit : `OrbitParameters`, optional
        Orbit; default: 550 km, 25.6°, J2 precession.
    rocking : `RockingProfile` or dict, optional
        Rocking profile; default ±50° alternating each orbit.
    livetime_fraction : "geomagnetic" or float
        Live fraction per row: a function of McIlwain L (mean ~0.9) or a constant.
    saa : bool
        Whether the LAT stops taking data inside ``saa_polygon``.
    saa_rows : {"flag", "drop"}
        Rows inside the SAA are kept with ``IN_SAA = T``, ``LIVETIME = 0`` and ``DATA_QUAL = 0``
        (``flag``) or omitted from the table, leaving time gaps as in data-server files (``drop``).
    saa_polygon : array of shape (n, 2), optional
        (longitude, latitude) vertices in degrees; default `SAA_POLYGON`.

    Returns
    -------
    table : `~astropy.table.Table`
        The ``SC_DATA`` table with the standard columns, units and header keywords in ``meta``.
    """
    tstart = float(u.Quantity(tstart, "s").value)
    tstop = float(u.Quantity(tstop, "s").value)
    dt = float(u.Quantity(step, "s").value)
    if not np.isfinite(tstart) or not np.isfinite(tstop) or tstop <= tstart:
        raise SimulationError(f"Invalid time range: tstart={tstart}, tstop={tstop} (need tstop > tstart)")
    if dt <= 0:
        raise SimulationError(f"Step must be positive, got {step}")
    if saa_rows not in ("flag", "drop"):
        raise SimulationError(f"saa_rows must be 'flag' or 'drop', got {saa_rows!r}")
    orbit = orbit or OrbitParameters()
    if isinstance(rocking, dict):
        rocking = RockingProfile(**rocking)
    rocking = rocking or RockingProfile()

    nrows = int(np.ceil((tstop - tstart) / dt - 1e-9))
    start = tstart + dt * np.arange(nrows)
    stop = np.minimum(start + dt, tstop)

    pos, normal, arglat = orbit.position(start)
    radius = orbit.semi_major_axis
    sc_position = pos * radius

    # Geographic coordinates: rotate by the Greenwich sidereal angle.
    ra_zen, dec_zen = _lonlat(pos)
    gmst = gmst_deg(start, _tt_minus_utc(0.5 * (tstart + tstop)))
    lon_geo = (ra_zen - gmst + 180.0) % 360.0 - 180.0
    lat_geo = dec_zen
    alt = radius - _ellipsoid_radius(np.radians(lat_geo))
    pos_geo = _unit_vector(np.radians(lon_geo), np.radians(lat_geo))

    # Attitude
    rock = rocking(arglat, orbit.mean_motion)
    rock_rad = np.radians(rock)[:, None]
    scz = np.cos(rock_rad) * pos + np.sin(rock_rad) * normal
    sun = sun_direction(start)
    x_raw = sun - np.sum(sun * scz, axis=-1, keepdims=True) * scz
    degenerate = np.linalg.norm(x_raw, axis=-1) < 1e-6
    if np.any(degenerate):
        velocity = np.cross(normal, pos)
        x_raw[degenerate] = velocity[degenerate]
    scx = _normalize(x_raw)
    scy = np.cross(scz, scx)
    quat = _quaternions(scx, scy, scz)
    ra_scz, dec_scz = _lonlat(scz)
    ra_scx, dec_scx = _lonlat(scx)
    ra_np, dec_np = _lonlat(normal)
    ra_sun, dec_sun = _lonlat(sun)

    lam, invariant, mc_l, b_field = _geomagnetic(pos_geo, radius)

    live = (stop - start) * _live_fraction(mc_l, livetime_fraction)
    if saa:
        polygon = SAA_POLYGON if saa_polygon is None else np.asarray(saa_polygon, dtype=float)
        in_saa = _points_in_polygon(lon_geo, lat_geo, polygon)
    else:
        in_saa = np.zeros(nrows, dtype=bool)
    live[in_saa] = 0.0
    data_qual = np.where(in_saa, 0, 1).astype(np.int16)

    table = Table()
    table["START"] = u.Quantity(start, "s")
    table["STOP"] = u.Quantity(stop, "s")
    table["SC_POSITION"] = u.Quantity(sc_position.astype(np.float32), "m")
    table["LAT_GEO"] = u.Quantity(lat_geo.astype(np.float32), "deg")
    table["LON_GEO"] = u.Quantity(lon_geo.astype(np.float32), "deg")
    table["RAD_GEO"] = u.Quantity(alt, "m")
    table["RA_ZENITH"] = u.Quantity(ra_zen.astype(np.float32), "deg")
    table["DEC_ZENITH"] = u.Quantity(dec_zen.astype(np.float32), "deg")
    table["B_MCILWAIN"] = b_field.astype(np.float32)
    table["L_MCILWAIN"] = mc_l.astype(np.float32)
    table["GEOMAG_LAT"] = u.Quantity(invariant.astype(np.float32), "deg")
    table["LAMBDA"] = u.Quantity(lam.astype(np.float32), "deg")
    table["IN_SAA"] = in_saa
    table["RA_SCZ"] = u.Quantity(ra_scz.astype(np.float32), "deg")
    table["DEC_SCZ"] = u.Quantity(dec_scz.astype(np.float32), "deg")
    table["RA_SCX"] = u.Quantity(ra_scx.astype(np.float32), "deg")
    table["DEC_SCX"] = u.Quantity(dec_scx.astype(np.float32), "deg")
    table["RA_NPOLE"] = u.Quantity(ra_np.astype(np.float32), "deg")
    table["DEC_NPOLE"] = u.Quantity(dec_np.astype(np.float32), "deg")
    table["ROCK_ANGLE"] = u.Quantity(rock.astype(np.float32), "deg")
    table["LAT_MODE"] = np.full(nrows, 5, dtype=np.int32)
    table["LAT_CONFIG"] = np.ones(nrows, dtype=np.uint8)
    table["DATA_QUAL"] = data_qual
    table["LIVETIME"] = u.Quantity(live, "s")
    for i in range(4):
        table[f"QSJ_{i + 1}"] = quat[:, i]
    table["RA_SUN"] = u.Quantity(ra_sun.astype(np.float32), "deg")
    table["DEC_SUN"] = u.Quantity(dec_sun.astype(np.float32), "deg")

    if saa and saa_rows == "drop":
        table = table[~in_saa]

    table.meta.update(_time_keywords(tstart, tstop))
    table.meta["EXTNAME"] = "SC_DATA"
    table.meta["ORB_ALT"] = (float(orbit.altitude.to_value("km")), "[km] simulated orbit altitude")
    table.meta["ORB_INC"] = (float(orbit.inclination.to_value("deg")), "[deg] simulated orbit inclination")
    table.meta["ORB_PREC"] = (float(orbit.precession_period.to_value("d")), "[d] simulated nodal precession period")
    table.meta["ROCKPROF"] = (rocking.kind, "simulated rocking profile")
    table.meta["ROCKAMP"] = (float(rocking.angle.to_value("deg")), "[deg] simulated rocking amplitude")
    return table


def _met_to_isot(met):
    return met_to_time(met).utc.isot


def _time_keywords(tstart, tstop):
    return {
        "TELESCOP": ("GLAST", "name of telescope generating data"),
        "INSTRUME": ("LAT", "name of instrument generating data"),
        "EQUINOX": (2000.0, "equinox for ra and dec"),
        "RADECSYS": ("FK5", "world coord. system for this file (FK5 or FK4)"),
        "DATE-OBS": (_met_to_isot(tstart), "START date and time of the observation (UTC)"),
        "DATE-END": (_met_to_isot(tstop), "end date and time of the observation (UTC)"),
        "TSTART": (tstart, "mission time of the START of the observation"),
        "TSTOP": (tstop, "mission time of the end of the observation"),
        "MJDREFI": (MJDREFI, "Integer part of MJD corresponding to SC clock START"),
        "MJDREFF": (MJDREFF, "Fractional part of MJD corresponding to SC clock START"),
        "TIMEUNIT": ("s", "units for the time related keywords"),
        "TIMEZERO": (0.0, "clock correction"),
        "TIMESYS": ("TT", "type of time system that is used"),
        "TIMEREF": ("LOCAL", "reference frame used for times"),
        "TASSIGN": ("SATELLITE", "location where time assignment performed"),
        "CLOCKAPP": (False, "whether a clock drift correction has been applied"),
        "GPS_OUT": (False, "whether GPS time was unavailable at any time"),
        "OBSERVER": ("SIMULATED", "simulated data"),
        "ORIGIN": ("gammapy-lat", "name of organization making file"),
    }


_SC_COLUMN_FORMATS = {
    "START": ("D", "s", "STARTing time of interval (Mission Elapsed Time)"),
    "STOP": ("D", "s", "ending time of interval (Mission Elapsed Time)"),
    "SC_POSITION": ("3E", "m", "S/C position at START of interval (x,y,z inertial)"),
    "LAT_GEO": ("E", "deg", "ground point latitude"),
    "LON_GEO": ("E", "deg", "ground point longitude"),
    "RAD_GEO": ("D", "m", "S/C altitude"),
    "RA_ZENITH": ("E", "deg", "RA of zenith direction at START"),
    "DEC_ZENITH": ("E", "deg", "Dec of zenith direction at START"),
    "B_MCILWAIN": ("E", "Gauss", "McIlwain B parameter, magnetic field"),
    "L_MCILWAIN": ("E", "Earth_Radii", "McIlwain L parameter, distance"),
    "GEOMAG_LAT": ("E", "deg", "invariant geomagnetic latitude"),
    "LAMBDA": ("E", "deg", "effective geomagnetic latitude (signed)"),
    "IN_SAA": ("L", None, "whether spacecraft was in SAA"),
    "RA_SCZ": ("E", "deg", "viewing direction at START (RA of S/C +z axis)"),
    "DEC_SCZ": ("E", "deg", "viewing direction at START (Dec of S/C +z axis)"),
    "RA_SCX": ("E", "deg", "viewing direction at START (RA of S/C +x axis)"),
    "DEC_SCX": ("E", "deg", "viewing direction at START (Dec of S/C +x axis)"),
    "RA_NPOLE": ("E", "deg", "RA of north orbital pole at START"),
    "DEC_NPOLE": ("E", "deg", "Dec of north orbital pole at START"),
    "ROCK_ANGLE": ("E", "deg", "angle z axis from zenith (+=north) at START"),
    "LAT_MODE": ("J", None, "attitude mode of LAT"),
    "LAT_CONFIG": ("B", None, "flag for config. of LAT (1=nominal sci. config)"),
    "DATA_QUAL": ("I", None, "flag for quality of data (1=nominal)"),
    "LIVETIME": ("D", "s", "livetime"),
    "QSJ_1": ("D", None, "First component of SC attitude quaternion"),
    "QSJ_2": ("D", None, "Second component of SC attitude quaternion"),
    "QSJ_3": ("D", None, "Third component of SC attitude quaternion"),
    "QSJ_4": ("D", None, "Fourth component of SC attitude quaternion"),
    "RA_SUN": ("E", "deg", "RA of Sun"),
    "DEC_SUN": ("E", "deg", "DEC of Sun"),
}


def _fit_comment(value, comment):
    """Shorten a comment so that the card fits in 80 characters."""
    width = len(repr(value)) if isinstance(value, str) else 20
    return comment[: max(0, 80 - 13 - max(width, 20))]


def _header_cards(meta):
    cards = []
    for key, value in meta.items():
        if key in ("EXTNAME",):
            continue
        if isinstance(value, tuple):
            cards.append((key, value[0], _fit_comment(value[0], value[1])))
        else:
            cards.append((key, value))
    return cards


def spacecraft_hdulist(table, creator="gammapy-lat simulate"):
    """FT2 `~astropy.io.fits.HDUList` (primary + ``SC_DATA``) laid out like data-server files."""
    columns = []
    for name in table.colnames:
        fmt, unit, _ = _SC_COLUMN_FORMATS.get(name, (None, None, None))
        data = np.asarray(table[name])
        if fmt is None:
            raise SimulationError(f"Unexpected spacecraft column {name!r}")
        columns.append(fits.Column(name=name, format=fmt, unit=unit, array=data))
    hdu = fits.BinTableHDU.from_columns(columns, name="SC_DATA")
    for i, name in enumerate(table.colnames, start=1):
        hdu.header.comments[f"TTYPE{i}"] = _fit_comment(name, _SC_COLUMN_FORMATS[name][2])
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    cards = _header_cards(table.meta)
    primary = fits.PrimaryHDU()
    for card in cards:
        if card[0] in ("TIMEZERO", "TIMEREF", "TASSIGN", "CLOCKAPP") or card[0].startswith(("ORB_", "ROCK")):
            continue
        primary.header.append(card)
    primary.header["DATE"] = (now, "file creation date (YYYY-MM-DDThh:mm:ss UT)")
    primary.header["FILENAME"] = ("", "name of this file")
    primary.header["CREATOR"] = (creator, "software and version creating file")
    for card in cards:
        hdu.header.append(card)
    hdu.header["DATE"] = (now, "file creation date (YYYY-MM-DDThh:mm:ss UT)")
    hdu.header["CREATOR"] = (creator, "software and version creating file")
    return fits.HDUList([primary, hdu])


def write_spacecraft(table, path, overwrite=False, creator="gammapy-lat simulate"):
    """Write a simulated spacecraft table as a standard FT2 file (atomic write).

    Parameters
    ----------
    table : `~astropy.table.Table`
        Output of `simulate_spacecraft`.
    path : str or `~pathlib.Path`
        Output file (``.gz`` compresses).
    overwrite : bool
        Replace an existing file.
    """

    hdulist = spacecraft_hdulist(table, creator=creator)
    hdulist[0].header["FILENAME"] = Path(path).name
    return write_fits_atomic(hdulist, path, overwrite=overwrite, checksum=True)
