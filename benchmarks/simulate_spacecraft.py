"""Time the simulation and writing of a one-year, 30 s spacecraft (FT2) history.

Usage: python benchmarks/simulate_spacecraft.py [outfile]
"""
import os
import sys
import tempfile
import time

from astropy import units as u

from gammapy_lat.simulate import simulate_spacecraft, write_spacecraft


def main():
    tstart = 239557417.0
    t0 = time.perf_counter()
    table = simulate_spacecraft(tstart, tstart + 365.25 * 86400, step=30 * u.s)
    t1 = time.perf_counter()
    outfile = sys.argv[1] if len(sys.argv) > 1 else os.path.join(tempfile.mkdtemp(), "ft2_year.fits")
    write_spacecraft(table, outfile, overwrite=True)
    t2 = time.perf_counter()
    print(f"rows: {len(table)}")
    print(f"simulate one year at 30 s: {t1 - t0:.2f} s")
    print(f"write FT2 ({os.path.getsize(outfile) / 1e6:.0f} MB): {t2 - t1:.2f} s -> {outfile}")
    print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
