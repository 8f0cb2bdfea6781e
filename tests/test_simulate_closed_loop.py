"""Closed loop on the real CALDB: simulate a power-law point source, reduce with the LAT makers, fit.

Fitted amplitude, index and position (lon, lat) of independent realisations must have pulls of
mean ~0 and standard deviation ~1. Acceptance: amplitude and index |mean| < 0.25; position
|mean| < 3 / sqrt(N) (three standard errors of the mean of N unit-variance pulls: a position
bias of the size of the statistical error per realisation is caught at N >= 40); standard
deviations within 0.75-1.25.
"""
import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord

from gammapy_lat.simulate.validation import closed_loop, pull_summary

FAST = dict(duration=1 * u.d, amplitude="6e-10 cm-2 s-1 MeV-1", map_width=5 * u.deg, binsz=0.25 * u.deg,
            fit_radius=2 * u.deg)


def _check(table, n):
    assert len(table) == n
    assert np.all(table["success"])
    summary = pull_summary(table)
    for name, (mean, std) in summary.items():
        limit = 0.25 if name in ("amplitude", "index") else 3 / np.sqrt(n)
        assert abs(mean) < limit, (name, summary)
        assert 0.75 <= std <= 1.25, (name, summary)
    # the fitted values scatter around the truth
    assert np.mean(table["amplitude"]) == pytest.approx(table.meta["true_amplitude"], rel=0.1)
    assert np.mean(table["index"]) == pytest.approx(table.meta["true_index"], abs=0.05)
    if "pull_lon" in table.colnames:
        # position errors: a fraction of the PSF (68 % containment ~0.8 deg at 1 GeV)
        assert np.all(table["lat_err"] < 0.1)
        assert {"lon", "lat"} <= set(summary)


def test_closed_loop_pulls(caldb_path):
    table = closed_loop(20, irf_name="P8R3_SOURCE_V2", caldb=caldb_path, seed=0, fit_position=True, **FAST)
    _check(table, 20)


@pytest.mark.slow
def test_closed_loop_pulls_long(caldb_path):
    table = closed_loop(100, irf_name="P8R2_SOURCE_V6", caldb=caldb_path, seed=1000, duration=2 * u.d,
                        fit_position=True)
    _check(table, 100)


@pytest.mark.slow
def test_closed_loop_position_galactic_ridge(caldb_path):
    # the demonstration's sky: source at (l, b) = (30, 5) deg, 5 deg above a bright Galactic
    # ridge (steep latitude gradient across the fitted region), Galactic CAR map
    position = SkyCoord(30, 5, unit="deg", frame="galactic")
    table = closed_loop(60, irf_name="P8R3_SOURCE_V2", caldb=caldb_path, seed=2000, position=position,
                        frame="galactic", fit_position=True, ridge_amplitude="4.4e-9 cm-2 s-1 MeV-1", **FAST)
    _check(table, 60)
