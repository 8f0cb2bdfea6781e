"""Closed loop on the real CALDB: simulate a power-law point source, reduce with the LAT makers, fit.

Fitted amplitude and index of independent realisations must have pulls of mean ~0 and standard
deviation ~1 (acceptance: mean |mu| < 0.25, std within 0.75-1.25 for 20 realisations).
"""
import numpy as np
import pytest
from astropy import units as u

from gammapy_lat.simulate.validation import closed_loop, pull_summary

FAST = dict(duration=1 * u.d, amplitude="6e-10 cm-2 s-1 MeV-1", map_width=5 * u.deg, binsz=0.25 * u.deg,
            fit_radius=2 * u.deg)


def _check(table, n):
    assert len(table) == n
    assert np.all(table["success"])
    summary = pull_summary(table)
    for name, (mean, std) in summary.items():
        assert abs(mean) < 0.25, (name, summary)
        assert 0.75 <= std <= 1.25, (name, summary)
    # the fitted values scatter around the truth
    assert np.mean(table["amplitude"]) == pytest.approx(table.meta["true_amplitude"], rel=0.1)
    assert np.mean(table["index"]) == pytest.approx(table.meta["true_index"], abs=0.05)


def test_closed_loop_pulls(caldb_path):
    table = closed_loop(20, irf_name="P8R3_SOURCE_V2", caldb=caldb_path, seed=0, **FAST)
    _check(table, 20)


@pytest.mark.slow
def test_closed_loop_pulls_long(caldb_path):
    table = closed_loop(100, irf_name="P8R2_SOURCE_V6", caldb=caldb_path, seed=1000, duration=2 * u.d)
    _check(table, 100)
