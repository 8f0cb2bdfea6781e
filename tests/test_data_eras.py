"""LAT files of every era: time reference keywords, event classes and types per pass, INDEF.

References: the FITS headers and columns of the kit's files read with astropy, and the
conventions of the Fermitools' dataSubselector (Pass 6 class ranges, Pass 7 bit indices, Pass 8
bit masks).
"""
import logging

import astropy.units as u
import numpy as np
import pytest
from astropy.io import fits
from astropy.time import Time
from click.testing import CliRunner

from gammapy_lat.cli import cli
from gammapy_lat.data import read_events
from gammapy_lat.data.gti import header_float, normalize_time_keywords, time_ref_from_header
from gammapy_lat.data.passes import default_irf_name, event_class_convention, irf_mismatch
from gammapy_lat.errors import LATFileError, SelectionError
from gammapy_lat.observations import LATObservation

#: The Fermi MET reference, 2001-01-01 00:00:00 UTC = MJD 51910 + 64.184 s (TT)
FERMI_EPOCH = Time("2001-01-01T00:00:00", scale="utc")


def test_time_reference_keywords():
    header = fits.Header()
    header["MJDREFI"] = 51910.0
    header["MJDREFF"] = "7.428703703703703D-4"
    header["TIMESYS"] = "TT"
    assert header_float(header, "MJDREFF") == 7.428703703703703e-4
    ref = time_ref_from_header(header)
    assert abs((ref - FERMI_EPOCH).to_value("s")) < 1e-6
    # a single MJDREF, a valueless MJDREF (as gtsrcmaps writes it), a TIMESYS that is no scale
    single = fits.Header({"MJDREF": 51910.00074287037, "TIMESYS": "TT"})
    assert abs((time_ref_from_header(single) - FERMI_EPOCH).to_value("s")) < 1e-5
    empty = fits.Header()
    empty.append(fits.Card("MJDREF", fits.card.UNDEFINED))
    empty["TIMESYS"] = "MJD"
    assert abs((time_ref_from_header(empty) - FERMI_EPOCH).to_value("s")) < 1e-6
    normalized = normalize_time_keywords(header)
    assert normalized["MJDREFF"] == 7.428703703703703e-4 and normalized["MJDREFI"] == 51910
    with pytest.raises(LATFileError, match="MJDREFF"):
        time_ref_from_header(fits.Header({"MJDREFI": 51910, "MJDREFF": "soon"}), source="x.fits")


def test_pass6_files_read_with_their_time_reference(p6_week):
    with fits.open(p6_week / "ft1.fits.gz") as hdulist:
        assert hdulist["EVENTS"].header["MJDREFF"] == "7.428703703703703D-4"
        tstart = hdulist["EVENTS"].header["TSTART"]
    obs = LATObservation.read(p6_week / "ft1.fits.gz", p6_week / "ft2.fits.gz")
    assert abs((obs.lat_events.time_ref - FERMI_EPOCH).to_value("s")) < 1e-6
    met = fits.getdata(p6_week / "ft1.fits.gz", "EVENTS")["TIME"][0]
    assert abs((obs.events.time[0] - (FERMI_EPOCH + met * u.s)).to_value("s")) < 1e-6
    assert obs.lat_events.tstart == tstart
    assert abs((obs.spacecraft.time_ref - FERMI_EPOCH).to_value("s")) < 1e-6


def test_pass6_event_classes(p6_week):
    events = read_events(p6_week / "ft1.fits.gz")
    raw = fits.getdata(p6_week / "ft1.fits.gz", "EVENTS")
    assert events.pass_convention == "P6"
    assert events.evclass == 3  # DSS EVENT_CLASS = 3:4
    # DATACLEAN (class 4) out of DIFFUSE data: a class range, hierarchical
    clean = events.select(evclass="DATACLEAN")
    assert len(clean) == np.sum(raw["EVENT_CLASS"] >= 4) == 2150
    assert clean.dss.event_class_range == (4.0, 4.0)
    assert len(events.select(evclass=3)) == len(raw)
    assert len(events.select(evclass=(3, 3))) == np.sum(raw["EVENT_CLASS"] == 3)
    # event types are conversion types
    front = events.select(evtype="FRONT")
    assert len(front) == np.sum(raw["CONVERSION_TYPE"] == 0)
    assert front.dss.conversion_type_range == (0.0, 0.0)
    assert LATObservation(front).evtype == 1
    with pytest.raises(SelectionError, match="FRONT"):
        events.select(evtype="PSF3")
    with pytest.raises(SelectionError, match="selects no Pass 6 class"):
        events.select(evclass=128)  # a Pass 8 mask on Pass 6 data
    with pytest.raises(SelectionError, match="different conversion"):
        events.select(evtype="FRONT", convtype=1)
    assert LATObservation(events).irf_name == "P6_V3_DIFFUSE"
    assert LATObservation(clean).irf_name == "P6_V3_DATACLEAN"


@pytest.fixture(scope="module")
def pass7_file(p6_week, tmp_path_factory):
    """The Pass 6 events rewritten as Pass 7 reprocessed data: EVENT_CLASS bit n = class n."""
    path = tmp_path_factory.mktemp("p7") / "p7_ft1.fits"
    rng = np.random.default_rng(7)
    with fits.open(p6_week / "ft1.fits.gz") as hdulist:
        n = len(hdulist["EVENTS"].data)
        # nested classes: TRANSIENT (bit 0) > SOURCE (2) > CLEAN (3) > ULTRACLEAN (4)
        level = rng.choice([0, 2, 3, 4], size=n, p=[0.3, 0.3, 0.2, 0.2])
        bits = np.zeros(n, dtype=np.int32)
        for bit in (0, 2, 3, 4):
            bits |= np.where(level >= bit, 1 << bit, 0).astype(np.int32)
        bits |= np.where(rng.random(n) < 0.5, 2, 0).astype(np.int32)  # an unrelated bit 1
        hdulist["EVENTS"].data["EVENT_CLASS"] = bits
        header = hdulist["EVENTS"].header
        header["PASS_VER"] = "P7REP"
        for key in ("DSTYP4", "DSUNI4", "DSVAL4"):
            del header[key]
        header["DSTYP4"] = "BIT_MASK(EVENT_CLASS,0)"
        header["DSUNI4"] = "DIMENSIONLESS"
        header["DSVAL4"] = "1:1"
        hdulist.writeto(path)
    return path


def test_pass7_event_classes_are_bit_indices(pass7_file):
    events = read_events(pass7_file)
    bits = fits.getdata(pass7_file, "EVENTS")["EVENT_CLASS"].astype(np.int64)
    assert events.pass_convention == "P7"
    source = events.select(evclass=2)
    assert len(source) == np.sum((bits >> 2) & 1) != np.sum(bits & 2)
    assert source.dss.evclass == 2
    assert any(c.type == "BIT_MASK(EVENT_CLASS,2,P7REP)" for c in source.dss)
    assert len(events.select(evclass="CLEAN")) == np.sum((bits >> 3) & 1)
    assert LATObservation(source).irf_name == "P7REP_SOURCE_V15"
    assert len(source.select(evtype=2)) == np.sum(((bits >> 2) & 1) & (fits.getdata(pass7_file, "EVENTS")["CONVERSION_TYPE"] == 1))
    # written and read back: the DSS keeps the bit index
    out = pass7_file.with_name("p7_source.fits")
    source.write(out)
    assert read_events(out).evclass == 2


def test_pass_conventions_from_dss_alone():
    from gammapy_lat.data import DSSKeywords

    p7 = DSSKeywords()
    p7.add_bitmask("EVENT_CLASS", 2, None)
    assert p7.cuts[0].type == "BIT_MASK(EVENT_CLASS,2)"
    assert event_class_convention(None, p7) == "P7"
    p6 = DSSKeywords()
    p6.add_range("EVENT_CLASS", "dimensionless", 3, 4)
    assert event_class_convention(None, p6) == "P6"
    assert event_class_convention("NONE") == "P6" and event_class_convention("P8R3") == "P8"
    assert default_irf_name("P7V6", 2) == "P7SOURCE_V6"
    assert default_irf_name("P8R3", 128) == "P8R3_SOURCE_V3"
    assert irf_mismatch("P8R3_SOURCE_V3", "P8R3", 128) is None
    assert "P6" in irf_mismatch("P8R2_SOURCE_V6", "NONE", 3)
    assert "event class" in irf_mismatch("P7REP_CLEAN_V15", "P7REP", 2)


def test_irf_of_another_pass_is_a_warning(p6_week, caplog):
    from gammapy_lat.makers import LATMapDatasetMaker

    obs = LATObservation.read(p6_week / "ft1.fits.gz")
    with caplog.at_level(logging.WARNING):
        assert LATMapDatasetMaker(irf_name="P8R2_SOURCE_V6").observation_for(obs).irf_name == "P8R2_SOURCE_V6"
    assert "P8 IRF but the events are P6 data" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        LATMapDatasetMaker().observation_for(obs)
    assert caplog.text == ""


def test_indef_is_no_cut(crab_day, p6_week, tmp_path):
    """``--evclass INDEF --evtype INDEF`` merges weekly files without any cut (all passes)."""
    for path in (crab_day / "ft1.fits.gz", p6_week / "ft1.fits.gz"):
        events = read_events(path)
        same = events.select(evclass="INDEF", evtype="INDEF")
        assert len(same) == len(events) and same.dss == events.dss
    # two "weekly" files from the P6 week, merged by the CLI
    events = read_events(p6_week / "ft1.fits.gz")
    middle = 0.5 * (events.tstart + events.tstop)
    events.select_time(events.tstart, middle, right_open=True).write(tmp_path / "w1.fits")
    events.select_time(middle, events.tstop).write(tmp_path / "w2.fits")
    (tmp_path / "weeks.txt").write_text("w1.fits\nw2.fits\n")
    out = tmp_path / "merged.fits"
    result = CliRunner().invoke(
        cli, ["select", "--infile", f"@{tmp_path / 'weeks.txt'}", "-o", str(out), "--evclass", "INDEF", "--evtype", "INDEF"]
    )
    assert result.exit_code == 0, result.output
    merged = read_events(out)
    assert len(merged) == len(events)
    np.testing.assert_array_equal(np.sort(merged.time), np.sort(events.time))
    np.testing.assert_array_equal(merged.gti_start, events.gti_start)
