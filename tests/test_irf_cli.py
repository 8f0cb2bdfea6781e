"""``gammapy-lat expcube``, ``psf`` and ``drm`` against the Fermitools products of the data kit."""
import astropy.units as u
import numpy as np
import pytest
from astropy.io import fits
from click.testing import CliRunner
from gammapy.irf import EDispKernelMap, PSFMap
from gammapy.maps import Map

from gammapy_lat.cli import cli


@pytest.fixture(scope="module")
def common(crab_day, caldb_path):
    return [
        "--ltcube", str(crab_day / "ltcube.fits.gz"),
        "--irf_name", "P8R2_SOURCE_V6",
        "--evtype", "3",
        "--caldb", str(caldb_path),
    ]


def run(args):
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    return result


def test_expcube_matches_gtexpcube2(common, crab_day, tmp_path):
    """The parameters recorded in binned_expmap.fits.gz reproduce it plane by plane."""
    out = tmp_path / "expcube.fits"
    geometry = [
        "--nxpix", "40", "--nypix", "40", "--binsz", "0.5", "--coordsys", "GAL",
        "--xref", "184.5575", "--yref", "-5.7844", "--proj", "CAR",
        "--emin", "200", "--emax", "20000", "--enumbins", "20",
    ]
    result = run(["expcube", *common, *geometry, "-o", str(out)])
    assert result.exit_code == 0, result.output
    with fits.open(out) as ours, fits.open(crab_day / "binned_expmap.fits.gz") as ref:
        assert ours[0].data.shape == ref[0].data.shape == (21, 40, 40)
        rel = ours[0].data / ref[0].data - 1
        assert np.max(np.abs(rel)) < 5e-3
        for key in ("CTYPE1", "CTYPE2", "CTYPE3", "CRPIX1", "CRPIX2", "CDELT1", "CDELT2"):
            assert ours[0].header[key] == ref[0].header[key], key
        for key in ("CRVAL1", "CRVAL2", "CRVAL3", "CDELT3", "TSTART", "TSTOP"):
            np.testing.assert_allclose(ours[0].header[key], ref[0].header[key], rtol=1e-12)
        np.testing.assert_allclose(ours["ENERGIES"].data["Energy"], ref["ENERGIES"].data["Energy"], rtol=1e-12)
        np.testing.assert_allclose(ours["GTI"].data["START"], ref["GTI"].data["START"], rtol=0, atol=1e-6)
    # existing output needs --clobber
    result = CliRunner().invoke(cli, ["expcube", *common, *geometry, "-o", str(out)])
    assert result.exit_code != 0 and "clobber" in result.output
    # Gammapy reads it as a map with a true-energy node axis
    exposure = Map.read(out)
    assert exposure.geom.axes["energy_true"].nbin == 21


def test_expcube_like_counts_cube(common, crab_day, tmp_path):
    out = tmp_path / "expcube_like.fits"
    result = run(["expcube", *common, "--like", str(crab_day / "cntmap.fits.gz"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    counts = Map.read(crab_day / "cntmap.fits.gz")
    exposure = Map.read(out)
    assert exposure.geom.to_image() == counts.geom.to_image()
    np.testing.assert_allclose(
        exposure.geom.axes["energy_true"].center.to_value("MeV"), counts.geom.axes["energy"].edges.to_value("MeV")
    )
    result = run(["expcube", *common, "--like", str(crab_day / "cntmap.fits.gz"), "--bincalc", "CENTER", "-o", str(out), "--clobber"])
    assert result.exit_code == 0
    assert Map.read(out).geom.axes["energy_true"].nbin == 20


def test_expcube_errors(crab_day, caldb_path, tmp_path):
    args = ["expcube", "--ltcube", str(crab_day / "ltcube.fits.gz"), "--caldb", str(caldb_path)]
    result = CliRunner().invoke(cli, [*args, "--irfs", "P8R2_SOURCE_V99", "--like", str(crab_day / "cntmap.fits.gz"), "-o", str(tmp_path / "x.fits")])
    assert result.exit_code == 1
    assert "P8R2_SOURCE_V99" in result.output and "P8R2_SOURCE_V6" in result.output
    result = CliRunner().invoke(cli, [*args, "--irf", "P8R2_SOURCE_V6", "--evtype", "FRONT+PSF1", "--like", str(crab_day / "cntmap.fits.gz"), "-o", str(tmp_path / "x.fits")])
    assert result.exit_code == 1 and "partitions" in result.output
    result = CliRunner().invoke(cli, [*args, "--irf", "P8R2_SOURCE_V6", "-o", str(tmp_path / "x.fits")])
    assert result.exit_code != 0 and "--like" in result.output
    assert not (tmp_path / "x.fits").exists()


def test_psf_command_gtpsf_format(common, tmp_path):
    out = tmp_path / "psf.fits"
    result = run(["psf", *common, "--ra", "83.633", "--dec", "22.014", "--emin", "100", "--emax", "1e5", "--nenergies", "13", "-o", str(out)])
    assert result.exit_code == 0, result.output
    psf = PSFMap.read(out, format="gtpsf")
    assert psf.psf_map.geom.axes["energy_true"].nbin == 13
    assert psf.psf_map.geom.axes["rad"].nbin == 300
    r68 = psf.containment_radius(0.68, [1, 10] * u.GeV).to_value("deg")
    assert 0.5 < r68[0] < 1.1 and 0.08 < r68[1] < 0.3
    with fits.open(out) as hdulist:
        theta = hdulist["THETA"].data["Theta"]
        np.testing.assert_allclose(theta[1], 30 / 300**2)  # gtpsf's quadratic spacing


def test_drm_command_gtdrm_format(common, crab_day, tmp_path):
    out = tmp_path / "drm.fits"
    result = run(["drm", *common, "--ra", "83.633", "--dec", "22.014", "--like", str(crab_day / "cntmap.fits.gz"), "--edisp-bins", "2", "-o", str(out)])
    assert result.exit_code == 0, result.output
    edisp = EDispKernelMap.read(out, format="gtdrm")
    kernel = edisp.get_edisp_kernel()
    assert kernel.pdf_matrix.shape == (24, 20)
    # true energies inside the reconstructed range keep (almost) all their probability
    np.testing.assert_allclose(kernel.pdf_matrix.sum(axis=1)[6:-6], 1, atol=5e-3)


def test_expcube_healpix_counts_cube(common, tmp_path):
    """A HEALPix counts cube gives a HEALPix exposure cube (HPXEXPOSURES, ENERGIES, GTI)."""
    from gammapy.maps import HpxGeom, MapAxis

    axis = MapAxis.from_energy_bounds(200 * u.MeV, 20 * u.GeV, 4, name="energy")
    geom = HpxGeom.create(nside=32, frame="galactic", nest=False, region="DISK(184.5,-5.8,5)", axes=[axis])
    ccube = tmp_path / "ccube_hpx.fits"
    Map.from_geom(geom).write(ccube, format="fgst-ccube")
    out = tmp_path / "expcube_hpx.fits"
    result = run(["expcube", *common, "--like", str(ccube), "-o", str(out)])
    assert result.exit_code == 0, result.output
    with fits.open(out) as hdulist:
        assert {"HPXEXPOSURES", "ENERGIES", "GTI"} <= {hdu.name for hdu in hdulist}
    exposure = Map.read(out)
    assert exposure.geom.nside == 32 and exposure.geom.axes["energy_true"].nbin == 5
    assert np.all(exposure.data > 1e7)
