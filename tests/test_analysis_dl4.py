"""Already-reduced (DL4) datasets and joint fits across instruments."""
from pathlib import Path

import numpy as np
import pytest

from gammapy_lat.analysis import Analysis, AnalysisConfig

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.fixture
def data_env(shared_path, monkeypatch):
    monkeypatch.setenv("GAMMAPY_LAT_DATA", str(shared_path / "data"))
    monkeypatch.setenv("GAMMAPY_DATA", str(shared_path / "data" / "gammapy-data"))
    return shared_path / "data"


def _status(analysis):
    return {r.name: r.status for r in analysis.records}


def test_joint_crab_five_instruments(data_env, tmp_path):
    """Joint log-parabola fit of the Fermi-LAT, MAGIC, H.E.S.S., VERITAS and FACT Crab spectra.

    Reference: Nigro et al. 2019, A&A 625, A10 (joint-Crab), joint fit of the same spectra:
    phi_0 = (3.85 +- 0.11) 1e-11 TeV-1 cm-2 s-1 at 1 TeV, alpha = 2.51 +- 0.03,
    beta = 0.24 +- 0.02 with log10 (0.104 +- 0.009 with the natural log used by Gammapy).
    """
    config = AnalysisConfig.read(CONFIGS / "joint-crab-spectra.yaml")
    config.general.outdir = str(tmp_path)
    config.general.progress_bar = False
    config.estimators.flux_points.energy.nbins = 3
    config.estimators.flux_points.selection_optional = []
    analysis = Analysis(config)
    analysis.run()

    names = analysis.datasets.names
    assert [n.split("-")[0] for n in names].count("hess") == 4
    assert {n.split("-")[0] for n in names} == {"fermi", "magic", "hess", "veritas", "fact"}
    assert analysis.fit_result["success"]
    spec = analysis.models["crab"].spectral_model
    amplitude = spec.amplitude.quantity.to_value("TeV-1 cm-2 s-1")
    assert abs(amplitude - 3.85e-11) < 0.11e-11
    assert abs(spec.alpha.value - 2.51) < 0.03
    assert abs(spec.beta.value - 0.24 / np.log(10)) < 0.02 / np.log(10)

    # broadband SED: flux points of each instrument in its own range
    for block in ("fermi", "magic", "hess", "veritas", "fact"):
        assert (tmp_path / f"estimate/flux_points_{block}.fits").is_file()
    from astropy.table import Table

    sed = Table.read(tmp_path / "estimate/flux_points.ecsv")
    # the SED spans 0.1-30 TeV (bin edges snap to the datasets' own energy bins)
    assert sed["e_min"].quantity.min().to_value("TeV") < 0.15
    assert sed["e_max"].quantity.max().to_value("TeV") > 20
    fermi = sed[sed["block"] == "fermi"]
    assert np.all(fermi["e_max"].quantity.to_value("TeV") <= 2 * (1 + 1e-6))
    assert len(fermi) >= 1
    assert (tmp_path / "report/sed.png").is_file()

    # changing the fit range of one instrument refits but does not reread the spectra
    config.datasets[4].fit_range.min = "0.5 TeV"
    config.estimators.flux_points = None
    rerun = Analysis(config)
    rerun.run(steps=["fit"])
    status = _status(rerun)
    assert status["fit"] == "ran"
    assert all(status[f"reduce/{b}"] == "up to date" for b in ("fermi", "magic", "hess", "veritas", "fact"))


def test_fermipy_outputs(data_env, tmp_path):
    """fermipy products (one dataset per PSF event type) read through Gammapy's
    FermipyDatasetsReader keep their isotropic background models, renamed with the block."""
    from gammapy.datasets import FermipyDatasetsReader

    path = data_env / "gammapy-data/tests/fermi/config_fermipy_std_5deg_qr.yaml"
    config = AnalysisConfig.from_dict(
        {
            "general": {"outdir": str(tmp_path), "progress_bar": False},
            "datasets": [
                {"instrument": "dl4", "name": "lat", "format": "fermipy", "path": str(path), "edisp_bins": 1}
            ],
            "models": [{"file": str(CONFIGS / "crab-logparabola-3d.yaml")}],
            "fit": {"covariance": False},
        }
    )
    analysis = Analysis(config)
    analysis.reduce()
    direct = FermipyDatasetsReader(path, edisp_bins=1).read()
    ours = analysis.datasets
    assert len(ours) == len(direct) == 2
    for mine, theirs in zip(ours, direct):
        assert mine.name == f"lat-{theirs.name}"
        np.testing.assert_array_equal(mine.counts.data, theirs.counts.data)
        np.testing.assert_allclose(mine.exposure.data, theirs.exposure.data)
    own = analysis._own_models["lat"]
    assert sorted(m.datasets_names[0] for m in own) == sorted(ours.names)

    # read back from the products of the reduce step
    again = Analysis(config)
    again.reduce()
    assert _status(again) == {"reduce/lat": "up to date"}
    np.testing.assert_array_equal(again.datasets[0].counts.data, ours[0].counts.data)
    assert sorted(again._own_models["lat"].names) == sorted(own.names)


@pytest.mark.slow
def test_joint_lat_dl4_and_hess_dl3(data_env, tmp_path):
    """Joint fit of an already-reduced LAT map dataset (3FHL Crab, own background model) and
    H.E.S.S. DL3 runs reduced to a 1D spectrum, with one shared Crab model."""
    config = AnalysisConfig.read(CONFIGS / "joint-crab-3fhl-hess.yaml")
    config.general.outdir = str(tmp_path)
    config.general.progress_bar = False
    config.datasets[1].observations.obs_ids = [23523, 23526]
    config.estimators.flux_points.energy.nbins = 4
    config.estimators.flux_points.selection_optional = []
    analysis = Analysis(config)
    analysis.run()
    assert analysis.datasets.names == ["lat-Fermi-LAT", "hess"]
    # shared source model, LAT keeps its own background model
    assert sorted(analysis.models.names) == ["crab", "lat-Fermi-LAT-bkg"]
    assert analysis.models["lat-Fermi-LAT-bkg"].datasets_names == ["lat-Fermi-LAT"]
    assert analysis.fit_result["success"]
    # the Crab between 10 GeV and 30 TeV: E^2 dN/dE at 1 TeV of ~4e-11 TeV cm-2 s-1 (H.E.S.S.
    # Aharonian et al. 2006, A&A 457, 899: 3.45e-11 TeV-1 cm-2 s-1 at 1 TeV, +-20 % systematics)
    spec = analysis.models["crab"].spectral_model
    assert spec.amplitude.quantity.to_value("TeV-1 cm-2 s-1") == pytest.approx(3.45e-11, rel=0.25)
    assert (tmp_path / "estimate/flux_points_lat.fits").is_file()
    assert (tmp_path / "estimate/flux_points_hess.fits").is_file()
