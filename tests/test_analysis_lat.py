"""LAT blocks: FT1/FT2 reduced by the runner through gammapy_lat's makers, alone and jointly with
H.E.S.S. DL3 data."""
from pathlib import Path

import numpy as np
import pytest

from gammapy_lat.analysis import Analysis, AnalysisConfig

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.fixture
def data_env(shared_path, monkeypatch):
    monkeypatch.setenv("GAMMAPY_LAT_DATA", str(shared_path / "data"))
    return shared_path / "data"


def test_lat_crab_day_counts_match_gtbin(data_env, crab_day, tmp_path):
    """The shipped LAT config on the grid of the Fermitools counts cube (gtbin, 0.2 deg GAL CAR,
    10 bins per decade) rebinned 2x2 and by energy pairs: the runner's counts equal it exactly."""
    from gammapy.maps import Map

    config = AnalysisConfig.read(CONFIGS / "lat-crab-day.yaml")
    config.general.outdir = str(tmp_path)
    config.general.progress_bar = False
    block = config.datasets[0]
    # centre of cntmap.fits.gz; 24 pixels of 0.4 deg keep the pixel edges of the 0.2 deg cube
    block.geom.wcs.skydir = {"frame": "galactic", "lon": "184.557460101 deg", "lat": "-5.78434644902 deg"}
    block.geom.wcs.binsize = "0.4 deg"
    block.geom.wcs.width = {"width": "9.6 deg", "height": "9.6 deg"}
    block.geom.wcs.binsize_irf = "2 deg"
    config.estimators.flux_points = None
    analysis = Analysis(config)
    analysis.run(steps=["reduce", "fit"])

    dataset = analysis.datasets[0]
    assert dataset.name == "lat-fb"
    reference = Map.read(crab_day / "cntmap.fits.gz")
    ours = dataset.counts
    assert ours.geom.axes["energy"].nbin == 10
    rebinned = reference.downsample(2, preserve_counts=True)
    rebinned = rebinned.resample_axis(ours.geom.axes["energy"])
    cut = rebinned.cutout(ours.geom.center_skydir, width=ours.geom.width[0, 0])
    assert cut.data.shape == ours.data.shape
    np.testing.assert_array_equal(ours.data, cut.data)
    assert ours.data.sum() > 100

    assert analysis.fit_result["success"]
    assert analysis.models["lat-fb-isotropic"].datasets_names == ["lat-fb"]
    for name in ("reduce/lat/lat-fb.fits", "reduce/lat/models.yaml", "fit/models.yaml"):
        assert (tmp_path / name).is_file()
    again = Analysis(config)
    again.run(steps=["reduce", "fit"])
    assert {r.status for r in again.records} == {"up to date"}


def test_joint_lat_events_and_hess_dl3(data_env, tmp_path):
    """LAT events + H.E.S.S. DL3 from one config, one shared Crab model over 0.2 GeV - 30 TeV."""
    config = AnalysisConfig.read(CONFIGS / "joint-crab-lat-hess.yaml")
    config.general.outdir = str(tmp_path)
    config.general.progress_bar = False
    config.datasets[1].observations.obs_ids = [23523, 23526]
    config.estimators.flux_points.energy.nbins = 6
    config.estimators.flux_points.selection_optional = []
    analysis = Analysis(config)
    analysis.run()
    assert analysis.datasets.names == ["lat-fb", "hess"]
    assert sorted(analysis.models.names) == ["crab", "lat-fb-isotropic"]
    assert analysis.models["crab"].datasets_names is None
    assert analysis.fit_result["success"]
    # H.E.S.S. Crab (Aharonian et al. 2006, A&A 457, 899): 3.45e-11 TeV-1 cm-2 s-1 at 1 TeV
    spec = analysis.models["crab"].spectral_model
    assert spec.amplitude.quantity.to_value("TeV-1 cm-2 s-1") == pytest.approx(3.45e-11, rel=0.25)
    assert (tmp_path / "estimate/flux_points_lat.fits").is_file()
    assert (tmp_path / "estimate/flux_points_hess.fits").is_file()
    assert (tmp_path / "report/sed.png").is_file()


def _front_back_config(tmp_path, width):
    """The shipped LAT config on a small coarse map, with FRONT, BACK and FRONT+BACK components."""
    config = AnalysisConfig.read(CONFIGS / "lat-crab-day.yaml")
    config.general.outdir = str(tmp_path)
    config.general.progress_bar = False
    block = config.datasets[0]
    block.geom.wcs.binsize = "0.5 deg"
    block.geom.wcs.width = {"width": width, "height": width}
    block.geom.wcs.binsize_irf = "2 deg"
    block.geom.axes.energy.nbins_per_decade = 2
    block.components = [{"name": "front", "evtype": 1}, {"name": "back", "evtype": 2}, {"name": "fb", "evtype": 3}]
    return config


@pytest.mark.slow
def test_lat_components_and_computed_livetime(data_env, tmp_path):
    """FRONT and BACK components: their counts add up to the FRONT+BACK dataset's, and so do their
    exposures (the CALDB FRONT and BACK effective areas sum to the FRONT+BACK one); a livetime cube
    computed from the FT2 file gives the exposure of the gtltcube product within 2 %."""
    config = _front_back_config(tmp_path, width="6 deg")
    block = config.datasets[0]
    analysis = Analysis(config)
    analysis.reduce()
    front, back, both = analysis.datasets
    np.testing.assert_array_equal(front.counts.data + back.counts.data, both.counts.data)
    np.testing.assert_allclose(front.exposure.data + back.exposure.data, both.exposure.data, rtol=1e-3)

    block.components = [{"name": "fb", "evtype": 3}]
    block.ltcube.file = None
    block.ltcube.nside = 16
    block.ltcube.dcostheta = 0.05
    computed = Analysis(config)
    computed.reduce()
    ratio = computed.datasets[0].exposure.data / both.exposure.data
    assert np.nanmax(np.abs(ratio - 1)) < 0.02


def test_lat_components_share_one_livetime_cube(data_env, tmp_path, monkeypatch):
    """The components of a block share its geometry and zenith cut: the livetime cube is computed
    once, and the FRONT and BACK exposures from it add up to the FRONT+BACK one (the CALDB FRONT
    and BACK effective areas sum to the FRONT+BACK one)."""
    from gammapy_lat.livetime import LivetimeCube

    config = _front_back_config(tmp_path, width="4 deg")
    block = config.datasets[0]
    block.ltcube.file = None
    block.ltcube.nside = 16
    block.ltcube.dcostheta = 0.05
    calls = []
    compute = LivetimeCube.compute.__func__

    def counting(cls, *args, **kwargs):
        calls.append(kwargs.get("zmax"))
        return compute(cls, *args, **kwargs)

    monkeypatch.setattr(LivetimeCube, "compute", classmethod(counting))
    analysis = Analysis(config)
    analysis.reduce()
    front, back, both = analysis.datasets
    assert len(calls) == 1
    np.testing.assert_array_equal(front.counts.data + back.counts.data, both.counts.data)
    np.testing.assert_allclose(front.exposure.data + back.exposure.data, both.exposure.data, rtol=1e-3)
