"""Background (acceptance) models of IACT observations built from OFF runs.

An OFF run is an observation of a field without (known) gamma-ray sources, or an observation of a
source with the source region excluded. Its events, binned in reconstructed energy and field-of-view
(FoV) coordinates, divided by the observation time and the usable solid angle of each FoV bin
(the part not covered by exclusion regions, averaged over the run when the FoV rotates on the
sky), measure the background rate. `BackgroundModelMaker` does this for many runs, groups them in
bins of zenith angle (and optionally azimuth and night-sky background, NSB) and fits one shape per
group with a free normalisation per run, so that runs with a higher or lower trigger rate
(atmosphere, optical efficiency) contribute their shape, not their level.

The models are GADF ``BKG`` IRFs: `~gammapy.irf.Background2D` (radial: energy, offset) or
`~gammapy.irf.Background3D` (energy, FoV lon/lat, aligned with RA/Dec or Alt/Az), in units of
``s-1 MeV-1 sr-1`` per unit observation time (ontime), as Gammapy's
`~gammapy.makers.MapDatasetMaker` expects. `BackgroundModels` holds the models of all groups,
writes and reads them (one FITS file, one ``BKG`` HDU per group) and attaches to each ON run the
model of the closest zenith (then azimuth, then NSB) group.
"""
import copy
import logging
from dataclasses import dataclass, field

import astropy.units as u
import numpy as np
from astropy.coordinates import Angle, SkyCoord
from astropy.io import fits
from astropy.table import Table
from astropy.time import Time
from astropy.wcs import WCS
from gammapy.irf import Background2D, Background3D, FoVAlignment
from gammapy.maps import MapAxis
from gammapy.utils.coordinates import FoVAltAzFrame, FoVICRSFrame
from regions import CircleSkyRegion
from scipy.interpolate import PchipInterpolator
from scipy.ndimage import gaussian_filter

from ..errors import GammapyLATError, LATFileError, SelectionError
from ..utils import write_fits_atomic

__all__ = [
    "BackgroundModelMaker",
    "BackgroundModels",
    "BackgroundModelEntry",
    "RunAcceptance",
    "observation_zenith_azimuth",
    "observation_nsb",
    "altaz_to_radec",
    "NSB_COLUMNS",
]

log = logging.getLogger(__name__)

#: obs-index columns holding a night-sky-background level (first one found is used)
NSB_COLUMNS = ("NSB", "NSBLEVEL", "NSB_LEVEL", "NSB_MEAN")
BKG_UNIT = u.Unit("s-1 MeV-1 sr-1")
#: default zenith bins (deg): narrower at large zenith, where the energy threshold changes fast
DEFAULT_ZENITH_EDGES = [0, 15, 25, 35, 40, 45, 50, 55, 60, 70]


# --------------------------------------------------------------------------------------------
# observation conditions
# --------------------------------------------------------------------------------------------
def _obs_row(obs_table, obs_id):
    if obs_table is None or "OBS_ID" not in obs_table.colnames:
        return None
    idx = np.nonzero(np.asarray(obs_table["OBS_ID"]) == obs_id)[0]
    return obs_table[idx[0]] if len(idx) else None


def observation_zenith_azimuth(observation, obs_table=None):
    """Mean zenith and azimuth angles of an observation in degrees.

    Taken from the obs-index (``ZEN_PNT``/``ALT_PNT``, ``AZ_PNT``) when it has them, else computed
    from the pointing at the middle of the observation and the observatory location.
    """
    row = _obs_row(obs_table, observation.obs_id)
    zen = az = None
    if row is not None:
        if "ZEN_PNT" in row.colnames:
            zen = float(row["ZEN_PNT"])
        elif "ALT_PNT" in row.colnames:
            zen = 90.0 - float(row["ALT_PNT"])
        if "AZ_PNT" in row.colnames:
            az = float(row["AZ_PNT"])
    if zen is None or az is None or not (np.isfinite(zen) and np.isfinite(az)):
        try:
            altaz = observation.get_pointing_altaz(observation.tmid)
            zen = 90.0 - float(altaz.alt.deg)
            az = float(altaz.az.deg)
        except Exception as exc:  # no location or time information
            raise LATFileError(
                f"observation {observation.obs_id}: no ZEN_PNT/AZ_PNT in the obs-index and the "
                f"pointing cannot be converted to Alt/Az ({exc})"
            ) from None
    return zen, az % 360.0


def observation_nsb(observation, obs_table=None, column=None):
    """NSB level of an observation from the obs-index (None when it has no NSB column)."""
    row = _obs_row(obs_table, observation.obs_id)
    if row is None:
        return None
    columns = [column] if column else [c for c in NSB_COLUMNS if c in row.colnames]
    for name in columns:
        if name in row.colnames and np.isfinite(row[name]):
            return float(row[name])
    return None


# --------------------------------------------------------------------------------------------
# FoV geometry helpers
# --------------------------------------------------------------------------------------------
def _unit_vectors(lon, lat):
    """Unit vectors of FoV coordinates (radians); x along the pointing."""
    clat = np.cos(lat)
    return clat * np.cos(lon), clat * np.sin(lon), np.sin(lat)


def _rotate_fov(lon, lat, angle, flip=1):
    """Map FoV coordinates (radians) by the orthogonal transformation about the pointing
    ``R(angle) @ diag(1, flip)`` acting on the (y, z) components of the unit vector."""
    x, y, z = _unit_vectors(lon, lat)
    z = flip * z
    c, s = np.cos(angle), np.sin(angle)
    y2 = y * c - z * s
    z2 = y * s + z * c
    return np.arctan2(y2, x), np.arcsin(np.clip(z2, -1, 1))


def _unrotate_fov(lon, lat, angle, flip=1):
    """Inverse of `_rotate_fov`."""
    x, y, z = _unit_vectors(lon, lat)
    c, s = np.cos(angle), np.sin(angle)
    y2 = y * c + z * s
    z2 = -y * s + z * c
    return np.arctan2(y2, x), np.arcsin(np.clip(flip * z2, -1, 1))


def _fov_altaz_to_icrs(observation, times):
    """Orthogonal map about the pointing taking FoV Alt/Az to FoV RA/Dec coordinates.

    Both Gammapy FoV frames are centred on the pointing, so they differ by a rotation about it
    (the parallactic angle) and possibly a reflection (the handedness of Alt/Az and RA/Dec
    differ). Both are measured with Gammapy's own frames at ``times`` from two probe directions.

    Returns
    -------
    angle : `~numpy.ndarray`
        Rotation angle (radians, unwrapped) at each time.
    flip : int
        +1 or -1 (reflection of the FoV latitude before the rotation).
    """

    location = observation.observatory_earth_location
    if location is None:
        raise LATFileError(
            f"observation {observation.obs_id}: no observatory location (GEOLON/GEOLAT), needed "
            "for an Alt/Az-aligned background model"
        )
    n = len(times)
    origin = observation.pointing.get_altaz(times, location)
    frame = FoVAltAzFrame(origin=origin, location=location, obstime=times)
    icrs_frame = FoVICRSFrame(origin=observation.get_pointing_icrs(observation.tmid))
    columns = []
    for lon, lat in ((1.0, 0.0), (0.0, 1.0)):
        probe = SkyCoord(np.full(n, lon) * u.deg, np.full(n, lat) * u.deg, frame=frame)
        fov = probe.transform_to("icrs").transform_to(icrs_frame)
        _, y, z = _unit_vectors(fov.fov_lon.wrap_at(180 * u.deg).rad, fov.fov_lat.rad)
        columns.append((y, z))
    (a, c), (b, d) = columns
    det = np.median(a * d - b * c)
    flip = 1 if det > 0 else -1
    return np.unwrap(np.arctan2(c, a)), flip


def _time_nodes(observation, time_step):
    """Times sampling the good time intervals (one per ``time_step``) and their weights."""
    gti = observation.gti
    starts, stops = gti.time_start, gti.time_stop
    times, weights = [], []
    for start, stop in zip(starts, stops):
        duration = (stop - start).to_value("s")
        if duration <= 0:
            continue
        n = max(int(np.ceil(duration / time_step.to_value("s"))), 1)
        offsets = (np.arange(n) + 0.5) * duration / n
        times.append(start + offsets * u.s)
        weights.append(np.full(n, duration / n))

    times = Time(np.concatenate([t.tt.mjd for t in times]), format="mjd", scale="tt")
    weights = np.concatenate(weights)
    return times, weights / weights.sum()


class _Exclusion:
    """Exclusion regions and/or an exclusion mask, evaluated at sky positions (True = excluded)."""

    def __init__(self, regions=(), mask=None):
        self.circles = []
        self.others = []
        for region in regions or ():
            if isinstance(region, CircleSkyRegion):
                self.circles.append((region.center.icrs, region.radius))
            else:
                self.others.append(region)
        self.mask = mask

    def __bool__(self):
        return bool(self.circles or self.others or self.mask is not None)

    def excluded(self, coords, extra_circles=()):
        out = np.zeros(coords.shape, dtype=bool)
        for center, radius in list(self.circles) + list(extra_circles):
            out |= coords.separation(center) < radius
        if self.others:

            wcs = WCS(naxis=2)
            wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
            center = coords.ravel()[coords.size // 2]
            wcs.wcs.crval = [center.ra.deg, center.dec.deg]
            wcs.wcs.cdelt = [-0.01, 0.01]
            for region in self.others:
                out |= region.contains(coords, wcs)
        if self.mask is not None:
            values = self.mask.get_by_coord({"skycoord": coords}, fill_value=1)
            out |= ~np.asarray(values, dtype=bool)
        return out


# --------------------------------------------------------------------------------------------
# per-run accumulators
# --------------------------------------------------------------------------------------------
@dataclass
class RunAcceptance:
    """Counts and exposure of one OFF run in the bins of a background model.

    Attributes
    ----------
    obs_id : int
        Observation id.
    zenith, azimuth : float
        Mean pointing zenith and azimuth in degrees.
    nsb : float or None
        NSB level from the obs-index.
    ontime : `~astropy.units.Quantity`
        Observation time (good time intervals, dead time included).
    counts : `~numpy.ndarray`
        Events per (energy, spatial...) bin outside the exclusion regions.
    exposure : `~numpy.ndarray`
        Ontime times usable solid angle per spatial bin, in ``s sr``.
    """

    obs_id: int
    zenith: float
    azimuth: float
    nsb: object
    ontime: u.Quantity
    counts: np.ndarray
    exposure: np.ndarray


# --------------------------------------------------------------------------------------------
# the models
# --------------------------------------------------------------------------------------------
@dataclass
class BackgroundModelEntry:
    """The background model of one group of OFF runs and the conditions it applies to."""

    irf: object
    zenith_range: tuple
    zenith_mean: float
    azimuth_range: tuple = (0.0, 360.0)
    azimuth_mean: float = None
    nsb_range: tuple = None
    nsb_mean: float = None
    obs_ids: list = field(default_factory=list)
    ontime: u.Quantity = 0 * u.s
    run_norms: list = field(default_factory=list)

    @property
    def name(self):
        z0, z1 = self.zenith_range
        text = f"BKG_Z{z0:04.1f}-{z1:04.1f}"
        if self.azimuth_range != (0.0, 360.0):
            text += f"_A{self.azimuth_range[0]:05.1f}-{self.azimuth_range[1]:05.1f}"
        if self.nsb_range is not None:
            text += f"_N{self.nsb_range[0]:.3g}-{self.nsb_range[1]:.3g}"
        return text.replace(".", "p")

    def contains(self, zenith, azimuth=None, nsb=None):
        ok = self.zenith_range[0] <= zenith < self.zenith_range[1]
        if azimuth is not None:
            a0, a1 = self.azimuth_range
            ok &= (a0 <= azimuth < a1) if a0 <= a1 else (azimuth >= a0 or azimuth < a1)
        if nsb is not None and self.nsb_range is not None:
            ok &= self.nsb_range[0] <= nsb < self.nsb_range[1]
        return bool(ok)


def _angle_diff(a, b):
    d = abs(a - b) % 360.0
    return min(d, 360.0 - d)


class BackgroundModels:
    """Background models of several groups of OFF runs (zenith, azimuth and NSB bins).

    Parameters
    ----------
    entries : list of `BackgroundModelEntry`
        The models.
    """

    def __init__(self, entries):
        self.entries = list(entries)
        if not self.entries:
            raise SelectionError("no background model: no group of OFF runs had enough events")

    def __len__(self):
        return len(self.entries)

    def __iter__(self):
        return iter(self.entries)

    def __getitem__(self, idx):
        return self.entries[idx]

    @property
    def kind(self):
        return "radial" if self.entries[0].irf.has_offset_axis else "2d"

    def select(self, zenith, azimuth=None, nsb=None):
        """Model for an observation: the zenith bin containing ``zenith`` (else the one with the
        closest mean zenith, compared in cos(zenith)), then within it the closest azimuth and
        NSB."""
        inside = [e for e in self.entries if e.zenith_range[0] <= zenith < e.zenith_range[1]]
        if inside:
            candidates = inside
        else:
            cosz = np.cos(np.radians(zenith))
            best = min(abs(np.cos(np.radians(e.zenith_mean)) - cosz) for e in self.entries)
            candidates = [e for e in self.entries
                          if abs(abs(np.cos(np.radians(e.zenith_mean)) - cosz) - best) < 1e-9]

        def key(entry):
            daz = 0.0
            if azimuth is not None and entry.azimuth_range != (0.0, 360.0):
                daz = 0.0 if entry.contains(entry.zenith_mean, azimuth) else _angle_diff(
                    azimuth, entry.azimuth_mean)
            dnsb = 0.0
            if nsb is not None and entry.nsb_mean is not None:
                dnsb = 0.0 if (entry.nsb_range and entry.nsb_range[0] <= nsb < entry.nsb_range[1]) \
                    else abs(nsb - entry.nsb_mean) / max(abs(entry.nsb_mean), 1e-9)
            return (daz, dnsb)

        return min(candidates, key=key)

    def interpolate(self, zenith, azimuth=None, nsb=None):
        """IRF at ``zenith``: log-interpolation in cos(zenith) between the two models (of the
        azimuth/NSB cell `select` chooses) whose mean zeniths bracket it; outside them, the
        closest model. Returns the IRF and a label."""
        chosen = self.select(zenith, azimuth, nsb)
        cell = sorted((e for e in self.entries if e.azimuth_range == chosen.azimuth_range
                       and e.nsb_range == chosen.nsb_range), key=lambda e: e.zenith_mean)
        means = np.array([e.zenith_mean for e in cell])
        if len(cell) < 2 or zenith <= means[0] or zenith >= means[-1]:
            entry = cell[0] if zenith <= means[0] else cell[-1] if zenith >= means[-1] else chosen
            return entry.irf, entry.name
        j = int(np.searchsorted(means, zenith))
        lo, hi = cell[j - 1], cell[j]
        if lo.irf.axes != hi.irf.axes:
            return chosen.irf, chosen.name
        cz = np.cos(np.radians([lo.zenith_mean, hi.zenith_mean, zenith]))
        w = (cz[2] - cz[0]) / (cz[1] - cz[0])
        a, b = lo.irf.data, hi.irf.data
        with np.errstate(divide="ignore", invalid="ignore"):
            data = np.where((a > 0) & (b > 0), np.exp((1 - w) * np.log(a) + w * np.log(b)),
                            (1 - w) * a + w * b)
        irf = copy.deepcopy(lo.irf)
        irf.data = data
        return irf, f"{lo.name}+{hi.name}@{zenith:.1f}"

    def attach(self, observations, obs_table=None, method="closest"):
        """Set the background IRF of each observation from the models.

        The observations are modified in place (their ``bkg``); the same objects are returned.

        Parameters
        ----------
        observations : `~gammapy.data.Observations`
            ON runs.
        obs_table : `~gammapy.data.ObservationTable`, optional
            obs-index with their conditions (zenith, azimuth, NSB).
        method : {"closest", "interpolate"}
            ``closest``: the model of the closest zenith (then azimuth, NSB) bin;
            ``interpolate``: interpolated in cos(zenith) between bins (`interpolate`).

        Returns
        -------
        observations : `~gammapy.data.Observations`
            The observations.
        table : `~astropy.table.Table`
            One row per observation: zenith, azimuth, NSB and the model used.
        """
        if method not in ("closest", "interpolate"):
            raise ValueError(f"method must be 'closest' or 'interpolate', got {method!r}")
        rows = []
        for obs in observations:
            zen, az = observation_zenith_azimuth(obs, obs_table)
            nsb = observation_nsb(obs, obs_table)
            entry = self.select(zen, az, nsb)
            if method == "interpolate":
                irf, label = self.interpolate(zen, az, nsb)
            else:
                irf, label = entry.irf, entry.name
            obs.bkg = _irf_for_observation(irf, obs)
            rows.append((obs.obs_id, zen, az, np.nan if nsb is None else nsb, label,
                         entry.zenith_mean, len(entry.obs_ids)))
        table = Table(rows=rows, names=["OBS_ID", "ZEN_PNT", "AZ_PNT", "NSB", "BKG_MODEL",
                                        "BKG_ZEN_MEAN", "BKG_N_RUNS"])
        for name in ("ZEN_PNT", "AZ_PNT", "BKG_ZEN_MEAN"):
            table[name].unit = "deg"
        return observations, table

    # ---------------------------------------------------------------- I/O
    def to_hdulist(self):
        """One GADF ``BKG`` HDU per model (named after its bins) and an index table."""
        hdus = [fits.PrimaryHDU()]
        rows = []
        for entry in self.entries:
            hdu = entry.irf.to_table_hdu(format="gadf-dl3")
            hdu.name = entry.name
            header = hdu.header
            header["ZEN_MIN"] = (entry.zenith_range[0], "deg, zenith bin lower edge")
            header["ZEN_MAX"] = (entry.zenith_range[1], "deg, zenith bin upper edge")
            header["ZEN_MEAN"] = (entry.zenith_mean, "deg, ontime-weighted mean zenith of the runs")
            header["AZ_MIN"] = (entry.azimuth_range[0], "deg")
            header["AZ_MAX"] = (entry.azimuth_range[1], "deg")
            if entry.azimuth_mean is not None:
                header["AZ_MEAN"] = (entry.azimuth_mean, "deg")
            if entry.nsb_range is not None:
                header["NSB_MIN"], header["NSB_MAX"] = entry.nsb_range
            if entry.nsb_mean is not None:
                header["NSB_MEAN"] = entry.nsb_mean
            header["NRUNS"] = (len(entry.obs_ids), "number of OFF runs")
            header["ONTIME"] = (entry.ontime.to_value("s"), "s, total ontime of the OFF runs")
            header["CREATOR"] = "gammapy-lat BackgroundModelMaker"
            hdus.append(hdu)
            rows.append((entry.name, entry.zenith_range[0], entry.zenith_range[1], entry.zenith_mean,
                         entry.azimuth_range[0], entry.azimuth_range[1],
                         np.nan if entry.azimuth_mean is None else entry.azimuth_mean,
                         np.nan if entry.nsb_range is None else entry.nsb_range[0],
                         np.nan if entry.nsb_range is None else entry.nsb_range[1],
                         np.nan if entry.nsb_mean is None else entry.nsb_mean,
                         entry.ontime.to_value("s"), " ".join(str(i) for i in entry.obs_ids),
                         " ".join(f"{k:.4f}" for k in entry.run_norms)))
        index = Table(rows=rows, names=["HDU_NAME", "ZEN_MIN", "ZEN_MAX", "ZEN_MEAN", "AZ_MIN",
                                        "AZ_MAX", "AZ_MEAN", "NSB_MIN", "NSB_MAX", "NSB_MEAN",
                                        "ONTIME", "OBS_IDS", "RUN_NORMS"])
        hdus.append(fits.BinTableHDU(index, name="BKG_INDEX"))
        return fits.HDUList(hdus)

    def write(self, path, overwrite=False):
        """Write all models to one FITS file (atomically)."""

        return write_fits_atomic(self.to_hdulist(), path, overwrite=overwrite)

    @classmethod
    def read(cls, path):
        """Read models written by `write`."""

        try:
            hdulist = fits.open(path, memmap=False)
        except OSError as exc:
            raise LATFileError(f"{path}: cannot read background models: {exc}") from None
        with hdulist:
            if "BKG_INDEX" not in hdulist:
                raise LATFileError(f"{path}: no BKG_INDEX extension (not written by BackgroundModels)")
            index = Table.read(hdulist["BKG_INDEX"])
            entries = []
            for row in index:
                hdu = hdulist[str(row["HDU_NAME"])]
                cls_irf = Background3D if hdu.header.get("HDUCLAS4", "").upper() == "BKG_3D" else Background2D
                irf = cls_irf.from_table(Table.read(hdu))
                nan = lambda v: None if not np.isfinite(v) else float(v)  # noqa: E731
                nsb_range = None if not np.isfinite(row["NSB_MIN"]) else (float(row["NSB_MIN"]), float(row["NSB_MAX"]))
                entries.append(BackgroundModelEntry(
                    irf=irf,
                    zenith_range=(float(row["ZEN_MIN"]), float(row["ZEN_MAX"])),
                    zenith_mean=float(row["ZEN_MEAN"]),
                    azimuth_range=(float(row["AZ_MIN"]), float(row["AZ_MAX"])),
                    azimuth_mean=nan(row["AZ_MEAN"]),
                    nsb_range=nsb_range,
                    nsb_mean=nan(row["NSB_MEAN"]),
                    obs_ids=[int(v) for v in str(row["OBS_IDS"]).split()],
                    ontime=float(row["ONTIME"]) * u.s,
                    run_norms=[float(v) for v in str(row["RUN_NORMS"]).split()],
                ))
        return cls(entries)

    def to_table(self):
        """Summary: one row per model."""
        return Table(self.to_hdulist()["BKG_INDEX"].data)


def altaz_to_radec(irf, observation, time_step=2 * u.min):
    """RA/Dec-aligned version of an Alt/Az-aligned 3D background for one run.

    The Alt/Az model is averaged over the FoV rotation during the run's good time (sampled every
    ``time_step``) at the centres of its own FoV bins. Gammapy then evaluates the run's
    background map once instead of once per rotation step (tens of times faster for runs near
    zenith); the maps agree with Gammapy's time-stepped evaluation of the Alt/Az model to about
    2 % (the regridding on the model's FoV bins).
    """

    times, weights = _time_nodes(observation, u.Quantity(time_step))
    angles, flip = _fov_altaz_to_icrs(observation, times)
    lon = irf.axes["fov_lon"].center.to_value("rad")
    lat = irf.axes["fov_lat"].center.to_value("rad")
    lon2, lat2 = np.meshgrid(lon, lat, indexing="ij")
    energy = irf.axes["energy"].center[:, None, None]
    data = np.zeros(irf.data.shape)
    for weight, angle in zip(weights, angles):
        # FoV RA/Dec coordinates of the bins -> FoV Alt/Az at this time
        alon, alat = _unrotate_fov(lon2, lat2, angle, flip)
        values = irf.evaluate(energy=energy, fov_lon=np.degrees(alon)[None] * u.deg,
                              fov_lat=np.degrees(alat)[None] * u.deg)
        data += weight * values.to_value(irf.unit)
    meta = dict(irf.meta)
    meta["FOVALIGN"] = "RADEC"
    return Background3D(axes=irf.axes, data=data, unit=irf.unit, meta=meta, fov_alignment="RADEC")


def _irf_for_observation(irf, observation):
    """The IRF to attach to ``observation``.

    Alt/Az-aligned 3D models become the run's RA/Dec-aligned average (`altaz_to_radec`).

    Gammapy treats the background of H.E.S.S. DR1-era files (``CREATOR`` SASH FITS, ``HDUVERS``
    0.2) as having reversed FoV longitudes whatever its declared alignment. A RA/Dec-aligned 2D
    model is therefore attached with its longitude axis mirrored (and labelled so), which Gammapy
    evaluates exactly as the model.
    """

    if irf.has_offset_axis:
        return irf
    if irf.fov_alignment == FoVAlignment.ALTAZ:
        irf = altaz_to_radec(irf, observation)
    optional = getattr(observation.meta, "optional", None) or {}
    legacy = optional.get("CREATOR") == "SASH FITS::EventListWriter" and optional.get("HDUVERS") == "0.2"
    if not legacy:
        return irf
    if irf.fov_alignment == FoVAlignment.REVERSE_LON_RADEC:
        return irf
    return _mirror_lon(irf)


def _mirror_lon(irf):
    axis = irf.axes["fov_lon"]
    if not np.allclose(axis.edges.value, -axis.edges.value[::-1]):
        raise GammapyLATError("a RA/Dec-aligned model needs a FoV longitude axis symmetric about 0")
    idx = irf.axes.index("fov_lon")
    data = np.flip(irf.quantity, axis=idx)
    return Background3D(axes=irf.axes, data=data.value, unit=data.unit, meta=dict(irf.meta),
                        fov_alignment=FoVAlignment.REVERSE_LON_RADEC)


# --------------------------------------------------------------------------------------------
# the maker
# --------------------------------------------------------------------------------------------
class BackgroundModelMaker:
    """Background (acceptance) models from OFF runs.

    Parameters
    ----------
    energy_axis : `~gammapy.maps.MapAxis`, optional
        Reconstructed-energy axis of the models. Default: 0.01-100 TeV, 10 bins per decade (the
        shape near the energy threshold, which moves fast with zenith, needs them).
    kind : {"radial", "2d"}
        ``radial``: `~gammapy.irf.Background2D` in (energy, offset); ``2d``:
        `~gammapy.irf.Background3D` in (energy, FoV lon, FoV lat).
    offset_max : `~astropy.coordinates.Angle`
        Largest offset from the pointing (radial) or half width of the FoV square (2d).
    offset_binsz : `~astropy.coordinates.Angle`
        Offset bin width of the radial model.
    fov_binsz : `~astropy.coordinates.Angle`
        FoV bin width of the 2d model.
    fov_alignment : {"ALTAZ", "RADEC"}
        Orientation of the 2d model's FoV axes. ``ALTAZ`` follows the camera (acceptance
        gradients with zenith); ``RADEC`` the sky.
    zenith_edges : `~astropy.coordinates.Angle`
        Zenith bin edges. Runs outside are not used.
    azimuth_edges : `~astropy.coordinates.Angle`, optional
        Azimuth bin edges (e.g. ``[0, 90, 270, 360] deg``; a bin may wrap through 0 if the first
        edge is above the last). Default: no azimuth binning.
    nsb_edges : list of float, optional
        NSB bin edges (obs-index column ``NSB``, ``NSBLEVEL``...). Default: no NSB binning.
    exclusion_regions : list of `~regions.SkyRegion`, optional
        Regions whose events and solid angle are not used (known sources).
    exclusion_mask : `~gammapy.maps.WcsNDMap`, optional
        Boolean mask, True where the sky is usable (Gammapy's convention).
    target_radius : `~astropy.coordinates.Angle` or None
        Radius of a circle excluded around each run's own target (``RA_OBJ``/``DEC_OBJ`` of the
        obs-index or the event header). None: do not exclude it.
    pixel_size : `~astropy.coordinates.Angle`
        Size of the FoV pixels on which the usable solid angle is computed.
    time_step : `~astropy.units.Quantity`
        Sampling of the FoV rotation on the sky during a run (Alt/Az-aligned 2d models).
    min_runs : int
        Smallest number of runs a group needs to make a model.
    n_iter : int
        Iterations of the fit of the shape and the per-run normalisations.
    energy_oversampling : int
        Sub-bins per energy bin of the written IRF (see `_make_irf`).
    min_counts : float
        2d models: smallest mean number of counts per FoV bin in the energy bands of the FoV
        modulation (see `_regularise_2d`).
    fov_smoothing : float
        2d models: Gaussian smoothing (in FoV bins) of the FoV modulation.
    """

    tag = "BackgroundModelMaker"

    def __init__(
        self,
        energy_axis=None,
        kind="radial",
        offset_max="2.5 deg",
        offset_binsz="0.1 deg",
        fov_binsz="0.25 deg",
        fov_alignment="ALTAZ",
        zenith_edges=None,
        azimuth_edges=None,
        nsb_edges=None,
        exclusion_regions=None,
        exclusion_mask=None,
        target_radius="0.3 deg",
        pixel_size="0.02 deg",
        time_step="2 min",
        min_runs=2,
        n_iter=20,
        energy_oversampling=2,
        min_counts=25,
        fov_smoothing=1.0,
    ):
        if kind not in ("radial", "2d"):
            raise ValueError(f"kind must be 'radial' or '2d', got {kind!r}")
        if fov_alignment not in ("ALTAZ", "RADEC"):
            raise ValueError(f"fov_alignment must be 'ALTAZ' or 'RADEC', got {fov_alignment!r}")
        if energy_axis is None:
            energy_axis = MapAxis.from_energy_bounds("0.01 TeV", "100 TeV", nbin=10, per_decade=True)
        self.energy_axis = energy_axis.copy(name="energy")
        self.kind = kind
        self.offset_max = Angle(offset_max).to("deg")
        self.fov_alignment = fov_alignment
        self.pixel_size = Angle(pixel_size).to("deg")
        self.time_step = u.Quantity(time_step)
        self.target_radius = None if target_radius is None else Angle(target_radius)
        self.exclusion = _Exclusion(exclusion_regions, exclusion_mask)
        self.zenith_edges = Angle(
            zenith_edges if zenith_edges is not None else DEFAULT_ZENITH_EDGES, "deg"
        ).deg
        self.azimuth_edges = None if azimuth_edges is None else Angle(azimuth_edges, "deg").deg
        self.nsb_edges = None if nsb_edges is None else np.asarray(nsb_edges, dtype=float)
        self.min_runs = int(min_runs)
        self.n_iter = int(n_iter)
        self.energy_oversampling = int(energy_oversampling)
        self.min_counts = float(min_counts)
        self.fov_smoothing = float(fov_smoothing)

        omax = self.offset_max.deg
        if kind == "radial":
            nbin = max(int(round(omax / Angle(offset_binsz).deg)), 1)
            self.spatial_axes = [MapAxis.from_bounds(0, omax, nbin, unit="deg", name="offset")]
        else:
            nbin = max(int(round(2 * omax / Angle(fov_binsz).deg)), 1)
            self.spatial_axes = [
                MapAxis.from_bounds(-omax, omax, nbin, unit="deg", name="fov_lon"),
                MapAxis.from_bounds(-omax, omax, nbin, unit="deg", name="fov_lat"),
            ]
        self._grid = self._make_grid()

    # ---------------------------------------------------------------- geometry
    def _make_grid(self):
        """Fine FoV pixels (radians) with their solid angle and model-bin index."""
        omax = self.offset_max.rad
        if self.kind == "2d":
            nbin = self.spatial_axes[0].nbin
            factor = max(int(np.ceil(2 * omax / nbin / self.pixel_size.rad)), 1)
            n = nbin * factor
        else:
            n = max(int(np.ceil(2 * omax / self.pixel_size.rad)), 2)
            factor = None
        edges = np.linspace(-omax, omax, n + 1)
        centers = 0.5 * (edges[1:] + edges[:-1])
        lon, lat = np.meshgrid(centers, centers, indexing="ij")
        dlon = np.diff(edges)[:, None]
        omega = dlon * (np.sin(edges[1:]) - np.sin(edges[:-1]))[None, :]
        offset = np.arccos(np.clip(np.cos(lat) * np.cos(lon), -1, 1))
        if self.kind == "radial":
            axis = self.spatial_axes[0]
            idx = np.digitize(np.degrees(offset), axis.edges.to_value("deg")) - 1
            valid = (idx >= 0) & (idx < axis.nbin)
            # exact ring areas: the fine grid only gives the usable fraction of each ring
            r = axis.edges.to_value("rad")
            ring_area = 2 * np.pi * (np.cos(r[:-1]) - np.cos(r[1:]))
            grid_area = np.bincount(idx[valid], weights=omega[valid], minlength=axis.nbin)
            return dict(lon=lon[valid], lat=lat[valid], omega=omega[valid], index=idx[valid],
                        shape=(axis.nbin,), area_scale=ring_area / grid_area)
        nbin = self.spatial_axes[0].nbin
        ilon = np.repeat(np.arange(nbin), factor)[:, None] * np.ones((1, n), dtype=int)
        ilat = np.repeat(np.arange(nbin), factor)[None, :] * np.ones((n, 1), dtype=int)
        index = np.ravel_multi_index((ilon.ravel(), ilat.ravel()), (nbin, nbin))
        return dict(lon=lon.ravel(), lat=lat.ravel(), omega=omega.ravel(), index=index,
                    shape=(nbin, nbin), area_scale=None)

    def _target_circles(self, observation, obs_table):
        if self.target_radius is None:
            return []
        row = _obs_row(obs_table, observation.obs_id)
        position = None
        if row is not None and "RA_OBJ" in row.colnames and "DEC_OBJ" in row.colnames:
            if np.isfinite(row["RA_OBJ"]) and np.isfinite(row["DEC_OBJ"]):
                position = SkyCoord(float(row["RA_OBJ"]), float(row["DEC_OBJ"]), unit="deg")
        if position is None:
            target = getattr(observation.meta, "target", None)
            position = getattr(target, "position", None) if target is not None else None
        if position is None:
            return []
        return [(position.icrs, self.target_radius)]

    # ---------------------------------------------------------------- one run
    def make_run_acceptance(self, observation, obs_table=None):
        """Counts and exposure of one OFF run (`RunAcceptance`)."""

        zen, az = observation_zenith_azimuth(observation, obs_table)
        nsb = observation_nsb(observation, obs_table)
        ontime = observation.observation_time_duration.to("s")
        pointing = observation.get_pointing_icrs(observation.tmid)
        fov_frame = FoVICRSFrame(origin=pointing)
        circles = self._target_circles(observation, obs_table)
        grid = self._grid
        altaz = self.kind == "2d" and self.fov_alignment == "ALTAZ"

        # usable solid angle of each fine pixel, averaged over the run when the FoV rotates
        if altaz:
            times, weights = _time_nodes(observation, self.time_step)
            # the GTI ends are added so that events are interpolated, not extrapolated, in time

            edges = Time([observation.tstart.tt.mjd, observation.tstop.tt.mjd], format="mjd", scale="tt")
            all_times = Time(np.concatenate([edges.mjd[:1], times.tt.mjd, edges.mjd[1:]]), format="mjd", scale="tt")
            all_angles, flip = _fov_altaz_to_icrs(observation, all_times)
            angles = all_angles[1:-1]
        else:
            weights, angles, flip = np.ones(1), np.zeros(1), 1
        usable = np.zeros(grid["lon"].shape)
        if self.exclusion or circles:
            for weight, angle in zip(weights, angles):
                lon, lat = _rotate_fov(grid["lon"], grid["lat"], angle, flip)
                sky = SkyCoord(lon * u.rad, lat * u.rad, frame=fov_frame).icrs
                usable += weight * ~self.exclusion.excluded(sky, circles)
        else:
            usable[:] = 1.0
        nspatial = int(np.prod(grid["shape"]))
        omega = np.bincount(grid["index"], weights=grid["omega"] * usable, minlength=nspatial)
        if grid["area_scale"] is not None:
            omega = omega * grid["area_scale"]
        exposure = (ontime.to_value("s") * omega).reshape(grid["shape"])

        # events outside the exclusion regions, in FoV coordinates
        events = observation.events
        coords = events.radec
        keep = ~self.exclusion.excluded(coords, circles) if (self.exclusion or circles) else np.ones(len(coords), bool)
        fov = coords.transform_to(fov_frame)
        lon, lat = fov.fov_lon.wrap_at(180 * u.deg).rad, fov.fov_lat.rad
        if altaz:
            event_angles = np.interp(events.time.tt.mjd, all_times.mjd, all_angles)
            lon, lat = _unrotate_fov(lon, lat, event_angles, flip)
        energy_idx = self.energy_axis.coord_to_idx(events.energy)
        if self.kind == "radial":
            offset = np.degrees(np.arccos(np.clip(np.cos(lat) * np.cos(lon), -1, 1)))
            sidx = [self.spatial_axes[0].coord_to_idx(offset * u.deg)]
        else:
            sidx = [self.spatial_axes[0].coord_to_idx(np.degrees(lon) * u.deg),
                    self.spatial_axes[1].coord_to_idx(np.degrees(lat) * u.deg)]
        idx = [energy_idx] + sidx
        shape = (self.energy_axis.nbin,) + grid["shape"]
        valid = keep.copy()
        for i, n in zip(idx, shape):
            valid &= (i >= 0) & (i < n)
        flat = np.ravel_multi_index([i[valid] for i in idx], shape)
        counts = np.bincount(flat, minlength=int(np.prod(shape))).reshape(shape).astype(float)
        return RunAcceptance(observation.obs_id, zen, az, nsb, ontime, counts, exposure)

    # ---------------------------------------------------------------- groups
    def _groups(self, runs):
        """Runs per (zenith, azimuth, NSB) bin."""
        zen_edges = self.zenith_edges
        az_edges = [(0.0, 360.0)] if self.azimuth_edges is None else list(
            zip(self.azimuth_edges[:-1], self.azimuth_edges[1:]))
        nsb_edges = [None] if self.nsb_edges is None else list(zip(self.nsb_edges[:-1], self.nsb_edges[1:]))
        groups = []
        for z0, z1 in zip(zen_edges[:-1], zen_edges[1:]):
            for a0, a1 in az_edges:
                for nsb_range in nsb_edges:
                    entry = BackgroundModelEntry(irf=None, zenith_range=(float(z0), float(z1)),
                                                 zenith_mean=np.nan, azimuth_range=(float(a0), float(a1)),
                                                 nsb_range=None if nsb_range is None else tuple(map(float, nsb_range)))
                    members = [r for r in runs if entry.contains(r.zenith, r.azimuth,
                                                                 r.nsb if nsb_range is not None else None)]
                    if nsb_range is not None:
                        members = [r for r in members if r.nsb is not None]
                    groups.append((entry, members))
        return groups

    def fit_shape(self, runs):
        """Shape and per-run normalisations maximising the Poisson likelihood of the runs' counts.

        Model of the counts of run r in bin b: ``k_r * S_b * X_rb`` (X: exposure). The
        normalisations are scaled so that their ontime-weighted mean is 1, so ``S`` is the mean
        rate.

        Returns
        -------
        shape : `~numpy.ndarray`
            Counts per unit exposure per bin (``s-1 sr-1`` integrated over each energy bin).
        norms : `~numpy.ndarray`
            Per-run normalisations.
        """
        counts = np.array([r.counts for r in runs])
        exposure = np.array([np.broadcast_to(r.exposure, r.counts.shape) for r in runs])
        ontime = np.array([r.ontime.to_value("s") for r in runs])
        total = counts.sum(axis=0)
        run_counts = counts.reshape(len(runs), -1).sum(axis=1)
        norms = np.ones(len(runs))
        shape = np.zeros(total.shape)
        for _ in range(self.n_iter):
            denom = np.tensordot(norms, exposure, axes=1)
            with np.errstate(divide="ignore", invalid="ignore"):
                shape = np.where(denom > 0, total / denom, 0.0)
            predicted = (shape[None] * exposure).reshape(len(runs), -1).sum(axis=1)
            with np.errstate(divide="ignore", invalid="ignore"):
                new = np.where(predicted > 0, run_counts / predicted, 1.0)
            mean = np.sum(new * ontime) / ontime.sum()
            new /= mean
            converged = np.allclose(new, norms, rtol=1e-6)
            norms = new
            if converged:
                break
        denom = np.tensordot(norms, exposure, axes=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            shape = np.where(denom > 0, total / denom, 0.0)
        if self.kind == "2d":
            shape = self._regularise_2d(total, denom)
        return shape, norms

    def _regularise_2d(self, counts, denom):
        """2D shape as a radial profile times a smooth FoV modulation.

        The counts of single FoV bins are too few at high energy for a bin-by-bin model. The
        model is the radial profile (rate in offset rings, per energy bin) times the ratio of
        counts to that profile's prediction in each FoV bin, computed in broad energy bands
        (each with at least ``min_counts`` counts per FoV bin on average) and smoothed with a
        Gaussian of ``fov_smoothing`` bins.
        """

        lon = self.spatial_axes[0].center.to_value("rad")
        lat = self.spatial_axes[1].center.to_value("rad")
        lon2, lat2 = np.meshgrid(lon, lat, indexing="ij")
        offset = np.degrees(np.arccos(np.cos(lon2) * np.cos(lat2)))
        width = self.spatial_axes[0].bin_width[0].to_value("deg")
        ring = np.floor(offset / width).astype(int)
        nring = ring.max() + 1
        ne = counts.shape[0]
        flat_ring = np.broadcast_to(ring, counts.shape[1:]).ravel()
        n_ring = np.zeros((ne, nring))
        d_ring = np.zeros((ne, nring))
        for ie in range(ne):
            n_ring[ie] = np.bincount(flat_ring, weights=counts[ie].ravel(), minlength=nring)
            d_ring[ie] = np.bincount(flat_ring, weights=denom[ie].ravel(), minlength=nring)
        with np.errstate(divide="ignore", invalid="ignore"):
            radial = np.where(d_ring > 0, n_ring / d_ring, 0.0)
        centers = (np.arange(nring) + 0.5) * width
        profile = np.array([np.interp(offset, centers, radial[ie]) for ie in range(ne)])
        predicted = profile * denom
        # energy bands with enough counts per FoV bin
        nspatial = counts[0].size
        bands, start, acc = [], 0, 0.0
        for ie in range(ne):
            acc += counts[ie].sum()
            if acc >= self.min_counts * nspatial:
                bands.append((start, ie + 1))
                start, acc = ie + 1, 0.0
        if start < ne:
            if bands:
                bands[-1] = (bands[-1][0], ne)
            else:
                bands.append((0, ne))
        shape = np.zeros(counts.shape)
        for lo, hi in bands:
            n = gaussian_filter(counts[lo:hi].sum(axis=0), self.fov_smoothing, mode="nearest")
            mu = gaussian_filter(predicted[lo:hi].sum(axis=0), self.fov_smoothing, mode="nearest")
            with np.errstate(divide="ignore", invalid="ignore"):
                modulation = np.where(mu > 0, n / mu, 1.0)
            shape[lo:hi] = profile[lo:hi] * modulation
        return shape

    def _make_irf(self, shape):
        """Background IRF from the counts per unit exposure of each model bin (``shape``).

        Gammapy evaluates a background IRF at energy nodes and integrates log-log between them.
        Near the energy threshold the measured rate turns over within a bin or two, which nodes
        at the bin means cannot follow. The IRF is therefore given on a finer energy axis
        (``energy_oversampling`` sub-bins per bin): the cumulative rate, known at the bin edges,
        is interpolated with a monotone (PCHIP) spline in log(energy), and the sub-bin contents
        are its differences, so that every bin keeps its measured content.
        """

        factor = self.energy_oversampling
        edges = self.energy_axis.edges.to_value("TeV")
        log_edges = np.log(edges)
        fine = np.exp(np.interp(np.linspace(0, len(edges) - 1, (len(edges) - 1) * factor + 1),
                                np.arange(len(edges)), log_edges))
        cumulative = np.concatenate([np.zeros((1,) + shape.shape[1:]), np.cumsum(shape, axis=0)])
        spline = PchipInterpolator(log_edges, cumulative, axis=0)
        content = np.clip(np.diff(spline(np.log(fine)), axis=0), 0, None)
        energy = MapAxis.from_edges(fine, unit="TeV", name="energy", interp="log")
        de = energy.bin_width.to_value("MeV")
        data = content / de.reshape((-1,) + (1,) * (shape.ndim - 1))
        axes = [energy] + self.spatial_axes
        if self.kind == "radial":
            return Background2D(axes=axes, data=data, unit=BKG_UNIT, meta={"FOVALIGN": "RADEC"})
        return Background3D(axes=axes, data=data, unit=BKG_UNIT, meta={"FOVALIGN": self.fov_alignment},
                            fov_alignment=self.fov_alignment)

    def make_model(self, runs):
        """One background IRF from a list of `RunAcceptance` (no grouping)."""
        shape, norms = self.fit_shape(runs)
        return self._make_irf(shape), norms

    def run(self, observations, obs_table=None, runs=None):
        """Background models of the zenith (azimuth, NSB) groups of OFF runs.

        Parameters
        ----------
        observations : `~gammapy.data.Observations`
            OFF runs.
        obs_table : `~gammapy.data.ObservationTable`, optional
            obs-index with the runs' conditions (``ZEN_PNT``, ``AZ_PNT``, NSB, ``RA_OBJ``...).
        runs : list of `RunAcceptance`, optional
            Already computed accumulators (observations are then not read again).

        Returns
        -------
        models : `BackgroundModels`
        """
        if runs is None:
            runs = [self.make_run_acceptance(obs, obs_table) for obs in observations]
        entries = []
        for entry, members in self._groups(runs):
            n_events = sum(r.counts.sum() for r in members)
            if len(members) < self.min_runs or n_events == 0:
                if members:
                    log.info(f"{entry.name}: {len(members)} run(s), fewer than min_runs={self.min_runs}; skipped")
                continue
            irf, norms = self.make_model(members)
            ontime = np.array([r.ontime.to_value("s") for r in members])
            entry.irf = irf
            entry.zenith_mean = float(np.sum(ontime * [r.zenith for r in members]) / ontime.sum())
            az = np.radians([r.azimuth for r in members])
            entry.azimuth_mean = float(np.degrees(np.arctan2(np.sum(ontime * np.sin(az)),
                                                             np.sum(ontime * np.cos(az)))) % 360)
            nsb = [r.nsb for r in members if r.nsb is not None]
            entry.nsb_mean = float(np.mean(nsb)) if nsb else None
            entry.obs_ids = [int(r.obs_id) for r in members]
            entry.ontime = ontime.sum() * u.s
            entry.run_norms = [float(k) for k in norms]
            entries.append(entry)
            log.info(f"{entry.name}: {len(members)} runs, {int(n_events)} events")
        used = {i for e in entries for i in e.obs_ids}
        unused = [r.obs_id for r in runs if r.obs_id not in used]
        if unused:
            log.info(f"OFF runs not used (outside the zenith bins or in too small groups): {unused}")
        return BackgroundModels(entries)
