"""LATObservation and LATDataStore on the one-day Crab data (split into 'weekly' pieces)."""
import astropy.units as u
import numpy as np
import pytest
from astropy.io import fits
from astropy.time import Time
from gammapy.data import GTI, EventList, Observation, Observations

from gammapy_lat.data import read_events
from gammapy_lat.errors import LATDataError, LATFileError
from gammapy_lat.observations import LATDataStore, LATObservation


@pytest.fixture(scope="module")
def exposure_reference(crab_day):
    """Livetime of the FT1 GTIs as gtbin computed it from the FT2 file (EXPOSURE keyword)."""
    return fits.getheader(crab_day / "cntmap.fits.gz", "GTI")["EXPOSURE"]


@pytest.fixture(scope="module")
def obs(crab_day):
    return LATObservation.read(crab_day / "ft1.fits.gz", crab_day / "ft2.fits.gz", obs_id=7)


def test_observation_like_gammapy(obs, crab_day, exposure_reference):
    assert isinstance(obs, Observation)
    assert obs.obs_id == 7
    assert isinstance(obs.events, EventList) and len(obs.events.table) == 1507
    assert isinstance(obs.gti, GTI) and len(obs.gti.table) == 15
    with fits.open(crab_day / "ft1.fits.gz") as hdulist:
        gti = hdulist["GTI"].data
        ontime = hdulist["GTI"].header["ONTIME"]
    ref = Time(51910, 7.428703703703703e-4, format="mjd", scale="tt")
    np.testing.assert_allclose((obs.tstart - ref).to_value("s"), gti["START"][0], atol=1e-6)
    np.testing.assert_allclose((obs.tstop - ref).to_value("s"), gti["STOP"][-1], atol=1e-6)
    np.testing.assert_allclose(obs.observation_time_duration.to_value("s"), ontime, rtol=1e-9)
    np.testing.assert_allclose(obs.observation_live_time_duration.to_value("s"), exposure_reference, rtol=1e-9)
    assert 0 < obs.observation_dead_time_fraction < 0.2
    assert obs.irf_name == "P8R2_SOURCE_V6" and obs.evclass == 128 and obs.evtype == 3
    assert obs.target_radec.ra.deg == pytest.approx(83.6331)
    assert "P8R2_SOURCE_V6" in str(obs)
    observations = Observations([obs])
    assert observations.ids == ["7"]


def test_observation_select_time(obs, exposure_reference):
    first = obs.select_time((obs.met_start, 239600000.0))
    second = obs.select_time((239600000.0, obs.met_stop))
    assert len(first.lat_events) + len(second.lat_events) == len(obs.lat_events)
    total = first.observation_live_time_duration + second.observation_live_time_duration
    np.testing.assert_allclose(total.to_value("s"), exposure_reference, rtol=1e-9)


def test_observation_without_spacecraft(crab_day):
    obs = LATObservation(read_events(crab_day / "ft1.fits.gz"))
    with pytest.raises(LATDataError, match="needs the spacecraft"):
        _ = obs.observation_live_time_duration


@pytest.fixture(scope="module")
def weekly_dir(tmp_path_factory, crab_day):
    """The day split into three FT1 files and two FT2 files, as a folder of weekly files."""
    folder = tmp_path_factory.mktemp("weekly")
    events = read_events(crab_day / "ft1.fits.gz")
    cuts = [events.tstart, 239580000.0, 239610000.0, events.tstop]
    for idx, (a, b) in enumerate(zip(cuts[:-1], cuts[1:])):
        events.select_time(a, b).write(folder / f"lat_photon_weekly_w{idx:03d}.fits")
    with fits.open(crab_day / "ft2.fits.gz") as hdulist:
        sc = hdulist["SC_DATA"]
        half = int(np.searchsorted(sc.data["START"], 239600000.0))  # the split falls inside the day
        for idx, rows in enumerate((slice(0, half), slice(half, None))):
            hdu = fits.BinTableHDU(sc.data[rows], header=sc.header, name="SC_DATA")
            fits.HDUList([hdulist[0].copy(), hdu]).writeto(folder / f"lat_spacecraft_weekly_w{idx:03d}.fits")
    (folder / "notes.fits").write_bytes(b"")  # not a LAT file: ignored
    return folder


def test_datastore_per_file(weekly_dir, crab_day, exposure_reference):
    store = LATDataStore.from_dir(weekly_dir)
    assert len(store) == 3 and len(store.ft2_files) == 2
    observations = store.get_observations()
    assert isinstance(observations, Observations) and len(observations) == 3
    assert all(isinstance(o, LATObservation) for o in observations)
    times = np.concatenate([o.lat_events.time for o in observations])
    with fits.open(crab_day / "ft1.fits.gz") as hdulist:
        np.testing.assert_array_equal(np.sort(times), np.sort(hdulist["EVENTS"].data["TIME"]))
    live = sum(o.observation_live_time_duration.to_value("s") for o in observations)
    np.testing.assert_allclose(live, exposure_reference, rtol=1e-9)


def test_datastore_time_range_and_chunks(weekly_dir, crab_day):
    store = LATDataStore(str(weekly_dir / "lat_photon_weekly_w*.fits"), str(weekly_dir / "lat_spacecraft_weekly_w*.fits"))
    events = read_events(crab_day / "ft1.fits.gz")
    tmin, tmax = 239570000.0, 239630000.0
    observations = store.get_observations(tmin=tmin, tmax=tmax)
    assert [o.obs_id for o in observations] == [0, 1, 2]
    expected = np.sum((events.time >= tmin) & (events.time <= tmax))
    assert sum(len(o.lat_events) for o in observations) == expected
    chunks = store.get_observations(tmin=tmin, tmax=tmax, chunk=4 * u.h)
    assert sum(len(o.lat_events) for o in chunks) == expected
    for obs in chunks:
        assert obs.met_stop - obs.met_start <= 4 * 3600 + 1e-6
        assert obs.spacecraft.covers(obs.met_start, obs.lat_events.gti_stop[0])
    # a chunk straddling the boundary of two files merges their events
    straddle = [o for o in chunks if o.met_start < 239610000.0 < o.met_stop]
    assert straddle and len({str(f) for f in straddle[0].lat_events.filenames}) == 2
    # times as astropy Time
    ref = events.time_ref
    again = store.get_observations(tmin=ref + tmin * u.s, tmax=ref + tmax * u.s, chunk=4 * u.h)
    assert [len(o.lat_events) for o in again] == [len(o.lat_events) for o in chunks]


def test_datastore_errors(tmp_path, weekly_dir):
    with pytest.raises(LATFileError, match="does not exist"):
        LATDataStore.from_dir(tmp_path / "nothing")
    with pytest.raises(LATFileError, match="holds no FT1 file"):
        LATDataStore.from_dir(tmp_path)
    store = LATDataStore(str(weekly_dir / "lat_photon_weekly_w*.fits"), str(weekly_dir / "lat_spacecraft_weekly_w000.fits"))
    with pytest.raises(LATDataError, match="does not cover"):
        store.get_observations()
    empty = tmp_path / "empty_ft2.fits"
    with fits.open(weekly_dir / "lat_spacecraft_weekly_w000.fits") as hdulist:
        hdu = fits.BinTableHDU(hdulist["SC_DATA"].data[:0], header=hdulist["SC_DATA"].header, name="SC_DATA")
        fits.HDUList([hdulist[0].copy(), hdu]).writeto(empty)
    with pytest.raises(LATFileError, match="empty_ft2.fits: the SC_DATA table has no rows"):
        LATDataStore(str(weekly_dir / "lat_photon_weekly_w*.fits"), str(empty))


def test_observation_copy_pickle_and_observations_select_time(obs, exposure_reference):
    import pickle

    clone = pickle.loads(pickle.dumps(obs))
    assert isinstance(clone, LATObservation) and len(clone.lat_events) == len(obs.lat_events)
    np.testing.assert_allclose(clone.observation_live_time_duration.to_value("s"), exposure_reference, rtol=1e-12)
    copied = obs.copy(in_memory=True, obs_id=11)
    assert isinstance(copied, LATObservation) and copied.obs_id == 11 and copied.irf_name == obs.irf_name
    # gammapy's Observations.select_time goes through LATObservation.select_time
    half = Observations([obs]).select_time(Time([obs.tstart.mjd, obs.tstart.mjd + 0.5], format="mjd", scale="tt"))
    met = (half[0].tstop - obs.lat_events.time_ref).to_value("s")
    assert isinstance(half[0], LATObservation) and met <= obs.met_start + 43200 + 1e-3
    assert len(half[0].lat_events) == np.sum(obs.lat_events.time <= obs.met_start + 43200)


def test_chunk_boundary_on_an_event_counts_it_once(weekly_dir, crab_day):
    store = LATDataStore(str(weekly_dir / "lat_photon_weekly_w*.fits"), str(weekly_dir / "lat_spacecraft_weekly_w*.fits"))
    events = read_events(crab_day / "ft1.fits.gz")
    t_event = events.time[700]
    tmin = t_event - 3 * 3600.0  # the first chunk boundary falls exactly on this event
    chunks = store.get_observations(tmin=tmin, tmax=events.tstop, chunk=3 * u.h)
    times = np.concatenate([o.lat_events.time for o in chunks])
    assert np.sum(times == t_event) == 1
    assert times.size == np.sum(events.time >= tmin)
