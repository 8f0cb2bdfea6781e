"""DSS keywords: parsing, editing and writing (reference: the keywords gtselect wrote in the Crab FT1)."""
import pytest
from astropy.io import fits

from gammapy_lat.data import DSSKeywords
from gammapy_lat.errors import LATDataError


@pytest.fixture(scope="module")
def header(crab_day):
    return fits.getheader(crab_day / "ft1.fits.gz", "EVENTS")


def test_parse_crab_header(header):
    dss = DSSKeywords.from_header(header)
    assert len(dss) == header["NDSKEYS"] == 6
    assert dss.evclass == 128 and dss.evtype == 3 and dss.pass_ver == "P8R2"
    assert dss.energy_range == (200.0, 20000.0)
    assert dss.zenith_range == (0.0, 90.0)
    assert dss.cone == (83.6331, 22.0145, 15.0)
    assert dss.time_range is None
    gti = [c for c in dss if c.kind == "gti"]
    assert len(gti) == 1 and gti[0].ref == ":GTI" and gti[0].unit == "s"


def test_header_roundtrip_is_identical(header):
    dss = DSSKeywords.from_header(header)
    out = dss.to_header(fits.Header())
    for key in [k for k in header if k.startswith(("DSTYP", "DSUNI", "DSVAL", "DSREF"))] + ["NDSKEYS"]:
        assert out[key] == header[key], key
    assert DSSKeywords.from_header(out) == dss


def test_to_header_replaces_old_keywords(header):
    target = header.copy()
    dss = DSSKeywords()
    dss.add_range("ENERGY", "MeV", 100, 1000)
    dss.to_header(target)
    assert target["NDSKEYS"] == 1 and target["DSVAL1"] == "100:1000" and "DSTYP2" not in target


def test_edit_rules(header):
    dss = DSSKeywords.from_header(header)
    dss.add_range("ENERGY", "MeV", 100, 1000)  # intersected with 200:20000
    assert dss.energy_range == (200.0, 1000.0)
    dss.add_range("TIME", "s", 239557417.5, None)
    assert dss.time_range == (239557417.5, float("inf"))
    assert [c for c in dss if c.column == "TIME" and c.kind == "range"][0].value == "239557417.5:"
    dss.add_cone(83.6331, 22.0145, 5)  # inside the 15 deg cone: replaces it
    assert dss.cone == (83.6331, 22.0145, 5.0) and sum(c.kind == "cone" for c in dss) == 1
    dss.add_cone(83.6331, 22.0145, 20)  # contains the current cone: no change
    assert dss.cone == (83.6331, 22.0145, 5.0)
    dss.add_bitmask("EVENT_CLASS", 128, "P8R2")  # already there
    assert sum(c.kind == "bitmask" for c in dss) == 2
    with pytest.raises(LATDataError, match="empty"):
        dss.add_range("ENERGY", "MeV", 5000, 10000)


def test_evtype_replacement_rules(header):
    dss = DSSKeywords.from_header(header)  # evtype=3 from the data server
    dss.add_bitmask("EVENT_TYPE", 32, "P8R2")  # PSF3 out of FRONT+BACK data: replaces it
    assert dss.evtype == 32 and dss.cuts[1].type == "BIT_MASK(EVENT_TYPE,32,P8R2)" and len(dss) == 6
    dss.add_bitmask("EVENT_TYPE", 32, "P8R2")
    assert len(dss) == 6
    with pytest.raises(LATDataError, match="inconsistent"):
        dss.add_bitmask("EVENT_TYPE", 1, "P8R2")
    with pytest.raises(LATDataError, match="inconsistent"):
        dss.add_bitmask("EVENT_TYPE", 48, "P8R2")


def test_effective_evtype_of_a_header_with_two_cuts():
    # files written by other tools may carry several EVENT_TYPE cuts
    header = fits.Header()
    for idx, mask in enumerate((3, 16), start=1):
        header[f"DSTYP{idx}"] = f"BIT_MASK(EVENT_TYPE,{mask},P8R3)"
        header[f"DSUNI{idx}"] = "DIMENSIONLESS"
        header[f"DSVAL{idx}"] = "1:1"
    assert DSSKeywords.from_header(header).evtype == 16
