"""Targets without a name resolver, run selection by night and cuts, and θ² with Li & Ma
significances, against Gammapy's ThetaSquaredTable / RAD_MAX selection and the Li & Ma formula."""
import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord

from gammapy_lat.errors import SelectionError
from gammapy_lat.iact.runs import night_interval, parse_nights, parse_runs, select_runs
from gammapy_lat.iact.targets import resolve_target
from gammapy_lat.iact.theta2 import make_theta2, off_positions


def test_resolve_target_offline():
    crab = SkyCoord("05h34m31.94s", "+22d00m52.2s")  # SIMBAD position of the Crab pulsar
    for text in ["Crab", "crab nebula", "CrabNebula", "M1", "83.6331,22.0145", "05:34:31.94,+22:00:52.2"]:
        target = resolve_target(text)
        assert target.position.separation(crab).arcsec < 1, text
    assert resolve_target("pks2155-304").name == "PKS 2155-304"
    assert resolve_target("Sgr A*").position.galactic.l.wrap_at(180 * u.deg).deg == pytest.approx(-0.056, abs=0.01)
    with pytest.raises(SelectionError, match="RA,DEC"):
        resolve_target("No Such Source")
    with pytest.raises(SelectionError, match="RA must be"):
        resolve_target("400,10")


def test_resolve_target_from_obs_index(gammapy_data):
    from gammapy.data import DataStore

    table = DataStore.from_dir(gammapy_data / "hess-dl3-dr1").obs_table
    target = resolve_target("GX 339-4", table)  # not built in: OBJECT column of the obs-index
    assert target.source == "obs-index"
    assert target.position.separation(SkyCoord(255.7057, -48.7897, unit="deg")).deg < 0.6


def test_parse_runs_and_nights():
    assert parse_runs("33787-33790,23523 23526") == [23523, 23526, 33787, 33788, 33789, 33790]
    with pytest.raises(SelectionError):
        parse_runs("abc")
    # against the data store: ranges hold the available runs, single ids must exist
    available = [23523, 23526, 23559, 23592, 33787]
    assert parse_runs("23500-23600", available) == [23523, 23526, 23559, 23592]
    with pytest.raises(SelectionError, match="not in the data store"):
        parse_runs("23524", available)
    with pytest.raises(SelectionError, match="no run of the data store"):
        parse_runs("1-10", available)
    first, last = parse_nights("2006-07-29")
    t0, t1 = night_interval(first, last, 16.5)   # H.E.S.S.: local noon is 10:54 UTC
    assert t0.isot.startswith("2006-07-29T10:54") and t1.isot.startswith("2006-07-30T10:54")
    t0, t1 = night_interval(*parse_nights("2012-10-12"), -110.95)  # VERITAS: 19:24 UTC
    assert t0.isot.startswith("2012-10-12T19:23") and t1.isot.startswith("2012-10-13T19:23")


def test_select_runs_night_and_cuts(gammapy_data):
    from gammapy.data import DataStore

    store = DataStore.from_dir(gammapy_data / "hess-dl3-dr1")
    pks = resolve_target("PKS 2155-304")
    flare = select_runs(store, pks, date="2006-07-29")
    assert flare.obs_ids == list(range(33787, 33802))          # the 15 runs of the flare night
    steady = select_runs(store, pks, date="2008-08-27")
    assert steady.obs_ids == [47802, 47803, 47804]
    cut = select_runs(store, pks, date="2006-07-29", zenith_max="40 deg")
    table = cut.table
    expected = np.asarray(store.obs_table.select_obs_id(flare.obs_ids)["ZEN_PNT"]) <= 40
    assert cut.obs_ids == [i for i, ok in zip(flare.obs_ids, expected) if ok]
    assert all(s.startswith("zenith") for s in table["STATUS"][table["STATUS"] != "ok"])
    text = cut.format()
    assert "ZENITH" in text and "DURATION" in text and "QUALITY" in text and "runs selected" in text
    with pytest.raises(SelectionError, match="no run"):
        select_runs(store, pks, date="2010-01-01")
    with pytest.raises(SelectionError, match="no run points within"):
        select_runs(store, resolve_target("Mrk 421"))


def test_select_runs_point_like(gammapy_data):
    """MAGIC's obs-index has no zenith and no time reference: both come from the runs."""
    from gammapy.data import DataStore

    store = DataStore.from_dir(gammapy_data / "magic/rad_max/data")
    selection = select_runs(store, resolve_target("Crab"), date="2013-10-03")
    assert selection.obs_ids == [5029747, 5029748]
    zenith = selection.table["ZENITH"]
    assert np.all((zenith > 10) & (zenith < 25))


def test_off_positions_symmetric():
    pointing = SkyCoord(83.633, 21.514, unit="deg")
    target = SkyCoord(83.633, 22.014, unit="deg")
    offs = off_positions(pointing, target, 3)
    np.testing.assert_allclose(offs.separation(pointing).deg, 0.5, atol=1e-9)
    np.testing.assert_allclose(offs.separation(target).deg, [2 * 0.5 * np.sin(np.radians(45)), 1.0,
                                                              2 * 0.5 * np.sin(np.radians(45))], atol=1e-4)


def test_theta2_against_gammapy_and_li_ma(gammapy_data):
    """ON/OFF θ² histograms equal Gammapy's ThetaSquaredTable (one reflected OFF position); the
    significance inside the cut is Li & Ma's eq. 17 evaluated here from the counts."""
    from gammapy.data import DataStore
    from gammapy.makers.utils import ThetaSquaredTable
    from gammapy.maps import MapAxis

    store = DataStore.from_dir(gammapy_data / "hess-dl3-dr1")
    observations = store.get_observations([23523, 23526, 23559, 23592])
    crab = resolve_target("Crab").position
    result = make_theta2(observations, crab, theta2_max="0.2 deg2", nbins=20, n_off=1)
    axis = MapAxis.from_bounds(0, 0.2, 20, unit="deg2", name="theta_squared")
    reference = ThetaSquaredTable(observations, axis, crab).run()
    np.testing.assert_array_equal(result.table["counts"], reference["counts"])
    np.testing.assert_array_equal(result.table["counts_off"], reference["counts_off"])

    three = make_theta2(observations, crab, n_off=3)
    s = three.summary
    n_on, n_off, a = s["n_on"], s["n_off"], s["alpha"]
    li_ma = np.sqrt(2) * np.sqrt(n_on * np.log((1 + a) / a * n_on / (n_on + n_off))
                                 + n_off * np.log((1 + a) * n_off / (n_on + n_off)))
    assert a == pytest.approx(1 / 3)
    assert s["significance"] == pytest.approx(li_ma, rel=1e-6)
    assert s["excess"] == pytest.approx(n_on - a * n_off)
    assert s["significance"] > 25
    assert len(three.runs) == 4 and int(three.runs["N_ON"].sum()) == n_on


def test_theta2_rad_max(gammapy_data):
    """Point-like MAGIC runs: the energy-dependent RAD_MAX cut gives Gammapy's RAD_MAX ON counts."""
    from gammapy.data import DataStore

    store = DataStore.from_dir(gammapy_data / "magic/rad_max/data")
    observations = store.get_observations(required_irf="point-like")
    crab = resolve_target("Crab").position
    result = make_theta2(observations, crab)
    expected = sum(len(o.events.select_rad_max(rad_max=o.rad_max, position=crab).table) for o in observations)
    assert result.summary["n_on"] == expected
    assert result.summary["theta_cut"] == "RAD_MAX"
    assert result.summary["significance"] > 10
