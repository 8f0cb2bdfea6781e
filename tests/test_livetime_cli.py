"""``gammapy-lat ltcube`` / ``ltsum`` command line."""
import numpy as np
from click.testing import CliRunner

from gammapy_lat.cli import cli
from gammapy_lat.livetime import LivetimeCube


def test_ltcube_cli_parity(crab_day, tmp_path):
    """The command reproduces gtltcube's product with its parameters (NSIDE 16, 20 bins, zmax 180)."""
    out = tmp_path / "ltcube.fits"
    args = ["ltcube", "--evfile", str(crab_day / "ft1.fits.gz"), "--scfile", str(crab_day / "ft2.fits.gz"),
            "--zmax", "180", "--nside", "16", "--nbins", "20", "-o", str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    cube = LivetimeCube.read(out)
    ref = LivetimeCube.read(crab_day / "ltcube.fits.gz")
    mask = ref.livetime.value > 0.01 * ref.livetime.value.max()
    rel = np.abs(cube.livetime.value - ref.livetime.value)[mask] / ref.livetime.value[mask]
    assert rel.max() < 1e-5
    # refuses to overwrite without --clobber
    result = CliRunner().invoke(cli, args)
    assert result.exit_code != 0 and "clobber" in result.output


def test_ltcube_cli_roi_and_ltsum(crab_day, tmp_path):
    runner = CliRunner()
    base = ["ltcube", "--evfile", str(crab_day / "ft1.fits.gz"), "--scfile", str(crab_day / "ft2.fits.gz"),
            "--zmax", "90", "--nside", "8", "--nbins", "10", "--ring", "--coordsys", "GAL"]
    result = runner.invoke(cli, base + ["--roi", "184.56", "-5.78", "20", "-o", str(tmp_path / "roi.fits")])
    assert result.exit_code == 0, result.output
    roi = LivetimeCube.read(tmp_path / "roi.fits")
    assert roi.frame == "galactic" and not roi.nest and not roi.is_allsky
    result = runner.invoke(cli, base + ["-o", str(tmp_path / "full.fits")])
    assert result.exit_code == 0, result.output
    full = LivetimeCube.read(tmp_path / "full.fits")
    np.testing.assert_allclose(roi.livetime.value, full.livetime.value[roi.pixels], rtol=1e-6)
    # ltsum of incompatible cubes (all-sky + ROI) is a one-line error
    result = runner.invoke(cli, ["ltsum", str(tmp_path / "full.fits"), str(tmp_path / "roi.fits"),
                                 "-o", str(tmp_path / "sum.fits")])
    assert result.exit_code != 0 and "Error" in result.output


def test_ltsum_cli_halves(crab_day, tmp_path):
    """ltsum of two cubes of disjoint halves of the GTIs equals the cube of the whole."""
    from gammapy_lat.data import read_events, read_spacecraft

    spacecraft = read_spacecraft(crab_day / "ft2.fits.gz")
    events = read_events(crab_day / "ft1.fits.gz")
    g0, g1 = events.gti_start, events.gti_stop
    half = len(g0) // 2
    kw = dict(nside=8, nbins=10, zmax=100)
    LivetimeCube.compute(spacecraft, (g0[:half], g1[:half]), **kw).write(tmp_path / "a.fits")
    LivetimeCube.compute(spacecraft, (g0[half:], g1[half:]), **kw).write(tmp_path / "b.fits")
    (tmp_path / "list.txt").write_text(f"{tmp_path / 'a.fits'}\n{tmp_path / 'b.fits'}\n")
    result = CliRunner().invoke(cli, ["ltsum", f"@{tmp_path / 'list.txt'}", "-o", str(tmp_path / "sum.fits")])
    assert result.exit_code == 0, result.output
    total = LivetimeCube.read(tmp_path / "sum.fits")
    whole = LivetimeCube.compute(spacecraft, events.gti, **kw)
    np.testing.assert_allclose(total.livetime.value, whole.livetime.value, rtol=1e-6, atol=1e-3)
    assert len(total.gti.table) == len(g0)
