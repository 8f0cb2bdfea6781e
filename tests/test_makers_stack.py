"""Stacking time chunks, parallel reduction and event-type components on the Crab day."""
import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from gammapy.data import Observations
from gammapy.datasets import Datasets
from gammapy.maps import MapAxis, WcsGeom
from gammapy.modeling import Fit
from gammapy.modeling.models import (
    Models,
    PointSpatialModel,
    PowerLawSpectralModel,
    SkyModel,
)

from gammapy_lat.makers import (
    LATComponent,
    LATComponentsMaker,
    LATDatasetsMaker,
    LATMapDatasetMaker,
    create_lat_map_dataset,
)
from gammapy_lat.observations import LATObservation

CRAB = SkyCoord(83.6331, 22.0145, unit="deg", frame="icrs")


@pytest.fixture(scope="module")
def observation(crab_day):
    return LATObservation.read(crab_day / "ft1.fits.gz", crab_day / "ft2.fits.gz", obs_id=1)


@pytest.fixture(scope="module")
def geom():
    # 16 x 16 deg around the Crab (inside the 15 deg acceptance cone), 6 energy bins.
    axis = MapAxis.from_energy_bounds("200 MeV", "20 GeV", 6, name="energy")
    return WcsGeom.create(skydir=CRAB.galactic, width=16, binsz=0.4, frame="galactic", axes=[axis])


@pytest.fixture(scope="module")
def single_pass(observation, geom, caldb_path):
    return LATMapDatasetMaker(caldb=caldb_path).run(create_lat_map_dataset(geom, name="single"), observation)


@pytest.fixture(scope="module")
def halves(observation):
    t_mid = 0.5 * (observation.met_start + observation.met_stop)
    first = observation.select_time((observation.met_start, t_mid))
    second = observation.select_time((t_mid, observation.met_stop))
    first.obs_id, second.obs_id = 1, 2
    return Observations([first, second])


def assert_same_dataset(stacked, single, position_list):
    np.testing.assert_array_equal(stacked.counts.data, single.counts.data)
    np.testing.assert_allclose(stacked.exposure.data, single.exposure.data, rtol=1e-6)
    energy_true = [0.3, 1, 3, 10] * u.GeV
    for position in position_list:
        r_stacked = stacked.psf.containment_radius([0.68, 0.95], energy_true[:, None], position=position)
        r_single = single.psf.containment_radius([0.68, 0.95], energy_true[:, None], position=position)
        np.testing.assert_allclose(r_stacked.to_value("deg"), r_single.to_value("deg"), rtol=1e-4)
        k_stacked = stacked.edisp.get_edisp_kernel(position=position).pdf_matrix
        k_single = single.edisp.get_edisp_kernel(position=position).pdf_matrix
        np.testing.assert_allclose(k_stacked, k_single, atol=1e-6)


def test_stack_two_halves_equals_single_pass(single_pass, halves, geom, caldb_path):
    stacked = create_lat_map_dataset(geom, name="stacked")
    makers = [LATMapDatasetMaker(caldb=caldb_path)]
    result = LATDatasetsMaker(makers, stack_datasets=True, n_jobs=1).run(stacked, halves)
    assert len(result) == 1
    positions = [CRAB, SkyCoord(90, 20, unit="deg"), SkyCoord(78, 25, unit="deg")]
    assert_same_dataset(result[0], single_pass, positions)
    assert result[0].gti.time_sum.to_value("s") == pytest.approx(single_pass.gti.time_sum.to_value("s"))
    # The halves do differ from the whole (the test is not trivially satisfied).
    assert len(halves[0].lat_events) > 0 and len(halves[1].lat_events) > 0


def test_parallel_reduction_matches_serial(halves, geom, caldb_path):
    makers = [LATMapDatasetMaker(caldb=caldb_path, selection=["counts", "exposure"])]
    reference = create_lat_map_dataset(geom, name="ref")
    serial = LATDatasetsMaker(makers, stack_datasets=False, n_jobs=1).run(reference, halves)
    parallel = LATDatasetsMaker(
        makers, stack_datasets=False, n_jobs=2, parallel_backend="multiprocessing"
    ).run(reference, halves)
    assert [d.meta_table["OBS_ID"][0] for d in parallel] == [1, 2]
    for a, b in zip(serial, parallel):
        np.testing.assert_array_equal(a.counts.data, b.counts.data)
        np.testing.assert_array_equal(a.exposure.data, b.exposure.data)
    # The two chunks split the events and the livetime of the day.
    total = sum(d.counts.data.sum() for d in serial)
    single_counts = LATMapDatasetMaker(caldb=caldb_path, selection=["counts"]).make_counts(geom, _whole(halves))
    assert total == single_counts.data.sum()


def _whole(halves):
    from gammapy_lat.data import LATEventList

    events = LATEventList.from_stack([o.lat_events for o in halves])
    return LATObservation(events, halves[0].spacecraft, obs_id=0)


def test_cutout_around_roi(halves, caldb_path):
    """A reference map larger than the acceptance cone is cut out around each observation's ROI
    before reduction (no geometry-outside-cone error), and the stack lands in the big map."""
    axis = MapAxis.from_energy_bounds("1 GeV", "20 GeV", 2, name="energy")
    big = WcsGeom.create(skydir=CRAB, width=60, binsz=1.0, frame="icrs", axes=[axis])
    makers = [LATMapDatasetMaker(caldb=caldb_path, selection=["counts", "exposure"])]
    result = LATDatasetsMaker(makers, cutout_width="20 deg").run(create_lat_map_dataset(big, binsz_irf=5), halves)
    stacked = result[0]
    assert stacked.counts.geom.data_shape == big.data_shape
    far = big.to_image().separation(CRAB).deg > 15
    assert stacked.exposure.data[:, far].sum() == 0
    assert stacked.exposure.data[:, ~far].max() > 0


@pytest.fixture(scope="module")
def evtype3(observation, geom, caldb_path):
    return LATMapDatasetMaker(caldb=caldb_path, selection=["counts", "exposure"]).run(
        create_lat_map_dataset(geom, name="all"), observation
    )


@pytest.mark.parametrize("partition, n", [("FB", 2), ("PSF", 4)])
def test_components_total_counts(partition, n, observation, geom, caldb_path, evtype3):
    maker = LATComponentsMaker.from_partition(partition, caldb=caldb_path, selection=["counts", "exposure"])
    datasets = maker.run(create_lat_map_dataset(geom, name="roi"), observation)
    assert isinstance(datasets, Datasets) and len(datasets) == n
    total = np.sum([d.counts.data for d in datasets], axis=0)
    np.testing.assert_array_equal(total, evtype3.counts.data)
    # Exposures of a partition add up to the FRONT+BACK exposure (the IRFs partition the events).
    exposure = np.sum([d.exposure.data for d in datasets], axis=0)
    np.testing.assert_allclose(exposure, evtype3.exposure.data, rtol=0.02)
    assert len({d.meta_table["EVTYPE"][0] for d in datasets}) == n


def test_components_joint_fit(observation, caldb_path, crab_day):
    """FRONT and BACK with their own energy range and zenith cut, fitted jointly."""
    axis = MapAxis.from_energy_bounds("500 MeV", "20 GeV", 4, name="energy")
    geom = WcsGeom.create(skydir=CRAB.galactic, width=8, binsz=0.25, frame="galactic", axes=[axis])
    iso_file = crab_day / "iso_P8R2_SOURCE_V6_v06.txt"
    components = [
        LATComponent("FRONT", evtype="FRONT", energy_min=500 * u.MeV, isodiff=iso_file),
        LATComponent("BACK", evtype="BACK", zmax=80 * u.deg, energy_min=1 * u.GeV, isodiff=iso_file),
    ]
    # Without energy dispersion above 500 MeV, to keep the joint fit quick.
    maker = LATComponentsMaker(components, caldb=caldb_path, selection=["counts", "exposure", "psf"])
    datasets = maker.run(create_lat_map_dataset(geom, name="roi", edisp_bins=0, oversampling=1), observation)
    back = datasets["roi-BACK"]
    assert not back.mask_safe.data[0].any() and back.mask_safe.data[-1].all()
    # The zenith cut removes events (checked against the ZENITH_ANGLE column of the file).
    table = observation.lat_events.table
    energy = np.asarray(table["ENERGY"])
    is_back = (observation.lat_events.event_type & 2) > 0
    in_map = geom.to_image().contains(SkyCoord(table["RA"], table["DEC"], unit="deg"))
    expected = np.sum(is_back & in_map & (np.asarray(table["ZENITH_ANGLE"]) <= 80) & (energy > 500) & (energy <= 2e4))
    assert back.counts.data.sum() == expected

    crab = SkyModel(
        spatial_model=PointSpatialModel.from_position(CRAB),
        spectral_model=PowerLawSpectralModel(index=2.2, amplitude="1e-12 cm-2 s-1 MeV-1", reference="1 GeV"),
        name="crab",
    )
    crab.spatial_model.parameters.freeze_all()
    assert datasets.models.names == ["roi-FRONT-isotropic", "roi-BACK-isotropic"]
    models = Models([crab] + list(datasets.models))
    for model in models[1:]:
        model.parameters.freeze_all()  # keep the joint fit quick: only the Crab spectrum is free
    datasets.models = models
    result = Fit().run(datasets)
    assert result.success
    # Above 500 MeV the Crab pulsar cuts off (3FGL: exponential cutoff at a few GeV), so a power
    # law fitted to 0.5-20 GeV is steeper than over 0.2-20 GeV: index about 2.5-3.
    assert 2.0 < crab.spectral_model.index.value < 3.2


def test_datastore_chunks_stack(crab_day, geom, caldb_path, single_pass):
    """Time chunks from a LATDataStore (as weekly files would be) stack to the single pass."""
    from gammapy_lat.observations import LATDataStore

    store = LATDataStore(crab_day / "ft1.fits.gz", crab_day / "ft2.fits.gz")
    observations = store.get_observations(chunk=8 * u.hour)
    assert len(observations) >= 2
    makers = [LATMapDatasetMaker(caldb=caldb_path, selection=["counts", "exposure"])]
    stacked = LATDatasetsMaker(makers).run(create_lat_map_dataset(geom, name="chunks"), observations)[0]
    np.testing.assert_array_equal(stacked.counts.data, single_pass.counts.data)
    np.testing.assert_allclose(stacked.exposure.data, single_pass.exposure.data, rtol=1e-6)
