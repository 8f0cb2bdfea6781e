"""Unbinned LAT likelihood on the one-day Crab data of the kit, against the binned analysis and
the Fermitools products.

References: the FT1 file's own ``THETA``/``PHI`` columns (spacecraft attitude at the event
times), the gtexpcube2 exposure cube (exposure integral over the cone), a fine-binned
`~gammapy.datasets.MapDataset` fit of the same events (Crab parameters, SED), analytic PSF
containments and the limits of extended sources.
"""
import logging

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.io import fits
from gammapy.datasets import Datasets
from gammapy.maps import Map, MapAxis, WcsGeom
from gammapy.modeling import Fit
from gammapy.modeling.models import (
    ConstantSpatialModel,
    ExpDecayTemporalModel,
    GaussianSpatialModel,
    Models,
    PointSpatialModel,
    PowerLawNormSpectralModel,
    PowerLawSpectralModel,
    SkyModel,
    TemplateNPredModel,
    TemplateSpatialModel,
)
from scipy import stats

from gammapy_lat.data import LATObservation
from gammapy_lat.datasets import UnbinnedLATDataset, diffuse_response_label
from gammapy_lat.datasets.unbinned import compute_diffuse_responses
from gammapy_lat.errors import GammapyLATError, LATDataError, SelectionError
from gammapy_lat.irf import LATIRFs, UnbinnedExposureMap, make_exposure_map
from gammapy_lat.irf.unbinned import (
    ROIExposure,
    _ConeContainment,
    _instrument_angles,
    spacecraft_attitude,
    unit_vectors,
)
from gammapy_lat.livetime import LivetimeCube
from gammapy_lat.makers import (
    LATMapDatasetMaker,
    UnbinnedLATDatasetMaker,
    create_isotropic_model,
    create_lat_map_dataset,
)

CRAB = SkyCoord(83.6331, 22.0145, unit="deg")
IRF = "P8R2_SOURCE_V6"
CONE = 8 * u.deg
ENERGY_AXIS = MapAxis.from_energy_bounds("200 MeV", "20 GeV", 20, name="energy")


@pytest.fixture(scope="module")
def observation(crab_day):
    return LATObservation.read(crab_day / "ft1.fits.gz", crab_day / "ft2.fits.gz")


@pytest.fixture(scope="module")
def ltcube(crab_day):
    return LivetimeCube.read(crab_day / "ltcube.fits.gz")


@pytest.fixture(scope="module")
def galactic_map(crab_day):
    """Galactic diffuse intensity of the Fermitools: gtsrcmaps' model map / (gtexpcube2 x solid angle)."""
    counts = Map.read(crab_day / "cntmap.fits.gz")
    with fits.open(crab_day / "srcmap.fits.gz") as h:
        eb = h["EBOUNDS"].data
        edges = np.append(eb["E_MIN"], eb["E_MAX"][-1]) / 1000.0
        srcmap = h["Galactic_diffuse"].data.astype(float)
    bexp = Map.read(crab_day / "binned_expmap.fits.gz")
    image = counts.geom.to_image()
    coords = image.get_coord().skycoord
    expo = np.array([bexp.interp_by_coord({"skycoord": coords, "energy_true": e * u.MeV}) for e in edges])
    intensity = srcmap / (expo * image.solid_angle().to_value("sr")[None])
    axis = MapAxis.from_nodes(edges * u.MeV, name="energy_true", interp="log")
    return Map.from_geom(image.to_cube([axis]), data=intensity, unit="MeV-1 cm-2 s-1 sr-1")


def crab_models(crab_day, galactic_map):
    crab = SkyModel(
        PowerLawSpectralModel(index=2.2, amplitude="3e-10 cm-2 s-1 MeV-1", reference="1 GeV"),
        PointSpatialModel.from_position(CRAB),
        name="crab",
    )
    crab.spatial_model.parameters.freeze_all()
    iso = create_isotropic_model(crab_day / "iso_P8R2_SOURCE_V6_v06.txt", apply_edisp=False)
    gal = SkyModel(PowerLawNormSpectralModel(), TemplateSpatialModel(galactic_map, normalize=False), name="galactic")
    return Models([crab, iso, gal])


@pytest.fixture(scope="module")
def unbinned(observation, ltcube, caldb_path):
    logging.getLogger("gammapy").setLevel(logging.ERROR)
    reference = UnbinnedLATDataset.create(ENERGY_AXIS, CRAB, CONE, name="crab-unbinned")
    maker = UnbinnedLATDatasetMaker(irf_name=IRF, caldb=caldb_path, ltcube=ltcube)
    return maker.run(reference, observation)


@pytest.fixture(scope="module")
def unbinned_fit(unbinned, crab_day, galactic_map):
    dataset = unbinned.copy(name="crab-unbinned-fit")
    dataset.models = crab_models(crab_day, galactic_map)
    result = Fit().run([dataset])
    assert result.success
    return dataset


@pytest.fixture(scope="module")
def binned_fit(observation, ltcube, caldb_path, crab_day, galactic_map):
    """The same events in 0.1 deg pixels and 20 energy bins, masked to the same cone."""
    logging.getLogger("gammapy").setLevel(logging.ERROR)
    width = 2 * CONE.to_value("deg") + 2
    geom = WcsGeom.create(skydir=CRAB, binsz=0.1, width=width, frame="galactic", proj="CAR", axes=[ENERGY_AXIS])
    rad = MapAxis.from_nodes(np.linspace(0, np.sqrt(15), 60) ** 2, unit="deg", name="rad")
    empty = create_lat_map_dataset(
        geom, energy_axis_true=ENERGY_AXIS.copy(name="energy_true"), rad_axis=rad, name="crab-binned", binsz_irf=1
    )
    maker = LATMapDatasetMaker(irf_name=IRF, caldb=caldb_path, ltcube=ltcube, selection=["counts", "exposure", "psf"])
    dataset = maker.run(empty, observation)
    dataset.mask_fit = Map.from_geom(geom, data=geom.get_coord().skycoord.separation(CRAB) < CONE)
    dataset.models = crab_models(crab_day, galactic_map)
    result = Fit().run([dataset])
    assert result.success
    return dataset


def test_attitude_matches_ft1_angles(observation):
    """Inclination and azimuth of the event directions from the interpolated FT2 attitude equal the
    FT1 THETA and PHI columns (float32) to a few hundredths of a degree."""
    events = observation.lat_events
    scz, scx, live = spacecraft_attitude(observation.spacecraft, events.time)
    vec = unit_vectors(events.table["RA"], events.table["DEC"])
    costheta, phi = _instrument_angles(vec, scz, scx)
    dtheta = np.degrees(np.arccos(costheta)) - np.asarray(events.table["THETA"])
    assert np.median(np.abs(dtheta)) < 0.05
    assert np.max(np.abs(dtheta)) < 0.2
    theta = np.degrees(np.arccos(costheta))
    dphi = ((phi % 360) - np.asarray(events.table["PHI"]) + 180) % 360 - 180
    assert np.median(np.abs(dphi[theta > 5])) < 0.2
    assert np.all((live > 0.5) & (live < 1))


def test_exposure_integral_equals_binned_exposure(crab_day, ltcube, caldb_path, tmp_path):
    """The unbinned exposure integral of an isotropic source (the PSF-contained exposure of every
    position summed over the source region, and without PSF the exposure inside the cone) equals
    the binned exposure x solid angle of the cone within 0.5 %: against the gtexpcube2 cube of the
    kit (a 9 deg cone inside its 20 deg footprint) and our binned exposure (15 deg cone of the
    events); also through a gtexpmap-format file and gtlike's pixel sum."""
    irfs = LATIRFs.from_caldb(IRF, 3, caldb=caldb_path, edisp=False)
    bexp = Map.read(crab_day / "binned_expmap.fits.gz")
    energy = bexp.geom.axes["energy_true"].center
    # gtexpcube2 x solid angle inside a 9 deg cone, each 0.5 deg pixel split 10 x 10
    fine = bexp.geom.to_image().upsample(10)
    inside = fine.get_coord().skycoord.separation(CRAB) < 9 * u.deg
    omega = fine.solid_angle().to_value("sr")
    planes = np.repeat(np.repeat(bexp.data, 10, axis=1), 10, axis=2)
    binned = np.sum(planes * (omega * inside)[None], axis=(1, 2))
    for psf in (True, False):
        expo = ROIExposure(irfs, ltcube, CRAB, 9 * u.deg, energy, source_radius=29 * u.deg)
        points, weights = expo.region_grid(psf=psf)
        unbinned = np.sum(weights[:, None] * expo.evaluate(points, psf=psf), axis=0)
        np.testing.assert_allclose(unbinned / binned, 1, atol=5e-3)

    # the 15 deg cone of the events, against our binned exposure (= gtexpcube2 to 1e-7)
    axis = MapAxis.from_nodes(energy[::4], name="energy_true", interp="log")
    geom = WcsGeom.create(skydir=CRAB, binsz=0.05, width=32, frame="icrs", proj="CAR", axes=[axis])
    image = geom.to_image()
    cone = image.get_coord().skycoord.separation(CRAB) < 15 * u.deg
    binned = np.sum(make_exposure_map(ltcube, irfs, geom).data * (image.solid_angle().to_value("sr") * cone), axis=(1, 2))
    expo = ROIExposure(irfs, ltcube, CRAB, 15 * u.deg, axis.center, source_radius=35 * u.deg)
    points, weights = expo.region_grid(psf=True)
    unbinned = np.sum(weights[:, None] * expo.evaluate(points, psf=True), axis=0)
    np.testing.assert_allclose(unbinned / binned, 1, atol=5e-3)
    expmap = UnbinnedExposureMap.compute(expo, srcrad=30 * u.deg, energy_range=(200 * u.MeV, 20 * u.GeV))
    expmap.write(tmp_path / "expmap.fits")
    read = UnbinnedExposureMap.read(tmp_path / "expmap.fits")
    np.testing.assert_allclose(read.integrate(1.0, axis.center) / binned, 1, atol=5e-3)


class _GaussianPSF:
    """Gaussian PSF of width sigma (rad), normalised on the sphere by `_psf_cumulative`."""

    def __init__(self, sigma):
        self.sigma = sigma

    def evaluate(self, energy, costheta, rad):
        rad = u.Quantity(rad, "rad").value
        shape = np.broadcast_shapes(np.shape(energy), np.shape(costheta), np.shape(rad))
        value = np.exp(-0.5 * (rad / self.sigma) ** 2) / (2 * np.pi * self.sigma**2)
        return u.Quantity(np.broadcast_to(value, shape), "sr-1")


def test_cone_containment_analytic():
    """Fraction of a Gaussian PSF inside a 5 deg cone vs the flat-sky result for an offset
    Gaussian: P(|X| < R) with |X|^2/sigma^2 a non-central chi2 (2 dof, lambda = (d/sigma)^2)."""
    sigma, radius = np.radians(0.3), np.radians(5.0)
    table = _ConeContainment(_GaussianPSF(sigma), radius, np.array([1000.0]), np.array([0.8]), np.radians(15))
    dist = np.radians([0.0, 2.0, 4.5, 4.9, 5.0, 5.1, 5.5, 6.5])
    values = table(dist)[:, 0, 0]
    expected = stats.ncx2.cdf((radius / sigma) ** 2, 2, (dist / sigma) ** 2)
    expected[0] = 1 - np.exp(-0.5 * (radius / sigma) ** 2)
    np.testing.assert_allclose(values, expected, atol=3e-3)


def test_crab_day_unbinned_matches_binned(unbinned_fit, binned_fit):
    """Crab index and amplitude from the unbinned and the fine-binned fit of the same 451 events
    (8 deg cone, Crab + isotropic + Galactic diffuse of the Fermitools) agree within 0.2 sigma."""
    assert unbinned_fit.n_events == binned_fit.counts.data[binned_fit.mask_fit.data].sum()
    ub = unbinned_fit.models["crab"].spectral_model
    b = binned_fit.models["crab"].spectral_model
    for name in ("index", "amplitude"):
        p_ub, p_b = getattr(ub, name), getattr(b, name)
        assert abs(p_ub.value - p_b.value) < 0.2 * p_b.error, (name, p_ub.value, p_b.value, p_b.error)
        assert p_ub.error == pytest.approx(p_b.error, rel=0.1)
    # the total prediction of an extended maximum likelihood equals the number of events
    assert unbinned_fit.npred().data.sum() == pytest.approx(unbinned_fit.n_events, rel=1e-3)
    assert 2.0 < ub.index.value < 2.7


def _without_covariance(dataset):
    """Copy of a dataset with copies of its fitted models without their covariance (Gammapy's
    estimators handle the covariance of every model at every step, which dominates their run
    time here)."""
    models = Models([m.copy(name=m.name) for m in dataset.models])
    for model in models:
        model.covariance = np.zeros((len(model.parameters), len(model.parameters)))
    copy = dataset.copy(name=f"{dataset.name}-sed")
    copy.models = models
    return copy


def test_flux_points_and_ts_match_binned(unbinned_fit, binned_fit):
    """SED (the Crab normalisation refitted per band on that band's events, with TS and, for the
    unbinned dataset, upper limits) and the source TS agree with the binned analysis."""
    from gammapy.estimators import FluxPointsEstimator

    from gammapy_lat.estimators import source_ts

    edges = [200, 1000, 5000, 20000] * u.MeV
    unbinned, binned = _without_covariance(unbinned_fit), _without_covariance(binned_fit)
    tables = []
    for dataset, optional in ((unbinned, ["ul"]), (binned, [])):
        estimator = FluxPointsEstimator(energy_edges=edges, source="crab", selection_optional=optional)
        tables.append(estimator.run([dataset]).to_table(sed_type="dnde"))
    ub, b = tables
    assert np.all(ub["success"])
    np.testing.assert_array_equal(ub["counts"].data.ravel(), b["counts"].data.ravel())
    pull = (ub["dnde"].quantity - b["dnde"].quantity) / b["dnde_err"].quantity
    assert np.all(np.abs(pull) < 0.3), pull
    np.testing.assert_allclose(ub["dnde_err"].quantity, b["dnde_err"].quantity, rtol=0.15)
    assert np.all(ub["dnde_ul"].quantity > ub["dnde"].quantity)
    np.testing.assert_allclose(np.sqrt(ub["ts"]), np.sqrt(b["ts"]), atol=1)
    # TS of the Crab (refit of the backgrounds without it): the instantaneous PSF of each event
    # makes the unbinned TS a little larger; the significances agree within 1 sigma
    ts_ub = source_ts(Datasets([unbinned]), ["crab"])["crab"]
    ts_b = source_ts(Datasets([binned]), ["crab"])["crab"]
    assert abs(np.sqrt(ts_ub) - np.sqrt(ts_b)) < 1, (ts_ub, ts_b)
    assert ts_ub > 200


def test_light_curve_of_interval_datasets(observation, caldb_path, unbinned_fit):
    """Light curve from one unbinned dataset per 8-hour interval (livetime cube per interval): the
    intervals hold every event of the day, and the constant Crab's fluxes agree with the day fit."""
    from gammapy.estimators import LightCurveEstimator

    t0 = observation.met_start
    intervals = [(t0 + i * 28800.0, t0 + (i + 1) * 28800.0) for i in range(3)]
    maker = UnbinnedLATDatasetMaker(irf_name=IRF, caldb=caldb_path, ltcube_kwargs={"nside": 32, "nbins": 20})
    reference = UnbinnedLATDataset.create(MapAxis.from_energy_bounds("200 MeV", "20 GeV", 4, name="energy"), CRAB, CONE, name="lc")
    datasets = maker.run_time_intervals(reference, observation, intervals)
    assert sum(d.n_events for d in datasets) == unbinned_fit.n_events
    models = Models([m.copy(name=m.name) for m in unbinned_fit.models])
    for model in models:
        model.covariance = np.zeros((len(model.parameters), len(model.parameters)))
    datasets.models = models
    ref = observation.lat_events.time_ref
    estimator = LightCurveEstimator(
        time_intervals=[(ref + a * u.s, ref + b * u.s) for a, b in intervals],
        source="crab",
        energy_edges=[200, 20000] * u.MeV,
        selection_optional=["ul"],
    )
    table = estimator.run(datasets).to_table(sed_type="flux", format="lightcurve")
    flux, err = table["flux"].quantity.ravel(), table["flux_err"].quantity.ravel()
    day = unbinned_fit.models["crab"].spectral_model.integral(200 * u.MeV, 20 * u.GeV)
    chi2 = np.sum(((flux - day) / err) ** 2).to_value("")
    assert chi2 < stats.chi2(len(flux)).ppf(0.999)
    assert np.all(table["ts"].ravel() > 25)


def test_write_read_roundtrip(unbinned_fit, tmp_path):
    from gammapy.datasets import DATASET_REGISTRY

    path = tmp_path / "ub.fits"
    unbinned_fit.write(path)
    read = DATASET_REGISTRY.get_cls("UnbinnedLATDataset").read(path, name="again")
    read.models = unbinned_fit.models
    assert read.n_events == unbinned_fit.n_events
    assert read.stat_sum() == pytest.approx(unbinned_fit.stat_sum(), rel=1e-9)
    np.testing.assert_allclose(read.npred().data, unbinned_fit.npred().data, rtol=1e-7)
    with pytest.raises(FileExistsError):
        unbinned_fit.write(path)


def test_isotropic_diffuse_response_is_the_exposure(unbinned, observation, caldb_path):
    """The per-event diffuse response of an isotropic source through the PSF (gtdiffrsp) is the
    effective area at the event (the PSF integrates to one), and the dataset uses DIFRSP columns
    carrying the gtdiffrsp label of a model."""
    irfs = LATIRFs.from_caldb(IRF, 3, caldb=caldb_path, edisp=False)
    events = observation.lat_events.select(ra=CRAB.ra.deg, dec=CRAB.dec.deg, rad=8)
    iso = SkyModel(PowerLawSpectralModel(index=2.3, amplitude="1e-9 cm-2 s-1 MeV-1", reference="1 GeV"),
                   ConstantSpatialModel(value="1 sr-1"), name="iso_psf")
    responses = compute_diffuse_responses(events, observation.spacecraft, irfs, Models([iso]))
    assert len(events) == unbinned.n_events
    response = unbinned._event_response()
    ratio = responses["iso_psf"] * response.efficiency / response.aeff_at_events()
    assert np.median(ratio) == pytest.approx(1, abs=3e-3)
    assert np.percentile(ratio, 2) > 0.96 and np.percentile(ratio, 98) < 1.02
    # the same values read from a DIFRSP column labelled p8r2_source_v6__iso_psf
    dataset = unbinned.copy(name="with-difrsp")
    label = diffuse_response_label(IRF + "::FRONT", "iso_psf")
    assert label == "p8r2_source_v6__iso_psf"
    dataset.diffuse_responses = {label: responses["iso_psf"] * 2}
    dataset.models = Models([iso])
    computed = unbinned.copy(name="computed")
    computed.models = Models([iso.copy(name="iso_psf")])
    np.testing.assert_allclose(dataset.density(), 2 * computed.density(), rtol=1e-6)


def test_extended_source_limits(unbinned):
    """A Gaussian source of 0.01 deg behaves as a point source; the two per-event quadratures of
    a 0.5 deg Gaussian (about the events, about the source) agree; its predicted counts are those
    of a point source (smooth exposure, source well inside the cone)."""
    spectrum = PowerLawSpectralModel(index=2.2, amplitude="3e-10 cm-2 s-1 MeV-1", reference="1 GeV")
    point = SkyModel(spectrum.copy(), PointSpatialModel.from_position(CRAB), name="point")
    tiny = SkyModel(spectrum.copy(), GaussianSpatialModel(lon_0=CRAB.ra, lat_0=CRAB.dec, sigma="0.01 deg"), name="tiny")
    wide = SkyModel(spectrum.copy(), GaussianSpatialModel(lon_0=CRAB.ra, lat_0=CRAB.dec, sigma="0.5 deg"), name="wide")
    dataset = unbinned.copy(name="extended")
    dataset.models = Models([point, tiny, wide])
    ev = dataset.evaluators
    near = unbinned._event_response().geometry.direction @ unit_vectors(CRAB.ra.deg, CRAB.dec.deg) > np.cos(np.radians(2))
    np.testing.assert_allclose(ev["tiny"].density()[near], ev["point"].density()[near], rtol=0.03)
    np.testing.assert_allclose(ev["tiny"].npred(), ev["point"].npred(), rtol=5e-3)
    np.testing.assert_allclose(ev["wide"].npred(), ev["point"].npred(), rtol=1e-2)
    response = dataset._event_response()
    evaluator = ev["wide"]
    points, solid_angle = evaluator._source_grid()
    about_events = response.integrate_around_events(evaluator.intensity)
    about_source = response.integrate_over_points(points, solid_angle, evaluator.intensity(points))
    ratio = about_events[near] / about_source[near]
    assert np.median(ratio) == pytest.approx(1, abs=0.01)
    assert np.percentile(np.abs(ratio - 1), 90) < 0.05


def test_energy_dependent_template_equals_its_model(unbinned):
    """A map cube (energy axis) sampling a 0.3 deg Gaussian gives the Gaussian's densities and
    predicted counts (template and energy-dependent paths)."""
    gauss = GaussianSpatialModel(lon_0=CRAB.ra, lat_0=CRAB.dec, sigma="0.3 deg")
    axis = MapAxis.from_nodes([100, 3000, 100000] * u.MeV, name="energy_true", interp="log")
    geom = WcsGeom.create(skydir=CRAB, binsz=0.02, width=3.2, frame="icrs", axes=[axis])
    coords = geom.to_image().get_coord()
    image = gauss(coords.lon, coords.lat).to_value("sr-1")
    cube = Map.from_geom(geom, data=np.repeat(image[None], 3, axis=0), unit="sr-1")
    spectrum = PowerLawSpectralModel(index=2.2, amplitude="3e-10 cm-2 s-1 MeV-1", reference="1 GeV")
    model = SkyModel(spectrum.copy(), gauss, name="gauss")
    template = SkyModel(spectrum.copy(), TemplateSpatialModel(cube, normalize=False), name="cube")
    dataset = unbinned.copy(name="template")
    dataset.models = Models([model, template])
    ev = dataset.evaluators
    assert ev["cube"].energy_dependent and ev["cube"].is_compact
    np.testing.assert_allclose(ev["cube"].npred(), ev["gauss"].npred(), rtol=0.01)
    near = dataset.events.direction @ unit_vectors(CRAB.ra.deg, CRAB.dec.deg) > np.cos(np.radians(1.5))
    ratio = ev["cube"].density()[near] / ev["gauss"].density()[near]
    assert np.median(ratio) == pytest.approx(1, abs=0.01)
    assert np.percentile(np.abs(ratio - 1), 90) < 0.03


def test_energy_dispersion_npred_matches_binned(observation, ltcube, caldb_path):
    """With energy dispersion, the Crab's predicted counts per reconstructed-energy bin equal those
    of a binned dataset with the gtdrm-like kernel map (Gammapy's evaluation) within 3 %."""
    axis = MapAxis.from_energy_bounds("300 MeV", "10 GeV", 6, name="energy")
    reference = UnbinnedLATDataset.create(axis, CRAB, 8 * u.deg, name="edisp")
    maker = UnbinnedLATDatasetMaker(irf_name=IRF, caldb=caldb_path, ltcube=ltcube, apply_edisp=True)
    dataset = maker.run(reference, observation)
    model = SkyModel(PowerLawSpectralModel(index=2.3, amplitude="3e-10 cm-2 s-1 MeV-1", reference="1 GeV"),
                     PointSpatialModel.from_position(CRAB), name="crab")
    dataset.models = Models([model])
    unbinned = dataset.npred().data.ravel()

    true_axis = MapAxis.from_energy_bounds("75 MeV", "40 GeV", 48, name="energy_true")
    geom = WcsGeom.create(skydir=CRAB, binsz=0.25, width=20, frame="icrs", axes=[axis])
    empty = create_lat_map_dataset(geom, energy_axis_true=true_axis, name="binned-edisp", binsz_irf=2)
    binned = LATMapDatasetMaker(irf_name=IRF, caldb=caldb_path, ltcube=ltcube).run(empty, observation)
    binned.models = Models([model.copy(name="crab")])
    npred = binned.npred()
    inside = geom.to_image().get_coord().skycoord.separation(CRAB) < 8 * u.deg
    expected = np.sum(npred.data * inside[None], axis=(1, 2))
    np.testing.assert_allclose(unbinned, expected, rtol=0.03)
    # and the likelihood with dispersion fits
    assert Fit().run([dataset]).success


def test_bad_inputs(unbinned, observation, caldb_path, ltcube):
    spectrum = PowerLawSpectralModel()
    timed = SkyModel(spectrum, PointSpatialModel.from_position(CRAB), temporal_model=ExpDecayTemporalModel(), name="t")
    with pytest.raises(GammapyLATError, match="temporal model"):
        unbinned.copy().models = Models([timed])
    nopsf = SkyModel(PowerLawSpectralModel(), PointSpatialModel.from_position(CRAB), name="p",
                     apply_irf={"psf": False, "exposure": True, "edisp": True})
    with pytest.raises(GammapyLATError, match="point source needs the PSF"):
        unbinned.copy().models = Models([nopsf])
    geom = WcsGeom.create(skydir=CRAB, binsz=1, width=3, axes=[ENERGY_AXIS])
    npred_model = TemplateNPredModel(Map.from_geom(geom), name="bkg")
    with pytest.raises(GammapyLATError, match="only SkyModel"):
        unbinned.copy().models = Models([npred_model])
    # a cone beyond the 15 deg acceptance cone of the events
    far = UnbinnedLATDataset.create(ENERGY_AXIS, SkyCoord(83.6331, 30.0, unit="deg"), 10 * u.deg)
    with pytest.raises(SelectionError, match="beyond the acceptance cone"):
        UnbinnedLATDatasetMaker(irf_name=IRF, caldb=caldb_path, ltcube=ltcube).run(far, observation)
    # an energy axis beyond the selection
    wide = UnbinnedLATDataset.create(MapAxis.from_energy_bounds("100 MeV", "20 GeV", 5, name="energy"), CRAB, CONE)
    with pytest.raises(SelectionError, match="energy selection"):
        UnbinnedLATDatasetMaker(irf_name=IRF, caldb=caldb_path, ltcube=ltcube).run(wide, observation)
    # events outside the spacecraft rows
    short = observation.copy(spacecraft=observation.spacecraft.select_time(observation.met_start, observation.met_start + 3600))
    with pytest.raises(LATDataError, match="outside the spacecraft rows"):
        UnbinnedLATDatasetMaker(irf_name=IRF, caldb=caldb_path, ltcube=ltcube).run(
            UnbinnedLATDataset.create(ENERGY_AXIS, CRAB, CONE), short
        )
