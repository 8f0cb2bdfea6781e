"""Shared fixtures.

The reference data kit is located through ``GAMMAPY_LAT_SHARED`` (default ``../shared``). Outside
CI a test needing it is skipped when it is missing; under ``CI=true`` a missing kit is a failure.
"""
import os

import matplotlib
import pytest

from gammapy_lat.utils.testing import MissingSharedData, is_ci, shared_data_path

matplotlib.use("Agg")
os.environ.setdefault("MPLBACKEND", "Agg")


def _require(*parts):
    try:
        return shared_data_path(*parts)
    except MissingSharedData as exc:
        if is_ci():
            pytest.fail(f"CI=true and the reference data kit is missing: {exc}")
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def shared_path():
    """Root of the reference data kit."""
    return _require()


@pytest.fixture(scope="session")
def crab_day():
    """Folder of the one-day LAT Crab data set with the Fermitools reference products."""
    return _require("data", "lat", "crab-1day")


@pytest.fixture(scope="session")
def p6_week():
    """Folder of the Pass 6 week (P6_V3_DIFFUSE events) with its ScienceTools products."""
    return _require("data", "lat", "p6v3-week")


@pytest.fixture(scope="session")
def caldb_path():
    """Root of the LAT CALDB subset (usable as ``$CALDB``)."""
    return _require("data", "lat", "caldb")


@pytest.fixture(scope="session")
def gammapy_data():
    """The Gammapy data subset (usable as ``$GAMMAPY_DATA``)."""
    return _require("data", "gammapy-data")
