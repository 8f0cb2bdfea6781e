"""FT1 reading, merging, gtselect-style selection and writing, checked on the one-day Crab data."""
import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from click.testing import CliRunner
from gammapy.data import GTI, EventList

from gammapy_lat.cli import cli
from gammapy_lat.data import DSSKeywords, LATEventList, read_events
from gammapy_lat.errors import LATDataError, LATFileError, SelectionError


@pytest.fixture(scope="module")
def ft1(crab_day):
    return crab_day / "ft1.fits.gz"


@pytest.fixture(scope="module")
def raw(ft1):
    """The EVENTS and GTI tables as stored, read with astropy only (the reference)."""
    with fits.open(ft1) as hdulist:
        events = hdulist["EVENTS"].data.copy()
        gti = hdulist["GTI"].data.copy()
        header = hdulist["EVENTS"].header.copy()
    return events, gti, header


@pytest.fixture(scope="module")
def events(ft1):
    return read_events(ft1)


def _bits(column):
    """Integer value of FITS 32X bit columns, computed independently with numpy.packbits."""
    packed = np.packbits(np.asarray(column, dtype=np.uint8), axis=1, bitorder="big")
    return packed.view(">u4").ravel().astype(np.int64)


def _angsep(ra, dec, ra0, dec0):
    ra, dec, ra0, dec0 = (np.radians(np.asarray(v, float)) for v in (ra, dec, ra0, dec0))
    cos = np.sin(dec) * np.sin(dec0) + np.cos(dec) * np.cos(dec0) * np.cos(ra - ra0)
    return np.degrees(np.arccos(np.clip(cos, -1, 1)))


# ------------------------------------------------------------------------------ reading
def test_read_keeps_all_columns_and_gti(events, raw):
    data, gti, header = raw
    assert len(events) == len(data) == 1507
    assert events.table.colnames == list(data.columns.names)
    np.testing.assert_array_equal(events.time, data["TIME"])
    np.testing.assert_array_equal(np.asarray(events.table["EVENT_CLASS"]), data["EVENT_CLASS"])
    np.testing.assert_array_equal(events.event_class, _bits(data["EVENT_CLASS"]))
    np.testing.assert_array_equal(events.event_type, _bits(data["EVENT_TYPE"]))
    np.testing.assert_array_equal(events.gti_start, gti["START"])
    np.testing.assert_array_equal(events.gti_stop, gti["STOP"])
    assert events.tstart == header["TSTART"] and events.tstop == header["TSTOP"]
    # FRONT/BACK bits agree with the conversion type
    conv = data["CONVERSION_TYPE"]
    np.testing.assert_array_equal(events.event_type & 3, np.where(conv == 0, 1, 2))


def test_gammapy_views(events, raw):
    data, gti, _ = raw
    assert isinstance(events.events, EventList)
    assert len(events.events.table) == 1507
    assert isinstance(events.gti, GTI)
    # MET -> time -> MET round trip through the file's MJDREF
    met = (events.events.time - events.time_ref).to_value("s")
    np.testing.assert_allclose(met, data["TIME"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(events.gti.met_start.to_value("s"), gti["START"], rtol=0, atol=1e-6)
    # MJDREF of Fermi MET: 2001-01-01 00:00:00 UTC = MJD 51910 + 64.184 s (TT)
    np.testing.assert_allclose(events.time_ref.mjd, 51910 + 7.428703703703703e-4, rtol=0, atol=1e-12)


def test_read_forms(ft1, tmp_path, events):
    listfile = tmp_path / "files.txt"
    listfile.write_text(f"# weekly files\n{ft1}\n\n")
    for spec in (ft1, str(ft1), [ft1], str(ft1.parent / "ft1*.fits.gz"), f"@{listfile}"):
        ev = read_events(spec)
        assert len(ev) == len(events)
        np.testing.assert_array_equal(ev.time, events.time)
    # relative names in a list file are relative to the list file
    (tmp_path / "sub").mkdir()
    events.write(tmp_path / "sub" / "a.fits")
    (tmp_path / "rel.txt").write_text("sub/a.fits\n")
    assert len(read_events(f"@{tmp_path / 'rel.txt'}")) == 1507


def test_merge_weekly_files(tmp_path, events, raw):
    data, gti, _ = raw
    cut = 239610000.0  # inside the GTI 239606874-239612590
    first = events.select_time(events.tstart, cut)
    second = events.select_time(cut, events.tstop)
    # an overlapping third file repeats some events of both: they must not be duplicated
    overlap = events.select_time(cut - 3000, cut + 3000)
    paths = []
    for name, part in (("w1.fits", first), ("w2.fits", second), ("w3.fits", overlap)):
        part.write(tmp_path / name)
        paths.append(tmp_path / name)
    merged = read_events([paths[1], paths[2], paths[0]])
    assert len(merged) == len(data)
    np.testing.assert_array_equal(merged.time, np.sort(data["TIME"]))
    np.testing.assert_array_equal(np.asarray(merged.table["EVENT_ID"]), data["EVENT_ID"][np.argsort(data["TIME"])])
    # the GTIs of the pieces merge back to the original ones (the cut falls inside a GTI)
    np.testing.assert_array_equal(merged.gti_start, gti["START"])
    np.testing.assert_array_equal(merged.gti_stop, gti["STOP"])
    assert merged.tstart == events.tstart and merged.tstop == events.tstop
    assert merged.dss == events.dss


def test_merge_rejects_different_selections(tmp_path, events):
    events.write(tmp_path / "a.fits")
    events.select(emin=1000).write(tmp_path / "b.fits")
    with pytest.raises(LATDataError, match="DSS"):
        read_events([tmp_path / "a.fits", tmp_path / "b.fits"])


# ---------------------------------------------------------------------------- selection
SELECTIONS = [
    dict(evclass=128),
    dict(evtype=1),
    dict(evtype=2),
    dict(evtype="PSF3"),
    dict(evtype=["PSF2", "PSF3"]),
    dict(evtype="EDISP0"),
    dict(evtype=60),
    dict(emin=1000, emax=5000),
    dict(ra=83.6331, dec=22.0145, rad=3),
    dict(tmin=239570000, tmax=239610000),
    dict(zmax=60),
    dict(zmin=30, zmax=70),
    dict(convtype=1),
    dict(evtype=32, emin=500, ra=80.0, dec=20.0, rad=8, zmax=80, tmin=239580000),
]


def _numpy_selection(data, gti, evclass=None, evtype=None, emin=None, emax=None, ra=None, dec=None, rad=None,
                     tmin=None, tmax=None, zmin=None, zmax=None, convtype=None):  # fmt: skip
    named = {"PSF3": 32, "PSF2": 16, "EDISP0": 64}
    if isinstance(evtype, str):
        evtype = named[evtype]
    elif isinstance(evtype, list):
        evtype = sum(named[n] for n in evtype)
    mask = np.ones(len(data), bool)
    if evclass is not None:
        mask &= (_bits(data["EVENT_CLASS"]) & evclass) != 0
    if evtype is not None:
        mask &= (_bits(data["EVENT_TYPE"]) & evtype) != 0
    energy = data["ENERGY"].astype(float)
    if emin is not None or emax is not None:
        mask &= (energy > (emin or 0)) & (energy <= (emax or np.inf))
    if rad is not None:
        mask &= _angsep(data["RA"], data["DEC"], ra, dec) < rad
    time = data["TIME"]
    if tmin is not None or tmax is not None:
        mask &= (time > (tmin or -np.inf)) & (time <= (tmax or np.inf))
    if zmin is not None or zmax is not None:
        zen = data["ZENITH_ANGLE"].astype(float)
        mask &= (zen > (zmin or 0)) & (zen <= (zmax if zmax is not None else 180))
    if convtype is not None:
        mask &= data["CONVERSION_TYPE"] == convtype
    in_gti = np.zeros(len(data), bool)
    for a, b in zip(gti["START"], gti["STOP"]):
        in_gti |= (time >= a) & (time <= b)
    return mask & in_gti


@pytest.mark.parametrize("cuts", SELECTIONS, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()))
def test_select_counts_match_numpy(events, raw, cuts):
    data, gti, _ = raw
    expected = _numpy_selection(data, gti, **cuts)
    selected = events.select(**cuts)
    assert len(selected) == expected.sum() > 0
    np.testing.assert_array_equal(np.sort(np.asarray(selected.table["EVENT_ID"])), np.sort(data["EVENT_ID"][expected]))


def test_select_updates_dss_and_gti(events):
    sel = events.select(evtype=32, emin=1000, emax=None, ra=83.6331, dec=22.0145, rad=5, tmin=239570000, tmax=239610000, zmax=80)
    dss = sel.dss
    assert dss.evclass == 128
    assert dss.evtype == 32
    # as gtselect: the new event-type selection replaces the FRONT+BACK one in place
    assert dss.cuts[1].type == "BIT_MASK(EVENT_TYPE,32,P8R2)"
    assert sum(c.kind == "bitmask" and c.column == "EVENT_TYPE" for c in dss.cuts) == 1
    # PSF3 data cannot be turned into FRONT data
    with pytest.raises(SelectionError, match="inconsistent with the existing evtype selection"):
        sel.select(evtype="FRONT")
    assert len(sel.select(evtype=32)) == len(sel)
    assert dss.energy_range == (1000.0, 20000.0)  # intersected with the 200:20000 of the file
    assert dss.cone == (83.6331, 22.0145, 5.0)  # the smaller cone replaces the 15 deg one
    assert dss.zenith_range == (0.0, 80.0)
    assert dss.time_range == (239570000.0, 239610000.0)
    assert any(c.value == "TABLE" and c.ref == ":GTI" for c in dss.cuts)
    # GTIs: the file's intervals clipped to [tmin, tmax], computed here interval by interval
    expected = [(max(a, 239570000.0), min(b, 239610000.0)) for a, b in zip(events.gti_start, events.gti_stop)]
    expected = np.array([(a, b) for a, b in expected if b > a])
    np.testing.assert_array_equal(np.c_[sel.gti_start, sel.gti_stop], expected)
    assert sel.tstart == 239570000.0 and sel.tstop == 239610000.0


def test_written_dss_read_back_identically(tmp_path, events, raw):
    _, _, header = raw
    # the reference DSS keywords of the file survive a read/write cycle card by card
    events.write(tmp_path / "copy.fits")
    with fits.open(tmp_path / "copy.fits") as hdulist:
        out = hdulist["EVENTS"].header
        for idx in range(1, header["NDSKEYS"] + 1):
            for key in ("DSTYP", "DSUNI", "DSVAL", "DSREF"):
                assert out.get(f"{key}{idx}") == header.get(f"{key}{idx}")
        assert out["NDSKEYS"] == header["NDSKEYS"]
    # a new selection is written and read back identically
    sel = events.select(evtype="PSF3", emin=300, zmax=85, ra=83.6, dec=22.0, rad=10)
    sel.write(tmp_path / "sel.fits")
    back = read_events(tmp_path / "sel.fits")
    assert back.dss == sel.dss
    assert DSSKeywords.from_header(fits.getheader(tmp_path / "sel.fits", "EVENTS")) == sel.dss


def test_write_read_roundtrip_is_lossless(tmp_path, events, raw):
    data, gti, header = raw
    path = events.write(tmp_path / "rt.fits.gz")
    with fits.open(path, checksum=True) as hdulist:
        assert [h.name for h in hdulist] == ["PRIMARY", "EVENTS", "GTI"]
        out = hdulist["EVENTS"]
        assert [c.format for c in out.columns] == [c.format for c in fits.ColDefs(data)]
        for name in data.columns.names:
            np.testing.assert_array_equal(out.data[name], data[name])
        for key in ("MJDREFI", "MJDREFF", "TIMESYS", "PASS_VER", "TSTART", "TSTOP", "TELESCOP", "INSTRUME"):
            assert out.header[key] == header[key]
        assert out.header["TUNIT1"] == "MeV" and out.header["TLMAX2"] == 360
        np.testing.assert_array_equal(hdulist["GTI"].data["START"], gti["START"])
        assert hdulist["GTI"].header["ONTIME"] == pytest.approx(np.sum(gti["STOP"] - gti["START"]))


def test_event_list_from_table_writes_bit_columns(tmp_path):
    table = Table()
    table["TIME"] = np.array([10.0, 20.0])
    table["ENERGY"] = np.array([100.0, 200.0], dtype=np.float32)
    table["RA"] = np.array([1.0, 2.0], dtype=np.float32)
    table["DEC"] = np.array([1.0, 2.0], dtype=np.float32)
    from gammapy_lat.data.ft1 import _int_to_bits

    table["EVENT_TYPE"] = _int_to_bits(np.array([1 | 4, 2 | 32]))
    ev = LATEventList(table, (np.array([0.0]), np.array([100.0])))
    ev.write(tmp_path / "mem.fits")
    with fits.open(tmp_path / "mem.fits") as hdulist:
        assert hdulist["EVENTS"].columns["EVENT_TYPE"].format == "32X"
    np.testing.assert_array_equal(read_events(tmp_path / "mem.fits").event_type, [5, 34])


# ------------------------------------------------------------------------------- errors
def test_missing_file_error(tmp_path):
    missing = tmp_path / "nope.fits"
    with pytest.raises(LATFileError, match="nope.fits does not exist"):
        read_events(missing)
    with pytest.raises(LATFileError, match="matches no file"):
        read_events(str(tmp_path / "week*.fits"))
    with pytest.raises(LATFileError, match="list file .*missing.txt does not exist"):
        read_events(f"@{tmp_path / 'missing.txt'}")
    (tmp_path / "list.txt").write_text(f"{missing}\n")
    with pytest.raises(LATFileError, match="nope.fits does not exist"):
        read_events(f"@{tmp_path / 'list.txt'}")


def test_file_without_events_extension(tmp_path):
    path = tmp_path / "noevents.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns([fits.Column("X", "E", array=[1.0])], name="FOO")]).writeto(path)
    with pytest.raises(LATFileError, match=r"noevents.fits has no EVENTS extension"):
        read_events(path)


def test_file_without_gti_extension(tmp_path, ft1):
    with fits.open(ft1) as hdulist:
        fits.HDUList([hdulist[0].copy(), hdulist["EVENTS"].copy()]).writeto(tmp_path / "nogti.fits")
    with pytest.raises(LATFileError, match="nogti.fits has no GTI extension"):
        read_events(tmp_path / "nogti.fits")


def test_not_a_fits_file(tmp_path):
    path = tmp_path / "junk.fits"
    path.write_text("not FITS")
    with pytest.raises(LATFileError, match="junk.fits"):
        read_events(path)


def test_empty_selection_error(events):
    with pytest.raises(SelectionError, match=r"ft1.fits.gz: the selection .* leaves no event"):
        events.select(ra=0.0, dec=-80.0, rad=1.0)
    with pytest.raises(SelectionError, match="does not overlap"):
        events.select(emin=30000, emax=50000)
    with pytest.raises(SelectionError, match="evtype=-1: a bit mask cannot be negative"):
        events.select(evtype=-1)
    assert len(events.select(ra=0.0, dec=-80.0, rad=1.0, allow_empty=True)) == 0


def test_cli_select_matches_numpy(tmp_path, ft1, raw):
    data, gti, _ = raw
    out = tmp_path / "sel.fits"
    result = CliRunner().invoke(
        cli,
        ["select", "--infile", str(ft1), "-o", str(out), "--ra", "83.6331", "--dec", "22.0145", "--rad", "10",
         "--emin", "500", "--emax", "10000", "--zmax", "85", "--evclass", "128", "--evtype", "PSF3", "--tmin", "INDEF"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    expected = _numpy_selection(data, gti, evclass=128, evtype=32, emin=500, emax=10000, ra=83.6331, dec=22.0145, rad=10, zmax=85)
    with fits.open(out) as hdulist:
        assert len(hdulist["EVENTS"].data) == expected.sum()
        header = hdulist["EVENTS"].header
        values = {header[f"DSTYP{i}"]: header[f"DSVAL{i}"] for i in range(1, header["NDSKEYS"] + 1)}
    assert values["ENERGY"] == "500:10000"
    assert values["POS(RA,DEC)"] == "CIRCLE(83.6331,22.0145,10)"
    assert values["ZENITH_ANGLE"] == "0:85"
    assert values["BIT_MASK(EVENT_TYPE,32,P8R2)"] == "1:1"


def test_cli_select_errors_leave_nothing(tmp_path, ft1):
    out = tmp_path / "out.fits"
    runner = CliRunner()
    result = runner.invoke(cli, ["select", "--infile", str(tmp_path / "missing.fits"), "-o", str(out)])
    assert result.exit_code == 1 and "missing.fits does not exist" in result.output
    result = runner.invoke(cli, ["select", "--infile", str(ft1), "-o", str(out), "--ra", "0", "--dec", "-80", "--rad", "1"])
    assert result.exit_code == 1 and "leaves no event" in result.output
    assert list(tmp_path.iterdir()) == []
    # an existing output is kept unless --clobber
    out.write_text("keep")
    result = runner.invoke(cli, ["select", "--infile", str(ft1), "-o", str(out), "--emin", "1000"])
    assert result.exit_code == 1 and "already exists" in result.output
    assert out.read_text() == "keep"
    result = runner.invoke(cli, ["select", "--infile", str(ft1), "-o", str(out), "--emin", "1000", "--clobber"])
    assert result.exit_code == 0
    assert len(read_events(out)) == int(np.sum(read_events(ft1).energy.value > 1000))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.fits"]


def test_interrupted_write_leaves_nothing(tmp_path, events, monkeypatch):
    """A failure while writing leaves neither a partial file nor a temporary file behind."""
    original = fits.HDUList.writeto

    def failing_writeto(self, name, *args, **kwargs):
        original(self, name, *args, **kwargs)  # the bytes are on disk under the temporary name ...
        raise OSError("disk full")  # ... when the write fails

    target = tmp_path / "out.fits"
    target_old = tmp_path / "old.fits"
    target_old.write_text("previous product")
    monkeypatch.setattr(fits.HDUList, "writeto", failing_writeto)
    with pytest.raises(OSError, match="disk full"):
        events.write(target)
    with pytest.raises(OSError, match="disk full"):
        events.write(target_old, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.fits"]
    assert target_old.read_text() == "previous product"


def test_select_while_reading_many_files(tmp_path, events, raw):
    data, gti, _ = raw
    edges = [events.tstart, 239580000.0, 239610000.0, events.tstop]
    for i, (a, b) in enumerate(zip(edges[:-1], edges[1:])):
        events.select_time(a, b).write(tmp_path / f"w{i}.fits")
    cuts = dict(evtype="PSF3", emin=300, ra=83.6331, dec=22.0145, rad=8, zmax=85)
    selected = read_events(str(tmp_path / "w*.fits"), selection=cuts)
    expected = _numpy_selection(data, gti, evtype=32, emin=300, ra=83.6331, dec=22.0145, rad=8, zmax=85)
    np.testing.assert_array_equal(selected.time, data["TIME"][expected])
    assert selected.dss == events.select(**cuts).dss
    with pytest.raises(SelectionError, match=r"w0.fits, .*w2.fits: the selection .* leaves no event out of 1507"):
        read_events(str(tmp_path / "w*.fits"), selection=dict(ra=0.0, dec=-80.0, rad=1.0))
