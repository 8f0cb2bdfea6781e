"""Tests of the spacecraft (FT2) simulation against analytic orbit values and a flight FT2 file."""
import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits
from astropy.table import Table
from astropy.time import Time

from gammapy_lat.simulate import (
    OrbitParameters,
    RockingProfile,
    simulate_spacecraft,
    write_spacecraft,
)

GM = 3.986004418e14
R_EQ = 6378137.0
J2 = 1.08262668e-3
TSTART = 239557417.0  # 2008-08-04


def unit(ra, dec):
    ra, dec = np.radians(np.asarray(ra, float)), np.radians(np.asarray(dec, float))
    return np.stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)], axis=-1)


def angle_deg(a, b):
    return np.degrees(np.arccos(np.clip(np.sum(a * b, axis=-1), -1, 1)))


@pytest.fixture(scope="module")
def day():
    return simulate_spacecraft(TSTART, TSTART + 86400.0, step=30 * u.s)


def ascending_node_times(table):
    lat = np.asarray(table["LAT_GEO"], float)
    t = np.asarray(table["START"])
    idx = np.where((lat[:-1] < 0) & (lat[1:] >= 0))[0]
    # linear interpolation of the zero crossing
    return t[idx] - lat[idx] * (t[idx + 1] - t[idx]) / (lat[idx + 1] - lat[idx])


def test_inclination_bounds_latitude(day):
    assert np.max(np.abs(day["LAT_GEO"])) == pytest.approx(25.6, abs=0.02)
    # the orbit pole sits at 90 deg - inclination from the celestial pole
    assert np.allclose(day["DEC_NPOLE"], 90 - 25.6, atol=1e-3)


def test_period_is_keplerian(day):
    radius = np.linalg.norm(np.asarray(day["SC_POSITION"], float), axis=1)
    assert np.ptp(radius) / radius.mean() < 1e-6  # circular
    kepler = 2 * np.pi * np.sqrt(radius.mean() ** 3 / GM)
    nodes = ascending_node_times(day)
    # the ascending node regresses: the inertial-frame period between node passages is the
    # Keplerian one; geographic crossings are spaced identically
    period = np.mean(np.diff(nodes))
    assert period == pytest.approx(kepler, rel=2e-4)
    assert 95.0 < period / 60 < 96.5


def test_nodal_precession_rate():
    table = simulate_spacecraft(TSTART, TSTART + 10 * 86400.0, step=600 * u.s)
    ra_pole = np.unwrap(np.radians(np.asarray(table["RA_NPOLE"], float)))
    rate = np.polyfit(np.asarray(table["START"]), ra_pole, 1)[0]
    a = np.linalg.norm(np.asarray(table["SC_POSITION"][0], float))
    n = np.sqrt(GM / a**3)
    expected = -1.5 * n * J2 * (R_EQ / a) ** 2 * np.cos(np.radians(25.6))
    assert rate == pytest.approx(expected, rel=1e-3)
    period_days = 2 * np.pi / abs(rate) / 86400
    assert 52 < period_days < 55


def test_custom_precession_period():
    orbit = OrbitParameters(precession_period=40 * u.d)
    table = simulate_spacecraft(TSTART, TSTART + 5 * 86400.0, step=3600 * u.s, orbit=orbit)
    ra_pole = np.unwrap(np.radians(np.asarray(table["RA_NPOLE"], float)))
    rate = np.polyfit(np.asarray(table["START"]), ra_pole, 1)[0]
    assert rate == pytest.approx(-2 * np.pi / (40 * 86400), rel=1e-4)


def test_zenith_is_position_direction(day):
    pos = np.asarray(day["SC_POSITION"], float)
    pos /= np.linalg.norm(pos, axis=1)[:, None]
    zen = unit(day["RA_ZENITH"], day["DEC_ZENITH"])
    assert np.max(angle_deg(pos, zen)) < 1e-3


def test_rocking_angle_is_angle_from_zenith(day):
    zen = unit(day["RA_ZENITH"], day["DEC_ZENITH"])
    scz = unit(day["RA_SCZ"], day["DEC_SCZ"])
    npole = unit(day["RA_NPOLE"], day["DEC_NPOLE"])
    rock = np.asarray(day["ROCK_ANGLE"], float)
    assert np.allclose(angle_deg(scz, zen), np.abs(rock), atol=2e-3)
    # positive rocking angle = towards the north orbital pole
    side = np.sum(scz * npole, axis=1)
    big = np.abs(rock) > 1
    assert np.all(np.sign(side[big]) == np.sign(rock[big]))
    # nominal survey: +-50 deg most of the time
    assert np.mean(np.isclose(np.abs(rock), 50, atol=1e-3)) > 0.9


def test_rocking_alternates_each_orbit(day):
    t = np.asarray(day["START"])
    rock = np.asarray(day["ROCK_ANGLE"], float)
    nodes = ascending_node_times(day)
    # sign at the middle of consecutive orbits alternates
    mids = 0.5 * (nodes[:-1] + nodes[1:])
    signs = np.sign(np.interp(mids, t, rock))
    assert np.all(signs[1:] == -signs[:-1])


def test_rocking_profiles():
    constant = simulate_spacecraft(TSTART, TSTART + 7200, rocking=RockingProfile("constant", 0 * u.deg))
    zen = unit(constant["RA_ZENITH"], constant["DEC_ZENITH"])
    scz = unit(constant["RA_SCZ"], constant["DEC_SCZ"])
    assert np.max(angle_deg(zen, scz)) < 1e-3
    sinus = simulate_spacecraft(TSTART, TSTART + 12000, rocking={"kind": "sinusoidal", "angle": 35 * u.deg})
    assert np.max(np.abs(sinus["ROCK_ANGLE"])) == pytest.approx(35, abs=0.05)
    with pytest.raises(ValueError, match="rocking profile"):
        RockingProfile("zigzag")


def test_axes_orthogonal_and_sun_in_xz_plane(day):
    scz = unit(day["RA_SCZ"], day["DEC_SCZ"])
    scx = unit(day["RA_SCX"], day["DEC_SCX"])
    assert np.max(np.abs(np.sum(scz * scx, axis=1))) < 1e-4
    sun = unit(day["RA_SUN"], day["DEC_SUN"])
    scy = np.cross(scz, scx)
    assert np.max(np.abs(np.sum(sun * scy, axis=1))) < 1e-4
    assert np.all(np.sum(sun * scx, axis=1) > 0)


def test_sun_position_against_astropy(day):
    from astropy.coordinates import get_sun

    rows = day[::500]
    times = Time(51910 + 7.428703703703703e-4 + np.asarray(rows["START"]) / 86400, format="mjd", scale="tt")
    sun = get_sun(times)  # geocentric (GCRS) direction
    sep = angle_deg(unit(rows["RA_SUN"], rows["DEC_SUN"]), unit(sun.ra.deg, sun.dec.deg))
    assert np.max(sep) < 0.02


def test_quaternions_follow_flight_convention(day, crab_day):
    from scipy.spatial.transform import Rotation

    real = Table.read(crab_day / "ft2.fits.gz", hdu="SC_DATA")[:50]
    for table in (real, day[:50]):
        quat = np.stack([table[f"QSJ_{i}"] for i in range(1, 5)], axis=-1)
        matrix = Rotation.from_quat(quat).as_matrix()
        assert np.max(angle_deg(matrix[:, :, 2], unit(table["RA_SCZ"], table["DEC_SCZ"]))) < 0.01
        assert np.max(angle_deg(matrix[:, :, 0], unit(table["RA_SCX"], table["DEC_SCX"]))) < 0.01


def test_earth_rotation_against_astropy_sidereal_time(day):
    rows = day[::300]
    times = Time(51910 + 7.428703703703703e-4 + np.asarray(rows["START"]) / 86400, format="mjd", scale="tt")
    gmst = times.sidereal_time("mean", longitude=0 * u.deg, model="IAU2006").deg
    diff = (np.asarray(rows["RA_ZENITH"], float) - np.asarray(rows["LON_GEO"], float) - gmst + 180) % 360 - 180
    assert np.max(np.abs(diff)) < 0.02
    assert np.all(np.abs(day["LON_GEO"]) <= 180)


def test_livetime_fraction_matches_flight_data(day, crab_day):
    real = Table.read(crab_day / "ft2.fits.gz", hdu="SC_DATA")
    duration = np.asarray(real["STOP"] - real["START"])
    full = duration > 29
    real_frac = np.sum(real["LIVETIME"][full]) / np.sum(duration[full])
    ok = ~np.asarray(day["IN_SAA"])
    sim_frac = np.sum(day["LIVETIME"][ok]) / np.sum((day["STOP"] - day["START"])[ok])
    assert sim_frac == pytest.approx(real_frac, abs=0.02)
    sim_rows = np.asarray(day["LIVETIME"][ok] / (day["STOP"] - day["START"])[ok])
    real_rows = np.asarray(real["LIVETIME"][full]) / duration[full]
    # same spread of the per-row live fraction as in flight (5-95% range within 0.03)
    assert np.allclose(np.percentile(sim_rows, [5, 95]), np.percentile(real_rows, [5, 95]), atol=0.03)


def test_constant_livetime_fraction():
    table = simulate_spacecraft(TSTART, TSTART + 3600, livetime_fraction=0.8, saa=False)
    assert np.allclose(table["LIVETIME"], 0.8 * (table["STOP"] - table["START"]))
    with pytest.raises(ValueError, match="livetime_fraction"):
        simulate_spacecraft(TSTART, TSTART + 3600, livetime_fraction=1.5)


def test_saa_gaps(day, crab_day):
    in_saa = np.asarray(day["IN_SAA"])
    assert in_saa.any()
    assert np.all(day["LIVETIME"][in_saa] == 0)
    assert np.all(day["DATA_QUAL"][in_saa] == 0)
    assert np.all(day["DATA_QUAL"][~in_saa] == 1)
    lon = np.asarray(day["LON_GEO"][in_saa])
    lat = np.asarray(day["LAT_GEO"][in_saa])
    assert lat.max() <= 5.0 and lat.min() >= -30.0 and lon.min() >= -98.0 and lon.max() <= 34.0
    # fraction of time lost compared with the long gaps of a flight FT2 file (~17 %)
    real = Table.read(crab_day / "ft2.fits.gz", hdu="SC_DATA")
    gaps = np.asarray(real["START"][1:] - real["STOP"][:-1])
    real_lost = gaps[gaps > 300].sum() / (real["STOP"][-1] - real["START"][0])
    assert in_saa.mean() == pytest.approx(real_lost, abs=0.05)
    # "drop" mode leaves gaps like data-server files
    dropped = simulate_spacecraft(TSTART, TSTART + 86400.0, saa_rows="drop")
    assert len(dropped) == np.sum(~in_saa)
    holes = np.asarray(dropped["START"][1:] - dropped["STOP"][:-1])
    assert np.sum(holes > 300) >= 4


def test_time_rows(day):
    assert day["START"][0] == TSTART
    assert day["STOP"][-1] == TSTART + 86400.0
    assert np.allclose(day["STOP"][:-1], day["START"][1:])
    assert len(day) == 2880
    with pytest.raises(ValueError, match="tstop > tstart"):
        simulate_spacecraft(10.0, 5.0)


def test_writer_matches_flight_layout(day, crab_day, tmp_path):
    path = tmp_path / "ft2.fits"
    write_spacecraft(day, path)
    with pytest.raises(FileExistsError):
        write_spacecraft(day, path)
    write_spacecraft(day, path, overwrite=True)
    with fits.open(path) as sim, fits.open(crab_day / "ft2.fits.gz") as real:
        assert [h.name for h in sim] == [h.name for h in real]
        hs, hr = sim["SC_DATA"].header, real["SC_DATA"].header
        assert hs["TFIELDS"] == hr["TFIELDS"]
        for i in range(1, hr["TFIELDS"] + 1):
            assert hs[f"TTYPE{i}"] == hr[f"TTYPE{i}"]
            assert hs[f"TFORM{i}"] == hr[f"TFORM{i}"]
            assert hs.get(f"TUNIT{i}") == hr.get(f"TUNIT{i}")
        for key in ("TELESCOP", "INSTRUME", "MJDREFI", "MJDREFF", "TIMESYS", "TIMEUNIT", "TSTART", "TSTOP"):
            assert key in hs and key in sim[0].header
        assert hs["MJDREFI"] == hr["MJDREFI"]
        assert hs["MJDREFF"] == pytest.approx(hr["MJDREFF"], rel=1e-12)
        assert hs["TSTART"] == TSTART


def test_ft2_passes_reader_mktime_and_livetime_cube(day, tmp_path):
    """A simulated FT2 reads, filters and reduces through the same code as flight files."""
    from gammapy_lat.data import read_spacecraft
    from gammapy_lat.data.mktime import good_time_intervals
    from gammapy_lat.livetime import LivetimeCube

    path = tmp_path / "ft2.fits"
    write_spacecraft(day, path)
    sc = read_spacecraft(path)
    assert len(sc) == len(day)
    assert sc.tstart == TSTART
    start, stop = good_time_intervals(sc)  # (DATA_QUAL>0)&&(LAT_CONFIG==1)
    in_saa = np.asarray(day["IN_SAA"])
    assert np.sum(stop - start) == pytest.approx(np.sum((day["STOP"] - day["START"])[~in_saa]))
    # the SAA passages are the gaps between the good-time intervals
    n_runs = np.sum(np.diff(in_saa.astype(int)) == -1) + (0 if in_saa[0] else 1)
    assert len(start) == n_runs
    total_live = sc.livetime_in_gti(start, stop).to_value("s")
    assert total_live == pytest.approx(np.sum(day["LIVETIME"]))
    cube = LivetimeCube.compute(sc, (start, stop), nside=16, nbins=20)
    per_pixel = cube.livetime.to_value("s").sum(axis=1)
    # every row sees exactly one hemisphere (cos theta > 0): the sky average is half the livetime
    assert per_pixel.mean() == pytest.approx(0.5 * total_live, rel=5e-3)
    # no direction is seen for longer than the total livetime
    assert per_pixel.max() <= total_live * (1 + 1e-9)
