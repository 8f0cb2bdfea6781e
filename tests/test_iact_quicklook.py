"""``gammapy-lat quicklook`` on MAGIC (RAD_MAX) and VERITAS point-like Crab data and on the
H.E.S.S. PKS 2155-304 flare: products, plots and page, the spectrum against the runner's 1D
analysis of the same runs, and intra-night light curves against the run-wise ones."""
import json
from pathlib import Path

import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from click.testing import CliRunner

from gammapy_lat.analysis import Analysis, AnalysisConfig
from gammapy_lat.cli import cli

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
CRAB = SkyCoord(83.6331, 22.0145, unit="deg")
PRODUCTS = [
    "runs.ecsv", "runs.txt", "theta2.ecsv", "theta2_runs.ecsv", "theta2.png",
    "sky_maps.fits", "sky_maps.png", "significance_distribution.png", "background_model.fits",
    "spectrum_stacked.fits", "spectrum_model.yaml", "flux_points.ecsv", "flux_points.fits", "sed.png",
    "counts_spectrum.png", "light_curve_runs.ecsv", "light_curve_runs.fits",
    "light_curve_intranight.ecsv", "light_curve.png", "index.html", "summary.md", "quicklook.json",
]


def _runner_crab(config_name, outdir, fit_range=None):
    """The package's 1D analysis (YAML runner) of the same runs (in the quick-look's fit range)."""
    config = AnalysisConfig.read(CONFIGS / config_name)
    if fit_range is not None:
        config.fit.energy_range = {"min": f"{fit_range[0]} TeV", "max": f"{fit_range[1]} TeV"}
    config.general.outdir = str(outdir)
    config.general.progress_bar = False
    analysis = Analysis(config)
    analysis.run(steps=["reduce", "fit"])
    return analysis.models["crab"]


def _check_products(outdir, summary):
    for name in PRODUCTS:
        assert (outdir / name).is_file() and (outdir / name).stat().st_size > 0, name
    assert not list(outdir.glob(".tmp-*"))
    html = (outdir / "index.html").read_text()
    for image in ("theta2.png", "sky_maps.png", "sed.png", "light_curve.png"):
        assert f"src='{image}'" in html
    markdown = (outdir / "summary.md").read_text()
    assert "## θ² and detection" in markdown and "## Sky maps" in markdown and "## Light curves" in markdown
    assert "failed_steps" not in summary
    maps = summary["maps"]
    peak = SkyCoord(maps["peak_ra"], maps["peak_dec"], unit="deg")
    assert peak.separation(CRAB).deg < 0.05
    assert maps["peak_significance"] > 20
    # significances away from the Crab: mean ~0, width ~1
    assert abs(maps["off_region_mean"]) < 0.2 and 0.85 < maps["off_region_sigma"] < 1.25


def _compare(ours, reference, tolerance):
    for name, (value, error) in ours.items():
        expected = reference.parameters[name]
        assert abs(value - expected.value) < tolerance * expected.error, (name, value, expected.value)


@pytest.fixture()
def data_env(shared_path, monkeypatch):
    monkeypatch.setenv("GAMMAPY_LAT_DATA", str(shared_path / "data"))
    return shared_path / "data"


def test_quicklook_veritas_two_arguments(data_env, gammapy_data, tmp_path, monkeypatch):
    """VERITAS point-like runs: the two-argument command makes every product; the map
    background is a model from the ON runs (no bkg IRF in point-like files); the power-law fit
    equals the runner's 1D analysis of the same runs within 0.1 sigma."""
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["quicklook", str(gammapy_data / "veritas/crab-point-like-ED"),
                                      "--target", "Crab"])
    assert result.exit_code == 0, result.output
    assert "runs selected" in result.output and "Li & Ma" in result.output and "index.html" in result.output
    outdir = tmp_path / "quicklook-Crab_Nebula"
    summary = json.loads((outdir / "quicklook.json").read_text())
    _check_products(outdir, summary)
    assert summary["runs"]["selected"] == [64080, 64081, 64082, 64083]
    assert summary["background"]["mode"] == "self"
    assert summary["theta2"]["theta_cut"] == "RAD_MAX" and summary["theta2"]["significance"] > 25
    reference = _runner_crab("veritas-crab-point-like-1d.yaml", tmp_path / "runner")
    _compare(summary["spectrum"]["parameters"], reference, 0.1)
    # rerunning without --clobber is refused with a one-line message
    again = CliRunner().invoke(cli, ["quicklook", str(gammapy_data / "veritas/crab-point-like-ED"),
                                     "--target", "Crab", "--no-maps"])
    assert again.exit_code == 1 and "--clobber" in again.output and "Traceback" not in again.output


def test_quicklook_magic_rad_max(data_env, gammapy_data, tmp_path):
    """MAGIC runs with energy-dependent RAD_MAX: θ² with the RAD_MAX cut, maps, SED and light
    curves; the log-parabola equals the runner's 1D analysis (configs/magic-crab-radmax-1d.yaml)
    within 0.3 sigma, fitted over the same energy range (the runner's bins start at 80 GeV, the
    quick-look's on the decades)."""
    outdir = tmp_path / "magic"
    result = CliRunner().invoke(cli, ["quicklook", str(gammapy_data / "magic/rad_max"), "--target", "CrabNebula",
                                      "--spectral-model", "lp", "--emax", "10TeV", "-o", str(outdir)])
    assert result.exit_code == 0, result.output
    summary = json.loads((outdir / "quicklook.json").read_text())
    _check_products(outdir, summary)
    assert summary["runs"]["pointlike_irfs"] and summary["theta2"]["theta_cut"] == "RAD_MAX"
    assert summary["spectrum"]["on_region"] == "RAD_MAX (point-like)"
    reference = _runner_crab("magic-crab-radmax-1d.yaml", tmp_path / "runner", summary["spectrum"]["fit_range_TeV"])
    _compare(summary["spectrum"]["parameters"], reference, 0.3)
    assert summary["light_curve"]["n_runwise"] == 2 and summary["light_curve"]["n_intranight"] == 4


def test_quicklook_intranight_pks2155(gammapy_data, tmp_path):
    """PKS 2155-304 flare: 10-min bins of three 28-min runs; the pieces' exposures add up to the
    run-wise datasets' and their exposure-weighted mean flux equals the run-wise flux."""
    from gammapy.estimators import FluxPoints

    from gammapy_lat.iact import QuickLook

    quicklook = QuickLook({"datastore": str(gammapy_data / "hess-dl3-dr1"), "target": "PKS 2155-304",
                           "date": "2006-07-29", "runs": "33787-33789", "maps": False,
                           "energy_min": "0.7 TeV", "theta_cut": "0.1 deg", "outdir": str(tmp_path / "pks")})
    summary = quicklook.run()
    assert "failed_steps" not in summary
    assert summary["energy_range_TeV"][0] == pytest.approx(0.7)
    assert summary["spectrum"]["on_region"] == "circle 0.100 deg"
    assert summary["theta2"]["theta_cut"] == pytest.approx(0.1)
    runwise = FluxPoints.read(tmp_path / "pks/light_curve_runs.fits", format="lightcurve")
    intra = FluxPoints.read(tmp_path / "pks/light_curve_intranight.fits", format="lightcurve")
    assert runwise.geom.axes["time"].nbin == 3 and intra.geom.axes["time"].nbin == 9
    pieces = quicklook.intranight_datasets
    weights = []
    for run, dataset in zip([33787, 33788, 33789], quicklook.run_datasets):
        parts = [d for d in pieces if d.name.startswith(f"run-{run}-")]
        assert len(parts) == 3
        np.testing.assert_allclose(sum(p.exposure.data for p in parts), dataset.exposure.data, rtol=1e-6)
        weights.append([p.exposure.data.sum() for p in parts])
    weights = np.array(weights)
    flux = intra.flux.data.ravel().reshape(3, 3)
    err = intra.flux_err.data.ravel().reshape(3, 3)
    mean = (flux * weights).sum(axis=1) / weights.sum(axis=1)
    mean_err = np.sqrt(((err * weights) ** 2).sum(axis=1)) / weights.sum(axis=1)
    assert np.all(np.abs(mean - runwise.flux.data.ravel()) < 2 * mean_err)
    # the flare: the flux rises by more than 50 % within the three runs
    assert runwise.flux.data.ravel()[2] > 1.5 * runwise.flux.data.ravel()[0]
    assert (tmp_path / "pks/light_curve.png").is_file()


def test_quicklook_errors(gammapy_data, tmp_path):
    dl3 = str(gammapy_data / "hess-dl3-dr1")
    runner = CliRunner()
    for args, message in [
        (["--target", "Not A Source"], "not a known name"),
        (["--target", "PKS 2155-304", "--date", "2010-01-01"], "no run of PKS 2155-304"),
        (["--target", "Mrk 421"], "no run points within"),
        (["--target", "Crab", "--runs", "1-3"], "no run of the data store in 1-3"),
        (["--target", "Crab", "--runs", "23524"], "not in the data store"),
    ]:
        result = runner.invoke(cli, ["quicklook", dl3, "-o", str(tmp_path / "x")] + args)
        assert result.exit_code == 1, result.output
        assert message in result.output and "Traceback" not in result.output
        assert len(result.output.strip().splitlines()) == 1
    result = runner.invoke(cli, ["quicklook", str(tmp_path), "--target", "Crab"])
    assert result.exit_code == 1 and "hdu-index" in result.output
