"""``gammapy-lat demo``: runs from nothing (SYNTHETIC response), writes products, recovers the truth."""
import numpy as np
from click.testing import CliRunner

from gammapy_lat.cli import cli


def test_demo_command(tmp_path, monkeypatch):
    from astropy.table import Table
    from gammapy.datasets import MapDataset
    from gammapy.estimators import FluxPoints

    monkeypatch.delenv("CALDB", raising=False)
    monkeypatch.setenv("GAMMAPY_LAT_CACHE", str(tmp_path / "cache"))
    outdir = tmp_path / "demo"
    result = CliRunner().invoke(cli, ["demo", "--outdir", str(outdir), "--duration", "2 d", "--seed", "1"])
    assert result.exit_code == 0, result.output
    assert "SYNTHETIC" in result.output and "injected" in result.output
    products = outdir / "products"
    comparison = Table.read(products / "injected-vs-fitted.ecsv")
    assert comparison.meta["SYNTHET"] is True
    for row in comparison:
        assert np.isfinite(row["error"]) and row["error"] > 0
        assert abs(row["pull"]) < 4, row
    dataset = MapDataset.read(products / "dataset.fits.gz")
    assert dataset.counts.data.sum() > 500
    sed = FluxPoints.read(products / "sed.fits")
    assert len(sed.energy_ref) == 5
    for name in ("sed.png", "maps.png", "summary.txt", "models-fitted.yaml"):
        assert (products / name).is_file()
