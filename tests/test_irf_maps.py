"""Exposure, PSF and energy-dispersion maps from livetime cubes.

Exposure parity is checked against the gtexpcube2 cube of the data kit; PSF and dispersion
averages against single-inclination livetime cubes, whose average must reduce to the IRF at that
inclination.
"""
import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from gammapy.maps import HpxGeom, Map, MapAxis, RegionGeom, WcsGeom
from regions import PointSkyRegion

from gammapy_lat.irf import (
    CALDB,
    LATIRFs,
    make_edisp_kernel_map,
    make_exposure_map,
    make_psf_map,
)
from gammapy_lat.livetime import LivetimeCube

CRAB = SkyCoord(83.633, 22.014, unit="deg")


@pytest.fixture(scope="module")
def irfs(caldb_path):
    return LATIRFs.from_caldb("P8R2_SOURCE_V6", 3, caldb=CALDB(caldb_path))


@pytest.fixture(scope="module")
def ltcube(crab_day):
    return LivetimeCube.read(crab_day / "ltcube.fits.gz")


@pytest.fixture(scope="module")
def reference(crab_day):
    return Map.read(crab_day / "binned_expmap.fits.gz")


def test_exposure_parity_gtexpcube2(ltcube, irfs, reference):
    """Same geometry and planes as gtexpcube2's binned_expmap: agreement in every pixel and plane."""
    exposure = make_exposure_map(ltcube, irfs, reference.geom)
    assert exposure.unit == u.Unit("cm2 s")
    ratio = exposure.data / reference.data
    assert np.all(reference.data > 0)
    assert np.max(np.abs(ratio - 1)) < 5e-3  # acceptance; the implementation reaches float32 rounding
    assert np.max(np.abs(ratio - 1)) < 1e-5


def test_exposure_parity_own_livetime_cube(crab_day, irfs, reference):
    """The full chain from FT1/FT2: our livetime cube, then our exposure, against gtexpcube2."""
    from gammapy_lat.data import read_events, read_spacecraft

    spacecraft = read_spacecraft(crab_day / "ft2.fits.gz")
    events = read_events(crab_day / "ft1.fits.gz")
    # the binning recorded in the kit's ltcube.fits.gz (NSIDE 16, 20 bins, no zenith cut)
    cube = LivetimeCube.compute(spacecraft, events.gti, nside=16, nbins=20, zmax=180 * u.deg)
    exposure = make_exposure_map(cube, irfs, reference.geom)
    assert np.max(np.abs(exposure.data / reference.data - 1)) < 5e-3


def _reference_by_healpix_pixel(reference, ltcube):
    """gtexpcube2 values keyed by the HEALPix pixel (of the livetime cube) of each map pixel."""
    import healpy as hp

    coord = reference.geom.to_image().get_coord().skycoord.icrs
    pix = hp.ang2pix(ltcube.nside, coord.ra.deg, coord.dec.deg, nest=ltcube.nest, lonlat=True)
    return {int(p): reference.data[:, j, i] for (j, i), p in np.ndenumerate(pix)}


@pytest.mark.parametrize("kind", ["hpx", "tan", "ait"])
def test_exposure_other_geometries(ltcube, irfs, reference, kind):
    """gtexpcube2 takes the livetime of the HEALPix pixel containing each map pixel: any geometry
    must reproduce the reference values wherever its pixels fall in the same HEALPix pixels."""
    axis = reference.geom.axes["energy_true"]
    if kind == "hpx":
        geom = HpxGeom.create(nside=ltcube.nside, nest=ltcube.nest, frame="icrs", region="DISK(83.6,22.0,8)", axes=[axis])
    elif kind == "tan":
        geom = WcsGeom.create(skydir=CRAB, npix=(30, 25), binsz=0.4, proj="TAN", frame="icrs", axes=[axis])
    else:
        geom = WcsGeom.create(npix=(180, 90), binsz=2, proj="AIT", frame="galactic", axes=[axis])
    exposure = make_exposure_map(ltcube, irfs, geom)
    assert np.all(np.isfinite(exposure.data))
    ref = _reference_by_healpix_pixel(reference, ltcube)
    coord = geom.to_image().get_coord()
    lon, lat = np.asarray(coord.lon).ravel(), np.asarray(coord.lat).ravel()
    valid = np.isfinite(lon)
    data = exposure.data.reshape(len(axis.center), -1)
    assert np.all(data[:, ~valid] == 0)  # outside the projection
    import healpy as hp

    sky = SkyCoord(lon[valid], lat[valid], unit="deg", frame=geom.frame).icrs
    pix = hp.ang2pix(ltcube.nside, sky.ra.deg, sky.dec.deg, nest=ltcube.nest, lonlat=True)
    matched = 0
    for k, p in zip(np.flatnonzero(valid), pix):
        if int(p) in ref:
            np.testing.assert_allclose(data[:, k], ref[int(p)], rtol=1e-5)
            matched += 1
    assert matched >= 10


def test_exposure_bilinear_and_efficiency(ltcube, irfs, reference):
    geom = reference.geom
    nearest = make_exposure_map(ltcube, irfs, geom)
    bilinear = make_exposure_map(ltcube, irfs, geom, interp="bilinear")
    assert np.max(np.abs(bilinear.data / nearest.data - 1)) < 0.1
    # bilinear varies smoothly: no HEALPix pixel steps
    assert np.std(np.diff(bilinear.data[10], axis=1)) < np.std(np.diff(nearest.data[10], axis=1))
    # the efficiency correction changes the exposure by a few per cent at most
    raw = make_exposure_map(ltcube, irfs, geom, efficiency=False)
    change = nearest.data / raw.data - 1
    assert np.all(np.abs(change) < 0.1) and np.any(np.abs(change) > 1e-3)


def _single_bin_cube(ltcube, ibin, seconds=1e5, fraction=0.9):
    """All-sky livetime cube with all livetime in one cos θ bin."""
    live = np.zeros((12 * 4**2, ltcube.nbins))
    live[:, ibin] = seconds
    return LivetimeCube(
        live * u.s, fraction * live * u.s, ltcube.costheta_edges, nside=4, nest=True, frame="icrs",
        binning=ltcube.binning,
    )


def test_exposure_single_bin_analytic(ltcube, irfs):
    """Exposure with livetime in one cos θ bin = Σ_types Aeff(c) (f1 + f2 f) t."""
    cube = _single_bin_cube(ltcube, 3)
    cth = cube.costheta_center[3]
    axis = MapAxis.from_energy_bounds(100 * u.MeV, 100 * u.GeV, 6, name="energy_true")
    geom = WcsGeom.create(skydir=CRAB, npix=3, binsz=1, axes=[axis])
    exposure = make_exposure_map(cube, irfs, geom)
    energy = axis.center
    f1, f2 = irfs["FRONT"].efficiency.livetime_factors(energy)
    aeff = sum(c.aeff.evaluate(energy, cth) for c in irfs).to_value("cm2")
    expected = aeff * (f1 + 0.9 * f2) * 1e5
    np.testing.assert_allclose(exposure.data[:, 1, 1], expected, rtol=1e-6)


def test_psf_map(ltcube, irfs):
    energy_axis = MapAxis.from_energy_bounds(100 * u.MeV, 100 * u.GeV, 9, name="energy_true")
    rad_axis = MapAxis.from_nodes(np.concatenate([[0], np.geomspace(1e-3, 30, 400)]) * u.deg, name="rad")
    geom = RegionGeom(PointSkyRegion(CRAB), axes=[rad_axis, energy_axis])
    psf_map = make_psf_map(ltcube, irfs, geom)
    # normalised over the sphere
    rad = rad_axis.center.to_value("rad")
    values = psf_map.psf_map.data[:, :, 0, 0]
    integral = np.trapezoid(values * 2 * np.pi * np.sin(rad), rad, axis=1)
    # truncated at 30 deg: the 100 MeV PSF tail beyond 30 deg holds ~1e-3
    np.testing.assert_allclose(integral[1:], 1, atol=2e-3)
    # its exposure is the exposure map at that position
    expo_geom = WcsGeom.create(skydir=CRAB, npix=1, binsz=0.01, axes=[energy_axis])
    exposure = make_exposure_map(ltcube, irfs, expo_geom)
    np.testing.assert_allclose(psf_map.exposure_map.data[:, 0, 0, 0], exposure.data[:, 0, 0], rtol=1e-5)
    # gammapy can use it
    kernel = psf_map.get_psf_kernel(geom=WcsGeom.create(skydir=CRAB, npix=41, binsz=0.1, axes=[energy_axis]))
    assert kernel.psf_kernel_map.data.shape[0] == energy_axis.nbin
    # the default rad axis is added when the geometry has none; WCS geometry works too
    wcs_psf = make_psf_map(ltcube, irfs, WcsGeom.create(skydir=CRAB, npix=2, binsz=2, axes=[energy_axis]))
    assert wcs_psf.psf_map.data.shape[:2] == (energy_axis.nbin, 301)


def test_psf_map_single_inclination(ltcube, irfs):
    """With livetime in one cos θ bin the map PSF is the aeff-weighted PSF at that inclination."""
    cube = _single_bin_cube(ltcube, 5)
    cth = cube.costheta_center[5]
    energy_axis = MapAxis.from_nodes([300, 3000, 30000] * u.MeV, name="energy_true", interp="log")
    rad_axis = MapAxis.from_nodes(np.linspace(0, 3, 61) * u.deg, name="rad")
    geom = RegionGeom(PointSkyRegion(CRAB), axes=[rad_axis, energy_axis])
    psf_map = make_psf_map(cube, irfs, geom)
    energy = energy_axis.center[:, None]
    rad = rad_axis.center[None, :]
    weights = [c.aeff.evaluate(energy, cth).value for c in irfs]
    expected = sum(w * c.psf.evaluate(energy, cth, rad).value for w, c in zip(weights, irfs)) / sum(weights)
    np.testing.assert_allclose(psf_map.psf_map.data[:, :, 0, 0], expected, rtol=1e-5)


def test_edisp_kernel_map(ltcube, irfs):
    energy_axis = MapAxis.from_energy_bounds(50 * u.MeV, 500 * u.GeV, 40, name="energy")
    energy_true_axis = MapAxis.from_energy_bounds(200 * u.MeV, 50 * u.GeV, 12, name="energy_true")
    geom = RegionGeom(PointSkyRegion(CRAB), axes=[energy_axis, energy_true_axis])
    edisp_map = make_edisp_kernel_map(ltcube, irfs, geom)
    kernel = edisp_map.get_edisp_kernel()
    # true energies well inside the reconstructed range: the rows sum to 1
    np.testing.assert_allclose(kernel.pdf_matrix.sum(axis=1), 1, atol=1e-3)
    # single inclination: rows equal the aeff-weighted CDF differences at that cos θ
    cube = _single_bin_cube(ltcube, 2)
    cth = cube.costheta_center[2]
    single = make_edisp_kernel_map(cube, irfs, geom).get_edisp_kernel().pdf_matrix
    energy = energy_true_axis.center[:, None]
    edges = energy_axis.edges[None, :]
    weights = [c.aeff.evaluate(energy, cth).value for c in irfs]
    expected = sum(w * np.diff(c.edisp.cdf(energy, cth, edges), axis=1) for w, c in zip(weights, irfs)) / sum(weights)
    np.testing.assert_allclose(single, expected, rtol=1e-5, atol=1e-7)


def test_exposure_phi_dependence(ltcube, irfs, caldb_path):
    """With φ-binned livetime the effective area is modulated in φ, with the CALDB PHI_DEPENDENCE
    parameters of the bin containing (E, cos θ) (formula written here from the CALDB definition)."""
    from astropy.io import fits

    caldb = CALDB(caldb_path)
    nbins, nphi, ibin, iphi = ltcube.nbins, 5, 2, 1
    live = np.zeros((12 * 4**2, nbins))
    live[:, ibin] = 1e5
    live_phi = np.zeros((12 * 4**2, nphi, nbins))
    live_phi[:, iphi, ibin] = 1e5
    cube = LivetimeCube(
        live * u.s, 0.9 * live * u.s, ltcube.costheta_edges, nside=4, binning=ltcube.binning,
        livetime_phi=live_phi * u.s, weighted_livetime_phi=0.9 * live_phi * u.s,
    )
    cth = cube.costheta_center[ibin]
    phi = np.radians(45.0 * (iphi + 0.5) / nphi)
    axis = MapAxis.from_energy_bounds(100 * u.MeV, 100 * u.GeV, 4, name="energy_true")
    geom = WcsGeom.create(skydir=CRAB, npix=1, binsz=1, axes=[axis])
    exposure = make_exposure_map(cube, irfs, geom)
    energy = axis.center
    f1, f2 = irfs.efficiency.livetime_factors(energy)
    expected = 0
    for comp in irfs:
        path, ext = caldb.hdu_location("P8R2_SOURCE_V6", comp.event_type, "PHI_DEP")
        with fits.open(path) as hdulist:
            data = hdulist[ext].data
            ehi = data["ENERG_HI"][0]
            clo = data["CTHETA_LO"][0]
            par0 = data["PHIDEP0"][0].reshape(len(clo), -1)
            par1 = data["PHIDEP1"][0].reshape(len(clo), -1)
        ie = np.searchsorted(ehi, energy.to_value("MeV"))
        ic = np.searchsorted(clo, cth, side="right") - 1
        p0, p1 = par0[ic, ie], par1[ic, ie]
        xx = 2 * np.abs(2 / np.pi * np.abs(phi - np.pi / 2) - 0.5)
        modulation = (1 + p0 * xx**p1) / (1 + p0 / (1 + p1))
        expected = expected + comp.aeff.evaluate(energy, cth).to_value("cm2") * modulation
    expected = expected * (f1 + 0.9 * f2) * 1e5
    np.testing.assert_allclose(exposure.data[:, 0, 0], expected, rtol=1e-5)
    # without φ dependence (forced off) the φ-integrated livetime is used
    flat = make_exposure_map(cube, irfs, geom, phi_dependence=False)
    assert not np.allclose(flat.data, exposure.data, rtol=1e-4)


def test_psf_map_against_3fhl_gtpsf(ltcube, irfs, gammapy_data):
    """The gtpsf product of the 3FHL Galactic-centre data (P8R2_SOURCE_V6, FRONT+BACK, years of
    survey) against ours from the one-day cube at the same position: the survey's inclination
    distribution changes little, so containment radii agree to a few per cent."""
    from gammapy.irf import PSFMap

    ref = PSFMap.read(gammapy_data / "fermi_3fhl" / "fermi_3fhl_psf_gc.fits.gz", format="gtpsf")
    axes = [ref.psf_map.geom.axes["rad"], ref.psf_map.geom.axes["energy_true"]]
    geom = RegionGeom(PointSkyRegion(SkyCoord(0, 0, unit="deg", frame="galactic")), axes=axes)
    ours = make_psf_map(ltcube, irfs, geom)
    energy = [10, 30, 100, 300, 1000] * u.GeV
    for fraction in (0.68, 0.95):
        np.testing.assert_allclose(
            ours.containment_radius(fraction, energy).value,
            ref.containment_radius(fraction, energy).value,
            rtol=0.08,
        )
