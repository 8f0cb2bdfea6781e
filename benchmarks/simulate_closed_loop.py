"""Closed loop on the real CALDB: fitted pulls of a simulated power-law point source.

Usage: python benchmarks/simulate_closed_loop.py [N_REALISATIONS] [IRF_NAME]
(CALDB from $CALDB, else the data kit's.)
"""
import os
import sys
import time

import numpy as np
from astropy import units as u

from gammapy_lat.simulate.validation import closed_loop, pull_summary
from gammapy_lat.utils.testing import shared_data_path


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    irf = sys.argv[2] if len(sys.argv) > 2 else "P8R3_SOURCE_V2"
    caldb = os.environ.get("CALDB") or shared_data_path("data", "lat", "caldb")
    t0 = time.perf_counter()
    table = closed_loop(n, irf_name=irf, caldb=caldb, duration=2 * u.d, seed=1000)
    elapsed = time.perf_counter() - t0
    summary = pull_summary(table)
    print(f"{n} realisations of 2 days, {irf}: {elapsed:.0f} s ({table.meta['setup_time_s']:.0f} s setup)")
    print(f"events per realisation: {np.mean(table['n_events']):.0f}")
    for name, (mean, std) in summary.items():
        print(f"pull {name:<10} mean {mean:+.3f} ± {1 / np.sqrt(n):.3f}   std {std:.3f}")
    print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
