"""LATMapDatasetMaker on the one-day Crab data set against the Fermitools products."""
import logging

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from gammapy.datasets import MapDataset
from gammapy.makers import MAKER_REGISTRY
from gammapy.maps import HpxGeom, Map, MapAxis, WcsGeom
from gammapy.modeling import Fit
from gammapy.modeling.models import (
    Models,
    PointSpatialModel,
    PowerLawSpectralModel,
    SkyModel,
    TemplateNPredModel,
)

from gammapy_lat.data import read_counts_geom
from gammapy_lat.errors import GammapyLATError, LATDataError, SelectionError
from gammapy_lat.makers import (
    LATMapDatasetMaker,
    LATSafeMaskMaker,
    create_lat_map_dataset,
)
from gammapy_lat.models import create_isotropic_model
from gammapy_lat.observations import LATObservation

CRAB = SkyCoord(83.6331, 22.0145, unit="deg", frame="icrs")


@pytest.fixture(scope="module")
def observation(crab_day):
    return LATObservation.read(crab_day / "ft1.fits.gz", crab_day / "ft2.fits.gz", obs_id=1)


@pytest.fixture(scope="module")
def counts_geom(crab_day):
    return read_counts_geom(crab_day / "cntmap.fits.gz")


@pytest.fixture(scope="module")
def crab_dataset(observation, counts_geom, caldb_path):
    """The full 100x100x20 dataset, one pass over the day."""
    empty = create_lat_map_dataset(counts_geom, name="crab")
    maker = LATMapDatasetMaker(caldb=caldb_path)
    return maker.run(empty, observation)


def powerlaw_bin_integral(e1, e2, y1, y2):
    """Integral of a power law through (e1, y1), (e2, y2): the gtlike ``pixelCounts`` rule."""
    gamma = np.log(y2 / y1) / np.log(e2 / e1)
    return y1 * e1 / (gamma + 1) * ((e2 / e1) ** (gamma + 1) - 1)


def test_registry():
    assert MAKER_REGISTRY.get_cls("LATMapDatasetMaker") is LATMapDatasetMaker
    with pytest.raises(ValueError):
        LATMapDatasetMaker(selection=["background"])


def test_counts_equal_gtbin(crab_dataset, crab_day):
    reference = fits.getdata(crab_day / "cntmap.fits.gz")
    np.testing.assert_array_equal(crab_dataset.counts.data, reference)
    assert crab_dataset.mask_safe.data.all()
    assert crab_dataset.meta_table["OBS_ID"][0] == 1


def test_exposure_matches_gtexpcube2(observation, crab_day, caldb_path):
    """Exposure at the 21 gtexpcube2 energies on its own 40x40 0.5 deg grid."""
    reference = Map.read(crab_day / "binned_expmap.fits.gz")
    energies = reference.geom.axes[0].center
    log_e = np.log10(energies.to_value("MeV"))
    half = np.diff(log_e)[0] / 2
    # A true-energy axis whose bin centres are the gtexpcube2 planes.
    axis_true = MapAxis.from_edges(10 ** np.append(log_e - half, log_e[-1] + half) * u.MeV, name="energy_true", interp="log")
    np.testing.assert_allclose(axis_true.center.to_value("MeV"), energies.to_value("MeV"), rtol=1e-9)
    geom = reference.geom.to_image().to_cube([MapAxis.from_energy_edges(energies, name="energy")])
    empty = MapDataset.create(geom, energy_axis_true=axis_true)
    # The livetime cube binning of the reference (gtltcube nside 16, 20 cos theta bins).
    maker = LATMapDatasetMaker(selection=["exposure"], caldb=caldb_path, ltcube_kwargs={"nside": 16, "nbins": 20})
    dataset = maker.run(empty, observation)
    ratio = dataset.exposure.data / reference.data
    np.testing.assert_allclose(ratio, 1, rtol=5e-3)
    # Same with the gtltcube product as input.
    maker = LATMapDatasetMaker(selection=["exposure"], caldb=caldb_path, ltcube=crab_day / "ltcube.fits.gz")
    np.testing.assert_allclose(maker.run(empty, observation).exposure.data / reference.data, 1, rtol=5e-3)


def test_isotropic_npred_matches_gtsrcmaps(crab_dataset, crab_day):
    """Isotropic counts per energy bin with our exposure vs the ``Extragal_diffuse`` map."""
    dataset = crab_dataset.copy(name="iso")
    dataset.edisp = None  # gtsrcmaps of the data kit applies no energy dispersion
    iso_file = crab_day / "iso_P8R2_SOURCE_V6_v06.txt"
    dataset.models = [create_isotropic_model(iso_file, datasets_names=["iso"])]
    npred = dataset.npred().data.sum(axis=(1, 2))

    with fits.open(crab_day / "srcmap.fits.gz") as hdulist:
        srcmap = hdulist["Extragal_diffuse"].data.astype(float).sum(axis=(1, 2))
    energies = crab_dataset.counts.geom.axes["energy"].edges.to_value("MeV")
    table = np.loadtxt(iso_file)
    spectrum = np.exp(np.interp(np.log(energies), np.log(table[:, 0]), np.log(table[:, 1])))
    y = srcmap * spectrum
    reference = powerlaw_bin_integral(energies[:-1], energies[1:], y[:-1], y[1:])
    print("isotropic npred / gtsrcmaps - 1:", np.round(npred / reference - 1, 4))
    np.testing.assert_allclose(npred, reference, rtol=0.02)


def galactic_template(crab_day, geom):
    """Galactic diffuse counts per bin from the gtsrcmaps model map (power-law rule in energy)."""
    with fits.open(crab_day / "srcmap.fits.gz") as hdulist:
        cube = hdulist["Galactic_diffuse"].data.astype(float)
    energies = geom.axes["energy"].edges.to_value("MeV")
    e1, e2 = energies[:-1, None, None], energies[1:, None, None]
    data = powerlaw_bin_integral(e1, e2, cube[:-1], cube[1:])
    return Map.from_geom(geom, data=data)


def test_fit_crab_roundtrip(crab_dataset, crab_day, tmp_path):
    dataset = crab_dataset.copy(name="crab")
    LATSafeMaskMaker(methods=["energy-range", "exposure"]).run(dataset)
    crab = SkyModel(
        spatial_model=PointSpatialModel.from_position(CRAB),
        spectral_model=PowerLawSpectralModel(index=2.2, amplitude="1e-12 cm-2 s-1 MeV-1", reference="1 GeV"),
        name="crab",
    )
    crab.spatial_model.parameters.freeze_all()
    iso = create_isotropic_model(crab_day / "iso_P8R2_SOURCE_V6_v06.txt", datasets_names=["crab"])
    gal = TemplateNPredModel(galactic_template(crab_day, dataset.counts.geom), datasets_names=["crab"], name="galactic")
    gal.spectral_model.tilt.frozen = False
    dataset.models = Models([crab, iso, gal])

    result = Fit().run([dataset])
    assert result.success
    index = crab.spectral_model.index.value
    # Crab (pulsar + nebula) between 200 MeV and 20 GeV: photon index about 2.2 (3FGL J0534.5+2201).
    assert 1.8 < index < 2.6
    flux = crab.spectral_model.integral(1 * u.GeV, 100 * u.GeV).to_value("cm-2 s-1")
    # 3FGL: F(1-100 GeV) of the Crab pulsar + nebula ~ 2.1e-7 cm-2 s-1; one day gives ~30 % errors.
    assert 1e-7 < flux < 4e-7
    # Observed and predicted totals agree (the fit conserves counts for free normalisations).
    mask = dataset.mask.data
    assert dataset.npred().data[mask].sum() == pytest.approx(dataset.counts.data[mask].sum(), rel=1e-2)

    path = tmp_path / "crab.fits.gz"
    dataset.write(path)
    read = MapDataset.read(path, name="crab")
    np.testing.assert_array_equal(read.counts.data, dataset.counts.data)
    np.testing.assert_allclose(read.exposure.data, dataset.exposure.data)
    np.testing.assert_array_equal(read.mask_safe.data, dataset.mask_safe.data)
    energy_true = [0.3, 3, 30] * u.GeV
    np.testing.assert_allclose(
        read.psf.containment_radius(0.68, energy_true, position=CRAB).to_value("deg"),
        dataset.psf.containment_radius(0.68, energy_true, position=CRAB).to_value("deg"),
        rtol=1e-6,
    )
    np.testing.assert_allclose(read.edisp.edisp_map.data, dataset.edisp.edisp_map.data)
    assert read.gti.time_sum.to_value("s") == pytest.approx(dataset.gti.time_sum.to_value("s"))


def test_psf_containment_physical(crab_dataset):
    """68 % containment of the P8R2_SOURCE front+back PSF (Fermi-LAT performance pages): about
    3 deg at 200 MeV, 0.8 deg at 1 GeV, 0.1-0.2 deg at 30 GeV."""
    energy = [0.2, 1, 30] * u.GeV
    r68 = crab_dataset.psf.containment_radius(0.68, energy, position=CRAB).to_value("deg")
    print("PSF R68 [deg] at 0.2, 1, 30 GeV:", r68)
    assert 1.5 < r68[0] < 5 and 0.5 < r68[1] < 1.2 and 0.05 < r68[2] < 0.25


def test_edisp_kernel_normalised(crab_dataset):
    """The kernel of a true energy well inside the reconstructed range sums to ~1."""
    kernel = crab_dataset.edisp.get_edisp_kernel(position=CRAB)
    pdf = kernel.pdf_matrix.sum(axis=1)
    centers = kernel.axes["energy_true"].center.to_value("MeV")
    inside = (centers > 400) & (centers < 10000)
    np.testing.assert_allclose(pdf[inside], 1, atol=0.03)


def test_bad_input(observation, counts_geom, caldb_path, crab_day, caplog):
    empty = create_lat_map_dataset(counts_geom, name="bad")
    # an IRF of another class or pass than the events is a warning (sometimes intended)
    with caplog.at_level(logging.WARNING):
        LATMapDatasetMaker(irf_name="P8R2_CLEAN_V6", caldb=caldb_path).observation_for(observation)
    assert "event class CLEAN (256)" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        LATMapDatasetMaker(irf_name="P8R3_SOURCE_V2", caldb=caldb_path).observation_for(observation)
    assert "P8R3" in caplog.text and "P8R2 events" in caplog.text
    # PSF3-only events cannot make a FRONT dataset.
    psf3 = LATObservation(observation.lat_events.select(evtype="PSF3"), observation.spacecraft, obs_id=2)
    with pytest.raises(SelectionError, match="EVENT_TYPE"):
        LATMapDatasetMaker(evtype="FRONT", caldb=caldb_path).run(empty, psf3)
    # Geometry beyond the 15 deg acceptance cone.
    axis = counts_geom.axes["energy"]
    wide = WcsGeom.create(skydir=CRAB, width=40, binsz=1, axes=[axis])
    with pytest.raises(SelectionError, match="cone"):
        LATMapDatasetMaker(caldb=caldb_path).run(create_lat_map_dataset(wide), observation)
    # No exposure: livetime cube computed elsewhere on the sky.
    maker = LATMapDatasetMaker(selection=["exposure"], caldb=caldb_path, ltcube_kwargs={"roi": (0.0, -60.0, 5.0)})
    with pytest.raises(GammapyLATError):
        maker.run(empty, observation)
    # A livetime cube of another time range.
    half = observation.select_time((observation.met_start, 0.5 * (observation.met_start + observation.met_stop)))
    maker = LATMapDatasetMaker(selection=["exposure"], caldb=caldb_path, ltcube=crab_day / "ltcube.fits.gz")
    with pytest.raises(LATDataError, match="Livetime cube spans"):
        maker.run(empty, half)
    # No exposure: a livetime cube without livetime in the region of interest.
    from gammapy_lat.livetime import LivetimeCube

    cube = LivetimeCube.read(crab_day / "ltcube.fits.gz")
    empty_cube = LivetimeCube(
        cube.livetime * 0, cube.weighted_livetime * 0, cube.costheta_edges, cube.nside, nest=cube.nest,
        frame=cube.frame, gti=cube.gti, meta=cube.meta,
    )
    maker = LATMapDatasetMaker(selection=["exposure"], caldb=caldb_path, ltcube=empty_cube)
    with pytest.raises(LATDataError, match="No exposure"):
        maker.run(empty, observation)
    # zmax larger than the event selection.
    with pytest.raises(SelectionError, match="zenith"):
        LATMapDatasetMaker(zmax=105 * u.deg, caldb=caldb_path).run(empty, observation)


def test_healpix_and_projection(observation, caldb_path):
    """HEALPix and AIT geometries: counts equal an independent binning of the event positions
    (healpy / Gammapy ``fill_by_coord``), exposure is positive over the region."""
    import healpy as hp

    axis = MapAxis.from_energy_bounds("200 MeV", "20 GeV", 4, name="energy")
    table = observation.lat_events.table
    skycoord = SkyCoord(table["RA"], table["DEC"], unit="deg")
    energy = u.Quantity(table["ENERGY"], "MeV")
    edges = axis.edges.to_value("MeV")

    hpx = HpxGeom.create(nside=32, region=f"DISK({CRAB.ra.deg},{CRAB.dec.deg},10)", frame="icrs", axes=[axis])
    dataset = LATMapDatasetMaker(caldb=caldb_path).run(create_lat_map_dataset(hpx, binsz_irf=5), observation)
    ipix = hp.ang2pix(32, skycoord.ra.deg, skycoord.dec.deg, nest=True, lonlat=True)
    inside = np.isin(ipix, hpx.to_image()._ipix)
    expected, _ = np.histogram(energy.value[inside], bins=edges)
    np.testing.assert_array_equal(dataset.counts.data.sum(axis=1), expected)
    assert np.all(dataset.exposure.data > 0)
    # PSF normalised over the separation axis (Gammapy cannot evaluate HEALPix PSF maps here).
    psf = dataset.psf.psf_map
    rad = psf.geom.axes["rad"].center.to_value("rad")
    integral = np.trapezoid(psf.data * 2 * np.pi * np.sin(rad)[None, :, None], rad, axis=1)
    np.testing.assert_allclose(integral[2:-2], 1, atol=0.02)
    # Energy-dispersion kernels are probabilities over the reconstructed bins (at most 1).
    kernel_sum = dataset.edisp.edisp_map.data.sum(axis=1)
    assert np.all(kernel_sum <= 1 + 1e-4) and np.max(kernel_sum) > 0.9
    # Offset mask around the acceptance cone centre of the events (DSS keywords).
    masked = LATSafeMaskMaker(methods=["offset-max"], offset_max="5 deg").run(dataset, observation)
    sep = hpx.to_image().separation(CRAB).deg
    np.testing.assert_array_equal(masked.mask_safe.data[0], sep < 5)

    ait = WcsGeom.create(skydir=CRAB, width=14, binsz=0.5, axes=[axis], proj="AIT", frame="icrs")
    dataset = LATMapDatasetMaker(caldb=caldb_path, selection=["counts", "exposure"]).run(
        create_lat_map_dataset(ait, binsz_irf=5), observation
    )
    reference = Map.from_geom(ait)
    reference.fill_by_coord({"skycoord": skycoord, "energy": energy})
    np.testing.assert_array_equal(dataset.counts.data, reference.data)
    assert np.all(dataset.exposure.data > 0)
