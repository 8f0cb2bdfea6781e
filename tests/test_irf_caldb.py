"""CALDB look-up through caldb.indx and event-type selections."""
import gzip
import shutil

import astropy.units as u
import numpy as np
import pytest
from astropy.io import fits

from gammapy_lat.errors import CALDBError, GammapyLATError
from gammapy_lat.irf import CALDB, LATIRFs, parse_event_types


@pytest.fixture(scope="module")
def caldb(caldb_path):
    return CALDB(caldb_path)


def test_parse_event_types():
    assert parse_event_types(3) == ["FRONT", "BACK"]
    assert parse_event_types("3") == ["FRONT", "BACK"]
    assert parse_event_types(60) == ["PSF0", "PSF1", "PSF2", "PSF3"]
    assert parse_event_types(960) == ["EDISP0", "EDISP1", "EDISP2", "EDISP3"]
    assert parse_event_types("psf3") == ["PSF3"]
    assert parse_event_types("PSF2+PSF3") == ["PSF2", "PSF3"]
    assert parse_event_types(["FRONT", 2]) == ["FRONT", "BACK"]
    assert parse_event_types("FB") == ["FRONT", "BACK"]
    for bad in (0, 1024, "SIDE", 5, "FRONT+PSF0", []):
        with pytest.raises(CALDBError):
            parse_event_types(bad)
    assert issubclass(CALDBError, GammapyLATError)


def test_caldb_index(caldb):
    # the kit holds the index gzipped; the IRF names are the VERSION of the index entries
    assert caldb.index_file.name == "caldb.indx.gz"
    names = caldb.irf_names
    for name in ("P8R2_SOURCE_V6", "P8R3_SOURCE_V2", "P7REP_SOURCE_V15", "P7SOURCE_V6", "P6_V3_DIFFUSE"):
        assert name in names
    assert caldb.event_types("P8R2_SOURCE_V6") == [
        "FRONT", "BACK", "PSF0", "PSF1", "PSF2", "PSF3", "EDISP0", "EDISP1", "EDISP2", "EDISP3",
    ]
    assert caldb.event_types("P7REP_SOURCE_V15") == ["FRONT", "BACK"]
    # Pass 8 layout: one file, one HDU set per type
    path_f, ext_f = caldb.hdu_location("P8R2_SOURCE_V6", "FRONT", "EFF_AREA")
    path_b, ext_b = caldb.hdu_location("P8R2_SOURCE_V6", "BACK", "EFF_AREA")
    assert path_f == path_b and path_f.name.startswith("aeff_P8R2_SOURCE_V6_FB")
    with fits.open(path_f) as hdulist:
        assert hdulist[ext_f].name == "EFFECTIVE AREA_FRONT"
        assert hdulist[ext_b].name == "EFFECTIVE AREA_BACK"
    path, ext = caldb.hdu_location("P8R2_SOURCE_V6", "PSF3", "RPSF")
    with fits.open(path) as hdulist:
        assert hdulist[ext].name == "RPSF_PSF3"
    # Pass 7 layout: one file per conversion type
    path_f, _ = caldb.hdu_location("P7REP_SOURCE_V15", "FRONT", "EFF_AREA")
    path_b, _ = caldb.hdu_location("P7REP_SOURCE_V15", "BACK", "EFF_AREA")
    assert path_f != path_b
    assert "front" in path_f.name and "back" in path_b.name


def test_caldb_aliases_and_case(caldb):
    # CLASS-based names and other cases resolve to the same IRF
    assert caldb.resolve_name("p8r2_source_v6") == "P8R2_SOURCE_V6"
    assert caldb.resolve_name("P8R3_SOURCE") == "P8R3_SOURCE_V2"
    assert caldb.resolve_name("P6_v3_diff") == "P6_V3_DIFFUSE"


def test_caldb_errors(caldb, tmp_path):
    with pytest.raises(CALDBError, match="P8R2_SOURCE_V6") as exc:
        LATIRFs.from_caldb("P8R3_SOURCE_V99", 3, caldb=caldb)
    assert "P7REP_SOURCE_V15" in str(exc.value)
    with pytest.raises(CALDBError, match="available: FRONT, BACK"):
        LATIRFs.from_caldb("P7REP_SOURCE_V15", "PSF0", caldb=caldb)
    with pytest.raises(CALDBError, match="No LAT CALDB index"):
        CALDB(tmp_path)


def test_caldb_from_env_and_plain_index(caldb_path, tmp_path, monkeypatch):
    # $CALDB
    monkeypatch.setenv("CALDB", str(caldb_path))
    assert "P8R2_SOURCE_V6" in CALDB().irf_names
    monkeypatch.delenv("CALDB")
    with pytest.raises(CALDBError, match="CALDB"):
        CALDB()
    # a real installation has the index uncompressed next to bcf/
    lat = tmp_path / "data" / "glast" / "lat"
    lat.mkdir(parents=True)
    with gzip.open(caldb_path / "data" / "glast" / "lat" / "caldb.indx.gz", "rb") as src:
        with open(lat / "caldb.indx", "wb") as dst:
            shutil.copyfileobj(src, dst)
    (lat / "bcf").symlink_to(caldb_path / "data" / "glast" / "lat" / "bcf")
    plain = CALDB(tmp_path)
    assert plain.index_file.name == "caldb.indx"
    assert plain.irf_names == CALDB(caldb_path).irf_names
    irfs = LATIRFs.from_caldb("P8R2_SOURCE_V6", "PSF3", caldb=plain, psf=False, edisp=False)
    assert irfs.event_types == ["PSF3"] and irfs.evtype == 32


def test_irfs_from_caldb(caldb):
    irfs = LATIRFs.from_caldb("P8R2_SOURCE_V6", 60, caldb=caldb)
    assert irfs.event_types == ["PSF0", "PSF1", "PSF2", "PSF3"]
    assert irfs.evtype == 60
    assert irfs["PSF2"].psf is not None and irfs["PSF2"].edisp is not None
    # Pass 6 PSF parametrisation: its own class, picked from the table columns
    p6 = LATIRFs.from_caldb("P6_V3_DIFFUSE", 3, caldb=caldb, edisp=False)
    assert [type(c.psf).__name__ for c in p6] == ["LATPass6PSF", "LATPass6PSF"]
    assert [c.psf.is_front for c in p6] == [True, False]
    assert np.all(p6[0].aeff.evaluate([1e3, 1e4] * u.MeV, 1.0).value > 0)
