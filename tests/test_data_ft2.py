"""FT2 reading, merging, validation, coverage and livetime on the one-day Crab data."""
import numpy as np
import pytest
from astropy.io import fits

from gammapy_lat.data import SpacecraftData, read_events, read_spacecraft
from gammapy_lat.errors import LATDataError, LATFileError


@pytest.fixture(scope="module")
def ft2(crab_day):
    return crab_day / "ft2.fits.gz"


@pytest.fixture(scope="module")
def spacecraft(ft2):
    return read_spacecraft(ft2)


@pytest.fixture(scope="module")
def sc_hdus(ft2):
    with fits.open(ft2) as hdulist:
        return hdulist[0].copy(), hdulist["SC_DATA"].copy()


def _write(path, primary, sc_hdu, rows=None, drop=None):
    data = sc_hdu.data if rows is None else sc_hdu.data[rows]
    cols = [c for c in sc_hdu.columns if c.name != drop]
    table = fits.BinTableHDU.from_columns(fits.ColDefs([fits.Column(name=c.name, format=c.format, unit=c.unit, array=data[c.name]) for c in cols]), header=sc_hdu.header, name="SC_DATA")
    fits.HDUList([primary, table]).writeto(path)
    return path


def test_read_sc_data(spacecraft, sc_hdus):
    _, hdu = sc_hdus
    assert isinstance(spacecraft, SpacecraftData)
    assert len(spacecraft) == len(hdu.data) == 5604
    np.testing.assert_array_equal(spacecraft.start, hdu.data["START"])
    np.testing.assert_array_equal(spacecraft.livetime, hdu.data["LIVETIME"])
    assert spacecraft.tstart == hdu.data["START"][0] and spacecraft.tstop == hdu.data["STOP"][-1]
    assert spacecraft.table.colnames == list(hdu.columns.names)
    np.testing.assert_allclose(spacecraft.scz.ra.deg, hdu.data["RA_SCZ"])


def test_livetime_matches_gtbin_exposure(spacecraft, crab_day):
    # gtbin wrote the livetime of the GTIs (from this FT2 file) as EXPOSURE in the GTI header
    events = read_events(crab_day / "ft1.fits.gz")
    reference = fits.getheader(crab_day / "cntmap.fits.gz", "GTI")["EXPOSURE"]
    livetime = spacecraft.livetime_in_gti(events.gti_start, events.gti_stop)
    assert livetime.unit == "s"
    np.testing.assert_allclose(livetime.value, reference, rtol=1e-12)


def test_overlap_fraction_analytic(spacecraft):
    start = spacecraft.start[10] + 7.5
    stop = spacecraft.start[12] + 3.0
    frac = spacecraft.overlap_fraction([start], [stop])
    dur = spacecraft.stop - spacecraft.start
    assert frac[10] == pytest.approx((spacecraft.stop[10] - start) / dur[10])
    assert frac[11] == pytest.approx(1.0)
    assert frac[12] == pytest.approx(3.0 / dur[12])
    assert frac[:10].sum() == 0 and frac[13:].sum() == 0


def test_merge_split_files(tmp_path, sc_hdus, spacecraft):
    primary, hdu = sc_hdus
    n = len(hdu.data)
    # two "weekly" files sharing 5 rows at the boundary, given in reverse order
    a = _write(tmp_path / "w1.fits", primary, hdu, rows=slice(0, n // 2 + 5))
    b = _write(tmp_path / "w2.fits", primary, hdu, rows=slice(n // 2, n))
    merged = read_spacecraft([b, a])
    assert len(merged) == n
    np.testing.assert_array_equal(merged.start, spacecraft.start)
    np.testing.assert_array_equal(merged.livetime, spacecraft.livetime)
    assert merged.header["TSTART"] == spacecraft.tstart and merged.header["TSTOP"] == spacecraft.tstop


def test_coverage(spacecraft):
    assert spacecraft.covers(spacecraft.start[0], spacecraft.stop[10])
    assert not spacecraft.covers(spacecraft.start[0] - 100, spacecraft.stop[10])
    # the file has a gap in the SAA passage after row 21
    gap = np.flatnonzero(spacecraft.start[1:] > spacecraft.stop[:-1] + 1)[0]
    assert not spacecraft.covers(spacecraft.start[gap], spacecraft.stop[gap + 1])
    assert spacecraft.covers(spacecraft.start[gap], spacecraft.stop[gap])
    with pytest.raises(LATDataError, match=r"ft2.fits.gz .* does not cover my events .* no spacecraft data in"):
        spacecraft.check_coverage(spacecraft.tstop - 10, spacecraft.tstop + 1000, what="my events")


def test_missing_file():
    with pytest.raises(LATFileError, match="FT2 file /nonexistent/ft2.fits does not exist"):
        read_spacecraft("/nonexistent/ft2.fits")


def test_no_sc_data_extension(tmp_path, crab_day):
    with pytest.raises(LATFileError, match=r"ft1.fits.gz has no SC_DATA extension"):
        read_spacecraft(crab_day / "ft1.fits.gz")


def test_missing_column(tmp_path, sc_hdus):
    primary, hdu = sc_hdus
    path = _write(tmp_path / "nolive.fits", primary, hdu, rows=slice(0, 10), drop="LIVETIME")
    with pytest.raises(LATFileError, match="nolive.fits: SC_DATA lacks required column.*LIVETIME"):
        read_spacecraft(path)


def test_unsorted_and_overlapping_rows(tmp_path, sc_hdus):
    primary, hdu = sc_hdus
    path = _write(tmp_path / "unsorted.fits", primary, hdu, rows=[0, 2, 1, 3])
    with pytest.raises(LATDataError, match="unsorted.fits: rows are not sorted by START"):
        read_spacecraft(path)
    rows = hdu.data[:4].copy()
    rows["START"][2] -= 10.0  # overlaps row 1
    table = fits.BinTableHDU(rows, header=hdu.header, name="SC_DATA")
    fits.HDUList([primary, table]).writeto(tmp_path / "overlap.fits")
    with pytest.raises(LATDataError, match="overlap.fits: row 2 .* overlaps the previous row"):
        read_spacecraft(tmp_path / "overlap.fits")


# --------------------------------------------------------------------------- reading a time range
@pytest.fixture(scope="module")
def ft2_plain(tmp_path_factory, sc_hdus):
    """The kit's FT2 rows in an uncompressed file (memory-mapped when a time range is read)."""
    primary, hdu = sc_hdus
    return _write(tmp_path_factory.mktemp("ft2") / "ft2.fits", primary, hdu)


def _assert_same_rows(actual, expected):
    assert len(actual) == len(expected)
    assert actual.table.colnames == expected.table.colnames
    for name in expected.table.colnames:
        np.testing.assert_array_equal(actual.table[name], expected.table[name])


def test_time_range_equals_select_time(ft2_plain, ft2, spacecraft):
    """Reading a time range gives the rows of the full read's select_time, for ranges at row
    boundaries, inside rows, across the SAA gap, before and after the data."""
    start, stop = spacecraft.start, spacecraft.stop
    gap = np.flatnonzero(start[1:] > stop[:-1] + 1)[0]
    ranges = [
        (start[0], stop[-1]),
        (start[100], stop[200]),
        (start[100] + 3.3, stop[200] - 3.3),
        (stop[100], start[101]),
        (stop[gap] + 1.0, start[gap + 1] - 1.0),
        (stop[gap] - 1.0, start[gap + 1] + 1.0),
        (start[0] - 1e4, start[0] + 1.0),
        (stop[-1] - 1.0, stop[-1] + 1e4),
        (start[0] - 1e4, start[0] - 1e3),
        (stop[-1] + 1e3, stop[-1] + 1e4),
    ]
    for path in (ft2_plain, ft2):
        for tmin, tmax in ranges:
            part = read_spacecraft(path, time_range=(tmin, tmax))
            _assert_same_rows(part, spacecraft.select_time(tmin, tmax))
            assert part.header["TSTART"] == spacecraft.header["TSTART"]


def test_time_range_merged_files(tmp_path, sc_hdus, spacecraft):
    primary, hdu = sc_hdus
    n = len(hdu.data)
    a = _write(tmp_path / "w1.fits", primary, hdu, rows=slice(0, n // 2 + 5))
    b = _write(tmp_path / "w2.fits", primary, hdu, rows=slice(n // 2, n))
    tmin, tmax = spacecraft.start[n // 2 - 50], spacecraft.stop[n // 2 + 50]
    _assert_same_rows(read_spacecraft([b, a], time_range=(tmin, tmax)), spacecraft.select_time(tmin, tmax))
    # a range inside one file only
    tmin, tmax = spacecraft.start[10], spacecraft.stop[20]
    _assert_same_rows(read_spacecraft([b, a], time_range=(tmin, tmax)), spacecraft.select_time(tmin, tmax))


def test_time_range_bad_files(tmp_path, sc_hdus):
    """Disorder next to the range, and empty files, raise the errors of a full read."""
    primary, hdu = sc_hdus
    rows = list(range(40))
    rows[20], rows[21] = rows[21], rows[20]
    path = _write(tmp_path / "unsorted.fits", primary, hdu, rows=rows)
    tmin = float(hdu.data["START"][21])
    with pytest.raises(LATDataError, match="unsorted.fits: rows are not sorted by START"):
        read_spacecraft(path, time_range=(tmin, tmin + 10))
    empty = _write(tmp_path / "empty.fits", primary, hdu, rows=slice(0, 0))
    with pytest.raises(LATDataError, match="empty.fits: SC_DATA has no rows"):
        read_spacecraft(empty, time_range=(0, 1e9))
    with pytest.raises(LATFileError, match="SC_DATA lacks required column.*LIVETIME"):
        read_spacecraft(_write(tmp_path / "nolive.fits", primary, hdu, rows=slice(0, 10), drop="LIVETIME"),
                        time_range=(0, 1e9))


def test_time_range_coverage_error_names_file(ft2_plain, spacecraft):
    part = read_spacecraft(ft2_plain, time_range=(spacecraft.tstop + 100, spacecraft.tstop + 200))
    assert len(part) == 0
    with pytest.raises(LATDataError, match=r"ft2.fits \(no rows in that range.*does not cover my events"):
        part.check_coverage(spacecraft.tstop + 100, spacecraft.tstop + 200, what="my events")


def test_time_range_reads_only_its_rows(ft2_plain, spacecraft):
    """The rows of the range (and one neighbour on each side) are located by bisection."""
    from gammapy_lat.data.ft2 import _row_range

    tmin, tmax = spacecraft.start[1000], spacecraft.stop[1099]
    with fits.open(ft2_plain, memmap=True) as hdulist:
        assert _row_range(hdulist["SC_DATA"], tmin, tmax) == (999, 1101)
        assert _row_range(hdulist["SC_DATA"], spacecraft.start[0] - 100, spacecraft.start[0] - 10) == (0, 1)
