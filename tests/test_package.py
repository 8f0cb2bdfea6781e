import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

import gammapy_lat
from gammapy_lat.cli import cli
from gammapy_lat.utils.io import atomic_output, write_fits_atomic
from gammapy_lat.utils.testing import MissingSharedData, shared_data_path


def test_version():
    assert gammapy_lat.__version__ != ""


def test_cli_help():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    assert "gammapy-lat" in result.output


def test_atomic_output_failure_leaves_nothing(tmp_path):
    target = tmp_path / "out.fits.gz"
    with pytest.raises(RuntimeError):
        with atomic_output(target) as tmp:
            assert tmp.name.endswith("out.fits.gz")
            tmp.write_bytes(b"partial")
            raise RuntimeError("crash while writing")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_atomic_output_refuses_overwrite(tmp_path):
    from astropy.io import fits

    target = tmp_path / "a.fits"
    write_fits_atomic(fits.HDUList([fits.PrimaryHDU()]), target)
    with pytest.raises(FileExistsError, match="a.fits"):
        write_fits_atomic(fits.HDUList([fits.PrimaryHDU()]), target)
    write_fits_atomic(fits.HDUList([fits.PrimaryHDU()]), target, overwrite=True)


def test_shared_data_missing(monkeypatch, tmp_path):
    monkeypatch.setenv("GAMMAPY_LAT_SHARED", str(tmp_path / "nowhere"))
    with pytest.raises(MissingSharedData, match="GAMMAPY_LAT_SHARED"):
        shared_data_path("data")


def test_missing_kit_fails_under_ci(tmp_path):
    """Under CI=true a test needing the kit fails instead of being skipped."""
    test_file = tmp_path / "test_needs_kit.py"
    test_file.write_text("def test_x(crab_day):\n    pass\n")
    conftest = os.path.join(os.path.dirname(__file__), "conftest.py")
    (tmp_path / "conftest.py").write_text(open(conftest).read())
    env = dict(os.environ, GAMMAPY_LAT_SHARED=str(tmp_path / "nowhere"))
    for ci, expected in (("true", 1), ("", 0)):
        env["CI"] = ci
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test_file)],
            cwd=tmp_path, env=env, capture_output=True, text=True,
        )
        assert proc.returncode == expected, proc.stdout + proc.stderr
