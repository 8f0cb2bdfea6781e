"""Data-layer benchmark: FT1 write/read/merge, gtselect, gtmktime and gtbin on synthetic data.

Prints wall time, CPU time and peak memory of each step for a synthetic all-sky event list split
into "weekly" files and a year of 30 s spacecraft rows.

Usage::

    python benchmarks/bench_data.py                         # 2 million events, 10 files, 1 year of FT2
    python benchmarks/bench_data.py --events 200000 --files 4 --days 30    # quick look
"""
import argparse
import resource
import tempfile
import time
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.table import Table
from gammapy.maps import HpxGeom, MapAxis

TSTART = 239557417.0


def timed(label, func, *args, **kwargs):
    t0, c0 = time.perf_counter(), time.process_time()
    result = func(*args, **kwargs)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{label:<58s} wall {wall:7.2f} s   cpu {cpu:7.2f} s   peak RSS {peak:7.0f} MiB")
    return result


def synthetic_events(n, days, rng):
    from gammapy_lat.data import LATEventList
    from gammapy_lat.data.ft1 import _int_to_bits

    time_ = np.sort(rng.uniform(TSTART, TSTART + days * 86400.0, n))
    u_ = rng.uniform(-1, 1, n)
    table = Table()
    table["ENERGY"] = (100 * (1 - rng.uniform(0, 1, n)) ** (-1 / 1.5)).astype(np.float32)
    table["ENERGY"].unit = "MeV"
    table["RA"] = rng.uniform(0, 360, n).astype(np.float32)
    table["DEC"] = np.degrees(np.arcsin(u_)).astype(np.float32)
    table["ZENITH_ANGLE"] = rng.uniform(0, 110, n).astype(np.float32)
    table["TIME"] = time_
    table["EVENT_ID"] = np.arange(n, dtype=np.int32)
    table["RUN_ID"] = (time_ // 5400).astype(np.int32)
    evclass = np.full(n, 128 | 1 << 16)
    evtype = np.where(rng.uniform(size=n) < 0.5, 1, 2) | (4 << rng.integers(0, 4, n)) | (64 << rng.integers(0, 4, n))
    table["EVENT_CLASS"] = _int_to_bits(evclass)
    table["EVENT_TYPE"] = _int_to_bits(evtype)
    table["CONVERSION_TYPE"] = (evtype & 2 > 0).astype(np.int16)
    header = {"PASS_VER": "P8R3", "TSTART": TSTART, "TSTOP": TSTART + days * 86400.0}
    from astropy.io import fits

    return LATEventList(table, (np.array([TSTART]), np.array([TSTART + days * 86400.0])), header=fits.Header(header))


def synthetic_spacecraft(days, rng):
    from gammapy_lat.data import SpacecraftData

    n = int(days * 86400 / 30)
    start = TSTART + 30.0 * np.arange(n)
    table = Table()
    table["START"] = start
    table["STOP"] = start + 30.0
    table["LIVETIME"] = rng.uniform(24, 27, n)
    table["RA_SCZ"] = (start / 86400 * 360 * 15) % 360
    table["DEC_SCZ"] = 50 * np.sin(start / 5400 * 2 * np.pi)
    table["RA_SCX"] = (table["RA_SCZ"] + 90) % 360
    table["DEC_SCX"] = np.zeros(n)
    table["RA_ZENITH"] = (start / 5400 * 360) % 360
    table["DEC_ZENITH"] = 25 * np.sin(start / 5400 * 2 * np.pi + 1)
    table["ROCK_ANGLE"] = np.where((start // 5400) % 2 == 0, 50.0, -50.0)
    table["DATA_QUAL"] = np.where(rng.uniform(size=n) < 0.99, 1, 0).astype(np.int16)
    table["LAT_CONFIG"] = np.ones(n, dtype=np.uint8)
    table["IN_SAA"] = rng.uniform(size=n) < 0.1
    return SpacecraftData(table)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--files", type=int, default=10)
    parser.add_argument("--days", type=float, default=365.0)
    args = parser.parse_args()

    from gammapy_lat.data import bin_events, make_counts_geom, mktime, read_events

    rng = np.random.default_rng(1)
    print(f"{args.events} events in {args.files} files, {args.days:g} days of 30 s FT2 rows")
    events = timed("build synthetic events", synthetic_events, args.events, args.days, rng)
    spacecraft = timed("build synthetic spacecraft rows", synthetic_spacecraft, args.days, rng)
    with tempfile.TemporaryDirectory() as tmp:
        edges = np.linspace(events.tstart, events.tstop, args.files + 1)

        def write_all():
            for i, (a, b) in enumerate(zip(edges[:-1], edges[1:])):
                events.select_time(a, b).write(Path(tmp) / f"w{i:03d}.fits")

        timed(f"select_time + write {args.files} FT1 files", write_all)
        merged = timed(f"read_events: merge {args.files} files (glob)", read_events, str(Path(tmp) / "w*.fits"))
        assert len(merged) == len(events)
    sel = timed(
        "select evclass/evtype/energy/cone/zenith",
        merged.select,
        evclass=128, evtype="PSF3", emin=200, emax=300000, ra=83.63, dec=22.01, rad=60, zmax=90,
    )  # fmt: skip
    out = timed(
        "mktime (DATA_QUAL>0)&&(LAT_CONFIG==1)&&ABS(ROCK_ANGLE)<52&&IN_SAA!=T",
        mktime, merged, spacecraft, filter="(DATA_QUAL>0)&&(LAT_CONFIG==1)&&ABS(ROCK_ANGLE)<52&&IN_SAA!=T",
    )  # fmt: skip
    print(f"    selected {len(sel)} events; mktime kept {len(out)} events in {len(out.gti_start)} GTIs")
    geom = make_counts_geom("CCUBE", nxpix=400, nypix=400, binsz=0.25, coordsys="GAL", xref=0, yref=0,
                            proj="CAR", emin=100, emax=1e6, enumbins=30)  # fmt: skip
    timed("bin_events WCS GAL CAR 400x400x30", bin_events, merged, geom)
    axis = MapAxis.from_energy_bounds(100 * u.MeV, 1e6 * u.MeV, 30, name="energy")
    hgeom = HpxGeom.create(nside=256, frame="galactic", axes=[axis])
    timed("bin_events HEALPix NSIDE 256 x 30", bin_events, merged, hgeom)
    timed("gammapy EventList view (TIME as Time)", lambda: merged.events)

    # one week out of a year-long FT2 file: whole-file read then selection, or the rows of the week
    from astropy.io import fits

    from gammapy_lat.data import read_spacecraft

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ft2_year.fits"
        fits.HDUList([fits.PrimaryHDU(), fits.table_to_hdu(spacecraft.table)]).writeto(path)
        fits.setval(path, "EXTNAME", value="SC_DATA", ext=1)
        week = (TSTART + 20 * 7 * 86400.0, TSTART + 21 * 7 * 86400.0)
        full = timed(f"read_spacecraft {path.stat().st_size / 2**20:.0f} MiB FT2 + select_time(week)",
                     lambda: read_spacecraft(path).select_time(*week))
        part = timed("read_spacecraft(time_range=week)", read_spacecraft, path, time_range=week)
        assert np.array_equal(full.start, part.start) and len(part) > 0


if __name__ == "__main__":
    main()
