"""Runner options for IACT backgrounds: ring and adaptive ring kept as ON/OFF datasets when
stacked, a background model built from OFF runs, phase backgrounds and runs split in time."""
from pathlib import Path

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord

from gammapy_lat.analysis import Analysis, AnalysisConfig

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
CRAB = {"lon": "83.633 deg", "lat": "22.014 deg"}


@pytest.fixture(scope="module")
def data_env(shared_path):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GAMMAPY_LAT_DATA", str(shared_path / "data"))
        yield shared_path / "data"


@pytest.fixture(scope="module")
def off_ids(gammapy_data):
    from gammapy.data import DataStore

    table = DataStore.from_dir(gammapy_data / "hess-dl3-dr1").obs_table
    return [int(i) for i in table["OBS_ID"][table["TARGET_TAG"] == "offdata"]]


def _crab_config(outdir, method, stack=True, binsz="0.1 deg", exclusion="0.3 deg"):
    config = AnalysisConfig.read(CONFIGS / "hess-crab-3d.yaml")
    config.general.outdir = str(outdir)
    config.general.progress_bar = False
    block = config.datasets[0]
    block.geom.wcs.binsize = binsz
    block.geom.wcs.width = {"width": "4 deg", "height": "4 deg"}
    block.stack = stack
    block.background.method = method
    block.background.exclusion.regions = [dict(CRAB, radius=exclusion)]
    config.estimators.flux_points = None
    config.estimators.theta2 = None
    config.estimators.excess_map = None
    return config


def _peak_significance(dataset):
    from gammapy.estimators import ExcessMapEstimator

    estimator = ExcessMapEstimator(correlation_radius="0.1 deg", energy_edges=[1, 10] * u.TeV,
                                   selection_optional=[])
    return float(np.nanmax(estimator.run(dataset).sqrt_ts.data))


def test_ring_stacked_on_off_wstat_equals_unstacked(data_env, tmp_path):
    """Stacked ring datasets are one MapDatasetOnOff fitted with WStat (OFF counts kept); the Crab
    fit on it equals the fit of the four per-run ON/OFF datasets within 0.2 sigma."""
    from gammapy.datasets import MapDatasetOnOff

    stacked = Analysis(_crab_config(tmp_path / "stacked", "ring"))
    stacked.run(steps=["reduce", "fit"])
    assert len(stacked.datasets) == 1
    dataset = stacked.datasets[0]
    assert isinstance(dataset, MapDatasetOnOff) and dataset.stat_type == "wstat"
    assert dataset.counts_off.data.sum() > 10 * dataset.counts.data.sum()
    # the OFF counts are the per-run ring OFF counts added up (inside the safe masks)
    unstacked = Analysis(_crab_config(tmp_path / "unstacked", "ring", stack=False))
    unstacked.run(steps=["reduce", "fit"])
    runs = unstacked.datasets
    assert len(runs) == 4 and all(isinstance(d, MapDatasetOnOff) for d in runs)
    expected_off = sum((d.counts_off.data * d.mask_safe.data).sum() for d in runs)
    assert dataset.counts_off.data.sum() == pytest.approx(expected_off, rel=1e-6)
    assert stacked.fit_result["success"] and unstacked.fit_result["success"]
    for name in ("index", "amplitude", "lon_0", "lat_0"):
        a = stacked.models["crab"].parameters[name]
        b = unstacked.models["crab"].parameters[name]
        assert abs(a.value - b.value) < 0.2 * b.error, name
    # the ring datasets are written and read back as ON/OFF datasets
    again = Analysis(_crab_config(tmp_path / "stacked", "ring"))
    again.reduce()
    assert isinstance(again.datasets[0], MapDatasetOnOff)


def test_adaptive_ring_grows_where_ring_is_excluded(data_env, tmp_path):
    """With 1.1 deg excluded around the Crab, the fixed 0.7-1.0 deg ring has no OFF acceptance at
    the Crab; the adaptive ring grows until alpha (within 0.22 deg) is below 0.1."""
    fixed = Analysis(_crab_config(tmp_path / "ring", "ring", exclusion="1.1 deg"))
    fixed.reduce()
    adaptive = Analysis(_crab_config(tmp_path / "adaptive", "adaptive_ring", exclusion="1.1 deg"))
    adaptive.reduce()
    a, f = adaptive.datasets[0], fixed.datasets[0]
    assert type(a).__name__ == "MapDatasetOnOff" and a.stat_type == "wstat"
    pix = a.counts.geom.coord_to_idx({"skycoord": SkyCoord(83.633, 22.014, unit="deg"), "energy": 2 * u.TeV})
    iy, ix = int(pix[1][0]), int(pix[0][0])
    assert f.acceptance_off.data[1, iy, ix] == 0
    assert a.acceptance_off.data[1, iy, ix] > 0
    assert a.mask_safe.data[1, iy, ix] and not f.mask_safe.data[1, iy, ix]
    assert _peak_significance(a) > 20


def test_offrun_background_model_crab_significance(data_env, tmp_path, off_ids):
    """A background model built from the 45 empty-field runs, attached by zenith: the Crab peak
    significance equals the one with the DR1 bkg IRF within 1 sigma (FoV-normalised template and
    ring background)."""
    results = {}
    for method in ("fov_background", "ring"):
        for source in ("dl3", "off_runs"):
            config = _crab_config(tmp_path / f"{method}-{source}", method, binsz="0.05 deg")
            if source == "off_runs":
                config.datasets[0].background.model = {"source": "off_runs", "off_obs_ids": off_ids}
            analysis = Analysis(config)
            analysis.reduce()
            results[method, source] = _peak_significance(analysis.datasets[0])
    for method in ("fov_background", "ring"):
        dl3, own = results[method, "dl3"], results[method, "off_runs"]
        assert dl3 > 25
        assert abs(own - dl3) < 1.0, (method, dl3, own)
    written = tmp_path / "ring-off_runs" / "reduce" / "hess-crab" / "background_model.fits"
    from gammapy_lat.iact import BackgroundModels

    assert len(BackgroundModels.read(written)) >= 6


def _phase_datastore(gammapy_data, tmp_path, obs_id=23523, seed=0):
    """A copy of one H.E.S.S. run with a PHASE column (uniform random phases) and its indexes."""
    from astropy.io import fits
    from astropy.table import Table

    src = gammapy_data / "hess-dl3-dr1"
    name = f"hess_dl3_dr1_obs_id_{obs_id:06d}.fits.gz"
    with fits.open(src / "data" / name) as hdus:
        events = Table.read(hdus["EVENTS"])
        events["PHASE"] = np.random.default_rng(seed).uniform(0, 1, len(events))
        new = fits.HDUList([h.copy() for h in hdus])
        header = hdus["EVENTS"].header
        table_hdu = fits.table_to_hdu(events)
        for key in header:
            if key not in table_hdu.header and not key.startswith(("TTYPE", "TFORM", "TUNIT", "NAXIS")):
                table_hdu.header[key] = header[key]
        table_hdu.name = "EVENTS"
        new["EVENTS"] = table_hdu
    (tmp_path / "data").mkdir(parents=True)
    new.writeto(tmp_path / "data" / name)
    hdu_index = Table.read(src / "hdu-index.fits.gz")
    hdu_index = hdu_index[hdu_index["OBS_ID"] == obs_id]
    hdu_index.write(tmp_path / "hdu-index.fits.gz")
    obs_index = Table.read(src / "obs-index.fits.gz")
    obs_index[obs_index["OBS_ID"] == obs_id].write(tmp_path / "obs-index.fits.gz")
    return tmp_path, events


def test_phase_background(gammapy_data, tmp_path):
    """1D phase background: ON counts are the events of the ON region in the ON phases, OFF
    counts those in the OFF phases, alpha the ratio of the phase widths (counted here directly
    from the event list)."""
    from astropy.coordinates import SkyCoord

    store, events = _phase_datastore(gammapy_data, tmp_path / "dl3")
    config = AnalysisConfig.from_dict({
        "general": {"outdir": str(tmp_path / "out"), "progress_bar": False},
        "datasets": [{
            "instrument": "iact", "name": "pulsar", "datastore": str(store), "type": "1d",
            "stack": False, "on_region": dict(CRAB, radius="0.2 deg"),
            "observations": {"obs_ids": [23523]},
            "geom": {"axes": {"energy": {"min": "0.1 TeV", "max": "100 TeV", "nbins": 1},
                              "energy_true": {"min": "0.05 TeV", "max": "200 TeV", "nbins": 20}}},
            "background": {"method": "phase",
                           "phase": {"on_phase": [[0.0, 0.1], [0.9, 1.0]], "off_phase": [[0.4, 0.7]]}},
            "safe_mask": {"methods": []},
        }],
        "models": [{"file": str(CONFIGS / "crab-logparabola-1d.yaml")}],
    })
    analysis = Analysis(config)
    analysis.reduce()
    dataset = analysis.datasets[0]
    assert type(dataset).__name__ == "SpectrumDatasetOnOff"
    position = SkyCoord(83.633, 22.014, unit="deg")
    inside = SkyCoord(events["RA"], events["DEC"], unit="deg").separation(position).deg < 0.2
    energy = np.asarray(events["ENERGY"])
    inside &= (energy >= 0.1) & (energy < 100)
    phase = np.asarray(events["PHASE"])
    on = inside & (((phase > 0.0) & (phase < 0.1)) | ((phase > 0.9) & (phase < 1.0)))
    off = inside & (phase > 0.4) & (phase < 0.7)
    assert dataset.counts.data.sum() == on.sum()
    assert dataset.counts_off.data.sum() == off.sum()
    assert dataset.alpha.data.ravel()[0] == pytest.approx(0.2 / 0.3)
    # no pulsed signal in random phases: the excess is compatible with zero
    excess = on.sum() - 0.2 / 0.3 * off.sum()
    assert abs(excess) < 4 * np.sqrt(on.sum() + (0.2 / 0.3) ** 2 * off.sum())


def test_time_bin_light_curve(data_env, tmp_path):
    """PKS 2155-304 flare runs split into 10-min pieces: the light curve has one bin per piece,
    the pieces' exposures add up to the run-wise datasets' and their exposure-weighted mean flux
    equals the run-wise flux within errors."""
    from gammapy.estimators import FluxPoints

    def config(outdir, time_bin):
        cfg = AnalysisConfig.read(CONFIGS / "hess-pks2155-1d.yaml")
        cfg.general.outdir = str(outdir)
        cfg.general.progress_bar = False
        block = cfg.datasets[0]
        block.observations.obs_ids = [33787, 33788, 33789]
        block.observations.time_bin = time_bin
        block.geom.axes.energy.nbins_per_decade = None
        block.geom.axes.energy.nbins = 8
        block.geom.axes.energy_true.nbins_per_decade = None
        block.geom.axes.energy_true.nbins = 16
        cfg.estimators.flux_points = None
        cfg.estimators.light_curve.selection_optional = []
        return cfg

    runwise = Analysis(config(tmp_path / "run", None))
    runwise.run(steps=["reduce", "fit", "estimate"])
    split = Analysis(config(tmp_path / "split", "10 min"))
    split.run(steps=["reduce", "fit", "estimate"])
    assert len(split.datasets) == 9 and len(set(split.datasets.names)) == 9
    lc_run = FluxPoints.read(tmp_path / "run/estimate/light_curve.fits", format="lightcurve")
    lc_split = FluxPoints.read(tmp_path / "split/estimate/light_curve.fits", format="lightcurve")
    assert lc_run.geom.axes["time"].nbin == 3 and lc_split.geom.axes["time"].nbin == 9
    width = (lc_split.geom.axes["time"].time_max - lc_split.geom.axes["time"].time_min).to_value("min")
    assert np.all(width <= 10 + 1e-6) and np.all(width > 5)
    for run, dataset in zip([33787, 33788, 33789], runwise.datasets):
        pieces = [d for d in split.datasets if d.name.startswith(f"hess-pks2155-{run}-")]
        assert len(pieces) == 3
        np.testing.assert_allclose(sum(p.exposure.data for p in pieces), dataset.exposure.data, rtol=1e-6)
        assert sum(p.counts.data.sum() for p in pieces) <= dataset.counts.data.sum()
        assert sum(p.counts.data.sum() for p in pieces) >= dataset.counts.data.sum() - 5
    flux_run = lc_run.flux.data.ravel()
    flux_split = lc_split.flux.data.ravel().reshape(3, 3)
    err_split = lc_split.flux_err.data.ravel().reshape(3, 3)
    weights = np.array([[p.exposure.data.sum() for p in split.datasets
                         if p.name.startswith(f"hess-pks2155-{run}-")] for run in [33787, 33788, 33789]])
    mean = (flux_split * weights).sum(axis=1) / weights.sum(axis=1)
    mean_err = np.sqrt(((err_split * weights) ** 2).sum(axis=1)) / weights.sum(axis=1)
    assert np.all(np.abs(mean - flux_run) < 2 * mean_err)
