"""Livetime cube container: reading the Fermitools format, look-up, FITS round trip."""
import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits

from gammapy_lat.errors import LATFileError, LivetimeCubeError
from gammapy_lat.livetime import LivetimeCube, costheta_edges


@pytest.fixture(scope="module")
def ref_path(crab_day):
    return crab_day / "ltcube.fits.gz"


@pytest.fixture(scope="module")
def ref_hdus(ref_path):
    with fits.open(ref_path) as hdus:
        return {
            "exposure": np.array(hdus["EXPOSURE"].data["COSBINS"], float),
            "weighted": np.array(hdus["WEIGHTED_EXPOSURE"].data["COSBINS"], float),
            "ra": np.array(hdus["EXPOSURE"].data["RA"], float),
            "dec": np.array(hdus["EXPOSURE"].data["DEC"], float),
            "ctmin": np.array(hdus["CTHETABOUNDS"].data["CTHETA_MIN"], float),
            "ctmax": np.array(hdus["CTHETABOUNDS"].data["CTHETA_MAX"], float),
            "gti_start": np.array(hdus["GTI"].data["START"], float),
        }


def test_costheta_edges_sqrt_and_linear():
    edges = costheta_edges(20, "sqrt")
    # sqrt(1 - cos) uniform: 1 - (i / n)^2
    assert edges[0] == 1 and edges[-1] == 0
    assert np.allclose(np.sqrt(1 - edges), np.linspace(0, 1, 21), atol=1e-15)
    assert np.allclose(costheta_edges(4, "linear"), [1, 0.75, 0.5, 0.25, 0])
    with pytest.raises(LivetimeCubeError):
        costheta_edges(10, "log")


def test_read_fermitools_ltcube(ref_path, ref_hdus):
    cube = LivetimeCube.read(ref_path)
    assert cube.nside == 16 and cube.nest and cube.frame == "icrs" and cube.binning == "sqrt"
    assert cube.livetime.unit == u.s and cube.livetime.shape == (3072, 20)
    assert_allclose = np.testing.assert_allclose
    assert_allclose(cube.livetime.to_value("s"), ref_hdus["exposure"])
    assert_allclose(cube.weighted_livetime.to_value("s"), ref_hdus["weighted"])
    assert_allclose(cube.costheta_edges[1:], ref_hdus["ctmin"], atol=1e-7)
    assert_allclose(cube.costheta_edges[:-1], ref_hdus["ctmax"], atol=1e-7)
    assert_allclose(cube.gti.met_start.to_value("s"), ref_hdus["gti_start"], rtol=0, atol=1e-6)
    assert cube.zmax is None


def test_lookup_at_file_pixel_centres(ref_path, ref_hdus):
    """The RA/DEC columns of the file give the pixel centres: look-up there returns that row."""
    cube = LivetimeCube.read(ref_path)
    rows = np.arange(0, 3072, 7)
    coords = SkyCoord(ref_hdus["ra"][rows], ref_hdus["dec"][rows], unit="deg")
    live, wlive = cube.get_livetime(coords)
    np.testing.assert_allclose(live.to_value("s"), ref_hdus["exposure"][rows])
    np.testing.assert_allclose(wlive.to_value("s"), ref_hdus["weighted"][rows])
    # bilinear interpolation reproduces the value at a pixel centre
    live_bl, _ = cube.get_livetime(coords, interp="bilinear")
    np.testing.assert_allclose(live_bl.to_value("s"), ref_hdus["exposure"][rows], rtol=1e-4, atol=1e-2)
    # same positions given in Galactic coordinates
    live_gal, _ = cube.get_livetime(coords.galactic)
    np.testing.assert_allclose(live_gal.to_value("s"), ref_hdus["exposure"][rows])


def test_lookup_bilinear_between_centres(ref_path, ref_hdus):
    """Half-way between two neighbouring pixel centres on one ring, bilinear gives their mean."""
    cube = LivetimeCube.read(ref_path)
    import healpy as hp

    ring_pix = hp.nest2ring(16, np.arange(3072))
    # two adjacent pixels on an equatorial ring (RING indices i, i+1)
    ipix_ring = 2 * 16 * 16 + 16 * 4 * 8 + 10
    nest_pix = np.argsort(ring_pix)[[ipix_ring, ipix_ring + 1]]
    ra = ref_hdus["ra"][nest_pix]
    dec = ref_hdus["dec"][nest_pix]
    assert dec[0] == dec[1]
    mid = SkyCoord(ra.mean(), dec[0], unit="deg")
    live, _ = cube.get_livetime(mid, interp="bilinear")
    np.testing.assert_allclose(live.to_value("s"), ref_hdus["exposure"][nest_pix].mean(axis=0), rtol=1e-5)


def test_roundtrip_fits(ref_path, tmp_path):
    cube = LivetimeCube.read(ref_path)
    out = tmp_path / "lt.fits.gz"
    cube.write(out)
    with pytest.raises(FileExistsError):
        cube.write(out)
    back = LivetimeCube.read(out)
    np.testing.assert_array_equal(back.livetime, cube.livetime)
    np.testing.assert_array_equal(back.weighted_livetime, cube.weighted_livetime)
    np.testing.assert_array_equal(back.costheta_edges, cube.costheta_edges)
    np.testing.assert_allclose(back.gti.met_stop.to_value("s"), cube.gti.met_stop.to_value("s"), atol=1e-6, rtol=0)
    with fits.open(out) as hdus, fits.open(ref_path) as ref:
        for ext in ("EXPOSURE", "WEIGHTED_EXPOSURE"):
            for key in ("PIXTYPE", "ORDERING", "COORDSYS", "NSIDE", "FIRSTPIX", "LASTPIX", "THETABIN",
                        "NBRBINS", "COSMIN", "PHIBINS", "TSTART", "TSTOP", "MJDREFI"):
                assert hdus[ext].header[key] == ref[ext].header[key], (ext, key)
            assert hdus[ext].columns.names == ref[ext].columns.names
            np.testing.assert_allclose(hdus[ext].data["RA"], ref[ext].data["RA"], atol=1e-4)
            np.testing.assert_allclose(hdus[ext].data["DEC"], ref[ext].data["DEC"], atol=1e-4)


def test_read_errors(tmp_path, ref_path):
    with pytest.raises(LATFileError, match="not found"):
        LivetimeCube.read(tmp_path / "missing.fits")
    with fits.open(ref_path) as hdus:
        hdus = fits.HDUList([h.copy() for h in hdus])
    del hdus["EXPOSURE"].header["NSIDE"]
    bad = tmp_path / "bad.fits"
    hdus.writeto(bad)
    with pytest.raises(LATFileError, match="NSIDE"):
        LivetimeCube.read(bad)
