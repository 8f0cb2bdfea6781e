"""Counts binning against the gtbin counts cube of the one-day Crab data set."""
import numpy as np
import pytest
from astropy.io import fits
from click.testing import CliRunner
from gammapy.maps import HpxGeom, MapAxis, WcsGeom

from gammapy_lat.cli import cli
from gammapy_lat.data import (
    bin_events,
    make_counts_geom,
    read_counts_geom,
    read_events,
    write_counts_map,
)
from gammapy_lat.data.binning import axis_edges, energy_indices, radec_to_galactic


@pytest.fixture(scope="module")
def crab_events(crab_day):
    return read_events(crab_day / "ft1.fits.gz")


@pytest.fixture(scope="module")
def cntmap(crab_day):
    with fits.open(crab_day / "cntmap.fits.gz") as hdulist:
        return hdulist[0].data.copy(), hdulist["EBOUNDS"].data.copy(), hdulist[0].header.copy()


def test_bin_like_reproduces_gtbin(crab_day, crab_events, cntmap):
    geom = read_counts_geom(crab_day / "cntmap.fits.gz")
    counts = bin_events(crab_events, geom)
    ref, _, _ = cntmap
    assert counts.data.shape == ref.shape
    np.testing.assert_array_equal(counts.data, ref)


def test_bin_from_gtbin_parameters_reproduces_gtbin(crab_events, cntmap):
    ref, _, header = cntmap
    geom = make_counts_geom(
        "CCUBE", nxpix=100, nypix=100, binsz=0.2, coordsys="GAL", xref=header["CRVAL1"], yref=header["CRVAL2"],
        proj="CAR", emin=200, emax=20000, enumbins=20,
    )  # fmt: skip
    np.testing.assert_array_equal(bin_events(crab_events, geom).data, ref)


def test_written_counts_cube_matches_gtbin_layout(tmp_path, crab_events, cntmap, crab_day):
    ref, ebounds, header = cntmap
    geom = read_counts_geom(crab_day / "cntmap.fits.gz")
    path = write_counts_map(bin_events(crab_events, geom), tmp_path / "ccube.fits", events=crab_events)
    with fits.open(path) as hdulist:
        assert [h.name for h in hdulist] == ["PRIMARY", "EBOUNDS", "GTI"]
        assert hdulist[0].data.dtype.kind == "i" and hdulist[0].header["BITPIX"] == 32
        np.testing.assert_array_equal(hdulist[0].data, ref)
        for key in ("CTYPE1", "CTYPE2", "CRPIX1", "CRPIX2", "CDELT1", "CDELT2", "CRVAL1", "CRVAL2", "CTYPE3", "CRVAL3"):
            assert hdulist[0].header[key] == header[key], key
        assert hdulist["EBOUNDS"].columns["E_MIN"].unit == "keV"
        np.testing.assert_array_equal(hdulist["EBOUNDS"].data["E_MIN"], ebounds["E_MIN"])
        np.testing.assert_array_equal(hdulist["EBOUNDS"].data["E_MAX"], ebounds["E_MAX"])
        np.testing.assert_array_equal(hdulist["EBOUNDS"].data["CHANNEL"], ebounds["CHANNEL"])
        for idx in range(1, 7):
            assert hdulist[0].header[f"DSTYP{idx}"] == header[f"DSTYP{idx}"]
            assert hdulist[0].header[f"DSVAL{idx}"] == header[f"DSVAL{idx}"]
        assert len(hdulist["GTI"].data) == 15
    # the written cube serves as template again, with the same energy binning
    geom2 = read_counts_geom(path)
    np.testing.assert_array_equal(axis_edges(geom2.axes["energy"]), axis_edges(geom.axes["energy"]))


def test_galactic_rotation_reproduces_ft1_lb_columns(crab_events):
    glon, b = radec_to_galactic(crab_events.table["RA"], crab_events.table["DEC"])
    # L/B are stored as float32 by the LAT pipeline
    np.testing.assert_allclose(glon, crab_events.table["L"], atol=2e-5)
    np.testing.assert_allclose(b, crab_events.table["B"], atol=2e-5)


def test_energy_indices_log_binner():
    edges = 100 * 10 ** (np.arange(4) / 3)  # 3 bins per decade from 100 MeV
    energy = np.array([99.999, 100.0, 300.0, 999.999, 1000.0, 5000.0])
    idx = energy_indices(energy, edges)
    np.testing.assert_array_equal(idx, [-1, 0, 1, 2, -1, -1])


def test_bin_healpix_total_matches_direct_count(crab_events):
    axis = MapAxis.from_energy_bounds("200 MeV", "20 GeV", nbin=4, name="energy")
    geom = HpxGeom.create(nside=16, nest=True, frame="icrs", axes=[axis])
    counts = bin_events(crab_events, geom)
    energy = crab_events.energy.to_value("MeV")
    expected = np.histogram(energy, bins=axis.edges.to_value("MeV"))[0]
    np.testing.assert_array_equal(counts.data.sum(axis=1), expected)
    # each event lands in the HEALPix pixel healpy assigns
    import healpy as hp

    pix = hp.ang2pix(16, crab_events.table["RA"], crab_events.table["DEC"], nest=True, lonlat=True)
    np.testing.assert_array_equal(counts.data.sum(axis=0), np.bincount(pix, minlength=hp.nside2npix(16)))


def test_bin_wcs_ait_image(crab_events):
    geom = WcsGeom.create(skydir=(83.63, 22.01), width=40, binsz=0.5, frame="icrs", proj="AIT")
    counts = bin_events(crab_events, geom)
    assert counts.data.ndim == 2
    assert counts.data.sum() == len(crab_events)  # the 15 deg cone fits inside the 40 deg map


# ----------------------------------------------------------------------------------- CLI
def test_cli_bin_like_reproduces_cntmap(tmp_path, crab_day, cntmap):
    ref, ebounds, header = cntmap
    out = tmp_path / "ccube.fits"
    result = CliRunner().invoke(
        cli,
        ["bin", "--evfile", str(crab_day / "ft1.fits.gz"), "--scfile", str(crab_day / "ft2.fits.gz"),
         "--like", str(crab_day / "cntmap.fits.gz"), "-o", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    with fits.open(out) as hdulist, fits.open(crab_day / "cntmap.fits.gz") as reference:
        np.testing.assert_array_equal(hdulist[0].data, reference[0].data)
        assert hdulist[0].data.dtype.kind == "i"
        for name in ("E_MIN", "E_MAX"):
            np.testing.assert_array_equal(hdulist["EBOUNDS"].data[name], reference["EBOUNDS"].data[name])
        np.testing.assert_array_equal(hdulist["GTI"].data["START"], reference["GTI"].data["START"])
        # livetime from the FT2 file, as gtbin writes it
        np.testing.assert_allclose(hdulist["GTI"].header["EXPOSURE"], reference["GTI"].header["EXPOSURE"], rtol=1e-10)


def test_cli_bin_gtbin_parameters(tmp_path, crab_day, cntmap):
    ref, _, header = cntmap
    out = tmp_path / "ccube.fits"
    result = CliRunner().invoke(
        cli,
        ["bin", "--evfile", str(crab_day / "ft1.fits.gz"), "-o", str(out), "--algorithm", "CCUBE",
         "--nxpix", "100", "--nypix", "100", "--binsz", "0.2", "--coordsys", "GAL",
         "--xref", repr(header["CRVAL1"]), "--yref", repr(header["CRVAL2"]), "--proj", "CAR",
         "--ebinalg", "LOG", "--emin", "200", "--emax", "20000", "--enumbins", "20"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(fits.getdata(out), ref)
    # CMAP: the energy-summed image
    out2 = tmp_path / "cmap.fits"
    result = CliRunner().invoke(
        cli,
        ["bin", "--evfile", str(crab_day / "ft1.fits.gz"), "-o", str(out2), "--algorithm", "CMAP",
         "--like", str(crab_day / "cntmap.fits.gz")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    # events at or above 20 GeV are outside the cube but inside the image
    np.testing.assert_array_equal(fits.getdata(out2) >= ref.sum(axis=0), True)


def test_cli_bin_errors(tmp_path, crab_day):
    runner = CliRunner()
    out = tmp_path / "x.fits"
    result = runner.invoke(cli, ["bin", "--evfile", str(tmp_path / "missing.fits"), "-o", str(out), "--like", str(crab_day / "cntmap.fits.gz")])
    assert result.exit_code == 1 and "missing.fits does not exist" in result.output
    result = runner.invoke(cli, ["bin", "--evfile", str(crab_day / "ft1.fits.gz"), "-o", str(out), "--nxpix", "10"])
    assert result.exit_code == 1 and "needs" in result.output
    result = runner.invoke(cli, ["bin", "--evfile", str(crab_day / "ft2.fits.gz"), "-o", str(out), "--like", str(crab_day / "cntmap.fits.gz")])
    assert result.exit_code == 1 and "ft2.fits.gz has no EVENTS extension" in result.output
    assert list(tmp_path.iterdir()) == []


def test_cli_bin_healpix_and_like(tmp_path, crab_day, crab_events):
    from gammapy.maps import Map

    out = tmp_path / "hpx.fits"
    args = ["bin", "--evfile", str(crab_day / "ft1.fits.gz"), "-o", str(out), "--algorithm", "HEALPIX", "--hpx_order", "5",
            "--hpx_ordering_scheme", "NESTED", "--coordsys", "CEL", "--emin", "200", "--emax", "20000", "--enumbins", "4"]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    counts = Map.read(out)
    import healpy as hp

    energy = crab_events.energy.to_value("MeV")
    pix = hp.ang2pix(32, crab_events.table["RA"], crab_events.table["DEC"], nest=True, lonlat=True)
    inside = (energy >= 200) & (energy < 20000)
    np.testing.assert_array_equal(counts.data.sum(axis=0), np.bincount(pix[inside], minlength=hp.nside2npix(32)))
    with fits.open(out) as hdulist:
        assert {"SKYMAP", "EBOUNDS", "GTI"} <= {h.name for h in hdulist}
        assert hdulist["SKYMAP"].header["NDSKEYS"] == 6
    # the HEALPix cube serves as --like template
    out2 = tmp_path / "hpx2.fits"
    result = CliRunner().invoke(cli, ["bin", "--evfile", str(crab_day / "ft1.fits.gz"), "-o", str(out2), "--like", str(out)])
    assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(Map.read(out2).data, counts.data)


@pytest.mark.parametrize("proj", ["TAN", "AIT", "ZEA"])
def test_bin_cel_projections_match_wcslib_pixels(crab_events, proj):
    """Counts in CEL geometries equal a histogram of astropy WCS pixel coordinates."""
    geom = make_counts_geom("CCUBE", nxpix=60, nypix=50, binsz=0.3, coordsys="CEL", xref=83.63, yref=22.01,
                            proj=proj, emin=200, emax=20000, enumbins=5)  # fmt: skip
    counts = bin_events(crab_events, geom)
    ra, dec = np.asarray(crab_events.table["RA"], float), np.asarray(crab_events.table["DEC"], float)
    x, y = geom.wcs.celestial.wcs_world2pix(ra, dec, 0)
    ix, iy = np.floor(x + 0.5).astype(int), np.floor(y + 0.5).astype(int)
    energy = crab_events.energy.to_value("MeV")
    edges = 200 * 100 ** (np.arange(6) / 5)
    ie = np.searchsorted(edges, energy, side="right") - 1
    ok = (ix >= 0) & (ix < 60) & (iy >= 0) & (iy < 50) & (ie >= 0) & (ie < 5)
    expected = np.zeros((5, 50, 60), int)
    np.add.at(expected, (ie[ok], iy[ok], ix[ok]), 1)
    np.testing.assert_array_equal(counts.data, expected)
    assert geom.wcs.wcs.ctype[0] == f"RA---{proj}" and tuple(geom.wcs.wcs.crpix) == (30.5, 25.5)


def test_bin_gammapy_event_list_input(crab_day, crab_events, cntmap):
    """A Gammapy EventList (ENERGY as a quantity, here converted to TeV) bins identically."""
    geom = read_counts_geom(crab_day / "cntmap.fits.gz")
    events = crab_events.events.copy()
    events.table["ENERGY"] = events.table["ENERGY"].to("TeV")
    np.testing.assert_array_equal(bin_events(events, geom).data, cntmap[0])
