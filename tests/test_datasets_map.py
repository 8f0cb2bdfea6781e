"""LATMapDataset: the incremental likelihood gives the statistic of a plain Gammapy evaluation.

The dataset is the kit's one-day Crab data reduced by `LATMapDatasetMaker` (0.4 deg pixels, 10
energy bins, PSF and energy dispersion), with the 3FGL ROI model (point, template and Gaussian
sources, most frozen), the isotropic background and the Galactic diffuse model map of gtsrcmaps
as a template. The reference at each parameter point is a fresh Gammapy `MapDataset` on the same
maps and IRF kernels, evaluated by Gammapy's `MapEvaluator` (and once from scratch), with Gammapy's
own `Datasets.stat_sum`.
"""
import logging

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from gammapy.datasets import Datasets, MapDataset
from gammapy.maps import Map, MapAxis, WcsGeom
from gammapy.modeling.models import GaussianPrior, Models, TemplateNPredModel

from gammapy_lat.datasets import LATMapDataset, fixes
from gammapy_lat.irf import LATEDispKernelMap, LATPSFMap
from gammapy_lat.models.catalog import catalog_roi_models
from test_models_crab_day import gtsrcmaps_npred

CRAB = SkyCoord(83.6331, 22.0145, unit="deg")
PULSAR = "3FGL J0534.5+2201"


@pytest.fixture(scope="module")
def roi(crab_day, caldb_path, gammapy_data):
    from gammapy.catalog import SourceCatalog3FGL

    from gammapy_lat.data import LATObservation
    from gammapy_lat.makers import LATMapDatasetMaker, LATSafeMaskMaker, create_isotropic_model, create_lat_map_dataset

    logging.getLogger("gammapy").setLevel(logging.ERROR)
    counts = Map.read(crab_day / "cntmap.fits.gz")
    edges = counts.geom.axes["energy"].edges
    axis = MapAxis.from_edges(edges[::2], name="energy", interp="log")
    geom = WcsGeom.create(
        skydir=counts.geom.center_skydir, binsz=0.4, width=20, frame="galactic", proj="CAR", axes=[axis]
    )
    obs = LATObservation.read(crab_day / "ft1.fits.gz", crab_day / "ft2.fits.gz")
    maker = LATMapDatasetMaker(irf_name="P8R2_SOURCE_V6", caldb=caldb_path, ltcube=crab_day / "ltcube.fits.gz")
    dataset = maker.run(create_lat_map_dataset(geom, name="crab-day"), obs)
    dataset = LATSafeMaskMaker().run(dataset, obs)

    gal = gtsrcmaps_npred(crab_day / "srcmap.fits.gz", "Galactic_diffuse", counts.geom)
    gal_map = Map.from_geom(geom, data=gal.downsample(2, preserve_counts=True).resample_axis(axis).data)
    galactic = TemplateNPredModel(gal_map, datasets_names=[dataset.name], name="galactic")
    galactic.spectral_model.tilt.frozen = False
    isotropic = create_isotropic_model(
        crab_day / "iso_P8R2_SOURCE_V6_v06.txt", name="isotropic", datasets_names=[dataset.name]
    )
    catalog = SourceCatalog3FGL(gammapy_data / "catalogs" / "fermi" / "gll_psc_v16.fit.gz")
    sources = catalog_roi_models(
        catalog, CRAB, "10 deg", margin="1 deg", free_radius="3 deg",
        extended_dir=gammapy_data / "catalogs" / "fermi" / "LAT_extended_sources_16years",
    )
    models = Models(list(sources) + [galactic, isotropic])
    return dataset, models


def plain_datasets(dataset, models):
    """Gammapy MapDataset on the same maps and IRFs, with the same model objects."""
    plain = MapDataset(
        counts=dataset.counts, exposure=dataset.exposure, psf=dataset.psf, edisp=dataset.edisp,
        mask_safe=dataset.mask_safe, mask_fit=dataset.mask_fit, gti=dataset.gti, name=dataset.name,
    )
    datasets = Datasets([plain])
    datasets.models = models
    return datasets


def plain_stat(dataset, models):
    """Statistic of a fresh Gammapy MapDataset on the same maps, from scratch."""
    return fixes.GAMMAPY_STAT_SUM(plain_datasets(dataset, models))


def test_dataset_classes(roi):
    dataset, models = roi
    assert isinstance(dataset, LATMapDataset)
    assert isinstance(dataset.psf, LATPSFMap)
    assert isinstance(dataset.edisp, LATEDispKernelMap)
    kinds = {type(m.spatial_model).__name__ for m in models if hasattr(m, "spatial_model")}
    assert {"PointSpatialModel", "TemplateSpatialModel", "GaussianSpatialModel", "ConstantSpatialModel"} <= kinds


def test_cached_statistic_equals_plain(roi):
    dataset, models = roi
    models = models.copy()
    datasets = Datasets([dataset])
    datasets.models = models
    pulsar = models[PULSAR]
    frozen_source = next(
        m for m in models if m.name != PULSAR and hasattr(m, "spatial_model") and m.spatial_model is not None
        and m.spatial_model.tag[0] == "PointSpatialModel" and all(p.frozen for p in m.parameters)
    )
    free_source = next(m for m in models if m.name != PULSAR and not all(p.frozen for p in m.spectral_model.parameters))

    plain = plain_datasets(dataset, models)

    def check(label):
        cached = datasets.stat_sum()
        again = datasets.stat_sum()
        reference = fixes.GAMMAPY_STAT_SUM(plain)
        assert type(plain[0]) is MapDataset
        assert cached == again, label
        assert cached == pytest.approx(reference, rel=1e-6, abs=0), label
        return cached

    values = [check("start")]
    # spectral parameters of a free source (norm, then shape)
    pulsar.spectral_model.amplitude.value *= 1.3
    values.append(check("norm"))
    pulsar.spectral_model.index_1.value += 0.1
    values.append(check("index"))
    # background templates
    models["galactic"].spectral_model.tilt.value = 0.05
    models["isotropic"].spectral_model.model2.norm.value = 1.2
    values.append(check("backgrounds"))
    # position: a small shift, then one across PSF-map pixels (the evaluator is updated)
    pulsar.spatial_model.lon_0.value += 0.1
    values.append(check("position 0.1 deg"))
    pulsar.spatial_model.lat_0.value += 1.5
    values.append(check("position 1.5 deg"))
    # a frozen source changed without freeing it, then freed and changed, then frozen again
    frozen_source.spectral_model.parameters[0].value *= 2
    values.append(check("frozen source changed"))
    free_par = frozen_source.spectral_model.parameters[0]
    free_par.frozen = False
    free_par.value *= 1.5
    values.append(check("frozen source freed"))
    for par in free_source.parameters:
        par.frozen = True
    free_source.spectral_model.parameters[0].value *= 0.5
    values.append(check("free source frozen"))
    # a component replaced after the models were set
    pulsar.spectral_model = pulsar.spectral_model.copy()
    pulsar.spectral_model.parameters[0].value *= 0.9
    values.append(check("component replaced"))
    # and from scratch
    assert values[-1] == pytest.approx(plain_stat(dataset, models), rel=1e-6, abs=0)
    # every step changed the statistic
    assert len(set(np.round(values, 6))) == len(values)


def test_models_set_again_and_priors(roi):
    dataset, models = roi
    models = models.copy()
    datasets = Datasets([dataset])
    datasets.models = models
    first = datasets.stat_sum()
    index = models[PULSAR].spectral_model.index_1
    index.prior = GaussianPrior(mu=2.0, sigma=0.1)
    with_prior = datasets.stat_sum()
    assert with_prior == pytest.approx(fixes.GAMMAPY_STAT_SUM(datasets), rel=1e-12)
    # the Gaussian prior term, -2 ln of the normal density
    expected = ((index.value - 2.0) / 0.1) ** 2 + np.log(2 * np.pi * 0.1**2)
    assert with_prior - first == pytest.approx(expected, rel=1e-9)
    # new models on the dataset
    other = Models([m for m in models if m.name != "galactic"])
    datasets.models = other
    assert datasets.stat_sum() == pytest.approx(plain_stat(dataset, other), rel=1e-6)


def test_npred_matches_gammapy_kernels(roi):
    """With Gammapy's own PSF and energy-dispersion maps (PSF interpolated between PSF-map pixels),
    the predicted counts differ by little: the LAT PSF varies slowly across the 2 deg PSF pixels."""
    from gammapy.irf import EDispKernelMap, PSFMap

    dataset, models = roi
    # the pulsar, the template and the Gaussian source, and the backgrounds
    names = [PULSAR, "3FGL J0540.3+2756e", "3FGL J0617.2+2234e", "galactic", "isotropic"]
    models = Models([models[name] for name in names])
    datasets = Datasets([dataset])
    datasets.models = models.copy()
    npred = dataset.npred()
    plain = MapDataset(
        counts=dataset.counts, exposure=dataset.exposure,
        psf=PSFMap(dataset.psf.psf_map, exposure_map=dataset.psf.exposure_map),
        edisp=EDispKernelMap(dataset.edisp.edisp_map, exposure_map=dataset.edisp.exposure_map),
        mask_safe=dataset.mask_safe, name=dataset.name,
    )
    plain.models = models.copy()
    reference = plain.npred()
    assert type(plain.psf) is PSFMap
    total, ref_total = npred.data.sum(), reference.data.sum()
    assert total == pytest.approx(ref_total, rel=1e-3)
    # per energy bin within 0.5 %
    np.testing.assert_allclose(npred.data.sum(axis=(1, 2)), reference.data.sum(axis=(1, 2)), rtol=5e-3)
    assert dataset.stat_sum() == pytest.approx(plain.stat_sum(), rel=1e-4)


def test_written_and_read_back(roi, tmp_path):
    from gammapy_lat.analysis.products import read_datasets, write_datasets
    from gammapy_lat.datasets import as_lat_dataset

    dataset, models = roi
    models = Models([models[name] for name in (PULSAR, "galactic", "isotropic")]).copy()
    models["galactic"].filename = str(tmp_path / "galactic.fits")
    datasets = Datasets([dataset])
    datasets.models = models
    expected = datasets.stat_sum()
    # Gammapy's writer and reader: a plain MapDataset file
    datasets.write(tmp_path / "gammapy" / "datasets.yaml", filename_models=tmp_path / "gammapy" / "models.yaml")
    back = Datasets.read(tmp_path / "gammapy" / "datasets.yaml", filename_models=tmp_path / "gammapy" / "models.yaml")
    assert type(back[0]) is MapDataset
    assert fixes.GAMMAPY_STAT_SUM(back) == pytest.approx(expected, rel=1e-9)
    # (a lazy read has no meta table, hence nothing that tells a LAT dataset)
    back = Datasets.read(
        tmp_path / "gammapy" / "datasets.yaml", filename_models=tmp_path / "gammapy" / "models.yaml", lazy=False
    )
    lat = Datasets([as_lat_dataset(back[0])])
    assert isinstance(lat[0], LATMapDataset) and isinstance(lat[0].psf, LATPSFMap)
    lat.models = back.models
    assert lat.stat_sum() == pytest.approx(expected, rel=1e-9)
    assert isinstance(LATMapDataset.read(tmp_path / "gammapy" / f"{dataset.name}.fits"), LATMapDataset)
    # the runner's products
    write_datasets(datasets, tmp_path / "runner")
    runner = read_datasets(tmp_path / "runner")
    assert isinstance(runner[0], LATMapDataset)
    runner.models = models
    assert runner.stat_sum() == pytest.approx(expected, rel=1e-9)


def test_flux_points_as_plain(roi):
    """FluxPointsEstimator (energy slices of the dataset, models copied and set again) gives the
    flux points of the plain Gammapy dataset."""
    from gammapy.estimators import FluxPointsEstimator

    dataset, models = roi
    names = [PULSAR, "3FGL J0534.5+2201s", "galactic", "isotropic"]
    results = []
    for data in (dataset, plain_datasets(dataset, Models([]))[0]):
        datasets = Datasets([data])
        datasets.models = Models([models[name] for name in names]).copy()
        estimator = FluxPointsEstimator(energy_edges=[200, 2000, 20000] * u.MeV, source=PULSAR, selection_optional=["ul"])
        results.append(estimator.run(datasets))
    ours, plain = results
    for quantity in ("norm", "norm_err", "norm_ul", "ts"):
        np.testing.assert_allclose(getattr(ours, quantity).data, getattr(plain, quantity).data, rtol=1e-4)
    assert np.all(ours.ts.data > 25)


def test_ts_map_as_plain(roi):
    """TSMapEstimator (padded and downsampled copies, a kernel from the PSF map) gives the TS map of
    the plain Gammapy dataset; the kernel comes from the shared cache."""
    from gammapy.estimators import TSMapEstimator

    from gammapy_lat.irf import PSF_KERNEL_CACHE

    dataset, models = roi
    names = [PULSAR, "isotropic"]
    maps = []
    for data in (dataset, plain_datasets(dataset, Models([]))[0]):
        data.models = Models([models[name] for name in names]).copy()
        hits = PSF_KERNEL_CACHE.hits
        estimator = TSMapEstimator(kernel_width="2 deg", selection_optional=[], energy_edges=[1000, 20000] * u.MeV)
        maps.append(estimator.run(data))
        assert PSF_KERNEL_CACHE.hits > hits
    ours, plain = maps
    # (2 of the 2500 pixels end the per-pixel fit at a large negative TS, where it is
    # ill-conditioned and rounding decides: they are left out)
    good = (ours["ts"].data > -1) & (plain["ts"].data > -1)
    assert good.mean() > 0.99
    np.testing.assert_allclose(ours["ts"].data[good], plain["ts"].data[good], rtol=1e-4, atol=1e-3)
    assert np.nanmax(ours["ts"].data) > 25
