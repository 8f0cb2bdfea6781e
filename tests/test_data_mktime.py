"""gtmktime semantics: GTIs from FT2 filters, ROI zenith cut, intersection with the event GTIs."""
import numpy as np
import pytest
from astropy.io import fits
from click.testing import CliRunner

from gammapy_lat.cli import cli
from gammapy_lat.data import (
    DEFAULT_FILTER,
    DSSKeywords,
    LATEventList,
    good_time_intervals,
    make_gti,
    mktime,
    read_events,
    read_spacecraft,
)
from gammapy_lat.errors import FilterExpressionError, LATDataError, SelectionError


@pytest.fixture(scope="module")
def events(crab_day):
    return read_events(crab_day / "ft1.fits.gz")


@pytest.fixture(scope="module")
def spacecraft(crab_day):
    return read_spacecraft(crab_day / "ft2.fits.gz")


def _reference_gti(sc, good, tmin, tmax, in_start, in_stop):
    """GTIs by a plain loop: consecutive good rows (STOP == next START) form one interval,
    then clip to [tmin, tmax] and intersect with the input intervals."""
    intervals, current = [], None
    for a, b, ok in zip(sc.start, sc.stop, good):
        if ok and current is not None and a == current[1]:
            current[1] = b
        elif ok:
            if current is not None:
                intervals.append(tuple(current))
            current = [a, b]
        else:
            if current is not None:
                intervals.append(tuple(current))
            current = None
    if current is not None:
        intervals.append(tuple(current))
    out = []
    for a, b in intervals:
        for c, d in zip(in_start, in_stop):
            lo, hi = max(a, c, tmin), min(b, d, tmax)
            if hi > lo:
                out.append((lo, hi))
    return np.array(out)


def test_default_filter_reproduces_ft1_gti(events, spacecraft, crab_day):
    """The GTIs of the FT1 file were made by gtmktime with the standard filter: same result."""
    start, stop = good_time_intervals(spacecraft, DEFAULT_FILTER, tmin=events.tstart, tmax=events.tstop)
    with fits.open(crab_day / "ft1.fits.gz") as hdulist:
        gti = hdulist["GTI"].data
        np.testing.assert_array_equal(start, gti["START"])
        np.testing.assert_array_equal(stop, gti["STOP"])
    # and mktime on the file therefore changes nothing
    out = mktime(events, spacecraft)
    assert len(out) == len(events)
    np.testing.assert_array_equal(out.gti_start, events.gti_start)


def test_rock_angle_filter(events, spacecraft):
    # in August 2008 the LAT rocked by +-35 deg: keep the northern rocks only
    flt = "(DATA_QUAL>0)&&(LAT_CONFIG==1)&&ROCK_ANGLE>0"
    good = (
        (np.asarray(spacecraft.table["DATA_QUAL"]) > 0)
        & (np.asarray(spacecraft.table["LAT_CONFIG"]) == 1)
        & (np.asarray(spacecraft.table["ROCK_ANGLE"], float) > 0)
    )
    expected = _reference_gti(spacecraft, good, -np.inf, np.inf, events.gti_start, events.gti_stop)
    out = mktime(events, spacecraft, filter=flt)
    np.testing.assert_array_equal(np.c_[out.gti_start, out.gti_stop], expected)
    # events: those of the input inside the new GTIs
    t = events.time
    inside = np.zeros(len(t), bool)
    for a, b in expected:
        inside |= (t >= a) & (t <= b)
    assert len(out) == inside.sum() < len(events)
    np.testing.assert_array_equal(out.time, t[inside])
    # as gtmktime: header times and DSS keywords unchanged
    assert out.tstart == events.tstart and out.tstop == events.tstop
    assert out.dss == events.dss
    gti = make_gti(spacecraft, flt)
    assert len(gti.table) >= len(expected)


def test_roicut_uses_dss_cone_and_zmax(events, spacecraft, caplog):
    sel = events.select(ra=83.6331, dec=22.0145, rad=10, zmax=80)
    ra, dec = np.radians(np.asarray(spacecraft.table["RA_ZENITH"], float)), np.radians(np.asarray(spacecraft.table["DEC_ZENITH"], float))
    ra0, dec0 = np.radians(83.6331), np.radians(22.0145)
    sep = np.degrees(np.arccos(np.sin(dec) * np.sin(dec0) + np.cos(dec) * np.cos(dec0) * np.cos(ra - ra0)))
    good = (np.asarray(spacecraft.table["DATA_QUAL"]) > 0) & (np.asarray(spacecraft.table["LAT_CONFIG"]) == 1) & (sep < 80 - 10)
    expected = _reference_gti(spacecraft, good, -np.inf, np.inf, sel.gti_start, sel.gti_stop)
    out = mktime(sel, spacecraft, roicut=True)
    np.testing.assert_array_equal(np.c_[out.gti_start, out.gti_stop], expected)
    assert 0 < out.ontime.value < sel.ontime.value
    # without a cone in the DSS keywords gtmktime applies no ROI cut and says so
    bare = LATEventList(events.table, (events.gti_start, events.gti_stop), header=events.header, dss=DSSKeywords())
    with caplog.at_level("WARNING"):
        out = mktime(bare, spacecraft, roicut=True)
    assert "ROI-based zenith-angle cut is not applied" in caplog.text
    np.testing.assert_array_equal(out.gti_start, events.gti_start)


def test_overwrite_replaces_event_gtis(events, spacecraft):
    good = (np.asarray(spacecraft.table["DATA_QUAL"]) > 0) & (np.asarray(spacecraft.table["LAT_CONFIG"]) == 1)
    lo, hi = 239580000.0, 239620000.0
    out = mktime(events, spacecraft, overwrite=True, header_obstimes=False, tstart=lo, tstop=hi)
    expected = _reference_gti(spacecraft, good, lo, hi, [-np.inf], [np.inf])
    np.testing.assert_array_equal(np.c_[out.gti_start, out.gti_stop], expected)
    t = events.time
    assert len(out) == np.sum([(t >= a) & (t <= b) for a, b in expected], axis=0).astype(bool).sum()
    # with the header times, the standard filter gives back the file's own GTIs
    same = mktime(events, spacecraft, overwrite=True)
    np.testing.assert_array_equal(same.gti_start, events.gti_start)
    with pytest.raises(SelectionError, match="needs tstart and tstop"):
        mktime(events, spacecraft, overwrite=True, header_obstimes=False)


def test_ft2_not_covering_events(events, spacecraft):
    partial = spacecraft.select_time(spacecraft.tstart, 239600000.0)
    with pytest.raises(LATDataError, match=r"ft2.fits.gz .* does not cover the GTIs of FT1 file .*ft1.fits.gz"):
        mktime(events, partial)


def test_filter_errors(events, spacecraft):
    with pytest.raises(FilterExpressionError, match="ft2.fits.gz: Unknown column 'DATA_QAL'") as info:
        mktime(events, spacecraft, filter="DATA_QAL>0")
    assert info.value.position == 0
    with pytest.raises(FilterExpressionError, match="Expected '\\)'"):
        mktime(events, spacecraft, filter="(DATA_QUAL>0")
    with pytest.raises(SelectionError, match="selects no good time"):
        mktime(events, spacecraft, filter="ROCK_ANGLE > 1000")


def test_cli_mktime(tmp_path, crab_day, spacecraft):
    out = tmp_path / "mkt.fits"
    flt = "(DATA_QUAL>0)&&(LAT_CONFIG==1)&&ROCK_ANGLE>0"
    args = ["mktime", "--scfile", str(crab_day / "ft2.fits.gz"), "--evfile", str(crab_day / "ft1.fits.gz"), "-o", str(out)]
    result = CliRunner().invoke(cli, args + ["--filter", flt, "--roicut", "no"])
    assert result.exit_code == 0, result.output
    back = read_events(out)
    events = read_events(crab_day / "ft1.fits.gz")
    expected = mktime(events, spacecraft, filter=flt)
    np.testing.assert_array_equal(back.gti_start, expected.gti_start)
    assert len(back) == len(expected)
    with fits.open(out) as hdulist:
        assert hdulist["GTI"].header["TSTART"] == events.tstart
        assert hdulist["EVENTS"].header["NDSKEYS"] == 6


def test_cli_mktime_bad_filter_writes_nothing(tmp_path, crab_day):
    out = tmp_path / "bad.fits"
    args = ["mktime", "--scfile", str(crab_day / "ft2.fits.gz"), "--evfile", str(crab_day / "ft1.fits.gz"), "-o", str(out)]
    result = CliRunner().invoke(cli, args + ["--filter", "(DATA_QUAL>0)&&(LAT_CONFIG=1"])
    assert result.exit_code == 1
    assert "Error: Expected ')'" in result.output and "^" in result.output
    result = CliRunner().invoke(cli, args + ["--filter", "DATA_QUAL>0", "--scfile", str(crab_day / "ft1.fits.gz")])
    assert result.exit_code == 1 and "has no SC_DATA extension" in result.output
    assert list(tmp_path.iterdir()) == []
