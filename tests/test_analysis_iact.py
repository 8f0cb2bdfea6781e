"""IACT analyses from the shipped configs: end-to-end runs, parity with Gammapy's own `Analysis`,
step skipping and reruns after a changed setting."""
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from gammapy_lat.analysis import Analysis, AnalysisConfig
from gammapy_lat.cli import cli
from gammapy_lat.utils.io import TMP_PREFIX

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.fixture(scope="module")
def data_env(shared_path):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GAMMAPY_LAT_DATA", str(shared_path / "data"))
        yield shared_path / "data"


def _hess_3d_config(outdir):
    """The shipped H.E.S.S. Crab 3D config on a coarser grid (test speed)."""
    config = AnalysisConfig.read(CONFIGS / "hess-crab-3d.yaml")
    config.general.outdir = str(outdir)
    config.general.progress_bar = False
    block = config.datasets[0]
    block.geom.wcs.binsize = "0.1 deg"
    block.geom.wcs.width = {"width": "3 deg", "height": "3 deg"}
    config.estimators.flux_points.energy.nbins = 2
    return config


@pytest.fixture(scope="module")
def hess_3d(data_env, tmp_path_factory):
    outdir = tmp_path_factory.mktemp("hess3d")
    analysis = Analysis(_hess_3d_config(outdir))
    analysis.run()
    return analysis


def _status(analysis):
    return {r.name: r.status for r in analysis.records}


def test_hess_crab_3d_products(hess_3d):
    out = hess_3d.outdir
    for name in [
        "reduce/hess-crab/datasets.yaml",
        "reduce/hess-crab/hess-crab.fits",
        "fit/models.yaml",
        "fit/models_covariance.dat",
        "fit/fit_result.yaml",
        "fit/parameters.ecsv",
        "estimate/flux_points.fits",
        "estimate/excess_map_hess-crab.fits",
        "estimate/theta2_hess-crab.ecsv",
        "report/summary.txt",
        "report/sed.png",
    ]:
        assert (out / name).is_file(), name
    assert not list(out.rglob(TMP_PREFIX + "*"))
    assert set(_status(hess_3d).values()) == {"ran"}
    assert hess_3d.fit_result["success"]
    # the theta2 excess at the Crab is significant and the table covers the four runs' events
    from astropy.table import Table

    theta2 = Table.read(out / "estimate/theta2_hess-crab.ecsv")
    assert theta2["excess"][0] > 50
    # the signal inside the 0.11 deg cut (bin edge 0.1149 deg) and its Li & Ma significance
    signal = theta2.meta["signal"]
    inside = theta2["theta2_max"] <= 0.0133 + 1e-4
    n_on, n_off = theta2["counts"][inside].sum(), theta2["counts_off"][inside].sum()
    li_ma = np.sqrt(2 * (n_on * np.log(2 * n_on / (n_on + n_off)) + n_off * np.log(2 * n_off / (n_on + n_off))))
    assert signal["n_on"] == n_on and signal["significance"] == pytest.approx(li_ma, rel=1e-6)
    assert (out / "report/theta2_hess-crab.png").is_file()
    assert "Li & Ma" in (out / "report/summary.txt").read_text()
    assert "crab" in hess_3d.summary()


def test_hess_crab_3d_parity_with_gammapy(hess_3d, data_env):
    """Same reduction and fit through Gammapy's own high-level `Analysis`: results within 1 %."""
    from gammapy.analysis import Analysis as GammapyAnalysis
    from gammapy.analysis import AnalysisConfig as GammapyConfig
    from gammapy.modeling.models import Models

    config = GammapyConfig.from_yaml(
        f"""
observations:
    datastore: {data_env}/gammapy-data/hess-dl3-dr1
    obs_ids: [23523, 23526, 23559, 23592]
datasets:
    type: 3d
    stack: true
    geom:
        wcs:
            skydir: {{frame: icrs, lon: 83.633 deg, lat: 22.014 deg}}
            binsize: 0.1 deg
            width: {{width: 3 deg, height: 3 deg}}
            binsize_irf: 0.2 deg
        selection: {{offset_max: 2.5 deg}}
        axes:
            energy: {{min: 1 TeV, max: 10 TeV, nbins: 6}}
            energy_true: {{min: 0.5 TeV, max: 20 TeV, nbins: 12}}
    map_selection: ['counts', 'exposure', 'background', 'psf', 'edisp']
    safe_mask: {{methods: ['offset-max'], parameters: {{offset_max: 2.5 deg}}}}
    background: {{method: fov_background, parameters: {{method: 'scale'}}}}
fit:
    fit_range: {{min: 1 TeV, max: 10.00001 TeV}}
"""
    )
    # Gammapy compares the 10 TeV limit with the 10.000000000000002 TeV last edge as floats and
    # drops the last bin; the runner compares edges with a 1e-6 tolerance and keeps it. The
    # reference gets a limit just above the edge, so that both fit the same six bins.
    reference = GammapyAnalysis(config)
    reference.get_observations()
    reference.get_datasets()
    reference.set_models(Models.read(CONFIGS / "hess-crab-models.yaml"))
    reference.run_fit()
    assert reference.fit_result.success

    ours = hess_3d.datasets[0]
    theirs = reference.datasets[0]
    np.testing.assert_array_equal(ours.counts.data, theirs.counts.data)
    for name in ("amplitude", "index", "lon_0", "lat_0"):
        expected = reference.models["crab"].parameters[name]
        got = hess_3d.models["crab"].parameters[name]
        assert got.value == pytest.approx(expected.value, rel=0.01), name
        assert got.error == pytest.approx(expected.error, rel=0.05), name
    bkg = hess_3d.models[f"{ours.name}-bkg"].spectral_model.norm.value
    assert bkg == pytest.approx(reference.models[f"{theirs.name}-bkg"].spectral_model.norm.value, rel=0.01)


def test_hess_crab_3d_rerun_and_changes(hess_3d):
    out = hess_3d.outdir
    fit_mtime = (out / "fit/models.yaml").stat().st_mtime_ns
    dataset_mtime = (out / "reduce/hess-crab/hess-crab.fits").stat().st_mtime_ns

    # 1. same config: nothing runs
    again = Analysis(_hess_3d_config(out))
    again.run()
    assert set(_status(again).values()) == {"up to date"}
    assert (out / "fit/models.yaml").stat().st_mtime_ns == fit_mtime
    assert again.models["crab"].spectral_model.index.value == pytest.approx(
        hess_3d.models["crab"].spectral_model.index.value
    )

    # 2. an estimator setting: only that estimator and the report run
    config = _hess_3d_config(out)
    config.estimators.excess_map.correlation_radius = "0.2 deg"
    changed = Analysis(config)
    changed.run()
    status = _status(changed)
    assert status["estimate/excess_map"] == "ran" and status["report"] == "ran"
    assert status["reduce/hess-crab"] == status["fit"] == status["estimate/flux_points"] == "up to date"

    # 3. the fit range: fit, estimators and report rerun, the reduction does not
    config.fit.energy_range.min = "1.5 TeV"
    changed = Analysis(config)
    changed.run()
    status = _status(changed)
    assert status["reduce/hess-crab"] == "up to date"
    assert status["fit"] == status["estimate/flux_points"] == status["estimate/theta2"] == "ran"
    assert (out / "reduce/hess-crab/hess-crab.fits").stat().st_mtime_ns == dataset_mtime

    # 4. one step alone through the CLI, same settings: up to date
    path = out / "config.yaml"
    config.models[0].file = str(CONFIGS / "hess-crab-models.yaml")  # same file, spelled absolute
    config.write(path)
    result = CliRunner().invoke(cli, ["run", str(path), "--steps", "fit"])
    assert result.exit_code == 0, result.output
    assert "fit" in result.output and "up to date" in result.output and "ran " not in result.output


def test_magic_rad_max_1d(data_env, tmp_path):
    """Point-like IRFs with energy-dependent RAD_MAX: the runner's dataset equals the one made
    directly with Gammapy's makers, and changing the binning reruns the reduction."""
    from astropy.coordinates import SkyCoord
    from gammapy.data import DataStore
    from gammapy.datasets import Datasets, SpectrumDataset
    from gammapy.makers import (
        ReflectedRegionsBackgroundMaker,
        SafeMaskMaker,
        SpectrumDatasetMaker,
        WobbleRegionsFinder,
    )
    from gammapy.maps import MapAxis, RegionGeom
    from regions import PointSkyRegion

    config = AnalysisConfig.read(CONFIGS / "magic-crab-radmax-1d.yaml")
    config.general.outdir = str(tmp_path)
    config.general.progress_bar = False
    config.estimators.flux_points.energy.nbins = 3
    analysis = Analysis(config)
    analysis.run()
    assert (tmp_path / "report/sed.png").is_file()
    ours = analysis.datasets[0]

    # direct reduction with Gammapy's makers
    store = DataStore.from_dir(data_env / "gammapy-data/magic/rad_max/data")
    observations = store.get_observations(required_irf="point-like")
    target = SkyCoord(83.633, 22.014, unit="deg", frame="icrs")
    energy = MapAxis.from_energy_bounds("80 GeV", "10 TeV", nbin=5, per_decade=True)
    energy_true = MapAxis.from_energy_bounds("10 GeV", "100 TeV", nbin=10, per_decade=True, name="energy_true")
    assert np.allclose(ours.counts.geom.axes["energy"].edges, energy.edges)
    reference = SpectrumDataset.create(RegionGeom.create(PointSkyRegion(target), axes=[energy]),
                                       energy_axis_true=energy_true)
    maker = SpectrumDatasetMaker(containment_correction=False, selection=["counts", "exposure", "edisp"])
    bkg = ReflectedRegionsBackgroundMaker(region_finder=WobbleRegionsFinder(n_off_regions=3))
    safe = SafeMaskMaker(methods=["aeff-max"], aeff_percent=10)
    direct = Datasets()
    for obs in observations:
        dataset = maker.run(reference.copy(), obs)
        direct.append(safe.run(bkg.run(dataset, obs), obs))
    stacked = direct.stack_reduce()
    np.testing.assert_array_equal(ours.counts.data, stacked.counts.data)
    np.testing.assert_array_equal(ours.counts_off.data, stacked.counts_off.data)
    np.testing.assert_allclose(ours.exposure.data, stacked.exposure.data, rtol=1e-6)
    assert ours.counts.data.sum() > 500

    config.datasets[0].geom.axes.energy.nbins_per_decade = 4
    rerun = Analysis(config)
    rerun.run(steps=["reduce", "fit"])
    assert _status(rerun)["reduce/magic-crab"] == "ran" and _status(rerun)["fit"] == "ran"


def test_hess_pks2155_1d(data_env, tmp_path):
    config = AnalysisConfig.read(CONFIGS / "hess-pks2155-1d.yaml")
    config.general.outdir = str(tmp_path)
    config.general.progress_bar = False
    config.datasets[0].observations.obs_ids = [33787, 33788, 33789]
    config.datasets[0].geom.axes.energy.nbins_per_decade = None
    config.datasets[0].geom.axes.energy.nbins = 10
    config.datasets[0].geom.axes.energy_true.nbins_per_decade = None
    config.datasets[0].geom.axes.energy_true.nbins = 21
    config.estimators.flux_points.energy.nbins = 2
    config.estimators.flux_points.selection_optional = []
    config.estimators.light_curve.selection_optional = []
    analysis = Analysis(config)
    analysis.run()
    assert analysis.datasets.names == ["hess-pks2155-33787", "hess-pks2155-33788", "hess-pks2155-33789"]
    from gammapy.estimators import FluxPoints

    lc = FluxPoints.read(tmp_path / "estimate/light_curve.fits", format="lightcurve")
    assert lc.geom.axes["time"].nbin == 3
    assert np.all(np.isfinite(lc.flux.data))
    # Gammapy's own `Analysis` on the equivalent 1D config (same runs, ON region, reflected
    # background, aeff-max 10 % safe mask, 0.3-10 TeV fit), run live as the reference
    from gammapy.analysis import Analysis as GammapyAnalysis
    from gammapy.analysis import AnalysisConfig as GammapyConfig
    from gammapy.modeling.models import Models

    reference = GammapyAnalysis(
        GammapyConfig.from_yaml(
            f"""
observations:
    datastore: {data_env}/gammapy-data/hess-dl3-dr1
    obs_ids: [33787, 33788, 33789]
datasets:
    type: 1d
    stack: false
    geom:
        axes:
            energy: {{min: 0.2 TeV, max: 20 TeV, nbins: 10}}
            energy_true: {{min: 0.1 TeV, max: 40 TeV, nbins: 21}}
    on_region: {{frame: icrs, lon: 329.71693 deg, lat: -30.225588 deg, radius: 0.11 deg}}
    containment_correction: true
    safe_mask: {{methods: ['aeff-max'], parameters: {{aeff_percent: 10}}}}
    background: {{method: reflected}}
fit:
    fit_range: {{min: 0.3 TeV, max: 10 TeV}}
"""
        )
    )
    reference.get_observations()
    reference.get_datasets()
    reference.set_models(Models.read(CONFIGS / "pks2155-models.yaml"))
    reference.run_fit()
    assert reference.fit_result.success
    expected = reference.models["pks2155"].spectral_model
    got = analysis.models["pks2155"].spectral_model
    assert got.index.value == pytest.approx(expected.index.value, rel=1e-3)
    assert got.amplitude.quantity.to_value("cm-2 s-1 TeV-1") == pytest.approx(
        expected.amplitude.quantity.to_value("cm-2 s-1 TeV-1"), rel=1e-3
    )
    assert (tmp_path / "report/light_curve.png").is_file()


def test_exclusion_mask_from_config(data_env):
    """Exclusion from a DS9 region file, from circles in the config and from a mask file: pixels
    within 0.3 deg of the Crab are excluded, as computed directly from the separations."""
    from astropy.coordinates import SkyCoord
    from gammapy.maps import WcsGeom

    from gammapy_lat.analysis.config import ExclusionConfig
    from gammapy_lat.analysis.reduce import make_exclusion_mask

    config = AnalysisConfig.read(CONFIGS / "hess-crab-3d.yaml")
    crab = SkyCoord(83.633008, 22.013995, unit="deg")
    geom = WcsGeom.create(skydir=crab, width=3, binsz=0.05, frame="icrs")
    separation = geom.get_coord().skycoord.separation(crab).deg
    expected = separation >= 0.3

    from_file = make_exclusion_mask(
        ExclusionConfig(region_file="gammapy-data/joint-crab/exclusion/Crab_exclusion.reg"), config, geom
    )
    from_circle = make_exclusion_mask(
        ExclusionConfig(regions=[{"lon": "83.633008 deg", "lat": "22.013995 deg", "radius": "0.3 deg"}]), config, geom
    )
    far = np.abs(separation - 0.3) > 0.04  # pixel-centre convention at the rim
    np.testing.assert_array_equal(from_file.data[far], expected[far])
    np.testing.assert_array_equal(from_circle.data, from_file.data)
    # the kit's exclusion mask (TAN, 0.02 deg) interpolated onto this grid
    from_mask = make_exclusion_mask(
        ExclusionConfig(mask="gammapy-data/joint-crab/exclusion/exclusion_mask_crab.fits.gz"), config, geom
    )
    assert not from_mask.data[separation < 0.2].any()
    assert from_mask.data[separation > 1.0].all()
    assert make_exclusion_mask(ExclusionConfig(), config, geom) is None


def test_ts_map(hess_3d):
    """TS map of a point source on the stacked H.E.S.S. cube with the Crab model removed: the
    maximum lies at the Crab and is highly significant."""
    from astropy.coordinates import SkyCoord

    config = _hess_3d_config(hess_3d.outdir)
    config.estimators.ts_map = {"energy": {"min": "1 TeV", "max": "10 TeV"}, "kernel_width": "0.3 deg",
                                "exclude": ["crab"]}
    analysis = Analysis(config)
    analysis.estimate(estimators=["ts_map"])
    maps = analysis.maps["ts_hess-crab"]
    sqrt_ts = maps.sqrt_ts.data[0]
    iy, ix = np.unravel_index(np.nanargmax(sqrt_ts), sqrt_ts.shape)
    peak = maps.sqrt_ts.geom.pix_to_coord((ix, iy, 0))
    position = SkyCoord(peak[0], peak[1], frame="icrs")
    assert position.separation(SkyCoord(83.633, 22.014, unit="deg")).deg < 0.1
    assert np.nanmax(sqrt_ts) > 20
    assert (hess_3d.outdir / "estimate/ts_map_hess-crab.fits").is_file()
