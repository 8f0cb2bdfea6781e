"""``gammapy-lat allsky``: configuration errors, dry run, run and summary."""
import yaml
from click.testing import CliRunner

from gammapy_lat.cli import cli


def test_allsky_bad_config(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"ft1": "x.fits", "ft2": "y.fits", "components": [{"name": "a", "zmax": 200}]}))
    result = CliRunner().invoke(cli, ["allsky", str(path)])
    assert result.exit_code == 1
    assert "Invalid pipeline config" in result.output and "components[0].zmax" in result.output
    assert "Traceback" not in result.output


def test_allsky_missing_input(tmp_path):
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump({"ft1": "weekly/w*.fits", "ft2": "ft2.fits", "components": [{"name": "a"}]}))
    result = CliRunner().invoke(cli, ["allsky", str(path), "--dry-run"])
    assert result.exit_code == 1
    assert f"ft1: pattern '{tmp_path / 'weekly/w*.fits'}' matches no file" in result.output


def test_allsky_dry_run_and_run(crab_day, caldb_path, tmp_path):
    from test_pipeline_crab import crab_config

    cfg = crab_config(crab_day, caldb_path, "out", time_chunk=43200.0, n_jobs=1)
    cfg["components"] = cfg["components"][1:2]
    path = tmp_path / "allsky.yaml"
    path.write_text(yaml.safe_dump(cfg))
    runner = CliRunner()
    result = runner.invoke(cli, ["allsky", str(path), "--dry-run"])
    assert result.exit_code == 0, result.output
    # 2 chunks: 2 GTIs, 2 counts, 2 livetime, 2 co-adds, 3 exposure tiles and their assembly
    assert "12 tasks, 12 to compute" in result.output
    result = runner.invoke(cli, ["allsky", str(path), "--no-progress", "--n-jobs", "2"])
    assert result.exit_code == 0, result.output
    assert "12 computed, 0 already done" in result.output and "2 worker(s)" in result.output
    # relative outdir is taken from the folder of the configuration file
    assert (tmp_path / "out" / "expmap" / "bexpmap.fits").exists()
    result = runner.invoke(cli, ["allsky", str(path), "--no-progress"])
    assert "0 computed, 12 already done" in result.output
    assert "nevents=853" in result.output
